/* fexctl events: follows fabricd's event stream (Events.Subscribe). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "events.pb-c.h"
#include "fx_err.h"
#include "fx_parse.h"
#include "rpc.h"

struct ev_follow {
    struct cli *cli;
    uint64_t since;
    int since_given;
    int progress;                /* Also the live progress ticks. */
    uint64_t count;              /* Stop after this many; 0: never. */
    uint64_t seen;
    uint64_t stream;             /* The Subscribe request's id. */
    int until_now;               /* --until-now */
    uint64_t until;              /* With it: stop after this event (0
                                  * until the reply tells it). */
    int done;
    int rc;                      /* Exit code once done. */
    struct fx_err err;
};

enum { EV_SINCE = 1, EV_COUNT, EV_UNTIL_NOW, EV_PROGRESS };

static const struct option ev_opts[] = {
    { "since", required_argument, NULL, EV_SINCE },
    { "count", required_argument, NULL, EV_COUNT },
    { "until-now", no_argument, NULL, EV_UNTIL_NOW },
    { "progress", no_argument, NULL, EV_PROGRESS },
    { NULL, 0, NULL, 0 },
};

static int
ev_opt(void *arg, int opt, const char *val)
{
    struct ev_follow *f = arg;
    int rc;

    if (opt == EV_UNTIL_NOW) {
        f->until_now = 1;
        return 0;
    }
    if (opt == EV_PROGRESS) {
        f->progress = 1;
        return 0;
    }
    rc = opt == EV_SINCE
             ? fx_parse_u64(val, 0, UINT64_MAX >> 1, &f->since, "--since",
                            &f->err) ?: (f->since_given = 1, 0)
             : fx_parse_u64(val, 1, UINT32_MAX, &f->count, "--count",
                            &f->err);

    if (rc) {
        fprintf(stderr, "fexctl: %s\n", f->err.msg);
    }
    return rc;
}

/* "host-up" for EVENT_HOST_UP: the enum's name, as people write it. */
static const char *
ev_type_name(Fexsim__V1__EventType t, char *buf, size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &fexsim__v1__event_type__descriptor, (int) t);
    const char *n = v ? v->name : "EVENT_UNKNOWN";
    size_t i = 0;

    n += strncmp(n, "EVENT_", 6) ? 0 : 6;
    for (; n[i] && i + 1 < size; i++) {
        buf[i] = n[i] == '_' ? '-' : (char) tolower((unsigned char) n[i]);
    }
    buf[i] = '\0';
    return buf;
}

static struct json_object *
ev_stats_json(const Fexsim__V1__MigrationStats *s)
{
    struct json_object *o = json_object_new_object();

#define J(f) json_object_object_add(o, #f, json_object_new_int64((int64_t) s->f))
    J(iteration);
    J(data_total_bytes);
    J(data_processed_bytes);
    J(data_remaining_bytes);
    J(memory_dirty_rate_pages_per_s);
    J(bandwidth_bytes_per_s);
    J(expected_downtime_ms);
    J(time_elapsed_ms);
    J(throttle_pct);
    J(downtime_us);
#undef J
    return o;
}

