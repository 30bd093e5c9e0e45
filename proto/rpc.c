#include "rpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "frame.h"
#include "rpc_arena.h"
#include "rpc_env.h"
#include "pbcheck.h"
#include "fx_addr.h"
#include "fx_err.h"
#include "fx_ratelimit.h"
#include "fx_time.h"
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
    struct auth_ident peer;             /* Who asked. */
    struct rpc_call *next_deferred;     /* In conn->deferred. */
    uint64_t id;
    const struct rpc_registry_entry *entry;
    ProtobufCMessage *rep;              /* In the arena. */
    struct rpc_chunk *arena;
    rpc_then_fn then;                   /* After a successful reply. */
    void *then_arg;
    size_t cap, used;                   /* Of 'space'. */
    max_align_t space[];                /* 'cap' bytes allocated with the
                                         * call: the reply, then what
                                         * rpc_call_alloc() fits. */
};

/* What a call brings beside its reply for rpc_call_alloc(), so that a
 * handler's few strings cost no allocation of their own. */
#define RPC_CALL_INLINE 256
#define RPC_CALL_ALIGN (sizeof (max_align_t))
#define RPC_CALL_ROUND(n) (((n) + RPC_CALL_ALIGN - 1) & ~(RPC_CALL_ALIGN - 1))

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
    struct bufferevent *bev;                 /* Writes, connects. */
    struct event *rd;                        /* Owned: reads, once
                                              * connected. */
    int reading;                             /* 'rd' is added. */
    struct rpc_call *spare;                  /* Owned: a call to reuse. */
    struct rpc_pending *spare_pending;       /* Owned: one to reuse. */
    struct rpc_arena arena;                  /* What frames unpack. */
    struct rpc_opts opts;                    /* Limits filled in. */
    struct auth *auth;                       /* Owned while proving. */
    struct auth_key no_key;                  /* The key without a secret. */
    struct auth_ident peer_ident;            /* Once proven. */
    int authed;                              /* The peer is proven. */
    int client;                              /* The handshake's client. */
    struct evbuffer *held;                   /* Owned: client frames sent
                                              * before the peer is proven. */
    struct event *timer;                     /* Owned: handshake, or a
                                              * frame left half sent. */
    struct event *reaper;                    /* Owned: frees a connection
                                              * closed outside callbacks. */
    int flush_close;                         /* Close once the output is
                                              * out (a refusal's reason). */
    int paused;                              /* Not reading requests: its
                                              * replies are not out yet. */
    int batching;                            /* In a read callback whose
                                              * replies leave at its end,
                                              * in one write. */
    uint8_t *obuf;                           /* Owned: what the batch
                                              * sends, 'olen' bytes of
                                              * 'ocap'. */
    size_t olen, ocap;
    size_t paused_queued;                    /* Output when the pause last
                                              * saw the peer read. */
    int refused;                             /* The handshake failed. */
    const struct rpc_registry *registry;     /* May be NULL. */
    rpc_conn_event_fn event_cb;
    void *event_arg;
    rpc_event_fn push_fn;                    /* Incoming events. */
    void *push_arg;
    void *data;
    char peer[64];
    uint64_t next_id;
    struct rpc_pending *pending;             /* Oldest first: replies
                                              * mostly come in order. */
    struct rpc_pending **pending_tail;       /* Where the next goes. */
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
    struct rpc_opts opts;                    /* Limits filled in. */
    const struct rpc_registry *registry;
    rpc_conn_event_fn cb;
    void *arg;
    struct rpc_conn *conns;
    uint32_t n_conns;
    struct fx_ratelimit bad_peers;           /* Log lines about peers. */
    struct event *accept_backoff;            /* Owned: listening again. */
    char addr[64];
};

/* ---- Lines about bad peers ---- */

/* Logs a line about a peer unless the server logged too many lately
 * (a flood of bad peers must not fill the disk); the next line that goes
 * out says how many were held back. */
