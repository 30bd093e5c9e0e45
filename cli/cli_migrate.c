/* fexctl migrate: live migration of a running VM (service Migrations).
 * "migrate VM --to HOST" starts the job and polls Migrations.Get every
 * 100 ms, showing each pre-copy round, and ends with the report. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "args.h"
#include "cli.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_parse.h"
#include "migflow.pb-c.h"

#define MIGRATE_POLL_MS 100
#define MIB (1024.0 * 1024.0)

enum { OPT_TO = 300, OPT_DOWNTIME, OPT_BW, OPT_AC, OPT_NO_AC, OPT_TMO,
       OPT_DIRTY, OPT_NO_WAIT };

struct mig_opts {
    const char *to;
    Fexsim__V1__MigrationParams params;
    uint64_t dirty_rate;
    int set_dirty_rate;
    int no_wait;
};

static const struct option migrate_opts[] = {
    { "to", required_argument, NULL, OPT_TO },
    { "downtime-limit", required_argument, NULL, OPT_DOWNTIME },
    { "max-bandwidth", required_argument, NULL, OPT_BW },
    { "auto-converge", no_argument, NULL, OPT_AC },
    { "no-auto-converge", no_argument, NULL, OPT_NO_AC },
    { "timeout", required_argument, NULL, OPT_TMO },
    { "dirty-rate", required_argument, NULL, OPT_DIRTY },
    { "no-wait", no_argument, NULL, OPT_NO_WAIT },
    { NULL, 0, NULL, 0 },
};

static int
migrate_opt(void *arg, int opt, const char *val)
{
    struct mig_opts *o = arg;
    struct fx_err err;
    uint64_t v = 0;
    int rc = 0;

    switch (opt) {
    case OPT_TO: o->to = val; return 0;
    case OPT_AC: o->params.auto_converge = 1; return 0;
    case OPT_NO_AC: o->params.auto_converge = 0; return 0;
    case OPT_NO_WAIT: o->no_wait = 1; return 0;
    case OPT_DOWNTIME:
        rc = fx_parse_u64(val, 1, FX_LIMITS_DOWNTIME_LIMIT_MAX_MS, &v,
                          "--downtime-limit", &err);
        o->params.downtime_limit_ms = (uint32_t) v;
        break;
    case OPT_BW:
        rc = fx_parse_u64(val, 0, 1 << 20, &v, "--max-bandwidth", &err);
        o->params.max_bandwidth = v << 20;
        break;
    case OPT_TMO:
        rc = fx_parse_u64(val, 1, 86400000, &v, "--timeout", &err);
        o->params.timeout_ms = (uint32_t) v;
        break;
    case OPT_DIRTY:
        rc = fx_parse_u64(val, 0, FX_LIMITS_DIRTY_RATE_MAX, &v, "--dirty-rate",
                          &err);
        o->dirty_rate = v;
        o->set_dirty_rate = 1;
        break;
    default: return CLI_USAGE;
    }
    return rc ? cli_usage_error("migrate", "%s", err.msg) : 0;
}

static struct json_object *
migration_json(const Fexsim__V1__Migration *m)
{
    struct json_object *o = json_object_new_object();
    const Fexsim__V1__MigrationReport *r = m->report;

#define S(k, v) json_object_object_add(o, k, json_object_new_string(v))
#define U(k, v) json_object_object_add(o, k, \
                    json_object_new_int64((int64_t) (v)))
    U("id", m->id);
    S("vm", m->vm);
    S("from", m->src);
    S("to", m->dst);
    S("phase", m->phase);
    S("state", m->state);
    S("error", m->error);
    if (m->progress) {
        U("round", m->progress->round);
        U("bytes_remaining", m->progress->bytes_remaining);
        U("rate", m->progress->rate);
    }
    if (r) {
        U("total_ms", r->total_ms);
        U("downtime_ms", r->downtime_ms);
        U("downtime_us", r->downtime_us);
        U("bytes_sent", r->bytes_sent);
        U("rounds", r->rounds);
        U("frames_held", r->frames_held);
        U("frames_lost", r->frames_lost);
        U("throttle_pct", r->throttle_pct);
        if (r->hv_total_ms) {
            U("libvirt_total_ms", r->hv_total_ms);
            U("libvirt_downtime_ms", r->hv_downtime_ms);
            U("libvirt_data_bytes", r->hv_data_bytes);
            U("libvirt_iterations", r->hv_iterations);
        }
    }
#undef S
#undef U
    return o;
}

static void
migration_print_report(const Fexsim__V1__Migration *m)
{
    const Fexsim__V1__MigrationReport *r = m->report;

    printf("migration %u of %s from %s to %s: %s%s%s\n", m->id, m->vm,
           m->src, m->dst, m->state, m->error[0] ? ": " : "", m->error);
    if (!r) {
        return;
    }
    printf("  total time  %" PRIu64 " ms\n"
           "  downtime    %.3f ms\n"
           "  sent        %.1f MiB in %u rounds\n"
           "  frames held %" PRIu64 ", lost %" PRIu64 "\n",
           r->total_ms, r->downtime_us / 1000.0, r->bytes_sent / MIB,
           r->rounds, r->frames_held, r->frames_lost);
    if (r->hv_total_ms) {
        /* A real guest: QEMU moved its memory and CPU, libvirt measured. */
        printf("  libvirt     total %" PRIu64 " ms, downtime %" PRIu64
               " ms, %.1f MiB in %u passes (QEMU's live migration)\n",
               r->hv_total_ms, r->hv_downtime_ms, r->hv_data_bytes / MIB,
               r->hv_iterations);
    }
}

