/* Unit tests of the VIC adapter model: the vNIC pool, the rings, and the
 * byte-for-byte checkpoint/restore migration depends on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fx_err.h"
#include "vic.h"

static const struct vic_vnic_cfg cfg1 = {
    .mac = { 0x00, 0x25, 0xb5, 0x00, 0x00, 0x01 }, .vlan = 100,
    .mtu = 9000, .offload_flags = VIC_OFFLOAD_TSO | VIC_OFFLOAD_TX_CSUM,
};

static int
setup(void **state)
{
    *state = vic_create("M81KR", 4, NULL);
    return *state ? 0 : -1;
}

static int
teardown(void **state)
{
    vic_destroy(*state);
    return 0;
}

static uint32_t
bound_vnic(struct vic *vic)
{
    uint32_t idx;

    assert_int_equal(vic_vnic_reserve(vic, &idx, NULL), 0);
    assert_int_equal(vic_vnic_bind(vic, idx, &cfg1, NULL), 0);
    return idx;
}

static void
vic_refuses_zero_and_oversized_pools(void **state)
{
    struct fx_err err;

    (void) state;
    assert_null(vic_create("M81KR", 0, &err));
    assert_int_equal(err.code, -EINVAL);
    assert_null(vic_create("M81KR", 4097, &err));
    struct vic *vic = vic_create("M81KR", 128, &err);
    assert_non_null(vic);
    assert_int_equal(vic_free_count(vic), 128);
    vic_destroy(vic);
    vic_destroy(NULL);
}

static void
vic_pool_exhausts_at_its_size_and_refills(void **state)
{
    struct vic *vic = *state;
    struct fx_err err;
    uint32_t idx;

    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(vic_vnic_reserve(vic, &idx, &err), 0);
        assert_int_equal(idx, i);
    }
    assert_int_equal(vic_free_count(vic), 0);
    assert_int_equal(vic_vnic_reserve(vic, &idx, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "no free dynamic vNIC"));
    assert_int_equal(vic_vnic_release(vic, 2, &err), 0);
    assert_int_equal(vic_free_count(vic), 1);
    assert_int_equal(vic_vnic_reserve(vic, &idx, &err), 0);
    assert_int_equal(idx, 2);
    assert_int_equal(vic_vnic_release(vic, 4, &err), -EINVAL);
}

static void
vic_bind_validates_config_and_state(void **state)
{
    struct vic *vic = *state;
    struct vic_vnic_cfg bad = cfg1;
    struct fx_err err;
    uint32_t idx;

    assert_int_equal(vic_vnic_bind(vic, 0, &cfg1, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "free"));
    assert_int_equal(vic_vnic_reserve(vic, &idx, NULL), 0);
    bad.vlan = 4095;
    assert_int_equal(vic_vnic_bind(vic, idx, &bad, &err), -EINVAL);
    bad.vlan = 4094;
    memset(bad.mac, 0, sizeof bad.mac);
    assert_int_equal(vic_vnic_bind(vic, idx, &bad, &err), -EINVAL);
    bad = cfg1;
    bad.vlan = 4094;
    assert_int_equal(vic_vnic_bind(vic, idx, &bad, &err), 0);
}

static void
vic_rings_are_bounded_fifo(void **state)
{
    struct vic *vic = *state;
    uint32_t idx = bound_vnic(vic);
    struct vic_vnic_info info;
    struct fx_err err;
    uint8_t buf[64];
    size_t len;

    for (uint32_t i = 0; i < VIC_RING_SIZE; i++) {
        memset(buf, (int) i, sizeof buf);
        assert_int_equal(vic_vnic_rx_push(vic, idx, buf, 60, &err), 0);
    }
    assert_int_equal(vic_vnic_rx_push(vic, idx, buf, 60, &err), -ENOBUFS);
    assert_int_equal(vic_vnic_rx_pop(vic, idx, buf, sizeof buf, &len, &err),
                     0);
    assert_int_equal(len, 60);
    assert_int_equal(buf[0], 0);
    assert_int_equal(vic_vnic_info(vic, idx, &info, NULL), 0);
    assert_int_equal(info.rx_packets, VIC_RING_SIZE);
    assert_int_equal(info.rx_dropped, 1);
    assert_int_equal(info.rx_pending, VIC_RING_SIZE - 1);
    assert_int_equal(vic_vnic_tx_push(vic, idx, "abc", 3, &err), 0);
    assert_int_equal(vic_vnic_tx_pop(vic, idx, buf, sizeof buf, &len, &err),
                     0);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(vic_vnic_tx_pop(vic, idx, buf, sizeof buf, &len, &err),
                     -EAGAIN);
}

static void
vic_refuses_frames_above_mtu(void **state)
{
    struct vic *vic = *state;
    uint32_t idx = bound_vnic(vic);
    static uint8_t big[9100];
    struct fx_err err;

    assert_int_equal(vic_vnic_rx_push(vic, idx, big, 9000 + 22, &err), 0);
    assert_int_equal(vic_vnic_rx_push(vic, idx, big, 9000 + 23, &err),
                     -EMSGSIZE);
}

static void
vic_quiesce_stops_tx_and_drops_rx(void **state)
{
    struct vic *vic = *state;
    uint32_t idx = bound_vnic(vic);
    struct vic_vnic_info info;
    struct fx_err err;

    assert_int_equal(vic_vnic_rx_push(vic, idx, "hello", 5, &err), 0);
    assert_int_equal(vic_vnic_quiesce(vic, idx, &err), 0);
    assert_int_equal(vic_vnic_tx_push(vic, idx, "x", 1, &err), -EBUSY);
    assert_int_equal(vic_vnic_rx_push(vic, idx, "x", 1, &err), -ENETDOWN);
    assert_int_equal(vic_vnic_quiesce(vic, idx, &err), -EBUSY);
    assert_int_equal(vic_vnic_info(vic, idx, &info, NULL), 0);
    assert_int_equal(info.state, VIC_VNIC_QUIESCED);
    assert_int_equal(info.rx_pending, 1);
    assert_int_equal(info.rx_dropped, 1);
    assert_int_equal(vic_vnic_resume(vic, idx, &err), 0);
    assert_int_equal(vic_vnic_tx_push(vic, idx, "x", 1, &err), 0);
    assert_int_equal(vic_vnic_unbind(vic, idx, &err), 0);
    assert_int_equal(vic_vnic_info(vic, idx, &info, NULL), 0);
    assert_int_equal(info.state, VIC_VNIC_RESERVED);
    assert_int_equal(info.tx_pending, 0);
    assert_int_equal(vic_vnic_unbind(vic, idx, &err), -EBUSY);
    assert_int_equal(vic_free_count(vic), 3);
}

/* Fills a vNIC with state in every field the message carries, with rings
 * that have wrapped, so the round trip covers all of it. */
