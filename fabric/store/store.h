/* store: fabricd's durable state under '--state DIR', in SQLite.
 *
 * One record struct per object the fabric must not forget: hosts (their
 * configuration, not their liveness), port profiles, VIFs, VM placement,
 * migrations in flight, and the allocation counters.  Every put or delete
 * is its own transaction and is durable (fsynced) when the call returns,
 * unless it is made between store_begin() and store_commit(), in which case
 * the whole batch becomes durable, or nothing of it, at store_commit().
 *
 * store_open() refuses, with one line naming the file, a state file that is
 * damaged, truncated, not a database, of an unknown schema version, or
 * already in use by another fabricd, rather than start with empty state.
 *
 * Strings in records are NUL-terminated and copied in and out; a record
 * passed to a callback is borrowed and valid only during the call.
 * Functions return 0 or a negative errno with 'err' (may be NULL) filled. */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fx_err;

/* Bumped when the schema changes; store_open() refuses any other but the
 * ones from STORE_SCHEMA_OLDEST, which it upgrades in place (2 -> 3: VMs
 * keep the NICs whose VIF the VM lifecycle policy removed; the next flow
 * and migration ids are kept; 3 -> 4: finished migrations are kept). */
#define STORE_SCHEMA_VERSION 4
#define STORE_SCHEMA_OLDEST 2

/* The state file inside DIR, and the lock file that keeps a second
 * fabricd out of DIR. */
#define STORE_DB_FILE "fabric.db"
#define STORE_LOCK_FILE "fabricd.lock"

/* VLANs per profile: not given by the sources (FACTS), so a parameter. */
#define STORE_VLANS_MAX 128

/* Names are fx_name_valid(): 1-39 characters. */
#define STORE_NAME_SIZE 40

/* NICs per VM. */
#define STORE_NICS_MAX 16

/* A host's configuration, as its agent registered it. */
struct store_host {
    char name[STORE_NAME_SIZE];
    char rpc_addr[64];             /* HOST:PORT the agent serves on. */
    char hypervisor[32];           /* libvirt driver type. */
    char hypervisor_version[32];
    char adapter_model[32];        /* e.g. "M81KR". */
    uint32_t vnics_total;          /* Dynamic vNICs the adapter offers. */
};

/* A port profile. */
struct store_profile {
    char name[STORE_NAME_SIZE];
    uint16_t vlans[STORE_VLANS_MAX]; /* Each 1-4094, no duplicates. */
    size_t n_vlans;
    uint32_t max_ports;            /* VIFs that may use it; 0: no limit. */
    char qos[32];                  /* QoS policy name; may be empty. */
    bool high_performance;         /* VMDirectPath (high-perf) mode. */
};

enum store_vif_mode {
    STORE_VIF_EMULATED = 0,        /* Traffic via the emulated vmxnet3. */
    STORE_VIF_HIGH_PERFORMANCE = 1 /* The guest drives the vNIC itself. */
};

/* A VIF: one VM NIC bound to a dynamic vNIC of a host's adapter. */
struct store_vif {
    uint32_t id;                   /* The vethernet number; not 0. */
    char host[STORE_NAME_SIZE];    /* Must be a stored host. */
    uint32_t vnic;                 /* Dynamic vNIC index on that host. */
    char profile[STORE_NAME_SIZE]; /* Must be a stored profile. */
    uint8_t mac[6];
    char state[16];                /* The VIF state's name, e.g. "up". */
    char vm[STORE_NAME_SIZE];      /* Stored VM, or "" when unattached. */
    enum store_vif_mode mode;
    char mode_reason[48];          /* Why not high-performance, e.g.
                                    * "vmNptIncompatibleGuest"; or "". */
};

/* A NIC of a VM without a VIF: the VM lifecycle policy removed it while
 * the VM was offline; a new one comes when the VM runs again. */
struct store_nic {
    char profile[STORE_NAME_SIZE]; /* Must be a stored profile. */
    bool directpath;
};

