#include "agentd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "dataplane.pb-c.h"
#include "dframe.h"
#include "fabric.pb-c.h"
#include "fx_err.h"
#include "fx_addr.h"
#include "fx_name.h"
#include "domxml.h"
#include "gnet.h"
#include "guestnic.h"
#include "hoststate.h"
#include "hostvms.h"
#include "hvq.h"
#include "migagent.h"
#include "hv.h"
#include "log.h"
#include "pci.h"
#include "rpc.h"
#include "vic.h"

LOG_MODULE("agentd");

#define AGENTD_CALL_TIMEOUT_MS 5000
#define AGENTD_QEMU "/usr/bin/qemu-system-x86_64"
/* Frames per second each real guest sends its peer. */
#define AGENTD_GUEST_RATE 100

/* A probe of the hypervisor (agentd_probe_hv), run in the worker: what
 * the loop asked and what libvirt answered. */
struct agentd_probe {
    int running;                      /* In the worker: not again. */
    int settling;                     /* Asked: the domains too. */
    int rc;                           /* hv_probe()'s. */
    struct fx_err err;
    uint64_t active;                  /* agentd_hv_active()'s, if asked
                                       * or connected again. */
};

struct agentd {
    struct event_base *base;          /* Borrowed. */
    const struct agentd_cfg *cfg;     /* Borrowed. */
    struct hv *hv;
    struct hv_info hv_info;
    struct hvq *hvq;                  /* Runs libvirt off the loop. */
    struct vic *vic;                  /* The host's VIC adapter. */
    struct pci_host *pci;             /* Its PCI devices, passthrough. */
    struct hostvms *vms;              /* The HostVms service. */
    struct migagent *mig;             /* The MigAgent service. */
    struct gnet *gnet;                /* Data path, AgentTraffic. */
    struct guestnic *guestnic;        /* Real guests' NICs; NULL unless
                                       * QEMU with --guest. */
    int node_file;                    /* We keep libvirt's node file. */
    struct rpc_registry *registry;
    struct rpc_server *server;
    struct rpc_conn *fabric;          /* NULL while disconnected. */
    int registered;
    int hv_lost;                      /* The hypervisor did not answer
                                       * the last probe (logged once). */
    int hv_settling;                  /* Connected again: heartbeats left
                                       * before registering anyway. */
    uint64_t hv_active;               /* Its running domains, hashed. */
    struct agentd_probe probe;        /* The last probe, in the worker. */
    uint32_t heartbeat_ms;            /* As told by the fabric. */
    uint32_t backoff_ms;              /* Next reconnect delay. */
    struct event *heartbeat_timer;
    struct event *reconnect_timer;
    struct fx_err fatal;              /* code != 0: gave up. */
    struct auth_key key;              /* The lab secret's, or none. */
    struct rpc_opts rpc;              /* How its connections prove it. */
};

void
agentd_cfg_init(struct agentd_cfg *cfg)
{
    *cfg = (struct agentd_cfg) {
        .host = NULL,
        .fabric = "127.0.0.1:7800",
        .listen = "127.0.0.1:0",
        .libvirt_uri = "test:///default",
        .adapter_model = "M81KR",
        .vnics = 128,
        .memory_mib = 65536,
        .iommu = 1,
        .backoff_min_ms = 100,
        .backoff_max_ms = 2000,
    };
}

static void
agentd_adapter(const struct agentd *ag, Fexsim__V1__AdapterSummary *ad)
{
    fexsim__v1__adapter_summary__init(ad);
    ad->model = (char *) ag->cfg->adapter_model;
    ad->vnics_total = vic_vnic_count(ag->vic);
    ad->vnics_free = vic_free_count(ag->vic);
}

/* ---- The session with fabricd ---- */

static void agentd_connect(struct agentd *);
static void agentd_register(struct agentd *);

static void
agentd_arm(struct event *ev, uint32_t ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    event_add(ev, &tv);
}

/* Drops the fabric session and retries after the backoff, which doubles
 * each time up to the maximum. */
