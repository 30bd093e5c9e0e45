/* Benchmark: seeded chaos (fexctl scenario chaos) over longer storms than
 * make test runs: steps per second and violations found (expected 0),
 * beside a baseline measured in the same run: a scenario of as many
 * plain steps (`vm list`, one fexctl each, no fault), which is the
 * runner's own cost per step (a fexctl process, then the invariants'
 * four listings). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_time.h"
#include "harness.h"

#define SEEDS 3
#define STEPS 60

/* Runs one storm; adds its steps and seconds; returns 1 on a violation
 * (or a failed storm), 0 when clean. */
static int
storm(const char *logs, unsigned seed, unsigned *steps, double *secs)
{
    char s[16], n[16], dir[4200], *out = NULL;
    unsigned k = 0;
    double t = 0;
    const char *line;
    int rc;

    snprintf(s, sizeof s, "%u", seed);
    snprintf(n, sizeof n, "%u", STEPS);
    snprintf(dir, sizeof dir, "%s/seed-%u", logs, seed);
    rc = th_fexctl(&out, NULL, "scenario", "chaos", "--seed", s, "--hosts",
                   "3", "--vms", "3", "--steps", n, "--no-shrink", "--logs",
                   dir, NULL);
    line = out ? strstr(out, "\n") : NULL;
    if (!line || sscanf(line + 1, "%u steps in %lf s", &k, &t) != 2) {
        fprintf(stderr, "bench_chaos: seed %u: no figures in:\n%s\n", seed,
                out ? out : "");
        exit(1);
    }
    printf("  seed %u: %s", seed, line + 1);
    *steps += k;
    *secs += t;
    free(out);
    return rc != 0;
}

/* The same number of steps, none a fault: the runner's floor. */
static double
baseline(const char *logs, unsigned steps)
{
    char path[4200], dir[4200];
    uint64_t t0;
    FILE *f;

    snprintf(path, sizeof path, "%s/baseline.scn", logs);
    snprintf(dir, sizeof dir, "%s/baseline", logs);
    f = fopen(path, "w");
    if (!f) {
        exit(1);
    }
    fputs("lab hosts=3 vnics=8 heartbeat-timeout=1000\n", f);
    for (unsigned i = 0; i < steps; i++) {
        fputs("try vm list\n", f);
    }
    fclose(f);
    t0 = fx_time_now_ms();
    if (th_fexctl(NULL, NULL, "scenario", "run", path, "--logs", dir,
                  NULL)) {
        fprintf(stderr, "bench_chaos: the baseline scenario failed\n");
        exit(1);
    }
    return steps * 1000.0 / (double) (fx_time_now_ms() - t0);
}

int
main(void)
{
    char *logs = th_mkdtemp("benchchaos");
    unsigned steps = 0, violations = 0;
    double secs = 0, rate, base;

    printf("bench_chaos: %d seeds, %d steps each, 3 hosts, 3 VMs\n", SEEDS,
           STEPS);
    for (unsigned seed = 1; seed <= SEEDS; seed++) {
        violations += (unsigned) storm(logs, seed, &steps, &secs);
    }
    rate = steps / secs;
    base = baseline(logs, steps / SEEDS);
    printf("  chaos: %u steps in %.1f s: %.1f steps/s; violations found: "
           "%u\n", steps, secs, rate, violations);
    printf("  baseline: plain steps (vm list), same runner: %.1f steps/s\n",
           base);
    printf("  ratio chaos / baseline: %.2f\n", rate / base);
    if (!violations) {
        th_rmrf(logs);
    } else {
        printf("  logs kept in %s\n", logs);
    }
    free(logs);
    return violations ? 1 : 0;
}
