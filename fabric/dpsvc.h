/* dpsvc: fabricd's Dataplane service.  GetUplink tells an agent where
 * the data plane listens and hands it a one-time ticket for its uplink's
 * HELLO, bound to the host its control connection registered (its uplink
 * index, the host's place in the host table); a connection that
 * registered no host, or names another, is refused.  VifCounters reads
 * the switch's counters per VIF; the traffic calls are the flows'
 * (flows/flows.h). */
#ifndef DPSVC_H
#define DPSVC_H

struct dplane;
struct dpsvc;
struct flows;
struct fx_err;
struct model;
struct rpc_registry;

/* Creates the service over 'model', 'dp' and 'flows' (borrowed, must
 * outlive it). */
struct dpsvc *dpsvc_create(const struct model *model, struct dplane *dp,
                           struct flows *flows);
/* NULL is a no-op. */
void dpsvc_destroy(struct dpsvc *);
/* Registers service Dataplane on 'reg'. */
int dpsvc_register(struct dpsvc *, struct rpc_registry *reg,
                   struct fx_err *err);

#endif
