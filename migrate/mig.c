/* mig: the job phase table and its transition log. */
#include "mig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fx_err.h"
#include "fx_time.h"
#include "log.h"

LOG_MODULE("mig");

#define SRC (1u << MIG_ROLE_SOURCE)
#define DST (1u << MIG_ROLE_DEST)

struct mig_row {
    unsigned roles;             /* SRC, DST or both. */
    enum mig_state from;
    enum mig_event event;
    enum mig_state to;
};

/* The whole protocol.  Anything not here is refused with -EPROTO. */
static const struct mig_row mig_rows[] = {
    /* who      from             event               to */
    { SRC,      MIG_NONE,        MIG_EV_BEGIN,       MIG_BEGIN },
    { SRC,      MIG_BEGIN,       MIG_EV_PERFORM,     MIG_PERFORM },
    { SRC,      MIG_PERFORM,     MIG_EV_SWITCHOVER,  MIG_SWITCHOVER },
    { SRC,      MIG_SWITCHOVER,  MIG_EV_CONFIRM,     MIG_CONFIRM },
    { SRC,      MIG_CONFIRM,     MIG_EV_DONE,        MIG_COMPLETED },
    { DST,      MIG_NONE,        MIG_EV_PREPARE,     MIG_PREPARE },
    { DST,      MIG_PREPARE,     MIG_EV_FINISH,      MIG_FINISH },
    { DST,      MIG_FINISH,      MIG_EV_DONE,        MIG_COMPLETED },
    /* Cancel: source resumes its guest, destination discards. */
    { SRC,      MIG_BEGIN,       MIG_EV_CANCEL,      MIG_CANCELLING },
    { SRC,      MIG_PERFORM,     MIG_EV_CANCEL,      MIG_CANCELLING },
    { SRC,      MIG_SWITCHOVER,  MIG_EV_CANCEL,      MIG_CANCELLING },
    { DST,      MIG_PREPARE,     MIG_EV_CANCEL,      MIG_CANCELLING },
    { DST,      MIG_FINISH,      MIG_EV_CANCEL,      MIG_CANCELLING },
    { SRC|DST,  MIG_CANCELLING,  MIG_EV_ROLLED_BACK, MIG_CANCELLED },
    /* Errors: peer lost, timeout, no convergence, restore failed. */
    { SRC,      MIG_BEGIN,       MIG_EV_ERROR,       MIG_ROLLBACK },
    { SRC,      MIG_PERFORM,     MIG_EV_ERROR,       MIG_ROLLBACK },
    { SRC,      MIG_SWITCHOVER,  MIG_EV_ERROR,       MIG_ROLLBACK },
    { DST,      MIG_PREPARE,     MIG_EV_ERROR,       MIG_ROLLBACK },
    { DST,      MIG_FINISH,      MIG_EV_ERROR,       MIG_ROLLBACK },
    { SRC|DST,  MIG_CANCELLING,  MIG_EV_ERROR,       MIG_ROLLBACK },
    { SRC|DST,  MIG_ROLLBACK,    MIG_EV_ROLLED_BACK, MIG_FAILED },
};
#define MIG_N_ROWS (sizeof mig_rows / sizeof mig_rows[0])

static const char *const mig_state_names[MIG_N_STATES] = {
    "NONE", "BEGIN", "PREPARE", "PERFORM", "SWITCHOVER", "FINISH",
    "CONFIRM", "COMPLETED", "CANCELLING", "ROLLBACK", "CANCELLED", "FAILED",
};

static const char *const mig_event_names[MIG_N_EVENTS] = {
    "begin", "prepare", "perform", "switchover", "finish", "confirm",
    "done", "cancel", "error", "rolled-back",
};

const char *
mig_state_name(enum mig_state s)
{
    return (unsigned) s < MIG_N_STATES ? mig_state_names[s] : "?";
}

const char *
mig_event_name(enum mig_event e)
{
    return (unsigned) e < MIG_N_EVENTS ? mig_event_names[e] : "?";
}

const char *
mig_role_name(enum mig_role role)
{
    return role == MIG_ROLE_SOURCE ? "source" : "destination";
}

int
mig_state_is_final(enum mig_state s)
{
    return s == MIG_COMPLETED || s == MIG_CANCELLED || s == MIG_FAILED;
}

int
mig_job_has_row(enum mig_role role, enum mig_state state,
                enum mig_event event, enum mig_state *to)
{
    for (size_t i = 0; i < MIG_N_ROWS; i++) {
        const struct mig_row *r = &mig_rows[i];

        if ((r->roles & (1u << role)) && r->from == state
            && r->event == event) {
            if (to) {
                *to = r->to;
            }
            return 1;
        }
    }
    return 0;
}

void
mig_job_init(struct mig_job *job, uint32_t id, enum mig_role role,
             const struct mig_hooks *hooks)
{
    memset(job, 0, sizeof *job);
    job->id = id;
    job->role = role;
    job->state = MIG_NONE;
    if (hooks) {
        job->hooks = *hooks;
    }
}

static void
mig_job_log_add(struct mig_job *job, enum mig_event ev, enum mig_state to)
{
    struct mig_log_entry *e = &job->log[job->n_log % MIG_LOG_MAX];

    e->ts_us = fx_time_now_us();
    e->from = job->state;
    e->event = ev;
    e->to = to;
    job->n_log++;
    LOG_DBG("job %" PRIu32 " (%s): %s --%s--> %s", job->id,
            mig_role_name(job->role), mig_state_name(job->state),
            mig_event_name(ev), mig_state_name(to));
    job->state = to;
}

int
mig_job_handle(struct mig_job *job, enum mig_event event, void *aux,
               struct fx_err *err)
{
    enum mig_state to;
    mig_action_fn *fn;
    int rc;

    if ((unsigned) event >= MIG_N_EVENTS
        || !mig_job_has_row(job->role, job->state, event, &to)) {
        return fx_err_set(err, -EPROTO, "job %" PRIu32 ": illegal "
                          "transition: event '%s' in state '%s' (%s)",
                          job->id, mig_event_name(event),
                          mig_state_name(job->state),
                          mig_role_name(job->role));
    }
    fn = job->hooks.on[event];
    if (fn) {
        rc = fn(job, aux, err);
        if (rc < 0) {
            return rc;
        }
    }
    mig_job_log_add(job, event, to);
    return 0;
}

size_t
mig_job_log_count(const struct mig_job *job)
{
    return job->n_log < MIG_LOG_MAX ? job->n_log : MIG_LOG_MAX;
}

const struct mig_log_entry *
mig_job_log_get(const struct mig_job *job, size_t i)
{
    size_t first = job->n_log - mig_job_log_count(job);

    return &job->log[(first + i) % MIG_LOG_MAX];
}

void
mig_job_log_format(const struct mig_job *job, size_t i, char *buf,
                   size_t size)
{
    const struct mig_log_entry *e = mig_job_log_get(job, i);
    uint64_t t0 = mig_job_log_get(job, 0)->ts_us;

    snprintf(buf, size, "+%.3fms %s --%s--> %s",
             (double) (e->ts_us - t0) / 1000.0, mig_state_name(e->from),
             mig_event_name(e->event), mig_state_name(e->to));
}
