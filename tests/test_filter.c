/*
 * The isolation filter, rule by rule and in both directions. Every frame is
 * built byte by byte here, parsed with pkt_parse, and the test checks both
 * the verdict and the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "filter.h"
#include "pkt.h"
#include "policy.h"

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))

#define GW      IP4(192, 168, 105, 1)
#define MASK    IP4(255, 255, 255, 0)
#define VM_IP   IP4(192, 168, 105, 10)
#define PEER_IP IP4(192, 168, 105, 11)
#define DNS_IP  IP4(10, 0, 0, 53)
#define GLOBAL  IP4(8, 8, 8, 8)

#define ETH_ARP  0x0806
#define ETH_IPV4 0x0800

static const uint8_t vm_mac[6] = {0x02, 0, 0, 0, 0, 0x0a};
static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x0b};
static const uint8_t gw_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
static const uint8_t zero_mac[6];

static const uint32_t dns_servers[] = {GW, DNS_IP};

/* A frame under construction and its parse. */
struct frame {
	uint8_t buf[2048];
	size_t len;
	struct pkt_info pi;
};

/* Test fixture: the network, the VM and its (initially empty) policy. */
struct fix {
	struct filter_net net;
	struct filter_vm vm;
	struct policy pol;
	struct frame f;
};

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

/* Appends n raw bytes. */
static void
put(struct frame *f, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		put8(f, p[i]);
}

/* Starts a frame with an Ethernet header. */
static void
eth(struct frame *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	f->len = 0;
	put(f, dst, 6);
	put(f, src, 6);
	put16(f, type);
}

/* Builds Ethernet + ARP (Ethernet/IPv4) with the given fields. */
static void
arp(struct frame *f, const uint8_t *edst, const uint8_t *esrc, uint16_t op,
    const uint8_t *sha, uint32_t spa, uint32_t tpa)
{
	eth(f, edst, esrc, ETH_ARP);
	put16(f, 1);
	put16(f, 0x0800);
	put8(f, 6);
	put8(f, 4);
	put16(f, op);
	put(f, sha, 6);
	put32(f, spa);
	put(f, op == 1 ? zero_mac : edst, 6);
	put32(f, tpa);
}

/* Builds Ethernet + IPv4 (20-byte header) around an L4 payload. */
static void
ip4(struct frame *f, const uint8_t *edst, const uint8_t *esrc, uint32_t src,
    uint32_t dst, uint8_t proto, uint16_t frag, const uint8_t *l4, size_t l4len)
{
	size_t h;

	eth(f, edst, esrc, ETH_IPV4);
	h = f->len;
	put8(f, 0x45);
	put8(f, 0);
	put16(f, (uint16_t)(20 + l4len));
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, src);
	put32(f, dst);
	memcpy(&f->buf[h + 10], (uint16_t[]){pkt_csum(&f->buf[h], 20, 0)}, 2);
	put(f, l4, l4len);
}

/* Builds a UDP/IPv4 frame with an 8-byte payload through pkt_build_udp4. */
static void
udp(struct frame *f, const uint8_t *edst, const uint8_t *esrc, uint32_t src,
    uint32_t dst, uint16_t sport, uint16_t dport)
{
	struct pkt_udp4_addr a = {
	    .src_ip = src, .dst_ip = dst, .sport = sport, .dport = dport};

	memcpy(a.src_mac, esrc, 6);
	memcpy(a.dst_mac, edst, 6);
	memset(f->buf + PKT_UDP4_HLEN, 0x5a, 8);
	f->len = pkt_build_udp4(f->buf, sizeof(f->buf), &a, 8);
	assert_int_equal(f->len, PKT_UDP4_HLEN + 8);
}

/* Builds a TCP SYN/IPv4 frame. */
static void
tcp(struct frame *f, const uint8_t *edst, const uint8_t *esrc, uint32_t src,
    uint32_t dst, uint16_t sport, uint16_t dport)
{
	uint8_t h[20] = {0};

	h[0] = (uint8_t)(sport >> 8);
	h[1] = (uint8_t)sport;
	h[2] = (uint8_t)(dport >> 8);
	h[3] = (uint8_t)dport;
	h[12] = 5 << 4;
	h[13] = 0x02;
	h[14] = 0xff;
	ip4(f, edst, esrc, src, dst, PKT_IPPROTO_TCP, 0, h, sizeof(h));
}

/* Builds an ICMP echo request/IPv4 frame. */
static void
icmp(struct frame *f, const uint8_t *edst, const uint8_t *esrc, uint32_t src,
    uint32_t dst)
{
	uint8_t h[8] = {8, 0, 0, 0, 0, 1, 0, 1};

	ip4(f, edst, esrc, src, dst, PKT_IPPROTO_ICMP, 0, h, sizeof(h));
}

/* Parses the fixture's frame (runts included: pkt_parse leaves eth NULL). */
static const struct pkt_info *
parse(struct frame *f)
{
	(void)pkt_parse(f->buf, f->len, &f->pi);
	return &f->pi;
}

/* Runs filter_from_vm on the fixture's frame and checks verdict/reason. */
static void
check_from(struct fix *x, enum filter_verdict want, enum drop_reason why)
{
	enum drop_reason got = DROP__COUNT;
	enum filter_verdict v;

	v = filter_from_vm(&x->net, &x->vm, parse(&x->f), &got);
	assert_int_equal(v, want);
	if (want == FILTER_DROP)
		assert_string_equal(
		    drop_reason_name(got), drop_reason_name(why));
}

/* Runs filter_to_vm on the fixture's frame and checks verdict/reason. */
static void
check_to(struct fix *x, enum filter_verdict want, enum drop_reason why)
{
	enum drop_reason got = DROP__COUNT;
	enum filter_verdict v;

	v = filter_to_vm(&x->net, &x->vm, parse(&x->f), &got);
	assert_int_equal(v, want);
	if (want == FILTER_DROP)
		assert_string_equal(
		    drop_reason_name(got), drop_reason_name(why));
}

#define PASS_FROM(x)    check_from((x), FILTER_PASS, DROP__COUNT)
#define DROP_FROM(x, r) check_from((x), FILTER_DROP, DROP_##r)
#define PASS_TO(x)      check_to((x), FILTER_PASS, DROP__COUNT)
#define DROP_TO(x, r)   check_to((x), FILTER_DROP, DROP_##r)

static struct fix fx;

/* Resets the fixture: leased VM, no rules, DNS = gateway and 10.0.0.53. */
static int
setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	fx.net.gateway = GW;
	fx.net.netmask = MASK;
	fx.net.dns = dns_servers;
	fx.net.ndns = 2;
	fx.vm.mac = vm_mac;
	fx.vm.ip = VM_IP;
	policy_init(&fx.pol);
	fx.vm.policy = &fx.pol;
	*state = &fx;
	return 0;
}

