/* Integration: a running migration's job statistics and controls, through
 * fexctl in a lab of two hosts.  While the source copies, 'migrate show'
 * gives figures of the round under way (processed bytes rise during round
 * 1); 'migrate set-params' lowers and raises the bandwidth and the
 * downtime limit of the running job; 'migrate force-complete' ends a
 * migration that would not converge; 'migrate cancel' answers with the
 * final state; finished migrations, with their statistics, are listed
 * again after fabricd restarts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "harness.h"

#define WAIT_MS 30000
#define MiB (1024 * 1024)

static char *lab_dir;

#define FX(rc, want, ...) \
    th_fexctl_check(lab_dir, __LINE__, rc, want, __VA_ARGS__, NULL)

static int
lab_setup(void **state)
{
    (void) state;
    lab_dir = th_mkdtemp("jobstats");
    if (th_lab_up(lab_dir, 2, "--vnics", "8", NULL)) {
        return -1;
    }
    for (int i = 1; i <= 2; i++) {
        char h[8];

        snprintf(h, sizeof h, "h%d", i);
        if (th_fexctl(NULL, NULL, "--lab", lab_dir, "host", "passthrough", h,
                      "--enable", "0000:0b:00.0", NULL)
            || th_fexctl(NULL, NULL, "--lab", lab_dir, "host", "reboot", h,
                         NULL)) {
            return -1;
        }
    }
    return th_fexctl(NULL, NULL, "--lab", lab_dir, "profile", "create", "hp",
                     "--vlan", "10", "--high-performance", NULL);
}

static int
lab_teardown(void **state)
{
    int clean;

    (void) state;
    th_lab_down(lab_dir);
    clean = th_logs_clean(lab_dir);
    th_rmrf(lab_dir);
    free(lab_dir);
    return clean ? 0 : -1;
}

/* 'migrate show VM --json': the VM's latest migration (the caller puts
 * it), or NULL. */
static struct json_object *
show(const char *vm)
{
    return th_fexctl_json(lab_dir, "migrate", "show", vm, NULL);
}

static int64_t
stat_of(struct json_object *m, const char *key)
{
    struct json_object *st = NULL;

    assert_true(json_object_object_get_ex(m, "stats", &st));
    return th_jint(st, key);
}

/* The latest migration of VM 'vm' is in state 'state'. */
struct want {
    const char *vm;
    const char *state;
    int64_t past;              /* Processed bytes beyond this. */
    int64_t bw_max;            /* Bandwidth at most this (0: any). */
    int64_t bw_min;            /* Bandwidth at least this. */
    int64_t processed;         /* Out: the figure seen. */
};

static int
state_is(void *arg)
{
    struct want *w = arg;
    struct json_object *m = show(w->vm);
    int ok = m && !strcmp(th_jstr(m, "state"), w->state);

    json_object_put(m);
    return ok;
}

/* Still copying round 1, past 'w->past' bytes processed. */
static int
round1_past(void *arg)
{
    struct want *w = arg;
    struct json_object *m = show(w->vm);
    int ok = 0;

    if (m && !strcmp(th_jstr(m, "state"), "active")
        && !strcmp(th_jstr(m, "phase"), "perform")) {
        w->processed = stat_of(m, "data_processed_bytes");
        ok = stat_of(m, "iteration") == 1 && w->processed > w->past
             && stat_of(m, "data_remaining_bytes") > 0
             && (!w->bw_max
                 || stat_of(m, "bandwidth_bytes_per_s") <= w->bw_max)
             && stat_of(m, "bandwidth_bytes_per_s") >= w->bw_min;
    }
    json_object_put(m);
    return ok;
}

static void
vm_up(const char *name, const char *mib)
{
    FX(0, NULL, "vm", "create", name, "--host", "h1", "--memory", mib,
       "--nic", "hp,directpath");
    FX(0, NULL, "vm", "start", name);
}

