/* Crash recovery (issue 7): fabricd and agentd killed with SIGKILL at
 * several points, several times, in a lab over loopback; after each
 * restart every VM exists once and runs where it ran, the VIF table is the
 * one before (fexctl --json vif list, byte for byte), and each host's vNICs
 * in use are its VIFs.  And fabricd refuses a damaged state file with one
 * line and exit 1 instead of starting empty. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <event2/event.h>

#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "rpc.h"
#include "vmfex.pb-c.h"
#include "harness.h"

#define WAIT_MS 15000

/* Runs "fexctl --lab DIR ARGS..." and asserts it exits 0. */
static void
fx_ok(const char *dir, ...)
{
    char bin[4096], *argv[40], *out, *err;
    size_t n = 0;
    va_list ap;
    int rc;

    argv[n++] = (char *) th_bin(bin, sizeof bin, "fexctl");
    argv[n++] = "--lab";
    argv[n++] = (char *) dir;
    va_start(ap, dir);
    while (n < 39 && (argv[n] = va_arg(ap, char *))) {
        n++;
    }
    va_end(ap);
    argv[n] = NULL;
    rc = th_run(argv, &out, &err);
    if (rc) {
        fail_msg("'fexctl %s %s %s' exited %d: %s%s", argv[3], argv[4],
                 n > 5 ? argv[5] : "", rc, out, err);
    }
    free(out);
    free(err);
}
#define FX(dir, ...) fx_ok(dir, __VA_ARGS__, NULL)

/* stdout of "fexctl --lab DIR --json WHAT list" (caller frees), without
 * the seconds an offline VIF has left, which count down. */
static char *
list_json(const char *dir, const char *what)
{
    char *out = NULL;

    assert_int_equal(th_fexctl(&out, NULL, "--lab", dir, "--json", what,
                               "list", NULL), 0);
    return th_json_drop(out, "expires_in_s");
}

static void
wait_hosts_up(const char *dir, int hosts)
{
    assert_true(th_wait_hosts_up(dir, hosts, WAIT_MS));
}

/* SIGKILLs the daemon whose pid is in DIR/'pidfile'. */
static pid_t
kill9(const char *dir, const char *pidfile)
{
    pid_t pid = th_read_pid(dir, pidfile);

    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    while (fx_proc_alive(pid)) {
        fx_time_sleep_ms(5);   /* Reaped by init; the kernel is quick. */
    }
    return pid;
}

/* Starts fabricd again on the lab's address and state, as lab up did, and
 * records its pid for lab down. */
static void
restart_fabricd(const char *dir)
{
    char bin[4096], addr[64], path[4096], state[4096], log[4096];
    char secret[4096];
    char *argv[] = { bin, "--listen", addr, "--addr-file", path,
                     "--heartbeat-interval", "333", "--heartbeat-timeout",
                     "1000", "--state", state, "--secret-file", secret,
                     NULL };
    struct fx_err err;
    pid_t pid;

    th_fabric_addr(dir, addr, sizeof addr);
    snprintf(path, sizeof path, "%s/fabric.addr", dir);
    snprintf(secret, sizeof secret, "%s/secret", dir);
    th_bin(bin, sizeof bin, "fabricd");
    snprintf(state, sizeof state, "%s/fabric-state", dir);
    snprintf(log, sizeof log, "%s/fabricd.log", dir);
    assert_int_equal(fx_proc_spawn(argv, log, &pid, &err), 0);
    snprintf(path, sizeof path, "%s/fabricd.pid", dir);
    assert_int_equal(fx_proc_pidfile_write(path, pid, &err), 0);
}

/* The command line of the daemon whose pid is in DIR/'pidfile', as
 * NUL-separated words in 'buf'; stores pointers to them in 'argv'. */
static void
read_cmdline(const char *dir, const char *pidfile, char *buf, size_t size,
             char **argv, size_t max)
{
    char path[64];
    size_t len, n = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/cmdline",
             (int) th_read_pid(dir, pidfile));
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

/* SIGKILLs the agent of 'host' and starts it again with the same
 * command line (its --state among it), as lab up did. */
