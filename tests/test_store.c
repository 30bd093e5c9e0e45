/* Unit tests of the durable store: records round trip, batches, reopen,
 * a writer killed with SIGKILL, and damaged state files refused. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "fx_err.h"
#include "harness.h"
#include "store/store.h"

#define MAX_SEEN 64

/* What a load streamed back. */
struct seen {
    struct store_host hosts[MAX_SEEN];
    struct store_profile profiles[MAX_SEEN];
    struct store_vm vms[MAX_SEEN];
    struct store_vif vifs[MAX_SEEN];
    struct store_migration migs[MAX_SEEN];
    struct store_counters counters;
    size_t n_hosts, n_profiles, n_vms, n_vifs, n_migs, n_counters;
};

struct fixture {
    char *dir;
    char path[4096];               /* DIR/fabric.db */
    struct store *store;
    struct seen seen;
};

#define SEEN_CB(fn, type, arr, n)                                        \
    static int                                                           \
    fn(void *arg, const type *r, struct fx_err *err)                     \
    {                                                                    \
        struct seen *s = arg;                                            \
        (void) err;                                                      \
        assert_true(s->n < MAX_SEEN);                                    \
        memcpy(&s->arr[s->n++], r, sizeof *r);                           \
        return 0;                                                        \
    }
SEEN_CB(seen_host, struct store_host, hosts, n_hosts)
SEEN_CB(seen_profile, struct store_profile, profiles, n_profiles)
SEEN_CB(seen_vm, struct store_vm, vms, n_vms)
SEEN_CB(seen_vif, struct store_vif, vifs, n_vifs)
SEEN_CB(seen_mig, struct store_migration, migs, n_migs)

static int
seen_counters(void *arg, const struct store_counters *c, struct fx_err *e)
{
    struct seen *s = arg;

    (void) e;
    s->counters = *c;
    s->n_counters++;
    return 0;
}

static const struct store_callbacks seen_cbs = {
    seen_host, seen_profile, seen_vm, seen_vif, seen_mig, seen_counters, NULL,
};

/* Loads everything into 'f->seen', afresh. */
static void
load_all(struct fixture *f)
{
    struct fx_err err;

    memset(&f->seen, 0, sizeof f->seen);
    assert_int_equal(store_load(f->store, &seen_cbs, &f->seen, &err), 0);
}

/* ---- Records. ---- */

static struct store_host
mk_host(const char *name)
{
    struct store_host h;

    memset(&h, 0, sizeof h);
    snprintf(h.name, sizeof h.name, "%s", name);
    snprintf(h.rpc_addr, sizeof h.rpc_addr, "127.0.0.1:7801");
    snprintf(h.hypervisor, sizeof h.hypervisor, "QEMU");
    snprintf(h.hypervisor_version, sizeof h.hypervisor_version, "7.2.0");
    snprintf(h.adapter_model, sizeof h.adapter_model, "M81KR");
    h.vnics_total = 128;
    return h;
}

static struct store_profile
mk_profile(const char *name)
{
    struct store_profile p;

    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    p.vlans[0] = 10;
    p.vlans[1] = 4094;
    p.vlans[2] = 1;
    p.n_vlans = 3;
    p.max_ports = 64;
    snprintf(p.qos, sizeof p.qos, "gold");
    p.high_performance = true;
    return p;
}

static struct store_vm
mk_vm(const char *name, const char *host)
{
    struct store_vm vm;

    memset(&vm, 0, sizeof vm);
    snprintf(vm.name, sizeof vm.name, "%s", name);
    snprintf(vm.host, sizeof vm.host, "%s", host);
    vm.memory_mib = 4096;
    vm.reservation_mib = 4096;
    vm.directpath = 2;
    snprintf(vm.state, sizeof vm.state, "running");
    vm.features = STORE_VM_FT | STORE_VM_HA;
    vm.snapshots = 3;
    return vm;
}

