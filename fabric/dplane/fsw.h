/* fsw: the Fabric Interconnect's switching engine, pure (no I/O).
 *
 * In VM-FEX there is no switch in the host: every frame a vNIC sends reaches
 * the FI tagged with its source VIF, and the FI switches it.  A port here is
 * one VIF (the FI's vethernet), keyed by its VIF id, with the VLANs of its
 * port profile (the first one is the native VLAN), an up/down state and the
 * index of the host whose adapter holds the vNIC.
 *
 * Frames are Ethernet without FCS: dst MAC, src MAC, ethertype.  An untagged
 * frame belongs to the port's native VLAN; an 802.1Q-tagged one to its VID,
 * which must be one of the port's VLANs.  Frames are delivered as sent (no
 * tag push/pop).  MAC learning is per (VLAN, MAC); broadcast, multicast and
 * unknown unicast flood to the up ports of that VLAN only.
 *
 * Counters are the FI's view of the vethernet: rx = frames the vNIC sent
 * into the fabric, tx = frames the fabric delivered to the vNIC.
 *
 * Efficiency: ports and MACs live in open-addressing tables sized at
 * creation, so a lookup is O(1) whatever the port count and the hot path
 * (fsw_switch_batch) never allocates.  Adding a port may grow the member
 * list of its VLAN: that is control path. */
#ifndef FSWITCH_H
#define FSWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fx_limits.h"

struct fx_err;
struct fswitch;

/* VLANs per port: every VLAN a port profile may have, so that each VIF
 * carries all of its profile's (proto/fx_limits.h). */
#define FSW_MAX_VLANS FX_LIMITS_PROFILE_MAX_VLANS
#define FSW_VLAN_MAX 4094        /* 802.1Q VIDs 1..4094. */
#define FSW_ETH_HDR 14u          /* dst MAC, src MAC, ethertype. */

/* Why a frame was dropped.  FSW_DROP_UNKNOWN_VIF has no port to be counted
 * on and is counted on the switch. */
enum fsw_drop {
    FSW_DROP_VIF_DOWN,       /* Source or (unicast) destination VIF down. */
    FSW_DROP_UNKNOWN_VIF,    /* Source VIF is not a port. */
    FSW_DROP_VLAN,           /* Tagged with a VLAN the port is not in. */
    FSW_DROP_NO_DEST,        /* Flood found nobody, or dst is the source. */
    FSW_DROP_NO_UPLINK,      /* Destination host has no uplink. */
    FSW_DROP_QUEUE_FULL,     /* Destination host's output batch full. */
    FSW_DROP_MALFORMED,      /* Shorter than an Ethernet header. */
    FSW_DROP_SOURCE_HELD,    /* Sent by a held (quiesced) VIF. */
    FSW_DROP_HOLD_OVERFLOW,  /* For a held VIF, its hold buffer full. */
    FSW_DROP_WRONG_HOST,     /* Came on the uplink of a host the source
                                VIF is not on: counted on that VIF. */
    FSW_DROP_N
};

/* Returns "vif_down", "unknown_vif"... for logs and JSON. */
const char *fsw_drop_name(enum fsw_drop);

struct fsw_counters {
    uint64_t rx_frames, rx_bytes;    /* From the vNIC into the fabric. */
    uint64_t tx_frames, tx_bytes;    /* From the fabric to the vNIC. */
    uint64_t drops[FSW_DROP_N];      /* Frames, by reason. */
};

/* One frame in: 'data' is borrowed for the duration of the call. */
struct fsw_frame {
    uint32_t src_vif;
    uint32_t len;
    const uint8_t *data;
};

/* One frame out: frame number 'frame' of the input batch, to 'dst_vif'. */
struct fsw_delivery {
    uint32_t dst_vif;
    uint32_t frame;
};

/* The output of one batch, one list per host, owned by the caller and
 * reused across batches (fsw_out_create/destroy, fsw_out_reset).  A
 * host's list exists only while it is open (fsw_out_open): a fabric of
 * a thousand hosts pays for the ones with an uplink. */
struct fsw_host_out {
    bool ready;                  /* Host has an uplink; else NO_UPLINK. */
    uint32_t cap;                /* Deliveries it may take; else FULL
                                    (0 to refuse, up to the out's cap). */
    uint32_t n;                  /* Deliveries in 'd'. */
    uint32_t open_at;            /* Its place in 'open' while open. */
    struct fsw_delivery *d;      /* Owned while open, the out's cap. */
};

struct fsw_out {
    uint32_t n_hosts;
    uint32_t cap;                /* Of each open host's list. */
    struct fsw_host_out *hosts;  /* Owned, 'n_hosts' entries. */
    /* The open hosts, in no order: the only ones a batch can reach, so
     * the caller sends those with deliveries, and fsw_out_reset() empties
     * those, whatever 'n_hosts'. */
    uint32_t *open;              /* Owned, 'n_hosts' entries. */
    uint32_t n_open;
    /* Deliveries to held ports (fsw_port_set_held), whatever their host:
     * the caller keeps these frames until the port is released.  Full:
     * FSW_DROP_HOLD_OVERFLOW. */
    struct fsw_host_out held;
};

