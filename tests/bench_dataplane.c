/* Benchmark of the data plane: frames/s and p50/p99 one-way latency
 * vNIC -> agent -> fabric -> agent -> vNIC over loopback TCP, three
 * processes (fabric, sending host, receiving host), for 64 B and 1500 B
 * frames; beside the same hops through relays that do no switching (the
 * transport's floor), with the ratio.  Then the switching cost per frame
 * with 4096 VIFs against 16, in process.  Prints a table. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "dplane.h"
#include "fswitch.h"
#include "fx_err.h"
#include "fx_hist.h"
#include "fx_util.h"
#include "traffic.h"
#include "uplink.h"

#define B_VIFS 16                    /* Ports on the fabric, end to end. */
#define B_SAT_MS 1500                /* Saturation run. */
#define B_LAT_MS 1000                /* Fixed-rate run, for latency. */
#define B_LAT_PPS 20000
#define B_IDLE_MS 300                /* Receiver ends after this quiet. */
/* Runs of each measurement, relay and switch alternating; the best is
 * kept (highest frames/s, lowest p99): the machine is shared, and the
 * least disturbed run is the one that measures the code. */
#define B_REPS 2

struct b_result {
    uint64_t received, lost, duplicated, reordered;
    uint64_t first_us, last_us;
    uint64_t p50_us, p99_us;
};

/* What a host process is running. */
struct b_host {
    struct event_base *base;
    struct uplink *up;
    struct traffic *tr;
    uint64_t rx, first_us, last_us;
};

static uint8_t *
b_reserve(void *arg, uint32_t vif, uint32_t len)
{
    return uplink_reserve(((struct b_host *) arg)->up, vif, len);
}

static void
b_flush(void *arg)
{
    uplink_flush(((struct b_host *) arg)->up);
}

static void
b_rx(void *arg, uint32_t vif, const uint8_t *frame, size_t len)
{
    struct b_host *h = arg;

    h->last_us = fx_now_us();
    if (h->rx++ == 0) {
        h->first_us = h->last_us;
    }
    traffic_rx(h->tr, vif, frame, len);
}

static void
b_die(const char *what, const struct fx_err *err)
{
    fprintf(stderr, "bench_dataplane: %s: %s\n", what, err ? err->msg : "");
    _exit(1);
}

static void
b_write(int fd, const void *p, size_t n)
{
    if (write(fd, p, n) != (ssize_t) n) {
        _exit(1);
    }
}

static void
b_read(int fd, void *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, (char *) p + got, n - got);
        if (r <= 0) {
            fprintf(stderr, "bench_dataplane: a child died\n");
            exit(1);
        }
        got += (size_t) r;
    }
}

static void
b_sigterm_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    event_base_loopexit(arg, NULL);
}

/* The fabric process: ports 1..B_VIFS in VLAN 10, odd on host 0, even on
 * host 1; writes its port to 'fd' and serves until SIGTERM. */
static void
b_fabric(int fd, bool relay)
{
    struct event_base *base = event_base_new();
    const struct dplane_cfg cfg = { .listen = "127.0.0.1:0",
                                    .max_ports = 4096, .max_hosts = 2,
                                    .max_macs = 8192, .relay = relay };
    struct event *sig = evsignal_new(base, SIGTERM, b_sigterm_cb, base);
    struct dplane *dp;
    struct fx_err err;
    uint16_t vlan = 10, port;

    if (dplane_create(base, &cfg, &dp, &err) < 0) {
        b_die("fabric", &err);
    }
    for (uint32_t v = 1; v <= B_VIFS; v++) {
        dplane_port_add(dp, v, (v + 1) % 2, &vlan, 1, NULL);
        dplane_port_set_up(dp, v, true, NULL);
    }
    event_add(sig, NULL);
    port = dplane_listen_port(dp);
    b_write(fd, &port, sizeof port);
    event_base_dispatch(base);
    dplane_destroy(dp);
    event_free(sig);
    event_base_free(base);
    _exit(0);
}

