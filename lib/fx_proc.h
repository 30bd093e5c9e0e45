/* fx_proc: starting and stopping daemons by pid, for fexctl's labs and
 * for the integration tests.  Waiting is polling with a deadline: a
 * process that is not our child cannot be waited for any other way. */
#ifndef FX_PROC_H
#define FX_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct fx_err;

/* Starts 'argv' (argv[0] is the path) in a new session with stdin from
 * /dev/null and stdout and stderr appended to 'log_path'.  Stores the pid
 * in '*pidp'. */
int fx_proc_spawn(char *const argv[], const char *log_path, pid_t *pidp,
                  struct fx_err *err);

/* Runs 'argv' (argv[0] is the path) to completion, for a tool such as
 * iproute2's ip: stdin from /dev/null, stdout into '*outp' when 'outp' is
 * not NULL (NUL-terminated; the caller frees it, also on failure), stderr
 * kept for the message.  Returns 0 if it exited 0; otherwise -EIO (exit
 * status not 0, or a signal) with 'err' naming the command, its status
 * and the last line of its stderr, or a negative errno if it could not be
 * run at all. */
int fx_proc_run(char *const argv[], char **outp, struct fx_err *err);

/* True while 'pid' exists and is not a zombie. */
int fx_proc_alive(pid_t pid);

/* True if 'pid' runs a program whose name is 'comm' (guards against
 * signalling a recycled pid). */
int fx_proc_is(pid_t pid, const char *comm);

/* When 'pid' started, in seconds since the epoch (from its start time
 * since boot and the boot time).  0, or -ESRCH if it does not exist. */
int fx_proc_started(pid_t pid, int64_t *epochp);

/* Sends SIGTERM, waits up to 'timeout_ms' for 'pid' to go, then SIGKILL
 * and waits again.  Reaps it if it is our child.  Returns 0 once it is
 * gone, -ETIMEDOUT if even SIGKILL did not end it. */
int fx_proc_stop(pid_t pid, uint32_t timeout_ms, struct fx_err *err);

/* Interrupts (SIGINT, SIGTERM, SIGHUP) for a runner that must clean up
 * before it goes (`scenario run` takes its labs down): once held, they
 * stay pending, and fx_proc_interrupted() says whether one came.  The
 * children fx_proc starts, and any child that calls
 * fx_proc_child_signals() after fork(), get them again (an empty mask:
 * a daemon or a tool never starts with signals blocked). */
void fx_proc_hold_interrupts(void);
bool fx_proc_interrupted(void);
void fx_proc_child_signals(void);

/* Reads or writes a pid file holding one decimal pid and a newline. */
int fx_proc_pidfile_read(const char *path, pid_t *pidp, struct fx_err *err);
int fx_proc_pidfile_write(const char *path, pid_t pid, struct fx_err *err);

#endif
