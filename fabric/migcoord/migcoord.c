/* migcoord: see migcoord.h.  The protocol is the table mc_rows[] below;
 * the rest of the file is what its rows do. */
#include "migcoord.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "agents/agents.h"
#include "dplane/dplane.h"
#include "flows/flows.h"
#include "events/events.h"
#include "fx_err.h"
#include "fx_mac.h"
#include "fx_fault.h"
#include "fx_limits.h"
#include "fx_time.h"
#include "log.h"
#include "mig_report.h"
#include "model/model.h"
#include "pbenum.h"
#include "rpc.h"
#include "store/store.h"

LOG_MODULE("migcoord");

#define MC_NAME 40
/* How often the source is asked for its statistics while it copies:
 * libvirt's job stats are read about as often by a progress bar. */
#define MC_POLL_MS 250

/* Where a job is.  Each state but the first and the final ones has
 * exactly one call out to an agent, named after it. */
enum mc_state {
    MC_BEGIN,          /* Checked and saved; nothing sent yet. */
    MC_DEFINE,         /* dst HostVms.Define: the domain, its vNICs. */
    MC_PREPARE,        /* dst MigAgent.Prepare: admission, RAM, listen. */
    MC_PERFORM,        /* src MigAgent.Perform: pre-copy. */
    MC_SWITCHOVER,     /* ...and a VIF is held: the guest stops. */
    MC_SRC_STOP,       /* src HostVms.Stop: the old copy. */
    MC_SRC_UNDEFINE,   /* src HostVms.Undefine: its vNICs free. */
    MC_GUEST_VIEW,     /* A real guest: dst MigAgent.GuestView. */
    MC_DST_ABORT,      /* Rollback: dst MigAgent.Abort. */
    MC_DST_UNDEFINE,   /* Rollback: dst HostVms.Undefine. */
    MC_UNRESOLVED,     /* Outcome unknown: waits for both agents. */
    MC_RS_SRC_ABORT,   /* src MigAgent.Abort: an engine job left. */
    MC_RS_DST_ABORT,   /* dst MigAgent.Abort. */
    MC_RS_SRC_LIST,    /* src HostVms.List: does it hold, run the VM? */
    MC_RS_DST_LIST,    /* dst HostVms.List: then decide. */
    MC_RS_RESTART,     /* src HostVms.Start: it ran nowhere. */
    MC_RS_STOP,        /* The losing host's HostVms.Stop. */
    MC_RS_UNDEFINE,    /* The losing host's HostVms.Undefine. */
    MC_COMPLETED,      /* Final: the VM runs on the destination. */
    MC_ROLLED_BACK,    /* Final: failed or cancelled, on the source. */
    MC_RESOLVED,       /* Final: decided from what the agents said. */
    MC_INTERRUPTED,    /* Final: fabricd stopped; the store resolves. */
    MC_N_STATES,
    MC_ANY = MC_N_STATES   /* In a row: any state not final. */
};

/* What happens to a job. */
enum mc_event {
    MC_EV_NONE,        /* Nothing: wait for the call out. */
    MC_EV_START,       /* The operator's Start, checks passed. */
    MC_EV_OK,          /* The call out was done. */
    MC_EV_REFUSED,     /* It failed: the agent did nothing. */
    MC_EV_UNDO,        /* It was done but the job cannot go on: cancelled
                        * meanwhile, an answer unlike what was asked, or
                        * the store refused the next phase. */
    MC_EV_LOST,        /* The agent's connection went: outcome unknown. */
    MC_EV_DONE,        /* A cleanup call ended, whatever its outcome. */
    MC_EV_HELD,        /* The data plane held a VIF at a source MARKER. */
    MC_EV_CANCEL,      /* The operator cancels while the source copies. */
    MC_EV_AGENTS,      /* Both agents are registered. */
    MC_EV_COMMIT,      /* Resolved: the destination runs the VM. */
    MC_EV_ROLLBACK,    /* Resolved: the VM is the source's. */
    MC_EV_RESTART,     /* Resolved: it runs nowhere, the source has it. */
    MC_EV_GONE,        /* Resolved: the VM was deleted meanwhile. */
    MC_EV_SHUTDOWN,    /* fabricd stops; the store keeps the phase. */
    MC_N_EVENTS
};

struct migcoord_job;

/* A row's action: sends the next call (0: wait for it), or returns the
 * event that follows at once (a call that cannot be sent, a step with
 * nothing to do), or -errno with the job's error set: the action failed
 * and the job stays where it was, with MC_EV_UNDO to handle. */
typedef int mc_action_fn(struct migcoord_job *);

struct mc_row {
    enum mc_state from;
    enum mc_event event;
    enum mc_state to;
    mc_action_fn *action;       /* NULL: nothing but the move. */
};

static mc_action_fn mc_define, mc_prepare, mc_perform, mc_switchover,
    mc_src_abort, mc_finish, mc_src_undefine, mc_guest_view, mc_complete,
    mc_dst_abort,
    mc_dst_undefine, mc_refused, mc_rolled_back, mc_unresolved,
    mc_rs_src_abort, mc_rs_dst_abort, mc_rs_src_list, mc_rs_dst_list,
    mc_rs_commit, mc_rs_rollback, mc_rs_restart, mc_rs_restarted,
    mc_rs_undefine, mc_rs_wait, mc_resolved, mc_interrupted;

/* The protocol.  An event with no row in the job's state is refused and
 * logged; a row's move happens only if its action succeeded. */
static const struct mc_row mc_rows[] = {
    /* from              event           to               action */
    /* The happy path: libvirt's v3 phases. */
    { MC_BEGIN,          MC_EV_START,    MC_DEFINE,       mc_define },
    { MC_DEFINE,         MC_EV_OK,       MC_PREPARE,      mc_prepare },
    { MC_PREPARE,        MC_EV_OK,       MC_PERFORM,      mc_perform },
    { MC_PERFORM,        MC_EV_HELD,     MC_SWITCHOVER,   mc_switchover },
    { MC_SWITCHOVER,     MC_EV_HELD,     MC_SWITCHOVER,   NULL },
    { MC_PERFORM,        MC_EV_OK,       MC_SRC_STOP,     mc_finish },
    { MC_SWITCHOVER,     MC_EV_OK,       MC_SRC_STOP,     mc_finish },
    { MC_SRC_STOP,       MC_EV_DONE,     MC_SRC_UNDEFINE, mc_src_undefine },
    { MC_SRC_UNDEFINE,   MC_EV_DONE,     MC_GUEST_VIEW,   mc_guest_view },
    { MC_GUEST_VIEW,     MC_EV_DONE,     MC_COMPLETED,    mc_complete },
    /* Failures and cancels before the switchover: back to the source. */
    { MC_DEFINE,         MC_EV_REFUSED,  MC_ROLLED_BACK,  mc_refused },
    { MC_DEFINE,         MC_EV_LOST,     MC_ROLLED_BACK,  mc_refused },
    { MC_DEFINE,         MC_EV_UNDO,     MC_DST_UNDEFINE, mc_dst_undefine },
    { MC_PREPARE,        MC_EV_REFUSED,  MC_DST_UNDEFINE, mc_dst_undefine },
    { MC_PREPARE,        MC_EV_LOST,     MC_DST_UNDEFINE, mc_dst_undefine },
    { MC_PREPARE,        MC_EV_UNDO,     MC_DST_ABORT,    mc_dst_abort },
    { MC_PERFORM,        MC_EV_CANCEL,   MC_PERFORM,      mc_src_abort },
    { MC_SWITCHOVER,     MC_EV_CANCEL,   MC_SWITCHOVER,   mc_src_abort },
    { MC_PERFORM,        MC_EV_REFUSED,  MC_DST_ABORT,    mc_dst_abort },
    { MC_SWITCHOVER,     MC_EV_REFUSED,  MC_DST_ABORT,    mc_dst_abort },
    { MC_DST_ABORT,      MC_EV_DONE,     MC_DST_UNDEFINE, mc_dst_undefine },
    { MC_DST_UNDEFINE,   MC_EV_DONE,     MC_ROLLED_BACK,  mc_rolled_back },
    /* The source's agent lost while it copied, or a finish the store did
     * not take: only the agents can say where the VM runs. */
    { MC_PERFORM,        MC_EV_LOST,     MC_UNRESOLVED,   mc_unresolved },
    { MC_SWITCHOVER,     MC_EV_LOST,     MC_UNRESOLVED,   mc_unresolved },
    { MC_PERFORM,        MC_EV_UNDO,     MC_UNRESOLVED,   mc_unresolved },
    { MC_SWITCHOVER,     MC_EV_UNDO,     MC_UNRESOLVED,   mc_unresolved },
    /* Crash resolution: abort engines left, ask both, decide, clean. */
    { MC_UNRESOLVED,     MC_EV_AGENTS,   MC_RS_SRC_ABORT, mc_rs_src_abort },
    { MC_RS_SRC_ABORT,   MC_EV_OK,       MC_RS_DST_ABORT, mc_rs_dst_abort },
    { MC_RS_DST_ABORT,   MC_EV_OK,       MC_RS_SRC_LIST,  mc_rs_src_list },
    { MC_RS_SRC_LIST,    MC_EV_OK,       MC_RS_DST_LIST,  mc_rs_dst_list },
    { MC_RS_DST_LIST,    MC_EV_COMMIT,   MC_RS_STOP,      mc_rs_commit },
    { MC_RS_DST_LIST,    MC_EV_ROLLBACK, MC_RS_STOP,      mc_rs_rollback },
    { MC_RS_DST_LIST,    MC_EV_RESTART,  MC_RS_RESTART,   mc_rs_restart },
    { MC_RS_DST_LIST,    MC_EV_GONE,     MC_RESOLVED,     mc_resolved },
    { MC_RS_RESTART,     MC_EV_DONE,     MC_RS_STOP,      mc_rs_restarted },
    { MC_RS_STOP,        MC_EV_DONE,     MC_RS_UNDEFINE,  mc_rs_undefine },
    { MC_RS_UNDEFINE,    MC_EV_DONE,     MC_RESOLVED,     mc_resolved },
    { MC_RS_SRC_ABORT,   MC_EV_LOST,     MC_UNRESOLVED,   mc_rs_wait },
    { MC_RS_DST_ABORT,   MC_EV_LOST,     MC_UNRESOLVED,   mc_rs_wait },
    { MC_RS_SRC_LIST,    MC_EV_LOST,     MC_UNRESOLVED,   mc_rs_wait },
    { MC_RS_DST_LIST,    MC_EV_LOST,     MC_UNRESOLVED,   mc_rs_wait },
    /* fabricd stops with calls out: the next start resolves the job. */
    { MC_ANY,            MC_EV_SHUTDOWN, MC_INTERRUPTED,  mc_interrupted },
};

