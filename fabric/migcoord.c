#include "migcoord.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "fx_fault.h"
#include "dplane/dplane.h"
#include "dpsvc.h"
#include "dpsvc_priv.h"
#include "fx_util.h"
#include "hostreg.h"
#include "log.h"
#include "migcoord_priv.h"
#include "policy.h"
#include "profile.h"
#include "store/store.h"
#include "vif.h"
#include "vmfex_priv.h"
#include "vmfex_store.h"

LOG_MODULE("migcoord");

#define MC_AGENT_TIMEOUT_MS 10000

struct migcoord *
migcoord_create(struct vmfex *vx)
{
    struct migcoord *mc = calloc(1, sizeof *mc);

    if (!mc) {
        abort();
    }
    mc->vx = vx;
    mc->next_id = 1;
    return mc;
}

void
migcoord_destroy(struct migcoord *mc)
{
    free(mc);
}

/* ---- Plumbing ---- */

static void
mc_reply(void *arg, int status, const char *message,
         const ProtobufCMessage *rep)
{
    struct mc_job *j = arg;
    mc_step_fn *next = j->next;

    j->next = NULL;
    if (status == RPC_CANCELLED) {
        /* fabricd is shutting down: the store keeps the phase for the
         * next start to resolve. */
        snprintf(j->state, sizeof j->state, "interrupted");
        j->final = 1;
        return;
    }
    next(j, status == RPC_OK ? 0 : rpc_errno_from_status(status), message,
         status == RPC_OK ? rep : NULL);
}

/* Sends 'method' to the agent of 'host'; 'next' runs on the reply.  A
 * host down runs 'next' at once with the error. */
void
mc_call(struct mc_job *j, const char *host, const char *method,
        const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
        uint32_t timeout_ms, mc_step_fn *next)
{
    struct host *h = hostreg_find(j->mc->vx->hosts, host);
    char msg[128];
    int rc = -EHOSTDOWN;

    if (h && h->state == HOST_UP && h->session) {
        j->next = next;
        rc = rpc_conn_call(h->session, method, req, desc, timeout_ms,
                           mc_reply, j, NULL);
        if (!rc) {
            return;
        }
        j->next = NULL;
    }
    snprintf(msg, sizeof msg, "host '%s' is down", host);
    next(j, rc, msg, NULL);
}

void
mc_save(struct mc_job *j)
{
    struct store *st = vmfex_store(j->mc->vx);
    struct store_migration rec = { .id = j->id, .phase = j->phase,
                                   .started_at_ms = j->started_ms };
    struct fx_err err;

    if (!st) {
        return;
    }
    snprintf(rec.vm, sizeof rec.vm, "%s", j->vm);
    snprintf(rec.src, sizeof rec.src, "%s", j->src);
    snprintf(rec.dst, sizeof rec.dst, "%s", j->dst);
    snprintf(rec.state, sizeof rec.state, "%s", j->state);
    if ((j->final ? store_del_migration(st, j->id, &err)
                  : store_put_migration(st, &rec, &err))) {
        LOG_WARN("migration %u: not saved: %s", j->id, err.msg);
    }
}

static void
mc_phase(struct mc_job *j, enum store_mig_phase phase)
{
    j->phase = phase;
    mc_save(j);
    LOG_INFO("migration %u of '%s' %s -> %s: %s", j->id, j->vm, j->src,
             j->dst, store_mig_phase_name(phase));
    fx_fault_point(store_mig_phase_name(phase));
}

/* The job is over: 'state' is completed, failed or cancelled. */
void
mc_end(struct mc_job *j, const char *state, const char *why)
{
    struct vm *vm = vm_find(j->mc->vx->vms, j->vm, NULL);

    snprintf(j->state, sizeof j->state, "%s", state);
    if (why && !j->error[0]) {
        snprintf(j->error, sizeof j->error, "%s", why);
    }
    j->report.result = j->state;
    j->report.error = j->error;
    j->report.total_ms = (fx_now_ms() - j->started_ms);
    j->final = 1;
    if (vm) {
        vm->busy = 0;
    }
    mc_save(j);
    LOG_INFO("migration %u of '%s': %s%s%s", j->id, j->vm, state,
             j->error[0] ? ": " : "", j->error);
}

