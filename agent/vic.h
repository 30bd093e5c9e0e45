/* vic: the host's VIC adapter model: a fixed pool of dynamic vNICs.
 *
 * Each vNIC has a state (free, reserved, bound, quiesced, the names of
 * proto/vic.proto) and real device state held in memory: a bounded rx ring
 * the fabric fills and the guest drains, a bounded tx ring the guest fills
 * and the fabric drains, counters, VLAN, MTU, offload flags and an
 * interrupt mask.  The device state of a quiesced vNIC serializes to a
 * VnicDeviceState message and restores byte for byte: that is what
 * migration checkpoints.  Pure module: no I/O, no libvirt, no clock. */
#ifndef VIC_H
#define VIC_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;
struct vic;

/* The life of a dynamic vNIC.  Values match fexsim.v1.VnicState. */
enum vic_vnic_state {
    VIC_VNIC_FREE = 0,       /* In the pool; zero MAC, like Linux enic. */
    VIC_VNIC_RESERVED = 1,   /* Taken for a VM NIC, rings not live. */
    VIC_VNIC_BOUND = 2,      /* Bound to a VIF: both rings move. */
    VIC_VNIC_QUIESCED = 3,   /* tx stopped; rx frames kept in the state. */
};

/* Slots per ring (a power of two): UCS's eth adapter policies give the
 * VIC 512-descriptor receive rings.  A real guest stopping for a
 * migration leaves its frames in its rx ring for the checkpoint while
 * libvirt makes the stop wait (up to a second, once): 5 s of its
 * 100 frames/s fit (gnet.h). */
#define VIC_RING_SIZE 512
#define VIC_FRAME_MAX 9216      /* Jumbo frame, MTU 9000 plus headers. */
#define VIC_MTU_DEFAULT 1500

/* Offload flags a vNIC may have on. */
enum {
    VIC_OFFLOAD_TX_CSUM = 1 << 0,
    VIC_OFFLOAD_RX_CSUM = 1 << 1,
    VIC_OFFLOAD_TSO = 1 << 2,
    VIC_OFFLOAD_LRO = 1 << 3,
};

/* What bind() configures on a reserved vNIC. */
struct vic_vnic_cfg {
    uint8_t mac[6];          /* From the fabric's pool: never zero. */
    uint16_t vlan;           /* 1-4094. */
    uint16_t mtu;            /* 68-9000; 0 means VIC_MTU_DEFAULT. */
    uint32_t offload_flags;  /* VIC_OFFLOAD_* bits. */
};

/* A read-only view of one vNIC, for listings and tests. */
struct vic_vnic_info {
    enum vic_vnic_state state;
    struct vic_vnic_cfg cfg;
    uint32_t intr_mask;
    uint32_t rx_pending;     /* Frames in the rx ring. */
    uint32_t tx_pending;     /* Frames in the tx ring (descs in flight). */
    uint64_t rx_packets, rx_bytes, rx_dropped;
    uint64_t tx_packets, tx_bytes, tx_dropped;
};

/* ---- The adapter ---- */

/* Creates an adapter of 'model' (copied, e.g. "M81KR") with 'n_vnics'
 * dynamic vNICs, all free.  Returns NULL with 'err' filled if 'n_vnics' is
 * 0 or above 4096.  The caller frees it with vic_destroy(). */
struct vic *vic_create(const char *model, uint32_t n_vnics,
                       struct fx_err *err);
void vic_destroy(struct vic *);

const char *vic_model(const struct vic *);
uint32_t vic_vnic_count(const struct vic *);
uint32_t vic_free_count(const struct vic *);
const char *vic_vnic_state_name(enum vic_vnic_state);

/* ---- Lifecycle of a vNIC ---- */

/* Takes the lowest free vNIC into RESERVED and stores its index in
 * '*idxp'.  -ENOSPC when the pool is exhausted. */
