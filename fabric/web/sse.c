/* sse: see sse.h. */
#include "sse.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "events/events.h"
#include "events.pb-c.h"
#include "log.h"

LOG_MODULE("sse");

struct sse_client {
    struct sse *sse;
    struct evhttp_request *req;         /* Borrowed from evhttp. */
    struct evhttp_connection *conn;     /* Borrowed from evhttp. */
};

struct sse {
    struct events *events;              /* Borrowed. */
    struct sse_client *clients[SSE_MAX_CLIENTS];    /* Owned. */
    size_t n;
    size_t cut_off;
};

/* "migration-phase" for EVENT_MIGRATION_PHASE. */
static void
sse_type_name(int type, char *buf, size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &fexsim__v1__event_type__descriptor, type);
    const char *n = v ? v->name : "EVENT_UNKNOWN";
    size_t i;

    n += strncmp(n, "EVENT_", 6) ? 0 : 6;
    for (i = 0; n[i] && i + 1 < size; i++) {
        buf[i] = n[i] == '_' ? '-' : (char) tolower((unsigned char) n[i]);
    }
    buf[i] = '\0';
}

static void
jint(struct json_object *o, const char *key, uint64_t v)
{
    json_object_object_add(o, key, json_object_new_int64((int64_t) v));
}

static struct json_object *
sse_event_json(const Fexsim__V1__Event *e, const char *type)
{
    struct json_object *o = json_object_new_object();
    const Fexsim__V1__MigrationStats *s = e->stats;

    jint(o, "seq", e->seq);
    jint(o, "time_ms", e->time_ms);
    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "host", json_object_new_string(e->host));
    json_object_object_add(o, "vm", json_object_new_string(e->vm));
    jint(o, "vif", e->vif);
    jint(o, "migration", e->migration);
    json_object_object_add(o, "state", json_object_new_string(e->state));
    json_object_object_add(o, "detail", json_object_new_string(e->detail));
    if (s) {
        struct json_object *st = json_object_new_object();

        jint(st, "iteration", s->iteration);
        jint(st, "data_total_bytes", s->data_total_bytes);
        jint(st, "data_processed_bytes", s->data_processed_bytes);
        jint(st, "data_remaining_bytes", s->data_remaining_bytes);
        jint(st, "bandwidth_bytes_per_s", s->bandwidth_bytes_per_s);
        jint(st, "expected_downtime_ms", s->expected_downtime_ms);
        jint(st, "time_elapsed_ms", s->time_elapsed_ms);
        jint(st, "downtime_us", s->downtime_us);
        json_object_object_add(o, "stats", st);
    }
    return o;
}

static void
sse_remove(struct sse *sse, struct sse_client *c)
{
    for (size_t i = 0; i < sse->n; i++) {
        if (sse->clients[i] == c) {
            sse->clients[i] = sse->clients[--sse->n];
            break;
        }
    }
    free(c);
}

/* The page went (its connection closed or failed): evhttp frees the
 * request and the connection after this. */
static void
sse_closed(struct evhttp_connection *conn, void *arg)
{
    struct sse_client *c = arg;

    (void) conn;
    sse_remove(c->sse, c);
}

/* Bytes written to the page's connection and not yet sent. */
static size_t
sse_backlog(const struct sse_client *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);

    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static void
sse_cut(struct sse *sse, struct sse_client *c)
{
    struct evhttp_connection *conn = c->conn;

    LOG_WARN("a page that does not read its event stream is cut off (%zu "
             "bytes unsent)", sse_backlog(c));
    sse->cut_off++;
    evhttp_connection_set_closecb(conn, NULL, NULL);
    sse_remove(sse, c);
    evhttp_connection_free(conn);
}

static void
sse_tap(void *arg, const Fexsim__V1__Event *e)
{
    struct sse *sse = arg;
    struct json_object *o;
    char type[40];
    const char *text;

    if (!sse->n) {
        return;
    }
    sse_type_name(e->type, type, sizeof type);
    o = sse_event_json(e, type);
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    for (size_t i = sse->n; i-- > 0; ) {
        struct sse_client *c = sse->clients[i];
        struct evbuffer *chunk;

        if (sse_backlog(c) > SSE_MAX_BUFFERED) {
            sse_cut(sse, c);
            continue;
        }
        chunk = evbuffer_new();
        if (!chunk) {
            abort();
        }
        if (e->seq) {                   /* A live tick has none. */
            evbuffer_add_printf(chunk, "id: %llu\n",
                                (unsigned long long) e->seq);
        }
        evbuffer_add_printf(chunk, "event: %s\ndata: %s\n\n", type, text);
        evhttp_send_reply_chunk(c->req, chunk);
        evbuffer_free(chunk);
    }
    json_object_put(o);
}

struct sse *
sse_create(struct events *events)
{
    struct sse *sse = calloc(1, sizeof *sse);

    if (!sse || events_add_tap(events, sse_tap, sse)) {
        abort();                /* Taps are a fixed few, ours is one. */
    }
    sse->events = events;
    return sse;
}

void
sse_destroy(struct sse *sse)
{
    if (!sse) {
        return;
    }
    events_remove_tap(sse->events, sse_tap, sse);
    while (sse->n) {
        struct sse_client *c = sse->clients[sse->n - 1];

        evhttp_connection_set_closecb(c->conn, NULL, NULL);
        evhttp_send_reply_end(c->req);
        sse_remove(sse, c);
    }
    free(sse);
}

void
sse_attach(struct sse *sse, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct sse_client *c;
    struct evbuffer *hello;

    if (sse->n == SSE_MAX_CLIENTS) {
        evhttp_send_error(req, 503, "too many pages follow the events");
        return;
    }
    c = calloc(1, sizeof *c);
    hello = evbuffer_new();
    if (!c || !hello) {
        abort();
    }
    c->sse = sse;
    c->req = req;
    c->conn = evhttp_request_get_connection(req);
    sse->clients[sse->n++] = c;
    evhttp_connection_set_closecb(c->conn, sse_closed, c);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(req, 200, "OK");
    /* The browser retries after a second if the stream breaks. */
    evbuffer_add_printf(hello, "retry: 1000\n: last %llu\n\n",
                        (unsigned long long) events_last_seq(sse->events));
    evhttp_send_reply_chunk(req, hello);
    evbuffer_free(hello);
}

size_t
sse_clients(const struct sse *sse)
{
    return sse->n;
}

size_t
sse_cut_off(const struct sse *sse)
{
    return sse->cut_off;
}
