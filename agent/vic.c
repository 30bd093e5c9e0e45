#include "vic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "vic.pb-c.h"

#define VIC_MAX_VNICS 4096
#define VIC_L2_OVERHEAD 18      /* Ethernet header 14 + FCS 4. */
#define VIC_VLAN_TAG 4

struct vic_frame {
    uint8_t *data;              /* Owned. */
    size_t len;
};

/* A bounded ring.  'head' and 'tail' run freely; a slot is the index
 * modulo VIC_RING_SIZE, so full is tail - head == VIC_RING_SIZE. */
struct vic_ring {
    uint32_t head;
    uint32_t tail;
    struct vic_frame slots[VIC_RING_SIZE];
};

struct vic_vnic {
    enum vic_vnic_state state;
    struct vic_vnic_cfg cfg;
    uint32_t intr_mask;
    struct vic_ring rx;
    struct vic_ring tx;
    uint64_t rx_packets, rx_bytes, rx_dropped;
    uint64_t tx_packets, tx_bytes, tx_dropped;
};

struct vic {
    char model[32];
    uint32_t n_vnics;
    uint32_t n_free;
    struct vic_vnic *vnics;     /* Array of 'n_vnics'. */
};

static const char *const vic_state_names[] = {
    [VIC_VNIC_FREE] = "free",
    [VIC_VNIC_RESERVED] = "reserved",
    [VIC_VNIC_BOUND] = "bound",
    [VIC_VNIC_QUIESCED] = "quiesced",
};

const char *
vic_vnic_state_name(enum vic_vnic_state s)
{
    return (unsigned) s < 4 ? vic_state_names[s] : "invalid";
}

struct vic *
vic_create(const char *model, uint32_t n_vnics, struct fx_err *err)
{
    struct vic *vic;

    if (n_vnics == 0 || n_vnics > VIC_MAX_VNICS) {
        fx_err_set(err, -EINVAL, "an adapter has 1-%d dynamic vNICs, not %u",
                   VIC_MAX_VNICS, n_vnics);
        return NULL;
    }
    vic = calloc(1, sizeof *vic);
    if (!vic || !(vic->vnics = calloc(n_vnics, sizeof *vic->vnics))) {
        abort();
    }
    snprintf(vic->model, sizeof vic->model, "%s", model);
    vic->n_vnics = n_vnics;
    vic->n_free = n_vnics;
    return vic;
}

static void
vic_ring_clear(struct vic_ring *r)
{
    for (uint32_t i = r->head; i != r->tail; i++) {
        free(r->slots[i % VIC_RING_SIZE].data);
    }
    memset(r, 0, sizeof *r);
}

static void
vic_vnic_clear(struct vic_vnic *v)
{
    vic_ring_clear(&v->rx);
    vic_ring_clear(&v->tx);
    memset(v, 0, sizeof *v);
}

void
vic_destroy(struct vic *vic)
{
    if (!vic) {
        return;
    }
    for (uint32_t i = 0; i < vic->n_vnics; i++) {
        vic_vnic_clear(&vic->vnics[i]);
    }
    free(vic->vnics);
    free(vic);
}

const char *
vic_model(const struct vic *vic)
{
    return vic->model;
}

uint32_t
vic_vnic_count(const struct vic *vic)
{
    return vic->n_vnics;
}

uint32_t
vic_free_count(const struct vic *vic)
{
    return vic->n_free;
}

/* Finds vNIC 'idx' and checks it is in one of the states of 'mask'
 * (bits 1 << state).  'what' names the operation for the message. */
static struct vic_vnic *
vic_get(const struct vic *vic, uint32_t idx, unsigned mask, const char *what,
        struct fx_err *err)
{
    struct vic_vnic *v;

    if (idx >= vic->n_vnics) {
        fx_err_set(err, -EINVAL, "vNIC %u does not exist (adapter has %u)",
                   idx, vic->n_vnics);
        return NULL;
    }
    v = &vic->vnics[idx];
    if (!(mask & (1u << v->state))) {
        fx_err_refuse(err, -EBUSY, "vnicInUse",
                      "cannot %s vNIC %u: it is %s", what, idx,
                   vic_vnic_state_name(v->state));
        return NULL;
    }
    return v;
}

