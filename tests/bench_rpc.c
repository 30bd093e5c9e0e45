/* Benchmark: RPC that does not stall (issue 14, part 4).
 *
 * Calls: Profiles.List on the real fabricd of a 1-host lab with no
 * profile (the cheapest call it serves: its reply is the request's size,
 * give or take the kind), one connection, from a client that frames,
 * numbers and matches replies by id itself:
 *   - sequential: one call at a time;
 *   - 32 in flight: a new call leaves as each reply comes back;
 * and the same with fexsim's own client library (rpc_conn_call), 32 in
 * flight.  The baseline is a raw length-prefixed echo server in a child
 * process of this run, same machine, same framing, answering each frame
 * with itself: the same client, the same calls, nothing served.  Beside
 * calls/s, the CPU time each server spends on a call with 32 in flight
 * (/proc/PID/schedstat): calls/s on a 2-core machine shared with other
 * work swing by a third from run to run, that figure much less.
 *
 * With 32 in flight, the client and the server take turns (a read's
 * replies leave in one write, and the client answers each write with
 * one), so a call costs the client's time plus the server's.  fabricd's
 * share was ~870-890 ns (bufferevent reads with FIONREAD and readv(),
 * protobuf-c allocating each field, packing each envelope through its
 * descriptor, a writev() of evbuffer chains); it is ~520-560 ns: one
 * recv() a read, the frame unpacked into the connection's arena, the
 * envelope read and packed by hand around the message packed in place,
 * the replies of one read sent with one send().  The echo's ~320 ns is
 * its recv() and send(); what fabricd spends beyond is epoll_wait() and
 * the call itself.  Measured on a 2-core VM with QEMU guests running
 * beside (load 2.4-3.7), best of 3 in each of four runs: sequential
 * 0.80-1.07 of the echo; 32 in flight 876k-987k calls/s, 0.68, 0.75 and
 * 0.77 of the echo (and 1.11 once, the echo's own figure down to 862k);
 * with the RPC library as the client 0.65-0.71 (1.08 that once); server
 * CPU a call 518-559 ns against the echo's 321-332.  Before, in the same hour: 32 in flight 0.43-0.55, the
 * library 0.40-0.49, fabricd's CPU a call 869-890 ns.
 *
 * Events: how many events per second fabric/events delivers to 1 and to
 * 16 subscribers, measured in this process: the events module with its
 * log on disk (as fabricd's --state keeps it), its Events.Subscribe
 * served by the RPC library over socketpairs, the subscribers in a child
 * process reading their sockets and decoding each envelope.  fabricd's
 * own operations cost far more than an event (a VM start goes through
 * an agent and libvirt), so a lab would measure those.  The baseline:
 * the same child reading the same event frames, packed once, written
 * straight to plain socketpairs.  The same events with the log in memory
 * tell how much of an event's cost is keeping it on disk. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth.h"
#include "events/events.h"
#include "evsvc.h"
#include "frame.h"
#include "fx_err.h"
#include "fx_time.h"
#include "harness.h"
#include "rpc.h"
#include "rpc.pb-c.h"
#include "vmfex.pb-c.h"

#define N_SEQ 20000
#define N_PIPE 100000
#define WINDOW 32
#define N_EVENTS 50000
#define EV_BATCH 64
#define ROUNDS 3
#define METHOD "Profiles.List"

static void
die(const char *what, const char *why)
{
    fprintf(stderr, "bench_rpc: %s%s%s\n", what, why ? ": " : "",
            why ? why : "");
    exit(1);
}

static void
nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- Reading frames from a blocking socket ---- */

struct rd {
    int fd;
    size_t off, len;
    uint8_t buf[1 << 18];
};

/* The next whole frame's envelope bytes (valid until the next call) and
 * their length in '*lenp'; dies if the peer closes. */
