/* fx_addr: IPv4 "HOST:PORT" addresses as text. */
#ifndef FX_ADDR_H
#define FX_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct fx_err;

/* Parses "HOST:PORT" (IPv4 dotted quad or "localhost", port 0-65535) into
 * '*ss' and '*lenp'.  Returns 0 or -EINVAL with a message in 'err'. */
int fx_addr_parse(const char *s, struct sockaddr_storage *ss, int *lenp,
                  struct fx_err *err);

/* Whether 'ss' is a loopback address (127.0.0.0/8). */
bool fx_addr_is_loopback(const struct sockaddr_storage *ss);

/* Whether "HOST:PORT" 's' parses and is a loopback address. */
bool fx_addr_text_is_loopback(const char *s);

/* Formats 'sa' as "HOST:PORT" into 'buf' of 'size' bytes. */
void fx_addr_format(const struct sockaddr *sa, char *buf, size_t size);

#endif
