/* Integration tests: real fabricd and agentd processes started by
 * 'fexctl lab up', driven through fexctl. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fx_proc.h"
#include "harness.h"

#define HB_TIMEOUT "600"
#define WAIT_MS 10000      /* Deadline of every poll: generous for ASan. */

struct lab {
    char *dir;
};

static int
setup(void **state)
{
    struct lab *lab = calloc(1, sizeof *lab);

    lab->dir = th_mkdtemp("lab");
    assert_int_equal(th_lab_up(lab->dir, 3, "--heartbeat-timeout",
                               HB_TIMEOUT, NULL), 0);
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
    free(lab);
    return 0;
}

struct host_wait {
    const char *dir;
    const char *name;
    const char *state;
    char reason[128];
};

static int
host_in_state(void *arg)
{
    struct host_wait *w = arg;
    char buf[16];

    th_host_state(w->dir, w->name, buf, sizeof buf, w->reason,
                  sizeof w->reason);
    return !strcmp(buf, w->state);
}

static void
wait_host(struct host_wait *w, const char *dir, const char *name,
          const char *state)
{
    w->dir = dir;
    w->name = name;
    w->state = state;
    assert_true(th_wait(host_in_state, w, WAIT_MS));
}

static void
lab_up_registers_every_host(void **state)
{
    struct lab *lab = *state;
    struct json_object *doc = th_fexctl_json(lab->dir, "host", "list", NULL);
    struct json_object *hosts, *h, *v;

    assert_non_null(doc);
    assert_true(json_object_object_get_ex(doc, "hosts", &hosts));
    assert_int_equal(json_object_array_length(hosts), 3);
    for (int i = 0; i < 3; i++) {
        char want[8];

        snprintf(want, sizeof want, "h%d", i + 1);
        h = json_object_array_get_idx(hosts, (size_t) i);
        json_object_object_get_ex(h, "name", &v);
        assert_string_equal(json_object_get_string(v), want);
        json_object_object_get_ex(h, "state", &v);
        assert_string_equal(json_object_get_string(v), "up");
        json_object_object_get_ex(h, "hypervisor", &v);
        assert_string_equal(json_object_get_string(v), "TEST");
        json_object_object_get_ex(h, "vnics_total", &v);
        assert_int_equal(json_object_get_int(v), 128);
    }
    json_object_put(doc);
    assert_true(th_read_pid(lab->dir, "fabricd.pid") > 0);
    assert_true(th_read_pid(lab->dir, "agentd-h3.pid") > 0);
}

/* Starts agentd for 'host' again, as lab up did, and records its pid. */
static void
restart_agent(const char *dir, const char *host)
{
    char bin[4096], addr[64], log[4096], pidf[4096], secret[4096];
    char *argv[] = { bin, "--host", (char *) host, "--fabric", addr,
                     "--listen", "127.0.0.1:0", "--secret-file", secret,
                     NULL };
    pid_t pid;

    th_bin(bin, sizeof bin, "agentd");
    th_fabric_addr(dir, addr, sizeof addr);
    snprintf(secret, sizeof secret, "%s/secret", dir);
    snprintf(log, sizeof log, "%s/agentd-%s.log", dir, host);
    snprintf(pidf, sizeof pidf, "%s/agentd-%s.pid", dir, host);
    assert_int_equal(fx_proc_spawn(argv, log, &pid, NULL), 0);
    assert_int_equal(fx_proc_pidfile_write(pidf, pid, NULL), 0);
}

static void
killed_agent_goes_down_and_comes_back_up(void **state)
{
    struct lab *lab = *state;
    struct host_wait w;
    pid_t pid = th_read_pid(lab->dir, "agentd-h2.pid");

    assert_int_equal(kill(pid, SIGKILL), 0);
    wait_host(&w, lab->dir, "h2", "down");
    assert_non_null(strstr(w.reason, "connection lost"));
    /* The other hosts do not notice. */
    wait_host(&w, lab->dir, "h1", "up");
    restart_agent(lab->dir, "h2");
    wait_host(&w, lab->dir, "h2", "up");
    assert_string_equal(w.reason, "");
}

