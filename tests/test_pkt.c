/*
 * pkt_parse layer by layer on frames built byte by byte here (truncated at
 * every layer, padded, tagged, fragmented), the checksum helpers against
 * RFC 1071 / known headers, pkt_build_udp4 checked by re-parsing its
 * output and verifying both checksums, and pkt_build_arp against frames
 * written out byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>

#include <cmocka.h>

#include "pkt.h"

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))

#define SRC_IP IP4(192, 168, 105, 10)
#define DST_IP IP4(8, 8, 8, 8)

static const uint8_t mac_a[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t mac_b[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};

/* A frame under construction. */
struct frame {
	uint8_t buf[PKT_MAX_FRAME + 64];
	size_t len;
	size_t ip_off; /* where the IPv4 header starts */
};

static struct frame fr;
static struct pkt_info pi;

/* Appends one byte. */
static void
put8(struct frame *f, uint8_t v)
{
	assert_true(f->len < sizeof(f->buf));
	f->buf[f->len++] = v;
}

/* Appends a big-endian 16-bit value. */
static void
put16(struct frame *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

/* Appends a big-endian 32-bit value. */
static void
put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

/* Appends n copies of a byte. */
static void
fill(struct frame *f, uint8_t v, size_t n)
{
	while (n-- > 0)
		put8(f, v);
}

/* Reads a big-endian 16-bit value from the frame. */
static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Starts a frame: Ethernet header with the given ethertype. */
static void
eth(struct frame *f, uint16_t type)
{
	f->len = 0;
	memcpy(f->buf, mac_b, 6);
	memcpy(f->buf + 6, mac_a, 6);
	f->len = 12;
	put16(f, type);
}

/* Appends an IPv4 header with optlen bytes of options (NOPs). */
static void
ipv4(struct frame *f, uint8_t proto, uint16_t frag, size_t optlen,
    size_t payload)
{
	size_t hlen = 20 + optlen;

	f->ip_off = f->len;
	put8(f, (uint8_t)(0x40 | hlen / 4));
	put8(f, 0);
	put16(f, (uint16_t)(hlen + payload));
	put16(f, 0x4242);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, SRC_IP);
	put32(f, DST_IP);
	fill(f, 1, optlen);
}

/* Appends a UDP header whose length field is ulen. */
static void
udph(struct frame *f, uint16_t sport, uint16_t dport, uint16_t ulen)
{
	put16(f, sport);
	put16(f, dport);
	put16(f, ulen);
	put16(f, 0);
}

/* Appends a TCP header with data offset doff words (options zeroed). */
static void
tcph(struct frame *f, uint16_t sport, uint16_t dport, uint8_t doff)
{
	put16(f, sport);
	put16(f, dport);
	put32(f, 1);
	put32(f, 0);
	put8(f, (uint8_t)(doff << 4));
	put8(f, 0x02);
	put16(f, 65535);
	put16(f, 0);
	put16(f, 0);
	if (doff > 5)
		fill(f, 0, (size_t)(doff - 5) * 4);
}

/* Builds Ethernet + IPv4 + UDP(sport, dport) + n payload bytes. */
static void
udp_frame(struct frame *f, uint16_t sport, uint16_t dport, size_t n)
{
	eth(f, PKT_ETHERTYPE_IPV4);
	ipv4(f, PKT_IPPROTO_UDP, 0, 0, 8 + n);
	udph(f, sport, dport, (uint16_t)(8 + n));
	fill(f, 0xab, n);
}

/* Parses the frame, expecting pkt_parse's return value and malformed. */
static void
parse_expect(struct frame *f, int ret, enum pkt_malformed m)
{
	assert_int_equal(pkt_parse(f->buf, f->len, &pi), ret);
	assert_int_equal(pi.malformed, m);
	assert_ptr_equal(pi.frame, f->buf);
	assert_int_equal(pi.len, f->len);
}

/* ---- Ethernet ---- */

static void
test_runt(void **state)
{
	size_t n;

	(void)state;
	eth(&fr, PKT_ETHERTYPE_IPV4);
	for (n = 0; n < PKT_ETH_HLEN; n++) {
		assert_int_equal(pkt_parse(fr.buf, n, &pi), -1);
		assert_null(pi.eth);
		assert_int_equal(pi.malformed, PKT_BAD_ETH);
		assert_null(pi.ip);
		assert_null(pi.arp);
	}
	assert_int_equal(pkt_parse(NULL, 0, &pi), -1);
	assert_null(pi.eth);
}

