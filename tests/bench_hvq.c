/* Benchmark: what the agent's hypervisor worker (agent/hvq.h) costs a
 * libvirt call.  HostVms runs its libvirt calls there, off the loop, on
 * every driver: the test driver's (in-process, microseconds) as QEMU's.
 * The same call, virDomainGetXMLDesc of test:///default's domain, made
 * directly on this thread (the baseline, measured in the same run), then
 * through the worker one at a time (queued, run in the thread, its end
 * back through the pipe and the loop), then N queued at once; each per
 * call, and the ratios to the baseline. */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "fx_err.h"
#include "fx_time.h"
#include "hv.h"
#include "hvq.h"

#define CALLS 4000

struct job {
    struct hv *hv;
    int rc;
    int *left;              /* Jobs not yet done. */
};

static void
job_work(void *arg)
{
    struct job *j = arg;
    struct fx_err err;
    char *xml = NULL;

    j->rc = hv_get_xml(j->hv, "test", 0, &xml, &err);
    free(xml);
}

static void
job_done(void *arg, int cancelled)
{
    struct job *j = arg;

    if (cancelled || j->rc) {
        fprintf(stderr, "bench_hvq: a call failed\n");
        exit(1);
    }
    --*j->left;
}

static double
us_per_call(uint64_t us)
{
    return (double) us / CALLS;
}

/* 'n' jobs queued at once, the loop run until all are done. */
static void
through(struct event_base *base, struct hvq *q, struct job *jobs, int n)
{
    int left = n;

    for (int i = 0; i < n; i++) {
        jobs[i].left = &left;
        hvq_push(q, job_work, job_done, &jobs[i]);
    }
    while (left) {
        event_base_loop(base, EVLOOP_ONCE);
    }
}

int
main(void)
{
    static struct job jobs[CALLS];
    struct event_base *base = event_base_new();
    uint64_t t0, direct_us, one_us, all_us;
    struct hvq *q;
    struct hv *hv;
    struct fx_err err;

    if (!base || hv_open(&hv_libvirt_class, "test:///default", &hv, &err)
        || hvq_create(base, &q, &err)) {
        fprintf(stderr, "bench_hvq: %s\n", base ? err.msg : "no loop");
        return 1;
    }
    for (int i = 0; i < CALLS; i++) {
        jobs[i].hv = hv;
    }
    t0 = fx_time_now_us();
    for (int i = 0; i < CALLS; i++) {
        job_work(&jobs[i]);
        if (jobs[i].rc) {
            fprintf(stderr, "bench_hvq: a call failed\n");
            return 1;
        }
    }
    direct_us = fx_time_now_us() - t0;
    t0 = fx_time_now_us();
    for (int i = 0; i < CALLS; i++) {
        through(base, q, &jobs[i], 1);
    }
    one_us = fx_time_now_us() - t0;
    t0 = fx_time_now_us();
    through(base, q, jobs, CALLS);
    all_us = fx_time_now_us() - t0;
    printf("bench_hvq: %d virDomainGetXMLDesc calls on test:///default\n",
           CALLS);
    printf("  direct, on the loop (baseline)  %8.2f us/call\n",
           us_per_call(direct_us));
    printf("  through the worker, one by one  %8.2f us/call  (%.2fx)\n",
           us_per_call(one_us), (double) one_us / (double) direct_us);
    printf("  through the worker, %d queued %8.2f us/call  (%.2fx)\n",
           CALLS, us_per_call(all_us), (double) all_us / (double) direct_us);
    hvq_destroy(q);
    hv_close(hv);
    event_base_free(base);
    return 0;
}
