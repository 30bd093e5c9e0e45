/* Benchmark: a whole UCS domain on one machine, against a small one
 * measured in the same run.
 *
 * Each size is a lab of chassis of 8 blades (`fexctl lab up --chassis C
 * --blades 8`): the baseline 16 hosts (2 chassis), then the domain, 64
 * hosts by default (a quick size for `make bench`), 320 (40 chassis of
 * 8, what one FI 6140 pair holds) with FEXSIM_BENCH_FULL=1 or the
 * argument `full`, or N hosts with the argument N (a multiple of 8).  On
 * each it measures bring-up (`lab up` until every host is up), fabricd's
 * CPU at idle (heartbeats only) and its memory, then the day of the
 * domain: every VIC made passthrough-active, 16 VMs per host each with a
 * DirectPath NIC on a high-performance profile, created and started
 * (VM creates/s, starts/s), traffic on a sample of flows between VMs
 * about to migrate, and a batch of live migrations started at once (both
 * ends of every flow among them; migrations/s), then the agents' memory.
 *
 * It checks what the domain must hold, and exits 1 if it does not:
 * every migration completed with 0 frames lost, every flow lost and
 * duplicated nothing, and every VM runs exactly once, on the host the
 * fabric says (each agent is asked what its libvirt runs, as the fabric
 * asks it).  Timings are figures, never a pass or a fail: it prints each
 * per host at both sizes and their ratio (the target: within 1.5x).
 *
 * One process makes the calls, many in flight on one connection, rather
 * than a fexctl process a call: 5,120 VMs through fexctl would measure
 * process start-up.  FEXSIM_BENCH_KEEP=1 keeps each lab's dir (logs,
 * lab.json), and a lab that failed running, to look at. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "auth.h"
#include "dataplane.pb-c.h"
#include "fabric.pb-c.h"
#include "fx_err.h"
#include "fx_time.h"
#include "harness.h"
#include "migflow.pb-c.h"
#include "rpc.h"
#include "vmfex.pb-c.h"

#define BLADES 8                 /* A 5108 chassis's half-width slots. */
#define BASE_HOSTS 16
#define QUICK_HOSTS 64
#define FULL_HOSTS 320
#define VMS_PER_HOST 16          /* One DirectPath vNIC each. */
#define VM_MIB 16
#define PROFILE_HOSTS 16         /* Hosts whose VMs share a profile. */
#define PROFILE_PORTS (PROFILE_HOSTS * VMS_PER_HOST + 64)
#define FLOW_PPS 200
#define FLOW_SIZE 256
#define DIRTY_RATE 1000          /* Migrating guests' page writes/s. */
#define INFLIGHT 64              /* Calls in flight at once. */
#define CALL_MS 120000
#define IDLE_MS 4000             /* fabricd's idle window. */
#define VIC_DEV "0000:0b:00.0"

/* One size's figures. */
struct figures {
    unsigned hosts, vms, migrations, flows;
    double up_s;                 /* lab up until every host is up. */
    double idle_cpu_ms_s;        /* fabricd's CPU ms per s, idle. */
    double fabric_rss_idle_mib;  /* fabricd, hosts up, no VM. */
    double fabric_rss_mib;       /* fabricd, every VM running. */
    double fabric_hwm_mib;       /* fabricd's peak, after the migrations. */
    double agent_rss_idle_mib;   /* An agent's average, no VM. */
    double agent_rss_mib;        /* An agent's average, its VMs running,
                                  * before the migrations. */
    double agent_cpu_ms_s;       /* An agent's average CPU, VMs running,
                                  * no traffic. */
    double busy_cpu_ms_s;        /* fabricd's CPU meanwhile. */
    double passthrough_s;        /* Every VIC active (Configure, Reboot). */
    double create_s, start_s, migrate_s;
    double downtime_max_ms;
    uint64_t frames_held, frames_lost;
    uint64_t sent, received, lost, duplicated;
    uint64_t min_received;       /* The flow that received least. */
    uint64_t max_missing;        /* Most sent - received of a flow. */
    unsigned completed, running_once;
};

struct bench;
struct call {
    struct bench *b;
    size_t i;
};

/* Issues call 'i' of a batch, 'c' its callback's argument. */
typedef int (*issue_fn)(struct bench *, size_t i, struct call *c);
/* Takes the reply of call 'i'. */
typedef void (*done_fn)(struct bench *, size_t i,
                        const ProtobufCMessage *rep);

/* A client of one lab: its fabricd connection and a batch under way. */
struct bench {
    char *dir;
    struct event_base *base;
    struct rpc_conn *conn;
    struct auth_key key;
    unsigned hosts;
    char (*names)[16];           /* Host i's name: chC-bB. */
    uint32_t *mig_ids;           /* Migration i's id. */
    uint32_t *flow_ids;
    /* The batch: */
    const char *method;
    const ProtobufCMessageDescriptor *rep_desc;
    issue_fn issue;
    done_fn done;
    struct call *calls;
    size_t total, next, finished;
    unsigned inflight, failed;
    char first_err[256];
};

