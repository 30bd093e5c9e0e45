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
#include "reconcile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "fx_err.h"
#include "fx_mac.h"
#include "fx_time.h"
#include "log.h"
#include "model/model.h"
#include "rpc.h"
#include "vmfex.pb-c.h"

LOG_MODULE("reconcile");

struct reconcile {
    struct model *model;             /* Borrowed, both. */
    struct agents *agents;
};

/* One host's reconciliation, while its agent answers. */
struct rc_host {
    struct reconcile *r;
    char host[40];
};

/* One call about VM 'vm' on host 'host'. */
struct rc_vm {
    struct reconcile *r;
    char host[40];
    char vm[40];
};

struct reconcile *
reconcile_create(struct model *model, struct agents *agents)
{
    struct reconcile *r = calloc(1, sizeof *r);

    if (!r) {
        abort();
    }
    *r = (struct reconcile) { model, agents };
    return r;
}

void
reconcile_destroy(struct reconcile *r)
{
    free(r);
}

static struct rc_vm *
rc_vm_new(struct reconcile *r, const char *host, const char *vm)
{
    struct rc_vm *c = calloc(1, sizeof *c);

    if (!c) {
        abort();
    }
    c->r = r;
    snprintf(c->host, sizeof c->host, "%s", host);
    snprintf(c->vm, sizeof c->vm, "%s", vm);
    return c;
}

/* Sends 'method' about VM 'c->vm' to 'c->host' ('c' passes to 'fn'). */
static void
rc_send(struct rc_vm *c, const char *method, agents_reply_fn *fn)
{
    Fexsim__V1__AgentVmNameRequest req =
        FEXSIM__V1__AGENT_VM_NAME_REQUEST__INIT;
    struct fx_err err;

    req.name = c->vm;
    if (agents_call(c->r->agents, c->host, method, &req.base,
                    &fexsim__v1__agent_vm_reply__descriptor,
                    AGENTS_TIMEOUT_MS, fn, c, &err)) {
        LOG_WARN("VM '%s' on host '%s': %s not sent: %s", c->vm, c->host,
                 method, err.msg);
        free(c);
    }
}

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
rc_vm_follow(struct reconcile *r, const struct vm *vm,
             const Fexsim__V1__AgentVm *a)
{
    bool running = a && a->running;
    uint64_t now = fx_time_now_ms();
    int fixes = 0;

    if (!a) {
        LOG_WARN("VM '%s' is not defined on host '%s' any more (the host "
                 "lost its state): marked stopped", vm->name, vm->host);
        fixes++;
    } else if ((bool) vm->running != running) {
        LOG_WARN("VM '%s' is %s on host '%s', the fabric had it %s: "
                 "following the host", vm->name,
                 running ? "running" : "stopped", vm->host,
                 vm->running ? "running" : "stopped");
        fixes++;
    }
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = model_vm_vif(r->model, vm, i);

        fixes += v && (v->state == VIF_ONLINE) != running;
    }
    /* After a fabricd restart this is what gives a running VM its switch
     * ports back, and tells the agent which vNIC each VIF is. */
    model_vm_set_running(r->model, vm->name, running,
                         running ? a->dirty_rate : 0, now);
    for (size_t i = 0; a && i < vm->n_nics; i++) {
        const struct vif *v = model_vm_vif(r->model, vm, i);
        char mac[18];

        if (!v) {
            continue;
        }
        fx_mac_format(v->mac, mac);
        for (size_t j = 0; j < a->n_nics; j++) {
            if (!strcmp(a->nics[j]->mac, mac) && a->nics[j]->vnic != v->vnic) {
                LOG_WARN("VIF %u (%s) holds vNIC %u on host '%s', the "
                         "fabric had %u: following the host", v->id, mac,
                         a->nics[j]->vnic, vm->host, v->vnic);
                model_vif_bind(r->model, v->id, a->nics[j]->vnic, running,
                               now);
                fixes++;
                break;
            }
        }
    }
    return fixes;
}

/* Saves VM 'name' after corrections; a store that refuses is logged, as
 * the next registration corrects it again. */
static void
rc_save(struct reconcile *r, const char *name)
{
    struct fx_err err;

    if (model_save_vm(r->model, name, 0, &err)) {
        LOG_ERR("VM '%s': corrections not saved: %s", name, err.msg);
    }
}

