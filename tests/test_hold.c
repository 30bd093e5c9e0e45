/* In-process test of the migration switchover on the data plane, over
 * real loopback TCP: the fabric's dplane and three hosts' uplinks in one
 * event loop.  VIF 2 (host 1) is held, moved to host 2 and released:
 * frames sent meanwhile arrive there, all, in order, before later ones;
 * overflow loses exactly the frames beyond the bound; a rollback releases
 * on the old host; the RARP announce is learned and flooded; an uplink
 * MARKER holds the VIF exactly behind its frames and comes back behind
 * the frames switched to it before (the switchover's drain). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "dplane/dplane.h"
#include "fx_err.h"
#include "fx_time.h"
#include "traffic.h"
#include "uplink.h"

#define T_HOSTS 3
#define T_HOLD_FRAMES 64
#define T_MAX_SEQ 8192

struct t_ctx;

/* One simulated host: its uplink, and what reached it for VIF 2. */
struct t_host {
    struct t_ctx *t;
    struct uplink *up;
    struct traffic *tr;              /* Host A's guest (flow source). */
    uint32_t n_seq;                  /* Raw frames for VIF 2, by seq. */
    uint32_t seq[T_MAX_SEQ];
    uint64_t rarp;                   /* RARP frames received. */
    uint64_t vif2_traffic;           /* Traffic frames for VIF 2. */
    uint32_t vif1_raw;               /* Raw frames for VIF 1. */
    uint32_t markers;                /* MARKERs echoed to it. */
    uint32_t marker_token, marker_vif;
    uint32_t n_seq_at_marker;        /* n_seq when the last one came. */
};

struct t_ctx {
    struct event_base *base;
    struct event *tick;              /* Wakes the loop while waiting. */
    struct dplane *dp;
    struct t_host h[T_HOSTS];
    struct traffic *vm;              /* VIF 2's guest: moves with it. */
    char addr[32];
};

static const uint8_t t_mac2[6] = { 2, 0, 0, 0, 0, 2 };

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

/* Raw test frames have ethertype 0x0800 and a 32-bit seq at 14. */
static void
t_rx(void *arg, uint32_t vif, const uint8_t *f, size_t len)
{
    struct t_host *h = arg;
    uint16_t type = (uint16_t) (f[12] << 8 | f[13]);
    uint32_t seq;

    if (type == UPLINK_ETH_P_RARP) {
        h->rarp++;
    } else if (type == 0x0800 && vif == 2 && h->n_seq < T_MAX_SEQ) {
        memcpy(&seq, f + 14, 4);
        h->seq[h->n_seq++] = seq;
    } else if (type == 0x0800 && vif == 1) {
        h->vif1_raw++;
    } else if (vif == 2) {
        h->vif2_traffic++;
        traffic_rx(h->t->vm, vif, f, len);
    } else {
        traffic_rx(h->tr, vif, f, len);
    }
}

static void
t_marker(void *arg, uint32_t token, uint32_t vif)
{
    struct t_host *h = arg;

    h->markers++;
    h->marker_token = token;
    h->marker_vif = vif;
    h->n_seq_at_marker = h->n_seq;
}

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

static int
t_connected(struct t_ctx *t)
{
    return dplane_uplink_count(t->dp) == T_HOSTS;
}

/* VIF 2's announce from setup was switched: learned, and flooded to VIFs
 * 1 (host 0) and 3 (host 2). */
static int
t_announced(struct t_ctx *t)
{
    uint32_t vif = 0;

    return fsw_mac_lookup(dplane_switch(t->dp), 10, t_mac2, &vif)
           && vif == 2 && t->h[0].rarp == 1 && t->h[2].rarp == 1;
}

static void
t_port(struct t_ctx *t, uint32_t vif, uint32_t host, uint16_t vlan)
{
    assert_int_equal(dplane_port_add(t->dp, vif, host, &vlan, 1, NULL), 0);
    assert_int_equal(dplane_port_set_up(t->dp, vif, true, NULL), 0);
}

/* Sends 'n' raw frames numbered from 'seq0' from VIF 1 (host 0) to VIF
 * 2's MAC. */
static void
t_send(struct t_ctx *t, uint32_t seq0, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t seq = seq0 + i;
        uint8_t *f = uplink_reserve(t->h[0].up, 1, 64);
        assert_non_null(f);
        memset(f, 0, 64);
        memcpy(f, t_mac2, 6);
        memcpy(f + 6, (uint8_t[6]) { 2, 0, 0, 0, 0, 1 }, 6);
        f[12] = 0x08;
        memcpy(f + 14, &seq, 4);
    }
    uplink_flush(t->h[0].up);
}

/* The hold bound of the next setup: 0 is dplane's default. */
static uint32_t t_hold_frames = T_HOLD_FRAMES;

