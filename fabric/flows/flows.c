/* flows: see flows.h.  Each start, stop and stats call fans out to the
 * agents of the flows' hosts and answers when they all have. */
#include "flows.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "dataplane.pb-c.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "log.h"
#include "model/model.h"
#include "rpc.h"
#include "store/store.h"

LOG_MODULE("flows");

/* Where a flow runs: the fabric's record, the agents hold the counters. */
struct flows_flow {
    uint32_t id;
    char src_vm[40], dst_vm[40];
    char src_host[40], dst_host[40]; /* "" while not known (learnt). */
    bool learnt;                     /* From an agent, not started here. */
};

struct flows {
    const struct model *model;       /* Borrowed. */
    struct store *store;             /* Borrowed; NULL: in memory. */
    struct agents *agents;           /* Borrowed. */
    uint32_t next_id;
    uint32_t n;
    struct flows_flow f[FLOWS_MAX];
    /* The latest flows forgotten (stopped, or a start undone), so that a
     * list an agent sent before it heard does not bring them back. */
    uint32_t ended[FLOWS_MAX];
    uint32_t n_ended;                /* Ever: the ring's next slot. */
};

struct flows *
flows_create(const struct model *model, struct store *store,
             struct agents *agents)
{
    struct flows *fl = calloc(1, sizeof *fl);

    if (!fl) {
        abort();
    }
    fl->model = model;
    fl->store = store;
    fl->agents = agents;
    fl->next_id = 1;
    return fl;
}

void
flows_destroy(struct flows *fl)
{
    free(fl);
}

static int
fl_load_counters(void *arg, const struct store_counters *c,
                 struct fx_err *err)
{
    struct flows *fl = arg;

    (void) err;
    if (c->next_flow_id > fl->next_id) {
        fl->next_id = c->next_flow_id;
    }
    return 0;
}

int
flows_load(struct flows *fl, struct fx_err *err)
{
    const struct store_callbacks cb = { .counters = fl_load_counters };

    return fl->store ? store_load(fl->store, &cb, fl, err) : 0;
}

/* Hands out the next flow id into '*idp', durable first: a restarted
 * fabricd must not give it to another flow while the agents may still
 * run this one. */
static int
fl_next_id(struct flows *fl, uint32_t *idp, struct fx_err *err)
{
    if (fl->next_id == UINT32_MAX) {
        return fx_err_set(err, -ENOSPC, "flow ids are used up");
    }
    if (fl->store && store_put_next_flow_id(fl->store, fl->next_id + 1,
                                            err)) {
        return fx_err_wrap(err, "flow not started");
    }
    *idp = fl->next_id++;
    return 0;
}

/* ---- Calls fanned out to agents ---- */

/* One caller's request waiting for 'pending' agent replies. */
struct fl_op {
    struct flows *d;
    struct rpc_call *call;
    int pending;
    int rc;                          /* First failure, kept in 'err'. */
    struct fx_err err;
    struct flows_flow flow;            /* TrafficStart: the new flow. */
    Fexsim__V1__AgentTrafficStartRequest start;   /* Sender's request. */
    uint8_t src_mac[6], dst_mac[6];
    /* Stats and stop: the reply's flows, filled as agents answer. */
    Fexsim__V1__FlowStats **flows;
    size_t n_flows;
};

static struct fl_op *
fl_op_new(struct flows *d, struct rpc_call *call)
{
    struct fl_op *op = calloc(1, sizeof *op);

    if (!op) {
        abort();
    }
    op->d = d;
    op->call = call;
    return op;
}

/* Sends 'method' to the agent of 'host' for 'op'; counts it pending. */
static int
fl_send(struct fl_op *op, const char *host, const char *method,
         const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
         agents_reply_fn *cb, struct fx_err *err)
{
    int rc = agents_call(op->d->agents, host, method, req, desc,
                         AGENTS_TIMEOUT_MS, cb, op, err);

    if (!rc) {
        op->pending++;
    }
    return rc;
}

static void
fl_op_fail(struct fl_op *op, const struct fx_err *err)
{
    if (!op->rc) {
        op->err = *err;
        op->rc = err->code;
    }
}

