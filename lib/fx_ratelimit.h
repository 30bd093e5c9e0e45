/* fx_ratelimit: at most a burst of log lines per period, so that a peer
 * sending garbage in a loop cannot fill the disk or drown the lines that
 * matter; the lines held back are counted and said with the next one. */
#ifndef FX_RATELIMIT_H
#define FX_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct fx_ratelimit {
    uint32_t period_ms;
    unsigned burst;
    uint64_t start_ms;           /* The current period's start. */
    unsigned n;                  /* Lines allowed in it. */
    unsigned missed;             /* Held back since the last allowed. */
};

/* 'burst' lines per 'period_ms'. */
void fx_ratelimit_init(struct fx_ratelimit *, unsigned burst,
                       uint32_t period_ms);
/* Whether a line may go out at 'now_ms'; if so, '*missedp' gets how many
 * were held back before it (and the count restarts). */
bool fx_ratelimit_allow(struct fx_ratelimit *, uint64_t now_ms,
                        unsigned *missedp);

#endif
