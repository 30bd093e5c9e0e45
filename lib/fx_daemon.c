/* fx_daemon: the main() of fabricd and agentd. */
#include "fx_daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "fx_err.h"
#include "fx_parse.h"
#include "log.h"

LOG_MODULE("main");

static void
fx_daemon_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void) what;
    LOG_INFO("signal %d: shutting down", (int) sig);
    event_base_loopexit(arg, NULL);
}

/* Runs 'base' until SIGTERM or SIGINT asks the daemon to stop, then
 * removes the signal handlers. */
static void
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
fx_daemon_flavor(const char *arg, const char **flavorp, struct fx_err *err)
{
    if (strcmp(arg, "kvm") && strcmp(arg, "vmware")) {
        return fx_err_set(err, -EINVAL, "--flavor is kvm or vmware, not "
                          "'%s'", arg);
    }
    *flavorp = arg;
    return 0;
}

int
fx_daemon_trust_option(int opt, const char *arg,
                       struct fx_daemon_trust *trust, struct fx_err *err)
{
    uint64_t v;

    switch (opt) {
    case FX_DAEMON_OPT_SECRET:
        trust->secret_file = arg;
        return 1;
    case FX_DAEMON_OPT_MAX_CONNS:
        if (fx_parse_u64(arg, 1, 1000000, &v, "--max-conns", err)) {
            return -1;
        }
        trust->max_conns = (uint32_t) v;
        return 1;
    case FX_DAEMON_OPT_MAX_QUEUED:
        if (fx_parse_u64(arg, 1, 4096, &v, "--max-queued (MiB)", err)) {
            return -1;
        }
        trust->max_queued = v << 20;
        return 1;
    case FX_DAEMON_OPT_FRAME_TIMEOUT:
        if (fx_parse_u64(arg, 100, 3600000, &v, "--frame-timeout (ms)",
                         err)) {
            return -1;
        }
        trust->frame_timeout_ms = (uint32_t) v;
        return 1;
    default:
        return 0;
    }
}

/* Parses the command line into 'cfg' with the class's options.  Returns
 * -1 to go on, else the exit status main() returns now (0 after --help,
 * 2 on a usage error, which it printed). */
static int
fx_daemon_args(int argc, char **argv, const struct fx_daemon_class *cls,
               void *cfg)
{
    struct fx_err err;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", cls->options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(cls->usage, stdout);
            return 0;
        }
        if (opt == '?') {
            /* getopt_long() said which option; say where to look. */
            fprintf(stderr, "%s: try '%s --help'\n", cls->prog, cls->prog);
            return 2;
        }
        if (cls->parse(opt, optarg, cfg, &err)) {
            fprintf(stderr, "%s: %s\n", cls->prog, err.msg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cls->prog,
                argv[optind]);
        return 2;
    }
    return -1;
}

int
fx_daemon_main(int argc, char **argv, const struct fx_daemon_class *cls,
               void *cfg)
{
    struct event_base *base;
    struct fx_err err;
    void *d = NULL;
    int rc;

    log_set_program(cls->prog);
    rc = fx_daemon_args(argc, argv, cls, cfg);
    if (rc >= 0) {
        return rc;
    }
    /* A peer that closes mid-reply must not kill the daemon: the write
     * fails with EPIPE and the connection is dropped. */
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (!base) {
        fprintf(stderr, "%s: cannot create an event loop\n", cls->prog);
        return 1;
    }
    if (cls->create(base, cfg, &d, &err)) {
        fprintf(stderr, "%s: %s\n", cls->prog, err.msg);
        event_base_free(base);
        return err.code == -EINVAL && cls->einval_is_usage ? 2 : 1;
    }
    if (cls->started) {
        cls->started(d, cfg);
    }
    fx_daemon_run(base);
    rc = cls->fatal && cls->fatal(d, &err) ? 1 : 0;
    if (rc) {
        fprintf(stderr, "%s: %s\n", cls->prog, err.msg);
    }
    cls->destroy(d);
    event_base_free(base);
    return rc;
}
