/* fexctl lab up|down: a whole fabric on loopback, one process per daemon,
 * state and logs under one directory. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "cli.h"
#include "fabric.pb-c.h"
#include "fx_err.h"
#include "fx_proc.h"
#include "fx_parse.h"
#include "fx_time.h"
#include "rpc.h"

#define LAB_MAX_HOSTS 64
#define LAB_START_TIMEOUT_MS 20000
#define LAB_STOP_TIMEOUT_MS 5000

struct lab_opts {
    uint64_t hosts;
    const char *dir;
    uint64_t vnics;
    uint64_t hb_timeout_ms;
    const char *libvirt;
    const char *flavor;
    uint64_t memory_mib;             /* Each host's; 0: agentd's default. */
    const char *no_iommu;            /* "h2,h3": hosts without an IOMMU. */
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
lab_opt(void *arg, int opt, const char *val)
{
    struct lab_opts *o = arg;
    int rc = 0;

    switch (opt) {
    case LAB_HOSTS:
        rc = fx_parse_u64(val, 1, LAB_MAX_HOSTS, &o->hosts, "--hosts",
                          &o->err);
        break;
    case LAB_DIR: o->dir = val; break;
    case LAB_VNICS:
        rc = fx_parse_u64(val, 1, 4096, &o->vnics, "--vnics", &o->err);
        break;
    case LAB_HB_TIMEOUT:
        rc = fx_parse_u64(val, 30, 600000, &o->hb_timeout_ms,
                          "--heartbeat-timeout", &o->err);
        break;
    case LAB_LIBVIRT: o->libvirt = val; break;
    case LAB_FLAVOR:
        if (strcmp(val, "kvm") && strcmp(val, "vmware")) {
            rc = fx_err_set(&o->err, -EINVAL, "--flavor is kvm or vmware, "
                            "not '%s'", val);
        }
        o->flavor = val;
        break;
    case LAB_MEMORY:
        rc = fx_parse_u64(val, 1, 1ull << 32, &o->memory_mib, "--memory",
                          &o->err);
        break;
    case LAB_NO_IOMMU: o->no_iommu = val; break;
    default: break;
    }
    if (rc) {
        fprintf(stderr, "fexctl: %s\n", o->err.msg);
    }
    return rc;
}

static void
lab_path(char *buf, size_t size, const char *dir, const char *file)
{
    snprintf(buf, size, "%s/%s", dir, file);
}

/* Stops the daemon whose pid is in 'pidfile' if it still runs 'comm', and
 * removes the file.  Returns 1 if a process was stopped, 0 if none ran,
 * or a negative errno. */
static int
lab_stop_one(const char *pidfile, const char *comm, struct fx_err *err)
{
    pid_t pid;
    int rc = 0;

    if (fx_proc_pidfile_read(pidfile, &pid, NULL)) {
        unlink(pidfile);
        return 0;
    }
    if (fx_proc_alive(pid) && fx_proc_is(pid, comm)) {
        rc = fx_proc_stop(pid, LAB_STOP_TIMEOUT_MS, err);
        rc = rc ? rc : 1;
    }
    unlink(pidfile);
    return rc;
}

/* Stops every daemon of the lab in 'dir': agents first, then fabricd.
 * Returns how many processes were stopped, or a negative errno. */
static int
lab_stop_all(const char *dir, struct fx_err *err)
{
    char path[PATH_MAX];
    struct dirent *de;
    int count = 0, rc;
    DIR *d = opendir(dir);

    if (!d) {
        return fx_err_set(err, -errno, "cannot open lab dir '%s': %s", dir,
                          strerror(errno));
    }
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);

        if (strncmp(de->d_name, "agentd-", 7) || n < 5
            || strcmp(de->d_name + n - 4, ".pid")) {
            continue;
        }
        lab_path(path, sizeof path, dir, de->d_name);
        rc = lab_stop_one(path, "agentd", err);
        count += rc > 0 ? 1 : 0;
    }
    closedir(d);
    lab_path(path, sizeof path, dir, "fabricd.pid");
    rc = lab_stop_one(path, "fabricd", err);
    count += rc > 0 ? 1 : 0;
    lab_path(path, sizeof path, dir, "fabric.addr");
    unlink(path);
    return count;
}

