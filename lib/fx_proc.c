#include "fx_proc.h"

#include <errno.h>
#include <fcntl.h>
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

/* In the child: never returns. */
static void
fx_proc_exec(char *const argv[], const char *log_path)
{
    int null = open("/dev/null", O_RDONLY);
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
