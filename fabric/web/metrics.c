/* metrics: see metrics.h. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "dplane/dplane.h"
#include "events/events.h"
#include "fx_phist.h"
#include "model/model.h"
#include "rpc.h"
#include "store/store.h"

/* A migration's results, as events name them. */
enum { MR_COMPLETED, MR_FAILED, MR_CANCELLED, MR_N };
static const char *const metrics_results[MR_N] = {
    "completed", "failed", "cancelled",
};

/* Downtime: a good switchover is sub-millisecond to ~300 ms (QEMU's
 * default downtime limit); total time: from under a second to minutes. */
static const double metrics_downtime_bounds[] = {
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.3, 0.5, 1, 2.5, 5,
};
static const double metrics_total_bounds[] = {
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
};

struct metrics {
    struct metrics_src src;
    uint64_t migrations[MR_N];
    uint64_t migration_bytes;
    struct fx_phist downtime, total;
};

/* ---- What happened: from the event log ---- */

static void
metrics_tap(void *arg, const Fexsim__V1__Event *e)
{
    struct metrics *m = arg;
    const Fexsim__V1__MigrationStats *s = e->stats;

    if (e->type != FEXSIM__V1__EVENT_TYPE__EVENT_MIGRATION_FINISHED) {
        return;
    }
    for (int r = 0; r < MR_N; r++) {
        if (!strcmp(e->state, metrics_results[r])) {
            m->migrations[r]++;
        }
    }
    if (!s) {
        return;
    }
    m->migration_bytes += s->data_processed_bytes;
    fx_phist_observe(&m->total, (double) s->time_elapsed_ms / 1e3);
    if (!strcmp(e->state, "completed")) {
        fx_phist_observe(&m->downtime, (double) s->downtime_us / 1e6);
    }
}

struct metrics *
metrics_create(const struct metrics_src *src)
{
    struct metrics *m = calloc(1, sizeof *m);

    if (!m) {
        abort();
    }
    m->src = *src;
    fx_phist_init(&m->downtime, metrics_downtime_bounds,
                  sizeof metrics_downtime_bounds
                  / sizeof *metrics_downtime_bounds);
    fx_phist_init(&m->total, metrics_total_bounds,
                  sizeof metrics_total_bounds / sizeof *metrics_total_bounds);
    if (events_add_tap(src->events, metrics_tap, m)) {
        abort();                /* Taps are a fixed few, ours is one. */
    }
    return m;
}

void
metrics_destroy(struct metrics *m)
{
    if (m) {
        events_remove_tap(m->src.events, metrics_tap, m);
        free(m);
    }
}

/* ---- Rendering ---- */

/* A label value as the format wants it: backslash, double quote and
 * newline escaped.  Names are already plain (fx_name), but a render must
 * never produce a broken line. */
static const char *
metrics_esc(const char *v, char *buf, size_t size)
{
    size_t n = 0;

    for (; *v && n + 3 < size; v++) {
        if (*v == '\\' || *v == '"') {
            buf[n++] = '\\';
            buf[n++] = *v;
        } else if (*v == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *v;
        }
    }
    buf[n] = '\0';
    return buf;
}

static void
metrics_head(struct evbuffer *out, const char *name, const char *type,
             const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                        name, type);
}

static void
metrics_phist(struct evbuffer *out, const char *name, const char *help,
              const struct fx_phist *h)
{
    metrics_head(out, name, "histogram", help);
    for (size_t i = 0; i < h->n; i++) {
        evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
                            h->bounds[i],
                            (unsigned long long) fx_phist_le(h, i));
    }
    evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n"
                        "%s_count %llu\n", name,
                        (unsigned long long) h->count, name, h->sum, name,
                        (unsigned long long) h->count);
}

