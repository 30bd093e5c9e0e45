/* seeds: writes the fuzz targets' seed corpora, each input made by the
 * real encoders, so that every fuzzer starts from what a peer really
 * sends and mutates from there (make fuzz-corpus; the result is
 * committed in tests/fuzz/corpus/).
 *
 *   seeds DIR    writes DIR/fuzz_TARGET/NAME for every target
 *
 * Inputs stay small: a fuzzer slows down with the size of what it
 * mutates. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "auth.h"
#include "dframe.h"
#include "domxml.h"
#include "fabric.pb-c.h"
#include "feed.h"
#include "frame.h"
#include "mig_wire.h"
#include "rpc.h"
#include "rpc.pb-c.h"
#include "traffic.h"
#include "vic.h"

/* A growing input. */
struct seed {
    uint8_t *data;
    size_t size;
};

static void
seed_add(struct seed *s, const void *data, size_t size)
{
    s->data = realloc(s->data, s->size + size);
    if (!s->data) {
        abort();
    }
    memcpy(s->data + s->size, data, size);
    s->size += size;
}

/* Writes 's' to DIR/TARGET/NAME and empties it. */
static void
seed_write(struct seed *s, const char *dir, const char *target,
           const char *name)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, target);
    if (mkdir(path, 0777) < 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
    f = fopen(path, "wb");
    if (!f || fwrite(s->data, 1, s->size, f) != s->size || fclose(f)) {
        perror(path);
        exit(1);
    }
    printf("  %-40s %6zu bytes\n", path, s->size);
    free(s->data);
    *s = (struct seed) { NULL, 0 };
}

/* Prepends the byte 'b' to 's' (a target's mode byte). */
static void
seed_mode(struct seed *s, uint8_t b)
{
    struct seed t = { NULL, 0 };

    seed_add(&t, &b, 1);
    seed_add(&t, s->data, s->size);
    free(s->data);
    *s = t;
}

/* ---- The lab secret's handshake, as the real ends run it ---- */

/* Zeroes what is fresh in handshake message 'msg' (the wire layout of
 * auth.c): the nonces and the MACs over them.  They can never match the
 * target's own fresh nonce anyway, and the seeds come out the same at
 * each regeneration. */
static void
auth_blank(uint8_t *msg, size_t len)
{
    static const struct { char magic[5]; size_t from, to; } fresh[] = {
        { "FXA1", 7 + 16, 7 + 16 + AUTH_NONCE_SIZE },
        { "FXA2", 6 + 16, 6 + 16 + AUTH_NONCE_SIZE + AUTH_MAC_SIZE },
        { "FXA3", 4, 4 + AUTH_MAC_SIZE },
    };

    for (size_t i = 0; i < sizeof fresh / sizeof fresh[0]; i++) {
        if (len >= fresh[i].to && !memcmp(msg, fresh[i].magic, 4)) {
            memset(msg + fresh[i].from, 0, fresh[i].to - fresh[i].from);
        }
    }
}

/* Runs a real handshake between a client 'cid' holding 'ck' and a server
 * 'sid' holding 'sk' that serves 'roles', and appends what each end sent
 * to 'c_out' and 's_out' (either may be NULL).  A refused one stops where
 * it was refused, its RESULT sent. */
static void
auth_transcript(const struct auth_key *ck, const struct auth_ident *cid,
                const struct auth_key *sk, const struct auth_ident *sid,
                unsigned roles, struct seed *c_out, struct seed *s_out)
{
    struct auth *end[2] = { auth_client_new(ck, cid),
                            auth_server_new(sk, sid, roles) };
    struct seed *log[2] = { c_out, s_out };
    uint8_t msg[AUTH_MSG_MAX], out[AUTH_MSG_MAX];
    size_t len = 0, used, outlen;
    int rc[2] = { 0, 0 };

    /* The ends take turns, each on the other's last message, the client
     * first (its HELLO, on nothing), until one is done or says nothing. */
    for (int i = 0; rc[i] == 0; i ^= 1) {
        rc[i] = auth_step(end[i], msg, len, &used, out, &outlen, NULL);
        memcpy(msg, out, outlen);
        len = outlen;
        if (log[i]) {
            auth_blank(out, outlen);
            seed_add(log[i], out, outlen);
        }
        if (!outlen) {
            break;
        }
    }
    auth_destroy(end[0]);
    auth_destroy(end[1]);
}

