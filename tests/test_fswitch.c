/* Unit tests of the switching engine: isolation, learning, flooding,
 * counters, a VIF going down, and 4096 ports. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dplane/fsw.h"
#include "fx_err.h"
#include "fx_limits.h"

#define T_HOSTS 3

struct t_ctx {
    struct fswitch *sw;
    struct fsw_out *out;
    uint8_t buf[8][64];
    struct fsw_frame in[8];
    size_t n;
};

/* Test MAC of VIF 'v': 02:00:00:00:hi:lo, unicast, locally administered. */
static void
t_mac(uint8_t mac[6], uint32_t v)
{
    const uint8_t m[6] = { 2, 0, 0, (uint8_t) (v >> 16), (uint8_t) (v >> 8),
                           (uint8_t) v };
    memcpy(mac, m, 6);
}

static const uint8_t t_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* Queues a frame from VIF 'src' to 'dst' MAC (NULL: the MAC of VIF
 * 'dst_vif'). */
static void
t_frame(struct t_ctx *t, uint32_t src, const uint8_t *dst, uint32_t dst_vif)
{
    uint8_t *b = t->buf[t->n];

    memset(b, 0, 64);
    if (dst) {
        memcpy(b, dst, 6);
    } else {
        t_mac(b, dst_vif);
    }
    t_mac(b + 6, src);
    b[12] = 0x08;
    t->in[t->n] = (struct fsw_frame) { .src_vif = src, .len = 64,
                                       .data = b };
    t->n++;
}

/* The host whose uplink sends frames of 'vif': the port's own (a held
 * port's too), host 0 for an unknown VIF. */
static uint32_t
t_uplink_of(const struct t_ctx *t, uint32_t vif)
{
    uint32_t host = fsw_port_host(t->sw, vif);

    return host == UINT32_MAX ? 0 : host;
}

/* Switches the queued frames as their hosts' uplinks would send them: in
 * order, each run of frames from one host a batch of its own. */
static void
t_run(struct t_ctx *t)
{
    size_t i = 0;

    fsw_out_reset(t->out);
    while (i < t->n) {
        uint32_t host = t_uplink_of(t, t->in[i].src_vif);
        size_t j = i + 1;

        while (j < t->n && t_uplink_of(t, t->in[j].src_vif) == host) {
            j++;
        }
        fsw_switch_batch(t->sw, host, t->in + i, j - i, t->out);
        i = j;
    }
    t->n = 0;
}

/* Returns how many deliveries went to 'vif' in the last batch. */
static int
t_got(const struct t_ctx *t, uint32_t vif)
{
    int n = 0;

    for (uint32_t h = 0; h < t->out->n_hosts; h++) {
        for (uint32_t i = 0; i < t->out->hosts[h].n; i++) {
            n += t->out->hosts[h].d[i].dst_vif == vif;
        }
    }
    return n;
}

static int
t_total(const struct t_ctx *t)
{
    int n = 0;

    for (uint32_t h = 0; h < t->out->n_hosts; h++) {
        n += (int) t->out->hosts[h].n;
    }
    return n;
}

static void
t_port(struct t_ctx *t, uint32_t vif, uint32_t host, uint16_t vlan)
{
    assert_int_equal(fsw_port_add(t->sw, vif, host, &vlan, 1, NULL), 0);
    assert_int_equal(fsw_port_set_up(t->sw, vif, true, NULL), 0);
}

/* VIFs 1,2,3 on VLAN 10 (hosts 0,1,2); VIFs 4,5 on VLAN 20. */
static int
t_setup(void **state)
{
    static struct t_ctx t;

    memset(&t, 0, sizeof t);
    t.sw = fsw_create(64, T_HOSTS, 256);
    t.out = fsw_out_create(T_HOSTS, 64);
    t_port(&t, 1, 0, 10);
    t_port(&t, 2, 1, 10);
    t_port(&t, 3, 2, 10);
    t_port(&t, 4, 0, 20);
    t_port(&t, 5, 1, 20);
    *state = &t;
    return 0;
}

static int
t_teardown(void **state)
{
    struct t_ctx *t = *state;

    fsw_out_destroy(t->out);
    fsw_destroy(t->sw);
    return 0;
}

