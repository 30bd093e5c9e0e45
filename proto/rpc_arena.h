/* rpc_arena: the memory one frame's unpacked messages live in.
 *
 * protobuf-c unpacks a message into a malloc() for the message and one
 * for each string, bytes field and nested message, and frees them one by
 * one; for a cheap call that is most of the dispatcher's own cost.  An
 * arena hands protobuf-c (as its ProtobufCAllocator) bump-allocated
 * memory from one buffer kept by the connection, and takes all of it
 * back at once when the frame is done: nothing is freed piece by piece.
 * What does not fit in the buffer (a big payload) gets a malloc() of its
 * own, freed at the same time.
 *
 * Marks nest: a frame takes a mark before it unpacks and releases to it
 * afterwards, so a frame handled while another is (a nested event loop)
 * gives back only its own memory.  Memory is not zeroed.  Owned by its
 * user (a connection); not thread-safe, like the rest of the RPC
 * library. */
#ifndef RPC_ARENA_H
#define RPC_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct rpc_arena_big;

struct rpc_arena {
    ProtobufCAllocator pb;              /* Hand &pb to protobuf-c. */
    unsigned char *buf;                 /* Owned, 'cap' bytes, lazily. */
    size_t cap, used;
    struct rpc_arena_big *big;          /* Owned: what did not fit. */
};

/* Where an arena stood: release to it to take back what came after. */
struct rpc_arena_mark {
    size_t used;
    struct rpc_arena_big *big;
};

/* An empty arena whose buffer will hold 'cap' bytes. */
void rpc_arena_init(struct rpc_arena *, size_t cap);
/* Frees everything.  The arena may be initialised again. */
void rpc_arena_fini(struct rpc_arena *);
struct rpc_arena_mark rpc_arena_mark(const struct rpc_arena *);
/* Takes back everything allocated since 'mark'. */
void rpc_arena_release(struct rpc_arena *, struct rpc_arena_mark mark);
/* 'size' bytes aligned for any type (aborts on OOM, as the RPC library
 * does everywhere). */
void *rpc_arena_alloc(struct rpc_arena *, size_t size);

#endif
