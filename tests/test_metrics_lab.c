/* GET /metrics against a live lab: the exposition passes promtool's
 * check, its VIF counters equal `vif stats`, its migration figures equal
 * `migrate list` (from the migration's final statistics), nothing is
 * counted as finished while a migration runs, RPC answers are counted by
 * status, and the HTTP server refuses what it does not serve. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fx_time.h"
#include "harness.h"

#define WAIT_MS 30000

static char *dir;
static char http[64];

#define FX(rc, want, ...) th_fexctl_check(dir, __LINE__, rc, want, \
                                          __VA_ARGS__, NULL)

/* Sends 'request' (a whole HTTP/1.0 request) to 'addr' and returns the
 * response's body (caller frees) with its status code in '*statusp'. */
static char *
http_send(const char *addr, const char *request, int *statusp)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    char host[64], *resp = NULL, *body;
    const char *colon = strrchr(addr, ':');
    size_t len = 0, cap = 0;
    int fd;

    assert_non_null(colon);
    snprintf(host, sizeof host, "%.*s", (int) (colon - addr), addr);
    assert_int_equal(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    sa.sin_port = htons((uint16_t) atoi(colon + 1));
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(write(fd, request, strlen(request)),
                     (ssize_t) strlen(request));
    for (;;) {
        ssize_t n;

        if (cap - len < 4096) {
            cap = cap * 2 + 8192;
            resp = realloc(resp, cap);
            assert_non_null(resp);
        }
        n = read(fd, resp + len, cap - len - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        assert_true(n >= 0);
        if (n == 0) {
            break;
        }
        len += (size_t) n;
    }
    close(fd);
    resp[len] = '\0';
    assert_int_equal(sscanf(resp, "HTTP/1.%*d %d", statusp), 1);
    body = strstr(resp, "\r\n\r\n");
    assert_non_null(body);
    body = strdup(body + 4);
    free(resp);
    return body;
}

/* GET /metrics from the lab's fabricd; fails unless it answers 200. */
static char *
scrape(void)
{
    int status;
    char *body = http_send(http, "GET /metrics HTTP/1.0\r\n\r\n", &status);

    assert_int_equal(status, 200);
    return body;
}

/* The value of sample 'name' (with its labels, as rendered) in 'text';
 * NAN if there is none. */
static double
sample(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p += !!p) {
        if (!strncmp(p, name, n) && p[n] == ' ') {
            return strtod(p + n + 1, NULL);
        }
    }
    return NAN;
}

static double
vif_sample(const char *text, const char *family, int64_t vif,
           const char *vm, const char *host, const char *reason)
{
    char name[256];

    if (reason) {
        snprintf(name, sizeof name, "%s{vif=\"%lld\",host=\"%s\",vm=\"%s\","
                 "reason=\"%s\"}", family, (long long) vif, host, vm, reason);
    } else {
        snprintf(name, sizeof name, "%s{vif=\"%lld\",host=\"%s\",vm=\"%s\"}",
                 family, (long long) vif, host, vm);
    }
    return sample(text, name);
}

/* promtool (Debian's prometheus package) accepts 'text'. */
static void
assert_promtool_accepts(const char *text)
{
    char path[4096], cmd[4200];
    FILE *f;
    int rc;

    snprintf(path, sizeof path, "%s/metrics.txt", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' 2>&1", path);
    rc = system(cmd);
    if (rc != 0) {
        fail_msg("promtool check metrics failed (exit %d) on %s; is "
                 "Debian's prometheus installed (scripts/setup-debian)?",
                 rc, path);
    }
}

static struct json_object *
migration(int64_t id)
{
    struct json_object *arr = th_fexctl_json(dir, "migrate", "list", NULL);

    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *m = json_object_array_get_idx(arr, i);

        if (th_jint(m, "id") == id) {
            json_object_get(m);
            json_object_put(arr);
            return m;
        }
    }
    fail_msg("migration %lld is not listed", (long long) id);
    return NULL;
}

static int
finished(const char *state)
{
    return !strcmp(state, "completed") || !strcmp(state, "failed")
           || !strcmp(state, "cancelled");
}