/* Adds a policy entry, failing the test if it is refused. */
static void
rule(struct fix *x, const char *entry, bool block)
{
	char err[POLICY_ERRLEN];

	assert_int_equal(
	    policy_add(&x->pol, entry, block, err, sizeof(err)), 0);
}

/* ---- Ethernet layer ---- */

static void
test_from_runt(void **state)
{
	struct fix *x = *state;

	x->f.len = 0;
	DROP_FROM(x, RUNT);
	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 53);
	x->f.len = 13;
	DROP_FROM(x, RUNT);
	DROP_TO(x, RUNT);
}

static void
test_from_src_mac(void **state)
{
	struct fix *x = *state;

	udp(&x->f, gw_mac, peer_mac, VM_IP, GLOBAL, 1000, 53);
	DROP_FROM(x, SRC_MAC);
	arp(&x->f, bcast, peer_mac, 1, vm_mac, VM_IP, GW);
	DROP_FROM(x, SRC_MAC);
	/* Even the DHCP exception needs the VM's own MAC. */
	udp(&x->f, bcast, peer_mac, 0, 0xffffffff, 68, 67);
	DROP_FROM(x, SRC_MAC);
	/* Only the Ethernet header present. */
	eth(&x->f, bcast, peer_mac, ETH_IPV4);
	DROP_FROM(x, SRC_MAC);
}

/* Wraps an already built frame in 802.1Q/802.1ad tags. */
static void
add_tag(struct frame *f, uint16_t tpid)
{
	memmove(f->buf + 16, f->buf + 12, f->len - 12);
	f->buf[12] = (uint8_t)(tpid >> 8);
	f->buf[13] = (uint8_t)tpid;
	f->len += 4;
	/* TCI: VLAN 5; the original ethertype follows at 16. */
	f->buf[14] = 0;
	f->buf[15] = 5;
}

static void
test_vlan(void **state)
{
	struct fix *x = *state;

	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 53);
	add_tag(&x->f, 0x8100);
	DROP_FROM(x, VLAN);
	add_tag(&x->f, 0x88a8);
	DROP_FROM(x, VLAN);
	udp(&x->f, vm_mac, gw_mac, GLOBAL, VM_IP, 53, 1000);
	add_tag(&x->f, 0x8100);
	DROP_TO(x, VLAN);
	arp(&x->f, gw_mac, vm_mac, 1, vm_mac, VM_IP, GW);
	add_tag(&x->f, 0x8100);
	DROP_FROM(x, VLAN);
	/* A truncated tag is still a tag. */
	eth(&x->f, gw_mac, vm_mac, 0x8100);
	put8(&x->f, 0);
	DROP_FROM(x, VLAN);
	DROP_TO(x, VLAN);
}

static void
test_ipv6_and_ethertype(void **state)
{
	struct fix *x = *state;
	static const uint8_t v6[64] = {0x60};

	eth(&x->f, gw_mac, vm_mac, 0x86dd);
	put(&x->f, v6, sizeof(v6));
	DROP_FROM(x, IPV6);
	eth(&x->f, vm_mac, gw_mac, 0x86dd);
	put(&x->f, v6, sizeof(v6));
	DROP_TO(x, IPV6);
	eth(&x->f, bcast, vm_mac, 0x88cc); /* LLDP */
	put(&x->f, v6, sizeof(v6));
	DROP_FROM(x, ETHERTYPE);
	eth(&x->f, vm_mac, gw_mac, 0x8035); /* RARP */
	put(&x->f, v6, 28);
	DROP_TO(x, ETHERTYPE);
	/* An 802.3 length field is no ethertype either. */
	eth(&x->f, vm_mac, gw_mac, 46);
	put(&x->f, v6, 46);
	DROP_TO(x, ETHERTYPE);
	DROP_FROM(x, SRC_MAC);
}

/* ---- ARP from the VM ---- */

static void
test_from_arp_ok(void **state)
{
	struct fix *x = *state;

	/* Request for the gateway. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, GW);
	PASS_FROM(x);
	/* Reply to the gateway. */
	arp(&x->f, gw_mac, vm_mac, 2, vm_mac, VM_IP, GW);
	PASS_FROM(x);
	/* Gratuitous announcement of its own address. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, VM_IP);
	PASS_FROM(x);
	arp(&x->f, bcast, vm_mac, 2, vm_mac, VM_IP, VM_IP);
	PASS_FROM(x);
	/* Ethernet padding to 60 bytes does not matter. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, GW);
	while (x->f.len < 60)
		put8(&x->f, 0);
	PASS_FROM(x);
	/* "@host" blocked: resolving the gateway itself is still allowed. */
	rule(x, "@host", true);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, GW);
	PASS_FROM(x);
}

/* Builds an ARP request from the VM and then overwrites one header byte. */
static void
arp_poke(struct frame *f, size_t off, uint8_t v)
{
	arp(f, bcast, vm_mac, 1, vm_mac, VM_IP, GW);
	f->buf[PKT_ETH_HLEN + off] = v;
}

static void
test_arp_malformed(void **state)
{
	struct fix *x = *state;
	int dir;

	for (dir = 0; dir < 2; dir++) {
		const uint8_t *src = dir == 0 ? vm_mac : gw_mac;
		void (*chk)(struct fix *, enum filter_verdict,
		    enum drop_reason) = dir == 0 ? check_from : check_to;

		/* Truncated: one byte short of the 28-byte ARP body. */
		arp(&x->f, bcast, src, 1, src, dir ? GW : VM_IP,
		    dir ? VM_IP : GW);
		x->f.len--;
		chk(x, FILTER_DROP, DROP_ARP_MALFORMED);
		/* Only the Ethernet header. */
		x->f.len = PKT_ETH_HLEN;
		chk(x, FILTER_DROP, DROP_ARP_MALFORMED);
	}
	arp_poke(&x->f, 1, 6); /* htype 6 (IEEE 802) */
	DROP_FROM(x, ARP_MALFORMED);
	arp_poke(&x->f, 0, 1); /* htype 0x0101 */
	DROP_FROM(x, ARP_MALFORMED);
	arp_poke(&x->f, 3, 0xdd); /* ptype 0x08dd */
	DROP_FROM(x, ARP_MALFORMED);
	arp_poke(&x->f, 4, 8); /* hlen 8 */
	DROP_FROM(x, ARP_MALFORMED);
	arp_poke(&x->f, 5, 16); /* plen 16 */
	DROP_FROM(x, ARP_MALFORMED);
	arp_poke(&x->f, 7, 0); /* op 0 */
	DROP_FROM(x, ARP_MALFORMED);
	arp_poke(&x->f, 7, 3); /* op 3 (RARP request) */
	DROP_FROM(x, ARP_MALFORMED);
	arp_poke(&x->f, 6, 1); /* op 0x0101 */
	DROP_FROM(x, ARP_MALFORMED);

	/* The same malformations toward the VM. */
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GW, VM_IP);
	x->f.buf[PKT_ETH_HLEN + 7] = 9;
	DROP_TO(x, ARP_MALFORMED);
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GW, VM_IP);
	x->f.buf[PKT_ETH_HLEN + 2] = 0x86;
	DROP_TO(x, ARP_MALFORMED);
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GW, VM_IP);
	x->f.buf[PKT_ETH_HLEN + 4] = 0;
	DROP_TO(x, ARP_MALFORMED);
}

