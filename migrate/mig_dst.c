/* mig_dst: incoming migration: receive, verify, restore, resume. */
#include "mig_dst.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "auth.h"
#include "fx_addr.h"
#include "fx_err.h"
#include "fx_addr.h"
#include "fx_time.h"
#include "guestmem.h"
#include "log.h"
#include "mig_params.h"
#include "mig_wire.h"

LOG_MODULE("mig_dst");

/* libevent 2.1's evbuffer_read() takes at most 4 KiB per call, one
 * epoll wakeup each: far too little for a page stream, so the destination
 * reads the socket itself, DST_READS reads of DST_MAX_IO per wakeup (then
 * yields to the loop).  DST_MAX_IO keeps evbuffer chunks at 64 KiB, under
 * malloc's mmap threshold, so they are recycled rather than mapped and
 * zeroed for every read. */
#define DST_MAX_IO (64u * 1024 - 256)
#define DST_READS 256
/* With nothing buffered, read just one PAGES header and index area, so
 * that the pages that follow go straight to guest memory. */
#define DST_HEAD_IO (MIG_WIRE_HDR_SIZE + MIG_WIRE_IDX_SIZE(MIG_WIRE_BATCH))

struct dst_blob {
    uint8_t *data;                  /* Owned, or NULL until received. */
    size_t size;
    char name[MIG_WIRE_DEV_NAME + 1];
};

/* A PAGES record whose pages are read straight from the socket into
 * guest memory, saving a copy through the input buffer. */
struct dst_direct {
    int active;
    struct mig_wire_hdr h;
    uint64_t idx[MIG_WIRE_BATCH];   /* Validated page indexes. */
    unsigned n;
    size_t got;                     /* Page bytes already in place. */
    struct mig_wire_sum sum;        /* Over the index area so far. */
};

struct mig_dst {
    struct event_base *base;        /* Borrowed. */
    struct guestmem *gm;            /* Borrowed. */
    const struct auth_key *key;     /* Borrowed; the lab secret. */
    struct auth_key no_key;
    struct auth_ident me;
    struct auth *auth;              /* Owned while the handshake runs. */
    struct event *auth_timer;       /* Owned: bounds the handshake. */
    struct mig_dst_cbs cbs;
    struct mig_job job;
    struct vfio_mig devs[MIG_MAX_DEVICES];
    struct dst_blob blobs[MIG_MAX_DEVICES];
    size_t n_devs;
    int hello;                      /* HELLO received. */
    int stopped;                    /* STOP received: the final round. */
    int acked;                      /* A round acknowledged, nothing since. */
    struct evconnlistener *lis;     /* Owned, or NULL. */
    uint16_t port;
    struct dst_direct direct;       /* PAGES record being read in place. */
    evutil_socket_t fd;             /* Owned stream socket, or -1. */
    struct event *rd;               /* Owned read event on 'fd'. */
    struct evbuffer *in;            /* Owned: bytes read, not parsed. */
    struct event *finish;           /* Owned: calls 'done' from the loop. */
    uint64_t t_start_us;
    struct mig_report report;
    struct fx_err err;
};

static void dst_auth_timeout_cb(evutil_socket_t, short, void *);

static void
dst_finish_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mig_dst *dst = arg;

    (void) fd;
    (void) what;
    if (dst->cbs.done) {
        dst->cbs.done(&dst->report,
                      dst->report.result == MIG_RESULT_COMPLETED
                      ? NULL : &dst->err, dst->cbs.arg);
    }
}

int
mig_dst_create(struct event_base *base, struct guestmem *gm,
               uint32_t job_id, const struct mig_dst_cbs *cbs,
               struct mig_dst **dstp, struct fx_err *err)
{
    struct mig_dst *dst = calloc(1, sizeof *dst);

