/* fuzz_mig_dst: what a source (or anyone who connects first) may send to
 * a destination waiting for a migration: the lab secret's handshake
 * (auth.c, the destination serving peers only), then the page stream's
 * records (mig_wire.c) as the destination reads and acts on them
 * (mig_dst.c): HELLO, pages written in place into guest memory, rounds
 * acknowledged, device states handed to the load callback, END restoring
 * the devices and resuming the guest, ABORT.
 *
 * Each input is one stream into a fresh destination listening on
 * loopback (guest of FZ_PAGES pages).  Its first byte says whether the
 * destination holds a lab secret and whether the harness, as the source,
 * proves it (or the lack of one) first; the rest are the fuzzer's bytes.
 * A stream the harness did not prove is a stranger's: it must be refused
 * (no stranger can forge a proof over the fresh nonce), the job still
 * waiting.  A proven one is stepped without blocking until the job has
 * ended: every such stream must end it, completed or failed, exactly
 * once.  The callbacks fail on request (a device named "fail", a guest
 * whose first byte is FZ_NO_RESUME) so that those paths are reachable
 * too. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth.h"
#include "feed.h"
#include "fx_err.h"
#include "guestmem.h"
#include "log.h"
#include "mig_dst.h"

#define FZ_PAGES 16u
#define FZ_NO_RESUME 0xeeu

/* The bits of the input's first byte. */
#define FZ_PROVEN 1u           /* The harness proves itself a peer. */
#define FZ_SECRET 2u           /* With the lab secret (feed_key()). */

struct fz {
    struct mig_dst *dst;
    struct guestmem *gm;
    int done;                  /* Times 'done' was called. */
    int refused;               /* Times 'refused' was called. */
    enum mig_result result;
};

static struct auth_key fz_key;

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

/* A stranger's connection was closed: it must say why. */
static void
fz_refused(void *arg, const char *peer, const struct fx_err *why)
{
    struct fz *fz = arg;

    fz->refused++;
    if (!peer || !why || !why->msg[0]) {
        abort();
    }
}

static int
fz_ended(void *arg)
{
    return ((struct fz *) arg)->done || ((struct fz *) arg)->refused;
}

/* The harness as the source: proves the peer "h0" to the destination on
 * 'fd', with 'key'. */
static void
fz_prove(struct event_base *base, int fd, const struct auth_key *key)
{
    const struct auth_ident me = { AUTH_ROLE_PEER, "h0" };
    struct auth *a = auth_client_new(key, &me);

    feed_handshake(base, fd, a);
    auth_destroy(a);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    feed_init();
    feed_key(&fz_key);
    log_set_level(LOG_LVL_ERR);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct auth_ident me = { AUTH_ROLE_PEER, "h1" };
    struct event_base *base = event_base_new();
    struct fz fz = { .done = 0 };
    struct mig_dst_cbs cbs = { fz_load, fz_done, &fz, fz_resume,
                               fz_refused };
    uint8_t mode = size ? data[0] : 0;
    struct auth_key none;
    int fd;

    auth_key_none(&none);
    if (!base
        || guestmem_create(base, FZ_PAGES * GUESTMEM_PAGE_SIZE, &fz.gm, NULL)
        || mig_dst_create(base, fz.gm, 1, &cbs, &fz.dst, NULL)) {
        abort();
    }
    mig_dst_set_auth(fz.dst, mode & FZ_SECRET ? &fz_key : &none, &me);
    if (mig_dst_listen(fz.dst, "127.0.0.1:0", NULL)) {
        abort();
    }
    fd = feed_connect(base, mig_dst_port(fz.dst));
    if (mode & FZ_PROVEN) {
        fz_prove(base, fd, mode & FZ_SECRET ? &fz_key : &none);
    }
    feed_stream(base, fd, data + !!size, size - !!size, FEED_CHUNK,
                fz_ended, &fz);
    /* A proven source's stream ends the job; a stranger's is refused and
     * the job waits for the real source. */
    if ((mode & FZ_PROVEN) ? fz.refused || fz.done != 1
                           : fz.done || fz.refused != 1) {
        abort();
    }
    if (fz.done && fz.result == MIG_RESULT_COMPLETED) {
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
