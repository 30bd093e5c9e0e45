/* guestmem: a simulated guest's RAM with a dirty-page bitmap.
 *
 * The memory is a real buffer (anonymous, MAP_NORESERVE, so a big guest
 * costs only what is touched).  Every write through this module, from the
 * synthetic writer (a libevent timer dirtying pages at a configured rate,
 * scaled down by the auto-converge throttle) or from the data plane through
 * guestmem_mark_dirty(), sets the page's bit, as KVM's dirty log does.
 * Pre-copy takes the bitmap with guestmem_dirty_sync(), as QEMU's
 * migration_bitmap_sync() does. */
#ifndef GUESTMEM_H
#define GUESTMEM_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct fx_err;
struct guestmem;

#define GUESTMEM_PAGE_SIZE 4096u
#define GUESTMEM_MAX_BYTES (64ull << 30)    /* 64 GiB. */

/* Creates 'size' bytes (a positive multiple of the page size) of guest
 * memory whose writer runs on 'base' (borrowed, must outlive it).  The
 * guest starts running, the writer off, all pages clean.  Stores it in
 * '*gmp'; the caller frees it with guestmem_destroy(). */
int guestmem_create(struct event_base *base, uint64_t size,
                    struct guestmem **gmp, struct fx_err *err);
void guestmem_destroy(struct guestmem *gm);

/* Backs every page now, as a VM whose memory reservation equals its
 * memory size (DirectPath I/O requires it): a destination calls this at
 * Prepare so that pages land in allocated memory.  Returns 0. */
int guestmem_populate(struct guestmem *gm, struct fx_err *err);

/* The memory (owned by 'gm'), its size and its page count. */
uint8_t *guestmem_data(const struct guestmem *gm);
uint64_t guestmem_size(const struct guestmem *gm);
uint64_t guestmem_pages(const struct guestmem *gm);

/* Marks the pages covering ['offset', 'offset' + 'len') dirty: the data
 * plane calls this after it writes a frame into guest memory.  Out of
 * range parts are ignored. */
void guestmem_mark_dirty(struct guestmem *gm, uint64_t offset, uint64_t len);

/* Copies 'len' bytes of 'data' at 'offset' and marks them dirty.  Returns
 * 0 or -ERANGE. */
int guestmem_write(struct guestmem *gm, uint64_t offset, const void *data,
                   uint64_t len);

/* Sets every page dirty: the start of dirty logging, when the first
 * pre-copy round must send all of memory. */
void guestmem_dirty_all(struct guestmem *gm);

/* Pages dirty now. */
uint64_t guestmem_dirty_count(const struct guestmem *gm);

/* ORs the dirty bitmap into 'bitmap' (guestmem_bitmap_words() words, owned
 * by the caller) and clears it.  Returns the number of pages that were
 * dirty. */
uint64_t guestmem_dirty_sync(struct guestmem *gm, uint64_t *bitmap);
size_t guestmem_bitmap_words(const struct guestmem *gm);

/* Pages dirty in the guest's log or set in 'bitmap' (as for
 * guestmem_dirty_sync(), borrowed), each counted once: what a migration
 * whose bitmap holds the pages it has yet to send still has to send.  A
 * scan of the bitmaps (32 KiB per GiB): for a reader a few times a
 * second, not for every page. */
uint64_t guestmem_dirty_union(const struct guestmem *gm,
                              const uint64_t *bitmap);

/* Starts (or retunes) the synthetic writer: 'pages_per_s' page writes per
 * second while the guest runs, scaled by (100 - throttle)%, on pages drawn
 * from a generator seeded by 'seed'.  0 stops it. */
void guestmem_writer_set(struct guestmem *gm, uint64_t pages_per_s,
                         uint64_t seed);
/* Page writes the writer made so far. */
uint64_t guestmem_writer_count(const struct guestmem *gm);

/* The vCPU throttle in percent (0..99), as QEMU's cpu-throttle. */
void guestmem_set_throttle(struct guestmem *gm, unsigned pct);
unsigned guestmem_throttle(const struct guestmem *gm);

/* Stops or resumes the guest: a stopped guest's writer does not run. */
void guestmem_set_running(struct guestmem *gm, int running);
int guestmem_is_running(const struct guestmem *gm);

#endif
