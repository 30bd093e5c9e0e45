/* fexguest: the program inside fexsim's QEMU guests (make guest).
 *
 * Sends sequence-numbered Ethernet frames out of the guest's NIC at a
 * steady rate, receives its peer's, and counts from the guest's own point
 * of view what a migration did to its traffic: frames sent, received,
 * lost, duplicated, reordered, and the longest gap between two received
 * frames.  The counters live in guest RAM, so they migrate with the
 * guest; a line of them goes to the console every report period, which
 * the host's agent reads from the serial port's file:
 *
 *   FXG sent=N recv=N lost=N dup=N reord=N gap_ms=N peer=MAC pgap_ms=N
 *
 * (gap_ms the longest gap ever, pgap_ms the longest that ended within
 * the period: what a migration's report takes for its span of lines).
 * Settings come from the kernel command line (the agent writes it):
 * fxg.iface=eth0, fxg.rate=FRAMES_PER_S (0: only receive), fxg.peer=MAC
 * (default broadcast until a peer's frame is seen, then that peer),
 * fxg.report_ms=MS, fxg.dirty=PAGES_PER_S (a writer dirtying that many
 * 4 KiB pages a second, round the half of the guest's memory it holds,
 * for a migration to send again; 0 by default).  Frames are of EtherType 0x88B5 (IEEE 802 local
 * experimental), payload "FXG1" and a 64-bit big-endian sequence
 * number.
 *
 * Built static (no libc in the initramfs but busybox's); no fexsim
 * library, on purpose: it is the guest's code, not the host's. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FXG_ETHERTYPE 0x88B5
#define FXG_MAGIC "FXG1"
#define FXG_FRAME_SIZE 64
/* Sequence numbers remembered for telling a late frame (reordered) from
 * one seen already (duplicate). */
#define FXG_WINDOW 8192

struct fxg_cfg {
    char iface[IFNAMSIZ];
    unsigned rate;                 /* Frames per second; 0: receive only. */
    unsigned report_ms;
    uint8_t peer[6];
    int peer_fixed;                /* fxg.peer given. */
    unsigned dirty;                /* Pages written per second. */
};

struct fxg_counters {
    uint64_t sent, recv, lost, dup, reord;
    uint64_t gap_ms;               /* Longest between two received. */
    uint64_t pgap_ms;              /* ...of those ending in this period. */
};

struct fxg {
    struct fxg_cfg cfg;
    struct fxg_counters c;
    int fd;
    int ifindex;
    uint8_t mac[6];
    int have_peer;
    uint64_t next_seq;             /* The peer's next expected. */
    uint64_t *seen;                /* seen[seq % WINDOW] == seq + 1. */
    uint64_t last_rx_ms;
    uint64_t tx_seq;
    /* The dirtying writer: a buffer of half the guest's memory, the next
     * page to write, and how many pages it owes by now. */
    uint8_t *mem;
    size_t mem_pages, next_page;
    uint64_t dirty_since_ms, dirty_done;
};

#define FXG_PAGE 4096u

/* Half of MemTotal (/proc/meminfo), in pages; 0 if unreadable. */
static size_t
fxg_half_memory_pages(void)
{
    char line[256];
    unsigned long long kib = 0;
    FILE *f = fopen("/proc/meminfo", "r");

    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return (size_t) (kib * 1024 / 2 / FXG_PAGE);
}

/* Writes the pages owed at fxg.dirty pages a second since it began, one
 * byte each, round the buffer: each write dirties a page of the guest. */
static void
fxg_dirty(struct fxg *g, uint64_t now)
{
    uint64_t due;

    if (!g->mem) {
        return;
    }
    due = (now - g->dirty_since_ms) * g->cfg.dirty / 1000;
    /* After a stop (a migration's switchover), no burst. */
    if (due > g->dirty_done + g->cfg.dirty) {
        g->dirty_done = due - g->cfg.dirty / 100;
    }
    for (; g->dirty_done < due; g->dirty_done++) {
        g->mem[g->next_page * FXG_PAGE] = (uint8_t) g->dirty_done;
        g->next_page = (g->next_page + 1) % g->mem_pages;
    }
}

static uint64_t
fxg_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int
fxg_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];

    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5]) != 6) {
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (uint8_t) v[i];
    }
    return 0;
}

