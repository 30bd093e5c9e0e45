/* The Migrations service: start, follow, list and cancel migrations, and
 * what the data plane says of the switchover. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "fx_fault.h"
#include "hostreg.h"
#include "log.h"
#include "migcoord_priv.h"
#include "profile.h"
#include "rpc.h"
#include "vif.h"
#include "vmfex_priv.h"

LOG_MODULE("migcoord");

#define MC_AGENT_TIMEOUT_MS 10000

/* ---- The service ---- */

static Fexsim__V1__Migration *
mc_to_msg(const struct mc_job *j, struct rpc_call *call)
{
    Fexsim__V1__Migration *m = rpc_call_alloc(call, sizeof *m);
    Fexsim__V1__MigrationProgress *p = rpc_call_alloc(call, sizeof *p);

    fexsim__v1__migration__init(m);
    fexsim__v1__migration_progress__init(p);
    mig_progress_to_pb(&j->prog, p);
    m->id = j->id;
    m->vm = rpc_call_strdup(call, j->vm);
    m->src = rpc_call_strdup(call, j->src);
    m->dst = rpc_call_strdup(call, j->dst);
    m->phase = rpc_call_strdup(call, store_mig_phase_name(j->phase));
    m->state = rpc_call_strdup(call, j->state);
    m->error = rpc_call_strdup(call, j->error);
    m->progress = p;
    m->started_at_ms = j->started_ms;
    if (j->final) {
        m->report = rpc_call_alloc(call, sizeof *m->report);
        *m->report = j->report;
        m->report->result = rpc_call_strdup(call, j->state);
        m->report->error = rpc_call_strdup(call, j->error);
    }
    return m;
}

static int
mc_start(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
         ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__MigrationReply *rep = (void *) rep_;
    struct mc_job *j;

    if (mc_begin(ctx, (const void *) req_, call, &j, err)) {
        return err->code;
    }
    rep->migration = mc_to_msg(j, call);
    return 0;
}

static struct mc_job *
mc_find(struct migcoord *mc, const Fexsim__V1__MigrationRef *ref,
        struct fx_err *err)
{
    struct mc_job *best = NULL;

    for (size_t i = 0; i < mc->n_jobs; i++) {
        struct mc_job *j = &mc->jobs[i];

        if (ref->id ? j->id == ref->id : !strcmp(j->vm, ref->vm)) {
            best = !best || j->id > best->id ? j : best;
        }
    }
    if (!best) {
        fx_err_set(err, -ENOENT, "no migration %s%s", ref->id ? "" : "of ",
                   ref->id ? "with that id" : ref->vm);
    }
    return best;
}

struct mc_get {
    struct mc_job *j;
    struct rpc_call *call;
};

static void
mc_status_reply(void *arg, int status, const char *message,
                const ProtobufCMessage *rep_)
{
    struct mc_get *g = arg;
    const Fexsim__V1__AgentMigStatus *rep = (const void *) rep_;
    Fexsim__V1__MigrationReply *out = (void *) rpc_call_reply(g->call);
    const Fexsim__V1__MigrationProgress *p = rep ? rep->progress : NULL;

    (void) message;
    if (status == RPC_OK && p && p->round) {
        g->j->prog = (struct mig_progress) {
            .job_id = p->job_id, .round = p->round,
            .bytes_sent = p->bytes_sent,
            .bytes_remaining = p->bytes_remaining, .rate = p->rate,
            .throttle_pct = p->throttle_pct };
    }
    out->migration = mc_to_msg(g->j, g->call);
    rpc_call_finish(g->call, 0, NULL);
    free(g);
}

static int
mc_get(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
       ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__MigrationReply *rep = (void *) rep_;
    struct mc_job *j = mc_find(ctx, (const void *) req_, err);
    Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;
    struct host *h;
    struct mc_get *g;

    if (!j) {
        return err->code;
    }
    h = hostreg_find(((struct migcoord *) ctx)->vx->hosts, j->src);
    if (j->final || j->phase != STORE_MIG_PERFORM || !h || !h->session) {
        rep->migration = mc_to_msg(j, call);
        return 0;
    }
    g = calloc(1, sizeof *g);
    if (!g) {
        abort();
    }
    *g = (struct mc_get) { j, call };
    ref.job_id = j->id;
    if (rpc_conn_call(h->session, "MigAgent.Status", &ref.base,
                      &fexsim__v1__agent_mig_status__descriptor,
                      MC_AGENT_TIMEOUT_MS, mc_status_reply, g, NULL)) {
        free(g);
        rep->migration = mc_to_msg(j, call);
        return 0;
    }
    return RPC_DEFERRED;
}

