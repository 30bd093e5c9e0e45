/* Crash matrix (issue 7): each daemon (fabricd, the source agent, the
 * destination agent) killed by its own --fault crash@PHASE at each
 * migration phase, restarted, and the migration resolved; then the VM
 * (two NICs) runs exactly once, the VIF table equals the one before with
 * its VIFs (same ids and MACs) on the host it runs on, a bystander VM is
 * untouched, each host's vNICs in use are its VIFs (none leaked), and a
 * second migration of the same VM succeeds.
 * The matrix runs twice.  begin is fabricd's alone (an agent refuses
 * crash@begin).  An agent that a phase does not visit (the source has no
 * prepare, the destination no perform) is not killed: the case then
 * checks an ordinary migration.  Then fabricd and one agent
 * die together at each phase from perform on. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "fx_err.h"
#include "fx_proc.h"
#include "harness.h"
#include "rpc.h"
#include "vmfex.pb-c.h"

#define WAIT_MS 15000
#define VNICS 4
#define ROUNDS 2

static char *lab_dir;

/* The command lines lab up used, to start each daemon again. */
static const char *const pidfiles[3] = {
    "fabricd.pid", "agentd-h1.pid", "agentd-h2.pid",
};
static struct th_daemon daemons[3];

static void
respawn(struct th_daemon *d, const char *spec)
{
    th_daemon_respawn(lab_dir, d, spec);
}

static void
kill9(struct th_daemon *d)
{
    th_daemon_kill9(lab_dir, d);
}

/* The latest migration of m, or NULL (caller puts 'doc'). */
static struct json_object *
last_migration(struct json_object **docp)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "migrate", "list",
                                             NULL);
    struct json_object *last = NULL;
    size_t n = doc && json_object_is_type(doc, json_type_array)
               ? json_object_array_length(doc) : 0;

    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(doc, i);

        if (!strcmp(th_jstr(m, "vm"), "m")) {
            last = m;
        }
    }
    *docp = doc;
    return last;
}

static int
is_final(const char *state)
{
    return !strcmp(state, "completed") || !strcmp(state, "failed")
           || !strcmp(state, "cancelled") || !strcmp(state, "resolved");
}

struct wait_arg {
    pid_t pid;
    uint32_t id;
};

/* The armed daemon died, or migration 'id' ended without it. */
static int
dead_or_final(void *arg_)
{
    struct wait_arg *arg = arg_;
    struct json_object *doc, *m;
    int done;

    if (!fx_proc_alive(arg->pid)) {
        return 1;
    }
    m = last_migration(&doc);
    done = arg->id && m && (uint32_t) th_jint(m, "id") == arg->id
           && is_final(th_jstr(m, "state"));
    json_object_put(doc);
    return done;
}

static int
resolved(void *arg)
{
    struct json_object *doc, *m;
    int done;

    if (!th_hosts_up(lab_dir, 2)) {
        return 0;
    }
    m = last_migration(&doc);
    done = m && (uint32_t) th_jint(m, "id") >= *(uint32_t *) arg
           && is_final(th_jstr(m, "state"));
    json_object_put(doc);
    return done;
}

/* The host m runs on, asserting it is listed once, running, and runs on
 * exactly one host (the agents' vNICs: see vnics_ok). */
static void
check_vm(char *host, size_t size)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "vm", "list", NULL);
    struct json_object *vms = doc ? th_jarr(doc, "vms") : NULL;
    int seen = 0;

    for (size_t i = 0; vms && i < json_object_array_length(vms); i++) {
        struct json_object *v = json_object_array_get_idx(vms, i);

        if (!strcmp(th_jstr(v, "name"), "m")) {
            seen++;
            assert_string_equal(th_jstr(v, "state"), "running");
            snprintf(host, size, "%s", th_jstr(v, "host"));
        }
    }
    json_object_put(doc);
    assert_int_equal(seen, 1);
}

