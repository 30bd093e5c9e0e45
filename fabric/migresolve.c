/* Resolution of a migration whose outcome the fabric does not know: a row
 * loaded from the store at start (fabricd was killed mid-migration), or a
 * job whose agent's connection was lost.  The job waits, listed as
 * "unresolved" with its VM busy (reconciliation skips it), until the
 * agents of its source and destination are both registered.  Then it
 * aborts any engine job left on them, asks each HostVms.List, and decides
 * by where the VM's domain runs (docs/DESIGN-store.md):
 *
 *   destination runs it       commit: VIFs (same ids, MACs) on the
 *                             destination's vNICs, VM there; the source's
 *                             domain stopped and undefined (its vNICs free)
 *   otherwise                 roll back: VIFs and VM on the source, with
 *                             the vNICs it holds; the destination's domain
 *                             undefined (its reserved vNICs free)
 *   both run                  the destination resumed only once the source
 *                             had stopped its guest and handed over, so
 *                             the source's copy is stale: commit; unless
 *                             the source reported a failure (its guest
 *                             runs again there): roll back
 *   neither runs              roll back and start it again on the source
 *                             (it ran before the migration)
 *
 * One log line per decision; the row is deleted and the job stays listed
 * with state "resolved" and the decision in its error field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "fx_util.h"
#include "hostreg.h"
#include "log.h"
#include "migcoord_priv.h"
#include "profile.h"
#include "vif.h"
#include "vmfex_priv.h"
#include "vmfex_store.h"

LOG_MODULE("migresolve");

#define RS_TIMEOUT_MS 10000

static void rs_start(struct mc_job *j);

static int
rs_host_up(const struct migcoord *mc, const char *name)
{
    const struct host *h = hostreg_find(mc->vx->hosts, name);

    return h && h->state == HOST_UP && h->session;
}

/* Starts resolving 'j' if both its agents are registered. */
static void
rs_try(struct mc_job *j)
{
    if (j->unresolved && !j->resolving && !j->final
        && rs_host_up(j->mc, j->src) && rs_host_up(j->mc, j->dst)) {
        rs_start(j);
    }
}

void
mc_unresolved(struct mc_job *j, const char *why)
{
    LOG_WARN("migration %u of '%s': %s; unresolved until the agents of %s "
             "and %s say where the VM runs", j->id, j->vm, why ? why : "",
             j->src, j->dst);
    j->unresolved = 1;
    j->resolving = 0;
    snprintf(j->state, sizeof j->state, "unresolved");
    mc_save(j);
    rs_try(j);
}

int
migcoord_restore(struct migcoord *mc, const struct store_migration *rec,
                 struct fx_err *err)
{
    struct vmfex *vx = mc->vx;
    struct vm *vm = vm_find(vx->vms, rec->vm, err);
    struct mc_job *j;

    if (!vm || !(j = mc_job_new(mc, err))) {
        return err->code;
    }
    j->id = rec->id;
    mc->next_id = rec->id >= mc->next_id ? rec->id + 1 : mc->next_id;
    snprintf(j->vm, sizeof j->vm, "%s", rec->vm);
    snprintf(j->src, sizeof j->src, "%s", rec->src);
    snprintf(j->dst, sizeof j->dst, "%s", rec->dst);
    snprintf(j->state, sizeof j->state, "unresolved");
    j->phase = rec->phase;
    j->started_ms = rec->started_at_ms;
    j->memory_mib = vm->memory_mib;
    j->n_nics = vm->n_nics;
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = vif_find(vx->vifs, vm->nics[i].vif);

        j->vifs[i] = vm->nics[i].vif;
        j->src_vnics[i] = v ? v->vnic : 0;
    }
    j->unresolved = 1;
    vm->busy = 1;
    LOG_WARN("migration %u of '%s' %s -> %s was in phase %s when fabricd "
             "stopped: unresolved until both agents register", j->id, j->vm,
             j->src, j->dst, store_mig_phase_name(j->phase));
    return 0;
}

void
migcoord_host_up(struct migcoord *mc, const char *host)
{
    for (size_t i = 0; i < mc->n_jobs; i++) {
        struct mc_job *j = &mc->jobs[i];

        if (!strcmp(j->src, host) || !strcmp(j->dst, host)) {
            rs_try(j);
        }
    }
}

/* ---- The end: cleanup of the losing host, then the job ---- */

