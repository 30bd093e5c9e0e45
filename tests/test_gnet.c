/* gnet: the agent's uplink connects to the fabric's dplane and comes
 * back by itself after the fabric side goes away and returns. */
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
#include "gnet.h"
#include "uplink.h"
#include "vic.h"

struct t_ctx {
    struct event_base *base;
    struct event *tick;
    struct dplane *dp;
    struct vic *vic;
    struct gnet *g;
    uint32_t n_want;                 /* Uplinks t_uplinks waits for. */
    uint32_t n_asked;                /* Tickets gnet asked for. */
};

/* What agentd does when gnet wants an uplink: ask the fabric for a
 * ticket of its host (index 1 here) and hand it over; a fabric that is
 * away answers nothing. */
static void
t_want_uplink(void *arg)
{
    struct t_ctx *t = arg;
    struct dframe_ticket tk;

    t->n_asked++;
    if (t->dp && dplane_ticket_issue(t->dp, 1, &tk, NULL) == 0) {
        gnet_set_uplink(t->g, dplane_listen_port(t->dp), &tk);
    }
}

/* Hands gnet a ticket of host 1, as agentd after registering. */
static void
t_set_uplink(struct t_ctx *t)
{
    struct dframe_ticket tk;

    assert_int_equal(dplane_ticket_issue(t->dp, 1, &tk, NULL), 0);
    gnet_set_uplink(t->g, dplane_listen_port(t->dp), &tk);
}

static void
t_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
}

static int
t_connected(struct t_ctx *t)
{
    return t->dp && dplane_uplink_count(t->dp) == 1;
}