/* ---- TrafficStart ---- */

static struct flows_flow *
fl_flow_find(struct flows *d, uint32_t id)
{
    for (uint32_t i = 0; i < d->n; i++) {
        if (d->f[i].id == id) {
            return &d->f[i];
        }
    }
    return NULL;
}

static void
fl_flow_remove(struct flows *d, uint32_t id)
{
    struct flows_flow *f = fl_flow_find(d, id);

    if (f) {
        *f = d->f[--d->n];
        d->ended[d->n_ended++ % FLOWS_MAX] = id;
    }
}

static bool
fl_ended(const struct flows *d, uint32_t id)
{
    uint32_t n = d->n_ended < FLOWS_MAX ? d->n_ended : FLOWS_MAX;

    for (uint32_t i = 0; i < n; i++) {
        if (d->ended[i] == id) {
            return true;
        }
    }
    return false;
}

static const struct vm *
fl_running_vm(const struct model *model, const char *name,
               struct fx_err *err)
{
    const struct vm *vm = model_vm(model, name, err);

    if (!vm) {
        return NULL;
    }
    if (!vm->running) {
        fx_err_set(err, -EPERM, "VM '%s' is not running: start it first",
                   name);
        return NULL;
    }
    if (vm->n_nics == 0) {
        fx_err_set(err, -EPERM, "VM '%s' has no NIC", name);
        return NULL;
    }
    return vm;
}

static uint16_t
fl_native_vlan(const struct model *model, const struct vm_nic *nic)
{
    const struct profile *p = model_profile(model, nic->profile);

    return p ? p->vlans[0] : 0;
}

/* Picks the first NIC pair of 'src' and 'dst' on the same native VLAN:
 * the generator sends untagged frames, which belong to the native VLAN of
 * the source's profile. */
static int
fl_pick_nics(const struct model *model, const struct vm *src,
              const struct vm *dst, const struct vif **sv,
              const struct vif **dv, struct fx_err *err)
{
    for (size_t i = 0; i < src->n_nics; i++) {
        for (size_t j = 0; j < dst->n_nics; j++) {
            uint16_t vlan = fl_native_vlan(model, &src->nics[i]);

            if (vlan && vlan == fl_native_vlan(model, &dst->nics[j])) {
                *sv = model_vm_vif(model, src, i);
                *dv = model_vm_vif(model, dst, j);
                if (*sv && *dv) {
                    return 0;
                }
            }
        }
    }
    return fx_err_set(err, -EPERM, "VMs '%s' and '%s' share no VLAN: no "
                      "NIC of one has the native VLAN of a NIC of the other",
                      src->name, dst->name);
}

static int
fl_check_start(const Fexsim__V1__TrafficStartRequest *req,
                struct fx_err *err)
{
    if (req->size < FX_LIMITS_FLOW_MIN_SIZE || req->size > FX_LIMITS_FLOW_MAX_SIZE) {
        return fx_err_set(err, -EINVAL, "frame size %u out of range %u-%u "
                          "(vNIC MTU 1500 plus Ethernet header, VLAN tag "
                          "and FCS)", req->size, FX_LIMITS_FLOW_MIN_SIZE,
                          FX_LIMITS_FLOW_MAX_SIZE);
    }
    if (req->rate_pps < 1 || req->rate_pps > FX_LIMITS_FLOW_MAX_RATE) {
        return fx_err_set(err, -EINVAL, "rate %u out of range 1-%u frames/s",
                          req->rate_pps, FX_LIMITS_FLOW_MAX_RATE);
    }
    if (!strcmp(req->src_vm, req->dst_vm)) {
        return fx_err_set(err, -EINVAL, "source and destination are the "
                          "same VM '%s'", req->src_vm);
    }
    return 0;
}

static void
fl_undo_reply(void *arg, int rc, const struct fx_err *err,
               const ProtobufCMessage *rep)
{
    (void) rep;
    if (rc) {
        LOG_WARN("flow %u: receiver kept its sink: %s",
                 (uint32_t) (uintptr_t) arg, err->msg);
    }
}