static int
setup(void **state)
{
    struct json_object *st;
    const char *h;

    (void) state;
    dir = th_mkdtemp("metricslab");
    if (th_lab_up(dir, 2, NULL)) {
        return -1;
    }
    st = th_fexctl_json(dir, "lab", "status", "--dir", dir, NULL);
    h = th_jstr(json_object_array_get_idx(th_jarr(st, "daemons"), 0),
                "http");
    snprintf(http, sizeof http, "%s", h ? h : "");
    json_object_put(st);
    if (!http[0] || th_lab_passthrough(dir, 1, 2)) {
        return -1;
    }
    return th_fexctl(NULL, NULL, "--lab", dir, "profile", "create", "web",
                     "--vlan", "100", "--high-performance", NULL)
           || th_fexctl(NULL, NULL, "--lab", dir, "vm", "create", "vm1",
                        "--host", "h1", "--memory", "64", "--nic",
                        "web,directpath", NULL)
           || th_fexctl(NULL, NULL, "--lab", dir, "vm", "create", "vm2",
                        "--host", "h2", "--memory", "64", "--nic",
                        "web,directpath", NULL)
           || th_fexctl(NULL, NULL, "--lab", dir, "vm", "start", "vm1", NULL)
           || th_fexctl(NULL, NULL, "--lab", dir, "vm", "start", "vm2", NULL);
}

static int
teardown(void **state)
{
    int clean;

    (void) state;
    th_lab_down(dir);
    clean = th_logs_clean(dir);
    th_rmrf(dir);
    free(dir);
    return clean ? 0 : -1;
}

/* While the migration runs (so listed before and after the scrape), it
 * is not counted as finished; once it completed, the counters and
 * histograms hold its final statistics, exactly. */
static void
a_migration_is_counted_once_it_finished(void **state)
{
    struct json_object *m;
    char *out = NULL, *text;
    int64_t id;
    int seen_running = 0;
    uint64_t deadline = fx_time_now_ms() + WAIT_MS;

    (void) state;
    FX(0, NULL, "traffic", "start", "vm1", "vm2", "--rate", "1000",
       "--size", "256");
    assert_int_equal(th_fexctl(&out, NULL, "--lab", dir, "migrate", "vm1",
                               "--to", "h2", "--max-bandwidth", "16",
                               "--no-wait", NULL), 0);
    id = strtoll(out + strcspn(out, "0123456789"), NULL, 10);
    free(out);
    assert_true(id > 0);
    for (;;) {
        const char *before, *after;
        struct json_object *m2;

        m = migration(id);
        before = th_jstr(m, "state");
        if (finished(before)) {
            break;
        }
        text = scrape();
        m2 = migration(id);
        after = th_jstr(m2, "state");
        if (!finished(after)) {
            assert_true(sample(text, "fexsim_migrations_total"
                               "{result=\"completed\"}") == 0);
            assert_true(sample(text, "fexsim_migration_downtime_seconds_"
                               "count") == 0);
            seen_running = 1;
        }
        json_object_put(m2);
        json_object_put(m);
        free(text);
        assert_true(fx_time_now_ms() < deadline);
        fx_time_sleep_ms(100);
    }
    assert_string_equal(th_jstr(m, "state"), "completed");
    assert_true(seen_running);
    text = scrape();
    assert_promtool_accepts(text);
    assert_true(sample(text, "fexsim_migrations_total{result=\"completed\"}")
                == 1);
    assert_true(sample(text, "fexsim_migrations_total{result=\"failed\"}")
                == 0);
    assert_true(sample(text, "fexsim_migration_downtime_seconds_count")
                == 1);
    assert_true(fabs(sample(text, "fexsim_migration_downtime_seconds_sum")
                     - (double) th_jint(m, "downtime_us") / 1e6) < 2e-6);
    assert_true(sample(text, "fexsim_migration_duration_seconds_count")
                == 1);
    assert_true(fabs(sample(text, "fexsim_migration_duration_seconds_sum")
                     - (double) th_jint(m, "total_ms") / 1e3) < 2e-3);
    assert_true(sample(text, "fexsim_migration_sent_bytes_total")
                == (double) th_jint(m, "sent_bytes"));
    assert_true(sample(text, "fexsim_migration_duration_seconds_bucket"
                       "{le=\"+Inf\"}") == 1);
    assert_true(sample(text, "fexsim_hosts{state=\"up\"}") == 2);
    assert_true(sample(text, "fexsim_vms{state=\"running\"}") == 2);
    json_object_put(m);
    free(text);
    FX(0, NULL, "traffic", "stop");
}

/* After traffic stopped, each VIF's counters equal `vif stats`, read
 * before and after the scrape (and equal, so nothing moved between). */
