/* guestview: a real guest's counters read from its console's file, as
 * fexguest writes them among the kernel's lines: spans, the last line
 * before a point, and the watch that waits until the guest heard its
 * peer (fed here by timers on the same loop: no sleeping). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "fx_err.h"
#include "guestview.h"
#include "harness.h"

struct fixture {
    char *dir;
    char path[4200];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    f->dir = th_mkdtemp("guestview");
    snprintf(f->path, sizeof f->path, "%s/a.console", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    unlink(f->path);
    rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void
append(const char *path, const char *text)
{
    FILE *fp = fopen(path, "a");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void
line(const char *path, unsigned recv, unsigned lost, unsigned pgap)
{
    char buf[200];

    snprintf(buf, sizeof buf, "FXG sent=%u recv=%u lost=%u dup=0 reord=1 "
             "gap_ms=900 peer=00:25:b5:00:00:02 pgap_ms=%u\r\n", recv + 7,
             recv, lost, pgap);
    append(path, buf);
}

/* The counter lines among others, the part of a line a span starts in
 * left out, the longest period gap, the last line before a point. */
static void
spans_and_last(void **state)
{
    struct fixture *f = *state;
    struct guestview_counters c;
    struct guestview_span s;
    struct fx_err err;
    uint64_t off, mid;

    assert_int_equal(guestview_offset(f->path, &off, &err), 0);
    assert_int_equal(off, 0);              /* Not there yet: from 0. */
    assert_int_equal(guestview_last(f->path, 0, &c, &err), -ENOENT);

    append(f->path, "[    1.39] ACPI: boot\nFXG start iface=eth0\n");
    assert_int_equal(guestview_last(f->path, 1000, &c, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "no counters"));
    line(f->path, 100, 0, 10);
    line(f->path, 120, 0, 12);
    assert_int_equal(guestview_offset(f->path, &mid, &err), 0);
    append(f->path, "[   20.00] a kernel line\n");
    line(f->path, 130, 2, 450);
    line(f->path, 150, 2, 11);
    append(f->path, "FXG sent=1 recv=9");     /* Being written. */

    assert_int_equal(guestview_read(f->path, 0, &s, &err), 0);
    assert_int_equal(s.lines, 4);
    assert_int_equal(s.first.recv, 100);
    assert_int_equal(s.last.recv, 150);
    assert_int_equal(s.last.sent, 157);
    assert_int_equal(s.last.reord, 1);
    assert_int_equal(s.last.gap_ms, 900);
    assert_int_equal(s.gap_ms, 450);

    assert_int_equal(guestview_read(f->path, mid, &s, &err), 0);
    assert_int_equal(s.lines, 2);
    assert_int_equal(s.first.recv, 130);
    assert_int_equal(s.last.lost, 2);
    assert_true(guestview_heard(&s));

    /* From inside a line (the one of 130): that line is not the span's. */
    assert_int_equal(guestview_read(f->path, mid + strlen("[   20.00] a "
                                     "kernel line\n") + 3, &s, &err), 0);
    assert_int_equal(s.lines, 1);
    assert_false(guestview_heard(&s));

    assert_int_equal(guestview_last(f->path, mid, &c, &err), 0);
    assert_int_equal(c.recv, 120);
    assert_int_equal(c.pgap_ms, 12);

    /* A file started again (shorter than the span's start): from 0. */
    assert_int_equal(truncate(f->path, 0), 0);
    line(f->path, 5, 0, 0);
    assert_int_equal(guestview_read(f->path, mid, &s, &err), 0);
    assert_int_equal(s.lines, 1);
    assert_int_equal(s.first.recv, 5);
}

/* A guest built before pgap_ms: its lines still count, gap unknown. */
static void
old_guest_line(void **state)
{
    struct fixture *f = *state;
    struct guestview_span s;
    struct fx_err err;

    append(f->path, "FXG sent=3 recv=4 lost=5 dup=6 reord=7 gap_ms=8 "
           "peer=00:25:b5:00:00:02\n");
    assert_int_equal(guestview_read(f->path, 0, &s, &err), 0);
    assert_int_equal(s.lines, 1);
    assert_int_equal(s.last.dup, 6);
    assert_int_equal(s.last.pgap_ms, 0);
}

struct watching {
    struct event_base *base;
    const char *path;
    unsigned step;                 /* Lines written so far. */
    unsigned hear_from;            /* recv grows from this line on. */
    int done;
    struct guestview_span span;
    struct fx_err err;
    int has_err;
};

static void
watched(const struct guestview_span *s, const struct fx_err *err, void *arg)
{
    struct watching *w = arg;

    w->done++;
    w->span = *s;
    w->has_err = err != NULL;
    if (err) {
        w->err = *err;
    }
    event_base_loopbreak(w->base);
}

/* The guest writes a line each time this runs: the same count of frames
 * received until 'hear_from', more after. */
static void
guest_writes(evutil_socket_t fd, short what, void *arg)
{
    struct watching *w = arg;

    (void) fd;
    (void) what;
    w->step++;
    line(w->path, w->step >= w->hear_from ? 200 + w->step : 200, 0,
         w->step == 2 ? 77 : 5);
}

static void
watch_run(struct watching *w, unsigned timeout_ms)
{
    const struct timeval tick = { 0, 20 * 1000 };
    struct event *ev = event_new(w->base, -1, EV_PERSIST, guest_writes, w);
    struct guestview_watch *gw;

    gw = guestview_watch(w->base, w->path, 0, timeout_ms, watched, w);
    event_add(ev, &tick);
    event_base_dispatch(w->base);
    event_free(ev);
    guestview_watch_free(gw);
}

/* Ends once the guest's lines show it heard its peer, not before. */
static void
watch_until_heard(void **state)
{
    struct fixture *f = *state;
    struct watching w = { event_base_new(), f->path, 0, 4, 0, { 0 },
                          { 0 }, 0 };

    watch_run(&w, 60000);
    assert_int_equal(w.done, 1);
    assert_false(w.has_err);
    assert_true(w.step >= 4);
    assert_true(guestview_heard(&w.span));
    assert_true(w.span.last.recv > 200);
    assert_int_equal(w.span.gap_ms, 77);
    event_base_free(w.base);
}

/* A guest that never hears its peer: the watch ends at its deadline,
 * with why and what the guest said. */
static void
watch_deadline(void **state)
{
    struct fixture *f = *state;
    struct watching w = { event_base_new(), f->path, 0, ~0u, 0, { 0 },
                          { 0 }, 0 };

    watch_run(&w, 300);
    assert_int_equal(w.done, 1);
    assert_true(w.has_err);
    assert_int_equal(w.err.code, -ETIMEDOUT);
    assert_non_null(strstr(w.err.msg, "did not hear its peer"));
    assert_true(w.span.lines >= 1);
    assert_false(guestview_heard(&w.span));
    event_base_free(w.base);
}

/* Freed before it ends: no callback. */
static void
watch_freed_early(void **state)
{
    struct fixture *f = *state;
    struct event_base *base = event_base_new();
    struct watching w = { base, f->path, 0, 0, 0, { 0 }, { 0 }, 0 };
    struct guestview_watch *gw = guestview_watch(base, f->path, 0, 1000,
                                                 watched, &w);

    guestview_watch_free(gw);
    assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
    assert_int_equal(w.done, 0);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(spans_and_last, setup, teardown),
        cmocka_unit_test_setup_teardown(old_guest_line, setup, teardown),
        cmocka_unit_test_setup_teardown(watch_until_heard, setup, teardown),
        cmocka_unit_test_setup_teardown(watch_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(watch_freed_early, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
