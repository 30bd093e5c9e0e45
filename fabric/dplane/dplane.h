/* dplane: the fabric side of the data plane.  Accepts the agents' uplinks
 * (see dframe.h), feeds each received batch to the switching engine
 * (fsw.h) and sends the deliveries to the destination hosts' uplinks,
 * one batch per host per received batch.
 *
 * Flow control is TCP's, end to end: when a host's uplink has more than
 * DPLANE_PAUSE_BYTES waiting to be sent, the uplinks feeding it stop being
 * read until it drains, so a slow host slows its senders instead of losing
 * frames.  Beyond DPLANE_DROP_BYTES (floods can amplify) deliveries to it
 * are dropped as queue_full.
 *
 * An uplink is bound to a host by the ticket its HELLO presents: fabricd
 * issues one (dplane_ticket_issue()) to the agent's registered control
 * connection, for the host that connection registered, so no peer names
 * its own host.  Each batch is then switched as that host's (fsw.h:
 * frames naming another host's VIF are dropped as wrong_host).
 *
 * Garbage on an uplink (bad magic, oversized, truncated, a batch before
 * HELLO, a HELLO without a live ticket) closes that uplink with one log
 * line; the others never notice.
 *
 * Ports are learned through dplane_port_*(), which the VIF module calls. */
#ifndef DPLANE_H
#define DPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "fsw.h"

struct auth_key;
struct dframe_ticket;
struct fx_err;
struct dplane;

#define DPLANE_PAUSE_BYTES (1u << 20)
#define DPLANE_DROP_BYTES (16u << 20)

struct dplane_cfg {
    const char *listen;      /* "HOST:PORT" (port 0: any), borrowed. */
    uint32_t max_ports;      /* VIFs. */
    uint32_t max_hosts;      /* Host indexes 0..max_hosts-1. */
    uint32_t max_macs;
    /* Baseline for the benchmark: forward each batch as received to host
     * (sender ^ 1), with no switching.  Same sockets, framing, batching
     * and flow control: the transport's own floor. */
    bool relay;
    /* Bounds of one VIF's hold buffer (dplane_port_hold); 0: defaults. */
    uint32_t hold_frames;
    uint32_t hold_bytes;
    /* How long an uplink ticket is good for; 0: DPLANE_TICKET_TTL_MS. */
    uint32_t ticket_ttl_ms;
    /* The monotonic clock in ms, for tickets ('clock_arg' borrowed);
     * NULL: fx_time_now_ms().  Tests drive time through it. */
    uint64_t (*clock_ms)(void *clock_arg);
    void *clock_arg;
    /* The lab secret every uplink proves first, as the agent of a host
     * (proto/auth.h; borrowed, must outlive the data plane); NULL: no
     * secret, names unproven (loopback only). */
    const struct auth_key *key;
    /* The index of host 'name', or -1 ('host_arg' borrowed); NULL: not
     * checked.  An uplink may present only a ticket of the host its
     * handshake proved. */
    int64_t (*host_index)(void *host_arg, const char *name);
    void *host_arg;
};

#define DPLANE_HOLD_FRAMES 4096u
#define DPLANE_HOLD_BYTES (4u << 20)
/* An agent presents its ticket as soon as it has it; ten seconds leave
 * room for a loaded machine, not for a ticket lying around. */
#define DPLANE_TICKET_TTL_MS 10000u

/* Creates the data plane on 'base' (borrowed) and starts listening.
 * Stores it in '*dpp' (the caller owns it).  Returns 0 or a negative
 * errno with 'err' filled. */
int dplane_create(struct event_base *base, const struct dplane_cfg *cfg,
                  struct dplane **dpp, struct fx_err *err);
/* Closes the listener and every uplink.  NULL is a no-op. */
void dplane_destroy(struct dplane *);

/* The port the listener got (for cfg.listen with port 0). */
uint16_t dplane_listen_port(const struct dplane *);
/* Uplinks that said HELLO and are open. */
uint32_t dplane_uplink_count(const struct dplane *);
/* MARKERs held and echoed since creation (see dframe.h). */
uint64_t dplane_markers(const struct dplane *);
/* Uplinks closed for malformed input since creation. */
uint64_t dplane_uplinks_refused(const struct dplane *);