/* ---- fuzz_rpc: framed envelopes ---- */

static void
rpc_env(struct seed *s, uint8_t version, uint64_t id, int kind,
        const char *method, int status, const ProtobufCMessage *msg)
{
    Fexsim__V1__Envelope env = FEXSIM__V1__ENVELOPE__INIT;
    uint8_t hdr[FRAME_HDR_SIZE], *buf;
    size_t n;

    env.id = id;
    env.kind = (Fexsim__V1__Kind) kind;
    env.method = (char *) method;
    env.status = (Fexsim__V1__Status) status;
    env.message = status ? "refused" : "";
    if (msg) {
        env.payload.len = protobuf_c_message_get_packed_size(msg);
        env.payload.data = malloc(env.payload.len + 1);
        protobuf_c_message_pack(msg, env.payload.data);
    }
    n = fexsim__v1__envelope__get_packed_size(&env);
    buf = malloc(n + 1);
    fexsim__v1__envelope__pack(&env, buf);
    frame_encode(hdr, version, (uint32_t) n);
    seed_add(s, hdr, sizeof hdr);
    seed_add(s, buf, n);
    free(buf);
    free(env.payload.data);
}

/* fuzz_rpc's first byte (fuzz_rpc.c): 0 and 1 raw, the handshake in the
 * input (to our server end, to our client end); from 2, the harness
 * proves a peer first, bit 0 our client end, bits 1-2 the role. */
#define RPC_RAW_SERVER 0
#define RPC_RAW_CLIENT 1
#define RPC_PROVEN(client, role) \
    ((uint8_t) (8 | (client) | ((role) - AUTH_ROLE_OPERATOR) << 1))

static void
rpc_handshake_seeds(const char *dir)
{
    static const struct auth_ident op = { AUTH_ROLE_OPERATOR, "" };
    static const struct auth_ident fabric = { AUTH_ROLE_FABRIC, "" };
    Fexsim__V1__ListHostsRequest list = FEXSIM__V1__LIST_HOSTS_REQUEST__INIT;
    struct auth_key none;
    struct seed s = { NULL, 0 };

    /* A stranger's whole handshake (its proof cannot match the fresh
     * nonce), a request behind it; and a server's answers. */
    auth_key_none(&none);
    auth_transcript(&none, &op, &none, &fabric, AUTH_ROLES_ALL, &s, NULL);
    rpc_env(&s, FRAME_VERSION, 1, FEXSIM__V1__KIND__KIND_REQUEST,
            "Fabric.ListHosts", 0, &list.base);
    seed_mode(&s, RPC_RAW_SERVER);
    seed_write(&s, dir, "fuzz_rpc", "handshake-client");
    auth_transcript(&none, &op, &none, &fabric, AUTH_ROLES_ALL, NULL, &s);
    seed_mode(&s, RPC_RAW_CLIENT);
    seed_write(&s, dir, "fuzz_rpc", "handshake-server");
}

