/* The fabric's limits agree, in process, with fabricd's own subsystems
 * (model, agents, ports, dplane) over real loopback TCP:
 * - hosts: the model takes FX_LIMITS_MAX_HOSTS (1024) hosts and refuses
 *   the next; the data plane, sized as fabricd sizes it, gives the last
 *   of them uplinks (300, far more than the old 160) and switches
 *   between VMs on the very last two, every frame delivered;
 * - VLANs: a port profile of FX_LIMITS_PROFILE_MAX_VLANS (64) VLANs gives
 *   its VIFs switch ports that carry tagged traffic on its last VLAN.
 * The agents of the two hosts with VMs are a small AgentTraffic server in
 * the test (the fabric tells them their VIFs' vNICs); the others are
 * registered on placeholder sessions and never called. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "agents/agents.h"
#include "dataplane.pb-c.h"
#include "dplane/dplane.h"
#include "fabricd.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_time.h"
#include "model/model.h"
#include "ports.h"
#include "rpc.h"
#include "traffic.h"
#include "uplink.h"

#define T_UPLINKS 300                /* Of the last hosts: indexes 724.. */
#define T_FIRST (FABRICD_MAX_HOSTS - T_UPLINKS)
#define T_FRAMES 3000
#define T_LAST_VLAN (100 + FX_LIMITS_PROFILE_MAX_VLANS - 1)

struct t_ctx;

/* One host with an uplink: what reached it. */
struct t_host {
    struct t_ctx *t;
    struct uplink *up;
    struct traffic *tr;
    uint64_t last_vlan_rx;           /* Frames tagged T_LAST_VLAN. */
};

struct t_ctx {
    struct event_base *base;
    struct event *tick;              /* Wakes the loop while waiting. */
    struct model *m;
    struct agents *agents;
    struct dplane *dp;
    struct ports *ports;
    struct rpc_registry *reg;        /* The two agents' AgentTraffic. */
    struct rpc_server *srv;
    struct rpc_conn *ctl[2];         /* Their control connections. */
    char placeholder[FABRICD_MAX_HOSTS];   /* The others' sessions. */
    struct t_host h[T_UPLINKS];
    uint32_t mapped[4];              /* VIFs MapVif named, in order. */
    size_t n_mapped;
    uint32_t vif_a, vif_b;           /* VM a's (h1023), VM b's (h1024). */
    uint8_t mac_a[6], mac_b[6];
};

static void
t_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
}

static int
t_until(struct t_ctx *t, int (*cond)(struct t_ctx *), uint32_t ms)
{
    uint64_t deadline = fx_time_now_ms() + ms;

    while (!cond(t) && fx_time_now_ms() < deadline) {
        event_base_loop(t->base, EVLOOP_ONCE);
    }
    return cond(t);
}

/* ---- The two agents: AgentTraffic, MapVif recorded ---- */

static int
t_agent_ok(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
           ProtobufCMessage *rep, struct fx_err *err)
{
    (void) ctx;
    (void) call;
    (void) req;
    (void) rep;
    (void) err;
    return 0;
}

static int
t_agent_map(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
            ProtobufCMessage *rep, struct fx_err *err)
{
    struct t_ctx *t = ctx;

    (void) call;
    (void) rep;
    (void) err;
    if (t->n_mapped < 4) {
        t->mapped[t->n_mapped++] =
            ((const Fexsim__V1__MapVifRequest *) req)->vif_id;
    }
    return 0;
}

static void
t_agents_serve(struct t_ctx *t)
{
    static const rpc_handler_fn handlers[] = {
        t_agent_ok, t_agent_ok, t_agent_ok, t_agent_map, t_agent_ok,
    };
    struct fx_err err;

    t->reg = rpc_registry_create();
    assert_int_equal(rpc_registry_add(t->reg,
                                      &fexsim__v1__agent_traffic__descriptor,
                                      handlers, 5, t, AUTH_ROLES_ALL, &err),
                     0);
    t->srv = rpc_server_create(t->base, "127.0.0.1:0", NULL, t->reg, NULL,
                               NULL, &err);
    assert_non_null(t->srv);
    for (int i = 0; i < 2; i++) {
        t->ctl[i] = rpc_conn_connect(t->base, rpc_server_addr(t->srv), NULL,
                                     NULL, NULL, NULL, &err);
        assert_non_null(t->ctl[i]);
    }
}