static void
agentd_schedule_reconnect(struct agentd *ag)
{
    ag->registered = 0;
    event_del(ag->heartbeat_timer);
    agentd_arm(ag->reconnect_timer, ag->backoff_ms);
    LOG_INFO("reconnecting to fabric %s in %u ms", ag->cfg->fabric,
             ag->backoff_ms);
    ag->backoff_ms *= 2;
    if (ag->backoff_ms > ag->cfg->backoff_max_ms) {
        ag->backoff_ms = ag->cfg->backoff_max_ms;
    }
}

/* Closes the fabric session.  The pointer is cleared first: closing
 * answers our pending requests, and their callbacks check it. */
static void
agentd_drop_fabric(struct agentd *ag)
{
    struct rpc_conn *conn = ag->fabric;

    ag->fabric = NULL;
    rpc_conn_destroy(conn);
}

static void
agentd_give_up(struct agentd *ag, const char *msg)
{
    fx_err_set(&ag->fatal, -EEXIST, "fabric refused host '%s': %s",
               ag->cfg->host, msg);
    event_base_loopexit(ag->base, NULL);
}

static void
agentd_heartbeat_reply(void *arg, int status, const char *message,
                       const char *reason, const ProtobufCMessage *rep)
{
    struct agentd *ag = arg;

    (void) rep;
    (void) reason;
    if (status == RPC_OK || !ag->fabric) {
        return;
    }
    LOG_WARN("heartbeat refused (%s): %s", rpc_status_name(status), message);
    if (status == RPC_NOT_FOUND || status == RPC_FAILED_PRECONDITION) {
        /* The fabric declared us down (we were silent too long) or lost
         * us: register again on the same connection. */
        ag->registered = 0;
        agentd_register(ag);
    }
}

/* The names of the running domains, hashed (FNV-1a); 0 if unknown. */
static uint64_t
agentd_hv_active(struct hv *hv)
{
    uint64_t h = 0xcbf29ce484222325ull;
    char **names;
    size_t n;

    if (hv_list_active(hv, &names, &n, NULL)) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        for (const char *p = names[i]; *p; p++) {
            h = (h ^ (uint8_t) *p) * 0x100000001b3ull;
        }
        h = (h ^ '/') * 0x100000001b3ull;
    }
    hv_free_names(names, n);
    return h;
}

/* With each heartbeat: does libvirtd answer?  One restarted (killed,
 * `lab restart`) is connected to again, and may hold what the agent did
 * not (a migration's incoming guest it could not clean while it was
 * gone): registering again has the fabric reconcile the host with it.
 * Not at once: a restarted libvirtd first reconnects to its QEMUs and
 * kills those of unfinished incoming migrations itself, and a destroy of
 * ours meanwhile waits for it for 30 s (in the worker, hvq.h: the
 * heartbeats go on).  So once its running domains are the same two
 * heartbeats in a row (at most AGENTD_HV_SETTLE of them).  The probe
 * runs in the worker too (a libvirtd that does not answer, or one that
 * starts again, would hold the loop in virConnectOpen), one at a time:
 * behind a libvirt call that waits, it waits as well, and the heartbeats
 * that fall meanwhile probe nothing. */
#define AGENTD_HV_SETTLE 10

/* Worker. */
static void
agentd_probe_work(void *arg)
{
    struct agentd *ag = arg;
    struct agentd_probe *p = &ag->probe;

    p->rc = hv_probe(ag->hv, &p->err);
    p->active = p->rc > 0 || (p->rc == 0 && p->settling)
                ? agentd_hv_active(ag->hv) : 0;
}

/* Loop: what the probe found. */
static void
agentd_probe_seen(struct agentd *ag)
{
    const struct agentd_probe *p = &ag->probe;

    if (p->rc < 0) {
        if (!ag->hv_lost) {
            LOG_WARN("hypervisor at %s lost: %s", ag->hv_info.uri,
                     p->err.msg);
        }
        ag->hv_lost = 1;
        return;
    }
    ag->hv_lost = 0;
    if (p->rc > 0) {
        LOG_WARN("hypervisor at %s connected again: registering again for "
                 "the fabric to reconcile this host once its domains "
                 "settle", ag->hv_info.uri);
        ag->hv_settling = AGENTD_HV_SETTLE;
        ag->hv_active = p->active;
        return;
    }
    if (!ag->hv_settling || !p->settling) {
        return;
    }
    if (p->active != ag->hv_active && --ag->hv_settling) {
        ag->hv_active = p->active;
        return;
    }
    ag->hv_settling = 0;
    LOG_INFO("hypervisor at %s: domains settled: registering again",
             ag->hv_info.uri);
    /* Unregistered meanwhile: the registration under way reconciles. */
    if (ag->fabric && ag->registered) {
        agentd_register(ag);
    }
}

