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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "dframe.h"
#include "domxml.h"
#include "fabric.pb-c.h"
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
    struct seed s = { NULL, 0 };

    reg.name = "h1";
    reg.rpc_addr = "127.0.0.1:7801";
    rpc_env(&s, FRAME_VERSION, 1, req, "Fabric.RegisterHost", 0, &reg.base);
    seed_write(&s, dir, "fuzz_rpc", "register");

    reg.name = "defer";
    rpc_env(&s, FRAME_VERSION, 2, req, "Fabric.RegisterHost", 0, &reg.base);
    hb.name = "h1";
    rpc_env(&s, FRAME_VERSION, 3, req, "Fabric.Heartbeat", 0, &hb.base);
    rpc_env(&s, FRAME_VERSION, 4, req, "Fabric.ListHosts", 0, &list.base);
    seed_write(&s, dir, "fuzz_rpc", "defer-heartbeat-list");

    host.name = "h1";
    rep.n_hosts = 1;
    rep.hosts = hosts;
    rpc_env(&s, FRAME_VERSION, 1, reply, "Fabric.ListHosts", RPC_OK,
            &rep.base);
    rpc_env(&s, FRAME_VERSION, 2, reply, "Fabric.ListHosts", RPC_NOT_FOUND,
            NULL);
    seed_write(&s, dir, "fuzz_rpc", "replies");

    reg.name = "taken";
    rpc_env(&s, FRAME_VERSION, 5, req, "Fabric.RegisterHost", 0, &reg.base);
    rpc_env(&s, FRAME_VERSION, 6, req, "Fabric.Unknown", 0, NULL);
    rpc_env(&s, FRAME_VERSION, 7, FEXSIM__V1__KIND__KIND_EVENT,
            "Fabric.Event", 0, NULL);
    rpc_env(&s, FRAME_VERSION + 1, 8, req, "Fabric.ListHosts", 0,
            &list.base);
    seed_write(&s, dir, "fuzz_rpc", "refusals");
}

/* ---- fuzz_dframe: uplink messages ---- */

static void
dframe_seeds(const char *dir)
{
    uint8_t msg[DFRAME_MARKER_SIZE], frame[64] = { 0x02, 0, 0, 0, 0, 2,
                                                   0x02, 0, 0, 0, 0, 1,
                                                   0x88, 0xb5 };
    uint8_t *batch = malloc(DFRAME_MAX_MSG);
    struct dframe_writer w;
    struct seed s = { NULL, 0 };

    seed_add(&s, msg, dframe_hello_encode(msg, 0));
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

static void
dplane_seeds(const char *dir)
{
    uint8_t msg[DFRAME_MARKER_SIZE], *batch = malloc(DFRAME_MAX_MSG);
    struct dframe_writer w;
    struct seed s = { NULL, 0 };

    /* VIF 1 floods VLAN 10 (host 1 and the held VIF 6 get it), VIF 3
     * floods VLAN 20, VIF 2 answers VIF 1 tagged 10; then VIF 1 is held
     * by a MARKER: its frames drop, frames to it are held. */
    seed_add(&s, msg, dframe_hello_encode(msg, 0));
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
    seed_write(&s, dir, "fuzz_dplane", "switch-hold");

    /* Frames from a VIF that is not a port, of another host, in a VLAN
     * the port is not in. */
    seed_add(&s, msg, dframe_hello_encode(msg, 0));
    dframe_writer_init(&w, batch, DFRAME_MAX_MSG);
    dplane_frame(&w, 99, 0xff, 9, 0);
    dplane_frame(&w, 4, 0xff, 4, 0);
    dplane_frame(&w, 1, 0xff, 1, 20);
    seed_add(&s, batch, dframe_writer_finish(&w));
    seed_write(&s, dir, "fuzz_dplane", "drops");
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

static void
mig_seeds(const char *dir)
{
    static uint8_t pages[MIG_WIRE_PAGES_LEN(1)];
    const uint8_t state[16] = { 1, 2, 3, 4 };
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
    seed_write(&s, dir, "fuzz_mig_dst", "complete");

    mig_hello(&s, 1);
    mig_record(&s, MIG_WIRE_STOP, 0, "", 0);
    mig_device(&s, 0, "vnic0", state, sizeof state);
    mig_record(&s, MIG_WIRE_END, 0, "", 0);
    seed_write(&s, dir, "fuzz_mig_dst", "no-pages");

    mig_hello(&s, 0);
    mig_record(&s, MIG_WIRE_ROUND, 1, "", 0);
    mig_record(&s, MIG_WIRE_ABORT, 0, "source gave up", 14);
    seed_write(&s, dir, "fuzz_mig_dst", "abort");
}

/* ---- fuzz_mig_src: what the destination answers ---- */

static void
mig_src_seeds(const char *dir)
{
    static const char why[] = "page stream: checksum mismatch";
    struct seed s = { NULL, 0 };

    /* Round 1 acknowledged, the source converges and switches over,
     * the destination resumes. */
    mig_record(&s, MIG_WIRE_ROUND, 1, "", 0);
    mig_record(&s, MIG_WIRE_RESUMED, 0, "", 0);
    seed_write(&s, dir, "fuzz_mig_src", "round-resumed");

    mig_record(&s, MIG_WIRE_ABORT, 0, why, sizeof why - 1);
    seed_write(&s, dir, "fuzz_mig_src", "abort");

    mig_record(&s, MIG_WIRE_RESUMED, 0, "", 0);
    seed_write(&s, dir, "fuzz_mig_src", "resumed-too-early");
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
    if (argc != 2) {
        fprintf(stderr, "usage: seeds DIR\n");
        return 2;
    }
    rpc_seeds(argv[1]);
    dframe_seeds(argv[1]);
    dplane_seeds(argv[1]);
    mig_seeds(argv[1]);
    mig_src_seeds(argv[1]);
    vic_seeds(argv[1]);
    domxml_seeds(argv[1]);
    traffic_seeds(argv[1]);
    return 0;
}
