/* traffic: see traffic.h. */
#include "traffic.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "fx_time.h"

/* Most frames one generator sends in one tick: bounds the burst after a
 * stall, so a late timer does not flood the uplink. */
#define TRAFFIC_MAX_BURST 4096u

static void
traffic_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t) (v >> (24 - 8 * i));
    }
}

static void
traffic_put64(uint8_t *p, uint64_t v)
{
    traffic_put32(p, (uint32_t) (v >> 32));
    traffic_put32(p + 4, (uint32_t) v);
}

static uint32_t
traffic_get32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
           (uint32_t) p[2] << 8 | p[3];
}

static uint64_t
traffic_get64(const uint8_t *p)
{
    return (uint64_t) traffic_get32(p) << 32 | traffic_get32(p + 4);
}

/* ---- Generator ---- */

int
traffic_gen_check(const struct traffic_gen_cfg *cfg, struct fx_err *err)
{
    if (cfg->size < TRAFFIC_MIN_SIZE || cfg->size > TRAFFIC_MAX_SIZE) {
        return fx_err_set(err, -EINVAL, "frame size %u is not in %u..%u",
                          cfg->size, TRAFFIC_MIN_SIZE, TRAFFIC_MAX_SIZE);
    }
    if (cfg->rate_pps == 0) {
        return fx_err_set(err, -EINVAL, "rate must be at least 1 pps");
    }
    if (cfg->dst_mac[0] & 1 || cfg->src_mac[0] & 1) {
        return fx_err_set(err, -EINVAL, "flow MACs must be unicast");
    }
    return 0;
}

void
traffic_gen_init(struct traffic_gen *g, const struct traffic_gen_cfg *cfg,
                 uint64_t now_us)
{
    memset(g, 0, sizeof *g);
    g->cfg = *cfg;
    g->start_us = now_us;
}

bool
traffic_gen_done(const struct traffic_gen *g)
{
    return g->cfg.count != 0 && g->sent >= g->cfg.count;
}

uint64_t
traffic_gen_due(const struct traffic_gen *g, uint64_t now_us)
{
    uint64_t elapsed = now_us > g->start_us ? now_us - g->start_us : 0;
    /* +1: the first frame leaves at once. */
    uint64_t target = elapsed * g->cfg.rate_pps / 1000000u + 1;

    if (g->cfg.count != 0 && target > g->cfg.count) {
        target = g->cfg.count;
    }
    return target > g->sent ? target - g->sent : 0;
}

void
traffic_gen_fill(struct traffic_gen *g, uint8_t *f, uint64_t now_us)
{
    memcpy(f, g->cfg.dst_mac, 6);
    memcpy(f + 6, g->cfg.src_mac, 6);
    f[12] = (uint8_t) (TRAFFIC_ETHERTYPE >> 8);
    f[13] = (uint8_t) TRAFFIC_ETHERTYPE;
    traffic_put32(f + 14, TRAFFIC_MAGIC);
    traffic_put32(f + 18, g->cfg.flow_id);
    traffic_put64(f + 22, g->sent);
    traffic_put64(f + 30, now_us);
    /* The rest of the payload is left as the buffer had it: the fabric
     * never reads it, and zeroing 1.5 KB per frame costs more than the
     * switching. */
    g->sent++;
}

int
traffic_parse(const uint8_t *f, size_t len, uint32_t *flow_id, uint64_t *seq,
              uint64_t *sent_us)
{
    if (len < TRAFFIC_HDR_SIZE ||
        ((uint16_t) f[12] << 8 | f[13]) != TRAFFIC_ETHERTYPE ||
        traffic_get32(f + 14) != TRAFFIC_MAGIC) {
        return -EBADMSG;
    }
    *flow_id = traffic_get32(f + 18);
    *seq = traffic_get64(f + 22);
    *sent_us = traffic_get64(f + 30);
    return 0;
}

/* ---- Sink ---- */

void
traffic_sink_init(struct traffic_sink *s, uint32_t flow_id)
{
    memset(s, 0, sizeof *s);
    s->flow_id = flow_id;
    fx_hist_init(&s->latency_us);
}

static bool
traffic_bit_test_set(struct traffic_sink *s, uint64_t seq)
{
    uint64_t *w = &s->window[(seq / 64) % (TRAFFIC_WINDOW / 64)];
    uint64_t bit = 1ull << (seq % 64);
    bool was = *w & bit;

    *w |= bit;
    return was;
}

/* Moves the window's top from 'highest' to 'seq', clearing the bits of
 * the sequences it slides over. */
