/* fx_daemon: what fabricd's and agentd's main() share. */
#ifndef FX_DAEMON_H
#define FX_DAEMON_H

#include <event2/event.h>

struct fx_err;

/* Runs 'base' until SIGTERM or SIGINT asks the daemon to stop (logged
 * once), then removes the signal handlers. */
void fx_daemon_run(struct event_base *base);

/* Applies a --log-level argument ("err", "warn", "info" or "dbg").
 * Returns 0, or -EINVAL with 'err' filled. */
int fx_daemon_log_level(const char *arg, struct fx_err *err);

#endif
