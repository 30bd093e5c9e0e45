/* fx_phist: see fx_phist.h. */
#include "fx_phist.h"

#include <string.h>

void
fx_phist_init(struct fx_phist *h, const double *bounds, size_t n)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n = n < FX_PHIST_MAX_BOUNDS ? n : FX_PHIST_MAX_BOUNDS;
}

void
fx_phist_observe(struct fx_phist *h, double v)
{
    for (size_t i = 0; i < h->n; i++) {
        if (v <= h->bounds[i]) {
            h->counts[i]++;
            break;
        }
    }
    h->count++;
    h->sum += v;
}

uint64_t
fx_phist_le(const struct fx_phist *h, size_t i)
{
    uint64_t n = 0;

    for (size_t k = 0; k <= i && k < h->n; k++) {
        n += h->counts[k];
    }
    return n;
}