static void
traffic_window_advance(struct traffic_sink *s, uint64_t seq)
{
    uint64_t from = s->any ? s->highest + 1 : 0;

    if (seq - from >= TRAFFIC_WINDOW) {
        memset(s->window, 0, sizeof s->window);
        return;
    }
    /* Up to 'seq' included, which may be the last sequence number: a
     * 'q <= seq' test would never end there. */
    for (uint64_t q = from;; q++) {
        s->window[(q / 64) % (TRAFFIC_WINDOW / 64)] &= ~(1ull << (q % 64));
        if (q == seq) {
            break;
        }
    }
}

void
traffic_sink_rx(struct traffic_sink *s, uint64_t seq, uint64_t latency_us)
{
    s->received++;
    fx_hist_add(&s->latency_us, latency_us);
    if (!s->any || seq > s->highest) {
        traffic_window_advance(s, seq);
        s->highest = seq;
        s->any = true;
        traffic_bit_test_set(s, seq);
        s->distinct++;
        return;
    }
    if (s->highest - seq >= TRAFFIC_WINDOW) {
        s->reordered++;          /* Too old to tell: assume distinct. */
        s->distinct++;
    } else if (traffic_bit_test_set(s, seq)) {
        s->duplicated++;
    } else {
        s->reordered++;
        s->distinct++;
    }
}

void
traffic_sink_stats(const struct traffic_sink *s, struct traffic_stats *st)
{
    uint64_t expected = s->any ? s->highest + 1 : 0;

    st->flow_id = s->flow_id;
    st->received = s->received;
    st->duplicated = s->duplicated;
    st->reordered = s->reordered;
    st->lost = expected > s->distinct ? expected - s->distinct : 0;
    st->p50_us = fx_hist_pct(&s->latency_us, 50);
    st->p99_us = fx_hist_pct(&s->latency_us, 99);
}

/* ---- With a timer ---- */

struct traffic_flow {
    uint32_t flow_id;
    bool has_gen, gen_running, has_sink;
    bool parked;                     /* Migrated in: runs once the fabric
                                      * maps its VIF here. */
    struct traffic_gen gen;
    struct traffic_sink *sink;       /* Owned; large, so on the heap. */
};

struct traffic {
    struct event_base *base;         /* Borrowed. */
    struct traffic_io io;
    struct event *tick;              /* Owned; pending while a gen runs. */
    uint64_t foreign;
    uint32_t n_flows;
    struct traffic_flow flows[TRAFFIC_MAX_FLOWS];
};

static struct traffic_flow *
traffic_find(const struct traffic *t, uint32_t flow_id)
{
    for (uint32_t i = 0; i < t->n_flows; i++) {
        if (t->flows[i].flow_id == flow_id) {
            return (struct traffic_flow *) &t->flows[i];
        }
    }
    return NULL;
}

static struct traffic_flow *
traffic_find_or_add(struct traffic *t, uint32_t flow_id, struct fx_err *err)
{
    struct traffic_flow *f = traffic_find(t, flow_id);

    if (f) {
        return f;
    }
    if (t->n_flows == TRAFFIC_MAX_FLOWS) {
        fx_err_set(err, -ENOSPC, "too many flows (max %u)",
                   TRAFFIC_MAX_FLOWS);
        return NULL;
    }
    f = &t->flows[t->n_flows++];
    memset(f, 0, sizeof *f);
    f->flow_id = flow_id;
    return f;
}

/* Sends what each running generator owes, then flushes once: one batch
 * per tick however many flows. */
static void
traffic_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct traffic *t = arg;
    uint64_t now = fx_time_now_us();

    (void) fd;
    (void) what;
    for (uint32_t i = 0; i < t->n_flows; i++) {
        struct traffic_gen *g = &t->flows[i].gen;
        uint64_t due;
        if (!t->flows[i].gen_running) {
            continue;
        }
        due = traffic_gen_due(g, now);
        due = due < TRAFFIC_MAX_BURST ? due : TRAFFIC_MAX_BURST;
        for (uint64_t k = 0; k < due; k++) {
            uint8_t *p = t->io.reserve(t->io.arg, g->cfg.src_vif,
                                       g->cfg.size);
            if (!p) {
                break;
            }
            traffic_gen_fill(g, p, now);
        }
        if (traffic_gen_done(g)) {
            t->flows[i].gen_running = false;
        }
    }
    t->io.flush(t->io.arg);
    if (traffic_idle(t)) {
        event_del(t->tick);      /* No wakeups while nothing sends. */
    }
}

