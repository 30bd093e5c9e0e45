/* traffic: the guest traffic model of a host's vNICs: generators that send
 * numbered frames at a rate, and sinks that account for them.
 *
 * Each generated frame carries, after its Ethernet header (ethertype
 * 0x88B5, IEEE local experimental), a payload header:
 *     magic u32 "FXTR" | flow id u32 | sequence u64 | send time u64 (us)
 * The sink counts received, duplicated and reordered frames from the
 * sequence numbers with a sliding bitmap of the last TRAFFIC_WINDOW
 * sequences, and lost = (highest sequence seen + 1) - distinct received:
 * the gaps, never a difference of two counters.  A frame older than the
 * window is counted as reordered (it cannot be checked for duplication).
 * Loss after the highest frame seen (the tail) shows as 'sent' on the
 * generator minus 'highest + 1' on the sink, once the flow is stopped.
 *
 * The pure parts (traffic_gen_*, traffic_sink_*, traffic_parse) take the
 * time as an argument; struct traffic adds the libevent timer and the
 * flow tables. */
#ifndef TRAFFIC_H
#define TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "fx_hist.h"

struct fx_err;

#define TRAFFIC_ETHERTYPE 0x88B5u
#define TRAFFIC_MAGIC 0x46585452u            /* "FXTR" */
#define TRAFFIC_HDR_SIZE (14u + 24u)
#define TRAFFIC_MIN_SIZE 64u                 /* Ethernet minimum. */
#define TRAFFIC_MAX_SIZE 9216u
#define TRAFFIC_WINDOW 4096u                 /* Sequences, multiple of 64. */
#define TRAFFIC_MAX_FLOWS 64u
#define TRAFFIC_TICK_US 1000u                /* Generator timer period. */

struct traffic_gen_cfg {
    uint32_t flow_id;
    uint32_t src_vif;                /* VIF the frames leave by. */
    uint8_t src_mac[6], dst_mac[6];
    uint32_t rate_pps;               /* 1.. */
    uint32_t size;                   /* TRAFFIC_MIN_SIZE..TRAFFIC_MAX_SIZE */
    uint64_t count;                  /* 0: until stopped. */
};

struct traffic_gen {
    struct traffic_gen_cfg cfg;
    uint64_t start_us;
    uint64_t sent;                   /* Also the next sequence number. */
};

struct traffic_sink {
    uint32_t flow_id;
    uint8_t src_mac[6], dst_mac[6];  /* The flow's VIFs, as
                                      * traffic_sink_set_macs() told;
                                      * zero if it was not. */
    bool any;                        /* A frame was received. */
    uint64_t highest;                /* Highest sequence seen. */
    uint64_t received, distinct, duplicated, reordered;
    uint64_t window[TRAFFIC_WINDOW / 64];
    struct fx_hist latency_us;
};

struct traffic_stats {
    uint32_t flow_id;
    uint64_t sent;                   /* Generator side (0 if not here). */
    uint64_t received, lost, duplicated, reordered;
    uint64_t p50_us, p99_us;         /* One-way, send to sink. */
};

/* ---- Pure ---- */

/* Checks 'cfg': -EINVAL with 'err' filled when out of range. */
int traffic_gen_check(const struct traffic_gen_cfg *cfg, struct fx_err *err);
void traffic_gen_init(struct traffic_gen *, const struct traffic_gen_cfg *,
                      uint64_t now_us);
/* Returns how many frames are due at 'now_us' by the rate and count. */
uint64_t traffic_gen_due(const struct traffic_gen *, uint64_t now_us);
/* Returns true once 'count' frames were sent. */
bool traffic_gen_done(const struct traffic_gen *);
/* Writes the next frame (cfg.size bytes) into 'frame' and counts it. */
void traffic_gen_fill(struct traffic_gen *, uint8_t *frame, uint64_t now_us);

/* Parses the payload header of 'frame'.  Returns 0, or -EBADMSG when the
 * frame is not a traffic frame. */
int traffic_parse(const uint8_t *frame, size_t len, uint32_t *flow_id,
                  uint64_t *seq, uint64_t *sent_us);

void traffic_sink_init(struct traffic_sink *, uint32_t flow_id);
/* Accounts for frame 'seq', which took 'latency_us'. */
void traffic_sink_rx(struct traffic_sink *, uint64_t seq,
                     uint64_t latency_us);
/* Fills the receive side of '*st'. */
void traffic_sink_stats(const struct traffic_sink *, struct traffic_stats *st);

/* ---- With a timer ---- */

/* Where generated frames go (the uplink): 'reserve' returns room for a
 * 'len'-byte frame from 'vif' or NULL when the uplink pushes back (the
 * generator retries at the next tick, so a full uplink delays frames but
 * loses none); 'flush' sends what was reserved, once per tick. */
