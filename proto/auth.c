/* auth: see auth.h.
 *
 * Messages (integers are single bytes; a fingerprint is its 16 hex
 * digits; names are not NUL-terminated on the wire):
 *
 *   HELLO      "FXA1" version role name_len fp[16] nonce[32] name
 *   CHALLENGE  "FXA2" role name_len fp[16] nonce[32] mac[32] name
 *   PROOF      "FXA3" mac[32]
 *   RESULT     "FXA4" status msg_len msg         (status 0: accepted)
 *
 * The server answers a HELLO it cannot accept (another key, a role it
 * does not serve, a malformed name) with a RESULT saying why instead of a
 * CHALLENGE, so that the client can tell its operator. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "fx_err.h"
#include "fx_name.h"

#define AUTH_VERSION 1
#define AUTH_FP_HEX 16
#define AUTH_HELLO_FIXED (4 + 3 + AUTH_FP_HEX + AUTH_NONCE_SIZE)
#define AUTH_CHAL_FIXED (4 + 2 + AUTH_FP_HEX + AUTH_NONCE_SIZE + AUTH_MAC_SIZE)
#define AUTH_PROOF_SIZE (4 + AUTH_MAC_SIZE)
#define AUTH_RESULT_FIXED (4 + 2)
#define AUTH_RESULT_MSG_MAX 100

static const char auth_magic[4][4] = {
    { 'F', 'X', 'A', '1' }, { 'F', 'X', 'A', '2' },
    { 'F', 'X', 'A', '3' }, { 'F', 'X', 'A', '4' },
};
enum { AUTH_HELLO, AUTH_CHALLENGE, AUTH_PROOF, AUTH_RESULT };

enum auth_state {
    AUTH_SEND_HELLO,      /* Client: nothing sent yet. */
    AUTH_WAIT_CHALLENGE,  /* Client: HELLO sent. */
    AUTH_WAIT_RESULT,     /* Client: PROOF sent. */
    AUTH_WAIT_HELLO,      /* Server: nothing read yet. */
    AUTH_WAIT_PROOF,      /* Server: CHALLENGE sent. */
    AUTH_DONE,
    AUTH_FAILED,
};

struct auth {
    const struct auth_key *key;      /* Borrowed. */
    struct auth_ident me, peer;
    enum auth_state state;
    unsigned roles;                  /* Server: roles it serves. */
    uint8_t my_nonce[AUTH_NONCE_SIZE];
    uint8_t peer_nonce[AUTH_NONCE_SIZE];
    char peer_fp[AUTH_FP_SIZE];
};

/* ---- Keys ---- */

static void
auth_fingerprint(const uint8_t k[AUTH_KEY_SIZE], char fp[AUTH_FP_SIZE])
{
    static const char label[] = "fexsim key fingerprint";
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *) label, sizeof label);
    crypto_hash_sha256_update(&st, k, AUTH_KEY_SIZE);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(fp, AUTH_FP_SIZE, h, AUTH_FP_HEX / 2);
}

void
auth_key_none(struct auth_key *key)
{
    memset(key, 0, sizeof *key);
    key->none = true;
    snprintf(key->fp, sizeof key->fp, "none");
}

/* The secret's bytes, without the newline an editor may leave, are
 * hashed into the key. */
static int
auth_key_from(const uint8_t *buf, size_t len, struct auth_key *key)
{
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'
                   || buf[len - 1] == ' ')) {
        len--;
    }
    if (len < 16) {
        return -EINVAL;
    }
    memset(key, 0, sizeof *key);
    crypto_hash_sha256(key->k, buf, len);
    auth_fingerprint(key->k, key->fp);
    return 0;
}

bool
auth_key_matches(const struct auth_key *key, const char *text)
{
    struct auth_key other;
    bool same;

    if (key->none || sodium_init() < 0
        || auth_key_from((const uint8_t *) text, strlen(text), &other)) {
        return false;
    }
    same = sodium_memcmp(other.k, key->k, AUTH_KEY_SIZE) == 0;
    sodium_memzero(&other, sizeof other);
    return same;
}

