/* Restartable labs (issue 13): `lab up` records every daemon's whole
 * command line in DIR/lab.json with ports chosen once; `lab status` shows
 * each daemon; `lab restart` starts what is down, by its recorded command
 * line; a daemon started by hand with exactly that line finds everything
 * where it was.  The last test kills fabricd and the destination agent
 * with SIGKILL in the middle of a migration under traffic and brings each
 * back by its recorded command line: the VM runs once, the VIF table is
 * the one before, and traffic flows again. */
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

#include "fx_proc.h"
#include "harness.h"

#define WAIT_MS 30000

static char *dir;

#define FX(rc, want, ...) th_fexctl_check(dir, __LINE__, rc, want, \
                                          __VA_ARGS__, NULL)

/* DIR/lab.json, parsed (caller puts it). */
static struct json_object *
lab_file(void)
{
    char path[4096];
    struct json_object *j;

    snprintf(path, sizeof path, "%s/lab.json", dir);
    j = json_object_from_file(path);
    assert_non_null(j);
    return j;
}

/* Daemon 'name' of a lab.json or a status document, or NULL. */
static struct json_object *
daemon_of(struct json_object *doc, const char *name)
{
    struct json_object *ds = th_jarr(doc, "daemons");

    for (size_t i = 0; ds && i < json_object_array_length(ds); i++) {
        struct json_object *d = json_object_array_get_idx(ds, i);

        if (!strcmp(th_jstr(d, "name"), name)) {
            return d;
        }
    }
    return NULL;
}

static struct json_object *
status(void)
{
    struct json_object *doc = th_fexctl_json(dir, "lab", "status", "--dir",
                                             dir, NULL);

    assert_non_null(doc);
    return doc;
}

static pid_t
pid_of(const char *name)
{
    struct json_object *doc = status();
    pid_t pid = (pid_t) th_jint(daemon_of(doc, name), "pid");

    json_object_put(doc);
    return pid;
}

static void
kill9(pid_t pid)
{
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    while (fx_proc_alive(pid)) {
        usleep(2000);           /* The kernel is quick; a zombie is gone. */
    }
}

struct host_state {
    const char *name, *state;
};

static int
host_is(void *arg)
{
    struct host_state *h = arg;
    struct json_object *doc = status();
    int ok = !strcmp(th_jstr(daemon_of(doc, h->name), "host_state"),
                     h->state);

    json_object_put(doc);
    return ok;
}

