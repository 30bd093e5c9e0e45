/* fx_fault: deterministic fault injection, a test facility.
 *
 * A daemon started with "--fault crash@PHASE" (or "crash@PHASE:N") kills
 * itself with SIGKILL the first (or Nth) time one of its migrations
 * reaches PHASE, so that crash tests hit an exact point instead of racing
 * a kill against a sleep.  PHASE is one of libvirt's v3 migration phases
 * as migcoord and migagent name them: begin, prepare, perform,
 * switchover, finish, confirm.
 *
 * With "--fault fail@resume" (or ":N"), the first (Nth) incoming
 * migration's domain fails to start on this agent, as if libvirt refused.
 *
 * With "--fault fail@release" (or ":N"), the first (Nth) VM undefined on
 * this agent keeps its vNICs: a planted leak, so that tests can show the
 * invariants and the scenario runner's chaos find one.
 *
 * With "--fault nospace@PATH", fabricd's store fails its writes as a full
 * disk does while the file PATH exists: a test creates it to make the
 * disk full at the moment it chooses, and removes it to end that.  If the
 * file holds a number N, the first N writes after it appeared still
 * succeed, so a test can fail exactly the Nth write of an operation.
 *
 * With "--fault hvstall@PATH", the hypervisor part of each HostVms.Stop
 * on an agent waits while the file PATH exists, as libvirt's destroy
 * waits when libvirtd holds the domain under a job of its own: a test
 * creates it, sees what the agent does meanwhile, and removes it.
 *
 * One fault per process, process-wide (a daemon has one fault plan, and a
 * crash ends it). */
#ifndef FX_FAULT_H
#define FX_FAULT_H

#include <stdbool.h>

struct fx_err;

/* Arms the fault 'spec' if it is one the daemon 'offered' (its words,
 * space-separated: "crash@PHASE", "fail@resume", "nospace"), so that a
 * fault a daemon never reaches is refused, not silently ignored.  -EINVAL
 * with a one-line 'err' when malformed or not offered. */
int fx_fault_parse(const char *spec, const char *offered,
                   struct fx_err *err);

/* The daemon reached 'phase': SIGKILLs itself if that is the armed fault's
 * Nth hit.  No-op when nothing is armed. */
void fx_fault_point(const char *phase);

/* Whether step 'step' must fail: the armed fault is fail@STEP and this is
 * its Nth hit.  The steps: "resume", the destination's domain does not
 * start at the end of a migration; "release", an undefined VM's vNICs are
 * not given back. */
bool fx_fault_fail(const char *step);

/* Whether the store's next write must fail as on a full disk (the armed
 * fault is nospace@PATH and PATH exists, past its count).  False when
 * nothing is armed, at the cost of a test. */
bool fx_fault_nospace(void);

/* Whether HostVms.Stop's hypervisor part must wait (the armed fault is
 * hvstall@PATH and PATH exists).  Safe from any thread. */
bool fx_fault_hvstall(void);

/* The help text's lines for --fault, by kind. */
#define FX_FAULT_USAGE_CRASH(phases) \
    "  --fault crash@PHASE[:N]   test facility: SIGKILL itself the first\n" \
    "                            (Nth) time a migration reaches PHASE\n" \
    "                            (" phases ")\n"
#define FX_FAULT_USAGE_RESUME \
    "  --fault fail@resume[:N]   test facility: the first (Nth) incoming\n" \
    "                            migration's domain does not start\n"
#define FX_FAULT_USAGE_RELEASE \
    "  --fault fail@release[:N]  test facility: the first (Nth) VM undefined\n" \
    "                            here keeps its vNICs (a planted leak)\n"
#define FX_FAULT_USAGE_HVSTALL \
    "  --fault hvstall@PATH      test facility: the libvirt part of\n" \
    "                            HostVms.Stop waits while PATH exists\n"
#define FX_FAULT_USAGE_NOSPACE \
    "  --fault nospace@PATH      test facility: the state file's writes\n" \
    "                            fail as on a full disk while PATH exists\n" \
    "                            (after the number of writes PATH holds)\n"

#endif
