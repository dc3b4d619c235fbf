/*
 * Unit tests for daemon/config.c: defaults, a full file, and every kind of
 * error with the file name and key path it must name.
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

#include "addr.h"
#include "config.h"
#include "softnetd.h"
#include "uplink.h"

#define IP(a, b, c, d)                                                         \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))

/* Loads text as "x.json" and expects success. */
static void
load_ok(const char *text, struct config *cfg)
{
	char err[CONFIG_ERRLEN] = "";
	int rc = config_load_string(text, "x.json", cfg, err, sizeof(err));

	if (rc != 0)
		print_error("unexpected error: %s\nfor: %s\n", err, text);
	assert_int_equal(rc, 0);
}

/* Loads text as "x.json", expects failure and every needle in the message. */
static void
load_fail(const char *text, const char *needle)
{
	char err[CONFIG_ERRLEN] = "";
	struct config cfg;
	int rc = config_load_string(text, "x.json", &cfg, err, sizeof(err));

	if (rc != -1)
		config_free(&cfg);
	if (rc != -1 || strncmp(err, "x.json: ", 8) != 0 ||
	    strstr(err, needle) == NULL || strchr(err, '\n') != NULL)
		print_error("text: %s\nwant: %s\ngot (%d): %s\n", text, needle,
		    rc, err);
	assert_int_equal(rc, -1);
	assert_true(strncmp(err, "x.json: ", 8) == 0);
	assert_non_null(strstr(err, needle));
	assert_null(strchr(err, '\n'));
	/* The header promises cfg is freed. */
	assert_null(cfg.socket);
	assert_null(cfg.uplink.name);
}

/* Loads text as "x.json" and expects exactly the message want. */
static void
load_fail_exact(const char *text, const char *want)
{
	char err[CONFIG_ERRLEN] = "";
	struct config cfg;

	assert_int_equal(
	    config_load_string(text, "x.json", &cfg, err, sizeof(err)), -1);
	assert_string_equal(err, want);
}

static void
test_defaults(void **state)
{
	struct config cfg;

	(void)state;
	config_defaults(&cfg);
#ifdef __APPLE__
	assert_string_equal(cfg.socket, "/var/run/softnetd.sock");
	assert_string_equal(cfg.socket_group, "wheel");
	assert_string_equal(cfg.admin_group, "wheel");
	assert_string_equal(cfg.database, "/var/db/softnetd/leases.db");
	assert_int_equal(cfg.uplink.type, UPLINK_VMNET);
	/* A pinned subnet of softnet's own, not vmnet's 192.168.64/24. */
	assert_true(cfg.uplink.have_addrs);
	assert_int_equal(cfg.uplink.gateway, IP(192, 168, 222, 1));
	assert_int_equal(cfg.uplink.pool_start, IP(192, 168, 222, 2));
	assert_int_equal(cfg.uplink.pool_end, IP(192, 168, 222, 254));
	assert_int_equal(cfg.dhcp.ndns, 1);
	assert_int_equal(cfg.dhcp.dns[0], IP(192, 168, 222, 1));
#else
	assert_string_equal(cfg.socket, "/run/softnetd.sock");
	assert_string_equal(cfg.socket_group, "root");
	assert_string_equal(cfg.admin_group, "root");
	assert_string_equal(cfg.database, "/var/lib/softnetd/leases.db");
	assert_int_equal(cfg.uplink.type, UPLINK_TAP);
	assert_true(cfg.uplink.have_addrs);
	assert_int_equal(cfg.dhcp.ndns, 1);
	assert_int_equal(cfg.dhcp.dns[0], IP(192, 168, 105, 1));
#endif
	assert_int_equal(cfg.max_vms, 1024);
	assert_int_equal(cfg.uplink.mode, UPLINK_MODE_SHARED);
	assert_string_equal(cfg.uplink.name, "softnet0");
	assert_int_equal(cfg.uplink.gateway, IP(192, 168, 105, 1));
	assert_int_equal(cfg.uplink.netmask, IP(255, 255, 255, 0));
	assert_int_equal(cfg.uplink.pool_start, IP(192, 168, 105, 2));
	assert_int_equal(cfg.uplink.pool_end, IP(192, 168, 105, 254));
	assert_int_equal(cfg.uplink.mtu, 1500);
	assert_int_equal(cfg.dhcp.lease_time, 600);
	assert_int_equal(cfg.default_policy.nrules, 0);
	assert_int_equal(cfg.default_policy.nexpose, 0);
	config_free(&cfg);
	config_free(&cfg); /* twice is fine */
}

/* An empty object is exactly the defaults. */
static void
test_empty_object_is_defaults(void **state)
{
	struct config a, b;

	(void)state;
	config_defaults(&a);
	load_ok("{}", &b);
	assert_string_equal(a.socket, b.socket);
	assert_string_equal(a.socket_group, b.socket_group);
	assert_string_equal(a.admin_group, b.admin_group);
	assert_string_equal(a.database, b.database);
	assert_string_equal(a.uplink.name, b.uplink.name);
	assert_int_equal(a.max_vms, b.max_vms);
	assert_int_equal(a.uplink.type, b.uplink.type);
	assert_int_equal(a.uplink.have_addrs, b.uplink.have_addrs);
	assert_int_equal(a.uplink.mtu, b.uplink.mtu);
	assert_int_equal(a.dhcp.ndns, b.dhcp.ndns);
	assert_int_equal(a.dhcp.lease_time, b.dhcp.lease_time);
	config_free(&a);
	config_free(&b);
	/* Empty sections too. */
	load_ok("{\"uplink\": {}, \"dhcp\": {}, \"default_policy\": {}}", &b);
	assert_int_equal(b.uplink.mtu, 1500);
	config_free(&b);
}

