/* store: see store.h.  The state file, its checks, its lock and its
 * transactions; then the records: checking them, binding them to the
 * cached statements, and decoding rows back at load. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <inttypes.h>
#include <sqlite3.h>

#include "fx_err.h"
#include "fx_phist.h"
#include "fx_time.h"
#include "fx_mac.h"
#include "fx_fault.h"
#include "fx_limits.h"
#include "fx_name.h"

/* The prepared statements the store keeps, one per operation: user data
 * only ever reaches SQLite through sqlite3_bind_*(). */
enum store_stmt {
    ST_HOST_PUT, ST_HOST_DEL, ST_HOST_LOAD,
    ST_PROFILE_PUT, ST_PROFILE_DEL, ST_PROFILE_LOAD,
    ST_VM_PUT, ST_VM_DEL, ST_VM_LOAD,
    ST_VIF_PUT, ST_VIF_DEL, ST_VIF_LOAD,
    ST_MIG_PUT, ST_MIG_DEL, ST_MIG_LOAD,
    ST_MIG_DONE_PUT, ST_MIG_DONE_PRUNE, ST_MIG_DONE_LOAD,
    ST_COUNTERS_PUT, ST_FLOW_ID_PUT, ST_COUNTERS_LOAD, ST_VIF_MAX_ID,
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
    struct fx_phist writes;        /* Durable writes' latency, seconds. */
};

/* Bounds of the write latency histogram: an fsync costs 0.1-10 ms. */
static const double store_write_bounds[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 1,
};

/* "FXFS" in the SQLite header's application_id: a SQLite file of some
 * other program left in DIR is refused instead of being written into. */
#define STORE_APP_ID 0x46584653

/* A migration's id is handed out once its row is stored (migcoord saves
 * the job before it answers), and the row goes when the job ends: the
 * counter is raised in the same statement that inserts the row, so that
 * no stored or deleted migration's id can come again, and no extra write
 * is needed for it. */
#define STORE_MIGRATION_ID_TRIGGER \
    "CREATE TRIGGER migration_id AFTER INSERT ON migration BEGIN" \
    " INSERT INTO counters (id, next_vif_id, next_mac, next_migration_id)" \
    " VALUES (1, 0, 0, NEW.id + 1) ON CONFLICT (id) DO UPDATE SET" \
    " next_migration_id = max(next_migration_id, NEW.id + 1); END;"

/* Finished migrations: no reference to their VM or hosts, which may go
 * while their history stays. */
#define STORE_MIGRATION_DONE_TABLE \
    "CREATE TABLE IF NOT EXISTS migration_done (" \
    " id INTEGER PRIMARY KEY, record BLOB NOT NULL);"

/* Foreign keys make the store refuse a VIF on an unknown host or profile,
 * so a bug above cannot leave dangling references to be found at restart.
 * The indexes on the referring columns keep a parent's delete from
 * scanning every VIF. */
