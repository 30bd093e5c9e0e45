#include "hostvms.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domxml.h"
#include "fx_err.h"
#include "fx_fault.h"
#include "fx_limits.h"
#include "fx_mac.h"
#include "fx_name.h"
#include "guestnic.h"
#include "hv.h"
#include "hvq.h"
#include "log.h"
#include "pci.h"
#include "rpc.h"
#include "vic.h"
#include "vmfex.pb-c.h"

LOG_MODULE("hostvms");

struct hostvms_op;

struct hostvms {
    struct hv *hv;            /* Borrowed. */
    struct vic *vic;          /* Borrowed. */
    struct pci_host *pci;     /* Borrowed. */
    struct hvq *q;            /* Borrowed: runs the libvirt steps. */
    uint64_t memory_mib;
    hostvms_change_fn *on_change;
    void *on_change_arg;
    hostvms_run_fn *on_run;
    hostvms_rate_fn *rate_of;
    void *on_run_arg;
    struct guestnic *gn;      /* Borrowed; NULL: test driver domains. */
    int failover;             /* DirectPath NICs as failover pairs. */
    struct domxml_boot boot;
    char console_dir[200];
    /* Requests under way, in arrival order: the first runs, the others
     * wait for it (each sees the host as the one before left it). */
    struct hostvms_op *ops;
    struct hostvms_op **ops_tail;
};

/* ---- Requests as steps ----
 *
 * A request is a table of steps.  A loop step runs in the agent's loop
 * and may touch anything (VIC, guests' sockets, the state dir, the
 * reply); a worker step runs in the hypervisor worker (hvq.h) and calls
 * hv.h and pure code only, reading the request and writing its own
 * fields of the op.  A request whose steps all run on the loop is
 * answered at once; one with a worker step is answered when its last
 * step ran (RPC_DEFERRED), so the loop never waits for libvirtd. */

enum hostvms_where { HOSTVMS_LOOP, HOSTVMS_WORKER };

struct hostvms_step {
    enum hostvms_where where;
    int (*fn)(struct hostvms_op *, struct fx_err *);
};

struct hostvms_method {
    const struct hostvms_step *steps;
    size_t n_steps;
    /* On the loop when a step failed: gives back what earlier steps took
     * (NULL: nothing to give back). */
    void (*undo)(struct hostvms_op *);
};

/* A domain as libvirt holds it. */
struct hostvms_dom {
    struct domxml_vm vm;
    int active;
};

struct hostvms_op {
    struct hostvms *h;
    const struct hostvms_method *m;
    struct rpc_call *call;         /* Answered when the op ends. */
    ProtobufCMessage *req;         /* Owned copy: the call's own is
                                    * borrowed for the handler only. */
    char name[sizeof ((struct domxml_vm *) 0)->name];  /* The VM's. */
    size_t step;                   /* The next one to run. */
    int rc;                        /* Of the worker's step. */
    struct fx_err err;
    /* What the steps pass on. */
    int active;                    /* The domain ran before. */
    struct domxml_vm cur;          /* Its definition before (Define). */
    struct domxml_vm vm;           /* The one the request deals with. */
    uint32_t fresh[DOMXML_MAX_NICS];   /* vNICs reserved (Define). */
    size_t n_fresh;
    int defined;                   /* libvirt took the new definition. */
    char *xml;                     /* Owned: the definition to write. */
    unsigned snapshots;
    struct hostvms_dom back;       /* Read back for the reply. */
    struct hostvms_dom *doms;      /* Owned: List's, 'n_doms'. */
    size_t n_doms;
    struct hostvms_op *next;       /* In h->ops. */
};

/* An owned copy of 'msg' (packed and unpacked again), freed with
 * protobuf_c_message_free_unpacked(). */
static ProtobufCMessage *
hostvms_copy_msg(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    ProtobufCMessage *copy;

    if (!buf) {
        abort();
    }
    protobuf_c_message_pack(msg, buf);
    copy = protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
    free(buf);
    if (!copy) {
        abort();
    }
    return copy;
}

/* The VM a request names: AgentVmRequest's vm, AgentVmNameRequest's. */
static void
hostvms_op_name(struct hostvms_op *op)
{
    const ProtobufCMessage *req = op->req;
    const char *name = "";

    if (req->descriptor == &fexsim__v1__agent_vm_request__descriptor) {
        const Fexsim__V1__AgentVmRequest *r = (const void *) req;

        name = r->vm && r->vm->name ? r->vm->name : "";
    } else if (req->descriptor
               == &fexsim__v1__agent_vm_name_request__descriptor) {
        name = ((const Fexsim__V1__AgentVmNameRequest *) req)->name;
    }
    snprintf(op->name, sizeof op->name, "%s", name);
}

static struct hostvms_op *
hostvms_op_new(struct hostvms *h, const struct hostvms_method *m,
               struct rpc_call *call, const ProtobufCMessage *req)
{
    struct hostvms_op *op = calloc(1, sizeof *op);

