/* mstore: see mstore.h. */
#include "mstore.h"


#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fx_err.h"
#include "hostreg.h"
#include "profile.h"
#include "store/store.h"
#include "vif.h"
#include "vm.h"

#define RESTORED_REASON "not registered since fabricd started"

/* ---- Loading ---- */

/* The VM tables look names up linearly; the store hands a VM's VIFs over
 * one after another, so the last VM found is nearly always the next. */
struct load_ctx {
    const struct mstore_tables *t;
    struct vm *last;
};

static int
load_host(void *arg, const struct store_host *h, struct fx_err *err)
{
    const struct mstore_tables *t = ((struct load_ctx *) arg)->t;
    struct host_info info;

    memset(&info, 0, sizeof info);
    snprintf(info.name, sizeof info.name, "%s", h->name);
    snprintf(info.rpc_addr, sizeof info.rpc_addr, "%s", h->rpc_addr);
    snprintf(info.hypervisor, sizeof info.hypervisor, "%s", h->hypervisor);
    snprintf(info.hypervisor_version, sizeof info.hypervisor_version, "%s",
             h->hypervisor_version);
    snprintf(info.adapter_model, sizeof info.adapter_model, "%s",
             h->adapter_model);
    info.vnics_total = h->vnics_total;
    return hostreg_restore(t->hosts, &info, RESTORED_REASON, err);
}

static int
load_profile(void *arg, const struct store_profile *sp, struct fx_err *err)
{
    const struct mstore_tables *t = ((struct load_ctx *) arg)->t;
    struct profile p;

    memset(&p, 0, sizeof p);
    if (sp->n_vlans > PROFILE_MAX_VLANS) {
        return fx_err_set(err, -EIO, "profile '%s' has %zu VLANs in the "
                          "store", sp->name, sp->n_vlans);
    }
    snprintf(p.name, sizeof p.name, "%s", sp->name);
    snprintf(p.qos, sizeof p.qos, "%s", sp->qos);
    memcpy(p.vlans, sp->vlans, sp->n_vlans * sizeof *p.vlans);
    p.n_vlans = (uint32_t) sp->n_vlans;
    p.max_ports = sp->max_ports;
    p.high_performance = sp->high_performance;
    return profile_create(t->profiles, &p, err);
}

static int
load_vm(void *arg, const struct store_vm *sv, struct fx_err *err)
{
    const struct mstore_tables *t = ((struct load_ctx *) arg)->t;
    struct vm rec;

    memset(&rec, 0, sizeof rec);
    snprintf(rec.name, sizeof rec.name, "%s", sv->name);
    snprintf(rec.host, sizeof rec.host, "%s", sv->host);
    rec.memory_mib = sv->memory_mib;
    rec.reservation_mib = sv->reservation_mib;
    rec.running = !strcmp(sv->state, "running");
    rec.record = (sv->features & STORE_VM_RECORD) != 0;
    rec.ft = (sv->features & STORE_VM_FT) != 0;
    rec.ha = (sv->features & STORE_VM_HA) != 0;
    rec.snapshots = sv->snapshots;
    /* Its NICs without a VIF first; load_vif() appends the others. */
    for (size_t i = 0; i < sv->n_expired && i < VM_MAX_NICS; i++) {
        struct vm_nic *nic = &rec.nics[rec.n_nics++];

        snprintf(nic->profile, sizeof nic->profile, "%s",
                 sv->expired[i].profile);
        nic->directpath = sv->expired[i].directpath;
    }
    return vm_add(t->vms, &rec, NULL, err);
}

