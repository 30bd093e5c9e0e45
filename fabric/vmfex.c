#include "vmfex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "hostreg.h"
#include "log.h"
#include "migcoord.h"
#include "profile.h"
#include "vif.h"
#include "vmfex_priv.h"
#include "vmfex_store.h"

LOG_MODULE("vmfex");

/* How long an agent has to answer a forwarded call. */
#define VMFEX_AGENT_TIMEOUT_MS 10000

struct vmfex *
vmfex_create(struct hostreg *hosts)
{
    struct vmfex *vx = calloc(1, sizeof *vx);

    if (!vx) {
        abort();
    }
    vx->hosts = hosts;
    vx->profiles = profile_table_create();
    vx->vifs = vif_table_create();
    vx->vms = vm_table_create();
    vx->mc = migcoord_create(vx);
    snprintf(vx->flavor, sizeof vx->flavor, "kvm");
    return vx;
}

void
vmfex_set_flavor(struct vmfex *vx, const char *flavor)
{
    if (flavor) {
        snprintf(vx->flavor, sizeof vx->flavor, "%s", flavor);
    }
}

void
vmfex_destroy(struct vmfex *vx)
{
    if (!vx) {
        return;
    }
    migcoord_destroy(vx->mc);
    vm_table_destroy(vx->vms);
    vif_table_destroy(vx->vifs);
    profile_table_destroy(vx->profiles);
    free(vx);
}

/* ---- Forwarding to agents ---- */

static void
vmfex_agent_reply(void *arg, int status, const char *message,
                  const ProtobufCMessage *rep)
{
    struct vmfex_op *op = arg;
    struct fx_err err;
    int rc;

    fx_err_clear(&err);
    if (status != RPC_OK) {
        fx_err_set(&err, rpc_errno_from_status(status), "%s", message);
        rep = NULL;
    }
    rc = op->done(op, rep, &err);
    rpc_call_finish(op->call, rc, &err);
    free(op);
}

