/* Tests of the scenario runner itself (fexctl scenario run): a scenario
 * that must fail does, for each kind of expect, a wait that times out, a
 * fexctl step that fails and a fault on a daemon that does not run, each
 * at its own line with the value seen; one that must pass does; exit
 * codes 0, 1 and 2 (a malformed file names line and column and runs
 * nothing); -j, --json and --junit; a failed scenario's logs are kept and
 * its lab torn down, also when the runner is interrupted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "harness.h"

static char *dir;

/* Every scenario starts from a VM m running on h1 with one NIC. */
#define SETUP \
    "lab hosts=2 vnics=4 heartbeat-timeout=1000\n" \
    "profile create hp --vlan 10\n" \
    "vm create m --host h1 --memory 16 --nic hp\n" \
    "vm start m\n"
#define SETUP_LINES 4

/* Each must fail at line SETUP_LINES + 'line' with 'seen' in the
 * message. */
static const struct {
    const char *name;
    const char *steps;
    unsigned line;
    const char *seen;
} must_fail[] = {
    { "field", "expect vm[m].state == stopped\n", 1, "got 'running'" },
    { "field-no-row", "expect vm[nosuch].state == running\n", 1,
      "no row matches" },
    { "number", "expect host[h1].vnics_free > 3\n", 1, "got '3'" },
    { "count", "expect count vif[vm=m] == 2\n", 1, "got '1'" },
    { "in", "expect vm[m].host in h2|h3\n", 1, "got 'h1'" },
    { "contains", "expect vm[m].host ~ h2\n", 1, "got 'h1'" },
    { "alive", "fault crash h2\nexpect alive h2\n", 2, "got dead" },
    { "dead", "expect dead h1\n", 1, "got alive" },
    { "order", "vm stop m\nexpect order vm-stopped[vm=m] "
      "vm-started[vm=m]\n", 2, "vm-stopped seen, vm-started not seen" },
    { "traffic",
      "vm create n --host h2 --memory 16 --nic hp\nvm start n\n"
      "traffic start m n --rate 100 --size 64 --count 5\n"
      "wait flow[1].received == 5 within 10s\n"
      "expect flow[1].sent != 5\n", 5, "got '5'" },
    { "downtime", "migrate m --to h2 --max-bandwidth 0\n"
      "expect migration[vm=m].total_ms < 0ms\n", 2, "got '" },
    { "expect-fail-succeeds", "expect fail: vm list\n", 1,
      "the command succeeded" },
    { "expect-fail-status", "expect fail status 2: vm start nosuch\n", 1,
      "failed otherwise with exit 1" },
    { "expect-fail-reason", "expect fail reason \"elephant\": "
      "vm start nosuch\n", 1, "not found" },
    { "wait-timeout", "wait vm[m].host == h2 within 300ms\n", 1,
      "timed out after 300ms; last seen 'h1'" },
    { "command", "vm delete m\n", 1, "exit 1: fexctl: VM 'm' is running" },
    { "fault", "fault crash h2\nfault crash h2\n", 2, "h2 does not run" },
    /* A planted leak: h1's next undefined VM keeps its vNIC. */
    { "invariant", "fault arm h1 fail@release\nvm stop m\nvm delete m\n", 3,
      "invariant violated: host h1 has 1 vNICs in use for 0 VIFs: vNICs "
      "leaked" },
};

static char *
write_scn(const char *name, const char *text)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s.scn", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return strdup(path);
}

static struct json_object *
report_of(struct json_object *doc, const char *name)
{
    struct json_object *arr = json_object_object_get(doc, "scenarios");

    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *r = json_object_array_get_idx(arr, i);

        if (!strcmp(json_object_get_string(json_object_object_get(r, "name")),
                    name)) {
            return r;
        }
    }
    fail_msg("no report of '%s'", name);
    return NULL;
}

static const char *
jstr(struct json_object *o, const char *key)
{
    return json_object_get_string(json_object_object_get(o, key));
}

/* No daemon of the scenario's lab runs any more. */
static void
assert_lab_down(const char *logs)
{
    static const char *const pids[] = { "fabricd.pid", "agentd-h1.pid",
                                        "agentd-h2.pid" };
    char lab[4096];

    snprintf(lab, sizeof lab, "%s/lab", logs);
    for (size_t i = 0; i < 3; i++) {
        pid_t pid = th_read_pid(lab, pids[i]);

        assert_true(pid <= 0 || !fx_proc_alive(pid));
    }
}

