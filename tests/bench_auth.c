/* Benchmark: what the lab secret's handshake costs a connection, against
 * the real fabricd of a 1-host lab, beside baselines measured in the same
 * run:
 *   - a bare TCP connect, accept and close on loopback (what any
 *     connection costs);
 *   - one Fabric.ListHosts on an open connection (the work a short-lived
 *     client comes for; calls after the handshake pay nothing more);
 *   - connect + handshake + that one call + close (a fexctl command's
 *     connection);
 * and the handshake's computation alone (both ends' auth_step in memory,
 * no socket), so that the part that is round trips shows. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "frame.h"
#include "fx_err.h"
#include "fx_time.h"
#include "harness.h"
#include "rpc.h"
#include "rpc.pb-c.h"

#define N_CONNS 400
#define N_CALLS 4000
#define N_MEM 4000
#define ROUNDS 3

static void
die(const char *what)
{
    fprintf(stderr, "bench_auth: %s\n", what);
    exit(1);
}

/* One Fabric.ListHosts on 'fd', answered OK. */
static void
list_hosts(int fd)
{
    Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT, *rep;
    uint8_t buf[65536];
    struct frame_hdr h;
    size_t n;

    env.id = 1;
    env.method = (char *) "Fabric.ListHosts";
    n = fexsim__v1__envelope__pack(&env, buf + FRAME_HDR_SIZE);
    frame_encode(buf, FRAME_VERSION, (uint32_t) n);
    if (send(fd, buf, FRAME_HDR_SIZE + n, MSG_NOSIGNAL)
        != (ssize_t) (FRAME_HDR_SIZE + n)
        || th_recv_all(fd, buf, FRAME_HDR_SIZE)
        || frame_decode(buf, sizeof buf, &h, NULL)
        || th_recv_all(fd, buf, h.length)) {
        die("ListHosts: connection lost");
    }
    rep = fexsim__v1__envelope__unpack(NULL, h.length, buf);
    if (!rep || rep->status) {
        die("ListHosts refused");
    }
    fexsim__v1__envelope__free_unpacked(rep, NULL);
}

static int
proven(const char *addr, const struct auth_key *key)
{
    const struct auth_ident me = { AUTH_ROLE_OPERATOR, "" };
    char why[200];
    int fd = th_proven_socket(addr, key, &me, why);

    if (fd < 0) {
        die(why);
    }
    return fd;
}

/* The baseline connection: to a listener of our own, accepted and
 * closed at once (a daemon's listener would count these against its
 * connection cap and slow the loop with its own bookkeeping). */
static uint64_t
bare_connects(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof sa;
    int lis = socket(AF_INET, SOCK_STREAM, 0);
    uint64_t t0;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lis, (struct sockaddr *) &sa, sizeof sa) || listen(lis, 64)
        || getsockname(lis, (struct sockaddr *) &sa, &sl)) {
        die("listen");
    }
    t0 = fx_time_now_us();
    for (int i = 0; i < N_CONNS; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), afd;

        if (connect(fd, (struct sockaddr *) &sa, sizeof sa)
            || (afd = accept(lis, NULL, NULL)) < 0) {
            die("connect");
        }
        close(fd);
        close(afd);
    }
    t0 = fx_time_now_us() - t0;
    close(lis);
    return t0;
}

static uint64_t
proven_connects(const char *addr, const struct auth_key *key)
{
    uint64_t t0 = fx_time_now_us();

    for (int i = 0; i < N_CONNS; i++) {
        int fd = proven(addr, key);

        list_hosts(fd);
        close(fd);
    }
    return fx_time_now_us() - t0;
}

static uint64_t
calls(const char *addr, const struct auth_key *key)
{
    int fd = proven(addr, key);
    uint64_t t0 = fx_time_now_us(), t;

    for (int i = 0; i < N_CALLS; i++) {
        list_hosts(fd);
    }
    t = fx_time_now_us() - t0;
    close(fd);
    return t;
}

/* Both ends of N_MEM handshakes in memory: the computation alone. */
static uint64_t
in_memory(const struct auth_key *key)
{
    const struct auth_ident c = { AUTH_ROLE_OPERATOR, "" };
    const struct auth_ident s = { AUTH_ROLE_FABRIC, "" };
    uint64_t t0 = fx_time_now_us();

    for (int i = 0; i < N_MEM; i++) {
        struct auth *ac = auth_client_new(key, &c);
        struct auth *as = auth_server_new(key, &s,
                                          AUTH_ROLE_MASK(AUTH_ROLE_OPERATOR));
        uint8_t a[AUTH_MSG_MAX], b[AUTH_MSG_MAX];
        size_t alen = 0, blen = 0, used;
        int rc_c = 0, rc_s = 0;
        struct fx_err err;

        while (rc_c == 0 || rc_s == 0) {
            if (rc_c == 0) {
                rc_c = auth_step(ac, b, blen, &used, a, &alen, &err);
                blen = 0;
            }
            if (rc_s == 0) {
                rc_s = auth_step(as, a, alen, &used, b, &blen, &err);
                alen = 0;
            }
            if (rc_c < 0 || rc_s < 0) {
                die(err.msg);
            }
        }
        auth_destroy(ac);
        auth_destroy(as);
    }
    return fx_time_now_us() - t0;
}

static uint64_t
best(const uint64_t *v)
{
    uint64_t b = v[0];

    for (int i = 1; i < ROUNDS; i++) {
        b = v[i] < b ? v[i] : b;
    }
    return b;
}

int
main(void)
{
    uint64_t bare[ROUNDS], conn[ROUNDS], call[ROUNDS], mem[ROUNDS];
    char *dir = th_mkdtemp("bench-auth"), addr[64], path[4096];
    struct auth_key key;
    struct fx_err err;
    double t_bare, t_conn, t_call, t_mem, hs;

    if (th_lab_up(dir, 1, NULL)) {
        die("lab up failed");
    }
    th_fabric_addr(dir, addr, sizeof addr);
    snprintf(path, sizeof path, "%s/secret", dir);
    if (auth_key_load(path, &key, &err)) {
        die(err.msg);
    }
    /* Alternating, so that each sees the same machine load. */
    for (int r = 0; r < ROUNDS; r++) {
        bare[r] = bare_connects();
        conn[r] = proven_connects(addr, &key);
        call[r] = calls(addr, &key);
        mem[r] = in_memory(&key);
    }
    th_lab_down(dir);
    th_rmrf(dir);
    free(dir);

    t_bare = (double) best(bare) / N_CONNS;
    t_conn = (double) best(conn) / N_CONNS;
    t_call = (double) best(call) / N_CALLS;
    t_mem = (double) best(mem) / N_MEM;
    hs = t_conn - t_call - t_bare;
    printf("bench_auth: the lab secret's handshake, fabricd on loopback; "
           "best of %d\n", ROUNDS);
    printf("  connect + handshake + ListHosts + close: %8.1f us\n", t_conn);
    printf("  baseline: bare TCP connect+accept+close: %7.1f us\n", t_bare);
    printf("  baseline: ListHosts on an open conn:     %8.1f us\n", t_call);
    printf("  handshake's share (first - the two):     %8.1f us, "
           "ratio to one call %.2f\n", hs, hs / t_call);
    printf("    of which computation, both ends:       %8.1f us "
           "(HMACs, nonces; the rest is 2 round trips)\n", t_mem);
    printf("  ratio connection with handshake / one call: %.2f\n",
           t_conn / t_call);
    return 0;
}
