/*
 * Unit tests for daemon/addr.c: strict MAC, IPv4 and CIDR parsing (whole
 * string or nothing, output untouched on failure), formatting, masks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"

#define IP(a, b, c, d)                                                         \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))

static void
test_mac_parse_valid(void **state)
{
	static const struct {
		const char *text;
		uint8_t mac[6];
	} cases[] = {
	    {"aa:bb:cc:dd:ee:ff", {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}},
	    {"AA-BB-CC-DD-EE-FF", {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}},
	    {"02:00:5e:10:00:01", {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}},
	    {"2:0:5e:1:0:1", {0x02, 0x00, 0x5e, 0x01, 0x00, 0x01}},
	    {"0:0:0:0:0:0", {0, 0, 0, 0, 0, 0}},
	    {"fF:0a:A0:9:09:90", {0xff, 0x0a, 0xa0, 0x09, 0x09, 0x90}},
	};
	uint8_t mac[6];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(mac, 0x55, sizeof(mac));
		assert_int_equal(addr_parse_mac(cases[i].text, mac), 0);
		assert_memory_equal(mac, cases[i].mac, 6);
	}
}

static void
test_mac_parse_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    ":",
	    "aa:bb:cc:dd:ee",
	    "aa:bb:cc:dd:ee:",
	    "aa:bb:cc:dd:ee:ff:",
	    "aa:bb:cc:dd:ee:ff:00",
	    "aa:bb:cc:dd:ee:ff ",
	    " aa:bb:cc:dd:ee:ff",
	    "aa:bb-cc:dd:ee:ff", /* mixed separators */
	    "aa-bb:cc-dd:ee-ff",
	    "aabbccddeeff",
	    "aa.bb.cc.dd.ee.ff",
	    "aaa:bb:cc:dd:ee:ff",
	    "aa:bb:cc:dd:ee:fff",
	    "gg:bb:cc:dd:ee:ff",
	    "aa::cc:dd:ee:ff",
	    "aa:bb:cc:dd:ee:f\n",
	    "0x1:2:3:4:5:6",
	    "-1:2:3:4:5:6",
	};
	uint8_t mac[6], untouched[6];
	size_t i;

	(void)state;
	memset(untouched, 0x55, sizeof(untouched));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(mac, untouched, sizeof(mac));
		if (addr_parse_mac(bad[i], mac) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

static void
test_mac_format(void **state)
{
	static const uint8_t mac[6] = {0x02, 0xab, 0x00, 0x0f, 0xf0, 0xff};
	char buf[ADDR_MAC_STRLEN];
	uint8_t back[6];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	addr_format_mac(mac, buf);
	assert_string_equal(buf, "02:ab:00:0f:f0:ff");
	assert_int_equal(strlen(buf), ADDR_MAC_STRLEN - 1);
	assert_int_equal(addr_parse_mac(buf, back), 0);
	assert_memory_equal(back, mac, 6);
}

static void
test_mac_unicast(void **state)
{
	static const uint8_t zero[6] = {0};
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
	static const uint8_t local[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
	static const uint8_t lastbyte[6] = {0, 0, 0, 0, 0, 1};
	static const uint8_t odd[6] = {0x03, 0x11, 0x22, 0x33, 0x44, 0x55};

	(void)state;
	assert_false(addr_mac_is_unicast(zero));
	assert_false(addr_mac_is_unicast(bcast));
	assert_false(addr_mac_is_unicast(mcast));
	assert_false(addr_mac_is_unicast(odd));
	assert_true(addr_mac_is_unicast(local));
	assert_true(addr_mac_is_unicast(lastbyte));
}

static void
test_ipv4_parse_valid(void **state)
{
	static const struct {
		const char *text;
		uint32_t ip;
	} cases[] = {
	    {"0.0.0.0", 0},
	    {"255.255.255.255", 0xffffffffu},
	    {"192.168.105.1", IP(192, 168, 105, 1)},
	    {"10.0.0.1", IP(10, 0, 0, 1)},
	    {"1.2.3.4", IP(1, 2, 3, 4)},
	    {"127.0.0.1", IP(127, 0, 0, 1)},
	};
	uint32_t ip;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ip = 0x55555555;
		assert_int_equal(addr_parse_ipv4(cases[i].text, &ip), 0);
		assert_int_equal(ip, cases[i].ip);
	}
}

static void
test_ipv4_parse_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    ".",
	    "...",
	    "1.2.3",
	    "1.2.3.",
	    "1.2.3.4.",
	    "1.2.3.4.5",
	    ".1.2.3.4",
	    "1..2.3",
	    "256.0.0.1",
	    "1.2.3.256",
	    "1.2.3.999",
	    "1000.1.1.1",
	    "1.2.3.1000",
	    "0001.1.1.1",
	    " 1.2.3.4",
	    "1.2.3.4 ",
	    "1.2.3.4\n",
	    "+1.2.3.4",
	    "1.2.3.-4",
	    "1.2.3.+4",
	    "a.b.c.d",
	    "1.2.3.4/24",
	    "0x7f.0.0.1",
	    "1.2.3.4a",
	    "1,2,3,4",
	    "4294967295",
	};
	uint32_t ip;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ip = 0x55555555;
		if (addr_parse_ipv4(bad[i], &ip) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(ip, 0x55555555);
	}
}

