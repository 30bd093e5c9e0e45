/* fexctl vm ...: VMs, their NICs, and the DirectPath rules. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_parse.h"
#include "vifjson.h"
#include "vmfex.pb-c.h"

struct vm_opts {
    char cmd[32];                      /* "vm create"..., for errors. */
    const char *host;
    uint64_t memory;
    uint64_t vif;
    const char *op;
    int enable;                        /* 1 on, 0 off, -1 not given. */
    uint64_t dirty_rate;
    int has_dirty_rate;
    Fexsim__V1__NicSpec nics[FX_LIMITS_VM_MAX_NICS];
    Fexsim__V1__NicSpec *nicp[FX_LIMITS_VM_MAX_NICS];
    char profiles[FX_LIMITS_VM_MAX_NICS][40];
    size_t n_nics;
};

enum { V_HOST = 1, V_MEMORY, V_NIC, V_VIF, V_OP, V_ENABLE, V_DISABLE,
       V_DIRTY };

static const struct option vm_create_opts[] = {
    { "host", required_argument, NULL, V_HOST },
    { "memory", required_argument, NULL, V_MEMORY },
    { "nic", required_argument, NULL, V_NIC },
    { NULL, 0, NULL, 0 },
};
static const struct option vm_nic_add_opts[] = {
    { "nic", required_argument, NULL, V_NIC },
    { NULL, 0, NULL, 0 },
};
static const struct option vm_nic_remove_opts[] = {
    { "vif", required_argument, NULL, V_VIF },
    { NULL, 0, NULL, 0 },
};
static const struct option vm_feature_opts[] = {
    { "enable", no_argument, NULL, V_ENABLE },
    { "disable", no_argument, NULL, V_DISABLE },
    { NULL, 0, NULL, 0 },
};
static const struct option vm_set_opts[] = {
    { "dirty-rate", required_argument, NULL, V_DIRTY },
    { NULL, 0, NULL, 0 },
};
static const struct option vm_check_opts[] = {
    { "op", required_argument, NULL, V_OP },
    { NULL, 0, NULL, 0 },
};

/* "PROFILE" or "PROFILE,directpath". */
static int
vm_parse_nic(struct vm_opts *o, const char *val, struct fx_err *err)
{
    const char *comma = strchr(val, ',');
    size_t len = comma ? (size_t) (comma - val) : strlen(val);
    Fexsim__V1__NicSpec *n = &o->nics[o->n_nics];

    if (o->n_nics == FX_LIMITS_VM_MAX_NICS) {
        return fx_err_set(err, -EINVAL, "at most %d --nic",
                          FX_LIMITS_VM_MAX_NICS);
    }
    if (len == 0 || len >= sizeof o->profiles[0]
        || (comma && strcmp(comma + 1, "directpath"))) {
        return fx_err_set(err, -EINVAL, "bad --nic '%s': use PROFILE or "
                          "PROFILE,directpath", val);
    }
    fexsim__v1__nic_spec__init(n);
    memcpy(o->profiles[o->n_nics], val, len);
    o->profiles[o->n_nics][len] = '\0';
    n->profile = o->profiles[o->n_nics];
    n->directpath = comma != NULL;
    o->nicp[o->n_nics] = n;
    o->n_nics++;
    return 0;
}

static int
vm_opt(void *arg, int opt, const char *val)
{
    struct vm_opts *o = arg;
    struct fx_err err;
    int rc = 0;

    switch (opt) {
    case V_HOST: o->host = val; break;
    case V_MEMORY:
        rc = fx_parse_u64(val, 1, FX_LIMITS_VM_MAX_MEMORY_MIB, &o->memory,
                          "--memory", &err);
        break;
    case V_NIC: rc = vm_parse_nic(o, val, &err); break;
    case V_VIF:
        rc = fx_parse_u64(val, 1, UINT32_MAX, &o->vif, "--vif", &err);
        break;
    case V_OP: o->op = val; break;
    case V_ENABLE: o->enable = 1; break;
    case V_DISABLE: o->enable = 0; break;
    case V_DIRTY:
        rc = fx_parse_u64(val, 0, FX_LIMITS_DIRTY_RATE_MAX, &o->dirty_rate,
                          "--dirty-rate", &err);
        o->has_dirty_rate = 1;
        break;
    default: break;
    }
    return rc ? cli_usage_error(o->cmd, "%s", err.msg) : 0;
}

