/* Integration tests of Dataplane.GetUplink on a real fabricd: a ticket
 * goes only to a connection that registered a host, and only for that
 * host; the uplink it opens is taken once, speaks for that host, and is
 * closed when the host's control connection goes; a made-up, reused or
 * orphaned ticket opens nothing.  The test plays the agents: it
 * registers hosts over its own RPC connections and opens uplinks from
 * its own event loop. */
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

#include "dataplane.pb-c.h"
#include "dframe.h"
#include "fabric.pb-c.h"
#include "fx_addr.h"
#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "harness.h"
#include "rpc.h"
#include "uplink.h"

#define T_CALL_MS 5000

struct t_ctx {
    char *dir;
    pid_t pid;
    char addr[64];
    char log[4096];
    struct event_base *base;
    struct event *tick;              /* Wakes the loop while waiting. */
};

static int
t_addr_written(void *arg)
{
    struct t_ctx *t = arg;
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof path, "%s/fabric.addr", t->dir);
    fp = fopen(path, "r");
    if (!fp) {
        return 0;
    }
    if (!fgets(t->addr, sizeof t->addr, fp)) {
        t->addr[0] = '\0';
    }
    fclose(fp);
    t->addr[strcspn(t->addr, "\n")] = '\0';
    return t->addr[0] != '\0';
}

static void
t_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
}

/* fabricd with a heartbeat timeout longer than any test: the hosts the
 * test registers stay up until their connections close. */
static int
t_setup(void **state)
{
    struct t_ctx *t = calloc(1, sizeof *t);
    const struct timeval tv = { 0, 10000 };
    char bin[4096], af[4096];
    char *argv[] = { bin, "--listen", "127.0.0.1:0", "--addr-file", af,
                     "--heartbeat-timeout", "600000", NULL };

    t->dir = th_mkdtemp("dpsvc");
    th_bin(bin, sizeof bin, "fabricd");
    snprintf(af, sizeof af, "%s/fabric.addr", t->dir);
    snprintf(t->log, sizeof t->log, "%s/fabricd.log", t->dir);
    assert_int_equal(fx_proc_spawn(argv, t->log, &t->pid, NULL), 0);
    assert_true(th_wait(t_addr_written, t, 10000));
    t->base = event_base_new();
    t->tick = event_new(t->base, -1, EV_PERSIST, t_tick_cb, NULL);
    event_add(t->tick, &tv);
    *state = t;
    return 0;
}

static int
t_teardown(void **state)
{
    struct t_ctx *t = *state;

    event_free(t->tick);
    event_base_free(t->base);
    assert_int_equal(fx_proc_stop(t->pid, 5000, NULL), 0);
    assert_true(th_logs_clean(t->dir));
    th_rmrf(t->dir);
    free(t->dir);
    free(t);
    return 0;
}

/* Steps the loop until 'cond(t, arg)' holds or 'ms' pass. */
static int
t_until(struct t_ctx *t, int (*cond)(struct t_ctx *, void *), void *arg,
        uint32_t ms)
{
    uint64_t deadline = fx_time_now_ms() + ms;

    while (!cond(t, arg) && fx_time_now_ms() < deadline) {
        event_base_loop(t->base, EVLOOP_ONCE);
    }
    return cond(t, arg);
}

static int
t_log_count(const struct t_ctx *t, const char *needle)
{
    char line[1024];
    int n = 0;
    FILE *fp = fopen(t->log, "r");

    while (fp && fgets(line, sizeof line, fp)) {
        n += strstr(line, needle) != NULL;
    }
    if (fp) {
        fclose(fp);
    }
    return n;
}

/* What t_until waits for in fabricd's log: 'needle' 'n' times. */
struct t_lines {
    const char *needle;
    int n;
};

static int
t_logged(struct t_ctx *t, void *arg)
{
    const struct t_lines *l = arg;

    return t_log_count(t, l->needle) == l->n;
}