static void
vm_down(const char *name)
{
    FX(0, NULL, "vm", "stop", name);
    FX(0, NULL, "vm", "delete", name);
}

/* A 64 MiB guest at 2 MiB/s: round 1 lasts half a minute, and while it
 * runs 'migrate show' gives its figures, rising.  Raised to unlimited,
 * the same migration ends at once. */
static void
statistics_are_live_during_round_one(void **state)
{
    struct want w = { "s", "active", 0, 0, 0, 0 };
    struct want done = { "s", "completed", 0, 0, 0, 0 };
    struct json_object *m;

    (void) state;
    vm_up("s", "64");
    FX(0, "started", "migrate", "s", "--to", "h2", "--no-wait",
       "--max-bandwidth", "2");
    assert_true(th_wait(round1_past, &w, WAIT_MS));
    w.past = w.processed;
    assert_true(th_wait(round1_past, &w, WAIT_MS));
    assert_true(w.processed > w.past);
    m = show("s");
    assert_int_equal(stat_of(m, "data_total_bytes"), 64 * MiB);
    assert_int_equal(th_jint(m, "max_bandwidth"), 2 * MiB);
    json_object_put(m);
    FX(0, "iteration", "migrate", "show", "s");
    FX(0, "perform", "migrate", "list");
    /* Not a number the engine takes, nor a job that runs. */
    FX(2, "--max-bandwidth", "migrate", "set-params", "s",
       "--max-bandwidth", "x");
    FX(2, "give --max-bandwidth", "migrate", "set-params", "s");
    FX(1, "no migration", "migrate", "set-params", "nope",
       "--max-bandwidth", "1");
    FX(0, "unlimited", "migrate", "set-params", "s", "--max-bandwidth", "0");
    assert_true(th_wait(state_is, &done, WAIT_MS));
    m = show("s");
    assert_int_equal(th_jint(m, "max_bandwidth"), 0);
    assert_true(stat_of(m, "data_processed_bytes") >= 64 * MiB);
    assert_int_equal(stat_of(m, "data_remaining_bytes"), 0);
    assert_true(stat_of(m, "iteration") >= 2);
    json_object_put(m);
    FX(1, "not copying", "migrate", "set-params", "s", "--max-bandwidth",
       "1");
    FX(1, "not copying", "migrate", "force-complete", "s");
}

/* Lowered from 16 to 1 MiB/s while it copies, the page stream slows to
 * the new limit: the bandwidth the statistics give falls to it. */
static void
a_lowered_bandwidth_slows_it(void **state)
{
    struct want fast = { "s", "active", 0, 0, 4 * MiB, 0 };
    struct want slow = { "s", "active", 0, 2 * MiB, 0, 0 };
    struct want done = { "s", "completed", 0, 0, 0, 0 };
    struct json_object *m;

    (void) state;
    FX(0, "started", "migrate", "s", "--to", "h1", "--no-wait",
       "--max-bandwidth", "16");
    /* Running at more than 4 MiB/s. */
    assert_true(th_wait(round1_past, &fast, WAIT_MS));
    FX(0, "1.0 MiB/s", "migrate", "set-params", "s", "--max-bandwidth", "1",
       "--downtime-limit", "500");
    m = show("s");
    assert_int_equal(th_jint(m, "max_bandwidth"), MiB);
    assert_int_equal(th_jint(m, "downtime_limit_ms"), 500);
    json_object_put(m);
    /* Two readings in a row at the new pace (a token bucket's burst
     * aside). */
    assert_true(th_wait(round1_past, &slow, WAIT_MS));
    slow.past = slow.processed;
    assert_true(th_wait(round1_past, &slow, WAIT_MS));
    FX(0, NULL, "migrate", "set-params", "s", "--max-bandwidth", "0");
    assert_true(th_wait(state_is, &done, WAIT_MS));
    vm_down("s");
}

