/*
 * pathcheck: real directories under a fresh temporary directory, given
 * the modes and owners an attacker would need, must be refused with the
 * offending path named; root's own layouts (and sticky /tmp above them)
 * must pass. Run as root (make test is) for the owner cases; as another
 * user those are skipped and the owner is the caller.
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

#include "pathcheck.h"

static char base[256];
static char err[1024];

/* Joins base and a relative name into a static buffer. */
static const char *
at(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", base, name);
	return buf[i];
}

/* A fresh 0755 directory under /tmp (sticky, root's) per test. */
static int
setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/pathcheck-XXXXXX");
	if (mkdtemp(base) == NULL || chmod(base, 0755) == -1)
		return -1;
	return 0;
}

/* Removes the test's tree. */
static int
teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes an empty file with mode. */
static void
touch(const char *path, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_safe_tree_passes(void **state)
{
	(void)state;
	assert_int_equal(mkdir(at("etc"), 0755), 0);
	touch(at("etc/softnetd.json"), 0644);
	assert_int_equal(
	    pathcheck_path(at("etc/softnetd.json"), getuid(), err, sizeof(err)),
	    0);
	/* A database directory that does not exist yet: its parent counts. */
	assert_int_equal(pathcheck_parent(at("etc/db/sub/leases.db"), getuid(),
	                     err, sizeof(err)),
	    0);
}

static void
test_world_writable_dir_refused(void **state)
{
	(void)state;
	assert_int_equal(mkdir(at("open"), 0755), 0);
	assert_int_equal(chmod(at("open"), 0777), 0);
	touch(at("open/softnetd.json"), 0644);
	assert_int_equal(pathcheck_path(at("open/softnetd.json"), getuid(), err,
	                     sizeof(err)),
	    -1);
	assert_non_null(strstr(err, at("open")));
	assert_non_null(strstr(err, "writable by others"));
	/* The database's parent check sees it too. */
	assert_int_equal(
	    pathcheck_parent(at("open/leases.db"), getuid(), err, sizeof(err)),
	    -1);
}

static void
test_group_writable_file_refused(void **state)
{
	(void)state;
	touch(at("conf.json"), 0664);
	if (chown(at("conf.json"), (uid_t)-1, 50) == -1)
		skip();
	assert_int_equal(
	    pathcheck_path(at("conf.json"), getuid(), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "writable by its group"));
	/* Group 0 is root's own: allowed. */
	if (chown(at("conf.json"), (uid_t)-1, 0) == 0)
		assert_int_equal(
		    pathcheck_path(at("conf.json"), getuid(), err, sizeof(err)),
		    0);
}

static void
test_sticky_dir_only_above(void **state)
{
	(void)state;
	assert_int_equal(mkdir(at("tmp"), 0755), 0);
	assert_int_equal(chmod(at("tmp"), 01777), 0);
	assert_int_equal(mkdir(at("tmp/d"), 0755), 0);
	assert_int_equal(
	    pathcheck_path(at("tmp/d"), getuid(), err, sizeof(err)), 0);
	/* As the last component a sticky, world-writable directory is not. */
	assert_int_equal(
	    pathcheck_path(at("tmp"), getuid(), err, sizeof(err)), -1);
}

static void
test_other_owner_refused(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(mkdir(at("user"), 0755), 0);
	touch(at("user/softnetd"), 0755);
	assert_int_equal(chown(at("user"), 65534, 65534), 0);
	assert_int_equal(
	    pathcheck_path(at("user/softnetd"), 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, at("user")));
	assert_non_null(strstr(err, "owned by uid 65534"));
}

static void
test_symlink_resolved(void **state)
{
	(void)state;
	/* A safe-looking link into an unsafe directory is judged by its
	 * target. */
	assert_int_equal(mkdir(at("bad"), 0755), 0);
	assert_int_equal(chmod(at("bad"), 0777), 0);
	touch(at("bad/softnetd.json"), 0644);
	assert_int_equal(symlink(at("bad/softnetd.json"), at("link.json")), 0);
	assert_int_equal(
	    pathcheck_path(at("link.json"), getuid(), err, sizeof(err)), -1);
	assert_non_null(strstr(err, at("bad")));
}

static void
test_missing_path_refused(void **state)
{
	(void)state;
	assert_int_equal(
	    pathcheck_path(at("nope.json"), getuid(), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nope.json"));
}

static void
test_self_found(void **state)
{
	char self[512];

	(void)state;
	assert_int_equal(
	    pathcheck_self("x", self, sizeof(self), err, sizeof(err)), 0);
	assert_non_null(strstr(self, "test_pathcheck"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_safe_tree_passes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_world_writable_dir_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_group_writable_file_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_sticky_dir_only_above, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_other_owner_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_symlink_resolved, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_missing_path_refused, setup, teardown),
	    cmocka_unit_test(test_self_found),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
