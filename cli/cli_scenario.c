/* fexctl scenario run: runs scenario files (cli/scenario/scenario.h,
 * docs/SCENARIOS.md), each in a lab of its own. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
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
    if (t.interrupted) {
        fprintf(stderr, "fexctl: scenario run interrupted: every lab it "
                "made is down\n");
        return CLI_FAILED;
    }
    if (!t.passed && !t.failed) {
        return CLI_USAGE;
    }
    return t.failed ? CLI_FAILED : CLI_OK;
}

/* ---- scenario chaos ---- */

struct chaos_cli_opts {
    struct scenario_chaos_opts run;
    int seed_given;
    struct fx_err err;
};

enum { CH_SEED = 1, CH_HOSTS, CH_VMS, CH_STEPS, CH_ARM, CH_LOGS,
       CH_NO_SHRINK };

static const struct option chaos_opts[] = {
    { "seed", required_argument, NULL, CH_SEED },
    { "hosts", required_argument, NULL, CH_HOSTS },
    { "vms", required_argument, NULL, CH_VMS },
    { "steps", required_argument, NULL, CH_STEPS },
    { "arm", required_argument, NULL, CH_ARM },
    { "logs", required_argument, NULL, CH_LOGS },
    { "no-shrink", no_argument, NULL, CH_NO_SHRINK },
    { NULL, 0, NULL, 0 },
};

static int
chaos_opt(void *arg, int opt, const char *val)
{
    struct chaos_cli_opts *o = arg;
    uint64_t v = 0;
    int rc = 0;

    switch (opt) {
    case CH_SEED:
        rc = fx_parse_u64(val, 0, UINT64_MAX, &v, "--seed", &o->err);
        o->run.seed = v;
        o->seed_given = 1;
        break;
    case CH_HOSTS:
        rc = fx_parse_u64(val, 2, 16, &v, "--hosts", &o->err);
        o->run.hosts = (unsigned) v;
        break;
    case CH_VMS:
        rc = fx_parse_u64(val, 1, 32, &v, "--vms", &o->err);
        o->run.vms = (unsigned) v;
        break;
    case CH_STEPS:
        rc = fx_parse_u64(val, 1, 10000, &v, "--steps", &o->err);
        o->run.steps = (unsigned) v;
        break;
    case CH_ARM:
        if (!strchr(val, ':')) {
            rc = fx_err_set(&o->err, -EINVAL, "--arm is DAEMON:SPEC, such "
                            "as h1:fail@release, not '%s'", val);
        }
        o->run.arm = val;
        break;
    case CH_LOGS: o->run.logs = val; break;
    default: o->run.no_shrink = 1; break;
    }
    if (rc) {
        fprintf(stderr, "fexctl: %s\n", o->err.msg);
        return CLI_USAGE;
    }
    return 0;
}

static int
cmd_scenario_chaos(struct cli *cli, const struct cli_cmd *cmd, int argc,
                   char **argv)
{
    struct chaos_cli_opts o = { .run = { .hosts = 2, .vms = 2,
                                         .steps = 20 } };
    char fexctl[PATH_MAX];
    int idx, rc;

    rc = cli_parse(cli, cmd, argc, argv, chaos_opts, chaos_opt, &o, &idx);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (idx < argc) {
        return cli_usage_error("scenario chaos", "unexpected argument '%s'",
                               argv[idx]);
    }
    if (!o.seed_given) {
        return cli_usage_error("scenario chaos", "--seed S is required (the "
                               "same seed gives the same storm)");
    }
    snprintf(fexctl, sizeof fexctl, "%s/fexctl", cli->bindir);
    o.run.fexctl = fexctl;
    rc = scenario_chaos(&o.run, &o.err);
    if (rc < 0) {
        fprintf(stderr, "fexctl: %s\n", o.err.msg);
        return CLI_FAILED;
    }
    return rc ? CLI_FAILED : CLI_OK;
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
    { "scenario", "chaos", cmd_scenario_chaos,
      "run a seeded storm of migrations and faults",
      "Usage: fexctl scenario chaos --seed S [--hosts H] [--vms V] "
      "[--steps N]\n"
      "                             [--arm DAEMON:SPEC] [--logs DIR] "
      "[--no-shrink]\n"
      "Generates from seed S a storm of N steps (migrations, VM stop, start,\n"
      "delete and create, daemons crashed at a migration phase, crashed or\n"
      "frozen) over V VMs on H hosts, writes it as a scenario file,\n"
      "LOGS/chaos-S.scn (the same seed always gives the same file, and the\n"
      "file replays the storm with 'scenario run'), and runs it with the\n"
      "invariants checked after each step.  On a violation it shrinks the\n"
      "storm, removing steps while the violation persists, and writes and\n"
      "prints the minimal failing scenario, LOGS/chaos-S-min.scn.\n"
      "\n"
      "  --seed S           the storm's seed (required)\n"
      "  --hosts H          2-16 (default 2)\n"
      "  --vms V            1-32 (default 2)\n"
      "  --steps N          1-10000 (default 20)\n"
      "  --arm DAEMON:SPEC  arm a daemon with a test fault first, e.g.\n"
      "                     h1:fail@release (a planted vNIC leak)\n"
      "  --logs DIR         where the files and kept logs go (default: a\n"
      "                     new dir in $TMPDIR)\n"
      "  --no-shrink        report a violation without shrinking it\n"
      "\n"
      "Exit status: 0 no violation, 1 a violation (or a step that failed\n"
      "otherwise), 2 usage error.\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
