/*
 * Theory of operation: the isolation filter decides, for one VM and one
 * frame already parsed by pkt_parse, whether the frame may leave the VM
 * (filter_from_vm) or reach it (filter_to_vm), and if not, why. It owns no
 * state: the caller keeps the VM's MAC, lease and policy and counts the
 * reason. Each rule is checked in the order DESIGN.md "Isolation filter"
 * gives, so a frame is counted under the first rule it breaks.
 *
 * Invariants: it runs once per frame (or GSO superframe), so it never
 * allocates, logs or makes a system call, and it reads the frame only
 * through struct pkt_info, whose pointers pkt_parse has bounds-checked.
 * Anything it does not recognise is dropped: the default is deny.
 *
 * Addresses are host order throughout; ARP addresses are read from the
 * packed wire struct with memcpy since they may be unaligned.
 */
#include <arpa/inet.h>
#include <string.h>

#include "filter.h"

static const uint8_t bcast_mac[PKT_ETH_ALEN] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* Records why a frame is dropped and returns the drop verdict. */
static enum filter_verdict
drop(enum drop_reason *why, enum drop_reason r)
{
	*why = r;
	return FILTER_DROP;
}

/* True when ARP is anything but an Ethernet/IPv4 request or reply. */
static bool
arp_malformed(const struct pkt_arp *arp)
{
	uint16_t op;

	if (arp == NULL)
		return true;
	op = pkt_get_be16(&arp->op);
	return pkt_get_be16(&arp->htype) != 1 ||
	       pkt_get_be16(&arp->ptype) != PKT_ETHERTYPE_IPV4 ||
	       arp->hlen != PKT_ETH_ALEN || arp->plen != 4 ||
	       (op != PKT_ARP_REQUEST && op != PKT_ARP_REPLY);
}

/* Whether ip is one of the DNS servers the daemon hands out. */
static bool
is_dns_server(const struct filter_net *net, uint32_t ip)
{
	size_t i;

	for (i = 0; i < net->ndns; i++)
		if (net->dns[i] == ip)
			return true;
	return false;
}

/* Whether a first fragment carries UDP with exactly these ports. */
static bool
is_udp_ports(const struct pkt_info *pi, uint16_t sport, uint16_t dport)
{
	return pi->ip_proto == PKT_IPPROTO_UDP && pi->has_ports &&
	       pi->sport == sport && pi->dport == dport;
}

bool
filter_ip_is_global(uint32_t ip)
{
	switch (ip >> 24) {
	case 0:
	case 10:
	case 127:
		return false;
	case 100:
		return (ip & 0xffc00000) != 0x64400000; /* 100.64/10 */
	case 169:
		return (ip & 0xffff0000) != 0xa9fe0000; /* 169.254/16 */
	case 172:
		return (ip & 0xfff00000) != 0xac100000; /* 172.16/12 */
	case 192:
		if ((ip & 0xffffff00) == 0xc0000000) /* 192.0.0/24 */
			return ip == 0xc0000009 || ip == 0xc000000a;
		return (ip & 0xffffff00) != 0xc0000200 && /* 192.0.2/24 */
		       (ip & 0xffff0000) != 0xc0a80000;   /* 192.168/16 */
	case 198:
		return (ip & 0xfffe0000) != 0xc6120000 && /* 198.18/15 */
		       (ip & 0xffffff00) != 0xc6336400;   /* 198.51.100/24 */
	case 203:
		return (ip & 0xffffff00) != 0xcb007100; /* 203.0.113/24 */
	default:
		/* 224/4 multicast, 240/4 reserved and the broadcast. */
		return ip < 0xe0000000;
	}
}

