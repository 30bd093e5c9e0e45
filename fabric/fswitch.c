/* fswitch: see fswitch.h.  Two open-addressing tables with linear probing:
 * VIF id -> port slot and (VLAN, MAC) -> port slot, both sized at creation
 * to a power of two at least eight times their capacity: at most 1/8 full,
 * a lookup nearly always ends at its first entry (measured: at 1/2 full
 * the probe loops' mispredictions cost more than the memory), and costs
 * the same with 16 ports or 4096. */
#include "fswitch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include "fx_err.h"

#define FSW_EMPTY UINT32_MAX
#define FSW_ETH_P_8021Q 0x8100u

/* What the hot path touches of a port, in one cache line: with 4096
 * ports a frame then costs two lines of port (source, destination) and one
 * of MAC table, whatever the port count.  Drops, rarer, live apart. */
struct fsw_port {
    uint32_t vif_id;
    uint32_t host;                   /* FSW_HOST_HELD while held. */
    bool used;                       /* Slot holds a port. */
    bool up;
    bool held;                       /* Switchover: see fsw_port_set_held. */
    uint8_t n_vlans;
    uint16_t vlans[FSW_MAX_VLANS];   /* vlans[0] is native. */
    uint64_t rx_frames, rx_bytes;
    uint64_t tx_frames, tx_bytes;
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct fsw_port) == 64, "a port is one cache line");

struct fsw_port_drops {
    uint64_t drops[FSW_DROP_N];
    uint32_t held_host;              /* The port's host while held. */
};

/* A held port's host: out of any output's range, so that the hot path's
 * existing range check sends its frames to the slow path, fsw_hold(). */
#define FSW_HOST_HELD UINT32_MAX

/* VIF id -> slot; slot FSW_EMPTY marks a free entry. */
struct fsw_vif_ent {
    uint32_t vif_id;
    uint32_t slot;
};

/* (VLAN << 48 | MAC) -> slot; key 0 is free (VLAN 0 is never learned). */
struct fsw_mac_ent {
    uint64_t key;
    uint32_t slot;
};

/* Ports of one VLAN, for flooding. */
struct fsw_vlan {
    uint32_t *slots;                 /* Owned. */
    uint32_t n, cap;
};

struct fswitch {
    uint32_t max_ports, max_hosts;
    uint32_t n_ports;
    void *arena;                     /* Owned: ports, vifs and macs. */
    struct fsw_port *ports;          /* 'max_ports' slots. */
    struct fsw_port_drops *drops;    /* 'max_ports', by slot. */
    struct fsw_vif_ent *vifs;        /* 'vif_mask' + 1 entries. */
    uint32_t vif_mask;
    struct fsw_mac_ent *macs;        /* 'mac_mask' + 1 entries. */
    uint32_t mac_mask, max_macs, n_macs;
    uint64_t mac_full;
    uint64_t unknown_vif;
    struct fsw_vlan vlans[FSW_VLAN_MAX + 1];
};

static const char *const fsw_drop_names[FSW_DROP_N] = {
    [FSW_DROP_VIF_DOWN] = "vif_down",
    [FSW_DROP_UNKNOWN_VIF] = "unknown_vif",
    [FSW_DROP_VLAN] = "vlan_mismatch",
    [FSW_DROP_NO_DEST] = "no_destination",
    [FSW_DROP_NO_UPLINK] = "no_uplink",
    [FSW_DROP_QUEUE_FULL] = "queue_full",
    [FSW_DROP_MALFORMED] = "malformed",
    [FSW_DROP_SOURCE_HELD] = "source_held",
    [FSW_DROP_HOLD_OVERFLOW] = "hold_overflow",
};

const char *
fsw_drop_name(enum fsw_drop d)
{
    return d < FSW_DROP_N ? fsw_drop_names[d] : "?";
}

/* Mixes every bit of 'k' into the low bits that index the tables: keys
 * differ in their middle bytes (MACs) or low bytes (VIF ids). */
static uint32_t
fsw_hash64(uint64_t k)
{
    k ^= k >> 29;
    k *= 0x9E3779B97F4A7C15ull;
    k ^= k >> 32;
    return (uint32_t) k;
}

static uint32_t
fsw_pow2_at_least(uint32_t n)
{
    uint32_t p = 16;

    while (p < n) {
        p <<= 1;
    }
    return p;
}

/* ---- VIF table ---- */

