/*
 * The VM lifecycle (vm.c) against a hand-built daemon context: a real
 * lease database in a file (so a second connection can break it under
 * the daemon), the port registry, the switch (no uplink), exposed ports
 * on 127.0.0.1. VM descriptors are SOCK_DGRAM socketpairs.
 *
 * What is checked: the refusal table (every enum value has a wire code),
 * that a refused attach leaves nothing behind whichever step refused it
 * (no port, no listening exposed port, no lease row, the fd still the
 * caller's), that detach, the reaper and a session's end release the
 * lease, and that lease expiry clears an attached VM's address and purges
 * only the rows of VMs that are not attached. Time moves by clock hook.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "clock.h"
#include "config.h"
#include "leasedb.h"
#include "policy.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "vm.h"

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))
#define NET(x) IP4(192, 168, 105, x)
#define T0     1700000000
#define LEASE  600

static int64_t fake_now = T0;
static struct softnetd sd;
static char dbpath[64];
static const uint8_t upmac[6] = {0x02, 0x5e, 0, 0, 0, 0xfe};

/* The daemon's clock, under the test's control (clock_set_hook). */
static int64_t
test_now(void)
{
	return fake_now;
}

/* A daemon context with a file lease database and no VMs. */
static int
setup(void **state)
{
	char err[256];
	int fd;

	(void)state;
	fake_now = T0;
	memset(&sd, 0, sizeof(sd));
	config_defaults(&sd.cfg);
	sd.base = event_base_new();
	assert_non_null(sd.base);
	sd.up.gateway = sd.cfg.uplink.gateway;
	sd.up.netmask = sd.cfg.uplink.netmask;
	sd.up.pool_start = sd.cfg.uplink.pool_start;
	sd.up.pool_end = sd.cfg.uplink.pool_end;
	sd.up.mtu = 1500;
	sd.up.max_frame = 1514;
	memcpy(sd.up.mac, upmac, 6);
	snprintf(dbpath, sizeof(dbpath), "/tmp/test_vm.XXXXXX");
	assert_true((fd = mkstemp(dbpath)) != -1);
	close(fd);
	unlink(dbpath);
	sd.db = leasedb_open(dbpath, sd.up.pool_start, sd.up.pool_end,
	    sd.up.gateway, err, sizeof(err));
	if (sd.db == NULL)
		print_error("leasedb_open: %s\n", err);
	assert_non_null(sd.db);
	softnetd_derive_network(&sd);
	port_init(&sd);
	switch_init(&sd);
	vm_init(&sd);
	return 0;
}

static int
teardown(void **state)
{
	char path[80];

	(void)state;
	vm_shutdown(&sd);
	port_shutdown(&sd);
	switch_shutdown(&sd);
	leasedb_close(sd.db);
	event_base_free(sd.base);
	config_free(&sd.cfg);
	unlink(dbpath);
	snprintf(path, sizeof(path), "%s-wal", dbpath);
	unlink(path);
	snprintf(path, sizeof(path), "%s-shm", dbpath);
	unlink(path);
	return 0;
}

/* Breaks the lease database under the daemon: its tables are renamed. */
static void
break_db(void)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(dbpath, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
	                     "ALTER TABLE leases RENAME TO gone_leases;"
	                     "ALTER TABLE events RENAME TO gone_events;",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
}

/* Undoes break_db. */
static void
mend_db(void)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(dbpath, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
	                     "ALTER TABLE gone_leases RENAME TO leases;"
	                     "ALTER TABLE gone_events RENAME TO events;",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
}

/* 02:00:00:00:00:n */
static void
mk_mac(uint8_t mac[6], uint8_t n)
{
	static const uint8_t base[6] = {0x02, 0, 0, 0, 0, 0};

	memcpy(mac, base, 6);
	mac[5] = n;
}