static void
ev_print_json(const Fexsim__V1__Event *e)
{
    struct json_object *o = json_object_new_object();
    char type[40];

    json_object_object_add(o, "seq", json_object_new_int64((int64_t) e->seq));
    json_object_object_add(o, "time_ms",
                           json_object_new_int64((int64_t) e->time_ms));
    json_object_object_add(o, "type", json_object_new_string(
                               ev_type_name(e->type, type, sizeof type)));
    json_object_object_add(o, "host", json_object_new_string(e->host));
    json_object_object_add(o, "vm", json_object_new_string(e->vm));
    json_object_object_add(o, "vif", json_object_new_int64(e->vif));
    json_object_object_add(o, "migration",
                           json_object_new_int64(e->migration));
    json_object_object_add(o, "state", json_object_new_string(e->state));
    json_object_object_add(o, "detail", json_object_new_string(e->detail));
    if (e->stats) {
        json_object_object_add(o, "stats", ev_stats_json(e->stats));
    }
    /* One object a line: a stream has no end to close a document at. */
    printf("%s\n", json_object_to_json_string_ext(
                       o, JSON_C_TO_STRING_PLAIN
                          | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

static void
ev_print_text(const Fexsim__V1__Event *e)
{
    time_t t = (time_t) (e->time_ms / 1000);
    char type[40], when[16];
    struct tm tm;

    strftime(when, sizeof when, "%H:%M:%S", localtime_r(&t, &tm));
    printf("%-6llu %s.%03u %-20s", (unsigned long long) e->seq, when,
           (unsigned) (e->time_ms % 1000),
           ev_type_name(e->type, type, sizeof type));
    if (e->host[0]) {
        printf(" host=%s", e->host);
    }
    if (e->vm[0]) {
        printf(" vm=%s", e->vm);
    }
    if (e->vif) {
        printf(" vif=%u", e->vif);
    }
    if (e->migration) {
        printf(" migration=%u", e->migration);
    }
    if (e->state[0]) {
        printf(" %s", e->state);
    }
    printf("%s%s\n", e->detail[0] ? ": " : "", e->detail);
}

static void
ev_on_event(void *arg, uint64_t id, const char *name, const uint8_t *payload,
            size_t len)
{
    struct ev_follow *f = arg;
    Fexsim__V1__Event *e;

    if (id != f->stream || strcmp(name, "Events.Event") || f->done) {
        return;
    }
    e = fexsim__v1__event__unpack(NULL, len, payload);
    if (!e) {
        fx_err_set(&f->err, -EBADMSG, "an event that does not parse");
        f->done = 1;
        f->rc = CLI_FAILED;
        return;
    }
    if (e->type == FEXSIM__V1__EVENT_TYPE__EVENT_STREAM_ENDED) {
        fx_err_set(&f->err, -ECONNABORTED, "fabricd ended the stream: %s",
                   e->detail);
        f->done = 1;
        f->rc = CLI_FAILED;
    } else {
        /* A live tick (seq 0) is not a place to follow on from. */
        f->since = e->seq ? e->seq : f->since;
        if (f->cli->json) {
            ev_print_json(e);
        } else {
            ev_print_text(e);
        }
        fflush(stdout);
        f->done = (f->count && ++f->seen >= f->count)
                  || (f->until_now && f->until && e->seq >= f->until);
    }
    fexsim__v1__event__free_unpacked(e, NULL);
}

static void
ev_on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct ev_follow *f = arg;

    (void) sig;
    (void) what;
    f->done = 1;
}

/* Runs the loop until the stream is done, fabricd goes, or a signal. */
static void
ev_follow(struct ev_follow *f)
{
    struct event *intr = evsignal_new(f->cli->base, SIGINT, ev_on_signal, f);
    struct event *term = evsignal_new(f->cli->base, SIGTERM, ev_on_signal, f);

    evsignal_add(intr, NULL);
    evsignal_add(term, NULL);
    while (!f->done) {
        if (!f->cli->conn) {
            fx_err_set(&f->err, -ECONNRESET, "connection to fabricd lost: "
                       "%s (follow on with --since %llu)", f->cli->lost,
                       (unsigned long long) f->since);
            f->rc = CLI_FAILED;
            break;
        }
        event_base_loop(f->cli->base, EVLOOP_ONCE);
    }
    event_free(intr);
    event_free(term);
}

static int
cmd_events(struct cli *cli, const struct cli_cmd *cmd, int argc,
           char **argv)
{
    Fexsim__V1__SubscribeRequest req = FEXSIM__V1__SUBSCRIBE_REQUEST__INIT;
    Fexsim__V1__SubscribeReply *rep;
    struct ev_follow f = { .cli = cli };
    int idx, rc = cli_parse(cli, cmd, argc, argv, ev_opts, ev_opt, &f, &idx);

    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (idx < argc) {
        return cli_usage_error("events", "unexpected argument '%s'",
                               argv[idx]);
    }
    if (cli_connect(cli, &f.err)) {
        return cli_fail(&f.err);
    }
    /* Events may follow the reply in the same read: catch them first.
     * The stream is the next request's id, the first on this
     * connection. */
    rpc_conn_set_event_fn(cli->conn, ev_on_event, &f);
    f.stream = 1;
    req.since = f.since;
    req.only_new = !f.since_given && !f.until_now;
    req.migration_progress = f.progress;
    if (cli_call(cli, "Events.Subscribe", &req.base,
                 &fexsim__v1__subscribe_reply__descriptor,
                 (ProtobufCMessage **) &rep, &f.err)) {
        return cli_fail(&f.err);
    }
    if (rep->resync) {
        fprintf(stderr, "fexctl: the events after %llu are no longer kept "
                "(the oldest is %llu): following from %llu; list what you "
                "need to catch up\n", (unsigned long long) f.since,
                (unsigned long long) rep->oldest_seq,
                (unsigned long long) rep->last_seq);
    }
    /* The newest event when we asked ends a --until-now listing; events
     * already read up to it (they may come with the reply) end it too. */
    f.until = rep->last_seq;
    f.done |= f.until_now && (rep->resync || rep->last_seq <= f.since);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    ev_follow(&f);
    return f.rc ? cli_fail(&f.err) : CLI_OK;
}

const struct cli_cmd cli_events_cmds[] = {
    { "events", "", cmd_events, "follow what happens in the fabric",
      "Usage: fexctl events [--since N] [--count N] [--until-now] [--progress]\n"
      "                     [--json]\n"
      "Prints fabricd's events as they happen, one a line: its number, the\n"
      "time, the type (host-up, host-down, vm-defined, vm-started,\n"
      "vm-stopped, vm-undefined, vif-bound, vif-moved, vif-mode,\n"
      "vif-removed, migration-phase, migration-iteration,\n"
      "migration-finished, fault, recovery; with --progress also\n"
      "migration-progress, numbered 0: a running migration's statistics\n"
      "4 times a second, not kept), what it is about and a\n"
      "detail.  Runs until interrupted (exit 0), --count events were\n"
      "printed, or the stream ends (exit 1 with why: fabricd went, or cut\n"
      "off a reader that fell too far behind).\n"
      "\n"
      "  --since N    first every kept event after number N, in order (0:\n"
      "               every one kept), then the new ones; without it, only\n"
      "               new ones.  If events after N are no longer kept, says\n"
      "               so and follows on\n"
      "  --count N    stop after N events\n"
      "  --until-now  stop after the newest event at the time of asking\n"
      "               (with --since, or from the oldest kept): a listing\n"
      "  --progress   also the live migration-progress ticks\n"
      "  --json       one JSON object a line (JSON Lines), with each\n"
      "               migration event's statistics\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