static struct json_object *
vif_table(void)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "vif", "list", NULL);

    assert_non_null(doc);
    assert_non_null(th_jarr(doc, "vifs"));
    return doc;
}

/* The VIF table equals 'before' ('m' on 'from'), but with m's VIFs on
 * 'host' (same ids and MACs, online; same vNICs if it did not move):
 * no VIF lost, doubled or changed. */
static void
check_vifs(struct json_object *before, const char *from, const char *host)
{
    struct json_object *now = vif_table();
    struct json_object *a = th_jarr(before, "vifs"), *b = th_jarr(now, "vifs");

    assert_int_equal(json_object_array_length(a),
                     json_object_array_length(b));
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *x = json_object_array_get_idx(a, i);
        struct json_object *y = json_object_array_get_idx(b, i);

        assert_int_equal(th_jint(x, "id"), th_jint(y, "id"));
        assert_string_equal(th_jstr(x, "mac"), th_jstr(y, "mac"));
        assert_string_equal(th_jstr(x, "vm"), th_jstr(y, "vm"));
        assert_string_equal(th_jstr(x, "profile"), th_jstr(y, "profile"));
        if (strcmp(th_jstr(x, "vm"), "m")) {
            json_object_object_del(x, "expires_in_s");  /* Counts down. */
            json_object_object_del(y, "expires_in_s");
            assert_true(json_object_equal(x, y));
            continue;
        }
        if (strcmp(th_jstr(y, "host"), host) || strcmp(th_jstr(y, "state"), "online")
            || (!strcmp(host, from) && th_jint(x, "vnic") != th_jint(y, "vnic"))) {
            fail_msg("VIF %lld: want online on %s (vNIC %lld if it stayed "
                     "on %s)\nbefore: %s\nafter:  %s", (long long) th_jint(x, "id"),
                     host, (long long) th_jint(x, "vnic"), from,
                     json_object_to_json_string(x),
                     json_object_to_json_string(y));
        }
    }
    json_object_put(now);
}

/* No vNIC leaked or doubled: each host's vNICs in use are the VIFs on it
 * (a domain left defined anywhere would hold more). */
static int
vnics_ok(void *arg)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "host", "list", NULL);
    struct json_object *hosts = doc ? th_jarr(doc, "hosts") : NULL;
    struct json_object *vifs = vif_table();
    struct json_object *list = th_jarr(vifs, "vifs");
    int ok = hosts != NULL;

    (void) arg;
    for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);
        int64_t used = 0;

        for (size_t k = 0; k < json_object_array_length(list); k++) {
            used += !strcmp(th_jstr(json_object_array_get_idx(list, k), "host"),
                            th_jstr(h, "name"));
        }
        ok &= th_jint(h, "vnics_free") == VNICS - used
              && th_jint(h, "vnics_total") == VNICS;
    }
    json_object_put(doc);
    json_object_put(vifs);
    return ok;
}

static uint32_t
migrate_no_wait(const char *to)
{
    char *out = NULL;
    struct json_object *doc;
    uint32_t id;

    th_fexctl(&out, NULL, "--lab", lab_dir, "--json", "migrate", "m", "--to",
              to, "--no-wait", "--max-bandwidth", "0", NULL);
    doc = json_tokener_parse(out ? out : "");
    free(out);
    /* No answer: fabricd died at begin, before replying. */
    id = doc ? (uint32_t) th_jint(doc, "id") : 0;
    json_object_put(doc);
    return id;
}

static const char *const phases[] = {
    "begin", "prepare", "perform", "switchover", "finish", "confirm",
};

/* One case: daemon 'who' (0 fabricd, 1 source agent, 2 destination
 * agent) killed at 'phase'.  Returns what happened, for the table. */
