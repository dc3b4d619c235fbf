/*
 * The daemon's two clocks, a leaf every module may call: wall-clock
 * seconds (the time base of leases, written to the database and the
 * bootpd mirror) and monotonic nanoseconds (rate limits, backlog retries);
 * and the calling thread's CPU time. Tests replace the first two with a
 * hook instead of sleeping.
 */
#ifndef SOFTNET_CLOCK_H
#define SOFTNET_CLOCK_H

#include <stdint.h>

typedef int64_t clock_wall_fn(void);
typedef uint64_t clock_mono_fn(void);

/* Wall-clock seconds since the epoch. */
int64_t clock_now(void);
/* Monotonic nanoseconds (an arbitrary origin; only differences count). */
uint64_t clock_mono(void);
/* The calling thread's CPU time, ns (0 if the system cannot say). */
uint64_t clock_thread_cpu(void);
/*
 * Makes clock_now and clock_mono return what wall and mono return; NULL
 * puts the system's clock back. For tests only: the daemon never sets it.
 */
void clock_set_hook(clock_wall_fn *wall, clock_mono_fn *mono);

#endif
