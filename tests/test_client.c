/*
 * Unit tests for the client helpers shared by softnetctl and softnet: list
 * splitting, value formatting, and the exchange with a daemon (played here
 * by the test over a socket pair, including the fd it must pass).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client.h"
#include "softnet_sys.h"

/* Splits lists into JSON arrays and refuses empty items. */
static void
test_split(void **state)
{
	json_t *a = json_array();

	(void)state;
	assert_int_equal(client_split(a, "10.0.0.0/8,@host"), 0);
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(
	    json_string_value(json_array_get(a, 0)), "10.0.0.0/8");
	assert_string_equal(json_string_value(json_array_get(a, 1)), "@host");
	assert_int_equal(client_split(a, ""), -1);
	assert_int_equal(client_split(a, "a,,b"), -1);
	assert_int_equal(client_split(a, "a,"), -1);
	assert_int_equal(client_split(a, ",a"), -1);
	json_decref(a);
}

/* Formats strings, integers, booleans and null for tables. */
static void
test_str(void **state)
{
	char buf[32];
	json_t *v;

	(void)state;
	v = json_string("vm1");
	assert_string_equal(client_str(v, buf, sizeof(buf)), "vm1");
	json_decref(v);
	v = json_integer(-42);
	assert_string_equal(client_str(v, buf, sizeof(buf)), "-42");
	json_decref(v);
	assert_string_equal(client_str(json_true(), buf, sizeof(buf)), "yes");
	assert_string_equal(client_str(json_null(), buf, sizeof(buf)), "-");
	assert_string_equal(client_str(NULL, buf, sizeof(buf)), "-");
	assert_string_equal(client_user(0, buf, sizeof(buf)), "root");
	assert_string_equal(
	    client_user(4000000000LL, buf, sizeof(buf)), "4000000000");
}

/* Receives one line and at most one fd from the client's end. */
static ssize_t
serve_line(int s, char *line, size_t len, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr msg;
	struct iovec iov = {line, len};
	struct cmsghdr *cm;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	*fd = -1;
	n = recvmsg(s, &msg, 0);
	cm = CMSG_FIRSTHDR(&msg);
	if (cm != NULL && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

/* A request goes out as one line with its fd; the reply is parsed. */
static void
test_call_passes_fd_and_reads_reply(void **state)
{
	struct client c = {.prog = "test"};
	char line[256];
	int sv[2], pair[2], got;
	json_t *r;
	static const char reply[] = "{\"ok\":false,\"error\":{\"code\":\"bad_"
	                            "mac\",\"message\":\"m\"}}\n";

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), 0);
	c.fd = sv[0];
	/* The "daemon" answers before it is asked: the socket buffers it. */
	assert_int_equal(
	    write(sv[1], reply, sizeof(reply) - 1), (ssize_t)sizeof(reply) - 1);
	r = client_call(&c, json_pack("{s:s}", "op", "attach"), pair[0]);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(r, "error"), "code")),
	    "bad_mac");
	json_decref(r);
	memset(line, 0, sizeof(line));
	assert_true(serve_line(sv[1], line, sizeof(line) - 1, &got) > 0);
	assert_string_equal(line, "{\"op\":\"attach\"}\n");
	assert_true(got >= 0);
	/* The fd that arrived is the same socket: data crosses it. */
	assert_int_equal(send(pair[1], "x", 1, 0), 1);
	assert_int_equal(recv(got, line, 1, MSG_DONTWAIT), 1);
	close(got);
	close(sv[0]);
	close(sv[1]);
	close(pair[0]);
	close(pair[1]);
}

/* A daemon that hangs up yields NULL, not a crash. */
static void
test_call_on_closed_daemon(void **state)
{
	struct client c = {.prog = "test"};
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c.fd = sv[0];
	close(sv[1]);
	assert_null(client_call(&c, json_pack("{s:s}", "op", "list"), -1));
	close(sv[0]);
}

/* The strings of a request's array key, comma-joined ("" when absent). */
static const char *
joined(json_t *req, const char *key, char *buf, size_t len)
{
	json_t *arr = json_object_get(req, key), *v;
	size_t i, off = 0;

	buf[0] = '\0';
	json_array_foreach(arr, i, v) {
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i > 0 ? "," : "", json_string_value(v));
	}
	return buf;
}