static int
mc_list(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
        ProtobufCMessage *rep_, struct fx_err *err)
{
    struct migcoord *mc = ctx;
    Fexsim__V1__ListMigrationsReply *rep = (void *) rep_;

    (void) req_;
    (void) err;
    rep->migrations = rpc_call_alloc(call, (mc->n_jobs + 1)
                                     * sizeof *rep->migrations);
    for (size_t i = 0; i < mc->n_jobs; i++) {
        rep->migrations[rep->n_migrations++] = mc_to_msg(&mc->jobs[i], call);
    }
    return 0;
}

static void
mc_ignore(void *arg, int status, const char *message,
          const ProtobufCMessage *rep)
{
    (void) arg;
    (void) rep;
    if (status != RPC_OK) {
        LOG_WARN("abort: %s", message);
    }
}

static int
mc_cancel(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
          ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__MigrationReply *rep = (void *) rep_;
    struct mc_job *j = mc_find(ctx, (const void *) req_, err);
    Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;
    struct host *h;

    if (!j) {
        return err->code;
    }
    if (j->final || j->phase >= STORE_MIG_FINISH) {
        return fx_err_set(err, -EALREADY, "migration %u of '%s' is %s: too "
                          "late to cancel", j->id, j->vm,
                          j->final ? j->state : "finishing");
    }
    j->cancel = 1;
    snprintf(j->state, sizeof j->state, "cancelling");
    h = hostreg_find(((struct migcoord *) ctx)->vx->hosts, j->src);
    if (j->phase == STORE_MIG_PERFORM && h && h->session) {
        ref.job_id = j->id;
        rpc_conn_call(h->session, "MigAgent.Abort", &ref.base,
                      &fexsim__v1__agent_mig_ack__descriptor,
                      MC_AGENT_TIMEOUT_MS, mc_ignore, NULL, NULL);
    }
    rep->migration = mc_to_msg(j, call);
    return 0;
}

static const rpc_handler_fn mc_handlers[] = {
    mc_start,
    mc_get,
    mc_list,
    mc_cancel,
};

int
migcoord_register(struct migcoord *mc, struct rpc_registry *reg,
                  struct fx_err *err)
{
    return rpc_registry_add(reg, &fexsim__v1__migrations__descriptor,
                            mc_handlers, sizeof mc_handlers
                            / sizeof *mc_handlers, mc, err);
}

/* The job moving VIF 'vif', or NULL. */
static const struct mc_job *
mc_moving(const struct migcoord *mc, uint32_t vif)
{
    for (size_t i = 0; mc && i < mc->n_jobs; i++) {
        const struct mc_job *j = &mc->jobs[i];

        for (size_t k = 0; !j->final && k < j->n_nics; k++) {
            if (j->vifs[k] == vif) {
                return j;
            }
        }
    }
    return NULL;
}

void
migcoord_vif_held(struct migcoord *mc, uint32_t vif)
{
    struct mc_job *j = (struct mc_job *) mc_moving(mc, vif);

    if (j && j->phase == STORE_MIG_PERFORM && !j->switched) {
        j->switched = 1;
        LOG_INFO("migration %u of '%s': switchover", j->id, j->vm);
        fx_fault_point("switchover");
    }
}

/* A KVM move: libvirt's 802.1Qbh requests on each end (FACTS.md). */
static void
mc_kvm_ports(const struct mc_job *j, char *buf, size_t size)
{
    if (j->phase < STORE_MIG_PREPARE) {
        snprintf(buf, size, "ASSOCIATE on %s", j->src);
    } else if (j->phase < STORE_MIG_FINISH) {
        snprintf(buf, size, "ASSOCIATE on %s, PREASSOCIATE_RR on %s (link "
                 "down)", j->src, j->dst);
    } else {
        snprintf(buf, size, "ASSOCIATE on %s, DISASSOCIATE on %s", j->dst,
                 j->src);
    }
}

void
migcoord_vif_mode(const struct migcoord *mc, const struct vif *v,
                  struct rpc_call *call, char **modep, char **whyp)
{
    const struct profile *p = profile_find(mc->vx->profiles, v->profile);
    const struct mc_job *j = mc_moving(mc, v->id);
    const char *mode = "high-performance", *why = "";
    char buf[160];

    if (!v->directpath) {
        mode = "standard";
        why = "not a DirectPath NIC";
    } else if (v->state != VIF_ONLINE) {
        mode = "offline";
        why = "vmNptDisabledOrDisconnectedAdapter";
    } else if (!p || !p->high_performance) {
        mode = "passthrough";
        why = "profile not high-performance: no vMotion";
    } else if (j && !strcmp(mc->vx->flavor, "vmware")) {
        mode = "emulated";
        why = "vmNptConflictingOperationInProgress";
    } else if (j) {
        mc_kvm_ports(j, buf, sizeof buf);
        why = buf;
    }
    *modep = rpc_call_strdup(call, mode);
    *whyp = rpc_call_strdup(call, why);
}