/* What an agent's answer means in a state. */
enum mc_kind {
    MC_NO_CALL,        /* No call is out. */
    MC_STEP,           /* A step forward: ok, refused or lost. */
    MC_PERFORMED,      /* The source's report: ok or refused (its engine
                        * rolled back), or lost. */
    MC_CLEANUP,        /* Done whatever it says (logged when it failed). */
    MC_ASK,            /* Resolving: ok (even an error: no news), lost. */
    MC_DECIDE,         /* The last answer resolving needs: decides. */
};

#define MC_KEEP (-1)       /* A state that keeps the job's phase. */

static const struct mc_state_info {
    const char *name;          /* For logs. */
    const char *shown;         /* Migration.state; NULL: failed or
                                * cancelled, as the operator asked. */
    int phase;                 /* enum store_mig_phase, or MC_KEEP. */
    enum mc_kind kind;
    bool cancels;              /* A cancel asked turns its ok into an
                                * undo (before the source copies). */
} mc_states[MC_N_STATES] = {
    [MC_BEGIN] = { "begin", "active", STORE_MIG_BEGIN, MC_NO_CALL, false },
    [MC_DEFINE] = { "define", "active", STORE_MIG_PREPARE, MC_STEP, true },
    [MC_PREPARE] = { "prepare", "active", STORE_MIG_PREPARE, MC_STEP,
                     true },
    [MC_PERFORM] = { "perform", "active", STORE_MIG_PERFORM, MC_PERFORMED,
                     false },
    [MC_SWITCHOVER] = { "switchover", "active", STORE_MIG_PERFORM,
                        MC_PERFORMED, false },
    [MC_SRC_STOP] = { "src-stop", "active", STORE_MIG_FINISH, MC_CLEANUP,
                      false },
    [MC_SRC_UNDEFINE] = { "src-undefine", "active", MC_KEEP, MC_CLEANUP,
                          false },
    [MC_GUEST_VIEW] = { "guest-view", "active", MC_KEEP, MC_CLEANUP, false },
    [MC_DST_ABORT] = { "dst-abort", "active", MC_KEEP, MC_CLEANUP, false },
    [MC_DST_UNDEFINE] = { "dst-undefine", "active", MC_KEEP, MC_CLEANUP,
                          false },
    [MC_UNRESOLVED] = { "unresolved", "unresolved", MC_KEEP, MC_NO_CALL,
                        false },
    [MC_RS_SRC_ABORT] = { "rs-src-abort", "unresolved", MC_KEEP, MC_ASK,
                          false },
    [MC_RS_DST_ABORT] = { "rs-dst-abort", "unresolved", MC_KEEP, MC_ASK,
                          false },
    [MC_RS_SRC_LIST] = { "rs-src-list", "unresolved", MC_KEEP, MC_ASK,
                         false },
    [MC_RS_DST_LIST] = { "rs-dst-list", "unresolved", MC_KEEP, MC_DECIDE,
                         false },
    [MC_RS_RESTART] = { "rs-restart", "unresolved", MC_KEEP, MC_CLEANUP,
                        false },
    [MC_RS_STOP] = { "rs-stop", "unresolved", MC_KEEP, MC_CLEANUP, false },
    [MC_RS_UNDEFINE] = { "rs-undefine", "unresolved", MC_KEEP, MC_CLEANUP,
                         false },
    [MC_COMPLETED] = { "completed", "completed", STORE_MIG_CONFIRM,
                       MC_NO_CALL, false },
    [MC_ROLLED_BACK] = { "rolled-back", NULL, MC_KEEP, MC_NO_CALL, false },
    [MC_RESOLVED] = { "resolved", "resolved", MC_KEEP, MC_NO_CALL, false },
    [MC_INTERRUPTED] = { "interrupted", "interrupted", MC_KEEP, MC_NO_CALL,
                         false },
};

static const char *const mc_event_names[MC_N_EVENTS] = {
    "none", "start", "ok", "refused", "undo", "lost", "done", "held",
    "cancel", "agents", "commit", "rollback", "restart", "gone", "shutdown",
};

struct migcoord_job {
    struct migcoord *mc;
    uint32_t id;
    enum mc_state state;
    enum mc_state next;             /* The row's 'to' while its action
                                     * runs: its calls are of that state. */
    enum store_mig_phase phase;     /* The last phase saved. */
    bool cancel;                    /* The operator asked to cancel. */
    char vm[MC_NAME], src[MC_NAME], dst[MC_NAME];
    uint64_t started_ms;            /* fx_time_now_ms() at Start. */
    Fexsim__V1__MigrationParams params;
    uint64_t dirty_rate;            /* With set_dirty_rate: the guest's */
    bool set_dirty_rate;            /* new one, from Perform on. */
    uint64_t memory_mib;
    uint32_t vifs[VM_MAX_NICS];     /* NIC order. */
    uint32_t src_vnics[VM_MAX_NICS];
    uint32_t dst_vnics[VM_MAX_NICS];
    size_t n_nics;
    uint32_t gens[FLOWS_MAX], sinks[FLOWS_MAX];
    size_t n_gens, n_sinks;         /* Traffic flows that move along. */
    bool src_failed;                /* The source's engine rolled back: its
                                     * guest runs again there. */
    /* The last answer: its code and words, and the reply while its
     * event is handled (borrowed from the RPC layer). */
    int rc;
    char why[200];
    const ProtobufCMessage *rep;
    /* What the agents said while resolving. */
    bool src_has, src_runs, dst_has, dst_runs;
    char error[256];
    struct mig_progress prog;
    struct mig_stats live;          /* The source's last statistics... */
    bool has_live;                  /* ...once it gave any. */
    bool polling;                   /* A MigAgent.Status is out. */
    Fexsim__V1__MigrationReport report;   /* Its strings: set in _msg. */
    /* A real guest: its counters before the move (the source's Perform),
     * then its view of the move (report.guest), or why none. */
    Fexsim__V1__GuestCounters guest_before, guest;
    bool has_guest_before, has_guest, guest_asked;
    char guest_error[200];
};

struct migcoord {
    struct model *model;            /* Borrowed, all five. */
    struct store *store;
    struct agents *agents;
    struct dplane *dp;
    struct flows *flows;
    char flavor[12];                /* "kvm", "vmware" or "failover". */
    struct migcoord_job jobs[MIGCOORD_MAX_JOBS];
    size_t n_jobs;
    uint32_t next_id;
    struct events *events;          /* Borrowed; NULL: none. */
    struct event *poll_ev;          /* Owned: asks the sources that copy
                                     * for their statistics. */
    migcoord_final_fn *final_fn;    /* Told of each job that ends. */
    void *final_arg;
};

/* ---- Events ---- */

static const char *mc_shown(const struct migcoord_job *j);
static bool mc_final(const struct migcoord_job *j);

/* The job's statistics as libvirt's job stats name them: the source's
 * last (asked every MC_POLL_MS while it copies), then the final report's
 * figures. */
static void
mc_stats(const struct migcoord_job *j, Fexsim__V1__MigrationStats *s)
{
    const struct mig_progress *p = &j->prog;

    fexsim__v1__migration_stats__init(s);
    if (j->has_live) {
        mig_report_stats_to_pb(&j->live, s);
    } else {
        s->iteration = p->round;
        s->data_remaining_bytes = p->bytes_remaining;
        s->bandwidth_bytes_per_s = p->rate;
        s->throttle_pct = p->throttle_pct;
        s->memory_dirty_rate_pages_per_s = j->dirty_rate;
        s->expected_downtime_ms = p->rate ? p->bytes_remaining * 1000
                                            / p->rate : 0;
        s->time_elapsed_ms = j->started_ms
                             ? fx_time_now_ms() - j->started_ms : 0;
    }
    s->data_total_bytes = j->memory_mib << 20;
    if (mc_final(j)) {
        s->iteration = j->report.rounds;
        s->data_processed_bytes = j->report.sent_bytes;
        s->data_remaining_bytes = 0;
        s->expected_downtime_ms = 0;
        s->downtime_us = j->report.downtime_us;
        s->time_elapsed_ms = j->report.total_ms;
    }
}

static Fexsim__V1__MigrationState mc_shown_pb(const struct migcoord_job *);

static void
mc_event(const struct migcoord_job *j, Fexsim__V1__EventType type,
         const char *state, bool stats, const char *detail)
{
    Fexsim__V1__Event e = FEXSIM__V1__EVENT__INIT;
    Fexsim__V1__MigrationStats s;

    if (!j->mc->events) {
        return;
    }
    e.type = type;
    e.host = (char *) (j->phase >= STORE_MIG_FINISH ? j->dst : j->src);
    e.vm = (char *) j->vm;
    e.migration = j->id;
    e.state = (char *) state;
    e.phase = (Fexsim__V1__MigrationPhase) (j->phase + 1);
    e.migration_state = mc_shown_pb(j);
    e.detail = (char *) detail;
    if (stats) {
        mc_stats(j, &s);
        e.stats = &s;
    }
    events_emit(j->mc->events, &e);
}