/* The lab up now, which die() brings down (as bench_migrate_lab keeps
 * its dir: a benchmark's one run). */
static const char *lab_up_dir;

static void
die(const char *what, const char *why)
{
    fprintf(stderr, "bench_domain: %s: %s\n", what, why);
    if (lab_up_dir && getenv("FEXSIM_BENCH_KEEP")) {
        fprintf(stderr, "bench_domain: left running in %s\n", lab_up_dir);
    } else if (lab_up_dir) {
        th_lab_down(lab_up_dir);
    }
    exit(1);
}

static void
stage(const struct bench *b, const char *what)
{
    fprintf(stderr, "bench_domain: %u hosts: %s\n", b->hosts, what);
}

/* ---- Calls, many in flight ---- */

static void batch_pump(struct bench *b);

static void
batch_reply(void *arg, int status, const char *message,
            const ProtobufCMessage *rep)
{
    struct call *c = arg;
    struct bench *b = c->b;

    b->inflight--;
    b->finished++;
    if (status != RPC_OK) {
        if (!b->failed++) {
            snprintf(b->first_err, sizeof b->first_err, "call %zu: %s",
                     c->i, message ? message : "failed");
        }
    } else if (b->done) {
        b->done(b, c->i, rep);
    }
    batch_pump(b);
}

static void
batch_pump(struct bench *b)
{
    while (b->inflight < INFLIGHT && b->next < b->total) {
        size_t i = b->next++;

        b->calls[i] = (struct call) { b, i };
        if (b->issue(b, i, &b->calls[i])) {
            b->finished++;
            if (!b->failed++) {
                snprintf(b->first_err, sizeof b->first_err, "call %zu: "
                         "could not be sent", i);
            }
            continue;
        }
        b->inflight++;
    }
}

/* Sends rpc 'b->method' for each request an issue_fn makes. */
static int
bench_send(struct bench *b, const ProtobufCMessage *req, struct call *c)
{
    return rpc_conn_call(b->conn, b->method, req, b->rep_desc, CALL_MS,
                         batch_reply, c, NULL);
}

/* Makes 'total' calls of 'method', INFLIGHT at once; returns the seconds
 * they took, and dies naming the first that failed. */
static double
batch(struct bench *b, const char *method,
      const ProtobufCMessageDescriptor *rep_desc, size_t total,
      issue_fn issue, done_fn done)
{
    uint64_t t0 = fx_time_now_us();

    b->method = method;
    b->rep_desc = rep_desc;
    b->issue = issue;
    b->done = done;
    b->calls = calloc(total ? total : 1, sizeof *b->calls);
    b->total = total;
    b->next = b->finished = 0;
    b->inflight = b->failed = 0;
    if (!b->calls) {
        die(method, "out of memory");
    }
    batch_pump(b);
    while (b->finished < total) {
        event_base_loop(b->base, EVLOOP_ONCE);
    }
    free(b->calls);
    if (b->failed) {
        die(method, b->first_err);
    }
    return (double) (fx_time_now_us() - t0) / 1e6;
}

/* One call, waited for. */
static ProtobufCMessage *
call1(struct bench *b, const char *method, const ProtobufCMessage *req,
      const ProtobufCMessageDescriptor *rep_desc)
{
    ProtobufCMessage *rep = NULL;
    struct fx_err err;

    if (rpc_call_sync(b->conn, method, req, rep_desc, CALL_MS, &rep, &err)) {
        die(method, err.msg);
    }
    return rep;
}

/* ---- The domain's objects ---- */

static void
host_name(unsigned i, char *buf, size_t size)
{
    snprintf(buf, size, "ch%u-b%u", i / BLADES + 1, i % BLADES + 1);
}

/* VM 'v' of host 'h'. */
static void
vm_name(const struct bench *b, unsigned h, unsigned v, char *buf,
        size_t size)
{
    snprintf(buf, size, "%s-v%u", b->names[h], v);
}

/* Profiles, each its own VLAN: one for every PROFILE_HOSTS hosts (two
 * chassis), whose VMs all take it, so that a VLAN holds as many VIFs
 * whatever the domain's size, as tenants' VLANs do, and a broadcast (a
 * migrated VM's announce) costs the same at 16 hosts and at 320. */
static unsigned
n_profiles(const struct bench *b)
{
    return (b->hosts + PROFILE_HOSTS - 1) / PROFILE_HOSTS;
}

/* Migration 'i': VM slot i / hosts of host i % hosts, to the host half
 * the domain away (another chassis).  The VMs of migrations 2p and 2p+1
 * are on hosts 2q and 2q+1, so on the same profile and VLAN: flows run
 * between them. */
static void
mig_plan(const struct bench *b, size_t i, unsigned *hp, unsigned *vp,
         unsigned *top)
{
    *hp = (unsigned) (i % b->hosts);
    *vp = (unsigned) (i / b->hosts);
    *top = (*hp + b->hosts / 2) % b->hosts;
}

