/*
 * The control protocol core, ctl_ops_request, driven without a socket
 * against a hand-built daemon context: a real lease database (":memory:"),
 * the port registry and the switch (no uplink). VM descriptors are
 * SOCK_DGRAM socketpairs; the daemon gets sv[0], the test keeps sv[1].
 *
 * Every op's happy path, then every rejection ctl_ops_request can give,
 * each checked for its stable code, for changing nothing (port count and
 * the lease database's event log) and for closing the descriptor it was
 * handed.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "control.h"
#include "ctl_ops.h"
#include "leasedb.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "testd.h"
#include "vm.h"

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))
#define NET(x) IP4(192, 168, 105, x)
#define T0     1700000000

#define MAC1 "02:00:00:00:00:01"
#define MAC2 "02:00:00:00:00:02"
#define MAC3 "02:00:00:00:00:03"

static int64_t fake_now = T0;

/* The daemon's clock, under the test's control (clock_set_hook). */
static int64_t
test_now(void)
{
	return fake_now;
}

static struct softnetd sd;
static const struct ctl_peer root_peer = {0, 0, true};
static const struct ctl_peer alice = {1000, 1000, false};
static const struct ctl_peer bob = {1001, 1001, false};

/* A fresh daemon context for each test. */
static int
setup(void **state)
{
	static const uint8_t upmac[6] = {0x02, 0x5e, 0, 0, 0, 1};

	(void)state;
	fake_now = T0;
	testd_open(&sd, upmac);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	testd_close(&sd);
	return 0;
}

/* A VM socketpair; returns the daemon's end, *peer the test's. */
static int
vm_pair(int *peer)
{
	return testd_pair(SOCK_DGRAM, peer);
}

/* Sends a request of len bytes; checks what every reply has. */
static json_t *
call_len(const struct ctl_peer *peer, const char *line, size_t len, int fd,
    void *session)
{
	json_t *r = ctl_ops_request(&sd, peer, line, len, fd, session);

	assert_non_null(r);
	assert_true(json_is_object(r));
	assert_true(json_is_boolean(json_object_get(r, "ok")));
	return r;
}

/* Sends one request line. */
static json_t *
call(const struct ctl_peer *peer, const char *line, int fd)
{
	return call_len(peer, line, strlen(line), fd, NULL);
}

/* Asserts a successful reply. */
static void
assert_ok(json_t *r)
{
	if (!json_is_true(json_object_get(r, "ok"))) {
		char *s = json_dumps(r, 0);

		print_error("expected ok, got %s\n", s);
		free(s);
		fail();
	}
	assert_null(json_object_get(r, "error"));
}

/* Asserts a failed reply with this code and a message; frees it. */
static void
assert_error(json_t *r, const char *code)
{
	json_t *e = json_object_get(r, "error");
	const char *got;

	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_true(json_is_object(e));
	got = json_string_value(json_object_get(e, "code"));
	assert_non_null(got);
	if (strcmp(got, code) != 0) {
		print_error("expected %s, got %s (%s)\n", code, got,
		    json_string_value(json_object_get(e, "message")));
		fail();
	}
	assert_true(json_is_string(json_object_get(e, "message")));
	assert_true(
	    strlen(json_string_value(json_object_get(e, "message"))) > 0);
	json_decref(r);
}

/* Sends a request that must fail with code; frees the reply. */
static void
expect_error(
    const struct ctl_peer *peer, const char *line, int fd, const char *code)
{
	assert_error(call(peer, line, fd), code);
}