/* MigrationParams' bandwidth is set (a oneof of one field: presence). */
#define MC_BW_SET \
    FEXSIM__V1__MIGRATION_PARAMS__MAX_BANDWIDTH_MAX_BANDWIDTH_BYTES_PER_S

/* The API's phases are the store's, one up (0 is unspecified). */
_Static_assert(FEXSIM__V1__MIGRATION_PHASE__MIGRATION_PHASE_BEGIN
               == STORE_MIG_BEGIN + 1
               && FEXSIM__V1__MIGRATION_PHASE__MIGRATION_PHASE_CONFIRM
                  == STORE_MIG_CONFIRM + 1,
               "enum MigrationPhase (migflow.proto) follows the store's");

static const char *mc_shown(const struct migcoord_job *j);

/* Migration.state: the word mc_shown() says, as the API's enum (its
 * words are the enum's, pbenum.h). */
static Fexsim__V1__MigrationState
mc_shown_pb(const struct migcoord_job *j)
{
    int v = 0;

    pbenum_parse(&fexsim__v1__migration_state__descriptor, mc_shown(j), &v,
                 NULL);
    return (Fexsim__V1__MigrationState) v;
}

static Fexsim__V1__Flavor
mc_flavor_pb(const struct migcoord *mc)
{
    int v = 0;

    pbenum_parse(&fexsim__v1__flavor__descriptor, mc->flavor, &v, NULL);
    return (Fexsim__V1__Flavor) v;
}

/* The job as the API shows it, its strings and parts borrowed from 'j'
 * and 'b'. */
struct mc_pb {
    Fexsim__V1__Migration m;
    Fexsim__V1__MigrationProgress prog;
    Fexsim__V1__MigrationStats stats;
    Fexsim__V1__MigrationParams params;
    Fexsim__V1__MigrationReport report;
};

static void
mc_pb_fill(const struct migcoord_job *j, struct mc_pb *b)
{
    Fexsim__V1__Migration *m = &b->m;

    fexsim__v1__migration__init(m);
    fexsim__v1__migration_progress__init(&b->prog);
    mig_report_progress_to_pb(&j->prog, &b->prog);
    mc_stats(j, &b->stats);
    b->params = j->params;
    m->id = j->id;
    m->vm = (char *) j->vm;
    m->src = (char *) j->src;
    m->dst = (char *) j->dst;
    m->phase = (Fexsim__V1__MigrationPhase) (j->phase + 1);
    m->state = mc_shown_pb(j);
    m->error = (char *) j->error;
    m->flavor = mc_flavor_pb(j->mc);
    m->progress = &b->prog;
    m->started_at_ms = j->started_ms;
    m->stats = &b->stats;
    m->params = &b->params;
    if (mc_final(j)) {
        b->report = j->report;
        b->report.job_id = j->id;
        b->report.result = (char *) mc_shown(j);
        b->report.error = m->error;
        b->report.guest = j->has_guest ? (void *) &j->guest : NULL;
        b->report.guest_error = (char *) j->guest_error;
        m->report = &b->report;
    }
}

/* Keeps the finished job, with its final statistics, in the store (its
 * row in flight goes in the same transaction), for the history
 * 'migrate list' shows across restarts.  A store that refuses: the job
 * says so, and the row left is resolved again at the next start (which
 * finds the VM where this job left it). */
static void
mc_archive(struct migcoord_job *j)
{
    uint8_t buf[STORE_MIG_RECORD_MAX];
    struct store_migration_done d = { j->id, buf, 0 };
    struct mc_pb b;
    struct fx_err err;
    char why[sizeof err.msg + 40];

    if (!j->mc->store) {
        return;
    }
    mc_pb_fill(j, &b);
    /* The error is the one string without a bound of its own. */
    if (fexsim__v1__migration__get_packed_size(&b.m) > sizeof buf) {
        b.m.error = b.report.error = "";
    }
    d.size = fexsim__v1__migration__pack(&b.m, buf);
    if (store_end_migration(j->mc->store, &d, MIGCOORD_KEEP_DONE, &err)) {
        snprintf(why, sizeof why, "%sjob not forgotten by the store: %s",
                 j->error[0] ? "; " : "", err.msg);
        strncat(j->error, why, sizeof j->error - strlen(j->error) - 1);
    }
}

/* ---- The engine of the table ---- */

static bool
mc_final(const struct migcoord_job *j)
{
    return j->state >= MC_COMPLETED;
}

static const struct mc_row *
mc_row_find(enum mc_state from, enum mc_event ev)
{
    const struct mc_row *any = NULL;

    for (size_t i = 0; i < sizeof mc_rows / sizeof *mc_rows; i++) {
        const struct mc_row *r = &mc_rows[i];

        if (r->event == ev && r->from == from) {
            return r;
        }
        if (r->event == ev && r->from == MC_ANY && from < MC_COMPLETED) {
            any = r;
        }
    }
    return any;
}

/* Keeps the error 'msg' of the job (the first one wins: it says why). */
static void
mc_error(struct migcoord_job *j, const char *msg)
{
    if (!j->error[0]) {
        snprintf(j->error, sizeof j->error, "%s", msg);
    }
}

static int mc_save(struct migcoord_job *j, const char *state, struct fx_err *err);

/* Entering 'to' starts a phase: it is in the store before the call that
 * starts it leaves, and the crash tests' fault point is there. */
static int
mc_enter_phase(struct migcoord_job *j, enum mc_state to)
{
    int phase = mc_states[to].phase;
    struct fx_err err;
    char why[sizeof err.msg + 32];

    if (phase == MC_KEEP || (enum store_mig_phase) phase == j->phase) {
        return 0;
    }
    j->phase = (enum store_mig_phase) phase;
    if (mc_save(j, "active", &err)) {
        snprintf(why, sizeof why, "phase %s not saved: %s",
                 store_mig_phase_name(j->phase), err.msg);
        mc_error(j, why);
        return err.code;
    }
    LOG_INFO("migration %u of '%s' %s -> %s: %s", j->id, j->vm, j->src,
             j->dst, store_mig_phase_name(j->phase));
    snprintf(why, sizeof why, "%s -> %s", j->src, j->dst);
    mc_event(j, FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_PHASE,
             store_mig_phase_name(j->phase), false, why);
    fx_fault_point(store_mig_phase_name(j->phase));
    return 0;
}

/* Takes one row for 'ev'.  Returns the event that follows at once. */
static enum mc_event
mc_step(struct migcoord_job *j, enum mc_event ev)
{
    const struct mc_row *row = mc_row_find(j->state, ev);
    int rc;

    if (!row) {
        LOG_ERR("migration %u: event '%s' refused in state '%s'", j->id,
                mc_event_names[ev], mc_states[j->state].name);
        return MC_EV_NONE;
    }
    j->next = row->to;
    rc = mc_enter_phase(j, row->to);
    if (!rc && row->action) {
        rc = row->action(j);
    }
    if (rc < 0) {
        /* The step was not taken: undo what the last answer did.  Rows
         * for MC_EV_UNDO only clean up and never fail. */
        LOG_WARN("migration %u: %s -> %s not taken: %s", j->id,
                 mc_states[j->state].name, mc_states[row->to].name,
                 j->error);
        return ev == MC_EV_UNDO ? MC_EV_NONE : MC_EV_UNDO;
    }
    LOG_DBG("migration %u: %s --%s--> %s", j->id, mc_states[j->state].name,
            mc_event_names[ev], mc_states[row->to].name);
    if (!mc_final(j) && row->to >= MC_COMPLETED) {
        j->state = row->to;
        if (row->to != MC_INTERRUPTED) {
            mc_archive(j);
        }
        mc_event(j, FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_FINISHED,
                 mc_shown(j), true, j->error);
        if (j->mc->final_fn) {
            j->mc->final_fn(j->mc->final_arg, j);
        }
    }
    j->state = row->to;
    return (enum mc_event) rc;
}

static void
mc_handle(struct migcoord_job *j, enum mc_event ev)
{
    while (ev != MC_EV_NONE) {
        ev = mc_step(j, ev);
    }
}

/* ---- Calls to agents ---- */

static bool mc_decide_scan(struct migcoord_job *j, const ProtobufCMessage *rep);
static enum mc_event mc_decide(struct migcoord_job *j);

/* What the answer 'rc', 'rep' to the call of state 'st' means. */
static enum mc_event
mc_classify(struct migcoord_job *j, enum mc_state st, int rc,
            const ProtobufCMessage *rep)
{
    const Fexsim__V1__AgentMigPerformReply *pr = (const void *) rep;

    if (rc == -ECANCELED) {
        return MC_EV_SHUTDOWN;
    }
    switch (mc_states[st].kind) {
    case MC_STEP:
        if (rc) {
            return agents_lost(rc) ? MC_EV_LOST : MC_EV_REFUSED;
        }
        return j->cancel && mc_states[st].cancels ? MC_EV_UNDO : MC_EV_OK;
    case MC_PERFORMED:
        if (agents_lost(rc)) {
            return MC_EV_LOST;
        }
        return rc || !pr->report || strcmp(pr->report->result, "completed")
               ? MC_EV_REFUSED : MC_EV_OK;
    case MC_CLEANUP:
        return MC_EV_DONE;
    case MC_ASK:
        return agents_lost(rc) ? MC_EV_LOST : MC_EV_OK;
    case MC_DECIDE:
        if (agents_lost(rc)) {
            return MC_EV_LOST;
        }
        return mc_decide_scan(j, rep) ? mc_decide(j) : MC_EV_GONE;
    case MC_NO_CALL:
        break;
    }
    return MC_EV_NONE;
}

static void
mc_reply(void *arg, int rc, const struct fx_err *err,
         const ProtobufCMessage *rep)
{
    struct migcoord_job *j = arg;
    enum mc_event ev;

    j->rc = rc;
    snprintf(j->why, sizeof j->why, "%s", rc ? err->msg : "");
    j->rep = rep;
    ev = mc_classify(j, j->state, rc, rep);
    mc_handle(j, ev);
    j->rep = NULL;
}

