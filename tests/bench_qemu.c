/* Benchmark: three ways of moving a real guest that owns a passthrough
 * NIC, side by side (issue 16), on QEMU labs (`lab up --hypervisor qemu`,
 * TCG guests of `make guest`):
 *   - kvm: fexsim checkpoints the vNIC (VFIO migration v2's model) while
 *     libvirt moves memory and CPU, the guest stopped by fexsim;
 *   - vmware: the same move, the VIF in emulated mode meanwhile;
 *   - failover: QEMU's virtio-net failover: the primary (passthrough)
 *     unplugged by the guest for the move, traffic on the standby
 *     virtio-net, a new primary plugged on the destination; QEMU's own
 *     migration, fexsim's switchover once QEMU stopped the guest.
 * Each: a 2-host lab, guests a (h1) and b (h2) sending each other 100
 * sequence-numbered frames a second from inside, a migrated h1 -> h2.
 * Printed per strategy: total time, downtime by libvirt and by fexsim,
 * frames the guests lost by their own counters (a's + b's, and a's as
 * the migration's report tells it: its span ends once a heard b again)
 * and the longest gap one of them saw; the baseline is kvm, measured in the same run, and the
 * ratio.  Then kvm with 128 and 512 MiB guests, idle and dirtying 5000
 * pages (20 MiB) a second from inside (lab up --guest-dirty-rate): the
 * vNIC's share of the downtime (fexsim's switchover window over QEMU's
 * own downtime; target: the checkpoint and restore add at most 10%).
 *
 * Needs root, libvirtd and QEMU (scripts/setup-debian) and build/guest
 * (make guest); without them it says so and measures nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "harness.h"

#define BOOT_MS 90000u

struct figures {
    const char *flavor;
    unsigned memory_mib;
    unsigned dirty;                /* Pages/s the guest writes. */
    int64_t total_ms, libvirt_total_ms, libvirt_down_ms;
    double fexsim_down_ms;
    unsigned long long lost_a, lost_b, gap_ms;  /* a moves, b stays. */
    long long view_lost;           /* The report's guest view of a. */
};