static void
vif_counters_equal_vif_stats(void **state)
{
    struct json_object *before, *after, *vifs, *doc, *list;
    uint64_t deadline = fx_time_now_ms() + WAIT_MS;
    char *text;
    static const char *const reasons[] = {
        "vif_down", "vlan_mismatch", "no_destination", "no_uplink",
        "queue_full", "malformed", "wrong_host",
    };
    int64_t rx_total = 0;

    (void) state;
    /* The last frames sent before `traffic stop` may still be on their
     * way: scrape between two equal reads. */
    for (;;) {
        before = th_fexctl_json(dir, "vif", "stats", NULL);
        text = scrape();
        after = th_fexctl_json(dir, "vif", "stats", NULL);
        if (!strcmp(json_object_to_json_string(before),
                    json_object_to_json_string(after))) {
            break;
        }
        json_object_put(before);
        json_object_put(after);
        free(text);
        assert_true(fx_time_now_ms() < deadline);
        fx_time_sleep_ms(50);
    }
    vifs = th_jarr(after, "vifs");
    doc = th_fexctl_json(dir, "vif", "list", NULL);
    list = th_jarr(doc, "vifs");
    assert_true(json_object_array_length(vifs) >= 2);
    for (size_t i = 0; i < json_object_array_length(vifs); i++) {
        struct json_object *v = json_object_array_get_idx(vifs, i), *drops;
        const char *host = NULL;
        int64_t id = th_jint(v, "id");

        for (size_t k = 0; k < json_object_array_length(list); k++) {
            struct json_object *l = json_object_array_get_idx(list, k);

            if (th_jint(l, "id") == id) {
                host = th_jstr(l, "host");
            }
        }
        assert_non_null(host);
#define SAME(fam, key) \
    assert_true(vif_sample(text, fam, id, th_jstr(v, "vm"), host, NULL) \
                == (double) th_jint(v, key))
        SAME("fexsim_vif_received_frames_total", "rx_frames");
        SAME("fexsim_vif_received_bytes_total", "rx_bytes");
        SAME("fexsim_vif_transmitted_frames_total", "tx_frames");
        SAME("fexsim_vif_transmitted_bytes_total", "tx_bytes");
#undef SAME
        assert_true(json_object_object_get_ex(v, "drops", &drops));
        for (size_t r = 0; r < sizeof reasons / sizeof *reasons; r++) {
            assert_true(vif_sample(text, "fexsim_vif_dropped_frames_total",
                                   id, th_jstr(v, "vm"), host, reasons[r])
                        == (double) th_jint(drops, reasons[r]));
        }
        rx_total += th_jint(v, "rx_frames");
    }
    json_object_put(doc);
    assert_true(rx_total > 0);          /* The traffic was counted. */
    json_object_put(before);
    json_object_put(after);
    free(text);
}

/* Each answer is counted under its method and status. */
static void
rpc_answers_are_counted_by_status(void **state)
{
    static const char nf[] = "fexsim_rpc_calls_total{method=\"Vms.Start\","
                             "status=\"NOT_FOUND\"}";
    static const char ok[] = "fexsim_rpc_calls_total{method=\"Vms.List\","
                             "status=\"OK\"}";
    char *t0 = scrape(), *t1;
    double nf0 = sample(t0, nf), ok0 = sample(t0, ok);

    (void) state;
    FX(1, "not found", "vm", "start", "nope");
    FX(0, NULL, "vm", "list");
    t1 = scrape();
    assert_true((isnan(nf0) ? 0 : nf0) + 1 == sample(t1, nf));
    assert_true(ok0 + 1 == sample(t1, ok));
    free(t0);
    free(t1);
}

/* Another path, another method: refused with the status HTTP has for it;
 * the server goes on serving. */
static void
http_refuses_what_it_does_not_serve(void **state)
{
    int status;
    char *body;

    (void) state;
    body = http_send(http, "GET /nothing HTTP/1.0\r\n\r\n", &status);
    assert_int_equal(status, 404);
    free(body);
    body = http_send(http, "POST /metrics HTTP/1.0\r\n"
                     "Content-Length: 0\r\n\r\n", &status);
    assert_int_equal(status, 501);
    free(body);
    body = http_send(http, "garbage\r\n\r\n", &status);
    assert_int_equal(status, 400);
    free(body);
    free(scrape());
}

/* A fabricd without a lab secret refuses to serve HTTP beyond loopback,
 * and a bad address is a clear error; both before serving anything. */
static void
http_beyond_loopback_needs_the_secret(void **state)
{
    char bin[4096], *err = NULL;
    char *argv[] = { bin, "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0",
                     NULL };

    (void) state;
    th_bin(bin, sizeof bin, "fabricd");
    assert_int_equal(th_run(argv, NULL, &err), 1);
    assert_non_null(strstr(err, "without a lab secret"));
    free(err);
    argv[4] = "nonsense";
    assert_true(th_run(argv, NULL, &err) != 0);
    assert_non_null(strstr(err, "nonsense"));
    free(err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_migration_is_counted_once_it_finished),
        cmocka_unit_test(vif_counters_equal_vif_stats),
        cmocka_unit_test(rpc_answers_are_counted_by_status),
        cmocka_unit_test(http_refuses_what_it_does_not_serve),
        cmocka_unit_test(http_beyond_loopback_needs_the_secret),
    };

    return cmocka_run_group_tests_name("metrics lab", tests, setup,
                                       teardown);
}
