/*
 * Theory of operation: a leaf module (it calls nothing of the daemon's),
 * so the modules that need the time do not call up into main.c or the
 * switch for it. The hooks are the one piece of state: NULL in the daemon,
 * set by tests that move time by hand (a lease expiring, a backlog retry
 * coming due) instead of sleeping.
 */
#include <time.h>

#include "clock.h"

static clock_wall_fn *wall_hook;
static clock_mono_fn *mono_hook;

int64_t
clock_now(void)
{
	if (wall_hook != NULL)
		return wall_hook();
	return (int64_t)time(NULL);
}

uint64_t
clock_mono(void)
{
	struct timespec ts;

	if (mono_hook != NULL)
		return mono_hook();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
clock_set_hook(clock_wall_fn *wall, clock_mono_fn *mono)
{
	wall_hook = wall;
	mono_hook = mono;
}

uint64_t
clock_thread_cpu(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == -1)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
