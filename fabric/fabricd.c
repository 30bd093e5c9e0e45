#include "fabricd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplane/dplane.h"
#include "dpsvc.h"
#include "fabric.pb-c.h"
#include "fx_err.h"
#include "fx_util.h"
#include "hostreg.h"
#include "log.h"
#include "rpc.h"
#include "store/store.h"
#include "vmfex.h"
#include "vmfex_store.h"

LOG_MODULE("fabricd");

struct fabricd {
    struct event_base *base;          /* Borrowed. */
    const struct fabricd_cfg *cfg;    /* Borrowed. */
    struct rpc_registry *registry;
    struct rpc_server *server;
    struct hostreg *hosts;
    struct vmfex *vmfex;              /* Profiles, VIFs, VMs. */
    struct dplane *dplane;            /* Uplinks and switching. */
    struct dpsvc *dpsvc;              /* Dataplane service, port hooks. */
    struct store *store;              /* NULL without --state. */
    struct event *expire_timer;
};

void
fabricd_cfg_init(struct fabricd_cfg *cfg)
{
    *cfg = (struct fabricd_cfg) {
        .listen = "127.0.0.1:7800",
        .addr_file = NULL,
        .heartbeat_interval_ms = 1000,
        .heartbeat_timeout_ms = 3000,
        .uplink_listen = "127.0.0.1:0",
    };
}

/* ---- Host handlers ---- */

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
}

static int
fabric_register_host(void *ctx, struct rpc_call *call,
                     const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                     struct fx_err *err)
{
    const Fexsim__V1__RegisterHostRequest *req = (const void *) req_;
    Fexsim__V1__RegisterHostReply *rep = (void *) rep_;
    struct fabricd *fd = ctx;
    struct rpc_conn *conn = rpc_call_conn(call);
    struct host_info info;
    int rc;

    if (strlen(req->name) >= sizeof info.name) {
        return fx_err_set(err, -EINVAL, "host name '%.60s...' is longer "
                          "than 39 characters", req->name);
    }
    host_info_from_req(req, &info);
    /* The configuration is durable before the agent hears it is up. */
    if (fx_name_valid(info.name) && vmfex_save_host(fd->vmfex, &info, err)) {
        return err->code;
    }
    rc = hostreg_register(fd->hosts, &info, conn, fx_now_ms(), NULL, err);
    if (rc) {
        return rc;
    }
    rpc_conn_set_data(conn, fd);
    vmfex_host_up(fd->vmfex, info.name, conn);
    rep->heartbeat_interval_ms = fd->cfg->heartbeat_interval_ms;
    LOG_INFO("host '%s' up: agent at %s, %s %s, %u/%u vNICs free",
             info.name, info.rpc_addr, info.hypervisor,
             info.hypervisor_version, info.vnics_free, info.vnics_total);
    return 0;
}

static int
fabric_heartbeat(void *ctx, struct rpc_call *call,
                 const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                 struct fx_err *err)
{
    const Fexsim__V1__HeartbeatRequest *req = (const void *) req_;
    struct fabricd *fd = ctx;
    struct host *host;
    int rc;

    (void) rep_;
    rc = hostreg_heartbeat(fd->hosts, req->name, rpc_call_conn(call),
                           fx_now_ms(), err);
    host = rc ? NULL : hostreg_find(fd->hosts, req->name);
    if (host && req->adapter) {
        host->info.vnics_total = req->adapter->vnics_total;
        host->info.vnics_free = req->adapter->vnics_free;
    }
    return rc;
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
}

/* Natural order, so that h2 comes before h10. */
static int
host_msg_cmp(const void *a, const void *b)
{
    const Fexsim__V1__Host *const *x = a, *const *y = b;

    return strverscmp((*x)->name, (*y)->name);
}

static int
fabric_list_hosts(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                  struct fx_err *err)
{
    Fexsim__V1__ListHostsReply *rep = (void *) rep_;
    struct fabricd *fd = ctx;
    size_t n = hostreg_count(fd->hosts);
    uint64_t now = fx_now_ms();

    (void) req_;
    (void) err;
    rep->n_hosts = n;
    rep->hosts = rpc_call_alloc(call, n * sizeof *rep->hosts);
    for (size_t i = 0; i < n; i++) {
        Fexsim__V1__Host *h = rpc_call_alloc(call, sizeof *h);
        Fexsim__V1__AdapterSummary *ad = rpc_call_alloc(call, sizeof *ad);

        host_to_msg(hostreg_at(fd->hosts, i), now, h, ad);
        rep->hosts[i] = h;
    }
    qsort(rep->hosts, n, sizeof *rep->hosts, host_msg_cmp);
    return 0;
}

/* In the order of service Fabric in proto/fabric.proto. */
static const rpc_handler_fn fabric_handlers[] = {
    fabric_register_host,
    fabric_heartbeat,
    fabric_list_hosts,
};

/* ---- Connections and liveness ---- */

static void
fabricd_conn_event(struct rpc_conn *conn, enum rpc_conn_event ev,
                   const char *reason, void *arg)
{
    struct fabricd *fd = arg;
    struct host *host;
    char why[128];

    if (ev != RPC_CONN_CLOSED) {
        return;
    }
    LOG_INFO("connection from %s closed: %s", rpc_conn_peer(conn), reason);
    snprintf(why, sizeof why, "connection lost: %s", reason);
    host = hostreg_session_lost(fd->hosts, conn, why);
    if (host) {
        LOG_WARN("host '%s' down: %s", host->info.name, why);
    }
}