    *dstp = NULL;
    if (!dst) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    dst->base = base;
    dst->gm = gm;
    dst->cbs = *cbs;
    auth_key_none(&dst->no_key);
    dst->me = (struct auth_ident) { AUTH_ROLE_PEER, "unnamed" };
    mig_job_init(&dst->job, job_id, MIG_ROLE_DEST, NULL);
    dst->report.job_id = job_id;
    dst->fd = -1;
    dst->finish = evtimer_new(base, dst_finish_cb, dst);
    dst->auth_timer = evtimer_new(base, dst_auth_timeout_cb, dst);
    dst->in = evbuffer_new();
    if (!dst->finish || !dst->auth_timer || !dst->in) {
        mig_dst_destroy(dst);
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    *dstp = dst;
    return 0;
}

static void
dst_close(struct mig_dst *dst)
{
    if (dst->auth_timer) {
        evtimer_del(dst->auth_timer);
    }
    auth_destroy(dst->auth);
    dst->auth = NULL;
    if (dst->rd) {
        event_free(dst->rd);
        dst->rd = NULL;
    }
    if (dst->fd >= 0) {
        evutil_closesocket(dst->fd);
        dst->fd = -1;
    }
    evbuffer_drain(dst->in, evbuffer_get_length(dst->in));
}

/* Finish3 on failure: drop what came, abort RESUMING by reset. */
static void
dst_discard(struct mig_dst *dst)
{
    if (dst->lis) {
        evconnlistener_free(dst->lis);
        dst->lis = NULL;
    }
    dst_close(dst);
    for (size_t i = 0; i < dst->n_devs; i++) {
        free(dst->blobs[i].data);
        dst->blobs[i].data = NULL;
        if (dst->devs[i].state != VFIO_MIG_RUNNING) {
            vfio_mig_reset(&dst->devs[i]);
        }
    }
}

void
mig_dst_destroy(struct mig_dst *dst)
{
    if (!dst) {
        return;
    }
    if (dst->in) {
        dst_discard(dst);
        evbuffer_free(dst->in);
    }
    auth_destroy(dst->auth);
    if (dst->finish) {
        event_free(dst->finish);
    }
    if (dst->auth_timer) {
        event_free(dst->auth_timer);
    }
    free(dst);
}

static void
dst_done(struct mig_dst *dst, enum mig_result result)
{
    dst->report.result = result;
    dst->report.total_us = fx_time_now_us() - dst->t_start_us;
    event_active(dst->finish, EV_TIMEOUT, 0);
}

static void dst_send_abort(struct mig_dst *dst, const char *why);

static void
dst_fail(struct mig_dst *dst, const struct fx_err *why)
{
    if (mig_job_handle(&dst->job, MIG_EV_ERROR, dst, NULL) < 0) {
        return;
    }
    dst->err = *why;
    /* The source learns why (a stream that broke hears nothing). */
    dst_send_abort(dst, why->msg);
    LOG_DBG("job %" PRIu32 ": discarded: %s", dst->job.id, why->msg);
    dst_discard(dst);
    mig_job_handle(&dst->job, MIG_EV_ROLLED_BACK, dst, NULL);
    dst_done(dst, MIG_RESULT_FAILED);
}

int
mig_dst_cancel(struct mig_dst *dst, struct fx_err *err)
{
    int rc = mig_job_handle(&dst->job, MIG_EV_CANCEL, dst, err);

    if (rc < 0) {
        return rc;
    }
    fx_err_set(&dst->err, -ECANCELED, "migration cancelled");
    dst_discard(dst);
    mig_job_handle(&dst->job, MIG_EV_ROLLED_BACK, dst, NULL);
    dst_done(dst, MIG_RESULT_CANCELLED);
    return 0;
}

static int
dst_hello(struct mig_dst *dst, const uint8_t *p, uint32_t len,
          struct fx_err *err)
{
    struct mig_wire_hello h;

