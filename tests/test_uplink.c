/*
 * Unit tests for the Linux TAP uplink and the Linux osdep functions. The
 * uplink tests need root: they run in a private network namespace made
 * with unshare(CLONE_NEWNET), so nothing touches the machine's network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <grp.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "osdep.h"
#include "pkt.h"
#include "uplink.h"

static bool in_netns;

/* Moves the test into a new network namespace once (root only). */
static int
setup_netns(void **state)
{
	(void)state;
	if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0)
		in_netns = true;
	return 0;
}

/* The test uplink: a TAP named sntest0 on 10.77.0.1/24, offloads on. */
static const struct uplink_settings test_set = {
    .name = "sntest0",
    .offload = true,
    .gateway = 0x0a4d0001,
    .netmask = 0xffffff00,
    .pool_start = 0x0a4d0002,
    .pool_end = 0x0a4d00fe,
    .mtu = 1400,
};

/* Reads an interface's flags/MTU/address through ioctl. */
static void
iface_info(const char *name, int *flags, int *mtu, uint32_t *addr)
{
	struct ifreq ifr;
	struct sockaddr_in sin;
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(s >= 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	*flags = ifr.ifr_flags;
	assert_int_equal(ioctl(s, SIOCGIFMTU, &ifr), 0);
	*mtu = ifr.ifr_mtu;
	assert_int_equal(ioctl(s, SIOCGIFADDR, &ifr), 0);
	memcpy(&sin, &ifr.ifr_addr, sizeof(sin));
	*addr = ntohl(sin.sin_addr.s_addr);
	close(s);
}

/* Builds an ARP request from a VM asking for the gateway. */
static size_t
arp_request(uint8_t *buf, const uint8_t mac[6], uint32_t spa, uint32_t tpa)
{
	struct pkt_eth eth;
	struct pkt_arp arp;

	memset(eth.dst, 0xff, 6);
	memcpy(eth.src, mac, 6);
	eth.type = htons(PKT_ETHERTYPE_ARP);
	arp.htype = htons(1);
	arp.ptype = htons(PKT_ETHERTYPE_IPV4);
	arp.hlen = 6;
	arp.plen = 4;
	arp.op = htons(PKT_ARP_REQUEST);
	memcpy(arp.sha, mac, 6);
	spa = htonl(spa);
	tpa = htonl(tpa);
	memcpy(arp.spa, &spa, 4);
	memset(arp.tha, 0, 6);
	memcpy(arp.tpa, &tpa, 4);
	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + sizeof(eth), &arp, sizeof(arp));
	return sizeof(eth) + sizeof(arp);
}

/* The uplink is configured as asked, and the host kernel answers ARP. */
static void
test_tap_uplink(void **state)
{
	static const uint8_t vm[6] = {0x02, 0, 0, 0, 0, 0x42};
	static const uint8_t want_mac[6] = {0x02, 0x53, 0x4e, 0x4d, 0x00, 0x01};
	uint8_t out[64], in[2048];
	struct frame fo = {out, 0, sizeof(out)}, fi = {in, 0, sizeof(in)};
	struct uplink_params p;
	struct uplink *u;
	struct pollfd pfd;
	struct pkt_info pi;
	char err[256];
	uint32_t addr;
	int flags, mtu, n, tries;

	(void)state;
	if (!in_netns)
		skip();
	u = uplink_open(&test_set, &p, err, sizeof(err));
	assert_non_null(u);
	assert_memory_equal(p.mac, want_mac, 6);
	assert_int_equal(p.gateway, 0x0a4d0001);
	assert_int_equal(p.mtu, 1400);
	assert_int_equal(p.max_frame, PKT_MAX_FRAME); /* GSO superframes */
	assert_true(p.vnet);
	assert_string_equal(p.name, "sntest0");
	iface_info("sntest0", &flags, &mtu, &addr);
	assert_true(flags & IFF_UP);
	assert_int_equal(mtu, 1400);
	assert_int_equal(addr, 0x0a4d0001);

	/* A VM's ARP request for the gateway gets the kernel's reply. */
	fo.len = arp_request(out, vm, 0x0a4d0002, 0x0a4d0001);
	assert_int_equal(uplink_write(u, &fo, 1), 1);
	for (tries = 0; tries < 50; tries++) {
		pfd.fd = uplink_fd(u);
		pfd.events = POLLIN;
		assert_true(poll(&pfd, 1, 100) >= 0);
		n = uplink_read(u, &fi, 1);
		assert_true(n >= 0);
		if (n == 1 && pkt_parse(in, fi.len, &pi) == 0 &&
		    pi.arp != NULL && ntohs(pi.arp->op) == PKT_ARP_REPLY)
			break;
	}
	assert_true(tries < 50);
	assert_memory_equal(pi.eth->dst, vm, 6);
	assert_memory_equal(pi.arp->sha, want_mac, 6);
	assert_int_equal(pkt_arp_spa(pi.arp), 0x0a4d0001);
	/* Nothing pending: a read returns 0, it does not block. */
	while ((n = uplink_read(u, &fi, 1)) == 1)
		;
	assert_int_equal(n, 0);
	uplink_close(u);
	/* Non-persistent: the device is gone with the fd. */
	assert_int_equal(if_nametoindex("sntest0"), 0);
}

