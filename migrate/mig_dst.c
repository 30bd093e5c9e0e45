/* mig_dst: incoming migration: receive, verify, restore, resume. */
#include "mig_dst.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "fx_err.h"
#include "fx_util.h"
#include "guestmem.h"
#include "log.h"
#include "mig_wire.h"

LOG_MODULE("mig_dst");

#define DST_MAX_IO (1u * 1024 * 1024)

struct dst_blob {
    uint8_t *data;                  /* Owned, or NULL until received. */
    size_t size;
    char name[MIG_WIRE_DEV_NAME + 1];
};

struct mig_dst {
    struct event_base *base;        /* Borrowed. */
    struct guestmem *gm;            /* Borrowed. */
    struct mig_dst_cbs cbs;
    struct mig_job job;
    struct vfio_mig devs[MIG_MAX_DEVICES];
    struct dst_blob blobs[MIG_MAX_DEVICES];
    size_t n_devs;
    int hello;                      /* HELLO received. */
    struct evconnlistener *lis;     /* Owned, or NULL. */
    uint16_t port;
    struct bufferevent *bev;        /* Owned stream, or NULL. */
    struct event *finish;           /* Owned: calls 'done' from the loop. */
    uint64_t t_start_us;
    int telling;                    /* RESUMED queued, not yet flushed. */
    struct mig_report report;
    struct fx_err err;
};

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
    mig_job_init(&dst->job, job_id, MIG_ROLE_DEST, NULL);
    dst->report.job_id = job_id;
    dst->finish = evtimer_new(base, dst_finish_cb, dst);
    if (!dst->finish) {
        free(dst);
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    *dstp = dst;
    return 0;
}

/* Finish3 on failure: drop what came, abort RESUMING by reset. */
static void
dst_discard(struct mig_dst *dst)
{
    if (dst->lis) {
        evconnlistener_free(dst->lis);
        dst->lis = NULL;
    }
    if (dst->bev) {
        bufferevent_free(dst->bev);
        dst->bev = NULL;
    }
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
    dst_discard(dst);
    event_free(dst->finish);
    free(dst);
}

static void
dst_done(struct mig_dst *dst, enum mig_result result)
{
    dst->report.result = result;
    dst->report.total_us = fx_now_us() - dst->t_start_us;
    event_active(dst->finish, EV_TIMEOUT, 0);
}

