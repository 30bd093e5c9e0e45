/* fsw_port: the switch's port state (up, host, hold for a migration
 * switchover) and counters, off the per-frame path (see fswitch.h). */
#include <errno.h>

#include "fswitch_priv.h"
#include "fx_err.h"

int
fsw_port_set_up(struct fswitch *sw, uint32_t vif_id, bool up,
                struct fx_err *err)
{
    uint32_t slot = fsw_port_get(sw, vif_id, err);

    if (slot == FSW_EMPTY) {
        return -ENOENT;
    }
    if (sw->cold[slot].held) {
        sw->cold[slot].up_saved = up;
    } else {
        sw->state[slot].up = up;
    }
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
        c->up_saved = sw->state[slot].up;
        sw->hot[slot].host = FSW_HOST_HELD;
        sw->state[slot].up = true;
    } else if (!held && c->held) {
        sw->hot[slot].host = c->held_host;
        sw->state[slot].up = c->up_saved;
    }
    c->held = held;
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
void
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