static void
broadcast_floods_within_its_vlan_only(void **state)
{
    struct t_ctx *t = *state;

    t_frame(t, 1, t_bcast, 0);
    t_run(t);
    assert_int_equal(t_got(t, 2), 1);
    assert_int_equal(t_got(t, 3), 1);
    assert_int_equal(t_got(t, 1), 0);        /* Never back to the source. */
    assert_int_equal(t_got(t, 4) + t_got(t, 5), 0);
    assert_int_equal(t_total(t), 2);
}

static void
vlan10_frames_never_reach_vlan20(void **state)
{
    struct t_ctx *t = *state;
    struct fsw_counters c;
    uint32_t vif;
    uint8_t mac4[6];

    /* VIF 4 (VLAN 20) speaks first so its MAC is learned... on VLAN 20. */
    t_frame(t, 4, t_bcast, 0);
    t_run(t);
    assert_int_equal(t_got(t, 5), 1);
    /* A VLAN 10 frame to VIF 4's MAC is unknown on VLAN 10: it floods
     * VLAN 10 and never reaches VIF 4 or 5. */
    t_frame(t, 1, NULL, 4);
    t_frame(t, 2, NULL, 5);
    t_run(t);
    assert_int_equal(t_got(t, 4) + t_got(t, 5), 0);
    t_mac(mac4, 4);
    assert_true(fsw_mac_lookup(t->sw, 20, mac4, &vif));
    assert_int_equal(vif, 4);
    assert_false(fsw_mac_lookup(t->sw, 10, mac4, &vif));
    assert_int_equal(fsw_port_counters(t->sw, 4, &c), 0);
    assert_int_equal(c.tx_frames, 0);
}

static void
tagged_frame_outside_port_vlans_is_dropped(void **state)
{
    struct t_ctx *t = *state;
    struct fsw_counters c;

    t_frame(t, 1, t_bcast, 0);
    t->buf[0][12] = 0x81;            /* 802.1Q tag, VID 20. */
    t->buf[0][13] = 0x00;
    t->buf[0][14] = 0x00;
    t->buf[0][15] = 20;
    t_run(t);
    assert_int_equal(t_total(t), 0);
    assert_int_equal(fsw_port_counters(t->sw, 1, &c), 0);
    assert_int_equal(c.drops[FSW_DROP_VLAN], 1);
}

static void
learned_mac_is_unicast_unknown_is_flooded(void **state)
{
    struct t_ctx *t = *state;
    uint32_t vif;
    uint8_t mac[6];

    t_frame(t, 1, NULL, 2);          /* 2 unknown yet: flood. */
    t_run(t);
    assert_int_equal(t_total(t), 2);
    t_frame(t, 2, NULL, 1);          /* 1 learned: unicast; learns 2. */
    t_run(t);
    assert_int_equal(t_total(t), 1);
    assert_int_equal(t_got(t, 1), 1);
    assert_int_equal(t->out->hosts[0].n, 1);   /* VIF 1 lives on host 0. */
    t_frame(t, 1, NULL, 2);
    t_run(t);
    assert_int_equal(t_total(t), 1);
    assert_int_equal(t_got(t, 2), 1);
    t_mac(mac, 2);
    assert_true(fsw_mac_lookup(t->sw, 10, mac, &vif));
    assert_int_equal(vif, 2);
    assert_int_equal(fsw_mac_count(t->sw), 2);
}

static void
counters_count_frames_bytes_and_drops(void **state)
{
    struct t_ctx *t = *state;
    struct fsw_counters c1, c2;

    t_frame(t, 2, t_bcast, 0);
    t_frame(t, 1, NULL, 2);
    t_frame(t, 1, NULL, 2);
    t_frame(t, 77, NULL, 2);         /* No such VIF. */
    t->in[3].src_vif = 77;
    t_run(t);
    fsw_port_counters(t->sw, 1, &c1);
    fsw_port_counters(t->sw, 2, &c2);
    assert_int_equal(c1.rx_frames, 2);
    assert_int_equal(c1.rx_bytes, 128);
    assert_int_equal(c1.tx_frames, 1);       /* The broadcast. */
    assert_int_equal(c2.rx_frames, 1);
    assert_int_equal(c2.tx_frames, 2);
    assert_int_equal(c2.tx_bytes, 128);
    assert_int_equal(fsw_unknown_vif_drops(t->sw), 1);
    assert_string_equal(fsw_drop_name(FSW_DROP_VIF_DOWN), "vif_down");
}