static void
restart_agentd(const char *dir, const char *host)
{
    char pidfile[64], buf[8192], log[4096], path[4096], *argv[32];
    struct fx_err err;
    pid_t pid;

    snprintf(pidfile, sizeof pidfile, "agentd-%s.pid", host);
    read_cmdline(dir, pidfile, buf, sizeof buf, argv, 32);
    kill9(dir, pidfile);
    snprintf(log, sizeof log, "%s/agentd-%s.log", dir, host);
    assert_int_equal(fx_proc_spawn(argv, log, &pid, &err), 0);
    snprintf(path, sizeof path, "%s/%s", dir, pidfile);
    assert_int_equal(fx_proc_pidfile_write(path, pid, &err), 0);
}

static int vnics_match(void *dir);
static void sh(const char *cmd);

/* The lab's VIF and VM tables, to compare across a crash. */
struct snap {
    char *vifs, *vms;
};

static void
snap_take(const char *dir, struct snap *s)
{
    s->vifs = list_json(dir, "vif");
    s->vms = list_json(dir, "vm");
}

static void
snap_check(const char *dir, struct snap *before, const char *when)
{
    struct snap now;

    snap_take(dir, &now);
    if (strcmp(before->vifs, now.vifs) || strcmp(before->vms, now.vms)) {
        fail_msg("%s: tables differ\nbefore:\n%s%s\nafter:\n%s%s", when,
                 before->vifs, before->vms, now.vifs, now.vms);
    }
    free(now.vifs);
    free(now.vms);
    /* vNICs free reach the fabric with the next heartbeat. */
    assert_true(th_wait(vnics_match, (void *) dir, WAIT_MS));
}

static void
snap_free(struct snap *s)
{
    free(s->vifs);
    free(s->vms);
}

/* A lab of two hosts with VMs in every state: v1 running on h1, v2
 * defined on h2, v3 running on h2, a1 without NICs, one VM deleted and
 * NICs removed so that ids have holes. */
static void
populate(const char *dir)
{
    FX(dir, "profile", "create", "web", "--vlan", "10");
    FX(dir, "profile", "create", "db", "--vlan", "20,30", "--max-ports",
       "8");
    FX(dir, "vm", "create", "v1", "--host", "h1", "--memory", "512",
       "--nic", "web", "--nic", "db");
    FX(dir, "vm", "create", "v2", "--host", "h2", "--memory", "256",
       "--nic", "web");
    FX(dir, "vm", "create", "gone", "--host", "h2", "--memory", "256",
       "--nic", "db");
    FX(dir, "vm", "create", "v3", "--host", "h2", "--memory", "256",
       "--nic", "db", "--nic", "web");
    FX(dir, "vm", "delete", "gone");
    FX(dir, "vm", "nic", "remove", "v3", "--vif", "6");
    FX(dir, "vm", "nic", "add", "v2", "--nic", "db");
    FX(dir, "vm", "start", "v1");
    FX(dir, "vm", "start", "v3");
    /* Hot-removing VIF 1 moves VIF 7 into its slot of the table, and a1
     * comes after v3: listings must not depend on such history. */
    FX(dir, "vm", "nic", "remove", "v1", "--vif", "1");
    FX(dir, "vm", "create", "a1", "--host", "h1", "--memory", "64");
    /* Features and snapshots are the VM's too. */
    FX(dir, "vm", "ft", "v2", "--enable");
    FX(dir, "vm", "ha", "a1", "--enable");
    FX(dir, "vm", "snapshot", "v2");
}

static int
lab_setup(void **state)
{
    char *dir = th_mkdtemp("recovery");

    if (th_lab_up(dir, 2, "--vnics", "8", "--heartbeat-timeout", "1000",
                  NULL)) {
        return -1;
    }
    *state = dir;
    return 0;
}

static int
lab_teardown(void **state)
{
    char *dir = *state;

    th_lab_down(dir);
    th_rmrf(dir);
    free(dir);
    return 0;
}

/* fabricd killed three times between operations, and once more after
 * further changes: every object comes back, hosts come back up. */
