/*
 * The isolation filter: a pure decision over a parsed frame (struct
 * pkt_info) for one VM, in each direction. No I/O, no allocation, no
 * state: the caller counts the reason and moves the frame. The rules are
 * DESIGN.md "Isolation filter".
 */
#ifndef SOFTNET_FILTER_H
#define SOFTNET_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drop.h"
#include "pkt.h"
#include "policy.h"

enum filter_verdict {
	FILTER_PASS, /* forward it */
	FILTER_DHCP, /* a DHCP client message for the daemon's server */
	FILTER_DROP, /* drop and count *why */
};

/* The network every VM is on. */
struct filter_net {
	uint32_t gateway;    /* host order */
	uint32_t netmask;    /* host order */
	const uint32_t *dns; /* DNS servers handed out by DHCP */
	size_t ndns;
	/*
	 * The host's other IPv4 addresses, sorted ascending (hostaddr.c):
	 * "@host" matches them as well as the gateway. May be empty.
	 */
	const uint32_t *host_addrs;
	size_t nhost_addrs;
};

/* The VM a frame comes from or goes to. */
struct filter_vm {
	const uint8_t *mac;          /* PKT_ETH_ALEN bytes */
	uint32_t ip;                 /* leased address, 0 before a lease */
	const struct policy *policy; /* the VM's allow/block rules */
	/*
	 * Whether TCP or UDP (proto, PKT_IPPROTO_*) between the VM's port
	 * vm_port and the gateway's port host_port is one of the daemon's own
	 * --expose connections or UDP mappings (which pass whatever the rules
	 * say of @host: they are the VM's service answering a client, not
	 * the VM reaching the host). NULL: none.
	 */
	bool (*proxied)(const void *arg, uint8_t proto, uint16_t vm_port,
	    uint16_t host_port);
	const void *proxied_arg;
};

/* Decides a frame sent by vm (toward the uplink or another VM). */
enum filter_verdict filter_from_vm(const struct filter_net *net,
    const struct filter_vm *vm, const struct pkt_info *pi,
    enum drop_reason *why);

/* Decides a frame about to be delivered to vm (from the uplink or a VM). */
enum filter_verdict filter_to_vm(const struct filter_net *net,
    const struct filter_vm *vm, const struct pkt_info *pi,
    enum drop_reason *why);

/* True when ip is globally routable (not in any special-purpose range). */
bool filter_ip_is_global(uint32_t ip);

/* Whether ip is the gateway or one of net's other host addresses. */
bool filter_is_host(const struct filter_net *net, uint32_t ip);

/* Whether vm may talk to peer (either direction), before port checks. */
bool filter_peer_allowed(
    const struct filter_net *net, const struct filter_vm *vm, uint32_t peer);

#endif
