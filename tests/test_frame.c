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
#include "rpc_arena.h"
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

/* Whether the Envelope rpc_env_unpack() read from 'buf' is the one
 * protobuf-c reads. */
static void
env_assert_as_protobuf_c(const uint8_t *buf, size_t len,
                         const Fexsim__V1__Envelope *got)
{
    Fexsim__V1__Envelope *want = fexsim__v1__envelope__unpack(NULL, len, buf);

    assert_non_null(want);
    assert_true(got->id == want->id);
    assert_int_equal(got->kind, want->kind);
    assert_int_equal(got->status, want->status);
    assert_string_equal(got->method, want->method);
    assert_string_equal(got->message, want->message);
    assert_string_equal(got->reason, want->reason);
    assert_int_equal(got->payload.len, want->payload.len);
    if (got->payload.len) {
        assert_memory_equal(got->payload.data, want->payload.data,
                            got->payload.len);
    }
    fexsim__v1__envelope__free_unpacked(want, NULL);
}

/* rpc_env_unpack() reads what protobuf-c packs, field for field, and
 * declines (0) what holds anything else: an unknown field, a field
 * twice, a wrong wire type, bytes cut short.  On random bytes, whatever
 * it takes protobuf-c takes too, with the same fields. */
static void
env_unpacks_as_protobuf_c_does(void **state)
{
    struct rpc_arena arena;
    ProtobufCAllocator *a = &arena.pb;
    static const uint8_t odd[][8] = {
        { 0x40, 0x01 },                  /* Field 8, unknown. */
        { 0x08, 0x01, 0x08, 0x02 },      /* id twice. */
        { 0x0a, 0x00 },                  /* id with a length. */
        { 0x1a, 0x05, 'a' },             /* method cut short. */
        { 0x18, 0x01 },                  /* method as a varint. */
        { 0x08, 0xff },                  /* id cut short. */
    };
    static const size_t odd_len[] = { 2, 4, 2, 3, 2, 2 };
    uint8_t buf[512], pl[3] = { 1, 2, 3 };
    uint32_t seed = 12345;
    int taken = 0;

    (void) state;
    /* Small, so that big fields take the arena's other path. */
    rpc_arena_init(&arena, 64);
    for (unsigned mask = 0; mask < 64; mask++) {
        Fexsim__V1__Envelope pb = FEXSIM__V1__ENVELOPE__INIT, got;
        size_t n;

        pb.id = mask & 1 ? 300 : 0;
        pb.kind = (Fexsim__V1__Kind) (mask & 2 ? 1 : 0);
        pb.method = (char *) (mask & 4 ? "Profiles.List" : "");
        pb.payload = (ProtobufCBinaryData) { mask & 8 ? 3 : 0, pl };
        pb.status = (Fexsim__V1__Status) (mask & 16 ? -1 : 0);
        pb.message = (char *) (mask & 32 ? "no such VM" : "");
        pb.reason = (char *) (mask & 1 ? "vmRunning" : "");
        n = fexsim__v1__envelope__pack(&pb, buf);
        assert_int_equal(rpc_env_unpack(buf, n, a, &got), 1);
        env_assert_as_protobuf_c(buf, n, &got);
    }
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        Fexsim__V1__Envelope got;

        assert_int_equal(rpc_env_unpack(odd[i], odd_len[i], a, &got), 0);
    }
    for (int i = 0; i < 20000; i++) {
        Fexsim__V1__Envelope got;
        size_t n = 0;

        /* Fields of our numbers and others, mostly with their wire
         * types, sometimes twice, sometimes cut short. */
        for (int f = 0; f < 1 + i % 5; f++) {
            unsigned field, wire, vlen;

            seed = seed * 1103515245u + 12345u;
            field = (seed >> 8) % 9;
            wire = (seed >> 12) % 8 < 6 ? ((field == 1 || field == 2
                                            || field == 5) ? 0 : 2)
                                        : (seed >> 16) % 8;
            vlen = (seed >> 20) % 5;
            buf[n++] = (uint8_t) (field << 3 | wire);
            if (wire == 2) {
                buf[n++] = (uint8_t) ((seed >> 24) % 8 ? vlen : 0xff);
                for (unsigned k = 0; k < vlen; k++) {
                    buf[n++] = (uint8_t) ('a' + k);
                }
            } else {
                buf[n++] = (uint8_t) ((seed >> 24) % 4 ? 0x05 : 0xff);
                if ((seed >> 26) % 2) {
                    buf[n++] = 0x7f;
                }
            }
        }
        if (i % 7 == 0 && n > 1) {
            n--;                        /* Cut short. */
        }
        if (rpc_env_unpack(buf, n, a, &got)) {
            env_assert_as_protobuf_c(buf, n, &got);
            taken++;
        }
    }
    assert_true(taken > 100);
    rpc_arena_fini(&arena);
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
        cmocka_unit_test(env_unpacks_as_protobuf_c_does),
    };

    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
