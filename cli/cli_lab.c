/* fexctl lab up|down|status|restart|link|clean: a whole fabric, one
 * process per daemon, on loopback or each daemon in a network namespace of
 * its own (labnet.h); state, logs and command lines under one directory
 * (DIR/lab.json, labspec.h).  This file holds the verbs: their options,
 * what they print, their JSON; the daemons themselves are built, started,
 * waited for and stopped by labrun.h. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_netns.h"
#include "fx_proc.h"
#include "fx_parse.h"
#include "lablock.h"
#include "labhv.h"
#include "labnet.h"
#include "labproc.h"
#include "labrun.h"
#include "labspec.h"

/* As many hosts as the fabric takes. */
#define LAB_MAX_HOSTS FX_LIMITS_MAX_HOSTS

/* The options of `lab up`, and which were given (a lab brought up again
 * keeps what it was brought up with). */
struct lab_opts {
    struct labspec_opts v;
    unsigned given;                  /* 1 << LAB_xxx */
    const char *dir;
    const char *fault;               /* lab restart DAEMON --fault SPEC */
    struct fx_err err;
};

enum { LAB_HOSTS = 1, LAB_DIR, LAB_VNICS, LAB_HB_TIMEOUT, LAB_LIBVIRT,
       LAB_FLAVOR, LAB_MEMORY, LAB_NO_IOMMU, LAB_NETNS, LAB_CHASSIS,
       LAB_BLADES, LAB_FAULT, LAB_HYPERVISOR, LAB_GUEST, LAB_GUEST_DIRTY };

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
    { "chassis", required_argument, NULL, LAB_CHASSIS },
    { "blades", required_argument, NULL, LAB_BLADES },
    { "hypervisor", required_argument, NULL, LAB_HYPERVISOR },
    { "guest", required_argument, NULL, LAB_GUEST },
    { "guest-dirty-rate", required_argument, NULL, LAB_GUEST_DIRTY },
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
        if (strcmp(val, "kvm") && strcmp(val, "vmware")
            && strcmp(val, "failover")) {
            rc = fx_err_set(&o->err, -EINVAL, "--flavor is kvm, vmware or "
                            "failover, not '%s'", val);
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
    case LAB_CHASSIS:
        rc = fx_parse_u64(val, 1, LAB_MAX_HOSTS, &v, "--chassis", &o->err);
        o->v.chassis = (uint32_t) v;
        break;
    case LAB_BLADES:
        rc = fx_parse_u64(val, 1, FX_LIMITS_CHASSIS_SLOTS, &v, "--blades",
                          &o->err);
        o->v.blades = (uint32_t) v;
        break;
    case LAB_FAULT: o->fault = val; break;
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
    case LAB_GUEST_DIRTY:
        rc = fx_parse_u64(val, 0, 1000000, &o->v.guest_dirty_rate,
                          "--guest-dirty-rate", &o->err);
        break;
    default: break;
    }
    o->given |= 1u << opt;
    if (rc) {
        fprintf(stderr, "fexctl: %s\n", o->err.msg);
    }
    return rc;
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
        [LAB_CHASSIS] = "--chassis", [LAB_BLADES] = "--blades",
        [LAB_HYPERVISOR] = "--hypervisor",
        [LAB_GUEST_DIRTY] = "--guest-dirty-rate",
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
        [LAB_CHASSIS] = a->chassis != b->chassis,
        [LAB_BLADES] = a->blades != b->blades,
        [LAB_HYPERVISOR] = strcmp(a->hypervisor, b->hypervisor) != 0,
        [LAB_GUEST_DIRTY] = a->guest_dirty_rate != b->guest_dirty_rate,
    };

    /* The layout first: --chassis C --blades B imply --hosts C x B. */
    static const int order[] = {
        LAB_CHASSIS, LAB_BLADES, LAB_HOSTS, LAB_VNICS, LAB_HB_TIMEOUT,
        LAB_LIBVIRT, LAB_FLAVOR, LAB_MEMORY, LAB_NO_IOMMU, LAB_NETNS,
        LAB_HYPERVISOR, LAB_GUEST_DIRTY,
    };

    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        int opt = order[i];

        if ((o->given & (1u << opt)) && differs[opt]) {
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
               labrun_qemu(spec) ? " each with its own libvirtd and QEMU" : "",
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
            printf("lab up: topology page at http://%s/ (Prometheus "
                   "metrics at /metrics)\n", spec->daemons[0].http);
        }
        return;
    }
    obj = json_object_new_object();
    json_object_object_add(obj, "fabric", json_object_new_string(
                                               spec->daemons[0].listen));
    json_object_object_add(obj, "hosts", json_object_new_int64(hosts));
    json_object_object_add(obj, "hypervisor",
                           json_object_new_string(spec->opts.hypervisor));
    if (spec->opts.chassis) {
        json_object_object_add(obj, "chassis",
                               json_object_new_int64(spec->opts.chassis));
        json_object_object_add(obj, "blades",
                               json_object_new_int64(spec->opts.blades));
    }
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
        if (labrun_build(cli, o->dir, &o->v, spec, err)
            || labrun_lock(spec, 0, lockp, err)
            || labspec_save(spec, err)) {
            return err->code;
        }
        *createdp = 1;
    } else if (rc || lab_same_opts(o, spec, err)
               || labrun_lock(spec, 1, lockp, err)) {
        return err->code;
    }
    if (labrun_secret(o->dir, err)) {
        return err->code;
    }
    return labrun_start(cli, spec, NULL, "lab up", startedp, err);
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