static void
fabricd_killed_between_changes(void **state)
{
    const char *dir = *state;
    struct snap before;

    populate(dir);
    snap_take(dir, &before);
    for (int round = 0; round < 3; round++) {
        kill9(dir, "fabricd.pid");
        restart_fabricd(dir);
        wait_hosts_up(dir, 2);
        snap_check(dir, &before, "after fabricd SIGKILL");
    }
    /* Changes after a restart are durable too, ids are not reused. */
    FX(dir, "vm", "stop", "v1");
    FX(dir, "vm", "create", "v4", "--host", "h1", "--memory", "128",
       "--nic", "web");
    snap_free(&before);
    snap_take(dir, &before);
    assert_non_null(strstr(before.vifs, "\"id\":8"));
    kill9(dir, "fabricd.pid");
    restart_fabricd(dir);
    wait_hosts_up(dir, 2);
    snap_check(dir, &before, "after changes and SIGKILL");
    snap_free(&before);
    th_lab_down(dir);
    assert_true(th_logs_clean(dir));
}

/* ---- Killed with an operation in flight ---- */

/* How many times 'needle' occurs in file 'path'. */
static int
count_in_file(const char *path, const char *needle)
{
    char line[1024];
    int n = 0;
    FILE *f = fopen(path, "r");

    while (f && fgets(line, sizeof line, f)) {
        n += strstr(line, needle) != NULL;
    }
    if (f) {
        fclose(f);
    }
    return n;
}

struct reconciled_arg {
    char log[4096];
    int want;
};

static int
reconciled(void *arg_)
{
    struct reconciled_arg *arg = arg_;

    return count_in_file(arg->log, "reconciled:") >= arg->want;
}

/* Each host's vNICs in use (total - free) are its VIFs. */
static int
vnics_match(void *dir)
{
    struct json_object *hosts = th_fexctl_json(dir, "host", "list", NULL);
    struct json_object *vifs = th_fexctl_json(dir, "vif", "list", NULL);
    struct json_object *ha, *va, *v;
    int ok = hosts && vifs && json_object_object_get_ex(hosts, "hosts", &ha)
             && json_object_object_get_ex(vifs, "vifs", &va);

    for (size_t i = 0; ok && i < json_object_array_length(ha); i++) {
        struct json_object *h = json_object_array_get_idx(ha, i);
        int64_t used;

        json_object_object_get_ex(h, "vnics_total", &v);
        used = json_object_get_int64(v);
        json_object_object_get_ex(h, "vnics_free", &v);
        used -= json_object_get_int64(v);
        json_object_object_get_ex(h, "name", &v);
        for (size_t j = 0; j < json_object_array_length(va); j++) {
            struct json_object *hv;

            json_object_object_get_ex(json_object_array_get_idx(va, j),
                                      "host", &hv);
            used -= !strcmp(json_object_get_string(hv),
                            json_object_get_string(v));
        }
        ok = used == 0;
    }
    json_object_put(hosts);
    json_object_put(vifs);
    return ok;
}

/* The state of VM 'name' in the fabric: 1 running, 0 stopped, -1 absent;
 * asserts it appears at most once and its VIFs agree with it. */
static int
vm_state(const char *dir, const char *name)
{
    struct json_object *doc = th_fexctl_json(dir, "vm", "list", NULL);
    struct json_object *vms, *vm, *v;
    int found = -1;

    assert_true(json_object_object_get_ex(doc, "vms", &vms));
    for (size_t i = 0; i < json_object_array_length(vms); i++) {
        vm = json_object_array_get_idx(vms, i);
        json_object_object_get_ex(vm, "name", &v);
        if (strcmp(json_object_get_string(v), name)) {
            continue;
        }
        assert_int_equal(found, -1);
        json_object_object_get_ex(vm, "state", &v);
        found = !strcmp(json_object_get_string(v), "running");
    }
    json_object_put(doc);
    return found;
}

