#include "rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "frame.h"
#include "fx_err.h"
#include "fx_addr.h"
#include "log.h"
#include "rpc.pb-c.h"

LOG_MODULE("rpc");

/* calloc() that aborts on OOM, like every allocation in the library: a
 * daemon out of memory cannot answer anyway. */
static void *
rpc_xzalloc(size_t size)
{
    void *p = calloc(1, size ? size : 1);

    if (!p) {
        abort();
    }
    return p;
}

/* One block of a call's arena. */
struct rpc_chunk {
    struct rpc_chunk *next;
    max_align_t data[];
};

struct rpc_call {
    struct rpc_conn *conn;              /* NULL once the conn is gone. */
    struct rpc_call *next_deferred;     /* In conn->deferred. */
    uint64_t id;
    const struct rpc_registry_entry *entry;
    ProtobufCMessage *rep;              /* In the arena. */
    struct rpc_chunk *arena;
};

/* An outgoing request waiting for its reply. */
struct rpc_pending {
    struct rpc_pending *next;
    struct rpc_conn *conn;
    uint64_t id;
    const ProtobufCMessageDescriptor *rep_desc;
    rpc_reply_fn cb;
    void *arg;
    struct event *timer;                /* NULL without a timeout. */
};

struct rpc_conn {
    struct bufferevent *bev;
    const struct rpc_registry *registry;     /* May be NULL. */
    rpc_conn_event_fn event_cb;
    void *event_arg;
    void *data;
    char peer[64];
    uint64_t next_id;
    struct rpc_pending *pending;
    struct rpc_call *deferred;
    struct rpc_server *server;               /* Owner, if accepted. */
    struct rpc_conn *prev, *next;            /* In server->conns. */
    int busy;           /* Nesting depth of callbacks on this conn. */
    int dead;           /* Closing; freed when no longer busy. */
    int notify;         /* Call event_cb(CLOSED) when closing. */
    int connected;      /* Ever connected (accepted ones always are). */
    char close_reason[200];
};

struct rpc_server {
    struct evconnlistener *listener;
    const struct rpc_registry *registry;
    rpc_conn_event_fn cb;
    void *arg;
    struct rpc_conn *conns;
    char addr[64];
};

/* ---- Calls being served ---- */

void *
rpc_call_alloc(struct rpc_call *call, size_t size)
{
    struct rpc_chunk *chunk = rpc_xzalloc(sizeof *chunk + size);

    chunk->next = call->arena;
    call->arena = chunk;
    return chunk->data;
}

char *
rpc_call_strdup(struct rpc_call *call, const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(rpc_call_alloc(call, n), s, n);
}

struct rpc_conn *
rpc_call_conn(const struct rpc_call *call)
{
    return call->conn;
}

ProtobufCMessage *
rpc_call_reply(struct rpc_call *call)
{
    return call->rep;
}

static void
rpc_call_free(struct rpc_call *call)
{
    struct rpc_chunk *chunk = call->arena;

    while (chunk) {
        struct rpc_chunk *next = chunk->next;

        free(chunk);
        chunk = next;
    }
    free(call);
}

/* ---- Sending ---- */

/* Frames and queues 'env'.  Returns 0 or -EMSGSIZE. */
static int
rpc_conn_send_env(struct rpc_conn *conn, const Fexsim__V1__Envelope *env,
                  uint8_t version)
{
    struct evbuffer *out = bufferevent_get_output(conn->bev);
    size_t n = protobuf_c_message_get_packed_size(&env->base);
    struct evbuffer_iovec v;

    if (n > FRAME_MAX_SIZE) {
        return -EMSGSIZE;
    }
    if (evbuffer_reserve_space(out, (ev_ssize_t) (FRAME_HDR_SIZE + n),
                               &v, 1) != 1) {
        return -ENOMEM;
    }
    frame_encode(v.iov_base, version, (uint32_t) n);
    protobuf_c_message_pack(&env->base, (uint8_t *) v.iov_base
                                        + FRAME_HDR_SIZE);
    v.iov_len = FRAME_HDR_SIZE + n;
    evbuffer_commit_space(out, &v, 1);
    return 0;
}

