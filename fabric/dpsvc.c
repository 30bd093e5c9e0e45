/* dpsvc: see dpsvc.h. */
#include "dpsvc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane.pb-c.h"
#include "dframe.h"
#include "dplane/dplane.h"
#include "flows/flows.h"
#include "fx_err.h"
#include "model/model.h"
#include "rpc.h"

struct dpsvc {
    const struct model *model;       /* Borrowed, all three. */
    struct dplane *dp;
    struct flows *flows;
};

struct dpsvc *
dpsvc_create(const struct model *model, struct dplane *dp,
             struct flows *flows)
{
    struct dpsvc *d = calloc(1, sizeof *d);

    if (!d) {
        abort();
    }
    *d = (struct dpsvc) { model, dp, flows };
    return d;
}

void
dpsvc_destroy(struct dpsvc *d)
{
    free(d);
}

/* ---- GetUplink and VifCounters ---- */

/* The host this call speaks for: the one its connection registered,
 * never the name it gives, which must agree if given. */
static const struct host *
dps_caller_host(const struct dpsvc *d, struct rpc_call *call,
                const char *name, struct fx_err *err)
{
    const struct host *h = model_host_of_session(d->model,
                                                 rpc_call_conn(call));

    if (!h) {
        fx_err_set(err, -EPERM, "an uplink is for an agent: this "
                   "connection has no registered host");
    } else if (name[0] && strcmp(name, h->info.name)) {
        fx_err_set(err, -EPERM, "this connection is host '%s', not '%s'",
                   h->info.name, name);
        h = NULL;
    }
    return h;
}

static int
dps_get_uplink(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
               ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__GetUplinkRequest *req = (const void *) req_;
    Fexsim__V1__GetUplinkReply *rep = (void *) rep_;
    struct dpsvc *d = ctx;
    const struct host *h = dps_caller_host(d, call, req->host, err);
    struct dframe_ticket *t;
    char addr[32];

    if (!h) {
        return err->code;
    }
    t = rpc_call_alloc(call, sizeof *t);
    if (dplane_ticket_issue(d->dp, (uint32_t) model_host_index(d->model,
                                                               h->info.name),
                            t, err)) {
        return err->code;
    }
    /* The agent joins our port to the host it reaches us at. */
    snprintf(addr, sizeof addr, "127.0.0.1:%u", dplane_listen_port(d->dp));
    rep->uplink_addr = rpc_call_strdup(call, addr);
    rep->ticket = (ProtobufCBinaryData) { sizeof t->bytes, t->bytes };
    return 0;
}

static Fexsim__V1__VifCounters *
dps_counters_msg(struct dpsvc *d, struct rpc_call *call, const struct vif *v)
{
    Fexsim__V1__VifCounters *m = rpc_call_alloc(call, sizeof *m);
    Fexsim__V1__VifDrops *dr = rpc_call_alloc(call, sizeof *dr);
    struct fsw_counters c;

    memset(&c, 0, sizeof c);
    dplane_port_counters(d->dp, v->id, &c);
    fexsim__v1__vif_counters__init(m);
    fexsim__v1__vif_drops__init(dr);
    m->vif_id = v->id;
    m->vm = (char *) v->vm;
    m->rx_frames = c.rx_frames;
    m->rx_bytes = c.rx_bytes;
    m->tx_frames = c.tx_frames;
    m->tx_bytes = c.tx_bytes;
    dr->vif_down = c.drops[FSW_DROP_VIF_DOWN];
    dr->vlan_mismatch = c.drops[FSW_DROP_VLAN];
    dr->no_destination = c.drops[FSW_DROP_NO_DEST];
    dr->no_uplink = c.drops[FSW_DROP_NO_UPLINK];
    dr->queue_full = c.drops[FSW_DROP_QUEUE_FULL];
    dr->malformed = c.drops[FSW_DROP_MALFORMED];
    dr->wrong_host = c.drops[FSW_DROP_WRONG_HOST];
    m->drops = dr;
    return m;
}

static int
dps_vif_counters(void *ctx, struct rpc_call *call,
                 const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                 struct fx_err *err)
{
    const Fexsim__V1__VifCountersRequest *req = (const void *) req_;
    Fexsim__V1__VifCountersReply *rep = (void *) rep_;
    struct dpsvc *d = ctx;
    size_t n = req->n_vif_ids ? req->n_vif_ids : model_vif_count(d->model);

    rep->vifs = rpc_call_alloc(call, n * sizeof *rep->vifs);
    for (size_t i = 0; i < n; i++) {
        const struct vif *v = req->n_vif_ids
                              ? model_vif(d->model, req->vif_ids[i])
                              : model_vif_at(d->model, i);

        if (!v) {
            return fx_err_set(err, -ENOENT, "VIF %u not found",
                              req->vif_ids[i]);
        }
        rep->vifs[rep->n_vifs++] = dps_counters_msg(d, call, v);
    }
    rep->unknown_vif_drops = fsw_unknown_vif_drops(dplane_switch(d->dp));
    return 0;
}

/* The flows' handlers take the flows as their context. */
static int
dps_traffic_start(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req, ProtobufCMessage *rep,
                  struct fx_err *err)
{
    return flows_traffic_start(((struct dpsvc *) ctx)->flows, call, req,
                               rep, err);
}

static int
dps_traffic_stop(void *ctx, struct rpc_call *call,
                 const ProtobufCMessage *req, ProtobufCMessage *rep,
                 struct fx_err *err)
{
    return flows_traffic_stop(((struct dpsvc *) ctx)->flows, call, req, rep,
                              err);
}

static int
dps_traffic_stats(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req, ProtobufCMessage *rep,
                  struct fx_err *err)
{
    return flows_traffic_stats(((struct dpsvc *) ctx)->flows, call, req,
                               rep, err);
}

/* In the order of service Dataplane in proto/dataplane.proto. */
static const rpc_handler_fn dps_handlers[] = {
    dps_get_uplink,
    dps_traffic_start,
    dps_traffic_stop,
    dps_traffic_stats,
    dps_vif_counters,
};

int
dpsvc_register(struct dpsvc *d, struct rpc_registry *reg, struct fx_err *err)
{
    /* Operators run traffic and read counters; an agent asks for its
     * own host's uplink only (dps_get_uplink). */
    return rpc_registry_add(reg, &fexsim__v1__dataplane__descriptor,
                            dps_handlers,
                            sizeof dps_handlers / sizeof *dps_handlers, d,
                            AUTH_ROLE_MASK(AUTH_ROLE_OPERATOR), err)
           || rpc_registry_set_roles(reg, "Dataplane.GetUplink",
                                     AUTH_ROLE_MASK(AUTH_ROLE_AGENT), err)
           ? err->code : 0;
}
