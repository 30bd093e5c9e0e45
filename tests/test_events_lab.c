/* Events against a live lab: what `fexctl events` shows for a VM's life
 * and a migration, numbered without a gap; and a reader that resumes with
 * --since after fabricd was killed and restarted gets exactly what it
 * missed. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <event2/event.h>

#include "auth.h"
#include "events.pb-c.h"
#include "fx_err.h"
#include "fx_proc.h"
#include "harness.h"
#include "rpc.h"

#define WAIT_MS 30000

static char *dir;

#define FX(rc, want, ...) th_fexctl_check(dir, __LINE__, rc, want, \
                                          __VA_ARGS__, NULL)

/* The events after 'since', 'count' of them, as `fexctl --json events`
 * prints them: one JSON object a line (caller puts the array). */
static struct json_object *
events_after(uint64_t since, unsigned count)
{
    char s[24], n[16], *out = NULL, *line, *save;
    struct json_object *arr = json_object_new_array();

    snprintf(s, sizeof s, "%llu", (unsigned long long) since);
    snprintf(n, sizeof n, "%u", count);
    assert_int_equal(th_fexctl(&out, NULL, "--lab", dir, "--json", "events",
                               "--since", s, "--count", n, NULL), 0);
    for (line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        struct json_object *o = json_tokener_parse(line);

        assert_non_null(o);
        json_object_array_add(arr, o);
    }
    free(out);
    assert_int_equal(json_object_array_length(arr), count);
    return arr;
}

/* The newest event's number now, as a subscription from now answers. */
static uint64_t
current_seq(void)
{
    Fexsim__V1__SubscribeRequest req = FEXSIM__V1__SUBSCRIBE_REQUEST__INIT;
    ProtobufCMessage *rep;
    struct event_base *base = event_base_new();
    struct auth_key key;
    struct rpc_opts opts;
    struct rpc_conn *conn;
    struct fx_err err;
    char addr[64];
    uint64_t seq;

    req.only_new = true;
    th_lab_opts(dir, AUTH_ROLE_OPERATOR, &key, &opts);
    th_fabric_addr(dir, addr, sizeof addr);
    conn = rpc_conn_connect(base, addr, &opts, NULL, NULL, NULL, &err);
    assert_non_null(conn);
    if (rpc_call_sync(conn, "Events.Subscribe", &req.base,
                      &fexsim__v1__subscribe_reply__descriptor, 10000, &rep,
                      &err)) {
        fail_msg("Events.Subscribe: %s", err.msg);
    }
    seq = ((Fexsim__V1__SubscribeReply *) rep)->last_seq;
    protobuf_c_message_free_unpacked(rep, NULL);
    rpc_conn_destroy(conn);
    event_base_free(base);
    return seq;
}

static const char *
type_at(struct json_object *arr, size_t i)
{
    return th_jstr(json_object_array_get_idx(arr, i), "type");
}

/* Seqs in 'arr' are 'first', first + 1, ... */
static void
check_consecutive(struct json_object *arr, uint64_t first)
{
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        assert_int_equal(th_jint(json_object_array_get_idx(arr, i), "seq"),
                         (int64_t) (first + i));
    }
}

static int
setup(void **state)
{
    (void) state;
    dir = th_mkdtemp("eventslab");
    return th_lab_up(dir, 2, "--heartbeat-timeout", "1000", NULL)
           || th_fexctl(NULL, NULL, "--lab", dir, "profile", "create", "p",
                        "--vlan", "10", NULL);
}

static int
teardown(void **state)
{
    int clean;

    (void) state;
    th_lab_down(dir);
    clean = th_logs_clean(dir);
    th_rmrf(dir);
    free(dir);
    return clean ? 0 : -1;
}

/* The lab's first events: its two hosts coming up. */
static void
a_vms_life_is_told_in_order(void **state)
{
    static const char *const want[] = {
        "vm-defined", "vif-bound", "vif-bound", "vm-started", "vif-bound",
        "vm-stopped", "vif-bound", "vif-removed", "vm-undefined",
    };
    struct json_object *arr, *all;
    uint64_t base = current_seq();
    size_t n = sizeof want / sizeof *want;

    (void) state;
    /* Two host-up events opened the lab. */
    all = events_after(0, 2);
    assert_string_equal(type_at(all, 0), "host-up");
    assert_string_equal(type_at(all, 1), "host-up");
    check_consecutive(all, 1);
    json_object_put(all);

    FX(0, NULL, "vm", "create", "a", "--host", "h1", "--memory", "16",
       "--nic", "p");
    FX(0, NULL, "vm", "start", "a");
    FX(0, NULL, "vm", "stop", "a");
    FX(0, NULL, "vm", "delete", "a");
    arr = events_after(base, (unsigned) n);
    check_consecutive(arr, base + 1);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);

        assert_string_equal(type_at(arr, i), want[i]);
        assert_string_equal(th_jstr(e, "vm"), "a");
        assert_string_equal(th_jstr(e, "host"), "h1");
    }
    assert_string_equal(th_jstr(json_object_array_get_idx(arr, 4), "state"),
                        "online");
    json_object_put(arr);
}