/* ---- Hosts and uplinks ---- */

static void
t_vif_changed(void *arg, uint32_t id)
{
    ports_sync(((struct t_ctx *) arg)->ports, id);
}

/* Registers h1..h1024: the last two on the agents' connections. */
static void
t_register_all(struct t_ctx *t)
{
    struct host_info i = { .rpc_addr = "127.0.0.1:1",
                           .adapter_model = "M81KR", .vnics_total = 8 };
    struct fx_err err;

    for (uint32_t k = 0; k < FABRICD_MAX_HOSTS; k++) {
        void *session = k + 2 >= FABRICD_MAX_HOSTS
                        ? (void *) t->ctl[k + 2 - FABRICD_MAX_HOSTS]
                        : (void *) &t->placeholder[k];
        snprintf(i.name, sizeof i.name, "h%u", k + 1);
        assert_int_equal(model_host_register(t->m, &i, session, 0, &err),
                         0);
        assert_int_equal(model_host_index(t->m, i.name), k);
    }
    snprintf(i.name, sizeof i.name, "h%u", FABRICD_MAX_HOSTS + 1);
    assert_int_equal(model_host_register(t->m, &i, t, 0, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "the most it takes"));
    assert_int_equal(model_host_count(t->m), FX_LIMITS_MAX_HOSTS);
}

static uint8_t *
t_reserve(void *arg, uint32_t vif, uint32_t len)
{
    return uplink_reserve(((struct t_host *) arg)->up, vif, len);
}

static void
t_flush(void *arg)
{
    uplink_flush(((struct t_host *) arg)->up);
}

static void
t_rx(void *arg, uint32_t vif, const uint8_t *frame, size_t len)
{
    struct t_host *h = arg;

    if (len >= 18 && frame[12] == 0x81 && frame[13] == 0x00
        && ((frame[14] & 0x0f) << 8 | frame[15]) == T_LAST_VLAN) {
        h->last_vlan_rx++;
        return;
    }
    traffic_rx(h->tr, vif, frame, len);
}

static int
t_all_up(struct t_ctx *t)
{
    return dplane_uplink_count(t->dp) == T_UPLINKS;
}

/* Uplinks for hosts T_FIRST..1023, each with its host's ticket. */
static void
t_connect_uplinks(struct t_ctx *t, uint16_t port)
{
    char addr[32];

    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    for (uint32_t k = 0; k < T_UPLINKS; k++) {
        struct t_host *h = &t->h[k];
        const struct traffic_io io = { t_reserve, t_flush, h };
        struct uplink_cfg cfg = { .fabric = addr, .rx = t_rx, .rx_arg = h };

        assert_int_equal(dplane_ticket_issue(t->dp, T_FIRST + k,
                                             &cfg.ticket, NULL), 0);
        h->t = t;
        h->tr = traffic_create(t->base, &io);
        assert_int_equal(uplink_create(t->base, &cfg, &h->up, NULL), 0);
    }
    assert_true(t_until(t, t_all_up, 20000));
}

/* fabricd's subsystems, with fabricd's data plane sizes. */
static int
t_setup(void **state)
{
    struct t_ctx *t = calloc(1, sizeof *t);
    const struct dplane_cfg dcfg = {
        .listen = "127.0.0.1:0", .max_ports = FABRICD_MAX_VIFS,
        .max_hosts = FABRICD_MAX_HOSTS, .max_macs = FABRICD_MAX_VIFS * 4,
    };
    const struct model_hooks hooks = { .vif_changed = t_vif_changed };
    const struct timeval tv = { 0, 10000 };

    assert_non_null(t);
    t->base = event_base_new();
    t->tick = event_new(t->base, -1, EV_PERSIST, t_tick_cb, NULL);
    event_add(t->tick, &tv);
    t->m = model_create(600000, 0, NULL);
    t->agents = agents_create(t->m);
    assert_int_equal(dplane_create(t->base, &dcfg, &t->dp, NULL), 0);
    t->ports = ports_create(t->m, t->dp, t->agents);
    model_set_hooks(t->m, &hooks, t);
    t_agents_serve(t);
    t_register_all(t);
    t_connect_uplinks(t, dplane_listen_port(t->dp));
    *state = t;
    return 0;
}

