/* mig_src: outgoing migration: pre-copy rounds, switchover, rollback,
 * and the page records that carry them to the socket: buffered, or
 * written straight from guest memory (see src_put_batch_direct). */
#include "mig_src.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth.h"
#include "fx_err.h"
#include "fx_addr.h"
#include "fx_time.h"
#include "guestmem.h"
#include "log.h"
#include "mig_wire.h"

LOG_MODULE("mig_src");

/* Keep this much queued ahead of the socket: enough that the kernel never
 * waits for us, small enough that a round's end is measured promptly. */
#define SRC_HIGH_WATER (2u * 1024 * 1024)
#define SRC_LOW_WATER (1u * 1024 * 1024)
#define SRC_MAX_IO (1u * 1024 * 1024)     /* VFIO's 1 MiB buffer. */

enum src_io { SRC_IDLE, SRC_SENDING, SRC_DRAINING, SRC_WAIT_RESUMED };

struct mig_src {
    struct event_base *base;        /* Borrowed. */
    struct guestmem *gm;            /* Borrowed. */
    const struct auth_key *key;     /* Borrowed; the lab secret. */
    struct auth_key no_key;
    struct auth_ident me;           /* As the destination sees us. */
    struct auth *auth;              /* Owned while the handshake runs. */
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
    int connected;                  /* The stream's socket is up. */
    int force;                      /* Switch over at the next round's
                                     * end, converged or not. */
    uint64_t t_sync_us;             /* The last bitmap sync, 0: none. */
    uint64_t dirty_rate;            /* Pages/s between the last two. */
    uint64_t bw_t_us, bw_bytes;     /* Start of the bandwidth interval:
                                     * time, bytes processed then. */
    struct mig_report report;
    struct fx_err err;              /* Why it failed, for 'done'. */
};

static void src_read_cb(struct bufferevent *bev, void *arg);
static void src_connected(struct mig_src *src);
static void src_write_cb(struct bufferevent *bev, void *arg);
static void src_event_cb(struct bufferevent *bev, short what, void *arg);
static void src_fail(struct mig_src *src, const struct fx_err *why);
static void src_stream_free(struct mig_src *src);
static void src_poll_resumed(struct mig_src *src);
static int src_answer(struct mig_src *src, const struct mig_wire_hdr *h,
                      const char *reason);

static void
src_finish_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mig_src *src = arg;

    (void) fd;
    (void) what;
    if (src->cbs.done) {
        src->cbs.done(&src->report,
                      src->report.result == MIG_RESULT_COMPLETED
                      ? NULL : &src->err, src->cbs.arg);
    }
}

static void
src_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mig_src *src = arg;
    struct fx_err why;

    (void) fd;
    (void) what;
    fx_err_set(&why, -ETIMEDOUT, "migration timed out after %" PRIu32
               " ms", src->params.timeout_ms);
    src_fail(src, &why);
}

int
mig_src_create(struct event_base *base, struct guestmem *gm,
               uint32_t job_id, const struct mig_params *params,
               const char *const *dev_names, size_t n_devs,
               const struct mig_src_cbs *cbs, struct mig_src **srcp,
               struct fx_err *err)
{
    struct mig_src *src;
    int rc;