/* The errno vic_get() reported for 'idx': for callers whose 'err' may be
 * NULL. */
static int
vic_why(const struct vic *vic, uint32_t idx)
{
    return idx >= vic->n_vnics ? -EINVAL : -EBUSY;
}

#define ANY_USED ((1u << VIC_VNIC_RESERVED) | (1u << VIC_VNIC_BOUND) \
                  | (1u << VIC_VNIC_QUIESCED))

int
vic_vnic_reserve(struct vic *vic, uint32_t *idxp, struct fx_err *err)
{
    for (uint32_t i = 0; i < vic->n_vnics; i++) {
        if (vic->vnics[i].state == VIC_VNIC_FREE) {
            vic->vnics[i].state = VIC_VNIC_RESERVED;
            vic->n_free--;
            *idxp = i;
            return 0;
        }
    }
    return fx_err_set(err, -ENOSPC, "no free dynamic vNIC: all %u of the "
                      "%s are in use", vic->n_vnics, vic->model);
}

int
vic_vnic_reserve_at(struct vic *vic, uint32_t idx, struct fx_err *err)
{
    if (idx >= vic->n_vnics) {
        return fx_err_set(err, -ENOENT, "no vNIC %u: the %s has %u", idx,
                          vic->model, vic->n_vnics);
    }
    if (vic->vnics[idx].state != VIC_VNIC_FREE) {
        return fx_err_refuse(err, -EBUSY, "vnicInUse",
                             "vNIC %u is %s, not free", idx,
                          vic_vnic_state_name(vic->vnics[idx].state));
    }
    vic->vnics[idx].state = VIC_VNIC_RESERVED;
    vic->n_free--;
    return 0;
}

static int
vic_cfg_check(const struct vic_vnic_cfg *cfg, struct fx_err *err)
{
    static const uint8_t zero[6];

    if (!memcmp(cfg->mac, zero, sizeof zero) || (cfg->mac[0] & 1)) {
        return fx_err_set(err, -EINVAL, "a vNIC needs a unicast, non-zero "
                          "MAC");
    }
    if (cfg->vlan < 1 || cfg->vlan > 4094) {
        return fx_err_set(err, -EINVAL, "VLAN %u out of range 1-4094",
                          cfg->vlan);
    }
    if (cfg->mtu && (cfg->mtu < 68 || cfg->mtu > 9000)) {
        return fx_err_set(err, -EINVAL, "MTU %u out of range 68-9000",
                          cfg->mtu);
    }
    return 0;
}

int
vic_vnic_bind(struct vic *vic, uint32_t idx, const struct vic_vnic_cfg *cfg,
              struct fx_err *err)
{
    struct fx_err tmp;
    struct vic_vnic *v;

    err = err ? err : &tmp;
    v = vic_get(vic, idx, 1u << VIC_VNIC_RESERVED, "bind", err);
    if (!v || vic_cfg_check(cfg, err)) {
        return err->code;
    }
    v->cfg = *cfg;
    if (!v->cfg.mtu) {
        v->cfg.mtu = VIC_MTU_DEFAULT;
    }
    v->state = VIC_VNIC_BOUND;
    return 0;
}

int
vic_vnic_unbind(struct vic *vic, uint32_t idx, struct fx_err *err)
{
    struct vic_vnic *v = vic_get(vic, idx, (1u << VIC_VNIC_BOUND)
                                 | (1u << VIC_VNIC_QUIESCED), "unbind", err);

    if (!v) {
        return vic_why(vic, idx);
    }
    vic_vnic_clear(v);
    v->state = VIC_VNIC_RESERVED;
    return 0;
}

static int
vic_move(struct vic *vic, uint32_t idx, enum vic_vnic_state from,
         enum vic_vnic_state to, const char *what, struct fx_err *err)
{
    struct vic_vnic *v = vic_get(vic, idx, 1u << from, what, err);

    if (!v) {
        return vic_why(vic, idx);
    }
    v->state = to;
    return 0;
}

int
vic_vnic_quiesce(struct vic *vic, uint32_t idx, struct fx_err *err)
{
    return vic_move(vic, idx, VIC_VNIC_BOUND, VIC_VNIC_QUIESCED, "quiesce",
                    err);
}