struct traffic *
traffic_create(struct event_base *base, const struct traffic_io *io)
{
    struct traffic *t = calloc(1, sizeof *t);

    if (!t) {
        abort();
    }
    t->base = base;
    t->io = *io;
    t->tick = event_new(base, -1, EV_PERSIST, traffic_tick_cb, t);
    if (!t->tick) {
        abort();
    }
    return t;
}

void
traffic_destroy(struct traffic *t)
{
    if (!t) {
        return;
    }
    for (uint32_t i = 0; i < t->n_flows; i++) {
        free(t->flows[i].sink);
    }
    event_free(t->tick);
    free(t);
}

int
traffic_gen_start(struct traffic *t, const struct traffic_gen_cfg *cfg,
                  struct fx_err *err)
{
    struct traffic_flow *f;
    int rc = traffic_gen_check(cfg, err);

    if (rc < 0) {
        return rc;
    }
    if (!(f = traffic_find_or_add(t, cfg->flow_id, err))) {
        return -ENOSPC;
    }
    if (f->has_gen) {
        return fx_err_set(err, -EEXIST, "flow %u already sends here",
                          cfg->flow_id);
    }
    traffic_gen_init(&f->gen, cfg, fx_time_now_us());
    f->has_gen = f->gen_running = true;
    if (!event_pending(t->tick, EV_TIMEOUT, NULL)) {
        const struct timeval tv = { 0, TRAFFIC_TICK_US };
        event_add(t->tick, &tv);
    }
    return 0;
}

int
traffic_sink_open(struct traffic *t, uint32_t flow_id, struct fx_err *err)
{
    struct traffic_flow *f = traffic_find_or_add(t, flow_id, err);

    if (!f) {
        return -ENOSPC;
    }
    if (f->has_sink) {
        return fx_err_set(err, -EEXIST, "flow %u already received here",
                          flow_id);
    }
    f->sink = malloc(sizeof *f->sink);
    if (!f->sink) {
        abort();
    }
    traffic_sink_init(f->sink, flow_id);
    f->has_sink = true;
    return 0;
}

int
traffic_sink_set_macs(struct traffic *t, uint32_t flow_id,
                      const uint8_t src_mac[6], const uint8_t dst_mac[6])
{
    struct traffic_flow *f = traffic_find(t, flow_id);

    if (!f || !f->has_sink) {
        return -ENOENT;
    }
    memcpy(f->sink->src_mac, src_mac, 6);
    memcpy(f->sink->dst_mac, dst_mac, 6);
    return 0;
}

int
traffic_stop(struct traffic *t, uint32_t flow_id, struct fx_err *err)
{
    struct traffic_flow *f = traffic_find(t, flow_id);

    if (!f) {
        return fx_err_set(err, -ENOENT, "no flow %u here", flow_id);
    }
    free(f->sink);
    *f = t->flows[--t->n_flows];
    return 0;
}

void
traffic_pause_all(struct traffic *t)
{
    for (uint32_t i = 0; i < t->n_flows; i++) {
        t->flows[i].gen_running = false;
    }
}

void
traffic_rx(void *arg, uint32_t vif, const uint8_t *frame, size_t len)
{
    struct traffic *t = arg;
    struct traffic_flow *f;
    uint32_t flow_id;
    uint64_t seq, sent_us, now;

    (void) vif;
    if (traffic_parse(frame, len, &flow_id, &seq, &sent_us) < 0 ||
        !(f = traffic_find(t, flow_id)) || !f->has_sink) {
        t->foreign++;
        return;
    }
    now = fx_time_now_us();
    traffic_sink_rx(f->sink, seq, now > sent_us ? now - sent_us : 0);
}

uint64_t traffic_foreign(const struct traffic *t) { return t->foreign; }

int
traffic_stats_get(const struct traffic *t, uint32_t flow_id,
                  struct traffic_stats *st)
{
    const struct traffic_flow *f = traffic_find(t, flow_id);

    if (!f) {
        return -ENOENT;
    }
    memset(st, 0, sizeof *st);
    if (f->has_sink) {
        traffic_sink_stats(f->sink, st);
    }
    st->flow_id = flow_id;
    st->sent = f->has_gen ? f->gen.sent : 0;
    return 0;
}

uint32_t
traffic_flow_ids(const struct traffic *t, uint32_t *ids, uint32_t max)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < t->n_flows && n < max; i++) {
        ids[n++] = t->flows[i].flow_id;
    }
    return n;
}

/* Appends the end ('sender' or not) of flow 'f' to 'ends' if room. */
static void
traffic_end_put(const struct traffic_flow *f, bool sender,
                struct traffic_end *ends, size_t max, size_t *np)
{
    struct traffic_end *e;