static struct store_vif
mk_vif(uint32_t id, const char *host, const char *vm)
{
    struct store_vif v;

    memset(&v, 0, sizeof v);
    v.id = id;
    snprintf(v.host, sizeof v.host, "%s", host);
    v.vnic = id;
    snprintf(v.profile, sizeof v.profile, "pp-web");
    memcpy(v.mac, (uint8_t[]) { 0x00, 0x25, 0xb5, 0x00, (uint8_t) (id >> 8),
                                (uint8_t) id }, 6);
    snprintf(v.state, sizeof v.state, "up");
    snprintf(v.vm, sizeof v.vm, "%s", vm);
    v.mode = STORE_VIF_HIGH_PERFORMANCE;
    return v;
}

static struct store_migration
mk_mig(uint32_t id, const char *vm)
{
    struct store_migration m;

    memset(&m, 0, sizeof m);
    m.id = id;
    snprintf(m.vm, sizeof m.vm, "%s", vm);
    snprintf(m.src, sizeof m.src, "host-a");
    snprintf(m.dst, sizeof m.dst, "host-b");
    m.phase = STORE_MIG_PERFORM;
    snprintf(m.state, sizeof m.state, "active");
    m.started_at_ms = 1764000000123ull;
    return m;
}

/* Puts two hosts, a profile, a VM on host-a with VIFs 1-2, a migration
 * and the counters. */
static void
put_world(struct store *s)
{
    struct store_host a = mk_host("host-a"), b = mk_host("host-b");
    struct store_profile p = mk_profile("pp-web");
    struct store_vm vm = mk_vm("vm1", "host-a");
    struct store_vif v1 = mk_vif(1, "host-a", "vm1");
    struct store_vif v2 = mk_vif(2, "host-a", "");
    struct store_migration m = mk_mig(7, "vm1");
    struct store_counters c = { .next_vif_id = 3,
                               .next_mac = 0x0025b5000003ull };
    struct fx_err err;

    assert_int_equal(store_put_host(s, &a, &err), 0);
    assert_int_equal(store_put_host(s, &b, &err), 0);
    assert_int_equal(store_put_profile(s, &p, &err), 0);
    assert_int_equal(store_put_vm(s, &vm, &err), 0);
    assert_int_equal(store_put_vif(s, &v1, &err), 0);
    v2.mode = STORE_VIF_EMULATED;
    snprintf(v2.mode_reason, sizeof v2.mode_reason,
             "vmNptIncompatibleGuest");
    assert_int_equal(store_put_vif(s, &v2, &err), 0);
    assert_int_equal(store_put_migration(s, &m, &err), 0);
    assert_int_equal(store_put_counters(s, &c, &err), 0);
}

/* Checks that 'seen' holds exactly what put_world() stored. */
static void
check_world(const struct seen *seen)
{
    struct store_host a = mk_host("host-a"), b = mk_host("host-b");
    struct store_profile p = mk_profile("pp-web");
    struct store_vm vm = mk_vm("vm1", "host-a");
    struct store_vif v1 = mk_vif(1, "host-a", "vm1");
    struct store_vif v2 = mk_vif(2, "host-a", "");
    struct store_migration m = mk_mig(7, "vm1");

    v2.mode = STORE_VIF_EMULATED;
    snprintf(v2.mode_reason, sizeof v2.mode_reason,
             "vmNptIncompatibleGuest");
    assert_int_equal(seen->n_hosts, 2);
    assert_memory_equal(&seen->hosts[0], &a, sizeof a);
    assert_memory_equal(&seen->hosts[1], &b, sizeof b);
    assert_int_equal(seen->n_profiles, 1);
    assert_memory_equal(&seen->profiles[0], &p, sizeof p);
    assert_int_equal(seen->n_vms, 1);
    assert_memory_equal(&seen->vms[0], &vm, sizeof vm);
    assert_int_equal(seen->n_vifs, 2);
    assert_memory_equal(&seen->vifs[0], &v1, sizeof v1);
    assert_memory_equal(&seen->vifs[1], &v2, sizeof v2);
    assert_int_equal(seen->n_migs, 1);
    assert_memory_equal(&seen->migs[0], &m, sizeof m);
    assert_int_equal(seen->n_counters, 1);
    assert_int_equal(seen->counters.next_vif_id, 3);
    assert_int_equal(seen->counters.next_mac, 0x0025b5000003ull);
    assert_int_equal(seen->counters.next_flow_id, 0);
    assert_int_equal(seen->counters.next_migration_id, 8);
}

