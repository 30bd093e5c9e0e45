/* metrics: fabricd's state and history in the Prometheus text exposition
 * format (version 0.0.4), for GET /metrics (web.h).
 *
 * Gauges and per-VIF counters are read from the subsystems at each render,
 * so a scrape sees the fabric as it is.  What happened (migrations by
 * result, their downtime and total time as histograms, bytes they sent)
 * is counted from the event log's tap as each migration finishes, from
 * its final statistics: nothing depends on when a scrape comes.  Names
 * follow Prometheus's conventions: the fexsim_ prefix, base units
 * (seconds, bytes), _total on counters; labels are bounded (VIF, host, VM
 * names, states, reasons, methods, statuses). */
#ifndef METRICS_H
#define METRICS_H

struct dplane;
struct events;
struct evbuffer;
struct metrics;
struct model;
struct rpc_registry;
struct store;

/* What metrics read, all borrowed and outliving the metrics; 'store' may
 * be NULL (no state dir). */
struct metrics_src {
    const struct model *model;
    const struct dplane *dplane;
    const struct rpc_registry *registry;
    struct events *events;          /* Tapped here. */
    const struct store *store;
};

/* Creates the metrics over 'src' (copied) and taps its event log. */
struct metrics *metrics_create(const struct metrics_src *src);
/* Removes the tap and frees.  NULL is a no-op. */
void metrics_destroy(struct metrics *);

/* Appends the whole exposition to 'out'. */
void metrics_render(const struct metrics *, struct evbuffer *out);

#endif