/* Whether the agent's domain 'a' has exactly the NICs (by MAC) that
 * 'vm' has VIFs for. */
static bool
rc_same_nics(const struct reconcile *r, const struct vm *vm,
             const Fexsim__V1__AgentVm *a)
{
    size_t n = 0;

    for (size_t i = 0; i < vm->n_nics; i++) {
        n += model_vm_vif(r->model, vm, i) != NULL;
    }
    if (a->n_nics != n) {
        return false;
    }
    for (size_t i = 0; i < a->n_nics; i++) {
        uint8_t mac[6];
        const struct vif *v = fx_mac_parse(a->nics[i]->mac, mac) ? NULL
                              : model_vif_by_mac(r->model, mac);

        if (!v || strcmp(v->vm, vm->name)) {
            return false;
        }
    }
    return true;
}

static void
rc_redefined(void *arg, int rc, const struct fx_err *err,
             const ProtobufCMessage *rep_)
{
    const Fexsim__V1__AgentVmReply *rep = (const void *) rep_;
    struct rc_vm *c = arg;
    const struct vm *vm = model_vm(c->r->model, c->vm, NULL);

    if (rc || !vm) {
        LOG_WARN("cannot redefine VM '%s' on host '%s': %s", c->vm, c->host,
                 rc ? err->msg : "no such VM any more");
    } else if (!vm->busy) {
        rc_vm_follow(c->r, vm, rep->vm);
        rc_save(c->r, c->vm);
    }
    free(c);
}

void
reconcile_redefine(struct reconcile *r, const char *name)
{
    const struct vm *vm = model_vm(r->model, name, NULL);
    Fexsim__V1__AgentVmRequest req = FEXSIM__V1__AGENT_VM_REQUEST__INIT;
    struct agents_vm a;
    struct rc_vm *c;
    struct fx_err err;

    if (!vm) {
        return;
    }
    c = rc_vm_new(r, vm->host, name);
    agents_vm_init(&a, r->model, vm, 0, false);
    req.vm = &a.vm;
    if (agents_call(r->agents, vm->host, "HostVms.Define", &req.base,
                    &fexsim__v1__agent_vm_reply__descriptor,
                    AGENTS_TIMEOUT_MS, rc_redefined, c, &err)) {
        /* A host that is down is reconciled when it registers. */
        LOG_WARN("cannot redefine VM '%s': %s", name, err.msg);
        free(c);
    }
}

static void
rc_undefined(void *arg, int rc, const struct fx_err *err,
             const ProtobufCMessage *rep)
{
    struct rc_vm *c = arg;

    (void) rep;
    if (rc) {
        LOG_WARN("cannot undefine VM '%s' on host '%s': %s", c->vm, c->host,
                 err->msg);
    }
    free(c);
}

/* A domain the fabric does not know: its creation never reached the
 * store, so it was never acknowledged.  Undefined if it does not run. */
static void
rc_stray(struct reconcile *r, const char *host, const Fexsim__V1__AgentVm *a)
{
    if (a->running) {
        LOG_WARN("VM '%s' runs on host '%s' but the fabric has no record of "
                 "it: left alone", a->name, host);
        return;
    }
    LOG_WARN("VM '%s' is defined on host '%s' but was never acknowledged "
             "by the fabric: undefining it", a->name, host);
    rc_send(rc_vm_new(r, host, a->name), "HostVms.Undefine", rc_undefined);
}

static void
rc_leftover_stopped(void *arg, int rc, const struct fx_err *err,
                    const ProtobufCMessage *rep)
{
    struct rc_vm *c = arg;

    (void) rep;
    if (rc == -ECANCELED || agents_lost(rc)) {
        LOG_WARN("leftover '%s' on %s not stopped: %s", c->vm, c->host,
                 err->msg);
        free(c);
        return;
    }
    rc_send(c, "HostVms.Undefine", rc_undefined);
}

/* A domain of a VM whose home is another host and which no migration
 * moves (the VM is idle): the copy a settled migration left there while
 * the agent was away.  Stopped if it runs, then undefined, which frees
 * its vNICs. */