static const char full_file[] =
    "{\n"
    "  \"socket\": \"/tmp/sn/softnetd.sock\",\n"
    "  \"socket_group\": \"softnet\",\n"
    "  \"admin_group\": \"wheel\",\n"
    "  \"database\": \"/tmp/sn/leases.db\",\n"
    "  \"max_vms\": 65535,\n"
    "  \"uplink\": {\n"
    "    \"type\": \"tap\",\n"
    "    \"name\": \"sn-br_0.x\",\n"
    "    \"gateway\": \"10.20.0.1\",\n"
    "    \"netmask\": \"255.255.0.0\",\n"
    "    \"pool_start\": \"10.20.1.0\",\n"
    "    \"pool_end\": \"10.20.255.254\",\n"
    "    \"mtu\": 9000\n"
    "  },\n"
    "  \"dhcp\": { \"lease_time\": 604800,\n"
    "            \"dns\": [\"1.1.1.1\", \"8.8.8.8\", \"9.9.9.9\", "
    "\"10.20.0.1\"] },\n"
    "  \"default_policy\": { \"allow\": [\"10.0.0.0/8\", \"@host\"],\n"
    "                      \"block\": [\"10.20.0.0/16\", \"0.0.0.0/0\"] },\n"
    "  \"vm_limits\": { \"tx_frames_per_sec\": 5000, \"rx_bytes_per_sec\": 0 "
    "}\n"
    "}\n";

/* Writes text into a new file in a private directory; returns its path. */
static char *
write_temp(const char *text, char *dir, size_t dirlen)
{
	static char path[256];
	FILE *fp;

	snprintf(dir, dirlen, "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/softnetd.json", dir);
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static void
test_full_file(void **state)
{
	char dir[64], err[CONFIG_ERRLEN] = "", rule[32];
	struct config cfg;
	char *path;

	(void)state;
	path = write_temp(full_file, dir, sizeof(dir));
	if (config_load(path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.socket, "/tmp/sn/softnetd.sock");
	assert_string_equal(cfg.socket_group, "softnet");
	assert_string_equal(cfg.admin_group, "wheel");
	assert_string_equal(cfg.database, "/tmp/sn/leases.db");
	assert_int_equal(cfg.max_vms, 65535);
	assert_int_equal(cfg.uplink.type, UPLINK_TAP);
	assert_string_equal(cfg.uplink.name, "sn-br_0.x");
	assert_true(cfg.uplink.have_addrs);
	assert_int_equal(cfg.uplink.gateway, IP(10, 20, 0, 1));
	assert_int_equal(cfg.uplink.netmask, IP(255, 255, 0, 0));
	assert_int_equal(cfg.uplink.pool_start, IP(10, 20, 1, 0));
	assert_int_equal(cfg.uplink.pool_end, IP(10, 20, 255, 254));
	assert_int_equal(cfg.uplink.mtu, 9000);
	assert_int_equal(cfg.dhcp.lease_time, 604800);
	assert_int_equal(cfg.dhcp.ndns, 4);
	assert_int_equal(cfg.dhcp.dns[0], IP(1, 1, 1, 1));
	assert_int_equal(cfg.dhcp.dns[1], IP(8, 8, 8, 8));
	assert_int_equal(cfg.dhcp.dns[2], IP(9, 9, 9, 9));
	assert_int_equal(cfg.dhcp.dns[3], IP(10, 20, 0, 1));
	assert_int_equal(cfg.default_policy.nrules, 4);
	/* Sorted: @host (/32), 10.20/16 block, 10/8 allow, 0/0 block. */
	policy_format_rule(&cfg.default_policy.rules[0], rule, sizeof(rule));
	assert_string_equal(rule, "@host");
	policy_format_rule(&cfg.default_policy.rules[1], rule, sizeof(rule));
	assert_string_equal(rule, "10.20.0.0/16");
	assert_true(cfg.default_policy.rules[1].block);
	policy_format_rule(&cfg.default_policy.rules[2], rule, sizeof(rule));
	assert_string_equal(rule, "10.0.0.0/8");
	assert_false(cfg.default_policy.rules[2].block);
	policy_format_rule(&cfg.default_policy.rules[3], rule, sizeof(rule));
	assert_string_equal(rule, "0.0.0.0/0");
	assert_int_equal(cfg.default_policy.nexpose, 0);
	assert_int_equal(cfg.vm_limits.tx.frames_per_sec, 5000);
	assert_int_equal(cfg.vm_limits.tx.bytes_per_sec, 2500000000u);
	assert_int_equal(cfg.vm_limits.rx.bytes_per_sec, 0);
	assert_int_equal(cfg.vm_limits.rx.frames_per_sec, 1000000);
	config_free(&cfg);

	/* A file error names the file. */
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		fputs("{\n  \"uplink\": { \"mtu\": 100 }\n}\n", fp);
		fclose(fp);
	}
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, ": uplink.mtu: expected an integer "
	                            "576..9000"));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);

	/* A directory is not a config file. */
	assert_int_equal(config_load(dir, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, dir));

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_missing_file(void **state)
{
	char err[CONFIG_ERRLEN] = "";
	struct config cfg;

	(void)state;
	assert_int_equal(config_load("/nonexistent/dir/softnetd.json", &cfg,
	                     err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "/nonexistent/dir/softnetd.json"));
	assert_non_null(strstr(err, "No such file"));
	assert_null(cfg.socket);
	config_free(&cfg); /* after the error path freed it: still fine */
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	load_fail("{\n  \"socket\": \n}", "line 3, column");
	load_fail("{\"max_vms\": 10,}", "line 1, column");
	load_fail("", "line 1");
	load_fail("{} {}", "line 1");
	load_fail("{\"a\" 1}", "line 1");
	load_fail("{\"socket\": \"\\u0000x\"}", "line 1");
	load_fail("{\"socket\": NaN}", "line 1");
}

static void
test_top_level_not_object(void **state)
{
	(void)state;
	load_fail("[]", "top level");
	load_fail("42", "top level");
	load_fail("\"x\"", "top level");
	load_fail("null", "top level");
	load_fail("true", "top level");
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	load_fail_exact("{\"uplnk\": {}}", "x.json: unknown key \"uplnk\"");
	load_fail_exact("{\"uplink\": {\"nmae\": \"x\"}}",
	    "x.json: unknown key \"uplink.nmae\"");
	load_fail_exact("{\"dhcp\": {\"lease\": 60}}",
	    "x.json: unknown key \"dhcp.lease\"");
	load_fail_exact("{\"default_policy\": {\"deny\": []}}",
	    "x.json: unknown key \"default_policy.deny\"");
	load_fail("{\"Socket\": \"/x\"}", "unknown key \"Socket\"");
	load_fail("{\"\": 1}", "unknown key \"\"");
	/* Control characters in a key do not break the line. */
	load_fail("{\"a\\nb\\u001b\": 1}", "unknown key \"a?b?\"");
}

