/*
 * Packet structures and the bounds-checked cursor every parser in softnet
 * reads frames through. Wire structs are packed and in network byte order;
 * parsed values (struct pkt_info) are in host byte order.
 *
 * Frames are untrusted: nothing is read from a frame except through
 * pkt_pull(), which returns NULL when fewer bytes are left than asked for.
 */
#ifndef SOFTNET_PKT_H
#define SOFTNET_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_PACKED __attribute__((packed))

#define PKT_ETH_ALEN 6
#define PKT_ETH_HLEN 14
/* Largest frame a VM may send or receive: 64 KiB GSO superframe + header. */
#define PKT_MAX_FRAME (65535 + PKT_ETH_HLEN)

#define PKT_ETHERTYPE_IPV4 0x0800
#define PKT_ETHERTYPE_ARP  0x0806
#define PKT_ETHERTYPE_VLAN 0x8100
#define PKT_ETHERTYPE_QINQ 0x88a8
#define PKT_ETHERTYPE_IPV6 0x86dd

#define PKT_ARP_REQUEST 1
#define PKT_ARP_REPLY   2

#define PKT_IPPROTO_ICMP 1
#define PKT_IPPROTO_TCP  6
#define PKT_IPPROTO_UDP  17

#define PKT_IP_DF     0x4000
#define PKT_IP_MF     0x2000
#define PKT_IP_OFFSET 0x1fff

#define PKT_PORT_DNS         53
#define PKT_PORT_DHCP_SERVER 67
#define PKT_PORT_DHCP_CLIENT 68

/* Ethernet II header. */
struct pkt_eth {
	uint8_t dst[PKT_ETH_ALEN]; /* destination MAC */
	uint8_t src[PKT_ETH_ALEN]; /* source MAC */
	uint16_t type;             /* ethertype (or 802.1Q TPID) */
} PKT_PACKED;

/* ARP for Ethernet/IPv4 (RFC 826); other hardware/protocols are refused. */
struct pkt_arp {
	uint16_t htype;            /* 1: Ethernet */
	uint16_t ptype;            /* 0x0800: IPv4 */
	uint8_t hlen;              /* 6 */
	uint8_t plen;              /* 4 */
	uint16_t op;               /* 1 request, 2 reply */
	uint8_t sha[PKT_ETH_ALEN]; /* sender MAC */
	uint8_t spa[4];            /* sender IPv4 */
	uint8_t tha[PKT_ETH_ALEN]; /* target MAC */
	uint8_t tpa[4];            /* target IPv4 */
} PKT_PACKED;

/* IPv4 header without options (RFC 791). */
struct pkt_ipv4 {
	uint8_t ver_ihl;   /* version (4) << 4 | header length in words */
	uint8_t tos;       /* DSCP/ECN */
	uint16_t tot_len;  /* header + payload bytes */
	uint16_t id;       /* fragment identification */
	uint16_t frag_off; /* flags (DF, MF) and offset in 8-byte units */
	uint8_t ttl;       /* hop limit */
	uint8_t proto;     /* next protocol */
	uint16_t csum;     /* header checksum */
	uint32_t src;      /* source address */
	uint32_t dst;      /* destination address */
} PKT_PACKED;

/* UDP header (RFC 768). */
struct pkt_udp {
	uint16_t sport; /* source port */
	uint16_t dport; /* destination port */
	uint16_t len;   /* header + payload bytes */
	uint16_t csum;  /* checksum over pseudo-header, 0 = none */
} PKT_PACKED;

/* TCP header without options (RFC 9293). */
struct pkt_tcp {
	uint16_t sport; /* source port */
	uint16_t dport; /* destination port */
	uint32_t seq;   /* sequence number */
	uint32_t ack;   /* acknowledgment number */
	uint8_t off;    /* data offset in words << 4 */
	uint8_t flags;  /* CWR ECE URG ACK PSH RST SYN FIN */
	uint16_t win;   /* window */
	uint16_t csum;  /* checksum */
	uint16_t urg;   /* urgent pointer */
} PKT_PACKED;

/*
 * The virtio-net header (virtio 1.x, legacy layout, host byte order as the
 * Linux TAP driver uses it) that rides in front of a frame on offload
 * capable ports. It describes a GSO superframe or a frame whose L4
 * checksum is still to be computed; it comes from a VM, so it is
 * validated (gso_validate) before anything relies on it.
 */
struct pkt_vnet {
	uint8_t flags;        /* PKT_VNET_F_* */
	uint8_t gso_type;     /* PKT_VNET_GSO_* (| PKT_VNET_GSO_ECN) */
	uint16_t hdr_len;     /* Ethernet + IP + TCP header bytes */
	uint16_t gso_size;    /* payload bytes per segment */
	uint16_t csum_start;  /* where the L4 checksum starts */
	uint16_t csum_offset; /* where in L4 it is stored */
} PKT_PACKED;

#define PKT_VNET_F_NEEDS_CSUM 1
#define PKT_VNET_F_DATA_VALID 2
#define PKT_VNET_GSO_NONE     0
#define PKT_VNET_GSO_TCPV4    1
#define PKT_VNET_GSO_UDP      3
#define PKT_VNET_GSO_TCPV6    4
#define PKT_VNET_GSO_UDP_L4   5
#define PKT_VNET_GSO_ECN      0x80

/* A read position in an untrusted buffer. */
struct pkt_cur {
	const uint8_t *p; /* next unread byte */
	size_t left;      /* bytes left from p */
};

