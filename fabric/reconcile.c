/* Reconciliation of the fabric's VMs and VIFs with what an agent holds,
 * when the agent registers (after a fabricd or agentd restart, or a lost
 * connection).  The agent is the truth for what runs on its host (which
 * domains exist and run, which vNIC each NIC holds); the fabric is the
 * truth for configuration (profiles, VIF ids, MACs, which VM has which
 * NIC).  So: running state and vNICs follow the agent; a domain the fabric
 * never acknowledged (its creation was cut by a crash) is undefined on the
 * agent; a VM the agent lost, or whose NICs differ, is defined again from
 * the fabric's configuration (stopped, if it was lost).  Every correction
 * is logged and saved. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "hostreg.h"
#include "log.h"
#include "migcoord.h"
#include "policy.h"
#include "profile.h"
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
        LOG_WARN("VM '%s' is not defined on host '%s' any more (the host "
                 "lost its state): marked stopped", vm->name, vm->host);
        fixes++;
    } else if (vm->running != running) {
        LOG_WARN("VM '%s' is %s on host '%s', the fabric had it %s: "
                 "following the host", vm->name,
                 running ? "running" : "stopped", vm->host,
                 vm->running ? "running" : "stopped");
        fixes++;
    }
    vm->running = running;
    vm->dirty_rate = running ? a->dirty_rate : 0;
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
        /* After a fabricd restart this is what gives a running VM its
         * switch port back, and tells the agent which vNIC is the VIF. */
        vmfex_port_sync(vx, v->id);
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

/* Whether the agent's domain 'a' has exactly the NICs (by MAC) of 'vm'. */
static int
same_nics(const struct vmfex *vx, const struct vm *vm,
          const Fexsim__V1__AgentVm *a)
{
    if (a->n_nics != vm->n_nics) {
        return 0;
    }
    for (size_t i = 0; i < a->n_nics; i++) {
        uint8_t mac[6];
        const struct vif *v = vif_mac_parse(a->nics[i]->mac, mac) ? NULL
                              : vif_find_mac(vx->vifs, mac);

        if (!v || strcmp(v->vm, vm->name)) {
            return 0;
        }
    }
    return 1;
}

static void
reconcile_redefined(void *arg, int status, const char *message,
                    const ProtobufCMessage *rep_)
{
    const Fexsim__V1__AgentVmReply *rep = (const void *) rep_;
    struct reconcile *rc = arg;
    struct vm *vm = rep && rep->vm ? vm_find(rc->vx->vms, rep->vm->name,
                                             NULL) : NULL;
    struct fx_err err;

    if (status != RPC_OK || !vm) {
        LOG_WARN("cannot redefine a VM on host '%s': %s", rc->host,
                 status != RPC_OK ? message : "no such VM any more");
    } else {
        reconcile_vm(rc->vx, vm, rep->vm);
        if (vmfex_save_vm(rc->vx, vm, 0, &err)) {
            LOG_ERR("cannot save VM '%s': %s", vm->name, err.msg);
        }
    }
    free(rc);
}

/* The agent's domain has NICs the fabric does not (an AddNic whose outcome
 * never reached the store) or lacks some (a RemoveNic likewise): the
 * fabric's configuration wins, the domain is defined again with it, and
 * the agent frees or takes the vNICs. */
static void
reconcile_redefine(struct reconcile *rc, const struct vm *vm)
{
    Fexsim__V1__AgentVmRequest req = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    Fexsim__V1__AgentVm a = FEXSIM__V1__AGENT_VM__INIT;
    Fexsim__V1__AgentNic nics[VM_MAX_NICS], *ptrs[VM_MAX_NICS];
    char macs[VM_MAX_NICS][18];
    struct reconcile *next = malloc(sizeof *next);
    uint32_t n_dp = 0;

    if (!next) {
        abort();
    }
    *next = *rc;
    a.name = (char *) vm->name;
    a.memory_mib = vm->memory_mib;
    a.nics = ptrs;
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = vif_find(rc->vx->vifs, vm->nics[i].vif);
        const struct profile *p = profile_find(rc->vx->profiles,
                                               vm->nics[i].profile);

        if (!v) {
            continue;
        }
        fexsim__v1__agent_nic__init(&nics[a.n_nics]);
        vif_mac_format(v->mac, macs[a.n_nics]);
        nics[a.n_nics].mac = macs[a.n_nics];
        nics[a.n_nics].profile = (char *) vm->nics[i].profile;
        nics[a.n_nics].directpath = vm->nics[i].directpath;
        nics[a.n_nics].vlan = p ? p->vlans[0] : 1;
        n_dp += vm->nics[i].directpath != 0;
        ptrs[a.n_nics] = &nics[a.n_nics];
        a.n_nics++;
    }
    a.reservation_mib = policy_reservation_mib(vm->memory_mib, n_dp);
    req.vm = &a;
    LOG_WARN("VM '%s' on host '%s' is missing or has NICs unlike the "
             "fabric's configuration: defining it again with the fabric's "
             "%zu NICs", vm->name, rc->host, a.n_nics);
    if (rpc_conn_call(rc->session, "HostVms.Define", &req.base,
                      &fexsim__v1__agent_vm_reply__descriptor,
                      RECONCILE_TIMEOUT_MS, reconcile_redefined, next,
                      NULL)) {
        LOG_WARN("cannot redefine VM '%s'", vm->name);
        free(next);
    }
}

static void reconcile_undefine(struct reconcile *rc,
                               const Fexsim__V1__AgentVm *a);

/* A domain the fabric does not know: its creation never reached the
 * store, so it was never acknowledged.  Undefined if it does not run. */
static void
reconcile_stray(struct reconcile *rc, const Fexsim__V1__AgentVm *a)
{
    if (a->running) {
        LOG_WARN("VM '%s' runs on host '%s' but the fabric has no record of "
                 "it: left alone", a->name, rc->host);
        return;
    }
    LOG_WARN("VM '%s' is defined on host '%s' but was never acknowledged "
             "by the fabric: undefining it", a->name, rc->host);
    reconcile_undefine(rc, a);
}

static void
reconcile_undefine(struct reconcile *rc, const Fexsim__V1__AgentVm *a)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    char *name;

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
        const Fexsim__V1__AgentVm *a;
        int n;

        if (strcmp(vm->host, rc->host) || vm->busy) {
            continue;
        }
        a = agent_vm_find(rep, vm->name);
        if (!a || !same_nics(vx, vm, a)) {
            reconcile_redefine(rc, vm);
            fixes++;
        }
        n = reconcile_vm(vx, vm, a);
        if (n && vmfex_save_vm(vx, vm, 0, &err)) {
            LOG_ERR("cannot save VM '%s': %s", vm->name, err.msg);
        }
        fixes += n;
    }
    for (size_t i = 0; i < rep->n_vms; i++) {
        const struct vm *vm = vm_find(vx->vms, rep->vms[i]->name, NULL);

        if (!vm) {
            reconcile_stray(rc, rep->vms[i]);
            fixes++;
        } else if (strcmp(vm->host, rc->host) && !vm->busy) {
            migcoord_leftover(vx->mc, rc->session, rc->host, rep->vms[i]);
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
    /* Migrations waiting for this agent to say where their VM runs. */
    migcoord_host_up(vx->mc, name);
}