static void
rpc_seeds(const char *dir)
{
    Fexsim__V1__RegisterHostRequest reg =
        FEXSIM__V1__REGISTER_HOST_REQUEST__INIT;
    Fexsim__V1__HeartbeatRequest hb = FEXSIM__V1__HEARTBEAT_REQUEST__INIT;
    Fexsim__V1__ListHostsRequest list = FEXSIM__V1__LIST_HOSTS_REQUEST__INIT;
    Fexsim__V1__ListHostsReply rep = FEXSIM__V1__LIST_HOSTS_REPLY__INIT;
    Fexsim__V1__Host host = FEXSIM__V1__HOST__INIT, *hosts[] = { &host };
    const int req = FEXSIM__V1__KIND__KIND_REQUEST;
    const int reply = FEXSIM__V1__KIND__KIND_REPLY;
    const int event = FEXSIM__V1__KIND__KIND_EVENT;
    struct seed s = { NULL, 0 };

    reg.name = "h1";
    reg.rpc_addr = "127.0.0.1:7801";
    rpc_env(&s, FRAME_VERSION, 1, req, "Fabric.RegisterHost", 0, &reg.base);
    seed_mode(&s, RPC_PROVEN(0, AUTH_ROLE_AGENT));
    seed_write(&s, dir, "fuzz_rpc", "register");

    reg.name = "defer";
    rpc_env(&s, FRAME_VERSION, 2, req, "Fabric.RegisterHost", 0, &reg.base);
    hb.name = "h1";
    rpc_env(&s, FRAME_VERSION, 3, req, "Fabric.Heartbeat", 0, &hb.base);
    rpc_env(&s, FRAME_VERSION, 4, req, "Fabric.ListHosts", 0, &list.base);
    seed_mode(&s, RPC_PROVEN(0, AUTH_ROLE_PEER));
    seed_write(&s, dir, "fuzz_rpc", "defer-heartbeat-list");

    host.name = "h1";
    rep.n_hosts = 1;
    rep.hosts = hosts;
    rpc_env(&s, FRAME_VERSION, 1, reply, "Fabric.ListHosts", RPC_OK,
            &rep.base);
    rpc_env(&s, FRAME_VERSION, 2, reply, "Fabric.ListHosts", RPC_NOT_FOUND,
            NULL);
    rpc_env(&s, FRAME_VERSION, 1, event, "Events.Event", 0, &host.base);
    seed_mode(&s, RPC_PROVEN(1, AUTH_ROLE_FABRIC));
    seed_write(&s, dir, "fuzz_rpc", "replies-events");

    /* An operator may not register a host; a name with a control byte is
     * refused, never cut. */
    reg.name = "taken";
    rpc_env(&s, FRAME_VERSION, 5, req, "Fabric.RegisterHost", 0, &reg.base);
    hb.name = "h\n1";
    rpc_env(&s, FRAME_VERSION, 6, req, "Fabric.Heartbeat", 0, &hb.base);
    rpc_env(&s, FRAME_VERSION, 7, req, "Fabric.Unknown", 0, NULL);
    rpc_env(&s, FRAME_VERSION + 1, 8, req, "Fabric.ListHosts", 0,
            &list.base);
    seed_mode(&s, RPC_PROVEN(0, AUTH_ROLE_OPERATOR));
    seed_write(&s, dir, "fuzz_rpc", "refusals");
    rpc_handshake_seeds(dir);
}

/* ---- fuzz_dframe: uplink messages ---- */

static void
dframe_seeds(const char *dir)
{
    const struct dframe_ticket ticket = { { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                            11, 12, 13, 14, 15, 16 } };
    uint8_t msg[DFRAME_HELLO_SIZE], frame[64] = { 0x02, 0, 0, 0, 0, 2,
                                                  0x02, 0, 0, 0, 0, 1,
                                                  0x88, 0xb5 };
    uint8_t *batch = malloc(DFRAME_MAX_MSG);
    struct dframe_writer w;
    struct seed s = { NULL, 0 };

    seed_add(&s, msg, dframe_hello_encode(msg, &ticket));
    dframe_writer_init(&w, batch, DFRAME_MAX_MSG);
    dframe_writer_add(&w, 1, frame, sizeof frame);
    dframe_writer_add(&w, 2, frame, DFRAME_MIN_FRAME);
    seed_add(&s, batch, dframe_writer_finish(&w));
    seed_add(&s, msg, dframe_marker_encode(msg, 7, 1));
    seed_write(&s, dir, "fuzz_dframe", "hello-batch-marker");

    dframe_writer_init(&w, batch, DFRAME_MAX_MSG);
    for (uint32_t vif = 1; vif <= 4; vif++) {
        dframe_writer_add(&w, vif, frame, sizeof frame);
    }
    seed_add(&s, batch, dframe_writer_finish(&w));
    seed_write(&s, dir, "fuzz_dframe", "batch");
    free(batch);
}

/* ---- fuzz_dplane: one host's uplink (the ports of fuzz_dplane.c) ---- */

