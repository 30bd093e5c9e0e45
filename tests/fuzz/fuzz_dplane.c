/* fuzz_dplane: what an agent may send on its uplink, as fabricd's data
 * plane (fabric/dplane/) acts on it: HELLO claims a host, batches are
 * switched by the engine (fsw: MAC learning, VLANs, floods, holds) and
 * delivered to the other hosts' uplinks, MARKERs hold a VIF and are
 * echoed.  fuzz_dframe covers the format itself; this covers what the
 * fabric does with it.
 *
 * Each input is one uplink into a fresh data plane listening on loopback,
 * with FZ_PORTS VIFs: on host 0 (the input's, once it says HELLO 0) and on
 * host 1, whose well-behaved uplink is connected first so that frames
 * have somewhere to go.  One VIF of host 1 is held before the input and
 * released after it, so that held frames are kept and delivered too.
 * The loop is stepped without blocking until the data plane has closed
 * the input's uplink, at EOF or on garbage. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "dframe.h"
#include "dplane/dplane.h"
#include "feed.h"
#include "fx_err.h"
#include "log.h"

#define FZ_PORTS 6u
#define FZ_HELD_VIF 6u

/* VIF i + 1: its host and VLANs (the first native). */
static const struct {
    uint32_t host;
    uint16_t vlans[2];
    size_t n_vlans;
} fz_ports[FZ_PORTS] = {
    { 0, { 10 }, 1 }, { 0, { 10, 20 }, 2 }, { 0, { 20 }, 1 },
    { 1, { 10 }, 1 }, { 1, { 20, 10 }, 2 }, { 1, { 10 }, 1 },
};

static struct dplane *
fz_dplane(struct event_base *base)
{
    const struct dplane_cfg cfg = {
        .listen = "127.0.0.1:0", .max_ports = 16, .max_hosts = 2,
        .max_macs = 64, .hold_frames = 16, .hold_bytes = 16384,
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

/* Connects host 1's uplink and waits until the data plane knows it. */
static int
fz_host1(struct event_base *base, struct dplane *dp)
{
    uint8_t hello[DFRAME_HDR_SIZE + 4];
    int fd = feed_connect(base, dplane_listen_port(dp));

    if (send(fd, hello, dframe_hello_encode(hello, 1), MSG_NOSIGNAL) < 0) {
        abort();
    }
    for (int i = 0; dplane_uplink_count(dp) == 0; i++) {
        if (i == FEED_MAX_STEPS) {
            abort();
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    return fd;
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
    int host1 = fz_host1(base, dp), fd;
    uint64_t held, dropped;

    if (dplane_port_hold(dp, FZ_HELD_VIF, NULL)) {
        abort();
    }
    fd = feed_connect(base, dplane_listen_port(dp));
    feed_stream(base, fd, data, size, FEED_CHUNK, NULL, NULL);
    if (dplane_uplink_count(dp) != 1
        || dplane_port_release(dp, FZ_HELD_VIF, 1, &held, &dropped, NULL)
        || held > 16) {
        abort();                /* Host 1 must be untouched by host 0. */
    }
    event_base_loop(base, EVLOOP_NONBLOCK);
    dplane_destroy(dp);
    feed_close(fd);
    feed_close(host1);
    event_base_free(base);
    return 0;
}