static void
down_vif_drops_its_frames_both_ways(void **state)
{
    struct t_ctx *t = *state;
    struct fsw_counters c;

    t_frame(t, 2, t_bcast, 0);       /* Learn 2. */
    t_run(t);
    assert_int_equal(fsw_port_set_up(t->sw, 2, false, NULL), 0);
    t_frame(t, 1, NULL, 2);          /* To a down VIF. */
    t_frame(t, 2, NULL, 1);          /* From a down VIF. */
    t_frame(t, 1, t_bcast, 0);       /* Flood skips it. */
    t_run(t);
    assert_int_equal(t_got(t, 2), 0);
    assert_int_equal(t_got(t, 3), 1);
    assert_int_equal(t_got(t, 1), 0);
    fsw_port_counters(t->sw, 2, &c);
    assert_int_equal(c.drops[FSW_DROP_VIF_DOWN], 2);
    assert_int_equal(fsw_port_set_up(t->sw, 2, true, NULL), 0);
    t_frame(t, 1, NULL, 2);
    t_run(t);
    assert_int_equal(t_got(t, 2), 1);
}

static void
host_without_uplink_or_room_drops_with_reason(void **state)
{
    struct t_ctx *t = *state;
    struct fsw_counters c;

    t->out->hosts[1].ready = false;  /* VIF 2's host. */
    t->out->hosts[2].cap = 0;        /* VIF 3's host. */
    t_frame(t, 1, t_bcast, 0);
    t_run(t);
    assert_int_equal(t_total(t), 0);
    fsw_port_counters(t->sw, 2, &c);
    assert_int_equal(c.drops[FSW_DROP_NO_UPLINK], 1);
    fsw_port_counters(t->sw, 3, &c);
    assert_int_equal(c.drops[FSW_DROP_QUEUE_FULL], 1);
}

static void
port_del_forgets_its_macs_and_refuses_twice(void **state)
{
    struct t_ctx *t = *state;
    struct fx_err err;
    uint16_t vlan = 10;
    uint32_t vif;
    uint8_t mac[6];

    t_frame(t, 2, t_bcast, 0);
    t_frame(t, 3, t_bcast, 0);
    t_run(t);
    assert_int_equal(fsw_port_del(t->sw, 2, NULL), 0);
    t_mac(mac, 2);
    assert_false(fsw_mac_lookup(t->sw, 10, mac, &vif));
    t_mac(mac, 3);
    assert_true(fsw_mac_lookup(t->sw, 10, mac, &vif));
    assert_int_equal(fsw_port_del(t->sw, 2, &err), -ENOENT);
    assert_int_equal(fsw_port_add(t->sw, 3, 0, &vlan, 1, &err), -EEXIST);
    vlan = 0;
    assert_int_equal(fsw_port_add(t->sw, 9, 0, &vlan, 1, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "VLAN"));
    t_frame(t, 1, t_bcast, 0);       /* Flood no longer reaches 2. */
    t_run(t);
    assert_int_equal(t_got(t, 2), 0);
    assert_int_equal(t_got(t, 3), 1);
}

static void
migrated_vif_is_delivered_on_its_new_host(void **state)
{
    struct t_ctx *t = *state;

    t_frame(t, 2, t_bcast, 0);       /* Learn 2, on host 1. */
    t_run(t);
    assert_int_equal(fsw_port_set_host(t->sw, 2, 2, NULL), 0);
    t_frame(t, 1, NULL, 2);
    t_run(t);
    assert_int_equal(t->out->hosts[1].n, 0);
    assert_int_equal(t->out->hosts[2].n, 1);
    assert_int_equal(t->out->hosts[2].d[0].dst_vif, 2);
    assert_int_equal(fsw_port_set_host(t->sw, 2, T_HOSTS, NULL), -EINVAL);
}