static void
test_ipv4_format(void **state)
{
	static const uint32_t ips[] = {0, 0xffffffffu, IP(192, 168, 105, 1),
	    IP(10, 0, 0, 255), IP(1, 2, 3, 4)};
	static const char *const text[] = {"0.0.0.0", "255.255.255.255",
	    "192.168.105.1", "10.0.0.255", "1.2.3.4"};
	char buf[ADDR_IPV4_STRLEN];
	uint32_t back;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		addr_format_ipv4(ips[i], buf);
		assert_string_equal(buf, text[i]);
		assert_int_equal(addr_parse_ipv4(buf, &back), 0);
		assert_int_equal(back, ips[i]);
	}
}

static void
test_cidr_parse_valid(void **state)
{
	static const struct {
		const char *text;
		uint32_t net;
		uint8_t plen;
	} cases[] = {
	    {"10.0.0.0/8", IP(10, 0, 0, 0), 8},
	    {"0.0.0.0/0", 0, 0},
	    {"192.168.105.0/24", IP(192, 168, 105, 0), 24},
	    {"192.168.105.7/32", IP(192, 168, 105, 7), 32},
	    {"192.168.105.7", IP(192, 168, 105, 7), 32},
	    {"172.16.0.0/12", IP(172, 16, 0, 0), 12},
	    {"128.0.0.0/1", IP(128, 0, 0, 0), 1},
	    {"10.0.0.0/08", IP(10, 0, 0, 0), 8},
	    {"255.255.255.254/31", IP(255, 255, 255, 254), 31},
	};
	uint32_t net;
	uint8_t plen;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		net = 0x55555555;
		plen = 99;
		if (addr_parse_cidr(cases[i].text, &net, &plen) != 0)
			fail_msg("rejected \"%s\"", cases[i].text);
		assert_int_equal(net, cases[i].net);
		assert_int_equal(plen, cases[i].plen);
	}
}

static void
test_cidr_parse_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "/",
	    "/8",
	    "10.0.0.0/",
	    "10.0.0.1/8", /* host bits set */
	    "11.0.0.0/7",
	    "0.0.0.1/0",
	    "10.0.0.0/33",
	    "10.0.0.0/100",
	    "10.0.0.0/008",
	    "10.0.0.0/-8",
	    "10.0.0.0/+8",
	    "10.0.0.0/ 8",
	    "10.0.0.0 /8",
	    "10.0.0.0/8 ",
	    "10.0.0.0/8x",
	    "10.0.0.0/8/8",
	    "10.0.0/8",
	    "10.0.0.0.0/8",
	    "1234567890123456/8",
	    "255.255.255.255255/32",
	    "@host",
	    "10.0.0.0/0x8",
	};
	uint32_t net;
	uint8_t plen;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		net = 0x55555555;
		plen = 99;
		if (addr_parse_cidr(bad[i], &net, &plen) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(net, 0x55555555);
		assert_int_equal(plen, 99);
	}
}

static void
test_prefix_mask(void **state)
{
	(void)state;
	assert_int_equal(addr_prefix_mask(0), 0);
	assert_int_equal(addr_prefix_mask(1), 0x80000000u);
	assert_int_equal(addr_prefix_mask(8), 0xff000000u);
	assert_int_equal(addr_prefix_mask(24), 0xffffff00u);
	assert_int_equal(addr_prefix_mask(31), 0xfffffffeu);
	assert_int_equal(addr_prefix_mask(32), 0xffffffffu);
	/* Out of range saturates instead of shifting by a negative count. */
	assert_int_equal(addr_prefix_mask(33), 0xffffffffu);
	assert_int_equal(addr_prefix_mask(255), 0xffffffffu);
}

static void
test_mask_to_prefix(void **state)
{
	static const uint32_t bad[] = {0x00000001u, 0xff00ff00u, 0x7fffffffu,
	    0xfffffffdu, 0x80000001u, 0xfe7fffffu, 0x0000ffffu};
	int plen;
	size_t i;

	(void)state;
	for (plen = 0; plen <= 32; plen++)
		assert_int_equal(
		    addr_mask_to_prefix(addr_prefix_mask((uint8_t)plen)), plen);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(addr_mask_to_prefix(bad[i]), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mac_parse_valid),
	    cmocka_unit_test(test_mac_parse_invalid),
	    cmocka_unit_test(test_mac_format),
	    cmocka_unit_test(test_mac_unicast),
	    cmocka_unit_test(test_ipv4_parse_valid),
	    cmocka_unit_test(test_ipv4_parse_invalid),
	    cmocka_unit_test(test_ipv4_format),
	    cmocka_unit_test(test_cidr_parse_valid),
	    cmocka_unit_test(test_cidr_parse_invalid),
	    cmocka_unit_test(test_prefix_mask),
	    cmocka_unit_test(test_mask_to_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
