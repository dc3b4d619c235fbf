/*
 * Theory of operation: pkt_parse walks a frame once, layer by layer, through
 * a bounds-checked cursor, and records what it found in struct pkt_info.
 * It never fails on a bad upper layer: it stops there and says why, so the
 * filter can count the drop by reason. It never allocates and never writes
 * to the frame. The builders write well-formed frames the daemon originates
 * (DHCP replies).
 */
#include <arpa/inet.h>
#include <string.h>

#include "pkt.h"

/* Parses TCP/UDP/ICMP headers of a first (or only) fragment. */
static void
parse_l4(struct pkt_cur *c, struct pkt_info *pi)
{
	const struct pkt_udp *udp;
	const struct pkt_tcp *tcp;
	uint16_t ulen;

	pi->l4 = c->p;
	pi->l4_len = c->left;
	switch (pi->ip_proto) {
	case PKT_IPPROTO_UDP:
		if ((udp = pkt_pull(c, sizeof(*udp))) == NULL)
			goto bad;
		ulen = pkt_get_be16(&udp->len);
		/* In a first fragment ulen covers the whole datagram. */
		if (ulen < sizeof(*udp) ||
		    (ulen > pi->l4_len &&
		        !(pkt_get_be16(&pi->ip->frag_off) & PKT_IP_MF)))
			goto bad;
		if (ulen > pi->l4_len)
			ulen = (uint16_t)pi->l4_len;
		pi->sport = pkt_get_be16(&udp->sport);
		pi->dport = pkt_get_be16(&udp->dport);
		pi->has_ports = true;
		pi->udp_payload = c->p;
		pi->udp_payload_len = ulen - sizeof(*udp);
		return;
	case PKT_IPPROTO_TCP:
		if ((tcp = pkt_pull(c, sizeof(*tcp))) == NULL ||
		    (tcp->off >> 4) < 5 ||
		    (size_t)(tcp->off >> 4) * 4 > pi->l4_len)
			goto bad;
		pi->sport = pkt_get_be16(&tcp->sport);
		pi->dport = pkt_get_be16(&tcp->dport);
		pi->has_ports = true;
		return;
	case PKT_IPPROTO_ICMP:
		if (pkt_pull(c, 4) == NULL)
			goto bad;
		return;
	default:
		return;
	}
bad:
	pi->malformed = PKT_BAD_L4;
}

/* Parses an IPv4 header and, for first fragments, the L4 header. */
static void
parse_ipv4(struct pkt_cur *c, struct pkt_info *pi)
{
	const struct pkt_ipv4 *ip;
	size_t hlen, tot;
	uint16_t frag;

	if ((ip = pkt_pull(c, sizeof(*ip))) == NULL)
		goto bad;
	hlen = (size_t)(ip->ver_ihl & 0x0f) * 4;
	tot = pkt_get_be16(&ip->tot_len);
	if ((ip->ver_ihl >> 4) != 4 || hlen < sizeof(*ip) || tot < hlen ||
	    tot - sizeof(*ip) > c->left)
		goto bad;
	if (pkt_pull(c, hlen - sizeof(*ip)) == NULL)
		goto bad;
	/* The IP packet ends at tot_len; Ethernet padding is not payload. */
	c->left = tot - hlen;
	pi->ip = ip;
	pi->ip_src = pkt_get_be32(&ip->src);
	pi->ip_dst = pkt_get_be32(&ip->dst);
	pi->ip_proto = ip->proto;
	frag = pkt_get_be16(&ip->frag_off);
	if ((frag & PKT_IP_OFFSET) != 0) {
		pi->ip_later_fragment = true;
		return;
	}
	parse_l4(c, pi);
	return;
bad:
	pi->malformed = PKT_BAD_IPV4;
}

int
pkt_parse(const uint8_t *frame, size_t len, struct pkt_info *pi)
{
	struct pkt_cur c;
	const uint8_t *tag;
	int ntags;

	memset(pi, 0, sizeof(*pi));
	pi->frame = frame;
	pi->len = len;
	pkt_cur_init(&c, frame, len);
	if ((pi->eth = pkt_pull(&c, sizeof(*pi->eth))) == NULL) {
		pi->malformed = PKT_BAD_ETH;
		return -1;
	}
	pi->ethertype = pkt_get_be16(&pi->eth->type);
	for (ntags = 0; pi->ethertype == PKT_ETHERTYPE_VLAN ||
	                pi->ethertype == PKT_ETHERTYPE_QINQ;
	     ntags++) {
		pi->tagged = true;
		if (ntags == 2 || (tag = pkt_pull(&c, 4)) == NULL) {
			pi->malformed = PKT_BAD_VLAN;
			return 0;
		}
		pi->ethertype = pkt_get_be16(tag + 2);
	}
	switch (pi->ethertype) {
	case PKT_ETHERTYPE_ARP:
		if ((pi->arp = pkt_pull(&c, sizeof(*pi->arp))) == NULL)
			pi->malformed = PKT_BAD_ARP;
		break;
	case PKT_ETHERTYPE_IPV4:
		parse_ipv4(&c, pi);
		break;
	default:
		break;
	}
	return 0;
}

