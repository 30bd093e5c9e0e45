/* rpc_env: an Envelope packed by hand, as protobuf-c packs it. */
#include "rpc_env.h"

#include <string.h>

/* Field numbers of rpc.proto's Envelope, and their wire types. */
enum {
    RPC_ENV_ID = 1, RPC_ENV_KIND, RPC_ENV_METHOD, RPC_ENV_PAYLOAD,
    RPC_ENV_STATUS, RPC_ENV_MESSAGE, RPC_ENV_REASON,
};
#define RPC_ENV_VARINT 0u
#define RPC_ENV_LEN 2u

static size_t
rpc_env_varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *
rpc_env_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t) v;
    return p;
}

/* An enum is an int32 on the wire: a negative one sign-extends to ten
 * bytes, as protobuf-c writes it. */
static uint64_t
rpc_env_enum(int v)
{
    return (uint64_t) (int64_t) v;
}

/* Tag and length of a length-delimited field of 'len' bytes, 0 if it is
 * left out (empty). */
static size_t
rpc_env_len_size(size_t len)
{
    return len ? 1 + rpc_env_varint_size(len) + len : 0;
}

size_t
rpc_env_size(struct rpc_env *e)
{
    const char *s[3] = { e->method, e->message, e->reason };
    size_t n = 0;

    for (int i = 0; i < 3; i++) {
        e->len_[i] = s[i] ? strlen(s[i]) : 0;
        n += rpc_env_len_size(e->len_[i]);
    }
    if (e->id) {
        n += 1 + rpc_env_varint_size(e->id);
    }
    if (e->kind) {
        n += 1 + rpc_env_varint_size(rpc_env_enum(e->kind));
    }
    if (e->status) {
        n += 1 + rpc_env_varint_size(rpc_env_enum(e->status));
    }
    return n + rpc_env_len_size(e->payload_len);
}

static uint8_t *
rpc_env_tag(uint8_t *p, unsigned field, unsigned wire)
{
    *p++ = (uint8_t) (field << 3 | wire);
    return p;
}

static uint8_t *
rpc_env_bytes(uint8_t *p, unsigned field, const char *s, size_t len)
{
    if (len) {
        p = rpc_env_tag(p, field, RPC_ENV_LEN);
        p = rpc_env_varint(p, len);
        memcpy(p, s, len);
        p += len;
    }
    return p;
}

uint8_t *
rpc_env_pack(const struct rpc_env *e, uint8_t *p)
{
    uint8_t *hole;

    if (e->id) {
        p = rpc_env_varint(rpc_env_tag(p, RPC_ENV_ID, RPC_ENV_VARINT),
                           e->id);
    }
    if (e->kind) {
        p = rpc_env_varint(rpc_env_tag(p, RPC_ENV_KIND, RPC_ENV_VARINT),
                           rpc_env_enum(e->kind));
    }
    p = rpc_env_bytes(p, RPC_ENV_METHOD, e->method, e->len_[0]);
    if (e->payload_len) {
        p = rpc_env_varint(rpc_env_tag(p, RPC_ENV_PAYLOAD, RPC_ENV_LEN),
                           e->payload_len);
    }
    hole = p;
    p += e->payload_len;
    if (e->status) {
        p = rpc_env_varint(rpc_env_tag(p, RPC_ENV_STATUS, RPC_ENV_VARINT),
                           rpc_env_enum(e->status));
    }
    p = rpc_env_bytes(p, RPC_ENV_MESSAGE, e->message, e->len_[1]);
    rpc_env_bytes(p, RPC_ENV_REASON, e->reason, e->len_[2]);
    return hole;
}
