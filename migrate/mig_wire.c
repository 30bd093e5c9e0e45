/* mig_wire: page stream records. */
#include "mig_wire.h"

#include <errno.h>
#include <string.h>

#include "fx_err.h"
#include "guestmem.h"

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}

void
mig_wire_put64(uint8_t *p, uint64_t v)
{
    put32(p, v >> 32);
    put32(p + 4, (uint32_t) v);
}

uint64_t
mig_wire_get64(const uint8_t *p)
{
    return (uint64_t) get32(p) << 32 | get32(p + 4);
}

void
mig_wire_encode(uint8_t buf[MIG_WIRE_HDR_SIZE],
                const struct mig_wire_hdr *hdr)
{
    put16(buf, MIG_WIRE_MAGIC);
    buf[2] = hdr->type;
    buf[3] = 0;
    put32(buf + 4, hdr->length);
    mig_wire_put64(buf + 8, hdr->arg);
    put32(buf + 16, hdr->sum);
    put32(buf + 20, 0);
}

/* The largest payload each type may carry. */
static uint32_t
mig_wire_max_len(uint8_t type)
{
    switch (type) {
    case MIG_WIRE_HELLO:
        return MIG_WIRE_HELLO_SIZE;
    case MIG_WIRE_PAGES:
        return MIG_WIRE_PAGES_LEN(MIG_WIRE_BATCH);
    case MIG_WIRE_DEVICE:
        return MIG_WIRE_MAX_LEN;
    case MIG_WIRE_ABORT:
        return 256;
    default:
        return 0;
    }
}

int
mig_wire_decode(const uint8_t buf[MIG_WIRE_HDR_SIZE],
                struct mig_wire_hdr *hdr, struct fx_err *err)
{
    if ((buf[0] << 8 | buf[1]) != MIG_WIRE_MAGIC) {
        return fx_err_set(err, -EBADMSG, "page stream: bad magic "
                          "0x%02x%02x", buf[0], buf[1]);
    }
    hdr->type = buf[2];
    hdr->length = get32(buf + 4);
    hdr->arg = mig_wire_get64(buf + 8);
    hdr->sum = get32(buf + 16);
    if (hdr->type < MIG_WIRE_HELLO || hdr->type > MIG_WIRE_TYPE_MAX) {
        return fx_err_set(err, -EBADMSG, "page stream: unknown record "
                          "type %u", hdr->type);
    }
    if (hdr->length > mig_wire_max_len(hdr->type)) {
        return fx_err_set(err, -EMSGSIZE, "page stream: record type %u "
                          "of %u bytes is over its limit", hdr->type,
                          hdr->length);
    }
    return 0;
}

void
mig_wire_sum_init(struct mig_wire_sum *s)
{
    for (int i = 0; i < 4; i++) {
        s->a[i] = 1;
        s->b[i] = 0;
    }
}

/* Fletcher over 64-bit words in four independent lanes: the lanes let the
 * CPU add in parallel, so it keeps up with loopback on every page, and the
 * running 'b' sums catch reordered words, which a plain sum would not. */
void
mig_wire_sum_add(struct mig_wire_sum *s, const void *data, size_t len)
{
    uint64_t a0 = s->a[0], a1 = s->a[1], a2 = s->a[2], a3 = s->a[3];
    uint64_t b0 = s->b[0], b1 = s->b[1], b2 = s->b[2], b3 = s->b[3];
    const uint8_t *p = data;
    uint64_t w[4];

    /* Locals, not s->a[i]: 'p' may alias '*s', which would force a store
     * and a load per word. */
    for (; len >= 32; p += 32, len -= 32) {
        memcpy(w, p, 32);
        a0 += w[0];
        a1 += w[1];
        a2 += w[2];
        a3 += w[3];
        b0 += a0;
        b1 += a1;
        b2 += a2;
        b3 += a3;
    }
    for (; len; p++, len--) {
        a0 += *p;
        b0 += a0;
    }
    s->a[0] = a0, s->a[1] = a1, s->a[2] = a2, s->a[3] = a3;
    s->b[0] = b0, s->b[1] = b1, s->b[2] = b2, s->b[3] = b3;
}

uint32_t
mig_wire_sum_final(const struct mig_wire_sum *s)
{
    uint64_t v = 0;

    for (int i = 0; i < 4; i++) {
        v = (v ^ s->a[i]) * 0x9e3779b97f4a7c15ull;
        v = (v ^ s->b[i]) * 0x9e3779b97f4a7c15ull;
    }
    return (uint32_t) (v ^ (v >> 32));
}

uint32_t
mig_wire_sum(const void *data, size_t len)
{
    struct mig_wire_sum s;

    mig_wire_sum_init(&s);
    mig_wire_sum_add(&s, data, len);
    return mig_wire_sum_final(&s);
}

void
mig_wire_hello_encode(uint8_t buf[MIG_WIRE_HELLO_SIZE],
                      const struct mig_wire_hello *h)
{
    put32(buf, h->version);
    put32(buf + 4, h->page_size);
    mig_wire_put64(buf + 8, h->pages);
    put32(buf + 16, h->n_devices);
}

void
mig_wire_hello_decode(const uint8_t buf[MIG_WIRE_HELLO_SIZE],
                      struct mig_wire_hello *h)
{
    h->version = get32(buf);
    h->page_size = get32(buf + 4);
    h->pages = mig_wire_get64(buf + 8);
    h->n_devices = get32(buf + 16);
}
