/*
 * libFuzzer target: the DHCP server. dhcp_parse on the message bytes, then
 * dhcp_handle on a client frame built around them (pkt_build_udp4, as a VM
 * sends it), against one in-memory lease database with a 5-address pool
 * shared by 8 MACs, so offers, binds, refusals and a full pool all happen.
 *
 * Input: two control bytes, then the BOOTP message (the UDP payload).
 *   byte 0    the reply buffer's size: 0..597 (byte * 3) below 200, else
 *             1024 (the switch's buffer); the buffer is exactly that big,
 *             so ASan catches a write past cap
 *   byte 1    bits 0-2: which VM (MAC) sends it; bit 3: overwrite chaddr
 *             with that MAC (past the anti-spoofing check at once);
 *             bit 4: the VM detaches first (its lease is released);
 *             bits 5-7: seconds the clock moves first, x 50 (leases expire)
 *
 * Checks beyond the sanitizers: a parsed hostname (and option 81's
 * parts) is sanitized and terminated; a reply fits cap, re-parses with
 * pkt_parse as a well-formed IPv4/UDP 67->68 frame with valid checksums, to the
 * VM or broadcast, and echoes xid and chaddr; a bound address is in the pool.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp.h"
#include "leasedb.h"
#include "pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define GATEWAY    0x0a000001 /* 10.0.0.1 */
#define NETMASK    0xffffff00
#define POOL_START 0x0a000002
#define POOL_END   0x0a000006
#define NMACS      8
#define BOOTP_HLEN 236

static struct leasedb *db;
static int64_t now = 1700000000;
static const uint32_t dns[2] = {GATEWAY, 0x01010101};
/* Issue 14: options 15, 119 and 121 in every reply that asks for them. */
static const uint8_t search[] = {
    3, 'l', 'a', 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
static const uint8_t routes[] = {8, 10, 10, 0, 0, 254};
static struct dhcp_config cfg = {
    .gateway = GATEWAY,
    .netmask = NETMASK,
    .dns = dns,
    .ndns = 2,
    .mtu = 1500,
    .lease_time = 600,
    .server_mac = {0x02, 0x53, 0x4e, 0x00, 0x00, 0x01},
    .domain = "lab.example",
    .search = search,
    .search_len = sizeof(search),
    .routes = routes,
    .routes_len = sizeof(routes),
};

/* Stops the run: an invariant the server promises does not hold. */
static _Noreturn void
broken_at(int line)
{
	fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
	__builtin_trap();
}
#define broken() broken_at(__LINE__)

/* The MAC of VM i. */
static void
vm_mac(unsigned i, uint8_t mac[PKT_ETH_ALEN])
{
	static const uint8_t base[PKT_ETH_ALEN] = {
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x10};

	memcpy(mac, base, PKT_ETH_ALEN);
	mac[5] = (uint8_t)(base[5] + i);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];
	uint8_t mac[PKT_ETH_ALEN];
	unsigned i;

	(void)argc;
	(void)argv;
	db = leasedb_open(
	    ":memory:", POOL_START, POOL_END, GATEWAY, err, sizeof(err));
	if (db == NULL)
		broken();
	for (i = 0; i < NMACS; i++) {
		vm_mac(i, mac);
		if (leasedb_attach(db, mac, "", 1000, now) == -1)
			broken();
	}
	return 0;
}

/* What dhcp_parse says about a message must be safe to use as is. */
static void
check_msg(const struct dhcp_msg *m)
{
	size_t i, n = strnlen(m->hostname, sizeof(m->hostname));

	/* Option 81's parts, and option 61, stay within their fields. */
	if (strnlen(m->fqdn_host, sizeof(m->fqdn_host)) ==
	        sizeof(m->fqdn_host) ||
	    strnlen(m->fqdn_domain, sizeof(m->fqdn_domain)) ==
	        sizeof(m->fqdn_domain) ||
	    m->client_id_len > sizeof(m->client_id))
		broken();
	if (n == sizeof(m->hostname))
		broken();
	for (i = 0; i < n; i++) {
		char c = m->hostname[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		        c == '-'))
			broken();
	}
	if (m->op != 1 || m->htype != 1 || m->hlen != PKT_ETH_ALEN)
		broken();
	if (m->type > DHCP_INFORM)
		broken();
}

