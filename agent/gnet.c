#include "gnet.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane.pb-c.h"
#include "fx_err.h"
#include "log.h"
#include "rpc.h"
#include "traffic.h"
#include "uplink.h"
#include "vic.h"

LOG_MODULE("gnet");

/* How often a healthy uplink is checked for having been closed. */
#define GNET_CHECK_MS 500u

/* VIF -> vNIC, open addressing with linear probing; VIF 0 is empty. */
struct gnet_map {
    uint32_t vif, vnic;
    uint8_t mac[6];                  /* The vNIC's, for its rx filter. */
};

/* One VIF's announce rounds still to send. */
struct gnet_ann {
    struct gnet *g;                  /* Borrowed. */
    uint32_t vif;
    uint32_t left;                   /* Rounds still to send. */
    uint32_t delay_ms;               /* Before the next one. */
    struct event *ev;                /* Owned. */
    struct gnet_ann *next;           /* In g->anns. */
};

#define GNET_MAX_EXPECTED 64

struct gnet {
    struct event_base *base;         /* Borrowed. */
    struct vic *vic;                 /* Borrowed. */
    char fabric_host[64];            /* Host part of cfg.fabric. */
    uint32_t backoff_min_ms, backoff_max_ms, backoff_ms;
    struct uplink *up;               /* NULL until GetUplink answered. */
    uint16_t port;
    void (*want_uplink)(void *);     /* gnet_cfg's. */
    void *want_arg;
    const struct auth_key *key;      /* gnet_cfg's, borrowed. */
    char host[40];
    struct event *timer;             /* Uplink check and reconnect. */
    struct traffic *traffic;
    uint32_t n_vnics;
    uint32_t *vnic_vif;              /* Per vNIC: its VIF, 0 if none. */
    uint8_t *guest_held;             /* Per vNIC: enum gnet_hold, a real
                                      * guest stopping for a migration:
                                      * rx frames stay in the ring. */
    uint8_t (*vnic_mac)[6];          /* Per vNIC: its MAC when mapped. */
    struct gnet_map *map;            /* 'map_cap' slots, >= 2 n_vnics. */
    uint32_t map_cap;
    /* The frame the generator is writing, pushed to the tx ring at the
     * next reserve or flush (after it was filled). */
    bool staged;
    uint32_t staged_vnic;
    size_t staged_len;
    uint8_t stage[VIC_FRAME_MAX];
    uint8_t buf[VIC_FRAME_MAX];      /* Frames popped off rings. */
    uint64_t rx_unknown, rx_refused, rx_filtered;
    struct gnet_ann *anns;           /* Owned list: VIFs announcing. */
    uint64_t announces, announce_refused;
    uint32_t expected[GNET_MAX_EXPECTED];  /* VIFs migrating in. */
    void (*on_rx)(void *arg, uint32_t vif, uint32_t vnic, size_t len);
    void *on_rx_arg;
    void (*on_marker)(void *arg, uint32_t token, uint32_t vif);
    void *on_marker_arg;
    void (*on_guest_rx)(void *arg, uint32_t vnic, const uint8_t *frame,
                        size_t len);
    void *on_guest_rx_arg;
};

static uint32_t
gnet_hash(const struct gnet *g, uint32_t vif)
{
    return (vif * 2654435761u) & (g->map_cap - 1);
}

static const struct gnet_map *
gnet_map_find(const struct gnet *g, uint32_t vif)
{
    for (uint32_t i = gnet_hash(g, vif);; i = (i + 1) & (g->map_cap - 1)) {
        if (g->map[i].vif == vif) {
            return &g->map[i];
        }
        if (g->map[i].vif == 0) {
            return NULL;
        }
    }
}

/* Rebuilt whole on every change: changes come with VM starts and flows,
 * lookups with every frame. */
