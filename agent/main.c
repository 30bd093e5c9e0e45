/* agentd: the host agent daemon, one per host.  main() parses flags and
 * wires the modules; the work is in agentd.c. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agentd.h"
#include "fx_daemon.h"
#include "fx_err.h"
#include "fx_fault.h"
#include "fx_limits.h"
#include "fx_parse.h"
#include "log.h"

LOG_MODULE("main");

/* The faults this daemon can reach: an agent never runs begin (fabricd
 * does); it starts the incoming domain. */
static const char FAULTS[] =
    "crash@prepare crash@perform crash@switchover crash@finish "
    "crash@confirm fail@resume fail@release hvstall";

static const char usage[] =
    "Usage: agentd --host NAME [OPTIONS]\n"
    "The fexsim host agent: VIC adapter, VMs through libvirt, migration.\n"
    "\n"
    "  --host NAME               this host's name in the fabric (required)\n"
    "  --fabric HOST:PORT        fabricd's address (default 127.0.0.1:7800)\n"
    "  --listen HOST:PORT        our RPC address (default 127.0.0.1:0,\n"
    "                            any port); migrations' page streams\n"
    "                            listen on its HOST too\n"
    "  --migration-ports P[-Q]   each incoming migration's page stream\n"
    "                            takes the first free port of P..Q, for a\n"
    "                            firewall (default: any port)\n"
    "  --libvirt URI             hypervisor (default test:///default,\n"
    "                            embedded)\n"
    "  --vnics N                 dynamic vNICs on the VIC (default 128,\n"
    "                            M81KR)\n"
    "  --memory MIB              host memory for VM reservations\n"
    "                            (default 65536)\n"
    "  --no-iommu                the host lacks VT-d/AMD-Vi: no passthrough\n"
    "  --chassis N --slot S      the host is the blade in slot S (1-8) of\n"
    "                            chassis N (1-1024), UCSM's\n"
    "                            sys/chassis-N/blade-S: told to the fabric\n"
    "                            ('fexctl host list' shows it)\n"
    "  --state DIR               keep the host's state in DIR: with the test\n"
    "                            driver its domains (DIR/node.xml, opened as\n"
    "                            test:///DIR/node.xml), and the vNICs' bind\n"
    "                            settings (DIR/vnics); a restarted agent\n"
    "                            finds its VMs and vNICs again.  Without it,\n"
    "                            a test driver host starts empty\n"
    "  --flavor kvm|vmware|failover\n"
    "                            how passthrough vNICs migrate (default kvm;\n"
    "                            failover: QEMU guests only, agentd --guest)\n"
    "  --guest DIR               with QEMU (--libvirt qemu:///...): boot\n"
    "                            each VM from DIR/vmlinuz and\n"
    "                            DIR/initrd.img (make guest), its NICs\n"
    "                            virtio-net on UDP sockets to this agent\n"
    "  --guest-dirty-rate N      with --guest: each guest writes N pages/s of\n"
    "                            its memory from inside (default 0)\n"
    "  --peer-libvirt URI        with --guest: another host's libvirtd,\n"
    "                            %s standing for its name, e.g.\n"
    "                            qemu+tcp://%s/system: real guests migrate\n"
    "                            there by libvirt's live migration\n"
    "  --backoff-max MS          longest reconnect delay (default 2000)\n"
    "  --log-level LEVEL         err, warn, info or dbg (default info)\n"
    FX_DAEMON_TRUST_USAGE
    FX_DAEMON_PROC_USAGE
    FX_FAULT_USAGE_CRASH("prepare, perform, switchover, finish,\n"
                         "                            confirm")
    FX_FAULT_USAGE_RESUME
    FX_FAULT_USAGE_RELEASE
    FX_FAULT_USAGE_HVSTALL
    "  -h, --help                show this help\n";

enum { OPT_HOST = 256, OPT_FABRIC, OPT_LISTEN, OPT_LIBVIRT, OPT_VNICS,
       OPT_BACKOFF_MAX, OPT_LOG_LEVEL, OPT_MEMORY, OPT_NO_IOMMU,
       OPT_STATE, OPT_FLAVOR, OPT_FAULT, OPT_MIG_PORTS, OPT_CHASSIS,
       OPT_SLOT, OPT_GUEST, OPT_PEER_LIBVIRT, OPT_GUEST_DIRTY };

static const struct option options[] = {
    { "host", required_argument, NULL, OPT_HOST },
    { "fabric", required_argument, NULL, OPT_FABRIC },
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "migration-ports", required_argument, NULL, OPT_MIG_PORTS },
    { "libvirt", required_argument, NULL, OPT_LIBVIRT },
    { "vnics", required_argument, NULL, OPT_VNICS },
    { "memory", required_argument, NULL, OPT_MEMORY },
    { "no-iommu", no_argument, NULL, OPT_NO_IOMMU },
    { "chassis", required_argument, NULL, OPT_CHASSIS },
    { "slot", required_argument, NULL, OPT_SLOT },
    { "state", required_argument, NULL, OPT_STATE },
    { "flavor", required_argument, NULL, OPT_FLAVOR },
    { "guest", required_argument, NULL, OPT_GUEST },
    { "guest-dirty-rate", required_argument, NULL, OPT_GUEST_DIRTY },
    { "peer-libvirt", required_argument, NULL, OPT_PEER_LIBVIRT },
    { "fault", required_argument, NULL, OPT_FAULT },
    { "backoff-max", required_argument, NULL, OPT_BACKOFF_MAX },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    FX_DAEMON_TRUST_OPTIONS,
    FX_DAEMON_PROC_OPTIONS,
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* "P" or "P-Q", 1 <= P <= Q <= 65535. */
static int
parse_ports(const char *arg, struct agentd_cfg *cfg, struct fx_err *err)
{
    const char *dash = strchr(arg, '-');
    char first[16];
    uint64_t p, q;

    snprintf(first, sizeof first, "%.*s",
             (int) (dash ? (size_t) (dash - arg) : strlen(arg)), arg);
    if (fx_parse_u64(first, 1, 65535, &p, "--migration-ports", err)
        || fx_parse_u64(dash ? dash + 1 : first, p, 65535, &q,
                        "--migration-ports' last port", err)) {
        return -1;
    }
    cfg->mig_port_first = (uint16_t) p;
    cfg->mig_port_last = (uint16_t) q;
    return 0;
}