int
vic_vnic_resume(struct vic *vic, uint32_t idx, struct fx_err *err)
{
    return vic_move(vic, idx, VIC_VNIC_QUIESCED, VIC_VNIC_BOUND, "resume",
                    err);
}

int
vic_vnic_release(struct vic *vic, uint32_t idx, struct fx_err *err)
{
    struct vic_vnic *v = vic_get(vic, idx, ~0u, "release", err);

    if (!v) {
        return vic_why(vic, idx);
    }
    if (v->state != VIC_VNIC_FREE) {
        vic->n_free++;
    }
    vic_vnic_clear(v);
    return 0;
}

int
vic_vnic_info(const struct vic *vic, uint32_t idx, struct vic_vnic_info *info,
              struct fx_err *err)
{
    const struct vic_vnic *v = vic_get(vic, idx, ~0u, "read", err);

    if (!v) {
        return vic_why(vic, idx);
    }
    *info = (struct vic_vnic_info) {
        .state = v->state, .cfg = v->cfg, .intr_mask = v->intr_mask,
        .rx_pending = v->rx.tail - v->rx.head,
        .tx_pending = v->tx.tail - v->tx.head,
        .rx_packets = v->rx_packets, .rx_bytes = v->rx_bytes,
        .rx_dropped = v->rx_dropped, .tx_packets = v->tx_packets,
        .tx_bytes = v->tx_bytes, .tx_dropped = v->tx_dropped,
    };
    return 0;
}

int
vic_vnic_set_intr_mask(struct vic *vic, uint32_t idx, uint32_t mask,
                       struct fx_err *err)
{
    struct fx_err tmp;
    struct vic_vnic *v;

    err = err ? err : &tmp;
    v = vic_get(vic, idx, ANY_USED, "mask interrupts of", err);
    if (!v) {
        return err->code;
    }
    v->intr_mask = mask;
    return 0;
}

/* ---- Rings ---- */

static int
vic_ring_push(struct vic_ring *r, const void *frame, size_t len)
{
    struct vic_frame *f;

    if (r->tail - r->head == VIC_RING_SIZE) {
        return -ENOBUFS;
    }
    f = &r->slots[r->tail % VIC_RING_SIZE];
    f->data = malloc(len ? len : 1);
    if (!f->data) {
        abort();
    }
    /* An empty frame may come as NULL (protobuf-c's empty bytes), which
     * memcpy() must not be given even for 0 bytes. */
    if (len) {
        memcpy(f->data, frame, len);
    }
    f->len = len;
    r->tail++;
    return 0;
}

static int
vic_ring_pop(struct vic_ring *r, void *buf, size_t size, size_t *lenp,
             struct fx_err *err)
{
    struct vic_frame *f;

    if (r->tail == r->head) {
        return fx_err_set(err, -EAGAIN, "ring empty");
    }
    f = &r->slots[r->head % VIC_RING_SIZE];
    if (f->len > size) {
        return fx_err_set(err, -EMSGSIZE, "frame of %zu bytes does not fit "
                          "a %zu-byte buffer", f->len, size);
    }
    memcpy(buf, f->data, f->len);
    *lenp = f->len;
    free(f->data);
    *f = (struct vic_frame) { NULL, 0 };
    r->head++;
    return 0;
}

static int
vic_frame_check(const struct vic_vnic *v, size_t len, struct fx_err *err)
{
    size_t max = (size_t) v->cfg.mtu + VIC_L2_OVERHEAD + VIC_VLAN_TAG;

    if (len > max || len > VIC_FRAME_MAX) {
        return fx_err_set(err, -EMSGSIZE, "frame of %zu bytes exceeds MTU "
                          "%u", len, v->cfg.mtu);
    }
    return 0;
}

int
vic_vnic_rx_push(struct vic *vic, uint32_t idx, const void *frame,
                 size_t len, struct fx_err *err)
{
    struct vic_vnic *v = vic_get(vic, idx, ANY_USED, "deliver to", err);

    if (!v) {
        return vic_why(vic, idx);
    }
    if (v->state != VIC_VNIC_BOUND) {
        v->rx_dropped++;
        return fx_err_set(err, -ENETDOWN, "vNIC %u is %s: frame dropped",
                          idx, vic_vnic_state_name(v->state));
    }
    if (vic_frame_check(v, len, err)) {
        return -EMSGSIZE;
    }
    if (vic_ring_push(&v->rx, frame, len)) {
        v->rx_dropped++;
        return fx_err_set(err, -ENOBUFS, "rx ring of vNIC %u full", idx);
    }
    v->rx_packets++;
    v->rx_bytes += len;
    return 0;
}