/*
 * Sends a frame for dst out through the TAP (as the host kernel would
 * route one to a VM), tagged with mark, from an AF_PACKET socket.
 */
static void
xmit(int ps, int ifindex, const uint8_t dst[6], uint8_t mark)
{
	struct sockaddr_ll sll;
	uint8_t f[60];

	memset(f, 0, sizeof(f));
	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\x53\x4e\x4d\x00\x01", 6);
	f[12] = 0x88; /* 0x88b5: local experimental ethertype */
	f[13] = 0xb5;
	f[14] = mark;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifindex;
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dst, 6);
	assert_int_equal(
	    sendto(ps, f, sizeof(f), 0, (struct sockaddr *)&sll, sizeof(sll)),
	    (ssize_t)sizeof(f));
}

/* The marks of the tagged frames the uplink hands over, in order. */
static size_t
received(struct uplink *u, uint8_t *marks, size_t max)
{
	uint8_t in[2048];
	struct frame fi = {in, 0, sizeof(in)};
	size_t n = 0;

	while (uplink_read(u, &fi, 1) == 1)
		if (fi.len >= 15 && in[12] == 0x88 && in[13] == 0xb5 && n < max)
			marks[n++] = in[14];
	return n;
}

/*
 * Blocked MACs are dropped by the kernel before the uplink reads them,
 * others pass; the list can be replaced and lifted, also by a process
 * that has dropped root as softnetd does.
 */
static void
test_tap_block(void **state)
{
	static const uint8_t a[6] = {0x02, 0, 0, 0, 0xaa, 0x01},
	                     b[6] = {0x02, 0, 0, 0, 0xbb, 0x01},
	                     c[6] = {0x02, 0, 0, 0xaa, 0, 0x01};
	uint8_t both[2][6], marks[8];
	struct uplink_params p;
	struct uplink *u;
	char err[256];
	int ps, ifindex, status;
	pid_t pid;

	(void)state;
	if (!in_netns)
		skip();
	u = uplink_open(&test_set, &p, err, sizeof(err));
	assert_non_null(u);
	ifindex = (int)if_nametoindex("sntest0");
	ps = socket(AF_PACKET, SOCK_RAW, 0);
	assert_true(ps >= 0);
	(void)received(u, marks, sizeof(marks));

	/* c differs from a only in the high bytes: the filter looks at all
	 * six. */
	memcpy(both[0], a, 6);
	memcpy(both[1], b, 6);
	assert_int_equal(uplink_block(u, both, 2), 0);
	xmit(ps, ifindex, a, 1);
	xmit(ps, ifindex, b, 2);
	xmit(ps, ifindex, c, 3);
	assert_int_equal(received(u, marks, sizeof(marks)), 1);
	assert_int_equal(marks[0], 3);

	/* Replaced by a process that has given up root: only b now. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 ||
		    setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534) == -1)
			_exit(2);
		_exit(uplink_block(u, both + 1, 1) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	xmit(ps, ifindex, a, 4);
	xmit(ps, ifindex, b, 5);
	assert_int_equal(received(u, marks, sizeof(marks)), 1);
	assert_int_equal(marks[0], 4);

	/* Lifted: everything passes; lifting twice is fine. */
	assert_int_equal(uplink_block(u, NULL, 0), 0);
	assert_int_equal(uplink_block(u, NULL, 0), 0);
	xmit(ps, ifindex, a, 6);
	xmit(ps, ifindex, b, 7);
	assert_int_equal(received(u, marks, sizeof(marks)), 2);
	assert_int_equal(marks[0], 6);
	assert_int_equal(marks[1], 7);
	errno = 0;
	assert_int_equal(uplink_block(u, both, UPLINK_BLOCK_MAX + 1), -1);
	assert_int_equal(errno, EINVAL);
	close(ps);
	uplink_close(u);
}

