/* fexctl migrate: live migration of a running VM (service Migrations).
 * "migrate VM --to HOST" subscribes to fabricd's events with the live
 * progress ticks (Events.Subscribe, migration_progress) before it starts
 * the job, draws a progress bar from them on a terminal (plain lines when
 * piped, nothing with --json), and ends with the report, read with
 * Migrations.Get once the job's end event came (or, should the stream
 * end, once a Get every second finds it over). */
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
#include "events.pb-c.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_parse.h"
#include "migflow.pb-c.h"
#include "pbenum.h"
#include "rpc.h"

/* MigrationParams' bandwidth is set (a oneof of one field: presence). */
#define MIG_BW_SET \
    FEXSIM__V1__MIGRATION_PARAMS__MAX_BANDWIDTH_MAX_BANDWIDTH_BYTES_PER_S

/* Without news from the event stream, how often the job is read. */
#define MIGRATE_POLL_MS 1000
/* Piped, at most one progress line per this (and one per round). */
#define MIGRATE_LINE_MS 1000
#define MIGRATE_BAR 12          /* The line fits 80 columns. */
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
        o->params.max_bandwidth_case = MIG_BW_SET;
        o->params.max_bandwidth_bytes_per_s = v << 20;
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

/* An enum's word (pbenum.h) as a value, so that it can stand in a
 * printf's arguments: the array lives to the end of the full
 * expression. */
struct mig_word {
    char s[24];
};

static struct mig_word
mig_word(const ProtobufCEnumDescriptor *d, int v)
{
    struct mig_word w;

    pbenum_word(d, v, w.s, sizeof w.s);
    return w;
}

#define MIG_STATE(m) \
    mig_word(&fexsim__v1__migration_state__descriptor, (m)->state).s
#define MIG_PHASE(m) \
    mig_word(&fexsim__v1__migration_phase__descriptor, (m)->phase).s
#define MIG_COMPLETED FEXSIM__V1__MIGRATION_STATE__MIGRATION_STATE_COMPLETED
#define MIG_CANCELLED FEXSIM__V1__MIGRATION_STATE__MIGRATION_STATE_CANCELLED

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
    S("phase", MIG_PHASE(m));
    S("state", MIG_STATE(m));
    S("flavor", mig_word(&fexsim__v1__flavor__descriptor, m->flavor).s);
    S("error", m->error);
    if (m->progress) {
        U("round", m->progress->round);
        U("remaining_bytes", m->progress->remaining_bytes);
        U("rate_bytes_per_s", m->progress->rate_bytes_per_s);
    }
    if (m->params) {
        U("max_bandwidth_bytes_per_s", m->params->max_bandwidth_bytes_per_s);
        U("downtime_limit_ms", m->params->downtime_limit_ms);
    }
    if (m->stats) {
        const Fexsim__V1__MigrationStats *st = m->stats;
        struct json_object *so = json_object_new_object();

#define SU(k, v) json_object_object_add(so, k, \
                     json_object_new_int64((int64_t) (v)))
        SU("iteration", st->iteration);
        SU("data_total_bytes", st->data_total_bytes);
        SU("data_processed_bytes", st->data_processed_bytes);
        SU("data_remaining_bytes", st->data_remaining_bytes);
        SU("memory_dirty_rate_pages_per_s",
           st->memory_dirty_rate_pages_per_s);
        SU("bandwidth_bytes_per_s", st->bandwidth_bytes_per_s);
        SU("expected_downtime_ms", st->expected_downtime_ms);
        SU("time_elapsed_ms", st->time_elapsed_ms);
        SU("throttle_pct", st->throttle_pct);
        SU("downtime_us", st->downtime_us);