/* Packs 'msg' into a new buffer for an envelope's payload. */
static ProtobufCBinaryData
rpc_pack_payload(const ProtobufCMessage *msg)
{
    ProtobufCBinaryData bd = { 0, NULL };

    if (msg) {
        bd.len = protobuf_c_message_get_packed_size(msg);
        bd.data = rpc_xzalloc(bd.len);
        protobuf_c_message_pack(msg, bd.data);
    }
    return bd;
}

static void
rpc_conn_send_reply(struct rpc_conn *conn, uint64_t id, const char *method,
                    int status, const char *message,
                    const ProtobufCMessage *rep)
{
    Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT;
    struct fx_err err;

    env.id = id;
    env.kind = FEXSIM__V1__KIND__KIND_REPLY;
    env.method = (char *) method;
    env.status = (Fexsim__V1__Status) status;
    env.message = (char *) (message ? message : "");
    env.payload = rpc_pack_payload(status == RPC_OK ? rep : NULL);
    if (rpc_conn_send_env(conn, &env, FRAME_VERSION)) {
        free(env.payload.data);
        fx_err_set(&err, -EMSGSIZE, "reply to '%s' exceeds the frame limit",
                   method);
        rpc_conn_send_reply(conn, id, method, RPC_INTERNAL, err.msg, NULL);
        return;
    }
    free(env.payload.data);
}

void
rpc_call_finish(struct rpc_call *call, int rc, const struct fx_err *err)
{
    struct rpc_conn *conn = call->conn;

    if (conn && !conn->dead) {
        struct rpc_call **pp = &conn->deferred;

        while (*pp && *pp != call) {
            pp = &(*pp)->next_deferred;
        }
        if (*pp) {
            *pp = call->next_deferred;
        }
        if (rc) {
            rpc_conn_send_reply(conn, call->id, call->entry->name,
                                rpc_status_from_errno(rc),
                                err ? err->msg : "failed", NULL);
        } else {
            rpc_conn_send_reply(conn, call->id, call->entry->name, RPC_OK,
                                NULL, call->rep);
        }
    }
    rpc_call_free(call);
}

/* ---- Receiving ---- */

static void rpc_conn_fail(struct rpc_conn *, const char *reason);

/* Serves one request. */
static void
rpc_conn_serve(struct rpc_conn *conn, const Fexsim__V1__Envelope *env)
{
    const struct rpc_registry_entry *entry =
        rpc_registry_find(conn->registry, env->method);
    ProtobufCMessage *req;
    struct rpc_call *call;
    struct fx_err err;
    int rc;

    if (!entry) {
        fx_err_set(&err, -ENOSYS, "unknown method '%s'", env->method);
        rpc_conn_send_reply(conn, env->id, env->method, RPC_UNKNOWN_METHOD,
                            err.msg, NULL);
        return;
    }
    req = protobuf_c_message_unpack(entry->method->input, NULL,
                                    env->payload.len, env->payload.data);
    if (!req) {
        fx_err_set(&err, -EBADMSG, "payload of '%s' is not a valid %s",
                   env->method, entry->method->input->name);
        rpc_conn_send_reply(conn, env->id, env->method, RPC_BAD_PAYLOAD,
                            err.msg, NULL);
        return;
    }
    call = rpc_xzalloc(sizeof *call);
    call->conn = conn;
    call->id = env->id;
    call->entry = entry;
    call->rep = rpc_call_alloc(call, entry->method->output->sizeof_message);
    entry->method->output->message_init(call->rep);
    fx_err_clear(&err);
    rc = entry->fn(entry->ctx, call, req, call->rep, &err);
    protobuf_c_message_free_unpacked(req, NULL);
    if (rc == RPC_DEFERRED) {
        call->next_deferred = conn->deferred;
        conn->deferred = call;
        return;
    }
    if (rc && !err.msg[0]) {
        fx_err_set(&err, rc, "%s failed: %s", env->method, strerror(-rc));
    }
    rpc_call_finish(call, rc, &err);
}

