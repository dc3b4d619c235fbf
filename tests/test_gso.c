/*
 * Unit tests for software offloads: virtio-net header validation, checksum
 * completion and TCP and UDP segmentation, each checked by re-parsing the
 * output and verifying every checksum from scratch, and compared byte for
 * byte with what the Linux kernel's own segmentation makes of the same
 * superframe (in a private network namespace; root only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gso.h"
#include "pkt.h"

/* Linux 6.2's UDP segmentation flags, which older headers lack. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define SRC 0xc0a86902u /* 192.168.105.2 */
#define DST 0xc0000009u /* 192.0.0.9 */

static uint8_t frame[PKT_MAX_FRAME];

/* Builds Ethernet/IPv4/TCP with plen payload bytes (pattern i & 0xff). */
static size_t
tcp_frame(size_t plen, uint8_t flags, uint32_t seq, size_t optlen)
{
	struct pkt_eth *eth = (struct pkt_eth *)(void *)frame;
	uint8_t *ip = frame + PKT_ETH_HLEN, *tcp = ip + 20;
	size_t thl = 20 + optlen, i;
	uint32_t v;
	uint16_t c;

	memset(frame, 0, PKT_ETH_HLEN + 20 + thl);
	memset(eth->dst, 0x02, 6);
	memset(eth->src, 0x04, 6);
	eth->type = htons(PKT_ETHERTYPE_IPV4);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + thl + plen) >> 8);
	ip[3] = (uint8_t)(20 + thl + plen);
	ip[4] = 0x12;
	ip[5] = 0x34;
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = PKT_IPPROTO_TCP;
	v = htonl(SRC);
	memcpy(ip + 12, &v, 4);
	v = htonl(DST);
	memcpy(ip + 16, &v, 4);
	tcp[0] = 0x9c;
	tcp[1] = 0x40;
	tcp[3] = 80;
	v = htonl(seq);
	memcpy(tcp + 4, &v, 4);
	tcp[12] = (uint8_t)((thl / 4) << 4);
	tcp[13] = flags;
	tcp[14] = 0xff;
	for (i = 0; i < optlen; i++)
		tcp[20 + i] = 1; /* NOP options */
	for (i = 0; i < plen; i++)
		tcp[thl + i] = (uint8_t)i;
	c = pkt_csum(ip, 20, 0);
	memcpy(ip + 10, &c, 2);
	return PKT_ETH_HLEN + 20 + thl + plen;
}

/* Builds Ethernet/IPv4/UDP with plen payload bytes (pattern i & 0xff) and
 * the length of the whole, as a UDP GSO sender hands a superframe over. */
static size_t
udp_frame(size_t plen)
{
	uint8_t *ip = frame + PKT_ETH_HLEN, *udp = ip + 20;
	size_t i;
	uint16_t c;

	tcp_frame(0, 0, 0, 0); /* Ethernet and IPv4 as for TCP */
	ip[2] = (uint8_t)((28 + plen) >> 8);
	ip[3] = (uint8_t)(28 + plen);
	ip[9] = PKT_IPPROTO_UDP;
	memset(ip + 10, 0, 2);
	c = pkt_csum(ip, 20, 0);
	memcpy(ip + 10, &c, 2);
	memset(udp, 0, 8);
	pkt_put_be16(udp, 5000);
	pkt_put_be16(udp + 2, 4433);
	pkt_put_be16(udp + 4, (uint16_t)(8 + plen));
	for (i = 0; i < plen; i++)
		udp[8 + i] = (uint8_t)i;
	return PKT_ETH_HLEN + 28 + plen;
}

/* Puts the pseudo-header sum in the L4 checksum field (CHECKSUM_PARTIAL). */
static void
partial_l4(uint8_t *f, uint8_t proto, size_t l4len)
{
	uint32_t s = pkt_pseudo_sum(SRC, DST, proto, (uint16_t)l4len);
	uint16_t v;

	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	v = htons((uint16_t)s);
	memcpy(
	    f + PKT_ETH_HLEN + 20 + (proto == PKT_IPPROTO_TCP ? 16 : 6), &v, 2);
}

