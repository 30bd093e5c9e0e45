/* harness: what the integration tests share: temp dirs, running the
 * programs under test, and waiting on a condition with a deadline (never a
 * bare sleep). */
#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Makes a fresh directory under $TMPDIR (or /tmp); the caller frees the
 * returned path and removes the tree with th_rmrf(). */
char *th_mkdtemp(const char *tag);
void th_rmrf(const char *path);

/* Writes "$FEXSIM_BIN/prog" into 'buf' (FEXSIM_BIN defaults to build). */
const char *th_bin(char *buf, size_t size, const char *prog);

/* Runs 'argv' (argv[0] a path) to completion.  Stores its stdout and
 * stderr, NUL-terminated, in '*outp' and '*errp' when not NULL (the caller
 * frees them).  Returns the exit status, or 128+signal. */
int th_run(char *const argv[], char **outp, char **errp);

/* Runs "fexctl ARGS..." (NULL-terminated) the same way. */
int th_fexctl(char **outp, char **errp, ...);

/* Polls 'cond(arg)' every few milliseconds until it returns non-zero or
 * 'timeout_ms' pass.  Returns 1 if it became true, 0 on timeout. */
int th_wait(int (*cond)(void *arg), void *arg, uint32_t timeout_ms);

/* Reads a pid file; returns the pid or -1. */
pid_t th_read_pid(const char *dir, const char *file);

#endif