static struct rpc_pending *
rpc_conn_take_pending(struct rpc_conn *conn, uint64_t id)
{
    for (struct rpc_pending **pp = &conn->pending; *pp;
         pp = &(*pp)->next) {
        struct rpc_pending *p = *pp;

        if (p->id == id) {
            *pp = p->next;
            return p;
        }
    }
    return NULL;
}

static void
rpc_pending_free(struct rpc_pending *p)
{
    if (p->timer) {
        event_free(p->timer);
    }
    free(p);
}

/* Completes the outgoing request that 'env' answers. */
static void
rpc_conn_complete(struct rpc_conn *conn, const Fexsim__V1__Envelope *env)
{
    struct rpc_pending *p = rpc_conn_take_pending(conn, env->id);
    ProtobufCMessage *rep = NULL;
    int status = (int) env->status;
    const char *message = env->message;

    if (!p) {
        LOG_DBG("%s: reply to unknown request %llu", conn->peer,
                (unsigned long long) env->id);
        return;
    }
    if (status == RPC_OK) {
        rep = protobuf_c_message_unpack(p->rep_desc, NULL, env->payload.len,
                                        env->payload.data);
        if (!rep) {
            status = RPC_BAD_PAYLOAD;
            message = "reply payload does not parse";
        }
    }
    p->cb(p->arg, status, message, rep);
    if (rep) {
        protobuf_c_message_free_unpacked(rep, NULL);
    }
    rpc_pending_free(p);
}

/* Handles one whole frame: header 'hdr', envelope bytes 'buf'. */
static void
rpc_conn_process(struct rpc_conn *conn, const struct frame_hdr *hdr,
                 const uint8_t *buf)
{
    Fexsim__V1__Envelope *env;
    char msg[160];

    env = fexsim__v1__envelope__unpack(NULL, hdr->length, buf);
    if (hdr->version != FRAME_VERSION) {
        snprintf(msg, sizeof msg, "protocol version %u not supported "
                 "(this side speaks %u)", hdr->version, FRAME_VERSION);
        rpc_conn_send_reply(conn, env ? env->id : 0,
                            env ? env->method : "", RPC_BAD_VERSION, msg,
                            NULL);
    } else if (!env) {
        rpc_conn_fail(conn, "envelope does not parse");
    } else if (env->kind == FEXSIM__V1__KIND__KIND_REQUEST) {
        rpc_conn_serve(conn, env);
    } else if (env->kind == FEXSIM__V1__KIND__KIND_REPLY) {
        rpc_conn_complete(conn, env);
    } else {
        LOG_DBG("%s: ignoring event '%s'", conn->peer, env->method);
    }
    if (env) {
        fexsim__v1__envelope__free_unpacked(env, NULL);
    }
}

/* Takes the next whole frame off 'in' if there is one.  Returns 1 if a
 * frame was processed, 0 if more bytes are needed, -1 on garbage. */
static int
rpc_conn_take_frame(struct rpc_conn *conn, struct evbuffer *in)
{
    size_t avail = evbuffer_get_length(in);
    struct frame_hdr hdr;
    struct fx_err err;
    uint8_t *p;

    if (avail < FRAME_HDR_SIZE) {
        return 0;
    }
    p = evbuffer_pullup(in, FRAME_HDR_SIZE);
    if (frame_decode(p, FRAME_MAX_SIZE, &hdr, &err)) {
        rpc_conn_fail(conn, err.msg);
        return -1;
    }
    if (avail < FRAME_HDR_SIZE + (size_t) hdr.length) {
        return 0;
    }
    evbuffer_drain(in, FRAME_HDR_SIZE);
    p = evbuffer_pullup(in, hdr.length);
    rpc_conn_process(conn, &hdr, p);
    evbuffer_drain(in, hdr.length);
    return 1;
}