/* Runs the attach option parser of fe over a NULL-terminated argv. */
static int
parse(enum client_fe fe, struct client_attach *a, char **argv)
{
	static struct client c = {.fd = -1, .prog = "test"};
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	a->fe = fe;
	a->fd = -1;
	a->req = json_object();
	optind = 0; /* glibc: start afresh */
	return client_attach_options(&c, a, argc, argv);
}

static void
no_usage(FILE *stream)
{
	(void)stream;
}

static const struct cmd_entry test_entry = {"attach", "", "", NULL, ""};

/*
 * softnetctl's attach options: lists add up, an empty item is a usage
 * error, --fd must be open and given once, exec (no_fd) takes no --fd.
 */
static void
test_attach_options_ctl(void **state)
{
	char fdstr[16], buf[128];
	struct client_attach a;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	snprintf(fdstr, sizeof(fdstr), "%d", sv[0]);
	memset(&a, 0, sizeof(a));
	a.e = &test_entry;
	assert_int_equal(
	    parse(CLIENT_FE_CTL, &a,
	        (char *[]){"attach", "--fd", fdstr, "--mac",
	            "02:00:00:00:00:01", "--allow", "a,b", "--block", "d",
	            "--allow", "c", "--ip", "1.2.3.4", NULL}),
	    -1);
	assert_int_equal(a.fd, sv[0]);
	assert_string_equal(joined(a.req, "allow", buf, sizeof(buf)), "a,b,c");
	assert_string_equal(joined(a.req, "block", buf, sizeof(buf)), "d");
	assert_string_equal(json_string_value(json_object_get(a.req, "mac")),
	    "02:00:00:00:00:01");
	assert_string_equal(
	    json_string_value(json_object_get(a.req, "ip")), "1.2.3.4");
	json_decref(a.req);
	assert_int_equal(parse(CLIENT_FE_CTL, &a,
	                     (char *[]){"attach", "--allow", "a,,b", NULL}),
	    EXIT_USAGE);
	json_decref(a.req);
	assert_int_equal(
	    parse(CLIENT_FE_CTL, &a,
	        (char *[]){"attach", "--fd", fdstr, "--tap", "t", NULL}),
	    EXIT_USAGE);
	json_decref(a.req);
	/* softnet's own options are not softnetctl's. */
	assert_int_equal(parse(CLIENT_FE_CTL, &a,
	                     (char *[]){"attach", "--vm-fd", fdstr, NULL}),
	    EXIT_USAGE);
	json_decref(a.req);
	a.no_fd = true;
	assert_int_equal(
	    parse(CLIENT_FE_CTL, &a, (char *[]){"exec", "--fd", fdstr, NULL}),
	    EXIT_USAGE);
	json_decref(a.req);
	close(sv[0]);
	close(sv[1]);
}

/*
 * softnet's options from the same table: the original Softnet's names, a
 * repeated list replaces the earlier one, an empty item ends a list.
 */
static void
test_attach_options_softnet(void **state)
{
	struct client_attach a;
	char buf[128];

	(void)state;
	memset(&a, 0, sizeof(a));
	a.usage = no_usage;
	assert_int_equal(
	    parse(CLIENT_FE_SOFTNET, &a,
	        (char *[]){"softnet", "--vm-fd", "0", "--vm-mac-address",
	            "02:00:00:00:00:02", "--allow", "a", "--allow", "b,,c",
	            "--vm-net-type", "host", "--wait", "7", "--user", "u",
	            NULL}),
	    -1);
	assert_int_equal(a.fd, 0);
	assert_true(a.host_only);
	assert_int_equal(a.wait_s, 7);
	assert_string_equal(joined(a.req, "allow", buf, sizeof(buf)), "b");
	assert_string_equal(json_string_value(json_object_get(a.req, "mac")),
	    "02:00:00:00:00:02");
	json_decref(a.req);
	assert_int_equal(
	    parse(CLIENT_FE_SOFTNET, &a,
	        (char *[]){"softnet", "--vm-net-type", "bridged", NULL}),
	    EXIT_USAGE);
	json_decref(a.req);
	assert_int_equal(parse(CLIENT_FE_SOFTNET, &a,
	                     (char *[]){"softnet", "--mac", "m", NULL}),
	    EXIT_USAGE);
	json_decref(a.req);
	assert_int_equal(
	    parse(CLIENT_FE_SOFTNET, &a,
	        (char *[]){"softnet", "--sudo-escalation-probing", NULL}),
	    0);
	json_decref(a.req);
}

