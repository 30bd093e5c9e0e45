/* scn: the scenario model's tables and its one free path. */
#include "scn.h"

#include <stdlib.h>
#include <string.h>

/* What a check can read: each listing is one fexctl --json command. */
static const struct scn_listing scn_listings[] = {
    { "host", { "host", "list", NULL }, "hosts", "name" },
    { "vm", { "vm", "list", NULL }, "vms", "name" },
    { "vif", { "vif", "list", NULL }, "vifs", "id" },
    { "profile", { "profile", "list", NULL }, "profiles", "name" },
    { "migration", { "migrate", "list", NULL }, NULL, "id" },
    { "flow", { "traffic", "stats", NULL }, "flows", "flow_id" },
};

/* fx_fault's phases (lib/fx_fault.h): begin is fabricd's alone. */
static const char *const scn_phases[] = {
    "begin", "prepare", "perform", "switchover", "finish", "confirm",
};

/* fexctl's groups a step may run; `lab` is the runner's (the lab line,
 * faults), so that a step cannot take the lab away from under it. */
static const char *const scn_groups[] = {
    "host", "profile", "vm", "vif", "traffic", "migrate", "events",
};

#define N_OF(a) (sizeof (a) / sizeof *(a))

const struct scn_listing *
scn_listing_find(const char *name)
{
    for (size_t i = 0; i < N_OF(scn_listings); i++) {
        if (!strcmp(scn_listings[i].name, name)) {
            return &scn_listings[i];
        }
    }
    return NULL;
}

const char *
scn_listing_names(void)
{
    return "host, vm, vif, profile, migration, flow";
}

int
scn_phase_known(const char *phase)
{
    for (size_t i = 0; i < N_OF(scn_phases); i++) {
        if (!strcmp(scn_phases[i], phase)) {
            return 1;
        }
    }
    return 0;
}

int
scn_group_known(const char *group)
{
    for (size_t i = 0; i < N_OF(scn_groups); i++) {
        if (!strcmp(scn_groups[i], group)) {
            return 1;
        }
    }
    return 0;
}

const char *
scn_op_name(enum scn_op op)
{
    static const char *const names[] = {
        [SCN_EQ] = "==", [SCN_NE] = "!=", [SCN_LT] = "<", [SCN_LE] = "<=",
        [SCN_GT] = ">", [SCN_GE] = ">=", [SCN_HAS] = "~", [SCN_IN] = "in",
    };

    return names[op];
}

void
scn_destroy(struct scn *scn)
{
    if (!scn) {
        return;
    }
    for (size_t i = 0; i < scn->n_steps; i++) {
        for (size_t a = 0; scn->steps[i].argv[a]; a++) {
            free(scn->steps[i].argv[a]);
        }
    }
    free(scn->steps);
    free(scn);
}