static void
test_duplicate_keys(void **state)
{
	(void)state;
	load_fail("{\"max_vms\": 1, \"max_vms\": 2}", "duplicate");
	load_fail("{\"uplink\": {\"mtu\": 1500, \"mtu\": 1500}}", "duplicate");
	load_fail("{\"dhcp\": {\"dns\": [], \"dns\": []}}", "line 1, column");
}

/* A value of the wrong type for every key. */
static void
test_wrong_types(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"{\"socket\": 1}", "socket: expected a non-empty string"},
	    {"{\"socket\": null}", "socket: expected a non-empty string"},
	    {"{\"socket\": \"\"}", "socket: expected a non-empty string"},
	    {"{\"socket_group\": []}",
	        "socket_group: expected a non-empty string"},
	    {"{\"admin_group\": false}",
	        "admin_group: expected a non-empty string"},
	    {"{\"admin_group\": \"\"}",
	        "admin_group: expected a non-empty string"},
	    {"{\"database\": {}}", "database: expected a non-empty string"},
	    {"{\"max_vms\": \"10\"}", "max_vms: expected an integer 1..65535"},
	    {"{\"max_vms\": 10.0}", "max_vms: expected an integer 1..65535"},
	    {"{\"max_vms\": true}", "max_vms: expected an integer 1..65535"},
	    {"{\"uplink\": []}", "uplink: expected an object"},
	    {"{\"uplink\": \"tap\"}", "uplink: expected an object"},
	    {"{\"uplink\": {\"type\": 1}}", "uplink.type: expected"},
	    {"{\"uplink\": {\"type\": \"TAP\"}}", "uplink.type: expected"},
	    {"{\"uplink\": {\"type\": \"vmnet\", \"mode\": true}}",
	        "uplink.mode: expected \"shared\" or \"host\""},
	    {"{\"uplink\": {\"type\": \"vmnet\", \"mode\": \"nat\"}}",
	        "uplink.mode: expected \"shared\" or \"host\""},
	    {"{\"uplink\": {\"name\": 0}}",
	        "uplink.name: expected a non-empty string"},
	    {"{\"uplink\": {\"gateway\": 3232262401}}",
	        "uplink.gateway: expected an IPv4 address string"},
	    {"{\"uplink\": {\"netmask\": 24}}",
	        "uplink.netmask: expected an IPv4 address string"},
	    {"{\"uplink\": {\"pool_start\": null}}",
	        "uplink.pool_start: expected an IPv4 address string"},
	    {"{\"uplink\": {\"pool_end\": [\"1.2.3.4\"]}}",
	        "uplink.pool_end: expected an IPv4 address string"},
	    {"{\"uplink\": {\"mtu\": \"1500\"}}",
	        "uplink.mtu: expected an integer 576..9000"},
	    {"{\"dhcp\": 600}", "dhcp: expected an object"},
	    {"{\"dhcp\": {\"lease_time\": 600.5}}",
	        "dhcp.lease_time: expected an integer 120..604800"},
	    {"{\"dhcp\": {\"dns\": \"1.1.1.1\"}}",
	        "dhcp.dns: expected an array"},
	    {"{\"dhcp\": {\"dns\": [1]}}",
	        "dhcp.dns[0]: expected an IPv4 address string"},
	    {"{\"default_policy\": []}", "default_policy: expected an object"},
	    {"{\"default_policy\": {\"allow\": \"10.0.0.0/8\"}}",
	        "default_policy.allow: expected an array of strings"},
	    {"{\"default_policy\": {\"block\": {}}}",
	        "default_policy.block: expected an array of strings"},
	    {"{\"default_policy\": {\"expose\": [\"80:80\"]}}",
	        "unknown key \"default_policy.expose\""},
	    {"{\"vm_limits\": {\"tx_frames_per_sec\": -1}}",
	        "vm_limits.tx_frames_per_sec: expected an integer"},
	    {"{\"vm_limits\": {\"tx_pps\": 1}}",
	        "unknown key \"vm_limits.tx_pps\""},
	    {"{\"default_policy\": {\"allow\": [\"10.0.0.0/8\", 1]}}",
	        "default_policy.allow[1]: expected a string"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		load_fail(cases[i].text, cases[i].want);
}

static void
test_ranges(void **state)
{
	struct config cfg;

	(void)state;
	load_fail_exact("{\"uplink\": {\"mtu\": 575}}",
	    "x.json: uplink.mtu: expected an integer 576..9000");
	load_fail("{\"uplink\": {\"mtu\": 9001}}", "uplink.mtu: expected");
	load_fail("{\"uplink\": {\"mtu\": -1500}}", "uplink.mtu: expected");
	load_fail("{\"max_vms\": 0}", "max_vms: expected an integer 1..65535");
	load_fail("{\"max_vms\": 65536}", "max_vms: expected");
	load_fail("{\"max_vms\": -1}", "max_vms: expected");
	load_fail("{\"max_vms\": 4294967297}", "max_vms: expected");
	load_fail("{\"max_vms\": 99999999999999999999999}", "line 1");
	/*
	 * Issue 14 item 9: macOS waits at least 60 s between renew and
	 * rebind retries, so a lease shorter than 120 s can run out
	 * between two of them.
	 */
	load_fail("{\"dhcp\": {\"lease_time\": 119}}",
	    "dhcp.lease_time: expected an integer 120..604800");
	load_fail("{\"dhcp\": {\"lease_time\": 60}}", "dhcp.lease_time");
	load_fail("{\"dhcp\": {\"lease_time\": 604801}}", "dhcp.lease_time");

	load_ok("{\"max_vms\": 1, \"uplink\": {\"mtu\": 576}, "
	        "\"dhcp\": {\"lease_time\": 120}}",
	    &cfg);
	assert_int_equal(cfg.max_vms, 1);
	assert_int_equal(cfg.uplink.mtu, 576);
	assert_int_equal(cfg.dhcp.lease_time, 120);
	config_free(&cfg);
}

