/* Unit tests for the per-VM token buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rate.h"

#define SEC 1000000000ull

/* Counts how many frames of len pass in one second at step ns. */
static unsigned
passed(struct rate *r, const struct rate_limit *lim, size_t len, uint64_t start,
    uint64_t step)
{
	unsigned n = 0;
	uint64_t t;

	for (t = start; t < start + SEC; t += step)
		n += rate_take(r, lim, len, t);
	return n;
}

/* A frame limit holds over a second, after the initial burst. */
static void
test_frames(void **state)
{
	struct rate_limit lim = {1000, 0, 0};
	struct rate r;
	unsigned n;

	(void)state;
	rate_init(&r, &lim, 0);
	n = passed(&r, &lim, 60, 0, SEC / 100000); /* offered 100k/s */
	assert_true(n >= 1000 && n <= 1000 + 64 + 1);
	n = passed(&r, &lim, 60, SEC, SEC / 100000);
	assert_true(n >= 999 && n <= 1001);
}

/* A byte limit holds, and superframes are charged as many frames. */
static void
test_bytes_and_superframes(void **state)
{
	struct rate_limit lim = {0, 1000000, 0};
	struct rate_limit flim = {100, 0, 0};
	struct rate r;
	unsigned n;

	(void)state;
	rate_init(&r, &lim, 0);
	(void)passed(&r, &lim, 1000, 0, SEC / 10000);
	n = passed(&r, &lim, 1000, SEC, SEC / 10000);
	assert_true(n >= 999 && n <= 1001);
	/* 100 frames/s: a 64 KiB superframe is one frame, its bytes count. */
	rate_init(&r, &flim, 0);
	(void)passed(&r, &flim, 65000, 0, SEC / 1000);
	n = passed(&r, &flim, 65000, SEC, SEC / 1000);
	assert_true(n >= 99 && n <= 101);
}

/* No limit: everything passes; a refused frame takes nothing. */
static void
test_unlimited_and_refusal(void **state)
{
	struct rate_limit none = {0, 0, 0}, lim = {0, 1000, 0};
	struct rate r;

	(void)state;
	rate_init(&r, &none, 0);
	assert_int_equal(passed(&r, &none, 9000, 0, SEC / 1000), 1000);
	rate_init(&r, &lim, 0);
	/* Burst floor is 128 KiB: one 100 KiB frame fits, a second not. */
	assert_true(rate_take(&r, &lim, 100 * 1024, 0));
	assert_false(rate_take(&r, &lim, 100 * 1024, 0));
	assert_true(rate_take(&r, &lim, 20 * 1024, 0));
	/* Time going backwards refills nothing. */
	assert_false(rate_take(&r, &lim, 20 * 1024, 0));
}

/* An explicit burst: exactly that many at once, then the rate. */
static void
test_explicit_burst(void **state)
{
	struct rate_limit lim = {4, 0, 8};
	struct rate r;
	unsigned i, n = 0;

	(void)state;
	rate_init(&r, &lim, 0);
	/* 1000 messages in one instant: the burst of 8 and no more. */
	for (i = 0; i < 1000; i++)
		n += rate_take(&r, &lim, 300, 0);
	assert_int_equal(n, 8);
	/*
	 * A second of a flood at 1 kHz: 4 a second (the 4th token is whole
	 * only at the second's last instant), not the 64 of the floor.
	 */
	assert_in_range(passed(&r, &lim, 300, 1, SEC / 1000), 3, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frames),
	    cmocka_unit_test(test_bytes_and_superframes),
	    cmocka_unit_test(test_unlimited_and_refusal),
	    cmocka_unit_test(test_explicit_burst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