static void
silent_agent_goes_down_by_heartbeat_timeout(void **state)
{
    struct lab *lab = *state;
    struct host_wait w;
    pid_t pid = th_read_pid(lab->dir, "agentd-h3.pid");

    /* A stopped agent keeps its connection but stops beating. */
    assert_int_equal(kill(pid, SIGSTOP), 0);
    wait_host(&w, lab->dir, "h3", "down");
    assert_string_equal(w.reason, "missed heartbeats");
    assert_int_equal(kill(pid, SIGCONT), 0);
    wait_host(&w, lab->dir, "h3", "up");
}

static void
second_agent_with_live_name_is_refused(void **state)
{
    struct lab *lab = *state;
    char bin[4096], addr[64], secret[4096], *errs = NULL;
    char *argv[] = { bin, "--host", "h1", "--fabric", addr, "--secret-file",
                     secret, NULL };

    th_bin(bin, sizeof bin, "agentd");
    th_fabric_addr(lab->dir, addr, sizeof addr);
    snprintf(secret, sizeof secret, "%s/secret", lab->dir);
    assert_int_equal(th_run(argv, NULL, &errs), 1);
    assert_non_null(strstr(errs, "host 'h1' is already registered by a "
                            "live agent"));
    free(errs);
}

static void
lab_down_leaves_no_process_behind(void **state)
{
    struct lab *lab = *state;
    pid_t pids[4] = { th_read_pid(lab->dir, "fabricd.pid"),
                      th_read_pid(lab->dir, "agentd-h1.pid"),
                      th_read_pid(lab->dir, "agentd-h2.pid"),
                      th_read_pid(lab->dir, "agentd-h3.pid") };
    char *out = NULL;

    for (int i = 0; i < 4; i++) {
        assert_true(fx_proc_alive(pids[i]));
    }
    assert_int_equal(th_fexctl(&out, NULL, "lab", "down", "--dir", lab->dir,
                               NULL), 0);
    assert_non_null(strstr(out, "stopped 4 processes"));
    free(out);
    for (int i = 0; i < 4; i++) {
        assert_false(fx_proc_alive(pids[i]));
    }
    assert_int_equal(th_read_pid(lab->dir, "fabricd.pid"), -1);
}

static void
second_lab_in_same_dir_is_refused(void **state)
{
    struct lab *lab = *state;
    char *errs = NULL;

    assert_int_equal(th_fexctl(NULL, &errs, "lab", "up", "--hosts", "1",
                               "--dir", lab->dir, NULL), 1);
    assert_non_null(strstr(errs, "a lab already runs"));
    free(errs);
}

static int
proc_gone(void *arg)
{
    return !fx_proc_alive(*(pid_t *) arg);
}

/* fabricd dies and comes back on the same address: every agent
 * reconnects (with backoff) and registers again. */
static void
agents_reconnect_when_fabricd_returns(void **state)
{
    struct lab *lab = *state;
    char bin[4096], addr[64], path[4096], log[4096], secret[4096];
    char *argv[] = { bin, "--listen", addr, "--heartbeat-interval", "200",
                     "--heartbeat-timeout", HB_TIMEOUT, "--secret-file",
                     secret, NULL };
    pid_t pid = th_read_pid(lab->dir, "fabricd.pid");
    struct host_wait w;

    th_fabric_addr(lab->dir, addr, sizeof addr);
    snprintf(secret, sizeof secret, "%s/secret", lab->dir);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_true(th_wait(proc_gone, &pid, WAIT_MS));
    th_bin(bin, sizeof bin, "fabricd");
    snprintf(log, sizeof log, "%s/fabricd.log", lab->dir);
    snprintf(path, sizeof path, "%s/fabricd.pid", lab->dir);
    assert_int_equal(fx_proc_spawn(argv, log, &pid, NULL), 0);
    assert_int_equal(fx_proc_pidfile_write(path, pid, NULL), 0);
    wait_host(&w, lab->dir, "h1", "up");
    wait_host(&w, lab->dir, "h2", "up");
    wait_host(&w, lab->dir, "h3", "up");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(lab_up_registers_every_host),
        T(killed_agent_goes_down_and_comes_back_up),
        T(silent_agent_goes_down_by_heartbeat_timeout),
        T(second_agent_with_live_name_is_refused),
        T(second_lab_in_same_dir_is_refused),
        T(agents_reconnect_when_fabricd_returns),
        T(lab_down_leaves_no_process_behind),
    };

    return cmocka_run_group_tests_name("lab", tests, NULL, NULL);
}
