/* pbcheck: the strings of a protobuf message, checked on the wire before
 * it is unpacked.
 *
 * protobuf-c unpacks a string field into a NUL-terminated C string: a NUL
 * inside would cut it silently, and nothing stops control bytes or bytes
 * that are not UTF-8.  fexsim's names, addresses and messages are text,
 * so a request whose string fields hold any of those is refused with the
 * field named, never cut.  The walk follows the message's descriptor into
 * nested messages (bounded depth) and skips every other field. */
#ifndef PBCHECK_H
#define PBCHECK_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

struct fx_err;

/* Checks every string field of the packed message 'buf' ('len' bytes) of
 * type 'desc'.  Returns 0, or -EINVAL with 'err' naming the field and
 * what is wrong (-EBADMSG if the wire format itself is broken: the
 * unpacker would refuse it anyway). */
int pbcheck_strings(const ProtobufCMessageDescriptor *desc,
                    const uint8_t *buf, size_t len, struct fx_err *err);

/* Checks 'len' bytes of text at 's': valid UTF-8 with no control byte
 * (below 0x20, or DEL).  'what' names it in the message. */
int pbcheck_text(const uint8_t *s, size_t len, const char *what,
                 struct fx_err *err);

#endif
