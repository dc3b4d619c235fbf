/*
 * Theory of operation: the DHCP server (RFC 2131/2132) that answers, as the
 * gateway, the DHCP client messages the filter hands over from one VM port.
 * It owns no state: addresses live in the lease database, the caller owns
 * the reply buffer and the port, and this module turns one client message
 * into at most one lease-changing database call (plus the recording of
 * the client's id and domain on an ACK) and at most one reply frame.
 *
 * Invariants:
 * - The client message is untrusted. It is read only through a pkt_cur:
 *   the fixed BOOTP header, the magic cookie, then an option walk bounded by
 *   the end of the UDP payload in which every option's length must fit.
 *   A known option of a wrong length is ignored and counted, the rest of
 *   the message served; only an option running past the
 *   packet, or no valid type (53), drops the message. Option overload (52)
 *   is not supported: sname and file are never read as options.
 * - The lease database decides addresses and the port follows it: after
 *   any REQUEST, DECLINE or RELEASE, settle() reads the VM's row back and
 *   the result carries that binding, so a NAK or a refusal can never leave
 *   the port without the address the database still gives the VM (nor
 *   the other way round). A REQUEST only confirms the address the VM's
 *   row names (RFC 2131 4.3.2).
 * - A VM speaks only for itself: chaddr must be the port's MAC, so one VM
 *   cannot drain the pool with invented MACs, and giaddr must be 0 (there
 *   is no relay on a VM port).
 * - The reply is composed before the lease database is touched, so a reply
 *   that cannot fit in the caller's buffer changes nothing; every append is
 *   checked against the space left and nothing is written past cap.
 * - The reply goes only to this VM's port, so broadcast replies (RFC 2131
 *   4.1) reach no one else.
 * - Nothing is allocated per message; nothing a VM sends can abort.
 * - Tenancy limits ride in the config (per call): an owner's lease quota
 *   refuses a new address to a VM whose uid already holds its share (a
 *   DISCOVER gets no OFFER, a REQUEST a NAK), a VM's quarantine share
 *   bounds what its DECLINEs take out of service, and the VM's message
 *   bucket (4/s, burst 8) is taken once a message is well formed and the
 *   VM's own, before any database work.
 */
#include <arpa/inet.h>
#include <string.h>

#include "dhcp.h"
#include "log.h"

#define DHCP_MAGIC       0x63825363 /* 99.130.83.99 */
#define DHCP_BOOTREQUEST 1
#define DHCP_BOOTREPLY   2
#define DHCP_HTYPE_ETHER 1
#define DHCP_FLAG_BCAST  0x8000
#define DHCP_MIN_LEN     300  /* BOOTP minimum message (RFC 951/1542) */
#define DHCP_MIN_MTU     68   /* smallest legal option 26 (RFC 2132 5.1) */
#define DHCP_MIN_MSG     576  /* IP datagram every client takes (RFC 2131 2) */
#define DHCP_FQDN_E      0x04 /* option 81 flag: name in DNS wire form */

/* Option codes (RFC 2132) used here. */
enum dhcp_opt {
	OPT_PAD = 0,
	OPT_SUBNET_MASK = 1,
	OPT_ROUTER = 3,
	OPT_DNS = 6,
	OPT_HOSTNAME = 12,
	OPT_DOMAIN = 15,
	OPT_MTU = 26,
	OPT_BROADCAST = 28,
	OPT_REQUESTED_IP = 50,
	OPT_LEASE_TIME = 51,
	OPT_MSG_TYPE = 53,
	OPT_SERVER_ID = 54,
	OPT_PRL = 55,
	OPT_MESSAGE = 56,
	OPT_MAX_SIZE = 57,
	OPT_T1 = 58,
	OPT_T2 = 59,
	OPT_CLIENT_ID = 61, /* RFC 2132 9.14, echoed per RFC 6842 */
	OPT_FQDN = 81,      /* RFC 4702 */
	OPT_SEARCH = 119,   /* RFC 3397 */
	OPT_ROUTES = 121,   /* RFC 3442 */
	OPT_END = 255,
};

