/* flows: traffic flows between guests, the fabric's side.
 *
 * A flow is a generator in one VM's guest and a sink in another's, each
 * run by the agent of its host (AgentTraffic); the fabric keeps only
 * where each end runs and asks the agents for the figures.  TrafficStart
 * resolves both VMs to a pair of NICs whose profiles share the native
 * VLAN, opens the sink, then starts the generator, and answers when both
 * agents have; stats and stop fan out to the agents of the flows' hosts
 * the same way.  A flow's ends follow their VMs when they migrate.
 *
 * The table is in memory only: the agents are the truth for what runs.
 * When an agent registers (flows_host_up()), the fabric asks it for the
 * ends it runs (AgentTraffic.TrafficList) and learns back the flows it
 * does not know, as a restarted fabricd must; their figures go on, since
 * the agents kept counting.  Flow ids are never handed out twice: the
 * next one is in the store before an id leaves (store_put_next_flow_id),
 * and a learnt flow's id is never given again either. */
#ifndef FLOWS_H
#define FLOWS_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

struct agents;
struct flows;
struct fx_err;
struct model;
struct rpc_call;
struct store;

/* Flows at once.  Their frame sizes and rates are the API's
 * (FX_LIMITS_FLOW_* in proto/fx_limits.h). */
#define FLOWS_MAX 64u

/* Creates the table over 'model', 'store' (NULL: ids in memory only) and
 * 'agents' (borrowed, must outlive it). */
struct flows *flows_create(const struct model *model, struct store *store,
                           struct agents *agents);
/* NULL is a no-op. */
void flows_destroy(struct flows *);
/* Reads the next flow id from the store, after the model loaded (no-op
 * without a store). */
int flows_load(struct flows *, struct fx_err *err);
/* Agent 'host' registered: learns the flows it runs that the table does
 * not know (each logged).  A flow this fabricd stopped since is not
 * learnt back.  An agent that cannot answer is skipped (logged): its
 * flows are learnt when it registers again. */
void flows_host_up(struct flows *, const char *host);

/* Handlers of Dataplane.TrafficStart, TrafficStop and TrafficStats, with
 * the flows as 'ctx' (rpc.h's rpc_handler_fn). */
int flows_traffic_start(void *ctx, struct rpc_call *call,
                        const ProtobufCMessage *req, ProtobufCMessage *rep,
                        struct fx_err *err);
int flows_traffic_stop(void *ctx, struct rpc_call *call,
                       const ProtobufCMessage *req, ProtobufCMessage *rep,
                       struct fx_err *err);
int flows_traffic_stats(void *ctx, struct rpc_call *call,
                        const ProtobufCMessage *req, ProtobufCMessage *rep,
                        struct fx_err *err);

/* Flows now, and flow 'i' (0 <= i < flows_count()): its id and its
 * ends' VMs (owned by the table, valid until it changes). */
size_t flows_count(const struct flows *);
void flows_at(const struct flows *, size_t i, uint32_t *idp,
              const char **src_vmp, const char **dst_vmp);

/* The flows VM 'vm' sends ('sink' 0) or receives ('sink' 1), up to 'max'
 * ids into 'ids'; returns how many.  They move with it. */
size_t flows_of_vm(const struct flows *, const char *vm, int sink,
                   uint32_t *ids, size_t max);
/* VM 'vm' now runs on 'host': its flows' ends follow (stats are asked
 * there). */
void flows_vm_moved(struct flows *, const char *vm, const char *host);

#endif