/* How many hosts, and how they are laid out: --chassis C --blades B
 * makes C x B hosts, C chassis of B blades (both or neither; --hosts, if
 * given too, must say the same); a netns lab takes as many hosts as its
 * bridge has ports. */
static int
lab_layout(struct lab_opts *o, struct fx_err *err)
{
    unsigned c = !!(o->given & (1u << LAB_CHASSIS));
    unsigned b = !!(o->given & (1u << LAB_BLADES));
    uint64_t n = (uint64_t) o->v.chassis * o->v.blades;

    if (c != b) {
        return fx_err_set(err, -EINVAL, "--chassis C and --blades B go "
                          "together: C chassis of B blades each");
    }
    if (c && n > LAB_MAX_HOSTS) {
        return fx_err_set(err, -EINVAL, "--chassis %u --blades %u make %llu "
                          "hosts: a lab takes at most %d", o->v.chassis,
                          o->v.blades, (unsigned long long) n, LAB_MAX_HOSTS);
    }
    if (c && (o->given & (1u << LAB_HOSTS)) && o->v.hosts != n) {
        return fx_err_set(err, -EINVAL, "--hosts %u is not %u chassis of %u "
                          "blades (%llu hosts): give one or the other",
                          o->v.hosts, o->v.chassis, o->v.blades,
                          (unsigned long long) n);
    }
    if (c) {
        o->v.hosts = (uint32_t) n;
        o->given |= 1u << LAB_HOSTS;
    }
    if (o->v.netns && o->v.hosts > LABNET_MAX_HOSTS) {
        return fx_err_set(err, -EINVAL, "a netns lab takes at most %d hosts "
                          "(its bridge's ports), not %u", LABNET_MAX_HOSTS,
                          o->v.hosts);
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
    if (lab_layout(&o, &err) || labrun_no_iommu(&o.v, NULL, &err)) {
        return cli_usage_error("lab up", "%s", err.msg);
    }
    if (!(o.given & (1u << LAB_HOSTS))) {
        char path[PATH_MAX + 16];

        snprintf(path, sizeof path, "%s/%s", o.dir, LABSPEC_FILE);
        if (access(path, F_OK)) {
            return cli_usage_error("lab up", "no lab in '%s' yet: --hosts "
                                   "N makes one (or --chassis C --blades "
                                   "B)", o.dir);
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
    } else if (o.given & (1u << LAB_GUEST_DIRTY)) {
        return cli_usage_error("lab up", "--guest-dirty-rate is for the "
                               "guests of --hypervisor qemu");
    } else if (!strcmp(o.v.flavor, "failover")) {
        return cli_usage_error("lab up", "--flavor failover needs "
                               "--hypervisor qemu: a simulated guest has "
                               "no standby virtio-net to ride");
    }
    if (!strcmp(o.v.hypervisor, "qemu")) {
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

        labrun_stop(&spec, NULL);
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

/* lab restart's: a daemon may be started once with a fault armed. */
static const struct option lab_restart_opts[] = {
    { "dir", required_argument, NULL, LAB_DIR },
    { "fault", required_argument, NULL, LAB_FAULT },
    { NULL, 0, NULL, 0 },
};

/* Parses "--dir DIR [NAME]" of 'cmd' (with 'faultp', "[--fault SPEC]"
 * too, stored there: borrowed from argv) and loads the lab.  Returns -1 to
 * go on (the caller frees 'spec'), else the exit code. */
static int
lab_open(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
         int takes_name, const char **namep, const char **faultp,
         struct labspec *spec)
{
    struct lab_opts o = { 0 };
    char full[32], dir[PATH_MAX];
    struct fx_err err;
    int idx, rc;

    snprintf(full, sizeof full, "lab %s", cmd->name);
    memset(spec, 0, sizeof *spec);
    rc = cli_parse(cli, cmd, argc, argv,
                   faultp ? lab_restart_opts : lab_dir_opts, lab_opt, &o,
                   &idx);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (faultp) {
        *faultp = o.fault;
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
    if (o.fault && !*namep) {
        return cli_usage_error(full, "--fault arms one daemon: name it");
    }
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
    int rc = lab_open(cli, cmd, argc, argv, 0, &name, NULL, &spec), lock;

    if (rc >= 0) {
        return rc;
    }
    rc = labrun_lock(&spec, 1, &lock, &err);
    if (!rc) {
        rc = labrun_stop(&spec, &err);
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
    int *up, rc = lab_open(cli, cmd, argc, argv, 0, &name, NULL, &spec), fabric;

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

        labrun_target(cli, &spec);
        fabric = labrun_hosts_up(cli, &spec, up, &err) >= 0;
    }
    if (cli->json) {
        arr = json_object_new_array();
    } else {
        printf("%-10s %-8s %-6s %-21s %-21s %-9s %-7s%s\n", "DAEMON", "PID",
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
        printf("%-10s %-8s %-6s %-21s %-21s %-9s %-7s%s%s\n", d->name,
               pidtxt, pid ? "alive" : "down",
               d->listen[0] ? d->listen : "-",
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
    const char *fault;
    int rc = lab_open(cli, cmd, argc, argv, 1, &name, &fault, &spec);
    int lock = -1, started;

    if (rc >= 0) {
        return rc;
    }
    rc = labrun_lock(&spec, 1, &lock, &err);
    /* The one named goes down first, running or not. */
    if (!rc && name) {
        rc = labproc_stop(labspec_find(&spec, name), LABRUN_STOP_TIMEOUT_MS,
                          &err);
    }
    if (rc >= 0 && fault) {
        rc = labrun_arm_fault(labspec_find(&spec, name), fault, &err);
    }
    if (rc >= 0) {
        rc = labrun_start(cli, &spec, name, "lab restart", &started, &err);
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
    rc = rc ? rc : labrun_lock(&spec, 1, &lock, &err);
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
      "Usage: fexctl lab up --dir DIR [--hosts N | --chassis C --blades B]\n"
      "                     [--netns] [OPTIONS]\n"
      "Starts fabricd and N agents named h1..hN on loopback, waits until\n"
      "every host is registered, and records the lab in DIR/lab.json: each\n"
      "daemon's full command line, its addresses (ports chosen once, kept\n"
      "for good, below the kernel's ephemeral range), pid file DIR/NAME.pid\n"
      "and log DIR/NAME.log.  Any daemon can be started again by exactly\n"
      "that command line and finds the others where they were.  fabricd\n"
      "keeps its durable state in DIR/fabric-state and each agent in\n"
      "DIR/NAME-state; DIR/secret is the lab secret every daemon and\n"
      "'fexctl --lab DIR' prove.  fabricd takes N + 256 connections\n"
      "(--max-conns): one per agent, and room for operators.\n"
      "On a DIR that holds a lab, starts again what does not run (the\n"
      "options it was brought up with stay; giving another is refused).\n"
      "On a terminal it shows how many daemons started and hosts are up\n"
      "(elsewhere, a plain line every 2 s while it waits);\n"
      "it gives up after 20 s and 250 ms per daemon started, naming the\n"
      "hosts that did not come up.\n"
      "\n"
      "With --chassis C --blades B, the lab is a UCS domain of C chassis of\n"
      "B blades (a 6140 domain: 40 chassis of 8): C x B hosts named chC-bB,\n"
      "the blade in slot B of chassis C (UCSM's sys/chassis-C/blade-B),\n"
      "each agent started with --chassis C --slot B.\n"
      "\n"
      "With --netns (root), each daemon runs in a network namespace of its\n"
      "own, fexsim-ID-fabric and fexsim-ID-NAME (ID: the lab's id in\n"
      "lab.json), joined by veth links to a bridge in fabricd's, with\n"
      "addresses of 198.18.0.0/21 (RFC 2544's benchmarking range) that\n"
      "exist only there: fabricd 198.18.0.1 (RPC 7800, uplinks 7801), the\n"
      "Nth host 198.18.0.(10+N) up to the 245th, then 198.18.1.0 on (RPC\n"
      "7810, page streams 7820-7859).  Control, uplinks and page streams\n"
      "all cross those links; 'lab link' makes them fail or degrade.\n"
      "fexctl enters fabricd's namespace to reach it (as root); anyone\n"
      "else: ip netns exec fexsim-ID-fabric ...\n"
      "\n"
      "  --hosts N                 number of hosts, 1-1024 (1-1023 with\n"
      "                            --netns: a bridge's ports); a new lab\n"
      "                            needs it or --chassis and --blades\n"
      "  --chassis C --blades B    C chassis (1-1024) of B blades (1-8):\n"
      "                            C x B hosts, at most 1024, chC-bB\n"
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
      "  --guest-dirty-rate N      a qemu lab's guests each write N pages/s\n"
      "                            of their memory from inside (default 0)\n"
      "  --flavor kvm|vmware|failover\n"
      "                            how passthrough vNICs migrate: KVM\n"
      "                            (802.1Qbh pre-association, default),\n"
      "                            VMware VM-FEX (emulated mode for the\n"
      "                            move) or failover (--hypervisor qemu:\n"
      "                            QEMU's virtio-net failover, the primary\n"
      "                            unplugged for the move, a standby\n"
      "                            virtio-net carrying the traffic)\n"
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
      "Usage: fexctl lab restart --dir DIR [DAEMON [--fault SPEC]]\n"
      "Starts every daemon of the lab that does not run, each by its\n"
      "recorded command line, and waits until each serves and every host\n"
      "is registered.  With DAEMON (fabricd, or a host name such as h2),\n"
      "stops that one if it runs and starts it again.  A netns lab's\n"
      "namespaces and links are made again first where missing.\n"
      "\n"
      "  --dir DIR     lab directory (required)\n"
      "  --fault SPEC  test facility: start DAEMON this once with\n"
      "                '--fault SPEC' (crash@PHASE[:N], fail@resume[:N]:\n"
      "                see its --help); lab.json keeps the line unarmed\n"
      "  --json        print the result as JSON\n" },
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
