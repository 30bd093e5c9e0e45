/* fx_err: errors as values.
 *
 * A function that can fail returns 0 or a negative errno and, when the caller
 * passed a non-NULL 'err', fills it with one line that says what and why.
 * Only the edges (main, an RPC reply, fexctl) print or send the message. */
#ifndef FX_ERR_H
#define FX_ERR_H

#include <stdarg.h>

struct fx_err {
    int code;           /* Negative errno, 0 when no error was recorded. */
    char msg[200];      /* One line, no '\n'; empty when no error. */
    char reason[48];    /* Machine-readable, for a refusal by a rule
                         * ("lostFeatureVmotion", docs/API.md's table
                         * of reasons); empty otherwise.  An RPC reply
                         * carries it in Envelope.reason. */
};

/* Clears 'err' (may be NULL). */
void fx_err_clear(struct fx_err *err);

/* Fills 'err' (may be NULL) with 'code' and the formatted message, and
 * returns 'code', so that a caller can write
 * 'return fx_err_set(err, -ENOENT, "host '%s' not found", name);'. */
int fx_err_set(struct fx_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like fx_err_set() and also sets the machine-readable 'reason' (a
 * refusal by a rule), so that a rule can write
 * 'return fx_err_refuse(err, -EPERM, "vmRunning", "VM '%s' ...", name);'.
 * fx_err_set() clears the reason, fx_err_wrap() keeps it. */
int fx_err_refuse(struct fx_err *err, int code, const char *reason,
                  const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like fx_err_set() but prefixes the message already in 'err' with the new
 * text and ": ", to add context on the way up. */
int fx_err_wrap(struct fx_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
