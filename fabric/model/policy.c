#include "policy.h"

#include <errno.h>
#include <string.h>

#include "fx_err.h"

/* One row per operation: its name and what the seed says a DirectPath VM
 * outside VM-FEX high-performance loses.  Every operation here is refused
 * for such a VM and allowed otherwise: that is the one rule, and the
 * table is its test matrix. */
struct policy_rule {
    const char *name;
    const char *feature;     /* The seed's words, for the message. */
    const char *reason;      /* The lost feature, for a program
                              * (Envelope.reason, docs/API.md). */
};

static const struct policy_rule policy_rules[POLICY_OP_COUNT] = {
    [POLICY_OP_MIGRATE] = { "migrate", "vMotion (live migration)",
                            "lostFeatureVmotion" },
    [POLICY_OP_HOT_ADD] = { "hot-add", "hot adding virtual devices",
                            "lostFeatureHotAdd" },
    [POLICY_OP_HOT_REMOVE] = { "hot-remove", "hot removing virtual devices",
                               "lostFeatureHotRemove" },
    [POLICY_OP_RECORD] = { "record", "record and replay",
                           "lostFeatureRecordReplay" },
    [POLICY_OP_FT] = { "ft", "fault tolerance", "lostFeatureFaultTolerance" },
    [POLICY_OP_HA] = { "ha", "HA", "lostFeatureHa" },
    [POLICY_OP_SNAPSHOT] = { "snapshot", "snapshots",
                             "lostFeatureSnapshot" },
};

const char *
policy_op_name(enum policy_op op)
{
    return (unsigned) op < POLICY_OP_COUNT ? policy_rules[op].name : NULL;
}

int
policy_op_parse(const char *name, enum policy_op *opp, struct fx_err *err)
{
    for (int i = 0; i < POLICY_OP_COUNT; i++) {
        if (!strcmp(policy_rules[i].name, name)) {
            *opp = (enum policy_op) i;
            return 0;
        }
    }
    return fx_err_set(err, -EINVAL, "unknown operation '%s': use migrate, "
                      "hot-add, hot-remove, record, ft, ha or snapshot",
                      name);
}

int
policy_check(enum policy_op op, const struct policy_vm *vm,
             struct fx_err *err)
{
    if ((unsigned) op >= POLICY_OP_COUNT) {
        return fx_err_set(err, -EINVAL, "unknown operation %d", (int) op);
    }
    if (vm->n_directpath_plain == 0) {
        return 0;
    }
    return fx_err_refuse(err, -EPERM, policy_rules[op].reason,
                         "%s refused for VM '%s': it has %u "
                         "DirectPath NIC%s on a profile that is not VM-FEX "
                         "high-performance, and DirectPath I/O makes %s "
                         "unavailable", policy_rules[op].name, vm->name,
                         vm->n_directpath_plain,
                         vm->n_directpath_plain == 1 ? "" : "s",
                         policy_rules[op].feature);
}

int
policy_check_nic_add(const struct policy_vm *vm, int directpath,
                     int high_performance, struct fx_err *err)
{
    (void) high_performance;
    if (!directpath) {
        return vm->running ? policy_check(POLICY_OP_HOT_ADD, vm, err) : 0;
    }
    if (vm->running) {
        return fx_err_refuse(err, -EPERM, "vmRunning",
                             "VM '%s' must be powered off to add "
                          "a DirectPath NIC (a PCI device)", vm->name);
    }
    if (vm->n_directpath >= POLICY_MAX_DIRECTPATH) {
        return fx_err_refuse(err, -EPERM, "directPathLimit",
                             "VM '%s' already has %u DirectPath "
                          "NICs, the most a VM may have", vm->name,
                          vm->n_directpath);
    }
    return 0;
}

int
policy_check_nic_remove(const struct policy_vm *vm, int directpath,
                        struct fx_err *err)
{
    if (!vm->running) {
        return 0;
    }
    if (directpath) {
        return fx_err_refuse(err, -EPERM, "vmRunning",
                             "VM '%s' must be powered off to "
                          "remove a DirectPath NIC (a PCI device)",
                          vm->name);
    }
    return policy_check(POLICY_OP_HOT_REMOVE, vm, err);
}

uint64_t
policy_reservation_mib(uint64_t memory_mib, uint32_t n_directpath)
{
    return n_directpath ? memory_mib : 0;
}
