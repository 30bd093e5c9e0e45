#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_err.h"
#include "fx_netns.h"
#include "labspec.h"
#include "rpc.h"

void
cli_init(struct cli *cli, const char *argv0)
{
    char *bindir;
    ssize_t n;
    char *slash;

    memset(cli, 0, sizeof *cli);
    cli->timeout_ms = 10000;
    /* fabricd and agentd are installed beside fexctl. */
    bindir = cli->bindir;
    n = readlink("/proc/self/exe", bindir, sizeof cli->bindir - 1);
    if (n > 0) {
        bindir[n] = '\0';
    } else {
        snprintf(bindir, sizeof cli->bindir, "%s", argv0);
    }
    slash = strrchr(bindir, '/');
    if (slash) {
        *slash = '\0';
    } else {
        strcpy(bindir, ".");
    }
    cli->base = event_base_new();
}

void
cli_uninit(struct cli *cli)
{
    rpc_conn_destroy(cli->conn);
    event_base_free(cli->base);
}

/* A netns lab's fabricd is reached from inside its namespace, which the
 * lab's lab.json names; a lab without one (or a DIR fexctl did not make)
 * is reached from here. */
static void
cli_lab_netns(struct cli *cli)
{
    struct labspec spec;

    if (!labspec_load(cli->lab, &spec, NULL)) {
        snprintf(cli->netns, sizeof cli->netns, "%s",
                 spec.daemons[0].net.netns);
    }
    labspec_free(&spec);
}

/* Works out fabricd's address from --fabric, --lab or the default. */
static int
cli_resolve(struct cli *cli, struct fx_err *err)
{
    char path[PATH_MAX];
    FILE *f;

    if (cli->fabric_addr[0]) {
        return 0;
    }
    if (!cli->lab) {
        snprintf(cli->fabric_addr, sizeof cli->fabric_addr, "%s",
                 cli->fabric ? cli->fabric : "127.0.0.1:7800");
        return 0;
    }
    cli_lab_netns(cli);
    snprintf(path, sizeof path, "%s/fabric.addr", cli->lab);
    f = fopen(path, "r");
    if (!f) {
        return fx_err_set(err, -ENOENT, "no lab in '%s': cannot read '%s' "
                          "(%s)", cli->lab, path, strerror(errno));
    }
    if (!fgets(cli->fabric_addr, sizeof cli->fabric_addr, f)) {
        cli->fabric_addr[0] = '\0';
    }
    fclose(f);
    cli->fabric_addr[strcspn(cli->fabric_addr, "\n")] = '\0';
    if (!cli->fabric_addr[0]) {
        return fx_err_set(err, -EINVAL, "'%s' is empty", path);
    }
    return 0;
}

static void
cli_conn_event(struct rpc_conn *conn, enum rpc_conn_event ev,
               const char *reason, void *arg)
{
    struct cli *cli = arg;

    (void) conn;
    if (ev != RPC_CONN_CONNECTED) {
        cli->conn = NULL;     /* Freed by rpc after we return. */
        snprintf(cli->lost, sizeof cli->lost, "%s", reason);
    }
}

/* The lab secret: --secret-file, or the lab's DIR/secret if there is
 * one; none otherwise (a fabricd without one, on loopback). */
static int
cli_load_key(struct cli *cli, struct fx_err *err)
{
    char path[4096];
    const char *file = cli->secret_file;

    if (!file && cli->lab) {
        snprintf(path, sizeof path, "%s/secret", cli->lab);
        file = access(path, F_OK) ? NULL : path;
    }
    if (!file) {
        auth_key_none(&cli->key);
        return 0;
    }
    return auth_key_load(file, &cli->key, err);
}

/* Opens the connection to fabricd, its socket made inside fabricd's
 * namespace if it has one: the socket stays there, fexctl comes back. */
static int
cli_open(struct cli *cli, const struct rpc_opts *opts, struct fx_err *err)
{
    int back = -1;

    if (cli->netns[0] && fx_netns_enter(cli->netns, &back, err)) {
        if (err->code == -EPERM) {
            return fx_err_set(err, -EPERM, "fabricd is in network namespace "
                              "'%s': entering it takes root (CAP_SYS_ADMIN);"
                              " or, as root: ip netns exec %s fexctl "
                              "--fabric %s ...", cli->netns, cli->netns,
                              cli->fabric_addr);
        }
        return fx_err_set(err, err->code, "fabricd's network namespace '%s' "
                          "cannot be entered (%s): is the lab up?",
                          cli->netns, strerror(-err->code));
    }
    cli->conn = rpc_conn_connect(cli->base, cli->fabric_addr, opts, NULL,
                                 cli_conn_event, cli, err);
    if (back >= 0 && fx_netns_leave(back, cli->conn ? err : NULL)) {
        rpc_conn_destroy(cli->conn);
        cli->conn = NULL;
    }
    return cli->conn ? 0 : err->code;
}

int
cli_connect(struct cli *cli, struct fx_err *err)
{
    struct rpc_opts opts = { .key = &cli->key,
                             .me = { .role = AUTH_ROLE_OPERATOR } };

    if (cli->conn) {
        return 0;
    }
    if (cli_resolve(cli, err) || cli_load_key(cli, err)) {
        return err->code;
    }
    return cli_open(cli, &opts, err);
}

