/* pbenum: the API's enums as words, one vocabulary for fexctl, the
 * events' text and the docs.  A value's word is its name in the .proto
 * without the prefix all the enum's values share, lower-case, '_' as '-':
 * VIF_MODE_HIGH_PERFORMANCE is "high-performance", OPERATION_HOT_ADD
 * "hot-add".  Pure functions over protobuf-c's enum descriptors. */
#ifndef PBENUM_H
#define PBENUM_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct fx_err;

/* Writes the word of 'value' of enum 'd' into 'buf' of 'size' bytes and
 * returns 'buf'; "" for a value the enum does not have (a newer peer's). */
const char *pbenum_word(const ProtobufCEnumDescriptor *d, int value,
                        char *buf, size_t size);

/* Parses 'word' (as pbenum_word() writes it) into '*valuep'.  The zero
 * value (*_UNSPECIFIED) is no word.  -EINVAL with 'err' listing the words
 * otherwise. */
int pbenum_parse(const ProtobufCEnumDescriptor *d, const char *word,
                 int *valuep, struct fx_err *err);

#endif