static void
b_host_init(struct b_host *h, uint16_t port, uint32_t host)
{
    char addr[32];
    const struct traffic_io io = { b_reserve, b_flush, h };
    struct uplink_cfg cfg = { .fabric = addr, .host = host, .rx = b_rx,
                              .rx_arg = h };
    struct fx_err err;

    memset(h, 0, sizeof *h);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    h->base = event_base_new();
    h->tr = traffic_create(h->base, &io);
    if (uplink_create(h->base, &cfg, &h->up, &err) < 0) {
        b_die("uplink", &err);
    }
    while (!uplink_is_up(h->up)) {
        event_base_loop(h->base, EVLOOP_ONCE);
    }
}

static const struct traffic_gen_cfg b_flow = {
    .flow_id = 1, .src_vif = 1,
    .src_mac = { 2, 0, 0, 0, 0, 1 }, .dst_mac = { 2, 0, 0, 0, 0, 2 },
};

static void
b_check_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct b_host *h = arg;

    (void) fd;
    (void) what;
    if (h->rx > 0 && fx_now_us() - h->last_us > B_IDLE_MS * 1000u) {
        event_base_loopexit(h->base, NULL);
    }
}

/* The receiving host: VIF 2 announces its MAC, says ready on 'fd', counts
 * until traffic stops, and writes a b_result on 'fd'. */
static void
b_receiver(int fd, uint16_t port)
{
    struct b_host h;
    const struct timeval tv = { 0, 50000 };
    struct event *check;
    struct traffic_stats st;
    struct b_result r;
    uint8_t *f;

    b_host_init(&h, port, 1);
    traffic_sink_open(h.tr, b_flow.flow_id, NULL);
    f = uplink_reserve(h.up, 2, 64);
    memset(f, 0xff, 6);
    memcpy(f + 6, b_flow.dst_mac, 6);
    memset(f + 12, 0, 52);
    uplink_flush(h.up);
    check = event_new(h.base, -1, EV_PERSIST, b_check_idle_cb, &h);
    event_add(check, &tv);
    b_write(fd, "R", 1);
    event_base_dispatch(h.base);
    traffic_stats_get(h.tr, b_flow.flow_id, &st);
    r = (struct b_result) { .received = st.received, .lost = st.lost,
                            .duplicated = st.duplicated,
                            .reordered = st.reordered,
                            .first_us = h.first_us, .last_us = h.last_us,
                            .p50_us = st.p50_us, .p99_us = st.p99_us };
    b_write(fd, &r, sizeof r);
    _exit(0);
}

static void
b_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct b_host *h = arg;
    const struct timeval drain = { 0, 200000 };

    (void) fd;
    (void) what;
    traffic_pause_all(h->tr);
    event_base_loopexit(h->base, &drain);
}

/* The sending host: VIF 1 sends 'size'-byte frames at 'pps' for 'ms'. */
static void
b_sender(uint16_t port, uint32_t size, uint32_t pps, uint32_t ms)
{
    struct b_host h;
    struct traffic_gen_cfg c = b_flow;
    const struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    b_host_init(&h, port, 0);
    c.size = size;
    c.rate_pps = pps;
    traffic_gen_start(h.tr, &c, NULL);
    event_base_once(h.base, -1, EV_TIMEOUT, b_stop_cb, &h, &tv);
    event_base_dispatch(h.base);
    _exit(0);
}

/* Runs one measurement in three processes; fills '*r'. */
static void
b_run(bool relay, uint32_t size, uint32_t pps, uint32_t ms,
      struct b_result *r)
{
    int pf[2], pr[2];
    pid_t fabric, recv, send;
    uint16_t port;
    char ready;

