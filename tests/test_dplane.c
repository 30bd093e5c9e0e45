/* In-process test of the data plane over real loopback TCP: the fabric's
 * dplane and three agents' uplinks ("hosts") in one event loop; traffic
 * between every pair of hosts in both directions with zero loss, VLAN
 * isolation and a VIF going down on the wire, and garbage on an uplink
 * closing only that uplink. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth.h"
#include "dframe.h"
#include "dplane/dplane.h"
#include "fx_err.h"
#include "fx_addr.h"
#include "fx_limits.h"
#include "fx_time.h"
#include "harness.h"
#include "traffic.h"
#include "uplink.h"

#define T_FRAMES 3000
#define T_HOSTS 3

/* The last VLAN of a port of FX_LIMITS_PROFILE_MAX_VLANS from 100 on. */
#define T_LAST_VLAN (100 + FX_LIMITS_PROFILE_MAX_VLANS - 1)

/* One simulated host: its uplink and its guests' traffic. */
struct t_host {
    struct uplink *up;
    struct traffic *tr;
    uint64_t last_vlan_rx;           /* Frames tagged T_LAST_VLAN. */
};

struct t_ctx {
    struct event_base *base;
    struct event *tick;              /* Wakes the loop while waiting. */
    struct dplane *dp;
    struct t_host h[T_HOSTS];
    char addr[32];
    uint64_t now_ms;                 /* The dplane's clock. */
    uint64_t want_refused;           /* What t_refused_n waits for. */
    uint32_t want_uplinks;           /* What t_uplinks_n waits for. */
    struct uplink *old_up;           /* What t_old_closed waits for. */
};

static uint64_t
t_clock(void *arg)
{
    return ((struct t_ctx *) arg)->now_ms;
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

static void
t_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
}

/* Steps the loop until 'cond' holds or 'ms' pass; returns cond. */
static int
t_until(struct t_ctx *t, int (*cond)(struct t_ctx *), uint32_t ms)
{
    uint64_t deadline = fx_time_now_ms() + ms;

    while (!cond(t) && fx_time_now_ms() < deadline) {
        event_base_loop(t->base, EVLOOP_ONCE);
    }
    return cond(t);
}

static int
t_connected(struct t_ctx *t)
{
    return dplane_uplink_count(t->dp) == T_HOSTS;
}

static void
t_port(struct t_ctx *t, uint32_t vif, uint32_t host, uint16_t vlan)
{
    assert_int_equal(dplane_port_add(t->dp, vif, host, &vlan, 1, NULL), 0);
    assert_int_equal(dplane_port_set_up(t->dp, vif, true, NULL), 0);
}

static int
t_setup(void **state)
{
    static struct t_ctx t;
    const struct dplane_cfg cfg = { .listen = "127.0.0.1:0",
                                    .max_ports = 64, .max_hosts = 4,
                                    .max_macs = 256, .clock_ms = t_clock,
                                    .clock_arg = &t };
    const struct timeval tv = { 0, 10000 };

    memset(&t, 0, sizeof t);
    t.now_ms = 1000;
    t.base = event_base_new();
    t.tick = event_new(t.base, -1, EV_PERSIST, t_tick_cb, NULL);
    event_add(t.tick, &tv);
    assert_int_equal(dplane_create(t.base, &cfg, &t.dp, NULL), 0);
    snprintf(t.addr, sizeof t.addr, "127.0.0.1:%u",
             dplane_listen_port(t.dp));
    for (uint32_t i = 0; i < T_HOSTS; i++) {
        const struct traffic_io io = { t_reserve, t_flush, &t.h[i] };
        struct uplink_cfg ucfg = { .fabric = t.addr, .rx = t_rx,
                                   .rx_arg = &t.h[i] };
        assert_int_equal(dplane_ticket_issue(t.dp, i, &ucfg.ticket, NULL),
                         0);
        t.h[i].tr = traffic_create(t.base, &io);
        assert_int_equal(uplink_create(t.base, &ucfg, &t.h[i].up, NULL), 0);
    }
    t_port(&t, 1, 0, 10);
    t_port(&t, 2, 1, 10);
    t_port(&t, 3, 1, 20);
    t_port(&t, 4, 2, 10);
    t_port(&t, 5, 2, 20);
    assert_true(t_until(&t, t_connected, 5000));
    *state = &t;
    return 0;
}