static int
parse_option(int opt, const char *arg, void *cfg_, struct fx_err *err)
{
    struct agentd_cfg *cfg = cfg_;
    int trust = fx_daemon_trust_option(opt, arg, &cfg->trust, err);
    uint64_t v;

    if (trust) {
        return trust < 0 ? -1 : 0;
    }
    switch (opt) {
    case OPT_HOST: cfg->host = arg; return 0;
    case OPT_FABRIC: cfg->fabric = arg; return 0;
    case OPT_LISTEN: cfg->listen = arg; return 0;
    case OPT_MIG_PORTS: return parse_ports(arg, cfg, err);
    case OPT_LIBVIRT: cfg->libvirt_uri = arg; return 0;
    case OPT_GUEST: cfg->guest_dir = arg; return 0;
    case OPT_GUEST_DIRTY:
        return fx_parse_u64(arg, 0, 1000000, &cfg->guest_dirty_rate,
                            "--guest-dirty-rate", err) ? -1 : 0;
    case OPT_PEER_LIBVIRT: {
        const char *p = strchr(arg, '%');

        /* One "%s", nothing else a printf would read. */
        if (!p || p[1] != 's' || strchr(p + 2, '%')) {
            return fx_err_set(err, -EINVAL, "--peer-libvirt '%s' must hold "
                              "exactly one %%s (the host's name)", arg);
        }
        cfg->peer_libvirt = arg;
        return 0;
    }
    case OPT_VNICS:
        if (fx_parse_u64(arg, 1, 4096, &v, "vNIC count", err)) {
            return -1;
        }
        cfg->vnics = (uint32_t) v;
        return 0;
    case OPT_MEMORY:
        if (fx_parse_u64(arg, 1, UINT32_MAX, &v, "memory MiB", err)) {
            return -1;
        }
        cfg->memory_mib = v;
        return 0;
    case OPT_NO_IOMMU: cfg->iommu = 0; return 0;
    case OPT_CHASSIS:
        if (fx_parse_u64(arg, 1, FX_LIMITS_MAX_CHASSIS, &v, "--chassis",
                         err)) {
            return -1;
        }
        cfg->chassis = (uint32_t) v;
        return 0;
    case OPT_SLOT:
        if (fx_parse_u64(arg, 1, FX_LIMITS_CHASSIS_SLOTS, &v, "--slot",
                         err)) {
            return -1;
        }
        cfg->slot = (uint32_t) v;
        return 0;
    case OPT_STATE: cfg->state_dir = arg; return 0;
    case OPT_FAULT: return fx_fault_parse(arg, FAULTS, err) ? -1 : 0;
    case OPT_FLAVOR: return fx_daemon_flavor(arg, &cfg->flavor, err) ? -1 : 0;
    case OPT_BACKOFF_MAX:
        if (fx_parse_u64(arg, 100, 600000, &v, "milliseconds", err)) {
            return -1;
        }
        cfg->backoff_max_ms = (uint32_t) v;
        return 0;
    case OPT_LOG_LEVEL:
        return fx_daemon_log_level(arg, err) ? -1 : 0;
    default:
        fx_err_set(err, -EINVAL, "option %d has no handler", opt);
        return -1;
    }
}

static int
agentd_main_create(struct event_base *base, const void *cfg, void **dp,
                   struct fx_err *err)
{
    struct agentd *ag;
    int rc = agentd_create(base, cfg, &ag, err);

    *dp = rc ? NULL : ag;
    return rc;
}

static void
agentd_main_started(const void *ag, const void *cfg)
{
    const struct agentd_cfg *c = cfg;

    LOG_INFO("host '%s' serving RPC on %s (lab secret: key fingerprint %s)",
             c->host, agentd_addr(ag), agentd_key_fp(ag));
}

static int
agentd_main_fatal(const void *ag, struct fx_err *err)
{
    return agentd_fatal(ag, err);
}

static void
agentd_main_destroy(void *ag)
{
    agentd_destroy(ag);
}

static const struct fx_daemon_class agentd_class = {
    .prog = "agentd",
    .usage = usage,
    .options = options,
    .parse = parse_option,
    .create = agentd_main_create,
    .started = agentd_main_started,
    .fatal = agentd_main_fatal,
    .destroy = agentd_main_destroy,
    /* Its configuration is its command line. */
    .einval_is_usage = 1,
};

int
main(int argc, char **argv)
{
    struct agentd_cfg cfg;

    agentd_cfg_init(&cfg);
    return fx_daemon_main(argc, argv, &agentd_class, &cfg);
}
