/* clock.h -- the one monotonic clock every program reads for timeouts,
 * idle detection and rates: it never jumps when the wall clock is set. Wall
 * time (line timestamps) is timefmt.h's lt_time_now_ns. Async-signal-safe. */
#ifndef LT_CLOCK_H
#define LT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t lt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t lt_mono_ms(void)
{
    return lt_mono_ns() / 1000000;
}

/* The monotonic time `ms` from now, as the timespec that waits with a
 * deadline take (pthread_cond_timedwait on a CLOCK_MONOTONIC condition,
 * sem_clockwait). */
static inline struct timespec lt_mono_deadline(int64_t ms)
{
    int64_t at = lt_mono_ns() + ms * 1000000;
    return (struct timespec){.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000};
}

#endif