    if (dst->hello || len != MIG_WIRE_HELLO_SIZE) {
        return fx_err_set(err, -EBADMSG, "page stream: bad HELLO");
    }
    mig_wire_hello_decode(p, &h);
    if (h.version != MIG_WIRE_VERSION || h.page_size != GUESTMEM_PAGE_SIZE
        || h.pages != guestmem_pages(dst->gm)
        || h.n_devices > MIG_MAX_DEVICES) {
        return fx_err_set(err, -EINVAL, "page stream: source has version "
                          "%" PRIu32 ", %" PRIu64 " pages of %" PRIu32
                          ", %" PRIu32 " devices; destination has %" PRIu64
                          " pages", h.version, h.pages, h.page_size,
                          h.n_devices, guestmem_pages(dst->gm));
    }
    dst->hello = 1;
    dst->n_devs = h.n_devices;
    for (size_t i = 0; i < dst->n_devs; i++) {
        vfio_mig_init(&dst->devs[i], "incoming", VFIO_MIGRATION_ALL);
        vfio_mig_set_state(&dst->devs[i], VFIO_MIG_RESUMING, NULL);
    }
    return 0;
}

/* Takes a PAGES record's header (already decoded into 'h' and drained)
 * and index area from 'in', validates it and arms 'direct'. */
static int
dst_pages_begin(struct mig_dst *dst, struct evbuffer *in,
                const struct mig_wire_hdr *h, struct fx_err *err)
{
    struct dst_direct *d = &dst->direct;
    uint8_t raw[MIG_WIRE_IDX_SIZE(MIG_WIRE_BATCH)];
    uint64_t n = h->arg, pages = guestmem_pages(dst->gm);

    if (!n || n > MIG_WIRE_BATCH || h->length != MIG_WIRE_PAGES_LEN(n)) {
        return fx_err_set(err, -EBADMSG, "page stream: PAGES record of "
                          "%" PRIu64 " pages in %" PRIu32 " bytes", n,
                          h->length);
    }
    evbuffer_remove(in, raw, MIG_WIRE_IDX_SIZE(n));
    mig_wire_sum_init(&d->sum);
    mig_wire_sum_add(&d->sum, raw, MIG_WIRE_IDX_SIZE(n));
    for (uint64_t i = 0; i < n; i++) {
        d->idx[i] = mig_wire_get64(raw + 8 * i);
        if (d->idx[i] >= pages) {
            return fx_err_set(err, -ERANGE, "page stream: page %" PRIu64
                              " beyond %" PRIu64, d->idx[i], pages);
        }
    }
    /* The kernel copies the pages into place: their translations warm,
     * as the source does for its reads (mig_src.c), since they are
     * as scattered. */
    for (uint64_t i = 0; i < n; i++) {
        __builtin_prefetch(guestmem_data(dst->gm)
                           + d->idx[i] * GUESTMEM_PAGE_SIZE, 1, 3);
    }
    d->h = *h;
    d->n = (unsigned) n;
    d->got = 0;
    d->active = 1;
    return 0;
}

/* Fills the iovecs for the page bytes still missing; returns their
 * count. */
static int
dst_pages_iov(struct mig_dst *dst, struct iovec *iov)
{
    struct dst_direct *d = &dst->direct;
    uint8_t *mem = guestmem_data(dst->gm);
    size_t k = d->got / GUESTMEM_PAGE_SIZE, off = d->got % GUESTMEM_PAGE_SIZE;
    int n = 0;

    for (; k < d->n; k++, off = 0, n++) {
        iov[n].iov_base = mem + d->idx[k] * GUESTMEM_PAGE_SIZE + off;
        iov[n].iov_len = GUESTMEM_PAGE_SIZE - off;
    }
    return n;
}

/* Moves what 'in' holds of the pages into place; when all are there,
 * checks the checksum over them as they landed. */
static int
dst_pages_step(struct mig_dst *dst, struct evbuffer *in,
               struct fx_err *err)
{
    struct dst_direct *d = &dst->direct;
    struct iovec iov[MIG_WIRE_BATCH];
    int nv = dst_pages_iov(dst, iov);

