/*
 * bench_filter: the cost of one filter decision, parse included. A fixed
 * mix of realistic frames (ARP both ways, DHCP, TCP and UDP both ways, and
 * frames the filter must drop: spoofed IP, spoofed MAC, IPv6, a rogue DHCP
 * server) is run through pkt_parse and filter_from_vm/filter_to_vm many
 * million times. Prints "key value" lines for tests/bench/bench.py.
 *
 * usage: bench_filter [ITERATIONS]   (default 20000000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter.h"
#include "pkt.h"
#include "policy.h"

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))

#define GW     IP4(192, 168, 105, 1)
#define MASK   IP4(255, 255, 255, 0)
#define VM_IP  IP4(192, 168, 105, 10)
#define GLOBAL IP4(93, 184, 216, 34)

#define MIX_MAX 16

static const uint8_t vm_mac[6] = {0x02, 0, 0, 0, 0, 0x0a};
static const uint8_t gw_mac[6] = {0x02, 0x53, 0x4e, 0xa8, 0x69, 0x01};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t evil_mac[6] = {0x02, 0xee, 0, 0, 0, 0x66};

/* One frame of the mix and the direction it travels. */
struct mix_frame {
	uint8_t buf[1600];
	size_t len;
	int to_vm; /* 0: sent by the VM, 1: delivered to it */
};

static struct mix_frame mix[MIX_MAX];
static int nmix;

/* Writes a big-endian 16-bit value. */
static void
be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Writes a big-endian 32-bit value. */
static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Starts a frame: Ethernet header; returns the frame. */
static struct mix_frame *
eth(const uint8_t *dst, const uint8_t *src, uint16_t type, int to_vm)
{
	struct mix_frame *f = &mix[nmix++];

	memset(f, 0, sizeof(*f));
	memcpy(f->buf, dst, 6);
	memcpy(f->buf + 6, src, 6);
	be16(f->buf + 12, type);
	f->len = PKT_ETH_HLEN;
	f->to_vm = to_vm;
	return f;
}