    if (pipe(pf) < 0 || pipe(pr) < 0) {
        exit(1);
    }
    if ((fabric = fork()) == 0) {
        b_fabric(pf[1], relay);
    }
    b_read(pf[0], &port, sizeof port);
    if ((recv = fork()) == 0) {
        b_receiver(pr[1], port);
    }
    b_read(pr[0], &ready, 1);
    if ((send = fork()) == 0) {
        b_sender(port, size, pps, ms);
    }
    waitpid(send, NULL, 0);
    b_read(pr[0], r, sizeof *r);
    waitpid(recv, NULL, 0);
    kill(fabric, SIGTERM);
    waitpid(fabric, NULL, 0);
    close(pf[0]);
    close(pf[1]);
    close(pr[0]);
    close(pr[1]);
}

static double
b_fps(const struct b_result *r)
{
    uint64_t us = r->last_us - r->first_us;

    return us ? (double) (r->received - 1) * 1e6 / (double) us : 0;
}

static double
b_ratio(uint64_t a, uint64_t b)
{
    return b ? (double) a / (double) b : 0;
}

static void
b_print(uint32_t size, bool relay, const struct b_result *sat,
        const struct b_result *lat, double ratio)
{
    char r[16] = "baseline";

    if (!relay) {
        snprintf(r, sizeof r, "%.2f", ratio);
    }
    printf("%-6u %-7s %12.0f %9s %8llu %8llu %6llu\n", size,
           relay ? "relay" : "switch", b_fps(sat), r,
           (unsigned long long) lat->p50_us, (unsigned long long) lat->p99_us,
           (unsigned long long) (sat->lost + lat->lost + sat->duplicated +
                                 lat->duplicated));
}

static void
b_end_to_end(void)
{
    const uint32_t sizes[] = { 64, 1500 };

    printf("data plane: vNIC -> agent -> fabric -> agent -> vNIC, loopback "
           "TCP, 3 processes\n");
    printf("%-6s %-7s %12s %9s %8s %8s %6s\n", "bytes", "path",
           "frames/s", "ratio", "p50 us", "p99 us", "lost");
    for (size_t i = 0; i < 2; i++) {
        struct b_result sat[2], lat[2], r;
        for (int rep = 0; rep < B_REPS; rep++) {
            for (int relay = 1; relay >= 0; relay--) {
                b_run(relay, sizes[i], 100000000u, B_SAT_MS, &r);
                if (rep == 0 || b_fps(&r) > b_fps(&sat[relay])) {
                    sat[relay] = r;
                }
                b_run(relay, sizes[i], B_LAT_PPS, B_LAT_MS, &r);
                if (rep == 0 || r.p99_us < lat[relay].p99_us) {
                    lat[relay] = r;
                }
            }
        }
        b_print(sizes[i], true, &sat[1], &lat[1], 1);
        b_print(sizes[i], false, &sat[0], &lat[0],
                b_fps(&sat[0]) / b_fps(&sat[1]));
        printf("%-6s latency switch/relay: p50 %.2f, p99 %.2f\n", "",
               b_ratio(lat[0].p50_us, lat[1].p50_us),
               b_ratio(lat[0].p99_us, lat[1].p99_us));
    }
    printf("ratio: switch frames/s over relay frames/s (target >= 0.50).\n"
           "frames/s: sender saturating for %u ms, lossless (TCP flow "
           "control end to end);\nlatency: one way, %u pps for %u ms; "
           "lost: lost + duplicated, from sequence numbers;\n"
           "best of %d alternating runs each.\n",
           B_SAT_MS, B_LAT_PPS, B_LAT_MS, B_REPS);
}

#define B_POOL 65536                 /* Frames, random pairs of ports. */
#define B_BATCH 256
#define B_COST_MS 2000

static uint32_t
b_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t) (*s >> 33);
}

static void
b_mac(uint8_t *m, uint32_t vif)
{
    const uint8_t mac[6] = { 2, 0, 0, (uint8_t) (vif >> 16),
                             (uint8_t) (vif >> 8), (uint8_t) vif };
    memcpy(m, mac, 6);
}

struct b_cost {
    struct fswitch *sw;
    struct fsw_out *out;
    uint8_t *buf;                    /* B_POOL frames of 64 bytes. */
    struct fsw_frame *pool;
};

/* 'n' ports in VLAN 10 over 4 hosts, every MAC learned, a pool of frames
 * each between two random ports among the first 'active'. */