    for (int i = 0; i < nv && evbuffer_get_length(in); i++) {
        d->got += evbuffer_remove(in, iov[i].iov_base, iov[i].iov_len);
    }
    if (d->got < (size_t) d->n * GUESTMEM_PAGE_SIZE) {
        return 0;
    }
    for (unsigned i = 0; i < d->n; i++) {
        mig_wire_sum_add(&d->sum, guestmem_data(dst->gm)
                         + d->idx[i] * GUESTMEM_PAGE_SIZE,
                         GUESTMEM_PAGE_SIZE);
    }
    d->active = 0;
    if (mig_wire_sum_final(&d->sum) != d->h.sum) {
        return fx_err_set(err, -EBADMSG, "page stream: checksum mismatch "
                          "in a PAGES record");
    }
    dst->report.pages_sent += d->n;
    return 0;
}

static int
dst_device(struct mig_dst *dst, const uint8_t *p,
           const struct mig_wire_hdr *h, struct fx_err *err)
{
    struct dst_blob *b;

    if (h->arg >= dst->n_devs || h->length < MIG_WIRE_DEV_NAME
        || dst->blobs[h->arg].data) {
        return fx_err_set(err, -EBADMSG, "page stream: unexpected state "
                          "for device %" PRIu64, h->arg);
    }
    b = &dst->blobs[h->arg];
    memcpy(b->name, p, MIG_WIRE_DEV_NAME);
    b->name[MIG_WIRE_DEV_NAME] = '\0';
    b->size = h->length - MIG_WIRE_DEV_NAME;
    b->data = malloc(b->size ? b->size : 1);
    if (!b->data) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(b->data, p + MIG_WIRE_DEV_NAME, b->size);
    dst->report.device_bytes += b->size;
    memcpy(dst->devs[h->arg].name, b->name,
           sizeof dst->devs[h->arg].name - 1);
    return 0;
}

/* The stop-and-copy round may follow an acknowledgement: makes sure the
 * input buffer has a chunk of DST_MAX_IO already in memory, since the
 * first read of a whole chunk otherwise faults its pages in, in the
 * downtime (about 30 us on a small VM).  An empty chunk costs nothing
 * here: the next read fills it. */
static void
dst_warm_input(struct mig_dst *dst)
{
    struct evbuffer_iovec v;

    if (evbuffer_reserve_space(dst->in, DST_MAX_IO, &v, 1) == 1) {
        memset(v.iov_base, 0, v.iov_len);
    }
}

/* Sends a payload-less record.  The destination only ever sends a few
 * 24-byte records that the source reads at once, so the socket's send
 * buffer always has room and a plain send() cannot block. */
static void
dst_send(struct mig_dst *dst, uint8_t type, uint64_t arg)
{
    struct mig_wire_hdr h = { type, 0, arg, mig_wire_sum("", 0) };
    uint8_t hdr[MIG_WIRE_HDR_SIZE];

    mig_wire_encode(hdr, &h);
    if (send(dst->fd, hdr, sizeof hdr, MSG_NOSIGNAL) != sizeof hdr) {
        LOG_DBG("job %" PRIu32 ": cannot send record %u", dst->job.id,
                type);
    }
}

/* An ABORT record saying 'why' (at most 256 bytes of it), so that the
 * source reports the destination's reason, not a closed stream. */
static void
dst_send_abort(struct mig_dst *dst, const char *why)
{
    size_t len = strnlen(why, 256);
    struct mig_wire_hdr h = { MIG_WIRE_ABORT, (uint32_t) len, 0,
                              mig_wire_sum(why, len) };
    uint8_t buf[MIG_WIRE_HDR_SIZE + 256];

    if (dst->fd < 0 || dst->auth) {
        return;                 /* Nothing for a peer not proven. */
    }
    mig_wire_encode(buf, &h);
    memcpy(buf + MIG_WIRE_HDR_SIZE, why, len);
    if (send(dst->fd, buf, MIG_WIRE_HDR_SIZE + len, MSG_NOSIGNAL) < 0) {
        LOG_DBG("job %" PRIu32 ": cannot send ABORT", dst->job.id);
    }
}

/* Finish3: every device restored from its state, RESUMING -> RUNNING, the
 * guest resumed; only then does the source hear it may confirm. */
static int
dst_finish(struct mig_dst *dst, uint64_t pages, struct fx_err *err)
{
    int rc;

    if (!dst->hello || pages != dst->report.pages_sent) {
        return fx_err_set(err, -EBADMSG, "page stream: END after %" PRIu64
                          " pages, source sent %" PRIu64,
                          dst->report.pages_sent, pages);
    }
    rc = mig_job_handle(&dst->job, MIG_EV_FINISH, dst, err);
    for (size_t i = 0; rc == 0 && i < dst->n_devs; i++) {
        struct dst_blob *b = &dst->blobs[i];

        if (!b->data) {
            return fx_err_set(err, -EBADMSG, "page stream: no state for "
                              "device %zu", i);
        }
        rc = dst->cbs.load ? dst->cbs.load(i, b->name, b->data, b->size,
                                           dst->cbs.arg, err) : 0;
        if (rc == 0) {
            rc = vfio_mig_set_state(&dst->devs[i], VFIO_MIG_RUNNING, err);
        }
    }
    if (rc == 0 && dst->cbs.resume) {
        rc = dst->cbs.resume(dst->cbs.arg, err);
    }
    if (rc < 0) {
        return rc;
    }
    guestmem_set_running(dst->gm, 1);
    mig_job_handle(&dst->job, MIG_EV_DONE, dst, NULL);
    dst_send(dst, MIG_WIRE_RESUMED, 0);
    dst_done(dst, MIG_RESULT_COMPLETED);
    return 0;
}

/* Handles the record whose header is 'h', all of it in 'in', and takes
 * it out of 'in'.  Returns 0 or an error. */
static int
dst_record(struct mig_dst *dst, struct evbuffer *in,
           const struct mig_wire_hdr *h, struct fx_err *err)
{
    const uint8_t *p;
    char reason[257];
    int rc = 0;

    evbuffer_drain(in, MIG_WIRE_HDR_SIZE);
    dst->report.bytes_sent += MIG_WIRE_HDR_SIZE + h->length;
    if (h->type == MIG_WIRE_PAGES) {
        rc = dst->hello ? dst_pages_begin(dst, in, h, err)
             : fx_err_set(err, -EBADMSG, "page stream: pages before "
                          "HELLO");
        return rc < 0 ? rc : dst_pages_step(dst, in, err);
    }
    p = evbuffer_pullup(in, h->length);
    if (h->length && (!p || mig_wire_sum(p, h->length) != h->sum)) {
        return fx_err_set(err, -EBADMSG, "page stream: checksum mismatch "
                          "in a record of type %u", h->type);
    }
    switch (h->type) {
    case MIG_WIRE_HELLO:
        rc = dst_hello(dst, p, h->length, err);
        break;
    case MIG_WIRE_ROUND:
        /* Acknowledged, so the source measures a round as received, not
         * as queued in socket buffers, and switches over on an empty
         * pipe. */
        dst->report.rounds = (uint32_t) h->arg;
        dst_send(dst, MIG_WIRE_ROUND, h->arg);
        dst->acked = 1;
        dst_warm_input(dst);
        break;
    case MIG_WIRE_STOP:
        dst->stopped = 1;
        break;
    case MIG_WIRE_DEVICE:
        rc = dst_device(dst, p, h, err);
        break;
    case MIG_WIRE_END:
        dst->report.rounds++;
        rc = dst_finish(dst, h->arg, err);
        break;
    default:
        snprintf(reason, sizeof reason, "%.*s", (int) h->length,
                 p ? (const char *) p : "");
        rc = fx_err_set(err, -ECONNABORTED, "source aborted: %s", reason);
        break;
    }
    evbuffer_drain(in, h->length);
    return rc;
}

/* Parses what 'in' holds: whole records, and a PAGES record as soon as
 * its index area is there (its pages then go in place). */
static int
dst_parse(struct mig_dst *dst, struct fx_err *err)
{
    uint8_t hdr[MIG_WIRE_HDR_SIZE];
    struct mig_wire_hdr h;
    size_t len;
    int rc;

    while (dst->job.state == MIG_PREPARE) {
        if (dst->direct.active) {
            rc = dst_pages_step(dst, dst->in, err);
            if (rc < 0 || dst->direct.active) {
                return rc;
            }
            continue;
        }
        len = evbuffer_get_length(dst->in);
        if (len < MIG_WIRE_HDR_SIZE) {
            return 0;
        }
        evbuffer_copyout(dst->in, hdr, sizeof hdr);
        rc = mig_wire_decode(hdr, &h, err);
        if (rc < 0) {
            return rc;
        }
        if (len < sizeof hdr + (h.type == MIG_WIRE_PAGES
                                ? MIG_WIRE_IDX_SIZE(h.arg < MIG_WIRE_BATCH
                                                    ? h.arg : MIG_WIRE_BATCH)
                                : h.length)) {
            return 0;
        }
        rc = dst_record(dst, dst->in, &h, err);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* One read: into the pages of the PAGES record in progress, or into
 * 'in'.  Returns bytes read, 0 when the socket is empty, or an error. */
static ssize_t
dst_read_once(struct mig_dst *dst, struct fx_err *err)
{
    struct iovec iov[MIG_WIRE_BATCH];
    struct evbuffer_iovec v[2];
    ssize_t n;
    int nv;

    if (dst->direct.active) {
        n = readv(dst->fd, iov, dst_pages_iov(dst, iov));
        if (n > 0) {
            dst->direct.got += n;
        }
    } else {
        size_t want = evbuffer_get_length(dst->in) ? DST_MAX_IO
                                                   : DST_HEAD_IO;

        nv = evbuffer_reserve_space(dst->in, want, v, 2);
        v[0].iov_len = v[0].iov_len < want ? v[0].iov_len : want;
        n = nv > 0 ? readv(dst->fd, (struct iovec *) v, 1) : -1;
        if (n > 0) {
            v[0].iov_len = n;
            evbuffer_commit_space(dst->in, v, 1);
        }
    }
    if (n > 0) {
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return 0;
    }
    return fx_err_set(err, -ECONNRESET, "page stream from the source "
                      "lost (%s)", n == 0 ? "closed by peer"
                      : strerror(errno));
}

/* The socket is empty: whether to read again at once rather than sleep.
 * Yes for up to MIG_POLL_US of this dry spell (since '*dry', 0 at its
 * start) when the source's next bytes are due within a round trip: after
 * a round's acknowledgement (the next round or STOP follows it) and
 * during the stop-and-copy round, whose every microsecond is downtime. */
static int
dst_poll(const struct mig_dst *dst, uint64_t *dry)
{
    uint64_t now;

    if (!dst->acked && !dst->stopped) {
        return 0;
    }
    now = fx_time_now_us();
    if (!*dry) {
        *dry = now;
    }
    return now - *dry < MIG_POLL_US;
}

/* A connection that did not prove the lab secret goes; the listener
 * takes the next one (the real source's, say). */
static void
dst_refuse(struct mig_dst *dst, const struct fx_err *why)
{
    char peer[64] = "?";
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (!getpeername(dst->fd, (struct sockaddr *) &ss, &len)) {
        fx_addr_format((struct sockaddr *) &ss, peer, sizeof peer);
    }
    if (dst->cbs.refused) {
        dst->cbs.refused(dst->cbs.arg, peer, why);
    }
    dst_close(dst);
    if (dst->lis) {
        evconnlistener_enable(dst->lis);
    }
}

/* The handshake on what has arrived: 1 once the source is proven (the
 * stream follows), 0 while not yet, -1 if it was refused. */
static int
dst_prove(struct mig_dst *dst)
{
    struct evbuffer *out = evbuffer_new();
    struct fx_err why;
    size_t n;
    int rc;

    if (!out) {
        abort();
    }
    rc = auth_io(dst->auth, dst->in, out, &why);
    n = evbuffer_get_length(out);
    if (n && send(dst->fd, evbuffer_pullup(out, (ev_ssize_t) n), n,
                  MSG_NOSIGNAL) != (ssize_t) n && rc >= 0) {
        rc = fx_err_set(&why, -ECONNRESET, "the source closed during the "
                        "handshake");
    }
    evbuffer_free(out);
    if (rc < 0) {
        dst_refuse(dst, &why);
        return -1;
    }
    if (rc == 1) {
        evtimer_del(dst->auth_timer);
        auth_destroy(dst->auth);
        dst->auth = NULL;
    }
    return rc;
}

/* A connection that does not finish the handshake in time would keep the
 * real source out: it goes. */
static void
dst_auth_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mig_dst *dst = arg;
    struct fx_err why;

    (void) fd;
    (void) what;
    if (dst->auth) {
        fx_err_set(&why, -ETIMEDOUT, "no handshake within %d ms",
                   AUTH_TIMEOUT_MS);
        dst_refuse(dst, &why);
    }
}

static void
dst_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mig_dst *dst = arg;
    uint64_t dry = 0;
    struct fx_err why;
    int rc = 0;

    (void) fd;
    (void) what;
    for (int i = 0; i < DST_READS && rc == 0; i++) {
        ssize_t n = dst_read_once(dst, &why);

        if (n == 0) {
            if (dst_poll(dst, &dry)) {
                i--;            /* A poll is not a read. */
                continue;
            }
            break;
        }
        dry = 0;
        dst->acked = 0;
        if (n < 0 && dst->auth) {
            dst_refuse(dst, &why);      /* A stranger left: not a failure. */
            return;
        }
        if (n > 0 && dst->auth) {
            int proven = dst_prove(dst);

            if (proven <= 0) {
                return;         /* More to read, or refused. */
            }
        }
        rc = n < 0 ? (int) n : dst_parse(dst, &why);
        if (mig_state_is_final(dst->job.state)) {
            dst_close(dst);     /* The source closing after RESUMED. */
            return;
        }
    }
    if (rc < 0) {
        dst_fail(dst, &why);    /* No-op once final. */
    }
}

/* One incoming migration per job: later connections are closed. */
static void
dst_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
              struct sockaddr *sa, int salen, void *arg)
{
    static const struct timeval auth_tv = {
        AUTH_TIMEOUT_MS / 1000, AUTH_TIMEOUT_MS % 1000 * 1000
    };
    struct mig_dst *dst = arg;
    int one = 1;

