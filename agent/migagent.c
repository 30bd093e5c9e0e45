/* migagent: the MigAgent service, the migration endpoint of an agent:
 * Prepare (destination), Perform (source, the switchover with the
 * fabric's hold), Status, Abort, SetDirtyRate, GuestView (a real guest's
 * own counters around its move, migview.h).  The guests' RAM and dirty
 * rates are a table of their own (guestram.h). */
#include "migagent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domxml.h"
#include "fx_err.h"
#include "fx_ratelimit.h"
#include "auth.h"
#include "fx_fault.h"
#include "fx_limits.h"
#include "fx_name.h"
#include "fx_time.h"
#include "gnet.h"
#include "guestmem.h"
#include "guestram.h"
#include "hostvms.h"
#include "hvq.h"
#include "hv.h"
#include "log.h"
#include "mig.h"
#include "mig_dst.h"
#include "mig_params.h"
#include "mig_report.h"
#include "mig_src.h"
#include "guestnic.h"
#include "hvmig.h"
#include "mig_wire.h"
#include "migflow.pb-c.h"
#include "migview.h"
#include "rpc.h"
#include "traffic.h"
#include "vic.h"

LOG_MODULE("migagent");

#define MA_MAX_JOBS 32
#define MA_NAME 40
#define MA_MAX_FLOWS 64
/* The switchover's drain is exact (uplink MARKERs, dframe.h); this is
 * only the safety net: a marker not back by then cancels the migration. */
#define MA_DRAIN_TIMEOUT_MS 2000u
#define MA_DRAIN_RETRY_MS 1u       /* A tx ring the uplink pushed back. */
/* A real guest: how often the loop looks whether its guest may stop
 * (hvmig.h watches QEMU's pass). */
#define MA_GUEST_POLL_MS 5u
/* How long QEMU may take to send what is left once the guest stopped. */
#define MA_GUEST_REST_MS 60000u


/* The guest's workload moves as two device records after its vNICs':
 * its traffic flows (traffic_export) and its writer's dirty rate (u64,
 * big-endian), so the guest goes on as it was on the destination. */
#define MA_DEV_TRAFFIC "guestnet"
#define MA_DEV_DIRTY "guestmem"
#define MA_WORKLOAD_DEVS 2
#define MA_DIRTY_RATE_MAX FX_LIMITS_DIRTY_RATE_MAX   /* Page writes/s. */

struct ma_job {
    struct migagent *ma;
    uint32_t id;                   /* 0: slot free. */
    char vm[MA_NAME];
    enum mig_role role;
    uint32_t vnics[MIG_MAX_DEVICES];   /* The devices after the vNICs are
                                        * the guest's workload: MA_DEV_*. */
    uint32_t vifs[MIG_MAX_DEVICES];
    size_t n_vnics;
    uint32_t gens[MA_MAX_FLOWS], sinks[MA_MAX_FLOWS];
    size_t n_gens, n_sinks;
    struct mig_src *src;
    struct mig_dst *dst;
    struct guestmem *dst_gm;       /* Destination: owned until resumed. */
    /* Destination, while Prepare's memory admission reads libvirt in the
     * hypervisor worker (hvq.h): the Prepare to answer after it, its
     * guest's memory, whether an Abort came meanwhile, and the worker's
     * outcome. */
    struct rpc_call *prepare;
    uint64_t memory_mib;
    int aborted;
    int admit_rc;
    struct fx_err admit_err;
    struct rpc_call *perform;      /* Source: the deferred Perform. */
    struct mig_progress last;
    uint64_t dirty_rate;           /* Destination: the guest's, received. */
    /* Source, at the switchover: bits over vifs[] of MARKERs sent, of
     * those the fabric must echo, and of echoes read. */
    struct event *drain_ev;        /* Owned: retry and safety net. */
    uint32_t drain_sent, drain_want, drain_echo;
    uint64_t drain_deadline;       /* fx_time_now_ms(). */
    /* Source, a real guest: libvirt's migration, whether we suspended
     * the guest, libvirt's outcome once waited for. */
    struct hvmig *hvmig;           /* Owned. */
    int suspended;
    int guest_wait;                /* At the switchover: the guest to
                                    * stop, then the drain. */
    int stop_asked;                /* Its frames held, hvmig_stop(). */
    uint64_t stop_asked_ms;        /* fx_time_now_ms() then. */
    uint64_t to_guest;             /* Frames handed to it by then. */
    struct event *guest_ev;        /* Owned: watches libvirt's job. */
    int hv_done;                   /* Waited for: 1 ok, -1 failed. */
    struct fx_err hv_err;          /* Why it failed. */
    struct hv_mig_stats hv_st;
    struct migview_span gv;        /* A real guest: its view of the
                                    * move (migview.h). */
};

struct migagent {
    struct event_base *base;       /* Borrowed. */
    struct hv *hv;                 /* Borrowed. */
    struct vic *vic;               /* Borrowed. */
    struct hostvms *vms;           /* Borrowed. */
    struct hvq *q;                 /* Borrowed: the hypervisor worker. */
    struct gnet *gnet;             /* Borrowed. */
    int vmware;                    /* Flavour: VMware VM-FEX, */
    int failover;                  /* QEMU's virtio-net failover, else
                                    * KVM. */
    const struct auth_key *key;    /* Borrowed: the lab secret. */
    struct auth_ident me;          /* A peer, for this host. */
    struct fx_ratelimit refusals;  /* Log lines about stray streams. */
    char listen_host[64];          /* Page streams listen here... */
    uint16_t port_first;           /* ...on the first free port of */
    uint16_t port_last;            /* this range (0, 0: any). */
    struct guestram *guests;       /* Owned: the guests running here. */
    struct guestnic *gn;           /* Borrowed; NULL: simulated guests. */
    char peer_uri[256];            /* With "%s" for the host's name. */
    struct ma_job jobs[MA_MAX_JOBS];
    struct ma_reap *reaps;         /* Owned: libvirt's migrations being
                                    * cancelled. */
    struct migview *views;         /* Owned: real guests arrived here. */
};

/* A real guest's rolled-back migration whose libvirt side is still being
 * cancelled (hvmig_abort): its Perform is answered, and the guest resumed
 * (in the hypervisor worker) if we stopped it, once libvirt is done, so
 * that the fabric cleans the destination only after libvirt did (its
 * Finish kills the incoming QEMU), while the loop goes on serving. */
struct ma_reap {
    struct migagent *ma;
    struct ma_reap *next;
    struct hvmig *hvmig;           /* Owned. */
    struct event *ev;              /* Owned: polls its end. */
    struct rpc_call *perform;      /* To answer then; NULL: none. */
    uint32_t id;
    char vm[MA_NAME];
    int resume;                    /* We suspended the guest. */
    int rc;                        /* The worker's resume: its outcome. */
    struct fx_err err;
};

static void ma_marker(void *arg, uint32_t token, uint32_t vif);
static void ma_vm_run(void *arg, const struct domxml_vm *vm, int running);

/* A frame landed in a guest (gnet's rx hook): its RAM is dirty there. */
static void
ma_rx(void *arg, uint32_t vif, uint32_t vnic, size_t len)
{
    struct migagent *ma = arg;

    (void) vif;
    guestram_rx(ma->guests, vnic, len);
}

