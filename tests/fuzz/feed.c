/* feed: see feed.h. */
#include "feed.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

void
feed_init(void)
{
    signal(SIGPIPE, SIG_IGN);
}

static int
feed_same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_port == b->sin_port
           && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* Finds the accepted end of client socket 'fd' among our own fds: the
 * one whose local address is the client's peer and whose peer is the
 * client.  It was opened after 'fd', in the lowest free slot.  Returns
 * it, or -1 if the listener has not accepted yet. */
static int
feed_find_peer(int fd)
{
    struct sockaddr_in me, peer, a, b;
    socklen_t n = sizeof me;

    if (getsockname(fd, (struct sockaddr *) &me, &n) < 0
        || (n = sizeof peer, getpeername(fd, (struct sockaddr *) &peer, &n))
           < 0) {
        return -1;
    }
    for (int i = 3; i < fd + 64; i++) {
        socklen_t la = sizeof a, lb = sizeof b;

        if (i != fd && !getsockname(i, (struct sockaddr *) &a, &la)
            && !getpeername(i, (struct sockaddr *) &b, &lb)
            && la == sizeof a && lb == sizeof b && a.sin_family == AF_INET
            && feed_same_addr(&a, &peer) && feed_same_addr(&b, &me)) {
            return i;
        }
    }
    return -1;
}

int
feed_connect(struct event_base *base, uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons(port) };
    struct linger lg = { 1, 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0), peer = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* libFuzzer's timeout alarm may interrupt the connect; the handshake
     * goes on meanwhile, and a retry says when it is done. */
    while (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
        if (fd >= 0 && errno == EISCONN) {
            break;
        }
        if (fd < 0 || (errno != EINTR && errno != EALREADY)) {
            perror("feed: connect to 127.0.0.1");
            abort();
        }
    }
    for (unsigned i = 0; peer < 0; i++) {
        if (i == FEED_MAX_STEPS) {
            fprintf(stderr, "feed: the listener does not accept\n");
            abort();
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        peer = feed_find_peer(fd);
    }
    setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    return fd;
}

/* Reads and drops what the peer sent.  Returns 1 once it has closed
 * (EOF or reset), 0 otherwise. */
static int
feed_drain(int fd)
{
    uint8_t buf[4096];
    ssize_t n;

    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        continue;
    }
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                      && errno != EINTR);
}

void
feed_stream(struct event_base *base, int fd, const uint8_t *data,
            size_t size, int (*done)(void *arg), void *arg)
{
    size_t off = 0;
    unsigned steps = 0;
    int closed = 0;

    while (off < size && !closed) {
        size_t want = size - off < FEED_CHUNK ? size - off : FEED_CHUNK;
        ssize_t n = send(fd, data + off, want, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
            && errno != EINTR) {
            break;          /* The peer closed on us: the rest is moot. */
        }
        off += n > 0 ? (size_t) n : 0;
        event_base_loop(base, EVLOOP_NONBLOCK);
        closed = feed_drain(fd);
        if (++steps > FEED_MAX_STEPS) {
            fprintf(stderr, "feed: the reader stopped reading\n");
            abort();
        }
    }
    shutdown(fd, SHUT_WR);
    while (!closed || (done && !done(arg))) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        closed = closed || feed_drain(fd);
        if (++steps > FEED_MAX_STEPS) {
            fprintf(stderr, "feed: the reader is still open %u steps "
                    "after EOF\n", FEED_MAX_STEPS);
            abort();
        }
    }
}

void
feed_close(int fd)
{
    struct linger lg = { 1, 0 };

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}
