/* Across machines (issue 13, part 4), with network namespaces standing in
 * for machines: the test builds them as docs/LABS.md says one would wire
 * machines on a switch (a bridge in the fabric's "machine", one veth from
 * each other machine to it, addresses of 198.18.1.0/24), starts fabricd by
 * hand in one and an agent by hand in each of the others, every one with
 * its own state dir and its own copy of the lab secret, and drives them
 * with fexctl from another machine.  A VM is created and migrated between
 * the agents; nothing travels over loopback (ss in every namespace); an
 * agent with the wrong secret is refused: it exits 1 and fabricd logs the
 * refusal with both key fingerprints.
 *
 * The namespaces are named "fxm-RANDOM-NAME", not as a lab's, so that
 * `fexctl lab clean` run elsewhere never takes them; the teardown removes
 * them, and stops every daemon by its pid.  Needs root. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include "auth.h"
#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "harness.h"
#include "labnet.h"

#define WAIT_MS 30000
#define N_MACHINES 4                 /* The fabric's, m1, m2, m3. */

static const char *const names[N_MACHINES] = { "fabric", "m1", "m2", "m3" };
static const char *const addrs[N_MACHINES] = {
    "198.18.1.1", "198.18.1.11", "198.18.1.12", "198.18.1.13",
};

static char *dir;
static char ns[N_MACHINES][32];
static pid_t pids[N_MACHINES];
static char ip[64];

/* "ip ARGS..." must succeed. */
#define IP(...) ip_ok(__LINE__, __VA_ARGS__, NULL)

static void
ip_ok(int line, ...)
{
    char *argv[24], *errs = NULL;
    size_t n = 0;
    va_list ap;
    int rc;

    argv[n++] = ip;
    va_start(ap, line);
    while (n < 23 && (argv[n] = va_arg(ap, char *))) {
        n++;
    }
    va_end(ap);
    argv[n] = NULL;
    rc = th_run(argv, NULL, &errs);
    if (rc) {
        fail_msg("line %d: ip %s %s %s: exit %d: %s", line, argv[1], argv[2],
                 argv[3], rc, errs);
    }
    free(errs);
}

/* Machine 'i''s path under the test dir: DIR/NAME/'file'. */
static void
mpath(int i, const char *file, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s/%s", dir, names[i], file);
}

/* The machines: each a namespace with its loopback up; the fabric's has
 * the switch (a bridge with its address), every other one a veth to it. */
static void
build_machines(void)
{
    char id[9], cidr[32], port[16];
    uint8_t raw[4];

    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(id, sizeof id, raw, sizeof raw);
    for (int i = 0; i < N_MACHINES; i++) {
        snprintf(ns[i], sizeof ns[i], "fxm-%s-%s", id, names[i]);
        IP("netns", "add", ns[i]);
        IP("-n", ns[i], "link", "set", "lo", "up");
        snprintf(cidr, sizeof cidr, "%s/24", addrs[i]);
        if (i == 0) {
            IP("-n", ns[0], "link", "add", "br0", "type", "bridge");
            IP("-n", ns[0], "addr", "add", cidr, "dev", "br0");
            IP("-n", ns[0], "link", "set", "br0", "up");
            continue;
        }
        snprintf(port, sizeof port, "v%s", names[i]);
        IP("-n", ns[0], "link", "add", port, "type", "veth", "peer", "name",
           "eth0", "netns", ns[i]);
        IP("-n", ns[0], "link", "set", port, "master", "br0", "up");
        IP("-n", ns[i], "addr", "add", cidr, "dev", "eth0");
        IP("-n", ns[i], "link", "set", "eth0", "up");
    }
}

static int
setup(void **state)
{
    struct fx_err err;
    char path[4096];

    (void) state;
    assert_int_equal(labnet_tool("ip", ip, sizeof ip, &err), 0);
    dir = th_mkdtemp("machines");
    for (int i = 0; i < N_MACHINES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        assert_int_equal(mkdir(path, 0700), 0);
    }
    build_machines();
    return 0;
}

