/* Integration tests: hostile peers against live daemons.  Each test is one
 * class of bad input or misbehaviour (garbage, a wrong secret, a replayed
 * or forged handshake, a role calling what it may not, a slow sender, a
 * client that never reads, strings that are not text, a flood...).  Each
 * checks the clear error the offender gets (a status and its message, the
 * handshake's refusal, or its connection closed) and the daemon's one log
 * line naming its address, then that the daemon serves a normal request,
 * and, where the class could disturb others, that a connection opened
 * before keeps working.
 *
 * Most tests run against a fabricd of their own with a lab secret, started
 * with the flags the class needs (a short frame timeout, a small queue, a
 * connection cap, few file descriptors), so that the log lines of one class
 * are not rate-limited away by another's; the classes about agents run in
 * a lab (fexctl lab up).  Reads and writes are bounded (SO_RCVTIMEO), so a
 * broken daemon fails a test instead of hanging it.  The data plane's
 * uplinks are not tested here. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent.pb-c.h"
#include "auth.h"
#include "dframe.h"
#include "dataplane.pb-c.h"
#include "fabric.pb-c.h"
#include "frame.h"
#include "fx_addr.h"
#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "harness.h"
#include "pbenum.h"
#include "migflow.pb-c.h"
#include "rpc.pb-c.h"
#include "rpc_status.h"
#include "vmfex.pb-c.h"

/* The handshake's messages, as docs/API.md lays them out. */
#define HELLO_FIXED (4 + 3 + 16 + AUTH_NONCE_SIZE)
#define CHALLENGE_FIXED (4 + 2 + 16 + AUTH_NONCE_SIZE + AUTH_MAC_SIZE)

/* How long a test waits on a daemon's reaction before it fails. */
#define WAIT_MS 10000

/* What a test needs of its daemons. */
struct fab_cfg {
    int secret;                  /* fabricd proves a lab secret. */
    const char *flags[5];        /* More fabricd options, NULL-ended. */
    rlim_t nofile;               /* fabricd's descriptor limit; 0: ours. */
    int hosts;                   /* A lab of that many hosts instead. */
};

struct fab {
    char *dir;
    pid_t pid;                   /* Our fabricd; 0 in a lab. */
    int lab;                     /* fexctl lab up started the daemons. */
    pid_t stopped;               /* A lab daemon the test SIGSTOPped. */
    char addr[64];               /* fabricd's RPC address. */
    char log[4096];              /* fabricd's log. */
    struct auth_key key;         /* The lab secret, or none. */
    int fd;                      /* A proven operator connection. */
};

static const struct auth_ident operator = { AUTH_ROLE_OPERATOR, "" };

/* ---- Connections ---- */

/* Connects to 'addr' with reads and writes bounded to 10 s and, if
 * 'rcvbuf', a receive buffer that small (a client that reads slowly).
 * Writes the connection's own address, as the daemon logs it, into
 * 'local' if not NULL. */
static int
conn_open(const char *addr, int rcvbuf, char local[64])
{
    struct sockaddr_storage ss;
    struct timeval tv = { 10, 0 };
    socklen_t sl = sizeof ss;
    int len, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(fx_addr_parse(addr, &ss, &len, NULL), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (rcvbuf) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    assert_int_equal(connect(fd, (struct sockaddr *) &ss, (socklen_t) len),
                     0);
    if (local) {
        getsockname(fd, (struct sockaddr *) &ss, &sl);
        fx_addr_format((struct sockaddr *) &ss, local, 64);
    }
    return fd;
}

static void
send_all(int fd, const void *buf, size_t len)
{
    size_t sent = 0;

    while (sent < len) {
        ssize_t n = send(fd, (const char *) buf + sent, len - sent,
                         MSG_NOSIGNAL);

        if (n <= 0) {
            fail_msg("send: %s", n < 0 ? strerror(errno) : "nothing sent");
        }
        sent += (size_t) n;
    }
}

/* Whether the daemon closed 'fd' (EOF, or a reset), once what it sent
 * before (a refusal, replies) is read; 0 if it stayed open for 10 s. */
static int
peer_closed(int fd)
{
    static char buf[65536];

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);

        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return 1;
        }
        if (n < 0) {
            return 0;
        }
    }
}

/* What a client sent during its handshake, to replay it. */
struct sent {
    uint8_t b[2 * AUTH_MSG_MAX];
    size_t len;
};

/* Runs the lab secret's handshake on 'fd' as 'me' with 'key' (NULL: no
 * secret), recording what it sends in 'rec' if not NULL.  Returns 1 once
 * the daemon is proven and has accepted us, or a negative errno with
 * 'why' saying why not (a refusal reads "refused: ..."). */
static int
handshake(int fd, const struct auth_key *key, const struct auth_ident *me,
          struct fx_err *why, struct sent *rec)
{
    uint8_t in[AUTH_MSG_MAX], out[AUTH_MSG_MAX];
    size_t have = 0, used, outlen;
    struct auth_key none;
    struct auth *a;
    int rc = 0;

    auth_key_none(&none);
    a = auth_client_new(key ? key : &none, me);
    while (rc == 0) {
        ssize_t n;

        rc = auth_step(a, in, have, &used, out, &outlen, why);
        memmove(in, in + used, have - used);
        have -= used;
        if (outlen && rec) {
            memcpy(rec->b + rec->len, out, outlen);
            rec->len += outlen;
        }
        if (outlen && send(fd, out, outlen, MSG_NOSIGNAL)
                      != (ssize_t) outlen) {
            rc = fx_err_set(why, -EPIPE, "closed");
        }
        if (rc == 0 && !outlen) {
            n = recv(fd, in + have, sizeof in - have, 0);
            if (n <= 0) {
                rc = fx_err_set(why, -EPIPE, "closed");
            }
            have += n > 0 ? (size_t) n : 0;
        }
    }
    auth_destroy(a);
    return rc;
}

/* A connection to 'addr' proven as 'role' 'name' with 'key'. */
static int
proven_to(const char *addr, const struct auth_key *key, int role,
          const char *name, char local[64])
{
    struct auth_ident me = { (enum auth_role) role, "" };
    struct fx_err why;
    int fd = conn_open(addr, 0, local);

    snprintf(me.name, sizeof me.name, "%s", name);
    if (handshake(fd, key, &me, &why, NULL) != 1) {
        fail_msg("handshake with %s as %s '%s': %s", addr,
                 auth_role_name(me.role), name, why.msg);
    }
    return fd;
}

/* A connection to fabricd proven with the lab's secret. */
static int
proven(const struct fab *f, int role, const char *name, char local[64])
{
    return proven_to(f->addr, &f->key, role, name, local);
}

/* A HELLO built by hand into 'out' (room for AUTH_MSG_MAX + 100 bytes),
 * with key fingerprint 'fp' ("none" without a secret); returns its
 * length. */
static size_t
hello(uint8_t *out, const char *magic, uint8_t version, uint8_t role,
      const char *fp, const void *name, size_t nlen)
{
    memcpy(out, magic, 4);
    out[4] = version;
    out[5] = role;
    out[6] = (uint8_t) nlen;
    memcpy(out + 7, strcmp(fp, "none") ? fp : "none____________", 16);
    memset(out + 23, 0x5a, AUTH_NONCE_SIZE);
    memcpy(out + HELLO_FIXED, name, nlen);
    return HELLO_FIXED + nlen;
}

/* Reads the server's next handshake message (a CHALLENGE or a RESULT)
 * into 'buf'; returns its length, 0 if the connection closed first. */
static size_t
recv_auth_msg(int fd, uint8_t buf[AUTH_MSG_MAX])
{
    size_t n = 6;

    if (th_recv_all(fd, buf, 6)) {
        return 0;
    }
    if (!memcmp(buf, "FXA4", 4)) {
        n = 6 + buf[5];
    } else if (!memcmp(buf, "FXA2", 4)) {
        n = CHALLENGE_FIXED + buf[5];
    } else {
        fail_msg("not a handshake message: %02x %02x %02x %02x", buf[0],
                 buf[1], buf[2], buf[3]);
    }
    return th_recv_all(fd, buf + 6, n - 6) ? 0 : n;
}

/* The server must refuse us with a RESULT saying 'want', then close. */
static void
expect_refusal(int fd, const char *want)
{
    uint8_t msg[AUTH_MSG_MAX];
    size_t n = recv_auth_msg(fd, msg);

    assert_true(n > 0);
    assert_memory_equal(msg, "FXA4", 4);
    assert_int_not_equal(msg[4], 0);
    assert_int_equal(msg[5], strlen(want));
    assert_memory_equal(msg + 6, want, msg[5]);
    assert_true(peer_closed(fd));
}

/* ---- Frames ---- */

static void
send_env(int fd, uint8_t version, const Fexsim__V1__Envelope *env)
{
    size_t n = fexsim__v1__envelope__get_packed_size(env);
    uint8_t *buf = malloc(FRAME_HDR_SIZE + n);

    assert_non_null(buf);
    fexsim__v1__envelope__pack(env, buf + FRAME_HDR_SIZE);
    frame_encode(buf, version, (uint32_t) n);
    send_all(fd, buf, FRAME_HDR_SIZE + n);
    free(buf);
}

static void
send_request(int fd, uint8_t version, uint64_t id, const char *method,
             const void *payload, size_t plen)
{
    Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT;

    env.id = id;
    env.method = (char *) method;
    env.payload.data = (uint8_t *) payload;
    env.payload.len = plen;
    send_env(fd, version, &env);
}

/* Reads the next frame that is not a request (fabricd calls back a
 * connection that registered a host: those are skipped), storing its
 * envelope's size in '*lenp' if not NULL.  NULL if the daemon closed or
 * 10 s passed.  The caller frees it. */
static Fexsim__V1__Envelope *
recv_reply_len(int fd, size_t *lenp)
{
    for (;;) {
        uint8_t hdr[FRAME_HDR_SIZE], *body;
        Fexsim__V1__Envelope *env;
        struct frame_hdr h;

        if (th_recv_all(fd, hdr, sizeof hdr)) {
            return NULL;
        }
        assert_int_equal(frame_decode(hdr, FRAME_MAX_SIZE, &h, NULL), 0);
        body = malloc(h.length + 1);
        assert_int_equal(th_recv_all(fd, body, h.length), 0);
        env = fexsim__v1__envelope__unpack(NULL, h.length, body);
        free(body);
        assert_non_null(env);
        if (env->kind != FEXSIM__V1__KIND__KIND_REQUEST) {
            if (lenp) {
                *lenp = h.length;
            }
            return env;
        }
        fexsim__v1__envelope__free_unpacked(env, NULL);
    }
}

