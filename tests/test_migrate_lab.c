/* Integration: live migration of passthrough VMs in a lab driven through
 * fexctl.  20 migrations back and forth under continuous traffic both ways
 * lose and duplicate nothing (sequence numbers, 'traffic stats --json');
 * 8 VMs migrate at once; each failure (refused up front by the policy, no
 * free vNIC, no passthrough, memory admission, cancel, timeout, no
 * convergence, destination agent killed mid-transfer) leaves the VM
 * running once, on its source, its VIF bound there, and no vNIC taken. */
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
#include "harness.h"

#define WAIT_MS 20000
#define VNICS "12"

static char *lab_dir;

/* Runs "fexctl --lab DIR ARGS..." and checks its exit status and that
 * stdout or stderr holds 'want' (NULL: anything). */
#define FX(rc, want, ...) \
    th_fexctl_check(lab_dir, __LINE__, rc, want, __VA_ARGS__, NULL)

/* Free vNICs of every host, "h1=12 h2=11 ..." into 'buf'. */
static void
free_vnics(char *buf, size_t size)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "host", "list", NULL);
    struct json_object *hosts = doc ? th_jarr(doc, "hosts") : NULL;
    size_t off = 0;

    buf[0] = 0;
    for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);

        off += (size_t) snprintf(buf + off, size - off, "%s=%lld ",
                                 th_jstr(h, "name"),
                                 (long long) th_jint(h, "vnics_free"));
    }
    json_object_put(doc);
}

static int
vnics_are(void *arg)
{
    char now[256];

    free_vnics(now, sizeof now);
    return !strcmp(now, arg);
}

/* Free vNICs per host come with heartbeats: waits for 'want'. */
static void
expect_vnics(int line, const char *want)
{
    char now[256];

    if (!th_wait(vnics_are, (void *) want, WAIT_MS)) {
        free_vnics(now, sizeof now);
        fail_msg("line %d: free vNICs '%s', want '%s'", line, now, want);
    }
}
#define EXPECT_VNICS(want) expect_vnics(__LINE__, want)

/* Checks VM 'vm' runs on 'host' with every VIF bound (online) there. */
static void
check_vm_on(const char *vm, const char *host)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "vm", "list", NULL);
    struct json_object *vms = doc ? th_jarr(doc, "vms") : NULL;
    int seen = 0;

    for (size_t i = 0; vms && i < json_object_array_length(vms); i++) {
        struct json_object *v = json_object_array_get_idx(vms, i);
        struct json_object *nics = th_jarr(v, "nics");

        if (strcmp(th_jstr(v, "name"), vm)) {
            continue;
        }
        seen = 1;
        assert_string_equal(th_jstr(v, "host"), host);
        assert_string_equal(th_jstr(v, "state"), "running");
        for (size_t k = 0; nics && k < json_object_array_length(nics); k++) {
            struct json_object *n = json_object_array_get_idx(nics, k);

            assert_string_equal(th_jstr(n, "host"), host);
            assert_string_equal(th_jstr(n, "state"), "online");
            assert_string_equal(th_jstr(n, "mode"), "high-performance");
        }
    }
    json_object_put(doc);
    assert_true(seen);
}

/* Runs "migrate VM --to HOST --json OPTS..." and returns the report. */
static struct json_object *
migrate(const char *vm, const char *to, ...)
{
    char bin[4096], *argv[32], *out = NULL;
    struct json_object *doc;
    size_t n = 0;
    va_list ap;

    argv[n++] = (char *) th_bin(bin, sizeof bin, "fexctl");
    argv[n++] = "--lab";
    argv[n++] = lab_dir;
    argv[n++] = "--json";
    argv[n++] = "migrate";
    argv[n++] = (char *) vm;
    argv[n++] = "--to";
    argv[n++] = (char *) to;
    va_start(ap, to);
    while (n < 31 && (argv[n] = va_arg(ap, char *))) {
        n++;
    }
    va_end(ap);
    argv[n] = NULL;
    th_run(argv, &out, NULL);
    doc = json_tokener_parse(out ? out : "");
    free(out);
    assert_non_null(doc);
    return doc;
}

static void
vm_up(const char *name, const char *host, const char *mib,
      const char *profile)
{
    char nic[64];

    snprintf(nic, sizeof nic, "%s,directpath", profile);
    FX(0, NULL, "vm", "create", name, "--host", host, "--memory", mib,
       "--nic", nic);
    FX(0, NULL, "vm", "start", name);
}

