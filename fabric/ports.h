/* ports: the switch's ports follow the model's VIFs.
 *
 * In VM-FEX every VIF is a vethernet port of the Fabric Interconnect.
 * The model calls ports_sync() (its vif_changed hook) whenever a VIF is
 * added, changes host, vNIC or state, or goes away: the data plane's port
 * is added with the VLANs of the VIF's port profile, moved to the VIF's
 * host, set up while the VM runs and down otherwise, deleted with the
 * VIF; and the agent of an online VIF's host is told which vNIC the VIF
 * is (AgentTraffic.MapVif), so that frames for it land in that vNIC's rx
 * ring. */
#ifndef PORTS_H
#define PORTS_H

#include <stdint.h>

struct agents;
struct dplane;
struct model;
struct ports;

/* Creates the glue over 'model', 'dp' and 'agents' (borrowed, must
 * outlive it). */
struct ports *ports_create(const struct model *model, struct dplane *dp,
                           struct agents *agents);
/* NULL is a no-op. */
void ports_destroy(struct ports *);

/* Brings the port of VIF 'vif_id' in line with the VIF (see above).  A
 * data plane refusal is logged: the VIF is the model's truth, and the
 * port is tried again at its next change. */
void ports_sync(struct ports *, uint32_t vif_id);

#endif