static int
lab_spawn(const char *dir, const char *name, char *const argv[],
          pid_t *pidp, struct fx_err *err)
{
    char log[PATH_MAX], pidfile[PATH_MAX], file[64];

    snprintf(file, sizeof file, "%s.log", name);
    lab_path(log, sizeof log, dir, file);
    snprintf(file, sizeof file, "%s.pid", name);
    lab_path(pidfile, sizeof pidfile, dir, file);
    if (fx_proc_spawn(argv, log, pidp, err)) {
        return err->code;
    }
    return fx_proc_pidfile_write(pidfile, *pidp, err);
}

/* Waits for fabricd to write its address into 'dir'/fabric.addr. */
static int
lab_wait_addr(const char *dir, pid_t pid, char *addr, size_t size,
              struct fx_err *err)
{
    uint64_t deadline = fx_time_now_ms() + LAB_START_TIMEOUT_MS;
    char path[PATH_MAX];
    FILE *f;

    lab_path(path, sizeof path, dir, "fabric.addr");
    while (!(f = fopen(path, "r"))) {
        if (!fx_proc_alive(pid)) {
            return fx_err_set(err, -ECHILD, "fabricd exited at start-up; "
                              "see %s/fabricd.log", dir);
        }
        if (fx_time_now_ms() > deadline) {
            return fx_err_set(err, -ETIMEDOUT, "fabricd did not write %s",
                              path);
        }
        fx_time_sleep_ms(10);
    }
    if (!fgets(addr, (int) size, f)) {
        addr[0] = '\0';
    }
    fclose(f);
    addr[strcspn(addr, "\n")] = '\0';
    return 0;
}

static int
lab_start_fabric(struct cli *cli, const struct lab_opts *o, char *addr,
                 size_t size, struct fx_err *err)
{
    char bin[PATH_MAX], addr_file[PATH_MAX], hb_int[16], hb_to[16];
    char state[PATH_MAX], secret[PATH_MAX];
    char *argv[] = { bin, "--listen", "127.0.0.1:0", "--addr-file",
                     addr_file, "--heartbeat-interval", hb_int,
                     "--heartbeat-timeout", hb_to, "--state", state,
                     "--flavor", (char *) o->flavor, "--secret-file",
                     secret, NULL };
    pid_t pid;

    snprintf(bin, sizeof bin, "%s/fabricd", cli->bindir);
    lab_path(secret, sizeof secret, o->dir, "secret");
    lab_path(addr_file, sizeof addr_file, o->dir, "fabric.addr");
    lab_path(state, sizeof state, o->dir, "fabric-state");
    snprintf(hb_to, sizeof hb_to, "%llu",
             (unsigned long long) o->hb_timeout_ms);
    snprintf(hb_int, sizeof hb_int, "%llu",
             (unsigned long long) (o->hb_timeout_ms / 3));
    if (lab_spawn(o->dir, "fabricd", argv, &pid, err)) {
        return err->code;
    }
    return lab_wait_addr(o->dir, pid, addr, size, err);
}

/* Whether --no-iommu lists host 'h<i>'; with 'i' 0, checks instead that
 * every name it lists is one of the lab's hosts (0, or -EINVAL). */