static int
teardown(void **state)
{
    int ok = 1;

    (void) state;
    for (int i = N_MACHINES; i-- > 0; ) {
        if (pids[i] > 0) {
            ok &= fx_proc_stop(pids[i], 5000, NULL) == 0;
            pids[i] = 0;
        }
    }
    for (int i = N_MACHINES; i-- > 0; ) {
        if (ns[i][0] && th_ns_inode(ns[i])) {
            ok &= th_tool(NULL, NULL, "ip", "netns", "delete", ns[i],
                          NULL) == 0;
        }
        ns[i][0] = '\0';
    }
    for (int i = 0; i < N_MACHINES; i++) {
        char sub[4096];

        snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
        ok &= th_logs_clean(sub);
    }
    th_rmrf(dir);
    free(dir);
    return ok ? 0 : -1;
}

/* Starts 'argv' (NULL-terminated, after "ip netns exec NS") in machine
 * 'i', logging to its DIR/NAME/daemon.log. */
static pid_t
start_in(int i, char *const argv[])
{
    char *full[40], log[4096];
    struct fx_err err;
    size_t n = 0;
    pid_t pid;

    full[n++] = ip;
    full[n++] = "netns";
    full[n++] = "exec";
    full[n++] = ns[i];
    for (size_t a = 0; argv[a] && n < 39; a++) {
        full[n++] = argv[a];
    }
    full[n] = NULL;
    mpath(i, "daemon.log", log, sizeof log);
    if (fx_proc_spawn(full, log, &pid, &err)) {
        fail_msg("%s", err.msg);
    }
    return pid;
}

struct ready {
    int machine;
    pid_t pid;
};

static char *log_of(int i);

/* Machine's daemon wrote its pid file: it serves.  Fails the test with
 * the daemon's log if it died. */
static int
is_ready(void *arg)
{
    struct ready *r = arg;
    char path[4096];
    pid_t pid;

    mpath(r->machine, "daemon.pid", path, sizeof path);
    if (!fx_proc_alive(r->pid)) {
        char *log = log_of(r->machine);

        fail_msg("%s's daemon died at start: %s", names[r->machine], log);
    }
    return !fx_proc_pidfile_read(path, &pid, NULL) && pid == r->pid;
}

/* fabricd in the fabric's machine, on its address only. */
static void
start_fabricd(void)
{
    char bin[4096], listen[32], uplink[32], state[4096], secret[4096];
    char log[4096], pidf[4096];
    char *argv[] = { bin, "--listen", listen, "--uplink-listen", uplink,
                     "--state", state, "--secret-file", secret,
                     "--heartbeat-interval", "300", "--heartbeat-timeout",
                     "1000", "--log-file", log, "--pid-file", pidf, NULL };
    struct fx_err err;

    th_bin(bin, sizeof bin, "fabricd");
    snprintf(listen, sizeof listen, "%s:7800", addrs[0]);
    snprintf(uplink, sizeof uplink, "%s:7801", addrs[0]);
    mpath(0, "state", state, sizeof state);
    mpath(0, "secret", secret, sizeof secret);
    mpath(0, "daemon.log", log, sizeof log);
    mpath(0, "daemon.pid", pidf, sizeof pidf);
    assert_int_equal(auth_key_create(secret, &err), 0);
    pids[0] = start_in(0, argv);
    assert_true(th_wait(is_ready, &(struct ready) { 0, pids[0] }, WAIT_MS));
}

/* The agent of machine 'i' with the secret file in its own dir; m2's
 * listens on every address (0.0.0.0), the others on their own. */
static char **
agent_argv(int i, char *buf, size_t size)
{
    static char *argv[32];
    char bin[4096];
    size_t off = 0, n = 0;

#define PUT(...) (argv[n++] = buf + off, \
                  off += (size_t) snprintf(buf + off, size - off, \
                                           __VA_ARGS__) + 1)
    PUT("%s", th_bin(bin, sizeof bin, "agentd"));
    PUT("--host"); PUT("%s", names[i]);
    PUT("--fabric"); PUT("%s:7800", addrs[0]);
    PUT("--listen"); PUT("%s:7810", i == 2 ? "0.0.0.0" : addrs[i]);
    PUT("--migration-ports"); PUT("7820-7829");
    PUT("--secret-file"); PUT("%s/%s/secret", dir, names[i]);
    PUT("--state"); PUT("%s/%s/state", dir, names[i]);
    PUT("--vnics"); PUT("8");
    PUT("--log-file"); PUT("%s/%s/daemon.log", dir, names[i]);
    PUT("--pid-file"); PUT("%s/%s/daemon.pid", dir, names[i]);
