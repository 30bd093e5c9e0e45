/* vms: see vms.h.
 *
 * Every operation has the same shape: checks (the DirectPath rules among
 * them), the model changed in memory with the VM busy, one call to the
 * host's agent, and on its answer the change is saved.  When the agent
 * refuses, the memory change is undone.  When the store refuses, what the
 * agent did is undone too, by the opposite call, and only then does the
 * caller hear of the failure: a failed call leaves nothing behind. */
#include "vms.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "fx_err.h"
#include "fx_mac.h"
#include "fx_time.h"
#include "log.h"
#include "migflow.pb-c.h"
#include "model/model.h"
#include "rpc.h"
#include "vmfex.h"
#include "vmfex.pb-c.h"

LOG_MODULE("vms");

struct vms {
    struct model *model;             /* Borrowed, all three. */
    struct agents *agents;
    const struct migcoord *mc;       /* For the VIFs' modes. */
};

struct vms_op;
/* What an operation does with its agent's answer: 'rep' and 'err' NULL on
 * success, else 'rep' NULL.  Returns 0 or -errno (with 'out') to answer
 * the caller now, or RPC_DEFERRED when an undo call went out. */
typedef int vms_done_fn(struct vms_op *op, const ProtobufCMessage *rep,
                        const struct fx_err *err, struct fx_err *out);

/* One operation on a VM, waiting for its agent. */
struct vms_op {
    struct vms *s;
    struct rpc_call *call;           /* The caller's, deferred. */
    char vm[40];
    char host[40];                   /* Where the agent's call went. */
    uint32_t vifs[VM_MAX_NICS];      /* NICs it added, or VIFs it renewed */
    size_t n_vifs;                   /* (Start): undone on failure. */
    bool renewed;
    uint32_t drop_vif;               /* RemoveNic: the VIF going away. */
    bool was_running;                /* Start, Stop: before the call. */
    vms_done_fn *done;
    struct fx_err failure;           /* Kept while an undo call is out. */
};

struct vms *
vms_create(struct model *model, struct agents *agents,
           const struct migcoord *mc)
{
    struct vms *s = calloc(1, sizeof *s);

    if (!s) {
        abort();
    }
    *s = (struct vms) { model, agents, mc };
    return s;
}

void
vms_destroy(struct vms *s)
{
    free(s);
}

/* ---- Replies ---- */

static Fexsim__V1__Vm *
vms_to_msg(const struct vms *s, const struct vm *vm, struct rpc_call *call)
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
    m->dirty_rate_pages_per_s = vm->running ? vm->dirty_rate : 0;
    m->nics = rpc_call_alloc(call, vm->n_nics * sizeof *m->nics);
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = model_vm_vif(s->model, vm, i);

        if (v) {
            m->nics[m->n_nics] = rpc_call_alloc(call, sizeof *m->nics[0]);
            vmfex_vif_msg(s->model, v, s->mc, call,
                          m->nics[m->n_nics++]);
        }
    }
    return m;
}

/* Answers 'op''s caller with its VM as a VmReply. */
static void
vms_reply(struct vms_op *op)
{
    Fexsim__V1__VmReply *rep = (void *) rpc_call_reply(op->call);
    const struct vm *vm = model_vm(op->s->model, op->vm, NULL);

    if (vm) {
        rep->vm = vms_to_msg(op->s, vm, op->call);
    }
}

/* ---- Calls to the agent ---- */

static struct vms_op *
vms_op_new(struct vms *s, struct rpc_call *call, const struct vm *vm,
           vms_done_fn *done)
{
    struct vms_op *op = calloc(1, sizeof *op);

    if (!op) {
        abort();
    }
    op->s = s;
    op->call = call;
    op->done = done;
    snprintf(op->vm, sizeof op->vm, "%s", vm->name);
    snprintf(op->host, sizeof op->host, "%s", vm->host);
    return op;
}

static void
vms_op_end(struct vms_op *op, int rc, const struct fx_err *err)
{
    model_vm_set_busy(op->s->model, op->vm, false);
    rpc_call_finish(op->call, rc, err);
    free(op);
}