    *srcp = NULL;
    rc = mig_params_check(params, err);
    if (rc < 0) {
        return rc;
    }
    if (n_devs > MIG_MAX_DEVICES) {
        return fx_err_set(err, -EINVAL, "%zu devices, at most %u", n_devs,
                          MIG_MAX_DEVICES);
    }
    src = calloc(1, sizeof *src);
    if (!src) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    src->base = base;
    auth_key_none(&src->no_key);
    src->me = (struct auth_ident) { AUTH_ROLE_PEER, "unnamed" };
    src->gm = gm;
    src->params = *params;
    src->cbs = *cbs;
    src->n_devs = n_devs;
    for (size_t i = 0; i < n_devs; i++) {
        vfio_mig_init(&src->devs[i], dev_names[i], VFIO_MIGRATION_ALL);
    }
    mig_job_init(&src->job, job_id, MIG_ROLE_SOURCE, NULL);
    src->report.job_id = job_id;
    src->bitmap = calloc(guestmem_bitmap_words(gm), sizeof (uint64_t));
    src->timeout = evtimer_new(base, src_timeout_cb, src);
    src->finish = evtimer_new(base, src_finish_cb, src);
    if (!src->bitmap || !src->timeout || !src->finish) {
        mig_src_destroy(src);
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    *srcp = src;
    return 0;
}

/* Moves every device to 'to'; on failure puts that one in ERROR, as the
 * kernel may leave it. */
static int
src_devs_set(struct mig_src *src, enum vfio_mig_state to,
             struct fx_err *err)
{
    for (size_t i = 0; i < src->n_devs; i++) {
        int rc = vfio_mig_set_state(&src->devs[i], to, err);

        if (rc < 0) {
            vfio_mig_set_error(&src->devs[i]);
            return rc;
        }
    }
    return 0;
}

static void
src_stream_free(struct mig_src *src)
{
    if (src->kick) {
        event_free(src->kick);
        src->kick = NULL;
    }
    if (src->bev) {
        bufferevent_free(src->bev);
        src->bev = NULL;
    }
}

/* Source side of libvirt's Confirm3 with cancelled=1: stop the stream,
 * devices back to RUNNING (reset from ERROR), guest resumed. */
static void
src_rollback(struct mig_src *src)
{
    event_del(src->timeout);
    src_stream_free(src);
    src->io = SRC_IDLE;
    for (size_t i = 0; i < src->n_devs; i++) {
        if (src->devs[i].state == VFIO_MIG_ERROR
            || vfio_mig_set_state(&src->devs[i], VFIO_MIG_RUNNING,
                                  NULL) < 0) {
            vfio_mig_reset(&src->devs[i]);
        }
    }
    guestmem_set_throttle(src->gm, 0);
    guestmem_set_running(src->gm, 1);
}

static void
src_done(struct mig_src *src, enum mig_result result)
{
    src->report.result = result;
    src->report.total_us = fx_time_now_us() - src->t_start_us;
    event_active(src->finish, EV_TIMEOUT, 0);
}

static void
src_fail(struct mig_src *src, const struct fx_err *why)
{
    if (mig_job_handle(&src->job, MIG_EV_ERROR, src, NULL) < 0) {
        return;     /* Already final or rolling back: first error wins. */
    }
    src->err = *why;
    LOG_DBG("job %" PRIu32 ": failed: %s", src->job.id, why->msg);
    src_rollback(src);
    mig_job_handle(&src->job, MIG_EV_ROLLED_BACK, src, NULL);
    src_done(src, MIG_RESULT_FAILED);
}

void
mig_src_fail(struct mig_src *src, const struct fx_err *why)
{
    src_fail(src, why);
}

int
mig_src_cancel(struct mig_src *src, struct fx_err *err)
{
    int rc = mig_job_handle(&src->job, MIG_EV_CANCEL, src, err);

    if (rc < 0) {
        return rc;
    }
    fx_err_set(&src->err, -ECANCELED, "migration cancelled");
    src_rollback(src);
    mig_job_handle(&src->job, MIG_EV_ROLLED_BACK, src, NULL);
    src_done(src, MIG_RESULT_CANCELLED);
    return 0;
}

void
mig_src_destroy(struct mig_src *src)
{
    if (!src) {
        return;
    }
    if (!mig_state_is_final(src->job.state)
        && src->job.state != MIG_NONE) {
        src_rollback(src);
    }
    src_stream_free(src);
    auth_destroy(src->auth);
    if (src->rl) {
        ev_token_bucket_cfg_free(src->rl);
    }
    if (src->timeout) {
        event_free(src->timeout);
    }
    if (src->finish) {
        event_free(src->finish);
    }
    free(src->bitmap);
    free(src);
}

void
mig_src_set_auth(struct mig_src *src, const struct auth_key *key,
                 const struct auth_ident *me)
{
    src->key = key;
    src->me = *me;
}

/* ---- Records, and how they reach the socket ---- */

/* Queues a header and its payload; on an unlimited stream with nothing
 * queued, writes what the socket takes now, in one segment (the records
 * that end a round, the devices' state and END are small: waiting for the
 * loop's next turn would add to the downtime).  'more': another write
 * follows at once, so the kernel may hold this one back to send both in
 * one segment (MSG_MORE): each loopback segment costs the sender about 7
 * us on a small VM, in the downtime when it carries a device's state. */
static void
src_send(struct mig_src *src, const uint8_t *hdr, const void *data,
             size_t len, int more)
{
    struct evbuffer *out = bufferevent_get_output(src->bev);
    struct iovec iov[2] = {
        { (void *) hdr, MIG_WIRE_HDR_SIZE }, { (void *) data, len },
    };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
    ssize_t w = 0;

    if (src->kick && !evbuffer_get_length(out)) {
        w = sendmsg(bufferevent_getfd(src->bev), &msg, more ? MSG_MORE : 0);
        w = w < 0 ? 0 : w;  /* The bufferevent reports errors. */
    }
    for (int i = 0; i < 2; i++) {
        size_t skip = (size_t) w < iov[i].iov_len ? (size_t) w
                                                  : iov[i].iov_len;

        if (skip < iov[i].iov_len) {
            evbuffer_add(out, (const uint8_t *) iov[i].iov_base + skip,
                         iov[i].iov_len - skip);
        }
        w -= (ssize_t) skip;
    }
}

/* Queues one record of type 'type' with 'len' payload bytes. */
static void
src_put(struct mig_src *src, uint8_t type, uint64_t arg, const void *data,
        uint32_t len)
{
    struct mig_wire_hdr h = { type, len, arg, mig_wire_sum(data, len) };
    uint8_t hdr[MIG_WIRE_HDR_SIZE];

    mig_wire_encode(hdr, &h);
    /* A DEVICE is always followed by another or by END.  STOP goes alone:
     * it tells a destination that stopped polling to start again, and its
     * wakeup then overlaps the source's work. */
    src_send(src, hdr, data, len, type == MIG_WIRE_DEVICE);
    src->report.bytes_sent += sizeof hdr + len;
    src->round_bytes += sizeof hdr + len;
}

/* Finds the next page to send at or after the cursor; returns
 * guestmem_pages() when none is left. */
static uint64_t
src_next_page(struct mig_src *src)
{
    uint64_t pages = guestmem_pages(src->gm);
    size_t w = src->cursor / 64, words = guestmem_bitmap_words(src->gm);
    uint64_t bits;

    if (src->cursor >= pages) {
        return pages;
    }
    bits = src->bitmap[w] & (~0ull << (src->cursor % 64));
    while (!bits) {
        if (++w >= words) {
            return pages;
        }
        bits = src->bitmap[w];
    }
    return w * 64 + (uint64_t) __builtin_ctzll(bits);
}

/* Queues one PAGES record of up to MIG_WIRE_BATCH dirty pages, copied
 * into the output buffer in place (the guest may write them again before
 * the socket takes them; they are then dirty and sent again).  Returns
 * the number of pages, 0 at the end of the bitmap. */
static unsigned
src_put_batch(struct mig_src *src)
{
    uint64_t idx[MIG_WIRE_BATCH], pages = guestmem_pages(src->gm);
    const uint32_t rec = MIG_WIRE_PAGES_LEN(MIG_WIRE_BATCH);
    struct evbuffer *out = bufferevent_get_output(src->bev);
    struct evbuffer_iovec v;
    unsigned n = 0;

    if (evbuffer_reserve_space(out, MIG_WIRE_HDR_SIZE + rec, &v, 1) < 1) {
        return 0;   /* Out of memory: the round ends short, pages stay. */
    }
    for (uint64_t p; n < MIG_WIRE_BATCH
         && (p = src_next_page(src)) < pages; n++) {
        src->bitmap[p / 64] &= ~(1ull << (p % 64));
        idx[n] = p;
        src->cursor = p + 1;
    }
    if (!n) {
        return 0;
    }
    uint8_t *base = v.iov_base, *pay = base + MIG_WIRE_HDR_SIZE;
    uint32_t len = MIG_WIRE_PAGES_LEN(n);
    const uint8_t *mem = guestmem_data(src->gm);

    memset(pay, 0, MIG_WIRE_IDX_SIZE(n));
    for (unsigned i = 0; i < n; i++) {
        mig_wire_put64(pay + 8 * i, idx[i]);
        memcpy(pay + MIG_WIRE_IDX_SIZE(n) + (size_t) i * GUESTMEM_PAGE_SIZE,
               mem + idx[i] * GUESTMEM_PAGE_SIZE, GUESTMEM_PAGE_SIZE);
    }
    struct mig_wire_hdr h = { MIG_WIRE_PAGES, len, n, mig_wire_sum(pay,
                                                                   len) };
    mig_wire_encode(base, &h);
    v.iov_len = MIG_WIRE_HDR_SIZE + len;
    evbuffer_commit_space(out, &v, 1);
    src->report.bytes_sent += v.iov_len;
    src->round_bytes += v.iov_len;
    src->report.pages_sent += n;
    return n;
}

/* Without a bandwidth limit and with nothing queued, PAGES records go
 * straight from guest memory to the socket, SRC_DIRECT_RECS records per
 * writev() (about 1 MiB, as libevent's own writes): no copy into the
 * output buffer and no churn of its memory (freed chunks go back to the
 * kernel and fault in again).  The guest's writes (its timer, the data
 * plane) run on this thread, so no page changes between the checksum and
 * writev(), which copies them into the socket.  What the socket does not
 * take is copied into the output buffer. */
#define SRC_DIRECT_RECS 16
#define SRC_HEAD_SIZE (MIG_WIRE_HDR_SIZE + MIG_WIRE_IDX_SIZE(MIG_WIRE_BATCH))

struct src_gather {
    uint8_t head[SRC_DIRECT_RECS][SRC_HEAD_SIZE];
    struct iovec iov[SRC_DIRECT_RECS * (1 + MIG_WIRE_BATCH)];
    int n_iov;
    unsigned n_recs;
    unsigned rec_pages[SRC_DIRECT_RECS];
    const uint8_t *page[SRC_DIRECT_RECS * MIG_WIRE_BATCH];  /* In order. */
    size_t bytes;
};

/* Dirty pages are scattered (a final round of a busy 1 GiB guest touches
 * one page in twelve), so the hardware prefetcher, which follows
 * sequential streams, does not help: each page would be a cold miss.
 * While a page is summed, the next one is asked for whole, and the first
 * line of the one SRC_PF_AHEAD further: a prefetch that misses the TLB
 * goes slowly, so that first touch warms the translation for the whole
 * prefetch later.  Measured over 2000 scattered pages of a 1 GiB guest on
 * huge pages: 0.62 us a page with the next page prefetched alone, 0.27
 * with the first line ahead too (0.14 in sequence). */
#define SRC_PF_AHEAD 4

static inline void
src_prefetch_page(const uint8_t *page)
{
    for (unsigned o = 0; o < GUESTMEM_PAGE_SIZE; o += 64) {
        __builtin_prefetch(page + o, 0, 3);
    }
}

/* Adds one record of up to MIG_WIRE_BATCH dirty pages to 'g', its header
 * still to fill (src_gather_sums); returns the number of pages, 0 at the
 * end of the bitmap. */
static unsigned
src_gather_record(struct mig_src *src, struct src_gather *g)
{
    uint64_t pages = guestmem_pages(src->gm);
    uint8_t *mem = guestmem_data(src->gm), *idx;
    struct iovec *iov = g->iov + g->n_iov;
    unsigned rec = g->n_recs, n = 0;

    idx = g->head[rec] + MIG_WIRE_HDR_SIZE;
    for (uint64_t p; n < MIG_WIRE_BATCH
         && (p = src_next_page(src)) < pages; n++) {
        src->bitmap[p / 64] &= ~(1ull << (p % 64));
        src->cursor = p + 1;
        mig_wire_put64(idx + 8 * n, p);
        iov[1 + n].iov_base = mem + p * GUESTMEM_PAGE_SIZE;
        iov[1 + n].iov_len = GUESTMEM_PAGE_SIZE;
    }
    if (!n) {
        return 0;
    }
    memset(idx + 8 * n, 0, MIG_WIRE_IDX_SIZE(n) - 8 * n);
    iov[0].iov_base = g->head[rec];
    iov[0].iov_len = MIG_WIRE_HDR_SIZE + MIG_WIRE_IDX_SIZE(n);
    g->n_iov += 1 + (int) n;
    g->rec_pages[rec] = n;
    g->n_recs++;
    g->bytes += MIG_WIRE_HDR_SIZE + MIG_WIRE_PAGES_LEN(n);
    src->report.pages_sent += n;
    return n;
}

/* Checksums every record of 'g' and writes its header; the pages in
 * order across the records, prefetched ahead (SRC_PF_AHEAD). */
static void
src_gather_sums(struct src_gather *g)
{
    unsigned n_pages = 0, k = 0;
    int hv = 0;

    for (unsigned r = 0; r < g->n_recs; r++) {
        for (unsigned i = 0; i < g->rec_pages[r]; i++) {
            g->page[n_pages++] = g->iov[hv + 1 + (int) i].iov_base;
        }
        hv += 1 + (int) g->rec_pages[r];
    }
    for (unsigned r = 0; r < g->n_recs; r++) {
        unsigned n = g->rec_pages[r];
        const uint8_t *idx = g->head[r] + MIG_WIRE_HDR_SIZE;
        struct mig_wire_sum sum;

        mig_wire_sum_init(&sum);
        mig_wire_sum_add(&sum, idx, MIG_WIRE_IDX_SIZE(n));
        for (unsigned i = 0; i < n; i++, k++) {
            if (k + SRC_PF_AHEAD < n_pages) {
                __builtin_prefetch(g->page[k + SRC_PF_AHEAD], 0, 3);
            }
            if (k + 1 < n_pages) {
                src_prefetch_page(g->page[k + 1]);
            }
            mig_wire_sum_add(&sum, g->page[k], GUESTMEM_PAGE_SIZE);
        }
        struct mig_wire_hdr h = { MIG_WIRE_PAGES, MIG_WIRE_PAGES_LEN(n), n,
                                  mig_wire_sum_final(&sum) };
        mig_wire_encode(g->head[r], &h);
    }
}

/* Writes up to SRC_DIRECT_RECS records; returns their bytes, 0 at the end
 * of the bitmap. */
static size_t
src_put_batch_direct(struct mig_src *src)
{
    struct src_gather g;            /* 8.4 KiB of stack. */
    ssize_t w;

    g.n_iov = 0;
    g.n_recs = 0;
    g.bytes = 0;
    while (g.n_recs < SRC_DIRECT_RECS && src_gather_record(src, &g)) {
        continue;
    }
    if (!g.bytes) {
        return 0;
    }
    src_gather_sums(&g);
    w = writev(bufferevent_getfd(src->bev), g.iov, g.n_iov);
    w = w < 0 ? 0 : w;  /* EAGAIN, or an error the bufferevent will see. */
    for (int i = 0; i < g.n_iov; i++) {
        size_t l = g.iov[i].iov_len, skip = (size_t) w < l ? (size_t) w : l;

        if (skip < l) {
            evbuffer_add(bufferevent_get_output(src->bev),
                         (uint8_t *) g.iov[i].iov_base + skip, l - skip);
        }
        w -= (ssize_t) skip;
    }
    src->report.bytes_sent += g.bytes;
    src->round_bytes += g.bytes;
    return g.bytes;
}

/* ---- Statistics ---- */

/* Bytes the socket took: what was queued minus what still waits (the
 * handshake's bytes, which are not the stream's, wait there too at
 * first). */
static uint64_t
src_processed(const struct mig_src *src)
{
    size_t queued = src->bev ? evbuffer_get_length(
                                   bufferevent_get_output(src->bev)) : 0;

    return queued < src->report.bytes_sent
           ? src->report.bytes_sent - queued : 0;
}

/* Pages/s the guest dirties: over the time since the last sync once it
 * is long enough to mean something, else between the last two syncs. */
#define SRC_RATE_MIN_US 100000u

static uint64_t
src_dirty_rate(const struct mig_src *src, uint64_t now)
{
    uint64_t since = now - src->t_sync_us;

    if (!src->t_sync_us || since < SRC_RATE_MIN_US
        || !guestmem_is_running(src->gm)) {
        return src->dirty_rate;
    }
    return guestmem_dirty_count(src->gm) * 1000000 / since;
}

/* Fills 'st' at time 'now' with 'remaining' bytes still to send and a
 * bandwidth of 'bw' bytes/s. */
static void
src_stats_at(const struct mig_src *src, uint64_t now, uint64_t remaining,
             uint64_t bw, struct mig_stats *st)
{
    *st = (struct mig_stats) {
        .iteration = src->report.rounds,
        .total_bytes = guestmem_size(src->gm),
        .processed_bytes = src_processed(src),
        .remaining_bytes = remaining,
        .dirty_rate_pages_per_s = src_dirty_rate(src, now),
        .bandwidth_bytes_per_s = bw,
        .expected_downtime_ms = bw ? remaining * 1000 / bw : 0,
        .elapsed_ms = src->t_start_us ? (now - src->t_start_us) / 1000 : 0,
        .throttle_pct = guestmem_throttle(src->gm),
        .downtime_us = src->report.downtime_us,
    };
}

/* The bandwidth interval: from its start to now, then a new one starts
 * if this one is at least SRC_BW_MIN_US long (a reader a few times a
 * second sees the rate since its last read). */
#define SRC_BW_MIN_US 100000u

static uint64_t
src_bandwidth(struct mig_src *src, uint64_t now, uint64_t processed)
{
    uint64_t t0 = src->bw_t_us ? src->bw_t_us : src->t_start_us;
    uint64_t dt = now - t0, bw;

    if (!t0 || !dt || processed < src->bw_bytes) {
        return 0;
    }
    bw = (processed - src->bw_bytes) * 1000000 / dt;
    if (dt >= SRC_BW_MIN_US) {
        src->bw_t_us = now;
        src->bw_bytes = processed;
    }
    return bw;
}

void
mig_src_stats(struct mig_src *src, struct mig_stats *st)
{
    uint64_t now = fx_time_now_us();
    uint64_t left = guestmem_dirty_union(src->gm, src->bitmap);

    src_stats_at(src, now, left * GUESTMEM_PAGE_SIZE,
                 src_bandwidth(src, now, src_processed(src)), st);
}

/* ---- Pre-copy rounds ---- */

static void src_fill(struct mig_src *src);

/* Takes the guest's dirty log into the round's bitmap, as QEMU's
 * migration_bitmap_sync(), and the dirty rate since the last sync (none
 * for the first: it holds all of memory). */
static void
src_bitmap_sync(struct mig_src *src)
{
    uint64_t now = fx_time_now_us();
    uint64_t n = guestmem_dirty_sync(src->gm, src->bitmap);

    if (src->t_sync_us && now > src->t_sync_us) {
        src->dirty_rate = n * 1000000 / (now - src->t_sync_us);
    }
    src->t_sync_us = now;
}

static void
src_round_begin(struct mig_src *src)
{
    src->report.rounds++;
    src_bitmap_sync(src);
    src->cursor = 0;
    src->round_bytes = 0;
    src->t_round_us = fx_time_now_us();
    src->io = SRC_SENDING;
    src_write_cb(src->bev, src);
}

static void src_final_queued(struct mig_src *src);

/* A round's pages are all queued: a pre-copy round waits for the
 * destination's acknowledgement; the final one adds the devices. */
static void
src_round_queued(struct mig_src *src)
{
    if (src->final) {
        src_final_queued(src);
        return;
    }
    src_put(src, MIG_WIRE_ROUND, src->report.rounds, NULL, 0);
    src->io = SRC_DRAINING;
}

/* Unlimited stream: writes records directly while the socket takes them
 * whole, up to SRC_HIGH_WATER bytes per call so that the loop (the
 * guest's timer among others) keeps turning; then waits for the socket
 * (kick) or for the output buffer to drain (the bufferevent's write
 * callback, low watermark 0). */
static void
src_fill_direct(struct mig_src *src)
{
    struct evbuffer *out = bufferevent_get_output(src->bev);
    size_t budget = 0;

    while (!evbuffer_get_length(out) && budget < SRC_HIGH_WATER) {
        size_t n = src_put_batch_direct(src);

        if (!n) {
            src_round_queued(src);
            return;
        }
        budget += n;
    }
    if (evbuffer_get_length(out)) {
        bufferevent_setwatermark(src->bev, EV_WRITE, 0, 0);
    } else {
        event_add(src->kick, NULL);
    }
}

static void
src_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mig_src *src = arg;