static void
test_from_arp_spoof(void **state)
{
	struct fix *x = *state;

	/* Someone else's sender MAC. */
	arp(&x->f, bcast, vm_mac, 1, peer_mac, VM_IP, GW);
	DROP_FROM(x, ARP_SPOOF);
	/* Someone else's sender IP. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, PEER_IP, GW);
	DROP_FROM(x, ARP_SPOOF);
	/* Gratuitous ARP claiming the gateway. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, GW, GW);
	DROP_FROM(x, ARP_SPOOF);
	arp(&x->f, bcast, vm_mac, 2, vm_mac, GW, GW);
	DROP_FROM(x, ARP_SPOOF);
	/* Poisoning a peer: reply claiming the gateway sent to another VM. */
	arp(&x->f, peer_mac, vm_mac, 2, vm_mac, GW, PEER_IP);
	DROP_FROM(x, ARP_SPOOF);
	/* With a lease, a probe (RFC 5227) may only ask for the lease... */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, 0, VM_IP);
	PASS_FROM(x);
	/* ...not for anyone else, the gateway included. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, 0, GW);
	DROP_FROM(x, ARP_SPOOF);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, 0, PEER_IP);
	DROP_FROM(x, ARP_SPOOF);
}

static void
test_from_arp_before_lease(void **state)
{
	struct fix *x = *state;

	x->vm.ip = 0;
	/* Probe (sender 0.0.0.0) for the gateway. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, 0, GW);
	PASS_FROM(x);
	/* Claiming any address before a lease is spoofing. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, GW);
	DROP_FROM(x, ARP_SPOOF);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, VM_IP);
	DROP_FROM(x, ARP_SPOOF);
	/* A probe with no target is not the VM's own address. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, 0, 0);
	DROP_FROM(x, ARP_TARGET);
	/* A probe for a private peer is not allowed by default... */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, 0, PEER_IP);
	DROP_FROM(x, ARP_TARGET);
	/* ...but is once the subnet is allowed. */
	rule(x, "192.168.105.0/24", false);
	PASS_FROM(x);
}

static void
test_from_arp_target(void **state)
{
	struct fix *x = *state;

	/* Another VM's address: private, blocked by default. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, PEER_IP);
	DROP_FROM(x, ARP_TARGET);
	/* Addresses outside the subnet are never on-link. */
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, GLOBAL);
	DROP_FROM(x, ARP_TARGET);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, IP4(10, 0, 0, 1));
	DROP_FROM(x, ARP_TARGET);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, 0xffffffff);
	DROP_FROM(x, ARP_TARGET);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, IP4(192, 168, 105, 255));
	DROP_FROM(x, ARP_TARGET);

	/* Allowing the subnet allows resolving peers on it. */
	rule(x, "192.168.105.0/24", false);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, PEER_IP);
	PASS_FROM(x);
	arp(&x->f, peer_mac, vm_mac, 2, vm_mac, VM_IP, PEER_IP);
	PASS_FROM(x);
	/* Allowing the world still keeps off-link targets out. */
	rule(x, "0.0.0.0/0", false);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, GLOBAL);
	DROP_FROM(x, ARP_TARGET);
	/* A more specific block wins over the subnet allow. */
	rule(x, "192.168.105.11", true);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, PEER_IP);
	DROP_FROM(x, ARP_TARGET);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, IP4(192, 168, 105, 12));
	PASS_FROM(x);
}

/* ---- IPv4 from the VM ---- */

/* Builds Ethernet + IPv4 with options (a multiple of 4) + an ICMP echo. */
static void
ip4_opts(struct frame *f, uint32_t dst, const uint8_t *opts, size_t olen)
{
	static const uint8_t echo[8] = {8, 0, 0xf7, 0xff, 0, 0, 0, 0};
	size_t h, hlen = 20 + olen;

	eth(f, gw_mac, vm_mac, ETH_IPV4);
	h = f->len;
	put8(f, (uint8_t)(0x40 | hlen / 4));
	put8(f, 0);
	put16(f, (uint16_t)(hlen + sizeof(echo)));
	put16(f, 0x1234);
	put16(f, 0);
	put8(f, 64);
	put8(f, PKT_IPPROTO_ICMP);
	put16(f, 0);
	put32(f, VM_IP);
	put32(f, dst);
	put(f, opts, olen);
	memcpy(&f->buf[h + 10], (uint16_t[]){pkt_csum(&f->buf[h], hlen, 0)}, 2);
	put(f, echo, sizeof(echo));
}

/*
 * IPv4 options from a VM are dropped (ip_options), whatever the
 * destination: loose and strict source routes would have the host
 * forward the packet to the route's next hop; padding alone passes.
 */
static void
test_from_ip_options(void **state)
{
	struct fix *x = *state;
	/* LSRR/SSRR: type, length 7, pointer 4, one hop; then EOL. */
	static const uint8_t lsrr[8] = {0x83, 7, 4, 10, 0, 0, 1, 0};
	static const uint8_t ssrr[8] = {0x89, 7, 4, 10, 0, 0, 1, 0};
	static const uint8_t rr[8] = {7, 7, 4, 0, 0, 0, 0, 0};
	static const uint8_t ra[4] = {0x94, 4, 0, 0};
	static const uint8_t pad[4] = {1, 1, 1, 0};

	ip4_opts(&x->f, GLOBAL, NULL, 0);
	PASS_FROM(x);
	ip4_opts(&x->f, GLOBAL, lsrr, sizeof(lsrr));
	DROP_FROM(x, IP_OPTIONS);
	ip4_opts(&x->f, GW, lsrr, sizeof(lsrr));
	DROP_FROM(x, IP_OPTIONS);
	ip4_opts(&x->f, GLOBAL, ssrr, sizeof(ssrr));
	DROP_FROM(x, IP_OPTIONS);
	ip4_opts(&x->f, GLOBAL, rr, sizeof(rr));
	DROP_FROM(x, IP_OPTIONS);
	ip4_opts(&x->f, GLOBAL, ra, sizeof(ra));
	DROP_FROM(x, IP_OPTIONS);
	ip4_opts(&x->f, GLOBAL, pad, sizeof(pad));
	PASS_FROM(x);
}

