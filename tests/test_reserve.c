/*
 * Unit tests for daemon/reserve.c and for reservations in the lease
 * database (issue 14): lookups, the name rule, a reserved address going
 * only to its VM (inside and outside the pool, by MAC, by name, by pin),
 * never to another VM even with the pool otherwise full, a lease from
 * before the reservation giving way at its renewal, and persistence across
 * a reopen of the database file.
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

#include "leasedb.h"
#include "reserve.h"

#define IP(a, b, c, d)                                                         \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))
#define GW    IP(10, 0, 0, 1)
#define POOL0 IP(10, 0, 0, 2)
#define POOL1 IP(10, 0, 0, 5) /* four addresses: easy to fill */
#define T0    1700000000
#define HOLD  60
#define LEASE 3600

/* A MAC unique to n. */
static void
mac_n(unsigned n, uint8_t mac[6])
{
	static const uint8_t base[6] = {0x02, 0, 0, 0, 0, 0};

	memcpy(mac, base, 6);
	mac[5] = (uint8_t)n;
}

/* A MAC entry for MAC n. */
static struct reserve_entry
by_mac(unsigned n, uint32_t ip)
{
	struct reserve_entry e;

	memset(&e, 0, sizeof(e));
	e.by_mac = true;
	mac_n(n, e.mac);
	e.ip = ip;
	return e;
}

/* A name entry. */
static struct reserve_entry
by_name(const char *name, uint32_t ip)
{
	struct reserve_entry e;

	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.ip = ip;
	return e;
}

/* A fresh database over 10.0.0.2-5 at path (":memory:" or a file). */
static struct leasedb *
db_open(const char *path)
{
	char err[256];
	struct leasedb *db;

	db = leasedb_open(path, POOL0, POOL1, GW, err, sizeof(err));
	if (db == NULL)
		fail_msg("open: %s", err);
	return db;
}

/* Offers to MAC n (requesting req) and returns the address, 0 if none. */
static uint32_t
offer(struct leasedb *db, unsigned n, uint32_t req, int64_t now)
{
	uint8_t mac[6];
	uint32_t ip = 0;
	int r;

	mac_n(n, mac);
	r = leasedb_offer(db, mac, req, now, HOLD, &ip);
	assert_true(r == 0 || r == 1);
	return r == 0 ? ip : 0;
}

/* ACK of ip for MAC n: leasedb_ack's result. */
static int
ack(struct leasedb *db, unsigned n, uint32_t ip, int64_t now)
{
	uint8_t mac[6];

	mac_n(n, mac);
	return leasedb_ack(db, mac, ip, NULL, now, LEASE);
}

/* Lookups, precedence of MAC over name, and the name rule. */
static void
test_lookup(void **state)
{
	struct reserve_entry tab[3];
	char buf[RESERVE_DESCLEN];
	uint8_t m1[6], m9[6];

	(void)state;
	tab[0] = by_name("web", IP(10, 0, 0, 3));
	tab[1] = by_mac(1, IP(10, 0, 0, 4));
	tab[2] = by_name("db", IP(10, 0, 0, 9));
	mac_n(1, m1);
	mac_n(9, m9);
	assert_ptr_equal(reserve_by_ip(tab, 3, IP(10, 0, 0, 9)), &tab[2]);
	assert_null(reserve_by_ip(tab, 3, IP(10, 0, 0, 2)));
	assert_null(reserve_by_ip(tab, 3, 0));
	assert_null(reserve_by_ip(NULL, 0, IP(10, 0, 0, 9)));
	/* The MAC entry wins over the name entry for one VM. */
	assert_ptr_equal(reserve_for(tab, 3, m1, "web"), &tab[1]);
	assert_ptr_equal(reserve_for(tab, 3, m9, "web"), &tab[0]);
	assert_null(reserve_for(tab, 3, m9, ""));
	assert_null(reserve_for(tab, 3, m9, NULL));
	assert_null(reserve_for(tab, 3, m9, "webx"));
	assert_true(reserve_matches(&tab[1], m1, NULL));
	assert_false(reserve_matches(&tab[1], m9, "web"));
	reserve_describe(&tab[1], buf, sizeof(buf));
	assert_string_equal(buf, "MAC 02:00:00:00:00:01");
	reserve_describe(&tab[0], buf, sizeof(buf));
	assert_string_equal(buf, "name \"web\"");

	assert_true(addr_name_valid("builder-1"));
	assert_true(addr_name_valid("a.b_c"));
	assert_false(addr_name_valid(""));
	assert_false(addr_name_valid("1234"));
	assert_false(addr_name_valid("02:00:00:00:00:01"));
	assert_false(addr_name_valid("a b"));
	assert_false(addr_name_valid("01234567890123456789012345678901234567"
	                             "89012345678901234567890abc"));
	assert_false(addr_name_valid(NULL));
}