/* dhcp.domain, dhcp.search and dhcp.routes (issue 14 item 8). */
static void
test_dhcp_names(void **state)
{
	static const uint8_t search[] = {3, 'l', 'a', 'b', 0, 1, 'x', 0};
	static const uint8_t routes[] = {
	    8, 10, 192, 168, 105, 254, 32, 172, 16, 0, 1, 192, 168, 105, 253};
	struct config cfg;

	(void)state;
	load_ok("{\"dhcp\": {\"domain\": \"lab.example\", "
	        "\"search\": [\"lab\", \"x.\"], \"routes\": ["
	        "{\"to\": \"10.0.0.0/8\", \"via\": \"192.168.105.254\"},"
	        "{\"to\": \"172.16.0.1\", \"via\": \"192.168.105.253\"}]}}",
	    &cfg);
	assert_string_equal(cfg.dhcp.domain, "lab.example");
	assert_int_equal(cfg.dhcp.search_len, sizeof(search));
	assert_memory_equal(cfg.dhcp.search, search, sizeof(search));
	assert_int_equal(cfg.dhcp.routes_len, sizeof(routes));
	assert_memory_equal(cfg.dhcp.routes, routes, sizeof(routes));
	config_free(&cfg);
	/* Unset: nothing served. */
	load_ok("{}", &cfg);
	assert_string_equal(cfg.dhcp.domain, "");
	assert_int_equal(cfg.dhcp.search_len, 0);
	assert_int_equal(cfg.dhcp.routes_len, 0);
	config_free(&cfg);

	load_fail("{\"dhcp\": {\"domain\": \"a b\"}}", "dhcp.domain");
	load_fail("{\"dhcp\": {\"domain\": 3}}", "dhcp.domain");
	load_fail("{\"dhcp\": {\"search\": \"lab\"}}", "dhcp.search");
	load_fail("{\"dhcp\": {\"search\": [\"a..b\"]}}", "dhcp.search[0]");
	load_fail("{\"dhcp\": {\"routes\": [{\"to\": \"10.0.0.0/8\"}]}}",
	    "dhcp.routes[0]");
	load_fail("{\"dhcp\": {\"routes\": [{\"to\": \"10.0.0.1/8\", "
	          "\"via\": \"1.2.3.4\"}]}}",
	    "dhcp.routes[0].to");
	load_fail("{\"dhcp\": {\"routes\": [{\"to\": \"10.0.0.0/8\", "
	          "\"via\": \"1.2.3.4\", \"metric\": 1}]}}",
	    "metric");
}

static void
test_bad_addresses(void **state)
{
	(void)state;
	load_fail_exact("{\"dhcp\": {\"dns\": [\"1.1.1.1\", \"1.2.3\"]}}",
	    "x.json: dhcp.dns[1]: bad IPv4 address \"1.2.3\"");
	load_fail("{\"uplink\": {\"gateway\": \"192.168.105.256\"}}",
	    "uplink.gateway: bad IPv4 address \"192.168.105.256\"");
	load_fail("{\"uplink\": {\"netmask\": \"/24\"}}",
	    "uplink.netmask: bad IPv4 address");
	load_fail("{\"uplink\": {\"pool_start\": \" 192.168.105.2\"}}",
	    "uplink.pool_start: bad IPv4 address");
	load_fail("{\"uplink\": {\"pool_end\": \"192.168.105.254 \"}}",
	    "uplink.pool_end: bad IPv4 address");
	load_fail("{\"default_policy\": {\"allow\": [\"10.0.0.1/8\"]}}",
	    "default_policy.allow[0]: bad allow entry \"10.0.0.1/8\"");
	load_fail("{\"default_policy\": {\"block\": [\"@host\", \"x\"]}}",
	    "default_policy.block[1]: bad block entry \"x\"");
	load_fail(
	    "{\"default_policy\": {\"allow\": [\"10.0.0.0/8,1.0.0.0/8\"]}}",
	    "default_policy.allow[0]: bad allow entry");
}

static void
test_dns(void **state)
{
	struct config cfg;

	(void)state;
	load_fail(
	    "{\"dhcp\": {\"dns\": [\"1.1.1.1\", \"1.1.1.2\", \"1.1.1.3\", "
	    "\"1.1.1.4\", \"1.1.1.5\"]}}",
	    "dhcp.dns: too many addresses (max 4)");
	load_fail("{\"dhcp\": {\"dns\": []}}", "dhcp.dns: expected at least");

	/* The default follows the configured gateway. */
	load_ok(
	    "{\"uplink\": {\"type\": \"tap\", \"gateway\": \"10.1.0.1\", "
	    "\"netmask\": \"255.255.255.0\", \"pool_start\": \"10.1.0.10\", "
	    "\"pool_end\": \"10.1.0.20\"}}",
	    &cfg);
	assert_int_equal(cfg.dhcp.ndns, 1);
	assert_int_equal(cfg.dhcp.dns[0], IP(10, 1, 0, 1));
	config_free(&cfg);

	load_ok("{\"dhcp\": {\"dns\": [\"9.9.9.9\"]}}", &cfg);
	assert_int_equal(cfg.dhcp.ndns, 1);
	assert_int_equal(cfg.dhcp.dns[0], IP(9, 9, 9, 9));
	config_free(&cfg);
}