static void
partial(uint8_t *f, size_t l4len)
{
	partial_l4(f, PKT_IPPROTO_TCP, l4len);
}

/* True when the IPv4 and TCP checksums of f verify. */
static bool
checksums_ok(const uint8_t *f, size_t len)
{
	struct pkt_info pi;
	size_t ihl;

	if (pkt_parse(f, len, &pi) == -1 || pi.ip == NULL || !pi.has_ports)
		return false;
	ihl = (size_t)(pi.ip->ver_ihl & 0x0f) * 4;
	if (pkt_csum(pi.ip, ihl, 0) != 0)
		return false;
	return pkt_csum(pi.l4, pi.l4_len,
	           pkt_pseudo_sum(pi.ip_src, pi.ip_dst, pi.ip_proto,
	               (uint16_t)pi.l4_len)) == 0;
}

/* A TSO header for the frame in `frame`. */
static struct pkt_vnet
tso(uint16_t mss, size_t thl)
{
	struct pkt_vnet h = {.flags = PKT_VNET_F_NEEDS_CSUM,
	    .gso_type = PKT_VNET_GSO_TCPV4,
	    .hdr_len = (uint16_t)(PKT_ETH_HLEN + 20 + thl),
	    .gso_size = mss,
	    .csum_start = PKT_ETH_HLEN + 20,
	    .csum_offset = 16};
	return h;
}

/* A UDP GSO header for the frame in `frame`. */
static struct pkt_vnet
uso(uint16_t size)
{
	struct pkt_vnet h = {.flags = PKT_VNET_F_NEEDS_CSUM,
	    .gso_type = PKT_VNET_GSO_UDP_L4,
	    .hdr_len = PKT_ETH_HLEN + 28,
	    .gso_size = size,
	    .csum_start = PKT_ETH_HLEN + 20,
	    .csum_offset = 6};
	return h;
}

/* A 64 KiB superframe becomes MSS-sized segments that all verify. */
static void
test_segment(void **state)
{
	static uint8_t outbuf[128 * 1024];
	uint8_t *seg[64];
	size_t lens[64], plen = 65000 - 52, got = 0, i;
	struct gso_out out = {outbuf, sizeof(outbuf), seg, lens, 64};
	struct pkt_vnet h = tso(1448, 32);
	struct pkt_info pi;
	size_t len = tcp_frame(plen, 0x18 | 0x80 | 0x01, 1000, 12);
	uint32_t seq;
	int n, k;

	(void)state;
	partial(frame, len - PKT_ETH_HLEN - 20);
	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	assert_true(gso_validate(&h, &pi));
	n = gso_segment(frame, len, &h, &out);
	assert_int_equal(n, (int)((plen + 1447) / 1448));
	for (k = 0; k < n; k++) {
		assert_true(checksums_ok(seg[k], lens[k]));
		assert_int_equal(pkt_parse(seg[k], lens[k], &pi), 0);
		memcpy(&seq, pi.l4 + 4, 4);
		assert_int_equal(ntohl(seq), 1000 + got);
		assert_int_equal(ntohs(pi.ip->id), 0x1234 + k);
		assert_int_equal(pi.ip->frag_off, htons(0x4000));
		/* Flags: CWR first only; FIN and PSH last only; ACK kept. */
		assert_int_equal((pi.l4[13] & 0x80) != 0, k == 0);
		assert_int_equal((pi.l4[13] & 0x09) != 0, k == n - 1);
		for (i = 0; i < pi.l4_len - 32; i++)
			assert_int_equal(pi.l4[32 + i], (uint8_t)(got + i));
		if (k < n - 1)
			assert_int_equal(pi.l4_len - 32, 1448);
		got += pi.l4_len - 32;
	}
	assert_int_equal(got, plen);
	/* Not enough room: refused, nothing half-written counted. */
	out.max = 3;
	assert_int_equal(gso_segment(frame, len, &h, &out), -1);
	out.max = 64;
	out.cap = 5000;
	assert_int_equal(gso_segment(frame, len, &h, &out), -1);
}

