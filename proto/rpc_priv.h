/* rpc_priv: what the pieces of the RPC library share; not for users. */
#ifndef RPC_PRIV_H
#define RPC_PRIV_H

#include "rpc.h"

struct rpc_entry {
    char *name;                                  /* "Service.Method". */
    const ProtobufCMethodDescriptor *method;     /* Request/reply types. */
    rpc_handler_fn fn;
    void *ctx;                                   /* Borrowed. */
};

/* A registry holds a few dozen methods at most and is searched once per
 * request, on the control path only; a linear scan is the simplest thing
 * that is fast enough. */
struct rpc_registry {
    struct rpc_entry *entries;
    size_t n;
};

/* Returns the entry for method 'name', or NULL. */
const struct rpc_entry *rpc_registry_find(const struct rpc_registry *,
                                          const char *name);

/* calloc() that aborts on OOM, like every allocation in the library. */
void *rpc_xzalloc(size_t size);

#endif