/* The fixed BOOTP header (RFC 2131 2, figure 1), network order. */
struct dhcp_hdr {
	uint8_t op;         /* 1 BOOTREQUEST, 2 BOOTREPLY */
	uint8_t htype;      /* hardware type, 1: Ethernet */
	uint8_t hlen;       /* hardware address length, 6 */
	uint8_t hops;       /* relay hops, 0 from a client */
	uint32_t xid;       /* transaction id chosen by the client */
	uint16_t secs;      /* seconds since the client began */
	uint16_t flags;     /* 0x8000: reply by broadcast */
	uint32_t ciaddr;    /* client's address when it already has one */
	uint32_t yiaddr;    /* "your" address, set by the server */
	uint32_t siaddr;    /* next server (boot), unused here */
	uint32_t giaddr;    /* relay agent, must be 0 on a VM port */
	uint8_t chaddr[16]; /* client hardware address, hlen bytes used */
	uint8_t sname[64];  /* server host name, ignored (no overload) */
	uint8_t file[128];  /* boot file name, ignored (no overload) */
} PKT_PACKED;

_Static_assert(sizeof(struct dhcp_hdr) == 236, "BOOTP header is 236 bytes");

/* A reply under construction: the BOOTP payload inside the caller's buffer. */
struct dhcp_out {
	uint8_t *p; /* payload start (out + PKT_UDP4_HLEN) */
	size_t cap; /* payload bytes available */
	size_t len; /* payload bytes written */
	size_t max; /* payload bytes the client takes (576 or option 57) */
	bool full;  /* an append did not fit: no reply */
};

/* The per-uid lease quota in force; see dhcp.h. */
unsigned
dhcp_lease_quota(
    unsigned configured, uint32_t pool_start, uint32_t pool_end, uint32_t gw)
{
	uint64_t size, q;

	if (configured != 0)
		return configured;
	if (pool_end < pool_start)
		return 1;
	size = (uint64_t)pool_end - pool_start + 1;
	if (gw >= pool_start && gw <= pool_end)
		size--;
	q = size - size / 4;
	if (q == 0)
		q = 1;
	return q > UINT32_MAX ? UINT32_MAX : (unsigned)q;
}

/* Copies a client string keeping [A-Za-z0-9._-], other bytes become '_'. */
void
dhcp_sanitize(char *dst, size_t dstlen, const uint8_t *src, size_t srclen)
{
	size_t i;
	uint8_t c;

	if (dst == NULL || dstlen == 0)
		return;
	for (i = 0; i < srclen && i < dstlen - 1 && src != NULL; i++) {
		c = src[i];
		if (c == '\0')
			break;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
			dst[i] = (char)c;
		else
			dst[i] = '_';
	}
	dst[i] = '\0';
}

/*
 * Takes option 81 (RFC 4702 2): flags, two obsolete rcodes, then the name
 * in ASCII or (flag E) DNS wire form. Like dnsmasq, its first label stands
 * for the hostname when option 12 is absent; the rest is the domain. -1
 * when the name is malformed.
 */
static int
parse_fqdn(struct dhcp_msg *m, const uint8_t *v, uint8_t len)
{
	char name[DHCP_DOMAIN_LEN];
	const char *dot;
	size_t i, n = 0, lab;

	if (len < 3)
		return -1;
	if (v[0] & DHCP_FQDN_E) {
		/* Labels until the root label or the end of the option. */
		for (i = 3; i < len && v[i] != 0; i += 1 + lab) {
			lab = v[i];
			if (lab > 63 || i + 1 + lab > len ||
			    n + lab + 1 >= sizeof(name))
				return -1;
			if (n > 0)
				name[n++] = '.';
			memcpy(name + n, v + i + 1, lab);
			n += lab;
		}
		name[n] = '\0';
		dhcp_sanitize(m->fqdn_domain, sizeof(m->fqdn_domain),
		    (const uint8_t *)name, n);
	} else
		dhcp_sanitize(m->fqdn_domain, sizeof(m->fqdn_domain), v + 3,
		    (size_t)len - 3);
	dot = strchr(m->fqdn_domain, '.');
	n = dot != NULL ? (size_t)(dot - m->fqdn_domain)
	                : strlen(m->fqdn_domain);
	if (n >= sizeof(m->fqdn_host))
		n = sizeof(m->fqdn_host) - 1;
	memcpy(m->fqdn_host, m->fqdn_domain, n);
	m->fqdn_host[n] = '\0';
	if (dot != NULL)
		memmove(m->fqdn_domain, dot + 1, strlen(dot + 1) + 1);
	else
		m->fqdn_domain[0] = '\0';
	/* A trailing dot (a fully qualified ASCII name) is not part of it. */
	n = strlen(m->fqdn_domain);
	if (n > 0 && m->fqdn_domain[n - 1] == '.')
		m->fqdn_domain[n - 1] = '\0';
	return 0;
}