static void
test_ethernet(void **state)
{
	(void)state;
	eth(&fr, 0x88cc);
	parse_expect(&fr, 0, PKT_OK);
	assert_ptr_equal(pi.eth, fr.buf);
	assert_memory_equal(pi.eth->dst, mac_b, 6);
	assert_memory_equal(pi.eth->src, mac_a, 6);
	assert_int_equal(pi.ethertype, 0x88cc);
	assert_false(pi.tagged);
	assert_null(pi.ip);
	assert_null(pi.arp);
	assert_null(pi.l4);
	/* IPv6 is only named, not parsed. */
	eth(&fr, PKT_ETHERTYPE_IPV6);
	fill(&fr, 0x60, 40);
	parse_expect(&fr, 0, PKT_OK);
	assert_int_equal(pi.ethertype, PKT_ETHERTYPE_IPV6);
	assert_null(pi.ip);
}

/* ---- VLAN ---- */

static void
test_vlan(void **state)
{
	(void)state;
	/* One 802.1Q tag around IPv4/UDP: inner layers parsed. */
	eth(&fr, PKT_ETHERTYPE_VLAN);
	put16(&fr, 0x0005);
	put16(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_UDP, 0, 0, 8);
	udph(&fr, 1000, 53, 8);
	parse_expect(&fr, 0, PKT_OK);
	assert_true(pi.tagged);
	assert_int_equal(pi.ethertype, PKT_ETHERTYPE_IPV4);
	assert_ptr_equal(pi.ip, fr.buf + 18);
	assert_true(pi.has_ports);
	assert_int_equal(pi.dport, 53);

	/* 802.1ad + 802.1Q (QinQ) around ARP. */
	eth(&fr, PKT_ETHERTYPE_QINQ);
	put16(&fr, 0x0001);
	put16(&fr, PKT_ETHERTYPE_VLAN);
	put16(&fr, 0x0002);
	put16(&fr, PKT_ETHERTYPE_ARP);
	fill(&fr, 0, 28);
	parse_expect(&fr, 0, PKT_OK);
	assert_true(pi.tagged);
	assert_int_equal(pi.ethertype, PKT_ETHERTYPE_ARP);
	assert_ptr_equal(pi.arp, fr.buf + 22);

	/* Three tags are refused. */
	eth(&fr, PKT_ETHERTYPE_VLAN);
	put16(&fr, 1);
	put16(&fr, PKT_ETHERTYPE_VLAN);
	put16(&fr, 2);
	put16(&fr, PKT_ETHERTYPE_VLAN);
	put16(&fr, 3);
	put16(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_UDP, 0, 0, 8);
	udph(&fr, 1000, 53, 8);
	parse_expect(&fr, 0, PKT_BAD_VLAN);
	assert_true(pi.tagged);
	assert_null(pi.ip);

	/* Truncated tags: 0..3 bytes after the TPID. */
	eth(&fr, PKT_ETHERTYPE_VLAN);
	put16(&fr, 5);
	put16(&fr, PKT_ETHERTYPE_IPV4);
	for (fr.len = PKT_ETH_HLEN; fr.len < PKT_ETH_HLEN + 4; fr.len++) {
		parse_expect(&fr, 0, PKT_BAD_VLAN);
		assert_true(pi.tagged);
		assert_null(pi.ip);
	}
	/* A complete tag and nothing inside: IPv4 truncated. */
	parse_expect(&fr, 0, PKT_BAD_IPV4);
	assert_true(pi.tagged);
}

/* ---- ARP ---- */

static void
test_arp(void **state)
{
	size_t n;

	(void)state;
	eth(&fr, PKT_ETHERTYPE_ARP);
	put16(&fr, 1);
	put16(&fr, PKT_ETHERTYPE_IPV4);
	put8(&fr, 6);
	put8(&fr, 4);
	put16(&fr, PKT_ARP_REQUEST);
	memcpy(fr.buf + fr.len, mac_a, 6);
	fr.len += 6;
	put32(&fr, SRC_IP);
	fill(&fr, 0, 6);
	put32(&fr, IP4(192, 168, 105, 1));
	assert_int_equal(fr.len, PKT_ETH_HLEN + 28);
	parse_expect(&fr, 0, PKT_OK);
	assert_ptr_equal(pi.arp, fr.buf + PKT_ETH_HLEN);
	assert_int_equal(get16((const uint8_t *)&pi.arp->htype), 1);
	assert_int_equal(get16((const uint8_t *)&pi.arp->ptype), 0x0800);
	assert_int_equal(pi.arp->hlen, 6);
	assert_int_equal(pi.arp->plen, 4);
	assert_int_equal(get16((const uint8_t *)&pi.arp->op), 1);
	assert_memory_equal(pi.arp->sha, mac_a, 6);
	assert_memory_equal(pi.arp->spa, "\xc0\xa8\x69\x0a", 4);
	assert_memory_equal(pi.arp->tpa, "\xc0\xa8\x69\x01", 4);
	assert_null(pi.ip);

	/* Ethernet padding to the 60-byte minimum is ignored. */
	fill(&fr, 0, 60 - fr.len);
	parse_expect(&fr, 0, PKT_OK);
	assert_non_null(pi.arp);

	/* Every truncation of the ARP body. */
	for (n = PKT_ETH_HLEN; n < PKT_ETH_HLEN + 28; n++) {
		assert_int_equal(pkt_parse(fr.buf, n, &pi), 0);
		assert_int_equal(pi.malformed, PKT_BAD_ARP);
		assert_null(pi.arp);
	}
}

