/*
 * The switch, driven frame by frame against a hand-built daemon context:
 * real lease database (":memory:"), VM ports on SOCK_DGRAM socketpairs, the
 * in-daemon DHCP server, and no uplink (a frame the switch sends to the
 * uplink shows as switch_stats()->uplink_write_drop). Frames are built by
 * hand; what each VM receives is read from its end of the pair.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "dhcp.h"
#include "leasedb.h"
#include "pkt.h"
#include "port.h"
#include "softnetd.h"
#include "switch.h"
#include "testd.h"
#include "vm.h"

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))
#define NET(x)  IP4(192, 168, 105, x)
#define GATEWAY NET(1)
#define T0      1700000000
#define LEASE   600

static int64_t fake_now = T0;

/* The daemon's clock, under the test's control (clock_set_hook). */
static int64_t
test_now(void)
{
	return fake_now;
}

static struct softnetd sd;
static const uint8_t gw_mac[6] = {0x02, 0x5e, 0, 0, 0, 1};
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mac1[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t mac2[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const uint8_t mac9[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x09};

/* A VM: its port and the test's end of its socketpair. */
struct vm {
	struct port *p;
	int peer;
	const uint8_t *mac;
};

static struct vm vm1, vm2;

/* The uplink count when mark_uplink was last called. */
static uint64_t up_mark;

/* Attaches a VM with mac over a fresh socketpair. */
static void
attach_vm(struct vm *v, const uint8_t *mac)
{
	struct vm_attach_args a;
	enum vm_err verr;
	char msg[256];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	memset(&a, 0, sizeof(a));
	a.fd = sv[0];
	a.kind = OSDEP_FD_DGRAM;
	memcpy(a.mac, mac, 6);
	a.owner = 1000;
	v->p = vm_attach(&sd, &a, &verr, msg, sizeof(msg));
	if (v->p == NULL)
		print_error("vm_attach: %s: %s\n", vm_err_code(verr), msg);
	assert_non_null(v->p);
	v->peer = sv[1];
	v->mac = mac;
}

/* A fresh daemon with two VMs attached (no leases yet). */
static int
setup(void **state)
{
	(void)state;
	fake_now = T0;
	testd_open(&sd, gw_mac);
	attach_vm(&vm1, mac1);
	attach_vm(&vm2, mac2);
	up_mark = 0;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	testd_close(&sd);
	close(vm1.peer);
	close(vm2.peer);
	return 0;
}

/* ---- frames ----------------------------------------------------------- */

/* Writes a big-endian 32-bit value. */
static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Reads a big-endian 32-bit value. */
static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* A UDP/IPv4 frame with a 32-byte payload; returns its length. */
static size_t
udp_frame(uint8_t *buf, size_t cap, const uint8_t *src_mac,
    const uint8_t *dst_mac, uint32_t src_ip, uint32_t dst_ip, uint16_t sport,
    uint16_t dport)
{
	struct pkt_udp4_addr a;
	size_t len;

	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, src_mac, 6);
	memcpy(a.dst_mac, dst_mac, 6);
	a.src_ip = src_ip;
	a.dst_ip = dst_ip;
	a.sport = sport;
	a.dport = dport;
	assert_true(cap >= PKT_UDP4_HLEN + 32);
	memset(buf + PKT_UDP4_HLEN, 0x42, 32);
	len = pkt_build_udp4(buf, cap, &a, 32);
	assert_int_equal(len, PKT_UDP4_HLEN + 32);
	return len;
}

/* An Ethernet/IPv4 ARP frame; returns its length. */
static size_t
arp_frame(uint8_t *buf, const uint8_t *eth_dst, const uint8_t *eth_src,
    uint16_t op, const uint8_t *sha, uint32_t spa, const uint8_t *tha,
    uint32_t tpa)
{
	struct pkt_eth eth;
	struct pkt_arp arp;

	memcpy(eth.dst, eth_dst, 6);
	memcpy(eth.src, eth_src, 6);
	eth.type = htons(PKT_ETHERTYPE_ARP);
	arp.htype = htons(1);
	arp.ptype = htons(PKT_ETHERTYPE_IPV4);
	arp.hlen = 6;
	arp.plen = 4;
	arp.op = htons(op);
	memcpy(arp.sha, sha, 6);
	put32(arp.spa, spa);
	memcpy(arp.tha, tha, 6);
	put32(arp.tpa, tpa);
	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + sizeof(eth), &arp, sizeof(arp));
	return sizeof(eth) + sizeof(arp);
}

