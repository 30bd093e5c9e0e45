/* fexctl vif list: the fabric's virtual interfaces. */
#include <stdio.h>

#include "cli.h"
#include "fx_err.h"
#include "vmfex.pb-c.h"
#include "vifjson.h"

static int
cmd_vif_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
             char **argv)
{
    Fexsim__V1__ListVifsRequest req = FEXSIM__V1__LIST_VIFS_REQUEST__INIT;
    Fexsim__V1__ListVifsReply *rep;
    int rc;

    rc = cli_simple_call(cli, cmd, argc, argv, "Vifs.List", &req.base,
                         &fexsim__v1__list_vifs_reply__descriptor,
                         (ProtobufCMessage **) &rep);
    if (rc >= 0) {
        return rc;
    }
    if (cli->json) {
        struct json_object *arr = json_object_new_array();
        struct json_object *obj = json_object_new_object();

        for (size_t i = 0; i < rep->n_vifs; i++) {
            json_object_array_add(arr, vifjson(rep->vifs[i]));
        }
        json_object_object_add(obj, "vifs", arr);
        cli_print_json(obj);
    } else {
        vifjson_print_header();
        for (size_t i = 0; i < rep->n_vifs; i++) {
            vifjson_print_row(rep->vifs[i]);
        }
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

const struct cli_cmd cli_vif_cmds[] = {
    { "vif", "list", cmd_vif_list, "list virtual interfaces (VIFs)",
      "Usage: fexctl vif list [--json]\n"
      "Lists every VIF: id, MAC (from the 00:25:b5 pool), host, dynamic\n"
      "vNIC, port profile, VM, whether DirectPath, and state (online while\n"
      "the VM runs, offline otherwise).\n"
      "\n"
      "  --json    print one JSON document {\"vifs\": [...]}\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
