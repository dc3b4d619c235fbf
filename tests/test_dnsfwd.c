/*
 * Unit tests for dnsfwd.c's in-flight table and resolv.conf parser: the
 * per-VM and total caps, matching answers only by (id, upstream), expiry,
 * and the nameserver lines kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

/* A VM past its cap is refused while another still gets slots. */
static void
test_per_vm_cap(void **state)
{
	struct dnsfwd_table t;
	uint16_t id;
	int i;

	(void)state;
	dnsfwd_table_init(&t, 8, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(
		    dnsfwd_table_add(&t, VM1, 1000, 7, UP1, 10, &id),
		    DNSFWD_ADD_OK);
	assert_int_equal(dnsfwd_table_add(&t, VM1, 1000, 7, UP1, 10, &id),
	    DNSFWD_ADD_VM_FULL);
	assert_int_equal(
	    dnsfwd_table_add(&t, VM2, 1000, 7, UP1, 10, &id), DNSFWD_ADD_OK);
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
	dnsfwd_table_init(&t, 4, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(dnsfwd_table_add(&t, VM1 + (uint32_t)i, 1, 1,
		                     UP1, 10, &ids[i]),
		    DNSFWD_ADD_OK);
	for (i = 0; i < 4; i++)
		for (j = i + 1; j < 4; j++)
			assert_int_not_equal(ids[i], ids[j]);
	assert_int_equal(dnsfwd_table_add(&t, VM2 + 10, 1, 1, UP1, 10, &ids[0]),
	    DNSFWD_ADD_FULL);
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
	dnsfwd_table_init(&t, 8, 8);
	assert_int_equal(dnsfwd_table_add(&t, VM1, 4242, 0xabcd, UP1, 10, &id),
	    DNSFWD_ADD_OK);
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
	dnsfwd_table_init(&t, 8, 2);
	assert_int_equal(
	    dnsfwd_table_add(&t, VM1, 1, 1, UP1, 5, &id), DNSFWD_ADD_OK);
	assert_int_equal(
	    dnsfwd_table_add(&t, VM1, 1, 2, UP1, 20, &live), DNSFWD_ADD_OK);
	assert_int_equal(
	    dnsfwd_table_add(&t, VM1, 1, 3, UP1, 20, &id), DNSFWD_ADD_VM_FULL);
	assert_int_equal(dnsfwd_table_expire(&t, 10), 1);
	assert_int_equal(dnsfwd_table_count(&t, VM1), 1);
	assert_int_equal(
	    dnsfwd_table_add(&t, VM1, 1, 3, UP1, 20, &id), DNSFWD_ADD_OK);
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
	    cmocka_unit_test(test_total_cap_unique_ids),
	    cmocka_unit_test(test_take_matches_id_and_upstream),
	    cmocka_unit_test(test_expire),
	    cmocka_unit_test(test_parse_resolv),
	};

	clock_set_hook(test_now, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