static int
setup(void **state)
{
    (void) state;
    dir = th_mkdtemp("labrestart");
    return th_lab_up(dir, 2, "--vnics", "8", "--heartbeat-timeout", "1000",
                     NULL);
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

/* Every daemon in lab.json has a whole command line (its log and pid
 * file included) and fixed addresses; status shows each one alive with
 * the pid of its pid file, and an agent killed as down. */
static void
status_shows_each_daemon(void **state)
{
    struct json_object *lab = lab_file(), *st = status(), *d, *argv;
    const char *names[] = { "fabricd", "h1", "h2" };
    char fabric[64];
    struct host_state h2_down = { "h2", "down" };
    pid_t pid;

    (void) state;
    th_fabric_addr(dir, fabric, sizeof fabric);
    assert_string_equal(th_jstr(daemon_of(lab, "fabricd"), "listen"),
                        fabric);
    assert_true(strlen(th_jstr(lab, "id")) == 8);
    for (size_t i = 0; i < 3; i++) {
        struct json_object *f = daemon_of(lab, names[i]);
        char pidfile[32];
        const char *line;

        d = daemon_of(st, names[i]);
        assert_non_null(f);
        assert_non_null(d);
        argv = th_jarr(f, "argv");
        line = json_object_to_json_string(argv);
        assert_non_null(strstr(line, "--pid-file"));
        assert_non_null(strstr(line, "--log-file"));
        assert_non_null(strstr(line, "--secret-file"));
        /* A port, not 0: a restart takes the same one. */
        assert_null(strstr(th_jstr(f, "listen"), ":0"));
        snprintf(pidfile, sizeof pidfile, i ? "agentd-%s.pid" : "%s.pid",
                 names[i]);
        assert_int_equal(th_jint(d, "pid"), th_read_pid(dir, pidfile));
        assert_true(json_object_get_boolean(
                        json_object_object_get(d, "alive")));
        assert_string_equal(th_jstr(d, "listen"), th_jstr(f, "listen"));
        assert_true(strlen(th_jstr(d, "up_since")) == 20);
        if (i) {
            assert_string_equal(th_jstr(d, "host_state"), "up");
        }
    }
    json_object_put(st);
    json_object_put(lab);

    pid = pid_of("h2");
    kill9(pid);
    st = status();
    d = daemon_of(st, "h2");
    assert_int_equal(th_jint(d, "pid"), 0);
    assert_false(json_object_get_boolean(json_object_object_get(d,
                                                                "alive")));
    json_object_put(st);
    assert_true(th_wait(host_is, &h2_down, WAIT_MS));
    FX(0, "down", "lab", "status", "--dir", dir);
    FX(0, "started 1 daemon", "lab", "restart", "--dir", dir);
}

/* `lab restart` brings back what is down, on the same addresses; with a
 * name it restarts that one; `lab up` on the lab's DIR does the same and
 * refuses other options. */
static void
restart_brings_back_what_is_down(void **state)
{
    struct json_object *before = status(), *after;
    pid_t f = pid_of("fabricd"), h1 = pid_of("h1");

    (void) state;
    kill9(f);
    kill9(h1);
    FX(0, "started 2 daemons", "lab", "restart", "--dir", dir);
    after = status();
    for (size_t i = 0; i < 3; i++) {
        const char *n = i == 0 ? "fabricd" : i == 1 ? "h1" : "h2";

        assert_string_equal(th_jstr(daemon_of(after, n), "listen"),
                            th_jstr(daemon_of(before, n), "listen"));
        assert_true(json_object_get_boolean(json_object_object_get(
                        daemon_of(after, n), "alive")));
    }
    assert_true(th_jint(daemon_of(after, "fabricd"), "pid") != f);
    assert_string_equal(th_jstr(daemon_of(after, "h1"), "host_state"), "up");
    json_object_put(after);
    json_object_put(before);

    h1 = pid_of("h1");
    FX(0, "started 1 daemon", "lab", "restart", "--dir", dir, "h1");
    assert_true(pid_of("h1") != h1);
    assert_false(fx_proc_alive(h1));
    FX(1, "has no daemon 'h9'", "lab", "restart", "--dir", dir, "h9");

    kill9(pid_of("h2"));
    FX(0, "1 daemon was down", "lab", "up", "--dir", dir);
    FX(0, "every daemon was running", "lab", "up", "--dir", dir, "--hosts",
       "2", "--vnics", "8");
    FX(1, "with another --vnics", "lab", "up", "--dir", dir, "--vnics",
       "9");
    FX(2, "--hosts N makes one", "lab", "up", "--dir", "/nonexistent/x");
}

/* ---- Mid-migration ---- */

/* Starts DIR's daemon 'name' by the command line lab.json records for
 * it, exactly, as an operator would by hand. */
static void
start_by_hand(const char *name)
{
    struct json_object *lab = lab_file(), *d = daemon_of(lab, name);
    struct json_object *argv = th_jarr(d, "argv");
    size_t n = json_object_array_length(argv);
    char **args = calloc(n + 1, sizeof *args);
    pid_t pid;

    for (size_t i = 0; i < n; i++) {
        args[i] = (char *) json_object_get_string(
            json_object_array_get_idx(argv, i));
    }
    assert_int_equal(fx_proc_spawn(args, th_jstr(d, "log_file"), &pid,
                                   NULL), 0);
    free(args);
    json_object_put(lab);
}

static int
both_hosts_up(void *arg)
{
    (void) arg;
    return th_hosts_up(dir, 2);
}

/* The migration of 'a' as `migrate list` shows it last, or NULL (the
 * caller puts '*docp'). */
static struct json_object *
migration_of_a(struct json_object **docp)
{
    struct json_object *doc = th_fexctl_json(dir, "migrate", "list", NULL);
    struct json_object *last = NULL;
    size_t n = doc && json_object_is_type(doc, json_type_array)
               ? json_object_array_length(doc) : 0;

    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(doc, i);

        if (!strcmp(th_jstr(m, "vm"), "a")) {
            last = m;
        }
    }
    *docp = doc;
    return last;
}

