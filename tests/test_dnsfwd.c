/*
 * Unit tests for dnsfwd.c's in-flight table and resolv.conf parser: the
 * per-VM, per-user and total caps, root's reserve, the SERVFAIL answer,
 * matching answers only by (id, upstream), expiry, and the nameserver lines
 * kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "dnsfwd.h"

#include "softnetd.h"

/* The daemon's clock, held still; the table takes deadlines as given. */
static int64_t
test_now(void)
{
	return 0;
}

#define VM1 0xc0a86902u
#define VM2 0xc0a86903u
#define UP1 0xc0000009u
#define UP2 0x01010101u
#define UID 1000

/* Adds a query of a VM of UID, not admin (the tests of the per-VM cap). */
static enum dnsfwd_add
add(struct dnsfwd_table *t, uint32_t ip, uint16_t port, uint16_t cid,
    uint32_t up, int64_t deadline, uint16_t *id)
{
	struct dnsfwd_asker who = {ip, port, UID, false};

	return dnsfwd_table_add(t, &who, cid, up, deadline, id);
}

/* Adds a query of owner's VM at ip. */
static enum dnsfwd_add
add_as(struct dnsfwd_table *t, uint32_t ip, int64_t owner, bool admin)
{
	struct dnsfwd_asker who = {ip, 5353, owner, admin};
	uint16_t id;

	return dnsfwd_table_add(t, &who, 1, UP1, 10, &id);
}

/*
 * A uid's VMs together stop at the per-user share, each VM at its own,
 * and another user's VM still gets slots: a flood by one user's VMs
 * cannot take the pool.
 */
static void
test_per_user_cap(void **state)
{
	struct dnsfwd_table t;
	int i;

	(void)state;
	dnsfwd_table_init(&t, 32, 4, 8, 0);
	/* VM1 floods: its own cap stops it at 4. */
	for (i = 0; i < 4; i++)
		assert_int_equal(add_as(&t, VM1, UID, false), DNSFWD_ADD_OK);
	assert_int_equal(add_as(&t, VM1, UID, false), DNSFWD_ADD_VM_FULL);
	/* More VMs of the same uid: the user's share stops them at 8. */
	for (i = 0; i < 4; i++)
		assert_int_equal(add_as(&t, VM2, UID, false), DNSFWD_ADD_OK);
	assert_int_equal(add_as(&t, VM2 + 1, UID, false), DNSFWD_ADD_USER_FULL);
	/* Another user's VM is untouched by both. */
	assert_int_equal(add_as(&t, VM2 + 2, UID + 1, false), DNSFWD_ADD_OK);
	/* An admin's VMs have no per-user share, only the per-VM one. */
	for (i = 0; i < 12; i++)
		assert_int_equal(
		    add_as(&t, VM2 + 3 + (uint32_t)(i / 4), 0, true),
		    DNSFWD_ADD_OK);
	assert_int_equal(t.used, 4 + 4 + 1 + 12);
	dnsfwd_table_free(&t);
}

/*
 * The last slots are root's: other users' VMs (each within its shares)
 * fill the table up to the reserve and are refused there; root's VM
 * still gets the reserved slots, and then the table is full.
 */
static void
test_admin_reserve(void **state)
{
	struct dnsfwd_table t;
	uint32_t vm;
	int i;

	(void)state;
	dnsfwd_table_init(&t, 16, 2, 4, 4);
	for (i = 0; i < 12; i++) {
		vm = VM1 + 10 + (uint32_t)(i / 2);
		assert_int_equal(
		    add_as(&t, vm, UID + i / 4, false), DNSFWD_ADD_OK);
	}
	assert_int_equal(
	    add_as(&t, VM1 + 40, UID + 10, false), DNSFWD_ADD_RESERVED);
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    add_as(&t, VM1 + 50 + (uint32_t)(i / 2), 0, true),
		    DNSFWD_ADD_OK);
	assert_int_equal(add_as(&t, VM1 + 60, 0, true), DNSFWD_ADD_FULL);
	assert_int_equal(t.used, 16);
	dnsfwd_table_free(&t);
}

/*
 * A refusal is a SERVFAIL to the query: same id and question, QR and
 * RA set, rcode 2, no records, never longer than the query (EDNS OPT
 * dropped); a query whose question does not parse gets the header only.
 */
