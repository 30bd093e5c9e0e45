#include "profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "fx_name.h"

const char *const profile_qos_classes[] = {
    "best-effort", "bronze", "silver", "gold", "platinum", "fc", NULL,
};

/* Profiles are few (tens) and listed in name order, so a sorted array is
 * both the index and the listing. */
struct profile_table {
    struct profile **v;     /* Owned, sorted by name. */
    size_t n, cap;
};

struct profile_table *
profile_table_create(void)
{
    struct profile_table *t = calloc(1, sizeof *t);

    if (!t) {
        abort();
    }
    return t;
}

void
profile_table_destroy(struct profile_table *t)
{
    if (!t) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i]);
    }
    free(t->v);
    free(t);
}

/* Returns the index of 'name', or of where it would go with '*found' 0. */
static size_t
profile_index(const struct profile_table *t, const char *name, int *found)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(t->v[mid]->name, name);

        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = 0;
    return lo;
}

static int
profile_qos_valid(const char *qos)
{
    for (const char *const *q = profile_qos_classes; *q; q++) {
        if (!strcmp(*q, qos)) {
            return 1;
        }
    }
    return 0;
}

static int
profile_check(const struct profile *p, struct fx_err *err)
{
    if (!fx_name_valid(p->name)) {
        return fx_err_set(err, -EINVAL, "invalid profile name '%s': use "
                          "1-39 characters of A-Z a-z 0-9 . _ -", p->name);
    }
    if (p->n_vlans == 0 || p->n_vlans > PROFILE_MAX_VLANS) {
        return fx_err_set(err, -EINVAL, "a profile has 1-%d VLANs, not %u",
                          PROFILE_MAX_VLANS, p->n_vlans);
    }
    for (uint32_t i = 0; i < p->n_vlans; i++) {
        if (p->vlans[i] < FX_LIMITS_VLAN_MIN
            || p->vlans[i] > FX_LIMITS_VLAN_MAX) {
            return fx_err_set(err, -EINVAL, "VLAN %u out of range 1-4094",
                              p->vlans[i]);
        }
    }
    if (p->max_ports > PROFILE_MAX_PORTS_LIMIT) {
        return fx_err_set(err, -EINVAL, "max ports %u out of range 1-%d",
                          p->max_ports, PROFILE_MAX_PORTS_LIMIT);
    }
    if (p->qos[0] && !profile_qos_valid(p->qos)) {
        return fx_err_set(err, -EINVAL, "unknown QoS class '%s': use "
                          "best-effort, bronze, silver, gold, platinum or "
                          "fc", p->qos);
    }
    return 0;
}

int
profile_create(struct profile_table *t, const struct profile *rec,
               struct fx_err *err)
{
    struct profile *p;
    size_t i;
    int found;

    if (profile_check(rec, err)) {
        return err ? err->code : -EINVAL;
    }
    i = profile_index(t, rec->name, &found);
    if (found) {
        return fx_err_set(err, -EEXIST, "profile '%s' already exists",
                          rec->name);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 8;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
    }
    p = malloc(sizeof *p);
    if (!p || !t->v) {
        abort();
    }
    *p = *rec;
    p->ports_used = 0;
    p->max_ports = p->max_ports ? p->max_ports : PROFILE_MAX_PORTS_DEFAULT;
    if (!p->qos[0]) {
        snprintf(p->qos, sizeof p->qos, "best-effort");
    }
    memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof *t->v);
    t->v[i] = p;
    t->n++;
    return 0;
}

static struct profile *
profile_get(const struct profile_table *t, const char *name,
            struct fx_err *err)
{
    int found;
    size_t i = profile_index(t, name, &found);

    if (!found) {
        fx_err_set(err, -ENOENT, "profile '%s' not found", name);
        return NULL;
    }
    return t->v[i];
}

int
profile_delete(struct profile_table *t, const char *name, struct fx_err *err)
{
    struct profile *p = profile_get(t, name, err);
    int found;
    size_t i;

    if (!p) {
        return -ENOENT;
    }
    if (p->ports_used) {
        return fx_err_refuse(err, -EBUSY, "profileInUse",
                             "profile '%s' is in use by %u VIF%s",
                          name, p->ports_used, p->ports_used == 1 ? "" : "s");
    }
    i = profile_index(t, name, &found);
    free(p);
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
    t->n--;
    return 0;
}

const struct profile *
profile_find(const struct profile_table *t, const char *name)
{
    return profile_get(t, name, NULL);
}

size_t
profile_count(const struct profile_table *t)
{
    return t->n;
}

const struct profile *
profile_at(const struct profile_table *t, size_t i)
{
    return i < t->n ? t->v[i] : NULL;
}

int
profile_port_take(struct profile_table *t, const char *name,
                  struct fx_err *err)
{
    struct profile *p = profile_get(t, name, err);

    if (!p) {
        return -ENOENT;
    }
    if (p->ports_used >= p->max_ports) {
        return fx_err_set(err, -ENOSPC, "profile '%s' has all its %u ports "
                          "in use", name, p->max_ports);
    }
    p->ports_used++;
    return 0;
}

void
profile_port_put(struct profile_table *t, const char *name)
{
    struct profile *p = profile_get(t, name, NULL);

    if (p && p->ports_used) {
        p->ports_used--;
    }
}
