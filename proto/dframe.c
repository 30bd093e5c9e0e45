/* dframe: see dframe.h. */
#include "dframe.h"

#include <errno.h>
#include <string.h>

#include <event2/buffer.h>

#include "fx_err.h"

static void
dframe_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static void
dframe_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

static uint16_t
dframe_get16(const uint8_t *p)
{
    return (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
}

static uint32_t
dframe_get32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
           (uint32_t) p[2] << 8 | p[3];
}

static void
dframe_hdr_encode(uint8_t *buf, uint8_t type, uint16_t count,
                  uint32_t length)
{
    dframe_put16(buf, DFRAME_MAGIC);
    buf[2] = DFRAME_VERSION;
    buf[3] = type;
    dframe_put16(buf + 4, count);
    dframe_put16(buf + 6, 0);
    dframe_put32(buf + 8, length);
}

int
dframe_hdr_decode(const uint8_t buf[DFRAME_HDR_SIZE], struct dframe_hdr *hdr,
                  struct fx_err *err)
{
    uint16_t magic = dframe_get16(buf);

    if (magic != DFRAME_MAGIC) {
        return fx_err_set(err, -EBADMSG, "bad uplink magic 0x%04x", magic);
    }
    hdr->version = buf[2];
    hdr->type = buf[3];
    hdr->count = dframe_get16(buf + 4);
    hdr->length = dframe_get32(buf + 8);
    if (hdr->version != DFRAME_VERSION) {
        return fx_err_set(err, -EPROTO, "uplink version %u, expected %u",
                          hdr->version, DFRAME_VERSION);
    }
    if (hdr->type != DFRAME_HELLO && hdr->type != DFRAME_BATCH
        && hdr->type != DFRAME_MARKER) {
        return fx_err_set(err, -EPROTO, "unknown uplink message type %u",
                          hdr->type);
    }
    if (hdr->length > DFRAME_MAX_PAYLOAD) {
        return fx_err_set(err, -EMSGSIZE,
                          "uplink message of %u bytes exceeds %u",
                          hdr->length, DFRAME_MAX_PAYLOAD);
    }
    if (hdr->count > DFRAME_MAX_COUNT) {
        return fx_err_set(err, -EMSGSIZE,
                          "uplink batch of %u frames exceeds %u",
                          hdr->count, DFRAME_MAX_COUNT);
    }
    return 0;
}

size_t
dframe_hello_encode(uint8_t buf[DFRAME_HELLO_SIZE],
                    const struct dframe_ticket *ticket)
{
    dframe_hdr_encode(buf, DFRAME_HELLO, 0, DFRAME_TICKET_SIZE);
    memcpy(buf + DFRAME_HDR_SIZE, ticket->bytes, DFRAME_TICKET_SIZE);
    return DFRAME_HELLO_SIZE;
}

int
dframe_hello_decode(const struct dframe_hdr *hdr, const uint8_t *payload,
                    struct dframe_ticket *ticket, struct fx_err *err)
{
    if (hdr->type != DFRAME_HELLO || hdr->length != DFRAME_TICKET_SIZE
        || hdr->count != 0) {
        return fx_err_set(err, -EBADMSG, "malformed uplink HELLO");
    }
    memcpy(ticket->bytes, payload, DFRAME_TICKET_SIZE);
    return 0;
}

size_t
dframe_marker_encode(uint8_t buf[DFRAME_MARKER_SIZE], uint32_t token,
                     uint32_t vif)
{
    dframe_hdr_encode(buf, DFRAME_MARKER, 0, 8);
    dframe_put32(buf + DFRAME_HDR_SIZE, token);
    dframe_put32(buf + DFRAME_HDR_SIZE + 4, vif);
    return DFRAME_MARKER_SIZE;
}