static uint32_t
busy_quiesced_vnic(struct vic *vic)
{
    uint32_t idx = bound_vnic(vic);
    uint8_t buf[VIC_FRAME_MAX];
    size_t len;

    for (uint32_t i = 0; i < VIC_RING_SIZE + 10; i++) {
        memset(buf, (int) i, 100 + i);
        assert_int_equal(vic_vnic_rx_push(vic, idx, buf, 100 + i, NULL), 0);
        assert_int_equal(vic_vnic_rx_pop(vic, idx, buf, sizeof buf, &len,
                                         NULL), 0);
        assert_int_equal(vic_vnic_tx_push(vic, idx, buf, 64, NULL), 0);
        if (i % 3) {
            assert_int_equal(vic_vnic_tx_pop(vic, idx, buf, sizeof buf, &len,
                                             NULL), 0);
        }
    }
    assert_int_equal(vic_vnic_rx_push(vic, idx, "pending", 7, NULL), 0);
    assert_int_equal(vic_vnic_set_intr_mask(vic, idx, 0x5, NULL), 0);
    assert_int_equal(vic_vnic_quiesce(vic, idx, NULL), 0);
    return idx;
}

static void
vic_checkpoint_restores_byte_for_byte(void **state)
{
    struct vic *src = *state;
    struct vic *dst = vic_create("M81KR", 4, NULL);
    uint32_t s = busy_quiesced_vnic(src), d;
    struct vic_vnic_info a, b;
    uint8_t *buf, *buf2, frame[16];
    size_t size, size2, len;

    assert_int_equal(vic_checkpoint(src, s, &buf, &size, NULL), 0);
    assert_int_equal(vic_vnic_reserve(dst, &d, NULL), 0);
    assert_int_equal(vic_restore(dst, d, buf, size, NULL), 0);
    assert_int_equal(vic_checkpoint(dst, d, &buf2, &size2, NULL), 0);
    assert_int_equal(size2, size);
    assert_memory_equal(buf2, buf, size);
    assert_int_equal(vic_vnic_info(src, s, &a, NULL), 0);
    assert_int_equal(vic_vnic_info(dst, d, &b, NULL), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(vic_vnic_resume(dst, d, NULL), 0);
    assert_int_equal(vic_vnic_rx_pop(dst, d, frame, sizeof frame, &len,
                                     NULL), 0);
    assert_memory_equal(frame, "pending", 7);
    free(buf);
    free(buf2);
    vic_destroy(dst);
}

static void
vic_checkpoint_needs_quiesced_and_restore_needs_reserved(void **state)
{
    struct vic *vic = *state;
    uint32_t idx = bound_vnic(vic);
    struct fx_err err;
    uint8_t *buf;
    size_t size;

    assert_int_equal(vic_checkpoint(vic, idx, &buf, &size, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "bound"));
    assert_int_equal(vic_vnic_quiesce(vic, idx, NULL), 0);
    assert_int_equal(vic_checkpoint(vic, idx, &buf, &size, NULL), 0);
    assert_int_equal(vic_restore(vic, idx, buf, size, &err), -EBUSY);
    free(buf);
}

static void
vic_restore_rejects_garbage_and_leaves_vnic_reserved(void **state)
{
    struct vic *vic = *state;
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
    struct vic_vnic_info info;
    struct fx_err err;
    uint32_t idx;

    assert_int_equal(vic_vnic_reserve(vic, &idx, NULL), 0);
    assert_int_equal(vic_restore(vic, idx, junk, sizeof junk, &err),
                     -EBADMSG);
    /* An empty message parses but has no MAC: refused too. */
    assert_int_equal(vic_restore(vic, idx, junk, 0, &err), -EBADMSG);
    assert_int_equal(vic_vnic_info(vic, idx, &info, NULL), 0);
    assert_int_equal(info.state, VIC_VNIC_RESERVED);
}

/* The rings hold what they were given, an empty frame too: it is
 * checkpointed and restored like any other (a restore copied it from the
 * NULL that protobuf-c gives empty bytes, which UBSan refuses). */
static void
vic_restores_an_empty_frame(void **state)
{
    struct vic *vic = *state;
    uint32_t s = bound_vnic(vic), d;
    uint8_t *buf, frame[16];
    size_t size, len = 1;

    assert_int_equal(vic_vnic_rx_push(vic, s, NULL, 0, NULL), 0);
    assert_int_equal(vic_vnic_quiesce(vic, s, NULL), 0);
    assert_int_equal(vic_checkpoint(vic, s, &buf, &size, NULL), 0);
    assert_int_equal(vic_vnic_reserve(vic, &d, NULL), 0);
    assert_int_equal(vic_restore(vic, d, buf, size, NULL), 0);
    assert_int_equal(vic_vnic_resume(vic, d, NULL), 0);
    assert_int_equal(vic_vnic_rx_pop(vic, d, frame, sizeof frame, &len,
                                     NULL), 0);
    assert_int_equal(len, 0);
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vic_refuses_zero_and_oversized_pools),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(vic_pool_exhausts_at_its_size_and_refills),
        T(vic_bind_validates_config_and_state),
        T(vic_rings_are_bounded_fifo),
        T(vic_refuses_frames_above_mtu),
        T(vic_quiesce_stops_tx_and_drops_rx),
        T(vic_checkpoint_restores_byte_for_byte),
        T(vic_checkpoint_needs_quiesced_and_restore_needs_reserved),
        T(vic_restore_rejects_garbage_and_leaves_vnic_reserved),
        T(vic_restores_an_empty_frame),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