    (void) sa;
    (void) salen;
    if (dst->fd >= 0) {
        evutil_closesocket(fd);
        return;
    }
    evconnlistener_disable(lis);
    evutil_make_socket_nonblocking(fd);
    /* Acks and RESUMED are tiny and urgent: no Nagle. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    dst->rd = event_new(dst->base, fd, EV_READ | EV_PERSIST, dst_io_cb, dst);
    if (!dst->rd) {
        evutil_closesocket(fd);
        return;
    }
    dst->fd = fd;
    event_add(dst->rd, NULL);
    /* Only a peer that proves the lab secret gets its pages read. */
    dst->auth = auth_server_new(dst->key ? dst->key : &dst->no_key,
                                &dst->me, AUTH_ROLE_MASK(AUTH_ROLE_PEER));
    if (!dst->auth) {
        abort();                /* Out of memory. */
    }
    evtimer_add(dst->auth_timer, &auth_tv);
}

void
mig_dst_set_auth(struct mig_dst *dst, const struct auth_key *key,
                 const struct auth_ident *me)
{
    dst->key = key;
    dst->me = *me;
}

/* Binds the job's listener to the first free port of 'ss' (an IPv4
 * address) from its port to 'last'.  Returns 0 or -errno of the last
 * try. */
static int
dst_bind(struct mig_dst *dst, struct sockaddr_storage *ss, int len,
         uint16_t last)
{
    struct sockaddr_in *sin = (struct sockaddr_in *) ss;
    uint16_t port = ntohs(sin->sin_port);
    int e;

    for (;;) {
        sin->sin_port = htons(port);
        errno = 0;
        dst->lis = evconnlistener_new_bind(dst->base, dst_accept_cb, dst,
                                           LEV_OPT_CLOSE_ON_FREE
                                           | LEV_OPT_REUSEABLE, 1,
                                           (struct sockaddr *) ss, len);
        if (dst->lis) {
            return 0;
        }
        e = errno ? errno : EADDRINUSE;
        if (port == 0 || port >= last) {
            return -e;
        }
        port++;
    }
}