static void
mac_moving_to_another_vif_is_relearned(void **state)
{
    struct t_ctx *t = *state;
    uint32_t vif;
    uint8_t mac[6];

    t_frame(t, 2, t_bcast, 0);
    t_run(t);
    t_frame(t, 3, t_bcast, 0);
    memcpy(t->buf[0] + 6, (uint8_t[6]) { 2, 0, 0, 0, 0, 2 }, 6);
    t_run(t);                        /* VIF 3 now sends as VIF 2's MAC. */
    t_mac(mac, 2);
    assert_true(fsw_mac_lookup(t->sw, 10, mac, &vif));
    assert_int_equal(vif, 3);
    assert_int_equal(fsw_mac_count(t->sw), 1);
}

/* The port a MAC left learns it again when it comes back: a port's memory
 * of what it learned must not outlive the move. */
static void
mac_moving_back_is_relearned_on_its_first_vif(void **state)
{
    struct t_ctx *t = *state;
    const uint8_t mac2[6] = { 2, 0, 0, 0, 0, 2 };
    uint32_t vif;

    for (uint32_t src = 2; src <= 4; src++) {    /* 2, then 3, then 2. */
        t_frame(t, src == 4 ? 2 : src, t_bcast, 0);
        memcpy(t->buf[0] + 6, mac2, 6);
        t_run(t);
        assert_true(fsw_mac_lookup(t->sw, 10, mac2, &vif));
        assert_int_equal(vif, src == 4 ? 2 : src);
    }
    t_frame(t, 1, NULL, 2);
    t_run(t);
    assert_int_equal(t_got(t, 2), 1);
    assert_int_equal(t_total(t), 1);
}

/* Per-frame counters are 32-bit and folded into 64-bit ones before they
 * could wrap: frames claiming 3.75 GiB each (the switch reads only the
 * headers) add up exactly. */
static void
byte_counters_do_not_wrap_at_32_bits(void **state)
{
    struct t_ctx *t = *state;
    const uint32_t big = 0xF0000000u;
    struct fsw_counters c1, c2;

    for (int i = 0; i < 3; i++) {
        t_frame(t, 1, NULL, 2);
        t->in[t->n - 1].len = big;
    }
    t_run(t);
    assert_int_equal(fsw_port_counters(t->sw, 1, &c1), 0);
    assert_int_equal(fsw_port_counters(t->sw, 2, &c2), 0);
    assert_int_equal(c1.rx_frames, 3);
    assert_true(c1.rx_bytes == 3ull * big);
    assert_int_equal(c2.tx_frames, 3);
    assert_true(c2.tx_bytes == 3ull * big);
}

/* Switches the queued frames as one batch from the uplink of 'host',
 * whoever their VIFs are. */
static void
t_run_on(struct t_ctx *t, uint32_t host)
{
    fsw_out_reset(t->out);
    fsw_switch_batch(t->sw, host, t->in, t->n, t->out);
    t->n = 0;
}

/* A host speaks for its own VIFs only: frames naming VIF 1 (host 0) that
 * come on host 2's uplink, one of them with VIF 2's MAC as its source
 * (to steal its traffic), are dropped as wrong_host on VIF 1, not counted
 * as its rx, neither delivered nor learned; VIF 1's own frames still
 * go. */
