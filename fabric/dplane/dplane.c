/* dplane: see dplane.h. */
#include "dplane.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "auth.h"
#include "dframe.h"
#include "fx_err.h"
#include "fx_addr.h"
#include "fx_ratelimit.h"
#include "fx_time.h"
#include "log.h"

LOG_MODULE("dplane");

#define DPLANE_NO_HOST UINT32_MAX
/* Deliveries per host per received batch: a batch of DFRAME_MAX_COUNT
 * frames can flood to several ports of one host. */
#define DPLANE_OUT_CAP (4 * DFRAME_MAX_COUNT)

struct dplane_conn {
    struct dplane *dp;               /* Borrowed. */
    struct bufferevent *bev;         /* Owned. */
    struct auth *auth;               /* Owned until the peer is proven. */
    char agent[AUTH_NAME_SIZE];      /* The host its handshake proved. */
    uint32_t host;                   /* DPLANE_NO_HOST before HELLO. */
    bool paused;                     /* Reading stopped for flow control. */
    char peer[64];
    struct dplane_conn *next;        /* In dp->conns. */
};

/* A ticket issued and not yet presented (dplane_ticket_issue). */
struct dplane_ticket {
    struct dframe_ticket key;
    uint32_t host;
    uint64_t expires_ms;             /* On dp's clock. */
};

/* One held VIF's frames, in arrival order: offsets into 'data'. */
struct dplane_hold {
    uint32_t vif_id;
    uint32_t n, cap;                 /* Frames. */
    uint32_t used, bytes;            /* Bytes of 'data'. */
    uint32_t *off, *len;             /* Owned, 'cap' each. */
    uint8_t *data;                   /* Owned, 'bytes'. */
    uint64_t drops0;                 /* Port's hold_overflow at hold. */
    struct dplane_hold *next;        /* In dp->holds. */
};

struct dplane {
    struct event_base *base;         /* Borrowed. */
    struct evconnlistener *listener; /* Owned. */
    struct fswitch *sw;              /* Owned. */
    struct fsw_out *out;             /* Owned, reused per batch. */
    bool relay;
    uint32_t max_hosts;
    struct dplane_conn **hosts;      /* Borrowed from 'conns', by index. */
    struct dplane_conn *conns;       /* Owned list. */
    uint32_t n_uplinks;
    uint32_t n_paused;               /* Conns not read: flow control. */
    uint32_t *full;                  /* Hosts past DPLANE_DROP_BYTES, */
    uint32_t n_full;                 /* 'max_hosts' room: see
                                        dplane_note_queue(). */
    uint64_t refused;
    uint8_t *rx;                     /* One received message. */
    uint8_t *tx;                     /* One batch being built. */
    struct dframe_rec *recs;         /* DFRAME_MAX_COUNT. */
    struct fsw_frame *frames;        /* DFRAME_MAX_COUNT. */
    struct dplane_hold *holds;       /* Owned list, few: migrating VIFs. */
    uint32_t hold_frames, hold_bytes;
    uint64_t markers;                /* MARKERs echoed. */
    void (*hold_fn)(void *, uint32_t);   /* dplane_set_hold_hook(). */
    void *hold_arg;
    struct dplane_ticket *tickets;   /* Owned, 'n_tickets' live, one a */
    uint32_t n_tickets, cap_tickets; /* host at most. */
    uint32_t ticket_ttl_ms;
    uint64_t (*clock_ms)(void *);    /* NULL: fx_time_now_ms(). */
    void *clock_arg;
    const struct auth_key *key;      /* Borrowed; the lab secret. */
    struct auth_key no_key;
    int64_t (*host_index)(void *, const char *);
    void *host_arg;
    struct fx_ratelimit bad_peers;   /* Log lines about refused uplinks. */
};

static void dplane_resume_all(struct dplane *dp);

/* Uplink 'c' speaks for 'host' from now on: the host gets its output
 * list (allocated only for hosts with an uplink). */
static void
dplane_host_attach(struct dplane *dp, struct dplane_conn *c, uint32_t host)
{
    c->host = host;
    dp->hosts[host] = c;
    dp->n_uplinks++;
    fsw_out_open(dp->out, host);
}