int
cli_call(struct cli *cli, const char *method, const ProtobufCMessage *req,
         const ProtobufCMessageDescriptor *rep_desc,
         ProtobufCMessage **repp, struct fx_err *err)
{
    if (cli_connect(cli, err)) {
        return err->code;
    }
    return rpc_call_sync(cli->conn, method, req, rep_desc, cli->timeout_ms,
                         repp, err);
}

int
cli_fail(const struct fx_err *err)
{
    fprintf(stderr, "fexctl: %s\n", err->msg);
    return CLI_FAILED;
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "fexctl: %s (try 'fexctl %s --help')\n", msg, cmd);
    return CLI_USAGE;
}

void
cli_print_json(struct json_object *obj)
{
    int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE;

    puts(json_object_to_json_string_ext(obj, flags));
    json_object_put(obj);
}

enum { CLI_OPT_JSON = 1000 };

int
cli_parse(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
          const struct option *spec, cli_opt_fn fn, void *arg,
          int *optindp)
{
    struct option opts[32];
    char full[64];
    size_t n = 0;
    int opt;

    snprintf(full, sizeof full, "%s %s", cmd->group, cmd->name);
    for (; spec && spec[n].name && n < 29; n++) {
        opts[n] = spec[n];
    }
    opts[n++] = (struct option) { "json", no_argument, NULL, CLI_OPT_JSON };
    opts[n++] = (struct option) { "help", no_argument, NULL, 'h' };
    opts[n] = (struct option) { NULL, 0, NULL, 0 };
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(cmd->usage, stdout);
            return 1;
        } else if (opt == CLI_OPT_JSON) {
            cli->json = 1;
        } else if (opt == '?' || opt == ':') {
            return cli_usage_error(full, "bad or incomplete option '%s'",
                                   argv[optind - 1]);
        } else if (fn(arg, opt, optarg)) {
            return CLI_USAGE;
        }
    }
    *optindp = optind;
    return 0;
}

static int cli_parsed_call(struct cli *, const struct cli_cmd *, int argc,
                           char **argv, const struct option *spec,
                           cli_opt_fn fn, void *arg, const char *method,
                           const ProtobufCMessage *req,
                           const ProtobufCMessageDescriptor *rep_desc,
                           ProtobufCMessage **repp);

int
cli_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
         const struct cli_list *l)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(l->rep, l->field);
    ProtobufCMessage *req = calloc(1, l->req->sizeof_message), *rep;
    struct json_object *arr;
    const ProtobufCMessage *const *rows;
    size_t n;
    int rc;

    if (!req || !f || f->label != PROTOBUF_C_LABEL_REPEATED
        || f->type != PROTOBUF_C_TYPE_MESSAGE) {
        abort();    /* A table row that does not match its .proto. */
    }
    protobuf_c_message_init(l->req, req);
    rc = cli_parsed_call(cli, cmd, argc, argv, l->opts, l->opt, req,
                         l->method, req, l->rep, &rep);
    free(req);
    if (rc >= 0) {
        return rc;
    }
    n = *(const size_t *) ((const char *) rep + f->quantifier_offset);
    rows = *(const ProtobufCMessage *const **) ((const char *) rep
                                                 + f->offset);
    if (cli->json) {
        arr = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
            json_object_array_add(arr, l->json(rows[i]));
        }
        if (!l->json_array) {
            struct json_object *obj = json_object_new_object();

            json_object_object_add(obj, l->field, arr);
            arr = obj;
        }
        cli_print_json(arr);
    } else {
        if (l->header) {
            l->header();
        }
        for (size_t i = 0; i < n; i++) {
            l->row(rows[i]);
        }
    }
    protobuf_c_message_free_unpacked(rep, NULL);
    return CLI_OK;
}

/* Parses 'cmd''s options ('spec' and 'fn' with 'arg', may be NULL),
 * refuses any argument, and calls 'method' (see cli_simple_call()). */
static int
cli_parsed_call(struct cli *cli, const struct cli_cmd *cmd, int argc,
                char **argv, const struct option *spec, cli_opt_fn fn,
                void *arg, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *rep_desc,
                ProtobufCMessage **repp)
{
    char full[64];
    struct fx_err err;
    int idx, rc = cli_parse(cli, cmd, argc, argv, spec, fn, arg, &idx);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (idx < argc) {
        snprintf(full, sizeof full, "%s %s", cmd->group, cmd->name);
        return cli_usage_error(full, "unexpected argument '%s'", argv[idx]);
    }
    if (cli_call(cli, method, req, rep_desc, repp, &err)) {
        return cli_fail(&err);
    }
    return -1;
}

int
cli_simple_call(struct cli *cli, const struct cli_cmd *cmd, int argc,
                char **argv, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *rep_desc,
                ProtobufCMessage **repp)
{
    return cli_parsed_call(cli, cmd, argc, argv, NULL, NULL, NULL, method,
                           req, rep_desc, repp);
}
