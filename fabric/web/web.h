/* web: fabricd's HTTP server (libevent's evhttp), for people and
 * scrapers: GET / the topology page (one file, served from fabricd, no
 * build step, nothing fetched from elsewhere), GET /api/state the fabric
 * as one JSON document (topology.h), GET /api/events its live feed as
 * server-sent events (sse.h), GET /metrics the Prometheus exposition
 * (metrics.h).
 *
 * On a loopback address it serves anyone on the machine (read-only
 * views).  Elsewhere it takes the lab secret (fabricd --secret-file) and
 * serves only requests that carry it as a bearer token ("Authorization:
 * Bearer SECRET", the secret file's text): without a secret fabricd
 * refuses such an address, as it does for RPC.  docs/SECURITY.md. */
#ifndef WEB_H
#define WEB_H

#include <event2/event.h>

struct auth_key;
struct dplane;
struct events;
struct flows;
struct fx_err;
struct model;
struct rpc_registry;
struct store;
struct web;

/* What the server shows, all borrowed and outliving it; 'store' may be
 * NULL (no state dir). */
struct web_src {
    const struct model *model;
    const struct dplane *dplane;
    const struct flows *flows;
    const struct rpc_registry *registry;
    struct events *events;          /* Tapped (metrics, the feed). */
    const struct store *store;
};

/* Serves on "HOST:PORT" (port 0: any) on 'base'.  'key' (the lab secret;
 * none: loopback only) and 'src' are borrowed and must outlive the
 * server.  -EPERM for a non-loopback address without a secret. */
int web_create(struct event_base *base, const char *addr,
               const struct auth_key *key, const struct web_src *src,
               struct web **wp, struct fx_err *err);
/* Ends the open streams, closes every connection.  NULL is a no-op. */
void web_destroy(struct web *);
/* The bound address, "HOST:PORT". */
const char *web_addr(const struct web *);

#endif