/* ---- Fixture. ---- */

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct fx_err err;

    f->dir = th_mkdtemp("store");
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, STORE_DB_FILE);
    assert_int_equal(store_open(f->dir, &f->store, &err), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->store);
    th_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void
reopen(struct fixture *f)
{
    struct fx_err err;

    store_close(f->store);
    f->store = NULL;
    assert_int_equal(store_open(f->dir, &f->store, &err), 0);
}

/* ---- Tests. ---- */

static void
store_starts_empty_with_zero_counters(void **state)
{
    struct fixture *f = *state;

    load_all(f);
    assert_int_equal(f->seen.n_hosts + f->seen.n_vifs + f->seen.n_vms, 0);
    assert_int_equal(f->seen.n_counters, 1);
    assert_int_equal(f->seen.counters.next_vif_id, 0);
    assert_int_equal(f->seen.counters.next_flow_id, 0);
    assert_int_equal(f->seen.counters.next_migration_id, 0);
}

static void write_at(const char *path, off_t off, const void *buf,
                     size_t len);

/* A crash during a first start leaves fabric.db.new behind; the next start
 * builds afresh, since no fabric.db was ever in place. */
static void
store_creates_its_dir_past_a_stale_first_start(void **state)
{
    struct fixture *f = *state;
    char sub[4200], stale[4300];
    struct store *s;
    struct fx_err err;

    snprintf(sub, sizeof sub, "%s/state", f->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(stale, sizeof stale, "%s/%s.new", sub, STORE_DB_FILE);
    write_at(stale, 0, "half-built", 10);
    assert_int_equal(store_open(sub, &s, &err), 0);
    store_close(s);
    assert_int_equal(access(stale, F_OK), -1);
    snprintf(sub, sizeof sub, "%s/fresh", f->dir);
    assert_int_equal(store_open(sub, &s, &err), 0);
    store_close(s);
}

static void
store_never_hands_a_vif_id_out_twice(void **state)
{
    struct fixture *f = *state;
    struct store_vif v = mk_vif(40, "host-a", "");
    struct fx_err err;

    put_world(f->store);               /* next_vif_id = 3 */
    assert_int_equal(store_put_vif(f->store, &v, &err), 0);
    load_all(f);
    assert_int_equal(f->seen.counters.next_vif_id, 41);
    assert_int_equal(f->seen.counters.next_mac, 0x0025b5000003ull);
}

/* Flow ids are saved by their owner, migration ids by storing the
 * migration; neither is lowered, nor clobbered by the other counters. */
static void
store_never_hands_a_flow_or_migration_id_out_twice(void **state)
{
    struct fixture *f = *state;
    struct store_migration low = mk_mig(3, "vm1"), high = mk_mig(20, "vm1");
    struct store_counters c = { .next_vif_id = 5,
                               .next_mac = 0x0025b5000009ull };
    struct fx_err err;

    put_world(f->store);               /* migration 7 */
    assert_int_equal(store_put_next_flow_id(f->store, 12, &err), 0);
    assert_int_equal(store_del_migration(f->store, 7, &err), 0);
    assert_int_equal(store_put_migration(f->store, &low, &err), 0);
    assert_int_equal(store_put_counters(f->store, &c, &err), 0);
    load_all(f);
    assert_int_equal(f->seen.n_migs, 1);
    assert_int_equal(f->seen.counters.next_migration_id, 8);
    assert_int_equal(f->seen.counters.next_flow_id, 12);
    assert_int_equal(f->seen.counters.next_vif_id, 5);
    assert_int_equal(f->seen.counters.next_mac, 0x0025b5000009ull);
    /* A migration rolled back with its batch takes its id back too. */
    assert_int_equal(store_del_migration(f->store, 3, &err), 0);
    assert_int_equal(store_begin(f->store, &err), 0);
    assert_int_equal(store_put_migration(f->store, &high, &err), 0);
    assert_int_equal(store_rollback(f->store, &err), 0);
    reopen(f);
    load_all(f);
    assert_int_equal(f->seen.counters.next_migration_id, 8);
    assert_int_equal(f->seen.counters.next_flow_id, 12);
    assert_int_equal(store_put_migration(f->store, &high, &err), 0);
    load_all(f);
    assert_int_equal(f->seen.counters.next_migration_id, 21);
}

static void
store_round_trips_every_record(void **state)
{
    struct fixture *f = *state;

    put_world(f->store);
    load_all(f);
    check_world(&f->seen);
}

static void
store_gets_everything_back_after_reopen(void **state)
{
    struct fixture *f = *state;

    put_world(f->store);
    reopen(f);
    load_all(f);
    check_world(&f->seen);
}

static void
store_updates_in_place_and_deletes(void **state)
{
    struct fixture *f = *state;
    struct store_vif v = mk_vif(1, "host-b", "vm1");
    struct store_profile p = mk_profile("pp-web");
    struct fx_err err;

    put_world(f->store);
    v.vnic = 99;
    snprintf(v.state, sizeof v.state, "quiesced");
    assert_int_equal(store_put_vif(f->store, &v, &err), 0);
    p.n_vlans = 1;
    assert_int_equal(store_put_profile(f->store, &p, &err), 0);
    assert_int_equal(store_del_vif(f->store, 2, &err), 0);
    assert_int_equal(store_del_vif(f->store, 2, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "vif 2 not found"));
    load_all(f);
    assert_int_equal(f->seen.n_vifs, 1);
    assert_memory_equal(&f->seen.vifs[0], &v, sizeof v);
    assert_int_equal(f->seen.profiles[0].n_vlans, 1);
    assert_int_equal(f->seen.profiles[0].vlans[0], 10);
}

static void
store_keeps_references_whole(void **state)
{
    struct fixture *f = *state;
    struct store_vif v = mk_vif(5, "host-z", "");
    struct fx_err err;

    put_world(f->store);
    assert_int_equal(store_put_vif(f->store, &v, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "vif 5"));
    assert_int_equal(store_del_profile(f->store, "pp-web", &err), -EBUSY);
    assert_non_null(strstr(err.msg, "still in use"));
    v = mk_vif(5, "host-a", "");
    v.vnic = 1;                    /* host-a's vNIC 1 is VIF 1's. */
    assert_int_equal(store_put_vif(f->store, &v, &err), -EEXIST);
    /* Deleting the VM unbinds its VIF and ends its migration. */
    assert_int_equal(store_del_vm(f->store, "vm1", &err), 0);
    load_all(f);
    assert_int_equal(f->seen.n_migs, 0);
    assert_string_equal(f->seen.vifs[0].vm, "");
    assert_int_equal(f->seen.n_vifs, 2);
}

static void
store_rejects_bad_records(void **state)
{
    struct fixture *f = *state;
    struct store_profile p = mk_profile("pp-bad");
    struct store_vif v = mk_vif(0, "host-a", "");
    struct store_host h = mk_host("bad name!");
    struct fx_err err;

    p.vlans[1] = 4095;
    assert_int_equal(store_put_profile(f->store, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "VLAN 4095 is not in 1-4094"));
    p.vlans[1] = 10;
    assert_int_equal(store_put_profile(f->store, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "twice"));
    assert_int_equal(store_put_vif(f->store, &v, &err), -EINVAL);
    assert_int_equal(store_put_host(f->store, &h, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not valid"));
}

static void
store_batch_rolls_back_as_a_whole(void **state)
{
    struct fixture *f = *state;
    struct store_vif v = mk_vif(1, "host-b", "vm1");
    struct store_vm vm = mk_vm("vm1", "host-b");
    struct fx_err err;

    put_world(f->store);
    /* Moving the VIF and ending the migration: all or nothing. */
    assert_int_equal(store_begin(f->store, &err), 0);
    assert_int_equal(store_begin(f->store, &err), -EALREADY);
    assert_int_equal(store_put_vif(f->store, &v, &err), 0);
    assert_int_equal(store_put_vm(f->store, &vm, &err), 0);
    assert_int_equal(store_del_migration(f->store, 7, &err), 0);
    assert_int_equal(store_rollback(f->store, &err), 0);
    load_all(f);
    check_world(&f->seen);

    assert_int_equal(store_begin(f->store, &err), 0);
    assert_int_equal(store_put_vif(f->store, &v, &err), 0);
    assert_int_equal(store_del_migration(f->store, 99, &err), -ENOENT);
    assert_int_equal(store_put_vm(f->store, &(struct store_vm) {
                         .name = "vm9", .host = "host-z" }, &err), -ENOENT);
    assert_int_equal(store_del_migration(f->store, 7, &err), 0);
    assert_int_equal(store_commit(f->store, &err), 0);
    reopen(f);
    load_all(f);
    assert_int_equal(f->seen.n_migs, 0);
    assert_string_equal(f->seen.vifs[0].host, "host-b");
}

static void
store_close_rolls_back_an_open_batch(void **state)
{
    struct fixture *f = *state;
    struct fx_err err;

    put_world(f->store);
    assert_int_equal(store_begin(f->store, &err), 0);
    assert_int_equal(store_del_vif(f->store, 1, &err), 0);
    reopen(f);
    load_all(f);
    check_world(&f->seen);
}

/* ---- A writer killed with SIGKILL. ---- */

#define KILL_AFTER 40

/* The child: puts VIFs one by one and acknowledges each on 'fd' only once
 * store_put_vif() has returned, as fabricd would reply to its client. */
static void
child_writer(const char *dir, int fd)
{
    struct store *s;
    struct store_host h = mk_host("host-a");
    struct store_profile p = mk_profile("pp-web");

    if (store_open(dir, &s, NULL) || store_put_host(s, &h, NULL)
        || store_put_profile(s, &p, NULL)) {
        _exit(2);
    }
    for (uint32_t id = 1; id < 100000; id++) {
        struct store_vif v = mk_vif(id, "host-a", "");

        if (store_put_vif(s, &v, NULL)
            || write(fd, &id, sizeof id) != sizeof id) {
            _exit(3);
        }
    }
    _exit(0);
}

static int
seen_vif_ids(void *arg, const struct store_vif *v, struct fx_err *err)
{
    uint32_t *max = arg;

    (void) err;
    assert_int_equal(v->id, *max + 1);   /* No hole. */
    *max = v->id;
    return 0;
}

static void
store_keeps_every_acknowledged_change_after_sigkill(void **state)
{
    struct fixture *f = *state;
    struct store_callbacks cbs = { .vif = seen_vif_ids };
    uint32_t id, acked = 0, loaded = 0;
    struct fx_err err;
    int fds[2], status;
    pid_t pid;

    store_close(f->store);         /* The child is the only fabricd. */
    f->store = NULL;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_writer(f->dir, fds[1]);
    }
    close(fds[1]);
    while (acked < KILL_AFTER && read(fds[0], &id, sizeof id) == sizeof id) {
        acked = id;
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    while (read(fds[0], &id, sizeof id) == sizeof id) {
        acked = id;                /* Acks already in the pipe. */
    }
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    assert_int_equal(store_open(f->dir, &f->store, &err), 0);
    assert_int_equal(store_load(f->store, &cbs, &loaded, &err), 0);
    /* Every acknowledged VIF; at most one more, stored but not acked. */
    assert_true(acked >= KILL_AFTER);
    assert_true(loaded == acked || loaded == acked + 1);
}

/* ---- Damaged files. ---- */

/* Fills the store with enough VIFs to span many pages, and closes it. */
static void
fill_and_close(struct fixture *f)
{
    struct fx_err err;

    put_world(f->store);
    assert_int_equal(store_begin(f->store, &err), 0);
    for (uint32_t id = 10; id < 1000; id++) {
        struct store_vif v = mk_vif(id, "host-b", "");

        assert_int_equal(store_put_vif(f->store, &v, &err), 0);
    }
    assert_int_equal(store_commit(f->store, &err), 0);
    store_close(f->store);
    f->store = NULL;
}

static void
write_at(const char *path, off_t off, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, len, off), (ssize_t) len);
    close(fd);
}

/* store_open() must fail with 'code' and a message naming 'file'. */
static void
expect_refused(struct fixture *f, int code, const char *file,
               const char *why)
{
    struct fx_err err;

    fx_err_clear(&err);
    assert_int_equal(store_open(f->dir, &f->store, &err), code);
    assert_null(f->store);
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, why));
    assert_null(strchr(err.msg, '\n'));
}

