/* Benchmark of the durable store: the restart path of fabricd with 10,000
 * VIFs (store_open + store_load into memory) beside its floor (reading the
 * same tables once with bare SELECTs on an open connection), the cost of
 * the open-time page check, and the cost of one durable change with
 * synchronous=FULL beside NORMAL. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fx_err.h"
#include "fx_time.h"
#include "harness.h"
#include "store/store.h"

#define N_HOSTS 16
#define N_PROFILES 8
#define N_VMS 2500
#define N_VIFS 10000
#define ROUNDS 5
#define N_PUTS 200

static void
die(const char *what, const struct fx_err *err)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* ---- Filling. ---- */

static void
fill_parents(struct store *s)
{
    struct fx_err err;

    for (int i = 0; i < N_HOSTS; i++) {
        struct store_host h = { .vnics_total = 1024 };

        snprintf(h.name, sizeof h.name, "host-%02d", i);
        snprintf(h.rpc_addr, sizeof h.rpc_addr, "10.0.0.%d:7801", i + 1);
        snprintf(h.hypervisor, sizeof h.hypervisor, "QEMU");
        snprintf(h.adapter_model, sizeof h.adapter_model, "M81KR");
        if (store_put_host(s, &h, &err)) {
            die("host", &err);
        }
    }
    for (int i = 0; i < N_PROFILES; i++) {
        struct store_profile p = { .n_vlans = 4, .max_ports = 4096,
                                   .vlans = { 10, 20, 30, (uint16_t) (100
                                                                   + i) } };

        snprintf(p.name, sizeof p.name, "pp-%d", i);
        if (store_put_profile(s, &p, &err)) {
            die("profile", &err);
        }
    }
}

static void
fill(struct store *s)
{
    struct store_counters c = {
        .next_vif_id = N_VIFS + 1, .next_mac = 0x0025b5000000ull + N_VIFS,
    };
    struct fx_err err;

    if (store_begin(s, &err)) {
        die("begin", &err);
    }
    fill_parents(s);
    for (int i = 0; i < N_VMS; i++) {
        struct store_vm vm = { .memory_mib = 4096, .reservation_mib = 4096,
                               .directpath = 4 };

        snprintf(vm.name, sizeof vm.name, "vm-%04d", i);
        snprintf(vm.host, sizeof vm.host, "host-%02d", i % N_HOSTS);
        snprintf(vm.state, sizeof vm.state, "running");
        if (store_put_vm(s, &vm, &err)) {
            die("vm", &err);
        }
    }
    for (uint32_t id = 1; id <= N_VIFS; id++) {
        uint32_t vm = (id - 1) / 4;
        struct store_vif v = { .id = id, .vnic = id,
                               .mode = STORE_VIF_HIGH_PERFORMANCE,
                               .mac = { 0x00, 0x25, 0xb5, 0,
                                        (uint8_t) (id >> 8),
                                        (uint8_t) id } };

        snprintf(v.host, sizeof v.host, "host-%02u", vm % N_HOSTS);
        snprintf(v.profile, sizeof v.profile, "pp-%u", id % N_PROFILES);
        snprintf(v.vm, sizeof v.vm, "vm-%04u", vm);
        snprintf(v.state, sizeof v.state, "up");
        if (store_put_vif(s, &v, &err)) {
            die("vif", &err);
        }
    }
    if (store_put_counters(s, &c, &err) || store_commit(s, &err)) {
        die("commit", &err);
    }
}

/* ---- The restart path: what fabricd would keep in memory. ---- */

struct mem {
    struct store_vif *vifs;
    size_t n_vifs, cap_vifs;
    size_t n_other;
};

static int
mem_vif(void *arg, const struct store_vif *v, struct fx_err *err)
{
    struct mem *m = arg;

    (void) err;
    if (m->n_vifs == m->cap_vifs) {
        m->cap_vifs = m->cap_vifs ? 2 * m->cap_vifs : 256;
        m->vifs = realloc(m->vifs, m->cap_vifs * sizeof *m->vifs);
        if (!m->vifs) {
            abort();
        }
    }
    m->vifs[m->n_vifs++] = *v;
    return 0;
}

#define MEM_COUNT(fn, type)                                              \
    static int                                                           \
    fn(void *arg, const type *r, struct fx_err *err)                     \
    {                                                                    \
        (void) r;                                                        \
        (void) err;                                                      \
        ((struct mem *) arg)->n_other++;                                 \
        return 0;                                                        \
    }
MEM_COUNT(mem_host, struct store_host)
MEM_COUNT(mem_profile, struct store_profile)
MEM_COUNT(mem_vm, struct store_vm)
MEM_COUNT(mem_mig, struct store_migration)
MEM_COUNT(mem_counters, struct store_counters)

static const struct store_callbacks mem_cbs = {
    mem_host, mem_profile, mem_vm, mem_vif, mem_mig, mem_counters, NULL,
};

/* Times one restart; returns microseconds. */
static uint64_t
restart_us(const char *dir, uint64_t *open_us)
{
    struct mem m = { NULL, 0, 0, 0 };
    struct store *s;
    struct fx_err err;
    uint64_t t0 = fx_time_now_us(), t1;

    if (store_open(dir, &s, &err)) {
        die("open", &err);
    }
    t1 = fx_time_now_us();
    if (store_load(s, &mem_cbs, &m, &err)) {
        die("load", &err);
    }
    *open_us = t1 - t0;
    t1 = fx_time_now_us() - t0;
    if (m.n_vifs != N_VIFS) {
        die("load: wrong VIF count", NULL);
    }
    free(m.vifs);
    store_close(s);
    return t1;
}

