/* rpc_env: an Envelope (rpc.proto) packed straight into a frame.
 *
 * Every frame the RPC library sends is an Envelope around a packed
 * message.  Packing it with protobuf-c means packing the message into a
 * buffer of its own, sizing the Envelope field by field through its
 * descriptor and copying the message in: for a cheap call, a fair share
 * of the server's cost.  The Envelope is seven scalar fields; this packs
 * them by hand, byte for byte as protobuf-c does (proto3: a zero or
 * empty field is left out; fields in number order), and leaves a hole
 * where the caller packs the message in place.  test_frame checks the
 * bytes against protobuf-c's for every field set and unset.  Pure
 * functions, no allocation. */
#ifndef RPC_ENV_H
#define RPC_ENV_H

#include <stddef.h>
#include <stdint.h>

/* The fields of an Envelope; the payload is 'payload_len' bytes the
 * caller writes.  Strings are borrowed, NULL means empty. */
struct rpc_env {
    uint64_t id;
    int kind;                   /* Fexsim__V1__Kind. */
    const char *method;
    size_t payload_len;
    int status;                 /* Fexsim__V1__Status. */
    const char *message;
    const char *reason;
    size_t len_[3];             /* Set by rpc_env_size(): string lengths
                                 * of method, message, reason. */
};

/* The packed size of the Envelope, payload included.  Call it before
 * rpc_env_pack(). */
size_t rpc_env_size(struct rpc_env *);
/* Packs the Envelope into 'buf' (rpc_env_size() bytes) but for the
 * payload's bytes, and returns where those go (payload_len bytes). */
uint8_t *rpc_env_pack(const struct rpc_env *, uint8_t *buf);

#endif
