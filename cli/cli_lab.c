/* fexctl lab up|down|status|restart|link|clean: a whole fabric, one
 * process per daemon, on loopback or each daemon in a network namespace of
 * its own (labnet.h); state, logs and command lines under one directory
 * (DIR/lab.json, labspec.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "auth.h"
#include "cli.h"
#include "fabric.pb-c.h"
#include "fx_err.h"
#include "fx_netns.h"
#include "fx_proc.h"
#include "fx_parse.h"
#include "fx_time.h"
#include "lablock.h"
#include "labhv.h"
#include "labnet.h"
#include "labproc.h"
#include "labspec.h"
#include "rpc.h"

#define LAB_MAX_HOSTS 64
#define LAB_START_TIMEOUT_MS 20000
/* A qemu lab's agent opens its libvirtd, whose first connection probes
 * QEMU's capabilities for seconds, each host's at the same time. */
#define LAB_QEMU_START_TIMEOUT_MS 90000
#define LAB_STOP_TIMEOUT_MS 5000

/* The options of `lab up`, and which were given (a lab brought up again
 * keeps what it was brought up with). */
struct lab_opts {
    struct labspec_opts v;
    unsigned given;                  /* 1 << LAB_xxx */
    const char *dir;
    struct fx_err err;
};

enum { LAB_HOSTS = 1, LAB_DIR, LAB_VNICS, LAB_HB_TIMEOUT, LAB_LIBVIRT,
       LAB_FLAVOR, LAB_MEMORY, LAB_NO_IOMMU, LAB_NETNS, LAB_HYPERVISOR,
       LAB_GUEST };

static const struct option lab_up_opts[] = {
    { "hosts", required_argument, NULL, LAB_HOSTS },
    { "dir", required_argument, NULL, LAB_DIR },
    { "vnics", required_argument, NULL, LAB_VNICS },
    { "heartbeat-timeout", required_argument, NULL, LAB_HB_TIMEOUT },
    { "libvirt", required_argument, NULL, LAB_LIBVIRT },
    { "flavor", required_argument, NULL, LAB_FLAVOR },
    { "memory", required_argument, NULL, LAB_MEMORY },
    { "no-iommu", required_argument, NULL, LAB_NO_IOMMU },
    { "netns", no_argument, NULL, LAB_NETNS },
    { "hypervisor", required_argument, NULL, LAB_HYPERVISOR },
    { "guest", required_argument, NULL, LAB_GUEST },
    { NULL, 0, NULL, 0 },
};

static int
lab_copy(char *buf, size_t size, const char *val, const char *what,
         struct fx_err *err)
{
    if (strlen(val) >= size) {
        return fx_err_set(err, -EINVAL, "%s: at most %zu characters", what,
                          size - 1);
    }
    snprintf(buf, size, "%s", val);
    return 0;
}

static int
lab_opt(void *arg, int opt, const char *val)
{
    struct lab_opts *o = arg;
    uint64_t v = 0;
    int rc = 0;

    switch (opt) {
    case LAB_HOSTS:
        rc = fx_parse_u64(val, 1, LAB_MAX_HOSTS, &v, "--hosts", &o->err);
        o->v.hosts = (uint32_t) v;
        break;
    case LAB_DIR: o->dir = val; break;
    case LAB_VNICS:
        rc = fx_parse_u64(val, 1, 4096, &v, "--vnics", &o->err);
        o->v.vnics = (uint32_t) v;
        break;
    case LAB_HB_TIMEOUT:
        rc = fx_parse_u64(val, 30, 600000, &v, "--heartbeat-timeout",
                          &o->err);
        o->v.hb_timeout_ms = (uint32_t) v;
        break;
    case LAB_LIBVIRT:
        rc = lab_copy(o->v.libvirt, sizeof o->v.libvirt, val, "--libvirt",
                      &o->err);
        break;
    case LAB_FLAVOR:
        if (strcmp(val, "kvm") && strcmp(val, "vmware")) {
            rc = fx_err_set(&o->err, -EINVAL, "--flavor is kvm or vmware, "
                            "not '%s'", val);
        }
        snprintf(o->v.flavor, sizeof o->v.flavor, "%s", val);
        break;
    case LAB_MEMORY:
        rc = fx_parse_u64(val, 1, 1ull << 32, &o->v.memory_mib, "--memory",
                          &o->err);
        break;
    case LAB_NO_IOMMU:
        rc = lab_copy(o->v.no_iommu, sizeof o->v.no_iommu, val,
                      "--no-iommu", &o->err);
        break;
    case LAB_NETNS: o->v.netns = 1; break;
    case LAB_HYPERVISOR:
        if (strcmp(val, "test") && strcmp(val, "qemu")) {
            rc = fx_err_set(&o->err, -EINVAL, "--hypervisor is test or "
                            "qemu, not '%s'", val);
        }
        snprintf(o->v.hypervisor, sizeof o->v.hypervisor, "%s", val);
        break;
    case LAB_GUEST:
        rc = lab_copy(o->v.guest, sizeof o->v.guest, val, "--guest",
                      &o->err);
        break;
    default: break;
    }
    o->given |= 1u << opt;
    if (rc) {
        fprintf(stderr, "fexctl: %s\n", o->err.msg);
    }
    return rc;
}

/* Whether --no-iommu lists host 'h<i>'; with 'i' 0, checks instead that
 * every name it lists is one of the lab's hosts (0, or -EINVAL). */
static int
lab_no_iommu(const struct labspec_opts *o, unsigned i, struct fx_err *err)
{
    const char *p = o->no_iommu;

    while (p && *p) {
        size_t len = strcspn(p, ",");
        char name[16];
        uint64_t n;

        snprintf(name, sizeof name, "%.*s", (int) (len < 15 ? len : 15), p);
        if (name[0] != 'h' || fx_parse_u64(name + 1, 1, o->hosts, &n, "host",
                                           NULL) || len >= sizeof name) {
            if (!i) {
                return fx_err_set(err, -EINVAL, "--no-iommu: '%.*s' is not "
                                  "one of the hosts h1..h%u", (int) len, p,
                                  o->hosts);
            }
        } else if (n == i) {
            return 1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

/* ---- Building a lab's command lines ---- */

/* The first port the kernel hands out as an ephemeral (source) port. */
static unsigned
lab_ephemeral_low(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    unsigned low = 32768;

    if (f) {
        if (fscanf(f, "%u", &low) != 1) {
            low = 32768;
        }
        fclose(f);
    }
    return low;
}

/* Whether 'port' (0: any) on loopback can be bound now; stores the bound
 * port in '*portp'.  Returns 0 or -errno. */
static int
lab_try_port(unsigned port, unsigned *portp)
{
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t) port) };
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e = 0;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa)
        || getsockname(fd, (struct sockaddr *) &sa, &len)) {
        e = errno;
    }
    if (fd >= 0) {
        close(fd);
    }
    *portp = ntohs(sa.sin_port);
    return -e;
}

/* Whether address 'addr' ("HOST:PORT") is on port 'port'. */
static bool
lab_addr_on(const char *addr, unsigned port)
{
    const char *colon = strrchr(addr, ':');

    return colon && strtoul(colon + 1, NULL, 10) == port;
}

/* Whether 'port' is already one of the lab's: a daemon's in 'spec', or
 * in 'also' (NULL-terminated: addresses chosen for the daemon being
 * added; NULL for none). */