/* Fills a with a datagram VM of mac over a new pair; *peer gets its end. */
static void
vm_args(struct vm_attach_args *a, const uint8_t mac[6], int *peer)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	memset(a, 0, sizeof(*a));
	a->fd = sv[0];
	a->kind = OSDEP_FD_DGRAM;
	memcpy(a->mac, mac, 6);
	a->owner = 1000;
	*peer = sv[1];
}

/* Attaches a VM of mac and expects success. */
static struct port *
attach_ok(const uint8_t mac[6], void *session, int *peer)
{
	struct vm_attach_args a;
	enum vm_err err = VM_DB;
	struct port *p;
	char msg[256];

	vm_args(&a, mac, peer);
	a.session = session;
	p = vm_attach(&sd, &a, &err, msg, sizeof(msg));
	if (p == NULL)
		print_error("vm_attach: %s: %s\n", vm_err_code(err), msg);
	assert_non_null(p);
	return p;
}

/*
 * Expects a's attach to be refused with want: nothing registered, no
 * event in the lease database, a->fd still open. Returns the message.
 */
static const char *
attach_refused(const struct vm_attach_args *a, enum vm_err want)
{
	static char msg[256];
	size_t ports = port_count(&sd);
	int64_t events = leasedb_event_count(sd.db);
	enum vm_err err = VM_OK;

	msg[0] = '\0';
	assert_null(vm_attach(&sd, a, &err, msg, sizeof(msg)));
	assert_int_equal(err, want);
	assert_true(msg[0] != '\0');
	assert_int_equal(port_count(&sd), ports);
	assert_int_equal(leasedb_event_count(sd.db), events);
	assert_true(fcntl(a->fd, F_GETFD) != -1);
	return msg;
}

/* A TCP port on 127.0.0.1 that nothing listens on (the kernel's pick). */
static uint16_t
free_tcp_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s != -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	return ntohs(sin.sin_port);
}

/* Binds and listens on 127.0.0.1:port; the socket, or -1 with errno. */
static int
listen_on(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1, e;

	assert_true(s != -1);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(s, 1) == -1) {
		e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

/* Binds a lease of ip to mac in the database and on its port. */
static void
bind_lease(struct port *p, uint32_t ip, int64_t expires)
{
	uint32_t got;

	assert_int_equal(
	    leasedb_offer(sd.db, p->mac, ip, fake_now, 60, &got), 0);
	assert_int_equal(got, ip);
	assert_int_equal(
	    leasedb_ack(sd.db, p->mac, ip, "", fake_now, expires - fake_now),
	    0);
	port_set_lease(&sd, p, ip, expires);
}

/* ---- the refusal table ------------------------------------------------ */

/* Every refusal has its wire code; the table is the one mapping. */
static void
test_err_codes(void **state)
{
	static const struct {
		enum vm_err err;
		const char *code;
	} want[] = {
	    {VM_TOO_MANY, SOFTNET_E_TOO_MANY_VMS},
	    {VM_MAC_NOT_UNICAST, SOFTNET_E_BAD_MAC},
	    {VM_MAC_RESERVED, SOFTNET_E_BAD_MAC},
	    {VM_MAC_IN_USE, SOFTNET_E_MAC_IN_USE},
	    {VM_NAME_IN_USE, SOFTNET_E_NAME_IN_USE},
	    {VM_IP_NOT_OURS, SOFTNET_E_BAD_IP},
	    {VM_IP_RESERVED, SOFTNET_E_IP_IN_USE},
	    {VM_IP_NOT_RESERVED, SOFTNET_E_PERMISSION},
	    {VM_IP_NEEDS_ADMIN, SOFTNET_E_PERMISSION},
	    {VM_IP_LEASED, SOFTNET_E_IP_IN_USE},
	    {VM_IP_LEASED_BEFORE, SOFTNET_E_IP_IN_USE},
	    {VM_IP_TAKEN, SOFTNET_E_IP_IN_USE},
	    {VM_FD_NAMED_PEER, SOFTNET_E_BAD_FD},
	    {VM_FD_UNCONNECTED, SOFTNET_E_BAD_FD},
	    {VM_FD_ATTACHED, SOFTNET_E_BAD_FD},
	    {VM_FD_FLAGS, SOFTNET_E_BAD_FD},
	    {VM_FD_OFFLOAD, SOFTNET_E_BAD_FD},
	    {VM_PORT_IN_USE, SOFTNET_E_PORT_IN_USE},
	    {VM_DB, SOFTNET_E_INTERNAL},
	};
	size_t i;

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), VM__COUNT - 1);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(vm_err_code(want[i].err), want[i].code);
	assert_string_equal(vm_err_code(VM__COUNT), SOFTNET_E_INTERNAL);
	assert_string_equal(vm_err_code((enum vm_err) - 1), SOFTNET_E_INTERNAL);
}

