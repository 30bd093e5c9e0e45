/* Benchmark: restart time of the real fabricd with 10,000 VIFs in its
 * state dir, from exec to the first ListVifs answered with all of them,
 * beside two baselines measured in the same run: the same fabricd started
 * with no state (process start, listen, one RPC: the cost that is not the
 * state's), and the floor of reading the store once (store_open +
 * store_load into plain arrays, as bench_store measures it). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "harness.h"
#include "rpc.h"
#include "store/store.h"
#include "vmfex.pb-c.h"

#define N_HOSTS 16
#define N_PROFILES 8
#define N_VMS 2500
#define NICS_PER_VM 4
#define N_VIFS (N_VMS * NICS_PER_VM)
#define ROUNDS 5

static void
die(const char *what, const struct fx_err *err)
{
    fprintf(stderr, "bench_restart: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* A state fabricd accepts: 16 hosts, 8 profiles, 2,500 VMs (half
 * running) of 4 NICs each, every VIF on its own vNIC of its host. */
static void
fill(const char *dir)
{
    struct store_counters c = {
        .next_vif_id = N_VIFS + 1,
        .next_mac = 0x0025b5000000ull + N_VIFS + 1,
    };
    struct store *s;
    struct fx_err err;

    if (store_open(dir, &s, &err) || store_begin(s, &err)) {
        die("open", &err);
    }
    for (int i = 0; i < N_HOSTS; i++) {
        struct store_host h = { .vnics_total = 1024 };

        snprintf(h.name, sizeof h.name, "h%d", i + 1);
        snprintf(h.rpc_addr, sizeof h.rpc_addr, "127.0.0.1:%d", 7801 + i);
        snprintf(h.hypervisor, sizeof h.hypervisor, "TEST");
        snprintf(h.adapter_model, sizeof h.adapter_model, "M81KR");
        if (store_put_host(s, &h, &err)) {
            die("host", &err);
        }
    }
    for (int i = 0; i < N_PROFILES; i++) {
        struct store_profile p = { .n_vlans = 2, .max_ports = 4096,
                                   .vlans = { 10, (uint16_t) (100 + i) } };

        snprintf(p.name, sizeof p.name, "pp-%d", i);
        snprintf(p.qos, sizeof p.qos, "best-effort");
        if (store_put_profile(s, &p, &err)) {
            die("profile", &err);
        }
    }
    for (int i = 0; i < N_VMS; i++) {
        struct store_vm vm = { .memory_mib = 1024 };

        snprintf(vm.name, sizeof vm.name, "vm-%04d", i);
        snprintf(vm.host, sizeof vm.host, "h%d", i % N_HOSTS + 1);
        snprintf(vm.state, sizeof vm.state, i % 2 ? "running" : "shut off");
        if (store_put_vm(s, &vm, &err)) {
            die("vm", &err);
        }
    }
    for (uint32_t id = 1; id <= N_VIFS; id++) {
        uint32_t vm = (id - 1) / NICS_PER_VM;
        struct store_vif v = { .id = id,
                               .vnic = vm / N_HOSTS * NICS_PER_VM
                                       + (id - 1) % NICS_PER_VM,
                               .mode = STORE_VIF_EMULATED,
                               .mac = { 0x00, 0x25, 0xb5, 0,
                                        (uint8_t) (id >> 8),
                                        (uint8_t) id } };

        snprintf(v.host, sizeof v.host, "h%u", vm % N_HOSTS + 1);
        snprintf(v.profile, sizeof v.profile, "pp-%u", id % N_PROFILES);
        snprintf(v.vm, sizeof v.vm, "vm-%04u", vm);
        snprintf(v.state, sizeof v.state, vm % 2 ? "online" : "offline");
        if (store_put_vif(s, &v, &err)) {
            die("vif", &err);
        }
    }
    if (store_put_counters(s, &c, &err) || store_commit(s, &err)) {
        die("commit", &err);
    }
    store_close(s);
}

/* Asks fabricd at 'addr' for its VIFs; returns how many. */
static size_t
list_vifs(const char *addr)
{
    Fexsim__V1__ListVifsRequest req = FEXSIM__V1__LIST_VIFS_REQUEST__INIT;
    struct event_base *base = event_base_new();
    ProtobufCMessage *rep = NULL;
    struct rpc_conn *conn;
    struct fx_err err;
    size_t n = 0;

    conn = rpc_conn_connect(base, addr, NULL, NULL, NULL, NULL, &err);
    if (!conn || rpc_call_sync(conn, "Vifs.List", &req.base,
                               &fexsim__v1__list_vifs_reply__descriptor,
                               10000, &rep, &err)) {
        die("Vifs.List", &err);
    }
    n = ((Fexsim__V1__ListVifsReply *) rep)->n_vifs;
    protobuf_c_message_free_unpacked(rep, NULL);
    rpc_conn_destroy(conn);
    event_base_free(base);
    return n;
}