/* Uplink tickets.  Issues a fresh ticket for host 'host' into '*ticket':
 * 128 random bits (getrandom()), good for one uplink's HELLO within the
 * TTL, and only while the host stays up (dplane_host_down()).  A host has
 * one ticket at a time: issuing another drops the one before.  A HELLO
 * that presents it binds that uplink to 'host'; if the host had an uplink
 * already, the new one replaces it (its agent reconnected before the
 * fabric saw the old connection go).  A HELLO with anything else (made
 * up, used, expired, dropped) is refused with one log line.  -EINVAL if
 * 'host' is out of range, or the error of getrandom(). */
int dplane_ticket_issue(struct dplane *, uint32_t host,
                        struct dframe_ticket *ticket, struct fx_err *err);
/* Host 'host' went down (its agent's control connection is gone or
 * silent): its ticket is dropped and its uplink, which spoke for it only
 * as long as it was registered, is closed.  The agent gets a new ticket
 * when it registers again. */
void dplane_host_down(struct dplane *, uint32_t host);
/* Tickets issued and not yet used, dropped or expired. */
uint32_t dplane_tickets_pending(const struct dplane *);

/* Ports: see fsw_port_add() and friends; errors the same. */
int dplane_port_add(struct dplane *, uint32_t vif_id, uint32_t host,
                    const uint16_t *vlans, size_t n_vlans,
                    struct fx_err *err);
int dplane_port_set_up(struct dplane *, uint32_t vif_id, bool up,
                       struct fx_err *err);
int dplane_port_set_host(struct dplane *, uint32_t vif_id, uint32_t host,
                         struct fx_err *err);
int dplane_port_del(struct dplane *, uint32_t vif_id, struct fx_err *err);
int dplane_port_counters(const struct dplane *, uint32_t vif_id,
                         struct fsw_counters *c);
/* Live migration's switchover (issue 6).  dplane_port_hold() stops
 * delivering to the VIF: from then on the frames switched to it (unicast
 * and its share of floods) are appended, in order, to a hold buffer of
 * cfg.hold_frames frames and cfg.hold_bytes bytes allocated here, once;
 * beyond that they are lost, counted as hold_overflow.  Frames from the
 * VIF meanwhile are dropped as source_held (its source is quiesced).
 * -ENOENT if no port, -EALREADY if held.
 * An agent's uplink MARKER for one of its VIFs holds it the same way,
 * exactly after the last frame it sent from it, and is echoed to it
 * after every frame switched to the VIF before the hold.
 *
 * dplane_port_release() moves the port to 'new_host' (same VIF id, same
 * MAC: the MAC table maps to the port, so it follows; 'new_host' may be
 * the old one on rollback), writes the held frames in order to that
 * host's uplink before anything switched afterwards, and resumes normal
 * switching.  Stores the frames held (delivered) and lost to overflow.
 * -ENOENT if no port, -EINVAL if not held or 'new_host' out of range,
 * -EHOSTUNREACH if 'new_host' has no uplink (the port stays held). */
int dplane_port_hold(struct dplane *, uint32_t vif_id, struct fx_err *err);
int dplane_port_release(struct dplane *, uint32_t vif_id, uint32_t new_host,
                        uint64_t *held, uint64_t *dropped,
                        struct fx_err *err);
/* The counts so far of a held port.  -ENOENT if it is not held. */
int dplane_port_hold_stats(const struct dplane *, uint32_t vif_id,
                           uint64_t *held, uint64_t *dropped);

/* Calls 'fn' with 'arg' each time an uplink MARKER holds a VIF: the
 * source of a migration has drained it and is about to stop the guest
 * (the switchover as the fabric sees it).  NULL 'fn': no hook. */
void dplane_set_hold_hook(struct dplane *, void (*fn)(void *arg,
                                                      uint32_t vif_id),
                          void *arg);

/* The engine, borrowed, for what the wrappers above do not cover. */
const struct fswitch *dplane_switch(const struct dplane *);

#endif
