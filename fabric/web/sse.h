/* sse: the topology page's live feed (GET /api/events): every event
 * fabricd emits (events.h's tap), as a server-sent event to every open
 * page: "id: SEQ" (none for a live migration-progress tick), "event:
 * TYPE" (e.g. migration-phase) and "data:" one
 * JSON object (seq, time_ms, type, host, vm, vif, migration, state,
 * detail, and stats for a migration's rounds and end).
 *
 * Pages are bounded: at most SSE_MAX_CLIENTS at once (another is answered
 * 503), and a page that does not read, whose unsent output passes
 * SSE_MAX_BUFFERED, is cut off (its browser reconnects and reloads the
 * state), so that fabricd's memory never grows with a slow page. */
#ifndef SSE_H
#define SSE_H

#include <stddef.h>

struct events;
struct evhttp_request;
struct sse;

#define SSE_MAX_CLIENTS 64
#define SSE_MAX_BUFFERED (256u * 1024)

/* Creates the feed over 'events' (borrowed, must outlive it), tapped. */
struct sse *sse_create(struct events *events);
/* Ends every page's stream and frees.  NULL is a no-op. */
void sse_destroy(struct sse *);

/* Answers 'req' with the stream, open until the page goes; 503 when
 * there are SSE_MAX_CLIENTS pages already. */
void sse_attach(struct sse *, struct evhttp_request *req);
/* Pages open now, and pages cut off for not reading, since created. */
size_t sse_clients(const struct sse *);
size_t sse_cut_off(const struct sse *);

#endif