static int
hosts_up(void *arg)
{
    (void) arg;
    return th_hosts_up(dir, 2);
}

/* fabricd killed: a reader that comes back with --since gets every event
 * after it, across the restart, once each. */
static void
a_reader_resumes_across_a_fabricd_restart(void **state)
{
    struct json_object *arr;
    pid_t pid = th_read_pid(dir, "fabricd.pid");
    int64_t n_h1 = 0, n_h2 = 0;
    uint64_t base = current_seq();

    (void) state;
    FX(0, NULL, "vm", "create", "b", "--host", "h2", "--memory", "16",
       "--nic", "p");            /* base + 1, 2, 3: defined, new, bound. */
    assert_int_equal(kill(pid, SIGKILL), 0);
    while (fx_proc_alive(pid)) {
        usleep(2000);
    }
    FX(0, "started 1 daemon", "lab", "restart", "--dir", dir);
    assert_true(th_wait(hosts_up, NULL, WAIT_MS));
    FX(0, NULL, "vm", "start", "b");
    /* From base + 2: the last one before the kill, then both hosts up
     * again, then b started and its VIF online. */
    arr = events_after(base + 2, 5);
    check_consecutive(arr, base + 3);
    assert_string_equal(type_at(arr, 0), "vif-bound");
    for (size_t i = 1; i < 3; i++) {
        const char *h = th_jstr(json_object_array_get_idx(arr, i), "host");

        assert_string_equal(type_at(arr, i), "host-up");
        n_h1 += !strcmp(h, "h1");
        n_h2 += !strcmp(h, "h2");
    }
    assert_int_equal(n_h1, 1);
    assert_int_equal(n_h2, 1);
    assert_string_equal(type_at(arr, 3), "vm-started");
    assert_string_equal(type_at(arr, 4), "vif-bound");
    json_object_put(arr);
}

/* A migration tells its phases and ends with its statistics. */
static void
a_migration_is_told_phase_by_phase(void **state)
{
    static const char *const phases[] = {
        "begin", "prepare", "perform", "finish", "confirm",
    };
    struct json_object *arr, *fin, *stats;
    size_t p = 0, n, moved = 0;
    uint64_t base;

    (void) state;
    FX(0, NULL, "vm", "create", "c", "--host", "h1", "--memory", "32",
       "--nic", "p");
    FX(0, NULL, "vm", "start", "c");
    base = current_seq();
    FX(0, "completed", "migrate", "c", "--to", "h2", "--max-bandwidth", "0");
    /* Everything since: five phases, the VIF's move, the end (and
     * whatever else happened meanwhile, which must not be between the
     * end and the phases' order). */
    arr = events_after(base, (unsigned) (current_seq() - base));
    n = json_object_array_length(arr);
    assert_true(n >= 7);
    check_consecutive(arr, base + 1);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(arr, i);

        if (!strcmp(type_at(arr, i), "migration-phase")) {
            assert_true(p < 5);
            assert_string_equal(th_jstr(e, "state"), phases[p++]);
            assert_int_equal(th_jint(e, "migration"), 1);
        }
        moved += !strcmp(type_at(arr, i), "vif-moved");
    }
    assert_int_equal(p, 5);
    assert_int_equal(moved, 1);
    fin = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(type_at(arr, i), "migration-finished")) {
            assert_null(fin);                   /* Once. */
            fin = json_object_array_get_idx(arr, i);
        }
    }
    assert_non_null(fin);
    assert_string_equal(th_jstr(fin, "type"), "migration-finished");
    assert_string_equal(th_jstr(fin, "state"), "completed");
    assert_true(json_object_object_get_ex(fin, "stats", &stats));
    assert_true(th_jint(stats, "data_processed_bytes") >= 32ll << 20);
    assert_true(th_jint(stats, "downtime_us") > 0);
    assert_true(th_jint(stats, "iteration") >= 1);
    json_object_put(arr);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_vms_life_is_told_in_order),
        cmocka_unit_test(a_reader_resumes_across_a_fabricd_restart),
        cmocka_unit_test(a_migration_is_told_phase_by_phase),
    };

    return cmocka_run_group_tests_name("events lab", tests, setup, teardown);
}