static void __attribute__((format(printf, 2, 3)))
rpc_server_warn(struct rpc_server *srv, const char *fmt, ...)
{
    char line[320];
    unsigned missed;
    va_list ap;

    if (!fx_ratelimit_allow(&srv->bad_peers, fx_time_now_ms(), &missed)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (missed) {
        LOG_WARN("%s (and %u others, not logged)", line, missed);
    } else {
        LOG_WARN("%s", line);
    }
}

/* ---- Calls being served ---- */

void *
rpc_call_alloc(struct rpc_call *call, size_t size)
{
    struct rpc_chunk *chunk;

    if (RPC_CALL_ROUND(size) <= call->cap - call->used) {
        void *p = (char *) call->space + call->used;

        call->used += RPC_CALL_ROUND(size);
        return p;
    }
    chunk = rpc_xzalloc(sizeof *chunk + size);

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

const struct auth_ident *
rpc_call_peer(const struct rpc_call *call)
{
    return &call->peer;
}

ProtobufCMessage *
rpc_call_reply(struct rpc_call *call)
{
    return call->rep;
}

/* A zeroed call on 'conn' with room for a reply of 'rep_size' bytes:
 * the connection's spare one if it is big enough (a call answered at
 * once leaves it there), so that a cheap call costs no allocation. */
static struct rpc_call *
rpc_call_new(struct rpc_conn *conn, size_t rep_size)
{
    size_t cap = RPC_CALL_ROUND(rep_size) + RPC_CALL_INLINE;
    struct rpc_call *call = conn->spare;

    if (call && call->cap >= cap) {
        conn->spare = NULL;
        cap = call->cap;
        memset(call, 0, sizeof *call + cap);
    } else {
        call = rpc_xzalloc(sizeof *call + cap);
    }
    call->conn = conn;
    call->cap = cap;
    return call;
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
    if (call->conn && !call->conn->spare) {
        call->conn->spare = call;
    } else {
        free(call);
    }
}

/* ---- Sending ---- */

static void rpc_conn_close_soon(struct rpc_conn *, const char *reason);

/* Frames and queues envelope 'e' around 'msg' (NULL: no payload): on
 * the socket, or held until the peer is proven.  The envelope is packed
 * in place and the message into it (rpc_env.h), no copy.  A peer that
 * lets more than opts.max_queued bytes pile up does not read: it is
 * closed.  Returns 0, -EMSGSIZE or -ENOBUFS. */
static int
rpc_conn_send(struct rpc_conn *conn, struct rpc_env *e,
              const ProtobufCMessage *msg)
{
    struct evbuffer *out = conn->authed ? bufferevent_get_output(conn->bev)
                                        : conn->held;
    struct evbuffer_iovec v;
    uint8_t *hole;
    char why[96];
    size_t n, queued;

    e->payload_len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    if (e->payload_len > FRAME_MAX_SIZE) {
        return -EMSGSIZE;
    }
    n = rpc_env_size(e);
    if (n > FRAME_MAX_SIZE) {
        return -EMSGSIZE;
    }
    /* Outside a batch the loop writes, as soon as the socket takes it. */
    if (conn->authed && !conn->batching && !conn->dead
        && !(bufferevent_get_enabled(conn->bev) & EV_WRITE)) {
        bufferevent_enable(conn->bev, EV_WRITE);
    }
    queued = rpc_conn_queued(conn);
    if (queued > conn->opts.max_queued) {
        snprintf(why, sizeof why, "the peer does not read: %zu bytes "
                 "queued to it", queued);
        rpc_conn_close_soon(conn, why);
        return -ENOBUFS;
    }
    if (conn->batching) {
        /* Into the batch's flat buffer, sent with one send() at its
         * end: no evbuffer chain, callback or writev() for each reply. */
        if (conn->ocap - conn->olen < FRAME_HDR_SIZE + n) {
            size_t cap = conn->ocap ? conn->ocap : 4096;

            while (cap - conn->olen < FRAME_HDR_SIZE + n) {
                cap *= 2;
            }
            conn->obuf = realloc(conn->obuf, cap);
            if (!conn->obuf) {
                abort();
            }
            conn->ocap = cap;
        }
        v.iov_base = conn->obuf + conn->olen;
        conn->olen += FRAME_HDR_SIZE + n;
    } else if (evbuffer_reserve_space(out,
                                      (ev_ssize_t) (FRAME_HDR_SIZE + n),
                                      &v, 1) != 1) {
        return -ENOMEM;
    }
    frame_encode(v.iov_base, FRAME_VERSION, (uint32_t) n);
    hole = rpc_env_pack(e, (uint8_t *) v.iov_base + FRAME_HDR_SIZE);
    if (msg) {
        protobuf_c_message_pack(msg, hole);
    }
    if (!conn->batching) {
        v.iov_len = FRAME_HDR_SIZE + n;
        evbuffer_commit_space(out, &v, 1);
    }
    return 0;
}

/* A connection's arena: a cheap call's envelope and request take a few
 * hundred bytes; what does not fit is malloc()ed. */
#define RPC_ARENA_SIZE 8192

/* The most of a batch's buffer a connection keeps between batches. */
#define RPC_OBUF_KEEP (64u * 1024)

/* The longest method name a reply echoes: a real one is far shorter, and
 * a longer one is the requester's garbage, not worth sending back. */
#define RPC_ECHO_MAX 128

static void
rpc_conn_send_reply(struct rpc_conn *conn, uint64_t id, const char *method,
                    int status, const char *message, const char *reason,
                    const ProtobufCMessage *rep)
{
    struct rpc_env env = {
        .id = id,
        .kind = FEXSIM__V1__KIND__KIND_REPLY,
        .method = strlen(method) <= RPC_ECHO_MAX ? method : "",
        .status = status,
        .message = message,
        .reason = reason && status != RPC_OK ? reason : NULL,
    };

    if (rpc_conn_send(conn, &env, status == RPC_OK ? rep : NULL)
        == -EMSGSIZE) {
        /* Too big for a frame: a short error instead, which fits (no
         * payload, no echo). */
        env = (struct rpc_env) {
            .id = id,
            .kind = FEXSIM__V1__KIND__KIND_REPLY,
            .status = RPC_RESOURCE_EXHAUSTED,
            .message = "the reply exceeds the 4 MiB frame limit",
        };
        rpc_conn_send(conn, &env, NULL);
    }
}

void
rpc_call_finish(struct rpc_call *call, int rc, const struct fx_err *err)
{
    struct rpc_conn *conn = call->conn;

    if (conn && !conn->dead) {
        struct rpc_call **pp = &conn->deferred;
        int status = rc ? rpc_status_from_errno(rc) : RPC_OK;

        while (*pp && *pp != call) {
            pp = &(*pp)->next_deferred;
        }
        if (*pp) {
            *pp = call->next_deferred;
        }
        if (status < 0 || status >= RPC_N_STATUS) {
            status = RPC_INTERNAL;
        }
        call->entry->answered[status]++;    /* For GET /metrics. */
        if (rc) {
            rpc_conn_send_reply(conn, call->id, call->entry->name, status,
                                err ? err->msg : "failed",
                                err ? err->reason : "", NULL);
        } else {
            rpc_conn_send_reply(conn, call->id, call->entry->name, RPC_OK,
                                NULL, NULL, call->rep);
            if (call->then) {
                call->then(call->then_arg, conn, call->id);
            }
        }
    }
    rpc_call_free(call);
}

uint64_t
rpc_call_id(const struct rpc_call *call)
{
    return call->id;
}

void
rpc_call_then(struct rpc_call *call, rpc_then_fn fn, void *arg)
{
    call->then = fn;
    call->then_arg = arg;
}

/* ---- Receiving ---- */

static void rpc_conn_fail(struct rpc_conn *, const char *reason);

/* The entry that serves 'env' to this peer, or NULL with an error reply
 * sent: an unknown method, a role it does not serve, a request whose
 * strings are not text. */
static const struct rpc_registry_entry *
rpc_conn_entry(struct rpc_conn *conn, const Fexsim__V1__Envelope *env,
               struct fx_err *err)
{
    const struct rpc_registry_entry *entry =
        rpc_registry_find(conn->registry, env->method);
    int status = RPC_OK;

    if (!entry && strlen(env->method) > RPC_ECHO_MAX) {
        fx_err_set(err, -ENOSYS, "unknown method (a name of %zu bytes)",
                   strlen(env->method));
        status = RPC_UNKNOWN_METHOD;
    } else if (!entry) {
        fx_err_set(err, -ENOSYS, "unknown method '%s'", env->method);
        status = RPC_UNKNOWN_METHOD;
    } else if (!(entry->roles & AUTH_ROLE_MASK(conn->peer_ident.role))) {
        fx_err_set(err, -EACCES, "'%s' is not served to the role '%s'",
                   env->method, auth_role_name(conn->peer_ident.role));
        status = RPC_PERMISSION_DENIED;
    } else if (pbcheck_strings(entry->method->input, env->payload.data,
                               env->payload.len, err) == -EINVAL) {
        fx_err_wrap(err, "%s", env->method);
        status = RPC_INVALID_ARGUMENT;
    }
    if (status != RPC_OK) {
        rpc_conn_send_reply(conn, env->id, env->method, status, err->msg,
                            NULL, NULL);
        return NULL;
    }
    return entry;
}

/* Serves one request. */
static void
rpc_conn_serve(struct rpc_conn *conn, const Fexsim__V1__Envelope *env)
{
    const struct rpc_registry_entry *entry;
    ProtobufCMessage *req;
    struct rpc_call *call;
    struct fx_err err;
    int rc;

    if (!(entry = rpc_conn_entry(conn, env, &err))) {
        return;
    }
    req = protobuf_c_message_unpack(entry->method->input, &conn->arena.pb,
                                    env->payload.len, env->payload.data);
    if (!req) {
        fx_err_set(&err, -EBADMSG, "payload of '%s' is not a valid %s",
                   env->method, entry->method->input->name);
        rpc_conn_send_reply(conn, env->id, env->method, RPC_BAD_PAYLOAD,
                            err.msg, NULL, NULL);
        return;
    }
    call = rpc_call_new(conn, entry->method->output->sizeof_message);
    call->peer = conn->peer_ident;
    call->id = env->id;
    call->entry = entry;
    call->rep = rpc_call_alloc(call, entry->method->output->sizeof_message);
    entry->method->output->message_init(call->rep);
    fx_err_clear(&err);
    /* 'req' lives in the arena until the frame is done. */
    rc = entry->fn(entry->ctx, call, req, call->rep, &err);
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
            if (conn->pending_tail == &p->next) {
                conn->pending_tail = pp;
            }
            return p;
        }
    }
    return NULL;
}