static Fexsim__V1__Envelope *
recv_reply(int fd)
{
    return recv_reply_len(fd, NULL);
}

/* Sends request 'id' and checks its answer: 'status' and a message
 * holding 'want' (NULL: any).  Returns the reply (the caller frees it). */
static Fexsim__V1__Envelope *
call_raw(int fd, uint64_t id, const char *method, const void *payload,
         size_t plen, int status, const char *want)
{
    Fexsim__V1__Envelope *env;

    send_request(fd, FRAME_VERSION, id, method, payload, plen);
    env = recv_reply(fd);
    if (!env) {
        fail_msg("%s: no reply (the connection closed)", method);
    }
    assert_int_equal(env->id, id);
    if ((int) env->status != status
        || (want && !strstr(env->message, want))) {
        fail_msg("%s: status %s '%s', want %s '%s'", method,
                 rpc_status_name((int) env->status), env->message,
                 rpc_status_name(status), want ? want : "");
    }
    return env;
}

/* The same with message 'req', packed; frees the reply. */
static void
call(int fd, uint64_t id, const char *method, const ProtobufCMessage *req,
     int status, const char *want)
{
    size_t n = req ? protobuf_c_message_get_packed_size(req) : 0;
    uint8_t *buf = malloc(n + 1);

    if (req) {
        protobuf_c_message_pack(req, buf);
    }
    fexsim__v1__envelope__free_unpacked(
        call_raw(fd, id, method, buf, n, status, want), NULL);
    free(buf);
}

/* Fabric.ListHosts on 'fd' (an operator's); returns the reply. */
static Fexsim__V1__ListHostsReply *
list_hosts(int fd)
{
    Fexsim__V1__Envelope *env = call_raw(fd, 99, "Fabric.ListHosts", NULL,
                                         0, RPC_OK, NULL);
    Fexsim__V1__ListHostsReply *rep =
        fexsim__v1__list_hosts_reply__unpack(NULL, env->payload.len,
                                             env->payload.data);

    fexsim__v1__envelope__free_unpacked(env, NULL);
    assert_non_null(rep);
    return rep;
}

/* A normal request must still succeed on operator connection 'fd'. */
static void
check_serving_on(int fd)
{
    fexsim__v1__list_hosts_reply__free_unpacked(list_hosts(fd), NULL);
}

/* ... and on a fresh connection, and through fexctl where the daemon has
 * the lab's secret: the daemon as a whole serves. */
static void
check_serving(const struct fab *f)
{
    int fd = proven(f, AUTH_ROLE_OPERATOR, "", NULL);

    check_serving_on(fd);
    close(fd);
    if (!f->key.none) {
        th_fexctl_check(f->dir, __LINE__, 0, NULL, "host", "list", NULL);
    }
}

/* The names of the hosts fabricd knows, "h1 h2 ", into 'buf'. */
static const char *
host_names(const struct fab *f, char *buf, size_t size)
{
    Fexsim__V1__ListHostsReply *rep = list_hosts(f->fd);
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < rep->n_hosts; i++) {
        off += (size_t) snprintf(buf + off, size - off, "%s ",
                                 rep->hosts[i]->name);
    }
    fexsim__v1__list_hosts_reply__free_unpacked(rep, NULL);
    return buf;
}

/* ---- Protobuf by hand: bytes protobuf-c would never pack ---- */

struct pb {
    uint8_t *b;
    size_t len, cap;
};

static void
pb_put(struct pb *pb, const void *p, size_t n)
{
    if (pb->len + n > pb->cap) {
        pb->cap = 2 * (pb->len + n) + 64;
        pb->b = realloc(pb->b, pb->cap);
        assert_non_null(pb->b);
    }
    memcpy(pb->b + pb->len, p, n);
    pb->len += n;
}

static void
pb_varint(struct pb *pb, uint64_t v)
{
    do {
        uint8_t c = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));

        pb_put(pb, &c, 1);
        v >>= 7;
    } while (v);
}

/* Field 'num', length-delimited, holding 'n' bytes at 'p'. */
static void
pb_bytes(struct pb *pb, uint32_t num, const void *p, size_t n)
{
    pb_varint(pb, (uint64_t) num << 3 | 2);
    pb_varint(pb, n);
    pb_put(pb, p, n);
}

/* A CreateProfileRequest whose profile is named by the 'nlen' bytes at
 * 'name', on VLAN 10; 'extra' (may be NULL) is appended to the profile,
 * as fields the request may carry. */
static void
profile_req(struct pb *out, const void *name, size_t nlen,
            const struct pb *extra)
{
    struct pb p = { 0 };

    pb_bytes(&p, 1, name, nlen);
    pb_varint(&p, 2 << 3 | 0);       /* vlans: 10 */
    pb_varint(&p, 10);
    if (extra) {
        pb_put(&p, extra->b, extra->len);
    }
    pb_bytes(out, 1, p.b, p.len);
    free(p.b);
}

/* The number of port profiles fabricd has. */
static size_t
profile_count(int fd)
{
    Fexsim__V1__Envelope *env = call_raw(fd, 98, "Profiles.List", NULL, 0,
                                         RPC_OK, NULL);
    Fexsim__V1__ListProfilesReply *rep =
        fexsim__v1__list_profiles_reply__unpack(NULL, env->payload.len,
                                                env->payload.data);
    size_t n = rep->n_profiles;

    fexsim__v1__list_profiles_reply__free_unpacked(rep, NULL);
    fexsim__v1__envelope__free_unpacked(env, NULL);
    return n;
}

/* The largest port profile there is, into 'p': 64 VLANs of two bytes
 * each on the wire, every field set, named 'name' (which 'p' borrows). */
static void
big_profile(Fexsim__V1__PortProfile *p, uint32_t vlans[64], char *name)
{
    fexsim__v1__port_profile__init(p);
    for (uint32_t i = 0; i < 64; i++) {
        vlans[i] = 4000 + i;
    }
    p->name = name;
    p->vlans = vlans;
    p->n_vlans = 64;
    p->max_ports = 4096;
    p->qos = "best-effort";
}

/* Appends request 'id' for 'method' with 'msg' (NULL: empty), framed, to
 * 'out': requests to send at once. */
static void
pb_request(struct pb *out, uint64_t id, const char *method,
           const ProtobufCMessage *msg)
{
    Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT;
    uint8_t body[1024], frame[FRAME_HDR_SIZE + 1200];
    size_t len;

    env.id = id;
    env.method = (char *) method;
    env.payload.data = body;
    env.payload.len = msg ? protobuf_c_message_pack(msg, body) : 0;
    len = fexsim__v1__envelope__pack(&env, frame + FRAME_HDR_SIZE);
    frame_encode(frame, FRAME_VERSION, (uint32_t) len);
    pb_put(out, frame, FRAME_HDR_SIZE + len);
}

/* Creates 'n' of the largest port profiles (names of 39 characters), in
 * pipelined batches. */
static void
make_big_profiles(int fd, size_t n)
{
    Fexsim__V1__CreateProfileRequest req =
        FEXSIM__V1__CREATE_PROFILE_REQUEST__INIT;
    Fexsim__V1__PortProfile p;
    uint32_t vlans[64];
    char name[40];
    struct pb batch = { 0 };

    big_profile(&p, vlans, name);
    req.profile = &p;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < 500 ? n - done : 500;

        batch.len = 0;
        for (size_t i = 0; i < k; i++) {
            snprintf(name, sizeof name, "profile-%031zu", done + i);
            pb_request(&batch, 1000 + done + i, "Profiles.Create",
                       &req.base);
        }
        send_all(fd, batch.b, batch.len);
        for (size_t i = 0; i < k; i++) {
            Fexsim__V1__Envelope *env = recv_reply(fd);

            assert_non_null(env);
            if ((int) env->status != RPC_OK) {
                fail_msg("Profiles.Create: %s", env->message);
            }
            fexsim__v1__envelope__free_unpacked(env, NULL);
        }
        done += k;
    }
    free(batch.b);
}

/* Sends 'n' Profiles.List at once, ids 1 to 'n'. */
static void
send_profile_lists(int fd, uint64_t n)
{
    struct pb reqs = { 0 };

    for (uint64_t id = 1; id <= n; id++) {
        pb_request(&reqs, id, "Profiles.List", NULL);
    }
    send_all(fd, reqs.b, reqs.len);
    free(reqs.b);
}

/* ---- Logs ---- */

/* Lines of the log 'path', from byte 'from' on, holding 'a' and, if not
 * NULL, 'b'. */
static int
log_count(const char *path, long from, const char *a, const char *b)
{
    char line[4096];
    int n = 0;
    FILE *fp = fopen(path, "r");

    if (fp && from) {
        fseek(fp, from, SEEK_SET);
    }
    while (fp && fgets(line, sizeof line, fp)) {
        n += strstr(line, a) && (!b || strstr(line, b));
    }
    if (fp) {
        fclose(fp);
    }
    return n;
}

/* The log's size now: what is written after it is new. */
static long
log_mark(const char *path)
{
    struct stat st;

    return stat(path, &st) ? 0 : (long) st.st_size;
}

struct log_wait {
    const char *path;
    const char *a, *b;
    int n;
};

static int
log_has(void *arg)
{
    const struct log_wait *w = arg;

    return log_count(w->path, 0, w->a, w->b) >= w->n;
}

/* Waits until the log 'path' holds 'n' lines with 'a' (and 'b'). */
static int
log_wait_n(const char *path, int n, const char *a, const char *b)
{
    struct log_wait w = { path, a, b, n };

    return th_wait(log_has, &w, WAIT_MS);
}

static int
log_wait(const char *path, const char *a, const char *b)
{
    return log_wait_n(path, 1, a, b);
}

/* ---- Daemons ---- */

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

/* Starts a fabricd of our own as 'cfg' says, its secret (if any) and
 * address in the test's dir, where fexctl --lab finds them. */
