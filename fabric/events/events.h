/* events: what happens in the fabric, numbered, kept and pushed.
 *
 * Every event (proto/events.proto) gets the next number of one
 * fabric-wide counter and goes to every subscriber at once.  The newest
 * 'keep' events are kept in an SQLite file of their own (DIR/events.db,
 * WAL, synchronous=NORMAL: a commit survives the process being killed,
 * and costs no fsync on the paths that emit events), so that a subscriber
 * that comes back with since=N gets exactly the events after N, in order,
 * across fabricd restarts too; one whose N was pruned is told to resync.
 *
 * A subscriber is a stream on an RPC connection.  One that falls more
 * than EVENTS_MAX_QUEUED bytes behind is cut off with a last event saying
 * so (EVENT_STREAM_ENDED) instead of growing fabricd's memory; it may
 * subscribe again from the last number it got.
 *
 * Emitting never fails the operation that emits: an event the file
 * cannot take is still pushed, and counted (events_unsaved()). */
#ifndef EVENTS_H
#define EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events.pb-c.h"

struct fx_err;
struct rpc_conn;
struct events;

/* Events kept for replay, by default. */
#define EVENTS_KEEP_DEFAULT 10000
/* Bytes queued to a subscriber before it is cut off. */
#define EVENTS_MAX_QUEUED (4u << 20)

/* Opens the event log in 'dir'/events.db, or in memory when 'dir' is
 * NULL (no replay across restarts then), keeping the newest 'keep'
 * events.  -errno with 'err' naming the file. */
int events_open(const char *dir, size_t keep, struct events **evp,
                struct fx_err *err);
/* Ends every subscription (no event sent) and closes the log. */
void events_close(struct events *);

/* Numbers 'e' (its seq and time_ms are set here; the rest is the
 * caller's, borrowed), keeps it and pushes it to every subscriber. */
void events_emit(struct events *, Fexsim__V1__Event *e);
/* Pushes 'e' (seq 0, time_ms set here) to the subscribers that asked for
 * live ticks (events_want_live()), now, and forgets it: not numbered,
 * not kept, never replayed.  For what is stale a moment later, such as a
 * migration's progress; the caller bounds how often. */
void events_push_live(struct events *, Fexsim__V1__Event *e);
/* The same, built from its fields ('host', 'vm', 'state' may be NULL;
 * the detail is printf'd). */
void events_emitf(struct events *, Fexsim__V1__EventType type,
                  const char *host, const char *vm, uint32_t vif,
                  uint32_t migration, const char *state,
                  const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* Subscribes stream 'id' of 'conn' (borrowed until events_drop_conn() or
 * the end of the stream) for the events after 'since' (0: every one
 * kept; 'only_new': none before now), and fills 'rep'.
 * The caller sends the reply, then calls events_replay(): the events
 * after 'since' go out before any newer one.  A 'since' pruned, or newer
 * than the newest event (a fabric without state restarted), is not an
 * error: rep->resync, and nothing is replayed.  -ENOMEM only. */
int events_subscribe(struct events *, struct rpc_conn *conn, uint64_t id,
                     uint64_t since, bool only_new,
                     Fexsim__V1__SubscribeReply *rep, struct fx_err *err);
void events_replay(struct events *, struct rpc_conn *conn, uint64_t id);
/* Stream 'id' of 'conn', subscribed, also gets the live ticks of
 * events_push_live() from now on. */
void events_want_live(struct events *, struct rpc_conn *conn, uint64_t id);
/* Forgets every subscription on 'conn' (it is closing). */
void events_drop_conn(struct events *, struct rpc_conn *conn);
/* Forgets every subscription (the connections are all closing). */
void events_drop_all(struct events *);

/* Taps: 'fn' is called with every event emitted (numbered, borrowed for
 * the call) and every live tick (events_push_live(), seq 0), in process, for what needs no RPC subscription (metrics,
 * the topology page's stream).  At most EVENTS_MAX_TAPS at once: adding
 * another is -ENOSPC.  Removing one not there is a no-op. */
#define EVENTS_MAX_TAPS 4
typedef void events_tap_fn(void *arg, const Fexsim__V1__Event *e);
int events_add_tap(struct events *, events_tap_fn *fn, void *arg);
void events_remove_tap(struct events *, events_tap_fn *fn, void *arg);

/* Events pushed to subscribers so far (each copy counts). */
uint64_t events_delivered(const struct events *);

/* The newest event's number (0: none yet), subscriptions now, events the
 * file could not take. */
uint64_t events_last_seq(const struct events *);
size_t events_subscribers(const struct events *);
uint64_t events_unsaved(const struct events *);

#endif
