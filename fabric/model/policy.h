/* policy: the DirectPath rules of the seed, in one place.
 *
 * A VM with a DirectPath (PCI passthrough) NIC loses vMotion, hot add and
 * remove of devices, record/replay, fault tolerance, HA and snapshots,
 * except when the NIC is on a VM-FEX high-performance port profile: that
 * is the case fexsim exists for.  A DirectPath NIC is added only while the
 * VM is powered off, at most POLICY_MAX_DIRECTPATH per VM, and adding one
 * sets the VM's memory reservation to its memory size.  The table of
 * operations in policy.c is the rule; callers ask policy_check().  Pure. */
#ifndef POLICY_H
#define POLICY_H

#include <stdint.h>

struct fx_err;

#define POLICY_MAX_DIRECTPATH 6     /* "Up to 6 PCI devices" (ESXi 5). */

enum policy_op {
    POLICY_OP_MIGRATE,
    POLICY_OP_HOT_ADD,       /* Add a device to a running VM. */
    POLICY_OP_HOT_REMOVE,    /* Remove a device from a running VM. */
    POLICY_OP_RECORD,        /* Record and replay. */
    POLICY_OP_FT,            /* Fault tolerance. */
    POLICY_OP_HA,
    POLICY_OP_SNAPSHOT,
    POLICY_OP_COUNT
};

/* What the rules need to know of a VM. */
struct policy_vm {
    const char *name;                /* Borrowed, for messages. */
    int running;
    uint32_t n_directpath;           /* DirectPath NICs. */
    uint32_t n_directpath_plain;     /* ...of them on a profile that is not
                                      * high-performance. */
};

/* Returns the operation's name as fexctl spells it ("migrate",
 * "hot-add"...), or NULL for a bad value. */
const char *policy_op_name(enum policy_op);
/* Parses a name; -EINVAL with the list of names in 'err'. */
int policy_op_parse(const char *name, enum policy_op *opp,
                    struct fx_err *err);

/* Returns 0 if 'op' is allowed on 'vm', else -EPERM with the reason. */
int policy_check(enum policy_op op, const struct policy_vm *vm,
                 struct fx_err *err);

/* May a NIC be added to 'vm'?  'directpath' says whether the new NIC is
 * one, 'high_performance' whether its profile is.  -EPERM with the reason
 * (powered on, 6 already, hot add refused), 0 if allowed. */
int policy_check_nic_add(const struct policy_vm *vm, int directpath,
                         int high_performance, struct fx_err *err);
/* May a NIC ('directpath' or not) be removed from 'vm'? */
int policy_check_nic_remove(const struct policy_vm *vm, int directpath,
                            struct fx_err *err);

/* The memory reservation of a VM of 'memory_mib' with 'n_directpath'
 * DirectPath NICs: all of it with one, else 0. */
uint64_t policy_reservation_mib(uint64_t memory_mib, uint32_t n_directpath);

#endif