static void
test_from_ip_malformed(void **state)
{
	struct fix *x = *state;
	uint8_t l4[20] = {0};

	/* Truncated IPv4 header. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 53);
	x->f.len = PKT_ETH_HLEN + 19;
	DROP_FROM(x, IP_MALFORMED);
	x->f.len = PKT_ETH_HLEN;
	DROP_FROM(x, IP_MALFORMED);
	/* Version 6 in an IPv4 ethertype. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 53);
	x->f.buf[PKT_ETH_HLEN] = 0x65;
	DROP_FROM(x, IP_MALFORMED);
	/* Header length below 20. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 53);
	x->f.buf[PKT_ETH_HLEN] = 0x44;
	DROP_FROM(x, IP_MALFORMED);
	/* tot_len longer than the frame. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 53);
	x->f.len--;
	DROP_FROM(x, IP_MALFORMED);
	/* Truncated UDP / TCP / ICMP headers (tot_len consistent). */
	ip4(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, PKT_IPPROTO_UDP, 0, l4, 7);
	DROP_FROM(x, IP_MALFORMED);
	ip4(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, PKT_IPPROTO_TCP, 0, l4, 19);
	DROP_FROM(x, IP_MALFORMED);
	ip4(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, PKT_IPPROTO_ICMP, 0, l4, 3);
	DROP_FROM(x, IP_MALFORMED);
	/* A malformed DHCP-looking frame is malformed, not DHCP. */
	udp(&x->f, bcast, vm_mac, 0, 0xffffffff, 68, 67);
	x->f.buf[PKT_ETH_HLEN + 20 + 5] = 200; /* UDP len > IP payload */
	DROP_FROM(x, IP_MALFORMED);
	/* Toward the VM too. */
	udp(&x->f, vm_mac, gw_mac, GLOBAL, VM_IP, 53, 1000);
	x->f.len--;
	DROP_TO(x, IP_MALFORMED);
	ip4(&x->f, vm_mac, gw_mac, GLOBAL, VM_IP, PKT_IPPROTO_TCP, 0, l4, 19);
	DROP_TO(x, IP_MALFORMED);
}

static void
test_from_dhcp(void **state)
{
	struct fix *x = *state;

	/* DISCOVER from 0.0.0.0 before a lease. */
	x->vm.ip = 0;
	udp(&x->f, bcast, vm_mac, 0, 0xffffffff, 68, 67);
	check_from(x, FILTER_DHCP, DROP__COUNT);
	/* RENEW unicast to the server from the leased address. */
	x->vm.ip = VM_IP;
	udp(&x->f, gw_mac, vm_mac, VM_IP, GW, 68, 67);
	check_from(x, FILTER_DHCP, DROP__COUNT);
	/* Any source address: the server validates the message itself. */
	udp(&x->f, bcast, vm_mac, PEER_IP, 0xffffffff, 68, 67);
	check_from(x, FILTER_DHCP, DROP__COUNT);
	/* Wrong port pairs are not DHCP. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GW, 67, 67);
	DROP_FROM(x, ROGUE_DHCP);
	/* UDP to port 68 is never forwarded, even to the gateway. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GW, 68, 68);
	DROP_FROM(x, DHCP_FOREIGN);
	x->vm.ip = 0;
	DROP_FROM(x, DHCP_FOREIGN);
	/* TCP 68 -> 67 is not DHCP. */
	tcp(&x->f, gw_mac, vm_mac, 0, GW, 68, 67);
	DROP_FROM(x, NO_LEASE);
}

static void
test_rogue_dhcp(void **state)
{
	struct fix *x = *state;

	/* A VM acting as a DHCP server, lease or not. */
	udp(&x->f, bcast, vm_mac, VM_IP, 0xffffffff, 67, 68);
	DROP_FROM(x, ROGUE_DHCP);
	udp(&x->f, peer_mac, vm_mac, VM_IP, PEER_IP, 67, 68);
	DROP_FROM(x, ROGUE_DHCP);
	x->vm.ip = 0;
	udp(&x->f, bcast, vm_mac, 0, 0xffffffff, 67, 68);
	DROP_FROM(x, ROGUE_DHCP);
	/* A DHCP server reply toward the VM that is not the daemon's. */
	x->vm.ip = VM_IP;
	udp(&x->f, vm_mac, gw_mac, GW, VM_IP, 67, 68);
	DROP_TO(x, ROGUE_DHCP);
	udp(&x->f, vm_mac, peer_mac, GLOBAL, VM_IP, 67, 68);
	DROP_TO(x, ROGUE_DHCP);
	/* Broadcast OFFERs are dropped before they get that far. */
	udp(&x->f, bcast, gw_mac, GW, 0xffffffff, 67, 68);
	DROP_TO(x, BROADCAST);
}

/* UDP to 67 or 68 that is not the exchange softnetd answers: dropped. */
static void
test_dhcp_foreign(void **state)
{
	struct fix *x = *state;
	static const uint16_t sports[] = {1, 53, 66, 69, 1067, 40000, 65535};
	size_t i;

	/* To the gateway's bootpd from any source port but 68. */
	for (i = 0; i < sizeof(sports) / sizeof(sports[0]); i++) {
		udp(&x->f, gw_mac, vm_mac, VM_IP, GW, sports[i], 67);
		DROP_FROM(x, DHCP_FOREIGN);
		udp(&x->f, bcast, vm_mac, VM_IP, 0xffffffff, sports[i], 67);
		DROP_FROM(x, DHCP_FOREIGN);
		udp(&x->f, gw_mac, vm_mac, VM_IP, GW, sports[i], 68);
		DROP_FROM(x, DHCP_FOREIGN);
	}
	/* DHCP-looking traffic to a global server or another VM. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 67);
	DROP_FROM(x, DHCP_FOREIGN);
	udp(&x->f, peer_mac, vm_mac, VM_IP, PEER_IP, 68, 68);
	DROP_FROM(x, DHCP_FOREIGN);
	rule(x, "0.0.0.0/0", false);
	udp(&x->f, peer_mac, vm_mac, VM_IP, PEER_IP, 5000, 67);
	DROP_FROM(x, DHCP_FOREIGN);
	/* Before a lease, from 0.0.0.0, relay-style 67 -> 67 stays rogue. */
	x->vm.ip = 0;
	udp(&x->f, gw_mac, vm_mac, 0, GW, 1000, 67);
	DROP_FROM(x, DHCP_FOREIGN);
	udp(&x->f, gw_mac, vm_mac, 0, GW, 67, 67);
	DROP_FROM(x, ROGUE_DHCP);
	/* The client exchange itself still goes to softnetd's server. */
	udp(&x->f, bcast, vm_mac, 0, 0xffffffff, 68, 67);
	check_from(x, FILTER_DHCP, DROP__COUNT);
	x->vm.ip = VM_IP;
	udp(&x->f, gw_mac, vm_mac, VM_IP, GW, 68, 67);
	check_from(x, FILTER_DHCP, DROP__COUNT);
	/* First fragment (MF set) to port 67: its header is checked too. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GW, 1000, 67);
	x->f.buf[PKT_ETH_HLEN + 6] = 0x20;
	DROP_FROM(x, DHCP_FOREIGN);
	/* TCP to 67/68 is not DHCP (bootpd speaks UDP only): the policy. */
	tcp(&x->f, gw_mac, vm_mac, VM_IP, GW, 1000, 67);
	PASS_FROM(x);
	/* Other UDP to the gateway is untouched. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GW, 1000, 69);
	PASS_FROM(x);
}

static void
test_from_no_lease_and_spoof(void **state)
{
	struct fix *x = *state;

	x->vm.ip = 0;
	udp(&x->f, gw_mac, vm_mac, 0, GLOBAL, 1000, 53);
	DROP_FROM(x, NO_LEASE);
	icmp(&x->f, gw_mac, vm_mac, VM_IP, GW);
	DROP_FROM(x, NO_LEASE);
	x->vm.ip = VM_IP;
	udp(&x->f, gw_mac, vm_mac, PEER_IP, GLOBAL, 1000, 53);
	DROP_FROM(x, IP_SPOOF);
	tcp(&x->f, gw_mac, vm_mac, 0, GLOBAL, 1000, 80);
	DROP_FROM(x, IP_SPOOF);
	icmp(&x->f, gw_mac, vm_mac, GW, GLOBAL);
	DROP_FROM(x, IP_SPOOF);
}

static void
test_from_global_and_gateway(void **state)
{
	struct fix *x = *state;

	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 443);
	PASS_FROM(x);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(1, 1, 1, 1), 40000, 443);
	PASS_FROM(x);
	icmp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL);
	PASS_FROM(x);
	/* Unknown L4 protocol (GRE) to a global address. */
	ip4(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 47, 0,
	    (const uint8_t *)"abcd", 4);
	PASS_FROM(x);
	/* The gateway, although private. */
	tcp(&x->f, gw_mac, vm_mac, VM_IP, GW, 40000, 22);
	PASS_FROM(x);
	icmp(&x->f, gw_mac, vm_mac, VM_IP, GW);
	PASS_FROM(x);
	/* Without any policy object at all. */
	x->vm.policy = NULL;
	PASS_FROM(x);
	udp(&x->f, gw_mac, vm_mac, VM_IP, PEER_IP, 1000, 1000);
	DROP_FROM(x, POLICY);
}

