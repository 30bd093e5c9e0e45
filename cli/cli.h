/* cli: what every fexctl command shares: the global options, the
 * connection to fabricd, and output as text or one JSON document. */
#ifndef CLI_H
#define CLI_H

#include <stdint.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

#include "auth.h"

struct fx_err;
struct rpc_conn;

/* Exit codes: the contract of fexctl. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

struct cli {
    const char *fabric;          /* --fabric HOST:PORT, or NULL. */
    const char *lab;             /* --lab DIR, or NULL. */
    const char *secret_file;     /* --secret-file PATH, or NULL (with
                                  * --lab: DIR/secret if it exists). */
    char secret_path[4096];      /* Storage for a secret_file we name. */
    struct auth_key key;         /* Loaded at the first call. */
    int json;                    /* --json */
    uint32_t timeout_ms;         /* Per RPC. */
    char bindir[4096];           /* Where fabricd and agentd live. */
    struct event_base *base;     /* Owned. */
    struct rpc_conn *conn;       /* Owned; NULL until cli_call(). */
    char fabric_addr[64];        /* Resolved address. */
    char lost[200];              /* Why the connection closed, if it did. */
    char netns[64];              /* fabricd's network namespace, entered
                                  * to connect (a netns lab); "" none. */
};

/* A command: 'argv[0]' is the command's last word; options follow. */
struct cli_cmd;
typedef int (*cli_cmd_fn)(struct cli *, const struct cli_cmd *,
                          int argc, char **argv);

struct cli_cmd {
    const char *group;           /* "lab", "host"... */
    const char *name;            /* "up", "list"... */
    cli_cmd_fn fn;
    const char *summary;         /* One line for the command list. */
    const char *usage;           /* Full --help text. */
};

void cli_init(struct cli *, const char *argv0);
void cli_uninit(struct cli *);

/* Connects to fabricd (once; later calls reuse the connection), so that
 * a command can set what it does with events before its first call. */
int cli_connect(struct cli *, struct fx_err *err);

/* Calls 'method' on fabricd and stores the reply in '*repp' (the caller
 * frees it with protobuf_c_message_free_unpacked()).  Connects on first
 * use: from inside fabricd's network namespace when the lab has one
 * ('netns', or the lab.json of --lab DIR), which takes root. */
int cli_call(struct cli *, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *rep_desc,
             ProtobufCMessage **repp, struct fx_err *err);

/* Prints "fexctl: MSG" on stderr and returns CLI_FAILED. */
int cli_fail(const struct fx_err *err);
/* Prints "fexctl: MSG" and the hint to use --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints 'obj' as one JSON document on stdout and releases it. */
void cli_print_json(struct json_object *obj);

/* Parses the options every command takes (--json, --help) plus its own.
 * 'spec' is a NULL-terminated getopt_long table of the command's own
 * options; 'fn' receives each with its argument.  Returns 0, 1 if --help
 * was printed, or CLI_USAGE. */
struct option;
typedef int (*cli_opt_fn)(void *arg, int opt, const char *optarg_);
int cli_parse(struct cli *, const struct cli_cmd *, int argc, char **argv,
              const struct option *spec, cli_opt_fn fn, void *arg,
              int *optindp);

/* The plumbing of a command that takes no option nor argument of its
 * own (a listing): parses --json and --help, refuses any argument, calls
 * 'method' with 'req' and stores the reply in '*repp' (the caller prints
 * it and frees it with protobuf_c_message_free_unpacked()).  Returns -1
 * when the caller should go on, else the exit code to return now. */
int cli_simple_call(struct cli *, const struct cli_cmd *, int argc,
                    char **argv, const char *method,
                    const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *rep_desc,
                    ProtobufCMessage **repp);

/* A listing command, as a table row: 'method' takes 'req' (empty, or
 * filled by the listing's own options) and answers 'rep', whose repeated
 * message field 'field' holds the rows.  --json prints {field:
 * [json(row)...]}, or the bare array when 'json_array'; otherwise
 * 'header' (may be NULL) then 'row' for each. */
struct cli_list {
    const char *method;
    const ProtobufCMessageDescriptor *req, *rep;
    const char *field;
    int json_array;
    struct json_object *(*json)(const ProtobufCMessage *row);
    void (*header)(void);
    void (*row)(const ProtobufCMessage *row);
    const struct option *opts;       /* The listing's own options (NULL:
                                      * none), getopt_long's table, */
    cli_opt_fn opt;                  /* each given to 'opt' with the
                                      * request message as its 'arg'. */
};

/* Runs listing 'l' as command 'cmd' (its own options, no argument);
 * returns the exit code. */
int cli_list(struct cli *, const struct cli_cmd *, int argc, char **argv,
             const struct cli_list *l);

/* The command table of each group, ended by a zeroed entry: one file a
 * group, cli_GROUP.c, defines it. */
extern const struct cli_cmd cli_lab_cmds[];
extern const struct cli_cmd cli_host_cmds[];
extern const struct cli_cmd cli_passthrough_cmds[];   /* "host ..." too */
extern const struct cli_cmd cli_profile_cmds[];
extern const struct cli_cmd cli_vif_cmds[];
extern const struct cli_cmd cli_vm_cmds[];
extern const struct cli_cmd cli_traffic_cmds[];     /* "vif stats" too */
extern const struct cli_cmd cli_migrate_cmds[];
extern const struct cli_cmd cli_events_cmds[];
extern const struct cli_cmd cli_scenario_cmds[];

#endif
