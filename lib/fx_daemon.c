#include "fx_daemon.h"

#include <errno.h>
#include <signal.h>

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