static void
gnet_map_rebuild(struct gnet *g)
{
    memset(g->map, 0, g->map_cap * sizeof *g->map);
    for (uint32_t v = 0; v < g->n_vnics; v++) {
        uint32_t i = gnet_hash(g, g->vnic_vif[v]);

        if (g->vnic_vif[v] == 0) {
            continue;
        }
        while (g->map[i].vif) {
            i = (i + 1) & (g->map_cap - 1);
        }
        g->map[i] = (struct gnet_map) { g->vnic_vif[v], v, { 0 } };
        memcpy(g->map[i].mac, g->vnic_mac[v], 6);
    }
}

static int
gnet_map_set(struct gnet *g, uint32_t vif, uint32_t vnic,
             const uint8_t *mac, struct fx_err *err)
{
    if (vif == 0 || vnic >= g->n_vnics) {
        return fx_err_set(err, -EINVAL, "bad VIF %u or vNIC %u", vif, vnic);
    }
    if (g->vnic_vif[vnic] == vif && !memcmp(g->vnic_mac[vnic], mac, 6)) {
        return 0;
    }
    for (uint32_t v = 0; v < g->n_vnics; v++) {
        if (g->vnic_vif[v] == vif) {
            g->vnic_vif[v] = 0;      /* The VIF moved to another vNIC. */
        }
    }
    g->vnic_vif[vnic] = vif;
    memcpy(g->vnic_mac[vnic], mac, 6);
    gnet_map_rebuild(g);
    return 0;
}

/* ---- rx: fabric -> vNIC rx ring -> guest sink ---- */

static void gnet_deliver(struct gnet *g, uint32_t vif, uint32_t vnic);

static void
gnet_rx(void *arg, uint32_t vif, const uint8_t *frame, size_t len)
{
    struct gnet *g = arg;
    const struct gnet_map *m = gnet_map_find(g, vif);

    if (!m) {
        g->rx_unknown++;
        return;
    }
    /* The adapter's unicast filter: a flooded frame for another MAC is not
     * this guest's (group addresses have bit 0 of the first byte set). */
    if (len >= 6 && !(frame[0] & 1) && memcmp(frame, m->mac, 6)) {
        g->rx_filtered++;
        return;
    }
    if (vic_vnic_rx_push(g->vic, m->vnic, frame, len, NULL) < 0) {
        g->rx_refused++;
        return;
    }
    gnet_deliver(g, vif, m->vnic);
}

/* Frames in vNIC 'vnic''s rx ring. */
static uint32_t
gnet_rx_pending(const struct gnet *g, uint32_t vnic)
{
    struct vic_vnic_info info;

    return vic_vnic_info(g->vic, vnic, &info, NULL) ? 0 : info.rx_pending;
}

/* The guest's driver takes what vNIC 'vnic''s rx ring holds at once: its
 * sink never lags; a real guest stopping for a migration leaves it there,
 * for the checkpoint (gnet_guest_hold). */
static void
gnet_deliver(struct gnet *g, uint32_t vif, uint32_t vnic)
{
    size_t n;

    if (g->guest_held[vnic] == GNET_HOLD_STOPPED
        || (g->guest_held[vnic] == GNET_HOLD_STOPPING
            && gnet_rx_pending(g, vnic) < GNET_HOLD_HIGH)) {
        return;
    }
    while ((g->guest_held[vnic] == GNET_HOLD_NONE
            || gnet_rx_pending(g, vnic) > GNET_HOLD_LOW)
           && vic_vnic_rx_pop(g->vic, vnic, g->buf, sizeof g->buf, &n,
                              NULL) == 0) {
        traffic_rx(g->traffic, vif, g->buf, n);
        if (g->on_rx) {
            g->on_rx(g->on_rx_arg, vif, vnic, n);
        }
        if (g->on_guest_rx) {
            g->on_guest_rx(g->on_guest_rx_arg, vnic, g->buf, n);
        }
    }
}

/* ---- tx: generator -> vNIC tx ring -> uplink ---- */

