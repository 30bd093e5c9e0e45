/* Benchmark: rendering GET /metrics (metrics_render) with 4,096 VIFs on
 * 32 hosts, each VIF with a switch port, beside two baselines measured in
 * the same run: the same render with 256 VIFs (per VIF: the cost should
 * grow linearly, so the ratio stays near 1) and the bare formatting of
 * as many sample lines with evbuffer_add_printf (what any exposition
 * costs; the ratio is what our lookups add). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "dplane/dplane.h"
#include "events/events.h"
#include "fx_err.h"
#include "fx_time.h"
#include "web/metrics.h"
#include "model/model.h"
#include "rpc_registry.h"

#define N_HOSTS 32
#define NICS_PER_VM 4
#define ROUNDS 20

struct world {
    struct event_base *base;
    struct events *events;
    struct model *model;
    struct dplane *dplane;
    struct rpc_registry *registry;
    struct metrics_src src;
    struct metrics *metrics;
};

static void
die(const char *what, const struct fx_err *err)
{
    fprintf(stderr, "bench_metrics: %s: %s\n", what, err->msg);
    exit(1);
}

/* A fabric of N_HOSTS hosts and 'n_vifs' VIFs, each with its port. */
static void
world_create(struct world *w, uint32_t n_vifs)
{
    const struct dplane_cfg dcfg = { .listen = "127.0.0.1:0",
                                     .max_ports = 8192, .max_hosts = 64,
                                     .max_macs = 16384 };
    struct profile p = { .name = "web", .vlans = { 100 }, .n_vlans = 1,
                         .max_ports = 4096, .qos = "best-effort" };
    struct fx_err err;
    uint16_t vlan = 100;

    memset(w, 0, sizeof *w);
    w->base = event_base_new();
    if (events_open(NULL, 1000, &w->events, &err)) {
        die("events", &err);
    }
    w->model = model_create(3000, 15, NULL);
    if (dplane_create(w->base, &dcfg, &w->dplane, &err)
        || model_profile_create(w->model, &p, &err)) {
        die("fabric", &err);
    }
    for (int h = 0; h < N_HOSTS; h++) {
        struct host_info info = { .vnics_total = 256, .vnics_free = 256 };

        snprintf(info.name, sizeof info.name, "h%d", h + 1);
        snprintf(info.rpc_addr, sizeof info.rpc_addr, "127.0.0.1:%d",
                 10000 + h);
        snprintf(info.hypervisor, sizeof info.hypervisor, "TEST");
        if (model_host_register(w->model, &info,
                                (void *) (uintptr_t) (h + 1), 0, &err)) {
            die("host", &err);
        }
    }
    for (uint32_t n = 0, vm = 0; n < n_vifs; vm++) {
        char name[32], host[16];

        snprintf(name, sizeof name, "vm%u", vm + 1);
        snprintf(host, sizeof host, "h%u", vm % N_HOSTS + 1);
        if (model_vm_add(w->model, name, host, 64, &err)) {
            die("vm", &err);
        }
        for (int k = 0; k < NICS_PER_VM && n < n_vifs; k++, n++) {
            uint32_t vif;

            if (model_vm_nic_add(w->model, name, "web", false, &vif, &err)
                || dplane_port_add(w->dplane, vif, vm % N_HOSTS, &vlan, 1,
                                   &err)) {
                die("nic", &err);
            }
        }
    }
    w->registry = rpc_registry_create();
    w->src = (struct metrics_src) { .model = w->model,
                                    .dplane = w->dplane,
                                    .registry = w->registry,
                                    .events = w->events };
    w->metrics = metrics_create(&w->src);
}

static void
world_destroy(struct world *w)
{
    metrics_destroy(w->metrics);
    rpc_registry_destroy(w->registry);
    dplane_destroy(w->dplane);
    model_destroy(w->model);
    events_close(w->events);
    event_base_free(w->base);
}

/* Microseconds per render, and the exposition's size and lines. */
static double
time_render(const struct world *w, size_t *bytesp, size_t *linesp)
{
    uint64_t t0 = fx_time_now_us();
    struct evbuffer *out = NULL;

    for (int r = 0; r < ROUNDS; r++) {
        if (out) {
            evbuffer_free(out);
        }
        out = evbuffer_new();
        metrics_render(w->metrics, out);
    }
    t0 = fx_time_now_us() - t0;
    *bytesp = evbuffer_get_length(out);
    *linesp = 0;
    {
        size_t n = *bytesp;
        const char *p = (const char *) evbuffer_pullup(out, -1);

        for (size_t i = 0; i < n; i++) {
            *linesp += p[i] == '\n';
        }
    }
    evbuffer_free(out);
    return (double) t0 / ROUNDS;
}

/* Microseconds to format 'lines' sample lines alike, with nothing looked
 * up. */
static double
time_printf(size_t lines)
{
    uint64_t t0 = fx_time_now_us();

    for (int r = 0; r < ROUNDS; r++) {
        struct evbuffer *out = evbuffer_new();

        for (size_t i = 0; i < lines; i++) {
            evbuffer_add_printf(out, "fexsim_vif_received_frames_total{"
                                "vif=\"%zu\",host=\"h%zu\",vm=\"vm%zu\"} "
                                "%llu\n", i, i % N_HOSTS, i / 4,
                                (unsigned long long) i * 1000);
        }
        evbuffer_free(out);
    }
    return (double) (fx_time_now_us() - t0) / ROUNDS;
}

int
main(void)
{
    struct world big, small;
    size_t big_bytes, big_lines, small_bytes, small_lines;
    double big_us, small_us, printf_us;

    world_create(&big, 4096);
    world_create(&small, 256);
    big_us = time_render(&big, &big_bytes, &big_lines);
    small_us = time_render(&small, &small_bytes, &small_lines);
    printf_us = time_printf(big_lines);
    printf("bench_metrics: GET /metrics render, %d rounds each\n", ROUNDS);
    printf("  4096 VIFs: %.2f ms per render, %zu lines, %zu KiB "
           "(%.2f us per VIF)\n", big_us / 1e3, big_lines, big_bytes / 1024,
           big_us / 4096);
    printf("  baseline  256 VIFs: %.2f ms per render (%.2f us per VIF); "
           "ratio per VIF %.2f\n", small_us / 1e3, small_us / 256,
           (big_us / 4096) / (small_us / 256));
    printf("  baseline  bare printf of %zu lines: %.2f ms; ratio %.2f\n",
           big_lines, printf_us / 1e3, big_us / printf_us);
    world_destroy(&big);
    world_destroy(&small);
    return 0;
}