static int
t_setup(void **state)
{
    static struct t_ctx t;
    const struct dplane_cfg cfg = { .listen = "127.0.0.1:0",
                                    .max_ports = 16, .max_hosts = 4,
                                    .max_macs = 64,
                                    .hold_frames = t_hold_frames };
    const struct timeval tv = { 0, 10000 };

    memset(&t, 0, sizeof t);
    t.base = event_base_new();
    t.tick = event_new(t.base, -1, EV_PERSIST, t_tick_cb, NULL);
    event_add(t.tick, &tv);
    assert_int_equal(dplane_create(t.base, &cfg, &t.dp, NULL), 0);
    snprintf(t.addr, sizeof t.addr, "127.0.0.1:%u",
             dplane_listen_port(t.dp));
    for (uint32_t i = 0; i < T_HOSTS; i++) {
        const struct traffic_io io = { t_reserve, t_flush, &t.h[i] };
        struct uplink_cfg ucfg = { .fabric = t.addr, .rx = t_rx,
                                   .rx_arg = &t.h[i], .marker = t_marker };
        assert_int_equal(dplane_ticket_issue(t.dp, i, &ucfg.ticket, NULL),
                         0);
        t.h[i].t = &t;
        t.h[i].tr = traffic_create(t.base, &io);
        assert_int_equal(uplink_create(t.base, &ucfg, &t.h[i].up, NULL), 0);
    }
    t.vm = traffic_create(t.base, &(const struct traffic_io) {
                              t_reserve, t_flush, &t.h[1] });
    t_port(&t, 1, 0, 10);
    t_port(&t, 2, 1, 10);
    t_port(&t, 3, 2, 10);
    assert_true(t_until(&t, t_connected, 5000));
    /* VIF 2 announces itself so that frames to it go unicast, before any
     * test moves it: from then on host 1 no longer speaks for it. */
    assert_int_equal(uplink_announce(t.h[1].up, 2, t_mac2), 0);
    assert_true(t_until(&t, t_announced, 5000));
    *state = &t;
    return 0;
}

static int
t_teardown(void **state)
{
    struct t_ctx *t = *state;

    traffic_destroy(t->vm);
    for (int i = 0; i < T_HOSTS; i++) {
        traffic_destroy(t->h[i].tr);
        uplink_destroy(t->h[i].up);
    }
    dplane_destroy(t->dp);
    event_free(t->tick);
    event_base_free(t->base);
    return 0;
}

static int
t_setup_default(void **state)
{
    t_hold_frames = 0;
    return t_setup(state);
}

static uint32_t t_want_held;

static int
t_held(struct t_ctx *t)
{
    uint64_t held = 0, dropped = 0;

    dplane_port_hold_stats(t->dp, 2, &held, &dropped);
    return held + dropped == t_want_held;
}

static uint32_t t_want_host, t_want_n;

static int
t_arrived(struct t_ctx *t)
{
    return t->h[t_want_host].n_seq >= t_want_n;
}

static void
t_assert_seq(const struct t_host *h, uint32_t n)
{
    assert_int_equal(h->n_seq, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(h->seq[i], i);
    }
}

/* Releases VIF 2 on 'host' after 'n' frames (of which 'lost' beyond the
 * bound), then sends 'after' more: all arrive there in order. */
static void
t_hold_move(struct t_ctx *t, uint32_t host, uint32_t n, uint32_t lost,
            uint32_t after)
{
    uint64_t held, dropped;
    uint32_t kept = n - lost;
    struct fsw_counters c;

    assert_int_equal(dplane_port_hold(t->dp, 2, NULL), 0);
    t_send(t, 0, n);
    t_want_held = n;
    assert_true(t_until(t, t_held, 5000));
    assert_int_equal(t->h[1].n_seq, 0);          /* Nothing delivered. */
    assert_int_equal(dplane_port_release(t->dp, 2, host, &held, &dropped,
                                         NULL), 0);
    assert_int_equal(held, kept);
    assert_int_equal(dropped, lost);
    t_send(t, kept, after);                      /* Numbered on. */
    t_want_host = host;
    t_want_n = kept + after;
    assert_true(t_until(t, t_arrived, 5000));
    t_assert_seq(&t->h[host], kept + after);
    if (host != 1) {
        assert_int_equal(t->h[1].n_seq, 0);
    }
    dplane_port_counters(t->dp, 2, &c);
    assert_int_equal(c.drops[FSW_DROP_HOLD_OVERFLOW], lost);
    assert_int_equal(c.tx_frames, kept + after);
}

static void
held_frames_arrive_in_order_on_the_new_host(void **state)
{
    t_hold_move(*state, 2, 40, 0, 50);
}

static void
overflow_loses_exactly_the_frames_beyond_the_bound(void **state)
{
    t_hold_move(*state, 2, T_HOLD_FRAMES + 36, 36, 10);
}