static int
issue_configure(struct bench *b, size_t i, struct call *c)
{
    Fexsim__V1__PassthroughRequest req = FEXSIM__V1__PASSTHROUGH_REQUEST__INIT;

    req.host = b->names[i];
    req.enable = VIC_DEV;
    return bench_send(b, &req.base, c);
}

static int
issue_reboot(struct bench *b, size_t i, struct call *c)
{
    Fexsim__V1__RebootRequest req = FEXSIM__V1__REBOOT_REQUEST__INIT;

    req.host = b->names[i];
    return bench_send(b, &req.base, c);
}

static int
issue_profile(struct bench *b, size_t i, struct call *c)
{
    Fexsim__V1__CreateProfileRequest req =
        FEXSIM__V1__CREATE_PROFILE_REQUEST__INIT;
    Fexsim__V1__PortProfile p = FEXSIM__V1__PORT_PROFILE__INIT;
    uint32_t vlan = 100 + (uint32_t) i;
    char name[16];

    snprintf(name, sizeof name, "hp%zu", i);
    p.name = name;
    p.vlans = &vlan;
    p.n_vlans = 1;
    p.max_ports = PROFILE_PORTS;
    p.high_performance = 1;
    req.profile = &p;
    return bench_send(b, &req.base, c);
}

static int
issue_create(struct bench *b, size_t i, struct call *c)
{
    Fexsim__V1__CreateVmRequest req = FEXSIM__V1__CREATE_VM_REQUEST__INIT;
    Fexsim__V1__NicSpec nic = FEXSIM__V1__NIC_SPEC__INIT, *nics = &nic;
    unsigned h = (unsigned) (i / VMS_PER_HOST);
    unsigned v = (unsigned) (i % VMS_PER_HOST);
    char name[32], profile[16];

    vm_name(b, h, v, name, sizeof name);
    snprintf(profile, sizeof profile, "hp%u", h / PROFILE_HOSTS);
    nic.profile = profile;
    nic.directpath = 1;
    req.name = name;
    req.host = b->names[h];
    req.memory_mib = VM_MIB;
    req.nics = &nics;
    req.n_nics = 1;
    return bench_send(b, &req.base, c);
}

static int
issue_start(struct bench *b, size_t i, struct call *c)
{
    Fexsim__V1__VmNameRequest req = FEXSIM__V1__VM_NAME_REQUEST__INIT;
    char name[32];

    vm_name(b, (unsigned) (i / VMS_PER_HOST), (unsigned) (i % VMS_PER_HOST),
            name, sizeof name);
    req.name = name;
    return bench_send(b, &req.base, c);
}

static int
issue_flow(struct bench *b, size_t k, struct call *c)
{
    Fexsim__V1__TrafficStartRequest req =
        FEXSIM__V1__TRAFFIC_START_REQUEST__INIT;
    unsigned h, v, to;
    char a[32], z[32];

    /* Flows 2p and 2p+1 run both ways between migrations 2p's VM and
     * 2p+1's, as a conversation does: each end's frames teach the fabric
     * its MAC, so that the other's are switched to it alone.  (A VM that
     * never sends is unknown, and frames to it flood its VLAN.) */
    mig_plan(b, k & ~(size_t) 1, &h, &v, &to);
    vm_name(b, h, v, a, sizeof a);
    mig_plan(b, k | 1, &h, &v, &to);
    vm_name(b, h, v, z, sizeof z);
    req.src_vm = k & 1 ? z : a;
    req.dst_vm = k & 1 ? a : z;
    req.rate_pps = FLOW_PPS;
    req.size = FLOW_SIZE;
    return bench_send(b, &req.base, c);
}

static void
flow_started(struct bench *b, size_t k, const ProtobufCMessage *rep)
{
    b->flow_ids[k] = ((const Fexsim__V1__TrafficStartReply *) rep)->flow_id;
}

static int
issue_migrate(struct bench *b, size_t i, struct call *c)
{
    Fexsim__V1__MigrateRequest req = FEXSIM__V1__MIGRATE_REQUEST__INIT;
    Fexsim__V1__MigrationParams params = FEXSIM__V1__MIGRATION_PARAMS__INIT;
    unsigned h, v, to;
    char vm[32];

    mig_plan(b, i, &h, &v, &to);
    vm_name(b, h, v, vm, sizeof vm);
    params.max_bandwidth = 128ull << 20;    /* fexctl migrate's default. */
    req.vm = vm;
    req.to = b->names[to];
    req.params = &params;
    req.dirty_rate = DIRTY_RATE;
    req.set_dirty_rate = 1;
    return bench_send(b, &req.base, c);
}

static void
mig_started(struct bench *b, size_t i, const ProtobufCMessage *rep)
{
    b->mig_ids[i] = ((const Fexsim__V1__MigrationReply *) rep)->migration->id;
}

/* ---- Measuring the processes ---- */

static pid_t
daemon_pid(const struct bench *b, int h)
{
    char file[64];

    if (h < 0) {
        return th_read_pid(b->dir, "fabricd.pid");
    }
    snprintf(file, sizeof file, "agentd-%s.pid", b->names[h]);
    return th_read_pid(b->dir, file);
}

