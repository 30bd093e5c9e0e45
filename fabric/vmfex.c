/* vmfex: see vmfex.h. */
#include "vmfex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "fx_err.h"
#include "fx_mac.h"
#include "fx_time.h"
#include "log.h"
#include "migcoord/migcoord.h"
#include "model/model.h"
#include "rpc.h"
#include "vmfex.pb-c.h"

LOG_MODULE("vmfex");

struct vmfex {
    struct model *model;             /* Borrowed, all three. */
    struct agents *agents;
    const struct migcoord *mc;       /* For the VIFs' modes. */
};

struct vmfex *
vmfex_create(struct model *model, struct agents *agents,
             const struct migcoord *mc)
{
    struct vmfex *vx = calloc(1, sizeof *vx);

    if (!vx) {
        abort();
    }
    *vx = (struct vmfex) { model, agents, mc };
    return vx;
}

void
vmfex_destroy(struct vmfex *vx)
{
    free(vx);
}

/* ---- Profiles ---- */

static int
profiles_create(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
                ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__PortProfile *m =
        ((const Fexsim__V1__CreateProfileRequest *) req_)->profile;
    struct vmfex *vx = ctx;
    struct profile p;

    (void) call;
    (void) rep_;
    if (!m) {
        return fx_err_set(err, -EINVAL, "Create needs a profile");
    }
    memset(&p, 0, sizeof p);
    if (strlen(m->name) >= sizeof p.name || strlen(m->qos) >= sizeof p.qos
        || m->n_vlans > PROFILE_MAX_VLANS) {
        return fx_err_set(err, -EINVAL, "profile name, QoS class or VLAN "
                          "list too long");
    }
    snprintf(p.name, sizeof p.name, "%s", m->name);
    snprintf(p.qos, sizeof p.qos, "%s", m->qos);
    p.n_vlans = (uint32_t) m->n_vlans;
    for (size_t i = 0; i < m->n_vlans; i++) {
        p.vlans[i] = m->vlans[i] > 65535 ? 0 : (uint16_t) m->vlans[i];
    }
    p.max_ports = m->max_ports;
    p.high_performance = m->high_performance;
    if (model_profile_create(vx->model, &p, err)) {
        return err->code;
    }
    LOG_INFO("port profile '%s' created", p.name);
    return 0;
}

static int
profiles_delete(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
                ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__DeleteProfileRequest *req = (const void *) req_;
    struct vmfex *vx = ctx;

    (void) call;
    (void) rep_;
    return model_profile_delete(vx->model, req->name, err);
}

static Fexsim__V1__PortProfile *
profile_to_msg(const struct profile *p, struct rpc_call *call)
{
    Fexsim__V1__PortProfile *m = rpc_call_alloc(call, sizeof *m);

    fexsim__v1__port_profile__init(m);
    m->name = (char *) p->name;
    m->qos = (char *) p->qos;
    m->max_ports = p->max_ports;
    m->high_performance = p->high_performance;
    m->ports_used = p->ports_used;
    m->n_vlans = p->n_vlans;
    m->vlans = rpc_call_alloc(call, p->n_vlans * sizeof *m->vlans);
    for (uint32_t i = 0; i < p->n_vlans; i++) {
        m->vlans[i] = p->vlans[i];
    }
    return m;
}

static int
profiles_list(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
              ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__ListProfilesReply *rep = (void *) rep_;
    struct vmfex *vx = ctx;
    size_t n = model_profile_count(vx->model);

    (void) req_;
    (void) err;
    rep->n_profiles = n;
    rep->profiles = rpc_call_alloc(call, n * sizeof *rep->profiles);
    for (size_t i = 0; i < n; i++) {
        rep->profiles[i] = profile_to_msg(model_profile_at(vx->model, i),
                                          call);
    }
    return 0;
}

