/* fx_ratelimit: see fx_ratelimit.h. */
#include "fx_ratelimit.h"

void
fx_ratelimit_init(struct fx_ratelimit *rl, unsigned burst,
                  uint32_t period_ms)
{
    *rl = (struct fx_ratelimit) { .period_ms = period_ms, .burst = burst };
}

bool
fx_ratelimit_allow(struct fx_ratelimit *rl, uint64_t now_ms,
                   unsigned *missedp)
{
    if (!rl->n || now_ms - rl->start_ms >= rl->period_ms) {
        rl->start_ms = now_ms;
        rl->n = 0;
    }
    if (rl->n >= rl->burst) {
        rl->missed++;
        return false;
    }
    rl->n++;
    *missedp = rl->missed;
    rl->missed = 0;
    return true;
}
