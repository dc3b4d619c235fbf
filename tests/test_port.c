/*
 * VM ports against a hand-built daemon context (real ":memory:" lease
 * database, no uplink): name validation, the registry and its MAC and IP
 * hash indexes, leases kept in step with the database (release at detach,
 * restore at re-attach after a restart), and the non-blocking frame path:
 * counting, the backlog of a full VM socket (order kept, bounded, flushed
 * when writable or on retry, also under XNU's ENOBUFS semantics), failing
 * and reaping a dead port; a restored lease outside today's pool dropped.
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
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "leasedb.h"
#include "port.h"
#include "softnetd.h"
#include "switch.h"
#include "testd.h"
#include "uplink.h"
#include "vm.h"

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))
#define NET(x) IP4(192, 168, 105, x)
#define T0     1700000000
#define LEASE  600

static int64_t fake_now = T0;

/* The daemon's clock, under the test's control (clock_set_hook). */
static int64_t
test_now(void)
{
	return fake_now;
}

/* Nanoseconds the test has moved the monotonic clock on (no sleeping). */
static uint64_t mono_skew;

/* The daemon's monotonic clock: the system's, plus mono_skew. */
static uint64_t
test_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec +
	       mono_skew;
}

static struct softnetd sd;

/*
 * XNU's Unix datagram semantics in place of Linux's (the Makefile links
 * this test with --wrap for both): a full receiver fails the send with
 * ENOBUFS, never EAGAIN (uipc_usrreq.c uipc_send), and the socket gives
 * no writability event to wait for. The sockets stay real; only what
 * the OS reports changes.
 */
static bool xnu;

int __real_osdep_send_batch(
    int fd, uint8_t *const *frames, const size_t *lens, int n);
bool __real_osdep_dgram_writable_events(void);
int __wrap_osdep_send_batch(
    int fd, uint8_t *const *frames, const size_t *lens, int n);
bool __wrap_osdep_dgram_writable_events(void);

/* osdep_send_batch as XNU reports a full receiver, when xnu is set. */
int
__wrap_osdep_send_batch(
    int fd, uint8_t *const *frames, const size_t *lens, int n)
{
	int r = __real_osdep_send_batch(fd, frames, lens, n);

	if (r == -1 && xnu && errno == EAGAIN)
		errno = ENOBUFS;
	return r;
}

/* False (no writability events) when xnu is set. */
bool
__wrap_osdep_dgram_writable_events(void)
{
	return xnu ? false : __real_osdep_dgram_writable_events();
}

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

