/* Unit tests of lib/fx_file and lib/fx_name: the atomic, durable file write agents keep
 * their state with, and object names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fx_err.h"
#include "fx_fault.h"
#include "fx_file.h"
#include "fx_name.h"
#include "harness.h"

static char *
slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
write_atomic_replaces_the_file_and_leaves_no_temp(void **state)
{
    char *dir = th_mkdtemp("util"), path[4096], tmp[4200];
    struct fx_err err;

    (void) state;
    snprintf(path, sizeof path, "%s/state", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid());
    assert_int_equal(fx_file_write_atomic(path, "first\n", &err), 0);
    assert_string_equal(slurp(path), "first\n");
    assert_int_equal(fx_file_write_atomic(path, "second\n", &err), 0);
    assert_string_equal(slurp(path), "second\n");
    assert_int_equal(access(tmp, F_OK), -1);
    th_rmrf(dir);
    free(dir);
}

static void
write_atomic_names_the_path_it_cannot_write(void **state)
{
    char *dir = th_mkdtemp("util"), path[4096];
    struct fx_err err;

    (void) state;
    snprintf(path, sizeof path, "%s/no-such-dir/state", dir);
    assert_int_equal(fx_file_write_atomic(path, "x", &err), -ENOENT);
    assert_non_null(strstr(err.msg, "no-such-dir/state.tmp"));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    th_rmrf(dir);
    free(dir);
}

/* A bare file name lives in the current directory, which is synced. */
static void
write_atomic_takes_a_bare_name(void **state)
{
    char *dir = th_mkdtemp("util"), cwd[4096];
    struct fx_err err;

    (void) state;
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(fx_file_write_atomic("bare", "y\n", &err), 0);
    assert_string_equal(slurp("bare"), "y\n");
    assert_int_equal(chdir(cwd), 0);
    th_rmrf(dir);
    free(dir);
}

static void
names_are_1_to_39_safe_characters(void **state)
{
    char name[41];

    (void) state;
    memset(name, 'a', 39);
    name[39] = '\0';
    assert_true(fx_name_valid(name));
    name[39] = 'a';
    name[40] = '\0';
    assert_false(fx_name_valid(name));
    assert_false(fx_name_valid(""));
    assert_true(fx_name_valid("vm-1.a_B"));
    assert_false(fx_name_valid("vm/1"));
    assert_false(fx_name_valid("vm 1"));
}

/* A daemon arms only the faults it can reach: one it never reaches is
 * refused, not accepted and then silently never fired. */
static void
faults_are_refused_where_they_cannot_fire(void **state)
{
    static const char agent[] = "crash@prepare crash@perform fail@resume";
    struct fx_err err;

    (void) state;
    assert_int_equal(fx_fault_parse("crash@prepare:3", agent, &err), 0);
    assert_int_equal(fx_fault_parse("fail@resume", agent, &err), 0);
    assert_int_equal(fx_fault_parse("crash@begin", agent, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "one of crash@prepare"));
    assert_non_null(strstr(err.msg, "not 'crash@begin'"));
    assert_int_equal(fx_fault_parse("nospace@/tmp/x", agent, &err),
                     -EINVAL);
    assert_int_equal(fx_fault_parse("crash@prep", agent, &err), -EINVAL);
    assert_int_equal(fx_fault_parse("crash@prepare:0", agent, &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "N is a count"));
    assert_int_equal(fx_fault_parse("crash@prepare:x", agent, &err),
                     -EINVAL);
    assert_int_equal(fx_fault_parse("nospace@", "nospace", &err), -EINVAL);
    assert_int_equal(fx_fault_parse("", agent, &err), -EINVAL);
}

/* fail@STEP:N fails the Nth time only: the daemon lives on, and the
 * migrations after it must work (found by a scenario: every later
 * incoming migration failed too). */
static void
a_fail_fault_fires_on_its_nth_hit_only(void **state)
{
    struct fx_err err;

    (void) state;
    assert_int_equal(fx_fault_parse("fail@resume:2", "fail@resume", &err),
                     0);
    assert_false(fx_fault_fail("resume"));
    assert_true(fx_fault_fail("resume"));
    assert_false(fx_fault_fail("resume"));
    assert_false(fx_fault_fail("resume"));
    assert_int_equal(fx_fault_parse("fail@resume", "fail@resume", &err), 0);
    assert_false(fx_fault_fail("prepare"));
    assert_true(fx_fault_fail("resume"));
    assert_false(fx_fault_fail("resume"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_atomic_replaces_the_file_and_leaves_no_temp),
        cmocka_unit_test(write_atomic_names_the_path_it_cannot_write),
        cmocka_unit_test(write_atomic_takes_a_bare_name),
        cmocka_unit_test(names_are_1_to_39_safe_characters),
        cmocka_unit_test(faults_are_refused_where_they_cannot_fire),
        cmocka_unit_test(a_fail_fault_fires_on_its_nth_hit_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