/* Each operation is sent, and fabricd (or, with 'agent', the agent of h1)
 * SIGKILLed 0-4 ms later: before, during or after the agent's part.
 * After the restart and the reconciliation, the fabric and the hosts
 * agree: the VM's state in the fabric is one the host accepts the
 * opposite operation from, vNICs in use equal VIFs, nothing doubled. */
static void
killed_in_flight(const char *dir, int agent)
{
    static const char *const ops[][8] = {
        { "vm", "start", "v2", NULL },
        { "vm", "stop", "v1", NULL },
        { "vm", "create", "v5", "--host", "h1", "--memory", "64", NULL },
        { "vm", "start", "v5", NULL },
        { "vm", "nic", "add", "v5", "--nic", "web", NULL },
        { "vm", "nic", "add", "v5", "--nic", "db", NULL },
        { "vm", "stop", "v5", NULL },
        { "vm", "delete", "v5", NULL },
    };
    struct reconciled_arg rarg;
    char bin[4096], log[4096];

    populate(dir);
    snprintf(rarg.log, sizeof rarg.log, "%s/fabricd.log", dir);
    snprintf(log, sizeof log, "%s/client.log", dir);
    rarg.want = count_in_file(rarg.log, "reconciled:");
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        char *argv[12] = { bin, "--lab", (char *) dir };
        struct fx_err err;
        const char *vm = ops[i][strcmp(ops[i][1], "nic") ? 2 : 3];
        pid_t pid;
        int st;

        th_bin(bin, sizeof bin, "fexctl");
        for (size_t k = 0; ops[i][k]; k++) {
            argv[3 + k] = (char *) ops[i][k];
        }
        assert_int_equal(fx_proc_spawn(argv, log, &pid, &err), 0);
        /* Varies the crash point; not a synchronization. */
        fx_time_sleep_ms((uint32_t) (i % 5));
        if (agent) {
            restart_agentd(dir, "h1");
            rarg.want += 1;
        } else {
            kill9(dir, "fabricd.pid");
            restart_fabricd(dir);
            rarg.want += 2;
        }
        while (fx_proc_alive(pid)) {
            fx_time_sleep_ms(5);
        }
        assert_true(th_wait(reconciled, &rarg, WAIT_MS));
        assert_true(th_wait(vnics_match, (void *) dir, WAIT_MS));
        st = vm_state(dir, vm);
        /* The host takes the operation the fabric's state allows. */
        if (st == 1) {
            FX(dir, "vm", "stop", vm);
            FX(dir, "vm", "start", vm);
        } else if (st == 0) {
            FX(dir, "vm", "start", vm);
            FX(dir, "vm", "stop", vm);
        } else {
            FX(dir, "vm", "create", vm, "--host", "h1", "--memory", "64");
            FX(dir, "vm", "delete", vm);
        }
        if (!strcmp(ops[i][1], "create") && st < 0) {
            FX(dir, "vm", "create", vm, "--host", "h1", "--memory", "64");
        }
    }
    assert_true(th_wait(vnics_match, (void *) dir, WAIT_MS));
    th_lab_down(dir);
    assert_true(th_logs_clean(dir));
}

static void
fabricd_killed_in_flight(void **state)
{
    killed_in_flight(*state, 0);
}

static void
agentd_killed_in_flight(void **state)
{
    killed_in_flight(*state, 1);
}

/* Each agent killed twice between changes: it finds its domains (its
 * libvirt node file) and vNICs (same vNIC for the same MAC) again and
 * registers once more; nothing is lost or doubled. */
