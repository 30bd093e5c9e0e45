/* mig_report: progress and report. */
#include "mig_report.h"

#include <inttypes.h>
#include <stdio.h>

const char *
mig_report_result_name(enum mig_result r)
{
    return r == MIG_RESULT_COMPLETED ? "completed"
           : r == MIG_RESULT_CANCELLED ? "cancelled" : "failed";
}

void
mig_report_to_pb(const struct mig_report *r, const char *error,
                 Fexsim__V1__MigrationReport *pb)
{
    pb->job_id = r->job_id;
    pb->result = (char *) mig_report_result_name(r->result);
    pb->error = (char *) (error ? error : "");
    pb->total_ms = r->total_us / 1000;
    pb->downtime_ms = r->downtime_us / 1000;
    pb->downtime_us = r->downtime_us;
    pb->bytes_sent = r->bytes_sent;
    pb->rounds = r->rounds;
    pb->throttle_pct = r->throttle_pct;
    pb->frames_held = 0;
    pb->frames_lost = 0;
}

void
mig_report_progress_to_pb(const struct mig_progress *p,
                          Fexsim__V1__MigrationProgress *pb)
{
    pb->job_id = p->job_id;
    pb->round = p->round;
    pb->bytes_sent = p->bytes_sent;
    pb->bytes_remaining = p->bytes_remaining;
    pb->rate = p->rate;
    pb->throttle_pct = p->throttle_pct;
}

void
mig_report_stats_to_pb(const struct mig_stats *s,
                       Fexsim__V1__MigrationStats *pb)
{
    pb->iteration = s->iteration;
    pb->data_total_bytes = s->total_bytes;
    pb->data_processed_bytes = s->processed_bytes;
    pb->data_remaining_bytes = s->remaining_bytes;
    pb->memory_dirty_rate_pages_per_s = s->dirty_rate_pages_per_s;
    pb->bandwidth_bytes_per_s = s->bandwidth_bytes_per_s;
    pb->expected_downtime_ms = s->expected_downtime_ms;
    pb->time_elapsed_ms = s->elapsed_ms;
    pb->throttle_pct = s->throttle_pct;
    pb->downtime_us = s->downtime_us;
}

void
mig_report_stats_from_pb(const Fexsim__V1__MigrationStats *pb,
                         struct mig_stats *s)
{
    *s = (struct mig_stats) {
        .iteration = pb->iteration, .total_bytes = pb->data_total_bytes,
        .processed_bytes = pb->data_processed_bytes,
        .remaining_bytes = pb->data_remaining_bytes,
        .dirty_rate_pages_per_s = pb->memory_dirty_rate_pages_per_s,
        .bandwidth_bytes_per_s = pb->bandwidth_bytes_per_s,
        .expected_downtime_ms = pb->expected_downtime_ms,
        .elapsed_ms = pb->time_elapsed_ms, .throttle_pct = pb->throttle_pct,
        .downtime_us = pb->downtime_us };
}

void
mig_report_format(const struct mig_report *r, char *buf, size_t size)
{
    snprintf(buf, size, "job %" PRIu32 " %s: total %.1f ms, downtime "
             "%.2f ms, %" PRIu64 " bytes, %" PRIu32 " rounds, throttle "
             "%u%%", r->job_id, mig_report_result_name(r->result),
             r->total_us / 1000.0, r->downtime_us / 1000.0, r->bytes_sent,
             r->rounds, r->throttle_pct);
}