static void
fab_spawn(struct fab *f, const struct fab_cfg *cfg)
{
    char bin[4096], af[4096], secret[4096];
    char *argv[16] = { bin, "--listen", "127.0.0.1:0", "--addr-file", af };
    struct rlimit ours, low;
    size_t n = 5;
    int rc;

    th_bin(bin, sizeof bin, "fabricd");
    snprintf(af, sizeof af, "%s/fabric.addr", f->dir);
    snprintf(secret, sizeof secret, "%s/secret", f->dir);
    auth_key_none(&f->key);
    if (cfg->secret) {
        assert_int_equal(auth_key_create(secret, NULL), 0);
        assert_int_equal(auth_key_load(secret, &f->key, NULL), 0);
        argv[n++] = "--secret-file";
        argv[n++] = secret;
    }
    for (size_t i = 0; cfg->flags[i]; i++) {
        argv[n++] = (char *) cfg->flags[i];
    }
    /* The child inherits our limit: lowered for it alone, and back. */
    getrlimit(RLIMIT_NOFILE, &ours);
    low = ours;
    low.rlim_cur = cfg->nofile ? cfg->nofile : ours.rlim_cur;
    setrlimit(RLIMIT_NOFILE, &low);
    rc = fx_proc_spawn(argv, f->log, &f->pid, NULL);
    setrlimit(RLIMIT_NOFILE, &ours);
    assert_int_equal(rc, 0);
    if (!th_wait(addr_written, f, WAIT_MS)) {
        fx_proc_stop(f->pid, 5000, NULL);
        fail_msg("fabricd did not start: see %s", f->log);
    }
}

static void
fab_lab(struct fab *f, const struct fab_cfg *cfg)
{
    char secret[4096];

    /* Hosts stay up while a test holds an agent stopped. */
    assert_int_equal(th_lab_up(f->dir, cfg->hosts, "--heartbeat-timeout",
                               "60000", NULL), 0);
    f->lab = 1;
    th_fabric_addr(f->dir, f->addr, sizeof f->addr);
    snprintf(secret, sizeof secret, "%s/secret", f->dir);
    assert_int_equal(auth_key_load(secret, &f->key, NULL), 0);
}

static int
fab_setup(void **state, const struct fab_cfg *cfg)
{
    struct fab *f = calloc(1, sizeof *f);

    f->dir = th_mkdtemp("bad");
    f->fd = -1;
    snprintf(f->log, sizeof f->log, "%s/fabricd.log", f->dir);
    *state = f;
    if (cfg->hosts) {
        fab_lab(f, cfg);
    } else {
        fab_spawn(f, cfg);
    }
    f->fd = proven(f, AUTH_ROLE_OPERATOR, "", NULL);
    return 0;
}

static int
setup(void **state)
{
    static const struct fab_cfg cfg = { .secret = 1 };

    return fab_setup(state, &cfg);
}

static int
setup_no_secret(void **state)
{
    static const struct fab_cfg cfg = { .secret = 0 };

    return fab_setup(state, &cfg);
}

/* Slow peers are closed after half a second, so that a test is quick. */
static int
setup_quick(void **state)
{
    static const struct fab_cfg cfg = {
        .secret = 1, .flags = { "--frame-timeout", "500" }
    };

    return fab_setup(state, &cfg);
}

/* A peer that reads none of 1 MiB of replies for half a second is
 * closed. */
static int
setup_small_queue(void **state)
{
    static const struct fab_cfg cfg = {
        .secret = 1, .flags = { "--max-queued", "1", "--frame-timeout", "500" }
    };

    return fab_setup(state, &cfg);
}

static int
setup_four_conns(void **state)
{
    static const struct fab_cfg cfg = {
        .secret = 1, .flags = { "--max-conns", "4" }
    };

    return fab_setup(state, &cfg);
}

static int
setup_few_fds(void **state)
{
    static const struct fab_cfg cfg = { .secret = 1, .nofile = 32 };

    return fab_setup(state, &cfg);
}

static int
setup_lab(void **state)
{
    static const struct fab_cfg cfg = { .hosts = 2 };

    return fab_setup(state, &cfg);
}

static int
teardown(void **state)
{
    struct fab *f = *state;
    int alive = 1, stopped = 0, clean;

    if (f->fd >= 0) {
        close(f->fd);
    }
    if (f->stopped > 0) {
        kill(f->stopped, SIGCONT);
    }
    if (f->lab) {
        stopped = th_lab_down(f->dir);
    } else if (f->pid > 0) {
        /* Alive to the end: no bad input may have crashed it. */
        alive = fx_proc_alive(f->pid);
        stopped = fx_proc_stop(f->pid, 5000, NULL);
    }
    clean = th_logs_clean(f->dir);
    th_rmrf(f->dir);
    free(f->dir);
    free(f);
    assert_true(alive);
    assert_int_equal(stopped, 0);
    assert_true(clean);
    return 0;
}

/* ---- Garbage and framing ---- */

static void
random_bytes_before_the_handshake_are_refused_with_one_log_line(
    void **state)
{
    struct fab *f = *state;
    uint8_t junk[4096];
    char local[64], line[128];
    int fd = conn_open(f->addr, 0, local);

    srand(41);
    for (size_t i = 0; i < sizeof junk; i++) {
        junk[i] = (uint8_t) rand();
    }
    junk[0] = 'G';      /* Never the handshake's magic by chance. */
    send_all(fd, junk, sizeof junk);
    assert_true(peer_closed(fd));
    close(fd);
    snprintf(line, sizeof line, "refused %s: not a fexsim handshake", local);
    assert_true(log_wait(f->log, line, NULL));
    assert_int_equal(log_count(f->log, 0, local, NULL), 1);
    check_serving_on(f->fd);
    check_serving(f);
}

static void
random_bytes_close_the_connection_with_one_log_line(void **state)
{
    struct fab *f = *state;
    uint8_t junk[4096];
    char local[64];
    int fd = proven(f, AUTH_ROLE_OPERATOR, "", local);

    srand(42);
    for (size_t i = 0; i < sizeof junk; i++) {
        junk[i] = (uint8_t) rand();
    }
    junk[0] = 0x12;     /* Never the magic by chance. */
    send_all(fd, junk, sizeof junk);
    assert_true(peer_closed(fd));
    close(fd);
    assert_true(log_wait(f->log, local, "bad frame magic"));
    assert_int_equal(log_count(f->log, 0, local, NULL), 1);
    check_serving_on(f->fd);
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
    char local[64];
    int fd = proven(f, AUTH_ROLE_OPERATOR, "", local);

    frame_encode(hdr, FRAME_VERSION, 100u * 1024 * 1024);
    send_all(fd, hdr, sizeof hdr);
    assert_true(peer_closed(fd));
    close(fd);
    assert_true(log_wait(f->log, local, "exceeds the 4194304-byte limit"));
    check_serving_on(f->fd);
    check_serving(f);
}

static void
wrong_version_gets_an_error_and_the_connection_goes_on(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__Envelope *env;

    send_request(f->fd, FRAME_VERSION + 1, 7, "Fabric.ListHosts", NULL, 0);
    env = recv_reply(f->fd);
    assert_non_null(env);
    assert_int_equal(env->id, 7);
    assert_int_equal(env->status,
                     FEXSIM__V1__STATUS__STATUS_BAD_VERSION);
    assert_non_null(strstr(env->message, "protocol version 3"));
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
    check_serving(f);
}

static void
unknown_method_gets_an_error_and_the_connection_goes_on(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__Envelope *env;

    env = call_raw(f->fd, 8, "Fabric.Explode", NULL, 0,
                   RPC_UNKNOWN_METHOD, NULL);
    assert_string_equal(env->message, "unknown method 'Fabric.Explode'");
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
    check_serving(f);
}

static void
malformed_payload_gets_an_error_and_the_connection_goes_on(void **state)
{
    struct fab *f = *state;
    const uint8_t junk[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00 };

    fexsim__v1__envelope__free_unpacked(
        call_raw(f->fd, 9, "Profiles.Create", junk, sizeof junk,
                 RPC_BAD_PAYLOAD, "payload of 'Profiles.Create' is not a "
                 "valid fexsim.v1.CreateProfileRequest"), NULL);
    check_serving_on(f->fd);
    check_serving(f);
}

static void
out_of_range_values_get_a_clear_error(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__CreateProfileRequest req =
        FEXSIM__V1__CREATE_PROFILE_REQUEST__INIT;
    Fexsim__V1__PortProfile p = FEXSIM__V1__PORT_PROFILE__INIT;
    uint32_t vlans[] = { 10, 5000 };

    p.name = "pp";
    p.vlans = vlans;
    p.n_vlans = 2;
    req.profile = &p;
    call(f->fd, 10, "Profiles.Create", &req.base, RPC_INVALID_ARGUMENT,
         "VLAN 5000 out of range");
    check_serving_on(f->fd);
    check_serving(f);
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
    req.dirty_rate_pages_per_s = 1000001;
    n = fexsim__v1__set_vm_request__pack(&req, buf);
    env = call_raw(f->fd, 11, "Vms.Set", buf, n, RPC_INVALID_ARGUMENT,
                   NULL);
    assert_string_equal(env->message, "dirty rate 1000001 is out of range "
                        "0-1000000 page writes/s");
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
    check_serving(f);
}

/* A frame of no bytes is an envelope of defaults: a request for method
 * "", answered as unknown.  A reply or an event the daemon never asked for
 * is not answered at all: the next reply on the connection is that of
 * the next request. */
static void
empty_frames_and_stray_replies_are_answered_or_ignored(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__Envelope stray = FEXSIM__V1__ENVELOPE__INIT;
    Fexsim__V1__Envelope *env;
    uint8_t hdr[FRAME_HDR_SIZE];

    frame_encode(hdr, FRAME_VERSION, 0);
    send_all(f->fd, hdr, sizeof hdr);
    env = recv_reply(f->fd);
    assert_non_null(env);
    assert_int_equal(env->id, 0);
    assert_int_equal(env->status, RPC_UNKNOWN_METHOD);
    assert_string_equal(env->message, "unknown method ''");
    fexsim__v1__envelope__free_unpacked(env, NULL);

    stray.id = 12345;
    stray.kind = FEXSIM__V1__KIND__KIND_REPLY;
    stray.method = "Fabric.ListHosts";
    stray.status = FEXSIM__V1__STATUS__STATUS_INTERNAL;
    stray.message = "a reply nobody asked for";
    send_env(f->fd, FRAME_VERSION, &stray);
    stray.kind = FEXSIM__V1__KIND__KIND_EVENT;
    send_env(f->fd, FRAME_VERSION, &stray);
    stray.kind = (Fexsim__V1__Kind) 7;          /* Not a kind at all. */
    send_env(f->fd, FRAME_VERSION, &stray);
    check_serving_on(f->fd);    /* Asserts the next reply is id 99's. */
    check_serving(f);
}

