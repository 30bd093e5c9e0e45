#include "frame.h"

#include <errno.h>

#include "fx_err.h"

void
frame_encode(uint8_t buf[FRAME_HDR_SIZE], uint8_t version, uint32_t length)
{
    buf[0] = (uint8_t) (FRAME_MAGIC >> 8);
    buf[1] = (uint8_t) (FRAME_MAGIC & 0xff);
    buf[2] = version;
    buf[3] = 0;
    buf[4] = (uint8_t) (length >> 24);
    buf[5] = (uint8_t) (length >> 16);
    buf[6] = (uint8_t) (length >> 8);
    buf[7] = (uint8_t) length;
}

int
frame_decode(const uint8_t buf[FRAME_HDR_SIZE], uint32_t max_size,
             struct frame_hdr *hdr, struct fx_err *err)
{
    uint16_t magic = (uint16_t) (buf[0] << 8 | buf[1]);

    if (magic != FRAME_MAGIC) {
        return fx_err_set(err, -EBADMSG,
                          "bad frame magic 0x%04x (expected 0x%04x)",
                          magic, FRAME_MAGIC);
    }
    hdr->version = buf[2];
    hdr->flags = buf[3];
    hdr->length = (uint32_t) buf[4] << 24 | (uint32_t) buf[5] << 16
                  | (uint32_t) buf[6] << 8 | buf[7];
    if (hdr->length > max_size) {
        return fx_err_set(err, -EMSGSIZE,
                          "frame of %u bytes exceeds the %u-byte limit",
                          hdr->length, max_size);
    }
    return 0;
}