static void
one_case(int who, const char *phase, char *line, size_t size)
{
    struct json_object *doc, *m, *before;
    char src[8], dst[8], spec[32], where[8];
    struct th_daemon *d;
    struct wait_arg w;
    int crashed;

    check_vm(src, sizeof src);
    before = vif_table();
    snprintf(dst, sizeof dst, "%s", strcmp(src, "h1") ? "h1" : "h2");
    d = who == 0 ? &daemons[0]
                 : &daemons[(who == 1 ? src : dst)[1] - '0'];
    snprintf(spec, sizeof spec, "crash@%s", phase);
    kill9(d);
    respawn(d, spec);
    assert_true(th_wait_hosts_up(lab_dir, 2, WAIT_MS));
    w.pid = th_read_pid(lab_dir, d->pidfile);
    w.id = migrate_no_wait(dst);
    assert_true(th_wait(dead_or_final, &w, WAIT_MS));
    crashed = !fx_proc_alive(w.pid);
    if (crashed) {
        respawn(d, NULL);
    } else {
        kill9(d);          /* Disarmed for the next case. */
        respawn(d, NULL);
    }
    if (!th_wait(resolved, &w.id, WAIT_MS)) {
        fail_msg("%s@%s: migration %u not resolved", d->pidfile, phase,
                 w.id);
    }
    m = last_migration(&doc);
    snprintf(line, size, "%-9s %-3s %-10s %-8s %-10s %s",
             who == 0 ? "fabricd" : who == 1 ? "src agent" : "dst agent",
             who == 0 ? "" : who == 1 ? src : dst, phase,
             crashed ? "killed" : "not hit", th_jstr(m, "state"),
             th_jstr(m, "error"));
    json_object_put(doc);
    check_vm(where, sizeof where);
    check_vifs(before, src, where);
    if (!th_wait(vnics_ok, NULL, WAIT_MS)) {
        fail_msg("%s: vNICs leaked", line);
    }
    /* No stale state: m moves again. */
    assert_int_equal(th_fexctl(NULL, NULL, "--lab", lab_dir, "migrate", "m",
                               "--to", strcmp(where, "h1") ? "h1" : "h2",
                               "--max-bandwidth", "0", NULL), 0);
    check_vm(dst, sizeof dst);
    assert_string_not_equal(dst, where);
    check_vifs(before, src, dst);
    if (!th_wait(vnics_ok, NULL, WAIT_MS)) {
        fail_msg("%s: vNICs leaked after a second migration", line);
    }
    json_object_put(before);
}

static void
crash_matrix(void **state)
{
    char line[512];

    (void) state;
    for (int round = 0; round < ROUNDS; round++) {
        for (int who = 0; who < 3; who++) {
            for (size_t p = 0; p < sizeof phases / sizeof *phases; p++) {
                if (who && !strcmp(phases[p], "begin")) {
                    continue;   /* fabricd's alone: agentd refuses it. */
                }
                one_case(who, phases[p], line, sizeof line);
                printf("round %d: %s\n", round + 1, line);
            }
        }
    }
}

/* fabricd killed at 'phase' and, at the same moment, the source or the
 * destination agent (kill -9 as soon as fabricd is seen dead): both come
 * back from their state dirs, and the migration resolves with the same
 * guarantees as when one daemon dies alone. */
