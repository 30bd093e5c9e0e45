/* Integration: state that survives a restart (issue 12).  A lab of two
 * hosts whose daemons are SIGKILLed and started again with the command
 * lines lab up gave them:
 *
 * - an agent keeps its host's passthrough configuration (devices pending
 *   reboot, then active) as it keeps its VMs, and refuses to start on a
 *   damaged passthrough file;
 * - traffic flows survive a fabricd restart: the agents kept running
 *   them, fabricd learns them back, and stats and stop go on;
 * - flow and migration ids are never handed out again after a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fx_proc.h"
#include "harness.h"

#define WAIT_MS 20000
#define VIC "0000:0b:00.0"

static char *dir;

#define FX(rc, want, ...) \
    th_fexctl_check(dir, __LINE__, rc, want, __VA_ARGS__, NULL)

/* ---- Restarts ---- */

/* SIGKILLs the daemon of 'pidfile' and starts it again as it was. */
static void
restart(const char *pidfile)
{
    struct th_daemon d;

    th_daemon_read(dir, pidfile, &d);
    th_daemon_kill9(dir, &d);
    th_daemon_respawn(dir, &d, NULL);
}

static void
restart_fabricd(void)
{
    restart("fabricd.pid");
    assert_true(th_wait_hosts_up(dir, 2, WAIT_MS));
}

/* ---- Passthrough ---- */

/* "host passthrough h1 --json" into '*outp' (the caller frees it); its
 * exit status. */
static int
passthrough_h1(char **outp)
{
    return th_fexctl(outp, NULL, "--lab", dir, "--json", "host",
                     "passthrough", "h1", NULL);
}

/* Once the fabric can reach h1's agent again: a restarted agent, since
 * the one killed answers nothing. */
static int
h1_answers(void *arg)
{
    char *out = NULL;
    int rc = passthrough_h1(&out);

    free(out);
    (void) arg;
    return rc == 0;
}

static void
restart_h1(void)
{
    restart("agentd-h1.pid");
    assert_true(th_wait(h1_answers, NULL, WAIT_MS));
}

/* The state of the VIC's PCI function in a passthrough document. */
static const char *
vic_state(const char *json, char *buf, size_t size)
{
    struct json_object *doc = json_tokener_parse(json);
    struct json_object *devs = doc ? th_jarr(doc, "devices") : NULL;

    buf[0] = '\0';
    for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
        struct json_object *d = json_object_array_get_idx(devs, i);

        if (!strcmp(th_jstr(d, "address"), VIC)) {
            snprintf(buf, size, "%s", th_jstr(d, "state"));
        }
    }
    json_object_put(doc);
    return buf;
}

/* h1 shows the same passthrough configuration after its agent restarts,
 * and says the VIC is in 'want'. */
static void
h1_survives_restart(const char *want)
{
    char *before = NULL, *after = NULL, st[32];

    assert_int_equal(passthrough_h1(&before), 0);
    assert_string_equal(vic_state(before, st, sizeof st), want);
    restart_h1();
    assert_int_equal(passthrough_h1(&after), 0);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void
passthrough_survives_an_agent_restart(void **state)
{
    (void) state;
    h1_survives_restart("disabled");
    FX(0, "pending reboot", "host", "passthrough", "h1", "--enable", VIC);
    h1_survives_restart("pending reboot");
    /* Still pending: a DirectPath NIC is refused until the reboot. */
    FX(1, "pending reboot", "vm", "create", "dp", "--host", "h1",
       "--memory", "64", "--nic", "fast,directpath");
    /* A host reboots with no VM running. */
    FX(0, NULL, "vm", "stop", "a");
    FX(0, NULL, "host", "reboot", "h1");
    FX(0, NULL, "vm", "start", "a");
    h1_survives_restart("active");
    /* Active indeed: the restarted agent gives a DirectPath NIC. */
    FX(0, NULL, "vm", "create", "dp", "--host", "h1", "--memory", "64",
       "--nic", "fast,directpath");
    FX(0, NULL, "vm", "delete", "dp");
}

static int
gone(void *arg)
{
    return !fx_proc_alive(*(pid_t *) arg);
}

/* The last line of 'path', in 'buf'. */
static const char *
last_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    char line[1024];

    assert_non_null(f);
    buf[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        snprintf(buf, size, "%s", line);
    }
    fclose(f);
    return buf;
}

