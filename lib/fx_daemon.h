/* fx_daemon: what fabricd's and agentd's main() share: the command
 * line, the exit codes, the event loop and the signals that end it.  A
 * daemon's main() fills its config with defaults, describes itself in a
 * struct fx_daemon_class and calls fx_daemon_main(). */
#ifndef FX_DAEMON_H
#define FX_DAEMON_H

#include <stdint.h>

#include <event2/event.h>

struct fx_err;
struct option;

/* Called with each option getopt_long() returns (and its argument) and
 * the daemon's config; returns 0, or -1 with 'err' filled. */
typedef int fx_daemon_opt_fn(int opt, const char *arg, void *cfg,
                             struct fx_err *err);

/* A daemon, as its main() describes it.  'cfg' is the daemon's config
 * (borrowed), 'd' the daemon create() made. */
struct fx_daemon_class {
    const char *prog;               /* "fabricd": messages, log lines. */
    const char *usage;              /* The --help text. */
    const struct option *options;   /* getopt_long() table of its own. */
    fx_daemon_opt_fn *parse;        /* Applies one of them to 'cfg'. */
    /* Creates the daemon on 'base' from 'cfg' and stores it in '*dp';
     * returns 0 or a negative errno with 'err' filled. */
    int (*create)(struct event_base *base, const void *cfg, void **dp,
                  struct fx_err *err);
    /* Logs that 'd' serves (may be NULL). */
    void (*started)(const void *d, const void *cfg);
    /* Non-zero, with 'err' filled, when 'd' ended its loop for a reason
     * the exit status must show (may be NULL: never). */
    int (*fatal)(const void *d, struct fx_err *err);
    void (*destroy)(void *d);
    /* Non-zero when create() failing with -EINVAL means a bad command
     * line (exit 2); otherwise every failure to start exits 1 (fabricd's
     * -EINVAL may also be a damaged state file). */
    int einval_is_usage;
};

/* The whole of a daemon's main(): parses the command line into 'cfg'
 * (filled with defaults by the caller), creates the daemon, runs it until
 * SIGTERM or SIGINT (logged once), destroys it.  -h/--help prints the
 * usage; errors are printed once, "PROG: why" (an unknown option: "PROG:
 * try 'PROG --help'").  Returns the exit status: 0 (also after --help), 1
 * when it could not start or ended by fatal(), 2 on a usage error. */
int fx_daemon_main(int argc, char **argv, const struct fx_daemon_class *cls,
                   void *cfg);

/* Applies a --log-level argument ("err", "warn", "info" or "dbg").
 * Returns 0, or -EINVAL with 'err' filled. */
int fx_daemon_log_level(const char *arg, struct fx_err *err);

/* Checks a --flavor argument, "kvm", "vmware" or "failover", and stores it (borrowed)
 * in '*flavorp'.  Returns 0, or -EINVAL with 'err' filled. */
int fx_daemon_flavor(const char *arg, const char **flavorp,
                     struct fx_err *err);

/* What both daemons take about their peers: the lab secret and the limits
 * that keep them serving whatever one peer does (0: the RPC library's
 * defaults, proto/rpc.h).  Strings are borrowed from argv. */
struct fx_daemon_trust {
    const char *secret_file;        /* NULL: none, loopback only. */
    uint32_t max_conns;
    uint64_t max_queued;            /* Bytes. */
    uint32_t frame_timeout_ms;
};

/* Their options, for a daemon's getopt_long() table and --help; their
 * values are FX_DAEMON_OPT_TRUST and up, below a daemon's own. */
enum {
    FX_DAEMON_OPT_SECRET = 200, FX_DAEMON_OPT_MAX_CONNS,
    FX_DAEMON_OPT_MAX_QUEUED, FX_DAEMON_OPT_FRAME_TIMEOUT,
};
#define FX_DAEMON_TRUST_OPTIONS                                             \
    { "secret-file", required_argument, NULL, FX_DAEMON_OPT_SECRET },      \
    { "max-conns", required_argument, NULL, FX_DAEMON_OPT_MAX_CONNS },     \
    { "max-queued", required_argument, NULL, FX_DAEMON_OPT_MAX_QUEUED },   \
    { "frame-timeout", required_argument, NULL, FX_DAEMON_OPT_FRAME_TIMEOUT }
#define FX_DAEMON_TRUST_USAGE \
    "  --secret-file PATH        the lab secret (mode 0600): every peer\n" \
    "                            must prove it; without one, loopback only\n" \
    "  --max-conns N             connections at once (default 256)\n" \
    "  --max-queued MIB          MiB queued to a peer that does not read\n" \
    "                            before it is closed (default 32)\n" \
    "  --frame-timeout MS        how long a frame or the handshake may stay\n" \
    "                            half sent, or replies unread (default\n" \
    "                            10000)\n"

/* What every daemon takes about itself as a process, handled by
 * fx_daemon_main(): where its log goes (appended; default stderr) and a
 * pid file it writes once it serves and removes when it ends, refusing to
 * start while the file names another live process of the same program.
 * With both, a daemon's command line alone says all of it, so that a lab
 * can record it and anyone can start it again by hand. */
enum { FX_DAEMON_OPT_LOG_FILE = 220, FX_DAEMON_OPT_PID_FILE };
#define FX_DAEMON_PROC_OPTIONS                                              \
    { "log-file", required_argument, NULL, FX_DAEMON_OPT_LOG_FILE },       \
    { "pid-file", required_argument, NULL, FX_DAEMON_OPT_PID_FILE }
#define FX_DAEMON_PROC_USAGE \
    "  --log-file PATH           append the log to PATH (default stderr)\n" \
    "  --pid-file PATH           write the pid to PATH once serving;\n" \
    "                            refuse to start while it names another\n" \
    "                            live process of this program\n"

/* Applies one of those options to 'trust'.  Returns 1 if 'opt' was one
 * (0: not ours), or -1 with 'err' filled. */
int fx_daemon_trust_option(int opt, const char *arg,
                           struct fx_daemon_trust *trust,
                           struct fx_err *err);

#endif