/* Reads the fxg.* words of /proc/cmdline into 'cfg'. */
static void
fxg_read_cmdline(struct fxg_cfg *cfg)
{
    char line[4096], *save = NULL;
    FILE *f = fopen("/proc/cmdline", "r");

    if (!f || !fgets(line, sizeof line, f)) {
        if (f) {
            fclose(f);
        }
        return;
    }
    fclose(f);
    for (char *w = strtok_r(line, " \n", &save); w;
         w = strtok_r(NULL, " \n", &save)) {
        if (!strncmp(w, "fxg.iface=", 10)) {
            snprintf(cfg->iface, sizeof cfg->iface, "%s", w + 10);
        } else if (!strncmp(w, "fxg.rate=", 9)) {
            cfg->rate = (unsigned) strtoul(w + 9, NULL, 10);
        } else if (!strncmp(w, "fxg.report_ms=", 14)) {
            cfg->report_ms = (unsigned) strtoul(w + 14, NULL, 10);
        } else if (!strncmp(w, "fxg.dirty=", 10)) {
            cfg->dirty = (unsigned) strtoul(w + 10, NULL, 10);
        } else if (!strncmp(w, "fxg.peer=", 9)) {
            cfg->peer_fixed = !fxg_parse_mac(w + 9, cfg->peer);
        }
    }
}

static int
fxg_open(struct fxg *g)
{
    struct sockaddr_ll sll = { .sll_family = AF_PACKET,
                               .sll_protocol = htons(FXG_ETHERTYPE) };
    struct ifreq ifr;

    g->fd = socket(AF_PACKET, SOCK_RAW, htons(FXG_ETHERTYPE));
    if (g->fd < 0) {
        perror("fexguest: socket");
        return -1;
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", g->cfg.iface);
    if (ioctl(g->fd, SIOCGIFINDEX, &ifr) < 0) {
        perror("fexguest: no such interface");
        return -1;
    }
    g->ifindex = ifr.ifr_ifindex;
    /* A migrated guest's held frames arrive in one burst: room for
     * thousands, not the default ~100 (init runs us as root). */
    {
        int rcvbuf = 16 << 20;

        if (setsockopt(g->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
                       sizeof rcvbuf) < 0) {
            perror("fexguest: SO_RCVBUFFORCE");
        }
    }
    if (ioctl(g->fd, SIOCGIFHWADDR, &ifr) < 0) {
        perror("fexguest: SIOCGIFHWADDR");
        return -1;
    }
    memcpy(g->mac, ifr.ifr_hwaddr.sa_data, 6);
    sll.sll_ifindex = g->ifindex;
    if (bind(g->fd, (struct sockaddr *) &sll, sizeof sll) < 0) {
        perror("fexguest: bind");
        return -1;
    }
    return 0;
}

static void
fxg_send(struct fxg *g)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    uint8_t f[FXG_FRAME_SIZE] = { 0 };
    uint64_t seq = g->tx_seq;
    struct sockaddr_ll to = { .sll_family = AF_PACKET,
                              .sll_protocol = htons(FXG_ETHERTYPE),
                              .sll_ifindex = g->ifindex, .sll_halen = 6 };

    memcpy(f, g->have_peer ? g->cfg.peer : bcast, 6);
    memcpy(f + 6, g->mac, 6);
    f[12] = FXG_ETHERTYPE >> 8;
    f[13] = FXG_ETHERTYPE & 0xff;
    memcpy(f + 14, FXG_MAGIC, 4);
    for (int i = 0; i < 8; i++) {
        f[18 + i] = (uint8_t) (seq >> (56 - 8 * i));
    }
    memcpy(to.sll_addr, f, 6);
    /* A frame the NIC cannot take now is not sent: it is not counted, and
     * its number is used again, so the peer sees no loss that the guest
     * itself caused. */
    if (sendto(g->fd, f, sizeof f, 0, (struct sockaddr *) &to,
               sizeof to) == (ssize_t) sizeof f) {
        g->c.sent++;
        g->tx_seq++;
    }
}

/* Counts frame number 'seq' of the peer. */
static void
fxg_count(struct fxg *g, uint64_t seq)
{
    uint64_t *slot = &g->seen[seq % FXG_WINDOW], now = fxg_now_ms();

    /* The first frame seen is where counting starts: what the peer sent
     * before this guest was up is not a loss. */
    if (!g->c.recv) {
        g->next_seq = seq;
    }
    if (*slot == seq + 1) {
        g->c.dup++;
        return;
    }
    if (g->c.recv && now - g->last_rx_ms > g->c.pgap_ms) {
        g->c.pgap_ms = now - g->last_rx_ms;
        if (g->c.pgap_ms > g->c.gap_ms) {
            g->c.gap_ms = g->c.pgap_ms;
        }
    }
    g->last_rx_ms = now;
    g->c.recv++;
    if (seq >= g->next_seq) {
        /* The ones skipped count as lost until they turn up. */
        g->c.lost += seq - g->next_seq;
        g->next_seq = seq + 1;
    } else if (g->next_seq - seq <= FXG_WINDOW) {
        g->c.reord++;
        g->c.lost--;
    } else {
        g->c.dup++;             /* Too old to tell: not counted twice. */
        g->c.recv--;
        return;
    }
    *slot = seq + 1;
}