static void
store_refuses_damaged_header(void **state)
{
    struct fixture *f = *state;

    fill_and_close(f);
    write_at(f->path, 0, "Not SQLite at all", 16);
    expect_refused(f, -EIO, f->path, "refusing to start with empty state");
}

static void
store_refuses_damaged_page_size(void **state)
{
    struct fixture *f = *state;

    fill_and_close(f);
    write_at(f->path, 16, "\x00\x03", 2);   /* Page size 3: impossible. */
    expect_refused(f, -EIO, f->path, "damaged");
}

static void
store_refuses_truncated_file(void **state)
{
    struct fixture *f = *state;
    struct stat st;

    fill_and_close(f);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(truncate(f->path, st.st_size / 2), 0);
    expect_refused(f, -EIO, f->path, "damaged");
}

static void
store_refuses_file_short_of_one_page(void **state)
{
    struct fixture *f = *state;
    struct stat st;

    fill_and_close(f);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(truncate(f->path, st.st_size - 4096), 0);
    expect_refused(f, -EIO, f->path, "damaged");
}

/* Garbage inside one page of VIFs: the header and the schema still read,
 * so only the page check at open sees it, before a VIF goes missing. */
static void
store_refuses_damaged_page(void **state)
{
    struct fixture *f = *state;
    struct stat st;

    fill_and_close(f);
    assert_int_equal(stat(f->path, &st), 0);
    write_at(f->path, st.st_size / 4096 / 2 * 4096 + 2000,
             "GARBAGEGARBAGEGARBAGE", 21);
    expect_refused(f, -EIO, f->path, "quick_check");
}