static int
profiles_get(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__GetProfileRequest *req = (const void *) req_;
    Fexsim__V1__ProfileReply *rep = (void *) rep_;
    struct vmfex *vx = ctx;
    const struct profile *p = model_profile(vx->model, req->name);

    if (!p) {
        return fx_err_set(err, -ENOENT, "profile '%s' not found",
                          req->name);
    }
    rep->profile = profile_to_msg(p, call);
    return 0;
}

static const rpc_handler_fn profiles_handlers[] = {
    profiles_create,
    profiles_delete,
    profiles_list,
    profiles_get,
};

/* ---- VIFs ---- */

void
vmfex_vif_msg(const struct model *model, const struct vif *v,
              const struct migcoord *mc, struct rpc_call *call,
              Fexsim__V1__Vif *m)
{
    uint64_t at, now = fx_time_now_ms();
    char mac[18];

    fexsim__v1__vif__init(m);
    fx_mac_format(v->mac, mac);
    /* Copies: the VIF may go before the reply leaves. */
    m->id = v->id;
    m->mac = rpc_call_strdup(call, mac);
    m->host = rpc_call_strdup(call, v->host);
    m->adapter = rpc_call_strdup(call, v->adapter);
    m->vnic = v->vnic;
    m->profile = rpc_call_strdup(call, v->profile);
    m->vm = rpc_call_strdup(call, v->vm);
    m->directpath = v->directpath;
    m->state = v->state == VIF_ONLINE ? FEXSIM__V1__VIF_STATE__VIF_STATE_ONLINE
                                      : FEXSIM__V1__VIF_STATE__VIF_STATE_OFFLINE;
    migcoord_vif_mode(mc, v, call, &m->mode, &m->mode_reason);
    if (model_vif_expires(model, v, &at)) {
        /* Rounded up: "0" would read as online, and it is not gone yet. */
        m->expires_in_s = at > now ? (uint32_t) ((at - now + 999) / 1000)
                                   : 1;
    }
}

/* By id, so that a listing is the same before and after a restart (the
 * table's own order depends on the history of removals). */
static int
vif_msg_cmp(const void *a, const void *b)
{
    const Fexsim__V1__Vif *const *x = a, *const *y = b;

    return (*x)->id < (*y)->id ? -1 : (*x)->id > (*y)->id;
}

static int
vifs_list(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
          ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__ListVifsReply *rep = (void *) rep_;
    struct vmfex *vx = ctx;
    size_t n = model_vif_count(vx->model);

    (void) req_;
    (void) err;
    rep->n_vifs = n;
    rep->vifs = rpc_call_alloc(call, n * sizeof *rep->vifs);
    for (size_t i = 0; i < n; i++) {
        rep->vifs[i] = rpc_call_alloc(call, sizeof *rep->vifs[i]);
        vmfex_vif_msg(vx->model, model_vif_at(vx->model, i), vx->mc, call,
                      rep->vifs[i]);
    }
    qsort(rep->vifs, n, sizeof *rep->vifs, vif_msg_cmp);
    return 0;
}

static int
vifs_get(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
         ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__GetVifRequest *req = (const void *) req_;
    Fexsim__V1__VifReply *rep = (void *) rep_;
    struct vmfex *vx = ctx;
    const struct vif *v = model_vif(vx->model, req->id);

    if (!v) {
        return fx_err_set(err, -ENOENT, "VIF %u not found", req->id);
    }
    rep->vif = rpc_call_alloc(call, sizeof *rep->vif);
    vmfex_vif_msg(vx->model, v, vx->mc, call, rep->vif);
    return 0;
}

static const rpc_handler_fn vifs_handlers[] = {
    vifs_list,
    vifs_get,
};

/* ---- Passthrough: the agent answers, we relay ---- */

/* Deep-copies the agent's passthrough reply into 'out' with memory of
 * 'call', since the agent's reply is freed after the callback. */