/*
 * Takes one option whose length the walk has already bounded; -1 when a
 * known option has a length (or content) it cannot have.
 */
static int
parse_opt(struct dhcp_msg *m, uint8_t code, const uint8_t *v, uint8_t len)
{
	uint8_t i;

	switch (code) {
	case OPT_MSG_TYPE:
		if (len != 1 || v[0] < DHCP_DISCOVER || v[0] > DHCP_INFORM)
			return -1;
		m->type = (enum dhcp_type)v[0];
		break;
	case OPT_REQUESTED_IP:
		if (len != 4)
			return -1;
		m->has_requested_ip = true;
		m->requested_ip = pkt_get_be32(v);
		break;
	case OPT_SERVER_ID:
		if (len != 4)
			return -1;
		m->has_server_id = true;
		m->server_id = pkt_get_be32(v);
		break;
	case OPT_MAX_SIZE:
		if (len != 2)
			return -1;
		m->max_size = pkt_get_be16(v);
		break;
	case OPT_HOSTNAME:
		if (len < 1)
			return -1;
		dhcp_sanitize(m->hostname, sizeof(m->hostname), v, len);
		break;
	case OPT_CLIENT_ID:
		/* RFC 2132 9.14: a type octet and at least one more. */
		if (len < 2)
			return -1;
		if (len <= DHCP_CLIENT_ID_MAX) {
			memcpy(m->client_id, v, len);
			m->client_id_len = len;
		}
		break;
	case OPT_FQDN:
		m->fqdn_host[0] = m->fqdn_domain[0] = '\0';
		if (parse_fqdn(m, v, len) == -1) {
			m->fqdn_host[0] = m->fqdn_domain[0] = '\0';
			return -1;
		}
		break;
	case OPT_PRL:
		for (i = 0; i < len; i++)
			m->prl[v[i] / 8] |= (uint8_t)(1u << (v[i] % 8));
		break;
	default:
		/* Unknown, or known and unused (52 overload among them). */
		break;
	}
	return 0;
}

/* Whether the client listed code in its parameter request list (55). */
static bool
requested(const struct dhcp_msg *m, uint8_t code)
{
	return (m->prl[code / 8] >> (code % 8)) & 1;
}

/* Parses a BOOTREQUEST and its options; see dhcp.h. */
int
dhcp_parse(const uint8_t *p, size_t len, struct dhcp_msg *m)
{
	const struct dhcp_hdr *h;
	const uint8_t *code, *olen, *val, *cookie;
	struct pkt_cur c;

	if (m == NULL)
		return -1;
	memset(m, 0, sizeof(*m));
	if (p == NULL)
		return -1;
	pkt_cur_init(&c, p, len);
	if ((h = pkt_pull(&c, sizeof(*h))) == NULL ||
	    (cookie = pkt_pull(&c, 4)) == NULL)
		return -1;
	if (h->op != DHCP_BOOTREQUEST || h->htype != DHCP_HTYPE_ETHER ||
	    h->hlen != PKT_ETH_ALEN || pkt_get_be32(cookie) != DHCP_MAGIC)
		return -1;

	m->op = h->op;
	m->htype = h->htype;
	m->hlen = h->hlen;
	memcpy(&m->xid, &h->xid, sizeof(m->xid));
	m->flags = pkt_get_be16(&h->flags);
	m->ciaddr = pkt_get_be32(&h->ciaddr);
	m->yiaddr = pkt_get_be32(&h->yiaddr);
	m->siaddr = pkt_get_be32(&h->siaddr);
	m->giaddr = pkt_get_be32(&h->giaddr);
	memcpy(m->chaddr, h->chaddr, sizeof(m->chaddr));

	/* The end of the packet ends the walk as 255 does. */
	while ((code = pkt_pull(&c, 1)) != NULL) {
		if (*code == OPT_PAD)
			continue;
		if (*code == OPT_END)
			break;
		if ((olen = pkt_pull(&c, 1)) == NULL ||
		    (val = pkt_pull(&c, *olen)) == NULL)
			return -1;
		/*
		 * One bad option costs that option, not the message (a
		 * zero-length hostname, a 3-byte option 50 from a buggy
		 * client); the caller counts it. Only a message without a
		 * valid type (53) is dropped, below.
		 */
		if (parse_opt(m, *code, val, *olen) == -1)
			m->bad_options++;
	}
	return 0;
}