/* A locally administered unicast MAC numbered n. */
static void
mk_mac(uint8_t mac[6], unsigned n)
{
	mac[0] = 0x02;
	mac[1] = 0x00;
	mac[2] = (uint8_t)(n >> 24);
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

/* Attaches a VM of kind over a socketpair of type; *peer gets its end. */
static struct port *
attach_kind(const uint8_t mac[6], const char *name, int64_t owner,
    enum osdep_fd_kind kind, int type, int *peer)
{
	struct vm_attach_args a;
	enum vm_err verr;
	char msg[256];
	struct port *p;

	memset(&a, 0, sizeof(a));
	a.fd = testd_pair(type, peer);
	a.kind = kind;
	memcpy(a.mac, mac, 6);
	a.name = name;
	a.owner = owner;
	p = vm_attach(&sd, &a, &verr, msg, sizeof(msg));
	if (p == NULL)
		print_error("vm_attach: %s: %s\n", vm_err_code(verr), msg);
	assert_non_null(p);
	assert_int_equal(p->fd, a.fd);
	return p;
}

/* Attaches a datagram VM. */
static struct port *
attach(const uint8_t mac[6], const char *name, int *peer)
{
	return attach_kind(mac, name, 1000, OSDEP_FD_DGRAM, SOCK_DGRAM, peer);
}

/* Expects vm_attach to refuse with code and leave the fd open. */
static void
attach_fails(const uint8_t mac[6], const char *name, const char *want)
{
	struct vm_attach_args a;
	enum vm_err verr;
	char msg[256] = "";
	size_t before = port_count(&sd);
	int64_t events = leasedb_event_count(sd.db);

	memset(&a, 0, sizeof(a));
	a.fd = testd_pair(SOCK_DGRAM, NULL);
	a.kind = OSDEP_FD_DGRAM;
	memcpy(a.mac, mac, 6);
	a.name = name;
	a.owner = 1000;
	assert_null(vm_attach(&sd, &a, &verr, msg, sizeof(msg)));
	assert_string_equal(vm_err_code(verr), want);
	assert_true(strlen(msg) > 0);
	/* The caller still owns the descriptor. */
	assert_true(fcntl(a.fd, F_GETFD) != -1);
	close(a.fd);
	assert_int_equal(port_count(&sd), before);
	assert_int_equal(leasedb_event_count(sd.db), events);
}

/* Binds ip to mac in the database until fake_now + secs. */
static void
db_bind_for(const uint8_t mac[6], uint32_t want, int64_t secs)
{
	uint32_t ip = 0;

	assert_int_equal(leasedb_offer(sd.db, mac, want, fake_now, 60, &ip), 0);
	assert_int_equal(ip, want);
	assert_int_equal(leasedb_ack(sd.db, mac, ip, NULL, fake_now, secs), 0);
}

/* Binds ip to mac in the database until fake_now + LEASE. */
static void
db_bind(const uint8_t mac[6], uint32_t want)
{
	db_bind_for(mac, want, LEASE);
}

/* ---- names ------------------------------------------------------------ */

static void
test_name_valid(void **state)
{
	static const char *const good[] = {
	    "a",
	    "Z",
	    "vm-1",
	    "web_01.example",
	    "1a",
	    "0x10",
	    "-",
	    ".",
	    "_",
	    "1.2",
	    "deadbeef",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	static const char *const bad[] = {
	    "",
	    "0",
	    "123",
	    "4294967295",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "a b",
	    " a",
	    "a\n",
	    "a\t",
	    "a/b",
	    "../x",
	    "a:b",
	    "a@b",
	    "a,b",
	    "caf\xc3\xa9",
	    "\xff",
	    "02:00:00:00:00:01",
	    "02-00-00-00-00-01",
	    "2-0-0-0-0-1",
	    "aa-bb-cc-dd-ee-ff",
	    "AA-BB-CC-DD-EE-FF",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!addr_name_valid(good[i]))
			print_error("refused \"%s\"\n", good[i]);
		assert_true(addr_name_valid(good[i]));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (addr_name_valid(bad[i]))
			print_error("accepted \"%s\"\n", bad[i]);
		assert_false(addr_name_valid(bad[i]));
	}
}

/* ---- registry --------------------------------------------------------- */

static void
test_registry(void **state)
{
	uint8_t m1[6], m2[6], m3[6], m9[6];
	struct port *p1, *p2, *p3, *p;
	int n;

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	mk_mac(m3, 3);
	mk_mac(m9, 9);
	p1 = attach(m1, "one", NULL);
	p2 = attach(m2, NULL, NULL);
	p3 = attach(m3, "", NULL);
	assert_int_equal(port_count(&sd), 3);
	assert_int_equal(p1->id, 1);
	assert_int_equal(p2->id, 2);
	assert_int_equal(p3->id, 3);
	assert_string_equal(p1->name, "one");
	assert_string_equal(p2->name, "");
	assert_int_equal(p1->owner, 1000);
	assert_int_equal(p1->attached_at, T0);
	assert_int_equal(p1->ip, 0);
	assert_false(p1->dead);
	assert_null(p1->session);
	assert_string_equal(port_state(p1), "attached");

	/* by id, name, MAC */
	assert_ptr_equal(port_by_id(&sd, 1), p1);
	assert_ptr_equal(port_by_id(&sd, 3), p3);
	assert_null(port_by_id(&sd, 0));
	assert_null(port_by_id(&sd, 4));
	assert_ptr_equal(port_by_name(&sd, "one"), p1);
	assert_null(port_by_name(&sd, ""));
	assert_null(port_by_name(&sd, "One"));
	assert_null(port_by_name(&sd, "on"));
	assert_ptr_equal(port_by_mac(&sd, m2), p2);
	assert_null(port_by_mac(&sd, m9));
	assert_null(port_by_ip(&sd, 0));
	assert_null(port_by_ip(&sd, NET(2)));

	/* port_lookup: name, MAC text in either form, decimal id */
	assert_ptr_equal(port_lookup(&sd, "one"), p1);
	assert_ptr_equal(port_lookup(&sd, "02:00:00:00:00:02"), p2);
	assert_ptr_equal(port_lookup(&sd, "02-00-00-00-00-03"), p3);
	assert_ptr_equal(port_lookup(&sd, "2:0:0:0:0:3"), p3);
	assert_ptr_equal(port_lookup(&sd, "2"), p2);
	assert_ptr_equal(port_lookup(&sd, "002"), p2);
	assert_null(port_lookup(&sd, ""));
	assert_null(port_lookup(&sd, "0"));
	assert_null(port_lookup(&sd, "4"));
	assert_null(port_lookup(&sd, "-1"));
	assert_null(port_lookup(&sd, "+1"));
	assert_null(port_lookup(&sd, " 1"));
	assert_null(port_lookup(&sd, "1 "));
	assert_null(port_lookup(&sd, "1x"));
	assert_null(port_lookup(&sd, "4294967297"));
	assert_null(port_lookup(&sd, "18446744073709551617"));
	assert_null(port_lookup(&sd, "02:00:00:00:00:09"));
	assert_null(port_lookup(&sd, "two"));

	/* port_all in attach order */
	n = 0;
	TAILQ_FOREACH(p, port_all(&sd), entry) {
		assert_int_equal(p->id, (uint32_t)++n);
	}
	assert_int_equal(n, 3);

	/* detach: gone from every index; ids are never reused */
	vm_detach(&sd, p2);
	assert_int_equal(port_count(&sd), 2);
	assert_null(port_by_id(&sd, 2));
	assert_null(port_by_mac(&sd, m2));
	assert_null(port_lookup(&sd, "2"));
	assert_ptr_equal(port_by_mac(&sd, m1), p1);
	assert_ptr_equal(port_by_mac(&sd, m3), p3);
	p2 = attach(m2, "one-more", NULL);
	assert_int_equal(p2->id, 4);
	assert_ptr_equal(port_lookup(&sd, "4"), p2);
}

static void
test_attach_refusals(void **state)
{
	static const uint8_t zero[6] = {0};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t odd[6] = {0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
	uint8_t m1[6], m2[6], m3[6];
	struct vm_attach_args a;
	enum vm_err verr;
	char msg[128];

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	mk_mac(m3, 3);
	attach(m1, "one", NULL);
	attach_fails(zero, NULL, "bad_mac");
	attach_fails(mcast, NULL, "bad_mac");
	attach_fails(bcast, NULL, "bad_mac");
	attach_fails(odd, NULL, "bad_mac");
	attach_fails(m1, NULL, "mac_in_use");
	attach_fails(m1, "other", "mac_in_use");
	attach_fails(m2, "one", "name_in_use");

	/* A descriptor that is not open: refused, nothing recorded. */
	memset(&a, 0, sizeof(a));
	a.fd = 1000000;
	a.kind = OSDEP_FD_DGRAM;
	memcpy(a.mac, m2, 6);
	assert_null(vm_attach(&sd, &a, &verr, msg, sizeof(msg)));
	assert_string_equal(vm_err_code(verr), "bad_fd");
	assert_null(port_by_mac(&sd, m2));

	/* max_vms */
	sd.cfg.max_vms = 2;
	attach(m2, NULL, NULL);
	attach_fails(m3, NULL, "too_many_vms");
	vm_detach(&sd, port_by_mac(&sd, m2));
	attach(m3, NULL, NULL);
	assert_int_equal(port_count(&sd), 2);
}

static void
test_attach_sets_fd_flags(void **state)
{
	uint8_t m1[6];
	struct port *p;
	int fl;

	(void)state;
	mk_mac(m1, 1);
	p = attach(m1, NULL, NULL);
	fl = fcntl(p->fd, F_GETFL);
	assert_true(fl != -1);
	assert_true((fl & O_NONBLOCK) != 0);
	assert_true((fcntl(p->fd, F_GETFD) & FD_CLOEXEC) != 0);
	assert_non_null(p->ev);
}

/* Many ports, so the hash chains hold several entries each. */
static void
test_many_ports_indexes(void **state)
{
	enum { N = 300 };
	static struct port *ps[N];
	uint8_t mac[6];
	unsigned i;

	(void)state;
	for (i = 0; i < N; i++) {
		mk_mac(mac, i * 1024 + 7);
		ps[i] = attach(mac, NULL, NULL);
	}
	assert_int_equal(port_count(&sd), N);
	/* Every one a distinct address; 10.x so all of them fit. */
	for (i = 0; i < N; i++)
		port_set_lease(
		    &sd, ps[i], IP4(10, 0, i >> 8, i & 0xff) + 1, T0 + LEASE);
	for (i = 0; i < N; i++) {
		mk_mac(mac, i * 1024 + 7);
		assert_ptr_equal(port_by_mac(&sd, mac), ps[i]);
		assert_ptr_equal(
		    port_by_ip(&sd, IP4(10, 0, i >> 8, i & 0xff) + 1), ps[i]);
	}
	/* Unlink every third from the middle of its chains. */
	for (i = 0; i < N; i += 3) {
		vm_detach(&sd, ps[i]);
		ps[i] = NULL;
	}
	/* Clear every fifth remaining lease. */
	for (i = 1; i < N; i += 5)
		if (ps[i] != NULL)
			port_set_lease(&sd, ps[i], 0, 0);
	for (i = 0; i < N; i++) {
		uint32_t ip = IP4(10, 0, i >> 8, i & 0xff) + 1;

		mk_mac(mac, i * 1024 + 7);
		if (ps[i] == NULL) {
			assert_null(port_by_mac(&sd, mac));
			assert_null(port_by_ip(&sd, ip));
		} else if (i % 5 == 1) {
			assert_ptr_equal(port_by_mac(&sd, mac), ps[i]);
			assert_null(port_by_ip(&sd, ip));
			assert_int_equal(ps[i]->ip, 0);
		} else {
			assert_ptr_equal(port_by_mac(&sd, mac), ps[i]);
			assert_ptr_equal(port_by_ip(&sd, ip), ps[i]);
		}
	}
	assert_int_equal(port_count(&sd), N - (N + 2) / 3);
}

/*
 * Keys that share a hash bucket, found with copies of port.c's hashes, so
 * the chains surely hold several entries (if port.c's hashes change, this
 * still passes, with shorter chains).
 */
static size_t
mac_hash(const uint8_t mac[6])
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < 6; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h & 1023;
}

static size_t
ip_hash(uint32_t ip)
{
	return (ip * 2654435761u) >> 22 & 1023;
}

static void
test_hash_chains(void **state)
{
	enum { K = 6 };
	struct port *ps[K];
	uint8_t macs[K][6], mac[6];
	uint32_t ips[K], ip;
	unsigned n, k;

	(void)state;
	mk_mac(macs[0], 1);
	for (n = 2, k = 1; k < K && n < 10000000; n++) {
		mk_mac(mac, n);
		if (mac_hash(mac) == mac_hash(macs[0]))
			memcpy(macs[k++], mac, 6);
	}
	assert_int_equal(k, K);
	ips[0] = IP4(10, 0, 0, 1);
	for (ip = ips[0] + 1, k = 1; k < K && ip < IP4(11, 0, 0, 0); ip++) {
		if (ip_hash(ip) == ip_hash(ips[0]))
			ips[k++] = ip;
	}
	assert_int_equal(k, K);

	for (k = 0; k < K; k++) {
		ps[k] = attach(macs[k], NULL, NULL);
		port_set_lease(&sd, ps[k], ips[k], T0 + LEASE);
	}
	for (k = 0; k < K; k++) {
		assert_ptr_equal(port_by_mac(&sd, macs[k]), ps[k]);
		assert_ptr_equal(port_by_ip(&sd, ips[k]), ps[k]);
	}
	/* Out of the middle, the head and the tail of each chain. */
	vm_detach(&sd, ps[2]);
	port_set_lease(&sd, ps[3], 0, 0);
	vm_detach(&sd, ps[K - 1]);
	port_set_lease(&sd, ps[0], 0, 0);
	vm_detach(&sd, ps[0]);
	for (k = 0; k < K; k++) {
		bool gone = k == 2 || k == K - 1 || k == 0;

		if (gone)
			assert_null(port_by_mac(&sd, macs[k]));
		else
			assert_ptr_equal(port_by_mac(&sd, macs[k]), ps[k]);
		if (gone || k == 3)
			assert_null(port_by_ip(&sd, ips[k]));
		else
			assert_ptr_equal(port_by_ip(&sd, ips[k]), ps[k]);
	}
	/* Moving an address along a chain. */
	port_set_lease(&sd, ps[1], ips[3], T0 + LEASE);
	assert_null(port_by_ip(&sd, ips[1]));
	assert_ptr_equal(port_by_ip(&sd, ips[3]), ps[1]);
	assert_ptr_equal(port_by_ip(&sd, ips[4]), ps[4]);
	port_set_lease(&sd, ps[4], ips[3], T0 + LEASE);
	assert_ptr_equal(port_by_ip(&sd, ips[3]), ps[4]);
	assert_int_equal(ps[1]->ip, 0);
	assert_null(port_by_ip(&sd, ips[4]));
}

/* ---- leases ----------------------------------------------------------- */

static void
test_set_lease_index(void **state)
{
	uint8_t m1[6], m2[6];
	struct port *p1, *p2;

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	p1 = attach(m1, NULL, NULL);
	p2 = attach(m2, NULL, NULL);

	port_set_lease(&sd, p1, NET(10), T0 + 100);
	assert_int_equal(p1->ip, NET(10));
	assert_int_equal(p1->lease_expires, T0 + 100);
	assert_string_equal(port_state(p1), "leased");
	assert_ptr_equal(port_by_ip(&sd, NET(10)), p1);

	/* Renewal of the same address: only the expiry moves. */
	port_set_lease(&sd, p1, NET(10), T0 + 700);
	assert_int_equal(p1->lease_expires, T0 + 700);
	assert_ptr_equal(port_by_ip(&sd, NET(10)), p1);

	/* A new address: the old one is free in the index. */
	port_set_lease(&sd, p1, NET(11), T0 + 800);
	assert_null(port_by_ip(&sd, NET(10)));
	assert_ptr_equal(port_by_ip(&sd, NET(11)), p1);

	/* The address moves to another port: the first loses it. */
	port_set_lease(&sd, p2, NET(11), T0 + 900);
	assert_ptr_equal(port_by_ip(&sd, NET(11)), p2);
	assert_int_equal(p1->ip, 0);
	assert_int_equal(p1->lease_expires, 0);
	assert_string_equal(port_state(p1), "attached");
	assert_int_equal(p2->ip, NET(11));

	/* p1 takes another; both indexed. */
	port_set_lease(&sd, p1, NET(12), T0 + 900);
	assert_ptr_equal(port_by_ip(&sd, NET(12)), p1);
	assert_ptr_equal(port_by_ip(&sd, NET(11)), p2);

	/* Clearing. */
	port_set_lease(&sd, p2, 0, T0 + 999);
	assert_int_equal(p2->ip, 0);
	assert_int_equal(p2->lease_expires, 0);
	assert_null(port_by_ip(&sd, NET(11)));
	assert_ptr_equal(port_by_ip(&sd, NET(12)), p1);
	port_set_lease(&sd, p2, 0, 0); /* clearing twice is harmless */
	assert_null(port_by_ip(&sd, NET(11)));

	/* Detach drops the IP from the index. */
	vm_detach(&sd, p1);
	assert_null(port_by_ip(&sd, NET(12)));
}

static void
test_detach_releases_lease(void **state)
{
	uint8_t m1[6], m2[6];
	struct port *p;
	struct lease l;
	int peer;

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	p = attach(m1, "vm1", &peer);
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_string_equal(l.name, "vm1");
	assert_int_equal(l.owner, 1000);
	db_bind(m1, NET(2));
	port_set_lease(&sd, p, NET(2), T0 + LEASE);
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);

	fake_now = T0 + 30;
	vm_detach(&sd, p);
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	assert_int_equal(l.expires, 0);
	assert_null(port_by_ip(&sd, NET(2)));
	/* The VM's end sees its peer closed. */
	errno = 0;
	assert_int_equal(send(peer, "x", 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, ECONNREFUSED);

	/* The address is free for someone else at once. */
	{
		uint32_t ip = 0;

		attach(m2, NULL, NULL);
		assert_int_equal(
		    leasedb_offer(sd.db, m2, NET(2), fake_now, 60, &ip), 0);
		assert_int_equal(ip, NET(2));
	}
}

static void
test_restart_restores_lease(void **state)
{
	uint8_t m1[6], m2[6], m3[6];
	struct port *p;
	struct lease l;
	int peer;

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	mk_mac(m3, 3);
	p = attach(m1, "vm1", &peer);
	db_bind(m1, NET(5));
	port_set_lease(&sd, p, NET(5), T0 + LEASE);
	p = attach(m2, "vm2", NULL);
	db_bind(m2, NET(6));
	port_set_lease(&sd, p, NET(6), T0 + LEASE);
	p = attach(m3, "vm3", NULL);
	db_bind_for(m3, NET(7), 10);
	port_set_lease(&sd, p, NET(7), T0 + 10);

	/* The daemon stops: descriptors closed, leases kept. */
	port_shutdown(&sd);
	assert_null(sd.ports);
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);
	errno = 0;
	assert_int_equal(send(peer, "x", 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, ECONNREFUSED);

	/* It starts again later; the VMs re-attach. */
	fake_now = T0 + 60;
	port_init(&sd);
	vm_init(&sd);
	/* Someone else holds .6 in the index already: vm2 gets nothing. */
	{
		uint8_t m4[6];

		mk_mac(m4, 4);
		p = attach(m4, NULL, NULL);
		port_set_lease(&sd, p, NET(6), T0 + LEASE);
	}
	p = attach(m1, "vm1", NULL);
	assert_int_equal(p->ip, NET(5));
	assert_int_equal(p->lease_expires, T0 + LEASE);
	assert_ptr_equal(port_by_ip(&sd, NET(5)), p);
	assert_string_equal(port_state(p), "leased");
	p = attach(m2, "vm2", NULL);
	assert_int_equal(p->ip, 0);
	/* vm3's lease ran out while the daemon was down. */
	p = attach(m3, "vm3", NULL);
	assert_int_equal(p->ip, 0);
	assert_null(port_by_ip(&sd, NET(7)));

	/* A released lease is not restored either. */
	p = port_by_mac(&sd, m1);
	vm_detach(&sd, p);
	p = attach(m1, "vm1", NULL);
	assert_int_equal(p->ip, 0);
}

/* A lease restored at re-attach must be in today's pool, else released. */
static void
test_restart_drops_lease_outside_pool(void **state)
{
	uint8_t m1[6], m2[6];
	struct port *p;
	struct lease l;

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	p = attach(m1, "vm1", NULL);
	db_bind(m1, NET(5));
	port_set_lease(&sd, p, NET(5), T0 + LEASE);
	p = attach(m2, "vm2", NULL);
	db_bind(m2, NET(50));
	port_set_lease(&sd, p, NET(50), T0 + LEASE);
	port_shutdown(&sd);

	/* The daemon comes back with a smaller pool: .2-.20. */
	fake_now = T0 + 60;
	sd.up.pool_end = NET(20);
	port_init(&sd);
	vm_init(&sd);
	p = attach(m1, "vm1", NULL);
	assert_int_equal(p->ip, NET(5));
	p = attach(m2, "vm2", NULL);
	assert_int_equal(p->ip, 0);
	assert_null(port_by_ip(&sd, NET(50)));
	/* Released in the database: the VM's renewal gets a NAK. */
	assert_int_equal(leasedb_get(sd.db, m2, &l), 0);
	assert_int_not_equal(l.state, LEASE_BOUND);

	/* The gateway is never a VM's address either. */
	vm_detach(&sd, p);
	p = port_by_mac(&sd, m1);
	port_shutdown(&sd);
	sd.up.pool_end = NET(254);
	sd.up.gateway = NET(5);
	port_init(&sd);
	vm_init(&sd);
	p = attach(m1, "vm1", NULL);
	assert_int_equal(p->ip, 0);
}

/* ---- frames ----------------------------------------------------------- */

static void
test_send_counts(void **state)
{
	uint8_t m1[6], buf[2048], frame[1514];
	struct port *p;
	int peer;

	(void)state;
	mk_mac(m1, 1);
	p = attach(m1, NULL, &peer);
	memset(frame, 0xab, sizeof(frame));
	port_send(&sd, p, frame, 60);
	port_send(&sd, p, frame, sizeof(frame));
	assert_int_equal(p->st.rx_frames, 2);
	assert_int_equal(p->st.rx_bytes, 60 + sizeof(frame));
	assert_int_equal(p->st.tx_frames, 0);
	assert_int_equal(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 60);
	assert_int_equal(
	    recv(peer, buf, sizeof(buf), MSG_DONTWAIT), sizeof(frame));
	assert_memory_equal(buf, frame, sizeof(frame));
	errno = 0;
	assert_int_equal(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

/* Sends a 1514-byte frame numbered seq to p. */
static void
send_numbered(struct port *p, uint32_t seq)
{
	uint8_t frame[1514];

	memset(frame, 0x5a, sizeof(frame));
	memcpy(frame, &seq, sizeof(seq));
	port_send(&sd, p, frame, sizeof(frame));
}

/* Reads every frame waiting at peer; each must carry the next number. */
static uint32_t
read_numbered(int peer, uint32_t next)
{
	uint8_t buf[2048];
	uint32_t seq;
	ssize_t n;

	while ((n = recv(peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		assert_int_equal(n, 1514);
		memcpy(&seq, buf, sizeof(seq));
		assert_int_equal(seq, next);
		next++;
	}
	return next;
}

/*
 * Reads what p sends while the loop flushes its backlog (the VM's buffer
 * takes a few frames at a time); the next number expected afterwards.
 */
static uint32_t
drain(int peer, uint32_t next, struct port *p)
{
	int rounds;

	for (rounds = 0; p->full && rounds < 10000; rounds++) {
		next = read_numbered(peer, next);
		assert_int_equal(event_base_loop(sd.base, EVLOOP_ONCE), 0);
	}
	assert_false(p->full);
	return read_numbered(peer, next);
}

static void
test_send_full_socket_backlog(void **state)
{
	uint8_t m1[6];
	struct port *p;
	int peer, size = 4096;
	uint32_t seq = 0, got;
	uint64_t rx;

	(void)state;
	mk_mac(m1, 1);
	p = attach(m1, NULL, &peer);
	assert_int_equal(
	    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0);
	/* The VM does not read: once its socket is full, frames wait. */
	while (seq < 100000 && !p->full)
		send_numbered(p, seq++);
	assert_true(p->full);
	rx = p->st.rx_frames;
	assert_int_equal(rx, seq - 1);
	assert_non_null(p->backlog);
	/* The backlog takes 256 frames in all, the 257th is dropped. */
	while (seq < rx + 256)
		send_numbered(p, seq++);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 0);
	send_numbered(p, 999999);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 1);
	assert_int_equal(p->st.rx_frames, rx);
	assert_false(p->dead);

	/* The VM reads; the loop sees it writable and sends the backlog in
	 * order, with no gap after what went straight through. */
	got = read_numbered(peer, 0);
	assert_int_equal(got, (uint32_t)rx);
	got = drain(peer, got, p);
	assert_int_equal(p->st.rx_frames, rx + 256);
	assert_int_equal(got, seq);

	/* Afterwards a frame goes straight through. */
	send_numbered(p, seq++);
	assert_false(p->full);
	got = read_numbered(peer, got);
	assert_int_equal(got, seq);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 1);

	/* Under traffic, a send after the retry interval flushes the backlog
	 * first, without waiting for the loop; order still holds. */
	while (!p->full)
		send_numbered(p, seq++);
	send_numbered(p, seq++);
	got = read_numbered(peer, got);
	assert_true(p->full);
	rx = p->st.rx_frames;
	mono_skew += 100000; /* past the retry interval */
	send_numbered(p, seq++);
	assert_true(p->st.rx_frames > rx);
	assert_int_equal(drain(peer, got, p), seq);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 1);
	assert_int_equal(port_count(&sd), 1);
}

/* Frames for a VM whose socket stays full fill its backlog, then are
 * dropped and counted; the port stays attached and the loop idle. */
static void
test_send_hung_vm(void **state)
{
	uint8_t m1[6];
	struct port *p;
	int peer, size = 4096, i;
	uint64_t rx;

	(void)state;
	mk_mac(m1, 1);
	p = attach(m1, NULL, &peer);
	assert_int_equal(
	    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0);
	assert_false(port_blocked(p));
	for (i = 0; i < 100000 && !p->full; i++)
		send_numbered(p, (uint32_t)i);
	rx = p->st.rx_frames;
	assert_false(port_blocked(p)); /* room in the backlog */
	for (i = 0; i < 10000; i++)
		send_numbered(p, (uint32_t)i);
	p->retry_ns = 10000000; /* no retry due in this test's time */
	assert_true(port_blocked(p));
	assert_int_equal(p->st.rx_frames, rx);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 10000 - 255);
	assert_false(p->dead);
	assert_int_equal(event_base_loop(sd.base, EVLOOP_NONBLOCK), 0);
	assert_true(p->full);
	/* Each retry that sends nothing doubles the wait for the next. */
	p->retry_ns = 20000;
	for (i = 0; i < 3; i++) {
		uint64_t r = p->retry_ns;

		mono_skew += r + 50000;
		send_numbered(p, 0);
		assert_int_equal(p->retry_ns, r < 10000000 ? 2 * r : r);
	}
}

