/* guestnic: see guestnic.h. */
#include "guestnic.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fx_err.h"
#include "gnet.h"
#include "log.h"
#include "vic.h"

LOG_MODULE("guestnic");

/* Frames to a guest go out at most GUESTNIC_BURST per millisecond: the
 * frames a fabric held for a migrating guest arrive in one burst, which
 * QEMU's socket buffer (~270 small datagrams) would not take at once.
 * Beyond that they wait here, GUESTNIC_QUEUE at most per vNIC. */
#define GUESTNIC_BURST 8u
#define GUESTNIC_QUEUE 8192u

struct guestnic_frame {
    uint8_t *data;                   /* Owned. */
    size_t len;
};

/* One socket pair with QEMU: a NIC's, or a failover pair's standby's. */
struct guestnic_path {
    int fd;                          /* -1: none. */
    struct event *ev;                /* Owned: readable. */
    uint16_t agent_port, qemu_port;
    struct guestnic_port *port;      /* Borrowed: the owner. */
};

struct guestnic_port {
    struct guestnic_path paths[GUESTNIC_N_PATHS];
    enum guestnic_path_id rx;        /* Where frames to the guest go. */
    struct guestnic_stats st;
    struct guestnic *gn;             /* Borrowed: the owner. */
    uint32_t vnic;
    struct guestnic_frame *q;        /* Owned ring of GUESTNIC_QUEUE. */
    uint32_t q_head, q_len;
    uint32_t budget;                 /* Frames still to send this ms. */
};

struct guestnic {
    struct event_base *base;         /* Borrowed. */
    struct gnet *gnet;               /* Borrowed. */
    uint32_t n_vnics;
    struct guestnic_port *ports;     /* Owned, one per vNIC. */
    struct event *tick;              /* Owned: every ms while queued. */
    uint8_t buf[VIC_FRAME_MAX];
};

static void
guestnic_addr(struct sockaddr_in *sa, uint16_t port)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static const char *const guestnic_path_names[GUESTNIC_N_PATHS] = {
    [GUESTNIC_PRIMARY] = "primary", [GUESTNIC_STANDBY] = "standby",
};

/* Frames to the guest of 'p' go by 'id' from now on. */
static void
guestnic_learn(struct guestnic_port *p, enum guestnic_path_id id)
{
    if (p->rx != id) {
        LOG_INFO("vNIC %u: frames to the guest go by its %s now", p->vnic,
                 guestnic_path_names[id]);
        p->rx = id;
    }
}

/* Frames the guest sent: into its vNIC.  Frames to it go back the way
 * its last one came (a failover guest sends on its primary while it has
 * one, else on its standby), as a learning bridge would. */
/* Whether 'frame' is a RARP (EtherType 0x8035), as QEMU's self-announce
 * sends them. */
static int
guestnic_is_rarp(const uint8_t *frame, size_t len)
{
    return len >= 14 && frame[12] == 0x80 && frame[13] == 0x35;
}

static void
guestnic_readable(evutil_socket_t fd, short what, void *arg)
{
    struct guestnic_path *path = arg;
    struct guestnic_port *p = path->port;
    struct guestnic *gn = p->gn;
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n;

    (void) what;
    while ((n = recvfrom(fd, gn->buf, sizeof gn->buf, MSG_DONTWAIT,
                         (struct sockaddr *) &from, &len)) >= 0) {
        len = sizeof from;
        if (from.sin_addr.s_addr != htonl(INADDR_LOOPBACK)
            || ntohs(from.sin_port) != path->qemu_port) {
            p->st.strangers++;
            continue;
        }
        /* QEMU announces a migrated-in guest itself (a RARP from each
         * of its NICs, the primary's included before the guest has it
         * up): only the guest's own frames say which way it listens. */
        if (!guestnic_is_rarp(gn->buf, (size_t) n)) {
            guestnic_learn(p, (enum guestnic_path_id) (path - p->paths));
        }
        if (gnet_guest_tx(gn->gnet, p->vnic, gn->buf, (size_t) n) < 0) {
            p->st.refused++;
        } else {
            p->st.from_guest++;
        }
    }
}

