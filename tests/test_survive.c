/* Integration: state that survives a restart (issue 12).  A lab of two
 * hosts whose daemons are SIGKILLed and started again with the command
 * lines lab up gave them:
 *
 * - an agent keeps its host's passthrough configuration (devices pending
 *   reboot, then active) as it keeps its VMs, and refuses to start on a
 *   damaged passthrough file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fx_proc.h"
#include "harness.h"

#define WAIT_MS 20000
#define VIC "0000:0b:00.0"

static char *dir;

#define FX(rc, want, ...) \
    th_fexctl_check(dir, __LINE__, rc, want, __VA_ARGS__, NULL)

/* ---- Restarts ---- */

/* SIGKILLs the daemon of 'pidfile' and starts it again as it was. */
static void
restart(const char *pidfile)
{
    struct th_daemon d;

    th_daemon_read(dir, pidfile, &d);
    th_daemon_kill9(dir, &d);
    th_daemon_respawn(dir, &d, NULL);
}

/* ---- Passthrough ---- */

/* "host passthrough h1 --json" into '*outp' (the caller frees it); its
 * exit status. */
static int
passthrough_h1(char **outp)
{
    return th_fexctl(outp, NULL, "--lab", dir, "--json", "host",
                     "passthrough", "h1", NULL);
}

/* Once the fabric can reach h1's agent again: a restarted agent, since
 * the one killed answers nothing. */
static int
h1_answers(void *arg)
{
    char *out = NULL;
    int rc = passthrough_h1(&out);

    free(out);
    (void) arg;
    return rc == 0;
}

static void
restart_h1(void)
{
    restart("agentd-h1.pid");
    assert_true(th_wait(h1_answers, NULL, WAIT_MS));
}

/* The state of the VIC's PCI function in a passthrough document. */
static const char *
vic_state(const char *json, char *buf, size_t size)
{
    struct json_object *doc = json_tokener_parse(json);
    struct json_object *devs = doc ? th_jarr(doc, "devices") : NULL;

    buf[0] = '\0';
    for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
        struct json_object *d = json_object_array_get_idx(devs, i);

        if (!strcmp(th_jstr(d, "address"), VIC)) {
            snprintf(buf, size, "%s", th_jstr(d, "state"));
        }
    }
    json_object_put(doc);
    return buf;
}

/* h1 shows the same passthrough configuration after its agent restarts,
 * and says the VIC is in 'want'. */
static void
h1_survives_restart(const char *want)
{
    char *before = NULL, *after = NULL, st[32];

    assert_int_equal(passthrough_h1(&before), 0);
    assert_string_equal(vic_state(before, st, sizeof st), want);
    restart_h1();
    assert_int_equal(passthrough_h1(&after), 0);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void
passthrough_survives_an_agent_restart(void **state)
{
    (void) state;
    h1_survives_restart("disabled");
    FX(0, "pending reboot", "host", "passthrough", "h1", "--enable", VIC);
    h1_survives_restart("pending reboot");
    /* Still pending: a DirectPath NIC is refused until the reboot. */
    FX(1, "pending reboot", "vm", "create", "dp", "--host", "h1",
       "--memory", "64", "--nic", "fast,directpath");
    /* A host reboots with no VM running. */
    FX(0, NULL, "vm", "stop", "a");
    FX(0, NULL, "host", "reboot", "h1");
    FX(0, NULL, "vm", "start", "a");
    h1_survives_restart("active");
    /* Active indeed: the restarted agent gives a DirectPath NIC. */
    FX(0, NULL, "vm", "create", "dp", "--host", "h1", "--memory", "64",
       "--nic", "fast,directpath");
    FX(0, NULL, "vm", "delete", "dp");
}

static int
gone(void *arg)
{
    return !fx_proc_alive(*(pid_t *) arg);
}

/* The last line of 'path', in 'buf'. */
static const char *
last_line(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    char line[1024];

    assert_non_null(f);
    buf[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        snprintf(buf, size, "%s", line);
    }
    fclose(f);
    return buf;
}

static void
a_damaged_passthrough_file_is_refused_at_start(void **state)
{
    char path[4096], log[4096], line[1024];
    struct th_daemon d;
    FILE *f;
    pid_t pid;

    (void) state;
    snprintf(path, sizeof path, "%s/h2-state/passthrough", dir);
    snprintf(log, sizeof log, "%s/agentd-h2.log", dir);
    th_daemon_read(dir, "agentd-h2.pid", &d);
    th_daemon_kill9(dir, &d);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("0000:0b:00.0 pending-reb\x01ot\n", f);
    assert_int_equal(fclose(f), 0);
    th_daemon_respawn(dir, &d, NULL);
    pid = th_read_pid(dir, "agentd-h2.pid");
    assert_true(th_wait(gone, &pid, WAIT_MS));
    assert_non_null(strstr(last_line(log, line, sizeof line),
                           "agentd: '"));
    assert_non_null(strstr(line, "/h2-state/passthrough' line 1 is "
                           "damaged"));
    /* A device this host does not have is damage too. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("0000:99:00.0 active\n", f);
    assert_int_equal(fclose(f), 0);
    th_daemon_respawn(dir, &d, NULL);
    pid = th_read_pid(dir, "agentd-h2.pid");
    assert_true(th_wait(gone, &pid, WAIT_MS));
    assert_non_null(strstr(last_line(log, line, sizeof line),
                           "no PCI device '0000:99:00.0' on this host"));
    /* Put right, the agent starts with nothing enabled. */
    assert_int_equal(remove(path), 0);
    th_daemon_respawn(dir, &d, NULL);
    assert_true(th_wait_hosts_up(dir, 2, WAIT_MS));
    FX(0, "No devices currently enabled", "host", "passthrough", "h2");
}

/* ---- Lab ---- */

static int
lab_setup(void **state)
{
    (void) state;
    dir = th_mkdtemp("survive");
    if (th_lab_up(dir, 2, "--vnics", "8", NULL)) {
        return -1;
    }
    FX(0, NULL, "profile", "create", "pp", "--vlan", "10");
    FX(0, NULL, "profile", "create", "fast", "--vlan", "20",
       "--high-performance");
    FX(0, NULL, "vm", "create", "a", "--host", "h1", "--memory", "64",
       "--nic", "pp");
    FX(0, NULL, "vm", "create", "b", "--host", "h2", "--memory", "64",
       "--nic", "pp");
    FX(0, NULL, "vm", "start", "a");
    FX(0, NULL, "vm", "start", "b");
    return 0;
}

static int
lab_teardown(void **state)
{
    int clean;

    (void) state;
    th_lab_down(dir);
    clean = th_logs_clean(dir);
    th_rmrf(dir);
    free(dir);
    return clean ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(passthrough_survives_an_agent_restart),
        cmocka_unit_test(a_damaged_passthrough_file_is_refused_at_start),
    };

    return cmocka_run_group_tests(tests, lab_setup, lab_teardown);
}
