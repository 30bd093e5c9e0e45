/* fexctl lab up|down|status|restart: a whole fabric on loopback, one
 * process per daemon, state, logs and command lines under one directory
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
#include <sys/socket.h>

#include "auth.h"
#include "cli.h"
#include "fabric.pb-c.h"
#include "fx_err.h"
#include "fx_proc.h"
#include "fx_parse.h"
#include "fx_time.h"
#include "labproc.h"
#include "labspec.h"
#include "rpc.h"

#define LAB_MAX_HOSTS 64
#define LAB_START_TIMEOUT_MS 20000
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
       LAB_FLAVOR, LAB_MEMORY, LAB_NO_IOMMU };

static const struct option lab_up_opts[] = {
    { "hosts", required_argument, NULL, LAB_HOSTS },
    { "dir", required_argument, NULL, LAB_DIR },
    { "vnics", required_argument, NULL, LAB_VNICS },
    { "heartbeat-timeout", required_argument, NULL, LAB_HB_TIMEOUT },
    { "libvirt", required_argument, NULL, LAB_LIBVIRT },
    { "flavor", required_argument, NULL, LAB_FLAVOR },
    { "memory", required_argument, NULL, LAB_MEMORY },
    { "no-iommu", required_argument, NULL, LAB_NO_IOMMU },
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

/* A port free on loopback now, for a daemon to take for good.  Another
 * process could take it before the daemon does: the daemon then exits at
 * once, saying so, and `lab up` fails with that line. */
static int
lab_free_addr(char *buf, size_t size, struct fx_err *err)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa)
        || getsockname(fd, (struct sockaddr *) &sa, &len)) {
        int e = errno;

        if (fd >= 0) {
            close(fd);
        }
        return fx_err_set(err, -e, "no free port on loopback: %s",
                          strerror(e));
    }
    close(fd);
    snprintf(buf, size, "127.0.0.1:%u", (unsigned) ntohs(sa.sin_port));
    return 0;
}

static int
lab_add_fabric(struct cli *cli, struct labspec *spec, struct fx_err *err)
{
    char bin[PATH_MAX], addr_file[PATH_MAX], hb_int[16], hb_to[16];
    char state[PATH_MAX], secret[PATH_MAX], listen[64], uplink[64];
    char *argv[] = { bin, "--listen", listen, "--uplink-listen", uplink,
                     "--addr-file", addr_file, "--heartbeat-interval",
                     hb_int, "--heartbeat-timeout", hb_to, "--state", state,
                     "--flavor", spec->opts.flavor, "--secret-file", secret,
                     NULL };
    struct labspec_daemon *d;

    if (lab_free_addr(listen, sizeof listen, err)
        || lab_free_addr(uplink, sizeof uplink, err)) {
        return err->code;
    }
    snprintf(bin, sizeof bin, "%s/fabricd", cli->bindir);
    snprintf(secret, sizeof secret, "%s/secret", spec->dir);
    snprintf(addr_file, sizeof addr_file, "%s/fabric.addr", spec->dir);
    snprintf(state, sizeof state, "%s/fabric-state", spec->dir);
    snprintf(hb_to, sizeof hb_to, "%u", spec->opts.hb_timeout_ms);
    snprintf(hb_int, sizeof hb_int, "%u", spec->opts.hb_timeout_ms / 3);
    d = labspec_add(spec, "fabricd", "fabricd", "fabricd", argv, err);
    if (!d) {
        return err->code;
    }
    snprintf(d->listen, sizeof d->listen, "%s", listen);
    snprintf(d->uplink, sizeof d->uplink, "%s", uplink);
    return 0;
}

static int
lab_add_agent(struct cli *cli, struct labspec *spec, unsigned i,
              struct fx_err *err)
{
    char bin[PATH_MAX], host[16], vnics[16], file[32], state[PATH_MAX];
    char mem[24], secret[PATH_MAX], listen[64], fabric[64];
    char *argv[24] = { bin, "--host", host, "--fabric", fabric,
                       "--listen", listen,
                       "--libvirt", spec->opts.libvirt, "--vnics", vnics,
                       "--state", state, "--flavor", spec->opts.flavor,
                       "--secret-file", secret };
    struct labspec_daemon *d;
    size_t n = 0;

