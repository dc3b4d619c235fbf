/*
 * Tests for log.c's rate limit: a burst of a repeated warning gets through,
 * the rest is counted instead of written, and the count is reported once
 * the window has passed. stderr is redirected to a file and read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* Lines written to stderr by fn(arg), read back from a temporary file. */
static int
lines_of(void (*fn)(int), int arg)
{
	char path[] = "/tmp/test_log.XXXXXX", buf[65536];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO), n = 0;
	ssize_t len, i;

	assert_true(fd != -1 && saved != -1);
	unlink(path);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	fn(arg);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	len = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	for (i = 0; i < len; i++)
		if (buf[i] == '\n')
			n++;
	return n;
}

static struct log_rl site;

/* Writes count warnings through one rate-limited call site. */
static void
flood(int count)
{
	int i;

	for (i = 0; i < count; i++)
		log_warnx_rl(&site, "accept: %d", i);
}

/* A burst passes; the rest is suppressed and counted. */
static void
test_burst_then_suppressed(void **state)
{
	uint64_t before = log_suppressed();

	(void)state;
	memset(&site, 0, sizeof(site));
	assert_int_equal(lines_of(flood, 1000), LOG_RL_BURST);
	assert_int_equal(log_suppressed() - before, 1000 - LOG_RL_BURST);
	assert_int_equal(site.suppressed, 1000 - LOG_RL_BURST);
}

/* After the window: one line saying how many were suppressed, then more. */
static void
test_new_window_reports_suppressed(void **state)
{
	(void)state;
	memset(&site, 0, sizeof(site));
	assert_int_equal(lines_of(flood, 50), LOG_RL_BURST);
	site.window -= LOG_RL_WINDOW; /* as if the window had passed */
	/* The report, then a fresh burst. */
	assert_int_equal(lines_of(flood, 50), 1 + LOG_RL_BURST);
	assert_int_equal(site.suppressed, 50 - LOG_RL_BURST);
}

/* Separate call sites do not share a budget. */
static void
test_sites_are_separate(void **state)
{
	static struct log_rl other;

	(void)state;
	memset(&site, 0, sizeof(site));
	assert_int_equal(lines_of(flood, 20), LOG_RL_BURST);
	log_warnx_rl(&other, "another site");
	assert_int_equal(other.lines, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_suppressed),
	    cmocka_unit_test(test_new_window_reports_suppressed),
	    cmocka_unit_test(test_sites_are_separate),
	};

	log_init(0, "test_log");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