/* A superframe no larger than one MSS still comes out right. */
static void
test_segment_small(void **state)
{
	static uint8_t outbuf[4096];
	uint8_t *seg[4];
	size_t lens[4];
	struct gso_out out = {outbuf, sizeof(outbuf), seg, lens, 4};
	struct pkt_vnet h = tso(1448, 20);
	size_t len = tcp_frame(100, 0x10, 7, 0);

	(void)state;
	assert_int_equal(gso_segment(frame, len, &h, &out), 1);
	assert_int_equal(lens[0], len);
	assert_true(checksums_ok(seg[0], lens[0]));
}

/* A UDP superframe becomes datagrams of gso_size that all verify. */
static void
test_segment_udp(void **state)
{
	static uint8_t outbuf[128 * 1024];
	uint8_t *seg[64];
	size_t lens[64], plen = 60000, got = 0, i;
	struct gso_out out = {outbuf, sizeof(outbuf), seg, lens, 64};
	struct pkt_vnet h = uso(1400);
	struct pkt_info pi;
	size_t len = udp_frame(plen);
	int n, k;

	(void)state;
	partial_l4(frame, PKT_IPPROTO_UDP, 8 + plen);
	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	assert_true(gso_validate(&h, &pi));
	n = gso_segment(frame, len, &h, &out);
	assert_int_equal(n, (int)((plen + 1399) / 1400));
	for (k = 0; k < n; k++) {
		assert_true(checksums_ok(seg[k], lens[k]));
		assert_int_equal(pkt_parse(seg[k], lens[k], &pi), 0);
		assert_int_equal(pi.ip_proto, PKT_IPPROTO_UDP);
		assert_int_equal(ntohs(pi.ip->id), 0x1234 + k);
		assert_int_equal(pkt_get_be16(pi.l4 + 4), pi.l4_len);
		assert_int_equal(pkt_get_be16(pi.l4 + 2), 4433);
		for (i = 0; i < pi.l4_len - 8; i++)
			assert_int_equal(pi.l4[8 + i], (uint8_t)(got + i));
		if (k < n - 1)
			assert_int_equal(pi.l4_len - 8, 1400);
		got += pi.l4_len - 8;
	}
	assert_int_equal(got, plen);
}

/* A pending checksum is completed in place, for TCP and for UDP. */
static void
test_complete_csum(void **state)
{
	struct pkt_vnet h = {.flags = PKT_VNET_F_NEEDS_CSUM,
	    .csum_start = PKT_ETH_HLEN + 20,
	    .csum_offset = 16};
	uint8_t udp[PKT_UDP4_HLEN + 33];
	struct pkt_udp4_addr a = {{2}, {4}, SRC, DST, 5000, 53};
	struct pkt_info pi;
	size_t len = tcp_frame(999, 0x18, 5, 0);

	(void)state;
	partial(frame, len - PKT_ETH_HLEN - 20);
	assert_false(checksums_ok(frame, len));
	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	assert_true(gso_validate(&h, &pi));
	assert_int_equal(gso_complete_csum(frame, len, &h), 0);
	assert_true(checksums_ok(frame, len));

	/* UDP: built with a full checksum, then made partial again. */
	memset(udp, 0x5a, sizeof(udp));
	len = pkt_build_udp4(udp, sizeof(udp), &a, 33);
	assert_true(checksums_ok(udp, len));
	{
		uint32_t s = pkt_pseudo_sum(SRC, DST, PKT_IPPROTO_UDP, 41);
		uint16_t v;

		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		v = htons((uint16_t)s);
		memcpy(udp + PKT_ETH_HLEN + 20 + 6, &v, 2);
	}
	h.csum_offset = 6;
	assert_int_equal(pkt_parse(udp, len, &pi), 0);
	assert_true(gso_validate(&h, &pi));
	assert_int_equal(gso_complete_csum(udp, len, &h), 0);
	assert_true(checksums_ok(udp, len));
	/* No NEEDS_CSUM: nothing to do. */
	h.flags = 0;
	assert_int_equal(gso_complete_csum(udp, len, &h), 0);
}