/* A second daemon's uplink on a busy name fails with a message. */
static void
test_tap_bad_name(void **state)
{
	struct uplink_params p;
	struct uplink_settings set = test_set;
	char err[256] = "";

	(void)state;
	if (!in_netns)
		skip();
	set.name = "lo";
	assert_null(uplink_open(&set, &p, err, sizeof(err)));
	assert_non_null(strstr(err, "lo"));
}

/* Descriptors are told apart: dgram socket, TAP (with its MAC), others. */
static void
test_fd_kind(void **state)
{
	uint8_t mac[6] = {0};
	int sv[2], p[2], fd;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	assert_int_equal(osdep_fd_kind(sv[0], mac), OSDEP_FD_DGRAM);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(osdep_fd_kind(sv[0], mac), OSDEP_FD_OTHER);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(osdep_fd_kind(p[0], mac), OSDEP_FD_OTHER);
	close(p[0]);
	close(p[1]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(osdep_fd_kind(fd, mac), OSDEP_FD_OTHER);
	close(fd);
	if (!in_netns)
		return;
	fd = osdep_tap_open("sntap0");
	assert_true(fd >= 0);
	assert_int_equal(osdep_fd_kind(fd, mac), OSDEP_FD_TAP);
	assert_false(osdep_tap_has_vnet(fd));
	assert_true((mac[0] & 1) == 0);
	assert_true(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
	close(fd);
	fd = osdep_tap_open_vnet("sntap1");
	assert_true(fd >= 0);
	assert_int_equal(osdep_fd_kind(fd, mac), OSDEP_FD_TAP);
	assert_true(osdep_tap_has_vnet(fd));
	assert_int_equal(osdep_tap_offload(fd, true), 0);
	assert_int_equal(osdep_tap_offload(fd, false), 0);
	close(fd);
	errno = 0;
	assert_int_equal(
	    osdep_tap_open("a-name-far-too-long-for-ifnamsiz"), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/* Peer credentials and batched receive on a socket pair. */
static void
test_cred_and_batch(void **state)
{
	uint8_t bufs[4][64];
	struct frame f[4];
	uid_t uid;
	gid_t gid;
	int sv[2], i;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(osdep_peer_cred(sv[0], &uid, &gid), 0);
	assert_int_equal(uid, getuid());
	assert_int_equal(gid, getgid());
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	for (i = 0; i < 4; i++) {
		f[i].data = bufs[i];
		f[i].cap = sizeof(bufs[i]);
	}
	assert_int_equal(osdep_recv_batch(sv[0], f, 4), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(send(sv[1], "one", 3, 0), 3);
	assert_int_equal(send(sv[1], "three", 5, 0), 5);
	memset(bufs[2], 'x', sizeof(bufs[2]));
	assert_int_equal(send(sv[1], bufs[2], 64, 0), 64);
	memset(bufs[3], 'y', sizeof(bufs[3]));
	assert_int_equal(send(sv[1], bufs[3], 0, 0), 0);
	f[2].cap = 10; /* too small: reported as len 0 */
	assert_int_equal(osdep_recv_batch(sv[0], f, 4), 4);
	assert_int_equal(f[0].len, 3);
	assert_memory_equal(bufs[0], "one", 3);
	assert_int_equal(f[1].len, 5);
	assert_int_equal(f[2].len, 0);
	assert_int_equal(f[3].len, 0);
	close(sv[0]);
	close(sv[1]);
}

/* LISTEN_FDS is honoured only for this pid. */
static void
test_activation(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("LISTEN_PID");
	assert_int_equal(osdep_activated_socket(), -1);
	setenv("LISTEN_PID", "1", 1);
	setenv("LISTEN_FDS", "1", 1);
	assert_int_equal(osdep_activated_socket(), -1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "0", 1);
	assert_int_equal(osdep_activated_socket(), -1);
	setenv("LISTEN_FDS", "1", 1);
	assert_int_equal(osdep_activated_socket(), 3);
	assert_null(getenv("LISTEN_PID"));
	assert_null(getenv("LISTEN_FDS"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tap_uplink),
	    cmocka_unit_test(test_tap_bad_name),
	    cmocka_unit_test(test_tap_block),
	    cmocka_unit_test(test_fd_kind),
	    cmocka_unit_test(test_cred_and_batch),
	    cmocka_unit_test(test_activation),
	};

	return cmocka_run_group_tests(tests, setup_netns, NULL);
}
