/* fexctl vif list: the fabric's virtual interfaces. */
#include <stdio.h>

#include "cli.h"
#include "fx_err.h"
#include "vmfex.pb-c.h"
#include "vifjson.h"

static struct json_object *
vif_list_json(const ProtobufCMessage *m)
{
    return vifjson((const Fexsim__V1__Vif *) m);
}

static void
vif_list_row(const ProtobufCMessage *m)
{
    vifjson_print_row((const Fexsim__V1__Vif *) m);
}

static int
cmd_vif_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
             char **argv)
{
    static const struct cli_list l = {
        "Vifs.List", &fexsim__v1__list_vifs_request__descriptor,
        &fexsim__v1__list_vifs_reply__descriptor, "vifs", 0, vif_list_json,
        vifjson_print_header, vif_list_row, NULL, NULL,
    };

    return cli_list(cli, cmd, argc, argv, &l);
}

const struct cli_cmd cli_vif_cmds[] = {
    { "vif", "list", cmd_vif_list, "list virtual interfaces (VIFs)",
      "Usage: fexctl vif list [--json]\n"
      "Lists every VIF: id, MAC (from the 00:25:b5 pool), host, dynamic\n"
      "vNIC, port profile, VM, whether DirectPath, state (online while\n"
      "the VM runs, offline otherwise), when an offline VIF is removed by\n"
      "the VM lifecycle policy (fabricd --offline-retention), and mode.\n"
      "\n"
      "  --json    print one JSON document {\"vifs\": [...]}\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
