/* fuzz_mig_src: what a migration's destination (another host) may send
 * back on the page stream, as the source reads it (mig_src.c): the
 * acknowledgement of a round, RESUMED, ABORT with its reason, or
 * anything else, in whatever state the source is.
 *
 * Each input is the destination's side of one migration of a fresh
 * source guest of FZ_PAGES pages with two devices: a listener of ours
 * plays the destination, drops what the source sends, and writes the
 * input back in pieces of one record header (FZ_CHUNK), letting the
 * source go as far as it can between pieces.  Every migration must end
 * exactly once; one that did not complete must have rolled back (guest
 * running, devices running), one that completed must have left the guest
 * stopped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "feed.h"
#include "fx_err.h"
#include "guestmem.h"
#include "log.h"
#include "mig_src.h"
#include "mig_wire.h"

#define FZ_PAGES 16u
#define FZ_CHUNK MIG_WIRE_HDR_SIZE

struct fz {
    int done;                  /* Times 'done' was called. */
    enum mig_result result;
};

/* A device state of a few bytes, as the VIC checkpoint would give. */
static int
fz_save(size_t dev, uint8_t **datap, size_t *sizep, void *arg,
        struct fx_err *err)
{
    (void) arg;
    (void) err;
    *sizep = 8 + dev;
    *datap = calloc(1, *sizep);
    if (!*datap) {
        abort();
    }
    return 0;
}

static void
fz_done(const struct mig_report *r, const struct fx_err *err, void *arg)
{
    struct fz *fz = arg;

    fz->done++;
    fz->result = r->result;
    if (fz->done > 1 || (r->result == MIG_RESULT_COMPLETED) != !err
        || (err && !err->msg[0])) {
        abort();
    }
}

static int
fz_ended(void *arg)
{
    return ((struct fz *) arg)->done;
}

/* The guest and devices as the job's end must leave them. */
static void
fz_check_end(const struct fz *fz, struct mig_src *src, struct guestmem *gm)
{
    int completed = fz->result == MIG_RESULT_COMPLETED;

    if (guestmem_is_running(gm) == completed) {
        abort();
    }
    for (size_t i = 0; !completed && i < 2; i++) {
        if (mig_src_device(src, i)->state != VFIO_MIG_RUNNING) {
            abort();
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    feed_init();
    log_set_level(LOG_LVL_ERR);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const devs[] = { "vnic0", "traffic" };
    struct event_base *base = event_base_new();
    struct fz fz = { .done = 0 };
    struct mig_src_cbs cbs = { fz_save, NULL, NULL, fz_done, &fz };
    struct mig_params params;
    struct guestmem *gm;
    struct mig_src *src;
    uint16_t port;
    char addr[32];
    int lfd = feed_listen(&port), fd;

    mig_params_init(&params);
    params.max_bandwidth = 0;       /* No timer between the records. */
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    if (!base
        || guestmem_create(base, FZ_PAGES * GUESTMEM_PAGE_SIZE, &gm, NULL)
        || mig_src_create(base, gm, 1, &params, devs, 2, &cbs, &src, NULL)
        || mig_src_start(src, addr, NULL)) {
        abort();
    }
    fd = feed_accept(base, lfd);
    feed_stream(base, fd, data, size, FZ_CHUNK, fz_ended, &fz);
    fz_check_end(&fz, src, gm);
    mig_src_destroy(src);
    guestmem_destroy(gm);
    feed_close(fd);
    feed_close(lfd);
    event_base_free(base);
    return 0;
}