static int
t_teardown(void **state)
{
    struct t_ctx *t = *state;

    for (int i = 0; i < T_HOSTS; i++) {
        traffic_destroy(t->h[i].tr);
        uplink_destroy(t->h[i].up);
    }
    dplane_destroy(t->dp);
    event_free(t->tick);
    event_base_free(t->base);
    return 0;
}

/* Flow 'flow' from VIF 'src' on host 'sh' to VIF 'dst' on host 'dh'. */
static void
t_flow(struct t_ctx *t, uint32_t flow, int sh, uint32_t src, int dh,
       uint32_t dst, uint64_t count)
{
    struct traffic_gen_cfg c = { .flow_id = flow, .src_vif = src,
                                 .src_mac = { 2, 0, 0, 0, 0, (uint8_t) src },
                                 .dst_mac = { 2, 0, 0, 0, 0, (uint8_t) dst },
                                 .rate_pps = 200000, .size = 128,
                                 .count = count };

    assert_int_equal(traffic_sink_open(t->h[dh].tr, flow, NULL), 0);
    assert_int_equal(traffic_gen_start(t->h[sh].tr, &c, NULL), 0);
}

static uint64_t
t_received(struct t_ctx *t, int h, uint32_t flow)
{
    struct traffic_stats st;

    traffic_stats_get(t->h[h].tr, flow, &st);
    return st.received;
}

/* Flows between every pair of hosts, both ways: { flow, src host, src
 * VIF, dst host, dst VIF }.  VIFs 1, 2, 4 are on VLAN 10; 3 and 5 on 20. */
static const uint32_t t_flows[][5] = {
    { 1, 0, 1, 1, 2 }, { 2, 1, 2, 0, 1 },
    { 3, 0, 1, 2, 4 }, { 4, 2, 4, 0, 1 },
    { 5, 1, 2, 2, 4 }, { 6, 2, 4, 1, 2 },
    { 7, 1, 3, 2, 5 }, { 8, 2, 5, 1, 3 },
};
#define T_N_FLOWS (sizeof t_flows / sizeof *t_flows)

static int
t_all_done(struct t_ctx *t)
{
    for (size_t i = 0; i < T_N_FLOWS; i++) {
        if (t_received(t, (int) t_flows[i][3], t_flows[i][0]) != T_FRAMES) {
            return 0;
        }
    }
    return 1;
}

/* Every MAC learned and every broadcast delivered: to VLAN 10 (VIFs 1,
 * 2, 4) and VLAN 20 (VIFs 3, 5), never back to the sender. */
static int
t_all_learned(struct t_ctx *t)
{
    return fsw_mac_count(dplane_switch(t->dp)) == 5 &&
           traffic_foreign(t->h[0].tr) == 2 &&
           traffic_foreign(t->h[1].tr) == 3 &&
           traffic_foreign(t->h[2].tr) == 3;
}

/* Each VIF broadcasts once, as a guest's gratuitous ARP would, so that
 * the fabric knows every MAC and the flows go unicast, not flooded. */
static void
t_announce(struct t_ctx *t)
{
    static const uint32_t host_of[] = { 0, 0, 1, 1, 2, 2 };

    for (uint32_t vif = 1; vif <= 5; vif++) {
        struct uplink *up = t->h[host_of[vif]].up;
        uint8_t *f = uplink_reserve(up, vif, 64);
        memset(f, 0xff, 6);
        memcpy(f + 6, (uint8_t[6]) { 2, 0, 0, 0, 0, (uint8_t) vif }, 6);
        memset(f + 12, 0, 52);
        uplink_flush(up);
    }
    assert_true(t_until(t, t_all_learned, 5000));
}

