/* fexctl host ...: the fabric's view of its hosts. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "fabric.pb-c.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_parse.h"

static const char *
host_state_str(Fexsim__V1__HostState s)
{
    switch (s) {
    case FEXSIM__V1__HOST_STATE__HOST_STATE_UP: return "up";
    case FEXSIM__V1__HOST_STATE__HOST_STATE_DOWN: return "down";
    default: return "unknown";
    }
}

static struct json_object *
host_json(const ProtobufCMessage *m)
{
    const Fexsim__V1__Host *h = (const Fexsim__V1__Host *) m;
    struct json_object *o = json_object_new_object();
    const Fexsim__V1__AdapterSummary *ad = h->adapter;

    json_object_object_add(o, "name", json_object_new_string(h->name));
    json_object_object_add(o, "state",
                           json_object_new_string(host_state_str(h->state)));
    json_object_object_add(o, "chassis", json_object_new_int64(h->chassis));
    json_object_object_add(o, "slot", json_object_new_int64(h->slot));
    json_object_object_add(o, "address", json_object_new_string(h->rpc_addr));
    json_object_object_add(o, "hypervisor",
                           json_object_new_string(h->hypervisor));
    json_object_object_add(o, "hypervisor_version",
                           json_object_new_string(h->hypervisor_version));
    json_object_object_add(o, "adapter",
                           json_object_new_string(ad ? ad->model : ""));
    json_object_object_add(o, "vnics_free",
                           json_object_new_int64(ad ? ad->vnics_free : 0));
    json_object_object_add(o, "vnics_total",
                           json_object_new_int64(ad ? ad->vnics_total : 0));
    json_object_object_add(o, "down_reason",
                           json_object_new_string(h->down_reason));
    json_object_object_add(o, "last_seen_ms_ago",
                           json_object_new_int64((int64_t)
                                                 h->last_seen_ms_ago));
    return o;
}

static void
host_header(void)
{
    printf("%-12s %-6s %-7s %-22s %-16s %-11s %s\n", "NAME", "STATE",
           "SERVER", "ADDRESS", "HYPERVISOR", "VNICS FREE", "NOTE");
}

static void
host_row(const ProtobufCMessage *m)
{
    const Fexsim__V1__Host *h = (const Fexsim__V1__Host *) m;
    char hv[64], vn[32], server[24] = "-";

    snprintf(hv, sizeof hv, "%s %s", h->hypervisor, h->hypervisor_version);
    snprintf(vn, sizeof vn, "%u/%u", h->adapter ? h->adapter->vnics_free : 0,
             h->adapter ? h->adapter->vnics_total : 0);
    /* UCSM's CLI names a blade server CHASSIS/SLOT ("scope server 1/3"). */
    if (h->chassis) {
        snprintf(server, sizeof server, "%u/%u", h->chassis, h->slot);
    }
    printf("%-12s %-6s %-7s %-22s %-16s %-11s %s\n", h->name,
           host_state_str(h->state), server, h->rpc_addr, hv, vn,
           h->down_reason);
}

enum { HOST_OPT_CHASSIS = 1 };

static const struct option host_list_opts[] = {
    { "chassis", required_argument, NULL, HOST_OPT_CHASSIS },
    { NULL, 0, NULL, 0 },
};

static int
host_list_opt(void *arg, int opt, const char *val)
{
    Fexsim__V1__ListHostsRequest *req = arg;
    struct fx_err err;
    uint64_t v;

    if (opt != HOST_OPT_CHASSIS) {
        return 0;
    }
    if (fx_parse_u64(val, 1, FX_LIMITS_MAX_CHASSIS, &v, "--chassis",
                     &err)) {
        return cli_usage_error("host list", "%s", err.msg);
    }
    req->chassis = (uint32_t) v;
    return 0;
}

static int
cmd_host_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
              char **argv)
{
    static const struct cli_list l = {
        "Fabric.ListHosts", &fexsim__v1__list_hosts_request__descriptor,
        &fexsim__v1__list_hosts_reply__descriptor, "hosts", 0, host_json,
        host_header, host_row, host_list_opts, host_list_opt,
    };

    return cli_list(cli, cmd, argc, argv, &l);
}

const struct cli_cmd cli_host_cmds[] = {
    { "host", "list", cmd_host_list, "list hosts and their state",
      "Usage: fexctl host list [--chassis N] [--json]\n"
      "Lists every host the fabric knows, in natural order of names: name,\n"
      "state (up or down, with the reason), the blade server it is as\n"
      "CHASSIS/SLOT (UCSM's sys/chassis-N/blade-S, as its agent registered\n"
      "it; '-' if not told), agent address, hypervisor, and free/total\n"
      "dynamic vNICs.\n"
      "\n"
      "  --chassis N    only the hosts of chassis N\n"
      "  --json         print one JSON document {\"hosts\": [...]}; each\n"
      "                 host's \"chassis\" and \"slot\" are 0 if not told\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