/* ---- The lab secret ---- */

/* Another lab's secret, written into the test's dir and loaded. */
static void
other_lab_key(const struct fab *f, struct auth_key *key)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/another-labs-secret", f->dir);
    assert_int_equal(auth_key_create(path, NULL), 0);
    assert_int_equal(auth_key_load(path, key, NULL), 0);
}

static void
wrong_secret_is_refused_naming_both_fingerprints(void **state)
{
    struct fab *f = *state;
    char local[64], want[200];
    struct auth_key other;
    struct fx_err why;
    int fd;

    other_lab_key(f, &other);
    fd = conn_open(f->addr, 0, local);
    assert_true(handshake(fd, &other, &operator, &why, NULL) < 0);
    snprintf(want, sizeof want, "refused: wrong lab secret: yours has key "
             "fingerprint %s, ours %s", other.fp, f->key.fp);
    assert_string_equal(why.msg, want);
    assert_true(peer_closed(fd));
    close(fd);
    snprintf(want, sizeof want, "refused %s: wrong lab secret: the peer's "
             "key fingerprint is %s, ours %s", local, other.fp, f->key.fp);
    assert_true(log_wait(f->log, want, NULL));
    check_serving_on(f->fd);
    check_serving(f);
}

static void
no_secret_is_refused_by_a_daemon_with_one(void **state)
{
    struct fab *f = *state;
    char local[64], want[200];
    struct fx_err why;
    int fd = conn_open(f->addr, 0, local);

    assert_true(handshake(fd, NULL, &operator, &why, NULL) < 0);
    snprintf(want, sizeof want, "refused: wrong lab secret: yours has key "
             "fingerprint none, ours %s", f->key.fp);
    assert_string_equal(why.msg, want);
    assert_true(peer_closed(fd));
    close(fd);
    snprintf(want, sizeof want, "refused %s: wrong lab secret: the peer's "
             "key fingerprint is none, ours %s", local, f->key.fp);
    assert_true(log_wait(f->log, want, NULL));
    check_serving(f);
}

/* fabricd without --secret-file (setup_no_secret). */
static void
a_secret_is_refused_by_a_daemon_without_one(void **state)
{
    struct fab *f = *state;
    char path[4096], local[64], want[200];
    struct auth_key key;
    struct fx_err why;
    int fd;

    snprintf(path, sizeof path, "%s/secret", f->dir);
    assert_int_equal(auth_key_create(path, NULL), 0);
    assert_int_equal(auth_key_load(path, &key, NULL), 0);
    fd = conn_open(f->addr, 0, local);
    assert_true(handshake(fd, &key, &operator, &why, NULL) < 0);
    snprintf(want, sizeof want, "refused: wrong lab secret: yours has key "
             "fingerprint %s, ours none", key.fp);
    assert_string_equal(why.msg, want);
    assert_true(peer_closed(fd));
    close(fd);
    snprintf(want, sizeof want, "refused %s: wrong lab secret: the peer's "
             "key fingerprint is %s, ours none", local, key.fp);
    assert_true(log_wait(f->log, want, NULL));
    check_serving(f);           /* Without a secret, as the daemon. */
}

/* A real client's HELLO and PROOF, recorded, replayed on another
 * connection: the server's fresh nonce makes the proof worthless. */
static void
a_replayed_handshake_is_refused(void **state)
{
    struct fab *f = *state;
    struct sent rec = { .len = 0 };
    uint8_t chal[AUTH_MSG_MAX];
    char local[64], want[200];
    struct fx_err why;
    size_t hello_len;
    int a = conn_open(f->addr, 0, NULL), b;

    assert_int_equal(handshake(a, &f->key, &operator, &why, &rec), 1);
    hello_len = HELLO_FIXED + rec.b[6];
    assert_int_equal(rec.len, hello_len + 4 + AUTH_MAC_SIZE);
    assert_memory_equal(rec.b + hello_len, "FXA3", 4);

    b = conn_open(f->addr, 0, local);
    send_all(b, rec.b, hello_len);
    assert_true(recv_auth_msg(b, chal) > 0);
    assert_memory_equal(chal, "FXA2", 4);       /* A fresh challenge... */
    send_all(b, rec.b + hello_len, rec.len - hello_len);
    expect_refusal(b, "wrong proof of the lab secret");   /* ...unmet. */
    close(b);
    snprintf(want, sizeof want, "refused %s: wrong proof of the lab secret "
             "(key fingerprint %s announced, ours %s)", local, f->key.fp,
             f->key.fp);
    assert_true(log_wait(f->log, want, NULL));

    /* Replayed blind, all at once, it fares no better. */
    b = conn_open(f->addr, 0, local);
    send_all(b, rec.b, rec.len);
    assert_true(recv_auth_msg(b, chal) > 0);
    expect_refusal(b, "wrong proof of the lab secret");
    close(b);
    assert_true(log_wait(f->log, local, "wrong proof of the lab secret"));

    check_serving_on(a);        /* The recorded connection itself serves. */
    close(a);
    check_serving(f);
}

static void
a_forged_proof_is_refused(void **state)
{
    struct fab *f = *state;
    uint8_t msg[AUTH_MSG_MAX + 100];
    char local[64], want[200];
    int fd = conn_open(f->addr, 0, local);

    send_all(fd, msg, hello(msg, "FXA1", 1, AUTH_ROLE_OPERATOR, f->key.fp,
                            "", 0));
    assert_true(recv_auth_msg(fd, msg) > 0);
    assert_memory_equal(msg, "FXA2", 4);
    memcpy(msg, "FXA3", 4);
    for (size_t i = 4; i < 4 + AUTH_MAC_SIZE; i++) {
        msg[i] = (uint8_t) (i * 37 + 11);   /* A MAC made up. */
    }
    send_all(fd, msg, 4 + AUTH_MAC_SIZE);
    expect_refusal(fd, "wrong proof of the lab secret");
    close(fd);
    snprintf(want, sizeof want, "refused %s: wrong proof of the lab secret",
             local);
    assert_true(log_wait(f->log, want, NULL));
    check_serving_on(f->fd);
    check_serving(f);
}

/* Each HELLO that is not one gets "malformed handshake" (a RESULT) or,
 * when it is not even the handshake's shape, the connection closed; each
 * one log line. */
static void
malformed_hellos_are_refused(void **state)
{
    static const struct {
        const char *magic;
        uint8_t version, role;
        const char *name;           /* NULL: 'nlen' letters. */
        size_t nlen;
        const char *result;         /* NULL: closed without a word. */
        const char *log;
    } cases[] = {
        { "FXA1", 2, 1, "", 0, "malformed handshake",
          "malformed handshake (version 2, role 1)" },
        { "FXA1", 1, 0, "", 0, "malformed handshake",
          "malformed handshake (version 1, role 0)" },
        { "FXA1", 1, 9, "", 0, "malformed handshake",
          "malformed handshake (version 1, role 9)" },
        { "FXA1", 1, 2, "h\x01", 2, "malformed handshake",
          "malformed handshake (version 1, role 2)" },
        { "FXA1", 1, 2, "h\0" "1", 3, "malformed handshake",
          "malformed handshake (version 1, role 2)" },
        { "FXA1", 1, 2, "", 0, "malformed handshake",     /* Agent, no host. */
          "malformed handshake (version 1, role 2)" },
        { "FXA1", 1, 2, NULL, 40, "malformed handshake",  /* Too long. */
          "malformed handshake (version 1, role 2)" },
        { "FXA9", 1, 1, "", 0, NULL, "not a fexsim handshake" },
        { "FXA1", 1, 1, NULL, 200, NULL, "not a fexsim handshake" },
    };
    struct fab *f = *state;
    uint8_t msg[AUTH_MSG_MAX + 100] = { 0 };
    char local[64], want[128], name[256];

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int fd = conn_open(f->addr, 0, local);

        memset(name, 'n', sizeof name);
        if (cases[i].name) {
            memcpy(name, cases[i].name, cases[i].nlen);
        }
        send_all(fd, msg, hello(msg, cases[i].magic, cases[i].version,
                                cases[i].role, f->key.fp, name,
                                cases[i].nlen));
        if (cases[i].result) {
            expect_refusal(fd, cases[i].result);
        } else {
            assert_true(peer_closed(fd));
        }
        close(fd);
        snprintf(want, sizeof want, "refused %s: %s", local, cases[i].log);
        if (!log_wait(f->log, want, NULL)) {
            fail_msg("case %zu: no line '%s'", i, want);
        }
    }
    check_serving_on(f->fd);
    check_serving(f);
}

struct held_back {
    const struct fab *f;
    const struct auth_key *other;
    uint64_t last_ms;
};

/* One more wrong secret now and then, until a line says how many were
 * held back: the rate limit's window is 10 s of the daemon's time. */
static int
held_back_said(void *arg)
{
    struct held_back *h = arg;
    uint64_t now = fx_time_now_ms();
    struct fx_err why;

    if (now - h->last_ms >= 250) {
        int fd = conn_open(h->f->addr, 0, NULL);

        h->last_ms = now;
        assert_true(handshake(fd, h->other, &operator, &why, NULL) < 0);
        close(fd);
    }
    return log_count(h->f->log, 0, "refused", "others, not logged") > 0;
}

/* How many lines the log 'path' says it held back, in its last line that
 * says so. */
static unsigned
lines_held_back(const char *path)
{
    char line[4096];
    unsigned held = 0;
    FILE *fp = fopen(path, "r");

    while (fp && fgets(line, sizeof line, fp)) {
        const char *p = strstr(line, "(and ");

        if (p && strstr(p, "others, not logged")) {
            held = (unsigned) strtoul(p + 5, NULL, 10);
        }
    }
    if (fp) {
        fclose(fp);
    }
    return held;
}

/* Bad peer number 'i' of a burst: 50 with another lab's secret, 10 that
 * send garbage, 10 that hang up before the handshake.  Each is done with
 * once the daemon closed it, so that its lines are written. */
static void
bad_peer(const struct fab *f, const struct auth_key *other, int i)
{
    struct fx_err why;
    int fd = conn_open(f->addr, 0, NULL);

    if (i < 50) {
        assert_true(handshake(fd, other, &operator, &why, NULL) < 0);
        assert_non_null(strstr(why.msg, "wrong lab secret"));
    } else if (i < 60) {
        send_all(fd, "GARBAGE!", 8);
    } else {
        shutdown(fd, SHUT_WR);
    }
    assert_true(peer_closed(fd));
    close(fd);
}

