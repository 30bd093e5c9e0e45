#include "fx_daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>

#include "fx_err.h"
#include "log.h"

LOG_MODULE("main");

static void
fx_daemon_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void) what;
    LOG_INFO("signal %d: shutting down", (int) sig);
    event_base_loopexit(arg, NULL);
}

void
fx_daemon_run(struct event_base *base)
{
    struct event *term = evsignal_new(base, SIGTERM, fx_daemon_on_signal,
                                      base);
    struct event *intr = evsignal_new(base, SIGINT, fx_daemon_on_signal,
                                      base);

    evsignal_add(term, NULL);
    evsignal_add(intr, NULL);
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
}

int
fx_daemon_log_level(const char *arg, struct fx_err *err)
{
    enum log_level level;

    if (log_parse_level(arg, &level)) {
        return fx_err_set(err, -EINVAL, "unknown log level '%s' (err, "
                          "warn, info or dbg)", arg);
    }
    log_set_level(level);
    return 0;
}

int
fx_daemon_args(int argc, char **argv, const char *prog, const char *usage,
               const struct option *options, fx_daemon_opt_fn *parse,
               void *cfg)
{
    struct fx_err err;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (parse(opt, optarg, cfg, &err)) {
            fprintf(stderr, "%s: %s\n", prog, err.msg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        return 2;
    }
    return -1;
}
