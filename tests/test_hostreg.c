/* Unit tests of the host registry, with time driven by hand. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fx_err.h"
#include "model/hostreg.h"

#define TIMEOUT 3000

static int s1, s2;      /* Two distinct sessions: only their addresses. */

static struct host_info
info(const char *name, const char *addr)
{
    struct host_info i;

    memset(&i, 0, sizeof i);
    snprintf(i.name, sizeof i.name, "%s", name);
    snprintf(i.rpc_addr, sizeof i.rpc_addr, "%s", addr);
    i.vnics_total = 128;
    i.vnics_free = 128;
    return i;
}

static int
setup(void **state)
{
    *state = hostreg_create(TIMEOUT);
    return 0;
}

static int
teardown(void **state)
{
    hostreg_destroy(*state);
    return 0;
}

static void
hostreg_registers_new_host_up(void **state)
{
    struct hostreg *reg = *state;
    struct host_info i = info("h1", "127.0.0.1:1");
    struct host *h;

    assert_int_equal(hostreg_register(reg, &i, &s1, 100, &h, NULL), 0);
    assert_int_equal(h->state, HOST_UP);
    assert_ptr_equal(hostreg_find(reg, "h1"), h);
    assert_int_equal(hostreg_count(reg), 1);
}

static void
hostreg_refuses_live_name_from_another_session(void **state)
{
    struct hostreg *reg = *state;
    struct host_info a = info("h1", "127.0.0.1:1");
    struct host_info b = info("h1", "127.0.0.1:2");
    struct fx_err err;

    assert_int_equal(hostreg_register(reg, &a, &s1, 0, NULL, NULL), 0);
    assert_int_equal(hostreg_register(reg, &b, &s2, 10, NULL, &err),
                     -EEXIST);
    assert_string_equal(err.msg, "host 'h1' is already registered by a "
                        "live agent at 127.0.0.1:1");
    assert_string_equal(hostreg_find(reg, "h1")->info.rpc_addr,
                        "127.0.0.1:1");
}

static void
hostreg_rejects_bad_names(void **state)
{
    struct hostreg *reg = *state;
    struct host_info a = info("", "x");
    struct host_info b = info("bad name", "x");
    struct host_info c = info("a23456789012345678901234567890123456789",
                              "x");   /* 39 characters: the limit. */

    assert_int_equal(hostreg_register(reg, &a, &s1, 0, NULL, NULL), -EINVAL);
    assert_int_equal(hostreg_register(reg, &b, &s1, 0, NULL, NULL), -EINVAL);
    assert_int_equal(hostreg_register(reg, &c, &s1, 0, NULL, NULL), 0);
}

static void
hostreg_expires_silent_host_and_not_before(void **state)
{
    struct hostreg *reg = *state;
    struct host_info a = info("h1", "127.0.0.1:1");
    struct host *h;

    hostreg_register(reg, &a, &s1, 1000, &h, NULL);
    assert_int_equal(hostreg_heartbeat(reg, "h1", &s1, 2000, NULL), 0);
    assert_int_equal(hostreg_expire(reg, 2000 + TIMEOUT, NULL, NULL), 0);
    assert_int_equal(h->state, HOST_UP);
    assert_int_equal(hostreg_expire(reg, 2001 + TIMEOUT, NULL, NULL), 1);
    assert_int_equal(h->state, HOST_DOWN);
    assert_string_equal(h->down_reason, "missed heartbeats");
}

static void
hostreg_down_host_must_register_again(void **state)
{
    struct hostreg *reg = *state;
    struct host_info a = info("h1", "127.0.0.1:1");
    struct host *h;

    hostreg_register(reg, &a, &s1, 0, &h, NULL);
    hostreg_expire(reg, TIMEOUT + 1, NULL, NULL);
    assert_int_equal(hostreg_heartbeat(reg, "h1", &s1, TIMEOUT + 2, NULL),
                     -ESTALE);
    assert_int_equal(hostreg_register(reg, &a, &s1, TIMEOUT + 3, NULL,
                                      NULL), 0);
    assert_int_equal(h->state, HOST_UP);
    assert_string_equal(h->down_reason, "");
    assert_int_equal(hostreg_count(reg), 1);
}

