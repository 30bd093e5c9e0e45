/* labrun: see labrun.h. */
#include "labrun.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cli.h"
#include "fabric.pb-c.h"
#include "fx_err.h"
#include "fx_time.h"
#include "lablock.h"
#include "labhv.h"
#include "labnet.h"
#include "labport.h"
#include "labproc.h"
#include "labspec.h"

/* Starting a lab may take this, and this more for each daemon started
 * (labrun_start_budget_ms()). */
#define LABRUN_START_BASE_MS 20000u
#define LABRUN_START_PER_HOST_MS 250u
/* A qemu lab's agent opens its libvirtd, whose first connection probes
 * QEMU's capabilities for seconds, each host's at the same time. */
#define LABRUN_QEMU_START_MS 90000u
/* Connections fabricd keeps for operators and clients beside its agents':
 * the rpc library's default for a whole daemon. */
#define LABRUN_OPERATOR_CONNS 256

/* ---- Building a lab's command lines ---- */

/* The name of host 'i' (1..o->hosts) of a lab: in a lab of chassis
 * (--chassis C --blades B), "chC-bB", the blade in slot B of chassis C,
 * UCSM's sys/chassis-C/blade-B (hosts fill each chassis in turn);
 * otherwise "hI". */
static void
labrun_host_name(const struct labspec_opts *o, unsigned i, char *buf,
                 size_t size)
{
    if (o->chassis) {
        snprintf(buf, size, "ch%u-b%u", (i - 1) / o->blades + 1,
                 (i - 1) % o->blades + 1);
    } else {
        snprintf(buf, size, "h%u", i);
    }
}

int
labrun_no_iommu(const struct labspec_opts *o, const char *name,
                struct fx_err *err)
{
    const char *p = o->no_iommu;
    char first[16], last[16];

