/*
 * Packet capture (capture.c, issue #16): the pcapng blocks byte for byte,
 * then real capture sessions driven through the "capture" op and the
 * switch on a hand-built daemon context: the frames come out of the
 * socket the reply carried, who may capture what, the limits, a reader
 * that never reads losing frames (counted, whole blocks only), the
 * periodic statistics blocks, and the ways a capture ends.
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
#include <jansson.h>

#include "capture.h"
#include "ctl_ops.h"
#include "pkt.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "testd.h"

#define MAC_A "02:00:00:00:00:0a"
#define MAC_B "02:00:00:00:00:0b"

static struct softnetd sd;
static const struct ctl_peer root_peer = {0, 0, true};
static const struct ctl_peer alice = {1000, 1000, false};
static const struct ctl_peer bob = {1001, 1001, false};
static int session_a, session_b; /* connections, by address */

static const uint8_t mac_a[6] = {2, 0, 0, 0, 0, 0x0a};

/* ---- pcapng encoding ------------------------------------------------- */

/* The SHB: little-endian, 1.0, section length unknown. */
static void
test_shb_bytes(void **state)
{
	static const uint8_t want[CAPTURE_SHB_LEN] = {0x0a, 0x0d, 0x0d, 0x0a,
	    28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0};
	uint8_t buf[64];

	(void)state;
	assert_int_equal(capture_pcapng_shb(buf, sizeof(buf)), 28);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(capture_pcapng_shb(buf, 27), 0);
}

/* The IDB: Ethernet, snaplen, if_name padded, if_tsresol 9. */
static void
test_idb_bytes(void **state)
{
	static const uint8_t want[40] = {1, 0, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0,
	    0x0e, 0, 1, 0,                      /* snaplen 65550 */
	    2, 0, 3, 0, 'v', 'm', '1', 0,       /* if_name */
	    9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, /* if_tsresol, end */
	    40, 0, 0, 0};
	uint8_t buf[128];

	(void)state;
	assert_int_equal(
	    capture_pcapng_idb(buf, sizeof(buf), 65550, "vm1"), 40);
	assert_memory_equal(buf, want, sizeof(want));
	/* No name: no if_name option. */
	assert_int_equal(capture_pcapng_idb(buf, sizeof(buf), 65550, ""), 32);
	assert_int_equal(buf[16], 9);
	assert_int_equal(capture_pcapng_idb(buf, 39, 65550, "vm1"), 0);
}

/* An EPB of 5 bytes, outbound, with a comment: head, padding, options. */
static void
test_epb_bytes(void **state)
{
	static const uint8_t head_want[28] = {6, 0, 0, 0, 72, 0, 0, 0, 0, 0, 0,
	    0, 0x01, 0, 0, 0, 0x02, 0, 0, 0, /* ts 0x1_00000002 */
	    5, 0, 0, 0, 5, 0, 0, 0};
	static const uint8_t tail_want[39] = {0, 0, 0, /* data padding */
	    2, 0, 4, 0, 2, 0, 0, 0,                    /* epb_flags: out */
	    1, 0, 14, 0, 'd', 'r', 'o', 'p', ':', ' ', 'i', 'p', '_', 's', 'p',
	    'o', 'o', 'f', 0, 0, /* opt_comment, padded */
	    0, 0, 0, 0,          /* end of options */
	    72, 0, 0, 0};
	uint8_t head[28], tail[CAPTURE_EPB_OVERHEAD];
	size_t tail_len;

	(void)state;
	assert_int_equal(
	    capture_pcapng_epb(head, sizeof(head), tail, sizeof(tail),
	        &tail_len, 0x100000002ull, 5, CAPTURE_OUT, "drop: ip_spoof"),
	    28);
	assert_memory_equal(head, head_want, sizeof(head_want));
	assert_int_equal(tail_len, sizeof(tail_want));
	assert_memory_equal(tail, tail_want, sizeof(tail_want));
	/* Inbound, no comment, 4-byte aligned data: flags 01, no padding. */
	capture_pcapng_epb(head, sizeof(head), tail, sizeof(tail), &tail_len, 0,
	    8, CAPTURE_IN, NULL);
	assert_int_equal(tail_len, 8 + 4 + 4);
	assert_int_equal(tail[0], 2);
	assert_int_equal(tail[4], 1);
	assert_int_equal(head[4], 28 + 8 + 16);
}

