/* vms_feat: the Vms calls about a VM's features rather than its life:
 * snapshots, record/replay, FT and HA (each under the DirectPath rules),
 * the rules' check itself, and the running guest's dirty rate. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fx_err.h"
#include "migflow.pb-c.h"
#include "policy.h"
#include "vmfex_priv.h"
#include "vmfex_store.h"

static int
vms_snapshot_done(struct vmfex_op *op, const ProtobufCMessage *rep,
                  struct fx_err *err)
{
    struct vm *vm = vm_find(op->vx->vms, op->vm, NULL);
    const Fexsim__V1__AgentVmReply *r = (const void *) rep;

    vm->busy = 0;
    if (!rep) {
        return err->code;
    }
    vm->snapshots = r->vm ? r->vm->snapshots : vm->snapshots;
    return vms_commit(op, vm, 0, err);
}

int
vms_snapshot(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__VmNameRequest *req = (const void *) req_;
    struct vm *vm = vms_get_idle(ctx, req->name, err);
    struct policy_vm pv;

    (void) rep_;
    if (!vm) {
        return err->code;
    }
    pv = vms_policy_vm(ctx, vm);
    if (policy_check(POLICY_OP_SNAPSHOT, &pv, err)) {
        return err->code;
    }
    return vms_forward_name(ctx, call, vm, "HostVms.Snapshot",
                            vms_snapshot_done, err);
}

/* The features SetFeature governs, with their flag in struct vm. */
static int *
vms_feature_flag(struct vm *vm, enum policy_op op)
{
    switch (op) {
    case POLICY_OP_RECORD: return &vm->record;
    case POLICY_OP_FT: return &vm->ft;
    case POLICY_OP_HA: return &vm->ha;
    default: return NULL;
    }
}

int
vms_set_feature(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
                ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__SetFeatureRequest *req = (const void *) req_;
    Fexsim__V1__VmReply *rep = (void *) rep_;
    struct vm *vm = vms_get_idle(ctx, req->vm, err);
    struct policy_vm pv;
    enum policy_op op;
    int *flag, was;

    if (!vm || policy_op_parse(req->op, &op, err)) {
        return err->code;
    }
    flag = vms_feature_flag(vm, op);
    if (!flag) {
        return fx_err_set(err, -EINVAL, "'%s' is not a feature: use record, "
                          "ft or ha", req->op);
    }
    pv = vms_policy_vm(ctx, vm);
    if (req->enable && policy_check(op, &pv, err)) {
        return err->code;
    }
    was = *flag;
    *flag = req->enable;
    if (vmfex_save_vm(ctx, vm, 0, err)) {
        *flag = was;
        return err->code;
    }
    rep->vm = vms_to_msg(ctx, vm, call);
    return 0;
}

int
vms_check_operation(void *ctx, struct rpc_call *call,
                    const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                    struct fx_err *err)
{
    const Fexsim__V1__CheckOperationRequest *req = (const void *) req_;
    Fexsim__V1__CheckOperationReply *rep = (void *) rep_;
    struct vm *vm = vm_find(((struct vmfex *) ctx)->vms, req->vm, err);
    struct policy_vm pv;
    struct fx_err why;
    enum policy_op op;

    if (!vm || policy_op_parse(req->op, &op, err)) {
        return err->code;
    }
    pv = vms_policy_vm(ctx, vm);
    fx_err_clear(&why);
    rep->allowed = policy_check(op, &pv, &why) == 0;
    rep->reason = rpc_call_strdup(call, why.msg);
    return 0;
}

/* In the order of service Vms in proto/vmfex.proto. */
/* ---- The guest's workload ---- */

static int
vms_set_done(struct vmfex_op *op, const ProtobufCMessage *rep,
             struct fx_err *err)
{
    struct vm *vm = vm_find(op->vx->vms, op->vm, NULL);
    const Fexsim__V1__AgentDirtyRate *r = (const void *) rep;

    vm->busy = 0;
    if (!rep) {
        return err->code;
    }
    vm->dirty_rate = r->dirty_rate;
    vms_reply(op, vm);
    return 0;
}

int
vms_set(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
        ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__SetVmRequest *req = (const void *) req_;
    Fexsim__V1__AgentDirtyRate areq = FEXSIM__V1__AGENT_DIRTY_RATE__INIT;
    struct vm *vm;

    (void) rep_;
    if (vm_check_dirty_rate(req->dirty_rate, err)
        || !(vm = vms_get_idle(ctx, req->name, err))) {
        return err->code;
    }
    if (!vm->running) {
        return fx_err_set(err, -EINVAL, "VM '%s' is not running: a dirty "
                          "rate is the running guest's", vm->name);
    }
    areq.vm = vm->name;
    areq.dirty_rate = req->dirty_rate;
    return vms_forward(ctx, call, vm, "MigAgent.SetDirtyRate", &areq.base,
                       &fexsim__v1__agent_dirty_rate__descriptor,
                       vms_set_done, err);
}