int
dframe_marker_decode(const struct dframe_hdr *hdr, const uint8_t *payload,
                     uint32_t *token, uint32_t *vif, struct fx_err *err)
{
    if (hdr->type != DFRAME_MARKER || hdr->length != 8 || hdr->count != 0) {
        return fx_err_set(err, -EBADMSG, "malformed uplink MARKER");
    }
    *token = dframe_get32(payload);
    *vif = dframe_get32(payload + 4);
    if (*vif == 0) {
        return fx_err_set(err, -EBADMSG, "uplink MARKER for VIF 0");
    }
    return 0;
}

int
dframe_batch_parse(const struct dframe_hdr *hdr, const uint8_t *payload,
                   struct dframe_rec *recs, struct fx_err *err)
{
    size_t off = 0;

    for (uint16_t i = 0; i < hdr->count; i++) {
        uint32_t len;
        if (hdr->length - off < DFRAME_REC_SIZE) {
            return fx_err_set(err, -EBADMSG,
                              "uplink batch truncated at record %u", i);
        }
        len = dframe_get16(payload + off + 4);
        if (len < DFRAME_MIN_FRAME || len > DFRAME_MAX_FRAME) {
            return fx_err_set(err, -EBADMSG,
                              "uplink frame of %u bytes outside %u..%u",
                              len, DFRAME_MIN_FRAME, DFRAME_MAX_FRAME);
        }
        if (hdr->length - off - DFRAME_REC_SIZE < len) {
            return fx_err_set(err, -EBADMSG,
                              "uplink batch truncated in frame %u", i);
        }
        recs[i].vif = dframe_get32(payload + off);
        recs[i].len = len;
        recs[i].data = payload + off + DFRAME_REC_SIZE;
        off += DFRAME_REC_SIZE + len;
    }
    if (off != hdr->length) {
        return fx_err_set(err, -EBADMSG,
                          "uplink batch has %zu bytes after its %u frames",
                          hdr->length - off, hdr->count);
    }
    return 0;
}

void
dframe_writer_init(struct dframe_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap < DFRAME_MAX_MSG ? cap : DFRAME_MAX_MSG;
    w->used = DFRAME_HDR_SIZE;
    w->count = 0;
}

uint8_t *
dframe_writer_reserve(struct dframe_writer *w, uint32_t vif, uint32_t len)
{
    uint8_t *rec;

    if (w->count >= DFRAME_MAX_COUNT || len > DFRAME_MAX_FRAME ||
        w->cap - w->used < DFRAME_REC_SIZE + len) {
        return NULL;
    }
    rec = w->buf + w->used;
    dframe_put32(rec, vif);
    dframe_put16(rec + 4, (uint16_t) len);
    dframe_put16(rec + 6, 0);
    w->used += DFRAME_REC_SIZE + len;
    w->count++;
    return rec + DFRAME_REC_SIZE;
}

int
dframe_writer_add(struct dframe_writer *w, uint32_t vif, const uint8_t *data,
                  uint32_t len)
{
    uint8_t *p = dframe_writer_reserve(w, vif, len);

    if (!p) {
        return -ENOSPC;
    }
    memcpy(p, data, len);
    return 0;
}

size_t
dframe_writer_finish(struct dframe_writer *w)
{
    if (w->count == 0) {
        return 0;
    }
    dframe_hdr_encode(w->buf, DFRAME_BATCH, w->count,
                      (uint32_t) (w->used - DFRAME_HDR_SIZE));
    return w->used;
}

int
dframe_take(struct evbuffer *in, uint8_t *buf, struct dframe_hdr *hdr,
            struct fx_err *err)
{
    size_t avail = evbuffer_get_length(in);
    int rc;

    if (avail < DFRAME_HDR_SIZE) {
        return 0;
    }
    evbuffer_copyout(in, buf, DFRAME_HDR_SIZE);
    if ((rc = dframe_hdr_decode(buf, hdr, err)) < 0) {
        return rc;
    }
    if (avail < DFRAME_HDR_SIZE + hdr->length) {
        return 0;
    }
    evbuffer_remove(in, buf, DFRAME_HDR_SIZE + hdr->length);
    return 1;
}
