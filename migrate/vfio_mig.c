/* vfio_mig: VFIO migration v2 device states as a table of arcs. */
#include "vfio_mig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fx_err.h"
#include "fx_time.h"
#include "log.h"

LOG_MODULE("vfio_mig");

static const char *const vfio_mig_names[VFIO_MIG_N_STATES] = {
    [VFIO_MIG_ERROR] = "ERROR",
    [VFIO_MIG_STOP] = "STOP",
    [VFIO_MIG_RUNNING] = "RUNNING",
    [VFIO_MIG_STOP_COPY] = "STOP_COPY",
    [VFIO_MIG_RESUMING] = "RESUMING",
    [VFIO_MIG_RUNNING_P2P] = "RUNNING_P2P",
    [VFIO_MIG_PRE_COPY] = "PRE_COPY",
    [VFIO_MIG_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

/* The defined arcs, in the order vfio.h lists them, with the support flag
 * each needs (a P2P state needs P2P, a PRE_COPY state needs PRE_COPY). */
struct vfio_mig_row {
    enum vfio_mig_state from;
    enum vfio_mig_state to;
    int without_p2p;            /* Arc exists only if P2P is unsupported. */
};

static const struct vfio_mig_row vfio_mig_arcs[] = {
    /* from                    to */
    { VFIO_MIG_RUNNING_P2P,    VFIO_MIG_STOP, 0 },
    { VFIO_MIG_STOP_COPY,      VFIO_MIG_STOP, 0 },
    { VFIO_MIG_RESUMING,       VFIO_MIG_STOP, 0 },
    { VFIO_MIG_PRE_COPY,       VFIO_MIG_RUNNING, 0 },
    { VFIO_MIG_RUNNING_P2P,    VFIO_MIG_RUNNING, 0 },
    { VFIO_MIG_PRE_COPY_P2P,   VFIO_MIG_RUNNING_P2P, 0 },
    { VFIO_MIG_RUNNING,        VFIO_MIG_RUNNING_P2P, 0 },
    { VFIO_MIG_STOP,           VFIO_MIG_RUNNING_P2P, 0 },
    { VFIO_MIG_RUNNING,        VFIO_MIG_PRE_COPY, 0 },
    { VFIO_MIG_RUNNING_P2P,    VFIO_MIG_PRE_COPY_P2P, 0 },
    { VFIO_MIG_STOP,           VFIO_MIG_STOP_COPY, 0 },
    { VFIO_MIG_PRE_COPY,       VFIO_MIG_PRE_COPY_P2P, 0 },
    { VFIO_MIG_PRE_COPY_P2P,   VFIO_MIG_PRE_COPY, 0 },
    { VFIO_MIG_PRE_COPY_P2P,   VFIO_MIG_STOP_COPY, 0 },
    { VFIO_MIG_STOP,           VFIO_MIG_RESUMING, 0 },
    /* vfio.h: without P2P support the P2P states are absent and these
     * arcs take their place. */
    { VFIO_MIG_RUNNING,        VFIO_MIG_STOP,         1 },
    { VFIO_MIG_STOP,           VFIO_MIG_RUNNING,      1 },
    { VFIO_MIG_PRE_COPY,       VFIO_MIG_STOP_COPY,    1 },
};
#define VFIO_MIG_N_ARCS (sizeof vfio_mig_arcs / sizeof vfio_mig_arcs[0])

const char *
vfio_mig_state_name(enum vfio_mig_state state)
{
    return (unsigned) state < VFIO_MIG_N_STATES ? vfio_mig_names[state]
                                                : "?";
}

int
vfio_mig_is_saving(enum vfio_mig_state s)
{
    return s == VFIO_MIG_PRE_COPY || s == VFIO_MIG_PRE_COPY_P2P
           || s == VFIO_MIG_STOP_COPY;
}

/* True if the device with 'flags' implements 'state'. */
static int
vfio_mig_supported(enum vfio_mig_state s, uint32_t flags)
{
    if ((s == VFIO_MIG_RUNNING_P2P || s == VFIO_MIG_PRE_COPY_P2P)
        && !(flags & VFIO_MIGRATION_P2P)) {
        return 0;
    }
    if ((s == VFIO_MIG_PRE_COPY || s == VFIO_MIG_PRE_COPY_P2P)
        && !(flags & VFIO_MIGRATION_PRE_COPY)) {
        return 0;
    }
    return s != VFIO_MIG_ERROR;
}

/* True if row 'r' is an arc for a device with 'flags'. */
static int
vfio_mig_row_ok(const struct vfio_mig_row *r, uint32_t flags)
{
    int p2p = !!(flags & VFIO_MIGRATION_P2P);

    return r->without_p2p ? !p2p : 1;
}

int
vfio_mig_is_arc(enum vfio_mig_state from, enum vfio_mig_state to,
                uint32_t flags)
{
    for (size_t i = 0; i < VFIO_MIG_N_ARCS; i++) {
        if (vfio_mig_arcs[i].from == from && vfio_mig_arcs[i].to == to
            && vfio_mig_row_ok(&vfio_mig_arcs[i], flags)
            && vfio_mig_supported(from, flags)
            && vfio_mig_supported(to, flags)) {
            return 1;
        }
    }
    return 0;
}

/* Breadth-first search over the arcs.  Intermediate states may not be
 * RESUMING, nor in the saving group unless both ends are (PRE_COPY ->
 * PRE_COPY_P2P -> STOP_COPY is how the kernel switches over). */
static int
vfio_mig_bfs(enum vfio_mig_state from, enum vfio_mig_state to,
             uint32_t flags, int prev[VFIO_MIG_N_STATES])
{
    int queue[VFIO_MIG_N_STATES], head = 0, tail = 0;
    int saving_ok = vfio_mig_is_saving(from) && vfio_mig_is_saving(to);

    for (int i = 0; i < VFIO_MIG_N_STATES; i++) {
        prev[i] = -1;
    }
    prev[from] = from;
    queue[tail++] = from;
    while (head < tail) {
        int s = queue[head++];

        if (s == (int) to) {
            return 0;
        }
        if (s != (int) from && ((vfio_mig_is_saving(s) && !saving_ok)
                                || s == VFIO_MIG_RESUMING)) {
            continue;
        }
        for (size_t i = 0; i < VFIO_MIG_N_ARCS; i++) {
            int t = vfio_mig_arcs[i].to;

            if (vfio_mig_arcs[i].from == (enum vfio_mig_state) s
                && prev[t] < 0 && vfio_mig_supported(t, flags)
                && vfio_mig_row_ok(&vfio_mig_arcs[i], flags)) {
                prev[t] = s;
                queue[tail++] = t;
            }
        }
    }
    return -1;
}

int
vfio_mig_plan(enum vfio_mig_state from, enum vfio_mig_state to,
              uint32_t flags, enum vfio_mig_state *path, size_t *n,
              struct fx_err *err)
{
    int prev[VFIO_MIG_N_STATES];
    size_t len = 0;

    *n = 0;
    if ((unsigned) to >= VFIO_MIG_N_STATES || to == VFIO_MIG_ERROR) {
        return fx_err_set(err, -EPROTO, "device state '%s' cannot be "
                          "requested", vfio_mig_state_name(to));
    }
    if (from == VFIO_MIG_ERROR) {
        return fx_err_set(err, -EPROTO, "device is in ERROR: only a reset "
                          "leaves it");
    }
    if (from == VFIO_MIG_STOP_COPY && (to == VFIO_MIG_PRE_COPY
                                       || to == VFIO_MIG_PRE_COPY_P2P)) {
        return fx_err_set(err, -EPROTO, "arc STOP_COPY->%s is forbidden",
                          vfio_mig_state_name(to));
    }
    if (!vfio_mig_supported(to, flags)
        || vfio_mig_bfs(from, to, flags, prev) < 0) {
        return fx_err_set(err, -EPROTO, "no path %s->%s for this device",
                          vfio_mig_state_name(from),
                          vfio_mig_state_name(to));
    }
    for (int s = to; s != (int) from; s = prev[s]) {
        len++;
    }
    *n = len;
    for (int s = to; s != (int) from; s = prev[s]) {
        path[--len] = s;
    }
    return 0;
}

static void
vfio_mig_log_arc(struct vfio_mig *dev, enum vfio_mig_state to)
{
    struct vfio_mig_arc *a = &dev->log[dev->n_log % VFIO_MIG_LOG_MAX];

    a->ts_us = fx_time_now_us();
    a->from = dev->state;
    a->to = to;
    dev->n_log++;
    LOG_DBG("%s: %s -> %s", dev->name, vfio_mig_state_name(dev->state),
            vfio_mig_state_name(to));
    dev->state = to;
}

void
vfio_mig_init(struct vfio_mig *dev, const char *name, uint32_t flags)
{
    memset(dev, 0, sizeof *dev);
    snprintf(dev->name, sizeof dev->name, "%s", name);
    dev->flags = flags | VFIO_MIGRATION_STOP_COPY;
    dev->state = VFIO_MIG_RUNNING;
}

int
vfio_mig_set_state(struct vfio_mig *dev, enum vfio_mig_state to,
                   struct fx_err *err)
{
    enum vfio_mig_state path[VFIO_MIG_N_STATES];
    size_t n;
    int rc;

    if (dev->state == to) {
        return 0;
    }
    rc = vfio_mig_plan(dev->state, to, dev->flags, path, &n, err);
    if (rc < 0) {
        fx_err_wrap(err, "%s", dev->name);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        vfio_mig_log_arc(dev, path[i]);
    }
    return 0;
}

void
vfio_mig_set_error(struct vfio_mig *dev)
{
    vfio_mig_log_arc(dev, VFIO_MIG_ERROR);
}

void
vfio_mig_reset(struct vfio_mig *dev)
{
    vfio_mig_log_arc(dev, VFIO_MIG_RUNNING);
}

size_t
vfio_mig_log_count(const struct vfio_mig *dev)
{
    return dev->n_log < VFIO_MIG_LOG_MAX ? dev->n_log : VFIO_MIG_LOG_MAX;
}

const struct vfio_mig_arc *
vfio_mig_log_get(const struct vfio_mig *dev, size_t i)
{
    size_t first = dev->n_log - vfio_mig_log_count(dev);

    return &dev->log[(first + i) % VFIO_MIG_LOG_MAX];
}

void
vfio_mig_log_format(const struct vfio_mig *dev, size_t i, char *buf,
                    size_t size)
{
    const struct vfio_mig_arc *a = vfio_mig_log_get(dev, i);
    uint64_t t0 = vfio_mig_log_get(dev, 0)->ts_us;

    snprintf(buf, size, "+%.3fms %s %s -> %s",
             (double) (a->ts_us - t0) / 1000.0, dev->name,
             vfio_mig_state_name(a->from), vfio_mig_state_name(a->to));
}