static void
frames_from_another_hosts_uplink_are_dropped_not_learned(void **state)
{
    struct t_ctx *t = *state;
    struct fsw_counters c;
    uint32_t vif;
    uint8_t mac[6];

    t_frame(t, 1, t_bcast, 0);
    t_frame(t, 2, t_bcast, 0);
    t_run(t);                                /* 1 and 2 learned. */
    assert_int_equal(fsw_mac_count(t->sw), 2);
    t_frame(t, 1, NULL, 2);                  /* To VIF 2, as VIF 2. */
    memcpy(t->buf[0] + 6, (uint8_t[6]) { 2, 0, 0, 0, 0, 2 }, 6);
    t_frame(t, 1, t_bcast, 0);
    t_frame(t, 1, NULL, 3);                  /* Unknown: would flood. */
    t_run_on(t, 2);
    assert_int_equal(t_total(t), 0);
    assert_int_equal(t->out->held.n, 0);
    fsw_port_counters(t->sw, 1, &c);
    assert_int_equal(c.drops[FSW_DROP_WRONG_HOST], 3);
    assert_int_equal(c.rx_frames, 1);        /* Its own broadcast only. */
    assert_int_equal(fsw_mac_count(t->sw), 2);
    t_mac(mac, 2);
    assert_true(fsw_mac_lookup(t->sw, 10, mac, &vif));
    assert_int_equal(vif, 2);
    t_mac(mac, 3);
    assert_false(fsw_mac_lookup(t->sw, 10, mac, &vif));
    assert_string_equal(fsw_drop_name(FSW_DROP_WRONG_HOST), "wrong_host");
    t_frame(t, 1, NULL, 2);                  /* From its own host: goes. */
    t_run(t);
    assert_int_equal(t_got(t, 2), 1);
    /* Held: its own host's frames are source_held, another's wrong_host. */
    assert_int_equal(fsw_port_set_held(t->sw, 1, true, NULL), 0);
    t_frame(t, 1, NULL, 2);
    t_run_on(t, 0);
    t_frame(t, 1, NULL, 2);
    t_run_on(t, 1);
    assert_int_equal(t_total(t), 0);
    fsw_port_counters(t->sw, 1, &c);
    assert_int_equal(c.drops[FSW_DROP_SOURCE_HELD], 1);
    assert_int_equal(c.drops[FSW_DROP_WRONG_HOST], 4);
    assert_int_equal(c.rx_frames, 3);
}

/* Tags the last frame queued with 802.1Q VLAN 'vid'. */
static void
t_tag(struct t_ctx *t, uint16_t vid)
{
    uint8_t *b = t->buf[t->n - 1];

    b[12] = 0x81;
    b[13] = 0x00;
    b[14] = (uint8_t) (vid >> 8);
    b[15] = (uint8_t) vid;
    b[16] = 0x08;
    b[17] = 0x00;
}

/* A port carries every VLAN a port profile may have: frames tagged with
 * the last of FX_LIMITS_PROFILE_MAX_VLANS are flooded, learned and sent
 * unicast in that VLAN; one VLAN more is refused. */
static void
port_of_a_full_profile_switches_its_last_vlan(void **state)
{
    struct t_ctx *t = *state;
    const uint16_t last = 100 + FX_LIMITS_PROFILE_MAX_VLANS - 1;
    uint16_t vlans[FX_LIMITS_PROFILE_MAX_VLANS + 1];
    struct fsw_counters c;
    struct fx_err err;
    uint32_t vif;
    uint8_t mac[6];

    for (uint16_t i = 0; i <= FX_LIMITS_PROFILE_MAX_VLANS; i++) {
        vlans[i] = 100 + i;
    }
    for (uint32_t v = 6; v <= 7; v++) {
        assert_int_equal(fsw_port_add(t->sw, v, v == 6 ? 0 : 2, vlans,
                                      FX_LIMITS_PROFILE_MAX_VLANS, &err), 0);
        assert_int_equal(fsw_port_set_up(t->sw, v, true, NULL), 0);
    }
    assert_int_equal(fsw_port_add(t->sw, 8, 1, vlans,
                                  FX_LIMITS_PROFILE_MAX_VLANS + 1, &err),
                     -EINVAL);
    t_frame(t, 6, t_bcast, 0);
    t_tag(t, last);
    t_run(t);
    assert_int_equal(t_got(t, 7), 1);        /* Alone with 6 in 'last'. */
    assert_int_equal(t_total(t), 1);
    t_frame(t, 7, NULL, 6);
    t_tag(t, last);
    t_run(t);
    assert_int_equal(t_got(t, 6), 1);        /* Unicast: 6 was learned. */
    assert_int_equal(t_total(t), 1);
    t_mac(mac, 6);
    assert_true(fsw_mac_lookup(t->sw, last, mac, &vif));
    assert_int_equal(vif, 6);
    assert_false(fsw_mac_lookup(t->sw, 100, mac, &vif));
    t_mac(mac, 7);
    assert_true(fsw_mac_lookup(t->sw, last, mac, &vif));
    assert_int_equal(vif, 7);
    fsw_port_counters(t->sw, 7, &c);
    assert_int_equal(c.tx_frames, 1);
    assert_int_equal(c.drops[FSW_DROP_VLAN], 0);
    t_frame(t, 7, NULL, 6);
    t_tag(t, last + 1);                       /* Not one of its VLANs. */
    t_run(t);
    assert_int_equal(t_total(t), 0);
    fsw_port_counters(t->sw, 7, &c);
    assert_int_equal(c.drops[FSW_DROP_VLAN], 1);
}