static void
agentd_killed_between_changes(void **state)
{
    const char *dir = *state;
    struct reconciled_arg rarg;
    struct snap before;

    populate(dir);
    snprintf(rarg.log, sizeof rarg.log, "%s/fabricd.log", dir);
    rarg.want = count_in_file(rarg.log, "reconciled:");
    snap_take(dir, &before);
    for (int round = 0; round < 4; round++) {
        restart_agentd(dir, round % 2 ? "h2" : "h1");
        rarg.want++;
        assert_true(th_wait(reconciled, &rarg, WAIT_MS));
        wait_hosts_up(dir, 2);
        snap_check(dir, &before, "after agentd SIGKILL");
    }
    /* Both at once, and fabricd too. */
    restart_agentd(dir, "h1");
    restart_agentd(dir, "h2");
    kill9(dir, "fabricd.pid");
    restart_fabricd(dir);
    wait_hosts_up(dir, 2);
    snap_check(dir, &before, "after every daemon was SIGKILLed");
    /* The restored VMs obey: v1 stops, v2 starts, v3 deletes. */
    FX(dir, "vm", "stop", "v1");
    FX(dir, "vm", "start", "v2");
    FX(dir, "vm", "stop", "v3");
    FX(dir, "vm", "delete", "v3");
    assert_true(th_wait(vnics_match, (void *) dir, WAIT_MS));
    snap_free(&before);
    th_lab_down(dir);
    assert_true(th_logs_clean(dir));
    assert_int_equal(count_in_file(rarg.log, "never acknowledged"), 0);
}

/* ---- Behind the fabric's back ---- */

/* The agent address of host 'name' (from fexctl host list) into 'buf'. */
static void
agent_addr(const char *dir, const char *name, char *buf, size_t size)
{
    struct json_object *doc = th_fexctl_json(dir, "host", "list", NULL);
    struct json_object *hosts, *h, *v;

    buf[0] = '\0';
    assert_true(json_object_object_get_ex(doc, "hosts", &hosts));
    for (size_t i = 0; i < json_object_array_length(hosts); i++) {
        h = json_object_array_get_idx(hosts, i);
        json_object_object_get_ex(h, "name", &v);
        if (!strcmp(json_object_get_string(v), name)) {
            json_object_object_get_ex(h, "address", &v);
            snprintf(buf, size, "%s", json_object_get_string(v));
        }
    }
    json_object_put(doc);
    assert_true(buf[0]);
}

/* Calls 'method' on the agent at 'addr' directly, as if the fabric had
 * done it and crashed before recording the outcome. */
static void
agent_call(const char *dir, const char *addr, const char *method,
           const ProtobufCMessage *req)
{
    struct event_base *base = event_base_new();
    ProtobufCMessage *rep = NULL;
    struct rpc_conn *conn;
    struct rpc_opts opts;
    struct auth_key key;
    struct fx_err err;

    th_lab_opts(dir, AUTH_ROLE_FABRIC, &key, &opts);
    conn = rpc_conn_connect(base, addr, &opts, NULL, NULL, NULL, &err);
    assert_non_null(conn);
    if (rpc_call_sync(conn, method, req,
                      &fexsim__v1__agent_vm_reply__descriptor, 5000, &rep,
                      &err)) {
        fail_msg("%s: %s", method, err.msg);
    }
    protobuf_c_message_free_unpacked(rep, NULL);
    rpc_conn_destroy(conn);
    event_base_free(base);
}

static void
agent_define(const char *dir, const char *addr, const char *vm,
             uint64_t mib, const char *const *macs,
             const char *const *profiles, size_t n, int create)
{
    Fexsim__V1__AgentVmRequest req = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    Fexsim__V1__AgentVm a = FEXSIM__V1__AGENT_VM__INIT;
    Fexsim__V1__AgentNic nics[4], *ptrs[4];

    a.name = (char *) vm;
    a.memory_mib = mib;
    a.n_nics = n;
    a.nics = ptrs;
    for (size_t i = 0; i < n; i++) {
        fexsim__v1__agent_nic__init(&nics[i]);
        nics[i].mac = (char *) macs[i];
        nics[i].profile = (char *) profiles[i];
        nics[i].vlan = 10;
        ptrs[i] = &nics[i];
    }
    req.vm = &a;
    req.create = create;
    agent_call(dir, addr, "HostVms.Define", &req.base);
}

/* What the fabric never acknowledged is undone, what the host did is
 * followed: a domain defined behind its back is undefined, a NIC added
 * behind its back is removed, a VM stopped behind its back is stopped in
 * the fabric too; then the tables are the ones before. */
