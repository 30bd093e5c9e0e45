/* fexctl host ...: the fabric's view of its hosts. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "auth.h"
#include "cli.h"
#include "fabric.pb-c.h"
#include "frame.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_parse.h"
#include "fx_version.h"
#include "pbenum.h"

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

static int
cmd_host_show(struct cli *cli, const struct cli_cmd *cmd, int argc,
              char **argv)
{
    static const struct cli_show s = {
        "Fabric.GetHost", &fexsim__v1__get_host_request__descriptor,
        &fexsim__v1__get_host_reply__descriptor, "name", "host", host_json,
        host_header, host_row,
    };

    return cli_show(cli, cmd, argc, argv, &s);
}

static struct json_object *
version_strings(char **v, size_t n)
{
    struct json_object *a = json_object_new_array();

    for (size_t i = 0; i < n; i++) {
        json_object_array_add(a, json_object_new_string(v[i]));
    }
    return a;
}

static void
version_print_list(const char *what, char **v, size_t n)
{
    printf("%-10s", what);
    for (size_t i = 0; i < n; i++) {
        printf("%s%s", i ? ", " : " ", v[i]);
    }
    printf("\n");
}

/* fexctl's versions and fabricd's (Fabric.GetVersion), so that a user
 * sees at once whether the two speak the same protocol. */
static int
cmd_version(struct cli *cli, const struct cli_cmd *cmd, int argc,
            char **argv)
{
    Fexsim__V1__GetVersionRequest req = FEXSIM__V1__GET_VERSION_REQUEST__INIT;
    Fexsim__V1__GetVersionReply *rep;
    char words[8][16], *flavors[8], flavor[16];
    struct fx_err err;
    size_t n_flavors;
    int idx, rc = cli_parse(cli, cmd, argc, argv, NULL, NULL, NULL, &idx);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (idx < argc) {
        return cli_usage_error("version", "unexpected argument '%s'",
                               argv[idx]);
    }
    if (cli_call(cli, "Fabric.GetVersion", &req.base,
                 &fexsim__v1__get_version_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    /* Flavours as words, as fabricd --flavor takes them. */
    pbenum_word(&fexsim__v1__flavor__descriptor, rep->flavor, flavor,
                sizeof flavor);
    n_flavors = rep->n_flavors < 8 ? rep->n_flavors : 8;
    for (size_t i = 0; i < n_flavors; i++) {
        flavors[i] = words[i];
        pbenum_word(&fexsim__v1__flavor__descriptor, rep->flavors[i],
                    words[i], sizeof words[i]);
    }
    if (cli->json) {
        struct json_object *o = json_object_new_object();
        struct json_object *me = json_object_new_object();
        struct json_object *f = json_object_new_object();

        json_object_object_add(me, "fexsim_version",
                               json_object_new_string(FX_VERSION_STRING));
        json_object_object_add(me, "protocol_version",
                               json_object_new_int(FRAME_VERSION));
        json_object_object_add(me, "handshake_version",
                               json_object_new_int(AUTH_VERSION));
        json_object_object_add(f, "fexsim_version",
                               json_object_new_string(rep->fexsim_version));
        json_object_object_add(f, "protocol_version",
                               json_object_new_int64(rep->protocol_version));
        json_object_object_add(f, "handshake_version",
                               json_object_new_int64(
                                   rep->handshake_version));
        json_object_object_add(f, "flavor",
                               json_object_new_string(flavor));
        json_object_object_add(f, "flavors",
                               version_strings(flavors, n_flavors));
        json_object_object_add(f, "features",
                               version_strings(rep->features,
                                               rep->n_features));
        json_object_object_add(f, "methods",
                               version_strings(rep->methods,
                                               rep->n_methods));
        json_object_object_add(o, "fexctl", me);
        json_object_object_add(o, "fabricd", f);
        cli_print_json(o);
    } else {
        printf("fexctl    %s, protocol %u, handshake %u\n",
               FX_VERSION_STRING, FRAME_VERSION, AUTH_VERSION);
        printf("fabricd   %s, protocol %u, handshake %u, flavor %s\n",
               rep->fexsim_version, rep->protocol_version,
               rep->handshake_version, flavor);
        version_print_list("flavors", flavors, n_flavors);
        version_print_list("features", rep->features, rep->n_features);
        version_print_list("methods", rep->methods, rep->n_methods);
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
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
    { "host", "show", cmd_host_show, "show one host",
      "Usage: fexctl host show NAME [--json]\n"
      "Shows host NAME as 'host list' does (Fabric.GetHost).\n"
      "\n"
      "  --json    print its JSON object\n" },
    { "version", "", cmd_version, "fexctl's and fabricd's versions",
      "Usage: fexctl version [--json]\n"
      "Prints fexctl's version and protocol, and fabricd's\n"
      "(Fabric.GetVersion): its version, protocol and handshake versions,\n"
      "its flavour and those it runs, its features and the methods it\n"
      "serves to an operator.\n"
      "\n"
      "  --json    print one JSON document {\"fexctl\": {...}, "
      "\"fabricd\": {...}}\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