    (void) fd;
    (void) what;
    if (src->io == SRC_SENDING) {
        src_fill(src);
    }
}

/* Queues pages until the high-water mark; at the end of the bitmap, marks
 * the round and waits for the output to drain to measure it. */
static void
src_fill(struct mig_src *src)
{
    struct evbuffer *out = bufferevent_get_output(src->bev);

    if (src->kick) {
        src_fill_direct(src);
        return;
    }
    while (evbuffer_get_length(out) < SRC_HIGH_WATER) {
        if (!src_put_batch(src)) {
            src_round_queued(src);
            return;
        }
    }
    bufferevent_setwatermark(src->bev, EV_WRITE, SRC_LOW_WATER, 0);
}

/* Auto-converge, as QEMU's migration_trigger_throttle(): a round that
 * dirtied more than MIG_THROTTLE_TRIGGER% of what it sent counts; two
 * such rounds raise the throttle (20%, then +10% up to 99%), or, without
 * auto-converge, fail the job with the reason. */
static int
src_check_convergence(struct mig_src *src, uint64_t dirty_bytes,
                      struct fx_err *why)
{
    unsigned t = guestmem_throttle(src->gm);

    if (dirty_bytes * 100 <= src->round_bytes * MIG_THROTTLE_TRIGGER) {
        src->high_cnt = 0;
        return 0;
    }
    if (++src->high_cnt < 2) {
        return 0;
    }
    src->high_cnt = 0;
    if (!src->params.auto_converge) {
        return fx_err_set(why, -ETIMEDOUT, "not converging: %" PRIu64
                          " KiB dirtied per round against %" PRIu64
                          " KiB sent at %" PRIu64 " MiB/s, downtime limit "
                          "%" PRIu32 " ms, auto-converge off",
                          dirty_bytes >> 10, src->round_bytes >> 10,
                          src->report.rate >> 20,
                          src->params.downtime_limit_ms);
    }
    t = t ? t + MIG_THROTTLE_INCREMENT : MIG_THROTTLE_INITIAL;
    guestmem_set_throttle(src->gm, t > MIG_THROTTLE_MAX ? MIG_THROTTLE_MAX
                                                         : t);
    if (guestmem_throttle(src->gm) > src->report.throttle_pct) {
        src->report.throttle_pct = guestmem_throttle(src->gm);
    }
    LOG_DBG("job %" PRIu32 ": throttle %u%%", src->job.id,
            guestmem_throttle(src->gm));
    return 0;
}