/*
 * A DHCP client message from mac: type, and options 50 and 54 when
 * nonzero. Broadcast from 0.0.0.0, or with ciaddr set unicast from it to
 * the gateway. Returns the frame length.
 */
static size_t
dhcp_frame_from(uint8_t *buf, size_t cap, const uint8_t *mac, uint8_t type,
    uint32_t requested, uint32_t server, uint32_t ciaddr)
{
	uint8_t *b = buf + PKT_UDP4_HLEN;
	struct pkt_udp4_addr a;
	size_t n;

	assert_true(cap >= PKT_UDP4_HLEN + 300);
	memset(b, 0, 300);
	b[0] = 1; /* BOOTREQUEST */
	b[1] = 1;
	b[2] = 6;
	put32(b + 4, 0xcafe0001);
	put32(b + 12, ciaddr);
	memcpy(b + 28, mac, 6);
	put32(b + 236, 0x63825363);
	n = 240;
	b[n++] = 53;
	b[n++] = 1;
	b[n++] = type;
	if (requested != 0) {
		b[n++] = 50;
		b[n++] = 4;
		put32(b + n, requested);
		n += 4;
	}
	if (server != 0) {
		b[n++] = 54;
		b[n++] = 4;
		put32(b + n, server);
		n += 4;
	}
	b[n++] = 255;
	n = 300;
	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, mac, 6);
	memcpy(a.dst_mac, ciaddr != 0 ? gw_mac : bcast_mac, 6);
	a.src_ip = ciaddr;
	a.dst_ip = ciaddr != 0 ? GATEWAY : 0xffffffff;
	a.sport = PKT_PORT_DHCP_CLIENT;
	a.dport = PKT_PORT_DHCP_SERVER;
	n = pkt_build_udp4(buf, cap, &a, n);
	assert_int_equal(n, PKT_UDP4_HLEN + 300);
	return n;
}

/* A broadcast DHCP client message from 0.0.0.0. */
static size_t
dhcp_frame(uint8_t *buf, size_t cap, const uint8_t *mac, uint8_t type,
    uint32_t requested, uint32_t server)
{
	return dhcp_frame_from(buf, cap, mac, type, requested, server, 0);
}

/* Reads one frame the VM received; -1 when there is none. */
static ssize_t
vm_read(const struct vm *v, uint8_t *buf, size_t cap)
{
	ssize_t n = recv(v->peer, buf, cap, MSG_DONTWAIT);

	if (n == -1)
		assert_int_equal(errno, EAGAIN);
	return n;
}

/* Asserts that the VM received nothing. */
static void
assert_vm_empty(const struct vm *v)
{
	uint8_t buf[2048];

	assert_int_equal(vm_read(v, buf, sizeof(buf)), -1);
}

/* Asserts the VM received exactly frame, and nothing more. */
static void
assert_vm_got(const struct vm *v, const uint8_t *frame, size_t len)
{
	uint8_t buf[2048];

	assert_int_equal(vm_read(v, buf, sizeof(buf)), (ssize_t)len);
	assert_memory_equal(buf, frame, len);
	assert_vm_empty(v);
}

/* Starts counting uplink frames afresh. */
static void
mark_uplink(void)
{
	up_mark = switch_stats(&sd)->uplink_write_drop;
}

/* Frames the switch sent toward the (absent) uplink since the mark. */
static uint64_t
to_uplink(void)
{
	return switch_stats(&sd)->uplink_write_drop - up_mark;
}