static void
rollback_releases_on_the_old_host(void **state)
{
    t_hold_move(*state, 1, 30, 0, 5);
}

static void
hold_and_release_refuse_bad_requests(void **state)
{
    struct t_ctx *t = *state;
    struct fx_err err;

    assert_int_equal(dplane_port_hold(t->dp, 99, &err), -ENOENT);
    assert_int_equal(dplane_port_release(t->dp, 99, 2, NULL, NULL, &err),
                     -ENOENT);
    assert_int_equal(dplane_port_release(t->dp, 2, 2, NULL, NULL, &err),
                     -EINVAL);
    assert_int_equal(dplane_port_hold(t->dp, 2, NULL), 0);
    assert_int_equal(dplane_port_hold(t->dp, 2, &err), -EALREADY);
    assert_int_equal(dplane_port_release(t->dp, 2, 9, NULL, NULL, &err),
                     -EINVAL);
    assert_int_equal(dplane_port_release(t->dp, 2, 3, NULL, NULL, &err),
                     -EHOSTUNREACH);         /* Host 3: no uplink. */
    assert_true(fsw_port_is_held(dplane_switch(t->dp), 2));
    assert_int_equal(dplane_port_release(t->dp, 2, 2, NULL, NULL, &err), 0);
    assert_false(fsw_port_is_held(dplane_switch(t->dp), 2));
    assert_int_equal(dplane_port_hold(t->dp, 2, NULL), 0);
    assert_int_equal(dplane_port_del(t->dp, 2, NULL), 0);   /* Frees it. */
}

static int
t_rarp_seen(struct t_ctx *t)
{
    return t->h[0].rarp == 2 && t->h[2].rarp == 2;
}

/* The announce from the new host: learned on VIF 2, flooded in VLAN 10
 * to VIFs 1 and 3, never back to VIF 2. */
static void
announce_is_learned_and_flooded(void **state)
{
    struct t_ctx *t = *state;
    uint32_t vif = 0;

    assert_int_equal(dplane_port_hold(t->dp, 2, NULL), 0);
    assert_int_equal(dplane_port_release(t->dp, 2, 2, NULL, NULL, NULL), 0);
    assert_int_equal(uplink_announce(t->h[2].up, 2, t_mac2), 0);
    assert_true(t_until(t, t_rarp_seen, 5000));
    assert_int_equal(t->h[1].rarp, 0);
    assert_int_equal(uplink_announces(t->h[2].up), 1);
    assert_true(fsw_mac_lookup(dplane_switch(t->dp), 10, t_mac2, &vif));
    assert_int_equal(vif, 2);
}

#define T_FLOW_FRAMES 3000

static uint64_t
t_vm_received(struct t_ctx *t)
{
    struct traffic_stats st;

    traffic_stats_get(t->vm, 1, &st);
    return st.received;
}

static int t_some_received(struct t_ctx *t) { return t_vm_received(t) >= 500; }
static int t_flow_done(struct t_ctx *t)
{
    return t_vm_received(t) == T_FLOW_FRAMES;
}

static int
t_some_held(struct t_ctx *t)
{
    uint64_t held = 0, dropped = 0;

    dplane_port_hold_stats(t->dp, 2, &held, &dropped);
    return held >= 300;
}

/* A flow from host 0 to VIF 2 runs while VIF 2 moves from host 1 to host
 * 2: its sink (the guest's, which migrates with it) misses nothing. */
static void
flow_survives_the_switchover_whole(void **state)
{
    struct t_ctx *t = *state;
    struct traffic_gen_cfg c = { .flow_id = 1, .src_vif = 1,
                                 .src_mac = { 2, 0, 0, 0, 0, 1 },
                                 .rate_pps = 20000, .size = 128,
                                 .count = T_FLOW_FRAMES };
    struct traffic_stats st;
    uint64_t held, dropped, on_old;

    memcpy(c.dst_mac, t_mac2, 6);
    assert_int_equal(traffic_sink_open(t->vm, 1, NULL), 0);
    assert_int_equal(traffic_gen_start(t->h[0].tr, &c, NULL), 0);
    assert_true(t_until(t, t_some_received, 5000));
    assert_int_equal(dplane_port_hold(t->dp, 2, NULL), 0);
    on_old = t->h[1].vif2_traffic;
    assert_true(t_until(t, t_some_held, 5000));
    assert_int_equal(dplane_port_release(t->dp, 2, 2, &held, &dropped,
                                         NULL), 0);
    assert_int_equal(uplink_announce(t->h[2].up, 2, t_mac2), 0);
    assert_true(held >= 300);
    assert_int_equal(dropped, 0);
    assert_true(t_until(t, t_flow_done, 10000));
    traffic_stats_get(t->vm, 1, &st);
    assert_int_equal(st.received, T_FLOW_FRAMES);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.duplicated, 0);
    assert_int_equal(st.reordered, 0);
    assert_int_equal(t->h[1].vif2_traffic, on_old);   /* None after hold. */
    assert_true(t->h[2].vif2_traffic >= held);
}