static void
store_refuses_empty_file(void **state)
{
    struct fixture *f = *state;

    fill_and_close(f);
    assert_int_equal(truncate(f->path, 0), 0);
    expect_refused(f, -EIO, f->path, "empty");
}

static void
store_refuses_garbage_wal(void **state)
{
    struct fixture *f = *state;
    char wal[4200], junk[4096];

    fill_and_close(f);
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    for (size_t i = 0; i < sizeof junk; i++) {
        junk[i] = (char) (i * 7 + 3);
    }
    write_at(wal, 0, junk, sizeof junk);
    expect_refused(f, -EIO, wal, "write-ahead log");
}

/* A child makes changes and exits without closing, as after a kill -9,
 * so the WAL holds them; then one byte of the WAL header's salt flips. */
static void
store_refuses_wal_header_damaged_after_crash(void **state)
{
    struct fixture *f = *state;
    char wal[4200];
    uint8_t b;
    int fd, status;
    pid_t pid;

    store_close(f->store);
    f->store = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* No cmocka asserts in the child: it reports by exit status. */
        struct store_host h = mk_host("host-a");
        struct store *s;

        _exit(store_open(f->dir, &s, NULL) || store_put_host(s, &h, NULL)
              ? 2 : 0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, 0);
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    fd = open(wal, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, 17), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, 17), 1);
    close(fd);
    expect_refused(f, -EIO, wal, "header checksum");
}

