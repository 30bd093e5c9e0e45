/* The Vms service of fabricd: VM lifecycle and the DirectPath rules.  Every
 * operation the rules govern asks policy.c first; the host's part goes to
 * its agent (HostVms), and the VM's record changes only when the agent
 * has done it, so the fabric never believes in a domain libvirt lacks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "hostreg.h"
#include "log.h"
#include "policy.h"
#include "profile.h"
#include "vif.h"
#include "vmfex_priv.h"
#include "vmfex_store.h"

LOG_MODULE("vms");

#define VMS_MAX_MEMORY_MIB (1024 * 1024)

/* ---- Helpers ---- */

struct policy_vm
vms_policy_vm(const struct vmfex *vx, const struct vm *vm)
{
    struct policy_vm p = { vm->name, vm->running, 0, 0 };

    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct profile *pp = profile_find(vx->profiles,
                                                vm->nics[i].profile);

        if (vm->nics[i].directpath) {
            p.n_directpath++;
            p.n_directpath_plain += !(pp && pp->high_performance);
        }
    }
    return p;
}

struct vm *
vms_get_idle(struct vmfex *vx, const char *name, struct fx_err *err)
{
    struct vm *vm = vm_find(vx->vms, name, err);

    if (vm && vm->busy) {
        fx_err_set(err, -EBUSY, "VM '%s' has another operation in progress",
                   name);
        return NULL;
    }
    return vm;
}

static void
vms_update_reservation(struct vm *vm)
{
    uint32_t n = 0;

    for (size_t i = 0; i < vm->n_nics; i++) {
        n += vm->nics[i].directpath != 0;
    }
    vm->reservation_mib = policy_reservation_mib(vm->memory_mib, n);
}

Fexsim__V1__Vm *
vms_to_msg(const struct vmfex *vx, const struct vm *vm, struct rpc_call *call)
{
    Fexsim__V1__Vm *m = rpc_call_alloc(call, sizeof *m);

    fexsim__v1__vm__init(m);
    m->name = rpc_call_strdup(call, vm->name);
    m->host = rpc_call_strdup(call, vm->host);
    m->memory_mib = vm->memory_mib;
    m->reservation_mib = vm->reservation_mib;
    m->running = vm->running;
    m->record = vm->record;
    m->ft = vm->ft;
    m->ha = vm->ha;
    m->snapshots = vm->snapshots;
    m->dirty_rate = vm->running ? vm->dirty_rate : 0;
    m->n_nics = vm->n_nics;
    m->nics = rpc_call_alloc(call, vm->n_nics * sizeof *m->nics);
    for (size_t i = 0; i < vm->n_nics; i++) {
        m->nics[i] = rpc_call_alloc(call, sizeof *m->nics[i]);
        vmfex_vif_to_msg(vx, vm->nics[i].vif, call, m->nics[i]);
        /* Strings borrowed from the VIF may go if it is removed before
         * the reply leaves: copy them. */
        m->nics[i]->host = rpc_call_strdup(call, m->nics[i]->host);
        m->nics[i]->adapter = rpc_call_strdup(call, m->nics[i]->adapter);
        m->nics[i]->profile = rpc_call_strdup(call, m->nics[i]->profile);
        m->nics[i]->vm = rpc_call_strdup(call, m->nics[i]->vm);
    }
    return m;
}

void
vms_reply(struct vmfex_op *op, const struct vm *vm)
{
    Fexsim__V1__VmReply *rep = (void *) rpc_call_reply(op->call);

    rep->vm = vms_to_msg(op->vx, vm, op->call);
}

int
vms_commit(struct vmfex_op *op, struct vm *vm, uint32_t drop_vif,
           struct fx_err *err)
{
    if (vmfex_save_vm(op->vx, vm, drop_vif, err)) {
        return err->code;
    }
    vms_reply(op, vm);
    return 0;
}

Fexsim__V1__AgentVm *
vms_agent_vm(const struct vmfex *vx, const struct vm *vm, uint32_t skip_vif,
             struct rpc_call *call)
{
    Fexsim__V1__AgentVm *a = rpc_call_alloc(call, sizeof *a);
    uint32_t n_dp = 0;

    fexsim__v1__agent_vm__init(a);
    a->name = (char *) vm->name;
    a->memory_mib = vm->memory_mib;
    a->nics = rpc_call_alloc(call, vm->n_nics * sizeof *a->nics);
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = vif_find(vx->vifs, vm->nics[i].vif);
        const struct profile *p = profile_find(vx->profiles,
                                               vm->nics[i].profile);
        Fexsim__V1__AgentNic *n;
        char mac[18];