/*
 * Under XNU's semantics a full VM socket says ENOBUFS and never turns
 * writable: frames still wait in the backlog, in order, retried on a
 * timer (not a writability wait that would spin), and a VM that reads
 * nothing is found hung just the same.
 */
static void
test_send_enobufs_backlog(void **state)
{
	uint8_t m1[6];
	struct port *p;
	int peer, size = 4096, rounds;
	uint32_t seq = 0, got;
	uint64_t rx;

	(void)state;
	xnu = true;
	mk_mac(m1, 1);
	p = attach(m1, NULL, &peer);
	assert_int_equal(
	    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0);
	while (seq < 100000 && !p->full)
		send_numbered(p, seq++);
	assert_true(p->full);
	rx = p->st.rx_frames;
	assert_int_equal(rx, seq - 1);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 0);
	/* A timer, not a wait for writability. */
	assert_int_equal(event_get_fd(p->wev), -1);
	while (seq < rx + 100)
		send_numbered(p, seq++);
	assert_int_equal(port_backlog(p), 100);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 0);

	/* The VM reads nothing: retries back off until it counts as hung. */
	for (rounds = 0; !port_hung(p) && rounds < 100; rounds++)
		assert_int_equal(event_base_loop(sd.base, EVLOOP_ONCE), 0);
	assert_true(port_hung(p));
	assert_false(p->dead);
	assert_int_equal(p->st.rx_frames, rx);

	/* It reads: everything arrives, in order, nothing lost. */
	got = read_numbered(peer, 0);
	assert_int_equal(got, (uint32_t)rx);
	got = drain(peer, got, p);
	assert_int_equal(got, seq);
	assert_int_equal(p->st.rx_frames, seq);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 0);
	xnu = false;
}