static void
traffic_between_three_hosts_arrives_whole(void **state)
{
    struct t_ctx *t = *state;
    struct traffic_stats st;
    struct fsw_counters c, c0;
    uint64_t foreign[T_HOSTS];

    t_announce(t);
    dplane_port_counters(t->dp, 1, &c0);
    for (int h = 0; h < T_HOSTS; h++) {
        foreign[h] = traffic_foreign(t->h[h].tr);
    }
    for (size_t i = 0; i < T_N_FLOWS; i++) {
        const uint32_t *f = t_flows[i];
        t_flow(t, f[0], (int) f[1], f[2], (int) f[3], f[4], T_FRAMES);
    }
    assert_true(t_until(t, t_all_done, 20000));
    for (size_t i = 0; i < T_N_FLOWS; i++) {
        const uint32_t *f = t_flows[i];
        traffic_stats_get(t->h[f[3]].tr, f[0], &st);
        assert_int_equal(st.received, T_FRAMES);
        assert_int_equal(st.lost, 0);
        assert_int_equal(st.duplicated, 0);
        assert_int_equal(st.reordered, 0);
        traffic_stats_get(t->h[f[1]].tr, f[0], &st);
        assert_int_equal(st.sent, T_FRAMES);
    }
    /* VIF 1 sends two flows and receives two; VLAN 20's VIFs only ever
     * see each other's flow. */
    dplane_port_counters(t->dp, 1, &c);
    assert_int_equal(c.rx_frames - c0.rx_frames, 2 * T_FRAMES);
    assert_int_equal(c.tx_frames - c0.tx_frames, 2 * T_FRAMES);
    assert_int_equal(c.rx_bytes - c0.rx_bytes, 2 * T_FRAMES * 128);
    dplane_port_counters(t->dp, 5, &c);      /* + VIF 3's broadcast. */
    assert_int_equal(c.tx_frames, T_FRAMES + 1);
    assert_int_equal(c.rx_frames, T_FRAMES + 1);
    for (int h = 0; h < T_HOSTS; h++) {      /* Nothing flooded. */
        assert_int_equal(traffic_foreign(t->h[h].tr), foreign[h]);
    }
}

static int
t_first_arrived(struct t_ctx *t)
{
    return t_received(t, 0, 2) == 1;
}

static int
t_vif2_dropped(struct t_ctx *t)
{
    struct fsw_counters c;

    dplane_port_counters(t->dp, 2, &c);
    return c.drops[FSW_DROP_VIF_DOWN] == 10;
}

static void
down_vif_drops_on_the_wire(void **state)
{
    struct t_ctx *t = *state;

    /* VIF 2 speaks first so that it is learned, then goes down. */
    t_flow(t, 2, 1, 2, 0, 1, 1);
    assert_true(t_until(t, t_first_arrived, 5000));
    assert_int_equal(dplane_port_set_up(t->dp, 2, false, NULL), 0);
    t_flow(t, 1, 0, 1, 1, 2, 10);
    assert_true(t_until(t, t_vif2_dropped, 5000));
    assert_int_equal(t_received(t, 1, 1), 0);
}

static int
t_refused(struct t_ctx *t)
{
    return dplane_uplinks_refused(t->dp) == 1;
}

static int
t_refused2(struct t_ctx *t)
{
    return dplane_uplinks_refused(t->dp) == 2;
}

static int
t_first_of_flow1(struct t_ctx *t)
{
    return t_received(t, 1, 1) == 1;
}

/* The agent of the host uplinks speak for here (no secret: claimed). */
static const struct auth_ident t_agent = { AUTH_ROLE_AGENT, "unnamed" };

/* Opens a raw uplink, proven, that presents 'tk' and nothing more;
 * returns its socket. */
static int
t_hello(struct t_ctx *t, const struct dframe_ticket *tk)
{
    int fd = th_proven_on_loop(t->base, t->addr, NULL, &t_agent);
    uint8_t msg[DFRAME_HELLO_SIZE];
    size_t n = dframe_hello_encode(msg, tk);

    assert_int_equal(send(fd, msg, n, MSG_NOSIGNAL), (ssize_t) n);
    return fd;
}

static void
garbage_closes_only_its_uplink(void **state)
{
    struct t_ctx *t = *state;
    struct bufferevent *bev = bufferevent_socket_new(t->base, -1,
                                                     BEV_OPT_CLOSE_ON_FREE);
    struct sockaddr_storage ss;
    int len;

    fx_addr_parse(t->addr, &ss, &len, NULL);
    bufferevent_socket_connect(bev, (struct sockaddr *) &ss, len);
    bufferevent_write(bev, "GET / HTTP/1.1\r\n\r\n", 18);
    assert_true(t_until(t, t_refused, 5000));
    bufferevent_free(bev);
    /* Proven, a proper HELLO for a free host, then a 2 GiB batch
     * header. */
    {
        const uint8_t huge[DFRAME_HDR_SIZE] = { 0x46, 0x44, DFRAME_VERSION,
                                                2, 0, 1, 0, 0, 0x80, 0, 0,
                                                0 };
        struct dframe_ticket tk;
        int fd;

        assert_int_equal(dplane_ticket_issue(t->dp, 3, &tk, NULL), 0);
        fd = t_hello(t, &tk);
        assert_int_equal(send(fd, huge, sizeof huge, MSG_NOSIGNAL),
                         (ssize_t) sizeof huge);
        assert_true(t_until(t, t_refused2, 5000));
        close(fd);
    }
    assert_int_equal(dplane_uplink_count(t->dp), T_HOSTS);
    t_flow(t, 1, 0, 1, 1, 2, 1);
    assert_true(t_until(t, t_first_of_flow1, 5000));
}

