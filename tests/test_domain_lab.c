/* Integration tests: a lab laid out as a UCS domain, `fexctl lab up
 * --chassis C --blades B`, small (2 chassis of 2 blades): hosts named and
 * placed by chassis and slot, listed by chassis, the layout kept in
 * lab.json across a restart, progress shown on a terminal, and nothing
 * left running after `lab down`. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/wait.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fx_proc.h"
#include "harness.h"

#define CHASSIS 2
#define BLADES 2
#define HOSTS (CHASSIS * BLADES)
#define WAIT_MS 10000      /* Deadline of every poll: generous for ASan. */

struct lab {
    char *dir;
    char *up_out;          /* What `lab up` printed on its terminal. */
};

static int
setup(void **state)
{
    struct lab *lab = calloc(1, sizeof *lab);
    char bin[4096], c[16], b[16];
    char *argv[] = { bin, "lab", "up", "--dir", NULL, "--chassis", c,
                     "--blades", b, "--heartbeat-timeout", "600", NULL };
    int rc;

    lab->dir = th_mkdtemp("domain");
    argv[4] = lab->dir;
    th_bin(bin, sizeof bin, "fexctl");
    snprintf(c, sizeof c, "%d", CHASSIS);
    snprintf(b, sizeof b, "%d", BLADES);
    lab->up_out = th_run_on_pty(argv, &rc);
    if (rc) {
        fprintf(stderr, "lab up: %s\n", lab->up_out);
    }
    assert_int_equal(rc, 0);
    *state = lab;
    return 0;
}

static int
teardown(void **state)
{
    struct lab *lab = *state;

    th_lab_down(lab->dir);
    assert_true(th_logs_clean(lab->dir));
    th_rmrf(lab->dir);
    free(lab->dir);
    free(lab->up_out);
    free(lab);
    return 0;
}

/* The hosts of `host list` (its JSON): every one named chC-bB and
 * registered at chassis C, slot B; 'chassis' > 0 lists only that one's. */
static void
check_listing(const char *dir, int chassis)
{
    char c[16];
    struct json_object *doc, *hosts;
    int seen[CHASSIS + 1][BLADES + 1] = { { 0 } };
    size_t want = chassis ? BLADES : HOSTS;

    snprintf(c, sizeof c, "%d", chassis);
    doc = chassis ? th_fexctl_json(dir, "host", "list", "--chassis", c, NULL)
                  : th_fexctl_json(dir, "host", "list", NULL);
    assert_non_null(doc);
    hosts = th_jarr(doc, "hosts");
    assert_int_equal(json_object_array_length(hosts), want);
    for (size_t i = 0; i < want; i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);
        int64_t hc = th_jint(h, "chassis"), hs = th_jint(h, "slot");
        char name[32];

        assert_true(hc >= 1 && hc <= CHASSIS && hs >= 1 && hs <= BLADES);
        assert_true(!chassis || hc == chassis);
        snprintf(name, sizeof name, "ch%d-b%d", (int) hc, (int) hs);
        assert_string_equal(th_jstr(h, "name"), name);
        assert_string_equal(th_jstr(h, "state"), "up");
        assert_false(seen[hc][hs]);
        seen[hc][hs] = 1;
    }
    json_object_put(doc);
}

static void
hosts_are_named_and_listed_by_chassis_and_slot(void **state)
{
    struct lab *lab = *state;
    char *out = NULL;

    check_listing(lab->dir, 0);
    for (int c = 1; c <= CHASSIS; c++) {
        check_listing(lab->dir, c);
    }
    /* The table shows where each host sits, SERVER C/S as UCSM does. */
    assert_int_equal(th_fexctl(&out, NULL, "--lab", lab->dir, "host", "list",
                               "--chassis", "2", NULL), 0);
    assert_non_null(strstr(out, "ch2-b1"));
    assert_non_null(strstr(out, "2/1"));
    assert_null(strstr(out, "ch1-b"));
    free(out);
}

/* On a terminal, `lab up` showed how many hosts were up of all, in place
 * (a carriage return before each count), then its final line. */
static void
lab_up_shows_progress_on_a_terminal(void **state)
{
    struct lab *lab = *state;
    char want[64];

    /* Back to the line's start, the line cleared, the count. */
    snprintf(want, sizeof want, "\r\033[Klab up: hosts up %d/%d", HOSTS,
             HOSTS);
    assert_non_null(strstr(lab->up_out, want));
    snprintf(want, sizeof want, "%d hosts (ch1-b1..ch%d-b%d)", HOSTS,
             CHASSIS, BLADES);
    assert_non_null(strstr(lab->up_out, want));
}

/* Anywhere but a terminal, no line is rewritten in place: a script or a
 * log reads whole lines. */
static void
lab_up_prints_plain_lines_elsewhere(void **state)
{
    struct lab *lab = *state;
    char *out = NULL;

    assert_int_equal(th_fexctl(&out, NULL, "lab", "up", "--dir", lab->dir,
                               NULL), 0);
    assert_null(strchr(out, '\r'));
    assert_null(strchr(out, '\033'));
    assert_non_null(strstr(out, "every daemon was running"));
    free(out);
}

