/* The event log (fabric/events): numbered, kept, replayed from where a
 * subscriber left off, told to resync when that was pruned, kept across
 * a reopen, and a subscriber that does not read is cut off with a reason
 * rather than growing the daemon's memory.  In process: the events module
 * on one end of a real RPC connection (a socketpair), a client on the
 * other. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "events/events.h"
#include "fx_err.h"
#include "fx_time.h"
#include "harness.h"
#include "rpc.h"

#define MAX_GOT 64

struct fx {
    struct event_base *base;
    struct events *ev;
    struct rpc_conn *srv, *cli;
    int connected;
    uint64_t got[MAX_GOT];          /* Seqs received, in order. */
    size_t n_got;
    size_t n_all;                   /* Every event, also past MAX_GOT. */
    char ended[256];                /* A STREAM_ENDED's detail. */
    uint64_t stream;
};

static void
on_conn(struct rpc_conn *c, enum rpc_conn_event e, const char *why,
        void *arg)
{
    struct fx *f = arg;

    (void) why;
    if (e == RPC_CONN_CONNECTED) {
        f->connected++;
    } else if (c == f->srv) {
        f->srv = NULL;
    } else if (c == f->cli) {
        f->cli = NULL;
    }
}

static void
on_event(void *arg, uint64_t id, const char *name, const uint8_t *payload,
         size_t len)
{
    struct fx *f = arg;
    Fexsim__V1__Event *e = fexsim__v1__event__unpack(NULL, len, payload);

    assert_non_null(e);
    assert_int_equal(id, f->stream);
    assert_string_equal(name, "Events.Event");
    if (e->type == FEXSIM__V1__EVENT_TYPE__EVENT_STREAM_ENDED) {
        snprintf(f->ended, sizeof f->ended, "%s", e->detail);
    } else if (f->n_got < MAX_GOT) {
        f->got[f->n_got++] = e->seq;
    }
    f->n_all++;
    fexsim__v1__event__free_unpacked(e, NULL);
}

