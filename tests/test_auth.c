/* The lab secret's handshake (proto/auth.h), end to end between a client
 * and a server in memory: who is proven, and every way it must refuse
 * (another key, no key against a key, a replayed proof, a forged server,
 * a role not served, garbage, a name too long), and the secret file's
 * rules. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "auth.h"
#include "fx_err.h"
#include "harness.h"

struct t_ctx {
    char *dir;
    struct auth_key k1, k2, none;
};

static int
setup(void **state)
{
    struct t_ctx *t = calloc(1, sizeof *t);
    char path[4096];
    struct fx_err err;

    t->dir = th_mkdtemp("auth");
    for (int i = 1; i <= 2; i++) {
        snprintf(path, sizeof path, "%s/secret%d", t->dir, i);
        if (auth_key_create(path, &err)
            || auth_key_load(path, i == 1 ? &t->k1 : &t->k2, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
    }
    auth_key_none(&t->none);
    *state = t;
    return 0;
}

static int
teardown(void **state)
{
    struct t_ctx *t = *state;

    th_rmrf(t->dir);
    free(t->dir);
    free(t);
    return 0;
}

static const struct auth_ident agent_h1 = { AUTH_ROLE_AGENT, "h1" };
static const struct auth_ident fabric = { AUTH_ROLE_FABRIC, "" };

/* Runs the handshake between 'c' and 's' to its end, passing every
 * message across; the bytes one side sent are kept in 'log' (for
 * replays).  Returns the client's result; '*src' gets the server's. */
static int
run(struct auth *c, struct auth *s, int *src, struct fx_err *cerr,
    struct fx_err *serr, struct evbuffer *c_out_log)
{
    struct evbuffer *c2s = evbuffer_new(), *s2c = evbuffer_new();
    int rc = 0, srv = 0;

    fx_err_clear(cerr);
    fx_err_clear(serr);
    for (int i = 0; i < 8 && (rc == 0 || srv == 0); i++) {
        if (rc == 0) {
            size_t before = evbuffer_get_length(c2s);

            rc = auth_io(c, s2c, c2s, cerr);
            if (c_out_log) {
                struct evbuffer_ptr p;

                evbuffer_ptr_set(c2s, &p, before, EVBUFFER_PTR_SET);
                for (size_t k = before; k < evbuffer_get_length(c2s); k++) {
                    uint8_t b;

                    evbuffer_copyout_from(c2s, &p, &b, 1);
                    evbuffer_ptr_set(c2s, &p, 1, EVBUFFER_PTR_ADD);
                    evbuffer_add(c_out_log, &b, 1);
                }
            }
        }
        if (srv == 0) {
            srv = auth_io(s, c2s, s2c, serr);
        }
        if (rc < 0 && srv < 0) {
            break;
        }
    }
    evbuffer_free(c2s);
    evbuffer_free(s2c);
    *src = srv;
    return rc;
}

static void
same_secret_proves_both_ends(void **state)
{
    struct t_ctx *t = *state;
    struct auth *c = auth_client_new(&t->k1, &agent_h1);
    struct auth *s = auth_server_new(&t->k1, &fabric, AUTH_ROLES_ALL);
    struct fx_err ce, se;
    int srv;

    assert_null(auth_peer(s));
    assert_int_equal(run(c, s, &srv, &ce, &se, NULL), 1);
    assert_int_equal(srv, 1);
    assert_int_equal(auth_peer(s)->role, AUTH_ROLE_AGENT);
    assert_string_equal(auth_peer(s)->name, "h1");
    assert_int_equal(auth_peer(c)->role, AUTH_ROLE_FABRIC);
    assert_string_equal(auth_peer_fp(s), t->k1.fp);
    auth_destroy(c);
    auth_destroy(s);
}

static void
another_secret_is_refused_naming_both_keys(void **state)
{
    struct t_ctx *t = *state;
    struct auth *c = auth_client_new(&t->k2, &agent_h1);
    struct auth *s = auth_server_new(&t->k1, &fabric, AUTH_ROLES_ALL);
    struct fx_err ce, se;
    int srv;

    assert_int_equal(run(c, s, &srv, &ce, &se, NULL), -EACCES);
    assert_int_equal(srv, -EACCES);
    assert_non_null(strstr(se.msg, t->k1.fp));
    assert_non_null(strstr(se.msg, t->k2.fp));
    /* The client hears why, with both fingerprints. */
    assert_non_null(strstr(ce.msg, "wrong lab secret"));
    assert_non_null(strstr(ce.msg, t->k1.fp));
    assert_null(auth_peer(s));
    assert_null(auth_peer(c));
    auth_destroy(c);
    auth_destroy(s);
}