/* The running guest's dirty rate, which HostVms replies report. */
static uint64_t
ma_vm_rate(void *arg, const char *vm)
{
    struct migagent *ma = arg;

    return guestram_rate(ma->guests, vm);
}

int
migagent_create(struct event_base *base, struct hv *hv, struct vic *vic,
                struct hostvms *vms, struct hvq *q, struct gnet *gnet,
                struct migagent **map, struct fx_err *err)
{
    struct migagent *ma = calloc(1, sizeof *ma);

    if (!ma) {
        abort();
    }
    ma->base = base;
    ma->hv = hv;
    ma->vic = vic;
    ma->vms = vms;
    ma->q = q;
    ma->gnet = gnet;
    ma->guests = guestram_create(base);
    ma->views = migview_create(base);
    fx_ratelimit_init(&ma->refusals, 5, 10000);
    snprintf(ma->listen_host, sizeof ma->listen_host, "127.0.0.1");
    gnet_on_rx(gnet, ma_rx, ma);
    gnet_on_marker(gnet, ma_marker, ma);
    hostvms_on_run(vms, ma_vm_run, ma_vm_rate, ma);
    if (hostvms_replay_running(vms, err)) {
        migagent_destroy(ma);
        return fx_err_wrap(err, "running guests not found");
    }
    *map = ma;
    return 0;
}

void
migagent_set_auth(struct migagent *ma, const struct auth_key *key,
                  const char *host)
{
    ma->key = key;
    ma->me.role = AUTH_ROLE_PEER;
    snprintf(ma->me.name, sizeof ma->me.name, "%s", host);
}

void
migagent_set_listen(struct migagent *ma, const char *host, uint16_t first,
                    uint16_t last)
{
    snprintf(ma->listen_host, sizeof ma->listen_host, "%s", host);
    ma->port_first = first;
    ma->port_last = last;
}

void
migagent_set_flavor(struct migagent *ma, const char *flavor)
{
    if (flavor) {
        ma->vmware = !strcmp(flavor, "vmware");
        ma->failover = !strcmp(flavor, "failover");
    }
}

void
migagent_set_guests(struct migagent *ma, struct guestnic *gn,
                    const char *peer_uri)
{
    ma->gn = gn;
    snprintf(ma->peer_uri, sizeof ma->peer_uri, "%s", peer_uri);
}

static void
ma_job_free(struct ma_job *j)
{
    if (j->drain_ev) {
        event_free(j->drain_ev);
    }
    if (j->guest_ev) {
        event_free(j->guest_ev);
    }
    hvmig_destroy(j->hvmig);
    mig_src_destroy(j->src);
    mig_dst_destroy(j->dst);
    guestmem_destroy(j->dst_gm);
    if (j->perform) {
        struct fx_err err;

        fx_err_set(&err, -ECANCELED, "agent shutting down");
        rpc_call_finish(j->perform, err.code, &err);
    }
    memset(j, 0, sizeof *j);
}

/* Answers reap 'r''s Perform and frees it ('err': its resume failed). */
static void
ma_reap_free(struct ma_reap *r, const struct fx_err *err)
{
    struct ma_reap **pp = &r->ma->reaps;

    if (err) {
        LOG_WARN("migration %u: %s", r->id, err->msg);
    }
    LOG_INFO("migration %u: libvirt's migration of '%s' cancelled; it runs "
             "here", r->id, r->vm);
    if (r->perform) {
        rpc_call_finish(r->perform, 0, NULL);
    }
    while (*pp != r) {
        pp = &(*pp)->next;
    }
    *pp = r->next;
    event_free(r->ev);
    free(r);
}

/* Worker: libvirt resumes a source whose migration failed itself; ours
 * is the guarantee (resuming a running guest is no error). */
static void
ma_reap_resume(void *arg)
{
    struct ma_reap *r = arg;

    r->rc = hv_resume(r->ma->hv, r->vm, &r->err);
}

static void
ma_reap_resumed(void *arg, int cancelled)
{
    struct ma_reap *r = arg;

    /* The agent stops: the worker may not have run it. */
    if (cancelled) {
        ma_reap_resume(r);
    }
    ma_reap_free(r, r->rc ? &r->err : NULL);
}

/* libvirt is done with reap 'r' (or the agent stops: then it waits for
 * libvirt): resumes the guest if we stopped it, in the worker ('now' 0)
 * or here, answers the Perform, frees it. */
static void
ma_reap_end(struct ma_reap *r, int now)
{
    /* Stopped by us, or by the watcher for us after the rollback began. */
    int resume = r->resume || hvmig_stopped(r->hvmig, NULL) == 1;

    hvmig_destroy(r->hvmig);
    r->hvmig = NULL;
    if (!resume) {
        ma_reap_free(r, NULL);
    } else if (now) {
        ma_reap_resumed(r, 1);
    } else {
        hvq_push(r->ma->q, ma_reap_resume, ma_reap_resumed, r);
    }
}

static void
ma_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ma_reap *r = arg;
    const struct timeval tv = { 0, MA_GUEST_POLL_MS * 1000 };

    (void) fd;
    (void) what;
    if (!hvmig_done(r->hvmig)) {
        evtimer_add(r->ev, &tv);
        return;
    }
    ma_reap_end(r, 0);
}

/* Takes job 'j''s libvirt migration, asks libvirt to cancel it, and
 * answers 'perform' (may be NULL) once it is over. */
static void
ma_reap(struct ma_job *j, struct rpc_call *perform)
{
    struct ma_reap *r = calloc(1, sizeof *r);
    const struct timeval now = { 0, 0 };

    if (!r || !(r->ev = evtimer_new(j->ma->base, ma_reap_cb, r))) {
        abort();
    }
    r->ma = j->ma;
    r->hvmig = j->hvmig;
    r->perform = perform;
    r->id = j->id;
    r->resume = j->suspended;
    snprintf(r->vm, sizeof r->vm, "%s", j->vm);
    j->hvmig = NULL;
    r->next = j->ma->reaps;
    j->ma->reaps = r;
    hvmig_abort(r->hvmig);
    evtimer_add(r->ev, &now);
}

void
migagent_destroy(struct migagent *ma)
{
    if (!ma) {
        return;
    }
    /* The worker is gone (hvq_destroy() first): reaps whose resume it
     * had are freed already; the others resume here. */
    while (ma->reaps) {
        ma_reap_end(ma->reaps, 1);
    }
    migview_destroy(ma->views);
    for (size_t i = 0; i < MA_MAX_JOBS; i++) {
        if (ma->jobs[i].id) {
            ma_job_free(&ma->jobs[i]);
        }
    }
    /* The data path and HostVms outlive us: no hook of theirs may call
     * into freed memory. */
    gnet_on_rx(ma->gnet, NULL, NULL);
    gnet_on_marker(ma->gnet, NULL, NULL);
    hostvms_on_run(ma->vms, NULL, NULL, NULL);
    guestram_destroy(ma->guests);
    free(ma);
}

/* ---- Jobs ---- */

static struct ma_job *
ma_job_find(struct migagent *ma, uint32_t id)
{
    for (size_t i = 0; id && i < MA_MAX_JOBS; i++) {
        if (ma->jobs[i].id == id) {
            return &ma->jobs[i];
        }
    }
    return NULL;
}

