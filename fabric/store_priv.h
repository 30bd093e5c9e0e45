/* store_priv.h: what store.c (the file, its checks and transactions) and
 * store_rec.c (the records) share.  Not for other modules. */
#ifndef STORE_PRIV_H
#define STORE_PRIV_H

#include <sqlite3.h>
#include <stdbool.h>

#include "store.h"

/* The prepared statements the store keeps, one per operation: user data
 * only ever reaches SQLite through sqlite3_bind_*(). */
enum store_stmt {
    ST_HOST_PUT, ST_HOST_DEL, ST_HOST_LOAD,
    ST_PROFILE_PUT, ST_PROFILE_DEL, ST_PROFILE_LOAD,
    ST_VM_PUT, ST_VM_DEL, ST_VM_LOAD,
    ST_VIF_PUT, ST_VIF_DEL, ST_VIF_LOAD,
    ST_MIG_PUT, ST_MIG_DEL, ST_MIG_LOAD,
    ST_COUNTERS_PUT, ST_COUNTERS_LOAD, ST_VIF_MAX_ID,
    ST_BEGIN, ST_BEGIN_READ, ST_COMMIT, ST_ROLLBACK,
    ST__N
};

struct store {
    sqlite3 *db;
    char *dir;                     /* Owned. */
    char *path;                    /* Owned: DIR/fabric.db. */
    int lock_fd;                   /* flock()ed DIR/fabricd.lock. */
    bool in_batch;                 /* Between store_begin() and commit. */
    sqlite3_stmt *stmt[ST__N];
};

/* Runs the change 'st' (bound by the caller) to completion and resets it.
 * 'what' names the object for messages ("vif 17").  'is_del' selects how a
 * foreign-key failure reads: a put names a missing object (-ENOENT), a
 * delete an object still in use (-EBUSY).  A delete that changed no row
 * returns -ENOENT. */
int store_change(struct store *, sqlite3_stmt *st, bool is_del,
                 const char *what, struct fx_err *err);

/* Runs 'stmt' of the store's cache with no parameters. */
int store_exec(struct store *, enum store_stmt, struct fx_err *err);

#endif