/*
 * A MAC reservation inside the pool: its VM gets it (even asking for
 * another), no other VM is offered it, asks for it or binds it, and with
 * the rest of the pool taken the next VM gets nothing rather than it.
 */
static void
test_inside_pool(void **state)
{
	struct leasedb *db = db_open(":memory:");
	struct reserve_entry r = by_mac(1, IP(10, 0, 0, 2));
	int64_t now = T0;

	(void)state;
	leasedb_set_reservations(db, &r, 1);
	/* The lowest free address is reserved: skipped. */
	assert_int_equal(offer(db, 2, 0, now), IP(10, 0, 0, 3));
	assert_int_equal(offer(db, 3, IP(10, 0, 0, 2), now), IP(10, 0, 0, 4));
	assert_int_equal(ack(db, 3, IP(10, 0, 0, 2), now), 1);
	assert_int_equal(offer(db, 4, 0, now), IP(10, 0, 0, 5));
	/* Pool otherwise full: MAC 5 gets nothing, not the reserved .2. */
	assert_int_equal(offer(db, 5, 0, now), 0);
	assert_int_equal(offer(db, 5, IP(10, 0, 0, 2), now), 0);
	/* The reserved VM asks for .5 (taken) and gets its own. */
	assert_int_equal(offer(db, 1, IP(10, 0, 0, 5), now), IP(10, 0, 0, 2));
	assert_int_equal(ack(db, 1, IP(10, 0, 0, 2), now), 0);
	/* Offers that lapse never free it for anyone else. */
	now += HOLD + 1;
	assert_int_equal(leasedb_expire(db, now) >= 0, 1);
	assert_int_equal(offer(db, 5, 0, now), IP(10, 0, 0, 3));
	leasedb_close(db);
}

/* Outside the pool: still the VM's by DHCP, and never dynamic. */
static void
test_outside_pool(void **state)
{
	struct leasedb *db = db_open(":memory:");
	struct reserve_entry r[2] = {
	    by_mac(1, IP(10, 0, 0, 100)), by_name("web", IP(10, 0, 0, 101))};
	uint8_t m2[6];
	struct lease l;

	(void)state;
	leasedb_set_reservations(db, r, 2);
	assert_int_equal(offer(db, 1, 0, T0), IP(10, 0, 0, 100));
	assert_int_equal(ack(db, 1, IP(10, 0, 0, 100), T0), 0);
	/* Another MAC may not bind an out-of-pool address, reserved or not. */
	assert_int_equal(ack(db, 3, IP(10, 0, 0, 100), T0), 1);
	assert_int_equal(ack(db, 3, IP(10, 0, 0, 102), T0), 1);
	/* By name: the row's name (from attach) picks the reservation. */
	mac_n(2, m2);
	assert_int_equal(leasedb_attach(db, m2, "web", 1000, T0), 0);
	assert_int_equal(offer(db, 2, 0, T0), IP(10, 0, 0, 101));
	assert_int_equal(ack(db, 2, IP(10, 0, 0, 101), T0), 0);
	assert_int_equal(leasedb_holder(db, IP(10, 0, 0, 101), T0, &l), 0);
	assert_memory_equal(l.mac, m2, 6);
	assert_int_equal(leasedb_holder(db, IP(10, 0, 0, 102), T0, &l), 1);
	assert_true(leasedb_may_hold(db, m2, "web", IP(10, 0, 0, 101)));
	assert_false(leasedb_may_hold(db, m2, "", IP(10, 0, 0, 101)));
	assert_false(leasedb_may_hold(db, m2, "x", IP(10, 0, 0, 2) - 1));
	assert_true(leasedb_may_hold(db, m2, "x", IP(10, 0, 0, 3)));
	assert_int_equal(leasedb_fixed_ip(db, m2, "web"), IP(10, 0, 0, 101));
	leasedb_close(db);
}

/*
 * A lease from before the reservation: the reserved VM is served from the
 * pool meanwhile; the old holder's renewal is refused and it moves; then
 * the reserved VM's own renewal is refused so that it comes to its address.
 */
static void
test_conflict_with_older_lease(void **state)
{
	struct leasedb *db = db_open(":memory:");
	struct reserve_entry r = by_mac(1, IP(10, 0, 0, 2));
	int64_t now = T0;
	uint32_t a1, a2;

	(void)state;
	assert_int_equal(offer(db, 2, 0, now), IP(10, 0, 0, 2));
	assert_int_equal(ack(db, 2, IP(10, 0, 0, 2), now), 0);
	leasedb_set_reservations(db, &r, 1);

	a1 = offer(db, 1, 0, now);
	assert_int_equal(a1, IP(10, 0, 0, 3));
	assert_int_equal(ack(db, 1, a1, now), 0);
	/* MAC 2 renews: refused, never extended. */
	now += LEASE / 2;
	assert_int_equal(ack(db, 2, IP(10, 0, 0, 2), now), 1);
	a2 = offer(db, 2, 0, now);
	assert_int_equal(a2, IP(10, 0, 0, 4));
	assert_int_equal(ack(db, 2, a2, now), 0);
	/* MAC 1 renews its pool address: refused, its own is free now. */
	assert_int_equal(ack(db, 1, a1, now), 1);
	assert_int_equal(offer(db, 1, 0, now), IP(10, 0, 0, 2));
	assert_int_equal(ack(db, 1, IP(10, 0, 0, 2), now), 0);
	leasedb_close(db);
}