/* The ISB: isb_ifdrop, 64 bits little-endian. */
static void
test_isb_bytes(void **state)
{
	static const uint8_t want[CAPTURE_ISB_LEN] = {5, 0, 0, 0, 40, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 5, 0, 8, 0, 0x34, 0x12, 0, 0, 1,
	    0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0};
	uint8_t buf[64];

	(void)state;
	assert_int_equal(
	    capture_pcapng_isb(buf, sizeof(buf), 7, 0x100001234ull),
	    CAPTURE_ISB_LEN);
	assert_memory_equal(buf, want, sizeof(want));
}

/* ---- sessions ----------------------------------------------------------- */

static int
setup(void **state)
{
	static const uint8_t upmac[6] = {0x02, 0x5e, 0, 0, 0, 1};

	(void)state;
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

/* Sends one request; returns the reply, *rfd the descriptor it carried. */
static json_t *
call(const struct ctl_peer *peer, const char *line, int fd, void *session,
    int *rfd)
{
	json_t *r =
	    ctl_ops_request_fd(&sd, peer, line, strlen(line), fd, session, rfd);

	assert_non_null(r);
	return r;
}

/* The error code of a reply ("" when ok). */
static const char *
code(json_t *r)
{
	const char *c = json_string_value(
	    json_object_get(json_object_get(r, "error"), "code"));

	return c != NULL ? c : "";
}

/* Attaches a VM named name with mac as peer; returns its port. */
static struct port *
attach(const struct ctl_peer *peer, const char *name, const char *mac)
{
	char line[256];
	json_t *r;
	int rfd;

	snprintf(line, sizeof(line),
	    "{\"op\":\"attach\",\"mac\":\"%s\",\"name\":\"%s\"}", mac, name);
	r = call(peer, line, testd_pair(SOCK_DGRAM, NULL), NULL, &rfd);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(rfd, -1);
	json_decref(r);
	return port_by_owner_name(&sd, (int64_t)peer->uid, name);
}

/* Starts a capture; the reader's fd, or -1 with *err the code. */
static int
start(const struct ctl_peer *peer, const char *vm, const char *extra,
    void *session, char *err)
{
	char line[256];
	json_t *r;
	int rfd;

	snprintf(line, sizeof(line), "{\"op\":\"capture\",\"vm\":\"%s\"%s}", vm,
	    extra);
	r = call(peer, line, -1, session, &rfd);
	snprintf(err, 32, "%s", code(r));
	if (json_is_true(json_object_get(r, "ok")))
		assert_true(rfd >= 0);
	else
		assert_int_equal(rfd, -1);
	json_decref(r);
	return rfd;
}

/* A 60-byte frame from mac_a: IPv6 (dropped, "ipv6") or an ARP probe. */
static size_t
frame(uint8_t *buf, bool ipv6, size_t len)
{
	struct pkt_arp_fields f = {.op = PKT_ARP_REQUEST, .tpa = 0xc0a86901};

	if (!ipv6) {
		memset(f.dst_mac, 0xff, 6);
		memcpy(f.sha, mac_a, 6);
		return pkt_build_arp(buf, 64, &f);
	}
	memset(buf, 0, len);
	memset(buf, 0xff, 6);
	memcpy(buf + 6, mac_a, 6);
	buf[12] = 0x86;
	buf[13] = 0xdd;
	return len;
}

/* Reads what the reader end holds now (non-blocking), up to cap. */
static size_t
drain(int fd, uint8_t *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (
	    len < cap && (n = recv(fd, buf + len, cap - len, MSG_DONTWAIT)) > 0)
		len += (size_t)n;
	return len;
}

/* A little-endian 32-bit value. */
static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * Walks the blocks of a stream: all whole, none torn; counts the EPBs
 * and returns the offset of the last one's start in *last.
 */
static unsigned
walk(const uint8_t *buf, size_t len, size_t *last)
{
	size_t o = 0;
	unsigned epbs = 0;

	while (o < len) {
		assert_true(len - o >= 12);
		assert_true(le32(buf + o + 4) % 4 == 0);
		assert_true(o + le32(buf + o + 4) <= len);
		assert_int_equal(
		    le32(buf + o + le32(buf + o + 4) - 4), le32(buf + o + 4));
		if (le32(buf + o) == 6) {
			epbs++;
			*last = o;
		}
		o += le32(buf + o + 4);
	}
	return epbs;
}

/* The owner captures: SHB, IDB, then its frames after the verdict. */
static void
test_capture_frames(void **state)
{
	static uint8_t buf[4096];
	uint8_t f[64];
	char err[32];
	struct port *p;
	size_t len, last = 0, n;
	int rfd;

	(void)state;
	p = attach(&alice, "vm1", MAC_A);
	assert_null(p->captures);
	rfd = start(&alice, "vm1", ",\"drops\":true", &session_a, err);
	assert_non_null(p->captures);
	n = frame(f, false, 0);
	switch_from_vm(&sd, p, f, n); /* passes (to the uplink) */
	switch_from_vm(&sd, p, f, frame(f, true, 60)); /* ipv6: dropped */
	len = drain(rfd, buf, sizeof(buf));
	assert_int_equal(le32(buf), 0x0a0d0d0a);
	assert_int_equal(le32(buf + 28), 1); /* IDB */
	assert_int_equal(walk(buf, len, &last), 2);
	/* The last EPB: the IPv6 frame, out, "drop: ipv6". */
	assert_int_equal(le32(buf + last + 20), 60);
	assert_memory_equal(buf + last + 28 + 6, mac_a, 6);
	assert_int_equal(le32(buf + last + 28 + 60 + 4), 2); /* flags: out */
	assert_memory_equal(buf + last + 28 + 60 + 12, "drop: ipv6", 10);
	assert_int_equal(capture_count(&sd), 1);
	close(rfd);
}

/* Without "drops", dropped frames stay out; "direction" filters. */
static void
test_capture_filters(void **state)
{
	static uint8_t buf[4096];
	uint8_t f[64];
	char err[32];
	struct port *p;
	size_t last;
	int rfd, rin;

	(void)state;
	p = attach(&alice, "vm1", MAC_A);
	rfd = start(&alice, "vm1", "", &session_a, err);
	rin = start(&alice, "vm1", ",\"direction\":\"in\"", &session_a, err);
	switch_from_vm(&sd, p, f, frame(f, true, 60));
	switch_from_vm(&sd, p, f, frame(f, false, 0));
	assert_int_equal(walk(buf, drain(rfd, buf, sizeof(buf)), &last), 1);
	assert_int_equal(le32(buf + last + 20), PKT_ARP_FRAME_LEN);
	assert_int_equal(walk(buf, drain(rin, buf, sizeof(buf)), &last), 0);
	assert_int_equal(
	    start(&alice, "vm1", ",\"direction\":\"up\"", &session_a, err), -1);
	assert_string_equal(err, SOFTNET_E_BAD_REQUEST);
	close(rfd);
	close(rin);
}

/* Another user's VM answers as a missing one; limits give "busy". */
static void
test_capture_who_and_limits(void **state)
{
	char err[32];
	int fds[8], n = 0;

	(void)state;
	sd.cfg.max_captures = 4;
	attach(&alice, "vm1", MAC_A);
	attach(&bob, "vm2", MAC_B);
	assert_int_equal(start(&bob, "vm1", "", &session_b, err), -1);
	assert_string_equal(err, SOFTNET_E_NOT_FOUND);
	assert_int_equal(start(&bob, MAC_A, "", &session_b, err), -1);
	assert_string_equal(err, SOFTNET_E_NOT_FOUND);
	assert_int_equal(start(&alice, "nosuch", "", &session_a, err), -1);
	assert_string_equal(err, SOFTNET_E_NOT_FOUND);
	/* Per user: 2. */
	fds[n++] = start(&alice, "vm1", "", &session_a, err);
	fds[n++] = start(&alice, "vm1", "", &session_a, err);
	assert_int_equal(start(&alice, "vm1", "", &session_a, err), -1);
	assert_string_equal(err, SOFTNET_E_BUSY);
	/* In total: 4, the last kept for root and admin_group. */
	fds[n++] = start(&bob, "vm2", "", &session_b, err);
	assert_true(fds[n - 1] >= 0);
	assert_int_equal(start(&bob, "vm2", "", &session_b, err), -1);
	assert_string_equal(err, SOFTNET_E_BUSY);
	fds[n++] = start(&root_peer, "vm1", "", &session_b, err);
	assert_true(fds[n - 1] >= 0);
	assert_int_equal(start(&root_peer, "vm2", "", &session_b, err), -1);
	assert_string_equal(err, SOFTNET_E_BUSY);
	assert_int_equal(capture_count(&sd), 4);
	/* The connection goes: its captures end, the others stay. */
	capture_session_end(&sd, &session_b);
	assert_int_equal(capture_count(&sd), 2);
	while (n > 0)
		close(fds[--n]);
}

/*
 * A reader that never reads: frames past the socket's room are dropped
 * and counted (the VM's stats, the capture's ISB), the switch goes on,
 * and the stream holds only whole blocks. Then the reader closes: the
 * next frame ends the capture.
 */
static void
test_capture_slow_reader(void **state)
{
	static uint8_t buf[8 << 20], f[1600];
	size_t len, last;
	unsigned epbs, i;
	char err[32];
	struct port *p;
	int rfd;

	(void)state;
	p = attach(&alice, "vm1", MAC_A);
	rfd = start(&alice, "vm1", ",\"drops\":true", &session_a, err);
	for (i = 0; i < 4000; i++)
		switch_from_vm(&sd, p, f, frame(f, true, 1514));
	assert_true(p->st.capture_drops > 0);
	assert_int_equal(p->st.tx_frames, 4000);
	len = drain(rfd, buf, sizeof(buf));
	epbs = walk(buf, len, &last);
	assert_true(epbs > 0);
	/* Every frame was captured or counted, once. */
	assert_int_equal(epbs + p->st.capture_drops, 4000);
	assert_int_equal(capture_drops_total(&sd), p->st.capture_drops);
	close(rfd);
	switch_from_vm(&sd, p, f, frame(f, true, 60));
	assert_int_equal(capture_count(&sd), 0);
	assert_null(p->captures);
}

/*
 * The largest frames (a superframe's size) with a comment: a block the
 * socket takes in part has its rest kept and written once the reader
 * drains (the event loop's write event), never torn in the stream.
 */
static void
test_capture_big_frames(void **state)
{
	static uint8_t buf[8 << 20], f[PKT_MAX_FRAME];
	size_t len, last = 0;
	unsigned epbs, i;
	char err[32];
	struct port *p;
	int rfd;

	(void)state;
	p = attach(&alice, "vm1", MAC_A);
	rfd = start(&alice, "vm1", ",\"drops\":true", &session_a, err);
	for (i = 0; i < 50; i++) /* oversize: dropped, with its comment */
		switch_from_vm(&sd, p, f, frame(f, true, PKT_MAX_FRAME));
	assert_true(p->st.capture_drops > 0);
	len = drain(rfd, buf, sizeof(buf));
	event_base_loop(sd.base, EVLOOP_NONBLOCK);
	len += drain(rfd, buf + len, sizeof(buf) - len);
	epbs = walk(buf, len, &last);
	assert_int_equal(epbs + p->st.capture_drops, 50);
	assert_int_equal(le32(buf + last + 20), PKT_MAX_FRAME);
	assert_memory_equal(
	    buf + last + 28 + PKT_MAX_FRAME + 3 + 12, "drop: oversize", 14);
	close(rfd);
}

static bool guard_fired;

/* Timer: a test waited too long for an event. */
static void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	guard_fired = true;
}