/* Queues 'n' frames claiming VIF 'vif', sent on host 'h''s uplink, from
 * source MAC 'src' to 'dst'. */
static void
t_send_as(struct t_ctx *t, int h, uint32_t vif, const uint8_t src[6],
          const uint8_t dst[6], uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *f = uplink_reserve(t->h[h].up, vif, 64);
        assert_non_null(f);
        memset(f, 0, 64);
        memcpy(f, dst, 6);
        memcpy(f + 6, src, 6);
        f[12] = 0x08;
    }
    uplink_flush(t->h[h].up);
}

static uint64_t
t_wrong_host(struct t_ctx *t, uint32_t vif)
{
    struct fsw_counters c;

    dplane_port_counters(t->dp, vif, &c);
    return c.drops[FSW_DROP_WRONG_HOST];
}

static int t_spoof1_dropped(struct t_ctx *t)
{
    return t_wrong_host(t, 1) == 500;
}

static int t_flow_half(struct t_ctx *t)
{
    return t_received(t, 1, 1) >= T_FRAMES / 2;
}

static int
t_flow_and_spoof_done(struct t_ctx *t)
{
    return t_received(t, 1, 1) == T_FRAMES && t_wrong_host(t, 1) == 1500;
}

/* Host 2's uplink sends frames naming VIF 1 (host 0's) with VIF 2's MAC
 * as their source, to VIF 2 and to everyone, before and while a flow from
 * VIF 1 to VIF 2 runs: all are dropped as wrong_host on VIF 1, none is
 * delivered, the MAC table keeps every MAC where it was (VIF 2's
 * traffic is not stolen), and the flow delivers all its frames. */
static void
another_hosts_uplink_cannot_speak_for_a_vif(void **state)
{
    struct t_ctx *t = *state;
    const uint8_t mac1[6] = { 2, 0, 0, 0, 0, 1 }, mac2[6] = { 2, 0, 0, 0, 0,
                                                             2 };
    const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint64_t foreign[T_HOSTS];
    struct traffic_stats st;
    struct fsw_counters c1, c2, c;
    uint32_t vif = 0;

    t_announce(t);
    for (int h = 0; h < T_HOSTS; h++) {
        foreign[h] = traffic_foreign(t->h[h].tr);
    }
    dplane_port_counters(t->dp, 1, &c1);
    dplane_port_counters(t->dp, 2, &c2);
    t_send_as(t, 2, 1, mac2, mac2, 250);
    t_send_as(t, 2, 1, mac2, bcast, 250);
    assert_true(t_until(t, t_spoof1_dropped, 5000));
    t_flow(t, 1, 0, 1, 1, 2, T_FRAMES);
    assert_true(t_until(t, t_flow_half, 10000));
    t_send_as(t, 2, 1, mac2, mac2, 500);
    t_send_as(t, 2, 1, mac1, bcast, 500);
    assert_true(t_until(t, t_flow_and_spoof_done, 20000));
    traffic_stats_get(t->h[1].tr, 1, &st);
    assert_int_equal(st.received, T_FRAMES);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.duplicated, 0);
    assert_int_equal(st.reordered, 0);
    dplane_port_counters(t->dp, 1, &c);
    assert_int_equal(c.rx_frames - c1.rx_frames, T_FRAMES);   /* Its own. */
    dplane_port_counters(t->dp, 2, &c);
    assert_int_equal(c.tx_frames - c2.tx_frames, T_FRAMES);   /* Only. */
    assert_int_equal(fsw_mac_count(dplane_switch(t->dp)), 5);
    assert_true(fsw_mac_lookup(dplane_switch(t->dp), 10, mac2, &vif));
    assert_int_equal(vif, 2);
    assert_true(fsw_mac_lookup(dplane_switch(t->dp), 10, mac1, &vif));
    assert_int_equal(vif, 1);
    for (int h = 0; h < T_HOSTS; h++) {      /* No spoofed frame arrived. */
        assert_int_equal(traffic_foreign(t->h[h].tr), foreign[h]);
    }
}

/* Queues 'n' frames from 'vif' on host 'h' to 'dst' (a MAC), tagged with
 * T_LAST_VLAN, source MAC 02:00:00:00:00:vif. */