int
auth_key_load(const char *path, struct auth_key *key, struct fx_err *err)
{
    uint8_t buf[4096];
    struct stat st;
    ssize_t n;
    int fd, e;

    if (sodium_init() < 0) {
        return fx_err_set(err, -EIO, "libsodium cannot start");
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        e = errno;
        if (fd >= 0) {
            close(fd);
        }
        return fx_err_set(err, -e, "secret file '%s': %s", path,
                          strerror(e));
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return fx_err_set(err, -EPERM, "secret file '%s' can be read by "
                          "others (mode %03o): chmod 600 it", path,
                          (unsigned) (st.st_mode & 0777));
    }
    n = read(fd, buf, sizeof buf);
    e = errno;
    close(fd);
    if (n < 0) {
        return fx_err_set(err, -e, "secret file '%s': %s", path,
                          strerror(e));
    }
    if (auth_key_from(buf, (size_t) n, key)) {
        sodium_memzero(buf, sizeof buf);
        return fx_err_set(err, -EINVAL, "secret file '%s' holds less than "
                          "16 bytes: not a secret", path);
    }
    sodium_memzero(buf, sizeof buf);
    return 0;
}

int
auth_key_create(const char *path, struct fx_err *err)
{
    uint8_t raw[32];
    char hex[2 * sizeof raw + 2];
    int fd, rc = 0;

    if (sodium_init() < 0) {
        return fx_err_set(err, -EIO, "libsodium cannot start");
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return fx_err_set(err, -errno, "cannot create secret file '%s': %s",
                          path, strerror(errno));
    }
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex - 1, raw, sizeof raw);
    strcat(hex, "\n");
    if (write(fd, hex, strlen(hex)) != (ssize_t) strlen(hex) || fsync(fd)) {
        rc = fx_err_set(err, -errno, "cannot write secret file '%s': %s",
                        path, strerror(errno));
        unlink(path);
    }
    close(fd);
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(hex, sizeof hex);
    return rc;
}

const char *
auth_role_name(enum auth_role role)
{
    switch (role) {
    case AUTH_ROLE_OPERATOR: return "operator";
    case AUTH_ROLE_AGENT: return "agent";
    case AUTH_ROLE_PEER: return "peer";
    case AUTH_ROLE_FABRIC: return "fabric";
    }
    return "?";
}

/* ---- The handshake ---- */

static struct auth *
auth_new(const struct auth_key *key, const struct auth_ident *me,
         enum auth_state state, unsigned roles)
{
    struct auth *a = calloc(1, sizeof *a);

    if (!a || sodium_init() < 0) {
        abort();
    }
    a->key = key;
    a->me = *me;
    a->me.name[AUTH_NAME_SIZE - 1] = '\0';
    a->state = state;
    a->roles = roles;
    randombytes_buf(a->my_nonce, sizeof a->my_nonce);
    return a;
}

struct auth *
auth_client_new(const struct auth_key *key, const struct auth_ident *me)
{
    return auth_new(key, me, AUTH_SEND_HELLO, 0);
}

struct auth *
auth_server_new(const struct auth_key *key, const struct auth_ident *me,
                unsigned roles)
{
    return auth_new(key, me, AUTH_WAIT_HELLO, roles);
}

void
auth_destroy(struct auth *a)
{
    if (a) {
        sodium_memzero(a, sizeof *a);
        free(a);
    }
}

const struct auth_ident *
auth_peer(const struct auth *a)
{
    return a->state == AUTH_DONE ? &a->peer : NULL;
}

const char *
auth_peer_fp(const struct auth *a)
{
    return a->peer_fp;
}

/* The proof of 'label' ("client" or "server") over the transcript:
 * both nonces (the client's first), both ends' roles and names. */
static void
auth_mac(const struct auth *a, bool client_side, const char *label,
         uint8_t mac[AUTH_MAC_SIZE])
{
    const struct auth_ident *c = client_side ? &a->me : &a->peer;
    const struct auth_ident *s = client_side ? &a->peer : &a->me;
    const uint8_t *nc = client_side ? a->my_nonce : a->peer_nonce;
    const uint8_t *ns = client_side ? a->peer_nonce : a->my_nonce;
    crypto_auth_hmacsha256_state st;
    uint8_t roles[2] = { (uint8_t) c->role, (uint8_t) s->role };

    crypto_auth_hmacsha256_init(&st, a->key->k, AUTH_KEY_SIZE);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *) "fexsim-auth-1",
                                  13);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *) label,
                                  strlen(label) + 1);
    crypto_auth_hmacsha256_update(&st, nc, AUTH_NONCE_SIZE);
    crypto_auth_hmacsha256_update(&st, ns, AUTH_NONCE_SIZE);
    crypto_auth_hmacsha256_update(&st, roles, sizeof roles);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *) c->name,
                                  strlen(c->name) + 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *) s->name,
                                  strlen(s->name) + 1);
    crypto_auth_hmacsha256_final(&st, mac);
}

