/* fexctl: the operator's command line.  main() parses the global options
 * and hands the rest to a command from the group tables. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fx_err.h"
#include "fx_parse.h"
#include "log.h"

static const struct cli_cmd *const groups[] = {
    cli_lab_cmds,
    cli_host_cmds,
    cli_passthrough_cmds,
    cli_profile_cmds,
    cli_vm_cmds,
    cli_vif_cmds,
    cli_traffic_cmds,
    cli_migrate_cmds,
    cli_events_cmds,
    cli_scenario_cmds,
};
#define N_GROUPS (sizeof groups / sizeof *groups)

static void
print_usage(void)
{
    fputs("Usage: fexctl [--fabric HOST:PORT | --lab DIR] [--secret-file "
          "PATH] [--json] "
          "COMMAND [ARGS]\n"
          "Drives a fexsim fabric: a simulated Cisco UCS VM-FEX domain.\n"
          "\n"
          "Global options:\n"
          "  --fabric HOST:PORT   fabricd to talk to (default "
          "127.0.0.1:7800)\n"
          "  --lab DIR            talk to the lab in DIR (reads "
          "DIR/fabric.addr,\n"
          "                       and DIR/secret, the lab secret; a netns "
          "lab's\n"
          "                       fabricd from inside its namespace, as "
          "root)\n"
          "  --secret-file PATH   the lab secret to prove (mode 0600)\n"
          "  --json               print results as one JSON document\n"
          "  --timeout MS         per-request timeout (default 10000)\n"
          "  -h, --help           show this help\n"
          "\n"
          "Commands (fexctl COMMAND --help for each):\n", stdout);
    for (size_t g = 0; g < N_GROUPS; g++) {
        for (const struct cli_cmd *c = groups[g]; c->name; c++) {
            char name[40];

            snprintf(name, sizeof name, "%s%s%s", c->group,
                     c->name[0] ? " " : "",
                     strcmp(c->name, "*") ? c->name : "VM");
            printf("  %-20s %s\n", name, c->summary);
        }
    }
    fputs("\nExit status: 0 ok, 1 the operation failed, 2 usage error.\n",
          stdout);
}

/* A command named "*" takes any other word (migrate VM --to H); one
 * named "" is the group alone, before its options (events --since N). */
static const struct cli_cmd *
find_cmd(const char *group, const char *name, int *group_known)
{
    const struct cli_cmd *any = NULL;

    *group_known = 0;
    for (size_t g = 0; g < N_GROUPS; g++) {
        for (const struct cli_cmd *c = groups[g]; c->name; c++) {
            if (strcmp(c->group, group)) {
                continue;
            }
            *group_known = 1;
            if (name && !strcmp(c->name, name)) {
                return c;
            }
            if (!strcmp(c->name, "*") && name && name[0] != '-') {
                any = c;
            }
            if (!c->name[0] && (!name || (name[0] == '-'
                                          && strcmp(name, "--help")
                                          && strcmp(name, "-h")))) {
                return c;
            }
        }
    }
    return any;
}

/* Prints the commands of 'group' for "fexctl GROUP" or "GROUP --help". */
static void
print_group(const char *group)
{
    printf("Usage: fexctl %s COMMAND [ARGS]\n\nCommands:\n", group);
    for (size_t g = 0; g < N_GROUPS; g++) {
        for (const struct cli_cmd *c = groups[g]; c->name; c++) {
            if (!strcmp(c->group, group)) {
                printf("  %-10s %s\n", strcmp(c->name, "*") ? c->name : "VM",
                       c->summary);
            }
        }
    }
}

enum { OPT_FABRIC = 256, OPT_LAB, OPT_JSON, OPT_TIMEOUT, OPT_SECRET };

static const struct option options[] = {
    { "fabric", required_argument, NULL, OPT_FABRIC },
    { "lab", required_argument, NULL, OPT_LAB },
    { "json", no_argument, NULL, OPT_JSON },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "secret-file", required_argument, NULL, OPT_SECRET },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* Parses the global options.  Returns -1 to go on, or an exit code. */
static int
parse_global(struct cli *cli, int argc, char **argv)
{
    struct fx_err err;
    uint64_t v;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_FABRIC: cli->fabric = optarg; break;
        case OPT_LAB: cli->lab = optarg; break;
        case OPT_SECRET: cli->secret_file = optarg; break;
        case OPT_JSON: cli->json = 1; break;
        case OPT_TIMEOUT:
            if (fx_parse_u64(optarg, 1, 3600000, &v, "--timeout", &err)) {
                fprintf(stderr, "fexctl: %s\n", err.msg);
                return CLI_USAGE;
            }
            cli->timeout_ms = (uint32_t) v;
            break;
        case 'h': print_usage(); return CLI_OK;
        default:
            fprintf(stderr, "fexctl: bad or incomplete option '%s' (try "
                    "'fexctl --help')\n", argv[optind - 1]);
            return CLI_USAGE;
        }
    }
    if (cli->fabric && cli->lab) {
        fprintf(stderr, "fexctl: --fabric and --lab are exclusive\n");
        return CLI_USAGE;
    }
    return -1;
}

static int
run(struct cli *cli, int argc, char **argv)
{
    const struct cli_cmd *cmd;
    int known, rc = parse_global(cli, argc, argv);

    if (rc >= 0) {
        return rc;
    }
    if (optind >= argc) {
        print_usage();
        return CLI_USAGE;
    }
    argv += optind;
    argc -= optind;
    cmd = find_cmd(argv[0], argc > 1 ? argv[1] : NULL, &known);
    if (!cmd) {
        if (known && (argc == 1 || !strcmp(argv[1], "--help")
                      || !strcmp(argv[1], "-h"))) {
            print_group(argv[0]);
            return argc == 1 ? CLI_USAGE : CLI_OK;
        }
        fprintf(stderr, "fexctl: unknown command '%s%s%s' (try 'fexctl "
                "--help')\n", argv[0], known ? " " : "",
                known ? argv[1] : "");
        return CLI_USAGE;
    }
    if (!strcmp(cmd->name, "*") || !cmd->name[0]) {
        return cmd->fn(cli, cmd, argc, argv);   /* argv[1] is the name, or
                                                 * the first option. */
    }
    return cmd->fn(cli, cmd, argc - 1, argv + 1);
}

int
main(int argc, char **argv)
{
    struct cli cli;
    int rc;

    log_set_program("fexctl");
    signal(SIGPIPE, SIG_IGN);
    cli_init(&cli, argv[0]);
    rc = run(&cli, argc, argv);
    cli_uninit(&cli);
    return rc;
}
