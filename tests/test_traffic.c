/* Unit tests of the traffic model: frame format, generator pacing, and the
 * sink's loss/duplicate/reorder accounting from sequence numbers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "fx_err.h"
#include "fx_hist.h"
#include "traffic.h"

static const struct traffic_gen_cfg t_cfg = {
    .flow_id = 7, .src_vif = 100,
    .src_mac = { 2, 0, 0, 0, 0, 1 }, .dst_mac = { 2, 0, 0, 0, 0, 2 },
    .rate_pps = 1000, .size = 64, .count = 10,
};

static void
generated_frame_parses_back(void **state)
{
    struct traffic_gen g;
    uint8_t f[64];
    uint32_t flow;
    uint64_t seq, ts;

    (void) state;
    traffic_gen_init(&g, &t_cfg, 5000);
    traffic_gen_fill(&g, f, 5000);
    traffic_gen_fill(&g, f, 5001);
    assert_int_equal(traffic_parse(f, sizeof f, &flow, &seq, &ts), 0);
    assert_int_equal(flow, 7);
    assert_int_equal(seq, 1);
    assert_int_equal(ts, 5001);
    assert_memory_equal(f, t_cfg.dst_mac, 6);
    f[14] ^= 1;
    assert_int_equal(traffic_parse(f, sizeof f, &flow, &seq, &ts), -EBADMSG);
    assert_int_equal(traffic_parse(f, 20, &flow, &seq, &ts), -EBADMSG);
}

static void
generator_paces_by_rate_and_stops_at_count(void **state)
{
    struct traffic_gen g;
    uint8_t f[64];

    (void) state;
    traffic_gen_init(&g, &t_cfg, 1000000);
    assert_int_equal(traffic_gen_due(&g, 1000000), 1);
    assert_int_equal(traffic_gen_due(&g, 1004000), 5);   /* 1000 pps */
    for (int i = 0; i < 5; i++) {
        traffic_gen_fill(&g, f, 1004000);
    }
    assert_int_equal(traffic_gen_due(&g, 1004000), 0);
    assert_int_equal(traffic_gen_due(&g, 9000000), 5);   /* count 10 */
    assert_false(traffic_gen_done(&g));
    for (int i = 0; i < 5; i++) {
        traffic_gen_fill(&g, f, 9000000);
    }
    assert_true(traffic_gen_done(&g));
}

static void
generator_refuses_bad_config(void **state)
{
    struct traffic_gen_cfg c = t_cfg;
    struct fx_err err;

    (void) state;
    c.size = 63;
    assert_int_equal(traffic_gen_check(&c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "size"));
    c = t_cfg;
    c.rate_pps = 0;
    assert_int_equal(traffic_gen_check(&c, &err), -EINVAL);
    c = t_cfg;
    c.dst_mac[0] = 1;
    assert_int_equal(traffic_gen_check(&c, &err), -EINVAL);
}

static struct traffic_stats
t_feed(const uint64_t *seqs, size_t n)
{
    struct traffic_sink *s = malloc(sizeof *s);
    struct traffic_stats st;

    traffic_sink_init(s, 1);
    for (size_t i = 0; i < n; i++) {
        traffic_sink_rx(s, seqs[i], 10 + i);
    }
    traffic_sink_stats(s, &st);
    free(s);
    return st;
}

static void
sink_in_order_is_clean(void **state)
{
    const uint64_t seqs[] = { 0, 1, 2, 3, 4 };
    struct traffic_stats st = t_feed(seqs, 5);

    (void) state;
    assert_int_equal(st.received, 5);
    assert_int_equal(st.lost + st.duplicated + st.reordered, 0);
    assert_int_equal(st.p50_us, 12);
}

static void
sink_counts_gaps_as_lost(void **state)
{
    const uint64_t seqs[] = { 0, 1, 4, 5, 9 };
    struct traffic_stats st = t_feed(seqs, 5);

    (void) state;
    assert_int_equal(st.received, 5);
    assert_int_equal(st.lost, 5);            /* 2, 3, 6, 7, 8 */
    assert_int_equal(st.reordered, 0);
}

static void
sink_counts_duplicates_and_reorder(void **state)
{
    /* 3 arrives late (reordered, fills its gap), 1 twice, 3 twice. */
    const uint64_t seqs[] = { 0, 1, 2, 4, 3, 1, 5, 3 };
    struct traffic_stats st = t_feed(seqs, 8);

    (void) state;
    assert_int_equal(st.received, 8);
    assert_int_equal(st.duplicated, 2);
    assert_int_equal(st.reordered, 1);
    assert_int_equal(st.lost, 0);
}