static void
a_damaged_passthrough_file_is_refused_at_start(void **state)
{
    char path[4096], log[4096], line[1024];
    struct th_daemon d;
    FILE *f;
    pid_t pid;

    (void) state;
    snprintf(path, sizeof path, "%s/h2-state/passthrough", dir);
    snprintf(log, sizeof log, "%s/agentd-h2.log", dir);
    th_daemon_read(dir, "agentd-h2.pid", &d);
    th_daemon_kill9(dir, &d);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("0000:0b:00.0 pending-reb\x01ot\n", f);
    assert_int_equal(fclose(f), 0);
    th_daemon_respawn(dir, &d, NULL);
    pid = th_read_pid(dir, "agentd-h2.pid");
    assert_true(th_wait(gone, &pid, WAIT_MS));
    assert_non_null(strstr(last_line(log, line, sizeof line),
                           "agentd: '"));
    assert_non_null(strstr(line, "/h2-state/passthrough' line 1 is "
                           "damaged"));
    /* A device this host does not have is damage too. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("0000:99:00.0 active\n", f);
    assert_int_equal(fclose(f), 0);
    th_daemon_respawn(dir, &d, NULL);
    pid = th_read_pid(dir, "agentd-h2.pid");
    assert_true(th_wait(gone, &pid, WAIT_MS));
    assert_non_null(strstr(last_line(log, line, sizeof line),
                           "no PCI device '0000:99:00.0' on this host"));
    /* Put right, the agent starts with nothing enabled. */
    assert_int_equal(remove(path), 0);
    th_daemon_respawn(dir, &d, NULL);
    assert_true(th_wait_hosts_up(dir, 2, WAIT_MS));
    FX(0, "No devices currently enabled", "host", "passthrough", "h2");
}

/* ---- Flows ---- */

struct flow {
    int64_t id, sent, received, lost, tail_lost;
    bool running;
    char src[40], dst[40];
};

/* Fills 'f' from 'o', a flow of a stats or stop document. */
static void
flow_from(struct json_object *o, struct flow *f)
{
    struct json_object *run;

    f->id = th_jint(o, "flow_id");
    f->sent = th_jint(o, "sent");
    f->received = th_jint(o, "received");
    f->lost = th_jint(o, "lost");
    f->tail_lost = th_jint(o, "tail_lost");
    f->running = json_object_object_get_ex(o, "running", &run)
                 && json_object_get_boolean(run);
    snprintf(f->src, sizeof f->src, "%s", th_jstr(o, "src_vm"));
    snprintf(f->dst, sizeof f->dst, "%s", th_jstr(o, "dst_vm"));
}

/* Flow 'f->id' as "traffic stats" shows it now, into 'f'; false if it
 * is not listed. */
static bool
flow_stats(struct flow *f)
{
    struct json_object *doc = th_fexctl_json(dir, "traffic", "stats", NULL);
    struct json_object *flows = doc ? th_jarr(doc, "flows") : NULL;
    bool found = false;

    for (size_t i = 0; flows && i < json_object_array_length(flows); i++) {
        struct json_object *o = json_object_array_get_idx(flows, i);

        if (th_jint(o, "flow_id") == f->id) {
            flow_from(o, f);
            found = true;
        }
    }
    json_object_put(doc);
    return found;
}

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

/* A wait on flow 'was.id' for more than 'was' sent and received; 'now'
 * is what stats said last. */
struct flow_wait {
    struct flow was, now;
};

/* Until the flow sent and received more than before and every frame
 * sent has landed: nothing is in flight until the next frame is due. */
static int
flow_landed(void *arg)
{
    struct flow_wait *w = arg;

    w->now = (struct flow) { .id = w->was.id };
    return flow_stats(&w->now) && w->now.sent > w->was.sent
           && w->now.received > w->was.received
           && w->now.received == w->now.sent;
}

static int
flow_listed(void *arg)
{
    struct flow f = { .id = ((const struct flow *) arg)->id };

    return flow_stats(&f);
}

/* Until the generator of flow 'want->id' is done, having sent
 * 'want->sent' frames, and all landed. */
static int
flow_done(void *arg)
{
    const struct flow *want = arg;
    struct flow f = { .id = want->id };

    return flow_stats(&f) && !f.running && f.sent == want->sent
           && f.received == want->sent;
}

static int64_t
flow_start(const char *src, const char *dst, const char *rate,
           const char *count)
{
    struct json_object *doc = th_fexctl_json(dir, "traffic", "start", src,
                                             dst, "--rate", rate, "--size",
                                             "128", "--count", count, NULL);
    int64_t id = doc ? th_jint(doc, "flow_id") : -1;

    assert_true(id > 0);
    json_object_put(doc);
    return id;
}

/* Stops flow 'id' (from 'src' to 'dst'); its final figures into 'f'. */
static void
flow_stop(const char *src, const char *dst, int64_t id, struct flow *f)
{
    struct json_object *doc = th_fexctl_json(dir, "traffic", "stop", src,
                                             dst, NULL);
    struct json_object *flows = doc ? th_jarr(doc, "flows") : NULL;

    assert_non_null(flows);
    assert_int_equal(json_object_array_length(flows), 1);
    flow_from(json_object_array_get_idx(flows, 0), f);
    assert_int_equal(f->id, id);
    json_object_put(doc);
}

