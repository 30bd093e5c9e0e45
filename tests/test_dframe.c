/* Unit tests of the uplink framing: round trip, and malformed input (bad
 * magic, oversized, truncated, leftovers) refused with a message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dframe.h"
#include "fx_err.h"

static uint8_t t_buf[DFRAME_MAX_MSG];

/* Builds a batch of 'n' frames of 'len' bytes (byte i = frame number). */
static size_t
t_batch(int n, uint32_t len)
{
    struct dframe_writer w;
    uint8_t frame[DFRAME_MAX_FRAME];

    dframe_writer_init(&w, t_buf, sizeof t_buf);
    for (int i = 0; i < n; i++) {
        memset(frame, i, len);
        assert_int_equal(dframe_writer_add(&w, 1000 + i, frame, len), 0);
    }
    return dframe_writer_finish(&w);
}

static void
batch_round_trips(void **state)
{
    size_t size = t_batch(3, 60);
    struct dframe_hdr hdr;
    struct dframe_rec recs[3];

    (void) state;
    assert_int_equal(size, DFRAME_HDR_SIZE + 3 * (DFRAME_REC_SIZE + 60));
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, NULL), 0);
    assert_int_equal(hdr.type, DFRAME_BATCH);
    assert_int_equal(hdr.count, 3);
    assert_int_equal(hdr.length, size - DFRAME_HDR_SIZE);
    assert_int_equal(dframe_batch_parse(&hdr, t_buf + DFRAME_HDR_SIZE, recs,
                                        NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(recs[i].vif, 1000 + i);
        assert_int_equal(recs[i].len, 60);
        assert_int_equal(recs[i].data[59], i);
    }
}

static void
hello_round_trips(void **state)
{
    struct dframe_ticket in, out;
    struct dframe_hdr hdr;

    (void) state;
    for (size_t i = 0; i < sizeof in.bytes; i++) {
        in.bytes[i] = (uint8_t) (0xa0 + i);
    }
    assert_int_equal(dframe_hello_encode(t_buf, &in), DFRAME_HELLO_SIZE);
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, NULL), 0);
    assert_int_equal(hdr.length, DFRAME_TICKET_SIZE);
    assert_int_equal(dframe_hello_decode(&hdr, t_buf + DFRAME_HDR_SIZE,
                                         &out, NULL), 0);
    assert_memory_equal(out.bytes, in.bytes, DFRAME_TICKET_SIZE);
}

static void
writer_says_full_at_count_or_bytes(void **state)
{
    struct dframe_writer w;
    uint8_t frame[DFRAME_MAX_FRAME] = { 0 };
    int n = 0;

    (void) state;
    dframe_writer_init(&w, t_buf, sizeof t_buf);
    while (dframe_writer_add(&w, 1, frame, 64) == 0) {
        n++;
    }
    assert_int_equal(n, DFRAME_MAX_COUNT);
    dframe_writer_init(&w, t_buf, sizeof t_buf);
    n = 0;
    while (dframe_writer_add(&w, 1, frame, DFRAME_MAX_FRAME) == 0) {
        n++;
    }
    assert_int_equal(n, DFRAME_MAX_PAYLOAD / (DFRAME_MAX_FRAME + 8));
    assert_null(dframe_writer_reserve(&w, 1, DFRAME_MAX_FRAME + 1));
    dframe_writer_init(&w, t_buf, sizeof t_buf);
    assert_int_equal(dframe_writer_finish(&w), 0);
}

static void
bad_magic_is_refused(void **state)
{
    struct dframe_hdr hdr;
    struct fx_err err;

    (void) state;
    memcpy(t_buf, "GET / HTTP/1.1", 14);
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "magic"));
}

static void
marker_round_trips(void **state)
{
    struct dframe_hdr hdr;
    uint32_t token, vif;

    (void) state;
    assert_int_equal(dframe_marker_encode(t_buf, 0xdeadbeef, 70001),
                     DFRAME_MARKER_SIZE);
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, NULL), 0);
    assert_int_equal(hdr.type, DFRAME_MARKER);
    assert_int_equal(hdr.count, 0);
    assert_int_equal(hdr.length, 8);
    assert_int_equal(dframe_marker_decode(&hdr, t_buf + DFRAME_HDR_SIZE,
                                          &token, &vif, NULL), 0);
    assert_int_equal(token, 0xdeadbeef);
    assert_int_equal(vif, 70001);
}