static void
vms_agent_reply(void *arg, int rc, const struct fx_err *err,
                const ProtobufCMessage *rep)
{
    struct vms_op *op = arg;
    struct fx_err out;

    fx_err_clear(&out);
    rc = op->done(op, rc ? NULL : rep, rc ? err : NULL, &out);
    if (rc != RPC_DEFERRED) {
        vms_op_end(op, rc, &out);
    }
}

/* Sends 'method' with 'req' to the VM's agent for 'op'; 'op->done' gets
 * the answer.  Returns 0, or -errno with 'err' (nothing sent). */
static int
vms_call(struct vms_op *op, const char *method, const ProtobufCMessage *req,
         const ProtobufCMessageDescriptor *rep_desc, struct fx_err *err)
{
    return agents_call(op->s->agents, op->host, method, req, rep_desc,
                       AGENTS_TIMEOUT_MS, vms_agent_reply, op, err);
}

/* The first call of 'op' went out ('rc' 0: ownership passes, the VM is
 * busy until 'done' has answered) or not ('op' freed).  Returns what the
 * handler returns: RPC_DEFERRED, or 'rc'. */
static int
vms_launch(struct vms_op *op, int rc)
{
    if (rc) {
        free(op);
        return rc;
    }
    model_vm_set_busy(op->s->model, op->vm, true);
    return RPC_DEFERRED;
}

static int
vms_send(struct vms_op *op, const char *method, const ProtobufCMessage *req,
         const ProtobufCMessageDescriptor *rep_desc, struct fx_err *err)
{
    return vms_launch(op, vms_call(op, method, req, rep_desc, err));
}

static int
vms_send_name(struct vms_op *op, const char *method, struct fx_err *err)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;

    req.name = op->vm;
    return vms_send(op, method, &req.base,
                    &fexsim__v1__agent_vm_reply__descriptor, err);
}

/* The undo call answered: the caller hears of the failure that made it. */
static void
vms_undone(void *arg, int rc, const struct fx_err *err,
           const ProtobufCMessage *rep)
{
    struct vms_op *op = arg;

    (void) rep;
    if (rc) {
        LOG_ERR("VM '%s': the agent of host '%s' kept a change the fabric "
                "could not save (%s): %s", op->vm, op->host,
                op->failure.msg, err->msg);
    }
    vms_op_end(op, op->failure.code, &op->failure);
}

/* The store refused what the agent did ('failure'): undoes it with
 * 'method' and 'req'.  Returns RPC_DEFERRED, or the failure if the undo
 * cannot even be sent (logged: the agent keeps the change until the
 * next reconciliation). */
static int
vms_undo(struct vms_op *op, const struct fx_err *failure, const char *method,
         const ProtobufCMessage *req, struct fx_err *out)
{
    struct fx_err err;

    op->failure = *failure;
    if (!agents_call(op->s->agents, op->host, method, req,
                     &fexsim__v1__agent_vm_reply__descriptor,
                     AGENTS_TIMEOUT_MS, vms_undone, op, &err)) {
        return RPC_DEFERRED;
    }
    LOG_ERR("VM '%s': %s not undone on host '%s': %s", op->vm, method,
            op->host, err.msg);
    *out = *failure;
    return failure->code;
}

/* Undoes by defining the VM on its agent as the model has it now. */
static int
vms_undo_define(struct vms_op *op, const struct fx_err *failure,
                uint32_t skip_vif, struct fx_err *out)
{
    const struct vm *vm = model_vm(op->s->model, op->vm, NULL);
    Fexsim__V1__AgentVmRequest req = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    struct agents_vm a;

    agents_vm_init(&a, op->s->model, vm, skip_vif, false);
    req.vm = &a.vm;
    return vms_undo(op, failure, "HostVms.Define", &req.base, out);
}

static int
vms_undo_name(struct vms_op *op, const struct fx_err *failure,
              const char *method, struct fx_err *out)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;

    req.name = op->vm;
    return vms_undo(op, failure, method, &req.base, out);
}

/* Records the vNICs the agent bound, matching NICs by MAC, and checks
 * libvirt gave back what we defined. */