/* ---- Hold and release of the VIFs' frames ---- */

/* Releases them to 'host' (the destination, or the source on rollback),
 * in order, and counts them in the report. */
void
mc_release(struct mc_job *j, const char *host)
{
    struct dplane *dp = j->mc->vx->dp;
    int64_t idx = dps_host_index(j->mc->vx->hosts, host);
    struct fx_err err;

    for (size_t i = 0; dp && idx >= 0 && i < j->n_nics; i++) {
        uint64_t held = 0, lost = 0;

        /* The source's uplink MARKER held it (dplane.h); a VIF whose
         * host had no uplink was never held. */
        if (dplane_port_hold_stats(dp, j->vifs[i], &held, &lost)) {
            continue;
        }
        if (dplane_port_release(dp, j->vifs[i], (uint32_t) idx, &held,
                                &lost, &err)) {
            LOG_WARN("migration %u: VIF %u not released: %s", j->id,
                     j->vifs[i], err.msg);
        }
        j->report.frames_held += held;
        j->report.frames_lost += lost;
    }
}

/* ---- Rollback of the destination ---- */

static void
mc_dst_undefined(struct mc_job *j, int rc, const char *msg,
                 const ProtobufCMessage *rep)
{
    (void) rep;
    if (rc) {
        /* The outcome is known (the VM stays on the source); a domain
         * left on a lost destination is undefined when it registers
         * again (reconcile.c, migcoord_leftover). */
        LOG_WARN("migration %u: destination domain left: %s", j->id, msg);
    }
    mc_end(j, j->cancel ? "cancelled" : "failed", NULL);
}

static void
mc_dst_undefine(struct mc_job *j)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;

    req.name = j->vm;
    mc_call(j, j->dst, "HostVms.Undefine", &req.base,
            &fexsim__v1__agent_vm_reply__descriptor, MC_AGENT_TIMEOUT_MS,
            mc_dst_undefined);
}

static void
mc_dst_aborted(struct mc_job *j, int rc, const char *msg,
               const ProtobufCMessage *rep)
{
    (void) rc;
    (void) msg;
    (void) rep;
    mc_dst_undefine(j);
}

/* Fails the job with 'why' (kept if one is already set) and undoes the
 * destination: its engine job, then its domain. */
static void
mc_fail(struct mc_job *j, const char *why, int dst_prepared)
{
    Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;

    if (!j->error[0]) {
        snprintf(j->error, sizeof j->error, "%s", why);
    }
    mc_release(j, j->src);
    if (!dst_prepared) {
        mc_dst_undefine(j);
        return;
    }
    ref.job_id = j->id;
    mc_call(j, j->dst, "MigAgent.Abort", &ref.base,
            &fexsim__v1__agent_mig_ack__descriptor, MC_AGENT_TIMEOUT_MS,
            mc_dst_aborted);
}

/* ---- Finish, confirm ---- */

/* The VM runs on the destination: its VIFs (same ids, same MACs) follow
 * to the destination's vNICs, then the record. */
void
mc_move_vifs(struct mc_job *j)
{
    struct vmfex *vx = j->mc->vx;
    struct vm *vm = vm_find(vx->vms, j->vm, NULL);
    struct fx_err err;

    mc_release(j, j->dst);
    dpsvc_vm_moved(vx->dps, j->vm, j->dst);
    for (size_t i = 0; i < j->n_nics; i++) {
        struct vif *v = vif_find(vx->vifs, j->vifs[i]);

        if (v) {
            snprintf(v->host, sizeof v->host, "%s", j->dst);
            v->vnic = j->dst_vnics[i];
            v->state = VIF_ONLINE;
            vmfex_port_sync(vx, v->id);
        }
    }
    if (vm) {
        snprintf(vm->host, sizeof vm->host, "%s", j->dst);
        vm->running = 1;
        if (vmfex_save_vm(vx, vm, 0, &err)) {
            LOG_WARN("migration %u: VM not saved: %s", j->id, err.msg);
        }
    }
}

