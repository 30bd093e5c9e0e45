/* Crash matrix (issue 7): each daemon (fabricd, the source agent, the
 * destination agent) killed by its own --fault crash@PHASE at each
 * migration phase, restarted, and the migration resolved; then the VM
 * runs exactly once, its VIF keeps its id and MAC on the host it runs on,
 * no vNIC is leaked, and a second migration of the same VM succeeds.
 * The matrix runs twice.  An agent that a phase does not visit (the
 * source has no prepare, the destination no perform) is not killed: the
 * case then checks an ordinary migration. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fx_err.h"
#include "fx_proc.h"
#include "fx_util.h"
#include "harness.h"

#define WAIT_MS 15000
#define VNICS 4
#define ROUNDS 2

static char *lab_dir;

/* The command lines lab up used, to start each daemon again. */
struct daemon {
    const char *pidfile;
    char buf[4096];
    char *argv[40];
    size_t argc;
};
static struct daemon daemons[3] = {
    { .pidfile = "fabricd.pid" },
    { .pidfile = "agentd-h1.pid" },
    { .pidfile = "agentd-h2.pid" },
};

static const char *
jstr(struct json_object *o, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
                                                 : "";
}

static int64_t
jint(struct json_object *o, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v)
                                                 : -1;
}

static struct json_object *
jarr(struct json_object *o, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void
read_cmdline(struct daemon *d)
{
    char path[64];
    size_t len;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/cmdline",
             (int) th_read_pid(lab_dir, d->pidfile));
    f = fopen(path, "r");
    assert_non_null(f);
    len = fread(d->buf, 1, sizeof d->buf - 1, f);
    fclose(f);
    d->buf[len] = '\0';
    d->argc = 0;
    for (size_t i = 0; i < len && d->argc < 36; i += strlen(d->buf + i) + 1) {
        d->argv[d->argc++] = d->buf + i;
    }
    d->argv[d->argc] = NULL;
}

/* Starts daemon 'd' again (after it died), with "--fault SPEC" if given.
 * fabricd listens on the address it had (lab up gave it port 0). */
static void
respawn(struct daemon *d, const char *spec)
{
    char *argv[44], addr[64], path[4096], log[4096], fault[32];
    const char *base = strrchr(d->argv[0], '/') + 1;
    struct fx_err err;
    size_t n = 0;
    FILE *f;
    pid_t pid;

    snprintf(path, sizeof path, "%s/fabric.addr", lab_dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(addr, sizeof addr, f));
    fclose(f);
    addr[strcspn(addr, "\n")] = '\0';
    for (size_t i = 0; i < d->argc; i++) {
        argv[n++] = d->argv[i];
        if (!strcmp(base, "fabricd") && !strcmp(d->argv[i], "--listen")) {
            argv[n++] = addr;
            i++;
        }
    }
    if (spec) {
        snprintf(fault, sizeof fault, "%s", spec);
        argv[n++] = "--fault";
        argv[n++] = fault;
    }
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/%.*s.log", lab_dir,
             (int) (strlen(d->pidfile) - 4), d->pidfile);
    assert_int_equal(fx_proc_spawn(argv, log, &pid, &err), 0);
    snprintf(path, sizeof path, "%s/%s", lab_dir, d->pidfile);
    assert_int_equal(fx_pidfile_write(path, pid, &err), 0);
}

static void
kill9(struct daemon *d)
{
    pid_t pid = th_read_pid(lab_dir, d->pidfile);

    assert_true(pid > 0);
    kill(pid, SIGKILL);
    while (fx_proc_alive(pid)) {
        fx_sleep_ms(2);
    }
}

static int
hosts_up(void *arg)
{
    char st[16];

    (void) arg;
    return !strcmp(th_host_state(lab_dir, "h1", st, sizeof st, NULL, 0), "up")
           && !strcmp(th_host_state(lab_dir, "h2", st, sizeof st, NULL, 0),
                      "up");
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

        if (!strcmp(jstr(m, "vm"), "m")) {
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
    done = arg->id && m && (uint32_t) jint(m, "id") == arg->id
           && is_final(jstr(m, "state"));
    json_object_put(doc);
    return done;
}

static int
resolved(void *arg)
{
    struct json_object *doc, *m;
    int done;

    if (!hosts_up(NULL)) {
        return 0;
    }
    m = last_migration(&doc);
    done = m && (uint32_t) jint(m, "id") >= *(uint32_t *) arg
           && is_final(jstr(m, "state"));
    json_object_put(doc);
    return done;
}

/* The host m runs on, asserting it is listed once, running, with VIF
 * 'vif' and 'mac' online on that host. */
static void
check_vm(uint32_t vif, const char *mac, char *host, size_t size)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "vm", "list", NULL);
    struct json_object *vms = doc ? jarr(doc, "vms") : NULL;
    struct json_object *vifs;
    int seen = 0;

    for (size_t i = 0; vms && i < json_object_array_length(vms); i++) {
        struct json_object *v = json_object_array_get_idx(vms, i);

        if (!strcmp(jstr(v, "name"), "m")) {
            seen++;
            assert_string_equal(jstr(v, "state"), "running");
            snprintf(host, size, "%s", jstr(v, "host"));
        }
    }
    json_object_put(doc);
    assert_int_equal(seen, 1);
    doc = th_fexctl_json(lab_dir, "vif", "list", NULL);
    vifs = doc ? jarr(doc, "vifs") : NULL;
    assert_non_null(vifs);
    assert_int_equal(json_object_array_length(vifs), 1);
    vifs = json_object_array_get_idx(vifs, 0);
    assert_int_equal(jint(vifs, "id"), vif);
    assert_string_equal(jstr(vifs, "mac"), mac);
    assert_string_equal(jstr(vifs, "host"), host);
    assert_string_equal(jstr(vifs, "state"), "online");
    json_object_put(doc);
}

