/* fexctl scenario run: runs scenario files (cli/scenario/scenario.h,
 * docs/SCENARIOS.md), each in a lab of its own. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fx_err.h"
#include "fx_parse.h"
#include "scenario/scenario.h"

struct scn_cli_opts {
    struct scenario_opts run;
    struct fx_err err;
};

enum { SCN_OPT_JOBS = 'j', SCN_OPT_JUNIT = 1, SCN_OPT_LOGS, SCN_OPT_KEEP };

static const struct option scn_cli_opts[] = {
    { "jobs", required_argument, NULL, SCN_OPT_JOBS },
    { "junit", required_argument, NULL, SCN_OPT_JUNIT },
    { "logs", required_argument, NULL, SCN_OPT_LOGS },
    { "keep", no_argument, NULL, SCN_OPT_KEEP },
    { NULL, 0, NULL, 0 },
};

static int
scn_cli_opt(void *arg, int opt, const char *val)
{
    struct scn_cli_opts *o = arg;
    uint64_t v;

    switch (opt) {
    case SCN_OPT_JOBS:
        if (fx_parse_u64(val, 1, 64, &v, "--jobs", &o->err)) {
            fprintf(stderr, "fexctl: %s\n", o->err.msg);
            return CLI_USAGE;
        }
        o->run.jobs = (unsigned) v;
        break;
    case SCN_OPT_JUNIT: o->run.junit = val; break;
    case SCN_OPT_LOGS: o->run.logs = val; break;
    default: o->run.keep = 1; break;
    }
    return 0;
}

/* "-j N" as well as "--jobs N": getopt_long's short options come from
 * cli_parse's string, which has only -h, so -j is turned into --jobs. */
static void
scn_cli_short_j(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-j")) {
            argv[i] = "--jobs";
        } else if (!strcmp(argv[i], "--")) {
            return;
        }
    }
}

static int
cmd_scenario_run(struct cli *cli, const struct cli_cmd *cmd, int argc,
                 char **argv)
{
    struct scn_cli_opts o = { .run = { .jobs = 1 } };
    struct scenario_totals t;
    char fexctl[PATH_MAX];
    int idx = 0, n = 0, rc;

    scn_cli_short_j(argc, argv);
    /* Options may come before and after the files: each run of options
     * is parsed as argv[0] were the word before it; files are gathered
     * at the front of argv, in order. */
    while (++idx < argc) {
        int used;

        if (argv[idx][0] != '-') {
            argv[n++] = argv[idx];
            continue;
        }
        rc = cli_parse(cli, cmd, argc - idx + 1, argv + idx - 1,
                       scn_cli_opts, scn_cli_opt, &o, &used);
        if (rc) {
            return rc == 1 ? CLI_OK : rc;
        }
        idx += used - 2;
    }
    if (!n) {
        return cli_usage_error("scenario run", "no scenario FILE given");
    }
    snprintf(fexctl, sizeof fexctl, "%s/fexctl", cli->bindir);
    o.run.fexctl = fexctl;
    o.run.json = cli->json;
    rc = scenario_run(argv, (size_t) n, &o.run, &t, &o.err);
    if (rc) {
        fprintf(stderr, "fexctl: %s\n", o.err.msg);
        /* A file that does not parse or read ran nothing: exit 2. */
        return t.passed + t.failed ? CLI_FAILED : CLI_USAGE;
    }
    if (!t.passed && !t.failed) {
        return CLI_USAGE;
    }
    return t.failed ? CLI_FAILED : CLI_OK;
}

const struct cli_cmd cli_scenario_cmds[] = {
    { "scenario", "run", cmd_scenario_run, "run migration test scenarios",
      "Usage: fexctl scenario run [-j N] [--junit FILE] [--logs DIR] "
      "[--keep] [--json] FILE...\n"
      "Runs each scenario FILE (docs/SCENARIOS.md): brings up the lab its\n"
      "header describes in a directory of its own (free ports), runs its\n"
      "steps in order, each reported with its result and time, checks the\n"
      "invariants after every step and at the end (a VM runs exactly once,\n"
      "no VIF lost, no vNIC leaked), and tears the lab down even on\n"
      "failure, keeping a failed scenario's logs in a directory it names.\n"
      "Ends with 'N passed, M failed'.  Every file is parsed first: a\n"
      "malformed one names FILE:LINE:COLUMN and nothing runs.\n"
      "\n"
      "  -j, --jobs N    run N scenarios at once (default 1)\n"
      "  --junit FILE    also write the results as JUnit XML\n"
      "  --logs DIR      put each scenario's directory (lab, daemons' logs,\n"
      "                  steps.log) in DIR (default: a new one in $TMPDIR)\n"
      "  --keep          keep the directories of passed scenarios too\n"
      "  --json          print one JSON document {passed, failed, logs,\n"
      "                  scenarios: [report...]}\n"
      "\n"
      "Exit status: 0 all passed, 1 a scenario failed (each named by\n"
      "FILE:LINE), 2 usage or parse error, or no scenario ran.\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