static void
t_send_tagged(struct t_ctx *t, int h, uint32_t vif, const uint8_t dst[6],
              uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *f = uplink_reserve(t->h[h].up, vif, 64);
        assert_non_null(f);
        memset(f, 0, 64);
        memcpy(f, dst, 6);
        memcpy(f + 6, (uint8_t[6]) { 2, 0, 0, 0, 0, (uint8_t) vif }, 6);
        f[12] = 0x81;
        f[14] = T_LAST_VLAN >> 8;
        f[15] = T_LAST_VLAN & 0xff;
        f[16] = 0x08;
    }
    uplink_flush(t->h[h].up);
}

static int
t_vif7_learned(struct t_ctx *t)
{
    return t->h[0].last_vlan_rx == 1;
}

static int
t_tagged_arrived(struct t_ctx *t)
{
    return t->h[2].last_vlan_rx == 1000;
}

/* Ports of a profile's most VLANs (FX_LIMITS_PROFILE_MAX_VLANS) carry
 * tagged frames on the last one across the fabric, unicast once learned,
 * every frame delivered. */
static void
tagged_frames_on_the_last_of_64_vlans_cross_the_fabric(void **state)
{
    struct t_ctx *t = *state;
    const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint16_t vlans[FX_LIMITS_PROFILE_MAX_VLANS];
    struct fsw_counters c;
    uint32_t vif = 0;

    for (uint16_t i = 0; i < FX_LIMITS_PROFILE_MAX_VLANS; i++) {
        vlans[i] = 100 + i;
    }
    for (uint32_t v = 6; v <= 7; v++) {
        assert_int_equal(dplane_port_add(t->dp, v, v == 6 ? 0 : 2, vlans,
                                         FX_LIMITS_PROFILE_MAX_VLANS, NULL),
                         0);
        assert_int_equal(dplane_port_set_up(t->dp, v, true, NULL), 0);
    }
    t_send_tagged(t, 2, 7, bcast, 1);        /* VIF 7 speaks: learned. */
    assert_true(t_until(t, t_vif7_learned, 5000));
    t_send_tagged(t, 0, 6, (uint8_t[6]) { 2, 0, 0, 0, 0, 7 }, 1000);
    assert_true(t_until(t, t_tagged_arrived, 5000));
    assert_true(fsw_mac_lookup(dplane_switch(t->dp), T_LAST_VLAN,
                               (uint8_t[6]) { 2, 0, 0, 0, 0, 7 }, &vif));
    assert_int_equal(vif, 7);
    dplane_port_counters(t->dp, 7, &c);
    assert_int_equal(c.tx_frames, 1000);
    assert_int_equal(c.drops[FSW_DROP_VLAN], 0);
    assert_int_equal(t->h[1].last_vlan_rx, 0);   /* No port there. */
}

/* ---- Tickets ---- */

static int
t_refused_n(struct t_ctx *t)
{
    return dplane_uplinks_refused(t->dp) == t->want_refused;
}

static int
t_uplinks_n(struct t_ctx *t)
{
    return dplane_uplink_count(t->dp) == t->want_uplinks;
}

/* The uplink presenting 'tk' is refused: one more refusal, no more
 * uplinks. */
static void
t_assert_refused(struct t_ctx *t, const struct dframe_ticket *tk)
{
    uint32_t uplinks = dplane_uplink_count(t->dp);
    int fd;

    t->want_refused = dplane_uplinks_refused(t->dp) + 1;
    fd = t_hello(t, tk);
    assert_true(t_until(t, t_refused_n, 5000));
    assert_int_equal(dplane_uplink_count(t->dp), uplinks);
    close(fd);
}

/* The uplink presenting 'tk' is taken: one more uplink. */
static int
t_assert_taken(struct t_ctx *t, const struct dframe_ticket *tk)
{
    uint64_t refused = dplane_uplinks_refused(t->dp);
    int fd;

    t->want_uplinks = dplane_uplink_count(t->dp) + 1;
    fd = t_hello(t, tk);
    assert_true(t_until(t, t_uplinks_n, 5000));
    assert_int_equal(dplane_uplinks_refused(t->dp), refused);
    return fd;
}

/* A ticket nobody issued, or one used already, opens no uplink; the
 * uplink it opened stays. */
