/* Unit tests of MAC addresses as text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fx_mac.h"

static void
fx_mac_round_trips_lower_case(void **state)
{
    const uint8_t want[FX_MAC_LEN] = { 0x00, 0x25, 0xb5, 0x0a, 0xfb, 0x0c };
    uint8_t mac[FX_MAC_LEN];
    char buf[FX_MAC_STR_SIZE];

    (void) state;
    assert_int_equal(fx_mac_parse("00:25:B5:0a:fb:0c", mac), 0);
    assert_memory_equal(mac, want, sizeof want);
    fx_mac_format(mac, buf);
    assert_string_equal(buf, "00:25:b5:0a:fb:0c");
}

static void
fx_mac_refuses_short_long_and_trailing_text(void **state)
{
    uint8_t mac[FX_MAC_LEN];

    (void) state;
    assert_int_equal(fx_mac_parse("00:25:b5:0a:0b", mac), -EINVAL);
    assert_int_equal(fx_mac_parse("00:25:b5:0a:0b:0c:", mac), -EINVAL);
    assert_int_equal(fx_mac_parse("00:25:b5:0a:0b:0c0", mac), -EINVAL);
    assert_int_equal(fx_mac_parse("00-25-b5-0a-0b-0c", mac), -EINVAL);
    assert_int_equal(fx_mac_parse("", mac), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fx_mac_round_trips_lower_case),
        cmocka_unit_test(fx_mac_refuses_short_long_and_trailing_text),
    };

    return cmocka_run_group_tests_name("fx_mac", tests, NULL, NULL);
}
