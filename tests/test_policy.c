/*
 * Unit tests for daemon/policy.c: rule parsing and lists, the sort that makes
 * the first match the answer (longest prefix wins, block wins a tie), @host,
 * exposed ports, duplicates and limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "policy.h"

#define IP(a, b, c, d)                                                         \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))

#define GW IP(192, 168, 105, 1)

/* Adds one rule and expects success. */
static void
add_ok(struct policy *p, const char *entry, bool block)
{
	char err[POLICY_ERRLEN] = "";

	if (policy_add(p, entry, block, err, sizeof(err)) != 0)
		fail_msg("policy_add(\"%s\"): %s", entry, err);
}

/* Checks rule i formats as want with the given action. */
static void
rule_is(const struct policy *p, size_t i, const char *want, bool block)
{
	char buf[32];

	assert_true(i < p->nrules);
	policy_format_rule(&p->rules[i], buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(p->rules[i].block, block);
}

/* The sort invariant every policy must keep. */
static void
assert_sorted(const struct policy *p)
{
	size_t i;

	for (i = 1; i < p->nrules; i++) {
		assert_true(p->rules[i - 1].plen >= p->rules[i].plen);
		if (p->rules[i - 1].plen == p->rules[i].plen)
			assert_true(
			    p->rules[i - 1].block || !p->rules[i].block);
	}
}

static void
test_init(void **state)
{
	struct policy p;

	(void)state;
	memset(&p, 0xa5, sizeof(p));
	policy_init(&p);
	assert_int_equal(p.nrules, 0);
	assert_int_equal(p.nexpose, 0);
	assert_int_equal(p.revision, 0);
	assert_int_equal(policy_decide(&p, GW, GW), POLICY_NONE);
	assert_int_equal(policy_decide(&p, IP(8, 8, 8, 8), GW), POLICY_NONE);
}

static void
test_add_and_format(void **state)
{
	struct policy p;

	(void)state;
	policy_init(&p);
	add_ok(&p, "10.0.0.0/8", false);
	add_ok(&p, "1.2.3.4", true);
	add_ok(&p, "@host", false);
	add_ok(&p, "0.0.0.0/0", true);
	assert_int_equal(p.nrules, 4);
	assert_sorted(&p);
	/* Among equal /32s the block comes first. */
	rule_is(&p, 0, "1.2.3.4/32", true);
	rule_is(&p, 1, "@host", false);
	rule_is(&p, 2, "10.0.0.0/8", false);
	rule_is(&p, 3, "0.0.0.0/0", true);
	assert_true(p.rules[1].is_host);
	assert_int_equal(p.rules[1].plen, 32);
}

static void
test_format_truncates(void **state)
{
	struct policy_rule r = {.net = IP(192, 168, 105, 0), .plen = 24};
	char buf[8];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	policy_format_rule(&r, buf, sizeof(buf));
	assert_string_equal(buf, "192.168");
	policy_format_rule(&r, buf, 1);
	assert_string_equal(buf, "");
}

static void
test_sort_order(void **state)
{
	struct policy p;

	(void)state;
	policy_init(&p);
	add_ok(&p, "10.0.0.0/8", false);
	add_ok(&p, "10.1.2.0/24", false);
	add_ok(&p, "10.1.0.0/16", true);
	add_ok(&p, "10.1.2.3/32", false);
	add_ok(&p, "0.0.0.0/0", false);
	add_ok(&p, "10.1.0.0/16", false);
	add_ok(&p, "10.2.0.0/16", true);
	assert_int_equal(p.nrules, 7);
	assert_sorted(&p);
	rule_is(&p, 0, "10.1.2.3/32", false);
	rule_is(&p, 1, "10.1.2.0/24", false);
	rule_is(&p, 2, "10.1.0.0/16", true);
	rule_is(&p, 3, "10.2.0.0/16", true);
	rule_is(&p, 4, "10.1.0.0/16", false);
	rule_is(&p, 5, "10.0.0.0/8", false);
	rule_is(&p, 6, "0.0.0.0/0", false);
}

static void
test_longest_prefix_wins(void **state)
{
	struct policy p;

	(void)state;
	/* allow /8, block a /16 inside it */
	policy_init(&p);
	add_ok(&p, "10.0.0.0/8", false);
	add_ok(&p, "10.1.0.0/16", true);
	assert_int_equal(policy_decide(&p, IP(10, 1, 2, 3), GW), POLICY_BLOCK);
	assert_int_equal(policy_decide(&p, IP(10, 2, 0, 1), GW), POLICY_ALLOW);
	assert_int_equal(policy_decide(&p, IP(11, 0, 0, 1), GW), POLICY_NONE);

	/* the same rules added the other way round */
	policy_init(&p);
	add_ok(&p, "10.1.0.0/16", true);
	add_ok(&p, "10.0.0.0/8", false);
	assert_int_equal(policy_decide(&p, IP(10, 1, 2, 3), GW), POLICY_BLOCK);
	assert_int_equal(policy_decide(&p, IP(10, 2, 0, 1), GW), POLICY_ALLOW);

	/* block everything, allow one host: the /32 wins */
	policy_init(&p);
	add_ok(&p, "0.0.0.0/0", true);
	add_ok(&p, "8.8.8.8", false);
	assert_int_equal(policy_decide(&p, IP(8, 8, 8, 8), GW), POLICY_ALLOW);
	assert_int_equal(policy_decide(&p, IP(8, 8, 4, 4), GW), POLICY_BLOCK);
	assert_int_equal(policy_decide(&p, 0, GW), POLICY_BLOCK);
	assert_int_equal(policy_decide(&p, 0xffffffffu, GW), POLICY_BLOCK);
}

static void
test_identical_prefix_block_wins(void **state)
{
	struct policy p;

	(void)state;
	policy_init(&p);
	add_ok(&p, "192.168.0.0/16", false);
	add_ok(&p, "192.168.0.0/16", true);
	assert_sorted(&p);
	assert_int_equal(
	    policy_decide(&p, IP(192, 168, 1, 1), GW), POLICY_BLOCK);

	policy_init(&p);
	add_ok(&p, "192.168.0.0/16", true);
	add_ok(&p, "192.168.0.0/16", false);
	assert_sorted(&p);
	assert_int_equal(
	    policy_decide(&p, IP(192, 168, 1, 1), GW), POLICY_BLOCK);

	/* Same length, different networks: no tie, each decides its own. */
	policy_init(&p);
	add_ok(&p, "192.168.0.0/16", true);
	add_ok(&p, "192.169.0.0/16", false);
	assert_int_equal(
	    policy_decide(&p, IP(192, 169, 1, 1), GW), POLICY_ALLOW);
}

static void
test_host(void **state)
{
	struct policy p;

	(void)state;
	/* @host is the gateway /32, whatever the gateway is. */
	policy_init(&p);
	add_ok(&p, "@host", false);
	add_ok(&p, "0.0.0.0/0", true);
	assert_int_equal(policy_decide(&p, GW, GW), POLICY_ALLOW);
	assert_int_equal(
	    policy_decide(&p, IP(192, 168, 105, 2), GW), POLICY_BLOCK);
	assert_int_equal(
	    policy_decide(&p, IP(10, 0, 0, 1), IP(10, 0, 0, 1)), POLICY_ALLOW);
	assert_int_equal(policy_decide(&p, GW, IP(10, 0, 0, 1)), POLICY_BLOCK);
	/* is_host rules ignore net: 0.0.0.0 is not the host. */
	assert_int_equal(policy_decide(&p, 0, GW), POLICY_BLOCK);

	/* block @host but allow the gateway's /32: a tie, block wins */
	policy_init(&p);
	add_ok(&p, "192.168.105.1/32", false);
	add_ok(&p, "@host", true);
	assert_sorted(&p);
	assert_int_equal(policy_decide(&p, GW, GW), POLICY_BLOCK);

	/* block the subnet, allow @host: the /32 is longer */
	policy_init(&p);
	add_ok(&p, "192.168.105.0/24", true);
	add_ok(&p, "@host", false);
	assert_int_equal(policy_decide(&p, GW, GW), POLICY_ALLOW);
	assert_int_equal(
	    policy_decide(&p, IP(192, 168, 105, 9), GW), POLICY_BLOCK);
}

static void
test_bad_entries(void **state)
{
	static const char *const bad[] = {"", "10.0.0.1/8", "10.0.0.0/33",
	    "@HOST", "@host ", " @host", "host", "@", "10.0.0.0/8,",
	    "10.0.0.0/8 ", "1.2.3", "::1", "10.0.0.0/-1"};
	char err[POLICY_ERRLEN];
	struct policy p;
	size_t i;

	(void)state;
	policy_init(&p);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (policy_add(&p, bad[i], false, err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err, "bad allow entry"));
		assert_int_equal(p.nrules, 0);
	}
	assert_int_equal(policy_add(&p, "x", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad block entry \"x\""));
	/* A long entry is quoted, truncated, in a bounded buffer. */
	{
		char longentry[1000];

		memset(longentry, '1', sizeof(longentry) - 1);
		longentry[sizeof(longentry) - 1] = '\0';
		assert_int_equal(
		    policy_add(&p, longentry, true, err, sizeof(err)), -1);
		assert_true(strlen(err) < sizeof(err));
	}
}

