/* Integration: a lab (fabricd + agentd over loopback, libvirt's embedded
 * test driver) driven through fexctl, end to end: passthrough
 * configuration, port profiles, VMs, VIFs, and every DirectPath rule at
 * and one past its bound. */
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
#include <json-c/json.h>

#include "agent.pb-c.h"
#include "fx_err.h"
#include "fx_proc.h"
#include "rpc.h"
#include "vmfex.pb-c.h"
#include "harness.h"

struct lab {
    char *dir;
};

static struct lab *the_lab;

static void
fx_vcheck(int line, int want_rc, const char *want, int absent, va_list ap)
{
    char bin[4096], *argv[48], *out, *err;
    size_t n = 0;
    int rc;

    argv[n++] = (char *) th_bin(bin, sizeof bin, "fexctl");
    argv[n++] = "--lab";
    argv[n++] = the_lab->dir;
    while (n < 47 && (argv[n] = va_arg(ap, char *))) {
        n++;
    }
    argv[n] = NULL;
    rc = th_run(argv, &out, &err);
    if (rc != want_rc || (want && absent == (strstr(out, want) || strstr(err,
                                                                   want)))) {
        fail_msg("line %d: '%s %s %s' exited %d (want %d, '%s')\n"
                 "stdout: %s\nstderr: %s", line, argv[3], argv[4],
                 n > 5 ? argv[5] : "", rc, want_rc, want ? want : "", out,
                 err);
    }
    free(out);
    free(err);
}

/* Runs "fexctl --lab DIR ARGS..." and checks its exit status and that
 * stdout or stderr contains 'want' (NULL: anything) or, with 'absent',
 * that neither does. */
static void
fx_check(int line, int want_rc, const char *want, int absent, ...)
{
    va_list ap;

    va_start(ap, absent);
    fx_vcheck(line, want_rc, want, absent, ap);
    va_end(ap);
}
#define FX(rc, want, ...) fx_check(__LINE__, rc, want, 0, __VA_ARGS__, NULL)

/* Seconds until the VM lifecycle policy removes VM 'vm''s first VIF, as
 * `vif list --json` shows it (0: online). */
static int64_t
vif_expires_in(const char *vm)
{
    struct json_object *doc = th_fexctl_json(the_lab->dir, "vif", "list",
                                             NULL);
    struct json_object *vifs = doc ? th_jarr(doc, "vifs") : NULL;
    int64_t s = -1;

    for (size_t i = 0; vifs && i < json_object_array_length(vifs); i++) {
        struct json_object *v = json_object_array_get_idx(vifs, i);

        if (!strcmp(th_jstr(v, "vm"), vm)) {
            s = th_jint(v, "expires_in_s");
            break;
        }
    }
    json_object_put(doc);
    return s;
}

/* True if the log of host 'host''s agent holds 'want'.  The agent logs
 * before it replies, so what a command did is there when fexctl returns. */
static int
agent_logged(const char *host, const char *want)
{
    char path[4096], *text;
    long len;
    FILE *f;
    int found;

    snprintf(path, sizeof path, "%s/agentd-%s.log", the_lab->dir, host);
    f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = calloc(1, (size_t) len + 1);
    assert_int_equal(fread(text, 1, (size_t) len, f), (size_t) len);
    fclose(f);
    found = strstr(text, want) != NULL;
    free(text);
    return found;
}
#define FX_NOT(rc, nowant, ...) \
    fx_check(__LINE__, rc, nowant, 1, __VA_ARGS__, NULL)

static int
lab_setup(void **state)
{
    static struct lab lab;

    lab.dir = th_mkdtemp("vmfex");
    the_lab = &lab;
    if (th_fexctl(NULL, NULL, "lab", "up", "--hosts", "1", "--vnics", "8",
                  "--dir", lab.dir, NULL)) {
        return -1;
    }
    *state = &lab;
    return 0;
}

static int
lab_teardown(void **state)
{
    struct lab *lab = *state;

    th_fexctl(NULL, NULL, "lab", "down", "--dir", lab->dir, NULL);
    th_rmrf(lab->dir);
    free(lab->dir);
    return 0;
}

/* The seed's walk: not enabled, warning for a device in use, pending
 * reboot, then assignable. */
