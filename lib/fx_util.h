/* fx_util: small helpers shared by every program: time, addresses, numbers. */
#ifndef FX_UTIL_H
#define FX_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct fx_err;

/* Monotonic time in milliseconds and microseconds. */
uint64_t fx_now_ms(void);
uint64_t fx_now_us(void);

/* Parses "HOST:PORT" (IPv4 dotted quad or "localhost", port 0-65535) into
 * '*ss' and '*lenp'.  Returns 0 or -EINVAL with a message in 'err'. */
int fx_addr_parse(const char *s, struct sockaddr_storage *ss, int *lenp,
                  struct fx_err *err);

/* Formats 'sa' as "HOST:PORT" into 'buf' of 'size' bytes. */
void fx_addr_format(const struct sockaddr *sa, char *buf, size_t size);

/* Parses a decimal unsigned integer in [min, max] from 's' into '*vp'.
 * 'what' names the value in the error message. */
int fx_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *vp,
                 const char *what, struct fx_err *err);

/* Returns true if 'name' is a valid object name: 1-39 characters (the
 * 40-byte IFLA_PORT_PROFILE buffer, less its NUL) of [A-Za-z0-9._-]. */
int fx_name_valid(const char *name);

/* Writes 'content' to 'path' atomically (a temp file renamed over it), so
 * that a reader polling for the file never sees it half-written, and
 * durably: the file and its directory are fsync()ed before it returns, so
 * that what an agent saved survives a host crash, as fabricd's SQLite
 * store does with synchronous=FULL. */
int fx_write_file_atomic(const char *path, const char *content,
                         struct fx_err *err);

#endif