static void
test_rule_limit(void **state)
{
	char entry[32], err[POLICY_ERRLEN];
	struct policy p;
	int i;

	(void)state;
	policy_init(&p);
	for (i = 0; i < POLICY_MAX_RULES; i++) {
		snprintf(entry, sizeof(entry), "10.%d.0.0/16", i);
		add_ok(&p, entry, i % 2 == 0);
	}
	assert_int_equal(p.nrules, POLICY_MAX_RULES);
	assert_int_equal(
	    policy_add(&p, "11.0.0.0/8", false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too many"));
	assert_int_equal(policy_add(&p, "@host", true, err, sizeof(err)), -1);
	assert_int_equal(p.nrules, POLICY_MAX_RULES);
	assert_sorted(&p);
	/* A bad entry is reported as bad even when the list is full. */
	assert_int_equal(policy_add(&p, "bogus", true, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad block entry"));
}

static void
test_lists(void **state)
{
	char err[POLICY_ERRLEN], item[100];
	struct policy p;

	(void)state;
	policy_init(&p);
	assert_int_equal(policy_add_list(&p, "", false, err, sizeof(err)), 0);
	assert_int_equal(p.nrules, 0);
	assert_int_equal(policy_add_list(&p, "10.0.0.0/8,192.168.0.0/16,@host",
	                     true, err, sizeof(err)),
	    0);
	assert_int_equal(p.nrules, 3);
	assert_sorted(&p);
	rule_is(&p, 0, "@host", true);
	rule_is(&p, 1, "192.168.0.0/16", true);
	rule_is(&p, 2, "10.0.0.0/8", true);

	policy_init(&p);
	assert_int_equal(policy_add_list(&p, "10.0.0.0/8,,1.0.0.0/8", false,
	                     err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "empty item"));
	assert_int_equal(
	    policy_add_list(&p, ",10.0.0.0/8", false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty item"));
	assert_int_equal(
	    policy_add_list(&p, "10.0.0.0/8,", false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty item"));
	assert_int_equal(policy_add_list(&p, ",", false, err, sizeof(err)), -1);
	assert_int_equal(policy_add_list(&p, "10.0.0.0/8 ,1.0.0.0/8", false,
	                     err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "bad allow entry"));
	memset(item, '1', sizeof(item) - 1);
	item[sizeof(item) - 1] = '\0';
	assert_int_equal(
	    policy_add_list(&p, item, false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "overlong item"));
}

static void
test_expose_valid(void **state)
{
	char err[POLICY_ERRLEN];
	struct policy p;

	(void)state;
	policy_init(&p);
	assert_int_equal(policy_add_expose(&p, "8080:80", err, sizeof(err)), 0);
	assert_int_equal(policy_add_expose(&p, "1:65535", err, sizeof(err)), 0);
	assert_int_equal(policy_add_expose(&p, "65535:1", err, sizeof(err)), 0);
	/* The same VM port behind two host ports is fine. */
	assert_int_equal(policy_add_expose(&p, "8081:80", err, sizeof(err)), 0);
	/* Up to five digits, leading zeros included. */
	assert_int_equal(
	    policy_add_expose(&p, "02222:00022", err, sizeof(err)), 0);
	assert_int_equal(p.nexpose, 5);
	assert_int_equal(p.expose[0].ext, 8080);
	assert_int_equal(p.expose[0].in, 80);
	assert_int_equal(p.expose[1].ext, 1);
	assert_int_equal(p.expose[1].in, 65535);
	assert_int_equal(p.expose[2].ext, 65535);
	assert_int_equal(p.expose[2].in, 1);
	assert_int_equal(p.expose[4].ext, 2222);
	assert_int_equal(p.expose[4].in, 22);
	assert_int_equal(p.nrules, 0);
}

static void
test_expose_invalid(void **state)
{
	static const char *const bad[] = {"", "80", ":", ":80", "80:", "0:80",
	    "80:0", "65536:80", "80:65536", "99999:80", "-1:80", "80:-1",
	    "+80:80", "80:+80", "80:80:80", "a:b", "80:8o", " 80:80", "80:80 ",
	    "80 :80", "000080:80", "80:000080", "1234567:80", "12345678:80",
	    "80,81:80", "0x50:80", "80::80"};
	char err[POLICY_ERRLEN];
	struct policy p;
	size_t i;

	(void)state;
	policy_init(&p);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (policy_add_expose(&p, bad[i], err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err, "bad expose entry"));
		assert_int_equal(p.nexpose, 0);
	}
}

/* [udp:][ADDR:]EXT:INT: the address and protocol are kept and printed. */
static void
test_expose_addr(void **state)
{
	static const char *const bad[] = {"1.2.3:80:80", "1.2.3.4.5:80:80",
	    "localhost:80:80", ":80:80", "1.2.3.4:80", "1.2.3.4::80"};
	char err[POLICY_ERRLEN], buf[64];
	struct policy p;
	size_t i;

	(void)state;
	policy_init(&p);
	assert_int_equal(
	    policy_add_expose(&p, "0.0.0.0:8080:80", err, sizeof(err)), 0);
	assert_int_equal(
	    policy_add_expose(&p, "127.0.0.2:8081:22", err, sizeof(err)), 0);
	assert_int_equal(policy_add_expose(&p, "8082:22", err, sizeof(err)), 0);
	assert_true(p.expose[0].has_addr);
	assert_int_equal(p.expose[0].addr, 0);
	assert_int_equal(p.expose[0].ext, 8080);
	assert_int_equal(p.expose[1].addr, IP(127, 0, 0, 2));
	assert_false(p.expose[2].has_addr);
	policy_format_expose(&p.expose[0], buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0:8080:80");
	policy_format_expose(&p.expose[2], buf, sizeof(buf));
	assert_string_equal(buf, "8082:22");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (policy_add_expose(&p, bad[i], err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(err, "bad expose entry"));
	}
	assert_int_equal(p.nexpose, 3);
	/* UDP beside TCP on the same host port; twice is still twice. */
	assert_int_equal(
	    policy_add_expose(&p, "udp:8082:53", err, sizeof(err)), 0);
	assert_int_equal(
	    policy_add_expose(&p, "udp:127.0.0.3:5353:53", err, sizeof(err)),
	    0);
	assert_true(p.expose[3].udp);
	assert_false(p.expose[3].has_addr);
	assert_int_equal(p.expose[4].addr, IP(127, 0, 0, 3));
	assert_false(p.expose[2].udp);
	policy_format_expose(&p.expose[3], buf, sizeof(buf));
	assert_string_equal(buf, "udp:8082:53");
	policy_format_expose(&p.expose[4], buf, sizeof(buf));
	assert_string_equal(buf, "udp:127.0.0.3:5353:53");
	assert_int_equal(
	    policy_add_expose(&p, "udp:8082:54", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "UDP port 8082 exposed twice"));
	assert_int_equal(
	    policy_add_expose(&p, "8082:54", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TCP port 8082 exposed twice"));
	assert_int_equal(policy_add_expose(&p, "udp:", err, sizeof(err)), -1);
	assert_int_equal(
	    policy_add_expose(&p, "udp:udp:1:1", err, sizeof(err)), -1);
	assert_int_equal(
	    policy_add_expose(&p, "tcp:1:1", err, sizeof(err)), -1);
	assert_int_equal(p.nexpose, 5);
}

/* "@host" matches whatever the caller calls a host address. */
static void
test_decide_host(void **state)
{
	char err[POLICY_ERRLEN];
	struct policy p;

	(void)state;
	policy_init(&p);
	assert_int_equal(
	    policy_add(&p, "0.0.0.0/0", false, err, sizeof(err)), 0);
	assert_int_equal(policy_add(&p, "@host", true, err, sizeof(err)), 0);
	assert_int_equal(
	    policy_decide_host(&p, IP(10, 254, 0, 1), true), POLICY_BLOCK);
	assert_int_equal(
	    policy_decide_host(&p, IP(10, 254, 0, 1), false), POLICY_ALLOW);
	assert_int_equal(policy_decide(&p, GW, GW), POLICY_BLOCK);
}

static void
test_expose_duplicates_and_limit(void **state)
{
	char entry[32], err[POLICY_ERRLEN];
	struct policy p;
	int i;

	(void)state;
	policy_init(&p);
	assert_int_equal(policy_add_expose(&p, "2222:22", err, sizeof(err)), 0);
	assert_int_equal(
	    policy_add_expose(&p, "2222:23", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "port 2222 exposed twice"));
	assert_int_equal(
	    policy_add_expose(&p, "02222:22", err, sizeof(err)), -1);
	assert_int_equal(p.nexpose, 1);

	policy_init(&p);
	for (i = 0; i < POLICY_MAX_EXPOSE; i++) {
		snprintf(entry, sizeof(entry), "%d:%d", 10000 + i, 80);
		assert_int_equal(
		    policy_add_expose(&p, entry, err, sizeof(err)), 0);
	}
	assert_int_equal(
	    policy_add_expose(&p, "20000:80", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too many exposed ports"));
	/* A duplicate is still named as such when the list is full. */
	assert_int_equal(
	    policy_add_expose(&p, "10000:80", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exposed twice"));
	assert_int_equal(p.nexpose, POLICY_MAX_EXPOSE);
}

static void
test_expose_lists(void **state)
{
	char err[POLICY_ERRLEN];
	struct policy p;

	(void)state;
	policy_init(&p);
	assert_int_equal(policy_add_expose_list(&p, "", err, sizeof(err)), 0);
	assert_int_equal(
	    policy_add_expose_list(&p, "8080:80,2222:22", err, sizeof(err)), 0);
	assert_int_equal(p.nexpose, 2);
	assert_int_equal(p.expose[1].ext, 2222);
	assert_int_equal(
	    policy_add_expose_list(&p, "9090:90,8080:81", err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "exposed twice"));
	assert_int_equal(
	    policy_add_expose_list(&p, "9091:90,", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty item"));
	assert_int_equal(
	    policy_add_expose_list(&p, "9092:90;9093:90", err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "bad expose entry"));
	assert_int_equal(p.nrules, 0);
}

/* Parses a JSON text for the policy_add_json tests. */
static json_t *
jload(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

	assert_non_null(v);
	return v;
}

/*
 * policy_add_json, the one reader of JSON policy lists (default_policy and
 * the control protocol): the key picks rules or exposures, and a failure
 * says what was wrong and at which item.
 */
static void
test_add_json(void **state)
{
	char err[POLICY_ERRLEN];
	struct policy p;
	json_t *v;
	size_t at;

	(void)state;
	policy_init(&p);
	v = jload("[\"10.0.0.0/8\", \"@host\"]");
	assert_int_equal(policy_add_json(&p, "block", v, &at, err, sizeof(err)),
	    POLICY_JSON_OK);
	json_decref(v);
	assert_int_equal(p.nrules, 2);
	assert_true(p.rules[0].block && p.rules[1].block);
	v = jload("[\"192.168.0.0/16\"]");
	assert_int_equal(policy_add_json(&p, "allow", v, &at, err, sizeof(err)),
	    POLICY_JSON_OK);
	json_decref(v);
	assert_int_equal(p.nrules, 3);
	assert_false(p.rules[1].block);
	v = jload("[\"8080:80\"]");
	assert_int_equal(
	    policy_add_json(&p, "expose", v, &at, err, sizeof(err)),
	    POLICY_JSON_OK);
	json_decref(v);
	assert_int_equal(p.nexpose, 1);
	assert_int_equal(p.expose[0].ext, 8080);

	v = jload("\"10.0.0.0/8\"");
	assert_int_equal(policy_add_json(&p, "allow", v, &at, err, sizeof(err)),
	    POLICY_JSON_NOT_ARRAY);
	json_decref(v);
	v = jload("[\"1.2.3.0/24\", 7]");
	assert_int_equal(policy_add_json(&p, "allow", v, &at, err, sizeof(err)),
	    POLICY_JSON_NOT_STRING);
	assert_int_equal(at, 1);
	json_decref(v);
	v = jload("[\"1.2.4.0/24\", \"1.2.3.4/33\"]");
	assert_int_equal(policy_add_json(&p, "block", v, &at, err, sizeof(err)),
	    POLICY_JSON_BAD_ENTRY);
	assert_int_equal(at, 1);
	assert_non_null(strstr(err, "1.2.3.4/33"));
	json_decref(v);
	v = jload("[\"80\"]");
	assert_int_equal(
	    policy_add_json(&p, "expose", v, &at, err, sizeof(err)),
	    POLICY_JSON_BAD_ENTRY);
	assert_int_equal(at, 0);
	json_decref(v);
	assert_int_equal(p.nexpose, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init),
	    cmocka_unit_test(test_add_and_format),
	    cmocka_unit_test(test_format_truncates),
	    cmocka_unit_test(test_sort_order),
	    cmocka_unit_test(test_longest_prefix_wins),
	    cmocka_unit_test(test_identical_prefix_block_wins),
	    cmocka_unit_test(test_host),
	    cmocka_unit_test(test_bad_entries),
	    cmocka_unit_test(test_rule_limit),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_expose_valid),
	    cmocka_unit_test(test_expose_invalid),
	    cmocka_unit_test(test_expose_addr),
	    cmocka_unit_test(test_decide_host),
	    cmocka_unit_test(test_expose_duplicates_and_limit),
	    cmocka_unit_test(test_expose_lists),
	    cmocka_unit_test(test_add_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
