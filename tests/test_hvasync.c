/* Integration: a libvirt call that does not return does not stop the
 * agent (issue 16's last note).  A restarted libvirtd may keep a domain
 * under a job of its own, and virDomainDestroy then waits 30 s: the
 * agent's HostVms requests run libvirt in its hypervisor worker (hvq.h),
 * so its loop goes on with heartbeats, frames and other calls.
 *
 * A lab of one host (test driver) whose agent runs with --fault
 * hvstall@PATH: while the file PATH exists, the libvirt part of each
 * HostVms.Stop waits, as that destroy does.  The tests create the file,
 * see what the agent does meanwhile, remove it, and see the Stop end. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "agent.pb-c.h"
#include "fx_err.h"
#include "migflow.pb-c.h"
#include "fx_proc.h"
#include "harness.h"
#include "rpc.h"
#include "vmfex.pb-c.h"

#define WAIT_MS 15000
/* Heartbeats fabricd must hear while the Stop waits: six at the lab's
 * interval (a third of its 1000 ms timeout) span twice the timeout. */
#define HEARTBEATS 6

static char *dir;
static char stall[4200];
static struct th_daemon agent;

#define FX(rc, want, ...) \
    th_fexctl_check(dir, __LINE__, rc, want, __VA_ARGS__, NULL)

/* ---- The stall ---- */

static void
stall_on(void)
{
    FILE *f = fopen(stall, "w");

    assert_non_null(f);
    fclose(f);
}

static void
stall_off(void)
{
    assert_int_equal(unlink(stall), 0);
}

/* How many lines of the agent's log hold 'what'. */
static int
log_count(const char *what)
{
    char path[4200], line[1024];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof path, "%s/agentd-h1.log", dir);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        n += strstr(line, what) != NULL;
    }
    if (f) {
        fclose(f);
    }
    return n;
}

/* How many times the agent's log says a Stop waits on the stall. */
static int
stalls_logged(void)
{
    return log_count("fault injected: hvstall");
}

/* Waits until the agent logs one more stall than 'before', stepping
 * the loop of the test's own connection 'base' (NULL: none) meanwhile:
 * its requests leave only so. */
struct stall_wait {
    struct event_base *base;
    int before;
};

static int
stalled_since(void *arg)
{
    struct stall_wait *w = arg;

    if (w->base) {
        event_base_loop(w->base, EVLOOP_NONBLOCK);
    }
    return stalls_logged() > w->before;
}

static int
shutting_down_since(void *arg)
{
    return log_count("shutting down") > *(int *) arg;
}

/* ---- The fabric's view ---- */

/* Host h1's entry of "host list": its state into 'state', and how long
 * ago fabricd last heard from it. */
static int64_t
h1_seen(char *state, size_t size)
{
    struct json_object *doc = th_fexctl_json(dir, "host", "list", NULL);
    struct json_object *hosts = doc ? th_jarr(doc, "hosts") : NULL;
    int64_t ago = -1;

    snprintf(state, size, "?");
    for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);

        if (!strcmp(th_jstr(h, "name"), "h1")) {
            snprintf(state, size, "%s", th_jstr(h, "state"));
            ago = th_jint(h, "last_seen_ms_ago");
        }
    }
    json_object_put(doc);
    return ago;
}

/* Counts the heartbeats fabricd hears from h1 (its last_seen_ms_ago
 * falls), and whether h1 was ever seen other than up. */
struct beats {
    int64_t last;
    int heard;
    char bad_state[16];
};

static int
heard_enough(void *arg)
{
    struct beats *b = arg;
    char state[16];
    int64_t ago = h1_seen(state, sizeof state);

    if (strcmp(state, "up") && !b->bad_state[0]) {
        snprintf(b->bad_state, sizeof b->bad_state, "%s", state);
    }
    if (ago >= 0 && b->last >= 0 && ago < b->last) {
        b->heard++;
    }
    b->last = ago;
    return b->heard >= HEARTBEATS || b->bad_state[0];
}

static const char *
vm_state(char *buf, size_t size)
{
    struct json_object *doc = th_fexctl_json(dir, "vm", "show", "m", NULL);

    snprintf(buf, size, "%s", doc ? th_jstr(doc, "state") : "?");
    json_object_put(doc);
    return buf;
}

/* ---- A child fexctl ---- */

struct child {
    pid_t pid;
    int status;            /* Once reaped; -1 before. */
};

static void
child_start(struct child *c, const char *cmd)
{
    char bin[4096], log[4200];
    char *argv[] = { (char *) th_bin(bin, sizeof bin, "fexctl"), "--lab",
                     dir, "vm", (char *) cmd, "m", NULL };
    struct fx_err err;

    snprintf(log, sizeof log, "%s/fexctl-%s.log", dir, cmd);
    assert_int_equal(fx_proc_spawn(argv, log, &c->pid, &err), 0);
    c->status = -1;
}