static int
lab_setup(void **state)
{
    (void) state;
    lab_dir = th_mkdtemp("migrate");
    if (th_lab_up(lab_dir, 4, "--vnics", VNICS, "--heartbeat-timeout",
                  "1500", NULL)) {
        return -1;
    }
    /* h4 keeps its VIC out of passthrough. */
    return th_lab_passthrough(lab_dir, 1, 3)
           || th_fexctl(NULL, NULL, "--lab", lab_dir, "profile", "create", "hp",
                     "--vlan", "10", "--high-performance", NULL)
           || th_fexctl(NULL, NULL, "--lab", lab_dir, "profile", "create",
                        "plain", "--vlan", "10", NULL);
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

/* Received frames of the flow with the fewest. */
static int64_t
min_received(void)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "traffic", "stats",
                                             NULL);
    struct json_object *flows = doc ? th_jarr(doc, "flows") : NULL;
    int64_t min = INT64_MAX;

    for (size_t i = 0; flows && i < json_object_array_length(flows); i++) {
        int64_t r = th_jint(json_object_array_get_idx(flows, i), "received");

        min = r < min ? r : min;
    }
    json_object_put(doc);
    return flows ? min : -1;
}

static int
received_past(void *arg)
{
    return min_received() >= *(int64_t *) arg;
}

/* Every frame below the highest received arrived once: a loss during a
 * migration would be a gap (lost), a replay a duplicate.  Only the frames
 * still in flight when the flows stopped may be missing. */
static void
check_flows_whole(struct json_object *doc)
{
    struct json_object *flows = th_jarr(doc, "flows");

    assert_non_null(flows);
    assert_int_equal(json_object_array_length(flows), 2);
    for (size_t i = 0; i < json_object_array_length(flows); i++) {
        struct json_object *f = json_object_array_get_idx(flows, i);

        assert_true(th_jint(f, "sent") > 0);
        assert_int_equal(th_jint(f, "lost"), 0);
        assert_int_equal(th_jint(f, "duplicated"), 0);
        assert_true(th_jint(f, "sent") - th_jint(f, "received") < 100);
    }
}

/* 20 migrations of 'a' between h1 and h2 while a and b exchange 1000
 * frames/s each way. */
static void
migrations_back_and_forth_under_traffic_lose_nothing(void **state)
{
    struct json_object *doc;
    uint64_t held = 0;

    (void) state;
    vm_up("a", "h1", "16", "hp");
    vm_up("b", "h3", "16", "hp");
    FX(0, NULL, "traffic", "start", "a", "b", "--rate", "1000", "--size",
       "128");
    FX(0, NULL, "traffic", "start", "b", "a", "--rate", "1000", "--size",
       "128");
    for (int i = 0; i < 20; i++) {
        const char *to = i % 2 ? "h1" : "h2";

        doc = migrate("a", to, "--max-bandwidth", "0", "--dirty-rate",
                      "2000", NULL);
        if (strcmp(th_jstr(doc, "state"), "completed")) {
            fail_msg("migration %d: %s: %s", i, th_jstr(doc, "state"),
                     th_jstr(doc, "error"));
        }
        assert_int_equal(th_jint(doc, "frames_lost"), 0);
        assert_true(th_jint(doc, "rounds") >= 1);
        held += (uint64_t) th_jint(doc, "frames_held");
        json_object_put(doc);
        check_vm_on("a", to);
    }
    /* Traffic on after the last move, so that a loss in it is a gap. */
    {
        int64_t want = min_received() + 300;

        assert_true(th_wait(received_past, &want, WAIT_MS));
    }
    doc = th_fexctl_json(lab_dir, "traffic", "stop", NULL);
    check_flows_whole(doc);
    json_object_put(doc);
    print_message("20 migrations: %llu frames held, none lost\n",
                  (unsigned long long) held);
    EXPECT_VNICS("h1=11 h2=12 h3=11 h4=12 ");
    FX(0, "completed", "migrate", "list");
}

/* VM 'vm''s dirty rate as vm list --json says, -1 if not listed. */
static int64_t
dirty_rate_of(const char *vm)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "vm", "list", NULL);
    struct json_object *vms = doc ? th_jarr(doc, "vms") : NULL;
    int64_t rate = -1;

    for (size_t i = 0; vms && i < json_object_array_length(vms); i++) {
        struct json_object *v = json_object_array_get_idx(vms, i);

        if (!strcmp(th_jstr(v, "name"), vm)) {
            rate = th_jint(v, "dirty_rate");
        }
    }
    json_object_put(doc);
    return rate;
}

