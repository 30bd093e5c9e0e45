/* store_rec: the records of the store: checking them, binding them to the
 * cached statements, and decoding rows back at load. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "fx_util.h"
#include "store_priv.h"

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

void
store_mac_format(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
             mac[2], mac[3], mac[4], mac[5]);
}

int
store_mac_parse(const char *s, uint8_t mac[6])
{
    unsigned int b[6];
    int end = 0;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3],
               &b[4], &b[5], &end) != 6 || end != 17 || s[end]) {
        return -EINVAL;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = (uint8_t) b[i];
    }
    return 0;
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
        if (vlans[i] < 1 || vlans[i] > 4094) {
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
    store_mac_format(v->mac, mac);
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

int
store_put_vm(struct store *s, const struct store_vm *vm,
             struct fx_err *err)
{
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
    snprintf(what, sizeof what, "vm '%s'", vm->name);
    store_bind_text(st, 1, vm->name);
    store_bind_text(st, 2, vm->host);
    sqlite3_bind_int64(st, 3, (int64_t) vm->memory_mib);
    sqlite3_bind_int64(st, 4, (int64_t) vm->reservation_mib);
    sqlite3_bind_int64(st, 5, vm->directpath);
    store_bind_text(st, 6, vm->state);
    sqlite3_bind_int64(st, 7, vm->features);
    sqlite3_bind_int64(st, 8, vm->snapshots);
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
        || store_col_u(st, 7, UINT32_MAX, &snaps)) {
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
        && store_mac_parse(mac, v.mac) == 0
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

/* Decodes the single counters row, or zeros when none was ever put. */
static int
store_load_counters(struct store *s, const struct store_callbacks *cb,
                    void *arg, struct fx_err *err)
{
    sqlite3_stmt *st = s->stmt[ST_COUNTERS_LOAD];
    struct store_counters c = { 0, 0 };
    uint64_t id = 0;
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW && (store_col_u(st, 0, UINT32_MAX, &id)
                             || store_col_u(st, 1, (1ull << 48) - 1,
                                            &c.next_mac))) {
        rc = SQLITE_CORRUPT;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return fx_err_set(err, -EIO, "state file '%s': counters do not "
                          "decode", store_path(s));
    }
    c.next_vif_id = (uint32_t) id;
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
                                   cb->migration, cb, arg, err))) {
        rc = store_load_counters(s, cb, arg, err);
    }
    store_exec(s, ST_COMMIT, NULL);
    return rc;
}