static uint32_t
fsw_vif_pos(const struct fswitch *sw, uint32_t vif_id)
{
    uint32_t i = fsw_hash64(vif_id) & sw->vif_mask;

    while (sw->vifs[i].slot != FSW_EMPTY && sw->vifs[i].vif_id != vif_id) {
        i = (i + 1) & sw->vif_mask;
    }
    return i;
}

static uint32_t
fsw_vif_find(const struct fswitch *sw, uint32_t vif_id)
{
    return sw->vifs[fsw_vif_pos(sw, vif_id)].slot;
}

/* Removes the entry at 'i' by shifting back the entries after it that
 * would no longer be found (no tombstones, so probes never lengthen). */
static void
fsw_vif_remove_at(struct fswitch *sw, uint32_t i)
{
    uint32_t j = i;

    for (;;) {
        j = (j + 1) & sw->vif_mask;
        if (sw->vifs[j].slot == FSW_EMPTY) {
            break;
        }
        uint32_t k = fsw_hash64(sw->vifs[j].vif_id) & sw->vif_mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            sw->vifs[i] = sw->vifs[j];
            i = j;
        }
    }
    sw->vifs[i].slot = FSW_EMPTY;
}

/* ---- MAC table ---- */

/* The key is VLAN << 48 | the 6 MAC bytes in host order: unique, and one
 * unaligned load instead of six. */
static uint64_t
fsw_mac_key(uint16_t vlan, const uint8_t mac[6])
{
    uint32_t hi;
    uint16_t lo;

    memcpy(&hi, mac, 4);
    memcpy(&lo, mac + 4, 2);
    return (uint64_t) vlan << 48 | (uint64_t) lo << 32 | hi;
}

static uint32_t
fsw_mac_pos(const struct fswitch *sw, uint64_t key)
{
    uint32_t i = fsw_hash64(key) & sw->mac_mask;

    while (sw->macs[i].key != 0 && sw->macs[i].key != key) {
        i = (i + 1) & sw->mac_mask;
    }
    return i;
}

static void
fsw_mac_learn(struct fswitch *sw, uint64_t key, uint32_t slot)
{
    struct fsw_mac_ent *e = &sw->macs[fsw_mac_pos(sw, key)];

    if (e->key == key) {
        if (e->slot != slot) {   /* Moved; else leave the line clean. */
            e->slot = slot;
        }
        return;
    }
    if (sw->n_macs >= sw->max_macs) {
        sw->mac_full++;
        return;
    }
    e->key = key;
    e->slot = slot;
    sw->n_macs++;
}

bool
fsw_mac_lookup(const struct fswitch *sw, uint16_t vlan, const uint8_t mac[6],
               uint32_t *vif_id)
{
    const struct fsw_mac_ent *e =
        &sw->macs[fsw_mac_pos(sw, fsw_mac_key(vlan, mac))];

    if (e->key == 0) {
        return false;
    }
    *vif_id = sw->ports[e->slot].vif_id;
    return true;
}

/* Forgets the MACs learned on 'slot'.  Control path: rebuilds the table in
 * place by reinserting the survivors, O(table size). */
static void
fsw_mac_forget_slot(struct fswitch *sw, uint32_t slot)
{
    uint32_t size = sw->mac_mask + 1;
    struct fsw_mac_ent *old = malloc(size * sizeof *old);

    if (!old) {
        abort();
    }
    memcpy(old, sw->macs, size * sizeof *old);
    memset(sw->macs, 0, size * sizeof *old);
    sw->n_macs = 0;
    for (uint32_t i = 0; i < size; i++) {
        if (old[i].key != 0 && old[i].slot != slot) {
            fsw_mac_learn(sw, old[i].key, old[i].slot);
        }
    }
    free(old);
}

/* ---- VLAN membership ---- */

static void
fsw_vlan_join(struct fswitch *sw, uint16_t vlan, uint32_t slot)
{
    struct fsw_vlan *v = &sw->vlans[vlan];

    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->slots = realloc(v->slots, v->cap * sizeof *v->slots);
        if (!v->slots) {
            abort();
        }
    }
    v->slots[v->n++] = slot;
}

static void
fsw_vlan_leave(struct fswitch *sw, uint16_t vlan, uint32_t slot)
{
    struct fsw_vlan *v = &sw->vlans[vlan];

    for (uint32_t i = 0; i < v->n; i++) {
        if (v->slots[i] == slot) {
            v->slots[i] = v->slots[--v->n];
            return;
        }
    }
}

