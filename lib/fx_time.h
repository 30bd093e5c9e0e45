/* fx_time: the monotonic clock, for timeouts and measurements (never the
 * wall clock, which jumps), and the step of a poll loop. */
#ifndef FX_TIME_H
#define FX_TIME_H

#include <stdint.h>

/* Monotonic time in milliseconds and microseconds. */
uint64_t fx_time_now_ms(void);
uint64_t fx_time_now_us(void);

/* Sleeps 'ms' milliseconds: the step of a poll loop with a deadline
 * (waiting for a process that is not our child), never a way to wait
 * for an event that can be waited for. */
void fx_time_sleep_ms(uint32_t ms);

#endif