static void
reconcile_after_changes_behind_the_fabric(void **state)
{
    const char *dir = *state;
    static const char *const stray_mac[] = { "00:25:b5:00:ff:01" };
    static const char *const v2_macs[] = { "00:25:b5:00:00:03",
                                           "00:25:b5:00:00:07",
                                           "00:25:b5:00:ff:02" };
    static const char *const profiles[] = { "web", "db", "web" };
    Fexsim__V1__AgentVmNameRequest stop =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    struct reconciled_arg rarg;
    struct snap before;
    char addr[64];

    populate(dir);
    /* The guest's dirty rate is its agent's: the fabric learns it back. */
    FX(dir, "vm", "set", "v1", "--dirty-rate", "777");
    snap_take(dir, &before);
    assert_non_null(strstr(before.vifs, v2_macs[1]));
    assert_non_null(strstr(before.vms, "\"dirty_rate_pages_per_s\":777"));
    agent_addr(dir, "h2", addr, sizeof addr);
    agent_define(dir, addr, "stray", 64, stray_mac, profiles, 1, 1);
    agent_define(dir, addr, "v2", 256, v2_macs, profiles, 3, 0);
    stop.name = "v3";
    agent_call(dir, addr, "HostVms.Stop", &stop.base);

    snprintf(rarg.log, sizeof rarg.log, "%s/fabricd.log", dir);
    rarg.want = count_in_file(rarg.log, "reconciled:") + 2;
    kill9(dir, "fabricd.pid");
    restart_fabricd(dir);
    assert_true(th_wait(reconciled, &rarg, WAIT_MS));
    assert_true(th_wait(vnics_match, (void *) dir, WAIT_MS));
    assert_int_equal(vm_state(dir, "v3"), 0);
    assert_int_equal(vm_state(dir, "stray"), -1);
    assert_int_equal(count_in_file(rarg.log, "'stray' is defined on host "
                                   "'h2' but was never acknowledged"), 1);
    assert_int_equal(count_in_file(rarg.log, "VM 'v2' on host 'h2' is "
                                   "missing or has NICs unlike"), 1);
    assert_int_equal(count_in_file(rarg.log, "VM 'v3' is stopped on host "
                                   "'h2'"), 1);
    FX(dir, "vm", "start", "v3");
    snap_check(dir, &before, "after reconciliation");
    /* The stray's name is free again, its vNIC too. */
    FX(dir, "vm", "create", "stray", "--host", "h2", "--memory", "64");
    FX(dir, "vm", "delete", "stray");
    snap_free(&before);
    th_lab_down(dir);
    assert_true(th_logs_clean(dir));
}

/* An agent that lost its state dir (a host reinstalled, or an agent run
 * without --state) gets its VMs defined again from the fabric's
 * configuration, stopped: same VMs, same VIFs and MACs, no vNIC leaked. */
static void
agent_without_its_state_gets_the_fabrics_configuration(void **state)
{
    const char *dir = *state;
    struct reconciled_arg rarg;
    char cmd[4200];

    populate(dir);
    snprintf(rarg.log, sizeof rarg.log, "%s/fabricd.log", dir);
    rarg.want = count_in_file(rarg.log, "reconciled:") + 1;
    snprintf(cmd, sizeof cmd, "rm -r %s/h2-state", dir);
    sh(cmd);
    restart_agentd(dir, "h2");
    assert_true(th_wait(reconciled, &rarg, WAIT_MS));
    assert_true(th_wait(vnics_match, (void *) dir, WAIT_MS));
    assert_int_equal(vm_state(dir, "v3"), 0);
    assert_int_equal(vm_state(dir, "v2"), 0);
    assert_int_equal(vm_state(dir, "v1"), 1);
    FX(dir, "vm", "start", "v3");
    FX(dir, "vm", "start", "v2");
    assert_true(th_wait(vnics_match, (void *) dir, WAIT_MS));
    th_lab_down(dir);
    assert_true(th_logs_clean(dir));
}

/* ---- A damaged state file ---- */

/* Runs fabricd on 'state' (bounded by timeout(1), should it start) and
 * asserts it refuses: exit 1, one line on stderr naming the file and
 * containing 'want'. */