int
mig_dst_listen(struct mig_dst *dst, const char *addr, struct fx_err *err)
{
    return mig_dst_listen_range(dst, addr, 0, err);
}

int
mig_dst_listen_range(struct mig_dst *dst, const char *addr, uint16_t last,
                     struct fx_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int len, rc;

    rc = fx_addr_parse(addr, &ss, &len, err);
    if (rc < 0) {
        return rc;
    }
    rc = mig_job_handle(&dst->job, MIG_EV_PREPARE, dst, err);
    if (rc < 0) {
        return rc;
    }
    dst->t_start_us = fx_time_now_us();
    guestmem_set_running(dst->gm, 0);
    rc = dst_bind(dst, &ss, len, last);
    if (rc) {
        if (last > ntohs(((struct sockaddr_in *) &ss)->sin_port)) {
            fx_err_set(&dst->err, rc, "cannot listen on '%s' nor any port "
                       "up to %u: %s", addr, last, strerror(-rc));
        } else {
            fx_err_set(&dst->err, rc, "cannot listen on '%s': %s", addr,
                       strerror(-rc));
        }
        *err = dst->err;
        mig_job_handle(&dst->job, MIG_EV_ERROR, dst, NULL);
        mig_job_handle(&dst->job, MIG_EV_ROLLED_BACK, dst, NULL);
        dst->report.result = MIG_RESULT_FAILED;
        return rc;
    }
    getsockname(evconnlistener_get_fd(dst->lis), (struct sockaddr *) &ss,
                &sl);
    dst->port = ntohs(((struct sockaddr_in *) &ss)->sin_port);
    return 0;
}

uint16_t
mig_dst_port(const struct mig_dst *dst)
{
    return dst->port;
}

const struct mig_job *
mig_dst_job(const struct mig_dst *dst)
{
    return &dst->job;
}

const struct vfio_mig *
mig_dst_device(const struct mig_dst *dst, size_t i)
{
    return i < dst->n_devs ? &dst->devs[i] : NULL;
}

size_t
mig_dst_n_devices(const struct mig_dst *dst)
{
    return dst->n_devs;
}

const struct mig_report *
mig_dst_report(const struct mig_dst *dst)
{
    return &dst->report;
}