/* Sends 'method' with 'req' to 'host' for the state being entered.
 * Returns 0 once sent, or the event its failure to leave is (an agent
 * down is lost: what it did last is unknown). */
static int
mc_call(struct migcoord_job *j, const char *host, const char *method,
        const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
        uint32_t timeout_ms)
{
    struct fx_err err;
    int rc = agents_call(j->mc->agents, host, method, req, desc, timeout_ms,
                         mc_reply, j, &err);

    if (!rc) {
        return 0;
    }
    j->rc = rc;
    snprintf(j->why, sizeof j->why, "%s", err.msg);
    return (int) mc_classify(j, j->next, rc, NULL);
}

/* A call about VM 'j->vm' by name: Stop, Undefine, List... */
static int
mc_call_vm(struct migcoord_job *j, const char *host, const char *method)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    Fexsim__V1__AgentListRequest list = FEXSIM__V1__AGENT_LIST_REQUEST__INIT;

    req.name = j->vm;
    if (!strcmp(method, "HostVms.List")) {
        return mc_call(j, host, method, &list.base,
                       &fexsim__v1__agent_list_reply__descriptor,
                       AGENTS_TIMEOUT_MS);
    }
    return mc_call(j, host, method, &req.base,
                   &fexsim__v1__agent_vm_reply__descriptor,
                   AGENTS_TIMEOUT_MS);
}

static int
mc_call_abort(struct migcoord_job *j, const char *host)
{
    Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;

    ref.job_id = j->id;
    return mc_call(j, host, "MigAgent.Abort", &ref.base,
                   &fexsim__v1__agent_mig_ack__descriptor, AGENTS_TIMEOUT_MS);
}

/* ---- The store ---- */

static int
mc_save(struct migcoord_job *j, const char *state, struct fx_err *err)
{
    struct store_migration rec = { .id = j->id, .phase = j->phase,
                                   .started_at_ms = j->started_ms };

    if (!j->mc->store) {
        return 0;
    }
    snprintf(rec.vm, sizeof rec.vm, "%s", j->vm);
    snprintf(rec.src, sizeof rec.src, "%s", j->src);
    snprintf(rec.dst, sizeof rec.dst, "%s", j->dst);
    snprintf(rec.state, sizeof rec.state, "%s", state);
    return store_put_migration(j->mc->store, &rec, err);
}

/* The job is over: its VM is free again.  The store keeps it as
 * finished once its final state is set (mc_archive()). */
static void
mc_end(struct migcoord_job *j)
{
    if (!j->report.total_ms) {     /* Not taken already (mc_guest_view). */
        j->report.total_ms = fx_time_now_ms() - j->started_ms;
    }
    model_vm_set_busy(j->mc->model, j->vm, false);
}

/* ---- The data plane at switchover ---- */

/* Releases the frames the source's MARKERs held to 'host' (the
 * destination, or the source on rollback), in order, and counts them in
 * the report.  A VIF whose host had no uplink was never held. */
static void
mc_release(struct migcoord_job *j, const char *host)
{
    struct dplane *dp = j->mc->dp;
    int64_t idx = model_host_index(j->mc->model, host);
    struct fx_err err;

    for (size_t i = 0; dp && idx >= 0 && i < j->n_nics; i++) {
        uint64_t held = 0, lost = 0;

        if (dplane_port_hold_stats(dp, j->vifs[i], &held, &lost)) {
            continue;
        }
        if (dplane_port_release(dp, j->vifs[i], (uint32_t) idx, &held,
                                &lost, &err)) {
            LOG_WARN("migration %u: VIF %u not released: %s", j->id,
                     j->vifs[i], err.msg);
        }
        j->report.frames_held += held;
        j->report.frames_lost += lost;
    }
}

/* The VM runs on the destination: the held frames go there, its flows'
 * ends follow, its VIFs (same ids, same MACs) move to the destination's
 * vNICs, and the record follows.  Fails if the store does not take it. */
static int
mc_move_to_dst(struct migcoord_job *j)
{
    struct model *m = j->mc->model;
    uint64_t now = fx_time_now_ms();
    struct fx_err err;

    mc_release(j, j->dst);
    flows_vm_moved(j->mc->flows, j->vm, j->dst);
    for (size_t i = 0; i < j->n_nics; i++) {
        model_vif_move(m, j->vifs[i], j->dst, j->dst_vnics[i], true, now);
    }
    model_vm_set_host(m, j->vm, j->dst);
    model_vm_set_running(m, j->vm, true, model_vm(m, j->vm, NULL)
                         ? model_vm(m, j->vm, NULL)->dirty_rate : 0, now);
    if (model_save_vm(m, j->vm, 0, &err)) {
        char why[sizeof err.msg + 32];

        snprintf(why, sizeof why, "VM on %s not saved: %s", j->dst, err.msg);
        mc_error(j, why);
        return err.code;
    }
    return 0;
}

/* ---- The happy path ---- */

static int
mc_define(struct migcoord_job *j)
{
    const struct vm *vm = model_vm(j->mc->model, j->vm, NULL);
    Fexsim__V1__AgentVmRequest req = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    struct agents_vm a;

    agents_vm_init(&a, j->mc->model, vm, 0, false);
    req.vm = &a.vm;
    req.create = 1;
    return mc_call(j, j->dst, "HostVms.Define", &req.base,
                   &fexsim__v1__agent_vm_reply__descriptor,
                   AGENTS_TIMEOUT_MS);
}

/* The vNICs the destination bound, found by MAC in its AgentVm 'a'. */
static int
mc_take_dst_vnics(struct migcoord_job *j, const Fexsim__V1__AgentVm *a)
{
    for (size_t i = 0; i < j->n_nics; i++) {
        const struct vif *v = model_vif(j->mc->model, j->vifs[i]);
        char mac[18];
        size_t k;

        if (!v || !a) {
            return -EIO;
        }
        fx_mac_format(v->mac, mac);
        for (k = 0; k < a->n_nics && strcmp(a->nics[k]->mac, mac); k++) {
        }
        if (k == a->n_nics) {
            return -EIO;
        }
        j->dst_vnics[i] = a->nics[k]->vnic;
    }
    return 0;
}

static int
mc_prepare(struct migcoord_job *j)
{
    const Fexsim__V1__AgentVmReply *rep = (const void *) j->rep;
    Fexsim__V1__AgentMigRequest req = FEXSIM__V1__AGENT_MIG_REQUEST__INIT;

    if (mc_take_dst_vnics(j, rep ? rep->vm : NULL)) {
        mc_error(j, "destination defined the VM with other NICs");
        return -EIO;
    }
    req.job_id = j->id;
    req.vm = j->vm;
    req.memory_mib = j->memory_mib;
    req.n_vnics = j->n_nics;
    req.vnics = j->dst_vnics;
    req.n_vifs = j->n_nics;
    req.vifs = j->vifs;
    return mc_call(j, j->dst, "MigAgent.Prepare", &req.base,
                   &fexsim__v1__migration_prepare_reply__descriptor,
                   AGENTS_TIMEOUT_MS);
}

static int
mc_perform(struct migcoord_job *j)
{
    const Fexsim__V1__MigrationPrepareReply *rep = (const void *) j->rep;
    Fexsim__V1__AgentMigRequest req = FEXSIM__V1__AGENT_MIG_REQUEST__INIT;

    req.job_id = j->id;
    req.vm = j->vm;
    req.memory_mib = j->memory_mib;
    req.n_vnics = j->n_nics;
    req.vnics = j->src_vnics;
    req.n_vifs = j->n_nics;
    req.vifs = j->vifs;
    req.incoming = rep->incoming;
    req.dst_host = j->dst;
    req.params = &j->params;
    req.dirty_rate = j->dirty_rate;
    req.set_dirty_rate = j->set_dirty_rate;
    req.n_gen_flows = j->n_gens;
    req.gen_flows = j->gens;
    req.n_sink_flows = j->n_sinks;
    req.sink_flows = j->sinks;
    if (j->set_dirty_rate) {
        /* The guest's from now on. */
        model_vm_set_dirty_rate(j->mc->model, j->vm, j->dirty_rate);
    }
    /* No timeout of ours: the engine has its own, and a lost source
     * closes its control connection, which answers the call. */
    return mc_call(j, j->src, "MigAgent.Perform", &req.base,
                   &fexsim__v1__agent_mig_perform_reply__descriptor,
                   AGENTS_NO_TIMEOUT);
}

static int
mc_switchover(struct migcoord_job *j)
{
    LOG_INFO("migration %u of '%s': switchover", j->id, j->vm);
    fx_fault_point("switchover");
    return 0;
}

static void
mc_abort_sent(void *arg, int rc, const struct fx_err *err,
              const ProtobufCMessage *rep)
{
    (void) rep;
    if (rc) {
        LOG_WARN("migration %u: cancel not heard by the source: %s",
                 (uint32_t) (uintptr_t) arg, err->msg);
    }
}

/* The operator cancels while the source copies: its engine rolls back
 * (before the switchover) and Perform answers "cancelled". */
static int
mc_src_abort(struct migcoord_job *j)
{
    Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;
    struct fx_err err;

    ref.job_id = j->id;
    if (agents_call(j->mc->agents, j->src, "MigAgent.Abort", &ref.base,
                    &fexsim__v1__agent_mig_ack__descriptor,
                    AGENTS_TIMEOUT_MS, mc_abort_sent,
                    (void *) (uintptr_t) j->id, &err)) {
        LOG_WARN("migration %u: cancel not sent: %s", j->id, err.msg);
    }
    return 0;
}