/* One special-purpose range: its first and last address. */
struct range {
	uint32_t first, last;
};

static const struct range private_ranges[] = {
    {IP4(0, 0, 0, 0), IP4(0, 255, 255, 255)},
    {IP4(10, 0, 0, 0), IP4(10, 255, 255, 255)},
    {IP4(100, 64, 0, 0), IP4(100, 127, 255, 255)},
    {IP4(127, 0, 0, 0), IP4(127, 255, 255, 255)},
    {IP4(169, 254, 0, 0), IP4(169, 254, 255, 255)},
    {IP4(172, 16, 0, 0), IP4(172, 31, 255, 255)},
    {IP4(192, 0, 0, 0), IP4(192, 0, 0, 8)},
    {IP4(192, 0, 0, 11), IP4(192, 0, 0, 255)},
    {IP4(192, 0, 2, 0), IP4(192, 0, 2, 255)},
    {IP4(192, 168, 0, 0), IP4(192, 168, 255, 255)},
    {IP4(198, 18, 0, 0), IP4(198, 19, 255, 255)},
    {IP4(198, 51, 100, 0), IP4(198, 51, 100, 255)},
    {IP4(203, 0, 113, 0), IP4(203, 0, 113, 255)},
    {IP4(224, 0, 0, 0), IP4(255, 255, 255, 255)},
};

/* Global addresses right next to the special ranges. */
static const uint32_t global_edges[] = {
    IP4(1, 0, 0, 0),
    IP4(9, 255, 255, 255),
    IP4(11, 0, 0, 0),
    IP4(100, 63, 255, 255),
    IP4(100, 128, 0, 0),
    IP4(126, 255, 255, 255),
    IP4(128, 0, 0, 0),
    IP4(169, 253, 255, 255),
    IP4(169, 255, 0, 0),
    IP4(172, 15, 255, 255),
    IP4(172, 32, 0, 0),
    IP4(191, 255, 255, 255),
    IP4(192, 0, 0, 9),
    IP4(192, 0, 0, 10),
    IP4(192, 0, 1, 0),
    IP4(192, 0, 1, 255),
    IP4(192, 0, 3, 0),
    IP4(192, 167, 255, 255),
    IP4(192, 169, 0, 0),
    IP4(198, 17, 255, 255),
    IP4(198, 20, 0, 0),
    IP4(198, 51, 99, 255),
    IP4(198, 51, 101, 0),
    IP4(203, 0, 112, 255),
    IP4(203, 0, 114, 0),
    IP4(223, 255, 255, 255),
    GLOBAL,
};

static void
test_ip_is_global(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(private_ranges) / sizeof(private_ranges[0]);
	     i++) {
		assert_false(filter_ip_is_global(private_ranges[i].first));
		assert_false(filter_ip_is_global(private_ranges[i].last));
	}
	for (i = 0; i < sizeof(global_edges) / sizeof(global_edges[0]); i++)
		assert_true(filter_ip_is_global(global_edges[i]));
}

static void
test_from_private_blocked(void **state)
{
	struct fix *x = *state;
	size_t i;
	uint32_t ip;

	for (i = 0; i < sizeof(private_ranges) / sizeof(private_ranges[0]);
	     i++) {
		ip = private_ranges[i].first;
		udp(&x->f, gw_mac, vm_mac, VM_IP, ip, 1000, 1000);
		DROP_FROM(x, POLICY);
		ip = private_ranges[i].last;
		tcp(&x->f, gw_mac, vm_mac, VM_IP, ip, 1000, 80);
		DROP_FROM(x, POLICY);
		/* The same peers may not reach the VM either. */
		tcp(&x->f, vm_mac, gw_mac, ip, VM_IP, 80, 1000);
		DROP_TO(x, POLICY);
	}
	for (i = 0; i < sizeof(global_edges) / sizeof(global_edges[0]); i++) {
		udp(&x->f, gw_mac, vm_mac, VM_IP, global_edges[i], 1000, 1000);
		PASS_FROM(x);
		udp(&x->f, vm_mac, gw_mac, global_edges[i], VM_IP, 1000, 1000);
		PASS_TO(x);
	}
	/* Another VM, mDNS multicast and limited broadcast. */
	udp(&x->f, peer_mac, vm_mac, VM_IP, PEER_IP, 1000, 1000);
	DROP_FROM(x, POLICY);
	udp(&x->f, mcast, vm_mac, VM_IP, IP4(224, 0, 0, 251), 5353, 5353);
	DROP_FROM(x, POLICY);
	udp(&x->f, bcast, vm_mac, VM_IP, 0xffffffff, 1000, 1000);
	DROP_FROM(x, POLICY);
	/* The VM's own subnet broadcast. */
	udp(&x->f, bcast, vm_mac, VM_IP, IP4(192, 168, 105, 255), 137, 137);
	DROP_FROM(x, POLICY);
}

