/* hostsvc: fabricd's Fabric service, the agents' side of the fabric:
 * RegisterHost, Heartbeat and ListHosts, and the hosts' liveness.  An
 * agent registers its host (name, RPC address, adapter summary,
 * hypervisor) over its control connection and heartbeats on it; a host
 * goes down when that connection closes or stays silent for the
 * heartbeat timeout, and comes back up when its agent registers again,
 * which reconciles it (reconcile.h), resolves the migrations that waited
 * for it and learns back the traffic flows it runs (flows.h). */
#ifndef HOSTSVC_H
#define HOSTSVC_H

#include <stdint.h>

#include <event2/event.h>

struct flows;
struct fx_err;
struct hostsvc;
struct migcoord;
struct model;
struct reconcile;
struct rpc_conn;
struct rpc_registry;

/* Creates the service over 'model', 'rc', 'mc' and 'fl' (borrowed, must
 * outlive it), telling agents to beat every 'heartbeat_interval_ms', and
 * starts checking liveness on 'base' four times per heartbeat timeout. */
struct hostsvc *hostsvc_create(struct event_base *base, struct model *model,
                               struct reconcile *rc, struct migcoord *mc,
                               struct flows *fl,
                               uint32_t heartbeat_interval_ms,
                               uint32_t heartbeat_timeout_ms);
/* NULL is a no-op. */
void hostsvc_destroy(struct hostsvc *);
/* Registers service Fabric on 'reg'. */
int hostsvc_register(struct hostsvc *, struct rpc_registry *reg,
                     struct fx_err *err);
/* Connection 'conn' closed ('reason'): its host, if any, goes down. */
void hostsvc_conn_lost(struct hostsvc *, struct rpc_conn *conn,
                       const char *reason);

#endif
