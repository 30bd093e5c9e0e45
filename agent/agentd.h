/* agentd: the host agent's context.  Owns the hypervisor handle, the RPC
 * listener and the session with fabricd; main() only wires it. */
#ifndef AGENTD_H
#define AGENTD_H

#include <stdint.h>

#include <event2/event.h>

#include "fx_daemon.h"

struct fx_err;
struct agentd;

struct agentd_cfg {
    const char *host;            /* Host name, unique in the fabric. */
    const char *fabric;          /* fabricd's HOST:PORT. */
    const char *listen;          /* Our RPC address; port 0 = any free.
                                  * Page streams listen on its host. */
    uint16_t mig_port_first;     /* Page streams take the first free */
    uint16_t mig_port_last;      /* port of this range (0, 0: any). */
    const char *libvirt_uri;     /* Default test:///default. */
    const char *adapter_model;   /* VIC model reported, default M81KR. */
    uint32_t vnics;              /* Dynamic vNICs, default 128 (M81KR). */
    uint64_t memory_mib;         /* Host memory VMs reserve, 65536. */
    int iommu;                   /* 0: no passthrough (--no-iommu). */
    uint32_t backoff_min_ms;     /* First reconnect delay. */
    uint32_t backoff_max_ms;     /* Reconnect delays double up to this. */
    const char *state_dir;       /* hoststate.h; NULL: in memory only. */
    const char *flavor;          /* "kvm" (default, NULL), "vmware" or
                                  * "failover" (real guests only). */
    uint64_t guest_dirty_rate;   /* fexguest's writer, pages/s. */
    const char *guest_dir;       /* With a QEMU hypervisor: the guest
                                  * image (make guest: vmlinuz,
                                  * initrd.img); NULL: none. */
    const char *peer_libvirt;    /* Another host's libvirtd, "%s" for its
                                  * name: where real guests migrate. */
    uint32_t chassis;            /* Where the host sits in the domain, */
    uint32_t slot;               /* told at registration; 0, 0: not. */
    struct fx_daemon_trust trust;    /* The lab secret, peer limits. */
};

void agentd_cfg_init(struct agentd_cfg *cfg);

/* Creates the agent on 'base' with 'cfg' (both borrowed): opens libvirt,
 * listens, and starts connecting to fabricd.  Returns 0 and stores it in
 * '*agp', or a negative errno with 'err' filled. */
int agentd_create(struct event_base *base, const struct agentd_cfg *cfg,
                  struct agentd **agp, struct fx_err *err);
void agentd_destroy(struct agentd *);

/* The address our RPC listener is bound to, owned by 'ag'. */
const char *agentd_addr(const struct agentd *);
/* The lab secret's key fingerprint ("none": loopback only), owned by
 * 'ag'. */
const char *agentd_key_fp(const struct agentd *);

/* Non-zero once the agent gave up for a reason retrying cannot fix (the
 * fabric refused its host name); 'err' says why.  main() exits 1. */
int agentd_fatal(const struct agentd *, struct fx_err *err);

#endif