static void
pt_copy(struct rpc_call *call, const Fexsim__V1__PassthroughReply *in,
        Fexsim__V1__PassthroughReply *out)
{
    out->supported = in->supported;
    out->message = rpc_call_strdup(call, in->message);
    out->n_devices = in->n_devices;
    out->devices = rpc_call_alloc(call, in->n_devices * sizeof *out->devices);
    for (size_t i = 0; i < in->n_devices; i++) {
        Fexsim__V1__PciDevice *d = rpc_call_alloc(call, sizeof *d);

        *d = *in->devices[i];
        d->address = rpc_call_strdup(call, in->devices[i]->address);
        d->description = rpc_call_strdup(call, in->devices[i]->description);
        out->devices[i] = d;
    }
}

/* Relays the agent's answer to the deferred caller: 'fill' copies the
 * reply into the caller's, since the agent's is freed after this. */
struct pt_op {
    struct rpc_call *call;
    void (*fill)(struct rpc_call *call, const ProtobufCMessage *rep);
};

static void
pt_reply(void *arg, int rc, const struct fx_err *err,
         const ProtobufCMessage *rep)
{
    struct pt_op *op = arg;

    if (!rc) {
        op->fill(op->call, rep);
    }
    rpc_call_finish(op->call, rc, err);
    free(op);
}

static void
pt_configure_fill(struct rpc_call *call, const ProtobufCMessage *rep)
{
    pt_copy(call, (const void *) rep, (void *) rpc_call_reply(call));
}

static void
pt_reboot_fill(struct rpc_call *call, const ProtobufCMessage *rep_)
{
    const Fexsim__V1__RebootReply *rep = (const void *) rep_;
    Fexsim__V1__RebootReply *out = (void *) rpc_call_reply(call);
    Fexsim__V1__PassthroughReply *pt = rpc_call_alloc(call, sizeof *pt);

    fexsim__v1__passthrough_reply__init(pt);
    if (rep->passthrough) {
        pt_copy(call, rep->passthrough, pt);
    }
    out->passthrough = pt;
}

/* Sends 'req' as 'method' to the agent of 'host' for 'call'. */
static int
pt_forward(struct vmfex *vx, struct rpc_call *call, const char *host,
           const char *method, const ProtobufCMessage *req,
           const ProtobufCMessageDescriptor *rep_desc,
           void (*fill)(struct rpc_call *, const ProtobufCMessage *),
           struct fx_err *err)
{
    struct pt_op *op = calloc(1, sizeof *op);

    if (!op) {
        abort();
    }
    *op = (struct pt_op) { call, fill };
    if (agents_call(vx->agents, host, method, req, rep_desc,
                    AGENTS_TIMEOUT_MS, pt_reply, op, err)) {
        free(op);
        return err->code;
    }
    return RPC_DEFERRED;
}

static int
pt_configure(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__PassthroughRequest *req = (const void *) req_;

    (void) rep_;
    return pt_forward(ctx, call, req->host, "HostVms.Passthrough", req_,
                      &fexsim__v1__passthrough_reply__descriptor,
                      pt_configure_fill, err);
}

static int
pt_reboot(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
          ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__RebootRequest *req = (const void *) req_;

    (void) rep_;
    return pt_forward(ctx, call, req->host, "HostVms.Reboot", req_,
                      &fexsim__v1__reboot_reply__descriptor, pt_reboot_fill,
                      err);
}

static const rpc_handler_fn pt_handlers[] = {
    pt_configure,
    pt_reboot,
};

/* ---- Registration ---- */

#define N(a) (sizeof (a) / sizeof *(a))

int
vmfex_register(struct vmfex *vx, struct rpc_registry *reg, struct fx_err *err)
{
    const unsigned op = AUTH_ROLE_MASK(AUTH_ROLE_OPERATOR);

    if (rpc_registry_add(reg, &fexsim__v1__profiles__descriptor,
                         profiles_handlers, N(profiles_handlers), vx, op, err)
        || rpc_registry_add(reg, &fexsim__v1__vifs__descriptor,
                            vifs_handlers, N(vifs_handlers), vx, op, err)
        || rpc_registry_add(reg, &fexsim__v1__passthrough__descriptor,
                            pt_handlers, N(pt_handlers), vx, op, err)) {
        return err->code;
    }
    return 0;
}