static int
t_uplinks(struct t_ctx *t)
{
    return dplane_uplink_count(t->dp) == t->n_want;
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

static void
t_dplane(struct t_ctx *t, const char *listen)
{
    const struct dplane_cfg cfg = {
        .listen = listen, .max_ports = 16, .max_hosts = 2, .max_macs = 64,
    };
    struct fx_err err;

    assert_int_equal(dplane_create(t->base, &cfg, &t->dp, &err), 0);
}

static void
uplink_reconnects_after_the_fabric_returns(void **state)
{
    const struct timeval tv = { 0, 5000 };
    struct t_ctx t = { 0 };
    struct fx_err err;
    char addr[32];
    uint16_t port;

    (void) state;
    t.base = event_base_new();
    t.tick = event_new(t.base, -1, EV_PERSIST, t_tick_cb, NULL);
    event_add(t.tick, &tv);
    t_dplane(&t, "127.0.0.1:0");
    port = dplane_listen_port(t.dp);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    t.vic = vic_create("M81KR", 4, &err);
    t.g = gnet_create(t.base, t.vic, &(struct gnet_cfg) {
        addr, 10, 40, t_want_uplink, &t, NULL, NULL });

    t_set_uplink(&t);
    assert_true(t_until(&t, t_connected, 5000));
    assert_int_equal(t.n_asked, 0);

    /* The fabric side goes away: the agent notices and, once it is back
     * on the same port, asks for a new ticket (the old one was good once)
     * and connects again with it. */
    dplane_destroy(t.dp);
    t.dp = NULL;
    for (int i = 0; i < 20; i++) {
        event_base_loop(t.base, EVLOOP_ONCE);
    }
    t_dplane(&t, addr);
    assert_true(t_until(&t, t_connected, 5000));
    assert_true(t.n_asked >= 1);

    /* Told the same port again (a re-registration): kept, and the new
     * ticket lies unused until it expires. */
    t_set_uplink(&t);
    assert_true(t_connected(&t));
    assert_int_equal(dplane_tickets_pending(t.dp), 1);

    gnet_destroy(t.g);
    dplane_destroy(t.dp);
    vic_destroy(t.vic);
    event_free(t.tick);
    event_base_free(t.base);
}

static uint64_t t_rarps;         /* RARP frames host 0 received. */

static void
t_rx(void *arg, uint32_t vif, const uint8_t *f, size_t len)
{
    (void) arg;
    (void) vif;
    if (len >= 14 && (f[12] << 8 | f[13]) == UPLINK_ETH_P_RARP) {
        t_rarps++;
    }
}

static int t_one_rarp(struct t_ctx *t) { (void) t; return t_rarps >= 1; }
static int
t_all_rarps(struct t_ctx *t)
{
    (void) t;
    return t_rarps >= GNET_ANNOUNCE_ROUNDS;
}

/* After resume the destination announces VIF 7 from its vNIC: the first
 * RARP at once, learned by the fabric and flooded to VIF 8 on host 0;
 * then the other rounds on the timer, no more. */
static void
announce_sends_rarp_rounds_the_fabric_learns(void **state)
{
    const struct timeval tv = { 0, 5000 };
    const uint8_t mac[6] = { 2, 0, 0, 0, 0, 7 };
    const uint16_t vlan = 10;
    struct vic_vnic_cfg vcfg = { .vlan = vlan };
    struct t_ctx t = { 0 };
    struct uplink *peer;
    struct fx_err err;
    uint32_t vnic, vif = 0;
    char addr[32];

    (void) state;
    memcpy(vcfg.mac, mac, 6);
    t.base = event_base_new();
    t.tick = event_new(t.base, -1, EV_PERSIST, t_tick_cb, NULL);
    event_add(t.tick, &tv);
    t_dplane(&t, "127.0.0.1:0");
    snprintf(addr, sizeof addr, "127.0.0.1:%u", dplane_listen_port(t.dp));
    {
        struct uplink_cfg ucfg = { .fabric = addr, .rx = t_rx };
        assert_int_equal(dplane_ticket_issue(t.dp, 0, &ucfg.ticket, NULL),
                         0);
        assert_int_equal(uplink_create(t.base, &ucfg, &peer, NULL), 0);
    }
    t.vic = vic_create("M81KR", 4, &err);
    assert_int_equal(vic_vnic_reserve(t.vic, &vnic, &err), 0);
    assert_int_equal(vic_vnic_bind(t.vic, vnic, &vcfg, &err), 0);
    t.g = gnet_create(t.base, t.vic, &(struct gnet_cfg) { addr, 10, 40,
                                                        NULL, NULL, NULL,
                                                        NULL });
    assert_int_equal(gnet_announce(t.g, 7, &err), -ENOENT);
    assert_int_equal(gnet_map_vnic(t.g, 7, vnic, mac, &err), 0);
    for (uint32_t v = 7; v <= 8; v++) {
        assert_int_equal(dplane_port_add(t.dp, v, v == 7, &vlan, 1, NULL), 0);
        assert_int_equal(dplane_port_set_up(t.dp, v, true, NULL), 0);
    }
    t_set_uplink(&t);
    t.n_want = 2;
    assert_true(t_until(&t, t_uplinks, 5000));

    assert_int_equal(gnet_announce(t.g, 7, &err), 0);
    assert_int_equal(gnet_announces(t.g), 1);
    assert_true(t_until(&t, t_one_rarp, 5000));
    assert_true(fsw_mac_lookup(dplane_switch(t.dp), vlan, mac, &vif));
    assert_int_equal(vif, 7);
    assert_true(t_until(&t, t_all_rarps, 5000));
    assert_int_equal(gnet_announces(t.g), GNET_ANNOUNCE_ROUNDS);
    assert_int_equal(gnet_announce_refused(t.g), 0);

    gnet_destroy(t.g);
    uplink_destroy(peer);
    dplane_destroy(t.dp);
    vic_destroy(t.vic);
    event_free(t.tick);
    event_base_free(t.base);
}

/* Frames a real guest took off its vNIC's rx ring, each one's number
 * (its first two bytes) kept: the order they came in. */
struct t_rx {
    unsigned n;
    uint16_t seq[2 * VIC_RING_SIZE];
};

static void
t_guest_rx(void *arg, uint32_t vnic, const uint8_t *frame, size_t len)
{
    struct t_rx *rx = arg;

    (void) vnic;
    assert_true(len >= 2 && rx->n < 2 * VIC_RING_SIZE);
    rx->seq[rx->n++] = (uint16_t) (frame[0] << 8 | frame[1]);
}

static void
t_number(uint8_t *frame, uint32_t seq)
{
    frame[0] = (uint8_t) (seq >> 8);
    frame[1] = (uint8_t) seq;
}

static uint32_t
t_rx_pending(struct vic *vic, uint32_t vnic)
{
    struct vic_vnic_info info;

    assert_int_equal(vic_vnic_info(vic, vnic, &info, NULL), 0);
    return info.rx_pending;
}

/* A real guest asked to stop may still run a while: its ring keeps its
 * frames for the checkpoint until it fills to GNET_HOLD_HIGH, then the
 * oldest go to it down to GNET_HOLD_LOW (a full ring would drop); once it
 * stopped every frame stays; released, they go to it in order. */
static void
guest_hold_keeps_room_until_stopped(void **state)
{
    const struct vic_vnic_cfg cfg = { { 0x00, 0x25, 0xb5, 0, 0, 1 }, 10, 0,
                                      0 };
    struct event_base *base = event_base_new();
    static struct t_rx rx;
    uint8_t frame[64] = { 0 };
    struct fx_err err;
    struct vic *vic = vic_create("M81KR", 4, &err);
    struct gnet *g = gnet_create(base, vic, &(struct gnet_cfg) {
        "127.0.0.1:1", 10, 40, NULL, NULL, NULL, NULL });
    uint32_t vnic, seq = 0;

    (void) state;
    assert_non_null(vic);
    assert_non_null(g);
    gnet_on_guest_rx(g, t_guest_rx, &rx);
    assert_int_equal(vic_vnic_reserve(vic, &vnic, &err), 0);
    assert_int_equal(vic_vnic_bind(vic, vnic, &cfg, &err), 0);

    gnet_guest_hold(g, vnic, GNET_HOLD_STOPPING);
    for (unsigned i = 0; i < GNET_HOLD_HIGH - 1; i++) {
        t_number(frame, seq++);
        assert_int_equal(vic_vnic_rx_push(vic, vnic, frame, sizeof frame,
                                          &err), 0);
        gnet_guest_kick(g, vnic);
    }
    assert_int_equal(rx.n, 0);
    t_number(frame, seq++);
    assert_int_equal(vic_vnic_rx_push(vic, vnic, frame, sizeof frame, &err),
                     0);
    gnet_guest_kick(g, vnic);
    assert_int_equal(rx.n, GNET_HOLD_HIGH - GNET_HOLD_LOW);
    assert_int_equal(t_rx_pending(vic, vnic), GNET_HOLD_LOW);

    gnet_guest_hold(g, vnic, GNET_HOLD_STOPPED);
    for (unsigned i = 0; i < 5; i++) {
        t_number(frame, seq++);
        assert_int_equal(vic_vnic_rx_push(vic, vnic, frame, sizeof frame,
                                          &err), 0);
        gnet_guest_kick(g, vnic);
    }
    assert_int_equal(rx.n, GNET_HOLD_HIGH - GNET_HOLD_LOW);
    assert_int_equal(t_rx_pending(vic, vnic), GNET_HOLD_LOW + 5);

    gnet_guest_hold(g, vnic, GNET_HOLD_NONE);
    gnet_guest_kick(g, vnic);
    assert_int_equal(rx.n, seq);
    assert_int_equal(t_rx_pending(vic, vnic), 0);
    for (unsigned i = 0; i < rx.n; i++) {
        assert_int_equal(rx.seq[i], i);
    }
    gnet_destroy(g);
    vic_destroy(vic);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uplink_reconnects_after_the_fabric_returns),
        cmocka_unit_test(announce_sends_rarp_rounds_the_fabric_learns),
        cmocka_unit_test(guest_hold_keeps_room_until_stopped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