#undef SU
        json_object_object_add(o, "stats", so);
    }
    if (r) {
        U("total_ms", r->total_ms);
        U("downtime_ms", r->downtime_ms);
        U("downtime_us", r->downtime_us);
        U("sent_bytes", r->sent_bytes);
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
        if (r->guest) {
            U("guest_frames_sent", r->guest->sent);
            U("guest_frames_received", r->guest->received);
            U("guest_frames_lost", r->guest->lost);
            U("guest_frames_duplicated", r->guest->duplicated);
            U("guest_frames_reordered", r->guest->reordered);
            U("guest_longest_gap_ms", r->guest->longest_gap_ms);
        }
        if (r->guest_error && r->guest_error[0]) {
            S("guest_error", r->guest_error);
        }
    }
#undef S
#undef U
    return o;
}

/* The report's figures, indented. */
static void
migration_print_figures(const Fexsim__V1__MigrationReport *r)
{
    printf("  total time  %" PRIu64 " ms\n"
           "  downtime    %.3f ms\n"
           "  sent        %.1f MiB in %u rounds\n"
           "  frames held %" PRIu64 ", lost %" PRIu64 "\n",
           r->total_ms, r->downtime_us / 1000.0, r->sent_bytes / MIB,
           r->rounds, r->frames_held, r->frames_lost);
    if (r->hv_total_ms) {
        /* A real guest: QEMU moved its memory and CPU, libvirt measured. */
        printf("  libvirt     total %" PRIu64 " ms, downtime %" PRIu64
               " ms, %.1f MiB in %u passes (QEMU's live migration)\n",
               r->hv_total_ms, r->hv_downtime_ms, r->hv_data_bytes / MIB,
               r->hv_iterations);
    }
    if (r->guest) {
        /* Its own counters, from before the move until it heard its peer
         * again on the destination. */
        printf("  guest       lost %" PRIu64 ", duplicated %" PRIu64
               ", reordered %" PRIu64 " of %" PRIu64 " received, longest "
               "gap %" PRIu64 " ms (its own count)\n", r->guest->lost,
               r->guest->duplicated, r->guest->reordered,
               r->guest->received, r->guest->longest_gap_ms);
    } else if (r->guest_error && r->guest_error[0]) {
        printf("  guest       no view of its own: %s\n", r->guest_error);
    }
}

static void
migration_print_report(const Fexsim__V1__Migration *m)
{
    printf("migration %u of %s from %s to %s: %s%s%s\n", m->id, m->vm,
           m->src, m->dst, MIG_STATE(m), m->error[0] ? ": " : "",
           m->error);
    if (m->report) {
        migration_print_figures(m->report);
    }
}

/* Every figure of 'm': its statistics (live while it copies), limits and
 * report. */
static void
migration_print_full(const Fexsim__V1__Migration *m)
{
    const Fexsim__V1__MigrationStats *st = m->stats;
    const Fexsim__V1__MigrationParams *p = m->params;

    printf("migration %u of %s from %s to %s: %s (phase %s)%s%s\n", m->id,
           m->vm, m->src, m->dst, MIG_STATE(m), MIG_PHASE(m),
           m->error[0] ? ": " : "", m->error);
    if (st) {
        printf("  iteration          %u\n"
               "  processed          %.1f MiB of %.1f MiB\n"
               "  remaining          %.1f MiB\n"
               "  bandwidth          %.1f MiB/s\n"
               "  dirty rate         %" PRIu64 " pages/s\n"
               "  expected downtime  %" PRIu64 " ms\n"
               "  elapsed            %" PRIu64 " ms\n"
               "  throttle           %u%%\n",
               st->iteration, st->data_processed_bytes / MIB,
               st->data_total_bytes / MIB, st->data_remaining_bytes / MIB,
               st->bandwidth_bytes_per_s / MIB,
               st->memory_dirty_rate_pages_per_s, st->expected_downtime_ms,
               st->time_elapsed_ms, st->throttle_pct);
    }
    if (p) {
        char bw[32] = "unlimited";

        if (p->max_bandwidth_bytes_per_s) {
            snprintf(bw, sizeof bw, "%.1f MiB/s",
                     p->max_bandwidth_bytes_per_s / MIB);
        }
        printf("  max bandwidth      %s\n"
               "  downtime limit     %u ms\n", bw,
               p->downtime_limit_ms ? p->downtime_limit_ms : 300);
    }
    if (m->report) {
        migration_print_figures(m->report);
    }
}

