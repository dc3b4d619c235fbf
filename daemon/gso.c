/*
 * Theory of operation: offload-capable ports (TAPs opened with
 * IFF_VNET_HDR) exchange GSO superframes of up to 64 KiB with a
 * virtio-net header saying how to cut them and which checksum is pending.
 * The switch moves such a superframe as one unit (one filter decision, one
 * write) wherever the destination can take it, and calls in here only when
 * it cannot: gso_segment cuts it into ordinary frames, gso_complete_csum
 * finishes a pending checksum. A header from a VM is never believed before
 * gso_validate has matched it against the frame's own headers, so it cannot
 * point the checksum or the cut anywhere the frame does not have TCP/UDP.
 */
#include <arpa/inet.h>
#include <string.h>

#include "gso.h"

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6

/* What every segment of one superframe shares. */
struct seg_job {
	uint32_t src, dst; /* IPv4 addresses, host order */
	uint32_t seq;      /* TCP: the superframe's first sequence number */
	size_t payload;    /* L4 payload bytes in the superframe */
};

bool
gso_validate(const struct pkt_vnet *hdr, const struct pkt_info *pi)
{
	uint8_t gso = hdr->gso_type & (uint8_t)~PKT_VNET_GSO_ECN;
	bool needs = (hdr->flags & PKT_VNET_F_NEEDS_CSUM) != 0;
	size_t l4_off, l4h;

	if ((hdr->flags & ~(PKT_VNET_F_NEEDS_CSUM | PKT_VNET_F_DATA_VALID)) !=
	    0)
		return false;
	if (gso == PKT_VNET_GSO_NONE && hdr->gso_type != PKT_VNET_GSO_NONE)
		return false; /* ECN without GSO */
	if (gso == PKT_VNET_GSO_NONE && !needs)
		return true;
	/* Everything below trusts a checksum or a cut: headers must match. */
	if (pi->eth == NULL || pi->tagged || pi->ip == NULL ||
	    pi->malformed != PKT_OK || pi->ip_later_fragment || !pi->has_ports)
		return false;
	l4_off = (size_t)(pi->l4 - pi->frame);
	if (hdr->csum_start != l4_off)
		return false;
	if (pi->ip_proto == PKT_IPPROTO_TCP) {
		if (hdr->csum_offset != TCP_CSUM_OFF ||
		    (gso != PKT_VNET_GSO_NONE && gso != PKT_VNET_GSO_TCPV4))
			return false;
		l4h = (size_t)(pi->l4[12] >> 4) * 4;
	} else if (pi->ip_proto == PKT_IPPROTO_UDP) {
		/* UDP segmentation (USO) carries no ECN bit. */
		if (hdr->csum_offset != UDP_CSUM_OFF ||
		    (gso != PKT_VNET_GSO_NONE &&
		        hdr->gso_type != PKT_VNET_GSO_UDP_L4))
			return false;
		l4h = sizeof(struct pkt_udp);
	} else {
		return false;
	}
	if (gso == PKT_VNET_GSO_NONE)
		return true;
	/* GSO: a whole, unfragmented packet with payload to cut. */
	if (!needs ||
	    (pkt_get_be16((const uint8_t *)&pi->ip->frag_off) & PKT_IP_MF))
		return false;
	if (hdr->gso_size == 0 || hdr->hdr_len > pi->len || pi->l4_len <= l4h)
		return false;
	/* Linux refuses a UDP superframe of more segments than this. */
	if (gso == PKT_VNET_GSO_UDP_L4 &&
	    (pi->l4_len - l4h + hdr->gso_size - 1) / hdr->gso_size >
	        GSO_UDP_MAX_SEGS)
		return false;
	return true;
}

/* The IPv4 header length and total length of a validated frame. */
static int
ip_lengths(const uint8_t *frame, size_t len, size_t *ihl, size_t *tot)
{
	if (len < PKT_ETH_HLEN + sizeof(struct pkt_ipv4))
		return -1;
	*ihl = (size_t)(frame[PKT_ETH_HLEN] & 0x0f) * 4;
	*tot = pkt_get_be16(frame + PKT_ETH_HLEN + 2);
	if (*ihl < sizeof(struct pkt_ipv4) || *tot < *ihl ||
	    PKT_ETH_HLEN + *tot > len)
		return -1;
	return 0;
}

