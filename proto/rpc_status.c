/* rpc_status: status codes and their errno equivalents. */
#include "rpc_status.h"

#include <errno.h>
#include <stddef.h>

static const struct {
    int err;
    int status;
    const char *name;
} rpc_status_map[] = {
    { 0, RPC_OK, "OK" },
    { -ENOSYS, RPC_UNKNOWN_METHOD, "UNKNOWN_METHOD" },
    { -EPROTONOSUPPORT, RPC_BAD_VERSION, "BAD_VERSION" },
    { -EBADMSG, RPC_BAD_PAYLOAD, "BAD_PAYLOAD" },
    { -EINVAL, RPC_INVALID_ARGUMENT, "INVALID_ARGUMENT" },
    { -ENOENT, RPC_NOT_FOUND, "NOT_FOUND" },
    { -EEXIST, RPC_ALREADY_EXISTS, "ALREADY_EXISTS" },
    { -EPERM, RPC_FAILED_PRECONDITION, "FAILED_PRECONDITION" },
    { -ENOSPC, RPC_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED" },
    { -ENOTCONN, RPC_UNAVAILABLE, "UNAVAILABLE" },
    { -ETIMEDOUT, RPC_TIMEOUT, "TIMEOUT" },
    { -EIO, RPC_INTERNAL, "INTERNAL" },
    { -ECANCELED, RPC_CANCELLED, "CANCELLED" },
    { -EACCES, RPC_PERMISSION_DENIED, "PERMISSION_DENIED" },
};
#define RPC_N_STATUS (sizeof rpc_status_map / sizeof *rpc_status_map)

int
rpc_status_from_errno(int negerrno)
{
    /* Errnos that mean the same thing to a caller as a mapped one. */
    switch (negerrno) {
    case -ERANGE: return RPC_INVALID_ARGUMENT;
    case -EBUSY: case -EALREADY: case -ENOTSUP: case -ESTALE:
        return RPC_FAILED_PRECONDITION;
    case -ENOMEM: case -EMLINK: return RPC_RESOURCE_EXHAUSTED;
    case -ECONNREFUSED: case -ECONNRESET: case -EHOSTDOWN:
        return RPC_UNAVAILABLE;
    default: break;
    }
    for (size_t i = 0; i < RPC_N_STATUS; i++) {
        if (rpc_status_map[i].err == negerrno) {
            return rpc_status_map[i].status;
        }
    }
    return RPC_INTERNAL;
}

int
rpc_status_to_errno(int status)
{
    for (size_t i = 0; i < RPC_N_STATUS; i++) {
        if (rpc_status_map[i].status == status) {
            return rpc_status_map[i].err;
        }
    }
    return -EIO;
}

const char *
rpc_status_name(int status)
{
    for (size_t i = 0; i < RPC_N_STATUS; i++) {
        if (rpc_status_map[i].status == status) {
            return rpc_status_map[i].name;
        }
    }
    return "UNKNOWN_STATUS";
}
