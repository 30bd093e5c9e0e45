/* rpc_env: an Envelope (rpc.proto) packed straight into a frame, and
 * unpacked from one.
 *
 * Every frame the RPC library sends is an Envelope around a packed
 * message.  Packing it with protobuf-c means packing the message into a
 * buffer of its own, sizing the Envelope field by field through its
 * descriptor and copying the message in: for a cheap call, a fair share
 * of the server's cost.  The Envelope is seven scalar fields; this packs
 * them by hand, byte for byte as protobuf-c does (proto3: a zero or
 * empty field is left out; fields in number order), and leaves a hole
 * where the caller packs the message in place.  test_frame checks the
 * bytes against protobuf-c's for every field set and unset.
 *
 * Unpacking likewise reads the seven fields by hand, when a frame holds
 * nothing else (each field once, with its own wire type, as every
 * sender packs it); anything else is left to protobuf-c, so that odd
 * input is taken or refused exactly as protobuf-c does.  Pure functions;
 * unpacking allocates from the allocator it is given. */
#ifndef RPC_ENV_H
#define RPC_ENV_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "rpc.pb-c.h"

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

/* Unpacks the 'len' bytes at 'buf' into '*env' (initialised here), its
 * strings and payload copied into memory from 'alloc' (borrowed, never
 * NULL), as protobuf-c would.  Returns 1, or 0 when the bytes hold
 * anything but the Envelope's fields once each with their wire types
 * (then unpack them with protobuf-c, which takes or refuses them). */
int rpc_env_unpack(const uint8_t *buf, size_t len,
                   ProtobufCAllocator *alloc, Fexsim__V1__Envelope *env);

#endif
