/* fuzz_rpc: what a peer may send on a control connection.
 *
 * The input's first byte says who the fuzzer is (enum fz_mode); the rest
 * is the byte stream that peer writes.  In the raw modes it starts with
 * the lab secret's handshake (auth.c), as a stranger's would: the
 * connection must refuse it or wait, never serve it (nobody can forge a
 * proof over the connection's fresh nonce).  In the others the harness
 * has already run the real handshake's other end (no secret, as a peer of
 * the role the byte picks), so that the stream reaches what only a proven
 * peer reaches: frame headers (frame.c), envelopes read by hand or by
 * protobuf-c (rpc_env.c) into the connection's arena (rpc_arena.c) and
 * their strings (pbcheck.c), requests dispatched through a registry (rpc_registry.c) to
 * a small test service with per-method roles, pushed events, and replies
 * to the requests this side has in flight, whose status codes go through
 * rpc_status.c.  It reaches the real connection code (rpc.c) through a
 * socketpair, the loop stepped without blocking.
 *
 * The test service is the Fabric service of fabric.proto with handlers
 * that answer, fail, and defer (held calls are finished by a later
 * Heartbeat, or after the connection is gone), and that open an event
 * stream after a reply, so that every way a call can end is reachable
 * from the bytes. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth.h"
#include "fabric.pb-c.h"
#include "feed.h"
#include "frame.h"
#include "fx_err.h"
#include "log.h"
#include "pbcheck.h"
#include "rpc.h"

#define FZ_MAX_HELD 4          /* Deferred calls the service keeps. */
#define FZ_CALLS 2             /* Requests in flight when input starts. */

/* The input's first byte. */
enum fz_mode {
    FZ_RAW_SERVER = 0,         /* Bytes to our server end, handshake on. */
    FZ_RAW_CLIENT = 1,         /* Bytes to our client end, as the server's
                                * answer to its HELLO. */
    /* 2 and up: the handshake done by the harness; bit 0 says whether the
     * connection is its client end, bits 1-2 the peer's role. */
};

struct fz {
    struct rpc_conn *conn;
    struct rpc_call *held[FZ_MAX_HELD];
    size_t n_held;
    enum auth_role role;       /* What the harness proves, if it does. */
    int connected;             /* RPC_CONN_CONNECTED seen. */
    int closed;                /* CLOSED or REFUSED seen. */
    int replies;               /* Our requests answered or cancelled. */
};

/* Checks what the dispatcher promises a handler: a peer proven as the
 * harness, request strings that are text. */
static void
fz_check_call(const struct fz *fz, const struct rpc_call *call,
              const char *s)
{
    if (!fz->connected || rpc_call_peer(call)->role != fz->role
        || pbcheck_text((const uint8_t *) s, strlen(s), "s", NULL)) {
        abort();
    }
}

/* Defers a call named "defer", refuses "taken", answers the rest. */
static int
fz_register(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
            ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__RegisterHostRequest *req = (const void *) req_;
    Fexsim__V1__RegisterHostReply *rep = (void *) rep_;
    struct fz *fz = ctx;

    fz_check_call(fz, call, req->name);
    fz_check_call(fz, call, req->rpc_addr);
    if (!strcmp(req->name, "defer") && fz->n_held < FZ_MAX_HELD) {
        fz->held[fz->n_held++] = call;
        return RPC_DEFERRED;
    }
    if (!strcmp(req->name, "taken")) {
        return fx_err_set(err, -EEXIST, "host '%s' exists", req->name);
    }
    rep->heartbeat_interval_ms = (uint32_t) strlen(req->name);
    return 0;
}

/* Finishes the oldest held call while its connection lives, or fails
 * without a message when none is held (the dispatcher words it). */
static int
fz_heartbeat(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep, struct fx_err *err)
{
    const Fexsim__V1__HeartbeatRequest *req = (const void *) req_;
    struct fz *fz = ctx;

    (void) rep;
    (void) err;
    fz_check_call(fz, call, req->name);
    if (fz->n_held == 0) {
        return -ENOENT;
    }
    rpc_call_finish(fz->held[0], 0, NULL);
    memmove(fz->held, fz->held + 1, --fz->n_held * sizeof *fz->held);
    return 0;
}

