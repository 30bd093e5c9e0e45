/* fuzz_auth: the lab secret's handshake (auth.c) itself, the pure state
 * machine every connection runs before anything else is read: RPC to
 * fabricd and to agents, uplinks, migration page streams.  Its bytes are
 * the first a stranger reaches.
 *
 * The input's first byte picks a mode (enum fz_mode), the second how the
 * ends are set up; the rest are bytes.
 *
 *   One end: the bytes are what the peer sends to a server end (from its
 *   HELLO on) or to a client end (after the client's HELLO, from the
 *   CHALLENGE on), with the lab secret or without.  They go to two
 *   machines alike: one given everything at once, one given a byte more
 *   at a time.  Checked: each step takes no more than it is given, no
 *   more than one message (AUTH_MSG_MAX) and writes no more than
 *   AUTH_MSG_MAX (the buffers are the exact size, for ASan); it never
 *   waits with a whole message's worth of bytes; both machines take the
 *   same bytes, end the same way and write as much, so that what follows
 *   a message never changes how it is read; a refusal is -EACCES or
 *   -EPROTO with a message, is final, and what it sends is a RESULT that
 *   a real client reads as a refusal.  And no peer is ever proven: the
 *   proof is a MAC over this end's fresh random nonce, which input fixed
 *   in advance cannot hold (with a secret the fuzzer does not even know
 *   the key); a return of 1 is a forged handshake.
 *
 *   Both ends (FZ_PAIR): a real client and a real server talk, the
 *   fuzzer choosing their keys (the secret, none, or the secret's
 *   fingerprint on other key bytes, as a forger would announce it),
 *   identities, the roles served, and how the byte streams are cut
 *   between the steps; the client's next protocol's bytes follow its
 *   PROOF at once.  Checked: the outcome is what the keys, role and name
 *   call for (both proven, each other's identity right; or the right
 *   end refusing), and the server leaves exactly the bytes after the
 *   handshake unread. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "feed.h"
#include "fx_err.h"
#include "fx_name.h"

/* The input's first byte (modulo FZ_MODES). */
enum fz_mode {
    FZ_SERVER_KEY,           /* A server end with the secret. */
    FZ_SERVER_NONE,          /* A server end without one. */
    FZ_CLIENT_KEY,           /* A client end with the secret. */
    FZ_CLIENT_NONE,          /* A client end without one. */
    FZ_PAIR,                 /* Both ends. */
    FZ_MODES
};

/* Keys, FZ_PAIR's choice: the secret, none, and the secret's fingerprint
 * announced with other key bytes. */
enum { FZ_KEY_SECRET, FZ_KEY_NONE, FZ_KEY_FORGED, FZ_KEYS };
static struct auth_key fz_keys[FZ_KEYS];

/* Client identities: a role (0 and 5 are not roles) and a name, good or
 * bad for it. */
static const char *const fz_names[] = {
    "", "h1", "host-01.lab_A", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "bad name", "h\xc3\xa9",
};
#define FZ_N_NAMES (sizeof fz_names / sizeof fz_names[0])

/* Server identities: those of fabricd, an agent and an agent's
 * migration listener. */
static const struct auth_ident fz_servers[] = {
    { AUTH_ROLE_FABRIC, "" }, { AUTH_ROLE_OPERATOR, "" },
    { AUTH_ROLE_AGENT, "h2" }, { AUTH_ROLE_PEER, "h2" },
};

/* The setup byte's client identity. */
static struct auth_ident
fz_client_ident(uint8_t b)
{
    struct auth_ident id = { (enum auth_role) (b % 6), "" };

    strcpy(id.name, fz_names[(b / 6) % FZ_N_NAMES]);
    return id;
}

/* ---- One step, and what it promises ---- */

/* One auth_step() on a copy of exactly the 'len' bytes at 'in', into an
 * output buffer of exactly AUTH_MSG_MAX bytes ('out', heap), checked. */
