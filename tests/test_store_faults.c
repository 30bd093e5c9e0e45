/* Store failures (issue 11): fabricd runs with "--fault nospace@FILE", so
 * that its state file's writes fail as on a full disk while FILE exists
 * (after the number of writes FILE holds).  Each operation that must
 * write (profile create and delete, VM create, start and stop, a
 * migration at begin and mid-way, an agent's registration, a traffic
 * flow's id) then fails
 * with the store's error, and everything is exactly as before: the
 * fabric's tables, what the agents hold (each host's vNICs in use are its
 * VIFs; a fabricd restart, which follows the agents, changes nothing),
 * and the state file (what a restart loads). */
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

#include "fx_err.h"
#include "fx_proc.h"
#include "harness.h"

#define WAIT_MS 15000

static char *dir;
static char full_path[4096];
static char fault_spec[4200];
static struct th_daemon fabricd;

#define FX(rc, want, ...) \
    th_fexctl_check(dir, __LINE__, rc, want, __VA_ARGS__, NULL)

/* The disk is full after 'n' more writes. */
static void
disk_full(int n)
{
    FILE *f = fopen(full_path, "w");

    assert_non_null(f);
    fprintf(f, "%d\n", n);
    assert_int_equal(fclose(f), 0);
}

static void
disk_ok(void)
{
    assert_int_equal(unlink(full_path), 0);
}

/* Each host's vNICs in use are exactly its VIFs: no domain was left
 * behind on an agent (vNICs free reach the fabric with a heartbeat). */
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

/* What must not change: the profiles, VMs and VIFs, as fexctl lists
 * them, and the hosts by name. */
struct snap {
    char *profiles, *vms, *vifs, *hosts;
};

/* Without the seconds an offline VIF has left, which count down. */
static char *
list(const char *what)
{
    char *out = NULL;

    assert_int_equal(th_fexctl(&out, NULL, "--lab", dir, "--json", what,
                               "list", NULL), 0);
    return th_json_drop(out, "expires_in_s");
}

static char *
host_names(void)
{
    struct json_object *doc = th_fexctl_json(dir, "host", "list", NULL);
    struct json_object *ha = doc ? th_jarr(doc, "hosts") : NULL;
    char *names = calloc(1, 1024);

    assert_non_null(ha);
    for (size_t i = 0; i < json_object_array_length(ha); i++) {
        strcat(names, th_jstr(json_object_array_get_idx(ha, i), "name"));
        strcat(names, " ");
    }
    json_object_put(doc);
    return names;
}

static void
snap_take(struct snap *s)
{
    s->profiles = list("profile");
    s->vms = list("vm");
    s->vifs = list("vif");
    s->hosts = host_names();
}

static void
snap_free(struct snap *s)
{
    free(s->profiles);
    free(s->vms);
    free(s->vifs);
    free(s->hosts);
}

static void
same(const char *what, const char *before, const char *now, const char *when)
{
    size_t at = 0, from;

    if (!strcmp(before, now)) {
        return;
    }
    while (before[at] == now[at]) {
        at++;
    }
    from = at > 300 ? at - 300 : 0;
    fail_msg("%s: %s changed at byte %zu\nbefore: ...%.400s\nafter: "
             "...%.400s", when, what, at, before + from, now + from);
}

/* Fails unless the lab is as 'before' says, and its agents hold no more
 * and no less than the VIFs. */
static void
snap_check(struct snap *before, const char *when)
{
    struct snap now;

    snap_take(&now);
    same("profile list", before->profiles, now.profiles, when);
    same("vm list", before->vms, now.vms, when);
    same("vif list", before->vifs, now.vifs, when);
    same("host list", before->hosts, now.hosts, when);
    snap_free(&now);
    if (!th_wait(vnics_match, NULL, WAIT_MS)) {
        fail_msg("%s: an agent holds vNICs the fabric has no VIF for", when);
    }
}

/* No migration waits for its agents to say where its VM runs. */
static int
none_unresolved(void *arg)
{
    struct json_object *doc = th_fexctl_json(dir, "migrate", "list", NULL);
    int ok = doc != NULL;

    (void) arg;
    for (size_t i = 0; ok && i < json_object_array_length(doc); i++) {
        ok = strcmp(th_jstr(json_object_array_get_idx(doc, i), "state"),
                    "unresolved") != 0;
    }
    json_object_put(doc);
    return ok;
}

/* fabricd again from its state file, as after a crash: what it loads
 * and what the agents tell it at registration must be 'before'. */