static const uint8_t *
rd_frame(struct rd *r, uint32_t *lenp)
{
    struct frame_hdr h;

    for (;;) {
        size_t have = r->len - r->off;
        ssize_t n;

        if (have >= FRAME_HDR_SIZE) {
            if (frame_decode(r->buf + r->off, FRAME_MAX_SIZE, &h, NULL)) {
                die("a bad frame", NULL);
            }
            if (have >= FRAME_HDR_SIZE + h.length) {
                const uint8_t *p = r->buf + r->off + FRAME_HDR_SIZE;

                r->off += FRAME_HDR_SIZE + h.length;
                *lenp = h.length;
                return p;
            }
        }
        if (r->off) {
            memmove(r->buf, r->buf + r->off, have);
            r->len = have;
            r->off = 0;
        }
        n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
        if (n <= 0) {
            die("the server closed", n ? strerror(errno) : NULL);
        }
        r->len += (size_t) n;
    }
}

/* Whether a whole frame is already in the buffer. */
static int
rd_ready(const struct rd *r)
{
    struct frame_hdr h;
    size_t have = r->len - r->off;

    return have >= FRAME_HDR_SIZE
           && !frame_decode(r->buf + r->off, FRAME_MAX_SIZE, &h, NULL)
           && have >= FRAME_HDR_SIZE + h.length;
}

/* ---- The echo server ---- */

/* Answers every whole frame with itself, as many as each read brought in
 * one write, until the client closes; then takes the next client. */
static void
echo_serve(int lis)
{
    static uint8_t buf[1 << 18];

    for (;;) {
        int fd = accept(lis, NULL, NULL);
        size_t len = 0;
        ssize_t n;

        if (fd < 0) {
            _exit(0);
        }
        nodelay(fd);
        while ((n = recv(fd, buf + len, sizeof buf - len, 0)) > 0) {
            size_t whole = 0;
            struct frame_hdr h;

            len += (size_t) n;
            while (len - whole >= FRAME_HDR_SIZE
                   && !frame_decode(buf + whole, FRAME_MAX_SIZE, &h, NULL)
                   && len - whole >= FRAME_HDR_SIZE + h.length) {
                whole += FRAME_HDR_SIZE + h.length;
            }
            if (whole && send(fd, buf, whole, MSG_NOSIGNAL)
                         != (ssize_t) whole) {
                break;
            }
            memmove(buf, buf + whole, len - whole);
            len -= whole;
        }
        close(fd);
    }
}

/* Starts the echo server in a child; its address goes into 'addr'. */
static pid_t
echo_start(char *addr, size_t size)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof sa;
    int lis = socket(AF_INET, SOCK_STREAM, 0);
    pid_t pid;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lis, (struct sockaddr *) &sa, sizeof sa) || listen(lis, 8)
        || getsockname(lis, (struct sockaddr *) &sa, &sl)) {
        die("echo: listen", strerror(errno));
    }
    snprintf(addr, size, "127.0.0.1:%u", ntohs(sa.sin_port));
    pid = fork();
    if (pid == 0) {
        echo_serve(lis);
    }
    close(lis);
    return pid;
}

static int
plain_connect(const char *addr)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t) atoi(strchr(addr, ':') + 1));
    if (connect(fd, (struct sockaddr *) &sa, sizeof sa)) {
        die("connect", strerror(errno));
    }
    return fd;
}

/* ---- Calls from a client of our own ---- */

/* Appends request 'id' (framed) to 'out' at '*lenp'. */
static void
put_request(uint8_t *out, size_t *lenp, uint64_t id)
{
    Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT;
    size_t n;

    env.id = id;
    env.method = (char *) METHOD;
    n = fexsim__v1__envelope__pack(&env, out + *lenp + FRAME_HDR_SIZE);
    frame_encode(out + *lenp, FRAME_VERSION, (uint32_t) n);
    *lenp += FRAME_HDR_SIZE + n;
}

static void
send_all(int fd, const uint8_t *buf, size_t len)
{
    if (len && send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t) len) {
        die("send", strerror(errno));
    }
}

/* 'n' calls on 'fd', 'window' of them in flight: each reply is matched
 * by its id to a call in flight, and a new call leaves for each one (the
 * calls a read's replies free go out in one write).  Returns calls/s. */
