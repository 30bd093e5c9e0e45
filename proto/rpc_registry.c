/* rpc_registry: "Service.Method" -> handler. */
#include "rpc_registry.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "rpc_status.h"

/* A registry holds a few dozen methods and is searched once per request:
 * with a cheap call, a linear scan of strcmp() was a visible share of
 * the dispatcher's cost, so names are hashed into an open-addressing
 * table of entry indexes (rebuilt as methods are added, before serving). */
struct rpc_registry {
    struct rpc_registry_entry *entries;     /* Owned, 'n' of them. */
    size_t n;
    uint32_t *slots;                        /* Owned, 'n_slots' (a power
                                             * of two, over twice 'n'):
                                             * index + 1, 0 for empty. */
    size_t n_slots;
};

/* FNV-1a. */
static uint32_t
rpc_registry_hash(const char *name)
{
    uint32_t h = 2166136261u;

    for (; *name; name++) {
        h = (h ^ (uint8_t) *name) * 16777619u;
    }
    return h;
}

/* Rebuilds the table for the 'n' entries. */
static void
rpc_registry_rehash(struct rpc_registry *reg)
{
    size_t n_slots = 16;

    while (n_slots < 2 * reg->n + 2) {
        n_slots *= 2;
    }
    free(reg->slots);
    reg->slots = calloc(n_slots, sizeof *reg->slots);
    if (!reg->slots) {
        abort();
    }
    reg->n_slots = n_slots;
    for (size_t i = 0; i < reg->n; i++) {
        size_t k = rpc_registry_hash(reg->entries[i].name) & (n_slots - 1);

        while (reg->slots[k]) {
            k = (k + 1) & (n_slots - 1);
        }
        reg->slots[k] = (uint32_t) (i + 1);
    }
}

struct rpc_registry *
rpc_registry_create(void)
{
    struct rpc_registry *reg = calloc(1, sizeof *reg);

    if (!reg) {
        abort();
    }
    return reg;
}

void
rpc_registry_destroy(struct rpc_registry *reg)
{
    if (!reg) {
        return;
    }
    for (size_t i = 0; i < reg->n; i++) {
        free(reg->entries[i].name);
        free(reg->entries[i].answered);
    }
    free(reg->entries);
    free(reg->slots);
    free(reg);
}

const struct rpc_registry_entry *
rpc_registry_find(const struct rpc_registry *reg, const char *name)
{
    if (!reg || !reg->n_slots) {
        return NULL;
    }
    for (size_t k = rpc_registry_hash(name) & (reg->n_slots - 1);
         reg->slots[k]; k = (k + 1) & (reg->n_slots - 1)) {
        const struct rpc_registry_entry *e = &reg->entries[reg->slots[k] - 1];

        if (!strcmp(e->name, name)) {
            return e;
        }
    }
    return NULL;
}

int
rpc_registry_add(struct rpc_registry *reg,
                 const ProtobufCServiceDescriptor *desc,
                 const rpc_handler_fn handlers[], size_t n, void *ctx,
                 unsigned roles, struct fx_err *err)
{
    char name[128];

    if (n != desc->n_methods) {
        return fx_err_set(err, -EINVAL,
                          "service '%s' has %u methods but %zu handlers",
                          desc->short_name, desc->n_methods, n);
    }
    reg->entries = realloc(reg->entries,
                           (reg->n + n) * sizeof *reg->entries);
    if (!reg->entries) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s.%s", desc->short_name,
                 desc->methods[i].name);
        if (rpc_registry_find(reg, name)) {
            return fx_err_set(err, -EEXIST, "method '%s' registered twice",
                              name);
        }
        reg->entries[reg->n] = (struct rpc_registry_entry) {
            .name = strdup(name), .method = &desc->methods[i],
            .fn = handlers[i], .ctx = ctx, .roles = roles,
            .answered = calloc(RPC_N_STATUS, sizeof (uint64_t)),
        };
        if (!reg->entries[reg->n].name || !reg->entries[reg->n].answered) {
            abort();
        }
        reg->n++;
        rpc_registry_rehash(reg);
    }
    return 0;
}

int
rpc_registry_set_roles(struct rpc_registry *reg, const char *name,
                       unsigned roles, struct fx_err *err)
{
    for (size_t i = 0; i < reg->n; i++) {
        if (!strcmp(reg->entries[i].name, name)) {
            reg->entries[i].roles = roles;
            return 0;
        }
    }
    return fx_err_set(err, -ENOENT, "no method '%s' to restrict", name);
}

const struct rpc_registry_entry *
rpc_registry_entries(const struct rpc_registry *reg, size_t *np)
{
    *np = reg ? reg->n : 0;
    return reg ? reg->entries : NULL;
}