/* Appends n bytes if they fit; otherwise marks the reply as not fitting. */
static void
out_put(struct dhcp_out *o, const void *data, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, data, n);
	o->len += n;
}

/* Appends one option (code, length, value), or nothing if it cannot fit. */
static void
out_opt(struct dhcp_out *o, uint8_t code, const void *val, size_t n)
{
	uint8_t tl[2];

	if (o->full || n > 255 || 2 + n > o->cap - o->len) {
		o->full = true;
		return;
	}
	tl[0] = code;
	tl[1] = (uint8_t)n;
	out_put(o, tl, sizeof(tl));
	out_put(o, val, n);
}

/*
 * Appends an option the reply can do without (a name, routes) only if it
 * still leaves room for the end option; otherwise leaves it out.
 */
static void
out_opt_soft(struct dhcp_out *o, uint8_t code, const void *val, size_t n)
{
	if (o->full || n > 255 || o->len > o->max ||
	    2 + n + 1 > o->max - o->len) {
		log_debug("%s: option %u left out: no room", __func__, code);
		return;
	}
	out_opt(o, code, val, n);
}

/* Appends a 32-bit option, the value given in host order. */
static void
out_opt32(struct dhcp_out *o, uint8_t code, uint32_t v)
{
	uint32_t be = htonl(v);

	out_opt(o, code, &be, sizeof(be));
}

/* The fixed BOOTREPLY header for m and the magic cookie. */
static void
put_header(struct dhcp_out *o, const struct dhcp_msg *m, enum dhcp_type type,
    uint32_t yiaddr)
{
	struct dhcp_hdr h;
	uint32_t cookie = htonl(DHCP_MAGIC);

	memset(&h, 0, sizeof(h));
	h.op = DHCP_BOOTREPLY;
	h.htype = DHCP_HTYPE_ETHER;
	h.hlen = PKT_ETH_ALEN;
	h.xid = m->xid;
	h.flags = htons(m->flags);
	/* RFC 2131 table 3: ciaddr only in an ACK; no yiaddr in a NAK. */
	if (type == DHCP_ACK)
		h.ciaddr = htonl(m->ciaddr);
	if (type != DHCP_NAK)
		h.yiaddr = htonl(yiaddr);
	memcpy(h.chaddr, m->chaddr, PKT_ETH_ALEN);
	out_put(o, &h, sizeof(h));
	out_put(o, &cookie, sizeof(cookie));
}

/* What every reply says, NAKs too: its type, the server, the client. */
static void
put_identity(struct dhcp_out *o, const struct dhcp_config *cfg,
    const struct dhcp_msg *m, enum dhcp_type type, const char *msg)
{
	uint8_t t = (uint8_t)type;

	out_opt(o, OPT_MSG_TYPE, &t, 1);
	out_opt32(o, OPT_SERVER_ID, cfg->gateway);
	/* RFC 6842 3: every reply, NAKs too, carries the client's id. */
	if (m->client_id_len > 0)
		out_opt(o, OPT_CLIENT_ID, m->client_id, m->client_id_len);
	if (type == DHCP_NAK && msg != NULL)
		out_opt(o, OPT_MESSAGE, msg, strlen(msg));
}

/* The lease and the network: what a client needs to configure itself. */
static void
put_network(struct dhcp_out *o, const struct dhcp_config *cfg, uint32_t yiaddr)
{
	uint32_t dns[DHCP_MAX_DNS];
	uint16_t mtu;
	size_t i, n;

	/* An INFORM ACK carries no lease (RFC 2131 3.4). */
	if (yiaddr != 0) {
		out_opt32(o, OPT_LEASE_TIME, cfg->lease_time);
		out_opt32(o, OPT_T1, cfg->lease_time / 2);
		out_opt32(
		    o, OPT_T2, (uint32_t)((uint64_t)cfg->lease_time * 7 / 8));
	}
	out_opt32(o, OPT_SUBNET_MASK, cfg->netmask);
	out_opt32(o, OPT_ROUTER, cfg->gateway);
	n = cfg->ndns < DHCP_MAX_DNS ? cfg->ndns : DHCP_MAX_DNS;
	if (n > 0 && cfg->dns != NULL) {
		for (i = 0; i < n; i++)
			dns[i] = htonl(cfg->dns[i]);
		out_opt(o, OPT_DNS, dns, n * sizeof(dns[0]));
	}
	if (cfg->mtu >= DHCP_MIN_MTU) {
		mtu = htons(cfg->mtu);
		out_opt(o, OPT_MTU, &mtu, sizeof(mtu));
	}
	/*
	 * Every real client asks for 28, and the macOS client keeps
	 * collecting offers for a few seconds while one lacks an option it
	 * asked for (issue 14, measured with a model of Apple's bootp
	 * IPConfiguration client; not checked against its source here).
	 */
	out_opt32(o, OPT_BROADCAST, cfg->gateway | ~cfg->netmask);
}

