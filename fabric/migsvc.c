/* migsvc: see migsvc.h. */
#include "migsvc.h"

#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>

#include "agents/agents.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "mig_report.h"
#include "migcoord/migcoord.h"
#include "migflow.pb-c.h"
#include "rpc.h"

/* How long a Cancel waits for the job to end before it answers with the
 * state the job is in (a cleanup call to a slow agent may take its whole
 * timeout). */
#define MS_CANCEL_WAIT_MS 30000

/* A Cancel waiting for its job to end. */
struct ms_wait {
    struct migsvc *ms;
    struct rpc_call *call;
    uint32_t id;
    struct event *timer;             /* Owned: MS_CANCEL_WAIT_MS. */
    struct ms_wait *next;
};

struct migsvc {
    struct event_base *base;         /* Borrowed, all three. */
    struct migcoord *mc;
    struct agents *agents;
    struct ms_wait *waits;           /* Owned. */
};

static void ms_job_final(void *arg, const struct migcoord_job *j);

struct migsvc *
migsvc_create(struct event_base *base, struct migcoord *mc,
              struct agents *agents)
{
    struct migsvc *ms = calloc(1, sizeof *ms);

    if (!ms) {
        abort();
    }
    *ms = (struct migsvc) { .base = base, .mc = mc, .agents = agents };
    migcoord_set_final_fn(mc, ms_job_final, ms);
    return ms;
}

static Fexsim__V1__Migration *ms_msg(const struct migcoord_job *j,
                                     struct rpc_call *call);

/* Answers waiting Cancel 'w' with job 'j' as it is now (NULL: forgotten,
 * an empty reply) and frees it. */
static void
ms_wait_answer(struct migsvc *ms, struct ms_wait *w,
               const struct migcoord_job *j)
{
    Fexsim__V1__MigrationReply *out = (void *) rpc_call_reply(w->call);

    for (struct ms_wait **pp = &ms->waits; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    if (j) {
        out->migration = ms_msg(j, w->call);
    }
    rpc_call_finish(w->call, 0, NULL);
    event_free(w->timer);
    free(w);
}

void
migsvc_destroy(struct migsvc *ms)
{
    if (!ms) {
        return;
    }
    migcoord_set_final_fn(ms->mc, NULL, NULL);
    while (ms->waits) {
        ms_wait_answer(ms, ms->waits, NULL);
    }
    free(ms);
}

/* A job ended: the Cancels waiting for it answer with its final state. */
static void
ms_job_final(void *arg, const struct migcoord_job *j)
{
    struct migsvc *ms = arg;
    struct ms_wait *w = ms->waits, *next;

    for (; w; w = next) {
        next = w->next;
        if (w->id == migcoord_job_id(j)) {
            ms_wait_answer(ms, w, j);
        }
    }
}

static void
ms_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct ms_wait *w = arg;

    (void) fd;
    (void) what;
    ms_wait_answer(w->ms, w, migcoord_find(w->ms->mc, w->id, NULL, NULL));
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

static int
ms_get(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
       ProtobufCMessage *rep_, struct fx_err *err)
{
    struct migsvc *ms = ctx;
    const Fexsim__V1__MigrationRef *ref = (const void *) req_;
    Fexsim__V1__MigrationReply *rep = (void *) rep_;
    const struct migcoord_job *j = migcoord_find(ms->mc, ref->id, ref->vm,
                                                 err);

    if (!j) {
        return err->code;
    }
    /* Its statistics are at most a poll old (migcoord.h). */
    rep->migration = ms_msg(j, call);
    return 0;
}

static int
ms_by_id(const void *a, const void *b)
{
    uint32_t x = (*(Fexsim__V1__Migration *const *) a)->id;
    uint32_t y = (*(Fexsim__V1__Migration *const *) b)->id;

    return x < y ? -1 : x > y;
}

/* By id: the slots of finished jobs are reused, and history loaded at a
 * restart comes after the jobs in flight. */
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
    qsort(rep->migrations, rep->n_migrations, sizeof *rep->migrations,
          ms_by_id);
    return 0;
}

/* Answers once the job is final: with "cancelled" when the rollback
 * ended, or with why the cancel came too late. */
static int
ms_cancel(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
          ProtobufCMessage *rep_, struct fx_err *err)
{
    struct migsvc *ms = ctx;
    const Fexsim__V1__MigrationRef *ref = (const void *) req_;
    Fexsim__V1__MigrationReply *rep = (void *) rep_;
    const struct migcoord_job *j = migcoord_find(ms->mc, ref->id, ref->vm,
                                                 err);
    const struct timeval tv = { MS_CANCEL_WAIT_MS / 1000, 0 };
    struct ms_wait *w;

    if (!j || migcoord_cancel(ms->mc, migcoord_job_id(j), err)) {
        return err->code;
    }
    if (migcoord_job_final(j)) {
        rep->migration = ms_msg(j, call);
        return 0;
    }
    w = calloc(1, sizeof *w);
    if (!w) {
        abort();
    }
    *w = (struct ms_wait) { ms, call, migcoord_job_id(j), NULL, ms->waits };
    w->timer = evtimer_new(ms->base, ms_wait_timeout, w);
    if (!w->timer) {
        abort();
    }
    evtimer_add(w->timer, &tv);
    ms->waits = w;
    return RPC_DEFERRED;
}