/* A MARKER of the wrong length, with a count, or for VIF 0 is refused. */
static void
malformed_marker_is_refused(void **state)
{
    struct dframe_hdr hdr;
    struct fx_err err;
    uint32_t token, vif;

    (void) state;
    dframe_marker_encode(t_buf, 1, 2);
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, NULL), 0);
    hdr.length = 4;
    assert_int_equal(dframe_marker_decode(&hdr, t_buf + DFRAME_HDR_SIZE,
                                          &token, &vif, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "MARKER"));
    hdr.length = 8;
    hdr.count = 1;
    assert_int_equal(dframe_marker_decode(&hdr, t_buf + DFRAME_HDR_SIZE,
                                          &token, &vif, &err), -EBADMSG);
    dframe_marker_encode(t_buf, 1, 0);
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, NULL), 0);
    assert_int_equal(dframe_marker_decode(&hdr, t_buf + DFRAME_HDR_SIZE,
                                          &token, &vif, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "VIF 0"));
}

static void
oversized_and_unknown_are_refused(void **state)
{
    struct dframe_hdr hdr;
    struct fx_err err;

    (void) state;
    t_batch(1, 60);
    t_buf[8] = 0x7f;                 /* length ~ 2 GiB */
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, &err), -EMSGSIZE);
    assert_non_null(strstr(err.msg, "exceeds"));
    t_batch(1, 60);
    t_buf[4] = 0xff;                 /* count 65281 */
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, &err), -EMSGSIZE);
    t_batch(1, 60);
    t_buf[3] = 9;
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, &err), -EPROTO);
    t_batch(1, 60);
    t_buf[2] = DFRAME_VERSION + 1;
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "version"));
    t_batch(1, 60);
    t_buf[2] = 1;                    /* A peer that names its own host. */
    assert_int_equal(dframe_hdr_decode(t_buf, &hdr, &err), -EPROTO);
}

static void
truncated_or_padded_batch_is_refused(void **state)
{
    struct dframe_hdr hdr;
    struct dframe_rec recs[DFRAME_MAX_COUNT];
    struct fx_err err;
    const uint8_t *p = t_buf + DFRAME_HDR_SIZE;

    (void) state;
    t_batch(2, 60);
    dframe_hdr_decode(t_buf, &hdr, NULL);
    hdr.length -= 1;                 /* Last frame cut short. */
    assert_int_equal(dframe_batch_parse(&hdr, p, recs, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "truncated"));
    hdr.length = 68 + 4;             /* Record header cut short. */
    assert_int_equal(dframe_batch_parse(&hdr, p, recs, &err), -EBADMSG);
    hdr.length = 2 * 68 + 5;         /* Leftover bytes. */
    assert_int_equal(dframe_batch_parse(&hdr, p, recs, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "after"));
    hdr.length = 2 * 68;
    hdr.count = 3;                   /* More records claimed than sent. */
    assert_int_equal(dframe_batch_parse(&hdr, p, recs, &err), -EBADMSG);
    t_batch(1, 60);
    t_buf[DFRAME_HDR_SIZE + 5] = 3;  /* A 3-byte "frame". */
    dframe_hdr_decode(t_buf, &hdr, NULL);
    assert_int_equal(dframe_batch_parse(&hdr, p, recs, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "outside"));
    assert_int_equal(dframe_hello_decode(&hdr, p, &(struct dframe_ticket) {
                                             { 0 } }, &err), -EBADMSG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_round_trips),
        cmocka_unit_test(hello_round_trips),
        cmocka_unit_test(writer_says_full_at_count_or_bytes),
        cmocka_unit_test(bad_magic_is_refused),
        cmocka_unit_test(oversized_and_unknown_are_refused),
        cmocka_unit_test(marker_round_trips),
        cmocka_unit_test(malformed_marker_is_refused),
        cmocka_unit_test(truncated_or_padded_batch_is_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