static struct ma_job *
ma_job_new(struct migagent *ma, const Fexsim__V1__AgentMigRequest *req,
           enum mig_role role, struct fx_err *err)
{
    struct ma_job *j = NULL;

    if (!req->job_id || !fx_name_valid(req->vm) || strlen(req->vm) >= MA_NAME
        || req->n_vnics + MA_WORKLOAD_DEVS > MIG_MAX_DEVICES
        || !req->memory_mib || req->dirty_rate > MA_DIRTY_RATE_MAX
        || (req->n_vifs && req->n_vifs != req->n_vnics)
        || req->n_gen_flows > MA_MAX_FLOWS
        || req->n_sink_flows > MA_MAX_FLOWS) {
        fx_err_set(err, -EINVAL, "bad migration request");
        return NULL;
    }
    if (ma_job_find(ma, req->job_id)) {
        fx_err_set(err, -EEXIST, "migration %u is already here",
                   req->job_id);
        return NULL;
    }
    for (size_t i = 0; i < MA_MAX_JOBS && !j; i++) {
        j = ma->jobs[i].id ? NULL : &ma->jobs[i];
    }
    if (!j) {
        fx_err_refuse(err, -EBUSY, "tooManyMigrations",
                      "%d migrations already run on this host",
                   MA_MAX_JOBS);
        return NULL;
    }
    *j = (struct ma_job) { .ma = ma, .id = req->job_id, .role = role,
                           .n_vnics = req->n_vnics };
    snprintf(j->vm, sizeof j->vm, "%s", req->vm);
    for (size_t i = 0; i < req->n_vnics; i++) {
        j->vnics[i] = req->vnics[i];
        j->vifs[i] = req->n_vifs ? req->vifs[i] : 0;
    }
    j->n_gens = req->n_gen_flows;
    j->n_sinks = req->n_sink_flows;
    for (size_t i = 0; i < j->n_gens; i++) {
        j->gens[i] = req->gen_flows[i];
    }
    for (size_t i = 0; i < j->n_sinks; i++) {
        j->sinks[i] = req->sink_flows[i];
    }
    return j;
}

/* MigrationParams' bandwidth is set (a oneof of one field: presence). */
#define MA_BW_SET \
    FEXSIM__V1__MIGRATION_PARAMS__MAX_BANDWIDTH_MAX_BANDWIDTH_BYTES_PER_S

static void
ma_params(const Fexsim__V1__MigrationParams *pb, struct mig_params *p)
{
    mig_params_init(p);
    if (!pb) {
        return;
    }
    if (pb->downtime_limit_ms) {
        p->downtime_limit_ms = pb->downtime_limit_ms;
    }
    /* Unset is the API's default (fabricd always sets it). */
    p->max_bandwidth = pb->max_bandwidth_case == MA_BW_SET
                       ? pb->max_bandwidth_bytes_per_s
                       : FX_LIMITS_MAX_BANDWIDTH_DEFAULT_BYTES_PER_S;
    p->auto_converge = pb->auto_converge;
    p->timeout_ms = pb->timeout_ms;
    if (pb->max_rounds) {
        p->max_rounds = pb->max_rounds;
    }
}

/* ---- Guests ---- */

/* VM 'vm' started (running) or stopped here through HostVms: its RAM
 * exists while it runs.  The RAM of a VM a migration still reads from is
 * kept until the migration ends (it drops it then, or keeps it on a
 * rollback).  A hook with no caller to answer: what fails is logged. */
static void
ma_vm_run(void *arg, const struct domxml_vm *vm, int running)
{
    struct migagent *ma = arg;
    uint32_t vnics[MIG_MAX_DEVICES];
    struct guestmem *gm;
    struct fx_err err;
    size_t n = 0;

    for (size_t i = 0; i < MA_MAX_JOBS; i++) {
        if (ma->jobs[i].id && ma->jobs[i].role == MIG_ROLE_SOURCE
            && !strcmp(ma->jobs[i].vm, vm->name)) {
            return;
        }
    }
    if (!running) {
        if (guestram_find(ma->guests, vm->name)) {
            guestram_drop(ma->guests, vm->name);
            LOG_INFO("VM '%s': guest memory released", vm->name);
        }
        return;
    }
    for (size_t i = 0; i < vm->n_nics && n < MIG_MAX_DEVICES; i++) {
        vnics[n++] = vm->nics[i].vnic;
    }
    if (guestram_get(ma->guests, vm->name, vm->memory_mib, vnics, n, &gm,
                     &err)) {
        LOG_WARN("VM '%s' runs without guest memory: %s", vm->name, err.msg);
        return;
    }
    LOG_INFO("VM '%s': %llu MiB of guest memory (sparse); frames on its "
             "vNICs (%zu) dirty it", vm->name,
             (unsigned long long) vm->memory_mib, n);
}

/* ---- Destination ---- */

static int
ma_load(size_t dev, const char *name, const uint8_t *data, size_t size,
        void *arg, struct fx_err *err)
{
    struct ma_job *j = arg;

    if (dev == j->n_vnics && !strcmp(name, MA_DEV_TRAFFIC)) {
        return traffic_import(gnet_traffic(j->ma->gnet), data, size, err);
    }
    if (dev == j->n_vnics + 1 && !strcmp(name, MA_DEV_DIRTY)) {
        if (size != 8 || mig_wire_get64(data) > MA_DIRTY_RATE_MAX) {
            return fx_err_set(err, -EBADMSG, "guest dirty rate record of "
                              "%zu bytes, or over %u pages/s", size,
                              MA_DIRTY_RATE_MAX);
        }
        j->dirty_rate = mig_wire_get64(data);
        return 0;
    }
    if (dev >= j->n_vnics) {
        return fx_err_set(err, -EPROTO, "device '%s' has no vNIC here",
                          name);
    }
    return vic_restore(j->ma->vic, j->vnics[dev], data, size, err);
}

/* The guest resumed here, before the source hears RESUMED (so before
 * the fabric can release its held frames here and map its VIFs): binds
 * its vNICs again (the restored state, rings included), so that no frame
 * the fabric releases finds one unbound, and expects its VIFs, so that
 * the fabric's MapVif, whenever it comes, announces them and resumes the
 * generators traffic_import() parked.  (Done when the job was final, a
 * loop pass later, a busy agent heard MapVif first and kept a flow's
 * generator parked for good.) */
static void
ma_dst_bind(struct ma_job *j)
{
    struct migagent *ma = j->ma;
    struct fx_err err;

    for (size_t i = 0; i < j->n_vnics; i++) {
        struct vic_vnic_info info;

        if (vic_vnic_resume(ma->vic, j->vnics[i], &err)
            || vic_vnic_info(ma->vic, j->vnics[i], &info, &err)
            || (j->vifs[i] && gnet_map_vnic(ma->gnet, j->vifs[i],
                                            j->vnics[i], info.cfg.mac,
                                            &err))) {
            LOG_WARN("migration %u: vNIC %u: %s", j->id, j->vnics[i],
                     err.msg);
        }
    }
    for (size_t i = 0; ma->gn && i < j->n_vnics; i++) {
        /* The frames the source's ring held, to the resumed guest. */
        gnet_guest_kick(ma->gnet, j->vnics[i]);
    }
    for (size_t i = 0; i < j->n_vnics; i++) {
        if (gnet_expect_vif(ma->gnet, j->vifs[i], &err)) {
            LOG_WARN("migration %u: %s", j->id, err.msg);
        }
        LOG_INFO(ma->vmware ? "migration %u: VIF %u re-attached to dynamic "
                              "vNIC %u: high-performance"
                            : "migration %u: VIF %u: ASSOCIATE, link up on "
                              "vNIC %u", j->id, j->vifs[i], j->vnics[i]);
    }
}

