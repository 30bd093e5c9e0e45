/* Unit tests of pbenum: the API's enums as words, both ways, for every
 * enum fexctl and the docs say by word. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "events.pb-c.h"
#include "fabric.pb-c.h"
#include "fx_err.h"
#include "migflow.pb-c.h"
#include "pbenum.h"
#include "vmfex.pb-c.h"

#define HIGH_PERF FEXSIM__V1__VIF_MODE__VIF_MODE_HIGH_PERFORMANCE

static void
pbenum_words_are_the_names_without_their_prefix(void **state)
{
    char buf[32];

    (void) state;
    assert_string_equal(pbenum_word(&fexsim__v1__vif_mode__descriptor,
                                    HIGH_PERF, buf, sizeof buf),
                        "high-performance");
    assert_string_equal(pbenum_word(&fexsim__v1__operation__descriptor,
                                    FEXSIM__V1__OPERATION__OPERATION_HOT_ADD,
                                    buf, sizeof buf), "hot-add");
    assert_string_equal(pbenum_word(
        &fexsim__v1__migration_state__descriptor,
        FEXSIM__V1__MIGRATION_STATE__MIGRATION_STATE_COMPLETED, buf,
        sizeof buf), "completed");
    assert_string_equal(pbenum_word(&fexsim__v1__flavor__descriptor,
                                    FEXSIM__V1__FLAVOR__FLAVOR_VMWARE, buf,
                                    sizeof buf), "vmware");
    /* EventType shortens its prefix: the shared one is "EVENT_". */
    assert_string_equal(pbenum_word(&fexsim__v1__event_type__descriptor,
                                    FEXSIM__V1__EVENT_TYPE__EVENT_HOST_UP,
                                    buf, sizeof buf), "host-up");
    /* A value this side does not know (a newer peer's): no word. */
    assert_string_equal(pbenum_word(&fexsim__v1__vif_mode__descriptor, 99,
                                    buf, sizeof buf), "");
    /* Cut to the buffer, never past it. */
    assert_string_equal(pbenum_word(&fexsim__v1__vif_mode__descriptor,
                                    HIGH_PERF, buf, 5), "high");
}

/* Every non-zero value of each enum parses back from its word. */
static void
pbenum_every_word_parses_back(void **state)
{
    const ProtobufCEnumDescriptor *const enums[] = {
        &fexsim__v1__vif_mode__descriptor,
        &fexsim__v1__operation__descriptor,
        &fexsim__v1__migration_state__descriptor,
        &fexsim__v1__migration_phase__descriptor,
        &fexsim__v1__flavor__descriptor,
        &fexsim__v1__event_type__descriptor,
    };

    (void) state;
    for (size_t e = 0; e < sizeof enums / sizeof *enums; e++) {
        const ProtobufCEnumDescriptor *d = enums[e];

        for (unsigned i = 0; i < d->n_values; i++) {
            char buf[32];
            int v = -1;

            if (d->values[i].value == 0) {
                continue;
            }
            pbenum_word(d, d->values[i].value, buf, sizeof buf);
            assert_int_equal(pbenum_parse(d, buf, &v, NULL), 0);
            assert_int_equal(v, d->values[i].value);
        }
    }
}

static void
pbenum_an_unknown_word_lists_the_words(void **state)
{
    struct fx_err err;
    int v = 0;

    (void) state;
    assert_int_equal(pbenum_parse(&fexsim__v1__operation__descriptor,
                                  "vmotion", &v, &err), -EINVAL);
    assert_string_equal(err.msg, "unknown operation 'vmotion': use migrate, "
                        "hot-add, hot-remove, record, ft, ha, snapshot");
    /* The zero value is no word. */
    assert_int_equal(pbenum_parse(&fexsim__v1__operation__descriptor,
                                  "unspecified", &v, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "unknown operation"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pbenum_words_are_the_names_without_their_prefix),
        cmocka_unit_test(pbenum_every_word_parses_back),
        cmocka_unit_test(pbenum_an_unknown_word_lists_the_words),
    };

    return cmocka_run_group_tests_name("pbenum", tests, NULL, NULL);
}