static void
test_policy_rules(void **state)
{
	struct fix *x = *state;

	/* Allowing another VM's address. */
	rule(x, "192.168.105.11/32", false);
	udp(&x->f, peer_mac, vm_mac, VM_IP, PEER_IP, 1000, 1000);
	PASS_FROM(x);
	udp(&x->f, vm_mac, peer_mac, PEER_IP, VM_IP, 1000, 1000);
	PASS_TO(x);
	udp(&x->f, peer_mac, vm_mac, VM_IP, IP4(192, 168, 105, 12), 1, 1);
	DROP_FROM(x, POLICY);

	/* Longest prefix wins: allow 10/8, block 10.1/16. */
	setup(state);
	rule(x, "10.0.0.0/8", false);
	rule(x, "10.1.0.0/16", true);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 2, 3, 4), 1000, 80);
	PASS_FROM(x);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 0, 255, 255), 1000, 80);
	PASS_FROM(x);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 1, 0, 0), 1000, 80);
	DROP_FROM(x, POLICY);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 1, 255, 255), 1000, 80);
	DROP_FROM(x, POLICY);
	tcp(&x->f, vm_mac, gw_mac, IP4(10, 1, 2, 3), VM_IP, 80, 1000);
	DROP_TO(x, POLICY);
	tcp(&x->f, vm_mac, gw_mac, IP4(10, 9, 2, 3), VM_IP, 80, 1000);
	PASS_TO(x);
	/* Rules outside 10/8 leave the default alone. */
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(172, 16, 0, 1), 1000, 80);
	DROP_FROM(x, POLICY);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 80);
	PASS_FROM(x);

	/* The reverse nesting: block 10/8, allow 10.1/16. */
	setup(state);
	rule(x, "10.1.0.0/16", false);
	rule(x, "10.0.0.0/8", true);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 1, 2, 3), 1000, 80);
	PASS_FROM(x);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 2, 2, 3), 1000, 80);
	DROP_FROM(x, POLICY);

	/* Identical prefix: block wins, whatever the order given. */
	setup(state);
	rule(x, "10.0.0.0/8", false);
	rule(x, "10.0.0.0/8", true);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 2, 3, 4), 1000, 80);
	DROP_FROM(x, POLICY);
	setup(state);
	rule(x, "10.0.0.0/8", true);
	rule(x, "10.0.0.0/8", false);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 2, 3, 4), 1000, 80);
	DROP_FROM(x, POLICY);
	tcp(&x->f, vm_mac, gw_mac, IP4(10, 2, 3, 4), VM_IP, 80, 1000);
	DROP_TO(x, POLICY);

	/* Blocking a global range. */
	setup(state);
	rule(x, "8.8.0.0/16", true);
	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 443);
	DROP_FROM(x, POLICY);
	udp(&x->f, vm_mac, gw_mac, GLOBAL, VM_IP, 443, 1000);
	DROP_TO(x, POLICY);
	udp(&x->f, gw_mac, vm_mac, VM_IP, IP4(8, 9, 8, 8), 1000, 443);
	PASS_FROM(x);

	/* Blocking everything still leaves the DNS exception. */
	setup(state);
	rule(x, "0.0.0.0/0", true);
	udp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 1000, 443);
	DROP_FROM(x, POLICY);
	udp(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP, 1000, 53);
	PASS_FROM(x);
}

static void
test_host_block(void **state)
{
	struct fix *x = *state;

	rule(x, "@host", true);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, GW, 40000, 22);
	DROP_FROM(x, POLICY);
	icmp(&x->f, gw_mac, vm_mac, VM_IP, GW);
	DROP_FROM(x, POLICY);
	tcp(&x->f, vm_mac, gw_mac, GW, VM_IP, 22, 40000);
	DROP_TO(x, POLICY);
	/*
	 * ARP with the gateway still works both ways: "@host" blocks IP to
	 * the host, not routing through it (the VM must resolve its router).
	 */
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GW, VM_IP);
	PASS_TO(x);
	arp(&x->f, vm_mac, gw_mac, 2, gw_mac, GW, VM_IP);
	PASS_TO(x);
	arp(&x->f, bcast, vm_mac, 1, vm_mac, VM_IP, GW);
	PASS_FROM(x);
	/* Other senders are still decided by policy. */
	arp(&x->f, bcast, peer_mac, 1, peer_mac, PEER_IP, VM_IP);
	DROP_TO(x, POLICY);
	/* Only the gateway: the rest of the world is unaffected. */
	tcp(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, 40000, 443);
	PASS_FROM(x);
	/* DNS to the gateway as the handed-out server still works. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, GW, 40000, 53);
	PASS_FROM(x);
	/* "@host" allowed while the subnet is blocked. */
	setup(state);
	rule(x, "192.168.105.0/24", true);
	rule(x, "@host", false);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, GW, 40000, 22);
	PASS_FROM(x);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, IP4(192, 168, 105, 2), 1, 22);
	DROP_FROM(x, POLICY);
}

static void
test_dns_exception(void **state)
{
	struct fix *x = *state;

	udp(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP, 40000, 53);
	PASS_FROM(x);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP, 40000, 53);
	PASS_FROM(x);
	udp(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP, 40000, 54);
	DROP_FROM(x, POLICY);
	tcp(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP, 40000, 54);
	DROP_FROM(x, POLICY);
	icmp(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP);
	DROP_FROM(x, POLICY);
	/* Source port 53 is no exception outward. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP, 53, 40000);
	DROP_FROM(x, POLICY);
	/* Port 53 on a private address that was not handed out. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 0, 0, 54), 40000, 53);
	DROP_FROM(x, POLICY);
	/* No DNS servers configured: no exception. */
	x->net.ndns = 0;
	udp(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP, 40000, 53);
	DROP_FROM(x, POLICY);
	x->net.ndns = 2;

	/* Replies toward the VM. */
	udp(&x->f, vm_mac, gw_mac, DNS_IP, VM_IP, 53, 40000);
	PASS_TO(x);
	tcp(&x->f, vm_mac, gw_mac, DNS_IP, VM_IP, 53, 40000);
	PASS_TO(x);
	udp(&x->f, vm_mac, gw_mac, DNS_IP, VM_IP, 54, 40000);
	DROP_TO(x, POLICY);
	udp(&x->f, vm_mac, gw_mac, DNS_IP, VM_IP, 40000, 53);
	DROP_TO(x, POLICY);
	icmp(&x->f, vm_mac, gw_mac, DNS_IP, VM_IP);
	DROP_TO(x, POLICY);
	udp(&x->f, vm_mac, gw_mac, IP4(10, 0, 0, 54), VM_IP, 53, 40000);
	DROP_TO(x, POLICY);
}

