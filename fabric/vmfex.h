/* vmfex: fabricd's VM-FEX configuration services: Profiles (port
 * profiles, as UCSM keeps them), Vifs (the VIF table, each VIF with the
 * mode its vNIC is in) and Passthrough (a host's passthrough
 * configuration, which its agent holds: relayed).  The Vms service is
 * vms.h. */
#ifndef VMFEX_H
#define VMFEX_H

#include "vmfex.pb-c.h"

struct agents;
struct fx_err;
struct migcoord;
struct model;
struct rpc_call;
struct rpc_registry;
struct vif;
struct vmfex;

/* Creates the services over 'model', 'agents' and 'mc' (borrowed, must
 * outlive them). */
struct vmfex *vmfex_create(struct model *model, struct agents *agents,
                           const struct migcoord *mc);
/* NULL is a no-op.  Destroy it after the RPC server, whose teardown
 * answers the agent calls in flight. */
void vmfex_destroy(struct vmfex *);

/* Registers Profiles, Vifs and Passthrough on 'reg'. */
int vmfex_register(struct vmfex *, struct rpc_registry *reg,
                   struct fx_err *err);

/* Fills 'm' with VIF 'v' of 'model', the mode 'mc' says it is in and,
 * offline, when the VM lifecycle policy removes it, with copies in memory
 * of 'call'. */
void vmfex_vif_msg(const struct model *model, const struct vif *v,
                   const struct migcoord *mc, struct rpc_call *call,
                   Fexsim__V1__Vif *m);

#endif
