/* fexctl's contract: exit codes 0/1/2, one-line errors on stderr, --help
 * for every command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

/* Exactly one line, ending in a newline. */
static int
one_line(const char *s)
{
    const char *nl = strchr(s, '\n');

    return nl && nl[1] == '\0';
}

static void
cli_help_exits_zero_everywhere(void **state)
{
    const char *cmds[][2] = { { "lab", "up" }, { "lab", "down" },
                              { "host", "list" } };
    char *out = NULL;

    (void) state;
    assert_int_equal(th_fexctl(&out, NULL, "--help", NULL), 0);
    assert_non_null(strstr(out, "lab up"));
    assert_non_null(strstr(out, "host list"));
    free(out);
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        assert_int_equal(th_fexctl(&out, NULL, cmds[i][0], cmds[i][1],
                                   "--help", NULL), 0);
        assert_non_null(strstr(out, "Usage: fexctl"));
        free(out);
    }
}

static void
cli_usage_errors_exit_two_with_one_line(void **state)
{
    char *errs = NULL;

    (void) state;
    assert_int_equal(th_fexctl(NULL, &errs, "frobnicate", NULL), 2);
    assert_true(one_line(errs));
    assert_non_null(strstr(errs, "unknown command 'frobnicate'"));
    free(errs);
    assert_int_equal(th_fexctl(NULL, &errs, "host", "list", "--bogus",
                               NULL), 2);
    assert_true(one_line(errs));
    free(errs);
    assert_int_equal(th_fexctl(NULL, &errs, "lab", "up", "--hosts", "0",
                               "--dir", "/nonexistent/x", NULL), 2);
    assert_non_null(strstr(errs, "out of range 1-1024"));
    free(errs);
    assert_int_equal(th_fexctl(NULL, &errs, "lab", "up", "--hosts", "1025",
                               "--dir", "/nonexistent/x", NULL), 2);
    free(errs);
    assert_int_equal(th_fexctl(NULL, &errs, "lab", "up", "--hosts", "2",
                               NULL), 2);
    assert_non_null(strstr(errs, "--dir DIR"));
    free(errs);
    assert_int_equal(th_fexctl(NULL, &errs, "--fabric", "a:1", "--lab",
                               "x", "host", "list", NULL), 2);
    free(errs);
}

static void
cli_unreachable_fabric_fails_with_one_line(void **state)
{
    char *errs = NULL;

    (void) state;
    /* Port 1 on loopback: nothing listens there for an unprivileged
     * service, so the connection is refused. */
    assert_int_equal(th_fexctl(NULL, &errs, "--fabric", "127.0.0.1:1",
                               "host", "list", NULL), 1);
    assert_true(one_line(errs));
    assert_non_null(strstr(errs, "127.0.0.1:1"));
    free(errs);
    assert_int_equal(th_fexctl(NULL, &errs, "--fabric", "nowhere",
                               "host", "list", NULL), 1);
    assert_non_null(strstr(errs, "expected HOST:PORT"));
    free(errs);
    assert_int_equal(th_fexctl(NULL, &errs, "--lab", "/nonexistent",
                               "host", "list", NULL), 1);
    assert_non_null(strstr(errs, "no lab in '/nonexistent'"));
    free(errs);
    assert_int_equal(th_fexctl(NULL, &errs, "lab", "down", "--dir",
                               "/nonexistent", NULL), 1);
    free(errs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cli_help_exits_zero_everywhere),
        cmocka_unit_test(cli_usage_errors_exit_two_with_one_line),
        cmocka_unit_test(cli_unreachable_fabric_fails_with_one_line),
    };

    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