static void
fabricd_host_expired(struct host *host, void *arg)
{
    (void) arg;
    LOG_WARN("host '%s' down: %s", host->info.name, host->down_reason);
}

static void
fabricd_expire_cb(evutil_socket_t s, short what, void *arg)
{
    struct fabricd *fd = arg;

    (void) s;
    (void) what;
    hostreg_expire(fd->hosts, fx_now_ms(), fabricd_host_expired, NULL);
}

/* Checks liveness four times per timeout, so a silent host is down at
 * most a quarter of the timeout late. */
static void
fabricd_start_expiry(struct fabricd *fd)
{
    uint32_t period = fd->cfg->heartbeat_timeout_ms / 4;
    struct timeval tv;

    if (period == 0) {
        period = 1;
    }
    tv.tv_sec = period / 1000;
    tv.tv_usec = (period % 1000) * 1000;
    fd->expire_timer = event_new(fd->base, -1, EV_PERSIST,
                                 fabricd_expire_cb, fd);
    event_add(fd->expire_timer, &tv);
}

static int
fabricd_check_cfg(const struct fabricd_cfg *cfg, struct fx_err *err)
{
    if (cfg->heartbeat_interval_ms == 0
        || cfg->heartbeat_timeout_ms <= cfg->heartbeat_interval_ms) {
        return fx_err_set(err, -EINVAL, "heartbeat timeout (%u ms) must "
                          "exceed the heartbeat interval (%u ms)",
                          cfg->heartbeat_timeout_ms,
                          cfg->heartbeat_interval_ms);
    }
    return 0;
}

/* The data plane listens apart from RPC (docs/DESIGN-dataplane.md: no
 * head-of-line blocking of control); agents ask Dataplane.GetUplink. */
static int
fabricd_create_dplane(struct fabricd *fd, struct fx_err *err)
{
    const struct dplane_cfg dcfg = {
        .listen = fd->cfg->uplink_listen,
        .max_ports = FABRICD_MAX_VIFS,
        .max_hosts = FABRICD_MAX_HOSTS,
        .max_macs = FABRICD_MAX_VIFS * 4,
    };

    if (dplane_create(fd->base, &dcfg, &fd->dplane, err)) {
        return err->code;
    }
    fd->dpsvc = dpsvc_create(fd->vmfex, fd->dplane);
    LOG_INFO("data plane: uplinks on port %u",
             dplane_listen_port(fd->dplane));
    return dpsvc_register(fd->dpsvc, fd->registry, err);
}

int
fabricd_create(struct event_base *base, const struct fabricd_cfg *cfg,
               struct fabricd **fdp, struct fx_err *err)
{
    struct fabricd *fd;
    char line[80];

    if (fabricd_check_cfg(cfg, err)) {
        return err->code;
    }
    fd = calloc(1, sizeof *fd);
    if (!fd) {
        abort();
    }
    fd->base = base;
    fd->cfg = cfg;
    fd->hosts = hostreg_create(cfg->heartbeat_timeout_ms);
    fd->registry = rpc_registry_create();
    if (rpc_registry_add(fd->registry, &fexsim__v1__fabric__descriptor,
                         fabric_handlers,
                         sizeof fabric_handlers / sizeof *fabric_handlers,
                         fd, err)) {
        goto out_destroy;
    }
    fd->vmfex = vmfex_create(fd->hosts);
    vmfex_set_flavor(fd->vmfex, cfg->flavor);
    if (cfg->state_dir
        && (store_open(cfg->state_dir, &fd->store, err)
            || vmfex_store_load(fd->vmfex, fd->store, err))) {
        goto out_destroy;
    }
    if (vmfex_register(fd->vmfex, fd->registry, err)
        || fabricd_create_dplane(fd, err)) {
        goto out_destroy;
    }
    fd->server = rpc_server_create(base, cfg->listen, fd->registry,
                                   fabricd_conn_event, fd, err);
    if (!fd->server) {
        goto out_destroy;
    }
    snprintf(line, sizeof line, "%s\n", rpc_server_addr(fd->server));
    if (cfg->addr_file && fx_write_file_atomic(cfg->addr_file, line, err)) {
        goto out_destroy;
    }
    fabricd_start_expiry(fd);
    *fdp = fd;
    return 0;

out_destroy:
    fabricd_destroy(fd);
    return err->code;
}

void
fabricd_destroy(struct fabricd *fd)
{
    if (!fd) {
        return;
    }
    if (fd->expire_timer) {
        event_free(fd->expire_timer);
    }
    rpc_server_destroy(fd->server);
    dpsvc_destroy(fd->dpsvc);
    dplane_destroy(fd->dplane);
    vmfex_destroy(fd->vmfex);
    store_close(fd->store);
    rpc_registry_destroy(fd->registry);
    hostreg_destroy(fd->hosts);
    free(fd);
}

const char *
fabricd_addr(const struct fabricd *fd)
{
    return rpc_server_addr(fd->server);
}
