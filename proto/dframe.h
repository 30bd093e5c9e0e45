/* dframe: the uplink's wire format, the data plane's own framing.
 *
 * Each agent has one TCP connection to fabricd for frames ("uplink"),
 * apart from its control RPC connection.  On it travel messages:
 *
 *   header (12 bytes, big-endian):
 *     magic u16 (0x4644, "FD") | version u8 | type u8 |
 *     count u16 | reserved u16 | length u32 (bytes after the header)
 *
 *   HELLO: length 16, count 0; payload: ticket, 16 bytes.  First message
 *          of an agent: the one-time ticket fabricd handed the agent's
 *          control connection (Dataplane.GetUplink), which the fabric
 *          maps to the host that connection registered, so that it knows
 *          whose vNICs sit behind the uplink without taking the peer's
 *          word for it.
 *   BATCH: 'count' records back to back, 'length' bytes in all:
 *          vif u32 | frame length u16 | reserved u16 | frame bytes
 *          From agent to fabric the VIF is the source; from fabric to
 *          agent it is the destination.
 *   MARKER: length 8, count 0; payload: token u32 | vif u32.  The
 *          migration switchover's drain (docs/DESIGN-dataplane.md):
 *          agent to fabric, "every frame of VIF 'vif' is before this:
 *          hold it now"; the fabric, having held it, echoes it back,
 *          "every frame switched to 'vif' before the hold is before
 *          this".  TCP keeps the order; no timer is involved.
 *
 * One header per batch of up to DFRAME_MAX_COUNT frames, no protobuf per
 * frame, no padding.  Pure functions (but dframe_take), no allocation:
 * the writer fills a caller's buffer in place and the parser points into
 * the caller's buffer, so that tests can feed them any bytes. */
#ifndef DFRAME_H
#define DFRAME_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;

#define DFRAME_MAGIC 0x4644u
/* 2: HELLO carries a ticket (1: a host index the peer chose). */
#define DFRAME_VERSION 2u
#define DFRAME_HDR_SIZE 12u
#define DFRAME_REC_SIZE 8u
#define DFRAME_MIN_FRAME 14u             /* An Ethernet header. */
#define DFRAME_MAX_FRAME 9216u           /* Jumbo, without FCS. */
#define DFRAME_MAX_COUNT 1024u           /* Frames per batch. */
#define DFRAME_MAX_PAYLOAD (256u * 1024) /* Bytes after the header. */
#define DFRAME_MAX_MSG (DFRAME_HDR_SIZE + DFRAME_MAX_PAYLOAD)

enum dframe_type {
    DFRAME_HELLO = 1,
    DFRAME_BATCH = 2,
    DFRAME_MARKER = 3,
};

#define DFRAME_MARKER_SIZE (DFRAME_HDR_SIZE + 8)
#define DFRAME_TICKET_SIZE 16u           /* 128 random bits. */
#define DFRAME_HELLO_SIZE (DFRAME_HDR_SIZE + DFRAME_TICKET_SIZE)

/* An uplink's admission ticket: opaque random bytes, meaningful only to
 * the fabric that issued them. */
struct dframe_ticket {
    uint8_t bytes[DFRAME_TICKET_SIZE];
};

struct dframe_hdr {
    uint8_t version;
    uint8_t type;            /* enum dframe_type. */
    uint16_t count;          /* Records in a BATCH. */
    uint32_t length;         /* Payload bytes after the header. */
};

/* One frame of a parsed batch; 'data' points into the parsed buffer. */
struct dframe_rec {
    uint32_t vif;
    uint32_t len;
    const uint8_t *data;
};

/* Parses a header.  Returns 0, -EBADMSG (bad magic: not our protocol),
 * -EPROTO (unknown version or type), or -EMSGSIZE (length or count over
 * the limits), with 'err' filled. */
int dframe_hdr_decode(const uint8_t buf[DFRAME_HDR_SIZE],
                      struct dframe_hdr *hdr, struct fx_err *err);

/* Writes a HELLO presenting 'ticket' (copied) into 'buf'; returns its
 * size, DFRAME_HELLO_SIZE. */
size_t dframe_hello_encode(uint8_t buf[DFRAME_HELLO_SIZE],
                           const struct dframe_ticket *ticket);
/* Parses the payload of a HELLO into '*ticket'.  -EBADMSG if malformed
 * (wrong length or a count). */
int dframe_hello_decode(const struct dframe_hdr *hdr, const uint8_t *payload,
                        struct dframe_ticket *ticket, struct fx_err *err);

/* Writes a MARKER of 'token' for 'vif' into 'buf'; returns its size. */
size_t dframe_marker_encode(uint8_t buf[DFRAME_MARKER_SIZE], uint32_t token,
                            uint32_t vif);
/* Parses the payload of a MARKER.  -EBADMSG if malformed (wrong length or
 * count, VIF 0). */
int dframe_marker_decode(const struct dframe_hdr *hdr, const uint8_t *payload,
                         uint32_t *token, uint32_t *vif, struct fx_err *err);

/* Parses the 'hdr->length' bytes of a BATCH 'payload' into 'recs' (room
 * for hdr->count).  Returns 0, or -EBADMSG when a record is truncated,
 * a frame is outside DFRAME_MIN_FRAME..DFRAME_MAX_FRAME, or bytes are
 * left over. */
int dframe_batch_parse(const struct dframe_hdr *hdr, const uint8_t *payload,
                       struct dframe_rec *recs, struct fx_err *err);

/* Builds one BATCH in a caller's buffer (borrowed). */
struct dframe_writer {
    uint8_t *buf;
    size_t cap;
    size_t used;             /* Header included. */
    uint16_t count;
};

/* Starts an empty batch in 'buf' of 'cap' bytes (>= DFRAME_HDR_SIZE). */
void dframe_writer_init(struct dframe_writer *, uint8_t *buf, size_t cap);
/* Reserves room for a 'len'-byte frame to 'vif' and returns where to write
 * it, or NULL when the batch is full (flush and retry). */
uint8_t *dframe_writer_reserve(struct dframe_writer *, uint32_t vif,
                               uint32_t len);
/* Appends a copy of 'len' bytes of 'data'.  Returns 0 or -ENOSPC. */
int dframe_writer_add(struct dframe_writer *, uint32_t vif,
                      const uint8_t *data, uint32_t len);
/* Writes the header and returns the batch size in bytes (0 when empty).
 * Then dframe_writer_init() again to start the next batch. */
size_t dframe_writer_finish(struct dframe_writer *);

/* ---- The one I/O helper ---- */

struct evbuffer;

/* Takes the next whole message out of 'in' into 'buf' (DFRAME_MAX_MSG
 * bytes), header first, and fills '*hdr'.  Returns 1 when a message was
 * taken, 0 when 'in' does not hold a whole one yet, or a negative errno of
 * dframe_hdr_decode() with 'err' filled: the stream is then garbage and
 * the caller closes it. */
int dframe_take(struct evbuffer *in, uint8_t *buf, struct dframe_hdr *hdr,
                struct fx_err *err);

#endif