/* A 64-byte frame from 'src' to 'dst' (last bytes of 02:00:00:00:00:xx,
 * 0xff: broadcast), tagged with 'vlan' unless 0. */
static void
dplane_frame(struct dframe_writer *w, uint32_t vif, uint8_t dst,
             uint8_t src, uint16_t vlan)
{
    uint8_t f[64] = { 0x02, 0, 0, 0, 0, dst, 0x02, 0, 0, 0, 0, src };
    uint8_t *type = f + 12;

    if (dst == 0xff) {
        memset(f, 0xff, 6);
    }
    if (vlan) {
        type[0] = 0x81;
        type[2] = (uint8_t) (vlan >> 8);
        type[3] = (uint8_t) vlan;
        type += 4;
    }
    type[0] = 0x08;
    dframe_writer_add(w, vif, f, sizeof f);
}

/* fuzz_dplane's first byte (fuzz_dplane.c): 0 the handshake in the
 * input, 1 the harness proved h0's agent (HELLO on), 2 it sent h0's
 * HELLO too. */
#define DPLANE_RAW 0
#define DPLANE_PROVEN 1
#define DPLANE_BOUND 2

static void
dplane_seeds(const char *dir)
{
    static const struct auth_ident h0 = { AUTH_ROLE_AGENT, "h0" };
    static const struct auth_ident fabric = { AUTH_ROLE_FABRIC, "" };
    const struct dframe_ticket made_up = { { 0 } };
    uint8_t msg[DFRAME_HELLO_SIZE], *batch = malloc(DFRAME_MAX_MSG);
    struct dframe_writer w;
    struct auth_key none;
    struct seed s = { NULL, 0 };

    /* VIF 1 floods VLAN 10 (host 1 and the held VIF 6 get it), VIF 3
     * floods VLAN 20, VIF 2 answers VIF 1 tagged 10; then VIF 1 is held
     * by a MARKER: its frames drop, frames to it are held. */
    dframe_writer_init(&w, batch, DFRAME_MAX_MSG);
    dplane_frame(&w, 1, 0xff, 1, 0);
    dplane_frame(&w, 3, 0x05, 3, 0);
    dplane_frame(&w, 2, 0x01, 2, 10);
    seed_add(&s, batch, dframe_writer_finish(&w));
    seed_add(&s, msg, dframe_marker_encode(msg, 1, 1));
    dframe_writer_init(&w, batch, DFRAME_MAX_MSG);
    dplane_frame(&w, 1, 0x02, 1, 0);
    dplane_frame(&w, 2, 0x01, 2, 0);
    seed_add(&s, batch, dframe_writer_finish(&w));
    seed_mode(&s, DPLANE_BOUND);
    seed_write(&s, dir, "fuzz_dplane", "switch-hold");

    /* Frames from a VIF that is not a port, of another host, in a VLAN
     * the port is not in. */
    dframe_writer_init(&w, batch, DFRAME_MAX_MSG);
    dplane_frame(&w, 99, 0xff, 9, 0);
    dplane_frame(&w, 4, 0xff, 4, 0);
    dplane_frame(&w, 1, 0xff, 1, 20);
    seed_add(&s, batch, dframe_writer_finish(&w));
    seed_mode(&s, DPLANE_BOUND);
    seed_write(&s, dir, "fuzz_dplane", "drops");

    /* A HELLO whose ticket nobody issued, frames behind it. */
    seed_add(&s, msg, dframe_hello_encode(msg, &made_up));
    dframe_writer_init(&w, batch, DFRAME_MAX_MSG);
    dplane_frame(&w, 1, 0xff, 1, 0);
    seed_add(&s, batch, dframe_writer_finish(&w));
    seed_mode(&s, DPLANE_PROVEN);
    seed_write(&s, dir, "fuzz_dplane", "hello-made-up");

    /* A stranger's agent handshake, then that HELLO. */
    auth_key_none(&none);
    auth_transcript(&none, &h0, &none, &fabric,
                    AUTH_ROLE_MASK(AUTH_ROLE_AGENT), &s, NULL);
    seed_add(&s, msg, dframe_hello_encode(msg, &made_up));
    seed_mode(&s, DPLANE_RAW);
    seed_write(&s, dir, "fuzz_dplane", "handshake");
    free(batch);
}

