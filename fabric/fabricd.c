/* fabricd: see fabricd.h.  This file only wires: it creates the
 * subsystems bottom up, hooks them to each other, and registers the
 * services' handler tables. */
#include "fabricd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "dplane/dplane.h"
#include "dpsvc.h"
#include "events/events.h"
#include "evsvc.h"
#include "flows/flows.h"
#include "fx_addr.h"
#include "fx_err.h"
#include "fx_file.h"
#include "fx_time.h"
#include "hostsvc.h"
#include "log.h"
#include "migcoord/migcoord.h"
#include "migsvc.h"
#include "model/model.h"
#include "ports.h"
#include "reconcile.h"
#include "rpc.h"
#include "store/store.h"
#include "web/web.h"
#include "vmfex.h"
#include "vms.h"

LOG_MODULE("fabricd");

/* Every host the table takes has an uplink index the data plane knows. */
_Static_assert(FABRICD_MAX_HOSTS >= HOSTREG_MAX_HOSTS,
               "a host that registers always gets an uplink");

/* How often the VM lifecycle policy looks for VIFs offline too long. */
#define FABRICD_RETENTION_CHECK_MS 1000

/* Every subsystem and service, owned; created in this order (each needs
 * the ones above it) and destroyed in reverse. */
struct fabricd {
    struct event_base *base;          /* Borrowed. */
    const struct fabricd_cfg *cfg;    /* Borrowed. */
    struct store *store;              /* NULL without --state. */
    struct events *events;            /* What happens, numbered. */
    struct model *model;              /* Hosts, profiles, VIFs, VMs. */
    struct agents *agents;            /* The one way to call an agent. */
    struct dplane *dplane;            /* Uplinks and switching. */
    struct ports *ports;              /* Switch ports follow VIFs. */
    struct flows *flows;              /* Traffic flows. */
    struct migcoord *mc;              /* Migrations. */
    struct reconcile *reconcile;      /* Agents' registrations. */
    struct rpc_registry *registry;    /* The services: */
    struct hostsvc *hostsvc;          /*   Fabric */
    struct vmfex *vmfex;              /*   Profiles, Vifs, Passthrough */
    struct vms *vms;                  /*   Vms */
    struct dpsvc *dpsvc;              /*   Dataplane */
    struct migsvc *migsvc;            /*   Migrations */
    struct rpc_server *server;
    struct web_src web_src;           /* What the web server shows. */
    struct web *web;                  /* --http; NULL without it. */
    struct event *retention_timer;
    struct auth_key key;              /* The lab secret's, or none. */
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
        .offline_retention_min = MODEL_RETENTION_DEFAULT_MIN,
        .events_keep = EVENTS_KEEP_DEFAULT,
    };
}

/* ---- Hooks between subsystems ---- */

static void
fabricd_conn_event(struct rpc_conn *conn, enum rpc_conn_event ev,
                   const char *reason, void *arg)
{
    struct fabricd *fd = arg;

    if (ev == RPC_CONN_CLOSED) {
        /* A peer that never proved the lab secret gets no line here: the
         * rpc library logs what it did wrong, at a bounded rate, and a
         * line per hang-up would let a flood of them fill the log. */
        if (rpc_conn_peer_ident(conn)) {
            LOG_INFO("connection from %s closed: %s", rpc_conn_peer(conn),
                     reason);
        }
        hostsvc_conn_lost(fd->hostsvc, conn, reason);
        events_drop_conn(fd->events, conn);
    }
}

static void
fabricd_vif_changed(void *arg, uint32_t id)
{
    ports_sync(((struct fabricd *) arg)->ports, id);
}

/* The VM lifecycle policy removed VIF 'id': the agent frees its dynamic
 * vNIC when its VM is defined again without it. */
static void
fabricd_vif_expired(void *arg, const char *vm, const char *host, uint32_t id)
{
    struct fabricd *fd = arg;

    LOG_INFO("VIF %u of VM '%s' on host '%s' offline for %u minutes: "
             "removed (VM lifecycle policy)", id, vm, host,
             model_retention_min(fd->model));
    reconcile_redefine(fd->reconcile, vm);
}

/* A host that is down has no uplink: whatever it opened spoke for it
 * only while its agent was registered, and its ticket dies with it. */
static void
fabricd_host_down(void *arg, const char *host)
{
    struct fabricd *fd = arg;
    int64_t idx = model_host_index(fd->model, host);

    if (idx >= 0) {
        dplane_host_down(fd->dplane, (uint32_t) idx);
    }
}

static void
fabricd_vif_held(void *arg, uint32_t vif)
{
    migcoord_vif_held(((struct fabricd *) arg)->mc, vif);
}