/* ---- IPv4 ---- */

static void
test_ipv4_udp(void **state)
{
	(void)state;
	udp_frame(&fr, 40000, 53, 12);
	parse_expect(&fr, 0, PKT_OK);
	assert_ptr_equal(pi.ip, fr.buf + PKT_ETH_HLEN);
	assert_int_equal(pi.ip_src, SRC_IP);
	assert_int_equal(pi.ip_dst, DST_IP);
	assert_int_equal(pi.ip_proto, PKT_IPPROTO_UDP);
	assert_false(pi.ip_later_fragment);
	assert_ptr_equal(pi.l4, fr.buf + PKT_ETH_HLEN + 20);
	assert_int_equal(pi.l4_len, 20);
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, 40000);
	assert_int_equal(pi.dport, 53);
	assert_ptr_equal(pi.udp_payload, fr.buf + PKT_ETH_HLEN + 28);
	assert_int_equal(pi.udp_payload_len, 12);
}

static void
test_ipv4_options(void **state)
{
	size_t opt;

	(void)state;
	for (opt = 4; opt <= 40; opt += 4) {
		eth(&fr, PKT_ETHERTYPE_IPV4);
		ipv4(&fr, PKT_IPPROTO_UDP, 0, opt, 8 + 3);
		udph(&fr, 68, 67, 8 + 3);
		fill(&fr, 0xcd, 3);
		parse_expect(&fr, 0, PKT_OK);
		assert_ptr_equal(pi.l4, fr.buf + PKT_ETH_HLEN + 20 + opt);
		assert_int_equal(pi.l4_len, 11);
		assert_int_equal(pi.sport, 68);
		assert_int_equal(pi.dport, 67);
		assert_int_equal(pi.udp_payload_len, 3);
		assert_ptr_equal(
		    pi.udp_payload, fr.buf + PKT_ETH_HLEN + 28 + opt);
		/* Cut inside the options: the header is truncated. */
		fr.len = PKT_ETH_HLEN + 20 + opt - 1;
		parse_expect(&fr, 0, PKT_BAD_IPV4);
		assert_null(pi.ip);
	}
	/* IHL 15 but tot_len only covers 20 bytes. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_UDP, 0, 40, 0);
	fr.buf[PKT_ETH_HLEN + 3] = 20;
	parse_expect(&fr, 0, PKT_BAD_IPV4);
	assert_null(pi.ip);
}

static void
test_ipv4_bad_header(void **state)
{
	size_t n;
	uint8_t ihl;

	(void)state;
	/* Every truncation of the fixed header. */
	udp_frame(&fr, 1, 2, 0);
	for (n = PKT_ETH_HLEN; n < PKT_ETH_HLEN + 20; n++) {
		assert_int_equal(pkt_parse(fr.buf, n, &pi), 0);
		assert_int_equal(pi.malformed, PKT_BAD_IPV4);
		assert_null(pi.ip);
		assert_null(pi.l4);
	}
	/* Versions other than 4. */
	udp_frame(&fr, 1, 2, 0);
	fr.buf[PKT_ETH_HLEN] = 0x65;
	parse_expect(&fr, 0, PKT_BAD_IPV4);
	fr.buf[PKT_ETH_HLEN] = 0x05;
	parse_expect(&fr, 0, PKT_BAD_IPV4);
	/* Header lengths below 20. */
	for (ihl = 0; ihl < 5; ihl++) {
		fr.buf[PKT_ETH_HLEN] = (uint8_t)(0x40 | ihl);
		parse_expect(&fr, 0, PKT_BAD_IPV4);
		assert_null(pi.ip);
	}
	/* tot_len below the header length. */
	udp_frame(&fr, 1, 2, 0);
	fr.buf[PKT_ETH_HLEN + 2] = 0;
	fr.buf[PKT_ETH_HLEN + 3] = 19;
	parse_expect(&fr, 0, PKT_BAD_IPV4);
	fr.buf[PKT_ETH_HLEN + 3] = 0;
	parse_expect(&fr, 0, PKT_BAD_IPV4);
	/* tot_len longer than the frame, by one and by a lot. */
	udp_frame(&fr, 1, 2, 4);
	fr.len--;
	parse_expect(&fr, 0, PKT_BAD_IPV4);
	assert_null(pi.ip);
	udp_frame(&fr, 1, 2, 4);
	fr.buf[PKT_ETH_HLEN + 2] = 0xff;
	fr.buf[PKT_ETH_HLEN + 3] = 0xff;
	parse_expect(&fr, 0, PKT_BAD_IPV4);
}