/* Reads a name of 'len' wire bytes into 'name': printable, fx_name_valid
 * (or empty where 'may_be_empty'). */
static int
auth_take_name(const uint8_t *p, size_t len, bool may_be_empty,
               char name[AUTH_NAME_SIZE])
{
    if (len >= AUTH_NAME_SIZE) {
        return -EPROTO;
    }
    memcpy(name, p, len);
    name[len] = '\0';
    if (strlen(name) != len) {
        return -EPROTO;               /* A NUL inside. */
    }
    return (len == 0 && may_be_empty) || fx_name_valid(name) ? 0 : -EPROTO;
}

static bool
auth_role_valid(uint8_t r)
{
    return r >= AUTH_ROLE_OPERATOR && r <= AUTH_ROLE_FABRIC;
}

/* Roles that act for a host must name it. */
static bool
auth_role_named(enum auth_role r)
{
    return r == AUTH_ROLE_AGENT || r == AUTH_ROLE_PEER;
}

static size_t
auth_put_hello(struct auth *a, uint8_t *out)
{
    size_t nlen = strlen(a->me.name);

    memcpy(out, auth_magic[AUTH_HELLO], 4);
    out[4] = AUTH_VERSION;
    out[5] = (uint8_t) a->me.role;
    out[6] = (uint8_t) nlen;
    memcpy(out + 7, a->key->none ? "none____________" : a->key->fp,
           AUTH_FP_HEX);
    memcpy(out + 7 + AUTH_FP_HEX, a->my_nonce, AUTH_NONCE_SIZE);
    memcpy(out + AUTH_HELLO_FIXED, a->me.name, nlen);
    return AUTH_HELLO_FIXED + nlen;
}

static size_t
auth_put_result(uint8_t *out, int status, const char *msg)
{
    size_t len = strnlen(msg, AUTH_RESULT_MSG_MAX);

    memcpy(out, auth_magic[AUTH_RESULT], 4);
    out[4] = (uint8_t) status;
    out[5] = (uint8_t) len;
    memcpy(out + AUTH_RESULT_FIXED, msg, len);
    return AUTH_RESULT_FIXED + len;
}

/* A fingerprint as the wire carries it, back into text. */
static void
auth_take_fp(const uint8_t *p, char fp[AUTH_FP_SIZE])
{
    memcpy(fp, p, AUTH_FP_HEX);
    fp[AUTH_FP_HEX] = '\0';
    if (!strcmp(fp, "none____________")) {
        snprintf(fp, AUTH_FP_SIZE, "none");
    }
    for (size_t i = 0; fp[i]; i++) {
        if (fp[i] < 0x20 || fp[i] > 0x7e) {
            fp[i] = '?';
        }
    }
}

/* Server: a whole HELLO at 'in'.  Answers with a CHALLENGE, or a RESULT
 * refusing it. */
