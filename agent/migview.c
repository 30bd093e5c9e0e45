/* migview: a real guest's own view of its migration (migview.h). */
#include "migview.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "log.h"
#include "rpc.h"

#define MIGVIEW_NAME 40

LOG_MODULE("migview");

/* A guest that arrived here, its view kept until fabricd asks. */
struct migview_guest {
    struct migview *mv;
    struct migview_guest *next;
    uint32_t id;                   /* The migration's. */
    char vm[MIGVIEW_NAME];
    struct migview_span span;
    struct guestview_watch *watch; /* Owned, while GuestView waits. */
    struct rpc_call *call;         /* That GuestView, to answer. */
};

struct migview {
    struct event_base *base;       /* Borrowed. */
    struct migview_guest *guests;  /* Owned. */
};

void
migview_start(struct migview_span *s, uint32_t id, const char *console,
              int source)
{
    struct fx_err err;

    memset(s, 0, sizeof *s);
    snprintf(s->console, sizeof s->console, "%s", console);
    if (guestview_offset(s->console, &s->off, &err)
        || (source
            && guestview_last(s->console, s->off, &s->before, &err))) {
        LOG_INFO("migration %u: no guest view of the move: %s", id,
                 err.msg);
        s->console[0] = '\0';
        return;
    }
    s->have_before = source;
}

static Fexsim__V1__GuestCounters *
migview_pb(struct rpc_call *call, const struct guestview_counters *c,
           uint64_t gap_ms)
{
    Fexsim__V1__GuestCounters *pb = rpc_call_alloc(call, sizeof *pb);

    fexsim__v1__guest_counters__init(pb);
    pb->sent = c->sent;
    pb->received = c->recv;
    pb->lost = c->lost;
    pb->duplicated = c->dup;
    pb->reordered = c->reord;
    pb->longest_gap_ms = gap_ms;
    return pb;
}

Fexsim__V1__GuestCounters *
migview_before_pb(const struct migview_span *s, uint32_t id,
                  struct rpc_call *call)
{
    struct guestview_span span;
    struct fx_err err;

    if (!s->have_before) {
        return NULL;
    }
    if (guestview_read(s->console, s->off, &span, &err)) {
        LOG_WARN("migration %u: %s", id, err.msg);
        span.gap_ms = 0;
    }
    return migview_pb(call, &s->before, span.gap_ms);
}

struct migview *
migview_create(struct event_base *base)
{
    struct migview *mv = calloc(1, sizeof *mv);

    if (!mv) {
        abort();
    }
    mv->base = base;
    return mv;
}

/* Unlinks and frees 'g', answering its GuestView with 'why' if one
 * waits. */
static void
migview_forget(struct migview_guest *g, const char *why)
{
    struct migview_guest **pp = &g->mv->guests;
    struct fx_err err;

    while (*pp != g) {
        pp = &(*pp)->next;
    }
    *pp = g->next;
    if (g->call) {
        fx_err_set(&err, -ECANCELED, "%s", why);
        rpc_call_finish(g->call, err.code, &err);
    }
    guestview_watch_free(g->watch);
    free(g);
}

void
migview_destroy(struct migview *mv)
{
    if (!mv) {
        return;
    }
    while (mv->guests) {
        migview_forget(mv->guests, "agent shutting down");
    }
    free(mv);
}

void
migview_arrived(struct migview *mv, uint32_t id, const char *vm,
                const struct migview_span *s)
{
    struct migview_guest *g;

    for (g = mv->guests; g; g = g->next) {
        if (!strcmp(g->vm, vm)) {
            migview_forget(g, "the guest moved again");
            break;
        }
    }
    g = calloc(1, sizeof *g);
    if (!g) {
        abort();
    }
    g->mv = mv;
    g->id = id;
    snprintf(g->vm, sizeof g->vm, "%s", vm);
    g->span = *s;
    g->next = mv->guests;
    mv->guests = g;
}

/* The guest's view of its move is known, or it is too late: the
 * GuestView gets it. */
static void
migview_done(const struct guestview_span *s, const struct fx_err *why,
             void *arg)
{
    struct migview_guest *g = arg;
    struct rpc_call *call = g->call;
    Fexsim__V1__AgentGuestView *rep = (void *) rpc_call_reply(call);

    if (s->lines) {
        rep->counters = migview_pb(call, &s->last, s->gap_ms);
    }
    if (why) {
        rep->error = rpc_call_strdup(call, why->msg);
        LOG_WARN("migration %u: '%s' on this host: %s", g->id, g->vm,
                 why->msg);
    }
    g->call = NULL;
    rpc_call_finish(call, 0, NULL);
    migview_forget(g, "");
}

int
migview_answer(struct migview *mv, uint32_t id, struct rpc_call *call,
               struct fx_err *err)
{
    struct migview_guest *g = mv->guests;

    while (g && g->id != id) {
        g = g->next;
    }
    if (!g) {
        return fx_err_set(err, -ENOENT, "no real guest arrived here by "
                          "migration %u", id);
    }
    if (g->call) {
        return fx_err_set(err, -EBUSY, "migration %u: its guest's view is "
                          "being read already", id);
    }
    g->call = call;
    g->watch = guestview_watch(mv->base, g->span.console, g->span.off,
                               MIGVIEW_WAIT_MS, migview_done, g);
    return RPC_DEFERRED;
}