static double
run_calls(struct rd *r, unsigned n, unsigned window)
{
    uint8_t *done = calloc(n + 1, 1), out[WINDOW * 64];
    uint64_t next = 1, t0 = fx_time_now_us();
    size_t olen = 0;

    for (; next <= window && next <= n; next++) {
        put_request(out, &olen, next);
    }
    for (unsigned got = 0; got < n; ) {
        Fexsim__V1__Envelope *env;
        const uint8_t *p;
        uint32_t len;

        send_all(r->fd, out, olen);
        olen = 0;
        do {
            p = rd_frame(r, &len);
            env = fexsim__v1__envelope__unpack(NULL, len, p);
            if (!env || env->status || !env->id || env->id >= next
                || done[env->id]) {
                die("a reply that answers no call in flight",
                    env ? env->message : NULL);
            }
            done[env->id] = 1;
            got++;
            fexsim__v1__envelope__free_unpacked(env, NULL);
            if (next <= n) {
                put_request(out, &olen, next++);
            }
        } while (rd_ready(r) && olen < sizeof out - 64);
    }
    free(done);
    return n * 1e6 / (double) (fx_time_now_us() - t0);
}

/* CPU time process 'pid' has run, in ns (/proc/PID/schedstat); 0 if
 * unknown. */
static uint64_t
cpu_ns(pid_t pid)
{
    unsigned long long v = 0;
    char path[64];
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/schedstat", (int) pid);
    f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%llu", &v) != 1) {
            v = 0;
        }
        fclose(f);
    }
    return v;
}

/* run_calls(), with the server's CPU time per call ('pid' serves) in
 * '*nsp': the part of the cost that the machine's load does not blur. */
static double
run_calls_cpu(struct rd *r, unsigned n, unsigned window, pid_t pid,
              double *nsp)
{
    uint64_t t0 = cpu_ns(pid);
    double rate = run_calls(r, n, window);

    *nsp = (double) (cpu_ns(pid) - t0) / n;
    return rate;
}

/* ---- Calls through the RPC library ---- */

struct lib_run {
    struct rpc_conn *conn;
    unsigned n, sent, got;
    int failed;
};

static void lib_reply(void *arg, int status, const char *message,
                      const char *reason, const ProtobufCMessage *rep);

static void
lib_send(struct lib_run *lr)
{
    Fexsim__V1__ListProfilesRequest req =
        FEXSIM__V1__LIST_PROFILES_REQUEST__INIT;

    if (rpc_conn_call(lr->conn, METHOD, &req.base,
                      &fexsim__v1__list_profiles_reply__descriptor, 0,
                      lib_reply, lr, NULL)) {
        die("rpc_conn_call", NULL);
    }
    lr->sent++;
}

static void
lib_reply(void *arg, int status, const char *message,
          const char *reason, const ProtobufCMessage *rep)
{
    struct lib_run *lr = arg;

    (void) rep;
    (void) reason;
    if (status) {
        die("rpc library call", message);
    }
    lr->got++;
    if (lr->sent < lr->n) {
        lib_send(lr);
    }
}

/* 'n' calls with rpc_conn_call(), 'window' in flight.  Returns calls/s. */
static double
run_lib(struct event_base *base, struct rpc_conn *conn, unsigned n,
        unsigned window)
{
    struct lib_run lr = { .conn = conn, .n = n };
    uint64_t t0 = fx_time_now_us();

    while (lr.sent < window && lr.sent < n) {
        lib_send(&lr);
    }
    while (lr.got < n) {
        event_base_loop(base, EVLOOP_ONCE);
    }
    return n * 1e6 / (double) (fx_time_now_us() - t0);
}

static void
lib_conn_event(struct rpc_conn *conn, enum rpc_conn_event ev,
               const char *reason, void *arg)
{
    (void) conn;
    (void) arg;
    if (ev != RPC_CONN_CONNECTED) {
        die("rpc library connection lost", reason);
    }
}

/* ---- Events ---- */