/* No vNIC leaked: the host m runs on has one taken, the other none (a
 * domain defined there would hold one). */
static int
vnics_ok(void *arg)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "host", "list", NULL);
    struct json_object *hosts = doc ? jarr(doc, "hosts") : NULL;
    int ok = hosts != NULL;

    for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);
        int64_t want = VNICS - !strcmp(jstr(h, "name"), arg);

        ok &= jint(h, "vnics_free") == want
              && jint(h, "vnics_total") == VNICS;
    }
    json_object_put(doc);
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
    id = doc ? (uint32_t) jint(doc, "id") : 0;
    json_object_put(doc);
    return id;
}

static const char *const phases[] = {
    "begin", "prepare", "perform", "switchover", "finish", "confirm",
};

/* One case: daemon 'who' (0 fabricd, 1 source agent, 2 destination
 * agent) killed at 'phase'.  Returns what happened, for the table. */
static void
one_case(int who, const char *phase, uint32_t vif, const char *mac,
         char *line, size_t size)
{
    struct json_object *doc, *m;
    char src[8], dst[8], spec[32], where[8];
    struct daemon *d;
    struct wait_arg w;
    int crashed;

    check_vm(vif, mac, src, sizeof src);
    snprintf(dst, sizeof dst, "%s", strcmp(src, "h1") ? "h1" : "h2");
    d = who == 0 ? &daemons[0]
                 : &daemons[(who == 1 ? src : dst)[1] - '0'];
    snprintf(spec, sizeof spec, "crash@%s", phase);
    kill9(d);
    respawn(d, spec);
    assert_true(th_wait(hosts_up, NULL, WAIT_MS));
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
             crashed ? "killed" : "not hit", jstr(m, "state"),
             jstr(m, "error"));
    json_object_put(doc);
    check_vm(vif, mac, where, sizeof where);
    if (!th_wait(vnics_ok, where, WAIT_MS)) {
        fail_msg("%s: vNICs leaked", line);
    }
    /* No stale state: m moves again. */
    doc = NULL;
    assert_int_equal(th_fexctl(NULL, NULL, "--lab", lab_dir, "migrate", "m",
                               "--to", strcmp(where, "h1") ? "h1" : "h2",
                               "--max-bandwidth", "0", NULL), 0);
    check_vm(vif, mac, where, sizeof where);
    if (!th_wait(vnics_ok, where, WAIT_MS)) {
        fail_msg("%s: vNICs leaked after a second migration", line);
    }
}

static void
crash_matrix(void **state)
{
    struct json_object *doc, *v;
    char mac[32], line[512];
    uint32_t vif;

    (void) state;
    doc = th_fexctl_json(lab_dir, "vif", "list", NULL);
    v = json_object_array_get_idx(jarr(doc, "vifs"), 0);
    vif = (uint32_t) jint(v, "id");
    snprintf(mac, sizeof mac, "%s", jstr(v, "mac"));
    json_object_put(doc);
    for (int round = 0; round < ROUNDS; round++) {
        for (int who = 0; who < 3; who++) {
            for (size_t p = 0; p < sizeof phases / sizeof *phases; p++) {
                one_case(who, phases[p], vif, mac, line, sizeof line);
                printf("round %d: %s\n", round + 1, line);
            }
        }
    }
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
        read_cmdline(&daemons[i]);
    }
    return th_fexctl(NULL, NULL, "--lab", lab_dir, "profile", "create", "hp",
                     "--vlan", "10", "--high-performance", NULL)
           || th_fexctl(NULL, NULL, "--lab", lab_dir, "vm", "create", "m",
                        "--host", "h1", "--memory", "16", "--nic", "hp",
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
    };

    return cmocka_run_group_tests(tests, lab_setup, lab_teardown);
}