/* The daemon closed fd: the number is free again. */
static void
assert_fd_closed(int fd)
{
	errno = 0;
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

/* The daemon's end of a datagram pair is gone: sending is refused. */
static void
assert_peer_gone(int peer)
{
	errno = 0;
	assert_int_equal(send(peer, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL), -1);
	assert_int_equal(errno, ECONNREFUSED);
}

/* Attaches a VM as peer; returns its id. */
static json_int_t
attach(
    const struct ctl_peer *peer, const char *mac, const char *name, int *vmpeer)
{
	char line[256];
	json_t *r, *vm;
	json_int_t id;
	int fd = vm_pair(vmpeer);

	if (name != NULL)
		snprintf(line, sizeof(line),
		    "{\"op\":\"attach\",\"mac\":\"%s\",\"name\":\"%s\"}", mac,
		    name);
	else
		snprintf(line, sizeof(line),
		    "{\"op\":\"attach\",\"mac\":\"%s\"}", mac);
	r = call(peer, line, fd);
	assert_ok(r);
	vm = json_object_get(r, "vm");
	assert_true(json_is_object(vm));
	id = json_integer_value(json_object_get(vm, "id"));
	assert_true(id > 0);
	assert_non_null(port_by_id(&sd, (uint32_t)id));
	assert_int_equal(port_by_id(&sd, (uint32_t)id)->fd, fd);
	json_decref(r);
	return id;
}

/* Binds the next free address to the port with mac, DB and index. */
static uint32_t
bind_lease(const uint8_t mac[6])
{
	struct port *p = port_by_mac(&sd, mac);
	uint32_t ip;

	assert_non_null(p);
	assert_int_equal(leasedb_offer(sd.db, mac, 0, fake_now, 60, &ip), 0);
	assert_int_equal(leasedb_ack(sd.db, mac, ip, NULL, fake_now, 600), 0);
	port_set_lease(&sd, p, ip, fake_now + 600);
	return ip;
}

/* The string at key of o, or NULL. */
static const char *
str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* ---- hello ------------------------------------------------------------ */

static void
test_hello(void **state)
{
	json_t *r;

	(void)state;
	r = call(&alice, "{\"op\":\"hello\",\"version\":1,\"id\":7}", -1);
	assert_ok(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	assert_int_equal(json_integer_value(json_object_get(r, "version")),
	    SOFTNET_PROTO_VERSION);
	assert_string_equal(str(r, "server"), "softnetd");
	assert_string_equal(str(r, "software"), SOFTNET_VERSION);
	assert_int_equal(json_integer_value(json_object_get(r, "uid")), 1000);
	assert_true(json_is_false(json_object_get(r, "admin")));
	json_decref(r);

	r = call(&root_peer,
	    "{\"op\":\"hello\",\"version\":1,\"client\":\"test\"}", -1);
	assert_ok(r);
	assert_true(json_is_true(json_object_get(r, "admin")));
	assert_null(json_object_get(r, "id"));
	json_decref(r);

	/* A newer client gets the server's version. */
	r = call(&alice,
	    "{\"op\":\"hello\",\"version\":9223372036854775807,"
	    "\"id\":\"h\"}",
	    -1);
	assert_ok(r);
	assert_int_equal(json_integer_value(json_object_get(r, "version")),
	    SOFTNET_PROTO_VERSION);
	assert_string_equal(str(r, "id"), "h");
	json_decref(r);

	expect_error(
	    &alice, "{\"op\":\"hello\",\"version\":0}", -1, SOFTNET_E_VERSION);
	expect_error(
	    &alice, "{\"op\":\"hello\",\"version\":-1}", -1, SOFTNET_E_VERSION);
	expect_error(&alice,
	    "{\"op\":\"hello\",\"version\":-9223372036854775807}", -1,
	    SOFTNET_E_VERSION);
	expect_error(&alice, "{\"op\":\"hello\"}", -1, SOFTNET_E_BAD_REQUEST);
	expect_error(&alice, "{\"op\":\"hello\",\"version\":\"1\"}", -1,
	    SOFTNET_E_BAD_REQUEST);
	expect_error(&alice, "{\"op\":\"hello\",\"version\":1.0}", -1,
	    SOFTNET_E_BAD_REQUEST);
	expect_error(&alice, "{\"op\":\"hello\",\"version\":null}", -1,
	    SOFTNET_E_BAD_REQUEST);
	expect_error(&alice, "{\"op\":\"hello\",\"version\":1,\"extra\":1}", -1,
	    SOFTNET_E_BAD_REQUEST);
	/* Beyond int64: not JSON jansson can hold. */
	expect_error(&alice,
	    "{\"op\":\"hello\",\"version\":99999999999999999999}", -1,
	    SOFTNET_E_BAD_JSON);
}

/* ---- happy paths ------------------------------------------------------ */

static void
test_attach_list_show_detach(void **state)
{
	int fd, peer, fl;
	json_t *r, *vm, *vms;
	struct port *p;
	struct lease l;
	uint8_t mac[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};
	char buf[8];
	json_int_t id;

	(void)state;
	fd = vm_pair(&peer);
	r = call(&alice,
	    "{\"op\":\"attach\",\"id\":\"a1\",\"mac\":\"02:AA:BB:CC:DD:01\","
	    "\"name\":\"web-1\",\"allow\":[\"10.0.0.0/8\"],"
	    "\"block\":[\"10.1.0.0/16\"]}",
	    fd);
	assert_ok(r);
	assert_string_equal(str(r, "id"), "a1");
	vm = json_object_get(r, "vm");
	id = json_integer_value(json_object_get(vm, "id"));
	assert_int_equal(id, 1);
	assert_string_equal(str(vm, "name"), "web-1");
	assert_string_equal(str(vm, "mac"), "02:aa:bb:cc:dd:01");
	assert_true(json_is_null(json_object_get(vm, "ip")));
	assert_string_equal(str(vm, "state"), "attached");
	assert_string_equal(str(vm, "kind"), "dgram");
	assert_int_equal(
	    json_integer_value(json_object_get(vm, "owner")), 1000);
	assert_true(json_is_false(json_object_get(vm, "session")));
	assert_int_equal(
	    json_integer_value(json_object_get(vm, "attached_at")), T0);
	assert_true(json_is_null(json_object_get(vm, "lease_expires")));
	json_decref(r);

	/* The daemon owns the descriptor now: non-blocking, close-on-exec. */
	assert_int_equal(port_count(&sd), 1);
	p = port_by_mac(&sd, mac);
	assert_non_null(p);
	assert_int_equal(p->fd, fd);
	fl = fcntl(fd, F_GETFL);
	assert_true(fl != -1 && (fl & O_NONBLOCK) != 0);
	assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	assert_int_equal(p->policy.nrules, 2);
	assert_int_equal(p->policy.revision, 1);
	assert_int_equal(leasedb_get(sd.db, mac, &l), 0);
	assert_string_equal(l.name, "web-1");
	assert_int_equal(l.owner, 1000);
	/* Frames flow to the VM's end. */
	port_send(&sd, p, (const uint8_t *)"frame", 5);
	assert_int_equal(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 5);

	attach(&alice, MAC2, NULL, NULL);
	assert_int_equal(bind_lease(mac), NET(2));

	/* list */
	r = call(&alice, "{\"op\":\"list\",\"id\":3}", -1);
	assert_ok(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
	vms = json_object_get(r, "vms");
	assert_int_equal(json_array_size(vms), 2);
	assert_string_equal(str(json_array_get(vms, 0), "name"), "web-1");
	assert_string_equal(str(json_array_get(vms, 0), "ip"), "192.168.105.2");
	assert_string_equal(str(json_array_get(vms, 0), "state"), "leased");
	assert_true(
	    json_is_null(json_object_get(json_array_get(vms, 1), "name")));
	assert_string_equal(str(json_array_get(vms, 1), "mac"), MAC2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(vms, 1), "id")),
	    2);
	json_decref(r);

	/* show by name, MAC (any case), id string and id integer */
	static const char *const shows[] = {
	    "{\"op\":\"show\",\"vm\":\"web-1\",\"id\":1}",
	    "{\"op\":\"show\",\"vm\":\"02:aa:bb:cc:dd:01\",\"id\":1}",
	    "{\"op\":\"show\",\"vm\":\"02-AA-BB-CC-DD-01\",\"id\":1}",
	    "{\"op\":\"show\",\"vm\":\"1\",\"id\":1}",
	    "{\"op\":\"show\",\"vm\":1,\"id\":1}",
	};
	for (size_t i = 0; i < sizeof(shows) / sizeof(shows[0]); i++) {
		json_t *pol;

		r = call(&alice, shows[i], -1);
		assert_ok(r);
		assert_int_equal(
		    json_integer_value(json_object_get(r, "id")), 1);
		vm = json_object_get(r, "vm");
		assert_int_equal(
		    json_integer_value(json_object_get(vm, "id")), 1);
		assert_string_equal(str(vm, "name"), "web-1");
		pol = json_object_get(vm, "policy");
		assert_true(json_is_object(pol));
		assert_int_equal(
		    json_array_size(json_object_get(pol, "allow")), 1);
		assert_string_equal(json_string_value(json_array_get(
		                        json_object_get(pol, "allow"), 0)),
		    "10.0.0.0/8");
		assert_string_equal(json_string_value(json_array_get(
		                        json_object_get(pol, "block"), 0)),
		    "10.1.0.0/16");
		assert_int_equal(
		    json_integer_value(json_object_get(pol, "revision")), 1);
		assert_true(json_is_object(json_object_get(vm, "stats")));
		json_decref(r);
	}

	/* detach by name: gone, descriptor closed, lease released */
	r = call(
	    &alice, "{\"op\":\"detach\",\"vm\":\"web-1\",\"id\":\"d\"}", -1);
	assert_ok(r);
	assert_string_equal(str(r, "id"), "d");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(r, "vm"), "id")),
	    1);
	json_decref(r);
	assert_int_equal(port_count(&sd), 1);
	assert_null(port_by_mac(&sd, mac));
	assert_null(port_by_ip(&sd, NET(2)));
	assert_fd_closed(fd);
	assert_peer_gone(peer);
	assert_int_equal(leasedb_get(sd.db, mac, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	expect_error(&alice, "{\"op\":\"show\",\"vm\":\"web-1\"}", -1,
	    SOFTNET_E_NOT_FOUND);

	/* detach by integer id; ids are not reused */
	r = call(&alice, "{\"op\":\"detach\",\"vm\":2}", -1);
	assert_ok(r);
	json_decref(r);
	assert_int_equal(port_count(&sd), 0);
	assert_int_equal(attach(&alice, MAC1, "web-1", NULL), 3);
}

static void
test_stats(void **state)
{
	struct port *p;
	json_t *r, *st, *vms;
	int peer;

	(void)state;
	attach(&root_peer, MAC1, "one", &peer);
	attach(&alice, MAC2, "two", NULL);
	p = port_by_name(&sd, "one");
	p->st.drops[DROP_SRC_MAC] = 3;
	p->st.drops[DROP_POLICY] = 2;
	port_send(&sd, p, (const uint8_t *)"abcdef", 6);

	r = call(&root_peer, "{\"op\":\"stats\",\"vm\":\"one\",\"id\":5}", -1);
	assert_ok(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 5);
	st = json_object_get(json_object_get(r, "vm"), "stats");
	assert_true(json_is_object(st));
	assert_int_equal(
	    json_integer_value(json_object_get(st, "rx_frames")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(st, "rx_bytes")), 6);
	assert_int_equal(
	    json_integer_value(json_object_get(st, "tx_frames")), 0);
	assert_int_equal(json_integer_value(json_object_get(st, "dropped")), 5);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(st, "drops"), "src_mac")),
	    3);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(st, "drops"), "policy")),
	    2);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(st, "drops"), "queue_full")),
	    0);
	json_decref(r);

	/* Without vm: every VM the peer may see, in detail. */
	r = call(&root_peer, "{\"op\":\"stats\"}", -1);
	assert_ok(r);
	vms = json_object_get(r, "vms");
	assert_int_equal(json_array_size(vms), 2);
	assert_true(
	    json_is_object(json_object_get(json_array_get(vms, 1), "stats")));
	json_decref(r);
	r = call(&alice, "{\"op\":\"stats\"}", -1);
	assert_ok(r);
	vms = json_object_get(r, "vms");
	assert_int_equal(json_array_size(vms), 1);
	assert_string_equal(str(json_array_get(vms, 0), "name"), "two");
	json_decref(r);

	expect_error(&root_peer, "{\"op\":\"stats\",\"bogus\":1}", -1,
	    SOFTNET_E_BAD_REQUEST);
	expect_error(&root_peer, "{\"op\":\"stats\",\"vm\":\"one\",\"x\":1}",
	    -1, SOFTNET_E_BAD_REQUEST);
	expect_error(&root_peer, "{\"op\":\"stats\",\"vm\":\"zzz\"}", -1,
	    SOFTNET_E_NOT_FOUND);
	expect_error(&alice, "{\"op\":\"stats\",\"vm\":\"one\"}", -1,
	    SOFTNET_E_NOT_FOUND);
}