/* The subscribers' side, in the child: subscribes on each of 'fds', then
 * reads until every one has 'want' events, and writes one byte on
 * 'done'. */
static void
sub_serve(const int *fds, int n, unsigned want, int subscribe, int done)
{
    struct rd *rs = calloc((size_t) n, sizeof *rs);
    unsigned *got = calloc((size_t) n, sizeof *got), complete = 0;
    struct pollfd pfd[16];

    for (int i = 0; i < n; i++) {
        uint8_t req[64];
        size_t len = 0;
        uint32_t flen;

        rs[i].fd = fds[i];
        pfd[i] = (struct pollfd) { .fd = fds[i], .events = POLLIN };
        if (subscribe) {
            Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT;
            Fexsim__V1__SubscribeRequest sr =
                FEXSIM__V1__SUBSCRIBE_REQUEST__INIT;
            uint8_t pl[16];

            sr.only_new = true;
            env.id = 7;
            env.method = (char *) "Events.Subscribe";
            env.payload.len = fexsim__v1__subscribe_request__pack(&sr, pl);
            env.payload.data = pl;
            len = fexsim__v1__envelope__pack(&env, req + FRAME_HDR_SIZE);
            frame_encode(req, FRAME_VERSION, (uint32_t) len);
            send_all(fds[i], req, FRAME_HDR_SIZE + len);
            rd_frame(&rs[i], &flen);            /* The reply. */
        }
    }
    if (write(done, "r", 1) != 1) {             /* Subscribed. */
        _exit(1);
    }
    while (complete < (unsigned) n) {
        poll(pfd, (nfds_t) n, -1);
        for (int i = 0; i < n; i++) {
            if (!(pfd[i].revents & POLLIN) || got[i] == want) {
                continue;
            }
            /* Whatever this read brought, then back to poll. */
            do {
                Fexsim__V1__Envelope *env;
                uint32_t len;
                const uint8_t *p = rd_frame(&rs[i], &len);

                env = fexsim__v1__envelope__unpack(NULL, len, p);
                if (!env || env->kind != FEXSIM__V1__KIND__KIND_EVENT) {
                    _exit(1);
                }
                fexsim__v1__envelope__free_unpacked(env, NULL);
                complete += ++got[i] == want;
            } while (rd_ready(&rs[i]) && got[i] < want);
        }
    }
    if (write(done, "d", 1) != 1) {
        _exit(1);
    }
    _exit(0);
}

/* Forks the subscribers' child on the client ends 'fds'. */
static pid_t
sub_start(const int *fds, int n, unsigned want, int subscribe, int *donep)
{
    int p[2];
    pid_t pid;

    if (pipe(p)) {
        die("pipe", strerror(errno));
    }
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        sub_serve(fds, n, want, subscribe, p[1]);
    }
    close(p[1]);
    *donep = p[0];
    return pid;
}

/* One event as fabricd emits them when a VM starts. */
static void
event_fill(Fexsim__V1__Event *e, unsigned i)
{
    static char vm[16];

    snprintf(vm, sizeof vm, "vm-%04u", i % 10000);
    e->type = FEXSIM__V1__EVENT_TYPE__EVENT_VM_STARTED;
    e->host = (char *) "h1";
    e->vm = vm;
    e->state = (char *) "running";
    e->detail = (char *) "started on h1";
}

static int
wait_byte(int fd, char want)
{
    char c = 0;

    return read(fd, &c, 1) == 1 && c == want ? 0 : -1;
}

static void
reap(pid_t pid)
{
    int st;

    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        die("a subscriber child failed", NULL);
    }
}

/* Whether any of the 'n' connections has bytes not yet written. */
static int
queued_any(struct rpc_conn *const *conns, int n)
{
    for (int i = 0; i < n; i++) {
        if (rpc_conn_queued(conns[i])) {
            return 1;
        }
    }
    return 0;
}

struct ev_bench {
    struct event_base *base;
    struct events *events;
    struct rpc_registry *reg;
};