/* Moves what vNIC 'vnic' (VIF 'vif') posted to the uplink, as long as
 * the uplink takes it. */
static void
gnet_drain(struct gnet *g, uint32_t vif, uint32_t vnic)
{
    size_t n;

    while (g->up && uplink_can_send(g->up)
           && vic_vnic_tx_pop(g->vic, vnic, g->buf, sizeof g->buf, &n,
                              NULL) == 0) {
        uint8_t *p = uplink_reserve(g->up, vif, (uint32_t) n);

        if (p) {
            memcpy(p, g->buf, n);
        }
    }
}

static void
gnet_commit(struct gnet *g)
{
    if (g->staged
        && vic_vnic_tx_push(g->vic, g->staged_vnic, g->stage, g->staged_len,
                            NULL) < 0) {
        /* The vNIC went away between reserve and commit (unbound). */
        g->rx_refused++;
    }
    g->staged = false;
}

static uint32_t
gnet_tx_pending(const struct gnet *g, uint32_t vnic)
{
    struct vic_vnic_info info;

    if (vic_vnic_info(g->vic, vnic, &info, NULL) < 0
        || info.state != VIC_VNIC_BOUND) {
        return VIC_RING_SIZE;        /* Nothing may be posted. */
    }
    return info.tx_pending;
}

static uint8_t *
gnet_reserve(void *arg, uint32_t vif, uint32_t len)
{
    struct gnet *g = arg;
    const struct gnet_map *m = gnet_map_find(g, vif);

    gnet_commit(g);
    if (!m || len > sizeof g->stage) {
        return NULL;
    }
    if (gnet_tx_pending(g, m->vnic) >= VIC_RING_SIZE) {
        gnet_drain(g, vif, m->vnic);
        if (gnet_tx_pending(g, m->vnic) >= VIC_RING_SIZE) {
            return NULL;             /* Ring full: the generator waits. */
        }
    }
    g->staged = true;
    g->staged_vnic = m->vnic;
    g->staged_len = len;
    return g->stage;
}

static void
gnet_flush(void *arg)
{
    struct gnet *g = arg;

    gnet_commit(g);
    for (uint32_t v = 0; v < g->n_vnics; v++) {
        if (g->vnic_vif[v]) {
            gnet_drain(g, g->vnic_vif[v], v);
        }
    }
    if (g->up) {
        uplink_flush(g->up);
    }
}

int
gnet_guest_tx(struct gnet *g, uint32_t vnic, const void *frame, size_t len)
{
    uint32_t vif;

    if (vnic >= g->n_vnics) {
        return -EINVAL;
    }
    gnet_commit(g);
    if (vic_vnic_tx_push(g->vic, vnic, frame, len, NULL) < 0) {
        return -ENOBUFS;
    }
    vif = g->vnic_vif[vnic];
    if (vif) {
        gnet_drain(g, vif, vnic);
        if (g->up) {
            uplink_flush(g->up);
        }
    }
    return 0;
}

void
gnet_guest_hold(struct gnet *g, uint32_t vnic, enum gnet_hold hold)
{
    if (vnic < g->n_vnics) {
        g->guest_held[vnic] = (uint8_t) hold;
    }
}

void
gnet_guest_kick(struct gnet *g, uint32_t vnic)
{
    if (vnic < g->n_vnics) {
        gnet_deliver(g, g->vnic_vif[vnic], vnic);
    }
}

void
gnet_on_guest_rx(struct gnet *g,
                 void (*fn)(void *, uint32_t, const uint8_t *, size_t),
                 void *arg)
{
    g->on_guest_rx = fn;
    g->on_guest_rx_arg = arg;
}

static void
gnet_marker_rx(void *arg, uint32_t token, uint32_t vif)
{
    struct gnet *g = arg;

    if (g->on_marker) {
        g->on_marker(g->on_marker_arg, token, vif);
    }
}

