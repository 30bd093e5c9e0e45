/* topology: the fabric as the topology page draws it, one JSON document
 * (GET /api/state): hosts with their vNICs, port profiles, VMs with
 * their NICs, VIFs with their switch ports' counters, and the traffic
 * flows between VMs.  Read from the subsystems at each call. */
#ifndef TOPOLOGY_H
#define TOPOLOGY_H

struct dplane;
struct events;
struct flows;
struct json_object;
struct model;

/* A new document (the caller owns it) from the subsystems (borrowed;
 * 'flows' may be NULL). */
struct json_object *topology_json(const struct model *model,
                                  const struct dplane *dplane,
                                  const struct flows *flows,
                                  const struct events *events);

#endif
