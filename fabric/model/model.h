/* model: the fabric's view of its VM-FEX domain, as UCS Manager keeps it:
 * hosts and their liveness, port profiles, VIFs and VMs, the DirectPath
 * rules over them, and their durable copy in the store.
 *
 * The model owns every record.  Others read them through const pointers,
 * valid until the next call that changes the model (a removal frees the
 * record), and change them only through the functions below, so that
 * what the tables and the store say stays one truth.  Records are the
 * structs of hostreg.h, profile.h, vif.h and vm.h; those headers are the
 * model's own, included here for the record types only.
 *
 * Durability: model_profile_*(), model_host_register() and the
 * model_save_*() calls write the store (one transaction each) and, when
 * the write fails, undo their change in memory and return the error: a
 * failed call leaves nothing behind.  The other changes are in memory
 * until the caller saves them (a VM's changes wait for its agent).
 *
 * Time: every function that needs the time takes it ('now_ms', monotonic
 * milliseconds), so that tests drive time by hand. */
#ifndef MODEL_H
#define MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostreg.h"
#include "policy.h"
#include "profile.h"
#include "vif.h"
#include "vm.h"

struct fx_err;
struct model;
struct store;

/* UCS Manager's VM lifecycle policy: a VIF (and its dynamic vNIC) offline
 * this long is removed.  15 minutes by default, 1-7200 minutes. */
#define MODEL_RETENTION_DEFAULT_MIN 15u
#define MODEL_RETENTION_MAX_MIN 7200u

/* What the model tells its owner.  Each may be NULL. */
struct model_hooks {
    /* VIF 'id' was added, changed host, vNIC or state, or was removed:
     * the switch port (and the agent's map of it) must follow. */
    void (*vif_changed)(void *arg, uint32_t id);
    /* The retention of VIF 'id' of VM 'vm' on host 'host' ran out: it is
     * gone from the model (and saved so); the host's agent should free
     * its dynamic vNIC.  Strings are borrowed for the call. */
    void (*vif_expired)(void *arg, const char *vm, const char *host,
                        uint32_t id);
    /* Host 'host' (borrowed for the call) went down: its agent's session
     * is gone or silent, and nothing it opened speaks for it any more. */
    void (*host_down)(void *arg, const char *host);
};

/* Creates an empty model whose hosts go down after 'heartbeat_timeout_ms'
 * without a heartbeat and whose offline VIFs are removed after
 * 'retention_min' minutes.  'store' (borrowed, must outlive the model) is
 * where it keeps its durable state; NULL: in memory only. */
struct model *model_create(uint32_t heartbeat_timeout_ms,
                           uint32_t retention_min, struct store *store);
/* Frees the model and every record.  NULL is a no-op. */
void model_destroy(struct model *);
/* Sets the hooks ('hooks' copied, 'arg' borrowed). */
void model_set_hooks(struct model *, const struct model_hooks *hooks,
                     void *arg);
/* Where the model tells what happens to hosts, VMs and VIFs (borrowed,
 * must outlive it; NULL: nowhere). */
struct events;
void model_set_events(struct model *, struct events *events);

/* Loads the store: hosts come back down (until their agents register),
 * then profiles, VMs and VIFs, and the pools' counters.  Migrations are
 * not the model's (migcoord loads them).  Fails with a line naming the
 * state file. */
int model_load(struct model *, struct fx_err *err);

/* ---- Hosts ---- */

/* The host named 'name', or NULL. */
const struct host *model_host(const struct model *, const char *name);
size_t model_host_count(const struct model *);
/* The 'i'th host in registration order; hosts are never removed. */
const struct host *model_host_at(const struct model *, size_t i);
/* The host's uplink index (its place in the table), or -1. */
int64_t model_host_index(const struct model *, const char *name);
/* The host registered on 'session' (an agent's control connection) and up,
 * or NULL: what a request on that connection may speak for. */
const struct host *model_host_of_session(const struct model *,
                                         const void *session);

