/* fx_parse: see fx_parse.h. */
#include "fx_parse.h"

#include <errno.h>
#include <stdlib.h>

#include "fx_err.h"

int
fx_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *vp,
             const char *what, struct fx_err *err)
{
    char *end;
    unsigned long long v;

    if (!*s || *s == '-' || *s == '+') {
        return fx_err_set(err, -EINVAL, "%s '%s' is not a number", what, s);
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end) {
        return fx_err_set(err, -EINVAL, "%s '%s' is not a number", what, s);
    }
    if (errno == ERANGE || v < min || v > max) {
        return fx_err_set(err, -ERANGE, "%s '%s' is out of range %llu-%llu",
                          what, s, (unsigned long long) min,
                          (unsigned long long) max);
    }
    *vp = v;
    return 0;
}