static void
passthrough_walk(void)
{
    FX(0, "No devices currently enabled for passthrough",
       "host", "passthrough", "h1");
    /* A refusal by the agent's rule keeps its reason through fabricd
     * (each refused create takes a VIF id: see below). */
    FX(1, "on this host [reason: deviceNotEnabled]", "vm",
       "create", "v1", "--host", "h1", "--memory", "1024", "--nic",
       "pp,directpath");
    FX(1, "--force", "host", "passthrough", "h1", "--enable",
       "0000:01:00.0");
    FX(1, "[reason: deviceInUse]", "host", "passthrough", "h1", "--enable",
       "0000:01:00.0");
    FX(0, "pending reboot", "host", "passthrough", "h1", "--enable",
       "0000:0b:00.0");
    FX(1, "[reason: rebootPending]", "vm", "create", "v1", "--host", "h1",
       "--memory", "1024", "--nic", "pp,directpath");
    FX(0, "active", "host", "reboot", "h1");
    FX(1, "no PCI device", "host", "passthrough", "h1", "--enable",
       "0000:99:00.0");
}

static void
profiles_and_ports(void)
{
    FX(0, NULL, "profile", "create", "pp", "--vlan", "100", "--max-ports",
       "2");
    FX(0, NULL, "profile", "create", "hp", "--vlan", "1,4094", "--qos",
       "gold", "--high-performance");
    FX(2, "4095", "profile", "create", "bad", "--vlan", "4095");
    FX(2, "--max-ports", "profile", "create", "bad", "--vlan", "5",
       "--max-ports", "0");
    FX(1, "QoS", "profile", "create", "bad", "--vlan", "5", "--qos", "x");
    FX(1, "already exists", "profile", "create", "pp", "--vlan", "7");
    FX(0, "\"high_performance\":true", "--json", "profile", "list");
    FX(0, "\"created\":true", "--json", "profile", "create", "tmp",
       "--vlan", "4094", "--max-ports", "4096");
    FX(0, "\"deleted\":true", "--json", "profile", "delete", "tmp");
    FX(1, "not found", "profile", "delete", "tmp");
}

static void
vmfex_lab_plain_directpath_loses_features(void **state)
{
    (void) state;
    profiles_and_ports();
    passthrough_walk();
    FX(0, "\"reservation_mib\":1024", "--json", "vm", "create", "v1",
       "--host", "h1", "--memory", "1024", "--nic", "pp,directpath");
    /* pp has 2 ports, v1 holds one: a VM wanting two gets neither. */
    FX(1, "ports in use", "vm", "create", "v2", "--host", "h1", "--memory",
       "64", "--nic", "pp", "--nic", "pp");
    FX(1, "not found", "vm", "start", "v2");
    FX(0, "1/2", "profile", "list");
    FX(1, "in use", "profile", "delete", "pp");
    FX(1, "[reason: profileInUse]", "--json", "profile", "delete", "pp");
    FX(1, "vMotion", "vm", "check", "v1", "--op", "migrate");
    FX(1, "\"reason\":\"lostFeatureVmotion\"", "--json", "vm", "check",
       "v1", "--op", "migrate");
    FX(1, "snapshots", "vm", "snapshot", "v1");
    FX(1, "[reason: lostFeatureSnapshot]", "vm", "snapshot", "v1");
    FX(1, "record and replay", "vm", "record", "v1");
    FX(1, "fault tolerance", "vm", "ft", "v1", "--enable");
    FX(1, "[reason: lostFeatureFaultTolerance]", "vm", "ft", "v1",
       "--enable");
    FX(1, "HA", "vm", "ha", "v1", "--enable");
    assert_false(agent_logged("h1", "VM 'v1': 1024 MiB of guest memory"));
    /* Powered off, its VIF is offline: the lifecycle policy's default 15
     * minutes run (and the table says so); running, nothing runs out. */
    {
        int64_t s = vif_expires_in("v1");

        assert_true(s > 14 * 60 && s <= 15 * 60);
        FX(0, "offline  1", "vif", "list");
    }
    FX(0, "running", "vm", "start", "v1");
    assert_int_equal(vif_expires_in("v1"), 0);
    /* Its RAM exists while it runs, not only once it migrates. */
    assert_true(agent_logged("h1", "VM 'v1': 1024 MiB of guest memory"));
    FX(1, "hot-add", "vm", "nic", "add", "v1", "--nic", "hp");
    FX(1, "powered off", "vm", "nic", "add", "v1", "--nic", "hp,directpath");
    FX(1, "stop it first", "vm", "delete", "v1");
    FX(1, "[reason: vmRunning]", "vm", "delete", "v1");
    FX(0, "\"host\":\"h1\"", "--json", "vm", "list");
    FX(0, "00:25:b5:00:00:", "vif", "list");
    FX(1, "unknown operation", "vm", "check", "v1", "--op", "vmotion");
    assert_false(agent_logged("h1", "VM 'v1': guest memory released"));
    FX(0, "stopped", "vm", "stop", "v1");
    assert_true(agent_logged("h1", "VM 'v1': guest memory released"));
    FX(0, "deleted", "vm", "delete", "v1");
    FX(0, NULL, "profile", "delete", "pp");
    FX_NOT(0, "00:25:b5", "vif", "list");
    FX_NOT(0, "v1", "vm", "list");
}

