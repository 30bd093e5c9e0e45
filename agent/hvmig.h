/* hvmig: a real guest's live migration by libvirt, run in a thread of its
 * own beside fexsim's engine (migagent.h).
 *
 * virDomainMigrate3 blocks for the whole migration, and the agent is one
 * event loop: so the call runs in a thread (libvirt's connections are
 * thread-safe) while the loop goes on serving, switching frames and
 * running fexsim's engine.  QEMU pre-copies the guest's memory while it
 * runs; its switchover waits for fexsim's (hv.h: downtime limit 0), where
 * the source suspends the guest, which makes QEMU converge at once, and
 * waits here for the end: the guest then sits paused on the destination,
 * whose agent resumes it once its vNICs are restored. */
#ifndef HVMIG_H
#define HVMIG_H

struct fx_err;
struct hv;
struct hv_mig_stats;
struct hvmig;

/* Starts migrating running domain 'vm' (copied) of 'hv' (borrowed, must
 * outlive the migration) to the libvirtd at 'dst_uri' (copied), paced
 * (below) if 'paced', else at full speed from the start: QEMU then stops
 * the guest itself at the end of its first pass.  Stores the migration
 * in '*mp'; the caller frees it with hvmig_destroy(). */
int hvmig_start(struct hv *hv, const char *vm, const char *dst_uri,
                int paced, struct hvmig **mp, struct fx_err *err);

/* With a downtime limit of 0 QEMU switches over when its first pass ends
 * (hv.h), stopping the guest behind our back: frames sent to it then
 * would be lost.  So the pass is paced (HVMIG_PACE_MIB_S) until fexsim's
 * switchover has stopped the guest and calls hvmig_release(); then QEMU
 * sends the rest at HVMIG_FULL_MIB_S.  libvirt applies the pace as QEMU's
 * migration begins, after its own phases: a watcher thread lifts it, and
 * again every HVMIG_POLL_MS until the end.  (The call waits for a job of
 * libvirt's, which a migration under way sometimes holds to its end: the
 * rest then goes at the pace, slower, still losing nothing.) */
#define HVMIG_POLL_MS 20u
#define HVMIG_PACE_MIB_S 16u
#define HVMIG_FULL_MIB_S 8192u

/* The guest is stopped: QEMU sends the rest at full speed. */
void hvmig_release(struct hvmig *);

/* Stops the guest (virDomainSuspend, in the watcher, on a connection of
 * its own: libvirt may make it wait for its job, and the agent's loop
 * must not; on the connection whose virDomainMigrate3 is out, libvirt's
 * client sent it up to a second late), then lifts the pace as
 * hvmig_release() does. */
void hvmig_stop(struct hvmig *);

/* Whether the guest hvmig_stop() asked to stop is: 0 not yet, 1 stopped,
 * 2 QEMU's migration ended first (no stop was needed, or it failed: its
 * outcome tells), -1 the stop failed, why in '*err'. */
int hvmig_stopped(struct hvmig *, struct fx_err *err);

/* An unpaced migration: whether QEMU has stopped the guest itself (its
 * pass over memory ended), or the migration ended.  The watcher reads
 * the guest's state every HVMIG_POLL_MS: frames sent to the guest after
 * the stop are lost with the source's QEMU, so the agent keeps them in
 * the vNIC's ring (the checkpoint carries them) from as soon as it
 * knows. */
int hvmig_qemu_stopped(const struct hvmig *);

/* Waits for the migration's end.  Returns 0 with libvirt's statistics in
 * '*st', or libvirt's error. */
int hvmig_wait(struct hvmig *, struct hv_mig_stats *st, struct fx_err *err);

/* Whether the migration has ended (then hvmig_wait() does not block). */
int hvmig_done(const struct hvmig *);

/* Cancels the migration if it still runs (the guest stays here), without
 * waiting: the watcher thread asks libvirt until the end, which
 * hvmig_done() tells (libvirt's abort and its own rollback on both hosts
 * take seconds, which the agent's loop must not spend waiting). */
void hvmig_abort(struct hvmig *);

/* Cancels the migration if it still runs (the guest stays here) and waits
 * for its end. */
void hvmig_cancel(struct hvmig *);

/* Cancels, waits and frees.  NULL is a no-op. */
void hvmig_destroy(struct hvmig *);

#endif