/* Host 'host''s uplink is gone: deliveries to it drop as no_uplink. */
static void
dplane_host_detach(struct dplane *dp, uint32_t host)
{
    dp->hosts[host] = NULL;
    dp->n_uplinks--;
    fsw_out_close(dp->out, host);
    for (uint32_t i = 0; i < dp->n_full; i++) {
        if (dp->full[i] == host) {
            dp->full[i] = dp->full[--dp->n_full];
            break;
        }
    }
}

static void
dplane_conn_close(struct dplane_conn *c)
{
    struct dplane *dp = c->dp;
    struct dplane_conn **pp;

    if (c->host != DPLANE_NO_HOST) {
        dplane_host_detach(dp, c->host);
    }
    if (c->paused) {
        dp->n_paused--;
    }
    for (pp = &dp->conns; *pp != c; pp = &(*pp)->next) {
    }
    *pp = c->next;
    auth_destroy(c->auth);
    bufferevent_free(c->bev);
    free(c);
    dplane_resume_all(dp);       /* Its peers may wait for it to drain. */
}

/* A bad peer is closed; its line is rate-limited, so that a flood of
 * them cannot fill the log. */
static void
dplane_refuse(struct dplane_conn *c, const struct fx_err *err)
{
    unsigned missed;

    if (fx_ratelimit_allow(&c->dp->bad_peers, fx_time_now_ms(), &missed)) {
        if (missed) {
            LOG_WARN("uplink %s: %s; closing it (and %u others, not "
                     "logged)", c->peer, err->msg, missed);
        } else {
            LOG_WARN("uplink %s: %s; closing it", c->peer, err->msg);
        }
    }
    c->dp->refused++;
    dplane_conn_close(c);
}

