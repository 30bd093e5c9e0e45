/* Unit tests of the two state tables: VFIO migration v2 device states
 * (vfio_mig) and the job phases (mig). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fx_err.h"
#include "mig.h"
#include "vfio_mig.h"

#define S(x) VFIO_MIG_##x

/* Every arc vfio.h defines for a device with P2P and PRE_COPY. */
static const struct { enum vfio_mig_state from, to; } arcs[] = {
    { S(RUNNING_P2P), S(STOP) },      { S(STOP_COPY), S(STOP) },
    { S(RESUMING), S(STOP) },         { S(PRE_COPY), S(RUNNING) },
    { S(RUNNING_P2P), S(RUNNING) },   { S(PRE_COPY_P2P), S(RUNNING_P2P) },
    { S(RUNNING), S(RUNNING_P2P) },   { S(STOP), S(RUNNING_P2P) },
    { S(RUNNING), S(PRE_COPY) },      { S(RUNNING_P2P), S(PRE_COPY_P2P) },
    { S(STOP), S(STOP_COPY) },        { S(PRE_COPY), S(PRE_COPY_P2P) },
    { S(PRE_COPY_P2P), S(PRE_COPY) }, { S(PRE_COPY_P2P), S(STOP_COPY) },
    { S(STOP), S(RESUMING) },
};
#define N_ARCS (sizeof arcs / sizeof arcs[0])

static int
in_arcs(enum vfio_mig_state from, enum vfio_mig_state to)
{
    for (size_t i = 0; i < N_ARCS; i++) {
        if (arcs[i].from == from && arcs[i].to == to) {
            return 1;
        }
    }
    return 0;
}

/* Puts 'dev' in 'state' whatever the arcs, for the test's setup. */
static void
force(struct vfio_mig *dev, enum vfio_mig_state state)
{
    dev->state = state;
}

static void
vfio_every_defined_arc_is_one_step(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_ARCS; i++) {
        struct vfio_mig dev;

        vfio_mig_init(&dev, "vnic0", VFIO_MIGRATION_ALL);
        force(&dev, arcs[i].from);
        assert_true(vfio_mig_is_arc(arcs[i].from, arcs[i].to,
                                    VFIO_MIGRATION_ALL));
        assert_int_equal(vfio_mig_set_state(&dev, arcs[i].to, NULL), 0);
        assert_int_equal(dev.state, arcs[i].to);
        assert_int_equal(vfio_mig_log_count(&dev), 1);
        assert_int_equal(vfio_mig_log_get(&dev, 0)->from, arcs[i].from);
        assert_int_equal(vfio_mig_log_get(&dev, 0)->to, arcs[i].to);
    }
}

static void
vfio_no_other_pair_is_an_arc(void **state)
{
    (void) state;
    for (int f = 0; f < VFIO_MIG_N_STATES; f++) {
        for (int t = 0; t < VFIO_MIG_N_STATES; t++) {
            assert_int_equal(vfio_mig_is_arc(f, t, VFIO_MIGRATION_ALL),
                             in_arcs(f, t));
        }
    }
}

static void
vfio_refuses_stop_copy_to_pre_copy(void **state)
{
    struct vfio_mig dev;
    struct fx_err err;

    (void) state;
    vfio_mig_init(&dev, "vnic0", VFIO_MIGRATION_ALL);
    force(&dev, S(STOP_COPY));
    assert_int_equal(vfio_mig_set_state(&dev, S(PRE_COPY), &err), -EPROTO);
    assert_non_null(strstr(err.msg, "STOP_COPY->PRE_COPY is forbidden"));
    assert_int_equal(vfio_mig_set_state(&dev, S(PRE_COPY_P2P), &err),
                     -EPROTO);
    assert_int_equal(dev.state, S(STOP_COPY));
    assert_int_equal(vfio_mig_log_count(&dev), 0);
}

static void
vfio_refuses_error_and_needs_reset_to_leave_it(void **state)
{
    struct vfio_mig dev;
    struct fx_err err;

    (void) state;
    vfio_mig_init(&dev, "vnic0", VFIO_MIGRATION_ALL);
    assert_int_equal(vfio_mig_set_state(&dev, S(ERROR), &err), -EPROTO);
    assert_int_equal(dev.state, S(RUNNING));
    vfio_mig_set_error(&dev);
    assert_int_equal(vfio_mig_set_state(&dev, S(RUNNING), &err), -EPROTO);
    assert_non_null(strstr(err.msg, "reset"));
    vfio_mig_reset(&dev);
    assert_int_equal(dev.state, S(RUNNING));
}

/* The shortest combinations, as the kernel's vfio_mig_get_next_state()
 * takes them and as QEMU relies on. */