static int
t_teardown(void **state)
{
    struct t_ctx *t = *state;

    for (uint32_t k = 0; k < T_UPLINKS; k++) {
        traffic_destroy(t->h[k].tr);
        uplink_destroy(t->h[k].up);
    }
    for (int i = 0; i < 2; i++) {
        rpc_conn_destroy(t->ctl[i]);
    }
    rpc_server_destroy(t->srv);
    rpc_registry_destroy(t->reg);
    ports_destroy(t->ports);
    dplane_destroy(t->dp);
    agents_destroy(t->agents);
    model_destroy(t->m);
    event_free(t->tick);
    event_base_free(t->base);
    free(t);
    return 0;
}

static int
t_both_mapped(struct t_ctx *t)
{
    return t->n_mapped == 2;
}

/* VM a on h1023 and VM b on h1024, each with a running NIC on profile
 * 'profile' (created with 'vlans'): the model's VIFs, whose ports follow
 * (ports_sync) and whose agents hear of their vNICs. */
static void
t_vms(struct t_ctx *t, const char *profile, const uint16_t *vlans,
      size_t n_vlans)
{
    struct profile p = { .max_ports = 64, .qos = "best-effort" };
    struct fx_err err;
    char host[16];

    snprintf(p.name, sizeof p.name, "%s", profile);
    memcpy(p.vlans, vlans, n_vlans * sizeof *vlans);
    p.n_vlans = (uint32_t) n_vlans;
    assert_int_equal(model_profile_create(t->m, &p, &err), 0);
    for (int i = 0; i < 2; i++) {
        const char *vm = i ? "b" : "a";
        uint32_t *vif = i ? &t->vif_b : &t->vif_a;

        snprintf(host, sizeof host, "h%u", FABRICD_MAX_HOSTS - 1 + i);
        assert_int_equal(model_vm_add(t->m, vm, host, 64, &err), 0);
        assert_int_equal(model_vm_nic_add(t->m, vm, profile, false, vif,
                                          &err), 0);
        model_vm_set_busy(t->m, vm, false);
        model_vif_bind(t->m, *vif, 1, true, 0);
        memcpy(i ? t->mac_b : t->mac_a, model_vif(t->m, *vif)->mac, 6);
    }
    assert_true(t_until(t, t_both_mapped, 5000));
    assert_int_equal(t->mapped[0], t->vif_a);
    assert_int_equal(t->mapped[1], t->vif_b);
}

static struct t_host *
t_last(struct t_ctx *t, int i)
{
    return &t->h[T_UPLINKS - 2 + i];
}

static uint64_t
t_received(struct t_host *h, uint32_t flow)
{
    struct traffic_stats st;

    traffic_stats_get(h->tr, flow, &st);
    return st.received;
}

static int
t_flows_done(struct t_ctx *t)
{
    return t_received(t_last(t, 1), 1) == T_FRAMES
           && t_received(t_last(t, 0), 2) == T_FRAMES;
}

static void
t_flow(struct t_ctx *t, uint32_t flow, int from)
{
    struct traffic_gen_cfg c = { .flow_id = flow,
                                 .src_vif = from ? t->vif_b : t->vif_a,
                                 .rate_pps = 200000, .size = 128,
                                 .count = T_FRAMES };

    memcpy(c.src_mac, from ? t->mac_b : t->mac_a, 6);
    memcpy(c.dst_mac, from ? t->mac_a : t->mac_b, 6);
    assert_int_equal(traffic_sink_open(t_last(t, !from)->tr, flow, NULL), 0);
    assert_int_equal(traffic_gen_start(t_last(t, from)->tr, &c, NULL), 0);
}

