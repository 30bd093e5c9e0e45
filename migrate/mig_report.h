/* mig_report: what a migration is asked to do (parameters, named after
 * QEMU's migrate-set-parameters) and what it reports (per-round progress,
 * the final report), plus their protobuf forms from proto/migrate.proto. */
#ifndef MIG_REPORT_H
#define MIG_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "migrate.pb-c.h"

struct fx_err;

#define MIG_DOWNTIME_LIMIT_MS 300u                /* QEMU downtime-limit. */
#define MIG_DOWNTIME_LIMIT_MAX_MS 2000000u        /* QEMU: 2000 s. */
#define MIG_MAX_BANDWIDTH (128ull * 1024 * 1024)  /* QEMU max-bandwidth. */
#define MIG_THROTTLE_INITIAL 20u                  /* cpu-throttle-initial */
#define MIG_THROTTLE_INCREMENT 10u                /* ...-increment */
#define MIG_THROTTLE_MAX 99u                      /* max-cpu-throttle */
#define MIG_THROTTLE_TRIGGER 50u       /* throttle-trigger-threshold, % */
#define MIG_MAX_ROUNDS 64u
/* A VM's 16 vNICs at most, plus the agent's two guest workload records
 * (its traffic flows, its dirty rate). */
#define MIG_MAX_DEVICES 18u
/* How long an end spins on its socket, when the other end's answer is due
 * within a round trip, before it sleeps in the event loop: a wakeup costs
 * tens of microseconds on a virtual machine, and it falls in the downtime.
 * 200 us, as the guest halt-polling driver (cpuidle-haltpoll's
 * guest_halt_poll_ns) spins before it halts a vCPU. */
#define MIG_POLL_US 200u

struct mig_params {
    uint32_t downtime_limit_ms; /* Switch over when the rest fits. */
    uint64_t max_bandwidth;     /* Bytes/s on the page stream; 0 = none. */
    int auto_converge;          /* Throttle the guest (1) or fail (0) when
                                 * dirtying outpaces the transfer. */
    uint32_t timeout_ms;        /* Whole job; 0 = none. */
    uint32_t max_rounds;        /* Give up after this many rounds. */
};

/* Fills 'p' with QEMU's defaults (300 ms, 128 MiB/s, no auto-converge). */
void mig_params_init(struct mig_params *p);

/* Checks ranges; returns 0 or -EINVAL with 'err' filled. */
int mig_params_check(const struct mig_params *p, struct fx_err *err);

/* One pre-copy round, given to the progress callback. */
struct mig_progress {
    uint32_t job_id;
    uint32_t round;             /* 1-based. */
    uint64_t bytes_sent;        /* Bytes of this round. */
    uint64_t bytes_remaining;   /* Dirty when the round ended. */
    uint64_t rate;              /* Bytes/s measured over the round. */
    uint64_t duration_us;       /* The round's length. */
    unsigned throttle_pct;      /* Guest throttle during the round. */
};

enum mig_result { MIG_RESULT_COMPLETED, MIG_RESULT_CANCELLED,
                  MIG_RESULT_FAILED };

struct mig_report {
    uint32_t job_id;
    enum mig_result result;
    uint64_t total_us;          /* Start to completion (or rollback). */
    uint64_t downtime_us;       /* Source guest stop -> destination
                                 * resumed (acknowledged), measured. */
    uint64_t bytes_sent;        /* Everything on the page stream. */
    uint64_t pages_sent;
    uint32_t rounds;            /* Pre-copy rounds, final one included. */
    uint64_t final_bytes;       /* Sent while the guest was stopped. */
    uint64_t device_bytes;      /* Device state bytes, all devices. */
    uint64_t rate;              /* Bytes/s of the last pre-copy round. */
    unsigned throttle_pct;      /* Highest throttle applied. */
};

const char *mig_result_name(enum mig_result r);

/* Fills 'pb' (initialized by the caller) from 'r'; 'error' (borrowed, may
 * be NULL) becomes its error text.  Strings stay borrowed. */
void mig_report_to_pb(const struct mig_report *r, const char *error,
                      Fexsim__V1__MigrationReport *pb);
void mig_progress_to_pb(const struct mig_progress *p,
                        Fexsim__V1__MigrationProgress *pb);

/* Prints 'r' as one line into 'buf'. */
void mig_report_format(const struct mig_report *r, char *buf, size_t size);

/* Callbacks both ends share.  The report and progress are borrowed for
 * the call; 'err' is NULL on success. */
typedef void mig_progress_fn(const struct mig_progress *p, void *arg);
typedef void mig_done_fn(const struct mig_report *r,
                         const struct fx_err *err, void *arg);

#endif