/* Finds the lease row for mac in a leases reply. */
static json_t *
lease_row(json_t *leases, const char *mac)
{
	json_t *v;
	size_t i;

	json_array_foreach(leases, i, v) {
		if (strcmp(str(v, "mac"), mac) == 0)
			return v;
	}
	return NULL;
}

static void
test_leases_and_status(void **state)
{
	uint8_t mac1[6] = {2, 0, 0, 0, 0, 1};
	struct port *p;
	json_t *r, *ls, *row, *st;
	uint32_t ip;

	(void)state;
	attach(&root_peer, MAC1, "one", NULL);
	attach(&alice, MAC2, NULL, NULL);
	p = port_by_mac(&sd, mac1);
	assert_int_equal(leasedb_offer(sd.db, mac1, 0, T0, 60, &ip), 0);
	assert_int_equal(ip, NET(2));
	assert_int_equal(leasedb_ack(sd.db, mac1, ip, "host1", T0, 600), 0);
	port_set_lease(&sd, p, ip, T0 + 600);

	r = call(&root_peer, "{\"op\":\"leases\",\"id\":\"L\"}", -1);
	assert_ok(r);
	assert_string_equal(str(r, "id"), "L");
	ls = json_object_get(r, "leases");
	assert_int_equal(json_array_size(ls), 2);
	row = lease_row(ls, MAC1);
	assert_non_null(row);
	assert_string_equal(str(row, "ip"), "192.168.105.2");
	assert_string_equal(str(row, "name"), "one");
	assert_string_equal(str(row, "hostname"), "host1");
	assert_string_equal(str(row, "state"), "bound");
	assert_int_equal(json_integer_value(json_object_get(row, "owner")), 0);
	assert_int_equal(
	    json_integer_value(json_object_get(row, "expires")), T0 + 600);
	row = lease_row(ls, MAC2);
	assert_non_null(row);
	assert_true(json_is_null(json_object_get(row, "ip")));
	assert_true(json_is_null(json_object_get(row, "name")));
	json_decref(r);

	/* A non-admin sees its own rows only. */
	r = call(&alice, "{\"op\":\"leases\"}", -1);
	assert_ok(r);
	ls = json_object_get(r, "leases");
	assert_int_equal(json_array_size(ls), 1);
	assert_non_null(lease_row(ls, MAC2));
	json_decref(r);
	r = call(&bob, "{\"op\":\"leases\"}", -1);
	assert_ok(r);
	assert_int_equal(json_array_size(json_object_get(r, "leases")), 0);
	json_decref(r);

	/* show reflects the lease */
	r = call(&root_peer, "{\"op\":\"show\",\"vm\":\"one\"}", -1);
	assert_ok(r);
	assert_string_equal(
	    str(json_object_get(r, "vm"), "ip"), "192.168.105.2");
	assert_string_equal(str(json_object_get(r, "vm"), "state"), "leased");
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(r, "vm"), "lease_expires")),
	    T0 + 600);
	json_decref(r);

	r = call(&alice, "{\"op\":\"status\",\"id\":9}", -1);
	assert_ok(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 9);
	st = json_object_get(r, "status");
	assert_true(json_is_object(st));
	assert_string_equal(str(st, "version"), SOFTNET_VERSION);
	assert_int_equal(json_integer_value(json_object_get(st, "protocol")),
	    SOFTNET_PROTO_VERSION);
	assert_int_equal(json_integer_value(json_object_get(st, "vms")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(st, "max_vms")), 1024);
	assert_string_equal(
	    str(json_object_get(st, "uplink"), "gateway"), "192.168.105.1");
	assert_string_equal(
	    str(json_object_get(st, "uplink"), "netmask"), "255.255.255.0");
	assert_string_equal(
	    str(json_object_get(st, "uplink"), "mac"), "02:5e:00:00:00:01");
	assert_string_equal(
	    str(json_object_get(st, "uplink"), "name"), "test0");
	assert_string_equal(
	    str(json_object_get(st, "pool"), "start"), "192.168.105.2");
	assert_string_equal(
	    str(json_object_get(st, "pool"), "end"), "192.168.105.254");
	assert_true(json_is_object(json_object_get(st, "counters")));
	json_decref(r);

	expect_error(
	    &alice, "{\"op\":\"status\",\"x\":1}", -1, SOFTNET_E_BAD_REQUEST);
	expect_error(
	    &alice, "{\"op\":\"leases\",\"vm\":1}", -1, SOFTNET_E_BAD_REQUEST);
	expect_error(
	    &alice, "{\"op\":\"list\",\"vm\":1}", -1, SOFTNET_E_BAD_REQUEST);
}