static const char store_schema[] =
    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE host ("
    " name TEXT PRIMARY KEY, rpc_addr TEXT NOT NULL,"
    " hypervisor TEXT NOT NULL, hypervisor_version TEXT NOT NULL,"
    " adapter_model TEXT NOT NULL, vnics_total INTEGER NOT NULL);"
    "CREATE TABLE profile ("
    " name TEXT PRIMARY KEY, vlans TEXT NOT NULL,"
    " max_ports INTEGER NOT NULL, qos TEXT NOT NULL,"
    " high_performance INTEGER NOT NULL);"
    "CREATE TABLE vm ("
    " name TEXT PRIMARY KEY, host TEXT NOT NULL REFERENCES host(name),"
    " memory_mib INTEGER NOT NULL, reservation_mib INTEGER NOT NULL,"
    " directpath INTEGER NOT NULL, state TEXT NOT NULL,"
    " features INTEGER NOT NULL, snapshots INTEGER NOT NULL,"
    " expired_nics TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE vif ("
    " id INTEGER PRIMARY KEY, host TEXT NOT NULL REFERENCES host(name),"
    " vnic INTEGER NOT NULL,"
    " profile TEXT NOT NULL REFERENCES profile(name),"
    " mac TEXT NOT NULL UNIQUE, state TEXT NOT NULL,"
    " vm TEXT REFERENCES vm(name) ON DELETE SET NULL,"
    " mode TEXT NOT NULL, mode_reason TEXT NOT NULL,"
    " UNIQUE (host, vnic));"
    "CREATE INDEX vif_profile ON vif(profile);"
    "CREATE INDEX vif_vm ON vif(vm);"
    "CREATE INDEX vm_host ON vm(host);"
    "CREATE TABLE migration ("
    " id INTEGER PRIMARY KEY,"
    " vm TEXT NOT NULL UNIQUE REFERENCES vm(name) ON DELETE CASCADE,"
    " src TEXT NOT NULL REFERENCES host(name),"
    " dst TEXT NOT NULL REFERENCES host(name),"
    " phase TEXT NOT NULL, state TEXT NOT NULL,"
    " started_at_ms INTEGER NOT NULL);"
    "CREATE INDEX migration_src ON migration(src);"
    "CREATE INDEX migration_dst ON migration(dst);"
    STORE_MIGRATION_DONE_TABLE
    "CREATE TABLE counters ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " next_vif_id INTEGER NOT NULL, next_mac INTEGER NOT NULL,"
    " next_flow_id INTEGER NOT NULL DEFAULT 0,"
    " next_migration_id INTEGER NOT NULL DEFAULT 0);"
    STORE_MIGRATION_ID_TRIGGER;

/* Upserts, not INSERT OR REPLACE: REPLACE deletes the old row first, which
 * would fire ON DELETE actions (unbinding a VM's VIFs on a mere update). */
static const char *const store_sql[ST__N] = {
    [ST_HOST_PUT] =
        "INSERT INTO host VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        " ON CONFLICT (name) DO UPDATE SET rpc_addr = ?2,"
        " hypervisor = ?3, hypervisor_version = ?4, adapter_model = ?5,"
        " vnics_total = ?6",
    [ST_HOST_DEL] = "DELETE FROM host WHERE name = ?1",
    [ST_HOST_LOAD] = "SELECT name, rpc_addr, hypervisor,"
        " hypervisor_version, adapter_model, vnics_total FROM host",
    [ST_PROFILE_PUT] =
        "INSERT INTO profile VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT (name) DO UPDATE SET vlans = ?2, max_ports = ?3,"
        " qos = ?4, high_performance = ?5",
    [ST_PROFILE_DEL] = "DELETE FROM profile WHERE name = ?1",
    [ST_PROFILE_LOAD] = "SELECT name, vlans, max_ports, qos,"
        " high_performance FROM profile",
    [ST_VM_PUT] =
        "INSERT INTO vm VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT (name) DO UPDATE SET host = ?2, memory_mib = ?3,"
        " reservation_mib = ?4, directpath = ?5, state = ?6, features = ?7,"
        " snapshots = ?8, expired_nics = ?9",
    [ST_VM_DEL] = "DELETE FROM vm WHERE name = ?1",
    [ST_VM_LOAD] = "SELECT name, host, memory_mib, reservation_mib,"
        " directpath, state, features, snapshots, expired_nics FROM vm",
    [ST_VIF_PUT] =
        "INSERT INTO vif VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT (id) DO UPDATE SET host = ?2, vnic = ?3,"
        " profile = ?4, mac = ?5, state = ?6, vm = ?7, mode = ?8,"
        " mode_reason = ?9",
    [ST_VIF_DEL] = "DELETE FROM vif WHERE id = ?1",
    [ST_VIF_LOAD] = "SELECT id, host, vnic, profile, mac, state, vm, mode,"
        " mode_reason FROM vif ORDER BY id",
    [ST_MIG_PUT] =
        "INSERT INTO migration VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        " ON CONFLICT (id) DO UPDATE SET vm = ?2, src = ?3, dst = ?4,"
        " phase = ?5, state = ?6, started_at_ms = ?7",
    [ST_MIG_DEL] = "DELETE FROM migration WHERE id = ?1",
    [ST_MIG_LOAD] = "SELECT id, vm, src, dst, phase, state, started_at_ms"
        " FROM migration ORDER BY id",
    [ST_MIG_DONE_PUT] =
        "INSERT INTO migration_done VALUES (?1, ?2)"
        " ON CONFLICT (id) DO UPDATE SET record = ?2",
    [ST_MIG_DONE_PRUNE] = "DELETE FROM migration_done WHERE id NOT IN"
        " (SELECT id FROM migration_done ORDER BY id DESC LIMIT ?1)",
    [ST_MIG_DONE_LOAD] = "SELECT id, record FROM migration_done ORDER BY id",
    [ST_COUNTERS_PUT] =
        "INSERT INTO counters (id, next_vif_id, next_mac) VALUES (1, ?1, ?2)"
        " ON CONFLICT (id) DO UPDATE SET next_vif_id = ?1, next_mac = ?2",
    [ST_FLOW_ID_PUT] =
        "INSERT INTO counters (id, next_vif_id, next_mac, next_flow_id)"
        " VALUES (1, 0, 0, ?1) ON CONFLICT (id) DO UPDATE SET"
        " next_flow_id = ?1",
    [ST_COUNTERS_LOAD] = "SELECT next_vif_id, next_mac, next_flow_id,"
        " next_migration_id FROM counters",
    [ST_VIF_MAX_ID] = "SELECT max(id) FROM vif",
    /* IMMEDIATE takes the write lock at once, so a batch cannot fail
     * half-way for want of it. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/* Fills 'err' with what SQLite said about the state file. */
static int
store_db_err(const struct store *s, int code, const char *doing,
             struct fx_err *err)
{
    return fx_err_set(err, code, "state file '%s': %s: %s", s->path, doing,
                      sqlite3_errmsg(s->db));
}

/* The one message for a file that is not a sound store of ours: it names
 * the file, says why, and says we will not start empty. */
static int
store_refuse(const struct store *s, const char *why, struct fx_err *err)
{
    static const char noise[] = "*** in database main *** ";

    if (strncmp(why, noise, sizeof noise - 1) == 0) {
        why += sizeof noise - 1;
    }
    return fx_err_set(err, -EIO, "state file '%s' is damaged or not a "
                      "fexsim store (%.72s); refusing to start with empty "
                      "state (restore or remove it)", s->path, why);
}

/* ---- The lock. ---- */

/* SQLite's own locks do not keep a second writer out of a WAL database
 * (two connections may both write, one after the other), and two fabricds
 * on one state would each believe its own memory.  So DIR holds a lock
 * file, flock()ed for the life of the store and released by the kernel
 * when the process dies, even by SIGKILL; it holds our pid for the
 * message. */
static int
store_lock(struct store *s, struct fx_err *err)
{
    char path[4096], pid[32] = "";
    ssize_t n;

    snprintf(path, sizeof path, "%s/%s", s->dir, STORE_LOCK_FILE);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        return fx_err_set(err, -errno, "lock file '%s': %s", path,
                          strerror(errno));
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;

        n = pread(s->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK) {
            return fx_err_set(err, -EBUSY, "state dir '%s' is in use by "
                              "another fabricd (pid %s, lock '%s')",
                              s->dir, pid[0] ? pid : "unknown", path);
        }
        return fx_err_set(err, -e, "lock file '%s': %s", path,
                          strerror(e));
    }
    n = snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
    if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, pid, n, 0) != n) {
        return fx_err_set(err, -errno, "lock file '%s': %s", path,
                          strerror(errno));
    }
    return 0;
}

/* ---- Checks of an existing file. ---- */

static uint32_t
store_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}

/* The checksum of the WAL header (SQLite's file format, section 4.1),
 * over its first 24 bytes as 32-bit words in the byte order the magic
 * number names. */
static void
store_wal_cksum(const uint8_t hdr[32], bool big, uint32_t s[2])
{
    s[0] = s[1] = 0;
    for (int i = 0; i < 24; i += 8) {
        const uint8_t *p = hdr + i;
        uint32_t x0 = big ? store_be32(p)
                          : (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16
                            | (uint32_t) p[1] << 8 | p[0];
        uint32_t x1 = big ? store_be32(p + 4)
                          : (uint32_t) p[7] << 24 | (uint32_t) p[6] << 16
                            | (uint32_t) p[5] << 8 | p[4];

        s[0] += x0 + s[1];
        s[1] += x1 + s[0];
    }
}

/* SQLite treats a WAL whose header does not check out as empty, and would
 * silently drop the committed changes it holds: exactly the "start empty"
 * we refuse.  A kill -9 leaves a WAL with a sound header (SQLite writes it
 * before any frame, and a 32-byte header sits in one sector), so a bad one
 * means damage.  Frames after the header are SQLite's to judge: a torn
 * last frame is a normal crash. */
static int
store_check_wal(const struct store *s, struct fx_err *err)
{
    char path[4096];
    uint8_t hdr[32];
    uint32_t magic, sum[2];
    struct stat st;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "%s-wal", s->path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : fx_err_set(err, -errno,
            "state file '%s': %s", path, strerror(errno));
    }
    if (fstat(fd, &st) < 0 || st.st_size == 0) {
        close(fd);
        return 0;              /* No WAL to lose: SQLite starts a new one. */
    }
    n = read(fd, hdr, sizeof hdr);
    close(fd);
    magic = n == (ssize_t) sizeof hdr ? store_be32(hdr) : 0;
    if ((magic & ~1u) != 0x377f0682) {
        return fx_err_set(err, -EIO, "state file '%s': write-ahead log "
                          "'%s' is damaged (bad header); refusing to start "
                          "without the changes it holds", s->path, path);
    }
    store_wal_cksum(hdr, magic & 1, sum);
    if (sum[0] != store_be32(hdr + 24) || sum[1] != store_be32(hdr + 28)) {
        return fx_err_set(err, -EIO, "state file '%s': write-ahead log "
                          "'%s' is damaged (header checksum); refusing to "
                          "start without the changes it holds", s->path,
                          path);
    }
    return 0;
}

