#include "fx_proc.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fx_err.h"
#include "fx_file.h"
#include "fx_time.h"

/* The interrupts a runner holds (fx_proc_hold_interrupts()). */
static void
fx_proc_interrupts(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

void
fx_proc_hold_interrupts(void)
{
    sigset_t set;

    fx_proc_interrupts(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

bool
fx_proc_interrupted(void)
{
    sigset_t set, pending;

    fx_proc_interrupts(&set);
    if (sigpending(&pending)) {
        return false;
    }
    for (int sig = 1; sig < NSIG; sig++) {
        if (sigismember(&set, sig) == 1 && sigismember(&pending, sig) == 1) {
            return true;
        }
    }
    return false;
}

void
fx_proc_child_signals(void)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the child: never returns. */
static void
fx_proc_exec(char *const argv[], const char *log_path)
{
    int null = open("/dev/null", O_RDONLY);

    fx_proc_child_signals();
    int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

    if (null < 0 || log < 0) {
        _exit(127);
    }
    setsid();
    dup2(null, 0);
    dup2(log, 1);
    dup2(log, 2);
    /* Leave no descriptor of ours (sockets, the event base) open in the
     * daemon. */
    for (int fd = 3; fd < 1024; fd++) {
        close(fd);
    }
    execv(argv[0], argv);
    dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
}

int
fx_proc_spawn(char *const argv[], const char *log_path, pid_t *pidp,
              struct fx_err *err)
{
    pid_t pid;

    if (access(argv[0], X_OK)) {
        return fx_err_set(err, -errno, "cannot run '%s': %s", argv[0],
                          strerror(errno));
    }
    pid = fork();
    if (pid < 0) {
        return fx_err_set(err, -errno, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        fx_proc_exec(argv, log_path);
    }
    *pidp = pid;
    return 0;
}

/* ---- Running a tool to completion ---- */

/* What fx_proc_run() collects of a tool's output. */
struct fx_proc_out {
    char *buf;          /* stdout, NUL-terminated; owned. */
    size_t len, cap;
    char errs[1024];    /* The end of stderr. */
    size_t errs_len;
};

/* In the child of fx_proc_run(): never returns. */
static void
fx_proc_exec_tool(char *const argv[], int out, int errs)
{
    int null = open("/dev/null", O_RDONLY);

    fx_proc_child_signals();

    dup2(null, 0);
    dup2(out, 1);
    dup2(errs, 2);
    for (int fd = 3; fd < 1024; fd++) {
        close(fd);
    }
    execv(argv[0], argv);
    dprintf(2, "cannot run '%s': %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Reads what is ready on 'fd' into 'o' (stdout if 'is_out', else the end
 * of stderr).  Returns 0 at the end of the stream. */
static int
fx_proc_read_some(int fd, int is_out, struct fx_proc_out *o)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);

    if (n <= 0) {
        return n < 0 && errno == EINTR;
    }
    if (!is_out) {
        /* Keep the last bytes: the tool's verdict ends its output. */
        size_t keep = sizeof o->errs - 1;

        if ((size_t) n >= keep) {
            memcpy(o->errs, chunk + n - keep, keep);
            o->errs_len = keep;
        } else {
            if (o->errs_len + (size_t) n > keep) {
                size_t drop = o->errs_len + (size_t) n - keep;

                memmove(o->errs, o->errs + drop, o->errs_len - drop);
                o->errs_len -= drop;
            }
            memcpy(o->errs + o->errs_len, chunk, (size_t) n);
            o->errs_len += (size_t) n;
        }
        o->errs[o->errs_len] = '\0';
        return 1;
    }
    if (o->len + (size_t) n + 1 > o->cap) {
        char *b = realloc(o->buf, o->cap = 2 * (o->len + (size_t) n + 1));

        if (!b) {
            abort();            /* Out of memory. */
        }
        o->buf = b;
    }
    memcpy(o->buf + o->len, chunk, (size_t) n);
    o->len += (size_t) n;
    o->buf[o->len] = '\0';
    return 1;
}

/* Reads both pipes until both end; closes them. */
static void
fx_proc_collect(int out, int errs, struct fx_proc_out *o)
{
    struct pollfd p[2] = { { out, POLLIN, 0 }, { errs, POLLIN, 0 } };
    int open_fds = 2;

    while (open_fds) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd >= 0 && p[i].revents
                && !fx_proc_read_some(p[i].fd, i == 0, o)) {
                close(p[i].fd);
                p[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        if (p[i].fd >= 0) {
            close(p[i].fd);
        }
    }
}

/* "ip -n x link add ..." of 'argv' (the program by its base name), cut
 * to fit 'buf'. */
static void
fx_proc_describe(char *const argv[], char *buf, size_t size)
{
    const char *base = strrchr(argv[0], '/');
    size_t len = (size_t) snprintf(buf, size, "%s", base ? base + 1
                                                          : argv[0]);

    for (size_t i = 1; argv[i] && len < size; i++) {
        len += (size_t) snprintf(buf + len, size - len, " %s", argv[i]);
    }
}

/* The last line of 'text' that is not blank, into 'last'. */
static void
fx_proc_last_line(char *text, char *last, size_t size)
{
    char *save = NULL, *line;

    last[0] = '\0';
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[strspn(line, " \t")]) {
            snprintf(last, size, "%s", line);
        }
    }
}

int
fx_proc_run(char *const argv[], char **outp, struct fx_err *err)
{
    struct fx_proc_out o = { .buf = NULL };
    char cmd[96], last[160];
    int out[2], errs[2], status = 0;
    pid_t pid;

    if (pipe2(out, O_CLOEXEC) || pipe2(errs, O_CLOEXEC)) {
        return fx_err_set(err, -errno, "pipe: %s", strerror(errno));
    }
    pid = fork();
    if (pid == 0) {
        fx_proc_exec_tool(argv, out[1], errs[1]);
    }
    close(out[1]);
    close(errs[1]);
    if (pid < 0) {
        close(out[0]);
        close(errs[0]);
        return fx_err_set(err, -errno, "fork: %s", strerror(errno));
    }
    fx_proc_collect(out[0], errs[0], &o);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (outp) {
        *outp = o.buf ? o.buf : strdup("");
    } else {
        free(o.buf);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return 0;
    }
    fx_proc_describe(argv, cmd, sizeof cmd);
    fx_proc_last_line(o.errs, last, sizeof last);
    if (WIFEXITED(status)) {
        return fx_err_set(err, -EIO, "'%s' failed (exit %d): %s", cmd,
                          WEXITSTATUS(status), last[0] ? last : "no message");
    }
    return fx_err_set(err, -EIO, "'%s' ended by signal %d", cmd,
                      WTERMSIG(status));
}

/* Reads the state letter of /proc/PID/stat, or 0 if there is none. */
static char
fx_proc_state(pid_t pid)
{
    char path[64], buf[512];
    const char *paren;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

int
fx_proc_alive(pid_t pid)
{
    char state;

    if (pid <= 0) {
        return 0;
    }
    /* Reap it if it is our child, so it does not linger as a zombie. */
    waitpid(pid, NULL, WNOHANG);
    if (kill(pid, 0) && errno == ESRCH) {
        return 0;
    }
    state = fx_proc_state(pid);
    return state && state != 'Z' && state != 'X';
}

/* The boot time, "btime" of /proc/stat, or 0. */
static int64_t
fx_proc_btime(void)
{
    char line[256];
    long long bt = 0;
    FILE *f = fopen("/proc/stat", "r");

    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "btime %lld", &bt) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return bt;
}

int
fx_proc_started(pid_t pid, int64_t *epochp)
{
    char path[64], buf[1024];
    unsigned long long ticks;
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return -ESRCH;
    }
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return -ESRCH;
    }
    buf[n] = '\0';
    /* Field 22, starttime, counted after the command's closing paren
     * (field 2, which may hold spaces): it is field 20 from there. */
    p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++) {
        p = strchr(p + 1, ' ');
    }
    if (!p || sscanf(p, " %llu", &ticks) != 1) {
        return -ESRCH;
    }
    *epochp = fx_proc_btime() + (int64_t) (ticks / (unsigned long long)
                                           sysconf(_SC_CLK_TCK));
    return 0;
}