/* Seventy bad peers in a row: at most 10 lines in 10 s, a hang-up none of
 * its own, and the next line after that says how many were held back. */
static void
a_burst_of_bad_peers_is_logged_at_a_bounded_rate(void **state)
{
    struct fab *f = *state;
    struct auth_key other;
    struct held_back h = { f, &other, 0 };
    long mark = log_mark(f->log);

    other_lab_key(f, &other);
    for (int i = 0; i < 70; i++) {
        bad_peer(f, &other, i);
    }
    check_serving_on(f->fd);    /* Served all along. */
    assert_int_equal(log_count(f->log, mark, "rpc: refused", NULL), 10);
    assert_int_equal(log_count(f->log, mark, " ", NULL), 10);
    assert_true(th_wait(held_back_said, &h, 20000));
    assert_true(lines_held_back(f->log) >= 50);
    check_serving(f);
}

/* ---- Roles ---- */

static size_t
register_req(uint8_t *buf, const char *name)
{
    Fexsim__V1__RegisterHostRequest req =
        FEXSIM__V1__REGISTER_HOST_REQUEST__INIT;

    req.name = (char *) name;
    req.rpc_addr = "127.0.0.1:9";
    req.hypervisor = "TEST";
    return fexsim__v1__register_host_request__pack(&req, buf);
}

static void
expect_register(int fd, uint64_t id, const char *name, int status,
                const char *want)
{
    uint8_t buf[256];
    size_t n = register_req(buf, name);

    fexsim__v1__envelope__free_unpacked(
        call_raw(fd, id, "Fabric.RegisterHost", buf, n, status, want),
        NULL);
}

static void
an_agent_cannot_act_for_another_host(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__HeartbeatRequest hb = FEXSIM__V1__HEARTBEAT_REQUEST__INIT;
    char names[64];
    int fd = proven(f, AUTH_ROLE_AGENT, "h1", NULL);

    expect_register(fd, 1, "h2", RPC_PERMISSION_DENIED,
                    "the agent of host 'h1' cannot act for host 'h2'");
    hb.name = "h2";
    call(fd, 2, "Fabric.Heartbeat", &hb.base, RPC_PERMISSION_DENIED,
         "the agent of host 'h1' cannot act for host 'h2'");
    /* The connection stays usable for what it may do. */
    expect_register(fd, 3, "h1", RPC_OK, NULL);
    hb.name = "h1";
    call(fd, 4, "Fabric.Heartbeat", &hb.base, RPC_OK, NULL);
    assert_string_equal(host_names(f, names, sizeof names), "h1 ");
    close(fd);
    check_serving(f);
}

static void
an_operator_cannot_call_agent_methods(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__HeartbeatRequest hb = FEXSIM__V1__HEARTBEAT_REQUEST__INIT;
    Fexsim__V1__GetUplinkRequest up = FEXSIM__V1__GET_UPLINK_REQUEST__INIT;
    char names[64];

    hb.name = "h1";
    call(f->fd, 1, "Fabric.Heartbeat", &hb.base, RPC_PERMISSION_DENIED,
         "'Fabric.Heartbeat' is not served to the role 'operator'");
    expect_register(f->fd, 2, "h1", RPC_PERMISSION_DENIED,
                    "'Fabric.RegisterHost' is not served to the role "
                    "'operator'");
    up.host = "h1";
    call(f->fd, 3, "Dataplane.GetUplink", &up.base, RPC_PERMISSION_DENIED,
         "'Dataplane.GetUplink' is not served to the role 'operator'");
    assert_string_equal(host_names(f, names, sizeof names), "");
    check_serving_on(f->fd);
    check_serving(f);
}

static void
an_agent_cannot_call_operator_methods(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__CreateProfileRequest req =
        FEXSIM__V1__CREATE_PROFILE_REQUEST__INIT;
    Fexsim__V1__PortProfile p = FEXSIM__V1__PORT_PROFILE__INIT;
    Fexsim__V1__MigrateRequest mig = FEXSIM__V1__MIGRATE_REQUEST__INIT;
    uint32_t vlan = 10;
    int fd = proven(f, AUTH_ROLE_AGENT, "h1", NULL);

    p.name = "pp";
    p.vlans = &vlan;
    p.n_vlans = 1;
    req.profile = &p;
    call(fd, 1, "Profiles.Create", &req.base, RPC_PERMISSION_DENIED,
         "'Profiles.Create' is not served to the role 'agent'");
    mig.vm = "v1";
    mig.to = "h1";
    call(fd, 2, "Migrations.Start", &mig.base, RPC_PERMISSION_DENIED,
         "'Migrations.Start' is not served to the role 'agent'");
    call(fd, 3, "Fabric.ListHosts", NULL, RPC_PERMISSION_DENIED,
         "'Fabric.ListHosts' is not served to the role 'agent'");
    assert_int_equal(profile_count(f->fd), 0);
    expect_register(fd, 4, "h1", RPC_OK, NULL);     /* Still usable. */
    close(fd);
    check_serving(f);
}

/* A host name in the handshake that is not text is malformed; one in
 * RegisterHost is refused with the field named, before any handler. */
static void
a_host_name_that_is_not_text_is_refused(void **state)
{
    static const struct {
        uint32_t field;
        const char *bytes;
        size_t len;
        const char *want;
    } cases[] = {
        { 1, "h1\x1b", 3, "field 'name' holds a control byte (0x1b) at "
                          "offset 2" },
        { 1, "h\xc3", 2, "field 'name' is not valid UTF-8 at offset 1" },
        { 1, "h1\0h2", 5, "field 'name' holds a control byte (0x00) at "
                          "offset 2" },
        { 2, "127.0.0.1\n:9", 12, "field 'rpc_addr' holds a control byte "
                                  "(0x0a) at offset 9" },
    };
    struct fab *f = *state;
    char names[64];
    int fd = proven(f, AUTH_ROLE_AGENT, "h1", NULL);

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct pb pb = { 0 };

        if (cases[i].field != 1) {
            pb_bytes(&pb, 1, "h1", 2);
        }
        pb_bytes(&pb, cases[i].field, cases[i].bytes, cases[i].len);
        fexsim__v1__envelope__free_unpacked(
            call_raw(fd, i + 1, "Fabric.RegisterHost", pb.b, pb.len,
                     RPC_INVALID_ARGUMENT, cases[i].want), NULL);
        free(pb.b);
    }
    assert_string_equal(host_names(f, names, sizeof names), "");
    expect_register(fd, 9, "h1", RPC_OK, NULL);
    assert_string_equal(host_names(f, names, sizeof names), "h1 ");
    close(fd);
    check_serving(f);
}

/* The address of host 'name''s agent, from fexctl --json host list. */
static void
agent_addr(const struct fab *f, const char *name, char *buf, size_t size)
{
    struct json_object *doc = th_fexctl_json(f->dir, "host", "list", NULL);
    struct json_object *hosts = doc ? th_jarr(doc, "hosts") : NULL;

    buf[0] = '\0';
    for (size_t i = 0; hosts && i < json_object_array_length(hosts); i++) {
        struct json_object *h = json_object_array_get_idx(hosts, i);

        if (!strcmp(th_jstr(h, "name"), name)) {
            snprintf(buf, size, "%s", th_jstr(h, "address"));
        }
    }
    json_object_put(doc);
    assert_true(buf[0] != '\0');
}

/* Agent.GetInfo, as the fabric, on a fresh connection to agent 'addr':
 * the agent serves. */
static void
check_agent_serving(const struct fab *f, const char *addr)
{
    int fd = proven_to(addr, &f->key, AUTH_ROLE_FABRIC, "", NULL);

    call(fd, 1, "Agent.GetInfo", NULL, RPC_OK, NULL);
    close(fd);
}

static void
an_operator_is_refused_at_an_agents_port(void **state)
{
    struct fab *f = *state;
    const struct auth_ident agent = { AUTH_ROLE_AGENT, "h2" };
    char addr[64], log[4096], local[64], want[160];
    struct fx_err why;
    int fd;

    agent_addr(f, "h1", addr, sizeof addr);
    snprintf(log, sizeof log, "%s/agentd-h1.log", f->dir);
    fd = conn_open(addr, 0, local);
    assert_true(handshake(fd, &f->key, &operator, &why, NULL) < 0);
    assert_string_equal(why.msg, "refused: role 'operator' is not served "
                        "here");
    assert_true(peer_closed(fd));
    close(fd);
    snprintf(want, sizeof want, "refused %s: role 'operator' is not served "
             "here", local);
    assert_true(log_wait(log, want, NULL));

    /* Nor another host's agent: agents talk to fabricd, not to agents. */
    fd = conn_open(addr, 0, local);
    assert_true(handshake(fd, &f->key, &agent, &why, NULL) < 0);
    assert_string_equal(why.msg, "refused: role 'agent' is not served here");
    close(fd);
    assert_true(log_wait(log, local, "role 'agent' is not served here"));

    check_agent_serving(f, addr);
    check_serving(f);
}

static void
a_peer_cannot_drive_an_agents_vms(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__AgentVmNameRequest stop =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    Fexsim__V1__AgentMigRef ref = FEXSIM__V1__AGENT_MIG_REF__INIT;
    char addr[64];
    int fd;

    agent_addr(f, "h1", addr, sizeof addr);
    fd = proven_to(addr, &f->key, AUTH_ROLE_PEER, "h2", NULL);
    stop.name = "test";
    call(fd, 1, "HostVms.Stop", &stop.base, RPC_PERMISSION_DENIED,
         "'HostVms.Stop' is not served to the role 'peer'");
    ref.job_id = 1;
    call(fd, 2, "MigAgent.Abort", &ref.base, RPC_PERMISSION_DENIED,
         "'MigAgent.Abort' is not served to the role 'peer'");
    call(fd, 3, "AgentTraffic.TrafficList", NULL, RPC_PERMISSION_DENIED,
         "'AgentTraffic.TrafficList' is not served to the role 'peer'");
    call(fd, 4, "Agent.GetInfo", NULL, RPC_OK, NULL);    /* Its due. */
    close(fd);
    check_agent_serving(f, addr);
    check_serving(f);
}

/* An agent with the lab's secret may claim a host name, but not that of a
 * host whose agent is up: that agent is not disturbed. */