/* The optional options, each left out when it would not fit. */
static void
put_extras(
    struct dhcp_out *o, const struct dhcp_config *cfg, const struct dhcp_msg *m)
{
	uint8_t routes[DHCP_OPT_MAX];
	size_t n;

	if (m->hostname[0] != '\0')
		out_opt_soft(o, OPT_HOSTNAME, m->hostname, strlen(m->hostname));
	if (cfg->domain != NULL && cfg->domain[0] != '\0')
		out_opt_soft(o, OPT_DOMAIN, cfg->domain, strlen(cfg->domain));
	/*
	 * RFC 3442: a client that takes 121 ignores the router option, so
	 * the default route rides in 121 too. 121 and 119 go only to a
	 * client that asked (option 55), as dnsmasq does: they are the long
	 * ones.
	 */
	if (cfg->routes_len > 0 && cfg->routes != NULL &&
	    cfg->routes_len <= sizeof(routes) && requested(m, OPT_ROUTES)) {
		memcpy(routes, cfg->routes, cfg->routes_len);
		n = cfg->routes_len;
		if (dhcp_encode_route(
		        0, 0, cfg->gateway, routes, sizeof(routes), &n) == 0)
			out_opt_soft(o, OPT_ROUTES, routes, n);
	}
	if (cfg->search_len > 0 && cfg->search != NULL &&
	    requested(m, OPT_SEARCH))
		out_opt_soft(o, OPT_SEARCH, cfg->search, cfg->search_len);
}

/* The end option, then zeros up to the BOOTP minimum length. */
static void
put_end(struct dhcp_out *o)
{
	uint8_t end = OPT_END;
	size_t n;

	out_put(o, &end, 1);
	if (!o->full && o->len < DHCP_MIN_LEN) {
		n = DHCP_MIN_LEN - o->len;
		if (n > o->cap - o->len)
			o->full = true;
		else {
			memset(o->p + o->len, 0, n);
			o->len += n;
		}
	}
}

/*
 * Writes the BOOTREPLY of the given type for m into o: header, cookie,
 * options, end, padding to the BOOTP minimum. o->max is what the client
 * takes (576 bytes of IP unless option 57 says more). The
 * options every reply needs come first and fit that bound in the worst
 * case (16 DNS servers, a 128-byte client id: 485 of 548 bytes); the
 * optional ones after them (hostname echo, domain, routes, search list)
 * are left out when they would not fit. msg: a NAK's reason (option 56).
 * 0, or -1 when it does not fit.
 */
static int
build_payload(const struct dhcp_config *cfg, const struct dhcp_msg *m,
    enum dhcp_type type, uint32_t yiaddr, const char *msg, struct dhcp_out *o)
{
	o->len = 0;
	o->full = false;
	put_header(o, m, type, yiaddr);
	put_identity(o, cfg, m, type, msg);
	if (type != DHCP_NAK) {
		put_network(o, cfg, yiaddr);
		put_extras(o, cfg, m);
	}
	put_end(o);
	return o->full ? -1 : 0;
}

/*
 * Puts the Ethernet/IPv4/UDP headers in front of the composed payload,
 * addressed per RFC 2131 4.1. Returns the frame length, 0 if it cannot fit.
 */
