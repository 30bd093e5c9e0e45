/* guestram: each guest running on this host, as the migration agent keeps
 * it: its RAM (migrate/guestmem.h), from its start or its arrival by
 * migration until it stops or leaves; the vNICs whose received frames
 * dirty that RAM; and its writer's dirty rate (MigAgent.SetDirtyRate).
 *
 * A table of at most GUESTRAM_MAX_GUESTS guests, one per VM name.  It
 * knows nothing of migrations: the migration agent decides when a guest's
 * RAM is created, handed over or dropped. */
#ifndef GUESTRAM_H
#define GUESTRAM_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct fx_err;
struct guestmem;
struct guestram;

#define GUESTRAM_MAX_GUESTS 256

/* Creates an empty table whose new guests' writers run on 'base'
 * (borrowed, must outlive it).  The caller frees it with
 * guestram_destroy(). */
struct guestram *guestram_create(struct event_base *base);
/* Frees the table and every guest's RAM.  NULL is a no-op. */
void guestram_destroy(struct guestram *);

/* The RAM of VM 'vm' (owned by the table, valid until the guest is
 * dropped or replaced), or NULL if it has none here. */
struct guestmem *guestram_find(const struct guestram *, const char *vm);

/* Gives VM 'vm' (copied) the RAM 'gm', whose ownership passes to the
 * table even on failure, replacing any it had (and its dirty rate, unless
 * it is the same RAM), with its vNICs 'vnics' ('n_vnics', copied).
 * Returns 0, or -ENOSPC with 'gm' freed and 'err' filled when
 * GUESTRAM_MAX_GUESTS run here already. */
int guestram_set(struct guestram *, const char *vm, struct guestmem *gm,
                 const uint32_t *vnics, size_t n_vnics, struct fx_err *err);

/* Stores in '*gmp' the RAM of VM 'vm' with 'mib' MiB (owned by the
 * table): the one it has, or a new one (all pages clean) if its size
 * differs or it has none; its vNICs become 'vnics' either way.  Returns 0
 * or a negative errno with 'err' filled. */
int guestram_get(struct guestram *, const char *vm, uint64_t mib,
                 const uint32_t *vnics, size_t n_vnics,
                 struct guestmem **gmp, struct fx_err *err);

/* Frees the RAM of VM 'vm', if it has some here. */
void guestram_drop(struct guestram *, const char *vm);

/* The dirty rate of VM 'vm''s writer in page writes/s, 0 if it has no RAM
 * here. */
uint64_t guestram_rate(const struct guestram *, const char *vm);
/* Sets the writer of VM 'vm' to 'rate' page writes/s on pages drawn from
 * 'seed'.  Returns 0, or -ENOENT if it has no RAM here. */
int guestram_set_rate(struct guestram *, const char *vm, uint64_t rate,
                      uint64_t seed);

/* A frame of 'len' bytes landed in the guest behind vNIC 'vnic': the page
 * of its rx buffer is dirty.  A vNIC of no guest here is ignored. */
void guestram_rx(struct guestram *, uint32_t vnic, size_t len);

#endif
