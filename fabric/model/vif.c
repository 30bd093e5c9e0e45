#include "vif.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "fx_mac.h"

#define VIF_MAC_POOL_SIZE (1u << 24)
#define VIF_ID_MAX 0x7fffffffu

/* One chained hash table, keyed by a 64-bit key (the id, or the MAC as a
 * number).  It doubles when its load passes 1, so lookups stay O(1). */
struct vif_hnode {
    uint64_t key;
    struct vif_entry *entry;
    struct vif_hnode *next;
};

struct vif_hash {
    struct vif_hnode **buckets;
    size_t n_buckets;               /* A power of two. */
    size_t n;
};

/* A VIF and where it sits in the dense listing array. */
struct vif_entry {
    struct vif vif;
    size_t slot;
    struct vif_hnode by_id;
    struct vif_hnode by_mac;
};

struct vif_table {
    struct vif_hash ids;
    struct vif_hash macs;
    struct vif_entry **all;         /* Dense, for listing. */
    size_t n, cap;
    uint32_t next_id;               /* Where the id search resumes. */
    uint32_t next_mac;              /* Where the MAC search resumes. */
};

/* ---- The hash ---- */

static size_t
vif_hash_bucket(const struct vif_hash *h, uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t) key & (h->n_buckets - 1);
}

static void
vif_hash_init(struct vif_hash *h)
{
    h->n_buckets = 64;
    h->n = 0;
    h->buckets = calloc(h->n_buckets, sizeof *h->buckets);
    if (!h->buckets) {
        abort();
    }
}

static void
vif_hash_grow(struct vif_hash *h)
{
    struct vif_hash g = { calloc(2 * h->n_buckets, sizeof *g.buckets),
                          2 * h->n_buckets, h->n };

    if (!g.buckets) {
        abort();
    }
    for (size_t b = 0; b < h->n_buckets; b++) {
        struct vif_hnode *node = h->buckets[b], *next;

        for (; node; node = next) {
            size_t nb = vif_hash_bucket(&g, node->key);

            next = node->next;
            node->next = g.buckets[nb];
            g.buckets[nb] = node;
        }
    }
    free(h->buckets);
    *h = g;
}

static void
vif_hash_insert(struct vif_hash *h, struct vif_hnode *node)
{
    size_t b;

    if (h->n >= h->n_buckets) {
        vif_hash_grow(h);
    }
    b = vif_hash_bucket(h, node->key);
    node->next = h->buckets[b];
    h->buckets[b] = node;
    h->n++;
}

static struct vif_entry *
vif_hash_find(const struct vif_hash *h, uint64_t key)
{
    struct vif_hnode *node = h->buckets[vif_hash_bucket(h, key)];

    for (; node; node = node->next) {
        if (node->key == key) {
            return node->entry;
        }
    }
    return NULL;
}

static void
vif_hash_remove(struct vif_hash *h, const struct vif_hnode *node)
{
    struct vif_hnode **pp = &h->buckets[vif_hash_bucket(h, node->key)];

    for (; *pp; pp = &(*pp)->next) {
        if (*pp == node) {
            *pp = node->next;
            h->n--;
            return;
        }
    }
}

/* ---- MACs ---- */

static uint64_t
vif_mac_key(const uint8_t mac[6])
{
    uint64_t k = 0;

    for (int i = 0; i < 6; i++) {
        k = (k << 8) | mac[i];
    }
    return k;
}

static void
vif_mac_from_pool(uint32_t n, uint8_t mac[6])
{
    mac[0] = (VIF_MAC_OUI >> 16) & 0xff;
    mac[1] = (VIF_MAC_OUI >> 8) & 0xff;
    mac[2] = VIF_MAC_OUI & 0xff;
    mac[3] = (n >> 16) & 0xff;
    mac[4] = (n >> 8) & 0xff;
    mac[5] = n & 0xff;
}

/* ---- The table ---- */

struct vif_table *
vif_table_create(void)
{
    struct vif_table *t = calloc(1, sizeof *t);

    if (!t) {
        abort();
    }
    vif_hash_init(&t->ids);
    vif_hash_init(&t->macs);
    t->next_id = 1;
    t->next_mac = 1;    /* 00:25:b5:00:00:00 stays unused, as in UCSM. */
    return t;
}

void
vif_table_destroy(struct vif_table *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        free(t->all[i]);
    }
    free(t->all);
    free(t->ids.buckets);
    free(t->macs.buckets);
    free(t);
}

/* Finds a free id from 'next_id' on.  Ids are only reused after the
 * counter wraps, so a stale id names no new VIF for a long time. */
