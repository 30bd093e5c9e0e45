/* fexctl traffic ...: the guests' traffic model between VMs, through the
 * fabric's data plane; and fexctl vif stats: the fabric's per-VIF
 * counters. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "dataplane.pb-c.h"
#include "fx_err.h"
#include "fx_limits.h"
#include "fx_parse.h"

struct traffic_opts {
    uint64_t rate, size, count;
    int have_rate, have_size;
};

enum { T_RATE = 1, T_SIZE, T_COUNT };

static const struct option traffic_start_opts[] = {
    { "rate", required_argument, NULL, T_RATE },
    { "size", required_argument, NULL, T_SIZE },
    { "count", required_argument, NULL, T_COUNT },
    { NULL, 0, NULL, 0 },
};

static int
traffic_opt(void *arg, int opt, const char *val)
{
    struct traffic_opts *o = arg;
    struct fx_err err;
    int rc = 0;

    switch (opt) {
    case T_RATE:
        rc = fx_parse_u64(val, 1, FX_LIMITS_FLOW_MAX_RATE, &o->rate, "--rate "
                          "(frames per second)", &err);
        o->have_rate = 1;
        break;
    case T_SIZE:
        rc = fx_parse_u64(val, FX_LIMITS_FLOW_MIN_SIZE,
                          FX_LIMITS_FLOW_MAX_SIZE, &o->size,
                          "--size (frame bytes; vNIC MTU 1500)", &err);
        o->have_size = 1;
        break;
    case T_COUNT:
        rc = fx_parse_u64(val, 1, UINT64_MAX, &o->count, "--count", &err);
        break;
    default: break;
    }
    return rc ? cli_usage_error("traffic start", "%s", err.msg) : 0;
}

static int
cmd_traffic_start(struct cli *cli, const struct cli_cmd *cmd, int argc,
                  char **argv)
{
    Fexsim__V1__TrafficStartRequest req =
        FEXSIM__V1__TRAFFIC_START_REQUEST__INIT;
    Fexsim__V1__TrafficStartReply *rep;
    struct traffic_opts o = { 0 };
    const char *dst;
    struct fx_err err;
    int rc;

    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(cmd->usage, stdout);
        return CLI_OK;
    }
    if (argc < 2 || argv[1][0] == '-') {
        return cli_usage_error("traffic start", "missing SRC-VM");
    }
    /* argv[1] (SRC-VM) stands in for the program name. */
    rc = args_parse_named(cli, cmd, argc - 1, argv + 1, "DST-VM", &dst,
                          traffic_start_opts, traffic_opt, &o);
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (!o.have_rate || !o.have_size) {
        return cli_usage_error("traffic start", "--rate PPS and --size "
                               "BYTES are required");
    }
    req.src_vm = argv[1];
    req.dst_vm = (char *) dst;
    req.rate_pps = (uint32_t) o.rate;
    req.size = (uint32_t) o.size;
    req.count = o.count;
    if (cli_call(cli, "Dataplane.TrafficStart", &req.base,
                 &fexsim__v1__traffic_start_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    if (cli->json) {
        struct json_object *obj = json_object_new_object();

        json_object_object_add(obj, "flow_id",
                               json_object_new_int64(rep->flow_id));
        cli_print_json(obj);
    } else {
        printf("flow %u: %s -> %s, %u frames/s of %u bytes\n", rep->flow_id,
               req.src_vm, req.dst_vm, req.rate_pps, req.size);
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

/* ---- Flow stats: stats and stop print the same ---- */

static struct json_object *
flow_json(const Fexsim__V1__FlowStats *f)
{
    struct json_object *o = json_object_new_object();

#define U(k, v) json_object_object_add(o, k, json_object_new_int64((int64_t) (v)))
    U("flow_id", f->flow_id);
    json_object_object_add(o, "src_vm", json_object_new_string(f->src_vm));
    json_object_object_add(o, "dst_vm", json_object_new_string(f->dst_vm));
    U("sent", f->sent);
    U("received", f->received);
    U("lost", f->lost);
    U("tail_lost", f->tail_lost);
    U("duplicated", f->duplicated);
    U("reordered", f->reordered);
    U("latency_p50_us", f->latency_p50_us);
    U("latency_p99_us", f->latency_p99_us);
#undef U
    json_object_object_add(o, "running", json_object_new_boolean(f->running));
    return o;
}

static void
flows_print(struct cli *cli, Fexsim__V1__FlowStats **flows, size_t n)
{
    if (cli->json) {
        struct json_object *arr = json_object_new_array();
        struct json_object *obj = json_object_new_object();

        for (size_t i = 0; i < n; i++) {
            json_object_array_add(arr, flow_json(flows[i]));
        }
        json_object_object_add(obj, "flows", arr);
        cli_print_json(obj);
        return;
    }
    printf("%-5s %-12s %-12s %10s %10s %8s %8s %8s %8s %8s %-8s\n", "FLOW",
           "SRC-VM", "DST-VM", "SENT", "RECEIVED", "LOST", "DUP", "REORD",
           "P50us", "P99us", "STATE");
    for (size_t i = 0; i < n; i++) {
        const Fexsim__V1__FlowStats *f = flows[i];

        printf("%-5u %-12s %-12s %10llu %10llu %8llu %8llu %8llu %8llu "
               "%8llu %-8s\n", f->flow_id, f->src_vm, f->dst_vm,
               (unsigned long long) f->sent,
               (unsigned long long) f->received,
               (unsigned long long) (f->lost + f->tail_lost),
               (unsigned long long) f->duplicated,
               (unsigned long long) f->reordered,
               (unsigned long long) f->latency_p50_us,
               (unsigned long long) f->latency_p99_us,
               f->running ? "running" : "done");
    }
}

static int
cmd_traffic_stop(struct cli *cli, const struct cli_cmd *cmd, int argc,
                 char **argv)
{
    Fexsim__V1__TrafficStopRequest req =
        FEXSIM__V1__TRAFFIC_STOP_REQUEST__INIT;
    Fexsim__V1__TrafficStopReply *rep;
    struct fx_err err;
    const char *dst;
    int idx, rc;

    if (argc > 1 && argv[1][0] != '-') {
        /* argv[1] (SRC-VM) stands in for the program name. */
        rc = args_parse_named(cli, cmd, argc - 1, argv + 1, "DST-VM (give "
                              "both VMs, or neither to stop every flow)",
                              &dst, NULL, NULL, NULL);
        req.src_vm = argv[1];
        req.dst_vm = (char *) dst;
        idx = argc;
    } else {
        rc = cli_parse(cli, cmd, argc, argv, NULL, NULL, NULL, &idx);
    }
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (idx < argc) {
        return cli_usage_error("traffic stop", "unexpected argument '%s'",
                               argv[idx]);
    }
    if (cli_call(cli, "Dataplane.TrafficStop", &req.base,
                 &fexsim__v1__traffic_stop_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    flows_print(cli, rep->flows, rep->n_flows);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

static int
cmd_traffic_stats(struct cli *cli, const struct cli_cmd *cmd, int argc,
                  char **argv)
{
    Fexsim__V1__TrafficStatsRequest req =
        FEXSIM__V1__TRAFFIC_STATS_REQUEST__INIT;
    Fexsim__V1__TrafficStatsReply *rep;
    int rc;

    rc = cli_simple_call(cli, cmd, argc, argv, "Dataplane.TrafficStats",
                         &req.base,
                         &fexsim__v1__traffic_stats_reply__descriptor,
                         (ProtobufCMessage **) &rep);
    if (rc >= 0) {
        return rc;
    }
    flows_print(cli, rep->flows, rep->n_flows);
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

/* ---- vif stats ---- */

static struct json_object *
vif_counters_json(const Fexsim__V1__VifCounters *v)
{
    struct json_object *o = json_object_new_object();
    struct json_object *d = json_object_new_object();
    const Fexsim__V1__VifDrops *dr = v->drops;

#define U(obj, k, x) json_object_object_add(obj, k, \
                         json_object_new_int64((int64_t) (x)))
    U(o, "id", v->vif_id);
    json_object_object_add(o, "vm", json_object_new_string(v->vm));
    U(o, "rx_frames", v->rx_frames);
    U(o, "rx_bytes", v->rx_bytes);
    U(o, "tx_frames", v->tx_frames);
    U(o, "tx_bytes", v->tx_bytes);
    U(d, "vif_down", dr ? dr->vif_down : 0);
    U(d, "vlan_mismatch", dr ? dr->vlan_mismatch : 0);
    U(d, "no_destination", dr ? dr->no_destination : 0);
    U(d, "no_uplink", dr ? dr->no_uplink : 0);
    U(d, "queue_full", dr ? dr->queue_full : 0);
    U(d, "malformed", dr ? dr->malformed : 0);
    U(d, "wrong_host", dr ? dr->wrong_host : 0);
#undef U
    json_object_object_add(o, "drops", d);
    return o;
}

static void
vif_counters_row(const Fexsim__V1__VifCounters *v)
{
    const Fexsim__V1__VifDrops *dr = v->drops;
    Fexsim__V1__VifDrops zero = FEXSIM__V1__VIF_DROPS__INIT;

    if (!dr) {
        dr = &zero;
    }
    printf("%-5u %-12s %10llu %12llu %10llu %12llu %6llu %6llu %6llu %6llu "
           "%6llu %6llu %6llu\n", v->vif_id, v->vm,
           (unsigned long long) v->rx_frames, (unsigned long long) v->rx_bytes,
           (unsigned long long) v->tx_frames, (unsigned long long) v->tx_bytes,
           (unsigned long long) dr->vif_down,
           (unsigned long long) dr->vlan_mismatch,
           (unsigned long long) dr->no_destination,
           (unsigned long long) dr->no_uplink,
           (unsigned long long) dr->queue_full,
           (unsigned long long) dr->malformed,
           (unsigned long long) dr->wrong_host);
}

static int
cmd_vif_stats(struct cli *cli, const struct cli_cmd *cmd, int argc,
              char **argv)
{
    Fexsim__V1__VifCountersRequest req =
        FEXSIM__V1__VIF_COUNTERS_REQUEST__INIT;
    Fexsim__V1__VifCountersReply *rep;
    uint32_t id;
    uint64_t v;
    struct fx_err err;
    const char *name = NULL;
    int idx, rc;

    if (argc > 1 && argv[1][0] != '-') {
        rc = args_parse_named(cli, cmd, argc, argv, "VIF", &name, NULL, NULL,
                              NULL);
    } else {
        rc = cli_parse(cli, cmd, argc, argv, NULL, NULL, NULL, &idx);
        if (!rc && idx < argc) {
            return cli_usage_error("vif stats", "unexpected argument '%s'",
                                   argv[idx]);
        }
    }
    if (rc) {
        return rc == 1 ? CLI_OK : rc;
    }
    if (name) {
        if (fx_parse_u64(name, 1, UINT32_MAX, &v, "VIF", &err)) {
            return cli_usage_error("vif stats", "%s", err.msg);
        }
        id = (uint32_t) v;
        req.n_vif_ids = 1;
        req.vif_ids = &id;
    }
    if (cli_call(cli, "Dataplane.VifCounters", &req.base,
                 &fexsim__v1__vif_counters_reply__descriptor,
                 (ProtobufCMessage **) &rep, &err)) {
        return cli_fail(&err);
    }
    if (cli->json) {
        struct json_object *arr = json_object_new_array();
        struct json_object *obj = json_object_new_object();

        for (size_t i = 0; i < rep->n_vifs; i++) {
            json_object_array_add(arr, vif_counters_json(rep->vifs[i]));
        }
        json_object_object_add(obj, "vifs", arr);
        json_object_object_add(obj, "unknown_vif_drops",
                               json_object_new_int64((int64_t)
                                                     rep->unknown_vif_drops));
        cli_print_json(obj);
    } else {
        printf("%-5s %-12s %10s %12s %10s %12s %6s %6s %6s %6s %6s %6s "
               "%6s\n", "VIF", "VM", "RX-FRAMES", "RX-BYTES", "TX-FRAMES",
               "TX-BYTES", "DOWN", "VLAN", "NODEST", "NOUPL", "QFULL", "MALF",
               "WRHOST");
        for (size_t i = 0; i < rep->n_vifs; i++) {
            vif_counters_row(rep->vifs[i]);
        }
    }
    protobuf_c_message_free_unpacked(&rep->base, NULL);
    return CLI_OK;
}

const struct cli_cmd cli_traffic_cmds[] = {
    { "traffic", "start", cmd_traffic_start,
      "send numbered frames from one VM to another",
      "Usage: fexctl traffic start SRC-VM DST-VM --rate PPS --size BYTES "
      "[--count N] [--json]\n"
      "Starts a flow: SRC-VM's guest sends numbered frames out of its vNIC,\n"
      "through the fabric, into DST-VM's vNIC, where a sink counts them.\n"
      "Both VMs must run and have NICs whose port profiles share the native\n"
      "VLAN.  Prints the flow id.\n"
      "\n"
      "  --rate PPS      frames per second, 1-1000000\n"
      "  --size BYTES    frame size, 64-1518 (vNIC MTU 1500 plus Ethernet\n"
      "                  header, VLAN tag and FCS)\n"
      "  --count N       stop after N frames (default: until stopped)\n"
      "  --json          print {\"flow_id\": N}\n" },
    { "traffic", "stop", cmd_traffic_stop, "stop flows and print their stats",
      "Usage: fexctl traffic stop [SRC-VM DST-VM] [--json]\n"
      "Stops the flows from SRC-VM to DST-VM, or every flow, and prints\n"
      "their final stats like 'traffic stats'.\n" },
    { "traffic", "stats", cmd_traffic_stats, "per-flow traffic stats",
      "Usage: fexctl traffic stats [--json]\n"
      "Per flow: frames sent, received, lost, duplicated and reordered (from\n"
      "the sequence numbers the sink saw) and one-way latency p50/p99 in\n"
      "microseconds.  LOST is the gaps below the highest frame received plus,\n"
      "once the sender is done, the frames after it (tail_lost in JSON).\n"
      "\n"
      "  --json    print {\"flows\": [{\"flow_id\", \"src_vm\", \"dst_vm\",\n"
      "            \"sent\", \"received\", \"lost\", \"tail_lost\",\n"
      "            \"duplicated\", \"reordered\", \"latency_p50_us\",\n"
      "            \"latency_p99_us\", \"running\"}]}\n" },
    { "vif", "stats", cmd_vif_stats, "per-VIF data plane counters",
      "Usage: fexctl vif stats [VIF] [--json]\n"
      "The fabric's counters of every VIF (or one): rx = frames from the\n"
      "vNIC into the fabric, tx = frames the fabric delivered to the vNIC,\n"
      "and drops by reason: vif_down, vlan_mismatch, no_destination,\n"
      "no_uplink, queue_full, malformed, wrong_host (frames naming the VIF\n"
      "that came on another host's uplink: never switched nor learned).\n"
      "\n"
      "  --json    print {\"vifs\": [{\"id\", \"vm\", \"rx_frames\",\n"
      "            \"rx_bytes\", \"tx_frames\", \"tx_bytes\", \"drops\":\n"
      "            {REASON: N}}], \"unknown_vif_drops\": N}\n" },
    { NULL, NULL, NULL, NULL, NULL },
};
