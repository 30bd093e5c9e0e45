/* feed: see feed.h. */
#include "feed.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

int
feed_connect(uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
        perror("feed: connect to 127.0.0.1");
        abort();
    }
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
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
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

        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
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
