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
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_str),
	    cmocka_unit_test(test_call_passes_fd_and_reads_reply),
	    cmocka_unit_test(test_call_on_closed_daemon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