static size_t
build_frame(const struct dhcp_config *cfg, const struct dhcp_msg *m,
    enum dhcp_type type, uint32_t yiaddr, uint8_t *out, size_t cap,
    size_t payload_len)
{
	struct pkt_udp4_addr a;
	bool bcast;

	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, cfg->server_mac, PKT_ETH_ALEN);
	a.src_ip = cfg->gateway;
	a.sport = PKT_PORT_DHCP_SERVER;
	a.dport = PKT_PORT_DHCP_CLIENT;
	if (type == DHCP_NAK) {
		bcast = true;
	} else if (m->ciaddr != 0) {
		bcast = false;
		a.dst_ip = m->ciaddr;
	} else if ((m->flags & DHCP_FLAG_BCAST) || yiaddr == 0) {
		bcast = true;
	} else {
		bcast = false;
		a.dst_ip = yiaddr;
	}
	if (bcast) {
		memset(a.dst_mac, 0xff, PKT_ETH_ALEN);
		a.dst_ip = 0xffffffff;
	} else
		memcpy(a.dst_mac, m->chaddr, PKT_ETH_ALEN);
	return pkt_build_udp4(out, cap, &a, payload_len);
}

/*
 * Composes the reply in out and sends it through res: the one place a
 * reply leaves. 0 when it fits, -1 (res->reply_len 0) when it does not.
 */
static int
reply(const struct dhcp_config *cfg, const struct dhcp_msg *m,
    enum dhcp_type type, uint32_t yiaddr, const char *msg, uint8_t *out,
    size_t cap, struct dhcp_result *res)
{
	struct dhcp_out o;
	size_t max;

	res->reply_len = 0;
	if (out == NULL || cap < PKT_UDP4_HLEN)
		return -1;
	o.p = out + PKT_UDP4_HLEN;
	o.cap = cap - PKT_UDP4_HLEN;
	/* RFC 2132 9.10: option 57 may raise the 576 bytes, never lower. */
	max = m->max_size > DHCP_MIN_MSG ? m->max_size : DHCP_MIN_MSG;
	o.max = max - (PKT_UDP4_HLEN - PKT_ETH_HLEN);
	if (build_payload(cfg, m, type, yiaddr, msg, &o) == -1)
		return -1;
	res->reply_len = build_frame(cfg, m, type, yiaddr, out, cap, o.len);
	res->reply_type = type;
	return res->reply_len == 0 ? -1 : 0;
}

/*
 * Whether a reply of this type fits in cap, composed before the lease
 * database is touched so a reply that cannot be sent changes nothing. The
 * size of an OFFER or ACK does not depend on the (nonzero) address it
 * carries.
 */
static bool
reply_fits(const struct dhcp_config *cfg, const struct dhcp_msg *m,
    enum dhcp_type type, uint8_t *out, size_t cap)
{
	struct dhcp_result scratch;

	memset(&scratch, 0, sizeof(scratch));
	return reply(cfg, m, type, 1, NULL, out, cap, &scratch) == 0;
}

/*
 * Sends a NAK saying why (option 56): the client forgets its address and
 * starts over. The lease database is not touched: what the VM holds there
 * it still holds (settle() reports it), so a NAK never cuts off a VM whose
 * client keeps using its address.
 */
static int
nak(const struct dhcp_config *cfg, const struct dhcp_msg *m, uint8_t *out,
    size_t cap, struct dhcp_result *res, const char *why)
{
	log_debug("%s: %s", __func__, why);
	(void)reply(cfg, m, DHCP_NAK, 0, why, out, cap, res);
	return 0;
}

/*
 * The one place the port's binding is decided: reads mac's row back and
 * reports it in res, so that whatever this message did (or refused to
 * do), the port holds exactly what the lease database says. 0, or -1 on a
 * database error.
 */
static int
settle(struct leasedb *db, const uint8_t *mac, int64_t now,
    struct dhcp_result *res)
{
	struct lease l;
	int r;

	if ((r = leasedb_get(db, mac, &l)) == -1)
		return -1;
	res->bound =
	    r == 0 && l.state == LEASE_BOUND && l.expires > now && l.ip != 0;
	res->unbound = !res->bound;
	res->ip = res->bound ? l.ip : 0;
	res->expires = res->bound ? l.expires : 0;
	return 0;
}

