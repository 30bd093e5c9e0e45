/* mig_src_pages: the source end's page records and how they reach the
 * socket: buffered, or written straight from guest memory (see
 * mig_src_put_batch_direct). */
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "guestmem.h"
#include "mig_src_priv.h"
#include "mig_wire.h"

/* Queues a header and its payload; on an unlimited stream with nothing
 * queued, writes what the socket takes now, in one segment (the records
 * that end a round, the devices' state and END are small: waiting for the
 * loop's next turn would add to the downtime).  'more': another write
 * follows at once, so the kernel may hold this one back to send both in
 * one segment (MSG_MORE): each loopback segment costs the sender about 7
 * us on a small VM, in the downtime when it carries a device's state. */
void
mig_src_send(struct mig_src *src, const uint8_t *hdr, const void *data,
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
void
mig_src_put(struct mig_src *src, uint8_t type, uint64_t arg, const void *data,
        uint32_t len)
{
    struct mig_wire_hdr h = { type, len, arg, mig_wire_sum(data, len) };
    uint8_t hdr[MIG_WIRE_HDR_SIZE];

    mig_wire_encode(hdr, &h);
    /* A DEVICE is always followed by another or by END.  STOP goes alone:
     * it tells a destination that stopped polling to start again, and its
     * wakeup then overlaps the source's work. */
    mig_src_send(src, hdr, data, len, type == MIG_WIRE_DEVICE);
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
unsigned
mig_src_put_batch(struct mig_src *src)
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
size_t
mig_src_put_batch_direct(struct mig_src *src)
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
