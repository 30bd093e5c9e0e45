/* rpc_registry: the methods a connection answers, "Service.Method" ->
 * handler.  A daemon fills one registry with a handler table per service,
 * in .proto order; the dispatcher (rpc.c) looks each request's method up
 * here.  Users see this module through rpc.h. */
#ifndef RPC_REGISTRY_H
#define RPC_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

struct fx_err;
struct rpc_call;
struct rpc_registry;

/* Returned by a handler that keeps 'call' to answer later with
 * rpc_call_finish(). */
#define RPC_DEFERRED 1

/* A handler.  'req' is borrowed for the duration of the call.  'rep' is
 * the zeroed reply, owned by 'call'; memory the handler hangs off it must
 * come from rpc_call_alloc() or outlive the reply.  Returns 0 (send 'rep'),
 * a negative errno with 'err' filled (send an error status), or
 * RPC_DEFERRED. */
typedef int (*rpc_handler_fn)(void *ctx, struct rpc_call *call,
                              const ProtobufCMessage *req,
                              ProtobufCMessage *rep, struct fx_err *err);

/* One registered method, as the dispatcher calls it.  Owned by the
 * registry, valid while it lives; read-only to everyone else. */
struct rpc_registry_entry {
    char *name;                                  /* "Service.Method". */
    const ProtobufCMethodDescriptor *method;     /* Request/reply types. */
    rpc_handler_fn fn;
    void *ctx;                                   /* Borrowed. */
    unsigned roles;      /* The peers' roles it serves (AUTH_ROLE_MASK
                          * bits, auth.h); others get PERMISSION_DENIED. */
    uint64_t *answered;  /* Owned, RPC_N_STATUS: answers sent by status
                          * (the dispatcher counts; metrics read). */
};

/* Creates an empty registry (never NULL: aborts on OOM like every
 * allocation of the RPC library).  The caller owns it. */
struct rpc_registry *rpc_registry_create(void);
/* Frees it and its entries.  NULL is a no-op. */
void rpc_registry_destroy(struct rpc_registry *);

/* Registers the methods of service 'desc' with 'handlers', one per method
 * in .proto order ('n' must equal desc->n_methods), each called with
 * 'ctx' (borrowed) and served to the peers whose role is in 'roles'
 * (AUTH_ROLE_MASK bits, auth.h; no default, so that a service states
 * whom it serves).  Returns 0, or -EINVAL/-EEXIST with 'err' filled. */
int rpc_registry_add(struct rpc_registry *,
                     const ProtobufCServiceDescriptor *desc,
                     const rpc_handler_fn handlers[], size_t n, void *ctx,
                     unsigned roles, struct fx_err *err);
/* Serves method 'name' ("Service.Method") to the roles in 'roles' only,
 * where its service serves others too.  -ENOENT for an unknown method. */
int rpc_registry_set_roles(struct rpc_registry *, const char *name,
                           unsigned roles, struct fx_err *err);

/* Returns the entry of method 'name' ("Service.Method"), owned by the
 * registry, or NULL if none ('reg' may be NULL: a pure client). */
const struct rpc_registry_entry *
rpc_registry_find(const struct rpc_registry *reg, const char *name);

/* The entries, in registration order ('*np' of them), for reading their
 * counters. */
const struct rpc_registry_entry *
rpc_registry_entries(const struct rpc_registry *reg, size_t *np);

#endif
