/* hostreg: the fabric's table of hosts and their liveness.
 *
 * Pure bookkeeping: no I/O, no clock of its own.  Every function that needs
 * the time takes 'now_ms' so that tests drive time by hand.  A host is
 * bound to the session (an opaque pointer, the agent's connection) that
 * registered it; it goes down when that session is lost or when it has not
 * beaten for the timeout, and comes back up when an agent registers it
 * again. */
#ifndef HOSTREG_H
#define HOSTREG_H

#include <stddef.h>
#include <stdint.h>

#include "fx_limits.h"

struct fx_err;

/* The most hosts a registry holds (proto/fx_limits.h): the data plane
 * has an uplink for each of them. */
#define HOSTREG_MAX_HOSTS FX_LIMITS_MAX_HOSTS

enum host_state { HOST_UP = 1, HOST_DOWN = 2 };

/* What an agent says about itself when it registers. */
struct host_info {
    char name[40];               /* 1-39 chars, see fx_name_valid(). */
    char rpc_addr[64];           /* HOST:PORT the agent serves on. */
    char hypervisor[32];         /* libvirt driver type. */
    char hypervisor_version[32];
    char adapter_model[32];
    uint32_t vnics_total;
    uint32_t vnics_free;
    uint32_t chassis;            /* Blade 'slot' of 'chassis' in the */
    uint32_t slot;               /* domain; 0, 0: not told.  Not stored:
                                  * a restored host has none until its
                                  * agent registers again. */
};

struct host {
    struct host_info info;
    enum host_state state;
    uint64_t last_seen_ms;       /* Last registration or heartbeat. */
    char down_reason[96];        /* Why it is down; empty when up. */
    void *session;               /* Borrowed; NULL while down. */
};

struct hostreg;

/* Creates an empty registry whose hosts go down after 'timeout_ms' without
 * a heartbeat.  Free it with hostreg_destroy(). */
struct hostreg *hostreg_create(uint32_t timeout_ms);
void hostreg_destroy(struct hostreg *);

/* Whether hostreg_register() would take 'info' for 'session': 0, or the
 * error it would return.  Changes nothing. */
int hostreg_check(const struct hostreg *, const struct host_info *info,
                  const void *session, struct fx_err *err);

/* Registers 'info' (copied) for 'session'.  A new name is added, unless
 * the registry holds HOSTREG_MAX_HOSTS already (-ENOSPC); a known name
 * that is down is taken over and goes up; a known name that is up under
 * another session is refused with -EEXIST.  On success stores the host
 * (owned by the registry) in '*hostp' if not NULL. */
int hostreg_register(struct hostreg *, const struct host_info *info,
                     void *session, uint64_t now_ms, struct host **hostp,
                     struct fx_err *err);

/* Adds host 'info' (copied) down, with 'reason', as restored from the
 * store at start: it comes up when its agent registers.  -EEXIST if
 * known, -EINVAL for a bad name, -ENOSPC beyond HOSTREG_MAX_HOSTS. */
int hostreg_restore(struct hostreg *, const struct host_info *info,
                    const char *reason, struct fx_err *err);

/* Records what the adapter of host 'name' says in a heartbeat: its
 * dynamic vNICs in all and free.  No-op for an unknown host. */
void hostreg_set_vnics(struct hostreg *, const char *name, uint32_t total,
                       uint32_t free_vnics);

/* Records a heartbeat of host 'name' over 'session'.  Returns -ENOENT for
 * an unknown host and -ESTALE when the host is down or bound to another
 * session: the agent must register again. */
int hostreg_heartbeat(struct hostreg *, const char *name, void *session,
                      uint64_t now_ms, struct fx_err *err);

/* Marks down the host bound to 'session', if any, with 'reason' (copied).
 * Returns that host or NULL. */
struct host *hostreg_session_lost(struct hostreg *, void *session,
                                  const char *reason);

/* Marks down every up host not seen for the timeout.  Calls 'cb' (may be
 * NULL) for each with 'arg'.  Returns how many went down. */
size_t hostreg_expire(struct hostreg *, uint64_t now_ms,
                      void (*cb)(struct host *, void *arg), void *arg);

/* Lookup and iteration.  Hosts are kept in registration order; pointers
 * stay valid until hostreg_destroy() (hosts are never removed). */
struct host *hostreg_find(const struct hostreg *, const char *name);
/* The position of host 'name' in registration order (what hostreg_at()
 * takes), or -1.  O(1). */
int64_t hostreg_index(const struct hostreg *, const char *name);
size_t hostreg_count(const struct hostreg *);
struct host *hostreg_at(const struct hostreg *, size_t i);

#endif
