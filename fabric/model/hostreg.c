#include "hostreg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "fx_name.h"

/* Slots of the name index: a power of two at least twice
 * HOSTREG_MAX_HOSTS, so that probes stay short at the fullest. */
#define HOSTREG_INDEX_SLOTS 2048u

_Static_assert(HOSTREG_INDEX_SLOTS >= 2 * HOSTREG_MAX_HOSTS
               && (HOSTREG_INDEX_SLOTS & (HOSTREG_INDEX_SLOTS - 1)) == 0,
               "the name index holds every host at half load at most");

/* An array in registration order keeps listing stable; a name index
 * beside it keeps lookups O(1): with a UCS domain's hundreds of hosts,
 * each heartbeat looks its host up, and a linear search of the names was
 * the most of the fabric's own work at idle.  Hosts are never removed,
 * so the index needs no tombstones. */
struct hostreg {
    struct host **hosts;
    size_t n, cap;
    uint32_t timeout_ms;
    uint16_t index[HOSTREG_INDEX_SLOTS];     /* Position + 1; 0: free. */
};

/* FNV-1a of 'name'. */
static uint32_t
hostreg_hash(const char *name)
{
    uint32_t h = 2166136261u;

    for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h;
}

/* The index slot that holds 'name', or the free slot where it would
 * go. */
static size_t
hostreg_slot(const struct hostreg *reg, const char *name)
{
    size_t mask = HOSTREG_INDEX_SLOTS - 1, i = hostreg_hash(name) & mask;

    while (reg->index[i]
           && strcmp(reg->hosts[reg->index[i] - 1]->info.name, name)) {
        i = (i + 1) & mask;
    }
    return i;
}

struct hostreg *
hostreg_create(uint32_t timeout_ms)
{
    struct hostreg *reg = calloc(1, sizeof *reg);

    if (!reg) {
        abort();
    }
    reg->timeout_ms = timeout_ms;
    return reg;
}

void
hostreg_destroy(struct hostreg *reg)
{
    if (!reg) {
        return;
    }
    for (size_t i = 0; i < reg->n; i++) {
        free(reg->hosts[i]);
    }
    free(reg->hosts);
    free(reg);
}

int64_t
hostreg_index(const struct hostreg *reg, const char *name)
{
    size_t slot = hostreg_slot(reg, name);

    return reg->index[slot] ? (int64_t) reg->index[slot] - 1 : -1;
}

struct host *
hostreg_find(const struct hostreg *reg, const char *name)
{
    int64_t i = hostreg_index(reg, name);

    return i < 0 ? NULL : reg->hosts[i];
}

/* A new host named 'name', indexed; the caller checked the limit. */
static struct host *
hostreg_add(struct hostreg *reg, const char *name)
{
    struct host *host = calloc(1, sizeof *host);

    if (!host) {
        abort();
    }
    if (reg->n == reg->cap) {
        reg->cap = reg->cap ? reg->cap * 2 : 8;
        reg->hosts = realloc(reg->hosts, reg->cap * sizeof *reg->hosts);
        if (!reg->hosts) {
            abort();
        }
    }
    reg->hosts[reg->n++] = host;
    snprintf(host->info.name, sizeof host->info.name, "%s", name);
    reg->index[hostreg_slot(reg, name)] = (uint16_t) reg->n;
    return host;
}

static int
hostreg_full(const char *name, struct fx_err *err)
{
    return fx_err_set(err, -ENOSPC, "host '%s' refused: the fabric has %d "
                      "hosts, the most it takes", name, HOSTREG_MAX_HOSTS);
}

