/* fx_phist: a histogram as Prometheus exposes one: fixed upper bounds
 * (seconds), a count per bound, the sum and the count of observations.
 * Fixed size, no allocation when observing. */
#ifndef FX_PHIST_H
#define FX_PHIST_H

#include <stddef.h>
#include <stdint.h>

#define FX_PHIST_MAX_BOUNDS 16

struct fx_phist {
    const double *bounds;            /* Borrowed, ascending, 'n' of them
                                      * (+Inf is implied). */
    size_t n;
    uint64_t counts[FX_PHIST_MAX_BOUNDS];   /* Not cumulative. */
    uint64_t count;
    double sum;
};

/* Zeroes 'h' over 'bounds' ('n' <= FX_PHIST_MAX_BOUNDS, borrowed: a
 * static table). */
void fx_phist_init(struct fx_phist *h, const double *bounds, size_t n);
void fx_phist_observe(struct fx_phist *h, double v);
/* Observations at or below bound 'i' (cumulative, as exposed). */
uint64_t fx_phist_le(const struct fx_phist *h, size_t i);

#endif