static void
bad_layouts_are_refused(void **state)
{
    static const char *const cases[][7] = {
        { "--chassis", "2", NULL },
        { "--blades", "2", NULL },
        { "--chassis", "2", "--blades", "9", NULL },
        { "--chassis", "0", "--blades", "2", NULL },
        { "--chassis", "200", "--blades", "8", NULL },
        { "--chassis", "2", "--blades", "2", "--hosts", "5", NULL },
    };
    static const char *const says[] = {
        "go together", "go together", "out of range 1-8",
        "out of range", "at most 1024", "is not 2 chassis",
    };

    (void) state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *errs = NULL;
        const char *const *a = cases[i];

        assert_int_equal(th_fexctl(NULL, &errs, "lab", "up", "--dir",
                                   "/nonexistent/x", a[0], a[1], a[2], a[3],
                                   a[4], a[5], NULL), 2);
        if (!strstr(errs, says[i])) {
            fprintf(stderr, "case %zu: %s", i, errs);
        }
        assert_non_null(strstr(errs, says[i]));
        free(errs);
    }
}

/* A lab keeps its layout: another is refused, and a host killed comes
 * back, by its recorded command line, where it was. */
/* Whether `host list` has the HOSTS hosts of the lab in 'dir' all up. */
static int
all_hosts_up(void *dir)
{
    struct json_object *doc = th_fexctl_json(dir, "host", "list", NULL);
    struct json_object *hosts = doc ? th_jarr(doc, "hosts") : NULL;
    size_t up = 0, n = hosts ? json_object_array_length(hosts) : 0;

    for (size_t i = 0; i < n; i++) {
        up += !strcmp(th_jstr(json_object_array_get_idx(hosts, i), "state"),
                      "up");
    }
    json_object_put(doc);
    return n == HOSTS && up == HOSTS;
}

/* Whether the process of pid '*arg' is gone (a zombie counts as gone). */
static int
pid_gone(void *arg)
{
    return !fx_proc_alive(*(pid_t *) arg);
}

static void
restart_keeps_the_layout(void **state)
{
    struct lab *lab = *state;
    pid_t pid = th_read_pid(lab->dir, "agentd-ch2-b1.pid");
    char *errs = NULL, st[16], path[4096];
    struct json_object *spec, *opts;

    /* What `lab up` on this DIR, and restart, go by. */
    snprintf(path, sizeof path, "%s/lab.json", lab->dir);
    spec = json_object_from_file(path);
    assert_non_null(spec);
    assert_true(json_object_object_get_ex(spec, "options", &opts));
    assert_int_equal(th_jint(opts, "chassis"), CHASSIS);
    assert_int_equal(th_jint(opts, "blades"), BLADES);
    assert_int_equal(th_jint(opts, "hosts"), HOSTS);
    json_object_put(spec);
    assert_int_equal(th_fexctl(NULL, &errs, "lab", "up", "--dir", lab->dir,
                               "--chassis", "3", "--blades", "2", NULL), 1);
    assert_non_null(strstr(errs, "another --chassis"));
    free(errs);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    /* SIGKILL takes a few ms to end a process: `lab restart` run at once
     * may still find the agent alive and start nothing. */
    assert_true(th_wait(pid_gone, &pid, 10000));
    assert_int_equal(th_fexctl(NULL, NULL, "lab", "restart", "--dir",
                               lab->dir, NULL), 0);
    assert_string_equal(th_host_state(lab->dir, "ch2-b1", st, sizeof st,
                                      NULL, 0), "up");
    /* Every host up (a loaded machine may have one miss a heartbeat
     * meanwhile: it comes back by itself), then as laid out. */
    assert_true(th_wait(all_hosts_up, lab->dir, 20000));
    check_listing(lab->dir, 2);
}

static void
lab_down_leaves_nothing(void **state)
{
    struct lab *lab = *state;
    pid_t pids[HOSTS + 1];
    char file[64], *out = NULL, want[64];
    int n = 0;

    pids[n++] = th_read_pid(lab->dir, "fabricd.pid");
    for (int c = 1; c <= CHASSIS; c++) {
        for (int b = 1; b <= BLADES; b++) {
            snprintf(file, sizeof file, "agentd-ch%d-b%d.pid", c, b);
            pids[n++] = th_read_pid(lab->dir, file);
        }
    }
    for (int i = 0; i < n; i++) {
        assert_true(pids[i] > 0 && fx_proc_alive(pids[i]));
    }
    assert_int_equal(th_fexctl(&out, NULL, "lab", "down", "--dir", lab->dir,
                               NULL), 0);
    snprintf(want, sizeof want, "stopped %d processes", HOSTS + 1);
    assert_non_null(strstr(out, want));
    free(out);
    for (int i = 0; i < n; i++) {
        assert_false(fx_proc_alive(pids[i]));
    }
    assert_int_equal(th_read_pid(lab->dir, "fabricd.pid"), -1);
    assert_int_equal(th_read_pid(lab->dir, "agentd-ch1-b1.pid"), -1);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(hosts_are_named_and_listed_by_chassis_and_slot),
        T(lab_up_shows_progress_on_a_terminal),
        T(lab_up_prints_plain_lines_elsewhere),
        cmocka_unit_test(bad_layouts_are_refused),
        T(restart_keeps_the_layout),
        T(lab_down_leaves_nothing),
    };

    return cmocka_run_group_tests_name("domain_lab", tests, NULL, NULL);
}