static void
test_ipv4_padding(void **state)
{
	(void)state;
	/* A 1-byte UDP payload padded to the Ethernet minimum of 60. */
	udp_frame(&fr, 1000, 2000, 1);
	assert_int_equal(fr.len, 43);
	fill(&fr, 0xee, 60 - fr.len);
	parse_expect(&fr, 0, PKT_OK);
	assert_int_equal(pi.l4_len, 9);
	assert_int_equal(pi.udp_payload_len, 1);
	/* tot_len shorter than the frame: the padding is not payload. */
	udp_frame(&fr, 1000, 2000, 0);
	fill(&fr, 0xee, 100);
	parse_expect(&fr, 0, PKT_OK);
	assert_int_equal(pi.l4_len, 8);
	assert_int_equal(pi.udp_payload_len, 0);
	/* A UDP length reaching into the padding is refused. */
	fr.buf[PKT_ETH_HLEN + 20 + 5] = 9;
	parse_expect(&fr, 0, PKT_BAD_L4);
	assert_non_null(pi.ip);
	assert_false(pi.has_ports);
	/* So is a TCP header that only exists in the padding. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_TCP, 0, 0, 0);
	fill(&fr, 0x50, 40);
	parse_expect(&fr, 0, PKT_BAD_L4);
	assert_int_equal(pi.l4_len, 0);
}

static void
test_ipv4_fragments(void **state)
{
	(void)state;
	/* First fragment (MF, offset 0): L4 parsed. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_UDP, PKT_IP_MF, 0, 16);
	udph(&fr, 40000, 53, 1000); /* UDP length covers all fragments */
	fill(&fr, 0, 8);
	parse_expect(&fr, 0, PKT_OK);
	assert_false(pi.ip_later_fragment);
	assert_true(pi.has_ports);
	assert_int_equal(pi.dport, 53);
	/* The payload is bounded by what this fragment holds. */
	assert_ptr_equal(pi.udp_payload, fr.buf + PKT_ETH_HLEN + 28);
	assert_int_equal(pi.udp_payload_len, 8);
	/* Still, the UDP length cannot be below its header. */
	fr.buf[PKT_ETH_HLEN + 20 + 4] = 0;
	fr.buf[PKT_ETH_HLEN + 20 + 5] = 7;
	parse_expect(&fr, 0, PKT_BAD_L4);
	/* Without MF the same UDP length is refused: not a fragment. */
	fr.buf[PKT_ETH_HLEN + 20 + 4] = 0x03;
	fr.buf[PKT_ETH_HLEN + 20 + 5] = 0xe8;
	fr.buf[PKT_ETH_HLEN + 6] = 0;
	parse_expect(&fr, 0, PKT_BAD_L4);
	/* A first fragment's TCP header must be complete (RFC 1858). */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_TCP, PKT_IP_MF, 0, 16);
	fill(&fr, 0x50, 16);
	parse_expect(&fr, 0, PKT_BAD_L4);

	/* Later fragments: no L4, whatever the payload holds. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_UDP, PKT_IP_MF | 1, 0, 3);
	fill(&fr, 0, 3);
	parse_expect(&fr, 0, PKT_OK);
	assert_true(pi.ip_later_fragment);
	assert_non_null(pi.ip);
	assert_null(pi.l4);
	assert_false(pi.has_ports);
	assert_int_equal(pi.sport, 0);
	assert_int_equal(pi.dport, 0);
	assert_null(pi.udp_payload);
	/* Last fragment (no MF), maximum offset, empty. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_TCP, PKT_IP_OFFSET, 0, 0);
	parse_expect(&fr, 0, PKT_OK);
	assert_true(pi.ip_later_fragment);
	assert_false(pi.has_ports);
	/* DF alone is no fragment. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_TCP, PKT_IP_DF, 0, 20);
	tcph(&fr, 1, 2, 5);
	parse_expect(&fr, 0, PKT_OK);
	assert_false(pi.ip_later_fragment);
	assert_true(pi.has_ports);
}

/* ---- L4 ---- */

