/* fx_hist: see fx_hist.h. */
#include "fx_hist.h"

#include <string.h>

void
fx_hist_init(struct fx_hist *h)
{
    memset(h, 0, sizeof *h);
}

static unsigned
fx_hist_index(uint64_t v)
{
    unsigned msb, shift, idx;

    if (v < 64) {
        return (unsigned) v;
    }
    msb = 63u - (unsigned) __builtin_clzll(v);
    shift = msb - 5;
    idx = 64 + (msb - 6) * 32 + (unsigned) ((v >> shift) & 31);
    return idx < FX_HIST_BUCKETS ? idx : FX_HIST_BUCKETS - 1;
}

static uint64_t
fx_hist_low(unsigned idx)
{
    unsigned msb, sub;

    if (idx < 64) {
        return idx;
    }
    msb = (idx - 64) / 32 + 6;
    sub = (idx - 64) % 32;
    return (uint64_t) (32 + sub) << (msb - 5);
}

void
fx_hist_add(struct fx_hist *h, uint64_t v)
{
    h->bucket[fx_hist_index(v)]++;
    h->n++;
    if (v > h->max) {
        h->max = v;
    }
}

void
fx_hist_merge(struct fx_hist *dst, const struct fx_hist *src)
{
    for (unsigned i = 0; i < FX_HIST_BUCKETS; i++) {
        dst->bucket[i] += src->bucket[i];
    }
    dst->n += src->n;
    if (src->max > dst->max) {
        dst->max = src->max;
    }
}

uint64_t
fx_hist_pct(const struct fx_hist *h, double p)
{
    uint64_t want = (uint64_t) ((double) h->n * p / 100.0), seen = 0;

    if (h->n == 0) {
        return 0;
    }
    if (want >= h->n) {
        want = h->n - 1;
    }
    for (unsigned i = 0; i < FX_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen > want) {
            return fx_hist_low(i);
        }
    }
    return h->max;
}
