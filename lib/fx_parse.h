/* fx_parse: numbers as users write them. */
#ifndef FX_PARSE_H
#define FX_PARSE_H

#include <stdint.h>

struct fx_err;

/* Parses a decimal unsigned integer in [min, max] from 's' into '*vp'.
 * 'what' names the value in the error message (-EINVAL not a number,
 * -ERANGE out of range). */
int fx_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *vp,
                 const char *what, struct fx_err *err);

#endif