/* Returns the single integer 'sql' yields, or a negative errno. */
static int
store_query_int(struct store *s, const char *sql, int64_t *vp,
                struct fx_err *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *vp = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) {
        char why[160];

        snprintf(why, sizeof why, "%s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return store_refuse(s, why, err);
    }
    sqlite3_finalize(st);
    return 0;
}

/* quick_check reads every page and checks each b-tree's structure, which
 * catches damaged and truncated files; it skips integrity_check's
 * index-against-table cross-check, which costs several times more at
 * 10,000 VIFs (see bench_store) and finds damage only SQLite bugs make. */
static int
store_check_pages(struct store *s, struct fx_err *err)
{
    sqlite3_stmt *st;
    char why[160] = "";
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st,
                                NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *res = (const char *) sqlite3_column_text(st, 0);

        if (res && strcmp(res, "ok") == 0) {
            rc = SQLITE_OK;
        } else {
            const char *p = res && !strncmp(res, "***", 3)
                            ? strstr(res + 3, "***") : NULL;

            /* "*** in database main ***\nPage 3: ...": the page matters. */
            p = p ? p + 3 + strspn(p + 3, " \n") : res;
            snprintf(why, sizeof why, "quick_check: %s", p ? p : "?");
        }
    } else {
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(s->db));
    }
    sqlite3_finalize(st);
    return why[0] ? store_refuse(s, why, err) : 0;
}

/* Version 2 to 3: a column for the VMs' NICs that have no VIF (there
 * were none before), and the next flow and migration ids (none was kept
 * before: 0, and migcoord starts past the migrations stored).  3 to 4:
 * the finished migrations' table.  Each step one transaction. */
static const char *const store_upgrades[] = {
    [2] =
        "BEGIN IMMEDIATE;"
        "ALTER TABLE vm ADD COLUMN expired_nics TEXT NOT NULL DEFAULT '';"
        "ALTER TABLE counters ADD COLUMN"
        " next_flow_id INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE counters ADD COLUMN"
        " next_migration_id INTEGER NOT NULL DEFAULT 0;"
        STORE_MIGRATION_ID_TRIGGER
        "INSERT INTO schema_version VALUES (3);"
        "COMMIT;",
    [3] =
        "BEGIN IMMEDIATE;"
        STORE_MIGRATION_DONE_TABLE
        "INSERT INTO schema_version VALUES (4);"
        "COMMIT;",
};

/* Upgrades a file of schema 'version' to STORE_SCHEMA_VERSION. */
static int
store_upgrade(struct store *s, int64_t version, struct fx_err *err)
{
    for (; version < STORE_SCHEMA_VERSION; version++) {
        if (sqlite3_exec(s->db, store_upgrades[version], NULL, NULL, NULL)
            != SQLITE_OK) {
            char doing[48];
            int rc;

            snprintf(doing, sizeof doing, "upgrading the schema to "
                     "version %d", (int) version + 1);
            rc = store_db_err(s, -EIO, doing, err);
            sqlite3_exec(s->db, "ROLLBACK;", NULL, NULL, NULL);
            return rc;
        }
    }
    return 0;
}

/* Refuses a file of another program or another schema version. */
static int
store_check_version(struct store *s, struct fx_err *err)
{
    int64_t app, version = 0;
    int rc = store_query_int(s, "PRAGMA application_id", &app, err);

    if (rc) {
        return rc;
    }
    if (app != STORE_APP_ID) {
        return store_refuse(s, "not written by fabricd", err);
    }
    rc = store_query_int(s, "SELECT max(version) FROM schema_version",
                         &version, err);
    if (rc) {
        return rc;
    }
    if (version >= STORE_SCHEMA_OLDEST
        && version < STORE_SCHEMA_VERSION) {
        return store_upgrade(s, version, err);
    }
    if (version != STORE_SCHEMA_VERSION) {
        return fx_err_set(err, -EPROTO, "state file '%s' has schema "
                          "version %lld but this fabricd knows only "
                          "version %d; refusing to start (use the fabricd "
                          "that wrote it)", s->path, (long long) version,
                          STORE_SCHEMA_VERSION);
    }
    return 0;
}

/* ---- Opening. ---- */

/* Opens 'path' and checks every page before anything else reads it. */
static int
store_connect(struct store *s, const char *path, int flags,
              struct fx_err *err)
{
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);

    if (rc != SQLITE_OK) {
        return fx_err_set(err, -EIO, "state file '%s': %s", path,
                          s->db ? sqlite3_errmsg(s->db)
                                : sqlite3_errstr(rc));
    }
    sqlite3_extended_result_codes(s->db, 1);
    return store_check_pages(s, err);
}

/* WAL: a commit appends to one file instead of rewriting pages in place
 * through a rollback journal, so a durable change costs one fsync, and
 * a crash at any point leaves either the whole commit or none.
 * synchronous=FULL: the WAL is fsynced at every commit, so a change is on
 * disk when store_put_*() returns and may be acknowledged; NORMAL would
 * sync only at checkpoints, which survives a kill -9 of fabricd (the page
 * cache is the kernel's) but not a power cut or a kernel crash. */
static int
store_setup(struct store *s, struct fx_err *err)
{
    int64_t unused;
    int rc = store_query_int(s, "PRAGMA journal_mode = WAL", &unused, err);

    if (rc == 0 && sqlite3_exec(s->db, "PRAGMA synchronous = FULL;"
                                "PRAGMA foreign_keys = ON;", NULL, NULL,
                                NULL) != SQLITE_OK) {
        rc = store_db_err(s, -EIO, "setting it up", err);
    }
    return rc;
}

/* Creates an empty store as DIR/fabric.db.new and renames it into place,
 * so that a fabric.db exists only once it holds a whole schema: an empty
 * or schema-less fabric.db is then damage, never "first start". */
static int
store_create(struct store *s, struct fx_err *err)
{
    char tmp[4096], sql[128];
    static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
    int rc, fd;

    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        snprintf(tmp, sizeof tmp, "%s.new%s", s->path, sfx[i]);
        unlink(tmp);
    }
    snprintf(tmp, sizeof tmp, "%s.new", s->path);
    rc = store_connect(s, tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                       err);
    if (rc == 0) {
        rc = store_setup(s, err);
    }
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d;"
             "INSERT INTO schema_version VALUES (%d);", STORE_APP_ID,
             STORE_SCHEMA_VERSION);
    if (rc == 0 && (sqlite3_exec(s->db, "BEGIN;", NULL, NULL, NULL)
                    || sqlite3_exec(s->db, store_schema, NULL, NULL, NULL)
                    || sqlite3_exec(s->db, sql, NULL, NULL, NULL)
                    || sqlite3_exec(s->db, "COMMIT;", NULL, NULL, NULL))) {
        rc = store_db_err(s, -EIO, "creating the schema", err);
    }
    /* Closing checkpoints the WAL into the file and syncs it. */
    sqlite3_close(s->db);
    s->db = NULL;
    if (rc == 0 && rename(tmp, s->path) < 0) {
        rc = fx_err_set(err, -errno, "state file '%s': %s", s->path,
                        strerror(errno));
    }
    fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);       /* The rename is durable too. */
        close(fd);
    }
    return rc;
}