bool
filter_is_host(const struct filter_net *net, uint32_t ip)
{
	size_t lo = 0, hi = net->nhost_addrs, mid;

	if (ip == net->gateway)
		return true;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (net->host_addrs[mid] == ip)
			return true;
		if (net->host_addrs[mid] < ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

bool
filter_peer_allowed(
    const struct filter_net *net, const struct filter_vm *vm, uint32_t peer)
{
	enum policy_verdict v = POLICY_NONE;

	/* "@host" is every host address (Security model, rule 6). */
	if (vm->policy != NULL && vm->policy->nrules > 0)
		v = policy_decide_host(
		    vm->policy, peer, filter_is_host(net, peer));
	switch (v) {
	case POLICY_ALLOW:
		return true;
	case POLICY_BLOCK:
		return false;
	case POLICY_NONE:
	default:
		return peer == net->gateway || filter_ip_is_global(peer);
	}
}

/*
 * Whether a TCP segment (or UDP datagram) between the VM and the gateway
 * belongs to one of the daemon's --expose connections (or UDP mappings:
 * the daemon connects from the gateway
 * address, expose.c): those pass even under "--block @host", which is
 * about the VM reaching the host, not the host's proxy reaching the VM's
 * published port. Only the exact (VM port, proxy port) pairs of live
 * connections pass, so the VM cannot use it to reach a host service.
 */
static bool
is_proxied(const struct filter_net *net, const struct filter_vm *vm,
    const struct pkt_info *pi, uint32_t peer, uint16_t vm_port,
    uint16_t host_port)
{
	return vm->proxied != NULL && peer == net->gateway &&
	       (pi->ip_proto == PKT_IPPROTO_TCP ||
	           pi->ip_proto == PKT_IPPROTO_UDP) &&
	       pi->has_ports &&
	       vm->proxied(vm->proxied_arg, pi->ip_proto, vm_port, host_port);
}

/*
 * The last word on an IPv4 packet between the VM and peer, either way:
 * the VM's rules (or the default), then the two exceptions that hold
 * whatever the rules say: an --expose connection's segments between the
 * VM's port and the proxy's (the VM's replies, the proxy's requests),
 * and DNS with a server the daemon hands out (port 53 on the peer's
 * side; later fragments have no ports, so no exception for them).
 */
static enum filter_verdict
peer_verdict(const struct filter_net *net, const struct filter_vm *vm,
    const struct pkt_info *pi, uint32_t peer, uint16_t vm_port,
    uint16_t peer_port, enum drop_reason *why)
{
	if (filter_peer_allowed(net, vm, peer))
		return FILTER_PASS;
	if (is_proxied(net, vm, pi, peer, vm_port, peer_port))
		return FILTER_PASS;
	if (pi->has_ports && peer_port == PKT_PORT_DNS &&
	    is_dns_server(net, peer))
		return FILTER_PASS;
	return drop(why, DROP_POLICY);
}

/* One direction's deciders for the frame types a VM may exchange. */
typedef enum filter_verdict (*decide_fn)(const struct filter_net *,
    const struct filter_vm *, const struct pkt_info *, enum drop_reason *);

/*
 * What both directions refuse before looking inside (a runt, a VLAN tag,
 * IPv6, any other type), then the direction's ARP or IPv4 decider.
 */
static enum filter_verdict
by_type(const struct filter_net *net, const struct filter_vm *vm,
    const struct pkt_info *pi, enum drop_reason *why, decide_fn arp,
    decide_fn ipv4)
{
	if (pi->eth == NULL)
		return drop(why, DROP_RUNT);
	if (pi->tagged)
		return drop(why, DROP_VLAN);
	switch (pi->ethertype) {
	case PKT_ETHERTYPE_IPV6:
		return drop(why, DROP_IPV6);
	case PKT_ETHERTYPE_ARP:
		return arp(net, vm, pi, why);
	case PKT_ETHERTYPE_IPV4:
		return ipv4(net, vm, pi, why);
	default:
		return drop(why, DROP_ETHERTYPE);
	}
}

/* Decides an ARP frame from the VM: its own identity, a permitted target. */
static enum filter_verdict
arp_from_vm(const struct filter_net *net, const struct filter_vm *vm,
    const struct pkt_info *pi, enum drop_reason *why)
{
	const struct pkt_arp *arp = pi->arp;
	uint32_t spa, tpa;

	if (arp_malformed(arp))
		return drop(why, DROP_ARP_MALFORMED);
	if (memcmp(arp->sha, vm->mac, PKT_ETH_ALEN) != 0)
		return drop(why, DROP_ARP_SPOOF);
	/* vm->ip is 0 before a lease: then only a probe (0.0.0.0) passes. */
	spa = pkt_get_be32(arp->spa);
	tpa = pkt_get_be32(arp->tpa);
	/* RFC 5227 probe of its own new lease (sent right after the ACK). */
	if (spa == 0 && vm->ip != 0 && tpa == vm->ip)
		return FILTER_PASS;
	if (spa != vm->ip)
		return drop(why, DROP_ARP_SPOOF);
	if (tpa == net->gateway || (vm->ip != 0 && tpa == vm->ip))
		return FILTER_PASS;
	/* Resolving a peer only makes sense on-link, and only if allowed. */
	if ((tpa & net->netmask) == (net->gateway & net->netmask) &&
	    filter_peer_allowed(net, vm, tpa))
		return FILTER_PASS;
	return drop(why, DROP_ARP_TARGET);
}

/*
 * Whether an IPv4 header (its length checked by pkt_parse) carries options
 * other than padding (End of Option List, No-Operation; RFC 791). Loose
 * and strict source routes (LSRR/SSRR) would have the host forward the
 * packet onward to an address the VM's rules never saw (Linux stops them
 * only with accept_source_route=0, a sysctl softnet does not own); record
 * route, timestamps and the rest have no use a VM needs, so none pass.
 */
static bool
has_ip_options(const struct pkt_ipv4 *ip)
{
	const uint8_t *opt = (const uint8_t *)(ip + 1);
	size_t i, n = (size_t)(ip->ver_ihl & 0x0f) * 4 - sizeof(*ip);

	for (i = 0; i < n; i++)
		if (opt[i] > 1) /* neither EOL (0) nor NOP (1) */
			return true;
	return false;
}

/* Decides an IPv4 frame from the VM: DHCP, its lease, the destination. */
static enum filter_verdict
ipv4_from_vm(const struct filter_net *net, const struct filter_vm *vm,
    const struct pkt_info *pi, enum drop_reason *why)
{
	if (pi->ip == NULL || pi->malformed != PKT_OK)
		return drop(why, DROP_IP_MALFORMED);
	if (has_ip_options(pi->ip))
		return drop(why, DROP_IP_OPTIONS);
	/* Clients send from 0.0.0.0 or their address, lease or not. */
	if (is_udp_ports(pi, PKT_PORT_DHCP_CLIENT, PKT_PORT_DHCP_SERVER))
		return FILTER_DHCP;
	if (pi->ip_proto == PKT_IPPROTO_UDP && pi->has_ports &&
	    pi->sport == PKT_PORT_DHCP_SERVER)
		return drop(why, DROP_ROGUE_DHCP);
	/*
	 * Any other UDP to port 67 or 68 would reach a DHCP server or client
	 * on the host (macOS bootpd listens on the gateway, which every VM
	 * may reach) and bootpd records a lease under whatever chaddr it is
	 * told (bootp's bootpd.tproj/dhcpd.c S_create_host), so a VM could
	 * plant a lease for another VM's MAC and misdirect `tart ip`. Later
	 * fragments carry no UDP header and pass on their address: the
	 * ports live in the first 8 bytes, which only an offset-0 fragment
	 * can carry, and every such fragment is checked here.
	 */
	if (pi->ip_proto == PKT_IPPROTO_UDP && pi->has_ports &&
	    (pi->dport == PKT_PORT_DHCP_SERVER ||
	        pi->dport == PKT_PORT_DHCP_CLIENT))
		return drop(why, DROP_DHCP_FOREIGN);
	if (vm->ip == 0)
		return drop(why, DROP_NO_LEASE);
	if (pi->ip_src != vm->ip)
		return drop(why, DROP_IP_SPOOF);
	return peer_verdict(net, vm, pi, pi->ip_dst, pi->sport, pi->dport, why);
}

enum filter_verdict
filter_from_vm(const struct filter_net *net, const struct filter_vm *vm,
    const struct pkt_info *pi, enum drop_reason *why)
{
	/* Checked before the type; a runt is by_type's to count. */
	if (pi->eth != NULL && memcmp(pi->eth->src, vm->mac, PKT_ETH_ALEN) != 0)
		return drop(why, DROP_SRC_MAC);
	return by_type(net, vm, pi, why, arp_from_vm, ipv4_from_vm);
}

/* Decides an ARP frame for the VM: it must ask for the VM's lease. */
static enum filter_verdict
arp_to_vm(const struct filter_net *net, const struct filter_vm *vm,
    const struct pkt_info *pi, enum drop_reason *why)
{
	const struct pkt_arp *arp = pi->arp;

	if (arp_malformed(arp))
		return drop(why, DROP_ARP_MALFORMED);
	if (vm->ip == 0)
		return drop(why, DROP_NO_LEASE);
	if (pkt_get_be32(arp->tpa) != vm->ip)
		return drop(why, DROP_ARP_TARGET);
	if (memcmp(pi->eth->dst, vm->mac, PKT_ETH_ALEN) != 0 &&
	    memcmp(pi->eth->dst, bcast_mac, PKT_ETH_ALEN) != 0)
		return drop(why, DROP_DST_MAC);
	/* The gateway's ARP always passes: "@host" blocks IP, not routing. */
	if (pkt_get_be32(arp->spa) != net->gateway &&
	    !filter_peer_allowed(net, vm, pkt_get_be32(arp->spa)))
		return drop(why, DROP_POLICY);
	return FILTER_PASS;
}

/* Decides an IPv4 frame for the VM: unicast to its lease, from a peer. */
static enum filter_verdict
ipv4_to_vm(const struct filter_net *net, const struct filter_vm *vm,
    const struct pkt_info *pi, enum drop_reason *why)
{
	if (pi->ip == NULL || pi->malformed != PKT_OK)
		return drop(why, DROP_IP_MALFORMED);
	if (memcmp(pi->eth->dst, vm->mac, PKT_ETH_ALEN) != 0)
		return drop(
		    why, (pi->eth->dst[0] & 1) ? DROP_BROADCAST : DROP_DST_MAC);
	if (vm->ip == 0)
		return drop(why, DROP_NO_LEASE);
	if (pi->ip_dst != vm->ip)
		return drop(why, DROP_DST_IP);
	/* The daemon's own replies bypass the filter; any other is rogue. */
	if (is_udp_ports(pi, PKT_PORT_DHCP_SERVER, PKT_PORT_DHCP_CLIENT))
		return drop(why, DROP_ROGUE_DHCP);
	return peer_verdict(net, vm, pi, pi->ip_src, pi->dport, pi->sport, why);
}

enum filter_verdict
filter_to_vm(const struct filter_net *net, const struct filter_vm *vm,
    const struct pkt_info *pi, enum drop_reason *why)
{
	return by_type(net, vm, pi, why, arp_to_vm, ipv4_to_vm);
}
