/* What migcoord.c (the protocol's steps) and migcoord_svc.c (the
 * Migrations service) share.  Not for other modules. */
#ifndef MIGCOORD_PRIV_H
#define MIGCOORD_PRIV_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "dpsvc.h"
#include "mig_report.h"
#include "migcoord.h"
#include "migflow.pb-c.h"
#include "vmfex.pb-c.h"
#include "store/store.h"
#include "vm.h"

struct rpc_call;

#define MC_NAME 40

struct mc_job;
/* The next step, run on an agent's reply: 'rc' 0 and 'rep' set, or a
 * negative errno with 'msg'. */
typedef void mc_step_fn(struct mc_job *, int rc, const char *msg,
                        const ProtobufCMessage *rep);

struct mc_job {
    struct migcoord *mc;
    uint32_t id;
    char vm[MC_NAME], src[MC_NAME], dst[MC_NAME];
    enum store_mig_phase phase;
    char state[16];                 /* active, cancelling, completed... */
    uint64_t started_ms;
    Fexsim__V1__MigrationParams params;
    uint64_t dirty_rate;            /* With set_dirty_rate: the guest's */
    int set_dirty_rate;             /* new one, from Perform on. */
    uint64_t memory_mib;
    uint32_t vifs[VM_MAX_NICS];     /* NIC order. */
    uint32_t src_vnics[VM_MAX_NICS];
    uint32_t dst_vnics[VM_MAX_NICS];
    size_t n_nics;
    uint32_t gens[DPSVC_MAX_FLOWS], sinks[DPSVC_MAX_FLOWS];
    size_t n_gens, n_sinks;         /* Traffic flows that move along. */
    int switched;                   /* The data plane held a VIF. */
    int cancel;                     /* Asked while a call was out. */
    int final;
    int unresolved;                 /* Waits for both agents to tell. */
    int resolving;                  /* Asking them now. */
    int src_failed;                 /* The source reported a failure: its
                                     * guest runs again there. */
    /* What the agents said, while resolving (migresolve.c). */
    int src_has, src_runs, dst_has, dst_runs;
    uint32_t found_vnics[VM_MAX_NICS];
    int found_all;
    char error[256];
    struct mig_progress prog;
    Fexsim__V1__MigrationReport report;  /* Strings point at 'error'. */
    mc_step_fn *next;
};

struct migcoord {
    struct vmfex *vx;               /* Borrowed. */
    struct mc_job jobs[MC_MAX_JOBS];
    size_t n_jobs;
    uint32_t next_id;
};

/* Checks 'req' (policy, VM, hosts) and starts a job: its first call (the
 * destination's HostVms.Define) leaves at once.  Stores the job in '*jp';
 * memory for the call from 'call'.  -errno with 'err' when refused. */
int mc_begin(struct migcoord *, const Fexsim__V1__MigrateRequest *req,
             struct rpc_call *call, struct mc_job **jp, struct fx_err *err);

/* Plumbing shared with migresolve.c. */
/* Whether an agent's answer 'rc' means its connection is gone. */
#define MC_LOST(rc) ((rc) == -EHOSTDOWN || (rc) == -ENOTCONN)
void mc_call(struct mc_job *, const char *host, const char *method,
             const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *desc, uint32_t timeout_ms,
             mc_step_fn *next);
void mc_save(struct mc_job *);
void mc_end(struct mc_job *, const char *state, const char *why);
void mc_release(struct mc_job *, const char *host);
void mc_move_vifs(struct mc_job *);
int mc_take_dst_vnics(struct mc_job *, const Fexsim__V1__AgentVm *a);
struct mc_job *mc_job_new(struct migcoord *, struct fx_err *err);
/* An agent's connection was lost mid-job ('why'): the job waits, its VM
 * busy, until both agents are back and say where the VM runs
 * (migresolve.c). */
void mc_unresolved(struct mc_job *, const char *why);

#endif