static void
mc_src_undefined(struct mc_job *j, int rc, const char *msg,
                 const ProtobufCMessage *rep)
{
    (void) rep;
    if (rc) {
        LOG_WARN("migration %u: source domain left on %s: %s", j->id,
                 j->src, msg);
    }
    mc_phase(j, STORE_MIG_CONFIRM);
    mc_end(j, "completed", NULL);
}

static void
mc_src_stopped(struct mc_job *j, int rc, const char *msg,
               const ProtobufCMessage *rep)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;

    (void) rep;
    if (rc) {
        LOG_WARN("migration %u: source domain not stopped: %s", j->id, msg);
    }
    req.name = j->vm;
    mc_call(j, j->src, "HostVms.Undefine", &req.base,
            &fexsim__v1__agent_vm_reply__descriptor, MC_AGENT_TIMEOUT_MS,
            mc_src_undefined);
}

static void
mc_finish(struct mc_job *j)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;

    mc_phase(j, STORE_MIG_FINISH);
    mc_move_vifs(j);
    req.name = j->vm;
    mc_call(j, j->src, "HostVms.Stop", &req.base,
            &fexsim__v1__agent_vm_reply__descriptor, MC_AGENT_TIMEOUT_MS,
            mc_src_stopped);
}

/* ---- Perform ---- */

static void
mc_take_report(struct mc_job *j, const Fexsim__V1__MigrationReport *r)
{
    j->report.job_id = j->id;
    j->report.downtime_ms = r->downtime_ms;
    j->report.downtime_us = r->downtime_us;
    j->report.bytes_sent = r->bytes_sent;
    j->report.rounds = r->rounds;
    j->report.throttle_pct = r->throttle_pct;
    if (r->error && r->error[0] && !j->error[0]) {
        snprintf(j->error, sizeof j->error, "%s", r->error);
    }
}

static void
mc_performed(struct mc_job *j, int rc, const char *msg,
             const ProtobufCMessage *rep_)
{
    const Fexsim__V1__AgentMigPerformReply *rep = (const void *) rep_;
    char why[300];

    if (MC_LOST(rc)) {
        /* The source may have handed over or not: its agent tells, once
         * back (migresolve.c). */
        mc_unresolved(j, msg);
        return;
    }
    if (rc || !rep->report) {
        snprintf(why, sizeof why, "source agent on %s: %s", j->src,
                 msg ? msg : "no report");
        mc_fail(j, why, 1);
        return;
    }
    mc_take_report(j, rep->report);
    if (strcmp(rep->report->result, "completed")) {
        j->src_failed = 1;
        if (!strcmp(rep->report->result, "cancelled")) {
            j->cancel = 1;
        }
        mc_fail(j, rep->report->error, 1);
        return;
    }
    mc_finish(j);
}

static void
mc_perform(struct mc_job *j, const char *incoming)
{
    Fexsim__V1__AgentMigRequest req = FEXSIM__V1__AGENT_MIG_REQUEST__INIT;
    struct vm *vm;

    mc_phase(j, STORE_MIG_PERFORM);
    req.job_id = j->id;
    req.vm = j->vm;
    req.memory_mib = j->memory_mib;
    req.n_vnics = j->n_nics;
    req.vnics = j->src_vnics;
    req.n_vifs = j->n_nics;
    req.vifs = j->vifs;
    req.incoming = (char *) incoming;
    req.params = &j->params;
    req.dirty_rate = j->dirty_rate;
    req.set_dirty_rate = j->set_dirty_rate;
    if (j->set_dirty_rate && (vm = vm_find(j->mc->vx->vms, j->vm, NULL))) {
        vm->dirty_rate = j->dirty_rate;     /* The guest's from now on. */
    }
    req.n_gen_flows = j->n_gens;
    req.gen_flows = j->gens;
    req.n_sink_flows = j->n_sinks;
    req.sink_flows = j->sinks;
    /* No timeout of ours: the engine has its own, and a lost source
     * closes its control connection, which answers the call. */
    mc_call(j, j->src, "MigAgent.Perform", &req.base,
            &fexsim__v1__agent_mig_perform_reply__descriptor, 0,
            mc_performed);
}

