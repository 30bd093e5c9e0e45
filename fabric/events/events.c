/* events: see events.h. */
#include "events.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <sqlite3.h>

#include "fx_err.h"
#include "fx_ratelimit.h"
#include "fx_time.h"
#include "log.h"
#include "rpc.h"

LOG_MODULE("events");

#define EVENTS_FILE "events.db"
/* The name each pushed event carries in its envelope. */
#define EVENTS_PUSH_NAME "Events.Event"

struct events_sub {
    struct rpc_conn *conn;      /* Borrowed. */
    uint64_t id;                /* The stream: the Subscribe request id. */
    uint64_t since;             /* Replay from here, until replayed. */
    int live;                   /* Replayed: new events go out. */
    int ticks;                  /* Also events_push_live()'s. */
};

struct events {
    sqlite3 *db;
    sqlite3_stmt *insert;
    size_t keep;
    uint64_t last_seq;
    uint64_t oldest_seq;        /* 0: none kept. */
    uint64_t unsaved;
    uint64_t delivered;
    struct {
        events_tap_fn *fn;
        void *arg;
    } taps[EVENTS_MAX_TAPS];
    struct fx_ratelimit warn;
    struct events_sub *subs;
    size_t n_subs, cap_subs;
};

/* ---- The file ---- */

static int
events_db_err(struct events *ev, const char *what, struct fx_err *err)
{
    return fx_err_set(err, -EIO, "event log: %s: %s", what,
                      sqlite3_errmsg(ev->db));
}

static int
events_query_u64(struct events *ev, const char *sql, uint64_t *vp)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ev->db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK) {
        return -1;
    }
    rc = sqlite3_step(st);
    *vp = rc == SQLITE_ROW ? (uint64_t) sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int
events_db_open(struct events *ev, const char *dir, struct fx_err *err)
{
    char path[4096];
    static const char schema[] =
        "PRAGMA journal_mode = WAL;"
        "PRAGMA synchronous = NORMAL;"
        "CREATE TABLE IF NOT EXISTS events ("
        "  seq INTEGER PRIMARY KEY, body BLOB NOT NULL);";

    if (dir) {
        snprintf(path, sizeof path, "%s/%s", dir, EVENTS_FILE);
    } else {
        snprintf(path, sizeof path, ":memory:");
    }
    if (sqlite3_open_v2(path, &ev->db, SQLITE_OPEN_READWRITE
                        | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)
        != SQLITE_OK) {
        return fx_err_set(err, -EIO, "event log '%s': %s", path,
                          ev->db ? sqlite3_errmsg(ev->db) : "no memory");
    }
    if (sqlite3_exec(ev->db, schema, NULL, NULL, NULL) != SQLITE_OK
        || sqlite3_prepare_v2(ev->db, "INSERT INTO events (seq, body) "
                              "VALUES (?, ?)", -1, &ev->insert, NULL)
           != SQLITE_OK
        || events_query_u64(ev, "SELECT IFNULL(MAX(seq), 0) FROM events",
                            &ev->last_seq)
        || events_query_u64(ev, "SELECT IFNULL(MIN(seq), 0) FROM events",
                            &ev->oldest_seq)) {
        return events_db_err(ev, path, err);
    }
    return 0;
}

/* Deletes all but the newest 'keep' rows. */
static void
events_prune(struct events *ev)
{
    char sql[96];

    if (ev->last_seq <= ev->keep) {
        return;
    }
    snprintf(sql, sizeof sql, "DELETE FROM events WHERE seq <= %llu",
             (unsigned long long) (ev->last_seq - ev->keep));
    if (sqlite3_exec(ev->db, sql, NULL, NULL, NULL) == SQLITE_OK) {
        ev->oldest_seq = ev->last_seq - ev->keep + 1;
    }
}

/* Keeps the packed event; failures are counted and said, rate-limited:
 * the event still goes out live. */
static void
events_save(struct events *ev, uint64_t seq, const uint8_t *body,
            size_t len)
{
    unsigned missed;
    int rc;

    sqlite3_bind_int64(ev->insert, 1, (sqlite3_int64) seq);
    sqlite3_bind_blob(ev->insert, 2, body, (int) len, SQLITE_STATIC);
    rc = sqlite3_step(ev->insert);
    sqlite3_reset(ev->insert);
    sqlite3_clear_bindings(ev->insert);
    if (rc != SQLITE_DONE) {
        ev->unsaved++;
        if (fx_ratelimit_allow(&ev->warn, fx_time_now_ms(), &missed)) {
            LOG_WARN("event %llu not kept for replay: %s (%llu so far)",
                     (unsigned long long) seq, sqlite3_errmsg(ev->db),
                     (unsigned long long) ev->unsaved);
        }
        return;
    }
    if (!ev->oldest_seq) {
        ev->oldest_seq = seq;
    }
    /* Pruned in steps of an eighth, not at every event. */
    if (seq - ev->oldest_seq + 1 > ev->keep + ev->keep / 8) {
        events_prune(ev);
    }
}

