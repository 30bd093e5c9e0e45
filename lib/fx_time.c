/* fx_time: see fx_time.h. */
#include "fx_time.h"

#include <errno.h>
#include <time.h>

uint64_t
fx_time_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t
fx_time_now_ms(void)
{
    return fx_time_now_us() / 1000u;
}

void
fx_time_sleep_ms(uint32_t ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) && errno == EINTR) {
        continue;
    }
}
