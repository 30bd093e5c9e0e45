/* rpc: request/reply over length-prefixed protobuf frames on libevent.
 *
 * A connection is symmetric: either side may send requests, and each side
 * answers with the handlers of its registry.  Methods are named
 * "Service.Method" after the services in the proto/ files; a daemon registers
 * one handler table per service, in the order of the .proto file, and the
 * dispatcher does all the plumbing (unpack, call, pack, free).
 *
 * Handlers and their registry are in rpc_registry.h, status codes in
 * rpc_status.h; both come with this header.  Framing is in frame.h.
 *
 * Every connection starts with the lab secret's handshake (auth.h): until
 * it succeeds nothing else is read, and afterwards the peer's role (and
 * host name) is known, and each method serves only the roles its service
 * registered for (PERMISSION_DENIED otherwise; the connection stays).
 *
 * Garbage (bad magic, an envelope that does not parse) or an oversized
 * length closes that connection with one log line; an unknown method, a
 * wrong version, a malformed payload or a string with control bytes or
 * bad UTF-8 gets an error status back.  A peer that leaves a frame half
 * sent, or does not read what it is sent, is closed; one whose replies
 * pile up has its next requests wait until they are out; a server takes
 * a bounded number of connections.  The other connections never
 * notice. */
#ifndef RPC_H
#define RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <protobuf-c/protobuf-c.h>

#include "auth.h"
#include "rpc_registry.h"
#include "rpc_status.h"

struct fx_err;
struct rpc_call;
struct rpc_conn;
struct rpc_server;

/* ---- Serving ---- */

/* Memory that lives as long as 'call': zeroed, never NULL (aborts on OOM
 * like every allocation here). */
void *rpc_call_alloc(struct rpc_call *, size_t size);
char *rpc_call_strdup(struct rpc_call *, const char *s);
/* The connection the request came on, or NULL once it has closed. */
struct rpc_conn *rpc_call_conn(const struct rpc_call *);
/* Who sent the request, as the handshake proved it (owned by the call). */
const struct auth_ident *rpc_call_peer(const struct rpc_call *);
/* The reply message to fill, owned by 'call'. */
ProtobufCMessage *rpc_call_reply(struct rpc_call *);
/* Answers a deferred call with its reply (rc == 0) or with 'err' (rc < 0),
 * and frees 'call'.  Harmless if the connection is gone. */
void rpc_call_finish(struct rpc_call *, int rc, const struct fx_err *err);
/* The request's id: a stream the call opens (events) carries it. */
uint64_t rpc_call_id(const struct rpc_call *);
/* Runs 'fn' right after the successful reply to 'call' is queued on
 * 'conn' (not on an error reply, nor if the connection went): what must
 * follow the reply on the connection, such as a stream's first events. */
typedef void (*rpc_then_fn)(void *arg, struct rpc_conn *conn, uint64_t id);
void rpc_call_then(struct rpc_call *, rpc_then_fn fn, void *arg);

/* ---- Connections ---- */

/* How a connection proves itself, and the limits that keep a daemon
 * serving whatever one peer does.  A zero limit takes its default. */
struct rpc_opts {
    const struct auth_key *key;     /* Borrowed, must outlive the
                                     * connections; NULL: no secret. */
    struct auth_ident me;           /* This end, as the peer sees it. */
    unsigned roles;                 /* Server: the roles its handshake
                                     * accepts (AUTH_ROLE_MASK bits); 0:
                                     * every role. */
    uint32_t max_conns;             /* Server: connections at once. */
    size_t max_queued;              /* Bytes queued to a peer that does
                                     * not read, before it is closed
                                     * (beyond half, its requests wait). */
    uint32_t frame_timeout_ms;      /* How long a frame (or the
                                     * handshake) may stay half sent, and
                                     * waiting replies stay unread. */
};

#define RPC_MAX_CONNS_DEFAULT 256u
#define RPC_MAX_QUEUED_DEFAULT (32u << 20)
#define RPC_FRAME_TIMEOUT_DEFAULT_MS 10000u

enum rpc_conn_event {
    RPC_CONN_CONNECTED,      /* The peer is proven: requests flow. */
    RPC_CONN_CLOSED,
    RPC_CONN_REFUSED,        /* Closed by the lab secret's handshake (a
                              * wrong or missing secret, a role not served):
                              * trying again will not help. */
};

/* Called when a connection's peer is proven, and once when a connection
 * closes (CLOSED or REFUSED) for any reason but rpc_conn_destroy().  After
 * either returns the connection is freed: drop every pointer to it.
 * 'reason' is borrowed. */
typedef void (*rpc_conn_event_fn)(struct rpc_conn *, enum rpc_conn_event,
                                  const char *reason, void *arg);

/* Wraps connected socket 'fd' (ownership passes to the connection), the
 * handshake's client end if 'client', its server end otherwise; 'opts'
 * is copied (NULL: no secret, an operator or fabric, default limits). */
struct rpc_conn *rpc_conn_create(struct event_base *, int fd, bool client,
                                 const struct rpc_opts *opts,
                                 const struct rpc_registry *,
                                 rpc_conn_event_fn, void *arg);
