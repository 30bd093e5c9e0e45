/* labproc: see labproc.h. */
#include "labproc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "labspec.h"

pid_t
labproc_pid(const struct labspec_daemon *d)
{
    pid_t pid;

    if (fx_proc_pidfile_read(d->pid_file, &pid, NULL)
        || !fx_proc_alive(pid) || !fx_proc_is(pid, d->prog)) {
        return 0;
    }
    return pid;
}

int
labproc_spawn(const struct labspec_daemon *d, pid_t *pidp,
              struct fx_err *err)
{
    *pidp = 0;
    if (labproc_pid(d)) {
        return 0;
    }
    /* A stale file (a daemon killed with -9) would read as ready. */
    unlink(d->pid_file);
    return fx_proc_spawn(d->argv, d->log_file, pidp, err);
}

/* The last line of 'd''s log that is not empty, into 'buf'. */
static void
labproc_last_line(const struct labspec_daemon *d, char *buf, size_t size)
{
    char line[512];
    FILE *f = fopen(d->log_file, "r");

    buf[0] = '\0';
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0]) {
            snprintf(buf, size, "%s", line);
        }
    }
    if (f) {
        fclose(f);
    }
}

int
labproc_ready(const struct labspec_daemon *d, pid_t pid, struct fx_err *err)
{
    char last[400];
    pid_t in_file;

    if (!fx_proc_pidfile_read(d->pid_file, &in_file, NULL)
        && in_file == pid) {
        return 1;
    }
    if (!fx_proc_alive(pid)) {
        labproc_last_line(d, last, sizeof last);
        return fx_err_set(err, -ECHILD, "%s exited at start-up: %s (%s)",
                          d->name, last[0] ? last : "no log", d->log_file);
    }
    return 0;
}

int
labproc_wait_ready(const struct labspec_daemon *d, pid_t pid,
                   uint32_t timeout_ms, struct fx_err *err)
{
    uint64_t deadline = fx_time_now_ms() + timeout_ms;
    int rc;

    for (;;) {
        rc = labproc_ready(d, pid, err);
        if (rc) {
            return rc < 0 ? rc : 0;
        }
        if (fx_time_now_ms() > deadline) {
            return fx_err_set(err, -ETIMEDOUT, "%s did not start serving "
                              "within %u ms; see %s", d->name, timeout_ms,
                              d->log_file);
        }
        fx_time_sleep_ms(5);
    }
}

int
labproc_stop(const struct labspec_daemon *d, uint32_t timeout_ms,
             struct fx_err *err)
{
    pid_t pid = labproc_pid(d);
    int rc = 0;

    if (pid) {
        rc = fx_proc_stop(pid, timeout_ms, err);
        rc = rc ? rc : 1;
    }
    unlink(d->pid_file);
    return rc;
}