/*
 * The Internet checksum (RFC 1071). On a little-endian machine the data is
 * summed eight bytes at a time in native order, with the carries folded
 * back in; that gives the byte-swapped sum of the big-endian 16-bit words
 * (RFC 1071 section 2(B)), swapped once at the end. Elsewhere, word by
 * word. Both agree bit for bit (tests/test_pkt.c compares them).
 */
uint16_t
pkt_csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t s = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w8;
	uint32_t w4;
	uint16_t w2;

	while (len >= 8) {
		memcpy(&w8, p, 8);
		s += w8;
		s += s < w8; /* end-around carry */
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		memcpy(&w4, p, 4);
		s += w4;
		s += s < w4;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w2, p, 2);
		s += w2;
		s += s < w2;
		p += 2;
		len -= 2;
	}
	if (len == 1) {
		s += p[0]; /* the low byte of a little-endian word */
		s += s < p[0];
	}
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = ((s & 0xff) << 8) | (s >> 8);
#else
	while (len >= 2) {
		s += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len == 1)
		s += (uint32_t)(p[0] << 8);
#endif
	s += sum;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

uint32_t
pkt_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
	       proto + len;
}

size_t
pkt_build_udp4(
    uint8_t *buf, size_t cap, const struct pkt_udp4_addr *a, size_t payload_len)
{
	struct pkt_eth eth;
	struct pkt_ipv4 ip;
	struct pkt_udp udp;
	size_t udp_len = sizeof(udp) + payload_len;
	size_t ip_len = sizeof(ip) + udp_len;
	uint16_t csum;

	if (payload_len > cap || cap - payload_len < PKT_UDP4_HLEN ||
	    ip_len > 65535)
		return 0;

	memcpy(eth.dst, a->dst_mac, PKT_ETH_ALEN);
	memcpy(eth.src, a->src_mac, PKT_ETH_ALEN);
	eth.type = htons(PKT_ETHERTYPE_IPV4);

	memset(&ip, 0, sizeof(ip));
	ip.ver_ihl = 0x45;
	ip.tot_len = htons((uint16_t)ip_len);
	ip.ttl = 64;
	ip.proto = PKT_IPPROTO_UDP;
	ip.src = htonl(a->src_ip);
	ip.dst = htonl(a->dst_ip);
	ip.csum = pkt_csum(&ip, sizeof(ip), 0);

	udp.sport = htons(a->sport);
	udp.dport = htons(a->dport);
	udp.len = htons((uint16_t)udp_len);
	udp.csum = 0;

	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + sizeof(eth), &ip, sizeof(ip));
	memcpy(buf + sizeof(eth) + sizeof(ip), &udp, sizeof(udp));
	csum = pkt_csum(buf + sizeof(eth) + sizeof(ip), udp_len,
	    pkt_pseudo_sum(
	        a->src_ip, a->dst_ip, PKT_IPPROTO_UDP, (uint16_t)udp_len));
	if (csum == 0)
		csum = 0xffff;
	memcpy(buf + sizeof(eth) + sizeof(ip) + offsetof(struct pkt_udp, csum),
	    &csum, sizeof(csum));
	return PKT_UDP4_HLEN + payload_len;
}

/* Builds an ARP frame field by field: no struct overlay on buf. */
size_t
pkt_build_arp(uint8_t *buf, size_t cap, const struct pkt_arp_fields *f)
{
	struct pkt_eth eth;
	struct pkt_arp arp;
	uint32_t spa = htonl(f->spa), tpa = htonl(f->tpa);

	if (cap < PKT_ARP_FRAME_LEN)
		return 0;
	memcpy(eth.dst, f->dst_mac, PKT_ETH_ALEN);
	memcpy(eth.src, f->sha, PKT_ETH_ALEN);
	eth.type = htons(PKT_ETHERTYPE_ARP);

	arp.htype = htons(1); /* Ethernet */
	arp.ptype = htons(PKT_ETHERTYPE_IPV4);
	arp.hlen = PKT_ETH_ALEN;
	arp.plen = 4;
	arp.op = htons(f->op);
	memcpy(arp.sha, f->sha, PKT_ETH_ALEN);
	memcpy(arp.spa, &spa, sizeof(spa));
	memcpy(arp.tha, f->tha, PKT_ETH_ALEN);
	memcpy(arp.tpa, &tpa, sizeof(tpa));

	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + sizeof(eth), &arp, sizeof(arp));
	return PKT_ARP_FRAME_LEN;
}