/* The 1023rd and 1024th hosts, among 300 uplinks, switch both ways. */
static void
uplinks_of_the_last_of_1024_hosts_switch(void **state)
{
    struct t_ctx *t = *state;
    const uint16_t vlan = 10;
    struct traffic_stats st;
    struct fsw_counters c;

    t_vms(t, "pp", &vlan, 1);
    t_flow(t, 1, 0);
    t_flow(t, 2, 1);
    assert_true(t_until(t, t_flows_done, 20000));
    for (int i = 0; i < 2; i++) {
        traffic_stats_get(t_last(t, i)->tr, i ? 1 : 2, &st);
        assert_int_equal(st.received, T_FRAMES);
        assert_int_equal(st.lost, 0);
        assert_int_equal(st.duplicated, 0);
        assert_int_equal(st.reordered, 0);
    }
    assert_int_equal(dplane_port_counters(t->dp, t->vif_b, &c), 0);
    assert_int_equal(c.rx_frames, T_FRAMES);
    assert_int_equal(c.tx_frames, T_FRAMES);
    assert_int_equal(c.drops[FSW_DROP_NO_UPLINK], 0);
    assert_int_equal(c.drops[FSW_DROP_WRONG_HOST], 0);
    assert_int_equal(dplane_uplink_count(t->dp), T_UPLINKS);
}

/* Queues 'n' frames from 'vif' on uplink 'h' to 'dst', tagged with the
 * profile's last VLAN. */
static void
t_send_tagged(struct t_host *h, uint32_t vif, const uint8_t src[6],
              const uint8_t dst[6], uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *f = uplink_reserve(h->up, vif, 64);
        assert_non_null(f);
        memset(f, 0, 64);
        memcpy(f, dst, 6);
        memcpy(f + 6, src, 6);
        f[12] = 0x81;
        f[14] = T_LAST_VLAN >> 8;
        f[15] = T_LAST_VLAN & 0xff;
        f[16] = 0x08;
    }
    uplink_flush(h->up);
}

static int
t_b_learned(struct t_ctx *t)
{
    return t_last(t, 0)->last_vlan_rx == 1;
}

static int
t_tagged_arrived(struct t_ctx *t)
{
    return t_last(t, 1)->last_vlan_rx == 1000;
}

/* A profile of the most VLANs a profile may have: its VIFs get ports
 * (the switch carries them all) that switch tagged frames on the last. */
static void
a_profile_of_64_vlans_carries_its_last_vlan(void **state)
{
    struct t_ctx *t = *state;
    const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint16_t vlans[FX_LIMITS_PROFILE_MAX_VLANS];
    struct fsw_counters c;
    uint32_t vif = 0;

    for (uint16_t i = 0; i < FX_LIMITS_PROFILE_MAX_VLANS; i++) {
        vlans[i] = 100 + i;
    }
    t_vms(t, "trunk", vlans, FX_LIMITS_PROFILE_MAX_VLANS);
    assert_int_equal(dplane_port_counters(t->dp, t->vif_a, &c), 0);
    assert_int_equal(dplane_port_counters(t->dp, t->vif_b, &c), 0);
    t_send_tagged(t_last(t, 1), t->vif_b, t->mac_b, bcast, 1);
    assert_true(t_until(t, t_b_learned, 5000));
    assert_true(fsw_mac_lookup(dplane_switch(t->dp), T_LAST_VLAN, t->mac_b,
                               &vif));
    assert_int_equal(vif, t->vif_b);
    t_send_tagged(t_last(t, 0), t->vif_a, t->mac_a, t->mac_b, 1000);
    assert_true(t_until(t, t_tagged_arrived, 5000));
    assert_int_equal(dplane_port_counters(t->dp, t->vif_b, &c), 0);
    assert_int_equal(c.tx_frames, 1000);
    assert_int_equal(c.drops[FSW_DROP_VLAN], 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(uplinks_of_the_last_of_1024_hosts_switch),
        T(a_profile_of_64_vlans_carries_its_last_vlan),
    };

    return cmocka_run_group_tests_name("fabric_limits", tests, NULL, NULL);
}