static int
auth_on_hello(struct auth *a, const uint8_t *in, uint8_t *out,
              size_t *outlenp, struct fx_err *err)
{
    uint8_t role = in[5];
    size_t nlen = strlen(a->me.name);
    char why[AUTH_RESULT_MSG_MAX + 1];
    int rc = 0;

    auth_take_fp(in + 7, a->peer_fp);
    memcpy(a->peer_nonce, in + 7 + AUTH_FP_HEX, AUTH_NONCE_SIZE);
    if (in[4] != AUTH_VERSION || !auth_role_valid(role)
        || auth_take_name(in + AUTH_HELLO_FIXED, in[6],
                          !auth_role_named(role), a->peer.name)) {
        snprintf(why, sizeof why, "malformed handshake");
        rc = fx_err_set(err, -EPROTO, "malformed handshake (version %u, "
                        "role %u)", in[4], role);
    } else if (strcmp(a->peer_fp, a->key->fp)) {
        snprintf(why, sizeof why, "wrong lab secret: yours has key "
                 "fingerprint %s, ours %s", a->peer_fp, a->key->fp);
        rc = fx_err_set(err, -EACCES, "wrong lab secret: the peer's key "
                        "fingerprint is %s, ours %s", a->peer_fp,
                        a->key->fp);
    } else if (!(a->roles & AUTH_ROLE_MASK(role))) {
        snprintf(why, sizeof why, "role '%s' is not served here",
                 auth_role_name(role));
        rc = fx_err_set(err, -EACCES, "%s", why);
    }
    a->peer.role = (enum auth_role) role;
    if (rc) {
        *outlenp = auth_put_result(out, 1, why);
        return rc;
    }
    memcpy(out, auth_magic[AUTH_CHALLENGE], 4);
    out[4] = (uint8_t) a->me.role;
    out[5] = (uint8_t) nlen;
    memcpy(out + 6, a->key->none ? "none____________" : a->key->fp,
           AUTH_FP_HEX);
    memcpy(out + 6 + AUTH_FP_HEX, a->my_nonce, AUTH_NONCE_SIZE);
    auth_mac(a, false, "server", out + 6 + AUTH_FP_HEX + AUTH_NONCE_SIZE);
    memcpy(out + AUTH_CHAL_FIXED, a->me.name, nlen);
    *outlenp = AUTH_CHAL_FIXED + nlen;
    a->state = AUTH_WAIT_PROOF;
    return 0;
}

/* Client: a whole CHALLENGE at 'in'.  Checks the server's proof and
 * answers with ours. */
static int
auth_on_challenge(struct auth *a, const uint8_t *in, uint8_t *out,
                  size_t *outlenp, struct fx_err *err)
{
    uint8_t want[AUTH_MAC_SIZE];

    auth_take_fp(in + 6, a->peer_fp);
    if (!auth_role_valid(in[4])
        || auth_take_name(in + AUTH_CHAL_FIXED, in[5],
                          !auth_role_named(in[4]), a->peer.name)) {
        return fx_err_set(err, -EPROTO, "malformed handshake from the "
                          "server");
    }
    a->peer.role = (enum auth_role) in[4];
    memcpy(a->peer_nonce, in + 6 + AUTH_FP_HEX, AUTH_NONCE_SIZE);
    auth_mac(a, true, "server", want);
    if (crypto_verify_32(want, in + 6 + AUTH_FP_HEX + AUTH_NONCE_SIZE)) {
        return fx_err_set(err, -EACCES, "the server does not prove our lab "
                          "secret: its key fingerprint is %s, ours %s",
                          a->peer_fp, a->key->fp);
    }
    memcpy(out, auth_magic[AUTH_PROOF], 4);
    auth_mac(a, true, "client", out + 4);
    *outlenp = AUTH_PROOF_SIZE;
    a->state = AUTH_WAIT_RESULT;
    return 0;
}

/* Server: a PROOF at 'in'. */
static int
auth_on_proof(struct auth *a, const uint8_t *in, uint8_t *out,
              size_t *outlenp, struct fx_err *err)
{
    uint8_t want[AUTH_MAC_SIZE];

    auth_mac(a, false, "client", want);
    if (crypto_verify_32(want, in + 4)) {
        *outlenp = auth_put_result(out, 1, "wrong proof of the lab secret");
        return fx_err_set(err, -EACCES, "wrong proof of the lab secret "
                          "(key fingerprint %s announced, ours %s)",
                          a->peer_fp, a->key->fp);
    }
    *outlenp = auth_put_result(out, 0, "");
    a->state = AUTH_DONE;
    return 1;
}

/* Client: a RESULT at 'in'. */
static int
auth_on_result(struct auth *a, const uint8_t *in, struct fx_err *err)
{
    char msg[AUTH_RESULT_MSG_MAX + 1];

    /* A server writes at most AUTH_RESULT_MSG_MAX bytes of reason
     * (auth_put_result()), but auth_msg_len() lets a RESULT run to
     * AUTH_MSG_MAX: a longer reason is not ours, and would overrun 'msg'
     * (any peer may send a RESULT, before proving anything). */
    if (in[5] > AUTH_RESULT_MSG_MAX) {
        return fx_err_set(err, -EPROTO, "not a fexsim handshake (a result "
                          "of %u bytes)", in[5]);
    }
    memcpy(msg, in + AUTH_RESULT_FIXED, in[5]);
    msg[in[5]] = '\0';
    for (size_t i = 0; msg[i]; i++) {
        msg[i] = msg[i] < 0x20 || msg[i] > 0x7e ? '?' : msg[i];
    }
    if (in[4] != 0) {
        return fx_err_set(err, -EACCES, "refused: %s", msg);
    }
    if (a->state != AUTH_WAIT_RESULT) {
        return fx_err_set(err, -EPROTO, "handshake accepted before proof");
    }
    a->state = AUTH_DONE;
    return 1;
}