int
hostreg_check(const struct hostreg *reg, const struct host_info *info,
              const void *session, struct fx_err *err)
{
    const struct host *host;

    if (!fx_name_valid(info->name)) {
        return fx_err_set(err, -EINVAL, "invalid host name '%s': use 1-39 "
                          "characters of A-Z a-z 0-9 . _ -", info->name);
    }
    host = hostreg_find(reg, info->name);
    if (host && host->state == HOST_UP && host->session != session) {
        return fx_err_set(err, -EEXIST, "host '%s' is already registered "
                          "by a live agent at %s", info->name,
                          host->info.rpc_addr);
    }
    if (!host && reg->n >= HOSTREG_MAX_HOSTS) {
        return hostreg_full(info->name, err);
    }
    return 0;
}

int
hostreg_register(struct hostreg *reg, const struct host_info *info,
                 void *session, uint64_t now_ms, struct host **hostp,
                 struct fx_err *err)
{
    struct host *host;
    int rc = hostreg_check(reg, info, session, err);

    if (rc) {
        return rc;
    }
    host = hostreg_find(reg, info->name);
    if (!host) {
        host = hostreg_add(reg, info->name);
    }
    host->info = *info;
    host->state = HOST_UP;
    host->session = session;
    host->last_seen_ms = now_ms;
    host->down_reason[0] = '\0';
    if (hostp) {
        *hostp = host;
    }
    return 0;
}

int
hostreg_restore(struct hostreg *reg, const struct host_info *info,
                const char *reason, struct fx_err *err)
{
    struct host *host;

    if (!fx_name_valid(info->name)) {
        return fx_err_set(err, -EINVAL, "invalid host name '%s'",
                          info->name);
    }
    if (hostreg_find(reg, info->name)) {
        return fx_err_set(err, -EEXIST, "host '%s' is already known",
                          info->name);
    }
    if (reg->n >= HOSTREG_MAX_HOSTS) {
        return hostreg_full(info->name, err);
    }
    host = hostreg_add(reg, info->name);
    host->info = *info;
    host->state = HOST_DOWN;
    snprintf(host->down_reason, sizeof host->down_reason, "%s", reason);
    return 0;
}

void
hostreg_set_vnics(struct hostreg *reg, const char *name, uint32_t total,
                  uint32_t free_vnics)
{
    struct host *host = hostreg_find(reg, name);

    if (host) {
        host->info.vnics_total = total;
        host->info.vnics_free = free_vnics;
    }
}

int
hostreg_heartbeat(struct hostreg *reg, const char *name, void *session,
                  uint64_t now_ms, struct fx_err *err)
{
    struct host *host = hostreg_find(reg, name);

    if (!host) {
        return fx_err_set(err, -ENOENT, "host '%s' is not registered", name);
    }
    if (host->state != HOST_UP || host->session != session) {
        return fx_err_set(err, -ESTALE, "host '%s' is not registered on "
                          "this connection: register again", name);
    }
    host->last_seen_ms = now_ms;
    return 0;
}

static void
host_mark_down(struct host *host, const char *reason)
{
    host->state = HOST_DOWN;
    host->session = NULL;
    snprintf(host->down_reason, sizeof host->down_reason, "%s", reason);
}

struct host *
hostreg_session_lost(struct hostreg *reg, void *session, const char *reason)
{
    for (size_t i = 0; session && i < reg->n; i++) {
        struct host *host = reg->hosts[i];

        if (host->session == session) {
            host_mark_down(host, reason);
            return host;
        }
    }
    return NULL;
}

size_t
hostreg_expire(struct hostreg *reg, uint64_t now_ms,
               void (*cb)(struct host *, void *arg), void *arg)
{
    size_t count = 0;

    for (size_t i = 0; i < reg->n; i++) {
        struct host *host = reg->hosts[i];

        if (host->state == HOST_UP
            && now_ms - host->last_seen_ms > reg->timeout_ms) {
            host_mark_down(host, "missed heartbeats");
            count++;
            if (cb) {
                cb(host, arg);
            }
        }
    }
    return count;
}

size_t
hostreg_count(const struct hostreg *reg)
{
    return reg->n;
}

struct host *
hostreg_at(const struct hostreg *reg, size_t i)
{
    return i < reg->n ? reg->hosts[i] : NULL;
}
