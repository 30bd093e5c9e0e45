/* mig_src_priv: the source end's state, shared by mig_src.c (rounds,
 * switchover, rollback) and mig_src_pages.c (records and how they reach
 * the socket); not for users, who see mig_src.h. */
#ifndef MIG_SRC_PRIV_H
#define MIG_SRC_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>

#include "fx_err.h"
#include "mig_src.h"
#include "vfio_mig.h"

/* Keep this much queued ahead of the socket: enough that the kernel never
 * waits for us, small enough that a round's end is measured promptly. */
#define SRC_HIGH_WATER (2u * 1024 * 1024)
#define SRC_LOW_WATER (1u * 1024 * 1024)
#define SRC_MAX_IO (1u * 1024 * 1024)     /* VFIO's 1 MiB buffer. */

enum src_io { SRC_IDLE, SRC_SENDING, SRC_DRAINING, SRC_WAIT_RESUMED };

struct mig_src {
    struct event_base *base;        /* Borrowed. */
    struct guestmem *gm;            /* Borrowed. */
    struct mig_params params;
    struct mig_src_cbs cbs;
    struct mig_job job;
    struct vfio_mig devs[MIG_MAX_DEVICES];
    size_t n_devs;
    struct bufferevent *bev;        /* Owned page stream, or NULL. */
    struct ev_token_bucket_cfg *rl; /* Owned rate limit, or NULL. */
    struct event *timeout;          /* Owned job timer. */
    struct event *finish;           /* Owned: calls 'done' from the loop. */
    struct event *kick;             /* Owned: socket writable, or NULL
                                     * (direct writes only unlimited). */
    uint64_t *bitmap;               /* Owned: pages still to send. */
    uint64_t cursor;                /* Next page to look at. */
    enum src_io io;
    uint64_t t_start_us, t_round_us, t_stop_us;
    uint64_t round_bytes;           /* Bytes queued this round. */
    int final;                      /* This round is the stop-and-copy. */
    uint64_t final_start;           /* bytes_sent when the guest stopped. */
    unsigned high_cnt;              /* Rounds in a row dirtying too much. */
    int gated;                      /* before_stop holds the switchover. */
    struct mig_report report;
    struct fx_err err;              /* Why it failed, for 'done'. */
};

/* Queues a header 'hdr' and 'len' bytes of 'data' (both copied or sent
 * before return); 'more': the caller writes again at once. */
void mig_src_send(struct mig_src *, const uint8_t *hdr, const void *data,
                  size_t len, int more);
/* Queues one record of type 'type' with 'len' payload bytes, counted in
 * the report and the round. */
void mig_src_put(struct mig_src *, uint8_t type, uint64_t arg,
                 const void *data, uint32_t len);
/* Queues one record of the next dirty pages; returns how many, 0 when
 * the round's bitmap is done. */
unsigned mig_src_put_batch(struct mig_src *);
/* Writes up to about 1 MiB of page records straight from guest memory;
 * returns the bytes, 0 when the round's bitmap is done. */
size_t mig_src_put_batch_direct(struct mig_src *);

#endif
