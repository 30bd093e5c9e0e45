/* vfio_mig: the VFIO migration v2 device state machine of one vNIC.
 *
 * States and arcs are those of Linux include/uapi/linux/vfio.h
 * (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE), numbered as there.  A request for
 * a state that is not one arc away is carried out as the shortest
 * combination of defined arcs that does not pass through RESUMING, nor
 * through the saving group (PRE_COPY, PRE_COPY_P2P, STOP_COPY) unless it
 * starts and ends there, as the kernel's vfio_mig_get_next_state() does.
 * STOP_COPY->PRE_COPY(_P2P) is forbidden; ERROR cannot be requested and
 * only vfio_mig_reset() leaves it.
 *
 * The object is pure (no I/O); every arc taken is appended, timestamped,
 * to a transition log the caller can read. */
#ifndef VFIO_MIG_H
#define VFIO_MIG_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;

enum vfio_mig_state {
    VFIO_MIG_ERROR = 0,
    VFIO_MIG_STOP = 1,
    VFIO_MIG_RUNNING = 2,
    VFIO_MIG_STOP_COPY = 3,
    VFIO_MIG_RESUMING = 4,
    VFIO_MIG_RUNNING_P2P = 5,
    VFIO_MIG_PRE_COPY = 6,
    VFIO_MIG_PRE_COPY_P2P = 7,
};
#define VFIO_MIG_N_STATES 8

/* VFIO_DEVICE_FEATURE_MIGRATION flags. */
#define VFIO_MIGRATION_STOP_COPY (1u << 0)
#define VFIO_MIGRATION_P2P       (1u << 1)
#define VFIO_MIGRATION_PRE_COPY  (1u << 2)
#define VFIO_MIGRATION_ALL (VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | \
                            VFIO_MIGRATION_PRE_COPY)

/* One arc taken, as kept in the log. */
struct vfio_mig_arc {
    uint64_t ts_us;             /* Wall clock (fx_time_now_us) when taken. */
    enum vfio_mig_state from;   /* State left. */
    enum vfio_mig_state to;     /* State entered. */
};

#define VFIO_MIG_LOG_MAX 64     /* Older arcs are dropped beyond this. */

struct vfio_mig {
    char name[32];              /* Device name, for logs ("vnic0"). */
    uint32_t flags;             /* VFIO_MIGRATION_* the device supports. */
    enum vfio_mig_state state;  /* Current device_state. */
    struct vfio_mig_arc log[VFIO_MIG_LOG_MAX];  /* Ring of arcs taken. */
    size_t n_log;               /* Arcs ever taken (log holds the last). */
};

/* Initializes 'dev' named 'name' (copied, truncated to 31 bytes) in
 * RUNNING, supporting 'flags' (STOP_COPY is mandatory and always added). */
void vfio_mig_init(struct vfio_mig *dev, const char *name, uint32_t flags);

/* Returns the kernel name of 'state' ("RUNNING"), or "?" if out of range. */
const char *vfio_mig_state_name(enum vfio_mig_state state);

/* Returns true if 'from'->'to' is one defined arc for a device with
 * 'flags' (without P2P, RUNNING<->STOP and PRE_COPY->STOP_COPY replace the
 * P2P states, as vfio.h says). */
int vfio_mig_is_arc(enum vfio_mig_state from, enum vfio_mig_state to,
                    uint32_t flags);

/* Computes the arcs from 'from' to 'to' for a device with 'flags' into
 * 'path' (the states entered, in order, ending with 'to'), storing their
 * count in '*n'.  'path' must hold VFIO_MIG_N_STATES entries.  Returns 0,
 * or -EPROTO with 'err' filled when 'to' is not reachable (ERROR, the
 * forbidden STOP_COPY->PRE_COPY, a state the device does not support). */
int vfio_mig_plan(enum vfio_mig_state from, enum vfio_mig_state to,
                  uint32_t flags, enum vfio_mig_state *path, size_t *n,
                  struct fx_err *err);

/* Moves 'dev' to 'to' along vfio_mig_plan(), logging each arc.  Requesting
 * the current state is a no-op.  Returns 0 or -EPROTO (state unchanged). */
int vfio_mig_set_state(struct vfio_mig *dev, enum vfio_mig_state to,
                       struct fx_err *err);

/* Puts 'dev' in ERROR (a failed arc, as the kernel may), logging it. */
void vfio_mig_set_error(struct vfio_mig *dev);

/* VFIO_DEVICE_RESET: back to RUNNING from any state, logged. */
void vfio_mig_reset(struct vfio_mig *dev);

/* True in PRE_COPY, PRE_COPY_P2P or STOP_COPY, where data_fd is read. */
int vfio_mig_is_saving(enum vfio_mig_state state);

/* Returns the 'i'th oldest arc still in the log (0 <= i < count), and the
 * count through vfio_mig_log_count().  Owned by 'dev'. */
size_t vfio_mig_log_count(const struct vfio_mig *dev);
const struct vfio_mig_arc *vfio_mig_log_get(const struct vfio_mig *dev,
                                            size_t i);

/* Formats arc 'i' as one line "+0.012ms vnic0 PRE_COPY -> PRE_COPY_P2P"
 * relative to the first arc kept, into 'buf'. */
void vfio_mig_log_format(const struct vfio_mig *dev, size_t i, char *buf,
                         size_t size);

#endif