/* Headers that lie about the frame are refused. */
static void
test_validate(void **state)
{
	struct pkt_vnet h;
	struct pkt_info pi;
	size_t len = tcp_frame(3000, 0x10, 1, 0);

	(void)state;
	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	memset(&h, 0, sizeof(h));
	assert_true(gso_validate(&h, &pi)); /* plain frame */
	h.flags = 0x40;
	assert_false(gso_validate(&h, &pi)); /* unknown flag */
	h = tso(1448, 20);
	assert_true(gso_validate(&h, &pi));
	h.gso_type = PKT_VNET_GSO_TCPV4 | PKT_VNET_GSO_ECN;
	assert_true(gso_validate(&h, &pi));
	h.gso_type = PKT_VNET_GSO_ECN;
	h.flags = 0;
	assert_false(gso_validate(&h, &pi)); /* ECN alone */
	h = tso(1448, 20);
	h.gso_type = PKT_VNET_GSO_UDP;
	assert_false(gso_validate(&h, &pi));
	h.gso_type = PKT_VNET_GSO_TCPV6;
	assert_false(gso_validate(&h, &pi));
	h = tso(0, 20);
	assert_false(gso_validate(&h, &pi)); /* gso_size 0 */
	h = tso(1448, 20);
	h.flags = 0;
	assert_false(gso_validate(&h, &pi)); /* TSO without NEEDS_CSUM */
	h = tso(1448, 20);
	h.csum_start = 10;
	assert_false(gso_validate(&h, &pi)); /* checksum into the IP header */
	h = tso(1448, 20);
	h.csum_offset = 6;
	assert_false(gso_validate(&h, &pi)); /* UDP offset on TCP */
	h = tso(1448, 20);
	h.hdr_len = 60000;
	assert_false(gso_validate(&h, &pi)); /* beyond the frame */
	/* TSO claimed for a UDP frame, or for an ARP frame. */
	h = tso(1448, 20);
	frame[PKT_ETH_HLEN + 9] = PKT_IPPROTO_UDP;
	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	assert_false(gso_validate(&h, &pi));
	frame[PKT_ETH_HLEN + 9] = PKT_IPPROTO_TCP;
	frame[12] = 0x08;
	frame[13] = 0x06;
	(void)pkt_parse(frame, len, &pi);
	assert_false(gso_validate(&h, &pi));
	frame[13] = 0x00;
	/* A fragment cannot be cut. */
	frame[PKT_ETH_HLEN + 6] = 0x20; /* MF */
	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	assert_false(gso_validate(&h, &pi));
	/* UDP segmentation claimed for this TCP frame. */
	frame[PKT_ETH_HLEN + 6] = 0x40;
	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	h = uso(1400);
	h.csum_offset = 16;
	assert_false(gso_validate(&h, &pi));
}

/* UDP segmentation headers: what Linux takes, and nothing else. */
static void
test_validate_udp(void **state)
{
	struct pkt_vnet h = uso(1400);
	struct pkt_info pi;
	size_t len = udp_frame(3000);

	(void)state;
	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	assert_true(gso_validate(&h, &pi));
	h.gso_type |= PKT_VNET_GSO_ECN;
	assert_false(gso_validate(&h, &pi)); /* ECN is for TCP */
	h = uso(1400);
	h.gso_type = PKT_VNET_GSO_TCPV4;
	assert_false(gso_validate(&h, &pi)); /* TSO on UDP */
	h = uso(1400);
	h.flags = 0;
	assert_false(gso_validate(&h, &pi)); /* no NEEDS_CSUM */
	h = uso(0);
	assert_false(gso_validate(&h, &pi));
	h = uso(1400);
	h.csum_offset = 16;
	assert_false(gso_validate(&h, &pi));
	/* 3000 bytes in 23-byte segments is 131 of them: over Linux's 128. */
	h = uso(23);
	assert_false(gso_validate(&h, &pi));
	h = uso(24); /* 125 */
	assert_true(gso_validate(&h, &pi));
	/* A datagram with nothing to cut. */
	len = udp_frame(0);
	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	h = uso(1400);
	assert_false(gso_validate(&h, &pi));
}