static int
store_prepare_all(struct store *s, struct fx_err *err)
{
    for (int i = 0; i < ST__N; i++) {
        if (sqlite3_prepare_v3(s->db, store_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            char why[160];

            snprintf(why, sizeof why, "schema: %s", sqlite3_errmsg(s->db));
            return store_refuse(s, why, err);
        }
    }
    return 0;
}

/* Opens DIR/fabric.db, which must exist, and checks it before use. */
static int
store_open_existing(struct store *s, struct fx_err *err)
{
    struct stat st;
    int rc;

    if (stat(s->path, &st) == 0 && st.st_size == 0) {
        return store_refuse(s, "the file is empty", err);
    }
    rc = store_check_wal(s, err);
    if (rc == 0) {
        rc = store_connect(s, s->path, SQLITE_OPEN_READWRITE, err);
    }
    if (rc == 0) {
        rc = store_check_version(s, err);
    }
    if (rc == 0) {
        rc = store_setup(s, err);
    }
    if (rc == 0) {
        rc = store_prepare_all(s, err);
    }
    return rc;
}

static int
store_mkdir(const char *dir, struct fx_err *err)
{
    struct stat st;

    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        return fx_err_set(err, -errno, "state dir '%s': %s", dir,
                          strerror(errno));
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        return fx_err_set(err, -ENOTDIR, "state dir '%s' is not a "
                          "directory", dir);
    }
    return 0;
}

int
store_open(const char *dir, struct store **storep, struct fx_err *err)
{
    struct store *s = calloc(1, sizeof *s);
    int rc;

    *storep = NULL;
    if (!s) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    s->lock_fd = -1;
    fx_phist_init(&s->writes, store_write_bounds,
                  sizeof store_write_bounds / sizeof *store_write_bounds);
    s->dir = strdup(dir);
    if (!s->dir || asprintf(&s->path, "%s/%s", dir, STORE_DB_FILE) < 0) {
        s->path = NULL;
        store_close(s);
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    rc = store_mkdir(dir, err);
    if (rc == 0) {
        rc = store_lock(s, err);
    }
    /* Only a file that is surely absent is created: on any other error
     * the open below says what is wrong, and nothing is overwritten. */
    if (rc == 0 && access(s->path, F_OK) < 0 && errno == ENOENT) {
        rc = store_create(s, err);
    }
    if (rc == 0) {
        rc = store_open_existing(s, err);
    }
    if (rc) {
        store_close(s);
        return rc;
    }
    *storep = s;
    return 0;
}

void
store_close(struct store *s)
{
    if (!s) {
        return;
    }
    if (s->in_batch) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (int i = 0; i < ST__N; i++) {
        sqlite3_finalize(s->stmt[i]);
    }
    sqlite3_close(s->db);
    if (s->lock_fd >= 0) {
        close(s->lock_fd);       /* Releases the flock. */
    }
    free(s->path);
    free(s->dir);
    free(s);
}

int
store_set_durable(struct store *s, bool durable, struct fx_err *err)
{
    int rc = sqlite3_exec(s->db, durable ? "PRAGMA synchronous = FULL"
                                         : "PRAGMA synchronous = NORMAL",
                          NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : store_db_err(s, -EIO, "set synchronous",
                                              err);
}

const char *
store_path(const struct store *s)
{
    return s->path;
}

/* ---- Statements and transactions. ---- */

/* Runs statement 'which' of the cache, which takes no parameters. */
static int
store_exec(struct store *s, enum store_stmt which, struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[which];
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return store_db_err(s, -EIO, store_sql[which], err);
    }
    return 0;
}

/* Runs the change 'st' (bound by the caller) to completion and resets it.
 * 'what' names the object for messages ("vif 17").  'is_del' selects how a
 * foreign-key failure reads: a put names a missing object (-ENOENT), a
 * delete an object still in use (-EBUSY).  A delete that changed no row
 * returns -ENOENT. */
static int
store_change(struct store *s, sqlite3_stmt *st, bool is_del,
             const char *what, struct fx_err *err)
{
    int rc;

    if (fx_fault_nospace()) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return fx_err_set(err, -ENOSPC, "state file '%s': %s: database or "
                          "disk is full", s->path, what);
    }
    if (s->in_batch) {
        rc = sqlite3_step(st);
    } else {
        uint64_t t0 = fx_time_now_us();

        rc = sqlite3_step(st);          /* Its own transaction: durable. */
        fx_phist_observe(&s->writes, (double) (fx_time_now_us() - t0) / 1e6);
    }

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE) {
        if (is_del && sqlite3_changes(s->db) == 0) {
            return fx_err_set(err, -ENOENT, "%s not found", what);
        }
        return 0;
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return is_del
            ? fx_err_set(err, -EBUSY, "%s is still in use", what)
            : fx_err_set(err, -ENOENT, "%s refers to a host, profile or "
                         "VM that is not stored", what);
    }
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        return fx_err_set(err, -EEXIST, "%s: %s", what,
                          sqlite3_errmsg(s->db));
    }
    return store_db_err(s, rc == SQLITE_FULL ? -ENOSPC : -EIO, what, err);
}

int
store_begin(struct store *s, struct fx_err *err)
{
    int rc;

    if (s->in_batch) {
        return fx_err_set(err, -EALREADY, "a batch is already open");
    }
    rc = store_exec(s, ST_BEGIN, err);
    s->in_batch = rc == 0;
    return rc;
}

int
store_commit(struct store *s, struct fx_err *err)
{
    uint64_t t0 = fx_time_now_us();
    int rc;

    if (!s->in_batch) {
        return fx_err_set(err, -EINVAL, "no batch is open");
    }
    rc = store_exec(s, ST_COMMIT, err);
    fx_phist_observe(&s->writes, (double) (fx_time_now_us() - t0) / 1e6);
    if (rc) {
        /* A failed COMMIT (disk full, I/O error) must not leave the batch
         * half-open: undo it, and the caller sees nothing was stored. */
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    s->in_batch = false;
    return rc;
}

int
store_rollback(struct store *s, struct fx_err *err)
{
    if (!s->in_batch) {
        return fx_err_set(err, -EINVAL, "no batch is open");
    }
    s->in_batch = false;
    return store_exec(s, ST_ROLLBACK, err);
}

/* ---- The records ---- */

static const char *const store_mode_names[] = {
    [STORE_VIF_EMULATED] = "emulated",
    [STORE_VIF_HIGH_PERFORMANCE] = "high-performance",
};

static const char *const store_phase_names[] = {
    [STORE_MIG_BEGIN] = "begin",
    [STORE_MIG_PREPARE] = "prepare",
    [STORE_MIG_PERFORM] = "perform",
    [STORE_MIG_FINISH] = "finish",
    [STORE_MIG_CONFIRM] = "confirm",
};

#define STORE_N(a) (sizeof (a) / sizeof (a)[0])

const char *
store_vif_mode_name(enum store_vif_mode m)
{
    return (size_t) m < STORE_N(store_mode_names) ? store_mode_names[m]
                                                   : "?";
}

const char *
store_mig_phase_name(enum store_mig_phase p)
{
    return (size_t) p < STORE_N(store_phase_names) ? store_phase_names[p]
                                                    : "?";
}

/* Returns the index of 'name' in 'names', or -1. */
static int
store_lookup(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], name) == 0) {
            return (int) i;
        }
    }
    return -1;
}