/* ---- Prepare ---- */

static void
mc_prepared(struct mc_job *j, int rc, const char *msg,
            const ProtobufCMessage *rep_)
{
    const Fexsim__V1__MigrationPrepareReply *rep = (const void *) rep_;
    char why[300];

    if (rc) {
        snprintf(why, sizeof why, "destination %s refuses: %s", j->dst, msg);
        mc_fail(j, why, 0);
        return;
    }
    if (j->cancel) {
        mc_fail(j, "cancelled by the operator", 1);
        return;
    }
    mc_perform(j, rep->incoming);
}

/* Takes the destination's vNICs from its Define reply, by MAC. */
int
mc_take_dst_vnics(struct mc_job *j, const Fexsim__V1__AgentVm *a)
{
    struct vmfex *vx = j->mc->vx;

    for (size_t i = 0; i < j->n_nics; i++) {
        const struct vif *v = vif_find(vx->vifs, j->vifs[i]);
        char mac[18];
        size_t k;

        if (!v) {
            return -ENOENT;
        }
        vif_mac_format(v->mac, mac);
        for (k = 0; a && k < a->n_nics && strcmp(a->nics[k]->mac, mac); k++) {
        }
        if (!a || k == a->n_nics) {
            return -EIO;
        }
        j->dst_vnics[i] = a->nics[k]->vnic;
    }
    return 0;
}

static void
mc_defined(struct mc_job *j, int rc, const char *msg,
           const ProtobufCMessage *rep_)
{
    const Fexsim__V1__AgentVmReply *rep = (const void *) rep_;
    Fexsim__V1__AgentMigRequest req = FEXSIM__V1__AGENT_MIG_REQUEST__INIT;
    char why[300];

    if (rc) {
        snprintf(why, sizeof why, "destination %s refuses: %s", j->dst, msg);
        snprintf(j->error, sizeof j->error, "%s", why);
        mc_end(j, "failed", NULL);
        return;
    }
    if (mc_take_dst_vnics(j, rep->vm)) {
        mc_fail(j, "destination defined the VM with other NICs", 0);
        return;
    }
    if (j->cancel) {
        mc_fail(j, "cancelled by the operator", 0);
        return;
    }
    req.job_id = j->id;
    req.vm = j->vm;
    req.memory_mib = j->memory_mib;
    req.n_vnics = j->n_nics;
    req.vnics = j->dst_vnics;
    req.n_vifs = j->n_nics;
    req.vifs = j->vifs;
    mc_call(j, j->dst, "MigAgent.Prepare", &req.base,
            &fexsim__v1__migration_prepare_reply__descriptor,
            MC_AGENT_TIMEOUT_MS, mc_prepared);
}

/* ---- Begin ---- */

struct mc_job *
mc_job_new(struct migcoord *mc, struct fx_err *err)
{
    struct mc_job *j = NULL;

    if (mc->n_jobs < MC_MAX_JOBS) {
        j = &mc->jobs[mc->n_jobs++];
    } else {
        for (size_t i = 0; i < MC_MAX_JOBS && !j; i++) {
            j = mc->jobs[i].final ? &mc->jobs[i] : NULL;
        }
    }
    if (!j) {
        fx_err_set(err, -EBUSY, "%d migrations in flight", MC_MAX_JOBS);
        return NULL;
    }
    memset(j, 0, sizeof *j);
    j->mc = mc;
    j->id = mc->next_id++;
    fexsim__v1__migration_report__init(&j->report);
    return j;
}

