/* Benchmark: what the topology page's event stream costs the data plane.
 * A lab of two hosts, a flow vm1 (h1) -> vm2 (h2) asking for more frames
 * than the path carries, and a churn of VMs defined and deleted on h1 (so
 * that events flow all the time): frames/s received with 16 pages
 * following GET /api/events, beside the same without pages, measured in
 * the same run (alternating, best of each), and the ratio.  Also how many
 * bytes of events the pages read, so that the stream was really busy. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fx_time.h"
#include "harness.h"

#define PAGES 16
#define MEASURE_MS 3000
#define REPS 3

static char *dir;

static void
die(const char *what)
{
    fprintf(stderr, "bench_page: %s\n", what);
    if (dir) {
        th_lab_down(dir);
    }
    exit(1);
}

/* Runs "fexctl --lab DIR ARGS..."; the bench stops if it fails. */
#define fx(...) fx_check(th_fexctl(NULL, NULL, "--lab", dir, __VA_ARGS__))

static void
fx_check(int rc)
{
    if (rc) {
        die("a fexctl command failed");
    }
}

/* Frames vm2 received so far. */
static uint64_t
received(void)
{
    struct json_object *doc = th_fexctl_json(dir, "traffic", "stats", NULL);
    struct json_object *flows = doc ? th_jarr(doc, "flows") : NULL;
    uint64_t n = 0;

    if (!flows) {
        die("traffic stats failed");
    }
    for (size_t i = 0; i < json_object_array_length(flows); i++) {
        n += (uint64_t) th_jint(json_object_array_get_idx(flows, i),
                                "received");
    }
    json_object_put(doc);
    return n;
}

/* A child that defines and deletes VMs on h1 until killed: events.  It
 * stops by itself after ten failures in a row (naming the last). */
static pid_t
churn(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* Never outlive the bench. */
        for (unsigned i = 0, failed = 0; failed < 10; i++) {
            char name[32], *err = NULL;

            snprintf(name, sizeof name, "churn%u", i);
            if (th_fexctl(NULL, &err, "--lab", dir, "vm", "create", name,
                          "--host", "h1", "--memory", "1", NULL)
                || th_fexctl(NULL, &err, "--lab", dir, "vm", "delete", name,
                             NULL)) {
                if (++failed == 10) {
                    fprintf(stderr, "bench_page: churn: %s", err);
                }
            } else {
                failed = 0;
            }
            free(err);
        }
        _exit(1);
    }
    return pid;
}

/* A child holding PAGES event streams open and reading them until
 * killed; it writes the bytes it read to 'fd' then. */
static volatile sig_atomic_t pages_stop;

static void
pages_on_term(int sig)
{
    (void) sig;
    pages_stop = 1;
}

static pid_t
pages(const char *http, int report_fd)
{
    pid_t pid = fork();
    struct pollfd pfd[PAGES];
    uint64_t bytes = 0;
    char buf[65536];

    if (pid) {
        return pid;
    }
    signal(SIGTERM, pages_on_term);
    prctl(PR_SET_PDEATHSIG, SIGTERM);   /* Never outlive the bench. */
    for (int i = 0; i < PAGES; i++) {
        struct sockaddr_in sa = { .sin_family = AF_INET };
        const char *colon = strrchr(http, ':');
        static const char req[] = "GET /api/events HTTP/1.1\r\n"
                                  "Host: fexsim\r\n\r\n";

        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        sa.sin_port = htons((uint16_t) atoi(colon + 1));
        pfd[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        pfd[i].events = POLLIN;
        if (connect(pfd[i].fd, (struct sockaddr *) &sa, sizeof sa)
            || write(pfd[i].fd, req, sizeof req - 1) != sizeof req - 1) {
            _exit(1);
        }
    }
    for (int open = PAGES; !pages_stop && open > 0; ) {
        if (poll(pfd, PAGES, 100) < 0) {
            continue;
        }
        for (int i = 0; i < PAGES; i++) {
            ssize_t n;

            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            n = read(pfd[i].fd, buf, sizeof buf);
            if (n > 0) {
                bytes += (uint64_t) n;
            } else if (n == 0 || errno != EINTR) {
                close(pfd[i].fd);       /* fabricd went: so does the page. */
                pfd[i].fd = -1;
                open--;
            }
        }
    }
    if (write(report_fd, &bytes, sizeof bytes) != sizeof bytes) {
        _exit(1);
    }
    _exit(0);
}

static void
stop(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* Frames/s received over MEASURE_MS, with 'n_pages' (0 or PAGES) pages
 * following; '*page_bytes' what they read. */
static double
measure(const char *http, int n_pages, uint64_t *page_bytes)
{
    int fds[2];
    pid_t p = 0, c;
    uint64_t r0, r1, t0, t1;

    *page_bytes = 0;
    if (pipe(fds)) {
        die("pipe");
    }
    if (n_pages) {
        p = pages(http, fds[1]);
    }
    c = churn();
    fx_time_sleep_ms(300);              /* Let the churn get going. */
    r0 = received();
    t0 = fx_time_now_ms();
    fx_time_sleep_ms(MEASURE_MS);
    r1 = received();
    t1 = fx_time_now_ms();
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    if (p) {
        stop(p);
        if (read(fds[0], page_bytes, sizeof *page_bytes)
            != sizeof *page_bytes) {
            *page_bytes = 0;
        }
    }
    close(fds[0]);
    close(fds[1]);
    return (double) (r1 - r0) * 1000.0 / (double) (t1 - t0);
}

int
main(void)
{
    struct json_object *st;
    char http[64];
    double base = 0, with = 0;
    uint64_t bytes = 0;

    dir = th_mkdtemp("benchpage");
    if (th_lab_up(dir, 2, NULL)) {
        die("lab up failed");
    }
    st = th_fexctl_json(dir, "lab", "status", "--dir", dir, NULL);
    snprintf(http, sizeof http, "%s", th_jstr(json_object_array_get_idx(
                                           th_jarr(st, "daemons"), 0),
                                       "http"));
    json_object_put(st);
    fx_check(th_lab_passthrough(dir, 1, 2));
    fx("profile", "create", "web", "--vlan", "100", "--high-performance",
       NULL);
    fx("vm", "create", "vm1", "--host", "h1", "--memory", "64", "--nic",
       "web,directpath", NULL);
    fx("vm", "create", "vm2", "--host", "h2", "--memory", "64", "--nic",
       "web,directpath", NULL);
    fx("vm", "start", "vm1", NULL);
    fx("vm", "start", "vm2", NULL);
    fx("traffic", "start", "vm1", "vm2", "--rate", "1000000", "--size", "64",
       NULL);
    for (int r = 0; r < REPS; r++) {
        uint64_t b;
        double f = measure(http, 0, &b);

        base = f > base ? f : base;
        f = measure(http, PAGES, &b);
        with = f > with ? f : with;
        bytes = b > bytes ? b : bytes;
    }
    th_lab_down(dir);
    th_rmrf(dir);
    printf("bench_page: 64 B frames h1 -> h2 through fabricd while VMs are "
           "defined and deleted (best of %d runs of %d ms)\n", REPS,
           MEASURE_MS);
    printf("  with %d pages on /api/events: %.0f frames/s (the pages read "
           "%llu KiB of events)\n", PAGES, with,
           (unsigned long long) bytes / 1024);
    printf("  baseline, no page:           %.0f frames/s; ratio %.2f\n",
           base, with / base);
    return 0;
}