static void
guestnic_send(struct guestnic_port *p, const uint8_t *frame, size_t len)
{
    const struct guestnic_path *path = &p->paths[p->rx];
    struct sockaddr_in to;

    if (path->fd < 0) {
        path = &p->paths[GUESTNIC_PRIMARY];
    }
    guestnic_addr(&to, path->qemu_port);
    /* QEMU's socket buffer full means the guest is not reading (stopped):
     * the frame is lost there, as on a wire. */
    if (sendto(path->fd, frame, len, MSG_DONTWAIT, (struct sockaddr *) &to,
               sizeof to) == (ssize_t) len) {
        p->st.to_guest++;
    }
}

/* Sends what port 'p' queued, within its budget. */
static void
guestnic_drain(struct guestnic_port *p)
{
    while (p->q_len && p->budget) {
        struct guestnic_frame *f = &p->q[p->q_head];

        guestnic_send(p, f->data, f->len);
        free(f->data);
        f->data = NULL;
        p->q_head = (p->q_head + 1) % GUESTNIC_QUEUE;
        p->q_len--;
        p->budget--;
    }
}

static void
guestnic_tick(evutil_socket_t fd, short what, void *arg)
{
    struct guestnic *gn = arg;
    const struct timeval ms = { 0, 1000 };
    int queued = 0;

    (void) fd;
    (void) what;
    for (uint32_t i = 0; i < gn->n_vnics; i++) {
        gn->ports[i].budget = GUESTNIC_BURST;
        if (gn->ports[i].paths[GUESTNIC_PRIMARY].fd >= 0) {
            guestnic_drain(&gn->ports[i]);
            queued |= gn->ports[i].q_len != 0;
        }
    }
    if (queued) {
        evtimer_add(gn->tick, &ms);
    }
}

/* A frame off the vNIC's rx ring: to the guest, now or after those
 * queued before it. */
static void
guestnic_to_guest(void *arg, uint32_t vnic, const uint8_t *frame, size_t len)
{
    struct guestnic *gn = arg;
    const struct timeval ms = { 0, 1000 };
    struct guestnic_port *p;
    struct guestnic_frame *f;

    if (vnic >= gn->n_vnics
        || gn->ports[vnic].paths[GUESTNIC_PRIMARY].fd < 0) {
        return;
    }
    p = &gn->ports[vnic];
    if (!p->q_len && p->budget) {
        p->budget--;
        guestnic_send(p, frame, len);
        if (!evtimer_pending(gn->tick, NULL)) {
            evtimer_add(gn->tick, &ms);
        }
        return;
    }
    if (p->q_len == GUESTNIC_QUEUE) {
        p->st.refused++;
        return;
    }
    f = &p->q[(p->q_head + p->q_len++) % GUESTNIC_QUEUE];
    f->data = malloc(len);
    if (!f->data) {
        abort();
    }
    memcpy(f->data, frame, len);
    f->len = len;
    if (!evtimer_pending(gn->tick, NULL)) {
        evtimer_add(gn->tick, &ms);
    }
}

struct guestnic *
guestnic_create(struct event_base *base, struct gnet *gnet, uint32_t n_vnics)
{
    struct guestnic *gn = calloc(1, sizeof *gn);

    if (!gn || !(gn->ports = calloc(n_vnics, sizeof *gn->ports))) {
        abort();
    }
    gn->base = base;
    gn->gnet = gnet;
    gn->n_vnics = n_vnics;
    gn->tick = evtimer_new(base, guestnic_tick, gn);
    if (!gn->tick) {
        abort();
    }
    for (uint32_t i = 0; i < n_vnics; i++) {
        for (int k = 0; k < GUESTNIC_N_PATHS; k++) {
            gn->ports[i].paths[k].fd = -1;
            gn->ports[i].paths[k].port = &gn->ports[i];
        }
        gn->ports[i].gn = gn;
        gn->ports[i].vnic = i;
        gn->ports[i].budget = GUESTNIC_BURST;
    }
    gnet_on_guest_rx(gnet, guestnic_to_guest, gn);
    return gn;
}

void
guestnic_destroy(struct guestnic *gn)
{
    if (!gn) {
        return;
    }
    for (uint32_t i = 0; i < gn->n_vnics; i++) {
        guestnic_close(gn, i);
    }
    gnet_on_guest_rx(gn->gnet, NULL, NULL);
    event_free(gn->tick);
    free(gn->ports);
    free(gn);
}