    if (!op) {
        abort();
    }
    op->h = h;
    op->m = m;
    op->call = call;
    op->req = hostvms_copy_msg(req);
    hostvms_op_name(op);
    *h->ops_tail = op;
    h->ops_tail = &op->next;
    return op;
}

/* Takes the first op (the one that ended) off the queue and frees it. */
static void
hostvms_op_pop(struct hostvms *h)
{
    struct hostvms_op *op = h->ops;

    h->ops = op->next;
    if (!h->ops) {
        h->ops_tail = &h->ops;
    }
    protobuf_c_message_free_unpacked(op->req, NULL);
    free(op->xml);
    free(op->doms);
    free(op);
}

static void hostvms_op_done(void *arg, int cancelled);

static void
hostvms_op_work(void *arg)
{
    struct hostvms_op *op = arg;

    op->rc = op->m->steps[op->step].fn(op, &op->err);
}

/* Runs 'op''s steps from the next one: loop steps at once, until one for
 * the worker (queued: RPC_DEFERRED), the end (0) or a failure (its
 * error, in op->err). */
static int
hostvms_op_steps(struct hostvms_op *op)
{
    while (op->step < op->m->n_steps) {
        const struct hostvms_step *s = &op->m->steps[op->step];
        int rc;

        if (s->where == HOSTVMS_WORKER) {
            hvq_push(op->h->q, hostvms_op_work, hostvms_op_done, op);
            return RPC_DEFERRED;
        }
        op->step++;
        rc = s->fn(op, &op->err);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

/* 'op' ended with 'rc': answers it, then runs the requests that waited,
 * in order, until one waits for the worker. */
static void
hostvms_op_end(struct hostvms_op *op, int rc)
{
    struct hostvms *h = op->h;

    for (;;) {
        if (rc && op->m->undo) {
            op->m->undo(op);
        }
        rpc_call_finish(op->call, rc, &op->err);
        hostvms_op_pop(h);
        op = h->ops;
        if (!op) {
            return;
        }
        rc = hostvms_op_steps(op);
        if (rc == RPC_DEFERRED) {
            return;
        }
    }
}

/* The agent goes away: every request under way is answered so. */
static void
hostvms_cancel_all(struct hostvms *h)
{
    struct fx_err err;

    fx_err_set(&err, -ECANCELED, "the agent is shutting down");
    while (h->ops) {
        rpc_call_finish(h->ops->call, err.code, &err);
        hostvms_op_pop(h);
    }
}

/* The worker ran op's step: on with the next ones. */
static void
hostvms_op_done(void *arg, int cancelled)
{
    struct hostvms_op *op = arg;
    int rc = op->rc;

    if (cancelled) {
        hostvms_cancel_all(op->h);
        return;
    }
    op->step++;
    if (!rc) {
        rc = hostvms_op_steps(op);
        if (rc == RPC_DEFERRED) {
            return;
        }
    }
    hostvms_op_end(op, rc);
}

/* A HostVms handler: queues request 'req' as an op of method 'm' and
 * runs it if none is under way.  Returns its result as a handler does. */
static int
hostvms_submit(struct hostvms *h, const struct hostvms_method *m,
               struct rpc_call *call, const ProtobufCMessage *req,
               struct fx_err *err)
{
    struct hostvms_op *op = hostvms_op_new(h, m, call, req);
    int rc;

    if (op != h->ops) {
        return RPC_DEFERRED;        /* Its turn comes in hostvms_op_end. */
    }
    rc = hostvms_op_steps(op);
    if (rc == RPC_DEFERRED) {
        return rc;
    }
    /* Ended at once (no worker step): the dispatcher answers it.  Nothing
     * queued behind it meanwhile: the loop was ours. */
    if (rc && m->undo) {
        m->undo(op);
    }
    *err = op->err;
    hostvms_op_pop(h);
    return rc;
}

/* ---- The service ---- */

struct hostvms *
hostvms_create(struct hv *hv, struct vic *vic, struct pci_host *pci,
               struct hvq *q, uint64_t memory_mib)
{
    struct hostvms *h = calloc(1, sizeof *h);

    if (!h) {
        abort();
    }
    h->hv = hv;
    h->vic = vic;
    h->pci = pci;
    h->q = q;
    h->memory_mib = memory_mib;
    h->ops_tail = &h->ops;
    return h;
}

void
hostvms_set_guest(struct hostvms *h, const struct domxml_boot *boot,
                  int failover, const char *console_dir, struct guestnic *gn)
{
    h->boot = *boot;
    h->failover = failover;
    snprintf(h->console_dir, sizeof h->console_dir, "%s", console_dir);
    h->gn = gn;
}

int
hostvms_console(const struct hostvms *h, const char *vm, char *buf,
                size_t size)
{
    if (!h->gn) {
        return -ENOENT;
    }
    snprintf(buf, size, "%s/%s.console", h->console_dir, vm);
    return 0;
}

void
hostvms_destroy(struct hostvms *h)
{
    if (h) {
        hostvms_cancel_all(h);
        free(h);
    }
}

void
hostvms_on_change(struct hostvms *h, hostvms_change_fn *fn, void *arg)
{
    h->on_change = fn;
    h->on_change_arg = arg;
}

void
hostvms_on_run(struct hostvms *h, hostvms_run_fn *fn, hostvms_rate_fn *rate,
               void *arg)
{
    h->on_run = fn;
    h->rate_of = rate;
    h->on_run_arg = arg;
}

static void
hostvms_ran(struct hostvms *h, const struct domxml_vm *vm, int running)
{
    if (h->on_run) {
        h->on_run(h->on_run_arg, vm, running);
    }
}

int
hostvms_changed(struct hostvms *h, struct fx_err *err)
{
    return h->on_change ? h->on_change(h->on_change_arg, err) : 0;
}

/* ---- Reading domains back ---- */

/* Reads domain 'name' from libvirt into 'vm' (the persistent definition
 * if 'inactive').  Worker or loop. */
static int
hostvms_read(struct hostvms *h, const char *name, int inactive,
             struct domxml_vm *vm, struct fx_err *err)
{
    char *xml;
    int rc = hv_get_xml(h->hv, name, inactive, &xml, err);

    if (rc) {
        return rc;
    }
    rc = domxml_parse(xml, vm, err);
    free(xml);
    return rc;
}

/* Reads domain 'name' and whether it runs into 'd'. */
static int
hostvms_read_dom(struct hostvms *h, const char *name, struct hostvms_dom *d,
                 struct fx_err *err)
{
    if (hostvms_read(h, name, 1, &d->vm, err)
        || hv_is_active(h->hv, name, &d->active, err)) {
        return err->code;
    }
    return 0;
}

/* Domain 'd' as a message (memory of 'call').  Loop. */
static Fexsim__V1__AgentVm *
hostvms_vm_msg(struct hostvms *h, struct rpc_call *call,
               const struct hostvms_dom *d)
{
    Fexsim__V1__AgentVm *m = rpc_call_alloc(call, sizeof *m);
    const struct domxml_vm *vm = &d->vm;

    fexsim__v1__agent_vm__init(m);
    m->name = rpc_call_strdup(call, vm->name);
    m->memory_mib = vm->memory_mib;
    m->reservation_mib = vm->reservation_mib;
    m->running = d->active;
    m->dirty_rate = d->active && h->rate_of
                    ? h->rate_of(h->on_run_arg, vm->name) : 0;
    m->n_nics = vm->n_nics;
    m->nics = rpc_call_alloc(call, vm->n_nics * sizeof *m->nics);
    for (size_t i = 0; i < vm->n_nics; i++) {
        Fexsim__V1__AgentNic *n = rpc_call_alloc(call, sizeof *n);

        fexsim__v1__agent_nic__init(n);
        n->mac = rpc_call_strdup(call, vm->nics[i].mac);
        n->profile = rpc_call_strdup(call, vm->nics[i].profile);
        n->directpath = vm->nics[i].directpath;
        n->vnic = vm->nics[i].vnic;
        m->nics[i] = n;
    }
    return m;
}

/* Worker: the request's domain as libvirt now has it, for the reply. */
static int
hostvms_read_back(struct hostvms_op *op, struct fx_err *err)
{
    return hostvms_read_dom(op->h, op->name, &op->back, err);
}

/* Loop: replies with the domain read back. */
static int
hostvms_vm_reply(struct hostvms_op *op, struct fx_err *err)
{
    Fexsim__V1__AgentVmReply *rep = (void *) rpc_call_reply(op->call);

    (void) err;
    rep->vm = hostvms_vm_msg(op->h, op->call, &op->back);
    rep->vm->snapshots = op->snapshots;
    return 0;
}

/* ---- Define ---- */

static const struct domxml_nic *
hostvms_nic_by_mac(const struct domxml_vm *vm, const char *mac)
{
    for (size_t i = 0; i < vm->n_nics; i++) {
        if (!strcmp(vm->nics[i].mac, mac)) {
            return &vm->nics[i];
        }
    }
    return NULL;
}

/* A real guest's XML for 'vm': its NICs' sockets opened (kept ones keep
 * their ports, from 'cur'), its console file named. */
static int
hostvms_build_qemu(struct hostvms *h, const struct domxml_vm *cur,
                   struct domxml_vm *vm, char **xmlp, struct fx_err *err)
{
    for (size_t i = 0; i < vm->n_nics; i++) {
        struct domxml_nic *n = &vm->nics[i];
        const struct domxml_nic *old = hostvms_nic_by_mac(cur, n->mac);

        n->agent_port = old ? old->agent_port : 0;
        n->qemu_port = old ? old->qemu_port : 0;
        n->sb_agent_port = old ? old->sb_agent_port : 0;
        n->sb_qemu_port = old ? old->sb_qemu_port : 0;
        if (guestnic_open(h->gn, n->vnic, GUESTNIC_PRIMARY, &n->agent_port,
                          &n->qemu_port, err)
            || (h->failover && n->directpath
                && guestnic_open(h->gn, n->vnic, GUESTNIC_STANDBY,
                                 &n->sb_agent_port, &n->sb_qemu_port,
                                 err))) {
            return err->code;
        }
    }
    vm->failover = h->failover;
    hostvms_console(h, vm->name, vm->console, sizeof vm->console);
    /* The same on every host: libvirt takes a migrating guest only onto
     * a definition of the same name and UUID. */
    if (!vm->uuid[0]) {
        domxml_name_uuid(vm->name, vm->uuid, sizeof vm->uuid);
    }
    return domxml_build_qemu(vm, &h->boot, xmlp, err);
}
/* Binds vNIC of 'nic' with its MAC and 'vlan' (the VM runs). */
static int
hostvms_bind(struct hostvms *h, const struct domxml_nic *nic, uint32_t vlan,
             struct fx_err *err)
{
    struct vic_vnic_cfg cfg = { .vlan = (uint16_t) (vlan ? vlan : 1) };

    if (fx_mac_parse(nic->mac, cfg.mac)) {
        return fx_err_set(err, -EINVAL, "bad MAC '%s'", nic->mac);
    }
    return vic_vnic_bind(h->vic, nic->vnic, &cfg, err);
}

/* The agent's listener is open to any peer on the address: what goes
 * into domain XML is checked here, not only by fabricd. */
static int
hostvms_check_req(const Fexsim__V1__AgentVm *req, struct fx_err *err)
{
    uint8_t mac[FX_MAC_LEN];

    if (!fx_name_valid(req->name) || req->memory_mib == 0
        || req->memory_mib > FX_LIMITS_VM_MAX_MEMORY_MIB) {
        return fx_err_set(err, -EINVAL, "bad VM name or memory size");
    }
    for (size_t i = 0; i < req->n_nics; i++) {
        if (!fx_name_valid(req->nics[i]->profile)
            || fx_mac_parse(req->nics[i]->mac, mac)) {
            return fx_err_set(err, -EINVAL, "bad profile or MAC in NIC %zu",
                              i);
        }
    }
    return 0;
}

/* Builds the new definition 'vm' from 'req' and the current one 'cur'
 * (n_nics 0 if new): kept NICs keep their vNIC, new ones reserve one
 * (recorded in 'fresh' for rollback). */
static int
hostvms_plan(struct hostvms *h, const Fexsim__V1__AgentVm *req,
             const struct domxml_vm *cur, struct domxml_vm *vm,
             uint32_t *fresh, size_t *n_fresh, struct fx_err *err)
{
    memset(vm, 0, sizeof *vm);
    snprintf(vm->name, sizeof vm->name, "%s", req->name);
    snprintf(vm->uuid, sizeof vm->uuid, "%s", cur->uuid);
    vm->memory_mib = req->memory_mib;
    vm->reservation_mib = req->reservation_mib;
    if (req->n_nics > DOMXML_MAX_NICS) {
        return fx_err_set(err, -EINVAL, "a VM has at most %d NICs",
                          DOMXML_MAX_NICS);
    }
    for (size_t i = 0; i < req->n_nics; i++) {
        const Fexsim__V1__AgentNic *rn = req->nics[i];
        const struct domxml_nic *old = hostvms_nic_by_mac(cur, rn->mac);
        struct domxml_nic *n = &vm->nics[vm->n_nics++];

        snprintf(n->mac, sizeof n->mac, "%s", rn->mac);
        snprintf(n->profile, sizeof n->profile, "%s", rn->profile);
        n->directpath = rn->directpath;
        if (rn->directpath
            && pci_check_assignable(h->pci, PCI_VIC_ADDR, err)) {
            return fx_err_wrap(err, "cannot give VM '%s' a DirectPath NIC",
                               req->name);
        }
        if (old) {
            n->vnic = old->vnic;
        } else if (vic_vnic_reserve(h->vic, &n->vnic, err)) {
            return err->code;
        } else {
            fresh[(*n_fresh)++] = n->vnic;
        }
    }
    return 0;
}

/* After a successful define: frees the vNICs of NICs dropped from 'cur',
 * and binds the new ones if the VM runs. */
static void
hostvms_settle(struct hostvms *h, const Fexsim__V1__AgentVm *req,
               const struct domxml_vm *cur, const struct domxml_vm *vm,
               int active)
{
    for (size_t i = 0; i < cur->n_nics; i++) {
        if (!hostvms_nic_by_mac(vm, cur->nics[i].mac)) {
            vic_vnic_release(h->vic, cur->nics[i].vnic, NULL);
            if (h->gn) {
                guestnic_close(h->gn, cur->nics[i].vnic);
            }
        }
    }
    for (size_t i = 0; active && i < vm->n_nics; i++) {
        if (!hostvms_nic_by_mac(cur, vm->nics[i].mac)) {
            hostvms_bind(h, &vm->nics[i], req->nics[i]->vlan, NULL);
        }
    }
}

static const Fexsim__V1__AgentVmRequest *
hostvms_vm_req(const struct hostvms_op *op)
{
    return (const Fexsim__V1__AgentVmRequest *) op->req;
}

/* Loop: the request is one the host may take. */
static int
hostvms_define_check(struct hostvms_op *op, struct fx_err *err)
{
    const Fexsim__V1__AgentVm *req = hostvms_vm_req(op)->vm;

    if (!req) {
        return fx_err_set(err, -EINVAL, "Define needs a VM");
    }
    return hostvms_check_req(req, err);
}

/* Worker: the domain's definition now, if there is one. */
static int
hostvms_define_lookup(struct hostvms_op *op, struct fx_err *err)
{
    if (hv_is_active(op->h->hv, op->name, &op->active, NULL)) {
        op->active = 0;
        return 0;                   /* A new domain. */
    }
    if (hostvms_vm_req(op)->create) {
        return fx_err_set(err, -EEXIST, "libvirt on this host already "
                          "has a domain '%s'", op->name);
    }
    return hostvms_read(op->h, op->name, 1, &op->cur, err);
}

/* Loop: the new definition, its new NICs' vNICs reserved. */
static int
hostvms_define_plan(struct hostvms_op *op, struct fx_err *err)
{
    struct hostvms *h = op->h;

    if (hostvms_plan(h, hostvms_vm_req(op)->vm, &op->cur, &op->vm,
                     op->fresh, &op->n_fresh, err)
        || (h->gn ? hostvms_build_qemu(h, &op->cur, &op->vm, &op->xml, err)
                  : domxml_build(&op->vm, &op->xml, err))) {
        return err->code;
    }
    return 0;
}

/* Worker. */
static int
hostvms_define_write(struct hostvms_op *op, struct fx_err *err)
{
    if (hv_define(op->h->hv, op->xml, err)) {
        return err->code;
    }
    op->defined = 1;
    return 0;
}

/* Loop: the VIC follows the definition libvirt took. */
static int
hostvms_define_settle(struct hostvms_op *op, struct fx_err *err)
{
    hostvms_settle(op->h, hostvms_vm_req(op)->vm, &op->cur, &op->vm,
                   op->active);
    if (hostvms_changed(op->h, err)) {
        return err->code;
    }
    LOG_INFO("defined VM '%s' with %zu NICs", op->vm.name, op->vm.n_nics);
    return 0;
}

/* A definition libvirt did not take leaves no vNIC reserved. */
static void
hostvms_define_undo(struct hostvms_op *op)
{
    for (size_t i = 0; !op->defined && i < op->n_fresh; i++) {
        vic_vnic_release(op->h->vic, op->fresh[i], NULL);
    }
}

/* ---- Start, stop, undefine, snapshot ---- */

int
hostvms_admit_memory(uint64_t host_mib, uint64_t reserved_mib,
                     uint64_t want_mib, const char *vm, struct fx_err *err)
{
    uint64_t left = reserved_mib > host_mib ? 0 : host_mib - reserved_mib;

    if (want_mib > left) {
        return fx_err_set(err, -ENOMEM, "VM '%s' reserves %llu MiB but the "
                          "host has %llu of %llu MiB unreserved", vm,
                          (unsigned long long) want_mib,
                          (unsigned long long) left,
                          (unsigned long long) host_mib);
    }
    return 0;
}
/* Calls 'fn' with each running domain as libvirt holds it (one that does
 * not parse is not ours: skipped).  Returns 0 or the hypervisor's error. */
static int
hostvms_each_running(struct hostvms *h,
                     void (*fn)(struct hostvms *, const struct domxml_vm *,
                                void *arg),
                     void *arg, struct fx_err *err)
{
    struct domxml_vm vm;
    char **names;
    size_t n;

    if (hv_list_active(h->hv, &names, &n, err)) {
        return err->code;
    }
    for (size_t i = 0; i < n; i++) {
        if (!hostvms_read(h, names[i], 0, &vm, NULL)) {
            fn(h, &vm, arg);
        }
    }
    hv_free_names(names, n);
    return 0;
}

static void
hostvms_add_reservation(struct hostvms *h, const struct domxml_vm *vm,
                        void *sum)
{
    (void) h;
    *(uint64_t *) sum += vm->reservation_mib;
}

/* Sums the reservations of running domains, as libvirt holds them. */
static int
hostvms_reserved(struct hostvms *h, uint64_t *sump, struct fx_err *err)
{
    *sump = 0;
    return hostvms_each_running(h, hostvms_add_reservation, sump, err);
}

static void
hostvms_replay_one(struct hostvms *h, const struct domxml_vm *vm, void *arg)
{
    (void) arg;
    hostvms_ran(h, vm, 1);
}

int
hostvms_replay_running(struct hostvms *h, struct fx_err *err)
{
    return hostvms_each_running(h, hostvms_replay_one, NULL, err);
}

int
hostvms_check_admit(struct hostvms *h, const char *name, struct fx_err *err)
{
    struct domxml_vm vm;
    uint64_t reserved = 0;

    if (hostvms_read(h, name, 1, &vm, err)
        || hostvms_reserved(h, &reserved, err)) {
        return err->code;
    }
    return hostvms_admit_memory(h->memory_mib, reserved, vm.reservation_mib,
                                vm.name, err);
}

static uint32_t
hostvms_vlan_of(const Fexsim__V1__AgentVm *req, const char *mac)
{
    for (size_t i = 0; req && i < req->n_nics; i++) {
        if (!strcmp(req->nics[i]->mac, mac)) {
            return req->nics[i]->vlan;
        }
    }
    return 1;
}


/* Loop. */
static int
hostvms_start_check(struct hostvms_op *op, struct fx_err *err)
{
    if (!hostvms_vm_req(op)->vm) {
        return fx_err_set(err, -EINVAL, "Start needs a VM");
    }
    return 0;
}

/* Worker: admits the domain's reservation and starts it. */
static int
hostvms_start_hv(struct hostvms_op *op, struct fx_err *err)
{
    struct hostvms *h = op->h;
    uint64_t reserved = 0;

    if (hostvms_read(h, op->name, 1, &op->vm, err)
        || hostvms_reserved(h, &reserved, err)
        || hostvms_admit_memory(h->memory_mib, reserved,
                                op->vm.reservation_mib, op->vm.name, err)
        || hv_start(h->hv, op->vm.name, err)) {
        return err->code;
    }
    return 0;
}

/* Loop: the started guest's vNICs are bound. */
static int
hostvms_start_settle(struct hostvms_op *op, struct fx_err *err)
{
    struct hostvms *h = op->h;
    const struct domxml_vm *vm = &op->vm;

    for (size_t i = 0; i < vm->n_nics; i++) {
        hostvms_bind(h, &vm->nics[i],
                     hostvms_vlan_of(hostvms_vm_req(op)->vm,
                                     vm->nics[i].mac), NULL);
    }
    /* The guest runs whether its state is saved or not. */
    hostvms_ran(h, vm, 1);
    if (hostvms_changed(h, err)) {
        return err->code;
    }
    LOG_INFO("started VM '%s' (%llu MiB reserved)", vm->name,
             (unsigned long long) vm->reservation_mib);
    return 0;
}

/* Worker: stops the domain if it runs (a real guest that migrated away
 * no longer does).  Under --fault hvstall@PATH it first waits while PATH
 * exists, as libvirt's destroy waits for a job of libvirtd's own. */
static int
hostvms_stop_hv(struct hostvms_op *op, struct fx_err *err)
{
    const struct timespec poll = { 0, 10 * 1000000L };
    struct hostvms *h = op->h;
    int active = 0;

    if (fx_fault_hvstall()) {
        LOG_WARN("fault injected: hvstall: the stop of VM '%s' waits",
                 op->name);
        while (fx_fault_hvstall()) {
            nanosleep(&poll, NULL);
        }
    }
    if (hostvms_read(h, op->name, 1, &op->vm, err)
        || hv_is_active(h->hv, op->name, &active, err)
        || (active && hv_stop(h->hv, op->name, err))) {
        return err->code;
    }
    return 0;
}

/* Loop: the stopped guest's vNICs are unbound. */
static int
hostvms_stop_settle(struct hostvms_op *op, struct fx_err *err)
{
    for (size_t i = 0; i < op->vm.n_nics; i++) {
        vic_vnic_unbind(op->h->vic, op->vm.nics[i].vnic, NULL);
    }
    hostvms_ran(op->h, &op->vm, 0);
    return hostvms_changed(op->h, err);
}

/* Worker: undefines the domain unless it runs. */
static int
hostvms_undefine_hv(struct hostvms_op *op, struct fx_err *err)
{
    struct hostvms *h = op->h;
    int active;

    if (hv_is_active(h->hv, op->name, &active, err)
        || hostvms_read(h, op->name, 1, &op->vm, err)) {
        return err->code;
    }
    if (active) {
        return fx_err_refuse(err, -EBUSY, "vmRunning",
                             "VM '%s' is running: stop it first", op->name);
    }
    return hv_undefine(h->hv, op->name, err);
}

/* Loop: the undefined domain's vNICs are free again. */
static int
hostvms_undefine_settle(struct hostvms_op *op, struct fx_err *err)
{
    /* fail@release plants a leak for the tests of the invariants. */
    int leak = fx_fault_fail("release");

    for (size_t i = 0; !leak && i < op->vm.n_nics; i++) {
        vic_vnic_release(op->h->vic, op->vm.nics[i].vnic, NULL);
        if (op->h->gn) {
            guestnic_close(op->h->gn, op->vm.nics[i].vnic);
        }
    }
    return hostvms_changed(op->h, err);
}

/* Worker. */
static int
hostvms_snapshot_hv(struct hostvms_op *op, struct fx_err *err)
{
    return hv_snapshot(op->h->hv, op->name, &op->snapshots, err);
}
/* ---- Passthrough ---- */

static void
hostvms_pci_reply(struct hostvms *h, struct rpc_call *call,
                  Fexsim__V1__PassthroughReply *rep)
{
    char line[120];
    size_t n = pci_count(h->pci);

    pci_summary(h->pci, line, sizeof line);
    rep->supported = pci_supported(h->pci);
    rep->message = rpc_call_strdup(call, line);
    rep->n_devices = n;
    rep->devices = rpc_call_alloc(call, n * sizeof *rep->devices);
    for (size_t i = 0; i < n; i++) {
        const struct pci_dev *d = pci_at(h->pci, i);
        Fexsim__V1__PciDevice *m = rpc_call_alloc(call, sizeof *m);

        fexsim__v1__pci_device__init(m);
        m->address = rpc_call_strdup(call, d->address);
        m->description = rpc_call_strdup(call, d->description);
        m->host_uses = d->host_uses;
        m->state = (Fexsim__V1__PciState) d->state;
        rep->devices[i] = m;
    }
}

/* Loop (no libvirt). */
static int
hostvms_passthrough_step(struct hostvms_op *op, struct fx_err *err)
{
    const Fexsim__V1__PassthroughRequest *req = (const void *) op->req;
    struct hostvms *h = op->h;

    if (req->enable[0]) {
        if (pci_enable(h->pci, req->enable, req->force, err)) {
            return err->code;
        }
        /* The caller must not take for kept a device a restart would
         * forget: unsaved, it is not enabled. */
        if (hostvms_changed(h, err)) {
            pci_set_state(h->pci, req->enable, PCI_DISABLED, NULL);
            return err->code;
        }
    }
    hostvms_pci_reply(h, op->call, (void *) rpc_call_reply(op->call));
    return 0;
}

/* The host reboots: its pending devices become active, saved, or none
 * does. */
static int
hostvms_pci_reboot(struct hostvms *h, struct fx_err *err)
{
    bool pending[PCI_MAX_DEVS] = { false };

    for (size_t i = 0; i < pci_count(h->pci) && i < PCI_MAX_DEVS; i++) {
        pending[i] = pci_at(h->pci, i)->state == PCI_PENDING_REBOOT;
    }
    pci_reboot(h->pci);
    if (hostvms_changed(h, err)) {
        for (size_t i = 0; i < pci_count(h->pci) && i < PCI_MAX_DEVS; i++) {
            if (pending[i]) {
                pci_set_state(h->pci, pci_at(h->pci, i)->address,
                              PCI_PENDING_REBOOT, NULL);
            }
        }
        return err->code;
    }
    return 0;
}


/* Loop (no libvirt). */
static int
hostvms_reboot_step(struct hostvms_op *op, struct fx_err *err)
{
    struct rpc_call *call = op->call;
    Fexsim__V1__RebootReply *rep = (void *) rpc_call_reply(call);
    Fexsim__V1__PassthroughReply *pt = rpc_call_alloc(call, sizeof *pt);
    struct hostvms *h = op->h;
    struct vic_vnic_info info;

    for (uint32_t i = 0; i < vic_vnic_count(h->vic); i++) {
        if (!vic_vnic_info(h->vic, i, &info, NULL)
            && info.state >= VIC_VNIC_BOUND) {
            return fx_err_refuse(err, -EBUSY, "vmsRunning",
                                 "cannot reboot: VMs are running "
                                 "on this host (vNIC %u is %s)", i,
                                 vic_vnic_state_name(info.state));
        }
    }
    if (hostvms_pci_reboot(h, err)) {
        return err->code;
    }
    LOG_INFO("host rebooted: passthrough devices pending reboot are active");
    fexsim__v1__passthrough_reply__init(pt);
    hostvms_pci_reply(h, call, pt);
    rep->passthrough = pt;
    return 0;
}

/* ---- List ---- */

/* Worker: every domain as libvirt holds it; one that is not ours
 * (unparsable) or went meanwhile is not reported. */
static int
hostvms_list_hv(struct hostvms_op *op, struct fx_err *err)
{
    char **names;
    size_t n;

    if (hv_list_all(op->h->hv, &names, &n, err)) {
        return err->code;
    }
    op->doms = calloc(n ? n : 1, sizeof *op->doms);
    if (!op->doms) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        struct fx_err skip;

        op->n_doms += !hostvms_read_dom(op->h, names[i],
                                        &op->doms[op->n_doms], &skip);
    }
    hv_free_names(names, n);
    return 0;
}

/* Loop. */
static int
hostvms_list_reply(struct hostvms_op *op, struct fx_err *err)
{
    Fexsim__V1__AgentListReply *rep = (void *) rpc_call_reply(op->call);

    (void) err;
    rep->vms = rpc_call_alloc(op->call, op->n_doms * sizeof *rep->vms);
    for (size_t i = 0; i < op->n_doms; i++) {
        rep->vms[i] = hostvms_vm_msg(op->h, op->call, &op->doms[i]);
    }
    rep->n_vms = op->n_doms;
    return 0;
}

/* ---- The methods ---- */

#define HOSTVMS_METHOD(steps, undo) \
    { steps, sizeof steps / sizeof *steps, undo }

static const struct hostvms_step hostvms_define_steps[] = {
    { HOSTVMS_LOOP,   hostvms_define_check },
    { HOSTVMS_WORKER, hostvms_define_lookup },
    { HOSTVMS_LOOP,   hostvms_define_plan },
    { HOSTVMS_WORKER, hostvms_define_write },
    { HOSTVMS_LOOP,   hostvms_define_settle },
    { HOSTVMS_WORKER, hostvms_read_back },
    { HOSTVMS_LOOP,   hostvms_vm_reply },
};

static const struct hostvms_step hostvms_start_steps[] = {
    { HOSTVMS_LOOP,   hostvms_start_check },
    { HOSTVMS_WORKER, hostvms_start_hv },
    { HOSTVMS_LOOP,   hostvms_start_settle },
    { HOSTVMS_WORKER, hostvms_read_back },
    { HOSTVMS_LOOP,   hostvms_vm_reply },
};

static const struct hostvms_step hostvms_stop_steps[] = {
    { HOSTVMS_WORKER, hostvms_stop_hv },
    { HOSTVMS_LOOP,   hostvms_stop_settle },
    { HOSTVMS_WORKER, hostvms_read_back },
    { HOSTVMS_LOOP,   hostvms_vm_reply },
};

static const struct hostvms_step hostvms_undefine_steps[] = {
    { HOSTVMS_WORKER, hostvms_undefine_hv },
    { HOSTVMS_LOOP,   hostvms_undefine_settle },
};

static const struct hostvms_step hostvms_snapshot_steps[] = {
    { HOSTVMS_WORKER, hostvms_snapshot_hv },
    { HOSTVMS_WORKER, hostvms_read_back },
    { HOSTVMS_LOOP,   hostvms_vm_reply },
};

static const struct hostvms_step hostvms_passthrough_steps[] = {
    { HOSTVMS_LOOP,   hostvms_passthrough_step },
};

static const struct hostvms_step hostvms_reboot_steps[] = {
    { HOSTVMS_LOOP,   hostvms_reboot_step },
};

static const struct hostvms_step hostvms_list_steps[] = {
    { HOSTVMS_WORKER, hostvms_list_hv },
    { HOSTVMS_LOOP,   hostvms_list_reply },
};

/* In the order of service HostVms in proto/vmfex.proto. */
static const struct hostvms_method hostvms_methods[] = {
    HOSTVMS_METHOD(hostvms_define_steps, hostvms_define_undo),
    HOSTVMS_METHOD(hostvms_start_steps, NULL),
    HOSTVMS_METHOD(hostvms_stop_steps, NULL),
    HOSTVMS_METHOD(hostvms_undefine_steps, NULL),
    HOSTVMS_METHOD(hostvms_snapshot_steps, NULL),
    HOSTVMS_METHOD(hostvms_passthrough_steps, NULL),
    HOSTVMS_METHOD(hostvms_reboot_steps, NULL),
    HOSTVMS_METHOD(hostvms_list_steps, NULL),
};

/* The registry calls a handler per method with the same context: each
 * names its method's steps. */
#define HOSTVMS_HANDLER(fn, i) \
    static int \
    fn(void *ctx, struct rpc_call *call, const ProtobufCMessage *req, \
       ProtobufCMessage *rep, struct fx_err *err) \
    { \
        (void) rep; \
        return hostvms_submit(ctx, &hostvms_methods[i], call, req, err); \
    }

HOSTVMS_HANDLER(hostvms_define, 0)
HOSTVMS_HANDLER(hostvms_start, 1)
HOSTVMS_HANDLER(hostvms_stop, 2)
HOSTVMS_HANDLER(hostvms_undefine, 3)
HOSTVMS_HANDLER(hostvms_snapshot, 4)
HOSTVMS_HANDLER(hostvms_passthrough, 5)
HOSTVMS_HANDLER(hostvms_reboot, 6)
HOSTVMS_HANDLER(hostvms_list, 7)

static const rpc_handler_fn hostvms_handlers[] = {
    hostvms_define,
    hostvms_start,
    hostvms_stop,
    hostvms_undefine,
    hostvms_snapshot,
    hostvms_passthrough,
    hostvms_reboot,
    hostvms_list,
};

int
hostvms_register(struct hostvms *h, struct rpc_registry *reg,
                 struct fx_err *err)
{
    return rpc_registry_add(reg, &fexsim__v1__host_vms__descriptor,
                            hostvms_handlers, sizeof hostvms_handlers
                            / sizeof *hostvms_handlers, h,
                            AUTH_ROLE_MASK(AUTH_ROLE_FABRIC), err);
}