/* The sender refused: closes the sink the receiver opened. */
static void
fl_start_undo(const struct fl_op *op)
{
    Fexsim__V1__AgentTrafficStopRequest req =
        FEXSIM__V1__AGENT_TRAFFIC_STOP_REQUEST__INIT;
    struct fx_err err;

    req.flow_id = op->flow.id;
    if (agents_call(op->d->agents, op->flow.dst_host,
                    "AgentTraffic.TrafficStop", &req.base,
                    &fexsim__v1__agent_traffic_stop_reply__descriptor,
                    AGENTS_TIMEOUT_MS, fl_undo_reply,
                    (void *) (uintptr_t) op->flow.id, &err)) {
        LOG_WARN("flow %u: receiver kept its sink: %s", op->flow.id,
                 err.msg);
    }
}

static void
fl_start_sender_reply(void *arg, int rc, const struct fx_err *err,
                       const ProtobufCMessage *rep)
{
    struct fl_op *op = arg;
    Fexsim__V1__TrafficStartReply *out = (void *) rpc_call_reply(op->call);

    (void) rep;
    if (rc) {
        fl_op_fail(op, err);
        fl_flow_remove(op->d, op->flow.id);
        fl_start_undo(op);
    } else {
        out->flow_id = op->flow.id;
        LOG_INFO("flow %u: %s -> %s started", op->flow.id, op->flow.src_vm,
                 op->flow.dst_vm);
    }
    rpc_call_finish(op->call, op->rc, &op->err);
    free(op);
}

static void
fl_start_receiver_reply(void *arg, int rc, const struct fx_err *err,
                         const ProtobufCMessage *rep)
{
    struct fl_op *op = arg;

    (void) rep;
    if (!rc
        && !fl_send(op, op->flow.src_host, "AgentTraffic.TrafficStart",
                     &op->start.base,
                     &fexsim__v1__agent_traffic_start_reply__descriptor,
                     fl_start_sender_reply, &op->err)) {
        return;
    }
    if (rc) {
        fl_op_fail(op, err);
    } else {
        op->rc = op->err.code;
        fl_start_undo(op);
    }
    fl_flow_remove(op->d, op->flow.id);
    rpc_call_finish(op->call, op->rc, &op->err);
    free(op);
}

/* Fills 'op' with flow 'id' and the sender's request. */
static void
fl_start_prepare(struct fl_op *op, uint32_t id, const struct vm *src,
                  const struct vm *dst, const struct vif *sv,
                  const struct vif *dv,
                  const Fexsim__V1__TrafficStartRequest *req)
{
    Fexsim__V1__AgentTrafficStartRequest *s = &op->start;

    op->flow.id = id;
    snprintf(op->flow.src_vm, sizeof op->flow.src_vm, "%s", src->name);
    snprintf(op->flow.dst_vm, sizeof op->flow.dst_vm, "%s", dst->name);
    snprintf(op->flow.src_host, sizeof op->flow.src_host, "%s", src->host);
    snprintf(op->flow.dst_host, sizeof op->flow.dst_host, "%s", dst->host);
    memcpy(op->src_mac, sv->mac, 6);
    memcpy(op->dst_mac, dv->mac, 6);
    fexsim__v1__agent_traffic_start_request__init(s);
    s->flow_id = op->flow.id;
    s->role = FEXSIM__V1__TRAFFIC_ROLE__TRAFFIC_ROLE_SENDER;
    s->vif_id = sv->id;
    s->vnic = sv->vnic;
    s->src_mac = (ProtobufCBinaryData) { 6, op->src_mac };
    s->dst_mac = (ProtobufCBinaryData) { 6, op->dst_mac };
    s->rate_pps = req->rate_pps;
    s->size = req->size;
    s->count = req->count;
}

