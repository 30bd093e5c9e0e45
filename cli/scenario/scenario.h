/* scenario: migration test scenarios, the public face of cli/scenario/.
 *
 * A scenario is a text file (docs/SCENARIOS.md): a header describing a lab,
 * then steps, one a line: fexctl commands, expectations, bounded waits and
 * faults.  scenario_run() parses every file first (nothing runs if one is
 * malformed), then runs each in a lab of its own, checking the invariants
 * after every step, and reports on stdout: each step with its result and
 * time, then "N passed, M failed" (or one JSON document), and JUnit XML
 * if asked. */
#ifndef SCENARIO_H
#define SCENARIO_H

#include <stddef.h>

struct fx_err;

struct scenario_opts {
    const char *fexctl;          /* The fexctl binary steps run. */
    const char *logs;            /* Where each scenario's dir goes (made
                                  * if missing); NULL: a new dir under
                                  * $TMPDIR or /tmp. */
    unsigned jobs;               /* Scenarios run at once, >= 1. */
    int keep;                    /* Keep the dirs of passed scenarios. */
    int json;                    /* One JSON document instead of text. */
    const char *junit;           /* Write JUnit XML there; NULL: none. */
};

struct scenario_totals {
    unsigned passed;
    unsigned failed;
};

/* Runs the scenario files 'files' ('n' of them, borrowed) as 'o' says and
 * counts them in '*t'.  -EINVAL with "FILE:LINE:COL: expected ..." when
 * a file does not parse (nothing ran), another negative errno with 'err'
 * when the logs dir or the JUnit file cannot be written. */
int scenario_run(char *const files[], size_t n,
                 const struct scenario_opts *o, struct scenario_totals *t,
                 struct fx_err *err);

#endif
