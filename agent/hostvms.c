#include "hostvms.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domxml.h"
#include "fx_err.h"
#include "fx_fault.h"
#include "fx_limits.h"
#include "fx_mac.h"
#include "fx_name.h"
#include "guestnic.h"
#include "hv.h"
#include "log.h"
#include "pci.h"
#include "rpc.h"
#include "vic.h"
#include "vmfex.pb-c.h"

LOG_MODULE("hostvms");

struct hostvms {
    struct hv *hv;            /* Borrowed. */
    struct vic *vic;          /* Borrowed. */
    struct pci_host *pci;     /* Borrowed. */
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
};

struct hostvms *
hostvms_create(struct hv *hv, struct vic *vic, struct pci_host *pci,
               uint64_t memory_mib)
{
    struct hostvms *h = calloc(1, sizeof *h);

    if (!h) {
        abort();
    }
    h->hv = hv;
    h->vic = vic;
    h->pci = pci;
    h->memory_mib = memory_mib;
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

static const struct domxml_nic *hostvms_nic_by_mac(const struct domxml_vm *vm,
                                                   const char *mac);

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

void
hostvms_destroy(struct hostvms *h)
{
    free(h);
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
 * if 'inactive'). */
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

/* Stores domain 'name' as libvirt now has it in '*mp' (memory of
 * 'call'). */
static int
hostvms_vm_msg(struct hostvms *h, struct rpc_call *call, const char *name,
               Fexsim__V1__AgentVm **mp, struct fx_err *err)
{
    Fexsim__V1__AgentVm *m = rpc_call_alloc(call, sizeof *m);
    struct domxml_vm vm;
    int active = 0;

    if (hostvms_read(h, name, 1, &vm, err)
        || hv_is_active(h->hv, name, &active, err)) {
        return err->code;
    }
    fexsim__v1__agent_vm__init(m);
    m->name = rpc_call_strdup(call, vm.name);
    m->memory_mib = vm.memory_mib;
    m->reservation_mib = vm.reservation_mib;
    m->running = active;
    m->dirty_rate = active && h->rate_of ? h->rate_of(h->on_run_arg, vm.name)
                                         : 0;
    m->n_nics = vm.n_nics;
    m->nics = rpc_call_alloc(call, vm.n_nics * sizeof *m->nics);
    for (size_t i = 0; i < vm.n_nics; i++) {
        Fexsim__V1__AgentNic *n = rpc_call_alloc(call, sizeof *n);

        fexsim__v1__agent_nic__init(n);
        n->mac = rpc_call_strdup(call, vm.nics[i].mac);
        n->profile = rpc_call_strdup(call, vm.nics[i].profile);
        n->directpath = vm.nics[i].directpath;
        n->vnic = vm.nics[i].vnic;
        m->nics[i] = n;
    }
    *mp = m;
    return 0;
}

/* Fills reply 'rep' with domain 'name' as libvirt now has it. */
static int
hostvms_reply(struct hostvms *h, struct rpc_call *call, const char *name,
              Fexsim__V1__AgentVmReply *rep, struct fx_err *err)
{
    return hostvms_vm_msg(h, call, name, &rep->vm, err);
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

static int
hostvms_define(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
               ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AgentVm *req = ((const Fexsim__V1__AgentVmRequest *)
                                      req_)->vm;
    struct hostvms *h = ctx;
    struct domxml_vm cur = { .n_nics = 0 }, vm;
    uint32_t fresh[DOMXML_MAX_NICS];
    size_t n_fresh = 0;
    char *xml = NULL;
    int active = 0;

    if (!req) {
        return fx_err_set(err, -EINVAL, "Define needs a VM");
    }
    if (hostvms_check_req(req, err)) {
        return err->code;
    }
    if (!hv_is_active(h->hv, req->name, &active, NULL)) {
        if (((const Fexsim__V1__AgentVmRequest *) req_)->create) {
            return fx_err_set(err, -EEXIST, "libvirt on this host already "
                              "has a domain '%s'", req->name);
        }
        if (hostvms_read(h, req->name, 1, &cur, err)) {
            return err->code;
        }
    }
    if (hostvms_plan(h, req, &cur, &vm, fresh, &n_fresh, err)
        || (h->gn ? hostvms_build_qemu(h, &cur, &vm, &xml, err)
                  : domxml_build(&vm, &xml, err))
        || hv_define(h->hv, xml, err)) {
        for (size_t i = 0; i < n_fresh; i++) {
            vic_vnic_release(h->vic, fresh[i], NULL);
        }
        free(xml);
        return err->code;
    }
    free(xml);
    hostvms_settle(h, req, &cur, &vm, active);
    if (hostvms_changed(h, err)) {
        return err->code;
    }
    LOG_INFO("defined VM '%s' with %zu NICs", vm.name, vm.n_nics);
    return hostvms_reply(h, call, req->name, (void *) rep_, err);
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

static int
hostvms_start(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
              ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AgentVm *req = ((const Fexsim__V1__AgentVmRequest *)
                                      req_)->vm;
    struct hostvms *h = ctx;
    struct domxml_vm vm;
    uint64_t reserved = 0;

    if (!req) {
        return fx_err_set(err, -EINVAL, "Start needs a VM");
    }
    if (hostvms_read(h, req->name, 1, &vm, err)
        || hostvms_reserved(h, &reserved, err)
        || hostvms_admit_memory(h->memory_mib, reserved, vm.reservation_mib,
                                vm.name, err)
        || hv_start(h->hv, vm.name, err)) {
        return err->code;
    }
    for (size_t i = 0; i < vm.n_nics; i++) {
        hostvms_bind(h, &vm.nics[i], hostvms_vlan_of(req, vm.nics[i].mac),
                     NULL);
    }
    /* The guest runs whether its state is saved or not. */
    hostvms_ran(h, &vm, 1);
    if (hostvms_changed(h, err)) {
        return err->code;
    }
    LOG_INFO("started VM '%s' (%llu MiB reserved)", vm.name,
             (unsigned long long) vm.reservation_mib);
    return hostvms_reply(h, call, vm.name, (void *) rep_, err);
}

static int
hostvms_stop(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    const Fexsim__V1__AgentVmNameRequest *req = (const void *) req_;
    struct hostvms *h = ctx;
    struct domxml_vm vm;

    int active = 0;

    /* A real guest that migrated away is no longer running here. */
    if (hostvms_read(h, req->name, 1, &vm, err)
        || hv_is_active(h->hv, req->name, &active, err)
        || (active && hv_stop(h->hv, req->name, err))) {
        return err->code;
    }
    for (size_t i = 0; i < vm.n_nics; i++) {
        vic_vnic_unbind(h->vic, vm.nics[i].vnic, NULL);
    }
    hostvms_ran(h, &vm, 0);
    if (hostvms_changed(h, err)) {
        return err->code;
    }
    return hostvms_reply(h, call, req->name, (void *) rep_, err);
}

static int
hostvms_undefine(void *ctx, struct rpc_call *call,
                 const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                 struct fx_err *err)
{
    const Fexsim__V1__AgentVmNameRequest *req = (const void *) req_;
    struct hostvms *h = ctx;
    struct domxml_vm vm;
    int active, leak;

    (void) call;
    (void) rep_;
    if (hv_is_active(h->hv, req->name, &active, err)
        || hostvms_read(h, req->name, 1, &vm, err)) {
        return err->code;
    }
    if (active) {
        return fx_err_refuse(err, -EBUSY, "vmRunning",
                             "VM '%s' is running: stop it first",
                          req->name);
    }
    if (hv_undefine(h->hv, req->name, err)) {
        return err->code;
    }
    /* fail@release plants a leak for the tests of the invariants. */
    leak = fx_fault_fail("release");
    for (size_t i = 0; !leak && i < vm.n_nics; i++) {
        vic_vnic_release(h->vic, vm.nics[i].vnic, NULL);
        if (h->gn) {
            guestnic_close(h->gn, vm.nics[i].vnic);
        }
    }
    return hostvms_changed(h, err);
}

static int
hostvms_snapshot(void *ctx, struct rpc_call *call,
                 const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                 struct fx_err *err)
{
    const Fexsim__V1__AgentVmNameRequest *req = (const void *) req_;
    Fexsim__V1__AgentVmReply *rep = (void *) rep_;
    struct hostvms *h = ctx;
    unsigned n;

    if (hv_snapshot(h->hv, req->name, &n, err)
        || hostvms_reply(h, call, req->name, rep, err)) {
        return err->code;
    }
    rep->vm->snapshots = n;
    return 0;
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

static int
hostvms_passthrough(void *ctx, struct rpc_call *call,
                    const ProtobufCMessage *req_, ProtobufCMessage *rep_,
                    struct fx_err *err)
{
    const Fexsim__V1__PassthroughRequest *req = (const void *) req_;
    struct hostvms *h = ctx;

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
    hostvms_pci_reply(h, call, (void *) rep_);
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

static int
hostvms_reboot(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
               ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__RebootReply *rep = (void *) rep_;
    Fexsim__V1__PassthroughReply *pt = rpc_call_alloc(call, sizeof *pt);
    struct hostvms *h = ctx;
    struct vic_vnic_info info;

    (void) req_;
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

static int
hostvms_list(void *ctx, struct rpc_call *call, const ProtobufCMessage *req_,
             ProtobufCMessage *rep_, struct fx_err *err)
{
    Fexsim__V1__AgentListReply *rep = (void *) rep_;
    struct hostvms *h = ctx;
    char **names;
    size_t n;

    (void) req_;
    if (hv_list_all(h->hv, &names, &n, err)) {
        return err->code;
    }
    rep->vms = rpc_call_alloc(call, n * sizeof *rep->vms);
    /* A domain that is not ours (unparsable) is not reported. */
    for (size_t i = 0; i < n; i++) {
        struct fx_err skip;

        rep->n_vms += !hostvms_vm_msg(h, call, names[i],
                                      &rep->vms[rep->n_vms], &skip);
    }
    hv_free_names(names, n);
    return 0;
}

/* In the order of service HostVms in proto/vmfex.proto. */
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
