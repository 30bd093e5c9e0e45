/* guestmem: guest memory, dirty bitmap, synthetic writer. */
#include "guestmem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <event2/event.h>

#include "fx_err.h"
#include "fx_time.h"

/* The writer ticks every 5 ms: fine enough that a pre-copy round of a few
 * milliseconds sees dirtying, coarse enough to cost nothing. */
#define GUESTMEM_TICK_US 5000

struct guestmem {
    struct event_base *base;    /* Borrowed. */
    uint8_t *mem;               /* Owned mapping of 'size' bytes. */
    uint64_t size;
    uint64_t pages;
    uint64_t *dirty;            /* Owned bitmap, one bit per page. */
    size_t words;               /* Words in 'dirty'. */
    uint64_t n_dirty;           /* Bits set in 'dirty'. */
    struct event *tick;         /* Owned writer timer. */
    uint64_t rate;              /* Writer page writes per second. */
    uint64_t rng;               /* xorshift64 state. */
    uint64_t last_us;           /* Time of the previous tick. */
    double carry;               /* Fraction of a page write owed. */
    uint64_t writes;            /* Page writes made by the writer. */
    unsigned throttle;          /* Percent, 0..99. */
    int running;                /* Guest vCPUs running. */
};

static void guestmem_tick(evutil_socket_t fd, short what, void *arg);

int
guestmem_create(struct event_base *base, uint64_t size,
                struct guestmem **gmp, struct fx_err *err)
{
    struct guestmem *gm;

    *gmp = NULL;
    if (!size || size % GUESTMEM_PAGE_SIZE || size > GUESTMEM_MAX_BYTES) {
        return fx_err_set(err, -EINVAL, "guest memory size %" PRIu64
                          " is not a positive multiple of %u up to 64 GiB",
                          size, GUESTMEM_PAGE_SIZE);
    }
    gm = calloc(1, sizeof *gm);
    if (!gm) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    gm->base = base;
    gm->size = size;
    gm->pages = size / GUESTMEM_PAGE_SIZE;
    gm->words = (gm->pages + 63) / 64;
    gm->running = 1;
    gm->mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (gm->mem != MAP_FAILED) {
        /* As QEMU does for guest RAM: a forked helper must not share it,
         * or every guest write after the fork becomes a copy-on-write. */
        madvise(gm->mem, size, MADV_DONTFORK);
        /* And as QEMU's ram_block_add(): transparent huge pages.  A
         * stop-and-copy round reads scattered dirty pages; with 4 KiB
         * mappings each costs a TLB miss on both ends (bench_migrate: the
         * 1 GiB guest's final round ran 1.5x faster with them).  Where
         * THP is off, this fails harmlessly. */
        madvise(gm->mem, size, MADV_HUGEPAGE);
    }
    gm->dirty = calloc(gm->words, sizeof *gm->dirty);
    gm->tick = event_new(base, -1, EV_PERSIST, guestmem_tick, gm);
    if (gm->mem == MAP_FAILED || !gm->dirty || !gm->tick) {
        if (gm->mem == MAP_FAILED) {
            gm->mem = NULL;
        }
        guestmem_destroy(gm);
        return fx_err_set(err, -ENOMEM, "cannot map %" PRIu64 " MiB of "
                          "guest memory", size >> 20);
    }
    *gmp = gm;
    return 0;
}

void
guestmem_destroy(struct guestmem *gm)
{
    if (!gm) {
        return;
    }
    if (gm->tick) {
        event_free(gm->tick);
    }
    if (gm->mem) {
        munmap(gm->mem, gm->size);
    }
    free(gm->dirty);
    free(gm);
}

int
guestmem_populate(struct guestmem *gm, struct fx_err *err)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(gm->mem, gm->size, MADV_POPULATE_WRITE) == 0) {
        return 0;
    }
#endif
    /* Older kernels: touch one byte per page (the memory is zero). */
    for (uint64_t off = 0; off < gm->size; off += GUESTMEM_PAGE_SIZE) {
        ((volatile uint8_t *) gm->mem)[off] = 0;
    }
    (void) err;
    return 0;
}

uint8_t *
guestmem_data(const struct guestmem *gm)
{
    return gm->mem;
}

uint64_t
guestmem_size(const struct guestmem *gm)
{
    return gm->size;
}

uint64_t
guestmem_pages(const struct guestmem *gm)
{
    return gm->pages;
}

size_t
guestmem_bitmap_words(const struct guestmem *gm)
{
    return gm->words;
}

