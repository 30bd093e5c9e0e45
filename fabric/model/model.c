/* model: see model.h.  The tables are hostreg.c, profile.c, vif.c and
 * vm.c, the rules policy.c, the store's rows mstore.c; this file is the
 * one place that changes them, so that a change reaches every table it
 * touches, the store and the hooks together. */
#include "model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/events.h"
#include "fx_err.h"
#include "mstore.h"
#include "store/store.h"

#define MODEL_MS_PER_MIN 60000u

struct model {
    struct mstore_tables t;          /* Owned, all four. */
    struct store *store;             /* Borrowed; NULL: in memory. */
    uint32_t retention_min;
    struct model_hooks hooks;
    void *hooks_arg;                 /* Borrowed. */
    struct events *events;           /* Borrowed; NULL: none. */
};

struct model *
model_create(uint32_t heartbeat_timeout_ms, uint32_t retention_min,
             struct store *store)
{
    struct model *m = calloc(1, sizeof *m);

    if (!m) {
        abort();
    }
    m->t.hosts = hostreg_create(heartbeat_timeout_ms);
    m->t.profiles = profile_table_create();
    m->t.vifs = vif_table_create();
    m->t.vms = vm_table_create();
    m->store = store;
    m->retention_min = retention_min ? retention_min
                                     : MODEL_RETENTION_DEFAULT_MIN;
    return m;
}

void
model_destroy(struct model *m)
{
    if (!m) {
        return;
    }
    vm_table_destroy(m->t.vms);
    vif_table_destroy(m->t.vifs);
    profile_table_destroy(m->t.profiles);
    hostreg_destroy(m->t.hosts);
    free(m);
}

void
model_set_events(struct model *m, struct events *events)
{
    m->events = events;
}

/* Tells the event log, if there is one. */
static void __attribute__((format(printf, 7, 8)))
model_event(struct model *m, Fexsim__V1__EventType type, const char *host,
            const char *vm, uint32_t vif, const char *state,
            const char *fmt, ...)
{
    char detail[200];
    va_list ap;

    if (!m->events) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    events_emitf(m->events, type, host, vm, vif, 0, state, "%s", detail);
}

/* A VIF's state as events name it. */
static const char *
model_vif_state_name(const struct vif *v)
{
    return v->state == VIF_ONLINE ? "online" : "offline";
}

void
model_set_hooks(struct model *m, const struct model_hooks *hooks, void *arg)
{
    m->hooks = *hooks;
    m->hooks_arg = arg;
}

int
model_load(struct model *m, struct fx_err *err)
{
    return m->store ? mstore_load(m->store, &m->t, err) : 0;
}

static void
model_vif_changed(struct model *m, uint32_t id)
{
    if (m->hooks.vif_changed) {
        m->hooks.vif_changed(m->hooks_arg, id);
    }
}

/* The VM records are the table's; the model hands them out const and
 * changes them here only. */
static struct vm *
model_vm_rw(struct model *m, const char *name)
{
    return vm_find(m->t.vms, name, NULL);
}

/* ---- Hosts ---- */

const struct host *
model_host(const struct model *m, const char *name)
{
    return hostreg_find(m->t.hosts, name);
}

size_t
model_host_count(const struct model *m)
{
    return hostreg_count(m->t.hosts);
}

const struct host *
model_host_at(const struct model *m, size_t i)
{
    return hostreg_at(m->t.hosts, i);
}

int64_t
model_host_index(const struct model *m, const char *name)
{
    return hostreg_index(m->t.hosts, name);
}

const struct host *
model_host_of_session(const struct model *m, const void *session)
{
    for (size_t i = 0; session && i < hostreg_count(m->t.hosts); i++) {
        const struct host *h = hostreg_at(m->t.hosts, i);

        if (h->session == session && h->state == HOST_UP) {
            return h;
        }
    }
    return NULL;
}

int
model_host_register(struct model *m, const struct host_info *info,
                    void *session, uint64_t now_ms, struct fx_err *err)
{
    int rc = hostreg_check(m->t.hosts, info, session, err);

    /* The configuration is durable before the agent hears it is up. */
    if (rc || (rc = mstore_save_host(m->store, info, err))
        || (rc = hostreg_register(m->t.hosts, info, session, now_ms, NULL,
                                  err))) {
        return rc;
    }
    model_event(m, FEXSIM__V1__EVENT_TYPE__EVENT_HOST_UP, info->name, NULL,
                0, "up", "registered, RPC at %s, %s %s", info->rpc_addr,
                info->hypervisor, info->hypervisor_version);
    return 0;
}

