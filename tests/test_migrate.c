/* The migration engine end to end in one event loop: a source and a
 * destination over real loopback TCP, guest memory with a writer, device
 * state handed across, and every way a migration can end. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "auth.h"
#include "fx_err.h"
#include "fx_time.h"
#include "guestmem.h"
#include "mig_dst.h"
#include "mig_src.h"
#include "mig_wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define MiB (1024u * 1024)

struct end {
    int done;
    struct mig_report report;
    struct fx_err err;
};

struct fx {
    struct event_base *base;
    struct guestmem *gs, *gd;
    struct mig_src *src;
    struct mig_dst *dst;
    struct end es, ed;
    unsigned progress_calls;
    struct mig_progress last;
    struct mig_progress first;      /* Round 1: all of memory. */
    char loaded[2][64];
    size_t n_loaded;
    int fail_load;
    const struct auth_key *key;     /* The lab secret, or NULL. */
    unsigned refused;               /* Connections the destination refused. */
    char refused_why[256];
};

static const char *const devs[] = { "vnic0", "vnic1" };

static void
on_done(const struct mig_report *r, const struct fx_err *err, void *arg)
{
    struct end *e = arg;

    e->done = 1;
    e->report = *r;
    if (err) {
        e->err = *err;
    }
}

static void
on_progress(const struct mig_progress *p, void *arg)
{
    struct fx *f = arg;

    f->progress_calls++;
    f->last = *p;
    if (p->round == 1) {
        f->first = *p;
    }
}

static int
on_save(size_t dev, uint8_t **datap, size_t *sizep, void *arg,
        struct fx_err *err)
{
    char buf[64];

    (void) arg;
    (void) err;
    snprintf(buf, sizeof buf, "checkpoint of %s", devs[dev]);
    *datap = (uint8_t *) strdup(buf);
    *sizep = strlen(buf) + 1;
    return 0;
}

static int
on_load(size_t dev, const char *name, const uint8_t *data, size_t size,
        void *arg, struct fx_err *err)
{
    struct fx *f = arg;

    if (f->fail_load) {
        return fx_err_set(err, -EIO, "VIC refused the state of '%s'", name);
    }
    assert_true(dev < 2 && size < 64);
    snprintf(f->loaded[dev], sizeof f->loaded[dev], "%s=%s", name,
             (const char *) data);
    f->n_loaded++;
    return 0;
}

/* Source end's done callback receives 'es' through a small shim. */
static void
on_src_done(const struct mig_report *r, const struct fx_err *e, void *arg)
{
    on_done(r, e, &((struct fx *) arg)->es);
}

static void
on_dst_done(const struct mig_report *r, const struct fx_err *e, void *arg)
{
    on_done(r, e, &((struct fx *) arg)->ed);
}

static void
fill(struct guestmem *gm, uint64_t seed)
{
    uint64_t *p = (uint64_t *) guestmem_data(gm);

    for (uint64_t i = 0; i < guestmem_size(gm) / 8; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = seed;
    }
}

static void
on_refused(void *arg, const char *peer, const struct fx_err *why)
{
    struct fx *f = arg;

    (void) peer;
    f->refused++;
    snprintf(f->refused_why, sizeof f->refused_why, "%s", why->msg);
}

/* Sets up 'f''s destination with a 'dst_mb' MiB guest, listening on a
 * free port (with f->key as its lab secret, if set). */
static void
start_dst(struct fx *f, unsigned dst_mb)
{
    struct mig_dst_cbs dcb = { on_load, on_dst_done, f, NULL, on_refused };
    struct auth_ident me = { AUTH_ROLE_PEER, "h2" };
    struct fx_err err;

    assert_int_equal(guestmem_create(f->base, (uint64_t) dst_mb * MiB,
                                     &f->gd, &err), 0);
    assert_int_equal(mig_dst_create(f->base, f->gd, 1, &dcb, &f->dst, &err),
                     0);
    if (f->key) {
        mig_dst_set_auth(f->dst, f->key, &me);
    }
    assert_int_equal(mig_dst_listen(f->dst, "127.0.0.1:0", &err), 0);
}

/* Starts 'f''s source with a 'src_mb' MiB guest towards the destination
 * (proving f->key, if set). */