struct traffic_io {
    uint8_t *(*reserve)(void *arg, uint32_t vif, uint32_t len);
    void (*flush)(void *arg);
    void *arg;                       /* Borrowed. */
};

struct traffic;

/* Creates the traffic model on 'base' (borrowed) sending through 'io'
 * (copied).  The caller owns it. */
struct traffic *traffic_create(struct event_base *base,
                               const struct traffic_io *io);
void traffic_destroy(struct traffic *);

/* Starts generator 'cfg->flow_id'.  -EINVAL, -EEXIST, -ENOSPC. */
int traffic_gen_start(struct traffic *, const struct traffic_gen_cfg *cfg,
                      struct fx_err *err);
/* Opens the sink of flow 'flow_id'.  -EEXIST, -ENOSPC. */
int traffic_sink_open(struct traffic *, uint32_t flow_id,
                      struct fx_err *err);
/* Records the MACs of the VIFs flow 'flow_id' goes from and to with its
 * sink, which traffic_ends() reports (they move with it).  -ENOENT when
 * no sink of that flow is open here. */
int traffic_sink_set_macs(struct traffic *, uint32_t flow_id,
                          const uint8_t src_mac[6], const uint8_t dst_mac[6]);
/* Stops generator and closes sink of 'flow_id' (their stats go too).
 * -ENOENT when neither exists. */
int traffic_stop(struct traffic *, uint32_t flow_id, struct fx_err *err);
/* Stops every generator, keeping its stats. */
void traffic_pause_all(struct traffic *);
/* Gives a received frame to its sink; frames of no open flow are counted
 * in traffic_foreign().  Matches the uplink's rx callback. */
void traffic_rx(void *t, uint32_t vif, const uint8_t *frame, size_t len);
uint64_t traffic_foreign(const struct traffic *);
/* Fills '*st' with what this host knows of 'flow_id'.  -ENOENT. */
int traffic_stats_get(const struct traffic *, uint32_t flow_id,
                      struct traffic_stats *st);
/* Stores up to 'max' flow ids known here in 'ids'; returns how many. */
uint32_t traffic_flow_ids(const struct traffic *, uint32_t *ids,
                          uint32_t max);
/* One generator or sink run here, as traffic_ends() reports it. */
struct traffic_end {
    uint32_t flow_id;
    bool sender;                     /* A generator; else a sink. */
    uint8_t src_mac[6], dst_mac[6];
};
/* Stores up to 'max' ends run here in 'ends' (a flow with both ends
 * here has two), generators parked by a migration too; returns how
 * many. */
size_t traffic_ends(const struct traffic *, struct traffic_end *ends,
                    size_t max);
/* True while flow 'flow_id''s generator runs here. */
bool traffic_running(const struct traffic *, uint32_t flow_id);
/* Returns true when every generator is done. */
bool traffic_idle(const struct traffic *);
/* Borrowed histogram of flow 'flow_id''s sink, NULL if none. */
const struct fx_hist *traffic_latency(const struct traffic *,
                                      uint32_t flow_id);

/* ---- Migration: the guest's flows move with it ---- */

/* Serializes the generators 'gens' and sinks 'sinks' known here (others
 * skipped) into a malloc'ed buffer (the caller frees it) and pauses those
 * generators: the guest stopped.  Same binary on both ends. */
int traffic_export(struct traffic *, const uint32_t *gens, size_t n_gens,
                   const uint32_t *sinks, size_t n_sinks, uint8_t **bufp,
                   size_t *sizep);
/* Pauses generators 'gens' (the guest is about to stop): their frames
 * wait, none is numbered meanwhile.  traffic_resume() undoes it. */
void traffic_pause(struct traffic *, const uint32_t *gens, size_t n_gens);
/* Rollback: the exported generators send again. */
void traffic_resume(struct traffic *, const uint32_t *gens, size_t n_gens);
/* Commit on the source: drops those generators and sinks (and flows left
 * with neither). */
void traffic_forget(struct traffic *, const uint32_t *gens, size_t n_gens,
                    const uint32_t *sinks, size_t n_sinks);
/* The destination takes them over; generators that ran are parked until
 * traffic_unpark() of their VIF: the fabric holds the VIF's port until
 * it maps it here, and would drop what it sent before. */
void traffic_unpark(struct traffic *, uint32_t vif);
/* The destination takes them over (see traffic_unpark()).
 * -EBADMSG for a damaged buffer, or a record this code could not have
 * exported: a generator traffic_gen_check() refuses, a sink whose flag is
 * no bool, a body of another flow (what was taken before stays). */
int traffic_import(struct traffic *, const uint8_t *buf, size_t size,
                   struct fx_err *err);

#endif