/* How long the next message is, from what has arrived; 0 while its
 * length is not known yet, -EPROTO if 'in' is not the message expected. */
static ssize_t
auth_msg_len(const struct auth *a, const uint8_t *in, size_t len)
{
    static const struct { size_t fixed, len_at; } shape[] = {
        [AUTH_HELLO] = { AUTH_HELLO_FIXED, 6 },
        [AUTH_CHALLENGE] = { AUTH_CHAL_FIXED, 5 },
        [AUTH_PROOF] = { AUTH_PROOF_SIZE, 0 },
        [AUTH_RESULT] = { AUTH_RESULT_FIXED, 5 },
    };
    int type = a->state == AUTH_WAIT_HELLO ? AUTH_HELLO
               : a->state == AUTH_WAIT_PROOF ? AUTH_PROOF
               : a->state == AUTH_WAIT_RESULT ? AUTH_RESULT : AUTH_CHALLENGE;

    if (len < 4) {
        return 0;
    }
    if (!memcmp(in, auth_magic[AUTH_RESULT], 4)) {
        type = AUTH_RESULT;           /* A refusal may come at any time. */
    } else if (memcmp(in, auth_magic[type], 4)) {
        return -EPROTO;
    }
    if (!shape[type].len_at) {
        return (ssize_t) shape[type].fixed;
    }
    if (len <= shape[type].len_at) {
        return 0;
    }
    /* No message is longer: a length beyond is not ours, and waiting
     * for it would only hold the connection open. */
    return shape[type].fixed + in[shape[type].len_at] > AUTH_MSG_MAX
           ? -EPROTO
           : (ssize_t) (shape[type].fixed + in[shape[type].len_at]);
}

int
auth_step(struct auth *a, const uint8_t *in, size_t len, size_t *usedp,
          uint8_t out[AUTH_MSG_MAX], size_t *outlenp, struct fx_err *err)
{
    ssize_t n;
    int rc;

    *usedp = 0;
    *outlenp = 0;
    if (a->state == AUTH_DONE || a->state == AUTH_FAILED) {
        return a->state == AUTH_DONE ? 1 : fx_err_set(err, -EPROTO,
                                                      "handshake failed");
    }
    if (a->state == AUTH_SEND_HELLO) {
        *outlenp = auth_put_hello(a, out);
        a->state = AUTH_WAIT_CHALLENGE;
        return 0;
    }
    n = auth_msg_len(a, in, len);
    if (n <= 0 || (size_t) n > len) {
        if (n < 0) {
            a->state = AUTH_FAILED;
            return fx_err_set(err, -EPROTO, "not a fexsim handshake");
        }
        return 0;
    }
    *usedp = (size_t) n;
    if (!memcmp(in, auth_magic[AUTH_RESULT], 4)) {
        rc = auth_on_result(a, in, err);
    } else if (a->state == AUTH_WAIT_HELLO) {
        rc = auth_on_hello(a, in, out, outlenp, err);
    } else if (a->state == AUTH_WAIT_CHALLENGE) {
        rc = auth_on_challenge(a, in, out, outlenp, err);
    } else {
        rc = auth_on_proof(a, in, out, outlenp, err);
    }
    if (rc < 0) {
        a->state = AUTH_FAILED;
    }
    return rc;
}

int
auth_io(struct auth *a, struct evbuffer *in, struct evbuffer *out,
        struct fx_err *err)
{
    uint8_t reply[AUTH_MSG_MAX];
    size_t used, outlen, avail;
    int rc;

    do {
        avail = evbuffer_get_length(in);
        if (avail > AUTH_MSG_MAX) {
            avail = AUTH_MSG_MAX;
        }
        rc = auth_step(a, evbuffer_pullup(in, (ev_ssize_t) avail), avail,
                       &used, reply, &outlen, err);
        evbuffer_drain(in, used);
        if (outlen) {
            evbuffer_add(out, reply, outlen);
        }
    } while (rc == 0 && (used || outlen));
    return rc;
}
