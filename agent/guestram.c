/* guestram: each guest running on this host, its RAM, the vNICs whose
 * frames dirty it, and its writer's dirty rate. */
#include "guestram.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "guestmem.h"
#include "mig_params.h"

#define GUESTRAM_NAME 40
#define GUESTRAM_RX_BUF 2048       /* A guest rx buffer (virtio-net's). */
#define GUESTRAM_RX_RING (4u << 20)  /* Guest memory its rx buffers cycle
                                      * through. */

/* A VM running here; free while 'gm' is NULL. */
struct guestram_guest {
    char vm[GUESTRAM_NAME];
    struct guestmem *gm;           /* Owned. */
    uint32_t vnics[MIG_MAX_DEVICES];  /* Its NICs: frames they receive
                                       * dirty its memory. */
    size_t n_vnics;
    uint64_t rx_off;               /* Next rx buffer, a ring of pages. */
    uint64_t dirty_rate;           /* Its writer's page writes/s. */
};

struct guestram {
    struct event_base *base;       /* Borrowed. */
    struct guestram_guest guests[GUESTRAM_MAX_GUESTS];
};

struct guestram *
guestram_create(struct event_base *base)
{
    struct guestram *gr = calloc(1, sizeof *gr);

    if (!gr) {
        abort();
    }
    gr->base = base;
    return gr;
}

void
guestram_destroy(struct guestram *gr)
{
    if (!gr) {
        return;
    }
    for (size_t i = 0; i < GUESTRAM_MAX_GUESTS; i++) {
        guestmem_destroy(gr->guests[i].gm);
    }
    free(gr);
}

/* The slot of VM 'vm''s guest, or GUESTRAM_MAX_GUESTS if none. */
static size_t
guestram_index(const struct guestram *gr, const char *vm)
{
    size_t i = 0;

    while (i < GUESTRAM_MAX_GUESTS
           && (!gr->guests[i].gm || strcmp(gr->guests[i].vm, vm))) {
        i++;
    }
    return i;
}

static struct guestram_guest *
guestram_guest(struct guestram *gr, const char *vm)
{
    size_t i = guestram_index(gr, vm);

    return i < GUESTRAM_MAX_GUESTS ? &gr->guests[i] : NULL;
}

struct guestmem *
guestram_find(const struct guestram *gr, const char *vm)
{
    size_t i = guestram_index(gr, vm);

    return i < GUESTRAM_MAX_GUESTS ? gr->guests[i].gm : NULL;
}

int
guestram_set(struct guestram *gr, const char *vm, struct guestmem *gm,
             const uint32_t *vnics, size_t n_vnics, struct fx_err *err)
{
    struct guestram_guest *g = guestram_guest(gr, vm);

    for (size_t i = 0; i < GUESTRAM_MAX_GUESTS && !g; i++) {
        g = gr->guests[i].gm ? NULL : &gr->guests[i];
    }
    if (!g) {
        guestmem_destroy(gm);
        return fx_err_set(err, -ENOSPC, "%d guests already run on this "
                          "host", GUESTRAM_MAX_GUESTS);
    }
    if (g->gm != gm) {
        guestmem_destroy(g->gm);
        g->dirty_rate = 0;
    }
    snprintf(g->vm, sizeof g->vm, "%s", vm);
    g->gm = gm;
    g->n_vnics = n_vnics < MIG_MAX_DEVICES ? n_vnics : MIG_MAX_DEVICES;
    memcpy(g->vnics, vnics, g->n_vnics * sizeof *vnics);
    return 0;
}

int
guestram_get(struct guestram *gr, const char *vm, uint64_t mib,
             const uint32_t *vnics, size_t n_vnics, struct guestmem **gmp,
             struct fx_err *err)
{
    struct guestmem *gm = guestram_find(gr, vm);

    if (!gm || guestmem_size(gm) != mib << 20) {
        if (guestmem_create(gr->base, mib << 20, &gm, err)) {
            return err->code;
        }
    }
    if (guestram_set(gr, vm, gm, vnics, n_vnics, err)) {
        return err->code;
    }
    *gmp = gm;
    return 0;
}

void
guestram_drop(struct guestram *gr, const char *vm)
{
    struct guestram_guest *g = guestram_guest(gr, vm);

    if (g) {
        guestmem_destroy(g->gm);
        g->gm = NULL;
    }
}

uint64_t
guestram_rate(const struct guestram *gr, const char *vm)
{
    size_t i = guestram_index(gr, vm);

    return i < GUESTRAM_MAX_GUESTS ? gr->guests[i].dirty_rate : 0;
}

int
guestram_set_rate(struct guestram *gr, const char *vm, uint64_t rate,
                  uint64_t seed)
{
    struct guestram_guest *g = guestram_guest(gr, vm);

    if (!g) {
        return -ENOENT;
    }
    g->dirty_rate = rate;
    guestmem_writer_set(g->gm, rate, seed);
    return 0;
}

/* The receive half of the dirty-page model (the writer is the other): the
 * rx buffers a guest posts cycle through the first GUESTRAM_RX_RING bytes
 * of its memory, one GUESTRAM_RX_BUF buffer per frame. */
void
guestram_rx(struct guestram *gr, uint32_t vnic, size_t len)
{
    for (size_t i = 0; i < GUESTRAM_MAX_GUESTS; i++) {
        struct guestram_guest *g = &gr->guests[i];
        uint64_t ring;

        for (size_t k = 0; g->gm && k < g->n_vnics; k++) {
            if (g->vnics[k] != vnic) {
                continue;
            }
            ring = guestmem_size(g->gm) < GUESTRAM_RX_RING
                   ? guestmem_size(g->gm) : GUESTRAM_RX_RING;
            guestmem_mark_dirty(g->gm, g->rx_off % ring, len);
            g->rx_off += GUESTRAM_RX_BUF;
            return;
        }
    }
}