static int
vms_take_agent_vm(struct vms *s, const char *name,
                  const Fexsim__V1__AgentVm *a, struct fx_err *err)
{
    const struct vm *vm = model_vm(s->model, name, err);
    uint64_t now = fx_time_now_ms();

    if (!a || a->n_nics != vm->n_nics) {
        return fx_err_set(err, -EIO, "libvirt reads back VM '%s' with %zu "
                          "NICs, not %zu", name, a ? a->n_nics : 0,
                          vm->n_nics);
    }
    for (size_t i = 0; i < a->n_nics; i++) {
        uint8_t mac[6];
        const struct vif *v = fx_mac_parse(a->nics[i]->mac, mac) ? NULL
                              : model_vif_by_mac(s->model, mac);

        if (!v || strcmp(v->vm, name)
            || strcmp(v->profile, a->nics[i]->profile)) {
            return fx_err_set(err, -EIO, "libvirt reads back NIC %s of VM "
                              "'%s' unlike we defined it", a->nics[i]->mac,
                              name);
        }
        model_vif_bind(s->model, v->id, a->nics[i]->vnic, a->running, now);
    }
    model_vm_set_running(s->model, name, a->running, a->dirty_rate, now);
    return 0;
}

/* ---- Create ---- */

/* Takes the NICs 'op' added off its VM again. */
static void
vms_undo_nics(struct vms_op *op)
{
    for (size_t i = op->n_vifs; i-- > 0;) {
        model_vm_nic_remove(op->s->model, op->vm, op->vifs[i]);
    }
    op->n_vifs = 0;
}

/* Adds the NICs 'specs' to the VM of 'op', each checked by the rules as
 * it comes (the 7th DirectPath one is refused). */
static int
vms_add_nics(struct vms_op *op, Fexsim__V1__NicSpec *const *specs, size_t n,
             struct fx_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (model_vm_nic_add(op->s->model, op->vm, specs[i]->profile,
                             specs[i]->directpath, &op->vifs[op->n_vifs],
                             err)) {
            return err->code;
        }
        op->n_vifs++;
    }
    return 0;
}

/* Sends HostVms.Define of the VM as the model has it, without NIC
 * 'skip_vif'; 'create': libvirt must not have it yet. */
static int
vms_define(struct vms_op *op, uint32_t skip_vif, bool create,
           struct fx_err *err)
{
    const struct vm *vm = model_vm(op->s->model, op->vm, NULL);
    Fexsim__V1__AgentVmRequest req = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    struct agents_vm a;

    agents_vm_init(&a, op->s->model, vm, skip_vif, false);
    req.vm = &a.vm;
    req.create = create;
    return vms_send(op, "HostVms.Define", &req.base,
                    &fexsim__v1__agent_vm_reply__descriptor, err);
}

static int
vms_create_done(struct vms_op *op, const ProtobufCMessage *rep_,
                const struct fx_err *err, struct fx_err *out)
{
    const Fexsim__V1__AgentVmReply *rep = (const void *) rep_;
    struct model *m = op->s->model;
    struct fx_err failure;

    if (err || vms_take_agent_vm(op->s, op->vm, rep->vm, out)) {
        if (err) {
            *out = *err;
        }
        model_vm_remove(m, op->vm);
        return out->code;
    }
    if (model_save_vm(m, op->vm, 0, &failure)) {
        model_vm_remove(m, op->vm);
        return vms_undo_name(op, &failure, "HostVms.Undefine", out);
    }
    LOG_INFO("VM '%s' defined on host '%s'", op->vm, op->host);
    vms_reply(op);
    return 0;
}

static int
vms_create_rpc(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
               ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__CreateVmRequest *req = (const void *) req_;
    struct vms *s = ctx;
    struct vms_op *op;
    int rc;

    (void) rep_;
    if (req->n_nics > VM_MAX_NICS) {
        return fx_err_set(err, -EINVAL, "a VM has at most %d NICs",
                          VM_MAX_NICS);
    }
    if (model_vm_add(s->model, req->name, req->host, req->memory_mib, err)) {
        return err->code;
    }
    op = vms_op_new(s, call, model_vm(s->model, req->name, NULL),
                    vms_create_done);
    rc = vms_add_nics(op, req->nics, req->n_nics, err);
    if (!rc) {
        rc = vms_define(op, 0, true, err);
    } else {
        free(op);
    }
    if (rc != RPC_DEFERRED) {
        model_vm_remove(s->model, req->name);
    }
    return rc;
}

/* ---- Start, stop, delete ---- */