static void
mc_take_report(struct migcoord_job *j)
{
    const Fexsim__V1__AgentMigPerformReply *rep = (const void *) j->rep;
    const Fexsim__V1__MigrationReport *r = rep ? rep->report : NULL;

    if (!r) {
        return;
    }
    j->report.job_id = j->id;
    j->report.downtime_ms = r->downtime_ms;
    j->report.downtime_us = r->downtime_us;
    j->report.sent_bytes = r->sent_bytes;
    j->report.rounds = r->rounds;
    j->report.throttle_pct = r->throttle_pct;
    j->report.hv_total_ms = r->hv_total_ms;
    j->report.hv_downtime_ms = r->hv_downtime_ms;
    j->report.hv_data_bytes = r->hv_data_bytes;
    j->report.hv_iterations = r->hv_iterations;
    if (rep->guest_before) {
        j->guest_before = *rep->guest_before;
        j->guest_before.base.unknown_fields = NULL;
        j->guest_before.base.n_unknown_fields = 0;
        j->has_guest_before = true;
    }
    if (r->error && r->error[0]) {
        mc_error(j, r->error);
    }
}

static int
mc_finish(struct migcoord_job *j)
{
    mc_take_report(j);
    if (mc_move_to_dst(j)) {
        return -EIO;
    }
    return mc_call_vm(j, j->src, "HostVms.Stop");
}

static int
mc_src_undefine(struct migcoord_job *j)
{
    if (j->rc) {
        LOG_WARN("migration %u: source domain not stopped: %s", j->id,
                 j->why);
    }
    return mc_call_vm(j, j->src, "HostVms.Undefine");
}

/* A real guest's migration (libvirt moved it): its destination tells
 * the guest's own view of the move once the guest heard its peer again.
 * The migration's time ends here, not after that wait. */
static int
mc_guest_view(struct migcoord_job *j)
{
    Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;

    if (j->rc) {
        /* Undefined when its agent registers again (reconcile.c). */
        LOG_WARN("migration %u: source domain left on %s: %s", j->id,
                 j->src, j->why);
    }
    j->report.total_ms = fx_time_now_ms() - j->started_ms;
    if (!j->report.hv_total_ms) {
        return MC_EV_DONE;          /* A test driver guest: no view. */
    }
    if (!j->has_guest_before) {
        snprintf(j->guest_error, sizeof j->guest_error, "the guest had "
                 "reported no counters before its move");
        return MC_EV_DONE;
    }
    j->guest_asked = true;
    ref.job_id = j->id;
    return mc_call(j, j->dst, "MigAgent.GuestView", &ref.base,
                   &fexsim__v1__agent_guest_view__descriptor,
                   AGENTS_TIMEOUT_MS);
}

/* b - a, or 0 where a counter went down (a late frame takes a loss
 * back). */
static uint64_t
mc_delta(uint64_t a, uint64_t b)
{
    return b > a ? b - a : 0;
}

/* The guest's view of its move, from its counters before it and its
 * destination's answer. */
static void
mc_take_guest(struct migcoord_job *j)
{
    const Fexsim__V1__AgentGuestView *rep = j->rc ? NULL
                                                  : (const void *) j->rep;
    const Fexsim__V1__GuestCounters *a = &j->guest_before;
    const Fexsim__V1__GuestCounters *b = rep ? rep->counters : NULL;
    Fexsim__V1__GuestCounters *g = &j->guest;

    if (!rep || (rep->error && rep->error[0]) || !b) {
        snprintf(j->guest_error, sizeof j->guest_error, "%s",
                 !rep ? j->why
                 : rep->error && rep->error[0] ? rep->error
                 : "no counters from the guest since it resumed");
        return;
    }
    fexsim__v1__guest_counters__init(g);
    g->sent = mc_delta(a->sent, b->sent);
    g->received = mc_delta(a->received, b->received);
    g->lost = mc_delta(a->lost, b->lost);
    g->duplicated = mc_delta(a->duplicated, b->duplicated);
    g->reordered = mc_delta(a->reordered, b->reordered);
    g->longest_gap_ms = a->longest_gap_ms > b->longest_gap_ms
                        ? a->longest_gap_ms : b->longest_gap_ms;
    j->has_guest = true;
}

static int
mc_complete(struct migcoord_job *j)
{
    if (j->guest_asked) {
        mc_take_guest(j);
    }
    mc_end(j);
    LOG_INFO("migration %u of '%s': completed", j->id, j->vm);
    return 0;
}

/* ---- Rollback ---- */

static int
mc_refused(struct migcoord_job *j)
{
    char why[300];

    snprintf(why, sizeof why, "destination %s refuses: %s", j->dst, j->why);
    mc_error(j, why);
    mc_end(j);
    LOG_INFO("migration %u of '%s': failed: %s", j->id, j->vm, j->error);
    return 0;
}

/* Why the job rolls back, from the answer that made it. */
static void
mc_rollback_why(struct migcoord_job *j)
{
    const Fexsim__V1__AgentMigPerformReply *rep = (const void *) j->rep;
    char why[300];

    if (j->state == MC_PERFORM || j->state == MC_SWITCHOVER) {
        mc_take_report(j);
        if (rep && rep->report) {
            j->src_failed = true;
            j->cancel |= !strcmp(rep->report->result, "cancelled");
            mc_error(j, rep->report->error);
            return;
        }
        snprintf(why, sizeof why, "source agent on %s: %s", j->src,
                 j->rc ? j->why : "no report");
    } else if (j->cancel) {
        snprintf(why, sizeof why, "cancelled by the operator");
    } else {
        snprintf(why, sizeof why, "destination %s refuses: %s", j->dst,
                 j->why);
    }
    mc_error(j, why);
}

static int
mc_dst_abort(struct migcoord_job *j)
{
    mc_rollback_why(j);
    mc_release(j, j->src);
    return mc_call_abort(j, j->dst);
}

static int
mc_dst_undefine(struct migcoord_job *j)
{
    if (j->state != MC_DST_ABORT) {
        mc_rollback_why(j);
    }
    mc_release(j, j->src);
    return mc_call_vm(j, j->dst, "HostVms.Undefine");
}

static int
mc_rolled_back(struct migcoord_job *j)
{
    if (j->rc) {
        /* The outcome is known (the VM stays on the source); a domain
         * left on a lost destination is undefined when its agent
         * registers again (reconcile.c). */
        LOG_WARN("migration %u: destination domain left: %s", j->id,
                 j->why);
    }
    mc_end(j);
    LOG_INFO("migration %u of '%s': %s: %s", j->id, j->vm,
             j->cancel ? "cancelled" : "failed", j->error);
    return 0;
}

/* ---- Resolution ---- */

static int
mc_unresolved(struct migcoord_job *j)
{
    struct fx_err err;

    mc_error(j, j->why[0] ? j->why : "the agents must tell where it runs");
    LOG_WARN("migration %u of '%s': %s; unresolved until the agents of %s "
             "and %s say where the VM runs", j->id, j->vm, j->error, j->src,
             j->dst);
    if (mc_save(j, "unresolved", &err)) {
        LOG_WARN("migration %u: not saved as unresolved: %s", j->id,
                 err.msg);
    }
    return agents_up(j->mc->agents, j->src) && agents_up(j->mc->agents,
                                                          j->dst)
           ? MC_EV_AGENTS : MC_EV_NONE;
}

static int
mc_rs_wait(struct migcoord_job *j)
{
    LOG_WARN("migration %u: an agent left again (%s): still unresolved",
             j->id, j->why);
    return 0;
}

/* An engine job still running on either agent (fabricd was killed while
 * the source copied) is cancelled first, so that what the lists say
 * stays true; one past its switchover completes instead. */
static int
mc_rs_src_abort(struct migcoord_job *j)
{
    LOG_INFO("migration %u of '%s': %s and %s are up, asking them where "
             "the VM runs", j->id, j->vm, j->src, j->dst);
    return mc_call_abort(j, j->src);
}

static int
mc_rs_dst_abort(struct migcoord_job *j)
{
    return mc_call_abort(j, j->dst);
}

static int
mc_rs_src_list(struct migcoord_job *j)
{
    return mc_call_vm(j, j->src, "HostVms.List");
}

/* Where the list 'rep' has the VM: '*hasp', '*runsp', and its NICs'
 * vNICs by MAC in 'vnics' (all of them found: returns true). */
static bool
mc_scan(struct migcoord_job *j, const ProtobufCMessage *rep_, bool *hasp,
        bool *runsp, uint32_t *vnics)
{
    const Fexsim__V1__AgentListReply *rep = (const void *) rep_;
    const Fexsim__V1__AgentVm *a = NULL;
    bool all;

    for (size_t i = 0; rep && i < rep->n_vms && !a; i++) {
        a = strcmp(rep->vms[i]->name, j->vm) ? NULL : rep->vms[i];
    }
    *hasp = a != NULL;
    *runsp = a && a->running;
    all = a != NULL;
    for (size_t i = 0; a && i < j->n_nics; i++) {
        const struct vif *v = model_vif(j->mc->model, j->vifs[i]);
        char mac[18];
        size_t k = 0;

        if (v) {
            fx_mac_format(v->mac, mac);
            while (k < a->n_nics && strcmp(a->nics[k]->mac, mac)) {
                k++;
            }
        }
        all &= v && k < a->n_nics;
        vnics[i] = v && k < a->n_nics ? a->nics[k]->vnic : 0;
    }
    return all;
}

static int
mc_rs_dst_list(struct migcoord_job *j)
{
    uint32_t vnics[VM_MAX_NICS];

    /* Kept for a roll back: the vNICs the source holds. */
    if (mc_scan(j, j->rep, &j->src_has, &j->src_runs, vnics)) {
        memcpy(j->src_vnics, vnics, sizeof j->src_vnics);
    }
    return mc_call_vm(j, j->dst, "HostVms.List");
}