static bool
lab_port_chosen(const struct labspec *spec, const char *const *also, unsigned port)
{
    for (size_t i = 0; i < spec->n_daemons; i++) {
        if (lab_addr_on(spec->daemons[i].listen, port)
            || lab_addr_on(spec->daemons[i].uplink, port)
            || lab_addr_on(spec->daemons[i].http, port)) {
            return true;
        }
    }
    for (size_t i = 0; also && also[i]; i++) {
        if (lab_addr_on(also[i], port)) {
            return true;
        }
    }
    return false;
}

/* A port free on loopback now, for a daemon to take for good.  It is
 * chosen below the ephemeral range, so that no connection made meanwhile
 * (a lab's own agents connect all the time) can take it as its source
 * port; only a process binding that very port could, and the daemon then
 * exits at once, saying so, and `lab up` fails with that line. */
static int
lab_free_addr(const struct labspec *spec, const char *const *also, char *buf,
              size_t size, struct fx_err *err)
{
    unsigned low = lab_ephemeral_low(), port = 0, r;
    int rc = -EADDRINUSE;

    for (int i = 0; rc && low > 10240 && i < 64; i++) {
        if (getrandom(&r, sizeof r, 0) != sizeof r) {
            break;
        }
        port = 10240 + r % (low - 10240);
        rc = lab_port_chosen(spec, also, port) ? -EADDRINUSE
                                               : lab_try_port(port, &port);
    }
    if (rc && (rc = lab_try_port(0, &port))) {
        return fx_err_set(err, rc, "no free port on loopback: %s",
                          strerror(-rc));
    }
    snprintf(buf, size, "127.0.0.1:%u", port);
    return 0;
}

/* Daemon 'index''s address on 'port' (0 fabricd, N host hN): in a netns
 * lab its own address there, the port fixed (the namespace is its own);
 * otherwise loopback, on a port free now. */
static int
lab_addr(const struct labspec *spec, const struct labspec_net *net,
         uint16_t port, const char *const *also, char *buf, size_t size,
         struct fx_err *err)
{
    char host[24];

    if (!spec->opts.netns) {
        return lab_free_addr(spec, also, buf, size, err);
    }
    labnet_addr(net, host, sizeof host);
    snprintf(buf, size, "%s:%u", host, port);
    return 0;
}

/* Adds daemon 'name' (index 0 fabricd, N host hN) running 'argv': in a
 * netns lab, inside its namespace by "ip netns exec NS", which execs the
 * program (its pid and name are the daemon's). */