static size_t
dplane_out_len(const struct dplane_conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Stops reading 'src' while 'dst' has more than DPLANE_PAUSE_BYTES to
 * send; dplane_write_cb() resumes it. */
static void
dplane_maybe_pause(struct dplane_conn *src, const struct dplane_conn *dst)
{
    if (dplane_out_len(dst) > DPLANE_PAUSE_BYTES && !src->paused) {
        src->paused = true;
        src->dp->n_paused++;
        bufferevent_disable(src->bev, EV_READ);
    }
}

/* Resumes the paused uplinks.  The read callback runs deferred, from the
 * loop, so that it finds the bytes already buffered and cannot close a
 * connection under our feet. */
static void
dplane_resume_all(struct dplane *dp)
{
    for (struct dplane_conn *c = dp->conns; c && dp->n_paused; c = c->next) {
        if (c->paused) {
            c->paused = false;
            dp->n_paused--;
            bufferevent_enable(c->bev, EV_READ);
            bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
        }
    }
}

/* An uplink's output drained below its low watermark: if nobody waits
 * (the common case, and free), nothing to do; else resume the waiting
 * once no host has more than DPLANE_PAUSE_BYTES queued. */
static void
dplane_write_cb(struct bufferevent *bev, void *arg)
{
    struct dplane *dp = ((struct dplane_conn *) arg)->dp;

    (void) bev;
    if (dp->n_paused == 0) {
        return;
    }
    for (const struct dplane_conn *c = dp->conns; c; c = c->next) {
        if (c->host != DPLANE_NO_HOST
            && dplane_out_len(c) > DPLANE_PAUSE_BYTES) {
            return;
        }
    }
    dplane_resume_all(dp);
}

/* Host 'h' was just written to: past DPLANE_DROP_BYTES queued, deliveries
 * to it drop as queue_full (its list's cap 0) until it drains, which
 * dplane_unthrottle() sees before a batch.  Only a write can cross the
 * bound, so the hosts below it are never looked at. */
static void
dplane_note_queue(struct dplane *dp, uint32_t h)
{
    struct fsw_host_out *ho = &dp->out->hosts[h];

    if (ho->cap != 0 && dplane_out_len(dp->hosts[h]) > DPLANE_DROP_BYTES) {
        ho->cap = 0;
        dp->full[dp->n_full++] = h;
    }
}

/* The throttled hosts that drained to DPLANE_DROP_BYTES or below take
 * deliveries again. */
static void
dplane_unthrottle(struct dplane *dp)
{
    uint32_t i = 0;

    while (i < dp->n_full) {
        uint32_t h = dp->full[i];

        if (dplane_out_len(dp->hosts[h]) <= DPLANE_DROP_BYTES) {
            dp->out->hosts[h].cap = dp->out->cap;
            dp->full[i] = dp->full[--dp->n_full];
        } else {
            i++;
        }
    }
}

/* ---- Tickets ---- */

static uint64_t
dplane_now(const struct dplane *dp)
{
    return dp->clock_ms ? dp->clock_ms(dp->clock_arg) : fx_time_now_ms();
}

/* Forgets the ticket of 'host' (DPLANE_NO_HOST: none) and every expired
 * one.  Few: an agent presents its ticket within milliseconds. */
static void
dplane_tickets_prune(struct dplane *dp, uint32_t host, uint64_t now)
{
    uint32_t i = 0;

    while (i < dp->n_tickets) {
        if (dp->tickets[i].host == host || dp->tickets[i].expires_ms <= now) {
            dp->tickets[i] = dp->tickets[--dp->n_tickets];
        } else {
            i++;
        }
    }
}

/* Compares in time independent of where the tickets differ, so that the
 * time a HELLO takes to be refused tells nothing of a live ticket. */
static bool
dplane_ticket_eq(const struct dframe_ticket *a, const struct dframe_ticket *b)
{
    uint8_t d = 0;

    for (size_t i = 0; i < DFRAME_TICKET_SIZE; i++) {
        d |= a->bytes[i] ^ b->bytes[i];
    }
    return d == 0;
}

/* Takes the live ticket equal to 'key' (it is good once): returns its host,
 * or DPLANE_NO_HOST if there is none. */
static uint32_t
dplane_ticket_take(struct dplane *dp, const struct dframe_ticket *key)
{
    dplane_tickets_prune(dp, DPLANE_NO_HOST, dplane_now(dp));
    for (uint32_t i = 0; i < dp->n_tickets; i++) {
        if (dplane_ticket_eq(&dp->tickets[i].key, key)) {
            uint32_t host = dp->tickets[i].host;

            dp->tickets[i] = dp->tickets[--dp->n_tickets];
            return host;
        }
    }
    return DPLANE_NO_HOST;
}

int
dplane_ticket_issue(struct dplane *dp, uint32_t host,
                    struct dframe_ticket *ticket, struct fx_err *err)
{
    uint64_t now = dplane_now(dp);

    if (host >= dp->max_hosts) {
        return fx_err_set(err, -EINVAL, "host index %u out of range (the "
                          "data plane takes %u hosts)", host, dp->max_hosts);
    }
    if (getrandom(ticket->bytes, sizeof ticket->bytes, 0)
        != (ssize_t) sizeof ticket->bytes) {
        return fx_err_set(err, errno ? -errno : -EIO, "no random bytes for "
                          "an uplink ticket");
    }
    dplane_tickets_prune(dp, host, now);
    if (dp->n_tickets == dp->cap_tickets) {
        dp->cap_tickets = dp->cap_tickets ? 2 * dp->cap_tickets : 8;
        dp->tickets = realloc(dp->tickets,
                              dp->cap_tickets * sizeof *dp->tickets);
        if (!dp->tickets) {
            abort();
        }
    }
    dp->tickets[dp->n_tickets++] = (struct dplane_ticket) {
        *ticket, host, now + dp->ticket_ttl_ms };
    return 0;
}

uint32_t
dplane_tickets_pending(const struct dplane *dp)
{
    uint64_t now = dplane_now(dp);
    uint32_t n = 0;

    for (uint32_t i = 0; i < dp->n_tickets; i++) {
        n += dp->tickets[i].expires_ms > now;
    }
    return n;
}

void
dplane_host_down(struct dplane *dp, uint32_t host)
{
    if (host >= dp->max_hosts) {
        return;
    }
    dplane_tickets_prune(dp, host, dplane_now(dp));
    if (dp->hosts[host]) {
        LOG_INFO("uplink %s closed: host %u is down", dp->hosts[host]->peer,
                 host);
        dplane_conn_close(dp->hosts[host]);
    }
}

/* The uplink's first message: the ticket says which host it is. */
static int
dplane_hello(struct dplane_conn *c, const struct dframe_hdr *hdr,
             struct fx_err *err)
{
    struct dplane *dp = c->dp;
    struct dframe_ticket ticket;
    uint32_t host;
    int rc = dframe_hello_decode(hdr, dp->rx + DFRAME_HDR_SIZE, &ticket,
                                 err);

    if (rc < 0) {
        return rc;
    }
    if (c->host != DPLANE_NO_HOST) {
        return fx_err_set(err, -EPROTO, "second HELLO");
    }
    host = dplane_ticket_take(dp, &ticket);
    if (host == DPLANE_NO_HOST) {
        return fx_err_set(err, -EACCES, "HELLO with an unknown ticket "
                          "(never issued, used, expired, or its host went "
                          "down)");
    }
    if (dp->host_index && dp->host_index(dp->host_arg, c->agent)
                          != (int64_t) host) {
        return fx_err_set(err, -EACCES, "the agent of host '%s' presents "
                          "the ticket of another host", c->agent);
    }
    if (dp->hosts[host]) {
        LOG_INFO("uplink %s replaces %s as host %u", c->peer,
                 dp->hosts[host]->peer, host);
        dplane_conn_close(dp->hosts[host]);
    }
    dplane_host_attach(dp, c, host);
    LOG_INFO("uplink %s is host %u", c->peer, host);
    return 0;
}

/* Sends host 'h''s deliveries of the batch as few dframe batches. */
static void
dplane_emit(struct dplane *dp, uint32_t h, struct dplane_conn *src)
{
    const struct fsw_host_out *ho = &dp->out->hosts[h];
    struct dplane_conn *dst = dp->hosts[h];
    struct evbuffer *out = bufferevent_get_output(dst->bev);
    struct dframe_writer w;

    dframe_writer_init(&w, dp->tx, DFRAME_MAX_MSG);
    for (uint32_t i = 0; i < ho->n; i++) {
        const struct fsw_frame *f = &dp->frames[ho->d[i].frame];
        if (dframe_writer_add(&w, ho->d[i].dst_vif, f->data, f->len) < 0) {
            evbuffer_add(out, dp->tx, dframe_writer_finish(&w));
            dframe_writer_init(&w, dp->tx, DFRAME_MAX_MSG);
            dframe_writer_add(&w, ho->d[i].dst_vif, f->data, f->len);
        }
    }
    evbuffer_add(out, dp->tx, dframe_writer_finish(&w));
    dplane_maybe_pause(src, dst);
    dplane_note_queue(dp, h);
}

static struct dplane_hold *
dplane_hold_find(const struct dplane *dp, uint32_t vif_id)
{
    struct dplane_hold *h = dp->holds;

    while (h && h->vif_id != vif_id) {
        h = h->next;
    }
    return h;
}

/* Copies the batch's frames for held VIFs into their hold buffers. */
static void
dplane_hold_batch(struct dplane *dp)
{
    const struct fsw_host_out *ho = &dp->out->held;

    for (uint32_t i = 0; i < ho->n; i++) {
        const struct fsw_frame *f = &dp->frames[ho->d[i].frame];
        struct dplane_hold *h = dplane_hold_find(dp, ho->d[i].dst_vif);
        if (!h) {                /* Held in the engine only: cannot be. */
            continue;
        }
        if (h->n == h->cap || f->len > h->bytes - h->used) {
            fsw_port_account_held(dp->sw, h->vif_id, 0, 0, 1);
            continue;
        }
        memcpy(h->data + h->used, f->data, f->len);
        h->off[h->n] = h->used;
        h->len[h->n++] = f->len;
        h->used += f->len;
    }
}

static void
dplane_switch_batch(struct dplane_conn *c, const struct dframe_hdr *hdr)
{
    struct dplane *dp = c->dp;

    for (uint16_t i = 0; i < hdr->count; i++) {
        dp->frames[i] = (struct fsw_frame) { .src_vif = dp->recs[i].vif,
                                             .len = dp->recs[i].len,
                                             .data = dp->recs[i].data };
    }
    /* Per batch, no loop over every host: the lists of hosts with an
     * uplink are open (ready) since their HELLO, the throttled ones are
     * few, and one pass over the open hosts sends and empties the lists
     * the batch filled, so that they are all empty before the next.
     * (Listing the hosts each batch reached instead cost every delivery
     * a test, ~0.35 ns a frame in bench_dataplane.) */
    if (dp->n_full > 0) {
        dplane_unthrottle(dp);
    }
    fsw_switch_batch(dp->sw, c->host, dp->frames, hdr->count, dp->out);
    if (dp->out->held.n > 0) {
        dplane_hold_batch(dp);
        dp->out->held.n = 0;
    }
    for (uint32_t i = 0; i < dp->out->n_open; i++) {
        uint32_t h = dp->out->open[i];

        if (dp->out->hosts[h].n > 0) {
            dplane_emit(dp, h, c);
            dp->out->hosts[h].n = 0;
        }
    }
}

/* The baseline: the batch goes on as it came, to the sender's peer. */
static void
dplane_relay_batch(struct dplane_conn *c, const struct dframe_hdr *hdr)
{
    uint32_t peer = c->host ^ 1;
    struct dplane_conn *dst = peer < c->dp->max_hosts ? c->dp->hosts[peer]
                                                      : NULL;

    if (dst) {
        evbuffer_add(bufferevent_get_output(dst->bev), c->dp->rx,
                     DFRAME_HDR_SIZE + hdr->length);
        dplane_maybe_pause(c, dst);
    }
}

static int
dplane_batch(struct dplane_conn *c, const struct dframe_hdr *hdr,
             struct fx_err *err)
{
    struct dplane *dp = c->dp;
    int rc;

    if (c->host == DPLANE_NO_HOST) {
        return fx_err_set(err, -EPROTO, "frames before HELLO");
    }
    rc = dframe_batch_parse(hdr, dp->rx + DFRAME_HDR_SIZE, dp->recs, err);
    if (rc < 0) {
        return rc;
    }
    if (dp->relay) {
        dplane_relay_batch(c, hdr);
    } else {
        dplane_switch_batch(c, hdr);
    }
    return 0;
}

/* The switchover's drain: every frame the host sent from 'vif' came
 * before, and has been switched; hold the VIF now and echo the marker
 * behind every frame switched to it so far (they are already in the
 * host's output, in order).  A VIF that is not a port of this host is
 * garbage like any malformed record. */
static int
dplane_marker(struct dplane_conn *c, const struct dframe_hdr *hdr,
              struct fx_err *err)
{
    struct dplane *dp = c->dp;
    uint8_t echo[DFRAME_MARKER_SIZE];
    uint32_t token, vif;
    int rc = dframe_marker_decode(hdr, dp->rx + DFRAME_HDR_SIZE, &token,
                                  &vif, err);

    if (rc < 0) {
        return rc;
    }
    if (c->host == DPLANE_NO_HOST) {
        return fx_err_set(err, -EPROTO, "MARKER before HELLO");
    }
    if (!dp->relay) {
        if (fsw_port_host(dp->sw, vif) != c->host) {
            return fx_err_set(err, -EINVAL, "MARKER for VIF %u, not a port "
                              "of host %u", vif, c->host);
        }
        if (!fsw_port_is_held(dp->sw, vif)) {
            if ((rc = dplane_port_hold(dp, vif, err)) < 0) {
                return rc;
            }
            if (dp->hold_fn) {
                dp->hold_fn(dp->hold_arg, vif);
            }
        }
    }
    evbuffer_add(bufferevent_get_output(c->bev), echo,
                 dframe_marker_encode(echo, token, vif));
    if (!dp->relay) {
        dplane_note_queue(dp, c->host);
    }
    dp->markers++;
    return 0;
}

static int
dplane_message(struct dplane_conn *c, const struct dframe_hdr *hdr,
               struct fx_err *err)
{
    switch (hdr->type) {
    case DFRAME_HELLO:
        return dplane_hello(c, hdr, err);
    case DFRAME_MARKER:
        return dplane_marker(c, hdr, err);
    default:
        return dplane_batch(c, hdr, err);
    }
}

/* The lab secret's handshake on what has arrived: 1 once the agent is
 * proven (frames follow), 0 while not yet, -1 if refused (closed). */
static int
dplane_prove(struct dplane_conn *c, struct evbuffer *in)
{
    struct evbuffer *out = evbuffer_new();
    struct fx_err err;
    int rc;

    if (!out) {
        abort();
    }
    rc = auth_io(c->auth, in, out, &err);
    if (rc < 0) {
        /* The peer hears why, in one small write, before the close. */
        uint8_t why[AUTH_MSG_MAX];
        ev_ssize_t n = evbuffer_remove(out, why, sizeof why);

        if (n > 0) {
            send(bufferevent_getfd(c->bev), why, (size_t) n,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        evbuffer_free(out);
        dplane_refuse(c, &err);
        return -1;
    }
    bufferevent_write_buffer(c->bev, out);
    evbuffer_free(out);
    if (rc == 1) {
        snprintf(c->agent, sizeof c->agent, "%s", auth_peer(c->auth)->name);
        auth_destroy(c->auth);
        c->auth = NULL;
        bufferevent_set_timeouts(c->bev, NULL, NULL);
    }
    return rc;
}

static void
dplane_read_cb(struct bufferevent *bev, void *arg)
{
    struct dplane_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct dframe_hdr hdr;
    struct fx_err err;
    int rc;

    if (c->auth && dplane_prove(c, in) <= 0) {
        return;
    }
    while (!c->paused && (rc = dframe_take(in, c->dp->rx, &hdr, &err)) != 0) {
        if (rc > 0) {
            rc = dplane_message(c, &hdr, &err);
        }
        if (rc < 0) {
            dplane_refuse(c, &err);
            return;
        }
    }
}

static void
dplane_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct dplane_conn *c = arg;

    (void) bev;
    if (what & BEV_EVENT_TIMEOUT) {
        struct fx_err err;

        fx_err_set(&err, -ETIMEDOUT, "no lab secret's handshake within "
                   "%d ms", AUTH_TIMEOUT_MS);
        dplane_refuse(c, &err);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        LOG_DBG("uplink %s closed", c->peer);
        dplane_conn_close(c);
    }
}

static void
dplane_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                 struct sockaddr *sa, int salen, void *arg)
{
    static const struct timeval auth_tv = {
        AUTH_TIMEOUT_MS / 1000, AUTH_TIMEOUT_MS % 1000 * 1000
    };
    static const struct auth_ident me = { .role = AUTH_ROLE_FABRIC };
    struct dplane *dp = arg;
    struct dplane_conn *c = calloc(1, sizeof *c);

    (void) l;
    (void) salen;
    if (!c) {
        abort();
    }
    c->dp = dp;
    c->host = DPLANE_NO_HOST;
    fx_addr_format(sa, c->peer, sizeof c->peer);
    /* Nothing but the handshake is read until an agent proves the lab
     * secret, within AUTH_TIMEOUT_MS. */
    c->auth = auth_server_new(dp->key ? dp->key : &dp->no_key, &me,
                              AUTH_ROLE_MASK(AUTH_ROLE_AGENT));
    if (!c->auth) {
        abort();
    }
    c->bev = bufferevent_socket_new(dp->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_set_timeouts(c->bev, &auth_tv, NULL);
    bufferevent_setcb(c->bev, dplane_read_cb, dplane_write_cb,
                      dplane_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, DPLANE_PAUSE_BYTES / 2, 0);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    /* Batches are whole writes already: Nagle would only add latency. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int) { 1 }, sizeof(int));
    c->next = dp->conns;
    dp->conns = c;
}

static void
dplane_hold_free(struct dplane *dp, struct dplane_hold *h)
{
    struct dplane_hold **pp = &dp->holds;

    while (*pp != h) {
        pp = &(*pp)->next;
    }
    *pp = h->next;
    free(h->off);
    free(h->len);
    free(h->data);
    free(h);
}

int
dplane_create(struct event_base *base, const struct dplane_cfg *cfg,
              struct dplane **dpp, struct fx_err *err)
{
    struct sockaddr_storage ss;
    struct dplane *dp;
    int len, rc = fx_addr_parse(cfg->listen, &ss, &len, err);

    if (rc < 0) {
        return rc;
    }
    if (cfg->max_hosts == 0 || cfg->max_ports == 0) {
        return fx_err_set(err, -EINVAL, "data plane needs hosts and ports");
    }
    dp = calloc(1, sizeof *dp);
    if (!dp) {
        abort();
    }
    dp->base = base;
    dp->relay = cfg->relay;
    dp->hold_frames = cfg->hold_frames ? cfg->hold_frames
                                       : DPLANE_HOLD_FRAMES;
    dp->hold_bytes = cfg->hold_bytes ? cfg->hold_bytes : DPLANE_HOLD_BYTES;
    dp->ticket_ttl_ms = cfg->ticket_ttl_ms ? cfg->ticket_ttl_ms
                                           : DPLANE_TICKET_TTL_MS;
    dp->clock_ms = cfg->clock_ms;
    dp->clock_arg = cfg->clock_arg;
    dp->key = cfg->key;
    auth_key_none(&dp->no_key);
    dp->host_index = cfg->host_index;
    dp->host_arg = cfg->host_arg;
    fx_ratelimit_init(&dp->bad_peers, 10, 10000);
    dp->max_hosts = cfg->max_hosts;
    dp->sw = fsw_create(cfg->max_ports, cfg->max_hosts, cfg->max_macs);
    dp->out = fsw_out_create_closed(cfg->max_hosts, DPLANE_OUT_CAP);
    dp->hosts = calloc(cfg->max_hosts, sizeof *dp->hosts);
    dp->full = calloc(cfg->max_hosts, sizeof *dp->full);
    dp->rx = malloc(DFRAME_MAX_MSG);
    dp->tx = malloc(DFRAME_MAX_MSG);
    dp->recs = malloc(DFRAME_MAX_COUNT * sizeof *dp->recs);
    dp->frames = malloc(DFRAME_MAX_COUNT * sizeof *dp->frames);
    if (!dp->hosts || !dp->full || !dp->rx || !dp->tx || !dp->recs
        || !dp->frames) {
        abort();
    }
    dp->listener = evconnlistener_new_bind(
        base, dplane_accept_cb, dp, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
        64, (struct sockaddr *) &ss, len);
    if (!dp->listener) {
        rc = -errno;
        dplane_destroy(dp);
        return fx_err_set(err, rc ? rc : -EADDRINUSE,
                          "cannot listen for uplinks on '%s'", cfg->listen);
    }
    *dpp = dp;
    return 0;
}

void
dplane_destroy(struct dplane *dp)
{
    if (!dp) {
        return;
    }
    while (dp->conns) {
        dplane_conn_close(dp->conns);
    }
    if (dp->listener) {
        evconnlistener_free(dp->listener);
    }
    while (dp->holds) {
        dplane_hold_free(dp, dp->holds);
    }
    fsw_out_destroy(dp->out);
    fsw_destroy(dp->sw);
    free(dp->hosts);
    free(dp->full);
    free(dp->rx);
    free(dp->tx);
    free(dp->recs);
    free(dp->frames);
    free(dp->tickets);
    free(dp);
}

uint16_t
dplane_listen_port(const struct dplane *dp)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;

    getsockname(evconnlistener_get_fd(dp->listener),
                (struct sockaddr *) &sin, &len);
    return ntohs(sin.sin_port);
}

uint32_t dplane_uplink_count(const struct dplane *dp)
{
    return dp->n_uplinks;
}

uint64_t dplane_markers(const struct dplane *dp) { return dp->markers; }
uint64_t dplane_uplinks_refused(const struct dplane *dp)
{
    return dp->refused;
}

int
dplane_port_add(struct dplane *dp, uint32_t vif_id, uint32_t host,
                const uint16_t *vlans, size_t n_vlans, struct fx_err *err)
{
    return fsw_port_add(dp->sw, vif_id, host, vlans, n_vlans, err);
}

int
dplane_port_set_up(struct dplane *dp, uint32_t vif_id, bool up,
                   struct fx_err *err)
{
    return fsw_port_set_up(dp->sw, vif_id, up, err);
}

int
dplane_port_set_host(struct dplane *dp, uint32_t vif_id, uint32_t host,
                     struct fx_err *err)
{
    return fsw_port_set_host(dp->sw, vif_id, host, err);
}

int
dplane_port_del(struct dplane *dp, uint32_t vif_id, struct fx_err *err)
{
    struct dplane_hold *h = dplane_hold_find(dp, vif_id);
    int rc = fsw_port_del(dp->sw, vif_id, err);

    if (rc == 0 && h) {
        LOG_WARN("VIF %u deleted while held: %u held frames lost", vif_id,
                 h->n);
        dplane_hold_free(dp, h);
    }
    return rc;
}

/* Frames lost to overflow by the port since 'since' (its count then). */
static uint64_t
dplane_hold_lost(const struct dplane *dp, uint32_t vif_id, uint64_t since)
{
    struct fsw_counters c;

    if (fsw_port_counters(dp->sw, vif_id, &c) < 0) {
        return 0;
    }
    return c.drops[FSW_DROP_HOLD_OVERFLOW] - since;
}

int
dplane_port_hold(struct dplane *dp, uint32_t vif_id, struct fx_err *err)
{
    struct dplane_hold *h;
    int rc;

    if (dplane_hold_find(dp, vif_id)) {
        return fx_err_set(err, -EALREADY, "VIF %u is already held", vif_id);
    }
    rc = fsw_port_set_held(dp->sw, vif_id, true, err);
    if (rc < 0) {
        return rc;
    }
    h = calloc(1, sizeof *h);
    if (!h || !(h->off = malloc(dp->hold_frames * sizeof *h->off)) ||
        !(h->len = malloc(dp->hold_frames * sizeof *h->len)) ||
        !(h->data = malloc(dp->hold_bytes))) {
        abort();
    }
    h->vif_id = vif_id;
    h->drops0 = dplane_hold_lost(dp, vif_id, 0);
    h->cap = dp->hold_frames;
    h->bytes = dp->hold_bytes;
    h->next = dp->holds;
    dp->holds = h;
    return 0;
}

/* Writes the held frames of 'h', in order, to 'dst''s output. */
static uint64_t
dplane_hold_flush(struct dplane *dp, const struct dplane_hold *h,
                  struct dplane_conn *dst)
{
    struct evbuffer *out = bufferevent_get_output(dst->bev);
    struct dframe_writer w;
    uint64_t bytes = 0;

    dframe_writer_init(&w, dp->tx, DFRAME_MAX_MSG);
    for (uint32_t i = 0; i < h->n; i++) {
        const uint8_t *f = h->data + h->off[i];
        if (dframe_writer_add(&w, h->vif_id, f, h->len[i]) < 0) {
            evbuffer_add(out, dp->tx, dframe_writer_finish(&w));
            dframe_writer_init(&w, dp->tx, DFRAME_MAX_MSG);
            dframe_writer_add(&w, h->vif_id, f, h->len[i]);
        }
        bytes += h->len[i];
    }
    if (h->n > 0) {
        evbuffer_add(out, dp->tx, dframe_writer_finish(&w));
    }
    return bytes;
}

int
dplane_port_release(struct dplane *dp, uint32_t vif_id, uint32_t new_host,
                    uint64_t *held, uint64_t *dropped, struct fx_err *err)
{
    struct dplane_hold *h = dplane_hold_find(dp, vif_id);
    uint64_t bytes;
    int rc;

    if (!h) {
        if (fsw_port_host(dp->sw, vif_id) == UINT32_MAX) {
            return fx_err_set(err, -ENOENT, "VIF %u has no port", vif_id);
        }
        return fx_err_set(err, -EINVAL, "VIF %u is not held", vif_id);
    }
    if (new_host >= dp->max_hosts) {
        return fx_err_set(err, -EINVAL, "host index %u out of range",
                          new_host);
    }
    if (!dp->hosts[new_host]) {
        return fx_err_set(err, -EHOSTUNREACH, "host %u has no uplink",
                          new_host);
    }
    rc = fsw_port_set_host(dp->sw, vif_id, new_host, err);
    if (rc < 0) {
        return rc;
    }
    bytes = dplane_hold_flush(dp, h, dp->hosts[new_host]);
    dplane_note_queue(dp, new_host);
    fsw_port_account_held(dp->sw, vif_id, h->n, bytes, 0);
    fsw_port_set_held(dp->sw, vif_id, false, NULL);
    if (held) {
        *held = h->n;
    }
    if (dropped) {
        *dropped = dplane_hold_lost(dp, vif_id, h->drops0);
    }
    dplane_hold_free(dp, h);
    return 0;
}

int
dplane_port_hold_stats(const struct dplane *dp, uint32_t vif_id,
                       uint64_t *held, uint64_t *dropped)
{
    const struct dplane_hold *h = dplane_hold_find(dp, vif_id);

    if (!h) {
        return -ENOENT;
    }
    *held = h->n;
    *dropped = dplane_hold_lost(dp, vif_id, h->drops0);
    return 0;
}

int
dplane_port_counters(const struct dplane *dp, uint32_t vif_id,
                     struct fsw_counters *c)
{
    return fsw_port_counters(dp->sw, vif_id, c);
}

const struct fswitch *
dplane_switch(const struct dplane *dp)
{
    return dp->sw;
}

void
dplane_set_hold_hook(struct dplane *dp, void (*fn)(void *, uint32_t),
                     void *arg)
{
    dp->hold_fn = fn;
    dp->hold_arg = arg;
}