int
events_open(const char *dir, size_t keep, struct events **evp,
            struct fx_err *err)
{
    struct events *ev = calloc(1, sizeof *ev);

    *evp = NULL;
    if (!ev) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    ev->keep = keep ? keep : EVENTS_KEEP_DEFAULT;
    fx_ratelimit_init(&ev->warn, 10, 10000);
    if (events_db_open(ev, dir, err)) {
        events_close(ev);
        return err->code;
    }
    events_prune(ev);
    *evp = ev;
    return 0;
}

void
events_close(struct events *ev)
{
    if (!ev) {
        return;
    }
    sqlite3_finalize(ev->insert);
    sqlite3_close(ev->db);
    free(ev->subs);
    free(ev);
}

/* ---- Subscribers ---- */

static void
events_sub_remove(struct events *ev, size_t i)
{
    ev->subs[i] = ev->subs[--ev->n_subs];
}

/* Sends 'body' (a packed Event) on subscription 'i'; cuts it off when it
 * falls too far behind.  Returns 0, or -1 if the subscription went. */
static int
events_send(struct events *ev, size_t i, const Fexsim__V1__Event *e)
{
    struct events_sub *s = &ev->subs[i];

    if (rpc_conn_queued(s->conn) > EVENTS_MAX_QUEUED) {
        Fexsim__V1__Event end = FEXSIM__V1__EVENT__INIT;
        /* The last numbered event it had: before 'e', or for a live tick
         * (seq 0) the newest, which went out when it was emitted. */
        uint64_t had = e->seq ? e->seq - 1 : ev->last_seq;
        char why[160];

        snprintf(why, sizeof why, "cut off: %zu bytes of events not read "
                 "(at most %u); subscribe again with since=%llu",
                 rpc_conn_queued(s->conn), EVENTS_MAX_QUEUED,
                 (unsigned long long) had);
        end.type = FEXSIM__V1__EVENT_TYPE__EVENT_STREAM_ENDED;
        end.seq = had;
        end.detail = why;
        LOG_INFO("%s: subscription %llu %s", rpc_conn_peer(s->conn),
                 (unsigned long long) s->id, why);
        rpc_conn_send_event(s->conn, s->id, EVENTS_PUSH_NAME, &end.base);
        events_sub_remove(ev, i);
        return -1;
    }
    if (rpc_conn_send_event(s->conn, s->id, EVENTS_PUSH_NAME, &e->base)) {
        events_sub_remove(ev, i);
        return -1;
    }
    ev->delivered++;
    return 0;
}

static uint64_t
events_wall_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000;
}

/* Hands 'e' to every tap. */
static void
events_tap(struct events *ev, const Fexsim__V1__Event *e)
{
    for (size_t i = 0; i < EVENTS_MAX_TAPS; i++) {
        if (ev->taps[i].fn) {
            ev->taps[i].fn(ev->taps[i].arg, e);
        }
    }
}

void
events_emit(struct events *ev, Fexsim__V1__Event *e)
{
    size_t len;
    uint8_t *body;

    e->seq = ++ev->last_seq;
    e->time_ms = events_wall_ms();
    len = protobuf_c_message_get_packed_size(&e->base);
    body = malloc(len ? len : 1);
    if (!body) {
        abort();
    }
    protobuf_c_message_pack(&e->base, body);
    events_save(ev, e->seq, body, len);
    free(body);
    events_tap(ev, e);
    for (size_t i = ev->n_subs; i-- > 0; ) {
        if (ev->subs[i].live) {
            events_send(ev, i, e);
        }
    }
}

void
events_push_live(struct events *ev, Fexsim__V1__Event *e)
{
    e->seq = 0;
    e->time_ms = events_wall_ms();
    events_tap(ev, e);
    for (size_t i = ev->n_subs; i-- > 0; ) {
        if (ev->subs[i].live && ev->subs[i].ticks) {
            events_send(ev, i, e);
        }
    }
}