int
gnet_marker(struct gnet *g, uint32_t vif, uint32_t token)
{
    const struct gnet_map *m = gnet_map_find(g, vif);

    if (!m) {
        return -ENOENT;
    }
    if (!g->up || !uplink_is_up(g->up)) {
        return -ENOTCONN;
    }
    gnet_commit(g);
    gnet_drain(g, vif, m->vnic);
    if (gnet_tx_pending(g, m->vnic) > 0
        && gnet_tx_pending(g, m->vnic) < VIC_RING_SIZE) {
        return -EAGAIN;
    }
    return uplink_marker(g->up, token, vif);
}

void
gnet_on_marker(struct gnet *g, void (*fn)(void *, uint32_t, uint32_t),
               void *arg)
{
    g->on_marker = fn;
    g->on_marker_arg = arg;
}

/* ---- Announce after migration ---- */

/* Posts one RARP frame on the VIF's vNIC and pushes it to the uplink. */
static void
gnet_ann_send(struct gnet *g, uint32_t vif)
{
    const struct gnet_map *m = gnet_map_find(g, vif);
    uint8_t f[UPLINK_RARP_LEN];

    gnet_commit(g);                  /* Keep the guest's order. */
    if (!m) {
        g->announce_refused++;
        return;
    }
    uplink_rarp_build(f, m->mac);
    if (vic_vnic_tx_push(g->vic, m->vnic, f, sizeof f, NULL) < 0) {
        g->announce_refused++;
        return;
    }
    g->announces++;
    gnet_drain(g, vif, m->vnic);
    if (g->up) {
        uplink_flush(g->up);
    }
}

static void
gnet_ann_free(struct gnet *g, struct gnet_ann *a)
{
    struct gnet_ann **pp = &g->anns;

    while (*pp != a) {
        pp = &(*pp)->next;
    }
    *pp = a->next;
    event_free(a->ev);
    free(a);
}

static void
gnet_ann_arm(struct gnet_ann *a)
{
    struct timeval tv = { a->delay_ms / 1000, (a->delay_ms % 1000) * 1000 };

    evtimer_add(a->ev, &tv);
}

static void
gnet_ann_cb(evutil_socket_t s, short what, void *arg)
{
    struct gnet_ann *a = arg;

    (void) s;
    (void) what;
    gnet_ann_send(a->g, a->vif);
    if (--a->left == 0) {
        gnet_ann_free(a->g, a);
        return;
    }
    a->delay_ms += GNET_ANNOUNCE_STEP_MS;
    if (a->delay_ms > GNET_ANNOUNCE_MAX_MS) {
        a->delay_ms = GNET_ANNOUNCE_MAX_MS;
    }
    gnet_ann_arm(a);
}

int
gnet_announce(struct gnet *g, uint32_t vif, struct fx_err *err)
{
    struct gnet_ann *a = g->anns;

    if (vif == 0 || !gnet_map_find(g, vif)) {
        return fx_err_set(err, -ENOENT, "VIF %u has no vNIC here", vif);
    }
    while (a && a->vif != vif) {
        a = a->next;
    }
    if (!a) {
        if (!(a = calloc(1, sizeof *a))) {
            abort();
        }
        a->g = g;
        a->vif = vif;
        a->ev = evtimer_new(g->base, gnet_ann_cb, a);
        a->next = g->anns;
        g->anns = a;
    }
    gnet_ann_send(g, vif);
    a->left = GNET_ANNOUNCE_ROUNDS - 1;
    a->delay_ms = GNET_ANNOUNCE_INITIAL_MS;
    gnet_ann_arm(a);
    return 0;
}

uint64_t gnet_announces(const struct gnet *g) { return g->announces; }
uint64_t gnet_announce_refused(const struct gnet *g)
{
    return g->announce_refused;
}

int
gnet_map_vnic(struct gnet *g, uint32_t vif, uint32_t vnic,
              const uint8_t mac[6], struct fx_err *err)
{
    return gnet_map_set(g, vif, vnic, mac, err);
}

