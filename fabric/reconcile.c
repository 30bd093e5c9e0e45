/* Reconciliation of the fabric's VMs and VIFs with what an agent holds,
 * when the agent registers (after a fabricd or agentd restart, or a lost
 * connection).  The agent is the truth for what runs on its host (which
 * domains exist and run, which vNIC each NIC holds); the fabric is the
 * truth for configuration (profiles, VIF ids, MACs, which VM has which
 * NIC).  So: running state and vNICs follow the agent; a domain the fabric
 * never acknowledged (its creation was cut by a crash) is undefined on the
 * agent; a VM the agent lost is kept (its configuration is the fabric's)
 * but marked stopped.  Every correction is logged and saved. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "hostreg.h"
#include "log.h"
#include "rpc.h"
#include "vif.h"
#include "vm.h"
#include "vmfex.h"
#include "vmfex_priv.h"
#include "vmfex_store.h"

LOG_MODULE("reconcile");

#define RECONCILE_TIMEOUT_MS 10000

struct reconcile {
    struct vmfex *vx;
    char host[40];
    void *session;
};

static const Fexsim__V1__AgentVm *
agent_vm_find(const Fexsim__V1__AgentListReply *rep, const char *name)
{
    for (size_t i = 0; i < rep->n_vms; i++) {
        if (!strcmp(rep->vms[i]->name, name)) {
            return rep->vms[i];
        }
    }
    return NULL;
}

/* Brings 'vm' and its VIFs in line with the agent's 'a' (NULL: the agent
 * has no such domain).  Returns how many corrections it made. */
static int
reconcile_vm(struct vmfex *vx, struct vm *vm, const Fexsim__V1__AgentVm *a)
{
    int fixes = 0, running = a && a->running;

    if (!a) {
        LOG_WARN("VM '%s' is not defined on host '%s' any more: kept with "
                 "its configuration, marked stopped", vm->name, vm->host);
        fixes++;
    } else if (vm->running != running) {
        LOG_WARN("VM '%s' is %s on host '%s', the fabric had it %s: "
                 "following the host", vm->name,
                 running ? "running" : "stopped", vm->host,
                 vm->running ? "running" : "stopped");
        fixes++;
    }
    vm->running = running;
    for (size_t i = 0; i < vm->n_nics; i++) {
        struct vif *v = vif_find(vx->vifs, vm->nics[i].vif);
        enum vif_state st = running ? VIF_ONLINE : VIF_OFFLINE;
        char mac[18];

        if (!v) {
            continue;
        }
        vif_mac_format(v->mac, mac);
        for (size_t j = 0; a && j < a->n_nics; j++) {
            if (!strcmp(a->nics[j]->mac, mac) && a->nics[j]->vnic != v->vnic) {
                LOG_WARN("VIF %u (%s) holds vNIC %u on host '%s', the "
                         "fabric had %u: following the host", v->id, mac,
                         a->nics[j]->vnic, vm->host, v->vnic);
                v->vnic = a->nics[j]->vnic;
                fixes++;
            }
        }
        fixes += v->state != st;
        v->state = st;
    }
    return fixes;
}

static void
reconcile_undefined(void *arg, int status, const char *message,
                    const ProtobufCMessage *rep)
{
    (void) rep;
    if (status != RPC_OK) {
        LOG_WARN("cannot undefine VM '%s': %s", (char *) arg, message);
    }
    free(arg);
}

/* A domain the fabric does not know: its creation never reached the
 * store, so it was never acknowledged.  Undefined if it does not run. */
static void
reconcile_stray(struct reconcile *rc, const Fexsim__V1__AgentVm *a)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    char *name;

    if (a->running) {
        LOG_WARN("VM '%s' runs on host '%s' but the fabric has no record of "
                 "it: left alone", a->name, rc->host);
        return;
    }
    LOG_WARN("VM '%s' is defined on host '%s' but was never acknowledged "
             "by the fabric: undefining it", a->name, rc->host);
    req.name = a->name;
    name = strdup(a->name);
    if (!name) {
        abort();
    }
    if (rpc_conn_call(rc->session, "HostVms.Undefine", &req.base,
                      &fexsim__v1__agent_vm_reply__descriptor,
                      RECONCILE_TIMEOUT_MS, reconcile_undefined, name,
                      NULL)) {
        LOG_WARN("cannot undefine VM '%s'", a->name);
        free(name);
    }
}

static void
reconcile_reply(void *arg, int status, const char *message,
                const ProtobufCMessage *rep_)
{
    const Fexsim__V1__AgentListReply *rep = (const void *) rep_;
    struct reconcile *rc = arg;
    struct vmfex *vx = rc->vx;
    struct fx_err err;
    int fixes = 0;

    if (status != RPC_OK) {
        LOG_WARN("cannot reconcile host '%s': %s", rc->host, message);
        free(rc);
        return;
    }
    for (size_t i = 0; i < vm_count(vx->vms); i++) {
        struct vm *vm = vm_at(vx->vms, i);
        int n;

        if (strcmp(vm->host, rc->host) || vm->busy) {
            continue;
        }
        n = reconcile_vm(vx, vm, agent_vm_find(rep, vm->name));
        if (n && vmfex_save_vm(vx, vm, 0, &err)) {
            LOG_ERR("cannot save VM '%s': %s", vm->name, err.msg);
        }
        fixes += n;
    }
    for (size_t i = 0; i < rep->n_vms; i++) {
        if (!vm_find(vx->vms, rep->vms[i]->name, NULL)) {
            reconcile_stray(rc, rep->vms[i]);
            fixes++;
        }
    }
    LOG_INFO("host '%s' reconciled: %zu domains there, %d corrections",
             rc->host, rep->n_vms, fixes);
    free(rc);
}

void
vmfex_host_up(struct vmfex *vx, const char *name, void *session)
{
    Fexsim__V1__AgentListRequest req = FEXSIM__V1__AGENT_LIST_REQUEST__INIT;
    struct reconcile *rc = calloc(1, sizeof *rc);
    int err;

    if (!rc) {
        abort();
    }
    rc->vx = vx;
    rc->session = session;
    snprintf(rc->host, sizeof rc->host, "%s", name);
    err = rpc_conn_call(session, "HostVms.List", &req.base,
                        &fexsim__v1__agent_list_reply__descriptor,
                        RECONCILE_TIMEOUT_MS, reconcile_reply, rc, NULL);
    if (err) {
        LOG_WARN("cannot ask host '%s' what it holds: %s", name,
                 strerror(-err));
        free(rc);
    }
}
