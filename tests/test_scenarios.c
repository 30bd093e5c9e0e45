/* The scenario library, the files tests/scenarios/NAME.scn (docs/SCENARIOS.md), run by
 * `fexctl scenario run -j 2`: the seed's rules and the migration failure
 * cases, each in a lab of its own with the invariants checked after every
 * step.  Every scenario must pass; a failure is reported with its
 * FILE:LINE, its message and its logs, which are then kept. */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "harness.h"

static const char *
jstr(struct json_object *o, const char *key)
{
    const char *s = json_object_get_string(json_object_object_get(o, key));

    return s ? s : "";
}

/* Prints each scenario's result; returns how many failed. */
static int
report(struct json_object *doc)
{
    struct json_object *arr = json_object_object_get(doc, "scenarios");
    int failed = 0;

    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *r = json_object_array_get_idx(arr, i);
        int ok = !strcmp(jstr(r, "result"), "passed");

        if (ok) {
            print_message("passed  %-28s %6.2fs\n", jstr(r, "name"),
                          json_object_get_int(json_object_object_get(r,
                                                                     "ms"))
                          / 1000.0);
        } else {
            print_message("FAILED  %s:%d: %s\n  logs: %s\n",
                          jstr(r, "file"), json_object_get_int(
                              json_object_object_get(r, "line")),
                          jstr(r, "message"), jstr(r, "logs"));
        }
        failed += !ok;
    }
    return failed;
}

static void
every_scenario_of_the_library_passes(void **state)
{
    const char *src = getenv("FEXSIM_SCENARIOS");
    char pattern[4096], bin[4096], *argv[80], *out = NULL, *err = NULL;
    char *logs = th_mkdtemp("scenarios");
    struct json_object *doc;
    size_t n = 0;
    glob_t g;
    int rc, failed;

    (void) state;
    snprintf(pattern, sizeof pattern, "%s/*.scn",
             src ? src : "tests/scenarios");
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 8 && g.gl_pathc < 70);
    argv[n++] = (char *) th_bin(bin, sizeof bin, "fexctl");
    argv[n++] = "--json";
    argv[n++] = "scenario";
    argv[n++] = "run";
    argv[n++] = "-j";
    argv[n++] = "2";
    argv[n++] = "--logs";
    argv[n++] = logs;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        argv[n++] = g.gl_pathv[i];
    }
    argv[n] = NULL;
    rc = th_run(argv, &out, &err);
    doc = json_tokener_parse(out ? out : "");
    if (!doc) {
        fail_msg("no report (exit %d): %s", rc, err);
    }
    failed = report(doc);
    assert_int_equal(json_object_get_int(json_object_object_get(doc,
                                                                "passed")),
                     (int) g.gl_pathc - failed);
    assert_int_equal(failed, 0);
    assert_int_equal(rc, 0);
    json_object_put(doc);
    globfree(&g);
    free(out);
    free(err);
    th_rmrf(logs);
    free(logs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_scenario_of_the_library_passes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