static void
rc_leftover(struct reconcile *r, const char *host, const struct vm *vm,
            const Fexsim__V1__AgentVm *a)
{
    struct rc_vm *c = rc_vm_new(r, host, a->name);

    LOG_WARN("VM '%s' is defined on host '%s' (%s) but lives on '%s': a "
             "migration's leftover, %s", a->name, host,
             a->running ? "running" : "stopped", vm->host,
             a->running ? "stopping and undefining it" : "undefining it");
    if (a->running) {
        rc_send(c, "HostVms.Stop", rc_leftover_stopped);
    } else {
        rc_send(c, "HostVms.Undefine", rc_undefined);
    }
}

/* VM 'name' runs on 'host' again, but the VM lifecycle policy removed
 * VIFs of it while the host was gone: new ones, as UCS assigns new
 * dynamic vNICs on return (the domain is defined again with them). */
static void
rc_renew(struct reconcile *r, const char *name, const char *host)
{
    uint32_t vifs[VM_MAX_NICS];
    struct fx_err err;
    size_t n;

    if (model_vm_nic_renew(r->model, name, vifs, &n, &err)) {
        LOG_WARN("VM '%s' runs on host '%s' without the VIFs the VM "
                 "lifecycle policy removed, and gets no new one: %s", name,
                 host, err.msg);
        return;
    }
    LOG_WARN("VM '%s' runs on host '%s' again: %zu NICs get new VIFs (the "
             "VM lifecycle policy removed theirs while it was gone)", name,
             host, n);
}

/* The fabric's VMs on the host, against what its agent holds. */
static int
rc_fabric_vms(struct reconcile *r, const char *host,
              const Fexsim__V1__AgentListReply *rep)
{
    int fixes = 0;

    for (size_t i = 0; i < model_vm_count(r->model); i++) {
        const struct vm *vm = model_vm_at(r->model, i);
        const Fexsim__V1__AgentVm *a;
        int n;

        if (strcmp(vm->host, host) || vm->busy) {
            continue;
        }
        a = agent_vm_find(rep, vm->name);
        if (a && a->running && model_vm_nics_without_vif(vm)) {
            rc_renew(r, vm->name, host);
        }
        if (!a || !rc_same_nics(r, vm, a)) {
            LOG_WARN("VM '%s' on host '%s' is missing or has NICs unlike "
                     "the fabric's configuration: defining it again with "
                     "the fabric's", vm->name, host);
            reconcile_redefine(r, vm->name);
            fixes++;
        }
        n = rc_vm_follow(r, vm, a);
        if (n) {
            rc_save(r, vm->name);
        }
        fixes += n;
    }
    return fixes;
}

static void
rc_listed(void *arg, int rc, const struct fx_err *err,
          const ProtobufCMessage *rep_)
{
    const Fexsim__V1__AgentListReply *rep = (const void *) rep_;
    struct rc_host *h = arg;
    struct reconcile *r = h->r;
    int fixes;

    if (rc) {
        LOG_WARN("cannot reconcile host '%s': %s", h->host, err->msg);
        free(h);
        return;
    }
    fixes = rc_fabric_vms(r, h->host, rep);
    for (size_t i = 0; i < rep->n_vms; i++) {
        const struct vm *vm = model_vm(r->model, rep->vms[i]->name, NULL);

        if (!vm) {
            rc_stray(r, h->host, rep->vms[i]);
            fixes++;
        } else if (strcmp(vm->host, h->host) && !vm->busy) {
            rc_leftover(r, h->host, vm, rep->vms[i]);
            fixes++;
        }
    }
    LOG_INFO("host '%s' reconciled: %zu domains there, %d corrections",
             h->host, rep->n_vms, fixes);
    free(h);
}

void
reconcile_host(struct reconcile *r, const char *name)
{
    Fexsim__V1__AgentListRequest req = FEXSIM__V1__AGENT_LIST_REQUEST__INIT;
    struct rc_host *h = calloc(1, sizeof *h);
    struct fx_err err;

    if (!h) {
        abort();
    }
    h->r = r;
    snprintf(h->host, sizeof h->host, "%s", name);
    if (agents_call(r->agents, name, "HostVms.List", &req.base,
                    &fexsim__v1__agent_list_reply__descriptor,
                    AGENTS_TIMEOUT_MS, rc_listed, h, &err)) {
        LOG_WARN("cannot ask host '%s' what it holds: %s", name, err.msg);
        free(h);
    }
}