static void
agentd_probe_done(void *arg, int cancelled)
{
    struct agentd *ag = arg;

    ag->probe.running = 0;
    if (!cancelled) {
        agentd_probe_seen(ag);
    }
}

static void
agentd_probe_hv(struct agentd *ag)
{
    if (!ag->probe.running) {
        ag->probe.running = 1;
        ag->probe.settling = ag->hv_settling;
        hvq_push(ag->hvq, agentd_probe_work, agentd_probe_done, ag);
    }
}

static void
agentd_heartbeat_cb(evutil_socket_t s, short what, void *arg)
{
    struct agentd *ag = arg;
    Fexsim__V1__HeartbeatRequest req = FEXSIM__V1__HEARTBEAT_REQUEST__INIT;
    Fexsim__V1__AdapterSummary ad;

    (void) s;
    (void) what;
    if (!ag->fabric || !ag->registered) {
        return;
    }
    agentd_probe_hv(ag);
    agentd_adapter(ag, &ad);
    req.name = (char *) ag->cfg->host;
    req.adapter = &ad;
    rpc_conn_call(ag->fabric, "Fabric.Heartbeat", &req.base,
                  &fexsim__v1__heartbeat_reply__descriptor,
                  AGENTD_CALL_TIMEOUT_MS, agentd_heartbeat_reply, ag, NULL);
    agentd_arm(ag->heartbeat_timer, ag->heartbeat_ms);
}

static void
agentd_uplink_reply(void *arg, int status, const char *message,
                    const char *reason, const ProtobufCMessage *rep_)
{
    const Fexsim__V1__GetUplinkReply *rep = (const void *) rep_;
    struct agentd *ag = arg;
    struct dframe_ticket ticket;
    const char *colon;
    uint64_t port;

    (void) reason;
    if (!ag->fabric) {
        return;
    }
    if (status != RPC_OK) {
        LOG_WARN("no uplink (%s): %s", rpc_status_name(status), message);
        return;
    }
    colon = strrchr(rep->uplink_addr, ':');
    port = colon ? strtoull(colon + 1, NULL, 10) : 0;
    if (port == 0 || port > 65535) {
        LOG_WARN("fabric gave a bad uplink address '%s'", rep->uplink_addr);
        return;
    }
    if (rep->ticket.len != sizeof ticket.bytes) {
        LOG_WARN("fabric gave an uplink ticket of %zu bytes, not %zu",
                 rep->ticket.len, sizeof ticket.bytes);
        return;
    }
    memcpy(ticket.bytes, rep->ticket.data, sizeof ticket.bytes);
    gnet_set_uplink(ag->gnet, (uint16_t) port, &ticket);
}

/* The data plane's uplink is its own connection (DESIGN-dataplane.md). */
static void
agentd_get_uplink(struct agentd *ag)
{
    Fexsim__V1__GetUplinkRequest req = FEXSIM__V1__GET_UPLINK_REQUEST__INIT;

    req.host = (char *) ag->cfg->host;
    rpc_conn_call(ag->fabric, "Dataplane.GetUplink", &req.base,
                  &fexsim__v1__get_uplink_reply__descriptor,
                  AGENTD_CALL_TIMEOUT_MS, agentd_uplink_reply, ag, NULL);
}

/* The data path lost its uplink and needs a ticket for a new one: only
 * a registered session gets one; registering asks anyway. */
static void
agentd_want_uplink(void *arg)
{
    struct agentd *ag = arg;

    if (ag->fabric && ag->registered) {
        agentd_get_uplink(ag);
    }
}

