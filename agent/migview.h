/* migview: a real guest's own view of its migration, as the migration
 * agent (migagent.h) gathers it for the report, from the counters the
 * guest writes on its console (guestview.h).
 *
 * Source: as the move starts, the guest's counters then and where the
 * span of its console the move writes begins (migview_start); once it
 * completed, those counters with the longest gap the guest heard in that
 * span go in the Perform reply (migview_before_pb).
 *
 * Destination: where the guest's lines will begin is taken at Prepare,
 * before libvirt starts the incoming QEMU (migview_start); once the
 * guest resumed here its view is kept (migview_arrived) until fabricd
 * asks for it (MigAgent.GuestView: migview_answer), or the VM arrives
 * again.  The answer waits until the guest has heard its peer since it
 * resumed (the held frames, then new ones, reached it: what it lost is
 * counted), MIGVIEW_WAIT_MS at most. */
#ifndef MIGVIEW_H
#define MIGVIEW_H

#include <stdint.h>

#include "guestview.h"
#include "migflow.pb-c.h"

struct event_base;
struct fx_err;
struct migview;
struct rpc_call;

/* How long a guest has, once fabricd asks, to show it heard its peer
 * again: it reports every 200 ms; its peer sends 100 frames/s. */
#define MIGVIEW_WAIT_MS 5000u

/* One migration's span of its guest's console, kept by its job. */
struct migview_span {
    char console[256];             /* "": no view of this move. */
    uint64_t off;                  /* Where the span begins. */
    int have_before;               /* Source: 'before' read. */
    struct guestview_counters before;
};

/* Starts the span of migration 'id' over console file 'console' (copied)
 * now; the source ('source') also reads the guest's counters then.
 * What fails is logged: the move goes on, without a view of it. */
void migview_start(struct migview_span *s, uint32_t id, const char *console,
                   int source);

/* Source, the move completed: the guest's counters before it, with the
 * longest gap of the span, allocated in 'call'; NULL without them. */
Fexsim__V1__GuestCounters *migview_before_pb(const struct migview_span *s,
                                             uint32_t id,
                                             struct rpc_call *call);

/* The views of the guests that arrived here, answered on 'base'
 * (borrowed, must outlive it).  migview_destroy() answers a GuestView
 * still waiting with an error. */
struct migview *migview_create(struct event_base *base);
void migview_destroy(struct migview *);

/* Destination: VM 'vm' (copied) resumed here by migration 'id', span
 * 's' (copied): its view is kept, in place of any older one of the VM. */
void migview_arrived(struct migview *, uint32_t id, const char *vm,
                     const struct migview_span *s);

/* MigAgent.GuestView of migration 'id' on 'call': RPC_DEFERRED (answered
 * later, the view then forgotten), or -ENOENT (no such guest arrived
 * here), -EBUSY (asked already) with 'err' filled. */
int migview_answer(struct migview *, uint32_t id, struct rpc_call *call,
                   struct fx_err *err);

#endif
