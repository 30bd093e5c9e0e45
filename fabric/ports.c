/* ports: see ports.h. */
#include "ports.h"

#include <stdlib.h>

#include "agents/agents.h"
#include "dataplane.pb-c.h"
#include "dplane/dplane.h"
#include "fx_err.h"
#include "log.h"
#include "model/model.h"

LOG_MODULE("ports");

/* Every VLAN a profile may have fits its VIFs' ports: a profile the model
 * took never leaves a VIF without a port for its VLANs. */
_Static_assert(FSW_MAX_VLANS >= PROFILE_MAX_VLANS,
               "a switch port carries every VLAN of its port profile");

struct ports {
    const struct model *model;       /* Borrowed, all three. */
    struct dplane *dp;
    struct agents *agents;
};

struct ports *
ports_create(const struct model *model, struct dplane *dp,
             struct agents *agents)
{
    struct ports *p = calloc(1, sizeof *p);

    if (!p) {
        abort();
    }
    *p = (struct ports) { model, dp, agents };
    return p;
}

void
ports_destroy(struct ports *p)
{
    free(p);
}

static void
ports_mapped(void *arg, int rc, const struct fx_err *err,
             const ProtobufCMessage *rep)
{
    (void) rep;
    if (rc) {
        LOG_WARN("VIF %u: agent did not map it to its vNIC: %s",
                 (uint32_t) (uintptr_t) arg, err->msg);
    }
}

/* Tells the VIF's agent which vNIC it is, so deliveries to the VIF land
 * in that vNIC's rx ring.  The agent answers later; a failure is logged,
 * as the next change of the VIF maps it again. */
static void
ports_map(struct ports *p, const struct vif *v)
{
    Fexsim__V1__MapVifRequest req = FEXSIM__V1__MAP_VIF_REQUEST__INIT;

    req.vif_id = v->id;
    req.vnic = v->vnic;
    req.mac = (ProtobufCBinaryData) { 6, (uint8_t *) v->mac };
    /* A host that is down hears of its VIFs when it registers again. */
    agents_call(p->agents, v->host, "AgentTraffic.MapVif", &req.base,
                &fexsim__v1__map_vif_reply__descriptor, AGENTS_TIMEOUT_MS,
                ports_mapped, (void *) (uintptr_t) v->id, NULL);
}

void
ports_sync(struct ports *p, uint32_t vif_id)
{
    const struct vif *v = model_vif(p->model, vif_id);
    const struct profile *pr;
    struct fsw_counters c;
    struct fx_err err;
    int64_t host;
    int rc;

    if (!v) {
        dplane_port_del(p->dp, vif_id, NULL);
        return;
    }
    host = model_host_index(p->model, v->host);
    pr = model_profile(p->model, v->profile);
    if (host < 0 || !pr) {
        return;
    }
    if (dplane_port_counters(p->dp, vif_id, &c) < 0) {
        rc = dplane_port_add(p->dp, vif_id, (uint32_t) host, pr->vlans,
                             pr->n_vlans, &err);
    } else {
        rc = dplane_port_set_host(p->dp, vif_id, (uint32_t) host, &err);
    }
    if (!rc) {
        rc = dplane_port_set_up(p->dp, vif_id, v->state == VIF_ONLINE, &err);
    }
    if (rc < 0) {
        LOG_WARN("VIF %u: no switch port: %s", vif_id, err.msg);
    } else if (v->state == VIF_ONLINE) {
        ports_map(p, v);
    }
}
