/* gnet: the agent's data path between its vNICs and the fabric, and
 * the guests' traffic model on top (service AgentTraffic).
 *
 *   generator --tx_push--> vNIC tx ring --tx_pop--> uplink ==> fabricd
 *   sink <--rx_pop-- vNIC rx ring <--rx_push-- uplink <== fabricd
 *
 * Frames really pass through the VIC's rings (vic.h), so a quiesced or
 * unbound vNIC stops them as the adapter would.  The guest drains its rx
 * ring as soon as a frame lands (the sink is always ready), and a full tx
 * ring makes the generator wait for the next tick: delayed, never lost.
 *
 * The uplink is a separate TCP connection to the fabric's dplane, learnt
 * with Dataplane.GetUplink after registration, which also hands out the
 * one-time ticket its HELLO presents (the fabric binds the uplink to the
 * host that asked).  When the fabric closes it, the agent is asked for a
 * new ticket (gnet_cfg.want_uplink) after a doubling backoff like the
 * control session's, and connects again with it.
 *
 * A frame for a VIF is delivered to that VIF's vNIC; the fabric tells
 * the agent which vNIC a VIF is when the VIF goes online
 * (AgentTraffic.MapVif) and again in AgentTraffic.TrafficStart, each
 * checked against the vNIC's bound MAC.  Frames for VIFs it does not know
 * are counted and dropped.  Like the adapter, a vNIC takes unicast frames
 * for its own MAC only (a flood of unknown unicast reaches every vNIC of
 * the VLAN; the others filter it), and broadcast and multicast.
 *
 * AgentTraffic.TrafficList reports each generator and sink with the MACs
 * of its flow's VIFs: the flows keep running when fabricd restarts, and
 * fabricd learns them back from these when the agent registers. */
#ifndef GNET_H
#define GNET_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "vic.h"

struct dframe_ticket;
struct fx_err;
struct rpc_registry;
struct vic;
struct gnet;

struct gnet_cfg {
    const char *fabric;          /* fabricd's HOST:PORT (the uplink goes to
                                  * the same host), borrowed. */
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    /* Called with 'want_arg' when the uplink is down and a ticket is
     * needed to open a new one (after the backoff, and again after each
     * backoff until one comes): the agent asks Dataplane.GetUplink and
     * hands the answer to gnet_set_uplink().  NULL: nobody to ask; the
     * uplink waits for gnet_set_uplink(). */
    void (*want_uplink)(void *want_arg);
    void *want_arg;
    /* The lab secret the uplink proves, as the agent of 'host' (both
     * borrowed, must outlive the gnet); NULL: none. */
    const struct auth_key *key;
    const char *host;
};

/* Creates the data path over 'vic' (borrowed) on 'base' (borrowed). */
struct gnet *gnet_create(struct event_base *base, struct vic *vic,
                         const struct gnet_cfg *cfg);
void gnet_destroy(struct gnet *);

/* Registers service AgentTraffic on 'reg'. */
int gnet_register(struct gnet *, struct rpc_registry *reg,
                  struct fx_err *err);

/* Connects the uplink to 'port' on the fabric's host, presenting 'ticket'
 * (copied; from Dataplane.GetUplink).  Keeps an open uplink to the same
 * port (the ticket then goes unused and expires at the fabric). */
void gnet_set_uplink(struct gnet *, uint16_t port,
                     const struct dframe_ticket *ticket);

/* Maps VIF 'vif' to vNIC 'vnic' with 'mac' (what AgentTraffic.MapVif
 * does, for callers in the agent).  -EINVAL on a bad VIF or vNIC. */
int gnet_map_vnic(struct gnet *, uint32_t vif, uint32_t vnic,
                  const uint8_t mac[6], struct fx_err *err);

/* Announces that 'vif' is now on this host, as QEMU does when a migrated
 * VM resumes (the destination calls it after resume): its vNIC sends a
 * RARP frame (uplink_rarp_build: ethertype 0x8035, broadcast, from the
 * VIF's MAC) through the tx ring and the uplink, at once and then on a
 * timer for GNET_ANNOUNCE_ROUNDS rounds in all, the gaps growing from
 * GNET_ANNOUNCE_INITIAL_MS by GNET_ANNOUNCE_STEP_MS up to
 * GNET_ANNOUNCE_MAX_MS.  The fabric learns from each (MAC tables follow)
 * and floods it in the VLAN; traffic sinks ignore it.  Announcing a VIF
 * again restarts its rounds.  -ENOENT if the VIF is not mapped here. */