static void
full_mac_table_refuses_learning_but_still_floods(void **state)
{
    struct fswitch *sw = fsw_create(4, 1, 2);
    struct fsw_out *out = fsw_out_create(1, 8);
    uint16_t vlan = 10;
    uint8_t b[64] = { 0 };
    struct fsw_frame f = { .src_vif = 1, .len = 64, .data = b };

    (void) state;
    fsw_port_add(sw, 1, 0, &vlan, 1, NULL);
    fsw_port_add(sw, 2, 0, &vlan, 1, NULL);
    fsw_port_set_up(sw, 1, true, NULL);
    fsw_port_set_up(sw, 2, true, NULL);
    for (uint32_t m = 1; m <= 3; m++) {
        t_mac(b + 6, 100 + m);
        t_mac(b, 999);
        fsw_out_reset(out);
        fsw_switch_batch(sw, 0, &f, 1, out);
        assert_int_equal(out->hosts[0].n, 1);    /* Flooded to VIF 2. */
    }
    assert_int_equal(fsw_mac_count(sw), 2);
    assert_int_equal(fsw_mac_full(sw), 1);
    fsw_out_destroy(out);
    fsw_destroy(sw);
}

/* 4096 ports, added and removed in a scrambled order, stay found. */
static void
many_ports_stay_reachable(void **state)
{
    struct fswitch *sw = fsw_create(4096, 4, 8192);
    struct fsw_out *out = fsw_out_create(4, 8);
    uint16_t vlan = 100;
    uint8_t b[64] = { 0 };
    struct fsw_frame f = { .len = 64, .data = b };
    struct fsw_counters c;

    (void) state;
    for (uint32_t i = 0; i < 4096; i++) {
        uint32_t vif = (i * 2654435761u) % 1000003u;
        assert_int_equal(fsw_port_add(sw, vif, i % 4, &vlan, 1, NULL), 0);
        fsw_port_set_up(sw, vif, true, NULL);
    }
    assert_int_equal(fsw_port_count(sw), 4096);
    assert_int_equal(fsw_port_add(sw, 5, 0, &vlan, 1, NULL), -ENOSPC);
    for (uint32_t i = 0; i < 4096; i += 2) {
        fsw_port_del(sw, (i * 2654435761u) % 1000003u, NULL);
    }
    for (uint32_t i = 1; i < 4096; i += 2) {
        uint32_t vif = (i * 2654435761u) % 1000003u;
        f.src_vif = vif;
        t_mac(b + 6, vif);
        t_mac(b, 0);                 /* Unknown: floods, learns. */
        fsw_out_reset(out);
        fsw_switch_batch(sw, i % 4, &f, 1, out);
        assert_int_equal(fsw_port_counters(sw, vif, &c), 0);
        assert_int_equal(c.rx_frames, 1);
    }
    assert_int_equal(fsw_mac_count(sw), 2048);
    assert_int_equal(fsw_unknown_vif_drops(sw), 0);
    fsw_out_destroy(out);
    fsw_destroy(sw);
}

/* A held port's unicast and flood share go to out->held, never to a
 * host; its own frames are dropped; released on another host, the MAC
 * table (unchanged) leads there. */