static const struct {
    enum vfio_mig_state from, to;
    size_t n;
    enum vfio_mig_state path[4];
} paths[] = {
    /* Source switchover, and its failure back to RUNNING. */
    { S(PRE_COPY), S(STOP_COPY), 2, { S(PRE_COPY_P2P), S(STOP_COPY) } },
    { S(STOP_COPY), S(RUNNING), 3,
      { S(STOP), S(RUNNING_P2P), S(RUNNING) } },
    { S(PRE_COPY_P2P), S(RUNNING), 2, { S(RUNNING_P2P), S(RUNNING) } },
    /* Destination: fresh device to RESUMING, then RESUMING to RUNNING. */
    { S(RUNNING), S(RESUMING), 3,
      { S(RUNNING_P2P), S(STOP), S(RESUMING) } },
    { S(RESUMING), S(RUNNING), 3,
      { S(STOP), S(RUNNING_P2P), S(RUNNING) } },
    { S(RUNNING), S(STOP_COPY), 3,
      { S(RUNNING_P2P), S(STOP), S(STOP_COPY) } },
    /* Never through RESUMING, nor out of and back into the saving
     * group. */
    { S(RUNNING), S(PRE_COPY_P2P), 2, { S(RUNNING_P2P), S(PRE_COPY_P2P) } },
    { S(STOP_COPY), S(RESUMING), 2, { S(STOP), S(RESUMING) } },
    { S(RESUMING), S(PRE_COPY), 4,
      { S(STOP), S(RUNNING_P2P), S(RUNNING), S(PRE_COPY) } },
};

static void
vfio_composes_shortest_paths(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        enum vfio_mig_state got[VFIO_MIG_N_STATES];
        struct vfio_mig dev;
        size_t n;

        assert_int_equal(vfio_mig_plan(paths[i].from, paths[i].to,
                                       VFIO_MIGRATION_ALL, got, &n, NULL),
                         0);
        assert_int_equal(n, paths[i].n);
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(got[k], paths[i].path[k]);
            assert_false(k + 1 < n && got[k] == S(RESUMING));
            assert_false(k + 1 < n && vfio_mig_is_saving(got[k])
                         && !vfio_mig_is_saving(paths[i].from));
        }
        vfio_mig_init(&dev, "vnic0", VFIO_MIGRATION_ALL);
        force(&dev, paths[i].from);
        assert_int_equal(vfio_mig_set_state(&dev, paths[i].to, NULL), 0);
        assert_int_equal(vfio_mig_log_count(&dev), n);
        assert_int_equal(vfio_mig_log_get(&dev, n - 1)->to, paths[i].to);
    }
}

static void
vfio_without_p2p_uses_the_direct_arcs(void **state)
{
    enum vfio_mig_state got[VFIO_MIG_N_STATES];
    uint32_t fl = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY;
    struct fx_err err;
    size_t n;

    (void) state;
    assert_int_equal(vfio_mig_plan(S(PRE_COPY), S(STOP_COPY), fl, got, &n,
                                   NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(vfio_mig_plan(S(RUNNING), S(RUNNING_P2P), fl, got, &n,
                                   &err), -EPROTO);
    assert_int_equal(vfio_mig_plan(S(RUNNING), S(PRE_COPY),
                                   VFIO_MIGRATION_STOP_COPY, got, &n, &err),
                     -EPROTO);
}

/* Job phases: every row of the table, and everything else refused. */
struct row { enum mig_role role; enum mig_state from; enum mig_event ev;
             enum mig_state to; };
#define SRC MIG_ROLE_SOURCE
#define DST MIG_ROLE_DEST
static const struct row rows[] = {
    { SRC, MIG_NONE, MIG_EV_BEGIN, MIG_BEGIN },
    { SRC, MIG_BEGIN, MIG_EV_PERFORM, MIG_PERFORM },
    { SRC, MIG_PERFORM, MIG_EV_SWITCHOVER, MIG_SWITCHOVER },
    { SRC, MIG_SWITCHOVER, MIG_EV_CONFIRM, MIG_CONFIRM },
    { SRC, MIG_CONFIRM, MIG_EV_DONE, MIG_COMPLETED },
    { DST, MIG_NONE, MIG_EV_PREPARE, MIG_PREPARE },
    { DST, MIG_PREPARE, MIG_EV_FINISH, MIG_FINISH },
    { DST, MIG_FINISH, MIG_EV_DONE, MIG_COMPLETED },
    { SRC, MIG_BEGIN, MIG_EV_CANCEL, MIG_CANCELLING },
    { SRC, MIG_PERFORM, MIG_EV_CANCEL, MIG_CANCELLING },
    { SRC, MIG_SWITCHOVER, MIG_EV_CANCEL, MIG_CANCELLING },
    { DST, MIG_PREPARE, MIG_EV_CANCEL, MIG_CANCELLING },
    { DST, MIG_FINISH, MIG_EV_CANCEL, MIG_CANCELLING },
    { SRC, MIG_CANCELLING, MIG_EV_ROLLED_BACK, MIG_CANCELLED },
    { DST, MIG_CANCELLING, MIG_EV_ROLLED_BACK, MIG_CANCELLED },
    { SRC, MIG_BEGIN, MIG_EV_ERROR, MIG_ROLLBACK },
    { SRC, MIG_PERFORM, MIG_EV_ERROR, MIG_ROLLBACK },
    { SRC, MIG_SWITCHOVER, MIG_EV_ERROR, MIG_ROLLBACK },
    { DST, MIG_PREPARE, MIG_EV_ERROR, MIG_ROLLBACK },
    { DST, MIG_FINISH, MIG_EV_ERROR, MIG_ROLLBACK },
    { SRC, MIG_CANCELLING, MIG_EV_ERROR, MIG_ROLLBACK },
    { DST, MIG_CANCELLING, MIG_EV_ERROR, MIG_ROLLBACK },
    { SRC, MIG_ROLLBACK, MIG_EV_ROLLED_BACK, MIG_FAILED },
    { DST, MIG_ROLLBACK, MIG_EV_ROLLED_BACK, MIG_FAILED },
};
#define N_ROWS (sizeof rows / sizeof rows[0])

static const struct row *
find_row(enum mig_role role, enum mig_state from, enum mig_event ev)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (rows[i].role == role && rows[i].from == from
            && rows[i].ev == ev) {
            return &rows[i];
        }
    }
    return NULL;
}