static void
vmfex_lab_high_performance_keeps_features(void **state)
{
    (void) state;
    profiles_and_ports();
    passthrough_walk();
    FX(0, "6 directpath", "vm", "create", "v3", "--host", "h1", "--memory",
       "65536", "--nic", "hp,directpath", "--nic", "hp,directpath", "--nic",
       "hp,directpath", "--nic", "hp,directpath", "--nic", "hp,directpath",
       "--nic", "hp,directpath");
    FX(1, "6 DirectPath", "vm", "nic", "add", "v3", "--nic",
       "hp,directpath");
    FX(0, "allowed", "vm", "check", "v3", "--op", "migrate");
    FX(0, "\"snapshots\":1", "--json", "vm", "snapshot", "v3");
    FX(0, "\"ft\":true", "--json", "vm", "ft", "v3", "--enable");
    FX(0, "\"ha\":true", "--json", "vm", "ha", "v3", "--enable");
    /* 65536 MiB reserved of 65536: fits exactly. */
    FX(0, "running", "vm", "start", "v3");
    FX(0, "online", "vm", "nic", "add", "v3", "--nic", "pp");
    /* 8 vNICs: v3 holds 7; one more NIC fits, two do not. */
    FX(0, NULL, "vm", "create", "v4", "--host", "h1", "--memory", "1",
       "--nic", "hp,directpath");
    FX(1, "no free dynamic vNIC", "vm", "create", "v5", "--host", "h1",
       "--memory", "1", "--nic", "pp");
    FX(1, "unreserved", "vm", "start", "v4");
    FX(1, "VMs are running", "host", "reboot", "h1");
    FX(1, "[reason: vmsRunning]", "host", "reboot", "h1");
    /* VIF ids: the two refused creates of the walk took 1-2, v3's six
     * DirectPath NICs 3-8, the hot-added one is 9.  A running VM on a
     * high-performance profile may lose it hot, not a DirectPath one. */
    FX(1, "powered off", "vm", "nic", "remove", "v3", "--vif", "8");
    FX(0, "NIC removed", "vm", "nic", "remove", "v3", "--vif", "9");
    FX(1, "no NIC with VIF", "vm", "nic", "remove", "v3", "--vif", "9");
}

static void
vmfex_lab_usage_errors_exit_2(void **state)
{
    (void) state;
    FX(2, "--host H", "vm", "create", "v9", "--memory", "5");
    FX(2, "PROFILE,directpath", "vm", "create", "v9", "--host", "h1",
       "--memory", "5", "--nic", "pp,fast");
    FX(2, "--op", "vm", "check", "v9");
    FX(2, "missing", "profile", "create");
    FX(2, "--enable or --disable", "vm", "ft", "v9");
    FX(0, "Usage: fexctl vm nic add", "vm", "nic", "--help");
    FX(1, "not found", "vm", "start", "nope");
    /* libvirt's test driver comes with a domain 'test': not ours. */
    FX(1, "already has a domain 'test'", "vm", "create", "test", "--host",
       "h1", "--memory", "5");
    FX_NOT(0, "test", "vm", "list");
    FX(1, "not found", "vm", "check", "nope", "--op", "migrate");
}

/* A lab of its own: 'lab up --no-iommu h2 --memory 256' gives h2 no
 * passthrough and each host 256 MiB for reservations. */
