/* fabricd's HTTP server beyond loopback: only with the lab secret, and
 * then only to requests that carry it as a bearer token.  The test runs
 * in a network namespace of its own (unshare), where 198.18.99.1 (the
 * benchmarking range, RFC 2544) is an address that is not loopback and
 * exists nowhere else; the namespace goes with the test's process. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define SECRET "a lab secret for the http test, 0123456789"
#define ADDR "198.18.99.1"
#define WAIT_MS 20000

static char *dir;
static char http[64];
static pid_t fabricd;

/* GET /metrics from 'http' with 'auth' as its Authorization header (NULL:
 * none); returns the status code. */
static int
get_metrics(const char *auth)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    char req[512], resp[256] = "";
    const char *colon = strrchr(http, ':');
    size_t len = 0;
    int fd, status = 0;
    ssize_t n;

    assert_int_equal(inet_pton(AF_INET, ADDR, &sa.sin_addr), 1);
    sa.sin_port = htons((uint16_t) atoi(colon + 1));
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    snprintf(req, sizeof req, "GET /metrics HTTP/1.0\r\n%s%s%s\r\n",
             auth ? "Authorization: " : "", auth ? auth : "",
             auth ? "\r\n" : "");
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t) strlen(req));
    while (len < sizeof resp - 1
           && (n = read(fd, resp + len, sizeof resp - 1 - len)) > 0) {
        len += (size_t) n;
    }
    close(fd);
    resp[len] = '\0';
    assert_int_equal(sscanf(resp, "HTTP/1.%*d %d", &status), 1);
    return status;
}

static int
http_file_written(void *arg)
{
    char path[4096];
    FILE *f;
    int ok;

    (void) arg;
    if (waitpid(fabricd, NULL, WNOHANG) == fabricd) {
        fabricd = 0;            /* Exited: its log says why. */
        return 1;
    }
    snprintf(path, sizeof path, "%s/http.addr", dir);
    f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    ok = fscanf(f, "%63s", http) == 1;
    fclose(f);
    return ok;
}

static int
setup(void **state)
{
    char bin[4096], secret[4096], addr_file[4096], log[4096];
    FILE *f;

    (void) state;
    if (unshare(CLONE_NEWNET)) {
        fprintf(stderr, "unshare(CLONE_NEWNET): %s (this test needs "
                "root)\n", strerror(errno));
        return -1;
    }
    if (th_tool(NULL, NULL, "ip", "link", "set", "lo", "up", NULL)
        || th_tool(NULL, NULL, "ip", "addr", "add", ADDR "/32", "dev", "lo",
                   NULL)) {
        return -1;
    }
    dir = th_mkdtemp("httpauth");
    snprintf(secret, sizeof secret, "%s/secret", dir);
    snprintf(addr_file, sizeof addr_file, "%s/http.addr", dir);
    snprintf(log, sizeof log, "%s/fabricd.log", dir);
    f = fdopen(open(secret, O_WRONLY | O_CREAT | O_EXCL, 0600), "w");
    if (!f) {
        return -1;
    }
    fputs(SECRET "\n", f);
    fclose(f);
    th_bin(bin, sizeof bin, "fabricd");
    fabricd = fork();
    if (fabricd == 0) {
        execl(bin, bin, "--listen", "127.0.0.1:0", "--http", ADDR ":0",
              "--http-addr-file", addr_file, "--secret-file", secret,
              "--log-file", log, (char *) NULL);
        _exit(127);
    }
    return fabricd <= 0 || !th_wait(http_file_written, NULL, WAIT_MS)
           || fabricd == 0 ? -1 : 0;
}

static int
teardown(void **state)
{
    (void) state;
    if (fabricd > 0) {
        kill(fabricd, SIGTERM);
        waitpid(fabricd, NULL, 0);
    }
    th_rmrf(dir);
    free(dir);
    return 0;
}

static void
the_secret_as_bearer_token_is_served(void **state)
{
    (void) state;
    assert_int_equal(get_metrics("Bearer " SECRET), 200);
}

static void
no_token_or_a_wrong_one_is_refused(void **state)
{
    (void) state;
    assert_int_equal(get_metrics(NULL), 401);
    assert_int_equal(get_metrics("Bearer not the lab secret at all"), 401);
    assert_int_equal(get_metrics("Basic " SECRET), 401);
    assert_int_equal(get_metrics("Bearer "), 401);
    /* And it goes on serving who has it. */
    assert_int_equal(get_metrics("Bearer " SECRET), 200);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_secret_as_bearer_token_is_served),
        cmocka_unit_test(no_token_or_a_wrong_one_is_refused),
    };

    return cmocka_run_group_tests_name("http auth", tests, setup, teardown);
}