static void rpc_conn_free(struct rpc_conn *);

static void
rpc_conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct rpc_conn *conn = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    conn->busy++;
    while (!conn->dead && rpc_conn_take_frame(conn, in) > 0) {
        continue;
    }
    conn->busy--;
    if (conn->dead && !conn->busy) {
        rpc_conn_free(conn);
    }
}

static void
rpc_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rpc_conn *conn = arg;
    char reason[160];
    int e = EVUTIL_SOCKET_ERROR();

    (void) bev;
    if (what & BEV_EVENT_CONNECTED) {
        conn->connected = 1;
        if (conn->event_cb) {
            conn->busy++;
            conn->event_cb(conn, RPC_CONN_CONNECTED, "connected",
                           conn->event_arg);
            conn->busy--;
            if (conn->dead && !conn->busy) {
                rpc_conn_free(conn);
            }
        }
        return;
    }
    if (what & BEV_EVENT_EOF) {
        snprintf(reason, sizeof reason, "connection closed by peer");
    } else {
        snprintf(reason, sizeof reason, "%s",
                 evutil_socket_error_to_string(e));
    }
    rpc_conn_fail(conn, reason);
    if (!conn->busy) {
        rpc_conn_free(conn);
    }
}

/* ---- Connection lifecycle ---- */

static struct rpc_conn *
rpc_conn_wrap(struct event_base *base, struct bufferevent *bev,
              const struct rpc_registry *reg, rpc_conn_event_fn cb,
              void *arg)
{
    struct rpc_conn *conn = rpc_xzalloc(sizeof *conn);

    conn->bev = bev;
    conn->registry = reg;
    conn->event_cb = cb;
    conn->event_arg = arg;
    conn->next_id = 1;
    conn->notify = 1;
    snprintf(conn->peer, sizeof conn->peer, "?");
    bufferevent_setcb(bev, rpc_conn_read_cb, NULL, rpc_conn_event_cb, conn);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    (void) base;
    return conn;
}

struct rpc_conn *
rpc_conn_create(struct event_base *base, int fd,
                const struct rpc_registry *reg, rpc_conn_event_fn cb,
                void *arg)
{
    struct bufferevent *bev;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    struct rpc_conn *conn;

    evutil_make_socket_nonblocking(fd);
    bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    conn = rpc_conn_wrap(base, bev, reg, cb, arg);
    conn->connected = 1;
    if (!getpeername(fd, (struct sockaddr *) &ss, &len)) {
        fx_addr_format((struct sockaddr *) &ss, conn->peer,
                       sizeof conn->peer);
    }
    return conn;
}

struct rpc_conn *
rpc_conn_connect(struct event_base *base, const char *addr,
                 const struct rpc_registry *reg, rpc_conn_event_fn cb,
                 void *arg, struct fx_err *err)
{
    struct sockaddr_storage ss;
    struct bufferevent *bev;
    struct rpc_conn *conn;
    int len;

    if (fx_addr_parse(addr, &ss, &len, err)) {
        return NULL;
    }
    bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    conn = rpc_conn_wrap(base, bev, reg, cb, arg);
    snprintf(conn->peer, sizeof conn->peer, "%s", addr);
    /* A refused connection is reported through the event callback, like
     * any later error, so there is one path for both. */
    bufferevent_socket_connect(bev, (struct sockaddr *) &ss, len);
    return conn;
}

/* Marks 'conn' closing; it is freed by whoever holds it busy last. */
static void
rpc_conn_fail(struct rpc_conn *conn, const char *reason)
{
    if (conn->dead) {
        return;
    }
    conn->dead = 1;
    snprintf(conn->close_reason, sizeof conn->close_reason, "%s", reason);
    bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
}

