/* reconcile: the fabric's VMs and VIFs against what an agent holds, when
 * the agent registers (after a fabricd or agentd restart, or a lost
 * connection).  The agent is the truth for what runs on its host (which
 * domains exist and run, which vNIC each NIC holds); the fabric is the
 * truth for configuration (profiles, VIF ids, MACs, which VM has which
 * NIC).  So: running state and vNICs follow the agent; a domain the
 * fabric never acknowledged (its creation was cut by a crash) is
 * undefined; a VM the agent lost, or whose NICs differ, is defined again
 * from the fabric's configuration (which frees or takes vNICs); a copy a
 * settled migration left behind is stopped and undefined.  Every
 * correction is logged and saved.  VMs with an operation in flight are
 * left to it. */
#ifndef RECONCILE_H
#define RECONCILE_H

struct agents;
struct model;
struct reconcile;

/* Creates it over 'model' and 'agents' (borrowed, must outlive it). */
struct reconcile *reconcile_create(struct model *model,
                                   struct agents *agents);
/* NULL is a no-op. */
void reconcile_destroy(struct reconcile *);

/* Host 'name' has just registered: asks its agent what it holds
 * (HostVms.List) and reconciles. */
void reconcile_host(struct reconcile *, const char *name);
/* Defines VM 'name' on its host's agent as the fabric's configuration
 * has it (e.g. without a NIC whose VIF the retention removed, so that
 * the agent frees its vNIC), then follows what the agent says. */
void reconcile_redefine(struct reconcile *, const char *name);

#endif