static void
sink_window_slides_past_big_jumps(void **state)
{
    const uint64_t seqs[] = { 0, 100000, 100000 - 5, 100000 - 5,
                              100000 - TRAFFIC_WINDOW - 10, 100001 };
    struct traffic_stats st = t_feed(seqs, 6);

    (void) state;
    assert_int_equal(st.duplicated, 1);      /* Inside the window. */
    assert_int_equal(st.reordered, 2);       /* One in, one too old. */
    assert_int_equal(st.lost, 100002 - 5);
}

static void
hist_percentiles_are_within_a_bucket(void **state)
{
    struct fx_hist h;

    (void) state;
    fx_hist_init(&h);
    for (uint64_t v = 1; v <= 1000; v++) {
        fx_hist_add(&h, v);
    }
    assert_in_range(fx_hist_pct(&h, 50), 480, 500);
    assert_in_range(fx_hist_pct(&h, 99), 960, 990);
    assert_int_equal(h.max, 1000);
}

/* Sequence numbers are whatever a frame says: the last ones of the
 * 64-bit space are accounted for like any other (the window's advance to
 * the largest one never ended). */
static void
sink_takes_the_last_sequence_numbers(void **state)
{
    const uint64_t seqs[] = { UINT64_MAX - 2, UINT64_MAX, UINT64_MAX - 1,
                              UINT64_MAX };
    struct traffic_stats st = t_feed(seqs, 4);

    (void) state;
    assert_int_equal(st.received, 4);
    assert_int_equal(st.reordered, 1);
    assert_int_equal(st.duplicated, 1);
}

/* ---- Migration: a traffic state that could not have been exported ---- */

static uint8_t *
t_no_room(void *arg, uint32_t vif, uint32_t len)
{
    (void) arg;
    (void) vif;
    (void) len;
    return NULL;
}

static void
t_no_flush(void *arg)
{
    (void) arg;
}

/* Exports flow 7's generator and sink from a fresh traffic model into
 * '*bufp'; the generator's record comes first. */
static size_t
t_export(struct event_base *base, uint8_t **bufp)
{
    const struct traffic_io io = { t_no_room, t_no_flush, NULL };
    struct traffic *t = traffic_create(base, &io);
    const uint32_t flow = t_cfg.flow_id;
    size_t size;

    assert_int_equal(traffic_gen_start(t, &t_cfg, NULL), 0);
    assert_int_equal(traffic_sink_open(t, flow, NULL), 0);
    assert_int_equal(traffic_export(t, &flow, 1, &flow, 1, bufp, &size), 0);
    traffic_destroy(t);
    return size;
}

/* Imports 'buf' into a fresh model; returns the result and how many
 * flows it then has in '*flowsp'. */
static int
t_import(struct event_base *base, const uint8_t *buf, size_t size,
         uint32_t *flowsp, struct fx_err *err)
{
    const struct traffic_io io = { t_no_room, t_no_flush, NULL };
    struct traffic *t = traffic_create(base, &io);
    uint32_t ids[TRAFFIC_MAX_FLOWS];
    int rc = traffic_import(t, buf, size, err);

    *flowsp = traffic_flow_ids(t, ids, TRAFFIC_MAX_FLOWS);
    traffic_destroy(t);
    return rc;
}

/* A migration source is another host: what it sends is checked before
 * it runs here.  A generator of 1-byte frames wrote its 38-byte header
 * past the uplink room it took, a sink's flag that is no bool was read
 * as one, and a record of one flow could hold another's state. */
static void
import_refuses_state_it_could_not_have_exported(void **state)
{
    const size_t gen = 8 + 8, sink = gen + sizeof(struct traffic_gen) + 8;
    struct event_base *base = event_base_new();
    uint32_t one = 1, flows;
    struct fx_err err;
    uint8_t *buf;
    size_t size = t_export(base, &buf);

    (void) state;
    assert_int_equal(t_import(base, buf, size, &flows, &err), 0);
    assert_int_equal(flows, 1);

    memcpy(buf + gen + offsetof(struct traffic_gen_cfg, size), &one, 4);
    assert_int_equal(t_import(base, buf, size, &flows, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "frame size 1"));
    assert_int_equal(flows, 0);
    free(buf);

    size = t_export(base, &buf);
    buf[sink + offsetof(struct traffic_sink, any)] = 2;
    assert_int_equal(t_import(base, buf, size, &flows, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "damaged sink"));
    assert_int_equal(flows, 1);     /* The generator before it stays. */
    free(buf);

    size = t_export(base, &buf);
    buf[gen + offsetof(struct traffic_gen_cfg, flow_id)] ^= 1;
    assert_int_equal(t_import(base, buf, size, &flows, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "holds flow"));
    free(buf);
    event_base_free(base);
}

