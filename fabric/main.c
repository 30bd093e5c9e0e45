/* fabricd: the fabric manager daemon.  main() parses flags and wires the
 * modules; everything else lives in fabricd.c and the modules it owns. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>

#include "fabricd.h"
#include "fx_daemon.h"
#include "fx_err.h"
#include "fx_fault.h"
#include "fx_parse.h"
#include "log.h"

LOG_MODULE("main");

/* The faults this daemon can reach: fabricd reaches each phase as the
 * coordinator, and its store can fill up. */
static const char FAULTS[] =
    "crash@begin crash@prepare crash@perform crash@switchover "
    "crash@finish crash@confirm nospace";

static const char usage[] =
    "Usage: fabricd [OPTIONS]\n"
    "The fexsim fabric manager: hosts, port profiles, VIFs, switching.\n"
    "\n"
    "  --listen HOST:PORT        RPC address (default 127.0.0.1:7800;\n"
    "                            port 0 picks a free port)\n"
    "  --uplink-listen HOST:PORT data plane uplinks (default 127.0.0.1:0;\n"
    "                            agents ask for the port at registration)\n"
    "  --addr-file PATH          write the bound HOST:PORT to PATH\n"
    "  --http HOST:PORT          serve the topology page (/), its data\n"
    "                            (/api/state, /api/events) and /metrics\n"
    "                            (Prometheus): on loopback to anyone,\n"
    "                            elsewhere only with the lab secret as a\n"
    "                            bearer token (port 0: any)\n"
    "  --http-addr-file PATH     write the HTTP server's HOST:PORT to PATH\n"
    "  --state DIR               keep hosts, profiles, VIFs and VMs durable\n"
    "                            in DIR/fabric.db and reload them at start;\n"
    "                            refuses to start on a damaged state file.\n"
    "                            Without it, all state is in memory only\n"
    "  --flavor kvm|vmware|failover\n"
    "                            how passthrough vNICs migrate (default kvm;\n"
    "                            failover: QEMU guests only, agentd --guest)\n"
    "  --offline-retention MIN   VM lifecycle policy: a VIF (and its dynamic\n"
    "                            vNIC) offline this long is removed\n"
    "                            (1-7200 minutes, default 15)\n"
    "  --events-keep N           events kept for subscribers to resume\n"
    "                            from (DIR/events.db with --state; default\n"
    "                            10000)\n"
    "  --heartbeat-interval MS   interval agents must beat at (default 1000)\n"
    "  --heartbeat-timeout MS    silence before a host is down (default 3000)\n"
    "  --log-level LEVEL         err, warn, info or dbg (default info)\n"
    FX_DAEMON_TRUST_USAGE
    FX_DAEMON_PROC_USAGE
    FX_FAULT_USAGE_CRASH("begin, prepare, perform, switchover,\n"
                         "                            finish, confirm")
    FX_FAULT_USAGE_NOSPACE
    "  -h, --help                show this help\n";

enum { OPT_LISTEN = 256, OPT_ADDR_FILE, OPT_HB_INTERVAL, OPT_HB_TIMEOUT,
       OPT_LOG_LEVEL, OPT_UPLINK_LISTEN, OPT_STATE, OPT_FLAVOR, OPT_FAULT,
       OPT_RETENTION, OPT_EVENTS_KEEP, OPT_HTTP, OPT_HTTP_ADDR_FILE };