/* ---- Uplink life ---- */

static void
gnet_arm(struct gnet *g, uint32_t ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    evtimer_add(g->timer, &tv);
}

/* Connects again after the backoff, which doubles each time up to the
 * maximum. */
static void
gnet_arm_backoff(struct gnet *g)
{
    gnet_arm(g, g->backoff_ms);
    g->backoff_ms = g->backoff_ms * 2 > g->backoff_max_ms
                    ? g->backoff_max_ms : g->backoff_ms * 2;
}

/* Opens the uplink to g->port with 'ticket', which it uses up. */
static void
gnet_connect(struct gnet *g, const struct dframe_ticket *ticket)
{
    char addr[80];
    struct uplink_cfg cfg = {
        .fabric = addr, .ticket = *ticket, .rx = gnet_rx, .rx_arg = g,
        .marker = gnet_marker_rx, .key = g->key, .host = g->host,
    };
    struct fx_err err;

    uplink_destroy(g->up);
    g->up = NULL;
    snprintf(addr, sizeof addr, "%s:%u", g->fabric_host, g->port);
    if (uplink_create(g->base, &cfg, &g->up, &err) < 0) {
        LOG_WARN("uplink: %s; asking again in %u ms", err.msg,
                 g->backoff_ms);
        gnet_arm_backoff(g);
        return;
    }
    LOG_INFO("uplink to %s", addr);
    gnet_arm(g, GNET_CHECK_MS);
}

static void
gnet_timer_cb(evutil_socket_t s, short what, void *arg)
{
    struct gnet *g = arg;

    (void) s;
    (void) what;
    if (g->up && !uplink_is_closed(g->up)) {
        if (uplink_is_up(g->up)) {
            g->backoff_ms = g->backoff_min_ms;
        }
        gnet_arm(g, GNET_CHECK_MS);
        return;
    }
    if (g->up) {
        /* Closed: wait the backoff before asking for a new one. */
        uplink_destroy(g->up);
        g->up = NULL;
        gnet_arm_backoff(g);
        return;
    }
    /* A ticket is good once: a new uplink needs a new one.  Armed first:
     * if none comes, ask again after the next backoff; if one does,
     * gnet_set_uplink() rearms. */
    gnet_arm_backoff(g);
    if (g->want_uplink) {
        g->want_uplink(g->want_arg);
    }
}

void
gnet_on_rx(struct gnet *g,
           void (*fn)(void *arg, uint32_t vif, uint32_t vnic, size_t len),
           void *arg)
{
    g->on_rx = fn;
    g->on_rx_arg = arg;
}

struct traffic *
gnet_traffic(struct gnet *g)
{
    return g->traffic;
}

void
gnet_set_uplink(struct gnet *g, uint16_t port,
                const struct dframe_ticket *ticket)
{
    if (g->up && !uplink_is_closed(g->up) && g->port == port) {
        return;
    }
    g->port = port;
    g->backoff_ms = g->backoff_min_ms;
    event_del(g->timer);
    gnet_connect(g, ticket);
}

