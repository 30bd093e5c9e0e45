/* mig_wire: the page stream's record format between two agents.
 *
 * Every record is a 24-byte header, all big-endian:
 *
 *   magic u16 0x4D47 ("MG") | type u8 | flags u8 (0) | length u32 |
 *   arg u64 | checksum u32 | reserved u32 (0)
 *
 * followed by 'length' payload bytes whose checksum (Fletcher style over
 * 64-bit words in four lanes, mig_wire_sum()) is in the header.  A PAGES
 * record carries up to MIG_WIRE_BATCH pages: 'arg' page indexes as u64
 * big-endian, zero-padded to a multiple of 4 (so the pages start on a
 * 32-byte boundary of the checksum), then the pages' bytes.  Pure
 * functions, so tests can feed them any bytes. */
#ifndef MIG_WIRE_H
#define MIG_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;

#define MIG_WIRE_MAGIC 0x4D47u
#define MIG_WIRE_VERSION 2u   /* 2: STOP. */
#define MIG_WIRE_HDR_SIZE 24u
/* Pages per record: 15 pages plus header fit a 64 KiB evbuffer chunk,
 * under malloc's mmap threshold, so chunks are recycled, not mapped and
 * zeroed for each record. */
#define MIG_WIRE_BATCH 15u
#define MIG_WIRE_DEV_NAME 32u                    /* Name in DEVICE. */
#define MIG_WIRE_MAX_DEVICE (4u * 1024 * 1024)   /* Device state bytes. */
#define MIG_WIRE_MAX_LEN (MIG_WIRE_MAX_DEVICE + MIG_WIRE_DEV_NAME)

enum mig_wire_type {
    MIG_WIRE_HELLO = 1,    /* src->dst: version, page size, pages, devs. */
    MIG_WIRE_PAGES = 2,    /* src->dst: arg = page count. */
    MIG_WIRE_ROUND = 3,    /* src->dst: end of pre-copy round 'arg'. */
    MIG_WIRE_DEVICE = 4,   /* src->dst: arg = device index; name + blob. */
    MIG_WIRE_END = 5,      /* src->dst: arg = pages sent in all. */
    MIG_WIRE_RESUMED = 6,  /* dst->src: guest resumed on destination. */
    MIG_WIRE_ABORT = 7,    /* either: payload = reason (text). */
    MIG_WIRE_STOP = 8,     /* src->dst: the guest stops now; the
                            * stop-and-copy round follows. */
};
#define MIG_WIRE_TYPE_MAX MIG_WIRE_STOP

struct mig_wire_hdr {
    uint8_t type;          /* enum mig_wire_type. */
    uint32_t length;       /* Payload bytes. */
    uint64_t arg;          /* Type-specific. */
    uint32_t sum;          /* mig_wire_sum() of the payload. */
};

/* HELLO payload. */
struct mig_wire_hello {
    uint32_t version;      /* MIG_WIRE_VERSION. */
    uint32_t page_size;
    uint64_t pages;        /* Guest pages; must match the destination. */
    uint32_t n_devices;
};
#define MIG_WIRE_HELLO_SIZE 20u

/* Bytes of the index area of a PAGES record of 'n' pages. */
#define MIG_WIRE_IDX_SIZE(n) ((((n) + 3u) / 4u) * 32u)
/* Payload bytes of a PAGES record of 'n' pages. */
#define MIG_WIRE_PAGES_LEN(n) (MIG_WIRE_IDX_SIZE(n) + (n) * 4096u)

/* Writes 'hdr' into 'buf'. */
void mig_wire_encode(uint8_t buf[MIG_WIRE_HDR_SIZE],
                     const struct mig_wire_hdr *hdr);

/* Parses 'buf' into '*hdr'.  Returns 0, or -EBADMSG (bad magic, unknown
 * type) or -EMSGSIZE (length over the type's limit) with 'err' filled. */
int mig_wire_decode(const uint8_t buf[MIG_WIRE_HDR_SIZE],
                    struct mig_wire_hdr *hdr, struct fx_err *err);

/* A running checksum: mig_wire_sum_init(), then mig_wire_sum_add() over
 * the pieces in order (each a multiple of 32 bytes except the last), then
 * mig_wire_sum_final(). */
struct mig_wire_sum { uint64_t a[4], b[4]; };
void mig_wire_sum_init(struct mig_wire_sum *s);
void mig_wire_sum_add(struct mig_wire_sum *s, const void *data, size_t len);
uint32_t mig_wire_sum_final(const struct mig_wire_sum *s);
/* One-shot checksum of 'len' bytes. */
uint32_t mig_wire_sum(const void *data, size_t len);

void mig_wire_hello_encode(uint8_t buf[MIG_WIRE_HELLO_SIZE],
                           const struct mig_wire_hello *h);
void mig_wire_hello_decode(const uint8_t buf[MIG_WIRE_HELLO_SIZE],
                           struct mig_wire_hello *h);

void mig_wire_put64(uint8_t *p, uint64_t v);
uint64_t mig_wire_get64(const uint8_t *p);

#endif