static void
store_refuses_non_database(void **state)
{
    struct fixture *f = *state;
    static const char text[] = "hosts:\n  - host-a\n# not a database, "
        "but long enough to look like a header of one at first sight\n";

    fill_and_close(f);
    unlink(f->path);
    write_at(f->path, 0, text, sizeof text - 1);
    expect_refused(f, -EIO, f->path, "not a fexsim store");
}

static void
store_refuses_foreign_sqlite_file(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;

    store_close(f->store);
    f->store = NULL;
    unlink(f->path);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x);", NULL, NULL,
                                  NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_refused(f, -EIO, f->path, "not written by fabricd");
}

static void
store_refuses_newer_schema(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;

    store_close(f->store);
    f->store = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET "
                                  "version = 99;", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    expect_refused(f, -EPROTO, f->path, "schema version 99");
}

/* A VM's NICs whose VIF the VM lifecycle policy removed. */
static int
load_vm_nics(void *arg, const struct store_vm *vm, struct fx_err *err)
{
    (void) err;
    *(struct store_vm *) arg = *vm;
    return 0;
}

/* A version 2 file (no column for NICs without a VIF, nor for the next
 * flow and migration ids) is upgraded in place, keeps what it held, and
 * then holds such NICs and ids. */
static void
store_upgrades_schema_2(void **state)
{
    struct fixture *f = *state;
    struct store_callbacks cb = { .vm = load_vm_nics };
    struct store_vm vm = mk_vm("vm1", "host-a"), seen;
    struct store_host a = mk_host("host-a"), b = mk_host("host-b");
    struct store_profile p = mk_profile("pp-web");
    struct store_migration m = mk_mig(9, "vm1");
    struct store_counters c = { .next_vif_id = 3,
                               .next_mac = 0x0025b5000003ull };
    struct fx_err err;
    sqlite3 *db;

    assert_int_equal(store_put_host(f->store, &a, &err), 0);
    assert_int_equal(store_put_host(f->store, &b, &err), 0);
    assert_int_equal(store_put_profile(f->store, &p, &err), 0);
    assert_int_equal(store_put_vm(f->store, &vm, &err), 0);
    assert_int_equal(store_put_counters(f->store, &c, &err), 0);
    store_close(f->store);
    f->store = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "ALTER TABLE vm DROP COLUMN "
                                  "expired_nics; DROP TRIGGER migration_id;"
                                  "ALTER TABLE counters DROP COLUMN "
                                  "next_flow_id; ALTER TABLE counters DROP "
                                  "COLUMN next_migration_id;"
                                  "DELETE FROM schema_version;"
                                  "INSERT INTO schema_version VALUES (2);",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(f->dir, &f->store, &err), 0);
    /* The counters it held are kept; the ids version 2 did not keep
     * start at 0, and are kept from then on. */
    load_all(f);
    assert_int_equal(f->seen.counters.next_vif_id, 3);
    assert_int_equal(f->seen.counters.next_mac, 0x0025b5000003ull);
    assert_int_equal(f->seen.counters.next_flow_id, 0);
    assert_int_equal(f->seen.counters.next_migration_id, 0);
    assert_int_equal(store_put_next_flow_id(f->store, 4, &err), 0);
    assert_int_equal(store_put_migration(f->store, &m, &err), 0);
    load_all(f);
    assert_int_equal(f->seen.counters.next_vif_id, 3);
    assert_int_equal(f->seen.counters.next_flow_id, 4);
    assert_int_equal(f->seen.counters.next_migration_id, 10);
    assert_int_equal(store_del_migration(f->store, 9, &err), 0);
    assert_int_equal(store_load(f->store, &cb, &seen, &err), 0);
    assert_string_equal(seen.name, "vm1");
    assert_int_equal(seen.n_expired, 0);
    vm.n_expired = 2;
    snprintf(vm.expired[0].profile, sizeof vm.expired[0].profile, "pp-web");
    vm.expired[0].directpath = true;
    snprintf(vm.expired[1].profile, sizeof vm.expired[1].profile, "pp-web");
    assert_int_equal(store_put_vm(f->store, &vm, &err), 0);
    assert_int_equal(store_load(f->store, &cb, &seen, &err), 0);
    assert_int_equal(seen.n_expired, 2);
    assert_string_equal(seen.expired[0].profile, "pp-web");
    assert_true(seen.expired[0].directpath);
    assert_false(seen.expired[1].directpath);
    /* A bad profile name is refused, not cut. */
    snprintf(vm.expired[1].profile, sizeof vm.expired[1].profile, "a;b");
    assert_int_equal(store_put_vm(f->store, &vm, &err), -EINVAL);
}