/* Every device restored and running: the domain starts here.  If it
 * does not, the engine fails the job before the source hears RESUMED,
 * and the source resumes its own guest. */
static int
ma_dst_resume(void *arg, struct fx_err *err)
{
    struct ma_job *j = arg;

    if (fx_fault_fail("resume")) {
        return fx_err_set(err, -EIO, "domain '%s' does not start: fault "
                          "injected", j->vm);
    }
    if (j->ma->gn) {
        /* libvirt brought the guest here, paused, before the source sent
         * the devices: it goes on from where it stopped. */
        if (hv_resume(j->ma->hv, j->vm, err)) {
            return fx_err_wrap(err, "guest '%s' does not resume", j->vm);
        }
    } else if (hv_start(j->ma->hv, j->vm, err)) {
        return fx_err_wrap(err, "domain '%s' does not start", j->vm);
    }
    ma_dst_bind(j);
    return 0;
}

/* The guest resumed here: keep its RAM as the VM's. */
static void
ma_dst_commit(struct ma_job *j)
{
    struct migagent *ma = j->ma;
    struct guestmem *gm = j->dst_gm;
    struct fx_err err;

    j->dst_gm = NULL;
    if (j->gv.console[0]) {
        migview_arrived(ma->views, j->id, j->vm, &j->gv);
    }
    if (guestram_set(ma->guests, j->vm, gm, j->vnics, j->n_vnics, &err)) {
        LOG_ERR("migration %u: '%s' runs without guest memory: %s", j->id,
                j->vm, err.msg);
    } else {
        guestram_set_rate(ma->guests, j->vm, j->dirty_rate, j->id);
    }
    /* The domain runs here now: a crash from here on must find it so. */
    if (hostvms_changed(ma->vms, &err)) {
        LOG_ERR("migration %u: %s", j->id, err.msg);
    }
    fx_fault_point("finish");
}

/* Someone connected to a migration's listener without the lab secret (or
 * not as a peer): refused, and the job waits for its source still. */
static void
ma_dst_refused(void *arg, const char *peer, const struct fx_err *why)
{
    struct ma_job *j = arg;
    unsigned missed;

    if (fx_ratelimit_allow(&j->ma->refusals, fx_time_now_ms(), &missed)) {
        if (missed) {
            LOG_WARN("migration %u: page stream from %s refused: %s (and "
                     "%u others, not logged)", j->id, peer, why->msg, missed);
        } else {
            LOG_WARN("migration %u: page stream from %s refused: %s", j->id,
                     peer, why->msg);
        }
    }
}

static void
ma_dst_done(const struct mig_report *r, const struct fx_err *err, void *arg)
{
    struct ma_job *j = arg;

    LOG_INFO("migration %u in: %s%s%s", j->id,
             mig_report_result_name(r->result), err ? ": " : "",
             err ? err->msg : "");
    if (r->result == MIG_RESULT_COMPLETED) {
        ma_dst_commit(j);
    }
    ma_job_free(j);
}

/* Opens job 'j''s page-stream listener on our host and port range, and
 * writes into 'addr' where the source is to connect: our host, or when we
 * listen on every address, the one fabricd reached us at on 'call''s
 * connection (the fabric's network is the one our peers share). */
static int
ma_listen(struct migagent *ma, struct ma_job *j, struct rpc_call *call,
          char *addr, size_t size, struct fx_err *err)
{
    char bind_addr[80], local[64];
    struct rpc_conn *conn = rpc_call_conn(call);
    const char *host = ma->listen_host;

    snprintf(bind_addr, sizeof bind_addr, "%s:%u", host, ma->port_first);
    if (mig_dst_listen_range(j->dst, bind_addr, ma->port_last, err)) {
        return err->code;
    }
    if (!strcmp(host, "0.0.0.0")) {
        local[0] = '\0';
        if (conn) {
            rpc_conn_local(conn, local, sizeof local);
        }
        local[strcspn(local, ":")] = '\0';
        if (!local[0]) {
            return fx_err_set(err, -ENOTCONN, "migration %u: no address to "
                              "offer the source: the fabric's connection "
                              "went", j->id);
        }
        host = local;
    }
    snprintf(addr, size, "%s:%u", host, mig_dst_port(j->dst));
    return 0;
}

/* The rest of Prepare once job 'j''s guest is admitted: its RAM, the
 * engine's destination, the listener, the reply to 'call'. */
static int
ma_prepare_rest(struct ma_job *j, struct rpc_call *call, struct fx_err *err)
{
    Fexsim__V1__MigrationPrepareReply *rep = (void *) rpc_call_reply(call);
    struct migagent *ma = j->ma;
    char addr[80], console[256];

    if (guestmem_create(ma->base, j->memory_mib << 20, &j->dst_gm, err)
        || guestmem_populate(j->dst_gm, err)
        || mig_dst_create(ma->base, j->dst_gm, j->id, &(struct mig_dst_cbs) {
                ma_load, ma_dst_done, j, ma_dst_resume, ma_dst_refused },
                &j->dst, err)
        || (mig_dst_set_auth(j->dst, ma->key, &ma->me), 0)
        || ma_listen(ma, j, call, addr, sizeof addr, err)) {
        return err->code;
    }
    /* The guest's lines from its resume here on: after what its console
     * file holds now (QEMU appends; the incoming QEMU is not started
     * yet: libvirt's migration starts it). */
    if (!hostvms_console(ma->vms, j->vm, console, sizeof console)) {
        migview_start(&j->gv, j->id, console, 0);
    }
    for (size_t i = 0; i < j->n_vnics; i++) {
        LOG_INFO(ma->vmware ? "migration %u: dynamic vNIC %u reserved for "
                              "VIF %u to re-attach to"
                            : "migration %u: vNIC %u: port profile of VIF "
                              "%u PREASSOCIATE_RR (link down)",
                 j->id, j->vnics[i], j->vifs[i]);
    }
    rep->incoming = rpc_call_strdup(call, addr);
    LOG_INFO("migration %u of '%s': listening on %s", j->id, j->vm, addr);
    fx_fault_point("prepare");
    return 0;
}

/* Worker: may the guest's reservation start here?  (hostvms_check_admit
 * reads the domains from libvirt and computes, nothing else.) */
static void
ma_admit_work(void *arg)
{
    struct ma_job *j = arg;

    j->admit_rc = hostvms_check_admit(j->ma->vms, j->vm, &j->admit_err);
}

/* Loop: the admission's outcome; Prepare goes on, or the job goes. */
static void
ma_admit_done(void *arg, int cancelled)
{
    struct ma_job *j = arg;
    struct rpc_call *call = j->prepare;
    struct fx_err err;
    int rc;

    j->prepare = NULL;
    if (cancelled) {
        rc = fx_err_set(&err, -ECANCELED, "agent shutting down");
    } else if (j->aborted) {
        rc = fx_err_set(&err, -ECANCELED, "migration %u aborted while it "
                        "was being prepared", j->id);
    } else if (j->admit_rc) {
        err = j->admit_err;
        rc = j->admit_rc;
    } else {
        rc = ma_prepare_rest(j, call, &err);
    }
    if (rc) {
        ma_job_free(j);
    }
    rpc_call_finish(call, rc, &err);
}