static void
ev_conn_event(struct rpc_conn *conn, enum rpc_conn_event ev,
              const char *reason, void *arg)
{
    struct ev_bench *eb = arg;

    (void) reason;
    if (ev != RPC_CONN_CONNECTED) {
        events_drop_conn(eb->events, conn);
    }
}

/* Emits N_EVENTS through 'eb' to 'n' subscribers on RPC connections over
 * socketpairs.  Returns events/s, each delivered to every subscriber. */
static double
run_events(struct ev_bench *eb, int n)
{
    const struct auth_ident me = { AUTH_ROLE_OPERATOR, "" };
    struct rpc_conn *conns[16];
    int cfd[16] = { 0 }, done;
    uint64_t t0;
    char why[200];
    pid_t pid;

    for (int i = 0; i < n; i++) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
            die("socketpair", strerror(errno));
        }
        conns[i] = rpc_conn_create(eb->base, sv[0], false, NULL, eb->reg,
                                   ev_conn_event, eb);
        if (th_handshake_on_loop(eb->base, sv[1], NULL, &me, why) != 1) {
            die("handshake", why);
        }
        cfd[i] = sv[1];
    }
    pid = sub_start(cfd, n, N_EVENTS, 1, &done);
    for (int i = 0; i < n; i++) {
        close(cfd[i]);
    }
    while (events_subscribers(eb->events) < (size_t) n
           || queued_any(conns, n)) {
        event_base_loop(eb->base, EVLOOP_ONCE);
    }
    if (wait_byte(done, 'r')) {
        die("the subscribers did not subscribe", NULL);
    }
    t0 = fx_time_now_us();
    for (unsigned i = 0; i < N_EVENTS; i++) {
        Fexsim__V1__Event e = FEXSIM__V1__EVENT__INIT;

        event_fill(&e, i);
        events_emit(eb->events, &e);
        if (i % EV_BATCH == EV_BATCH - 1) {
            /* Written out as the loop finds the sockets writable; an
             * emitter far ahead would have its readers cut off. */
            do {
                event_base_loop(eb->base, EVLOOP_NONBLOCK);
            } while (rpc_conn_queued(conns[0]) > (1u << 20));
        }
    }
    while (queued_any(conns, n)) {
        event_base_loop(eb->base, EVLOOP_ONCE);
    }
    if (wait_byte(done, 'd')) {
        die("the subscribers did not get every event", NULL);
    }
    t0 = fx_time_now_us() - t0;
    if (events_subscribers(eb->events) != (size_t) n) {
        die("a subscriber was cut off", NULL);
    }
    for (int i = 0; i < n; i++) {
        rpc_conn_destroy(conns[i]);
    }
    events_drop_all(eb->events);
    close(done);
    reap(pid);
    return N_EVENTS * 1e6 / (double) t0;
}

/* The baseline: the same event frames, packed once, written straight to
 * 'n' plain socketpairs, EV_BATCH frames a write. */
static double
run_raw_events(int n)
{
    Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT;
    Fexsim__V1__Event e = FEXSIM__V1__EVENT__INIT;
    static uint8_t batch[EV_BATCH * 256];
    uint8_t pl[200];
    size_t flen, len;
    int sfd[16], cfd[16], done;
    uint64_t t0;
    pid_t pid;

    event_fill(&e, 1);
    e.seq = 123456;
    e.time_ms = 1700000000000ull;
    env.id = 7;
    env.kind = FEXSIM__V1__KIND__KIND_EVENT;
    env.method = (char *) "Events.Event";
    env.payload.len = fexsim__v1__event__pack(&e, pl);
    env.payload.data = pl;
    len = fexsim__v1__envelope__pack(&env, batch + FRAME_HDR_SIZE);
    frame_encode(batch, FRAME_VERSION, (uint32_t) len);
    flen = FRAME_HDR_SIZE + len;
    for (int i = 1; i < EV_BATCH; i++) {
        memcpy(batch + (size_t) i * flen, batch, flen);
    }
    for (int i = 0; i < n; i++) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
            die("socketpair", strerror(errno));
        }
        sfd[i] = sv[0];
        cfd[i] = sv[1];
    }
    pid = sub_start(cfd, n, N_EVENTS, 0, &done);
    for (int i = 0; i < n; i++) {
        close(cfd[i]);
    }
    if (wait_byte(done, 'r')) {
        die("the raw readers did not start", NULL);
    }
    t0 = fx_time_now_us();
    for (unsigned i = 0; i < N_EVENTS; i += EV_BATCH) {
        for (int k = 0; k < n; k++) {
            send_all(sfd[k], batch, flen * EV_BATCH);
        }
    }
    if (wait_byte(done, 'd')) {
        die("the raw readers did not get every frame", NULL);
    }
    t0 = fx_time_now_us() - t0;
    for (int i = 0; i < n; i++) {
        close(sfd[i]);
    }
    close(done);
    reap(pid);
    return N_EVENTS * 1e6 / (double) t0;
}