static void
a_second_agent_for_a_host_that_is_up_is_refused(void **state)
{
    struct fab *f = *state;
    char st[16];
    int fd = proven(f, AUTH_ROLE_AGENT, "h1", NULL);

    expect_register(fd, 1, "h1", RPC_ALREADY_EXISTS,
                    "host 'h1' is already registered by a live agent");
    shutdown(fd, SHUT_WR);
    assert_true(peer_closed(fd));
    close(fd);
    assert_string_equal(th_host_state(f->dir, "h1", st, sizeof st, NULL, 0),
                        "up");
    check_serving(f);
}

static void
garbage_on_an_agents_port_closes_with_one_log_line(void **state)
{
    struct fab *f = *state;
    static const char junk[] = "\x12\x34garbage, not a frame";
    char addr[64], log[4096], local[64];
    int fd;

    agent_addr(f, "h1", addr, sizeof addr);
    snprintf(log, sizeof log, "%s/agentd-h1.log", f->dir);
    fd = proven_to(addr, &f->key, AUTH_ROLE_FABRIC, "", local);
    send_all(fd, junk, sizeof junk - 1);
    assert_true(peer_closed(fd));
    close(fd);
    assert_true(log_wait(log, local, "bad frame magic"));
    assert_int_equal(log_count(log, 0, local, NULL), 1);
    check_agent_serving(f, addr);
    check_serving(f);
}

/* ---- The data plane's uplinks ---- */

/* fabricd's uplink address, as lab.json records it. */
static void
uplink_addr(const struct fab *f, char *buf, size_t size)
{
    char path[4096];
    struct json_object *lab, *ds;

    snprintf(path, sizeof path, "%s/lab.json", f->dir);
    lab = json_object_from_file(path);
    assert_non_null(lab);
    ds = th_jarr(lab, "daemons");
    snprintf(buf, size, "%s", th_jstr(json_object_array_get_idx(ds, 0),
                                      "uplink"));
    json_object_put(lab);
    assert_true(buf[0] != '\0');
}

/* An uplink proves the lab secret as a host's agent before anything: a
 * wrong secret, an operator, garbage are each refused with one line. */
static void
an_uplink_proves_the_lab_secret_first(void **state)
{
    struct fab *f = *state;
    static const struct auth_ident agent = { AUTH_ROLE_AGENT, "h1" };
    char addr[64], local[64], want[200];
    struct auth_key other;
    struct fx_err why;
    int fd;

    uplink_addr(f, addr, sizeof addr);
    other_lab_key(f, &other);
    fd = conn_open(addr, 0, local);
    assert_true(handshake(fd, &other, &agent, &why, NULL) < 0);
    if (!strstr(why.msg, "wrong lab secret")) {
        fail_msg("uplink refusal: '%s'", why.msg);
    }
    assert_true(peer_closed(fd));
    close(fd);
    snprintf(want, sizeof want, "uplink %s: wrong lab secret", local);
    assert_true(log_wait(f->log, want, NULL));

    fd = conn_open(addr, 0, local);
    assert_true(handshake(fd, &f->key, &operator, &why, NULL) < 0);
    assert_non_null(strstr(why.msg, "role 'operator' is not served here"));
    close(fd);
    snprintf(want, sizeof want, "uplink %s: role 'operator'", local);
    assert_true(log_wait(f->log, want, NULL));

    fd = conn_open(addr, 0, local);
    send_all(fd, "GET / HTTP/1.0\r\n\r\n", 18);
    assert_true(peer_closed(fd));
    close(fd);
    snprintf(want, sizeof want, "uplink %s: not a fexsim handshake", local);
    assert_true(log_wait(f->log, want, NULL));
    assert_true(th_hosts_up(f->dir, 2));
    check_serving(f);
}

/* A process holding the secret that claims to be h1's agent gets no
 * uplink without h1's ticket (which only h1's registered control
 * connection gets): a made-up one is refused, h1's own uplink lives. */
static void
an_uplink_without_its_hosts_ticket_is_refused(void **state)
{
    struct fab *f = *state;
    static const struct auth_ident agent = { AUTH_ROLE_AGENT, "h1" };
    uint8_t hello[DFRAME_HELLO_SIZE];
    struct dframe_ticket made_up;
    char addr[64], local[64], want[200];
    struct fx_err why;
    size_t n;
    int fd;

    uplink_addr(f, addr, sizeof addr);
    fd = conn_open(addr, 0, local);
    assert_int_equal(handshake(fd, &f->key, &agent, &why, NULL), 1);
    memset(made_up.bytes, 0x5a, sizeof made_up.bytes);
    n = dframe_hello_encode(hello, &made_up);
    send_all(fd, hello, n);
    assert_true(peer_closed(fd));
    close(fd);
    snprintf(want, sizeof want, "uplink %s: HELLO with an unknown ticket",
             local);
    assert_true(log_wait(f->log, want, NULL));
    assert_int_equal(log_count(f->log, 0, "uplink", "replaces"), 0);
    assert_true(th_hosts_up(f->dir, 2));
    check_serving(f);
}

/* ---- Slow peers, greedy peers ---- */

/* setup_quick: --frame-timeout 500. */
static void
a_slow_handshake_is_closed_after_the_frame_timeout(void **state)
{
    struct fab *f = *state;
    uint8_t msg[AUTH_MSG_MAX + 100];
    char silent[64], half[64], want[128];
    uint64_t t0 = fx_time_now_ms();
    int a = conn_open(f->addr, 0, silent), b = conn_open(f->addr, 0, half);

    send_all(b, msg, hello(msg, "FXA1", 1, AUTH_ROLE_OPERATOR, f->key.fp,
                           "", 0) / 2);
    check_serving_on(f->fd);    /* Others are served meanwhile. */
    assert_true(peer_closed(a));
    assert_true(fx_time_now_ms() - t0 >= 450);
    assert_true(peer_closed(b));
    close(a);
    close(b);
    snprintf(want, sizeof want, "closing %s: the lab secret's handshake "
             "took over 500 ms", silent);
    assert_true(log_wait(f->log, want, NULL));
    snprintf(want, sizeof want, "closing %s: the lab secret's handshake "
             "took over 500 ms", half);
    assert_true(log_wait(f->log, want, NULL));
    check_serving_on(f->fd);
    check_serving(f);
}

/* setup_quick: --frame-timeout 500. */
static void
a_slow_sender_is_closed_after_the_frame_timeout(void **state)
{
    struct fab *f = *state;
    uint8_t hdr[FRAME_HDR_SIZE];
    char local[64], want[128];
    int fd = proven(f, AUTH_ROLE_OPERATOR, "", local);
    uint64_t t0 = fx_time_now_ms();

    frame_encode(hdr, FRAME_VERSION, 1000);
    send_all(fd, hdr, sizeof hdr);
    send_all(fd, "the first half of a frame, the rest never", 41);
    check_serving_on(f->fd);
    assert_true(peer_closed(fd));
    assert_true(fx_time_now_ms() - t0 >= 450);
    close(fd);
    snprintf(want, sizeof want, "closing %s: a frame stayed half sent for "
             "500 ms", local);
    assert_true(log_wait(f->log, want, NULL));
    check_serving_on(f->fd);
    check_serving(f);
}

/* setup_small_queue: --max-queued 1 (MiB).  A client that asks for
 * replies of some 40 kB each, a thousand times, and reads none. */
static void
a_client_that_never_reads_is_closed(void **state)
{
    struct fab *f = *state;
    struct fx_err why;
    char local[64];
    int fd;

    make_big_profiles(f->fd, 200);
    fd = conn_open(f->addr, 4096, local);
    assert_int_equal(handshake(fd, &f->key, &operator, &why, NULL), 1);
    send_profile_lists(fd, 1000);
    check_serving_on(f->fd);    /* Others are served meanwhile. */
    check_serving(f);
    assert_true(log_wait(f->log, local, "the peer does not read"));
    assert_true(peer_closed(fd));
    close(fd);
    check_serving_on(f->fd);
    check_serving(f);
}

/* setup_small_queue: --max-queued 1 (MiB).  The same thousand requests
 * of 40 kB replies, sent at once by a client that does read them all:
 * it is not taken for one that does not. */
static void
a_client_that_pipelines_and_reads_is_served(void **state)
{
    struct fab *f = *state;
    char local[64];
    int fd;

    make_big_profiles(f->fd, 200);
    fd = proven(f, AUTH_ROLE_OPERATOR, "", local);
    send_profile_lists(fd, 1000);
    for (uint64_t id = 1; id <= 1000; id++) {
        Fexsim__V1__Envelope *env = recv_reply(fd);

        if (!env) {
            fail_msg("closed after %" PRIu64 " replies", id - 1);
        }
        assert_int_equal(env->id, id);
        assert_int_equal(env->status, RPC_OK);
        fexsim__v1__envelope__free_unpacked(env, NULL);
    }
    check_serving_on(fd);
    close(fd);
    assert_int_equal(log_count(f->log, 0, local, "does not read"), 0);
    check_serving(f);
}

/* A method name of nearly 4 MiB: a well-formed request that no reply
 * could echo.  It gets a short UNKNOWN_METHOD, without the name. */
static void
a_four_mib_method_name_gets_a_short_reply(void **state)
{
    struct fab *f = *state;
    size_t n = FRAME_MAX_SIZE - 64, len = 0;
    char *method = malloc(n + 1), want[80];
    Fexsim__V1__Envelope *env;

    memset(method, 'M', n);
    method[n] = '\0';
    send_request(f->fd, FRAME_VERSION, 5, method, NULL, 0);
    free(method);
    env = recv_reply_len(f->fd, &len);
    assert_non_null(env);
    assert_true(len < 256);
    assert_int_equal(env->id, 5);
    assert_int_equal(env->status, RPC_UNKNOWN_METHOD);
    assert_string_equal(env->method, "");
    snprintf(want, sizeof want, "unknown method (a name of %zu bytes)", n);
    assert_string_equal(env->message, want);
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
    check_serving(f);
}

/* Enough of the largest profiles that their list is over 4 MiB: the
 * reply that cannot be framed becomes a short RESOURCE_EXHAUSTED. */