#undef PUT
    argv[n] = NULL;
    return argv;
}

/* Copies the fabric's secret to machine 'i' as an operator would (scp),
 * mode 0600; with 'wrong', makes it another secret instead. */
static void
give_secret(int i, int wrong)
{
    char from[4096], to[4096], cmd[8300];
    struct fx_err err;

    mpath(0, "secret", from, sizeof from);
    mpath(i, "secret", to, sizeof to);
    if (wrong) {
        assert_int_equal(auth_key_create(to, &err), 0);
        return;
    }
    snprintf(cmd, sizeof cmd, "install -m 600 '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* "fexctl --fabric FABRIC:7800 --secret-file SECRET ARGS..." ('args'
 * NULL-terminated) run inside machine 'i', as an operator there would. */
static int
fexctl_in(int i, char **outp, char **errp, char *const args[])
{
    char bin[4096], fabric[32], secret[4096];
    char *argv[40] = { ip, "netns", "exec", ns[i], bin, "--fabric", fabric,
                       "--secret-file", secret };
    size_t n = 9;

    th_bin(bin, sizeof bin, "fexctl");
    snprintf(fabric, sizeof fabric, "%s:7800", addrs[0]);
    mpath(i, "secret", secret, sizeof secret);
    for (size_t a = 0; args[a] && n < 39; a++) {
        argv[n++] = args[a];
    }
    argv[n] = NULL;
    return th_run(argv, outp, errp);
}

/* Runs fexctl in machine 'i' and fails unless it exits 0 and its stdout
 * holds 'want' (NULL: anything). */
#define FX(i, want, ...) fexctl_ok(__LINE__, i, want, \
                                   (char *[]) { __VA_ARGS__, NULL })

static void
fexctl_ok(int line, int i, const char *want, char *const args[])
{
    char *out = NULL, *errs = NULL;
    int rc = fexctl_in(i, &out, &errs, args);

    if (rc || (want && !strstr(out, want))) {
        fail_msg("line %d: fexctl %s %s: exit %d, wanted '%s': %s%s", line,
                 args[0], args[1], rc, want ? want : "", out, errs);
    }
    free(out);
    free(errs);
}

/* Both agents are registered and up, as fexctl on m3 sees them. */
static int
agents_up(void *arg)
{
    char *out = NULL;
    struct json_object *doc, *hosts;
    int up = 0;

    (void) arg;
    if (fexctl_in(3, &out, NULL, (char *[]) { "--json", "host", "list",
                                              NULL }) == 0
        && (doc = json_tokener_parse(out))) {
        hosts = th_jarr(doc, "hosts");
        for (size_t i = 0; hosts && i < json_object_array_length(hosts);
             i++) {
            up += !strcmp(th_jstr(json_object_array_get_idx(hosts, i),
                                  "state"), "up");
        }
        json_object_put(doc);
    }
    free(out);
    return up == 2;
}

/* The contents of machine 'i''s log (the caller frees it). */
static char *
log_of(int i)
{
    char path[4096], *buf = calloc(1, 1 << 20);
    FILE *f;

    mpath(i, "daemon.log", path, sizeof path);
    f = fopen(path, "r");
    assert_non_null(f);
    buf[fread(buf, 1, (1 << 20) - 1, f)] = '\0';
    fclose(f);
    return buf;
}

/* No TCP socket in namespace 'ns' is on a loopback address. */
static int
no_loopback(const char *ns)
{
    char *out = th_ns_sockets(ns);
    int ok = strstr(out, "127.") == NULL;

    if (!ok) {
        fprintf(stderr, "in %s, on loopback:\n%s", ns, out);
    }
    free(out);
    return ok;
}