/* Starts fabricd (with 'state' unless NULL), waits for its address file,
 * asks ListVifs, and stops it.  Returns microseconds from spawn to the
 * reply. */
static uint64_t
one_start(const char *dir, const char *state, size_t want, uint64_t *list_us)
{
    char bin[4096], addr_file[4096], addr[64], log[4096];
    char *argv[] = { bin, "--listen", "127.0.0.1:0", "--addr-file",
                     addr_file, "--log-level", "warn",
                     state ? "--state" : NULL, (char *) state, NULL };
    struct fx_err err;
    uint64_t t0, us;
    FILE *f = NULL;
    pid_t pid;

    th_bin(bin, sizeof bin, "fabricd");
    snprintf(addr_file, sizeof addr_file, "%s/addr", dir);
    snprintf(log, sizeof log, "%s/fabricd.log", dir);
    unlink(addr_file);
    t0 = fx_time_now_us();
    if (fx_proc_spawn(argv, log, &pid, &err)) {
        die("spawn", &err);
    }
    /* Polling at 100 us: the file appears once the state is loaded and
     * the listener is bound. */
    while (!(f = fopen(addr_file, "r"))) {
        if (!fx_proc_alive(pid) || fx_time_now_us() - t0 > 20000000) {
            die("fabricd did not start; see its log", NULL);
        }
        usleep(100);
    }
    if (!fgets(addr, sizeof addr, f)) {
        die("address file", NULL);
    }
    fclose(f);
    addr[strcspn(addr, "\n")] = '\0';
    if (list_vifs(addr) != want) {
        die("ListVifs: wrong count", NULL);
    }
    us = fx_time_now_us() - t0;
    t0 = fx_time_now_us();
    list_vifs(addr);
    *list_us = fx_time_now_us() - t0;
    if (fx_proc_stop(pid, 5000, &err)) {
        die("stop", &err);
    }
    return us;
}

static int
count_vif(void *arg, const struct store_vif *v, struct fx_err *err)
{
    (void) v;
    (void) err;
    ++*(size_t *) arg;
    return 0;
}

/* The floor: the same store read once into nothing but a count. */
static uint64_t
read_once(const char *state)
{
    struct store_callbacks cb = { .vif = count_vif };
    struct store *s;
    struct fx_err err;
    size_t n = 0;
    uint64_t t0 = fx_time_now_us();

    if (store_open(state, &s, &err) || store_load(s, &cb, &n, &err)) {
        die("read", &err);
    }
    store_close(s);
    if (n != N_VIFS) {
        die("read: wrong count", NULL);
    }
    return fx_time_now_us() - t0;
}

static uint64_t
best(const uint64_t *v)
{
    uint64_t m = v[0];

    for (int i = 1; i < ROUNDS; i++) {
        m = v[i] < m ? v[i] : m;
    }
    return m;
}

int
main(int argc, char **argv)
{
    char *dir, state[4096];
    uint64_t with[ROUNDS], empty[ROUNDS], floor[ROUNDS], list[ROUNDS], l0;

    /* "bench_restart --fill DIR" only writes the state, for profiling
     * fabricd --state DIR by hand. */
    if (argc == 3 && !strcmp(argv[1], "--fill")) {
        fill(argv[2]);
        return 0;
    }
    dir = th_mkdtemp("bench-restart");

    snprintf(state, sizeof state, "%s/state", dir);
    fill(state);
    /* Alternating, so that both see the same machine load. */
    for (int i = 0; i < ROUNDS; i++) {
        empty[i] = one_start(dir, NULL, 0, &l0);
        with[i] = one_start(dir, state, N_VIFS, &list[i]);
        floor[i] = read_once(state);
    }
    printf("bench_restart: fabricd, %d VIFs, %d VMs, %d hosts; best of %d\n",
           N_VIFS, N_VMS, N_HOSTS, ROUNDS);
    printf("  restart with state (exec -> ListVifs of all): %8.2f ms\n",
           best(with) / 1e3);
    printf("    of which one ListVifs of %d VIFs (a second call): "
           "%8.2f ms\n", N_VIFS, best(list) / 1e3);
    printf("  baseline: fabricd with no state (exec -> ListVifs): %8.2f ms\n",
           best(empty) / 1e3);
    printf("  floor: store_open + store_load once, in process: %8.2f ms\n",
           best(floor) / 1e3);
    printf("  state's share (restart - baseline): %8.2f ms, ratio to the "
           "floor %.2f\n", (best(with) - best(empty)) / 1e3,
           (double) (best(with) - best(empty)) / (double) best(floor));
    printf("  ratio restart / baseline: %.2f\n",
           (double) best(with) / (double) best(empty));
    th_rmrf(dir);
    free(dir);
    return 0;
}