/* The checks before any change: each refusal names what it refused. */
static void
test_attach_checks(void **state)
{
	struct vm_attach_args a;
	uint8_t m1[6], m2[6];
	struct port *p;
	char want[64];
	int peer, peer2;

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	p = attach_ok(m1, NULL, &peer);
	assert_ptr_equal(port_by_mac(&sd, m1), p);

	/* The same MAC again. */
	vm_args(&a, m1, &peer2);
	assert_non_null(
	    strstr(attach_refused(&a, VM_MAC_IN_USE), "02:00:00:00:00:01"));
	close(a.fd);
	close(peer2);

	/* Not unicast; the uplink's own. */
	vm_args(&a, m2, &peer2);
	a.mac[0] = 0x03;
	assert_non_null(strstr(
	    attach_refused(&a, VM_MAC_NOT_UNICAST), "03:00:00:00:00:02"));
	memcpy(a.mac, upmac, 6);
	attach_refused(&a, VM_MAC_RESERVED);

	/* The same socket under another MAC: the port that has it. */
	close(a.fd);
	memcpy(a.mac, m2, 6);
	a.fd = dup(p->fd);
	snprintf(want, sizeof(want), "(vm %u)", p->id);
	assert_non_null(strstr(attach_refused(&a, VM_FD_ATTACHED), want));
	close(a.fd);
	close(peer2);

	/* max_vms */
	sd.cfg.max_vms = 1;
	vm_args(&a, m2, &peer2);
	assert_non_null(strstr(attach_refused(&a, VM_TOO_MANY), "max_vms (1)"));
	close(a.fd);
	close(peer2);
	close(peer);
}

/* ---- nothing left behind ---------------------------------------------- */

/*
 * An attach the lease database refuses comes after the exposed ports
 * were opened: they are closed again, and no port is registered.
 */