/*
 * The kernel's segmentation of a superframe: it goes out through an
 * AF_PACKET socket with a virtio-net header into a TAP whose driver takes
 * no offloads, so the kernel must cut it and finish every checksum itself;
 * the IPv4 frames read back from the TAP are the result. Returns their
 * number (at most max, each up to 2048 bytes), or -1.
 */
static int
kernel_segment(const uint8_t *f, size_t len, const struct pkt_vnet *h,
    uint8_t (*segs)[2048], size_t *lens, int max)
{
	struct ifreq ifr;
	struct sockaddr_ll sll;
	struct pkt_vnet rh;
	struct iovec out[2] = {{(void *)h, sizeof(*h)}, {(void *)f, len}};
	struct msghdr msg = {0};
	struct pollfd p;
	int tap, pk = -1, ctl = -1, one = 1, n = 0, rc = -1;
	int sz = (int)sizeof(struct pkt_vnet);
	ssize_t r;

	if ((tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK)) == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "sngso0");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(tap, TUNSETIFF, &ifr) == -1 ||
	    ioctl(tap, TUNSETVNETHDRSZ, &sz) == -1 ||
	    ioctl(tap, TUNSETOFFLOAD, 0) == -1 ||
	    (ctl = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    ioctl(ctl, SIOCGIFFLAGS, &ifr) == -1)
		goto out;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(ctl, SIOCSIFFLAGS, &ifr) == -1 ||
	    (pk = socket(AF_PACKET, SOCK_RAW, 0)) == -1 ||
	    setsockopt(pk, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) ==
	        -1)
		goto out;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(PKT_ETHERTYPE_IPV4);
	sll.sll_ifindex = (int)if_nametoindex("sngso0");
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, f, 6);
	msg.msg_name = &sll;
	msg.msg_namelen = sizeof(sll);
	msg.msg_iov = out;
	msg.msg_iovlen = 2;
	if (sendmsg(pk, &msg, 0) != (ssize_t)(sizeof(*h) + len))
		goto out;
	/* Read until the TAP stays quiet; skip the kernel's own IPv6 chatter.
	 */
	p.fd = tap;
	p.events = POLLIN;
	while (n < max && poll(&p, 1, n == 0 ? 2000 : 200) == 1) {
		struct iovec in[2] = {{&rh, sizeof(rh)}, {segs[n], 2048}};

		if ((r = readv(tap, in, 2)) <= (ssize_t)sizeof(rh))
			break;
		lens[n] = (size_t)r - sizeof(rh);
		if (lens[n] >= PKT_ETH_HLEN &&
		    pkt_get_be16(segs[n] + 12) == PKT_ETHERTYPE_IPV4)
			n++;
	}
	rc = n;
out:
	if (pk != -1)
		close(pk);
	if (ctl != -1)
		close(ctl);
	close(tap);
	return rc;
}