static void
agentd_register_reply(void *arg, int status, const char *message,
                      const char *reason, const ProtobufCMessage *rep_)
{
    const Fexsim__V1__RegisterHostReply *rep = (const void *) rep_;
    struct agentd *ag = arg;

    (void) reason;
    if (!ag->fabric) {
        return;
    }
    if (status == RPC_ALREADY_EXISTS || status == RPC_INVALID_ARGUMENT) {
        LOG_ERR("registration refused: %s", message);
        agentd_give_up(ag, message);
        return;
    }
    if (status != RPC_OK) {
        LOG_WARN("registration failed (%s): %s", rpc_status_name(status),
                 message);
        agentd_drop_fabric(ag);
        agentd_schedule_reconnect(ag);
        return;
    }
    ag->registered = 1;
    ag->backoff_ms = ag->cfg->backoff_min_ms;
    ag->heartbeat_ms = rep->heartbeat_interval_ms ? rep->heartbeat_interval_ms
                                                  : 1000;
    LOG_INFO("registered with fabric %s as '%s' (heartbeat every %u ms)",
             ag->cfg->fabric, ag->cfg->host, ag->heartbeat_ms);
    agentd_arm(ag->heartbeat_timer, ag->heartbeat_ms);
    agentd_get_uplink(ag);
}

static void
agentd_register(struct agentd *ag)
{
    Fexsim__V1__RegisterHostRequest req =
        FEXSIM__V1__REGISTER_HOST_REQUEST__INIT;
    Fexsim__V1__AdapterSummary ad;

    agentd_adapter(ag, &ad);
    req.name = (char *) ag->cfg->host;
    req.rpc_addr = (char *) rpc_server_addr(ag->server);
    req.adapter = &ad;
    req.hypervisor = ag->hv_info.type;
    req.hypervisor_version = ag->hv_info.version;
    req.libvirt_uri = ag->hv_info.uri;
    req.agent_pid = (uint64_t) getpid();
    req.chassis = ag->cfg->chassis;
    req.slot = ag->cfg->slot;
    rpc_conn_call(ag->fabric, "Fabric.RegisterHost", &req.base,
                  &fexsim__v1__register_host_reply__descriptor,
                  AGENTD_CALL_TIMEOUT_MS, agentd_register_reply, ag, NULL);
}

static void
agentd_fabric_event(struct rpc_conn *conn, enum rpc_conn_event ev,
                    const char *reason, void *arg)
{
    struct agentd *ag = arg;

    (void) conn;
    if (ev == RPC_CONN_CONNECTED) {
        LOG_INFO("connected to fabric %s", ag->cfg->fabric);
        agentd_register(ag);
        return;
    }
    ag->fabric = NULL;
    if (ev == RPC_CONN_REFUSED) {
        /* Another secret, or none: trying again cannot help. */
        LOG_ERR("fabric %s: %s", ag->cfg->fabric, reason);
        agentd_give_up(ag, reason);
        return;
    }
    LOG_WARN("lost fabric %s: %s", ag->cfg->fabric, reason);
    agentd_schedule_reconnect(ag);
}

/* A connection to our port closed: one line for a peer that proved the
 * lab secret (and sent garbage, say).  What the others did the rpc
 * library logs, at a bounded rate. */
static void
agentd_server_event(struct rpc_conn *conn, enum rpc_conn_event ev,
                    const char *reason, void *arg)
{
    (void) arg;
    if (ev == RPC_CONN_CLOSED && rpc_conn_peer_ident(conn)) {
        LOG_INFO("connection from %s closed: %s", rpc_conn_peer(conn),
                 reason);
    }
}

static void
agentd_connect(struct agentd *ag)
{
    struct fx_err err;

    ag->fabric = rpc_conn_connect(ag->base, ag->cfg->fabric, &ag->rpc,
                                  ag->registry, agentd_fabric_event, ag,
                                  &err);
    if (!ag->fabric) {
        /* The address was checked at start-up; this cannot recur. */
        LOG_ERR("%s", err.msg);
        agentd_schedule_reconnect(ag);
    }
}

