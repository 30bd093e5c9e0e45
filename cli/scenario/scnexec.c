/* scnexec: fexctl as a child, its output captured through files in the
 * scenario's dir (no pipe to fill and block on), then appended to
 * DIR/steps.log. */
#include "scnexec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"

#define ARGS_MAX 64

/* 'arg' with "${LAB}" replaced by the lab's dir, into 'buf'. */
static const char *
se_expand(const struct scnexec *x, const char *arg, char *buf, size_t size)
{
    const char *at = strstr(arg, "${LAB}");

    if (!at) {
        return arg;
    }
    snprintf(buf, size, "%.*s%s%s", (int) (at - arg), arg, x->lab, at + 6);
    return buf;
}

/* The whole of file 'path' (NULL-safe empty string on failure). */
static char *
se_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t size = 0;
    FILE *m = open_memstream(&buf, &size);
    char chunk[4096];
    size_t n;

    while (f && m && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        fwrite(chunk, 1, n, m);
    }
    if (f) {
        fclose(f);
    }
    if (m) {
        fclose(m);
    }
    return buf ? buf : strdup("");
}

static void
se_child(char *const argv[], const char *out, const char *err)
{
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);

    fx_proc_child_signals();
    if (o < 0 || e < 0 || in < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0
        || dup2(e, 2) < 0) {
        _exit(127);
    }
    execv(argv[0], argv);
    _exit(127);
}

/* Waits for 'pid' at most 'timeout_ms', or until the runner is
 * interrupted, then kills it: the status. */
static int
se_wait(pid_t pid, unsigned timeout_ms, bool interruptible)
{
    uint64_t deadline = fx_time_now_ms() + timeout_ms;
    int st = 0;
    pid_t r;

    /* Our own child: polling waitpid is the only way to bound it. */
    while ((r = waitpid(pid, &st, WNOHANG)) == 0) {
        if (fx_time_now_ms() > deadline
            || (interruptible && fx_proc_interrupted())) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        fx_time_sleep_ms(2);
    }
    if (r < 0 && errno == EINTR) {
        waitpid(pid, &st, 0);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
se_log(const struct scnexec *x, char *const argv[], const struct scnexec_out *o)
{
    char path[PATH_MAX + 16];
    FILE *f;

    snprintf(path, sizeof path, "%s/steps.log", x->dir);
    f = fopen(path, "a");
    if (!f) {
        return;
    }
    fputs("$", f);
    for (size_t i = 0; argv[i]; i++) {
        fprintf(f, " %s", argv[i]);
    }
    fprintf(f, "\n[exit %d]\n%s%s%s\n", o->status, o->out, o->err,
            o->err[0] ? "\n" : "");
    fclose(f);
}

int
scnexec_run(const struct scnexec *x, char *const args[], int lab_global,
            unsigned timeout_ms, struct scnexec_out *o, struct fx_err *err)
{
    char bufs[8][PATH_MAX + 256];     /* Arguments naming ${LAB}. */
    char *argv[ARGS_MAX + 6], out[PATH_MAX + 16], errf[PATH_MAX + 16];
    size_t n = 0, b = 0, len;
    pid_t pid;

    memset(o, 0, sizeof *o);
    argv[n++] = (char *) x->fexctl;
    argv[n++] = "--json";
    if (lab_global) {
        argv[n++] = "--lab";
        argv[n++] = (char *) x->lab;
    }
    for (size_t i = 0; args[i] && n < ARGS_MAX + 4; i++) {
        argv[n++] = (char *) se_expand(x, args[i], bufs[b], sizeof bufs[b]);
        b += argv[n - 1] == bufs[b] && b < 7;
    }
    argv[n] = NULL;
    snprintf(out, sizeof out, "%s/.out", x->dir);
    snprintf(errf, sizeof errf, "%s/.err", x->dir);
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        return fx_err_set(err, -errno, "cannot run fexctl: %s",
                          strerror(errno));
    }
    if (!pid) {
        se_child(argv, out, errf);
    }
    o->status = se_wait(pid, timeout_ms, !x->teardown);
    o->out = se_slurp(out);
    o->err = se_slurp(errf);
    len = strlen(o->err);
    while (len && o->err[len - 1] == '\n') {
        o->err[--len] = '\0';
    }
    se_log(x, argv, o);
    unlink(out);
    unlink(errf);
    return 0;
}

void
scnexec_out_free(struct scnexec_out *o)
{
    free(o->out);
    free(o->err);
    o->out = o->err = NULL;
}

void
scnexec_note(const struct scnexec *x, const char *line)
{
    char path[PATH_MAX + 16];
    FILE *f;

    snprintf(path, sizeof path, "%s/steps.log", x->dir);
    f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", line);
        fclose(f);
    }
}
