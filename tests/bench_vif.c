/* Benchmark: VIF lookups by id and by MAC in a table of 4096 VIFs (the
 * data plane looks a MAC up per frame), beside a linear scan over the same
 * VIFs measured in the same run, and the ratio. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fx_time.h"
#include "model/vif.h"

#define N_VIFS 4096
#define ROUNDS 200

static volatile uintptr_t sink;

static double
ns_per_lookup(uint64_t us, uint64_t n)
{
    return (double) us * 1000.0 / (double) n;
}

int
main(void)
{
    struct vif_table *t = vif_table_create();
    static uint8_t macs[N_VIFS][6];
    static struct vif *all[N_VIFS];
    struct vif rec = { .host = "h1", .profile = "pp" };
    uint64_t t0, hash_id_us, hash_mac_us, scan_us, n = 0;

    for (int i = 0; i < N_VIFS; i++) {
        rec.vnic = (uint32_t) i;
        vif_add(t, &rec, &all[i], NULL);
        memcpy(macs[i], all[i]->mac, 6);
    }
    t0 = fx_time_now_us();
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N_VIFS; i++, n++) {
            sink += (uintptr_t) vif_find_mac(t, macs[(i * 7919) % N_VIFS]);
        }
    }
    hash_mac_us = fx_time_now_us() - t0 + 1;
    t0 = fx_time_now_us();
    for (int r = 0; r < ROUNDS; r++) {
        for (uint32_t i = 0; i < N_VIFS; i++) {
            sink += (uintptr_t) vif_find(t, (i * 7919) % N_VIFS + 1);
        }
    }
    hash_id_us = fx_time_now_us() - t0 + 1;
    /* Baseline: what a list of VIFs would cost, scanning for the MAC. */
    t0 = fx_time_now_us();
    for (int i = 0; i < N_VIFS; i++) {
        const uint8_t *want = macs[(i * 7919) % N_VIFS];

        for (int j = 0; j < N_VIFS; j++) {
            if (!memcmp(all[j]->mac, want, 6)) {
                sink += (uintptr_t) all[j];
                break;
            }
        }
    }
    scan_us = fx_time_now_us() - t0 + 1;
    printf("bench_vif: %d VIFs, %llu lookups each\n", N_VIFS,
           (unsigned long long) n);
    printf("  by MAC (hash)            %8.1f ns/lookup\n",
           ns_per_lookup(hash_mac_us, n));
    printf("  by id (hash)             %8.1f ns/lookup\n",
           ns_per_lookup(hash_id_us, n));
    printf("  by MAC (scan, baseline) %8.1f ns/lookup\n",
           ns_per_lookup(scan_us, N_VIFS));
    printf("  ratio scan/hash by MAC: %.0fx\n",
           ns_per_lookup(scan_us, N_VIFS) / ns_per_lookup(hash_mac_us, n));
    vif_table_destroy(t);
    return 0;
}