int vic_vnic_reserve(struct vic *, uint32_t *idxp, struct fx_err *err);
/* Reserves vNIC 'idx' itself, as a restarted agent restores it: -ENOENT
 * for an index out of range, -EBUSY if it is not free. */
int vic_vnic_reserve_at(struct vic *, uint32_t idx, struct fx_err *err);
/* Binds reserved vNIC 'idx' with 'cfg' (copied): RESERVED -> BOUND. */
int vic_vnic_bind(struct vic *, uint32_t idx, const struct vic_vnic_cfg *cfg,
                  struct fx_err *err);
/* The VM stopped: BOUND or QUIESCED -> RESERVED, rings dropped, the
 * vNIC kept for the VM's next start. */
int vic_vnic_unbind(struct vic *, uint32_t idx, struct fx_err *err);
/* Stops tx and keeps rx in the device state: BOUND -> QUIESCED.  Frames
 * pushed to rx while quiesced are dropped and counted, as the VIC does. */
int vic_vnic_quiesce(struct vic *, uint32_t idx, struct fx_err *err);
/* QUIESCED -> BOUND. */
int vic_vnic_resume(struct vic *, uint32_t idx, struct fx_err *err);
/* Returns vNIC 'idx' to the pool from any state, dropping its rings and
 * zeroing its state.  -EINVAL if 'idx' is out of range. */
int vic_vnic_release(struct vic *, uint32_t idx, struct fx_err *err);
/* Fills 'info'.  -EINVAL if 'idx' is out of range. */
int vic_vnic_info(const struct vic *, uint32_t idx, struct vic_vnic_info *info,
                  struct fx_err *err);
/* Sets the interrupt mask of a reserved, bound or quiesced vNIC. */
int vic_vnic_set_intr_mask(struct vic *, uint32_t idx, uint32_t mask,
                           struct fx_err *err);

/* ---- Rings: the data plane's entry points ---- */

/* The fabric delivers 'frame' ('len' bytes, copied) to vNIC 'idx': needs
 * BOUND, and -ENOBUFS (counted as rx_dropped) when the ring is full.
 * -EMSGSIZE above MTU + 18 (Ethernet header, VLAN tag, FCS). */
int vic_vnic_rx_push(struct vic *, uint32_t idx, const void *frame,
                     size_t len, struct fx_err *err);
/* The guest takes the oldest rx frame into 'buf' ('size' bytes); stores
 * its length in '*lenp'.  -EAGAIN when empty. */
int vic_vnic_rx_pop(struct vic *, uint32_t idx, void *buf, size_t size,
                    size_t *lenp, struct fx_err *err);
/* The guest posts 'frame' for transmission: needs BOUND (tx is stopped
 * when quiesced), -ENOBUFS when the ring is full. */
int vic_vnic_tx_push(struct vic *, uint32_t idx, const void *frame,
                     size_t len, struct fx_err *err);
/* The fabric takes the oldest tx frame, like rx_pop: needs BOUND. */
int vic_vnic_tx_pop(struct vic *, uint32_t idx, void *buf, size_t size,
                    size_t *lenp, struct fx_err *err);

/* ---- Checkpoint and restore ---- */

/* Serializes the device state of quiesced vNIC 'idx' as a packed
 * fexsim.v1.VnicDeviceState.  Stores a malloc'd buffer in '*bufp' (the
 * caller frees it with free()) and its size in '*sizep'. */
int vic_checkpoint(const struct vic *, uint32_t idx, uint8_t **bufp,
                   size_t *sizep, struct fx_err *err);
/* Restores 'buf' ('size' bytes, borrowed) into reserved vNIC 'idx', which
 * becomes QUIESCED with exactly that state: a checkpoint taken right after
 * is byte for byte equal to 'buf'.  -EBADMSG if 'buf' does not parse or
 * holds impossible values; the vNIC is then left unchanged. */
int vic_restore(struct vic *, uint32_t idx, const uint8_t *buf, size_t size,
                struct fx_err *err);

#endif