static void
test_servfail(void **state)
{
	static const uint8_t q[] = {0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0,
	    1, 2, 'o', 'k', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1,
	    /* OPT */ 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
	uint8_t b[sizeof(q)];
	size_t n;

	(void)state;
	memcpy(b, q, sizeof(q));
	n = dnsfwd_servfail(b, sizeof(b));
	assert_int_equal(n, 12 + 9 + 4);
	assert_int_equal(b[0], 0x12);
	assert_int_equal(b[1], 0x34);
	assert_int_equal(b[2], 0x81); /* QR, opcode 0, RD */
	assert_int_equal(b[3], 0x82); /* RA, SERVFAIL */
	assert_int_equal(b[5], 1);
	assert_int_equal(b[7] | b[9] | b[11], 0);
	assert_memory_equal(b + 12, q + 12, 13);
	/* Cut inside the question: header only, question count 0. */
	memcpy(b, q, sizeof(q));
	assert_int_equal(dnsfwd_servfail(b, 18), 12);
	assert_int_equal(b[5], 0);
	assert_int_equal(b[3] & 0x0f, 2);
	/* A label running past the end is not read past it. */
	memcpy(b, q, sizeof(q));
	b[12] = 63;
	assert_int_equal(dnsfwd_servfail(b, sizeof(b)), 12);
}

/* A VM past its cap is refused while another still gets slots. */
static void
test_per_vm_cap(void **state)
{
	struct dnsfwd_table t;
	uint16_t id;
	int i;

	(void)state;
	dnsfwd_table_init(&t, 8, 3, 8, 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(
		    add(&t, VM1, 1000, 7, UP1, 10, &id), DNSFWD_ADD_OK);
	assert_int_equal(
	    add(&t, VM1, 1000, 7, UP1, 10, &id), DNSFWD_ADD_VM_FULL);
	assert_int_equal(add(&t, VM2, 1000, 7, UP1, 10, &id), DNSFWD_ADD_OK);
	assert_int_equal(dnsfwd_table_count(&t, VM1), 3);
	assert_int_equal(dnsfwd_table_count(&t, VM2), 1);
	dnsfwd_table_free(&t);
}

/* The total cap holds whoever asks; ids in flight are unique. */
static void
test_total_cap_unique_ids(void **state)
{
	struct dnsfwd_table t;
	uint16_t ids[4];
	int i, j;

	(void)state;
	dnsfwd_table_init(&t, 4, 4, 8, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    add(&t, VM1 + (uint32_t)i, 1, 1, UP1, 10, &ids[i]),
		    DNSFWD_ADD_OK);
	for (i = 0; i < 4; i++)
		for (j = i + 1; j < 4; j++)
			assert_int_not_equal(ids[i], ids[j]);
	assert_int_equal(
	    add(&t, VM2 + 10, 1, 1, UP1, 10, &ids[0]), DNSFWD_ADD_FULL);
	dnsfwd_table_free(&t);
}

/* An answer matches only its id from its upstream, and only once. */
static void
test_take_matches_id_and_upstream(void **state)
{
	struct dnsfwd_table t;
	struct dnsfwd_entry e;
	uint16_t id;

	(void)state;
	dnsfwd_table_init(&t, 8, 8, 8, 0);
	assert_int_equal(
	    add(&t, VM1, 4242, 0xabcd, UP1, 10, &id), DNSFWD_ADD_OK);
	assert_int_equal(dnsfwd_table_take(&t, id, UP2, &e), -1);
	assert_int_equal(
	    dnsfwd_table_take(&t, (uint16_t)(id + 1), UP1, &e), -1);
	assert_int_equal(dnsfwd_table_take(&t, id, UP1, &e), 0);
	assert_int_equal(e.client_ip, VM1);
	assert_int_equal(e.client_port, 4242);
	assert_int_equal(e.client_id, 0xabcd);
	assert_int_equal(dnsfwd_table_take(&t, id, UP1, &e), -1);
	assert_int_equal(t.used, 0);
	dnsfwd_table_free(&t);
}

/* Expired entries free their VM's slots; live ones stay. */
static void
test_expire(void **state)
{
	struct dnsfwd_table t;
	uint16_t id, live;

	(void)state;
	dnsfwd_table_init(&t, 8, 2, 8, 0);
	assert_int_equal(add(&t, VM1, 1, 1, UP1, 5, &id), DNSFWD_ADD_OK);
	assert_int_equal(add(&t, VM1, 1, 2, UP1, 20, &live), DNSFWD_ADD_OK);
	assert_int_equal(add(&t, VM1, 1, 3, UP1, 20, &id), DNSFWD_ADD_VM_FULL);
	assert_int_equal(dnsfwd_table_expire(&t, 10), 1);
	assert_int_equal(dnsfwd_table_count(&t, VM1), 1);
	assert_int_equal(add(&t, VM1, 1, 3, UP1, 20, &id), DNSFWD_ADD_OK);
	dnsfwd_table_free(&t);
}

/* Only IPv4 "nameserver" lines count, at most max of them. */
static void
test_parse_resolv(void **state)
{
	uint32_t ns[4];
	const char *text = "# comment\nsearch example.org\n"
	                   "nameserver 192.0.0.9\n"
	                   "nameserver ::1\n"
	                   "  nameserver\t1.1.1.1  \n"
	                   "nameserverx 8.8.8.8\nnameserver bogus\n"
	                   "nameserver 9.9.9.9";

	(void)state;
	assert_int_equal(dnsfwd_parse_resolv(text, ns, 4), 3);
	assert_int_equal(ns[0], UP1);
	assert_int_equal(ns[1], UP2);
	assert_int_equal(ns[2], 0x09090909u);
	assert_int_equal(dnsfwd_parse_resolv(text, ns, 1), 1);
	assert_int_equal(dnsfwd_parse_resolv("", ns, 4), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_per_vm_cap),
	    cmocka_unit_test(test_per_user_cap),
	    cmocka_unit_test(test_admin_reserve),
	    cmocka_unit_test(test_servfail),
	    cmocka_unit_test(test_total_cap_unique_ids),
	    cmocka_unit_test(test_take_matches_id_and_upstream),
	    cmocka_unit_test(test_expire),
	    cmocka_unit_test(test_parse_resolv),
	};

	clock_set_hook(test_now, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
