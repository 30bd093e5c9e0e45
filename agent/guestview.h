/* guestview: a real guest's own view of its traffic, read from the file
 * its serial console goes to, where fexguest (guest/fexguest.c) writes a
 * line of its counters every report period:
 *
 *   FXG sent=N recv=N lost=N dup=N reord=N gap_ms=N peer=MAC pgap_ms=N
 *
 * The counters live in guest RAM, so they move with the guest; each
 * host's QEMU appends to its own file.  A migration reads a span of those
 * lines on each side: on the source the last line before the move and
 * those written while it moved, on the destination those written since
 * the guest resumed there, until it has heard its peer again.
 *
 * It knows nothing of migrations: the migration agent says where a span
 * begins and when it wants it. */
#ifndef GUESTVIEW_H
#define GUESTVIEW_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct fx_err;
struct guestview_watch;

/* One line's counters: cumulative since the guest began, but 'pgap_ms',
 * the longest gap that ended in the line's period. */
struct guestview_counters {
    uint64_t sent, recv, lost, dup, reord;
    uint64_t gap_ms;               /* Longest gap ever. */
    uint64_t pgap_ms;
};

/* The counter lines of a span of the file. */
struct guestview_span {
    size_t lines;
    struct guestview_counters first, last;  /* Valid when 'lines'. */
    uint64_t gap_ms;               /* Longest gap ending in the span. */
};

/* Where a span starting now begins in 'path': its size (0 if it does not
 * exist yet).  Returns 0, or -errno with 'err' filled. */
int guestview_offset(const char *path, uint64_t *off, struct fx_err *err);

/* The counter lines of 'path' from offset 'from' to its end into '*s'
 * (a file now shorter than 'from' was started again: from its start).
 * Returns 0, or -errno with 'err' filled. */
int guestview_read(const char *path, uint64_t from, struct guestview_span *s,
                   struct fx_err *err);

/* The last counter line of 'path' before offset 'end', into '*c'.
 * Returns 0, -ENOENT when the guest wrote none there (yet), or -errno;
 * 'err' filled on failure. */
int guestview_last(const char *path, uint64_t end,
                   struct guestview_counters *c, struct fx_err *err);

/* Whether span 's' shows the guest hearing its peer: two lines at least,
 * the last with more frames received than the first. */
int guestview_heard(const struct guestview_span *s);

/* Called once when a watch ends: with 'err' NULL once the span heard the
 * peer (guestview_heard), else with why not at the deadline and the span
 * as it was.  It may free the watch. */
typedef void guestview_done_fn(const struct guestview_span *s,
                               const struct fx_err *err, void *arg);

/* How often a watch reads the file: the guest writes a line every 200 ms
 * (agentd's fxg.report_ms). */
#define GUESTVIEW_POLL_MS 50u

/* Watches 'path' (copied) from offset 'from' on 'base' (borrowed, must
 * outlive the watch) until the guest has heard its peer in that span, or
 * for 'timeout_ms', then calls 'done' with 'arg'.  The caller frees the
 * watch with guestview_watch_free(), which stops it if it has not
 * ended. */
struct guestview_watch *guestview_watch(struct event_base *base,
                                        const char *path, uint64_t from,
                                        unsigned timeout_ms,
                                        guestview_done_fn *done, void *arg);
/* NULL is a no-op. */
void guestview_watch_free(struct guestview_watch *);

#endif