/* A Start that renewed VIFs failed: they go again, and the domain is
 * defined without them.  Returns what to answer ('failure' in the end). */
static int
vms_unrenew(struct vms_op *op, const struct fx_err *failure,
            struct fx_err *out)
{
    if (!op->renewed) {
        return failure->code;
    }
    model_vm_nic_release(op->s->model, op->vm, op->vifs, op->n_vifs);
    op->renewed = false;
    return vms_undo_define(op, failure, 0, out);
}

static int
vms_power_done(struct vms_op *op, const ProtobufCMessage *rep_,
               const struct fx_err *err, struct fx_err *out)
{
    const Fexsim__V1__AgentVmReply *rep = (const void *) rep_;
    struct model *m = op->s->model;
    const struct vm *vm = model_vm(m, op->vm, NULL);
    uint64_t was_rate = vm->dirty_rate, now = fx_time_now_ms();
    bool running = rep && rep->vm && rep->vm->running;
    struct fx_err failure;

    if (err) {
        *out = *err;
        return vms_unrenew(op, err, out);
    }
    model_vm_set_running(m, op->vm, running,
                         rep->vm ? rep->vm->dirty_rate : 0, now);
    if (model_save_vm(m, op->vm, 0, &failure)) {
        model_vm_set_running(m, op->vm, op->was_running, was_rate, now);
        if (op->was_running) {
            struct agents_vm a;
            Fexsim__V1__AgentVmRequest req =
                FEXSIM__V1__AGENT_VM_REQUEST__INIT;

            agents_vm_init(&a, m, vm, 0, true);
            req.vm = &a.vm;
            return vms_undo(op, &failure, "HostVms.Start", &req.base, out);
        }
        return vms_undo_name(op, &failure, "HostVms.Stop", out);
    }
    LOG_INFO("VM '%s' %s", op->vm, running ? "running" : "stopped");
    vms_reply(op);
    return 0;
}

/* Sends HostVms.Start of the VM of 'op': 0 or -errno (nothing sent). */
static int
vms_call_start(struct vms_op *op, struct fx_err *err)
{
    const struct vm *vm = model_vm(op->s->model, op->vm, NULL);
    Fexsim__V1__AgentVmRequest areq = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    struct agents_vm a;

    agents_vm_init(&a, op->s->model, vm, 0, false);
    areq.vm = &a.vm;
    op->done = vms_power_done;
    return vms_call(op, "HostVms.Start", &areq.base,
                    &fexsim__v1__agent_vm_reply__descriptor, err);
}

/* The domain has the renewed VIFs' NICs: now it starts. */
static int
vms_renewed_done(struct vms_op *op, const ProtobufCMessage *rep_,
                 const struct fx_err *err, struct fx_err *out)
{
    const Fexsim__V1__AgentVmReply *rep = (const void *) rep_;

    if (err) {
        *out = *err;
        model_vm_nic_release(op->s->model, op->vm, op->vifs, op->n_vifs);
        return err->code;
    }
    if (vms_take_agent_vm(op->s, op->vm, rep->vm, out)
        || vms_call_start(op, out)) {
        struct fx_err failure = *out;

        return vms_unrenew(op, &failure, out);
    }
    return RPC_DEFERRED;
}

static int
vms_start_rpc(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
              ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__VmNameRequest *req = (const void *) req_;
    struct vms *s = ctx;
    const struct vm *vm = model_vm_idle(s->model, req->name, err);
    uint32_t vifs[VM_MAX_NICS];
    size_t n;
    struct vms_op *op;
    int rc;

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    if (vm->running) {
        return fx_err_refuse(err, -EALREADY, "vmRunning",
                             "VM '%s' is already running",
                          vm->name);
    }
    op = vms_op_new(s, call, vm, vms_renewed_done);
    if (!model_vm_nics_without_vif(vm)) {
        return vms_launch(op, vms_call_start(op, err));
    }
    /* The VM lifecycle policy removed VIFs while it was off: new ones
     * (new dynamic vNICs on the agent) before it starts. */
    if (model_vm_nic_renew(s->model, op->vm, op->vifs, &op->n_vifs, err)) {
        free(op);
        return err->code;
    }
    op->renewed = true;
    n = op->n_vifs;
    memcpy(vifs, op->vifs, sizeof vifs);
    LOG_INFO("VM '%s': %zu NICs get new VIFs", op->vm, n);
    rc = vms_define(op, 0, false, err);
    if (rc != RPC_DEFERRED) {
        model_vm_nic_release(s->model, req->name, vifs, n);
    }
    return rc;
}