static void src_switchover(struct mig_src *src);

static void
src_round_end(struct mig_src *src)
{
    uint64_t now = fx_time_now_us(), dt = now - src->t_round_us;
    uint64_t dirty = guestmem_dirty_count(src->gm) * GUESTMEM_PAGE_SIZE;
    struct mig_progress pr;
    struct fx_err why;

    src->report.rate = src->round_bytes * 1000000 / (dt ? dt : 1);
    pr = (struct mig_progress) {
        src->job.id, src->report.rounds, src->round_bytes, dirty,
        src->report.rate, dt, guestmem_throttle(src->gm), { 0 },
    };
    /* Every page of the round is acknowledged: the bitmap is empty and
     * what remains is the guest's log, no scan needed. */
    src_stats_at(src, now, dirty, src->report.rate, &pr.stats);
    if (src->cbs.progress) {
        src->cbs.progress(&pr, src->cbs.arg);
    }
    if (src->force) {
        LOG_DBG("job %" PRIu32 ": switchover forced with %" PRIu64 " KiB "
                "dirty", src->job.id, dirty >> 10);
    }
    if (src->force
        || dirty * 1000 <= src->report.rate * src->params.downtime_limit_ms) {
        if (src->cbs.before_stop && src->cbs.before_stop(src->cbs.arg)) {
            src->gated = 1;
            return;
        }
        src_switchover(src);
        return;
    }
    if (src_check_convergence(src, dirty, &why) < 0) {
        src_fail(src, &why);
        return;
    }
    if (src->report.rounds >= src->params.max_rounds) {
        fx_err_set(&why, -ETIMEDOUT, "not converged after %" PRIu32
                   " rounds: %" PRIu64 " KiB still dirty, throttle %u%%",
                   src->report.rounds, dirty >> 10,
                   guestmem_throttle(src->gm));
        src_fail(src, &why);
        return;
    }
    src_round_begin(src);
}