int
flows_traffic_start(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                  struct fx_err *err)
{
    const Fexsim__V1__TrafficStartRequest *req = (const void *) req_;
    Fexsim__V1__AgentTrafficStartRequest recv;
    struct flows *d = ctx;
    const struct vm *src, *dst;
    const struct vif *sv = NULL, *dv = NULL;
    struct fl_op *op;
    uint32_t id = 0;

    (void) rep_;
    if (fl_check_start(req, err)
        || !(src = fl_running_vm(d->model, req->src_vm, err))
        || !(dst = fl_running_vm(d->model, req->dst_vm, err))
        || fl_pick_nics(d->model, src, dst, &sv, &dv, err)) {
        return err->code;
    }
    if (d->n == FLOWS_MAX) {
        return fx_err_set(err, -ENOSPC, "%u flows already: stop one first",
                          FLOWS_MAX);
    }
    if (fl_next_id(d, &id, err)) {
        return err->code;
    }
    op = fl_op_new(d, call);
    fl_start_prepare(op, id, src, dst, sv, dv, req);
    recv = op->start;
    recv.role = FEXSIM__V1__TRAFFIC_ROLE__TRAFFIC_ROLE_RECEIVER;
    recv.vif_id = dv->id;
    recv.vnic = dv->vnic;
    if (fl_send(op, op->flow.dst_host, "AgentTraffic.TrafficStart",
                 &recv.base,
                 &fexsim__v1__agent_traffic_start_reply__descriptor,
                 fl_start_receiver_reply, err)) {
        free(op);
        return err->code;
    }
    d->f[d->n++] = op->flow;
    return RPC_DEFERRED;
}

/* ---- Stats and stop: merge what each side knows ---- */

/* Adds to the reply's entry of flow 'f' what host 'host' said of it. */
static void
fl_merge(struct fl_op *op, const char *host,
          const Fexsim__V1__FlowStats *in)
{
    for (size_t i = 0; i < op->n_flows; i++) {
        Fexsim__V1__FlowStats *o = op->flows[i];
        const struct flows_flow *f;

        if (o->flow_id != in->flow_id) {
            continue;
        }
        f = fl_flow_find(op->d, o->flow_id);
        if (f && !strcmp(f->src_host, host)) {
            o->sent = in->sent;
            o->running = in->running;
        }
        if (f && !strcmp(f->dst_host, host)) {
            o->received = in->received;
            o->lost = in->lost;
            o->duplicated = in->duplicated;
            o->reordered = in->reordered;
            o->tail_lost = in->tail_lost;
            o->latency_p50_us = in->latency_p50_us;
            o->latency_p99_us = in->latency_p99_us;
        }
    }
}

/* Tail loss needs both sides: sent - (highest + 1), where the receiver's
 * highest + 1 = distinct + gaps.  Only meaningful once the generator
 * stopped; before that, frames in flight are not lost. */
static void
fl_finish_flows(struct fl_op *op)
{
    for (size_t i = 0; i < op->n_flows; i++) {
        Fexsim__V1__FlowStats *o = op->flows[i];
        uint64_t seen = o->received - o->duplicated + o->lost;

        o->tail_lost = !o->running && o->sent > seen ? o->sent - seen : 0;
    }
}

/* The reply entries of the flows 'match' selects, from the fabric's
 * table; the agents fill the figures. */
static void
fl_select(struct fl_op *op, bool (*match)(const struct flows_flow *,
                                            const void *), const void *arg)
{
    struct flows *d = op->d;

    op->flows = rpc_call_alloc(op->call, d->n * sizeof *op->flows);
    for (uint32_t i = 0; i < d->n; i++) {
        Fexsim__V1__FlowStats *o;

        if (!match(&d->f[i], arg)) {
            continue;
        }
        o = rpc_call_alloc(op->call, sizeof *o);
        fexsim__v1__flow_stats__init(o);
        o->flow_id = d->f[i].id;
        o->src_vm = rpc_call_strdup(op->call, d->f[i].src_vm);
        o->dst_vm = rpc_call_strdup(op->call, d->f[i].dst_vm);
        op->flows[op->n_flows++] = o;
    }
}

static bool
fl_match_id(const struct flows_flow *f, const void *arg)
{
    uint32_t id = *(const uint32_t *) arg;

    return id == 0 || f->id == id;
}