static int
vms_stop_rpc(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__VmNameRequest *req = (const void *) req_;
    struct vms *s = ctx;
    const struct vm *vm = model_vm_idle(s->model, req->name, err);
    struct vms_op *op;

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    if (!vm->running) {
        return fx_err_refuse(err, -EALREADY, "vmNotRunning",
                             "VM '%s' is not running",
                          vm->name);
    }
    op = vms_op_new(s, call, vm, vms_power_done);
    op->was_running = true;
    return vms_send_name(op, "HostVms.Stop", err);
}

static int
vms_delete_done(struct vms_op *op, const ProtobufCMessage *rep,
                const struct fx_err *err, struct fx_err *out)
{
    struct model *m = op->s->model;
    struct fx_err failure;

    (void) rep;
    if (err) {
        *out = *err;
        return err->code;
    }
    if (model_forget_vm(m, op->vm, &failure)) {
        /* Defined again as it was: the agent takes vNICs anew, the
         * fabric's record (and its VIFs) never went. */
        return vms_undo_define(op, &failure, 0, out);
    }
    vms_reply(op);
    model_vm_remove(m, op->vm);
    LOG_INFO("VM '%s' deleted", op->vm);
    return 0;
}

static int
vms_delete_rpc(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
               ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__VmNameRequest *req = (const void *) req_;
    struct vms *s = ctx;
    const struct vm *vm = model_vm_idle(s->model, req->name, err);

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    if (vm->running) {
        return fx_err_refuse(err, -EBUSY, "vmRunning",
                             "VM '%s' is running: stop it first",
                          vm->name);
    }
    return vms_send_name(vms_op_new(s, call, vm, vms_delete_done),
                         "HostVms.Undefine", err);
}

static int
vms_list_rpc(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__ListVmsReply *rep = (void *) rep_;
    struct vms *s = ctx;
    size_t n = model_vm_count(s->model);

    (void) req_;
    (void) err;
    rep->n_vms = n;
    rep->vms = rpc_call_alloc(call, n * sizeof *rep->vms);
    for (size_t i = 0; i < n; i++) {
        rep->vms[i] = vms_to_msg(s, model_vm_at(s->model, i), call);
    }
    return 0;
}

static int
vms_get_rpc(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
            ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__VmNameRequest *req = (const void *) req_;
    Fexsim__V1__VmReply *rep = (void *) rep_;
    struct vms *s = ctx;
    const struct vm *vm = model_vm(s->model, req->name, err);

    if (!vm) {
        return err->code;
    }
    rep->vm = vms_to_msg(s, vm, call);
    return 0;
}

/* ---- NICs ---- */

static int
vms_nic_add_done(struct vms_op *op, const ProtobufCMessage *rep_,
                 const struct fx_err *err, struct fx_err *out)
{
    const Fexsim__V1__AgentVmReply *rep = (const void *) rep_;
    struct fx_err failure;

    if (err || vms_take_agent_vm(op->s, op->vm, rep->vm, out)) {
        if (err) {
            *out = *err;
        }
        vms_undo_nics(op);
        return out->code;
    }
    if (model_save_vm(op->s->model, op->vm, 0, &failure)) {
        vms_undo_nics(op);
        return vms_undo_define(op, &failure, 0, out);
    }
    vms_reply(op);
    return 0;
}

static int
vms_add_nic_rpc(void *ctx, struct rpc_call *call,
                const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                struct fx_err *err)
{
    const Fexsim__V1__AddNicRequest *req = (const void *) req_;
    struct vms *s = ctx;
    const struct vm *vm = model_vm_idle(s->model, req->vm, err);
    struct vms_op *op;
    int rc;

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    if (!req->nic) {
        return fx_err_set(err, -EINVAL, "AddNic needs a NIC");
    }
    op = vms_op_new(s, call, vm, vms_nic_add_done);
    if (vms_add_nics(op, &req->nic, 1, err)) {
        vms_undo_nics(op);
        free(op);
        return err->code;
    }
    rc = vms_define(op, 0, false, err);
    if (rc != RPC_DEFERRED) {
        /* The op is gone: its NIC is the VM's last. */
        const struct vm *v = model_vm(s->model, req->vm, NULL);

        model_vm_nic_remove(s->model, req->vm, v->nics[v->n_nics - 1].vif);
    }
    return rc;
}