/* Frees 'p', or keeps it as its connection's spare (one without a timer,
 * while the connection lives): a client's pipelined calls then cost no
 * allocation each. */
static void
rpc_pending_free(struct rpc_pending *p)
{
    if (p->timer) {
        event_free(p->timer);
    } else if (p->conn && !p->conn->dead && !p->conn->spare_pending) {
        p->conn->spare_pending = p;
        return;
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
        rep = protobuf_c_message_unpack(p->rep_desc, &conn->arena.pb,
                                        env->payload.len, env->payload.data);
        if (!rep) {
            status = RPC_BAD_PAYLOAD;
            message = "reply payload does not parse";
        }
    }
    p->cb(p->arg, status, message, status == RPC_OK ? "" : env->reason,
          rep);             /* 'rep' lives in the arena. */
    rpc_pending_free(p);
}

/* Handles one whole frame: header 'hdr', envelope bytes 'buf'. */
static void
rpc_conn_process(struct rpc_conn *conn, const struct frame_hdr *hdr,
                 const uint8_t *buf)
{
    struct rpc_arena_mark mark = rpc_arena_mark(&conn->arena);
    Fexsim__V1__Envelope *env, fast;
    struct fx_err err;
    char msg[160];

    /* The envelope, the request or reply in it: all in the arena, taken
     * back at once when the frame is done. */
    env = rpc_env_unpack(buf, hdr->length, &conn->arena.pb, &fast)
          ? &fast
          : fexsim__v1__envelope__unpack(&conn->arena.pb, hdr->length, buf);
    if (env && pbcheck_strings(&fexsim__v1__envelope__descriptor, buf,
                               hdr->length, &err) == -EINVAL) {
        /* Its method or message is not text: answered, never cut. */
        if (env->kind == FEXSIM__V1__KIND__KIND_REQUEST) {
            rpc_conn_send_reply(conn, env->id, "", RPC_INVALID_ARGUMENT,
                                err.msg, NULL, NULL);
        } else if (env->kind == FEXSIM__V1__KIND__KIND_REPLY) {
            char *orig = env->message;
            char *orig_reason = env->reason;

            env->status = (Fexsim__V1__Status) RPC_BAD_PAYLOAD;
            env->message = err.msg;
            env->reason = "";
            rpc_conn_complete(conn, env);
            env->message = orig;
            env->reason = orig_reason;
        }
        rpc_arena_release(&conn->arena, mark);
        return;
    }
    if (hdr->version != FRAME_VERSION) {
        snprintf(msg, sizeof msg, "protocol version %u not supported "
                 "(this side speaks %u)", hdr->version, FRAME_VERSION);
        rpc_conn_send_reply(conn, env ? env->id : 0,
                            env ? env->method : "", RPC_BAD_VERSION, msg,
                            NULL, NULL);
    } else if (!env) {
        rpc_conn_fail(conn, "envelope does not parse");
    } else if (env->kind == FEXSIM__V1__KIND__KIND_REQUEST) {
        rpc_conn_serve(conn, env);
    } else if (env->kind == FEXSIM__V1__KIND__KIND_REPLY) {
        rpc_conn_complete(conn, env);
    } else if (env->kind == FEXSIM__V1__KIND__KIND_EVENT && conn->push_fn) {
        conn->push_fn(conn->push_arg, env->id, env->method,
                      env->payload.data, env->payload.len);
    } else {
        LOG_DBG("%s: ignoring event '%s'", conn->peer, env->method);
    }
    rpc_arena_release(&conn->arena, mark);
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
    /* No copy when the frame is in one chain of the buffer, as a batch
     * of small ones read at once is. */
    p = evbuffer_pullup(in, FRAME_HDR_SIZE + (ev_ssize_t) hdr.length);
    rpc_conn_process(conn, &hdr, p + FRAME_HDR_SIZE);
    evbuffer_drain(in, FRAME_HDR_SIZE + (size_t) hdr.length);
    return 1;
}

