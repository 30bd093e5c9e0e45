#include "vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "fx_name.h"

/* Kept sorted by name (strcmp): lookups are binary searches, listings
 * come out in a stable order, and a restart, which adds VMs in the store's
 * name order, only ever appends. */
struct vm_table {
    struct vm **v;
    size_t n, cap;
};

struct vm_table *
vm_table_create(void)
{
    struct vm_table *t = calloc(1, sizeof *t);

    if (!t) {
        abort();
    }
    return t;
}

void
vm_table_destroy(struct vm_table *t)
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

/* The first slot whose name is not below 'name'. */
static size_t
vm_lower_bound(const struct vm_table *t, const char *name)
{
    size_t lo = 0, hi = t->n;

    if (t->n && strcmp(t->v[t->n - 1]->name, name) < 0) {
        return t->n;     /* The restart's case: appending in order. */
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(t->v[mid]->name, name) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The slot of VM 'name', or t->n. */
static size_t
vm_index(const struct vm_table *t, const char *name)
{
    size_t i = vm_lower_bound(t, name);

    return i < t->n && !strcmp(t->v[i]->name, name) ? i : t->n;
}

int
vm_add(struct vm_table *t, const struct vm *rec, struct vm **vmp,
       struct fx_err *err)
{
    struct vm *vm;
    size_t at;

    if (!fx_name_valid(rec->name)) {
        return fx_err_set(err, -EINVAL, "invalid VM name '%s': use 1-39 "
                          "characters of A-Z a-z 0-9 . _ -", rec->name);
    }
    at = vm_lower_bound(t, rec->name);
    if (at < t->n && !strcmp(t->v[at]->name, rec->name)) {
        return fx_err_set(err, -EEXIST, "VM '%s' already exists", rec->name);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->v = realloc(t->v, t->cap * sizeof *t->v);
    }
    vm = malloc(sizeof *vm);
    if (!vm || !t->v) {
        abort();
    }
    *vm = *rec;
    memmove(&t->v[at + 1], &t->v[at], (t->n - at) * sizeof *t->v);
    t->v[at] = vm;
    t->n++;
    if (vmp) {
        *vmp = vm;
    }
    return 0;
}

int
vm_remove(struct vm_table *t, const char *name)
{
    size_t i = vm_index(t, name);

    if (i == t->n) {
        return -ENOENT;
    }
    free(t->v[i]);
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
    t->n--;
    return 0;
}

struct vm *
vm_find(const struct vm_table *t, const char *name, struct fx_err *err)
{
    size_t i = vm_index(t, name);

    if (i == t->n) {
        fx_err_set(err, -ENOENT, "VM '%s' not found", name);
        return NULL;
    }
    return t->v[i];
}

size_t
vm_count(const struct vm_table *t)
{
    return t->n;
}

struct vm *
vm_at(const struct vm_table *t, size_t i)
{
    return i < t->n ? t->v[i] : NULL;
}

struct vm_nic *
vm_nic_find(struct vm *vm, uint32_t vif)
{
    for (size_t i = 0; i < vm->n_nics; i++) {
        if (vm->nics[i].vif == vif) {
            return &vm->nics[i];
        }
    }
    return NULL;
}

int
vm_check_dirty_rate(uint64_t rate, struct fx_err *err)
{
    if (rate > VM_DIRTY_RATE_MAX) {
        return fx_err_set(err, -ERANGE, "dirty rate %llu is out of range "
                          "0-%u page writes/s", (unsigned long long) rate,
                          VM_DIRTY_RATE_MAX);
    }
    return 0;
}