/* ---- Main ---- */

static double
best(const double *v)
{
    double b = v[0];

    for (int i = 1; i < ROUNDS; i++) {
        b = v[i] > b ? v[i] : b;
    }
    return b;
}

static double
least(const double *v)
{
    double b = v[0];

    for (int i = 1; i < ROUNDS; i++) {
        b = v[i] < b ? v[i] : b;
    }
    return b;
}

static void
row(const char *what, double v, double base)
{
    printf("  %-40s %10.0f %10.0f %6.2f\n", what, v, base, v / base);
}

struct call_figures {
    double seq[ROUNDS], pipe[ROUNDS], lib[ROUNDS];
    double echo_seq[ROUNDS], echo_pipe[ROUNDS];
    double cpu[ROUNDS], echo_cpu[ROUNDS];   /* Server ns a call, 32 in
                                             * flight. */
};

/* The pid fabricd of lab 'dir' wrote. */
static pid_t
fabricd_pid(const char *dir)
{
    char path[512];
    FILE *f;
    int pid = 0;

    snprintf(path, sizeof path, "%s/fabricd.pid", dir);
    f = fopen(path, "r");
    if (!f || fscanf(f, "%d", &pid) != 1) {
        die("cannot read fabricd's pid", path);
    }
    fclose(f);
    return (pid_t) pid;
}

static void
bench_calls(const char *dir, struct call_figures *f)
{
    const struct auth_ident me = { AUTH_ROLE_OPERATOR, "" };
    static struct rd fab, echo;
    struct event_base *base = event_base_new();
    char addr[64], eaddr[64], why[200];
    struct auth_key key;
    struct rpc_opts opts;
    struct rpc_conn *conn;
    struct fx_err err;
    pid_t echo_pid, fab_pid = fabricd_pid(dir);

    th_fabric_addr(dir, addr, sizeof addr);
    th_lab_opts(dir, AUTH_ROLE_OPERATOR, &key, &opts);
    echo_pid = echo_start(eaddr, sizeof eaddr);
    fab.fd = th_proven_socket(addr, &key, &me, why);
    if (fab.fd < 0) {
        die("handshake", why);
    }
    nodelay(fab.fd);
    echo.fd = plain_connect(eaddr);
    nodelay(echo.fd);
    conn = rpc_conn_connect(base, addr, &opts, NULL, lib_conn_event, NULL,
                            &err);
    if (!conn) {
        die("rpc_conn_connect", err.msg);
    }
    /* Alternating, so that each sees the same machine load. */
    for (int r = 0; r < ROUNDS; r++) {
        f->echo_seq[r] = run_calls(&echo, N_SEQ, 1);
        f->seq[r] = run_calls(&fab, N_SEQ, 1);
        f->echo_pipe[r] = run_calls_cpu(&echo, N_PIPE, WINDOW, echo_pid,
                                        &f->echo_cpu[r]);
        f->pipe[r] = run_calls_cpu(&fab, N_PIPE, WINDOW, fab_pid,
                                   &f->cpu[r]);
        f->lib[r] = run_lib(base, conn, N_PIPE, WINDOW);
    }
    rpc_conn_destroy(conn);
    event_base_free(base);
    close(fab.fd);
    close(echo.fd);
    kill(echo_pid, SIGTERM);
    waitpid(echo_pid, NULL, 0);
}