/* ---- What a host reports of the flows it runs ---- */

static uint8_t *
no_room(void *arg, uint32_t vif, uint32_t len)
{
    (void) arg;
    (void) vif;
    (void) len;
    return NULL;
}

static void
no_flush(void *arg)
{
    (void) arg;
}

/* Whether 'ends' ('n') has flow 'id''s end 'sender' with the MACs of
 * t_cfg. */
static bool
has_end(const struct traffic_end *ends, size_t n, uint32_t id, bool sender)
{
    for (size_t i = 0; i < n; i++) {
        if (ends[i].flow_id == id && ends[i].sender == sender
            && !memcmp(ends[i].src_mac, t_cfg.src_mac, 6)
            && !memcmp(ends[i].dst_mac, t_cfg.dst_mac, 6)) {
            return true;
        }
    }
    return false;
}

/* A restarted fabric learns its flows from these: each generator and
 * sink with its flow's MACs, which move with the guest. */
static void
ends_are_reported_and_move_with_the_guest(void **state)
{
    struct event_base *base = event_base_new();
    const struct traffic_io io = { no_room, no_flush, NULL };
    struct traffic *src = traffic_create(base, &io);
    struct traffic *dst = traffic_create(base, &io);
    struct traffic_end ends[8];
    const uint32_t gens[] = { 7 }, sinks[] = { 7, 8 };
    uint8_t *buf;
    size_t size;

    (void) state;
    assert_int_equal(traffic_gen_start(src, &t_cfg, NULL), 0);
    assert_int_equal(traffic_sink_open(src, 7, NULL), 0);
    assert_int_equal(traffic_sink_open(src, 8, NULL), 0);
    assert_int_equal(traffic_sink_set_macs(src, 7, t_cfg.src_mac,
                                           t_cfg.dst_mac), 0);
    assert_int_equal(traffic_sink_set_macs(src, 8, t_cfg.src_mac,
                                           t_cfg.dst_mac), 0);
    assert_int_equal(traffic_sink_set_macs(src, 9, t_cfg.src_mac,
                                           t_cfg.dst_mac), -ENOENT);
    assert_int_equal(traffic_ends(src, ends, 8), 3);
    assert_true(has_end(ends, 3, 7, true));
    assert_true(has_end(ends, 3, 7, false));
    assert_true(has_end(ends, 3, 8, false));
    assert_int_equal(traffic_ends(src, ends, 2), 2);
    /* Migrated: the destination reports them, the source none. */
    assert_int_equal(traffic_export(src, gens, 1, sinks, 2, &buf, &size), 0);
    assert_int_equal(traffic_import(dst, buf, size, NULL), 0);
    free(buf);
    traffic_forget(src, gens, 1, sinks, 2);
    assert_int_equal(traffic_ends(src, ends, 8), 0);
    assert_int_equal(traffic_ends(dst, ends, 8), 3);
    assert_true(has_end(ends, 3, 7, true));
    assert_true(has_end(ends, 3, 7, false));
    assert_true(has_end(ends, 3, 8, false));
    traffic_destroy(src);
    traffic_destroy(dst);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_frame_parses_back),
        cmocka_unit_test(generator_paces_by_rate_and_stops_at_count),
        cmocka_unit_test(generator_refuses_bad_config),
        cmocka_unit_test(sink_in_order_is_clean),
        cmocka_unit_test(sink_counts_gaps_as_lost),
        cmocka_unit_test(sink_counts_duplicates_and_reorder),
        cmocka_unit_test(sink_window_slides_past_big_jumps),
        cmocka_unit_test(hist_percentiles_are_within_a_bucket),
        cmocka_unit_test(ends_are_reported_and_move_with_the_guest),
        cmocka_unit_test(sink_takes_the_last_sequence_numbers),
        cmocka_unit_test(import_refuses_state_it_could_not_have_exported),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