/* Bytes the migration of 'vm' to 'to' sent (at the default 128 MiB/s, so
 * that a 16 MiB guest's first round lasts about 125 ms of its writer). */
static int64_t
migrate_bytes(const char *vm, const char *to, ...)
{
    struct json_object *doc;
    const char *rate;
    int64_t bytes;
    va_list ap;

    va_start(ap, to);
    rate = va_arg(ap, const char *);
    va_end(ap);
    doc = rate ? migrate(vm, to, "--dirty-rate", rate, NULL)
               : migrate(vm, to, NULL);
    if (strcmp(th_jstr(doc, "state"), "completed")) {
        fail_msg("%s to %s: %s: %s", vm, to, th_jstr(doc, "state"),
                 th_jstr(doc, "error"));
    }
    bytes = th_jint(doc, "bytes_sent");
    json_object_put(doc);
    check_vm_on(vm, to);
    return bytes;
}

/* A running guest's dirty rate is its own: set with vm set, it dirties
 * its memory on its host, moves with it (the migrations re-send the
 * pages it wrote meanwhile), and ends when the VM stops. */
static void
dirty_rate_moves_with_the_guest(void **state)
{
    const int64_t mem = 16 << 20, slack = mem / 100, dirtied = 1 << 20;
    int64_t b;

    (void) state;
    FX(0, NULL, "vm", "create", "d", "--host", "h1", "--memory", "16",
       "--nic", "hp,directpath");
    FX(1, "not running", "vm", "set", "d", "--dirty-rate", "100");
    FX(0, NULL, "vm", "start", "d");
    assert_int_equal(dirty_rate_of("d"), 0);
    FX(2, "out of range", "vm", "set", "d", "--dirty-rate", "1000001");
    /* Idle: its memory goes once, headers aside. */
    b = migrate_bytes("d", "h2", NULL);
    assert_true(b >= mem && b < mem + slack);
    FX(0, "set", "vm", "set", "d", "--dirty-rate", "5000");
    assert_int_equal(dirty_rate_of("d"), 5000);
    assert_true(migrate_bytes("d", "h1", NULL) > mem + dirtied);
    /* It went with the guest: h1's copy writes on. */
    assert_int_equal(dirty_rate_of("d"), 5000);
    assert_true(migrate_bytes("d", "h2", NULL) > mem + dirtied);
    /* A migration's --dirty-rate is the guest's from then on. */
    assert_true(migrate_bytes("d", "h1", "0") < mem + slack);
    assert_int_equal(dirty_rate_of("d"), 0);
    assert_true(migrate_bytes("d", "h2", NULL) < mem + slack);
    FX(0, NULL, "vm", "set", "d", "--dirty-rate", "5000");
    FX(0, NULL, "vm", "stop", "d");
    assert_int_equal(dirty_rate_of("d"), 0);
    FX(0, NULL, "vm", "start", "d");
    assert_int_equal(dirty_rate_of("d"), 0);
    FX(0, NULL, "vm", "stop", "d");
    FX(0, NULL, "vm", "delete", "d");
}

/* 8 VMs leave h1 for h2 at once. */
static int
all_completed(void *arg)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "migrate", "list",
                                             NULL);
    size_t n = doc ? json_object_array_length(doc) : 0, done = 0;

    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(doc, i);

        done += !strncmp(th_jstr(m, "vm"), "p", 1)
                && !strcmp(th_jstr(m, "state"), "completed");
    }
    json_object_put(doc);
    return done == *(size_t *) arg;
}

static void
eight_migrations_at_once(void **state)
{
    char name[8];
    size_t want = 8;

    (void) state;
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "p%d", i);
        vm_up(name, "h1", "16", "hp");
    }
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "p%d", i);
        FX(0, "started", "migrate", name, "--to", "h2", "--no-wait",
           "--max-bandwidth", "0");
    }
    assert_true(th_wait(all_completed, &want, WAIT_MS));
    for (int i = 0; i < 8; i++) {
        snprintf(name, sizeof name, "p%d", i);
        check_vm_on(name, "h2");
        FX(0, NULL, "vm", "stop", name);
        FX(0, NULL, "vm", "delete", name);
    }
    EXPECT_VNICS("h1=11 h2=12 h3=11 h4=12 ");
}