static void
a_reply_over_the_frame_limit_gets_resource_exhausted(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__PortProfile p;
    uint32_t vlans[64];
    char name[40];
    Fexsim__V1__Envelope *env;
    size_t each;

    /* One profile as the list carries it, with its field key and length
     * (which make_big_profiles' names match). */
    memset(name, 'p', 39);
    name[39] = '\0';
    big_profile(&p, vlans, name);
    each = fexsim__v1__port_profile__get_packed_size(&p) + 3;
    make_big_profiles(f->fd, FRAME_MAX_SIZE / each + 50);

    env = call_raw(f->fd, 6, "Profiles.List", NULL, 0,
                   RPC_RESOURCE_EXHAUSTED,
                   "the reply exceeds the 4 MiB frame limit");
    assert_string_equal(env->method, "");
    fexsim__v1__envelope__free_unpacked(env, NULL);
    /* The connection goes on, and the rest of the API with it. */
    env = call_raw(f->fd, 7, "Profiles.List", NULL, 0,
                   RPC_RESOURCE_EXHAUSTED, NULL);
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
    check_serving(f);
}

/* Is a fresh operator connection proven and served?  (A closed one is
 * not: the connection cap still holds.) */
static int
served_again(void *arg)
{
    const struct fab *f = arg;
    struct fx_err why;
    int fd = conn_open(f->addr, 0, NULL), ok;

    ok = handshake(fd, &f->key, &operator, &why, NULL) == 1;
    if (ok) {
        check_serving_on(fd);
    }
    close(fd);
    return ok;
}

/* setup_four_conns: --max-conns 4. */
static void
a_fifth_connection_over_the_cap_is_closed_at_once(void **state)
{
    struct fab *f = *state;
    char local[64], want[128];
    int fds[3], fd;

    for (int i = 0; i < 3; i++) {
        fds[i] = proven(f, AUTH_ROLE_OPERATOR, "", NULL);
    }
    fd = conn_open(f->addr, 0, local);
    assert_true(peer_closed(fd));
    close(fd);
    snprintf(want, sizeof want, "connection limit reached: refusing %s",
             local);
    assert_true(log_wait(f->log, want, NULL));
    assert_int_equal(log_count(f->log, 0, "connection limit reached",
                               NULL), 1);
    /* The four go on. */
    check_serving_on(f->fd);
    for (int i = 0; i < 3; i++) {
        check_serving_on(fds[i]);
    }
    close(fds[0]);
    assert_true(th_wait(served_again, f, WAIT_MS));
    close(fds[1]);
    close(fds[2]);
    check_serving(f);
}

/* The daemon's CPU time so far, in ms. */
static uint64_t
cpu_ms(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *fp;

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(buf, sizeof buf, fp));
    fclose(fp);
    p = strrchr(buf, ')');
    assert_non_null(p);
    /* After the name: state, then fields 4-13, then utime and stime. */
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
                            "%*u %*u %lu %lu", &ut, &st), 2);
    return (uint64_t) (ut + st) * 1000 / (uint64_t) sysconf(_SC_CLK_TCK);
}

static int
open_fds(pid_t pid)
{
    char path[64];
    int n = 0;

    for (int i = 0; i < 1024; i++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int) pid, i);
        n += access(path, F_OK) == 0;
    }
    return n;
}

/* The ms of the day of a log line's timestamp (2026-12-04T23:55:43.016Z). */
static long
line_ms(const char *line)
{
    int h, m, s, ms;

    assert_int_equal(sscanf(line, "%*10sT%d:%d:%d.%dZ", &h, &m, &s, &ms), 4);
    return ((h * 60L + m) * 60 + s) * 1000 + ms;
}

/* setup_few_fds: fabricd under RLIMIT_NOFILE 32.  More connections than
 * it has descriptors: accept() fails, and the listener rests 100 ms
 * between tries instead of spinning, saying so at a bounded rate. */
static void
running_out_of_descriptors_rests_the_listener(void **state)
{
    struct fab *f = *state;
    int n = 32 - open_fds(f->pid) + 24, flood[64];
    long stamps[10];
    char line[4096];
    uint64_t t0, cpu0, wall, cpu;
    int k = 0;
    FILE *fp;

    assert_true(n > 24 && n <= 64);
    for (int i = 0; i < n; i++) {
        flood[i] = conn_open(f->addr, 0, NULL);
    }
    assert_true(log_wait(f->log, "cannot accept on", "(Too many open files)"));
    t0 = fx_time_now_ms();
    cpu0 = cpu_ms(f->pid);
    assert_true(log_wait_n(f->log, 10, "cannot accept", NULL));
    wall = fx_time_now_ms() - t0;
    cpu = cpu_ms(f->pid) - cpu0;
    fp = fopen(f->log, "r");
    while (fp && fgets(line, sizeof line, fp) && k < 10) {
        if (strstr(line, "cannot accept")) {
            stamps[k++] = line_ms(line);
        }
    }
    if (fp) {
        fclose(fp);
    }
    assert_int_equal(k, 10);
    for (int i = 1; i < 10; i++) {
        if (stamps[i] - stamps[i - 1] < 90) {
            fail_msg("accept retried after %ld ms", stamps[i] - stamps[i - 1]);
        }
    }
    /* Resting, not spinning: far less CPU than wall time. */
    if (cpu * 2 > wall + 50) {
        fail_msg("%" PRIu64 " ms of CPU in %" PRIu64 " ms", cpu, wall);
    }
    check_serving_on(f->fd);    /* Served while it cannot accept. */
    for (int i = 0; i < n; i++) {
        close(flood[i]);
    }
    assert_true(th_wait(served_again, f, WAIT_MS));
    check_serving(f);
}

/* ---- Strings that are not text ---- */

/* Profiles.Create with profile name 'name' ('len' bytes) is refused with
 * 'want', and no profile is made. */
static void
expect_bad_profile_name(struct fab *f, uint64_t id, const char *name,
                        size_t len, const char *want)
{
    struct pb pb = { 0 };

    profile_req(&pb, name, len, NULL);
    fexsim__v1__envelope__free_unpacked(
        call_raw(f->fd, id, "Profiles.Create", pb.b, pb.len,
                 RPC_INVALID_ARGUMENT, want), NULL);
    free(pb.b);
}

static void
a_nul_inside_a_string_is_refused_naming_the_field(void **state)
{
    struct fab *f = *state;

    expect_bad_profile_name(f, 1, "a\0b", 3, "Profiles.Create: field 'name' "
                            "holds a control byte (0x00) at offset 1");
    expect_bad_profile_name(f, 2, "ab\0", 3, "field 'name' holds a control "
                            "byte (0x00) at offset 2");
    assert_int_equal(profile_count(f->fd), 0);      /* Nothing cut. */
    check_serving(f);
}

static void
control_bytes_in_a_string_are_refused_naming_the_field(void **state)
{
    struct fab *f = *state;

    expect_bad_profile_name(f, 1, "a\x1b[31m", 6, "field 'name' holds a "
                            "control byte (0x1b) at offset 1");
    expect_bad_profile_name(f, 2, "ab\x7f", 3, "field 'name' holds a "
                            "control byte (0x7f) at offset 2");
    expect_bad_profile_name(f, 3, "ab\r\n", 4, "field 'name' holds a "
                            "control byte (0x0d) at offset 2");
    assert_int_equal(profile_count(f->fd), 0);
    check_serving(f);
}

static void
invalid_utf8_in_a_string_is_refused_naming_the_field(void **state)
{
    static const struct {
        const char *s;
        size_t len;
        size_t at;
    } cases[] = {
        { "\xff", 1, 0 },                /* Never in UTF-8. */
        { "ab\xc0\xaf", 4, 2 },          /* Overlong '/'. */
        { "a\x80", 2, 1 },               /* A lone continuation. */
        { "\xed\xa0\x80", 3, 0 },        /* A surrogate. */
        { "a\xe2\x82", 3, 1 },           /* Cut short. */
        { "\xf4\x90\x80\x80", 4, 0 },    /* Beyond U+10FFFF. */
    };
    struct fab *f = *state;
    char want[80];

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(want, sizeof want, "field 'name' is not valid UTF-8 at "
                 "offset %zu", cases[i].at);
        expect_bad_profile_name(f, i + 1, cases[i].s, cases[i].len, want);
    }
    /* Valid UTF-8 passes the wire's check and meets the name's rules. */
    expect_bad_profile_name(f, 9, "caf\xc3\xa9", 5, "invalid profile name");
    assert_int_equal(profile_count(f->fd), 0);
    check_serving(f);
}

/* The method name is a string of the envelope: it is checked the same
 * way, and never echoed back. */
static void
a_method_name_that_is_not_text_is_refused(void **state)
{
    struct fab *f = *state;
    Fexsim__V1__Envelope *env;

    env = call_raw(f->fd, 1, "Fabric.List\x01Hosts", NULL, 0,
                   RPC_INVALID_ARGUMENT,
                   "field 'method' holds a control byte (0x01) at offset 11");
    assert_string_equal(env->method, "");
    fexsim__v1__envelope__free_unpacked(env, NULL);
    env = call_raw(f->fd, 2, "Fabric.\xffListHosts", NULL, 0,
                   RPC_INVALID_ARGUMENT,
                   "field 'method' is not valid UTF-8 at offset 7");
    assert_string_equal(env->method, "");
    fexsim__v1__envelope__free_unpacked(env, NULL);
    env = call_raw(f->fd, 3, "Fabric.ListHosts\xc0\x80", NULL, 0,
                   RPC_INVALID_ARGUMENT,
                   "field 'method' is not valid UTF-8 at offset 16");
    fexsim__v1__envelope__free_unpacked(env, NULL);
    check_serving_on(f->fd);
    check_serving(f);
}

/* Appends an unknown field (number 99) nested 'depth' deep to 'pb',
 * built from the inside out. */
static void
pb_nest(struct pb *pb, int depth)
{
    size_t cap = (size_t) depth * 8 + 16, pos = cap - 1;
    uint8_t *b = malloc(cap);
    struct pb head = { 0 };

    b[pos] = 'x';
    for (int i = 0; i <= depth; i++) {
        head.len = 0;
        pb_varint(&head, 99 << 3 | 2);      /* Key: field 99, bytes. */
        pb_varint(&head, cap - pos);        /* What it wraps. */
        pos -= head.len;
        memcpy(b + pos, head.b, head.len);
    }
    pb_put(pb, b + pos, cap - pos);
    free(head.b);
    free(b);
}

/* Nesting a parser might recurse on: groups, which protobuf-c does not
 * take (refused); an unknown field nested 100000 deep, which no one walks
 * (skipped, as protobuf says); the same request cut short, its lengths
 * running past its end (refused); and a string field holding such a nest
 * of bytes (not text). */