static void
agentd_reconnect_cb(evutil_socket_t s, short what, void *arg)
{
    (void) s;
    (void) what;
    agentd_connect(arg);
}

/* ---- Agent service ---- */

static int
agent_get_info(void *ctx, struct rpc_call *call, const ProtobufCMessage *req,
               ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__GetInfoReply *rep = (void *) rep_;
    Fexsim__V1__AdapterSummary *ad = rpc_call_alloc(call, sizeof *ad);
    struct agentd *ag = ctx;

    (void) req;
    (void) err;
    agentd_adapter(ag, ad);
    rep->name = (char *) ag->cfg->host;
    rep->adapter = ad;
    rep->hypervisor = ag->hv_info.type;
    rep->hypervisor_version = ag->hv_info.version;
    rep->fabric_connected = ag->registered;
    return 0;
}

/* In the order of service Agent in proto/agent.proto. */
static const rpc_handler_fn agent_handlers[] = {
    agent_get_info,
};

/* ---- Lifecycle ---- */

static int
agentd_check_cfg(const struct agentd_cfg *cfg, struct fx_err *err)
{
    struct sockaddr_storage ss;
    int len;

    if (!cfg->host) {
        return fx_err_set(err, -EINVAL, "--host NAME is required");
    }
    if (!fx_name_valid(cfg->host)) {
        return fx_err_set(err, -EINVAL, "invalid host name '%s': use 1-39 "
                          "characters of A-Z a-z 0-9 . _ -", cfg->host);
    }
    if (cfg->vnics == 0) {
        return fx_err_set(err, -EINVAL, "--vnics must be at least 1");
    }
    if (!cfg->chassis != !cfg->slot) {
        return fx_err_set(err, -EINVAL, "--chassis and --slot go together: "
                          "a blade sits in a slot of a chassis");
    }
    return fx_addr_parse(cfg->fabric, &ss, &len, err);
}

/* Page streams listen on the host of our RPC address: the one interface
 * we were told is ours (a lab's namespace, a real interface). */
static void
agentd_set_mig_listen(struct agentd *ag)
{
    const char *colon = strrchr(ag->cfg->listen, ':');
    size_t n = colon ? (size_t) (colon - ag->cfg->listen)
                     : strlen(ag->cfg->listen);
    char host[64];

    snprintf(host, sizeof host, "%.*s", (int) n, ag->cfg->listen);
    migagent_set_listen(ag->mig, host, ag->cfg->mig_port_first,
                        ag->cfg->mig_port_last);
}

/* After every change of a domain, vNIC or passthrough device: the state
 * dir follows, before the reply leaves, or the reply says it did not. */
static int
agentd_save_state(void *arg, struct fx_err *err)
{
    struct agentd *ag = arg;

    if (hoststate_save(ag->cfg->state_dir, ag->node_file, ag->hv, ag->vic,
                       ag->pci, err)) {
        return fx_err_wrap(err, "host state not saved");
    }
    return 0;
}

static int
agentd_open_hv(struct agentd *ag, struct fx_err *err)
{
    const char *uri = ag->cfg->libvirt_uri;
    char buf[4200];

    if (ag->cfg->state_dir) {
        if (hoststate_uri(ag->cfg->state_dir, uri, buf, sizeof buf,
                          &ag->node_file, err)) {
            return err->code;
        }
        uri = buf;
    }
    if (hv_open(&hv_libvirt_class, uri, &ag->hv, err)
        || hv_get_info(ag->hv, &ag->hv_info, err)
        || (ag->cfg->state_dir
            && (hoststate_restore(ag->cfg->state_dir, ag->hv, ag->vic,
                                  ag->pci, err)
                || hoststate_save(ag->cfg->state_dir, ag->node_file, ag->hv,
                                  ag->vic, ag->pci, err)))) {
        return err->code;
    }
    LOG_INFO("hypervisor %s %s at %s", ag->hv_info.type, ag->hv_info.version,
             ag->hv_info.uri);
    return 0;
}

/* With QEMU and --guest, VMs are real guests (hostvms_set_guest): booted
 * from the guest dir, their NICs on guestnic's sockets, their consoles
 * in the state dir. */