static inline void
pkt_cur_init(struct pkt_cur *c, const void *data, size_t len)
{
	c->p = (const uint8_t *)data;
	c->left = len;
}

/* Reads a big-endian 16-bit value from possibly unaligned memory. */
static inline uint16_t
pkt_get_be16(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;

	return (uint16_t)(b[0] << 8 | b[1]);
}

/* Reads a big-endian 32-bit value from possibly unaligned memory. */
static inline uint32_t
pkt_get_be32(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/* Writes a big-endian 16-bit value to possibly unaligned memory. */
static inline void
pkt_put_be16(void *p, uint16_t v)
{
	uint8_t *b = (uint8_t *)p;

	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* Returns the next n bytes and advances past them, or NULL when short. */
static inline const void *
pkt_pull(struct pkt_cur *c, size_t n)
{
	const uint8_t *p = c->p;

	if (n > c->left)
		return NULL;
	c->p += n;
	c->left -= n;
	return p;
}

/* Why pkt_parse could not go deeper; the layers above it are absent. */
enum pkt_malformed {
	PKT_OK = 0,
	PKT_BAD_ETH,  /* shorter than an Ethernet header */
	PKT_BAD_VLAN, /* truncated tag */
	PKT_BAD_ARP,  /* truncated ARP */
	PKT_BAD_IPV4, /* version, header length, total length or truncation */
	PKT_BAD_L4,   /* truncated TCP/UDP/ICMP header or bad UDP length */
};

/*
 * A frame parsed once; every decision on it reads this. Pointers point into
 * the frame and are NULL when that layer is absent or malformed.
 */
struct pkt_info {
	const uint8_t *frame;
	size_t len;
	const struct pkt_eth *eth;
	uint16_t ethertype; /* after any VLAN tags */
	bool tagged;        /* an 802.1Q/802.1ad tag was present */
	const struct pkt_arp *arp;
	const struct pkt_ipv4 *ip;
	uint32_t ip_src; /* host order */
	uint32_t ip_dst; /* host order */
	uint8_t ip_proto;
	bool ip_later_fragment;     /* fragment offset != 0: no L4 header */
	const uint8_t *l4;          /* L4 header (first fragment only) */
	size_t l4_len;              /* bytes from l4 to the IP packet's end */
	bool has_ports;             /* TCP or UDP header present */
	uint16_t sport, dport;      /* host order */
	const uint8_t *udp_payload; /* UDP only, bounded by the UDP length */
	size_t udp_payload_len;
	enum pkt_malformed malformed;
};

/* The ARP target protocol address, host order. */
static inline uint32_t
pkt_arp_tpa(const struct pkt_arp *a)
{
	return pkt_get_be32(a->tpa);
}

/* The ARP sender protocol address, host order. */
static inline uint32_t
pkt_arp_spa(const struct pkt_arp *a)
{
	return pkt_get_be32(a->spa);
}

/*
 * Parses Ethernet, one or two VLAN tags (only noted), ARP, IPv4, and the
 * first bytes of TCP/UDP/ICMP. Returns 0 when at least the Ethernet header
 * was present, -1 for a runt. Deeper problems are reported in malformed.
 */
int pkt_parse(const uint8_t *frame, size_t len, struct pkt_info *pi);

/* Internet checksum (RFC 1071) of data, starting from a partial sum. */
uint16_t pkt_csum(const void *data, size_t len, uint32_t sum);
/* Partial sum of the IPv4 pseudo-header (addresses host order). */
uint32_t pkt_pseudo_sum(
    uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

#define PKT_UDP4_HLEN                                                          \
	(PKT_ETH_HLEN + sizeof(struct pkt_ipv4) + sizeof(struct pkt_udp))

/* Addresses for a built UDP/IPv4 frame (IP host order). */
struct pkt_udp4_addr {
	uint8_t src_mac[PKT_ETH_ALEN];
	uint8_t dst_mac[PKT_ETH_ALEN];
	uint32_t src_ip, dst_ip;
	uint16_t sport, dport;
};

/*
 * Writes Ethernet/IPv4/UDP headers (with checksums) in front of a payload the
 * caller already placed at buf + PKT_UDP4_HLEN. Returns the frame length, or
 * 0 when cap cannot hold it.
 */
size_t pkt_build_udp4(uint8_t *buf, size_t cap, const struct pkt_udp4_addr *a,
    size_t payload_len);

/* An Ethernet/IPv4 ARP frame: no padding to the 60-byte minimum. */
#define PKT_ARP_FRAME_LEN (PKT_ETH_HLEN + sizeof(struct pkt_arp))

/* What a built ARP frame says (IP host order). */
struct pkt_arp_fields {
	uint16_t op;                   /* PKT_ARP_REQUEST or PKT_ARP_REPLY */
	uint8_t dst_mac[PKT_ETH_ALEN]; /* Ethernet destination */
	uint8_t sha[PKT_ETH_ALEN]; /* sender MAC, also the Ethernet source */
	uint32_t spa;              /* sender IPv4 */
	uint8_t tha[PKT_ETH_ALEN]; /* target MAC (zero in a request) */
	uint32_t tpa;              /* target IPv4 */
};

/*
 * Writes an Ethernet/IPv4 ARP frame into buf. Returns its length
 * (PKT_ARP_FRAME_LEN), or 0 when cap cannot hold it.
 */
size_t pkt_build_arp(uint8_t *buf, size_t cap, const struct pkt_arp_fields *f);

#endif