static void
test_policy_ops(void **state)
{
	struct port *p;
	json_t *r, *pol;

	(void)state;
	attach(&alice, MAC1, "one", NULL);
	p = port_by_name(&sd, "one");

	r = call(&alice, "{\"op\":\"policy.get\",\"vm\":\"one\"}", -1);
	assert_ok(r);
	pol = json_object_get(r, "policy");
	assert_int_equal(
	    json_integer_value(json_object_get(pol, "revision")), 1);
	assert_int_equal(json_array_size(json_object_get(pol, "allow")), 0);
	json_decref(r);

	r = call(&alice,
	    "{\"op\":\"policy.set\",\"vm\":\"one\",\"revision\":1,"
	    "\"allow\":[\"192.168.105.0/24\"],\"block\":[\"@host\"]}",
	    -1);
	assert_ok(r);
	pol = json_object_get(r, "policy");
	assert_int_equal(
	    json_integer_value(json_object_get(pol, "revision")), 2);
	assert_int_equal(p->policy.nrules, 2);
	assert_int_equal(p->policy.revision, 2);
	json_decref(r);

	/* Stale revision and bad entries change nothing. */
	expect_error(&alice,
	    "{\"op\":\"policy.set\",\"vm\":\"one\",\"revision\":1,"
	    "\"allow\":[]}",
	    -1, SOFTNET_E_CONFLICT);
	expect_error(&alice,
	    "{\"op\":\"policy.set\",\"vm\":\"one\","
	    "\"allow\":[\"10.0.0.0/8\",\"10.0.0.1/8\"]}",
	    -1, SOFTNET_E_BAD_POLICY);
	expect_error(&alice,
	    "{\"op\":\"policy.set\",\"vm\":\"one\",\"allow\":\"x\"}", -1,
	    SOFTNET_E_BAD_REQUEST);
	expect_error(&alice,
	    "{\"op\":\"policy.set\",\"vm\":\"one\",\"revision\":\"2\"}", -1,
	    SOFTNET_E_BAD_REQUEST);
	expect_error(&bob,
	    "{\"op\":\"policy.set\",\"vm\":\"one\",\"allow\":[]}", -1,
	    SOFTNET_E_NOT_FOUND);
	expect_error(&bob, "{\"op\":\"policy.get\",\"vm\":\"one\"}", -1,
	    SOFTNET_E_NOT_FOUND);
	assert_int_equal(p->policy.nrules, 2);
	assert_int_equal(p->policy.revision, 2);
}

static void
test_default_policy(void **state)
{
	char err[POLICY_ERRLEN];
	struct port *p;
	int fd;
	json_t *r;

	(void)state;
	assert_int_equal(policy_add(&sd.cfg.default_policy, "10.0.0.0/8", false,
	                     err, sizeof(err)),
	    0);
	assert_int_equal(
	    policy_add(&sd.cfg.default_policy, "@host", true, err, sizeof(err)),
	    0);

	/* No rules given: the configured defaults. */
	attach(&alice, MAC1, "dflt", NULL);
	p = port_by_name(&sd, "dflt");
	assert_int_equal(p->policy.nrules, 2);
	assert_true(policy_decide(&p->policy, IP4(10, 1, 2, 3), NET(1)) ==
	            POLICY_ALLOW);
	assert_true(policy_decide(&p->policy, NET(1), NET(1)) == POLICY_BLOCK);
	r = call(&alice, "{\"op\":\"show\",\"vm\":\"dflt\"}", -1);
	assert_ok(r);
	assert_string_equal(
	    json_string_value(json_array_get(
	        json_object_get(
	            json_object_get(json_object_get(r, "vm"), "policy"),
	            "allow"),
	        0)),
	    "10.0.0.0/8");
	json_decref(r);

	/* Rules given: only those. */
	fd = vm_pair(NULL);
	r = call(&alice,
	    "{\"op\":\"attach\",\"mac\":\"" MAC2 "\",\"name\":\"own\","
	    "\"allow\":[\"172.16.0.0/12\"]}",
	    fd);
	assert_ok(r);
	json_decref(r);
	p = port_by_name(&sd, "own");
	assert_int_equal(p->policy.nrules, 1);
	assert_true(
	    policy_decide(&p->policy, IP4(10, 1, 2, 3), NET(1)) == POLICY_NONE);
	assert_true(policy_decide(&p->policy, IP4(172, 16, 0, 1), NET(1)) ==
	            POLICY_ALLOW);

	/* An empty list is no rules: the defaults again. */
	fd = vm_pair(NULL);
	r = call(&alice,
	    "{\"op\":\"attach\",\"mac\":\"" MAC3 "\",\"name\":\"empty\","
	    "\"allow\":[],\"block\":[]}",
	    fd);
	assert_ok(r);
	json_decref(r);
	assert_int_equal(port_by_name(&sd, "empty")->policy.nrules, 2);
}