/* Starts connecting to "HOST:PORT" as the handshake's client ('opts'
 * copied, NULL as for rpc_conn_create()).  Requests may be sent at once:
 * they leave once the connection is up and the peer proven.  'registry'
 * may be NULL (a pure client).  Returns NULL with 'err' filled on a bad
 * address.  A refused handshake closes the connection, its reason that
 * of the refusal. */
struct rpc_conn *rpc_conn_connect(struct event_base *, const char *addr,
                                  const struct rpc_opts *opts,
                                  const struct rpc_registry *,
                                  rpc_conn_event_fn, void *arg,
                                  struct fx_err *err);
/* The peer, once the handshake proved it; NULL before. */
const struct auth_ident *rpc_conn_peer_ident(const struct rpc_conn *);
/* Closes and frees the connection without a RPC_CONN_CLOSED callback;
 * its pending outgoing calls are answered RPC_CANCELLED.  NULL is a no-op.
 * Safe to call from a handler running on this connection. */
void rpc_conn_destroy(struct rpc_conn *);

/* The peer address "HOST:PORT", owned by the connection. */
const char *rpc_conn_peer(const struct rpc_conn *);
/* This end's address "HOST:PORT" (the one the peer reaches us at) into
 * 'buf' of 'size' bytes; "" while the socket has none. */
void rpc_conn_local(const struct rpc_conn *, char *buf, size_t size);
/* One pointer of user data (borrowed), NULL by default. */
void rpc_conn_set_data(struct rpc_conn *, void *data);
void *rpc_conn_get_data(const struct rpc_conn *);

/* ---- Calling ---- */

/* Called once with the outcome of a request.  'status' is RPC_OK and 'rep'
 * the unpacked reply (borrowed, freed after the callback), or an error
 * status with 'message', 'reason' (the refusal's machine-readable reason,
 * "" if none; both borrowed) and 'rep' NULL. */
typedef void (*rpc_reply_fn)(void *arg, int status, const char *message,
                             const char *reason,
                             const ProtobufCMessage *rep);

/* Sends 'req' (borrowed) as 'method'; 'cb' gets the reply, decoded as
 * 'rep_desc', or a timeout after 'timeout_ms' (0: none).  Stores the
 * request id in '*idp' if not NULL.  Returns 0 or a negative errno. */
int rpc_conn_call(struct rpc_conn *, const char *method,
                  const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *rep_desc,
                  uint32_t timeout_ms, rpc_reply_fn cb, void *arg,
                  uint64_t *idp);

/* Forgets request 'id': its callback will not be called. */
void rpc_conn_cancel(struct rpc_conn *, uint64_t id);

/* Sends 'req' and runs the connection's event loop until the reply or
 * 'timeout_ms'.  On success stores the reply in '*repp' (the caller frees
 * it with protobuf_c_message_free_unpacked(*repp, NULL)).  On failure
 * returns a negative errno with the peer's message and reason in 'err'.
 * For clients such as fexctl whose loop does nothing else. */
int rpc_call_sync(struct rpc_conn *, const char *method,
                  const ProtobufCMessage *req,
                  const ProtobufCMessageDescriptor *rep_desc,
                  uint32_t timeout_ms, ProtobufCMessage **repp,
                  struct fx_err *err);

/* ---- Events ---- */

/* Pushes 'msg' (borrowed) to the peer as an event (KIND_EVENT) named
 * 'name' on stream 'id' (the id of the request that opened the stream,
 * so that the peer knows which of its subscriptions it belongs to).
 * Returns 0, -EPIPE when the connection is closing, -EMSGSIZE for a
 * message over the frame limit, or -ENOBUFS when the peer does not read
 * (the connection then closes, as for a reply). */
int rpc_conn_send_event(struct rpc_conn *, uint64_t id, const char *name,
                        const ProtobufCMessage *msg);
/* Bytes queued to the peer and not yet on the socket: what a sender of
 * events watches to cut off a subscriber that falls behind. */
size_t rpc_conn_queued(const struct rpc_conn *);

/* Called with each event the peer pushes: its stream id and name, and
 * its payload (borrowed, valid during the call). */
typedef void (*rpc_event_fn)(void *arg, uint64_t id, const char *name,
                             const uint8_t *payload, size_t len);
/* Where this connection's incoming events go (NULL: dropped). */
void rpc_conn_set_event_fn(struct rpc_conn *, rpc_event_fn fn, void *arg);

/* ---- Listening ---- */

/* Listens on "HOST:PORT" (port 0 picks a free one).  Every accepted
 * connection runs the handshake's server end with 'opts' (copied; NULL as
 * for rpc_conn_create()), answers with 'registry' and reports to 'cb'
 * (RPC_CONN_CONNECTED once its peer is proven).  Without a key in 'opts',
 * only a loopback address is taken (-EPERM): nothing is served beyond the
 * machine to a peer that has not proven the lab secret. */
struct rpc_server *rpc_server_create(struct event_base *, const char *addr,
                                     const struct rpc_opts *opts,
                                     const struct rpc_registry *,
                                     rpc_conn_event_fn cb, void *arg,
                                     struct fx_err *err);
/* Closes the listener and every connection it accepted (no callbacks). */
void rpc_server_destroy(struct rpc_server *);
/* The bound address "HOST:PORT", owned by the server. */
const char *rpc_server_addr(const struct rpc_server *);

#endif