/* ---- Output ---- */

static struct json_object *
vm_json(const Fexsim__V1__Vm *vm)
{
    struct json_object *o = json_object_new_object();
    struct json_object *nics = json_object_new_array();

    for (size_t i = 0; i < vm->n_nics; i++) {
        json_object_array_add(nics, vifjson(vm->nics[i]));
    }
    json_object_object_add(o, "name", json_object_new_string(vm->name));
    json_object_object_add(o, "host", json_object_new_string(vm->host));
    json_object_object_add(o, "state", json_object_new_string(
                               vm->running ? "running" : "stopped"));
    json_object_object_add(o, "memory_mib",
                           json_object_new_int64((int64_t) vm->memory_mib));
    json_object_object_add(o, "reservation_mib", json_object_new_int64(
                               (int64_t) vm->reservation_mib));
    json_object_object_add(o, "nics", nics);
    json_object_object_add(o, "record", json_object_new_boolean(vm->record));
    json_object_object_add(o, "ft", json_object_new_boolean(vm->ft));
    json_object_object_add(o, "ha", json_object_new_boolean(vm->ha));
    json_object_object_add(o, "snapshots",
                           json_object_new_int64(vm->snapshots));
    json_object_object_add(o, "dirty_rate",
                           json_object_new_int64((int64_t) vm->dirty_rate));
    return o;
}

static void
vm_print_row(const Fexsim__V1__Vm *vm)
{
    size_t dp = 0;

    for (size_t i = 0; i < vm->n_nics; i++) {
        dp += vm->nics[i]->directpath;
    }
    printf("%-12s %-12s %-8s %-8llu %-12llu %-8llu %zu (%zu directpath)",
           vm->name, vm->host, vm->running ? "running" : "stopped",
           (unsigned long long) vm->memory_mib,
           (unsigned long long) vm->reservation_mib,
           (unsigned long long) vm->dirty_rate, vm->n_nics, dp);
    /* Each vNIC's mode, and why when it is not high-performance. */
    for (size_t i = 0; i < vm->n_nics; i++) {
        const Fexsim__V1__Vif *v = vm->nics[i];

        printf("%s VIF %u %s%s%s%s", i ? "," : "", v->id, v->mode,
               v->mode_reason[0] ? " (" : "", v->mode_reason,
               v->mode_reason[0] ? ")" : "");
    }
    putchar('\n');
}

static void
vm_print_header(void)
{
    printf("%-12s %-12s %-8s %-8s %-12s %-8s %s\n", "NAME", "HOST", "STATE",
           "MEM MIB", "RESERVED MIB", "DIRTY/S", "NICS");
}