static int
migration_is(void *arg)
{
    struct json_object *doc, *m = migration_of_a(&doc);
    const char *want = arg;
    int ok = m && (!strcmp(want, "final")
                   ? !strcmp(th_jstr(m, "state"), "completed")
                     || !strcmp(th_jstr(m, "state"), "failed")
                     || !strcmp(th_jstr(m, "state"), "resolved")
                   : !strcmp(th_jstr(m, "phase"), want));

    json_object_put(doc);
    return ok;
}

/* Each host's vNICs in use are exactly the VIFs on it: no domain is left
 * defined anywhere else (vNICs free reach fabricd with a heartbeat). */
static int
vnics_match(void *arg)
{
    struct json_object *hosts = th_fexctl_json(dir, "host", "list", NULL);
    struct json_object *vifs = th_fexctl_json(dir, "vif", "list", NULL);
    struct json_object *ha = hosts ? th_jarr(hosts, "hosts") : NULL;
    struct json_object *va = vifs ? th_jarr(vifs, "vifs") : NULL;
    int ok = ha && va;

    (void) arg;
    for (size_t i = 0; ok && i < json_object_array_length(ha); i++) {
        struct json_object *h = json_object_array_get_idx(ha, i);
        int64_t used = th_jint(h, "vnics_total") - th_jint(h, "vnics_free");

        for (size_t j = 0; j < json_object_array_length(va); j++) {
            used -= !strcmp(th_jstr(json_object_array_get_idx(va, j),
                                    "host"), th_jstr(h, "name"));
        }
        ok = used == 0;
    }
    json_object_put(hosts);
    json_object_put(vifs);
    return ok;
}

/* VM 'a' is listed once, running, on 'host' (written). */
static void
check_a_runs_once(char *host, size_t size)
{
    struct json_object *doc = th_fexctl_json(dir, "vm", "list", NULL);
    struct json_object *vms = doc ? th_jarr(doc, "vms") : NULL;
    int seen = 0;

    for (size_t i = 0; vms && i < json_object_array_length(vms); i++) {
        struct json_object *v = json_object_array_get_idx(vms, i);

        if (!strcmp(th_jstr(v, "name"), "a")) {
            seen++;
            assert_string_equal(th_jstr(v, "state"), "running");
            snprintf(host, size, "%s", th_jstr(v, "host"));
        }
    }
    json_object_put(doc);
    assert_int_equal(seen, 1);
    assert_true(th_wait(vnics_match, NULL, WAIT_MS));
}

/* The VIF table without what depends on where a VM runs and on time. */
static char *
vif_table(void)
{
    struct json_object *doc = th_fexctl_json(dir, "vif", "list", NULL);
    struct json_object *vifs = th_jarr(doc, "vifs");
    char *s;

    for (size_t i = 0; i < json_object_array_length(vifs); i++) {
        struct json_object *v = json_object_array_get_idx(vifs, i);

        json_object_object_del(v, "expires_in_s");
        json_object_object_del(v, "host");
        json_object_object_del(v, "vnic");
        json_object_object_del(v, "mode");
        json_object_object_del(v, "mode_reason");
    }
    s = strdup(json_object_to_json_string(doc));
    json_object_put(doc);
    return s;
}

struct flow_wait {
    int64_t id;
    int64_t received;
};