/* fabricd on one machine, agents on two others, an operator on a fourth:
 * a VM created on m1 and migrated to m2 runs on m2 once; the page stream
 * listened within m2's port range, and m2, which listens on 0.0.0.0,
 * offered m1 its address on the lab network; no socket of fabricd or m1
 * is on any other address, and none of m2's on loopback. */
static void
machines_run_a_fabric_and_migrate(void **state)
{
    char buf[8192], *log;

    (void) state;
    start_fabricd();
    for (int i = 1; i <= 3; i++) {
        give_secret(i, 0);
    }
    for (int i = 1; i <= 2; i++) {
        pids[i] = start_in(i, agent_argv(i, buf, sizeof buf));
        assert_true(th_wait(is_ready, &(struct ready) { i, pids[i] },
                            WAIT_MS));
    }
    assert_true(th_wait(agents_up, NULL, WAIT_MS));
    FX(3, "198.18.1.11:7810", "host", "list");

    FX(3, NULL, "host", "passthrough", "m1", "--enable", "0000:0b:00.0");
    FX(3, NULL, "host", "passthrough", "m2", "--enable", "0000:0b:00.0");
    FX(3, NULL, "host", "reboot", "m1");
    FX(3, NULL, "host", "reboot", "m2");
    FX(3, NULL, "profile", "create", "hp", "--vlan", "10",
       "--high-performance");
    FX(3, NULL, "vm", "create", "a", "--host", "m1", "--memory", "32",
       "--nic", "hp,directpath");
    FX(3, NULL, "vm", "start", "a");
    FX(0, "completed", "migrate", "a", "--to", "m2");
    FX(3, "\"host\":\"m2\"", "--json", "vm", "list");

    log = log_of(2);
    assert_non_null(strstr(log, "listening on 198.18.1.12:782"));
    free(log);
    assert_true(th_ns_sockets_within(ns[0], "198.18.1."));
    assert_true(th_ns_sockets_within(ns[1], "198.18.1."));
    assert_true(no_loopback(ns[2]));
}

/* An agent whose secret is not the fabric's: fabricd refuses it at the
 * handshake, naming both keys' fingerprints in one log line; the agent
 * says why and exits 1 (retrying cannot help); fabricd serves on. */
static void
agent_with_the_wrong_secret_is_refused(void **state)
{
    char buf[8192], path[4096], line[512], *log;
    struct auth_key ours, theirs;
    struct fx_err err;
    uint64_t deadline;
    int status = 0;
    pid_t pid;

    (void) state;
    start_fabricd();
    give_secret(1, 1);
    give_secret(3, 0);
    mpath(0, "secret", path, sizeof path);
    assert_int_equal(auth_key_load(path, &ours, &err), 0);
    mpath(1, "secret", path, sizeof path);
    assert_int_equal(auth_key_load(path, &theirs, &err), 0);
    assert_string_not_equal(ours.fp, theirs.fp);

    pid = pids[1] = start_in(1, agent_argv(1, buf, sizeof buf));
    /* Our child: wait for its status with a deadline. */
    deadline = fx_time_now_ms() + WAIT_MS;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        assert_true(fx_time_now_ms() < deadline);
        fx_time_sleep_ms(10);
    }
    pids[1] = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);

    log = log_of(0);
    snprintf(line, sizeof line, "refused 198.18.1.11:");
    assert_non_null(strstr(log, line));
    snprintf(line, sizeof line, "wrong lab secret: the peer's key "
             "fingerprint is %s, ours %s", theirs.fp, ours.fp);
    assert_non_null(strstr(log, line));
    free(log);
    log = log_of(1);
    assert_non_null(strstr(log, "wrong lab secret"));
    free(log);
    FX(3, "NAME", "host", "list");      /* fabricd serves on. */
    assert_true(fx_proc_alive(pids[0]));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(machines_run_a_fabric_and_migrate),
        T(agent_with_the_wrong_secret_is_refused),
    };

    if (sodium_init() < 0) {
        return 1;
    }
    return cmocka_run_group_tests_name("netns machines", tests, NULL, NULL);
}