/* Where a VM runs, and what it holds there. */
struct store_vm {
    char name[STORE_NAME_SIZE];
    char host[STORE_NAME_SIZE];    /* Must be a stored host. */
    uint64_t memory_mib;
    uint64_t reservation_mib;      /* DirectPath needs it = memory. */
    uint32_t directpath;           /* DirectPath devices in use. */
    char state[16];                /* libvirt's name, e.g. "running". */
    uint32_t features;             /* STORE_VM_* bits enabled. */
    uint32_t snapshots;            /* Snapshots libvirt holds. */
    struct store_nic expired[STORE_NICS_MAX];  /* NICs without a VIF (its */
    size_t n_expired;              /* other NICs are its VIF rows). */
};

/* The VM features the DirectPath rules govern (struct store_vm). */
enum {
    STORE_VM_RECORD = 1 << 0,      /* Record/replay. */
    STORE_VM_FT = 1 << 1,          /* Fault tolerance. */
    STORE_VM_HA = 1 << 2,          /* High availability. */
    STORE_VM_FEATURES = (1 << 3) - 1,
};

/* libvirt's migration protocol v3, in order. */
enum store_mig_phase {
    STORE_MIG_BEGIN = 0,
    STORE_MIG_PREPARE,
    STORE_MIG_PERFORM,
    STORE_MIG_FINISH,
    STORE_MIG_CONFIRM,
};

/* A migration in flight: deleted when it ends, whatever the outcome. */
struct store_migration {
    uint32_t id;                   /* Not 0. */
    char vm[STORE_NAME_SIZE];      /* Must be a stored VM. */
    char src[STORE_NAME_SIZE];     /* Stored hosts. */
    char dst[STORE_NAME_SIZE];
    enum store_mig_phase phase;
    char state[16];                /* e.g. "active", "cancelling". */
    uint64_t started_at_ms;        /* Wall clock, ms since the epoch. */
};

/* A finished migration, kept for its history: the record is the job as
 * the API shows it (a packed fexsim.v1.Migration of proto/migflow.proto,
 * its final statistics and report), bytes the store does not read. */
struct store_migration_done {
    uint32_t id;                   /* Not 0. */
    const uint8_t *record;         /* Borrowed. */
    size_t size;                   /* At most STORE_MIG_RECORD_MAX. */
};
#define STORE_MIG_RECORD_MAX 4096

/* What the fabric allocates and must never hand out twice.  Each has
 * its owner, who saves it: the model the VIF ids and MACs
 * (store_put_counters()), flows the flow ids (store_put_next_flow_id()).
 * The migration ids need no put: storing a migration raises
 * next_migration_id past its id, in the same statement. */
struct store_counters {
    uint32_t next_vif_id;
    uint64_t next_mac;             /* Low 48 bits: the next MAC. */
    uint32_t next_flow_id;         /* 0: never saved. */
    uint32_t next_migration_id;    /* 0: no migration ever stored. */
};

struct store;

/* Opens the store in 'dir', creating 'dir' and an empty store on first use.
 * Takes the lock of 'dir' for as long as the store is open.  On success
 * stores the store in '*storep'; the caller owns it and closes it with
 * store_close().  Fails with -EBUSY if another process (or another
 * store_open() here) holds 'dir', -EPROTO for a schema version it does not
 * know, -EIO for a damaged or foreign state file. */
int store_open(const char *dir, struct store **storep, struct fx_err *err);

/* Closes 'store' (may be NULL), rolling back a batch left open, and
 * releases the lock of its dir. */
void store_close(struct store *store);

/* How durable each commit is: true (the default) fsyncs the WAL before
 * returning (SQLite's synchronous=FULL); false only before each
 * checkpoint (NORMAL), which a power loss can roll back.  fabricd never
 * sets false: it exists so that the benchmark can measure what the fsync
 * costs against a baseline in the same run. */
int store_set_durable(struct store *store, bool durable, struct fx_err *err);

/* The path of the state file, owned by 'store'. */
const char *store_path(const struct store *store);
/* The latency of its durable writes (a change outside a batch, a batch's
 * commit), in seconds, since it opened. */