/* metrics (issue #16): off by default, loopback or a path, remote opt-in. */
static void
test_metrics(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("{}", &cfg);
	assert_null(cfg.metrics.listen);
	config_free(&cfg);
	load_ok("{\"metrics\": {\"listen\": \"127.0.0.1:9419\"}}", &cfg);
	assert_string_equal(cfg.metrics.listen, "127.0.0.1:9419");
	assert_false(cfg.metrics.allow_remote);
	assert_false(cfg.metrics.per_vm);
	config_free(&cfg);
	load_ok("{\"metrics\": {\"listen\": \"/run/m.sock\"}}", &cfg);
	assert_string_equal(cfg.metrics.listen, "/run/m.sock");
	config_free(&cfg);
	load_ok("{\"metrics\": {\"listen\": \"10.0.0.1:80\", "
	        "\"allow_remote\": true}}",
	    &cfg);
	assert_true(cfg.metrics.allow_remote);
	config_free(&cfg);
	load_fail("{\"metrics\": {\"listen\": \"0.0.0.0:9419\"}}",
	    "metrics.listen: 0.0.0.0:9419 is not a loopback address");
	load_fail("{\"metrics\": {\"listen\": \"127.0.0.1:0\"}}",
	    "metrics.listen: expected IPv4:PORT");
	load_fail("{\"metrics\": {\"listen\": \"127.0.0.1:65536\"}}",
	    "metrics.listen: expected IPv4:PORT");
	load_fail("{\"metrics\": {\"listen\": \"localhost:9419\"}}",
	    "metrics.listen: expected IPv4:PORT");
	load_fail("{\"metrics\": {\"listen\": \"127.0.0.1:94x\"}}",
	    "metrics.listen: expected IPv4:PORT");
	load_fail(
	    "{\"metrics\": {\"listen\": 9419}}", "metrics.listen: expected");
	load_fail("{\"metrics\": {\"allow_remote\": 1}}",
	    "metrics.allow_remote: expected true or false");
	load_ok("{\"metrics\": {\"listen\": \"127.0.0.1:9419\", "
	        "\"per_vm\": true}}",
	    &cfg);
	assert_true(cfg.metrics.per_vm);
	config_free(&cfg);
	load_fail("{\"metrics\": {\"listen\": \"127.0.0.1:9419\", "
	          "\"per_vm\": \"yes\"}}",
	    "metrics.per_vm: expected true or false");
	load_fail("{\"metrics\": {\"listen\": \"/run/m.sock\", "
	          "\"per_vm\": true}}",
	    "metrics.per_vm: only for a TCP listener");
	load_fail(
	    "{\"metrics\": {\"port\": 1}}", "unknown key \"metrics.port\"");
	load_fail("{\"metrics\": 1}", "metrics: expected an object");
}

static void
test_uplink_consistency(void **state)
{
	struct config cfg;

	(void)state;
#define UP(body) "{\"uplink\": {\"type\": \"tap\", " body "}}"
	load_fail(UP("\"netmask\": \"255.0.255.0\""),
	    "uplink.netmask: 255.0.255.0: expected a contiguous netmask");
	load_fail(UP("\"netmask\": \"255.255.255.255\""), "uplink.netmask");
	load_fail(UP("\"netmask\": \"0.0.0.0\""), "uplink.netmask");
	/* Shrinking the mask leaves the default pool outside. */
	load_fail(UP("\"netmask\": \"255.255.255.128\""),
	    "uplink.pool_end: 192.168.105.254 is outside 192.168.105.0/25");
	load_fail(UP("\"gateway\": \"10.0.0.1\""),
	    "uplink.pool_start: 192.168.105.2 is outside 10.0.0.0/24");
	load_fail(UP("\"pool_start\": \"192.168.106.2\""),
	    "uplink.pool_start: 192.168.106.2 is outside 192.168.105.0/24");
	load_fail(UP("\"gateway\": \"192.168.105.0\""),
	    "uplink.gateway: 192.168.105.0 is the network address");
	load_fail(UP("\"gateway\": \"192.168.105.255\""),
	    "uplink.gateway: 192.168.105.255 is the broadcast address");
	load_fail(UP("\"pool_start\": \"192.168.105.0\""),
	    "uplink.pool_start: 192.168.105.0 is the network address of "
	    "192.168.105.0/24");
	load_fail(UP("\"pool_end\": \"192.168.105.255\""),
	    "uplink.pool_end: 192.168.105.255 is the broadcast address");
	load_fail(UP("\"pool_start\": \"192.168.105.100\", "
	             "\"pool_end\": \"192.168.105.99\""),
	    "uplink.pool_end: 192.168.105.99 is before pool_start "
	    "192.168.105.100");
	load_fail(UP("\"gateway\": \"192.168.105.5\""),
	    "uplink.gateway: 192.168.105.5 is inside the pool");
	load_fail(UP("\"gateway\": \"192.168.105.254\""),
	    "gateway must not be in the pool");
	/* The gateway may sit above the pool, and the pool may be one IP. */
	load_ok(UP("\"gateway\": \"192.168.105.254\", "
	           "\"pool_start\": \"192.168.105.1\", "
	           "\"pool_end\": \"192.168.105.1\""),
	    &cfg);
	assert_int_equal(cfg.uplink.pool_start, cfg.uplink.pool_end);
	assert_int_equal(cfg.dhcp.dns[0], IP(192, 168, 105, 254));
	config_free(&cfg);
	/* The smallest subnet that fits a gateway and a pool: /30. */
	load_ok(
	    UP("\"gateway\": \"10.0.0.1\", \"netmask\": \"255.255.255.252\", "
	       "\"pool_start\": \"10.0.0.2\", \"pool_end\": \"10.0.0.2\""),
	    &cfg);
	config_free(&cfg);
#undef UP
}

static void
test_uplink_name(void **state)
{
	struct config cfg;

	(void)state;
	load_fail("{\"uplink\": {\"name\": \"\"}}", "uplink.name");
	load_fail("{\"uplink\": {\"name\": \"0123456789abcdef\"}}",
	    "uplink.name: \"0123456789abcdef\": expected 1 to 15 characters");
	load_fail("{\"uplink\": {\"name\": \"tap 0\"}}", "uplink.name");
	load_fail("{\"uplink\": {\"name\": \"tap/0\"}}", "uplink.name");
	load_fail("{\"uplink\": {\"name\": \"t\\u00e4p\"}}", "uplink.name");
	load_fail("{\"uplink\": {\"name\": \"tap\\n\"}}", "uplink.name");
	load_ok("{\"uplink\": {\"name\": \"0123456789abcde\"}}", &cfg);
	assert_string_equal(cfg.uplink.name, "0123456789abcde");
	config_free(&cfg);
}

static void
test_paths(void **state)
{
	char longpath[300], text[400];

	(void)state;
	load_fail_exact("{\"socket\": \"softnetd.sock\"}",
	    "x.json: socket: expected an absolute path");
	load_fail_exact("{\"database\": \"./leases.db\"}",
	    "x.json: database: expected an absolute path");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"socket\": \"%s\"}", longpath);
	load_fail(text, "socket: path longer than");
}