static void rpc_conn_free(struct rpc_conn *);
static void rpc_conn_arm(struct rpc_conn *, int reset);

/* Starts (on) or stops reading, once connected. */
static void
rpc_conn_reading(struct rpc_conn *conn, int on)
{
    if (!conn->rd || conn->reading == on) {
        return;
    }
    conn->reading = on;
    if (on) {
        event_add(conn->rd, NULL);
    } else {
        event_del(conn->rd);
    }
}

/* Whether the replies waiting to go out to the peer are over half the
 * limit: then no more requests are taken before they are out.  Only the
 * server end waits so: a client reads whatever comes (the replies to its
 * own calls among it), so that two ends never wait for each other. */
static bool
rpc_conn_backlogged(const struct rpc_conn *conn)
{
    return !conn->client
           && rpc_conn_queued(conn) > conn->opts.max_queued / 2;
}

/* Replies pile up faster than they leave, as they do for a peer that
 * pipelines many requests with big replies, since the loop writes only
 * once the read callback returns: read no more requests until they are
 * out (rpc_conn_write_cb), so that the peer is served at the pace it
 * reads.  One that reads nothing for opts.frame_timeout_ms does not read:
 * rpc_conn_timer_cb closes it. */
static void
rpc_conn_pause(struct rpc_conn *conn)
{
    if (!conn->paused) {
        conn->paused = 1;
        rpc_conn_reading(conn, 0);
    }
    conn->paused_queued = rpc_conn_queued(conn);
    rpc_conn_arm(conn, 1);
}

/* Runs the handshake on what has arrived.  Returns 1 once the peer is
 * proven, 0 while it is not yet, -1 if it was refused (the connection
 * then closes once the refusal's reason is out). */
static int
rpc_conn_prove(struct rpc_conn *conn, struct evbuffer *in)
{
    struct evbuffer *out = bufferevent_get_output(conn->bev);
    struct fx_err err;
    int rc = auth_io(conn->auth, in, out, &err);
    char why[sizeof err.msg + 16];

    if (rc == 0) {
        return 0;
    }
    if (rc < 0) {
        snprintf(why, sizeof why, "%s", err.msg);
        if (!conn->client && conn->server) {
            rpc_server_warn(conn->server, "refused %s: %s", conn->peer,
                            err.msg);
        }
        /* The peer hears why (a server's RESULT), then the connection
         * closes; the deadline bounds a peer that does not read it. */
        conn->flush_close = evbuffer_get_length(out) > 0;
        conn->refused = 1;
        rpc_conn_fail(conn, why);
        if (conn->flush_close) {
            rpc_conn_arm(conn, 1);
        }
        return -1;
    }
    conn->peer_ident = *auth_peer(conn->auth);
    conn->authed = 1;
    auth_destroy(conn->auth);
    conn->auth = NULL;
    bufferevent_write_buffer(conn->bev, conn->held);
    LOG_DBG("%s is %s '%s'", conn->peer,
            auth_role_name(conn->peer_ident.role), conn->peer_ident.name);
    if (conn->event_cb) {
        conn->event_cb(conn, RPC_CONN_CONNECTED, "connected",
                       conn->event_arg);
    }
    return 1;
}

