/* fsw: see fsw.h.
 *
 * The per-frame cost with thousands of busy ports is set by how many cache
 * lines a frame touches and whether they stay in L2 (1 MiB a core here),
 * not by instructions: with 4096 ports every frame touches a random source
 * and destination port.  So the hot path reads small, dense arrays:
 *
 *   vifs   VIF id -> slot, 8 B entries at most 1/2 full, indexed by the id
 *          itself (the fabric hands out ids in sequence: no collisions).
 *   state  per slot, 4 B: native VLAN, and the gate: the port's host
 *          while it is up, or down, or held (16 KiB for 4096).  A source
 *          frame's one compare of its gate with its uplink's host stands
 *          for the up, held and host checks; a destination's for up.
 *   hot    per slot, 32 B, two ports a line: VIF id, host, the MAC key
 *          the port last learned (skips the learn lookup), and 32-bit
 *          counters folded into the 64-bit cold ones before they can wrap.
 *   macs   (VLAN, MAC) -> slot, 16 B entries at most 1/2 full.
 *
 * 4096 ports and 8192 MACs take 64 + 16 + 128 + 256 KiB, in L2; before
 * (64-byte ports, tables at 1/8 load) it was 1.5 MiB.  What the hot path
 * does not need lives apart: 'cold' (link and hold state, 64-bit
 * counters, drops) and 'pvlans' (all the VLANs, up to 64 a port). */
#include "fsw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include "fx_err.h"


#define FSW_EMPTY UINT32_MAX
#define FSW_ETH_P_8021Q 0x8100u

/* Read for every frame, source and destination: 4 bytes. */
struct fsw_port_state {
    uint16_t vlan;                   /* Native VLAN (the first). */
    /* Who the port is open to, in one value a frame compares once: the
     * index of its host while it is up (that host's uplink may send from
     * it, and frames may go to it), FSW_GATE_DOWN, or FSW_GATE_HELD (the
     * switchover: frames to it go aside, none from it goes).  What it
     * sums up lives in hot.host and cold (up, held): fsw_port_gate(). */
    uint16_t gate;
};

#define FSW_GATE_DOWN UINT16_MAX
#define FSW_GATE_HELD (UINT16_MAX - 1u)
/* Host indexes a gate can name, below the two gates that are not one. */
#define FSW_MAX_HOSTS FSW_GATE_HELD

/* Read and written for every frame, source and destination: 32 bytes. */
struct fsw_port_hot {
    uint64_t learned;                /* MAC key the table maps to this
                                        port, or 0: learning it again is
                                        a no-op. */
    uint32_t vif_id;
    uint32_t host;
    uint32_t rx_frames, rx_bytes;    /* Since the last fold. */
    uint32_t tx_frames, tx_bytes;
};

_Static_assert(sizeof(struct fsw_port_hot) == 32, "two ports a line");

/* The rest of a port, off the per-frame path: two cache lines, a power
 * of two, so that finding a port's (for a drop) is one shift. */
struct fsw_port_cold {
    bool used;                       /* Slot holds a port. */
    bool up;                         /* Its link state (fsw_port_set_up),
                                        held or not. */
    bool held;                       /* Switchover: see fsw_port_set_held. */
    uint32_t held_host;              /* The port's host while held. */
    struct fsw_counters c;           /* Folded counters, and drops. */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct fsw_port_cold) == 128, "two lines a port");

/* A port's VLANs, vlans[0] native: read by tagged frames only (untagged
 * ones take state.vlan), from the first line on; a port of a few VLANs
 * costs one line, one of FSW_MAX_VLANS (64) two.  Apart from the cold
 * record, which the VLAN list made three lines and more work to find. */
struct fsw_port_vlans {
    uint16_t n;
    uint16_t vlans[FSW_MAX_VLANS];
};