static bool
fl_match_stop(const struct flows_flow *f, const void *arg)
{
    const Fexsim__V1__TrafficStopRequest *req = arg;

    if (req->flow_id) {
        return f->id == req->flow_id;
    }
    if (req->src_vm[0] || req->dst_vm[0]) {
        return !strcmp(f->src_vm, req->src_vm)
               && !strcmp(f->dst_vm, req->dst_vm);
    }
    return true;
}

/* The hosts of the selected flows, each once. */
static size_t
fl_hosts(const struct fl_op *op, const char *hosts[])
{
    size_t n = 0;

    for (size_t i = 0; i < op->n_flows; i++) {
        const struct flows_flow *f = fl_flow_find(op->d,
                                                 op->flows[i]->flow_id);
        const char *hs[2] = { f->src_host, f->dst_host };

        for (int k = 0; k < 2; k++) {
            size_t j = 0;

            if (!hs[k][0]) {
                continue;            /* A learnt flow's end not known. */
            }
            while (j < n && strcmp(hosts[j], hs[k])) {
                j++;
            }
            if (j == n) {
                hosts[n++] = hs[k];
            }
        }
    }
    return n;
}

/* The selected flows with an end on 'host'. */
static size_t
fl_host_flows(const struct fl_op *op, const char *host, uint32_t *ids)
{
    size_t n = 0;

    for (size_t i = 0; i < op->n_flows; i++) {
        const struct flows_flow *f = fl_flow_find(op->d,
                                                 op->flows[i]->flow_id);

        if (!strcmp(f->src_host, host) || !strcmp(f->dst_host, host)) {
            ids[n++] = f->id;
        }
    }
    return n;
}

/* One agent's answer awaited: for a caller's 'op' (stats, stop), or
 * for the table 'd' (a registered agent's list). */
struct fl_host_op {
    struct fl_op *op;
    struct flows *d;
    char host[40];
    bool stop;
};

static void fl_op_done(struct fl_op *op, bool stop);

static void
fl_host_reply(void *arg, int rc, const struct fx_err *err,
               const ProtobufCMessage *rep_)
{
    struct fl_host_op *hop = arg;
    const Fexsim__V1__AgentTrafficStatsReply *rep = (const void *) rep_;
    struct fl_op *op = hop->op;

    if (rc) {
        LOG_WARN("traffic stats from host '%s': %s", hop->host, err->msg);
    } else {
        for (size_t i = 0; i < rep->n_flows; i++) {
            fl_merge(op, hop->host, rep->flows[i]);
        }
    }
    if (--op->pending == 0) {
        fl_op_done(op, hop->stop);
    }
    free(hop);
}

/* Fills the reply; a stop also forgets the flows. */
static void
fl_op_fill(struct fl_op *op, bool stop)
{
    ProtobufCMessage *rep = rpc_call_reply(op->call);

    for (size_t i = 0; stop && i < op->n_flows; i++) {
        op->flows[i]->running = false;
    }
    fl_finish_flows(op);
    /* Both replies have 'repeated FlowStats flows = 1'. */
    if (stop) {
        ((Fexsim__V1__TrafficStopReply *) rep)->flows = op->flows;
        ((Fexsim__V1__TrafficStopReply *) rep)->n_flows = op->n_flows;
        for (size_t i = 0; i < op->n_flows; i++) {
            LOG_INFO("flow %u stopped", op->flows[i]->flow_id);
            fl_flow_remove(op->d, op->flows[i]->flow_id);
        }
    } else {
        ((Fexsim__V1__TrafficStatsReply *) rep)->flows = op->flows;
        ((Fexsim__V1__TrafficStatsReply *) rep)->n_flows = op->n_flows;
    }
}

/* Answers the deferred caller once every agent answered. */
static void
fl_op_done(struct fl_op *op, bool stop)
{
    fl_op_fill(op, stop);
    rpc_call_finish(op->call, 0, NULL);
    free(op);
}

/* Asks every host of the selected flows for its stats; a stop also asks
 * it to stop and forget them once reported (stop_flows). */
