/* vms: fabricd's Vms service: a VM's life (create, start, stop, delete),
 * its NICs, snapshots, the features the DirectPath rules govern, and the
 * guest's dirty rate.  The host's part goes to its agent (HostVms); the
 * model changes only when the agent has done it, so the fabric never
 * believes in a domain libvirt lacks, and nothing is left behind when
 * the agent or the store refuses (vms.c). */
#ifndef VMS_H
#define VMS_H

struct agents;
struct fx_err;
struct migcoord;
struct model;
struct rpc_registry;
struct vms;

/* Creates the service over 'model', 'agents' and 'mc' (borrowed, must
 * outlive it). */
struct vms *vms_create(struct model *model, struct agents *agents,
                       const struct migcoord *mc);
/* NULL is a no-op.  Destroy it after the RPC server, whose teardown
 * answers the agent calls in flight. */
void vms_destroy(struct vms *);
/* Registers service Vms on 'reg'. */
int vms_register(struct vms *, struct rpc_registry *reg, struct fx_err *err);

#endif