/* Each program's help lines come from the table, in its own layout. */
static void
test_attach_help(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(f = open_memstream(&text, &len));
	client_attach_help(CLIENT_FE_CTL, f);
	fclose(f);
	assert_non_null(strstr(text,
	    "  --fd N          an inherited descriptor: one end of a "
	    "SOCK_DGRAM\n                  socket pair"));
	assert_non_null(strstr(text, "  --expose LIST   EXT:INT TCP ports"));
	assert_null(strstr(text, "--vm-fd"));
	free(text);
	assert_non_null(f = open_memstream(&text, &len));
	client_attach_help(CLIENT_FE_SOFTNET, f);
	fclose(f);
	assert_non_null(strstr(text, "  --vm-net-type nat|host nat (default)"));
	assert_non_null(strstr(text,
	    "  --user, --group, --bootpd-lease-time\n"
	    "                         accepted for compatibility"));
	assert_non_null(strstr(text, "(default 30; 0: try once)"));
	assert_null(strstr(text, "--tap"));
	free(text);
}

/* The shared system code: close-on-exec pairs; a TAP name too long. */
static void
test_softnet_sys(void **state)
{
	int sv[2];

	(void)state;
	assert_int_equal(softnet_sys_socketpair(AF_UNIX, SOCK_DGRAM, sv), 0);
	assert_true(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(sv[1], F_GETFD) & FD_CLOEXEC);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(
	    softnet_sys_tap_open("a-name-far-too-long-for-ifnamsiz", true), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/*
 * softnet's retry schedule: 50 ms, doubling, capped at 1 s; no retry past
 * the deadline or once stopped. Each nap is cut to the deadline, here
 * 50 ms away, so the schedule is checked without sleeping it.
 */
static void
test_backoff_schedule(void **state)
{
	static const long want[] = {50, 100, 200, 400, 800, 1000, 1000, 1000};
	volatile sig_atomic_t stop = 0;
	long b = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(
		    client_backoff(&b, client_now_ms() + 50, &stop), 0);
		assert_int_equal(b, want[i]);
	}
	assert_int_equal(client_backoff(&b, client_now_ms() - 1, &stop), -1);
	stop = 1;
	assert_int_equal(client_backoff(&b, client_now_ms() + 50, &stop), -1);
	assert_int_equal(b, 1000);
}

/* Receives up to cap bytes on s and the fd passed with them (or -1). */
static ssize_t
recv_with_fd(int s, char *buf, size_t cap, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {buf, cap};
	struct msghdr msg;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	*fd = -1;
	if ((n = recvmsg(s, &msg, 0)) == -1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

/*
 * The one SCM_RIGHTS send (daemon replies and client requests): the
 * bytes arrive with a descriptor for the same pipe, and without one when
 * fd is -1.
 */
static void
test_softnet_sys_send_fd(void **state)
{
	int sv[2], p[2], got;
	char buf[16];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(softnet_sys_send_fd(sv[0], "hi\n", 3, p[1], 0), 3);
	assert_int_equal(recv_with_fd(sv[1], buf, sizeof(buf), &got), 3);
	assert_memory_equal(buf, "hi\n", 3);
	assert_int_not_equal(got, -1);
	assert_int_not_equal(got, p[1]);
	/* The passed fd is the pipe's write end: what it writes, p[0] reads. */
	assert_int_equal(write(got, "x", 1), 1);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'x');
	close(got);
	assert_int_equal(softnet_sys_send_fd(sv[0], "ok", 2, -1, 0), 2);
	assert_int_equal(recv_with_fd(sv[1], buf, sizeof(buf), &got), 2);
	assert_int_equal(got, -1);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_str),
	    cmocka_unit_test(test_call_passes_fd_and_reads_reply),
	    cmocka_unit_test(test_call_on_closed_daemon),
	    cmocka_unit_test(test_attach_options_ctl),
	    cmocka_unit_test(test_attach_options_softnet),
	    cmocka_unit_test(test_attach_help),
	    cmocka_unit_test(test_softnet_sys),
	    cmocka_unit_test(test_softnet_sys_send_fd),
	    cmocka_unit_test(test_backoff_schedule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