/* Answers every pending request with 'status' and orphans deferred calls. */
static void
rpc_conn_drain(struct rpc_conn *conn, int status, const char *why)
{
    while (conn->pending) {
        struct rpc_pending *p = conn->pending;

        conn->pending = p->next;
        p->cb(p->arg, status, why, NULL);
        rpc_pending_free(p);
    }
    for (struct rpc_call *c = conn->deferred; c; c = c->next_deferred) {
        c->conn = NULL;
    }
    conn->deferred = NULL;
}

static void
rpc_conn_unlink(struct rpc_conn *conn)
{
    struct rpc_server *srv = conn->server;

    if (!srv) {
        return;
    }
    if (conn->prev) {
        conn->prev->next = conn->next;
    } else {
        srv->conns = conn->next;
    }
    if (conn->next) {
        conn->next->prev = conn->prev;
    }
    conn->server = NULL;
}

static void
rpc_conn_free(struct rpc_conn *conn)
{
    char why[sizeof conn->close_reason + 80];

    conn->busy++;        /* Callbacks below must not free us again. */
    snprintf(why, sizeof why, conn->connected ? "connection to %s lost: %s"
                                              : "cannot connect to %s: %s",
             conn->peer, conn->close_reason);
    rpc_conn_drain(conn, conn->notify ? RPC_UNAVAILABLE : RPC_CANCELLED,
                   why);
    if (conn->notify && conn->event_cb) {
        conn->event_cb(conn, RPC_CONN_CLOSED, conn->close_reason,
                       conn->event_arg);
    }
    rpc_conn_unlink(conn);
    bufferevent_free(conn->bev);
    free(conn);
}

void
rpc_conn_destroy(struct rpc_conn *conn)
{
    if (!conn) {
        return;
    }
    conn->notify = 0;
    rpc_conn_fail(conn, "closed locally");
    if (!conn->busy) {
        rpc_conn_free(conn);
    }
}

const char *
rpc_conn_peer(const struct rpc_conn *conn)
{
    return conn->peer;
}

void
rpc_conn_set_data(struct rpc_conn *conn, void *data)
{
    conn->data = data;
}

void *
rpc_conn_get_data(const struct rpc_conn *conn)
{
    return conn->data;
}

/* ---- Outgoing requests ---- */

static void
rpc_pending_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_pending *p = arg;
    struct rpc_conn *conn = p->conn;
    char msg[96];

    (void) fd;
    (void) what;
    p = rpc_conn_take_pending(conn, p->id);
    if (!p) {
        return;
    }
    snprintf(msg, sizeof msg, "no reply from %s in time", conn->peer);
    p->cb(p->arg, RPC_TIMEOUT, msg, NULL);
    rpc_pending_free(p);
}

int
rpc_conn_call(struct rpc_conn *conn, const char *method,
              const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *rep_desc,
              uint32_t timeout_ms, rpc_reply_fn cb, void *arg,
              uint64_t *idp)
{
    Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT;
    struct rpc_pending *p;
    int rc;

    if (conn->dead) {
        return -ENOTCONN;
    }
    env.id = conn->next_id++;
    env.kind = FEXSIM__V1__KIND__KIND_REQUEST;
    env.method = (char *) method;
    env.payload = rpc_pack_payload(req);
    rc = rpc_conn_send_env(conn, &env, FRAME_VERSION);
    free(env.payload.data);
    if (rc) {
        return rc;
    }
    p = rpc_xzalloc(sizeof *p);
    *p = (struct rpc_pending) { .next = conn->pending, .conn = conn,
                                .id = env.id, .rep_desc = rep_desc,
                                .cb = cb, .arg = arg };
    if (timeout_ms) {
        struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

        p->timer = evtimer_new(bufferevent_get_base(conn->bev),
                               rpc_pending_timeout_cb, p);
        evtimer_add(p->timer, &tv);
    }
    conn->pending = p;
    if (idp) {
        *idp = env.id;
    }
    return 0;
}

