/* fexctl profile ...: port profiles. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_parse.h"
#include "vmfex.pb-c.h"

struct profile_opts {
    uint32_t vlans[FX_LIMITS_PROFILE_MAX_VLANS];
    size_t n_vlans;
    uint64_t max_ports;
    const char *qos;
    int high_performance;
};

enum { P_VLAN = 1, P_MAX_PORTS, P_QOS, P_HP };

static const struct option profile_create_opts[] = {
    { "vlan", required_argument, NULL, P_VLAN },
    { "max-ports", required_argument, NULL, P_MAX_PORTS },
    { "qos", required_argument, NULL, P_QOS },
    { "high-performance", no_argument, NULL, P_HP },
    { NULL, 0, NULL, 0 },
};

static int
profile_opt(void *arg, int opt, const char *val)
{
    struct profile_opts *o = arg;
    struct fx_err err;
    int rc = 0;

    switch (opt) {
    case P_VLAN:
        rc = args_parse_vlans(val, o->vlans, FX_LIMITS_PROFILE_MAX_VLANS,
                              &o->n_vlans, &err);
        break;
    case P_MAX_PORTS:
        rc = fx_parse_u64(val, 1, FX_LIMITS_PROFILE_MAX_PORTS_LIMIT,
                          &o->max_ports, "--max-ports", &err);
        break;
    case P_QOS: o->qos = val; break;
    case P_HP: o->high_performance = 1; break;
    default: break;
    }
    return rc ? cli_usage_error("profile create", "%s", err.msg) : 0;
}

/* Reports that profile 'name' was 'what' ("created", "deleted"). */
static void
profile_done(struct cli *cli, const char *name, const char *what)
{
    struct json_object *o;

    if (!cli->json) {
        printf("profile '%s' %s\n", name, what);
        return;
    }
    o = json_object_new_object();
    json_object_object_add(o, "profile", json_object_new_string(name));
    json_object_object_add(o, what, json_object_new_boolean(1));
    cli_print_json(o);
}

static int
cmd_profile_create(struct cli *cli, const struct cli_cmd *cmd, int argc,
                   char **argv)
{
    Fexsim__V1__CreateProfileRequest req =
        FEXSIM__V1__CREATE_PROFILE_REQUEST__INIT;
    Fexsim__V1__PortProfile p = FEXSIM__V1__PORT_PROFILE__INIT;
    struct profile_opts o = { .qos = "" };
    ProtobufCMessage *rep;
    struct fx_err err;
    const char *name;
    int rc = args_parse_named(cli, cmd, argc, argv, "profile NAME", &name,
                              profile_create_opts, profile_opt, &o);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.n_vlans) {
        return cli_usage_error("profile create", "--vlan ID[,ID...] is "
                               "required");
    }
    p.name = (char *) name;
    p.vlans = o.vlans;
    p.n_vlans = o.n_vlans;
    p.max_ports = (uint32_t) o.max_ports;
    p.qos = (char *) o.qos;
    p.high_performance = o.high_performance;
    req.profile = &p;
    rc = cli_call(cli, "Profiles.Create", &req.base,
                  &fexsim__v1__create_profile_reply__descriptor, &rep, &err);
    if (!rc) {
        protobuf_c_message_free_unpacked(rep, NULL);
        profile_done(cli, name, "created");
    }
    return args_done(rc, &err);
}

static int
cmd_profile_delete(struct cli *cli, const struct cli_cmd *cmd, int argc,
                   char **argv)
{
    Fexsim__V1__DeleteProfileRequest req =
        FEXSIM__V1__DELETE_PROFILE_REQUEST__INIT;
    ProtobufCMessage *rep;
    struct fx_err err;
    const char *name;
    int rc = args_parse_named(cli, cmd, argc, argv, "profile NAME", &name,
                              NULL, NULL, NULL);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    req.name = (char *) name;
    rc = cli_call(cli, "Profiles.Delete", &req.base,
                  &fexsim__v1__delete_profile_reply__descriptor, &rep, &err);
    if (!rc) {
        protobuf_c_message_free_unpacked(rep, NULL);
        profile_done(cli, name, "deleted");
    }
    return args_done(rc, &err);
}