/* Prints the VM of a VmReply and frees it. */
static int
vm_show_reply(struct cli *cli, Fexsim__V1__VmReply *rep, const char *done)
{
    if (cli->json) {
        cli_print_json(rep->vm ? vm_json(rep->vm) : json_object_new_object());
    } else if (rep->vm) {
        printf("VM '%s' %s\n", rep->vm->name, done);
        vm_print_header();
        vm_print_row(rep->vm);
        if (rep->vm->n_nics) {
            vifjson_print_header();
        }
        for (size_t i = 0; i < rep->vm->n_nics; i++) {
            vifjson_print_row(rep->vm->nics[i]);
        }
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

/* Calls 'method' with 'req' and shows the VmReply. */
static int
vm_call_show(struct cli *cli, const char *method, const ProtobufCMessage *req,
             const char *done)
{
    Fexsim__V1__VmReply *rep;
    struct fx_err err;

    if (cli_call(cli, method, req, &fexsim__v1__vm_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    return vm_show_reply(cli, rep, done);
}

/* ---- Commands ---- */

/* Parses "NAME [OPTIONS]" for 'cmd' into 'o'. */
static int
vm_args(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
        const struct option *spec, struct vm_opts *o, const char **namep)
{
    snprintf(o->cmd, sizeof o->cmd, "%s %s", cmd->group, cmd->name);
    o->enable = -1;
    return args_parse_named(cli, cmd, argc, argv, "VM NAME", namep, spec,
                            vm_opt, o);
}

static int
cmd_vm_create(struct cli *cli, const struct cli_cmd *cmd, int argc,
              char **argv)
{
    Fexsim__V1__CreateVmRequest req = FEXSIM__V1__CREATE_VM_REQUEST__INIT;
    struct vm_opts o = { 0 };
    const char *name;
    int rc = vm_args(cli, cmd, argc, argv, vm_create_opts, &o, &name);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.host || !o.memory) {
        return cli_usage_error("vm create", "--host H and --memory MIB are "
                               "required");
    }
    req.name = (char *) name;
    req.host = (char *) o.host;
    req.memory_mib = o.memory;
    req.nics = o.nicp;
    req.n_nics = o.n_nics;
    return vm_call_show(cli, "Vms.Create", &req.base, "created");
}

/* vm start|stop|delete|snapshot NAME: the same shape, another method. */
static int
vm_simple(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
          const char *method, const char *done)
{
    Fexsim__V1__VmNameRequest req = FEXSIM__V1__VM_NAME_REQUEST__INIT;
    struct vm_opts o = { 0 };
    const char *name;
    int rc = vm_args(cli, cmd, argc, argv, NULL, &o, &name);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    req.name = (char *) name;
    return vm_call_show(cli, method, &req.base, done);
}

static int
cmd_vm_start(struct cli *cli, const struct cli_cmd *cmd, int argc,
             char **argv)
{
    return vm_simple(cli, cmd, argc, argv, "Vms.Start", "started");
}

static int
cmd_vm_stop(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    return vm_simple(cli, cmd, argc, argv, "Vms.Stop", "stopped");
}

static int
cmd_vm_delete(struct cli *cli, const struct cli_cmd *cmd, int argc,
              char **argv)
{
    return vm_simple(cli, cmd, argc, argv, "Vms.Delete", "deleted");
}

static int
cmd_vm_snapshot(struct cli *cli, const struct cli_cmd *cmd, int argc,
                char **argv)
{
    return vm_simple(cli, cmd, argc, argv, "Vms.Snapshot", "snapshot taken");
}

static int
cmd_vm_set(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    Fexsim__V1__SetVmRequest req = FEXSIM__V1__SET_VM_REQUEST__INIT;
    struct vm_opts o = { 0 };
    const char *name;
    int rc = vm_args(cli, cmd, argc, argv, vm_set_opts, &o, &name);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.has_dirty_rate) {
        return cli_usage_error("vm set", "--dirty-rate N is required");
    }
    req.name = (char *) name;
    req.dirty_rate = o.dirty_rate;
    return vm_call_show(cli, "Vms.Set", &req.base, "set");
}

static struct json_object *
vm_list_json(const ProtobufCMessage *m)
{
    return vm_json((const Fexsim__V1__Vm *) m);
}

static void
vm_list_row(const ProtobufCMessage *m)
{
    vm_print_row((const Fexsim__V1__Vm *) m);
}

static int
cmd_vm_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct cli_list l = {
        "Vms.List", &fexsim__v1__list_vms_request__descriptor,
        &fexsim__v1__list_vms_reply__descriptor, "vms", 0, vm_list_json,
        vm_print_header, vm_list_row, NULL, NULL,
    };

    return cli_list(cli, cmd, argc, argv, &l);
}

/* vm nic add NAME --nic P[,directpath] | vm nic remove NAME --vif ID */
static int
cmd_vm_nic(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    struct vm_opts o = { 0 };
    const char *name;
    int add, rc;

    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(cmd->usage, stdout);
        return CLI_OK;
    }
    if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove"))) {
        return cli_usage_error("vm nic", "use 'vm nic add' or 'vm nic "
                               "remove'");
    }
    add = !strcmp(argv[1], "add");
    rc = vm_args(cli, cmd, argc - 1, argv + 1, add ? vm_nic_add_opts
                 : vm_nic_remove_opts, &o, &name);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (add) {
        Fexsim__V1__AddNicRequest req = FEXSIM__V1__ADD_NIC_REQUEST__INIT;

        if (o.n_nics != 1) {
            return cli_usage_error("vm nic", "give exactly one --nic");
        }
        req.vm = (char *) name;
        req.nic = o.nicp[0];
        return vm_call_show(cli, "Vms.AddNic", &req.base, "NIC added");
    }
    Fexsim__V1__RemoveNicRequest req = FEXSIM__V1__REMOVE_NIC_REQUEST__INIT;

    if (!o.vif) {
        return cli_usage_error("vm nic", "--vif ID is required");
    }
    req.vm = (char *) name;
    req.vif = (uint32_t) o.vif;
    return vm_call_show(cli, "Vms.RemoveNic", &req.base, "NIC removed");
}

