/* httpd: fabricd's HTTP server (libevent's evhttp): GET /metrics.
 *
 * On a loopback address it serves anyone on the machine (read-only
 * views).  Elsewhere it takes the lab secret (fabricd --secret-file) and
 * serves only requests that carry it as a bearer token ("Authorization:
 * Bearer SECRET", the secret file's text): without a secret fabricd
 * refuses such an address, as it does for RPC.  docs/SECURITY.md. */
#ifndef HTTPD_H
#define HTTPD_H

#include <event2/event.h>

struct auth_key;
struct fx_err;
struct metrics;
struct httpd;

/* Listens on "HOST:PORT" (port 0: any) on 'base'.  'key' (the lab secret;
 * none: loopback only) and 'metrics' are borrowed and must outlive the
 * server.  -EPERM for a non-loopback address without a secret. */
int httpd_create(struct event_base *base, const char *addr,
                 const struct auth_key *key, const struct metrics *metrics,
                 struct httpd **hp, struct fx_err *err);
/* NULL is a no-op. */
void httpd_destroy(struct httpd *);
/* The bound address, "HOST:PORT". */
const char *httpd_addr(const struct httpd *);

#endif