static int
vif_pick_id(struct vif_table *t, uint32_t *idp, struct fx_err *err)
{
    for (uint32_t tries = 0; tries <= t->n; tries++) {
        uint32_t id = t->next_id;

        t->next_id = id == VIF_ID_MAX ? 1 : id + 1;
        if (!vif_hash_find(&t->ids, id)) {
            *idp = id;
            return 0;
        }
    }
    return fx_err_set(err, -ENOSPC, "no free VIF id");
}

static int
vif_pick_mac(struct vif_table *t, uint8_t mac[6], struct fx_err *err)
{
    if (t->n >= VIF_MAC_POOL_SIZE - 1) {
        return fx_err_set(err, -ENOSPC, "MAC pool 00:25:b5 exhausted");
    }
    for (;;) {
        uint32_t n = t->next_mac;

        t->next_mac = n == VIF_MAC_POOL_SIZE - 1 ? 1 : n + 1;
        vif_mac_from_pool(n, mac);
        if (!vif_hash_find(&t->macs, vif_mac_key(mac))) {
            return 0;
        }
    }
}

static int
vif_check_given(const struct vif_table *t, const struct vif *rec,
                struct fx_err *err)
{
    char m[18];

    fx_mac_format(rec->mac, m);
    if (rec->id && (rec->id > VIF_ID_MAX || vif_hash_find(&t->ids, rec->id))) {
        return fx_err_set(err, -EEXIST, "VIF id %u is taken", rec->id);
    }
    if (vif_mac_key(rec->mac) == 0) {
        return 0;
    }
    if ((vif_mac_key(rec->mac) >> 24) != VIF_MAC_OUI) {
        return fx_err_set(err, -EINVAL, "MAC %s is not in the 00:25:b5 "
                          "pool", m);
    }
    if (vif_hash_find(&t->macs, vif_mac_key(rec->mac))) {
        return fx_err_set(err, -EEXIST, "MAC %s is taken", m);
    }
    return 0;
}

int
vif_add(struct vif_table *t, const struct vif *rec, struct vif **vifp,
        struct fx_err *err)
{
    struct vif_entry *e;
    struct vif v = *rec;

    if (vif_check_given(t, rec, err)
        || (!v.id && vif_pick_id(t, &v.id, err))
        || (!vif_mac_key(v.mac) && vif_pick_mac(t, v.mac, err))) {
        return err ? err->code : -EINVAL;
    }
    e = calloc(1, sizeof *e);
    if (!e) {
        abort();
    }
    e->vif = v;
    e->by_id = (struct vif_hnode) { v.id, e, NULL };
    e->by_mac = (struct vif_hnode) { vif_mac_key(v.mac), e, NULL };
    vif_hash_insert(&t->ids, &e->by_id);
    vif_hash_insert(&t->macs, &e->by_mac);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->all = realloc(t->all, t->cap * sizeof *t->all);
        if (!t->all) {
            abort();
        }
    }
    e->slot = t->n;
    t->all[t->n++] = e;
    if (vifp) {
        *vifp = &e->vif;
    }
    return 0;
}

int
vif_remove(struct vif_table *t, uint32_t id, struct fx_err *err)
{
    struct vif_entry *e = vif_hash_find(&t->ids, id);

    if (!e) {
        return fx_err_set(err, -ENOENT, "VIF %u not found", id);
    }
    vif_hash_remove(&t->ids, &e->by_id);
    vif_hash_remove(&t->macs, &e->by_mac);
    /* Swap-remove keeps the listing dense in O(1). */
    t->all[e->slot] = t->all[--t->n];
    t->all[e->slot]->slot = e->slot;
    free(e);
    return 0;
}

struct vif *
vif_find(const struct vif_table *t, uint32_t id)
{
    struct vif_entry *e = vif_hash_find(&t->ids, id);

    return e ? &e->vif : NULL;
}

struct vif *
vif_find_mac(const struct vif_table *t, const uint8_t mac[6])
{
    struct vif_entry *e = vif_hash_find(&t->macs, vif_mac_key(mac));

    return e ? &e->vif : NULL;
}

size_t
vif_count(const struct vif_table *t)
{
    return t->n;
}

struct vif *
vif_at(const struct vif_table *t, size_t i)
{
    return i < t->n ? &t->all[i]->vif : NULL;
}

void
vif_pools_get(const struct vif_table *t, uint32_t *next_id,
              uint32_t *next_mac)
{
    *next_id = t->next_id;
    *next_mac = t->next_mac;
}

void
vif_pools_set(struct vif_table *t, uint32_t next_id, uint32_t next_mac)
{
    if (next_id >= 1 && next_id <= VIF_ID_MAX) {
        t->next_id = next_id;
    }
    if (next_mac >= 1 && next_mac < VIF_MAC_POOL_SIZE) {
        t->next_mac = next_mac;
    }
}
