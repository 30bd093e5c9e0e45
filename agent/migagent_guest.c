/* migagent_guest: each guest running on this host, as the migration
 * agent keeps it: its RAM (from its start, or its arrival by migration,
 * until it stops or leaves), the pages its received frames dirty, and its
 * writer's dirty rate (MigAgent.SetDirtyRate). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "domxml.h"
#include "fx_err.h"
#include "guestmem.h"
#include "log.h"
#include "migagent_priv.h"
#include "migflow.pb-c.h"

LOG_MODULE("migagent");

#define MA_RX_BUF 2048             /* A guest rx buffer (virtio-net's). */
#define MA_RX_RING (4u << 20)      /* Guest memory its rx buffers cycle
                                    * through. */

/* A frame landed in the guest behind vNIC 'vnic': its rx buffer's page
 * is dirty (the receive half of the dirty-page model; the writer is the
 * other). */
void
ma_rx(void *arg, uint32_t vif, uint32_t vnic, size_t len)
{
    struct migagent *ma = arg;

    (void) vif;
    for (size_t i = 0; i < MA_MAX_GUESTS; i++) {
        struct ma_guest *g = &ma->guests[i];
        uint64_t ring;

        for (size_t k = 0; g->gm && k < g->n_vnics; k++) {
            if (g->vnics[k] != vnic) {
                continue;
            }
            ring = guestmem_size(g->gm) < MA_RX_RING ? guestmem_size(g->gm)
                                                     : MA_RX_RING;
            guestmem_mark_dirty(g->gm, g->rx_off % ring, len);
            g->rx_off += MA_RX_BUF;
            return;
        }
    }
}

struct guestmem *
migagent_guest(struct migagent *ma, const char *vm)
{
    for (size_t i = 0; i < MA_MAX_GUESTS; i++) {
        if (ma->guests[i].gm && !strcmp(ma->guests[i].vm, vm)) {
            return ma->guests[i].gm;
        }
    }
    return NULL;
}

struct ma_guest *
ma_guest_find(struct migagent *ma, const char *vm)
{
    for (size_t i = 0; i < MA_MAX_GUESTS; i++) {
        if (ma->guests[i].gm && !strcmp(ma->guests[i].vm, vm)) {
            return &ma->guests[i];
        }
    }
    return NULL;
}

uint64_t
ma_vm_rate(void *arg, const char *vm)
{
    struct ma_guest *g = ma_guest_find(arg, vm);

    return g ? g->dirty_rate : 0;
}

/* Sets the writer of guest 'g' to 'rate' page writes/s. */
void
ma_guest_rate(struct ma_guest *g, uint64_t rate, uint64_t seed)
{
    g->dirty_rate = rate;
    guestmem_writer_set(g->gm, rate, seed);
}

/* Gives VM 'vm' guest RAM 'gm' (ownership passes), replacing any, with
 * its vNICs 'vnics'.  Returns its guest, or NULL (and 'gm' freed) when
 * MA_MAX_GUESTS run here already. */
struct ma_guest *
ma_guest_set(struct migagent *ma, const char *vm, struct guestmem *gm,
             const uint32_t *vnics, size_t n_vnics)
{
    struct ma_guest *g = NULL;

    for (size_t i = 0; i < MA_MAX_GUESTS && !g; i++) {
        g = ma->guests[i].gm && !strcmp(ma->guests[i].vm, vm)
            ? &ma->guests[i] : NULL;
    }
    for (size_t i = 0; i < MA_MAX_GUESTS && !g; i++) {
        g = ma->guests[i].gm ? NULL : &ma->guests[i];
    }
    if (!g) {
        guestmem_destroy(gm);
        return NULL;
    }
    if (g->gm != gm) {
        guestmem_destroy(g->gm);
        g->dirty_rate = 0;
    }
    snprintf(g->vm, sizeof g->vm, "%s", vm);
    g->gm = gm;
    g->n_vnics = n_vnics;
    memcpy(g->vnics, vnics, n_vnics * sizeof *vnics);
    return g;
}