/* A SetParams or ForceComplete sent on to the source. */
struct ms_fwd {
    struct migsvc *ms;
    struct rpc_call *call;
    uint32_t id;
};

/* The job 'ref' names while its source copies, else NULL with 'err'. */
static const struct migcoord_job *
ms_copying(struct migsvc *ms, const Fexsim__V1__MigrationRef *ref,
           const char *what, struct fx_err *err)
{
    const struct migcoord_job *j;

    if (!ref) {
        fx_err_set(err, -EINVAL, "which migration: 'ref' is missing");
        return NULL;
    }
    j = migcoord_find(ms->mc, ref->id, ref->vm, err);
    if (j && !migcoord_job_copying(j)) {
        fx_err_set(err, -EPERM, "migration %u is not copying: %s only "
                   "while the source copies", migcoord_job_id(j), what);
        return NULL;
    }
    return j;
}

static void
ms_fwd_reply(void *arg, int rc, const struct fx_err *err,
             const ProtobufCMessage *rep_)
{
    struct ms_fwd *f = arg;
    Fexsim__V1__MigrationReply *out = (void *) rpc_call_reply(f->call);
    const struct migcoord_job *j;

    if (!rc && rep_
        && rep_->descriptor == &fexsim__v1__agent_mig_params__descriptor) {
        const Fexsim__V1__AgentMigParams *p = (const void *) rep_;

        migcoord_set_params(f->ms->mc, f->id, p->max_bandwidth_bytes_per_s,
                            p->downtime_limit_ms);
    }
    j = migcoord_find(f->ms->mc, f->id, NULL, NULL);
    if (!rc && j) {
        out->migration = ms_msg(j, f->call);
    }
    rpc_call_finish(f->call, rc, rc ? err : NULL);
    free(f);
}

/* Sends 'method' with 'req' to the source of 'j' and answers 'call' with
 * the job once it answered. */
static int
ms_forward(struct migsvc *ms, struct rpc_call *call,
           const struct migcoord_job *j, const char *method,
           const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
           struct fx_err *err)
{
    struct ms_fwd *f = calloc(1, sizeof *f);

    if (!f) {
        abort();
    }
    *f = (struct ms_fwd) { ms, call, migcoord_job_id(j) };
    if (agents_call(ms->agents, migcoord_job_src(j), method, req, rd,
                    AGENTS_TIMEOUT_MS, ms_fwd_reply, f, err)) {
        free(f);
        return err->code;
    }
    return RPC_DEFERRED;
}

static int
ms_set_params(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
              ProtobufCMessage *rep_, struct fx_err *err)
{
    struct migsvc *ms = ctx;
    const Fexsim__V1__SetMigrationParamsRequest *req = (const void *) req_;
    Fexsim__V1__AgentMigParams a = FEXSIM__V1__AGENT_MIG_PARAMS__INIT;
    const struct migcoord_job *j;

    (void) rep_;
    if (!req->set_max_bandwidth && !req->downtime_limit_ms) {
        return fx_err_set(err, -EINVAL, "nothing to change: give a max "
                          "bandwidth, a downtime limit or both");
    }
    if (req->downtime_limit_ms > FX_LIMITS_DOWNTIME_LIMIT_MAX_MS) {
        return fx_err_set(err, -ERANGE, "downtime limit %u ms is over %u ms",
                          req->downtime_limit_ms,
                          FX_LIMITS_DOWNTIME_LIMIT_MAX_MS);
    }
    j = ms_copying(ms, req->ref, "its parameters change", err);
    if (!j) {
        return err->code;
    }
    a.job_id = migcoord_job_id(j);
    a.set_max_bandwidth = req->set_max_bandwidth;
    a.max_bandwidth_bytes_per_s = req->max_bandwidth_bytes_per_s;
    a.downtime_limit_ms = req->downtime_limit_ms;
    return ms_forward(ms, call, j, "MigAgent.SetParams", &a.base,
                      &fexsim__v1__agent_mig_params__descriptor, err);
}

static int
ms_force_complete(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                  struct fx_err *err)
{
    struct migsvc *ms = ctx;
    Fexsim__V1__AgentMigRef a = FEXSIM__V1__AGENT_MIG_REF__INIT;
    const struct migcoord_job *j = ms_copying(ms, (const void *) req_,
                                              "it can be forced", err);

    (void) rep_;
    if (!j) {
        return err->code;
    }
    a.job_id = migcoord_job_id(j);
    return ms_forward(ms, call, j, "MigAgent.ForceComplete", &a.base,
                      &fexsim__v1__agent_mig_ack__descriptor, err);
}

/* In the order of service Migrations in proto/migflow.proto. */
static const rpc_handler_fn ms_handlers[] = {
    ms_start,
    ms_get,
    ms_list,
    ms_cancel,
    ms_set_params,
    ms_force_complete,
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
