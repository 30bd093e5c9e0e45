/* hostsvc: see hostsvc.h. */
#include "hostsvc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric.pb-c.h"
#include "flows/flows.h"
#include "frame.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_time.h"
#include "fx_version.h"
#include "log.h"
#include "migcoord/migcoord.h"
#include "model/model.h"
#include "pbenum.h"
#include "reconcile.h"
#include "rpc.h"

LOG_MODULE("hostsvc");

struct hostsvc {
    struct model *model;             /* Borrowed, all four. */
    struct reconcile *rc;
    struct migcoord *mc;
    struct flows *fl;
    uint32_t heartbeat_interval_ms;
    struct event *expire_timer;      /* Owned. */
    const struct rpc_registry *reg;  /* Borrowed: where it registered, for
                                      * GetVersion's methods. */
};

static void
host_info_from_req(const Fexsim__V1__RegisterHostRequest *req,
                   struct host_info *info)
{
    const Fexsim__V1__AdapterSummary *ad = req->adapter;

    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", req->name);
    snprintf(info->rpc_addr, sizeof info->rpc_addr, "%s", req->rpc_addr);
    snprintf(info->hypervisor, sizeof info->hypervisor, "%s",
             req->hypervisor);
    snprintf(info->hypervisor_version, sizeof info->hypervisor_version, "%s",
             req->hypervisor_version);
    if (ad) {
        snprintf(info->adapter_model, sizeof info->adapter_model, "%s",
                 ad->model);
        info->vnics_total = ad->vnics_total;
        info->vnics_free = ad->vnics_free;
    }
    info->chassis = req->chassis;
    info->slot = req->slot;
}

/* A blade sits in a slot of a chassis: both or neither, in range. */
static int
hs_check_location(const Fexsim__V1__RegisterHostRequest *req,
                  struct fx_err *err)
{
    if (!req->chassis != !req->slot || req->chassis > FX_LIMITS_MAX_CHASSIS
        || req->slot > FX_LIMITS_CHASSIS_SLOTS) {
        return fx_err_set(err, -EINVAL, "host '%s': chassis %u slot %u: "
                          "give both, chassis 1-%u and slot 1-%u, or "
                          "neither", req->name, req->chassis, req->slot,
                          FX_LIMITS_MAX_CHASSIS, FX_LIMITS_CHASSIS_SLOTS);
    }
    return 0;
}

/* An agent acts for the host its handshake named, and for no other. */
static int
hs_own_host(const struct rpc_call *call, const char *name,
            struct fx_err *err)
{
    const struct auth_ident *peer = rpc_call_peer(call);

    if (strcmp(peer->name, name)) {
        return fx_err_set(err, -EACCES, "the agent of host '%s' cannot act "
                          "for host '%.39s'", peer->name, name);
    }
    return 0;
}

static int
hs_register_host(void *ctx, struct rpc_call *call,
                 const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                 struct fx_err *err)
{
    const Fexsim__V1__RegisterHostRequest *req = (const void *) req_;
    Fexsim__V1__RegisterHostReply *rep = (void *) rep_;
    struct hostsvc *hs = ctx;
    struct host_info info;

    if (strlen(req->name) >= sizeof info.name) {
        return fx_err_set(err, -EINVAL, "host name '%.60s...' is longer "
                          "than 39 characters", req->name);
    }
    if (hs_own_host(call, req->name, err) || hs_check_location(req, err)) {
        return err->code;
    }
    host_info_from_req(req, &info);
    if (model_host_register(hs->model, &info, rpc_call_conn(call),
                            fx_time_now_ms(), err)) {
        return err->code;
    }
    rep->heartbeat_interval_ms = hs->heartbeat_interval_ms;
    LOG_INFO("host '%s' up: agent at %s, %s %s, %u/%u vNICs free",
             info.name, info.rpc_addr, info.hypervisor,
             info.hypervisor_version, info.vnics_free, info.vnics_total);
    reconcile_host(hs->rc, info.name);
    /* Migrations waiting for this agent to say where their VM runs. */
    migcoord_host_up(hs->mc, info.name);
    /* Flows its guests run that the fabric does not know (restarted). */
    flows_host_up(hs->fl, info.name);
    return 0;
}

