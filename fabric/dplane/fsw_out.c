/* fsw_out: the per-host output lists of fswitch (see fsw.h), apart
 * from the engine: they belong to the caller and need nothing of it. */
#include "fsw.h"

#include <stdlib.h>

struct fsw_out *
fsw_out_create(uint32_t n_hosts, uint32_t cap)
{
    struct fsw_out *out = calloc(1, sizeof *out);

    if (!out || !(out->hosts = calloc(n_hosts, sizeof *out->hosts))) {
        abort();
    }
    out->n_hosts = n_hosts;
    for (uint32_t h = 0; h < n_hosts; h++) {
        out->hosts[h].ready = true;
        out->hosts[h].cap = cap;
        out->hosts[h].d = malloc((cap ? cap : 1) * sizeof *out->hosts[h].d);
        if (!out->hosts[h].d) {
            abort();
        }
    }
    out->held.ready = true;
    out->held.cap = cap;
    out->held.d = malloc((cap ? cap : 1) * sizeof *out->held.d);
    if (!out->held.d) {
        abort();
    }
    return out;
}

void
fsw_out_destroy(struct fsw_out *out)
{
    if (!out) {
        return;
    }
    for (uint32_t h = 0; h < out->n_hosts; h++) {
        free(out->hosts[h].d);
    }
    free(out->held.d);
    free(out->hosts);
    free(out);
}

void
fsw_out_reset(struct fsw_out *out)
{
    for (uint32_t h = 0; h < out->n_hosts; h++) {
        out->hosts[h].n = 0;
    }
    out->held.n = 0;
}
