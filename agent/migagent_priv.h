/* migagent_priv: the migration agent's state, shared by migagent.c (the
 * MigAgent service: prepare, perform, the switchover) and
 * migagent_guest.c (each running guest's RAM and dirty rate); not for
 * users, who see migagent.h. */
#ifndef MIGAGENT_PRIV_H
#define MIGAGENT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "mig.h"
#include "mig_params.h"
#include "mig_report.h"
#include "migagent.h"
#include "rpc.h"

struct domxml_vm;
struct fx_err;
struct guestmem;

#define MA_MAX_GUESTS 256
#define MA_MAX_JOBS 32
#define MA_NAME 40
#define MA_MAX_FLOWS 64
/* The switchover's drain is exact (uplink MARKERs, dframe.h); this is
 * only the safety net: a marker not back by then cancels the migration. */
#define MA_DRAIN_TIMEOUT_MS 2000u
#define MA_DRAIN_RETRY_MS 1u       /* A tx ring the uplink pushed back. */

/* A VM running here: its RAM, from its start (or its arrival by
 * migration) until it stops or leaves. */
struct ma_guest {
    char vm[MA_NAME];
    struct guestmem *gm;           /* Owned. */
    uint32_t vnics[MIG_MAX_DEVICES];  /* Its NICs: frames they receive
                                       * dirty its memory. */
    size_t n_vnics;
    uint64_t rx_off;               /* Next rx buffer, a ring of pages. */
    uint64_t dirty_rate;           /* Its writer's page writes/s. */
};

struct ma_job {
    struct migagent *ma;
    uint32_t id;                   /* 0: slot free. */
    char vm[MA_NAME];
    enum mig_role role;
    uint32_t vnics[MIG_MAX_DEVICES];   /* The devices after the vNICs are
                                        * the guest's workload: MA_DEV_*. */
    uint32_t vifs[MIG_MAX_DEVICES];
    size_t n_vnics;
    uint32_t gens[MA_MAX_FLOWS], sinks[MA_MAX_FLOWS];
    size_t n_gens, n_sinks;
    struct mig_src *src;
    struct mig_dst *dst;
    struct guestmem *dst_gm;       /* Destination: owned until resumed. */
    struct rpc_call *perform;      /* Source: the deferred Perform. */
    struct mig_progress last;
    uint64_t dirty_rate;           /* Destination: the guest's, received. */
    /* Source, at the switchover: bits over vifs[] of MARKERs sent, of
     * those the fabric must echo, and of echoes read. */
    struct event *drain_ev;        /* Owned: retry and safety net. */
    uint32_t drain_sent, drain_want, drain_echo;
    uint64_t drain_deadline;       /* fx_now_ms(). */
};

struct migagent {
    struct event_base *base;       /* Borrowed. */
    struct hv *hv;                 /* Borrowed. */
    struct vic *vic;               /* Borrowed. */
    struct hostvms *vms;           /* Borrowed. */
    struct gnet *gnet;             /* Borrowed. */
    int vmware;                    /* Flavour: VMware VM-FEX, else KVM. */
    struct ma_guest guests[MA_MAX_GUESTS];
    struct ma_job jobs[MA_MAX_JOBS];
};

/* The guest's workload moves as two device records after its vNICs':
 * its traffic flows (traffic_export) and its writer's dirty rate (u64,
 * big-endian), so the guest goes on as it was on the destination. */
#define MA_DEV_TRAFFIC "guestnet"
#define MA_DEV_DIRTY "guestmem"
#define MA_WORKLOAD_DEVS 2
#define MA_DIRTY_RATE_MAX 1000000u    /* Page writes/s: 3.8 GiB/s. */

/* ---- migagent_guest.c ---- */

/* The guest of VM 'vm', or NULL. */
struct ma_guest *ma_guest_find(struct migagent *, const char *vm);
/* Sets the writer of guest 'g' to 'rate' page writes/s. */
void ma_guest_rate(struct ma_guest *g, uint64_t rate, uint64_t seed);
/* Gives VM 'vm' guest RAM 'gm' (ownership passes), replacing any, with its
 * vNICs 'vnics'.  Returns its guest, or NULL (and 'gm' freed) when
 * MA_MAX_GUESTS run here already. */
struct ma_guest *ma_guest_set(struct migagent *, const char *vm,
                              struct guestmem *gm, const uint32_t *vnics,
                              size_t n_vnics);
/* Frees the RAM of VM 'vm', if it has some here. */
void ma_guest_drop(struct migagent *, const char *vm);
/* The guest RAM of 'vm' with 'mib' MiB (borrowed): the one it has, or a
 * new one (all pages clean) if its size differs or it has none. */
struct guestmem *ma_guest_get(struct migagent *, const char *vm,
                              uint64_t mib, const uint32_t *vnics,
                              size_t n_vnics, struct fx_err *err);
/* Hooks: a frame received on vNIC 'vnic' (gnet_on_rx), a domain started
 * or stopped (hostvms_on_run), a running domain's dirty rate. */
void ma_rx(void *arg, uint32_t vif, uint32_t vnic, size_t len);
void ma_vm_run(void *arg, const struct domxml_vm *vm, int running);
uint64_t ma_vm_rate(void *arg, const char *vm);
/* Handler of MigAgent.SetDirtyRate. */
int ma_set_dirty_rate(void *ctx, struct rpc_call *call,
                      const ProtobufCMessage *req, ProtobufCMessage *rep,
                      struct fx_err *err);

#endif