static int
hs_heartbeat(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__HeartbeatRequest *req = (const void *) req_;
    const Fexsim__V1__AdapterSummary *ad = req->adapter;
    struct hostsvc *hs = ctx;
    const struct host *h = model_host(hs->model, req->name);

    (void) rep_;
    if (hs_own_host(call, req->name, err)) {
        return err->code;
    }
    return model_host_heartbeat(hs->model, req->name, rpc_call_conn(call),
                                ad ? ad->vnics_total
                                   : h ? h->info.vnics_total : 0,
                                ad ? ad->vnics_free
                                   : h ? h->info.vnics_free : 0,
                                fx_time_now_ms(), err);
}

/* Fills 'h' from 'host' with strings borrowed from 'host'. */
static void
host_to_msg(const struct host *host, uint64_t now_ms, Fexsim__V1__Host *h,
            Fexsim__V1__AdapterSummary *ad)
{
    fexsim__v1__host__init(h);
    fexsim__v1__adapter_summary__init(ad);
    h->name = (char *) host->info.name;
    h->state = host->state == HOST_UP ? FEXSIM__V1__HOST_STATE__HOST_STATE_UP
                                      : FEXSIM__V1__HOST_STATE__HOST_STATE_DOWN;
    h->rpc_addr = (char *) host->info.rpc_addr;
    h->hypervisor = (char *) host->info.hypervisor;
    h->hypervisor_version = (char *) host->info.hypervisor_version;
    h->down_reason = (char *) host->down_reason;
    h->last_seen_ms_ago = now_ms - host->last_seen_ms;
    ad->model = (char *) host->info.adapter_model;
    ad->vnics_total = host->info.vnics_total;
    ad->vnics_free = host->info.vnics_free;
    h->adapter = ad;
    h->chassis = host->info.chassis;
    h->slot = host->info.slot;
}

/* Natural order, so that h2 comes before h10. */
static int
host_msg_cmp(const void *a, const void *b)
{
    const Fexsim__V1__Host *const *x = a, *const *y = b;

    return strverscmp((*x)->name, (*y)->name);
}

static int
hs_list_hosts(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
              ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__ListHostsRequest *req = (const void *) req_;
    Fexsim__V1__ListHostsReply *rep = (void *) rep_;
    struct hostsvc *hs = ctx;
    size_t n = model_host_count(hs->model);
    uint64_t now = fx_time_now_ms();

    (void) err;
    rep->hosts = rpc_call_alloc(call, n * sizeof *rep->hosts);
    for (size_t i = 0; i < n; i++) {
        const struct host *host = model_host_at(hs->model, i);
        Fexsim__V1__Host *h;
        Fexsim__V1__AdapterSummary *ad;

        if (req->chassis && host->info.chassis != req->chassis) {
            continue;
        }
        h = rpc_call_alloc(call, sizeof *h);
        ad = rpc_call_alloc(call, sizeof *ad);
        host_to_msg(host, now, h, ad);
        rep->hosts[rep->n_hosts++] = h;
    }
    qsort(rep->hosts, rep->n_hosts, sizeof *rep->hosts, host_msg_cmp);
    return 0;
}

static int
hs_get_host(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
            ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__GetHostRequest *req = (const void *) req_;
    Fexsim__V1__GetHostReply *rep = (void *) rep_;
    struct hostsvc *hs = ctx;
    const struct host *host = model_host(hs->model, req->name);
    Fexsim__V1__AdapterSummary *ad;

    if (!host) {
        return fx_err_set(err, -ENOENT, "host '%s' not found", req->name);
    }
    rep->host = rpc_call_alloc(call, sizeof *rep->host);
    ad = rpc_call_alloc(call, sizeof *ad);
    host_to_msg(host, fx_time_now_ms(), rep->host, ad);
    return 0;
}

/* What this fabricd does beyond its methods, for a client to check
 * before it relies on it (GetVersionReply.features, docs/API.md). */
static const char *const hs_features[] = {
    "events",                /* Events.Subscribe pushes, resumable. */
    "migration-progress",    /* Live job statistics, pushed 4 a second. */
    "migration-history",     /* Finished migrations kept across restarts. */
    "reasons",               /* Envelope.reason on refusals. */
};

/* The flavours fabricd runs (fabricd --flavor). */
static const Fexsim__V1__Flavor hs_flavors[] = {
    FEXSIM__V1__FLAVOR__FLAVOR_KVM, FEXSIM__V1__FLAVOR__FLAVOR_VMWARE,
    FEXSIM__V1__FLAVOR__FLAVOR_FAILOVER,
};

