/* What vmfex.c and vms.c share: the context and the plumbing of calls
 * forwarded to agents.  Not for other modules. */
#ifndef VMFEX_PRIV_H
#define VMFEX_PRIV_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "rpc.h"
#include "policy.h"
#include "vm.h"
#include "vmfex.pb-c.h"

struct dplane;
struct dpsvc;
struct migcoord;
struct hostreg;
struct profile_table;
struct store;
struct vif_table;

struct vmfex {
    struct hostreg *hosts;            /* Borrowed. */
    struct profile_table *profiles;
    struct vif_table *vifs;
    struct vm_table *vms;
    struct dplane *dp;                /* Borrowed; NULL: no data plane. */
    struct dpsvc *dps;                /* Borrowed; NULL: no data plane. */
    struct store *store;              /* Borrowed; NULL: in memory. */
    struct migcoord *mc;              /* Migrations service. */
    char flavor[8];                   /* "kvm" or "vmware". */
};

/* Brings the data plane's port of VIF 'vif_id' in line with the VIF:
 * added with its profile's VLANs, up while online, on the VIF's host,
 * deleted once the VIF is gone.  No-op without a data plane (dpsvc.c). */
void vmfex_port_sync(struct vmfex *, uint32_t vif_id);

/* One call forwarded to an agent, answered later.  'done' gets the
 * agent's outcome and fills or fails 'call'; then the op is freed. */
struct vmfex_op;
typedef int (*vmfex_done_fn)(struct vmfex_op *, const ProtobufCMessage *rep,
                             struct fx_err *err);
struct vmfex_op {
    struct vmfex *vx;
    struct rpc_call *call;            /* The caller's, deferred. */
    char vm[40];                      /* The VM it is about, or "". */
    uint32_t vifs[VM_MAX_NICS];       /* VIFs to undo on failure. */
    size_t n_vifs;
    uint32_t drop_vif;                /* RemoveNic: the VIF going away. */
    vmfex_done_fn done;
};

/* A new op for 'call', answered by 'done'. */
struct vmfex_op *vmfex_op_new(struct vmfex *, struct rpc_call *call,
                              vmfex_done_fn done);

/* Sends 'method' with 'req' to the agent of 'host' for 'op' (allocated by
 * the caller with calloc, owned by the plumbing from here on; its 'done'
 * runs on the reply, or on failure with rep NULL and 'err' set).  Returns
 * RPC_DEFERRED, or a negative errno (op freed, nothing sent). */
int vmfex_forward(struct vmfex_op *op, const char *host, const char *method,
                  const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *rep_desc,
                  struct fx_err *err);

/* Fills 'm' from VIF 'id' with memory from 'call'. */
void vmfex_vif_to_msg(const struct vmfex *, uint32_t id, struct rpc_call *,
                      Fexsim__V1__Vif *m);

/* The policy's view of 'vm' (vms.c). */
struct policy_vm vms_policy_vm(const struct vmfex *, const struct vm *vm);
/* The agent's view of 'vm' (memory of 'call'), without NIC 'skip_vif'
 * (0: none) (vms.c). */
Fexsim__V1__AgentVm *vms_agent_vm(const struct vmfex *, const struct vm *vm,
                                  uint32_t skip_vif, struct rpc_call *call);

/* 'vm' if it has no agent operation in flight, else NULL with 'err'
 * (vms.c). */
struct vm *vms_get_idle(struct vmfex *, const char *name, struct fx_err *err);
/* 'vm' as a Vm message, with memory from 'call' (vms.c). */
Fexsim__V1__Vm *vms_to_msg(const struct vmfex *, const struct vm *vm,
                           struct rpc_call *call);
/* Answers 'op''s call with 'vm' as a VmReply (vms.c). */
void vms_reply(struct vmfex_op *op, const struct vm *vm);
/* Saves 'vm' (without VIF 'drop_vif', 0: none) and answers 'op''s call
 * with it: the end of an agent operation that changed it (vms.c). */
int vms_commit(struct vmfex_op *op, struct vm *vm, uint32_t drop_vif,
               struct fx_err *err);
/* Marks 'vm' busy and sends 'method' with 'req' to its host's agent;
 * 'done' finishes (it clears busy).  Returns RPC_DEFERRED or an error
 * (vm idle again) (vms.c).  vms_forward_name(): 'req' is the VM's name. */
int vms_forward(struct vmfex *, struct rpc_call *call, struct vm *vm,
                const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *rep_desc,
                vmfex_done_fn done, struct fx_err *err);
int vms_forward_name(struct vmfex *, struct rpc_call *call, struct vm *vm,
                     const char *method, vmfex_done_fn done,
                     struct fx_err *err);

/* Handlers of vms_feat.c: Snapshot, SetFeature, CheckOperation, Set. */
int vms_snapshot(void *ctx, struct rpc_call *, const ProtobufCMessage *req,
                 ProtobufCMessage *rep, struct fx_err *err);
int vms_set_feature(void *ctx, struct rpc_call *, const ProtobufCMessage *req,
                    ProtobufCMessage *rep, struct fx_err *err);
int vms_check_operation(void *ctx, struct rpc_call *,
                        const ProtobufCMessage *req, ProtobufCMessage *rep,
                        struct fx_err *err);
int vms_set(void *ctx, struct rpc_call *, const ProtobufCMessage *req,
            ProtobufCMessage *rep, struct fx_err *err);

/* The Vms service handlers, in .proto order (vms.c). */
extern const rpc_handler_fn vms_handlers[];
extern const unsigned vms_n_handlers;

#endif