/* ---- fuzz_mig_dst: page streams (FZ_PAGES = 16 pages of guest) ---- */

static void
mig_record(struct seed *s, uint8_t type, uint64_t arg, const void *payload,
           uint32_t len)
{
    struct mig_wire_hdr h = { type, len, arg, mig_wire_sum(payload, len) };
    uint8_t hdr[MIG_WIRE_HDR_SIZE];

    mig_wire_encode(hdr, &h);
    seed_add(s, hdr, sizeof hdr);
    seed_add(s, payload, len);
}

static void
mig_hello(struct seed *s, uint32_t n_devices)
{
    struct mig_wire_hello h = { MIG_WIRE_VERSION, 4096, 16, n_devices };
    uint8_t buf[MIG_WIRE_HELLO_SIZE];

    mig_wire_hello_encode(buf, &h);
    mig_record(s, MIG_WIRE_HELLO, 0, buf, sizeof buf);
}

static void
mig_device(struct seed *s, uint64_t idx, const char *name,
           const uint8_t *state, uint32_t size)
{
    uint8_t buf[MIG_WIRE_DEV_NAME + 64] = { 0 };

    snprintf((char *) buf, MIG_WIRE_DEV_NAME, "%s", name);
    memcpy(buf + MIG_WIRE_DEV_NAME, state, size);
    mig_record(s, MIG_WIRE_DEVICE, idx, buf, MIG_WIRE_DEV_NAME + size);
}

/* The first byte of fuzz_mig_dst and fuzz_mig_src: bit 0, the harness
 * proves a peer first; bit 1, with the lab secret (feed_key()). */
#define MIG_PROVEN 1
#define MIG_SECRET 2

/* A peer's handshake with 'key' to the destination "h1": the source's
 * half ('src' true) or the destination's. */
static void
mig_handshake(struct seed *s, const struct auth_key *key, bool src)
{
    static const struct auth_ident h0 = { AUTH_ROLE_PEER, "h0" };
    static const struct auth_ident h1 = { AUTH_ROLE_PEER, "h1" };

    auth_transcript(key, &h0, key, &h1, AUTH_ROLE_MASK(AUTH_ROLE_PEER),
                    src ? s : NULL, src ? NULL : s);
}

static void
mig_seeds(const char *dir, const struct auth_key *key)
{
    static uint8_t pages[MIG_WIRE_PAGES_LEN(1)];
    const uint8_t state[16] = { 1, 2, 3, 4 };
    struct auth_key none;
    struct seed s = { NULL, 0 };

    mig_hello(&s, 2);
    mig_wire_put64(pages, 3);                   /* Page 3... */
    memset(pages + MIG_WIRE_IDX_SIZE(1), 0x5a, 4096);   /* ...of 0x5a. */
    mig_record(&s, MIG_WIRE_PAGES, 1, pages, sizeof pages);
    mig_record(&s, MIG_WIRE_ROUND, 1, "", 0);
    mig_record(&s, MIG_WIRE_STOP, 0, "", 0);
    mig_device(&s, 0, "vnic0", state, sizeof state);
    mig_device(&s, 1, "traffic", state, 8);
    mig_record(&s, MIG_WIRE_END, 1, "", 0);
    seed_mode(&s, MIG_PROVEN);
    seed_write(&s, dir, "fuzz_mig_dst", "complete");

    mig_hello(&s, 1);
    mig_record(&s, MIG_WIRE_STOP, 0, "", 0);
    mig_device(&s, 0, "vnic0", state, sizeof state);
    mig_record(&s, MIG_WIRE_END, 0, "", 0);
    seed_mode(&s, MIG_PROVEN | MIG_SECRET);
    seed_write(&s, dir, "fuzz_mig_dst", "no-pages");

    mig_hello(&s, 0);
    mig_record(&s, MIG_WIRE_ROUND, 1, "", 0);
    mig_record(&s, MIG_WIRE_ABORT, 0, "source gave up", 14);
    seed_mode(&s, MIG_PROVEN);
    seed_write(&s, dir, "fuzz_mig_dst", "abort");

    /* A stranger's handshake, then a stream: without a secret, and with
     * the secret's fingerprint (its proof cannot match). */
    auth_key_none(&none);
    mig_handshake(&s, &none, true);
    mig_hello(&s, 0);
    seed_mode(&s, 0);
    seed_write(&s, dir, "fuzz_mig_dst", "handshake");
    mig_handshake(&s, key, true);
    seed_mode(&s, MIG_SECRET);
    seed_write(&s, dir, "fuzz_mig_dst", "handshake-secret");
}