static int
load_vif(void *arg, const struct store_vif *sv, struct fx_err *err)
{
    const struct mstore_tables *t = ((struct load_ctx *) arg)->t;
    struct host *h = hostreg_find(t->hosts, sv->host);
    struct load_ctx *ctx = arg;
    struct vm *vm = NULL;
    struct vif rec;

    if (sv->vm[0]) {
        vm = ctx->last && !strcmp(ctx->last->name, sv->vm)
             ? ctx->last : vm_find(t->vms, sv->vm, NULL);
        ctx->last = vm;
    }

    memset(&rec, 0, sizeof rec);
    rec.id = sv->id;
    snprintf(rec.host, sizeof rec.host, "%s", sv->host);
    snprintf(rec.adapter, sizeof rec.adapter, "%s",
             h ? h->info.adapter_model : "");
    rec.vnic = sv->vnic;
    snprintf(rec.profile, sizeof rec.profile, "%s", sv->profile);
    snprintf(rec.vm, sizeof rec.vm, "%s", sv->vm);
    memcpy(rec.mac, sv->mac, sizeof rec.mac);
    rec.directpath = sv->mode == STORE_VIF_HIGH_PERFORMANCE;
    rec.state = !strcmp(sv->state, "online") ? VIF_ONLINE : VIF_OFFLINE;
    if (vm && vm->n_nics == VM_MAX_NICS) {
        return fx_err_set(err, -EIO, "VM '%s' has more than %d VIFs in the "
                          "store", vm->name, VM_MAX_NICS);
    }
    if (profile_port_take(t->profiles, rec.profile, err)
        || vif_add(t->vifs, &rec, NULL, err)) {
        return err->code;
    }
    if (vm) {
        struct vm_nic *nic = &vm->nics[vm->n_nics++];

        nic->vif = rec.id;
        nic->directpath = rec.directpath;
        snprintf(nic->profile, sizeof nic->profile, "%s", rec.profile);
    }
    return 0;
}

static int
load_counters(void *arg, const struct store_counters *c, struct fx_err *err)
{
    const struct mstore_tables *t = ((struct load_ctx *) arg)->t;

    (void) err;
    vif_pools_set(t->vifs, c->next_vif_id,
                  (uint32_t) (c->next_mac & 0xffffffu));
    return 0;
}

int
mstore_load(struct store *st, const struct mstore_tables *t,
            struct fx_err *err)
{
    static const struct store_callbacks cb = {
        .host = load_host,
        .profile = load_profile,
        .vm = load_vm,
        .vif = load_vif,
        .counters = load_counters,
    };
    struct load_ctx ctx = { t, NULL };
    int rc;

    if (!st) {
        return 0;
    }
    rc = store_load(st, &cb, &ctx, err);
    if (rc) {
        char why[sizeof err->msg];

        snprintf(why, sizeof why, "%s", err->msg);
        return fx_err_set(err, rc, "%s: %s", store_path(st), why);
    }
    return 0;
}

/* ---- Saving ---- */

int
mstore_save_host(struct store *st, const struct host_info *info,
                 struct fx_err *err)
{
    struct store_host h;

    if (!st) {
        return 0;
    }
    memset(&h, 0, sizeof h);
    snprintf(h.name, sizeof h.name, "%s", info->name);
    snprintf(h.rpc_addr, sizeof h.rpc_addr, "%s", info->rpc_addr);
    snprintf(h.hypervisor, sizeof h.hypervisor, "%s", info->hypervisor);
    snprintf(h.hypervisor_version, sizeof h.hypervisor_version, "%s",
             info->hypervisor_version);
    snprintf(h.adapter_model, sizeof h.adapter_model, "%s",
             info->adapter_model);
    h.vnics_total = info->vnics_total;
    return store_put_host(st, &h, err);
}

int
mstore_save_profile(struct store *st, const struct profile *p,
                    struct fx_err *err)
{
    struct store_profile sp;

    if (!st) {
        return 0;
    }
    memset(&sp, 0, sizeof sp);
    snprintf(sp.name, sizeof sp.name, "%s", p->name);
    snprintf(sp.qos, sizeof sp.qos, "%s", p->qos);
    memcpy(sp.vlans, p->vlans, p->n_vlans * sizeof *p->vlans);
    sp.n_vlans = p->n_vlans;
    sp.max_ports = p->max_ports;
    sp.high_performance = p->high_performance != 0;
    return store_put_profile(st, &sp, err);
}

int
mstore_forget_profile(struct store *st, const char *name, struct fx_err *err)
{
    return st ? store_del_profile(st, name, err) : 0;
}