static void
test_send_oversize_drops(void **state)
{
	uint8_t m1[6];
	struct port *p;
	uint8_t *big;
	size_t len = 4 * 1024 * 1024;
	int peer;

	(void)state;
	mk_mac(m1, 1);
	p = attach(m1, NULL, &peer);
	big = calloc(1, len);
	assert_non_null(big);
	/* Larger than any socket buffer: EMSGSIZE, a drop, not a failure. */
	port_send(&sd, p, big, len);
	free(big);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 1);
	assert_int_equal(p->st.rx_frames, 0);
	assert_false(p->dead);
}

static void
test_send_to_closed_peer_fails_port(void **state)
{
	uint8_t m1[6], m2[6];
	struct port *p, *p2;
	struct lease l;
	int peer;

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	p = attach(m1, NULL, &peer);
	p2 = attach(m2, NULL, NULL);
	db_bind(m1, NET(2));
	port_set_lease(&sd, p, NET(2), T0 + LEASE);
	testd_close_peer(peer);

	port_send(&sd, p, (const uint8_t *)"hello", 5);
	assert_true(p->dead);
	assert_int_equal(p->st.rx_frames, 0);
	/* Still registered until the reaper runs; sends are no-ops now. */
	assert_int_equal(port_count(&sd), 2);
	port_send(&sd, p, (const uint8_t *)"hello", 5);
	assert_int_equal(p->st.rx_frames, 0);
	assert_int_equal(p->st.drops[DROP_QUEUE_FULL], 0);
	port_fail(&sd, p, "again"); /* idempotent */

	assert_int_equal(event_base_loop(sd.base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(port_count(&sd), 1);
	assert_null(port_by_mac(&sd, m1));
	assert_null(port_by_ip(&sd, NET(2)));
	assert_ptr_equal(port_by_mac(&sd, m2), p2);
	assert_false(p2->dead);
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
}

/* A datagram socket bound to a fresh abstract name; its address in sun. */
static int
bound_dgram(struct sockaddr_un *sun, socklen_t *len, const char *tag)
{
	int s = socket(AF_UNIX, SOCK_DGRAM, 0), on = 1;

	assert_true(s >= 0);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* Abstract (Linux): leaves no file behind. */
	snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
	    "softnet-test-port-%s-%ld", tag, (long)getpid());
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	                   strlen(sun->sun_path + 1));
	assert_int_equal(bind(s, (struct sockaddr *)sun, *len), 0);
	(void)setsockopt(s, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
	return s;
}

/*
 * Only one end of a socket pair is accepted: not an unconnected socket,
 * not one connected to a bound address (which could be re-targeted there
 * and back), not a socket already attached.
 */
static void
test_attach_refuses_unpaired_sockets(void **state)
{
	struct vm_attach_args a;
	struct sockaddr_un sun;
	enum vm_err verr;
	char msg[256] = "";
	uint8_t m1[6], m2[6];
	socklen_t len;
	struct port *p;
	int third, fds[3], i;

	(void)state;
	mk_mac(m1, 1);
	mk_mac(m2, 2);
	third = bound_dgram(&sun, &len, "refuse");
	fds[0] = socket(AF_UNIX, SOCK_DGRAM, 0);
	fds[1] = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_int_equal(connect(fds[1], (struct sockaddr *)&sun, len), 0);
	p = attach(m1, NULL, NULL);
	fds[2] = dup(p->fd);
	for (i = 0; i < 3; i++) {
		memset(&a, 0, sizeof(a));
		a.fd = fds[i];
		a.kind = OSDEP_FD_DGRAM;
		memcpy(a.mac, m2, 6);
		a.owner = 1000;
		assert_null(vm_attach(&sd, &a, &verr, msg, sizeof(msg)));
		assert_string_equal(vm_err_code(verr), "bad_fd");
		assert_true(fcntl(fds[i], F_GETFD) != -1);
		close(fds[i]);
	}
	assert_int_equal(port_count(&sd), 1);
	close(third);
}

/*
 * A holder of the attached socket re-connects its copy to a third socket
 * (one that asks for SO_PASSCRED, like journald's): the next send finds
 * the peer changed, sends nothing there and fails the port.
 */
static void
test_send_after_reconnect_fails_port(void **state)
{
	struct sockaddr_un sun;
	uint8_t m1[6], buf[64];
	struct port *p;
	socklen_t len;
	int third, copy, peer;

	(void)state;
	mk_mac(m1, 1);
	p = attach(m1, NULL, &peer);
	port_send(&sd, p, (const uint8_t *)"hello", 5);
	assert_int_equal(p->st.rx_frames, 1);
	assert_int_equal(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 5);

	third = bound_dgram(&sun, &len, "reconnect");
	copy = dup(p->fd);
	assert_int_equal(connect(copy, (struct sockaddr *)&sun, len), 0);
	port_send(&sd, p, (const uint8_t *)"leak!", 5);
	port_send(&sd, p, (const uint8_t *)"leak!", 5);
	assert_true(p->dead);
	assert_int_equal(p->st.rx_frames, 1);
	assert_int_equal(recv(third, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	close(copy);
	close(third);
}

static void
test_recv(void **state)
{
	uint8_t m1[6], buf[4][2048], big[4000];
	struct frame f[4];
	struct port *p;
	int peer, i;

	(void)state;
	mk_mac(m1, 1);
	p = attach(m1, NULL, &peer);
	for (i = 0; i < 4; i++) {
		f[i].data = buf[i];
		f[i].cap = sizeof(buf[i]);
		f[i].len = 12345;
	}
	/* Nothing pending. */
	assert_int_equal(port_recv(&sd, p, f, 4), 0);
	assert_false(p->dead);

	assert_int_equal(send(peer, "one", 3, 0), 3);
	assert_int_equal(send(peer, "second", 6, 0), 6);
	memset(big, 0x77, sizeof(big));
	assert_int_equal(send(peer, big, sizeof(big), 0), (ssize_t)sizeof(big));
	assert_int_equal(send(peer, "last", 4, 0), 4);
	assert_int_equal(send(peer, "extra", 5, 0), 5);

	assert_int_equal(port_recv(&sd, p, f, 4), 4);
	assert_int_equal(f[0].len, 3);
	assert_memory_equal(f[0].data, "one", 3);
	assert_int_equal(f[1].len, 6);
	assert_memory_equal(f[1].data, "second", 6);
	assert_int_equal(f[2].len, 0); /* did not fit its buffer */
	assert_int_equal(f[3].len, 4);
	assert_memory_equal(f[3].data, "last", 4);
	assert_int_equal(port_recv(&sd, p, f, 4), 1);
	assert_int_equal(f[0].len, 5);
	assert_int_equal(port_recv(&sd, p, f, 4), 0);
	assert_false(p->dead);

	/* A dead port reads nothing. */
	assert_int_equal(send(peer, "x", 1, 0), 1);
	port_fail(&sd, p, "test");
	assert_int_equal(port_recv(&sd, p, f, 4), 0);
	assert_int_equal(event_base_loop(sd.base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(port_count(&sd), 0);
}

/*
 * A descriptor read with read(2) (the TAP path) whose other end closes:
 * end of file fails the port and the reaper detaches it.
 */
static void
test_recv_eof_fails_port(void **state)
{
	uint8_t m1[6], buf[2][2048];
	struct frame f[2];
	struct port *p;
	struct lease l;
	int peer, i;

	(void)state;
	mk_mac(m1, 1);
	p = attach_kind(m1, NULL, 1000, OSDEP_FD_TAP, SOCK_SEQPACKET, &peer);
	db_bind(m1, NET(3));
	port_set_lease(&sd, p, NET(3), T0 + LEASE);
	for (i = 0; i < 2; i++) {
		f[i].data = buf[i];
		f[i].cap = sizeof(buf[i]);
	}
	assert_int_equal(port_recv(&sd, p, f, 2), 0); /* EAGAIN */
	assert_false(p->dead);
	assert_int_equal(send(peer, "frame", 5, 0), 5);
	assert_int_equal(port_recv(&sd, p, f, 2), 1);
	assert_int_equal(f[0].len, 5);
	assert_false(p->dead);

	testd_close_peer(peer);
	assert_int_equal(port_recv(&sd, p, f, 2), 0);
	assert_true(p->dead);
	assert_int_equal(port_count(&sd), 1);
	assert_int_equal(event_base_loop(sd.base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(port_count(&sd), 0);
	assert_null(port_by_ip(&sd, NET(3)));
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
}

/* The read event: a frame from the VM wakes the loop and is switched. */
static void
test_read_event(void **state)
{
	uint8_t m1[6];
	struct port *p;
	int peer;

	(void)state;
	mk_mac(m1, 1);
	p = attach(m1, NULL, &peer);
	assert_int_equal(send(peer, "not a frame", 11, 0), 11);
	assert_int_equal(event_base_loop(sd.base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(p->st.tx_frames, 1);
	assert_int_equal(p->st.tx_bytes, 11);
	assert_int_equal(p->st.drops[DROP_RUNT], 1);
	/* A whole Ethernet header, from some other MAC. */
	assert_int_equal(
	    send(peer, "\x02\0\0\0\0\x09\x02\0\0\0\0\x08\x08\0", 14, 0), 14);
	assert_int_equal(event_base_loop(sd.base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(p->st.tx_frames, 2);
	assert_int_equal(p->st.drops[DROP_SRC_MAC], 1);
}

static void
test_shutdown_closes_without_release(void **state)
{
	uint8_t m1[6];
	struct port *p;
	struct lease l;
	int peer;

	(void)state;
	mk_mac(m1, 1);
	p = attach(m1, NULL, &peer);
	db_bind(m1, NET(9));
	port_set_lease(&sd, p, NET(9), T0 + LEASE);
	port_shutdown(&sd);
	port_shutdown(&sd); /* twice is harmless */
	assert_int_equal(leasedb_get(sd.db, m1, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);
	errno = 0;
	assert_int_equal(send(peer, "x", 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, ECONNREFUSED);
	port_init(&sd); /* for teardown */
	vm_init(&sd);
}

/* Fills p's socket until a frame lands in (or is refused) its backlog. */
static void
fill_until_backlog(struct port *p, int peer)
{
	int size = 4096;
	uint32_t seq = 0;

	assert_int_equal(
	    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0);
	while (seq < 100000 && !p->full && p->st.drops[DROP_QUEUE_FULL] == 0)
		send_numbered(p, seq++);
	send_numbered(p, seq);
}

/*
 * Item 14: one uid's never-reading VMs get backlogs up to their share of
 * BACKLOG_TOTAL (a quarter, 16 MiB: 31 backlogs of 512 KiB), then their
 * frames are dropped and counted; another uid and an admin still get one.
 */
static void
test_backlog_user_share(void **state)
{
	uint8_t m[6];
	struct port *p;
	size_t bytes;
	uint64_t refused;
	int peer, i, with = 0;

	(void)state;
	sd.cfg.max_vms = 100;
	for (i = 0; i < 40; i++) {
		mk_mac(m, (unsigned)(100 + i));
		p = attach(m, NULL, &peer);
		fill_until_backlog(p, peer);
		if (p->backlog != NULL)
			with++;
		else
			assert_true(p->st.drops[DROP_QUEUE_FULL] > 0);
	}
	assert_int_equal(with, 31);
	port_backlog_totals(&sd, &bytes, &refused);
	/* Each of the 9 refused VMs' held frames is a counted drop. */
	assert_int_equal(refused, 18);
	assert_true(bytes <= 16 * 1024 * 1024);
	/* Another uid is not starved by the first one. */
	mk_mac(m, 200);
	p = attach_kind(m, NULL, 1001, OSDEP_FD_DGRAM, SOCK_DGRAM, &peer);
	fill_until_backlog(p, peer);
	assert_non_null(p->backlog);
	/* An admin's VM draws on the total only. */
	mk_mac(m, 201);
	p = attach_kind(m, NULL, 1000, OSDEP_FD_DGRAM, SOCK_DGRAM, &peer);
	p->admin = true;
	fill_until_backlog(p, peer);
	assert_non_null(p->backlog);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_valid),
	    cmocka_unit_test_setup_teardown(
	        test_backlog_user_share, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_attach_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_attach_sets_fd_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_many_ports_indexes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hash_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_set_lease_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_detach_releases_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restart_restores_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restart_drops_lease_outside_pool, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_send_full_socket_backlog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_hung_vm, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_send_enobufs_backlog, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_send_oversize_drops, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_send_to_closed_peer_fails_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_attach_refuses_unpaired_sockets, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_send_after_reconnect_fails_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recv, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_recv_eof_fails_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_shutdown_closes_without_release, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	clock_set_hook(test_now, test_mono);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
