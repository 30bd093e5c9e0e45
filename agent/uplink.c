/* uplink: see uplink.h. */
#include "uplink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "auth.h"
#include "dframe.h"
#include "fx_err.h"
#include "fx_addr.h"
#include "log.h"

LOG_MODULE("uplink");

struct uplink {
    struct bufferevent *bev;         /* Owned; NULL once closed. */
    struct uplink_cfg cfg;           /* 'fabric' not kept. */
    char fabric[64];
    bool up;                         /* Connected and proven. */
    struct auth *auth;               /* Owned until the fabric is proven. */
    struct auth_key no_key;
    struct evbuffer *held;           /* Owned: what waits for the proof. */
    struct dframe_writer w;          /* Over 'tx'. */
    uint8_t *tx;                     /* The batch being built. */
    uint8_t *rx;                     /* One received message. */
    struct dframe_rec *recs;         /* DFRAME_MAX_COUNT. */
    uint64_t tx_frames, rx_frames;
    uint64_t announces;              /* RARP frames sent. */
};

static void
uplink_close(struct uplink *up, const char *why)
{
    LOG_WARN("uplink to %s: %s; closing it", up->fabric, why);
    bufferevent_free(up->bev);
    up->bev = NULL;
    up->up = false;
}

/* Where what we send goes: the socket once the fabric is proven, the
 * held buffer before (nothing may come between the handshake's steps). */
static struct evbuffer *
uplink_out(const struct uplink *up)
{
    return up->auth ? up->held : bufferevent_get_output(up->bev);
}

/* The lab secret's handshake on what has arrived: 1 once both ends are
 * proven (the HELLO and what waited go out), 0 while not yet, -1 if
 * refused (closed). */
static int
uplink_prove(struct uplink *up, struct evbuffer *in)
{
    struct fx_err err;
    int rc = auth_io(up->auth, in, bufferevent_get_output(up->bev), &err);

    if (rc < 0) {
        uplink_close(up, err.msg);
        return -1;
    }
    if (rc == 1) {
        auth_destroy(up->auth);
        up->auth = NULL;
        bufferevent_write_buffer(up->bev, up->held);
        up->up = true;
    }
    return rc;
}

static int
uplink_deliver(struct uplink *up, const struct dframe_hdr *hdr,
               struct fx_err *err)
{
    uint32_t token, vif;
    int rc;

    if (hdr->type == DFRAME_MARKER) {
        rc = dframe_marker_decode(hdr, up->rx + DFRAME_HDR_SIZE, &token,
                                  &vif, err);
        if (rc == 0 && up->cfg.marker) {
            up->cfg.marker(up->cfg.rx_arg, token, vif);
        }
        return rc;
    }
    if (hdr->type != DFRAME_BATCH) {
        return fx_err_set(err, -EPROTO, "unexpected message type %u",
                          hdr->type);
    }
    rc = dframe_batch_parse(hdr, up->rx + DFRAME_HDR_SIZE, up->recs, err);
    if (rc < 0) {
        return rc;
    }
    for (uint16_t i = 0; i < hdr->count; i++) {
        up->cfg.rx(up->cfg.rx_arg, up->recs[i].vif, up->recs[i].data,
                   up->recs[i].len);
    }
    up->rx_frames += hdr->count;
    return 0;
}

static void
uplink_read_cb(struct bufferevent *bev, void *arg)
{
    struct uplink *up = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct dframe_hdr hdr;
    struct fx_err err;
    int rc;

    if (up->auth && uplink_prove(up, in) <= 0) {
        return;
    }
    while ((rc = dframe_take(in, up->rx, &hdr, &err)) != 0) {
        if (rc > 0) {
            rc = uplink_deliver(up, &hdr, &err);
        }
        if (rc < 0) {
            uplink_close(up, err.msg);
            return;
        }
    }
}

static void
uplink_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct uplink *up = arg;

    if (what & BEV_EVENT_CONNECTED) {
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
                   &(int) { 1 }, sizeof(int));
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        uplink_close(up, what & BEV_EVENT_EOF ? "closed by the fabric"
                                              : "connection error");
    }
}

int
uplink_create(struct event_base *base, const struct uplink_cfg *cfg,
              struct uplink **upp, struct fx_err *err)
{
    struct sockaddr_storage ss;
    uint8_t hello[DFRAME_HELLO_SIZE];
    struct auth_ident me = { .role = AUTH_ROLE_AGENT };
    struct uplink *up;
    int len, rc = fx_addr_parse(cfg->fabric, &ss, &len, err);