static void
vif_to_store(const struct vif *v, struct store_vif *sv)
{
    memset(sv, 0, sizeof *sv);
    sv->id = v->id;
    snprintf(sv->host, sizeof sv->host, "%s", v->host);
    sv->vnic = v->vnic;
    snprintf(sv->profile, sizeof sv->profile, "%s", v->profile);
    memcpy(sv->mac, v->mac, sizeof sv->mac);
    snprintf(sv->state, sizeof sv->state, "%s",
             v->state == VIF_ONLINE ? "online" : "offline");
    snprintf(sv->vm, sizeof sv->vm, "%s", v->vm);
    sv->mode = v->directpath ? STORE_VIF_HIGH_PERFORMANCE
                             : STORE_VIF_EMULATED;
}

static int
save_vm_rows(struct store *st, const struct mstore_tables *t,
             const struct vm *vm, uint32_t drop_vif, struct fx_err *err)
{
    struct store_vm sv;
    struct store_counters c;
    uint32_t next_id, next_mac;

    memset(&sv, 0, sizeof sv);
    snprintf(sv.name, sizeof sv.name, "%s", vm->name);
    snprintf(sv.host, sizeof sv.host, "%s", vm->host);
    sv.memory_mib = vm->memory_mib;
    sv.reservation_mib = vm->reservation_mib;
    snprintf(sv.state, sizeof sv.state, "%s",
             vm->running ? "running" : "shut off");
    for (size_t i = 0; i < vm->n_nics; i++) {
        sv.directpath += vm->nics[i].directpath != 0;
    }
    sv.features = (vm->record ? STORE_VM_RECORD : 0)
                  | (vm->ft ? STORE_VM_FT : 0) | (vm->ha ? STORE_VM_HA : 0);
    sv.snapshots = vm->snapshots;
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vm_nic *nic = &vm->nics[i];

        if (!nic->vif || nic->vif == drop_vif) {
            struct store_nic *n = &sv.expired[sv.n_expired++];

            snprintf(n->profile, sizeof n->profile, "%s", nic->profile);
            n->directpath = nic->directpath != 0;
        }
    }
    if ((drop_vif && store_del_vif(st, drop_vif, err))
        || store_put_vm(st, &sv, err)) {
        return err->code;
    }
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct vif *v = vif_find(t->vifs, vm->nics[i].vif);
        struct store_vif svif;

        if (!v || v->id == drop_vif) {
            continue;
        }
        vif_to_store(v, &svif);
        if (store_put_vif(st, &svif, err)) {
            return err->code;
        }
    }
    vif_pools_get(t->vifs, &next_id, &next_mac);
    c.next_vif_id = next_id;
    c.next_mac = ((uint64_t) VIF_MAC_OUI << 24) | next_mac;
    return store_put_counters(st, &c, err);
}

/* Runs the batch 'rc' ended, committing or rolling back. */
static int
batch_end(struct store *st, int rc, struct fx_err *err)
{
    if (rc) {
        store_rollback(st, NULL);
        return rc;
    }
    return store_commit(st, err);
}

int
mstore_save_vm(struct store *st, const struct mstore_tables *t,
               const struct vm *vm, uint32_t drop_vif, struct fx_err *err)
{
    if (!st) {
        return 0;
    }
    if (store_begin(st, err)) {
        return err->code;
    }
    return batch_end(st, save_vm_rows(st, t, vm, drop_vif, err), err);
}

int
mstore_forget_vm(struct store *st, const struct vm *vm, struct fx_err *err)
{
    int rc = 0;

    if (!st) {
        return 0;
    }
    if (store_begin(st, err)) {
        return err->code;
    }
    for (size_t i = 0; i < vm->n_nics && !rc; i++) {
        rc = store_del_vif(st, vm->nics[i].vif, err);
        rc = rc == -ENOENT ? 0 : rc;
    }
    if (!rc) {
        rc = store_del_vm(st, vm->name, err);
        rc = rc == -ENOENT ? 0 : rc;
    }
    return batch_end(st, rc, err);
}