/* A held port's host: out of any output's range, so that the hot path's
 * existing range check sends frames for it to the slow path, fsw_hold(),
 * and the held port costs the per-frame path nothing.  While held, its
 * gate is FSW_GATE_HELD, open to unicast and floods whatever its link
 * state (cold.up), and its real host waits in cold.held_host. */
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
    void *arena;                     /* Owned: state, hot, vifs, macs. */
    struct fsw_port_state *state;    /* 'max_ports', by slot. */
    struct fsw_port_hot *hot;        /* 'max_ports', by slot. */
    struct fsw_port_cold *cold;      /* Owned, 'max_ports', by slot. */
    struct fsw_port_vlans *pvlans;   /* Owned, 'max_ports', by slot. */
    struct fsw_vif_ent *vifs;        /* 'vif_mask' + 1 entries. */
    uint32_t vif_mask, vif_shift;
    struct fsw_mac_ent *macs;        /* 'mac_mask' + 1 entries. */
    uint32_t mac_mask, max_macs, n_macs;
    uint64_t mac_full;
    uint64_t unknown_vif;
    /* The host of the uplink whose batch is being switched, which a
     * source port's gate must name: read from here by every frame rather
     * than passed down, which kept one more value live in the loop. */
    uint32_t batch_host;
    uint64_t unfolded_frames;        /* Counted in 'hot' since the last */
    uint64_t unfolded_bytes;         /* fold: bound every hot counter. */
    struct fsw_vlan vlans[FSW_VLAN_MAX + 1];
};

static void fsw_fold(struct fswitch *sw);

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
    [FSW_DROP_WRONG_HOST] = "wrong_host",
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

/* Where 'vif_id' belongs: the id itself, folded with its high bits.  The
 * fabric hands out VIF ids in sequence (fabric/vif.c), so the live ids
 * span fewer values than the table has entries and each lands on its own
 * entry, next to the ids created with it: a direct-indexed array in
 * practice, with linear probing as the fallback for any other ids (the
 * folding spreads ids a multiple of the size apart). */
static uint32_t
fsw_vif_home(const struct fswitch *sw, uint32_t vif_id)
{
    return (vif_id ^ vif_id >> sw->vif_shift) & sw->vif_mask;
}

