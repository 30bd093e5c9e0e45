/* mig_report: what a migration reports (per-round progress, the final
 * report) and their protobuf forms from proto/migrate.proto.  What it is
 * asked to do is in mig_params.h. */
#ifndef MIG_REPORT_H
#define MIG_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "migrate.pb-c.h"

struct fx_err;

/* A migration's statistics at one moment, as libvirt's job stats
 * (virDomainGetJobStats) name them: live while the job runs
 * (mig_src_stats()), at a round's end in its progress. */
struct mig_stats {
    uint32_t iteration;         /* Round under way (1: all of memory). */
    uint64_t total_bytes;       /* Guest memory. */
    uint64_t processed_bytes;   /* Page stream bytes the socket took, all
                                 * rounds (pages sent again count again,
                                 * record headers too). */
    uint64_t remaining_bytes;   /* Pages dirty and not yet sent. */
    uint64_t dirty_rate_pages_per_s;  /* Over the last bitmap sync
                                       * interval. */
    uint64_t bandwidth_bytes_per_s;   /* Over the last interval read. */
    uint64_t expected_downtime_ms;    /* remaining / bandwidth. */
    uint64_t elapsed_ms;        /* Since the start. */
    unsigned throttle_pct;      /* Auto-converge's throttle now. */
    uint64_t downtime_us;       /* Once completed: guest stop ->
                                 * destination resumed. */
};

/* One pre-copy round, given to the progress callback. */
struct mig_progress {
    uint32_t job_id;
    uint32_t round;             /* 1-based. */
    uint64_t bytes_sent;        /* Bytes of this round. */
    uint64_t bytes_remaining;   /* Dirty when the round ended. */
    uint64_t rate;              /* Bytes/s measured over the round. */
    uint64_t duration_us;       /* The round's length. */
    unsigned throttle_pct;      /* Guest throttle during the round. */
    struct mig_stats stats;     /* The job's at the round's end: its
                                 * bandwidth is the round's rate. */
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

/* Returns "completed", "cancelled" or "failed" (a static string). */
const char *mig_report_result_name(enum mig_result r);

/* Fills 'pb' (initialized by the caller) from 'r'; 'error' (borrowed, may
 * be NULL) becomes its error text.  Strings stay borrowed. */
void mig_report_to_pb(const struct mig_report *r, const char *error,
                      Fexsim__V1__MigrationReport *pb);
void mig_report_progress_to_pb(const struct mig_progress *p,
                               Fexsim__V1__MigrationProgress *pb);
/* Fills 'pb' (initialized by the caller) from 's'. */
void mig_report_stats_to_pb(const struct mig_stats *s,
                            Fexsim__V1__MigrationStats *pb);
/* Fills 's' from 'pb' (the other way). */
void mig_report_stats_from_pb(const Fexsim__V1__MigrationStats *pb,
                              struct mig_stats *s);

/* Prints 'r' as one line into 'buf'. */
void mig_report_format(const struct mig_report *r, char *buf, size_t size);

/* Callbacks both ends share.  The report and progress are borrowed for
 * the call; 'err' is NULL on success. */
typedef void mig_progress_fn(const struct mig_progress *p, void *arg);
typedef void mig_done_fn(const struct mig_report *r,
                         const struct fx_err *err, void *arg);

#endif