static void
metrics_hosts(const struct metrics *m, struct evbuffer *out)
{
    const struct model *model = m->src.model;
    size_t n = model_host_count(model), up = 0;
    char h[96];

    for (size_t i = 0; i < n; i++) {
        up += model_host_at(model, i)->state == HOST_UP;
    }
    metrics_head(out, "fexsim_hosts", "gauge", "Hosts by state.");
    evbuffer_add_printf(out, "fexsim_hosts{state=\"up\"} %zu\n"
                        "fexsim_hosts{state=\"down\"} %zu\n", up, n - up);
    metrics_head(out, "fexsim_host_vnics", "gauge",
                 "Dynamic vNICs of each host's VIC by state, as its agent "
                 "last said.");
    for (size_t i = 0; i < n; i++) {
        const struct host *ho = model_host_at(model, i);

        metrics_esc(ho->info.name, h, sizeof h);
        evbuffer_add_printf(out, "fexsim_host_vnics{host=\"%s\","
                            "state=\"free\"} %u\n"
                            "fexsim_host_vnics{host=\"%s\",state=\"used\"} "
                            "%u\n", h, ho->info.vnics_free, h,
                            ho->info.vnics_total - ho->info.vnics_free);
    }
}

static void
metrics_vms(const struct metrics *m, struct evbuffer *out)
{
    size_t n = model_vm_count(m->src.model), running = 0;

    for (size_t i = 0; i < n; i++) {
        running += model_vm_at(m->src.model, i)->running != 0;
    }
    metrics_head(out, "fexsim_vms", "gauge", "VMs by state.");
    evbuffer_add_printf(out, "fexsim_vms{state=\"running\"} %zu\n"
                        "fexsim_vms{state=\"stopped\"} %zu\n", running,
                        n - running);
}

/* One counter family over every VIF: 'pick' chooses the value. */
static void
metrics_vif_family(const struct metrics *m, struct evbuffer *out,
                   const char *name, const char *help,
                   uint64_t (*pick)(const struct fsw_counters *))
{
    size_t n = model_vif_count(m->src.model);
    char host[96], vm[96];

    metrics_head(out, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        const struct vif *v = model_vif_at(m->src.model, i);
        struct fsw_counters c;

        if (dplane_port_counters(m->src.dplane, v->id, &c)) {
            continue;               /* No port (yet): nothing counted. */
        }
        evbuffer_add_printf(out, "%s{vif=\"%u\",host=\"%s\",vm=\"%s\"} "
                            "%llu\n", name, v->id,
                            metrics_esc(v->host, host, sizeof host),
                            metrics_esc(v->vm, vm, sizeof vm),
                            (unsigned long long) pick(&c));
    }
}

static uint64_t pick_rx_frames(const struct fsw_counters *c)
{
    return c->rx_frames;
}
static uint64_t pick_rx_bytes(const struct fsw_counters *c)
{
    return c->rx_bytes;
}
static uint64_t pick_tx_frames(const struct fsw_counters *c)
{
    return c->tx_frames;
}
static uint64_t pick_tx_bytes(const struct fsw_counters *c)
{
    return c->tx_bytes;
}

static void
metrics_vif_drops(const struct metrics *m, struct evbuffer *out)
{
    size_t n = model_vif_count(m->src.model);
    char host[96], vm[96];

    metrics_head(out, "fexsim_vif_dropped_frames_total", "counter",
                 "Frames of a VIF the fabric dropped, by reason.");
    for (size_t i = 0; i < n; i++) {
        const struct vif *v = model_vif_at(m->src.model, i);
        struct fsw_counters c;

        if (dplane_port_counters(m->src.dplane, v->id, &c)) {
            continue;
        }
        metrics_esc(v->host, host, sizeof host);
        metrics_esc(v->vm, vm, sizeof vm);
        for (int r = 0; r < FSW_DROP_N; r++) {
            if (r == FSW_DROP_UNKNOWN_VIF) {
                continue;           /* Never a port's: the switch's. */
            }
            evbuffer_add_printf(out, "fexsim_vif_dropped_frames_total{"
                                "vif=\"%u\",host=\"%s\",vm=\"%s\","
                                "reason=\"%s\"} %llu\n", v->id, host, vm,
                                fsw_drop_name((enum fsw_drop) r),
                                (unsigned long long) c.drops[r]);
        }
    }
}