/* ---- The floor: every column of every row, once, bare. ---- */

static const char *const floor_sql[] = {
    "SELECT * FROM host", "SELECT * FROM profile", "SELECT * FROM vm",
    "SELECT * FROM vif", "SELECT * FROM migration",
    "SELECT * FROM counters",
};

static uint64_t
floor_us(sqlite3 *db, uint64_t *sum)
{
    uint64_t t0 = fx_time_now_us();

    for (size_t i = 0; i < sizeof floor_sql / sizeof floor_sql[0]; i++) {
        sqlite3_stmt *st;

        sqlite3_prepare_v2(db, floor_sql[i], -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                sqlite3_column_text(st, c);
                *sum += (uint64_t) sqlite3_column_bytes(st, c);
            }
        }
        sqlite3_finalize(st);
    }
    return fx_time_now_us() - t0;
}

static uint64_t
pragma_us(sqlite3 *db, const char *sql)
{
    uint64_t t0 = fx_time_now_us();

    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        die(sql, NULL);
    }
    return fx_time_now_us() - t0;
}

static uint64_t
min_u64(const uint64_t *v, int n)
{
    uint64_t m = v[0];

    for (int i = 1; i < n; i++) {
        m = v[i] < m ? v[i] : m;
    }
    return m;
}

/* ---- Durable changes. ---- */

/* Times N_PUTS single-change transactions (each its own commit);
 * returns microseconds per change. */
static double
put_cost_us(struct store *s, bool durable)
{
    struct store_vif v = { .id = 1, .vnic = 1, .mac = { 0, 0x25, 0xb5 } };
    struct fx_err err;
    uint64_t t0;

    if (store_set_durable(s, durable, &err)) {
        die("synchronous", &err);
    }
    snprintf(v.host, sizeof v.host, "host-00");
    snprintf(v.profile, sizeof v.profile, "pp-1");
    snprintf(v.vm, sizeof v.vm, "vm-0000");
    t0 = fx_time_now_us();
    for (int i = 0; i < N_PUTS; i++) {
        snprintf(v.state, sizeof v.state, i % 2 ? "up" : "quiesced");
        if (store_put_vif(s, &v, &err)) {
            die("put", &err);
        }
    }
    return (double) (fx_time_now_us() - t0) / N_PUTS;
}

/* Leaves the store as a kill -9 would: a child makes N_PUTS changes and
 * exits without closing, so the WAL holds them, uncheckpointed. */
static void
crash_with_wal(const char *dir)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        struct store *s;

        if (store_open(dir, &s, NULL)) {
            _exit(1);
        }
        put_cost_us(s, true);
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) {
        die("crashing child", NULL);
    }
}

/* What one run measured, in microseconds. */
struct figures {
    uint64_t restart[ROUNDS], open[ROUNDS], floor[ROUNDS];
    uint64_t crash, crash_open, quick, integ;
    double put_full, put_normal;
};

/* Times the floor and both page checks on a bare read-only connection. */
static void
measure_floor(const char *dir, struct figures *fg)
{
    char path[4096];
    uint64_t sum = 0;
    sqlite3 *db;

    snprintf(path, sizeof path, "%s/%s", dir, STORE_DB_FILE);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL)) {
        die("sqlite3_open_v2", NULL);
    }
    for (int i = 0; i < ROUNDS; i++) {
        fg->floor[i] = floor_us(db, &sum);
    }
    fg->quick = pragma_us(db, "PRAGMA quick_check");
    fg->integ = pragma_us(db, "PRAGMA integrity_check");
    sqlite3_close(db);
}

static void
print_figures(const struct figures *fg)
{
    uint64_t r = min_u64(fg->restart, ROUNDS), f = min_u64(fg->floor,
                                                           ROUNDS);

    printf("bench_store: %d VIFs, %d VMs, %d hosts, %d profiles; "
           "best of %d, warm page cache\n", N_VIFS, N_VMS, N_HOSTS,
           N_PROFILES, ROUNDS);
    printf("  restart (store_open + store_load): %8.2f ms "
           "(open with quick_check %.2f ms)\n", r / 1e3,
           min_u64(fg->open, ROUNDS) / 1e3);
    printf("  restart after a crash, %d changes in the WAL: %.2f ms "
           "(open %.2f ms)\n", N_PUTS, fg->crash / 1e3,
           fg->crash_open / 1e3);
    printf("  floor (bare SELECT * once):        %8.2f ms\n", f / 1e3);
    printf("  ratio restart/floor:               %8.2f\n",
           (double) r / (double) f);
    printf("  quick_check %.2f ms, integrity_check %.2f ms (ratio %.2f)\n",
           fg->quick / 1e3, fg->integ / 1e3,
           (double) fg->integ / (double) fg->quick);
    printf("  durable put: synchronous=FULL %.1f us, NORMAL %.1f us "
           "(ratio %.2f)\n", fg->put_full, fg->put_normal,
           fg->put_full / fg->put_normal);
}

int
main(void)
{
    char *dir = th_mkdtemp("bench-store");
    struct figures fg;
    struct store *s;
    struct fx_err err;

    if (store_open(dir, &s, &err)) {
        die("open", &err);
    }
    fill(s);
    fg.put_full = put_cost_us(s, true);
    fg.put_normal = put_cost_us(s, false);
    store_close(s);

    crash_with_wal(dir);
    fg.crash = restart_us(dir, &fg.crash_open);
    for (int i = 0; i < ROUNDS; i++) {
        fg.restart[i] = restart_us(dir, &fg.open[i]);
    }
    measure_floor(dir, &fg);
    print_figures(&fg);
    th_rmrf(dir);
    free(dir);
    return 0;
}
