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

/* A varint at '*pp' before 'end' into '*v'; 0 if it runs past 'end' or
 * over ten bytes (protobuf-c refuses both). */
static int
rpc_env_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t r = 0;

    for (unsigned shift = 0; p < end && shift < 70; shift += 7) {
        uint8_t b = *p++;

        r |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *v = r;
            return 1;
        }
    }
    return 0;
}

/* 'len' bytes at 'p' copied into 'alloc', NUL-terminated. */
static char *
rpc_env_copy(ProtobufCAllocator *alloc, const uint8_t *p, size_t len)
{
    char *s = alloc->alloc(alloc->allocator_data, len + 1);

    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

int
rpc_env_unpack(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
               Fexsim__V1__Envelope *env)
{
    const uint8_t *p = buf, *end = buf + len;
    unsigned seen = 0;

    *env = (Fexsim__V1__Envelope) FEXSIM__V1__ENVELOPE__INIT;
    while (p < end) {
        unsigned field = *p >> 3, wire = *p & 7u;
        uint64_t v;

        /* Only one-byte tags of our seven fields, each once. */
        if (*p++ & 0x80 || field < RPC_ENV_ID || field > RPC_ENV_REASON
            || seen & 1u << field) {
            return 0;
        }
        seen |= 1u << field;
        if (!rpc_env_read_varint(&p, end, &v)) {
            return 0;
        }
        if (field == RPC_ENV_ID || field == RPC_ENV_KIND
            || field == RPC_ENV_STATUS) {
            if (wire != RPC_ENV_VARINT) {
                return 0;
            }
            /* An enum is an int32: its low 32 bits, as protobuf-c
             * reads it. */
            if (field == RPC_ENV_ID) {
                env->id = v;
            } else if (field == RPC_ENV_KIND) {
                env->kind = (Fexsim__V1__Kind) (int32_t) (uint32_t) v;
            } else {
                env->status = (Fexsim__V1__Status) (int32_t) (uint32_t) v;
            }
            continue;
        }
        if (wire != RPC_ENV_LEN || v > (uint64_t) (end - p)) {
            return 0;
        }
        if (field == RPC_ENV_PAYLOAD) {
            env->payload.len = (size_t) v;
            env->payload.data = NULL;
            if (v) {
                env->payload.data = alloc->alloc(alloc->allocator_data,
                                                 (size_t) v);
                memcpy(env->payload.data, p, (size_t) v);
            }
        } else {
            char *s = rpc_env_copy(alloc, p, (size_t) v);

            if (field == RPC_ENV_METHOD) {
                env->method = s;
            } else if (field == RPC_ENV_MESSAGE) {
                env->message = s;
            } else {
                env->reason = s;
            }
        }
        p += v;
    }
    return 1;
}