int
model_host_heartbeat(struct model *m, const char *name, void *session,
                     uint32_t vnics_total, uint32_t vnics_free,
                     uint64_t now_ms, struct fx_err *err)
{
    int rc = hostreg_heartbeat(m->t.hosts, name, session, now_ms, err);

    if (!rc) {
        hostreg_set_vnics(m->t.hosts, name, vnics_total, vnics_free);
    }
    return rc;
}

/* Host 'name' is gone: the retention of its VIFs starts, and the owner
 * hears of it. */
static void
model_host_gone(struct model *m, const char *name, uint64_t now_ms)
{
    for (size_t i = 0; i < vif_count(m->t.vifs); i++) {
        struct vif *v = vif_at(m->t.vifs, i);

        if (!strcmp(v->host, name) && !v->expiring) {
            v->expiring = true;
            v->offline_since_ms = now_ms;
        }
    }
    if (m->hooks.host_down) {
        m->hooks.host_down(m->hooks_arg, name);
    }
}

const struct host *
model_host_lost(struct model *m, void *session, const char *reason,
                uint64_t now_ms)
{
    const struct host *h = hostreg_session_lost(m->t.hosts, session, reason);

    if (h) {
        model_host_gone(m, h->info.name, now_ms);
        model_event(m, FEXSIM__V1__EVENT_TYPE__EVENT_HOST_DOWN, h->info.name,
                    NULL, 0, "down", "%s", reason);
    }
    return h;
}

struct model_expire_ctx {
    struct model *m;
    uint64_t now_ms;
    void (*cb)(const struct host *, void *arg);
    void *arg;
};

static void
model_host_expired(struct host *h, void *arg)
{
    struct model_expire_ctx *ctx = arg;

    model_host_gone(ctx->m, h->info.name, ctx->now_ms);
    model_event(ctx->m, FEXSIM__V1__EVENT_TYPE__EVENT_HOST_DOWN, h->info.name,
                NULL, 0, "down", "no heartbeat in time");
    if (ctx->cb) {
        ctx->cb(h, ctx->arg);
    }
}

size_t
model_host_expire(struct model *m, uint64_t now_ms,
                  void (*cb)(const struct host *, void *arg), void *arg)
{
    struct model_expire_ctx ctx = { m, now_ms, cb, arg };

    return hostreg_expire(m->t.hosts, now_ms, model_host_expired, &ctx);
}

/* ---- Port profiles ---- */

int
model_profile_create(struct model *m, const struct profile *rec,
                     struct fx_err *err)
{
    int rc = profile_create(m->t.profiles, rec, err);

    if (rc) {
        return rc;
    }
    rc = mstore_save_profile(m->store, profile_find(m->t.profiles,
                                                    rec->name), err);
    if (rc) {
        profile_delete(m->t.profiles, rec->name, NULL);
    }
    return rc;
}

int
model_profile_delete(struct model *m, const char *name, struct fx_err *err)
{
    const struct profile *p = profile_find(m->t.profiles, name);
    int rc;

    /* Checked in memory first, so that a profile in use is refused with
     * the table's message, then forgotten on disk before in memory. */
    if (!p || p->ports_used) {
        return profile_delete(m->t.profiles, name, err);
    }
    for (size_t i = 0; i < vm_count(m->t.vms); i++) {
        const struct vm *vm = vm_at(m->t.vms, i);

        for (size_t k = 0; k < vm->n_nics; k++) {
            if (!strcmp(vm->nics[k].profile, name)) {
                return fx_err_set(err, -EBUSY, "profile '%s' is in use by a "
                                  "NIC of VM '%s' (its VIF removed by the "
                                  "VM lifecycle policy until it runs)",
                                  name, vm->name);
            }
        }
    }
    rc = mstore_forget_profile(m->store, name, err);
    return rc ? rc : profile_delete(m->t.profiles, name, err);
}

const struct profile *
model_profile(const struct model *m, const char *name)
{
    return profile_find(m->t.profiles, name);
}

size_t
model_profile_count(const struct model *m)
{
    return profile_count(m->t.profiles);
}