static void
test_session(void **state)
{
	int conn_a, conn_b, fd, peer_s, peer_n, peer_b;
	json_t *r;
	uint8_t mac1[6] = {2, 0, 0, 0, 0, 1};
	struct lease l;
	const char *line;

	(void)state;
	/* session:true with connection A */
	fd = vm_pair(&peer_s);
	line = "{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"session\":true}";
	r = call_len(&alice, line, strlen(line), fd, &conn_a);
	assert_ok(r);
	assert_true(
	    json_is_true(json_object_get(json_object_get(r, "vm"), "session")));
	json_decref(r);
	/* no session, same connection */
	fd = vm_pair(&peer_n);
	line = "{\"op\":\"attach\",\"mac\":\"" MAC2 "\",\"session\":false}";
	r = call_len(&alice, line, strlen(line), fd, &conn_a);
	assert_ok(r);
	assert_true(json_is_false(
	    json_object_get(json_object_get(r, "vm"), "session")));
	json_decref(r);
	/* session:true with connection B */
	fd = vm_pair(&peer_b);
	line = "{\"op\":\"attach\",\"mac\":\"" MAC3 "\",\"session\":true}";
	r = call_len(&alice, line, strlen(line), fd, &conn_b);
	assert_ok(r);
	json_decref(r);
	assert_int_equal(port_count(&sd), 3);
	assert_int_equal(bind_lease(mac1), NET(2));

	control_session_end(&sd, &conn_a);
	assert_int_equal(port_count(&sd), 2);
	assert_null(port_by_mac(&sd, mac1));
	assert_null(port_by_ip(&sd, NET(2)));
	assert_peer_gone(peer_s);
	assert_int_equal(leasedb_get(sd.db, mac1, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	assert_int_equal(send(peer_n, "x", 1, MSG_DONTWAIT), 1);
	assert_int_equal(send(peer_b, "x", 1, MSG_DONTWAIT), 1);

	/* Ending it again, or a connection with nothing, changes nothing. */
	control_session_end(&sd, &conn_a);
	control_session_end(&sd, NULL);
	assert_int_equal(port_count(&sd), 2);

	control_session_end(&sd, &conn_b);
	assert_int_equal(port_count(&sd), 1);
	assert_peer_gone(peer_b);
	assert_int_equal(send(peer_n, "x", 1, MSG_DONTWAIT), 1);
}

/* ---- rejections ------------------------------------------------------- */

/*
 * Sends line with a fresh VM descriptor, expects code, and checks that
 * nothing changed and the descriptor was closed.
 */
static void
reject_with_fd(
    const struct ctl_peer *peer, const char *line, size_t len, const char *code)
{
	size_t before = port_count(&sd);
	int64_t events = leasedb_event_count(sd.db);
	int fd, vmpeer;

	fd = vm_pair(&vmpeer);
	assert_error(call_len(peer, line, len, fd, NULL), code);
	assert_fd_closed(fd);
	assert_peer_gone(vmpeer);
	assert_int_equal(port_count(&sd), before);
	assert_int_equal(leasedb_event_count(sd.db), events);
}

/* As reject_with_fd, for a NUL-terminated line. */
static void
reject(const struct ctl_peer *peer, const char *line, const char *code)
{
	reject_with_fd(peer, line, strlen(line), code);
}

/* As reject_with_fd, without a descriptor. */
static void
reject_nofd(const struct ctl_peer *peer, const char *line, const char *code)
{
	size_t before = port_count(&sd);
	int64_t events = leasedb_event_count(sd.db);

	expect_error(peer, line, -1, code);
	assert_int_equal(port_count(&sd), before);
	assert_int_equal(leasedb_event_count(sd.db), events);
}

static void
test_bad_json(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "}",
	    "{\"op\":\"list\"",
	    "{\"op\":\"list\"}}",
	    "{\"op\":\"list\"} {}",
	    "{op:\"list\"}",
	    "{'op':'list'}",
	    "[]",
	    "[{\"op\":\"list\"}]",
	    "\"list\"",
	    "42",
	    "null",
	    "true",
	    "{\"op\":\"list\",\"op\":\"list\"}",         /* duplicate key */
	    "{\"op\":\"list\",\"id\":\"\\u0000\"}",      /* escaped NUL */
	    "{\"op\":\"list\",\"id\":\"\\ud800\"}",      /* lone surrogate */
	    "{\"op\":\"list\",\"id\":\"\xff\"}",         /* invalid byte */
	    "{\"op\":\"list\",\"id\":\"\xc0\xaf\"}",     /* overlong */
	    "{\"op\":\"list\",\"id\":\"\xed\xa0\x80\"}", /* UTF-8 surrogate */
	    "{\"op\":\"list\",\"id\":\"\xe2\x82\"}",     /* truncated */
	    "{\"op\":\"li\xf8st\"}",
	};
	/* Raw NUL bytes, inside a string, between tokens and at the end. */
	static const char nul_in_string[] = "{\"op\":\"li\0st\"}";
	static const char nul_between[] = "{\"op\":\"list\",\0\"id\":1}";
	static const char nul_after[] = "{\"op\":\"list\"}\0";
	static const char nul_only[] = "\0";
	json_t *r;
	size_t i;

	(void)state;
	attach(&alice, MAC1, "keep", NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = call(&alice, bad[i], -1);
		if (!json_is_false(json_object_get(r, "ok")))
			print_error("accepted: %s\n", bad[i]);
		assert_null(json_object_get(r, "id"));
		assert_error(r, SOFTNET_E_BAD_JSON);
		reject(&alice, bad[i], SOFTNET_E_BAD_JSON);
	}
	reject_with_fd(&alice, nul_in_string, sizeof(nul_in_string) - 1,
	    SOFTNET_E_BAD_JSON);
	reject_with_fd(
	    &alice, nul_between, sizeof(nul_between) - 1, SOFTNET_E_BAD_JSON);
	reject_with_fd(
	    &alice, nul_after, sizeof(nul_after) - 1, SOFTNET_E_BAD_JSON);
	reject_with_fd(
	    &alice, nul_only, sizeof(nul_only) - 1, SOFTNET_E_BAD_JSON);
	/* A valid request cut short by its length is not read past. */
	reject_with_fd(&alice, "{\"op\":\"list\"}", 5, SOFTNET_E_BAD_JSON);
	assert_int_equal(port_count(&sd), 1);
}

static void
test_bad_request_envelope(void **state)
{
	static const char *const bad_id[] = {
	    "{\"op\":\"list\",\"id\":1.5}",
	    "{\"op\":\"list\",\"id\":true}",
	    "{\"op\":\"list\",\"id\":null}",
	    "{\"op\":\"list\",\"id\":[1]}",
	    "{\"op\":\"list\",\"id\":{\"a\":1}}",
	};
	static const char *const bad_op[] = {
	    "{}",
	    "{\"id\":1}",
	    "{\"op\":1,\"id\":1}",
	    "{\"op\":null,\"id\":1}",
	    "{\"op\":[\"list\"],\"id\":1}",
	    "{\"op\":{},\"id\":1}",
	};
	static const char *const unknown[] = {
	    "{\"op\":\"frobnicate\",\"id\":1}",
	    "{\"op\":\"\",\"id\":1}",
	    "{\"op\":\"LIST\",\"id\":1}",
	    "{\"op\":\"list \",\"id\":1}",
	    "{\"op\":\"policy\",\"id\":1}",
	};
	json_t *r;
	size_t i;

	(void)state;
	attach(&alice, MAC1, "keep", NULL);
	for (i = 0; i < sizeof(bad_id) / sizeof(bad_id[0]); i++) {
		r = call(&alice, bad_id[i], -1);
		assert_null(json_object_get(r, "id"));
		assert_error(r, SOFTNET_E_BAD_REQUEST);
		reject(&alice, bad_id[i], SOFTNET_E_BAD_REQUEST);
	}
	for (i = 0; i < sizeof(bad_op) / sizeof(bad_op[0]); i++) {
		r = call(&alice, bad_op[i], -1);
		if (strcmp(bad_op[i], "{}") != 0)
			assert_int_equal(
			    json_integer_value(json_object_get(r, "id")), 1);
		assert_error(r, SOFTNET_E_BAD_REQUEST);
		reject(&alice, bad_op[i], SOFTNET_E_BAD_REQUEST);
	}
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		r = call(&alice, unknown[i], -1);
		assert_int_equal(
		    json_integer_value(json_object_get(r, "id")), 1);
		assert_error(r, SOFTNET_E_UNKNOWN_OP);
		reject(&alice, unknown[i], SOFTNET_E_UNKNOWN_OP);
	}
	/* A long unknown op is quoted, bounded. */
	{
		char line[2048];

		snprintf(line, sizeof(line), "{\"op\":\"%01000d\"}", 0);
		reject_nofd(&alice, line, SOFTNET_E_UNKNOWN_OP);
	}
}

