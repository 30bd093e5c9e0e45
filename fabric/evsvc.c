/* evsvc: see evsvc.h. */
#include "evsvc.h"

#include "events/events.h"
#include "fx_err.h"
#include "rpc.h"

/* The replay follows the reply on the connection, so that a subscriber
 * reads its answer (and whether to resync) before any event. */
static void
ev_replay(void *arg, struct rpc_conn *conn, uint64_t id)
{
    events_replay(arg, conn, id);
}

static int
ev_subscribe(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__SubscribeRequest *req = (const void *) req_;
    struct rpc_conn *conn = rpc_call_conn(call);

    if (events_subscribe(ctx, conn, rpc_call_id(call), req->since,
                         req->only_new, (Fexsim__V1__SubscribeReply *) rep_,
                         err)) {
        return err->code;
    }
    if (req->migration_progress) {
        events_want_live(ctx, conn, rpc_call_id(call));
    }
    rpc_call_then(call, ev_replay, ctx);
    return 0;
}

static const rpc_handler_fn ev_handlers[] = {
    ev_subscribe,
};

int
evsvc_register(struct events *events, struct rpc_registry *reg,
               struct fx_err *err)
{
    return rpc_registry_add(reg, &fexsim__v1__events__descriptor,
                            ev_handlers,
                            sizeof ev_handlers / sizeof *ev_handlers, events,
                            AUTH_ROLE_MASK(AUTH_ROLE_OPERATOR), err);
}