    if (lab_free_addr(listen, sizeof listen, err)) {
        return err->code;
    }
    snprintf(bin, sizeof bin, "%s/agentd", cli->bindir);
    /* A copy: adding this agent moves the daemons array. */
    snprintf(fabric, sizeof fabric, "%s", spec->daemons[0].listen);
    snprintf(secret, sizeof secret, "%s/secret", spec->dir);
    snprintf(host, sizeof host, "h%u", i);
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
    argv[n] = NULL;
    d = labspec_add(spec, host, "agentd", file, argv, err);
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
        [LAB_NO_IOMMU] = "--no-iommu",
    };
    int differs[] = {
        [LAB_HOSTS] = a->hosts != b->hosts,
        [LAB_VNICS] = a->vnics != b->vnics,
        [LAB_HB_TIMEOUT] = a->hb_timeout_ms != b->hb_timeout_ms,
        [LAB_LIBVIRT] = strcmp(a->libvirt, b->libvirt) != 0,
        [LAB_FLAVOR] = strcmp(a->flavor, b->flavor) != 0,
        [LAB_MEMORY] = a->memory_mib != b->memory_mib,
        [LAB_NO_IOMMU] = strcmp(a->no_iommu, b->no_iommu) != 0,
    };

    for (int opt = LAB_HOSTS; opt <= LAB_NO_IOMMU; opt++) {
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
    for (size_t i = 1; i < spec->n_daemons; i++) {
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

static int
lab_wait_hosts(struct cli *cli, const struct labspec *spec,
               struct fx_err *err)
{
    uint64_t deadline = fx_time_now_ms() + LAB_START_TIMEOUT_MS;
    int want = (int) spec->n_daemons - 1, up;

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

/* Starts the daemons of 'spec' that do not run ('only': just that one),
 * fabricd first, and waits until each serves and every host is up.
 * Stores how many it started in '*startedp'. */
static int
lab_start(struct cli *cli, const struct labspec *spec, const char *only,
          int *startedp, struct fx_err *err)
{
    pid_t *pids = calloc(spec->n_daemons, sizeof *pids);
    int rc = 0;

    *startedp = 0;
    if (!pids) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < spec->n_daemons; i++) {
        const struct labspec_daemon *d = &spec->daemons[i];

        if (only && strcmp(d->name, only)) {
            continue;
        }
        rc = labproc_spawn(d, &pids[i], err);
        /* Agents find fabricd at once if it serves before they start. */
        if (!rc && i == 0 && pids[0]) {
            rc = labproc_wait_ready(d, pids[0], LAB_START_TIMEOUT_MS, err);
        }
    }
    for (size_t i = 1; !rc && i < spec->n_daemons; i++) {
        if (pids[i]) {
            rc = labproc_wait_ready(&spec->daemons[i], pids[i],
                                    LAB_START_TIMEOUT_MS, err);
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

/* Stops every daemon of the lab: agents first, then fabricd.  Returns how
 * many processes were stopped, or a negative errno. */
static int
lab_stop(const struct labspec *spec, struct fx_err *err)
{
    char path[PATH_MAX + 16];
    int count = 0, rc;

    for (size_t i = spec->n_daemons; i-- > 0; ) {
        rc = labproc_stop(&spec->daemons[i], LAB_STOP_TIMEOUT_MS, err);
        if (rc < 0) {
            return rc;
        }
        count += rc;
    }
    snprintf(path, sizeof path, "%s/fabric.addr", spec->dir);
    unlink(path);
    return count;
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
    unsigned hosts = (unsigned) spec->n_daemons - 1;

    if (!cli->json) {
        printf("lab up: fabric at %s, %u hosts (%s..%s), state and logs in "
               "%s", spec->daemons[0].listen, hosts,
               spec->daemons[1].name, spec->daemons[hosts].name, spec->dir);
        if (started == (int) spec->n_daemons) {
            printf("\n");
        } else if (!started) {
            printf("; every daemon was running\n");
        } else {
            printf("; %d daemon%s down, started again\n", started,
                   started == 1 ? " was" : "s were");
        }
        return;
    }
    obj = json_object_new_object();
    json_object_object_add(obj, "fabric", json_object_new_string(
                                               spec->daemons[0].listen));
    json_object_object_add(obj, "hosts", json_object_new_int64(hosts));
    json_object_object_add(obj, "dir", json_object_new_string(spec->dir));
    json_object_object_add(obj, "started", json_object_new_int(started));
    cli_print_json(obj);
}

/* Brings the lab in o->dir up: a new one from 'o', or the one recorded
 * there, restarting what does not run.  '*createdp' says whether its
 * lab.json is new. */
static int
lab_up(struct cli *cli, const struct lab_opts *o, struct labspec *spec,
       int *createdp, int *startedp, struct fx_err *err)
{
    int rc;

    *createdp = 0;
    memset(spec, 0, sizeof *spec);
    if (mkdir(o->dir, 0755) && errno != EEXIST) {
        return fx_err_set(err, -errno, "cannot create lab dir '%s': %s",
                          o->dir, strerror(errno));
    }
    rc = labspec_load(o->dir, spec, err);
    if (rc == -ENOENT) {
        labspec_free(spec);
        if (lab_build(cli, o, spec, err) || labspec_save(spec, err)) {
            return err->code;
        }
        *createdp = 1;
    } else if (rc || lab_same_opts(o, spec, err)) {
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

static int
cmd_lab_up(struct cli *cli, const struct cli_cmd *cmd, int argc,
           char **argv)
{
    struct lab_opts o = { .v = { .vnics = 128, .hb_timeout_ms = 3000,
                                 .libvirt = "test:///default",
                                 .flavor = "kvm" } };
    struct labspec spec;
    struct fx_err err;
    char dir[PATH_MAX];
    int idx, rc, created, started;

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
    rc = lab_up(cli, &o, &spec, &created, &started, &err);
    if (rc && created) {
        /* A lab that never came up leaves no process and no lab file. */
        char path[PATH_MAX + 16];

        lab_stop(&spec, NULL);
        snprintf(path, sizeof path, "%s/%s", o.dir, LABSPEC_FILE);
        unlink(path);
    }
    if (!rc) {
        lab_print_up(cli, &spec, started);
    }
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
                   spec->daemons[spec->n_daemons - 1].name);
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
    int rc = lab_open(cli, cmd, argc, argv, 0, &name, &spec);

    if (rc >= 0) {
        return rc;
    }
    rc = lab_stop(&spec, &err);
    if (rc >= 0 && cli->json) {
        struct json_object *obj = json_object_new_object();

        json_object_object_add(obj, "stopped", json_object_new_int(rc));
        cli_print_json(obj);
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
    json_object_object_add(o, "up_since", json_object_new_string(iso));
    if (host) {
        json_object_object_add(o, "host_state",
                               json_object_new_string(host));
    }
    json_object_object_add(o, "log_file",
                           json_object_new_string(d->log_file));
    for (size_t i = 0; d->argv[i]; i++) {
        json_object_array_add(argv, json_object_new_string(d->argv[i]));
    }
    json_object_object_add(o, "argv", argv);
    return o;
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
        printf("%-10s %-8s %-6s %-21s %-21s %-9s %s\n", "DAEMON", "PID",
               "STATE", "LISTEN", "UPLINK", "UP FOR", "HOST");
    }
    for (size_t i = 0; i < spec.n_daemons; i++) {
        const struct labspec_daemon *d = &spec.daemons[i];
        pid_t pid = labproc_pid(d);
        int64_t since = 0;
        const char *host = i == 0 ? NULL : !fabric ? "unknown"
                           : up[i] ? "up" : "down";
        char age[16], pidtxt[16];

        if (pid && fx_proc_started(pid, &since)) {
            since = 0;
        }
        if (arr) {
            json_object_array_add(arr, lab_status_json(d, pid, since, host));
            continue;
        }
        lab_age(pid ? since : 0, age, sizeof age);
        snprintf(pidtxt, sizeof pidtxt, pid ? "%d" : "-", (int) pid);
        printf("%-10s %-8s %-6s %-21s %-21s %-9s %s\n", d->name, pidtxt,
               pid ? "alive" : "down", d->listen,
               d->uplink[0] ? d->uplink : "-", age, host ? host : "-");
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

    if (rc >= 0) {
        return rc;
    }
    /* The one named goes down first, running or not. */
    rc = name ? labproc_stop(labspec_find(&spec, name), LAB_STOP_TIMEOUT_MS,
                             &err) : 0;
    if (rc >= 0) {
        rc = lab_start(cli, &spec, name, &started, &err);
    }
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

const struct cli_cmd cli_lab_cmds[] = {
    { "lab", "up", cmd_lab_up, "start fabricd and N agents on loopback",
      "Usage: fexctl lab up --dir DIR [--hosts N] [OPTIONS]\n"
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
      "  --hosts N                 number of hosts, 1-64 (required for a\n"
      "                            new lab)\n"
      "  --dir DIR                 lab directory, created if missing "
      "(required)\n"
      "  --vnics N                 dynamic vNICs per host (default 128)\n"
      "  --heartbeat-timeout MS    host down after MS of silence "
      "(default 3000)\n"
      "  --libvirt URI             hypervisor for every agent\n"
      "                            (default test:///default)\n"
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
      "SIGKILL after 5 s) and leaves no process behind.  DIR/lab.json, the\n"
      "state and the logs stay: 'lab up --dir DIR' brings the lab back.\n"
      "\n"
      "  --dir DIR    lab directory (required)\n"
      "  --json       print the result as JSON\n" },
    { "lab", "status", cmd_lab_status, "show each daemon of a lab",
      "Usage: fexctl lab status --dir DIR\n"
      "Shows each daemon of the lab in DIR: pid, alive or down (a zombie\n"
      "is down), its RPC and uplink addresses, how long it has run, and for\n"
      "an agent its host's state as fabricd sees it (unknown while fabricd\n"
      "is down).  --json adds each one's start time, log and command line.\n"
      "\n"
      "  --dir DIR    lab directory (required)\n"
      "  --json       print one JSON document {\"dir\", \"id\", "
      "\"daemons\": [...]}\n" },
    { "lab", "restart", cmd_lab_restart, "start again what is down",
      "Usage: fexctl lab restart --dir DIR [DAEMON]\n"
      "Starts every daemon of the lab that does not run, each by its\n"
      "recorded command line, and waits until each serves and every host\n"
      "is registered.  With DAEMON (fabricd, or a host name such as h2),\n"
      "stops that one if it runs and starts it again.\n"
      "\n"
      "  --dir DIR    lab directory (required)\n"
      "  --json       print the result as JSON\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