/* A flow of 24 frames, 4 a second, so that it runs across the restart:
 * fabricd is killed just after a frame landed (none in flight, as a
 * kill -9 loses what it had read and not sent), comes back, learns the
 * flow from the agents, and its figures go on to the end. */
static void
flows_survive_a_fabricd_restart(void **state)
{
    struct flow_wait w = { .was = { 0 } };
    struct flow before, last, other = { 0 };
    int64_t id;

    (void) state;
    id = w.was.id = flow_start("a", "b", "4", "24");
    assert_true(th_wait(flow_landed, &w, WAIT_MS));
    restart_fabricd();
    before = w.was = w.now;
    assert_true(before.running);
    assert_true(th_wait(flow_landed, &w, WAIT_MS));
    /* Learnt back, VMs and all, and counted on through the restart. */
    assert_string_equal(w.now.src, "a");
    assert_string_equal(w.now.dst, "b");
    assert_true(w.now.sent > before.sent);
    assert_int_equal(w.now.lost, 0);
    last = (struct flow) { .id = id, .sent = 24 };
    assert_true(th_wait(flow_done, &last, WAIT_MS));
    flow_stop("a", "b", id, &last);
    assert_int_equal(last.sent, 24);
    assert_int_equal(last.received, 24);
    assert_int_equal(last.lost, 0);
    assert_int_equal(last.tail_lost, 0);
    assert_false(last.running);
    assert_int_equal(flows_listed(), 0);
    /* Stopped on the agents too: after another restart a flow still
     * running between the same hosts is learnt back and the stopped one
     * is not (the list that teaches the one would teach the other). */
    other.id = flow_start("b", "a", "10", "100000");
    restart_fabricd();
    assert_true(th_wait(flow_listed, &other, WAIT_MS));
    last = (struct flow) { .id = id };
    assert_false(flow_stats(&last));
    flow_stop("b", "a", other.id, &last);
    assert_int_equal(flows_listed(), 0);
}

/* ---- Ids ---- */

static int64_t
migrate(const char *vm, const char *to)
{
    struct json_object *doc = th_fexctl_json(dir, "migrate", vm, "--to", to,
                                             "--max-bandwidth", "0", NULL);
    int64_t id = doc ? th_jint(doc, "id") : -1;

    assert_non_null(doc);
    assert_string_equal(th_jstr(doc, "state"), "completed");
    json_object_put(doc);
    return id;
}

static void
ids_are_never_handed_out_again(void **state)
{
    int64_t flow1, flow2, mig1, mig2;
    struct flow f;

    (void) state;
    flow1 = flow_start("a", "b", "1000", "10");
    flow_stop("a", "b", flow1, &f);
    mig1 = migrate("a", "h2");
    /* Nothing runs that fabricd could learn the ids from: they come from
     * its store. */
    restart_fabricd();
    flow2 = flow_start("b", "a", "1000", "10");
    mig2 = migrate("a", "h1");
    assert_true(flow2 > flow1);
    assert_true(mig2 > mig1);
    flow_stop("b", "a", flow2, &f);
}

/* ---- Lab ---- */

static int
lab_setup(void **state)
{
    (void) state;
    dir = th_mkdtemp("survive");
    if (th_lab_up(dir, 2, "--vnics", "8", NULL)) {
        return -1;
    }
    FX(0, NULL, "profile", "create", "pp", "--vlan", "10");
    FX(0, NULL, "profile", "create", "fast", "--vlan", "20",
       "--high-performance");
    FX(0, NULL, "vm", "create", "a", "--host", "h1", "--memory", "64",
       "--nic", "pp");
    FX(0, NULL, "vm", "create", "b", "--host", "h2", "--memory", "64",
       "--nic", "pp");
    FX(0, NULL, "vm", "start", "a");
    FX(0, NULL, "vm", "start", "b");
    return 0;
}

static int
lab_teardown(void **state)
{
    int clean;

    (void) state;
    th_lab_down(dir);
    clean = th_logs_clean(dir);
    th_rmrf(dir);
    free(dir);
    return clean ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(passthrough_survives_an_agent_restart),
        cmocka_unit_test(a_damaged_passthrough_file_is_refused_at_start),
        cmocka_unit_test(flows_survive_a_fabricd_restart),
        cmocka_unit_test(ids_are_never_handed_out_again),
    };

    return cmocka_run_group_tests(tests, lab_setup, lab_teardown);
}