static int
fl_fan_out(struct fl_op *op, bool stop)
{
    const char *hosts[2 * FLOWS_MAX];
    size_t n = fl_hosts(op, hosts);
    Fexsim__V1__AgentTrafficStatsRequest req =
        FEXSIM__V1__AGENT_TRAFFIC_STATS_REQUEST__INIT;
    uint32_t ids[FLOWS_MAX];

    op->pending = 1;                 /* Until every call is sent. */
    for (size_t i = 0; i < n; i++) {
        struct fl_host_op *hop = calloc(1, sizeof *hop);
        struct fx_err err;

        if (!hop) {
            abort();
        }
        req.n_stop_flows = stop ? fl_host_flows(op, hosts[i], ids) : 0;
        req.stop_flows = ids;
        *hop = (struct fl_host_op) { .op = op, .stop = stop };
        snprintf(hop->host, sizeof hop->host, "%s", hosts[i]);
        if (agents_call(op->d->agents, hosts[i], "AgentTraffic.TrafficStats",
                        &req.base,
                        &fexsim__v1__agent_traffic_stats_reply__descriptor,
                        AGENTS_TIMEOUT_MS, fl_host_reply, hop, &err)) {
            /* Its figures are missing from the reply, which says so by
             * their being zero; the other hosts' stand. */
            LOG_WARN("traffic: %s", err.msg);
            free(hop);
            continue;
        }
        op->pending++;
    }
    if (--op->pending == 0) {
        /* No agent to ask: answer now (a handler must not finish its own
         * call). */
        fl_op_fill(op, stop);
        free(op);
        return 0;
    }
    return RPC_DEFERRED;
}

int
flows_traffic_stop(void *ctx, struct rpc_call *call,
                 const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                 struct fx_err *err)
{
    const Fexsim__V1__TrafficStopRequest *req = (const void *) req_;
    struct fl_op *op = fl_op_new(ctx, call);

    (void) rep_;
    fl_select(op, fl_match_stop, req);
    if (op->n_flows == 0 && (req->flow_id || req->src_vm[0])) {
        free(op);
        if (req->flow_id) {
            return fx_err_set(err, -ENOENT, "no flow %u", req->flow_id);
        }
        return fx_err_set(err, -ENOENT, "no flow from '%s' to '%s'",
                          req->src_vm, req->dst_vm);
    }
    return fl_fan_out(op, true);
}

int
flows_traffic_stats(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                  struct fx_err *err)
{
    const Fexsim__V1__TrafficStatsRequest *req = (const void *) req_;
    struct fl_op *op = fl_op_new(ctx, call);

    (void) rep_;
    fl_select(op, fl_match_id, &req->flow_id);
    if (op->n_flows == 0 && req->flow_id) {
        free(op);
        return fx_err_set(err, -ENOENT, "no flow %u", req->flow_id);
    }
    return fl_fan_out(op, false);
}

/* ---- Learning flows back from the agents ---- */

/* Names in 'vm' the VM whose VIF has 'mac', and in 'host' where the
 * model has it: "" for a MAC no VIF has (the VIF went while the flow
 * ran). */
static void
fl_learn_vm(const struct model *model, const ProtobufCBinaryData *mac,
            char vm[40], char host[40])
{
    const struct vif *v = mac->len == 6 ? model_vif_by_mac(model, mac->data)
                                        : NULL;
    const struct vm *rec = v && v->vm[0] ? model_vm(model, v->vm, NULL)
                                         : NULL;

    snprintf(vm, 40, "%s", v ? v->vm : "");
    snprintf(host, 40, "%s", rec ? rec->host : v ? v->host : "");
}

/* A flow this table does not know, of the end 'e' an agent runs: both
 * VMs from the MACs, their hosts from the model until their agents say.
 * NULL when the table is full or the flow was stopped here since. */
static struct flows_flow *
fl_learn_new(struct flows *d, const Fexsim__V1__AgentFlowEnd *e)
{
    struct flows_flow *f;

    if (fl_ended(d, e->flow_id)) {
        return NULL;
    }
    if (d->n == FLOWS_MAX) {
        LOG_WARN("flow %u: not learnt, %u flows already", e->flow_id,
                 FLOWS_MAX);
        return NULL;
    }
    f = &d->f[d->n++];
    memset(f, 0, sizeof *f);
    f->id = e->flow_id;
    f->learnt = true;
    fl_learn_vm(d->model, &e->src_mac, f->src_vm, f->src_host);
    fl_learn_vm(d->model, &e->dst_mac, f->dst_vm, f->dst_host);
    /* Never handed out again, even without a store to say so. */
    if (f->id >= d->next_id && f->id < UINT32_MAX) {
        d->next_id = f->id + 1;
    }
    return f;
}