/* ---- Lifecycle and ports ---- */

#define FSW_HUGE (2u << 20)

static size_t
fsw_round(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* Puts the three hot tables in one arena, on a transparent huge page when
 * they are big: with thousands of ports they span more 4 KiB pages than
 * the first-level TLB holds, and a TLB miss per lookup was what made a
 * frame dearer with 4096 VIFs than with 16. */
static void
fsw_arena_alloc(struct fswitch *sw, uint32_t max_ports)
{
    size_t ports = fsw_round(max_ports * sizeof *sw->ports, 64);
    size_t vifs = fsw_round((sw->vif_mask + 1) * sizeof *sw->vifs, 64);
    size_t macs = (sw->mac_mask + 1) * sizeof *sw->macs;
    size_t size = ports + vifs + macs;
    bool huge = size >= FSW_HUGE / 8;

    size = fsw_round(size, huge ? FSW_HUGE : 64);
    sw->arena = aligned_alloc(huge ? FSW_HUGE : 64, size);
    if (!sw->arena) {
        abort();
    }
    if (huge) {
        madvise(sw->arena, size, MADV_HUGEPAGE);
    }
    memset(sw->arena, 0, size);
    sw->ports = sw->arena;
    sw->vifs = (struct fsw_vif_ent *) ((char *) sw->arena + ports);
    sw->macs = (struct fsw_mac_ent *) ((char *) sw->arena + ports + vifs);
}

struct fswitch *
fsw_create(uint32_t max_ports, uint32_t max_hosts, uint32_t max_macs)
{
    struct fswitch *sw = calloc(1, sizeof *sw);

    if (!sw) {
        abort();
    }
    max_ports = max_ports ? max_ports : 1;
    sw->max_ports = max_ports;
    sw->max_hosts = max_hosts;
    sw->max_macs = max_macs;
    sw->vif_mask = fsw_pow2_at_least(8 * max_ports) - 1;
    sw->mac_mask = fsw_pow2_at_least(8 * max_macs) - 1;
    fsw_arena_alloc(sw, max_ports);
    sw->drops = calloc(max_ports, sizeof *sw->drops);
    if (!sw->drops) {
        abort();
    }
    for (uint32_t i = 0; i <= sw->vif_mask; i++) {
        sw->vifs[i].slot = FSW_EMPTY;
    }
    return sw;
}

void
fsw_destroy(struct fswitch *sw)
{
    if (!sw) {
        return;
    }
    for (uint32_t v = 0; v <= FSW_VLAN_MAX; v++) {
        free(sw->vlans[v].slots);
    }
    free(sw->arena);
    free(sw->drops);
    free(sw);
}

static int
fsw_check_vlans(const uint16_t *vlans, size_t n, struct fx_err *err)
{
    if (n < 1 || n > FSW_MAX_VLANS) {
        return fx_err_set(err, -EINVAL, "a port has 1 to %d VLANs, not %zu",
                          FSW_MAX_VLANS, n);
    }
    for (size_t i = 0; i < n; i++) {
        if (vlans[i] < 1 || vlans[i] > FSW_VLAN_MAX) {
            return fx_err_set(err, -EINVAL, "VLAN '%u' is not in 1..%d",
                              vlans[i], FSW_VLAN_MAX);
        }
        for (size_t j = 0; j < i; j++) {
            if (vlans[j] == vlans[i]) {
                return fx_err_set(err, -EINVAL, "VLAN '%u' listed twice",
                                  vlans[i]);
            }
        }
    }
    return 0;
}

static uint32_t
fsw_free_slot(const struct fswitch *sw)
{
    for (uint32_t s = 0; s < sw->max_ports; s++) {
        if (!sw->ports[s].used) {
            return s;
        }
    }
    return FSW_EMPTY;
}

int
fsw_port_add(struct fswitch *sw, uint32_t vif_id, uint32_t host,
             const uint16_t *vlans, size_t n_vlans, struct fx_err *err)
{
    uint32_t pos = fsw_vif_pos(sw, vif_id), slot;
    struct fsw_port *p;
    int rc = fsw_check_vlans(vlans, n_vlans, err);

    if (rc < 0) {
        return rc;
    }
    if (host >= sw->max_hosts) {
        return fx_err_set(err, -EINVAL, "host index %u out of range (max %u)",
                          host, sw->max_hosts - 1);
    }
    if (sw->vifs[pos].slot != FSW_EMPTY) {
        return fx_err_set(err, -EEXIST, "VIF %u already has a port", vif_id);
    }
    slot = fsw_free_slot(sw);
    if (slot == FSW_EMPTY) {
        return fx_err_set(err, -ENOSPC, "switch is full (%u ports)",
                          sw->max_ports);
    }
    p = &sw->ports[slot];
    *p = (struct fsw_port) { .vif_id = vif_id, .host = host, .used = true,
                             .n_vlans = (uint8_t) n_vlans };
    memcpy(p->vlans, vlans, n_vlans * sizeof *vlans);
    memset(&sw->drops[slot], 0, sizeof sw->drops[slot]);
    for (size_t i = 0; i < n_vlans; i++) {
        fsw_vlan_join(sw, vlans[i], slot);
    }
    sw->vifs[pos] = (struct fsw_vif_ent) { .vif_id = vif_id, .slot = slot };
    sw->n_ports++;
    return 0;
}

static struct fsw_port *
fsw_port_get(const struct fswitch *sw, uint32_t vif_id, struct fx_err *err)
{
    uint32_t slot = fsw_vif_find(sw, vif_id);

    if (slot == FSW_EMPTY) {
        fx_err_set(err, -ENOENT, "VIF %u has no port", vif_id);
        return NULL;
    }
    return &sw->ports[slot];
}

int
fsw_port_del(struct fswitch *sw, uint32_t vif_id, struct fx_err *err)
{
    uint32_t pos = fsw_vif_pos(sw, vif_id);
    uint32_t slot = sw->vifs[pos].slot;
    struct fsw_port *p;

    if (slot == FSW_EMPTY) {
        return fx_err_set(err, -ENOENT, "VIF %u has no port", vif_id);
    }
    p = &sw->ports[slot];
    for (uint8_t i = 0; i < p->n_vlans; i++) {
        fsw_vlan_leave(sw, p->vlans[i], slot);
    }
    fsw_mac_forget_slot(sw, slot);
    fsw_vif_remove_at(sw, pos);
    p->used = false;
    sw->n_ports--;
    return 0;
}

int
fsw_port_set_up(struct fswitch *sw, uint32_t vif_id, bool up,
                struct fx_err *err)
{
    struct fsw_port *p = fsw_port_get(sw, vif_id, err);

    if (!p) {
        return -ENOENT;
    }
    p->up = up;
    return 0;
}

int
fsw_port_set_host(struct fswitch *sw, uint32_t vif_id, uint32_t host,
                  struct fx_err *err)
{
    struct fsw_port *p = fsw_port_get(sw, vif_id, err);

    if (!p) {
        return -ENOENT;
    }
    if (host >= sw->max_hosts) {
        return fx_err_set(err, -EINVAL, "host index %u out of range", host);
    }
    if (p->held) {
        sw->drops[p - sw->ports].held_host = host;
    } else {
        p->host = host;
    }
    return 0;
}

int
fsw_port_set_held(struct fswitch *sw, uint32_t vif_id, bool held,
                  struct fx_err *err)
{
    struct fsw_port *p = fsw_port_get(sw, vif_id, err);

    if (!p) {
        return -ENOENT;
    }
    if (held && !p->held) {
        sw->drops[p - sw->ports].held_host = p->host;
        p->host = FSW_HOST_HELD;
    } else if (!held && p->held) {
        p->host = sw->drops[p - sw->ports].held_host;
    }
    p->held = held;
    return 0;
}

bool
fsw_port_is_held(const struct fswitch *sw, uint32_t vif_id)
{
    const struct fsw_port *p = fsw_port_get(sw, vif_id, NULL);

    return p && p->held;
}

uint32_t
fsw_port_host(const struct fswitch *sw, uint32_t vif_id)
{
    const struct fsw_port *p = fsw_port_get(sw, vif_id, NULL);

    if (!p) {
        return UINT32_MAX;
    }
    return p->held ? sw->drops[p - sw->ports].held_host : p->host;
}

int
fsw_port_account_held(struct fswitch *sw, uint32_t vif_id, uint64_t frames,
                      uint64_t bytes, uint64_t lost)
{
    struct fsw_port *p = fsw_port_get(sw, vif_id, NULL);

    if (!p) {
        return -ENOENT;
    }
    p->tx_frames += frames;
    p->tx_bytes += bytes;
    sw->drops[p - sw->ports].drops[FSW_DROP_HOLD_OVERFLOW] += lost;
    return 0;
}

int
fsw_port_counters(const struct fswitch *sw, uint32_t vif_id,
                  struct fsw_counters *c)
{
    const struct fsw_port *p = fsw_port_get(sw, vif_id, NULL);

    if (!p) {
        return -ENOENT;
    }
    c->rx_frames = p->rx_frames;
    c->rx_bytes = p->rx_bytes;
    c->tx_frames = p->tx_frames;
    c->tx_bytes = p->tx_bytes;
    memcpy(c->drops, sw->drops[p - sw->ports].drops, sizeof c->drops);
    return 0;
}

uint32_t fsw_port_count(const struct fswitch *sw) { return sw->n_ports; }
uint64_t fsw_unknown_vif_drops(const struct fswitch *sw)
{
    return sw->unknown_vif;
}
uint32_t fsw_mac_count(const struct fswitch *sw) { return sw->n_macs; }
uint64_t fsw_mac_full(const struct fswitch *sw) { return sw->mac_full; }

/* ---- Output ---- */

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

/* ---- Hot path ---- */

static void
fsw_drop(struct fswitch *sw, uint32_t slot, enum fsw_drop why)
{
    sw->drops[slot].drops[why]++;
}

/* Puts frame 'fi' for held port 'd' aside; tx is counted by the caller
 * when it finally delivers it (fsw_port_account_held). */
static bool
fsw_hold(struct fswitch *sw, uint32_t dslot, uint32_t fi, struct fsw_out *out)
{
    struct fsw_host_out *h = &out->held;

    if (h->n >= h->cap) {
        fsw_drop(sw, dslot, FSW_DROP_HOLD_OVERFLOW);
        return false;
    }
    h->d[h->n++] = (struct fsw_delivery) {
        .dst_vif = sw->ports[dslot].vif_id, .frame = fi };
    return true;
}

/* Hands frame 'fi' of 'len' bytes to port 'dslot'.  Returns true if it
 * was queued. */
static bool
fsw_deliver(struct fswitch *sw, uint32_t dslot, uint32_t fi, uint32_t len,
            struct fsw_out *out)
{
    struct fsw_port *d = &sw->ports[dslot];
    struct fsw_host_out *h;

    if (d->host >= out->n_hosts || !out->hosts[d->host].ready) {
        if (d->held) {
            return fsw_hold(sw, dslot, fi, out);
        }
        fsw_drop(sw, dslot, FSW_DROP_NO_UPLINK);
        return false;
    }
    h = &out->hosts[d->host];
    if (h->n >= h->cap) {
        fsw_drop(sw, dslot, FSW_DROP_QUEUE_FULL);
        return false;
    }
    h->d[h->n++] = (struct fsw_delivery) { .dst_vif = d->vif_id,
                                           .frame = fi };
    d->tx_frames++;
    d->tx_bytes += len;
    return true;
}

/* Floods frame 'fi' to the up ports of 'vlan' but the source.  Down ports
 * are skipped, not counted: they were not addressed. */
static void
fsw_flood(struct fswitch *sw, uint16_t vlan, uint32_t sslot, uint32_t fi,
          uint32_t len, struct fsw_out *out)
{
    const struct fsw_vlan *v = &sw->vlans[vlan];
    uint32_t tried = 0;

    for (uint32_t i = 0; i < v->n; i++) {
        uint32_t d = v->slots[i];
        if (d != sslot && (sw->ports[d].up || sw->ports[d].held)) {
            fsw_deliver(sw, d, fi, len, out);
            tried++;
        }
    }
    if (tried == 0) {
        fsw_drop(sw, sslot, FSW_DROP_NO_DEST);
    }
}

/* Returns the VLAN of frame 'f' received on 'p', or 0 if the port is not
 * in the VLAN of its tag. */
static uint16_t
fsw_frame_vlan(const struct fsw_port *p, const struct fsw_frame *f)
{
    const uint8_t *e = f->data + 12;
    uint16_t vid;

    if (((uint16_t) e[0] << 8 | e[1]) != FSW_ETH_P_8021Q) {
        return p->vlans[0];
    }
    if (f->len < FSW_ETH_HDR + 4) {
        return 0;
    }
    vid = ((uint16_t) e[2] << 8 | e[3]) & 0x0fff;
    for (uint8_t i = 0; i < p->n_vlans; i++) {
        if (p->vlans[i] == vid) {
            return vid;
        }
    }
    return 0;
}

/* Switches frame 'fi' ('f') from source port 'sslot' (FSW_EMPTY if its
 * VIF is unknown). */
static void
fsw_switch_one(struct fswitch *sw, const struct fsw_frame *f, uint32_t fi,
               uint32_t sslot, struct fsw_out *out)
{
    struct fsw_port *s;
    const struct fsw_mac_ent *e;
    uint32_t dslot;
    uint16_t vlan;

    if (sslot == FSW_EMPTY) {
        sw->unknown_vif++;
        return;
    }
    s = &sw->ports[sslot];
    s->rx_frames++;
    s->rx_bytes += f->len;
    if (f->len < FSW_ETH_HDR) {
        fsw_drop(sw, sslot, FSW_DROP_MALFORMED);
        return;
    }
    if (!s->up) {
        fsw_drop(sw, sslot, FSW_DROP_VIF_DOWN);
        return;
    }
    if (s->held) {
        fsw_drop(sw, sslot, FSW_DROP_SOURCE_HELD);
        return;
    }
    if ((vlan = fsw_frame_vlan(s, f)) == 0) {
        fsw_drop(sw, sslot, FSW_DROP_VLAN);
        return;
    }
    if (!(f->data[6] & 1)) {     /* Never learn a group address. */
        fsw_mac_learn(sw, fsw_mac_key(vlan, f->data + 6), sslot);
    }
    if (f->data[0] & 1) {
        fsw_flood(sw, vlan, sslot, fi, f->len, out);
        return;
    }
    e = &sw->macs[fsw_mac_pos(sw, fsw_mac_key(vlan, f->data))];
    if (e->key == 0) {
        fsw_flood(sw, vlan, sslot, fi, f->len, out);
        return;
    }
    dslot = e->slot;
    if (dslot == sslot) {
        fsw_drop(sw, sslot, FSW_DROP_NO_DEST);
    } else if (!sw->ports[dslot].up && !sw->ports[dslot].held) {
        fsw_drop(sw, dslot, FSW_DROP_VIF_DOWN);
    } else {
        fsw_deliver(sw, dslot, fi, f->len, out);
    }
}

/* Frames resolved together: enough to cover a cache miss with the work
 * of the others, few enough for the per-chunk state to stay in L1. */
#define FSW_CHUNK 16
/* How many frames ahead the destination's MAC entry is prefetched. */
#define FSW_AHEAD 4

/* Resolves the source ports of 'n' (<= FSW_CHUNK) frames into 'slots' and
 * prefetches those ports, so that their misses overlap. */
static void
fsw_resolve_chunk(const struct fswitch *sw, const struct fsw_frame *in,
                  size_t n, uint32_t *slots)
{
    for (size_t i = 0; i < n; i++) {
        slots[i] = fsw_vif_find(sw, in[i].src_vif);
        if (slots[i] != FSW_EMPTY) {
            __builtin_prefetch(&sw->ports[slots[i]], 1);
        }
    }
}

/* A hint: prefetches the MAC entry frame 'f' from 'slot' will look up. */
static void
fsw_prefetch_dst(const struct fswitch *sw, const struct fsw_frame *f,
                 uint32_t slot)
{
    if (slot != FSW_EMPTY && f->len >= FSW_ETH_HDR) {
        uint64_t key = fsw_mac_key(sw->ports[slot].vlans[0], f->data);
        __builtin_prefetch(&sw->macs[fsw_hash64(key) & sw->mac_mask]);
    }
}

void
fsw_switch_batch(struct fswitch *sw, const struct fsw_frame *in, size_t n,
                 struct fsw_out *out)
{
    uint32_t slots[FSW_CHUNK];

    for (size_t base = 0; base < n; base += FSW_CHUNK) {
        size_t m = n - base < FSW_CHUNK ? n - base : FSW_CHUNK;
        fsw_resolve_chunk(sw, in + base, m, slots);
        for (size_t i = 0; i < m; i++) {
            if (i + FSW_AHEAD < m) {
                fsw_prefetch_dst(sw, &in[base + i + FSW_AHEAD],
                                 slots[i + FSW_AHEAD]);
            }
            fsw_switch_one(sw, &in[base + i], (uint32_t) (base + i),
                           slots[i], out);
        }
    }
}