static int
mc_check(struct migcoord *mc, const Fexsim__V1__MigrateRequest *req,
         struct vm **vmp, struct fx_err *err)
{
    struct vmfex *vx = mc->vx;
    struct vm *vm = vm_find(vx->vms, req->vm, err);
    struct host *h = hostreg_find(vx->hosts, req->to);
    struct policy_vm pv;

    if (!vm) {
        return err->code;
    }
    if (vm->busy) {
        return fx_err_set(err, -EBUSY, "VM '%s' has another operation in "
                          "progress", vm->name);
    }
    if (!vm->running) {
        return fx_err_set(err, -EINVAL, "VM '%s' is not running: a live "
                          "migration needs a running VM", vm->name);
    }
    if (vm_check_dirty_rate(req->dirty_rate, err)) {
        return err->code;
    }
    if (!h || h->state != HOST_UP) {
        return fx_err_set(err, h ? -EHOSTDOWN : -ENOENT, "host '%s' is %s",
                          req->to, h ? "down" : "not known");
    }
    if (!strcmp(vm->host, req->to)) {
        return fx_err_set(err, -EINVAL, "VM '%s' already runs on '%s'",
                          vm->name, req->to);
    }
    pv = vms_policy_vm(vx, vm);
    if (policy_check(POLICY_OP_MIGRATE, &pv, err)) {
        return err->code;
    }
    *vmp = vm;
    return 0;
}

static void
mc_job_fill(struct mc_job *j, const struct vm *vm,
            const Fexsim__V1__MigrateRequest *req)
{
    const struct vif_table *vifs = j->mc->vx->vifs;

    snprintf(j->vm, sizeof j->vm, "%s", vm->name);
    snprintf(j->src, sizeof j->src, "%s", vm->host);
    snprintf(j->dst, sizeof j->dst, "%s", req->to);
    snprintf(j->state, sizeof j->state, "active");
    j->started_ms = fx_now_ms();
    j->memory_mib = vm->memory_mib;
    j->dirty_rate = req->dirty_rate;
    j->set_dirty_rate = req->set_dirty_rate;
    fexsim__v1__migration_params__init(&j->params);
    if (req->params) {
        j->params = *req->params;
    }
    j->params.memory_bytes = vm->memory_mib << 20;
    j->n_nics = vm->n_nics;
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = vif_find(vifs, vm->nics[i].vif);

        j->vifs[i] = vm->nics[i].vif;
        j->src_vnics[i] = v ? v->vnic : 0;
    }
    j->n_gens = dpsvc_vm_flows(j->mc->vx->dps, j->vm, 0, j->gens,
                               DPSVC_MAX_FLOWS);
    j->n_sinks = dpsvc_vm_flows(j->mc->vx->dps, j->vm, 1, j->sinks,
                                DPSVC_MAX_FLOWS);
}

int
mc_begin(struct migcoord *mc, const Fexsim__V1__MigrateRequest *req,
         struct rpc_call *call, struct mc_job **jp, struct fx_err *err)
{
    Fexsim__V1__AgentVmRequest *areq;
    struct mc_job *j;
    struct vm *vm = NULL;

    if (mc_check(mc, req, &vm, err) || !(j = mc_job_new(mc, err))) {
        return err->code;
    }
    mc_job_fill(j, vm, req);
    vm->busy = 1;
    mc_phase(j, STORE_MIG_BEGIN);
    *jp = j;
    areq = rpc_call_alloc(call, sizeof *areq);
    fexsim__v1__agent_vm_request__init(areq);
    areq->vm = vms_agent_vm(mc->vx, vm, 0, call);
    areq->create = 1;
    mc_phase(j, STORE_MIG_PREPARE);
    mc_call(j, j->dst, "HostVms.Define", &areq->base,
            &fexsim__v1__agent_vm_reply__descriptor, MC_AGENT_TIMEOUT_MS,
            mc_defined);
    return 0;
}