/* ---- VLAN lists: "10,20,4094" in the file, readable with sqlite3. ---- */

static int
store_vlans_check(const uint16_t *vlans, size_t n, struct fx_err *err)
{
    if (n > STORE_VLANS_MAX) {
        return fx_err_set(err, -EINVAL, "%zu VLANs, more than %d", n,
                          STORE_VLANS_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if (vlans[i] < FX_LIMITS_VLAN_MIN || vlans[i] > FX_LIMITS_VLAN_MAX) {
            return fx_err_set(err, -EINVAL, "VLAN %u is not in 1-4094",
                              vlans[i]);
        }
        for (size_t j = 0; j < i; j++) {
            if (vlans[j] == vlans[i]) {
                return fx_err_set(err, -EINVAL, "VLAN %u is listed twice",
                                  vlans[i]);
            }
        }
    }
    return 0;
}

/* Writes the list into 'buf', which holds STORE_VLANS_MAX * 5 bytes. */
static void
store_vlans_format(const uint16_t *vlans, size_t n, char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && len < size; i++) {
        len += snprintf(buf + len, size - len, "%s%u", i ? "," : "",
                        vlans[i]);
    }
}

static int
store_vlans_parse(const char *s, struct store_profile *p,
                  struct fx_err *err)
{
    p->n_vlans = 0;
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);

        if (end == s || (*end && *end != ',')
            || p->n_vlans == STORE_VLANS_MAX || v > 4094) {
            return fx_err_set(err, -EINVAL, "bad VLAN list");
        }
        p->vlans[p->n_vlans++] = (uint16_t) v;
        s = *end ? end + 1 : end;
    }
    return store_vlans_check(p->vlans, p->n_vlans, err);
}

/* ---- Checks before a put. ---- */

/* True if 'field' of 'size' bytes holds a NUL-terminated string. */
#define STORE_STR_OK(field) (memchr((field), '\0', sizeof (field)) != NULL)

static int
store_name_check(const char *what, const char *name, struct fx_err *err)
{
    if (!fx_name_valid(name)) {
        return fx_err_set(err, -EINVAL, "%s name '%.40s' is not valid "
                          "(1-39 of A-Z a-z 0-9 . _ -)", what, name);
    }
    return 0;
}

static int
store_host_check(const struct store_host *h, struct fx_err *err)
{
    if (!STORE_STR_OK(h->rpc_addr) || !STORE_STR_OK(h->hypervisor)
        || !STORE_STR_OK(h->hypervisor_version)
        || !STORE_STR_OK(h->adapter_model)) {
        return fx_err_set(err, -EINVAL, "host: a field is not terminated");
    }
    return store_name_check("host", h->name, err);
}

static int
store_vif_check(const struct store_vif *v, struct fx_err *err)
{
    if (v->id == 0) {
        return fx_err_set(err, -EINVAL, "vif id 0 is not valid");
    }
    if ((size_t) v->mode >= STORE_N(store_mode_names)) {
        return fx_err_set(err, -EINVAL, "vif %" PRIu32 ": mode %d is "
                          "unknown", v->id, (int) v->mode);
    }
    if (!STORE_STR_OK(v->state) || !STORE_STR_OK(v->mode_reason)
        || (v->vm[0] && store_name_check("vm", v->vm, err))) {
        return fx_err_set(err, -EINVAL, "vif %" PRIu32 ": bad state, VM "
                          "or reason", v->id);
    }
    if (store_name_check("host", v->host, err)
        || store_name_check("profile", v->profile, err)) {
        return fx_err_wrap(err, "vif %" PRIu32, v->id);
    }
    return 0;
}

static int
store_mig_check(const struct store_migration *m, struct fx_err *err)
{
    if (m->id == 0) {
        return fx_err_set(err, -EINVAL, "migration id 0 is not valid");
    }
    if ((size_t) m->phase >= STORE_N(store_phase_names)
        || !STORE_STR_OK(m->state)) {
        return fx_err_set(err, -EINVAL, "migration %" PRIu32 ": bad phase "
                          "or state", m->id);
    }
    if (store_name_check("vm", m->vm, err)
        || store_name_check("host", m->src, err)
        || store_name_check("host", m->dst, err)) {
        return fx_err_wrap(err, "migration %" PRIu32, m->id);
    }
    return 0;
}

/* ---- Puts and deletes. ---- */

static void
store_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int
store_del_by_name(struct store *s, enum store_stmt which, const char *kind,
                  const char *name, struct fx_err *err)
{
    char what[64];

    snprintf(what, sizeof what, "%s '%.40s'", kind, name);
    store_bind_text(s->stmt[which], 1, name);
    return store_change(s, s->stmt[which], true, what, err);
}

static int
store_del_by_id(struct store *s, enum store_stmt which, const char *kind,
                uint32_t id, struct fx_err *err)
{
    char what[64];

    snprintf(what, sizeof what, "%s %" PRIu32, kind, id);
    sqlite3_bind_int64(s->stmt[which], 1, id);
    return store_change(s, s->stmt[which], true, what, err);
}

int
store_put_host(struct store *s, const struct store_host *h,
               struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[ST_HOST_PUT];
    char what[64];
    int rc = store_host_check(h, err);

    if (rc) {
        return rc;
    }
    snprintf(what, sizeof what, "host '%s'", h->name);
    store_bind_text(st, 1, h->name);
    store_bind_text(st, 2, h->rpc_addr);
    store_bind_text(st, 3, h->hypervisor);
    store_bind_text(st, 4, h->hypervisor_version);
    store_bind_text(st, 5, h->adapter_model);
    sqlite3_bind_int64(st, 6, h->vnics_total);
    return store_change(s, st, false, what, err);
}

int
store_del_host(struct store *s, const char *name, struct fx_err *err)
{
    return store_del_by_name(s, ST_HOST_DEL, "host", name, err);
}

