/*
 * Theory of operation: the DHCP server (RFC 2131/2132) that answers, as the
 * gateway, the DHCP client messages the filter hands over from one VM port.
 * It owns no state: addresses live in the lease database, the caller owns
 * the reply buffer and the port, and this module turns one client message
 * into at most one lease database call and at most one reply frame.
 *
 * Invariants:
 * - The client message is untrusted. It is read only through a pkt_cur:
 *   the fixed BOOTP header, the magic cookie, then an option walk bounded by
 *   the end of the UDP payload in which every option's length must fit and
 *   known options must have exactly their length. Option overload (52) is
 *   not supported: sname and file are never read as options.
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
#define DHCP_MIN_LEN     300 /* BOOTP minimum message (RFC 951/1542) */
#define DHCP_MIN_MTU     68  /* smallest legal option 26 (RFC 2132 5.1) */

/* Option codes (RFC 2132) used here. */
enum dhcp_opt {
	OPT_PAD = 0,
	OPT_SUBNET_MASK = 1,
	OPT_ROUTER = 3,
	OPT_DNS = 6,
	OPT_HOSTNAME = 12,
	OPT_MTU = 26,
	OPT_REQUESTED_IP = 50,
	OPT_LEASE_TIME = 51,
	OPT_MSG_TYPE = 53,
	OPT_SERVER_ID = 54,
	OPT_MAX_SIZE = 57,
	OPT_T1 = 58,
	OPT_T2 = 59,
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

/* Takes one option whose length the walk has already bounded. */
static int
parse_opt(struct dhcp_msg *m, uint8_t code, const uint8_t *v, uint8_t len)
{
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
	default:
		/* Unknown, or known and unused (52 overload among them). */
		break;
	}
	return 0;
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
		if (parse_opt(m, *code, val, *olen) == -1)
			return -1;
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

/* Appends a 32-bit option, the value given in host order. */
static void
out_opt32(struct dhcp_out *o, uint8_t code, uint32_t v)
{
	uint32_t be = htonl(v);

	out_opt(o, code, &be, sizeof(be));
}

/*
 * Writes the BOOTREPLY of the given type for m into o: header, cookie,
 * options, end, padding to the BOOTP minimum. The largest reply (16 DNS
 * servers, a 63-byte hostname: 415 bytes) stays within 576 bytes of IP, the
 * least any client accepts, so option 57 never has to shorten it. 0, or -1
 * when it does not fit.
 */
static int
build_payload(const struct dhcp_config *cfg, const struct dhcp_msg *m,
    enum dhcp_type type, uint32_t yiaddr, struct dhcp_out *o)
{
	struct dhcp_hdr h;
	uint32_t dns[DHCP_MAX_DNS], cookie = htonl(DHCP_MAGIC);
	uint16_t mtu;
	uint8_t t = (uint8_t)type;
	size_t i, n;

	o->len = 0;
	o->full = false;
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

	out_opt(o, OPT_MSG_TYPE, &t, 1);
	out_opt32(o, OPT_SERVER_ID, cfg->gateway);
	if (type != DHCP_NAK) {
		/* An INFORM ACK carries no lease (RFC 2131 3.4). */
		if (yiaddr != 0) {
			out_opt32(o, OPT_LEASE_TIME, cfg->lease_time);
			out_opt32(o, OPT_T1, cfg->lease_time / 2);
			out_opt32(o, OPT_T2,
			    (uint32_t)((uint64_t)cfg->lease_time * 7 / 8));
		}
		out_opt32(o, OPT_SUBNET_MASK, cfg->netmask);
		out_opt32(o, OPT_ROUTER, cfg->gateway);
		n = cfg->ndns < DHCP_MAX_DNS ? cfg->ndns : DHCP_MAX_DNS;
		if (n > 0 && cfg->dns != NULL) {
			for (i = 0; i < n; i++)
				dns[i] = htonl(cfg->dns[i]);
			out_opt(o, OPT_DNS, dns, n * sizeof(dns[0]));
		}
		if (m->hostname[0] != '\0')
			out_opt(
			    o, OPT_HOSTNAME, m->hostname, strlen(m->hostname));
		if (cfg->mtu >= DHCP_MIN_MTU) {
			mtu = htons(cfg->mtu);
			out_opt(o, OPT_MTU, &mtu, sizeof(mtu));
		}
	}
	t = OPT_END;
	out_put(o, &t, 1);
	if (!o->full && o->len < DHCP_MIN_LEN) {
		n = DHCP_MIN_LEN - o->len;
		if (n > o->cap - o->len)
			o->full = true;
		else {
			memset(o->p + o->len, 0, n);
			o->len += n;
		}
	}
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
    enum dhcp_type type, uint32_t yiaddr, uint8_t *out, size_t cap,
    struct dhcp_result *res)
{
	struct dhcp_out o;

