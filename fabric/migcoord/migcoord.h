/* migcoord: fabricd's migration coordinator.
 *
 * It drives libvirt's v3 protocol (begin, prepare, perform, finish,
 * confirm) across two agents, one call at a time, as a transition table:
 * every job is in one state, and every event (an agent's answer, the
 * data plane's hold at switchover, the operator's cancel, both agents
 * back after a crash) moves it along one row of the table at the top of
 * migcoord.c, which is the whole protocol read top to bottom:
 *
 *   begin    policy ("migrate"), VM running and idle, destination up
 *   prepare  dst HostVms.Define (reserves the vNICs), dst MigAgent.Prepare
 *            (memory admission, guest RAM, listening)
 *   perform  src MigAgent.Perform: pre-copy agent to agent; the source's
 *            uplink MARKERs hold the VIFs at the switchover; answered
 *            with the source's report when the engine is final
 *   finish   the VIFs (same ids, same MACs) move to the destination's
 *            vNICs, the held frames are released there; src HostVms.Stop
 *   confirm  src HostVms.Undefine; the store keeps the job as finished
 *
 * A failure before the switchover rolls back: the source's engine rolls
 * itself back, the fabric releases the held frames on the source, aborts
 * the destination and undefines its domain.  An agent lost mid-job (or
 * fabricd restarted with a job in its store) leaves the job unresolved,
 * its VM busy, until both agents are registered; then it asks them where
 * the VM runs and commits or rolls back (docs/DESIGN-migration-flow.md).
 *
 * Each phase is in the store before the call that starts it leaves; a
 * store write that fails fails the step: before the switchover the job
 * rolls back, after it (the guest runs on the destination) the job
 * resolves from what the agents say.  Jobs stay listed, finished ones
 * too, up to MIGCOORD_MAX_JOBS; the store keeps the newest finished ones
 * (MIGCOORD_KEEP_DONE) with their final statistics, listed again after a
 * restart. */
#ifndef MIGCOORD_H
#define MIGCOORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migflow.pb-c.h"

struct agents;
struct dplane;
struct flows;
struct fx_err;
struct mig_progress;
struct migcoord;
struct migcoord_job;
struct model;
struct rpc_call;
struct store;
struct vif;

#define MIGCOORD_MAX_JOBS 256
/* Finished jobs the store keeps, the newest: listed again after a
 * restart. */
#define MIGCOORD_KEEP_DONE 128

/* Creates the coordinator on 'base' over the model, store (NULL: in
 * memory), agents, data plane (NULL: none) and flows, all borrowed and
 * outliving it.  'flavor' (copied; NULL: "kvm") is how a passthrough vNIC
 * moves: "kvm" or "vmware".  While a source copies, the coordinator asks
 * it for its statistics 4 times a second (MigAgent.Status): they are in
 * the job, and pushed as live ticks (EVENT_MIGRATION_PROGRESS). */
struct event_base;
struct migcoord *migcoord_create(struct event_base *base,
                                 struct model *model, struct store *store,
                                 struct agents *agents, struct dplane *dp,
                                 struct flows *flows, const char *flavor);
/* NULL is a no-op.  Destroy it after the RPC server, whose teardown
 * answers the agent calls in flight. */
void migcoord_destroy(struct migcoord *);
/* Where migrations tell their phases, rounds and ends (borrowed, must
 * outlive the coordinator; NULL: nowhere). */
struct events;
void migcoord_set_events(struct migcoord *, struct events *events);

/* 'fn' is called with 'arg' when a job reaches its final state (after
 * its EVENT_MIGRATION_FINISHED), from inside the coordinator: it may read
 * the job ('j', borrowed) but not start or cancel one.  NULL: none. */
typedef void migcoord_final_fn(void *arg, const struct migcoord_job *j);
void migcoord_set_final_fn(struct migcoord *, migcoord_final_fn *fn,
                           void *arg);

/* Loads the migrations the store holds: each was in flight when fabricd
 * stopped, and is listed "unresolved", its VM busy, until its agents have
 * registered and said where the VM runs.  New jobs are numbered past
 * every id the store ever held (store_counters.next_migration_id): a job
 * id is never handed out twice, across restarts too. */
int migcoord_load(struct migcoord *, struct fx_err *err);

/* Checks 'req' (policy, VM, hosts), saves the job and sends its first
 * call.  Stores the job in '*jp' (owned by the coordinator).  A refusal,
 * or a store that cannot save it, leaves nothing behind. */
int migcoord_start(struct migcoord *, const Fexsim__V1__MigrateRequest *req,
                   const struct migcoord_job **jp, struct fx_err *err);
/* Asks to cancel job 'id': it rolls back while the VM has not resumed on
 * the destination.  -EALREADY once it is too late, -EBUSY while it is
 * unresolved. */
int migcoord_cancel(struct migcoord *, uint32_t id, struct fx_err *err);

/* The job with id 'id', or (id 0) the latest of VM 'vm'; NULL with 'err'
 * (-ENOENT).  Jobs are owned by the coordinator and valid until the next
 * migcoord_start(). */
const struct migcoord_job *migcoord_find(const struct migcoord *,
                                         uint32_t id, const char *vm,
                                         struct fx_err *err);
/* Slots in use (migcoord_at() is NULL for a free one), in no order. */
size_t migcoord_count(const struct migcoord *);
/* Jobs waiting for their agents to tell where the VM runs. */
size_t migcoord_unresolved(const struct migcoord *);
const struct migcoord_job *migcoord_at(const struct migcoord *, size_t i);

uint32_t migcoord_job_id(const struct migcoord_job *);
/* Whether the job is over (completed, failed, cancelled, resolved). */
bool migcoord_job_final(const struct migcoord_job *);
/* Whether the source is copying: then its agent knows the progress. */
bool migcoord_job_copying(const struct migcoord_job *);
/* The source host, owned by the job. */
const char *migcoord_job_src(const struct migcoord_job *);
/* Records the parameters the source of job 'id' has now in force
 * (MigAgent.SetParams answered). */
void migcoord_set_params(struct migcoord *, uint32_t id,
                         uint64_t max_bandwidth, uint32_t downtime_limit_ms);
/* Fills 'm' with the job, with memory from 'call'. */
void migcoord_job_msg(const struct migcoord_job *, struct rpc_call *call,
                      Fexsim__V1__Migration *m);

/* Agent 'host' registered: the jobs waiting for it resolve. */
void migcoord_host_up(struct migcoord *, const char *host);
/* The data plane held VIF 'vif' at a source's MARKER: the migration
 * moving it is at its switchover. */
void migcoord_vif_held(struct migcoord *, uint32_t vif);

/* The mode VIF 'v' is in ('*modep') and why it is not high-performance
 * ('*whyp', "" when it is), both in memory of 'call': a migration moving
 * it on a VMware fabric puts it in emulated mode
 * (vmNptConflictingOperationInProgress); on KVM the destination's port is
 * pre-associated (PREASSOCIATE_RR, link down) until finish. */
void migcoord_vif_mode(const struct migcoord *, const struct vif *v,
                       struct rpc_call *call, char **modep, char **whyp);

#endif
