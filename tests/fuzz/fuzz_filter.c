/*
 * libFuzzer target: pkt_parse, then the isolation filter in one direction.
 *
 * Input: one control byte, then an Ethernet frame.
 *   bit 0     direction: 0 filter_from_vm, 1 filter_to_vm
 *   bit 1     the VM holds a lease (192.168.105.10) or not
 *   bits 2-3  policy: none (default rules), rule set A, rule set B, NULL
 *   bit 4     overwrite the frame's source (from) or destination (to) MAC
 *             with the VM's MAC, so the fuzzer gets past that check at once
 *   bit 5     no DNS servers handed out (else two)
 *   bits 6-7  reserved. The virtio-net header that rides in front of
 *             frames on offload-capable ports is fuzzed by fuzz_gso.
 *
 * Beyond the sanitizers it checks what the filter promises: a pointer
 * pkt_parse returns lies inside the frame (every byte it covers is read, so
 * ASan sees any overrun), a drop names a known reason, and a PASS respects
 * the rule that let it through.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "pkt.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define VM_IP   0xc0a8690a /* 192.168.105.10 */
#define GATEWAY 0xc0a86901 /* 192.168.105.1 */

static const uint8_t vm_mac[PKT_ETH_ALEN] = {
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a};
static const uint32_t dns[2] = {GATEWAY, 0x08080808};
static struct policy pol_a, pol_b;

/* Stops the run: an invariant the filter promises does not hold. */
static _Noreturn void
broken_at(int line)
{
	fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
	__builtin_trap();
}
#define broken() broken_at(__LINE__)

/* Adds one rule that must parse. */
static void
add(struct policy *p, const char *entry, bool block)
{
	char err[POLICY_ERRLEN];

	if (policy_add(p, entry, block, err, sizeof(err)) == -1)
		broken();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	policy_init(&pol_a);
	add(&pol_a, "192.168.105.0/24", false);
	add(&pol_a, "192.168.105.20", true);
	add(&pol_a, "10.0.0.0/8", false);
	add(&pol_a, "0.0.0.0/0", true);
	policy_init(&pol_b);
	add(&pol_b, "@host", true);
	add(&pol_b, "8.8.8.0/24", true);
	add(&pol_b, "172.16.0.0/12", false);
	add(&pol_b, "192.168.105.11", false);
	return 0;
}

/* Reads every byte of [p, p + n), which must lie inside the frame. */
static void
touch(const struct pkt_info *pi, const void *p, size_t n)
{
	const uint8_t *b = p;
	volatile uint8_t sink = 0;
	size_t i;

	if (p == NULL)
		return;
	if (b < pi->frame || n > pi->len ||
	    (size_t)(b - pi->frame) > pi->len - n)
		broken();
	for (i = 0; i < n; i++)
		sink ^= b[i];
	(void)sink;
}

/* Every layer pkt_parse reports stays inside the frame. */
static void
check_parse(const struct pkt_info *pi)
{
	touch(pi, pi->eth, sizeof(*pi->eth));
	touch(pi, pi->arp, sizeof(*pi->arp));
	touch(pi, pi->ip, sizeof(*pi->ip));
	touch(pi, pi->l4, pi->l4_len);
	touch(pi, pi->udp_payload, pi->udp_payload_len);
	if (pi->has_ports && pi->l4 == NULL)
		broken();
	if (pi->malformed == PKT_OK && pi->ethertype == PKT_ETHERTYPE_ARP &&
	    pi->arp == NULL)
		broken();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct filter_net net = {GATEWAY, 0xffffff00, dns, 2};
	struct filter_vm vm = {vm_mac, 0, NULL};
	const struct policy *pols[4] = {NULL, &pol_a, &pol_b, NULL};
	struct policy none;
	struct pkt_info pi;
	enum filter_verdict v;
	enum drop_reason why = DROP__COUNT;
	uint8_t ctl, *frame;
	bool to_vm;
	size_t len;

	if (size < 1)
		return 0;
	ctl = data[0];
	len = size - 1;
	/* An exact-size copy: ASan flags a read one byte past the frame. */
	frame = malloc(len > 0 ? len : 1);
	if (frame == NULL)
		return 0;
	memcpy(frame, data + 1, len);

	to_vm = ctl & 0x01;
	if (ctl & 0x02)
		vm.ip = VM_IP;
	policy_init(&none);
	vm.policy = pols[(ctl >> 2) & 3];
	if (((ctl >> 2) & 3) == 0)
		vm.policy = &none;
	if ((ctl & 0x10) && len >= PKT_ETH_HLEN)
		memcpy(
		    frame + (to_vm ? 0 : PKT_ETH_ALEN), vm_mac, PKT_ETH_ALEN);
	if (ctl & 0x20)
		net.ndns = 0;

	if (pkt_parse(frame, len, &pi) == -1) {
		if (len >= PKT_ETH_HLEN || pi.eth != NULL)
			broken();
	} else {
		check_parse(&pi);
	}

	v = to_vm ? filter_to_vm(&net, &vm, &pi, &why)
	          : filter_from_vm(&net, &vm, &pi, &why);
	switch (v) {
	case FILTER_DROP:
		if ((unsigned)why >= DROP__COUNT ||
		    strcmp(drop_reason_name(why), "unknown") == 0)
			broken();
		break;
	case FILTER_DHCP:
		/* Only a VM's own DHCP client message goes to the server. */
		if (to_vm || pi.ip == NULL || !pi.has_ports ||
		    pi.sport != PKT_PORT_DHCP_CLIENT ||
		    pi.dport != PKT_PORT_DHCP_SERVER)
			broken();
		break;
	case FILTER_PASS:
		if (pi.eth == NULL || pi.tagged)
			broken();
		if (!to_vm && memcmp(pi.eth->src, vm_mac, PKT_ETH_ALEN) != 0)
			broken();
		if (pi.ethertype == PKT_ETHERTYPE_IPV4) {
			if (pi.ip == NULL || pi.malformed != PKT_OK ||
			    vm.ip == 0)
				broken();
			if (!to_vm && pi.ip_src != vm.ip)
				broken();
			if (to_vm &&
			    (pi.ip_dst != vm.ip ||
			        memcmp(pi.eth->dst, vm_mac, PKT_ETH_ALEN) != 0))
				broken();
		} else if (pi.ethertype != PKT_ETHERTYPE_ARP ||
		           pi.arp == NULL) {
			broken();
		}
		break;
	default:
		broken();
	}
	free(frame);
	return 0;
}
