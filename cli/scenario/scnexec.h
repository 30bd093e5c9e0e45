/* scnexec: runs fexctl for a scenario, as a child process, and keeps what
 * it said.
 *
 * Every step, check and fault of a scenario is a fexctl command run
 * against the scenario's own lab: the same binary, the same exit codes
 * and JSON a tester would see.  Each run is appended to the scenario's
 * DIR/steps.log (command line, exit status, stdout, stderr), so that a
 * failed scenario can be read again afterwards. */
#ifndef SCNEXEC_H
#define SCNEXEC_H

#include <limits.h>
#include <stdbool.h>

struct fx_err;

struct scnexec {
    char fexctl[PATH_MAX];       /* The fexctl binary. */
    char lab[PATH_MAX];          /* The lab's dir (DIR/lab). */
    char dir[PATH_MAX];          /* The scenario's dir: logs, captures. */
    bool teardown;               /* Taking the lab down: an interrupt
                                  * does not stop these commands. */
};

/* What one run said. */
struct scnexec_out {
    int status;                  /* Exit status; 128 + N if killed by
                                  * signal N. */
    char *out;                   /* stdout, NUL-terminated; owned. */
    char *err;                   /* stderr, last line's '\n' removed. */
};

/* Runs "fexctl --json [--lab LAB] ARGS..." ('args' NULL-terminated; with
 * 'lab_global', --lab names the lab: commands about what the lab runs;
 * without, lab commands that take --dir themselves).  Each "${LAB}" in an
 * argument becomes the lab's dir.  A run longer than 'timeout_ms' is
 * killed (status 128 + SIGKILL).  Fills 'o' (the caller frees it with
 * scnexec_out_free(), also on failure); returns 0 when it ran, whatever
 * its status, or a negative errno with 'err' when it could not run. */
int scnexec_run(const struct scnexec *x, char *const args[], int lab_global,
                unsigned timeout_ms, struct scnexec_out *o,
                struct fx_err *err);

void scnexec_out_free(struct scnexec_out *o);

/* Appends one line to DIR/steps.log, for a reader of the logs. */
void scnexec_note(const struct scnexec *x, const char *line);

#endif