static void
test_vmnet(void **state)
{
	struct config cfg, def;

	(void)state;
	/* No addresses: the platform's pinned subnet, never vmnet's pick
	 * (which bootpd shares with other VMs); its gateway is DNS. */
	load_ok("{\"uplink\": {\"type\": \"vmnet\"}}", &cfg);
	assert_int_equal(cfg.uplink.type, UPLINK_VMNET);
	assert_int_equal(cfg.uplink.mode, UPLINK_MODE_SHARED);
	assert_true(cfg.uplink.have_addrs);
	config_defaults(&def);
	assert_int_equal(cfg.uplink.gateway, def.uplink.gateway);
	assert_int_equal(cfg.uplink.netmask, def.uplink.netmask);
	assert_int_equal(cfg.uplink.pool_start, def.uplink.pool_start);
	assert_int_equal(cfg.uplink.pool_end, def.uplink.pool_end);
	config_free(&def);
	assert_int_equal(cfg.dhcp.ndns, 1);
	assert_int_equal(cfg.dhcp.dns[0], cfg.uplink.gateway);
	config_free(&cfg);

	load_ok("{\"uplink\": {\"type\": \"vmnet\", \"mode\": \"host\", "
	        "\"mtu\": 1400}, \"dhcp\": {\"dns\": [\"1.1.1.1\"]}}",
	    &cfg);
	assert_int_equal(cfg.uplink.mode, UPLINK_MODE_HOST);
	assert_true(cfg.uplink.have_addrs);
	assert_int_equal(cfg.uplink.mtu, 1400);
	assert_int_equal(cfg.dhcp.ndns, 1);
	config_free(&cfg);

	load_ok("{\"uplink\": {\"type\": \"vmnet\", \"gateway\": \"10.9.0.1\", "
	        "\"netmask\": \"255.255.255.0\", \"pool_start\": \"10.9.0.2\", "
	        "\"pool_end\": \"10.9.0.200\"}}",
	    &cfg);
	assert_true(cfg.uplink.have_addrs);
	assert_int_equal(cfg.uplink.gateway, IP(10, 9, 0, 1));
	assert_int_equal(cfg.dhcp.ndns, 1);
	assert_int_equal(cfg.dhcp.dns[0], IP(10, 9, 0, 1));
	config_free(&cfg);

	/* Some but not all: an error naming what is missing. */
	load_fail(
	    "{\"uplink\": {\"type\": \"vmnet\", \"gateway\": \"10.9.0.1\", "
	    "\"netmask\": \"255.255.255.0\"}}",
	    "missing pool_start pool_end)");
	load_fail("{\"uplink\": {\"type\": \"vmnet\", \"pool_end\": "
	          "\"10.9.0.1\"}}",
	    "uplink: with type \"vmnet\" give all or none");
	/* All given, still checked. */
	load_fail(
	    "{\"uplink\": {\"type\": \"vmnet\", \"gateway\": \"10.9.0.1\", "
	    "\"netmask\": \"255.255.255.0\", \"pool_start\": \"10.9.0.2\", "
	    "\"pool_end\": \"10.9.1.200\"}}",
	    "uplink.pool_end: 10.9.1.200 is outside 10.9.0.0/24");
	/* mode is vmnet-only, in whatever order the keys come. */
	load_fail("{\"uplink\": {\"mode\": \"host\", \"type\": \"tap\"}}",
	    "uplink.mode: only valid with type \"vmnet\"");
	/* tap always has addresses, the defaults if none are given. */
	load_ok("{\"uplink\": {\"type\": \"tap\"}}", &cfg);
	assert_true(cfg.uplink.have_addrs);
	assert_int_equal(cfg.dhcp.ndns, 1);
	config_free(&cfg);
}

static void
test_default_policy_limits(void **state)
{
	char text[8192];
	size_t n, i;
	struct config cfg;

	(void)state;
	n = (size_t)snprintf(
	    text, sizeof(text), "{\"default_policy\": {\"block\": [");
	for (i = 0; i <= POLICY_MAX_RULES; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "%s\"10.0.%zu.0/24\"", i ? "," : "", i);
	snprintf(text + n, sizeof(text) - n, "]}}");
	load_fail(text, "default_policy.block[64]: too many");

	load_ok("{\"default_policy\": {\"allow\": [], \"block\": []}}", &cfg);
	assert_int_equal(cfg.default_policy.nrules, 0);
	config_free(&cfg);
}

