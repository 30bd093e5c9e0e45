/* fuzz_dplane: what an agent may send on its uplink, as fabricd's data
 * plane (fabric/dplane/) acts on it: the lab secret's handshake (an
 * agent's, auth.c), HELLO presenting a one-time ticket that binds the
 * uplink to a host, batches switched by the engine (fsw: MAC learning,
 * VLANs, floods, holds) and delivered to the other hosts' uplinks,
 * MARKERs holding a VIF and echoed.  fuzz_dframe covers the format
 * itself; this covers what the fabric does with it.
 *
 * Each input is one uplink into a fresh data plane listening on loopback,
 * with FZ_PORTS VIFs on host 0 ("h0", the input's) and host 1 ("h1"),
 * whose well-behaved uplink is connected first so that frames have
 * somewhere to go.  One VIF of host 1 is held before the input and
 * released after it, so that held frames are kept and delivered too.
 * The input's first byte says how far the harness takes the uplink
 * before the fuzzer's bytes (enum fz_mode): nowhere (they are the
 * handshake, which no stranger can pass), through the handshake as the
 * agent of h0 (they start with the HELLO, whose ticket they cannot
 * guess), or through the HELLO with h0's ticket too (they are the
 * batches and markers of a bound uplink).  The loop is stepped without
 * blocking until the data plane has closed the input's uplink, at EOF or
 * on garbage. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "auth.h"
#include "dframe.h"
#include "dplane/dplane.h"
#include "feed.h"
#include "fx_err.h"
#include "log.h"

#define FZ_PORTS 6u
#define FZ_HELD_VIF 6u

/* The input's first byte. */
enum fz_mode {
    FZ_RAW = 0,            /* The bytes are the handshake on. */
    FZ_PROVEN = 1,         /* The harness proved h0's agent: HELLO on. */
    FZ_BOUND = 2,          /* 2 and up: h0's HELLO sent too. */
};

/* VIF i + 1: its host and VLANs (the first native). */
static const struct {
    uint32_t host;
    uint16_t vlans[2];
    size_t n_vlans;
} fz_ports[FZ_PORTS] = {
    { 0, { 10 }, 1 }, { 0, { 10, 20 }, 2 }, { 0, { 20 }, 1 },
    { 1, { 10 }, 1 }, { 1, { 20, 10 }, 2 }, { 1, { 10 }, 1 },
};

/* Host "hN" is host N, as fabricd's model maps names. */
static int64_t
fz_host_index(void *arg, const char *name)
{
    (void) arg;
    return !strcmp(name, "h0") ? 0 : !strcmp(name, "h1") ? 1 : -1;
}

static struct dplane *
fz_dplane(struct event_base *base)
{
    const struct dplane_cfg cfg = {
        .listen = "127.0.0.1:0", .max_ports = 16, .max_hosts = 2,
        .max_macs = 64, .hold_frames = 16, .hold_bytes = 16384,
        .host_index = fz_host_index,
    };
    struct dplane *dp;

    if (dplane_create(base, &cfg, &dp, NULL)) {
        abort();
    }
    for (uint32_t i = 0; i < FZ_PORTS; i++) {
        if (dplane_port_add(dp, i + 1, fz_ports[i].host, fz_ports[i].vlans,
                            fz_ports[i].n_vlans, NULL)
            || dplane_port_set_up(dp, i + 1, true, NULL)) {
            abort();
        }
    }
    return dp;
}

/* Takes uplink 'fd' as far as 'mode' says: the handshake as the agent of
 * host 'host' and a ticket issued for the host, as fabricd hands one to
 * its agent; then the HELLO presenting it, once the data plane has bound
 * the uplink. */
static void
fz_uplink(struct event_base *base, struct dplane *dp, int fd, uint32_t host,
          uint8_t mode)
{
    struct auth_ident me = { AUTH_ROLE_AGENT, "h0" };
    uint8_t hello[DFRAME_HELLO_SIZE];
    struct dframe_ticket ticket;
    uint32_t before = dplane_uplink_count(dp);
    struct auth_key none;
    struct auth *a;

    if (mode == FZ_RAW) {
        return;
    }
    me.name[1] = (char) ('0' + host);
    auth_key_none(&none);
    a = auth_client_new(&none, &me);
    feed_handshake(base, fd, a);
    auth_destroy(a);
    if (dplane_ticket_issue(dp, host, &ticket, NULL)) {
        abort();
    }
    if (mode == FZ_PROVEN) {
        return;
    }
    if (send(fd, hello, dframe_hello_encode(hello, &ticket), MSG_NOSIGNAL)
        != (ssize_t) sizeof hello) {
        abort();
    }
    for (int i = 0; dplane_uplink_count(dp) == before; i++) {
        if (i == FEED_MAX_STEPS) {
            abort();            /* The real ticket must bind it. */
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    feed_init();
    log_set_level(LOG_LVL_ERR);     /* A refused uplink logs a warning. */
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event_base *base = event_base_new();
    struct dplane *dp = fz_dplane(base);
    int host1 = feed_connect(base, dplane_listen_port(dp)), fd;
    uint8_t mode = size ? data[0] : FZ_RAW;
    uint64_t held, dropped;

    fz_uplink(base, dp, host1, 1, FZ_BOUND);
    if (dplane_port_hold(dp, FZ_HELD_VIF, NULL)) {
        abort();
    }
    fd = feed_connect(base, dplane_listen_port(dp));
    fz_uplink(base, dp, fd, 0, mode);
    feed_stream(base, fd, data + !!size, size - !!size, FEED_CHUNK, NULL,
                NULL);
    /* Host 1 must be untouched by host 0; a ticket is used once, and
     * only h0's, which the input cannot guess, may still be pending. */
    if (dplane_uplink_count(dp) != 1
        || dplane_tickets_pending(dp) != (mode == FZ_PROVEN)
        || dplane_port_release(dp, FZ_HELD_VIF, 1, &held, &dropped, NULL)
        || held > 16) {
        abort();
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    dplane_destroy(dp);
    feed_close(fd);
    feed_close(host1);
    event_base_free(base);
    return 0;
}