static void
test_udp_lengths(void **state)
{
	size_t n;

	(void)state;
	/* Truncated UDP header: 0..7 bytes of IP payload. */
	for (n = 0; n < 8; n++) {
		eth(&fr, PKT_ETHERTYPE_IPV4);
		ipv4(&fr, PKT_IPPROTO_UDP, 0, 0, n);
		fill(&fr, 0, n);
		parse_expect(&fr, 0, PKT_BAD_L4);
		assert_non_null(pi.ip);
		assert_false(pi.has_ports);
		assert_null(pi.udp_payload);
	}
	/* UDP length below the header size. */
	for (n = 0; n < 8; n++) {
		eth(&fr, PKT_ETHERTYPE_IPV4);
		ipv4(&fr, PKT_IPPROTO_UDP, 0, 0, 16);
		udph(&fr, 1, 2, (uint16_t)n);
		fill(&fr, 0, 8);
		parse_expect(&fr, 0, PKT_BAD_L4);
	}
	/* UDP length beyond the IP payload. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_UDP, 0, 0, 16);
	udph(&fr, 1, 2, 17);
	fill(&fr, 0, 8);
	parse_expect(&fr, 0, PKT_BAD_L4);
	/* Exactly 8 (empty payload) and shorter than the IP payload. */
	fr.buf[PKT_ETH_HLEN + 20 + 5] = 8;
	parse_expect(&fr, 0, PKT_OK);
	assert_int_equal(pi.udp_payload_len, 0);
	assert_int_equal(pi.l4_len, 16);
	fr.buf[PKT_ETH_HLEN + 20 + 5] = 12;
	parse_expect(&fr, 0, PKT_OK);
	assert_int_equal(pi.udp_payload_len, 4);
	fr.buf[PKT_ETH_HLEN + 20 + 5] = 16;
	parse_expect(&fr, 0, PKT_OK);
	assert_int_equal(pi.udp_payload_len, 8);
}

static void
test_tcp(void **state)
{
	size_t n;
	uint8_t doff;

	(void)state;
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_TCP, 0, 0, 20 + 5);
	tcph(&fr, 40000, 443, 5);
	fill(&fr, 'x', 5);
	parse_expect(&fr, 0, PKT_OK);
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, 40000);
	assert_int_equal(pi.dport, 443);
	assert_int_equal(pi.l4_len, 25);
	assert_null(pi.udp_payload);
	/* Truncated header: 0..19 bytes. */
	for (n = 0; n < 20; n++) {
		eth(&fr, PKT_ETHERTYPE_IPV4);
		ipv4(&fr, PKT_IPPROTO_TCP, 0, 0, n);
		fill(&fr, 0x50, n);
		parse_expect(&fr, 0, PKT_BAD_L4);
		assert_false(pi.has_ports);
	}
	/* Data offsets below 5. */
	for (doff = 0; doff < 5; doff++) {
		eth(&fr, PKT_ETHERTYPE_IPV4);
		ipv4(&fr, PKT_IPPROTO_TCP, 0, 0, 20);
		tcph(&fr, 1, 2, 5);
		fr.buf[PKT_ETH_HLEN + 20 + 12] = (uint8_t)(doff << 4);
		parse_expect(&fr, 0, PKT_BAD_L4);
	}
	/* Options: offset 8 with 32 bytes present, and one byte short. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_TCP, 0, 0, 32);
	tcph(&fr, 1, 2, 8);
	parse_expect(&fr, 0, PKT_OK);
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_TCP, 0, 0, 31);
	tcph(&fr, 1, 2, 8);
	fr.len--;
	parse_expect(&fr, 0, PKT_BAD_L4);
	/* Offset 15 (60 bytes) with only 20 present. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, PKT_IPPROTO_TCP, 0, 0, 20);
	tcph(&fr, 1, 2, 5);
	fr.buf[PKT_ETH_HLEN + 20 + 12] = 0xf0;
	parse_expect(&fr, 0, PKT_BAD_L4);
}

static void
test_icmp_and_other(void **state)
{
	size_t n;

	(void)state;
	for (n = 0; n < 4; n++) {
		eth(&fr, PKT_ETHERTYPE_IPV4);
		ipv4(&fr, PKT_IPPROTO_ICMP, 0, 0, n);
		fill(&fr, 8, n);
		parse_expect(&fr, 0, PKT_BAD_L4);
		assert_non_null(pi.ip);
	}
	for (n = 4; n <= 8; n += 4) {
		eth(&fr, PKT_ETHERTYPE_IPV4);
		ipv4(&fr, PKT_IPPROTO_ICMP, 0, 0, n);
		fill(&fr, 8, n);
		parse_expect(&fr, 0, PKT_OK);
		assert_int_equal(pi.ip_proto, PKT_IPPROTO_ICMP);
		assert_false(pi.has_ports);
		assert_int_equal(pi.l4_len, n);
	}
	/* Unknown protocols: IP parsed, no ports, even when empty. */
	eth(&fr, PKT_ETHERTYPE_IPV4);
	ipv4(&fr, 47, 0, 0, 0);
	parse_expect(&fr, 0, PKT_OK);
	assert_int_equal(pi.ip_proto, 47);
	assert_false(pi.has_ports);
	assert_int_equal(pi.l4_len, 0);
}

