/* mig_src: the source end of a live migration (QEMU's outgoing side).
 *
 * It owns the job (mig.h, role source), one VFIO device state machine per
 * vNIC (vfio_mig.h) and the page stream to the destination.  Pre-copy
 * rounds send dirty pages of 'gm' until what remains fits the downtime
 * limit at the measured bandwidth; then the guest stops (switchover), the
 * devices go PRE_COPY -> STOP_COPY, the last pages and each device's
 * state (opaque bytes from the save callback: the VIC checkpoint) follow,
 * and the job completes when the destination reports it resumed.  A
 * cancel, a lost peer, a timeout or no convergence rolls back: devices
 * return to RUNNING and the guest resumes.
 *
 * Everything runs on the caller's event loop; nothing blocks. */
#ifndef MIG_SRC_H
#define MIG_SRC_H

#include <stddef.h>
#include <stdint.h>

#include "mig.h"
#include "mig_params.h"
#include "mig_report.h"
#include "vfio_mig.h"

struct auth_ident;
struct auth_key;
struct event_base;
struct fx_err;
struct guestmem;
struct mig_src;

/* Checkpoints device 'dev' (quiesced, in STOP_COPY): stores malloc'ed
 * bytes in '*datap' (the engine frees them) and their size in '*sizep'
 * (at most MIG_WIRE_MAX_DEVICE).  Returns 0 or a negative errno with 'err'
 * filled; a failure rolls the migration back. */
typedef int mig_save_fn(size_t dev, uint8_t **datap, size_t *sizep,
                        void *arg, struct fx_err *err);

/* Converged: the guest is about to stop.  Returns 0 to stop it now, or 1
 * to hold the switchover until the caller calls mig_src_switchover_go()
 * (the guest runs on meanwhile; pages it dirties go in the last round):
 * the daemons hold the VIF's frames at the fabric first. */
typedef int mig_gate_fn(void *arg);

struct mig_src_cbs {
    mig_save_fn *save;          /* May be NULL: empty device states. */
    mig_gate_fn *before_stop;   /* May be NULL: stop at once. */
    mig_progress_fn *progress;  /* May be NULL. */
    mig_done_fn *done;          /* Called once, from the loop; the callee
                                 * may destroy the mig_src in it. */
    void *arg;
};

/* Creates a source job 'job_id' migrating 'gm' (borrowed, must outlive
 * it) with the vNICs named 'dev_names' ('n_devs' <= MIG_MAX_DEVICES,
 * copied), on 'base' (borrowed).  'params' and 'cbs' are copied. */
int mig_src_create(struct event_base *base, struct guestmem *gm,
                   uint32_t job_id, const struct mig_params *params,
                   const char *const *dev_names, size_t n_devs,
                   const struct mig_src_cbs *cbs, struct mig_src **srcp,
                   struct fx_err *err);
/* Frees everything; an unfinished job is rolled back first (guest
 * resumed) without calling 'done'.  NULL is a no-op. */
void mig_src_destroy(struct mig_src *src);

/* The lab secret this end proves on the page stream ('key' borrowed,
 * must outlive the job; 'me' copied: a peer role, the source's host), as
 * the destination's listener demands (auth.h).  Without it: no secret,
 * as "unnamed": only a destination without one accepts that. */
void mig_src_set_auth(struct mig_src *src, const struct auth_key *key,
                      const struct auth_ident *me);

/* Begin + Perform: connects to the destination's 'incoming' address
 * ("127.0.0.1:PORT") and starts pre-copy.  Returns 0 or an error (the job
 * is then FAILED and 'done' is not called). */
int mig_src_start(struct mig_src *src, const char *incoming,
                  struct fx_err *err);

/* Cancels: rolls back (guest resumed, devices RUNNING) and calls 'done'
 * with -ECANCELED.  Returns -EPROTO if the job has no cancel arc (not
 * started, or already final). */
int mig_src_cancel(struct mig_src *src, struct fx_err *err);

/* Fails the job for 'why' (copied), a failure of something beside the
 * engine (the hypervisor's own migration): rolls back and calls 'done'
 * with it, as the engine's own failures do.  Harmless if the job is
 * already final or rolling back (the first error wins). */
void mig_src_fail(struct mig_src *src, const struct fx_err *why);

/* Lets a switchover held by 'before_stop' proceed.  -EPROTO if none is
 * waiting. */
int mig_src_switchover_go(struct mig_src *src, struct fx_err *err);

/* ---- While it runs (libvirt's virDomainMigrateSetMaxSpeed,
 * SetMaxDowntime; a forced completion) ---- */

/* Limits the page stream to 'bytes_per_s' (0: none) from now on: the
 * token bucket's next tick uses it.  -EPROTO if the job is not running
 * (not started, or final). */
int mig_src_set_max_bandwidth(struct mig_src *src, uint64_t bytes_per_s,
                              struct fx_err *err);
/* The downtime limit (1..MIG_DOWNTIME_LIMIT_MAX_MS, else -EINVAL) the
 * convergence check uses from the next round's end.  -EPROTO as above. */
int mig_src_set_downtime_limit(struct mig_src *src, uint32_t ms,
                               struct fx_err *err);
/* Switches over at the next round's end, whatever is left to send (the
 * downtime it costs aside).  Harmless during the switchover.  -EPROTO as
 * above. */
int mig_src_force_complete(struct mig_src *src, struct fx_err *err);
/* The parameters now, as last changed (owned by 'src'). */
const struct mig_params *mig_src_params(const struct mig_src *src);

/* The job's statistics now into 'st': bytes processed (taken by the
 * socket), remaining (dirty and not yet sent), iteration, the guest's
 * dirty rate, the bandwidth since the previous read (an interval of at
 * least 100 ms: a reader a few times a second sees the rate between its
 * reads) and the downtime expected at it.  Costs a scan of the dirty
 * bitmaps (32 KiB per GiB of guest): for a reader a few times a second. */
void mig_src_stats(struct mig_src *src, struct mig_stats *st);

/* The job, its devices and its running report (owned by 'src'). */
const struct mig_job *mig_src_job(const struct mig_src *src);
const struct vfio_mig *mig_src_device(const struct mig_src *src, size_t i);
const struct mig_report *mig_src_report(const struct mig_src *src);

#endif