static void
test_fragments(void **state)
{
	struct fix *x = *state;
	uint8_t data[16];

	/* Put DHCP/DNS-looking "ports" in the payload of later fragments. */
	memset(data, 0, sizeof(data));
	data[1] = 68;
	data[3] = 67;
	/* Later fragment to a global address: decided by address, passes. */
	ip4(&x->f, gw_mac, vm_mac, VM_IP, GLOBAL, PKT_IPPROTO_UDP, 0x00b9, data,
	    sizeof(data));
	PASS_FROM(x);
	/* To a private address: blocked. */
	ip4(&x->f, gw_mac, vm_mac, VM_IP, IP4(10, 1, 1, 1), PKT_IPPROTO_UDP,
	    0x0001, data, sizeof(data));
	DROP_FROM(x, POLICY);
	/* To the DNS server: no ports, no DNS exception. */
	data[3] = 53;
	ip4(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP, PKT_IPPROTO_UDP, 0x2001, data,
	    sizeof(data));
	DROP_FROM(x, POLICY);
	/* ...unless the address is otherwise allowed. */
	ip4(&x->f, gw_mac, vm_mac, VM_IP, GW, PKT_IPPROTO_UDP, 0x2001, data,
	    sizeof(data));
	PASS_FROM(x);
	/* A later fragment that looks like DHCP is not DHCP. */
	data[3] = 67;
	x->vm.ip = 0;
	ip4(&x->f, bcast, vm_mac, 0, 0xffffffff, PKT_IPPROTO_UDP, 0x0001, data,
	    sizeof(data));
	DROP_FROM(x, NO_LEASE);
	x->vm.ip = VM_IP;
	/* Spoofed source on a later fragment. */
	ip4(&x->f, gw_mac, vm_mac, PEER_IP, GLOBAL, PKT_IPPROTO_UDP, 0x0001,
	    data, sizeof(data));
	DROP_FROM(x, IP_SPOOF);
	/* First fragment (MF, offset 0) of DNS: ports known, exception. */
	udp(&x->f, gw_mac, vm_mac, VM_IP, DNS_IP, 40000, 53);
	x->f.buf[PKT_ETH_HLEN + 6] = 0x20;
	PASS_FROM(x);
	/* First fragment of a DHCP message: for the server. */
	udp(&x->f, bcast, vm_mac, 0, 0xffffffff, 68, 67);
	x->f.buf[PKT_ETH_HLEN + 6] = 0x20;
	check_from(x, FILTER_DHCP, DROP__COUNT);

	/* Toward the VM: later fragments by source address only. */
	data[1] = 53;
	ip4(&x->f, vm_mac, gw_mac, GLOBAL, VM_IP, PKT_IPPROTO_UDP, 0x0010, data,
	    sizeof(data));
	PASS_TO(x);
	ip4(&x->f, vm_mac, gw_mac, DNS_IP, VM_IP, PKT_IPPROTO_UDP, 0x0010, data,
	    sizeof(data));
	DROP_TO(x, POLICY);
	/* A later fragment with sport 67/dport 68 bytes is not DHCP. */
	data[1] = 67;
	data[3] = 68;
	ip4(&x->f, vm_mac, gw_mac, GW, VM_IP, PKT_IPPROTO_UDP, 0x0010, data,
	    sizeof(data));
	PASS_TO(x);
}

/* ---- toward the VM ---- */

static void
test_to_arp(void **state)
{
	struct fix *x = *state;

	/* The gateway asks for the VM's address. */
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GW, VM_IP);
	PASS_TO(x);
	arp(&x->f, vm_mac, gw_mac, 1, gw_mac, GW, VM_IP);
	PASS_TO(x);
	/* The gateway answers the VM. */
	arp(&x->f, vm_mac, gw_mac, 2, gw_mac, GW, VM_IP);
	PASS_TO(x);
	/* A global sender is allowed (proxy-ARP style) by default. */
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GLOBAL, VM_IP);
	PASS_TO(x);
	/* Asking for someone else. */
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GW, PEER_IP);
	DROP_TO(x, ARP_TARGET);
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GW, GW);
	DROP_TO(x, ARP_TARGET);
	/* Before a lease nothing can ask for the VM. */
	x->vm.ip = 0;
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GW, VM_IP);
	DROP_TO(x, NO_LEASE);
	arp(&x->f, bcast, gw_mac, 1, gw_mac, GW, 0);
	DROP_TO(x, NO_LEASE);
	x->vm.ip = VM_IP;
	/* Unicast to another MAC, or multicast. */
	arp(&x->f, peer_mac, gw_mac, 1, gw_mac, GW, VM_IP);
	DROP_TO(x, DST_MAC);
	arp(&x->f, mcast, gw_mac, 1, gw_mac, GW, VM_IP);
	DROP_TO(x, DST_MAC);
	/* Another VM asking: private sender, blocked by default. */
	arp(&x->f, bcast, peer_mac, 1, peer_mac, PEER_IP, VM_IP);
	DROP_TO(x, POLICY);
	arp(&x->f, vm_mac, peer_mac, 2, peer_mac, PEER_IP, VM_IP);
	DROP_TO(x, POLICY);
	/* A probe (sender 0.0.0.0) for the VM's address. */
	arp(&x->f, bcast, peer_mac, 1, peer_mac, 0, VM_IP);
	DROP_TO(x, POLICY);
	/* Allowed with a rule for the subnet. */
	rule(x, "192.168.105.0/24", false);
	arp(&x->f, bcast, peer_mac, 1, peer_mac, PEER_IP, VM_IP);
	PASS_TO(x);
}

static void
test_to_ipv4(void **state)
{
	struct fix *x = *state;

	/* Unicast from the world and from the gateway. */
	tcp(&x->f, vm_mac, gw_mac, GLOBAL, VM_IP, 443, 40000);
	PASS_TO(x);
	icmp(&x->f, vm_mac, gw_mac, GW, VM_IP);
	PASS_TO(x);
	udp(&x->f, vm_mac, gw_mac, GW, VM_IP, 1000, 1000);
	PASS_TO(x);
	x->vm.policy = NULL;
	PASS_TO(x);
	x->vm.policy = &x->pol;
	/* Broadcast and multicast frames. */
	udp(&x->f, bcast, gw_mac, GW, 0xffffffff, 1000, 1000);
	DROP_TO(x, BROADCAST);
	udp(&x->f, bcast, gw_mac, GW, VM_IP, 1000, 1000);
	DROP_TO(x, BROADCAST);
	udp(&x->f, mcast, gw_mac, GLOBAL, IP4(224, 0, 0, 251), 5353, 5353);
	DROP_TO(x, BROADCAST);
	/* Unicast for another MAC. */
	tcp(&x->f, peer_mac, gw_mac, GLOBAL, VM_IP, 443, 40000);
	DROP_TO(x, DST_MAC);
	tcp(&x->f, peer_mac, gw_mac, GLOBAL, PEER_IP, 443, 40000);
	DROP_TO(x, DST_MAC);
	/* No lease. */
	x->vm.ip = 0;
	tcp(&x->f, vm_mac, gw_mac, GLOBAL, VM_IP, 443, 40000);
	DROP_TO(x, NO_LEASE);
	x->vm.ip = VM_IP;
	/* Right MAC, wrong IP: another address, broadcast, multicast. */
	tcp(&x->f, vm_mac, gw_mac, GLOBAL, PEER_IP, 443, 40000);
	DROP_TO(x, DST_IP);
	udp(&x->f, vm_mac, gw_mac, GW, 0xffffffff, 1000, 1000);
	DROP_TO(x, DST_IP);
	udp(&x->f, vm_mac, gw_mac, GW, IP4(192, 168, 105, 255), 1000, 1000);
	DROP_TO(x, DST_IP);
	udp(&x->f, vm_mac, gw_mac, GW, IP4(224, 0, 0, 1), 1000, 1000);
	DROP_TO(x, DST_IP);
	/* Private sources that no rule allows. */
	tcp(&x->f, vm_mac, gw_mac, IP4(10, 1, 2, 3), VM_IP, 22, 40000);
	DROP_TO(x, POLICY);
	tcp(&x->f, vm_mac, peer_mac, PEER_IP, VM_IP, 22, 40000);
	DROP_TO(x, POLICY);
	icmp(&x->f, vm_mac, gw_mac, IP4(127, 0, 0, 1), VM_IP);
	DROP_TO(x, POLICY);
	rule(x, "10.0.0.0/8", false);
	tcp(&x->f, vm_mac, gw_mac, IP4(10, 1, 2, 3), VM_IP, 22, 40000);
	PASS_TO(x);
	/* Later fragment of an allowed flow. */
	ip4(&x->f, vm_mac, gw_mac, GLOBAL, VM_IP, PKT_IPPROTO_TCP, 0x0004,
	    (const uint8_t *)"12345678", 8);
	PASS_TO(x);
}