struct gnet *
gnet_create(struct event_base *base, struct vic *vic,
            const struct gnet_cfg *cfg)
{
    struct gnet *g = calloc(1, sizeof *g);
    const struct traffic_io io = { gnet_reserve, gnet_flush, g };
    const char *colon = strrchr(cfg->fabric, ':');
    size_t n = colon ? (size_t) (colon - cfg->fabric) : strlen(cfg->fabric);

    if (!g) {
        abort();
    }
    g->base = base;
    g->vic = vic;
    g->n_vnics = vic_vnic_count(vic);
    for (g->map_cap = 16; g->map_cap < 2 * g->n_vnics; g->map_cap *= 2) {
    }
    g->vnic_vif = calloc(g->n_vnics, sizeof *g->vnic_vif);
    g->guest_held = calloc(g->n_vnics, sizeof *g->guest_held);
    g->vnic_mac = calloc(g->n_vnics, sizeof *g->vnic_mac);
    g->map = calloc(g->map_cap, sizeof *g->map);
    if (!g->vnic_vif || !g->guest_held || !g->vnic_mac || !g->map) {
        abort();
    }
    snprintf(g->fabric_host, sizeof g->fabric_host, "%.*s", (int) n,
             cfg->fabric);
    g->backoff_min_ms = g->backoff_ms = cfg->backoff_min_ms;
    g->backoff_max_ms = cfg->backoff_max_ms;
    g->want_uplink = cfg->want_uplink;
    g->want_arg = cfg->want_arg;
    g->key = cfg->key;
    snprintf(g->host, sizeof g->host, "%s", cfg->host ? cfg->host : "");
    g->timer = evtimer_new(base, gnet_timer_cb, g);
    g->traffic = traffic_create(base, &io);
    return g;
}

void
gnet_destroy(struct gnet *g)
{
    if (!g) {
        return;
    }
    while (g->anns) {
        gnet_ann_free(g, g->anns);
    }
    traffic_destroy(g->traffic);
    uplink_destroy(g->up);
    event_free(g->timer);
    free(g->vnic_vif);
    free(g->guest_held);
    free(g->vnic_mac);
    free(g->map);
    free(g);
}

uint64_t gnet_rx_unknown(const struct gnet *g) { return g->rx_unknown; }
uint64_t gnet_rx_refused(const struct gnet *g) { return g->rx_refused; }
uint64_t gnet_rx_filtered(const struct gnet *g) { return g->rx_filtered; }

/* ---- Service AgentTraffic ---- */

/* Checks that vNIC 'vnic' is bound with 'mac', the VIF's MAC. */
static int
gnet_check_vnic(const struct gnet *g, uint32_t vnic,
                const ProtobufCBinaryData *mac, struct fx_err *err)
{
    struct vic_vnic_info info;

    if (mac->len != 6) {
        return fx_err_set(err, -EINVAL, "MAC must be 6 bytes, not %zu",
                          mac->len);
    }
    if (vic_vnic_info(g->vic, vnic, &info, err) < 0) {
        return err->code;
    }
    if (info.state != VIC_VNIC_BOUND || memcmp(info.cfg.mac, mac->data, 6)) {
        return fx_err_set(err, -ESTALE, "vNIC %u is %s and not bound to that "
                          "MAC", vnic, vic_vnic_state_name(info.state));
    }
    return 0;
}

/* Starts this host's side of a flow.  The fabric gives each flow id out
 * once, so one this host already has is a leftover of a fabric that
 * restarted since (or forgot the flow while we were unreachable): it is
 * dropped.  The receiver's side starts first; on a host that is both
 * ends, the sender's start then finds the fresh sink and keeps it. */
static int
gnet_flow_start(struct gnet *g, bool sender, const struct traffic_gen_cfg *cfg,
                struct fx_err *err)
{
    struct traffic_stats st;
    int rc;

    if (!sender) {
        if (traffic_stats_get(g->traffic, cfg->flow_id, &st) == 0) {
            LOG_WARN("flow %u: dropping a leftover flow of that id",
                     cfg->flow_id);
            traffic_stop(g->traffic, cfg->flow_id, NULL);
        }
        rc = traffic_sink_open(g->traffic, cfg->flow_id, err);
        if (!rc) {
            traffic_sink_set_macs(g->traffic, cfg->flow_id, cfg->src_mac,
                                  cfg->dst_mac);
        }
        return rc;
    }
    rc = traffic_gen_start(g->traffic, cfg, err);
    if (rc == -EEXIST) {             /* A leftover on a sender-only host. */
        LOG_WARN("flow %u: dropping a leftover flow of that id",
                 cfg->flow_id);
        traffic_stop(g->traffic, cfg->flow_id, NULL);
        rc = traffic_gen_start(g->traffic, cfg, err);
    }
    return rc;
}

