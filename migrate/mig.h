/* mig: one migration job's phases, after libvirt's migration protocol v3
 * (Begin, Prepare, Perform, Finish, Confirm) with QEMU's cancelling /
 * cancelled / failed outcomes.
 *
 * The source walks NONE -> BEGIN -> PERFORM -> SWITCHOVER -> CONFIRM ->
 * COMPLETED; the destination NONE -> PREPARE -> FINISH -> COMPLETED.  A
 * cancel or an error on the way goes through CANCELLING or ROLLBACK (the
 * source resumes its guest, as libvirt's Confirm3 with cancelled=1; the
 * destination discards, as Finish3 on failure) to CANCELLED or FAILED.
 *
 * mig_job_handle() looks (role, state, event) up in one table and refuses
 * any missing row with -EPROTO; the state only changes if the row's action
 * (a caller's hook) succeeds.  Every transition is appended, timestamped, to
 * the job's transition log. */
#ifndef MIG_H
#define MIG_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;

enum mig_role { MIG_ROLE_SOURCE, MIG_ROLE_DEST };

enum mig_state {
    MIG_NONE,
    MIG_BEGIN,          /* Source: domain XML + cookie produced. */
    MIG_PREPARE,        /* Destination: paused empty guest, listening. */
    MIG_PERFORM,        /* Source: pre-copy rounds, guest running. */
    MIG_SWITCHOVER,     /* Source: guest stopped, final round + devices. */
    MIG_FINISH,         /* Destination: all received, restoring devices. */
    MIG_CONFIRM,        /* Source: destination resumed, killing ours. */
    MIG_COMPLETED,
    MIG_CANCELLING,     /* Cancel requested, rolling back. */
    MIG_ROLLBACK,       /* An error, rolling back. */
    MIG_CANCELLED,
    MIG_FAILED,
};
#define MIG_N_STATES (MIG_FAILED + 1)

enum mig_event {
    MIG_EV_BEGIN,       /* Source: Begin3. */
    MIG_EV_PREPARE,     /* Destination: Prepare3. */
    MIG_EV_PERFORM,     /* Source: Perform3, start the page stream. */
    MIG_EV_SWITCHOVER,  /* Source: converged, stop the guest. */
    MIG_EV_FINISH,      /* Destination: end of stream received. */
    MIG_EV_CONFIRM,     /* Source: destination reported resumed. */
    MIG_EV_DONE,        /* Either: last step of the phase done. */
    MIG_EV_CANCEL,      /* Either: user cancel. */
    MIG_EV_ERROR,       /* Either: peer lost, timeout, no convergence. */
    MIG_EV_ROLLED_BACK, /* Either: rollback finished. */
};
#define MIG_N_EVENTS (MIG_EV_ROLLED_BACK + 1)

/* One transition, as kept in the log. */
struct mig_log_entry {
    uint64_t ts_us;             /* Wall clock (fx_time_now_us). */
    enum mig_state from;
    enum mig_event event;
    enum mig_state to;
};

#define MIG_LOG_MAX 64

/* Called for a row's action with the job and the caller's 'aux'; returns 0
 * to take the transition or a negative errno with 'err' filled. */
struct mig_job;
typedef int mig_action_fn(struct mig_job *job, void *aux,
                          struct fx_err *err);

/* Per-event hooks the owner of the job installs (any may be NULL). */
struct mig_hooks {
    mig_action_fn *on[MIG_N_EVENTS];
};

struct mig_job {
    uint32_t id;                 /* Caller's job id, for logs. */
    enum mig_role role;
    enum mig_state state;
    struct mig_hooks hooks;      /* Copied at init. */
    struct mig_log_entry log[MIG_LOG_MAX];  /* Ring of transitions. */
    size_t n_log;                /* Transitions ever taken. */
};

/* Initializes 'job' in NONE; 'hooks' (may be NULL) is copied. */
void mig_job_init(struct mig_job *job, uint32_t id, enum mig_role role,
                  const struct mig_hooks *hooks);

/* Feeds 'event' to 'job': looks up the row for (role, state, event), runs
 * the hook for 'event' (if any) with 'aux', and on success enters the
 * row's state and logs it.  Returns 0, -EPROTO for a missing row (an
 * illegal transition, state unchanged, 'err' says which), or the hook's
 * error (state unchanged). */
int mig_job_handle(struct mig_job *job, enum mig_event event, void *aux,
                   struct fx_err *err);

/* True if the table has a row for ('role', 'state', 'event'); stores its
 * target in '*to' when non-NULL. */
int mig_job_has_row(enum mig_role role, enum mig_state state,
                    enum mig_event event, enum mig_state *to);

/* True for COMPLETED, CANCELLED and FAILED. */
int mig_state_is_final(enum mig_state state);

const char *mig_state_name(enum mig_state state);
const char *mig_event_name(enum mig_event event);
const char *mig_role_name(enum mig_role role);

/* The log: count of entries kept, and the 'i'th oldest (owned by 'job'). */
size_t mig_job_log_count(const struct mig_job *job);
const struct mig_log_entry *mig_job_log_get(const struct mig_job *job,
                                            size_t i);

/* Formats entry 'i' as one line "+12.345ms PERFORM --switchover--> ..."
 * relative to the first entry, into 'buf'. */
void mig_job_log_format(const struct mig_job *job, size_t i, char *buf,
                        size_t size);

#endif