/* The replies to the requests of one read leave together, written at
 * its end (rpc_conn_batch_end) rather than by the loop: left to the loop,
 * each batch would cost a round of epoll_ctl (write wanted), epoll_wait
 * (writable) and epoll_ctl (no longer wanted) besides the write itself,
 * for every reply of a sequential caller.  Only a batch that starts with
 * nothing queued is written so (the write event is then not armed);
 * otherwise the loop is already writing. */
static void
rpc_conn_batch_begin(struct rpc_conn *conn)
{
    if (!conn->dead && !conn->paused
        && !evbuffer_get_length(bufferevent_get_output(conn->bev))) {
        conn->batching = 1;
        if (bufferevent_get_enabled(conn->bev) & EV_WRITE) {
            bufferevent_disable(conn->bev, EV_WRITE);
        }
    }
}

/* Sends what the batch queued, as much as the socket takes now; the
 * output buffer takes the rest, which the loop writes (and a write that
 * fails, so that its error closes the connection the usual way).  A
 * paused connection leaves it all to the loop, whose write callback
 * resumes reading.  A connection that failed meanwhile keeps what
 * rpc_conn_fail() set: its batch is dropped. */
static void
rpc_conn_batch_end(struct rpc_conn *conn)
{
    struct evbuffer *out = bufferevent_get_output(conn->bev);
    ssize_t sent = 0;

    if (!conn->batching) {
        return;
    }
    conn->batching = 0;
    if (conn->dead) {
        conn->olen = 0;
        return;
    }
    if (!conn->paused && conn->olen) {
        sent = send(bufferevent_getfd(conn->bev), conn->obuf, conn->olen,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
        sent = sent < 0 ? 0 : sent;
    }
    if ((size_t) sent < conn->olen
        && evbuffer_add(out, conn->obuf + sent, conn->olen - (size_t) sent)) {
        abort();
    }
    conn->olen = 0;
    if (conn->ocap > RPC_OBUF_KEEP) {
        /* A batch of big replies: do not keep its memory. */
        free(conn->obuf);
        conn->obuf = NULL;
        conn->ocap = 0;
    }
    if (evbuffer_get_length(out)) {
        bufferevent_enable(conn->bev, EV_WRITE);
    }
}

static void
rpc_conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct rpc_conn *conn = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    int frames = 0;

    conn->busy++;
    if (!conn->authed && !conn->dead && rpc_conn_prove(conn, in) <= 0) {
        goto out;
    }
    rpc_conn_batch_begin(conn);
    while (!conn->dead && !rpc_conn_backlogged(conn)
           && rpc_conn_take_frame(conn, in) > 0) {
        frames++;
    }
    /* A frame left half sent may wait opts.frame_timeout_ms, counted
     * from the last whole frame, so that a peer dribbling a byte at a
     * time is closed while one streaming frames is not. */
    if (!conn->dead && rpc_conn_backlogged(conn)) {
        rpc_conn_pause(conn);
    } else if (!conn->dead) {
        rpc_conn_arm(conn, evbuffer_get_length(in) ? (frames ? 1 : 0) : -1);
    }
    rpc_conn_batch_end(conn);
out:
    conn->busy--;
    if (conn->dead && !conn->busy && !conn->flush_close) {
        rpc_conn_free(conn);
    }
}

/* The output is out: a connection refused closes now, one paused takes
 * the requests it sent meanwhile. */
static void
rpc_conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct rpc_conn *conn = arg;

    if (conn->flush_close && !conn->busy) {
        rpc_conn_free(conn);
    } else if (conn->paused && !conn->dead) {
        conn->paused = 0;
        rpc_conn_reading(conn, 1);
        rpc_conn_read_cb(bev, conn);
    }
}

static void rpc_conn_event_cb(struct bufferevent *, short, void *);

/* The most one read takes, as much as a bufferevent would. */
#define RPC_READ_SIZE 16384

/* The socket is readable: one recv() into the input buffer, then the
 * frames it completed.  A bufferevent would ask the kernel first how much
 * is there (FIONREAD) and read with readv(); with a batch of small calls
 * on each wakeup that extra system call is a fair share of the cost.
 * End of file and errors go where the bufferevent's would. */
static void
rpc_conn_recv_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *conn = arg;
    struct evbuffer *in = bufferevent_get_input(conn->bev);
    struct evbuffer_iovec v;
    ssize_t n;

    (void) what;
    /* A socket bufferevent keeps the end of its input frozen but while
     * it reads; so do we. */
    evbuffer_unfreeze(in, 0);
    if (evbuffer_reserve_space(in, RPC_READ_SIZE, &v, 1) != 1) {
        abort();
    }
    n = recv(fd, v.iov_base, v.iov_len, 0);
    if (n > 0) {
        v.iov_len = (size_t) n;
        evbuffer_commit_space(in, &v, 1);
    }
    evbuffer_freeze(in, 0);
    if (n > 0) {
        rpc_conn_read_cb(conn->bev, conn);
    } else if (n == 0) {
        rpc_conn_event_cb(conn->bev, BEV_EVENT_READING | BEV_EVENT_EOF,
                          conn);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        rpc_conn_event_cb(conn->bev, BEV_EVENT_READING | BEV_EVENT_ERROR,
                          conn);
    }
}