    if (*np == max) {
        return;
    }
    e = &ends[*np];
    e->flow_id = f->flow_id;
    e->sender = sender;
    memcpy(e->src_mac, sender ? f->gen.cfg.src_mac : f->sink->src_mac, 6);
    memcpy(e->dst_mac, sender ? f->gen.cfg.dst_mac : f->sink->dst_mac, 6);
    (*np)++;
}

size_t
traffic_ends(const struct traffic *t, struct traffic_end *ends, size_t max)
{
    size_t n = 0;

    for (uint32_t i = 0; i < t->n_flows; i++) {
        if (t->flows[i].has_gen) {
            traffic_end_put(&t->flows[i], true, ends, max, &n);
        }
        if (t->flows[i].has_sink) {
            traffic_end_put(&t->flows[i], false, ends, max, &n);
        }
    }
    return n;
}

bool
traffic_running(const struct traffic *t, uint32_t flow_id)
{
    const struct traffic_flow *f = traffic_find(t, flow_id);

    return f && f->gen_running;
}

bool
traffic_idle(const struct traffic *t)
{
    for (uint32_t i = 0; i < t->n_flows; i++) {
        if (t->flows[i].gen_running) {
            return false;
        }
    }
    return true;
}

const struct fx_hist *
traffic_latency(const struct traffic *t, uint32_t flow_id)
{
    const struct traffic_flow *f = traffic_find(t, flow_id);

    return f && f->has_sink ? &f->sink->latency_us : NULL;
}

/* ---- Migration: the guest's traffic state moves with it ---- */

#define TRAFFIC_MIG_MAGIC 0x46584d54u       /* "FXMT" */
enum { TRAFFIC_MIG_GEN = 1, TRAFFIC_MIG_SINK = 2 };

static void
traffic_arm(struct traffic *t)
{
    if (!traffic_idle(t) && !event_pending(t->tick, EV_TIMEOUT, NULL)) {
        const struct timeval tv = { 0, TRAFFIC_TICK_US };

        event_add(t->tick, &tv);
    }
}

/* Appends one record: kind, running flag, flow id, then 'len' bytes. */
static void
traffic_mig_put(uint8_t **p, uint8_t kind, bool running, uint32_t flow_id,
                const void *body, size_t len)
{
    (*p)[0] = kind;
    (*p)[1] = running;
    (*p)[2] = (*p)[3] = 0;
    traffic_put32(*p + 4, flow_id);
    memcpy(*p + 8, body, len);
    *p += 8 + len;
}

int
traffic_export(struct traffic *t, const uint32_t *gens, size_t n_gens,
               const uint32_t *sinks, size_t n_sinks, uint8_t **bufp,
               size_t *sizep)
{
    size_t max = 8 + n_gens * (8 + sizeof(struct traffic_gen))
                 + n_sinks * (8 + sizeof(struct traffic_sink));
    uint8_t *buf = malloc(max), *p = buf + 8;
    uint32_t n = 0;

    if (!buf) {
        abort();
    }
    for (size_t i = 0; i < n_gens; i++) {
        struct traffic_flow *f = traffic_find(t, gens[i]);

        if (f && f->has_gen) {
            /* Paused for the switchover, it runs on where it lands. */
            traffic_mig_put(&p, TRAFFIC_MIG_GEN, !traffic_gen_done(&f->gen),
                            f->flow_id, &f->gen, sizeof f->gen);
            f->gen_running = false;      /* The guest is stopped. */
            n++;
        }
    }
    for (size_t i = 0; i < n_sinks; i++) {
        struct traffic_flow *f = traffic_find(t, sinks[i]);

        if (f && f->has_sink) {
            traffic_mig_put(&p, TRAFFIC_MIG_SINK, false, f->flow_id, f->sink,
                            sizeof *f->sink);
            n++;
        }
    }
    traffic_put32(buf, TRAFFIC_MIG_MAGIC);
    traffic_put32(buf + 4, n);
    *bufp = buf;
    *sizep = (size_t) (p - buf);
    return 0;
}

void
traffic_unpark(struct traffic *t, uint32_t vif)
{
    for (uint32_t i = 0; i < t->n_flows; i++) {
        struct traffic_flow *f = &t->flows[i];

        if (f->parked && f->gen.cfg.src_vif == vif) {
            f->parked = false;
            f->gen_running = true;
        }
    }
    traffic_arm(t);
}

void
traffic_pause(struct traffic *t, const uint32_t *gens, size_t n_gens)
{
    for (size_t i = 0; i < n_gens; i++) {
        struct traffic_flow *f = traffic_find(t, gens[i]);

        if (f) {
            f->gen_running = false;
        }
    }
}

