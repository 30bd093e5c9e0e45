/* migsvc: see migsvc.h. */
#include "migsvc.h"

#include <errno.h>
#include <stdlib.h>

#include "agents/agents.h"
#include "fx_err.h"
#include "mig_report.h"
#include "migcoord/migcoord.h"
#include "migflow.pb-c.h"
#include "rpc.h"

struct migsvc {
    struct migcoord *mc;             /* Borrowed, both. */
    struct agents *agents;
};

struct migsvc *
migsvc_create(struct migcoord *mc, struct agents *agents)
{
    struct migsvc *ms = calloc(1, sizeof *ms);

    if (!ms) {
        abort();
    }
    *ms = (struct migsvc) { mc, agents };
    return ms;
}

void
migsvc_destroy(struct migsvc *ms)
{
    free(ms);
}

static Fexsim__V1__Migration *
ms_msg(const struct migcoord_job *j, struct rpc_call *call)
{
    Fexsim__V1__Migration *m = rpc_call_alloc(call, sizeof *m);

    migcoord_job_msg(j, call, m);
    return m;
}

static int
ms_start(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
         ProtobufCMessage *rep_, struct fx_err *err)
{
    struct migsvc *ms = ctx;
    Fexsim__V1__MigrationReply *rep = (void *) rep_;
    const struct migcoord_job *j;

    if (migcoord_start(ms->mc, (const void *) req_, &j, err)) {
        return err->code;
    }
    rep->migration = ms_msg(j, call);
    return 0;
}

/* A Get waiting for the source's progress. */
struct ms_get {
    struct migsvc *ms;
    struct rpc_call *call;
    uint32_t id;
};

static void
ms_status_reply(void *arg, int rc, const struct fx_err *err,
                const ProtobufCMessage *rep_)
{
    struct ms_get *g = arg;
    const Fexsim__V1__AgentMigStatus *rep = (const void *) rep_;
    const Fexsim__V1__MigrationProgress *p = rep ? rep->progress : NULL;
    Fexsim__V1__MigrationReply *out = (void *) rpc_call_reply(g->call);
    const struct migcoord_job *j;

    (void) err;
    /* No news from the source (it may have just finished): the job as
     * the fabric has it. */
    if (!rc && p) {
        const struct mig_progress prog = {
            .job_id = p->job_id, .round = p->round,
            .bytes_sent = p->bytes_sent,
            .bytes_remaining = p->bytes_remaining, .rate = p->rate,
            .throttle_pct = p->throttle_pct };

        migcoord_set_progress(g->ms->mc, g->id, &prog);
    }
    j = migcoord_find(g->ms->mc, g->id, NULL, NULL);
    if (j) {
        out->migration = ms_msg(j, g->call);
    }
    rpc_call_finish(g->call, 0, NULL);
    free(g);
}

static int
ms_get(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
       ProtobufCMessage *rep_, struct fx_err *err)
{
    struct migsvc *ms = ctx;
    const Fexsim__V1__MigrationRef *ref = (const void *) req_;
    Fexsim__V1__MigrationReply *rep = (void *) rep_;
    const struct migcoord_job *j = migcoord_find(ms->mc, ref->id, ref->vm,
                                                 err);
    Fexsim__V1__AgentMigRef aref = FEXSIM__V1__AGENT_MIG_REF__INIT;
    struct ms_get *g;

    if (!j) {
        return err->code;
    }
    g = calloc(1, sizeof *g);
    if (!g) {
        abort();
    }
    *g = (struct ms_get) { ms, call, migcoord_job_id(j) };
    aref.job_id = g->id;
    if (!migcoord_job_copying(j)
        || agents_call(ms->agents, migcoord_job_src(j), "MigAgent.Status",
                       &aref.base, &fexsim__v1__agent_mig_status__descriptor,
                       AGENTS_TIMEOUT_MS, ms_status_reply, g, NULL)) {
        free(g);
        rep->migration = ms_msg(j, call);
        return 0;
    }
    return RPC_DEFERRED;
}

static int
ms_list(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
        ProtobufCMessage *rep_, struct fx_err *err)
{
    struct migsvc *ms = ctx;
    Fexsim__V1__ListMigrationsReply *rep = (void *) rep_;
    size_t n = migcoord_count(ms->mc);

    (void) req_;
    (void) err;
    rep->migrations = rpc_call_alloc(call, (n + 1) * sizeof *rep->migrations);
    for (size_t i = 0; i < n; i++) {
        const struct migcoord_job *j = migcoord_at(ms->mc, i);

        if (j) {
            rep->migrations[rep->n_migrations++] = ms_msg(j, call);
        }
    }
    return 0;
}

static int
ms_cancel(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
          ProtobufCMessage *rep_, struct fx_err *err)
{
    struct migsvc *ms = ctx;
    const Fexsim__V1__MigrationRef *ref = (const void *) req_;
    Fexsim__V1__MigrationReply *rep = (void *) rep_;
    const struct migcoord_job *j = migcoord_find(ms->mc, ref->id, ref->vm,
                                                 err);

    if (!j || migcoord_cancel(ms->mc, migcoord_job_id(j), err)) {
        return err->code;
    }
    rep->migration = ms_msg(j, call);
    return 0;
}

/* In the order of service Migrations in proto/migflow.proto. */
static const rpc_handler_fn ms_handlers[] = {
    ms_start,
    ms_get,
    ms_list,
    ms_cancel,
};

int
migsvc_register(struct migsvc *ms, struct rpc_registry *reg,
                struct fx_err *err)
{
    return rpc_registry_add(reg, &fexsim__v1__migrations__descriptor,
                            ms_handlers,
                            sizeof ms_handlers / sizeof *ms_handlers, ms,
                            AUTH_ROLE_MASK(AUTH_ROLE_OPERATOR), err);
}