static int
child_ended(void *arg)
{
    struct child *c = arg;
    int st;

    if (c->status < 0 && waitpid(c->pid, &st, WNOHANG) == c->pid) {
        c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return c->status >= 0;
}

/* ---- Calling the agent directly ---- */

/* The agent's RPC address, from "host list". */
static void
agent_addr(char *buf, size_t size)
{
    struct json_object *doc = th_fexctl_json(dir, "host", "list", NULL);
    struct json_object *hosts = doc ? th_jarr(doc, "hosts") : NULL;

    buf[0] = '\0';
    for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);

        if (!strcmp(th_jstr(h, "name"), "h1")) {
            snprintf(buf, size, "%s", th_jstr(h, "address"));
        }
    }
    json_object_put(doc);
    assert_true(buf[0]);
}

/* One call's outcome, and the order answers came in. */
struct answer {
    int done;              /* The rank of its answer, from 1; 0 before. */
    int status;
    int running;           /* Stop: m's state in the reply. */
    int listed_running;    /* List: m running, -1 if not listed. */
    char message[200];     /* An error's. */
    char incoming[80];     /* Prepare: where the source is to connect. */
    int *order;            /* Shared counter of answers. */
};

static void
answered(void *arg, int status, const char *message, const char *reason,
         const ProtobufCMessage *rep)
{
    struct answer *a = arg;

    (void) reason;
    a->status = status;
    a->done = ++*a->order;
    snprintf(a->message, sizeof a->message, "%s", message ? message : "");
    if (status != RPC_OK || !rep) {
        return;
    }
    if (rep->descriptor
        == &fexsim__v1__migration_prepare_reply__descriptor) {
        snprintf(a->incoming, sizeof a->incoming, "%s",
                 ((const Fexsim__V1__MigrationPrepareReply *) rep)
                 ->incoming);
    }
    if (rep->descriptor == &fexsim__v1__agent_vm_reply__descriptor) {
        a->running = ((const Fexsim__V1__AgentVmReply *) rep)->vm->running;
    } else if (rep->descriptor
               == &fexsim__v1__agent_list_reply__descriptor) {
        const Fexsim__V1__AgentListReply *l = (const void *) rep;

        for (size_t i = 0; i < l->n_vms; i++) {
            if (!strcmp(l->vms[i]->name, "m")) {
                a->listed_running = l->vms[i]->running;
            }
        }
    }
}

/* A connection to the agent as the fabric (the lab's secret), with the
 * loop the test steps. */
struct link {
    struct event_base *base;
    struct rpc_conn *conn;
    struct auth_key key;
    int order;
};

/* The connection closed (the agent went): it is freed. */
static void
link_event(struct rpc_conn *conn, enum rpc_conn_event ev, const char *why,
           void *arg)
{
    struct link *l = arg;

    (void) conn;
    (void) why;
    if (ev != RPC_CONN_CONNECTED) {
        l->conn = NULL;
    }
}

static void
link_open(struct link *l)
{
    struct rpc_opts opts;
    struct fx_err err;
    char addr[64];

    agent_addr(addr, sizeof addr);
    l->base = event_base_new();
    l->order = 0;
    th_lab_opts(dir, AUTH_ROLE_FABRIC, &l->key, &opts);
    l->conn = rpc_conn_connect(l->base, addr, &opts, NULL, link_event, l,
                               &err);
    assert_non_null(l->conn);
}

static void
link_close(struct link *l)
{
    rpc_conn_destroy(l->conn);
    event_base_free(l->base);
}

/* Sends 'req' as 'method' on 'l'; its answer (reply 'desc') lands in
 * '*a'. */
static void
send_call(struct link *l, const char *method, const ProtobufCMessage *req,
          const ProtobufCMessageDescriptor *desc, struct answer *a)
{
    *a = (struct answer) { .listed_running = -1, .order = &l->order };
    assert_int_equal(rpc_conn_call(l->conn, method, req, desc, 0, answered,
                                   a, NULL), 0);
}

static void
call_stop(struct link *l, struct answer *a)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;

    req.name = "m";
    send_call(l, "HostVms.Stop", &req.base,
              &fexsim__v1__agent_vm_reply__descriptor, a);
}

static void
call_list(struct link *l, struct answer *a)
{
    Fexsim__V1__AgentListRequest req = FEXSIM__V1__AGENT_LIST_REQUEST__INIT;

    send_call(l, "HostVms.List", &req.base,
              &fexsim__v1__agent_list_reply__descriptor, a);
}