static int
gnet_traffic_start(void *ctx, struct rpc_call *call,
                   const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                   struct fx_err *err)
{
    const Fexsim__V1__AgentTrafficStartRequest *req = (const void *) req_;
    struct gnet *g = ctx;
    bool sender = req->role == FEXSIM__V1__TRAFFIC_ROLE__TRAFFIC_ROLE_SENDER;
    struct traffic_gen_cfg cfg = {
        .flow_id = req->flow_id, .src_vif = req->vif_id,
        .rate_pps = req->rate_pps, .size = req->size, .count = req->count,
    };

    (void) call;
    (void) rep_;
    if (!sender
        && req->role != FEXSIM__V1__TRAFFIC_ROLE__TRAFFIC_ROLE_RECEIVER) {
        return fx_err_set(err, -EINVAL, "traffic role must be sender or "
                          "receiver");
    }
    if (req->src_mac.len != 6 || req->dst_mac.len != 6) {
        return fx_err_set(err, -EINVAL, "MACs must be 6 bytes");
    }
    memcpy(cfg.src_mac, req->src_mac.data, 6);
    memcpy(cfg.dst_mac, req->dst_mac.data, 6);
    if ((sender && traffic_gen_check(&cfg, err) < 0)
        || gnet_check_vnic(g, req->vnic, sender ? &req->src_mac
                                                : &req->dst_mac, err)
        || gnet_map_set(g, req->vif_id, req->vnic,
                        sender ? req->src_mac.data : req->dst_mac.data, err)) {
        return err->code;
    }
    return gnet_flow_start(g, sender, &cfg, err);
}

static Fexsim__V1__FlowStats *
gnet_flow_msg(const struct gnet *g, struct rpc_call *call, uint32_t id)
{
    Fexsim__V1__FlowStats *m = rpc_call_alloc(call, sizeof *m);
    struct traffic_stats st;

    fexsim__v1__flow_stats__init(m);
    if (traffic_stats_get(g->traffic, id, &st) < 0) {
        return NULL;
    }
    m->flow_id = id;
    m->sent = st.sent;
    m->received = st.received;
    m->lost = st.lost;
    m->duplicated = st.duplicated;
    m->reordered = st.reordered;
    m->latency_p50_us = st.p50_us;
    m->latency_p99_us = st.p99_us;
    m->running = traffic_running(g->traffic, id);
    return m;
}

static int
gnet_traffic_stop(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                  struct fx_err *err)
{
    const Fexsim__V1__AgentTrafficStopRequest *req = (const void *) req_;
    Fexsim__V1__AgentTrafficStopReply *rep = (void *) rep_;
    struct gnet *g = ctx;

    rep->stats = gnet_flow_msg(g, call, req->flow_id);
    return traffic_stop(g->traffic, req->flow_id, err);
}

static int
gnet_traffic_stats(void *ctx, struct rpc_call *call,
                   const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                   struct fx_err *err)
{
    const Fexsim__V1__AgentTrafficStatsRequest *req = (const void *) req_;
    Fexsim__V1__AgentTrafficStatsReply *rep = (void *) rep_;
    struct gnet *g = ctx;
    uint32_t ids[TRAFFIC_MAX_FLOWS];
    uint32_t n = traffic_flow_ids(g->traffic, ids, TRAFFIC_MAX_FLOWS);

    (void) err;
    rep->flows = rpc_call_alloc(call, n * sizeof *rep->flows);
    for (uint32_t i = 0; i < n; i++) {
        if (req->flow_id == 0 || req->flow_id == ids[i]) {
            rep->flows[rep->n_flows++] = gnet_flow_msg(g, call, ids[i]);
        }
    }
    /* Reported first, then stopped: these are the flows' final figures. */
    for (size_t i = 0; i < req->n_stop_flows; i++) {
        traffic_stop(g->traffic, req->stop_flows[i], NULL);
    }
    return 0;
}