/*
 * A running capture gets ISBs with the drops so far: one from
 * capture_stats_all, whole after whatever was drained, and one from the
 * timer while the event loop runs; a periodic ISB is never counted as a
 * frame dropped.
 */
static void
test_capture_periodic_isb(void **state)
{
	static uint8_t buf[8 << 20], f[1600];
	size_t len, last;
	char err[32];
	struct timeval tv = {3 * CAPTURE_ISB_INTERVAL, 0};
	struct event *guard;
	struct port *p;
	uint64_t drops;
	int rfd, i;

	(void)state;
	p = attach(&alice, "vm1", MAC_A);
	rfd = start(&alice, "vm1", ",\"drops\":true", &session_a, err);
	for (i = 0; i < 4000; i++)
		switch_from_vm(&sd, p, f, frame(f, true, 1514));
	drops = p->st.capture_drops;
	assert_true(drops > 0);
	len = drain(rfd, buf, sizeof(buf));
	event_base_loop(sd.base, EVLOOP_NONBLOCK); /* a torn block's rest */
	len += drain(rfd, buf + len, sizeof(buf) - len);
	walk(buf, len, &last);
	capture_stats_all(&sd);
	len = drain(rfd, buf, sizeof(buf));
	assert_int_equal(len, CAPTURE_ISB_LEN);
	assert_int_equal(le32(buf), 5);
	assert_int_equal(
	    le32(buf + 24) | (uint64_t)le32(buf + 28) << 32, drops);
	/* The timer's: the loop runs until it fires, or a guard's does. */
	guard_fired = false;
	guard = evtimer_new(sd.base, on_guard, NULL);
	evtimer_add(guard, &tv);
	for (len = 0; len == 0 && !guard_fired;) {
		event_base_loop(sd.base, EVLOOP_ONCE);
		len = drain(rfd, buf, sizeof(buf));
	}
	event_free(guard);
	assert_int_equal(len, CAPTURE_ISB_LEN);
	assert_int_equal(le32(buf), 5);
	assert_int_equal(p->st.capture_drops, drops);
	close(rfd);
}