        if (!v || v->id == skip_vif) {
            continue;
        }
        n = rpc_call_alloc(call, sizeof *n);
        fexsim__v1__agent_nic__init(n);
        vif_mac_format(v->mac, mac);
        n->mac = rpc_call_strdup(call, mac);
        n->profile = (char *) vm->nics[i].profile;
        n->directpath = vm->nics[i].directpath;
        n->vlan = p ? p->vlans[0] : 1;
        n_dp += n->directpath;
        a->nics[a->n_nics++] = n;
    }
    /* What the VM will have once the agent is done: with 'skip_vif'
     * gone, the reservation may drop back to 0. */
    a->reservation_mib = policy_reservation_mib(vm->memory_mib, n_dp);
    return a;
}

/* Adds a NIC on 'profile' to 'vm': takes a port and a VIF (offline, vNIC
 * unknown until the agent binds one).  Stores the VIF id in '*idp'. */
static int
vms_nic_attach(struct vmfex *vx, struct vm *vm, const char *profile,
               int directpath, uint32_t *idp, struct fx_err *err)
{
    struct host *h = hostreg_find(vx->hosts, vm->host);
    struct vif rec = { .directpath = directpath, .state = VIF_OFFLINE };
    struct vif *v;

    if (vm->n_nics == VM_MAX_NICS) {
        return fx_err_set(err, -EPERM, "VM '%s' has %d NICs, the most it "
                          "may have", vm->name, VM_MAX_NICS);
    }
    if (profile_port_take(vx->profiles, profile, err)) {
        return err->code;
    }
    snprintf(rec.host, sizeof rec.host, "%s", vm->host);
    snprintf(rec.adapter, sizeof rec.adapter, "%s",
             h ? h->info.adapter_model : "");
    snprintf(rec.profile, sizeof rec.profile, "%s", profile);
    snprintf(rec.vm, sizeof rec.vm, "%s", vm->name);
    if (vif_add(vx->vifs, &rec, &v, err)) {
        profile_port_put(vx->profiles, profile);
        return err->code;
    }
    vm->nics[vm->n_nics++] = (struct vm_nic) { v->id, "", directpath };
    snprintf(vm->nics[vm->n_nics - 1].profile, 40, "%s", profile);
    *idp = v->id;
    vmfex_port_sync(vx, v->id);
    return 0;
}

/* Takes NIC 'vif' off 'vm', frees its VIF and profile port. */
static void
vms_nic_detach(struct vmfex *vx, struct vm *vm, uint32_t vif)
{
    struct vm_nic *nic = vm_nic_find(vm, vif);

    if (!nic) {
        return;
    }
    profile_port_put(vx->profiles, nic->profile);
    vif_remove(vx->vifs, vif, NULL);
    vmfex_port_sync(vx, vif);
    *nic = vm->nics[--vm->n_nics];
}

/* Records the vNICs the agent bound, matching NICs by MAC, and checks
 * libvirt gave back what we defined. */
static int
vms_take_agent_vm(struct vmfex *vx, struct vm *vm,
                  const Fexsim__V1__AgentVm *a, struct fx_err *err)
{
    if (!a || a->n_nics != vm->n_nics) {
        return fx_err_set(err, -EIO, "libvirt reads back VM '%s' with %zu "
                          "NICs, not %zu", vm->name, a ? a->n_nics : 0,
                          vm->n_nics);
    }
    for (size_t i = 0; i < a->n_nics; i++) {
        uint8_t mac[6];
        struct vif *v = vif_mac_parse(a->nics[i]->mac, mac) ? NULL
                        : vif_find_mac(vx->vifs, mac);

        if (!v || strcmp(v->vm, vm->name)
            || strcmp(v->profile, a->nics[i]->profile)) {
            return fx_err_set(err, -EIO, "libvirt reads back NIC %s of VM "
                              "'%s' unlike we defined it", a->nics[i]->mac,
                              vm->name);
        }
        v->vnic = a->nics[i]->vnic;
        v->state = a->running ? VIF_ONLINE : VIF_OFFLINE;
        vmfex_port_sync(vx, v->id);
    }
    vm->running = a->running;
    vm->dirty_rate = a->dirty_rate;
    return 0;
}

/* ---- Create ---- */

static int vms_create_done(struct vmfex_op *, const ProtobufCMessage *,
                           struct fx_err *);

/* Sends HostVms.Define for 'vm' (marked busy); 'done' finishes.  A
 * create must not find the domain in libvirt already. */
