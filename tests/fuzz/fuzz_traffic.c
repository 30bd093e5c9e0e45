/* fuzz_traffic: the guest's traffic state as the migration stream brings
 * it (traffic_import() in agent/traffic.c, which agentd's load callback
 * calls with the bytes of the "traffic" DEVICE record), then used as the
 * destination uses it.
 *
 * After the import, every flow's generator is resumed and ticks once
 * into an uplink that hands it exactly the bytes it asks for (so that a
 * frame written past its size is caught), every sink receives frames of
 * its flow and its stats are read; the input itself is also delivered as
 * a frame, which exercises traffic_parse(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "fx_err.h"
#include "traffic.h"

#define FZ_MAX_FRAMES 64u      /* Frames the fake uplink takes per tick. */

/* The fake uplink: each reservation is its own allocation. */
struct fz_uplink {
    uint8_t *frames[FZ_MAX_FRAMES];
    size_t n;
    int flushes;
};

static uint8_t *
fz_reserve(void *arg, uint32_t vif, uint32_t len)
{
    struct fz_uplink *up = arg;

    (void) vif;
    if (up->n == FZ_MAX_FRAMES) {
        return NULL;            /* Pushes back, as a full uplink does. */
    }
    up->frames[up->n] = malloc(len ? len : 1);
    if (!up->frames[up->n]) {
        abort();
    }
    return up->frames[up->n++];
}

static void
fz_flush(void *arg)
{
    struct fz_uplink *up = arg;

    for (size_t i = 0; i < up->n; i++) {
        free(up->frames[i]);
    }
    up->n = 0;
    up->flushes++;
}

/* Delivers to flow 'id''s sink the frames a generator would send. */
static void
fz_receive(struct traffic *t, uint32_t id)
{
    static const uint64_t seqs[] = { 0, 1, 1, 4095, 4096, 70000, 3,
                                     UINT64_MAX };
    struct traffic_gen_cfg cfg = { .flow_id = id, .rate_pps = 1,
                                   .size = TRAFFIC_MIN_SIZE };
    struct traffic_gen g;
    uint8_t frame[TRAFFIC_MIN_SIZE];
    struct traffic_stats st;

    traffic_gen_init(&g, &cfg, 0);
    for (size_t i = 0; i < sizeof seqs / sizeof *seqs; i++) {
        g.sent = seqs[i];
        traffic_gen_fill(&g, frame, 0);
        traffic_rx(t, 0, frame, sizeof frame);
    }
    if (traffic_stats_get(t, id, &st)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event_base *base = event_base_new();
    struct fz_uplink up = { .n = 0 };
    struct traffic_io io = { fz_reserve, fz_flush, &up };
    struct traffic *t;
    uint32_t ids[TRAFFIC_MAX_FLOWS];
    uint32_t n;
    struct fx_err err;

    if (!base || !(t = traffic_create(base, &io))) {
        abort();
    }
    if (traffic_import(t, data, size, &err) && !err.msg[0]) {
        abort();
    }
    n = traffic_flow_ids(t, ids, TRAFFIC_MAX_FLOWS);
    traffic_resume(t, ids, n);
    if (!traffic_idle(t)) {
        /* The generator timer's first tick, TRAFFIC_TICK_US away. */
        event_base_loop(base, EVLOOP_ONCE);
    }
    for (uint32_t i = 0; i < n; i++) {
        fz_receive(t, ids[i]);
    }
    traffic_rx(t, 0, data, size);
    traffic_destroy(t);
    fz_flush(&up);
    event_base_free(base);
    return 0;
}