/* The value of DHCP option code in a BOOTP payload, or NULL. */
static const uint8_t *
dhcp_opt(const uint8_t *b, size_t len, uint8_t code, size_t *olen)
{
	size_t i = 240;

	while (i < len && b[i] != 255) {
		if (b[i] == 0) {
			i++;
			continue;
		}
		assert_true(i + 2 <= len && i + 2 + b[i + 1] <= len);
		if (b[i] == code) {
			*olen = b[i + 1];
			return b + i + 2;
		}
		i += 2 + (size_t)b[i + 1];
	}
	return NULL;
}

/*
 * Reads a DHCP reply of type from the VM: UDP 67 -> 68 from the gateway,
 * to the VM's MAC, with the VM's chaddr and our xid. Returns yiaddr.
 */
static uint32_t
read_dhcp_reply(const struct vm *v, uint8_t type)
{
	uint8_t buf[2048];
	struct pkt_info pi;
	const uint8_t *b, *o;
	size_t olen = 0;
	ssize_t n;

	n = vm_read(v, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(pkt_parse(buf, (size_t)n, &pi), 0);
	assert_int_equal(pi.malformed, PKT_OK);
	assert_int_equal(pi.ethertype, PKT_ETHERTYPE_IPV4);
	assert_memory_equal(pi.eth->src, gw_mac, 6);
	assert_memory_equal(pi.eth->dst, v->mac, 6);
	assert_int_equal(pi.ip_proto, PKT_IPPROTO_UDP);
	assert_int_equal(pi.ip_src, GATEWAY);
	assert_true(pi.has_ports);
	assert_int_equal(pi.sport, PKT_PORT_DHCP_SERVER);
	assert_int_equal(pi.dport, PKT_PORT_DHCP_CLIENT);
	b = pi.udp_payload;
	assert_non_null(b);
	assert_true(pi.udp_payload_len >= 240);
	assert_int_equal(b[0], 2); /* BOOTREPLY */
	assert_int_equal(get32(b + 4), 0xcafe0001);
	assert_memory_equal(b + 28, v->mac, 6);
	assert_int_equal(get32(b + 236), 0x63825363);
	o = dhcp_opt(b, pi.udp_payload_len, 53, &olen);
	assert_non_null(o);
	assert_int_equal(olen, 1);
	assert_int_equal(o[0], type);
	o = dhcp_opt(b, pi.udp_payload_len, 54, &olen);
	assert_non_null(o);
	assert_int_equal(olen, 4);
	assert_int_equal(get32(o), GATEWAY);
	assert_int_equal(pi.ip_dst, get32(b + 16));
	return get32(b + 16);
}

/*
 * Runs DISCOVER/OFFER/REQUEST/ACK for v through the switch. A new address
 * is announced to the uplink (one gratuitous ARP); the uplink count is
 * marked afresh afterwards.
 */
static uint32_t
dhcp_bind(struct vm *v)
{
	uint8_t f[1024];
	size_t len;
	uint32_t ip, old = v->p->ip;

	mark_uplink();
	len = dhcp_frame(f, sizeof(f), v->mac, DHCP_DISCOVER, 0, 0);
	switch_from_vm(&sd, v->p, f, len);
	ip = read_dhcp_reply(v, DHCP_OFFER);
	len = dhcp_frame(f, sizeof(f), v->mac, DHCP_REQUEST, ip, GATEWAY);
	switch_from_vm(&sd, v->p, f, len);
	assert_int_equal(read_dhcp_reply(v, DHCP_ACK), ip);
	assert_vm_empty(v);
	assert_int_equal(v->p->ip, ip);
	assert_int_equal(to_uplink(), ip != old ? 1 : 0);
	mark_uplink();
	return ip;
}

/* ---- tests ------------------------------------------------------------ */

static void
test_dhcp_through_switch(void **state)
{
	uint8_t f[1024];
	size_t len;
	uint32_t ip;
	struct lease l;

	(void)state;
	len = dhcp_frame(f, sizeof(f), mac1, DHCP_DISCOVER, 0, 0);
	switch_from_vm(&sd, vm1.p, f, len);
	ip = read_dhcp_reply(&vm1, DHCP_OFFER);
	assert_int_equal(ip, NET(2));
	assert_vm_empty(&vm1);
	assert_vm_empty(&vm2);
	/* An OFFER binds nothing yet. */
	assert_int_equal(vm1.p->ip, 0);
	assert_null(port_by_ip(&sd, ip));
	assert_int_equal(vm1.p->st.tx_frames, 1);
	assert_int_equal(vm1.p->st.rx_frames, 1);

	len = dhcp_frame(f, sizeof(f), mac1, DHCP_REQUEST, ip, GATEWAY);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(read_dhcp_reply(&vm1, DHCP_ACK), ip);
	assert_int_equal(vm1.p->ip, ip);
	assert_int_equal(vm1.p->lease_expires, T0 + LEASE);
	assert_ptr_equal(port_by_ip(&sd, ip), vm1.p);
	assert_string_equal(port_state(vm1.p), "leased");
	assert_int_equal(leasedb_get(sd.db, mac1, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);
	assert_int_equal(l.ip, ip);
	assert_vm_empty(&vm2);
	/*
	 * DHCP is answered, never forwarded: the one uplink frame is the
	 * gratuitous ARP announcing the new binding.
	 */
	assert_int_equal(to_uplink(), 1);
	mark_uplink();

	/* A renewal announces again: the host's ARP cache ages out (20
	 * minutes on macOS) and `tart ip --resolver arp` reads it. */
	len = dhcp_frame_from(f, sizeof(f), mac1, DHCP_REQUEST, 0, 0, ip);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(read_dhcp_reply(&vm1, DHCP_ACK), ip);
	assert_int_equal(vm1.p->ip, ip);
	assert_int_equal(to_uplink(), 1);
	mark_uplink();

	/* VM2 gets the next address. */
	assert_int_equal(dhcp_bind(&vm2), NET(3));
	assert_vm_empty(&vm1);

	/* A DISCOVER with someone else's chaddr from VM1's port: dropped. */
	{
		uint8_t g[1024];

		len = dhcp_frame(g, sizeof(g), mac9, DHCP_DISCOVER, 0, 0);
		memcpy(g + 6, mac1, 6); /* Ethernet source is VM1's */
		switch_from_vm(&sd, vm1.p, g, len);
		assert_int_equal(vm1.p->st.drops[DROP_DHCP_CHADDR], 1);
		assert_vm_empty(&vm1);
	}

	/* RELEASE unbinds at once. */
	len = dhcp_frame_from(
	    f, sizeof(f), mac1, DHCP_RELEASE, 0, GATEWAY, NET(2));
	switch_from_vm(&sd, vm1.p, f, len);
	assert_vm_empty(&vm1);
	assert_int_equal(vm1.p->ip, 0);
	assert_null(port_by_ip(&sd, NET(2)));
	assert_ptr_equal(port_by_ip(&sd, NET(3)), vm2.p);
	assert_int_equal(to_uplink(), 0);
}

static void
test_pool_full_counted(void **state)
{
	uint8_t f[1024];
	size_t len;
	char err[256];

	(void)state;
	/* A one-address pool, taken by VM1. */
	leasedb_close(sd.db);
	sd.db =
	    leasedb_open(":memory:", NET(2), NET(2), GATEWAY, err, sizeof(err));
	assert_non_null(sd.db);
	assert_int_equal(dhcp_bind(&vm1), NET(2));
	len = dhcp_frame(f, sizeof(f), mac2, DHCP_DISCOVER, 0, 0);
	switch_from_vm(&sd, vm2.p, f, len);
	assert_vm_empty(&vm2);
	assert_int_equal(switch_stats(&sd)->dhcp_pool_full, 1);
	assert_int_equal(vm2.p->ip, 0);
}

static void
test_spoofed_source_mac(void **state)
{
	uint8_t f[1024];
	size_t len;

	(void)state;
	dhcp_bind(&vm1);
	dhcp_bind(&vm2);
	/* VM1 claims VM2's MAC (and IP), and a made-up one. */
	len = udp_frame(
	    f, sizeof(f), mac2, gw_mac, NET(3), IP4(8, 8, 8, 8), 1000, 2000);
	switch_from_vm(&sd, vm1.p, f, len);
	len = udp_frame(
	    f, sizeof(f), mac9, gw_mac, NET(2), IP4(8, 8, 8, 8), 1000, 2000);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(vm1.p->st.drops[DROP_SRC_MAC], 2);
	assert_int_equal(vm1.p->st.tx_frames, 4); /* with the DHCP ones */
	assert_int_equal(to_uplink(), 0);
	assert_vm_empty(&vm1);
	assert_vm_empty(&vm2);
	assert_int_equal(vm2.p->st.drops[DROP_SRC_MAC], 0);

	/* Its own MAC with VM2's IP: an IP spoof. */
	len = udp_frame(
	    f, sizeof(f), mac1, gw_mac, NET(3), IP4(8, 8, 8, 8), 1000, 2000);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(vm1.p->st.drops[DROP_IP_SPOOF], 1);
	assert_int_equal(to_uplink(), 0);

	/* The real thing goes to the uplink. */
	len = udp_frame(
	    f, sizeof(f), mac1, gw_mac, NET(2), IP4(8, 8, 8, 8), 1000, 2000);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(to_uplink(), 1);
	assert_vm_empty(&vm2);
}

/*
 * A frame longer than the MTU (1500) plus its Ethernet header is dropped
 * and counted (oversize); one of exactly that size goes out.
 */
static void
test_oversize_frame_dropped(void **state)
{
	static uint8_t f[2048];
	struct pkt_udp4_addr a;
	size_t len;

	(void)state;
	dhcp_bind(&vm1);
	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, mac1, 6);
	memcpy(a.dst_mac, gw_mac, 6);
	a.src_ip = NET(2);
	a.dst_ip = IP4(8, 8, 8, 8);
	a.sport = 1000;
	a.dport = 2000;
	len = pkt_build_udp4(f, sizeof(f), &a, 1500 - 28 + 1);
	assert_int_equal(len, PKT_ETH_HLEN + 1501);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(vm1.p->st.drops[DROP_OVERSIZE], 1);
	assert_int_equal(to_uplink(), 0);
	len = pkt_build_udp4(f, sizeof(f), &a, 1500 - 28);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(vm1.p->st.drops[DROP_OVERSIZE], 1);
	assert_int_equal(to_uplink(), 1);
}

static void
test_no_lease_no_ip(void **state)
{
	uint8_t f[1024];
	size_t len;

	(void)state;
	len = udp_frame(
	    f, sizeof(f), mac1, gw_mac, NET(2), IP4(8, 8, 8, 8), 1000, 2000);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(vm1.p->st.drops[DROP_NO_LEASE], 1);
	assert_int_equal(to_uplink(), 0);
	/* A runt from the VM is counted, not switched. */
	switch_from_vm(&sd, vm1.p, f, 10);
	assert_int_equal(vm1.p->st.drops[DROP_RUNT], 1);
	assert_int_equal(to_uplink(), 0);
}

static void
test_uplink_unicast_reaches_one_vm(void **state)
{
	uint8_t f[1024];
	size_t len;

	(void)state;
	dhcp_bind(&vm1);
	dhcp_bind(&vm2);

	len = udp_frame(
	    f, sizeof(f), gw_mac, mac1, IP4(8, 8, 8, 8), NET(2), 443, 40000);
	switch_from_uplink(&sd, f, len);
	assert_vm_got(&vm1, f, len);
	assert_vm_empty(&vm2);
	assert_int_equal(vm1.p->st.rx_frames, 3); /* OFFER, ACK, this */
	assert_int_equal(switch_stats(&sd)->uplink_rx_frames, 1);
	assert_int_equal(switch_stats(&sd)->uplink_rx_bytes, len);

	/* VM1's MAC with VM2's IP reaches neither. */
	len = udp_frame(
	    f, sizeof(f), gw_mac, mac1, IP4(8, 8, 8, 8), NET(3), 443, 40000);
	switch_from_uplink(&sd, f, len);
	assert_vm_empty(&vm1);
	assert_vm_empty(&vm2);
	assert_int_equal(vm1.p->st.drops[DROP_DST_IP], 1);

	/* From a private address the VM's rules do not allow: dropped. */
	len = udp_frame(
	    f, sizeof(f), gw_mac, mac1, IP4(10, 1, 1, 1), NET(2), 443, 40000);
	switch_from_uplink(&sd, f, len);
	assert_vm_empty(&vm1);
	assert_int_equal(vm1.p->st.drops[DROP_POLICY], 1);

	/* From the gateway: allowed. */
	len = udp_frame(f, sizeof(f), gw_mac, mac2, GATEWAY, NET(3), 1, 2);
	switch_from_uplink(&sd, f, len);
	assert_vm_got(&vm2, f, len);
	assert_vm_empty(&vm1);

	/* To a MAC nobody has. */
	len = udp_frame(
	    f, sizeof(f), gw_mac, mac9, IP4(8, 8, 8, 8), NET(2), 443, 40000);
	switch_from_uplink(&sd, f, len);
	assert_int_equal(switch_stats(&sd)->uplink_no_port, 1);
	assert_vm_empty(&vm1);
	assert_vm_empty(&vm2);

	/* A runt. */
	switch_from_uplink(&sd, f, 13);
	assert_int_equal(switch_stats(&sd)->uplink_runt, 1);
	assert_int_equal(switch_stats(&sd)->uplink_rx_frames, 6);
	assert_vm_empty(&vm1);
	assert_vm_empty(&vm2);
}

static void
test_uplink_arp_for_leased_ip(void **state)
{
	static const uint8_t zero[6] = {0};
	uint8_t f[128];
	size_t len;
	uint64_t flood;

	(void)state;
	dhcp_bind(&vm1);
	dhcp_bind(&vm2);

	len = arp_frame(f, bcast_mac, gw_mac, PKT_ARP_REQUEST, gw_mac, GATEWAY,
	    zero, NET(3));
	switch_from_uplink(&sd, f, len);
	assert_vm_got(&vm2, f, len);
	assert_vm_empty(&vm1);

	len = arp_frame(f, bcast_mac, gw_mac, PKT_ARP_REQUEST, gw_mac, GATEWAY,
	    zero, NET(2));
	switch_from_uplink(&sd, f, len);
	assert_vm_got(&vm1, f, len);
	assert_vm_empty(&vm2);

	/* For an address nobody holds: no VM. */
	flood = switch_stats(&sd)->uplink_flood;
	len = arp_frame(f, bcast_mac, gw_mac, PKT_ARP_REQUEST, gw_mac, GATEWAY,
	    zero, NET(99));
	switch_from_uplink(&sd, f, len);
	assert_int_equal(switch_stats(&sd)->uplink_flood, flood + 1);
	assert_vm_empty(&vm1);
	assert_vm_empty(&vm2);

	/* An ARP reply unicast to VM1 about VM1's address reaches VM1 only. */
	len = arp_frame(
	    f, mac1, gw_mac, PKT_ARP_REPLY, gw_mac, GATEWAY, mac1, NET(2));
	switch_from_uplink(&sd, f, len);
	assert_vm_got(&vm1, f, len);
	assert_vm_empty(&vm2);
}

static void
test_uplink_broadcast_reaches_nobody(void **state)
{
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
	uint8_t f[1024];
	size_t len;

	(void)state;
	dhcp_bind(&vm1);
	dhcp_bind(&vm2);

	len = udp_frame(
	    f, sizeof(f), gw_mac, bcast_mac, GATEWAY, 0xffffffff, 137, 137);
	switch_from_uplink(&sd, f, len);
	len = udp_frame(
	    f, sizeof(f), gw_mac, bcast_mac, GATEWAY, NET(255), 137, 137);
	switch_from_uplink(&sd, f, len);
	len = udp_frame(f, sizeof(f), gw_mac, mcast, GATEWAY,
	    IP4(224, 0, 0, 251), 5353, 5353);
	switch_from_uplink(&sd, f, len);
	/* A DHCP reply broadcast by some server on the uplink. */
	len = udp_frame(
	    f, sizeof(f), gw_mac, bcast_mac, GATEWAY, 0xffffffff, 67, 68);
	switch_from_uplink(&sd, f, len);
	assert_int_equal(switch_stats(&sd)->uplink_flood, 4);
	assert_int_equal(switch_stats(&sd)->uplink_no_port, 0);
	assert_vm_empty(&vm1);
	assert_vm_empty(&vm2);
}

static void
test_vm_to_vm(void **state)
{
	static const uint8_t zero[6] = {0};
	char err[POLICY_ERRLEN];
	uint8_t f[1024];
	size_t len;

	(void)state;
	dhcp_bind(&vm1);
	dhcp_bind(&vm2);

	/* Blocked by default: the subnet is private. */
	len = udp_frame(f, sizeof(f), mac1, mac2, NET(2), NET(3), 5000, 6000);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(vm1.p->st.drops[DROP_POLICY], 1);
	assert_vm_empty(&vm2);
	assert_int_equal(to_uplink(), 0);
	/* ARP for VM2 is refused too. */
	len = arp_frame(
	    f, bcast_mac, mac1, PKT_ARP_REQUEST, mac1, NET(2), zero, NET(3));
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(vm1.p->st.drops[DROP_ARP_TARGET], 1);
	assert_vm_empty(&vm2);
	assert_int_equal(to_uplink(), 0);

	/* VM1 may send, VM2 does not accept. */
	assert_int_equal(policy_add(&vm1.p->policy, "192.168.105.0/24", false,
	                     err, sizeof(err)),
	    0);
	len = udp_frame(f, sizeof(f), mac1, mac2, NET(2), NET(3), 5000, 6000);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(vm1.p->st.drops[DROP_POLICY], 1);
	assert_int_equal(vm2.p->st.drops[DROP_POLICY], 1);
	assert_vm_empty(&vm2);
	assert_int_equal(to_uplink(), 0);

	/* Both allow the subnet: delivered, to VM2 only, never the uplink. */
	assert_int_equal(policy_add(&vm2.p->policy, "192.168.105.0/24", false,
	                     err, sizeof(err)),
	    0);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_vm_got(&vm2, f, len);
	assert_vm_empty(&vm1);
	assert_int_equal(to_uplink(), 0);
	assert_int_equal(vm2.p->st.rx_frames, 3);

	/* ARP between them now passes, to VM2 only. */
	len = arp_frame(
	    f, bcast_mac, mac1, PKT_ARP_REQUEST, mac1, NET(2), zero, NET(3));
	switch_from_vm(&sd, vm1.p, f, len);
	assert_vm_got(&vm2, f, len);
	assert_vm_empty(&vm1);
	assert_int_equal(to_uplink(), 0);

	/* And the reply comes back. */
	len = udp_frame(f, sizeof(f), mac2, mac1, NET(3), NET(2), 6000, 5000);
	switch_from_vm(&sd, vm2.p, f, len);
	assert_vm_got(&vm1, f, len);
	assert_int_equal(to_uplink(), 0);

	/* A block rule on VM2 wins again (same prefix: block wins). */
	assert_int_equal(policy_add(&vm2.p->policy, "192.168.105.2/32", true,
	                     err, sizeof(err)),
	    0);
	len = udp_frame(f, sizeof(f), mac1, mac2, NET(2), NET(3), 5000, 6000);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_vm_empty(&vm2);
	assert_int_equal(vm2.p->st.drops[DROP_POLICY], 2);
}

static void
test_expire(void **state)
{
	uint8_t f[1024];
	size_t len;
	uint32_t ip;
	struct lease l;

	(void)state;
	ip = dhcp_bind(&vm1);
	fake_now = T0 + 100;
	assert_int_equal(dhcp_bind(&vm2), NET(3));
	assert_int_equal(vm2.p->lease_expires, T0 + 100 + LEASE);

	fake_now = T0 + LEASE - 1;
	vm_expire(&sd);
	assert_int_equal(vm1.p->ip, ip);
	assert_ptr_equal(port_by_ip(&sd, ip), vm1.p);

	fake_now = T0 + LEASE;
	vm_expire(&sd);
	assert_int_equal(vm1.p->ip, 0);
	assert_int_equal(vm1.p->lease_expires, 0);
	assert_null(port_by_ip(&sd, ip));
	assert_string_equal(port_state(vm1.p), "attached");
	assert_int_equal(leasedb_get(sd.db, mac1, &l), 0);
	assert_int_equal(l.state, LEASE_EXPIRED);
	/* VM2's lease runs on. */
	assert_int_equal(vm2.p->ip, NET(3));
	assert_int_equal(leasedb_get(sd.db, mac2, &l), 0);
	assert_int_equal(l.state, LEASE_BOUND);

	/* Without a lease VM1 may not send, nor receive. */
	len = udp_frame(
	    f, sizeof(f), mac1, gw_mac, ip, IP4(8, 8, 8, 8), 1000, 2000);
	switch_from_vm(&sd, vm1.p, f, len);
	assert_int_equal(vm1.p->st.drops[DROP_NO_LEASE], 1);
	assert_int_equal(to_uplink(), 0);
	len = udp_frame(
	    f, sizeof(f), gw_mac, mac1, IP4(8, 8, 8, 8), ip, 2000, 1000);
	switch_from_uplink(&sd, f, len);
	assert_vm_empty(&vm1);
	assert_int_equal(vm1.p->st.drops[DROP_NO_LEASE], 2);

	/* A renewal before expiry pushes it out. */
	fake_now = T0 + 100 + LEASE - 10;
	len = dhcp_frame(f, sizeof(f), mac2, DHCP_REQUEST, NET(3), GATEWAY);
	switch_from_vm(&sd, vm2.p, f, len);
	assert_int_equal(read_dhcp_reply(&vm2, DHCP_ACK), NET(3));
	fake_now = T0 + 100 + LEASE + 1;
	vm_expire(&sd);
	assert_int_equal(vm2.p->ip, NET(3));

	/* And VM1 can get an address again. */
	assert_true(dhcp_bind(&vm1) != 0);
}

static void
test_port_readable_batches(void **state)
{
	uint8_t f[1024];
	size_t len;
	int i, rounds;

	(void)state;
	dhcp_bind(&vm1);
	len = udp_frame(
	    f, sizeof(f), mac1, gw_mac, NET(2), IP4(1, 1, 1, 1), 1000, 53);
	for (i = 0; i < 40; i++)
		assert_int_equal(send(vm1.peer, f, len, 0), (ssize_t)len);
	/* Frames read by the loop's read event reach the uplink. */
	for (rounds = 0; rounds < 10 && to_uplink() < 40; rounds++)
		assert_int_equal(event_base_loop(sd.base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(to_uplink(), 40);
	assert_int_equal(vm1.p->st.tx_frames, 42); /* and DHCP's two */
	assert_int_equal(
	    vm1.p->st.tx_bytes, 2 * (PKT_UDP4_HLEN + 300) + 40 * len);

	/* switch_port_readable itself, and with nothing pending. */
	assert_int_equal(send(vm1.peer, f, len, 0), (ssize_t)len);
	switch_port_readable(&sd, vm1.p);
	assert_int_equal(to_uplink(), 41);
	switch_port_readable(&sd, vm1.p);
	assert_int_equal(to_uplink(), 41);
	assert_false(vm1.p->dead);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_dhcp_through_switch, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_pool_full_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_spoofed_source_mac, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_oversize_frame_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_no_lease_no_ip, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_uplink_unicast_reaches_one_vm, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_uplink_arp_for_leased_ip, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_uplink_broadcast_reaches_nobody, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vm_to_vm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_port_readable_batches, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	clock_set_hook(test_now, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