/* Queues each device's checkpoint as a DEVICE record: its name, then the
 * caller's opaque bytes. */
static int
src_put_devices(struct mig_src *src, struct fx_err *err)
{
    for (size_t i = 0; i < src->n_devs; i++) {
        uint8_t *data = NULL, *rec;
        size_t size = 0;
        int rc = src->cbs.save ? src->cbs.save(i, &data, &size,
                                                src->cbs.arg, err) : 0;

        if (rc < 0 || size > MIG_WIRE_MAX_DEVICE) {
            free(data);
            return rc < 0 ? fx_err_wrap(err, "checkpoint of '%s'",
                                        src->devs[i].name), rc
                          : fx_err_set(err, -EMSGSIZE, "device state of "
                                       "'%s' is %zu bytes, over 4 MiB",
                                       src->devs[i].name, size);
        }
        rec = calloc(1, MIG_WIRE_DEV_NAME + size);
        if (!rec) {
            free(data);
            return fx_err_set(err, -ENOMEM, "out of memory");
        }
        memcpy(rec, src->devs[i].name, strlen(src->devs[i].name));
        if (size) {
            memcpy(rec + MIG_WIRE_DEV_NAME, data, size);
        }
        src_put(src, MIG_WIRE_DEVICE, i, rec, MIG_WIRE_DEV_NAME + size);
        src->report.device_bytes += size;
        free(rec);
        free(data);
    }
    return 0;
}

