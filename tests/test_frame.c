/* Unit tests of the frame header, and of the Envelope packed by hand
 * (rpc_env) against protobuf-c's packing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "fx_err.h"
#include "rpc.pb-c.h"
#include "rpc_env.h"

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

/* rpc_env_pack()'s bytes are protobuf-c's, for every field left out or
 * set (small and multi-byte ids and lengths, a negative enum), with the
 * payload written into the hole it leaves. */
static void
env_packs_as_protobuf_c_does(void **state)
{
    static const uint64_t ids[] = { 0, 1, 127, 128, 300, UINT64_MAX };
    static const int enums[] = { 0, 1, 2, 17, -1 };
    static const char *const strs[] = { NULL, "", "Profiles.List" };
    static uint8_t big[200], want[1024], got[1024];
    size_t plens[] = { 0, 1, 5, sizeof big };
    int cases = 0;

    (void) state;
    for (size_t i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t) (i * 7);
    }
    for (unsigned mask = 0; mask < 128; mask++) {
        Fexsim__V1__Envelope pb = FEXSIM__V1__ENVELOPE__INIT;
        struct rpc_env e = { 0 };
        size_t n;
        uint8_t *hole;

        e.id = ids[mask % 6];
        e.kind = enums[(mask / 2) % 5];
        e.method = strs[mask % 3];
        e.payload_len = plens[(mask / 3) % 4];
        e.status = enums[(mask / 5) % 5];
        e.message = strs[(mask / 7) % 3];
        e.reason = mask & 64 ? "vmRunning" : NULL;
        pb.id = e.id;
        pb.kind = (Fexsim__V1__Kind) e.kind;
        pb.method = (char *) (e.method ? e.method : "");
        pb.payload = (ProtobufCBinaryData) { e.payload_len, big };
        pb.status = (Fexsim__V1__Status) e.status;
        pb.message = (char *) (e.message ? e.message : "");
        pb.reason = (char *) (e.reason ? e.reason : "");
        n = rpc_env_size(&e);
        assert_int_equal(n, fexsim__v1__envelope__get_packed_size(&pb));
        assert_int_equal(fexsim__v1__envelope__pack(&pb, want), n);
        hole = rpc_env_pack(&e, got);
        memcpy(hole, big, e.payload_len);
        assert_memory_equal(got, want, n);
        cases++;
    }
    assert_int_equal(cases, 128);
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
        cmocka_unit_test(env_packs_as_protobuf_c_does),
    };

    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