static void
vlans_str(const Fexsim__V1__PortProfile *p, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < p->n_vlans && len < size; i++) {
        len += (size_t) snprintf(buf + len, size - len, "%s%u",
                                 i ? "," : "", p->vlans[i]);
    }
}

static struct json_object *
profile_json(const ProtobufCMessage *m)
{
    const Fexsim__V1__PortProfile *p = (const Fexsim__V1__PortProfile *) m;
    struct json_object *o = json_object_new_object();
    struct json_object *v = json_object_new_array();

    for (size_t i = 0; i < p->n_vlans; i++) {
        json_object_array_add(v, json_object_new_int(p->vlans[i]));
    }
    json_object_object_add(o, "name", json_object_new_string(p->name));
    json_object_object_add(o, "vlans", v);
    json_object_object_add(o, "max_ports", json_object_new_int64(
                               p->max_ports));
    json_object_object_add(o, "ports_used", json_object_new_int64(
                               p->ports_used));
    json_object_object_add(o, "qos", json_object_new_string(p->qos));
    json_object_object_add(o, "high_performance",
                           json_object_new_boolean(p->high_performance));
    return o;
}

static void
profile_header(void)
{
    printf("%-16s %-20s %-11s %-12s %s\n", "NAME", "VLANS", "PORTS", "QOS",
           "HIGH-PERFORMANCE");
}

static void
profile_row(const ProtobufCMessage *m)
{
    const Fexsim__V1__PortProfile *p = (const Fexsim__V1__PortProfile *) m;
    char vl[64], ports[24];

    vlans_str(p, vl, sizeof vl);
    snprintf(ports, sizeof ports, "%u/%u", p->ports_used, p->max_ports);
    printf("%-16s %-20s %-11s %-12s %s\n", p->name, vl, ports, p->qos,
           p->high_performance ? "yes" : "no");
}

static int
cmd_profile_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
                 char **argv)
{
    static const struct cli_list l = {
        "Profiles.List", &fexsim__v1__list_profiles_request__descriptor,
        &fexsim__v1__list_profiles_reply__descriptor, "profiles", 0,
        profile_json, profile_header, profile_row, NULL, NULL,
    };

    return cli_list(cli, cmd, argc, argv, &l);
}

const struct cli_cmd cli_profile_cmds[] = {
    { "profile", "create", cmd_profile_create, "create a port profile",
      "Usage: fexctl profile create NAME --vlan ID[,ID...] [--max-ports N]\n"
      "                             [--qos CLASS] [--high-performance]\n"
      "Creates port profile NAME (1-39 of A-Z a-z 0-9 . _ -).\n"
      "\n"
      "  --vlan ID[,ID...]     VLANs, each 1-4094, at most 64 (required):\n"
      "                        the first is native (untagged frames), and\n"
      "                        every VIF on the profile carries them all\n"
      "  --max-ports N         most VIFs at once, 1-4096 (default 64)\n"
      "  --qos CLASS           best-effort (default), bronze, silver, gold,\n"
      "                        platinum or fc\n"
      "  --high-performance    VM-FEX high-performance mode: DirectPath NICs\n"
      "                        on it keep migration, hot add/remove,\n"
      "                        snapshots, record/replay, FT and HA\n"
      "  --json                print {\"profile\": NAME, \"created\": true}\n"
},
    { "profile", "delete", cmd_profile_delete, "delete an unused profile",
      "Usage: fexctl profile delete NAME\n"
      "Deletes port profile NAME; refused while any VIF uses it.\n"
      "\n"
      "  --json    print {\"profile\": NAME, \"deleted\": true}\n" },
    { "profile", "list", cmd_profile_list, "list port profiles",
      "Usage: fexctl profile list [--json]\n"
      "Lists port profiles: VLANs, ports used/maximum, QoS class and\n"
      "whether high-performance (DirectPath) mode is on.\n"
      "\n"
      "  --json    print one JSON document {\"profiles\": [...]}\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
