/* migagent: the agent's end of a live migration (service MigAgent).
 *
 * It keeps the RAM of each guest running on this host (guestram.h: from
 * the guest's start, or its arrival by migration, until it stops or
 * leaves; frames the guest receives dirty it), and runs the engine's
 * source (mig_src) or destination (mig_dst) for each job fabricd asks
 * for.  Device state is the VIC's: the source's save callback quiesces a
 * vNIC (tx stopped, rx kept) and checkpoints it; the destination's load
 * callback restores it into the vNIC HostVms.Define reserved, and once
 * the guest resumes the domain is started and the vNICs bound again.  A
 * failed source rolls its vNICs back to bound; a failed destination drops
 * its guest RAM (fabricd undefines the domain, which frees the reserved
 * vNICs). */
#ifndef MIGAGENT_H
#define MIGAGENT_H

#include <stdint.h>

#include <event2/event.h>

struct fx_err;
struct gnet;
struct hostvms;
struct hv;
struct migagent;
struct rpc_registry;
struct vic;

/* Creates the endpoint on 'base' over 'hv', 'vic', 'vms' and 'gnet'
 * (all borrowed, must outlive it), with RAM for every guest running now
 * (an agent restarted from its state dir).  Prepare's memory admission
 * reads libvirt in worker 'q' (borrowed; destroyed before the endpoint:
 * its cancelled jobs answer the Prepares under way).  Stores it in
 * '*map' (the caller frees it with migagent_destroy()) and returns 0, or
 * returns the hypervisor's error with 'err' filled. */
struct hvq;
int migagent_create(struct event_base *base, struct hv *hv, struct vic *vic,
                    struct hostvms *vms, struct hvq *q, struct gnet *gnet,
                    struct migagent **map, struct fx_err *err);
/* Cancels running jobs (guests resumed or discarded), frees guest RAM.
 * Destroy after the RPC server.  NULL is a no-op. */
void migagent_destroy(struct migagent *);

/* "kvm" (default; NULL keeps it) or "vmware" (borrowed): how a
 * passthrough vNIC moves, as the logs say. */
void migagent_set_flavor(struct migagent *, const char *flavor);
/* The lab secret ('key' borrowed, must outlive 'ma') its migrations'
 * page streams prove, as the peer for host 'host' (copied). */
struct auth_key;
void migagent_set_auth(struct migagent *, const struct auth_key *key,
                       const char *host);

/* Where each incoming migration's page stream listens: on host 'host'
 * (copied; our RPC listener's, "0.0.0.0" for every address), the first
 * free port from 'first' to 'last' (0, 0: any port the kernel picks), so
 * that a firewall can open that range.  The address a prepare answers
 * with is 'host', or for "0.0.0.0" the address fabricd reaches us at.
 * Default: 127.0.0.1, any port. */
void migagent_set_listen(struct migagent *, const char *host,
                         uint16_t first, uint16_t last);

/* Real guests (QEMU, hostvms_set_guest): their memory and CPU move by
 * libvirt's own live migration (hvmig.h) to the destination's libvirtd,
 * whose URI is 'peer_uri' (copied) with its host's name for "%s", while
 * the engine moves their vNICs as ever.  At the switchover the source
 * suspends the guest (QEMU then converges), waits for libvirt's end,
 * takes in what the guest sent meanwhile from 'gn' (borrowed) and only
 * then quiesces and checkpoints the vNICs; the destination resumes the
 * guest libvirt left paused there instead of starting a domain.  The
 * report carries libvirt's statistics beside the engine's. */
struct guestnic;
void migagent_set_guests(struct migagent *, struct guestnic *gn,
                         const char *peer_uri);

/* Registers service MigAgent on 'reg'. */
int migagent_register(struct migagent *, struct rpc_registry *reg,
                      struct fx_err *err);

#endif
