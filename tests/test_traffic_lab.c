/* Integration: distributed switching in a 3-host lab driven through
 * fexctl: VMs created with a NIC on a port profile and started, guest
 * traffic in both directions between every pair of hosts through the
 * fabric with zero loss, VLAN isolation, MAC learning (no flooding once
 * learned), per-VIF counters, a VIF going down, and the errors of
 * 'traffic start'. */
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

#define FLOW_FRAMES 400
#define WAIT_MS 20000

static char *lab_dir;

/* Runs "fexctl --lab DIR ARGS..." and checks its exit status and that
 * stdout or stderr holds 'want' (NULL: anything). */
#define FX(rc, want, ...) \
    th_fexctl_check(lab_dir, __LINE__, rc, want, __VA_ARGS__, NULL)

/* The VIF counters of VM 'vm' in a 'vif stats --json' document. */
static struct json_object *
vif_of(struct json_object *doc, const char *vm)
{
    struct json_object *vifs = th_jarr(doc, "vifs");

    for (size_t i = 0; vifs && i < json_object_array_length(vifs); i++) {
        struct json_object *v = json_object_array_get_idx(vifs, i);

        if (!strcmp(th_jstr(v, "vm"), vm)) {
            return v;
        }
    }
    fail_msg("no VIF of VM '%s'", vm);
    return NULL;
}

struct settle {
    uint64_t sent;
    int all_received;        /* The sinks must have every frame too. */
};

/* True when every flow's generator sent 'sent' frames and is done, and
 * (with 'all_received') its sink got them all. */
static int
flows_settled(void *arg)
{
    const struct settle *want = arg;
    struct json_object *doc = th_fexctl_json(lab_dir, "traffic", "stats",
                                             NULL);
    struct json_object *flows = doc ? th_jarr(doc, "flows") : NULL;
    int done = flows && json_object_array_length(flows) > 0;

    for (size_t i = 0; done && i < json_object_array_length(flows); i++) {
        struct json_object *f = json_object_array_get_idx(flows, i);
        struct json_object *run;

        json_object_object_get_ex(f, "running", &run);
        done = !json_object_get_boolean(run)
               && th_jint(f, "sent") == (int64_t) want->sent
               && (!want->all_received
                   || th_jint(f, "received") == (int64_t) want->sent);
    }
    json_object_put(doc);
    return done;
}