static void
expect_refusal(const char *state, const char *want, const char *what)
{
    char bin[4096], *out, *err;
    char *argv[] = { "/usr/bin/timeout", "10", bin, "--listen", "127.0.0.1:0",
                     "--state", (char *) state, NULL };
    int rc;

    th_bin(bin, sizeof bin, "fabricd");
    rc = th_run(argv, &out, &err);
    if (rc != 1 || !strstr(err, "fabricd: ") || !strstr(err, "fabric.db")
        || !strstr(err, want) || strchr(err, '\n') != err + strlen(err) - 1) {
        fail_msg("%s: fabricd exited %d (want 1, one line with '%s'):\n%s",
                 what, rc, want, err);
    }
    free(out);
    free(err);
}

static void
sh(const char *cmd)
{
    char *argv[] = { "/bin/sh", "-c", (char *) cmd, NULL };

    assert_int_equal(th_run(argv, NULL, NULL), 0);
}

/* A state dir left by a SIGKILLed fabricd (commits still in the WAL) and
 * one closed cleanly, each damaged in the ways a disk or a careless hand
 * damages files: fabricd refuses every one rather than start empty. */
static void
fabricd_refuses_damaged_state(void **state)
{
    const char *dir = *state;
    char cmd[16384], st[4096];
    /* 'crashed': commits still in the WAL; 'clean': checkpointed. */
    static const struct {
        const char *what, *base, *damage, *want;
    } cases[] = {
        { "db emptied", "clean", "truncate -s 0 S/fabric.db", "" },
        { "db cut short", "clean", "truncate -s 5000 S/fabric.db", "" },
        { "garbage in a page", "clean", "dd if=/dev/urandom of=S/fabric.db "
          "bs=4096 seek=2 count=2 conv=notrunc status=none", "" },
        { "header overwritten", "clean", "dd if=/dev/zero of=S/fabric.db "
          "bs=16 count=1 conv=notrunc status=none", "" },
        { "WAL header damaged", "crashed", "printf XXXX | dd "
          "of=S/fabric.db-wal bs=1 seek=0 conv=notrunc status=none", "" },
        { "not a database", "clean", "echo hello > S/fabric.db", "" },
    };

    populate(dir);
    snprintf(st, sizeof st, "%s/fabric-state", dir);
    kill9(dir, "fabricd.pid");
    snprintf(cmd, sizeof cmd, "cp -a %s %s/crashed && ls %s/crashed/"
             "fabric.db-wal >/dev/null", st, dir, dir);
    sh(cmd);
    restart_fabricd(dir);
    wait_hosts_up(dir, 2);
    th_lab_down(dir);
    snprintf(cmd, sizeof cmd, "cp -a %s %s/clean && ! ls %s/clean/"
             "fabric.db-wal 2>/dev/null", st, dir, dir);
    sh(cmd);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char damage[1024];
        const char *p;
        size_t n = 0;

        /* S in the damage command is the state dir. */
        for (p = cases[i].damage; *p && n + strlen(st) < sizeof damage - 1;
             p++) {
            n += (size_t) (*p == 'S' && (p[1] == '/')
                           ? snprintf(damage + n, sizeof damage - n, "%s", st)
                           : snprintf(damage + n, sizeof damage - n, "%c",
                                      *p));
        }
        snprintf(cmd, sizeof cmd, "rm -rf %s && cp -a %s/%s %s && %s", st,
                 dir, cases[i].base, st, damage);
        sh(cmd);
        expect_refusal(st, cases[i].want, cases[i].what);
    }
    assert_true(th_logs_clean(dir));
}

/* Runs agentd with 'argv' (its lab command line) under a timeout and
 * asserts it refuses to start: exit 1, a line on stderr with 'want'. */
static void
expect_agentd_refusal(char **argv, const char *want, const char *what)
{
    char *run[40] = { "/usr/bin/timeout", "10" }, *out, *err;
    size_t n = 2;
    int rc;

    for (size_t i = 0; argv[i] && n < 39; i++) {
        run[n++] = argv[i];
    }
    run[n] = NULL;
    rc = th_run(run, &out, &err);
    if (rc != 1 || !strstr(err, "agentd: ") || !strstr(err, want)) {
        fail_msg("%s: agentd exited %d (want 1 and '%s'):\n%s", what, rc,
                 want, err);
    }
    free(out);
    free(err);
}