/* After the reply to a ListHosts: a stream of two events on its id, as
 * Events.Subscribe opens one. */
static void
fz_then(void *arg, struct rpc_conn *conn, uint64_t id)
{
    Fexsim__V1__Host host = FEXSIM__V1__HOST__INIT;
    int rc;

    (void) arg;
    host.name = "h1";
    for (int i = 0; i < 2; i++) {
        rc = rpc_conn_send_event(conn, id, "Fabric.HostUp", &host.base);
        if (rc && rc != -EPIPE && rc != -ENOBUFS) {
            abort();
        }
    }
}

/* Answers with a reply built in the call's arena, then the stream. */
static int
fz_list(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
        ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__ListHostsReply *rep = (void *) rep_;

    (void) req;
    (void) err;
    fz_check_call(ctx, call, "");
    rep->n_hosts = 2;
    rep->hosts = rpc_call_alloc(call, rep->n_hosts * sizeof *rep->hosts);
    for (size_t i = 0; i < rep->n_hosts; i++) {
        rep->hosts[i] = rpc_call_alloc(call, sizeof *rep->hosts[i]);
        fexsim__v1__host__init(rep->hosts[i]);
        rep->hosts[i]->name = rpc_call_strdup(call, i ? "h2" : "h1");
    }
    rpc_call_then(call, fz_then, ctx);
    return 0;
}

/* GetHost: a refusal by a rule, so that a reason goes out. */
static int
fz_get_host(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
            ProtobufCMessage *rep, struct fx_err *err)
{
    (void) ctx;
    (void) call;
    (void) req;
    (void) rep;
    return fx_err_refuse(err, -EPERM, "fuzzRule", "refused by a rule");
}

/* GetVersion: an empty reply. */
static int
fz_get_version(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
               ProtobufCMessage *rep, struct fx_err *err)
{
    (void) ctx;
    (void) call;
    (void) req;
    (void) rep;
    (void) err;
    return 0;
}

static const rpc_handler_fn fz_handlers[] = { fz_register, fz_heartbeat,
                                              fz_list, fz_get_host,
                                              fz_get_version };

static void
fz_event(struct rpc_conn *conn, enum rpc_conn_event ev, const char *reason,
         void *arg)
{
    struct fz *fz = arg;

    (void) conn;
    if (ev == RPC_CONN_CONNECTED) {
        fz->connected++;
        return;
    }
    if (fz->closed++ || !reason || !reason[0]) {
        abort();            /* A close is said once, and says why. */
    }
}

/* An event the peer pushed: its name went through the envelope's string
 * check, so it is text. */
static void
fz_push(void *arg, uint64_t id, const char *name, const uint8_t *payload,
        size_t len)
{
    (void) arg;
    (void) id;
    if (!name || pbcheck_text((const uint8_t *) name, strlen(name), "name",
                              NULL)
        || (len && !payload) || len > FRAME_MAX_SIZE) {
        abort();
    }
}

/* A reply to one of our requests: whatever the peer claims, the status
 * must map to an errno and a name, the message be text, and an OK reply
 * must have parsed. */
static void
fz_reply(void *arg, int status, const char *message,
         const char *reason, const ProtobufCMessage *rep)
{
    struct fz *fz = arg;

    fz->replies++;
    if (!message || !reason || !rpc_status_name(status)
        || pbcheck_text((const uint8_t *) message, strlen(message), "m",
                        NULL)
        || pbcheck_text((const uint8_t *) reason, strlen(reason), "r", NULL)
        || (status == RPC_OK && reason[0])
        || (status == RPC_OK) != (rep != NULL)
        || (status != RPC_OK && rpc_status_to_errno(status) >= 0)) {
        abort();
    }
    if (rep) {
        const Fexsim__V1__ListHostsReply *r = (const void *) rep;

        /* Read as a caller would: every host there, its name a string
         * within the frame. */
        for (size_t i = 0; i < r->n_hosts; i++) {
            if (!r->hosts[i] || strlen(r->hosts[i]->name) > FRAME_MAX_SIZE) {
                abort();
            }
        }
    }
}