static void
fabricd_and_an_agent_die_together(void **state)
{
    static const char *const together[] = { "perform", "switchover",
                                            "finish", "confirm" };
    struct json_object *before, *doc, *m;
    char src[8], dst[8], spec[32], where[8];
    struct wait_arg w;

    (void) state;
    for (int who = 1; who <= 2; who++) {
        for (size_t p = 0; p < sizeof together / sizeof *together; p++) {
            struct th_daemon *agent;

            check_vm(src, sizeof src);
            snprintf(dst, sizeof dst, "%s", strcmp(src, "h1") ? "h1" : "h2");
            agent = &daemons[(who == 1 ? src : dst)[1] - '0'];
            before = vif_table();
            snprintf(spec, sizeof spec, "crash@%s", together[p]);
            kill9(&daemons[0]);
            respawn(&daemons[0], spec);
            assert_true(th_wait_hosts_up(lab_dir, 2, WAIT_MS));
            w.pid = th_read_pid(lab_dir, daemons[0].pidfile);
            w.id = migrate_no_wait(dst);
            assert_true(th_wait(dead_or_final, &w, WAIT_MS));
            if (fx_proc_alive(w.pid)) {
                fail_msg("fabricd not killed at %s", together[p]);
            }
            kill9(agent);
            respawn(agent, NULL);
            respawn(&daemons[0], NULL);
            if (!th_wait(resolved, &w.id, WAIT_MS)) {
                fail_msg("fabricd and %s killed at %s: migration %u not "
                         "resolved", agent->pidfile, together[p], w.id);
            }
            m = last_migration(&doc);
            printf("fabricd + %s agent killed at %-10s: %s %s\n",
                   who == 1 ? "src" : "dst", together[p],
                   th_jstr(m, "state"), th_jstr(m, "error"));
            json_object_put(doc);
            check_vm(where, sizeof where);
            check_vifs(before, src, where);
            if (!th_wait(vnics_ok, NULL, WAIT_MS)) {
                fail_msg("fabricd and %s killed at %s: vNICs leaked",
                         agent->pidfile, together[p]);
            }
            json_object_put(before);
        }
    }
}

/* The RPC address of the agent of 'name' (from host list). */
static void
agent_addr(const char *name, char *buf, size_t size)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "host", "list", NULL);
    struct json_object *hosts = doc ? th_jarr(doc, "hosts") : NULL;

    buf[0] = '\0';
    for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);

        if (!strcmp(th_jstr(h, "name"), name)) {
            snprintf(buf, size, "%s", th_jstr(h, "address"));
        }
    }
    json_object_put(doc);
    assert_true(buf[0]);
}

/* Stops VM m on the agent at 'addr' directly, behind the fabric. */
static void
agent_stop(const char *addr)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    struct event_base *base = event_base_new();
    ProtobufCMessage *rep = NULL;
    struct rpc_conn *conn;
    struct rpc_opts opts;
    struct auth_key key;
    struct fx_err err;

    /* As the fabric would, proving the lab's secret. */
    th_lab_opts(lab_dir, AUTH_ROLE_FABRIC, &key, &opts);
    conn = rpc_conn_connect(base, addr, &opts, NULL, NULL, NULL, &err);
    assert_non_null(conn);
    req.name = "m";
    if (rpc_call_sync(conn, "HostVms.Stop", &req.base,
                      &fexsim__v1__agent_vm_reply__descriptor, 5000, &rep,
                      &err)) {
        fail_msg("HostVms.Stop: %s", err.msg);
    }
    protobuf_c_message_free_unpacked(rep, NULL);
    rpc_conn_destroy(conn);
    event_base_free(base);
}

/* fabricd killed at finish, and while it is away the VM is stopped on
 * both hosts (as if the source had paused it for the switchover and the
 * destination never resumed it): the migration rolls back and the VM
 * runs again on its source, once; the destination's copy is undefined. */
static void
neither_runs_rolls_back_and_restarts_on_source(void **state)
{
    struct json_object *before, *doc, *m;
    char src[8], dst[8], a_src[64], a_dst[64], where[8];
    struct wait_arg w;

    (void) state;
    check_vm(src, sizeof src);
    snprintf(dst, sizeof dst, "%s", strcmp(src, "h1") ? "h1" : "h2");
    agent_addr(src, a_src, sizeof a_src);
    agent_addr(dst, a_dst, sizeof a_dst);
    before = vif_table();
    kill9(&daemons[0]);
    respawn(&daemons[0], "crash@finish");
    assert_true(th_wait_hosts_up(lab_dir, 2, WAIT_MS));
    w.pid = th_read_pid(lab_dir, daemons[0].pidfile);
    w.id = migrate_no_wait(dst);
    assert_true(th_wait(dead_or_final, &w, WAIT_MS));
    assert_false(fx_proc_alive(w.pid));
    agent_stop(a_src);
    agent_stop(a_dst);
    respawn(&daemons[0], NULL);
    assert_true(th_wait(resolved, &w.id, WAIT_MS));
    m = last_migration(&doc);
    assert_non_null(strstr(th_jstr(m, "error"), "rolled back"));
    assert_non_null(strstr(th_jstr(m, "error"), "neither"));
    json_object_put(doc);
    check_vm(where, sizeof where);
    assert_string_equal(where, src);
    check_vifs(before, src, src);
    assert_true(th_wait(vnics_ok, NULL, WAIT_MS));
    assert_int_equal(th_fexctl(NULL, NULL, "--lab", lab_dir, "migrate", "m",
                               "--to", dst, "--max-bandwidth", "0", NULL), 0);
    check_vm(where, sizeof where);
    assert_string_equal(where, dst);
    json_object_put(before);
}