/* An ARP packet after the Ethernet header. */
static void
arp(const uint8_t *dst, const uint8_t *sha, uint32_t spa, uint32_t tpa,
    uint16_t op, int to_vm)
{
	struct mix_frame *f = eth(dst, sha, PKT_ETHERTYPE_ARP, to_vm);
	uint8_t *a = f->buf + f->len;

	be16(a, 1);
	be16(a + 2, PKT_ETHERTYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	be16(a + 6, op);
	memcpy(a + 8, sha, 6);
	be32(a + 14, spa);
	be32(a + 24, tpa);
	f->len += 28;
}

/* An IPv4 packet with a TCP or UDP header and payload bytes of zeros. */
static void
ip4(const uint8_t *dst, const uint8_t *src, uint32_t sip, uint32_t dip,
    uint8_t proto, uint16_t sport, uint16_t dport, size_t payload, int to_vm)
{
	struct mix_frame *f = eth(dst, src, PKT_ETHERTYPE_IPV4, to_vm);
	uint8_t *ip = f->buf + f->len;
	size_t l4 = proto == PKT_IPPROTO_TCP ? 20 : 8;
	size_t tot = 20 + l4 + payload;

	ip[0] = 0x45;
	be16(ip + 2, (uint16_t)tot);
	be16(ip + 6, PKT_IP_DF);
	ip[8] = 64;
	ip[9] = proto;
	be32(ip + 12, sip);
	be32(ip + 16, dip);
	be16(ip + 10, pkt_csum(ip, 20, 0));
	be16(ip + 20, sport);
	be16(ip + 22, dport);
	if (proto == PKT_IPPROTO_TCP)
		ip[32] = 5 << 4;
	else
		be16(ip + 24, (uint16_t)(8 + payload));
	f->len += tot;
}

/* A DHCPDISCOVER from the VM, as udhcpc sends it. */
static void
dhcp_discover(void)
{
	struct mix_frame *f;
	uint8_t *o;

	ip4(bcast, vm_mac, 0, 0xffffffff, PKT_IPPROTO_UDP, PKT_PORT_DHCP_CLIENT,
	    PKT_PORT_DHCP_SERVER, 300, 0);
	f = &mix[nmix - 1];
	o = f->buf + PKT_UDP4_HLEN;
	o[0] = 1;
	o[1] = 1;
	o[2] = 6;
	be32(o + 4, 0x12345678);
	memcpy(o + 28, vm_mac, 6);
	be32(o + 236, 0x63825363);
	o[240] = 53;
	o[241] = 1;
	o[242] = 1;
	o[243] = 255;
}

/* Builds the mix: mostly data, some control, some drops. */
static void
build_mix(void)
{
	/* Data both ways dominates a real link. */
	ip4(gw_mac, vm_mac, VM_IP, GLOBAL, PKT_IPPROTO_TCP, 40000, 443, 1448,
	    0);
	ip4(vm_mac, gw_mac, GLOBAL, VM_IP, PKT_IPPROTO_TCP, 443, 40000, 1448,
	    1);
	ip4(gw_mac, vm_mac, VM_IP, GLOBAL, PKT_IPPROTO_TCP, 40000, 443, 0, 0);
	ip4(vm_mac, gw_mac, GLOBAL, VM_IP, PKT_IPPROTO_TCP, 443, 40000, 0, 1);
	ip4(gw_mac, vm_mac, VM_IP, GLOBAL, PKT_IPPROTO_UDP, 5353, 4500, 120, 0);
	ip4(vm_mac, gw_mac, GLOBAL, VM_IP, PKT_IPPROTO_UDP, 4500, 5353, 120, 1);
	ip4(gw_mac, vm_mac, VM_IP, GW, PKT_IPPROTO_UDP, 33000, 53, 40, 0);
	/* Control: ARP both ways and DHCP. */
	arp(bcast, vm_mac, VM_IP, GW, PKT_ARP_REQUEST, 0);
	arp(bcast, gw_mac, GW, VM_IP, PKT_ARP_REQUEST, 1);
	dhcp_discover();
	/* Dropped: spoofed IP, spoofed MAC, ARP spoof, rogue DHCP, IPv6. */
	ip4(gw_mac, vm_mac, IP4(192, 168, 105, 99), GLOBAL, PKT_IPPROTO_TCP,
	    40000, 443, 0, 0);
	ip4(gw_mac, evil_mac, VM_IP, GLOBAL, PKT_IPPROTO_UDP, 1, 2, 10, 0);
	arp(bcast, vm_mac, IP4(192, 168, 105, 99), GW, PKT_ARP_REPLY, 0);
	ip4(bcast, vm_mac, VM_IP, 0xffffffff, PKT_IPPROTO_UDP,
	    PKT_PORT_DHCP_SERVER, PKT_PORT_DHCP_CLIENT, 300, 0);
	eth(gw_mac, vm_mac, PKT_ETHERTYPE_IPV6, 0)->len += 40;
}

/* Monotonic nanoseconds. */
static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	static const uint32_t dns[] = {GW};
	struct filter_net net = {GW, MASK, dns, 1};
	struct policy pol;
	struct filter_vm vm;
	struct pkt_info pi;
	enum drop_reason why;
	uint64_t counts[3] = {0, 0, 0};
	long long iters = 20000000, i;
	int64_t t0, t1;
	int j, k;

	if (argc > 1 && (iters = atoll(argv[1])) <= 0) {
		fprintf(stderr, "usage: bench_filter [ITERATIONS]\n");
		return 2;
	}
	policy_init(&pol);
	vm.mac = vm_mac;
	vm.ip = VM_IP;
	vm.policy = &pol;
	build_mix();

	/* Warm up, then time. */
	for (k = 0; k < 2; k++) {
		memset(counts, 0, sizeof(counts));
		j = 0;
		t0 = now_ns();
		for (i = 0; i < (k == 0 ? iters / 10 : iters); i++) {
			const struct mix_frame *f = &mix[j];
			enum filter_verdict v;

			if (++j == nmix)
				j = 0;

			(void)pkt_parse(f->buf, f->len, &pi);
			v = f->to_vm ? filter_to_vm(&net, &vm, &pi, &why)
			             : filter_from_vm(&net, &vm, &pi, &why);
			counts[v]++;
		}
		t1 = now_ns();
	}
	printf("frames %lld\n", iters);
	printf("mix %d\n", nmix);
	printf("pass %llu\n", (unsigned long long)counts[FILTER_PASS]);
	printf("dhcp %llu\n", (unsigned long long)counts[FILTER_DHCP]);
	printf("drop %llu\n", (unsigned long long)counts[FILTER_DROP]);
	printf("ns_per_frame %.2f\n", (double)(t1 - t0) / (double)iters);
	return 0;
}