/* Following one job on the event stream. */
struct mig_follow {
    uint32_t id;                 /* 0 until Start answered... */
    const char *vm;              /* ...then its events are the VM's. */
    uint64_t stream;             /* The Subscribe request's id. */
    int tty;                     /* Draw a bar, rewritten in place. */
    int quiet;                   /* --json: nothing until the end. */
    int drawn;                   /* A bar is on the line. */
    int over;                    /* Its end event came, or the stream
                                  * ended: read the job. */
    uint32_t round;              /* Last round a line was printed for. */
    uint64_t last_line_ms;
    char phase[16];
};

static uint64_t
migrate_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* The share of memory sent, as virsh's "Migration: [ 45 %]": what is
 * no longer dirty of the total. */
static unsigned
migrate_pct(const Fexsim__V1__MigrationStats *st)
{
    uint64_t done;

    if (!st->data_total_bytes) {
        return 0;
    }
    done = st->data_remaining_bytes < st->data_total_bytes
           ? st->data_total_bytes - st->data_remaining_bytes : 0;
    return (unsigned) (done * 100 / st->data_total_bytes);
}

/* One progress line from 'st': on a terminal a bar rewritten in place,
 * piped one plain line per round or per MIGRATE_LINE_MS. */
static void
migrate_draw(struct mig_follow *f, const Fexsim__V1__MigrationStats *st)
{
    unsigned pct = migrate_pct(st);
    uint64_t now = migrate_now_ms();
    char bar[MIGRATE_BAR + 1];

    if (f->quiet) {
        return;
    }
    if (f->tty) {
        for (unsigned i = 0; i < MIGRATE_BAR; i++) {
            bar[i] = i < pct * MIGRATE_BAR / 100 ? '#' : '.';
        }
        bar[MIGRATE_BAR] = '\0';
        printf("\r[%s] %3u%% round %u: %.1f MiB sent, %.1f left, %.1f "
               "MiB/s, ~%" PRIu64 " ms  ", bar, pct, st->iteration,
               st->data_processed_bytes / MIB,
               st->data_remaining_bytes / MIB,
               st->bandwidth_bytes_per_s / MIB, st->expected_downtime_ms);
        f->drawn = 1;
    } else if (st->iteration != f->round
               || now - f->last_line_ms >= MIGRATE_LINE_MS) {
        printf("round %u: %u%%, sent %.1f MiB, left %.1f MiB, %.1f MiB/s, "
               "%" PRIu64 " pages/s dirty, expected downtime %" PRIu64
               " ms\n", st->iteration, pct, st->data_processed_bytes / MIB,
               st->data_remaining_bytes / MIB,
               st->bandwidth_bytes_per_s / MIB,
               st->memory_dirty_rate_pages_per_s, st->expected_downtime_ms);
        f->last_line_ms = now;
    }
    f->round = st->iteration;
    fflush(stdout);
}

/* A phase: a line of its own (below the bar on a terminal). */
static void
migrate_phase(struct mig_follow *f, const char *phase)
{
    if (f->quiet || !phase[0] || !strcmp(phase, f->phase)) {
        return;
    }
    snprintf(f->phase, sizeof f->phase, "%s", phase);
    printf("%sphase %s\n", f->drawn ? "\n" : "", phase);
    f->drawn = 0;
    fflush(stdout);
}