/* Steps the loop until 'cond' holds; the deadline bounds a broken run. */
static int
run_until(struct fx *f, int (*cond)(struct fx *), uint32_t ms)
{
    uint64_t end = fx_time_now_ms() + ms;

    while (!cond(f) && fx_time_now_ms() < end) {
        struct timeval tick = { 0, 50000 };

        event_base_loopexit(f->base, &tick);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    return cond(f);
}

static int
both_connected(struct fx *f)
{
    return f->connected == 2;
}

/* A connected pair; the server end's send buffer made small so that a
 * client that does not read soon leaves bytes queued in the daemon. */
static void
pair(struct fx *f, int small_buffers)
{
    int sv[2], sz = 4096;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (small_buffers) {
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
    f->srv = rpc_conn_create(f->base, sv[0], false, NULL, NULL, on_conn, f);
    f->cli = rpc_conn_create(f->base, sv[1], true, NULL, NULL, on_conn, f);
    rpc_conn_set_event_fn(f->cli, on_event, f);
    assert_true(run_until(f, both_connected, 5000));
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct fx_err err;

    f->base = event_base_new();
    assert_int_equal(events_open(NULL, 8, &f->ev, &err), 0);
    f->stream = 7;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    events_close(f->ev);
    rpc_conn_destroy(f->srv);
    rpc_conn_destroy(f->cli);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void
emit(struct fx *f, int n)
{
    for (int i = 0; i < n; i++) {
        events_emitf(f->ev, FEXSIM__V1__EVENT_TYPE__EVENT_VM_STARTED, "h1",
                     "vm", 0, 0, "running", "event %d", i);
    }
}

static size_t want_n;

static int
got_enough(struct fx *f)
{
    return f->n_got >= want_n;
}

/* Subscribes from 'since' (UINT64_MAX: only new ones) and replays, as
 * the service does after its reply. */
static Fexsim__V1__SubscribeReply
subscribe(struct fx *f, uint64_t since)
{
    Fexsim__V1__SubscribeReply rep = FEXSIM__V1__SUBSCRIBE_REPLY__INIT;
    struct fx_err err;

    assert_int_equal(events_subscribe(f->ev, f->srv, f->stream, since,
                                      since == UINT64_MAX, &rep, &err), 0);
    events_replay(f->ev, f->srv, f->stream);
    return rep;
}

static void
replays_what_was_missed_in_order_then_goes_live(void **state)
{
    struct fx *f = *state;
    Fexsim__V1__SubscribeReply rep;

    pair(f, 0);
    emit(f, 5);
    rep = subscribe(f, 2);
    assert_int_equal(rep.last_seq, 5);
    assert_int_equal(rep.oldest_seq, 1);
    assert_false(rep.resync);
    emit(f, 2);
    want_n = 5;
    assert_true(run_until(f, got_enough, 5000));
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(f->got[i], 3 + i);     /* 3..7: no gap, no dup. */
    }
    assert_int_equal(events_last_seq(f->ev), 7);
    /* From now only: nothing old. */
    events_drop_conn(f->ev, f->srv);
    assert_int_equal(events_subscribers(f->ev), 0);
    f->n_got = 0;
    rep = subscribe(f, UINT64_MAX);
    assert_int_equal(rep.last_seq, 7);
    emit(f, 1);
    want_n = 1;
    assert_true(run_until(f, got_enough, 5000));
    assert_int_equal(f->got[0], 8);
    /* 0: every one kept (8 here, the log keeps that many). */
    events_drop_conn(f->ev, f->srv);
    f->n_got = 0;
    rep = subscribe(f, 0);
    assert_false(rep.resync);
    want_n = 8;
    assert_true(run_until(f, got_enough, 5000));
    assert_int_equal(f->got[0], 1);
    assert_int_equal(f->got[7], 8);
}

static void
a_pruned_or_unknown_since_is_told_to_resync(void **state)
{
    struct fx *f = *state;
    Fexsim__V1__SubscribeReply rep;

    pair(f, 0);
    emit(f, 40);                 /* keep = 8: the old ones are pruned. */
    rep = subscribe(f, 2);
    assert_true(rep.resync);
    assert_true(rep.oldest_seq > 3);
    assert_true(rep.oldest_seq >= 40 - 8 - 8 / 8);
    emit(f, 1);
    want_n = 1;
    assert_true(run_until(f, got_enough, 5000));
    assert_int_equal(f->got[0], 41);             /* Live, nothing old. */
    events_drop_conn(f->ev, f->srv);
    /* A 'since' from before a restart without state. */
    rep = subscribe(f, 1000);
    assert_true(rep.resync);
    /* The oldest kept one minus one is still whole. */
    events_drop_conn(f->ev, f->srv);
    f->n_got = 0;
    rep = subscribe(f, rep.oldest_seq - 1);
    assert_false(rep.resync);
    want_n = 41 - rep.oldest_seq + 1;
    assert_true(run_until(f, got_enough, 5000));
    assert_int_equal(f->got[0], rep.oldest_seq);
}

static void
events_are_kept_across_a_reopen(void **state)
{
    struct fx *f = *state;
    char *dir = th_mkdtemp("events");
    struct fx_err err;

    events_close(f->ev);
    assert_int_equal(events_open(dir, 100, &f->ev, &err), 0);
    emit(f, 3);
    events_close(f->ev);
    assert_int_equal(events_open(dir, 100, &f->ev, &err), 0);
    assert_int_equal(events_last_seq(f->ev), 3);
    pair(f, 0);
    subscribe(f, 1);
    emit(f, 1);
    want_n = 3;
    assert_true(run_until(f, got_enough, 5000));
    assert_int_equal(f->got[0], 2);
    assert_int_equal(f->got[1], 3);
    assert_int_equal(f->got[2], 4);              /* Numbering goes on. */
    th_rmrf(dir);
    free(dir);
}

static void
push_tick(struct fx *f)
{
    Fexsim__V1__Event e = FEXSIM__V1__EVENT__INIT;

    e.type = FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_PROGRESS;
    e.migration = 1;
    events_push_live(f->ev, &e);
}

/* Live ticks (a migration's progress) go only to a subscriber that asked
 * for them, unnumbered (seq 0), and are neither kept nor replayed: the
 * numbering of kept events goes on without a gap. */
static void
live_ticks_reach_only_who_asked_and_are_not_kept(void **state)
{
    struct fx *f = *state;

    pair(f, 0);
    emit(f, 2);
    subscribe(f, UINT64_MAX);
    push_tick(f);                /* Not asked for: not sent. */
    emit(f, 1);
    want_n = 1;
    assert_true(run_until(f, got_enough, 5000));
    assert_int_equal(f->got[0], 3);
    events_want_live(f->ev, f->srv, f->stream);
    push_tick(f);
    emit(f, 1);
    want_n = 3;
    assert_true(run_until(f, got_enough, 5000));
    assert_int_equal(f->got[1], 0);              /* The tick. */
    assert_int_equal(f->got[2], 4);              /* No gap. */
    assert_int_equal(events_last_seq(f->ev), 4);
    /* A replay from the start has the kept ones only. */
    events_drop_conn(f->ev, f->srv);
    f->n_got = 0;
    subscribe(f, 0);
    want_n = 4;
    assert_true(run_until(f, got_enough, 5000));
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(f->got[i], i + 1);
    }
}

static int
cut_off(struct fx *f)
{
    return f->ended[0] != '\0';
}

static void
a_subscriber_that_does_not_read_is_cut_off(void **state)
{
    struct fx *f = *state;
    size_t max_queued = 0, emitted = 0;

    pair(f, 1);
    subscribe(f, UINT64_MAX);
    /* The client's loop does not run: nothing is read. */
    while (events_subscribers(f->ev) && emitted < 400000) {
        emit(f, 100);
        emitted += 100;
        if (f->srv && rpc_conn_queued(f->srv) > max_queued) {
            max_queued = rpc_conn_queued(f->srv);
        }
    }
    assert_int_equal(events_subscribers(f->ev), 0);
    /* Bounded: the cap and the one event that crossed it. */
    assert_true(max_queued <= EVENTS_MAX_QUEUED + 4096);
    assert_true(max_queued > EVENTS_MAX_QUEUED / 2);
    /* The client reads on and learns why, last. */
    assert_true(run_until(f, cut_off, 30000));
    assert_non_null(strstr(f->ended, "cut off"));
    assert_non_null(strstr(f->ended, "since="));
    assert_true(f->n_all > 0 && f->n_all < emitted + 1);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(replays_what_was_missed_in_order_then_goes_live),
        T(a_pruned_or_unknown_since_is_told_to_resync),
        T(events_are_kept_across_a_reopen),
        T(live_ticks_reach_only_who_asked_and_are_not_kept),
        T(a_subscriber_that_does_not_read_is_cut_off),
    };

    return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