/* Reads from now on (the socket is connected). */
static void
rpc_conn_start_reading(struct rpc_conn *conn)
{
    conn->rd = event_new(bufferevent_get_base(conn->bev),
                         bufferevent_getfd(conn->bev), EV_READ | EV_PERSIST,
                         rpc_conn_recv_cb, conn);
    if (!conn->rd) {
        abort();
    }
    rpc_conn_reading(conn, !conn->dead && !conn->paused);
}

/* Every message is written whole and at once (a frame, a handshake step),
 * so Nagle's algorithm only delays: after the handshake's ping-pong the
 * peer delays its ACKs, and the last segment of a large reply would wait
 * ~40 ms for one; 32 pipelined requests would, too. */
static void
rpc_nodelay(evutil_socket_t fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void
rpc_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct rpc_conn *conn = arg;
    char reason[160];
    int e = EVUTIL_SOCKET_ERROR();

    if (what & BEV_EVENT_CONNECTED) {
        conn->connected = 1;
        rpc_nodelay(bufferevent_getfd(bev));
        rpc_conn_start_reading(conn);
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

/* The handshake's, a half-sent frame's or a paused peer's time is up. */
static void
rpc_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *conn = arg;
    char why[96];

    (void) fd;
    (void) what;
    if (conn->paused) {
        size_t queued =
            evbuffer_get_length(bufferevent_get_output(conn->bev));

        if (queued < conn->paused_queued) {
            rpc_conn_pause(conn);       /* Slow, but it reads. */
            return;
        }
        snprintf(why, sizeof why, "the peer does not read: %zu bytes "
                 "queued to it for %u ms", queued,
                 conn->opts.frame_timeout_ms);
    } else {
        snprintf(why, sizeof why, conn->authed
                 ? "a frame stayed half sent for %u ms"
                 : "the lab secret's handshake took over %u ms",
                 conn->opts.frame_timeout_ms);
    }
    if (conn->server) {
        rpc_server_warn(conn->server, "closing %s: %s", conn->peer, why);
    }
    rpc_conn_fail(conn, why);
    if (!conn->busy) {
        rpc_conn_free(conn);
    }
}

/* 'how' 1: (re)starts the deadline; 0: starts it if not running; -1:
 * stops it. */
static void
rpc_conn_arm(struct rpc_conn *conn, int how)
{
    struct timeval tv = { conn->opts.frame_timeout_ms / 1000,
                          conn->opts.frame_timeout_ms % 1000 * 1000 };

    if (how < 0) {
        evtimer_del(conn->timer);
    } else if (how > 0 || !evtimer_pending(conn->timer, NULL)) {
        evtimer_add(conn->timer, &tv);
    }
}

static void
rpc_conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rpc_conn *conn = arg;

    (void) fd;
    (void) what;
    if (conn->dead && !conn->busy) {
        rpc_conn_free(conn);
    }
}

/* Closes 'conn' from outside its callbacks (a send that found the peer
 * not reading): freed from the loop, never under a caller's feet. */
static void
rpc_conn_close_soon(struct rpc_conn *conn, const char *reason)
{
    rpc_conn_fail(conn, reason);
    event_active(conn->reaper, EV_TIMEOUT, 0);
}

/* ---- Connection lifecycle ---- */

/* 'opts' with its zero limits at their defaults (NULL: all defaults, no
 * secret, 'role'). */
static struct rpc_opts
rpc_opts_fill(const struct rpc_opts *opts, enum auth_role role)
{
    struct rpc_opts o = { .me = { .role = role } };

    if (opts) {
        o = *opts;
    }
    o.max_conns = o.max_conns ? o.max_conns : RPC_MAX_CONNS_DEFAULT;
    o.max_queued = o.max_queued ? o.max_queued : RPC_MAX_QUEUED_DEFAULT;
    o.frame_timeout_ms = o.frame_timeout_ms ? o.frame_timeout_ms
                                            : RPC_FRAME_TIMEOUT_DEFAULT_MS;
    return o;
}

/* The key the connections of 'o' prove: theirs, or none. */
static const struct auth_key *
rpc_opts_key(const struct rpc_opts *o, struct auth_key *none)
{
    if (o->key) {
        return o->key;
    }
    auth_key_none(none);
    return none;
}