/* vm record|ft|ha NAME [--enable|--disable] */
static int
cmd_vm_feature(struct cli *cli, const struct cli_cmd *cmd, int argc,
               char **argv)
{
    Fexsim__V1__SetFeatureRequest req = FEXSIM__V1__SET_FEATURE_REQUEST__INIT;
    struct vm_opts o = { 0 };
    const char *name;
    int rc = vm_args(cli, cmd, argc, argv, vm_feature_opts, &o, &name);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (o.enable < 0 && strcmp(cmd->name, "record")) {
        return cli_usage_error(o.cmd, "give --enable or --disable");
    }
    req.vm = (char *) name;
    req.op = (char *) cmd->name;
    req.enable = o.enable != 0;
    return vm_call_show(cli, "Vms.SetFeature", &req.base, req.enable
                        ? "feature enabled" : "feature disabled");
}

static int
cmd_vm_check(struct cli *cli, const struct cli_cmd *cmd, int argc,
             char **argv)
{
    Fexsim__V1__CheckOperationRequest req =
        FEXSIM__V1__CHECK_OPERATION_REQUEST__INIT;
    Fexsim__V1__CheckOperationReply *rep;
    struct vm_opts o = { 0 };
    struct fx_err err;
    const char *name;
    int rc = vm_args(cli, cmd, argc, argv, vm_check_opts, &o, &name);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.op) {
        return cli_usage_error("vm check", "--op OP is required");
    }
    req.vm = (char *) name;
    req.op = (char *) o.op;
    if (cli_call(cli, "Vms.CheckOperation", &req.base,
                 &fexsim__v1__check_operation_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    rc = rep->allowed ? CLI_OK : CLI_FAILED;
    if (cli->json) {
        struct json_object *j = json_object_new_object();

        json_object_object_add(j, "vm", json_object_new_string(name));
        json_object_object_add(j, "op", json_object_new_string(o.op));
        json_object_object_add(j, "allowed",
                               json_object_new_boolean(rep->allowed));
        json_object_object_add(j, "reason",
                               json_object_new_string(rep->reason));
        cli_print_json(j);
    } else if (rep->allowed) {
        printf("allowed\n");
    } else {
        printf("refused: %s\n", rep->reason);
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return rc;
}

#define VM_JSON_HELP \
    "  --json    print the VM as one JSON document (name, host, state,\n" \
    "            memory_mib, reservation_mib, nics [VIFs], record, ft, ha,\n" \
    "            snapshots)\n"

const struct cli_cmd cli_vm_cmds[] = {
    { "vm", "create", cmd_vm_create, "define a VM on a host",
      "Usage: fexctl vm create NAME --host H --memory MIB\n"
      "                        [--nic PROFILE[,directpath]]... [--json]\n"
      "Defines VM NAME in libvirt on host H, powered off.  Each --nic gives\n"
      "it a NIC on port PROFILE: a dynamic vNIC of the host's VIC, and a\n"
      "VIF with a MAC from the fabric's 00:25:b5 pool.  ',directpath'\n"
      "makes it a DirectPath (PCI passthrough) NIC: the host's VIC must be\n"
      "enabled for passthrough and the host rebooted since; at most 6 per\n"
      "VM; the VM's memory reservation becomes its memory size.\n"
      "\n"
      "  --host H        the host (required)\n"
      "  --memory MIB    memory, 1-1048576 MiB (required)\n"
      "  --nic SPEC      PROFILE or PROFILE,directpath; repeatable, up to 16\n"
      VM_JSON_HELP },
    { "vm", "start", cmd_vm_start, "power a VM on",
      "Usage: fexctl vm start NAME [--json]\n"
      "Starts VM NAME.  Refused if its memory reservation does not fit in\n"
      "the host's unreserved memory (agentd --memory).  Its VIFs go\n"
      "online.\n\n" VM_JSON_HELP },
    { "vm", "stop", cmd_vm_stop, "power a VM off",
      "Usage: fexctl vm stop NAME [--json]\n"
      "Stops VM NAME (hard power off).  Its VIFs go offline.\n\n"
      VM_JSON_HELP },
    { "vm", "delete", cmd_vm_delete, "delete a powered-off VM",
      "Usage: fexctl vm delete NAME [--json]\n"
      "Undefines VM NAME (it must be stopped), frees its vNICs, VIFs and\n"
      "profile ports.\n\n" VM_JSON_HELP },
    { "vm", "list", cmd_vm_list, "list VMs and where they run",
      "Usage: fexctl vm list [--json]\n"
      "Lists VMs: host, state, memory and reservation, NICs.\n"
      "\n"
      "  --json    print one JSON document {\"vms\": [...]}\n" },
    { "vm", "nic", cmd_vm_nic, "add or remove a NIC",
      "Usage: fexctl vm nic add NAME --nic PROFILE[,directpath] [--json]\n"
      "       fexctl vm nic remove NAME --vif ID [--json]\n"
      "Adds a NIC to VM NAME, or removes the NIC whose VIF is ID.  A\n"
      "DirectPath NIC (a PCI device) is added or removed only while the VM\n"
      "is powered off, at most 6 per VM.  Other NICs may be hot added or\n"
      "removed on a running VM, unless it already has a DirectPath NIC on a\n"
      "profile that is not high-performance.\n\n" VM_JSON_HELP },
    { "vm", "snapshot", cmd_vm_snapshot, "take a snapshot through libvirt",
      "Usage: fexctl vm snapshot NAME [--json]\n"
      "Takes a libvirt snapshot of VM NAME.  Refused for a VM with a\n"
      "DirectPath NIC outside a VM-FEX high-performance profile.\n\n"
      VM_JSON_HELP },
    { "vm", "record", cmd_vm_feature, "enable record and replay",
      "Usage: fexctl vm record NAME [--enable|--disable] [--json]\n"
      "Turns record and replay on (default) or off for VM NAME.  Enabling\n"
      "is refused for a VM with a DirectPath NIC outside a VM-FEX\n"
      "high-performance profile.\n\n" VM_JSON_HELP },
    { "vm", "ft", cmd_vm_feature, "enable or disable fault tolerance",
      "Usage: fexctl vm ft NAME --enable|--disable [--json]\n"
      "Turns fault tolerance on or off for VM NAME.  Enabling is refused\n"
      "for a VM with a DirectPath NIC outside a VM-FEX high-performance\n"
      "profile.\n\n" VM_JSON_HELP },
    { "vm", "ha", cmd_vm_feature, "enable or disable HA",
      "Usage: fexctl vm ha NAME --enable|--disable [--json]\n"
      "Turns HA on or off for VM NAME.  Enabling is refused for a VM with\n"
      "a DirectPath NIC outside a VM-FEX high-performance profile.\n\n"
      VM_JSON_HELP },
    { "vm", "set", cmd_vm_set, "set a running guest's dirty rate",
      "Usage: fexctl vm set NAME --dirty-rate N [--json]\n"
      "The running guest of VM NAME writes N pages/s (0 to 1000000) from now\n"
      "on: a synthetic writer dirtying random pages of its memory, as its\n"
      "received frames also do.  The rate moves with the guest when it\n"
      "migrates; it ends when the VM stops (a started VM writes 0 pages/s).\n"
      "\n"
      "  --dirty-rate N   page writes per second\n"
      "  --json           print the VM as JSON\n" },
    { "vm", "check", cmd_vm_check, "say whether an operation is allowed",
      "Usage: fexctl vm check NAME --op OP [--json]\n"
      "Prints 'allowed', or 'refused: REASON', for operation OP on VM NAME\n"
      "under the DirectPath rules.  OP is one of migrate, hot-add,\n"
      "hot-remove, record, ft, ha, snapshot.  Exit status 0 if allowed,\n"
      "1 if refused (or on error), 2 on a usage error.\n"
      "\n"
      "  --json    print {\"vm\", \"op\", \"allowed\", \"reason\"}\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