static void
no_secret_against_a_secret_is_refused(void **state)
{
    struct t_ctx *t = *state;
    struct fx_err ce, se;
    int srv;

    for (int i = 0; i < 2; i++) {
        struct auth *c = auth_client_new(i ? &t->k1 : &t->none, &agent_h1);
        struct auth *s = auth_server_new(i ? &t->none : &t->k1, &fabric,
                                         AUTH_ROLES_ALL);

        assert_int_equal(run(c, s, &srv, &ce, &se, NULL), -EACCES);
        assert_int_equal(srv, -EACCES);
        assert_non_null(strstr(se.msg, "none"));
        auth_destroy(c);
        auth_destroy(s);
    }
}

static void
no_secret_on_both_ends_names_roles_only(void **state)
{
    struct t_ctx *t = *state;
    struct auth *c = auth_client_new(&t->none, &agent_h1);
    struct auth *s = auth_server_new(&t->none, &fabric, AUTH_ROLES_ALL);
    struct fx_err ce, se;
    int srv;

    assert_int_equal(run(c, s, &srv, &ce, &se, NULL), 1);
    assert_int_equal(srv, 1);
    assert_string_equal(auth_peer(s)->name, "h1");
    auth_destroy(c);
    auth_destroy(s);
}

/* What a client sent on one connection, replayed on another: the server's
 * nonce is new there, so the recorded proof is wrong. */
static void
a_replayed_handshake_is_refused(void **state)
{
    struct t_ctx *t = *state;
    struct auth *c = auth_client_new(&t->k1, &agent_h1);
    struct auth *s = auth_server_new(&t->k1, &fabric, AUTH_ROLES_ALL);
    struct evbuffer *log = evbuffer_new(), *out = evbuffer_new();
    struct fx_err ce, se;
    int srv;

    assert_int_equal(run(c, s, &srv, &ce, &se, log), 1);
    auth_destroy(s);
    s = auth_server_new(&t->k1, &fabric, AUTH_ROLES_ALL);
    assert_int_equal(auth_io(s, log, out, &se), -EACCES);
    assert_non_null(strstr(se.msg, "wrong proof"));
    assert_null(auth_peer(s));
    evbuffer_free(log);
    evbuffer_free(out);
    auth_destroy(c);
    auth_destroy(s);
}

/* A server that answers without the key (its proof forged) is refused
 * by the client before it proves anything itself. */
static void
a_server_without_the_secret_is_refused(void **state)
{
    struct t_ctx *t = *state;
    struct auth *c = auth_client_new(&t->k1, &agent_h1);
    struct auth *s = auth_server_new(&t->k1, &fabric, AUTH_ROLES_ALL);
    struct evbuffer *c2s = evbuffer_new(), *s2c = evbuffer_new();
    uint8_t msg[AUTH_MSG_MAX];
    struct fx_err err;
    size_t n;

    assert_int_equal(auth_io(c, s2c, c2s, &err), 0);
    assert_int_equal(auth_io(s, c2s, s2c, &err), 0);
    n = evbuffer_remove(s2c, msg, sizeof msg);
    msg[60] ^= 1;                  /* A byte of the server's MAC. */
    evbuffer_add(s2c, msg, n);
    assert_int_equal(auth_io(c, s2c, c2s, &err), -EACCES);
    assert_non_null(strstr(err.msg, "does not prove"));
    assert_int_equal(evbuffer_get_length(c2s), 0);
    evbuffer_free(c2s);
    evbuffer_free(s2c);
    auth_destroy(c);
    auth_destroy(s);
}

static void
a_role_not_served_is_refused(void **state)
{
    struct t_ctx *t = *state;
    const struct auth_ident op = { AUTH_ROLE_OPERATOR, "" };
    struct auth *c = auth_client_new(&t->k1, &op);
    struct auth *s = auth_server_new(&t->k1, &fabric,
                                     AUTH_ROLE_MASK(AUTH_ROLE_AGENT));
    struct fx_err ce, se;
    int srv;

    assert_int_equal(run(c, s, &srv, &ce, &se, NULL), -EACCES);
    assert_non_null(strstr(ce.msg, "role 'operator' is not served"));
    auth_destroy(c);
    auth_destroy(s);
}

/* An agent must name its host, with a valid name. */
static void
malformed_hellos_are_refused(void **state)
{
    struct t_ctx *t = *state;
    static const char *const bad[] = { "", "h 1", "h1/..", };
    uint8_t junk[] = "GET / HTTP/1.1\r\n\r\n";
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    struct fx_err ce, se;
    struct auth *s;
    int srv;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct auth_ident me = { AUTH_ROLE_AGENT, "" };
        struct auth *c;

        snprintf(me.name, sizeof me.name, "%s", bad[i]);
        c = auth_client_new(&t->k1, &me);
        s = auth_server_new(&t->k1, &fabric, AUTH_ROLES_ALL);
        assert_int_equal(run(c, s, &srv, &ce, &se, NULL), -EACCES);
        assert_int_equal(srv, -EPROTO);
        auth_destroy(c);
        auth_destroy(s);
    }
    s = auth_server_new(&t->k1, &fabric, AUTH_ROLES_ALL);
    evbuffer_add(in, junk, sizeof junk - 1);
    assert_int_equal(auth_io(s, in, out, &se), -EPROTO);
    auth_destroy(s);
    evbuffer_free(in);
    evbuffer_free(out);
}