/* Ours and the kernel's segments of the frame in `frame`: identical. */
static void
same_as_kernel(size_t len, const struct pkt_vnet *h, int expect)
{
	static uint8_t outbuf[128 * 1024], ksegs[64][2048];
	uint8_t *seg[64];
	size_t lens[64], klens[64];
	struct gso_out out = {outbuf, sizeof(outbuf), seg, lens, 64};
	struct pkt_info pi;
	int n, k;

	assert_int_equal(pkt_parse(frame, len, &pi), 0);
	assert_true(gso_validate(h, &pi));
	n = gso_segment(frame, len, h, &out);
	assert_int_equal(n, expect);
	assert_int_equal(kernel_segment(frame, len, h, ksegs, klens, 64), n);
	for (k = 0; k < n; k++) {
		assert_int_equal(lens[k], klens[k]);
		assert_memory_equal(seg[k], ksegs[k], lens[k]);
	}
}

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

/* TCP: options, CWR on the first segment, PSH and FIN on the last. */
static void
test_tcp_like_kernel(void **state)
{
	size_t len = tcp_frame(20000, 0x80 | 0x18 | 0x01, 77777, 12);
	struct pkt_vnet h = tso(1448, 32);

	(void)state;
	if (!in_netns)
		skip();
	partial(frame, len - PKT_ETH_HLEN - 20);
	same_as_kernel(len, &h, (20000 + 1447) / 1448);
	/* An exact multiple of the MSS, no options, ECN. */
	len = tcp_frame(1448 * 5, 0x10, 1, 0);
	partial(frame, len - PKT_ETH_HLEN - 20);
	h = tso(1448, 20);
	h.gso_type |= PKT_VNET_GSO_ECN;
	same_as_kernel(len, &h, 5);
}

/* Whether this kernel has UDP segmentation for TAPs (Linux 6.2 on). */
static bool
kernel_has_uso(void)
{
	struct ifreq ifr;
	int tap, ok;

	if ((tap = open("/dev/net/tun", O_RDWR)) == -1)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "sngso1");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	ok = ioctl(tap, TUNSETIFF, &ifr) == 0 &&
	     ioctl(tap, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6) ==
	         0;
	close(tap);
	return ok;
}

/* UDP: equal datagrams, and a short last one. */
static void
test_udp_like_kernel(void **state)
{
	size_t len = udp_frame(4000);
	struct pkt_vnet h = uso(1400);

	(void)state;
	/* Before Linux 6.2 the kernel has no UDP_L4 header to compare with
	 * (and softnetd offers no UDP segmentation). */
	if (!in_netns || !kernel_has_uso())
		skip();
	partial_l4(frame, PKT_IPPROTO_UDP, 8 + 4000);
	same_as_kernel(len, &h, 3);
	len = udp_frame(1200 * 10);
	partial_l4(frame, PKT_IPPROTO_UDP, 8 + 1200 * 10);
	h = uso(1200);
	same_as_kernel(len, &h, 10);
}

/* Consecutive segments coalesce; cutting the result gives them back. */
static void
test_coalesce_round_trip(void **state)
{
	static uint8_t a[PKT_MAX_FRAME], segs[4][2048], outbuf[16384];
	uint8_t *seg[16];
	size_t lens[16], alen, slen[4];
	struct gso_out out = {outbuf, sizeof(outbuf), seg, lens, 16};
	struct pkt_vnet av = {0};
	struct pkt_info pi;
	int k, n;

	(void)state;
	/* Four segments of one flow: 1448, 1448, 1448 and a 500-byte PSH. */
	for (k = 0; k < 4; k++) {
		slen[k] = tcp_frame(k < 3 ? 1448 : 500, k < 3 ? 0x10 : 0x18,
		    1000 + 1448u * (unsigned)k, 0);
		memcpy(segs[k], frame, slen[k]);
	}
	memcpy(a, segs[0], slen[0]);
	alen = slen[0];
	for (k = 1; k < 4; k++)
		assert_true(
		    gso_coalesce(a, &alen, sizeof(a), &av, segs[k], slen[k]));
	assert_int_equal(alen, PKT_ETH_HLEN + 40 + 3 * 1448 + 500);
	assert_int_equal(av.gso_type, PKT_VNET_GSO_TCPV4);
	assert_int_equal(av.gso_size, 1448);
	/* What a TAP would accept: a valid header for a valid frame. */
	assert_int_equal(pkt_parse(a, alen, &pi), 0);
	assert_true(gso_validate(&av, &pi));
	assert_int_equal(pkt_csum(a + PKT_ETH_HLEN, 20, 0), 0);
	/* Cut again: the same four segments, byte for byte but IP ids. */
	n = gso_segment(a, alen, &av, &out);
	assert_int_equal(n, 4);
	for (k = 0; k < 4; k++) {
		assert_int_equal(lens[k], slen[k]);
		assert_true(checksums_ok(seg[k], lens[k]));
		assert_memory_equal(seg[k] + PKT_ETH_HLEN + 20,
		    segs[k] + PKT_ETH_HLEN + 20, 16); /* ports..flags */
		assert_memory_equal(seg[k] + PKT_ETH_HLEN + 40,
		    segs[k] + PKT_ETH_HLEN + 40, lens[k] - PKT_ETH_HLEN - 40);
	}
	/* After the PSH segment nothing more joins. */
	(void)tcp_frame(100, 0x10, 1000 + 3 * 1448 + 500, 0);
	assert_false(gso_coalesce(a, &alen, sizeof(a), &av, frame, 154));
}