/* One line per new round; on a terminal the line is rewritten. */
static void
migration_print_progress(const Fexsim__V1__Migration *m, uint32_t *shown)
{
    const Fexsim__V1__MigrationProgress *p = m->progress;
    int tty = isatty(STDOUT_FILENO);

    if (!p || !p->round || p->round == *shown) {
        return;
    }
    *shown = p->round;
    printf("%sround %u: sent %.1f MiB, remaining %.1f MiB, %.0f MiB/s%s",
           tty ? "\r" : "", p->round, p->bytes_sent / MIB,
           p->bytes_remaining / MIB, p->rate / MIB, tty ? "   " : "\n");
    fflush(stdout);
}

static int
migrate_get(struct cli *cli, uint32_t id, Fexsim__V1__MigrationReply **repp,
            struct fx_err *err)
{
    Fexsim__V1__MigrationRef ref = FEXSIM__V1__MIGRATION_REF__INIT;

    ref.id = id;
    return cli_call(cli, "Migrations.Get", &ref.base,
                    &fexsim__v1__migration_reply__descriptor,
                    (ProtobufCMessage **) repp, err);
}

/* Polls job 'id' until it has a report; prints it.  Returns the exit
 * code: CLI_OK only when the migration completed. */
static int
migrate_wait(struct cli *cli, uint32_t id)
{
    const struct timespec tick = { 0, MIGRATE_POLL_MS * 1000000L };
    Fexsim__V1__MigrationReply *rep;
    uint32_t shown = 0;
    struct fx_err err;
    int rc;

    for (;;) {
        if (migrate_get(cli, id, &rep, &err)) {
            return cli_fail(&err);
        }
        if (rep->migration->report) {
            break;
        }
        if (!cli->json) {
            migration_print_progress(rep->migration, &shown);
        }
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        nanosleep(&tick, NULL);
    }
    if (cli->json) {
        cli_print_json(migration_json(rep->migration));
    } else {
        if (shown && isatty(STDOUT_FILENO)) {
            putchar('\n');
        }
        migration_print_report(rep->migration);
    }
    rc = strcmp(rep->migration->state, "completed") ? CLI_FAILED : CLI_OK;
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return rc;
}

