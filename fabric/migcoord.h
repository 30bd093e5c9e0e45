/* migcoord: fabricd's migration coordinator (service Migrations).
 *
 * It drives libvirt's v3 protocol across two agents over their control
 * connections, one step per agent reply:
 *
 *   BEGIN    policy ("migrate"), VM running and idle, destination up
 *   PREPARE  dst HostVms.Define (reserves the vNICs; refused when none is
 *            free or passthrough is off), dst MigAgent.Prepare (memory
 *            admission, guest RAM, listening)
 *   PERFORM  src MigAgent.Perform: pre-copy agent to agent, switchover,
 *            answered with the source's report when the job is final
 *   FINISH   the VIFs move (same ids, same MACs) to the destination's
 *            vNICs; the VM record follows; src HostVms.Stop + Undefine
 *   CONFIRM  done: the record is deleted from the store
 *
 * Any failure after PREPARE aborts the destination (MigAgent.Abort) and
 * undefines its domain, which frees the reserved vNICs; the source engine
 * rolls itself back.  Each phase is saved (store_put_migration) before its
 * call leaves.  Jobs stay listed (finished ones too, up to MC_MAX_JOBS). */
#ifndef MIGCOORD_H
#define MIGCOORD_H

#include <stdint.h>

struct fx_err;
struct migcoord;
struct rpc_registry;
struct vmfex;

#define MC_MAX_JOBS 256

/* Creates the coordinator over 'vx' (borrowed, must outlive it). */
struct migcoord *migcoord_create(struct vmfex *vx);
void migcoord_destroy(struct migcoord *);

/* Registers service Migrations on 'reg'. */
int migcoord_register(struct migcoord *, struct rpc_registry *reg,
                      struct fx_err *err);

/* The mode VIF 'v' is in ('*modep') and why it is not high-performance
 * ('*whyp', "" when it is), both in memory of 'call': a migration moving
 * it on a VMware fabric puts it in emulated mode
 * (vmNptConflictingOperationInProgress); on KVM the destination's port is
 * pre-associated (PREASSOCIATE_RR, link down) until finish. */
/* A migration row loaded from the store at start ('rec'): listed as
 * "unresolved", its VM busy, until its agents have registered and said
 * where the VM runs; then committed or rolled back (migresolve.c). */
struct store_migration;
int migcoord_restore(struct migcoord *, const struct store_migration *rec,
                     struct fx_err *err);
/* Agent 'host' registered: resolves the migrations it was waited for. */
void migcoord_host_up(struct migcoord *, const char *host);
/* Agent 'host' (its connection 'session') holds domain 'a' of a VM whose
 * home is another host and which no migration moves: the copy a settled
 * migration left there (the agent was away for the cleanup).  Stopped if
 * it runs, then undefined, which frees its vNICs. */
struct Fexsim__V1__AgentVm;
void migcoord_leftover(struct migcoord *, void *session, const char *host,
                       const struct Fexsim__V1__AgentVm *a);

/* The data plane held VIF 'vif' at a source's MARKER: the migration
 * moving it is at its switchover. */
void migcoord_vif_held(struct migcoord *, uint32_t vif);

struct rpc_call;
struct vif;
void migcoord_vif_mode(const struct migcoord *, const struct vif *v,
                       struct rpc_call *call, char **modep, char **whyp);

#endif