static void
deeply_nested_payloads_are_refused_or_skipped(void **state)
{
    struct fab *f = *state;
    struct pb groups = { 0 }, nest = { 0 }, req = { 0 };

    for (int i = 0; i < 100000; i++) {
        pb_varint(&groups, 15 << 3 | 3);        /* Start group 15. */
    }
    fexsim__v1__envelope__free_unpacked(
        call_raw(f->fd, 1, "Profiles.Create", groups.b, groups.len,
                 RPC_BAD_PAYLOAD, "payload of 'Profiles.Create' is not a "
                 "valid"), NULL);

    pb_nest(&nest, 100000);
    profile_req(&req, "deep", 4, &nest);
    fexsim__v1__envelope__free_unpacked(
        call_raw(f->fd, 2, "Profiles.Create", req.b, req.len, RPC_OK, NULL),
        NULL);
    assert_int_equal(profile_count(f->fd), 1);

    req.len = 0;
    profile_req(&req, "cut", 3, &nest);
    req.len -= 1000;            /* The nest's lengths now overrun. */
    fexsim__v1__envelope__free_unpacked(
        call_raw(f->fd, 3, "Profiles.Create", req.b, req.len,
                 RPC_BAD_PAYLOAD, NULL), NULL);

    req.len = 0;
    profile_req(&req, nest.b, 1000, NULL);
    fexsim__v1__envelope__free_unpacked(
        call_raw(f->fd, 4, "Profiles.Create", req.b, req.len,
                 RPC_INVALID_ARGUMENT, "field 'name' is not valid UTF-8"),
        NULL);
    assert_int_equal(profile_count(f->fd), 1);
    free(groups.b);
    free(nest.b);
    free(req.b);
    check_serving(f);
}

/* ---- A migration's page stream ---- */

struct mig_wait {
    const char *log;
    char needle[64];
    char addr[64];
};

/* Has the destination agent logged where it listens for the pages? */
static int
dst_listening(void *arg)
{
    struct mig_wait *w = arg;
    char line[4096];
    FILE *fp = fopen(w->log, "r");
    const char *p;

    while (fp && fgets(line, sizeof line, fp)) {
        if (strstr(line, w->needle) && (p = strstr(line, "listening on "))) {
            snprintf(w->addr, sizeof w->addr, "%s", p + 13);
            w->addr[strcspn(w->addr, "\n")] = '\0';
        }
    }
    if (fp) {
        fclose(fp);
    }
    return w->addr[0] != '\0';
}

struct mig_done {
    const struct fab *f;
    uint32_t id;
    char state[32];
};

static int
migration_final(void *arg)
{
    struct mig_done *d = arg;
    Fexsim__V1__MigrationRef ref = FEXSIM__V1__MIGRATION_REF__INIT;
    Fexsim__V1__MigrationReply *rep;
    Fexsim__V1__Envelope *env;
    uint8_t buf[32];

    ref.id = d->id;
    env = call_raw(d->f->fd, 50, "Migrations.Get", buf,
                   fexsim__v1__migration_ref__pack(&ref, buf), RPC_OK, NULL);
    rep = fexsim__v1__migration_reply__unpack(NULL, env->payload.len,
                                              env->payload.data);
    pbenum_word(&fexsim__v1__migration_state__descriptor,
                rep->migration->state, d->state, sizeof d->state);
    fexsim__v1__migration_reply__free_unpacked(rep, NULL);
    fexsim__v1__envelope__free_unpacked(env, NULL);
    return strcmp(d->state, "active") && strcmp(d->state, "cancelling");
}

/* Migrates VM 'vm' to host 'to' (Migrations.Start answers at once);
 * returns the migration's id. */
static uint32_t
start_migration(const struct fab *f, const char *vm, const char *to)
{
    Fexsim__V1__MigrateRequest req = FEXSIM__V1__MIGRATE_REQUEST__INIT;
    Fexsim__V1__MigrationReply *rep;
    Fexsim__V1__Envelope *env;
    uint8_t buf[64];
    uint32_t id;

    req.vm = (char *) vm;
    req.to = (char *) to;
    env = call_raw(f->fd, 1, "Migrations.Start", buf,
                   fexsim__v1__migrate_request__pack(&req, buf), RPC_OK,
                   NULL);
    rep = fexsim__v1__migration_reply__unpack(NULL, env->payload.len,
                                              env->payload.data);
    id = rep->migration->id;
    fexsim__v1__migration_reply__free_unpacked(rep, NULL);
    fexsim__v1__envelope__free_unpacked(env, NULL);
    return id;
}

/* While VM v1 migrates from h1 to h2 (h1's agent held stopped, so that the
 * destination waits for its source), strangers connect to the page
 * stream: one with another lab's secret, one an operator with ours.  Each
 * is refused, with one line in h2's log, and the migration then completes
 * with its real source. */
static void
strangers_on_a_migrations_page_stream_are_refused(void **state)
{
    struct fab *f = *state;
    const struct auth_ident peer = { AUTH_ROLE_PEER, "h1" };
    char log[4096], local[64], want[200];
    struct mig_wait w = { .log = log };
    struct mig_done d = { .f = f };
    struct auth_key other;
    struct fx_err why;
    int fd;

    th_fexctl_check(f->dir, __LINE__, 0, NULL, "profile", "create", "pp",
                    "--vlan", "10", NULL);
    th_fexctl_check(f->dir, __LINE__, 0, NULL, "vm", "create", "v1",
                    "--host", "h1", "--memory", "64", "--nic", "pp", NULL);
    th_fexctl_check(f->dir, __LINE__, 0, NULL, "vm", "start", "v1", NULL);
    f->stopped = th_read_pid(f->dir, "agentd-h1.pid");
    assert_true(f->stopped > 0);
    assert_int_equal(kill(f->stopped, SIGSTOP), 0);
    d.id = start_migration(f, "v1", "h2");
    snprintf(log, sizeof log, "%s/agentd-h2.log", f->dir);
    snprintf(w.needle, sizeof w.needle, "migration %u of 'v1'", d.id);
    assert_true(th_wait(dst_listening, &w, WAIT_MS));

    other_lab_key(f, &other);
    fd = conn_open(w.addr, 0, local);
    assert_true(handshake(fd, &other, &peer, &why, NULL) < 0);
    snprintf(want, sizeof want, "refused: wrong lab secret: yours has key "
             "fingerprint %s, ours %s", other.fp, f->key.fp);
    assert_string_equal(why.msg, want);
    close(fd);
    snprintf(want, sizeof want, "migration %u: page stream from %s "
             "refused: wrong lab secret: the peer's key fingerprint is %s, "
             "ours %s", d.id, local, other.fp, f->key.fp);
    assert_true(log_wait(log, want, NULL));

    fd = conn_open(w.addr, 0, local);
    assert_true(handshake(fd, &f->key, &operator, &why, NULL) < 0);
    assert_string_equal(why.msg, "refused: role 'operator' is not served "
                        "here");
    close(fd);
    assert_true(log_wait(log, local, "role 'operator' is not served here"));

    /* The real source comes, and is let in. */
    assert_int_equal(kill(f->stopped, SIGCONT), 0);
    f->stopped = 0;
    assert_true(th_wait(migration_final, &d, 30000));
    assert_string_equal(d.state, "completed");
    check_serving(f);
}

#define T(fn, s) cmocka_unit_test_setup_teardown(fn, s, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        /* Garbage and framing. */
        T(random_bytes_before_the_handshake_are_refused_with_one_log_line,
          setup),
        T(random_bytes_close_the_connection_with_one_log_line, setup),
        T(truncated_frame_then_hangup_leaves_daemon_serving, setup),
        T(huge_length_prefix_closes_the_connection, setup),
        T(wrong_version_gets_an_error_and_the_connection_goes_on, setup),
        T(unknown_method_gets_an_error_and_the_connection_goes_on, setup),
        T(malformed_payload_gets_an_error_and_the_connection_goes_on, setup),
        T(out_of_range_values_get_a_clear_error, setup),
        T(out_of_range_dirty_rate_gets_a_clear_error, setup),
        T(empty_frames_and_stray_replies_are_answered_or_ignored, setup),
        /* The lab secret. */
        T(wrong_secret_is_refused_naming_both_fingerprints, setup),
        T(no_secret_is_refused_by_a_daemon_with_one, setup),
        T(a_secret_is_refused_by_a_daemon_without_one, setup_no_secret),
        T(a_replayed_handshake_is_refused, setup),
        T(a_forged_proof_is_refused, setup),
        T(malformed_hellos_are_refused, setup),
        T(a_burst_of_bad_peers_is_logged_at_a_bounded_rate, setup),
        /* Roles. */
        T(an_agent_cannot_act_for_another_host, setup),
        T(an_operator_cannot_call_agent_methods, setup),
        T(an_agent_cannot_call_operator_methods, setup),
        T(a_host_name_that_is_not_text_is_refused, setup),
        T(an_operator_is_refused_at_an_agents_port, setup_lab),
        T(a_peer_cannot_drive_an_agents_vms, setup_lab),
        T(a_second_agent_for_a_host_that_is_up_is_refused, setup_lab),
        T(garbage_on_an_agents_port_closes_with_one_log_line, setup_lab),
        T(strangers_on_a_migrations_page_stream_are_refused, setup_lab),
        /* The data plane. */
        T(an_uplink_proves_the_lab_secret_first, setup_lab),
        T(an_uplink_without_its_hosts_ticket_is_refused, setup_lab),
        /* Slow and greedy peers. */
        T(a_slow_handshake_is_closed_after_the_frame_timeout, setup_quick),
        T(a_slow_sender_is_closed_after_the_frame_timeout, setup_quick),
        T(a_client_that_never_reads_is_closed, setup_small_queue),
        T(a_client_that_pipelines_and_reads_is_served, setup_small_queue),
        T(a_four_mib_method_name_gets_a_short_reply, setup),
        T(a_reply_over_the_frame_limit_gets_resource_exhausted, setup),
        T(a_fifth_connection_over_the_cap_is_closed_at_once,
          setup_four_conns),
        T(running_out_of_descriptors_rests_the_listener, setup_few_fds),
        /* Strings that are not text. */
        T(a_nul_inside_a_string_is_refused_naming_the_field, setup),
        T(control_bytes_in_a_string_are_refused_naming_the_field, setup),
        T(invalid_utf8_in_a_string_is_refused_naming_the_field, setup),
        T(a_method_name_that_is_not_text_is_refused, setup),
        T(deeply_nested_payloads_are_refused_or_skipped, setup),
    };

    return cmocka_run_group_tests_name("badinput", tests, NULL, NULL);
}