/* A reply frame: well-formed, within cap, to this VM, checksums right. */
static void
check_reply(const uint8_t *out, size_t cap, const struct dhcp_result *res,
    const uint8_t mac[PKT_ETH_ALEN], const struct dhcp_msg *m)
{
	static const uint8_t bcast[PKT_ETH_ALEN] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct pkt_info pi;
	uint16_t ulen;

	if (res->reply_len > cap || res->reply_len < PKT_UDP4_HLEN)
		broken();
	if (pkt_parse(out, res->reply_len, &pi) == -1 ||
	    pi.malformed != PKT_OK || pi.ip == NULL || pi.tagged ||
	    pi.ip_proto != PKT_IPPROTO_UDP || !pi.has_ports ||
	    pi.sport != PKT_PORT_DHCP_SERVER ||
	    pi.dport != PKT_PORT_DHCP_CLIENT || pi.ip_src != GATEWAY)
		broken();
	if (memcmp(pi.eth->src, cfg.server_mac, PKT_ETH_ALEN) != 0 ||
	    (memcmp(pi.eth->dst, mac, PKT_ETH_ALEN) != 0 &&
	        memcmp(pi.eth->dst, bcast, PKT_ETH_ALEN) != 0))
		broken();
	if (pi.udp_payload_len != res->reply_len - PKT_UDP4_HLEN ||
	    pi.udp_payload_len < BOOTP_HLEN + 4)
		broken();
	/* Both checksums verify to zero over the header they cover. */
	if (pkt_csum(pi.ip, sizeof(*pi.ip), 0) != 0)
		broken();
	ulen = (uint16_t)(pi.l4_len);
	if (pkt_csum(pi.l4, ulen,
	        pkt_pseudo_sum(pi.ip_src, pi.ip_dst, PKT_IPPROTO_UDP, ulen)) !=
	    0)
		broken();
	/* BOOTREPLY, same xid, same chaddr. */
	if (pi.udp_payload[0] != 2 || memcmp(pi.udp_payload + 4, &m->xid, 4) ||
	    memcmp(pi.udp_payload + 28, mac, PKT_ETH_ALEN) != 0)
		broken();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_udp4_addr a;
	struct dhcp_result res;
	struct dhcp_msg m;
	struct pkt_info pi;
	uint8_t mac[PKT_ETH_ALEN], *frame, *out;
	size_t cap, plen, flen;
	bool parsed;
	int rc;

	if (size < 2)
		return 0;
	cap = data[0] < 200 ? (size_t)data[0] * 3 : 1024;
	vm_mac(data[1] & 7, mac);
	now += (data[1] >> 5) * 50;
	plen = size - 2;
	if (plen > PKT_MAX_FRAME - PKT_UDP4_HLEN - 8)
		return 0;

	/* The parser alone, on an exact-size copy of the message. */
	flen = PKT_UDP4_HLEN + plen;
	frame = malloc(flen);
	if (frame == NULL)
		return 0;
	memcpy(frame + PKT_UDP4_HLEN, data + 2, plen);
	if ((data[1] & 0x08) && plen >= BOOTP_HLEN)
		memcpy(frame + PKT_UDP4_HLEN + 28, mac, PKT_ETH_ALEN);
	parsed = dhcp_parse(frame + PKT_UDP4_HLEN, plen, &m) == 0;
	if (parsed)
		check_msg(&m);

	if (data[1] & 0x10) {
		if (leasedb_detach(db, mac, now) == -1)
			broken();
	}
	/* As the switch's timer would, whenever time has passed. */
	if ((data[1] >> 5) != 0 && leasedb_expire(db, now) == -1)
		broken();

	/* The frame a VM sends: from its MAC, 0.0.0.0:68 to broadcast:67. */
	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, mac, PKT_ETH_ALEN);
	memset(a.dst_mac, 0xff, PKT_ETH_ALEN);
	a.src_ip = 0;
	a.dst_ip = 0xffffffff;
	a.sport = PKT_PORT_DHCP_CLIENT;
	a.dport = PKT_PORT_DHCP_SERVER;
	if (pkt_build_udp4(frame, flen, &a, plen) != flen)
		broken();
	if (pkt_parse(frame, flen, &pi) == -1 || pi.malformed != PKT_OK ||
	    pi.udp_payload_len != plen)
		broken();

	out = malloc(cap > 0 ? cap : 1);
	if (out == NULL) {
		free(frame);
		return 0;
	}
	rc = dhcp_handle(&cfg, db, mac, &pi, now, out, cap, &res);
	if (rc == -1)
		broken(); /* an in-memory database does not fail */
	if (res.reply_len > 0) {
		if (!parsed)
			broken();
		check_reply(out, cap, &res, mac, &m);
	}
	if (res.bound &&
	    (res.ip < POOL_START || res.ip > POOL_END || res.ip == GATEWAY))
		broken();
	if (res.dropped && (unsigned)res.drop >= DROP__COUNT)
		broken();
	free(out);
	free(frame);
	return 0;
}
