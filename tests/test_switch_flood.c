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
 *
 * Fair share under a frame flood (issue 18), through the real event loop
 * with VMs on socket pairs: a VM over its vm_limits is not read at all
 * until its bucket refills, so its excess waits in its own socket (the
 * kernel's queue, at its cost) and softnetd spends no read, parse or drop
 * on it, while a neighbour's frames go through in the same wakeups. The
 * port layer reaches the switch only through the handlers switch_init
 * registers.
 */
#include <errno.h>
#include <event2/event.h>
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
#include "filter.h"
#include "leasedb.h"
#include "log.h"
#include "pkt.h"
#include "port.h"
#include "rate.h"
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

#define FAIR_FLOOD  300  /* frames the flooder sends: far past its burst */
#define FAIR_VICTIM 10   /* frames the victim sends meanwhile */
#define FAIR_LIMIT  1000 /* the flooder's frames per second: a burst of 64 */

static const uint8_t fmac1[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t fmac2[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

/* A VM: its port and the test's end of its socket pair. */
struct vm {
	struct port *p;
	int peer;
};

static struct vm flooder, victim;

/* Attaches a VM with mac over a fresh socket pair. */
static void
fair_attach(struct vm *v, const uint8_t *mac)
{
	struct vm_attach_args a;
	enum vm_err verr = VM_OK;
	char msg[256];

	memset(&a, 0, sizeof(a));
	a.fd = testd_pair(SOCK_DGRAM, &v->peer);
	a.kind = OSDEP_FD_DGRAM;
	memcpy(a.mac, mac, 6);
	a.owner = 1000;
	v->p = vm_attach(&sd, &a, &verr, msg, sizeof(msg));
	if (v->p == NULL)
		print_error("vm_attach: %s: %s\n", vm_err_code(verr), msg);
	assert_non_null(v->p);
}

/*
 * Offers n 64-byte frames from mac on v (to the gateway, an empty IPv4
 * header: dropped as a runt) without blocking; returns how many the
 * socket took (its queue holds net.unix.max_dgram_qlen, often 10).
 */
static int
offer(struct vm *v, const uint8_t *mac, int n)
{
	uint8_t f[64];
	int i;

	memset(f, 0, sizeof(f));
	memcpy(f, gw_mac, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	for (i = 0; i < n; i++) {
		if (send(v->peer, f, sizeof(f), MSG_DONTWAIT) == -1) {
			assert_true(errno == EAGAIN || errno == ENOBUFS);
			break;
		}
	}
	return i;
}

/* Issue 18: a daemon and two VMs, the flooder limited to FAIR_LIMIT/s. */
static int
fair_setup(void **state)
{
	(void)state;
	testd_open(&sd, gw_mac);
	sd.cfg.vm_limits.tx.frames_per_sec = FAIR_LIMIT;
	sd.cfg.vm_limits.tx.bytes_per_sec = 0;
	fair_attach(&flooder, fmac1);
	fair_attach(&victim, fmac2);
	return 0;
}

static int
fair_teardown(void **state)
{
	(void)state;
	testd_close(&sd);
	return 0;
}

/* Turns the loop without blocking until nothing more happens. */
static void
spin(int rounds)
{
	int i;

	for (i = 0; i < rounds; i++)
		assert_int_equal(event_base_loop(sd.base, EVLOOP_NONBLOCK), 0);
}

/*
 * A flooder past its limit is not read: it offers FAIR_FLOOD frames a
 * turn of the loop, far past its burst, and softnetd reads its burst and
 * what refills, never reading and dropping the rest (that stays in, or
 * never gets into, its own socket), while the victim's frames are read
 * in the same wakeups.
 */
static void
test_excess_left_unread(void **state)
{
	int r, sent = 0;

	(void)state;
	for (r = 0; r < 50; r++) {
		offer(&flooder, fmac1, FAIR_FLOOD);
		if (r < FAIR_VICTIM)
			sent += offer(&victim, fmac2, 1);
		spin(2);
	}
	assert_int_equal(sent, FAIR_VICTIM);
	assert_int_equal(victim.p->st.tx_frames, FAIR_VICTIM);
	/* The burst (64), and what refilled while the test ran. */
	assert_true(flooder.p->st.tx_frames >= 64);
	assert_true(flooder.p->st.tx_frames < FAIR_FLOOD);
	assert_int_equal(flooder.p->st.drops[DROP_RATE_LIMIT], 0);
	assert_true(flooder.p->st.read_pauses >= 1);
	assert_int_equal(victim.p->st.read_pauses, 0);
}

/*
 * A paused flooder is read again when its bucket refills, and what it
 * manages to queue is read at its rate in the end: nothing read is
 * dropped over the limit.
 */
static void
test_paused_port_resumes(void **state)
{
	int i, sent = 0;

	(void)state;
	for (i = 0; i < 10000 && flooder.p->st.tx_frames < FAIR_FLOOD; i++) {
		if (sent < FAIR_FLOOD)
			sent += offer(&flooder, fmac1, FAIR_FLOOD - sent);
		assert_int_equal(event_base_loop(sd.base, EVLOOP_ONCE), 0);
	}
	assert_int_equal(flooder.p->st.tx_frames, FAIR_FLOOD);
	assert_int_equal(flooder.p->st.drops[DROP_RATE_LIMIT], 0);
	assert_true(flooder.p->st.read_pauses >= 2);
	assert_true(flooder.p->st.read_paused_us > 0);
}

/* Without a limit, nobody is paused by the bucket. */
static void
test_unlimited_not_paused(void **state)
{
	int r, sent = 0;

	(void)state;
	sd.cfg.vm_limits.tx.frames_per_sec = 0;
	for (r = 0; r < 50; r++) {
		sent += offer(&flooder, fmac1, FAIR_FLOOD);
		spin(2);
	}
	assert_int_equal(flooder.p->st.tx_frames, sent);
	assert_int_equal(flooder.p->st.read_pauses, 0);
}

static int readable_calls;

/* A stand-in for the switch's readable handler. */
static void
count_readable(struct softnetd *d, struct port *p)
{
	char buf[64];

	(void)d;
	readable_calls++;
	while (recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* The port layer dispatches to the handler registered, not the switch. */
static void
test_handlers_dispatch(void **state)
{
	static const struct port_handlers h = {count_readable, NULL};

	(void)state;
	port_set_handlers(&sd, &h);
	assert_int_equal(offer(&victim, fmac2, 3), 3);
	spin(5);
	assert_int_equal(readable_calls, 1);
	assert_int_equal(victim.p->st.tx_frames, 0);
}

/* The clock rule (issue 18): its window and the VMs' shares. */
#define CLOCK_WINDOW 2000000 /* SW_FAIR_WINDOW */
#define CLOCK_BASE   2       /* SW_CLOCK_BASE */
#define CLOCK_ROUNDS 40      /* windows a test runs for */
#define CLOCK_OFFER  20      /* frames the flooder offers a window */

/* The loop's monotonic clock in these tests, moved a window a round. */
static uint64_t test_mono_ns = 5000000000u;

static uint64_t
test_mono(void)
{
	return test_mono_ns;
}

/* A loop thread that ran or waited the whole time: saturated. */
static uint64_t
demand_saturated(void)
{
	return test_mono_ns;
}

static int
clock_setup(void **state)
{
	test_mono_ns = 5000000000u;
	clock_set_hook(test_now, test_mono);
	testd_demand = demand_saturated;
	fair_setup(state);
	/* No bucket: the clock rule alone. */
	sd.cfg.vm_limits.tx.frames_per_sec = 0;
	return 0;
}

static int
clock_teardown(void **state)
{
	fair_teardown(state);
	testd_demand = testd_never_saturated;
	clock_set_hook(test_now, NULL);
	return 0;
}

/*
 * Runs CLOCK_ROUNDS windows: in each the flooder offers CLOCK_OFFER, the
 * victim (unless quiet) sends one frame, the flooder is sent answered
 * frames (rx_frames is what the rule reads), and the loop turns. The real
 * sleep lets a pause's timer (real time) end. Returns frames offered.
 */
static int
clock_run(bool victim_sends, uint64_t answered)
{
	int r, offered = 0;

	for (r = 0; r < CLOCK_ROUNDS; r++) {
		test_mono_ns += CLOCK_WINDOW;
		offered += offer(&flooder, fmac1, CLOCK_OFFER);
		if (victim_sends)
			assert_int_equal(offer(&victim, fmac2, 1), 1);
		flooder.p->st.rx_frames += answered;
		spin(3);
		usleep(2500);
		spin(3);
	}
	return offered;
}

/*
 * While the loop is saturated and another VM uses it, a VM sent nothing
 * back reads no more than CLOCK_BASE frames a window, the rest left in
 * its own socket; the neighbour's one frame a window is read every time.
 */
static void
test_clock_rule_holds_flood(void **state)
{
	const struct sw_stats *st;
	int offered;

	(void)state;
	offered = clock_run(true, 0);
	st = switch_stats(&sd);
	assert_int_equal(victim.p->st.tx_frames, CLOCK_ROUNDS);
	assert_true(st->fair_saturated >= CLOCK_ROUNDS - 1);
	assert_true(st->clock_pauses >= 1);
	/* The first window runs before the rule holds. */
	assert_true(flooder.p->st.tx_frames <=
	            (uint64_t)(CLOCK_BASE * CLOCK_ROUNDS + CLOCK_OFFER));
	/* Held, not starved (a late pause timer on a slow machine only
	 * makes it fewer). */
	assert_true(flooder.p->st.tx_frames >= CLOCK_BASE);
	assert_true((uint64_t)offered > flooder.p->st.tx_frames);
}

/* A VM that is answered (TCP, QUIC, DNS) keeps its pace under the rule. */
static void
test_clock_rule_spares_answered(void **state)
{
	int offered;

	(void)state;
	/* 8 per answered frame: 3 answered cover CLOCK_OFFER. */
	offered = clock_run(true, 3);
	assert_int_equal(offered, CLOCK_ROUNDS * CLOCK_OFFER);
	assert_int_equal(flooder.p->st.tx_frames, offered);
	assert_int_equal(switch_stats(&sd)->clock_pauses, 0);
}

/* A loop with room (not saturated) holds nobody to the rule. */
static void
test_clock_rule_needs_saturation(void **state)
{
	int offered;

	(void)state;
	switch_set_demand_hook(testd_never_saturated);
	offered = clock_run(true, 0);
	assert_int_equal(flooder.p->st.tx_frames, offered);
	assert_int_equal(switch_stats(&sd)->clock_pauses, 0);
	assert_int_equal(switch_stats(&sd)->fair_saturated, 0);
}

/* A VM alone in a saturated loop would only be waiting for itself. */
static void
test_clock_rule_spares_lone_vm(void **state)
{
	int offered;

	(void)state;
	offered = clock_run(false, 0);
	assert_int_equal(flooder.p->st.tx_frames, offered);
	assert_int_equal(switch_stats(&sd)->clock_pauses, 0);
}

/* rate_room and rate_wait: room in whole frames, the wait to a batch. */
static void
test_rate_room_wait(void **state)
{
	struct rate_limit lim = {1000, 0, 0};
	struct rate r;
	int i;

	(void)state;
	rate_init(&r, &lim, 0);
	assert_int_equal(rate_room(&r, &lim, 32, 0, 0), 32);
	for (i = 0; i < 64; i++)
		assert_true(rate_take(&r, &lim, 64, 0));
	assert_int_equal(rate_room(&r, &lim, 32, 0, 0), 0);
	/* 32 frames at 1000/s: 32 ms, rounded up. */
	assert_true(rate_wait(&r, &lim, 32, 0, 0) >= 32000000);
	assert_true(rate_wait(&r, &lim, 32, 0, 0) <= 32002000);
	assert_int_equal(rate_room(&r, &lim, 32, 0, 10000000), 10);
	assert_int_equal(rate_wait(&r, &lim, 10, 0, 10000000), 0);
	/* A byte bucket short of the minimum gives no room. */
	lim = (struct rate_limit){0, 1000, 0};
	rate_init(&r, &lim, 0);
	assert_true(rate_take(&r, &lim, 128 * 1024, 0));
	assert_int_equal(rate_room(&r, &lim, 32, 14, 0), 0);
	assert_true(rate_wait(&r, &lim, 1, 1514, 0) > 1000000000);
	/* Unlimited: always room, never a wait. */
	lim = (struct rate_limit){0, 0, 0};
	assert_int_equal(rate_room(&r, &lim, 32, 1514, 0), 32);
	assert_int_equal(rate_wait(&r, &lim, 32, 1514, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_dhcp_db_errors_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_detach_db_errors_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_excess_left_unread, fair_setup, fair_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_paused_port_resumes, fair_setup, fair_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_unlimited_not_paused, fair_setup, fair_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_handlers_dispatch, fair_setup, fair_teardown),
	    cmocka_unit_test(test_rate_room_wait),
	    cmocka_unit_test_setup_teardown(
	        test_clock_rule_holds_flood, clock_setup, clock_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_clock_rule_spares_answered, clock_setup, clock_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_clock_rule_needs_saturation, clock_setup, clock_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_clock_rule_spares_lone_vm, clock_setup, clock_teardown),
	};

	clock_set_hook(test_now, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