    if (rc < 0) {
        return rc;
    }
    up = calloc(1, sizeof *up);
    if (!up || !(up->tx = malloc(DFRAME_MAX_MSG)) ||
        !(up->rx = malloc(DFRAME_MAX_MSG)) ||
        !(up->recs = malloc(DFRAME_MAX_COUNT * sizeof *up->recs))) {
        abort();
    }
    up->cfg = *cfg;
    snprintf(up->fabric, sizeof up->fabric, "%s", cfg->fabric);
    up->cfg.fabric = up->fabric;
    dframe_writer_init(&up->w, up->tx, DFRAME_MAX_MSG);
    up->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(up->bev, uplink_read_cb, NULL, uplink_event_cb, up);
    bufferevent_enable(up->bev, EV_READ | EV_WRITE);
    /* The handshake's HELLO leaves first; the uplink's HELLO, and any
     * frame, wait for the proof. */
    auth_key_none(&up->no_key);
    snprintf(me.name, sizeof me.name, "%s",
             cfg->host && cfg->host[0] ? cfg->host : "unnamed");
    up->auth = auth_client_new(cfg->key ? cfg->key : &up->no_key, &me);
    up->held = evbuffer_new();
    if (!up->auth || !up->held) {
        abort();
    }
    auth_io(up->auth, up->held, bufferevent_get_output(up->bev), err);
    evbuffer_add(up->held, hello, dframe_hello_encode(hello, &cfg->ticket));
    if (bufferevent_socket_connect(up->bev, (struct sockaddr *) &ss,
                                   len) < 0) {
        uplink_destroy(up);
        return fx_err_set(err, -ECONNREFUSED, "cannot connect uplink to "
                          "'%s'", cfg->fabric);
    }
    *upp = up;
    return 0;
}

void
uplink_destroy(struct uplink *up)
{
    if (!up) {
        return;
    }
    if (up->bev) {
        bufferevent_free(up->bev);
    }
    auth_destroy(up->auth);
    if (up->held) {
        evbuffer_free(up->held);
    }
    free(up->tx);
    free(up->rx);
    free(up->recs);
    free(up);
}

bool uplink_is_up(const struct uplink *up) { return up->up; }
bool uplink_is_closed(const struct uplink *up) { return !up->bev; }

bool
uplink_can_send(const struct uplink *up)
{
    return up->bev && evbuffer_get_length(uplink_out(up))
                      <= UPLINK_PAUSE_BYTES;
}
uint64_t uplink_tx_frames(const struct uplink *up) { return up->tx_frames; }
uint64_t uplink_announces(const struct uplink *up) { return up->announces; }

/* The frame of QEMU's qemu_announce_self: an RFC 903 reverse request
 * whose sender and target hardware addresses are the guest's MAC,
 * padded to the Ethernet minimum. */
void
uplink_rarp_build(uint8_t *f, const uint8_t mac[6])
{
    static const uint8_t arp[8] = { 0, 1, 0x08, 0x00, 6, 4, 0, 3 };

    memset(f, 0, UPLINK_RARP_LEN);
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = UPLINK_ETH_P_RARP >> 8;
    f[13] = UPLINK_ETH_P_RARP & 0xff;
    memcpy(f + 14, arp, sizeof arp);
    memcpy(f + 22, mac, 6);          /* Sender hardware address. */
    memcpy(f + 32, mac, 6);          /* Target hardware address. */
}

int
uplink_announce(struct uplink *up, uint32_t vif, const uint8_t mac[6])
{
    uint8_t *f = uplink_reserve(up, vif, UPLINK_RARP_LEN);

    if (!f) {
        return -EAGAIN;
    }
    uplink_rarp_build(f, mac);
    uplink_flush(up);
    up->announces++;
    return 0;
}
uint64_t uplink_rx_frames(const struct uplink *up) { return up->rx_frames; }

void
uplink_flush(struct uplink *up)
{
    size_t size = dframe_writer_finish(&up->w);

    if (size > 0 && up->bev) {
        evbuffer_add(uplink_out(up), up->tx, size);
        up->tx_frames += up->w.count;
    }
    dframe_writer_init(&up->w, up->tx, DFRAME_MAX_MSG);
}

uint8_t *
uplink_reserve(struct uplink *up, uint32_t vif, uint32_t len)
{
    uint8_t *p;

    if (!up->bev || evbuffer_get_length(uplink_out(up))
                    > UPLINK_PAUSE_BYTES) {
        return NULL;
    }
    if ((p = dframe_writer_reserve(&up->w, vif, len)) != NULL) {
        return p;
    }
    uplink_flush(up);
    return dframe_writer_reserve(&up->w, vif, len);
}

int
uplink_marker(struct uplink *up, uint32_t token, uint32_t vif)
{
    uint8_t m[DFRAME_MARKER_SIZE];

    if (!up->bev) {
        return -EAGAIN;
    }
    uplink_flush(up);
    evbuffer_add(uplink_out(up), m, dframe_marker_encode(m, token, vif));
    return 0;
}
