/* frame: the 8-byte header in front of every packed Envelope.
 *
 *   magic u16 (0x4658, "FX") | version u8 | flags u8 | length u32
 *
 * all big-endian.  Pure functions, no I/O, so that tests can feed them any
 * bytes. */
#ifndef FRAME_H
#define FRAME_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;

#define FRAME_MAGIC 0x4658u
#define FRAME_VERSION 2u
#define FRAME_HDR_SIZE 8u
#define FRAME_MAX_SIZE (4u * 1024 * 1024)   /* Envelope bytes, 4 MiB. */

struct frame_hdr {
    uint8_t version;     /* Protocol version of the sender. */
    uint8_t flags;       /* Reserved, 0. */
    uint32_t length;     /* Bytes of Envelope after the header. */
};

/* Writes the header for 'length' bytes at 'version' into 'buf'. */
void frame_encode(uint8_t buf[FRAME_HDR_SIZE], uint8_t version,
                  uint32_t length);

/* Parses 'buf' into '*hdr'.  Returns 0, -EBADMSG when the magic is wrong
 * (not our protocol: garbage) or -EMSGSIZE when the length exceeds
 * 'max_size'.  The version is not checked here: a peer of another version
 * still frames correctly and deserves an answer. */
int frame_decode(const uint8_t buf[FRAME_HDR_SIZE], uint32_t max_size,
                 struct frame_hdr *hdr, struct fx_err *err);

#endif