static void
each_kind_of_failure_fails_at_its_line(void **state)
{
    size_t n = sizeof must_fail / sizeof *must_fail;
    char *argv[64], logs[4096], junit[4096], *out = NULL, *errs = NULL;
    struct json_object *doc;
    size_t a = 0;

    (void) state;
    snprintf(logs, sizeof logs, "%s/logs", dir);
    snprintf(junit, sizeof junit, "%s/junit.xml", dir);
    argv[a++] = "--json";
    argv[a++] = "scenario";
    argv[a++] = "run";
    argv[a++] = "-j";
    argv[a++] = "2";
    argv[a++] = "--logs";
    argv[a++] = logs;
    for (size_t i = 0; i < n; i++) {
        char text[1024];

        snprintf(text, sizeof text, SETUP "%s", must_fail[i].steps);
        argv[a++] = write_scn(must_fail[i].name, text);
    }
    argv[a++] = "--junit";
    argv[a++] = junit;
    {
        char bin[4096], *full[70];

        full[0] = (char *) th_bin(bin, sizeof bin, "fexctl");
        memcpy(full + 1, argv, a * sizeof *argv);
        full[a + 1] = NULL;
        assert_int_equal(th_run(full, &out, &errs), 1);
    }
    doc = json_tokener_parse(out);
    assert_non_null(doc);
    assert_int_equal(json_object_get_int(json_object_object_get(doc,
                                                                "failed")),
                     (int) n);
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = report_of(doc, must_fail[i].name);
        const char *msg = jstr(r, "message");

        assert_string_equal(jstr(r, "result"), "failed");
        if (json_object_get_int(json_object_object_get(r, "line"))
            != (int) (SETUP_LINES + must_fail[i].line)
            || !strstr(msg, must_fail[i].seen)) {
            fail_msg("%s: failed at line %d with '%s'; want line %u with "
                     "'%s'", must_fail[i].name,
                     json_object_get_int(json_object_object_get(r, "line")),
                     msg, SETUP_LINES + must_fail[i].line,
                     must_fail[i].seen);
        }
        /* Its logs kept, its lab gone. */
        assert_int_equal(access(jstr(r, "logs"), F_OK), 0);
        assert_lab_down(jstr(r, "logs"));
        /* Neither fexctl (steps.log) nor a daemon reported a sanitizer
         * error. */
        assert_true(th_logs_clean(jstr(r, "logs")));
        {
            char lab[4200];

            snprintf(lab, sizeof lab, "%s/lab", jstr(r, "logs"));
            assert_true(th_logs_clean(lab));
        }
        free(argv[7 + i]);
    }
    json_object_put(doc);
    free(out);
    free(errs);
    out = NULL;
    assert_int_equal(access(junit, F_OK), 0);
    {
        char *cat[] = { "/bin/grep", "-c", "<failure", junit, NULL };

        assert_int_equal(th_run(cat, &out, NULL), 0);
        assert_int_equal(atoi(out), (int) n);
        free(out);
    }
}

static void
a_good_scenario_passes_and_leaves_nothing(void **state)
{
    char *path = write_scn("good", SETUP
                           "# migrate, then crash the destination at "
                           "prepare of the way back\n"
                           "migrate m --to h2 --max-bandwidth 0\n"
                           "expect vm[m].host == h2\n"
                           "fault crash h1 at prepare\n"
                           "migrate m --to h1 --max-bandwidth 0 --no-wait\n"
                           "wait dead h1 within 10s\n"
                           "fault restart h1\n"
                           "wait migration[vm=m].state in failed|resolved "
                           "within 15s\n"
                           "expect vm[m].host == h2\n");
    char logs[4096], *out = NULL;

    (void) state;
    snprintf(logs, sizeof logs, "%s/good-logs", dir);
    assert_int_equal(th_fexctl(&out, NULL, "scenario", "run", path,
                               "--logs", logs, NULL), 0);
    assert_non_null(strstr(out, "1 passed, 0 failed"));
    assert_non_null(strstr(out, "passed in"));
    /* A passed scenario's dir goes, the --logs dir stays. */
    {
        char sub[4200];

        snprintf(sub, sizeof sub, "%s/01-good", logs);
        assert_int_equal(access(sub, F_OK), -1);
        assert_int_equal(access(logs, F_OK), 0);
    }
    free(out);
    free(path);
}

static void
a_malformed_file_runs_nothing_and_exits_2(void **state)
{
    char *good = write_scn("fine", "vm list\n");
    char *bad = write_scn("bad", "lab hosts=2\n\nvm list\n"
                          "expect vm[m].state === running\n");
    char *errs = NULL, *out = NULL, want[4300];

    (void) state;
    assert_int_equal(th_fexctl(&out, &errs, "scenario", "run", good, bad,
                               NULL), 2);
    snprintf(want, sizeof want, "%s:4:20: expected a comparison (== != < "
             "<= > >= ~ in), found '==='", bad);
    assert_non_null(strstr(errs, want));
    assert_null(strstr(out, "passed"));
    free(errs);
    free(out);
    assert_int_equal(th_fexctl(NULL, NULL, "scenario", "run", NULL), 2);
    assert_int_equal(th_fexctl(NULL, NULL, "scenario", "run",
                               "/nonexistent.scn", NULL), 2);
    free(good);
    free(bad);
}