/* The VM goes: the capture ends with an ISB counting the drops. */
static void
test_capture_ends_with_vm(void **state)
{
	static uint8_t buf[4096];
	char err[32];
	struct port *p;
	size_t len, last;
	json_t *r;
	int rfd, none;

	(void)state;
	p = attach(&alice, "vm1", MAC_A);
	rfd = start(&alice, "vm1", "", &session_a, err);
	assert_non_null(p->captures);
	r = call(&alice, "{\"op\":\"detach\",\"vm\":\"vm1\"}", -1, NULL, &none);
	json_decref(r);
	assert_int_equal(capture_count(&sd), 0);
	len = drain(rfd, buf, sizeof(buf));
	assert_int_equal(walk(buf, len, &last), 0);
	assert_int_equal(le32(buf + len - CAPTURE_ISB_LEN), 5);
	assert_int_equal(recv(rfd, buf, 1, MSG_DONTWAIT), 0); /* EOF */
	close(rfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shb_bytes),
	    cmocka_unit_test(test_idb_bytes),
	    cmocka_unit_test(test_epb_bytes),
	    cmocka_unit_test(test_isb_bytes),
	    cmocka_unit_test_setup_teardown(
	        test_capture_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_capture_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_capture_who_and_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_capture_slow_reader, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_capture_big_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_capture_periodic_isb, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_capture_ends_with_vm, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