static void
made_up_or_reused_ticket_is_refused(void **state)
{
    struct t_ctx *t = *state;
    struct dframe_ticket made_up, tk;
    int ok;
    struct fx_err err;

    memset(made_up.bytes, 0x5a, sizeof made_up.bytes);
    t_assert_refused(t, &made_up);
    assert_int_equal(dplane_ticket_issue(t->dp, 3, &tk, NULL), 0);
    assert_int_equal(dplane_tickets_pending(t->dp), 1);
    ok = t_assert_taken(t, &tk);
    assert_int_equal(dplane_tickets_pending(t->dp), 0);
    t_assert_refused(t, &tk);                    /* Good once. */
    assert_int_equal(dplane_uplink_count(t->dp), T_HOSTS + 1);
    assert_int_equal(dplane_ticket_issue(t->dp, 4, &tk, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "out of range"));
    close(ok);
}

/* A ticket is good for its TTL only, dies with its host, and the next
 * ticket of a host replaces the one before. */
static void
expired_dropped_or_replaced_ticket_is_refused(void **state)
{
    struct t_ctx *t = *state;
    struct dframe_ticket tk, tk2;
    int ok;

    assert_int_equal(dplane_ticket_issue(t->dp, 3, &tk, NULL), 0);
    t->now_ms += DPLANE_TICKET_TTL_MS;
    assert_int_equal(dplane_tickets_pending(t->dp), 0);
    t_assert_refused(t, &tk);
    assert_int_equal(dplane_ticket_issue(t->dp, 3, &tk, NULL), 0);
    dplane_host_down(t->dp, 3);
    assert_int_equal(dplane_tickets_pending(t->dp), 0);
    t_assert_refused(t, &tk);
    assert_int_equal(dplane_ticket_issue(t->dp, 3, &tk, NULL), 0);
    assert_int_equal(dplane_ticket_issue(t->dp, 3, &tk2, NULL), 0);
    assert_memory_not_equal(tk.bytes, tk2.bytes, sizeof tk.bytes);
    assert_int_equal(dplane_tickets_pending(t->dp), 1);
    t_assert_refused(t, &tk);
    t->now_ms += DPLANE_TICKET_TTL_MS - 1;       /* Still good. */
    ok = t_assert_taken(t, &tk2);
    close(ok);
}

static int
t_old_closed(struct t_ctx *t)
{
    return uplink_is_closed(t->old_up);
}

static int
t_flow1_arrived(struct t_ctx *t)
{
    return t_received(t, 1, 1) == 10;
}

/* Replaces host 'h''s uplink in the test by a new one with a new ticket
 * and waits until the fabric closed the old one. */
static void
t_reconnect(struct t_ctx *t, uint32_t h)
{
    struct uplink_cfg ucfg = { .fabric = t->addr, .rx = t_rx,
                               .rx_arg = &t->h[h] };

    t->old_up = t->h[h].up;
    assert_int_equal(dplane_ticket_issue(t->dp, h, &ucfg.ticket, NULL), 0);
    assert_int_equal(uplink_create(t->base, &ucfg, &t->h[h].up, NULL), 0);
    assert_true(t_until(t, t_old_closed, 5000));
    uplink_destroy(t->old_up);
}

/* A host that goes down loses its uplink (it spoke for the host only
 * while its agent was registered); a new ticket of a host whose uplink
 * is open replaces that uplink; the new ones carry the traffic. */
static void
host_down_closes_its_uplink_and_a_new_one_replaces_it(void **state)
{
    struct t_ctx *t = *state;

    dplane_host_down(t->dp, 1);
    t->old_up = t->h[1].up;
    assert_true(t_until(t, t_old_closed, 5000));
    assert_int_equal(dplane_uplink_count(t->dp), T_HOSTS - 1);
    t_reconnect(t, 1);                       /* Closed already. */
    assert_true(t_until(t, t_connected, 5000));
    t_reconnect(t, 0);                       /* Open: replaced. */
    assert_int_equal(dplane_uplink_count(t->dp), T_HOSTS);
    assert_int_equal(dplane_uplinks_refused(t->dp), 0);
    t_flow(t, 1, 0, 1, 1, 2, 10);            /* VIF 1 -> VIF 2. */
    assert_true(t_until(t, t_flow1_arrived, 5000));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(traffic_between_three_hosts_arrives_whole),
        T(down_vif_drops_on_the_wire),
        T(garbage_closes_only_its_uplink),
        T(tagged_frames_on_the_last_of_64_vlans_cross_the_fabric),
        T(another_hosts_uplink_cannot_speak_for_a_vif),
        T(made_up_or_reused_ticket_is_refused),
        T(expired_dropped_or_replaced_ticket_is_refused),
        T(host_down_closes_its_uplink_and_a_new_one_replaces_it),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