struct fx_phist;
const struct fx_phist *store_write_latency(const struct store *store);

/* Batches: between store_begin() and store_commit() every put and delete
 * joins one transaction that becomes durable at store_commit() or is
 * undone by store_rollback().  A failed put or delete inside a batch
 * changes nothing and leaves the batch open: the caller then commits the
 * rest or rolls back.  Batches do not nest (-EALREADY). */
int store_begin(struct store *store, struct fx_err *err);
int store_commit(struct store *store, struct fx_err *err);
int store_rollback(struct store *store, struct fx_err *err);

/* Puts insert or replace by key (name or id).  A put that names an object
 * not stored (a VIF's host, profile or VM; a VM's host; a migration's VM or
 * hosts) fails with -ENOENT.  Deletes return -ENOENT for an unknown key and
 * -EBUSY for an object still referred to (a host with VIFs, a profile in
 * use); deleting a VM unbinds its VIFs (vm = "") and deletes its
 * migration. */
int store_put_host(struct store *, const struct store_host *,
                   struct fx_err *err);
int store_del_host(struct store *, const char *name, struct fx_err *err);
int store_put_profile(struct store *, const struct store_profile *,
                      struct fx_err *err);
int store_del_profile(struct store *, const char *name, struct fx_err *err);
int store_put_vif(struct store *, const struct store_vif *,
                  struct fx_err *err);
int store_del_vif(struct store *, uint32_t id, struct fx_err *err);
int store_put_vm(struct store *, const struct store_vm *,
                 struct fx_err *err);
int store_del_vm(struct store *, const char *name, struct fx_err *err);
int store_put_migration(struct store *, const struct store_migration *,
                        struct fx_err *err);
int store_del_migration(struct store *, uint32_t id, struct fx_err *err);
/* Migration 'd->id' is over: its row in flight goes (if any), its record
 * is kept, and only the newest 'keep' (> 0) records stay, all in one
 * transaction (or in the caller's batch). */
int store_end_migration(struct store *, const struct store_migration_done *d,
                        size_t keep, struct fx_err *err);
/* Saves the VIF and MAC pools (next_vif_id, next_mac) only. */
int store_put_counters(struct store *, const struct store_counters *,
                       struct fx_err *err);
/* Saves the next flow id: an id is handed out only once this returned 0,
 * so that a restarted fabricd never gives it to another flow. */
int store_put_next_flow_id(struct store *, uint32_t next,
                           struct fx_err *err);

/* One callback per table (each may be NULL to skip the table).  A callback
 * returns 0 to go on, or a negative errno (with 'err' filled) to stop the
 * load, which then returns that value. */
struct store_callbacks {
    int (*host)(void *arg, const struct store_host *, struct fx_err *);
    int (*profile)(void *arg, const struct store_profile *,
                   struct fx_err *);
    int (*vm)(void *arg, const struct store_vm *, struct fx_err *);
    int (*vif)(void *arg, const struct store_vif *, struct fx_err *);
    int (*migration)(void *arg, const struct store_migration *,
                     struct fx_err *);
    int (*counters)(void *arg, const struct store_counters *,
                    struct fx_err *);
    int (*migration_done)(void *arg, const struct store_migration_done *,
                          struct fx_err *);
};

/* Streams every stored object to 'cb' with 'arg', from one consistent
 * snapshot, parents before children: hosts, profiles, VMs, VIFs (by id),
 * migrations, finished migrations (by id), then the counters (once, each zero if never put; next_vif_id
 * is raised past the highest stored VIF id if it lags behind it).  A row that
 * does not decode (an unknown mode or phase, a bad MAC or VLAN) fails the
 * load with -EIO and a message naming the row. */
int store_load(struct store *, const struct store_callbacks *cb, void *arg,
               struct fx_err *err);

/* Names, for logs and the state file. */
const char *store_vif_mode_name(enum store_vif_mode);
const char *store_mig_phase_name(enum store_mig_phase);


#endif
