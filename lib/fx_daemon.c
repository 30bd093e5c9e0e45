/* fx_daemon: the main() of fabricd and agentd. */
#include "fx_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_err.h"
#include "fx_parse.h"
#include "fx_proc.h"
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
    if (strcmp(arg, "kvm") && strcmp(arg, "vmware")
        && strcmp(arg, "failover")) {
        return fx_err_set(err, -EINVAL, "--flavor is kvm, vmware or "
                          "failover, not '%s'", arg);
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

/* The process options (FX_DAEMON_PROC_OPTIONS); borrowed from argv. */
struct fx_daemon_proc {
    const char *log_file;
    const char *pid_file;
};

/* Sends stdout and stderr to the end of 'path', keeping the stderr it
 * had in '*savedp': until the daemon serves, whoever started it (by hand,
 * say) hears why it could not. */
static int
fx_daemon_log_to(const char *path, int *savedp, struct fx_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat log, was;

    if (fd < 0) {
        return fx_err_set(err, -errno, "--log-file '%s': %s", path,
                          strerror(errno));
    }
    fflush(stdout);
    fflush(stderr);
    /* Not when stderr already is that file (a lab started us so). */
    if (fstat(fd, &log) || fstat(STDERR_FILENO, &was)
        || log.st_dev != was.st_dev || log.st_ino != was.st_ino) {
        *savedp = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    }
    if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
        int e = errno;

        close(fd);
        return fx_err_set(err, -e, "--log-file '%s': %s", path,
                          strerror(e));
    }
    close(fd);
    return 0;
}

/* A reason not to start: in the log, and where stderr was before. */
static void
fx_daemon_say(const struct fx_daemon_class *cls, int saved,
              const struct fx_err *err)
{
    fprintf(stderr, "%s: %s\n", cls->prog, err->msg);
    if (saved >= 0) {
        dprintf(saved, "%s: %s\n", cls->prog, err->msg);
    }
}

/* Refuses to start while 'path' names another live 'prog'. */
static int
fx_daemon_pid_free(const char *path, const char *prog, struct fx_err *err)
{
    pid_t pid;

    if (!fx_proc_pidfile_read(path, &pid, NULL) && pid != getpid()
        && fx_proc_alive(pid) && fx_proc_is(pid, prog)) {
        return fx_err_set(err, -EEXIST, "%s already runs as pid %d (%s)",
                          prog, (int) pid, path);
    }
    return 0;
}

/* Removes our pid file, unless another process has taken it since. */
static void
fx_daemon_pid_remove(const char *path)
{
    pid_t pid;

    if (!fx_proc_pidfile_read(path, &pid, NULL) && pid == getpid()) {
        unlink(path);
    }
}

/* Parses the command line into 'cfg' with the class's options.  Returns
 * -1 to go on, else the exit status main() returns now (0 after --help,
 * 2 on a usage error, which it printed). */
static int
fx_daemon_args(int argc, char **argv, const struct fx_daemon_class *cls,
               void *cfg, struct fx_daemon_proc *proc)
{
    struct fx_err err;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", cls->options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(cls->usage, stdout);
            return 0;
        }
        if (opt == FX_DAEMON_OPT_LOG_FILE || opt == FX_DAEMON_OPT_PID_FILE) {
            *(opt == FX_DAEMON_OPT_LOG_FILE ? &proc->log_file
                                            : &proc->pid_file) = optarg;
            continue;
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
    struct fx_daemon_proc proc = { NULL, NULL };
    struct event_base *base;
    struct fx_err err;
    void *d = NULL;
    int rc, saved = -1;

    log_set_program(cls->prog);
    rc = fx_daemon_args(argc, argv, cls, cfg, &proc);
    if (rc >= 0) {
        return rc;
    }
    if ((proc.log_file && fx_daemon_log_to(proc.log_file, &saved, &err))
        || (proc.pid_file && fx_daemon_pid_free(proc.pid_file, cls->prog,
                                                &err))) {
        fx_daemon_say(cls, saved, &err);
        return 1;
    }
    /* A peer that closes mid-reply must not kill the daemon: the write
     * fails with EPIPE and the connection is dropped. */
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    if (!base) {
        fx_err_set(&err, -ENOMEM, "cannot create an event loop");
        fx_daemon_say(cls, saved, &err);
        return 1;
    }
    if (cls->create(base, cfg, &d, &err)) {
        fx_daemon_say(cls, saved, &err);
        event_base_free(base);
        return err.code == -EINVAL && cls->einval_is_usage ? 2 : 1;
    }
    /* Written once we serve, so that a pid file names a daemon that
     * answers (a lab's status, a restart, a second start refused). */
    if (proc.pid_file && fx_proc_pidfile_write(proc.pid_file, getpid(),
                                               &err)) {
        fx_daemon_say(cls, saved, &err);
        cls->destroy(d);
        event_base_free(base);
        return 1;
    }
    if (saved >= 0) {
        close(saved);
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
    if (proc.pid_file) {
        fx_daemon_pid_remove(proc.pid_file);
    }
    return rc;
}