static void
b_cost_init(struct b_cost *c, uint32_t n, uint32_t active)
{
    uint64_t seed = 42;
    uint16_t vlan = 10;

    c->sw = fsw_create(n, 4, 2 * n);
    c->out = fsw_out_create(4, B_BATCH);
    c->buf = calloc(B_POOL, 64);
    c->pool = calloc(B_POOL, sizeof *c->pool);
    for (uint32_t v = 1; v <= n; v++) {
        fsw_port_add(c->sw, v, v % 4, &vlan, 1, NULL);
        fsw_port_set_up(c->sw, v, true, NULL);
    }
    for (uint32_t i = 0; i < B_POOL; i++) {
        uint32_t s = b_rand(&seed) % active + 1;
        uint32_t d = b_rand(&seed) % active + 1;
        uint8_t *f = c->buf + 64 * (size_t) i;
        b_mac(f, (d == s ? d % active + 1 : d));
        b_mac(f + 6, s);
        c->pool[i] = (struct fsw_frame) { .src_vif = s, .len = 64,
                                          .data = f };
    }
    for (uint32_t i = 0; i < B_POOL; i += B_BATCH) {   /* Learn all. */
        fsw_out_reset(c->out);
        fsw_switch_batch(c->sw, c->pool + i, B_BATCH, c->out);
    }
}

static void
b_cost_uninit(struct b_cost *c)
{
    free(c->buf);
    free(c->pool);
    fsw_out_destroy(c->out);
    fsw_destroy(c->sw);
}

/* Nanoseconds per frame over one pass of the pool. */
static double
b_cost_round(struct b_cost *c)
{
    uint64_t t0 = fx_now_us();

    for (int r = 0; r < 4; r++) {
        for (uint32_t i = 0; i < B_POOL; i += B_BATCH) {
            fsw_out_reset(c->out);
            fsw_switch_batch(c->sw, c->pool + i, B_BATCH, c->out);
        }
    }
    return (double) (fx_now_us() - t0) * 1000.0 / (4.0 * B_POOL);
}

/* 16 VIFs, 4096 VIFs all active, and 4096 VIFs of which 16 talk,
 * measured in alternating rounds, keeping each one's best: the machine is
 * shared, and the least disturbed round is the truest. */
static void
b_switch_costs(double best[3])
{
    static const uint32_t cases[3][2] = { { 16, 16 }, { 4096, 4096 },
                                          { 4096, 16 } };
    struct b_cost c[3];
    uint64_t t0 = fx_now_us();

    for (int i = 0; i < 3; i++) {
        b_cost_init(&c[i], cases[i][0], cases[i][1]);
        best[i] = 1e9;
    }
    while (fx_now_us() - t0 < B_COST_MS * 1000u) {
        for (int i = 0; i < 3; i++) {
            double x = b_cost_round(&c[i]);
            best[i] = x < best[i] ? x : best[i];
        }
    }
    for (int i = 0; i < 3; i++) {
        b_cost_uninit(&c[i]);
    }
}

/* "--cost" runs only the in-process switching cost. */
int
main(int argc, char **argv)
{
    double best[3];

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2 || strcmp(argv[1], "--cost") != 0) {
        b_end_to_end();
    }
    b_switch_costs(best);
    printf("\nswitching cost per frame (fsw_switch_batch, batches of %d, "
           "random unicast pairs,\nbest of alternating rounds)\n", B_BATCH);
    printf("%-22s %10s\n", "VIFs", "ns/frame");
    printf("%-22s %10.1f   (baseline)\n", "16", best[0]);
    printf("%-22s %10.1f\n", "4096", best[1]);
    printf("%-22s %10.2f   (target <= 1.20)\n", "ratio 4096/16",
           best[1] / best[0]);
    printf("%-22s %10.1f   (same lookups, 16 ports' worth of cache)\n",
           "4096, 16 of them busy", best[2]);
    printf("%-22s %10.2f\n", "ratio", best[2] / best[0]);
    return 0;
}