static void
test_unexpected_fd(void **state)
{
	static const char *const ops[] = {
	    "{\"op\":\"hello\",\"version\":1,\"id\":2}",
	    "{\"op\":\"list\",\"id\":2}",
	    "{\"op\":\"show\",\"vm\":\"keep\",\"id\":2}",
	    "{\"op\":\"stats\",\"id\":2}",
	    "{\"op\":\"leases\",\"id\":2}",
	    "{\"op\":\"status\",\"id\":2}",
	    "{\"op\":\"policy.get\",\"vm\":\"keep\",\"id\":2}",
	    "{\"op\":\"policy.set\",\"vm\":\"keep\",\"allow\":[],\"id\":2}",
	    "{\"op\":\"detach\",\"vm\":\"keep\",\"id\":2}",
	};
	int fd;
	json_t *r;
	size_t i;

	(void)state;
	attach(&alice, MAC1, "keep", NULL);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		fd = vm_pair(NULL);
		r = call(&alice, ops[i], fd);
		assert_int_equal(
		    json_integer_value(json_object_get(r, "id")), 2);
		assert_error(r, SOFTNET_E_UNEXPECTED_FD);
		assert_fd_closed(fd);
		reject(&alice, ops[i], SOFTNET_E_UNEXPECTED_FD);
	}
	/* The detach above was refused: the VM is still there. */
	assert_non_null(port_by_name(&sd, "keep"));
	assert_int_equal(port_by_name(&sd, "keep")->policy.revision, 1);
}

static void
test_attach_rejections(void **state)
{
	static const struct {
		const char *line;
		const char *code;
	} cases[] = {
	    /* fields: unknown, wrong types */
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"bogus\":1}",
	        SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"vm\":\"x\"}",
	        SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":5}", SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":null}", SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":[\"" MAC1 "\"]}",
	        SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":7}",
	        SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":{}}",
	        SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"session\":\"yes\"}",
	        SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"session\":1}",
	        SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1
	     "\",\"allow\":\"10.0.0.0/8\"}",
	        SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"block\":[1]}",
	        SOFTNET_E_BAD_REQUEST},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"expose\":{}}",
	        SOFTNET_E_BAD_REQUEST},
	    /* policy */
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1
	     "\",\"allow\":[\"10.0.0.1/8\"]}",
	        SOFTNET_E_BAD_POLICY},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1
	     "\",\"block\":[\"nonsense\"]}",
	        SOFTNET_E_BAD_POLICY},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"allow\":[\"\"]}",
	        SOFTNET_E_BAD_POLICY},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1
	     "\",\"allow\":[\"1.2.3.4/33\"]}",
	        SOFTNET_E_BAD_POLICY},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"expose\":[\"0:80\"]}",
	        SOFTNET_E_BAD_POLICY},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"expose\":[\"8080\"]}",
	        SOFTNET_E_BAD_POLICY},
	    /* MAC: multicast, zero, broadcast, garbage, missing */
	    {"{\"op\":\"attach\",\"mac\":\"01:00:5e:00:00:01\"}",
	        SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"mac\":\"03:00:00:00:00:01\"}",
	        SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"mac\":\"ff:ff:ff:ff:ff:ff\"}",
	        SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"mac\":\"00:00:00:00:00:00\"}",
	        SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"mac\":\"zz:00:00:00:00:01\"}",
	        SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"mac\":\"02:00:00:00:00\"}",
	        SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"mac\":\"02:00:00:00:00:01:02\"}",
	        SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"mac\":\"02:00:00:00:00:01 \"}",
	        SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"mac\":\"02:00-00:00:00:01\"}",
	        SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"mac\":\"\"}", SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\"}", SOFTNET_E_BAD_MAC},
	    {"{\"op\":\"attach\",\"name\":\"nomac\"}", SOFTNET_E_BAD_MAC},
	    /* names */
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":\"\"}",
	        SOFTNET_E_BAD_NAME},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":\"12345\"}",
	        SOFTNET_E_BAD_NAME},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":\"a b\"}",
	        SOFTNET_E_BAD_NAME},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":\"a/b\"}",
	        SOFTNET_E_BAD_NAME},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":\"\\u00e9\"}",
	        SOFTNET_E_BAD_NAME},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":\"" MAC2 "\"}",
	        SOFTNET_E_BAD_NAME},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":"
	     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaaaaaaaaaa\"}",
	        SOFTNET_E_BAD_NAME},
	    /* mac_in_use, name_in_use (against alice's own VM below) */
	    {"{\"op\":\"attach\",\"mac\":\"" MAC3 "\"}", SOFTNET_E_MAC_IN_USE},
	    {"{\"op\":\"attach\",\"mac\":\"02:00:00:00:00:3\"}",
	        SOFTNET_E_MAC_IN_USE},
	    {"{\"op\":\"attach\",\"mac\":\"02-00-00-00-00-03\",\"name\":\"x\"}",
	        SOFTNET_E_MAC_IN_USE},
	    {"{\"op\":\"attach\",\"mac\":\"" MAC1 "\",\"name\":\"taken\"}",
	        SOFTNET_E_NAME_IN_USE},
	};
	size_t i;

	(void)state;
	attach(&alice, MAC3, "taken", NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *r;
		int fd = vm_pair(NULL);
		char line[512];

		/* With an id, which the error reply echoes. */
		assert_true(strlen(cases[i].line) < sizeof(line) - 16);
		snprintf(
		    line, sizeof(line), "{\"id\":%zu,%s", i, cases[i].line + 1);
		r = call(&alice, line, fd);
		assert_int_equal(json_integer_value(json_object_get(r, "id")),
		    (json_int_t)i);
		assert_error(r, cases[i].code);
		assert_fd_closed(fd);
		reject(&alice, cases[i].line, cases[i].code);
	}
	/* The 63-byte name is the longest that works. */
	{
		json_t *r;
		int fd = vm_pair(NULL);

		r = call(&alice,
		    "{\"op\":\"attach\",\"mac\":\"" MAC1
		    "\",\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaa\"}",
		    fd);
		assert_ok(r);
		json_decref(r);
	}
	assert_int_equal(port_count(&sd), 2);
}