/* Flow 'id' received more than 'received' frames and lost none. */
static int
flow_flows(void *arg)
{
    struct flow_wait *w = arg;
    struct json_object *doc = th_fexctl_json(dir, "traffic", "stats", NULL);
    struct json_object *flows = doc ? th_jarr(doc, "flows") : NULL;
    int ok = 0;

    for (size_t i = 0; flows && i < json_object_array_length(flows); i++) {
        struct json_object *f = json_object_array_get_idx(flows, i);

        if (th_jint(f, "flow_id") == w->id) {
            assert_int_equal(th_jint(f, "lost"), 0);
            ok = th_jint(f, "received") > w->received;
        }
    }
    json_object_put(doc);
    return ok;
}

static int64_t
traffic_start(void)
{
    struct json_object *doc = th_fexctl_json(dir, "traffic", "start", "a",
                                             "b", "--rate", "200", "--size",
                                             "128", NULL);
    int64_t id = th_jint(doc, "flow_id");

    assert_true(id > 0);
    json_object_put(doc);
    return id;
}

static void
killed_mid_migration_under_traffic_comes_back(void **state)
{
    struct flow_wait w = { 0, 0 };
    char where[16], *before, *after;
    const char *dst;

    (void) state;
    FX(0, NULL, "host", "passthrough", "h1", "--enable", "0000:0b:00.0");
    FX(0, NULL, "host", "passthrough", "h2", "--enable", "0000:0b:00.0");
    FX(0, NULL, "host", "reboot", "h1");
    FX(0, NULL, "host", "reboot", "h2");
    FX(0, NULL, "profile", "create", "hp", "--vlan", "10",
       "--high-performance");
    FX(0, NULL, "vm", "create", "a", "--host", "h1", "--memory", "64",
       "--nic", "hp,directpath");
    FX(0, NULL, "vm", "create", "b", "--host", "h2", "--memory", "16",
       "--nic", "hp");
    FX(0, NULL, "vm", "start", "a");
    FX(0, NULL, "vm", "start", "b");
    w.id = traffic_start();
    assert_true(th_wait(flow_flows, &w, WAIT_MS));
    before = vif_table();

    /* 64 MiB at 8 MiB/s: the copy is under way for seconds. */
    FX(0, "started", "migrate", "a", "--to", "h2", "--no-wait",
       "--max-bandwidth", "8");
    assert_true(th_wait(migration_is, "perform", WAIT_MS));
    kill9(pid_of("fabricd"));
    kill9(pid_of("h2"));

    /* fabricd by hand, exactly as recorded; h2 by lab restart. */
    start_by_hand("fabricd");
    FX(0, "started 1 daemon", "lab", "restart", "--dir", dir, "h2");
    assert_true(th_wait(both_hosts_up, NULL, WAIT_MS));
    assert_true(th_wait(migration_is, "final", WAIT_MS));

    check_a_runs_once(where, sizeof where);
    after = vif_table();
    assert_string_equal(after, before);
    free(after);
    free(before);

    /* Traffic flows again: the old flow ended with its killed end, a new
     * one delivers every frame. */
    FX(0, NULL, "traffic", "stop");
    w.id = traffic_start();
    w.received = 0;
    assert_true(th_wait(flow_flows, &w, WAIT_MS));
    w.received += 50;
    assert_true(th_wait(flow_flows, &w, WAIT_MS));
    FX(0, NULL, "traffic", "stop");

    /* And it still moves. */
    dst = strcmp(where, "h1") ? "h1" : "h2";
    FX(0, "completed", "migrate", "a", "--to", dst, "--max-bandwidth", "0");
    check_a_runs_once(where, sizeof where);
    assert_string_equal(where, dst);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(status_shows_each_daemon),
        T(restart_brings_back_what_is_down),
        T(killed_mid_migration_under_traffic_comes_back),
    };

    return cmocka_run_group_tests_name("lab restart", tests, NULL, NULL);
}