static void
call_info(struct link *l, struct answer *a)
{
    Fexsim__V1__GetInfoRequest req = FEXSIM__V1__GET_INFO_REQUEST__INIT;

    send_call(l, "Agent.GetInfo", &req.base,
              &fexsim__v1__get_info_reply__descriptor, a);
}

/* MigAgent.Prepare of migration 'id' of m into this host (as if m came
 * from elsewhere: the admission only reads its definition here). */
static void
call_prepare(struct link *l, uint32_t id, struct answer *a)
{
    const ProtobufCMessageDescriptor *rep =
        &fexsim__v1__migration_prepare_reply__descriptor;
    Fexsim__V1__AgentMigRequest req = FEXSIM__V1__AGENT_MIG_REQUEST__INIT;

    req.job_id = id;
    req.vm = "m";
    req.memory_mib = 16;
    send_call(l, "MigAgent.Prepare", &req.base, rep, a);
}

static void
call_abort(struct link *l, uint32_t id, struct answer *a)
{
    Fexsim__V1__AgentMigRef req = FEXSIM__V1__AGENT_MIG_REF__INIT;

    req.job_id = id;
    send_call(l, "MigAgent.Abort", &req.base,
              &fexsim__v1__agent_mig_ack__descriptor, a);
}

struct step_arg {
    struct link *l;
    struct answer *a;
};

static int
step_until_answered(void *arg)
{
    struct step_arg *s = arg;

    event_base_loop(s->l->base, EVLOOP_NONBLOCK);
    return s->a->done;
}

static void
wait_answer(struct link *l, struct answer *a)
{
    struct step_arg s = { l, a };

    assert_true(th_wait(step_until_answered, &s, WAIT_MS));
}

/* ---- Tests ---- */

/* fexctl vm stop m goes through fabricd to the agent, whose libvirt
 * destroy stalls: meanwhile fabricd keeps hearing the agent's heartbeats
 * for twice its timeout (h1 never goes down) and the agent answers
 * another call; once the stall ends the Stop completes. */
static void
a_stuck_stop_leaves_the_agent_serving(void **state)
{
    struct beats b = { .last = -1 };
    struct stall_wait w = { NULL, stalls_logged() };
    struct answer info;
    struct child c;
    struct link l;
    char st[16];

    (void) state;
    stall_on();
    child_start(&c, "stop");
    assert_true(th_wait(stalled_since, &w, WAIT_MS));
    assert_true(th_wait(heard_enough, &b, WAIT_MS));
    if (b.bad_state[0]) {
        fail_msg("h1 went %s while its Stop waited in libvirt", b.bad_state);
    }
    link_open(&l);
    call_info(&l, &info);
    wait_answer(&l, &info);
    assert_int_equal(info.status, RPC_OK);
    link_close(&l);
    /* All of this while the Stop waited. */
    assert_false(child_ended(&c));
    stall_off();
    assert_true(th_wait(child_ended, &c, WAIT_MS));
    assert_int_equal(c.status, 0);
    assert_string_equal(vm_state(st, sizeof st), "stopped");
    FX(0, NULL, "vm", "start", "m");
}

/* HostVms requests keep their order: a List sent after a stalled Stop is
 * answered after it and sees the VM stopped, while a call outside
 * HostVms is answered at once. */
static void
requests_behind_a_stuck_stop_keep_their_order(void **state)
{
    struct answer stop, list, info;
    struct stall_wait w = { NULL, stalls_logged() };
    struct link l;

    (void) state;
    stall_on();
    link_open(&l);
    call_stop(&l, &stop);
    call_list(&l, &list);
    call_info(&l, &info);
    w.base = l.base;
    assert_true(th_wait(stalled_since, &w, WAIT_MS));
    wait_answer(&l, &info);
    assert_int_equal(info.status, RPC_OK);
    assert_int_equal(stop.done, 0);
    assert_int_equal(list.done, 0);
    stall_off();
    wait_answer(&l, &list);
    assert_int_equal(stop.status, RPC_OK);
    assert_int_equal(list.status, RPC_OK);
    assert_true(stop.done < list.done);
    assert_int_equal(stop.running, 0);
    assert_int_equal(list.listed_running, 0);
    link_close(&l);
    /* Behind the fabric's back: its model follows with its own Stop (the
     * domain no longer runs: nothing to do for libvirt). */
    FX(0, NULL, "vm", "stop", "m");
    FX(0, NULL, "vm", "start", "m");
}

/* A migration's Prepare admits the guest's memory by reading libvirt's
 * domains, in the worker: behind a stalled Stop it waits too, while an
 * Abort of it is answered at once; once the stall ends the aborted
 * Prepare fails, saying so, and the other one is answered with where to
 * send the pages (then aborted too, as the fabric would). */
