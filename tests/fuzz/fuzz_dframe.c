/* fuzz_dframe: what arrives on an uplink (dframe.c), as fabricd's data
 * plane and the agent's uplink read it once the lab secret's handshake is
 * done: messages taken off the stream with dframe_take(), then HELLO (its
 * one-time ticket), MARKER and BATCH decoded as their readers do.
 *
 * Each message is decoded from a copy of exactly its size, so that a read
 * past its end is caught, not hidden in the reader's 256 KiB buffer.  What
 * decodes must also encode back, through the real writers, to the same
 * bytes (the reserved fields aside, which readers ignore): a reader and a
 * writer that disagree would corrupt frames without an error anywhere. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "dframe.h"
#include "fx_err.h"

/* The reader's message buffer and the writer's, DFRAME_MAX_MSG each,
 * allocated once: ASan maps and unmaps an allocation that size each
 * time, which made the target nine times slower. */
static uint8_t *fz_in, *fz_out;

/* Zeroes what readers ignore: the header's reserved u16 and, in a batch,
 * each record's. */
static void
fz_clear_reserved(uint8_t *msg, const struct dframe_hdr *hdr,
                  const struct dframe_rec *recs)
{
    msg[6] = msg[7] = 0;
    for (uint16_t i = 0; recs && i < hdr->count; i++) {
        uint8_t *rec = msg + (recs[i].data - msg) - DFRAME_REC_SIZE;

        rec[6] = rec[7] = 0;
    }
}

/* A batch that parsed, written again record by record. */
static void
fz_check_batch(uint8_t *msg, const struct dframe_hdr *hdr,
               const struct dframe_rec *recs)
{
    uint8_t *out = fz_out;
    struct dframe_writer w;
    size_t n;

    dframe_writer_init(&w, out, DFRAME_MAX_MSG);
    for (uint16_t i = 0; i < hdr->count; i++) {
        if (recs[i].len < DFRAME_MIN_FRAME || recs[i].len > DFRAME_MAX_FRAME
            || recs[i].data < msg + DFRAME_HDR_SIZE + DFRAME_REC_SIZE
            || recs[i].data + recs[i].len > msg + DFRAME_HDR_SIZE
                                            + hdr->length
            || dframe_writer_add(&w, recs[i].vif, recs[i].data,
                                 recs[i].len)) {
            abort();
        }
    }
    n = dframe_writer_finish(&w);
    fz_clear_reserved(msg, hdr, recs);
    if (hdr->count
        && (n != DFRAME_HDR_SIZE + hdr->length || memcmp(out, msg, n))) {
        abort();
    }
}

/* Decodes one message of 'hdr' in 'msg' (exactly its size). */
static void
fz_message(uint8_t *msg, const struct dframe_hdr *hdr)
{
    uint8_t again[DFRAME_HELLO_SIZE > DFRAME_MARKER_SIZE
                  ? DFRAME_HELLO_SIZE : DFRAME_MARKER_SIZE];
    const uint8_t *payload = msg + DFRAME_HDR_SIZE;
    struct dframe_ticket ticket;
    struct dframe_rec *recs;
    uint32_t token, vif;
    struct fx_err err;

    switch (hdr->type) {
    case DFRAME_HELLO:
        if (!dframe_hello_decode(hdr, payload, &ticket, &err)) {
            fz_clear_reserved(msg, hdr, NULL);
            if (dframe_hello_encode(again, &ticket) != DFRAME_HELLO_SIZE
                || memcmp(again, msg, DFRAME_HELLO_SIZE)) {
                abort();
            }
        }
        break;
    case DFRAME_MARKER:
        if (!dframe_marker_decode(hdr, payload, &token, &vif, &err)) {
            fz_clear_reserved(msg, hdr, NULL);
            if (dframe_marker_encode(again, token, vif) != DFRAME_MARKER_SIZE
                || memcmp(again, msg, DFRAME_MARKER_SIZE)) {
                abort();
            }
        }
        break;
    default:
        recs = calloc(hdr->count ? hdr->count : 1, sizeof *recs);
        if (!recs) {
            abort();
        }
        if (!dframe_batch_parse(hdr, payload, recs, &err)) {
            fz_check_batch(msg, hdr, recs);
        }
        free(recs);
        break;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fz_in = malloc(DFRAME_MAX_MSG);
    fz_out = malloc(DFRAME_MAX_MSG);
    if (!fz_in || !fz_out) {
        abort();
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct evbuffer *in = evbuffer_new();
    uint8_t *buf = fz_in;
    struct dframe_hdr hdr;
    struct fx_err err;
    int rc;

    if (!in || evbuffer_add(in, data, size)) {
        abort();
    }
    while ((rc = dframe_take(in, buf, &hdr, &err)) > 0) {
        size_t n = DFRAME_HDR_SIZE + hdr.length;
        uint8_t *msg = malloc(n);

        if (!msg) {
            abort();
        }
        memcpy(msg, buf, n);
        fz_message(msg, &hdr);
        free(msg);
    }
    if (rc < 0 && !err.msg[0]) {
        abort();                /* Garbage must say what it was. */
    }
    evbuffer_free(in);
    return 0;
}