static int
fz_step(struct auth *a, const uint8_t *in, size_t len, size_t *usedp,
        uint8_t *out, size_t *outlenp, struct fx_err *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    int rc;

    if (!copy) {
        abort();
    }
    if (len) {
        memcpy(copy, in, len);
    }
    fx_err_clear(err);
    *usedp = *outlenp = SIZE_MAX;
    rc = auth_step(a, copy, len, usedp, out, outlenp, err);
    free(copy);
    if (*usedp > len || *usedp > AUTH_MSG_MAX || *outlenp > AUTH_MSG_MAX
        || rc > 1
        || (rc < 0 && (err->code != rc || !err->msg[0]
                       || (rc != -EACCES && rc != -EPROTO)))
        || (rc == 0 && !*usedp && !*outlenp && len >= AUTH_MSG_MAX)) {
        abort();        /* Over its bounds, unexplained, or stalled. */
    }
    return rc;
}

/* After its end, a machine stays where it is: nothing taken, nothing
 * sent, the same outcome. */
static void
fz_check_final(struct auth *a, int rc, uint8_t *out)
{
    static const uint8_t more[8] = "FXA3FXA4";
    size_t used, outlen;
    struct fx_err err;
    int again = fz_step(a, more, sizeof more, &used, out, &outlen, &err);

    if (used || outlen || (rc == 1) != (again == 1) || (rc < 0) != (again < 0)
        || (rc == 1) != (auth_peer(a) != NULL)) {
        abort();
    }
}

/* A server's refusal 'out' ('len' bytes) must read as one to a real
 * client that sent its HELLO. */
static void
fz_check_refusal(const uint8_t *out, size_t len)
{
    const struct auth_ident me = { AUTH_ROLE_OPERATOR, "" };
    struct auth *c = auth_client_new(&fz_keys[FZ_KEY_NONE], &me);
    uint8_t *buf = malloc(AUTH_MSG_MAX);
    size_t used, outlen;
    struct fx_err err;

    if (!buf || fz_step(c, NULL, 0, &used, buf, &outlen, &err) != 0
        || fz_step(c, out, len, &used, buf, &outlen, &err) != -EACCES
        || used != len || outlen
        || strncmp(err.msg, "refused: ", 9)) {
        abort();
    }
    free(buf);
    auth_destroy(c);
}

/* ---- One end ---- */

/* What one machine did with the bytes. */
struct fz_run {
    size_t taken;            /* Bytes it took. */
    size_t sent;             /* Bytes it wrote. */
    int rc;
};

/* Feeds 'data' to 'a': all that is left at each step ('drip' false), or
 * a byte more each time it waits ('drip' true). */
static struct fz_run
fz_feed(struct auth *a, const uint8_t *data, size_t size, bool drip,
        uint8_t *out)
{
    struct fz_run r = { 0, 0, 0 };
    size_t avail = drip ? 0 : size, used, outlen;
    struct fx_err err;

    for (;;) {
        r.rc = fz_step(a, data + r.taken, avail - r.taken, &used, out,
                       &outlen, &err);
        r.taken += used;
        r.sent += outlen;
        if (r.rc < 0 && outlen) {
            fz_check_refusal(out, outlen);
        }
        if (r.rc != 0) {
            break;
        }
        if (!used && !outlen) {
            if (avail == size) {
                break;
            }
            avail++;
        }
    }
    return r;
}

/* Two ends alike, fed 'data' at once and a byte at a time. */
static void
fz_one_end(enum fz_mode mode, uint8_t setup, const uint8_t *data,
           size_t size)
{
    const struct auth_key *key = &fz_keys[mode == FZ_SERVER_KEY
                                          || mode == FZ_CLIENT_KEY
                                          ? FZ_KEY_SECRET : FZ_KEY_NONE];
    const struct auth_ident client = fz_client_ident(setup);
    bool server = mode == FZ_SERVER_KEY || mode == FZ_SERVER_NONE;
    uint8_t *out = malloc(AUTH_MSG_MAX);
    struct auth *a[2];
    struct fz_run r[2];

    if (!out) {
        abort();
    }
    for (int i = 0; i < 2; i++) {
        size_t used, outlen;
        struct fx_err err;

        a[i] = server ? auth_server_new(key, &fz_servers[0],
                                        (setup << 1) & AUTH_ROLES_ALL)
                      : auth_client_new(key, &client);
        /* A client's HELLO first, on no input. */
        if (!server && (fz_step(a[i], NULL, 0, &used, out, &outlen, &err)
                        || !outlen || memcmp(out, "FXA1", 4))) {
            abort();
        }
        r[i] = fz_feed(a[i], data, size, i == 1, out);
        if (r[i].rc == 1) {
            abort();            /* A forged handshake. */
        }
        if (r[i].rc) {
            fz_check_final(a[i], r[i].rc, out);
        }
        auth_destroy(a[i]);
    }
    if (r[0].taken != r[1].taken || r[0].sent != r[1].sent
        || r[0].rc != r[1].rc) {
        abort();        /* What followed a message changed its reading. */
    }
    free(out);
}