static void
ev_bench_open(struct ev_bench *eb, const char *dir)
{
    struct fx_err err;

    eb->base = event_base_new();
    eb->reg = rpc_registry_create();
    if (events_open(dir, 0, &eb->events, &err)
        || evsvc_register(eb->events, eb->reg, &err)) {
        die("events", err.msg);
    }
}

static void
ev_bench_close(struct ev_bench *eb)
{
    events_close(eb->events);
    rpc_registry_destroy(eb->reg);
    event_base_free(eb->base);
}

/* Events with their log on disk ('ev') and in memory ('mem', which
 * tells what delivery costs without the log), beside raw frames. */
static void
bench_events(const char *dir, double ev[2][ROUNDS], double mem[2][ROUNDS],
             double raw[2][ROUNDS])
{
    static const int subs[2] = { 1, 16 };
    struct ev_bench eb, ebm;

    ev_bench_open(&eb, dir);
    ev_bench_open(&ebm, NULL);
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < 2; k++) {
            raw[k][r] = run_raw_events(subs[k]);
            ev[k][r] = run_events(&eb, subs[k]);
            mem[k][r] = run_events(&ebm, subs[k]);
        }
    }
    ev_bench_close(&ebm);
    ev_bench_close(&eb);
}

int
main(void)
{
    char *dir = th_mkdtemp("bench-rpc"), *evdir = th_mkdtemp("bench-ev");
    double ev[2][ROUNDS], mem[2][ROUNDS], raw[2][ROUNDS];
    struct call_figures f;

    signal(SIGPIPE, SIG_IGN);
    if (th_lab_up(dir, 1, NULL)) {
        die("lab up failed", NULL);
    }
    bench_calls(dir, &f);
    th_lab_down(dir);
    th_rmrf(dir);
    bench_events(evdir, ev, mem, raw);
    th_rmrf(evdir);
    free(dir);
    free(evdir);

    printf("bench_rpc: %s on fabricd (1-host lab, no profile), one "
           "connection, loopback; best of %d\n", METHOD, ROUNDS);
    printf("  %-40s %10s %10s %6s\n", "calls/s", "fabricd", "echo",
           "ratio");
    row("sequential", best(f.seq), best(f.echo_seq));
    row("32 in flight", best(f.pipe), best(f.echo_pipe));
    row("32 in flight, rpc library client", best(f.lib), best(f.echo_pipe));
    printf("  (echo: a raw length-prefixed echo server, same framing, same "
           "client; target ratio >= 0.70)\n");
    if (least(f.cpu) > 0 && least(f.echo_cpu) > 0) {
        printf("  %-40s %10.0f %10.0f %6.2f\n",
               "server CPU ns a call, 32 in flight", least(f.cpu),
               least(f.echo_cpu), least(f.echo_cpu) / least(f.cpu));
        printf("  (least of %d; the ratio is echo/fabricd, as for "
               "calls/s)\n", ROUNDS);
    }
    printf("bench_rpc: events delivered, fabric/events + RPC over "
           "socketpairs, log on disk, in process; best of %d\n", ROUNDS);
    printf("  %-40s %10s %10s %6s\n", "events/s (each to every subscriber)",
           "events", "raw", "ratio");
    row("1 subscriber", best(ev[0]), best(raw[0]));
    row("16 subscribers", best(ev[1]), best(raw[1]));
    printf("  %-40s %10.0f %10.0f\n", "16 subscribers: deliveries/s",
           16 * best(ev[1]), 16 * best(raw[1]));
    row("1 subscriber, log in memory", best(mem[0]), best(raw[0]));
    row("16 subscribers, log in memory", best(mem[1]), best(raw[1]));
    printf("  (raw: the same event frames, packed once, written straight "
           "to the sockets)\n");
    return 0;
}
