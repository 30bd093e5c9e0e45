/* mstore: the model's tables as rows of the store (store/store.h): loaded
 * back at start, saved one change (one transaction) at a time.  Every
 * function is a no-op returning 0 when 'store' is NULL (fabricd run
 * without --state).  The model's own module: model.c is its one user. */
#ifndef MSTORE_H
#define MSTORE_H

#include <stdint.h>

struct fx_err;
struct host_info;
struct hostreg;
struct profile;
struct profile_table;
struct store;
struct vif_table;
struct vm;
struct vm_table;

/* The tables the model owns, borrowed. */
struct mstore_tables {
    struct hostreg *hosts;
    struct profile_table *profiles;
    struct vif_table *vifs;
    struct vm_table *vms;
};

/* Loads 'store' into the empty tables 't': hosts (down, until their
 * agents register), profiles, VMs, VIFs and the pools' counters.  Fails
 * with the store's message, prefixed with the state file's path. */
int mstore_load(struct store *store, const struct mstore_tables *t,
                struct fx_err *err);

/* Saves host 'info' as configuration (never its liveness). */
int mstore_save_host(struct store *store, const struct host_info *info,
                     struct fx_err *err);
int mstore_save_profile(struct store *store, const struct profile *p,
                        struct fx_err *err);
int mstore_forget_profile(struct store *store, const char *name,
                          struct fx_err *err);
/* Saves 'vm', every VIF of its NICs (from 't') and the pools' counters,
 * deleting VIF 'drop_vif' (0: none), in one transaction. */
int mstore_save_vm(struct store *store, const struct mstore_tables *t,
                   const struct vm *vm, uint32_t drop_vif,
                   struct fx_err *err);
/* Deletes 'vm' and its VIFs in one transaction. */
int mstore_forget_vm(struct store *store, const struct vm *vm,
                     struct fx_err *err);

#endif
