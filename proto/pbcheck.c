/* pbcheck: see pbcheck.h. */
#include "pbcheck.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "fx_err.h"

/* Deeper nesting than any fexsim message has: a peer's recursion. */
#define PBCHECK_MAX_DEPTH 8

/* The length of the UTF-8 sequence starting at 's' (of 'len' bytes left),
 * or 0 if it is not a valid, shortest-form one. */
static size_t
pbcheck_utf8(const uint8_t *s, size_t len)
{
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    uint32_t cp;

    if (!n || n > len) {
        return 0;
    }
    cp = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800)
        || (n == 4 && cp < 0x10000) || cp > 0x10ffff
        || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

int
pbcheck_text(const uint8_t *s, size_t len, const char *what,
             struct fx_err *err)
{
    for (size_t i = 0; i < len;) {
        size_t n;

        /* Printable ASCII, nearly all of fexsim's text, takes one test a
         * byte. */
        if (s[i] >= 0x20 && s[i] < 0x7f) {
            i++;
            continue;
        }
        if (s[i] < 0x20 || s[i] == 0x7f) {
            return fx_err_set(err, -EINVAL, "%s holds a control byte "
                              "(0x%02x) at offset %zu", what, s[i], i);
        }
        n = pbcheck_utf8(s + i, len - i);
        if (!n) {
            return fx_err_set(err, -EINVAL, "%s is not valid UTF-8 at "
                              "offset %zu", what, i);
        }
        i += n;
    }
    return 0;
}

/* Reads a varint at '*p' (before 'end').  Returns false if truncated or
 * longer than 10 bytes. */
static bool
pbcheck_varint(const uint8_t **p, const uint8_t *end, uint64_t *vp)
{
    uint64_t v = 0;

    for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;

        v |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *vp = v;
            return true;
        }
    }
    return false;
}

static int pbcheck_message(const ProtobufCMessageDescriptor *desc,
                           const uint8_t *p, const uint8_t *end, int depth,
                           struct fx_err *err);

/* A length-delimited field 'f' (NULL: unknown) of 'len' bytes at 'p'. */
static int
pbcheck_field(const ProtobufCFieldDescriptor *f, const uint8_t *p,
              size_t len, int depth, struct fx_err *err)
{
    char what[96];

    if (!f) {
        return 0;
    }
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        /* The field is named only when it is refused: every request
         * passes here, and nearly all are text. */
        if (!pbcheck_text(p, len, "", NULL)) {
            return 0;
        }
        snprintf(what, sizeof what, "field '%s'", f->name);
        return pbcheck_text(p, len, what, err);
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        return pbcheck_message(f->descriptor, p, p + len, depth + 1, err);
    }
    return 0;
}

static int
pbcheck_message(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                const uint8_t *end, int depth, struct fx_err *err)
{
    if (depth > PBCHECK_MAX_DEPTH) {
        return fx_err_set(err, -EBADMSG, "messages nested too deep");
    }
    while (p < end) {
        uint64_t key, v;
        int rc;

        if (!pbcheck_varint(&p, end, &key)) {
            return fx_err_set(err, -EBADMSG, "truncated field key");
        }
        switch (key & 7) {
        case 0:
            if (!pbcheck_varint(&p, end, &v)) {
                return fx_err_set(err, -EBADMSG, "truncated varint");
            }
            break;
        case 1:
        case 5:
            if ((size_t) (end - p) < ((key & 7) == 1 ? 8u : 4u)) {
                return fx_err_set(err, -EBADMSG, "truncated field");
            }
            p += (key & 7) == 1 ? 8 : 4;
            break;
        case 2:
            if (!pbcheck_varint(&p, end, &v) || v > (uint64_t) (end - p)) {
                return fx_err_set(err, -EBADMSG, "truncated field");
            }
            rc = pbcheck_field(protobuf_c_message_descriptor_get_field(
                                   desc, (unsigned) (key >> 3)),
                               p, (size_t) v, depth, err);
            if (rc) {
                return rc;
            }
            p += v;
            break;
        default:
            return fx_err_set(err, -EBADMSG, "wire type %u unknown",
                              (unsigned) (key & 7));
        }
    }
    return 0;
}

int
pbcheck_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                size_t len, struct fx_err *err)
{
    /* An empty message has no strings, and its bytes may be NULL (a
     * payload protobuf-c unpacked as empty, a frame of 0 bytes), where
     * even 'buf + 0' is undefined. */
    if (len == 0) {
        return 0;
    }
    return pbcheck_message(desc, buf, buf + len, 0, err);
}
