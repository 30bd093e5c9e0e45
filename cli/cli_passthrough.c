/* fexctl host passthrough|reboot: a host's passthrough configuration, as
 * the seed walks through it. */
#include <getopt.h>
#include <stdio.h>

#include "args.h"
#include "cli.h"
#include "fx_err.h"
#include "vmfex.pb-c.h"

struct pt_opts {
    const char *enable;
    int force;
};

enum { PT_ENABLE = 1, PT_FORCE };

static const struct option pt_opts_spec[] = {
    { "enable", required_argument, NULL, PT_ENABLE },
    { "force", no_argument, NULL, PT_FORCE },
    { NULL, 0, NULL, 0 },
};

static int
pt_opt(void *arg, int opt, const char *val)
{
    struct pt_opts *o = arg;

    if (opt == PT_ENABLE) {
        o->enable = val;
    } else if (opt == PT_FORCE) {
        o->force = 1;
    }
    return 0;
}

static const char *
pt_state(Fexsim__V1__PciState s)
{
    switch (s) {
    case FEXSIM__V1__PCI_STATE__PCI_STATE_PENDING_REBOOT:
        return "pending reboot";
    case FEXSIM__V1__PCI_STATE__PCI_STATE_ACTIVE: return "active";
    default: return "disabled";
    }
}

static void
pt_show(struct cli *cli, const char *host,
        const Fexsim__V1__PassthroughReply *rep)
{
    if (cli->json) {
        struct json_object *o = json_object_new_object();
        struct json_object *arr = json_object_new_array();

        for (size_t i = 0; i < rep->n_devices; i++) {
            const Fexsim__V1__PciDevice *d = rep->devices[i];
            struct json_object *j = json_object_new_object();

            json_object_object_add(j, "address",
                                   json_object_new_string(d->address));
            json_object_object_add(j, "description",
                                   json_object_new_string(d->description));
            json_object_object_add(j, "host_uses",
                                   json_object_new_boolean(d->host_uses));
            json_object_object_add(j, "state",
                                   json_object_new_string(pt_state(d->state)));
            json_object_array_add(arr, j);
        }
        json_object_object_add(o, "host", json_object_new_string(host));
        json_object_object_add(o, "supported",
                               json_object_new_boolean(rep->supported));
        json_object_object_add(o, "message",
                               json_object_new_string(rep->message));
        json_object_object_add(o, "devices", arr);
        cli_print_json(o);
        return;
    }
    printf("%s: %s\n", host, rep->message);
    if (rep->n_devices) {
        printf("%-14s %-16s %-9s %s\n", "ADDRESS", "STATE", "HOST USES",
               "DEVICE");
    }
    for (size_t i = 0; i < rep->n_devices; i++) {
        const Fexsim__V1__PciDevice *d = rep->devices[i];

        printf("%-14s %-16s %-9s %s\n", d->address, pt_state(d->state),
               d->host_uses ? "yes" : "no", d->description);
    }
}

static int
cmd_host_passthrough(struct cli *cli, const struct cli_cmd *cmd, int argc,
                     char **argv)
{
    Fexsim__V1__PassthroughRequest req =
        FEXSIM__V1__PASSTHROUGH_REQUEST__INIT;
    Fexsim__V1__PassthroughReply *rep;
    struct pt_opts o = { "", 0 };
    struct fx_err err;
    const char *host;
    int rc = args_parse_named(cli, cmd, argc, argv, "host NAME", &host,
                              pt_opts_spec, pt_opt, &o);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (o.force && !o.enable[0]) {
        return cli_usage_error("host passthrough", "--force goes with "
                               "--enable DEV");
    }
    req.host = (char *) host;
    req.enable = (char *) o.enable;
    req.force = o.force;
    if (cli_call(cli, "Passthrough.Configure", &req.base,
                 &fexsim__v1__passthrough_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    if (o.enable[0] && !cli->json) {
        printf("%s enabled for passthrough: pending reboot of host '%s'\n",
               o.enable, host);
    }
    pt_show(cli, host, rep);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

static int
cmd_host_reboot(struct cli *cli, const struct cli_cmd *cmd, int argc,
                char **argv)
{
    Fexsim__V1__RebootRequest req = FEXSIM__V1__REBOOT_REQUEST__INIT;
    Fexsim__V1__RebootReply *rep;
    struct fx_err err;
    const char *host;
    int rc = args_parse_named(cli, cmd, argc, argv, "host NAME", &host,
                              NULL, NULL, NULL);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    req.host = (char *) host;
    if (cli_call(cli, "Passthrough.Reboot", &req.base,
                 &fexsim__v1__reboot_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    if (!cli->json) {
        printf("host '%s' rebooted\n", host);
    }
    if (rep->passthrough) {
        pt_show(cli, host, rep->passthrough);
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

const struct cli_cmd cli_passthrough_cmds[] = {
    { "host", "passthrough", cmd_host_passthrough,
      "show or change a host's passthrough devices",
      "Usage: fexctl host passthrough H [--enable DEV [--force]] [--json]\n"
      "Shows host H's PCI devices and their passthrough state (disabled,\n"
      "pending reboot, active), or with --enable enables device DEV (a PCI\n"
      "address such as 0000:0b:00.0, the VIC) for passthrough.  An enabled\n"
      "device is pending reboot until 'fexctl host reboot H'; before that\n"
      "it cannot be assigned to a VM.  A host without an IOMMU (agentd\n"
      "--no-iommu) does not support passthrough configuration.\n"
      "\n"
      "  --enable DEV    enable PCI device DEV for passthrough\n"
      "  --force         enable it even if the host itself uses it\n"
      "  --json          print {\"host\", \"supported\", \"message\",\n"
      "                  \"devices\": [...]}\n" },
    { "host", "reboot", cmd_host_reboot, "reboot a host (no VM running)",
      "Usage: fexctl host reboot H [--json]\n"
      "Reboots host H: devices pending reboot become active for\n"
      "passthrough.  Refused while VMs run on it.\n"
      "\n"
      "  --json    print the passthrough state after the reboot\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