static int
t_closed(struct t_ctx *t, void *arg)
{
    (void) t;
    return uplink_is_closed(arg);
}

/* A control connection proven as the agent of 'host' (fabricd runs
 * without a secret: the name is claimed, not proven, on loopback). */
static struct rpc_conn *
t_connect(struct t_ctx *t, const char *host)
{
    struct rpc_opts opts = { .me = { .role = AUTH_ROLE_AGENT } };
    struct rpc_conn *c;

    snprintf(opts.me.name, sizeof opts.me.name, "%s", host);
    c = rpc_conn_connect(t->base, t->addr, &opts, NULL, NULL, NULL, NULL);

    assert_non_null(c);
    return c;
}

/* Registers host 'name' on 'c', as an agent does. */
static void
t_register(struct rpc_conn *c, const char *name)
{
    Fexsim__V1__RegisterHostRequest req =
        FEXSIM__V1__REGISTER_HOST_REQUEST__INIT;
    const ProtobufCMessageDescriptor *desc =
        &fexsim__v1__register_host_reply__descriptor;
    ProtobufCMessage *rep;
    struct fx_err err;

    req.name = (char *) name;
    req.rpc_addr = "127.0.0.1:1";
    req.hypervisor = "QEMU";
    assert_int_equal(rpc_call_sync(c, "Fabric.RegisterHost", &req.base, desc,
                                   T_CALL_MS, &rep, &err), 0);
    protobuf_c_message_free_unpacked(rep, NULL);
}

/* Asks GetUplink on 'c' for 'host'.  Returns 0 and fills '*tk' and
 * '*port', or the error with 'err'. */
static int
t_get_uplink(struct rpc_conn *c, const char *host, struct dframe_ticket *tk,
             uint16_t *port, struct fx_err *err)
{
    Fexsim__V1__GetUplinkRequest req = FEXSIM__V1__GET_UPLINK_REQUEST__INIT;
    Fexsim__V1__GetUplinkReply *rep;
    const char *colon;
    int rc;

    req.host = (char *) host;
    rc = rpc_call_sync(c, "Dataplane.GetUplink", &req.base,
                       &fexsim__v1__get_uplink_reply__descriptor, T_CALL_MS,
                       (ProtobufCMessage **) &rep, err);
    if (rc) {
        return rc;
    }
    assert_int_equal(rep->ticket.len, DFRAME_TICKET_SIZE);
    memcpy(tk->bytes, rep->ticket.data, DFRAME_TICKET_SIZE);
    colon = strrchr(rep->uplink_addr, ':');
    assert_non_null(colon);
    *port = (uint16_t) atoi(colon + 1);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return 0;
}

static void
t_rx(void *arg, uint32_t vif, const uint8_t *frame, size_t len)
{
    (void) arg;
    (void) vif;
    (void) frame;
    (void) len;
}

static struct uplink *
t_uplink(struct t_ctx *t, uint16_t port, const struct dframe_ticket *tk,
         const char *host)
{
    char addr[32];
    struct uplink_cfg cfg = { .fabric = addr, .ticket = *tk, .rx = t_rx,
                              .host = host };
    struct uplink *up;

    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    assert_int_equal(uplink_create(t->base, &cfg, &up, NULL), 0);
    return up;
}

static void
get_uplink_needs_a_registered_host(void **state)
{
    struct t_ctx *t = *state;
    struct rpc_conn *c = t_connect(t, "h1");
    struct dframe_ticket tk;
    struct fx_err err;
    uint16_t port;

    assert_int_equal(t_get_uplink(c, "h1", &tk, &port, &err), -EPERM);
    assert_non_null(strstr(err.msg, "no registered host"));
    rpc_conn_destroy(c);
}

