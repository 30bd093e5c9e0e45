/* Tests of seeded chaos (fexctl scenario chaos, cli/scenario/scnchaos):
 * the same seed gives the same storm, another seed another; shrinking
 * keeps exactly the blocks a failure needs; a fixed seed runs clean; and
 * a planted leak (agentd --fault fail@release) is found and shrunk to a
 * scenario of a few steps that fails again when replayed. */
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
#include "harness.h"
#include "scenario/scnchaos.h"

static char *
storm_text(uint64_t seed, unsigned steps)
{
    struct scnchaos_params p = { seed, 3, 4, steps, NULL };
    struct scnchaos_storm s;
    struct fx_err err;
    char *text;

    assert_int_equal(scnchaos_generate(&p, &s, &err), 0);
    text = scnchaos_text(&s, NULL);
    scnchaos_storm_free(&s);
    return text;
}

static void
the_same_seed_gives_the_same_storm(void **state)
{
    char *a = storm_text(42, 50), *b = storm_text(42, 50);
    char *c = storm_text(43, 50);

    (void) state;
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    /* Every kind of block shows up in a storm this long. */
    assert_non_null(strstr(a, "try migrate "));
    assert_non_null(strstr(a, " at "));
    assert_non_null(strstr(a, "try vm stop "));
    free(a);
    free(b);
    free(c);
}

/* A failure that needs two given blocks, whatever else is there. */
struct needs {
    const char *a, *b;
    unsigned runs;
};

static int
fails_with_both(void *arg, const char *text)
{
    struct needs *n = arg;

    n->runs++;
    return strstr(text, n->a) && strstr(text, n->b);
}

static void
shrinking_keeps_what_the_failure_needs(void **state)
{
    struct scnchaos_params p = { 7, 2, 2, 40, NULL };
    struct scnchaos_storm s;
    struct needs n = { 0 };
    struct fx_err err;
    unsigned char *keep;
    size_t kept = 0;
    unsigned runs;

    (void) state;
    assert_int_equal(scnchaos_generate(&p, &s, &err), 0);
    n.a = s.blocks[3];
    n.b = s.blocks[s.n_blocks - 2];
    assert_string_not_equal(n.a, n.b);
    keep = malloc(s.n_blocks);
    memset(keep, 1, s.n_blocks);
    runs = scnchaos_shrink(&s, keep, fails_with_both, &n);
    assert_int_equal(runs, n.runs);
    for (size_t i = 0; i < s.n_blocks; i++) {
        kept += keep[i];
        /* A block equal to a needed one may stand in for it. */
        if (keep[i]) {
            assert_true(!strcmp(s.blocks[i], n.a)
                        || !strcmp(s.blocks[i], n.b));
        }
    }
    assert_int_equal(kept, 2);
    print_message("%zu blocks shrunk to 2 in %u runs\n", s.n_blocks, runs);
    free(keep);
    scnchaos_storm_free(&s);
}

static void
a_fixed_seed_runs_without_violation(void **state)
{
    char *logs = th_mkdtemp("chaos"), *out = NULL;

    (void) state;
    assert_int_equal(th_fexctl(&out, NULL, "scenario", "chaos", "--seed", "4",
                               "--steps", "16", "--logs", logs, NULL), 0);
    assert_non_null(strstr(out, "no violation"));
    free(out);
    th_rmrf(logs);
    free(logs);
}

/* The number of step lines of scenario file 'path' (no header,
 * comment). */
static int
steps_in(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        n += line[0] != '#' && strncmp(line, "name ", 5)
             && strncmp(line, "lab ", 4);
    }
    fclose(f);
    return n;
}

static void
a_planted_leak_is_found_and_shrunk(void **state)
{
    char *logs = th_mkdtemp("chaos"), *out = NULL, min[4200], full[4200];
    char replay[4300];

    (void) state;
    assert_int_equal(th_fexctl(&out, NULL, "scenario", "chaos", "--seed", "2",
                               "--steps", "6", "--arm", "h1:fail@release",
                               "--logs", logs, NULL), 1);
    assert_non_null(strstr(out, "VIOLATION"));
    assert_non_null(strstr(out, "vNICs leaked"));
    assert_non_null(strstr(out, "it fails again"));
    snprintf(full, sizeof full, "%s/chaos-2.scn", logs);
    snprintf(min, sizeof min, "%s/chaos-2-min.scn", logs);
    print_message("%d steps shrunk to %d\n", steps_in(full), steps_in(min));
    assert_true(steps_in(min) <= 6);
    assert_true(steps_in(min) < steps_in(full));
    free(out);
    out = NULL;
    /* The file replays the failure. */
    snprintf(replay, sizeof replay, "%s/replay", logs);
    assert_int_equal(th_fexctl(&out, NULL, "scenario", "run", min, "--logs",
                               replay, NULL), 1);
    assert_non_null(strstr(out, "vNICs leaked"));
    free(out);
    th_rmrf(logs);
    free(logs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_same_seed_gives_the_same_storm),
        cmocka_unit_test(shrinking_keeps_what_the_failure_needs),
        cmocka_unit_test(a_fixed_seed_runs_without_violation),
        cmocka_unit_test(a_planted_leak_is_found_and_shrunk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
