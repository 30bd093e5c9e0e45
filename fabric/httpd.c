/* httpd: see httpd.h. */
#include "httpd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "auth.h"
#include "fx_addr.h"
#include "fx_err.h"
#include "metrics.h"


struct httpd {
    struct evhttp *http;                /* Owned. */
    const struct auth_key *key;         /* Borrowed. */
    const struct metrics *metrics;      /* Borrowed. */
    int open;                           /* On loopback: no token asked. */
    char addr[64];
};

/* Whether 'req' may be served: on loopback always; elsewhere with the lab
 * secret as its bearer token. */
static int
httpd_allowed(const struct httpd *h, struct evhttp_request *req)
{
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(
                                              req), "Authorization");

    if (h->open) {
        return 1;
    }
    return auth && !strncmp(auth, "Bearer ", 7)
           && auth_key_matches(h->key, auth + 7);
}

static void
httpd_metrics_cb(struct evhttp_request *req, void *arg)
{
    struct httpd *h = arg;
    struct evbuffer *out;

    if (!httpd_allowed(h, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "WWW-Authenticate", "Bearer");
        evhttp_send_error(req, 401, "the lab secret as a bearer token");
        return;
    }
    out = evbuffer_new();
    if (!out) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    metrics_render(h->metrics, out);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void
httpd_other_cb(struct evhttp_request *req, void *arg)
{
    (void) arg;
    evhttp_send_error(req, 404, "fabricd serves /metrics");
}

/* A listening, non-blocking socket on 'ss', or -errno. */
static evutil_socket_t
httpd_listen(const struct sockaddr_storage *ss, int len)
{
    evutil_socket_t fd = socket(ss->ss_family,
                                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;

    if (fd < 0) {
        return -errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *) ss, (socklen_t) len)
        || listen(fd, 128)) {
        int e = errno;

        close(fd);
        return -e;
    }
    return fd;
}

int
httpd_create(struct event_base *base, const char *addr,
             const struct auth_key *key, const struct metrics *metrics,
             struct httpd **hp, struct fx_err *err)
{
    struct sockaddr_storage ss;
    struct evhttp_bound_socket *bound;
    struct httpd *h;
    evutil_socket_t fd;
    int len;

    *hp = NULL;
    if (fx_addr_parse(addr, &ss, &len, err)) {
        return err->code;
    }
    if (key->none && !fx_addr_is_loopback(&ss)) {
        return fx_err_set(err, -EPERM, "refusing to serve HTTP on %s "
                          "without a lab secret: give one (--secret-file), "
                          "or listen on loopback", addr);
    }
    h = calloc(1, sizeof *h);
    if (!h || !(h->http = evhttp_new(base))) {
        abort();
    }
    h->key = key;
    h->metrics = metrics;
    h->open = fx_addr_is_loopback(&ss);
    /* Anything else is answered 501 by evhttp itself. */
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_cb(h->http, "/metrics", httpd_metrics_cb, h);
    evhttp_set_gencb(h->http, httpd_other_cb, h);
    fd = httpd_listen(&ss, len);
    bound = fd < 0 ? NULL : evhttp_accept_socket_with_handle(h->http, fd);
    if (!bound) {
        int e = fd < 0 ? -fd : EADDRINUSE;

        if (fd >= 0) {
            evutil_closesocket(fd);
        }
        httpd_destroy(h);
        return fx_err_set(err, -e, "cannot serve HTTP on '%s': %s", addr,
                          strerror(e));
    }
    len = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *) &ss,
                (socklen_t *) &len);
    fx_addr_format((struct sockaddr *) &ss, h->addr, sizeof h->addr);
    *hp = h;
    return 0;
}

void
httpd_destroy(struct httpd *h)
{
    if (h) {
        evhttp_free(h->http);
        free(h);
    }
}

const char *
httpd_addr(const struct httpd *h)
{
    return h->addr;
}