	res->reply_len = 0;
	if (out == NULL || cap < PKT_UDP4_HLEN)
		return -1;
	o.p = out + PKT_UDP4_HLEN;
	o.cap = cap - PKT_UDP4_HLEN;
	if (build_payload(cfg, m, type, yiaddr, &o) == -1)
		return -1;
	res->reply_len = build_frame(cfg, m, type, yiaddr, out, cap, o.len);
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
	return reply(cfg, m, type, 1, out, cap, &scratch) == 0;
}

/* Sends a NAK: the client forgets its address and starts over. */
static int
nak(const struct dhcp_config *cfg, const struct dhcp_msg *m, uint8_t *out,
    size_t cap, struct dhcp_result *res, const char *why)
{
	log_debug("%s: %s", __func__, why);
	res->unbound = true;
	res->ip = 0;
	(void)reply(cfg, m, DHCP_NAK, 0, out, cap, res);
	return 0;
}

/* Binds ip with the lease database and ACKs it, or NAKs a refusal. */
static int
ack(const struct dhcp_config *cfg, struct leasedb *db, const uint8_t *mac,
    const struct dhcp_msg *m, uint32_t ip, int64_t now, uint8_t *out,
    size_t cap, struct dhcp_result *res)
{
	int r;

	/* A NAK is never larger than an ACK: one check covers both. */
	if (!reply_fits(cfg, m, DHCP_ACK, out, cap))
		return 0;
	r = leasedb_ack_quota(db, mac, ip,
	    m->hostname[0] != '\0' ? m->hostname : NULL, now, cfg->lease_time,
	    cfg->lease_quota);
	if (r == -1)
		return -1;
	if (r == 2) {
		res->over_quota = true;
		return nak(cfg, m, out, cap, res, "owner over lease quota");
	}
	if (r == 1)
		return nak(cfg, m, out, cap, res, "address refused");
	res->bound = true;
	res->ip = ip;
	(void)reply(cfg, m, DHCP_ACK, ip, out, cap, res);
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
	(void)reply(cfg, m, DHCP_OFFER, ip, out, cap, res);
	return 0;
}

/* REQUEST in each client state of RFC 2131 4.3.2. */
static int
request(const struct dhcp_config *cfg, struct leasedb *db, const uint8_t *mac,
    const struct dhcp_msg *m, int64_t now, uint8_t *out, size_t cap,
    struct dhcp_result *res)
{
	struct lease l;
	uint32_t net = cfg->gateway & cfg->netmask;
	int r;

	if (m->has_server_id) {
		/* SELECTING */
		if (m->server_id != cfg->gateway) {
			/* Another server was chosen: give back our offer. */
			if ((r = leasedb_get(db, mac, &l)) == -1)
				return -1;
			if (r == 0 && l.state == LEASE_OFFERED &&
			    leasedb_release(db, mac, l.ip, now) == -1)
				return -1;
			return 0;
		}
		if (!m->has_requested_ip)
			return nak(cfg, m, out, cap, res, "no requested ip");
		return ack(
		    cfg, db, mac, m, m->requested_ip, now, out, cap, res);
	}
	if (m->has_requested_ip && m->ciaddr == 0) {
		/* INIT-REBOOT */
		if ((m->requested_ip & cfg->netmask) != net)
			return nak(cfg, m, out, cap, res, "wrong subnet");
		return ack(
		    cfg, db, mac, m, m->requested_ip, now, out, cap, res);
	}
	if (!m->has_requested_ip && m->ciaddr != 0) {
		/* RENEWING (unicast) or REBINDING (broadcast) */
		return ack(cfg, db, mac, m, m->ciaddr, now, out, cap, res);
	}
	return nak(cfg, m, out, cap, res, "request in no client state");
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
	if (m.hlen != PKT_ETH_ALEN || memcmp(m.chaddr, vm_mac, PKT_ETH_ALEN)) {
		res->dropped = true;
		res->drop = FILTER_R_DHCP_CHADDR;
		return 0;
	}
	/* Refusals above cost nothing; what follows may cost a write. */
	if (cfg->rate != NULL && cfg->rate_limit != NULL &&
	    !rate_take(cfg->rate, cfg->rate_limit, 1, cfg->now_ns)) {
		res->dropped = true;
		res->drop = FILTER_R_DHCP_RATE;
		return 0;
	}

	switch (m.type) {
	case DHCP_DISCOVER:
		return discover(cfg, db, vm_mac, &m, now, out, cap, res);
	case DHCP_REQUEST:
		return request(cfg, db, vm_mac, &m, now, out, cap, res);
	case DHCP_DECLINE:
		if (!m.has_requested_ip)
			goto malformed;
		if (!m.has_server_id || m.server_id != cfg->gateway)
			return 0;
		r = leasedb_decline_bounded(db, vm_mac, m.requested_ip, now,
		    DHCP_QUARANTINE, cfg->max_declined);
		if (r == 0 || r == 2) {
			res->unbound = true;
			res->ip = m.requested_ip;
			res->decline_unquarantined = r == 2;
		}
		return r == -1 ? -1 : 0;
	case DHCP_RELEASE:
		if (m.has_server_id && m.server_id != cfg->gateway)
			return 0;
		r = leasedb_release(db, vm_mac, m.ciaddr, now);
		if (r == 0) {
			res->unbound = true;
			res->ip = m.ciaddr;
		}
		return r == -1 ? -1 : 0;
	case DHCP_INFORM:
		(void)reply(cfg, &m, DHCP_ACK, 0, out, cap, res);
		return 0;
	default:
		/* No type (plain BOOTP), or a server's type from a client. */
		goto malformed;
	}

malformed:
	res->dropped = true;
	res->drop = FILTER_R_DHCP_MALFORMED;
	return 0;
}