static void
hostreg_session_loss_downs_host_and_frees_name(void **state)
{
    struct hostreg *reg = *state;
    struct host_info a = info("h1", "127.0.0.1:1");
    struct host_info b = info("h1", "127.0.0.1:2");
    struct host *h;

    hostreg_register(reg, &a, &s1, 0, &h, NULL);
    assert_ptr_equal(hostreg_session_lost(reg, &s1, "connection lost"), h);
    assert_int_equal(h->state, HOST_DOWN);
    assert_null(hostreg_session_lost(reg, &s1, "again"));
    /* A restarted agent takes the name over from a new session. */
    assert_int_equal(hostreg_register(reg, &b, &s2, 5, NULL, NULL), 0);
    assert_string_equal(h->info.rpc_addr, "127.0.0.1:2");
    assert_int_equal(hostreg_heartbeat(reg, "h1", &s1, 6, NULL), -ESTALE);
    assert_int_equal(hostreg_heartbeat(reg, "h1", &s2, 6, NULL), 0);
}

static void
hostreg_heartbeat_of_unknown_host_is_not_found(void **state)
{
    struct fx_err err;

    assert_int_equal(hostreg_heartbeat(*state, "ghost", &s1, 0, &err),
                     -ENOENT);
    assert_string_equal(err.msg, "host 'ghost' is not registered");
}

static void
expire_counter(struct host *h, void *arg)
{
    (void) h;
    ++*(int *) arg;
}

static void
hostreg_expire_reports_each_host_once(void **state)
{
    struct hostreg *reg = *state;
    struct host_info a = info("h1", "a"), b = info("h2", "b");
    int calls = 0;

    hostreg_register(reg, &a, &s1, 0, NULL, NULL);
    hostreg_register(reg, &b, &s2, 0, NULL, NULL);
    assert_int_equal(hostreg_expire(reg, TIMEOUT + 1, expire_counter,
                                    &calls), 2);
    assert_int_equal(hostreg_expire(reg, TIMEOUT + 9, expire_counter,
                                    &calls), 0);
    assert_int_equal(calls, 2);
}

/* The table takes HOSTREG_MAX_HOSTS (FX_LIMITS_MAX_HOSTS, 1024) hosts,
 * the data plane's uplinks: the next new name is refused with -ENOSPC
 * and a clear message, and changes nothing; a known name still comes
 * back; a store holding more is refused too. */
static void
hostreg_refuses_the_host_beyond_the_limit(void **state)
{
    static char sessions[HOSTREG_MAX_HOSTS + 1];
    struct hostreg *reg = *state, *restored = hostreg_create(TIMEOUT);
    struct host_info i;
    struct fx_err err;
    char name[16];

    assert_int_equal(HOSTREG_MAX_HOSTS, 1024);
    for (int k = 0; k < HOSTREG_MAX_HOSTS; k++) {
        snprintf(name, sizeof name, "h%d", k + 1);
        i = info(name, "a");
        assert_int_equal(hostreg_register(reg, &i, &sessions[k], 0, NULL,
                                          NULL), 0);
        assert_int_equal(hostreg_restore(restored, &i, "restored", NULL),
                         0);
    }
    i = info("h1025", "a");
    assert_int_equal(hostreg_check(reg, &i, &sessions[HOSTREG_MAX_HOSTS],
                                   &err), -ENOSPC);
    assert_int_equal(hostreg_register(reg, &i, &sessions[HOSTREG_MAX_HOSTS],
                                      0, NULL, &err), -ENOSPC);
    assert_string_equal(err.msg, "host 'h1025' refused: the fabric has 1024 "
                        "hosts, the most it takes");
    assert_int_equal(hostreg_count(reg), HOSTREG_MAX_HOSTS);
    assert_null(hostreg_find(reg, "h1025"));
    assert_int_equal(hostreg_restore(restored, &i, "restored", &err),
                     -ENOSPC);
    /* A known host, down, registers again at the limit. */
    assert_non_null(hostreg_session_lost(reg, &sessions[7], "gone"));
    i = info("h8", "a");
    assert_int_equal(hostreg_register(reg, &i, &sessions[HOSTREG_MAX_HOSTS],
                                      1, NULL, NULL), 0);
    assert_int_equal(hostreg_find(reg, "h8")->state, HOST_UP);
    hostreg_destroy(restored);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(hostreg_registers_new_host_up),
        T(hostreg_refuses_live_name_from_another_session),
        T(hostreg_rejects_bad_names),
        T(hostreg_expires_silent_host_and_not_before),
        T(hostreg_down_host_must_register_again),
        T(hostreg_session_loss_downs_host_and_frees_name),
        T(hostreg_heartbeat_of_unknown_host_is_not_found),
        T(hostreg_expire_reports_each_host_once),
        T(hostreg_refuses_the_host_beyond_the_limit),
    };

    return cmocka_run_group_tests_name("hostreg", tests, NULL, NULL);
}