static void
store_refuses_second_open_of_a_dir(void **state)
{
    struct fixture *f = *state;
    struct store *second = NULL;
    char pid[32];
    struct fx_err err;

    snprintf(pid, sizeof pid, "pid %ld", (long) getpid());
    assert_int_equal(store_open(f->dir, &second, &err), -EBUSY);
    assert_null(second);
    assert_non_null(strstr(err.msg, "in use by another fabricd"));
    assert_non_null(strstr(err.msg, pid));
    assert_non_null(strstr(err.msg, f->dir));
    /* Once the first closes, the dir is free again. */
    store_close(f->store);
    assert_int_equal(store_open(f->dir, &f->store, &err), 0);
}

/* What the finished migrations' callback saw: ids and records. */
struct done_seen {
    uint32_t ids[8];
    char records[8][16];
    size_t n;
};

static int
seen_done(void *arg, const struct store_migration_done *d,
          struct fx_err *err)
{
    struct done_seen *s = arg;

    (void) err;
    assert_true(s->n < 8 && d->size < sizeof s->records[0]);
    s->ids[s->n] = d->id;
    memcpy(s->records[s->n], d->record, d->size);
    s->records[s->n++][d->size] = '\0';
    return 0;
}

/* A migration that ends leaves the table in flight and is kept, its
 * record byte for byte, across a reopen; only the newest 'keep' stay; its
 * VM and hosts may go meanwhile. */