/* Switchover: stop the guest, quiesce the devices (PRE_COPY ->
 * PRE_COPY_P2P -> STOP_COPY) and stream the last dirty pages with the same
 * flow control as any round; src_final_queued() follows. */
static void
src_switchover(struct mig_src *src)
{
    struct fx_err why;

    if (mig_job_handle(&src->job, MIG_EV_SWITCHOVER, src, &why) < 0) {
        src_fail(src, &why);
        return;
    }
    /* Told while the guest still runs, as QEMU's pre-switchover: the
     * destination polls from here on (MIG_POLL_US). */
    src_put(src, MIG_WIRE_STOP, 0, NULL, 0);
    guestmem_set_running(src->gm, 0);
    src->t_stop_us = fx_time_now_us();
    src->final_start = src->report.bytes_sent;
    if (src_devs_set(src, VFIO_MIG_STOP_COPY, &why) < 0) {
        src_fail(src, &why);
        return;
    }
    src->final = 1;
    src_round_begin(src);
}

int
mig_src_switchover_go(struct mig_src *src, struct fx_err *err)
{
    if (!src->gated || src->job.state != MIG_PERFORM) {
        return fx_err_set(err, -EPROTO, "no switchover is waiting");
    }
    src->gated = 0;
    src_switchover(src);
    return 0;
}

/* After the last pages: each device's state (read from STOP_COPY until it
 * is drained, then STOP), then END; the destination's RESUMED ends it. */
static void
src_final_queued(struct mig_src *src)
{
    struct fx_err why;

    if (src_put_devices(src, &why) < 0
        || src_devs_set(src, VFIO_MIG_STOP, &why) < 0) {
        src_fail(src, &why);
        return;
    }
    src_put(src, MIG_WIRE_END, src->report.pages_sent, NULL, 0);
    src->report.final_bytes = src->report.bytes_sent - src->final_start;
    src->io = SRC_WAIT_RESUMED;
    src_poll_resumed(src);
}

/* END is on the wire and RESUMED is due within a round trip plus the
 * destination's restore: look for it at once, for up to MIG_POLL_US,
 * rather than sleep in the loop (see MIG_POLL_US).  It peeks, and takes a
 * record off the socket only when all of it is there; anything else (a
 * partial or odd record, EOF, an error) stays for the bufferevent, whose
 * input is empty here, so the order holds. */