static void
rs_done(struct mc_job *j, int rc, const char *msg,
        const ProtobufCMessage *rep)
{
    (void) rep;
    if (rc) {
        LOG_WARN("migration %u: leftover of '%s' not undefined: %s", j->id,
                 j->vm, msg);
    }
    j->unresolved = 0;
    j->resolving = 0;
    mc_end(j, "resolved", NULL);
}

static void
rs_stopped(struct mc_job *j, int rc, const char *msg,
           const ProtobufCMessage *rep)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    int commit = !strncmp(j->error, "committed", 9);

    (void) rep;
    if (rc) {
        LOG_WARN("migration %u: leftover of '%s' not stopped: %s", j->id,
                 j->vm, msg);
    }
    req.name = j->vm;
    mc_call(j, commit ? j->src : j->dst, "HostVms.Undefine", &req.base,
            &fexsim__v1__agent_vm_reply__descriptor, RS_TIMEOUT_MS, rs_done);
}

/* Removes the copy on the host that lost: stopped if it runs, then
 * undefined, which frees its vNICs. */
static void
rs_cleanup(struct mc_job *j, int commit)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    const char *host = commit ? j->src : j->dst;

    req.name = j->vm;
    if (commit ? j->src_runs : j->dst_runs) {
        mc_call(j, host, "HostVms.Stop", &req.base,
                &fexsim__v1__agent_vm_reply__descriptor, RS_TIMEOUT_MS,
                rs_stopped);
    } else if (commit ? j->src_has : j->dst_has) {
        rs_stopped(j, 0, NULL, NULL);
    } else {
        rs_done(j, 0, NULL, NULL);
    }
}

/* ---- Roll back ---- */

static void
rs_started(struct mc_job *j, int rc, const char *msg,
           const ProtobufCMessage *rep)
{
    struct vm *vm = vm_find(j->mc->vx->vms, j->vm, NULL);
    struct fx_err err;

    (void) rep;
    if (rc) {
        LOG_WARN("migration %u: '%s' does not start again on %s: %s",
                 j->id, j->vm, j->src, msg);
    } else if (vm) {
        vm->running = 1;
        for (size_t i = 0; i < j->n_nics; i++) {
            struct vif *v = vif_find(j->mc->vx->vifs, j->vifs[i]);

            if (v) {
                v->state = VIF_ONLINE;
                vmfex_port_sync(j->mc->vx, v->id);
            }
        }
        if (vmfex_save_vm(j->mc->vx, vm, 0, &err)) {
            LOG_WARN("migration %u: VM not saved: %s", j->id, err.msg);
        }
    }
    rs_cleanup(j, 0);
}

/* Neither host runs the VM: the source starts it again (it ran before). */
static void
rs_restart_src(struct mc_job *j, struct vm *vm)
{
    Fexsim__V1__AgentVmRequest req = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    Fexsim__V1__AgentVm a = FEXSIM__V1__AGENT_VM__INIT;
    Fexsim__V1__AgentNic nics[VM_MAX_NICS], *ptrs[VM_MAX_NICS];
    char macs[VM_MAX_NICS][18];

    a.name = vm->name;
    a.memory_mib = vm->memory_mib;
    a.nics = ptrs;
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = vif_find(j->mc->vx->vifs, vm->nics[i].vif);
        const struct profile *p = profile_find(j->mc->vx->profiles,
                                               vm->nics[i].profile);

        if (!v) {
            continue;
        }
        fexsim__v1__agent_nic__init(&nics[a.n_nics]);
        vif_mac_format(v->mac, macs[a.n_nics]);
        nics[a.n_nics].mac = macs[a.n_nics];
        nics[a.n_nics].profile = vm->nics[i].profile;
        nics[a.n_nics].directpath = vm->nics[i].directpath;
        nics[a.n_nics].vlan = p ? p->vlans[0] : 1;
        nics[a.n_nics].vnic = v->vnic;
        ptrs[a.n_nics] = &nics[a.n_nics];
        a.n_nics++;
    }
    req.vm = &a;
    mc_call(j, j->src, "HostVms.Start", &req.base,
            &fexsim__v1__agent_vm_reply__descriptor, RS_TIMEOUT_MS,
            rs_started);
}

