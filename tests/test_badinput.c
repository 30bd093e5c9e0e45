/* Integration tests: a real fabricd fed bad input over TCP keeps serving
 * its other clients, answers what deserves an answer, and closes a
 * garbage connection with one log line. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "fabric.pb-c.h"
#include "frame.h"
#include "fx_proc.h"
#include "fx_addr.h"
#include "harness.h"
#include "rpc.pb-c.h"
#include "vmfex.pb-c.h"

struct fab {
    char *dir;
    pid_t pid;
    char addr[64];
    char log[4096];
    int fd;                  /* A connection owned by the test. */
};

static int
addr_written(void *arg)
{
    struct fab *f = arg;
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof path, "%s/fabric.addr", f->dir);
    fp = fopen(path, "r");
    if (!fp) {
        return 0;
    }
    if (!fgets(f->addr, sizeof f->addr, fp)) {
        f->addr[0] = '\0';
    }
    fclose(fp);
    f->addr[strcspn(f->addr, "\n")] = '\0';
    return f->addr[0] != '\0';
}

/* A connection past the handshake (fabricd runs without a secret here),
 * as an operator: what follows is the test's.  Reads are bounded, so a
 * broken daemon fails the test instead of hanging it. */
static int
tcp_connect(const char *addr)
{
    const struct auth_ident me = { AUTH_ROLE_OPERATOR, "" };
    char why[200];
    int fd = th_proven_socket(addr, NULL, &me, why);

    if (fd < 0) {
        fail_msg("%s", why);
    }
    return fd;
}

static int
setup(void **state)
{
    struct fab *f = calloc(1, sizeof *f);
    char bin[4096], af[4096];
    char *argv[] = { bin, "--listen", "127.0.0.1:0", "--addr-file", af,
                     NULL };

    f->dir = th_mkdtemp("bad");
    th_bin(bin, sizeof bin, "fabricd");
    snprintf(af, sizeof af, "%s/fabric.addr", f->dir);
    snprintf(f->log, sizeof f->log, "%s/fabricd.log", f->dir);
    assert_int_equal(fx_proc_spawn(argv, f->log, &f->pid, NULL), 0);
    assert_true(th_wait(addr_written, f, 10000));
    f->fd = tcp_connect(f->addr);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fab *f = *state;

    close(f->fd);
    assert_int_equal(fx_proc_stop(f->pid, 5000, NULL), 0);
    assert_true(th_logs_clean(f->dir));
    th_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void
send_all(int fd, const void *buf, size_t len)
{
    assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t) len);
}

static void
send_request(int fd, uint8_t version, uint64_t id, const char *method,
             const void *payload, size_t plen)
{
    Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT;
    uint8_t buf[1024];
    size_t n;

    env.id = id;
    env.method = (char *) method;
    env.payload.data = (uint8_t *) payload;
    env.payload.len = plen;
    n = fexsim__v1__envelope__pack(&env, buf + FRAME_HDR_SIZE);
    frame_encode(buf, version, (uint32_t) n);
    send_all(fd, buf, FRAME_HDR_SIZE + n);
}

static int
recv_all(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = recv(fd, (char *) buf + got, len - got, 0);

        if (n <= 0) {
            return -1;
        }
        got += (size_t) n;
    }
    return 0;
}

/* Reads one reply; the caller frees it.  NULL if the peer closed. */
static Fexsim__V1__Envelope *
recv_reply(int fd)
{
    uint8_t hdr[FRAME_HDR_SIZE], body[65536];
    struct frame_hdr h;

    if (recv_all(fd, hdr, sizeof hdr)) {
        return NULL;
    }
    assert_int_equal(frame_decode(hdr, sizeof body, &h, NULL), 0);
    assert_int_equal(recv_all(fd, body, h.length), 0);
    return fexsim__v1__envelope__unpack(NULL, h.length, body);
}

/* True if the daemon closed 'fd' (EOF) rather than answering. */
static int
peer_closed(int fd)
{
    char c;

    return recv(fd, &c, 1, 0) == 0;
}

/* A well-formed ListHosts must still succeed on connection 'fd'. */
static void
check_serving_on(int fd)
{
    Fexsim__V1__Envelope *env;

    send_request(fd, FRAME_VERSION, 99, "Fabric.ListHosts", NULL, 0);
    env = recv_reply(fd);
    assert_non_null(env);
    assert_int_equal(env->id, 99);
    assert_int_equal(env->status, 0);
    fexsim__v1__envelope__free_unpacked(env, NULL);
}

/* ... and on a fresh connection, proof the daemon as a whole serves. */
static void
check_serving(struct fab *f)
{
    int fd = tcp_connect(f->addr);

    check_serving_on(fd);
    close(fd);
}

static int
count_lines(const char *path, const char *needle)
{
    char line[1024];
    int n = 0;
    FILE *fp = fopen(path, "r");

    while (fp && fgets(line, sizeof line, fp)) {
        n += strstr(line, needle) != NULL;
    }
    if (fp) {
        fclose(fp);
    }
    return n;
}

struct log_wait {
    const char *path;
    const char *needle;
};

static int
log_has(void *arg)
{
    struct log_wait *w = arg;

    return count_lines(w->path, w->needle) > 0;
}

