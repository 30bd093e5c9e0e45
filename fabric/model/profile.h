/* profile: port profiles, as UCSM keeps them for VM-FEX.
 *
 * A profile names the VLANs, QoS class and maximum of ports that every VIF
 * bound to it gets, and whether DirectPath (high-performance mode) is
 * allowed.  Records are plain structs, so a store can save them and give
 * them back to profile_create() on restart.  Pure module. */
#ifndef PROFILE_H
#define PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "fx_limits.h"

struct fx_err;

#define PROFILE_NAME_SIZE 40        /* IFLA_PORT_PROFILE's buffer. */
/* What the API promises (proto/fx_limits.h). */
#define PROFILE_MAX_VLANS FX_LIMITS_PROFILE_MAX_VLANS
#define PROFILE_MAX_PORTS_DEFAULT FX_LIMITS_PROFILE_MAX_PORTS_DEFAULT
#define PROFILE_MAX_PORTS_LIMIT FX_LIMITS_PROFILE_MAX_PORTS_LIMIT

struct profile {
    char name[PROFILE_NAME_SIZE];   /* 1-39 of [A-Za-z0-9._-]. */
    uint16_t vlans[PROFILE_MAX_VLANS];  /* Each 1-4094, no repeats. */
    uint32_t n_vlans;               /* At least 1. */
    uint32_t max_ports;             /* 1-4096 VIFs at once. */
    char qos[16];                   /* One of profile_qos_classes. */
    int high_performance;           /* Non-zero: DirectPath allowed and
                                     * keeps migration (VM-FEX). */
    uint32_t ports_used;            /* VIFs bound now; not saved: the VIF
                                     * table rebuilds it. */
};

/* The UCS QoS system classes, "best-effort" the default. */
extern const char *const profile_qos_classes[];

struct profile_table;

struct profile_table *profile_table_create(void);
/* Frees the table and its profiles.  NULL is a no-op. */
void profile_table_destroy(struct profile_table *);

/* Validates 'rec' (copied; ports_used ignored) and adds it.  An empty qos
 * means best-effort and max_ports 0 the default.  -EINVAL for a bad
 * field, -EEXIST for a taken name. */
int profile_create(struct profile_table *, const struct profile *rec,
                   struct fx_err *err);
/* Deletes profile 'name'.  -ENOENT, or -EBUSY while VIFs use it. */
int profile_delete(struct profile_table *, const char *name,
                   struct fx_err *err);
/* Returns profile 'name' (owned by the table, valid until it is
 * deleted), or NULL. */
const struct profile *profile_find(const struct profile_table *,
                                   const char *name);
size_t profile_count(const struct profile_table *);
/* The 'i'th profile in name order, owned by the table. */
const struct profile *profile_at(const struct profile_table *, size_t i);

/* Takes one port of profile 'name' for a new VIF: -ENOENT, or -ENOSPC
 * once max_ports are in use. */
int profile_port_take(struct profile_table *, const char *name,
                      struct fx_err *err);
/* Gives one back.  A no-op for an unknown profile or none in use. */
void profile_port_put(struct profile_table *, const char *name);

#endif
