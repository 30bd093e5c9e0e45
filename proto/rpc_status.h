/* rpc_status: the status codes of the RPC library (fexsim.v1.Status in
 * proto/rpc.proto) and their errno equivalents.  Users see this module
 * through rpc.h. */
#ifndef RPC_STATUS_H
#define RPC_STATUS_H

/* Status codes: the values of fexsim.v1.Status in proto/rpc.proto. */
enum {
    RPC_OK = 0,
    RPC_UNKNOWN_METHOD = 1,
    RPC_BAD_VERSION = 2,
    RPC_BAD_PAYLOAD = 3,
    RPC_INVALID_ARGUMENT = 4,
    RPC_NOT_FOUND = 5,
    RPC_ALREADY_EXISTS = 6,
    RPC_FAILED_PRECONDITION = 7,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_UNAVAILABLE = 9,
    RPC_TIMEOUT = 10,
    RPC_INTERNAL = 11,
    RPC_CANCELLED = 12,
    RPC_PERMISSION_DENIED = 13,
    RPC_N_STATUS                 /* How many there are. */
};

/* Maps a negative errno to a status and back.  The pair is lossy only for
 * errnos without a status of their own (they map to RPC_INTERNAL). */
int rpc_status_from_errno(int negerrno);
int rpc_status_to_errno(int status);
/* Returns the status name, e.g. "NOT_FOUND" (a static string). */
const char *rpc_status_name(int status);

#endif