/* Every generator and sink run here, with the MACs of their flows'
 * VIFs: what a restarted fabric learns its flows back from. */
static int
gnet_traffic_list(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                  struct fx_err *err)
{
    Fexsim__V1__AgentTrafficListReply *rep = (void *) rep_;
    struct gnet *g = ctx;
    struct traffic_end ends[2 * TRAFFIC_MAX_FLOWS];
    size_t n = traffic_ends(g->traffic, ends, 2 * TRAFFIC_MAX_FLOWS);

    (void) req_;
    (void) err;
    rep->ends = rpc_call_alloc(call, n * sizeof *rep->ends);
    for (size_t i = 0; i < n; i++) {
        Fexsim__V1__AgentFlowEnd *e = rpc_call_alloc(call, sizeof *e);

        fexsim__v1__agent_flow_end__init(e);
        e->flow_id = ends[i].flow_id;
        e->role = ends[i].sender
                  ? FEXSIM__V1__TRAFFIC_ROLE__TRAFFIC_ROLE_SENDER
                  : FEXSIM__V1__TRAFFIC_ROLE__TRAFFIC_ROLE_RECEIVER;
        e->src_mac = (ProtobufCBinaryData) {
            6, rpc_call_alloc(call, 6) };
        e->dst_mac = (ProtobufCBinaryData) {
            6, rpc_call_alloc(call, 6) };
        memcpy(e->src_mac.data, ends[i].src_mac, 6);
        memcpy(e->dst_mac.data, ends[i].dst_mac, 6);
        rep->ends[rep->n_ends++] = e;
    }
    return 0;
}

static void gnet_vif_arrived(struct gnet *g, uint32_t vif);

static int
gnet_map_vif(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__MapVifRequest *req = (const void *) req_;
    struct gnet *g = ctx;

    (void) call;
    (void) rep_;
    if (gnet_check_vnic(g, req->vnic, &req->mac, err)
        || gnet_map_set(g, req->vif_id, req->vnic, req->mac.data, err)) {
        return err->code;
    }
    gnet_vif_arrived(g, req->vif_id);
    return 0;
}

int
gnet_expect_vif(struct gnet *g, uint32_t vif, struct fx_err *err)
{
    for (size_t i = 0; i < GNET_MAX_EXPECTED; i++) {
        if (!g->expected[i] || g->expected[i] == vif) {
            g->expected[i] = vif;
            return 0;
        }
    }
    return fx_err_set(err, -ENOSPC, "VIF %u: %d VIFs already migrate in",
                      vif, GNET_MAX_EXPECTED);
}

/* The fabric maps 'vif' here: a VIF that migrated in announces itself
 * and its guest's traffic resumes. */
static void
gnet_vif_arrived(struct gnet *g, uint32_t vif)
{
    struct fx_err err;

    for (size_t i = 0; i < GNET_MAX_EXPECTED; i++) {
        if (g->expected[i] == vif) {
            g->expected[i] = 0;
            traffic_unpark(g->traffic, vif);
            if (gnet_announce(g, vif, &err) < 0) {
                LOG_WARN("VIF %u: no announce: %s", vif, err.msg);
            }
        }
    }
}

/* In the order of service AgentTraffic in proto/dataplane.proto. */
static const rpc_handler_fn gnet_handlers[] = {
    gnet_traffic_start,
    gnet_traffic_stop,
    gnet_traffic_stats,
    gnet_map_vif,
    gnet_traffic_list,
};

int
gnet_register(struct gnet *g, struct rpc_registry *reg, struct fx_err *err)
{
    return rpc_registry_add(reg, &fexsim__v1__agent_traffic__descriptor,
                            gnet_handlers,
                            sizeof gnet_handlers / sizeof *gnet_handlers, g,
                            AUTH_ROLE_MASK(AUTH_ROLE_FABRIC), err);
}