static struct rpc_conn *
rpc_conn_wrap(struct event_base *base, struct bufferevent *bev, bool client,
              const struct rpc_opts *opts, const struct rpc_registry *reg,
              rpc_conn_event_fn cb, void *arg)
{
    struct rpc_conn *conn = rpc_xzalloc(sizeof *conn);
    const struct auth_key *key;

    conn->bev = bev;
    conn->client = client;
    conn->opts = rpc_opts_fill(opts, client ? AUTH_ROLE_OPERATOR
                                            : AUTH_ROLE_FABRIC);
    key = rpc_opts_key(&conn->opts, &conn->no_key);
    conn->auth = client ? auth_client_new(key, &conn->opts.me)
                        : auth_server_new(key, &conn->opts.me,
                                          conn->opts.roles
                                          ? conn->opts.roles
                                          : AUTH_ROLES_ALL);
    conn->held = evbuffer_new();
    conn->timer = evtimer_new(base, rpc_conn_timer_cb, conn);
    conn->reaper = event_new(base, -1, 0, rpc_conn_reap_cb, conn);
    if (!conn->held || !conn->timer || !conn->reaper) {
        abort();
    }
    conn->registry = reg;
    conn->event_cb = cb;
    conn->event_arg = arg;
    conn->next_id = 1;
    conn->pending_tail = &conn->pending;
    conn->notify = 1;
    rpc_arena_init(&conn->arena, RPC_ARENA_SIZE);
    snprintf(conn->peer, sizeof conn->peer, "?");
    /* The bufferevent writes and connects; reading is ours
     * (rpc_conn_recv_cb), from when the socket is connected. */
    bufferevent_setcb(bev, NULL, rpc_conn_write_cb, rpc_conn_event_cb,
                      conn);
    bufferevent_enable(bev, EV_WRITE);
    /* The client's HELLO leaves first, once connected; the deadline runs
     * from now on both ends. */
    if (client) {
        struct fx_err err;

        auth_io(conn->auth, conn->held, bufferevent_get_output(bev), &err);
    }
    rpc_conn_arm(conn, 1);
    return conn;
}

struct rpc_conn *
rpc_conn_create(struct event_base *base, int fd, bool client,
                const struct rpc_opts *opts, const struct rpc_registry *reg,
                rpc_conn_event_fn cb, void *arg)
{
    struct bufferevent *bev;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    struct rpc_conn *conn;

    evutil_make_socket_nonblocking(fd);
    rpc_nodelay(fd);
    bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    conn = rpc_conn_wrap(base, bev, client, opts, reg, cb, arg);
    conn->connected = 1;
    rpc_conn_start_reading(conn);
    if (!getpeername(fd, (struct sockaddr *) &ss, &len)) {
        fx_addr_format((struct sockaddr *) &ss, conn->peer,
                       sizeof conn->peer);
    }
    return conn;
}

struct rpc_conn *
rpc_conn_connect(struct event_base *base, const char *addr,
                 const struct rpc_opts *opts, const struct rpc_registry *reg,
                 rpc_conn_event_fn cb, void *arg, struct fx_err *err)
{
    struct sockaddr_storage ss;
    struct bufferevent *bev;
    struct rpc_conn *conn;
    int len;

    if (fx_addr_parse(addr, &ss, &len, err)) {
        return NULL;
    }
    bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    conn = rpc_conn_wrap(base, bev, true, opts, reg, cb, arg);
    snprintf(conn->peer, sizeof conn->peer, "%s", addr);
    /* A refused connection is reported through the event callback, like
     * any later error, so there is one path for both. */
    bufferevent_socket_connect(bev, (struct sockaddr *) &ss, len);
    return conn;
}

const struct auth_ident *
rpc_conn_peer_ident(const struct rpc_conn *conn)
{
    return conn->authed ? &conn->peer_ident : NULL;
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
    /* A refusal's reason still goes out (flush_close). */
    rpc_conn_reading(conn, 0);
    bufferevent_disable(conn->bev, conn->flush_close ? EV_READ
                                                     : EV_READ | EV_WRITE);
}