int
fx_proc_is(pid_t pid, const char *comm)
{
    char path[64], buf[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/comm", (int) pid);
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return !strcmp(buf, comm);
}

static int
fx_proc_wait_gone(pid_t pid, uint32_t timeout_ms)
{
    uint64_t deadline = fx_time_now_ms() + timeout_ms;

    while (fx_proc_alive(pid)) {
        if (fx_time_now_ms() >= deadline) {
            return -ETIMEDOUT;
        }
        fx_time_sleep_ms(5);
    }
    return 0;
}

int
fx_proc_stop(pid_t pid, uint32_t timeout_ms, struct fx_err *err)
{
    if (!fx_proc_alive(pid)) {
        return 0;
    }
    kill(pid, SIGTERM);
    if (!fx_proc_wait_gone(pid, timeout_ms)) {
        return 0;
    }
    kill(pid, SIGKILL);
    if (!fx_proc_wait_gone(pid, 2000)) {
        return 0;
    }
    return fx_err_set(err, -ETIMEDOUT, "process %d did not stop",
                      (int) pid);
}

int
fx_proc_pidfile_read(const char *path, pid_t *pidp, struct fx_err *err)
{
    FILE *f = fopen(path, "r");
    long pid = 0;
    int ok;

    if (!f) {
        return fx_err_set(err, -errno, "cannot read '%s': %s", path,
                          strerror(errno));
    }
    ok = fscanf(f, "%ld", &pid) == 1 && pid > 0;
    fclose(f);
    if (!ok) {
        return fx_err_set(err, -EINVAL, "'%s' does not hold a pid", path);
    }
    *pidp = (pid_t) pid;
    return 0;
}

int
fx_proc_pidfile_write(const char *path, pid_t pid, struct fx_err *err)
{
    char line[32];

    snprintf(line, sizeof line, "%d\n", (int) pid);
    return fx_file_write_atomic(path, line, err);
}