/* ---- Both ends ---- */

/* The client's bytes after the handshake, at most. */
#define FZ_APP_MAX 1024u

/* A byte stream between the ends: what was sent, how much of it was
 * delivered, and how much of that the receiver took. */
struct fz_pipe {
    uint8_t buf[4 * AUTH_MSG_MAX + FZ_APP_MAX];
    size_t len, delivered, taken;
};

struct fz_end {
    struct auth *a;
    struct fz_pipe *in, *out;
    int rc;
    const uint8_t *app;      /* Client: sent right after its PROOF. */
    size_t n_app;
};

static void
fz_pipe_put(struct fz_pipe *p, const uint8_t *data, size_t len)
{
    if (len > sizeof p->buf - p->len) {
        abort();                /* More than a handshake: a loop. */
    }
    memcpy(p->buf + p->len, data, len);
    p->len += len;
}

/* Steps 'e' on what it was delivered until it waits or ends.  Returns
 * whether it did anything. */
static bool
fz_end_run(struct fz_end *e, uint8_t *out)
{
    bool moved = false;
    size_t used, outlen;
    struct fx_err err;

    while (e->rc == 0) {
        e->rc = fz_step(e->a, e->in->buf + e->in->taken,
                        e->in->delivered - e->in->taken, &used, out, &outlen,
                        &err);
        e->in->taken += used;
        fz_pipe_put(e->out, out, outlen);
        if (e->app && outlen && !memcmp(out, "FXA3", 4)) {
            /* The next protocol's first bytes go with the PROOF, as a
             * client that pipelines would send them. */
            fz_pipe_put(e->out, e->app, e->n_app);
            e->app = NULL;
        }
        if (!used && !outlen) {
            break;
        }
        moved = true;
    }
    return moved;
}

/* Delivers up to 'n' more bytes of 'p'.  Returns whether any. */
static bool
fz_deliver(struct fz_pipe *p, size_t n)
{
    size_t left = p->len - p->delivered;

    p->delivered += n < left ? n : left;
    return left > 0;
}

/* Runs the two ends until neither moves, cutting the streams as 'cuts'
 * says: each cut's bit 7 says which end goes first, the rest how many
 * bytes each way; past the cuts, everything at once. */
static void
fz_converse(struct fz_end *c, struct fz_end *s, const uint8_t *cuts,
            size_t n_cuts, uint8_t *out)
{
    bool moved = true;

    for (size_t i = 0; moved; i++) {
        uint8_t cut = i < n_cuts ? cuts[i] : 0;
        size_t n = i < n_cuts ? (size_t) (cut & 0x7f) + 1 : SIZE_MAX;
        struct fz_end *first = cut & 0x80 ? c : s;
        struct fz_end *second = first == c ? s : c;

        moved = fz_end_run(first, out);
        moved |= fz_deliver(second->in, n);
        moved |= fz_end_run(second, out);
        moved |= fz_deliver(first->in, n);
    }
}

/* What the keys, the client's identity and the roles served call for:
 * the client's outcome in '*crc', the server's in '*src'.  The server
 * checks the HELLO's form, then the key fingerprint, then the role; the
 * client refuses a server that does not prove its key bytes, and hears
 * any refusal of the server as -EACCES. */