/* Creates a switch for up to 'max_ports' ports on hosts 0..'max_hosts'-1
 * ('max_hosts' at most 65534: a port's state names its host in 16 bits)
 * and up to 'max_macs' learned MACs.  The caller owns it. */
struct fswitch *fsw_create(uint32_t max_ports, uint32_t max_hosts,
                           uint32_t max_macs);
void fsw_destroy(struct fswitch *);

/* Adds port 'vif_id' on 'host' in 'vlans' ('n_vlans' 1..FSW_MAX_VLANS,
 * copied, the first native), initially down.  Returns 0, or -EEXIST,
 * -ENOSPC, -EINVAL with 'err' filled. */
int fsw_port_add(struct fswitch *, uint32_t vif_id, uint32_t host,
                 const uint16_t *vlans, size_t n_vlans, struct fx_err *err);
/* Removes the port and forgets the MACs learned on it.  -ENOENT if none. */
int fsw_port_del(struct fswitch *, uint32_t vif_id, struct fx_err *err);
/* Sets the port up or down.  -ENOENT if none. */
int fsw_port_set_up(struct fswitch *, uint32_t vif_id, bool up,
                    struct fx_err *err);
/* Moves the port to 'host' (the VIF follows the VM on migration). */
int fsw_port_set_host(struct fswitch *, uint32_t vif_id, uint32_t host,
                      struct fx_err *err);
/* Holds the port (migration switchover) or ends the hold.  While held,
 * frames to it go to out->held instead of its host, and frames from it
 * are dropped as FSW_DROP_SOURCE_HELD (its source is quiesced).  The MAC
 * table is untouched: it maps to the port, whose host may change under
 * it.  -ENOENT if none. */
int fsw_port_set_held(struct fswitch *, uint32_t vif_id, bool held,
                      struct fx_err *err);
bool fsw_port_is_held(const struct fswitch *, uint32_t vif_id);
/* The host index of the port, or UINT32_MAX if none. */
uint32_t fsw_port_host(const struct fswitch *, uint32_t vif_id);
/* Accounts for frames the caller held for the port: 'frames'/'bytes'
 * finally delivered (tx) and 'lost' dropped as FSW_DROP_HOLD_OVERFLOW.
 * -ENOENT if none. */
int fsw_port_account_held(struct fswitch *, uint32_t vif_id, uint64_t frames,
                          uint64_t bytes, uint64_t lost);
/* Copies the counters of port 'vif_id' into '*c'.  -ENOENT if none. */
int fsw_port_counters(const struct fswitch *, uint32_t vif_id,
                      struct fsw_counters *c);
uint32_t fsw_port_count(const struct fswitch *);
/* Frames whose source VIF was not a port. */
uint64_t fsw_unknown_vif_drops(const struct fswitch *);
/* MACs learned, and learnings refused because the table was full. */
uint32_t fsw_mac_count(const struct fswitch *);
uint64_t fsw_mac_full(const struct fswitch *);

/* Looks up (vlan, mac): returns true and stores the port's VIF in
 * '*vif_id' if learned. */
bool fsw_mac_lookup(const struct fswitch *, uint16_t vlan,
                    const uint8_t mac[6], uint32_t *vif_id);

/* Creates an output for hosts 0..'n_hosts'-1 whose lists hold 'cap'
 * deliveries: all open and ready, or with _closed, none (NO_UPLINK) until
 * fsw_out_open().  The caller owns it. */
struct fsw_out *fsw_out_create(uint32_t n_hosts, uint32_t cap);
struct fsw_out *fsw_out_create_closed(uint32_t n_hosts, uint32_t cap);
void fsw_out_destroy(struct fsw_out *);
/* Opens host 'host''s list (allocated here, ready, empty, full cap), or
 * closes it (freed, not ready, cap 0).  Between batches only. */
void fsw_out_open(struct fsw_out *, uint32_t host);
void fsw_out_close(struct fsw_out *, uint32_t host);
/* Empties the lists of the open hosts and the held list (keeps 'ready'
 * and 'cap'). */
void fsw_out_reset(struct fsw_out *);

/* Switches 'n' frames from 'in', received on the uplink of host 'host'
 * (< max_hosts), and appends their deliveries to 'out' (the frame numbers
 * index 'in').  Learns, floods, counts.  A frame whose source VIF is a
 * port of another host is dropped as FSW_DROP_WRONG_HOST, counted on that
 * port and neither switched nor learned: a host speaks for its own VIFs
 * only.  Never allocates. */
void fsw_switch_batch(struct fswitch *, uint32_t host,
                      const struct fsw_frame *in, size_t n,
                      struct fsw_out *out);

#endif