/* The job is made at once (its id and vNICs taken), its guest admitted
 * in the worker, and the Prepare answered after. */
static int
ma_prepare(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
           ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AgentMigRequest *req = (const void *) req_;
    struct migagent *ma = ctx;
    struct ma_job *j = ma_job_new(ma, req, MIG_ROLE_DEST, err);

    (void) rep_;
    if (!j) {
        return err->code;
    }
    j->memory_mib = req->memory_mib;
    j->prepare = call;
    hvq_push(ma->q, ma_admit_work, ma_admit_done, j);
    return RPC_DEFERRED;
}

/* ---- Source ---- */

/* Switchover: the guest is stopped; quiesce vNIC 'dev' (tx stopped, rx
 * kept in its state) and checkpoint it. */
/* A real guest at the switchover, before the drain's MARKERs (the fabric
 * drops what a held VIF sends), while QEMU's first pass is held back by
 * its pace (hvmig.h): it stops (QEMU then converges at once), and what it
 * sent before it stopped is taken in.  -EINPROGRESS until it stopped. */
/* Frames handed to the guest of job 'j' by its vNICs so far. */
static uint64_t
ma_to_guest(const struct ma_job *j)
{
    uint64_t n = 0;

    for (size_t i = 0; i < j->n_vnics; i++) {
        struct guestnic_stats st;

        guestnic_stats(j->ma->gn, j->vnics[i], &st);
        n += st.to_guest;
    }
    return n;
}

static int
ma_stop_guest(struct ma_job *j, struct fx_err *err)
{
    struct migagent *ma = j->ma;
    int st = 2;

    if (!j->stop_asked) {
        /* Frames for it stay in its vNICs' rings from now on (as many
         * as fit while it may still run: gnet.h): the checkpoint
         * carries them; QEMU, stopped, would read them no more.  Those
         * already off the rings go to QEMU first.  A failover guest
         * QEMU stopped itself already. */
        for (size_t i = 0; i < j->n_vnics; i++) {
            gnet_guest_hold(ma->gnet, j->vnics[i],
                            ma->failover ? GNET_HOLD_STOPPED
                                         : GNET_HOLD_STOPPING);
        }
        for (size_t i = 0; i < j->n_vnics; i++) {
            if (guestnic_queued(ma->gn, j->vnics[i])) {
                return -EINPROGRESS;
            }
        }
        j->stop_asked = 1;
        j->stop_asked_ms = fx_time_now_ms();
        j->to_guest = ma_to_guest(j);
        /* A failover guest QEMU stopped itself (it left already). */
        if (!ma->failover) {
            hvmig_stop(j->hvmig);
        }
    }
    if (!ma->failover && !(st = hvmig_stopped(j->hvmig, err))) {
        return -EINPROGRESS;
    }
    if (st < 0) {
        j->hv_done = -1;
        fx_err_wrap(err, "guest '%s' does not stop", j->vm);
        j->hv_err = *err;
        return err->code;
    }
    j->suspended = st == 1;
    for (size_t i = 0; i < j->n_vnics; i++) {
        gnet_guest_hold(ma->gnet, j->vnics[i], GNET_HOLD_STOPPED);
    }
    if (j->suspended) {
        LOG_INFO("migration %u: '%s' stopped %llu ms after it was asked "
                 "to; %llu frames went to it meanwhile", j->id, j->vm,
                 (unsigned long long) (fx_time_now_ms() - j->stop_asked_ms),
                 (unsigned long long) (ma_to_guest(j) - j->to_guest));
    }
    /* What it sent before it stopped goes ahead of the MARKERs. */
    for (size_t i = 0; i < j->n_vnics; i++) {
        guestnic_flush(ma->gn, j->vnics[i]);
    }
    return 0;
}

/* The save of a stopped real guest's devices: libvirt's migration ends
 * now (the guest stopped, QEMU sends what is left), leaving the guest
 * paused on the destination; the fabric holds its frames meanwhile. */
static int
ma_save_guest(struct ma_job *j, struct fx_err *err)
{
    if (j->hv_done) {
        return j->hv_done > 0 ? 0 : fx_err_set(err, -EIO, "libvirt's "
                                               "migration failed: %s",
                                               j->hv_err.msg);
    }
    if (!j->stop_asked) {
        return fx_err_set(err, -EIO, "guest '%s' was not stopped", j->vm);
    }
    if (hvmig_wait(j->hvmig, &j->hv_st, err)) {
        j->hv_done = -1;
        j->hv_err = *err;
        return err->code;
    }
    j->hv_done = 1;
    LOG_INFO("migration %u: libvirt moved '%s' (%llu ms, downtime %llu ms, "
             "%llu bytes, %u passes); it waits paused there", j->id, j->vm,
             (unsigned long long) j->hv_st.total_ms,
             (unsigned long long) j->hv_st.downtime_ms,
             (unsigned long long) j->hv_st.data_bytes, j->hv_st.iterations);
    return 0;
}

/* Switchover: the guest is stopped; quiesce vNIC 'dev' (tx stopped, rx
 * kept in its state) and checkpoint it. */
static int
ma_save(size_t dev, uint8_t **datap, size_t *sizep, void *arg,
        struct fx_err *err)
{
    struct ma_job *j = arg;
    struct vic_vnic_info info;
    uint32_t idx;

    if (j->hvmig && ma_save_guest(j, err)) {
        return err->code;
    }
    if (dev == j->n_vnics) {
        return traffic_export(gnet_traffic(j->ma->gnet), j->gens, j->n_gens,
                              j->sinks, j->n_sinks, datap, sizep);
    }
    if (dev == j->n_vnics + 1) {
        *datap = malloc(8);
        if (!*datap) {
            return fx_err_set(err, -ENOMEM, "out of memory");
        }
        mig_wire_put64(*datap, guestram_rate(j->ma->guests, j->vm));
        *sizep = 8;
        return 0;
    }
    idx = j->vnics[dev];
    if (vic_vnic_info(j->ma->vic, idx, &info, err)
        || (info.state == VIC_VNIC_BOUND
            && vic_vnic_quiesce(j->ma->vic, idx, err))) {
        return err->code;
    }
    return vic_checkpoint(j->ma->vic, idx, datap, sizep, err);
}

/* Every VIF is held at the fabric, each by its own uplink MARKER exactly
 * behind its last frame, and every frame switched to it before the hold
 * is in the vNIC's rx ring: the engine stops the guest at once.  A VIF
 * without an uplink or a vNIC had nothing in flight to drain. */
static void
ma_go(struct ma_job *j)
{
    struct fx_err err;

    if (j->src && mig_src_switchover_go(j->src, &err)) {
        LOG_WARN("migration %u: %s", j->id, err.msg);
    }
}

/* The fabric that asked for this migration is gone: it cannot move the
 * VIFs nor tell the destination, so the guest must not leave.  The
 * switchover is the point of no return. */
