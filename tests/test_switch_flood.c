/*
 * Theory of operation: a VM (or a client) that can make softnetd log a
 * warning per event could fill the log disk (issue #13 item 7: "repeated
 * log lines are rate-limited everywhere"). These tests drive such events
 * through the real switch and port code against a hand-built daemon
 * context (tests/testd.c) whose lease database is made to fail, and count
 * the lines that reach stderr (redirected to a file): a flood of
 * thousands of events must cost a handful of lines, the rest counted in
 * log_suppressed (status "log_suppressed").
 *
 * The database fails for real: it lives in a file, and a second sqlite
 * connection renames its tables away under it, so every statement of
 * leasedb.c errors at once (no lock is held, so no busy wait either).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "clock.h"
#include "config.h"
#include "dhcp.h"
#include "leasedb.h"
#include "log.h"
#include "pkt.h"
#include "port.h"
#include "softnetd.h"
#include "switch.h"
#include "testd.h"
#include "vm.h"

#define FLOOD 2000 /* events per test: far past any burst */
/*
 * Lines one flood may cost: a burst (and a "suppressed" note) from each of
 * the two call sites an event meets, leasedb.c's and its caller's.
 */
#define MAX_LINES (2 * (LOG_RL_BURST + 1))

/* The daemon's clock (fixed: the log limiter uses the real one). */
static int64_t
test_now(void)
{
	return 1700000000;
}

static struct softnetd sd;
static char dbpath[64];
static const uint8_t gw_mac[6] = {0x02, 0x5e, 0, 0, 0, 1};

/* Writes a big-endian 32-bit value. */
static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A broadcast DHCPDISCOVER from mac; returns the frame length. */
static size_t
discover(uint8_t *buf, size_t cap, const uint8_t mac[6])
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t *b = buf + PKT_UDP4_HLEN;
	struct pkt_udp4_addr a;
	size_t n;

	assert_true(cap >= PKT_UDP4_HLEN + 300);
	memset(b, 0, 300);
	b[0] = 1; /* BOOTREQUEST, Ethernet, hlen 6 */
	b[1] = 1;
	b[2] = 6;
	put32(b + 4, 0xf100d001);
	memcpy(b + 28, mac, 6);
	put32(b + 236, 0x63825363);
	b[240] = 53; /* DHCP message type: DISCOVER */
	b[241] = 1;
	b[242] = DHCP_DISCOVER;
	b[243] = 255;
	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, mac, 6);
	memcpy(a.dst_mac, bcast, 6);
	a.dst_ip = 0xffffffff;
	a.sport = PKT_PORT_DHCP_CLIENT;
	a.dport = PKT_PORT_DHCP_SERVER;
	n = pkt_build_udp4(buf, cap, &a, 300);
	assert_int_equal(n, PKT_UDP4_HLEN + 300);
	return n;
}

/* Attaches a socketpair VM with the last MAC byte i (owner uid 1000). */
static struct port *
attach_vm(uint8_t i)
{
	uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x0f, i};
	struct vm_attach_args a;
	enum vm_err verr;
	char msg[256];
	struct port *p;

	memset(&a, 0, sizeof(a));
	a.fd = testd_pair(SOCK_DGRAM, NULL);
	a.kind = OSDEP_FD_DGRAM;
	memcpy(a.mac, mac, 6);
	a.owner = 1000;
	p = vm_attach(&sd, &a, &verr, msg, sizeof(msg));
	if (p == NULL)
		print_error("vm_attach: %s: %s\n", vm_err_code(verr), msg);
	assert_non_null(p);
	return p;
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

/*
 * A daemon whose lease database is a file (so a second connection can
 * break it), with the per-VM DHCP rate out of the way: the flood must
 * reach the database, which is what the rate limit normally prevents.
 */
static int
setup(void **state)
{
	char err[256];
	int fd;

	(void)state;
	testd_open(&sd, gw_mac);
	leasedb_close(sd.db);
	snprintf(dbpath, sizeof(dbpath), "/tmp/test_switch_flood.XXXXXX");
	assert_true((fd = mkstemp(dbpath)) != -1);
	close(fd);
	unlink(dbpath);
	sd.db = leasedb_open(dbpath, sd.up.pool_start, sd.up.pool_end,
	    sd.up.gateway, err, sizeof(err));
	if (sd.db == NULL)
		print_error("leasedb_open: %s\n", err);
	assert_non_null(sd.db);
	sd.cfg.dhcp.rate = 1000000;
	sd.cfg.dhcp.burst = 1000000;
	return 0;
}

static int
teardown(void **state)
{
	char path[80];

	(void)state;
	testd_close(&sd);
	unlink(dbpath);
	snprintf(path, sizeof(path), "%s-wal", dbpath);
	unlink(path);
	snprintf(path, sizeof(path), "%s-shm", dbpath);
	unlink(path);
	return 0;
}

/* Lines written to stderr by fn(p), read back from a temporary file. */
static int
lines_of(void (*fn)(struct port *), struct port *p)
{
	char path[] = "/tmp/test_switch_flood.log.XXXXXX", buf[1 << 16];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO), n = 0;
	ssize_t len, i;

	assert_true(fd != -1 && saved != -1);
	unlink(path);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	fn(p);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	len = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	assert_true(len >= 0 && len < (ssize_t)sizeof(buf));
	for (i = 0; i < len; i++)
		if (buf[i] == '\n')
			n++;
	return n;
}

/* A guest's DISCOVER flood, each meeting the broken database. */
static void
discover_flood(struct port *p)
{
	uint8_t f[1024];
	size_t len = discover(f, sizeof(f), p->mac);
	int i;

	for (i = 0; i < FLOOD; i++)
		switch_from_vm(&sd, p, f, len);
}

/*
 * Every DHCP message a VM sends while the database fails is an event the
 * VM repeats at will: a burst of lines, then silence, all counted (each
 * message fails in leasedb.c and again in the switch: two per event).
 */
static void
test_dhcp_db_errors_bounded(void **state)
{
	struct port *p;
	uint64_t before;
	int n;

	(void)state;
	p = attach_vm(1);
	break_db();
	before = log_suppressed();
	n = lines_of(discover_flood, p);
	assert_true(n >= 1);
	assert_true(n <= MAX_LINES);
	assert_true(log_suppressed() - before >= (uint64_t)(2 * FLOOD - n));
}

/* Detaches everything attached (each detach writes the database). */
static void
detach_all(struct port *unused)
{
	struct port *p;

	(void)unused;
	while ((p = TAILQ_FIRST(port_all(&sd))) != NULL)
		vm_detach(&sd, p);
}

/*
 * A client that attaches and detaches in a loop repeats the detach's
 * database error once per VM: bounded the same way.
 */
static void
test_detach_db_errors_bounded(void **state)
{
	uint64_t before;
	int i, n;

	(void)state;
	for (i = 0; i < 200; i++)
		attach_vm((uint8_t)i);
	break_db();
	before = log_suppressed();
	n = lines_of(detach_all, NULL);
	/* Two lines each, "detached vm" (the audit trail) and its "event"
	 * line (events.c), plus the bounded database errors. */
	assert_true(n >= 2 * 200 + 1);
	assert_true(n <= 2 * 200 + MAX_LINES);
	assert_true(log_suppressed() - before >= 200 - LOG_RL_BURST - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_dhcp_db_errors_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_detach_db_errors_bounded, setup, teardown),
	};

	clock_set_hook(test_now, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
