/* fuzz_rpc: what a peer may send on a control connection.
 *
 * The input is the byte stream a peer writes: frame headers (frame.c),
 * envelopes, requests dispatched through a registry (rpc_registry.c) to
 * a small test service, and replies to the requests this side has in
 * flight, whose status codes go through rpc_status.c.  It reaches the
 * real connection code (rpc.c) through a socketpair, the loop stepped
 * without blocking.  The test service is the Fabric service of
 * fabric.proto with handlers that answer, fail, and defer (held calls are
 * finished by a later Heartbeat, or after the connection is gone), so
 * that every way a call can end is reachable from the bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "fabric.pb-c.h"
#include "feed.h"
#include "frame.h"
#include "fx_err.h"
#include "log.h"
#include "rpc.h"

#define FZ_MAX_HELD 4          /* Deferred calls the service keeps. */
#define FZ_CALLS 2             /* Requests in flight when input starts. */

struct fz {
    struct rpc_call *held[FZ_MAX_HELD];
    size_t n_held;
    int closed;                /* The connection said RPC_CONN_CLOSED. */
    int replies;               /* Our requests answered or cancelled. */
};

/* Defers a call named "defer", refuses "taken", answers the rest. */
static int
fz_register(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
            ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__RegisterHostRequest *req = (const void *) req_;
    Fexsim__V1__RegisterHostReply *rep = (void *) rep_;
    struct fz *fz = ctx;

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
fz_heartbeat(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
             ProtobufCMessage *rep, struct fx_err *err)
{
    struct fz *fz = ctx;

    (void) call;
    (void) req;
    (void) rep;
    (void) err;
    if (fz->n_held == 0) {
        return -ENOENT;
    }
    rpc_call_finish(fz->held[0], 0, NULL);
    memmove(fz->held, fz->held + 1, --fz->n_held * sizeof *fz->held);
    return 0;
}

/* Answers with a reply built in the call's arena. */
static int
fz_list(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
        ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__ListHostsReply *rep = (void *) rep_;

    (void) ctx;
    (void) req;
    (void) err;
    rep->n_hosts = 2;
    rep->hosts = rpc_call_alloc(call, rep->n_hosts * sizeof *rep->hosts);
    for (size_t i = 0; i < rep->n_hosts; i++) {
        rep->hosts[i] = rpc_call_alloc(call, sizeof *rep->hosts[i]);
        fexsim__v1__host__init(rep->hosts[i]);
        rep->hosts[i]->name = rpc_call_strdup(call, i ? "h2" : "h1");
    }
    return 0;
}

static const rpc_handler_fn fz_handlers[] = { fz_register, fz_heartbeat,
                                              fz_list };

static void
fz_event(struct rpc_conn *conn, enum rpc_conn_event ev, const char *reason,
         void *arg)
{
    struct fz *fz = arg;

    (void) conn;
    if (ev == RPC_CONN_CLOSED) {
        fz->closed = 1;
        if (!reason || !reason[0]) {
            abort();            /* A close must say why. */
        }
    }
}

/* A reply to one of our requests: whatever the peer claims, the status
 * must map to an errno and a name, and an OK reply must have parsed. */
static void
fz_reply(void *arg, int status, const char *message,
         const ProtobufCMessage *rep)
{
    struct fz *fz = arg;

    fz->replies++;
    if (!message || !rpc_status_name(status)
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
    struct rpc_registry *reg = rpc_registry_create();
    struct fz fz = { .n_held = 0 };
    struct rpc_conn *conn;
    int sv[2];

    if (!base || rpc_registry_add(reg, &fexsim__v1__fabric__descriptor,
                                  fz_handlers, 3, &fz, NULL)
        || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
        abort();
    }
    conn = rpc_conn_create(base, sv[0], reg, fz_event, &fz);
    /* Requests 1..FZ_CALLS are in flight: the input may answer them. */
    for (int i = 0; i < FZ_CALLS; i++) {
        if (rpc_conn_call(conn, "Fabric.ListHosts", &req.base,
                          &fexsim__v1__list_hosts_reply__descriptor, 0,
                          fz_reply, &fz, NULL)) {
            abort();
        }
    }
    feed_stream(base, sv[1], data, size, FEED_CHUNK, fz_closed, &fz);
    if (fz.replies != FZ_CALLS) {
        abort();                /* Closing answers every pending call. */
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