/* The destination's domain does not start at the end of the copy (its
 * agent runs with --fault fail@resume): the source hears no RESUMED and
 * resumes its guest, and the migration is failed, not completed; the VM
 * runs once, on its source, with its VIFs. */
static void
a_failed_resume_is_a_failed_migration(void **state)
{
    struct json_object *before, *doc, *m;
    char src[8], dst[8], where[8];
    struct th_daemon *d;
    char *out = NULL, *err = NULL;

    (void) state;
    check_vm(src, sizeof src);
    snprintf(dst, sizeof dst, "%s", strcmp(src, "h1") ? "h1" : "h2");
    d = &daemons[dst[1] - '0'];
    before = vif_table();
    kill9(d);
    respawn(d, "fail@resume");
    assert_true(th_wait_hosts_up(lab_dir, 2, WAIT_MS));
    assert_int_equal(th_fexctl(&out, &err, "--lab", lab_dir, "migrate", "m",
                               "--to", dst, "--max-bandwidth", "0", NULL), 1);
    /* The destination's own words reach the operator. */
    assert_non_null(strstr(out, "does not start"));
    free(out);
    free(err);
    m = last_migration(&doc);
    assert_string_equal(th_jstr(m, "state"), "failed");
    json_object_put(doc);
    check_vm(where, sizeof where);
    assert_string_equal(where, src);
    check_vifs(before, src, src);
    assert_true(th_wait(vnics_ok, NULL, WAIT_MS));
    kill9(d);
    respawn(d, NULL);
    assert_true(th_wait_hosts_up(lab_dir, 2, WAIT_MS));
    json_object_put(before);
}

static int
lab_setup(void **state)
{
    char vnics[8];

    (void) state;
    lab_dir = th_mkdtemp("crashmx");
    snprintf(vnics, sizeof vnics, "%d", VNICS);
    if (th_lab_up(lab_dir, 2, "--vnics", vnics, "--heartbeat-timeout",
                  "1000", NULL)) {
        return -1;
    }
    for (size_t i = 0; i < 3; i++) {
        th_daemon_read(lab_dir, pidfiles[i], &daemons[i]);
    }
    return th_fexctl(NULL, NULL, "--lab", lab_dir, "profile", "create", "hp",
                     "--vlan", "10", "--high-performance", NULL)
           || th_fexctl(NULL, NULL, "--lab", lab_dir, "vm", "create", "m",
                        "--host", "h1", "--memory", "16", "--nic", "hp",
                        "--nic", "hp", NULL)
           /* A bystander, defined (one vNIC held) and stopped. */
           || th_fexctl(NULL, NULL, "--lab", lab_dir, "vm", "create", "b",
                        "--host", "h2", "--memory", "16", "--nic", "hp",
                        NULL)
           || th_fexctl(NULL, NULL, "--lab", lab_dir, "vm", "start", "m",
                        NULL);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_matrix),
        cmocka_unit_test(neither_runs_rolls_back_and_restarts_on_source),
        cmocka_unit_test(a_failed_resume_is_a_failed_migration),
        cmocka_unit_test(fabricd_and_an_agent_die_together),
    };

    return cmocka_run_group_tests(tests, lab_setup, lab_teardown);
}