static void
mig_takes_every_row_and_logs_it(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_ROWS; i++) {
        struct mig_job job;
        char line[128];

        mig_job_init(&job, 7, rows[i].role, NULL);
        job.state = rows[i].from;
        assert_int_equal(mig_job_handle(&job, rows[i].ev, NULL, NULL), 0);
        assert_int_equal(job.state, rows[i].to);
        assert_int_equal(mig_job_log_count(&job), 1);
        assert_int_equal(mig_job_log_get(&job, 0)->event, rows[i].ev);
        assert_true(mig_job_log_get(&job, 0)->ts_us > 0);
        mig_job_log_format(&job, 0, line, sizeof line);
        assert_non_null(strstr(line, mig_state_name(rows[i].to)));
    }
}

static void
mig_refuses_every_missing_row(void **state)
{
    (void) state;
    for (int r = 0; r < 2; r++) {
        for (int s = 0; s < MIG_N_STATES; s++) {
            for (int e = 0; e < MIG_N_EVENTS; e++) {
                struct mig_job job;
                struct fx_err err;

                if (find_row(r, s, e)) {
                    continue;
                }
                mig_job_init(&job, 1, r, NULL);
                job.state = s;
                assert_int_equal(mig_job_handle(&job, e, NULL, &err),
                                 -EPROTO);
                assert_int_equal(job.state, s);
                assert_int_equal(mig_job_log_count(&job), 0);
                assert_non_null(strstr(err.msg, "illegal transition"));
            }
        }
    }
}

static int
refuse(struct mig_job *job, void *aux, struct fx_err *err)
{
    (void) job;
    (*(int *) aux)++;
    return fx_err_set(err, -EIO, "hook says no");
}

static void
mig_stays_put_when_the_action_fails(void **state)
{
    struct mig_hooks hooks = { .on = { [MIG_EV_BEGIN] = refuse } };
    struct mig_job job;
    struct fx_err err;
    int calls = 0;

    (void) state;
    mig_job_init(&job, 1, MIG_ROLE_SOURCE, &hooks);
    assert_int_equal(mig_job_handle(&job, MIG_EV_BEGIN, &calls, &err), -EIO);
    assert_int_equal(calls, 1);
    assert_int_equal(job.state, MIG_NONE);
    assert_int_equal(mig_job_log_count(&job), 0);
}

static void
mig_walks_the_whole_source_protocol(void **state)
{
    static const enum mig_event evs[] = {
        MIG_EV_BEGIN, MIG_EV_PERFORM, MIG_EV_SWITCHOVER, MIG_EV_CONFIRM,
        MIG_EV_DONE,
    };
    struct mig_job job;

    (void) state;
    mig_job_init(&job, 3, MIG_ROLE_SOURCE, NULL);
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        assert_int_equal(mig_job_handle(&job, evs[i], NULL, NULL), 0);
    }
    assert_int_equal(job.state, MIG_COMPLETED);
    assert_true(mig_state_is_final(job.state));
    assert_int_equal(mig_job_log_count(&job), 5);
    for (size_t i = 1; i < 5; i++) {
        assert_true(mig_job_log_get(&job, i)->ts_us
                    >= mig_job_log_get(&job, i - 1)->ts_us);
        assert_int_equal(mig_job_log_get(&job, i)->from,
                         mig_job_log_get(&job, i - 1)->to);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vfio_every_defined_arc_is_one_step),
        cmocka_unit_test(vfio_no_other_pair_is_an_arc),
        cmocka_unit_test(vfio_refuses_stop_copy_to_pre_copy),
        cmocka_unit_test(vfio_refuses_error_and_needs_reset_to_leave_it),
        cmocka_unit_test(vfio_composes_shortest_paths),
        cmocka_unit_test(vfio_without_p2p_uses_the_direct_arcs),
        cmocka_unit_test(mig_takes_every_row_and_logs_it),
        cmocka_unit_test(mig_refuses_every_missing_row),
        cmocka_unit_test(mig_stays_put_when_the_action_fails),
        cmocka_unit_test(mig_walks_the_whole_source_protocol),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