static int
vms_nic_remove_done(struct vms_op *op, const ProtobufCMessage *rep,
                    const struct fx_err *err, struct fx_err *out)
{
    struct model *m = op->s->model;
    const struct vm *vm = model_vm(m, op->vm, NULL);
    struct vm_nic nic;
    struct fx_err failure;

    (void) rep;
    if (err) {
        *out = *err;
        return err->code;
    }
    for (size_t i = 0; i < vm->n_nics; i++) {
        nic = vm->nics[i].vif == op->drop_vif ? vm->nics[i] : nic;
    }
    model_vm_nic_remove(m, op->vm, op->drop_vif);
    if (model_save_vm(m, op->vm, op->drop_vif, &failure)) {
        /* Back on the VM (a new VIF: the old id and MAC went to the
         * pools), and on the domain. */
        uint32_t id;

        if (model_vm_nic_add(m, op->vm, nic.profile, nic.directpath, &id,
                             out)) {
            LOG_ERR("VM '%s': NIC not put back: %s", op->vm, out->msg);
        }
        return vms_undo_define(op, &failure, 0, out);
    }
    vms_reply(op);
    return 0;
}

static int
vms_remove_nic_rpc(void *ctx, struct rpc_call *call,
                   const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                   struct fx_err *err)
{
    const Fexsim__V1__RemoveNicRequest *req = (const void *) req_;
    struct vms *s = ctx;
    const struct vm *vm = model_vm_idle(s->model, req->vm, err);
    struct vms_op *op;

    (void) rep_;
    if (!vm || model_vm_check_nic_remove(s->model, vm, req->vif, err)) {
        return err->code;
    }
    op = vms_op_new(s, call, vm, vms_nic_remove_done);
    op->drop_vif = req->vif;
    return vms_define(op, req->vif, false, err);
}

/* ---- Snapshots, features, the rules, the guest's dirty rate ---- */

static int
vms_snapshot_done(struct vms_op *op, const ProtobufCMessage *rep_,
                  const struct fx_err *err, struct fx_err *out)
{
    const Fexsim__V1__AgentVmReply *rep = (const void *) rep_;
    struct model *m = op->s->model;
    uint32_t was = model_vm(m, op->vm, NULL)->snapshots;

    if (err) {
        *out = *err;
        return err->code;
    }
    model_vm_set_snapshots(m, op->vm, rep->vm ? rep->vm->snapshots : was);
    if (model_save_vm(m, op->vm, 0, out)) {
        /* libvirt keeps the snapshot it took: the agent has no call to
         * delete one, and the fabric counts what it saved. */
        model_vm_set_snapshots(m, op->vm, was);
        return out->code;
    }
    vms_reply(op);
    return 0;
}

static int
vms_snapshot_rpc(void *ctx, struct rpc_call *call,
                 const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                 struct fx_err *err)
{
    const Fexsim__V1__VmNameRequest *req = (const void *) req_;
    struct vms *s = ctx;
    const struct vm *vm = model_vm_idle(s->model, req->name, err);

    (void) rep_;
    if (!vm || model_vm_check(s->model, vm, POLICY_OP_SNAPSHOT, err)) {
        return err->code;
    }
    return vms_send_name(vms_op_new(s, call, vm, vms_snapshot_done),
                         "HostVms.Snapshot", err);
}

/* The API's Operation is the policy's, one up (0 is unspecified). */
_Static_assert(FEXSIM__V1__OPERATION__OPERATION_MIGRATE
               == POLICY_OP_MIGRATE + 1
               && FEXSIM__V1__OPERATION__OPERATION_SNAPSHOT
                  == POLICY_OP_SNAPSHOT + 1
               && POLICY_OP_SNAPSHOT + 1 == POLICY_OP_COUNT,
               "enum Operation (vmfex.proto) follows enum policy_op");