/* ---- fuzz_mig_src: what the destination answers ---- */

static void
mig_src_seeds(const char *dir, const struct auth_key *key)
{
    static const char why[] = "page stream: checksum mismatch";
    struct auth_key none;
    struct seed s = { NULL, 0 };

    /* Round 1 acknowledged, the source converges and switches over,
     * the destination resumes. */
    mig_record(&s, MIG_WIRE_ROUND, 1, "", 0);
    mig_record(&s, MIG_WIRE_RESUMED, 0, "", 0);
    seed_mode(&s, MIG_PROVEN);
    seed_write(&s, dir, "fuzz_mig_src", "round-resumed");

    mig_record(&s, MIG_WIRE_ABORT, 0, why, sizeof why - 1);
    seed_mode(&s, MIG_PROVEN | MIG_SECRET);
    seed_write(&s, dir, "fuzz_mig_src", "abort");

    mig_record(&s, MIG_WIRE_RESUMED, 0, "", 0);
    seed_mode(&s, MIG_PROVEN);
    seed_write(&s, dir, "fuzz_mig_src", "resumed-too-early");

    /* A destination's answers to another source's HELLO: its proof is
     * over another nonce. */
    auth_key_none(&none);
    mig_handshake(&s, &none, false);
    mig_record(&s, MIG_WIRE_ROUND, 1, "", 0);
    seed_mode(&s, 0);
    seed_write(&s, dir, "fuzz_mig_src", "handshake");
    mig_handshake(&s, key, false);
    seed_mode(&s, MIG_SECRET);
    seed_write(&s, dir, "fuzz_mig_src", "handshake-secret");
}

/* ---- fuzz_auth: handshakes ---- */

/* fuzz_auth's first byte (fuzz_auth.c), and its second for the single
 * ends: the roles served, shifted (0x0f: all), or the client's identity
 * (role + 6 * name: 8 is the agent "h1"). */
enum { AUTH_SERVER_KEY, AUTH_SERVER_NONE, AUTH_CLIENT_KEY, AUTH_CLIENT_NONE,
       AUTH_PAIR };

static void
auth_seed(const char *dir, const char *name, uint8_t mode, uint8_t setup,
          struct seed *s)
{
    seed_mode(s, setup);
    seed_mode(s, mode);
    seed_write(s, dir, "fuzz_auth", name);
}

static void
auth_seeds(const char *dir, const struct auth_key *key)
{
    static const struct auth_ident agent = { AUTH_ROLE_AGENT, "h1" };
    static const struct auth_ident fabric = { AUTH_ROLE_FABRIC, "" };
    /* fuzz_auth's pair: client "h1" the agent, every role served, then
     * cuts (bit 7: the client first; the rest, bytes - 1). */
    static const uint8_t cuts[] = { 8, 0x0f, 0x80, 3, 0x83, 0x7f, 1, 0xff,
                                    'F', 'X', 0 };
    struct auth_key none;
    struct seed s = { NULL, 0 };

    auth_key_none(&none);
    auth_transcript(key, &agent, key, &fabric, AUTH_ROLES_ALL, &s, NULL);
    auth_seed(dir, "server-secret", AUTH_SERVER_KEY, 0x0f, &s);
    auth_transcript(&none, &agent, &none, &fabric, AUTH_ROLES_ALL, &s,
                    NULL);
    auth_seed(dir, "server-none", AUTH_SERVER_NONE, 0x0f, &s);
    auth_transcript(&none, &agent, key, &fabric, AUTH_ROLES_ALL, &s, NULL);
    auth_seed(dir, "server-refuses-none", AUTH_SERVER_KEY, 0x0f, &s);
    auth_transcript(key, &agent, key, &fabric, AUTH_ROLES_ALL, NULL, &s);
    auth_seed(dir, "client-secret", AUTH_CLIENT_KEY, 8, &s);
    auth_transcript(&none, &agent, &none, &fabric, AUTH_ROLES_ALL, NULL,
                    &s);
    auth_seed(dir, "client-none", AUTH_CLIENT_NONE, 8, &s);
    auth_transcript(key, &agent, key, &fabric, 0, NULL, &s);
    auth_seed(dir, "client-refused", AUTH_CLIENT_KEY, 8, &s);
    seed_add(&s, cuts, sizeof cuts);
    auth_seed(dir, "pair-secret", AUTH_PAIR, 0, &s);
    seed_add(&s, cuts, sizeof cuts);
    auth_seed(dir, "pair-forged", AUTH_PAIR, 2, &s);
}