static void
fxg_receive(struct fxg *g)
{
    uint8_t f[2048];
    ssize_t n;

    while ((n = recv(g->fd, f, sizeof f, MSG_DONTWAIT)) > 0) {
        uint64_t seq = 0;

        if (n < 26 || memcmp(f + 14, FXG_MAGIC, 4)
            || !memcmp(f + 6, g->mac, 6)) {
            continue;
        }
        if (!g->have_peer) {
            memcpy(g->cfg.peer, f + 6, 6);
            g->have_peer = 1;
        } else if (memcmp(f + 6, g->cfg.peer, 6)) {
            continue;           /* Another guest's: not our peer. */
        }
        for (int i = 0; i < 8; i++) {
            seq = seq << 8 | f[18 + i];
        }
        fxg_count(g, seq);
    }
}

/* A line of counters; the period's longest gap starts again. */
static void
fxg_report(struct fxg *g)
{
    const uint8_t *p = g->cfg.peer;

    printf("FXG sent=%llu recv=%llu lost=%llu dup=%llu reord=%llu "
           "gap_ms=%llu peer=%02x:%02x:%02x:%02x:%02x:%02x pgap_ms=%llu\n",
           (unsigned long long) g->c.sent, (unsigned long long) g->c.recv,
           (unsigned long long) g->c.lost, (unsigned long long) g->c.dup,
           (unsigned long long) g->c.reord, (unsigned long long) g->c.gap_ms,
           p[0], p[1], p[2], p[3], p[4], p[5],
           (unsigned long long) g->c.pgap_ms);
    fflush(stdout);
    g->c.pgap_ms = 0;
}

int
main(int argc, char **argv)
{
    static struct fxg g;
    uint64_t next_tx, next_report;

    snprintf(g.cfg.iface, sizeof g.cfg.iface, "eth0");
    g.cfg.rate = 100;
    g.cfg.report_ms = 200;
    fxg_read_cmdline(&g.cfg);
    /* The NIC /init found (a failover master has no fixed name). */
    if (argc > 1 && argv[1][0]) {
        snprintf(g.cfg.iface, sizeof g.cfg.iface, "%s", argv[1]);
    }
    g.have_peer = g.cfg.peer_fixed;
    g.seen = calloc(FXG_WINDOW, sizeof *g.seen);
    if (!g.seen || fxg_open(&g)) {
        return 1;
    }
    if (g.cfg.dirty) {
        g.mem_pages = fxg_half_memory_pages();
        g.mem = g.mem_pages ? calloc(g.mem_pages, FXG_PAGE) : NULL;
        if (!g.mem) {
            printf("FXG no memory to dirty\n");
        }
        g.dirty_since_ms = fxg_now_ms();
    }
    printf("FXG start iface=%s rate=%u mac=%02x:%02x:%02x:%02x:%02x:%02x "
           "dirty=%u pages/s over %zu pages\n", g.cfg.iface, g.cfg.rate,
           g.mac[0], g.mac[1], g.mac[2], g.mac[3], g.mac[4], g.mac[5],
           g.cfg.dirty, g.mem ? g.mem_pages : (size_t) 0);
    next_tx = next_report = fxg_now_ms();
    for (;;) {
        uint64_t now = fxg_now_ms(), wake = next_report;
        struct pollfd pfd = { .fd = g.fd, .events = POLLIN };

        if (g.cfg.rate && now >= next_tx) {
            fxg_send(&g);
            next_tx += 1000 / g.cfg.rate ? 1000 / g.cfg.rate : 1;
            /* After a stop (a migration's switchover), no burst: go on at
             * the rate from now. */
            if (now > next_tx + 1000) {
                next_tx = now;
            }
        }
        fxg_dirty(&g, now);
        if (now >= next_report) {
            fxg_report(&g);
            next_report = now + g.cfg.report_ms;
        }
        if (g.cfg.rate && next_tx < wake) {
            wake = next_tx;
        }
        now = fxg_now_ms();
        poll(&pfd, 1, wake > now ? (int) (wake - now) : 0);
        if (pfd.revents & POLLIN) {
            fxg_receive(&g);
        }
    }
}