int
gso_complete_csum(uint8_t *frame, size_t len, const struct pkt_vnet *hdr)
{
	size_t ihl, tot, l4len;
	uint16_t sum;

	if ((hdr->flags & PKT_VNET_F_NEEDS_CSUM) == 0)
		return 0;
	if (ip_lengths(frame, len, &ihl, &tot) == -1 ||
	    hdr->csum_start != PKT_ETH_HLEN + ihl)
		return -1;
	l4len = tot - ihl;
	if ((size_t)hdr->csum_offset + 2 > l4len)
		return -1;
	/* The field holds the pseudo-header sum; fold the rest into it. */
	sum = pkt_csum(frame + hdr->csum_start, l4len, 0);
	if (sum == 0 && hdr->csum_offset == UDP_CSUM_OFF)
		sum = 0xffff;
	memcpy(frame + hdr->csum_start + hdr->csum_offset, &sum, 2);
	return 0;
}

/* Rewrites the TCP header of segment n (payload bytes off..off+plen). */
static void
tcp_segment(uint8_t *tcp, size_t thl, size_t plen, const struct seg_job *j,
    size_t off, int n)
{
	uint16_t sum;

	pkt_put_be16(tcp + 4, (uint16_t)((j->seq + off) >> 16));
	pkt_put_be16(tcp + 6, (uint16_t)(j->seq + off));
	if (off + plen < j->payload)
		tcp[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
	if (n > 0)
		tcp[13] &= (uint8_t)~TCP_CWR;
	memset(tcp + TCP_CSUM_OFF, 0, 2);
	sum = pkt_csum(tcp, thl + plen,
	    pkt_pseudo_sum(
	        j->src, j->dst, PKT_IPPROTO_TCP, (uint16_t)(thl + plen)));
	memcpy(tcp + TCP_CSUM_OFF, &sum, 2);
}

/* Rewrites the UDP header of one segment: a datagram of its own. */
static void
udp_segment(uint8_t *udp, size_t plen, const struct seg_job *j)
{
	uint16_t ulen = (uint16_t)(sizeof(struct pkt_udp) + plen), sum;

	pkt_put_be16(udp + 4, ulen);
	memset(udp + UDP_CSUM_OFF, 0, 2);
	sum = pkt_csum(
	    udp, ulen, pkt_pseudo_sum(j->src, j->dst, PKT_IPPROTO_UDP, ulen));
	if (sum == 0)
		sum = 0xffff; /* 0 would mean "no checksum" */
	memcpy(udp + UDP_CSUM_OFF, &sum, 2);
}

int
gso_segment(const uint8_t *frame, size_t len, const struct pkt_vnet *hdr,
    struct gso_out *out)
{
	const uint8_t *ip = frame + PKT_ETH_HLEN;
	bool udp =
	    (hdr->gso_type & (uint8_t)~PKT_VNET_GSO_ECN) == PKT_VNET_GSO_UDP_L4;
	struct seg_job j = {0};
	size_t ihl, tot, l4h, hdrs, mss = hdr->gso_size, off, plen, used = 0;
	uint16_t id, sum;
	uint8_t *seg, *sip;
	int n = 0;

	if (ip_lengths(frame, len, &ihl, &tot) == -1 || mss == 0)
		return -1;
	if (udp) {
		l4h = sizeof(struct pkt_udp);
		if (tot < ihl + l4h)
			return -1;
	} else {
		if (tot < ihl + sizeof(struct pkt_tcp))
			return -1;
		l4h = (size_t)(ip[ihl + 12] >> 4) * 4;
		if (l4h < sizeof(struct pkt_tcp) || ihl + l4h > tot)
			return -1;
		j.seq = pkt_get_be32(ip + ihl + 4);
	}
	hdrs = PKT_ETH_HLEN + ihl + l4h;
	j.payload = tot - ihl - l4h;
	id = pkt_get_be16(ip + 4);
	j.src = pkt_get_be32(ip + 12);
	j.dst = pkt_get_be32(ip + 16);
	for (off = 0; off < j.payload || (j.payload == 0 && n == 0);
	     off += mss) {
		plen = j.payload - off < mss ? j.payload - off : mss;
		if ((size_t)n == out->max || out->cap - used < hdrs + plen)
			return -1;
		seg = out->buf + used;
		memcpy(seg, frame, hdrs);
		memcpy(seg + hdrs, frame + hdrs + off, plen);
		sip = seg + PKT_ETH_HLEN;
		pkt_put_be16(sip + 2, (uint16_t)(ihl + l4h + plen));
		pkt_put_be16(sip + 4, (uint16_t)(id + n));
		memset(sip + 10, 0, 2);
		sum = pkt_csum(sip, ihl, 0);
		memcpy(sip + 10, &sum, 2);
		if (udp)
			udp_segment(sip + ihl, plen, &j);
		else
			tcp_segment(sip + ihl, l4h, plen, &j, off, n);
		out->seg[n] = seg;
		out->len[n] = hdrs + plen;
		used += hdrs + plen;
		n++;
		if (j.payload == 0)
			break;
	}
	return n;
}

/* The TCP/IPv4 header fields coalescing compares, or false if not one. */
struct tcp4_view {
	size_t thl;     /* TCP header length */
	size_t payload; /* TCP payload bytes */
	uint32_t seq;
	uint8_t flags;
};

/* Views a plain, option-free IPv4 TCP frame that coalescing may touch. */
static bool
tcp4_view(const uint8_t *f, size_t len, struct tcp4_view *v)
{
	const uint8_t *ip = f + PKT_ETH_HLEN, *tcp = ip + 20;
	size_t tot;

	if (len < PKT_ETH_HLEN + 40 ||
	    pkt_get_be16(f + 12) != PKT_ETHERTYPE_IPV4 || ip[0] != 0x45 ||
	    ip[9] != PKT_IPPROTO_TCP ||
	    (pkt_get_be16(ip + 6) & (PKT_IP_MF | PKT_IP_OFFSET)) != 0)
		return false;
	tot = pkt_get_be16(ip + 2);
	v->thl = (size_t)(tcp[12] >> 4) * 4;
	if (tot + PKT_ETH_HLEN > len || v->thl < 20 || 20 + v->thl > tot)
		return false;
	v->payload = tot - 20 - v->thl;
	v->seq = pkt_get_be32(tcp + 4);
	v->flags = tcp[13];
	return true;
}

bool
gso_coalesce(uint8_t *a, size_t *alen, size_t acap, struct pkt_vnet *av,
    const uint8_t *b, size_t blen)
{
	uint8_t *aip = a + PKT_ETH_HLEN, *atcp = aip + 20;
	const uint8_t *bip = b + PKT_ETH_HLEN, *btcp = bip + 20;
	struct tcp4_view va, vb;
	size_t mss, hdrs, tot;
	uint32_t sum, src, dst;
	uint16_t c;

	if (!tcp4_view(a, *alen, &va) || !tcp4_view(b, blen, &vb))
		return false;
	mss = av->gso_type == PKT_VNET_GSO_NONE ? va.payload : av->gso_size;
	hdrs = PKT_ETH_HLEN + 20 + va.thl;
	/* A plain a must itself be plain; a superframe must be ours. */
	if ((av->gso_type == PKT_VNET_GSO_NONE && av->flags != 0) ||
	    (av->gso_type != PKT_VNET_GSO_NONE &&
	        av->gso_type != PKT_VNET_GSO_TCPV4))
		return false;
	if (va.payload == 0 || vb.payload == 0 || vb.payload > mss ||
	    va.payload % mss != 0 || va.flags != 0x10 ||
	    (vb.flags != 0x10 && vb.flags != 0x18) || va.thl != vb.thl ||
	    vb.seq != va.seq + (uint32_t)va.payload)
		return false;
	/* Same Ethernet header, IP addresses, TOS and TTL; same ack, window,
	 * urgent pointer and options. */
	if (memcmp(a, b, PKT_ETH_HLEN) != 0 || aip[1] != bip[1] ||
	    aip[8] != bip[8] || memcmp(aip + 12, bip + 12, 8) != 0 ||
	    memcmp(atcp, btcp, 4) != 0 || memcmp(atcp + 8, btcp + 8, 4) != 0 ||
	    memcmp(atcp + 14, btcp + 14, 2) != 0 ||
	    memcmp(atcp + 18, btcp + 18, va.thl - 18) != 0)
		return false;
	tot = 20 + va.thl + va.payload + vb.payload;
	if (tot > 65535 || PKT_ETH_HLEN + tot > acap)
		return false;
	memcpy(a + hdrs + va.payload, b + hdrs, vb.payload);
	*alen = PKT_ETH_HLEN + tot;
	atcp[13] = vb.flags; /* PSH, if b has it, ends the run */
	pkt_put_be16(aip + 2, (uint16_t)tot);
	memset(aip + 10, 0, 2);
	c = pkt_csum(aip, 20, 0);
	memcpy(aip + 10, &c, 2);
	/* The TCP checksum is left to the device: the pseudo-header sum. */
	src = pkt_get_be32(aip + 12);
	dst = pkt_get_be32(aip + 16);
	sum = pkt_pseudo_sum(src, dst, PKT_IPPROTO_TCP, (uint16_t)(tot - 20));
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	pkt_put_be16(atcp + 16, (uint16_t)sum);
	av->flags = PKT_VNET_F_NEEDS_CSUM;
	av->gso_type = PKT_VNET_GSO_TCPV4;
	av->gso_size = (uint16_t)mss;
	av->hdr_len = (uint16_t)hdrs;
	av->csum_start = PKT_ETH_HLEN + 20;
	av->csum_offset = TCP_CSUM_OFF;
	return true;
}