static int
can_run(void)
{
    static const char *const need[] = {
        "/usr/sbin/libvirtd", "/usr/bin/qemu-system-x86_64",
    };
    char bin[4096], guest[4200];

    if (geteuid() != 0) {
        printf("bench_qemu: not run: QEMU labs take root\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
        if (access(need[i], X_OK)) {
            printf("bench_qemu: not run: %s is missing "
                   "(scripts/setup-debian)\n", need[i]);
            return 0;
        }
    }
    snprintf(guest, sizeof guest, "%s/guest/vmlinuz",
             th_bin(bin, sizeof bin, "."));
    if (access(guest, R_OK)) {
        printf("bench_qemu: not run: no %s (make guest)\n", guest);
        return 0;
    }
    return 1;
}

static void
die(const char *dir, const char *what)
{
    fprintf(stderr, "bench_qemu: %s (lab in %s)\n", what, dir);
    exit(1);
}

static void
fx(const char *dir, char *const args[])
{
    char bin[4096], *argv[32];
    size_t n = 0;

    argv[n++] = (char *) th_bin(bin, sizeof bin, "fexctl");
    argv[n++] = "--lab";
    argv[n++] = (char *) dir;
    for (size_t i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    if (th_run(argv, NULL, NULL)) {
        die(dir, args[0]);
    }
}
#define FX(dir, ...) fx(dir, (char *const[]) { __VA_ARGS__, NULL })

static void
measure(struct figures *f)
{
    char *dir = th_mkdtemp("bench-qemu"), mem[16], dirty[16];
    struct th_guest a0, b0, a1, b1;
    struct json_object *doc, *m;

    snprintf(mem, sizeof mem, "%u", f->memory_mib);
    snprintf(dirty, sizeof dirty, "%u", f->dirty);
    if (th_lab_up(dir, 2, "--hypervisor", "qemu", "--flavor", f->flavor,
                  "--vnics", "8", "--guest-dirty-rate", dirty, NULL)
        || th_lab_passthrough(dir, 1, 2)) {
        die(dir, "lab up");
    }
    FX(dir, "profile", "create", "pp", "--vlan", "10", "--high-performance");
    FX(dir, "vm", "create", "a", "--host", "h1", "--memory", mem, "--nic",
       "pp,directpath");
    FX(dir, "vm", "create", "b", "--host", "h2", "--memory", "128", "--nic",
       "pp,directpath");
    FX(dir, "vm", "start", "a");
    FX(dir, "vm", "start", "b");
    if (!th_guest_wait_recv(dir, "h1", "a", 100, BOOT_MS)
        || !th_guest_wait_recv(dir, "h2", "b", 100, BOOT_MS)) {
        die(dir, "guests did not boot and hear each other");
    }
    th_guest_read(dir, "h1", "a", &a0);
    th_guest_read(dir, "h2", "b", &b0);
    doc = th_fexctl_json(dir, "migrate", "a", "--to", "h2", NULL);
    m = doc ? json_object_object_get(doc, "migration") : NULL;
    m = m ? m : doc;
    if (!m || strcmp(th_jstr(m, "state"), "completed")) {
        die(dir, "the migration did not complete");
    }
    f->total_ms = th_jint(m, "total_ms");
    f->fexsim_down_ms = (double) th_jint(m, "downtime_us") / 1000.0;
    f->libvirt_total_ms = th_jint(m, "libvirt_total_ms");
    f->libvirt_down_ms = th_jint(m, "libvirt_downtime_ms");
    f->view_lost = th_jint(m, "guest_frames_lost");
    json_object_put(doc);
    /* Both hear each other again, a second's worth more. */
    if (!th_guest_wait_recv(dir, "h2", "a", 0, BOOT_MS)) {
        die(dir, "a hears nothing on h2");
    }
    th_guest_read(dir, "h2", "a", &a1);
    th_guest_read(dir, "h2", "b", &b1);
    if (!th_guest_wait_recv(dir, "h2", "a", a1.recv + 100, BOOT_MS)
        || !th_guest_wait_recv(dir, "h2", "b", b1.recv + 100, BOOT_MS)) {
        die(dir, "the guests do not hear each other after the move");
    }
    th_guest_read(dir, "h2", "a", &a1);
    th_guest_read(dir, "h2", "b", &b1);
    f->lost_a = a1.lost - a0.lost;
    f->lost_b = b1.lost - b0.lost;
    f->gap_ms = a1.gap_ms > b1.gap_ms ? a1.gap_ms : b1.gap_ms;
    th_lab_down(dir);
    th_rmrf(dir);
    free(dir);
}

static void
print(const struct figures *f, const struct figures *base)
{
    printf("  %-9s %4u MiB %5u/s  total %6lld ms (x%.2f)  libvirt %6lld ms, "
           "downtime %4lld ms  fexsim downtime %7.1f ms  lost %3llu+%-3llu "
           "(report %3lld)  longest gap %5llu ms (x%.2f)\n", f->flavor,
           f->memory_mib, f->dirty,
           (long long) f->total_ms,
           base->total_ms ? (double) f->total_ms / (double) base->total_ms
                          : 0.0,
           (long long) f->libvirt_total_ms, (long long) f->libvirt_down_ms,
           f->fexsim_down_ms, f->lost_a, f->lost_b, f->view_lost, f->gap_ms,
           base->gap_ms ? (double) f->gap_ms / (double) base->gap_ms : 0.0);
}

int
main(void)
{
    struct figures runs[] = {
        { .flavor = "kvm", .memory_mib = 128 },
        { .flavor = "vmware", .memory_mib = 128 },
        { .flavor = "failover", .memory_mib = 128 },
        { .flavor = "kvm", .memory_mib = 512 },
        { .flavor = "kvm", .memory_mib = 128, .dirty = 5000 },
        { .flavor = "kvm", .memory_mib = 512, .dirty = 5000 },
    };
    const size_t n = sizeof runs / sizeof *runs;

    if (!can_run()) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        measure(&runs[i]);
    }
    printf("bench_qemu: a real guest migrated h1 -> h2 under 2 x 100 "
           "frames/s from inside (baseline: kvm, 128 MiB, idle, same "
           "run); flavour, memory, pages/s it dirties\n");
    for (size_t i = 0; i < n; i++) {
        print(&runs[i], &runs[0]);
    }
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(runs[i].flavor, "kvm") && runs[i].libvirt_down_ms > 0) {
            printf("  vNIC share of the downtime, kvm %u MiB, %u pages/s: "
                   "fexsim %.1f ms over QEMU's %lld ms = %.0f%% (target <= "
                   "10%%)\n", runs[i].memory_mib, runs[i].dirty,
                   runs[i].fexsim_down_ms,
                   (long long) runs[i].libvirt_down_ms,
                   100.0 * runs[i].fexsim_down_ms
                   / (double) runs[i].libvirt_down_ms);
        }
    }
    return 0;
}
