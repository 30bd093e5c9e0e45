/* fswitch_priv: the switch's layout, shared by fswitch.c (tables and the
 * per-frame path) and fsw_port.c (port state, hold, counters); not for
 * users, who see fswitch.h. */
#ifndef FSWITCH_PRIV_H
#define FSWITCH_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "fswitch.h"

#define FSW_EMPTY UINT32_MAX
#define FSW_ETH_P_8021Q 0x8100u

/* Read for every frame, source and destination: 4 bytes. */
struct fsw_port_state {
    uint16_t vlan;                   /* Native VLAN (the first). */
    bool up;
    uint8_t n_vlans;
};

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

/* The rest of a port, off the per-frame path. */
struct fsw_port_cold {
    bool used;                       /* Slot holds a port. */
    bool held;                       /* Switchover: see fsw_port_set_held. */
    bool up_saved;                   /* The port's own up state while held
                                        (state.up is forced true). */
    uint32_t held_host;              /* The port's host while held. */
    uint16_t vlans[FSW_MAX_VLANS];   /* vlans[0] is native. */
    struct fsw_counters c;           /* Folded counters, and drops. */
};

/* A held port's host: out of any output's range, so that the hot path's
 * existing range check sends frames for it to the slow path, fsw_hold(),
 * and the held port costs the per-frame path nothing.  While held, the
 * port's state.up is forced true so that unicast and floods reach it
 * whatever its link state; its own up state waits in cold.up_saved. */
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
    struct fsw_vif_ent *vifs;        /* 'vif_mask' + 1 entries. */
    uint32_t vif_mask, vif_shift;
    struct fsw_mac_ent *macs;        /* 'mac_mask' + 1 entries. */
    uint32_t mac_mask, max_macs, n_macs;
    uint64_t mac_full;
    uint64_t unknown_vif;
    uint64_t unfolded_frames;        /* Counted in 'hot' since the last */
    uint64_t unfolded_bytes;         /* fold: bound every hot counter. */
    struct fsw_vlan vlans[FSW_VLAN_MAX + 1];
};

/* The slot of port 'vif_id', or FSW_EMPTY with 'err' (may be NULL) set. */
uint32_t fsw_port_get(const struct fswitch *, uint32_t vif_id,
                      struct fx_err *err);

/* Adds the 32-bit per-frame counters of every port into the 64-bit ones. */
void fsw_fold(struct fswitch *);

#endif
