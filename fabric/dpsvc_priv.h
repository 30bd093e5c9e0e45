/* What dpsvc.c (ports, uplinks, counters) and dpflows.c (traffic flows)
 * share.  Not for other modules. */
#ifndef DPSVC_PRIV_H
#define DPSVC_PRIV_H

#include <stdint.h>

#include "dpsvc.h"
#include "rpc.h"

struct hostreg;

#define DPSVC_AGENT_TIMEOUT_MS 5000

/* Where a flow runs: the fabric's record, the agents hold the counters. */
struct dps_flow {
    uint32_t id;
    char src_vm[40], dst_vm[40];
    char src_host[40], dst_host[40];
};

struct dpsvc {
    struct vmfex *vx;                /* Borrowed. */
    struct dplane *dp;               /* Borrowed. */
    uint32_t next_flow;
    uint32_t n_flows;
    struct dps_flow flows[DPSVC_MAX_FLOWS];
};

/* The host's uplink index: its place in the host table, or -1. */
int64_t dps_host_index(const struct hostreg *hosts, const char *name);

/* Dataplane.TrafficStart, TrafficStop and TrafficStats (dpflows.c). */
int dps_traffic_start(void *ctx, struct rpc_call *call,
                      const ProtobufCMessage *req, ProtobufCMessage *rep,
                      struct fx_err *err);
int dps_traffic_stop(void *ctx, struct rpc_call *call,
                     const ProtobufCMessage *req, ProtobufCMessage *rep,
                     struct fx_err *err);
int dps_traffic_stats(void *ctx, struct rpc_call *call,
                      const ProtobufCMessage *req, ProtobufCMessage *rep,
                      struct fx_err *err);

#endif