static int
vms_define(struct vmfex_op *op, struct vm *vm, uint32_t skip_vif,
           struct fx_err *err)
{
    Fexsim__V1__AgentVmRequest *req = rpc_call_alloc(op->call, sizeof *req);

    fexsim__v1__agent_vm_request__init(req);
    req->vm = vms_agent_vm(op->vx, vm, skip_vif, op->call);
    req->create = op->done == vms_create_done;
    snprintf(op->vm, sizeof op->vm, "%s", vm->name);
    vm->busy = 1;
    return vmfex_forward(op, vm->host, "HostVms.Define", &req->base,
                         &fexsim__v1__agent_vm_reply__descriptor, err);
}

/* Undoes the NICs 'op' added to 'vm'. */
static void
vms_undo_nics(struct vmfex_op *op, struct vm *vm)
{
    for (size_t i = 0; i < op->n_vifs; i++) {
        vms_nic_detach(op->vx, vm, op->vifs[i]);
    }
    vms_update_reservation(vm);
}

static int
vms_create_done(struct vmfex_op *op, const ProtobufCMessage *rep,
                struct fx_err *err)
{
    struct vm *vm = vm_find(op->vx->vms, op->vm, NULL);

    vm->busy = 0;
    if (!rep || vms_take_agent_vm(op->vx, vm, ((const
                                   Fexsim__V1__AgentVmReply *) rep)->vm,
                                  err)) {
        vms_undo_nics(op, vm);
        vm_remove(op->vx->vms, op->vm);
        return err->code;
    }
    if (vmfex_save_vm(op->vx, vm, 0, err)) {
        return err->code;
    }
    LOG_INFO("VM '%s' defined on host '%s'", vm->name, vm->host);
    vms_reply(op, vm);
    return 0;
}

static int
vms_check_create(struct vmfex *vx, const Fexsim__V1__CreateVmRequest *req,
                 struct fx_err *err)
{
    struct host *h = hostreg_find(vx->hosts, req->host);

    if (!h) {
        return fx_err_set(err, -ENOENT, "host '%s' not found", req->host);
    }
    if (req->memory_mib < 1 || req->memory_mib > VMS_MAX_MEMORY_MIB) {
        return fx_err_set(err, -EINVAL, "memory %llu MiB out of range "
                          "1-%d", (unsigned long long) req->memory_mib,
                          VMS_MAX_MEMORY_MIB);
    }
    if (req->n_nics > VM_MAX_NICS) {
        return fx_err_set(err, -EINVAL, "a VM has at most %d NICs",
                          VM_MAX_NICS);
    }
    return 0;
}

/* Adds the NICs of 'specs' to powered-off 'vm', each checked by the
 * policy as it comes (the 7th DirectPath one is refused). */
static int
vms_add_nics(struct vmfex_op *op, struct vm *vm,
             Fexsim__V1__NicSpec *const *specs, size_t n, struct fx_err *err)
{
    for (size_t i = 0; i < n; i++) {
        struct policy_vm pv = vms_policy_vm(op->vx, vm);
        const struct profile *p = profile_find(op->vx->profiles,
                                               specs[i]->profile);

        if (!p) {
            return fx_err_set(err, -ENOENT, "profile '%s' not found",
                              specs[i]->profile);
        }
        if (policy_check_nic_add(&pv, specs[i]->directpath,
                                 p->high_performance, err)
            || vms_nic_attach(op->vx, vm, p->name, specs[i]->directpath,
                              &op->vifs[op->n_vifs], err)) {
            return err->code;
        }
        op->n_vifs++;
    }
    vms_update_reservation(vm);
    return 0;
}

static int
vms_create(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
           ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__CreateVmRequest *req = (const void *) req_;
    struct vmfex *vx = ctx;
    struct vm rec = { .memory_mib = req->memory_mib }, *vm;
    struct vmfex_op *op;

    (void) rep_;
    snprintf(rec.name, sizeof rec.name, "%s", req->name);
    snprintf(rec.host, sizeof rec.host, "%s", req->host);
    if (strlen(req->name) >= sizeof rec.name
        || vms_check_create(vx, req, err)
        || vm_add(vx->vms, &rec, &vm, err)) {
        return err->code ? err->code
                         : fx_err_set(err, -EINVAL, "VM name too long");
    }
    op = vmfex_op_new(vx, call, vms_create_done);
    snprintf(op->vm, sizeof op->vm, "%s", vm->name);
    if (vms_add_nics(op, vm, req->nics, req->n_nics, err)) {
        vms_undo_nics(op, vm);
        vm_remove(vx->vms, rec.name);
        free(op);
        return err->code;
    }
    if (vms_define(op, vm, 0, err) != RPC_DEFERRED) {
        vm = vm_find(vx->vms, rec.name, NULL);
        /* The op is gone; undo by hand what it recorded. */
        for (size_t i = vm->n_nics; i-- > 0;) {
            vms_nic_detach(vx, vm, vm->nics[i].vif);
        }
        vm_remove(vx->vms, rec.name);
        return err->code;
    }
    return RPC_DEFERRED;
}