/* The destination's list: false if the VM is gone from the fabric. */
static bool
mc_decide_scan(struct migcoord_job *j, const ProtobufCMessage *rep)
{
    mc_scan(j, rep, &j->dst_has, &j->dst_runs, j->dst_vnics);
    return model_vm(j->mc->model, j->vm, NULL) != NULL;
}

/* The destination resumed only once the source had stopped its guest and
 * handed over, so when both run the source's copy is stale: commit;
 * unless the source reported a failure (its guest runs again there). */
static enum mc_event
mc_decide(struct migcoord_job *j)
{
    bool commit = j->dst_runs && !(j->src_runs && j->src_failed);
    const char *how = "";

    if (j->src_runs && j->dst_runs) {
        how = commit ? " (it ran on both: the source's copy is stale)"
                     : " (it ran on both: the source had failed the "
                       "migration and resumed it)";
    } else if (!j->src_runs && !j->dst_runs) {
        how = j->src_has ? " (it ran on neither: started again on the "
                           "source)"
                         : " (the source lost its domain too)";
    }
    snprintf(j->error, sizeof j->error, "%s: VM runs on %s%s",
             commit ? "committed" : "rolled back", commit ? j->dst : j->src,
             how);
    LOG_INFO("migration %u of '%s' %s -> %s (phase %s) resolved: %s", j->id,
             j->vm, j->src, j->dst, store_mig_phase_name(j->phase),
             j->error);
    if (commit) {
        return MC_EV_COMMIT;
    }
    return !j->src_runs && j->src_has ? MC_EV_RESTART : MC_EV_ROLLBACK;
}

/* A decision the store did not take: the fabric follows it all the same
 * (the agents did), and the row left makes the next start resolve it
 * again. */
static void
mc_rs_unsaved(struct migcoord_job *j, const struct fx_err *err)
{
    char why[sizeof err->msg + 32];

    snprintf(why, sizeof why, " (not saved: %s)", err->msg);
    strncat(j->error, why, sizeof j->error - strlen(j->error) - 1);
}

/* Stops the copy on the host that lost, if it runs there. */
static int
mc_rs_stop(struct migcoord_job *j, bool commit)
{
    if (commit ? j->src_runs : j->dst_runs) {
        return mc_call_vm(j, commit ? j->src : j->dst, "HostVms.Stop");
    }
    j->rc = 0;
    return MC_EV_DONE;
}

static int
mc_rs_commit(struct migcoord_job *j)
{
    struct fx_err err;

    if (mc_move_to_dst(j)) {
        fx_err_set(&err, -EIO, "%s", "the VM's new host");
        mc_rs_unsaved(j, &err);
    }
    return mc_rs_stop(j, true);
}

/* The VM and its VIFs are the source's again, running as it says, on the
 * vNICs it lists. */
static void
mc_back_to_src(struct migcoord_job *j, bool running)
{
    struct model *m = j->mc->model;
    uint64_t now = fx_time_now_ms();
    struct fx_err err;

    mc_release(j, j->src);
    model_vm_set_host(m, j->vm, j->src);
    for (size_t i = 0; i < j->n_nics; i++) {
        model_vif_move(m, j->vifs[i], j->src, j->src_vnics[i], running,
                       now);
    }
    model_vm_set_running(m, j->vm, running, model_vm(m, j->vm, NULL)
                         ? model_vm(m, j->vm, NULL)->dirty_rate : 0, now);
    if (model_save_vm(m, j->vm, 0, &err)) {
        mc_rs_unsaved(j, &err);
    }
}

static int
mc_rs_rollback(struct migcoord_job *j)
{
    mc_back_to_src(j, j->src_runs);
    return mc_rs_stop(j, false);
}

/* Neither host runs the VM: the source starts it again (it ran before),
 * on the vNICs it holds. */
static int
mc_rs_restart(struct migcoord_job *j)
{
    const struct vm *vm = model_vm(j->mc->model, j->vm, NULL);
    Fexsim__V1__AgentVmRequest req = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    struct agents_vm a;

    mc_back_to_src(j, false);
    agents_vm_init(&a, j->mc->model, vm, 0, true);
    req.vm = &a.vm;
    return mc_call(j, j->src, "HostVms.Start", &req.base,
                   &fexsim__v1__agent_vm_reply__descriptor,
                   AGENTS_TIMEOUT_MS);
}

static int
mc_rs_restarted(struct migcoord_job *j)
{
    if (j->rc) {
        LOG_WARN("migration %u: '%s' does not start again on %s: %s", j->id,
                 j->vm, j->src, j->why);
    } else {
        mc_back_to_src(j, true);
    }
    return mc_rs_stop(j, false);
}

/* The copy on the host that lost is undefined, which frees its vNICs. */
static int
mc_rs_undefine(struct migcoord_job *j)
{
    bool commit = !strncmp(j->error, "committed", 9);

    if (j->rc) {
        LOG_WARN("migration %u: leftover of '%s' not stopped: %s", j->id,
                 j->vm, j->why);
    }
    if (commit ? j->src_has : j->dst_has) {
        return mc_call_vm(j, commit ? j->src : j->dst, "HostVms.Undefine");
    }
    j->rc = 0;
    return MC_EV_DONE;
}

static int
mc_resolved(struct migcoord_job *j)
{
    if (!model_vm(j->mc->model, j->vm, NULL)) {
        snprintf(j->error, sizeof j->error, "VM deleted meanwhile");
    } else if (j->rc) {
        LOG_WARN("migration %u: leftover of '%s' not undefined: %s", j->id,
                 j->vm, j->why);
    }
    mc_end(j);
    return 0;
}

static int
mc_interrupted(struct migcoord_job *j)
{
    /* The store keeps the phase for the next start to resolve. */
    mc_error(j, "fabricd stopped");
    return 0;
}

/* ---- Jobs ---- */

static void mc_poll_cb(evutil_socket_t fd, short what, void *arg);

struct migcoord *
migcoord_create(struct event_base *base, struct model *model,
                struct store *store, struct agents *agents,
                struct dplane *dp, struct flows *flows, const char *flavor)
{
    const struct timeval tv = { 0, MC_POLL_MS * 1000 };
    struct migcoord *mc = calloc(1, sizeof *mc);

    if (!mc) {
        abort();
    }
    *mc = (struct migcoord) { .model = model, .store = store,
                              .agents = agents, .dp = dp, .flows = flows,
                              .next_id = 1 };
    snprintf(mc->flavor, sizeof mc->flavor, "%s", flavor ? flavor : "kvm");
    mc->poll_ev = event_new(base, -1, EV_PERSIST, mc_poll_cb, mc);
    if (!mc->poll_ev) {
        abort();
    }
    event_add(mc->poll_ev, &tv);
    return mc;
}

void
migcoord_destroy(struct migcoord *mc)
{
    if (mc) {
        event_free(mc->poll_ev);
    }
    free(mc);
}

void
migcoord_set_events(struct migcoord *mc, struct events *events)
{
    mc->events = events;
}

void
migcoord_set_final_fn(struct migcoord *mc, migcoord_final_fn *fn, void *arg)
{
    mc->final_fn = fn;
    mc->final_arg = arg;
}

/* A free slot for a new job: a never used one, or the oldest finished
 * job's (the history listed is the newest). */
static struct migcoord_job *
mc_job_new(struct migcoord *mc, struct fx_err *err)
{
    struct migcoord_job *j = NULL;

    if (mc->n_jobs < MIGCOORD_MAX_JOBS) {
        j = &mc->jobs[mc->n_jobs++];
    } else {
        for (size_t i = 0; i < MIGCOORD_MAX_JOBS; i++) {
            struct migcoord_job *o = &mc->jobs[i];

            if (mc_final(o) && (!j || o->id < j->id)) {
                j = o;
            }
        }
    }
    if (!j) {
        fx_err_refuse(err, -EBUSY, "tooManyMigrations",
                      "%d migrations in flight",
                   MIGCOORD_MAX_JOBS);
        return NULL;
    }
    memset(j, 0, sizeof *j);
    j->mc = mc;
    fexsim__v1__migration_report__init(&j->report);
    fexsim__v1__migration_params__init(&j->params);
    return j;
}

/* Gives back the slot of a job that never started ('j' the last taken). */
static void
mc_job_drop(struct migcoord *mc, struct migcoord_job *j)
{
    if (j == &mc->jobs[mc->n_jobs - 1]) {
        mc->n_jobs--;
    } else {
        j->state = MC_INTERRUPTED;    /* A final slot: reused first. */
        j->id = 0;
    }
}

/* Fills 'j' with what it moves: the VM's NICs and flows. */
static void
mc_job_fill(struct migcoord_job *j, const struct vm *vm)
{
    j->memory_mib = vm->memory_mib;
    j->n_nics = vm->n_nics;
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = model_vm_vif(j->mc->model, vm, i);

        j->vifs[i] = vm->nics[i].vif;
        j->src_vnics[i] = v ? v->vnic : 0;
    }
    j->n_gens = flows_of_vm(j->mc->flows, j->vm, 0, j->gens, FLOWS_MAX);
    j->n_sinks = flows_of_vm(j->mc->flows, j->vm, 1, j->sinks, FLOWS_MAX);
}

static int
mc_check(const struct migcoord *mc, const Fexsim__V1__MigrateRequest *req,
         const struct vm **vmp, struct fx_err *err)
{
    const struct vm *vm = model_vm_idle(mc->model, req->vm, err);
    const struct host *h = model_host(mc->model, req->to);

    if (!vm) {
        return err->code;
    }
    if (!vm->running) {
        return fx_err_refuse(err, -EPERM, "vmNotRunning",
                             "VM '%s' is not running: a live "
                          "migration needs a running VM", vm->name);
    }
    if (vm_check_dirty_rate(req->dirty_rate_pages_per_s, err)) {
        return err->code;
    }
    if (!h || h->state != HOST_UP) {
        return fx_err_set(err, h ? -EHOSTDOWN : -ENOENT, "host '%s' is %s",
                          req->to, h ? "down" : "not known");
    }
    if (!strcmp(vm->host, req->to)) {
        return fx_err_refuse(err, -EPERM, "vmAlreadyOnHost",
                             "VM '%s' already runs on '%s'",
                          vm->name, req->to);
    }
    if (model_vm_check(mc->model, vm, POLICY_OP_MIGRATE, err)) {
        return err->code;
    }
    *vmp = vm;
    return 0;
}