/* Segments that do not continue the flow exactly stay apart. */
static void
test_coalesce_refusals(void **state)
{
	static uint8_t a[PKT_MAX_FRAME], b[2048];
	struct pkt_vnet av = {0};
	size_t alen, blen;

	(void)state;
	alen = tcp_frame(1448, 0x10, 1, 0);
	memcpy(a, frame, alen);
	/* A sequence gap. */
	blen = tcp_frame(1448, 0x10, 2, 0);
	memcpy(b, frame, blen);
	assert_false(gso_coalesce(a, &alen, sizeof(a), &av, b, blen));
	/* The next segment, but SYN, FIN or RST set. */
	blen = tcp_frame(1448, 0x12, 1449, 0);
	memcpy(b, frame, blen);
	assert_false(gso_coalesce(a, &alen, sizeof(a), &av, b, blen));
	blen = tcp_frame(1448, 0x11, 1449, 0);
	memcpy(b, frame, blen);
	assert_false(gso_coalesce(a, &alen, sizeof(a), &av, b, blen));
	/* Another port, another window, larger than the first segment. */
	blen = tcp_frame(1448, 0x10, 1449, 0);
	memcpy(b, frame, blen);
	b[PKT_ETH_HLEN + 23] = 81;
	assert_false(gso_coalesce(a, &alen, sizeof(a), &av, b, blen));
	b[PKT_ETH_HLEN + 23] = 80;
	b[PKT_ETH_HLEN + 20 + 14] = 0x01;
	assert_false(gso_coalesce(a, &alen, sizeof(a), &av, b, blen));
	blen = tcp_frame(1500, 0x10, 1449, 0);
	assert_false(gso_coalesce(a, &alen, sizeof(a), &av, frame, blen));
	/* No room in a's buffer. */
	blen = tcp_frame(1448, 0x10, 1449, 0);
	assert_false(gso_coalesce(a, &alen, alen + 100, &av, frame, blen));
	/* Nothing merged so far: a is untouched and still plain. */
	assert_int_equal(alen, PKT_ETH_HLEN + 40 + 1448);
	assert_int_equal(av.gso_type, PKT_VNET_GSO_NONE);
	assert_true(gso_coalesce(a, &alen, sizeof(a), &av, frame, blen));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_segment),
	    cmocka_unit_test(test_segment_small),
	    cmocka_unit_test(test_segment_udp),
	    cmocka_unit_test(test_complete_csum),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_validate_udp),
	    cmocka_unit_test(test_coalesce_round_trip),
	    cmocka_unit_test(test_coalesce_refusals),
	    cmocka_unit_test(test_tcp_like_kernel),
	    cmocka_unit_test(test_udp_like_kernel),
	};

	return cmocka_run_group_tests(tests, setup_netns, NULL);
}
