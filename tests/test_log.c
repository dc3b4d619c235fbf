/*
 * Tests for log.c's rate limit: a burst of a repeated warning gets through,
 * the rest is counted instead of written, and the count is reported once
 * the window has passed. stderr is redirected to a file and read back.
 *
 * And the -l log file's reopen (log_open_file, log_check_file): a real
 * file in a temporary directory is renamed, replaced, or replaced by
 * something unopenable under the "daemon" (this process), and the lines
 * are looked for in each file. stdout and stderr are saved and restored
 * around each of those tests, since log_open_file takes them over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static char dir[] = "/tmp/test_log.d.XXXXXX";
static char logpath[64], rotated[64];
static int saved_out, saved_err;

/* A fresh directory; stdout and stderr saved for teardown. */
static int
file_setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/test_log.d.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/softnetd.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/softnetd.log.0", dir);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	return saved_out == -1 || saved_err == -1 ? -1 : 0;
}

/* Restores stdout and stderr and removes what the test left. */
static int
file_teardown(void **state)
{
	char cmd[128];

	(void)state;
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Whether the file at path contains needle (a missing file does not). */
static int
file_has(const char *path, const char *needle)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* How many lines of the file at path contain needle. */
static int
lines_of_file_matching(const char *path, const char *needle)
{
	char line[1024];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

/* Lines go to the file; nothing to do while nobody rotates it. */
static void
test_log_file_written(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(log_open_file(logpath, err, sizeof(err)), 0);
	log_info("first line");
	assert_int_equal(log_check_file(0), 0);
	assert_true(file_has(logpath, "test_log: first line\n"));
}

/* Renamed away (newsyslog): the next check opens a new file at the path. */
static void
test_log_file_renamed(void **state)
{
	char err[256];
	struct stat st;

	(void)state;
	assert_int_equal(log_open_file(logpath, err, sizeof(err)), 0);
	log_info("before rotation");
	assert_int_equal(rename(logpath, rotated), 0);
	log_info("between rotation and check");
	assert_int_equal(log_check_file(0), 1);
	log_info("after rotation");
	assert_int_equal(log_check_file(0), 0);
	assert_true(file_has(rotated, "before rotation"));
	assert_true(file_has(rotated, "between rotation and check"));
	assert_true(file_has(rotated, "reopening the log file"));
	assert_false(file_has(rotated, "after rotation"));
	assert_true(file_has(logpath, "after rotation"));
	assert_int_equal(stat(logpath, &st), 0);
	assert_int_equal(st.st_mode & 0777 & ~0640, 0);
}

/* Renamed and a new empty file created (newsyslog's own): that one. */
static void
test_log_file_replaced(void **state)
{
	char err[256];
	FILE *f;

	(void)state;
	assert_int_equal(log_open_file(logpath, err, sizeof(err)), 0);
	assert_int_equal(rename(logpath, rotated), 0);
	assert_non_null(f = fopen(logpath, "w"));
	fclose(f);
	assert_int_equal(log_check_file(0), 1);
	log_info("into the new file");
	assert_true(file_has(logpath, "into the new file"));
	assert_false(file_has(rotated, "into the new file"));
	/* SIGHUP's forced reopen of the same file is harmless. */
	assert_int_equal(log_check_file(1), 1);
	log_info("after a forced reopen");
	assert_true(file_has(logpath, "after a forced reopen"));
}

/*
 * Something that cannot be opened at the path (a directory here; for a
 * dropped user, EACCES): one warning, lines stay in the old file, and
 * the reopen happens once the path is usable again.
 */
static void
test_log_file_reopen_fails(void **state)
{
	char err[256];
	char link[80];

	(void)state;
	assert_int_equal(log_open_file(logpath, err, sizeof(err)), 0);
	assert_int_equal(rename(logpath, rotated), 0);
	assert_int_equal(mkdir(logpath, 0700), 0);
	assert_int_equal(log_check_file(0), -1);
	assert_int_equal(log_check_file(0), -1);
	log_info("still in the old file");
	assert_true(file_has(rotated, "still in the old file"));
	assert_int_equal(lines_of_file_matching(rotated, "cannot reopen"), 1);
	/* A symbolic link is refused, not followed. */
	assert_int_equal(rmdir(logpath), 0);
	snprintf(link, sizeof(link), "%s/elsewhere", dir);
	assert_int_equal(symlink(link, logpath), 0);
	assert_int_equal(log_check_file(0), -1);
	assert_int_equal(access(link, F_OK), -1);
	assert_int_equal(unlink(logpath), 0);
	assert_int_equal(log_check_file(0), 1);
	log_info("in the new file again");
	assert_true(file_has(logpath, "in the new file again"));
}

/* Refused at start: relative paths, symbolic links, hard links. */
static void
test_log_file_refused(void **state)
{
	char err[256], other[80];
	FILE *f;

	(void)state;
	assert_int_equal(log_open_file("relative.log", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "absolute"));
	snprintf(other, sizeof(other), "%s/other", dir);
	assert_non_null(f = fopen(other, "w"));
	fclose(f);
	assert_int_equal(link(other, logpath), 0);
	assert_int_equal(log_open_file(logpath, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than one link"));
	assert_int_equal(unlink(logpath), 0);
	assert_int_equal(symlink(other, logpath), 0);
	assert_int_equal(log_open_file(logpath, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_suppressed),
	    cmocka_unit_test(test_new_window_reports_suppressed),
	    cmocka_unit_test(test_sites_are_separate),
	    cmocka_unit_test_setup_teardown(
	        test_log_file_written, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_log_file_renamed, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_log_file_replaced, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_log_file_reopen_fails, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_log_file_refused, file_setup, file_teardown),
	};

	log_init(0, "test_log");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