/* ---- Start, stop, delete ---- */

static void
vms_set_vifs(struct vmfex *vx, struct vm *vm, enum vif_state st)
{
    for (size_t i = 0; i < vm->n_nics; i++) {
        struct vif *v = vif_find(vx->vifs, vm->nics[i].vif);

        if (v) {
            v->state = st;
            vmfex_port_sync(vx, v->id);
        }
    }
}

static int
vms_power_done(struct vmfex_op *op, const ProtobufCMessage *rep,
               struct fx_err *err)
{
    struct vm *vm = vm_find(op->vx->vms, op->vm, NULL);
    const Fexsim__V1__AgentVmReply *r = (const void *) rep;

    vm->busy = 0;
    if (!rep) {
        return err->code;
    }
    vm->running = r->vm && r->vm->running;
    vm->dirty_rate = r->vm ? r->vm->dirty_rate : 0;
    vms_set_vifs(op->vx, vm, vm->running ? VIF_ONLINE : VIF_OFFLINE);
    if (vmfex_save_vm(op->vx, vm, 0, err)) {
        return err->code;
    }
    LOG_INFO("VM '%s' %s", vm->name, vm->running ? "running" : "stopped");
    vms_reply(op, vm);
    return 0;
}

static int
vms_start(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
          ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__VmNameRequest *req = (const void *) req_;
    struct vm *vm = vms_get_idle(ctx, req->name, err);
    Fexsim__V1__AgentVmRequest *areq;
    struct vmfex_op *op;

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    if (vm->running) {
        return fx_err_set(err, -EALREADY, "VM '%s' is already running",
                          vm->name);
    }
    areq = rpc_call_alloc(call, sizeof *areq);
    fexsim__v1__agent_vm_request__init(areq);
    areq->vm = vms_agent_vm(ctx, vm, 0, call);
    op = vmfex_op_new(ctx, call, vms_power_done);
    snprintf(op->vm, sizeof op->vm, "%s", vm->name);
    vm->busy = 1;
    if (vmfex_forward(op, vm->host, "HostVms.Start", &areq->base,
                      &fexsim__v1__agent_vm_reply__descriptor, err)
        != RPC_DEFERRED) {
        vm->busy = 0;
        return err->code;
    }
    return RPC_DEFERRED;
}

int
vms_forward(struct vmfex *vx, struct rpc_call *call, struct vm *vm,
            const char *method, const ProtobufCMessage *req,
            const ProtobufCMessageDescriptor *rep_desc, vmfex_done_fn done,
            struct fx_err *err)
{
    struct vmfex_op *op = vmfex_op_new(vx, call, done);

    snprintf(op->vm, sizeof op->vm, "%s", vm->name);
    vm->busy = 1;
    if (vmfex_forward(op, vm->host, method, req, rep_desc, err)
        != RPC_DEFERRED) {
        vm->busy = 0;
        return err->code;
    }
    return RPC_DEFERRED;
}

int
vms_forward_name(struct vmfex *vx, struct rpc_call *call, struct vm *vm,
                 const char *method, vmfex_done_fn done, struct fx_err *err)
{
    Fexsim__V1__AgentVmNameRequest areq =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;

    areq.name = vm->name;
    return vms_forward(vx, call, vm, method, &areq.base,
                       &fexsim__v1__agent_vm_reply__descriptor, done, err);
}

static int
vms_stop(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
         ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__VmNameRequest *req = (const void *) req_;
    struct vm *vm = vms_get_idle(ctx, req->name, err);

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    if (!vm->running) {
        return fx_err_set(err, -EALREADY, "VM '%s' is not running",
                          vm->name);
    }
    return vms_forward_name(ctx, call, vm, "HostVms.Stop", vms_power_done,
                            err);
}

static int
vms_delete_done(struct vmfex_op *op, const ProtobufCMessage *rep,
                struct fx_err *err)
{
    struct vm *vm = vm_find(op->vx->vms, op->vm, NULL);