static void
guestmem_set_bit(struct guestmem *gm, uint64_t page)
{
    uint64_t bit = 1ull << (page % 64);

    if (!(gm->dirty[page / 64] & bit)) {
        gm->dirty[page / 64] |= bit;
        gm->n_dirty++;
    }
}

void
guestmem_mark_dirty(struct guestmem *gm, uint64_t offset, uint64_t len)
{
    uint64_t first, last;

    if (!len || offset >= gm->size) {
        return;
    }
    if (len > gm->size - offset) {
        len = gm->size - offset;
    }
    first = offset / GUESTMEM_PAGE_SIZE;
    last = (offset + len - 1) / GUESTMEM_PAGE_SIZE;
    for (uint64_t p = first; p <= last; p++) {
        guestmem_set_bit(gm, p);
    }
}

int
guestmem_write(struct guestmem *gm, uint64_t offset, const void *data,
               uint64_t len)
{
    if (offset > gm->size || len > gm->size - offset) {
        return -ERANGE;
    }
    memcpy(gm->mem + offset, data, len);
    guestmem_mark_dirty(gm, offset, len);
    return 0;
}

void
guestmem_dirty_all(struct guestmem *gm)
{
    memset(gm->dirty, 0xff, gm->words * sizeof *gm->dirty);
    if (gm->pages % 64) {
        gm->dirty[gm->words - 1] = (1ull << (gm->pages % 64)) - 1;
    }
    gm->n_dirty = gm->pages;
}

uint64_t
guestmem_dirty_count(const struct guestmem *gm)
{
    return gm->n_dirty;
}

uint64_t
guestmem_dirty_sync(struct guestmem *gm, uint64_t *bitmap)
{
    uint64_t n = gm->n_dirty;

    if (n) {
        for (size_t i = 0; i < gm->words; i++) {
            bitmap[i] |= gm->dirty[i];
        }
        memset(gm->dirty, 0, gm->words * sizeof *gm->dirty);
    }
    gm->n_dirty = 0;
    return n;
}

uint64_t
guestmem_dirty_union(const struct guestmem *gm, const uint64_t *bitmap)
{
    uint64_t n = 0;

    for (size_t i = 0; i < gm->words; i++) {
        n += (uint64_t) __builtin_popcountll(gm->dirty[i] | bitmap[i]);
    }
    return n;
}

static uint64_t
guestmem_rand(struct guestmem *gm)
{
    uint64_t x = gm->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    gm->rng = x;
    return x;
}

/* One page write: a new 8-byte value at a random aligned offset, so that
 * the page's content really changes, as a guest's store would. */
static void
guestmem_write_one(struct guestmem *gm)
{
    uint64_t r = guestmem_rand(gm);
    uint64_t page = r % gm->pages;
    uint64_t off = page * GUESTMEM_PAGE_SIZE
                   + ((r >> 40) % (GUESTMEM_PAGE_SIZE / 8)) * 8;

    gm->writes++;
    memcpy(gm->mem + off, &gm->writes, sizeof gm->writes);
    guestmem_set_bit(gm, page);
}

static void
guestmem_tick(evutil_socket_t fd, short what, void *arg)
{
    struct guestmem *gm = arg;
    uint64_t now = fx_time_now_us();
    double n;

    (void) fd;
    (void) what;
    n = (double) gm->rate * (double) (now - gm->last_us) / 1e6
        * (100 - gm->throttle) / 100.0 + gm->carry;
    gm->last_us = now;
    if (!gm->running) {
        gm->carry = 0;
        return;
    }
    gm->carry = n - (double) (uint64_t) n;
    for (uint64_t i = 0; i < (uint64_t) n; i++) {
        guestmem_write_one(gm);
    }
}

void
guestmem_writer_set(struct guestmem *gm, uint64_t pages_per_s,
                    uint64_t seed)
{
    struct timeval tv = { 0, GUESTMEM_TICK_US };

    gm->rate = pages_per_s;
    gm->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    gm->carry = 0;
    gm->last_us = fx_time_now_us();
    if (pages_per_s) {
        event_add(gm->tick, &tv);
    } else {
        event_del(gm->tick);
    }
}

uint64_t
guestmem_writer_count(const struct guestmem *gm)
{
    return gm->writes;
}

void
guestmem_set_throttle(struct guestmem *gm, unsigned pct)
{
    gm->throttle = pct > 99 ? 99 : pct;
}

unsigned
guestmem_throttle(const struct guestmem *gm)
{
    return gm->throttle;
}

void
guestmem_set_running(struct guestmem *gm, int running)
{
    gm->running = !!running;
    gm->last_us = fx_time_now_us();
    gm->carry = 0;
}

int
guestmem_is_running(const struct guestmem *gm)
{
    return gm->running;
}