static void
test_attach_db_failure_leaves_nothing(void **state)
{
	struct vm_attach_args a;
	struct policy pol;
	char list[32], err[POLICY_ERRLEN];
	uint16_t ext = free_tcp_port();
	enum vm_err verr;
	uint8_t m1[6];
	struct port *p;
	int peer, s;

	(void)state;
	mk_mac(m1, 1);
	policy_init(&pol);
	snprintf(list, sizeof(list), "%u:80", ext);
	if (policy_add_expose_list(&pol, list, err, sizeof(err)) == -1)
		fail_msg("%s: %s", list, err);
	vm_args(&a, m1, &peer);
	a.policy = &pol;

	break_db();
	attach_refused(&a, VM_DB);
	assert_null(port_by_mac(&sd, m1));
	/* The exposed port was closed again: anyone may listen there. */
	s = listen_on(ext);
	assert_true(s != -1);
	mend_db();

	/* A taken exposed port refuses before the database hears of it. */
	attach_refused(&a, VM_PORT_IN_USE);
	close(s);

	/* With the port free and the database mended, it attaches. */
	p = vm_attach(&sd, &a, &verr, err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(listen_on(ext), -1);
	assert_int_equal(errno, EADDRINUSE);
	vm_detach(&sd, p);
	s = listen_on(ext);
	assert_true(s != -1);
	close(s);
	close(peer);
}

/* ---- detach, reaper, sessions ----------------------------------------- */

/* vm_detach closes the VM's fd and releases its lease at once. */
static void
test_detach_releases(void **state)
{
	uint8_t m1[6];
	struct lease l;
	struct port *p;
	int peer;

	(void)state;
	mk_mac(m1, 1);
	p = attach_ok(m1, NULL, &peer);
	bind_lease(p, NET(5), T0 + LEASE);
	vm_detach(&sd, p);
	assert_int_equal(port_count(&sd), 0);
	assert_null(port_by_ip(&sd, NET(5)));
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	assert_int_equal(l.owner, 1000); /* the MAC stays its owner's */
	assert_int_equal(send(peer, "x", 1, MSG_DONTWAIT), -1);
	close(peer);
}

/* A port that fails is detached from the loop through vm_detach. */
static void
test_reaper_detaches(void **state)
{
	uint8_t m1[6];
	struct lease l;
	struct port *p;
	int peer;

	(void)state;
	mk_mac(m1, 1);
	p = attach_ok(m1, NULL, &peer);
	bind_lease(p, NET(6), T0 + LEASE);
	port_fail(&sd, p, "test");
	assert_int_equal(port_count(&sd), 1); /* not in the middle of it */
	assert_int_equal(event_base_loop(sd.base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(port_count(&sd), 0);
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	close(peer);
}

/* A session's end detaches its VMs and no others. */
static void
test_session_end(void **state)
{
	uint8_t m1[6], m2[6], m3[6];
	int token, other, peers[3], i;

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	mk_mac(m3, 3);
	attach_ok(m1, &token, &peers[0]);
	attach_ok(m2, &other, &peers[1]);
	attach_ok(m3, NULL, &peers[2]);
	vm_session_end(&sd, NULL); /* never ends the session-less */
	assert_int_equal(port_count(&sd), 3);
	vm_session_end(&sd, &token);
	assert_int_equal(port_count(&sd), 2);
	assert_null(port_by_mac(&sd, m1));
	assert_non_null(port_by_mac(&sd, m2));
	assert_non_null(port_by_mac(&sd, m3));
	for (i = 0; i < 3; i++)
		close(peers[i]);
}

/* ---- expiry ----------------------------------------------------------- */

/*
 * Expiry: an attached VM's lease that ran out is cleared from its port
 * (the row stays: the VM is attached); a detached VM's row idle past
 * dhcp.lease_retention is purged.
 */
static void
test_expire(void **state)
{
	uint8_t m1[6], m2[6];
	struct lease l;
	struct port *p1, *p2;
	int peer1, peer2;

	(void)state;
	sd.cfg.dhcp.lease_retention = 3600;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	p1 = attach_ok(m1, NULL, &peer1);
	bind_lease(p1, NET(5), T0 + LEASE);
	p2 = attach_ok(m2, NULL, &peer2);
	bind_lease(p2, NET(6), T0 + LEASE);
	vm_detach(&sd, p2);

	fake_now = T0 + LEASE - 1;
	vm_expire(&sd);
	assert_int_equal(p1->ip, NET(5));

	/* Past the lease and the retention: both rows idle that long. */
	fake_now = T0 + LEASE + 3600 + 1;
	vm_expire(&sd);
	assert_int_equal(p1->ip, 0);
	assert_null(port_by_ip(&sd, NET(5)));
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(l.state, LEASE_EXPIRED);
	/* Expired just now, so not idle long enough yet; later it would be,
	 * but the attached VM keeps it. */
	fake_now += 2 * 3600;
	vm_expire(&sd);
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(leasedb_get(sd.db, m2, &l), 1);
	assert_int_equal(vm_leases_purged(&sd), 1);
	close(peer1);
	close(peer2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_err_codes),
	    cmocka_unit_test_setup_teardown(
	        test_attach_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_attach_db_failure_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_detach_releases, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_reaper_detaches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
	};

	clock_set_hook(test_now, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
