#include "fx_err.h"

#include <stdio.h>
#include <string.h>

void
fx_err_clear(struct fx_err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
        err->reason[0] = '\0';
    }
}

/* Replaces any newline so that a message always stays on one line. */
static void
fx_err_flatten(char *msg)
{
    for (char *p = msg; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
}

int
fx_err_set(struct fx_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (!err) {
        return code;
    }
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    fx_err_flatten(err->msg);
    err->code = code;
    err->reason[0] = '\0';
    return code;
}

int
fx_err_refuse(struct fx_err *err, int code, const char *reason,
              const char *fmt, ...)
{
    va_list ap;

    if (!err) {
        return code;
    }
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    fx_err_flatten(err->msg);
    err->code = code;
    snprintf(err->reason, sizeof err->reason, "%s", reason ? reason : "");
    return code;
}

int
fx_err_wrap(struct fx_err *err, const char *fmt, ...)
{
    char prefix[sizeof err->msg];
    char old[sizeof err->msg];
    va_list ap;

    if (!err) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    fx_err_flatten(err->msg);
    return err->code;
}