static void
rs_rollback(struct mc_job *j, struct vm *vm)
{
    struct vmfex *vx = j->mc->vx;
    struct fx_err err;

    mc_release(j, j->src);
    snprintf(vm->host, sizeof vm->host, "%s", j->src);
    vm->running = j->src_runs;
    for (size_t i = 0; i < j->n_nics; i++) {
        struct vif *v = vif_find(vx->vifs, j->vifs[i]);

        if (!v) {
            continue;
        }
        snprintf(v->host, sizeof v->host, "%s", j->src);
        v->vnic = j->src_vnics[i];    /* As the source lists them. */
        v->state = j->src_runs ? VIF_ONLINE : VIF_OFFLINE;
        vmfex_port_sync(vx, v->id);
    }
    if (vmfex_save_vm(vx, vm, 0, &err)) {
        LOG_WARN("migration %u: VM not saved: %s", j->id, err.msg);
    }
    if (!j->src_runs && j->src_has) {
        rs_restart_src(j, vm);
        return;
    }
    rs_cleanup(j, 0);
}

/* ---- Decide ---- */

/* Where the agent's list 'rep' has the VM: '*hasp', '*runsp', and its
 * NICs' vNICs by MAC in j->found_vnics (j->found_all when all match). */
static void
rs_scan(struct mc_job *j, const ProtobufCMessage *rep_, int *hasp,
        int *runsp)
{
    const Fexsim__V1__AgentListReply *rep = (const void *) rep_;
    const Fexsim__V1__AgentVm *a = NULL;

    for (size_t i = 0; rep && i < rep->n_vms && !a; i++) {
        a = strcmp(rep->vms[i]->name, j->vm) ? NULL : rep->vms[i];
    }
    *hasp = a != NULL;
    *runsp = a && a->running;
    j->found_all = a != NULL;
    for (size_t i = 0; a && i < j->n_nics; i++) {
        const struct vif *v = vif_find(j->mc->vx->vifs, j->vifs[i]);
        char mac[18];
        size_t k;

        if (!v) {
            j->found_all = 0;
            continue;
        }
        vif_mac_format(v->mac, mac);
        for (k = 0; k < a->n_nics && strcmp(a->nics[k]->mac, mac); k++) {
        }
        j->found_all &= k < a->n_nics;
        j->found_vnics[i] = k < a->n_nics ? a->nics[k]->vnic : 0;
    }
}

static void
rs_decide(struct mc_job *j, const ProtobufCMessage *dst_list)
{
    struct vm *vm = vm_find(j->mc->vx->vms, j->vm, NULL);
    int commit = j->dst_runs && !(j->src_runs && j->src_failed);
    const char *how = "";

    if (!vm) {
        snprintf(j->error, sizeof j->error, "VM deleted meanwhile");
        rs_done(j, 0, NULL, NULL);
        return;
    }
    if (j->src_runs && j->dst_runs) {
        how = commit ? " (it ran on both: the source's copy is stale)"
                     : " (it ran on both: the source had failed the "
                       "migration and resumed it)";
    } else if (!j->src_runs && !j->dst_runs) {
        how = j->src_has ? " (it ran on neither: started again on the "
                           "source)"
                         : " (the source lost its domain too)";
    }
    snprintf(j->error, sizeof j->error, "%s: VM runs on %s%s",
             commit ? "committed" : "rolled back",
             commit ? j->dst : j->src, how);
    LOG_INFO("migration %u of '%s' %s -> %s (phase %s) resolved: %s", j->id,
             j->vm, j->src, j->dst, store_mig_phase_name(j->phase),
             j->error);
    if (!commit) {
        rs_rollback(j, vm);
        return;
    }
    /* The destination's list is still ours: take its vNICs by MAC. */
    rs_scan(j, dst_list, &j->dst_has, &j->dst_runs);
    memcpy(j->dst_vnics, j->found_vnics, sizeof j->dst_vnics);
    mc_move_vifs(j);
    rs_cleanup(j, 1);
}

/* ---- Ask: abort engines left, then list each host ---- */

static int
rs_lost(struct mc_job *j, int rc, const char *msg)
{
    if (!MC_LOST(rc)) {
        return 0;
    }
    LOG_WARN("migration %u: an agent left again (%s): still unresolved",
             j->id, msg);
    j->resolving = 0;
    return 1;
}

static void
rs_dst_listed(struct mc_job *j, int rc, const char *msg,
              const ProtobufCMessage *rep)
{
    if (rs_lost(j, rc, msg)) {
        return;
    }
    rs_scan(j, rep, &j->dst_has, &j->dst_runs);
    rs_decide(j, rep);
}