int
vic_vnic_rx_pop(struct vic *vic, uint32_t idx, void *buf, size_t size,
                size_t *lenp, struct fx_err *err)
{
    struct vic_vnic *v = vic_get(vic, idx, 1u << VIC_VNIC_BOUND, "receive on",
                                 err);

    return v ? vic_ring_pop(&v->rx, buf, size, lenp, err)
             : vic_why(vic, idx);
}

int
vic_vnic_tx_push(struct vic *vic, uint32_t idx, const void *frame,
                 size_t len, struct fx_err *err)
{
    struct vic_vnic *v = vic_get(vic, idx, 1u << VIC_VNIC_BOUND, "send on",
                                 err);

    if (!v) {
        return vic_why(vic, idx);
    }
    if (vic_frame_check(v, len, err)) {
        return -EMSGSIZE;
    }
    if (vic_ring_push(&v->tx, frame, len)) {
        v->tx_dropped++;
        return fx_err_set(err, -ENOBUFS, "tx ring of vNIC %u full", idx);
    }
    return 0;
}

int
vic_vnic_tx_pop(struct vic *vic, uint32_t idx, void *buf, size_t size,
                size_t *lenp, struct fx_err *err)
{
    struct vic_vnic *v = vic_get(vic, idx, 1u << VIC_VNIC_BOUND, "drain tx of",
                                 err);
    int rc;

    if (!v) {
        return vic_why(vic, idx);
    }
    rc = vic_ring_pop(&v->tx, buf, size, lenp, err);
    if (!rc) {
        v->tx_packets++;
        v->tx_bytes += *lenp;
    }
    return rc;
}

/* ---- Checkpoint and restore ---- */

/* Points 'msg' at the frames of 'r' (borrowed); 'frames' has room for
 * VIC_RING_SIZE entries. */
static void
vic_ring_to_msg(const struct vic_ring *r, Fexsim__V1__VnicRing *msg,
                ProtobufCBinaryData *frames)
{
    fexsim__v1__vnic_ring__init(msg);
    msg->size = VIC_RING_SIZE;
    msg->head = r->head;
    msg->tail = r->tail;
    msg->n_frames = r->tail - r->head;
    msg->frames = frames;
    for (uint32_t i = 0; i < msg->n_frames; i++) {
        const struct vic_frame *f = &r->slots[(r->head + i) % VIC_RING_SIZE];

        frames[i].data = f->data;
        frames[i].len = f->len;
    }
}

int
vic_checkpoint(const struct vic *vic, uint32_t idx, uint8_t **bufp,
               size_t *sizep, struct fx_err *err)
{
    const struct vic_vnic *v = vic_get(vic, idx, 1u << VIC_VNIC_QUIESCED,
                                       "checkpoint", err);
    Fexsim__V1__VnicDeviceState st = FEXSIM__V1__VNIC_DEVICE_STATE__INIT;
    Fexsim__V1__VnicCounters c = FEXSIM__V1__VNIC_COUNTERS__INIT;
    Fexsim__V1__VnicRing rx, tx;
    ProtobufCBinaryData rxf[VIC_RING_SIZE], txf[VIC_RING_SIZE];

    if (!v) {
        return vic_why(vic, idx);
    }
    st.model = (char *) vic->model;
    st.mac = (ProtobufCBinaryData) { 6, (uint8_t *) v->cfg.mac };
    st.vlan = v->cfg.vlan;
    st.mtu = v->cfg.mtu;
    st.offload_flags = v->cfg.offload_flags;
    st.intr_mask = v->intr_mask;
    st.descs_in_flight = v->tx.tail - v->tx.head;
    vic_ring_to_msg(&v->rx, &rx, rxf);
    vic_ring_to_msg(&v->tx, &tx, txf);
    st.rx = &rx;
    st.tx = &tx;
    c.rx_packets = v->rx_packets;
    c.rx_bytes = v->rx_bytes;
    c.rx_dropped = v->rx_dropped;
    c.tx_packets = v->tx_packets;
    c.tx_bytes = v->tx_bytes;
    c.tx_dropped = v->tx_dropped;
    st.counters = &c;
    *sizep = fexsim__v1__vnic_device_state__get_packed_size(&st);
    *bufp = malloc(*sizep ? *sizep : 1);
    if (!*bufp) {
        abort();
    }
    fexsim__v1__vnic_device_state__pack(&st, *bufp);
    return 0;
}

