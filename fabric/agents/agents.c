/* agents: see agents.h. */
#include "agents.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fx_err.h"
#include "fx_mac.h"
#include "rpc.h"

struct agents {
    const struct model *model;       /* Borrowed. */
};

/* One call in flight: whom to tell. */
struct agents_pending {
    agents_reply_fn *fn;
    void *arg;
};

struct agents *
agents_create(const struct model *model)
{
    struct agents *a = calloc(1, sizeof *a);

    if (!a) {
        abort();
    }
    a->model = model;
    return a;
}

void
agents_destroy(struct agents *a)
{
    free(a);
}

/* The connection of the agent of 'host', or NULL with 'err' saying why. */
static struct rpc_conn *
agents_session(const struct agents *a, const char *host, struct fx_err *err)
{
    const struct host *h = model_host(a->model, host);

    if (!h) {
        fx_err_set(err, -ENOENT, "host '%s' not found", host);
        return NULL;
    }
    if (h->state != HOST_UP || !h->session) {
        fx_err_set(err, -EHOSTDOWN, "host '%s' is down: %s", host,
                   h->down_reason);
        return NULL;
    }
    return h->session;
}

bool
agents_up(const struct agents *a, const char *host)
{
    return agents_session(a, host, NULL) != NULL;
}

bool
agents_lost(int rc)
{
    return rc == -EHOSTDOWN || rc == -ENOTCONN;
}

static void
agents_reply(void *arg, int status, const char *message, const char *reason,
             const ProtobufCMessage *rep)
{
    struct agents_pending *p = arg;
    struct fx_err err;
    int rc = 0;

    fx_err_clear(&err);
    if (status != RPC_OK) {
        /* The agent's reason goes up with its message: a rule of the
         * host (a device pending reboot) refuses the operator's call. */
        rc = fx_err_refuse(&err, rpc_status_to_errno(status), reason, "%s",
                           message && message[0] ? message
                                               : "no reason given");
        rep = NULL;
    }
    p->fn(p->arg, rc, rc ? &err : NULL, rep);
    free(p);
}

int
agents_call(struct agents *a, const char *host, const char *method,
            const ProtobufCMessage *req,
            const ProtobufCMessageDescriptor *rep_desc, uint32_t timeout_ms,
            agents_reply_fn *fn, void *arg, struct fx_err *err)
{
    struct rpc_conn *conn = agents_session(a, host, err);
    struct agents_pending *p;
    int rc;

    if (!conn) {
        return err ? err->code : -EHOSTDOWN;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
        abort();
    }
    *p = (struct agents_pending) { fn, arg };
    rc = rpc_conn_call(conn, method, req, rep_desc, timeout_ms, agents_reply,
                       p, NULL);
    if (rc) {
        free(p);
        return fx_err_set(err, rc, "cannot reach the agent of host '%s'",
                          host);
    }
    return 0;
}

void
agents_vm_init(struct agents_vm *a, const struct model *model,
               const struct vm *vm, uint32_t skip_vif, bool with_vnics)
{
    uint32_t n_dp = 0;

    fexsim__v1__agent_vm__init(&a->vm);
    a->vm.name = (char *) vm->name;
    a->vm.memory_mib = vm->memory_mib;
    a->vm.nics = a->ptrs;
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = model_vm_vif(model, vm, i);
        const struct profile *p = model_profile(model, vm->nics[i].profile);
        Fexsim__V1__AgentNic *n = &a->nics[a->vm.n_nics];

        if (!v || v->id == skip_vif) {
            continue;
        }
        fexsim__v1__agent_nic__init(n);
        fx_mac_format(v->mac, a->macs[a->vm.n_nics]);
        n->mac = a->macs[a->vm.n_nics];
        n->profile = (char *) vm->nics[i].profile;
        n->directpath = vm->nics[i].directpath;
        n->vlan = p ? p->vlans[0] : 1;
        n->vnic = with_vnics ? v->vnic : 0;
        n_dp += n->directpath != 0;
        a->ptrs[a->vm.n_nics++] = n;
    }
    /* What the VM will have once the agent is done: with 'skip_vif'
     * gone, the reservation may drop back to 0. */
    a->vm.reservation_mib = policy_reservation_mib(vm->memory_mib, n_dp);
}