    while (p && *p) {
        size_t len = strcspn(p, ",");
        int known = 0;

        if (name) {
            if (strlen(name) == len && !strncmp(p, name, len)) {
                return 1;
            }
        } else {
            for (unsigned i = 1; !known && i <= o->hosts; i++) {
                labrun_host_name(o, i, first, sizeof first);
                known = strlen(first) == len && !strncmp(p, first, len);
            }
            if (!known) {
                labrun_host_name(o, 1, first, sizeof first);
                labrun_host_name(o, o->hosts, last, sizeof last);
                return fx_err_set(err, -EINVAL, "--no-iommu: '%.*s' is not "
                                  "one of the hosts %s..%s", (int) len, p,
                                  first, last);
            }
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

/* Daemon 'index''s address on 'port' (0 fabricd, N host hN): in a netns
 * lab its own address there, the port fixed (the namespace is its own);
 * otherwise loopback, on a port 'ports' chooses for good (labport.h). */
static int
labrun_addr(const struct labspec *spec, const struct labspec_net *net,
            struct labport *ports, uint16_t port, char *buf, size_t size,
            struct fx_err *err)
{
    char host[24];

    if (!spec->opts.netns) {
        return labport_pick(ports, buf, size, err);
    }
    labnet_addr(net, host, sizeof host);
    snprintf(buf, size, "%s:%u", host, port);
    return 0;
}

/* Adds daemon 'name' (index 0 fabricd, N host hN) running 'argv': in a
 * netns lab, inside its namespace by "ip netns exec NS", which execs the
 * program (its pid and name are the daemon's). */
static struct labspec_daemon *
labrun_add(struct labspec *spec, const char *name, const char *prog,
           const char *file, const struct labspec_net *net, char *argv[],
           struct fx_err *err)
{
    char ip[64], *line[LABSPEC_ARGV_MAX + 1];
    struct labspec_daemon *d;
    size_t n = 0;

    if (spec->opts.netns) {
        if (labnet_tool("ip", ip, sizeof ip, err)) {
            return NULL;
        }
        line[n++] = ip;
        line[n++] = "netns";
        line[n++] = "exec";
        line[n++] = (char *) net->netns;
    }
    for (size_t i = 0; argv[i] && n < LABSPEC_ARGV_MAX; i++) {
        line[n++] = argv[i];
    }
    line[n] = NULL;
    d = labspec_add(spec, name, prog, file, line, err);
    if (d && spec->opts.netns) {
        d->net = *net;
    }
    return d;
}

/* fabricd's --max-conns: every agent's control connection (uplinks are
 * the data plane's, counted apart) and room for as many operators and
 * clients as a fabricd serves by default. */
static uint32_t
labrun_fabric_conns(const struct labspec_opts *o)
{
    return o->hosts + LABRUN_OPERATOR_CONNS;
}

static int
labrun_add_fabric(struct cli *cli, struct labspec *spec, struct labport *ports,
                  struct fx_err *err)
{
    char bin[PATH_MAX], addr_file[PATH_MAX], hb_int[16], hb_to[16];
    char state[PATH_MAX], secret[PATH_MAX], listen[64] = "", uplink[64] = "";
    char http[64] = "", conns[16];
    char *argv[] = { bin, "--listen", listen, "--uplink-listen", uplink,
                     "--http", http,
                     "--addr-file", addr_file, "--heartbeat-interval",
                     hb_int, "--heartbeat-timeout", hb_to, "--state", state,
                     "--flavor", spec->opts.flavor, "--secret-file", secret,
                     "--max-conns", conns, NULL };
    struct labspec_daemon *d;
    struct labspec_net net;

    labnet_plan(spec->id, "fabricd", 0, &net);
    if (labrun_addr(spec, &net, ports, LABNET_FABRIC_PORT, listen,
                    sizeof listen, err)
        || labrun_addr(spec, &net, ports, LABNET_UPLINK_PORT, uplink,
                       sizeof uplink, err)
        || labrun_addr(spec, &net, ports, LABNET_HTTP_PORT, http,
                       sizeof http, err)) {
        return err->code;
    }
    snprintf(bin, sizeof bin, "%s/fabricd", cli->bindir);
    snprintf(secret, sizeof secret, "%s/secret", spec->dir);
    snprintf(addr_file, sizeof addr_file, "%s/fabric.addr", spec->dir);
    snprintf(state, sizeof state, "%s/fabric-state", spec->dir);
    snprintf(hb_to, sizeof hb_to, "%u", spec->opts.hb_timeout_ms);
    snprintf(hb_int, sizeof hb_int, "%u", spec->opts.hb_timeout_ms / 3);
    snprintf(conns, sizeof conns, "%u", labrun_fabric_conns(&spec->opts));
    d = labrun_add(spec, "fabricd", "fabricd", "fabricd", &net, argv, err);
    if (!d) {
        return err->code;
    }
    snprintf(d->listen, sizeof d->listen, "%s", listen);
    snprintf(d->uplink, sizeof d->uplink, "%s", uplink);
    snprintf(d->http, sizeof d->http, "%s", http);
    return 0;
}

bool
labrun_qemu(const struct labspec *spec)
{
    return !strcmp(spec->opts.hypervisor, "qemu");
}

static int
labrun_add_agent(struct cli *cli, struct labspec *spec, struct labport *ports,
                 unsigned i, struct fx_err *err)
{
    char bin[PATH_MAX], host[16], vnics[16], file[32], state[PATH_MAX];
    char mem[24], secret[PATH_MAX], listen[64], fabric[64];
    char chassis[16], slot[16], dirty[24];
    char uri[PATH_MAX + 64], peer[PATH_MAX + 64];
    char *argv[36] = { bin, "--host", host, "--fabric", fabric,
                       "--listen", listen,
                       "--libvirt", uri, "--vnics", vnics,
                       "--state", state, "--flavor", spec->opts.flavor,
                       "--secret-file", secret };
    struct labspec_daemon *d;
    struct labspec_net net;
    size_t n = 0;

    labrun_host_name(&spec->opts, i, host, sizeof host);
    if (labrun_qemu(spec)) {
        labhv_uri(spec, host, uri, sizeof uri);
    } else {
        snprintf(uri, sizeof uri, "%s", spec->opts.libvirt);
    }
    labnet_plan(spec->id, host, i, &net);
    if (labrun_addr(spec, &net, ports, LABNET_AGENT_PORT, listen,
                    sizeof listen, err)) {
        return err->code;
    }
    snprintf(bin, sizeof bin, "%s/agentd", cli->bindir);
    /* A copy: adding this agent moves the daemons array. */
    snprintf(fabric, sizeof fabric, "%s", spec->daemons[0].listen);
    snprintf(secret, sizeof secret, "%s/secret", spec->dir);
    snprintf(vnics, sizeof vnics, "%u", spec->opts.vnics);
    snprintf(file, sizeof file, "agentd-%s", host);
    snprintf(state, sizeof state, "%s/%s-state", spec->dir, host);
    while (argv[n]) {
        n++;
    }
    if (spec->opts.memory_mib) {
        snprintf(mem, sizeof mem, "%llu",
                 (unsigned long long) spec->opts.memory_mib);
        argv[n++] = "--memory";
        argv[n++] = mem;
    }
    if (labrun_no_iommu(&spec->opts, host, NULL) == 1) {
        argv[n++] = "--no-iommu";
    }
    if (spec->opts.chassis) {
        snprintf(chassis, sizeof chassis, "%u", (i - 1) / spec->opts.blades
                                                + 1);
        snprintf(slot, sizeof slot, "%u", (i - 1) % spec->opts.blades + 1);
        argv[n++] = "--chassis";
        argv[n++] = chassis;
        argv[n++] = "--slot";
        argv[n++] = slot;
    }
    if (labrun_qemu(spec)) {
        snprintf(dirty, sizeof dirty, "%llu",
                 (unsigned long long) spec->opts.guest_dirty_rate);
        argv[n++] = "--guest";
        argv[n++] = spec->opts.guest;
        argv[n++] = "--guest-dirty-rate";
        argv[n++] = dirty;
        labhv_uri(spec, "%s", peer, sizeof peer);
        argv[n++] = "--peer-libvirt";
        argv[n++] = peer;
    }
    if (spec->opts.netns) {
        /* A fixed range, as a firewall between machines would open. */
        argv[n++] = "--migration-ports";
        argv[n++] = LABNET_MIG_PORTS;
    }
    argv[n] = NULL;
    d = labrun_add(spec, host, "agentd", file, &net, argv, err);
    if (!d) {
        return err->code;
    }
    snprintf(d->listen, sizeof d->listen, "%s", listen);
    return 0;
}

int
labrun_build(struct cli *cli, const char *dir,
             const struct labspec_opts *opts, struct labspec *spec,
             struct fx_err *err)
{
    struct labport *ports = labport_create();
    int rc;

    labspec_init(spec, dir);
    spec->opts = *opts;
    rc = labrun_add_fabric(cli, spec, ports, err);
    for (unsigned i = 1; !rc && i <= opts->hosts; i++) {
        rc = labrun_add_agent(cli, spec, ports, i, err);
    }
    /* After the agents, so that daemons 1..N stay the hosts. */
    for (unsigned i = 1; !rc && labrun_qemu(spec) && i <= opts->hosts; i++) {
        char host[16];

        labrun_host_name(&spec->opts, i, host, sizeof host);
        rc = labhv_add(spec, host, i, err) ? 0 : err->code;
    }
    labport_destroy(ports);
    return rc;
}

int
labrun_arm_fault(struct labspec_daemon *d, const char *spec,
                 struct fx_err *err)
{
    size_t n = 0;

    while (d->argv[n]) {
        n++;
    }
    if (n + 2 > LABSPEC_ARGV_MAX) {
        return fx_err_set(err, -E2BIG, "'%s': command line too long to arm "
                          "a fault", d->name);
    }
    d->argv[n] = strdup("--fault");
    d->argv[n + 1] = d->argv[n] ? strdup(spec) : NULL;
    d->argv[n + 2] = NULL;
    if (!d->argv[n + 1]) {
        free(d->argv[n]);
        d->argv[n] = NULL;
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- Starting and stopping ---- */

void
labrun_target(struct cli *cli, const struct labspec *spec)
{
    snprintf(cli->fabric_addr, sizeof cli->fabric_addr, "%s",
             spec->daemons[0].listen);
    snprintf(cli->secret_path, sizeof cli->secret_path, "%s/secret",
             spec->dir);
    cli->secret_file = cli->secret_path;
    snprintf(cli->netns, sizeof cli->netns, "%s", spec->daemons[0].net.netns);
}

int
labrun_lock(struct labspec *spec, int reload, int *lockp, struct fx_err *err)
{
    char dir[PATH_MAX], id[sizeof spec->id];
    int rc;

    *lockp = -1;
    if (!spec->opts.netns) {
        return 0;
    }
    snprintf(id, sizeof id, "%s", spec->id);
    *lockp = lablock_take(id, true, err);
    if (*lockp < 0 || !reload) {
        return *lockp < 0 ? *lockp : 0;
    }
    snprintf(dir, sizeof dir, "%s", spec->dir);
    labspec_free(spec);
    rc = labspec_load(dir, spec, err);
    if (!rc && strcmp(spec->id, id)) {
        rc = fx_err_set(err, -ESTALE, "another lab was made in '%s' "
                        "meanwhile", dir);
    }
    if (rc) {
        lablock_release(id, *lockp, false);
        *lockp = -1;
    }
    return rc;
}

/* Orders positions in the lab 'arg' by their daemons' names. */
static int
labrun_name_cmp(const void *a, const void *b, void *arg)
{
    const struct labspec *spec = arg;

    return strcmp(spec->daemons[*(const size_t *) a].name,
                  spec->daemons[*(const size_t *) b].name);
}

/* The position in 'spec' of the host named 'name', or 0 (fabricd's, never
 * a host): 'order' holds the hosts' positions sorted by name. */
static size_t
labrun_host_pos(const struct labspec *spec, const size_t *order,
                const char *name)
{
    size_t lo = 0, hi = labspec_hosts(spec);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(spec->daemons[order[mid]].name, name);

        if (!c) {
            return order[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

int
labrun_hosts_up(struct cli *cli, const struct labspec *spec, int *up,
                struct fx_err *err)
{
    Fexsim__V1__ListHostsRequest req = FEXSIM__V1__LIST_HOSTS_REQUEST__INIT;
    Fexsim__V1__ListHostsReply *rep;
    size_t *order = calloc(spec->n_daemons, sizeof *order), pos;
    size_t nh = labspec_hosts(spec);
    int n = 0;

    if (!order) {
        abort();                /* Out of memory. */
    }
    if (cli_call(cli, "Fabric.ListHosts", &req.base,
                 &fexsim__v1__list_hosts_reply__descriptor,
                 (ProtobufCMessage **) &rep, err)) {
        free(order);
        return err->code;
    }
    /* Hundreds of hosts: a sorted index rather than a search per name. */
    for (size_t i = 1; i <= nh; i++) {
        order[i - 1] = i;
    }
    qsort_r(order, nh, sizeof *order, labrun_name_cmp, (void *) spec);
    for (size_t i = 1; up && i <= nh; i++) {
        up[i] = 0;
    }
    for (size_t h = 0; h < rep->n_hosts; h++) {
        pos = labrun_host_pos(spec, order, rep->hosts[h]->name);
        if (pos && rep->hosts[h]->state
                   == FEXSIM__V1__HOST_STATE__HOST_STATE_UP) {
            n++;
            if (up) {
                up[pos] = 1;
            }
        }
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    free(order);
    return n;
}

/* A netns lab's namespaces and links, made where missing (a lab
 * brought down, or cleaned after a crash) before its daemons start in
 * them. */
static int
labrun_net_up(struct labspec *spec, struct fx_err *err)
{
    int made;

    if (!spec->opts.netns) {
        return 0;
    }
    made = labnet_up(spec, err);
    if (made < 0) {
        return made;
    }
    /* New links have no fault: lab.json says so. */
    return made ? labspec_save(spec, err) : 0;
}

/* How `lab up` shows its progress: not at all (--json), in place on a
 * terminal, or in plain lines now and then. */
enum labrun_progress {
    LABRUN_PROGRESS_NONE, LABRUN_PROGRESS_TTY, LABRUN_PROGRESS_PLAIN
};
#define LABRUN_PLAIN_EVERY_MS 2000u

/* What starting a lab waits on, and shows while it waits. */
struct labrun_wait {
    struct cli *cli;
    const struct labspec *spec;
    const char *what;                /* "lab up", "lab restart". */
    pid_t *pids;                     /* By position: started now, or 0. */
    int *up;                         /* By position: its host is up. */
    int *ready;                      /* By position: wrote its pid file. */
    uint64_t budget_ms;              /* What starting may take, */
    uint64_t deadline_ms;            /* until then. */
    enum labrun_progress progress;      /* How to show "hosts up N/M". */
    int shown;                       /* A line in place is on screen. */
    uint64_t last_ms;                /* The last plain line's time, */
    size_t last_n;                   /* count */
    const char *last_count;          /* and what it counted. */
};

/* How long starting may take: a base, and more for each daemon started
 * (on 2 cores, 320 agents serve and register in a few seconds: see
 * bench_domain), many times over for a loaded machine. */
static uint64_t
labrun_start_budget_ms(size_t started)
{
    return LABRUN_START_BASE_MS
           + (uint64_t) started * LABRUN_START_PER_HOST_MS;
}

/* Shows progress: on a terminal, one line rewritten in place; anywhere
 * else (a pipe, a log), a plain line when the count changed and
 * LABRUN_PLAIN_EVERY_MS passed since the last, so that a small lab prints
 * its final line alone and a big one a line now and then.  --json
 * prints nothing but its document. */
static void
labrun_show(struct labrun_wait *w, const char *count, size_t n, size_t of)
{
    uint64_t now = fx_time_now_ms();

    if (w->progress == LABRUN_PROGRESS_TTY) {
        printf("\r\033[K%s: %s %zu/%zu", w->what, count, n, of);
        fflush(stdout);
        w->shown = 1;
    } else if (w->progress == LABRUN_PROGRESS_PLAIN
               && now >= w->last_ms + LABRUN_PLAIN_EVERY_MS
               && (n != w->last_n || strcmp(count, w->last_count))) {
        printf("%s: %s %zu/%zu\n", w->what, count, n, of);
        fflush(stdout);
        w->last_ms = now;
        w->last_n = n;
        w->last_count = count;
    }
}

/* Clears the progress line so that the final line takes its place. */
static void
labrun_show_done(struct labrun_wait *w)
{
    if (w->shown) {
        printf("\r\033[K");
        fflush(stdout);
        w->shown = 0;
    }
}

/* The error of a start that ran out of time: how many hosts are not up,
 * and the first few by name. */
static int
labrun_not_up(const struct labrun_wait *w, int up, struct fx_err *err)
{
    const struct labspec *spec = w->spec;
    int want = (int) labspec_hosts(spec), listed = 0;
    char names[120] = "";
    size_t len = 0;

    for (size_t i = 1; i <= (size_t) want && listed < 8; i++) {
        if (!w->up[i] && len < sizeof names) {
            len += (size_t) snprintf(names + len, sizeof names - len, "%s%s",
                                     listed++ ? ", " : "",
                                     spec->daemons[i].name);
        }
    }
    return fx_err_set(err, -ETIMEDOUT, "%d of %d hosts not up after %llu "
                      "s: %s%s; see %s/agentd-NAME.log", want - up, want,
                      (unsigned long long) (w->budget_ms / 1000), names,
                      want - up > listed ? ", ..." : "", spec->dir);
}

/* Checks the agents started now that have not yet written their pid
 * file: 0, or -ECHILD if one exited (its log's last line in 'err').
 * '*all_readyp' says whether every one has. */
static int
labrun_check_agents(struct labrun_wait *w, int *all_readyp, struct fx_err *err)
{
    *all_readyp = 1;
    for (size_t i = 1; i < w->spec->n_daemons; i++) {
        int rc;

        if (!w->pids[i] || w->ready[i] || labhv_is(&w->spec->daemons[i])) {
            continue;
        }
        rc = labproc_ready(&w->spec->daemons[i], w->pids[i], err);
        if (rc < 0) {
            return rc;
        }
        w->ready[i] = rc;
        *all_readyp &= rc;
    }
    return 0;
}

/* Waits until every agent started serves and every host is up, showing
 * how many are; fails naming an agent that exited, or the hosts not up
 * by the deadline. */
static int
labrun_wait_agents(struct labrun_wait *w, struct fx_err *err)
{
    int want = (int) labspec_hosts(w->spec), up, ready;
    /* ListHosts costs fabricd a little per host: ask less often when
     * there are hundreds. */
    uint32_t poll_ms = 20 + (uint32_t) want / 4;

    poll_ms = poll_ms > 100 ? 100 : poll_ms;
    for (;;) {
        if (labrun_check_agents(w, &ready, err)) {
            return err->code;
        }
        up = labrun_hosts_up(w->cli, w->spec, w->up, err);
        if (up < 0) {
            return up;
        }
        labrun_show(w, "hosts up", (size_t) up, (size_t) want);
        if (up == want && ready) {
            return 0;
        }
        if (fx_time_now_ms() > w->deadline_ms) {
            return labrun_not_up(w, up, err);
        }
        fx_time_sleep_ms(poll_ms);
    }
}

/* Spawns the daemons of 'w->spec' that do not run ('only': just that
 * one), fabricd first and serving before the agents start, so that they
 * find it at once. */
static int
labrun_spawn(struct labrun_wait *w, const char *only, struct fx_err *err)
{
    const struct labspec *spec = w->spec;
    int rc = 0;

    for (size_t i = 0; !rc && i < spec->n_daemons; i++) {
        const struct labspec_daemon *d = &spec->daemons[i];
        uint64_t now = fx_time_now_ms();

        if ((only && strcmp(d->name, only)) || labhv_is(d)) {
            continue;
        }
        rc = labproc_spawn(d, &w->pids[i], err);
        if (i % 32 == 0 || i == spec->n_daemons - 1) {
            labrun_show(w, "daemons started", i + 1, spec->n_daemons);
        }
        if (!rc && i == 0 && w->pids[0]) {
            rc = labproc_wait_ready(d, w->pids[0], now < w->deadline_ms
                                    ? (uint32_t) (w->deadline_ms - now) : 0,
                                    err);
        }
    }
    return rc;
}

/* Starts a qemu lab's libvirtds that do not run ('only': just that one)
 * and waits until each accepts: an agent opens its libvirtd at start.
 * Stores their pids in 'pids' (indexed like spec->daemons). */
static int
labrun_start_hv(struct labspec *spec, const char *only, pid_t *pids,
                struct fx_err *err)
{
    int rc = 0;

    for (size_t i = 0; !rc && i < spec->n_daemons; i++) {
        const struct labspec_daemon *d = &spec->daemons[i];

        if (labhv_is(d) && (!only || !strcmp(d->name, only))
            && !labproc_pid(d)) {
            rc = labhv_prepare(spec, d, err);
            rc = rc ? rc : labproc_spawn(d, &pids[i], err);
        }
    }
    for (size_t i = 0; !rc && i < spec->n_daemons; i++) {
        if (pids[i] && labhv_is(&spec->daemons[i])) {
            rc = labhv_wait_ready(spec, &spec->daemons[i], pids[i],
                                  LABRUN_START_BASE_MS, err);
        }
    }
    return rc;
}

/* Before agents that died are started again: waits (at most a heartbeat
 * timeout and a second) until a running fabricd lists their hosts down.
 * Until then it still holds the dead agent's registration, refuses the
 * new one (a second agent for a host that is up) and lists the host up,
 * which would end the wait for the new agent before it registered. */
static void
labrun_wait_dead_down(struct cli *cli, const struct labspec *spec,
                      const char *only)
{
    uint64_t deadline = fx_time_now_ms() + spec->opts.hb_timeout_ms + 1000;
    int *up = calloc(spec->n_daemons, sizeof *up);
    struct fx_err err;

    if (!up) {
        abort();                /* Out of memory. */
    }
    if (!labproc_pid(&spec->daemons[0])) {
        free(up);
        return;                 /* No fabric, or one starting anew. */
    }
    labrun_target(cli, spec);
    while (fx_time_now_ms() < deadline && labrun_hosts_up(cli, spec, up,
                                                          &err) >= 0) {
        int stale = 0;

        for (size_t i = 1; i < spec->n_daemons; i++) {
            stale |= up[i] && !labproc_pid(&spec->daemons[i])
                     && (!only || !strcmp(only, spec->daemons[i].name));
        }
        if (!stale) {
            break;
        }
        fx_time_sleep_ms(20);
    }
    free(up);
}

int
labrun_start(struct cli *cli, struct labspec *spec, const char *only,
             const char *what, int *startedp, struct fx_err *err)
{
    size_t n = spec->n_daemons;
    struct labrun_wait w = { cli, spec, what, calloc(n, sizeof *w.pids),
                             calloc(n, sizeof *w.up),
                             calloc(n, sizeof *w.ready),
                             labrun_start_budget_ms(only ? 1 : n), 0,
                             cli->json ? LABRUN_PROGRESS_NONE
                             : isatty(STDOUT_FILENO) ? LABRUN_PROGRESS_TTY
                             : LABRUN_PROGRESS_PLAIN, 0, fx_time_now_ms(), 0,
                             "" };
    int rc;

    *startedp = 0;
    if (!w.pids || !w.up || !w.ready) {
        abort();                /* Out of memory. */
    }
    rc = labrun_net_up(spec, err) ? err->code : 0;
    rc = rc ? rc : labrun_start_hv(spec, only, w.pids, err);
    labrun_wait_dead_down(cli, spec, only);
    /* The links are made: from now on, the daemons' time. */
    w.deadline_ms = fx_time_now_ms() + w.budget_ms
                    + (labrun_qemu(spec) ? LABRUN_QEMU_START_MS : 0);
    rc = rc ? rc : labrun_spawn(&w, only, err);
    for (size_t i = 0; i < n; i++) {
        *startedp += w.pids[i] != 0;
    }
    /* Unless it failed, or there is no fabric to register with. */
    if (!rc && labproc_pid(&spec->daemons[0])) {
        labrun_target(cli, spec);
        rc = labrun_wait_agents(&w, err);
    }
    labrun_show_done(&w);
    free(w.pids);
    free(w.up);
    free(w.ready);
    return rc;
}

int
labrun_stop(const struct labspec *spec, struct fx_err *err)
{
    char path[PATH_MAX + 16];
    int count = 0, rc;

    for (size_t i = spec->n_daemons; i-- > 0; ) {
        if (labhv_is(&spec->daemons[i])) {
            continue;
        }
        rc = labproc_stop(&spec->daemons[i], LABRUN_STOP_TIMEOUT_MS, err);
        if (rc < 0) {
            return rc;
        }
        count += rc;
    }
    for (size_t i = 0; i < spec->n_daemons; i++) {
        if (!labhv_is(&spec->daemons[i])) {
            continue;
        }
        rc = labhv_stop(spec, &spec->daemons[i], LABRUN_STOP_TIMEOUT_MS, err);
        if (rc < 0) {
            return rc;
        }
        count += rc;
    }
    snprintf(path, sizeof path, "%s/fabric.addr", spec->dir);
    unlink(path);
    rc = spec->opts.netns ? labnet_down(spec, err) : 0;
    return rc ? rc : count;
}

int
labrun_secret(const char *dir, struct fx_err *err)
{
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/secret", dir);
    if (access(path, F_OK) && auth_key_create(path, err)) {
        return err->code;
    }
    return 0;
}