int
vmfex_forward(struct vmfex_op *op, const char *host, const char *method,
              const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *rep_desc, struct fx_err *err)
{
    struct host *h = hostreg_find(op->vx->hosts, host);
    int rc;

    if (!h) {
        rc = fx_err_set(err, -ENOENT, "host '%s' not found", host);
    } else if (h->state != HOST_UP || !h->session) {
        rc = fx_err_set(err, -EHOSTDOWN, "host '%s' is down: %s", host,
                        h->down_reason);
    } else {
        rc = rpc_conn_call(h->session, method, req, rep_desc,
                           VMFEX_AGENT_TIMEOUT_MS, vmfex_agent_reply, op,
                           NULL);
        if (!rc) {
            return RPC_DEFERRED;
        }
        fx_err_set(err, rc, "cannot reach the agent of host '%s'", host);
    }
    free(op);
    return rc;
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
    if (profile_create(vx->profiles, &p, err)) {
        return err->code;
    }
    if (vmfex_save_profile(vx, profile_find(vx->profiles, p.name), err)) {
        profile_delete(vx->profiles, p.name, NULL);
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
    const struct profile *p = profile_find(vx->profiles, req->name);

    (void) call;
    (void) rep_;
    /* Checked in memory first, so that a profile in use is refused with
     * the table's message, then forgotten on disk before in memory. */
    if (p && p->ports_used) {
        return profile_delete(vx->profiles, req->name, err);
    }
    if (p && vmfex_forget_profile(vx, req->name, err)) {
        return err->code;
    }
    return profile_delete(vx->profiles, req->name, err);
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
    size_t n = profile_count(vx->profiles);

    (void) req_;
    (void) err;
    rep->n_profiles = n;
    rep->profiles = rpc_call_alloc(call, n * sizeof *rep->profiles);
    for (size_t i = 0; i < n; i++) {
        rep->profiles[i] = profile_to_msg(profile_at(vx->profiles, i), call);
    }
    return 0;
}

static const rpc_handler_fn profiles_handlers[] = {
    profiles_create,
    profiles_delete,
    profiles_list,
};

/* ---- VIFs ---- */

void
vmfex_vif_to_msg(const struct vmfex *vx, uint32_t id, struct rpc_call *call,
                 Fexsim__V1__Vif *m)
{
    const struct vif *v = vif_find(vx->vifs, id);
    char mac[18];

    fexsim__v1__vif__init(m);
    if (!v) {
        return;
    }
    vif_mac_format(v->mac, mac);
    m->id = v->id;
    m->mac = rpc_call_strdup(call, mac);
    m->host = (char *) v->host;
    m->adapter = (char *) v->adapter;
    m->vnic = v->vnic;
    m->profile = (char *) v->profile;
    m->vm = (char *) v->vm;
    m->directpath = v->directpath;
    m->state = v->state == VIF_ONLINE ? FEXSIM__V1__VIF_STATE__VIF_STATE_ONLINE
                                      : FEXSIM__V1__VIF_STATE__VIF_STATE_OFFLINE;
    migcoord_vif_mode(vx->mc, v, call, &m->mode, &m->mode_reason);
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
    size_t n = vif_count(vx->vifs);

    (void) req_;
    (void) err;
    rep->n_vifs = n;
    rep->vifs = rpc_call_alloc(call, n * sizeof *rep->vifs);
    for (size_t i = 0; i < n; i++) {
        rep->vifs[i] = rpc_call_alloc(call, sizeof *rep->vifs[i]);
        vmfex_vif_to_msg(vx, vif_at(vx->vifs, i)->id, call, rep->vifs[i]);
    }
    qsort(rep->vifs, n, sizeof *rep->vifs, vif_msg_cmp);
    return 0;
}

static const rpc_handler_fn vifs_handlers[] = {
    vifs_list,
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

static int
pt_configure_done(struct vmfex_op *op, const ProtobufCMessage *rep,
                  struct fx_err *err)
{
    if (!rep) {
        return err->code;
    }
    pt_copy(op->call, (const void *) rep, (void *) rpc_call_reply(op->call));
    return 0;
}

static int
pt_reboot_done(struct vmfex_op *op, const ProtobufCMessage *rep_,
               struct fx_err *err)
{
    const Fexsim__V1__RebootReply *rep = (const void *) rep_;
    Fexsim__V1__RebootReply *out = (void *) rpc_call_reply(op->call);
    Fexsim__V1__PassthroughReply *pt;

    if (!rep) {
        return err->code;
    }
    pt = rpc_call_alloc(op->call, sizeof *pt);
    fexsim__v1__passthrough_reply__init(pt);
    if (rep->passthrough) {
        pt_copy(op->call, rep->passthrough, pt);
    }
    out->passthrough = pt;
    return 0;
}

struct vmfex_op *
vmfex_op_new(struct vmfex *vx, struct rpc_call *call, vmfex_done_fn done)
{
    struct vmfex_op *op = calloc(1, sizeof *op);

    if (!op) {
        abort();
    }
    op->vx = vx;
    op->call = call;
    op->done = done;
    return op;
}

static int
pt_configure(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__PassthroughRequest *req = (const void *) req_;

    (void) rep_;
    return vmfex_forward(vmfex_op_new(ctx, call, pt_configure_done),
                         req->host, "HostVms.Passthrough", req_,
                         &fexsim__v1__passthrough_reply__descriptor, err);
}

static int
pt_reboot(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
          ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__RebootRequest *req = (const void *) req_;

    (void) rep_;
    return vmfex_forward(vmfex_op_new(ctx, call, pt_reboot_done), req->host,
                         "HostVms.Reboot", req_,
                         &fexsim__v1__reboot_reply__descriptor, err);
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
    if (rpc_registry_add(reg, &fexsim__v1__profiles__descriptor,
                         profiles_handlers, N(profiles_handlers), vx, err)
        || rpc_registry_add(reg, &fexsim__v1__vifs__descriptor,
                            vifs_handlers, N(vifs_handlers), vx, err)
        || rpc_registry_add(reg, &fexsim__v1__vms__descriptor,
                            vms_handlers, vms_n_handlers, vx, err)
        || rpc_registry_add(reg, &fexsim__v1__passthrough__descriptor,
                            pt_handlers, N(pt_handlers), vx, err)
        || migcoord_register(vx->mc, reg, err)) {
        return err->code;
    }
    return 0;
}
