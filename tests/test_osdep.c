/*
 * Unit tests for the portable descriptor and group helpers in osdep (the
 * ones macOS needs because it lacks SOCK_CLOEXEC, SOCK_NONBLOCK and
 * glibc's getgrouplist prototype). They run against this platform's
 * osdep; make check-darwin type-checks the macOS one.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "clock.h"
#include "osdep.h"

/* Whether fd has FD_CLOEXEC; whether it has O_NONBLOCK. */
static void
flags_of(int fd, bool *cloexec, bool *nonblock)
{
	int fd_fl = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL);

	assert_int_not_equal(fd_fl, -1);
	assert_int_not_equal(fl, -1);
	*cloexec = (fd_fl & FD_CLOEXEC) != 0;
	*nonblock = (fl & O_NONBLOCK) != 0;
}

/* The socket type the kernel reports for fd. */
static int
type_of(int fd)
{
	int type;
	socklen_t len = sizeof(type);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	return type;
}

/* osdep_socket: close-on-exec always, non-blocking only when asked. */
static void
test_socket_flags(void **state)
{
	bool cloexec, nonblock;
	int s;

	(void)state;
	s = osdep_socket(AF_UNIX, SOCK_STREAM, false);
	assert_true(s >= 0);
	flags_of(s, &cloexec, &nonblock);
	assert_true(cloexec);
	assert_false(nonblock);
	assert_int_equal(type_of(s), SOCK_STREAM);
	close(s);

	s = osdep_socket(AF_UNIX, SOCK_STREAM, true);
	assert_true(s >= 0);
	flags_of(s, &cloexec, &nonblock);
	assert_true(cloexec);
	assert_true(nonblock);
	close(s);
}

/* osdep_socket: a refused socket(2) is -1 with its errno. */
static void
test_socket_error(void **state)
{
	(void)state;
	errno = 0;
	assert_int_equal(osdep_socket(-1, SOCK_STREAM, true), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
}

/* osdep_socketpair: both ends close-on-exec, blocking, of the type. */
static void
test_socketpair_flags(void **state)
{
	bool cloexec, nonblock;
	int sv[2], i;
	char b = 0;

	(void)state;
	assert_int_equal(osdep_socketpair(AF_UNIX, SOCK_DGRAM, sv), 0);
	for (i = 0; i < 2; i++) {
		flags_of(sv[i], &cloexec, &nonblock);
		assert_true(cloexec);
		assert_false(nonblock);
		assert_int_equal(type_of(sv[i]), SOCK_DGRAM);
	}
	assert_int_equal(send(sv[0], "x", 1, 0), 1);
	assert_int_equal(recv(sv[1], &b, 1, 0), 1);
	assert_int_equal(b, 'x');
	close(sv[0]);
	close(sv[1]);
	errno = 0;
	assert_int_equal(osdep_socketpair(-1, SOCK_DGRAM, sv), -1);
	assert_int_not_equal(errno, 0);
}

/* osdep_user_in_group: the base group, a supplementary one, and neither. */
static void
test_user_in_group(void **state)
{
	struct passwd *pw;
	struct group *gr;
	bool found = false;

	(void)state;
	/* getgrouplist counts the base group whatever the database says. */
	assert_true(osdep_user_in_group("root", 0, 0));
	assert_true(osdep_user_in_group("root", 4242, 4242));
	assert_false(osdep_user_in_group("no-such-user-softnet", 4242, 4243));
	if ((pw = getpwnam("nobody")) != NULL)
		assert_false(osdep_user_in_group("nobody", pw->pw_gid, 0));

	/* A member listed in /etc/group whose primary group is another one. */
	setgrent();
	while (!found && (gr = getgrent()) != NULL) {
		if (gr->gr_mem == NULL || gr->gr_mem[0] == NULL)
			continue;
		if ((pw = getpwnam(gr->gr_mem[0])) == NULL ||
		    pw->pw_gid == gr->gr_gid)
			continue;
		assert_true(
		    osdep_user_in_group(pw->pw_name, pw->pw_gid, gr->gr_gid));
		found = true;
	}
	endgrent();
	if (!found)
		print_message("no supplementary membership here to check\n");
}

/*
 * The loop's CPU demand (the clock rule's saturation test) grows by at
 * least the time the thread spends on a CPU, and never goes back.
 */
static void
test_thread_demand(void **state)
{
	volatile uint64_t sink = 0;
	uint64_t d0, d1, d2, t0;

	(void)state;
	d0 = osdep_thread_demand_ns();
	t0 = clock_mono();
	while (clock_mono() - t0 < 30000000) /* 30 ms on a CPU or waiting */
		sink++;
	d1 = osdep_thread_demand_ns();
	/* Run plus runnable wait: all of the 30 ms, less timer slack. */
	assert_true(d1 - d0 >= 25000000);
	assert_true(d1 >= d0);
	usleep(20000); /* asleep: not demand */
	d2 = osdep_thread_demand_ns();
	assert_true(d2 >= d1);
	assert_true(d2 - d1 < 15000000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_socket_flags),
	    cmocka_unit_test(test_socket_error),
	    cmocka_unit_test(test_socketpair_flags),
	    cmocka_unit_test(test_user_in_group),
	    cmocka_unit_test(test_thread_demand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