/* Host 'host' runs end 'e': a flow not known is learnt, and a learnt
 * flow's end is where its agent says.  Flows started by this fabricd are
 * already where their agents are. */
static void
fl_learn_end(struct flows *d, const char *host,
             const Fexsim__V1__AgentFlowEnd *e)
{
    bool sender = e->role == FEXSIM__V1__TRAFFIC_ROLE__TRAFFIC_ROLE_SENDER;
    struct flows_flow *f = fl_flow_find(d, e->flow_id);

    if (!f && !(f = fl_learn_new(d, e))) {
        return;
    }
    if (!f->learnt) {
        return;
    }
    snprintf(sender ? f->src_host : f->dst_host, sizeof f->src_host, "%s",
             host);
    LOG_INFO("flow %u: %s -> %s: its %s runs on host '%s'", f->id,
             f->src_vm[0] ? f->src_vm : "?", f->dst_vm[0] ? f->dst_vm : "?",
             sender ? "sender" : "receiver", host);
}

static void
fl_list_reply(void *arg, int rc, const struct fx_err *err,
              const ProtobufCMessage *rep_)
{
    const Fexsim__V1__AgentTrafficListReply *rep = (const void *) rep_;
    struct fl_host_op *hop = arg;

    if (rc) {
        LOG_WARN("flows of host '%s' not learnt: %s", hop->host, err->msg);
    } else {
        for (size_t i = 0; i < rep->n_ends; i++) {
            fl_learn_end(hop->d, hop->host, rep->ends[i]);
        }
    }
    free(hop);
}

void
flows_host_up(struct flows *d, const char *host)
{
    Fexsim__V1__AgentTrafficListRequest req =
        FEXSIM__V1__AGENT_TRAFFIC_LIST_REQUEST__INIT;
    struct fl_host_op *hop = calloc(1, sizeof *hop);
    struct fx_err err;

    if (!hop) {
        abort();
    }
    hop->d = d;
    snprintf(hop->host, sizeof hop->host, "%s", host);
    if (agents_call(d->agents, host, "AgentTraffic.TrafficList", &req.base,
                    &fexsim__v1__agent_traffic_list_reply__descriptor,
                    AGENTS_TIMEOUT_MS, fl_list_reply, hop, &err)) {
        LOG_WARN("flows of host '%s' not learnt: %s", host, err.msg);
        free(hop);
    }
}

/* ---- Migration ---- */

size_t
flows_of_vm(const struct flows *d, const char *vm, int sink, uint32_t *ids,
            size_t max)
{
    size_t n = 0;

    for (uint32_t i = 0; d && i < d->n && n < max; i++) {
        const struct flows_flow *f = &d->f[i];

        if (!strcmp(sink ? f->dst_vm : f->src_vm, vm)) {
            ids[n++] = f->id;
        }
    }
    return n;
}

void
flows_vm_moved(struct flows *d, const char *vm, const char *host)
{
    for (uint32_t i = 0; d && i < d->n; i++) {
        struct flows_flow *f = &d->f[i];

        if (!strcmp(f->src_vm, vm)) {
            snprintf(f->src_host, sizeof f->src_host, "%s", host);
        }
        if (!strcmp(f->dst_vm, vm)) {
            snprintf(f->dst_host, sizeof f->dst_host, "%s", host);
        }
    }
}

size_t
flows_count(const struct flows *fl)
{
    return fl->n;
}

void
flows_at(const struct flows *fl, size_t i, uint32_t *idp,
         const char **src_vmp, const char **dst_vmp)
{
    *idp = fl->f[i].id;
    *src_vmp = fl->f[i].src_vm;
    *dst_vmp = fl->f[i].dst_vm;
}