/* An agent restarted on a state dir it cannot restore does not start
 * half-restored: not on a damaged vnics file, not when a domain's vNIC is
 * gone (the adapter has fewer now), where it would leave that vNIC free
 * for another VM. */
static void
agentd_refuses_damaged_state(void **state)
{
    const char *dir = *state;
    char buf[8192], cmd[16384], *argv[32];

    FX(dir, "profile", "create", "web", "--vlan", "10");
    FX(dir, "vm", "create", "v1", "--host", "h1", "--memory", "64",
       "--nic", "web", "--nic", "web");
    FX(dir, "vm", "start", "v1");
    read_cmdline(dir, "agentd-h1.pid", buf, sizeof buf, argv, 32);
    kill9(dir, "agentd-h1.pid");

    snprintf(cmd, sizeof cmd, "cp %s/h1-state/vnics %s/vnics.good && "
             "echo garbage >> %s/h1-state/vnics", dir, dir, dir);
    sh(cmd);
    expect_agentd_refusal(argv, "is damaged", "garbage in the vnics file");

    snprintf(cmd, sizeof cmd, "cp %s/vnics.good %s/h1-state/vnics", dir,
             dir);
    sh(cmd);
    for (size_t i = 0; argv[i]; i++) {
        if (!strcmp(argv[i], "--vnics") && argv[i + 1]) {
            argv[i + 1] = "1";
        }
    }
    expect_agentd_refusal(argv, "VM 'v1' NIC", "a vNIC the VIC lost");
    assert_true(th_logs_clean(dir));
}

/* A change the agent cannot make durable is not answered as done: a VM
 * whose host state cannot be written is not created. */
static void
agentd_reports_state_it_cannot_save(void **state)
{
    const char *dir = *state;
    char cmd[8192], *err = NULL;
    struct json_object *doc;

    FX(dir, "profile", "create", "web", "--vlan", "10");
    /* rename() of the new file over a directory fails. */
    snprintf(cmd, sizeof cmd, "rm %s/h1-state/vnics && mkdir "
             "%s/h1-state/vnics", dir, dir);
    sh(cmd);
    assert_int_equal(th_fexctl(NULL, &err, "--lab", dir, "vm", "create",
                               "v1", "--host", "h1", "--memory", "64",
                               "--nic", "web", NULL), 1);
    if (!strstr(err, "host state not saved")) {
        fail_msg("vm create failed without saying why: %s", err);
    }
    free(err);
    doc = th_fexctl_json(dir, "vm", "list", NULL);
    assert_non_null(doc);
    assert_int_equal(json_object_array_length(th_jarr(doc, "vms")), 0);
    json_object_put(doc);
    assert_true(th_logs_clean(dir));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fabricd_killed_between_changes,
                                        lab_setup, lab_teardown),
        cmocka_unit_test_setup_teardown(fabricd_killed_in_flight,
                                        lab_setup, lab_teardown),
        cmocka_unit_test_setup_teardown(agentd_killed_between_changes,
                                        lab_setup, lab_teardown),
        cmocka_unit_test_setup_teardown(agentd_killed_in_flight,
                                        lab_setup, lab_teardown),
        cmocka_unit_test_setup_teardown(
            reconcile_after_changes_behind_the_fabric, lab_setup,
            lab_teardown),
        cmocka_unit_test_setup_teardown(
            agent_without_its_state_gets_the_fabrics_configuration,
            lab_setup, lab_teardown),
        cmocka_unit_test_setup_teardown(fabricd_refuses_damaged_state,
                                        lab_setup, lab_teardown),
        cmocka_unit_test_setup_teardown(agentd_refuses_damaged_state,
                                        lab_setup, lab_teardown),
        cmocka_unit_test_setup_teardown(agentd_reports_state_it_cannot_save,
                                        lab_setup, lab_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
