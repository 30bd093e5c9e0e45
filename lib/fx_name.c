/* fx_name: see fx_name.h. */
#include "fx_name.h"

#include <string.h>

int
fx_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 39) {
        return 0;
    }
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._-") == n;
}