/* Binds ip with the lease database and ACKs it, or NAKs a refusal. */
static int
ack(const struct dhcp_config *cfg, struct leasedb *db, const uint8_t *mac,
    const struct dhcp_msg *m, uint32_t ip, int64_t now, uint8_t *out,
    size_t cap, struct dhcp_result *res)
{
	const char *host;
	int r;

	/* A NAK is never larger than an ACK: one check covers both. */
	if (!reply_fits(cfg, m, DHCP_ACK, out, cap))
		return 0;
	/* An FQDN-only client (systemd-networkd) names itself in 81. */
	host = m->hostname[0] != '\0'    ? m->hostname
	       : m->fqdn_host[0] != '\0' ? m->fqdn_host
	                                 : NULL;
	r = leasedb_ack_quota(
	    db, mac, ip, host, now, cfg->lease_time, cfg->lease_quota);
	if (r == -1)
		return -1;
	if (r == 2) {
		res->over_quota = true;
		return nak(cfg, m, out, cap, res, "lease quota reached");
	}
	if (r == 1)
		return nak(cfg, m, out, cap, res, "address not available");
	if (leasedb_set_client(
	        db, mac, m->client_id, m->client_id_len, m->fqdn_domain) == -1)
		return -1;
	res->acked = true;
	(void)reply(cfg, m, DHCP_ACK, ip, NULL, out, cap, res);
	return 0;
}

/* DISCOVER: holds an address for the VM and OFFERs it. */
static int
discover(const struct dhcp_config *cfg, struct leasedb *db, const uint8_t *mac,
    const struct dhcp_msg *m, int64_t now, uint8_t *out, size_t cap,
    struct dhcp_result *res)
{
	uint32_t ip = 0;
	int r;

	if (!reply_fits(cfg, m, DHCP_OFFER, out, cap))
		return 0;
	r = leasedb_offer_quota(db, mac,
	    m->has_requested_ip ? m->requested_ip : 0, now, DHCP_OFFER_HOLD,
	    cfg->lease_quota, &ip);
	if (r == -1)
		return -1;
	if (r == 2) {
		res->over_quota = true;
		return 0;
	}
	if (r == 1) {
		res->pool_full = true;
		return 0;
	}
	(void)reply(cfg, m, DHCP_OFFER, ip, NULL, out, cap, res);
	return 0;
}

/*
 * REQUEST in each client state of RFC 2131 4.3.2. The lease database
 * decides addresses (DISCOVER, attach); a REQUEST only confirms the one
 * the VM's row names, held or as the hint of its last lease. Anything
 * else is NAKed as 4.3.2 says and dnsmasq does: INIT-REBOOT for B while
 * bound to A, a renewal of an address the VM never held. A renewal that
 * also carries option 50 or 54 naming its own address (dhcping; some
 * clients after sleep) is still a renewal: dnsmasq ACKs it too.
 */
static int
request(const struct dhcp_config *cfg, struct leasedb *db, const uint8_t *mac,
    const struct dhcp_msg *m, int64_t now, uint8_t *out, size_t cap,
    struct dhcp_result *res)
{
	struct lease l;
	uint32_t net = cfg->gateway & cfg->netmask, want;
	int r;

	if ((r = leasedb_get(db, mac, &l)) == -1)
		return -1;
	if (r == 1)
		memset(&l, 0, sizeof(l));
	if (m->has_server_id && m->server_id != cfg->gateway) {
		/* SELECTING another server: give back our offer. */
		if (l.state == LEASE_OFFERED &&
		    leasedb_release(db, mac, l.ip, now) == -1)
			return -1;
		return 0;
	}
	if (m->ciaddr != 0) {
		/* RENEWING (unicast) or REBINDING (broadcast) */
		if (m->has_requested_ip && m->requested_ip != m->ciaddr)
			return nak(cfg, m, out, cap, res,
			    "requested address differs from ciaddr");
		want = m->ciaddr;
	} else if (m->has_requested_ip) {
		/* SELECTING (option 54) or INIT-REBOOT */
		want = m->requested_ip;
	} else
		return nak(cfg, m, out, cap, res, "request in no client state");
	if ((want & cfg->netmask) != net)
		return nak(cfg, m, out, cap, res, "wrong subnet");
	if (l.ip != want)
		return nak(
		    cfg, m, out, cap, res, "requested address not yours");
	return ack(cfg, db, mac, m, want, now, out, cap, res);
}

