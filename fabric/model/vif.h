/* vif: the fabric's virtual interfaces.
 *
 * Every dynamic vNIC in use is a VIF: an id unique in the fabric, bound to
 * (host, adapter, vNIC), a port profile, a MAC from the fabric's pool
 * (00:25:B5:xx:xx:xx, as UCSM assigns) and a state.  Lookups by id and by
 * MAC are O(1) hash lookups: the data plane looks up a MAC per frame.
 * Records are plain structs a store can save and hand back to vif_add()
 * on restart (with their id and MAC set).  Pure module. */
#ifndef VIF_H
#define VIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fx_mac.h"

struct fx_err;

#define VIF_NAME_SIZE 40
/* The UCS pool prefix: 00:25:B5, and 24 bits of ours. */
#define VIF_MAC_OUI 0x0025b5u

enum vif_state {
    VIF_OFFLINE = 0,   /* The VM is defined but not running (UCS: the VM
                        * lifecycle policy's "offline"). */
    VIF_ONLINE = 1,    /* The VM runs: the vNIC is bound. */
};

struct vif {
    uint32_t id;                   /* 1..; 0 asks vif_add() for one. */
    char host[VIF_NAME_SIZE];
    char adapter[16];              /* e.g. "M81KR". */
    uint32_t vnic;                 /* vNIC index on the host's adapter. */
    char profile[VIF_NAME_SIZE];
    char vm[VIF_NAME_SIZE];        /* The VM whose NIC this is. */
    uint8_t mac[6];                /* All zero asks vif_add() for one. */
    int directpath;                /* Non-zero: a PCI passthrough NIC. */
    enum vif_state state;
    /* Offline (VM stopped) or its host down since 'offline_since_ms':
     * the VM lifecycle policy's retention runs (model.h).  Not saved: a
     * restarted fabric starts the count again. */
    bool expiring;
    uint64_t offline_since_ms;
};

struct vif_table;

struct vif_table *vif_table_create(void);
/* Frees the table and its VIFs.  NULL is a no-op. */
void vif_table_destroy(struct vif_table *);

/* Adds a copy of 'rec'.  A zero id or MAC is assigned from the pools;
 * a given one must be free (-EEXIST) and a given MAC must be in the pool's
 * OUI (-EINVAL).  Stores the table's record in '*vifp' if not NULL (owned
 * by the table, valid until removed).  -ENOSPC when a pool is empty. */
int vif_add(struct vif_table *, const struct vif *rec, struct vif **vifp,
            struct fx_err *err);
/* Removes VIF 'id'; its id and MAC go back to the pools.  -ENOENT. */
int vif_remove(struct vif_table *, uint32_t id, struct fx_err *err);

/* O(1) lookups; NULL if absent.  Owned by the table. */
struct vif *vif_find(const struct vif_table *, uint32_t id);
struct vif *vif_find_mac(const struct vif_table *, const uint8_t mac[6]);

size_t vif_count(const struct vif_table *);
/* The 'i'th VIF, for listing; order changes on removal. */
struct vif *vif_at(const struct vif_table *, size_t i);

/* Where the id and MAC pools resume (MAC as its 24-bit pool index), so
 * that a store can save them and a restart hands out nothing twice. */
void vif_pools_get(const struct vif_table *, uint32_t *next_id,
                   uint32_t *next_mac);
/* Sets them back; out-of-range values are ignored. */
void vif_pools_set(struct vif_table *, uint32_t next_id, uint32_t next_mac);

#endif