static void
start_src(struct fx *f, unsigned src_mb, const struct mig_params *p,
          uint64_t dirty_rate)
{
    struct mig_src_cbs scb = { on_save, NULL, on_progress, on_src_done, f };
    struct auth_ident me = { AUTH_ROLE_PEER, "h1" };
    struct fx_err err;
    char addr[32];

    assert_int_equal(guestmem_create(f->base, (uint64_t) src_mb * MiB,
                                     &f->gs, &err), 0);
    fill(f->gs, 42);
    guestmem_writer_set(f->gs, dirty_rate, 7);
    assert_int_equal(mig_src_create(f->base, f->gs, 1, p, devs, 2, &scb,
                                    &f->src, &err), 0);
    if (f->key) {
        mig_src_set_auth(f->src, f->key, &me);
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%u", mig_dst_port(f->dst));
    assert_int_equal(mig_src_start(f->src, addr, &err), 0);
}

/* Sets up 'f' with 'src_mb' and 'dst_mb' MiB guests, the destination
 * listening on a free port and the source started towards it. */
static void
start(struct fx *f, unsigned src_mb, unsigned dst_mb,
      const struct mig_params *p, uint64_t dirty_rate)
{
    start_dst(f, dst_mb);
    start_src(f, src_mb, p, dirty_rate);
}

/* Steps the loop until '*flag' is set; the deadline only bounds a broken
 * run, it is not a synchronization. */
static int
run_until(struct fx *f, const int *flag, uint32_t ms)
{
    uint64_t end = fx_time_now_ms() + ms;

    while (!*flag && fx_time_now_ms() < end) {
        struct timeval tick = { 0, 100000 };

        /* A pending exit, so that one pass never blocks past the
         * deadline when nothing happens at all. */
        event_base_loopexit(f->base, &tick);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    return *flag;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    f->base = event_base_new();
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    mig_src_destroy(f->src);
    mig_dst_destroy(f->dst);
    guestmem_destroy(f->gs);
    guestmem_destroy(f->gd);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void
assert_rolled_back(struct fx *f)
{
    assert_true(guestmem_is_running(f->gs));
    assert_int_equal(guestmem_throttle(f->gs), 0);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(mig_src_device(f->src, i)->state,
                         VFIO_MIG_RUNNING);
    }
}

static void
migrates_memory_byte_for_byte_with_writer_running(void **state)
{
    struct fx *f = *state;
    const struct mig_job *job;
    struct mig_params p;
    uint64_t writes;

    mig_params_init(&p);
    start(f, 4, 4, &p, 5000);
    assert_true(run_until(f, &f->es.done, 20000));
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_int_equal(f->es.report.result, MIG_RESULT_COMPLETED);
    assert_int_equal(f->ed.report.result, MIG_RESULT_COMPLETED);
    writes = guestmem_writer_count(f->gs);
    assert_true(writes > 0);
    assert_memory_equal(guestmem_data(f->gs), guestmem_data(f->gd),
                        4 * MiB);
    /* Devices: checkpoint handed back, source STOP, destination RUNNING. */
    assert_int_equal(f->n_loaded, 2);
    assert_string_equal(f->loaded[1], "vnic1=checkpoint of vnic1");
    assert_int_equal(mig_src_device(f->src, 0)->state, VFIO_MIG_STOP);
    /* RUNNING -> PRE_COPY -> PRE_COPY_P2P -> STOP_COPY -> STOP, logged. */
    {
        const struct vfio_mig *d = mig_src_device(f->src, 0);
        char line[96];

        assert_int_equal(vfio_mig_log_count(d), 4);
        assert_int_equal(vfio_mig_log_get(d, 1)->to, VFIO_MIG_PRE_COPY_P2P);
        vfio_mig_log_format(d, 3, line, sizeof line);
        assert_non_null(strstr(line, "vnic0 STOP_COPY -> STOP"));
    }
    assert_int_equal(mig_dst_device(f->dst, 1)->state, VFIO_MIG_RUNNING);
    assert_false(guestmem_is_running(f->gs));
    assert_true(guestmem_is_running(f->gd));
    /* The job walked the protocol and the report adds up. */
    job = mig_src_job(f->src);
    assert_int_equal(job->state, MIG_COMPLETED);
    assert_int_equal(mig_job_log_count(job), 5);
    assert_int_equal(mig_job_log_get(job, 2)->to, MIG_SWITCHOVER);
    assert_true(f->es.report.bytes_sent >= 4 * MiB);
    assert_int_equal(f->es.report.bytes_sent, f->ed.report.bytes_sent);
    assert_true(f->es.report.downtime_us > 0);
    assert_true(f->es.report.downtime_us <= f->es.report.total_us);
    assert_true(f->progress_calls >= 1);
    assert_int_equal(f->es.report.rounds, f->progress_calls + 1);
    /* Writes after the stop would be lost: the writer must be quiet. */
    run_until(f, &(int) { 0 }, 20);
    assert_int_equal(guestmem_writer_count(f->gs), writes);
}

static void
converges_quickly_with_low_dirty_rate(void **state)
{
    struct fx *f = *state;
    struct mig_params p;

    mig_params_init(&p);
    p.max_bandwidth = 0;
    start(f, 4, 4, &p, 100);
    assert_true(run_until(f, &f->es.done, 20000));
    assert_int_equal(f->es.report.result, MIG_RESULT_COMPLETED);
    assert_int_equal(f->es.report.throttle_pct, 0);
    assert_true(f->es.report.rounds <= 3);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_memory_equal(guestmem_data(f->gs), guestmem_data(f->gd),
                        4 * MiB);
}

/* 2 MiB at 32 MiB/s with 200k page writes a second: every page is dirty
 * again each round until the throttle reaches 99%. */
static void
hot_params(struct mig_params *p, int auto_converge)
{
    mig_params_init(p);
    p->max_bandwidth = 32 * MiB;
    p->downtime_limit_ms = 20;
    p->auto_converge = auto_converge;
}

static void
auto_converge_throttles_then_converges(void **state)
{
    struct fx *f = *state;
    struct mig_params p;

    hot_params(&p, 1);
    start(f, 2, 2, &p, 200000);
    assert_true(run_until(f, &f->es.done, 30000));
    assert_int_equal(f->es.report.result, MIG_RESULT_COMPLETED);
    assert_true(f->es.report.throttle_pct >= 20);
    assert_true(f->last.throttle_pct >= 20);
    /* max-bandwidth holds: a round is timed until the destination acks
     * it, so its rate is what really crossed.  Round 1 carries all 2 MiB
     * (about 60 ms), so the bucket's burst of two 10 ms ticks is small
     * beside it. */
    assert_true(f->first.bytes_sent >= 2 * MiB);
    assert_true(f->first.rate <= 32 * MiB * 14 / 10);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_memory_equal(guestmem_data(f->gs), guestmem_data(f->gd),
                        2 * MiB);
}

static void
fails_with_the_reason_without_auto_converge(void **state)
{
    struct fx *f = *state;
    struct mig_params p;

    hot_params(&p, 0);
    start(f, 2, 2, &p, 200000);
    assert_true(run_until(f, &f->es.done, 30000));
    assert_int_equal(f->es.report.result, MIG_RESULT_FAILED);
    assert_non_null(strstr(f->es.err.msg, "not converging"));
    assert_non_null(strstr(f->es.err.msg, "auto-converge off"));
    assert_int_equal(mig_src_job(f->src)->state, MIG_FAILED);
    assert_rolled_back(f);
    /* The destination sees the stream end before END and discards. */
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_int_equal(f->ed.report.result, MIG_RESULT_FAILED);
    assert_int_equal(f->n_loaded, 0);
}

static int
dst_got_pages(void *arg)
{
    return mig_dst_report(arg)->pages_sent > 0;
}

/* Runs until the destination has taken some pages: mid-transfer. */
static void
run_until_mid_transfer(struct fx *f)
{
    uint64_t end = fx_time_now_ms() + 20000;

    while (!dst_got_pages(f->dst) && fx_time_now_ms() < end) {
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    assert_true(dst_got_pages(f->dst));
    assert_false(f->es.done);
}

static void
source_rolls_back_when_the_peer_dies(void **state)
{
    struct fx *f = *state;
    const struct mig_job *job;
    struct mig_params p;

    mig_params_init(&p);
    p.max_bandwidth = 16 * MiB;
    start(f, 4, 4, &p, 1000);
    run_until_mid_transfer(f);
    mig_dst_destroy(f->dst);     /* Closes its socket. */
    f->dst = NULL;
    assert_true(run_until(f, &f->es.done, 20000));
    assert_int_equal(f->es.report.result, MIG_RESULT_FAILED);
    assert_int_equal(f->es.err.code, -ECONNRESET);
    job = mig_src_job(f->src);
    assert_int_equal(job->state, MIG_FAILED);
    assert_int_equal(mig_job_log_get(job, mig_job_log_count(job) - 2)->to,
                     MIG_ROLLBACK);
    assert_rolled_back(f);
    assert_false(f->ed.done);    /* Destroyed, no callback. */
}

static void
cancel_rolls_back_both_ends(void **state)
{
    struct fx *f = *state;
    struct mig_params p;
    struct fx_err err;

    mig_params_init(&p);
    p.max_bandwidth = 16 * MiB;
    start(f, 4, 4, &p, 1000);
    run_until_mid_transfer(f);
    assert_int_equal(mig_src_cancel(f->src, &err), 0);
    assert_true(run_until(f, &f->es.done, 20000));
    assert_int_equal(f->es.report.result, MIG_RESULT_CANCELLED);
    assert_int_equal(f->es.err.code, -ECANCELED);
    assert_int_equal(mig_src_job(f->src)->state, MIG_CANCELLED);
    assert_rolled_back(f);
    assert_int_equal(mig_src_cancel(f->src, &err), -EPROTO);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_int_equal(f->ed.report.result, MIG_RESULT_FAILED);
    for (size_t i = 0; i < mig_dst_n_devices(f->dst); i++) {
        assert_int_equal(mig_dst_device(f->dst, i)->state,
                         VFIO_MIG_RUNNING);   /* Reset, state discarded. */
    }
}

static void
destination_cancel_discards_and_source_rolls_back(void **state)
{
    struct fx *f = *state;
    struct mig_params p;

    mig_params_init(&p);
    p.max_bandwidth = 16 * MiB;
    start(f, 4, 4, &p, 1000);
    run_until_mid_transfer(f);
    assert_int_equal(mig_dst_cancel(f->dst, NULL), 0);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_int_equal(f->ed.report.result, MIG_RESULT_CANCELLED);
    assert_true(run_until(f, &f->es.done, 20000));
    assert_int_equal(f->es.report.result, MIG_RESULT_FAILED);
    assert_rolled_back(f);
}

static void
times_out_and_rolls_back(void **state)
{
    struct fx *f = *state;
    struct mig_params p;

    mig_params_init(&p);
    p.max_bandwidth = 1 * MiB;
    p.timeout_ms = 100;
    start(f, 4, 4, &p, 0);
    assert_true(run_until(f, &f->es.done, 20000));
    assert_int_equal(f->es.err.code, -ETIMEDOUT);
    assert_non_null(strstr(f->es.err.msg, "timed out after 100 ms"));
    assert_rolled_back(f);
}

static void
destination_refuses_a_guest_of_another_size(void **state)
{
    struct fx *f = *state;
    struct mig_params p;

    mig_params_init(&p);
    start(f, 4, 2, &p, 0);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_int_equal(f->ed.report.result, MIG_RESULT_FAILED);
    assert_non_null(strstr(f->ed.err.msg, "1024 pages"));
    assert_true(run_until(f, &f->es.done, 20000));
    assert_int_equal(f->es.report.result, MIG_RESULT_FAILED);
    assert_rolled_back(f);
}

static void
failed_restore_discards_and_source_resumes(void **state)
{
    struct fx *f = *state;
    struct mig_params p;

    mig_params_init(&p);
    f->fail_load = 1;
    start(f, 2, 2, &p, 0);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_int_equal(f->ed.report.result, MIG_RESULT_FAILED);
    assert_non_null(strstr(f->ed.err.msg, "VIC refused"));
    assert_true(run_until(f, &f->es.done, 20000));
    assert_int_equal(f->es.report.result, MIG_RESULT_FAILED);
    assert_rolled_back(f);
}

/* ---- Live statistics and changes while it runs ---- */

/* Steps the loop until the source's statistics satisfy 'ok', reading
 * them into 'st' at every step; false if the source finished first or
 * 'ms' passed (a bound for a broken run, not a synchronization). */
static int
run_until_stats(struct fx *f, int (*ok)(const struct mig_stats *, void *),
                void *arg, struct mig_stats *st, uint32_t ms)
{
    uint64_t end = fx_time_now_ms() + ms;

    mig_src_stats(f->src, st);
    while (!ok(st, arg) && !f->es.done && fx_time_now_ms() < end) {
        struct timeval tick = { 0, 10000 };

        event_base_loopexit(f->base, &tick);
        event_base_loop(f->base, EVLOOP_ONCE);
        mig_src_stats(f->src, st);
    }
    return ok(st, arg);
}

static int
processed_past(const struct mig_stats *st, void *arg)
{
    return st->processed_bytes > *(uint64_t *) arg;
}

/* Round 1 of a 16 MiB guest at 8 MiB/s lasts about 2 s: the counters
 * move during it, not only at its end. */
static void
stats_advance_during_round_one(void **state)
{
    struct fx *f = *state;
    struct mig_stats s1, s2;
    struct mig_params p;
    uint64_t some = 256 * 1024, mark;

    mig_params_init(&p);
    p.max_bandwidth = 8 * MiB;
    start(f, 16, 16, &p, 100);
    assert_true(run_until_stats(f, processed_past, &some, &s1, 20000));
    assert_int_equal(f->progress_calls, 0);      /* Still round 1. */
    assert_int_equal(s1.iteration, 1);
    assert_int_equal(s1.total_bytes, 16 * MiB);
    assert_true(s1.processed_bytes < 16 * MiB);
    assert_true(s1.remaining_bytes > 0 && s1.remaining_bytes <= 16 * MiB);
    /* A further MiB, still within round 1: processed grows, remaining
     * shrinks, a bandwidth is measured and a downtime expected. */
    mark = s1.processed_bytes + MiB;
    assert_true(run_until_stats(f, processed_past, &mark, &s2, 20000));
    assert_int_equal(f->progress_calls, 0);
    assert_int_equal(s2.iteration, 1);
    assert_true(s2.remaining_bytes < s1.remaining_bytes);
    assert_true(s2.bandwidth_bytes_per_s > 0);
    assert_true(s2.expected_downtime_ms > 0);
    assert_true(s2.elapsed_ms >= s1.elapsed_ms);
    /* The round's end reports its own figures. */
    assert_true(run_until(f, &f->es.done, 30000));
    assert_int_equal(f->es.report.result, MIG_RESULT_COMPLETED);
    assert_int_equal(f->first.stats.iteration, 1);
    assert_true(f->first.stats.processed_bytes >= 16 * MiB);
    assert_int_equal(f->first.stats.bandwidth_bytes_per_s, f->first.rate);
    assert_int_equal(f->first.stats.remaining_bytes,
                     f->first.bytes_remaining);
}

/* Started without a limit (pages written straight from guest memory),
 * limited to 4 MiB/s in round 1 (buffered, token bucket), then freed
 * again: the copy slows while limited, and every byte still arrives. */
static void
max_bandwidth_changes_while_running(void **state)
{
    struct fx *f = *state;
    struct mig_stats s0, s1;
    struct mig_params p;
    struct fx_err err;
    uint64_t zero = 0, t0, dt, sent;
    int never = 0;

    mig_params_init(&p);
    p.max_bandwidth = 0;
    start(f, 64, 64, &p, 1000);
    assert_true(run_until_stats(f, processed_past, &zero, &s0, 20000));
    assert_int_equal(mig_src_set_max_bandwidth(f->src, 4 * MiB, &err), 0);
    assert_int_equal(mig_src_params(f->src)->max_bandwidth, 4 * MiB);
    mig_src_stats(f->src, &s0);
    t0 = fx_time_now_us();
    run_until(f, &never, 400);
    mig_src_stats(f->src, &s1);
    dt = fx_time_now_us() - t0;
    sent = s1.processed_bytes - s0.processed_bytes;
    /* 4 MiB/s over 'dt', plus two 10 ms ticks of burst; unlimited, the
     * rest of the 64 MiB would have gone in this time. */
    assert_true(sent <= 4 * MiB * dt / 1000000 * 5 / 4 + 128 * 1024);
    assert_int_equal(f->progress_calls, 0);
    assert_int_equal(mig_src_set_max_bandwidth(f->src, 0, &err), 0);
    assert_true(run_until(f, &f->es.done, 30000));
    assert_int_equal(f->es.report.result, MIG_RESULT_COMPLETED);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_memory_equal(guestmem_data(f->gs), guestmem_data(f->gd),
                        64 * MiB);
    /* Over: nothing to change. */
    assert_int_equal(mig_src_set_max_bandwidth(f->src, MiB, &err), -EPROTO);
    assert_int_equal(mig_src_force_complete(f->src, &err), -EPROTO);
}

/* The hot guest of hot_params() does not converge at a 20 ms limit;
 * raised to 2 s in round 1, the round's end finds it fits. */
static void
raising_the_downtime_limit_lets_it_converge(void **state)
{
    struct fx *f = *state;
    struct mig_params p;
    struct mig_stats st;
    struct fx_err err;
    uint64_t zero = 0;

    hot_params(&p, 0);
    start(f, 2, 2, &p, 200000);
    assert_true(run_until_stats(f, processed_past, &zero, &st, 20000));
    assert_int_equal(mig_src_set_downtime_limit(f->src, 0, &err), -EINVAL);
    assert_int_equal(mig_src_set_downtime_limit(f->src, 2000, &err), 0);
    assert_true(run_until(f, &f->es.done, 30000));
    assert_int_equal(f->es.report.result, MIG_RESULT_COMPLETED);
    assert_int_equal(f->es.report.rounds, 2);    /* Round 1, final. */
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_memory_equal(guestmem_data(f->gs), guestmem_data(f->gd),
                        2 * MiB);
}

/* Forced, the same guest switches over at round 1's end, without
 * auto-converge, whatever is dirty. */
static void
force_complete_switches_over_without_converging(void **state)
{
    struct fx *f = *state;
    struct mig_params p;
    struct mig_stats st;
    struct fx_err err;
    uint64_t zero = 0;

    hot_params(&p, 0);
    start(f, 2, 2, &p, 200000);
    assert_true(run_until_stats(f, processed_past, &zero, &st, 20000));
    assert_int_equal(mig_src_force_complete(f->src, &err), 0);
    assert_true(run_until(f, &f->es.done, 30000));
    assert_int_equal(f->es.report.result, MIG_RESULT_COMPLETED);
    assert_int_equal(f->es.report.rounds, 2);
    assert_int_equal(f->es.report.throttle_pct, 0);
    /* Nearly all of memory went again while the guest was stopped. */
    assert_true(f->first.bytes_remaining > MiB);
    assert_true(f->es.report.final_bytes >= f->first.bytes_remaining);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_memory_equal(guestmem_data(f->gs), guestmem_data(f->gd),
                        2 * MiB);
}

static void
guestmem_tracks_dirty_pages(void **state)
{
    struct fx *f = *state;
    uint64_t bm[1] = { 0 };
    struct fx_err err;

    assert_int_equal(guestmem_create(f->base, 3 * MiB + 1, &f->gs, &err),
                     -EINVAL);
    assert_int_equal(guestmem_create(f->base, 64 * 4096, &f->gs, &err), 0);
    guestmem_mark_dirty(f->gs, 4095, 2);          /* Pages 0 and 1. */
    guestmem_mark_dirty(f->gs, 10 * 4096, 4096);  /* Page 10 only. */
    guestmem_mark_dirty(f->gs, 64 * 4096, 9);     /* Beyond: ignored. */
    assert_int_equal(guestmem_dirty_count(f->gs), 3);
    assert_int_equal(guestmem_dirty_sync(f->gs, bm), 3);
    assert_int_equal(bm[0], (1ull << 0) | (1ull << 1) | (1ull << 10));
    assert_int_equal(guestmem_dirty_count(f->gs), 0);
    assert_int_equal(guestmem_write(f->gs, 63 * 4096, "x", 1), 0);
    assert_int_equal(guestmem_write(f->gs, 64 * 4096, "x", 1), -ERANGE);
    assert_int_equal(guestmem_dirty_count(f->gs), 1);
    /* Page 63 dirty again, pages 0, 1 and 10 still to send: 4, once
     * each. */
    assert_int_equal(guestmem_dirty_union(f->gs, bm), 4);
    guestmem_write(f->gs, 0, "y", 1);
    assert_int_equal(guestmem_dirty_union(f->gs, bm), 4);
    guestmem_set_throttle(f->gs, 150);
    assert_int_equal(guestmem_throttle(f->gs), 99);
}

static int
writer_wrote(void *arg)
{
    return guestmem_writer_count(arg) >= 100;
}

static void
guestmem_writer_dirties_only_while_running(void **state)
{
    struct fx *f = *state;
    struct fx_err err;
    int never = 0;

    assert_int_equal(guestmem_create(f->base, 64 * 4096, &f->gs, &err), 0);
    guestmem_writer_set(f->gs, 20000, 1);
    while (!writer_wrote(f->gs)) {
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    assert_true(guestmem_dirty_count(f->gs) > 0);
    guestmem_set_running(f->gs, 0);
    uint64_t n = guestmem_writer_count(f->gs);
    run_until(f, &never, 30);
    assert_int_equal(guestmem_writer_count(f->gs), n);
    guestmem_writer_set(f->gs, 0, 0);
}

/* Runs the client end of the handshake as 'role' with 'key' on 'fd'
 * while the destination, in this thread, runs on the loop.  Returns
 * auth_step's final result. */
static int
peer_handshake(struct fx *f, int fd, const struct auth_key *key,
               enum auth_role role)
{
    struct auth_ident me = { role, "h9" };
    struct auth *a = auth_client_new(key, &me);
    uint8_t in[AUTH_MSG_MAX], out[AUTH_MSG_MAX];
    size_t have = 0, used, outlen;
    uint64_t end = fx_time_now_ms() + 20000;
    struct fx_err err;
    int rc = 0;

    while (rc == 0 && fx_time_now_ms() < end) {
        ssize_t n;

        rc = auth_step(a, in, have, &used, out, &outlen, &err);
        memmove(in, in + used, have - used);
        have -= used;
        if (outlen) {
            assert_int_equal(send(fd, out, outlen, MSG_NOSIGNAL),
                             (ssize_t) outlen);
            continue;
        }
        n = recv(fd, in + have, sizeof in - have, MSG_DONTWAIT);
        if (n > 0) {
            have += (size_t) n;
        } else if (n == 0) {
            rc = -EPIPE;
        } else {
            struct timeval tick = { 0, 100000 };

            event_base_loopexit(f->base, &tick);
            event_base_loop(f->base, EVLOOP_ONCE);
        }
    }
    auth_destroy(a);
    return rc;
}

/* Connects a plain socket to the destination, proves the (empty) secret
 * as a peer and sends HELLO of stream version 'version' for a 2 MiB
 * guest; returns the socket. */
static int
connect_dst(struct fx *f)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_port = htons(mig_dst_port(f->dst));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    return fd;
}

static int
raw_peer_version(struct fx *f, uint32_t version)
{
    struct auth_key none;
    struct mig_wire_hello hello = { version, 4096, 512, 0 };
    uint8_t buf[MIG_WIRE_HDR_SIZE + MIG_WIRE_HELLO_SIZE];
    struct mig_wire_hdr h = { MIG_WIRE_HELLO, MIG_WIRE_HELLO_SIZE, 0, 0 };
    int fd;

    start_dst(f, 2);
    fd = connect_dst(f);
    auth_key_none(&none);
    assert_int_equal(peer_handshake(f, fd, &none, AUTH_ROLE_PEER), 1);
    mig_wire_hello_encode(buf + MIG_WIRE_HDR_SIZE, &hello);
    h.sum = mig_wire_sum(buf + MIG_WIRE_HDR_SIZE, MIG_WIRE_HELLO_SIZE);
    mig_wire_encode(buf, &h);
    assert_int_equal(write(fd, buf, sizeof buf), sizeof buf);
    return fd;
}

/* The page stream is the lab's too: a destination with a secret reads
 * nothing from a connection that does not prove it as a peer, refuses
 * it without failing the migration, and takes the real source after. */
static void
destination_reads_pages_only_from_a_proven_peer(void **state)
{
    struct fx *f = *state;
    char dir[] = "/tmp/fexsim-migsecret-XXXXXX", path[64];
    struct auth_key key, none, other;
    struct fx_err err;
    struct mig_params p;
    int fd;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/secret", dir);
    assert_int_equal(auth_key_create(path, &err), 0);
    assert_int_equal(auth_key_load(path, &key, &err), 0);
    unlink(path);
    assert_int_equal(auth_key_create(path, &err), 0);
    assert_int_equal(auth_key_load(path, &other, &err), 0);
    unlink(path);
    rmdir(dir);
    auth_key_none(&none);
    f->key = &key;
    start_dst(f, 4);

    /* No secret, another secret, the right one in an operator's role. */
    fd = connect_dst(f);
    assert_true(peer_handshake(f, fd, &none, AUTH_ROLE_PEER) < 0);
    close(fd);
    assert_int_equal(f->refused, 1);
    assert_non_null(strstr(f->refused_why, "wrong lab secret"));
    fd = connect_dst(f);
    assert_true(peer_handshake(f, fd, &other, AUTH_ROLE_PEER) < 0);
    close(fd);
    fd = connect_dst(f);
    assert_true(peer_handshake(f, fd, &key, AUTH_ROLE_OPERATOR) < 0);
    close(fd);
    /* And one that connects and leaves without a word. */
    fd = connect_dst(f);
    close(fd);
    {
        uint64_t end = fx_time_now_ms() + 20000;

        while (f->refused < 4 && fx_time_now_ms() < end) {
            int never = 0;

            run_until(f, &never, 100);
        }
    }
    assert_int_equal(f->refused, 4);
    assert_non_null(strstr(f->refused_why, "page stream"));
    assert_int_equal(f->ed.done, 0);

    /* The real source still gets through, byte for byte. */
    mig_params_init(&p);
    start_src(f, 4, &p, 1000);
    assert_true(run_until(f, &f->es.done, 20000));
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_int_equal(f->es.report.result, MIG_RESULT_COMPLETED);
    assert_int_equal(f->ed.report.result, MIG_RESULT_COMPLETED);
    assert_memory_equal(guestmem_data(f->gs), guestmem_data(f->gd),
                        4 * MiB);
    assert_int_equal(f->refused, 4);
}

static int
raw_peer(struct fx *f)
{
    return raw_peer_version(f, MIG_WIRE_VERSION);
}

/* Version 1 had no STOP record: such a source is refused at HELLO. */
static void
destination_refuses_another_stream_version(void **state)
{
    struct fx *f = *state;
    int fd = raw_peer_version(f, MIG_WIRE_VERSION - 1);

    assert_true(run_until(f, &f->ed.done, 20000));
    assert_non_null(strstr(f->ed.err.msg, "source has version 1"));
    close(fd);
}

static void
destination_rejects_a_corrupted_page_record(void **state)
{
    struct fx *f = *state;
    static uint8_t rec[MIG_WIRE_HDR_SIZE + MIG_WIRE_PAGES_LEN(1)];
    uint8_t *pay = rec + MIG_WIRE_HDR_SIZE;
    struct mig_wire_hdr h = { MIG_WIRE_PAGES, MIG_WIRE_PAGES_LEN(1), 1, 0 };
    int fd = raw_peer(f);

    mig_wire_put64(pay, 3);
    memset(pay + MIG_WIRE_IDX_SIZE(1), 0xab, 4096);
    h.sum = mig_wire_sum(pay, h.length);
    pay[MIG_WIRE_IDX_SIZE(1) + 100] ^= 1;       /* One bit flipped. */
    mig_wire_encode(rec, &h);
    assert_int_equal(write(fd, rec, sizeof rec), sizeof rec);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_int_equal(f->ed.report.result, MIG_RESULT_FAILED);
    assert_non_null(strstr(f->ed.err.msg, "checksum mismatch"));
    close(fd);
}

static void
destination_rejects_garbage_and_out_of_range_pages(void **state)
{
    struct fx *f = *state;
    static uint8_t rec[MIG_WIRE_HDR_SIZE + MIG_WIRE_PAGES_LEN(1)];
    uint8_t *pay = rec + MIG_WIRE_HDR_SIZE;
    struct mig_wire_hdr h = { MIG_WIRE_PAGES, MIG_WIRE_PAGES_LEN(1), 1, 0 };
    int fd = raw_peer(f);

    mig_wire_put64(pay, 512);                   /* One past the end. */
    h.sum = mig_wire_sum(pay, h.length);
    mig_wire_encode(rec, &h);
    assert_int_equal(write(fd, rec, sizeof rec), sizeof rec);
    assert_true(run_until(f, &f->ed.done, 20000));
    assert_non_null(strstr(f->ed.err.msg, "page 512 beyond 512"));
    close(fd);

    /* And a stream that is not ours at all. */
    struct fx_err err;
    uint8_t junk[MIG_WIRE_HDR_SIZE] = "GET / HTTP/1.0\r\n\r\n";
    struct mig_wire_hdr out;

    assert_int_equal(mig_wire_decode(junk, &out, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "bad magic"));
    h.type = MIG_WIRE_DEVICE;
    h.length = MIG_WIRE_MAX_LEN + 1;
    mig_wire_encode(rec, &h);
    assert_int_equal(mig_wire_decode(rec, &out, &err), -EMSGSIZE);

    /* STOP, the last type, carries nothing; the next type is unknown. */
    h = (struct mig_wire_hdr) { MIG_WIRE_STOP, 0, 0, 0 };
    mig_wire_encode(rec, &h);
    assert_int_equal(mig_wire_decode(rec, &out, &err), 0);
    assert_int_equal(out.type, MIG_WIRE_STOP);
    h.length = 1;
    mig_wire_encode(rec, &h);
    assert_int_equal(mig_wire_decode(rec, &out, &err), -EMSGSIZE);
    h = (struct mig_wire_hdr) { MIG_WIRE_TYPE_MAX + 1, 0, 0, 0 };
    mig_wire_encode(rec, &h);
    assert_int_equal(mig_wire_decode(rec, &out, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "unknown record type 9"));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(migrates_memory_byte_for_byte_with_writer_running),
        T(destination_refuses_another_stream_version),
        T(destination_reads_pages_only_from_a_proven_peer),
        T(converges_quickly_with_low_dirty_rate),
        T(auto_converge_throttles_then_converges),
        T(fails_with_the_reason_without_auto_converge),
        T(source_rolls_back_when_the_peer_dies),
        T(cancel_rolls_back_both_ends),
        T(destination_cancel_discards_and_source_rolls_back),
        T(times_out_and_rolls_back),
        T(stats_advance_during_round_one),
        T(max_bandwidth_changes_while_running),
        T(raising_the_downtime_limit_lets_it_converge),
        T(force_complete_switches_over_without_converging),
        T(destination_refuses_a_guest_of_another_size),
        T(failed_restore_discards_and_source_resumes),
        T(destination_rejects_a_corrupted_page_record),
        T(destination_rejects_garbage_and_out_of_range_pages),
        T(guestmem_tracks_dirty_pages),
        T(guestmem_writer_dirties_only_while_running),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
