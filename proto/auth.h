/* auth: the lab secret, proven on every connection before anything else
 * is read.
 *
 * A lab shares one secret (a file, `fexctl lab up` writes DIR/secret).
 * Each connection between fexsim's programs (RPC to fabricd, RPC to an
 * agent, an uplink, a migration's page stream) starts with a mutual
 * challenge-response over it, HMAC-SHA-256 from libsodium:
 *
 *   client -> server  HELLO      role, name, fresh nonce Nc, key fingerprint
 *   server -> client  CHALLENGE  role, name, fresh nonce Ns, key fingerprint,
 *                                HMAC(K, "server" | transcript)
 *   client -> server  PROOF      HMAC(K, "client" | transcript)
 *   server -> client  RESULT     ok, or why not
 *
 * where the transcript is both nonces, roles and names.  Each side proves
 * it holds K against the other's fresh nonce, so a recorded answer is
 * worth nothing on another connection, and the roles and names are bound
 * to the proof.  A key fingerprint (a hash of K, which says nothing of K)
 * travels in the clear so that a refusal names both sides' keys and an
 * operator sees which side holds the wrong one.
 *
 * What it protects: who may talk, and as what (role, host name).  What it
 * does not: confidentiality (everything after the handshake is clear
 * text) and the integrity of the bytes after it (an attacker on the path
 * could take over a TCP connection once it is open).  Without a secret
 * (K all zero, fingerprint "none") the handshake still names roles but
 * proves nothing: daemons without a secret listen on loopback only.
 *
 * The handshake is a pure state machine over bytes (auth_step), so that
 * any transport can run it and a fuzzer can feed it anything; auth_io()
 * runs it over libevent buffers.  Nothing here blocks or logs. */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct fx_err;

#define AUTH_KEY_SIZE 32
#define AUTH_NONCE_SIZE 32
#define AUTH_MAC_SIZE 32
#define AUTH_NAME_SIZE 40            /* A host name and its NUL. */
#define AUTH_FP_SIZE 17              /* 16 hex digits and the NUL. */
/* The largest handshake message, so that a transport can bound what it
 * buffers before the peer is known. */
#define AUTH_MSG_MAX 160
/* How long a peer has to finish the handshake. */
#define AUTH_TIMEOUT_MS 5000

/* What a peer is, as the handshake proves it. */
enum auth_role {
    AUTH_ROLE_OPERATOR = 1,      /* fexctl, orchestration clients. */
    AUTH_ROLE_AGENT = 2,         /* An agentd, for host 'name'. */
    AUTH_ROLE_PEER = 3,          /* An agentd, agent to agent (migration). */
    AUTH_ROLE_FABRIC = 4,        /* fabricd. */
};
#define AUTH_ROLE_MASK(r) (1u << (r))
#define AUTH_ROLES_ALL (AUTH_ROLE_MASK(AUTH_ROLE_OPERATOR)             \
                        | AUTH_ROLE_MASK(AUTH_ROLE_AGENT)              \
                        | AUTH_ROLE_MASK(AUTH_ROLE_PEER)               \
                        | AUTH_ROLE_MASK(AUTH_ROLE_FABRIC))

/* The key a program holds. */
struct auth_key {
    uint8_t k[AUTH_KEY_SIZE];
    char fp[AUTH_FP_SIZE];       /* Hex fingerprint, or "none". */
    bool none;                   /* No secret was given. */
};

/* Who one end is. */
struct auth_ident {
    enum auth_role role;
    char name[AUTH_NAME_SIZE];   /* The host, for agents and peers; may be
                                  * empty otherwise. */
};

/* Reads the secret file 'path' into '*key'.  The file must hold at least
 * 16 bytes (lab up writes 64 hex digits) and be readable by its owner
 * only (mode 0600 or stricter): a secret others can read is no secret.
 * -errno with 'err' naming the file otherwise. */
int auth_key_load(const char *path, struct auth_key *key,
                  struct fx_err *err);
/* No secret: loopback only. */
void auth_key_none(struct auth_key *key);
/* Writes a new secret of 32 random bytes, hex, to 'path' with mode 0600
 * (refusing to overwrite an existing file: -EEXIST). */
int auth_key_create(const char *path, struct fx_err *err);

/* Whether 'text' is the secret 'key' was loaded from (its bytes, trailing
 * newlines and spaces aside), compared in constant time: for a secret
 * presented as a bearer token, not through the handshake.  False for a
 * key without a secret. */
bool auth_key_matches(const struct auth_key *key, const char *text);

/* The role's name: "operator", "agent", "peer", "fabric" ("?" else). */
const char *auth_role_name(enum auth_role role);

struct auth;

/* A handshake for the client end ('me' copied, 'key' borrowed and must
 * outlive it).  Its first message is ready at once (auth_step with no
 * input).  The caller frees it with auth_destroy(). */
struct auth *auth_client_new(const struct auth_key *key,
                             const struct auth_ident *me);
/* A handshake for the server end, which accepts the roles in 'roles'
 * (AUTH_ROLE_MASK bits): another role is refused. */
struct auth *auth_server_new(const struct auth_key *key,
                             const struct auth_ident *me, unsigned roles);
/* NULL is a no-op. */
void auth_destroy(struct auth *);

/* Feeds 'len' received bytes at 'in'; stores how many it took in '*usedp'
 * (the rest belongs to the protocol after the handshake, or to the next
 * call), and the bytes to send in 'out' ('*outlenp' of them, at most
 * AUTH_MSG_MAX).  Returns 0 while more input is needed, 1 once the peer
 * is proven (auth_peer() tells who), or a negative errno with 'err':
 * -EACCES (wrong or missing secret, refused role; what the peer should
 * hear of it may be in 'out'), -EPROTO (not the handshake). */
int auth_step(struct auth *, const uint8_t *in, size_t len, size_t *usedp,
              uint8_t out[AUTH_MSG_MAX], size_t *outlenp,
              struct fx_err *err);
/* The same over libevent buffers: takes the handshake's bytes off 'in'
 * (leaving whatever follows) and appends its answers to 'out'. */
int auth_io(struct auth *, struct evbuffer *in, struct evbuffer *out,
            struct fx_err *err);

/* The peer, once proven; NULL before. */
const struct auth_ident *auth_peer(const struct auth *);
/* The peer's key fingerprint as it announced it ("" before it did). */
const char *auth_peer_fp(const struct auth *);

#endif