int
store_put_profile(struct store *s, const struct store_profile *p,
                  struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[ST_PROFILE_PUT];
    char vlans[STORE_VLANS_MAX * 5 + 1], what[64];
    int rc = store_name_check("profile", p->name, err);

    if (rc == 0 && (rc = store_vlans_check(p->vlans, p->n_vlans, err))) {
        fx_err_wrap(err, "profile '%s'", p->name);
    }
    if (rc == 0 && !STORE_STR_OK(p->qos)) {
        rc = fx_err_set(err, -EINVAL, "profile '%s': bad QoS", p->name);
    }
    if (rc) {
        return rc;
    }
    snprintf(what, sizeof what, "profile '%s'", p->name);
    store_vlans_format(p->vlans, p->n_vlans, vlans, sizeof vlans);
    store_bind_text(st, 1, p->name);
    store_bind_text(st, 2, vlans);
    sqlite3_bind_int64(st, 3, p->max_ports);
    store_bind_text(st, 4, p->qos);
    sqlite3_bind_int(st, 5, p->high_performance);
    return store_change(s, st, false, what, err);
}

int
store_del_profile(struct store *s, const char *name, struct fx_err *err)
{
    return store_del_by_name(s, ST_PROFILE_DEL, "profile", name, err);
}

int
store_put_vif(struct store *s, const struct store_vif *v,
              struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[ST_VIF_PUT];
    char mac[18], what[32];
    int rc = store_vif_check(v, err);

    if (rc) {
        return rc;
    }
    snprintf(what, sizeof what, "vif %" PRIu32, v->id);
    fx_mac_format(v->mac, mac);
    sqlite3_bind_int64(st, 1, v->id);
    store_bind_text(st, 2, v->host);
    sqlite3_bind_int64(st, 3, v->vnic);
    store_bind_text(st, 4, v->profile);
    store_bind_text(st, 5, mac);
    store_bind_text(st, 6, v->state);
    if (v->vm[0]) {
        store_bind_text(st, 7, v->vm);
    }                            /* else NULL: unattached. */
    store_bind_text(st, 8, store_mode_names[v->mode]);
    store_bind_text(st, 9, v->mode_reason);
    return store_change(s, st, false, what, err);
}

int
store_del_vif(struct store *s, uint32_t id, struct fx_err *err)
{
    return store_del_by_id(s, ST_VIF_DEL, "vif", id, err);
}

/* The VM's NICs without a VIF as "PROFILE:DP;..." (DP 0 or 1) into 'buf'
 * of 'size' bytes; -EINVAL for a bad profile name or too many. */
static int
store_nics_format(const struct store_vm *vm, char *buf, size_t size,
                  struct fx_err *err)
{
    size_t len = 0;

    buf[0] = '\0';
    if (vm->n_expired > STORE_NICS_MAX) {
        return fx_err_set(err, -EINVAL, "vm '%s': %zu NICs without a VIF",
                          vm->name, vm->n_expired);
    }
    for (size_t i = 0; i < vm->n_expired; i++) {
        const struct store_nic *n = &vm->expired[i];

        if (!fx_name_valid(n->profile)) {
            return fx_err_set(err, -EINVAL, "vm '%s': bad profile of a NIC",
                              vm->name);
        }
        len += (size_t) snprintf(buf + len, size - len, "%s%s:%d",
                                 i ? ";" : "", n->profile, n->directpath);
    }
    return 0;
}

/* Parses what store_nics_format() wrote into 'vm'.  -EIO if it does not
 * decode. */
static int
store_nics_parse(const char *s, struct store_vm *vm)
{
    vm->n_expired = 0;
    while (*s) {
        struct store_nic *n = &vm->expired[vm->n_expired];
        size_t len = strcspn(s, ":");

        if (vm->n_expired == STORE_NICS_MAX || len == 0
            || len >= sizeof n->profile || s[len] != ':'
            || (s[len + 1] != '0' && s[len + 1] != '1')
            || (s[len + 2] != ';' && s[len + 2] != '\0')) {
            return -EIO;
        }
        memcpy(n->profile, s, len);
        n->profile[len] = '\0';
        n->directpath = s[len + 1] == '1';
        if (!fx_name_valid(n->profile)) {
            return -EIO;
        }
        vm->n_expired++;
        s += len + 2 + (s[len + 2] == ';');
    }
    return 0;
}

int
store_put_vm(struct store *s, const struct store_vm *vm,
             struct fx_err *err)
{
    char nics[STORE_NICS_MAX * (STORE_NAME_SIZE + 3) + 1];
    sqlite3_stmt *st = s->stmt[ST_VM_PUT];
    char what[64];
    int rc = store_name_check("vm", vm->name, err);

    if (rc || (rc = store_name_check("host", vm->host, err))) {
        return rc;
    }
    if (!STORE_STR_OK(vm->state) || vm->memory_mib > INT64_MAX
        || (vm->features & ~(uint32_t) STORE_VM_FEATURES)
        || vm->reservation_mib > INT64_MAX) {
        return fx_err_set(err, -EINVAL, "vm '%s': bad state, memory or "
                          "features", vm->name);
    }
    if ((rc = store_nics_format(vm, nics, sizeof nics, err))) {
        return rc;
    }
    snprintf(what, sizeof what, "vm '%s'", vm->name);
    store_bind_text(st, 1, vm->name);
    store_bind_text(st, 2, vm->host);
    sqlite3_bind_int64(st, 3, (int64_t) vm->memory_mib);
    sqlite3_bind_int64(st, 4, (int64_t) vm->reservation_mib);
    sqlite3_bind_int64(st, 5, vm->directpath);
    store_bind_text(st, 6, vm->state);
    sqlite3_bind_int64(st, 7, vm->features);
    sqlite3_bind_int64(st, 8, vm->snapshots);
    store_bind_text(st, 9, nics);
    return store_change(s, st, false, what, err);
}

int
store_del_vm(struct store *s, const char *name, struct fx_err *err)
{
    return store_del_by_name(s, ST_VM_DEL, "vm", name, err);
}

int
store_put_migration(struct store *s, const struct store_migration *m,
                    struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[ST_MIG_PUT];
    char what[32];
    int rc = store_mig_check(m, err);

    if (rc) {
        return rc;
    }
    snprintf(what, sizeof what, "migration %" PRIu32, m->id);
    sqlite3_bind_int64(st, 1, m->id);
    store_bind_text(st, 2, m->vm);
    store_bind_text(st, 3, m->src);
    store_bind_text(st, 4, m->dst);
    store_bind_text(st, 5, store_phase_names[m->phase]);
    store_bind_text(st, 6, m->state);
    sqlite3_bind_int64(st, 7, (int64_t) m->started_at_ms);
    return store_change(s, st, false, what, err);
}

int
store_del_migration(struct store *s, uint32_t id, struct fx_err *err)
{
    return store_del_by_id(s, ST_MIG_DEL, "migration", id, err);
}

/* The three changes of store_end_migration(), in the caller's
 * transaction. */