static void
test_peer_allowed(void **state)
{
	struct fix *x = *state;

	assert_true(filter_peer_allowed(&x->net, &x->vm, GW));
	assert_true(filter_peer_allowed(&x->net, &x->vm, GLOBAL));
	assert_false(filter_peer_allowed(&x->net, &x->vm, PEER_IP));
	assert_false(filter_peer_allowed(&x->net, &x->vm, VM_IP));
	assert_false(filter_peer_allowed(&x->net, &x->vm, DNS_IP));
	x->vm.policy = NULL;
	assert_true(filter_peer_allowed(&x->net, &x->vm, GW));
	assert_false(filter_peer_allowed(&x->net, &x->vm, PEER_IP));
	x->vm.policy = &x->pol;
	rule(x, "@host", true);
	rule(x, "8.8.8.0/24", true);
	rule(x, "192.168.105.0/24", false);
	assert_false(filter_peer_allowed(&x->net, &x->vm, GW));
	assert_false(filter_peer_allowed(&x->net, &x->vm, GLOBAL));
	assert_true(filter_peer_allowed(&x->net, &x->vm, PEER_IP));
	assert_true(filter_peer_allowed(&x->net, &x->vm, IP4(8, 8, 4, 4)));
}

static void
test_reason_names(void **state)
{
	static const struct {
		enum drop_reason r;
		const char *name;
	} want[] = {
	    {DROP_RUNT, "runt"},
	    {DROP_SRC_MAC, "src_mac"},
	    {DROP_VLAN, "vlan"},
	    {DROP_ETHERTYPE, "ethertype"},
	    {DROP_IPV6, "ipv6"},
	    {DROP_ARP_MALFORMED, "arp_malformed"},
	    {DROP_ARP_SPOOF, "arp_spoof"},
	    {DROP_ARP_TARGET, "arp_target"},
	    {DROP_IP_MALFORMED, "ip_malformed"},
	    {DROP_NO_LEASE, "no_lease"},
	    {DROP_IP_SPOOF, "ip_spoof"},
	    {DROP_ROGUE_DHCP, "rogue_dhcp"},
	    {DROP_POLICY, "policy"},
	    {DROP_DST_MAC, "dst_mac"},
	    {DROP_DST_IP, "dst_ip"},
	    {DROP_BROADCAST, "broadcast"},
	    {DROP_DHCP_MALFORMED, "dhcp_malformed"},
	    {DROP_DHCP_CHADDR, "dhcp_chaddr"},
	    {DROP_QUEUE_FULL, "queue_full"},
	    {DROP_VNET_HDR, "vnet_hdr"},
	    {DROP_RATE_LIMIT, "rate_limit"},
	    {DROP_DHCP_FOREIGN, "dhcp_foreign"},
	    {DROP_DHCP_RATE, "dhcp_rate"},
	    {DROP_IP_OPTIONS, "ip_options"},
	    {DROP_OVERSIZE, "oversize"},
	};
	size_t i, j;

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), DROP__COUNT);
	for (i = 0; i < DROP__COUNT; i++) {
		assert_int_equal(want[i].r, i);
		assert_string_equal(drop_reason_name(want[i].r), want[i].name);
		for (j = 0; j < i; j++)
			assert_string_not_equal(want[i].name, want[j].name);
	}
	assert_string_equal(drop_reason_name(DROP__COUNT), "unknown");
	assert_string_equal(
	    drop_reason_name((enum drop_reason)1000), "unknown");
	assert_string_equal(
	    drop_reason_name((enum drop_reason) - 1), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_from_runt, setup),
	    cmocka_unit_test_setup(test_from_src_mac, setup),
	    cmocka_unit_test_setup(test_vlan, setup),
	    cmocka_unit_test_setup(test_ipv6_and_ethertype, setup),
	    cmocka_unit_test_setup(test_from_arp_ok, setup),
	    cmocka_unit_test_setup(test_arp_malformed, setup),
	    cmocka_unit_test_setup(test_from_arp_spoof, setup),
	    cmocka_unit_test_setup(test_from_arp_before_lease, setup),
	    cmocka_unit_test_setup(test_from_arp_target, setup),
	    cmocka_unit_test_setup(test_from_ip_malformed, setup),
	    cmocka_unit_test_setup(test_from_ip_options, setup),
	    cmocka_unit_test_setup(test_from_dhcp, setup),
	    cmocka_unit_test_setup(test_rogue_dhcp, setup),
	    cmocka_unit_test_setup(test_dhcp_foreign, setup),
	    cmocka_unit_test_setup(test_from_no_lease_and_spoof, setup),
	    cmocka_unit_test_setup(test_from_global_and_gateway, setup),
	    cmocka_unit_test(test_ip_is_global),
	    cmocka_unit_test_setup(test_from_private_blocked, setup),
	    cmocka_unit_test_setup(test_policy_rules, setup),
	    cmocka_unit_test_setup(test_host_block, setup),
	    cmocka_unit_test_setup(test_dns_exception, setup),
	    cmocka_unit_test_setup(test_fragments, setup),
	    cmocka_unit_test_setup(test_to_arp, setup),
	    cmocka_unit_test_setup(test_to_ipv4, setup),
	    cmocka_unit_test_setup(test_peer_allowed, setup),
	    cmocka_unit_test(test_reason_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