#define GNET_ANNOUNCE_INITIAL_MS 50u
#define GNET_ANNOUNCE_MAX_MS 550u
#define GNET_ANNOUNCE_ROUNDS 5u
#define GNET_ANNOUNCE_STEP_MS 100u
int gnet_announce(struct gnet *, uint32_t vif, struct fx_err *err);
/* Announce frames sent, and rounds the vNIC refused (not bound, ring
 * full). */
uint64_t gnet_announces(const struct gnet *);
uint64_t gnet_announce_refused(const struct gnet *);

/* VIF 'vif' migrates in: when the fabric maps it here (after releasing
 * its held frames) it announces itself and its guest's generators, parked
 * by traffic_import(), resume.  Returns 0, or -ENOSPC with 'err' filled
 * when too many VIFs are expected already (it will neither announce nor
 * resume its traffic by itself). */
int gnet_expect_vif(struct gnet *, uint32_t vif, struct fx_err *err);

/* The switchover's drain (dframe.h MARKER): moves what VIF 'vif''s vNIC
 * posted to the uplink, then sends a MARKER of 'token' behind it.
 * Returns 0 when sent, -EAGAIN when the tx ring could not be emptied yet
 * (the uplink pushes back: try again), -ENOTCONN when there is no
 * uplink (nothing is in flight then), -ENOENT if 'vif' is not mapped. */
int gnet_marker(struct gnet *, uint32_t vif, uint32_t token);
/* Calls 'fn' for each MARKER the fabric echoes (one callback). */
void gnet_on_marker(struct gnet *, void (*fn)(void *arg, uint32_t token,
                                               uint32_t vif), void *arg);
/* Calls 'fn' with 'arg' for each frame of 'len' bytes a guest takes off
 * the rx ring of vNIC 'vnic' (VIF 'vif'): the frame was written into
 * guest memory, whose pages a migration must send again. */
void gnet_on_rx(struct gnet *, void (*fn)(void *arg, uint32_t vif,
                                          uint32_t vnic, size_t len),
                void *arg);

/* ---- Real guests (guestnic.h) ---- */

/* A real guest's NIC posts 'frame' ('len' bytes, copied) on vNIC 'vnic':
 * into its tx ring and, if its VIF is mapped here, on to the uplink at
 * once.  -ENOBUFS when the vNIC refuses it (not bound: quiesced or
 * stopped; ring full), -EINVAL for a bad vNIC. */
int gnet_guest_tx(struct gnet *, uint32_t vnic, const void *frame,
                  size_t len);
/* A real guest stopping for a migration's switchover: frames for it stay
 * in vNIC 'vnic''s rx ring, which the checkpoint carries to the
 * destination, rather than go to a QEMU that will not read them again
 * (one that reaches QEMU as the guest pauses is lost with it).  While it
 * is asked to stop but may still run (STOPPING: virDomainSuspend can
 * wait on libvirt, hvmig.h), a ring that fills up to
 * GNET_HOLD_HIGH hands the guest its oldest frames down to GNET_HOLD_LOW
 * in one go, which it reads while it runs: a full ring would drop the
 * newest, and frames go to the guest seldom, so that its pause rarely
 * meets one on its way.  Once it stopped (STOPPED) every frame stays (a
 * full ring drops, as the adapter's would).  NONE undoes it (a rolled
 * back migration, or the guest gone). */
enum gnet_hold {
    GNET_HOLD_NONE,
    GNET_HOLD_STOPPING,
    GNET_HOLD_STOPPED,
};
#define GNET_HOLD_HIGH (VIC_RING_SIZE - 8u)
#define GNET_HOLD_LOW (VIC_RING_SIZE / 2u)
void gnet_guest_hold(struct gnet *, uint32_t vnic, enum gnet_hold hold);
/* Hands what vNIC 'vnic''s rx ring holds to its guest now (a restored
 * vNIC, its guest resumed). */
void gnet_guest_kick(struct gnet *, uint32_t vnic);
/* Calls 'fn' with 'arg' for each frame a guest takes off the rx ring of
 * vNIC 'vnic', with its bytes (borrowed for the call): a real guest's NIC
 * hands it to QEMU. */
void gnet_on_guest_rx(struct gnet *, void (*fn)(void *arg, uint32_t vnic,
                                                const uint8_t *frame,
                                                size_t len),
                      void *arg);

/* The guests' traffic model (owned by 'g'), for migration. */
struct traffic *gnet_traffic(struct gnet *);

/* Frames for VIFs the agent does not know, and frames a vNIC refused
 * (not bound, ring full). */
uint64_t gnet_rx_unknown(const struct gnet *);
uint64_t gnet_rx_refused(const struct gnet *);
/* Flooded unicast frames for another MAC, dropped by the vNIC's filter. */
uint64_t gnet_rx_filtered(const struct gnet *);

#endif