/* Answers every pending request with 'status' and orphans deferred calls. */
static void
rpc_conn_drain(struct rpc_conn *conn, int status, const char *why)
{
    while (conn->pending) {
        struct rpc_pending *p = conn->pending;

        conn->pending = p->next;
        if (!conn->pending) {
            conn->pending_tail = &conn->pending;
        }
        p->cb(p->arg, status, why, "", NULL);
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
    srv->n_conns--;
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
        conn->event_cb(conn, conn->refused ? RPC_CONN_REFUSED
                                           : RPC_CONN_CLOSED,
                       conn->close_reason, conn->event_arg);
    }
    rpc_conn_unlink(conn);
    if (conn->rd) {
        event_free(conn->rd);       /* Before the socket closes. */
    }
    rpc_arena_fini(&conn->arena);
    free(conn->spare);
    free(conn->spare_pending);
    free(conn->obuf);
    bufferevent_free(conn->bev);
    auth_destroy(conn->auth);
    evbuffer_free(conn->held);
    event_free(conn->timer);
    event_free(conn->reaper);
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
rpc_conn_local(const struct rpc_conn *conn, char *buf, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    evutil_socket_t fd = bufferevent_getfd(conn->bev);

    buf[0] = '\0';
    if (fd >= 0 && !getsockname(fd, (struct sockaddr *) &ss, &len)
        && ss.ss_family == AF_INET) {
        fx_addr_format((struct sockaddr *) &ss, buf, size);
    }
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

/* ---- Events ---- */

int
rpc_conn_send_event(struct rpc_conn *conn, uint64_t id, const char *name,
                    const ProtobufCMessage *msg)
{
    struct rpc_env env = {
        .id = id, .kind = FEXSIM__V1__KIND__KIND_EVENT, .method = name,
    };

    if (conn->dead) {
        return -EPIPE;
    }
    return rpc_conn_send(conn, &env, msg);
}

size_t
rpc_conn_queued(const struct rpc_conn *conn)
{
    return conn->olen + evbuffer_get_length(conn->authed
                                            ? bufferevent_get_output(conn->bev)
                                            : conn->held);
}

void
rpc_conn_set_event_fn(struct rpc_conn *conn, rpc_event_fn fn, void *arg)
{
    conn->push_fn = fn;
    conn->push_arg = arg;
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
    p->cb(p->arg, RPC_TIMEOUT, msg, "", NULL);
    rpc_pending_free(p);
}

int
rpc_conn_call(struct rpc_conn *conn, const char *method,
              const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *rep_desc,
              uint32_t timeout_ms, rpc_reply_fn cb, void *arg,
              uint64_t *idp)
{
    struct rpc_env env = {
        .kind = FEXSIM__V1__KIND__KIND_REQUEST, .method = method,
    };
    struct rpc_pending *p;
    int rc;

    if (conn->dead) {
        return -ENOTCONN;
    }
    env.id = conn->next_id++;
    rc = rpc_conn_send(conn, &env, req);
    if (rc) {
        return rc;
    }
    p = conn->spare_pending ? conn->spare_pending : rpc_xzalloc(sizeof *p);
    conn->spare_pending = NULL;
    *p = (struct rpc_pending) { .conn = conn, .id = env.id,
                                .rep_desc = rep_desc, .cb = cb, .arg = arg };
    if (timeout_ms) {
        struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

        p->timer = evtimer_new(bufferevent_get_base(conn->bev),
                               rpc_pending_timeout_cb, p);
        evtimer_add(p->timer, &tv);
    }
    *conn->pending_tail = p;
    conn->pending_tail = &p->next;
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
    char reason[48];
    const ProtobufCMessageDescriptor *rep_desc;
    ProtobufCMessage *rep;
};

static void
rpc_sync_cb(void *arg, int status, const char *message, const char *reason,
            const ProtobufCMessage *rep)
{
    struct rpc_sync *s = arg;
    uint8_t *buf;
    size_t n;

    s->done = 1;
    s->status = status;
    snprintf(s->message, sizeof s->message, "%s", message ? message : "");
    snprintf(s->reason, sizeof s->reason, "%s", reason ? reason : "");
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
        return fx_err_refuse(err, rpc_status_to_errno(s.status), s.reason,
                             "%s", s.message);
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
    char peer[64];

    (void) len;
    if (srv->n_conns >= srv->opts.max_conns) {
        fx_addr_format(sa, peer, sizeof peer);
        evutil_closesocket(fd);
        rpc_server_warn(srv, "connection limit reached: refusing %s",
                        peer);
        return;
    }
    conn = rpc_conn_create(evconnlistener_get_base(l), fd, false,
                           &srv->opts, srv->registry, srv->cb, srv->arg);
    conn->server = srv;
    conn->next = srv->conns;
    if (srv->conns) {
        srv->conns->prev = conn;
    }
    srv->conns = conn;
    srv->n_conns++;
    LOG_DBG("accepted connection from %s", conn->peer);
}

static void
rpc_server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    evconnlistener_enable(((struct rpc_server *) arg)->listener);
}

/* accept() failed (out of descriptors, say): the listener rests a while
 * instead of spinning on a socket it cannot take. */
static void
rpc_server_accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct rpc_server *srv = arg;
    const struct timeval rest = { 0, 100000 };

    rpc_server_warn(srv, "cannot accept on %s (%s): listening again in "
                    "100 ms", srv->addr,
                    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    evconnlistener_disable(l);
    evtimer_add(srv->accept_backoff, &rest);
}

struct rpc_server *
rpc_server_create(struct event_base *base, const char *addr,
                  const struct rpc_opts *opts, const struct rpc_registry *reg,
                  rpc_conn_event_fn cb, void *arg, struct fx_err *err)
{
    struct sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    struct rpc_server *srv;
    int len;

    if (fx_addr_parse(addr, &ss, &len, err)) {
        return NULL;
    }
    if ((!opts || !opts->key || opts->key->none)
        && !fx_addr_is_loopback(&ss)) {
        fx_err_set(err, -EPERM, "refusing to listen on %s without a lab "
                   "secret: give one (--secret-file), or listen on "
                   "loopback", addr);
        return NULL;
    }
    srv = rpc_xzalloc(sizeof *srv);
    srv->opts = rpc_opts_fill(opts, AUTH_ROLE_FABRIC);
    srv->registry = reg;
    srv->cb = cb;
    srv->arg = arg;
    fx_ratelimit_init(&srv->bad_peers, 10, 10000);
    srv->accept_backoff = evtimer_new(base, rpc_server_resume_cb, srv);
    srv->listener = evconnlistener_new_bind(
        base, rpc_server_accept_cb, srv,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
        (struct sockaddr *) &ss, len);
    if (!srv->listener) {
        fx_err_set(err, -errno, "cannot listen on %s: %s", addr,
                   strerror(errno));
        event_free(srv->accept_backoff);
        free(srv);
        return NULL;
    }
    evconnlistener_set_error_cb(srv->listener, rpc_server_accept_error_cb);
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
    event_free(srv->accept_backoff);
    free(srv);
}

const char *
rpc_server_addr(const struct rpc_server *srv)
{
    return srv->addr;
}
