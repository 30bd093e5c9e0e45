/* fuzz_mig_dst: what a source (or anyone who connects first) may send to
 * a destination waiting for a migration: the page stream's records
 * (mig_wire.c) as the destination reads and acts on them (mig_dst.c):
 * HELLO, pages written in place into guest memory, rounds acknowledged,
 * device states handed to the load callback, END restoring the devices
 * and resuming the guest, ABORT.
 *
 * Each input is one stream into a fresh destination listening on
 * loopback (guest of FZ_PAGES pages), stepped without blocking until the
 * job has ended: every stream must end it, completed or failed, exactly
 * once.  The callbacks fail on request (a device named "fail", a guest
 * whose first byte is FZ_NO_RESUME) so that those paths are reachable
 * too. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "feed.h"
#include "fx_err.h"
#include "guestmem.h"
#include "log.h"
#include "mig_dst.h"

#define FZ_PAGES 16u
#define FZ_NO_RESUME 0xeeu

struct fz {
    struct mig_dst *dst;
    struct guestmem *gm;
    int done;                  /* Times 'done' was called. */
    enum mig_result result;
};

/* Copies every byte it is given, as a restore would, so that a device
 * state handed over with a wrong size is caught where it is read. */
static int
fz_load(size_t dev, const char *name, const uint8_t *data, size_t size,
        void *arg, struct fx_err *err)
{
    struct fz *fz = arg;
    uint8_t *copy = malloc(size ? size : 1);

    if (!copy || dev >= mig_dst_n_devices(fz->dst) || strlen(name) > 32) {
        abort();
    }
    memcpy(copy, data, size);
    free(copy);
    if (!strcmp(name, "fail")) {
        return fx_err_set(err, -EINVAL, "device '%s' refused", name);
    }
    return 0;
}

static int
fz_resume(void *arg, struct fx_err *err)
{
    struct fz *fz = arg;

    if (guestmem_data(fz->gm)[0] == FZ_NO_RESUME) {
        return fx_err_set(err, -EIO, "guest does not start");
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
        || (err && !err->msg[0]) || r->pages_sent > (1u << 20)) {
        abort();
    }
}

static int
fz_ended(void *arg)
{
    return ((struct fz *) arg)->done;
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
    struct event_base *base = event_base_new();
    struct fz fz = { .done = 0 };
    struct mig_dst_cbs cbs = { fz_load, fz_done, &fz, fz_resume };
    int fd;

    if (!base
        || guestmem_create(base, FZ_PAGES * GUESTMEM_PAGE_SIZE, &fz.gm, NULL)
        || mig_dst_create(base, fz.gm, 1, &cbs, &fz.dst, NULL)
        || mig_dst_listen(fz.dst, "127.0.0.1:0", NULL)) {
        abort();
    }
    fd = feed_connect(base, mig_dst_port(fz.dst));
    feed_stream(base, fd, data, size, FEED_CHUNK, fz_ended, &fz);
    if (fz.result == MIG_RESULT_COMPLETED) {
        for (size_t i = 0; i < mig_dst_n_devices(fz.dst); i++) {
            if (mig_dst_device(fz.dst, i)->state != VFIO_MIG_RUNNING) {
                abort();
            }
        }
        if (!guestmem_is_running(fz.gm)) {
            abort();
        }
    }
    mig_dst_destroy(fz.dst);
    guestmem_destroy(fz.gm);
    feed_close(fd);
    event_base_free(base);
    return 0;
}