static int
store_end_migration_in(struct store *s, const struct store_migration_done *d,
                       size_t keep, struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[ST_MIG_DONE_PUT];
    char what[48];
    int rc = store_del_migration(s, d->id, err);

    if (rc && rc != -ENOENT) {
        return rc;
    }
    snprintf(what, sizeof what, "finished migration %" PRIu32, d->id);
    sqlite3_bind_int64(st, 1, d->id);
    sqlite3_bind_blob(st, 2, d->size ? d->record : (const void *) "",
                      (int) d->size, SQLITE_STATIC);
    rc = store_change(s, st, false, what, err);
    if (rc) {
        return rc;
    }
    st = s->stmt[ST_MIG_DONE_PRUNE];
    sqlite3_bind_int64(st, 1, (int64_t) keep);
    return store_change(s, st, false, what, err);
}

int
store_end_migration(struct store *s, const struct store_migration_done *d,
                    size_t keep, struct fx_err *err)
{
    bool own = !s->in_batch;
    int rc;

    if (d->id == 0 || d->size > STORE_MIG_RECORD_MAX || keep == 0) {
        return fx_err_set(err, -EINVAL, "finished migration %" PRIu32
                          ": no id, a record over %d bytes, or nothing "
                          "kept", d->id, STORE_MIG_RECORD_MAX);
    }
    if (own && (rc = store_begin(s, err))) {
        return rc;
    }
    rc = store_end_migration_in(s, d, keep, err);
    if (own) {
        if (rc) {
            store_rollback(s, NULL);
        } else {
            rc = store_commit(s, err);
        }
    }
    return rc;
}

int
store_put_counters(struct store *s, const struct store_counters *c,
                   struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[ST_COUNTERS_PUT];

    if (c->next_mac >> 48) {
        return fx_err_set(err, -EINVAL, "next MAC 0x%" PRIx64 " is more "
                          "than 48 bits", c->next_mac);
    }
    sqlite3_bind_int64(st, 1, c->next_vif_id);
    sqlite3_bind_int64(st, 2, (int64_t) c->next_mac);
    return store_change(s, st, false, "counters", err);
}

int
store_put_next_flow_id(struct store *s, uint32_t next, struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[ST_FLOW_ID_PUT];

    sqlite3_bind_int64(st, 1, next);
    return store_change(s, st, false, "next flow id", err);
}

/* ---- Load. ---- */

/* Copies text column 'col' into 'dst' of 'size' bytes; a NULL reads as
 * "".  Fails if it does not fit: a row we did not write. */
static int
store_col(sqlite3_stmt *st, int col, char *dst, size_t size)
{
    const char *t = (const char *) sqlite3_column_text(st, col);
    size_t len = t ? (size_t) sqlite3_column_bytes(st, col) : 0;

    if (len >= size) {
        return -1;
    }
    memcpy(dst, t ? t : "", len + 1);
    return 0;
}

/* Same for a name column, which must also be fx_name_valid(). */
static int
store_col_name(sqlite3_stmt *st, int col, char *dst)
{
    return store_col(st, col, dst, STORE_NAME_SIZE) || !fx_name_valid(dst)
           ? -1 : 0;
}

/* Reads an integer column into a field of at most 'max'. */
static int
store_col_u(sqlite3_stmt *st, int col, uint64_t max, uint64_t *vp)
{
    int64_t v = sqlite3_column_int64(st, col);

    if (sqlite3_column_type(st, col) != SQLITE_INTEGER || v < 0
        || (uint64_t) v > max) {
        return -1;
    }
    *vp = (uint64_t) v;
    return 0;
}

/* Each decoder fills its record from the row and calls its callback; a
 * row that does not decode returns -EIO. */
typedef int store_row_fn(struct store *, sqlite3_stmt *,
                         const struct store_callbacks *, void *arg,
                         struct fx_err *);

static int
store_row_host(struct store *s, sqlite3_stmt *st,
               const struct store_callbacks *cb, void *arg,
               struct fx_err *err)
{
    struct store_host h;
    uint64_t n;

    memset(&h, 0, sizeof h);  /* Whole records compare. */
    if (store_col_name(st, 0, h.name)
        || store_col(st, 1, h.rpc_addr, sizeof h.rpc_addr)
        || store_col(st, 2, h.hypervisor, sizeof h.hypervisor)
        || store_col(st, 3, h.hypervisor_version,
                     sizeof h.hypervisor_version)
        || store_col(st, 4, h.adapter_model, sizeof h.adapter_model)
        || store_col_u(st, 5, UINT32_MAX, &n)) {
        return fx_err_set(err, -EIO, "state file '%s': host row '%.40s' "
                          "does not decode", store_path(s),
                          sqlite3_column_text(st, 0));
    }
    h.vnics_total = (uint32_t) n;
    return cb->host(arg, &h, err);
}

static int
store_row_profile(struct store *s, sqlite3_stmt *st,
                  const struct store_callbacks *cb, void *arg,
                  struct fx_err *err)
{
    struct store_profile p;
    uint64_t max_ports, hp;

    memset(&p, 0, sizeof p);  /* Whole records compare. */
    if (store_col_name(st, 0, p.name)
        || store_vlans_parse((const char *) sqlite3_column_text(st, 1)
                             ? (const char *) sqlite3_column_text(st, 1)
                             : "x", &p, err)
        || store_col_u(st, 2, UINT32_MAX, &max_ports)
        || store_col(st, 3, p.qos, sizeof p.qos)
        || store_col_u(st, 4, 1, &hp)) {
        return fx_err_set(err, -EIO, "state file '%s': profile row "
                          "'%.40s' does not decode", store_path(s),
                          sqlite3_column_text(st, 0));
    }
    p.max_ports = (uint32_t) max_ports;
    p.high_performance = hp;
    return cb->profile(arg, &p, err);
}

static int
store_row_vm(struct store *s, sqlite3_stmt *st,
             const struct store_callbacks *cb, void *arg,
             struct fx_err *err)
{
    struct store_vm vm;
    uint64_t dp, features, snaps;

    memset(&vm, 0, sizeof vm);  /* Whole records compare. */
    if (store_col_name(st, 0, vm.name) || store_col_name(st, 1, vm.host)
        || store_col_u(st, 2, INT64_MAX, &vm.memory_mib)
        || store_col_u(st, 3, INT64_MAX, &vm.reservation_mib)
        || store_col_u(st, 4, UINT32_MAX, &dp)
        || store_col(st, 5, vm.state, sizeof vm.state)
        || store_col_u(st, 6, STORE_VM_FEATURES, &features)
        || store_col_u(st, 7, UINT32_MAX, &snaps)
        || !sqlite3_column_text(st, 8)
        || store_nics_parse((const char *) sqlite3_column_text(st, 8),
                            &vm)) {
        return fx_err_set(err, -EIO, "state file '%s': vm row '%.40s' "
                          "does not decode", store_path(s),
                          sqlite3_column_text(st, 0));
    }
    vm.directpath = (uint32_t) dp;
    vm.features = (uint32_t) features;
    vm.snapshots = (uint32_t) snaps;
    return cb->vm(arg, &vm, err);
}

static int
store_row_vif(struct store *s, sqlite3_stmt *st,
              const struct store_callbacks *cb, void *arg,
              struct fx_err *err)
{
    struct store_vif v;
    uint64_t id, vnic;
    char mac[18], mode[24];
    int m = -1;