static void
metrics_migrations(const struct metrics *m, struct evbuffer *out)
{
    metrics_head(out, "fexsim_migrations_total", "counter",
                 "Migrations finished, by result.");
    for (int r = 0; r < MR_N; r++) {
        evbuffer_add_printf(out, "fexsim_migrations_total{result=\"%s\"} "
                            "%llu\n", metrics_results[r],
                            (unsigned long long) m->migrations[r]);
    }
    metrics_head(out, "fexsim_migration_sent_bytes_total", "counter",
                 "Bytes of memory and device state finished migrations "
                 "sent.");
    evbuffer_add_printf(out, "fexsim_migration_sent_bytes_total %llu\n",
                        (unsigned long long) m->migration_bytes);
    metrics_phist(out, "fexsim_migration_downtime_seconds",
                  "Guest stopped to resumed, of each completed migration.",
                  &m->downtime);
    metrics_phist(out, "fexsim_migration_duration_seconds",
                  "Start to end of each finished migration.", &m->total);
}

static void
metrics_rpc(const struct metrics *m, struct evbuffer *out)
{
    size_t n;
    const struct rpc_registry_entry *e = rpc_registry_entries(
        m->src.registry, &n);

    metrics_head(out, "fexsim_rpc_calls_total", "counter",
                 "RPC calls fabricd answered, by method and status.");
    for (size_t i = 0; i < n; i++) {
        for (int s = 0; s < RPC_N_STATUS; s++) {
            if (e[i].answered[s] || s == RPC_OK) {
                evbuffer_add_printf(out, "fexsim_rpc_calls_total{"
                                    "method=\"%s\",status=\"%s\"} %llu\n",
                                    e[i].name, rpc_status_name(s),
                                    (unsigned long long) e[i].answered[s]);
            }
        }
    }
}

static void
metrics_events(const struct metrics *m, struct evbuffer *out)
{
    metrics_head(out, "fexsim_events_total", "counter",
                 "Events the fabric numbered.");
    evbuffer_add_printf(out, "fexsim_events_total %llu\n",
                        (unsigned long long) events_last_seq(m->src.events));
    metrics_head(out, "fexsim_events_delivered_total", "counter",
                 "Events pushed to subscribers (each copy).");
    evbuffer_add_printf(out, "fexsim_events_delivered_total %llu\n",
                        (unsigned long long) events_delivered(
                            m->src.events));
    metrics_head(out, "fexsim_event_subscribers", "gauge",
                 "Subscriptions to the event stream now.");
    evbuffer_add_printf(out, "fexsim_event_subscribers %zu\n",
                        events_subscribers(m->src.events));
}

void
metrics_render(const struct metrics *m, struct evbuffer *out)
{
    metrics_hosts(m, out);
    metrics_vms(m, out);
    metrics_vif_family(m, out, "fexsim_vif_received_frames_total",
                       "Frames from the VIF's vNIC into the fabric.",
                       pick_rx_frames);
    metrics_vif_family(m, out, "fexsim_vif_received_bytes_total",
                       "Bytes from the VIF's vNIC into the fabric.",
                       pick_rx_bytes);
    metrics_vif_family(m, out, "fexsim_vif_transmitted_frames_total",
                       "Frames the fabric delivered to the VIF's vNIC.",
                       pick_tx_frames);
    metrics_vif_family(m, out, "fexsim_vif_transmitted_bytes_total",
                       "Bytes the fabric delivered to the VIF's vNIC.",
                       pick_tx_bytes);
    metrics_vif_drops(m, out);
    metrics_migrations(m, out);
    metrics_rpc(m, out);
    metrics_events(m, out);
    if (m->src.store) {
        metrics_phist(out, "fexsim_store_write_seconds",
                      "Durable writes of the state file (a change, or a "
                      "batch's commit).", store_write_latency(m->src.store));
    }
}