static int
lab_setup(void **state)
{
    static const char *const vms[][3] = {
        { "a1", "h1", "pp" }, { "a2", "h2", "pp" }, { "a3", "h3", "pp" },
        { "b3", "h3", "pq" },
        /* Beside a2 on its VLAN: floods for a2 reach c2's vNIC too, whose
         * unicast filter must keep them from a2's sink (no duplicates). */
        { "c2", "h2", "pp" },
    };

    (void) state;
    lab_dir = th_mkdtemp("traffic");
    if (th_lab_up(lab_dir, 3, "--vnics", "8", NULL)
        || th_fexctl(NULL, NULL, "--lab", lab_dir, "profile", "create", "pp",
                     "--vlan", "10", NULL)
        || th_fexctl(NULL, NULL, "--lab", lab_dir, "profile", "create", "pq",
                     "--vlan", "20", NULL)) {
        return -1;
    }
    for (size_t i = 0; i < sizeof vms / sizeof *vms; i++) {
        if (th_fexctl(NULL, NULL, "--lab", lab_dir, "vm", "create",
                      vms[i][0], "--host", vms[i][1], "--memory", "512",
                      "--nic", vms[i][2], NULL)
            || th_fexctl(NULL, NULL, "--lab", lab_dir, "vm", "start",
                         vms[i][0], NULL)) {
            return -1;
        }
    }
    return 0;
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

static void
traffic_start_refuses_bad_input(void **state)
{
    (void) state;
    FX(1, "VM 'nope' not found", "traffic", "start", "a1", "nope", "--rate",
       "100", "--size", "64");
    FX(0, NULL, "vm", "create", "c1", "--host", "h1", "--memory", "256",
       "--nic", "pp");
    FX(1, "VM 'c1' is not running", "traffic", "start", "a1", "c1",
       "--rate", "100", "--size", "64");
    FX(1, "share no VLAN", "traffic", "start", "a1", "b3", "--rate", "100",
       "--size", "64");
    FX(2, "out of range 64-1518", "traffic", "start", "a1", "a2", "--rate",
       "100", "--size", "63");
    FX(2, "out of range 64-1518", "traffic", "start", "a1", "a2", "--rate",
       "100", "--size", "1519");
    FX(2, "out of range 1-1000000", "traffic", "start", "a1", "a2",
       "--rate", "0", "--size", "64");
    FX(2, "--rate PPS and --size BYTES are required", "traffic", "start",
       "a1", "a2", "--size", "64");
    FX(1, "no flow from 'a1' to 'a2'", "traffic", "stop", "a1", "a2");
    FX(0, NULL, "vm", "delete", "c1");
}

/* Six flows, both ways between every pair of hosts, two frame sizes. */
static void
traffic_both_ways_between_three_hosts_loses_nothing(void **state)
{
    static const char *const pairs[][3] = {
        { "a1", "a2", "64" }, { "a2", "a1", "1518" }, { "a2", "a3", "512" },
        { "a3", "a2", "64" }, { "a3", "a1", "1518" }, { "a1", "a3", "64" },
    };
    struct settle want = { FLOW_FRAMES, 1 };
    struct json_object *doc, *flows;

    (void) state;
    for (size_t i = 0; i < 6; i++) {
        FX(0, "flow", "traffic", "start", pairs[i][0], pairs[i][1], "--rate",
           "2000", "--size", pairs[i][2], "--count", "400");
    }
    assert_true(th_wait(flows_settled, &want, WAIT_MS));
    doc = th_fexctl_json(lab_dir, "traffic", "stats", NULL);
    assert_non_null(doc);
    flows = th_jarr(doc, "flows");
    assert_int_equal(json_object_array_length(flows), 6);
    for (size_t i = 0; i < 6; i++) {
        struct json_object *f = json_object_array_get_idx(flows, i);

        assert_int_equal(th_jint(f, "sent"), FLOW_FRAMES);
        assert_int_equal(th_jint(f, "received"), FLOW_FRAMES);
        assert_int_equal(th_jint(f, "lost"), 0);
        assert_int_equal(th_jint(f, "tail_lost"), 0);
        assert_int_equal(th_jint(f, "duplicated"), 0);
        assert_int_equal(th_jint(f, "reordered"), 0);
        assert_true(th_jint(f, "latency_p99_us") >= th_jint(f, "latency_p50_us"));
    }
    json_object_put(doc);

    /* The fabric's view: each a-VIF sent 2 flows' worth and got at least
     * 2 (floods before learning add to it); b3, on VLAN 20, got nothing
     * from VLAN 10's floods. */
    doc = th_fexctl_json(lab_dir, "vif", "stats", NULL);
    assert_non_null(doc);
    for (int i = 1; i <= 3; i++) {
        char vm[8];
        struct json_object *v;

        snprintf(vm, sizeof vm, "a%d", i);
        v = vif_of(doc, vm);
        assert_int_equal(th_jint(v, "rx_frames"), 2 * FLOW_FRAMES);
        assert_true(th_jint(v, "tx_frames") >= 2 * FLOW_FRAMES);
        assert_int_equal(th_jint(th_jarr(v, "drops"), "vif_down"), 0);
        /* Each agent sends on its own host's uplink only. */
        assert_int_equal(th_jint(th_jarr(v, "drops"), "wrong_host"), 0);
    }
    assert_int_equal(th_jint(vif_of(doc, "b3"), "tx_frames"), 0);
    assert_int_equal(th_jint(vif_of(doc, "b3"), "rx_frames"), 0);
    json_object_put(doc);

    FX(0, "a1", "traffic", "stop");
    doc = th_fexctl_json(lab_dir, "traffic", "stats", NULL);
    assert_int_equal(json_object_array_length(th_jarr(doc, "flows")), 0);
    json_object_put(doc);
}

static int64_t
vif_counter(const char *vm, const char *key)
{
    struct json_object *doc = th_fexctl_json(lab_dir, "vif", "stats", NULL);
    int64_t v;

    assert_non_null(doc);
    v = th_jint(vif_of(doc, vm), key);
    json_object_put(doc);
    return v;
}

/* Every MAC of VLAN 10 is learned by now: a new flow from a1 to a2 goes
 * to a2 alone, none of it flooded to a3 (another host) or c2 (a2's own
 * host), and the counters at both ends move by exactly the flow. */
static void
traffic_after_learning_reaches_only_its_destination(void **state)
{
    struct settle want = { 100, 1 };
    int64_t a1_rx = vif_counter("a1", "rx_frames");
    int64_t a2_tx = vif_counter("a2", "tx_frames");
    int64_t a2_bytes = vif_counter("a2", "tx_bytes");
    int64_t a3_tx = vif_counter("a3", "tx_frames");
    int64_t c2_tx = vif_counter("c2", "tx_frames");

    (void) state;
    FX(0, "flow", "traffic", "start", "a1", "a2", "--rate", "2000",
       "--size", "100", "--count", "100");
    assert_true(th_wait(flows_settled, &want, WAIT_MS));
    assert_int_equal(vif_counter("a1", "rx_frames"), a1_rx + 100);
    assert_int_equal(vif_counter("a2", "tx_frames"), a2_tx + 100);
    assert_int_equal(vif_counter("a2", "tx_bytes"), a2_bytes + 100 * 100);
    assert_int_equal(vif_counter("a3", "tx_frames"), a3_tx);
    assert_int_equal(vif_counter("c2", "tx_frames"), c2_tx);
    FX(0, "a1", "traffic", "stop", "a1", "a2");
}

/* a2 stops under a running flow: its VIF goes down, and a1's frames to
 * it (its MAC was learned above) are dropped by the fabric as vif_down on
 * a2's VIF instead of being delivered. */
static void
traffic_to_a_stopped_vm_drops_as_vif_down(void **state)
{
    struct settle want = { 200, 0 };
    struct json_object *doc, *f;
    int64_t before, after, received;

    (void) state;
    doc = th_fexctl_json(lab_dir, "vif", "stats", NULL);
    before = th_jint(th_jarr(vif_of(doc, "a2"), "drops"), "vif_down");
    json_object_put(doc);
    FX(0, NULL, "traffic", "start", "a1", "a2", "--rate", "1000", "--size",
       "64", "--count", "200");
    FX(0, "stopped", "vm", "stop", "a2");
    assert_true(th_wait(flows_settled, &want, WAIT_MS));
    doc = th_fexctl_json(lab_dir, "traffic", "stop", NULL);
    assert_non_null(doc);
    f = json_object_array_get_idx(th_jarr(doc, "flows"), 0);
    assert_int_equal(th_jint(f, "sent"), 200);
    received = th_jint(f, "received");
    assert_true(received < 200);
    json_object_put(doc);
    doc = th_fexctl_json(lab_dir, "vif", "stats", NULL);
    after = th_jint(th_jarr(vif_of(doc, "a2"), "drops"), "vif_down");
    assert_true(after > before);
    assert_true(received + (after - before) <= 200);
    json_object_put(doc);
    FX(0, "started", "vm", "start", "a2");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(traffic_start_refuses_bad_input),
        cmocka_unit_test(traffic_both_ways_between_three_hosts_loses_nothing),
        cmocka_unit_test(traffic_after_learning_reaches_only_its_destination),
        cmocka_unit_test(traffic_to_a_stopped_vm_drops_as_vif_down),
    };

    return cmocka_run_group_tests(tests, lab_setup, lab_teardown);
}
