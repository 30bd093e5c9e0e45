/* labproc: the processes of a lab, by the pids their pid files hold.
 *
 * A daemon of a lab (labspec.h) runs when its pid file names a live
 * process of its program (a zombie counts as gone, a recycled pid of
 * another program as not ours).  Starting one runs exactly its recorded
 * command line; it is ready once it wrote its pid file, which a daemon
 * does only once it serves (fx_daemon --pid-file). */
#ifndef LABPROC_H
#define LABPROC_H

#include <stdint.h>
#include <sys/types.h>

struct fx_err;
struct labspec_daemon;

/* The pid of 'd' if it runs, else 0. */
pid_t labproc_pid(const struct labspec_daemon *d);

/* Starts 'd' by its command line (log appended to its log file) unless
 * it runs; does not wait.  Stores the new pid in '*pidp' (0 if it ran
 * already). */
int labproc_spawn(const struct labspec_daemon *d, pid_t *pidp,
                  struct fx_err *err);

/* Whether 'd', started as 'pid', has written its pid file: 1, 0 not
 * yet, or -ECHILD with the end of its log in 'err' if it exited. */
int labproc_ready(const struct labspec_daemon *d, pid_t pid,
                  struct fx_err *err);

/* Waits until 'd', started as 'pid', has written its pid file, for at
 * most 'timeout_ms'.  -ECHILD with the end of its log in 'err' if it
 * exited; -ETIMEDOUT. */
int labproc_wait_ready(const struct labspec_daemon *d, pid_t pid,
                       uint32_t timeout_ms, struct fx_err *err);

/* Stops 'd' if it runs (SIGTERM, SIGKILL after 'timeout_ms') and removes
 * its pid file.  Returns 1 if it stopped a process, 0 if none ran, or a
 * negative errno. */
int labproc_stop(const struct labspec_daemon *d, uint32_t timeout_ms,
                 struct fx_err *err);

#endif
