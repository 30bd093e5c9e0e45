/* vmfex_store: what ties fabricd's tables (hosts, profiles, VIFs, VMs) to
 * the durable store (store.h).  Loading at start rebuilds the tables from
 * the store; the save functions write one change, as one transaction,
 * before the handler that made it replies.  Without a store (fabricd run
 * without --state) every save is a no-op. */
#ifndef VMFEX_STORE_H
#define VMFEX_STORE_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;
struct host_info;
struct profile;
struct store;
struct vm;
struct vmfex;

/* Gives 'vx' the store (borrowed, must outlive it; NULL: in memory only)
 * and loads it: hosts come back down, then profiles, VMs and VIFs, with
 * the pools' counters.  Fails with the store's one-line message. */
int vmfex_store_load(struct vmfex *, struct store *, struct fx_err *err);

/* The store 'vx' writes to, or NULL. */
struct store *vmfex_store(const struct vmfex *);

/* Saves host 'info' as configuration (never its liveness). */
int vmfex_save_host(struct vmfex *, const struct host_info *info,
                    struct fx_err *err);
int vmfex_save_profile(struct vmfex *, const struct profile *p,
                       struct fx_err *err);
int vmfex_forget_profile(struct vmfex *, const char *name,
                         struct fx_err *err);
/* Saves 'vm', every VIF of its NICs and the pools' counters, deleting VIF
 * 'drop_vif' (0: none), in one transaction. */
int vmfex_save_vm(struct vmfex *, const struct vm *vm, uint32_t drop_vif,
                  struct fx_err *err);
/* Deletes VM 'vm' and its VIFs in one transaction. */
int vmfex_forget_vm(struct vmfex *, const struct vm *vm, struct fx_err *err);

#endif
