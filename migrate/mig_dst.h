/* mig_dst: the destination end of a live migration (QEMU's -incoming).
 *
 * Prepare: it listens for one page stream into 'gm' (the paused, empty
 * guest) and keeps one VFIO device per vNIC the source announces, taken
 * to RESUMING.  Pages are checked (per-record checksum, index range) and
 * written in place.  At the end of the stream (Finish) it hands each
 * device's state back through the load callback, takes the devices
 * RESUMING -> STOP -> RUNNING_P2P -> RUNNING, resumes the guest (the
 * resume callback) and only then tells the source.  A broken stream, a cancel or a failed load discards: the
 * job ends FAILED or CANCELLED and the caller throws the guest away. */
#ifndef MIG_DST_H
#define MIG_DST_H

#include <stddef.h>
#include <stdint.h>

#include "mig.h"
#include "mig_report.h"
#include "vfio_mig.h"

struct auth_ident;
struct auth_key;
struct event_base;
struct fx_err;
struct guestmem;
struct mig_dst;

/* Restores device 'dev' named 'name' from 'size' bytes at 'data' (both
 * borrowed for the call).  Returns 0 or a negative errno with 'err'. */
typedef int mig_load_fn(size_t dev, const char *name, const uint8_t *data,
                        size_t size, void *arg, struct fx_err *err);

/* Resumes the guest (the hypervisor's part), every device running.
 * Returns 0, or a negative errno with 'err': the job then fails, the
 * source hears no RESUMED and resumes its own guest. */
typedef int mig_resume_fn(void *arg, struct fx_err *err);

/* A connection to the listener did not prove the lab secret ('peer' its
 * address, 'why' borrowed): it was closed, the job waits for the source
 * still.  The library logs nothing; the caller says it once. */
typedef void mig_refused_fn(void *arg, const char *peer,
                            const struct fx_err *why);

struct mig_dst_cbs {
    mig_load_fn *load;          /* May be NULL: device states dropped. */
    mig_done_fn *done;          /* Called once, from the loop; the callee
                                 * may destroy the mig_dst in it. */
    void *arg;
    mig_resume_fn *resume;      /* May be NULL: nothing to start. */
    mig_refused_fn *refused;    /* May be NULL. */
};

/* Creates a destination job 'job_id' receiving into 'gm' (borrowed, must
 * outlive it) on 'base' (borrowed); 'cbs' is copied. */
int mig_dst_create(struct event_base *base, struct guestmem *gm,
                   uint32_t job_id, const struct mig_dst_cbs *cbs,
                   struct mig_dst **dstp, struct fx_err *err);
/* Frees everything (an unfinished job is discarded, 'done' not called).
 * NULL is a no-op. */
void mig_dst_destroy(struct mig_dst *dst);

/* The lab secret the source must prove on the page stream, as a peer
 * ('key' borrowed, must outlive the job; 'me' copied: this host).
 * Without it: no secret, so only a source without one is accepted. */
void mig_dst_set_auth(struct mig_dst *dst, const struct auth_key *key,
                      const struct auth_ident *me);

/* Prepare: stops the guest and listens on 'addr' ("127.0.0.1:0" picks a
 * port) for the source.  Returns 0 or an error. */
int mig_dst_listen(struct mig_dst *dst, const char *addr,
                   struct fx_err *err);
/* The same, trying each port from the port of 'addr' up to 'last' and
 * taking the first that is free, so that a firewall can open a fixed
 * range ('last' 0, or not above that port: only that port). */
int mig_dst_listen_range(struct mig_dst *dst, const char *addr,
                         uint16_t last, struct fx_err *err);
/* The port listened on, after mig_dst_listen(). */
uint16_t mig_dst_port(const struct mig_dst *dst);

/* Cancels and discards; 'done' gets -ECANCELED.  -EPROTO when final. */
int mig_dst_cancel(struct mig_dst *dst, struct fx_err *err);

const struct mig_job *mig_dst_job(const struct mig_dst *dst);
const struct vfio_mig *mig_dst_device(const struct mig_dst *dst, size_t i);
size_t mig_dst_n_devices(const struct mig_dst *dst);
/* Counts received so far: bytes_sent is bytes received, rounds the
 * source's rounds seen. */
const struct mig_report *mig_dst_report(const struct mig_dst *dst);

#endif