void
ma_guest_drop(struct migagent *ma, const char *vm)
{
    for (size_t i = 0; i < MA_MAX_GUESTS; i++) {
        if (ma->guests[i].gm && !strcmp(ma->guests[i].vm, vm)) {
            guestmem_destroy(ma->guests[i].gm);
            ma->guests[i].gm = NULL;
        }
    }
}

/* The guest RAM of 'vm' with 'mib' MiB (borrowed), the one it has or a
 * new one (all pages clean) if its size differs or it has none, as its
 * vNICs 'vnics' say. */
struct guestmem *
ma_guest_get(struct migagent *ma, const char *vm, uint64_t mib,
             const uint32_t *vnics, size_t n_vnics, struct fx_err *err)
{
    struct guestmem *gm = migagent_guest(ma, vm);

    if (!gm || guestmem_size(gm) != mib << 20) {
        if (guestmem_create(ma->base, mib << 20, &gm, err)) {
            return NULL;
        }
    }
    if (!ma_guest_set(ma, vm, gm, vnics, n_vnics)) {
        fx_err_set(err, -ENOSPC, "%d guests already run on this host",
                   MA_MAX_GUESTS);
        return NULL;
    }
    return gm;
}

/* VM 'vm' started (running) or stopped here through HostVms: its RAM
 * exists while it runs.  The RAM of a VM a migration still reads from is
 * kept until the migration ends (it drops it then, or keeps it on a
 * rollback). */
void
ma_vm_run(void *arg, const struct domxml_vm *vm, int running)
{
    struct migagent *ma = arg;
    uint32_t vnics[MIG_MAX_DEVICES];
    struct fx_err err;
    size_t n = 0;

    for (size_t i = 0; i < MA_MAX_JOBS; i++) {
        if (ma->jobs[i].id && ma->jobs[i].role == MIG_ROLE_SOURCE
            && !strcmp(ma->jobs[i].vm, vm->name)) {
            return;
        }
    }
    if (!running) {
        if (migagent_guest(ma, vm->name)) {
            ma_guest_drop(ma, vm->name);
            LOG_INFO("VM '%s': guest memory released", vm->name);
        }
        return;
    }
    for (size_t i = 0; i < vm->n_nics && n < MIG_MAX_DEVICES; i++) {
        vnics[n++] = vm->nics[i].vnic;
    }
    if (!ma_guest_get(ma, vm->name, vm->memory_mib, vnics, n, &err)) {
        LOG_WARN("VM '%s' runs without guest memory: %s", vm->name, err.msg);
        return;
    }
    LOG_INFO("VM '%s': %llu MiB of guest memory (sparse); frames on its "
             "vNICs (%zu) dirty it", vm->name,
             (unsigned long long) vm->memory_mib, n);
}

/* The running guest's writer: page writes/s from now on, here and, as it
 * migrates, on its destinations. */
int
ma_set_dirty_rate(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                  struct fx_err *err)
{
    const Fexsim__V1__AgentDirtyRate *req = (const void *) req_;
    Fexsim__V1__AgentDirtyRate *rep = (void *) rep_;
    struct ma_guest *g = ma_guest_find(ctx, req->vm);

    if (req->dirty_rate > MA_DIRTY_RATE_MAX) {
        return fx_err_set(err, -ERANGE, "dirty rate %llu is over %u page "
                          "writes/s", (unsigned long long) req->dirty_rate,
                          MA_DIRTY_RATE_MAX);
    }
    if (!g) {
        return fx_err_set(err, -ENOENT, "VM '%s' does not run on this host",
                          req->vm);
    }
    ma_guest_rate(g, req->dirty_rate, 1);
    LOG_INFO("VM '%s': dirty rate %llu page writes/s", g->vm,
             (unsigned long long) g->dirty_rate);
    rep->vm = rpc_call_strdup(call, g->vm);
    rep->dirty_rate = g->dirty_rate;
    return 0;
}
