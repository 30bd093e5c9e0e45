#include "fx_fault.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "log.h"

LOG_MODULE("fault");

static const char *const fault_phases[] = {
    "begin", "prepare", "perform", "switchover", "finish", "confirm",
};

static struct {
    char phase[16];
    unsigned nth;                  /* 0: nothing armed. */
    unsigned hits;
} fault;

int
fx_fault_parse(const char *spec, struct fx_err *err)
{
    const char *at = strncmp(spec, "crash@", 6) ? NULL : spec + 6;
    size_t len = at ? strcspn(at, ":") : 0;
    unsigned long nth = 1;
    char *end;

    for (size_t i = 0; at && i < sizeof fault_phases / sizeof *fault_phases;
         i++) {
        if (strlen(fault_phases[i]) == len
            && !strncmp(fault_phases[i], at, len)) {
            if (at[len] == ':') {
                errno = 0;
                nth = strtoul(at + len + 1, &end, 10);
                if (errno || *end || end == at + len + 1 || !nth
                    || nth > 1000000) {
                    break;
                }
            }
            snprintf(fault.phase, sizeof fault.phase, "%s", fault_phases[i]);
            fault.nth = (unsigned) nth;
            fault.hits = 0;
            return 0;
        }
    }
    return fx_err_set(err, -EINVAL, "--fault is crash@PHASE[:N] with PHASE "
                      "begin, prepare, perform, switchover, finish or "
                      "confirm, not '%s'", spec);
}

void
fx_fault_point(const char *phase)
{
    if (!fault.nth || strcmp(fault.phase, phase) || ++fault.hits < fault.nth) {
        return;
    }
    LOG_WARN("fault injected: crash@%s:%u, SIGKILL", phase, fault.hits);
    raise(SIGKILL);
}
