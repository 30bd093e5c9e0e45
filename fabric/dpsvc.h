/* dpsvc: fabricd's Dataplane service and the glue between the VIF table
 * and the switching data plane (dplane.h).
 *
 * - Ports follow VIFs: vmfex_port_sync() (called by vms.c whenever a VIF
 *   is added, changes state or goes away) adds the dplane port with the
 *   VLANs of the VIF's port profile, sets it up while the VM runs (vNIC
 *   bound), down otherwise, and deletes it with the VIF.
 * - A host's uplink index is its place in the host table (hosts are never
 *   removed), told to the agent by Dataplane.GetUplink.
 * - Traffic flows: Dataplane.TrafficStart resolves both VMs to a pair of
 *   NICs whose profiles share the native VLAN, then asks the receiving
 *   agent to open the sink and the sending agent to start the generator
 *   (AgentTraffic.*), answering the caller when both have answered.
 *   Stats and stop fan out to the agents the same way. */
#ifndef DPSVC_H
#define DPSVC_H

#include <stddef.h>
#include <stdint.h>

struct dplane;
struct fx_err;
struct rpc_registry;
struct vmfex;
struct dpsvc;

/* Frame sizes a flow may use: the Ethernet minimum up to what a vNIC of
 * MTU 1500 (the default every vNIC is bound with) accepts with its
 * Ethernet header, VLAN tag and FCS. */
#define DPSVC_MIN_SIZE 64u
#define DPSVC_MAX_SIZE 1518u
/* Rate bounds per flow, frames per second. */
#define DPSVC_MAX_RATE 1000000u
#define DPSVC_MAX_FLOWS 64u

/* Creates the service over 'vx' and 'dp' (borrowed, must outlive it) and
 * hands 'dp' to 'vx' for the port hooks. */
struct dpsvc *dpsvc_create(struct vmfex *vx, struct dplane *dp);
void dpsvc_destroy(struct dpsvc *);

/* Migration: the flows VM 'vm' sends ('sink' 0) or receives ('sink' 1),
 * up to 'max' ids into 'ids'; returns how many. */
size_t dpsvc_vm_flows(const struct dpsvc *, const char *vm, int sink,
                      uint32_t *ids, size_t max);
/* VM 'vm' now runs on 'host': its flows' ends follow (stats are asked
 * there). */
void dpsvc_vm_moved(struct dpsvc *, const char *vm, const char *host);
/* Registers service Dataplane on 'reg'. */
int dpsvc_register(struct dpsvc *, struct rpc_registry *reg,
                   struct fx_err *err);

#endif