/* A refused or failed migration: the VM stays where it ran, nothing
 * leaks. */
static void
check_refused(const char *vm, const char *to, const char *why,
              const char *want)
{
    struct json_object *doc = migrate(vm, to, "--max-bandwidth", "0", NULL);

    assert_string_equal(th_jstr(doc, "state"), "failed");
    if (!strstr(th_jstr(doc, "error"), why)) {
        fail_msg("error '%s' lacks '%s'", th_jstr(doc, "error"), why);
    }
    json_object_put(doc);
    check_vm_on(vm, "h1");
    EXPECT_VNICS(want);
}

static void
policy_refuses_plain_directpath_up_front(void **state)
{
    (void) state;
    vm_up("q", "h1", "16", "plain");
    FX(1, "vMotion", "migrate", "q", "--to", "h2");
    FX(0, NULL, "vm", "stop", "q");
    FX(0, NULL, "vm", "delete", "q");
}

static void
destination_refusals_roll_back(void **state)
{
    const char *base = "h1=10 h2=12 h3=11 h4=12 ";
    char name[8];

    (void) state;
    vm_up("r", "h1", "16", "hp");
    check_refused("r", "h4", "passthrough", base);
    /* h3 with every vNIC reserved (VMs defined, not running). */
    for (int i = 0; i < atoi(VNICS) - 1; i++) {
        snprintf(name, sizeof name, "f%d", i);
        FX(0, NULL, "vm", "create", name, "--host", "h3", "--memory", "16",
           "--nic", "hp,directpath");
    }
    check_refused("r", "h3", "vNIC", "h1=10 h2=12 h3=0 h4=12 ");
    for (int i = 0; i < atoi(VNICS) - 1; i++) {
        snprintf(name, sizeof name, "f%d", i);
        FX(0, NULL, "vm", "delete", name);
    }
    /* h2 without the memory: a big VM reserves most of it. */
    vm_up("big", "h2", "60000", "hp");
    vm_up("r2", "h1", "8000", "hp");
    check_refused("r2", "h2", "unreserved", "h1=9 h2=11 h3=11 h4=12 ");
    FX(0, NULL, "vm", "stop", "big");
    FX(0, NULL, "vm", "stop", "r2");
    FX(0, NULL, "vm", "delete", "big");
    FX(0, NULL, "vm", "delete", "r2");
    EXPECT_VNICS(base);
}

static void
engine_failures_roll_back(void **state)
{
    struct json_object *doc;

    (void) state;
    /* Dirtying 4x faster than the stream: no convergence. */
    doc = migrate("r", "h2", "--max-bandwidth", "8", "--dirty-rate",
                  "8000", "--no-auto-converge", NULL);
    assert_string_equal(th_jstr(doc, "state"), "failed");
    assert_non_null(strstr(th_jstr(doc, "error"), "not converging"));
    json_object_put(doc);
    check_vm_on("r", "h1");
    doc = migrate("r", "h2", "--max-bandwidth", "4", "--timeout", "300",
                  NULL);
    assert_string_equal(th_jstr(doc, "state"), "failed");
    json_object_put(doc);
    check_vm_on("r", "h1");
    EXPECT_VNICS("h1=10 h2=12 h3=11 h4=12 ");
}

static int
state_is(void *arg)
{
    const char **want = arg;
    struct json_object *doc = th_fexctl_json(lab_dir, "migrate", "list",
                                             NULL);
    size_t n = doc ? json_object_array_length(doc) : 0;
    int ok = 0;

    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(doc, i);

        /* The latest migration of the VM is the last listed. */
        if (!strcmp(th_jstr(m, "vm"), want[0])) {
            ok = !strcmp(th_jstr(m, "state"), want[1]);
        }
    }
    json_object_put(doc);
    return ok;
}

/* The KVM flavour's 802.1Qbh requests show on the moving VIF. */
static int
vif_preassociated(void *arg)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "vif", "list", NULL);
    struct json_object *vifs = doc ? th_jarr(doc, "vifs") : NULL;
    int ok = 0;

    for (size_t i = 0; vifs && i < json_object_array_length(vifs); i++) {
        struct json_object *v = json_object_array_get_idx(vifs, i);

        ok |= !strcmp(th_jstr(v, "vm"), arg)
              && strstr(th_jstr(v, "mode_reason"), "PREASSOCIATE_RR") != NULL;
    }
    json_object_put(doc);
    return ok;
}