static void
store_keeps_finished_migrations(void **state)
{
    struct fixture *f = *state;
    struct store_host a = mk_host("host-a"), b = mk_host("host-b");
    struct store_vm vm = mk_vm("vm1", "host-a");
    struct store_migration m = mk_mig(7, "vm1");
    struct store_callbacks cb = { .migration_done = seen_done };
    struct store_migration_done d = { 7, (const uint8_t *) "rec7", 4 };
    struct done_seen seen = { .n = 0 };
    struct fx_err err;

    assert_int_equal(store_put_host(f->store, &a, &err), 0);
    assert_int_equal(store_put_host(f->store, &b, &err), 0);
    assert_int_equal(store_put_vm(f->store, &vm, &err), 0);
    assert_int_equal(store_put_migration(f->store, &m, &err), 0);
    assert_int_equal(store_end_migration(f->store, &d, 2, &err), 0);
    load_all(f);
    assert_int_equal(f->seen.n_migs, 0);
    /* Without a row in flight (ended before the restart) too. */
    d = (struct store_migration_done) { 8, (const uint8_t *) "rec8", 4 };
    assert_int_equal(store_end_migration(f->store, &d, 2, &err), 0);
    assert_int_equal(store_del_vm(f->store, "vm1", &err), 0);
    reopen(f);
    assert_int_equal(store_load(f->store, &cb, &seen, &err), 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.records[0], "rec7");
    assert_string_equal(seen.records[1], "rec8");
    d = (struct store_migration_done) { 9, (const uint8_t *) "rec9", 4 };
    assert_int_equal(store_end_migration(f->store, &d, 2, &err), 0);
    seen.n = 0;
    assert_int_equal(store_load(f->store, &cb, &seen, &err), 0);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.ids[0], 8);
    assert_int_equal(seen.ids[1], 9);
    /* Nothing to keep, or no id: refused. */
    assert_int_equal(store_end_migration(f->store, &d, 0, &err), -EINVAL);
    d.id = 0;
    assert_int_equal(store_end_migration(f->store, &d, 2, &err), -EINVAL);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(store_upgrades_schema_2),
        T(store_starts_empty_with_zero_counters),
        T(store_round_trips_every_record),
        T(store_never_hands_a_vif_id_out_twice),
        T(store_never_hands_a_flow_or_migration_id_out_twice),
        T(store_creates_its_dir_past_a_stale_first_start),
        T(store_gets_everything_back_after_reopen),
        T(store_updates_in_place_and_deletes),
        T(store_keeps_finished_migrations),
        T(store_keeps_references_whole),
        T(store_rejects_bad_records),
        T(store_batch_rolls_back_as_a_whole),
        T(store_close_rolls_back_an_open_batch),
        T(store_keeps_every_acknowledged_change_after_sigkill),
        T(store_refuses_damaged_header),
        T(store_refuses_damaged_page_size),
        T(store_refuses_truncated_file),
        T(store_refuses_file_short_of_one_page),
        T(store_refuses_damaged_page),
        T(store_refuses_empty_file),
        T(store_refuses_garbage_wal),
        T(store_refuses_wal_header_damaged_after_crash),
        T(store_refuses_non_database),
        T(store_refuses_foreign_sqlite_file),
        T(store_refuses_newer_schema),
        T(store_refuses_second_open_of_a_dir),
    };
#undef T

    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