static int
lab_no_iommu(const struct lab_opts *o, unsigned i, struct fx_err *err)
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
                                  "one of the hosts h1..h%llu", (int) len, p,
                                  (unsigned long long) o->hosts);
            }
        } else if (n == i) {
            return 1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

static int
lab_start_agent(struct cli *cli, const struct lab_opts *o, unsigned i,
                const char *fabric, struct fx_err *err)
{
    char bin[PATH_MAX], host[16], vnics[16], name[32], state[PATH_MAX];
    char mem[24], secret[PATH_MAX];
    char *argv[24] = { bin, "--host", host, "--fabric", (char *) fabric,
                       "--listen", "127.0.0.1:0", "--libvirt",
                       (char *) o->libvirt, "--vnics", vnics, "--state",
                       state, "--flavor", (char *) o->flavor,
                       "--secret-file", secret };
    size_t n = 0;
    pid_t pid;

    snprintf(bin, sizeof bin, "%s/agentd", cli->bindir);
    lab_path(secret, sizeof secret, o->dir, "secret");
    snprintf(host, sizeof host, "h%u", i);
    snprintf(vnics, sizeof vnics, "%llu", (unsigned long long) o->vnics);
    snprintf(name, sizeof name, "agentd-%s", host);
    snprintf(state, sizeof state, "%s/%s-state", o->dir, host);
    while (argv[n]) {
        n++;
    }
    if (o->memory_mib) {
        snprintf(mem, sizeof mem, "%llu", (unsigned long long) o->memory_mib);
        argv[n++] = "--memory";
        argv[n++] = mem;
    }
    if (lab_no_iommu(o, i, NULL) == 1) {
        argv[n++] = "--no-iommu";
    }
    argv[n] = NULL;
    return lab_spawn(o->dir, name, argv, &pid, err);
}

/* Counts the hosts named h1..hN that are up. */
static int
lab_count_up(struct cli *cli, unsigned n, struct fx_err *err)
{
    Fexsim__V1__ListHostsRequest req = FEXSIM__V1__LIST_HOSTS_REQUEST__INIT;
    Fexsim__V1__ListHostsReply *rep;
    int up = 0;

    if (cli_call(cli, "Fabric.ListHosts", &req.base,
                 &fexsim__v1__list_hosts_reply__descriptor,
                 (ProtobufCMessage **) &rep, err)) {
        return err->code;
    }
    for (size_t i = 0; i < rep->n_hosts; i++) {
        unsigned k;

        if (sscanf(rep->hosts[i]->name, "h%u", &k) == 1 && k >= 1 && k <= n
            && rep->hosts[i]->state == FEXSIM__V1__HOST_STATE__HOST_STATE_UP) {
            up++;
        }
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return up;
}

static int
lab_wait_hosts(struct cli *cli, const struct lab_opts *o, struct fx_err *err)
{
    uint64_t deadline = fx_time_now_ms() + LAB_START_TIMEOUT_MS;
    int up;

    while ((up = lab_count_up(cli, (unsigned) o->hosts, err))
           != (int) o->hosts) {
        if (up < 0) {
            return up;
        }
        if (fx_time_now_ms() > deadline) {
            return fx_err_set(err, -ETIMEDOUT, "only %d of %llu hosts "
                              "registered in time; see the logs in %s", up,
                              (unsigned long long) o->hosts, o->dir);
        }
        fx_time_sleep_ms(20);
    }
    return 0;
}

static int
lab_check_free(const char *dir, struct fx_err *err)
{
    char path[PATH_MAX];
    pid_t pid;

    lab_path(path, sizeof path, dir, "fabricd.pid");
    if (!fx_proc_pidfile_read(path, &pid, NULL) && fx_proc_alive(pid)
        && fx_proc_is(pid, "fabricd")) {
        return fx_err_set(err, -EEXIST, "a lab already runs in '%s' "
                          "(fabricd pid %d); run 'fexctl lab down --dir %s' "
                          "first", dir, (int) pid, dir);
    }
    return 0;
}

/* The lab's secret, DIR/secret (mode 0600), made at its first start and
 * kept: every daemon of the lab and fexctl --lab prove it. */
static int
lab_secret(struct cli *cli, const char *dir, struct fx_err *err)
{
    lab_path(cli->secret_path, sizeof cli->secret_path, dir, "secret");
    if (access(cli->secret_path, F_OK)
        && auth_key_create(cli->secret_path, err)) {
        return err->code;
    }
    cli->secret_file = cli->secret_path;
    return 0;
}

static int
lab_up(struct cli *cli, const struct lab_opts *o, struct fx_err *err)
{
    char addr[64];

    if (mkdir(o->dir, 0755) && errno != EEXIST) {
        return fx_err_set(err, -errno, "cannot create lab dir '%s': %s",
                          o->dir, strerror(errno));
    }
    if (lab_check_free(o->dir, err) || lab_secret(cli, o->dir, err)) {
        return err->code;
    }
    lab_stop_all(o->dir, NULL);       /* Stale files of a dead lab. */
    if (lab_start_fabric(cli, o, addr, sizeof addr, err)) {
        return err->code;
    }
    snprintf(cli->fabric_addr, sizeof cli->fabric_addr, "%s", addr);
    for (unsigned i = 1; i <= o->hosts; i++) {
        if (lab_start_agent(cli, o, i, addr, err)) {
            return err->code;
        }
    }
    return lab_wait_hosts(cli, o, err);
}

static void
lab_print_up(struct cli *cli, const struct lab_opts *o)
{
    struct json_object *obj;

    if (!cli->json) {
        printf("lab up: fabric at %s, %llu hosts (h1..h%llu), state and "
               "logs in %s\n", cli->fabric_addr,
               (unsigned long long) o->hosts, (unsigned long long) o->hosts,
               o->dir);
        return;
    }
    obj = json_object_new_object();
    json_object_object_add(obj, "fabric", json_object_new_string(
                                               cli->fabric_addr));
    json_object_object_add(obj, "hosts", json_object_new_int64(
                                              (int64_t) o->hosts));
    json_object_object_add(obj, "dir", json_object_new_string(o->dir));
    cli_print_json(obj);
}

static int
cmd_lab_up(struct cli *cli, const struct cli_cmd *cmd, int argc,
           char **argv)
{
    struct lab_opts o = { .hosts = 0, .vnics = 128, .hb_timeout_ms = 3000,
                          .libvirt = "test:///default", .flavor = "kvm" };
    struct fx_err err;
    int idx, rc;

    rc = cli_parse(cli, cmd, argc, argv, lab_up_opts, lab_opt,
                   &o, &idx);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.hosts || !o.dir || idx < argc) {
        return cli_usage_error("lab up", idx < argc ? "unexpected argument"
                               : "--hosts N and --dir DIR are required");
    }
    if (lab_no_iommu(&o, 0, &err)) {
        return cli_usage_error("lab up", "%s", err.msg);
    }
    if (lab_up(cli, &o, &err)) {
        lab_stop_all(o.dir, NULL);
        return cli_fail(&err);
    }
    lab_print_up(cli, &o);
    return CLI_OK;
}

static const struct option lab_down_opts[] = {
    { "dir", required_argument, NULL, LAB_DIR },
    { NULL, 0, NULL, 0 },
};

static int
cmd_lab_down(struct cli *cli, const struct cli_cmd *cmd, int argc,
             char **argv)
{
    struct lab_opts o = { 0 };
    char path[PATH_MAX];
    struct fx_err err;
    int idx, rc;

    rc = cli_parse(cli, cmd, argc, argv, lab_down_opts,
                   lab_opt, &o, &idx);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.dir || idx < argc) {
        return cli_usage_error("lab down", "--dir DIR is required");
    }
    lab_path(path, sizeof path, o.dir, "fabricd.pid");
    if (access(path, F_OK)) {
        fx_err_set(&err, -ENOENT, "no lab in '%s' (no fabricd.pid)", o.dir);
        return cli_fail(&err);
    }
    rc = lab_stop_all(o.dir, &err);
    if (rc < 0) {
        return cli_fail(&err);
    }
    if (cli->json) {
        struct json_object *obj = json_object_new_object();

        json_object_object_add(obj, "stopped", json_object_new_int(rc));
        cli_print_json(obj);
    } else {
        printf("lab down: stopped %d processes in %s\n", rc, o.dir);
    }
    return CLI_OK;
}

const struct cli_cmd cli_lab_cmds[] = {
    { "lab", "up", cmd_lab_up, "start fabricd and N agents on loopback",
      "Usage: fexctl lab up --hosts N --dir DIR [OPTIONS]\n"
      "Starts fabricd and N agents named h1..hN on loopback (free ports),\n"
      "waits until every host is registered, and writes DIR/fabric.addr,\n"
      "DIR/fabricd.pid and DIR/agentd-hN.pid.  Logs go to DIR/*.log.\n"
      "fabricd keeps its durable state in DIR/fabric-state and each agent in\n"
      "DIR/hN-state: a lab brought up again on the same DIR gets its hosts,\n"
      "profiles, VIFs and VMs back.\n"
      "\n"
      "  --hosts N                 number of hosts, 1-64 (required)\n"
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
      "SIGKILL after 5 s) and leaves no process behind.\n"
      "\n"
      "  --dir DIR    lab directory (required)\n"
      "  --json       print the result as JSON\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
