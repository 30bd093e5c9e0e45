/* web: see web.h. */
#include "web.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <json-c/json.h>

#include "auth.h"
#include "fx_addr.h"
#include "fx_err.h"
#include "metrics.h"
#include "page_html.h"
#include "sse.h"
#include "topology.h"

struct web {
    struct evhttp *http;                /* Owned. */
    const struct auth_key *key;         /* Borrowed. */
    const struct web_src *src;          /* Borrowed. */
    struct metrics *metrics;            /* Owned. */
    struct sse *sse;                    /* Owned. */
    int open;                           /* On loopback: no token asked. */
    char addr[64];
};

/* ---- Handlers, one per path ---- */

static void
web_reply(struct evhttp_request *req, const char *type, const void *body,
          size_t len)
{
    struct evbuffer *out = evbuffer_new();

    if (!out) {
        abort();
    }
    evbuffer_add(out, body, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      type);
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "Cache-Control", "no-store");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void
web_page(struct web *w, struct evhttp_request *req)
{
    (void) w;
    web_reply(req, "text/html; charset=utf-8", page_html, page_html_len);
}

static void
web_metrics(struct web *w, struct evhttp_request *req)
{
    struct evbuffer *out = evbuffer_new();

    if (!out) {
        abort();
    }
    metrics_render(w->metrics, out);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void
web_state(struct web *w, struct evhttp_request *req)
{
    struct json_object *doc = topology_json(w->src->model, w->src->dplane,
                                            w->src->flows, w->src->events);
    const char *text = json_object_to_json_string_ext(doc,
                                                      JSON_C_TO_STRING_PLAIN);

    web_reply(req, "application/json", text, strlen(text));
    json_object_put(doc);
}

static void
web_events(struct web *w, struct evhttp_request *req)
{
    sse_attach(w->sse, req);
}

static const struct {
    const char *path;
    void (*fn)(struct web *, struct evhttp_request *);
} web_routes[] = {
    { "/", web_page },
    { "/metrics", web_metrics },
    { "/api/state", web_state },
    { "/api/events", web_events },
};

/* Whether 'req' may be served: on loopback always; elsewhere with the lab
 * secret as its bearer token. */
static int
web_allowed(const struct web *w, struct evhttp_request *req)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(
                                              req), "Authorization");

    if (w->open) {
        return 1;
    }
    return auth && !strncmp(auth, "Bearer ", 7)
           && auth_key_matches(w->key, auth + 7);
}

static void
web_dispatch(struct evhttp_request *req, void *arg)
{
    struct web *w = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

    if (!web_allowed(w, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "WWW-Authenticate", "Bearer");
        evhttp_send_error(req, 401, "the lab secret as a bearer token");
        return;
    }
    for (size_t i = 0; path && i < sizeof web_routes / sizeof *web_routes;
         i++) {
        if (!strcmp(path, web_routes[i].path)) {
            web_routes[i].fn(w, req);
            return;
        }
    }
    evhttp_send_error(req, 404, "fabricd serves /, /metrics, /api/state "
                      "and /api/events");
}

/* ---- The server ---- */

int
web_create(struct event_base *base, const char *addr,
           const struct auth_key *key, const struct web_src *src,
           struct web **wp, struct fx_err *err)
{
    struct sockaddr_storage ss;
    struct evhttp_bound_socket *bound;
    struct evconnlistener *listener;
    struct web *w;
    int len;

    *wp = NULL;
    if (fx_addr_parse(addr, &ss, &len, err)) {
        return err->code;
    }
    if (key->none && !fx_addr_is_loopback(&ss)) {
        return fx_err_set(err, -EPERM, "refusing to serve HTTP on %s "
                          "without a lab secret: give one (--secret-file), "
                          "or listen on loopback", addr);
    }
    w = calloc(1, sizeof *w);
    if (!w || !(w->http = evhttp_new(base))) {
        abort();
    }
    w->key = key;
    w->src = src;
    w->open = fx_addr_is_loopback(&ss);
    w->metrics = metrics_create(&(struct metrics_src) {
                                    .model = src->model,
                                    .dplane = src->dplane,
                                    .registry = src->registry,
                                    .events = src->events,
                                    .store = src->store });
    w->sse = sse_create(src->events);
    /* Anything else is answered 501 by evhttp itself. */
    evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(w->http, web_dispatch, w);
    listener = evconnlistener_new_bind(base, NULL, NULL,
                                       LEV_OPT_CLOSE_ON_FREE
                                       | LEV_OPT_CLOSE_ON_EXEC
                                       | LEV_OPT_REUSEABLE, -1,
                                       (struct sockaddr *) &ss, len);
    bound = listener ? evhttp_bind_listener(w->http, listener) : NULL;
    if (!bound) {
        int e = errno ? errno : EADDRINUSE;

        if (listener) {
            evconnlistener_free(listener);
        }
        web_destroy(w);
        return fx_err_set(err, -e, "cannot serve HTTP on '%s': %s", addr,
                          strerror(e));
    }
    len = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *) &ss,
                (socklen_t *) &len);
    fx_addr_format((struct sockaddr *) &ss, w->addr, sizeof w->addr);
    *wp = w;
    return 0;
}

void
web_destroy(struct web *w)
{
    if (w) {
        sse_destroy(w->sse);            /* Before the connections go. */
        evhttp_free(w->http);
        metrics_destroy(w->metrics);
        free(w);
    }
}

const char *
web_addr(const struct web *w)
{
    return w->addr;
}