/* Whether the file at 'path' holds 'want'. */
static int
file_has(const char *path, const char *want)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = fopen(path, "r"), *m = open_memstream(&text, &size);
    int c, found;

    while (f && (c = fgetc(f)) != EOF) {
        fputc(c, m);
    }
    if (f) {
        fclose(f);
    }
    fclose(m);
    found = strstr(text, want) != NULL;
    free(text);
    return found;
}

struct waiting {
    const char *path, *want;
};

static int
waiting_cond(void *arg)
{
    const struct waiting *w = arg;

    return file_has(w->path, w->want);
}

/* Ctrl-C (SIGINT) while a step waits: the step stops, the lab goes down
 * with its logs kept, the scenario not started yet is not started, and
 * the runner says so and exits 1. */
static void
an_interrupt_takes_the_labs_down(void **state)
{
    char *a = write_scn("intr-a", "name intr-a\n" SETUP
                        "wait vm[m].host == h2 within 120s\n");
    char *b = write_scn("intr-b", "name intr-b\n" SETUP "vm list\n");
    char bin[4096], logs[4096], out[4096], steps[4200], first[4200];
    char *argv[] = { bin, "--json", "scenario", "run", "--logs", logs, a, b,
                     NULL };
    struct waiting w = { steps, "$ " };
    struct fx_err err;
    int st;
    pid_t pid;

    (void) state;
    th_bin(bin, sizeof bin, "fexctl");
    snprintf(logs, sizeof logs, "%s/intr-logs", dir);
    snprintf(out, sizeof out, "%s/intr.out", dir);
    snprintf(first, sizeof first, "%s/01-intr-a", logs);
    snprintf(steps, sizeof steps, "%s/steps.log", first);
    assert_int_equal(fx_proc_spawn(argv, out, &pid, &err), 0);
    /* The wait step is under way once its first read was logged. */
    w.want = "wait vm[m].host == h2 within 120s\n$ ";
    assert_true(th_wait(waiting_cond, &w, 60000));
    kill(pid, SIGINT);
    {
        uint64_t deadline = fx_time_now_ms() + 60000;
        pid_t r;

        while ((r = waitpid(pid, &st, WNOHANG)) == 0
               && fx_time_now_ms() < deadline) {
            fx_time_sleep_ms(20);
        }
        assert_int_equal(r, pid);
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_true(file_has(out, "interrupted: the lab is taken down"));
    assert_true(file_has(out, "interrupted before it ran"));
    assert_true(file_has(out, "scenario run interrupted: every lab it made "
                         "is down"));
    assert_lab_down(first);
    assert_int_equal(access(steps, F_OK), 0);      /* Its logs kept. */
    free(a);
    free(b);
}

/* On a terminal the runner draws a progress line (scenarios and steps
 * done of total, failures so far) and clears it for each report; piped,
 * there is none (the reports are the plain lines). */
static void
a_terminal_gets_a_progress_line(void **state)
{
    char *ok = write_scn("prog-ok", "name prog-ok\n" SETUP "vm list\n");
    char *bad = write_scn("prog-bad", "name prog-bad\n" SETUP
                          "expect vm[m].state == stopped\nvm list\n");
    char bin[4096], logs[4096], *out, *piped = NULL;
    char *argv[] = { bin, "scenario", "run", "--logs", logs, ok, bad, NULL };
    int rc;

    (void) state;
    th_bin(bin, sizeof bin, "fexctl");
    snprintf(logs, sizeof logs, "%s/prog-logs", dir);
    out = th_run_on_pty(argv, &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "\r\033[Kscenario run: 0/2 scenarios, "
                           "0/9 steps, 0 failed: prog-ok"));
    assert_non_null(strstr(out, "scenario run: 1/2 scenarios, 4/9 steps, "
                           "0 failed"));
    assert_non_null(strstr(out, "scenario run: 2/2 scenarios, 9/9 steps, "
                           "1 failed"));
    assert_non_null(strstr(out, "1 passed, 1 failed"));
    free(out);
    assert_int_equal(th_fexctl(&piped, NULL, "scenario", "run", "--logs",
                               logs, ok, NULL), 0);
    assert_null(strstr(piped, "\033[K"));
    assert_null(strstr(piped, "scenario run: "));
    free(piped);
    free(ok);
    free(bad);
}

static int
setup(void **state)
{
    (void) state;
    dir = th_mkdtemp("scnrun");
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    th_rmrf(dir);
    free(dir);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_malformed_file_runs_nothing_and_exits_2),
        cmocka_unit_test(a_good_scenario_passes_and_leaves_nothing),
        cmocka_unit_test(each_kind_of_failure_fails_at_its_line),
        cmocka_unit_test(an_interrupt_takes_the_labs_down),
        cmocka_unit_test(a_terminal_gets_a_progress_line),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
