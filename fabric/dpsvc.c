#include "dpsvc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane.pb-c.h"
#include "dplane/dplane.h"
#include "dpsvc_priv.h"
#include "fx_err.h"
#include "hostreg.h"
#include "log.h"
#include "migcoord.h"
#include "profile.h"
#include "rpc.h"
#include "vif.h"
#include "vmfex_priv.h"

LOG_MODULE("dpsvc");

/* ---- Ports follow VIFs ---- */

int64_t
dps_host_index(const struct hostreg *hosts, const char *name)
{
    for (size_t i = 0; i < hostreg_count(hosts); i++) {
        if (!strcmp(hostreg_at(hosts, i)->info.name, name)) {
            return (int64_t) i;
        }
    }
    return -1;
}

static void
dps_map_reply(void *arg, int status, const char *message,
              const ProtobufCMessage *rep)
{
    (void) rep;
    if (status != RPC_OK) {
        LOG_WARN("VIF %u: agent did not map it to its vNIC: %s",
                 (uint32_t) (uintptr_t) arg, message);
    }
}

/* Tells the VIF's agent which vNIC it is, so deliveries to the VIF land in
 * that vNIC's rx ring.  Fire and forget: a failure is logged. */
static void
dps_map_vif(struct vmfex *vx, const struct vif *v)
{
    Fexsim__V1__MapVifRequest req = FEXSIM__V1__MAP_VIF_REQUEST__INIT;
    struct host *h = hostreg_find(vx->hosts, v->host);

    if (!h || h->state != HOST_UP || !h->session) {
        return;
    }
    req.vif_id = v->id;
    req.vnic = v->vnic;
    req.mac = (ProtobufCBinaryData) { 6, (uint8_t *) v->mac };
    rpc_conn_call(h->session, "AgentTraffic.MapVif", &req.base,
                  &fexsim__v1__map_vif_reply__descriptor,
                  DPSVC_AGENT_TIMEOUT_MS, dps_map_reply,
                  (void *) (uintptr_t) v->id, NULL);
}

void
vmfex_port_sync(struct vmfex *vx, uint32_t vif_id)
{
    const struct vif *v = vif_find(vx->vifs, vif_id);
    const struct profile *p;
    struct fsw_counters c;
    struct fx_err err;
    int64_t host;
    int rc = 0;

    if (!vx->dp) {
        return;
    }
    if (!v) {
        dplane_port_del(vx->dp, vif_id, NULL);
        return;
    }
    host = dps_host_index(vx->hosts, v->host);
    p = profile_find(vx->profiles, v->profile);
    if (host < 0 || !p) {
        return;
    }
    if (dplane_port_counters(vx->dp, vif_id, &c) < 0) {
        rc = dplane_port_add(vx->dp, vif_id, (uint32_t) host, p->vlans,
                             p->n_vlans, &err);
    } else {
        rc = dplane_port_set_host(vx->dp, vif_id, (uint32_t) host, &err);
    }
    if (!rc) {
        rc = dplane_port_set_up(vx->dp, vif_id, v->state == VIF_ONLINE, &err);
    }
    if (rc < 0) {
        LOG_WARN("VIF %u: no switch port: %s", vif_id, err.msg);
    } else if (v->state == VIF_ONLINE) {
        dps_map_vif(vx, v);
    }
}

static void
dps_vif_held(void *arg, uint32_t vif)
{
    migcoord_vif_held(((struct dpsvc *) arg)->vx->mc, vif);
}

struct dpsvc *
dpsvc_create(struct vmfex *vx, struct dplane *dp)
{
    struct dpsvc *d = calloc(1, sizeof *d);

    if (!d) {
        abort();
    }
    d->vx = vx;
    d->dp = dp;
    d->next_flow = 1;
    vx->dp = dp;
    vx->dps = d;
    dplane_set_hold_hook(dp, dps_vif_held, d);
    return d;
}

void
dpsvc_destroy(struct dpsvc *d)
{
    if (d) {
        d->vx->dp = NULL;
        d->vx->dps = NULL;
        free(d);
    }
}

/* ---- GetUplink and VifCounters ---- */

static int
dps_get_uplink(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
               ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__GetUplinkRequest *req = (const void *) req_;
    Fexsim__V1__GetUplinkReply *rep = (void *) rep_;
    struct dpsvc *d = ctx;
    int64_t idx = dps_host_index(d->vx->hosts, req->host);
    char addr[32];

    if (idx < 0) {
        return fx_err_set(err, -ENOENT, "host '%s' not registered",
                          req->host);
    }
    /* The agent joins our port to the host it reaches us at. */
    snprintf(addr, sizeof addr, "127.0.0.1:%u", dplane_listen_port(d->dp));
    rep->uplink_addr = rpc_call_strdup(call, addr);
    rep->host_index = (uint32_t) idx;
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
    size_t n = req->n_vif_ids ? req->n_vif_ids : vif_count(d->vx->vifs);

    rep->vifs = rpc_call_alloc(call, n * sizeof *rep->vifs);
    for (size_t i = 0; i < n; i++) {
        const struct vif *v = req->n_vif_ids
                              ? vif_find(d->vx->vifs, req->vif_ids[i])
                              : vif_at(d->vx->vifs, i);

        if (!v) {
            return fx_err_set(err, -ENOENT, "VIF %u not found",
                              req->vif_ids[i]);
        }
        rep->vifs[rep->n_vifs++] = dps_counters_msg(d, call, v);
    }
    rep->unknown_vif_drops = fsw_unknown_vif_drops(dplane_switch(d->dp));
    return 0;
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
    return rpc_registry_add(reg, &fexsim__v1__dataplane__descriptor,
                            dps_handlers,
                            sizeof dps_handlers / sizeof *dps_handlers, d,
                            err);
}