static const struct option options[] = {
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "addr-file", required_argument, NULL, OPT_ADDR_FILE },
    { "uplink-listen", required_argument, NULL, OPT_UPLINK_LISTEN },
    { "heartbeat-interval", required_argument, NULL, OPT_HB_INTERVAL },
    { "heartbeat-timeout", required_argument, NULL, OPT_HB_TIMEOUT },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "state", required_argument, NULL, OPT_STATE },
    { "flavor", required_argument, NULL, OPT_FLAVOR },
    { "fault", required_argument, NULL, OPT_FAULT },
    { "offline-retention", required_argument, NULL, OPT_RETENTION },
    { "events-keep", required_argument, NULL, OPT_EVENTS_KEEP },
    { "http", required_argument, NULL, OPT_HTTP },
    { "http-addr-file", required_argument, NULL, OPT_HTTP_ADDR_FILE },
    FX_DAEMON_TRUST_OPTIONS,
    FX_DAEMON_PROC_OPTIONS,
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* Applies one option to 'cfg'.  Returns 0, or -1 with 'err' filled. */
static int
parse_option(int opt, const char *arg, void *cfg_, struct fx_err *err)
{
    struct fabricd_cfg *cfg = cfg_;
    int trust = fx_daemon_trust_option(opt, arg, &cfg->trust, err);
    uint64_t v;

    if (trust) {
        return trust < 0 ? -1 : 0;
    }
    switch (opt) {
    case OPT_LISTEN: cfg->listen = arg; return 0;
    case OPT_ADDR_FILE: cfg->addr_file = arg; return 0;
    case OPT_HTTP: cfg->http = arg; return 0;
    case OPT_HTTP_ADDR_FILE: cfg->http_addr_file = arg; return 0;
    case OPT_UPLINK_LISTEN: cfg->uplink_listen = arg; return 0;
    case OPT_STATE: cfg->state_dir = arg; return 0;
    case OPT_FAULT: return fx_fault_parse(arg, FAULTS, err) ? -1 : 0;
    case OPT_FLAVOR: return fx_daemon_flavor(arg, &cfg->flavor, err) ? -1 : 0;
    case OPT_HB_INTERVAL:
    case OPT_HB_TIMEOUT:
        if (fx_parse_u64(arg, 1, 3600000, &v, "milliseconds", err)) {
            return -1;
        }
        *(opt == OPT_HB_INTERVAL ? &cfg->heartbeat_interval_ms
                                 : &cfg->heartbeat_timeout_ms) = (uint32_t) v;
        return 0;
    case OPT_EVENTS_KEEP:
        if (fx_parse_u64(arg, 1, 10000000, &v, "--events-keep", err)) {
            return -1;
        }
        cfg->events_keep = (uint32_t) v;
        return 0;
    case OPT_RETENTION:
        if (fx_parse_u64(arg, 1, 7200, &v, "minutes", err)) {
            return -1;
        }
        cfg->offline_retention_min = (uint32_t) v;
        return 0;
    case OPT_LOG_LEVEL:
        return fx_daemon_log_level(arg, err) ? -1 : 0;
    default:
        fx_err_set(err, -EINVAL, "option %d has no handler", opt);
        return -1;
    }
}

static int
fabricd_main_create(struct event_base *base, const void *cfg, void **dp,
                    struct fx_err *err)
{
    struct fabricd *fd;
    int rc = fabricd_create(base, cfg, &fd, err);

    *dp = rc ? NULL : fd;
    return rc;
}

static void
fabricd_main_started(const void *fd, const void *cfg)
{
    (void) cfg;
    LOG_INFO("listening on %s (lab secret: key fingerprint %s)",
             fabricd_addr(fd), fabricd_key_fp(fd));
    if (fabricd_http_addr(fd)) {
        LOG_INFO("serving http://%s/ (topology page, /metrics)",
                 fabricd_http_addr(fd));
    }
}

static void
fabricd_main_destroy(void *fd)
{
    fabricd_destroy(fd);
}

static const struct fx_daemon_class fabricd_class = {
    .prog = "fabricd",
    .usage = usage,
    .options = options,
    .parse = parse_option,
    .create = fabricd_main_create,
    .started = fabricd_main_started,
    .fatal = NULL,
    .destroy = fabricd_main_destroy,
    /* -EINVAL is also a damaged state file: exit 1 as for any failure. */
    .einval_is_usage = 0,
};

int
main(int argc, char **argv)
{
    struct fabricd_cfg cfg;

    fabricd_cfg_init(&cfg);
    return fx_daemon_main(argc, argv, &fabricd_class, &cfg);
}
