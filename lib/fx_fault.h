/* fx_fault: deterministic fault injection, a test facility.
 *
 * A daemon started with "--fault crash@PHASE" (or "crash@PHASE:N") kills
 * itself with SIGKILL the first (or Nth) time one of its migrations
 * reaches PHASE, so that crash tests hit an exact point instead of racing
 * a kill against a sleep.  PHASE is one of libvirt's v3 migration phases
 * as migcoord and migagent name them: begin, prepare, perform,
 * switchover, finish, confirm.  One fault per process, process-wide
 * (a daemon has one fault plan, and a crash ends it). */
#ifndef FX_FAULT_H
#define FX_FAULT_H

struct fx_err;

/* Arms the fault 'spec'.  -EINVAL with a one-line 'err' when malformed. */
int fx_fault_parse(const char *spec, struct fx_err *err);

/* The daemon reached 'phase': SIGKILLs itself if that is the armed fault's
 * Nth hit.  No-op when nothing is armed. */
void fx_fault_point(const char *phase);

/* The help text's lines for --fault. */
#define FX_FAULT_USAGE \
    "  --fault crash@PHASE[:N]   test facility: SIGKILL itself the first\n" \
    "                            (Nth) time a migration reaches PHASE\n" \
    "                            (begin, prepare, perform, switchover,\n" \
    "                            finish, confirm)\n"

#endif