/* attach --ip pins: held for the MAC while attached, gone at detach. */
static void
test_pin(void **state)
{
	struct leasedb *db = db_open(":memory:");
	const struct reserve_entry *pins;
	uint8_t m1[6];
	size_t n;

	(void)state;
	mac_n(1, m1);
	leasedb_pin(db, m1, IP(10, 0, 0, 4));
	leasedb_pin(db, m1, IP(10, 0, 0, 5)); /* replaces */
	pins = leasedb_pins(db, &n);
	assert_int_equal(n, 1);
	assert_int_equal(pins[0].ip, IP(10, 0, 0, 5));
	assert_int_equal(offer(db, 2, 0, T0), IP(10, 0, 0, 2));
	assert_int_equal(offer(db, 3, 0, T0), IP(10, 0, 0, 3));
	assert_int_equal(offer(db, 4, 0, T0), IP(10, 0, 0, 4));
	assert_int_equal(offer(db, 5, 0, T0), 0);
	assert_int_equal(offer(db, 1, 0, T0), IP(10, 0, 0, 5));
	assert_int_equal(leasedb_detach(db, m1, T0), 0);
	(void)leasedb_pins(db, &n);
	assert_int_equal(n, 0);
	assert_int_equal(offer(db, 5, 0, T0), IP(10, 0, 0, 5));
	leasedb_close(db);
}

/* A bound reserved lease and the reservation survive a reopen. */
static void
test_restart(void **state)
{
	char dir[64], path[128], p[160];
	struct reserve_entry r = by_mac(1, IP(10, 0, 0, 4));
	struct leasedb *db;
	struct lease l;
	uint8_t m1[6];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_reserve.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/leases.db", dir);
	mac_n(1, m1);
	db = db_open(path);
	leasedb_set_reservations(db, &r, 1);
	assert_int_equal(offer(db, 1, 0, T0), IP(10, 0, 0, 4));
	assert_int_equal(ack(db, 1, IP(10, 0, 0, 4), T0), 0);
	assert_int_equal(leasedb_detach(db, m1, T0 + 10), 0);
	leasedb_close(db);

	db = db_open(path);
	leasedb_set_reservations(db, &r, 1);
	/* Released, and still no one else's: the pool fills around it. */
	assert_int_equal(
	    offer(db, 2, IP(10, 0, 0, 4), T0 + 20), IP(10, 0, 0, 2));
	assert_int_equal(offer(db, 3, 0, T0 + 20), IP(10, 0, 0, 3));
	assert_int_equal(offer(db, 5, 0, T0 + 20), IP(10, 0, 0, 5));
	assert_int_equal(offer(db, 6, 0, T0 + 20), 0);
	assert_int_equal(offer(db, 1, 0, T0 + 20), IP(10, 0, 0, 4));
	assert_int_equal(leasedb_get(db, m1, &l), 0);
	assert_int_equal(l.ip, IP(10, 0, 0, 4));
	leasedb_close(db);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	unlink(path);
	rmdir(dir);
}

/* The owner quota does not stop a VM from taking its reserved address. */
static void
test_quota_exempt(void **state)
{
	struct leasedb *db = db_open(":memory:");
	struct reserve_entry r = by_mac(2, IP(10, 0, 0, 5));
	uint8_t m1[6], m2[6];
	uint32_t ip = 0;

	(void)state;
	mac_n(1, m1);
	mac_n(2, m2);
	leasedb_set_reservations(db, &r, 1);
	assert_int_equal(leasedb_attach(db, m1, "", 1000, T0), 0);
	assert_int_equal(leasedb_attach(db, m2, "", 1000, T0), 0);
	assert_int_equal(leasedb_offer_quota(db, m1, 0, T0, HOLD, 1, &ip), 0);
	assert_int_equal(leasedb_ack_quota(db, m1, ip, NULL, T0, LEASE, 1), 0);
	assert_int_equal(leasedb_offer_quota(db, m2, 0, T0, HOLD, 1, &ip), 0);
	assert_int_equal(ip, IP(10, 0, 0, 5));
	assert_int_equal(
	    leasedb_ack_quota(db, m2, IP(10, 0, 0, 5), NULL, T0, LEASE, 1), 0);
	leasedb_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_inside_pool),
	    cmocka_unit_test(test_outside_pool),
	    cmocka_unit_test(test_conflict_with_older_lease),
	    cmocka_unit_test(test_pin),
	    cmocka_unit_test(test_restart),
	    cmocka_unit_test(test_quota_exempt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
