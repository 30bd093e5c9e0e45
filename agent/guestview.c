/* guestview: a real guest's counters, from its serial console's file. */
#include "guestview.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "fx_err.h"
#include "fx_time.h"

#define GUESTVIEW_CHUNK 16384u     /* Bytes read at a time. */
/* How far back from a span's start its last line is looked for: the
 * guest writes one every 200 ms, a boot's messages fit before. */
#define GUESTVIEW_BACK 65536u

struct guestview_watch {
    struct event *ev;              /* Owned. */
    char *path;                    /* Owned. */
    uint64_t from;
    uint64_t deadline;             /* fx_time_now_ms(). */
    unsigned timeout_ms;
    guestview_done_fn *done;       /* NULL once called. */
    void *arg;
};

/* Line 'line' (NUL-terminated) as counters: 1 if it is fexguest's. */
static int
guestview_parse(const char *line, struct guestview_counters *c)
{
    unsigned long long v[6], pgap = 0;
    const char *p;

    if (sscanf(line, "FXG sent=%llu recv=%llu lost=%llu dup=%llu "
               "reord=%llu gap_ms=%llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5]) != 6) {
        return 0;
    }
    /* A guest built before pgap_ms: its period's gap is unknown, 0. */
    p = strstr(line, " pgap_ms=");
    if (p && sscanf(p, " pgap_ms=%llu", &pgap) != 1) {
        pgap = 0;
    }
    *c = (struct guestview_counters) { v[0], v[1], v[2], v[3], v[4], v[5],
                                       pgap };
    return 1;
}

static void
guestview_add(struct guestview_span *s, const struct guestview_counters *c)
{
    if (!s->lines++) {
        s->first = *c;
    }
    s->last = *c;
    if (c->pgap_ms > s->gap_ms) {
        s->gap_ms = c->pgap_ms;
    }
}

static int
guestview_open(const char *path, int *fdp, uint64_t *sizep,
               struct fx_err *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return fx_err_set(err, -errno, "guest console '%s': %s", path,
                          strerror(errno));
    }
    if (fstat(fd, &st)) {
        int e = errno;

        close(fd);
        return fx_err_set(err, -e, "guest console '%s': %s", path,
                          strerror(e));
    }
    *fdp = fd;
    *sizep = (uint64_t) st.st_size;
    return 0;
}

int
guestview_offset(const char *path, uint64_t *off, struct fx_err *err)
{
    uint64_t size;
    int fd;

    *off = 0;
    if (guestview_open(path, &fd, &size, err)) {
        return err->code == -ENOENT ? 0 : err->code;
    }
    close(fd);
    *off = size;
    return 0;
}

/* Calls 'line' for each whole line of 'fd' between 'from' and 'to'
 * (the part of a line cut at 'from' is skipped unless 'from' is 0, one
 * cut at 'to' is left: the guest is still writing it). */
static int
guestview_lines(int fd, uint64_t from, uint64_t to, const char *path,
                void (*line)(const char *l, void *arg), void *arg,
                struct fx_err *err)
{
    char buf[GUESTVIEW_CHUNK + 1], *start, *nl;
    size_t have = 0;
    int skip = from > 0;

    while (from < to) {
        size_t want = GUESTVIEW_CHUNK - have;
        ssize_t n;

        if (want > to - from) {
            want = (size_t) (to - from);
        }
        n = pread(fd, buf + have, want, (off_t) from);
        if (n < 0) {
            return fx_err_set(err, -errno, "guest console '%s': %s", path,
                              strerror(errno));
        }
        if (n == 0) {
            break;
        }
        from += (uint64_t) n;
        have += (size_t) n;
        buf[have] = '\0';
        start = buf;
        while ((nl = memchr(start, '\n', have - (size_t) (start - buf)))) {
            *nl = '\0';
            if (!skip) {
                line(start, arg);
            }
            skip = 0;
            start = nl + 1;
        }
        have -= (size_t) (start - buf);
        memmove(buf, start, have);
        if (have == GUESTVIEW_CHUNK) {
            have = 0;           /* No line is that long: not the guest's. */
            skip = 1;
        }
    }
    return 0;
}

static void
guestview_span_line(const char *l, void *arg)
{
    struct guestview_counters c;

    if (guestview_parse(l, &c)) {
        guestview_add(arg, &c);
    }
}

int
guestview_read(const char *path, uint64_t from, struct guestview_span *s,
               struct fx_err *err)
{
    uint64_t size;
    int fd, rc;

    memset(s, 0, sizeof *s);
    if (guestview_open(path, &fd, &size, err)) {
        return err->code == -ENOENT ? 0 : err->code;
    }
    if (size < from) {
        from = 0;
    }
    rc = guestview_lines(fd, from, size, path, guestview_span_line, s, err);
    close(fd);
    return rc;
}

int
guestview_last(const char *path, uint64_t end, struct guestview_counters *c,
               struct fx_err *err)
{
    struct guestview_span s = { 0 };
    uint64_t size, from;
    int fd, rc;

    if (guestview_open(path, &fd, &size, err)) {
        return err->code;
    }
    if (end > size) {
        end = size;
    }
    from = end > GUESTVIEW_BACK ? end - GUESTVIEW_BACK : 0;
    rc = guestview_lines(fd, from, end, path, guestview_span_line, &s, err);
    close(fd);
    if (rc) {
        return rc;
    }
    if (!s.lines) {
        return fx_err_set(err, -ENOENT, "the guest has reported no counters "
                          "yet (%s)", path);
    }
    *c = s.last;
    return 0;
}

int
guestview_heard(const struct guestview_span *s)
{
    return s->lines >= 2 && s->last.recv > s->first.recv;
}

static void
guestview_tick(evutil_socket_t fd, short what, void *arg)
{
    struct guestview_watch *w = arg;
    struct guestview_span s;
    struct fx_err err;
    guestview_done_fn *done = w->done;

    (void) fd;
    (void) what;
    fx_err_clear(&err);
    if (guestview_read(w->path, w->from, &s, &err)) {
        /* Unreadable now: said at the deadline if it stays so. */
        memset(&s, 0, sizeof s);
    } else if (guestview_heard(&s)) {
        event_del(w->ev);
        w->done = NULL;
        done(&s, NULL, w->arg);
        return;
    }
    if (fx_time_now_ms() < w->deadline) {
        return;
    }
    event_del(w->ev);
    w->done = NULL;
    if (!err.code) {
        fx_err_set(&err, -ETIMEDOUT, "the guest did not hear its peer "
                   "within %u ms (%zu reports from it)", w->timeout_ms,
                   s.lines);
    }
    done(&s, &err, w->arg);
}

struct guestview_watch *
guestview_watch(struct event_base *base, const char *path, uint64_t from,
                unsigned timeout_ms, guestview_done_fn *done, void *arg)
{
    const struct timeval tv = { 0, GUESTVIEW_POLL_MS * 1000 };
    struct guestview_watch *w = calloc(1, sizeof *w);

    if (!w || !(w->path = strdup(path))) {
        abort();
    }
    w->ev = event_new(base, -1, EV_PERSIST, guestview_tick, w);
    if (!w->ev) {
        abort();
    }
    w->from = from;
    w->timeout_ms = timeout_ms;
    w->deadline = fx_time_now_ms() + timeout_ms;
    w->done = done;
    w->arg = arg;
    event_add(w->ev, &tv);
    return w;
}

void
guestview_watch_free(struct guestview_watch *w)
{
    if (!w) {
        return;
    }
    event_free(w->ev);
    free(w->path);
    free(w);
}