/* A guest that dirties 32 MiB/s against a 4 MiB/s stream does not
 * converge (test_migrate_lab: it fails); forced, it switches over at
 * round 1's end. */
static void
a_forced_completion_ends_a_migration_that_would_not_converge(void **state)
{
    struct want w = { "h", "active", 0, 0, 0, 0 };
    struct want done = { "h", "completed", 0, 0, 0, 0 };
    struct json_object *m;

    (void) state;
    vm_up("h", "16");
    FX(0, "started", "migrate", "h", "--to", "h2", "--no-wait",
       "--max-bandwidth", "4", "--dirty-rate", "8000",
       "--no-auto-converge");
    assert_true(th_wait(round1_past, &w, WAIT_MS));
    FX(0, "migration", "migrate", "force-complete", "h");
    assert_true(th_wait(state_is, &done, WAIT_MS));
    m = show("h");
    assert_int_equal(stat_of(m, "iteration"), 2);   /* Round 1, final. */
    assert_int_equal(stat_of(m, "throttle_pct"), 0);
    json_object_put(m);
    vm_down("h");
}

/* 'fexctl events --progress' gets the live ticks of VM 'vm''s running
 * migration: numbered 0, its statistics rising. */
static void
progress_ticks_of(const char *vm)
{
    char *out = NULL, *line, *save;
    int64_t last = -1;
    int n = 0;

    assert_int_equal(th_fexctl(&out, NULL, "--lab", lab_dir, "--json",
                               "events", "--progress", "--count", "3", NULL),
                     0);
    for (line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        struct json_object *e = json_tokener_parse(line);

        assert_non_null(e);
        assert_string_equal(th_jstr(e, "type"), "migration-progress");
        assert_int_equal(th_jint(e, "seq"), 0);
        assert_string_equal(th_jstr(e, "vm"), vm);
        assert_true(stat_of(e, "data_processed_bytes") >= last);
        last = stat_of(e, "data_processed_bytes");
        json_object_put(e);
        n++;
    }
    free(out);
    assert_int_equal(n, 3);
}

/* Cancel answers once the rollback is over: the VM runs on its source
 * when it returns. */
static void
cancel_answers_with_the_final_state(void **state)
{
    struct want w = { "c", "active", 0, 0, 0, 0 };
    struct json_object *doc;

    (void) state;
    vm_up("c", "64");
    FX(0, "started", "migrate", "c", "--to", "h2", "--no-wait",
       "--max-bandwidth", "2");
    assert_true(th_wait(round1_past, &w, WAIT_MS));
    progress_ticks_of("c");
    doc = th_fexctl_json(lab_dir, "migrate", "cancel", "c", NULL);
    assert_non_null(doc);
    assert_string_equal(th_jstr(doc, "state"), "cancelled");
    assert_non_null(strstr(th_jstr(doc, "error"), "cancel"));
    json_object_put(doc);
    doc = th_fexctl_json(lab_dir, "vm", "list", NULL);
    assert_non_null(doc);
    assert_int_equal(json_object_array_length(th_jarr(doc, "vms")), 1);
    assert_string_equal(th_jstr(json_object_array_get_idx(
                            th_jarr(doc, "vms"), 0), "host"), "h1");
    assert_string_equal(th_jstr(json_object_array_get_idx(
                            th_jarr(doc, "vms"), 0), "state"), "running");
    json_object_put(doc);
    FX(1, "too late", "migrate", "cancel", "c");
    FX(1, "no migration", "migrate", "cancel", "nope");
    vm_down("c");
}

/* Piped, 'fexctl migrate' prints plain lines from the event stream as it
 * goes: the phases, progress lines of round 1, then the report; with
 * --json one document. */