static int
vms_op(Fexsim__V1__Operation pb, enum policy_op *opp, struct fx_err *err)
{
    if ((int) pb <= 0 || (int) pb > POLICY_OP_COUNT) {
        return fx_err_set(err, -EINVAL, "operation %d is not known: use "
                          "OPERATION_MIGRATE to OPERATION_SNAPSHOT (1-%d)",
                          (int) pb, POLICY_OP_COUNT);
    }
    *opp = (enum policy_op) (pb - 1);
    return 0;
}

static int
vms_set_feature_rpc(void *ctx, struct rpc_call *call,
                    const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                    struct fx_err *err)
{
    const Fexsim__V1__SetFeatureRequest *req = (const void *) req_;
    Fexsim__V1__VmReply *rep = (void *) rep_;
    struct vms *s = ctx;
    const struct vm *vm = model_vm_idle(s->model, req->vm, err);
    enum policy_op op = POLICY_OP_MIGRATE;

    if (!vm || vms_op(req->op, &op, err)
        || model_vm_set_feature(s->model, req->vm, op, req->enable, err)) {
        return err->code;
    }
    rep->vm = vms_to_msg(s, vm, call);
    return 0;
}

static int
vms_check_operation_rpc(void *ctx, struct rpc_call *call,
                        const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                        struct fx_err *err)
{
    const Fexsim__V1__CheckOperationRequest *req = (const void *) req_;
    Fexsim__V1__CheckOperationReply *rep = (void *) rep_;
    struct vms *s = ctx;
    const struct vm *vm = model_vm(s->model, req->vm, err);
    struct fx_err why;
    enum policy_op op = POLICY_OP_MIGRATE;

    if (!vm || vms_op(req->op, &op, err)) {
        return err->code;
    }
    fx_err_clear(&why);
    rep->allowed = model_vm_check(s->model, vm, op, &why) == 0;
    rep->message = rpc_call_strdup(call, why.msg);
    rep->reason = rpc_call_strdup(call, why.reason);
    return 0;
}

static int
vms_set_done(struct vms_op *op, const ProtobufCMessage *rep,
             const struct fx_err *err, struct fx_err *out)
{
    if (err) {
        *out = *err;
        return err->code;
    }
    /* Not saved: the agent holds the guest's rate (vm.h). */
    model_vm_set_dirty_rate(op->s->model, op->vm,
                            ((const Fexsim__V1__AgentDirtyRate *) rep)
                            ->dirty_rate);
    vms_reply(op);
    return 0;
}

static int
vms_set_rpc(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
            ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__SetVmRequest *req = (const void *) req_;
    Fexsim__V1__AgentDirtyRate areq = FEXSIM__V1__AGENT_DIRTY_RATE__INIT;
    struct vms *s = ctx;
    const struct vm *vm;

    (void) rep_;
    if (vm_check_dirty_rate(req->dirty_rate_pages_per_s, err)
        || !(vm = model_vm_idle(s->model, req->name, err))) {
        return err->code;
    }
    if (!vm->running) {
        return fx_err_refuse(err, -EPERM, "vmNotRunning",
                             "VM '%s' is not running: a dirty "
                          "rate is the running guest's", vm->name);
    }
    areq.vm = (char *) vm->name;
    areq.dirty_rate = req->dirty_rate_pages_per_s;
    return vms_send(vms_op_new(s, call, vm, vms_set_done),
                    "MigAgent.SetDirtyRate", &areq.base,
                    &fexsim__v1__agent_dirty_rate__descriptor, err);
}

/* In the order of service Vms in proto/vmfex.proto. */
static const rpc_handler_fn vms_handlers[] = {
    vms_create_rpc,
    vms_start_rpc,
    vms_stop_rpc,
    vms_delete_rpc,
    vms_list_rpc,
    vms_add_nic_rpc,
    vms_remove_nic_rpc,
    vms_snapshot_rpc,
    vms_set_feature_rpc,
    vms_check_operation_rpc,
    vms_set_rpc,
    vms_get_rpc,
};

int
vms_register(struct vms *s, struct rpc_registry *reg, struct fx_err *err)
{
    return rpc_registry_add(reg, &fexsim__v1__vms__descriptor, vms_handlers,
                            sizeof vms_handlers / sizeof *vms_handlers, s,
                            AUTH_ROLE_MASK(AUTH_ROLE_OPERATOR), err);
}