/* The resident memory of 'pid' in MiB, as /proc/PID/status line 'key'
 * ("VmRSS:" now, "VmHWM:" its peak) says; 0 if unknown. */
static double
rss_mib(pid_t pid, const char *key)
{
    char path[64], line[256];
    double kib = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, key, strlen(key))) {
            kib = strtod(line + strlen(key), NULL);
        }
    }
    if (f) {
        fclose(f);
    }
    return kib / 1024;
}

/* The CPU time 'pid' used so far in ms: every thread's, to the
 * nanosecond from /proc/PID/task/TID/schedstat, else in clock ticks. */
static double
cpu_ms(pid_t pid)
{
    char path[64];
    unsigned long long ut = 0, st = 0, ns;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/schedstat", (int) pid);
    f = fopen(path, "r");
    if (f && fscanf(f, "%llu", &ns) == 1) {
        fclose(f);
        return (double) ns / 1e6;
    }
    if (f) {
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    f = fopen(path, "r");
    /* Fields 14 and 15, after the name in parentheses. */
    if (!f || fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u "
                     "%*u %*u %llu %llu", &ut, &st) != 2) {
        ut = st = 0;
    }
    if (f) {
        fclose(f);
    }
    return (double) (ut + st) * 1000.0 / (double) sysconf(_SC_CLK_TCK);
}

static double
agents_rss_avg(const struct bench *b)
{
    double sum = 0;

    for (unsigned h = 0; h < b->hosts; h++) {
        sum += rss_mib(daemon_pid(b, (int) h), "VmRSS:");
    }
    return sum / b->hosts;
}

/* ---- The checks ---- */

/* Waits until every migration is final; fills 'f' from their reports. */
static void
wait_migrations(struct bench *b, struct figures *f)
{
    uint64_t deadline = fx_time_now_ms() + CALL_MS;
    Fexsim__V1__ListMigrationsRequest req =
        FEXSIM__V1__LIST_MIGRATIONS_REQUEST__INIT;
    int final_poll = 0;

    for (;;) {
        Fexsim__V1__ListMigrationsReply *rep = (void *) call1(
            b, "Migrations.List", &req.base,
            &fexsim__v1__list_migrations_reply__descriptor);
        unsigned final = 0;

        f->completed = 0;
        f->frames_held = f->frames_lost = 0;
        f->downtime_max_ms = 0;
        for (size_t i = 0; i < rep->n_migrations; i++) {
            const Fexsim__V1__Migration *m = rep->migrations[i];
            int ours = 0;

            for (unsigned j = 0; j < f->migrations; j++) {
                ours |= m->id == b->mig_ids[j];
            }
            if (!ours || !strcmp(m->state, "active")
                || !strcmp(m->state, "cancelling")) {
                continue;
            }
            final++;
            if (!strcmp(m->state, "completed")) {
                f->completed++;
            } else if (final_poll) {
                fprintf(stderr, "bench_domain: migration %u of %s from %s "
                        "to %s: %s: %s\n", m->id, m->vm, m->src, m->dst,
                        m->state, m->error);
            }
            if (m->report) {
                double down = (double) m->report->downtime_us / 1e3;

                f->frames_held += m->report->frames_held;
                f->frames_lost += m->report->frames_lost;
                f->downtime_max_ms = down > f->downtime_max_ms
                                     ? down : f->downtime_max_ms;
            }
        }
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        if (final_poll) {
            return;
        }
        /* Once more, to tell the ones that did not complete. */
        final_poll = final == f->migrations;
        if (final_poll) {
            continue;
        }
        if (fx_time_now_ms() > deadline) {
            die("migrations", "not all final in time");
        }
        fx_time_sleep_ms(20);
    }
}

