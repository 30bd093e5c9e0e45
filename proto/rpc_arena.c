/* rpc_arena: bump allocation for one frame's unpacked messages. */
#include "rpc_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

/* A block that did not fit in the buffer. */
struct rpc_arena_big {
    struct rpc_arena_big *next;
    max_align_t data[];
};

#define RPC_ARENA_ALIGN (alignof(max_align_t))

static void *
rpc_arena_pb_alloc(void *data, size_t size)
{
    return rpc_arena_alloc(data, size);
}

/* protobuf-c frees piece by piece (a message that failed to unpack, its
 * scratch space): all of it goes back at the release instead. */
static void
rpc_arena_pb_free(void *data, void *p)
{
    (void) data;
    (void) p;
}

void
rpc_arena_init(struct rpc_arena *a, size_t cap)
{
    *a = (struct rpc_arena) {
        .pb = { rpc_arena_pb_alloc, rpc_arena_pb_free, a },
        .cap = cap,
    };
}

void
rpc_arena_fini(struct rpc_arena *a)
{
    rpc_arena_release(a, (struct rpc_arena_mark) { 0, NULL });
    free(a->buf);
    a->buf = NULL;
}

struct rpc_arena_mark
rpc_arena_mark(const struct rpc_arena *a)
{
    return (struct rpc_arena_mark) { a->used, a->big };
}

void
rpc_arena_release(struct rpc_arena *a, struct rpc_arena_mark mark)
{
    while (a->big != mark.big) {
        struct rpc_arena_big *b = a->big;

        a->big = b->next;
        free(b);
    }
    a->used = mark.used;
}

void *
rpc_arena_alloc(struct rpc_arena *a, size_t size)
{
    size_t need = (size + RPC_ARENA_ALIGN - 1) & ~(RPC_ARENA_ALIGN - 1);
    struct rpc_arena_big *b;

    if (!a->buf && a->cap) {
        a->buf = malloc(a->cap);
        if (!a->buf) {
            abort();
        }
    }
    if (a->buf && size <= a->cap && need <= a->cap - a->used) {
        void *p = a->buf + a->used;

        a->used += need;
        return p;
    }
    b = malloc(sizeof *b + (size ? size : 1));
    if (!b) {
        abort();
    }
    b->next = a->big;
    a->big = b;
    return b->data;
}