static void
migrate_on_event(void *arg, uint64_t id, const char *name,
                 const uint8_t *payload, size_t len)
{
    struct mig_follow *f = arg;
    Fexsim__V1__Event *e;

    if (id != f->stream || strcmp(name, "Events.Event")) {
        return;
    }
    e = fexsim__v1__event__unpack(NULL, len, payload);
    if (!e) {
        return;              /* The Get every second still follows it. */
    }
    if (e->type == FEXSIM__V1__EVENT_TYPE__EVENT_STREAM_ENDED) {
        f->stream = 0;       /* From now on Get alone. */
    } else if (f->id ? e->migration == f->id
                     : f->vm && !strcmp(e->vm, f->vm)) {
        /* Before Start answers, its first events name only the VM. */
        switch (e->type) {
        case FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_PROGRESS:
        case FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_ITERATION:
            if (e->stats) {
                migrate_draw(f, e->stats);
            }
            break;
        case FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_PHASE:
            migrate_phase(f, e->state);
            break;
        case FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_FINISHED:
            f->over = 1;
            break;
        default:
            break;
        }
    }
    fexsim__v1__event__free_unpacked(e, NULL);
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

static void
migrate_tick(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
}

/* Follows job 'f->id' until it has a report; prints it.  Returns the
 * exit code: CLI_OK only when the migration completed. */
static int
migrate_wait(struct cli *cli, struct mig_follow *f)
{
    const struct timeval tick = { MIGRATE_POLL_MS / 1000,
                                  MIGRATE_POLL_MS % 1000 * 1000 };
    struct event *timer = evtimer_new(cli->base, migrate_tick, NULL);
    Fexsim__V1__MigrationReply *rep = NULL;
    uint64_t next_get = migrate_now_ms() + MIGRATE_POLL_MS;
    struct fx_err err;
    int rc;

    if (!timer) {
        abort();
    }
    for (;;) {
        if (f->over || migrate_now_ms() >= next_get) {
            if (migrate_get(cli, f->id, &rep, &err)) {
                event_free(timer);
                return cli_fail(&err);
            }
            if (rep->migration->report) {
                break;
            }
            protobuf_c_message_free_unpacked(&rep->base, NULL);
            rep = NULL;
            f->over = 0;
            next_get = migrate_now_ms() + MIGRATE_POLL_MS;
        }
        if (!cli->conn) {
            event_free(timer);
            fx_err_set(&err, -ECONNRESET, "connection to fabricd lost: %s",
                       cli->lost);
            return cli_fail(&err);
        }
        /* Events, or the tick that makes the next Get due. */
        evtimer_add(timer, &tick);
        event_base_loop(cli->base, EVLOOP_ONCE);
    }
    event_free(timer);
    if (cli->json) {
        cli_print_json(migration_json(rep->migration));
    } else {
        if (f->drawn) {
            putchar('\n');
        }
        migration_print_report(rep->migration);
    }
    rc = rep->migration->state == MIG_COMPLETED ? CLI_OK : CLI_FAILED;
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return rc;
}

/* Subscribes to the events with the live ticks, before the job starts
 * (none is missed); on failure the job is followed with Get alone. */
static void
migrate_subscribe(struct cli *cli, struct mig_follow *f)
{
    Fexsim__V1__SubscribeRequest req = FEXSIM__V1__SUBSCRIBE_REQUEST__INIT;
    Fexsim__V1__SubscribeReply *rep;
    struct fx_err err;

    if (cli_connect(cli, &err)) {
        return;              /* Start says why. */
    }
    /* Events may follow the reply in the same read: catch them first.
     * The stream is the next request's id, the first on this
     * connection. */
    rpc_conn_set_event_fn(cli->conn, migrate_on_event, f);
    f->stream = 1;
    req.only_new = 1;
    req.migration_progress = 1;
    if (cli_call(cli, "Events.Subscribe", &req.base,
                 &fexsim__v1__subscribe_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        f->stream = 0;
        return;
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
}

static int
cmd_migrate(struct cli *cli, const struct cli_cmd *cmd, int argc,
            char **argv)
{
    Fexsim__V1__MigrateRequest req = FEXSIM__V1__MIGRATE_REQUEST__INIT;
    Fexsim__V1__MigrationReply *rep;
    struct mig_opts o = { 0 };
    struct mig_follow follow = { 0 };
    const char *vm;
    struct fx_err err;
    uint32_t id;
    int rc;

    fexsim__v1__migration_params__init(&o.params);
    /* The API's default too (fx_limits.h): said, not left to it. */
    o.params.max_bandwidth_case = MIG_BW_SET;
    o.params.max_bandwidth_bytes_per_s =
        FX_LIMITS_MAX_BANDWIDTH_DEFAULT_BYTES_PER_S;
    rc = args_parse_named(cli, cmd, argc, argv, "VM", &vm, migrate_opts,
                          migrate_opt, &o);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.to) {
        return cli_usage_error("migrate", "--to HOST is required");
    }
    if (!o.no_wait) {
        follow.tty = isatty(STDOUT_FILENO);
        follow.vm = vm;
        follow.quiet = cli->json;
        migrate_subscribe(cli, &follow);
    }
    req.vm = (char *) vm;
    req.to = (char *) o.to;
    req.params = &o.params;
    req.dirty_rate_pages_per_s = o.dirty_rate;
    req.set_dirty_rate = o.set_dirty_rate;
    if (cli_call(cli, "Migrations.Start", &req.base,
                 &fexsim__v1__migration_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    id = rep->migration->id;
    follow.id = id;
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
    return migrate_wait(cli, &follow);
}

static struct json_object *
migrate_list_json(const ProtobufCMessage *m)
{
    return migration_json((const Fexsim__V1__Migration *) m);
}

static void
migrate_list_header(void)
{
    printf("%-4s %-12s %-10s %-10s %-9s %-10s %4s %9s %9s %10s %s\n", "ID",
           "VM", "FROM", "TO", "PHASE", "STATE", "ITER", "SENT", "LEFT",
           "DOWNTIME", "ERROR");
}

static void
migrate_list_row(const ProtobufCMessage *pm)
{
    const Fexsim__V1__Migration *m = (const Fexsim__V1__Migration *) pm;
    const Fexsim__V1__MigrationStats *st = m->stats;
    char dt[24] = "-", sent[16] = "-", left[16] = "-";

    if (m->report && m->state == MIG_COMPLETED) {
        snprintf(dt, sizeof dt, "%.3fms", m->report->downtime_us / 1e3);
    }
    if (st && st->iteration) {
        snprintf(sent, sizeof sent, "%.1fM", st->data_processed_bytes / MIB);
        snprintf(left, sizeof left, "%.1fM", st->data_remaining_bytes / MIB);
    }
    printf("%-4u %-12s %-10s %-10s %-9s %-10s %4u %9s %9s %10s %s\n", m->id,
           m->vm, m->src, m->dst, MIG_PHASE(m), MIG_STATE(m),
           st ? st->iteration : 0,
           sent, left, dt, m->error);
}

/* --json prints the bare array, as it always has. */
static int
cmd_migrate_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
                 char **argv)
{
    static const struct cli_list l = {
        "Migrations.List", &fexsim__v1__list_migrations_request__descriptor,
        &fexsim__v1__list_migrations_reply__descriptor, "migrations", 1,
        migrate_list_json, migrate_list_header, migrate_list_row, NULL, NULL,
    };

    return cli_list(cli, cmd, argc, argv, &l);
}

/* "VM or ID" as a MigrationRef: a number is an id. */
static void
migrate_ref(const char *what, Fexsim__V1__MigrationRef *ref)
{
    struct fx_err err;
    uint64_t id;

    if (!fx_parse_u64(what, 1, UINT32_MAX, &id, "id", &err)) {
        ref->id = (uint32_t) id;
    } else {
        ref->vm = (char *) what;
    }
}

/* Calls 'method' (a MigrationReply) and prints the job: --json, or one
 * line, or with 'full' every figure.  'rc_of' maps it to the exit code
 * (NULL: CLI_OK). */
static int
migrate_call_show(struct cli *cli, const char *method,
                  const ProtobufCMessage *req, bool full,
                  int (*rc_of)(const Fexsim__V1__Migration *m))
{
    Fexsim__V1__MigrationReply *rep;
    const Fexsim__V1__Migration *m;
    struct fx_err err;
    int rc;

    if (cli_call(cli, method, req, &fexsim__v1__migration_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    m = rep->migration;
    if (!m) {
        protobuf_c_message_free_unpacked(&rep->base, NULL);
        fx_err_set(&err, -ENOENT, "the migration was forgotten meanwhile");
        return cli_fail(&err);
    }
    if (cli->json) {
        cli_print_json(migration_json(m));
    } else if (full) {
        migration_print_full(m);
    } else {
        printf("migration %u of %s: %s%s%s\n", m->id, m->vm, MIG_STATE(m),
               m->error[0] ? ": " : "", m->error);
    }
    rc = rc_of ? rc_of(m) : CLI_OK;
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return rc;
}

/* A cancel answers once the job is final: "cancelled" is success. */
static int
migrate_cancelled(const Fexsim__V1__Migration *m)
{
    return m->state == MIG_CANCELLED ? CLI_OK : CLI_FAILED;
}

/* A command on one migration named by its VM or id (MigrationRef): calls
 * 'method' and shows the answer as migrate_call_show() does. */
static int
migrate_ref_cmd(struct cli *cli, const struct cli_cmd *cmd, int argc,
                char **argv, const char *method, bool full,
                int (*rc_of)(const Fexsim__V1__Migration *m))
{
    Fexsim__V1__MigrationRef ref = FEXSIM__V1__MIGRATION_REF__INIT;
    const char *what;
    int rc = args_parse_named(cli, cmd, argc, argv, "VM or ID", &what, NULL,
                              NULL, NULL);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    migrate_ref(what, &ref);
    return migrate_call_show(cli, method, &ref.base, full, rc_of);
}

static int
cmd_migrate_cancel(struct cli *cli, const struct cli_cmd *cmd, int argc,
                   char **argv)
{
    return migrate_ref_cmd(cli, cmd, argc, argv, "Migrations.Cancel", false,
                           migrate_cancelled);
}

static int
cmd_migrate_show(struct cli *cli, const struct cli_cmd *cmd, int argc,
                 char **argv)
{
    return migrate_ref_cmd(cli, cmd, argc, argv, "Migrations.Get", true,
                           NULL);
}

static const struct option set_params_opts[] = {
    { "downtime-limit", required_argument, NULL, OPT_DOWNTIME },
    { "max-bandwidth", required_argument, NULL, OPT_BW },
    { NULL, 0, NULL, 0 },
};

static int
set_params_opt(void *arg, int opt, const char *val)
{
    Fexsim__V1__SetMigrationParamsRequest *req = arg;
    struct fx_err err;
    uint64_t v = 0;
    int rc;

    switch (opt) {
    case OPT_DOWNTIME:
        rc = fx_parse_u64(val, 1, FX_LIMITS_DOWNTIME_LIMIT_MAX_MS, &v,
                          "--downtime-limit", &err);
        req->downtime_limit_ms = (uint32_t) v;
        break;
    case OPT_BW:
        rc = fx_parse_u64(val, 0, 1 << 20, &v, "--max-bandwidth", &err);
        req->set_max_bandwidth = 1;
        req->max_bandwidth_bytes_per_s = v << 20;
        break;
    default: return CLI_USAGE;
    }
    return rc ? cli_usage_error("migrate set-params", "%s", err.msg) : 0;
}

static int
cmd_migrate_set_params(struct cli *cli, const struct cli_cmd *cmd, int argc,
                       char **argv)
{
    Fexsim__V1__SetMigrationParamsRequest req =
        FEXSIM__V1__SET_MIGRATION_PARAMS_REQUEST__INIT;
    Fexsim__V1__MigrationRef ref = FEXSIM__V1__MIGRATION_REF__INIT;
    const char *what;
    int rc = args_parse_named(cli, cmd, argc, argv, "VM or ID", &what,
                              set_params_opts, set_params_opt, &req);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!req.set_max_bandwidth && !req.downtime_limit_ms) {
        return cli_usage_error("migrate set-params", "give --max-bandwidth, "
                               "--downtime-limit or both");
    }
    migrate_ref(what, &ref);
    req.ref = &ref;
    return migrate_call_show(cli, "Migrations.SetParams", &req.base, true,
                             NULL);
}

static int
cmd_migrate_force_complete(struct cli *cli, const struct cli_cmd *cmd,
                           int argc, char **argv)
{
    return migrate_ref_cmd(cli, cmd, argc, argv, "Migrations.ForceComplete",
                           false, NULL);
}

const struct cli_cmd cli_migrate_cmds[] = {
    { "migrate", "list", cmd_migrate_list, "migrations in flight and done",
      "Usage: fexctl migrate list [--json]\n"
      "Lists migrations, in flight and finished (kept across fabricd\n"
      "restarts): phase, state, iteration, MiB sent and left, downtime.\n"
      "While a migration copies, its figures are at most 250 ms old.\n" },
    { "migrate", "show", cmd_migrate_show, "one migration's statistics",
      "Usage: fexctl migrate show VM|ID [--json]\n"
      "Shows the VM's latest migration (or migration ID) with its job\n"
      "statistics, as libvirt's domjobinfo: iteration, bytes processed,\n"
      "remaining and total, bandwidth, dirty rate, expected downtime (live\n"
      "while it copies), its limits, and the report once it is over.\n" },
    { "migrate", "cancel", cmd_migrate_cancel, "cancel a migration",
      "Usage: fexctl migrate cancel VM|ID [--json]\n"
      "Cancels the VM's latest migration (or migration ID) and answers\n"
      "once it is over, with its final state.  The VM keeps running on its\n"
      "source host; too late once it runs on the destination.  Exit\n"
      "status 1 unless it ended cancelled.\n" },
    { "migrate", "set-params", cmd_migrate_set_params,
      "change a running migration's limits",
      "Usage: fexctl migrate set-params VM|ID [--max-bandwidth MIB]\n"
      "                                [--downtime-limit MS] [--json]\n"
      "While the migration copies (virsh migrate-setspeed and\n"
      "migrate-setmaxdowntime):\n"
      "  --max-bandwidth MIB  MiB/s on the page stream from now on (0 =\n"
      "                       unlimited)\n"
      "  --downtime-limit MS  switch over when the rest fits, from the\n"
      "                       next round's end\n" },
    { "migrate", "force-complete", cmd_migrate_force_complete,
      "switch a running migration over now",
      "Usage: fexctl migrate force-complete VM|ID [--json]\n"
      "While the migration copies: switch over at the end of the round\n"
      "under way, whatever is left to send (the downtime is what that\n"
      "costs): for a guest that dirties memory faster than it can be\n"
      "sent.\n" },
    { "migrate", "*", cmd_migrate, "live-migrate VM to --to HOST",
      "Usage: fexctl migrate VM --to HOST [OPTIONS] [--json]\n"
      "Live-migrates running VM to HOST: pre-copy of its memory agent to\n"
      "agent, switchover (vNICs quiesced and checkpointed), the VIFs follow\n"
      "with the same ids and MACs.  Follows the job on fabricd's event\n"
      "stream: on a terminal a progress bar (share sent, round, MiB sent\n"
      "and left, bandwidth, expected downtime); piped, plain lines (the\n"
      "phases, and a progress line with the dirty rate per round and at\n"
      "most one a second); then the report.\n"
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
      "  --json               no progress: the final report as one JSON\n"
      "                       document\n"
      "Exit status 1 when the migration did not complete.\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