/* The latest migration of VM arg[0] is in phase arg[1]. */
static int
phase_is(void *arg)
{
    const char **want = arg;
    struct json_object *doc = th_fexctl_json(lab_dir, "migrate", "list",
                                             NULL);
    size_t n = doc ? json_object_array_length(doc) : 0;
    int ok = 0;

    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(doc, i);

        if (!strcmp(th_jstr(m, "vm"), want[0])) {
            ok = !strcmp(th_jstr(m, "phase"), want[1]);
        }
    }
    json_object_put(doc);
    return ok;
}

static void
cancel_rolls_back(void **state)
{
    const char *cancelled[2] = { "r", "cancelled" };

    (void) state;
    FX(0, "started", "migrate", "r", "--to", "h2", "--no-wait",
       "--max-bandwidth", "2");
    assert_true(th_wait(vif_preassociated, "r", WAIT_MS));
    /* It answers once the rollback is over. */
    FX(0, "cancelled", "migrate", "cancel", "r");
    assert_true(state_is(cancelled));
    check_vm_on("r", "h1");
    EXPECT_VNICS("h1=10 h2=12 h3=11 h4=12 ");
    FX(1, "no migration", "migrate", "cancel", "nope");
}

/* The command line of process 'pid' as NUL-separated words in 'buf',
 * pointed at by 'argv' (NULL-terminated). */
static void
read_cmdline(pid_t pid, char *buf, size_t size, char **argv, size_t max)
{
    char path[64];
    size_t len, n = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/cmdline", (int) pid);
    f = fopen(path, "r");
    assert_non_null(f);
    len = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[len] = '\0';
    for (size_t i = 0; i < len && n < max - 1; i += strlen(buf + i) + 1) {
        argv[n++] = buf + i;
    }
    argv[n] = NULL;
}

static int
h2_down(void *arg)
{
    char st[16];

    (void) arg;
    return !strcmp(th_host_state(lab_dir, "h2", st, sizeof st, NULL, 0),
                   "down");
}

static int
h2_up(void *arg)
{
    return !h2_down(arg);
}

/* The agent of h2 dies while it receives; it comes back later with its
 * state dir, holding the domain it was preparing: reconciliation
 * undefines it, its vNIC goes back to the pool. */
static void
destination_killed_mid_transfer_rolls_back(void **state)
{
    const char *failed[2] = { "r", "failed" };
    const char *copying[2] = { "r", "perform" };
    pid_t pid = th_read_pid(lab_dir, "agentd-h2.pid");
    char buf[8192], log[4096], path[4096], *argv[32];
    struct fx_err err;

    (void) state;
    assert_true(pid > 0);
    read_cmdline(pid, buf, sizeof buf, argv, 32);
    FX(0, "started", "migrate", "r", "--to", "h2", "--no-wait",
       "--max-bandwidth", "2");
    assert_true(th_wait(phase_is, copying, WAIT_MS));
    kill(pid, SIGKILL);
    assert_true(th_wait(state_is, failed, WAIT_MS));
    check_vm_on("r", "h1");
    /* Its free vNICs as last reported are stale until it registers. */
    assert_true(th_wait(h2_down, NULL, WAIT_MS));
    snprintf(log, sizeof log, "%s/agentd-h2.log", lab_dir);
    assert_int_equal(fx_proc_spawn(argv, log, &pid, &err), 0);
    snprintf(path, sizeof path, "%s/agentd-h2.pid", lab_dir);
    assert_int_equal(fx_proc_pidfile_write(path, pid, &err), 0);
    assert_true(th_wait(h2_up, NULL, WAIT_MS));
    EXPECT_VNICS("h1=10 h2=12 h3=11 h4=12 ");
    check_vm_on("r", "h1");
    FX(0, NULL, "vm", "stop", "r");
    FX(0, NULL, "vm", "delete", "r");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrations_back_and_forth_under_traffic_lose_nothing),
        cmocka_unit_test(eight_migrations_at_once),
        cmocka_unit_test(dirty_rate_moves_with_the_guest),
        cmocka_unit_test(policy_refuses_plain_directpath_up_front),
        cmocka_unit_test(destination_refusals_roll_back),
        cmocka_unit_test(engine_failures_roll_back),
        cmocka_unit_test(cancel_rolls_back),
        cmocka_unit_test(destination_killed_mid_transfer_rolls_back),
    };

    return cmocka_run_group_tests(tests, lab_setup, lab_teardown);
}
