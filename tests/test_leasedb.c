/*
 * Unit tests for daemon/leasedb.c: allocation order, holds and expiry,
 * refusals, quarantine, pool exhaustion, persistence across close and across
 * a killed process, the bounded event log, schema versioning and string
 * bounds. Each test gets a fresh database (":memory:" or a file in its own
 * mkdtemp directory, removed afterwards).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "leasedb.h"

#define IP(a, b, c, d)                                                         \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))
#define GW    IP(10, 0, 0, 1)
#define POOL0 IP(10, 0, 0, 2)
#define POOL1 IP(10, 0, 0, 254)
#define T0    1700000000
#define HOLD  60
#define LEASE 3600

struct tmpdb {
	char dir[64];
	char path[128];
};

/* A MAC unique to n. */
static void
mac_n(unsigned n, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0x00;
	mac[2] = (uint8_t)(n >> 24);
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

/* A fresh in-memory database over 10.0.0.2-254, gateway 10.0.0.1. */
static struct leasedb *
mem_open(void)
{
	char err[256];
	struct leasedb *db;

	db = leasedb_open(":memory:", POOL0, POOL1, GW, err, sizeof(err));
	if (db == NULL)
		fail_msg("open: %s", err);
	return db;
}

/* Makes a private directory and names a database file in it. */
static void
tmp_make(struct tmpdb *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_leasedb.XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		fail_msg("mkdtemp failed");
	snprintf(t->path, sizeof(t->path), "%s/leases.db", t->dir);
}

/* Removes the database, its WAL files and the directory. */
static void
tmp_remove(struct tmpdb *t)
{
	char p[160];

	unlink(t->path);
	snprintf(p, sizeof(p), "%s-wal", t->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", t->path);
	unlink(p);
	rmdir(t->dir);
}

/* Opens the file database over the default pool. */
static struct leasedb *
file_open(struct tmpdb *t)
{
	char err[256];
	struct leasedb *db;

	db = leasedb_open(t->path, POOL0, POOL1, GW, err, sizeof(err));
	if (db == NULL)
		fail_msg("open %s: %s", t->path, err);
	return db;
}

/* Offer then ack: the usual DORA for mac n. Returns the address. */
static uint32_t
dora(struct leasedb *db, unsigned n, int64_t now)
{
	uint8_t mac[6];
	uint32_t ip = 0;

	mac_n(n, mac);
	assert_int_equal(leasedb_offer(db, mac, 0, now, HOLD, &ip), 0);
	assert_int_equal(leasedb_ack(db, mac, ip, NULL, now, LEASE), 0);
	return ip;
}

struct collect {
	struct lease rows[512];
	size_t n;
};

/* foreach callback: copies every row. */
static int
collect_cb(const struct lease *l, void *arg)
{
	struct collect *c = arg;

	if (c->n < sizeof(c->rows) / sizeof(c->rows[0]))
		c->rows[c->n++] = *l;
	return 0;
}

/* Checks the row invariants: unique addresses, states match addresses. */
static void
check_invariants(struct leasedb *db)
{
	struct collect *c;
	size_t i, j;

	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(leasedb_foreach(db, collect_cb, c), 0);
	for (i = 0; i < c->n; i++) {
		const struct lease *l = &c->rows[i];

		if (l->state == LEASE_NONE)
			assert_int_equal(l->ip, 0);
		if (l->state == LEASE_OFFERED || l->state == LEASE_BOUND) {
			assert_int_not_equal(l->ip, 0);
			assert_true(l->ip >= POOL0 && l->ip <= POOL1);
			assert_int_not_equal(l->ip, GW);
		} else {
			assert_int_equal(l->expires, 0);
		}
		for (j = i + 1; j < c->n; j++)
			if (l->ip != 0)
				assert_int_not_equal(l->ip, c->rows[j].ip);
	}
	free(c);
}

/* Fresh addresses come lowest first, skipping the gateway. */
static void
test_lowest_free(void **state)
{
	struct leasedb *db;
	uint8_t mac[6];
	uint32_t ip;
	char err[128];

	(void)state;
	db = mem_open();
	assert_int_equal(dora(db, 1, T0), IP(10, 0, 0, 2));
	assert_int_equal(dora(db, 2, T0), IP(10, 0, 0, 3));
	assert_int_equal(dora(db, 3, T0), IP(10, 0, 0, 4));
	/* A hole below the top is found first. */
	mac_n(2, mac);
	assert_int_equal(leasedb_release(db, mac, IP(10, 0, 0, 3), T0 + 1), 0);
	mac_n(4, mac);
	assert_int_equal(leasedb_offer(db, mac, 0, T0 + 2, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 3));
	check_invariants(db);
	leasedb_close(db);

	/* Gateway at the start and in the middle of the pool. */
	db = leasedb_open(":memory:", IP(10, 0, 0, 1), IP(10, 0, 0, 10),
	    IP(10, 0, 0, 1), err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(dora(db, 1, T0), IP(10, 0, 0, 2));
	leasedb_close(db);
	db = leasedb_open(":memory:", IP(10, 0, 0, 2), IP(10, 0, 0, 10),
	    IP(10, 0, 0, 3), err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(dora(db, 1, T0), IP(10, 0, 0, 2));
	assert_int_equal(dora(db, 2, T0), IP(10, 0, 0, 4));
	leasedb_close(db);
}

/* The lowest-free walk is right and quick on a /16-sized pool. */
static void
test_big_pool(void **state)
{
	struct leasedb *db;
	char err[128];
	uint8_t mac[6];
	uint32_t ip;
	unsigned i;
	clock_t c0;

	(void)state;
	db = leasedb_open(":memory:", IP(10, 1, 0, 1), IP(10, 1, 255, 254),
	    IP(10, 1, 0, 1), err, sizeof(err));
	assert_non_null(db);
	for (i = 0; i < 2000; i++) {
		mac_n(i, mac);
		assert_int_equal(leasedb_offer(db, mac, 0, T0, LEASE, &ip), 0);
		assert_int_equal(ip, IP(10, 1, 0, 2) + i);
	}
	/* Free one in the middle; a new MAC gets exactly that gap. */
	mac_n(1000, mac);
	assert_int_equal(
	    leasedb_release(db, mac, IP(10, 1, 0, 2) + 1000, T0), 0);
	c0 = clock();
	mac_n(99999, mac);
	assert_int_equal(leasedb_offer(db, mac, 0, T0, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 1, 0, 2) + 1000);
	mac_n(99998, mac);
	assert_int_equal(leasedb_offer(db, mac, 0, T0, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 1, 0, 2) + 2000);
	assert_true((clock() - c0) < CLOCKS_PER_SEC);
	leasedb_close(db);
}

/* A returning MAC gets its previous address, not the lowest free one. */
static void
test_previous_address(void **state)
{
	struct leasedb *db;
	uint8_t a[6], b[6];
	uint32_t ip;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	mac_n(2, b);
	assert_int_equal(dora(db, 1, T0), IP(10, 0, 0, 2));
	assert_int_equal(dora(db, 2, T0), IP(10, 0, 0, 3));
	assert_int_equal(leasedb_detach(db, a, T0 + 10), 0);
	assert_int_equal(leasedb_detach(db, b, T0 + 10), 0);
	/* .2 is lower and free, but b's hint is .3. */
	assert_int_equal(leasedb_offer(db, b, 0, T0 + 20, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 3));
	/* After an expiry too. */
	assert_int_equal(leasedb_ack(db, b, ip, NULL, T0 + 20, 100), 0);
	assert_int_equal(leasedb_expire(db, T0 + 200), 1);
	assert_int_equal(leasedb_offer(db, b, 0, T0 + 300, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 3));
	/* And a's own hint still stands. */
	assert_int_equal(leasedb_offer(db, a, 0, T0 + 300, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 2));
	check_invariants(db);
	leasedb_close(db);
}

/* `requested` wins only when it is free and usable. */
static void
test_requested(void **state)
{
	struct leasedb *db;
	uint8_t a[6], b[6], c[6];
	uint32_t ip;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	mac_n(2, b);
	mac_n(3, c);
	assert_int_equal(
	    leasedb_offer(db, a, IP(10, 0, 0, 50), T0, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 50));
	/* Held by a: b gets the lowest instead. */
	assert_int_equal(
	    leasedb_offer(db, b, IP(10, 0, 0, 50), T0, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 2));
	/* Outside the pool, the gateway: ignored. */
	assert_int_equal(
	    leasedb_offer(db, c, IP(192, 168, 1, 5), T0, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 3));
	assert_int_equal(leasedb_release(db, c, ip, T0), 0);
	assert_int_equal(leasedb_offer(db, c, GW, T0, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 3));
	assert_int_equal(leasedb_release(db, c, ip, T0), 0);
	assert_int_equal(
	    leasedb_offer(db, c, IP(10, 0, 0, 255), T0, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 3));
	/* The current address beats a new request. */
	assert_int_equal(
	    leasedb_offer(db, c, IP(10, 0, 0, 99), T0 + 1, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 3));
	/* A request beats the previous address. */
	assert_int_equal(leasedb_release(db, c, ip, T0 + 2), 0);
	assert_int_equal(
	    leasedb_offer(db, c, IP(10, 0, 0, 99), T0 + 3, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 99));
	check_invariants(db);
	leasedb_close(db);
}

/* Offering again to the holder keeps the address; BOUND stays BOUND. */
static void
test_offer_current(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t a[6];
	uint32_t ip, ip2;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	assert_int_equal(leasedb_offer(db, a, 0, T0, HOLD, &ip), 0);
	assert_int_equal(leasedb_offer(db, a, 0, T0 + 30, HOLD, &ip2), 0);
	assert_int_equal(ip, ip2);
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.state, LEASE_OFFERED);
	assert_int_equal(l.expires, T0 + 30 + HOLD);
	assert_int_equal(leasedb_ack(db, a, ip, "vm1", T0 + 40, LEASE), 0);
	assert_int_equal(leasedb_offer(db, a, 0, T0 + 50, HOLD, &ip2), 0);
	assert_int_equal(ip, ip2);
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);
	assert_int_equal(l.expires, T0 + 40 + LEASE);
	assert_string_equal(l.hostname, "vm1");
	leasedb_close(db);
}

/* An unacknowledged offer stops holding its address when the hold ends. */
static void
test_offer_hold_expiry(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t a[6], b[6], c[6];
	uint32_t ip;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	mac_n(2, b);
	mac_n(3, c);
	assert_int_equal(leasedb_offer(db, a, 0, T0, 10, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 2));
	assert_int_equal(leasedb_offer(db, b, 0, T0 + 5, 10, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 3));
	/* At exactly the end the hold is over (expires > now holds). */
	assert_int_equal(leasedb_offer(db, c, 0, T0 + 10, 10, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 2));
	/* a lost it without a sweep: its stale row is now EXPIRED, no ip. */
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.state, LEASE_EXPIRED);
	assert_int_equal(l.ip, 0);
	assert_int_equal(
	    leasedb_ack(db, a, IP(10, 0, 0, 2), NULL, T0 + 11, LEASE), 1);
	assert_int_equal(leasedb_offer(db, a, 0, T0 + 11, 10, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 4));
	check_invariants(db);
	leasedb_close(db);
}

/* ACK of an address another MAC holds is refused while it holds it. */
static void
test_ack_other_mac(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t a[6], b[6];
	uint32_t ip;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	mac_n(2, b);
	assert_int_equal(leasedb_offer(db, a, 0, T0, HOLD, &ip), 0);
	/* Even an OFFERED hold protects it. */
	assert_int_equal(leasedb_ack(db, b, ip, NULL, T0, LEASE), 1);
	assert_int_equal(leasedb_ack(db, a, ip, NULL, T0, 100), 0);
	assert_int_equal(leasedb_ack(db, b, ip, NULL, T0 + 99, LEASE), 1);
	assert_int_equal(leasedb_get(db, b, &l), 1); /* refusal: no row */
	/* Once a's lease has run out, b may have it (INIT-REBOOT). */
	assert_int_equal(leasedb_ack(db, b, ip, "b", T0 + 100, LEASE), 0);
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.state, LEASE_EXPIRED);
	assert_int_equal(l.ip, 0);
	assert_int_equal(leasedb_get(db, b, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);
	assert_int_equal(l.ip, ip);
	assert_int_equal(l.expires, T0 + 100 + LEASE);
	check_invariants(db);
	leasedb_close(db);
}

/* ACK outside the pool, of the gateway or of 0 is refused. */
static void
test_ack_outside_pool(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t a[6];
	char err[128];

	(void)state;
	db = mem_open();
	mac_n(1, a);
	assert_int_equal(leasedb_ack(db, a, GW, NULL, T0, LEASE), 1);
	assert_int_equal(leasedb_ack(db, a, 0, NULL, T0, LEASE), 1);
	assert_int_equal(
	    leasedb_ack(db, a, IP(10, 0, 0, 255), NULL, T0, LEASE), 1);
	assert_int_equal(
	    leasedb_ack(db, a, IP(10, 0, 0, 0), NULL, T0, LEASE), 1);
	assert_int_equal(
	    leasedb_ack(db, a, IP(10, 0, 1, 7), NULL, T0, LEASE), 1);
	assert_int_equal(leasedb_get(db, a, &l), 1);
	assert_int_equal(
	    leasedb_ack(db, a, IP(10, 0, 0, 254), NULL, T0, LEASE), 0);
	leasedb_close(db);

	/* The gateway inside the pool is refused too. */
	db = leasedb_open(":memory:", IP(10, 0, 0, 1), IP(10, 0, 0, 10),
	    IP(10, 0, 0, 5), err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(
	    leasedb_ack(db, a, IP(10, 0, 0, 5), NULL, T0, LEASE), 1);
	assert_int_equal(
	    leasedb_ack(db, a, IP(10, 0, 0, 6), NULL, T0, LEASE), 0);
	leasedb_close(db);
}

/* RELEASE and detach free the address at once. */
static void
test_release_detach(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t a[6], b[6], c[6];
	uint32_t ip, ip2;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	mac_n(2, b);
	mac_n(3, c);
	ip = dora(db, 1, T0);
	/* Not held: wrong address, wrong MAC, unknown MAC, 0. */
	assert_int_equal(leasedb_release(db, a, ip + 1, T0), 1);
	assert_int_equal(leasedb_release(db, b, ip, T0), 1);
	assert_int_equal(leasedb_release(db, a, 0, T0), 1);
	assert_int_equal(leasedb_release(db, a, ip, T0 + 5), 0);
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	assert_int_equal(l.ip, ip); /* a hint */
	assert_int_equal(l.expires, 0);
	assert_int_equal(l.granted, T0 + 5);
	/* A second release: no longer held. */
	assert_int_equal(leasedb_release(db, a, ip, T0 + 6), 1);
	/* b may take it at once. */
	assert_int_equal(leasedb_ack(db, b, ip, NULL, T0 + 6, LEASE), 0);

	/* Detach. */
	ip2 = dora(db, 3, T0 + 7);
	assert_int_equal(leasedb_detach(db, c, T0 + 8), 0);
	assert_int_equal(leasedb_get(db, c, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	assert_int_equal(l.ip, ip2);
	assert_int_equal(l.expires, 0);
	assert_int_equal(leasedb_offer(db, a, ip2, T0 + 9, HOLD, &ip), 0);
	assert_int_equal(ip, ip2);
	/* Detaching an unknown or already released MAC is fine. */
	assert_int_equal(leasedb_detach(db, c, T0 + 10), 0);
	mac_n(77, c);
	assert_int_equal(leasedb_detach(db, c, T0 + 10), 0);
	assert_int_equal(leasedb_get(db, c, &l), 1);
	check_invariants(db);
	leasedb_close(db);
}

/* leasedb_forget drops the row, address and owner; unknown MACs are 1. */
static void
test_forget(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t a[6], b[6];
	uint32_t ip;
	int64_t events;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	mac_n(2, b);
	assert_int_equal(leasedb_attach(db, a, "vm", 1000, T0), 0);
	ip = dora(db, 1, T0);
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.owner, 1000);
	events = leasedb_event_count(db);
	assert_int_equal(leasedb_forget(db, a, T0 + 1), 0);
	assert_int_equal(leasedb_get(db, a, &l), 1);
	assert_int_equal(leasedb_event_count(db), events + 1);
	assert_int_equal(leasedb_forget(db, a, T0 + 2), 1);
	assert_int_equal(leasedb_forget(db, b, T0 + 2), 1);
	/* The address is free for another MAC at once. */
	assert_int_equal(leasedb_ack(db, b, ip, NULL, T0 + 3, LEASE), 0);
	check_invariants(db);
	leasedb_close(db);
}

/* A declined address is offered to nobody until the quarantine ends. */
static void
test_decline_quarantine(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t a[6], b[6];
	uint32_t ip, bad;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	mac_n(2, b);
	assert_int_equal(leasedb_offer(db, a, 0, T0, HOLD, &bad), 0);
	assert_int_equal(bad, IP(10, 0, 0, 2));
	/* b does not hold it: nothing changes. */
	assert_int_equal(leasedb_decline(db, b, bad, T0, 100), 1);
	assert_int_equal(leasedb_decline(db, a, bad + 1, T0, 100), 1);
	assert_int_equal(leasedb_decline(db, a, bad, T0 + 1, 100), 0);
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	assert_int_equal(l.ip, 0); /* a declined address is no hint */
	/* Nobody gets it: not by lowest, request, or ack. */
	assert_int_equal(leasedb_offer(db, a, 0, T0 + 2, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 3));
	assert_int_equal(leasedb_offer(db, b, bad, T0 + 2, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 4));
	assert_int_equal(leasedb_ack(db, b, bad, NULL, T0 + 100, LEASE), 1);
	/* An expire sweep before the end keeps the quarantine. */
	assert_int_equal(leasedb_expire(db, T0 + 50), 0);
	assert_int_equal(leasedb_ack(db, b, bad, NULL, T0 + 100, LEASE), 1);
	/* At T0 + 101 it is over. */
	assert_int_equal(leasedb_ack(db, b, bad, NULL, T0 + 101, LEASE), 0);
	check_invariants(db);
	leasedb_close(db);

	/* After a sweep past the end the address comes back as lowest. */
	db = mem_open();
	assert_int_equal(leasedb_offer(db, a, 0, T0, HOLD, &bad), 0);
	assert_int_equal(leasedb_decline(db, a, bad, T0, 100), 0);
	assert_int_equal(leasedb_expire(db, T0 + 100), 0);
	assert_int_equal(leasedb_offer(db, b, 0, T0 + 100, HOLD, &ip), 0);
	assert_int_equal(ip, bad);
	leasedb_close(db);
}

/* The expiry sweep marks ended leases EXPIRED and counts them. */
static void
test_expire(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t a[6], b[6], c[6];
	uint32_t ipa, ipb, ipc;
	int64_t ev;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	mac_n(2, b);
	mac_n(3, c);
	assert_int_equal(leasedb_offer(db, a, 0, T0, HOLD, &ipa), 0);
	assert_int_equal(leasedb_ack(db, a, ipa, NULL, T0, 200), 0);
	assert_int_equal(leasedb_offer(db, b, 0, T0, 10, &ipb), 0);
	assert_int_equal(leasedb_offer(db, c, 0, T0, HOLD, &ipc), 0);
	assert_int_equal(leasedb_ack(db, c, ipc, NULL, T0, 1000), 0);
	assert_int_equal(leasedb_expire(db, T0 + 9), 0);
	ev = leasedb_event_count(db);
	assert_int_equal(leasedb_expire(db, T0 + 10), 1);
	assert_int_equal(leasedb_event_count(db), ev + 1);
	assert_int_equal(leasedb_get(db, b, &l), 0);
	assert_int_equal(l.state, LEASE_EXPIRED);
	assert_int_equal(l.ip, ipb);
	assert_int_equal(l.expires, 0);
	assert_int_equal(l.granted, T0 + 10);
	assert_int_equal(leasedb_expire(db, T0 + 250), 1);
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.state, LEASE_EXPIRED);
	assert_int_equal(leasedb_get(db, c, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);
	assert_int_equal(leasedb_expire(db, T0 + 250), 0);
	assert_int_equal(leasedb_expire(db, T0 + 5000), 1);
	assert_int_equal(leasedb_expire(db, T0 + 5000), 0);
	check_invariants(db);
	leasedb_close(db);
}

/* A full pool answers 1 and never hands out an address twice. */
static void
test_pool_exhaustion(void **state)
{
	struct leasedb *db;
	struct collect *c;
	char err[128];
	uint8_t mac[6];
	uint32_t ip, seen[8];
	unsigned i, j;

	(void)state;
	db = leasedb_open(
	    ":memory:", IP(10, 0, 0, 2), IP(10, 0, 0, 9), GW, err, sizeof(err));
	assert_non_null(db);
	for (i = 0; i < 8; i++) {
		mac_n(i, mac);
		assert_int_equal(
		    leasedb_offer(db, mac, 0, T0, HOLD, &seen[i]), 0);
		for (j = 0; j < i; j++)
			assert_int_not_equal(seen[i], seen[j]);
		if (i % 2 == 0)
			assert_int_equal(
			    leasedb_ack(db, mac, seen[i], NULL, T0, LEASE), 0);
	}
	mac_n(8, mac);
	ip = 0xdeadbeef;
	assert_int_equal(leasedb_offer(db, mac, 0, T0 + 1, HOLD, &ip), 1);
	assert_int_equal(ip, 0xdeadbeef); /* untouched */
	assert_int_equal(leasedb_offer(db, mac, seen[3], T0 + 1, HOLD, &ip), 1);
	for (i = 0; i < 8; i++)
		assert_int_equal(
		    leasedb_ack(db, mac, seen[i], NULL, T0 + 1, LEASE), 1);
	/* A full pool leaves no row for the newcomer. */
	{
		struct lease l;

		assert_int_equal(leasedb_get(db, mac, &l), 1);
	}
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(leasedb_foreach(db, collect_cb, c), 0);
	assert_int_equal(c->n, 8);
	free(c);
	/* The unacked holds end: the newcomer gets the lowest of them. */
	assert_int_equal(leasedb_offer(db, mac, 0, T0 + HOLD, HOLD, &ip), 0);
	assert_int_equal(ip, seen[1]);
	check_invariants(db);
	leasedb_close(db);
}

/* 300 VMs come and go on a /24 without ever exhausting it. */
static void
test_many_cycles(void **state)
{
	struct leasedb *db;
	struct collect *c;
	struct lease l;
	uint8_t mac[6];
	uint32_t ip;
	unsigned i, bound = 0;
	size_t k;

	(void)state;
	db = mem_open();
	/* Two VMs stay bound through it all. */
	assert_int_equal(dora(db, 100000, T0), IP(10, 0, 0, 2));
	assert_int_equal(dora(db, 100001, T0), IP(10, 0, 0, 3));
	for (i = 0; i < 300; i++) {
		mac_n(i, mac);
		assert_int_equal(leasedb_attach(db, mac, "vm", 501, T0 + i), 0);
		assert_int_equal(
		    leasedb_offer(db, mac, 0, T0 + i, HOLD, &ip), 0);
		assert_int_equal(ip, IP(10, 0, 0, 4));
		assert_int_equal(
		    leasedb_ack(db, mac, ip, "h", T0 + i, LEASE), 0);
		assert_int_equal(leasedb_detach(db, mac, T0 + i), 0);
	}
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(leasedb_foreach(db, collect_cb, c), 0);
	assert_int_equal(c->n, 302);
	for (k = 0; k < c->n; k++)
		if (c->rows[k].state == LEASE_BOUND)
			bound++;
	assert_int_equal(bound, 2);
	free(c);
	/* Only the last VM keeps .4 as its hint. */
	mac_n(299, mac);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(l.ip, IP(10, 0, 0, 4));
	mac_n(0, mac);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(l.ip, 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	check_invariants(db);
	assert_int_equal(leasedb_integrity_check(db), 0);
	leasedb_close(db);
}

/* An address another MAC only remembers as a hint may be taken. */
static void
test_hint_taken(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t a[6], b[6];
	uint32_t ip, hint;

	(void)state;
	db = mem_open();
	mac_n(1, a);
	mac_n(2, b);
	hint = dora(db, 1, T0);
	assert_int_equal(dora(db, 3, T0), hint + 1);
	assert_int_equal(leasedb_detach(db, a, T0 + 1), 0);
	assert_int_equal(leasedb_offer(db, b, hint, T0 + 2, HOLD, &ip), 0);
	assert_int_equal(ip, hint);
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.ip, 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	/* a returns: its hint is gone, it gets the next free address. */
	assert_int_equal(leasedb_offer(db, a, 0, T0 + 3, HOLD, &ip), 0);
	assert_int_equal(ip, hint + 2);
	/* Taking a hint by ACK works the same way. */
	assert_int_equal(leasedb_release(db, a, ip, T0 + 4), 0);
	assert_int_equal(leasedb_ack(db, b, ip, NULL, T0 + 5, LEASE), 0);
	assert_int_equal(leasedb_get(db, a, &l), 0);
	assert_int_equal(l.ip, 0);
	assert_int_equal(leasedb_get(db, b, &l), 0);
	assert_int_equal(l.ip, ip);
	check_invariants(db);
	leasedb_close(db);
}

/*
 * Fills a database with rows in every state; returns the event count, or -1
 * when a call fails. No cmocka asserts: a forked child runs it too.
 */
static int64_t
populate(struct leasedb *db)
{
	uint8_t mac[6];
	uint32_t ip;

#define P(call)                                                                \
	do {                                                                   \
		if ((call) != 0)                                               \
			return -1;                                             \
	} while (0)
	mac_n(1, mac);
	P(leasedb_attach(db, mac, "alpha", 501, T0));
	P(leasedb_offer(db, mac, 0, T0, HOLD, &ip));
	P(leasedb_ack(db, mac, ip, "alpha-host", T0, LEASE));
	mac_n(2, mac);
	P(leasedb_attach(db, mac, "beta", 502, T0));
	P(leasedb_offer(db, mac, 0, T0, HOLD, &ip));
	mac_n(3, mac);
	P(leasedb_attach(db, mac, "gamma", -1, T0));
	P(leasedb_offer(db, mac, 0, T0, HOLD, &ip));
	mac_n(4, mac);
	P(leasedb_attach(db, mac, "delta", 0, T0));
	mac_n(5, mac);
	P(leasedb_offer(db, mac, 0, T0, HOLD, &ip)); /* .5 */
	P(leasedb_decline(db, mac, ip, T0, 1000));
	mac_n(3, mac);
	P(leasedb_detach(db, mac, T0 + 1));
#undef P
	return leasedb_event_count(db);
}

/* Checks what populate() wrote, after a reopen. */
static void
check_populated(struct leasedb *db, int64_t events)
{
	struct collect *c;
	uint8_t mac[6];
	uint32_t ip;

	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(leasedb_foreach(db, collect_cb, c), 0);
	assert_int_equal(c->n, 5);
	/* No ip first (by mac: 4, 5), then .2 (1), .3 (2), .4 (3). */
	assert_int_equal(c->rows[0].mac[5], 4);
	assert_int_equal(c->rows[0].state, LEASE_NONE);
	assert_string_equal(c->rows[0].name, "delta");
	assert_int_equal(c->rows[0].owner, 0);
	assert_int_equal(c->rows[1].mac[5], 5);
	assert_int_equal(c->rows[1].state, LEASE_RELEASED);
	assert_int_equal(c->rows[2].mac[5], 1);
	assert_int_equal(c->rows[2].ip, IP(10, 0, 0, 2));
	assert_int_equal(c->rows[2].state, LEASE_BOUND);
	assert_string_equal(c->rows[2].name, "alpha");
	assert_string_equal(c->rows[2].hostname, "alpha-host");
	assert_int_equal(c->rows[2].owner, 501);
	assert_int_equal(c->rows[2].granted, T0);
	assert_int_equal(c->rows[2].expires, T0 + LEASE);
	assert_int_equal(c->rows[3].mac[5], 2);
	assert_int_equal(c->rows[3].ip, IP(10, 0, 0, 3));
	assert_int_equal(c->rows[3].state, LEASE_OFFERED);
	assert_int_equal(c->rows[3].expires, T0 + HOLD);
	assert_int_equal(c->rows[4].mac[5], 3);
	assert_int_equal(c->rows[4].ip, IP(10, 0, 0, 4));
	assert_int_equal(c->rows[4].state, LEASE_RELEASED);
	assert_string_equal(c->rows[4].name, "gamma");
	assert_int_equal(c->rows[4].owner, -1);
	free(c);
	assert_int_equal(leasedb_event_count(db), events);
	assert_int_equal(leasedb_integrity_check(db), 0);
	/* The quarantine on .5 survived; .4 is only mac 3's hint. */
	mac_n(9, mac);
	assert_int_equal(
	    leasedb_ack(db, mac, IP(10, 0, 0, 5), NULL, T0 + 2, LEASE), 1);
	assert_int_equal(
	    leasedb_offer(db, mac, IP(10, 0, 0, 5), T0 + 2, HOLD, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 4));
	check_invariants(db);
}

/* Closing and reopening keeps every row, the log and the quarantine. */
static void
test_reopen(void **state)
{
	struct tmpdb t;
	struct leasedb *db;
	int64_t ev;

	(void)state;
	tmp_make(&t);
	db = file_open(&t);
	ev = populate(db);
	assert_true(ev > 0);
	leasedb_close(db);
	db = file_open(&t);
	check_populated(db, ev);
	leasedb_close(db);
	/* A third open sees the row check_populated added. */
	db = file_open(&t);
	assert_int_equal(leasedb_integrity_check(db), 0);
	leasedb_close(db);
	tmp_remove(&t);
}

/* A process killed with the database open loses nothing it committed. */
static void
test_killed_process(void **state)
{
	struct tmpdb t;
	struct leasedb *db;
	pid_t pid;
	int status;
	int64_t ev = 0;
	FILE *f;
	char wal[160];

	(void)state;
	tmp_make(&t);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];

		db = leasedb_open(t.path, POOL0, POOL1, GW, err, sizeof(err));
		if (db == NULL)
			_exit(2);
		ev = populate(db);
		if (ev <= 0)
			_exit(5);
		/* Pass the count to the parent, then die holding the db. */
		snprintf(wal, sizeof(wal), "%s/count", t.dir);
		f = fopen(wal, "w");
		if (f == NULL)
			_exit(3);
		fprintf(f, "%lld\n", (long long)ev);
		fclose(f);
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	snprintf(wal, sizeof(wal), "%s/count", t.dir);
	f = fopen(wal, "r");
	assert_non_null(f);
	{
		long long n = 0;

		assert_int_equal(fscanf(f, "%lld", &n), 1);
		ev = n;
	}
	fclose(f);
	unlink(wal);
	/* The WAL the dead process left holds the commits. */
	snprintf(wal, sizeof(wal), "%s-wal", t.path);
	assert_int_equal(access(wal, F_OK), 0);
	db = file_open(&t);
	check_populated(db, ev);
	leasedb_close(db);
	tmp_remove(&t);
}

/* The event log never holds more than LEASEDB_MAX_EVENTS rows. */
static void
test_event_log_bounded(void **state)
{
	struct tmpdb t;
	struct leasedb *db;
	sqlite3 *h;
	sqlite3_stmt *s;
	uint8_t mac[6];
	int64_t i, n = LEASEDB_MAX_EVENTS + 250;

	(void)state;
	tmp_make(&t);
	db = file_open(&t);
	mac_n(1, mac);
	assert_int_equal(leasedb_event_count(db), 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(leasedb_attach(db, mac, "vm", 0, T0 + i), 0);
		if (i == 99)
			assert_int_equal(leasedb_event_count(db), 100);
	}
	assert_int_equal(leasedb_event_count(db), LEASEDB_MAX_EVENTS);
	leasedb_close(db);

	/* The oldest went: ids n - MAX + 1 .. n remain. */
	assert_int_equal(sqlite3_open(t.path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h,
	                     "SELECT min(id), max(id), min(time), "
	                     "count(DISTINCT kind) FROM events",
	                     -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(
	    sqlite3_column_int64(s, 0), n - LEASEDB_MAX_EVENTS + 1);
	assert_int_equal(sqlite3_column_int64(s, 1), n);
	assert_int_equal(
	    sqlite3_column_int64(s, 2), T0 + n - LEASEDB_MAX_EVENTS);
	assert_int_equal(sqlite3_column_int(s, 3), 1);
	sqlite3_finalize(s);
	sqlite3_close(h);

	/* A bulk expiry of many rows at once is trimmed as well. */
	db = file_open(&t);
	for (i = 0; i < 200; i++) {
		uint32_t ip;

		mac_n((unsigned)i + 10, mac);
		assert_int_equal(leasedb_offer(db, mac, 0, T0, 5, &ip), 0);
	}
	assert_int_equal(leasedb_event_count(db), LEASEDB_MAX_EVENTS);
	assert_int_equal(leasedb_expire(db, T0 + 5), 200);
	assert_int_equal(leasedb_event_count(db), LEASEDB_MAX_EVENTS);
	leasedb_close(db);
	tmp_remove(&t);
}

/* Every change writes the matching event. */
static void
test_events_written(void **state)
{
	struct tmpdb t;
	struct leasedb *db;
	sqlite3 *h;
	sqlite3_stmt *s;
	uint8_t mac[6];
	uint32_t ip;
	const char *want[] = {"attach", "offer", "ack", "release", "offer",
	    "decline", "offer", "expire", "detach"};
	size_t i = 0;

	(void)state;
	tmp_make(&t);
	db = file_open(&t);
	mac_n(0xabcdef, mac);
	assert_int_equal(leasedb_attach(db, mac, "vm", 1, T0), 0);
	assert_int_equal(leasedb_offer(db, mac, 0, T0, HOLD, &ip), 0);
	assert_int_equal(leasedb_ack(db, mac, ip, "h", T0, LEASE), 0);
	assert_int_equal(leasedb_release(db, mac, ip, T0), 0);
	assert_int_equal(leasedb_offer(db, mac, 0, T0, HOLD, &ip), 0);
	assert_int_equal(leasedb_decline(db, mac, ip, T0, 10), 0);
	assert_int_equal(leasedb_offer(db, mac, 0, T0, HOLD, &ip), 0);
	assert_int_equal(leasedb_expire(db, T0 + HOLD), 1);
	assert_int_equal(leasedb_detach(db, mac, T0 + HOLD), 0);
	/* Refusals write nothing. */
	assert_int_equal(leasedb_release(db, mac, ip + 1, T0 + HOLD), 1);
	leasedb_close(db);

	assert_int_equal(sqlite3_open(t.path, &h), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(
	        h, "SELECT kind, mac FROM events ORDER BY id", -1, &s, NULL),
	    SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		assert_true(i < sizeof(want) / sizeof(want[0]));
		assert_string_equal(sqlite3_column_text(s, 0), want[i]);
		assert_string_equal(
		    sqlite3_column_text(s, 1), "02:00:00:ab:cd:ef");
		i++;
	}
	assert_int_equal(i, sizeof(want) / sizeof(want[0]));
	sqlite3_finalize(s);
	sqlite3_close(h);
	tmp_remove(&t);
}

/* integrity_check answers 0 on a healthy file and -1 on a damaged one. */
static void
test_integrity_check(void **state)
{
	struct tmpdb t;
	struct leasedb *db;
	uint8_t mac[6];
	unsigned i;
	FILE *f;
	char junk[4096];
	long size;

	(void)state;
	db = mem_open();
	assert_int_equal(leasedb_integrity_check(db), 0);
	assert_true(populate(db) > 0);
	assert_int_equal(leasedb_integrity_check(db), 0);
	leasedb_close(db);

	/* Damage an index page of a many-page file behind sqlite's back. */
	tmp_make(&t);
	db = file_open(&t);
	for (i = 0; i < 2000; i++) {
		mac_n(i, mac);
		assert_int_equal(
		    leasedb_attach(db, mac, "some vm name", i, T0), 0);
	}
	assert_int_equal(leasedb_integrity_check(db), 0);
	leasedb_close(db); /* checkpoints the WAL into the file */
	f = fopen(t.path, "r+");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 8 * 4096);
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(fseek(f, size - 3 * 4096, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);
	{
		char err[256];

		/* Open reads only the schema page, which is intact. */
		db = leasedb_open(t.path, POOL0, POOL1, GW, err, sizeof(err));
		if (db == NULL)
			fail_msg("open: %s", err);
		assert_int_equal(leasedb_integrity_check(db), -1);
		leasedb_close(db);
	}
	tmp_remove(&t);
}

/* A file written by a newer softnetd, or not a database, is refused. */
static void
test_future_version(void **state)
{
	struct tmpdb t;
	struct leasedb *db;
	sqlite3 *h;
	char err[256];
	FILE *f;

	(void)state;
	tmp_make(&t);
	db = file_open(&t);
	leasedb_close(db);
	assert_int_equal(sqlite3_open(t.path, &h), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(h, "PRAGMA user_version = 7", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	err[0] = '\0';
	db = leasedb_open(t.path, POOL0, POOL1, GW, err, sizeof(err));
	assert_null(db);
	assert_non_null(strstr(err, "schema version 7 is newer"));
	/* A tiny error buffer is still NUL-terminated; NULL is fine too. */
	db = leasedb_open(t.path, POOL0, POOL1, GW, err, 8);
	assert_null(db);
	assert_int_equal(strlen(err), 7);
	assert_null(leasedb_open(t.path, POOL0, POOL1, GW, NULL, 0));
	tmp_remove(&t);

	/* Not a database at all. */
	tmp_make(&t);
	f = fopen(t.path, "w");
	assert_non_null(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not an sqlite database file\n", f);
	fclose(f);
	db = leasedb_open(t.path, POOL0, POOL1, GW, err, sizeof(err));
	assert_null(db);
	assert_non_null(strstr(err, "not a database"));
	tmp_remove(&t);

	/* A directory that does not exist. */
	db = leasedb_open(
	    "/nonexistent-dir/x/leases.db", POOL0, POOL1, GW, err, sizeof(err));
	assert_null(db);
	assert_true(strlen(err) > 0);
}

/* Bad pools and NULL arguments fail cleanly. */
static void
test_bad_args(void **state)
{
	struct leasedb *db;
	struct lease l;
	char err[128];
	uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
	uint32_t ip;

	(void)state;
	assert_null(leasedb_open(":memory:", IP(10, 0, 0, 9), IP(10, 0, 0, 2),
	    GW, err, sizeof(err)));
	assert_non_null(strstr(err, "pool"));
	assert_null(
	    leasedb_open(":memory:", 0, IP(10, 0, 0, 2), GW, err, sizeof(err)));
	assert_null(leasedb_open(NULL, POOL0, POOL1, GW, err, sizeof(err)));
	leasedb_close(NULL);
	assert_int_equal(leasedb_attach(NULL, mac, "x", 0, T0), -1);
	assert_int_equal(leasedb_detach(NULL, mac, T0), -1);
	assert_int_equal(leasedb_offer(NULL, mac, 0, T0, HOLD, &ip), -1);
	assert_int_equal(leasedb_ack(NULL, mac, POOL0, NULL, T0, LEASE), -1);
	assert_int_equal(leasedb_release(NULL, mac, POOL0, T0), -1);
	assert_int_equal(leasedb_decline(NULL, mac, POOL0, T0, 1), -1);
	assert_int_equal(leasedb_expire(NULL, T0), -1);
	assert_int_equal(leasedb_get(NULL, mac, &l), -1);
	assert_int_equal(leasedb_foreach(NULL, collect_cb, NULL), -1);
	assert_int_equal(leasedb_event_count(NULL), -1);
	assert_int_equal(leasedb_integrity_check(NULL), -1);

	db = mem_open();
	assert_int_equal(leasedb_offer(db, mac, 0, T0, HOLD, NULL), -1);
	assert_int_equal(leasedb_offer(db, NULL, 0, T0, HOLD, &ip), -1);
	assert_int_equal(leasedb_get(db, mac, NULL), -1);
	assert_int_equal(leasedb_foreach(db, NULL, NULL), -1);
	/* Extreme times saturate instead of overflowing. */
	assert_int_equal(
	    leasedb_offer(db, mac, 0, INT64_MAX - 5, INT64_MAX, &ip), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(l.expires, INT64_MAX);
	assert_int_equal(
	    leasedb_ack(db, mac, ip, NULL, INT64_MIN + 1, INT64_MIN), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(l.expires, INT64_MIN);
	assert_int_equal(leasedb_decline(db, mac, ip, 10, INT64_MAX), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(l.state, LEASE_RELEASED);
	assert_int_equal(leasedb_integrity_check(db), 0);
	leasedb_close(db);
}

struct order {
	struct leasedb *db;
	int calls;
	int stop_after;
};

/* foreach callback: checks order, re-enters the db, may stop early. */
static int
order_cb(const struct lease *l, void *arg)
{
	struct order *o = arg;
	struct lease again;

	o->calls++;
	/* Calling back into leasedb from the callback is allowed. */
	assert_int_equal(leasedb_get(o->db, l->mac, &again), 0);
	assert_memory_equal(again.mac, l->mac, 6);
	return o->stop_after != 0 && o->calls >= o->stop_after;
}

/* foreach orders by ip (none first) then mac, and stops when asked. */
static void
test_foreach_order(void **state)
{
	struct leasedb *db;
	struct collect *c;
	struct order o;
	uint8_t mac[6];
	uint32_t ip;
	size_t i;

	(void)state;
	db = mem_open();
	/* MACs in one order, addresses in the reverse one. */
	mac_n(9, mac);
	assert_int_equal(
	    leasedb_offer(db, mac, IP(10, 0, 0, 10), T0, HOLD, &ip), 0);
	mac_n(8, mac);
	assert_int_equal(
	    leasedb_offer(db, mac, IP(10, 0, 0, 20), T0, HOLD, &ip), 0);
	mac_n(7, mac);
	assert_int_equal(
	    leasedb_offer(db, mac, IP(10, 0, 0, 30), T0, HOLD, &ip), 0);
	mac_n(6, mac);
	assert_int_equal(leasedb_attach(db, mac, "a", 0, T0), 0);
	mac_n(5, mac);
	assert_int_equal(leasedb_attach(db, mac, "b", 0, T0), 0);
	mac_n(0x0100, mac);
	assert_int_equal(leasedb_attach(db, mac, "c", 0, T0), 0);

	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(leasedb_foreach(db, collect_cb, c), 0);
	assert_int_equal(c->n, 6);
	assert_int_equal(c->rows[0].mac[5], 5);
	assert_int_equal(c->rows[1].mac[5], 6);
	assert_int_equal(c->rows[2].mac[4], 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(c->rows[i].ip, 0);
	assert_int_equal(c->rows[3].ip, IP(10, 0, 0, 10));
	assert_int_equal(c->rows[3].mac[5], 9);
	assert_int_equal(c->rows[4].ip, IP(10, 0, 0, 20));
	assert_int_equal(c->rows[5].ip, IP(10, 0, 0, 30));
	assert_int_equal(c->rows[5].mac[5], 7);
	free(c);

	o.db = db;
	o.calls = 0;
	o.stop_after = 2;
	assert_int_equal(leasedb_foreach(db, order_cb, &o), 0);
	assert_int_equal(o.calls, 2);
	o.calls = 0;
	o.stop_after = 0;
	assert_int_equal(leasedb_foreach(db, order_cb, &o), 0);
	assert_int_equal(o.calls, 6);
	leasedb_close(db);

	/* An empty database calls nothing. */
	db = mem_open();
	o.db = db;
	o.calls = 0;
	assert_int_equal(leasedb_foreach(db, order_cb, &o), 0);
	assert_int_equal(o.calls, 0);
	leasedb_close(db);
}

/* Long names are cut to LEASEDB_NAMELEN - 1 bytes, whole UTF-8 chars. */
static void
test_long_names(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t mac[6];
	char longname[300], utf[LEASEDB_NAMELEN + 8];
	uint32_t ip;

	(void)state;
	db = mem_open();
	mac_n(1, mac);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(leasedb_attach(db, mac, longname, 0, T0), 0);
	assert_int_equal(leasedb_offer(db, mac, 0, T0, HOLD, &ip), 0);
	longname[0] = 'h';
	assert_int_equal(leasedb_ack(db, mac, ip, longname, T0, LEASE), 0);
	memset(&l, 0x7f, sizeof(l));
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(strlen(l.name), LEASEDB_NAMELEN - 1);
	assert_int_equal(strlen(l.hostname), LEASEDB_NAMELEN - 1);
	assert_int_equal(l.hostname[0], 'h');
	assert_int_equal(l.name[0], 'n');

	/* Exactly LEASEDB_NAMELEN - 1 bytes: kept whole. */
	longname[LEASEDB_NAMELEN - 1] = '\0';
	assert_int_equal(leasedb_attach(db, mac, longname + 1, 0, T0), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_string_equal(l.name, longname + 1);

	/* A 2-byte char straddling the cut is dropped, not split. */
	memset(utf, 'u', sizeof(utf));
	memcpy(utf + LEASEDB_NAMELEN - 2, "\xc3\xa9", 2); /* e acute */
	utf[sizeof(utf) - 1] = '\0';
	assert_int_equal(leasedb_attach(db, mac, utf, 0, T0), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(strlen(l.name), LEASEDB_NAMELEN - 2);
	/* Ending exactly at the cut is kept. */
	memset(utf, 'u', sizeof(utf));
	memcpy(utf + LEASEDB_NAMELEN - 3, "\xc3\xa9", 2);
	utf[sizeof(utf) - 1] = '\0';
	assert_int_equal(leasedb_attach(db, mac, utf, 0, T0), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(strlen(l.name), LEASEDB_NAMELEN - 1);
	/* A 4-byte char cut after its second byte. */
	memset(utf, 'u', sizeof(utf));
	memcpy(utf + LEASEDB_NAMELEN - 3, "\xf0\x9f\x98\x80", 4);
	utf[sizeof(utf) - 1] = '\0';
	assert_int_equal(leasedb_attach(db, mac, utf, 0, T0), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(strlen(l.name), LEASEDB_NAMELEN - 3);

	/* NULL name stores ""; NULL hostname keeps the stored one. */
	assert_int_equal(leasedb_attach(db, mac, NULL, 7, T0), 0);
	assert_int_equal(leasedb_ack(db, mac, ip, NULL, T0 + 1, LEASE), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_string_equal(l.name, "");
	assert_int_equal(l.owner, 7);
	assert_int_equal(strlen(l.hostname), LEASEDB_NAMELEN - 1);
	assert_int_equal(leasedb_ack(db, mac, ip, "", T0 + 2, LEASE), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_string_equal(l.hostname, "");
	leasedb_close(db);
}

/* A hand-edited over-long name still reads back NUL-terminated. */
static void
test_long_name_in_file(void **state)
{
	struct tmpdb t;
	struct leasedb *db;
	struct lease l;
	sqlite3 *h;
	uint8_t mac[6];

	(void)state;
	tmp_make(&t);
	db = file_open(&t);
	mac_n(1, mac);
	assert_int_equal(leasedb_attach(db, mac, "short", 0, T0), 0);
	leasedb_close(db);
	assert_int_equal(sqlite3_open(t.path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
	                     "UPDATE leases SET name = printf('%.500c', 'x'), "
	                     "hostname = 'ab' || char(0) || 'cd'",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	db = file_open(&t);
	memset(&l, 0x7f, sizeof(l));
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(strlen(l.name), LEASEDB_NAMELEN - 1);
	assert_string_equal(l.hostname, "ab");
	leasedb_close(db);
	tmp_remove(&t);
}

/* Every state has a name; nonsense values too. */
static void
test_state_name(void **state)
{
	(void)state;
	assert_string_equal(leasedb_state_name(LEASE_NONE), "none");
	assert_string_equal(leasedb_state_name(LEASE_OFFERED), "offered");
	assert_string_equal(leasedb_state_name(LEASE_BOUND), "bound");
	assert_string_equal(leasedb_state_name(LEASE_RELEASED), "released");
	assert_string_equal(leasedb_state_name(LEASE_EXPIRED), "expired");
	assert_non_null(leasedb_state_name((enum lease_state)99));
	assert_non_null(leasedb_state_name((enum lease_state) - 1));
}

/* get on an unknown MAC answers 1; attach creates a bare row. */
static void
test_get_attach(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t mac[6];
	uint32_t ip;

	(void)state;
	db = mem_open();
	mac_n(1, mac);
	assert_int_equal(leasedb_get(db, mac, &l), 1);
	assert_int_equal(leasedb_attach(db, mac, "vm1", 501, T0), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_memory_equal(l.mac, mac, 6);
	assert_int_equal(l.state, LEASE_NONE);
	assert_int_equal(l.ip, 0);
	assert_string_equal(l.name, "vm1");
	assert_string_equal(l.hostname, "");
	assert_int_equal(l.owner, 501);
	assert_int_equal(l.granted, T0);
	assert_int_equal(l.expires, 0);
	/* Re-attach while bound: name and owner change, the lease stays. */
	assert_int_equal(leasedb_offer(db, mac, 0, T0, HOLD, &ip), 0);
	assert_int_equal(leasedb_ack(db, mac, ip, NULL, T0, LEASE), 0);
	assert_int_equal(leasedb_attach(db, mac, "vm1b", 502, T0 + 1), 0);
	assert_int_equal(leasedb_get(db, mac, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);
	assert_int_equal(l.ip, ip);
	assert_string_equal(l.name, "vm1b");
	assert_int_equal(l.owner, 502);
	leasedb_close(db);
}

/* Tenancy (issue 13 item 11): an owner holds at most quota addresses. */
static void
test_owner_quota(void **state)
{
	struct leasedb *db;
	uint8_t m[6];
	uint32_t ip, ip1 = 0;
	unsigned i;

	(void)state;
	db = mem_open();
	for (i = 1; i <= 3; i++) {
		mac_n(i, m);
		assert_int_equal(leasedb_attach(db, m, "", 1000, T0), 0);
		assert_int_equal(
		    leasedb_offer_quota(db, m, 0, T0, HOLD, 2, &ip),
		    i <= 2 ? 0 : 2);
		if (i == 1)
			ip1 = ip;
	}
	/* The refused MAC got no address and no trace of one. */
	mac_n(3, m);
	{
		struct lease l;

		assert_int_equal(leasedb_get(db, m, &l), 0);
		assert_int_equal(l.ip, 0);
	}
	/* INIT-REBOOT straight to REQUEST is refused the same way. */
	assert_int_equal(
	    leasedb_ack_quota(db, m, IP(10, 0, 0, 100), NULL, T0, LEASE, 2), 2);
	/* A holder renews and re-DISCOVERs whatever the quota. */
	mac_n(1, m);
	assert_int_equal(leasedb_ack_quota(db, m, ip1, NULL, T0, LEASE, 1), 0);
	assert_int_equal(
	    leasedb_offer_quota(db, m, 0, T0 + 1, HOLD, 1, &ip), 0);
	assert_int_equal(ip, ip1);
	/* Another owner is not affected; no quota (0) means none. */
	mac_n(4, m);
	assert_int_equal(leasedb_attach(db, m, "", 1001, T0), 0);
	assert_int_equal(leasedb_offer_quota(db, m, 0, T0, HOLD, 2, &ip), 0);
	mac_n(3, m);
	assert_int_equal(leasedb_offer_quota(db, m, 0, T0, HOLD, 0, &ip), 0);
	/* Once the owner's leases end, the quota frees up. */
	mac_n(5, m);
	assert_int_equal(leasedb_attach(db, m, "", 1000, T0), 0);
	assert_int_equal(
	    leasedb_offer_quota(db, m, 0, T0 + LEASE + HOLD, HOLD, 2, &ip), 0);
	leasedb_close(db);
}

/* Item 11: one MAC keeps at most max_declined addresses in quarantine. */
static void
test_decline_bounded(void **state)
{
	struct leasedb *db;
	uint8_t m[6], o[6];
	uint32_t ip, q[3];
	int i;

	(void)state;
	db = mem_open();
	mac_n(1, m);
	for (i = 0; i < 3; i++) {
		assert_int_equal(leasedb_offer(db, m, 0, T0, HOLD, &ip), 0);
		assert_int_equal(leasedb_ack(db, m, ip, NULL, T0, LEASE), 0);
		q[i] = ip;
		assert_int_equal(leasedb_decline_bounded(db, m, ip, T0, 600, 2),
		    i < 2 ? 0 : 2);
	}
	/* The first two rest; the third is free for anyone at once. */
	mac_n(2, o);
	assert_int_equal(leasedb_offer(db, o, q[2], T0, HOLD, &ip), 0);
	assert_int_equal(ip, q[2]);
	assert_int_equal(leasedb_ack(db, o, q[0], NULL, T0, LEASE), 1);
	/* Not held: nothing changes. */
	assert_int_equal(leasedb_decline_bounded(db, m, q[1], T0, 600, 2), 1);
	/* Quarantine ends: the share is free again. */
	assert_int_equal(leasedb_expire(db, T0 + 601) >= 0, 1);
	assert_int_equal(leasedb_offer(db, m, 0, T0 + 601, HOLD, &ip), 0);
	assert_int_equal(leasedb_ack(db, m, ip, NULL, T0 + 601, LEASE), 0);
	assert_int_equal(
	    leasedb_decline_bounded(db, m, ip, T0 + 601, 600, 2), 0);
	leasedb_close(db);
}

/* Issue 14 item 3/4: the client id and FQDN domain are recorded. */
static void
test_client_identity(void **state)
{
	static const uint8_t id[7] = {1, 2, 0xab, 0, 0, 0, 0xff};
	struct leasedb *db;
	struct lease l;
	uint8_t m[6], big[200];
	uint32_t ip;

	(void)state;
	db = mem_open();
	mac_n(1, m);
	assert_int_equal(leasedb_offer(db, m, 0, T0, HOLD, &ip), 0);
	assert_int_equal(leasedb_ack(db, m, ip, "vm1", T0, LEASE), 0);
	assert_int_equal(leasedb_get(db, m, &l), 0);
	assert_string_equal(l.client_id, "");
	assert_string_equal(l.domain, "");
	assert_int_equal(leasedb_set_client(db, m, id, sizeof(id), "lab.x"), 0);
	assert_int_equal(leasedb_get(db, m, &l), 0);
	assert_string_equal(l.client_id, "01:02:ab:00:00:00:ff");
	assert_string_equal(l.domain, "lab.x");
	assert_string_equal(l.hostname, "vm1");
	/* Unchanged: no write, same values. */
	assert_int_equal(leasedb_set_client(db, m, id, sizeof(id), "lab.x"), 0);
	/* Cleared. */
	assert_int_equal(leasedb_set_client(db, m, NULL, 0, NULL), 0);
	assert_int_equal(leasedb_get(db, m, &l), 0);
	assert_string_equal(l.client_id, "");
	assert_string_equal(l.domain, "");
	/* A long id is cut to what the row keeps, never overrun. */
	memset(big, 0xee, sizeof(big));
	assert_int_equal(leasedb_set_client(db, m, big, sizeof(big), ""), 0);
	assert_int_equal(leasedb_get(db, m, &l), 0);
	assert_int_equal(strlen(l.client_id), LEASEDB_CLIENTID_LEN - 2);
	leasedb_close(db);
}

/* Issue 14 item 6: quarantined addresses are listed, per owner too. */
static void
test_quarantine_list(void **state)
{
	struct leasedb_quarantine q[4];
	struct leasedb *db;
	uint8_t m[6], o[6];
	uint32_t ip, a, b;

	(void)state;
	db = mem_open();
	mac_n(1, m);
	mac_n(2, o);
	assert_int_equal(leasedb_attach(db, m, "a", 1000, T0), 0);
	assert_int_equal(leasedb_attach(db, o, "b", 1001, T0), 0);
	assert_int_equal(leasedb_offer(db, m, 0, T0, HOLD, &a), 0);
	assert_int_equal(leasedb_ack(db, m, a, NULL, T0, LEASE), 0);
	assert_int_equal(leasedb_offer(db, o, 0, T0, HOLD, &b), 0);
	assert_int_equal(leasedb_ack(db, o, b, NULL, T0, LEASE), 0);
	assert_int_equal(leasedb_quarantine_list(db, T0, true, 0, q, 4), 0);
	assert_int_equal(leasedb_decline(db, m, a, T0, 600), 0);
	assert_int_equal(leasedb_decline(db, o, b, T0 + 10, 600), 0);
	assert_int_equal(
	    leasedb_quarantine_list(db, T0 + 10, true, 0, q, 4), 2);
	assert_int_equal(q[0].ip, a);
	assert_int_equal(q[0].until, T0 + 600);
	assert_memory_equal(q[0].mac, m, 6);
	assert_int_equal(q[1].ip, b);
	assert_int_equal(q[1].until, T0 + 610);
	/* One owner sees its own; max bounds the read. */
	assert_int_equal(
	    leasedb_quarantine_list(db, T0 + 10, false, 1001, q, 4), 1);
	assert_int_equal(q[0].ip, b);
	assert_int_equal(
	    leasedb_quarantine_list(db, T0 + 10, false, 7, q, 4), 0);
	assert_int_equal(
	    leasedb_quarantine_list(db, T0 + 10, true, 0, q, 1), 1);
	/* An ended quarantine is not listed. */
	assert_int_equal(
	    leasedb_quarantine_list(db, T0 + 600, true, 0, q, 4), 1);
	assert_int_equal(q[0].ip, b);
	(void)ip;
	leasedb_close(db);
}

/* A schema 2 file (before issue 14) migrates and keeps its leases. */
static void
test_migrate_2_to_3(void **state)
{
	static const uint8_t id[3] = {1, 2, 3};
	struct tmpdb t;
	struct leasedb *db;
	struct lease l;
	sqlite3 *h;
	uint8_t m[6];
	uint32_t ip;

	(void)state;
	tmp_make(&t);
	db = file_open(&t);
	mac_n(1, m);
	assert_int_equal(leasedb_offer(db, m, 0, T0, HOLD, &ip), 0);
	assert_int_equal(leasedb_ack(db, m, ip, "vm1", T0, LEASE), 0);
	leasedb_close(db);
	/* Back to what schema 2 had. */
	assert_int_equal(sqlite3_open(t.path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
	                     "ALTER TABLE leases DROP COLUMN client_id;"
	                     "ALTER TABLE leases DROP COLUMN domain;"
	                     "PRAGMA user_version = 2",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	db = file_open(&t);
	assert_int_equal(leasedb_get(db, m, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);
	assert_int_equal(l.ip, ip);
	assert_string_equal(l.hostname, "vm1");
	assert_string_equal(l.client_id, "");
	assert_int_equal(leasedb_set_client(db, m, id, sizeof(id), "d"), 0);
	assert_int_equal(leasedb_get(db, m, &l), 0);
	assert_string_equal(l.client_id, "01:02:03");
	leasedb_close(db);
	tmp_remove(&t);
}

/* Item 12: a repeated DISCOVER for a held address writes nothing. */
static void
test_offer_unchanged_no_write(void **state)
{
	struct leasedb *db;
	uint8_t m[6];
	uint32_t ip, ip2;
	int64_t ev;
	int i;

	(void)state;
	db = mem_open();
	mac_n(1, m);
	assert_int_equal(leasedb_offer(db, m, 0, T0, HOLD, &ip), 0);
	ev = leasedb_event_count(db);
	for (i = 0; i < 100; i++) {
		assert_int_equal(
		    leasedb_offer(db, m, 0, T0 + 1, HOLD, &ip2), 0);
		assert_int_equal(ip2, ip);
	}
	/* No event, so no transaction: the fast path answered. */
	assert_int_equal(leasedb_event_count(db), ev);
	/* Past half the hold the offer is stretched (one write). */
	assert_int_equal(
	    leasedb_offer(db, m, 0, T0 + HOLD / 2 + 1, HOLD, &ip2), 0);
	assert_int_equal(ip2, ip);
	assert_int_equal(leasedb_event_count(db), ev + 1);
	/* Bound for long: DISCOVERs cost nothing. */
	assert_int_equal(leasedb_ack(db, m, ip, NULL, T0 + 40, LEASE), 0);
	ev = leasedb_event_count(db);
	assert_int_equal(leasedb_offer(db, m, 0, T0 + 41, HOLD, &ip2), 0);
	assert_int_equal(leasedb_event_count(db), ev);
	leasedb_close(db);
}

/* keep callback: keeps MAC n == 2. */
static int
keep_two(const uint8_t mac[6], void *arg)
{
	(void)arg;
	return mac[5] == 2;
}

/* Item 13: idle rows older than the retention go, in bounded batches. */
static void
test_purge(void **state)
{
	struct leasedb *db;
	struct lease l;
	uint8_t m[6];
	uint32_t ip;
	unsigned i;

	(void)state;
	db = mem_open();
	for (i = 1; i <= 6; i++) {
		mac_n(i, m);
		assert_int_equal(leasedb_attach(db, m, "", 1000, T0), 0);
		assert_int_equal(leasedb_offer(db, m, 0, T0, HOLD, &ip), 0);
		assert_int_equal(leasedb_ack(db, m, ip, NULL, T0, LEASE), 0);
		if (i != 6)
			assert_int_equal(leasedb_detach(db, m, T0 + 10), 0);
	}
	/* Nothing is older than T0 + 9. */
	assert_int_equal(leasedb_purge(db, T0 + 9, 100, NULL, NULL), 0);
	/* Batches of 2; MAC 2 kept (attached); MAC 6 still bound. */
	assert_int_equal(leasedb_purge(db, T0 + 10, 2, keep_two, NULL), 2);
	assert_int_equal(leasedb_purge(db, T0 + 10, 2, keep_two, NULL), 2);
	assert_int_equal(leasedb_purge(db, T0 + 10, 2, keep_two, NULL), 0);
	for (i = 1; i <= 6; i++) {
		mac_n(i, m);
		assert_int_equal(
		    leasedb_get(db, m, &l), i == 2 || i == 6 ? 0 : 1);
	}
	leasedb_close(db);
}

/* Item 13: pages by MAC, per owner, cover every row exactly once. */
static void
test_page(void **state)
{
	struct leasedb *db;
	struct lease rows[7];
	uint8_t m[6], after[6];
	unsigned i, seen = 0, mine = 0;
	int n;

	(void)state;
	db = mem_open();
	for (i = 1; i <= 20; i++) {
		mac_n(21 - i, m); /* inserted out of MAC order */
		assert_int_equal(
		    leasedb_attach(db, m, "", i % 2 ? 1000 : 1001, T0), 0);
	}
	n = leasedb_page(db, NULL, true, 0, rows, 7);
	while (n > 0) {
		for (i = 0; i < (unsigned)n; i++) {
			assert_int_equal(rows[i].mac[5], seen + i + 1);
		}
		seen += (unsigned)n;
		if (n < 7)
			break;
		memcpy(after, rows[n - 1].mac, 6);
		n = leasedb_page(db, after, true, 0, rows, 7);
	}
	assert_int_equal(seen, 20);
	n = leasedb_page(db, NULL, false, 1001, rows, 7);
	while (n > 0) {
		for (i = 0; i < (unsigned)n; i++)
			assert_int_equal(rows[i].owner, 1001);
		mine += (unsigned)n;
		if (n < 7)
			break;
		memcpy(after, rows[n - 1].mac, 6);
		n = leasedb_page(db, after, false, 1001, rows, 7);
	}
	assert_int_equal(n >= 0, 1);
	assert_int_equal(mine, 10);
	leasedb_close(db);
}

/*
 * Item 13: pages and purge sweeps stay bounded at 100k rows. How fast is
 * make bench's to say (tenancy row); here only what they return.
 */
static void
test_page_fast_at_100k(void **state)
{
	struct leasedb *db;
	struct lease *rows;
	struct timespec a, b;
	uint8_t m[6];
	double ms;
	unsigned i;
	int n;

	(void)state;
	db = mem_open();
	rows = calloc(500, sizeof(*rows));
	assert_non_null(rows);
	for (i = 0; i < 100000; i++) {
		mac_n(i, m);
		assert_int_equal(leasedb_attach(db, m, "", i % 100, T0), 0);
	}
	mac_n(50000, m);
	clock_gettime(CLOCK_MONOTONIC, &a);
	n = leasedb_page(db, m, true, 0, rows, 500);
	assert_int_equal(n, 500);
	n = leasedb_page(db, m, false, 7, rows, 500);
	assert_int_equal(n, 500);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	     (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	print_message("two pages of 500 at 100k rows: %.2f ms\n", ms);
	/* A purge sweep of 500 idle rows is bounded the same way. */
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(leasedb_purge(db, T0, 500, NULL, NULL), 500);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
	     (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	print_message("purge of 500 at 100k rows: %.2f ms\n", ms);
	free(rows);
	leasedb_close(db);
}

/*
 * leasedb_files names exactly the files an open database lives in: each
 * exists while it is open and written to, and its directory holds no
 * other (main.c guards and hands over these and no more). A path whose
 * companions would not fit is refused.
 */
static void
test_files(void **state)
{
	char files[LEASEDB_NFILES][PATH_MAX], *longpath;
	struct tmpdb t;
	struct leasedb *db;
	struct dirent *de;
	struct stat st;
	uint8_t mac[6];
	DIR *d;
	size_t i, n = 0;

	(void)state;
	tmp_make(&t);
	db = file_open(&t);
	mac_n(1, mac);
	assert_int_equal(leasedb_attach(db, mac, "vm1", 0, T0), 0);
	assert_int_equal(leasedb_files(t.path, files), 0);
	assert_string_equal(files[0], t.path);
	for (i = 0; i < LEASEDB_NFILES; i++)
		assert_int_equal(stat(files[i], &st), 0);
	assert_non_null(d = opendir(t.dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	assert_int_equal(n, LEASEDB_NFILES);
	leasedb_close(db);
	tmp_remove(&t);

	longpath = malloc(PATH_MAX);
	assert_non_null(longpath);
	memset(longpath, 'a', PATH_MAX - 4);
	longpath[0] = '/';
	longpath[PATH_MAX - 4] = '\0'; /* fits; its "-wal" does not */
	assert_int_equal(leasedb_files(longpath, files), -1);
	free(longpath);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lowest_free),
	    cmocka_unit_test(test_big_pool),
	    cmocka_unit_test(test_previous_address),
	    cmocka_unit_test(test_requested),
	    cmocka_unit_test(test_offer_current),
	    cmocka_unit_test(test_offer_hold_expiry),
	    cmocka_unit_test(test_ack_other_mac),
	    cmocka_unit_test(test_ack_outside_pool),
	    cmocka_unit_test(test_release_detach),
	    cmocka_unit_test(test_forget),
	    cmocka_unit_test(test_decline_quarantine),
	    cmocka_unit_test(test_expire),
	    cmocka_unit_test(test_pool_exhaustion),
	    cmocka_unit_test(test_many_cycles),
	    cmocka_unit_test(test_hint_taken),
	    cmocka_unit_test(test_reopen),
	    cmocka_unit_test(test_killed_process),
	    cmocka_unit_test(test_event_log_bounded),
	    cmocka_unit_test(test_events_written),
	    cmocka_unit_test(test_integrity_check),
	    cmocka_unit_test(test_future_version),
	    cmocka_unit_test(test_bad_args),
	    cmocka_unit_test(test_foreach_order),
	    cmocka_unit_test(test_long_names),
	    cmocka_unit_test(test_long_name_in_file),
	    cmocka_unit_test(test_state_name),
	    cmocka_unit_test(test_get_attach),
	    cmocka_unit_test(test_owner_quota),
	    cmocka_unit_test(test_decline_bounded),
	    cmocka_unit_test(test_offer_unchanged_no_write),
	    cmocka_unit_test(test_purge),
	    cmocka_unit_test(test_page),
	    cmocka_unit_test(test_page_fast_at_100k),
	    cmocka_unit_test(test_client_identity),
	    cmocka_unit_test(test_quarantine_list),
	    cmocka_unit_test(test_migrate_2_to_3),
	    cmocka_unit_test(test_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