static void
a_prepare_admits_off_the_loop_and_an_abort_meanwhile_fails_it(void **state)
{
    struct answer stop, aborted, prepared, abort1, abort2;
    struct stall_wait w = { NULL, stalls_logged() };
    struct link l;

    (void) state;
    stall_on();
    link_open(&l);
    call_stop(&l, &stop);
    call_prepare(&l, 4001, &aborted);
    call_prepare(&l, 4002, &prepared);
    w.base = l.base;
    assert_true(th_wait(stalled_since, &w, WAIT_MS));
    call_abort(&l, 4001, &abort1);
    wait_answer(&l, &abort1);
    assert_int_equal(abort1.status, RPC_OK);
    assert_int_equal(stop.done + aborted.done + prepared.done, 0);
    stall_off();
    wait_answer(&l, &prepared);
    assert_int_equal(stop.status, RPC_OK);
    assert_int_not_equal(aborted.status, RPC_OK);
    assert_non_null(strstr(aborted.message, "aborted while it was being "
                                            "prepared"));
    assert_int_equal(prepared.status, RPC_OK);
    assert_true(prepared.incoming[0]);
    call_abort(&l, 4002, &abort2);
    wait_answer(&l, &abort2);
    assert_int_equal(abort2.status, RPC_OK);
    link_close(&l);
    FX(0, NULL, "vm", "stop", "m");
    FX(0, NULL, "vm", "start", "m");
}

static int
agent_gone(void *arg)
{
    return !fx_proc_alive(*(pid_t *) arg);
}

/* SIGTERM while a Stop waits in libvirt and a List waits behind it: the
 * agent exits once the libvirt call returns (it joins its worker), both
 * callers get an answer (an error, or their connection closed), and the
 * sanitizers find no leak (th_logs_clean at the end). */
static void
an_agent_stopped_during_a_stuck_stop_exits_cleanly(void **state)
{
    struct answer stop, list;
    struct stall_wait w = { NULL, stalls_logged() };
    int downs = log_count("shutting down");
    pid_t pid = th_read_pid(dir, "agentd-h1.pid");
    struct link l;

    (void) state;
    stall_on();
    link_open(&l);
    call_stop(&l, &stop);
    call_list(&l, &list);
    w.base = l.base;
    assert_true(th_wait(stalled_since, &w, WAIT_MS));
    assert_int_equal(kill(pid, SIGTERM), 0);
    /* Its loop has stopped before the stall ends: what is under way is
     * ended by the agent's destroy. */
    assert_true(th_wait(shutting_down_since, &downs, WAIT_MS));
    stall_off();
    assert_true(th_wait(agent_gone, &pid, WAIT_MS));
    wait_answer(&l, &stop);
    wait_answer(&l, &list);
    assert_int_not_equal(list.status, RPC_OK);
    link_close(&l);
    waitpid(pid, NULL, WNOHANG);
    th_daemon_respawn(dir, &agent, NULL);
    assert_true(th_wait_hosts_up(dir, 1, WAIT_MS));
}

/* ---- Setup ---- */

static int
lab_setup(void **state)
{
    char spec[4300];

    (void) state;
    dir = th_mkdtemp("hvasync");
    snprintf(stall, sizeof stall, "%s/stall", dir);
    if (th_lab_up(dir, 1, "--heartbeat-timeout", "1000", NULL)
        || th_fexctl(NULL, NULL, "--lab", dir, "profile", "create", "p",
                     "--vlan", "10", NULL)
        || th_fexctl(NULL, NULL, "--lab", dir, "vm", "create", "m",
                     "--host", "h1", "--memory", "16", "--nic", "p", NULL)
        || th_fexctl(NULL, NULL, "--lab", dir, "vm", "start", "m", NULL)) {
        return -1;
    }
    /* h1's agent again, with the stall armed. */
    snprintf(spec, sizeof spec, "hvstall@%s", stall);
    th_daemon_read(dir, "agentd-h1.pid", &agent);
    th_daemon_kill9(dir, &agent);
    th_daemon_respawn(dir, &agent, spec);
    return th_wait_hosts_up(dir, 1, WAIT_MS) ? 0 : -1;
}

static int
lab_teardown(void **state)
{
    int clean;

    (void) state;
    unlink(stall);
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
        cmocka_unit_test(a_stuck_stop_leaves_the_agent_serving),
        cmocka_unit_test(requests_behind_a_stuck_stop_keep_their_order),
        cmocka_unit_test(
            a_prepare_admits_off_the_loop_and_an_abort_meanwhile_fails_it),
        cmocka_unit_test(an_agent_stopped_during_a_stuck_stop_exits_cleanly),
    };

    return cmocka_run_group_tests(tests, lab_setup, lab_teardown);
}