static void
fabricd_retention_cb(evutil_socket_t s, short what, void *arg)
{
    struct fabricd *fd = arg;
    struct fx_err err;

    (void) s;
    (void) what;
    /* A store that refuses keeps the VIF; the next tick tries again. */
    if (model_expire_vifs(fd->model, fx_time_now_ms(), &err) < 0) {
        LOG_WARN("VM lifecycle policy: %s", err.msg);
    }
}

/* ---- Creation ---- */

/* The lab secret, if given: every peer proves it (proto/auth.h). */
static int
fabricd_load_key(struct fabricd *fd, struct fx_err *err)
{
    if (!fd->cfg->trust.secret_file) {
        auth_key_none(&fd->key);
        return 0;
    }
    return auth_key_load(fd->cfg->trust.secret_file, &fd->key, err);
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
    if (cfg->offline_retention_min < 1
        || cfg->offline_retention_min > MODEL_RETENTION_MAX_MIN) {
        return fx_err_set(err, -EINVAL, "offline retention %u minutes out "
                          "of range 1-%u", cfg->offline_retention_min,
                          MODEL_RETENTION_MAX_MIN);
    }
    return 0;
}

/* An uplink's proven agent, as the data plane's host index. */
static int64_t
fabricd_host_index(void *arg, const char *name)
{
    return model_host_index(((struct fabricd *) arg)->model, name);
}

/* The data plane listens apart from RPC (docs/DESIGN-dataplane.md: no
 * head-of-line blocking of control); agents ask Dataplane.GetUplink. */
static int
fabricd_create_dplane(struct fabricd *fd, struct fx_err *err)
{
    const struct dplane_cfg dcfg = {
        .listen = fd->cfg->uplink_listen,
        .key = &fd->key,
        .host_index = fabricd_host_index,
        .host_arg = fd,
        .max_ports = FABRICD_MAX_VIFS,
        .max_hosts = FABRICD_MAX_HOSTS,
        .max_macs = FABRICD_MAX_VIFS * 4,
    };

    if (fd->key.none && !fx_addr_text_is_loopback(dcfg.listen)) {
        return fx_err_set(err, -EPERM, "refusing to take uplinks on %s "
                          "without a lab secret: give one (--secret-file), "
                          "or listen on loopback", dcfg.listen);
    }
    if (dplane_create(fd->base, &dcfg, &fd->dplane, err)) {
        return err->code;
    }
    dplane_set_hold_hook(fd->dplane, fabricd_vif_held, fd);
    LOG_INFO("data plane: uplinks on port %u",
             dplane_listen_port(fd->dplane));
    return 0;
}

/* The durable state: the model's, then the migrations in flight and the
 * next flow id. */
static int
fabricd_load(struct fabricd *fd, struct fx_err *err)
{
    if (!fd->store) {
        return 0;
    }
    if (model_load(fd->model, err) || migcoord_load(fd->mc, err)
        || flows_load(fd->flows, err)) {
        return err->code;
    }
    LOG_INFO("state loaded from %s: %zu hosts, %zu profiles, %zu VMs, "
             "%zu VIFs, %zu migrations unresolved", store_path(fd->store),
             model_host_count(fd->model), model_profile_count(fd->model),
             model_vm_count(fd->model), model_vif_count(fd->model),
             migcoord_unresolved(fd->mc));
    return 0;
}

/* The subsystems, bottom up. */
static int
fabricd_create_core(struct fabricd *fd, struct fx_err *err)
{
    const struct fabricd_cfg *cfg = fd->cfg;
    const struct model_hooks hooks = {
        .vif_changed = fabricd_vif_changed,
        .vif_expired = fabricd_vif_expired,
        .host_down = fabricd_host_down,
    };

    if ((cfg->state_dir && store_open(cfg->state_dir, &fd->store, err))
        || events_open(cfg->state_dir, cfg->events_keep, &fd->events,
                       err)) {
        return err->code;
    }
    fd->model = model_create(cfg->heartbeat_timeout_ms,
                             cfg->offline_retention_min, fd->store);
    model_set_events(fd->model, fd->events);
    fd->agents = agents_create(fd->model);
    if (fabricd_create_dplane(fd, err)) {
        return err->code;
    }
    fd->ports = ports_create(fd->model, fd->dplane, fd->agents);
    fd->flows = flows_create(fd->model, fd->store, fd->agents);
    fd->mc = migcoord_create(fd->base, fd->model, fd->store, fd->agents,
                             fd->dplane, fd->flows, cfg->flavor);
    migcoord_set_events(fd->mc, fd->events);
    fd->reconcile = reconcile_create(fd->model, fd->agents);
    model_set_hooks(fd->model, &hooks, fd);
    return fabricd_load(fd, err);
}

