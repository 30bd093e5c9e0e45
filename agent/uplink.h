/* uplink: the agent side of the data plane: one TCP connection to the
 * fabric's dplane, apart from the control RPC connection, carrying batches
 * of frames (dframe.h) both ways.
 *
 * Sending is batched without a copy: uplink_reserve() hands out room in the
 * batch being built, the caller writes the frame there, and uplink_flush()
 * (or a full batch) passes the batch to libevent.  When more than
 * UPLINK_PAUSE_BYTES wait to be sent, reserve returns NULL: the vNIC's tx
 * ring is full, the guest retries later.
 *
 * Each received frame goes to the rx callback with its destination VIF;
 * the frame is borrowed for the duration of the call. */
#ifndef UPLINK_H
#define UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "dframe.h"

struct fx_err;
struct uplink;

#define UPLINK_PAUSE_BYTES (4u << 20)

typedef void (*uplink_rx_fn)(void *arg, uint32_t vif_id,
                             const uint8_t *frame, size_t len);

struct uplink_cfg {
    const char *fabric;      /* "HOST:PORT" of the dplane, borrowed. */
    /* The one-time ticket our HELLO presents (Dataplane.GetUplink): the
     * fabric knows from it which host we are.  A ticket is good once, so
     * a closed uplink needs a new one. */
    struct dframe_ticket ticket;
    uplink_rx_fn rx;         /* Called per received frame. */
    void *rx_arg;            /* Borrowed. */
    /* Called per MARKER the fabric echoes (may be NULL): every frame it
     * switched to 'vif' before holding it has gone to 'rx' already. */
    void (*marker)(void *arg, uint32_t token, uint32_t vif);
    /* The lab secret the uplink proves first, as the agent of 'host'
     * (borrowed, must outlive the uplink); NULL: none.  'host' NULL: an
     * unnamed agent (tests). */
    const struct auth_key *key;
    const char *host;
};

/* Connects to the fabric on 'base' (borrowed), proves the lab secret,
 * then presents the HELLO (cfg->ticket); frames sent before then wait.
 * Stores the uplink in '*upp' (the caller owns it).  A fabric that does
 * not take the secret or the ticket closes the uplink. */
int uplink_create(struct event_base *base, const struct uplink_cfg *cfg,
                  struct uplink **upp, struct fx_err *err);
void uplink_destroy(struct uplink *);

/* True once connected, false again after the fabric closed it. */
bool uplink_is_up(const struct uplink *);
/* True once the connection is gone for good (closed, refused, garbage):
 * the owner destroys it and connects a new one. */
bool uplink_is_closed(const struct uplink *);
/* True when uplink_reserve() would hand out room now (open, not pushing
 * back), so a frame taken off a ring for it is never lost. */
bool uplink_can_send(const struct uplink *);

/* Returns room for a 'len'-byte frame from 'vif', or NULL when the uplink
 * is down or pushes back. */
uint8_t *uplink_reserve(struct uplink *, uint32_t vif, uint32_t len);
/* Sends the batch being built, if any. */
void uplink_flush(struct uplink *);
/* Sends the batch being built, then a MARKER of 'token' for 'vif' (see
 * dframe.h): the fabric holds 'vif' when it reads it and echoes it.
 * Returns 0, or -EAGAIN when the uplink is down. */
int uplink_marker(struct uplink *, uint32_t token, uint32_t vif);

/* Announces that 'vif' (MAC 'mac') is now here, as QEMU does after a
 * migration: one RARP frame (ethertype 0x8035, reverse request, to
 * broadcast, from 'mac'), sent at once.  The fabric learns from it and
 * floods it in the VLAN like any broadcast.  Returns 0, or -EAGAIN when
 * the uplink is down or pushing back. */
#define UPLINK_ETH_P_RARP 0x8035u
#define UPLINK_RARP_LEN 60u
int uplink_announce(struct uplink *, uint32_t vif, const uint8_t mac[6]);
/* Announce frames sent since creation. */
uint64_t uplink_announces(const struct uplink *);
/* Builds the RARP frame of 'mac' into 'f' (UPLINK_RARP_LEN bytes). */
void uplink_rarp_build(uint8_t *f, const uint8_t mac[6]);
/* Frames sent and received since creation. */
uint64_t uplink_tx_frames(const struct uplink *);
uint64_t uplink_rx_frames(const struct uplink *);

#endif