static void
random_bytes_close_the_connection_with_one_log_line(void **state)
{
    struct fab *f = *state;
    uint8_t junk[4096];
    struct log_wait w = { f->log, "bad frame magic" };

    srand(42);
    for (size_t i = 0; i < sizeof junk; i++) {
        junk[i] = (uint8_t) rand();
    }
    junk[0] = 0x12;     /* Never the magic by chance. */
    send_all(f->fd, junk, sizeof junk);
    assert_true(peer_closed(f->fd));
    assert_true(th_wait(log_has, &w, 5000));
    assert_int_equal(count_lines(f->log, "closed: "), 1);
    check_serving(f);
}

static void
truncated_frame_then_hangup_leaves_daemon_serving(void **state)
{
    struct fab *f = *state;
    uint8_t hdr[FRAME_HDR_SIZE];

    frame_encode(hdr, FRAME_VERSION, 1000);
    send_all(f->fd, hdr, sizeof hdr);
    send_all(f->fd, "only forty bytes of a thousand-byte body", 40);
    check_serving(f);        /* Others are served while it waits. */
    shutdown(f->fd, SHUT_WR);
    assert_true(peer_closed(f->fd));
    check_serving(f);
}

static void
huge_length_prefix_closes_the_connection(void **state)
{
    struct fab *f = *state;
    uint8_t hdr[FRAME_HDR_SIZE];
    struct log_wait w = { f->log, "exceeds the 4194304-byte limit" };

    frame_encode(hdr, FRAME_VERSION, 100u * 1024 * 1024);
    send_all(f->fd, hdr, sizeof hdr);
    assert_true(peer_closed(f->fd));
    assert_true(th_wait(log_has, &w, 5000));
    check_serving(f);
}

static void
wrong_version_gets_an_error_and_the_connection_goes_on(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__Envelope *env;

    send_request(f->fd, 2, 7, "Fabric.ListHosts", NULL, 0);
    env = recv_reply(f->fd);
    assert_non_null(env);
    assert_int_equal(env->id, 7);
    assert_int_equal(env->status,
                     FEXSIM__V1__STATUS__STATUS_BAD_VERSION);
    assert_non_null(strstr(env->message, "protocol version 2"));
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
}

static void
unknown_method_gets_an_error_and_the_connection_goes_on(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__Envelope *env;

    send_request(f->fd, FRAME_VERSION, 8, "Fabric.Explode", NULL, 0);
    env = recv_reply(f->fd);
    assert_int_equal(env->status,
                     FEXSIM__V1__STATUS__STATUS_UNKNOWN_METHOD);
    assert_string_equal(env->message, "unknown method 'Fabric.Explode'");
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
}

static void
malformed_payload_gets_an_error_and_the_connection_goes_on(void **state)
{
    struct fab *f = *state;
    const uint8_t junk[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00 };
    Fexsim__V1__Envelope *env;

    send_request(f->fd, FRAME_VERSION, 9, "Profiles.Create", junk,
                 sizeof junk);
    env = recv_reply(f->fd);
    assert_int_equal(env->status, FEXSIM__V1__STATUS__STATUS_BAD_PAYLOAD);
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
}

static void
out_of_range_values_get_a_clear_error(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__CreateProfileRequest req =
        FEXSIM__V1__CREATE_PROFILE_REQUEST__INIT;
    Fexsim__V1__PortProfile p = FEXSIM__V1__PORT_PROFILE__INIT;
    uint32_t vlans[] = { 10, 5000 };
    Fexsim__V1__Envelope *env;
    uint8_t buf[256];
    size_t n;

    p.name = "pp";
    p.vlans = vlans;
    p.n_vlans = 2;
    req.profile = &p;
    n = fexsim__v1__create_profile_request__pack(&req, buf);
    send_request(f->fd, FRAME_VERSION, 10, "Profiles.Create", buf, n);
    env = recv_reply(f->fd);
    assert_int_equal(env->status,
                     FEXSIM__V1__STATUS__STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(env->message, "VLAN 5000 out of range"));
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
}

static void
out_of_range_dirty_rate_gets_a_clear_error(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__SetVmRequest req = FEXSIM__V1__SET_VM_REQUEST__INIT;
    Fexsim__V1__Envelope *env;
    uint8_t buf[64];
    size_t n;

    req.name = "v1";
    req.dirty_rate = 1000001;
    n = fexsim__v1__set_vm_request__pack(&req, buf);
    send_request(f->fd, FRAME_VERSION, 11, "Vms.Set", buf, n);
    env = recv_reply(f->fd);
    assert_int_equal(env->status,
                     FEXSIM__V1__STATUS__STATUS_INVALID_ARGUMENT);
    assert_string_equal(env->message, "dirty rate 1000001 is out of range "
                        "0-1000000 page writes/s");
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(random_bytes_close_the_connection_with_one_log_line),
        T(truncated_frame_then_hangup_leaves_daemon_serving),
        T(huge_length_prefix_closes_the_connection),
        T(wrong_version_gets_an_error_and_the_connection_goes_on),
        T(unknown_method_gets_an_error_and_the_connection_goes_on),
        T(malformed_payload_gets_an_error_and_the_connection_goes_on),
        T(out_of_range_values_get_a_clear_error),
        T(out_of_range_dirty_rate_gets_a_clear_error),
    };

    return cmocka_run_group_tests_name("badinput", tests, NULL, NULL);
}