static void
test_attach_fd_rejections(void **state)
{
	const char *line = "{\"op\":\"attach\",\"mac\":\"" MAC1 "\"}";
	char path[] = "/tmp/test_control.XXXXXX";
	int64_t events = leasedb_event_count(sd.db);
	int p[2], s[2], fd;

	(void)state;
	/* No descriptor at all. */
	expect_error(&alice, line, -1, SOFTNET_E_NO_FD);
	expect_error(
	    &alice, "{\"op\":\"attach\",\"id\":1}", -1, SOFTNET_E_NO_FD);

	/* A pipe: both ends refused. */
	assert_int_equal(pipe(p), 0);
	expect_error(&alice, line, p[0], SOFTNET_E_BAD_FD);
	assert_fd_closed(p[0]);
	errno = 0;
	assert_int_equal(write(p[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	expect_error(&alice, line, p[1], SOFTNET_E_BAD_FD);
	assert_fd_closed(p[1]);

	/* A regular file. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	expect_error(&alice, line, fd, SOFTNET_E_BAD_FD);
	assert_fd_closed(fd);

	/* /dev/null, a character device. */
	fd = open("/dev/null", O_RDWR);
	assert_true(fd >= 0);
	expect_error(&alice, line, fd, SOFTNET_E_BAD_FD);
	assert_fd_closed(fd);

	/* Stream and seqpacket Unix sockets, an inet datagram socket. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	expect_error(&alice, line, s[0], SOFTNET_E_BAD_FD);
	assert_fd_closed(s[0]);
	errno = 0;
	assert_int_equal(send(s[1], "x", 1, MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EPIPE);
	close(s[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, s), 0);
	expect_error(&alice, line, s[0], SOFTNET_E_BAD_FD);
	assert_fd_closed(s[0]);
	close(s[1]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	expect_error(&alice, line, fd, SOFTNET_E_BAD_FD);
	assert_fd_closed(fd);

	/* A number that is no descriptor at all. */
	expect_error(&alice, line, 1000000, SOFTNET_E_BAD_FD);

	assert_int_equal(port_count(&sd), 0);
	assert_int_equal(leasedb_event_count(sd.db), events);
}

static void
test_too_many_vms(void **state)
{
	json_int_t id;

	(void)state;
	sd.cfg.max_vms = 2;
	attach(&alice, MAC1, NULL, NULL);
	id = attach(&alice, MAC2, NULL, NULL);
	reject(&alice, "{\"op\":\"attach\",\"mac\":\"" MAC3 "\"}",
	    SOFTNET_E_TOO_MANY_VMS);
	reject(&root_peer, "{\"op\":\"attach\",\"mac\":\"" MAC3 "\",\"id\":1}",
	    SOFTNET_E_TOO_MANY_VMS);
	assert_int_equal(port_count(&sd), 2);

	/* Room again after a detach. */
	assert_non_null(port_by_id(&sd, (uint32_t)id));
	vm_detach(&sd, port_by_id(&sd, (uint32_t)id));
	attach(&alice, MAC3, NULL, NULL);
	assert_int_equal(port_count(&sd), 2);
}

static void
test_vm_selector(void **state)
{
	static const char *const not_found[] = {
	    "{\"op\":\"show\",\"vm\":\"nosuch\",\"id\":4}",
	    "{\"op\":\"show\",\"vm\":\"\",\"id\":4}",
	    "{\"op\":\"show\",\"vm\":\"02:00:00:00:00:09\",\"id\":4}",
	    "{\"op\":\"show\",\"vm\":\"99\",\"id\":4}",
	    "{\"op\":\"show\",\"vm\":99,\"id\":4}",
	    "{\"op\":\"show\",\"vm\":0,\"id\":4}",
	    "{\"op\":\"show\",\"vm\":-1,\"id\":4}",
	    "{\"op\":\"show\",\"vm\":4294967297,\"id\":4}",
	    "{\"op\":\"show\",\"vm\":\"4294967297\",\"id\":4}",
	    "{\"op\":\"show\",\"vm\":\"1x\",\"id\":4}",
	    "{\"op\":\"show\",\"vm\":\" 1\",\"id\":4}",
	    "{\"op\":\"show\",\"vm\":\"+1\",\"id\":4}",
	    "{\"op\":\"detach\",\"vm\":\"nosuch\",\"id\":4}",
	    "{\"op\":\"detach\",\"vm\":99,\"id\":4}",
	    "{\"op\":\"stats\",\"vm\":\"nosuch\",\"id\":4}",
	    "{\"op\":\"policy.get\",\"vm\":\"nosuch\",\"id\":4}",
	    "{\"op\":\"policy.set\",\"vm\":\"nosuch\",\"id\":4}",
	};
	static const char *const bad[] = {
	    "{\"op\":\"show\",\"id\":4}",
	    "{\"op\":\"show\",\"vm\":null,\"id\":4}",
	    "{\"op\":\"show\",\"vm\":true,\"id\":4}",
	    "{\"op\":\"show\",\"vm\":1.0,\"id\":4}",
	    "{\"op\":\"show\",\"vm\":[1],\"id\":4}",
	    "{\"op\":\"show\",\"vm\":{},\"id\":4}",
	    "{\"op\":\"show\",\"vm\":\"one\",\"extra\":1,\"id\":4}",
	    "{\"op\":\"detach\",\"id\":4}",
	    "{\"op\":\"detach\",\"vm\":false,\"id\":4}",
	    "{\"op\":\"detach\",\"vm\":\"one\",\"force\":true,\"id\":4}",
	    "{\"op\":\"stats\",\"vm\":null,\"id\":4}",
	    "{\"op\":\"policy.get\",\"id\":4}",
	};
	json_t *r;
	size_t i;

	(void)state;
	attach(&root_peer, MAC1, "one", NULL);
	for (i = 0; i < sizeof(not_found) / sizeof(not_found[0]); i++) {
		r = call(&root_peer, not_found[i], -1);
		assert_int_equal(
		    json_integer_value(json_object_get(r, "id")), 4);
		assert_error(r, SOFTNET_E_NOT_FOUND);
		reject_nofd(&root_peer, not_found[i], SOFTNET_E_NOT_FOUND);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = call(&root_peer, bad[i], -1);
		assert_int_equal(
		    json_integer_value(json_object_get(r, "id")), 4);
		assert_error(r, SOFTNET_E_BAD_REQUEST);
		reject_nofd(&root_peer, bad[i], SOFTNET_E_BAD_REQUEST);
	}
	assert_int_equal(port_count(&sd), 1);
}

static void
test_permissions(void **state)
{
	static const char *const others[] = {
	    "{\"op\":\"show\",\"vm\":\"roots\"}",
	    "{\"op\":\"show\",\"vm\":1}",
	    "{\"op\":\"show\",\"vm\":\"1\"}",
	    "{\"op\":\"show\",\"vm\":\"" MAC1 "\"}",
	    "{\"op\":\"stats\",\"vm\":\"roots\"}",
	    "{\"op\":\"detach\",\"vm\":\"roots\"}",
	    "{\"op\":\"detach\",\"vm\":1}",
	    "{\"op\":\"policy.get\",\"vm\":\"roots\"}",
	    ("{\"op\":\"policy.set\",\"vm\":\"roots\",\"allow\":"
	     "[\"0.0.0.0/0\"]}"),
	};
	json_t *r, *vms;
	int peer;
	size_t i;

	(void)state;
	attach(&root_peer, MAC1, "roots", &peer);
	attach(&alice, MAC2, "alices", NULL);

	/* Another user's VM answers exactly as a missing one (rule 4). */
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		reject_nofd(&alice, others[i], SOFTNET_E_NOT_FOUND);
	reject_nofd(
	    &bob, "{\"op\":\"detach\",\"vm\":\"alices\"}", SOFTNET_E_NOT_FOUND);
	{
		json_t *hidden, *missing;

		hidden =
		    call(&alice, "{\"op\":\"show\",\"vm\":\"" MAC1 "\"}", -1);
		missing =
		    call(&alice, "{\"op\":\"show\",\"vm\":\"" MAC3 "\"}", -1);
		assert_string_equal(
		    str(json_object_get(hidden, "error"), "message"),
		    "no VM " MAC1 " attached");
		assert_string_equal(
		    str(json_object_get(missing, "error"), "message"),
		    "no VM " MAC3 " attached");
		json_decref(hidden);
		json_decref(missing);
		hidden = call(&alice, "{\"op\":\"show\",\"vm\":1}", -1);
		missing = call(&alice, "{\"op\":\"show\",\"vm\":99}", -1);
		assert_string_equal(
		    str(json_object_get(hidden, "error"), "message"),
		    "no VM 1 attached");
		assert_string_equal(
		    str(json_object_get(missing, "error"), "message"),
		    "no VM 99 attached");
		json_decref(hidden);
		json_decref(missing);
	}
	assert_int_equal(port_count(&sd), 2);
	assert_int_equal(port_by_name(&sd, "roots")->policy.nrules, 0);
	assert_int_equal(send(peer, "x", 1, MSG_DONTWAIT), 1);

	/* list: admin sees all, a user its own, another user none. */
	r = call(&root_peer, "{\"op\":\"list\"}", -1);
	assert_ok(r);
	assert_int_equal(json_array_size(json_object_get(r, "vms")), 2);
	json_decref(r);
	r = call(&alice, "{\"op\":\"list\"}", -1);
	assert_ok(r);
	vms = json_object_get(r, "vms");
	assert_int_equal(json_array_size(vms), 1);
	assert_string_equal(str(json_array_get(vms, 0), "name"), "alices");
	json_decref(r);
	r = call(&bob, "{\"op\":\"list\"}", -1);
	assert_ok(r);
	assert_int_equal(json_array_size(json_object_get(r, "vms")), 0);
	json_decref(r);

	/* An admin that is not root acts on everything too. */
	{
		const struct ctl_peer staff = {2000, 50, true};

		r = call(&staff, "{\"op\":\"show\",\"vm\":\"alices\"}", -1);
		assert_ok(r);
		json_decref(r);
	}

	/* The owner may detach its own; root may detach anyone's. */
	r = call(&alice, "{\"op\":\"detach\",\"vm\":\"alices\"}", -1);
	assert_ok(r);
	json_decref(r);
	r = call(&root_peer, "{\"op\":\"detach\",\"vm\":\"roots\"}", -1);
	assert_ok(r);
	json_decref(r);
	assert_int_equal(port_count(&sd), 0);
}

static void
test_is_admin(void **state)
{
	(void)state;
	assert_true(control_is_admin(0, 0, "root"));
	assert_true(control_is_admin(0, 12345, "no-such-group-here"));
	assert_false(control_is_admin(54321, 54321, "no-such-group-here"));
	assert_true(control_is_admin(54321, 0, "root"));
	assert_false(control_is_admin(54321, 54321, "root"));
}

/*
 * Fuzzing found error replies without an "error" object: the message
 * quoted client bytes cut inside a UTF-8 character, which JSON refused.
 * These are its reproducers (tests/fuzz/regress/fuzz_control).
 */
static void
test_error_messages_stay_json(void **state)
{
	static const char *const lines[] = {
	    "{\"op\":"
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "\xc3\xa9\"}",
	    "{\"op\":\"show\",\"vm\":"
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\"}",
	    "{\"\\u\xc3\xa9\"}",
	    "{\"op\":\"attach\",\"name\":\"\xc3\xa9\xc3\xa9\",\"mac\":\"" MAC1
	    "\"}",
	};
	const char *msg;
	json_t *r, *e;
	size_t i;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		fd = i == 3 ? vm_pair(NULL) : -1;
		r = call(&root_peer, lines[i], fd);
		assert_false(json_is_true(json_object_get(r, "ok")));
		e = json_object_get(r, "error");
		assert_non_null(e);
		assert_non_null(json_string_value(json_object_get(e, "code")));
		msg = json_string_value(json_object_get(e, "message"));
		assert_non_null(msg);
		for (; *msg != '\0'; msg++)
			assert_true(*msg >= 0x20 && *msg <= 0x7e);
		json_decref(r);
	}
	/* A long MAC cut mid-character by %.32s. */
	fd = vm_pair(NULL);
	r = call(&root_peer,
	    "{\"op\":\"attach\",\"mac\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "\xc3\xa9\"}",
	    fd);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(r, "error"), "code")),
	    "bad_mac");
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hello, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_error_messages_stay_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_attach_list_show_detach, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_leases_and_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_default_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_request_envelope, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_unexpected_fd, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_attach_rejections, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_attach_fd_rejections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_vms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vm_selector, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_is_admin, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	clock_set_hook(test_now, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