const struct profile *
model_profile_at(const struct model *m, size_t i)
{
    return profile_at(m->t.profiles, i);
}

/* ---- VIFs ---- */

const struct vif *
model_vif(const struct model *m, uint32_t id)
{
    return vif_find(m->t.vifs, id);
}

const struct vif *
model_vif_by_mac(const struct model *m, const uint8_t mac[6])
{
    return vif_find_mac(m->t.vifs, mac);
}

size_t
model_vif_count(const struct model *m)
{
    return vif_count(m->t.vifs);
}

const struct vif *
model_vif_at(const struct model *m, size_t i)
{
    return vif_at(m->t.vifs, i);
}

/* Sets the state of 'v' and starts or stops its retention. */
static void
model_vif_state(struct vif *v, bool online, uint64_t now_ms)
{
    v->state = online ? VIF_ONLINE : VIF_OFFLINE;
    if (online) {
        v->expiring = false;
    } else if (!v->expiring) {
        v->expiring = true;
        v->offline_since_ms = now_ms;
    }
}

void
model_vif_bind(struct model *m, uint32_t id, uint32_t vnic, bool online,
               uint64_t now_ms)
{
    struct vif *v = vif_find(m->t.vifs, id);

    if (v) {
        v->vnic = vnic;
        model_vif_state(v, online, now_ms);
        model_vif_changed(m, id);
        model_event(m, FEXSIM__V1__EVENT_TYPE__EVENT_VIF_BOUND, v->host, v->vm,
                    id, model_vif_state_name(v), "vNIC %u", vnic);
    }
}

void
model_vif_move(struct model *m, uint32_t id, const char *host,
               uint32_t vnic, bool online, uint64_t now_ms)
{
    struct vif *v = vif_find(m->t.vifs, id);
    const struct host *h = hostreg_find(m->t.hosts, host);

    if (v) {
        snprintf(v->host, sizeof v->host, "%s", host);
        snprintf(v->adapter, sizeof v->adapter, "%s",
                 h ? h->info.adapter_model : "");
        v->vnic = vnic;
        model_vif_state(v, online, now_ms);
        model_vif_changed(m, id);
        model_event(m, FEXSIM__V1__EVENT_TYPE__EVENT_VIF_MOVED, host, v->vm,
                    id, model_vif_state_name(v), "to vNIC %u of %s", vnic,
                    host);
    }
}

uint32_t
model_retention_min(const struct model *m)
{
    return m->retention_min;
}

bool
model_vif_expires(const struct model *m, const struct vif *v, uint64_t *atp)
{
    if (!v->expiring) {
        return false;
    }
    *atp = v->offline_since_ms
           + (uint64_t) m->retention_min * MODEL_MS_PER_MIN;
    return true;
}

/* ---- VMs ---- */

const struct vm *
model_vm(const struct model *m, const char *name, struct fx_err *err)
{
    return vm_find(m->t.vms, name, err);
}

const struct vm *
model_vm_idle(const struct model *m, const char *name, struct fx_err *err)
{
    const struct vm *vm = vm_find(m->t.vms, name, err);

    if (vm && vm->busy) {
        fx_err_set(err, -EBUSY, "VM '%s' has another operation in progress",
                   name);
        return NULL;
    }
    return vm;
}

size_t
model_vm_count(const struct model *m)
{
    return vm_count(m->t.vms);
}

const struct vm *
model_vm_at(const struct model *m, size_t i)
{
    return vm_at(m->t.vms, i);
}

int
model_vm_add(struct model *m, const char *name, const char *host,
             uint64_t memory_mib, struct fx_err *err)
{
    struct vm rec = { .memory_mib = memory_mib, .busy = 1 };

    if (strlen(name) >= sizeof rec.name) {
        return fx_err_set(err, -EINVAL, "VM name '%.39s...' is longer than "
                          "39 characters", name);
    }
    if (!hostreg_find(m->t.hosts, host)) {
        return fx_err_set(err, -ENOENT, "host '%s' not found", host);
    }
    if (memory_mib < 1 || memory_mib > FX_LIMITS_VM_MAX_MEMORY_MIB) {
        return fx_err_set(err, -EINVAL, "memory %llu MiB out of range 1-%u",
                          (unsigned long long) memory_mib,
                          FX_LIMITS_VM_MAX_MEMORY_MIB);
    }
    snprintf(rec.name, sizeof rec.name, "%s", name);
    snprintf(rec.host, sizeof rec.host, "%s", host);
    if (vm_add(m->t.vms, &rec, NULL, err)) {
        return err->code;
    }
    model_event(m, FEXSIM__V1__EVENT_TYPE__EVENT_VM_DEFINED, host, name, 0,
                "defined", "%llu MiB", (unsigned long long) memory_mib);
    return 0;
}

