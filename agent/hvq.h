/* hvq: the agent's hypervisor worker, a thread that runs the libvirt part
 * of the agent's requests so that its event loop never waits for
 * libvirtd.
 *
 * A libvirtd may make one call wait a long time: a domain held by a job
 * of its own (a restarted libvirtd keeping an aborted incoming guest
 * under its "migration in" job) makes virDomainDestroy wait 30 s for the
 * state change lock.  Run on the loop, that stopped the agent's
 * heartbeats (fabricd marked the host down) and its frames.
 *
 * A job is two functions: 'work' runs in the worker thread, jobs one at a
 * time in the order queued (so calls on one domain keep their order);
 * then 'done' runs on the loop.  'work' may call hv.h (libvirt's
 * connections are thread-safe) and compute, nothing else: the VIC, the
 * guests' sockets, the state dir and every libevent object belong to the
 * loop.  libevent's evthread is not initialised, so the worker tells the
 * loop through a pipe, whose read end is an event of the loop. */
#ifndef HVQ_H
#define HVQ_H

#include <event2/event.h>

struct fx_err;
struct hvq;

/* Runs in the worker thread with the 'arg' given to hvq_push(). */
typedef void hvq_work_fn(void *arg);
/* Runs on the loop once 'work' returned ('cancelled' 0), or from
 * hvq_destroy() for a job whose 'done' had not run ('cancelled' 1: its
 * 'work' may or may not have run; the agent is going away). */
typedef void hvq_done_fn(void *arg, int cancelled);

/* Creates the worker on 'base' (borrowed, must outlive it).  Returns 0
 * and stores it in '*qp' (free with hvq_destroy()), or a negative errno
 * with 'err' filled. */
int hvq_create(struct event_base *base, struct hvq **qp, struct fx_err *err);

/* Queues a job; 'arg' is the caller's and must live until 'done' ran. */
void hvq_push(struct hvq *, hvq_work_fn *work, hvq_done_fn *done,
              void *arg);

/* Waits for the job the worker runs (a libvirt call stuck in libvirtd
 * delays this as long), joins the thread, calls 'done' with 'cancelled'
 * 1 for each job left, in order, and frees.  NULL is a no-op. */
void hvq_destroy(struct hvq *);

#endif