static void
vmfex_lab_host_without_iommu_has_no_passthrough(void **state)
{
    struct lab *main_lab = *state, own = { th_mkdtemp("noiommu") };

    FX(2, "'h3' is not one of the hosts h1..h2", "lab", "up", "--hosts",
       "2", "--dir", own.dir, "--no-iommu", "h3");
    assert_int_equal(th_fexctl(NULL, NULL, "lab", "up", "--hosts", "2",
                               "--dir", own.dir, "--no-iommu", "h2",
                               "--memory", "256", NULL), 0);
    the_lab = &own;
    FX(0, "Host does not support passthrough configuration", "host",
       "passthrough", "h2");
    FX(1, "Host does not support passthrough configuration", "host",
       "passthrough", "h2", "--enable", "0000:0b:00.0");
    FX(1, "[reason: noPassthroughSupport]", "host", "passthrough", "h2",
       "--enable", "0000:0b:00.0");
    FX(0, "No devices currently enabled for passthrough", "host",
       "passthrough", "h1");
    FX(0, NULL, "host", "passthrough", "h1", "--enable", "0000:0b:00.0");
    FX(1, "[reason: deviceAlreadyEnabled]", "host", "passthrough", "h1",
       "--enable", "0000:0b:00.0");
    FX(0, NULL, "host", "reboot", "h1");
    FX(0, NULL, "profile", "create", "hp", "--vlan", "10",
       "--high-performance");
    /* 256 MiB of the host's 256 reserved: fits exactly; 1 more does not. */
    FX(0, NULL, "vm", "create", "big", "--host", "h1", "--memory", "256",
       "--nic", "hp,directpath");
    FX(0, NULL, "vm", "create", "one", "--host", "h1", "--memory", "1",
       "--nic", "hp,directpath");
    FX(0, "running", "vm", "start", "big");
    FX(1, "unreserved", "vm", "start", "one");
    the_lab = main_lab;
    th_fexctl(NULL, NULL, "lab", "down", "--dir", own.dir, NULL);
    assert_true(th_logs_clean(own.dir));
    th_rmrf(own.dir);
    free(own.dir);
}

/* Reads the agent address of host 'h1' from "host list --json". */
static void
agent_addr(char *buf, size_t size)
{
    char *out, *p;

    assert_int_equal(th_fexctl(&out, NULL, "--lab", the_lab->dir, "--json",
                               "host", "list", NULL), 0);
    p = strstr(out, "\"address\":\"");
    assert_non_null(p);
    p += strlen("\"address\":\"");
    snprintf(buf, size, "%.*s", (int) strcspn(p, "\""), p);
    free(out);
}

/* A peer that is not fabricd sends the agent what would be XML injection:
 * refused with a clear error, and the agent keeps serving. */
static void
vmfex_lab_agent_refuses_bad_define_and_keeps_serving(void **state)
{
    Fexsim__V1__AgentVmRequest req = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    Fexsim__V1__AgentVm vm = FEXSIM__V1__AGENT_VM__INIT;
    Fexsim__V1__GetInfoRequest info = FEXSIM__V1__GET_INFO_REQUEST__INIT;
    struct event_base *base = event_base_new();
    ProtobufCMessage *rep;
    struct rpc_conn *conn;
    struct rpc_opts opts;
    struct auth_key key;
    struct fx_err err;
    char addr[64];

    (void) state;
    agent_addr(addr, sizeof addr);
    /* Even a peer with the lab's secret, as the fabric. */
    th_lab_opts(the_lab->dir, AUTH_ROLE_FABRIC, &key, &opts);
    conn = rpc_conn_connect(base, addr, &opts, NULL, NULL, NULL, &err);
    assert_non_null(conn);
    vm.name = "x'/><evil";
    vm.memory_mib = 1;
    req.vm = &vm;
    req.create = 1;
    assert_int_equal(rpc_call_sync(conn, "HostVms.Define", &req.base,
                                   &fexsim__v1__agent_vm_reply__descriptor,
                                   5000, &rep, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "bad VM name"));
    assert_int_equal(rpc_call_sync(conn, "Agent.GetInfo", &info.base,
                                   &fexsim__v1__get_info_reply__descriptor,
                                   5000, &rep, &err), 0);
    protobuf_c_message_free_unpacked(rep, NULL);
    rpc_conn_destroy(conn);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, lab_setup, lab_teardown)
        T(vmfex_lab_plain_directpath_loses_features),
        T(vmfex_lab_high_performance_keeps_features),
        T(vmfex_lab_usage_errors_exit_2),
        T(vmfex_lab_host_without_iommu_has_no_passthrough),
        T(vmfex_lab_agent_refuses_bad_define_and_keeps_serving),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