static int
agentd_guests(struct agentd *ag, struct fx_err *err)
{
    const struct agentd_cfg *cfg = ag->cfg;
    struct domxml_boot boot = { .emulator = AGENTD_QEMU };
    char dir[PATH_MAX], state[PATH_MAX];
    int failover = cfg->flavor && !strcmp(cfg->flavor, "failover");

    if (!cfg->guest_dir) {
        return failover ? fx_err_set(err, -EINVAL, "--flavor failover "
                                     "needs real guests (--guest DIR on a "
                                     "QEMU hypervisor): a simulated guest "
                                     "has no standby virtio-net to ride")
                        : 0;
    }
    if (strcmp(ag->hv_info.type, "QEMU")) {
        return fx_err_set(err, -EINVAL, "--guest needs a QEMU hypervisor, "
                          "not %s (--libvirt qemu:///...)", ag->hv_info.type);
    }
    if (!cfg->state_dir) {
        return fx_err_set(err, -EINVAL, "--guest needs --state DIR: the "
                          "guests' consoles are kept there");
    }
    if (!realpath(cfg->guest_dir, dir) || !realpath(cfg->state_dir, state)) {
        return fx_err_set(err, -errno, "--guest '%s' or --state '%s': %s",
                          cfg->guest_dir, cfg->state_dir, strerror(errno));
    }
    snprintf(boot.kernel, sizeof boot.kernel, "%.240s/vmlinuz", dir);
    snprintf(boot.initrd, sizeof boot.initrd, "%.240s/initrd.img", dir);
    if (access(boot.kernel, R_OK) || access(boot.initrd, R_OK)) {
        return fx_err_set(err, -ENOENT, "no guest in '%s' (vmlinuz, "
                          "initrd.img): make guest", dir);
    }
    /* fexguest's settings ride on the kernel command line.  No IPv6: the
     * guest sends nothing of its own (a failover pair's slaves would
     * each solicit routers, and their host would learn the guest on the
     * wrong one, guestnic.h). */
    snprintf(boot.cmdline, sizeof boot.cmdline, "console=ttyS0 quiet "
             "panic=-1 ipv6.disable=1 fxg.rate=%u fxg.report_ms=200 "
             "fxg.dirty=%llu", AGENTD_GUEST_RATE,
             (unsigned long long) cfg->guest_dirty_rate);
    ag->guestnic = guestnic_create(ag->base, ag->gnet, ag->cfg->vnics);
    hostvms_set_guest(ag->vms, &boot, failover, state, ag->guestnic);
    LOG_INFO("VMs are QEMU guests booted from %s", dir);
    return 0;
}

/* The lab secret, if given, and how every connection proves it: as the
 * agent of its host.  Our port serves the fabric and migration peers only
 * (agentd.c's and migagent's registries): an operator, or another host's
 * agent, is refused at the handshake rather than met with a
 * PERMISSION_DENIED for every method. */
static int
agentd_load_key(struct agentd *ag, struct fx_err *err)
{
    const struct fx_daemon_trust *t = &ag->cfg->trust;

    if (!t->secret_file) {
        auth_key_none(&ag->key);
    } else if (auth_key_load(t->secret_file, &ag->key, err)) {
        return err->code;
    }
    ag->rpc = (struct rpc_opts) { .key = &ag->key,
                                  .me = { .role = AUTH_ROLE_AGENT },
                                  .roles = AUTH_ROLE_MASK(AUTH_ROLE_FABRIC)
                                           | AUTH_ROLE_MASK(AUTH_ROLE_PEER),
                                  .max_conns = t->max_conns,
                                  .max_queued = t->max_queued,
                                  .frame_timeout_ms = t->frame_timeout_ms };
    snprintf(ag->rpc.me.name, sizeof ag->rpc.me.name, "%s", ag->cfg->host);
    return 0;
}

int
agentd_create(struct event_base *base, const struct agentd_cfg *cfg,
              struct agentd **agp, struct fx_err *err)
{
    struct agentd *ag;