/* The DirectPath NICs of 'vm', in all and on plain (not high-performance)
 * profiles: what the rules look at. */
static struct policy_vm
model_policy_vm(const struct model *m, const struct vm *vm)
{
    struct policy_vm p = { vm->name, vm->running, 0, 0 };

    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct profile *pp = profile_find(m->t.profiles,
                                                vm->nics[i].profile);

        if (vm->nics[i].directpath) {
            p.n_directpath++;
            p.n_directpath_plain += !(pp && pp->high_performance);
        }
    }
    return p;
}

static void
model_vm_reserve(struct model *m, struct vm *vm)
{
    vm->reservation_mib = policy_reservation_mib(
        vm->memory_mib, model_policy_vm(m, vm).n_directpath);
}

/* Frees the VIF and profile port of NIC 'i' of 'vm' (which stays). */
static void
model_nic_release(struct model *m, struct vm *vm, size_t i)
{
    uint32_t id = vm->nics[i].vif;

    profile_port_put(m->t.profiles, vm->nics[i].profile);
    if (id) {
        const struct vif *v = vif_find(m->t.vifs, id);

        model_event(m, FEXSIM__V1__EVENT_TYPE__EVENT_VIF_REMOVED,
                    v ? v->host : vm->host, vm->name, id, "removed",
                    "profile %s", vm->nics[i].profile);
        vif_remove(m->t.vifs, id, NULL);
        vm->nics[i].vif = 0;
        model_vif_changed(m, id);
    }
}

void
model_vm_remove(struct model *m, const char *name)
{
    struct vm *vm = model_vm_rw(m, name);

    if (!vm) {
        return;
    }
    for (size_t i = vm->n_nics; i-- > 0;) {
        model_nic_release(m, vm, i);
    }
    model_event(m, FEXSIM__V1__EVENT_TYPE__EVENT_VM_UNDEFINED, vm->host, name,
                0, "undefined", "deleted");
    vm_remove(m->t.vms, name);
}

/* A new VIF for NIC 'nic' of 'vm' (its port already taken). */
static int
model_nic_vif(struct model *m, const struct vm *vm, struct vm_nic *nic,
              struct fx_err *err)
{
    const struct host *h = hostreg_find(m->t.hosts, vm->host);
    struct vif rec = { .directpath = nic->directpath, .state = VIF_OFFLINE };
    struct vif *v;
    int rc;

    snprintf(rec.host, sizeof rec.host, "%s", vm->host);
    snprintf(rec.adapter, sizeof rec.adapter, "%s",
             h ? h->info.adapter_model : "");
    snprintf(rec.profile, sizeof rec.profile, "%s", nic->profile);
    snprintf(rec.vm, sizeof rec.vm, "%s", vm->name);
    rc = vif_add(m->t.vifs, &rec, &v, err);
    if (rc) {
        return rc;
    }
    nic->vif = v->id;
    model_vif_changed(m, v->id);
    model_event(m, FEXSIM__V1__EVENT_TYPE__EVENT_VIF_BOUND, v->host, vm->name,
                v->id, model_vif_state_name(v), "new on profile %s%s",
                nic->profile, nic->directpath ? ", DirectPath" : "");
    return 0;
}

int
model_vm_nic_add(struct model *m, const char *name, const char *profile,
                 bool directpath, uint32_t *vifp, struct fx_err *err)
{
    struct vm *vm = model_vm_rw(m, name);
    const struct profile *p = profile_find(m->t.profiles, profile);
    struct policy_vm pv;
    struct vm_nic *nic;

    if (!vm || !p) {
        return fx_err_set(err, -ENOENT, "%s '%s' not found",
                          vm ? "profile" : "VM", vm ? profile : name);
    }
    if (vm->n_nics == VM_MAX_NICS) {
        return fx_err_set(err, -EPERM, "VM '%s' has %d NICs, the most it "
                          "may have", vm->name, VM_MAX_NICS);
    }
    pv = model_policy_vm(m, vm);
    if (policy_check_nic_add(&pv, directpath, p->high_performance, err)
        || profile_port_take(m->t.profiles, profile, err)) {
        return err->code;
    }
    nic = &vm->nics[vm->n_nics];
    *nic = (struct vm_nic) { .directpath = directpath };
    snprintf(nic->profile, sizeof nic->profile, "%s", profile);
    if (model_nic_vif(m, vm, nic, err)) {
        profile_port_put(m->t.profiles, profile);
        return err->code;
    }
    vm->n_nics++;
    model_vm_reserve(m, vm);
    *vifp = nic->vif;
    return 0;
}

