/* fsw_out: the per-host output lists of fswitch (see fsw.h), apart
 * from the engine: they belong to the caller and need nothing of it. */
#include "fsw.h"

#include <stdlib.h>

static struct fsw_delivery *
fsw_out_list(uint32_t cap)
{
    struct fsw_delivery *d = malloc((cap ? cap : 1) * sizeof *d);

    if (!d) {
        abort();
    }
    return d;
}

struct fsw_out *
fsw_out_create_closed(uint32_t n_hosts, uint32_t cap)
{
    struct fsw_out *out = calloc(1, sizeof *out);

    if (!out || !(out->hosts = calloc(n_hosts, sizeof *out->hosts))
        || !(out->open = calloc(n_hosts ? n_hosts : 1,
                                sizeof *out->open))) {
        abort();
    }
    out->n_hosts = n_hosts;
    out->cap = cap;
    out->held.ready = true;
    out->held.cap = cap;
    out->held.d = fsw_out_list(cap);
    return out;
}

struct fsw_out *
fsw_out_create(uint32_t n_hosts, uint32_t cap)
{
    struct fsw_out *out = fsw_out_create_closed(n_hosts, cap);

    for (uint32_t h = 0; h < n_hosts; h++) {
        fsw_out_open(out, h);
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
    free(out->open);
    free(out);
}

void
fsw_out_open(struct fsw_out *out, uint32_t host)
{
    struct fsw_host_out *h = &out->hosts[host];

    if (!h->d) {
        h->d = fsw_out_list(out->cap);
        h->open_at = out->n_open;
        out->open[out->n_open++] = host;
    }
    h->ready = true;
    h->cap = out->cap;
    h->n = 0;
}

void
fsw_out_close(struct fsw_out *out, uint32_t host)
{
    struct fsw_host_out *h = &out->hosts[host];

    if (h->d) {
        uint32_t last = out->open[--out->n_open];

        out->open[h->open_at] = last;
        out->hosts[last].open_at = h->open_at;
        free(h->d);
    }
    *h = (struct fsw_host_out) { .ready = false };
}

void
fsw_out_reset(struct fsw_out *out)
{
    for (uint32_t i = 0; i < out->n_open; i++) {
        out->hosts[out->open[i]].n = 0;
    }
    out->held.n = 0;
}