/* A RESULT's reason is at most AUTH_RESULT_MSG_MAX (100) bytes as a
 * server writes it; one that claims more (up to the 154 that still fit
 * in AUTH_MSG_MAX) is not a fexsim handshake, at either end: it was
 * copied into a 101-byte buffer on the stack, before the peer had proven
 * anything. */
static void
an_overlong_result_is_refused_unread(void **state)
{
    struct t_ctx *t = *state;
    uint8_t result[AUTH_MSG_MAX] = "FXA4";
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    struct fx_err err;
    struct auth *c = auth_client_new(&t->k1, &agent_h1);
    struct auth *s = auth_server_new(&t->k1, &fabric, AUTH_ROLES_ALL);

    memset(result + 6, 'x', sizeof result - 6);
    result[4] = 1;
    result[5] = (uint8_t) (sizeof result - 6);
    assert_int_equal(auth_io(c, in, out, &err), 0);       /* Its HELLO. */
    evbuffer_add(in, result, sizeof result);
    assert_int_equal(auth_io(c, in, out, &err), -EPROTO);
    evbuffer_add(in, result, sizeof result);
    assert_int_equal(auth_io(s, in, out, &err), -EPROTO);
    auth_destroy(c);
    auth_destroy(s);
    /* The longest reason a server writes is still read. */
    c = auth_client_new(&t->k1, &agent_h1);
    assert_int_equal(auth_io(c, in, out, &err), 0);
    evbuffer_drain(in, evbuffer_get_length(in));
    result[5] = 100;
    evbuffer_add(in, result, 6 + 100);
    assert_int_equal(auth_io(c, in, out, &err), -EACCES);
    assert_int_equal(strlen(err.msg), strlen("refused: ") + 100);
    auth_destroy(c);
    evbuffer_free(in);
    evbuffer_free(out);
}

/* Whatever follows the handshake in the same read is the protocol's. */
static void
bytes_after_the_handshake_are_left_alone(void **state)
{
    struct t_ctx *t = *state;
    struct auth *c = auth_client_new(&t->k1, &agent_h1);
    struct auth *s = auth_server_new(&t->k1, &fabric, AUTH_ROLES_ALL);
    struct evbuffer *c2s = evbuffer_new(), *s2c = evbuffer_new();
    struct fx_err err;
    char rest[8] = "";

    assert_int_equal(auth_io(c, s2c, c2s, &err), 0);
    assert_int_equal(auth_io(s, c2s, s2c, &err), 0);
    assert_int_equal(auth_io(c, s2c, c2s, &err), 0);
    evbuffer_add(c2s, "NEXT", 4);
    assert_int_equal(auth_io(s, c2s, s2c, &err), 1);
    evbuffer_add(s2c, "DATA", 4);
    assert_int_equal(auth_io(c, s2c, c2s, &err), 1);
    assert_int_equal(evbuffer_remove(c2s, rest, 4), 4);
    assert_string_equal(rest, "NEXT");
    assert_int_equal(evbuffer_remove(s2c, rest, 4), 4);
    assert_string_equal(rest, "DATA");
    evbuffer_free(c2s);
    evbuffer_free(s2c);
    auth_destroy(c);
    auth_destroy(s);
}

static void
secret_files_must_be_private_and_long(void **state)
{
    struct t_ctx *t = *state;
    struct auth_key k;
    struct fx_err err;
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/secret1", t->dir);
    assert_int_equal(auth_key_create(path, &err), -EEXIST);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(auth_key_load(path, &k, &err), -EPERM);
    assert_non_null(strstr(err.msg, "chmod 600"));
    snprintf(path, sizeof path, "%s/short", t->dir);
    f = fopen(path, "w");
    fputs("tooshort\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(auth_key_load(path, &k, &err), -EINVAL);
    snprintf(path, sizeof path, "%s/absent", t->dir);
    assert_int_equal(auth_key_load(path, &k, &err), -ENOENT);
    assert_non_null(strstr(err.msg, path));
    /* Two secrets, two fingerprints; the file's bytes, not its name. */
    assert_string_not_equal(t->k1.fp, t->k2.fp);
    assert_int_equal(strlen(t->k1.fp), 16);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(same_secret_proves_both_ends),
        T(another_secret_is_refused_naming_both_keys),
        T(no_secret_against_a_secret_is_refused),
        T(no_secret_on_both_ends_names_roles_only),
        T(a_replayed_handshake_is_refused),
        T(a_server_without_the_secret_is_refused),
        T(a_role_not_served_is_refused),
        T(malformed_hellos_are_refused),
        T(an_overlong_result_is_refused_unread),
        T(bytes_after_the_handshake_are_left_alone),
        T(secret_files_must_be_private_and_long),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