void
model_vm_nic_remove(struct model *m, const char *name, uint32_t vif)
{
    struct vm *vm = model_vm_rw(m, name);

    for (size_t i = 0; vm && i < vm->n_nics; i++) {
        if (vm->nics[i].vif == vif) {
            model_nic_release(m, vm, i);
            vm->nics[i] = vm->nics[--vm->n_nics];
            model_vm_reserve(m, vm);
            return;
        }
    }
}

int
model_vm_nic_renew(struct model *m, const char *name, uint32_t *vifs,
                   size_t *np, struct fx_err *err)
{
    struct vm *vm = model_vm_rw(m, name);
    int rc = 0;

    *np = 0;
    for (size_t i = 0; vm && !rc && i < vm->n_nics; i++) {
        if (vm->nics[i].vif) {
            continue;
        }
        rc = profile_port_take(m->t.profiles, vm->nics[i].profile, err);
        if (!rc && (rc = model_nic_vif(m, vm, &vm->nics[i], err))) {
            profile_port_put(m->t.profiles, vm->nics[i].profile);
        }
        if (!rc) {
            vifs[(*np)++] = vm->nics[i].vif;
        }
    }
    if (rc) {
        /* All or nothing. */
        model_vm_nic_release(m, name, vifs, *np);
        *np = 0;
    }
    return rc;
}

void
model_vm_nic_release(struct model *m, const char *name, const uint32_t *vifs,
                     size_t n)
{
    struct vm *vm = model_vm_rw(m, name);

    for (size_t k = 0; vm && k < n; k++) {
        for (size_t i = 0; i < vm->n_nics; i++) {
            if (vm->nics[i].vif == vifs[k]) {
                model_nic_release(m, vm, i);
            }
        }
    }
}

size_t
model_vm_nics_without_vif(const struct vm *vm)
{
    size_t n = 0;

    for (size_t i = 0; i < vm->n_nics; i++) {
        n += vm->nics[i].vif == 0;
    }
    return n;
}

void
model_vm_set_busy(struct model *m, const char *name, bool busy)
{
    struct vm *vm = model_vm_rw(m, name);

    if (vm) {
        vm->busy = busy;
    }
}

void
model_vm_set_running(struct model *m, const char *name, bool running,
                     uint64_t dirty_rate, uint64_t now_ms)
{
    struct vm *vm = model_vm_rw(m, name);

    if (!vm) {
        return;
    }
    if (vm->running != running) {
        model_event(m, running ? FEXSIM__V1__EVENT_TYPE__EVENT_VM_STARTED
                               : FEXSIM__V1__EVENT_TYPE__EVENT_VM_STOPPED,
                    vm->host, name, 0, running ? "running" : "stopped",
                    "on %s", vm->host);
    }
    vm->running = running;
    vm->dirty_rate = running ? dirty_rate : 0;
    for (size_t i = 0; i < vm->n_nics; i++) {
        struct vif *v = vif_find(m->t.vifs, vm->nics[i].vif);

        if (v) {
            bool was = v->state == VIF_ONLINE;

            model_vif_state(v, running, now_ms);
            model_vif_changed(m, v->id);
            if (was != running) {
                model_event(m, FEXSIM__V1__EVENT_TYPE__EVENT_VIF_BOUND,
                            v->host, name, v->id, model_vif_state_name(v),
                            "vNIC %u", v->vnic);
            }
        }
    }
}

void
model_vm_set_dirty_rate(struct model *m, const char *name, uint64_t rate)
{
    struct vm *vm = model_vm_rw(m, name);

    if (vm) {
        vm->dirty_rate = rate;
    }
}

void
model_vm_set_host(struct model *m, const char *name, const char *host)
{
    struct vm *vm = model_vm_rw(m, name);

    if (vm) {
        snprintf(vm->host, sizeof vm->host, "%s", host);
    }
}