void
traffic_resume(struct traffic *t, const uint32_t *gens, size_t n_gens)
{
    for (size_t i = 0; i < n_gens; i++) {
        struct traffic_flow *f = traffic_find(t, gens[i]);

        if (f && f->has_gen && !traffic_gen_done(&f->gen)) {
            f->gen_running = true;
        }
    }
    traffic_arm(t);
}

void
traffic_forget(struct traffic *t, const uint32_t *gens, size_t n_gens,
               const uint32_t *sinks, size_t n_sinks)
{
    for (size_t i = 0; i < n_gens; i++) {
        struct traffic_flow *f = traffic_find(t, gens[i]);

        if (f) {
            f->has_gen = f->gen_running = false;
        }
    }
    for (size_t i = 0; i < n_sinks; i++) {
        struct traffic_flow *f = traffic_find(t, sinks[i]);

        if (f && f->has_sink) {
            free(f->sink);
            f->sink = NULL;
            f->has_sink = false;
        }
    }
    for (uint32_t i = 0; i < t->n_flows;) {
        struct traffic_flow *f = &t->flows[i];

        if (!f->has_gen && !f->has_sink) {
            *f = t->flows[--t->n_flows];
        } else {
            i++;
        }
    }
}

/* Checks the body of a whole record at 'p' before anything of it is
 * taken.  The destination runs what it imports: a generator writes its
 * header into uplink room of cfg.size bytes, so its configuration must be
 * one traffic_gen_start() accepts, and a sink's 'any' must be a bool
 * before it is read as one.  Both belong to the record's flow. */
static int
traffic_import_check(const uint8_t *p, struct fx_err *err)
{
    uint32_t flow_id = traffic_get32(p + 4), body_id;
    struct traffic_gen g;
    struct fx_err why;
    uint8_t any;

    if (p[0] == TRAFFIC_MIG_GEN) {
        memcpy(&g, p + 8, sizeof g);
        if (traffic_gen_check(&g.cfg, &why) < 0) {
            return fx_err_set(err, -EBADMSG, "traffic state of flow %u: %s",
                              flow_id, why.msg);
        }
        body_id = g.cfg.flow_id;
    } else {
        memcpy(&any, p + 8 + offsetof(struct traffic_sink, any), 1);
        if (any > 1) {
            return fx_err_set(err, -EBADMSG, "traffic state of flow %u has "
                              "a damaged sink", flow_id);
        }
        memcpy(&body_id, p + 8 + offsetof(struct traffic_sink, flow_id),
               sizeof body_id);
    }
    if (body_id != flow_id) {
        return fx_err_set(err, -EBADMSG, "traffic state of flow %u holds "
                          "flow %u", flow_id, body_id);
    }
    return 0;
}

/* Takes one record at 'p' ('left' bytes); returns its size or -EBADMSG. */
static long
traffic_import_one(struct traffic *t, const uint8_t *p, size_t left,
                   struct fx_err *err)
{
    size_t body = left >= 8 && p[0] == TRAFFIC_MIG_GEN
                  ? sizeof(struct traffic_gen) : sizeof(struct traffic_sink);
    struct traffic_flow *f;

    if (left < 8 + body || (p[0] != TRAFFIC_MIG_GEN
                            && p[0] != TRAFFIC_MIG_SINK)) {
        return fx_err_set(err, -EBADMSG, "traffic state truncated");
    }
    if (traffic_import_check(p, err) < 0) {
        return -EBADMSG;
    }
    if (!(f = traffic_find_or_add(t, traffic_get32(p + 4), err))) {
        return err->code;
    }
    if (p[0] == TRAFFIC_MIG_GEN) {
        memcpy(&f->gen, p + 8, body);
        f->has_gen = true;
        f->gen_running = false;
        f->parked = p[1] != 0;
    } else {
        if (!f->sink && !(f->sink = malloc(sizeof *f->sink))) {
            abort();
        }
        memcpy(f->sink, p + 8, body);
        f->has_sink = true;
    }
    return (long) (8 + body);
}

int
traffic_import(struct traffic *t, const uint8_t *buf, size_t size,
               struct fx_err *err)
{
    size_t off = 8;
    uint32_t n;

    if (size < 8 || traffic_get32(buf) != TRAFFIC_MIG_MAGIC) {
        return fx_err_set(err, -EBADMSG, "not a traffic state");
    }
    n = traffic_get32(buf + 4);
    for (uint32_t i = 0; i < n; i++) {
        long used = traffic_import_one(t, buf + off, size - off, err);

        if (used < 0) {
            return (int) used;
        }
        off += (size_t) used;
    }
    traffic_arm(t);
    return 0;
}
