/* vmfex: fabricd's VM-FEX services: Profiles, Vifs, Vms and Passthrough.
 * It owns the profile, VIF and VM tables, asks policy.c before every
 * operation the DirectPath rules govern, and forwards the host's part to
 * the host's agent (service HostVms) over the agent's own control
 * connection, answering the caller when the agent has answered. */
#ifndef VMFEX_H
#define VMFEX_H

struct fx_err;
struct hostreg;
struct rpc_registry;
struct vmfex;

/* Creates the services over 'hosts' (borrowed, must outlive it). */
struct vmfex *vmfex_create(struct hostreg *hosts);
/* Frees the tables.  Destroy it after the RPC server, whose teardown
 * answers the agent calls still in flight.  NULL is a no-op. */
void vmfex_destroy(struct vmfex *);

/* The migration flavour: "kvm" (default; NULL keeps it) or "vmware". */
void vmfex_set_flavor(struct vmfex *, const char *flavor);

/* Registers Profiles, Vifs, Vms and Passthrough on 'reg'. */
int vmfex_register(struct vmfex *, struct rpc_registry *reg,
                   struct fx_err *err);

/* Host 'name' has just registered over 'session' (the agent's control
 * connection, a struct rpc_conn *): asks its agent what it holds
 * (HostVms.List) and reconciles with it: the agent is the truth for what
 * runs there, the fabric for configuration.  Every correction is logged
 * and saved. */
void vmfex_host_up(struct vmfex *, const char *name, void *session);

#endif