static uint32_t
fsw_vif_pos(const struct fswitch *sw, uint32_t vif_id)
{
    uint32_t i = fsw_vif_home(sw, vif_id);

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
        uint32_t k = fsw_vif_home(sw, sw->vifs[j].vif_id);
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

/* Maps 'key' to 'slot' and keeps each port's 'learned' true: it names a
 * key the table maps to that port, so a key that moves away is cleared
 * from its old port. */
static void
fsw_mac_learn(struct fswitch *sw, uint64_t key, uint32_t slot)
{
    struct fsw_mac_ent *e = &sw->macs[fsw_mac_pos(sw, key)];

    if (e->key == key) {
        if (e->slot != slot) {   /* Moved; else leave the line clean. */
            if (sw->hot[e->slot].learned == key) {
                sw->hot[e->slot].learned = 0;
            }
            e->slot = slot;
        }
        sw->hot[slot].learned = key;
        return;
    }
    if (sw->n_macs >= sw->max_macs) {
        sw->mac_full++;
        return;
    }
    e->key = key;
    e->slot = slot;
    sw->n_macs++;
    sw->hot[slot].learned = key;
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
    *vif_id = sw->hot[e->slot].vif_id;
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

/* Puts the hot arrays in one arena, on a transparent huge page when they
 * are big: with thousands of ports they span more 4 KiB pages than the
 * first-level TLB holds. */
static void
fsw_arena_alloc(struct fswitch *sw, uint32_t max_ports)
{
    size_t state = fsw_round(max_ports * sizeof *sw->state, 64);
    size_t hot = fsw_round(max_ports * sizeof *sw->hot, 64);
    size_t vifs = fsw_round((sw->vif_mask + 1) * sizeof *sw->vifs, 64);
    size_t macs = (sw->mac_mask + 1) * sizeof *sw->macs;
    size_t size = state + hot + vifs + macs;
    bool huge = size >= FSW_HUGE / 8;
    char *a;

    size = fsw_round(size, huge ? FSW_HUGE : 64);
    sw->arena = a = aligned_alloc(huge ? FSW_HUGE : 64, size);
    if (!a) {
        abort();
    }
    if (huge) {
        madvise(a, size, MADV_HUGEPAGE);
    }
    memset(a, 0, size);
    sw->hot = (struct fsw_port_hot *) a;
    sw->state = (struct fsw_port_state *) (a + hot);
    sw->vifs = (struct fsw_vif_ent *) (a + hot + state);
    sw->macs = (struct fsw_mac_ent *) (a + hot + state + vifs);
}

static uint32_t
fsw_log2(uint32_t pow2)
{
    uint32_t n = 0;

    while ((1u << n) < pow2) {
        n++;
    }
    return n;
}

/* Both tables at most half full: probes stay short (a line, nearly
 * always) and the tables small enough for L2.  At 1/8, the old sizing,
 * 4096 ports and 8192 MACs took 1.25 MiB of table and were slower for it,
 * longer probes notwithstanding. */
struct fswitch *
fsw_create(uint32_t max_ports, uint32_t max_hosts, uint32_t max_macs)
{
    struct fswitch *sw = calloc(1, sizeof *sw);

    if (!sw) {
        abort();
    }
    max_ports = max_ports ? max_ports : 1;
    max_hosts = max_hosts < FSW_MAX_HOSTS ? max_hosts : FSW_MAX_HOSTS;
    sw->max_ports = max_ports;
    sw->max_hosts = max_hosts;
    sw->max_macs = max_macs;
    sw->vif_mask = fsw_pow2_at_least(2 * max_ports) - 1;
    sw->vif_shift = fsw_log2(sw->vif_mask + 1);
    sw->mac_mask = fsw_pow2_at_least(2 * max_macs) - 1;
    fsw_arena_alloc(sw, max_ports);
    sw->cold = aligned_alloc(64, max_ports * sizeof *sw->cold);
    sw->pvlans = calloc(max_ports, sizeof *sw->pvlans);
    if (!sw->cold || !sw->pvlans) {
        abort();
    }
    memset(sw->cold, 0, max_ports * sizeof *sw->cold);
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
    free(sw->cold);
    free(sw->pvlans);
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
        if (!sw->cold[s].used) {
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
    struct fsw_port_cold *c;
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
    c = &sw->cold[slot];
    *c = (struct fsw_port_cold) { .used = true };
    sw->pvlans[slot].n = (uint16_t) n_vlans;
    memcpy(sw->pvlans[slot].vlans, vlans, n_vlans * sizeof *vlans);
    sw->state[slot] = (struct fsw_port_state) {
        .vlan = vlans[0], .gate = FSW_GATE_DOWN };
    sw->hot[slot] = (struct fsw_port_hot) { .vif_id = vif_id, .host = host };
    for (size_t i = 0; i < n_vlans; i++) {
        fsw_vlan_join(sw, vlans[i], slot);
    }
    sw->vifs[pos] = (struct fsw_vif_ent) { .vif_id = vif_id, .slot = slot };
    sw->n_ports++;
    return 0;
}

/* The slot of 'vif_id', or FSW_EMPTY with 'err' filled. */
static uint32_t
fsw_port_get(const struct fswitch *sw, uint32_t vif_id, struct fx_err *err)
{
    uint32_t slot = fsw_vif_find(sw, vif_id);

    if (slot == FSW_EMPTY) {
        fx_err_set(err, -ENOENT, "VIF %u has no port", vif_id);
    }
    return slot;
}

int
fsw_port_del(struct fswitch *sw, uint32_t vif_id, struct fx_err *err)
{
    uint32_t pos = fsw_vif_pos(sw, vif_id);
    uint32_t slot = sw->vifs[pos].slot;
    struct fsw_port_cold *c;

    if (slot == FSW_EMPTY) {
        return fx_err_set(err, -ENOENT, "VIF %u has no port", vif_id);
    }
    c = &sw->cold[slot];
    for (uint16_t i = 0; i < sw->pvlans[slot].n; i++) {
        fsw_vlan_leave(sw, sw->pvlans[slot].vlans[i], slot);
    }
    fsw_mac_forget_slot(sw, slot);
    fsw_vif_remove_at(sw, pos);
    c->used = false;
    sw->state[slot] = (struct fsw_port_state) { .gate = FSW_GATE_DOWN };
    sw->hot[slot] = (struct fsw_port_hot) { 0 };
    sw->n_ports--;
    return 0;
}

/* ---- Hot path ---- */

static void
fsw_drop(struct fswitch *sw, uint32_t slot, enum fsw_drop why)
{
    sw->cold[slot].c.drops[why]++;
}

/* Puts frame 'fi' for held port 'dslot' aside; tx is counted by the
 * caller when it finally delivers it (fsw_port_account_held). */
static bool
fsw_hold(struct fswitch *sw, uint32_t dslot, uint32_t fi, struct fsw_out *out)
{
    struct fsw_host_out *h = &out->held;

    if (h->n >= h->cap) {
        fsw_drop(sw, dslot, FSW_DROP_HOLD_OVERFLOW);
        return false;
    }
    h->d[h->n++] = (struct fsw_delivery) {
        .dst_vif = sw->hot[dslot].vif_id, .frame = fi };
    return true;
}

/* Hands frame 'fi' of 'len' bytes to port 'dslot'.  Returns true if it
 * was queued. */
static bool
fsw_deliver(struct fswitch *sw, uint32_t dslot, uint32_t fi, uint32_t len,
            struct fsw_out *out)
{
    struct fsw_port_hot *d = &sw->hot[dslot];
    struct fsw_host_out *h;

    if (d->host >= out->n_hosts || !out->hosts[d->host].ready) {
        if (d->host == FSW_HOST_HELD) {
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
        if (d != sslot && sw->state[d].gate != FSW_GATE_DOWN) {
            fsw_deliver(sw, d, fi, len, out);
            tried++;
        }
    }
    if (tried == 0) {
        fsw_drop(sw, sslot, FSW_DROP_NO_DEST);
    }
}

/* Returns the VLAN of frame 'f' received on port 'slot', or 0 if the port
 * is not in the VLAN of its tag. */
static uint16_t
fsw_frame_vlan(const struct fswitch *sw, uint32_t slot,
               const struct fsw_frame *f)
{
    const uint8_t *e = f->data + 12;
    const struct fsw_port_vlans *pv = &sw->pvlans[slot];
    uint16_t vid;

    if (((uint16_t) e[0] << 8 | e[1]) != FSW_ETH_P_8021Q) {
        return sw->state[slot].vlan;
    }
    if (f->len < FSW_ETH_HDR + 4) {
        return 0;
    }
    vid = ((uint16_t) e[2] << 8 | e[3]) & 0x0fff;
    for (uint16_t i = 0; i < pv->n; i++) {
        if (pv->vlans[i] == vid) {
            return vid;
        }
    }
    return 0;
}

/* Counts frame 'f' as received on 'slot', folding the 32-bit counters
 * first if this frame could make one wrap: every hot counter is at most
 * the frames or bytes switched since the last fold (a frame is delivered
 * once to a port at most). */
static void
fsw_count_rx(struct fswitch *sw, uint32_t slot, const struct fsw_frame *f)
{
    struct fsw_port_hot *s = &sw->hot[slot];

    if (sw->unfolded_bytes + f->len > UINT32_MAX
        || sw->unfolded_frames >= UINT32_MAX) {
        fsw_fold(sw);
    }
    sw->unfolded_frames++;
    sw->unfolded_bytes += f->len;
    s->rx_frames++;
    s->rx_bytes += f->len;
}

/* Learns (VLAN, source MAC) on 'slot' unless the port knows the table
 * already maps it there: then the MAC entry is not even read. */
static void
fsw_learn_src(struct fswitch *sw, uint16_t vlan, const uint8_t *mac,
              uint32_t slot)
{
    uint64_t key = fsw_mac_key(vlan, mac);

    if (sw->hot[slot].learned != key) {
        fsw_mac_learn(sw, key, slot);
    }
}

/* Frame 'f' names port 'slot', whose gate is not the uplink's host
 * (sw->batch_host): the port is down or held, or not that host's.  A
 * frame from the port's own host counts as received, as ever, and drops
 * as malformed, vif_down or source_held (counted straight into the cold
 * counters, which fsw_port_counters() adds up with the hot ones); a
 * frame from another host is not the VIF's: a wrong_host drop, not rx.
 * None is switched or learned. */
static void
fsw_gated(struct fswitch *sw, uint32_t slot, const struct fsw_frame *f)
{
    struct fsw_port_cold *c = &sw->cold[slot];
    uint32_t host = c->held ? c->held_host : sw->hot[slot].host;

    if (host != sw->batch_host) {
        fsw_drop(sw, slot, FSW_DROP_WRONG_HOST);
        return;
    }
    c->c.rx_frames++;
    c->c.rx_bytes += f->len;
    fsw_drop(sw, slot, f->len < FSW_ETH_HDR ? FSW_DROP_MALFORMED
                       : c->held ? FSW_DROP_SOURCE_HELD : FSW_DROP_VIF_DOWN);
}

/* Switches frame 'fi' ('f'), received on the uplink of sw->batch_host,
 * from source port 'sslot' (FSW_EMPTY if its VIF is unknown).  The host
 * check costs nothing per frame: one compare of the port's gate, in the
 * 4-byte state every frame reads anyway, stands for the up check and the
 * held check it replaces, and sends every frame the uplink may not send
 * from the port to the slow path, fsw_gated(). */
static void
fsw_switch_one(struct fswitch *sw, const struct fsw_frame *f,
               uint32_t fi, uint32_t sslot, struct fsw_out *out)
{
    const struct fsw_mac_ent *e;
    uint32_t dslot;
    uint16_t vlan;

    if (sslot == FSW_EMPTY) {
        sw->unknown_vif++;
        return;
    }
    if (sw->state[sslot].gate != sw->batch_host) {
        fsw_gated(sw, sslot, f);
        return;
    }
    fsw_count_rx(sw, sslot, f);
    if (f->len < FSW_ETH_HDR) {
        fsw_drop(sw, sslot, FSW_DROP_MALFORMED);
        return;
    }
    if ((vlan = fsw_frame_vlan(sw, sslot, f)) == 0) {
        fsw_drop(sw, sslot, FSW_DROP_VLAN);
        return;
    }
    if (!(f->data[6] & 1)) {     /* Never learn a group address. */
        fsw_learn_src(sw, vlan, f->data + 6, sslot);
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
    } else if (sw->state[dslot].gate == FSW_GATE_DOWN) {
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
            __builtin_prefetch(&sw->hot[slots[i]], 1);
            __builtin_prefetch(&sw->state[slots[i]]);
        }
    }
}

/* A hint: prefetches the MAC entry frame 'f' from 'slot' will look up. */
static void
fsw_prefetch_dst(const struct fswitch *sw, const struct fsw_frame *f,
                 uint32_t slot)
{
    if (slot != FSW_EMPTY && f->len >= FSW_ETH_HDR) {
        uint64_t key = fsw_mac_key(sw->state[slot].vlan, f->data);
        __builtin_prefetch(&sw->macs[fsw_hash64(key) & sw->mac_mask]);
    }
}

void
fsw_switch_batch(struct fswitch *sw, uint32_t host,
                 const struct fsw_frame *in, size_t n, struct fsw_out *out)
{
    uint32_t slots[FSW_CHUNK];

    sw->batch_host = host;
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

/* ---- Port state, hold and counters, off the per-frame path ---- */

/* Sets the gate of 'slot' from what it sums up (see fsw_port_state). */
static void
fsw_port_gate(struct fswitch *sw, uint32_t slot)
{
    const struct fsw_port_cold *c = &sw->cold[slot];

    sw->state[slot].gate = c->held ? FSW_GATE_HELD
                           : c->up ? (uint16_t) sw->hot[slot].host
                           : FSW_GATE_DOWN;
}

int
fsw_port_set_up(struct fswitch *sw, uint32_t vif_id, bool up,
                struct fx_err *err)
{
    uint32_t slot = fsw_port_get(sw, vif_id, err);

    if (slot == FSW_EMPTY) {
        return -ENOENT;
    }
    sw->cold[slot].up = up;
    fsw_port_gate(sw, slot);
    return 0;
}

int
fsw_port_set_host(struct fswitch *sw, uint32_t vif_id, uint32_t host,
                  struct fx_err *err)
{
    uint32_t slot = fsw_port_get(sw, vif_id, err);

    if (slot == FSW_EMPTY) {
        return -ENOENT;
    }
    if (host >= sw->max_hosts) {
        return fx_err_set(err, -EINVAL, "host index %u out of range", host);
    }
    if (sw->cold[slot].held) {
        sw->cold[slot].held_host = host;
    } else {
        sw->hot[slot].host = host;
    }
    fsw_port_gate(sw, slot);
    return 0;
}

int
fsw_port_set_held(struct fswitch *sw, uint32_t vif_id, bool held,
                  struct fx_err *err)
{
    uint32_t slot = fsw_port_get(sw, vif_id, err);
    struct fsw_port_cold *c;

    if (slot == FSW_EMPTY) {
        return -ENOENT;
    }
    c = &sw->cold[slot];
    if (held && !c->held) {
        c->held_host = sw->hot[slot].host;
        sw->hot[slot].host = FSW_HOST_HELD;
    } else if (!held && c->held) {
        sw->hot[slot].host = c->held_host;
    }
    c->held = held;
    fsw_port_gate(sw, slot);
    return 0;
}

bool
fsw_port_is_held(const struct fswitch *sw, uint32_t vif_id)
{
    uint32_t slot = fsw_port_get(sw, vif_id, NULL);

    return slot != FSW_EMPTY && sw->cold[slot].held;
}

uint32_t
fsw_port_host(const struct fswitch *sw, uint32_t vif_id)
{
    uint32_t slot = fsw_port_get(sw, vif_id, NULL);

    if (slot == FSW_EMPTY) {
        return UINT32_MAX;
    }
    return sw->cold[slot].held ? sw->cold[slot].held_host
                               : sw->hot[slot].host;
}

int
fsw_port_account_held(struct fswitch *sw, uint32_t vif_id, uint64_t frames,
                      uint64_t bytes, uint64_t lost)
{
    uint32_t slot = fsw_port_get(sw, vif_id, NULL);
    struct fsw_counters *c;

    if (slot == FSW_EMPTY) {
        return -ENOENT;
    }
    c = &sw->cold[slot].c;
    c->tx_frames += frames;
    c->tx_bytes += bytes;
    c->drops[FSW_DROP_HOLD_OVERFLOW] += lost;
    return 0;
}

/* Adds the 32-bit counters of every port into its 64-bit ones and zeroes
 * them.  O(ports), once per 4 GiB or 4 G frames switched. */
static void
fsw_fold(struct fswitch *sw)
{
    for (uint32_t s = 0; s < sw->max_ports; s++) {
        struct fsw_port_hot *h = &sw->hot[s];
        struct fsw_counters *c = &sw->cold[s].c;
        c->rx_frames += h->rx_frames;
        c->rx_bytes += h->rx_bytes;
        c->tx_frames += h->tx_frames;
        c->tx_bytes += h->tx_bytes;
        h->rx_frames = h->rx_bytes = h->tx_frames = h->tx_bytes = 0;
    }
    sw->unfolded_frames = sw->unfolded_bytes = 0;
}

int
fsw_port_counters(const struct fswitch *sw, uint32_t vif_id,
                  struct fsw_counters *c)
{
    uint32_t slot = fsw_port_get(sw, vif_id, NULL);
    const struct fsw_port_hot *h;

    if (slot == FSW_EMPTY) {
        return -ENOENT;
    }
    h = &sw->hot[slot];
    *c = sw->cold[slot].c;
    c->rx_frames += h->rx_frames;
    c->rx_bytes += h->rx_bytes;
    c->tx_frames += h->tx_frames;
    c->tx_bytes += h->tx_bytes;
    return 0;
}

uint32_t fsw_port_count(const struct fswitch *sw) { return sw->n_ports; }
uint64_t fsw_unknown_vif_drops(const struct fswitch *sw)
{
    return sw->unknown_vif;
}
uint32_t fsw_mac_count(const struct fswitch *sw) { return sw->n_macs; }
uint64_t fsw_mac_full(const struct fswitch *sw) { return sw->mac_full; }