/* The ticket is for the connection's host, whatever name it asks for. */
static void
get_uplink_is_for_the_connections_own_host(void **state)
{
    struct t_ctx *t = *state;
    struct rpc_conn *a = t_connect(t, "ha"), *b = t_connect(t, "hb");
    struct dframe_ticket tk, tk2;
    struct fx_err err;
    uint16_t port;

    t_register(a, "ha");
    t_register(b, "hb");
    assert_int_equal(t_get_uplink(a, "hb", &tk, &port, &err), -EPERM);
    assert_string_equal(err.msg, "this connection is host 'ha', not 'hb'");
    assert_int_equal(t_get_uplink(a, "ha", &tk, &port, &err), 0);
    assert_int_equal(t_get_uplink(b, "", &tk2, &port, &err), 0);
    assert_memory_not_equal(tk.bytes, tk2.bytes, DFRAME_TICKET_SIZE);
    rpc_conn_destroy(a);
    rpc_conn_destroy(b);
}

/* host 'ha' (index 0) gets a ticket; its uplink is taken; the same ticket
 * again, a made-up one, and one whose host went down are refused, each
 * with one log line; the taken uplink lives as long as the control
 * connection that registered its host. */
static void
ticket_opens_one_uplink_for_as_long_as_its_host_is_up(void **state)
{
    struct t_ctx *t = *state;
    struct rpc_conn *a = t_connect(t, "ha"), *b = t_connect(t, "hb");
    struct t_lines taken = { "is host 0", 1 };
    struct t_lines refused = { "unknown ticket", 1 };
    struct t_lines down = { "closed: host 0 is down", 1 };
    struct dframe_ticket tk, made_up, orphan;
    struct uplink *up, *again;
    uint16_t port;

    t_register(a, "ha");
    assert_int_equal(t_get_uplink(a, "ha", &tk, &port, NULL), 0);
    up = t_uplink(t, port, &tk, "ha");
    assert_true(t_until(t, t_logged, &taken, 5000));
    again = t_uplink(t, port, &tk, "ha");
    assert_true(t_until(t, t_closed, again, 5000));
    assert_true(t_until(t, t_logged, &refused, 5000));
    uplink_destroy(again);
    memset(made_up.bytes, 0xa5, sizeof made_up.bytes);
    again = t_uplink(t, port, &made_up, "ha");
    assert_true(t_until(t, t_closed, again, 5000));
    uplink_destroy(again);
    refused.n = 2;
    assert_true(t_until(t, t_logged, &refused, 5000));
    t_register(b, "hb");
    /* hb's ticket presented by an uplink that proved to be ha's agent. */
    assert_int_equal(t_get_uplink(b, "hb", &orphan, &port, NULL), 0);
    again = t_uplink(t, port, &orphan, "ha");
    assert_true(t_until(t, t_closed, again, 5000));
    uplink_destroy(again);
    assert_true(t_until(t, t_logged, &(struct t_lines) {
                            "presents the ticket of another host", 1 },
                        5000));
    assert_int_equal(t_get_uplink(b, "hb", &orphan, &port, NULL), 0);
    rpc_conn_destroy(b);                     /* Host hb goes down. */
    again = t_uplink(t, port, &orphan, "hb");
    assert_true(t_until(t, t_closed, again, 5000));
    uplink_destroy(again);
    refused.n = 3;
    assert_true(t_until(t, t_logged, &refused, 5000));
    assert_false(uplink_is_closed(up));
    assert_int_equal(t_log_count(t, "is host"), 1);
    rpc_conn_destroy(a);                     /* Host ha goes down. */
    assert_true(t_until(t, t_closed, up, 5000));
    assert_true(t_until(t, t_logged, &down, 5000));
    uplink_destroy(up);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(get_uplink_needs_a_registered_host),
        T(get_uplink_is_for_the_connections_own_host),
        T(ticket_opens_one_uplink_for_as_long_as_its_host_is_up),
    };

    return cmocka_run_group_tests_name("dpsvc", tests, NULL, NULL);
}