void
rpc_conn_cancel(struct rpc_conn *conn, uint64_t id)
{
    struct rpc_pending *p = rpc_conn_take_pending(conn, id);

    if (p) {
        rpc_pending_free(p);
    }
}

struct rpc_sync {
    int done;
    int status;
    char message[200];
    const ProtobufCMessageDescriptor *rep_desc;
    ProtobufCMessage *rep;
};

static void
rpc_sync_cb(void *arg, int status, const char *message,
            const ProtobufCMessage *rep)
{
    struct rpc_sync *s = arg;
    uint8_t *buf;
    size_t n;

    s->done = 1;
    s->status = status;
    snprintf(s->message, sizeof s->message, "%s", message ? message : "");
    if (rep) {
        /* 'rep' is freed after we return: keep our own copy. */
        n = protobuf_c_message_get_packed_size(rep);
        buf = rpc_xzalloc(n);
        protobuf_c_message_pack(rep, buf);
        s->rep = protobuf_c_message_unpack(s->rep_desc, NULL, n, buf);
        free(buf);
    }
}

int
rpc_call_sync(struct rpc_conn *conn, const char *method,
              const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *rep_desc,
              uint32_t timeout_ms, ProtobufCMessage **repp,
              struct fx_err *err)
{
    struct event_base *base = bufferevent_get_base(conn->bev);
    struct rpc_sync s = { .rep_desc = rep_desc };
    int rc;

    rc = rpc_conn_call(conn, method, req, rep_desc, timeout_ms, rpc_sync_cb,
                       &s, NULL);
    if (rc) {
        return fx_err_set(err, rc, "cannot send %s: %s", method,
                          strerror(-rc));
    }
    while (!s.done) {
        event_base_loop(base, EVLOOP_ONCE);
    }
    if (s.status != RPC_OK) {
        return fx_err_set(err, rpc_status_to_errno(s.status), "%s",
                          s.message);
    }
    *repp = s.rep;
    return 0;
}

/* ---- Listening ---- */

static void
rpc_server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                     struct sockaddr *sa, int len, void *arg)
{
    struct rpc_server *srv = arg;
    struct rpc_conn *conn;

    (void) l;
    (void) sa;
    (void) len;
    conn = rpc_conn_create(evconnlistener_get_base(l), fd, srv->registry,
                           srv->cb, srv->arg);
    conn->server = srv;
    conn->next = srv->conns;
    if (srv->conns) {
        srv->conns->prev = conn;
    }
    srv->conns = conn;
    LOG_DBG("accepted connection from %s", conn->peer);
}

struct rpc_server *
rpc_server_create(struct event_base *base, const char *addr,
                  const struct rpc_registry *reg, rpc_conn_event_fn cb,
                  void *arg, struct fx_err *err)
{
    struct sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    struct rpc_server *srv;
    int len;

    if (fx_addr_parse(addr, &ss, &len, err)) {
        return NULL;
    }
    srv = rpc_xzalloc(sizeof *srv);
    srv->registry = reg;
    srv->cb = cb;
    srv->arg = arg;
    srv->listener = evconnlistener_new_bind(
        base, rpc_server_accept_cb, srv,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
        (struct sockaddr *) &ss, len);
    if (!srv->listener) {
        fx_err_set(err, -errno, "cannot listen on %s: %s", addr,
                   strerror(errno));
        free(srv);
        return NULL;
    }
    getsockname(evconnlistener_get_fd(srv->listener),
                (struct sockaddr *) &ss, &slen);
    fx_addr_format((struct sockaddr *) &ss, srv->addr, sizeof srv->addr);
    return srv;
}

void
rpc_server_destroy(struct rpc_server *srv)
{
    if (!srv) {
        return;
    }
    while (srv->conns) {
        struct rpc_conn *conn = srv->conns;

        rpc_conn_unlink(conn);
        rpc_conn_destroy(conn);
    }
    evconnlistener_free(srv->listener);
    free(srv);
}

const char *
rpc_server_addr(const struct rpc_server *srv)
{
    return srv->addr;
}
