/* fx_hist: a log-linear histogram of microsecond latencies, fixed size, no
 * allocation when recording: exact below 64 us, then 32 buckets per power
 * of two (about 3 % resolution), so p50/p99 cost nothing on the hot path. */
#ifndef FX_HIST_H
#define FX_HIST_H

#include <stdint.h>

#define FX_HIST_BUCKETS (64 + 40 * 32)

struct fx_hist {
    uint64_t n;                          /* Samples recorded. */
    uint64_t max;                        /* Largest sample. */
    uint64_t bucket[FX_HIST_BUCKETS];
};

/* Zeroes 'h' (embedded, no uninit needed). */
void fx_hist_init(struct fx_hist *h);
void fx_hist_add(struct fx_hist *h, uint64_t v);
/* Adds every sample of 'src' to 'dst'. */
void fx_hist_merge(struct fx_hist *dst, const struct fx_hist *src);
/* Returns the value at percentile 'p' (0..100), the low edge of its
 * bucket; 0 when empty. */
uint64_t fx_hist_pct(const struct fx_hist *h, double p);

#endif