/* Sends 'n' raw frames from VIF 2 (host 1) to VIF 1's MAC. */
static void
t_send_from2(struct t_ctx *t, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *f = uplink_reserve(t->h[1].up, 2, 64);
        assert_non_null(f);
        memset(f, 0, 64);
        memcpy(f, (uint8_t[6]) { 2, 0, 0, 0, 0, 1 }, 6);
        memcpy(f + 6, t_mac2, 6);
        f[12] = 0x08;
    }
}

static int
t_marker_back(struct t_ctx *t)
{
    return t->h[1].markers == 1 && t->h[0].vif1_raw == 200;
}

/* The switchover's drain: host 1 sends frames from VIF 2 and, at once, a
 * MARKER, while host 0 keeps sending to VIF 2.  Every frame sent before
 * the marker is switched (none dropped as source_held), the VIF is held
 * exactly there, and every frame switched to it before the hold reaches
 * host 1 before the echo; the others are held, and all arrive, in order,
 * on the new host.  No timer anywhere. */
static void
marker_drains_both_ways_exactly(void **state)
{
    struct t_ctx *t = *state;
    struct fsw_counters c;
    uint64_t held, dropped;
    uint32_t at;

    t_send(t, 0, 10);                            /* VIF 1's MAC learned. */
    t_want_host = 1;
    t_want_n = 10;
    assert_true(t_until(t, t_arrived, 5000));
    t->h[1].n_seq = 0;
    t_send(t, 0, 300);                           /* In flight to VIF 2. */
    t_send_from2(t, 200);                        /* Batched, not flushed: */
    assert_int_equal(uplink_marker(t->h[1].up, 77, 2), 0);   /* flushed. */
    t_send(t, 300, 300);
    assert_true(t_until(t, t_marker_back, 5000));
    assert_int_equal(t->h[1].marker_token, 77);
    assert_int_equal(t->h[1].marker_vif, 2);
    assert_int_equal(dplane_markers(t->dp), 1);
    assert_true(fsw_port_is_held(dplane_switch(t->dp), 2));
    assert_int_equal(dplane_port_counters(t->dp, 2, &c), 0);
    assert_int_equal(c.drops[FSW_DROP_SOURCE_HELD], 0);
    /* Nothing reaches host 1 for VIF 2 after the echo: the rest is held. */
    at = t->h[1].n_seq_at_marker;
    t_want_held = 600 - at;
    assert_true(t_until(t, t_held, 5000));
    assert_int_equal(t->h[1].n_seq, at);
    t_assert_seq(&t->h[1], at);
    assert_int_equal(dplane_port_release(t->dp, 2, 2, &held, &dropped,
                                         NULL), 0);
    assert_int_equal(held, 600 - at);
    assert_int_equal(dropped, 0);
    t_want_host = 2;
    t_want_n = 600 - at;
    assert_true(t_until(t, t_arrived, 5000));
    for (uint32_t i = 0; i < 600 - at; i++) {
        assert_int_equal(t->h[2].seq[i], at + i);
    }
}

static int
t_refused2(struct t_ctx *t)
{
    return dplane_uplinks_refused(t->dp) == 2;
}

/* A MARKER for another host's VIF or an unknown one closes that uplink
 * with one log line; the others go on, and nothing is held. */
static void
bad_marker_closes_that_uplink(void **state)
{
    struct t_ctx *t = *state;

    assert_int_equal(uplink_marker(t->h[0].up, 1, 2), 0);
    assert_int_equal(uplink_marker(t->h[2].up, 1, 9), 0);
    assert_true(t_until(t, t_refused2, 5000));
    assert_false(fsw_port_is_held(dplane_switch(t->dp), 2));
    assert_int_equal(dplane_uplink_count(t->dp), 1);
    assert_int_equal(dplane_markers(t->dp), 0);
    assert_int_equal(t->h[0].markers + t->h[2].markers, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(held_frames_arrive_in_order_on_the_new_host),
        T(overflow_loses_exactly_the_frames_beyond_the_bound),
        T(rollback_releases_on_the_old_host),
        T(hold_and_release_refuse_bad_requests),
        T(announce_is_learned_and_flooded),
        cmocka_unit_test_setup_teardown(marker_drains_both_ways_exactly,
                                        t_setup_default, t_teardown),
        T(bad_marker_closes_that_uplink),
        cmocka_unit_test_setup_teardown(flow_survives_the_switchover_whole,
                                        t_setup_default, t_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