static void
ma_src_abort(struct ma_job *j, const char *why)
{
    struct fx_err err;

    LOG_WARN("migration %u: %s: cancelled", j->id, why);
    if (mig_src_cancel(j->src, &err)) {
        LOG_WARN("migration %u: %s", j->id, err.msg);
    }
}

static void
ma_drain_end(struct ma_job *j)
{
    event_free(j->drain_ev);
    j->drain_ev = NULL;
}

/* A failover guest's migration is QEMU's own (unpaced; QEMU's wait-unplug
 * needs the guest running until it has ejected its primaries, 5 s and
 * more, and libvirt answers no query meanwhile): fexsim's switchover
 * follows once QEMU stopped the guest (hvmig_qemu_stopped: its state
 * read every HVMIG_POLL_MS), and its drain waits for libvirt's end, the
 * guest paused on the destination.  Frames sent to the guest between
 * QEMU's stop and the hold are lost: the failover strategy's own gap,
 * which bench_qemu measures.
 *
 * A real guest's migration: QEMU's first pass goes at a pace while the
 * guest runs (hvmig.h).  Once fexsim's switchover waits (guest_wait),
 * the guest stops and QEMU sends the rest at full speed; the drain goes
 * on meanwhile.  A failure is told by the save, which rolls back. */
static void
ma_guest_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ma_job *j = arg;
    const struct timeval tv = { 0, MA_GUEST_POLL_MS * 1000 };
    const struct timeval now = { 0, 0 };
    struct fx_err err;
    int rc;

    (void) fd;
    (void) what;
    if (!j->guest_wait && !j->suspended && !j->hv_done
        && hvmig_done(j->hvmig) && hvmig_wait(j->hvmig, &j->hv_st, &err)) {
        /* libvirt gave up before the switchover (the destination's
         * libvirtd gone, say): the guest never left; neither does
         * fexsim's side.  The engine's rollback frees the job (its slot
         * then reads id 0); an engine already past failing leaves it to
         * the save, which finds hv_done. */
        j->hv_done = -1;
        j->hv_err = err;
        LOG_WARN("migration %u: %s", j->id, err.msg);
        mig_src_fail(j->src, &err);
        if (!j->id) {
            return;
        }
    }
    if (!j->guest_wait
        || (j->ma->failover && !hvmig_qemu_stopped(j->hvmig))) {
        evtimer_add(j->guest_ev, &tv);
        return;
    }
    if (!j->stop_asked && !j->ma->failover && hvmig_done(j->hvmig)) {
        LOG_WARN("migration %u: QEMU switched over before fexsim did: "
                 "frames sent to '%s' meanwhile may be lost", j->id, j->vm);
    }
    rc = ma_stop_guest(j, &err);
    if (rc == -EINPROGRESS) {
        evtimer_add(j->guest_ev, &tv);
        return;
    }
    j->guest_wait = 0;
    if (rc) {
        LOG_WARN("migration %u: %s", j->id, err.msg);
    } else if (j->suspended) {
        LOG_INFO("migration %u: '%s' stopped; QEMU sends the rest", j->id,
                 j->vm);
    }
    hvmig_release(j->hvmig);
    j->drain_deadline = fx_time_now_ms() + MA_DRAIN_TIMEOUT_MS;
    evtimer_add(j->drain_ev, &now);
}

/* One step of the drain: sends the MARKERs it can (a VIF whose tx ring
 * the uplink pushed back is tried again shortly), and once every echo is
 * back, asks for the hold.  Past the deadline the migration is
 * cancelled: a safety net, never the synchronization. */
static void
ma_drain_step(struct ma_job *j)
{
    uint32_t all = (uint32_t) ((1ull << j->n_vnics) - 1);
    uint64_t now = fx_time_now_ms();
    struct timeval tv = { 0, MA_DRAIN_RETRY_MS * 1000 };

    if (!j->perform || !rpc_call_conn(j->perform)) {
        ma_drain_end(j);
        ma_src_abort(j, "fabric connection lost");
        return;
    }
    if (j->guest_wait) {
        return;                 /* ma_guest_cb goes on once it stopped. */
    }
    for (size_t i = 0; i < j->n_vnics; i++) {
        int rc = j->drain_sent & 1u << i ? 0
                 : gnet_marker(j->ma->gnet, j->vifs[i], j->id);

        if (!(j->drain_sent & 1u << i) && rc != -EAGAIN) {
            /* No uplink or no vNIC: nothing of it is in flight. */
            j->drain_sent |= 1u << i;
            j->drain_want |= rc == 0 ? 1u << i : 0;
        }
    }
    if (j->drain_sent == all && (j->drain_echo & j->drain_want)
                                == j->drain_want
        && j->hvmig && !hvmig_done(j->hvmig)) {
        /* Held and drained; the guest stopped: QEMU sends the rest (the
         * loop serves meanwhile; the save then finds libvirt done). */
        if (now >= j->drain_deadline + MA_GUEST_REST_MS) {
            ma_drain_end(j);
            ma_src_abort(j, "libvirt's migration did not end in time");
            return;
        }
        tv = (struct timeval) { 0, MA_GUEST_POLL_MS * 1000 };
        evtimer_add(j->drain_ev, &tv);
        return;
    }
    if (j->drain_sent == all && (j->drain_echo & j->drain_want)
                                == j->drain_want) {
        ma_drain_end(j);
        LOG_INFO("migration %u: %d of %zu VIFs drained by uplink markers",
                 j->id, __builtin_popcount(j->drain_want), j->n_vnics);
        ma_go(j);
        return;
    }
    if (now >= j->drain_deadline) {
        ma_drain_end(j);
        ma_src_abort(j, j->drain_sent == all
                     ? "no drain MARKER back from the fabric in time"
                     : "a vNIC's tx ring did not drain in time");
        return;
    }
    if (j->drain_sent == all) {
        tv = (struct timeval) { 0, 0 };
        tv.tv_sec = (time_t) ((j->drain_deadline - now) / 1000);
        tv.tv_usec = (suseconds_t) ((j->drain_deadline - now) % 1000 * 1000);
    }
    evtimer_add(j->drain_ev, &tv);
}

static void
ma_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    ma_drain_step(arg);
}

/* The fabric echoed the MARKER of job 'token' for 'vif': every frame it
 * switched to the VIF before holding it went through gnet's rx. */
static void
ma_marker(void *arg, uint32_t token, uint32_t vif)
{
    struct ma_job *j = ma_job_find(arg, token);

    for (size_t i = 0; j && j->src && j->drain_ev && i < j->n_vnics; i++) {
        if (j->vifs[i] == vif) {
            j->drain_echo |= 1u << i;
        }
    }
    if (j && j->src && j->drain_ev) {
        evtimer_del(j->drain_ev);
        ma_drain_step(j);
    }
}

/* Converged, the guest about to stop: its traffic pauses first, then a
 * MARKER per VIF behind what it sent holds the VIF at the fabric exactly
 * there, and its echo tells that what the fabric switched to it before
 * is in the vNIC's ring: nothing is sent to a quiesced vNIC nor from a
 * held VIF (docs/DESIGN-migration-flow.md). */