/* A UDP socket bound on loopback 'port' (0: any); stores the port bound. */
static int
guestnic_bind(uint16_t *portp, struct fx_err *err)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    guestnic_addr(&sa, *portp);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa)
        || getsockname(fd, (struct sockaddr *) &sa, &len)) {
        int e = errno;

        if (fd >= 0) {
            close(fd);
        }
        return fx_err_set(err, -e, "cannot bind UDP 127.0.0.1:%u for a "
                          "guest NIC: %s", *portp, strerror(e));
    }
    *portp = ntohs(sa.sin_port);
    return fd;
}

/* Opens path 'path' of 'p' on '*agent_portp' (0: any, stored). */
static int
guestnic_path_open(struct guestnic *gn, struct guestnic_path *path,
                   uint16_t *agent_portp, struct fx_err *err)
{
    int fd = guestnic_bind(agent_portp, err);

    if (fd < 0) {
        return fd;
    }
    path->fd = fd;
    path->agent_port = *agent_portp;
    path->ev = event_new(gn->base, fd, EV_READ | EV_PERSIST,
                         guestnic_readable, path);
    if (!path->ev) {
        abort();
    }
    event_add(path->ev, NULL);
    return 0;
}

static void
guestnic_path_close(struct guestnic_path *path)
{
    if (path->fd >= 0) {
        event_free(path->ev);
        close(path->fd);
        path->ev = NULL;
        path->fd = -1;
    }
}

int
guestnic_open(struct guestnic *gn, uint32_t vnic, enum guestnic_path_id id,
              uint16_t *agent_portp, uint16_t *qemu_portp, struct fx_err *err)
{
    struct guestnic_port *p;
    struct guestnic_path *path;

    if (vnic >= gn->n_vnics || id >= GUESTNIC_N_PATHS) {
        return fx_err_set(err, -EINVAL, "no vNIC %u", vnic);
    }
    p = &gn->ports[vnic];
    path = &p->paths[id];
    if (!p->q) {
        p->q = calloc(GUESTNIC_QUEUE, sizeof *p->q);
        if (!p->q) {
            abort();
        }
        p->q_head = p->q_len = 0;
        p->rx = GUESTNIC_PRIMARY;
        memset(&p->st, 0, sizeof p->st);
    }
    if (path->fd < 0) {
        if (guestnic_path_open(gn, path, agent_portp, err)) {
            return err->code;
        }
        /* Until the guest speaks: its standby is there from the start,
         * its primary only once plugged and up, which the guest's first
         * frame on it tells (a guest just booted or migrated in). */
        if (id == GUESTNIC_STANDBY) {
            p->rx = GUESTNIC_STANDBY;
        }
    }
    *agent_portp = path->agent_port;
    if (!*qemu_portp) {
        /* A port free now, for QEMU to bind when the guest starts: bound
         * and closed, as libvirt itself picks ports (it is below the
         * ephemeral range only by chance; a clash fails the start, with
         * QEMU's message). */
        int probe = guestnic_bind(qemu_portp, err);

        if (probe < 0) {
            return probe;
        }
        close(probe);
    }
    path->qemu_port = *qemu_portp;
    return 0;
}

void
guestnic_flush(struct guestnic *gn, uint32_t vnic)
{
    for (int k = 0; vnic < gn->n_vnics && k < GUESTNIC_N_PATHS; k++) {
        struct guestnic_path *path = &gn->ports[vnic].paths[k];

        if (path->fd >= 0) {
            guestnic_readable(path->fd, EV_READ, path);
        }
    }
}

uint32_t
guestnic_queued(const struct guestnic *gn, uint32_t vnic)
{
    return vnic < gn->n_vnics ? gn->ports[vnic].q_len : 0;
}

void
guestnic_close(struct guestnic *gn, uint32_t vnic)
{
    struct guestnic_port *p;

    if (vnic >= gn->n_vnics || !gn->ports[vnic].q) {
        return;
    }
    p = &gn->ports[vnic];
    while (p->q_len) {
        free(p->q[p->q_head].data);
        p->q_head = (p->q_head + 1) % GUESTNIC_QUEUE;
        p->q_len--;
    }
    free(p->q);
    p->q = NULL;
    for (int k = 0; k < GUESTNIC_N_PATHS; k++) {
        guestnic_path_close(&p->paths[k]);
    }
    LOG_DBG("vNIC %u: guest socket closed", vnic);
}

void
guestnic_stats(const struct guestnic *gn, uint32_t vnic,
               struct guestnic_stats *st)
{
    memset(st, 0, sizeof *st);
    if (vnic < gn->n_vnics && gn->ports[vnic].q) {
        *st = gn->ports[vnic].st;
    }
}
