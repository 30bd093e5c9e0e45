/* scnrun: one scenario from start to end: its own lab brought up in its
 * own dir, each step run and timed, the invariants (scninv.h) checked
 * after every step and at the end, the lab torn down whatever happened.
 * The outcome is a report, a JSON object:
 *   {"file", "name", "result": "passed"|"failed", "line": N (the failed
 *    step's, 0 if none or the lab), "message", "ms", "logs": DIR,
 *    "steps": [{"line", "text", "result": "passed"|"failed"|"not run",
 *               "ms", "message", "invariants"}]} */
#ifndef SCNRUN_H
#define SCNRUN_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct scn;

/* Who follows a run step by step (a progress line): 'step' is called
 * after step 'i' of 'n' ended, 'ok' whether it passed. */
struct scnrun_watch {
    void (*step)(void *arg, size_t i, size_t n, bool ok);
    void *arg;
};

/* Runs 'scn' with 'fexctl' (the binary, borrowed) in directory 'dir'
 * (created; DIR/lab is the lab, DIR/steps.log every command's output,
 * the daemons' logs in DIR/lab) and returns its report, which the caller
 * puts.  'watch' (NULL: none) hears of each step.  What goes wrong is in
 * the report; NULL only without memory. */
struct json_object *scnrun_scenario(const struct scn *scn,
                                    const char *fexctl, const char *dir,
                                    const struct scnrun_watch *watch);

#endif