/* Tiny, missing or NULL error buffers are handled. */
static void
test_error_buffer(void **state)
{
	char small[12];
	struct config cfg;

	(void)state;
	memset(small, 'z', sizeof(small));
	assert_int_equal(config_load_string("{\"uplnk\": 1}", "x.json", &cfg,
	                     small, sizeof(small)),
	    -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(
	    config_load_string("{\"uplnk\": 1}", "x.json", &cfg, NULL, 0), -1);
	assert_int_equal(config_load_string("[", "x.json", &cfg, small, 1), -1);
	assert_string_equal(small, "");
	assert_int_equal(
	    config_load_string(NULL, NULL, &cfg, small, sizeof(small)), -1);
}

/* Feeds one input; must not crash, and must clean up either way. */
static void
feed(const char *text)
{
	char err[CONFIG_ERRLEN];
	struct config cfg;
	size_t i;

	err[0] = '\0';
	if (config_load_string(text, "fuzz", &cfg, err, sizeof(err)) == 0) {
		config_free(&cfg);
		return;
	}
	assert_true(strncmp(err, "fuzz: ", 6) == 0);
	for (i = 0; err[i] != '\0'; i++)
		assert_true((unsigned char)err[i] >= 0x20 && err[i] != 0x7f);
}

static void
test_garbage(void **state)
{
	static const char *const inputs[] = {
	    "\xff\xfe\x00",
	    "{\"\xc3\x28\": 1}",
	    "{\"socket\": \"\xed\xa0\x80\"}",
	    "\"\\ud800\"",
	    "{\"uplink\": {\"gateway\": \"\\u0031.2.3.4\"}}",
	    "{\"dhcp\": {\"dns\": [[], {}, null]}}",
	    "{\"default_policy\": {\"allow\": [\"\"]}}",
	    "{\"default_policy\": {\"allow\": [\":\", \"::\", \"1:\"]}}",
	    "{\"uplink\": {\"name\": \"%s%n%s%n\"}}",
	    "{\"uplink\": {\"gateway\": \"%n%n%n%n\"}}",
	};
	char buf[1024], deep[20001];
	uint32_t seed = 12345;
	size_t i, j, len;

	(void)state;
	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		feed(inputs[i]);

	/* Nesting far beyond jansson's depth limit. */
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	feed(deep);
	memset(deep, '{', sizeof(deep) - 1);
	feed(deep);

	/* Random bytes, and the full file with random bytes replaced. */
	for (i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % (sizeof(buf) - 1);
		if (i % 2 == 0) {
			for (j = 0; j < len; j++) {
				seed = seed * 1103515245u + 12345u;
				buf[j] = (char)((seed >> 16) & 0xff);
				if (buf[j] == '\0')
					buf[j] = '{';
			}
			buf[len] = '\0';
		} else {
			snprintf(buf, sizeof(buf), "%s", full_file);
			len = strlen(buf);
			for (j = 0; j < 3; j++) {
				seed = seed * 1103515245u + 12345u;
				buf[(seed >> 8) % len] =
				    "0123456789.:/\"{}[],x \\-"[(seed >> 20) %
				                                23];
			}
		}
		feed(buf);
	}
}

/* "user": unset by default (stay root), a non-empty string when given. */
static void
test_user(void **state)
{
	struct config cfg;

	(void)state;
	config_defaults(&cfg);
	assert_null(cfg.user);
	config_free(&cfg);
	load_ok("{\"user\": \"softnet\"}", &cfg);
	assert_string_equal(cfg.user, "softnet");
	config_free(&cfg);
	assert_null(cfg.user);
	load_fail("{\"user\": \"\"}", "user: expected a non-empty string");
	load_fail("{\"user\": 0}", "user: expected a non-empty string");
}

/* Control-plane limits: defaults, values, ranges. */
static void
test_limits(void **state)
{
	struct config cfg;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(cfg.max_vms_per_user, 256);
	assert_int_equal(cfg.max_connections, 1024);
	config_free(&cfg);
	load_ok("{\"max_vms_per_user\": 2, \"max_connections\": 8}", &cfg);
	assert_int_equal(cfg.max_vms_per_user, 2);
	assert_int_equal(cfg.max_connections, 8);
	config_free(&cfg);
	load_fail("{\"max_connections\": 0}", "max_connections");
	load_fail("{\"max_vms_per_user\": 70000}", "max_vms_per_user");
	load_fail("{\"max_connections\": \"8\"}", "max_connections");
}

/* bootpd_leases: an absolute path or null; none by default on Linux. */
static void
test_bootpd_leases(void **state)
{
	struct config cfg;

	(void)state;
	config_defaults(&cfg);
	assert_null(cfg.bootpd_leases); /* Linux; macOS: /var/db/dhcpd_leases */
	config_free(&cfg);
	load_ok("{\"bootpd_leases\": \"/tmp/x/dhcpd_leases\"}", &cfg);
	assert_string_equal(cfg.bootpd_leases, "/tmp/x/dhcpd_leases");
	config_free(&cfg);
	load_ok("{\"bootpd_leases\": null}", &cfg);
	assert_null(cfg.bootpd_leases);
	config_free(&cfg);
	load_fail("{\"bootpd_leases\": \"dhcpd_leases\"}",
	    "bootpd_leases: expected an absolute path or null");
	load_fail("{\"bootpd_leases\": \"\"}", "bootpd_leases");
	load_fail("{\"bootpd_leases\": 1}", "bootpd_leases");
}

/* The tenancy keys of "dhcp" (issue 13 items 11-13): defaults and bounds. */
static void
test_dhcp_tenancy_keys(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("{}", &cfg);
	assert_int_equal(cfg.dhcp.max_leases_per_user, 0);
	assert_int_equal(cfg.dhcp.rate, 4);
	assert_int_equal(cfg.dhcp.burst, 8);
	assert_int_equal(cfg.dhcp.max_declined, 4);
	assert_int_equal(cfg.dhcp.lease_retention, 604800);
	config_free(&cfg);
	load_ok("{\"dhcp\": {\"max_leases_per_user\": 10, \"rate\": 2, "
	        "\"burst\": 3, \"max_declined\": 0, \"lease_retention\": 60}}",
	    &cfg);
	assert_int_equal(cfg.dhcp.max_leases_per_user, 10);
	assert_int_equal(cfg.dhcp.rate, 2);
	assert_int_equal(cfg.dhcp.burst, 3);
	assert_int_equal(cfg.dhcp.max_declined, 0);
	assert_int_equal(cfg.dhcp.lease_retention, 60);
	config_free(&cfg);
	load_fail("{\"dhcp\": {\"rate\": 0}}", "dhcp.rate");
	load_fail(
	    "{\"dhcp\": {\"lease_retention\": 59}}", "dhcp.lease_retention");
	load_fail("{\"dhcp\": {\"max_declined\": -1}}", "dhcp.max_declined");
}

/*
 * dhcp.reservations (issue 14): MAC and name entries, inside and outside
 * the pool; each error names the entry, its key and the problem.
 */
static void
test_reservations(void **state)
{
	struct config cfg;

	(void)state;
	load_ok("{}", &cfg);
	assert_int_equal(cfg.dhcp.nreservations, 0);
	assert_null(cfg.dhcp.reservations);
	config_free(&cfg);

	load_ok("{\"dhcp\": {\"reservations\": ["
	        "{\"mac\": \"02:00:00:00:00:0A\", \"ip\": \"192.168.105.20\"},"
	        "{\"name\": \"builder-1\", \"ip\": \"192.168.105.21\"},"
	        "{\"mac\": \"02:00:00:00:00:0b\", \"ip\": \"192.168.104.10\"}"
	        "]}, \"uplink\": {\"netmask\": \"255.255.254.0\"}}",
	    &cfg);
	assert_int_equal(cfg.dhcp.nreservations, 3);
	assert_true(cfg.dhcp.reservations[0].by_mac);
	assert_int_equal(cfg.dhcp.reservations[0].mac[5], 0x0a);
	assert_int_equal(cfg.dhcp.reservations[0].ip, IP(192, 168, 105, 20));
	assert_false(cfg.dhcp.reservations[1].by_mac);
	assert_string_equal(cfg.dhcp.reservations[1].name, "builder-1");
	/* Outside the pool (.2-.254) but a host of the /23: allowed. */
	assert_int_equal(cfg.dhcp.reservations[2].ip, IP(192, 168, 104, 10));
	config_free(&cfg);
	assert_null(cfg.dhcp.reservations);
	config_free(&cfg); /* twice is safe */

	load_fail("{\"dhcp\": {\"reservations\": {}}}",
	    "dhcp.reservations: expected an array");
	load_fail("{\"dhcp\": {\"reservations\": [1]}}",
	    "dhcp.reservations[0]: expected an object");
	load_fail(
	    "{\"dhcp\": {\"reservations\": [{\"ip\": \"192.168.105.9\"}]}}",
	    "dhcp.reservations[0]: give exactly one of \"mac\" and \"name\"");
	load_fail(
	    "{\"dhcp\": {\"reservations\": [{\"mac\": \"02:00:00:00:00:01\", "
	    "\"name\": \"a\", \"ip\": \"192.168.105.9\"}]}}",
	    "give exactly one of");
	load_fail("{\"dhcp\": {\"reservations\": [{\"mac\": "
	          "\"02:00:00:00:00:01\"}]}}",
	    "dhcp.reservations[0]: \"ip\" is missing");
	load_fail(
	    "{\"dhcp\": {\"reservations\": [{\"mac\": \"02:00:00:00:00:01\", "
	    "\"ip\": \"192.168.105.9\", \"user\": \"x\"}]}}",
	    "unknown key \"dhcp.reservations[0].user\"");
	load_fail(
	    "{\"dhcp\": {\"reservations\": [{\"mac\": \"03:00:00:00:00:01\", "
	    "\"ip\": \"192.168.105.9\"}]}}",
	    "dhcp.reservations[0].mac: expected a unicast MAC");
	load_fail("{\"dhcp\": {\"reservations\": [{\"name\": \"123\", "
	          "\"ip\": \"192.168.105.9\"}]}}",
	    "dhcp.reservations[0].name: expected a VM name");
	load_fail("{\"dhcp\": {\"reservations\": [{\"name\": \"a\", "
	          "\"ip\": \"192.168.105.300\"}]}}",
	    "dhcp.reservations[0].ip: bad IPv4 address");
	load_fail("{\"dhcp\": {\"reservations\": [{\"name\": \"a\", \"ip\": "
	          "\"10.0.0.5\"}]}}",
	    "dhcp.reservations[0] (name \"a\"): 10.0.0.5 is not a host "
	    "address of the subnet 192.168.105.0/24");
	load_fail("{\"dhcp\": {\"reservations\": [{\"name\": \"a\", "
	          "\"ip\": \"192.168.105.255\"}]}}",
	    "is not a host address");
	load_fail("{\"dhcp\": {\"reservations\": [{\"name\": \"a\", "
	          "\"ip\": \"192.168.105.0\"}]}}",
	    "is not a host address");
	load_fail(
	    "{\"dhcp\": {\"reservations\": [{\"mac\": \"02:00:00:00:00:01\", "
	    "\"ip\": \"192.168.105.1\"}]}}",
	    "dhcp.reservations[0] (MAC 02:00:00:00:00:01): 192.168.105.1 is "
	    "the gateway");
	load_fail("{\"dhcp\": {\"reservations\": [{\"name\": \"a\", \"ip\": "
	          "\"192.168.105.9\"},"
	          "{\"name\": \"b\", \"ip\": \"192.168.105.9\"}]}}",
	    "dhcp.reservations[1] (name \"b\"): 192.168.105.9 is already "
	    "reserved by entry 0");
	load_fail("{\"dhcp\": {\"reservations\": [{\"name\": \"a\", \"ip\": "
	          "\"192.168.105.9\"},"
	          "{\"name\": \"a\", \"ip\": \"192.168.105.10\"}]}}",
	    "dhcp.reservations[1] (name \"a\"): the same name as entry 0");
	load_fail(
	    "{\"dhcp\": {\"reservations\": ["
	    "{\"mac\": \"02:00:00:00:00:01\", \"ip\": \"192.168.105.9\"},"
	    "{\"mac\": \"02:00:00:00:00:01\", \"ip\": \"192.168.105.10\"}]}}",
	    "dhcp.reservations[1] (MAC 02:00:00:00:00:01): the same MAC as "
	    "entry 0");
}

/*
 * What the uplink is handed: the config's uplink object field by field,
 * mode and -B (no_offload) turned into the backend's own flags.
 */
static void
test_uplink_settings(void **state)
{
	struct config cfg;
	struct uplink_settings s;

	(void)state;
	load_ok("{\"uplink\": {\"type\": \"tap\", \"name\": \"sn7\", "
	        "\"gateway\": \"10.9.0.1\", \"netmask\": \"255.255.0.0\", "
	        "\"pool_start\": \"10.9.0.10\", \"pool_end\": \"10.9.1.20\", "
	        "\"mtu\": 1400}}",
	    &cfg);
	softnetd_uplink_settings(&cfg, &s);
	assert_string_equal(s.name, "sn7");
	assert_false(s.host_mode);
	assert_true(s.offload);
	assert_int_equal(s.gateway, 0x0a090001);
	assert_int_equal(s.netmask, 0xffff0000);
	assert_int_equal(s.pool_start, 0x0a09000a);
	assert_int_equal(s.pool_end, 0x0a090114);
	assert_int_equal(s.mtu, 1400);
	cfg.uplink.no_offload = true; /* main.c: -B */
	softnetd_uplink_settings(&cfg, &s);
	assert_false(s.offload);
	config_free(&cfg);

	load_ok(
	    "{\"uplink\": {\"type\": \"vmnet\", \"mode\": \"host\"}}", &cfg);
	softnetd_uplink_settings(&cfg, &s);
	assert_true(s.host_mode);
	assert_int_equal(s.gateway, cfg.uplink.gateway);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dhcp_tenancy_keys),
	    cmocka_unit_test(test_reservations),
	    cmocka_unit_test(test_bootpd_leases),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_empty_object_is_defaults),
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_top_level_not_object),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_duplicate_keys),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_bad_addresses),
	    cmocka_unit_test(test_dns),
	    cmocka_unit_test(test_uplink_consistency),
	    cmocka_unit_test(test_uplink_name),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_vmnet),
	    cmocka_unit_test(test_uplink_settings),
	    cmocka_unit_test(test_default_policy_limits),
	    cmocka_unit_test(test_error_buffer),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_user),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_dhcp_names),
	    cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