/* Registers the agent of host 'info' (copied) on 'session': checked
 * first (hostreg_check()), then its configuration saved, then up.  A
 * refused or unsaved registration changes nothing. */
int model_host_register(struct model *, const struct host_info *info,
                        void *session, uint64_t now_ms, struct fx_err *err);
/* A heartbeat of host 'name' over 'session', with its adapter's vNICs in
 * all and free.  -ENOENT, -ESTALE (register again). */
int model_host_heartbeat(struct model *, const char *name, void *session,
                         uint32_t vnics_total, uint32_t vnics_free,
                         uint64_t now_ms, struct fx_err *err);
/* The host bound to 'session', if any, goes down with 'reason' (copied),
 * and the VIFs on it go offline.  Returns it, or NULL. */
const struct host *model_host_lost(struct model *, void *session,
                                   const char *reason, uint64_t now_ms);
/* Hosts silent for the heartbeat timeout go down (their VIFs offline);
 * 'cb' (may be NULL) hears of each.  Returns how many. */
size_t model_host_expire(struct model *, uint64_t now_ms,
                         void (*cb)(const struct host *, void *arg),
                         void *arg);

/* ---- Port profiles ---- */

/* Validates 'rec' (copied), adds it and saves it. */
int model_profile_create(struct model *, const struct profile *rec,
                         struct fx_err *err);
/* Deletes profile 'name' and forgets it in the store.  -ENOENT, -EBUSY
 * while VIFs use it. */
int model_profile_delete(struct model *, const char *name,
                         struct fx_err *err);
const struct profile *model_profile(const struct model *, const char *name);
size_t model_profile_count(const struct model *);
/* The 'i'th profile in name order. */
const struct profile *model_profile_at(const struct model *, size_t i);

/* ---- VIFs ---- */

const struct vif *model_vif(const struct model *, uint32_t id);
const struct vif *model_vif_by_mac(const struct model *,
                                   const uint8_t mac[6]);
size_t model_vif_count(const struct model *);
/* The 'i'th VIF; the order changes when one is removed. */
const struct vif *model_vif_at(const struct model *, size_t i);
/* VIF 'id' holds dynamic vNIC 'vnic' of its host's adapter and is online
 * (its VM runs) or offline. */
void model_vif_bind(struct model *, uint32_t id, uint32_t vnic, bool online,
                    uint64_t now_ms);
/* VIF 'id' follows its VM to host 'host' (copied) and its vNIC 'vnic'
 * there: same id, same MAC. */
void model_vif_move(struct model *, uint32_t id, const char *host,
                    uint32_t vnic, bool online, uint64_t now_ms);
/* Minutes an offline VIF is kept, and when VIF 'v' will be removed
 * ('*atp', in now_ms time; returns false for an online VIF). */
uint32_t model_retention_min(const struct model *);
bool model_vif_expires(const struct model *, const struct vif *v,
                       uint64_t *atp);
/* Removes the VIFs offline for the retention time, each saved and told
 * to the vif_expired hook.  A VM with an operation in flight keeps its
 * VIFs until it is idle.  Returns how many went, or a negative errno
 * (with 'err') when the store refused: the VIF then stays. */
int model_expire_vifs(struct model *, uint64_t now_ms, struct fx_err *err);

/* ---- VMs ---- */

/* The VM named 'name', or NULL with 'err' (may be NULL) set (-ENOENT). */
const struct vm *model_vm(const struct model *, const char *name,
                          struct fx_err *err);
/* Like model_vm(), but -EBUSY while an operation is in flight on it. */
const struct vm *model_vm_idle(const struct model *, const char *name,
                               struct fx_err *err);
size_t model_vm_count(const struct model *);
/* The 'i'th VM in name order. */
const struct vm *model_vm_at(const struct model *, size_t i);

/* Adds VM 'name' (copied) on host 'host', powered off, with no NIC, in
 * memory only and busy: the caller defines it on the agent, then saves
 * it or removes it.  -EINVAL (name, memory), -ENOENT (host), -EEXIST. */
int model_vm_add(struct model *, const char *name, const char *host,
                 uint64_t memory_mib, struct fx_err *err);