/* ---- fuzz_vic: device states ---- */

static void
vic_seeds(const char *dir)
{
    const struct vic_vnic_cfg cfg = { { 0x00, 0x25, 0xb5, 0, 0, 1 }, 10,
                                      9000, VIC_OFFLOAD_TX_CSUM
                                            | VIC_OFFLOAD_TSO };
    uint8_t frame[64] = { 0x00, 0x25, 0xb5, 0, 0, 2 };
    struct vic *vic = vic_create("M81KR", 2, NULL);
    struct seed s = { NULL, 0 };
    uint32_t idx;

    vic_vnic_reserve(vic, &idx, NULL);
    vic_vnic_bind(vic, idx, &cfg, NULL);
    vic_vnic_quiesce(vic, idx, NULL);
    vic_checkpoint(vic, idx, &s.data, &s.size, NULL);
    seed_write(&s, dir, "fuzz_vic", "empty-rings");

    vic_vnic_resume(vic, idx, NULL);
    vic_vnic_set_intr_mask(vic, idx, 0x5, NULL);
    vic_vnic_rx_push(vic, idx, frame, sizeof frame, NULL);
    vic_vnic_rx_push(vic, idx, frame, 20, NULL);
    vic_vnic_tx_push(vic, idx, frame, sizeof frame, NULL);
    vic_vnic_quiesce(vic, idx, NULL);
    vic_vnic_rx_push(vic, idx, frame, sizeof frame, NULL);  /* Dropped. */
    vic_checkpoint(vic, idx, &s.data, &s.size, NULL);
    seed_write(&s, dir, "fuzz_vic", "frames");
    vic_destroy(vic);
}

/* ---- fuzz_domxml: domain XML ---- */

/* As virDomainGetXMLDesc() returns a domain of ours: libvirt's own
 * elements around ours, memory in KiB. */
static const char domxml_libvirt[] =
    "<domain type='test' id='1'>\n"
    "  <name>vm1</name>\n"
    "  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>\n"
    "  <metadata>\n"
    "    <fexsim:vm xmlns:fexsim=\"https://fexsim.dev/xmlns/vm/1\" "
    "reservation_mib=\"1024\"/>\n"
    "  </metadata>\n"
    "  <memory unit='KiB'>1048576</memory>\n"
    "  <currentMemory unit='KiB'>1048576</currentMemory>\n"
    "  <vcpu placement='static'>1</vcpu>\n"
    "  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>\n"
    "  <devices>\n"
    "    <interface type='direct'>\n"
    "      <mac address='00:25:b5:00:00:01'/>\n"
    "      <source dev='enic0' mode='passthrough'/>\n"
    "      <virtualport type='802.1Qbh'>\n"
    "        <parameters profileid='pp1'/>\n"
    "      </virtualport>\n"
    "      <model type='virtio'/>\n"
    "    </interface>\n"
    "    <interface type='network'>\n"
    "      <mac address='52:54:00:12:34:56'/>\n"
    "      <source network='default'/>\n"
    "    </interface>\n"
    "  </devices>\n"
    "</domain>\n";