/* Field by field: 'from' (NULL: defaults) may carry unknown fields whose
 * memory goes with its request. */
static void
mc_params_copy(const Fexsim__V1__MigrationParams *from,
               Fexsim__V1__MigrationParams *to)
{
    fexsim__v1__migration_params__init(to);
    /* Unset is fexctl's default, never unlimited (0, set). */
    to->max_bandwidth_case = MC_BW_SET;
    to->max_bandwidth_bytes_per_s =
        FX_LIMITS_MAX_BANDWIDTH_DEFAULT_BYTES_PER_S;
    if (from) {
        to->memory_bytes = from->memory_bytes;
        to->downtime_limit_ms = from->downtime_limit_ms;
        if (from->max_bandwidth_case == MC_BW_SET) {
            to->max_bandwidth_bytes_per_s = from->max_bandwidth_bytes_per_s;
        }
        to->auto_converge = from->auto_converge;
        to->timeout_ms = from->timeout_ms;
        to->max_rounds = from->max_rounds;
    }
}

int
migcoord_start(struct migcoord *mc, const Fexsim__V1__MigrateRequest *req,
               const struct migcoord_job **jp, struct fx_err *err)
{
    const struct vm *vm = NULL;
    struct migcoord_job *j;

    if (mc_check(mc, req, &vm, err) || !(j = mc_job_new(mc, err))) {
        return err->code;
    }
    j->id = mc->next_id;
    snprintf(j->vm, sizeof j->vm, "%s", vm->name);
    snprintf(j->src, sizeof j->src, "%s", vm->host);
    snprintf(j->dst, sizeof j->dst, "%s", req->to);
    j->started_ms = fx_time_now_ms();
    j->dirty_rate = req->dirty_rate_pages_per_s;
    j->set_dirty_rate = req->set_dirty_rate;
    mc_params_copy(req->params, &j->params);
    j->params.memory_bytes = vm->memory_mib << 20;
    mc_job_fill(j, vm);
    j->phase = STORE_MIG_BEGIN;
    if (mc_save(j, "active", err)) {
        mc_job_drop(mc, j);
        return err->code;
    }
    mc->next_id++;
    model_vm_set_busy(mc->model, j->vm, true);
    LOG_INFO("migration %u of '%s' %s -> %s: begin", j->id, j->vm, j->src,
             j->dst);
    {
        char detail[96];

        snprintf(detail, sizeof detail, "%s -> %s", j->src, j->dst);
        mc_event(j, FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_PHASE, "begin",
                 false, detail);
    }
    fx_fault_point("begin");
    *jp = j;
    mc_handle(j, MC_EV_START);
    return 0;
}

int
migcoord_cancel(struct migcoord *mc, uint32_t id, struct fx_err *err)
{
    struct migcoord_job *j = (struct migcoord_job *) migcoord_find(mc, id, NULL, err);

    if (!j) {
        return err->code;
    }
    if (mc_final(j) || j->phase >= STORE_MIG_FINISH) {
        return fx_err_refuse(err, -EALREADY, "migrationTooLate",
                             "migration %u of '%s' is %s: too "
                          "late to cancel", j->id, j->vm,
                          mc_final(j) ? mc_states[j->state].name
                                      : "finishing");
    }
    if (mc_states[j->state].shown && !strcmp(mc_states[j->state].shown,
                                             "unresolved")) {
        return fx_err_refuse(err, -EBUSY, "migrationUnresolved",
                             "migration %u of '%s' is unresolved: "
                          "it ends when its agents tell where the VM runs",
                          j->id, j->vm);
    }
    j->cancel = true;
    if (j->state == MC_PERFORM || j->state == MC_SWITCHOVER) {
        mc_handle(j, MC_EV_CANCEL);
    }
    return 0;
}

/* A row of the store: the job was in flight when fabricd stopped. */
static int
mc_load_row(void *arg, const struct store_migration *rec, struct fx_err *err)
{
    struct migcoord *mc = arg;
    const struct vm *vm = model_vm(mc->model, rec->vm, err);
    struct migcoord_job *j;

    if (!vm || !(j = mc_job_new(mc, err))) {
        return err->code;
    }
    j->id = rec->id;
    mc->next_id = rec->id >= mc->next_id ? rec->id + 1 : mc->next_id;
    snprintf(j->vm, sizeof j->vm, "%s", rec->vm);
    snprintf(j->src, sizeof j->src, "%s", rec->src);
    snprintf(j->dst, sizeof j->dst, "%s", rec->dst);
    j->state = MC_UNRESOLVED;
    j->phase = rec->phase;
    j->started_ms = rec->started_at_ms;
    mc_job_fill(j, vm);
    model_vm_set_busy(mc->model, j->vm, true);
    LOG_WARN("migration %u of '%s' %s -> %s was in phase %s when fabricd "
             "stopped: unresolved until both agents register", j->id, j->vm,
             j->src, j->dst, store_mig_phase_name(j->phase));
    return 0;
}

/* The final state a finished record names (the table's final states). */
static enum mc_state
mc_final_state(const char *shown, bool *cancelp)
{
    *cancelp = !strcmp(shown, "cancelled");
    if (!strcmp(shown, "completed")) {
        return MC_COMPLETED;
    }
    if (*cancelp || !strcmp(shown, "failed")) {
        return MC_ROLLED_BACK;
    }
    return MC_RESOLVED;
}

static void
mc_load_report(const Fexsim__V1__MigrationReport *r,
               struct migcoord_job *j)
{
    Fexsim__V1__MigrationReport *to = &j->report;

    fexsim__v1__migration_report__init(to);
    if (r) {
        to->hv_total_ms = r->hv_total_ms;
        to->hv_downtime_ms = r->hv_downtime_ms;
        to->hv_data_bytes = r->hv_data_bytes;
        to->hv_iterations = r->hv_iterations;
        if (r->guest) {
            j->guest = *r->guest;
            j->guest.base.unknown_fields = NULL;
            j->guest.base.n_unknown_fields = 0;
            j->has_guest = true;
        }
        snprintf(j->guest_error, sizeof j->guest_error, "%s",
                 r->guest_error ? r->guest_error : "");
        to->job_id = r->job_id;
        to->total_ms = r->total_ms;
        to->downtime_ms = r->downtime_ms;
        to->sent_bytes = r->sent_bytes;
        to->rounds = r->rounds;
        to->frames_held = r->frames_held;
        to->frames_lost = r->frames_lost;
        to->downtime_us = r->downtime_us;
        to->throttle_pct = r->throttle_pct;
    }
}

/* A finished job of before the restart, listed again with its final
 * statistics.  One that does not decode, or that finds no free slot, is
 * left out with a line: history is not worth refusing to start. */
static int
mc_load_done(void *arg, const struct store_migration_done *d,
             struct fx_err *err)
{
    struct migcoord *mc = arg;
    char word[32];
    Fexsim__V1__Migration *m = fexsim__v1__migration__unpack(NULL, d->size,
                                                             d->record);
    struct migcoord_job *j = NULL;

    (void) err;
    if (!m || !m->vm || !m->src || !m->dst || !m->state
        || !(j = mc_job_new(mc, NULL))) {
        LOG_WARN("finished migration %u not listed: %s", d->id,
                 m ? "no room" : "its record does not decode");
        if (m) {
            fexsim__v1__migration__free_unpacked(m, NULL);
        }
        return 0;
    }
    j->id = d->id;
    mc->next_id = d->id >= mc->next_id ? d->id + 1 : mc->next_id;
    snprintf(j->vm, sizeof j->vm, "%s", m->vm);
    snprintf(j->src, sizeof j->src, "%s", m->src);
    snprintf(j->dst, sizeof j->dst, "%s", m->dst);
    snprintf(j->error, sizeof j->error, "%s", m->error ? m->error : "");
    j->state = mc_final_state(pbenum_word(
        &fexsim__v1__migration_state__descriptor, m->state, word,
        sizeof word), &j->cancel);
    if (m->phase > 0 && m->phase - 1 <= STORE_MIG_CONFIRM) {
        j->phase = (enum store_mig_phase) (m->phase - 1);
    }
    j->started_ms = m->started_at_ms;
    mc_params_copy(m->params, &j->params);
    mc_load_report(m->report, j);
    if (m->stats) {
        mig_report_stats_from_pb(m->stats, &j->live);
        j->has_live = true;
        j->memory_mib = m->stats->data_total_bytes >> 20;
    }
    fexsim__v1__migration__free_unpacked(m, NULL);
    return 0;
}

/* The ids of jobs that ended before the restart are not listed, but the
 * store kept the next one: none is handed out again. */
static int
mc_load_counters(void *arg, const struct store_counters *c,
                 struct fx_err *err)
{
    struct migcoord *mc = arg;

    (void) err;
    if (c->next_migration_id > mc->next_id) {
        mc->next_id = c->next_migration_id;
    }
    return 0;
}

const char *
migcoord_flavor(const struct migcoord *mc)
{
    return mc->flavor;
}

int
migcoord_load(struct migcoord *mc, struct fx_err *err)
{
    const struct store_callbacks cb = { .migration = mc_load_row,
                                        .migration_done = mc_load_done,
                                        .counters = mc_load_counters };

    return mc->store ? store_load(mc->store, &cb, mc, err) : 0;
}

void
migcoord_host_up(struct migcoord *mc, const char *host)
{
    for (size_t i = 0; i < mc->n_jobs; i++) {
        struct migcoord_job *j = &mc->jobs[i];

        if (j->state == MC_UNRESOLVED
            && (!strcmp(j->src, host) || !strcmp(j->dst, host))
            && agents_up(mc->agents, j->src)
            && agents_up(mc->agents, j->dst)) {
            mc_handle(j, MC_EV_AGENTS);
        }
    }
}