/* A parse reused for a second frame keeps nothing from the first. */
static void
test_reparse_clears(void **state)
{
	(void)state;
	udp_frame(&fr, 1, 2, 4);
	parse_expect(&fr, 0, PKT_OK);
	assert_true(pi.has_ports);
	eth(&fr, PKT_ETHERTYPE_ARP);
	parse_expect(&fr, 0, PKT_BAD_ARP);
	assert_null(pi.ip);
	assert_false(pi.has_ports);
	assert_null(pi.udp_payload);
	assert_int_equal(pi.ip_src, 0);
}

/* ---- checksums ---- */

/* RFC 1071 word by word, big-endian: the reference pkt_csum must match. */
static uint16_t
csum_reference(const uint8_t *p, size_t len, uint32_t sum)
{
	uint64_t s = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len % 2)
		s += (uint32_t)(p[len - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* The fast sum agrees with the reference at every length and alignment,
 * for random data, all-zero and all-0xff data, and any incoming sum. */
static void
test_csum_matches_reference(void **state)
{
	static uint8_t buf[2048 + 8];
	uint32_t seed = 12345,
	         sums[] = {0, 1, 0xffff, 0x1fffe, 0x3fffc, 0xfffffff0};
	size_t len, off, k, fill;

	(void)state;
	for (fill = 0; fill < 3; fill++) {
		for (k = 0; k < sizeof(buf); k++) {
			seed = seed * 1103515245 + 12345;
			buf[k] = fill == 0   ? (uint8_t)(seed >> 16)
			         : fill == 1 ? 0
			                     : 0xff;
		}
		for (len = 0; len <= 300; len++)
			for (off = 0; off < 8; off++)
				for (k = 0; k < sizeof(sums) / sizeof(sums[0]);
				     k++)
					assert_int_equal(
					    pkt_csum(buf + off, len, sums[k]),
					    csum_reference(
					        buf + off, len, sums[k]));
		for (len = 1400; len <= 2048; len += 61)
			assert_int_equal(pkt_csum(buf + 3, len, 0x12345),
			    csum_reference(buf + 3, len, 0x12345));
	}
}

static void
test_csum(void **state)
{
	/* RFC 1071 section 3 example: sum 0xddf2, checksum 0x220d. */
	static const uint8_t rfc[8] = {
	    0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	/* A real IPv4 header with its checksum 0xb861. */
	uint8_t hdr[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40,
	    0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	uint16_t c;
	uint8_t odd[3] = {0x12, 0x34, 0x56};

	(void)state;
	c = pkt_csum(rfc, sizeof(rfc), 0);
	assert_memory_equal(&c, "\x22\x0d", 2);
	/* A valid header sums to zero. */
	assert_int_equal(pkt_csum(hdr, sizeof(hdr), 0), 0);
	hdr[10] = hdr[11] = 0;
	c = pkt_csum(hdr, sizeof(hdr), 0);
	assert_memory_equal(&c, "\xb8\x61", 2);
	/* Odd length pads with a zero byte: 0x1234 + 0x5600 = 0x6834. */
	c = pkt_csum(odd, sizeof(odd), 0);
	assert_memory_equal(&c, "\x97\xcb", 2);
	/* A starting partial sum is folded in, carries included. */
	c = pkt_csum(odd, 0, 0x1234);
	assert_memory_equal(&c, "\xed\xcb", 2);
	c = pkt_csum(odd, 2, 0x0001ffff);
	assert_memory_equal(&c, "\xed\xca", 2);
	/* Empty data and zero sum: 0xffff. */
	c = pkt_csum(odd, 0, 0);
	assert_int_equal(c, 0xffff);
	/* The sum over 0xffff words stays folded. */
	memset(hdr, 0xff, sizeof(hdr));
	assert_int_equal(pkt_csum(hdr, sizeof(hdr), 0), 0);

	/* Pseudo-header: both addresses split in halves, proto and len. */
	assert_int_equal(pkt_pseudo_sum(IP4(192, 168, 0, 1),
	                     IP4(192, 168, 0, 199), 17, 0x64),
	    0xc0a8 + 0x0001 + 0xc0a8 + 0x00c7 + 17 + 0x64);
	assert_int_equal(pkt_pseudo_sum(0xffffffff, 0xffffffff, 255, 0xffff),
	    4 * 0xffff + 255 + 0xffff);
}

/* Verifies a built UDP frame by re-parsing it and checking both sums. */
static void
verify_udp4(const uint8_t *buf, size_t len, const struct pkt_udp4_addr *a,
    size_t payload_len)
{
	const uint8_t *ip = buf + PKT_ETH_HLEN;
	uint16_t ucsum;

	assert_int_equal(pkt_parse(buf, len, &pi), 0);
	assert_int_equal(pi.malformed, PKT_OK);
	assert_memory_equal(pi.eth->dst, a->dst_mac, 6);
	assert_memory_equal(pi.eth->src, a->src_mac, 6);
	assert_int_equal(pi.ethertype, PKT_ETHERTYPE_IPV4);
	assert_false(pi.tagged);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(get16(ip + 2), 28 + payload_len);
	assert_int_equal(get16(ip + 6) & (PKT_IP_MF | PKT_IP_OFFSET), 0);
	assert_true(ip[8] > 0);
	assert_int_equal(pi.ip_proto, PKT_IPPROTO_UDP);
	assert_int_equal(pi.ip_src, a->src_ip);
	assert_int_equal(pi.ip_dst, a->dst_ip);
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, a->sport);
	assert_int_equal(pi.dport, a->dport);
	assert_int_equal(get16(pi.l4 + 4), 8 + payload_len);
	assert_ptr_equal(pi.udp_payload, buf + PKT_UDP4_HLEN);
	assert_int_equal(pi.udp_payload_len, payload_len);
	/* IPv4 header checksum verifies. */
	assert_int_equal(pkt_csum(ip, 20, 0), 0);
	/* UDP checksum present and verifies over the pseudo-header. */
	memcpy(&ucsum, pi.l4 + 6, 2);
	assert_int_not_equal(ucsum, 0);
	assert_int_equal(pkt_csum(pi.l4, 8 + payload_len,
	                     pkt_pseudo_sum(a->src_ip, a->dst_ip,
	                         PKT_IPPROTO_UDP, (uint16_t)(8 + payload_len))),
	    0);
}

static uint8_t big[PKT_MAX_FRAME + 64];

static void
test_build_udp4(void **state)
{
	struct pkt_udp4_addr a = {.src_ip = IP4(192, 168, 105, 1),
	    .dst_ip = IP4(192, 168, 105, 10),
	    .sport = 67,
	    .dport = 68};
	size_t n, len, p;
	uint16_t c;

	(void)state;
	memcpy(a.src_mac, mac_a, 6);
	memcpy(a.dst_mac, mac_b, 6);

	/* Empty, odd and even payloads. */
	for (p = 0; p < 10; p++) {
		for (n = 0; n < p; n++)
			big[PKT_UDP4_HLEN + n] = (uint8_t)(0xf0 + n * 7);
		len = pkt_build_udp4(big, sizeof(big), &a, p);
		assert_int_equal(len, PKT_UDP4_HLEN + p);
		verify_udp4(big, len, &a, p);
		/* The payload is left as it was. */
		for (n = 0; n < p; n++)
			assert_int_equal(
			    big[PKT_UDP4_HLEN + n], (uint8_t)(0xf0 + n * 7));
	}
	/* A DHCP-sized broadcast reply. */
	a.dst_ip = 0xffffffff;
	memset(a.dst_mac, 0xff, 6);
	memset(big + PKT_UDP4_HLEN, 0x63, 300);
	len = pkt_build_udp4(big, sizeof(big), &a, 300);
	assert_int_equal(len, PKT_UDP4_HLEN + 300);
	verify_udp4(big, len, &a, 300);

	/* Capacity: exact fits, one byte short refuses. */
	assert_int_equal(
	    pkt_build_udp4(big, PKT_UDP4_HLEN + 5, &a, 5), PKT_UDP4_HLEN + 5);
	assert_int_equal(pkt_build_udp4(big, PKT_UDP4_HLEN + 4, &a, 5), 0);
	assert_int_equal(pkt_build_udp4(big, PKT_UDP4_HLEN - 1, &a, 0), 0);
	assert_int_equal(pkt_build_udp4(big, 0, &a, 0), 0);
	assert_int_equal(pkt_build_udp4(big, 4, &a, 5), 0);
	assert_int_equal(pkt_build_udp4(big, 0, &a, (size_t)-1), 0);
	/* Largest IPv4 packet: 65535 - 28 bytes of payload, not one more. */
	memset(big + PKT_UDP4_HLEN, 0x5a, 65535 - 28);
	len = pkt_build_udp4(big, sizeof(big), &a, 65535 - 28);
	assert_int_equal(len, PKT_UDP4_HLEN + 65535 - 28);
	verify_udp4(big, len, &a, 65535 - 28);
	assert_int_equal(pkt_build_udp4(big, sizeof(big), &a, 65535 - 27), 0);

	/*
	 * A payload chosen so the checksum computes to 0: it must be sent as
	 * 0xffff (0 means "no checksum"). With a 2-byte payload whose word is
	 * the checksum of the zero payload, the one's complement sum becomes
	 * 0xffff and its complement 0.
	 */
	a.dst_ip = IP4(10, 0, 0, 1);
	big[PKT_UDP4_HLEN] = big[PKT_UDP4_HLEN + 1] = 0;
	len = pkt_build_udp4(big, sizeof(big), &a, 2);
	memcpy(&c, big + PKT_UDP4_HLEN - 2, 2);
	memcpy(big + PKT_UDP4_HLEN, &c, 2);
	len = pkt_build_udp4(big, sizeof(big), &a, 2);
	memcpy(&c, big + PKT_UDP4_HLEN - 2, 2);
	assert_int_equal(c, 0xffff);
	verify_udp4(big, len, &a, 2);
}

/*
 * pkt_build_arp against frames written out byte by byte: a gratuitous
 * request as switch.c announces a lease, and a reply with every field
 * distinct (a swapped field or byte order shows); too small a buffer
 * gets nothing written.
 */
static void
test_build_arp(void **state)
{
	static const uint8_t request[] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* Ethernet destination */
	    0x02, 0x11, 0x22, 0x33, 0x44, 0x55, /* Ethernet source */
	    0x08, 0x06,                         /* ARP */
	    0x00, 0x01,                         /* htype Ethernet */
	    0x08, 0x00,                         /* ptype IPv4 */
	    0x06, 0x04,                         /* hlen, plen */
	    0x00, 0x01,                         /* request */
	    0x02, 0x11, 0x22, 0x33, 0x44, 0x55, /* sha */
	    0xc0, 0xa8, 0x69, 0x0a,             /* spa 192.168.105.10 */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* tha */
	    0xc0, 0xa8, 0x69, 0x0a,             /* tpa 192.168.105.10 */
	};
	static const uint8_t reply[] = {
	    0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, /* Ethernet destination */
	    0x02, 0x11, 0x22, 0x33, 0x44, 0x55, /* Ethernet source */
	    0x08, 0x06,                         /* ARP */
	    0x00, 0x01,                         /* htype Ethernet */
	    0x08, 0x00,                         /* ptype IPv4 */
	    0x06, 0x04,                         /* hlen, plen */
	    0x00, 0x02,                         /* reply */
	    0x02, 0x11, 0x22, 0x33, 0x44, 0x55, /* sha */
	    0x0a, 0x01, 0x02, 0x03,             /* spa 10.1.2.3 */
	    0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* tha */
	    0xac, 0x10, 0x20, 0x30,             /* tpa 172.16.32.48 */
	};
	struct pkt_arp_fields f = {.op = PKT_ARP_REQUEST,
	    .spa = IP4(192, 168, 105, 10),
	    .tpa = IP4(192, 168, 105, 10)};
	uint8_t buf[64];

	(void)state;
	assert_int_equal(PKT_ARP_FRAME_LEN, sizeof(request));
	memset(f.dst_mac, 0xff, 6);
	memcpy(f.sha, mac_a, 6);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pkt_build_arp(buf, sizeof(buf), &f), sizeof(request));
	assert_memory_equal(buf, request, sizeof(request));
	assert_int_equal(buf[sizeof(request)], 0x5a); /* nothing past it */

	f.op = PKT_ARP_REPLY;
	memcpy(f.dst_mac, mac_b, 6);
	f.spa = IP4(10, 1, 2, 3);
	memcpy(f.tha, (const uint8_t[6]){6, 5, 4, 3, 2, 1}, 6);
	f.tpa = IP4(172, 16, 32, 48);
	assert_int_equal(pkt_build_arp(buf, sizeof(reply), &f), sizeof(reply));
	assert_memory_equal(buf, reply, sizeof(reply));

	/* Parsed back, it is the well-formed ARP the filter expects. */
	assert_int_equal(pkt_parse(buf, sizeof(reply), &pi), 0);
	assert_int_equal(pi.ethertype, PKT_ETHERTYPE_ARP);
	assert_non_null(pi.arp);
	assert_int_equal(pkt_arp_spa(pi.arp), IP4(10, 1, 2, 3));
	assert_int_equal(pkt_arp_tpa(pi.arp), IP4(172, 16, 32, 48));

	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(pkt_build_arp(buf, sizeof(reply) - 1, &f), 0);
	assert_int_equal(pkt_build_arp(buf, 0, &f), 0);
	assert_int_equal(buf[0], 0x5a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runt),
	    cmocka_unit_test(test_ethernet),
	    cmocka_unit_test(test_vlan),
	    cmocka_unit_test(test_arp),
	    cmocka_unit_test(test_ipv4_udp),
	    cmocka_unit_test(test_ipv4_options),
	    cmocka_unit_test(test_ipv4_bad_header),
	    cmocka_unit_test(test_ipv4_padding),
	    cmocka_unit_test(test_ipv4_fragments),
	    cmocka_unit_test(test_udp_lengths),
	    cmocka_unit_test(test_tcp),
	    cmocka_unit_test(test_icmp_and_other),
	    cmocka_unit_test(test_reparse_clears),
	    cmocka_unit_test(test_csum),
	    cmocka_unit_test(test_csum_matches_reference),
	    cmocka_unit_test(test_build_udp4),
	    cmocka_unit_test(test_build_arp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