/* Handles one DHCP client frame from a VM; see dhcp.h. */
int
dhcp_handle(const struct dhcp_config *cfg, struct leasedb *db,
    const uint8_t vm_mac[PKT_ETH_ALEN], const struct pkt_info *pi, int64_t now,
    uint8_t *out, size_t cap, struct dhcp_result *res)
{
	struct dhcp_msg m;
	int r;

	if (res == NULL)
		return -1;
	memset(res, 0, sizeof(*res));
	if (cfg == NULL || db == NULL || vm_mac == NULL || pi == NULL)
		return -1;
	if (pi->udp_payload == NULL || !pi->has_ports ||
	    pi->dport != PKT_PORT_DHCP_SERVER ||
	    dhcp_parse(pi->udp_payload, pi->udp_payload_len, &m) == -1 ||
	    m.giaddr != 0)
		goto malformed;
	res->bad_options = m.bad_options;
	res->msg_type = m.type;
	if (m.hlen != PKT_ETH_ALEN || memcmp(m.chaddr, vm_mac, PKT_ETH_ALEN)) {
		res->dropped = true;
		res->drop = DROP_DHCP_CHADDR;
		return 0;
	}
	/* Refusals above cost nothing; what follows may cost a write. */
	if (cfg->rate != NULL && cfg->rate_limit != NULL &&
	    !rate_take(cfg->rate, cfg->rate_limit, 1, cfg->now_ns)) {
		res->dropped = true;
		res->drop = DROP_DHCP_RATE;
		return 0;
	}

	switch (m.type) {
	case DHCP_DISCOVER:
		return discover(cfg, db, vm_mac, &m, now, out, cap, res);
	case DHCP_REQUEST:
		if (request(cfg, db, vm_mac, &m, now, out, cap, res) == -1)
			return -1;
		return settle(db, vm_mac, now, res);
	case DHCP_DECLINE:
		if (!m.has_requested_ip)
			goto malformed;
		if (!m.has_server_id || m.server_id != cfg->gateway)
			return 0;
		r = leasedb_decline_bounded(db, vm_mac, m.requested_ip, now,
		    DHCP_QUARANTINE, cfg->max_declined);
		if (r == -1)
			return -1;
		if (r == 0 || r == 2) {
			res->declined = true;
			res->declined_ip = m.requested_ip;
			res->decline_unquarantined = r == 2;
		}
		return settle(db, vm_mac, now, res);
	case DHCP_RELEASE:
		if (m.has_server_id && m.server_id != cfg->gateway)
			return 0;
		if (leasedb_release(db, vm_mac, m.ciaddr, now) == -1)
			return -1;
		return settle(db, vm_mac, now, res);
	case DHCP_INFORM:
		(void)reply(cfg, &m, DHCP_ACK, 0, NULL, out, cap, res);
		return 0;
	default:
		/* No type (plain BOOTP), or a server's type from a client. */
		goto malformed;
	}

malformed:
	res->dropped = true;
	res->drop = DROP_DHCP_MALFORMED;
	return 0;
}

/* Whether s is a domain name softnet serves; see dhcp.h. */
bool
dhcp_domain_valid(const char *s)
{
	size_t i, lab = 0, n;
	char c;

	if (s == NULL || (n = strlen(s)) == 0 || n > 254 ||
	    (n == 254 && s[253] != '.'))
		return false;
	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '.') {
			if (lab == 0)
				return false;
			lab = 0;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++lab > 63)
			return false;
	}
	return true;
}

/* Appends s in DNS wire form; see dhcp.h. */
int
dhcp_encode_domain(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	const char *p, *dot;
	size_t lab, n;

	if (!dhcp_domain_valid(s) || out == NULL || len == NULL || *len > cap)
		return -1;
	n = *len;
	for (p = s; *p != '\0'; p = *dot == '.' ? dot + 1 : dot) {
		dot = strchr(p, '.');
		if (dot == NULL)
			dot = p + strlen(p);
		lab = (size_t)(dot - p);
		if (1 + lab > cap - n)
			return -1;
		out[n++] = (uint8_t)lab;
		memcpy(out + n, p, lab);
		n += lab;
	}
	if (n >= cap)
		return -1;
	out[n++] = 0; /* the root label */
	*len = n;
	return 0;
}

/* Appends one RFC 3442 route; see dhcp.h. */
int
dhcp_encode_route(uint32_t dest, unsigned plen, uint32_t via, uint8_t *out,
    size_t cap, size_t *len)
{
	size_t sig = (plen + 7) / 8, n, i;

	if (plen > 32 || out == NULL || len == NULL || *len > cap ||
	    1 + sig + 4 > cap - *len)
		return -1;
	n = *len;
	out[n++] = (uint8_t)plen;
	/* Only the significant octets of the destination (RFC 3442 3). */
	for (i = 0; i < sig; i++)
		out[n++] = (uint8_t)(dest >> (24 - 8 * i));
	for (i = 0; i < 4; i++)
		out[n++] = (uint8_t)(via >> (24 - 8 * i));
	*len = n;
	return 0;
}