static int
ma_before_stop(void *arg)
{
    struct ma_job *j = arg;
    const struct timeval soon = { 0, 0 };

    fx_fault_point("switchover");
    traffic_pause(gnet_traffic(j->ma->gnet), j->gens, j->n_gens);
    j->guest_wait = j->hvmig != NULL;
    if (j->drain_ev || !(j->drain_ev = evtimer_new(j->ma->base, ma_drain_cb,
                                                   j))) {
        abort();
    }
    j->drain_sent = j->drain_want = j->drain_echo = 0;
    j->drain_deadline = fx_time_now_ms() + MA_DRAIN_TIMEOUT_MS;
    /* The first step runs from the loop, not inside the engine. */
    evtimer_add(j->drain_ev, &soon);
    return 1;
}

static void
ma_progress(const struct mig_progress *p, void *arg)
{
    ((struct ma_job *) arg)->last = *p;
}

/* Rollback: vNICs the switchover quiesced carry traffic again.  A real
 * guest's libvirt migration still running is cancelled without waiting
 * (ma_reap), which then answers 'perform': returns 1 if so, 0 if the
 * caller answers. */
static int
ma_src_rollback(struct ma_job *j, struct rpc_call *perform)
{
    int reaped = 0;

    if (j->hvmig) {
        for (size_t i = 0; i < j->n_vnics; i++) {
            gnet_guest_hold(j->ma->gnet, j->vnics[i], GNET_HOLD_NONE);
            gnet_guest_kick(j->ma->gnet, j->vnics[i]);
        }
        /* Cancelled in time, the guest is still ours: it runs on.  (Once
         * libvirt finished, it is paused on the destination, which the
         * fabric undefines: the guest is lost there; see docs/LABS.md.) */
        ma_reap(j, perform);
        reaped = 1;
    }
    for (size_t i = 0; i < j->n_vnics; i++) {
        struct vic_vnic_info info;

        if (!vic_vnic_info(j->ma->vic, j->vnics[i], &info, NULL)
            && info.state == VIC_VNIC_QUIESCED) {
            vic_vnic_resume(j->ma->vic, j->vnics[i], NULL);
        }
    }
    traffic_resume(gnet_traffic(j->ma->gnet), j->gens, j->n_gens);
    return reaped;
}

static void
ma_src_done(const struct mig_report *r, const struct fx_err *err, void *arg)
{
    struct ma_job *j = arg;
    struct rpc_call *call = j->perform;
    Fexsim__V1__AgentMigPerformReply *rep = (void *) rpc_call_reply(call);
    Fexsim__V1__MigrationReport *pb = rpc_call_alloc(call, sizeof *pb);

    fexsim__v1__migration_report__init(pb);
    mig_report_to_pb(r, NULL, pb);
    pb->error = rpc_call_strdup(call, err ? err->msg : "");
    if (j->hv_done > 0) {
        pb->hv_total_ms = j->hv_st.total_ms;
        pb->hv_downtime_ms = j->hv_st.downtime_ms;
        pb->hv_data_bytes = j->hv_st.data_bytes;
        pb->hv_iterations = j->hv_st.iterations;
    }
    if (r->result == MIG_RESULT_COMPLETED) {
        rep->guest_before = migview_before_pb(&j->gv, j->id, call);
    }
    rep->report = pb;
    LOG_INFO("migration %u out: %s%s%s", j->id,
             mig_report_result_name(r->result), err ? ": " : "",
             err ? err->msg : "");
    j->perform = NULL;
    if (r->result != MIG_RESULT_COMPLETED) {
        if (!ma_src_rollback(j, call)) {
            rpc_call_finish(call, 0, NULL);
        }
    } else {
        fx_fault_point("confirm");
        rpc_call_finish(call, 0, NULL);
    }
    if (r->result == MIG_RESULT_COMPLETED) {
        /* The guest runs on the destination now; its RAM here is stale.
         * The engine still points at it until destroyed. */
        struct migagent *ma = j->ma;
        char vm[MA_NAME];

        traffic_forget(gnet_traffic(ma->gnet), j->gens, j->n_gens, j->sinks,
                       j->n_sinks);
        for (size_t i = 0; j->hvmig && i < j->n_vnics; i++) {
            gnet_guest_hold(ma->gnet, j->vnics[i], GNET_HOLD_NONE);
        }
        snprintf(vm, sizeof vm, "%s", j->vm);
        ma_job_free(j);
        guestram_drop(ma->guests, vm);
        return;
    }
    ma_job_free(j);
}

/* A real guest: libvirt's migration starts beside the engine. */
static int
ma_start_guest(struct ma_job *j, const Fexsim__V1__AgentMigRequest *req,
               struct fx_err *err)
{
    const struct timeval tv = { 0, MA_GUEST_POLL_MS * 1000 };
    char uri[512];

    if (!req->dst_host || !req->dst_host[0]) {
        return fx_err_set(err, -EINVAL, "a real guest's migration needs "
                          "the destination host's name");
    }
    /* The template is ours (agentd --peer-libvirt), "%s" its only
     * conversion, checked at start. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(uri, sizeof uri, j->ma->peer_uri, req->dst_host);
#pragma GCC diagnostic pop
    if (hvmig_start(j->ma->hv, j->vm, uri, !j->ma->failover, &j->hvmig,
                    err)) {
        return err->code;
    }
    j->guest_ev = evtimer_new(j->ma->base, ma_guest_cb, j);
    if (!j->guest_ev) {
        abort();
    }
    evtimer_add(j->guest_ev, &tv);
    return 0;
}

static int
ma_perform(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
           ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AgentMigRequest *req = (const void *) req_;
    struct migagent *ma = ctx;
    struct ma_job *j = ma_job_new(ma, req, MIG_ROLE_SOURCE, err);
    const char *names[MIG_MAX_DEVICES];
    char bufs[MIG_MAX_DEVICES][16], console[256];
    struct guestmem *gm;
    struct mig_params p;

    (void) rep_;
    if (!j) {
        return err->code;
    }
    for (size_t i = 0; i < j->n_vnics; i++) {
        snprintf(bufs[i], sizeof bufs[i], "vnic%u", j->vnics[i]);
        names[i] = bufs[i];
    }
    names[j->n_vnics] = MA_DEV_TRAFFIC;
    names[j->n_vnics + 1] = MA_DEV_DIRTY;
    ma_params(req->params, &p);
    if (guestram_get(ma->guests, j->vm, req->memory_mib, j->vnics,
                     j->n_vnics, &gm, err)
        || mig_params_check(&p, err)
        || mig_src_create(ma->base, gm, j->id, &p, names,
                          j->n_vnics + MA_WORKLOAD_DEVS,
                          &(struct mig_src_cbs) { ma_save, ma_before_stop,
                                                  ma_progress, ma_src_done,
                                                  j },
                          &j->src, err)) {
        ma_job_free(j);
        return err->code;
    }
    mig_src_set_auth(j->src, ma->key, &ma->me);
    guestram_set_rate(ma->guests, j->vm,
                      req->set_dirty_rate ? req->dirty_rate
                                          : guestram_rate(ma->guests, j->vm),
                      j->id);
    if (mig_src_start(j->src, req->incoming, err)
        || (ma->gn && ma_start_guest(j, req, err))) {
        ma_job_free(j);
        return err->code;
    }
    j->perform = call;
    if (!hostvms_console(ma->vms, j->vm, console, sizeof console)) {
        migview_start(&j->gv, j->id, console, 1);
    }
    for (size_t i = 0; ma->vmware && i < j->n_vnics; i++) {
        LOG_INFO("migration %u: vNIC %u falls back to emulated mode for the "
                 "move (vmNptConflictingOperationInProgress)", j->id,
                 j->vnics[i]);
    }
    /* QEMU unplugs a failover guest's primaries as its migration begins
     * (its wait-unplug state): the guest then sends by its standby, and
     * frames to it follow (guestnic.h). */
    for (size_t i = 0; ma->failover && ma->gn && i < j->n_vnics; i++) {
        LOG_INFO("migration %u: vNIC %u's primary is unplugged for the move;"
                 " the guest's traffic rides its standby virtio-net", j->id,
                 j->vnics[i]);
    }
    LOG_INFO("migration %u of '%s' to %s started", j->id, j->vm,
             req->incoming);
    fx_fault_point("perform");
    return RPC_DEFERRED;
}

