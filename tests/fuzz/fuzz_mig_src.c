/* fuzz_mig_src: what a migration's destination (another host) may send
 * back on the page stream, as the source reads it (mig_src.c): the lab
 * secret's handshake (auth.c, the source its client end), then the
 * acknowledgement of a round, RESUMED, ABORT with its reason, or
 * anything else, in whatever state the source is.
 *
 * Each input is the destination's side of one migration of a fresh
 * source guest of FZ_PAGES pages with two devices: a listener of ours
 * plays the destination, drops what the source sends, and writes the
 * input back in pieces of one record header (FZ_CHUNK), letting the
 * source go as far as it can between pieces.  The input's first byte says
 * whether the source holds a lab secret and whether the harness, as the
 * destination, runs the handshake's server end first (then the rest is
 * the record stream; else it is the handshake's answers, which nobody
 * can forge over the source's fresh nonce: the migration must fail).
 * Every migration must end exactly once; one that did not complete must
 * have rolled back (guest running, devices running), one that completed
 * must have left the guest stopped. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth.h"
#include "feed.h"
#include "fx_err.h"
#include "guestmem.h"
#include "log.h"
#include "mig_src.h"
#include "mig_wire.h"

#define FZ_PAGES 16u
#define FZ_CHUNK MIG_WIRE_HDR_SIZE

/* The bits of the input's first byte. */
#define FZ_PROVEN 1u           /* The harness proves itself a peer. */
#define FZ_SECRET 2u           /* With the lab secret (feed_key()). */

struct fz {
    int done;                  /* Times 'done' was called. */
    enum mig_result result;
};

static struct auth_key fz_key;

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

/* The harness as the destination: serves the peer handshake on 'fd' as
 * "h1", with 'key'. */
static void
fz_prove(struct event_base *base, int fd, const struct auth_key *key)
{
    const struct auth_ident me = { AUTH_ROLE_PEER, "h1" };
    struct auth *a = auth_server_new(key, &me,
                                     AUTH_ROLE_MASK(AUTH_ROLE_PEER));

    feed_handshake(base, fd, a);
    auth_destroy(a);
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
    feed_key(&fz_key);
    log_set_level(LOG_LVL_ERR);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const devs[] = { "vnic0", "traffic" };
    static const struct auth_ident me = { AUTH_ROLE_PEER, "h0" };
    struct event_base *base = event_base_new();
    struct fz fz = { .done = 0 };
    struct mig_src_cbs cbs = { fz_save, NULL, NULL, fz_done, &fz };
    uint8_t mode = size ? data[0] : 0;
    struct mig_params params;
    struct auth_key none;
    struct guestmem *gm;
    struct mig_src *src;
    uint16_t port;
    char addr[32];
    int lfd = feed_listen(&port), fd;

    auth_key_none(&none);
    mig_params_init(&params);
    params.max_bandwidth = 0;       /* No timer between the records. */
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    if (!base
        || guestmem_create(base, FZ_PAGES * GUESTMEM_PAGE_SIZE, &gm, NULL)
        || mig_src_create(base, gm, 1, &params, devs, 2, &cbs, &src, NULL)) {
        abort();
    }
    mig_src_set_auth(src, mode & FZ_SECRET ? &fz_key : &none, &me);
    if (mig_src_start(src, addr, NULL)) {
        abort();
    }
    fd = feed_accept(base, lfd);
    if (mode & FZ_PROVEN) {
        fz_prove(base, fd, mode & FZ_SECRET ? &fz_key : &none);
    }
    feed_stream(base, fd, data + !!size, size - !!size, FZ_CHUNK, fz_ended,
                &fz);
    if (!(mode & FZ_PROVEN) && fz.result == MIG_RESULT_COMPLETED) {
        abort();                /* A stranger made it complete. */
    }
    fz_check_end(&fz, src, gm);
    mig_src_destroy(src);
    guestmem_destroy(gm);
    feed_close(fd);
    feed_close(lfd);
    event_base_free(base);
    return 0;
}