static void
restart_fabricd(struct snap *before, const char *when)
{
    char what[128];

    th_daemon_kill9(dir, &fabricd);
    th_daemon_respawn(dir, &fabricd, fault_spec);
    assert_true(th_wait_hosts_up(dir, 2, WAIT_MS));
    assert_true(th_wait(none_unresolved, NULL, WAIT_MS));
    snprintf(what, sizeof what, "%s, after a fabricd restart", when);
    snap_check(before, what);
}

static int
setup(void **state)
{
    (void) state;
    dir = th_mkdtemp("storefault");
    if (th_lab_up(dir, 2, "--vnics", "8", "--heartbeat-timeout", "1000",
                  NULL)) {
        return -1;
    }
    snprintf(full_path, sizeof full_path, "%s/disk-full", dir);
    snprintf(fault_spec, sizeof fault_spec, "nospace@%s", full_path);
    th_daemon_read(dir, "fabricd.pid", &fabricd);
    th_daemon_kill9(dir, &fabricd);
    th_daemon_respawn(dir, &fabricd, fault_spec);
    assert_true(th_wait_hosts_up(dir, 2, WAIT_MS));
    for (int h = 1; h <= 2; h++) {
        const char *name = h == 1 ? "h1" : "h2";

        FX(0, NULL, "host", "passthrough", name, "--enable", "0000:0b:00.0");
        FX(0, NULL, "host", "reboot", name);
    }
    FX(0, NULL, "profile", "create", "fast", "--vlan", "10",
       "--high-performance");
    FX(0, NULL, "profile", "create", "idle", "--vlan", "30");
    FX(0, NULL, "vm", "create", "v1", "--host", "h1", "--memory", "64",
       "--nic", "fast,directpath");
    FX(0, NULL, "vm", "create", "v2", "--host", "h2", "--memory", "64",
       "--nic", "fast");
    FX(0, NULL, "vm", "start", "v1");
    return 0;
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

static void
profile_create_and_delete_leave_nothing(void **state)
{
    struct snap before;

    (void) state;
    snap_take(&before);
    disk_full(0);
    FX(1, "disk is full", "profile", "create", "slow", "--vlan", "20");
    FX(1, "disk is full", "profile", "delete", "idle");
    disk_ok();
    snap_check(&before, "profile create and delete on a full disk");
    restart_fabricd(&before, "profile create and delete on a full disk");
    snap_free(&before);
}

static void
vm_create_leaves_nothing(void **state)
{
    struct snap before;

    (void) state;
    snap_take(&before);
    /* The first write of its batch, and the last. */
    for (int n = 0; n < 2; n++) {
        disk_full(n);
        FX(1, "disk is full", "vm", "create", "v3", "--host", "h1",
           "--memory", "64", "--nic", "fast", "--nic", "fast");
        disk_ok();
    }
    snap_check(&before, "vm create on a full disk");
    restart_fabricd(&before, "vm create on a full disk");
    /* The name is free, libvirt has no domain of it: it can be made. */
    FX(0, NULL, "vm", "create", "v3", "--host", "h1", "--memory", "64");
    FX(0, NULL, "vm", "delete", "v3");
    snap_free(&before);
}

static void
vm_start_and_stop_leave_nothing(void **state)
{
    struct snap before;

    (void) state;
    snap_take(&before);
    disk_full(0);
    FX(1, "disk is full", "vm", "start", "v2");
    FX(1, "disk is full", "vm", "stop", "v1");
    disk_ok();
    snap_check(&before, "vm start and stop on a full disk");
    /* The restart takes the running state from the agents: had one kept
     * v2 started or v1 stopped, the tables would show it. */
    restart_fabricd(&before, "vm start and stop on a full disk");
    snap_free(&before);
}

/* Whether the log file 'path' says the disk is full. */
static int
log_says_full(void *path)
{
    char text[65536];
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;

    if (f) {
        fclose(f);
    }
    text[len] = '\0';
    return strstr(text, "disk is full") != NULL;
}

static void
registration_refused_saves_nothing(void **state)
{
    char bin[4096], log[4096], addr[64], secret[4096];
    char *argv[] = { bin, "--host", "h3", "--fabric", addr, "--listen",
                     "127.0.0.1:0", "--backoff-max", "200", "--secret-file",
                     secret, NULL };
    struct snap before;
    struct fx_err err;
    pid_t pid;

    (void) state;
    snap_take(&before);
    th_fabric_addr(dir, addr, sizeof addr);
    snprintf(secret, sizeof secret, "%s/secret", dir);
    snprintf(log, sizeof log, "%s/agentd-h3.log", dir);
    th_bin(bin, sizeof bin, "agentd");
    disk_full(0);
    assert_int_equal(fx_proc_spawn(argv, log, &pid, &err), 0);
    /* Its registration is refused: the agent says why and retries. */
    assert_true(th_wait(log_says_full, log, WAIT_MS));
    snap_check(&before, "a registration on a full disk");
    assert_int_equal(fx_proc_stop(pid, 5000, &err), 0);
    disk_ok();
    restart_fabricd(&before, "a registration on a full disk");
    snap_free(&before);
}

/* How many flows 'traffic stats' lists. */
static size_t
flows_listed(void)
{
    struct json_object *doc = th_fexctl_json(dir, "traffic", "stats", NULL);
    struct json_object *flows = doc ? th_jarr(doc, "flows") : NULL;
    size_t n = flows ? json_object_array_length(flows) : 0;

    assert_non_null(flows);
    json_object_put(doc);
    return n;
}

static int
some_flow_listed(void *arg)
{
    (void) arg;
    return flows_listed() > 0;
}

static void
traffic_start_leaves_nothing(void **state)
{
    struct snap before;

    (void) state;
    FX(0, NULL, "vm", "start", "v2");
    snap_take(&before);
    /* Its id is saved before it is handed out, and before any agent
     * hears of the flow. */
    disk_full(0);
    FX(1, "flow not started", "traffic", "start", "v1", "v2", "--rate",
       "10", "--size", "64");
    disk_ok();
    assert_int_equal(flows_listed(), 0);
    /* After a restart fabricd learns the flows its agents run: the list
     * that teaches it this one would teach it the refused one too. */
    FX(0, "flow", "traffic", "start", "v1", "v2", "--rate", "10", "--size",
       "64");
    restart_fabricd(&before, "a flow refused on a full disk");
    assert_true(th_wait(some_flow_listed, NULL, WAIT_MS));
    assert_int_equal(flows_listed(), 1);
    FX(0, NULL, "traffic", "stop");
    FX(0, NULL, "vm", "stop", "v2");
    snap_free(&before);
}

/* The migration's state in 'migrate list' (its latest), in 'buf'. */
static const char *
migration_state(char *buf, size_t size, char *error, size_t esize)
{
    struct json_object *doc = th_fexctl_json(dir, "migrate", "list", NULL);
    size_t n = doc ? json_object_array_length(doc) : 0;
    struct json_object *m = n ? json_object_array_get_idx(doc, n - 1) : NULL;

    snprintf(buf, size, "%s", m ? th_jstr(m, "state") : "");
    snprintf(error, esize, "%s", m ? th_jstr(m, "error") : "");
    json_object_put(doc);
    return buf;
}

static int
migration_resolved(void *arg)
{
    char st[32], error[512];

    (void) arg;
    return !strcmp(migration_state(st, sizeof st, error, sizeof error),
                   "resolved");
}

static void
migration_rolls_back(void **state)
{
    char st[32], error[512];
    struct snap before;

    (void) state;
    snap_take(&before);
    /* At begin: refused, and no job is left. */
    disk_full(0);
    FX(1, "disk is full", "migrate", "v1", "--to", "h2", "--max-bandwidth",
       "0");
    disk_ok();
    migration_state(st, sizeof st, error, sizeof error);
    assert_string_equal(st, "");
    snap_check(&before, "a migration refused at begin");
    /* Begin and prepare saved, perform not: it rolls back. */
    disk_full(2);
    FX(1, "disk is full", "migrate", "v1", "--to", "h2", "--max-bandwidth",
       "0");
    disk_ok();
    assert_string_equal(migration_state(st, sizeof st, error, sizeof error),
                        "failed");
    assert_non_null(strstr(error, "phase perform not saved"));
    snap_check(&before, "a migration the store failed at perform");
    /* The row it could not forget resolves at the next start. */
    restart_fabricd(&before, "a migration the store failed at perform");
    assert_true(th_wait(migration_resolved, NULL, WAIT_MS));
    FX(0, NULL, "migrate", "v1", "--to", "h2", "--max-bandwidth", "0");
    FX(0, NULL, "migrate", "v1", "--to", "h1", "--max-bandwidth", "0");
    snap_free(&before);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(profile_create_and_delete_leave_nothing),
        cmocka_unit_test(vm_create_leaves_nothing),
        cmocka_unit_test(vm_start_and_stop_leave_nothing),
        cmocka_unit_test(registration_refused_saves_nothing),
        cmocka_unit_test(traffic_start_leaves_nothing),
        cmocka_unit_test(migration_rolls_back),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