void
model_vm_set_snapshots(struct model *m, const char *name, uint32_t n)
{
    struct vm *vm = model_vm_rw(m, name);

    if (vm) {
        vm->snapshots = n;
    }
}

/* The flag in struct vm of feature 'op', or NULL. */
static int *
model_feature_flag(struct vm *vm, enum policy_op op)
{
    switch (op) {
    case POLICY_OP_RECORD: return &vm->record;
    case POLICY_OP_FT: return &vm->ft;
    case POLICY_OP_HA: return &vm->ha;
    default: return NULL;
    }
}

int
model_vm_set_feature(struct model *m, const char *name, enum policy_op op,
                     bool enable, struct fx_err *err)
{
    struct vm *vm = model_vm_rw(m, name);
    int *flag = vm ? model_feature_flag(vm, op) : NULL;
    int was, rc;

    if (!flag) {
        return fx_err_set(err, -EINVAL, "'%s' is not a feature: use record, "
                          "ft or ha", policy_op_name(op));
    }
    if (enable && (rc = model_vm_check(m, vm, op, err))) {
        return rc;
    }
    was = *flag;
    *flag = enable;
    rc = model_save_vm(m, name, 0, err);
    if (rc) {
        *flag = was;
    }
    return rc;
}

int
model_vm_check(const struct model *m, const struct vm *vm, enum policy_op op,
               struct fx_err *err)
{
    struct policy_vm pv = model_policy_vm(m, vm);

    return policy_check(op, &pv, err);
}

int
model_vm_check_nic_remove(const struct model *m, const struct vm *vm,
                          uint32_t vif, struct fx_err *err)
{
    struct policy_vm pv = model_policy_vm(m, vm);

    for (size_t i = 0; i < vm->n_nics; i++) {
        if (vm->nics[i].vif == vif) {
            return policy_check_nic_remove(&pv, vm->nics[i].directpath, err);
        }
    }
    return fx_err_set(err, -ENOENT, "VM '%s' has no NIC with VIF %u",
                      vm->name, vif);
}

const struct vif *
model_vm_vif(const struct model *m, const struct vm *vm, size_t i)
{
    return i < vm->n_nics ? vif_find(m->t.vifs, vm->nics[i].vif) : NULL;
}

/* ---- Durable state ---- */

int
model_save_vm(struct model *m, const char *name, uint32_t drop_vif,
              struct fx_err *err)
{
    const struct vm *vm = vm_find(m->t.vms, name, err);

    return vm ? mstore_save_vm(m->store, &m->t, vm, drop_vif, err)
              : -ENOENT;
}

int
model_forget_vm(struct model *m, const char *name, struct fx_err *err)
{
    const struct vm *vm = vm_find(m->t.vms, name, err);

    return vm ? mstore_forget_vm(m->store, vm, err) : -ENOENT;
}

/* ---- The VM lifecycle policy ---- */

/* Removes VIF 'i' of idle 'vm', whose retention ran out, and saves it. */
static int
model_expire_nic(struct model *m, struct vm *vm, size_t i,
                 struct fx_err *err)
{
    uint32_t id = vm->nics[i].vif;
    char host[sizeof vm->host];
    int rc;

    rc = mstore_save_vm(m->store, &m->t, vm, id, err);
    if (rc) {
        return rc;
    }
    snprintf(host, sizeof host, "%s", vif_find(m->t.vifs, id)->host);
    model_nic_release(m, vm, i);
    if (m->hooks.vif_expired) {
        m->hooks.vif_expired(m->hooks_arg, vm->name, host, id);
    }
    return 0;
}

int
model_expire_vifs(struct model *m, uint64_t now_ms, struct fx_err *err)
{
    int n = 0;

    for (size_t k = 0; k < vm_count(m->t.vms); k++) {
        struct vm *vm = vm_at(m->t.vms, k);

        for (size_t i = 0; !vm->busy && i < vm->n_nics; i++) {
            const struct vif *v = vif_find(m->t.vifs, vm->nics[i].vif);
            uint64_t at;

            if (!v || !model_vif_expires(m, v, &at) || now_ms < at) {
                continue;
            }
            if (model_expire_nic(m, vm, i, err)) {
                return err->code;
            }
            n++;
        }
    }
    return n;
}