static struct labspec_daemon *
lab_add(struct labspec *spec, const char *name, const char *prog,
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

static int
lab_add_fabric(struct cli *cli, struct labspec *spec, struct fx_err *err)
{
    char bin[PATH_MAX], addr_file[PATH_MAX], hb_int[16], hb_to[16];
    char state[PATH_MAX], secret[PATH_MAX], listen[64] = "", uplink[64] = "";
    char http[64] = "";
    const char *chosen[] = { listen, uplink, NULL };
    char *argv[] = { bin, "--listen", listen, "--uplink-listen", uplink,
                     "--http", http,
                     "--addr-file", addr_file, "--heartbeat-interval",
                     hb_int, "--heartbeat-timeout", hb_to, "--state", state,
                     "--flavor", spec->opts.flavor, "--secret-file", secret,
                     NULL };
    struct labspec_daemon *d;
    struct labspec_net net;

    labnet_plan(spec->id, "fabricd", 0, &net);
    if (lab_addr(spec, &net, LABNET_FABRIC_PORT, NULL, listen,
                 sizeof listen, err)
        || lab_addr(spec, &net, LABNET_UPLINK_PORT, chosen, uplink,
                    sizeof uplink, err)
        || lab_addr(spec, &net, LABNET_HTTP_PORT, chosen, http, sizeof http,
                    err)) {
        return err->code;
    }
    snprintf(bin, sizeof bin, "%s/fabricd", cli->bindir);
    snprintf(secret, sizeof secret, "%s/secret", spec->dir);
    snprintf(addr_file, sizeof addr_file, "%s/fabric.addr", spec->dir);
    snprintf(state, sizeof state, "%s/fabric-state", spec->dir);
    snprintf(hb_to, sizeof hb_to, "%u", spec->opts.hb_timeout_ms);
    snprintf(hb_int, sizeof hb_int, "%u", spec->opts.hb_timeout_ms / 3);
    d = lab_add(spec, "fabricd", "fabricd", "fabricd", &net, argv, err);
    if (!d) {
        return err->code;
    }
    snprintf(d->listen, sizeof d->listen, "%s", listen);
    snprintf(d->uplink, sizeof d->uplink, "%s", uplink);
    snprintf(d->http, sizeof d->http, "%s", http);
    return 0;
}

/* Whether 'spec' is a qemu lab: a libvirtd per host (labhv.h). */
static bool
lab_qemu(const struct labspec *spec)
{
    return !strcmp(spec->opts.hypervisor, "qemu");
}

static int
lab_add_agent(struct cli *cli, struct labspec *spec, unsigned i,
              struct fx_err *err)
{
    char bin[PATH_MAX], host[16], vnics[16], file[32], state[PATH_MAX];
    char mem[24], secret[PATH_MAX], listen[64], fabric[64];
    char uri[PATH_MAX + 64], peer[PATH_MAX + 64];
    char *argv[32] = { bin, "--host", host, "--fabric", fabric,
                       "--listen", listen,
                       "--libvirt", uri, "--vnics", vnics,
                       "--state", state, "--flavor", spec->opts.flavor,
                       "--secret-file", secret };
    struct labspec_daemon *d;
    struct labspec_net net;
    size_t n = 0;

    snprintf(host, sizeof host, "h%u", i);
    if (lab_qemu(spec)) {
        labhv_uri(spec, host, uri, sizeof uri);
    } else {
        snprintf(uri, sizeof uri, "%s", spec->opts.libvirt);
    }
    labnet_plan(spec->id, host, i, &net);
    if (lab_addr(spec, &net, LABNET_AGENT_PORT, NULL, listen, sizeof listen,
                 err)) {
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
    if (lab_no_iommu(&spec->opts, i, NULL) == 1) {
        argv[n++] = "--no-iommu";
    }
    if (lab_qemu(spec)) {
        argv[n++] = "--guest";
        argv[n++] = spec->opts.guest;
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
    d = lab_add(spec, host, "agentd", file, &net, argv, err);
    if (!d) {
        return err->code;
    }
    snprintf(d->listen, sizeof d->listen, "%s", listen);
    return 0;
}

/* A new lab's spec: every port chosen now, once. */
static int
lab_build(struct cli *cli, const struct lab_opts *o, struct labspec *spec,
          struct fx_err *err)
{
    labspec_init(spec, o->dir);
    spec->opts = o->v;
    if (lab_add_fabric(cli, spec, err)) {
        return err->code;
    }
    for (unsigned i = 1; i <= o->v.hosts; i++) {
        if (lab_add_agent(cli, spec, i, err)) {
            return err->code;
        }
    }
    /* After the agents, so that daemons 1..N stay the hosts. */
    for (unsigned i = 1; lab_qemu(spec) && i <= o->v.hosts; i++) {
        char host[16];

        snprintf(host, sizeof host, "h%u", i);
        if (!labhv_add(spec, host, i, err)) {
            return err->code;
        }
    }
    return 0;
}

/* A lab brought up again keeps its options: one given now must be the
 * one it was brought up with. */
static int
lab_same_opts(const struct lab_opts *o, const struct labspec *spec,
              struct fx_err *err)
{
    const struct labspec_opts *a = &o->v, *b = &spec->opts;
    static const char *const names[] = {
        [LAB_HOSTS] = "--hosts", [LAB_VNICS] = "--vnics",
        [LAB_HB_TIMEOUT] = "--heartbeat-timeout", [LAB_LIBVIRT] = "--libvirt",
        [LAB_FLAVOR] = "--flavor", [LAB_MEMORY] = "--memory",
        [LAB_NO_IOMMU] = "--no-iommu", [LAB_NETNS] = "--netns",
        [LAB_HYPERVISOR] = "--hypervisor",
    };
    int differs[] = {
        [LAB_HOSTS] = a->hosts != b->hosts,
        [LAB_VNICS] = a->vnics != b->vnics,
        [LAB_HB_TIMEOUT] = a->hb_timeout_ms != b->hb_timeout_ms,
        [LAB_LIBVIRT] = strcmp(a->libvirt, b->libvirt) != 0,
        [LAB_FLAVOR] = strcmp(a->flavor, b->flavor) != 0,
        [LAB_MEMORY] = a->memory_mib != b->memory_mib,
        [LAB_NO_IOMMU] = strcmp(a->no_iommu, b->no_iommu) != 0,
        [LAB_NETNS] = a->netns != b->netns,
        [LAB_HYPERVISOR] = strcmp(a->hypervisor, b->hypervisor) != 0,
    };

    for (int opt = LAB_HOSTS; opt <= LAB_HYPERVISOR; opt++) {
        if (opt != LAB_DIR && (o->given & (1u << opt)) && differs[opt]) {
            return fx_err_set(err, -EEXIST, "a lab already runs in '%s' "
                              "(or was brought up there) with another %s: "
                              "its daemons' command lines are in %s/%s; "
                              "'fexctl lab down --dir %s' and a new DIR "
                              "make another", o->dir, names[opt], o->dir,
                              LABSPEC_FILE, o->dir);
        }
    }
    return 0;
}

/* ---- Starting and stopping ---- */

/* Points 'cli' at the lab's fabricd with the lab's secret. */
static void
lab_target(struct cli *cli, const struct labspec *spec)
{
    snprintf(cli->fabric_addr, sizeof cli->fabric_addr, "%s",
             spec->daemons[0].listen);
    snprintf(cli->secret_path, sizeof cli->secret_path, "%s/secret",
             spec->dir);
    cli->secret_file = cli->secret_path;
    snprintf(cli->netns, sizeof cli->netns, "%s", spec->daemons[0].net.netns);
}

/* A netns lab's lock (lablock.h), held while a command makes or changes
 * the lab, so that `lab clean` leaves it be; then, if 'reload', the lab
 * as it is now that we hold it ('spec' read again: a `lab link` may have
 * changed it meanwhile).  '*lockp' is -1 for a loopback lab, which has no
 * lock: it has nothing to clean. */
static int
lab_lock(struct labspec *spec, int reload, int *lockp, struct fx_err *err)
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

/* The lab's hosts that the fabric lists as up, into 'up' (indexed like
 * spec->daemons; NULL: only counted).  Returns the count or an errno. */
static int
lab_hosts_up(struct cli *cli, const struct labspec *spec, int *up,
             struct fx_err *err)
{
    Fexsim__V1__ListHostsRequest req = FEXSIM__V1__LIST_HOSTS_REQUEST__INIT;
    Fexsim__V1__ListHostsReply *rep;
    int n = 0;

    if (cli_call(cli, "Fabric.ListHosts", &req.base,
                 &fexsim__v1__list_hosts_reply__descriptor,
                 (ProtobufCMessage **) &rep, err)) {
        return err->code;
    }
    for (size_t i = 1; i <= labspec_hosts(spec); i++) {
        int is_up = 0;

        for (size_t h = 0; h < rep->n_hosts; h++) {
            is_up |= !strcmp(rep->hosts[h]->name, spec->daemons[i].name)
                     && rep->hosts[h]->state
                        == FEXSIM__V1__HOST_STATE__HOST_STATE_UP;
        }
        if (up) {
            up[i] = is_up;
        }
        n += is_up;
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return n;
}

/* How long a daemon of 'spec' may take to serve. */
static uint32_t
lab_start_timeout(const struct labspec *spec)
{
    return lab_qemu(spec) ? LAB_QEMU_START_TIMEOUT_MS : LAB_START_TIMEOUT_MS;
}

static int
lab_wait_hosts(struct cli *cli, const struct labspec *spec,
               struct fx_err *err)
{
    uint64_t deadline = fx_time_now_ms() + lab_start_timeout(spec);
    int want = (int) labspec_hosts(spec), up;

    while ((up = lab_hosts_up(cli, spec, NULL, err)) != want) {
        if (up < 0) {
            return up;
        }
        if (fx_time_now_ms() > deadline) {
            return fx_err_set(err, -ETIMEDOUT, "only %d of %d hosts "
                              "registered in time; see the logs in %s", up,
                              want, spec->dir);
        }
        fx_time_sleep_ms(20);
    }
    return 0;
}

/* A netns lab's namespaces and links, made where missing (a lab
 * brought down, or cleaned after a crash) before its daemons start in
 * them. */
static int
lab_net_up(struct labspec *spec, struct fx_err *err)
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

/* Starts a qemu lab's libvirtds that do not run ('only': just that one)
 * and waits until each accepts: an agent opens its libvirtd at start.
 * Stores their pids in 'pids' (indexed like spec->daemons). */
static int
lab_start_hv(struct labspec *spec, const char *only, pid_t *pids,
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
        if (pids[i]) {
            rc = labhv_wait_ready(spec, &spec->daemons[i], pids[i],
                                  LAB_START_TIMEOUT_MS, err);
        }
    }
    return rc;
}

/* Starts the daemons of 'spec' that do not run ('only': just that one),
 * a qemu lab's libvirtds first, then fabricd, and waits until each
 * serves and every host is up.  Stores how many it started in
 * '*startedp'.  A netns lab's lock must be held. */
static int
lab_start(struct cli *cli, struct labspec *spec, const char *only,
          int *startedp, struct fx_err *err)
{
    pid_t *pids;
    int rc = 0;

    *startedp = 0;
    if (lab_net_up(spec, err)) {
        return err->code;
    }
    pids = calloc(spec->n_daemons, sizeof *pids);
    if (!pids) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    rc = lab_start_hv(spec, only, pids, err);
    for (size_t i = 0; !rc && i < spec->n_daemons; i++) {
        const struct labspec_daemon *d = &spec->daemons[i];

        if ((only && strcmp(d->name, only)) || labhv_is(d)) {
            continue;
        }
        rc = labproc_spawn(d, &pids[i], err);
        /* Agents find fabricd at once if it serves before they start. */
        if (!rc && i == 0 && pids[0]) {
            rc = labproc_wait_ready(d, pids[0], LAB_START_TIMEOUT_MS, err);
        }
    }
    for (size_t i = 1; !rc && i < spec->n_daemons; i++) {
        if (pids[i] && !labhv_is(&spec->daemons[i])) {
            rc = labproc_wait_ready(&spec->daemons[i], pids[i],
                                    lab_start_timeout(spec), err);
        }
    }
    for (size_t i = 0; i < spec->n_daemons; i++) {
        *startedp += pids[i] != 0;
    }
    free(pids);
    if (rc || !labproc_pid(&spec->daemons[0])) {
        return rc;              /* Failed, or no fabric to register with. */
    }
    lab_target(cli, spec);
    return lab_wait_hosts(cli, spec, err);
}

/* Stops every daemon of the lab: agents first, then fabricd, then a
 * qemu lab's libvirtds with their QEMUs (no agent drives them any more);
 * then a netns lab's namespaces go, with their links and addresses.
 * Returns how many processes were stopped, or a negative errno.  A netns
 * lab's lock must be held. */
static int
lab_stop(const struct labspec *spec, struct fx_err *err)
{
    char path[PATH_MAX + 16];
    int count = 0, rc;

    for (size_t i = spec->n_daemons; i-- > 0; ) {
        if (labhv_is(&spec->daemons[i])) {
            continue;
        }
        rc = labproc_stop(&spec->daemons[i], LAB_STOP_TIMEOUT_MS, err);
        if (rc < 0) {
            return rc;
        }
        count += rc;
    }
    for (size_t i = 0; i < spec->n_daemons; i++) {
        if (!labhv_is(&spec->daemons[i])) {
            continue;
        }
        rc = labhv_stop(spec, &spec->daemons[i], LAB_STOP_TIMEOUT_MS, err);
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

/* The lab's secret, DIR/secret (mode 0600), made at its first start and
 * kept: every daemon of the lab and fexctl --lab prove it. */
static int
lab_secret(const char *dir, struct fx_err *err)
{
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/secret", dir);
    if (access(path, F_OK) && auth_key_create(path, err)) {
        return err->code;
    }
    return 0;
}

/* ---- lab up ---- */

static void
lab_print_up(struct cli *cli, const struct labspec *spec, int started)
{
    struct json_object *obj;
    unsigned hosts = (unsigned) labspec_hosts(spec);

    if (!cli->json) {
        printf("lab up: fabric at %s%s%s, %u hosts (%s..%s)%s, state and "
               "logs in %s", spec->daemons[0].listen,
               spec->opts.netns ? " in network namespace " : "",
               spec->daemons[0].net.netns, hosts,
               spec->daemons[1].name, spec->daemons[hosts].name,
               lab_qemu(spec) ? " each with its own libvirtd and QEMU" : "",
               spec->dir);
        if (started == (int) spec->n_daemons) {
            printf("\n");
        } else if (!started) {
            printf("; every daemon was running\n");
        } else {
            printf("; %d daemon%s down, started again\n", started,
                   started == 1 ? " was" : "s were");
        }
        if (spec->daemons[0].http[0]) {
            printf("lab up: metrics at http://%s/metrics\n",
                   spec->daemons[0].http);
        }
        return;
    }
    obj = json_object_new_object();
    json_object_object_add(obj, "fabric", json_object_new_string(
                                               spec->daemons[0].listen));
    json_object_object_add(obj, "hosts", json_object_new_int64(hosts));
    json_object_object_add(obj, "dir", json_object_new_string(spec->dir));
    json_object_object_add(obj, "started", json_object_new_int(started));
    if (spec->daemons[0].http[0]) {
        json_object_object_add(obj, "http", json_object_new_string(
                                                spec->daemons[0].http));
    }
    if (spec->opts.netns) {
        json_object_object_add(obj, "netns", json_object_new_string(
                                                 spec->daemons[0].net.netns));
    }
    json_object_object_add(obj, "hypervisor",
                           json_object_new_string(spec->opts.hypervisor));
    cli_print_json(obj);
}

/* Brings the lab in o->dir up: a new one from 'o', or the one recorded
 * there, restarting what does not run.  '*createdp' says whether its
 * lab.json is new; '*lockp' holds a netns lab's lock (or is -1), which
 * the caller releases. */
static int
lab_up(struct cli *cli, const struct lab_opts *o, struct labspec *spec,
       int *createdp, int *startedp, int *lockp, struct fx_err *err)
{
    int rc;

    *createdp = 0;
    *lockp = -1;
    memset(spec, 0, sizeof *spec);
    if (mkdir(o->dir, 0755) && errno != EEXIST) {
        return fx_err_set(err, -errno, "cannot create lab dir '%s': %s",
                          o->dir, strerror(errno));
    }
    rc = labspec_load(o->dir, spec, err);
    if (rc == -ENOENT) {
        labspec_free(spec);
        if (lab_build(cli, o, spec, err) || lab_lock(spec, 0, lockp, err)
            || labspec_save(spec, err)) {
            return err->code;
        }
        *createdp = 1;
    } else if (rc || lab_same_opts(o, spec, err)
               || lab_lock(spec, 1, lockp, err)) {
        return err->code;
    }
    if (lab_secret(o->dir, err)) {
        return err->code;
    }
    return lab_start(cli, spec, NULL, startedp, err);
}

/* The lab's paths go into command lines that must work from any
 * directory: 'dir' made absolute into 'buf'. */
static int
lab_abs_dir(const char *dir, char *buf, size_t size, struct fx_err *err)
{
    char cwd[PATH_MAX];

    if (dir[0] == '/') {
        snprintf(buf, size, "%s", dir);
        return 0;
    }
    if (!getcwd(cwd, sizeof cwd)) {
        return fx_err_set(err, -errno, "getcwd: %s", strerror(errno));
    }
    if ((size_t) snprintf(buf, size, "%s/%s", cwd, dir) >= size) {
        return fx_err_set(err, -ENAMETOOLONG, "lab dir '%s/%s' is too long",
                          cwd, dir);
    }
    return 0;
}

/* A qemu lab's guest dir, absolute, into o->v.guest: --guest, or the
 * one `make guest` made beside the programs (BIN/guest, or build/guest
 * for a build flavour in build/NAME). */
static int
lab_guest(struct cli *cli, struct lab_opts *o, struct fx_err *err)
{
    char cand[3][PATH_MAX], abs[PATH_MAX], probe[PATH_MAX + 16];
    size_t n = 0;

    if (o->v.guest[0]) {
        snprintf(cand[n++], sizeof cand[0], "%s", o->v.guest);
    } else {
        snprintf(cand[n++], sizeof cand[0], "%s/guest", cli->bindir);
        snprintf(cand[n++], sizeof cand[0], "%s/../guest", cli->bindir);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(probe, sizeof probe, "%s/initrd.img", cand[i]);
        if (!access(probe, R_OK) && realpath(cand[i], abs)
            && strlen(abs) < sizeof o->v.guest) {
            snprintf(o->v.guest, sizeof o->v.guest, "%s", abs);
            return 0;
        }
    }
    return fx_err_set(err, -ENOENT, "no guest in '%s': a qemu lab boots "
                      "the guest 'make guest' builds (or give --guest DIR)",
                      cand[0]);
}

static int
cmd_lab_up(struct cli *cli, const struct cli_cmd *cmd, int argc,
           char **argv)
{
    struct lab_opts o = { .v = { .vnics = 128, .hb_timeout_ms = 3000,
                                 .libvirt = "test:///default",
                                 .flavor = "kvm", .hypervisor = "test" } };
    struct labspec spec;
    struct fx_err err;
    char dir[PATH_MAX];
    int idx, rc, created, started, lock;

    rc = cli_parse(cli, cmd, argc, argv, lab_up_opts, lab_opt, &o, &idx);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.dir || idx < argc) {
        return cli_usage_error("lab up", idx < argc ? "unexpected argument"
                               : "--dir DIR is required");
    }
    if (lab_abs_dir(o.dir, dir, sizeof dir, &err)) {
        return cli_fail(&err);
    }
    o.dir = dir;
    if (lab_no_iommu(&o.v, 0, &err)) {
        return cli_usage_error("lab up", "%s", err.msg);
    }
    if (!(o.given & (1u << LAB_HOSTS))) {
        char path[PATH_MAX + 16];

        snprintf(path, sizeof path, "%s/%s", o.dir, LABSPEC_FILE);
        if (access(path, F_OK)) {
            return cli_usage_error("lab up", "no lab in '%s' yet: --hosts "
                                   "N makes one", o.dir);
        }
    }
    if (!strcmp(o.v.hypervisor, "qemu")) {
        if (o.given & (1u << LAB_LIBVIRT)) {
            return cli_usage_error("lab up", "--libvirt names one URI for "
                                   "every agent; with --hypervisor qemu "
                                   "each host has its own libvirtd");
        }
        if (o.v.netns) {
            return cli_usage_error("lab up", "--netns and --hypervisor qemu"
                                   " do not go together yet");
        }
        snprintf(o.v.libvirt, sizeof o.v.libvirt, "qemu:///system");
        if (labhv_check(&err) || lab_guest(cli, &o, &err)) {
            return cli_fail(&err);
        }
    }
    if (o.v.netns && geteuid() != 0) {
        fx_err_set(&err, -EPERM, "lab up --netns makes network namespaces: "
                   "it takes root");
        return cli_fail(&err);
    }
    rc = lab_up(cli, &o, &spec, &created, &started, &lock, &err);
    if (rc && created) {
        /* A lab that never came up leaves no process, no namespace and no
         * lab file. */
        char path[PATH_MAX + 16];

        lab_stop(&spec, NULL);
        snprintf(path, sizeof path, "%s/%s", o.dir, LABSPEC_FILE);
        unlink(path);
    }
    if (!rc) {
        lab_print_up(cli, &spec, started);
    }
    lablock_release(spec.id, lock, rc && created);
    labspec_free(&spec);
    return rc ? cli_fail(&err) : CLI_OK;
}

/* ---- lab down, status, restart ---- */

static const struct option lab_dir_opts[] = {
    { "dir", required_argument, NULL, LAB_DIR },
    { NULL, 0, NULL, 0 },
};

/* Parses "--dir DIR [NAME]" of 'cmd' and loads the lab.  Returns -1 to go
 * on (the caller frees 'spec'), else the exit code. */
static int
lab_open(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
         int takes_name, const char **namep, struct labspec *spec)
{
    struct lab_opts o = { 0 };
    char full[32], dir[PATH_MAX];
    struct fx_err err;
    int idx, rc;

    snprintf(full, sizeof full, "lab %s", cmd->name);
    memset(spec, 0, sizeof *spec);
    rc = cli_parse(cli, cmd, argc, argv, lab_dir_opts, lab_opt, &o, &idx);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.dir) {
        return cli_usage_error(full, "--dir DIR is required");
    }
    if (lab_abs_dir(o.dir, dir, sizeof dir, &err)) {
        return cli_fail(&err);
    }
    o.dir = dir;
    if (idx < argc - (takes_name ? 1 : 0)) {
        return cli_usage_error(full, "unexpected argument '%s'",
                               argv[argc - 1]);
    }
    *namep = takes_name && idx < argc ? argv[idx] : NULL;
    if (labspec_load(o.dir, spec, &err)) {
        labspec_free(spec);
        return cli_fail(&err);
    }
    if (*namep && !labspec_find(spec, *namep)) {
        fx_err_set(&err, -ENOENT, "the lab in '%s' has no daemon '%s' "
                   "(fabricd, %s..%s)", o.dir, *namep, spec->daemons[1].name,
                   spec->daemons[labspec_hosts(spec)].name);
        labspec_free(spec);
        return cli_fail(&err);
    }
    return -1;
}

static int
cmd_lab_down(struct cli *cli, const struct cli_cmd *cmd, int argc,
             char **argv)
{
    struct labspec spec;
    const char *name;
    struct fx_err err;
    int rc = lab_open(cli, cmd, argc, argv, 0, &name, &spec), lock;

    if (rc >= 0) {
        return rc;
    }
    rc = lab_lock(&spec, 1, &lock, &err);
    if (!rc) {
        rc = lab_stop(&spec, &err);
        /* The lab is gone: its lock file too, unless something stays. */
        lablock_release(spec.id, lock, rc >= 0);
    }
    if (rc >= 0 && cli->json) {
        struct json_object *obj = json_object_new_object();

        json_object_object_add(obj, "stopped", json_object_new_int(rc));
        cli_print_json(obj);
    } else if (rc >= 0 && spec.opts.netns) {
        printf("lab down: stopped %d processes in %s and removed the lab's "
               "network namespaces %s%s-*\n", rc, spec.dir, LABNET_NS_PREFIX,
               spec.id);
    } else if (rc >= 0) {
        printf("lab down: stopped %d processes in %s\n", rc, spec.dir);
    }
    labspec_free(&spec);
    return rc < 0 ? cli_fail(&err) : CLI_OK;
}

/* "3m12s" since 'since', or "-". */
static void
lab_age(int64_t since, char *buf, size_t size)
{
    int64_t s = since ? (int64_t) time(NULL) - since : -1;

    if (s < 0) {
        snprintf(buf, size, "-");
    } else if (s < 3600) {
        snprintf(buf, size, "%lldm%02llds", (long long) s / 60,
                 (long long) s % 60);
    } else {
        snprintf(buf, size, "%lldh%02lldm", (long long) s / 3600,
                 (long long) s / 60 % 60);
    }
}

/* An agent's link in a netns lab, as `lab link` set it. */
static struct json_object *
lab_link_json(const struct labspec_daemon *d)
{
    struct json_object *link = json_object_new_object();

    json_object_object_add(link, "up",
                           json_object_new_boolean(!d->net.link_down));
    json_object_object_add(link, "delay_ms",
                           json_object_new_int64(d->net.delay_ms));
    json_object_object_add(link, "loss_pct",
                           json_object_new_double(d->net.loss_pct));
    return link;
}

static struct json_object *
lab_status_json(const struct labspec_daemon *d, pid_t pid, int64_t since,
                const char *host)
{
    struct json_object *o = json_object_new_object();
    struct json_object *argv = json_object_new_array();
    char iso[32] = "";

    if (since) {
        time_t t = (time_t) since;
        struct tm tm;

        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    }
    json_object_object_add(o, "name", json_object_new_string(d->name));
    json_object_object_add(o, "program", json_object_new_string(d->prog));
    json_object_object_add(o, "pid", json_object_new_int(pid));
    json_object_object_add(o, "alive", json_object_new_boolean(pid != 0));
    json_object_object_add(o, "listen", json_object_new_string(d->listen));
    if (d->uplink[0]) {
        json_object_object_add(o, "uplink",
                               json_object_new_string(d->uplink));
    }
    if (d->http[0]) {
        json_object_object_add(o, "http", json_object_new_string(d->http));
    }
    json_object_object_add(o, "up_since", json_object_new_string(iso));
    if (host) {
        json_object_object_add(o, "host_state",
                               json_object_new_string(host));
    }
    json_object_object_add(o, "log_file",
                           json_object_new_string(d->log_file));
    if (d->net.netns[0]) {
        json_object_object_add(o, "netns",
                               json_object_new_string(d->net.netns));
    }
    if (d->net.peer[0]) {
        json_object_object_add(o, "link", lab_link_json(d));
    }
    for (size_t i = 0; d->argv[i]; i++) {
        json_object_array_add(argv, json_object_new_string(d->argv[i]));
    }
    json_object_object_add(o, "argv", argv);
    return o;
}

/* Member 'key' of 'doc', an array. */
static struct json_object *
lab_arr(struct json_object *doc, const char *key)
{
    return json_object_object_get(doc, key);
}

/* An agent's link in a netns lab as `lab link` set it: "up", "down",
 * "up, delay 20 ms, loss 5%"; "" for fabricd or a loopback lab. */
static void
lab_link_text(const struct labspec_daemon *d, char *buf, size_t size)
{
    size_t n;

    buf[0] = '\0';
    if (!d->net.peer[0]) {
        return;
    }
    n = (size_t) snprintf(buf, size, "%s", d->net.link_down ? "down" : "up");
    if (d->net.delay_ms && n < size) {
        n += (size_t) snprintf(buf + n, size - n, ", delay %u ms",
                               d->net.delay_ms);
    }
    if (d->net.loss_pct > 0 && n < size) {
        snprintf(buf + n, size - n, ", loss %g%%", d->net.loss_pct);
    }
}

static int
cmd_lab_status(struct cli *cli, const struct cli_cmd *cmd, int argc,
               char **argv)
{
    struct labspec spec;
    struct json_object *arr = NULL;
    const char *name;
    int *up, rc = lab_open(cli, cmd, argc, argv, 0, &name, &spec), fabric;

    if (rc >= 0) {
        return rc;
    }
    up = calloc(spec.n_daemons, sizeof *up);
    if (!up) {
        abort();                /* Out of memory. */
    }
    /* What the fabric says of each host, when it answers. */
    fabric = labproc_pid(&spec.daemons[0]) != 0;
    if (fabric) {
        struct fx_err err;

        lab_target(cli, &spec);
        fabric = lab_hosts_up(cli, &spec, up, &err) >= 0;
    }
    if (cli->json) {
        arr = json_object_new_array();
    } else {
        printf("%-12s %-8s %-6s %-21s %-21s %-9s %-7s%s\n", "DAEMON", "PID",
               "STATE", "LISTEN", "UPLINK", "UP FOR", "HOST",
               spec.opts.netns ? " LINK" : "");
    }
    for (size_t i = 0; i < spec.n_daemons; i++) {
        const struct labspec_daemon *d = &spec.daemons[i];
        pid_t pid = labproc_pid(d);
        int64_t since = 0;
        const char *host = strcmp(d->prog, "agentd") ? NULL
                           : !fabric ? "unknown" : up[i] ? "up" : "down";
        char age[16], pidtxt[16], link[64];

        if (pid && fx_proc_started(pid, &since)) {
            since = 0;
        }
        if (arr) {
            json_object_array_add(arr, lab_status_json(d, pid, since, host));
            continue;
        }
        lab_age(pid ? since : 0, age, sizeof age);
        snprintf(pidtxt, sizeof pidtxt, pid ? "%d" : "-", (int) pid);
        lab_link_text(d, link, sizeof link);
        printf("%-12s %-8s %-6s %-21s %-21s %-9s %-7s%s%s\n", d->name,
               pidtxt, pid ? "alive" : "down", d->listen[0] ? d->listen : "-",
               d->uplink[0] ? d->uplink : "-", age, host ? host : "-",
               link[0] ? " " : "", link);
    }
    if (arr) {
        struct json_object *obj = json_object_new_object();

        json_object_object_add(obj, "dir", json_object_new_string(spec.dir));
        json_object_object_add(obj, "id", json_object_new_string(spec.id));
        json_object_object_add(obj, "daemons", arr);
        cli_print_json(obj);
    }
    free(up);
    labspec_free(&spec);
    return CLI_OK;
}

static int
cmd_lab_restart(struct cli *cli, const struct cli_cmd *cmd, int argc,
                char **argv)
{
    struct labspec spec;
    const char *name;
    struct fx_err err;
    int rc = lab_open(cli, cmd, argc, argv, 1, &name, &spec), started;
    int lock = -1;

    if (rc >= 0) {
        return rc;
    }
    rc = lab_lock(&spec, 1, &lock, &err);
    /* The one named goes down first, running or not. */
    if (!rc && name) {
        rc = labproc_stop(labspec_find(&spec, name), LAB_STOP_TIMEOUT_MS,
                          &err);
    }
    if (rc >= 0) {
        rc = lab_start(cli, &spec, name, &started, &err);
    }
    lablock_release(spec.id, lock, false);
    if (!rc && cli->json) {
        struct json_object *obj = json_object_new_object();

        json_object_object_add(obj, "started", json_object_new_int(started));
        cli_print_json(obj);
    } else if (!rc) {
        printf("lab restart: started %d daemon%s in %s\n", started,
               started == 1 ? "" : "s", spec.dir);
    }
    labspec_free(&spec);
    return rc < 0 ? cli_fail(&err) : CLI_OK;
}

/* ---- lab link, lab clean ---- */

/* The options of `lab link` and `lab clean`. */
struct lab_link_opts {
    const char *dir;
    int shape;                       /* --delay or --loss given. */
    uint32_t delay_ms;
    double loss_pct;
    struct fx_err err;
};

enum { LAB_LINK_DIR = 1, LAB_LINK_DELAY, LAB_LINK_LOSS };

static const struct option lab_link_opts[] = {
    { "dir", required_argument, NULL, LAB_LINK_DIR },
    { "delay", required_argument, NULL, LAB_LINK_DELAY },
    { "loss", required_argument, NULL, LAB_LINK_LOSS },
    { NULL, 0, NULL, 0 },
};

/* A percentage as users write it: "5", "0.5", 0 to 100. */
static int
lab_parse_pct(const char *val, double *vp, struct fx_err *err)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(val, &end);
    if (errno || end == val || *end || !(v >= 0 && v <= 100)) {
        return fx_err_set(err, -EINVAL, "--loss is a percentage from 0 to "
                          "100, not '%s'", val);
    }
    *vp = v;
    return 0;
}

static int
lab_link_opt(void *arg, int opt, const char *val)
{
    struct lab_link_opts *o = arg;
    uint64_t v = 0;
    int rc = 0;

    switch (opt) {
    case LAB_LINK_DIR: o->dir = val; break;
    case LAB_LINK_DELAY:
        rc = fx_parse_u64(val, 0, 60000, &v, "--delay", &o->err);
        o->delay_ms = (uint32_t) v;
        o->shape = 1;
        break;
    case LAB_LINK_LOSS:
        rc = lab_parse_pct(val, &o->loss_pct, &o->err);
        o->shape = 1;
        break;
    default: break;
    }
    if (rc) {
        fprintf(stderr, "fexctl: %s\n", o->err.msg);
    }
    return rc;
}

/* Parses 'cmd''s options wherever they stand among its words, and takes
 * up to 'max' words into 'words'.  Returns -1 to go on, or the exit
 * code. */
static int
lab_parse_words(struct cli *cli, const struct cli_cmd *cmd, int argc,
                char **argv, struct lab_link_opts *o, const char **words,
                int max, int *nwordsp)
{
    int base = 0, idx, rc;
    char full[32];

    snprintf(full, sizeof full, "lab %s", cmd->name);
    *nwordsp = 0;
    while (base < argc) {
        /* The last word taken stands in for the program name getopt
         * skips. */
        rc = cli_parse(cli, cmd, argc - base, argv + base, lab_link_opts,
                       lab_link_opt, o, &idx);
        if (rc) {
            return rc == 1 ? CLI_OK : rc;
        }
        base += idx;
        if (base >= argc) {
            break;
        }
        if (*nwordsp == max) {
            return cli_usage_error(full, "unexpected argument '%s'",
                                   argv[base]);
        }
        words[(*nwordsp)++] = argv[base];
    }
    return -1;
}

/* Loads the lab in 'dir' (made absolute) into 'spec' (which the caller
 * frees). */
static int
lab_load(const char *dir, struct labspec *spec, struct fx_err *err)
{
    char abs[PATH_MAX];

    memset(spec, 0, sizeof *spec);
    if (lab_abs_dir(dir, abs, sizeof abs, err)) {
        return err->code;
    }
    return labspec_load(abs, spec, err);
}

/* Applies what `lab link` was given to the agent 'd' of 'spec' and
 * records it in lab.json; the lab's lock is held. */
static int
lab_link_apply(struct labspec *spec, const char *host, const char *state,
               const struct lab_link_opts *o, struct fx_err *err)
{
    struct labspec_daemon *d = labspec_find(spec, host);

    if (!d || !d->net.peer[0]) {
        return fx_err_set(err, -ENOENT, "the lab in '%s' has no host '%s' "
                          "(%s..%s)", spec->dir, host, spec->daemons[1].name,
                          spec->daemons[labspec_hosts(spec)].name);
    }
    if (!fx_netns_exists(d->net.netns)) {
        return fx_err_set(err, -ENOENT, "host '%s' has no network namespace "
                          "'%s': is the lab up?", host, d->net.netns);
    }
    if ((state && labnet_link_set(spec, d, !strcmp(state, "up"), err))
        || (o->shape && labnet_link_shape(spec, d, o->delay_ms, o->loss_pct,
                                          err))) {
        labspec_save(spec, NULL);   /* What did change, recorded. */
        return err->code;
    }
    return labspec_save(spec, err);
}

static int
cmd_lab_link(struct cli *cli, const struct cli_cmd *cmd, int argc,
             char **argv)
{
    struct lab_link_opts o = { 0 };
    const char *words[2] = { NULL, NULL };
    struct labspec spec;
    struct fx_err err;
    int n, lock = -1, rc;

    rc = lab_parse_words(cli, cmd, argc, argv, &o, words, 2, &n);
    if (rc >= 0) {
        return rc;
    }
    if (!o.dir || n == 0 || (n == 1 && !o.shape)
        || (n == 2 && strcmp(words[1], "up") && strcmp(words[1], "down"))) {
        return cli_usage_error("lab link", !o.dir ? "--dir DIR is required"
                               : n == 0 ? "missing HOST"
                               : n == 1 ? "say down, up, or --delay and "
                                          "--loss"
                               : "the link goes down or up, not '%s'",
                               words[1]);
    }
    rc = lab_load(o.dir, &spec, &err);
    if (!rc && !spec.opts.netns) {
        rc = fx_err_set(&err, -EINVAL, "the lab in '%s' runs on loopback: "
                        "only a netns lab (lab up --netns) has links",
                        spec.dir);
    }
    rc = rc ? rc : lab_lock(&spec, 1, &lock, &err);
    rc = rc ? rc : lab_link_apply(&spec, words[0], n == 2 ? words[1] : NULL,
                                  &o, &err);
    lablock_release(spec.id, lock, false);
    if (!rc && cli->json) {
        struct json_object *obj = json_object_new_object();

        json_object_object_add(obj, "host", json_object_new_string(words[0]));
        json_object_object_add(obj, "link", lab_link_json(
                                   labspec_find(&spec, words[0])));
        cli_print_json(obj);
    } else if (!rc) {
        char link[64];

        lab_link_text(labspec_find(&spec, words[0]), link, sizeof link);
        printf("lab link: %s: %s\n", words[0], link);
    }
    labspec_free(&spec);
    return rc ? cli_fail(&err) : CLI_OK;
}

/* What `lab clean` did, to print. */
struct lab_clean {
    struct json_object *doc;         /* --json: the document, else NULL. */
    unsigned labs, namespaces, kept;
};

/* For labnet_clean(): one lab id's outcome, as a line or into the JSON
 * document. */
static void
lab_clean_report(void *arg, const char *id, size_t n_ns, const char *kept)
{
    struct lab_clean *c = arg;
    struct json_object *o;

    c->kept += kept != NULL;
    c->labs += kept == NULL;
    c->namespaces += (unsigned) n_ns;
    if (!c->doc) {
        if (kept) {
            printf("lab %s: left alone: %s\n", id, kept);
        } else {
            printf("lab %s: removed %zu network namespace%s\n", id, n_ns,
                   n_ns == 1 ? "" : "s");
        }
        return;
    }
    o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    if (kept) {
        json_object_object_add(o, "why", json_object_new_string(kept));
        json_object_array_add(lab_arr(c->doc, "kept"), o);
    } else {
        json_object_object_add(o, "namespaces",
                               json_object_new_int64((int64_t) n_ns));
        json_object_array_add(lab_arr(c->doc, "removed"), o);
    }
}

static int
cmd_lab_clean(struct cli *cli, const struct cli_cmd *cmd, int argc,
              char **argv)
{
    struct lab_link_opts o = { 0 };
    const char *words[1];
    struct lab_clean c = { NULL, 0, 0, 0 };
    struct labspec spec;
    struct fx_err err;
    int n, rc;

    memset(&spec, 0, sizeof spec);
    rc = lab_parse_words(cli, cmd, argc, argv, &o, words, 0, &n);
    if (rc >= 0) {
        return rc;
    }
    if (o.shape) {
        return cli_usage_error("lab clean", "--delay and --loss are for "
                               "'lab link'");
    }
    if (geteuid() != 0) {
        fx_err_set(&err, -EPERM, "lab clean removes network namespaces: it "
                   "takes root");
        return cli_fail(&err);
    }
    if (o.dir && lab_load(o.dir, &spec, &err)) {
        labspec_free(&spec);
        return cli_fail(&err);
    }
    if (cli->json) {
        c.doc = json_object_new_object();
        json_object_object_add(c.doc, "removed", json_object_new_array());
        json_object_object_add(c.doc, "kept", json_object_new_array());
    }
    rc = labnet_clean(o.dir ? spec.id : NULL, lab_clean_report, &c, &err);
    labspec_free(&spec);
    if (c.doc && !rc) {
        cli_print_json(c.doc);
    } else if (!rc) {
        printf("lab clean: removed %u network namespace%s of %u lab%s; %u "
               "lab%s left alone\n", c.namespaces,
               c.namespaces == 1 ? "" : "s", c.labs, c.labs == 1 ? "" : "s",
               c.kept, c.kept == 1 ? "" : "s");
    } else {
        json_object_put(c.doc);
    }
    return rc ? cli_fail(&err) : CLI_OK;
}

const struct cli_cmd cli_lab_cmds[] = {
    { "lab", "up", cmd_lab_up, "start fabricd and N agents",
      "Usage: fexctl lab up --dir DIR [--hosts N] [--netns] [OPTIONS]\n"
      "Starts fabricd and N agents named h1..hN on loopback, waits until\n"
      "every host is registered, and records the lab in DIR/lab.json: each\n"
      "daemon's full command line, its addresses (ports chosen once, kept\n"
      "for good), pid file DIR/NAME.pid and log DIR/NAME.log.  Any daemon\n"
      "can be started again by exactly that command line and finds the\n"
      "others where they were.  fabricd keeps its durable state in\n"
      "DIR/fabric-state and each agent in DIR/hN-state; DIR/secret is the\n"
      "lab secret every daemon and 'fexctl --lab DIR' prove.\n"
      "On a DIR that holds a lab, starts again what does not run (the\n"
      "options it was brought up with stay; giving another is refused).\n"
      "\n"
      "With --netns (root), each daemon runs in a network namespace of its\n"
      "own, fexsim-ID-fabric and fexsim-ID-hN (ID: the lab's id in\n"
      "lab.json), joined by veth links to a bridge in fabricd's, with\n"
      "addresses of 198.18.0.0/24 (RFC 2544's benchmarking range) that\n"
      "exist only there: fabricd 198.18.0.1 (RPC 7800, uplinks 7801), hN\n"
      "198.18.0.(10+N) (RPC 7810, page streams 7820-7859).  Control,\n"
      "uplinks and page streams all cross those links; 'lab link' makes\n"
      "them fail or degrade.  fexctl enters fabricd's namespace to reach\n"
      "it (as root); anyone else: ip netns exec fexsim-ID-fabric ...\n"
      "\n"
      "  --hosts N                 number of hosts, 1-64 (required for a\n"
      "                            new lab)\n"
      "  --dir DIR                 lab directory, created if missing "
      "(required)\n"
      "  --netns                   each daemon in its own network namespace\n"
      "                            (root; see above)\n"
      "  --vnics N                 dynamic vNICs per host (default 128)\n"
      "  --heartbeat-timeout MS    host down after MS of silence "
      "(default 3000)\n"
      "  --libvirt URI             hypervisor for every agent\n"
      "                            (default test:///default)\n"
      "  --hypervisor test|qemu    test: every agent on --libvirt (libvirt's\n"
      "                            embedded test driver, default); qemu\n"
      "                            (root): each host its own libvirtd in a\n"
      "                            mount namespace, state under\n"
      "                            DIR/hN-libvirt, QEMU guests (TCG); lab\n"
      "                            down stops them and their QEMUs by pid\n"
      "  --guest DIR               a qemu lab's guest: DIR/vmlinuz and\n"
      "                            DIR/initrd.img (default: make guest's,\n"
      "                            build/guest)\n"
      "  --flavor kvm|vmware       how passthrough vNICs migrate: KVM\n"
      "                            (802.1Qbh pre-association, default) or\n"
      "                            VMware VM-FEX (emulated mode for the move)\n"
      "  --memory MIB              each host's memory for VM reservations\n"
      "                            (agentd --memory; default 65536)\n"
      "  --no-iommu H[,H...]       these hosts lack VT-d/AMD-Vi: no\n"
      "                            passthrough (agentd --no-iommu)\n"
      "  --json                    print the result as JSON\n" },
    { "lab", "down", cmd_lab_down, "stop every daemon of a lab",
      "Usage: fexctl lab down --dir DIR\n"
      "Stops the lab's agents and fabricd by the pids in DIR (SIGTERM, then\n"
      "SIGKILL after 5 s) and leaves no process behind; a netns lab's\n"
      "network namespaces go too, and with them its links and addresses\n"
      "(a namespace in which some other process still runs is left, and\n"
      "named).  DIR/lab.json, the state and the logs stay: 'lab up --dir\n"
      "DIR' brings the lab back.\n"
      "\n"
      "  --dir DIR    lab directory (required)\n"
      "  --json       print the result as JSON\n" },
    { "lab", "status", cmd_lab_status, "show each daemon of a lab",
      "Usage: fexctl lab status --dir DIR\n"
      "Shows each daemon of the lab in DIR: pid, alive or down (a zombie\n"
      "is down), its RPC and uplink addresses, how long it has run, and for\n"
      "an agent its host's state as fabricd sees it (unknown while fabricd\n"
      "is down) and, in a netns lab, its link as 'lab link' last set it.\n"
      "--json adds each one's start time, log, command line and namespace.\n"
      "\n"
      "  --dir DIR    lab directory (required)\n"
      "  --json       print one JSON document {\"dir\", \"id\", "
      "\"daemons\": [...]}\n" },
    { "lab", "restart", cmd_lab_restart, "start again what is down",
      "Usage: fexctl lab restart --dir DIR [DAEMON]\n"
      "Starts every daemon of the lab that does not run, each by its\n"
      "recorded command line, and waits until each serves and every host\n"
      "is registered.  With DAEMON (fabricd, or a host name such as h2),\n"
      "stops that one if it runs and starts it again.  A netns lab's\n"
      "namespaces and links are made again first where missing.\n"
      "\n"
      "  --dir DIR    lab directory (required)\n"
      "  --json       print the result as JSON\n" },
    { "lab", "link", cmd_lab_link, "fail or degrade a host's link (netns)",
      "Usage: fexctl lab link HOST down|up --dir DIR\n"
      "       fexctl lab link HOST --delay MS --loss PCT --dir DIR\n"
      "In a netns lab, sets host HOST's link to the fabric (both ends of\n"
      "its veth) down or up: an agent whose link is down goes 'down' once\n"
      "its heartbeats stop reaching fabricd, and comes back when the link\n"
      "is up.  --delay and --loss make every frame wait MS milliseconds\n"
      "and drop PCT percent of them, each way (tc netem; one not given is\n"
      "0, and '--delay 0 --loss 0' makes the link clean again).  A kernel\n"
      "without netem can still lose frames (a random-drop filter), not\n"
      "delay them.  lab.json records the link as set; 'lab status' shows\n"
      "it.\n"
      "\n"
      "  --dir DIR     lab directory (required)\n"
      "  --delay MS    0-60000\n"
      "  --loss PCT    0-100, decimals allowed (0.5)\n"
      "  --json        print the link as JSON\n" },
    { "lab", "clean", cmd_lab_clean, "remove what crashed netns labs left",
      "Usage: fexctl lab clean [--dir DIR]\n"
      "Removes the network namespaces that netns labs left behind (a lab\n"
      "whose fexctl or daemons were killed): every namespace named\n"
      "fexsim-ID-NAME, ID a lab id of 8 hex digits, removed lab by lab,\n"
      "and only for a lab in none of whose namespaces a process runs and\n"
      "none of whose fexctl commands (up, restart, link, down) runs now.\n"
      "Nothing else is touched, a live lab is left whole, and it is safe to\n"
      "run twice or beside other labs.  With --dir, only that lab.  Takes\n"
      "root.\n"
      "\n"
      "  --dir DIR    only the lab in DIR\n"
      "  --json       print {\"removed\": [{\"id\", \"namespaces\"}],\n"
      "               \"kept\": [{\"id\", \"why\"}]}\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