static int
hs_get_version(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
               ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__GetVersionReply *rep = (void *) rep_;
    struct hostsvc *hs = ctx;
    unsigned role = AUTH_ROLE_MASK(rpc_call_peer(call)->role);
    const struct rpc_registry_entry *e;
    int flavor = 0;
    size_t n;

    (void) req_;
    (void) err;
    rep->protocol_version = FRAME_VERSION;
    rep->handshake_version = AUTH_VERSION;
    rep->fexsim_version = FX_VERSION_STRING;
    pbenum_parse(&fexsim__v1__flavor__descriptor, migcoord_flavor(hs->mc),
                 &flavor, NULL);
    rep->flavor = (Fexsim__V1__Flavor) flavor;
    rep->n_flavors = sizeof hs_flavors / sizeof *hs_flavors;
    rep->flavors = (Fexsim__V1__Flavor *) hs_flavors;
    rep->n_features = sizeof hs_features / sizeof *hs_features;
    rep->features = (char **) hs_features;
    /* From the registry itself, so that the list cannot go stale. */
    e = rpc_registry_entries(hs->reg, &n);
    rep->methods = rpc_call_alloc(call, (n ? n : 1) * sizeof *rep->methods);
    for (size_t i = 0; i < n; i++) {
        if (e[i].roles & role) {
            rep->methods[rep->n_methods++] = e[i].name;
        }
    }
    return 0;
}

/* In the order of service Fabric in proto/fabric.proto. */
static const rpc_handler_fn hs_handlers[] = {
    hs_register_host,
    hs_heartbeat,
    hs_list_hosts,
    hs_get_host,
    hs_get_version,
};

int
hostsvc_register(struct hostsvc *hs, struct rpc_registry *reg,
                 struct fx_err *err)
{
    /* Registration and heartbeats are an agent's, each for its own host
     * (hs_own_host); the listing is the operators'; the version anyone's
     * (it is what a peer asks first). */
    hs->reg = reg;
    return rpc_registry_add(reg, &fexsim__v1__fabric__descriptor,
                            hs_handlers,
                            sizeof hs_handlers / sizeof *hs_handlers, hs,
                            AUTH_ROLE_MASK(AUTH_ROLE_AGENT), err)
           || rpc_registry_set_roles(reg, "Fabric.ListHosts",
                                     AUTH_ROLE_MASK(AUTH_ROLE_OPERATOR), err)
           || rpc_registry_set_roles(reg, "Fabric.GetHost",
                                     AUTH_ROLE_MASK(AUTH_ROLE_OPERATOR), err)
           || rpc_registry_set_roles(reg, "Fabric.GetVersion",
                                     AUTH_ROLES_ALL, err)
           ? err->code : 0;
}

/* ---- Liveness ---- */

void
hostsvc_conn_lost(struct hostsvc *hs, struct rpc_conn *conn,
                  const char *reason)
{
    const struct host *h;
    char why[128];

    snprintf(why, sizeof why, "connection lost: %s", reason);
    h = model_host_lost(hs->model, conn, why, fx_time_now_ms());
    if (h) {
        LOG_WARN("host '%s' down: %s", h->info.name, why);
    }
}

static void
hs_host_expired(const struct host *h, void *arg)
{
    (void) arg;
    LOG_WARN("host '%s' down: %s", h->info.name, h->down_reason);
}

static void
hs_expire_cb(evutil_socket_t s, short what, void *arg)
{
    struct hostsvc *hs = arg;

    (void) s;
    (void) what;
    model_host_expire(hs->model, fx_time_now_ms(), hs_host_expired, NULL);
}

struct hostsvc *
hostsvc_create(struct event_base *base, struct model *model,
               struct reconcile *rc, struct migcoord *mc, struct flows *fl,
               uint32_t heartbeat_interval_ms, uint32_t heartbeat_timeout_ms)
{
    struct hostsvc *hs = calloc(1, sizeof *hs);
    /* Four checks per timeout: a silent host is down at most a quarter of
     * the timeout late. */
    uint32_t period = heartbeat_timeout_ms / 4 ? heartbeat_timeout_ms / 4 : 1;
    struct timeval tv = { period / 1000, (period % 1000) * 1000 };

    if (!hs) {
        abort();
    }
    *hs = (struct hostsvc) { model, rc, mc, fl, heartbeat_interval_ms,
                             NULL, NULL };
    hs->expire_timer = event_new(base, -1, EV_PERSIST, hs_expire_cb, hs);
    if (!hs->expire_timer) {
        abort();
    }
    event_add(hs->expire_timer, &tv);
    return hs;
}

void
hostsvc_destroy(struct hostsvc *hs)
{
    if (hs) {
        event_free(hs->expire_timer);
        free(hs);
    }
}