static int
cmd_migrate(struct cli *cli, const struct cli_cmd *cmd, int argc,
            char **argv)
{
    Fexsim__V1__MigrateRequest req = FEXSIM__V1__MIGRATE_REQUEST__INIT;
    Fexsim__V1__MigrationReply *rep;
    struct mig_opts o = { 0 };
    const char *vm;
    struct fx_err err;
    uint32_t id;
    int rc;

    fexsim__v1__migration_params__init(&o.params);
    o.params.max_bandwidth = 128ull << 20;
    rc = args_parse_named(cli, cmd, argc, argv, "VM", &vm, migrate_opts,
                          migrate_opt, &o);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.to) {
        return cli_usage_error("migrate", "--to HOST is required");
    }
    req.vm = (char *) vm;
    req.to = (char *) o.to;
    req.params = &o.params;
    req.dirty_rate = o.dirty_rate;
    req.set_dirty_rate = o.set_dirty_rate;
    if (cli_call(cli, "Migrations.Start", &req.base,
                 &fexsim__v1__migration_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    id = rep->migration->id;
    if (o.no_wait) {
        if (cli->json) {
            cli_print_json(migration_json(rep->migration));
        } else {
            printf("migration %u of %s to %s started\n", id, vm, o.to);
        }
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        return CLI_OK;
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return migrate_wait(cli, id);
}

static struct json_object *
migrate_list_json(const ProtobufCMessage *m)
{
    return migration_json((const Fexsim__V1__Migration *) m);
}

static void
migrate_list_header(void)
{
    printf("%-4s %-12s %-10s %-10s %-9s %-10s %10s %s\n", "ID", "VM", "FROM",
           "TO", "PHASE", "STATE", "DOWNTIME", "ERROR");
}

static void
migrate_list_row(const ProtobufCMessage *pm)
{
    const Fexsim__V1__Migration *m = (const Fexsim__V1__Migration *) pm;
    char dt[24] = "-";

    if (m->report && !strcmp(m->state, "completed")) {
        snprintf(dt, sizeof dt, "%.3fms", m->report->downtime_us / 1e3);
    }
    printf("%-4u %-12s %-10s %-10s %-9s %-10s %10s %s\n", m->id, m->vm,
           m->src, m->dst, m->phase, m->state, dt, m->error);
}

/* --json prints the bare array, as it always has. */
static int
cmd_migrate_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
                 char **argv)
{
    static const struct cli_list l = {
        "Migrations.List", &fexsim__v1__list_migrations_request__descriptor,
        &fexsim__v1__list_migrations_reply__descriptor, "migrations", 1,
        migrate_list_json, migrate_list_header, migrate_list_row,
    };

    return cli_list(cli, cmd, argc, argv, &l);
}

static int
cmd_migrate_cancel(struct cli *cli, const struct cli_cmd *cmd, int argc,
                   char **argv)
{
    Fexsim__V1__MigrationRef ref = FEXSIM__V1__MIGRATION_REF__INIT;
    Fexsim__V1__MigrationReply *rep;
    const char *what;
    struct fx_err err;
    uint64_t id;
    int rc = args_parse_named(cli, cmd, argc, argv, "VM or ID", &what, NULL,
                              NULL, NULL);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!fx_parse_u64(what, 1, UINT32_MAX, &id, "id", &err)) {
        ref.id = (uint32_t) id;
    } else {
        ref.vm = (char *) what;
    }
    if (cli_call(cli, "Migrations.Cancel", &ref.base,
                 &fexsim__v1__migration_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    if (cli->json) {
        cli_print_json(migration_json(rep->migration));
    } else {
        printf("migration %u of %s: cancelling\n", rep->migration->id,
               rep->migration->vm);
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

const struct cli_cmd cli_migrate_cmds[] = {
    { "migrate", "list", cmd_migrate_list, "migrations in flight and done",
      "Usage: fexctl migrate list [--json]\n"
      "Lists migrations, in flight and finished: phase, state, downtime.\n" },
    { "migrate", "cancel", cmd_migrate_cancel, "cancel a migration",
      "Usage: fexctl migrate cancel VM|ID [--json]\n"
      "Cancels the VM's latest migration (or migration ID).  The VM keeps\n"
      "running on its source host; too late once it runs on the\n"
      "destination.\n" },
    { "migrate", "*", cmd_migrate, "live-migrate VM to --to HOST",
      "Usage: fexctl migrate VM --to HOST [OPTIONS] [--json]\n"
      "Live-migrates running VM to HOST: pre-copy of its memory agent to\n"
      "agent, switchover (vNICs quiesced and checkpointed), the VIFs follow\n"
      "with the same ids and MACs.  Shows each round, then the report.\n"
      "\n"
      "  --to HOST            destination host (required)\n"
      "  --downtime-limit MS  switch over when the rest fits (default 300)\n"
      "  --max-bandwidth MIB  MiB/s on the page stream (default 128, 0 =\n"
      "                       unlimited)\n"
      "  --auto-converge      throttle the guest when it dirties too fast\n"
      "  --no-auto-converge   fail instead (default)\n"
      "  --timeout MS         give up after MS (default none)\n"
      "  --dirty-rate N       the guest writes N pages/s from now on, here\n"
      "                       and where it moves (as 'vm set'); default: it\n"
      "                       keeps its own rate\n"
      "  --no-wait            print the id and return\n"
      "  --json               the final report as one JSON document\n"
      "Exit status 1 when the migration did not complete.\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