static void
src_poll_resumed(struct mig_src *src)
{
    evutil_socket_t fd = bufferevent_getfd(src->bev);
    uint8_t buf[MIG_WIRE_HDR_SIZE + 256];
    uint64_t t0 = fx_time_now_us();
    char reason[257] = "";
    struct mig_wire_hdr h;
    struct fx_err why;
    ssize_t n;

    if (evbuffer_get_length(bufferevent_get_output(src->bev))
        || evbuffer_get_length(bufferevent_get_input(src->bev))) {
        return;         /* The write or read callback comes back. */
    }
    do {
        n = recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
        if (n >= (ssize_t) MIG_WIRE_HDR_SIZE) {
            if (mig_wire_decode(buf, &h, &why) < 0 || h.length > 256) {
                return;
            }
            if (n >= (ssize_t) (MIG_WIRE_HDR_SIZE + h.length)) {
                if (recv(fd, buf, MIG_WIRE_HDR_SIZE + h.length,
                         MSG_DONTWAIT) < 0) {
                    return;
                }
                memcpy(reason, buf + MIG_WIRE_HDR_SIZE, h.length);
                src_answer(src, &h, reason);
                return;
            }
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            return;
        }
    } while (fx_time_now_us() - t0 < MIG_POLL_US);
}

static void
src_write_cb(struct bufferevent *bev, void *arg)
{
    struct mig_src *src = arg;

    (void) bev;
    if (src->io == SRC_SENDING) {
        src_fill(src);
    } else if (src->io == SRC_WAIT_RESUMED) {
        src_poll_resumed(src);
    }
}

static void
src_resumed(struct mig_src *src)
{
    struct fx_err why;

    src->report.downtime_us = fx_time_now_us() - src->t_stop_us;
    if (mig_job_handle(&src->job, MIG_EV_CONFIRM, src, &why) < 0) {
        src_fail(src, &why);
        return;
    }
    event_del(src->timeout);
    src->io = SRC_IDLE;
    mig_job_handle(&src->job, MIG_EV_DONE, src, NULL);
    src_done(src, MIG_RESULT_COMPLETED);
}

/* The destination speaks only to acknowledge a round, to say it resumed,
 * or why it aborted: acts on one record ('reason': its payload as text).
 * Returns 1 if more records may follow, 0 if the job is done with them. */
static int
src_answer(struct mig_src *src, const struct mig_wire_hdr *h,
           const char *reason)
{
    struct fx_err why;

    if (h->type == MIG_WIRE_ROUND && src->io == SRC_DRAINING
        && h->arg == src->report.rounds) {
        src_round_end(src);
        return 1;
    }
    if (h->type == MIG_WIRE_RESUMED && src->io == SRC_WAIT_RESUMED) {
        src_resumed(src);
        return 0;
    }
    fx_err_set(&why, -ECONNABORTED, "destination %s: %s",
               h->type == MIG_WIRE_ABORT ? "aborted" : "sent an "
               "unexpected record", reason);
    src_fail(src, &why);
    return 0;
}

static void
src_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    struct mig_src *src = arg;
    uint8_t hdr[MIG_WIRE_HDR_SIZE];
    struct mig_wire_hdr h;
    struct fx_err why;
    int rc;

    if (src->auth) {
        rc = auth_io(src->auth, in, bufferevent_get_output(bev), &why);
        if (rc < 0) {
            fx_err_wrap(&why, "destination's page stream");
            src_fail(src, &why);
        }
        if (rc <= 0) {
            return;
        }
        auth_destroy(src->auth);
        src->auth = NULL;
        src_connected(src);
    }
    while (evbuffer_get_length(in) >= MIG_WIRE_HDR_SIZE) {
        char reason[257] = "";

        evbuffer_copyout(in, hdr, sizeof hdr);
        if (mig_wire_decode(hdr, &h, &why) < 0) {
            src_fail(src, &why);
            return;
        }
        if (evbuffer_get_length(in) < sizeof hdr + h.length) {
            return;
        }
        evbuffer_drain(in, sizeof hdr);
        evbuffer_remove(in, reason, h.length < 256 ? h.length : 256);
        if (!src_answer(src, &h, reason)) {
            return;
        }
    }
}

static void
src_connected(struct mig_src *src)
{
    struct mig_wire_hello hello = {
        MIG_WIRE_VERSION, GUESTMEM_PAGE_SIZE, guestmem_pages(src->gm),
        (uint32_t) src->n_devs,
    };
    uint8_t buf[MIG_WIRE_HELLO_SIZE];
    struct fx_err why;

    if (mig_job_handle(&src->job, MIG_EV_PERFORM, src, &why) < 0
        || src_devs_set(src, VFIO_MIG_PRE_COPY, &why) < 0) {
        src_fail(src, &why);
        return;
    }
    mig_wire_hello_encode(buf, &hello);
    src_put(src, MIG_WIRE_HELLO, 0, buf, sizeof buf);
    guestmem_dirty_all(src->gm);
    src_round_begin(src);
}

static void
src_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct mig_src *src = arg;
    struct fx_err why;

    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;

        /* The last records (device state, END) are small: Nagle must not
         * hold them back while the guest is stopped. */
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof one);
        src->connected = 1;
        if (!src->params.max_bandwidth) {
            src->kick = event_new(src->base, bufferevent_getfd(bev),
                                  EV_WRITE, src_kick_cb, src);
        }
        /* The lab secret first; the stream starts once the destination
         * has proven it and accepted us (src_read_cb). */
        src->auth = auth_client_new(src->key ? src->key : &src->no_key,
                                    &src->me);
        auth_io(src->auth, bufferevent_get_input(bev),
                bufferevent_get_output(bev), &why);
        return;
    }
    fx_err_set(&why, -ECONNRESET, "page stream to the destination lost "
               "(%s)", what & BEV_EVENT_EOF ? "closed by peer"
               : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    src_fail(src, &why);
}