    memset(&v, 0, sizeof v);  /* Whole records compare. */
    if (store_col_u(st, 0, UINT32_MAX, &id) == 0
        && store_col_name(st, 1, v.host) == 0
        && store_col_u(st, 2, UINT32_MAX, &vnic) == 0
        && store_col_name(st, 3, v.profile) == 0
        && store_col(st, 4, mac, sizeof mac) == 0
        && fx_mac_parse(mac, v.mac) == 0
        && store_col(st, 5, v.state, sizeof v.state) == 0
        && store_col(st, 6, v.vm, sizeof v.vm) == 0
        && store_col(st, 7, mode, sizeof mode) == 0
        && store_col(st, 8, v.mode_reason, sizeof v.mode_reason) == 0) {
        m = store_lookup(store_mode_names, STORE_N(store_mode_names), mode);
    }
    if (m < 0) {
        return fx_err_set(err, -EIO, "state file '%s': vif row %lld does "
                          "not decode", store_path(s),
                          (long long) sqlite3_column_int64(st, 0));
    }
    v.id = (uint32_t) id;
    v.vnic = (uint32_t) vnic;
    v.mode = (enum store_vif_mode) m;
    return cb->vif(arg, &v, err);
}

static int
store_row_mig(struct store *s, sqlite3_stmt *st,
              const struct store_callbacks *cb, void *arg,
              struct fx_err *err)
{
    struct store_migration m;
    uint64_t id;
    char phase[16];
    int p = -1;

    memset(&m, 0, sizeof m);  /* Whole records compare. */
    if (store_col_u(st, 0, UINT32_MAX, &id) == 0
        && store_col_name(st, 1, m.vm) == 0
        && store_col_name(st, 2, m.src) == 0
        && store_col_name(st, 3, m.dst) == 0
        && store_col(st, 4, phase, sizeof phase) == 0
        && store_col(st, 5, m.state, sizeof m.state) == 0
        && store_col_u(st, 6, INT64_MAX, &m.started_at_ms) == 0) {
        p = store_lookup(store_phase_names, STORE_N(store_phase_names),
                         phase);
    }
    if (p < 0) {
        return fx_err_set(err, -EIO, "state file '%s': migration row %lld "
                          "does not decode", store_path(s),
                          (long long) sqlite3_column_int64(st, 0));
    }
    m.id = (uint32_t) id;
    m.phase = (enum store_mig_phase) p;
    return cb->migration(arg, &m, err);
}

static int
store_row_mig_done(struct store *s, sqlite3_stmt *st,
                   const struct store_callbacks *cb, void *arg,
                   struct fx_err *err)
{
    struct store_migration_done d = { 0, NULL, 0 };
    uint64_t id;
    int n = sqlite3_column_bytes(st, 1);

    d.record = sqlite3_column_blob(st, 1);
    if (store_col_u(st, 0, UINT32_MAX, &id) || id == 0
        || sqlite3_column_type(st, 1) != SQLITE_BLOB
        || n > STORE_MIG_RECORD_MAX) {
        return fx_err_set(err, -EIO, "state file '%s': finished migration "
                          "row %lld does not decode", store_path(s),
                          (long long) sqlite3_column_int64(st, 0));
    }
    d.id = (uint32_t) id;
    d.size = (size_t) n;
    return cb->migration_done(arg, &d, err);
}

/* Decodes the single counters row, or zeros when none was ever put. */
static int
store_load_counters(struct store *s, const struct store_callbacks *cb,
                    void *arg, struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[ST_COUNTERS_LOAD];
    struct store_counters c = { 0, 0, 0, 0 };
    uint64_t id = 0, flow = 0, mig = 0;
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW && (store_col_u(st, 0, UINT32_MAX, &id)
                             || store_col_u(st, 1, (1ull << 48) - 1,
                                            &c.next_mac)
                             || store_col_u(st, 2, UINT32_MAX, &flow)
                             || store_col_u(st, 3, UINT32_MAX, &mig))) {
        rc = SQLITE_CORRUPT;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return fx_err_set(err, -EIO, "state file '%s': counters do not "
                          "decode", store_path(s));
    }
    c.next_vif_id = (uint32_t) id;
    c.next_flow_id = (uint32_t) flow;
    c.next_migration_id = (uint32_t) mig;
    /* A VIF id is never handed out twice, even if a caller stored a VIF
     * without the counter that allocated it. */
    st = s->stmt[ST_VIF_MAX_ID];
    if (sqlite3_step(st) == SQLITE_ROW
        && sqlite3_column_type(st, 0) == SQLITE_INTEGER
        && (uint64_t) sqlite3_column_int64(st, 0) >= c.next_vif_id
        && sqlite3_column_int64(st, 0) < UINT32_MAX) {
        c.next_vif_id = (uint32_t) sqlite3_column_int64(st, 0) + 1;
    }
    sqlite3_reset(st);
    return cb->counters ? cb->counters(arg, &c, err) : 0;
}

/* Streams one table; 'enabled' says whether its callback is set. */
static int
store_load_table(struct store *s, enum store_stmt which, store_row_fn *row,
                 bool enabled, const struct store_callbacks *cb, void *arg,
                 struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[which];
    int rc = 0, step;

    if (!enabled) {
        return 0;
    }
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = row(s, st, cb, arg, err);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        rc = fx_err_set(err, -EIO, "state file '%s': reading: %s",
                        store_path(s), sqlite3_errmsg(s->db));
    }
    sqlite3_reset(st);
    return rc;
}

int
store_load(struct store *s, const struct store_callbacks *cb, void *arg,
           struct fx_err *err)
{
    int rc;

    if (s->in_batch) {
        return fx_err_set(err, -EBUSY, "load inside a batch");
    }
    /* One read transaction: the tables come from one snapshot. */
    rc = store_exec(s, ST_BEGIN_READ, err);
    if (rc) {
        return rc;
    }
    if (!(rc = store_load_table(s, ST_HOST_LOAD, store_row_host,
                                cb->host, cb, arg, err))
        && !(rc = store_load_table(s, ST_PROFILE_LOAD, store_row_profile,
                                   cb->profile, cb, arg, err))
        && !(rc = store_load_table(s, ST_VM_LOAD, store_row_vm, cb->vm, cb,
                                   arg, err))
        && !(rc = store_load_table(s, ST_VIF_LOAD, store_row_vif, cb->vif,
                                   cb, arg, err))
        && !(rc = store_load_table(s, ST_MIG_LOAD, store_row_mig,
                                   cb->migration, cb, arg, err))
        && !(rc = store_load_table(s, ST_MIG_DONE_LOAD, store_row_mig_done,
                                   cb->migration_done, cb, arg, err))) {
        rc = store_load_counters(s, cb, arg, err);
    }
    store_exec(s, ST_COMMIT, NULL);
    return rc;
}

const struct fx_phist *
store_write_latency(const struct store *s)
{
    return &s->writes;
}