static void
migrate_prints_progress_lines_when_piped(void **state)
{
    char *out = NULL, *p;
    struct json_object *doc;

    (void) state;
    vm_up("p", "16");
    assert_int_equal(th_fexctl(&out, NULL, "--lab", lab_dir, "migrate", "p",
                               "--to", "h2", "--max-bandwidth", "8", NULL),
                     0);
    assert_non_null(out);
    assert_non_null(p = strstr(out, "phase perform\n"));
    assert_non_null(p = strstr(p, "round 1: "));
    assert_non_null(strstr(p, "MiB/s"));
    assert_non_null(p = strstr(p, "phase finish\n"));
    assert_non_null(strstr(p, ": completed\n"));
    /* No terminal: no carriage return. */
    assert_null(strchr(out, '\r'));
    free(out);
    out = NULL;
    assert_int_equal(th_fexctl(&out, NULL, "--lab", lab_dir, "--json",
                               "migrate", "p", "--to", "h1",
                               "--max-bandwidth", "8", NULL), 0);
    doc = json_tokener_parse(out);
    assert_non_null(doc);
    assert_string_equal(th_jstr(doc, "state"), "completed");
    json_object_put(doc);
    free(out);
    vm_down("p");
}

/* "ID STATE ITERATION PROCESSED DOWNTIME_US ELAPSED;" per migration
 * listed, into 'buf'. */
static void
history(char *buf, size_t size, int64_t *max_id)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "migrate", "list",
                                             NULL);
    size_t off = 0;

    assert_non_null(doc);
    buf[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(doc); i++) {
        struct json_object *m = json_object_array_get_idx(doc, i);

        *max_id = th_jint(m, "id") > *max_id ? th_jint(m, "id") : *max_id;
        off += (size_t) snprintf(buf + off, size - off, "%lld %s %lld %lld "
                                 "%lld %lld;", (long long) th_jint(m, "id"),
                                 th_jstr(m, "state"),
                                 (long long) stat_of(m, "iteration"),
                                 (long long) stat_of(m,
                                                     "data_processed_bytes"),
                                 (long long) stat_of(m, "downtime_us"),
                                 (long long) stat_of(m, "time_elapsed_ms"));
    }
    json_object_put(doc);
}

/* Every migration above is over; fabricd killed and started again lists
 * them all, with the same final figures, VMs deleted meanwhile too. */
static void
finished_migrations_are_listed_after_a_restart(void **state)
{
    char before[4096], after[4096];
    int64_t max_id = 0, max_after = 0;
    struct th_daemon d;
    struct json_object *doc;

    (void) state;
    history(before, sizeof before, &max_id);
    assert_non_null(strstr(before, "completed"));
    assert_non_null(strstr(before, "cancelled"));
    th_daemon_read(lab_dir, "fabricd.pid", &d);
    th_daemon_kill9(lab_dir, &d);
    th_daemon_respawn(lab_dir, &d, NULL);
    assert_true(th_wait_hosts_up(lab_dir, 2, WAIT_MS));
    history(after, sizeof after, &max_after);
    assert_string_equal(after, before);
    FX(0, "cancelled", "migrate", "list");
    FX(0, "iteration", "migrate", "show", "1");
    /* A new job is numbered past them. */
    vm_up("n", "16");
    doc = th_fexctl_json(lab_dir, "migrate", "n", "--to", "h2",
                         "--max-bandwidth", "0", NULL);
    assert_non_null(doc);
    assert_string_equal(th_jstr(doc, "state"), "completed");
    assert_true(th_jint(doc, "id") > max_id);
    json_object_put(doc);
    vm_down("n");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(statistics_are_live_during_round_one),
        cmocka_unit_test(a_lowered_bandwidth_slows_it),
        cmocka_unit_test(
            a_forced_completion_ends_a_migration_that_would_not_converge),
        cmocka_unit_test(cancel_answers_with_the_final_state),
        cmocka_unit_test(migrate_prints_progress_lines_when_piped),
        cmocka_unit_test(finished_migrations_are_listed_after_a_restart),
    };

    return cmocka_run_group_tests(tests, lab_setup, lab_teardown);
}