/* The stream's bandwidth as params.max_bandwidth says: a token bucket
 * on the bufferevent with 10 ms ticks (smooth at round granularity), or
 * none; and, once connected, direct writes (the kick) only without one.
 * Fails only if the bucket cannot be made, with nothing changed. */
static int
src_apply_bandwidth(struct mig_src *src, struct fx_err *err)
{
    uint64_t bw = src->params.max_bandwidth;
    struct ev_token_bucket_cfg *rl = NULL;

    if (bw) {
        struct timeval tick = { 0, 10000 };
        size_t per = bw / 100 + 1;

        rl = ev_token_bucket_cfg_new(EV_RATE_LIMIT_MAX, EV_RATE_LIMIT_MAX,
                                     per, per, &tick);
        if (!rl) {
            return fx_err_set(err, -ENOMEM, "out of memory");
        }
    }
    /* The new bucket before the old one goes: the bufferevent points to
     * its configuration. */
    bufferevent_set_rate_limit(src->bev, rl);
    if (src->rl) {
        ev_token_bucket_cfg_free(src->rl);
    }
    src->rl = rl;
    if (bw && src->kick) {
        event_free(src->kick);
        src->kick = NULL;
    } else if (!bw && src->connected && !src->kick) {
        /* Without it the stream stays buffered, unlimited all the same. */
        src->kick = event_new(src->base, bufferevent_getfd(src->bev),
                              EV_WRITE, src_kick_cb, src);
    }
    return 0;
}

static int
src_open_stream(struct mig_src *src, const char *incoming,
                struct fx_err *err)
{
    struct sockaddr_storage ss;
    int len, rc;

    rc = fx_addr_parse(incoming, &ss, &len, err);
    if (rc < 0) {
        return rc;
    }
    src->bev = bufferevent_socket_new(src->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!src->bev) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    bufferevent_setcb(src->bev, src_read_cb, src_write_cb, src_event_cb,
                      src);
    bufferevent_set_max_single_write(src->bev, SRC_MAX_IO);
    if (src_apply_bandwidth(src, err)) {
        return err->code;
    }
    bufferevent_enable(src->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(src->bev, (struct sockaddr *) &ss,
                                   len) < 0) {
        return fx_err_set(err, -ECONNREFUSED, "cannot connect to '%s'",
                          incoming);
    }
    return 0;
}

int
mig_src_start(struct mig_src *src, const char *incoming,
              struct fx_err *err)
{
    int rc = mig_job_handle(&src->job, MIG_EV_BEGIN, src, err);

    if (rc < 0) {
        return rc;
    }
    src->t_start_us = fx_time_now_us();
    rc = src_open_stream(src, incoming, err);
    if (rc < 0) {
        src->err = *err;
        mig_job_handle(&src->job, MIG_EV_ERROR, src, NULL);
        src_rollback(src);
        mig_job_handle(&src->job, MIG_EV_ROLLED_BACK, src, NULL);
        src->report.result = MIG_RESULT_FAILED;
        return rc;
    }
    if (src->params.timeout_ms) {
        struct timeval tv = { src->params.timeout_ms / 1000,
                              (src->params.timeout_ms % 1000) * 1000 };

        evtimer_add(src->timeout, &tv);
    }
    return 0;
}

/* ---- Changes while it runs ---- */

/* Whether the job runs: started and not yet at its end. */
static int
src_running(const struct mig_src *src, struct fx_err *err)
{
    enum mig_state st = src->job.state;

    if (st == MIG_BEGIN || st == MIG_PERFORM || st == MIG_SWITCHOVER) {
        return 1;
    }
    fx_err_set(err, -EPROTO, "migration %" PRIu32 " is not running (%s)",
               src->job.id, mig_state_name(st));
    return 0;
}

int
mig_src_set_max_bandwidth(struct mig_src *src, uint64_t bytes_per_s,
                          struct fx_err *err)
{
    uint64_t old = src->params.max_bandwidth;

    if (!src_running(src, err)) {
        return err->code;
    }
    src->params.max_bandwidth = bytes_per_s;
    if (src->bev && src_apply_bandwidth(src, err)) {
        src->params.max_bandwidth = old;
        return err->code;
    }
    LOG_DBG("job %" PRIu32 ": max bandwidth %" PRIu64 " bytes/s",
            src->job.id, bytes_per_s);
    /* Buffered and direct writes wait on different events: restart the
     * flow in the mode it is in now. */
    if (src->io == SRC_SENDING) {
        src_fill(src);
    }
    return 0;
}

int
mig_src_set_downtime_limit(struct mig_src *src, uint32_t ms,
                           struct fx_err *err)
{
    if (!ms || ms > MIG_DOWNTIME_LIMIT_MAX_MS) {
        return fx_err_set(err, -EINVAL, "downtime limit %" PRIu32 " ms is "
                          "out of range 1..%u", ms,
                          MIG_DOWNTIME_LIMIT_MAX_MS);
    }
    if (!src_running(src, err)) {
        return err->code;
    }
    src->params.downtime_limit_ms = ms;
    return 0;
}

int
mig_src_force_complete(struct mig_src *src, struct fx_err *err)
{
    if (!src_running(src, err)) {
        return err->code;
    }
    src->force = 1;
    return 0;
}

const struct mig_params *
mig_src_params(const struct mig_src *src)
{
    return &src->params;
}

const struct mig_job *
mig_src_job(const struct mig_src *src)
{
    return &src->job;
}

const struct vfio_mig *
mig_src_device(const struct mig_src *src, size_t i)
{
    return i < src->n_devs ? &src->devs[i] : NULL;
}

const struct mig_report *
mig_src_report(const struct mig_src *src)
{
    return &src->report;
}