static int
vic_ring_msg_check(const Fexsim__V1__VnicRing *m)
{
    if (!m) {
        return 0;      /* An absent ring is an empty one at slot 0. */
    }
    if (m->size != VIC_RING_SIZE || m->tail - m->head != m->n_frames
        || m->n_frames > VIC_RING_SIZE) {
        return -EBADMSG;
    }
    for (size_t i = 0; i < m->n_frames; i++) {
        if (m->frames[i].len > VIC_FRAME_MAX) {
            return -EBADMSG;
        }
    }
    return 0;
}

static int
vic_state_msg_check(const Fexsim__V1__VnicDeviceState *st, struct fx_err *err)
{
    struct vic_vnic_cfg cfg = { .vlan = st->vlan, .mtu = st->mtu };

    if (st->mac.len != 6 || st->vlan > 4094 || st->mtu > 9000) {
        return fx_err_set(err, -EBADMSG, "device state has an invalid MAC, "
                          "VLAN or MTU");
    }
    memcpy(cfg.mac, st->mac.data, 6);
    if (vic_cfg_check(&cfg, NULL) || !st->mtu) {
        return fx_err_set(err, -EBADMSG, "device state has an invalid MAC, "
                          "VLAN or MTU");
    }
    if (vic_ring_msg_check(st->rx) || vic_ring_msg_check(st->tx)
        || st->descs_in_flight != (st->tx ? st->tx->n_frames : 0)) {
        return fx_err_set(err, -EBADMSG, "device state has inconsistent "
                          "rings");
    }
    return 0;
}

static void
vic_ring_from_msg(struct vic_ring *r, const Fexsim__V1__VnicRing *m)
{
    if (!m) {
        return;
    }
    r->head = m->head;
    r->tail = m->head;
    for (size_t i = 0; i < m->n_frames; i++) {
        vic_ring_push(r, m->frames[i].data, m->frames[i].len);
    }
}

static void
vic_vnic_from_msg(struct vic_vnic *v, const Fexsim__V1__VnicDeviceState *st)
{
    const Fexsim__V1__VnicCounters *c = st->counters;

    memcpy(v->cfg.mac, st->mac.data, 6);
    v->cfg.vlan = (uint16_t) st->vlan;
    v->cfg.mtu = (uint16_t) st->mtu;
    v->cfg.offload_flags = st->offload_flags;
    v->intr_mask = st->intr_mask;
    vic_ring_from_msg(&v->rx, st->rx);
    vic_ring_from_msg(&v->tx, st->tx);
    if (c) {
        v->rx_packets = c->rx_packets;
        v->rx_bytes = c->rx_bytes;
        v->rx_dropped = c->rx_dropped;
        v->tx_packets = c->tx_packets;
        v->tx_bytes = c->tx_bytes;
        v->tx_dropped = c->tx_dropped;
    }
    v->state = VIC_VNIC_QUIESCED;
}

int
vic_restore(struct vic *vic, uint32_t idx, const uint8_t *buf, size_t size,
            struct fx_err *err)
{
    struct vic_vnic *v = vic_get(vic, idx, 1u << VIC_VNIC_RESERVED,
                                 "restore into", err);
    Fexsim__V1__VnicDeviceState *st;
    int rc;

    if (!v) {
        return vic_why(vic, idx);
    }
    st = fexsim__v1__vnic_device_state__unpack(NULL, size, buf);
    if (!st) {
        return fx_err_set(err, -EBADMSG, "device state of %zu bytes does "
                          "not parse", size);
    }
    rc = vic_state_msg_check(st, err);
    if (!rc) {
        vic_vnic_from_msg(v, st);
    }
    fexsim__v1__vnic_device_state__free_unpacked(st, NULL);
    return rc;
}
