/* mig_params: what a migration is asked to do, named after QEMU's
 * migrate-set-parameters, with QEMU's defaults and ranges; and the fixed
 * limits of the engine both ends share. */
#ifndef MIG_PARAMS_H
#define MIG_PARAMS_H

#include <stdint.h>

#include "fx_limits.h"

struct fx_err;

#define MIG_DOWNTIME_LIMIT_MS 300u                /* QEMU downtime-limit. */
#define MIG_DOWNTIME_LIMIT_MAX_MS FX_LIMITS_DOWNTIME_LIMIT_MAX_MS  /* 2000 s */
#define MIG_MAX_BANDWIDTH (128ull * 1024 * 1024)  /* QEMU max-bandwidth. */
#define MIG_THROTTLE_INITIAL 20u                  /* cpu-throttle-initial */
#define MIG_THROTTLE_INCREMENT 10u                /* ...-increment */
#define MIG_THROTTLE_MAX 99u                      /* max-cpu-throttle */
#define MIG_THROTTLE_TRIGGER 50u       /* throttle-trigger-threshold, % */
#define MIG_MAX_ROUNDS 64u
/* A VM's 16 vNICs at most, plus the agent's two guest workload records
 * (its traffic flows, its dirty rate). */
#define MIG_MAX_DEVICES (FX_LIMITS_VM_MAX_NICS + 2u)
/* How long an end spins on its socket, when the other end's answer is due
 * within a round trip, before it sleeps in the event loop: a wakeup costs
 * tens of microseconds on a virtual machine, and it falls in the downtime.
 * 200 us, as the guest halt-polling driver (cpuidle-haltpoll's
 * guest_halt_poll_ns) spins before it halts a vCPU. */
#define MIG_POLL_US 200u

struct mig_params {
    uint32_t downtime_limit_ms; /* Switch over when the rest fits. */
    uint64_t max_bandwidth;     /* Bytes/s on the page stream; 0 = none. */
    int auto_converge;          /* Throttle the guest (1) or fail (0) when
                                 * dirtying outpaces the transfer. */
    uint32_t timeout_ms;        /* Whole job; 0 = none. */
    uint32_t max_rounds;        /* Give up after this many rounds. */
};

/* Fills 'p' with QEMU's defaults (300 ms, 128 MiB/s, no auto-converge). */
void mig_params_init(struct mig_params *p);

/* Checks ranges; returns 0 or -EINVAL with 'err' filled. */
int mig_params_check(const struct mig_params *p, struct fx_err *err);

#endif
