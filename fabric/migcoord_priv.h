/* What migcoord.c (the protocol's steps) and migcoord_svc.c (the
 * Migrations service) share.  Not for other modules. */
#ifndef MIGCOORD_PRIV_H
#define MIGCOORD_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "dpsvc.h"
#include "mig_report.h"
#include "migcoord.h"
#include "migflow.pb-c.h"
#include "store.h"
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
    uint64_t dirty_rate;
    uint64_t memory_mib;
    uint32_t vifs[VM_MAX_NICS];     /* NIC order. */
    uint32_t src_vnics[VM_MAX_NICS];
    uint32_t dst_vnics[VM_MAX_NICS];
    size_t n_nics;
    uint32_t gens[DPSVC_MAX_FLOWS], sinks[DPSVC_MAX_FLOWS];
    size_t n_gens, n_sinks;         /* Traffic flows that move along. */
    int held;                       /* The VIFs' frames are held. */
    int cancel;                     /* Asked while a call was out. */
    int final;
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
/* The source is about to stop the guest: holds the VIFs' frames. */
void mc_hold(struct mc_job *);

#endif
