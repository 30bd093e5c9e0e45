/* fx_daemon: what fabricd's and agentd's main() share. */
#ifndef FX_DAEMON_H
#define FX_DAEMON_H

#include <event2/event.h>

struct fx_err;

/* Runs 'base' until SIGTERM or SIGINT asks the daemon to stop (logged
 * once), then removes the signal handlers. */
void fx_daemon_run(struct event_base *base);

/* Called with each option getopt_long() returns (and its argument) and
 * the daemon's config; returns 0, or -1 with 'err' filled. */
struct option;
typedef int fx_daemon_opt_fn(int opt, const char *arg, void *cfg,
                             struct fx_err *err);

/* Parses the command line of daemon 'prog' against 'options': -h/--help
 * prints 'usage'; each option goes to 'parse' with 'cfg'; a bad option or
 * a stray argument prints "PROG: why".  Returns -1 to go on, else the
 * exit status main() returns now (0 after --help, 2 on a usage error). */
int fx_daemon_args(int argc, char **argv, const char *prog,
                   const char *usage, const struct option *options,
                   fx_daemon_opt_fn *parse, void *cfg);

/* Applies a --log-level argument ("err", "warn", "info" or "dbg").
 * Returns 0, or -EINVAL with 'err' filled. */
int fx_daemon_log_level(const char *arg, struct fx_err *err);

#endif