/* The job moving VIF 'vif', or NULL. */
static struct migcoord_job *
mc_moving(const struct migcoord *mc, uint32_t vif)
{
    for (size_t i = 0; i < mc->n_jobs; i++) {
        const struct migcoord_job *j = &mc->jobs[i];

        for (size_t k = 0; !mc_final(j) && k < j->n_nics; k++) {
            if (j->vifs[k] == vif) {
                return (struct migcoord_job *) j;
            }
        }
    }
    return NULL;
}

void
migcoord_vif_held(struct migcoord *mc, uint32_t vif)
{
    struct migcoord_job *j = mc_moving(mc, vif);

    if (j) {
        mc_handle(j, MC_EV_HELD);
    }
}

/* ---- What the service shows ---- */

const struct migcoord_job *
migcoord_find(const struct migcoord *mc, uint32_t id, const char *vm,
              struct fx_err *err)
{
    const struct migcoord_job *best = NULL;

    for (size_t i = 0; i < mc->n_jobs; i++) {
        const struct migcoord_job *j = &mc->jobs[i];

        if (!j->id) {
            continue;
        }
        if (id ? j->id == id : vm && !strcmp(j->vm, vm)) {
            best = !best || j->id > best->id ? j : best;
        }
    }
    if (!best) {
        fx_err_set(err, -ENOENT, "no migration %s%s", id ? "" : "of ",
                   id ? "with that id" : vm ? vm : "");
    }
    return best;
}

size_t
migcoord_count(const struct migcoord *mc)
{
    return mc->n_jobs;
}

size_t
migcoord_unresolved(const struct migcoord *mc)
{
    size_t n = 0;

    for (size_t i = 0; i < mc->n_jobs; i++) {
        n += mc->jobs[i].id && mc->jobs[i].state == MC_UNRESOLVED;
    }
    return n;
}

const struct migcoord_job *
migcoord_at(const struct migcoord *mc, size_t i)
{
    return i < mc->n_jobs && mc->jobs[i].id ? &mc->jobs[i] : NULL;
}

uint32_t
migcoord_job_id(const struct migcoord_job *j)
{
    return j->id;
}

bool
migcoord_job_final(const struct migcoord_job *j)
{
    return mc_final(j);
}

bool
migcoord_job_copying(const struct migcoord_job *j)
{
    return j->state == MC_PERFORM || j->state == MC_SWITCHOVER;
}

const char *
migcoord_job_src(const struct migcoord_job *j)
{
    return j->src;
}

/* Records the last pre-copy round the source reported; a new round is
 * an event. */
static void
mc_set_progress(struct migcoord_job *j, const struct mig_progress *p)
{
    bool next = p->round != j->prog.round;
    char detail[96];

    if (!p->round) {
        return;
    }
    j->prog = *p;
    if (next) {
        snprintf(detail, sizeof detail, "round %u: %llu bytes sent, "
                 "%llu remaining", p->round,
                 (unsigned long long) p->bytes_sent,
                 (unsigned long long) p->bytes_remaining);
        mc_event(j, FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_ITERATION,
                 "perform", true, detail);
    }
}

/* A MigAgent.Status out for job 'id' (the job may end meanwhile). */
struct mc_poll {
    struct migcoord *mc;
    uint32_t id;
};

static void
mc_poll_reply(void *arg, int rc, const struct fx_err *err,
              const ProtobufCMessage *rep_)
{
    struct mc_poll *poll = arg;
    const Fexsim__V1__AgentMigStatus *rep = (const void *) rep_;
    struct migcoord_job *j = (struct migcoord_job *)
        migcoord_find(poll->mc, poll->id, NULL, NULL);

    (void) err;
    free(poll);
    if (!j) {
        return;
    }
    j->polling = false;
    /* No news (the source may have just finished: its report says the
     * rest), or news of a job no longer copying. */
    if (rc || !migcoord_job_copying(j)) {
        return;
    }
    if (rep->progress) {
        const Fexsim__V1__MigrationProgress *p = rep->progress;
        const struct mig_progress prog = {
            .job_id = p->job_id, .round = p->round,
            .bytes_sent = p->sent_bytes,
            .bytes_remaining = p->remaining_bytes,
            .rate = p->rate_bytes_per_s,
            .throttle_pct = p->throttle_pct };

        mc_set_progress(j, &prog);
    }
    if (rep->stats) {
        Fexsim__V1__Event e = FEXSIM__V1__EVENT__INIT;
        Fexsim__V1__MigrationStats s;

        mig_report_stats_from_pb(rep->stats, &j->live);
        j->has_live = true;
        if (j->mc->events) {
            mc_stats(j, &s);
            e.type = FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_PROGRESS;
            e.host = j->src;
            e.vm = j->vm;
            e.migration = j->id;
            e.state = (char *) mc_states[j->state].name;
            e.stats = &s;
            events_push_live(j->mc->events, &e);
        }
    }
}

/* Every MC_POLL_MS: each source that copies is asked for its statistics
 * (one call out per job at a time: a slow agent is not piled on). */
static void
mc_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct migcoord *mc = arg;

    (void) fd;
    (void) what;
    for (size_t i = 0; i < mc->n_jobs; i++) {
        struct migcoord_job *j = &mc->jobs[i];
        Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;
        struct mc_poll *poll;

        if (!j->id || j->polling || !migcoord_job_copying(j)) {
            continue;
        }
        poll = malloc(sizeof *poll);
        if (!poll) {
            abort();
        }
        *poll = (struct mc_poll) { mc, j->id };
        ref.job_id = j->id;
        if (agents_call(mc->agents, j->src, "MigAgent.Status", &ref.base,
                        &fexsim__v1__agent_mig_status__descriptor,
                        MC_POLL_MS * 4, mc_poll_reply, poll, NULL)) {
            free(poll);
            continue;
        }
        j->polling = true;
    }
}

void
migcoord_set_params(struct migcoord *mc, uint32_t id, uint64_t max_bandwidth,
                    uint32_t downtime_limit_ms)
{
    struct migcoord_job *j = (struct migcoord_job *)
        migcoord_find(mc, id, NULL, NULL);

    if (j) {
        j->params.max_bandwidth_case = MC_BW_SET;
        j->params.max_bandwidth_bytes_per_s = max_bandwidth;
        j->params.downtime_limit_ms = downtime_limit_ms;
    }
}

/* Migration.state: active (or cancelling), unresolved, or the end. */
static const char *
mc_shown(const struct migcoord_job *j)
{
    const char *shown = mc_states[j->state].shown;

    if (!shown) {
        return j->cancel ? "cancelled" : "failed";
    }
    if (j->cancel && !strcmp(shown, "active")) {
        return "cancelling";
    }
    return shown;
}

void
migcoord_job_msg(const struct migcoord_job *j, struct rpc_call *call,
                 Fexsim__V1__Migration *m)
{
    struct mc_pb *b = rpc_call_alloc(call, sizeof *b);

    mc_pb_fill(j, b);
    *m = b->m;
    m->vm = rpc_call_strdup(call, j->vm);
    m->src = rpc_call_strdup(call, j->src);
    m->dst = rpc_call_strdup(call, j->dst);
    m->error = rpc_call_strdup(call, j->error);
    if (m->report) {
        m->report->result = rpc_call_strdup(call, mc_shown(j));
        m->report->error = m->error;
    }
}

/* A KVM move: libvirt's 802.1Qbh requests on each end (FACTS.md). */
static void
mc_kvm_ports(const struct migcoord_job *j, char *buf, size_t size)
{
    if (j->phase < STORE_MIG_PREPARE) {
        snprintf(buf, size, "ASSOCIATE on %s", j->src);
    } else if (j->phase < STORE_MIG_FINISH) {
        snprintf(buf, size, "ASSOCIATE on %s, PREASSOCIATE_RR on %s (link "
                 "down)", j->src, j->dst);
    } else {
        snprintf(buf, size, "ASSOCIATE on %s, DISASSOCIATE on %s", j->dst,
                 j->src);
    }
}

void
migcoord_vif_mode(const struct migcoord *mc, const struct vif *v,
                  struct rpc_call *call, Fexsim__V1__VifMode *modep,
                  char **whyp)
{
    const struct profile *p = model_profile(mc->model, v->profile);
    const struct migcoord_job *j = mc_moving(mc, v->id);
    Fexsim__V1__VifMode mode = FEXSIM__V1__VIF_MODE__VIF_MODE_HIGH_PERFORMANCE;
    const char *why = "";
    char buf[160];

    if (!v->directpath) {
        mode = FEXSIM__V1__VIF_MODE__VIF_MODE_STANDARD;
        why = "not a DirectPath NIC";
    } else if (v->state != VIF_ONLINE) {
        mode = FEXSIM__V1__VIF_MODE__VIF_MODE_OFFLINE;
        why = "vmNptDisabledOrDisconnectedAdapter";
    } else if (!p || !p->high_performance) {
        mode = FEXSIM__V1__VIF_MODE__VIF_MODE_PASSTHROUGH;
        why = "profile not high-performance: no vMotion";
    } else if (j && !strcmp(mc->flavor, "vmware")) {
        mode = FEXSIM__V1__VIF_MODE__VIF_MODE_EMULATED;
        why = "vmNptConflictingOperationInProgress";
    } else if (j && !strcmp(mc->flavor, "failover")) {
        mode = FEXSIM__V1__VIF_MODE__VIF_MODE_EMULATED;
        why = "failover: primary unplugged, on the virtio standby";
    } else if (j) {
        mc_kvm_ports(j, buf, sizeof buf);
        why = buf;
    }
    *modep = mode;
    *whyp = rpc_call_strdup(call, why);
}