/* The RPC services, each a table of handlers over the subsystems. */
static int
fabricd_create_services(struct fabricd *fd, struct fx_err *err)
{
    const struct fabricd_cfg *cfg = fd->cfg;

    fd->registry = rpc_registry_create();
    fd->hostsvc = hostsvc_create(fd->base, fd->model, fd->reconcile, fd->mc,
                                 fd->flows, cfg->heartbeat_interval_ms,
                                 cfg->heartbeat_timeout_ms);
    fd->vmfex = vmfex_create(fd->model, fd->agents, fd->mc);
    fd->vms = vms_create(fd->model, fd->agents, fd->mc);
    fd->dpsvc = dpsvc_create(fd->model, fd->dplane, fd->flows);
    fd->migsvc = migsvc_create(fd->base, fd->mc, fd->agents);
    if (hostsvc_register(fd->hostsvc, fd->registry, err)
        || vmfex_register(fd->vmfex, fd->registry, err)
        || vms_register(fd->vms, fd->registry, err)
        || dpsvc_register(fd->dpsvc, fd->registry, err)
        || migsvc_register(fd->migsvc, fd->registry, err)
        || evsvc_register(fd->events, fd->registry, err)) {
        return err->code;
    }
    return 0;
}

/* The HTTP server (page, state, events, metrics), with --http. */
static int
fabricd_create_http(struct fabricd *fd, struct fx_err *err)
{
    char line[80];

    if (!fd->cfg->http) {
        return 0;
    }
    fd->web_src = (struct web_src) { .model = fd->model,
                                     .dplane = fd->dplane,
                                     .flows = fd->flows,
                                     .registry = fd->registry,
                                     .events = fd->events,
                                     .store = fd->store };
    if (web_create(fd->base, fd->cfg->http, &fd->key, &fd->web_src,
                   &fd->web, err)) {
        return err->code;
    }
    snprintf(line, sizeof line, "%s\n", web_addr(fd->web));
    if (fd->cfg->http_addr_file
        && fx_file_write_atomic(fd->cfg->http_addr_file, line, err)) {
        return err->code;
    }
    return 0;
}

static void
fabricd_start_retention(struct fabricd *fd)
{
    const struct timeval tv = { FABRICD_RETENTION_CHECK_MS / 1000,
                                FABRICD_RETENTION_CHECK_MS % 1000 * 1000 };

    fd->retention_timer = event_new(fd->base, -1, EV_PERSIST,
                                    fabricd_retention_cb, fd);
    if (!fd->retention_timer) {
        abort();
    }
    event_add(fd->retention_timer, &tv);
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
    if (fabricd_load_key(fd, err) || fabricd_create_core(fd, err)
        || fabricd_create_services(fd, err)) {
        goto out_destroy;
    }
    fd->server = rpc_server_create(base, cfg->listen, &(struct rpc_opts) {
                                       .key = &fd->key,
                                       .me = { .role = AUTH_ROLE_FABRIC },
                                       .max_conns = cfg->trust.max_conns,
                                       .max_queued = cfg->trust.max_queued,
                                       .frame_timeout_ms =
                                           cfg->trust.frame_timeout_ms },
                                   fd->registry, fabricd_conn_event, fd,
                                   err);
    if (!fd->server) {
        goto out_destroy;
    }
    snprintf(line, sizeof line, "%s\n", rpc_server_addr(fd->server));
    if ((cfg->addr_file && fx_file_write_atomic(cfg->addr_file, line, err))
        || fabricd_create_http(fd, err)) {
        goto out_destroy;
    }
    fabricd_start_retention(fd);
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
    if (fd->retention_timer) {
        event_free(fd->retention_timer);
    }
    /* Before what it reads: the events' taps, the model, the registry. */
    web_destroy(fd->web);
    /* First: its teardown answers the agent calls still in flight, whose
     * callbacks need everything below; what they emit then reaches no
     * subscriber, whose connections go with the server. */
    if (fd->events) {
        events_drop_all(fd->events);
    }
    rpc_server_destroy(fd->server);
    migsvc_destroy(fd->migsvc);
    dpsvc_destroy(fd->dpsvc);
    vms_destroy(fd->vms);
    vmfex_destroy(fd->vmfex);
    hostsvc_destroy(fd->hostsvc);
    rpc_registry_destroy(fd->registry);
    reconcile_destroy(fd->reconcile);
    migcoord_destroy(fd->mc);
    flows_destroy(fd->flows);
    ports_destroy(fd->ports);
    dplane_destroy(fd->dplane);
    agents_destroy(fd->agents);
    model_destroy(fd->model);
    events_close(fd->events);
    store_close(fd->store);
    free(fd);
}

const char *
fabricd_addr(const struct fabricd *fd)
{
    return rpc_server_addr(fd->server);
}

const char *
fabricd_key_fp(const struct fabricd *fd)
{
    return fd->key.fp;
}

const char *
fabricd_http_addr(const struct fabricd *fd)
{
    return fd->web ? web_addr(fd->web) : NULL;
}
