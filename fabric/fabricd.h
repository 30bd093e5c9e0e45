/* fabricd: the fabric manager.  A struct fabricd owns every subsystem
 * (store, model, agents, dplane, flows, migcoord; docs/DESIGN.md) and
 * the RPC services over them; main() only parses options and runs it. */
#ifndef FABRICD_H
#define FABRICD_H

#include <stdint.h>

#include <event2/event.h>

#include "fx_daemon.h"
#include "fx_limits.h"

struct fx_err;
struct fabricd;

/* Data plane sizes: VIFs (the VIF pool's ids) and hosts (uplinks): as
 * many as registration takes (FX_LIMITS_MAX_HOSTS, which the host table
 * enforces), so a host that registers always gets an uplink.  The data
 * plane's memory for a host without an uplink is a few dozen bytes.
 * VIFs: a whole UCS domain of 320 blades (40 chassis of 8) with 16
 * VM NICs each is 5,120; twice 4,096, for room. */
#define FABRICD_MAX_VIFS 8192u
#define FABRICD_MAX_HOSTS ((uint32_t) FX_LIMITS_MAX_HOSTS)

struct fabricd_cfg {
    const char *listen;              /* HOST:PORT, port 0 = any free. */
    const char *addr_file;           /* Where to write the bound address;
                                      * NULL for none. */
    uint32_t heartbeat_interval_ms;  /* Told to agents at registration. */
    uint32_t heartbeat_timeout_ms;   /* Silence after which a host is
                                      * down. */
    const char *uplink_listen;       /* Data plane HOST:PORT (0 = any);
                                      * agents learn it by GetUplink. */
    const char *state_dir;           /* Durable state (store.h); NULL:
                                      * in memory only. */
    const char *flavor;              /* "kvm" (default), "vmware" or "failover": how
                                      * a passthrough vNIC migrates. */
    uint32_t events_keep;            /* Events kept for replay. */
    const char *http;                /* GET /metrics on HOST:PORT (0 =
                                      * any); NULL: no HTTP server. */
    const char *http_addr_file;      /* Where to write its bound address;
                                      * NULL for none. */
    uint32_t offline_retention_min;  /* VM lifecycle policy: minutes an
                                      * offline VIF is kept (1-7200). */
    struct fx_daemon_trust trust;    /* The lab secret, peer limits. */
};

/* Fills 'cfg' with the defaults. */
void fabricd_cfg_init(struct fabricd_cfg *cfg);

/* Creates the fabric manager on 'base' (borrowed) with 'cfg' (borrowed,
 * must outlive it).  Returns 0 and stores it in '*fdp', or a negative
 * errno with 'err' filled. */
int fabricd_create(struct event_base *base, const struct fabricd_cfg *cfg,
                   struct fabricd **fdp, struct fx_err *err);
/* Tears everything down in reverse order.  NULL is a no-op. */
void fabricd_destroy(struct fabricd *);

/* The address the RPC listener is bound to, owned by 'fd'. */
const char *fabricd_addr(const struct fabricd *);
/* The lab secret's key fingerprint ("none": loopback only), owned by
 * 'fd'. */
const char *fabricd_key_fp(const struct fabricd *);
/* The address the HTTP server is bound to, or NULL without --http. */
const char *fabricd_http_addr(const struct fabricd *);

#endif
