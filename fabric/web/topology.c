/* topology: see topology.h. */
#include "topology.h"

#include <stdint.h>

#include <json-c/json.h>

#include "dplane/dplane.h"
#include "events/events.h"
#include "flows/flows.h"
#include "fx_mac.h"
#include "model/model.h"

static void
jstr(struct json_object *o, const char *key, const char *v)
{
    json_object_object_add(o, key, json_object_new_string(v));
}

static void
jint(struct json_object *o, const char *key, int64_t v)
{
    json_object_object_add(o, key, json_object_new_int64(v));
}

static struct json_object *
topology_hosts(const struct model *m)
{
    struct json_object *arr = json_object_new_array();

    for (size_t i = 0; i < model_host_count(m); i++) {
        const struct host *h = model_host_at(m, i);
        struct json_object *o = json_object_new_object();

        jstr(o, "name", h->info.name);
        jstr(o, "state", h->state == HOST_UP ? "up" : "down");
        jstr(o, "down_reason", h->down_reason);
        jstr(o, "adapter", h->info.adapter_model);
        jint(o, "vnics_total", h->info.vnics_total);
        jint(o, "vnics_free", h->info.vnics_free);
        json_object_array_add(arr, o);
    }
    return arr;
}

static struct json_object *
topology_profiles(const struct model *m)
{
    struct json_object *arr = json_object_new_array();

    for (size_t i = 0; i < model_profile_count(m); i++) {
        const struct profile *p = model_profile_at(m, i);
        struct json_object *o = json_object_new_object();
        struct json_object *vlans = json_object_new_array();

        for (uint32_t k = 0; k < p->n_vlans; k++) {
            json_object_array_add(vlans, json_object_new_int(p->vlans[k]));
        }
        jstr(o, "name", p->name);
        json_object_object_add(o, "vlans", vlans);
        json_object_object_add(o, "high_performance",
                               json_object_new_boolean(p->high_performance));
        jint(o, "ports_used", p->ports_used);
        jint(o, "max_ports", p->max_ports);
        json_object_array_add(arr, o);
    }
    return arr;
}

static struct json_object *
topology_vms(const struct model *m)
{
    struct json_object *arr = json_object_new_array();

    for (size_t i = 0; i < model_vm_count(m); i++) {
        const struct vm *v = model_vm_at(m, i);
        struct json_object *o = json_object_new_object();
        struct json_object *nics = json_object_new_array();

        for (size_t k = 0; k < v->n_nics; k++) {
            struct json_object *n = json_object_new_object();

            jint(n, "vif", v->nics[k].vif);
            jstr(n, "profile", v->nics[k].profile);
            json_object_object_add(n, "directpath", json_object_new_boolean(
                                                       v->nics[k].directpath));
            json_object_array_add(nics, n);
        }
        jstr(o, "name", v->name);
        jstr(o, "host", v->host);
        jstr(o, "state", v->running ? "running" : "stopped");
        json_object_object_add(o, "busy", json_object_new_boolean(v->busy));
        jint(o, "memory_mib", (int64_t) v->memory_mib);
        json_object_object_add(o, "nics", nics);
        json_object_array_add(arr, o);
    }
    return arr;
}

static struct json_object *
topology_vifs(const struct model *m, const struct dplane *dp)
{
    struct json_object *arr = json_object_new_array();

    for (size_t i = 0; i < model_vif_count(m); i++) {
        const struct vif *v = model_vif_at(m, i);
        struct json_object *o = json_object_new_object();
        struct fsw_counters c;
        char mac[FX_MAC_STR_SIZE];

        fx_mac_format(v->mac, mac);
        jint(o, "id", v->id);
        jstr(o, "mac", mac);
        jstr(o, "host", v->host);
        jstr(o, "vm", v->vm);
        jstr(o, "profile", v->profile);
        jint(o, "vnic", v->vnic);
        json_object_object_add(o, "directpath",
                               json_object_new_boolean(v->directpath));
        jstr(o, "state", v->state == VIF_ONLINE ? "online" : "offline");
        if (!dplane_port_counters(dp, v->id, &c)) {
            jint(o, "rx_frames", (int64_t) c.rx_frames);
            jint(o, "tx_frames", (int64_t) c.tx_frames);
        }
        json_object_array_add(arr, o);
    }
    return arr;
}

static struct json_object *
topology_flows(const struct flows *fl)
{
    struct json_object *arr = json_object_new_array();

    for (size_t i = 0; fl && i < flows_count(fl); i++) {
        struct json_object *o = json_object_new_object();
        const char *src, *dst;
        uint32_t id;

        flows_at(fl, i, &id, &src, &dst);
        jint(o, "id", id);
        jstr(o, "src_vm", src);
        jstr(o, "dst_vm", dst);
        json_object_array_add(arr, o);
    }
    return arr;
}

struct json_object *
topology_json(const struct model *model, const struct dplane *dplane,
              const struct flows *flows, const struct events *events)
{
    struct json_object *doc = json_object_new_object();

    json_object_object_add(doc, "hosts", topology_hosts(model));
    json_object_object_add(doc, "profiles", topology_profiles(model));
    json_object_object_add(doc, "vms", topology_vms(model));
    json_object_object_add(doc, "vifs", topology_vifs(model,
                                                      dplane));
    json_object_object_add(doc, "flows", topology_flows(flows));
    jint(doc, "last_seq", (int64_t) events_last_seq(events));
    return doc;
}