static void
fz_expect(const struct auth_key *ck, const struct auth_key *sk,
          const struct auth_ident *cid, unsigned roles, int *crc, int *src)
{
    bool named = cid->role == AUTH_ROLE_AGENT || cid->role == AUTH_ROLE_PEER;
    bool name_ok = fx_name_valid(cid->name) || (!named && !cid->name[0]);

    *crc = -EACCES;
    if (cid->role < AUTH_ROLE_OPERATOR || cid->role > AUTH_ROLE_FABRIC
        || !name_ok) {
        *src = -EPROTO;
    } else if (strcmp(ck->fp, sk->fp)
               || !(roles & AUTH_ROLE_MASK(cid->role))) {
        *src = -EACCES;
    } else if (memcmp(ck->k, sk->k, AUTH_KEY_SIZE)) {
        *src = 0;               /* Waits for a PROOF that never comes. */
    } else {
        *crc = *src = 1;
    }
}

/* Both proven: each must know the other as it is (identity, and the
 * key fingerprint it announced), and the server must have left the
 * client's bytes after the handshake unread. */
static void
fz_check_proven(const struct fz_end *c, const struct fz_end *s,
                const struct auth_ident *cid, const struct auth_ident *sid,
                const uint8_t *app, size_t n_app)
{
    const struct auth_ident *cp = auth_peer(s->a), *sp = auth_peer(c->a);
    const struct fz_pipe *c2s = s->in;

    if (cp->role != cid->role || strcmp(cp->name, cid->name)
        || sp->role != sid->role || strcmp(sp->name, sid->name)
        || strcmp(auth_peer_fp(s->a), auth_peer_fp(c->a))
        || c2s->len - c2s->taken != n_app
        || memcmp(c2s->buf + c2s->taken, app, n_app)) {
        abort();
    }
}

/* 'setup' picks the keys and the server; 'data' starts with the client's
 * identity and the roles served, then the cuts, which are also the
 * client's bytes after the handshake. */
static void
fz_pair(uint8_t setup, const uint8_t *data, size_t size)
{
    static struct fz_pipe c2s, s2c;
    const struct auth_key *ck = &fz_keys[setup % FZ_KEYS];
    const struct auth_key *sk = &fz_keys[setup / FZ_KEYS % FZ_KEYS];
    const struct auth_ident *sid = &fz_servers[setup / 9 % 4];
    const struct auth_ident cid = fz_client_ident(size ? data[0] : 0);
    unsigned roles = (size > 1 ? (unsigned) data[1] << 1 : ~0u)
                     & AUTH_ROLES_ALL;
    size_t skip = size < 2 ? size : 2, n_app = size - skip;
    uint8_t *out = malloc(AUTH_MSG_MAX);
    struct fz_end c = { auth_client_new(ck, &cid), &s2c, &c2s, 0,
                        data + skip, 0 };
    struct fz_end s = { auth_server_new(sk, sid, roles), &c2s, &s2c, 0,
                        NULL, 0 };
    int crc, src;

    if (!out) {
        abort();
    }
    c.n_app = n_app = n_app < FZ_APP_MAX ? n_app : FZ_APP_MAX;
    c2s.len = c2s.delivered = c2s.taken = 0;
    s2c.len = s2c.delivered = s2c.taken = 0;
    fz_converse(&c, &s, data + skip, size - skip, out);
    fz_expect(ck, sk, &cid, roles, &crc, &src);
    if (c.rc != crc || s.rc != src) {
        abort();
    }
    if (src == 1) {
        fz_check_proven(&c, &s, &cid, sid, data + skip, n_app);
    }
    for (int i = 0; i < 2; i++) {
        struct fz_end *e = i ? &s : &c;

        if (e->rc) {
            fz_check_final(e->a, e->rc, out);
        }
        auth_destroy(e->a);
    }
    free(out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    feed_key(&fz_keys[FZ_KEY_SECRET]);
    auth_key_none(&fz_keys[FZ_KEY_NONE]);
    /* What a forger can copy is the fingerprint, not the key. */
    fz_keys[FZ_KEY_FORGED] = fz_keys[FZ_KEY_SECRET];
    fz_keys[FZ_KEY_FORGED].k[0] ^= 1;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum fz_mode mode = (enum fz_mode) (size ? data[0] % FZ_MODES : 0);
    uint8_t setup = size > 1 ? data[1] : 0;
    size_t skip = size < 2 ? size : 2;

    if (mode == FZ_PAIR) {
        fz_pair(setup, data + skip, size - skip);
    } else {
        fz_one_end(mode, setup, data + skip, size - skip);
    }
    return 0;
}
