/* guestnic: a real (QEMU) guest's NICs as the VIC's dynamic vNICs.
 *
 * With a QEMU hypervisor each NIC of a VM is a virtio-net device whose
 * backend is a UDP socket (libvirt <interface type='udp'>, QEMU's
 * -netdev socket,udp=): QEMU sends each frame the guest transmits as one
 * datagram to the agent's socket for that NIC's vNIC, and hands each
 * datagram it receives from there to the guest.  So:
 *
 *   guest --virtio--> QEMU --UDP--> guestnic --gnet_guest_tx--> vNIC tx
 *       ring --> uplink ==> fabricd
 *   guest <--virtio-- QEMU <--UDP-- guestnic <--gnet_on_guest_rx-- vNIC
 *       rx ring <-- uplink <== fabricd
 *
 * Every guest frame enters the VIC model as a frame of its vNIC: a vNIC
 * that is not bound (quiesced for a migration's switchover, stopped)
 * refuses it, counted, as the adapter would.  Sockets are on 127.0.0.1,
 * one per vNIC, made when the NIC's domain is defined (its ports go into
 * the domain XML) and kept until the vNIC is freed; datagrams from any
 * other address than QEMU's port are dropped.  Frames to a guest go at
 * most GUESTNIC_BURST a millisecond (guestnic.c), the rest queued: a
 * migrated guest's held frames come in one burst. */
#ifndef GUESTNIC_H
#define GUESTNIC_H

#include <stdint.h>

#include <event2/event.h>

struct fx_err;
struct gnet;
struct guestnic;

/* Counters of one vNIC's socket. */
struct guestnic_stats {
    uint64_t from_guest;      /* Datagrams QEMU sent, posted to the vNIC. */
    uint64_t to_guest;        /* Frames handed to QEMU. */
    uint64_t refused;         /* Guest frames the vNIC refused, and
                               * frames to it beyond the queue. */
    uint64_t strangers;       /* Datagrams not from QEMU's port. */
};

/* A vNIC's sockets: its NIC's, and for a failover guest (domxml.h) also
 * its standby virtio-net's, the host's software path that carries the
 * guest's traffic while the primary is unplugged for a migration.  Both
 * carry frames of the same vNIC and VIF; frames to the guest go by the
 * path its last frame came by, as a learning switch sends them: the
 * guest's net_failover drops what its standby receives while it has a
 * primary, and a primary takes frames only once plugged and up. */
enum guestnic_path_id {
    GUESTNIC_PRIMARY,
    GUESTNIC_STANDBY,
    GUESTNIC_N_PATHS
};

/* Creates the guests' NIC sockets on 'base' over 'gnet' (both borrowed,
 * must outlive it) for a VIC of 'n_vnics'; registers itself as gnet's
 * guest rx hook. */
struct guestnic *guestnic_create(struct event_base *base, struct gnet *gnet,
                                 uint32_t n_vnics);
void guestnic_destroy(struct guestnic *);

/* Opens vNIC 'vnic''s socket 'path' if it has none: on '*agent_portp' if
 * not 0
 * (a domain defined before, whose XML names it), else on a free port,
 * stored there.  QEMU's port is '*qemu_portp' if not 0, else a port free
 * now, stored there.  -EADDRINUSE if the given port is taken. */
int guestnic_open(struct guestnic *, uint32_t vnic,
                  enum guestnic_path_id path, uint16_t *agent_portp,
                  uint16_t *qemu_portp, struct fx_err *err);

/* Takes in now every frame QEMU sent on vNIC 'vnic''s socket that is not
 * read yet (the guest just stopped: they are its last). */
void guestnic_flush(struct guestnic *, uint32_t vnic);

/* How many frames to the guest of vNIC 'vnic' wait in its queue (taken
 * off the vNIC's rx ring, not handed to QEMU yet): a guest about to stop
 * must have none, or they would be lost with its QEMU. */
uint32_t guestnic_queued(const struct guestnic *, uint32_t vnic);

/* Closes vNIC 'vnic''s sockets, if any. */
void guestnic_close(struct guestnic *, uint32_t vnic);

/* Copies vNIC 'vnic''s counters into '*st' (zeros if it has no socket). */
void guestnic_stats(const struct guestnic *, uint32_t vnic,
                    struct guestnic_stats *st);

#endif