static void
held_port_frames_go_aside_then_follow_it(void **state)
{
    struct t_ctx *t = *state;
    struct fsw_counters c;

    t_frame(t, 2, t_bcast, 0);               /* Learn VIF 2 on host 1. */
    t_run(t);
    assert_int_equal(fsw_port_set_held(t->sw, 2, true, NULL), 0);
    assert_true(fsw_port_is_held(t->sw, 2));
    assert_int_equal(fsw_port_host(t->sw, 2), 1);
    t_frame(t, 1, NULL, 2);                  /* Unicast to 2. */
    t_frame(t, 1, t_bcast, 0);               /* Flood: 2 and 3. */
    t_frame(t, 2, NULL, 1);                  /* From the held port. */
    t_run(t);
    assert_int_equal(t_got(t, 2), 0);
    assert_int_equal(t_got(t, 3), 1);
    assert_int_equal(t_got(t, 1), 0);
    assert_int_equal(t->out->held.n, 2);
    assert_int_equal(t->out->held.d[0].dst_vif, 2);
    assert_int_equal(t->out->held.d[0].frame, 0);
    assert_int_equal(t->out->held.d[1].frame, 1);
    fsw_port_counters(t->sw, 2, &c);
    assert_int_equal(c.drops[FSW_DROP_SOURCE_HELD], 1);
    assert_int_equal(c.tx_frames, 0);        /* Not delivered yet. */
    assert_int_equal(fsw_port_account_held(t->sw, 2, 2, 128, 1), 0);
    fsw_port_counters(t->sw, 2, &c);
    assert_int_equal(c.tx_frames, 2);
    assert_int_equal(c.drops[FSW_DROP_HOLD_OVERFLOW], 1);
    assert_string_equal(fsw_drop_name(FSW_DROP_HOLD_OVERFLOW),
                        "hold_overflow");
    /* Moved while held: still held; released on host 2. */
    assert_int_equal(fsw_port_set_host(t->sw, 2, 2, NULL), 0);
    assert_int_equal(fsw_port_host(t->sw, 2), 2);
    t_frame(t, 1, NULL, 2);
    t_run(t);
    assert_int_equal(t->out->held.n, 1);
    assert_int_equal(t_got(t, 2), 0);
    assert_int_equal(fsw_port_set_held(t->sw, 2, false, NULL), 0);
    assert_int_equal(fsw_port_host(t->sw, 2), 2);
    t_frame(t, 1, NULL, 2);
    t_run(t);
    assert_int_equal(t->out->held.n, 0);
    assert_int_equal(t->out->hosts[2].n, 1);
    assert_int_equal(t->out->hosts[2].d[0].dst_vif, 2);
    assert_int_equal(t->out->hosts[1].n, 0);
}

static void
hold_of_unknown_vif_is_refused(void **state)
{
    struct t_ctx *t = *state;
    struct fx_err err;

    assert_int_equal(fsw_port_set_held(t->sw, 99, true, &err), -ENOENT);
    assert_false(fsw_port_is_held(t->sw, 99));
    assert_int_equal(fsw_port_host(t->sw, 99), UINT32_MAX);
    assert_int_equal(fsw_port_account_held(t->sw, 99, 1, 1, 1), -ENOENT);
}

/* The held list is bounded like a host's: beyond it, hold_overflow. */
static void
held_list_full_counts_overflow(void **state)
{
    struct t_ctx *t = *state;
    struct fsw_counters c;

    fsw_port_set_held(t->sw, 2, true, NULL);
    t->out->held.cap = 1;
    t_frame(t, 1, NULL, 2);
    t_frame(t, 1, NULL, 2);
    t_run(t);
    t->out->held.cap = 64;
    assert_int_equal(t->out->held.n, 1);
    fsw_port_counters(t->sw, 2, &c);
    assert_int_equal(c.drops[FSW_DROP_HOLD_OVERFLOW], 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(broadcast_floods_within_its_vlan_only),
        T(vlan10_frames_never_reach_vlan20),
        T(tagged_frame_outside_port_vlans_is_dropped),
        T(learned_mac_is_unicast_unknown_is_flooded),
        T(counters_count_frames_bytes_and_drops),
        T(down_vif_drops_its_frames_both_ways),
        T(host_without_uplink_or_room_drops_with_reason),
        T(port_del_forgets_its_macs_and_refuses_twice),
        T(migrated_vif_is_delivered_on_its_new_host),
        T(mac_moving_to_another_vif_is_relearned),
        T(mac_moving_back_is_relearned_on_its_first_vif),
        T(byte_counters_do_not_wrap_at_32_bits),
        T(held_port_frames_go_aside_then_follow_it),
        T(hold_of_unknown_vif_is_refused),
        T(held_list_full_counts_overflow),
        T(port_of_a_full_profile_switches_its_last_vlan),
        T(frames_from_another_hosts_uplink_are_dropped_not_learned),
        cmocka_unit_test(full_mac_table_refuses_learning_but_still_floods),
        cmocka_unit_test(many_ports_stay_reachable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