/* The flows' counters now; with 'stop', stops them too. */
static void
flow_stats(struct bench *b, struct figures *f, int stop)
{
    Fexsim__V1__TrafficStatsRequest sreq =
        FEXSIM__V1__TRAFFIC_STATS_REQUEST__INIT;
    Fexsim__V1__TrafficStopRequest treq =
        FEXSIM__V1__TRAFFIC_STOP_REQUEST__INIT;
    Fexsim__V1__TrafficStatsReply *rep;

    /* Stop and stats answer the same shape. */
    rep = stop ? (void *) call1(b, "Dataplane.TrafficStop", &treq.base,
                                &fexsim__v1__traffic_stop_reply__descriptor)
               : (void *) call1(b, "Dataplane.TrafficStats", &sreq.base,
                                &fexsim__v1__traffic_stats_reply__descriptor);
    f->sent = f->received = f->lost = f->duplicated = 0;
    f->min_received = rep->n_flows == f->flows ? UINT64_MAX : 0;
    f->max_missing = 0;
    for (size_t i = 0; i < rep->n_flows; i++) {
        const Fexsim__V1__FlowStats *fl = rep->flows[i];
        uint64_t missing = fl->sent > fl->received
                           ? fl->sent - fl->received : 0;

        f->min_received = fl->received < f->min_received ? fl->received
                                                          : f->min_received;
        f->max_missing = missing > f->max_missing ? missing : f->max_missing;
        f->sent += rep->flows[i]->sent;
        f->received += rep->flows[i]->received;
        f->lost += rep->flows[i]->lost;
        f->duplicated += rep->flows[i]->duplicated;
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
}

/* Whether every flow has received at least 'each' frames. */
static int
flows_past(struct bench *b, struct figures *f, uint64_t each)
{
    flow_stats(b, f, 0);
    return f->min_received >= each;
}

/* Counts the VMs that run on exactly one host, the one the fabric says:
 * each agent is asked what its libvirt runs (HostVms.List), as the
 * fabric would.  Domains that are no VM of the fabric's (the libvirt
 * test driver's own "test") are not counted. */
static unsigned
vms_running_once(struct bench *b)
{
    Fexsim__V1__ListHostsRequest hreq = FEXSIM__V1__LIST_HOSTS_REQUEST__INIT;
    Fexsim__V1__ListVmsRequest vreq = FEXSIM__V1__LIST_VMS_REQUEST__INIT;
    Fexsim__V1__ListHostsReply *hosts;
    Fexsim__V1__ListVmsReply *vms;
    /* VM name -> { "host": the fabric's, "runs": hosts running it,
     * "there": whether one of them is the fabric's }. */
    struct json_object *vm_map = json_object_new_object(), *v;
    struct rpc_opts opts = { .key = &b->key,
                             .me = { .role = AUTH_ROLE_FABRIC } };
    unsigned once = 0;

    vms = (void *) call1(b, "Vms.List", &vreq.base,
                         &fexsim__v1__list_vms_reply__descriptor);
    for (size_t i = 0; i < vms->n_vms; i++) {
        v = json_object_new_object();
        json_object_object_add(v, "host",
                               json_object_new_string(vms->vms[i]->host));
        json_object_object_add(v, "runs", json_object_new_int(0));
        json_object_object_add(v, "there", json_object_new_int(0));
        json_object_object_add(vm_map, vms->vms[i]->name, v);
    }
    protobuf_c_message_free_unpacked(&vms->base, NULL);
    hosts = (void *) call1(b, "Fabric.ListHosts", &hreq.base,
                           &fexsim__v1__list_hosts_reply__descriptor);
    for (size_t h = 0; h < hosts->n_hosts; h++) {
        Fexsim__V1__AgentListRequest req = FEXSIM__V1__AGENT_LIST_REQUEST__INIT;
        Fexsim__V1__AgentListReply *rep = NULL;
        const char *name = hosts->hosts[h]->name;
        struct fx_err err;
        struct rpc_conn *c = rpc_conn_connect(b->base,
                                              hosts->hosts[h]->rpc_addr,
                                              &opts, NULL, NULL, NULL, &err);

        if (!c || rpc_call_sync(c, "HostVms.List", &req.base,
                                &fexsim__v1__agent_list_reply__descriptor,
                                CALL_MS, (ProtobufCMessage **) &rep, &err)) {
            die(name, err.msg);
        }
        for (size_t i = 0; i < rep->n_vms; i++) {
            struct json_object *runs, *there, *host;

            if (!rep->vms[i]->running
                || !json_object_object_get_ex(vm_map, rep->vms[i]->name,
                                              &v)) {
                continue;
            }
            json_object_object_get_ex(v, "runs", &runs);
            json_object_object_get_ex(v, "there", &there);
            json_object_object_get_ex(v, "host", &host);
            json_object_set_int(runs, json_object_get_int(runs) + 1);
            if (!strcmp(json_object_get_string(host), name)) {
                json_object_set_int(there, 1);
            }
        }
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        rpc_conn_destroy(c);
    }
    protobuf_c_message_free_unpacked(&hosts->base, NULL);
    json_object_object_foreach(vm_map, vm, info) {
        struct json_object *runs, *there;

        json_object_object_get_ex(info, "runs", &runs);
        json_object_object_get_ex(info, "there", &there);
        if (json_object_get_int(runs) == 1 && json_object_get_int(there)) {
            once++;
        } else {
            fprintf(stderr, "bench_domain: %s runs on %d hosts%s\n", vm,
                    json_object_get_int(runs), json_object_get_int(there)
                    ? "" : ", not on the fabric's");
        }
    }
    json_object_put(vm_map);
    return once;
}

/* ---- One size ---- */

static void
bench_connect(struct bench *b)
{
    char addr[64], path[4096];
    struct fx_err err;
    struct rpc_opts opts = { .key = &b->key,
                             .me = { .role = AUTH_ROLE_OPERATOR } };

    snprintf(path, sizeof path, "%s/secret", b->dir);
    if (auth_key_load(path, &b->key, &err)) {
        die("secret", err.msg);
    }
    th_fabric_addr(b->dir, addr, sizeof addr);
    b->base = event_base_new();
    b->conn = rpc_conn_connect(b->base, addr, &opts, NULL, NULL, NULL, &err);
    if (!b->base || !b->conn) {
        die("connect", err.msg);
    }
}

static void
lab_up(struct bench *b, struct figures *f)
{
    char chassis[16], *out = NULL, *errs = NULL;
    uint64_t t0 = fx_time_now_us();

    snprintf(chassis, sizeof chassis, "%u", b->hosts / BLADES);
    if (th_fexctl(&out, &errs, "lab", "up", "--dir", b->dir, "--chassis",
                  chassis, "--blades", "8", NULL)) {
        die("lab up", errs);
    }
    f->up_s = (double) (fx_time_now_us() - t0) / 1e6;
    free(out);
    free(errs);
}

/* fabricd's CPU per second while only heartbeats run. */
static void
measure_idle(struct bench *b, struct figures *f)
{
    pid_t pid = daemon_pid(b, -1);
    uint64_t t0;
    double c0;

    /* Let registration's own work end: a heartbeat period and more. */
    fx_time_sleep_ms(1500);
    t0 = fx_time_now_ms();
    c0 = cpu_ms(pid);
    fx_time_sleep_ms(IDLE_MS);
    f->idle_cpu_ms_s = (cpu_ms(pid) - c0) * 1000.0
                       / (double) (fx_time_now_ms() - t0);
    f->fabric_rss_idle_mib = rss_mib(pid, "VmRSS:");
    f->agent_rss_idle_mib = agents_rss_avg(b);
}

/* The CPU of an agent (average) and of fabricd per second while every
 * VM runs and no traffic flows. */
static void
measure_running(struct bench *b, struct figures *f)
{
    double *c0 = calloc(b->hosts + 1, sizeof *c0), sum = 0;
    uint64_t t0 = fx_time_now_ms(), ms;

    if (!c0) {
        die("measure", "out of memory");
    }
    for (unsigned h = 0; h <= b->hosts; h++) {
        c0[h] = cpu_ms(daemon_pid(b, (int) h - 1));
    }
    fx_time_sleep_ms(IDLE_MS / 2);
    ms = fx_time_now_ms() - t0;
    for (unsigned h = 1; h <= b->hosts; h++) {
        sum += cpu_ms(daemon_pid(b, (int) h - 1)) - c0[h];
    }
    f->busy_cpu_ms_s = (cpu_ms(daemon_pid(b, -1)) - c0[0]) * 1000.0
                       / (double) ms;
    f->agent_cpu_ms_s = sum * 1000.0 / (double) ms / b->hosts;
    free(c0);
}

static void
run_size(unsigned hosts, unsigned migrations, struct figures *f)
{
    struct bench b = { .hosts = hosts };
    unsigned vms = hosts * VMS_PER_HOST;
    uint64_t deadline;

    memset(f, 0, sizeof *f);
    f->hosts = hosts;
    f->vms = vms;
    f->migrations = migrations;
    f->flows = migrations & ~1u;
    b.dir = th_mkdtemp("bench-domain");
    b.names = calloc(hosts, sizeof *b.names);
    b.mig_ids = calloc(migrations, sizeof *b.mig_ids);
    b.flow_ids = calloc(f->flows ? f->flows : 1, sizeof *b.flow_ids);
    if (!b.names || !b.mig_ids || !b.flow_ids) {
        die("setup", "out of memory");
    }
    for (unsigned h = 0; h < hosts; h++) {
        host_name(h, b.names[h], sizeof b.names[h]);
    }

    stage(&b, "lab up");
    lab_up_dir = b.dir;
    lab_up(&b, f);
    bench_connect(&b);
    stage(&b, "idle");
    measure_idle(&b, f);

    stage(&b, "passthrough");
    f->passthrough_s = batch(&b, "Passthrough.Configure",
                             &fexsim__v1__passthrough_reply__descriptor,
                             hosts, issue_configure, NULL);
    f->passthrough_s += batch(&b, "Passthrough.Reboot",
                              &fexsim__v1__reboot_reply__descriptor, hosts,
                              issue_reboot, NULL);
    batch(&b, "Profiles.Create", &fexsim__v1__create_profile_reply__descriptor,
          n_profiles(&b), issue_profile, NULL);
    stage(&b, "VMs");
    f->create_s = batch(&b, "Vms.Create", &fexsim__v1__vm_reply__descriptor,
                        vms, issue_create, NULL);
    f->start_s = batch(&b, "Vms.Start", &fexsim__v1__vm_reply__descriptor,
                       vms, issue_start, NULL);
    /* Before any guest writes its RAM (a migrating guest's writer does,
     * and its pages then count): the agents' and fabricd's own. */
    f->fabric_rss_mib = rss_mib(daemon_pid(&b, -1), "VmRSS:");
    f->agent_rss_mib = agents_rss_avg(&b);
    measure_running(&b, f);

    stage(&b, "traffic and migrations");
    batch(&b, "Dataplane.TrafficStart",
          &fexsim__v1__traffic_start_reply__descriptor, f->flows,
          issue_flow, flow_started);
    /* Every flow under way before the VMs move. */
    deadline = fx_time_now_ms() + CALL_MS;
    while (!flows_past(&b, f, FLOW_PPS / 10)) {
        if (fx_time_now_ms() > deadline) {
            die("traffic", "flows did not start");
        }
        fx_time_sleep_ms(20);
    }
    f->migrate_s = batch(&b, "Migrations.Start",
                         &fexsim__v1__migration_reply__descriptor,
                         migrations, issue_migrate, mig_started);
    {
        uint64_t t0 = fx_time_now_us();

        wait_migrations(&b, f);
        f->migrate_s += (double) (fx_time_now_us() - t0) / 1e6;
    }
    /* Frames keep coming on the new hosts: a gap or a duplicate there
     * would be a loss. */
    {
        uint64_t want;

        flow_stats(&b, f, 0);
        want = f->min_received + FLOW_PPS / 5;
        deadline = fx_time_now_ms() + 30000;
        while (!flows_past(&b, f, want)) {
            if (fx_time_now_ms() > deadline) {
                fprintf(stderr, "bench_domain: a flow received %llu frames, "
                        "waited for %llu\n",
                        (unsigned long long) f->min_received,
                        (unsigned long long) want);
                die("traffic", "flows did not go on after the migrations");
            }
            fx_time_sleep_ms(20);
        }
    }
    flow_stats(&b, f, 1);
    f->fabric_hwm_mib = rss_mib(daemon_pid(&b, -1), "VmHWM:");
    stage(&b, "checks");
    f->running_once = vms_running_once(&b);

    rpc_conn_destroy(b.conn);
    event_base_free(b.base);
    stage(&b, "lab down");
    th_lab_down(b.dir);
    lab_up_dir = NULL;
    if (!th_logs_clean(b.dir)) {
        die("logs", "a daemon's log holds a sanitizer report");
    }
    if (getenv("FEXSIM_BENCH_KEEP")) {
        fprintf(stderr, "bench_domain: kept %s\n", b.dir);
    } else {
        th_rmrf(b.dir);
    }
    free(b.dir);
    free(b.names);
    free(b.mig_ids);
    free(b.flow_ids);
}

/* ---- Report ---- */

static double
ratio(double big, double base)
{
    return base > 0 ? big / base : 0;
}

/* A figure at both sizes. */
static void
pair(const char *what, const char *unit, double a, double b)
{
    printf("  %-38s %10.2f %-5s %10.2f %-5s\n", what, a, unit, b, unit);
}

/* A per-host (or per-VM) cost at both sizes and their ratio; returns the
 * ratio. */
static double
cost(const char *what, const char *unit, double a, double b)
{
    double r = ratio(b, a);

    printf("  %-38s %10.3f %-5s %10.3f %-5s %6.2fx\n", what, a, unit, b, unit,
           r);
    return r;
}

/* What the domain must hold; 0 if it does.  Frames still in flight when
 * the flows stopped are no loss (a loaded machine queues them): a flow
 * that stalled after its VMs moved fails the wait for it to go on, and one
 * that lost a frame shows a gap below the highest it received. */
static int
check(const struct figures *f)
{
    int ok = f->completed == f->migrations && f->frames_lost == 0
             && f->lost == 0 && f->duplicated == 0 && f->sent > 0
             && f->running_once == f->vms;

    printf("  %u hosts: %u/%u migrations completed, frames lost %llu (held "
           "%llu), downtime max %.2f ms; flows: %llu sent, %llu received, "
           "%llu lost, %llu duplicated (at most %llu in flight at the stop); VMs running exactly once where the "
           "fabric says: %u/%u%s\n", f->hosts, f->completed, f->migrations,
           (unsigned long long) f->frames_lost,
           (unsigned long long) f->frames_held, f->downtime_max_ms,
           (unsigned long long) f->sent, (unsigned long long) f->received,
           (unsigned long long) f->lost, (unsigned long long) f->duplicated,
           (unsigned long long) f->max_missing, f->running_once, f->vms, ok ? "" : "  FAILED");
    return ok ? 0 : -1;
}

static void
report(const struct figures *a, const struct figures *b)
{
    double worst = 0, r;

    printf("bench_domain: a UCS domain of %u hosts (%u chassis x %d blades) "
           "against %u hosts (%u x %d), in the same run\n"
           "  %d VMs per host (%d MiB, one DirectPath vNIC each, a "
           "high-performance profile and VLAN for every %d hosts), %u live "
           "migrations at once (dirty rate %d pages/s), %u flows of %d "
           "frames/s, both ways between pairs of migrating VMs\n",
           b->hosts, b->hosts / BLADES, BLADES, a->hosts, a->hosts / BLADES,
           BLADES, VMS_PER_HOST, VM_MIB, PROFILE_HOSTS, b->migrations,
           DIRTY_RATE, b->flows,
           FLOW_PPS);
    printf("  %-38s %10u hosts %10u hosts\n", "", a->hosts, b->hosts);
    pair("bring-up (lab up, every host up)", "s", a->up_s, b->up_s);
    pair("fabricd RSS, idle", "MiB", a->fabric_rss_idle_mib,
         b->fabric_rss_idle_mib);
    pair("fabricd RSS, every VM running", "MiB", a->fabric_rss_mib,
         b->fabric_rss_mib);
    pair("fabricd peak RSS, after the migrations", "MiB", a->fabric_hwm_mib,
         b->fabric_hwm_mib);
    pair("agent RSS (average), idle", "MiB", a->agent_rss_idle_mib,
         b->agent_rss_idle_mib);
    pair("agent RSS (average), 16 VMs running", "MiB", a->agent_rss_mib,
         b->agent_rss_mib);
    pair("fabricd CPU at idle (heartbeats)", "ms/s", a->idle_cpu_ms_s,
         b->idle_cpu_ms_s);
    pair("fabricd CPU, every VM running", "ms/s", a->busy_cpu_ms_s,
         b->busy_cpu_ms_s);
    pair("agent CPU (average), 16 VMs running", "ms/s", a->agent_cpu_ms_s,
         b->agent_cpu_ms_s);
    pair("passthrough on every VIC", "s", a->passthrough_s, b->passthrough_s);
    pair("VM creates/s", "/s", a->vms / a->create_s, b->vms / b->create_s);
    pair("VM starts/s", "/s", a->vms / a->start_s, b->vms / b->start_s);
    pair("migrations/s (the batch, start to end)", "/s",
         a->migrations / a->migrate_s, b->migrations / b->migrate_s);
    printf("  per-host cost, %u hosts against %u (target: within 1.5x):\n",
           b->hosts, a->hosts);
    r = cost("bring-up per host", "ms", a->up_s * 1e3 / a->hosts,
             b->up_s * 1e3 / b->hosts);
    worst = r > worst ? r : worst;
    r = cost("agent RSS, its VMs running", "MiB", a->agent_rss_mib,
             b->agent_rss_mib);
    worst = r > worst ? r : worst;
    r = cost("agent CPU, its VMs running", "ms/s", a->agent_cpu_ms_s,
             b->agent_cpu_ms_s);
    worst = r > worst ? r : worst;
    r = cost("fabricd RSS per host, VMs running", "MiB",
             a->fabric_rss_mib / a->hosts, b->fabric_rss_mib / b->hosts);
    worst = r > worst ? r : worst;
    r = cost("fabricd CPU at idle per host", "us/s",
             a->idle_cpu_ms_s * 1e3 / a->hosts,
             b->idle_cpu_ms_s * 1e3 / b->hosts);
    worst = r > worst ? r : worst;
    r = cost("VM create (per VM)", "ms", a->create_s * 1e3 / a->vms,
             b->create_s * 1e3 / b->vms);
    worst = r > worst ? r : worst;
    r = cost("VM start (per VM)", "ms", a->start_s * 1e3 / a->vms,
             b->start_s * 1e3 / b->vms);
    worst = r > worst ? r : worst;
    r = cost("migration batch (per migration)", "ms",
             a->migrate_s * 1e3 / a->migrations,
             b->migrate_s * 1e3 / b->migrations);
    worst = r > worst ? r : worst;
    printf("  worst per-host ratio: %.2fx (%s 1.5x)\n", worst,
           worst <= 1.5 ? "within" : "over");
}

/* The domain's size: FEXSIM_BENCH_FULL=1 or `full` for 320 hosts, N for
 * N hosts (a multiple of 8, 16-1024), else the quick 64. */
static unsigned
domain_hosts(int argc, char **argv)
{
    const char *full = getenv("FEXSIM_BENCH_FULL");
    char *end;
    unsigned long n;

    if (argc > 1 && (!strcmp(argv[1], "full") || !strcmp(argv[1], "--full"))) {
        return FULL_HOSTS;
    }
    if (argc > 1) {
        n = strtoul(argv[1], &end, 10);
        if (*end || n < BASE_HOSTS || n > 1024 || n % BLADES) {
            fprintf(stderr, "usage: bench_domain [full | HOSTS "
                    "[MIGRATIONS]]  (HOSTS: a multiple of %d, %d-1024)\n",
                    BLADES, BASE_HOSTS);
            exit(2);
        }
        return (unsigned) n;
    }
    return full && !strcmp(full, "1") ? FULL_HOSTS : QUICK_HOSTS;
}

int
main(int argc, char **argv)
{
    unsigned hosts = domain_hosts(argc, argv);
    /* The same batch at both sizes, so that the ratio says what the
     * domain's size costs: 64 at once for the full domain (the issue's),
     * 16 for the quick one. */
    unsigned migrations = hosts >= FULL_HOSTS ? 64 : 16;

    if (argc > 2) {
        migrations = (unsigned) strtoul(argv[2], NULL, 10);
        if (migrations < 2 || migrations > BASE_HOSTS * VMS_PER_HOST / 2) {
            fprintf(stderr, "bench_domain: MIGRATIONS: 2-%d\n",
                    BASE_HOSTS * VMS_PER_HOST / 2);
            return 2;
        }
    }
    struct figures base, dom;
    int rc;

    run_size(BASE_HOSTS, migrations, &base);
    run_size(hosts, migrations, &dom);
    report(&base, &dom);
    rc = check(&base);
    rc |= check(&dom);
    return rc ? 1 : 0;
}