    vm->busy = 0;
    if (!rep) {
        return err->code;
    }
    if (vmfex_forget_vm(op->vx, vm, err)) {
        return err->code;
    }
    vms_reply(op, vm);
    for (size_t i = vm->n_nics; i-- > 0;) {
        vms_nic_detach(op->vx, vm, vm->nics[i].vif);
    }
    LOG_INFO("VM '%s' deleted", op->vm);
    vm_remove(op->vx->vms, op->vm);
    return 0;
}

static int
vms_delete(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
           ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__VmNameRequest *req = (const void *) req_;
    struct vm *vm = vms_get_idle(ctx, req->name, err);

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    if (vm->running) {
        return fx_err_set(err, -EBUSY, "VM '%s' is running: stop it first",
                          vm->name);
    }
    return vms_forward_name(ctx, call, vm, "HostVms.Undefine",
                            vms_delete_done, err);
}

static int
vms_list(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
         ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__ListVmsReply *rep = (void *) rep_;
    struct vmfex *vx = ctx;
    size_t n = vm_count(vx->vms);

    (void) req_;
    (void) err;
    rep->n_vms = n;
    rep->vms = rpc_call_alloc(call, n * sizeof *rep->vms);
    for (size_t i = 0; i < n; i++) {
        rep->vms[i] = vms_to_msg(vx, vm_at(vx->vms, i), call);
    }
    return 0;
}

/* ---- NICs ---- */

static int
vms_nic_add_done(struct vmfex_op *op, const ProtobufCMessage *rep,
                 struct fx_err *err)
{
    struct vm *vm = vm_find(op->vx->vms, op->vm, NULL);

    vm->busy = 0;
    if (!rep || vms_take_agent_vm(op->vx, vm, ((const
                                   Fexsim__V1__AgentVmReply *) rep)->vm,
                                  err)) {
        vms_undo_nics(op, vm);
        return err->code;
    }
    return vms_commit(op, vm, 0, err);
}

static int
vms_add_nic(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
            ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AddNicRequest *req = (const void *) req_;
    struct vm *vm = vms_get_idle(ctx, req->vm, err);
    struct vmfex_op *op;

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    if (!req->nic) {
        return fx_err_set(err, -EINVAL, "AddNic needs a NIC");
    }
    op = vmfex_op_new(ctx, call, vms_nic_add_done);
    if (vms_add_nics(op, vm, &req->nic, 1, err)) {
        vms_undo_nics(op, vm);
        free(op);
        return err->code;
    }
    if (vms_define(op, vm, 0, err) != RPC_DEFERRED) {
        vm->busy = 0;
        vms_nic_detach(ctx, vm, vm->nics[vm->n_nics - 1].vif);
        vms_update_reservation(vm);
        return err->code;
    }
    return RPC_DEFERRED;
}

static int
vms_nic_remove_done(struct vmfex_op *op, const ProtobufCMessage *rep,
                    struct fx_err *err)
{
    struct vm *vm = vm_find(op->vx->vms, op->vm, NULL);

    vm->busy = 0;
    if (!rep) {
        return err->code;
    }
    vms_nic_detach(op->vx, vm, op->drop_vif);
    vms_update_reservation(vm);
    return vms_commit(op, vm, op->drop_vif, err);
}

static int
vms_remove_nic(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
               ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__RemoveNicRequest *req = (const void *) req_;
    struct vm *vm = vms_get_idle(ctx, req->vm, err);
    struct policy_vm pv;
    struct vm_nic *nic;
    struct vmfex_op *op;

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    nic = vm_nic_find(vm, req->vif);
    if (!nic) {
        return fx_err_set(err, -ENOENT, "VM '%s' has no NIC with VIF %u",
                          vm->name, req->vif);
    }
    pv = vms_policy_vm(ctx, vm);
    if (policy_check_nic_remove(&pv, nic->directpath, err)) {
        return err->code;
    }
    op = vmfex_op_new(ctx, call, vms_nic_remove_done);
    op->drop_vif = req->vif;
    if (vms_define(op, vm, req->vif, err) != RPC_DEFERRED) {
        vm->busy = 0;
        return err->code;
    }
    return RPC_DEFERRED;
}

const rpc_handler_fn vms_handlers[] = {
    vms_create,
    vms_start,
    vms_stop,
    vms_delete,
    vms_list,
    vms_add_nic,
    vms_remove_nic,
    vms_snapshot,
    vms_set_feature,
    vms_check_operation,
    vms_set,
};
const unsigned vms_n_handlers = sizeof vms_handlers / sizeof *vms_handlers;