static void
dst_fail(struct mig_dst *dst, const struct fx_err *why)
{
    if (mig_job_handle(&dst->job, MIG_EV_ERROR, dst, NULL) < 0) {
        return;
    }
    dst->err = *why;
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

/* Writes a PAGES record's pages straight from the input buffer into guest
 * memory, then checks the checksum over what landed. */
static int
dst_pages(struct mig_dst *dst, struct evbuffer *in,
          const struct mig_wire_hdr *h, struct fx_err *err)
{
    uint64_t idx[MIG_WIRE_BATCH], pages = guestmem_pages(dst->gm);
    uint8_t raw[MIG_WIRE_IDX_SIZE(MIG_WIRE_BATCH)];
    uint8_t *mem = guestmem_data(dst->gm);
    struct mig_wire_sum sum;
    uint64_t n = h->arg;

    if (!n || n > MIG_WIRE_BATCH
        || h->length != MIG_WIRE_PAGES_LEN(n)) {
        return fx_err_set(err, -EBADMSG, "page stream: PAGES record of "
                          "%" PRIu64 " pages in %" PRIu32 " bytes", n,
                          h->length);
    }
    evbuffer_remove(in, raw, MIG_WIRE_IDX_SIZE(n));
    mig_wire_sum_init(&sum);
    mig_wire_sum_add(&sum, raw, MIG_WIRE_IDX_SIZE(n));
    for (uint64_t i = 0; i < n; i++) {
        idx[i] = mig_wire_get64(raw + 8 * i);
        if (idx[i] >= pages) {
            return fx_err_set(err, -ERANGE, "page stream: page %" PRIu64
                              " beyond %" PRIu64, idx[i], pages);
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *page = mem + idx[i] * GUESTMEM_PAGE_SIZE;

        evbuffer_remove(in, page, GUESTMEM_PAGE_SIZE);
        mig_wire_sum_add(&sum, page, GUESTMEM_PAGE_SIZE);
    }
    if (mig_wire_sum_final(&sum) != h->sum) {
        return fx_err_set(err, -EBADMSG, "page stream: checksum mismatch "
                          "in a PAGES record");
    }
    dst->report.pages_sent += n;
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

/* Finish3: every device restored from its state, RESUMING -> RUNNING, the
 * guest resumed; only then does the source hear it may confirm. */
static int
dst_finish(struct mig_dst *dst, uint64_t pages, struct fx_err *err)
{
    uint8_t hdr[MIG_WIRE_HDR_SIZE];
    struct mig_wire_hdr h = { MIG_WIRE_RESUMED, 0, 0, mig_wire_sum("", 0) };
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
    if (rc < 0) {
        return rc;
    }
    guestmem_set_running(dst->gm, 1);
    mig_wire_encode(hdr, &h);
    bufferevent_write(dst->bev, hdr, sizeof hdr);
    mig_job_handle(&dst->job, MIG_EV_DONE, dst, NULL);
    /* 'done' waits until the source has been told (or is gone), so that a
     * caller may tear down as soon as it is called. */
    dst->telling = 1;
    bufferevent_setwatermark(dst->bev, EV_WRITE, 0, 0);
    return 0;
}

static void
dst_told(struct mig_dst *dst)
{
    if (dst->telling) {
        dst->telling = 0;
        dst_done(dst, MIG_RESULT_COMPLETED);
    }
}

static void
dst_write_cb(struct bufferevent *bev, void *arg)
{
    if (!evbuffer_get_length(bufferevent_get_output(bev))) {
        dst_told(arg);
    }
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
        return dst->hello ? dst_pages(dst, in, h, err)
               : fx_err_set(err, -EBADMSG, "page stream: pages before "
                            "HELLO");
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
        dst->report.rounds = (uint32_t) h->arg;
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

static void
dst_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    struct mig_dst *dst = arg;
    uint8_t hdr[MIG_WIRE_HDR_SIZE];
    struct mig_wire_hdr h;
    struct fx_err why;
    int rc;

    while (dst->job.state == MIG_PREPARE
           && evbuffer_get_length(in) >= MIG_WIRE_HDR_SIZE) {
        evbuffer_copyout(in, hdr, sizeof hdr);
        rc = mig_wire_decode(hdr, &h, &why);
        if (rc == 0 && evbuffer_get_length(in) < sizeof hdr + h.length) {
            return;
        }
        if (rc == 0) {
            rc = dst_record(dst, in, &h, &why);
        }
        if (rc < 0) {
            dst_fail(dst, &why);
            return;
        }
    }
}

static void
dst_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct mig_dst *dst = arg;
    struct fx_err why;

    (void) bev;
    if (mig_state_is_final(dst->job.state)) {
        /* The source closing after our RESUMED is the normal end. */
        bufferevent_free(dst->bev);
        dst->bev = NULL;
        dst_told(dst);
        return;
    }
    fx_err_set(&why, -ECONNRESET, "page stream from the source lost "
               "(%s)", what & BEV_EVENT_EOF ? "closed by peer"
               : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    dst_fail(dst, &why);
}

/* One incoming migration per job: later connections are closed. */
static void
dst_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
              struct sockaddr *sa, int salen, void *arg)
{
    struct mig_dst *dst = arg;

    (void) sa;
    (void) salen;
    if (dst->bev) {
        evutil_closesocket(fd);
        return;
    }
    evconnlistener_disable(lis);
    dst->bev = bufferevent_socket_new(dst->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!dst->bev) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(dst->bev, dst_read_cb, dst_write_cb, dst_event_cb,
                      dst);
    bufferevent_set_max_single_read(dst->bev, DST_MAX_IO);
    bufferevent_enable(dst->bev, EV_READ | EV_WRITE);
}

int
mig_dst_listen(struct mig_dst *dst, const char *addr, struct fx_err *err)
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
    dst->t_start_us = fx_now_us();
    guestmem_set_running(dst->gm, 0);
    dst->lis = evconnlistener_new_bind(dst->base, dst_accept_cb, dst,
                                       LEV_OPT_CLOSE_ON_FREE
                                       | LEV_OPT_REUSEABLE, 1,
                                       (struct sockaddr *) &ss, len);
    if (!dst->lis) {
        fx_err_set(&dst->err, -EADDRINUSE, "cannot listen on '%s'", addr);
        *err = dst->err;
        mig_job_handle(&dst->job, MIG_EV_ERROR, dst, NULL);
        mig_job_handle(&dst->job, MIG_EV_ROLLED_BACK, dst, NULL);
        dst->report.result = MIG_RESULT_FAILED;
        return -EADDRINUSE;
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