    if (agentd_check_cfg(cfg, err)) {
        return err->code;
    }
    ag = calloc(1, sizeof *ag);
    if (!ag) {
        abort();
    }
    ag->base = base;
    ag->cfg = cfg;
    ag->backoff_ms = cfg->backoff_min_ms;
    if (agentd_load_key(ag, err)) {
        free(ag);
        return err->code;
    }
    ag->heartbeat_timer = evtimer_new(base, agentd_heartbeat_cb, ag);
    ag->reconnect_timer = evtimer_new(base, agentd_reconnect_cb, ag);
    ag->registry = rpc_registry_create();
    ag->vic = vic_create(cfg->adapter_model, cfg->vnics, err);
    ag->pci = pci_host_create(cfg->iommu, cfg->adapter_model);
    if (!ag->vic || agentd_open_hv(ag, err)
        || rpc_registry_add(ag->registry, &fexsim__v1__agent__descriptor,
                            agent_handlers, sizeof agent_handlers
                            / sizeof *agent_handlers, ag,
                            AUTH_ROLE_MASK(AUTH_ROLE_FABRIC)
                            | AUTH_ROLE_MASK(AUTH_ROLE_PEER), err)) {
        goto out_destroy;
    }
    domxml_init();
    if (hvq_create(base, &ag->hvq, err)) {
        goto out_destroy;
    }
    ag->vms = hostvms_create(ag->hv, ag->vic, ag->pci, ag->hvq,
                             cfg->memory_mib);
    ag->gnet = gnet_create(base, ag->vic, &(struct gnet_cfg) {
        cfg->fabric, cfg->backoff_min_ms, cfg->backoff_max_ms,
        agentd_want_uplink, ag, &ag->key, cfg->host });
    if (cfg->state_dir) {
        hostvms_on_change(ag->vms, agentd_save_state, ag);
    }
    if (agentd_guests(ag, err)) {
        goto out_destroy;
    }
    if (migagent_create(base, ag->hv, ag->vic, ag->vms, ag->hvq, ag->gnet,
                        &ag->mig, err)) {
        goto out_destroy;
    }
    migagent_set_flavor(ag->mig, cfg->flavor);
    if (ag->guestnic && cfg->peer_libvirt) {
        migagent_set_guests(ag->mig, ag->guestnic, cfg->peer_libvirt);
    }
    agentd_set_mig_listen(ag);
    migagent_set_auth(ag->mig, &ag->key, cfg->host);
    if (hostvms_register(ag->vms, ag->registry, err)
        || gnet_register(ag->gnet, ag->registry, err)
        || migagent_register(ag->mig, ag->registry, err)) {
        goto out_destroy;
    }
    ag->server = rpc_server_create(base, cfg->listen, &ag->rpc, ag->registry,
                                   agentd_server_event, ag, err);
    if (!ag->server) {
        goto out_destroy;
    }
    agentd_connect(ag);
    *agp = ag;
    return 0;

out_destroy:
    agentd_destroy(ag);
    return err->code;
}

void
agentd_destroy(struct agentd *ag)
{
    if (!ag) {
        return;
    }
    agentd_drop_fabric(ag);
    rpc_server_destroy(ag->server);
    rpc_registry_destroy(ag->registry);
    event_free(ag->heartbeat_timer);
    event_free(ag->reconnect_timer);
    /* Before what its jobs' ends touch: waits for the libvirt call under
     * way, answers the requests left. */
    hvq_destroy(ag->hvq);
    migagent_destroy(ag->mig);
    guestnic_destroy(ag->guestnic);
    gnet_destroy(ag->gnet);
    hostvms_destroy(ag->vms);
    pci_host_destroy(ag->pci);
    hv_close(ag->hv);
    vic_destroy(ag->vic);
    free(ag);
}

const char *
agentd_addr(const struct agentd *ag)
{
    return rpc_server_addr(ag->server);
}

int
agentd_fatal(const struct agentd *ag, struct fx_err *err)
{
    if (ag->fatal.code && err) {
        *err = ag->fatal;
    }
    return ag->fatal.code;
}

const char *
agentd_key_fp(const struct agentd *ag)
{
    return ag->key.fp;
}