void
events_emitf(struct events *ev, Fexsim__V1__EventType type,
             const char *host, const char *vm, uint32_t vif,
             uint32_t migration, const char *state, const char *fmt, ...)
{
    Fexsim__V1__Event e = FEXSIM__V1__EVENT__INIT;
    char detail[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    e.type = type;
    e.host = (char *) (host ? host : "");
    e.vm = (char *) (vm ? vm : "");
    e.vif = vif;
    e.migration = migration;
    e.state = (char *) (state ? state : "");
    e.detail = detail;
    events_emit(ev, &e);
}

int
events_subscribe(struct events *ev, struct rpc_conn *conn, uint64_t id,
                 uint64_t since, bool only_new,
                 Fexsim__V1__SubscribeReply *rep, struct fx_err *err)
{
    struct events_sub *s;

    rep->last_seq = ev->last_seq;
    rep->oldest_seq = ev->oldest_seq;
    /* Events after 'since' must all be kept: the oldest kept is at most
     * since + 1 (none lost in between).  A 'since' newer than anything
     * here comes from a fabric that kept no state across a restart: its
     * numbers mean nothing now. */
    rep->resync = !only_new && since
                  && (since > ev->last_seq
                      || (ev->oldest_seq && since + 1 < ev->oldest_seq));
    if (ev->n_subs == ev->cap_subs) {
        size_t cap = ev->cap_subs ? ev->cap_subs * 2 : 8;
        struct events_sub *n = realloc(ev->subs, cap * sizeof *n);

        if (!n) {
            return fx_err_set(err, -ENOMEM, "out of memory");
        }
        ev->subs = n;
        ev->cap_subs = cap;
    }
    s = &ev->subs[ev->n_subs++];
    *s = (struct events_sub) { conn, id,
                               only_new || rep->resync ? ev->last_seq
                                                       : since, 0, 0 };
    return 0;
}

/* The subscription of stream 'id' on 'conn', or -1. */
static ssize_t
events_find(const struct events *ev, const struct rpc_conn *conn,
            uint64_t id)
{
    for (size_t i = 0; i < ev->n_subs; i++) {
        if (ev->subs[i].conn == conn && ev->subs[i].id == id) {
            return (ssize_t) i;
        }
    }
    return -1;
}

void
events_replay(struct events *ev, struct rpc_conn *conn, uint64_t id)
{
    ssize_t i = events_find(ev, conn, id);
    sqlite3_stmt *st;
    int rc;

    if (i < 0) {
        return;
    }
    if (ev->subs[i].since < ev->last_seq
        && sqlite3_prepare_v2(ev->db, "SELECT body FROM events WHERE seq > "
                              "? ORDER BY seq", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64) ev->subs[i].since);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            Fexsim__V1__Event *e = fexsim__v1__event__unpack(
                NULL, (size_t) sqlite3_column_bytes(st, 0),
                sqlite3_column_blob(st, 0));
            int gone = e ? events_send(ev, (size_t) i, e) : 0;

            fexsim__v1__event__free_unpacked(e, NULL);
            if (gone) {
                break;
            }
        }
        sqlite3_finalize(st);
        i = events_find(ev, conn, id);
    }
    if (i >= 0) {
        ev->subs[i].live = 1;
    }
}

void
events_want_live(struct events *ev, struct rpc_conn *conn, uint64_t id)
{
    ssize_t i = events_find(ev, conn, id);

    if (i >= 0) {
        ev->subs[i].ticks = 1;
    }
}

void
events_drop_conn(struct events *ev, struct rpc_conn *conn)
{
    for (size_t i = ev->n_subs; i-- > 0; ) {
        if (ev->subs[i].conn == conn) {
            events_sub_remove(ev, i);
        }
    }
}

int
events_add_tap(struct events *ev, events_tap_fn *fn, void *arg)
{
    for (size_t i = 0; i < EVENTS_MAX_TAPS; i++) {
        if (!ev->taps[i].fn) {
            ev->taps[i].fn = fn;
            ev->taps[i].arg = arg;
            return 0;
        }
    }
    return -ENOSPC;
}

void
events_remove_tap(struct events *ev, events_tap_fn *fn, void *arg)
{
    for (size_t i = 0; i < EVENTS_MAX_TAPS; i++) {
        if (ev->taps[i].fn == fn && ev->taps[i].arg == arg) {
            ev->taps[i].fn = NULL;
            ev->taps[i].arg = NULL;
        }
    }
}

uint64_t
events_delivered(const struct events *ev)
{
    return ev->delivered;
}

void
events_drop_all(struct events *ev)
{
    ev->n_subs = 0;
}

uint64_t
events_last_seq(const struct events *ev)
{
    return ev->last_seq;
}

size_t
events_subscribers(const struct events *ev)
{
    return ev->n_subs;
}

uint64_t
events_unsaved(const struct events *ev)
{
    return ev->unsaved;
}
