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

#include <stdbool.h>

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
    bool interrupted;    /* By a signal: what ran was taken down. */
};

/* Seeded chaos: a storm of migrations, VM operations and faults at
 * phases generated from 'seed', run with the invariants checked after
 * each step. */
struct scenario_chaos_opts {
    const char *fexctl;          /* As in scenario_opts. */
    const char *logs;            /* As in scenario_opts. */
    unsigned long long seed;
    unsigned hosts, vms, steps;
    const char *arm;             /* "DAEMON:SPEC" armed first (a planted
                                  * fault), or NULL. */
    int no_shrink;               /* Report the violation, do not shrink. */
};

/* Runs the storm of 'o'.  The storm is written to LOGS/chaos-SEED.scn
 * first (the same file replays the same storm).  On a violation of an
 * invariant, shrinks it (removing blocks of steps while the violation
 * persists) to LOGS/chaos-SEED-min.scn, runs that once more with its logs
 * kept, and prints it.  Returns 0 when the storm passed, 1 when an
 * invariant was violated (or a step failed otherwise: a wait that timed
 * out, a fault that did not work; not shrunk), or a negative errno with
 * 'err'. */
int scenario_chaos(const struct scenario_chaos_opts *o, struct fx_err *err);

/* Runs the scenario files 'files' ('n' of them, borrowed) as 'o' says and
 * counts them in '*t'.  -EINVAL with "FILE:LINE:COL: expected ..." when
 * a file does not parse (nothing ran), another negative errno with 'err'
 * when the logs dir or the JUnit file cannot be written. */
int scenario_run(char *const files[], size_t n,
                 const struct scenario_opts *o, struct scenario_totals *t,
                 struct fx_err *err);

#endif
