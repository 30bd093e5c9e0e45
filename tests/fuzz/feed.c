/* feed: see feed.h. */
#include "feed.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth.h"
#include "fx_err.h"

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

/* Makes 'fd' close with a reset. */
static void
feed_linger0(int fd)
{
    struct linger lg = { 1, 0 };

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

int
feed_connect(struct event_base *base, uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons(port) };
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
    feed_linger0(peer);
    return fd;
}

int
feed_listen(uint16_t *portp)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t n = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0
        || listen(fd, 1) < 0
        || getsockname(fd, (struct sockaddr *) &sa, &n) < 0) {
        perror("feed: listen on 127.0.0.1");
        abort();
    }
    *portp = ntohs(sa.sin_port);
    return fd;
}

int
feed_accept(struct event_base *base, int lfd)
{
    int fd = -1, peer;

    for (unsigned i = 0; fd < 0; i++) {
        if (i == FEED_MAX_STEPS) {
            fprintf(stderr, "feed: nobody connects\n");
            abort();
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    }
    peer = feed_find_peer(fd);
    if (peer < 0) {
        fprintf(stderr, "feed: the connecting socket is not ours\n");
        abort();
    }
    feed_linger0(peer);
    return fd;
}

/* Reads and drops what the peer sent.  Returns how many bytes, or -1
 * once it has closed (EOF or reset). */
static long
feed_drain(int fd)
{
    uint8_t buf[4096];
    long got = 0;
    ssize_t n;

    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        got += n;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK
                   && errno != EINTR)) {
        return -1;
    }
    return got;
}

/* One step of 'base', then what the peer answered; aborts after
 * FEED_MAX_STEPS steps of one input, with 'why'. */
static long
feed_step(struct event_base *base, int fd, unsigned *steps, const char *why)
{
    if (++*steps > FEED_MAX_STEPS) {
        fprintf(stderr, "feed: %s after %u steps\n", why, FEED_MAX_STEPS);
        abort();
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    return feed_drain(fd);
}

/* Steps 'base' until the reader has been quiet for FEED_QUIET steps (it
 * waits for the next piece) or has closed.  Returns 1 if it closed. */
static int
feed_settle(struct event_base *base, int fd, unsigned *steps)
{
    unsigned quiet = 0;

    while (quiet < FEED_QUIET) {
        long got = feed_step(base, fd, steps, "the reader never waits "
                             "for input");

        if (got < 0) {
            return 1;
        }
        quiet = got ? 0 : quiet + 1;
    }
    return 0;
}

void
feed_stream(struct event_base *base, int fd, const uint8_t *data,
            size_t size, size_t chunk, int (*done)(void *arg), void *arg)
{
    size_t off = 0;
    unsigned steps = 0;
    int closed = feed_settle(base, fd, &steps);

    while (off < size && !closed) {
        size_t want = size - off < chunk ? size - off : chunk;
        ssize_t n = send(fd, data + off, want, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
            && errno != EINTR) {
            break;          /* The peer closed on us: the rest is moot. */
        }
        off += n > 0 ? (size_t) n : 0;
        closed = feed_settle(base, fd, &steps);
    }
    shutdown(fd, SHUT_WR);
    while (done ? !done(arg) : !closed) {
        closed = feed_step(base, fd, &steps, "the reader is still open "
                           "after EOF") < 0 || closed;
    }
}

void
feed_close(int fd)
{
    feed_linger0(fd);
    close(fd);
}

/* Sends the 'len' bytes at 'p' whole or aborts: a handshake message is
 * far smaller than a socket buffer. */
static void
feed_send_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            perror("feed: handshake: send");
            abort();
        }
        p += n;
        len -= (size_t) n;
    }
}

void
feed_handshake(struct event_base *base, int fd, struct auth *a)
{
    /* Room for a whole message and then some: the reader's next message
     * may follow in the same read. */
    uint8_t in[2 * AUTH_MSG_MAX], out[AUTH_MSG_MAX];
    size_t have = 0, used, outlen;
    struct fx_err err;
    int rc;

    for (unsigned steps = 0;; steps++) {
        ssize_t n;

        rc = auth_step(a, in, have, &used, out, &outlen, &err);
        memmove(in, in + used, have - used);
        have -= used;
        feed_send_all(fd, out, outlen);
        if (rc < 0 || steps == FEED_MAX_STEPS) {
            fprintf(stderr, "feed: the harness's handshake fails: %s\n",
                    rc < 0 ? err.msg : "no end");
            abort();
        }
        if (rc == 1) {
            return;
        }
        if (used || outlen) {
            continue;           /* It may take the next message at once. */
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        n = recv(fd, in + have, sizeof in - have, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                       && errno != EINTR)) {
            fprintf(stderr, "feed: the reader closed during the "
                    "harness's handshake\n");
            abort();
        }
        have += n > 0 ? (size_t) n : 0;
    }
}

/* Any 16 bytes or more are a secret to auth_key_load(). */
#define FEED_SECRET "fexsim fuzzing lab secret, not a secret at all\n"

void
feed_key(struct auth_key *key)
{
    char path[] = "/tmp/fexsim-fuzz-secret-XXXXXX";
    int fd = mkstemp(path);
    struct fx_err err;

    /* auth_key_load() reads a file, and checks its mode as a daemon's
     * would: mkstemp() makes it 0600. */
    if (fd < 0 || write(fd, FEED_SECRET, strlen(FEED_SECRET))
                  != (ssize_t) strlen(FEED_SECRET)) {
        perror("feed: secret file");
        abort();
    }
    close(fd);
    if (auth_key_load(path, key, &err)) {
        fprintf(stderr, "feed: %s\n", err.msg);
        abort();
    }
    unlink(path);
}