/* ---- Status, abort ---- */

static int
ma_status(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
          ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AgentMigRef *req = (const void *) req_;
    Fexsim__V1__AgentMigStatus *rep = (void *) rep_;
    struct ma_job *j = ma_job_find(ctx, req->job_id);
    Fexsim__V1__MigrationProgress *pb;
    const struct mig_job *job;

    if (!j || j->prepare) {
        return fx_err_set(err, -ENOENT, "no migration %u here", req->job_id);
    }
    job = j->src ? mig_src_job(j->src) : mig_dst_job(j->dst);
    rep->phase = (char *) mig_state_name(job->state);
    pb = rpc_call_alloc(call, sizeof *pb);
    fexsim__v1__migration_progress__init(pb);
    mig_report_progress_to_pb(&j->last, pb);
    rep->progress = pb;
    if (j->src) {
        Fexsim__V1__MigrationStats *st = rpc_call_alloc(call, sizeof *st);
        struct mig_stats now;

        mig_src_stats(j->src, &now);
        fexsim__v1__migration_stats__init(st);
        mig_report_stats_to_pb(&now, st);
        rep->stats = st;
    }
    return 0;
}

/* The source job 'id', or NULL with 'err' (-ENOENT). */
static struct ma_job *
ma_src_find(struct migagent *ma, uint32_t id, struct fx_err *err)
{
    struct ma_job *j = ma_job_find(ma, id);

    if (!j || !j->src) {
        fx_err_set(err, -ENOENT, "no outgoing migration %u here", id);
        return NULL;
    }
    return j;
}

/* The engine's "not running" (-EPROTO: final, or switching over) is the
 * caller's precondition that failed, not our fault. */
static int
ma_src_err(struct fx_err *err)
{
    if (err->code == -EPROTO) {
        err->code = -EPERM;
    }
    return err->code;
}

/* virDomainMigrateSetMaxSpeed and SetMaxDowntime on the running job. */
static int
ma_set_params(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
              ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AgentMigParams *req = (const void *) req_;
    Fexsim__V1__AgentMigParams *rep = (void *) rep_;
    struct ma_job *j = ma_src_find(ctx, req->job_id, err);
    const struct mig_params *p;

    (void) call;
    /* The downtime limit first: the one a range check may refuse, before
     * anything changed. */
    if (!j
        || (req->downtime_limit_ms
            && mig_src_set_downtime_limit(j->src, req->downtime_limit_ms,
                                          err))
        || (req->set_max_bandwidth
            && mig_src_set_max_bandwidth(j->src,
                                         req->max_bandwidth_bytes_per_s,
                                         err))) {
        return ma_src_err(err);
    }
    p = mig_src_params(j->src);
    LOG_INFO("migration %u: max bandwidth %llu bytes/s, downtime limit %u "
             "ms", j->id, (unsigned long long) p->max_bandwidth,
             p->downtime_limit_ms);
    rep->job_id = j->id;
    rep->set_max_bandwidth = true;
    rep->max_bandwidth_bytes_per_s = p->max_bandwidth;
    rep->downtime_limit_ms = p->downtime_limit_ms;
    return 0;
}

static int
ma_force_complete(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                  struct fx_err *err)
{
    const Fexsim__V1__AgentMigRef *req = (const void *) req_;
    struct ma_job *j = ma_src_find(ctx, req->job_id, err);

    (void) call;
    (void) rep_;
    if (!j || mig_src_force_complete(j->src, err)) {
        return ma_src_err(err);
    }
    LOG_INFO("migration %u: forced to complete at the next round's end",
             j->id);
    return 0;
}

static int
ma_abort(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
         ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AgentMigRef *req = (const void *) req_;
    struct ma_job *j = ma_job_find(ctx, req->job_id);

    (void) call;
    (void) rep_;
    if (!j) {
        return 0;       /* Already over: nothing to undo here. */
    }
    if (j->prepare) {
        j->aborted = 1; /* Its Prepare fails when the worker is done. */
        return 0;
    }
    if (j->src) {
        return mig_src_cancel(j->src, err) ? err->code : 0;
    }
    if (mig_dst_cancel(j->dst, err)) {
        return err->code;
    }
    return 0;
}

/* The running guest's writer: page writes/s from now on, here and, as it
 * migrates, on its destinations. */
static int
ma_set_dirty_rate(void *ctx, struct rpc_call *call,
                  const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                  struct fx_err *err)
{
    const Fexsim__V1__AgentDirtyRate *req = (const void *) req_;
    Fexsim__V1__AgentDirtyRate *rep = (void *) rep_;
    struct migagent *ma = ctx;

    if (req->dirty_rate > MA_DIRTY_RATE_MAX) {
        return fx_err_set(err, -ERANGE, "dirty rate %llu is over %u page "
                          "writes/s", (unsigned long long) req->dirty_rate,
                          MA_DIRTY_RATE_MAX);
    }
    if (guestram_set_rate(ma->guests, req->vm, req->dirty_rate, 1)) {
        return fx_err_set(err, -ENOENT, "VM '%s' does not run on this host",
                          req->vm);
    }
    LOG_INFO("VM '%s': dirty rate %llu page writes/s", req->vm,
             (unsigned long long) req->dirty_rate);
    rep->vm = rpc_call_strdup(call, req->vm);
    rep->dirty_rate = req->dirty_rate;
    return 0;
}

/* Answered once the guest has heard its peer since it resumed here, or
 * after MIGVIEW_WAIT_MS with why not (migview.h). */
static int
ma_guest_view(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
              ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AgentMigRef *req = (const void *) req_;
    struct migagent *ma = ctx;

    (void) rep_;
    return migview_answer(ma->views, req->job_id, call, err);
}

/* In the order of service MigAgent in proto/migflow.proto. */
static const rpc_handler_fn ma_handlers[] = {
    ma_prepare,
    ma_perform,
    ma_status,
    ma_abort,
    ma_set_dirty_rate,
    ma_set_params,
    ma_force_complete,
    ma_guest_view,
};

int
migagent_register(struct migagent *ma, struct rpc_registry *reg,
                  struct fx_err *err)
{
    return rpc_registry_add(reg, &fexsim__v1__mig_agent__descriptor,
                            ma_handlers, sizeof ma_handlers
                            / sizeof *ma_handlers, ma,
                            AUTH_ROLE_MASK(AUTH_ROLE_FABRIC), err);
}