static int
fz_closed(void *arg)
{
    return ((struct fz *) arg)->closed;
}

/* The registry: Fabric served to every role but RegisterHost, which only
 * agents and peers may call, so that PERMISSION_DENIED is reachable. */
static struct rpc_registry *
fz_registry(struct fz *fz)
{
    struct rpc_registry *reg = rpc_registry_create();

    if (rpc_registry_add(reg, &fexsim__v1__fabric__descriptor, fz_handlers,
                         sizeof fz_handlers / sizeof *fz_handlers, fz,
                         AUTH_ROLES_ALL, NULL)
        || rpc_registry_set_roles(reg, "Fabric.RegisterHost",
                                  AUTH_ROLE_MASK(AUTH_ROLE_AGENT)
                                  | AUTH_ROLE_MASK(AUTH_ROLE_PEER), NULL)) {
        abort();
    }
    return reg;
}

/* Proves the harness's end of the handshake on 'fd' against 'fz->conn',
 * whose other end it is (client: the harness is the server). */
static void
fz_prove(struct event_base *base, int fd, struct fz *fz, bool client)
{
    const struct auth_ident me = { fz->role, "h1" };
    struct auth_key none;
    struct auth *a;

    auth_key_none(&none);
    a = client ? auth_server_new(&none, &me, AUTH_ROLES_ALL)
               : auth_client_new(&none, &me);
    feed_handshake(base, fd, a);
    auth_destroy(a);
    /* The connection reads RESULT (or PROOF) on its next step. */
    for (unsigned i = 0; !fz->connected; i++) {
        if (i == FEED_MAX_STEPS) {
            abort();
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    feed_init();
    log_set_level(LOG_LVL_ERR);     /* One warning per input is noise. */
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fexsim__V1__ListHostsRequest req = FEXSIM__V1__LIST_HOSTS_REQUEST__INIT;
    struct event_base *base = event_base_new();
    struct fz fz = { .n_held = 0 };
    struct rpc_registry *reg = fz_registry(&fz);
    uint8_t mode = size ? data[0] : FZ_RAW_SERVER;
    bool client = mode & 1;
    int sv[2];

    if (!base || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        abort();
    }
    fz.role = (enum auth_role) (AUTH_ROLE_OPERATOR + ((mode >> 1) & 3));
    fz.conn = rpc_conn_create(base, sv[0], client, NULL, reg, fz_event, &fz);
    rpc_conn_set_event_fn(fz.conn, fz_push, &fz);
    /* Requests 1..FZ_CALLS are in flight (held until the peer is proven):
     * the input may answer them. */
    for (int i = 0; i < FZ_CALLS; i++) {
        if (rpc_conn_call(fz.conn, "Fabric.ListHosts", &req.base,
                          &fexsim__v1__list_hosts_reply__descriptor, 0,
                          fz_reply, &fz, NULL)) {
            abort();
        }
    }
    if (mode > FZ_RAW_CLIENT) {
        fz_prove(base, sv[1], &fz, client);
    }
    feed_stream(base, sv[1], data + !!size, size - !!size, FEED_CHUNK,
                fz_closed, &fz);
    if (fz.replies != FZ_CALLS
        || fz.connected != (mode > FZ_RAW_CLIENT)) {
        /* Closing answers every pending call; no stranger is proven. */
        abort();
    }
    /* The connection is gone: finishing a held call must be harmless. */
    for (size_t i = 0; i < fz.n_held; i++) {
        rpc_call_finish(fz.held[i], -ECANCELED, NULL);
    }
    feed_close(sv[1]);
    rpc_registry_destroy(reg);
    event_base_free(base);
    return 0;
}
