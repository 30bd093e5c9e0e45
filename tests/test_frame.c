/* Unit tests of the frame header. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "fx_err.h"

static void
frame_round_trips_length_and_version(void **state)
{
    uint8_t buf[FRAME_HDR_SIZE];
    struct frame_hdr hdr;

    (void) state;
    frame_encode(buf, FRAME_VERSION, 123456);
    assert_int_equal(frame_decode(buf, FRAME_MAX_SIZE, &hdr, NULL), 0);
    assert_int_equal(hdr.length, 123456);
    assert_int_equal(hdr.version, FRAME_VERSION);
}

static void
frame_is_big_endian_with_magic(void **state)
{
    uint8_t buf[FRAME_HDR_SIZE];
    const uint8_t want[] = { 0x46, 0x58, 1, 0, 0x01, 0x02, 0x03, 0x04 };

    (void) state;
    frame_encode(buf, 1, 0x01020304);
    assert_memory_equal(buf, want, sizeof want);
}

static void
frame_rejects_bad_magic(void **state)
{
    uint8_t buf[FRAME_HDR_SIZE] = { 'G', 'E', 'T', ' ', '/', ' ', 'H', 'T' };
    struct frame_hdr hdr;
    struct fx_err err;

    (void) state;
    assert_int_equal(frame_decode(buf, FRAME_MAX_SIZE, &hdr, &err),
                     -EBADMSG);
    assert_non_null(strstr(err.msg, "magic"));
}

static void
frame_accepts_limit_and_rejects_one_past(void **state)
{
    uint8_t buf[FRAME_HDR_SIZE];
    struct frame_hdr hdr;
    struct fx_err err;

    (void) state;
    frame_encode(buf, 1, FRAME_MAX_SIZE);
    assert_int_equal(frame_decode(buf, FRAME_MAX_SIZE, &hdr, &err), 0);
    frame_encode(buf, 1, FRAME_MAX_SIZE + 1);
    assert_int_equal(frame_decode(buf, FRAME_MAX_SIZE, &hdr, &err),
                     -EMSGSIZE);
    frame_encode(buf, 1, 100u * 1024 * 1024);
    assert_int_equal(frame_decode(buf, FRAME_MAX_SIZE, &hdr, &err),
                     -EMSGSIZE);
    assert_non_null(strstr(err.msg, "exceeds"));
}

static void
frame_passes_other_versions_up(void **state)
{
    uint8_t buf[FRAME_HDR_SIZE];
    struct frame_hdr hdr;

    (void) state;
    frame_encode(buf, 7, 10);
    assert_int_equal(frame_decode(buf, FRAME_MAX_SIZE, &hdr, NULL), 0);
    assert_int_equal(hdr.version, 7);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_round_trips_length_and_version),
        cmocka_unit_test(frame_is_big_endian_with_magic),
        cmocka_unit_test(frame_rejects_bad_magic),
        cmocka_unit_test(frame_accepts_limit_and_rejects_one_past),
        cmocka_unit_test(frame_passes_other_versions_up),
    };

    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