static void
rs_src_listed(struct mc_job *j, int rc, const char *msg,
              const ProtobufCMessage *rep)
{
    Fexsim__V1__AgentListRequest req = FEXSIM__V1__AGENT_LIST_REQUEST__INIT;

    if (rs_lost(j, rc, msg)) {
        return;
    }
    rs_scan(j, rep, &j->src_has, &j->src_runs);
    /* Kept for a roll back: the vNICs the source holds. */
    if (j->found_all) {
        memcpy(j->src_vnics, j->found_vnics, sizeof j->src_vnics);
    }
    mc_call(j, j->dst, "HostVms.List", &req.base,
            &fexsim__v1__agent_list_reply__descriptor, RS_TIMEOUT_MS,
            rs_dst_listed);
}

static void
rs_dst_aborted(struct mc_job *j, int rc, const char *msg,
               const ProtobufCMessage *rep)
{
    Fexsim__V1__AgentListRequest req = FEXSIM__V1__AGENT_LIST_REQUEST__INIT;

    (void) rep;
    if (rs_lost(j, rc, msg)) {
        return;
    }
    mc_call(j, j->src, "HostVms.List", &req.base,
            &fexsim__v1__agent_list_reply__descriptor, RS_TIMEOUT_MS,
            rs_src_listed);
}

static void
rs_src_aborted(struct mc_job *j, int rc, const char *msg,
               const ProtobufCMessage *rep)
{
    Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;

    (void) rep;
    if (rs_lost(j, rc, msg)) {
        return;
    }
    ref.job_id = j->id;
    mc_call(j, j->dst, "MigAgent.Abort", &ref.base,
            &fexsim__v1__agent_mig_ack__descriptor, RS_TIMEOUT_MS,
            rs_dst_aborted);
}

/* An engine job still running on either agent (fabricd was killed while
 * the source copied) is cancelled first, so that what the lists say
 * stays true; one past its switchover completes instead. */
static void
rs_start(struct mc_job *j)
{
    Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;

    j->resolving = 1;
    LOG_INFO("migration %u of '%s': %s and %s are up, asking them where "
             "the VM runs", j->id, j->vm, j->src, j->dst);
    ref.job_id = j->id;
    mc_call(j, j->src, "MigAgent.Abort", &ref.base,
            &fexsim__v1__agent_mig_ack__descriptor, RS_TIMEOUT_MS,
            rs_src_aborted);
}

/* ---- Leftovers found at an agent's registration ---- */

struct rs_left {
    void *session;
    char host[MC_NAME], vm[MC_NAME];
};

static void
rs_left_done(void *arg, int status, const char *message,
             const ProtobufCMessage *rep)
{
    struct rs_left *l = arg;

    (void) rep;
    if (status != RPC_OK) {
        LOG_WARN("leftover '%s' on %s not undefined: %s", l->vm, l->host,
                 message);
    }
    free(l);
}

static void
rs_left_stopped(void *arg, int status, const char *message,
                const ProtobufCMessage *rep)
{
    struct rs_left *l = arg;
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;

    (void) rep;
    if (status == RPC_CANCELLED || status == RPC_UNAVAILABLE) {
        rs_left_done(l, status, message, NULL);
        return;
    }
    req.name = l->vm;
    if (rpc_conn_call(l->session, "HostVms.Undefine", &req.base,
                      &fexsim__v1__agent_vm_reply__descriptor,
                      RS_TIMEOUT_MS, rs_left_done, l, NULL)) {
        free(l);
    }
}

void
migcoord_leftover(struct migcoord *mc, void *session, const char *host,
                  const Fexsim__V1__AgentVm *a)
{
    const struct vm *vm = vm_find(mc->vx->vms, a->name, NULL);
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    struct rs_left *l = calloc(1, sizeof *l);

    if (!l) {
        abort();
    }
    l->session = session;
    snprintf(l->host, sizeof l->host, "%s", host);
    snprintf(l->vm, sizeof l->vm, "%s", a->name);
    LOG_WARN("VM '%s' is defined on host '%s' (%s) but lives on '%s': a "
             "migration's leftover, %s", a->name, host,
             a->running ? "running" : "stopped", vm ? vm->host : "?",
             a->running ? "stopping and undefining it" : "undefining it");
    if (!a->running) {
        rs_left_stopped(l, RPC_OK, NULL, NULL);
        return;
    }
    req.name = l->vm;
    if (rpc_conn_call(session, "HostVms.Stop", &req.base,
                      &fexsim__v1__agent_vm_reply__descriptor, RS_TIMEOUT_MS,
                      rs_left_stopped, l, NULL)) {
        free(l);
    }
}