static void
domxml_seeds(const char *dir)
{
    struct domxml_vm vm = { .name = "vm1", .memory_mib = 2048,
                            .reservation_mib = 2048, .n_nics = 2 };
    struct seed s = { NULL, 0 };
    char *xml;

    snprintf(vm.nics[0].mac, sizeof vm.nics[0].mac, "00:25:b5:00:00:01");
    snprintf(vm.nics[0].profile, sizeof vm.nics[0].profile, "pp1");
    vm.nics[0].vnic = 3;
    snprintf(vm.nics[1].mac, sizeof vm.nics[1].mac, "00:25:b5:00:00:02");
    snprintf(vm.nics[1].profile, sizeof vm.nics[1].profile, "hp");
    vm.nics[1].directpath = 1;
    vm.nics[1].vnic = 300;
    domxml_build(&vm, &xml, NULL);
    seed_add(&s, xml, strlen(xml));
    seed_write(&s, dir, "fuzz_domxml", "built");
    free(xml);
    seed_add(&s, domxml_libvirt, strlen(domxml_libvirt));
    seed_write(&s, dir, "fuzz_domxml", "libvirt");
}

/* ---- fuzz_traffic: traffic states ---- */

static uint8_t *
traffic_room(void *arg, uint32_t vif, uint32_t len)
{
    (void) arg;
    (void) vif;
    (void) len;
    return NULL;
}

static void
traffic_noflush(void *arg)
{
    (void) arg;
}

static void
traffic_seeds(const char *dir)
{
    const struct traffic_io io = { traffic_room, traffic_noflush, NULL };
    struct traffic_gen_cfg cfg = {
        .flow_id = 1, .src_vif = 10,
        .src_mac = { 0x00, 0x25, 0xb5, 0, 0, 1 },
        .dst_mac = { 0x00, 0x25, 0xb5, 0, 0, 2 },
        .rate_pps = 1000, .size = 64, .count = 0,
    };
    struct event_base *base = event_base_new();
    struct traffic *t = traffic_create(base, &io);
    const uint32_t gens[] = { 1, 2 }, sinks[] = { 3 };
    uint8_t frame[64];
    struct traffic_gen g;
    struct seed s = { NULL, 0 };

    traffic_gen_start(t, &cfg, NULL);
    cfg.flow_id = 2;
    cfg.count = 100;
    traffic_gen_start(t, &cfg, NULL);
    traffic_export(t, gens, 2, NULL, 0, &s.data, &s.size);
    /* The generators' start times are this clock's: fixed, so that the
     * corpus comes out the same at each regeneration. */
    for (size_t i = 0; i < 2; i++) {
        memset(s.data + 8 + i * (8 + sizeof g) + 8
               + offsetof(struct traffic_gen, start_us), 0, 8);
    }
    seed_write(&s, dir, "fuzz_traffic", "generators");

    /* A sink that saw frames 0, 1 and 3 of flow 3, stamped as sent at
     * the end of time: their latency is 0, whatever this clock says. */
    cfg.flow_id = 3;
    traffic_sink_open(t, 3, NULL);
    traffic_gen_init(&g, &cfg, 0);
    for (uint64_t seq = 0; seq < 4; seq++) {
        g.sent = seq;
        traffic_gen_fill(&g, frame, UINT64_MAX);
        if (seq != 2) {
            traffic_rx(t, 10, frame, sizeof frame);
        }
    }
    traffic_export(t, NULL, 0, sinks, 1, &s.data, &s.size);
    seed_write(&s, dir, "fuzz_traffic", "sink");
    traffic_destroy(t);
    event_base_free(base);
}

int
main(int argc, char **argv)
{
    struct auth_key key;

    if (argc != 2) {
        fprintf(stderr, "usage: seeds DIR\n");
        return 2;
    }
    feed_key(&key);
    rpc_seeds(argv[1]);
    dframe_seeds(argv[1]);
    dplane_seeds(argv[1]);
    mig_seeds(argv[1], &key);
    mig_src_seeds(argv[1], &key);
    auth_seeds(argv[1], &key);
    vic_seeds(argv[1]);
    domxml_seeds(argv[1]);
    traffic_seeds(argv[1]);
    return 0;
}
