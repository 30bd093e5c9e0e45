/* Benchmark: a live migration between real daemons (fabricd, two
 * agentds, fexctl) of a running 64 MiB guest with a DirectPath vNIC, under
 * traffic both ways: total time and downtime from the report, beside a
 * baseline measured in the same run: a cold move of the same VM (stop,
 * delete, create on the other host, start), whose whole length is the
 * guest's downtime. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fx_time.h"
#include "harness.h"

#define ROUNDS 5

static char *dir;

static void
run(int line, char *const args[])
{
    char bin[4096], *argv[32];
    size_t n = 0;

    argv[n++] = (char *) th_bin(bin, sizeof bin, "fexctl");
    argv[n++] = "--lab";
    argv[n++] = dir;
    for (size_t i = 0; args[i] && n < 31; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    if (th_run(argv, NULL, NULL)) {
        fprintf(stderr, "bench_migrate_lab: line %d: '%s %s' failed\n", line,
                args[0], args[1]);
        exit(1);
    }
}
#define RUN(...) run(__LINE__, (char *const[]) { __VA_ARGS__, NULL })

static void
setup(void)
{
    dir = th_mkdtemp("bench-migrate");
    if (th_lab_up(dir, 2, NULL)) {
        fprintf(stderr, "bench_migrate_lab: lab up failed\n");
        exit(1);
    }
    RUN("host", "passthrough", "h1", "--enable", "0000:0b:00.0");
    RUN("host", "passthrough", "h2", "--enable", "0000:0b:00.0");
    RUN("host", "reboot", "h1");
    RUN("host", "reboot", "h2");
    RUN("profile", "create", "hp", "--vlan", "10", "--high-performance");
    RUN("vm", "create", "a", "--host", "h1", "--memory", "64", "--nic",
        "hp,directpath");
    RUN("vm", "create", "b", "--host", "h2", "--memory", "64", "--nic",
        "hp,directpath");
    RUN("vm", "start", "a");
    RUN("vm", "start", "b");
    RUN("traffic", "start", "a", "b", "--rate", "1000", "--size", "256");
    RUN("traffic", "start", "b", "a", "--rate", "1000", "--size", "256");
}

/* One live migration of 'a' to 'to'; adds its figures. */
static void
live(const char *to, uint64_t *total_ms, uint64_t *down_us, uint64_t *lost)
{
    struct json_object *doc = th_fexctl_json(dir, "migrate", "a", "--to", to,
                                             "--dirty-rate", "2000", NULL);

    if (!doc || th_jint(doc, "total_ms") < 0) {
        fprintf(stderr, "bench_migrate_lab: migration failed\n");
        exit(1);
    }
    *total_ms += (uint64_t) th_jint(doc, "total_ms");
    *down_us += (uint64_t) th_jint(doc, "downtime_us");
    *lost += (uint64_t) th_jint(doc, "frames_lost");
    json_object_put(doc);
}

/* A cold move of 'c' to 'to' (its flows would have to start again). */
static uint64_t
cold(const char *to)
{
    uint64_t t0 = fx_time_now_us();

    RUN("vm", "stop", "c");
    RUN("vm", "delete", "c");
    RUN("vm", "create", "c", "--host", (char *) to, "--memory", "64", "--nic",
        "hp,directpath");
    RUN("vm", "start", "c");
    return fx_time_now_us() - t0;
}

int
main(void)
{
    uint64_t total_ms = 0, down_us = 0, lost = 0, cold_us = 0;

    setup();
    RUN("vm", "create", "c", "--host", "h1", "--memory", "64", "--nic",
        "hp,directpath");
    RUN("vm", "start", "c");
    for (int i = 0; i < ROUNDS; i++) {
        live(i % 2 ? "h1" : "h2", &total_ms, &down_us, &lost);
        cold_us += cold(i % 2 ? "h1" : "h2");
    }
    printf("bench_migrate_lab: 64 MiB guest, DirectPath vNIC, 2x1000 "
           "frames/s, %d moves each\n"
           "  live migration: total %.1f ms, downtime %.3f ms, frames lost "
           "%llu\n"
           "  baseline cold move (stop, delete, create, start): %.1f ms\n"
           "  downtime ratio live/cold: %.4f\n",
           ROUNDS, (double) total_ms / ROUNDS, down_us / 1e3 / ROUNDS,
           (unsigned long long) lost, cold_us / 1e3 / ROUNDS,
           (double) down_us / (double) (cold_us ? cold_us : 1));
    th_lab_down(dir);
    th_rmrf(dir);
    free(dir);
    return 0;
}
