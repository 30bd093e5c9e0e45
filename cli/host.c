/* fexctl host ...: the fabric's view of its hosts. */
#include <stdio.h>

#include "cli.h"
#include "fabric.pb-c.h"
#include "fx_err.h"

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
host_json(const Fexsim__V1__Host *h)
{
    struct json_object *o = json_object_new_object();
    const Fexsim__V1__AdapterSummary *ad = h->adapter;

    json_object_object_add(o, "name", json_object_new_string(h->name));
    json_object_object_add(o, "state",
                           json_object_new_string(host_state_str(h->state)));
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
host_print_table(const Fexsim__V1__ListHostsReply *rep)
{
    printf("%-12s %-6s %-22s %-16s %-11s %s\n", "NAME", "STATE", "ADDRESS",
           "HYPERVISOR", "VNICS FREE", "NOTE");
    for (size_t i = 0; i < rep->n_hosts; i++) {
        const Fexsim__V1__Host *h = rep->hosts[i];
        char hv[64], vn[32];

        snprintf(hv, sizeof hv, "%s %s", h->hypervisor,
                 h->hypervisor_version);
        snprintf(vn, sizeof vn, "%u/%u", h->adapter ? h->adapter->vnics_free
                                                    : 0,
                 h->adapter ? h->adapter->vnics_total : 0);
        printf("%-12s %-6s %-22s %-16s %-11s %s\n", h->name,
               host_state_str(h->state), h->rpc_addr, hv, vn,
               h->down_reason);
    }
}

static int
cmd_host_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
              char **argv)
{
    Fexsim__V1__ListHostsRequest req = FEXSIM__V1__LIST_HOSTS_REQUEST__INIT;
    Fexsim__V1__ListHostsReply *rep;
    int rc;

    rc = cli_simple_call(cli, cmd, argc, argv, "Fabric.ListHosts", &req.base,
                         &fexsim__v1__list_hosts_reply__descriptor,
                         (ProtobufCMessage **) &rep);
    if (rc >= 0) {
        return rc;
    }
    if (cli->json) {
        struct json_object *arr = json_object_new_array();
        struct json_object *obj = json_object_new_object();

        for (size_t i = 0; i < rep->n_hosts; i++) {
            json_object_array_add(arr, host_json(rep->hosts[i]));
        }
        json_object_object_add(obj, "hosts", arr);
        cli_print_json(obj);
    } else {
        host_print_table(rep);
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

const struct cli_cmd cli_host_cmds[] = {
    { "host", "list", cmd_host_list, "list hosts and their state",
      "Usage: fexctl host list [--json]\n"
      "Lists every host the fabric knows: name, state (up or down, with the\n"
      "reason), agent address, hypervisor, and free/total dynamic vNICs.\n"
      "\n"
      "  --json    print one JSON document {\"hosts\": [...]}\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
