/* vm: the fabric's record of each VM: where it runs, its memory and
 * reservation, its NICs (each a VIF), and the features the DirectPath
 * rules govern.  The domain itself lives in libvirt on the host; these are
 * plain records a store can save and give back to vm_add().  Pure. */
#ifndef VM_H
#define VM_H

#include <stddef.h>
#include <stdint.h>

#include "fx_limits.h"

struct fx_err;

/* What the API promises (proto/fx_limits.h). */
#define VM_MAX_NICS FX_LIMITS_VM_MAX_NICS
#define VM_DIRTY_RATE_MAX FX_LIMITS_DIRTY_RATE_MAX

struct vm_nic {
    uint32_t vif;               /* The VIF id (vif.h); 0 once the VM
                                 * lifecycle policy removed it. */
    char profile[40];
    int directpath;
};

struct vm {
    char name[40];
    char host[40];
    uint64_t memory_mib;
    uint64_t reservation_mib;   /* = memory with a DirectPath NIC. */
    int running;
    int record, ft, ha;         /* Features enabled. */
    uint32_t snapshots;
    uint64_t dirty_rate;        /* The running guest's page writes/s, as
                                 * its agent says (the agent holds it):
                                 * not saved. */
    size_t n_nics;
    struct vm_nic nics[VM_MAX_NICS];
    int busy;                   /* An agent operation is in flight; not
                                 * saved. */
};

struct vm_table;

struct vm_table *vm_table_create(void);
void vm_table_destroy(struct vm_table *);

/* Adds a copy of 'rec'; stores the table's record in '*vmp' (owned by the
 * table, valid until removed) if not NULL.  -EEXIST, -EINVAL. */
int vm_add(struct vm_table *, const struct vm *rec, struct vm **vmp,
           struct fx_err *err);
int vm_remove(struct vm_table *, const char *name);
/* NULL if absent; 'err' (may be NULL) then says so (-ENOENT). */
struct vm *vm_find(const struct vm_table *, const char *name,
                   struct fx_err *err);
size_t vm_count(const struct vm_table *);
/* The 'i'th VM in name order (strcmp); the order of names, so the same
 * after a restart. */
struct vm *vm_at(const struct vm_table *, size_t i);

/* The NIC of 'vm' for VIF 'vif', or NULL. */
struct vm_nic *vm_nic_find(struct vm *, uint32_t vif);

/* 0 if 'rate' page writes/s is a guest dirty rate we take, else -ERANGE
 * with 'err' filled. */
int vm_check_dirty_rate(uint64_t rate, struct fx_err *err);

#endif