/* Removes VM 'name' with its NICs: their VIFs and profile ports go. */
void model_vm_remove(struct model *, const char *name);
/* Adds a NIC on profile 'profile' to VM 'vm', a DirectPath one if
 * 'directpath', as the DirectPath rules allow (policy_check_nic_add()):
 * takes a port of the profile and a new VIF (offline, MAC from the pool)
 * and stores its id in '*vifp'.  The reservation follows. */
int model_vm_nic_add(struct model *, const char *vm, const char *profile,
                     bool directpath, uint32_t *vifp, struct fx_err *err);
/* Takes NIC 'vif' off VM 'vm': its VIF and profile port go. */
void model_vm_nic_remove(struct model *, const char *vm, uint32_t vif);
/* Gives every NIC of VM 'vm' whose VIF the retention removed a new VIF
 * (new id, new MAC, offline), as UCS assigns new dynamic vNICs when a VM
 * comes back, and stores their ids in 'vifs' (VM_MAX_NICS) and how many
 * in '*np'.  All or nothing (-ENOSPC: a profile's ports, the pools). */
int model_vm_nic_renew(struct model *, const char *vm, uint32_t *vifs,
                       size_t *np, struct fx_err *err);
/* Takes the VIFs 'vifs' ('n' of them) off the NICs of VM 'vm', which keep
 * their configuration without a VIF (model_vm_nic_renew() undone). */
void model_vm_nic_release(struct model *, const char *vm,
                          const uint32_t *vifs, size_t n);
/* How many NICs of 'vm' have no VIF. */
size_t model_vm_nics_without_vif(const struct vm *vm);
/* An operation on VM 'vm' is in flight (others are refused) or over. */
void model_vm_set_busy(struct model *, const char *vm, bool busy);
/* VM 'vm' runs or not, its guest dirtying 'dirty_rate' pages/s; its VIFs
 * go online or offline with it. */
void model_vm_set_running(struct model *, const char *vm, bool running,
                          uint64_t dirty_rate, uint64_t now_ms);
/* The guest's dirty rate, as its agent holds it. */
void model_vm_set_dirty_rate(struct model *, const char *vm, uint64_t rate);
/* VM 'vm' is now on host 'host' (copied): migrated, or rolled back. */
void model_vm_set_host(struct model *, const char *vm, const char *host);
/* Snapshots libvirt holds for it. */
void model_vm_set_snapshots(struct model *, const char *vm, uint32_t n);
/* Enables or disables feature 'op' (record, ft or ha) of VM 'vm', as the
 * DirectPath rules allow, and saves it; -EINVAL for another op. */
int model_vm_set_feature(struct model *, const char *vm, enum policy_op op,
                         bool enable, struct fx_err *err);
/* 0 if the DirectPath rules allow 'op' on 'vm', else -EPERM with the
 * seed's reason. */
int model_vm_check(const struct model *, const struct vm *vm,
                   enum policy_op op, struct fx_err *err);
/* 0 if the rules allow taking NIC 'vif' off 'vm' now, else -EPERM with
 * the reason (-ENOENT: no such NIC). */
int model_vm_check_nic_remove(const struct model *, const struct vm *vm,
                              uint32_t vif, struct fx_err *err);
/* The VIF of NIC 'i' of 'vm', or NULL (none: the retention removed it). */
const struct vif *model_vm_vif(const struct model *, const struct vm *vm,
                               size_t i);

/* ---- Durable state ---- */

/* Saves VM 'vm', the VIFs of its NICs and the pools' counters, deleting
 * VIF 'drop_vif' (0: none; a NIC still holding it is saved as one whose
 * VIF the retention removed), in one transaction: the end of an
 * operation its agent has done. */
int model_save_vm(struct model *, const char *vm, uint32_t drop_vif,
                  struct fx_err *err);
/* Deletes VM 'vm' and its VIFs from the store, in one transaction. */
int model_forget_vm(struct model *, const char *vm, struct fx_err *err);

#endif
