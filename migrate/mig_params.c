/* mig_params: a migration's parameters, their defaults and ranges. */
#include "mig_params.h"

#include <errno.h>
#include <inttypes.h>

#include "fx_err.h"

void
mig_params_init(struct mig_params *p)
{
    p->downtime_limit_ms = MIG_DOWNTIME_LIMIT_MS;
    p->max_bandwidth = MIG_MAX_BANDWIDTH;
    p->auto_converge = 0;
    p->timeout_ms = 0;
    p->max_rounds = MIG_MAX_ROUNDS;
}

int
mig_params_check(const struct mig_params *p, struct fx_err *err)
{
    if (!p->downtime_limit_ms
        || p->downtime_limit_ms > MIG_DOWNTIME_LIMIT_MAX_MS) {
        return fx_err_set(err, -EINVAL, "downtime limit %" PRIu32 " ms is "
                          "out of range 1..%u", p->downtime_limit_ms,
                          MIG_DOWNTIME_LIMIT_MAX_MS);
    }
    if (!p->max_rounds) {
        return fx_err_set(err, -EINVAL, "max rounds must be at least 1");
    }
    return 0;
}
