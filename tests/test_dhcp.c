/*
 * The DHCP server against a real lease database (":memory:", pool
 * 192.168.105.2-.254, gateway .1, /24): client frames are built here (BOOTP
 * payloads by hand, Ethernet/IPv4/UDP by pkt_build_udp4), parsed with
 * pkt_parse, handled by dhcp_handle, and every reply frame is parsed back
 * and checked field by field and option by option. Then malformed messages
 * of every kind, output buffers one byte too small (exact-size heap buffers
 * plus a guard region, so ASan sees any overflow) and a few thousand
 * mutated payloads with a fixed seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dhcp.h"
#include "leasedb.h"
#include "pkt.h"

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))
#define NET(x) IP4(192, 168, 105, x)

#define GATEWAY NET(1)
#define NETMASK IP4(255, 255, 255, 0)
#define BCAST   0xffffffffu
#define LEASE   600
#define T0      1700000000

static const uint8_t mac_a[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t mac_b[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
static const uint8_t mac_c[6] = {0x02, 0x01, 0x02, 0x03, 0x04, 0x05};
static const uint8_t server_mac[6] = {0x02, 0x5e, 0x00, 0x00, 0x00, 0x01};
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint32_t dns[2] = {NET(1), IP4(8, 8, 8, 8)};

static struct leasedb *db;
static struct dhcp_config cfg;
static int64_t now = T0;

/* A client's BOOTP payload under construction. */
struct req {
	uint8_t buf[1500];
	size_t len;
};

/* A reply frame, parsed back. */
struct reply {
	uint8_t frame[2048];
	size_t len;
	struct pkt_info pi;
	const uint8_t *bootp; /* UDP payload */
	size_t blen;
};

static struct req q;
static struct reply rep;
static struct dhcp_result res;
static uint8_t frame[2048];

/* Reads a big-endian 16-bit value. */
static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Reads a big-endian 32-bit value. */
static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Appends bytes to a request. */
static void
put(struct req *r, const void *p, size_t n)
{
	assert_true(r->len + n <= sizeof(r->buf));
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

/* Appends one byte. */
static void
put8(struct req *r, uint8_t v)
{
	put(r, &v, 1);
}

/* Appends a big-endian 32-bit value. */
static void
put32(struct req *r, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v};

	put(r, b, 4);
}

/* Writes a big-endian 32-bit value at offset off. */
static void
set32(struct req *r, size_t off, uint32_t v)
{
	r->buf[off] = (uint8_t)(v >> 24);
	r->buf[off + 1] = (uint8_t)(v >> 16);
	r->buf[off + 2] = (uint8_t)(v >> 8);
	r->buf[off + 3] = (uint8_t)v;
}

/*
 * Starts a BOOTREQUEST from chaddr with xid 0x12345678, the given flags and
 * ciaddr, the magic cookie, and option 53 = type (none when type is 0).
 */
static void
start(struct req *r, uint8_t type, const uint8_t *chaddr, uint16_t flags,
    uint32_t ciaddr)
{
	memset(r, 0, sizeof(*r));
	r->buf[0] = 1; /* op */
	r->buf[1] = 1; /* htype */
	r->buf[2] = 6; /* hlen */
	set32(r, 4, 0x12345678);
	r->buf[8] = 0;
	r->buf[9] = 3; /* secs */
	r->buf[10] = (uint8_t)(flags >> 8);
	r->buf[11] = (uint8_t)flags;
	set32(r, 12, ciaddr);
	memcpy(r->buf + 28, chaddr, 6);
	r->len = 236;
	put32(r, 0x63825363);
	if (type != 0) {
		put8(r, 53);
		put8(r, 1);
		put8(r, type);
	}
}

/* Appends an option. */
static void
opt(struct req *r, uint8_t code, const void *v, uint8_t len)
{
	put8(r, code);
	put8(r, len);
	put(r, v, len);
}

/* Appends a 4-byte address option. */
static void
opt_ip(struct req *r, uint8_t code, uint32_t ip)
{
	put8(r, code);
	put8(r, 4);
	put32(r, ip);
}

/* Ends the options. */
static void
end(struct req *r)
{
	put8(r, 255);
}

/* Wraps a payload in Ethernet/IPv4/UDP 68 -> 67 from src_mac and parses it. */
static void
client_frame(const uint8_t *payload, size_t len, const uint8_t *src_mac,
    uint32_t src_ip, uint32_t dst_ip, uint8_t *buf, size_t cap,
    struct pkt_info *pi)
{
	struct pkt_udp4_addr a;
	size_t flen;

	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, src_mac, 6);
	memcpy(a.dst_mac, dst_ip == BCAST ? bcast_mac : server_mac, 6);
	a.src_ip = src_ip;
	a.dst_ip = dst_ip;
	a.sport = PKT_PORT_DHCP_CLIENT;
	a.dport = PKT_PORT_DHCP_SERVER;
	assert_true(len + PKT_UDP4_HLEN <= cap);
	memcpy(buf + PKT_UDP4_HLEN, payload, len);
	flen = pkt_build_udp4(buf, cap, &a, len);
	assert_int_equal(flen, PKT_UDP4_HLEN + len);
	assert_int_equal(pkt_parse(buf, flen, pi), 0);
	assert_int_equal(pi->malformed, PKT_OK);
	assert_non_null(pi->udp_payload);
	assert_int_equal(pi->udp_payload_len, len);
}

/* Parses the reply frame in rep and checks what every reply shares. */
static void
parse_reply(void)
{
	const struct pkt_info *pi = &rep.pi;

	assert_int_equal(pkt_parse(rep.frame, rep.len, &rep.pi), 0);
	assert_int_equal(pi->malformed, PKT_OK);
	assert_int_equal(pi->ethertype, PKT_ETHERTYPE_IPV4);
	assert_memory_equal(pi->eth->src, server_mac, 6);
	assert_int_equal(pi->ip_src, GATEWAY);
	assert_int_equal(pi->ip_proto, PKT_IPPROTO_UDP);
	/* A valid IPv4 header sums to 0 (RFC 1071). */
	assert_int_equal(pkt_csum(pi->ip, sizeof(struct pkt_ipv4), 0), 0);
	assert_int_equal(pkt_csum(pi->l4, pi->l4_len,
	                     pkt_pseudo_sum(pi->ip_src, pi->ip_dst,
	                         PKT_IPPROTO_UDP, (uint16_t)pi->l4_len)),
	    0);
	assert_true(pi->has_ports);
	assert_int_equal(pi->sport, PKT_PORT_DHCP_SERVER);
	assert_int_equal(pi->dport, PKT_PORT_DHCP_CLIENT);
	rep.bootp = pi->udp_payload;
	rep.blen = pi->udp_payload_len;
	assert_true(rep.blen >= 300); /* BOOTP minimum */
	assert_int_equal(rep.len, PKT_UDP4_HLEN + rep.blen);
	assert_int_equal(rep.bootp[0], 2); /* BOOTREPLY */
	assert_int_equal(rep.bootp[1], 1);
	assert_int_equal(rep.bootp[2], 6);
	assert_int_equal(rep.bootp[3], 0);
	assert_memory_equal(rep.bootp + 4, q.buf + 4, 4); /* xid */
	assert_int_equal(be32(rep.bootp + 20), 0);        /* siaddr */
	assert_int_equal(be32(rep.bootp + 24), 0);        /* giaddr */
	assert_int_equal(be32(rep.bootp + 236), 0x63825363);
	for (size_t i = 34; i < 236; i++)
		assert_int_equal(
		    rep.bootp[i], 0); /* chaddr tail, sname, file */
}

/*
 * Finds option code in the reply; returns its value and length, NULL when
 * absent. Also checks that the option area is well formed and ends in 255.
 */
static const uint8_t *
ropt(uint8_t code, size_t *len)
{
	const uint8_t *found = NULL;
	size_t i = 240;

	while (i < rep.blen && rep.bootp[i] != 255) {
		if (rep.bootp[i] == 0) {
			i++;
			continue;
		}
		assert_true(i + 2 <= rep.blen);
		assert_true(i + 2 + rep.bootp[i + 1] <= rep.blen);
		if (rep.bootp[i] == code) {
			assert_null(found); /* never twice */
			found = rep.bootp + i + 2;
			if (len != NULL)
				*len = rep.bootp[i + 1];
		}
		i += 2 + (size_t)rep.bootp[i + 1];
	}
	assert_true(i < rep.blen); /* the end option is present */
	return found;
}

/* Asserts that the reply carries exactly these options, in this order. */
static void
ropt_codes(const uint8_t *codes, size_t n)
{
	size_t i = 240, k = 0;

	while (i < rep.blen && rep.bootp[i] != 255) {
		assert_true(k < n);
		assert_int_equal(rep.bootp[i], codes[k]);
		k++;
		i += 2 + (size_t)rep.bootp[i + 1];
	}
	assert_int_equal(k, n);
}

/* Asserts a 4-byte option's value. */
static void
ropt32(uint8_t code, uint32_t want)
{
	const uint8_t *v;
	size_t len = 0;

	v = ropt(code, &len);
	assert_non_null(v);
	assert_int_equal(len, 4);
	assert_int_equal(be32(v), want);
}

/* Asserts the message type of the reply. */
static void
rtype(uint8_t want)
{
	const uint8_t *v;
	size_t len = 0;

	v = ropt(53, &len);
	assert_non_null(v);
	assert_int_equal(len, 1);
	assert_int_equal(v[0], want);
}

/*
 * Sends the request in q from vm (whose MAC also sources the frame) and
 * parses any reply into rep. Returns dhcp_handle's result.
 */
static int
send_as(const uint8_t *vm, uint32_t src_ip, uint32_t dst_ip)
{
	struct pkt_info pi;
	int r;

	client_frame(
	    q.buf, q.len, vm, src_ip, dst_ip, frame, sizeof(frame), &pi);
	memset(&rep, 0, sizeof(rep));
	r = dhcp_handle(
	    &cfg, db, vm, &pi, now, rep.frame, sizeof(rep.frame), &res);
	rep.len = res.reply_len;
	if (res.reply_len > 0)
		parse_reply();
	return r;
}

/* Sends q broadcast from 0.0.0.0, as a client without an address does. */
static void
send_bcast(const uint8_t *vm)
{
	assert_int_equal(send_as(vm, 0, BCAST), 0);
}

/* Asserts a reply sent to ip at mac. */
static void
rdst(const uint8_t *mac, uint32_t ip)
{
	assert_memory_equal(rep.pi.eth->dst, mac, 6);
	assert_int_equal(rep.pi.ip_dst, ip);
}

/* Asserts the OFFER/ACK options with a lease, and no hostname. */
static void
assert_lease_options(void)
{
	static const uint8_t codes[] = {53, 54, 51, 58, 59, 1, 3, 6, 26, 28};
	const uint8_t *v;
	size_t len = 0;

	ropt_codes(codes, sizeof(codes));
	ropt32(28, NET(255)); /* issue 14 item 8: the broadcast address */
	ropt32(54, GATEWAY);
	ropt32(51, LEASE);
	ropt32(58, LEASE / 2);
	ropt32(59, LEASE * 7 / 8);
	ropt32(1, NETMASK);
	ropt32(3, GATEWAY);
	v = ropt(6, &len);
	assert_non_null(v);
	assert_int_equal(len, 8);
	assert_int_equal(be32(v), NET(1));
	assert_int_equal(be32(v + 4), IP4(8, 8, 8, 8));
	v = ropt(26, &len);
	assert_non_null(v);
	assert_int_equal(len, 2);
	assert_int_equal(be16(v), 1500);
	assert_null(ropt(12, NULL));
}

/* DISCOVER from vm; returns the offered address (asserting an OFFER). */
static uint32_t
discover(const uint8_t *vm)
{
	start(&q, DHCP_DISCOVER, vm, 0, 0);
	end(&q);
	send_bcast(vm);
	assert_false(res.dropped);
	assert_true(res.reply_len > 0);
	rtype(DHCP_OFFER);
	return be32(rep.bootp + 16);
}

/* SELECTING REQUEST for ip from vm; returns the reply type (0: none). */
static uint8_t
select_ip(const uint8_t *vm, uint32_t ip)
{
	start(&q, DHCP_REQUEST, vm, 0, 0);
	opt_ip(&q, 54, GATEWAY);
	opt_ip(&q, 50, ip);
	end(&q);
	send_bcast(vm);
	if (res.reply_len == 0)
		return 0;
	return ropt(53, NULL)[0];
}

/* DISCOVER then REQUEST: vm ends up BOUND; returns its address. */
static uint32_t
bind_vm(const uint8_t *vm)
{
	uint32_t ip = discover(vm);

	assert_int_equal(select_ip(vm, ip), DHCP_ACK);
	assert_true(res.bound);
	assert_int_equal(res.ip, ip);
	return ip;
}

/*
 * Asserts the NAK shape: broadcast, only 53, 54 and the reason (56), no
 * addresses. What the VM holds afterwards is the database's (settle).
 */
static void
assert_nak(void)
{
	static const uint8_t codes[] = {53, 54, 56};
	size_t len = 0;

	assert_true(res.reply_len > 0);
	rtype(DHCP_NAK);
	ropt_codes(codes, sizeof(codes));
	ropt32(54, GATEWAY);
	assert_non_null(ropt(56, &len));
	assert_true(len > 0);
	rdst(bcast_mac, BCAST);
	assert_int_equal(be32(rep.bootp + 12), 0); /* ciaddr */
	assert_int_equal(be32(rep.bootp + 16), 0); /* yiaddr */
	assert_false(res.acked);
	assert_false(res.dropped);
}

/* Asserts a NAK whose option 56 says exactly why. */
static void
assert_nak_why(const char *why)
{
	const uint8_t *v;
	size_t len = 0;

	assert_nak();
	v = ropt(56, &len);
	assert_int_equal(len, strlen(why));
	assert_memory_equal(v, why, len);
}

/* Asserts the message was dropped without reply for reason. */
static void
assert_dropped(enum drop_reason why)
{
	assert_true(res.dropped);
	assert_int_equal(res.drop, why);
	assert_int_equal(res.reply_len, 0);
	assert_false(res.bound);
	assert_false(res.unbound);
}

/* The state of mac's lease row (LEASE_NONE when unknown). */
static enum lease_state
state_of(const uint8_t *mac, struct lease *l)
{
	struct lease tmp;

	if (l == NULL)
		l = &tmp;
	if (leasedb_get(db, mac, l) != 0)
		return LEASE_NONE;
	return l->state;
}

/* Counts rows in the lease database. */
static int
count_cb(const struct lease *l, void *arg)
{
	(void)l;
	(*(int *)arg)++;
	return 0;
}

/* How many MACs the lease database knows. */
static int
rows(void)
{
	int n = 0;

	assert_int_equal(leasedb_foreach(db, count_cb, &n), 0);
	return n;
}

/* Opens a fresh database with pool .2-.last. */
static void
open_db(uint32_t last)
{
	char err[256];

	if (db != NULL)
		leasedb_close(db);
	db = leasedb_open(":memory:", NET(2), last, GATEWAY, err, sizeof(err));
	if (db == NULL)
		fail_msg("leasedb_open: %s", err);
}

/* A fresh database and configuration for each test. */
static int
setup(void **state)
{
	(void)state;
	db = NULL;
	open_db(NET(254));
	memset(&cfg, 0, sizeof(cfg));
	cfg.gateway = GATEWAY;
	cfg.netmask = NETMASK;
	cfg.dns = dns;
	cfg.ndns = 2;
	cfg.mtu = 1500;
	cfg.lease_time = LEASE;
	memcpy(cfg.server_mac, server_mac, 6);
	now = T0;
	return 0;
}

/* Closes the database. */
static int
teardown(void **state)
{
	(void)state;
	leasedb_close(db);
	db = NULL;
	return 0;
}

/* DISCOVER -> OFFER of the lowest address with every option, unicast. */
static void
test_discover_offer(void **state)
{
	(void)state;
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	send_bcast(mac_a);
	assert_false(res.dropped);
	assert_false(res.bound);
	assert_false(res.unbound);
	assert_false(res.pool_full);
	rtype(DHCP_OFFER);
	assert_lease_options();
	assert_int_equal(be16(rep.bootp + 10), 0); /* flags echoed */
	assert_int_equal(be32(rep.bootp + 12), 0); /* ciaddr */
	assert_int_equal(be32(rep.bootp + 16), NET(2));
	assert_memory_equal(rep.bootp + 28, mac_a, 6);
	/* No broadcast flag: unicast to yiaddr at chaddr. */
	rdst(mac_a, NET(2));
	assert_int_equal(state_of(mac_a, NULL), LEASE_OFFERED);

	/* The same MAC again: the same address. */
	assert_int_equal(discover(mac_a), NET(2));
	/* Another MAC: the next one; the broadcast flag: broadcast. */
	start(&q, DHCP_DISCOVER, mac_b, 0x8000, 0);
	end(&q);
	send_bcast(mac_b);
	rtype(DHCP_OFFER);
	assert_int_equal(be32(rep.bootp + 16), NET(3));
	assert_int_equal(be16(rep.bootp + 10), 0x8000);
	rdst(bcast_mac, BCAST);
	assert_memory_equal(rep.bootp + 28, mac_b, 6);
}

/* DISCOVER with option 50 gets the requested address when it is free. */
static void
test_discover_requested(void **state)
{
	(void)state;
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	opt_ip(&q, 50, NET(77));
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_OFFER);
	assert_int_equal(be32(rep.bootp + 16), NET(77));
	rdst(mac_a, NET(77));

	/* Outside the pool: the lowest instead. */
	start(&q, DHCP_DISCOVER, mac_b, 0, 0);
	opt_ip(&q, 50, IP4(10, 0, 0, 5));
	end(&q);
	send_bcast(mac_b);
	rtype(DHCP_OFFER);
	assert_int_equal(be32(rep.bootp + 16), NET(2));
}

/* Without DNS servers and with MTU 0 options 6 and 26 are left out. */
static void
test_offer_no_dns(void **state)
{
	static const uint8_t codes[] = {53, 54, 51, 58, 59, 1, 3, 28};

	(void)state;
	cfg.ndns = 0;
	cfg.mtu = 0;
	discover(mac_a);
	ropt_codes(codes, sizeof(codes));
	assert_null(ropt(6, NULL));
	assert_null(ropt(26, NULL));
}

/* SELECTING REQUEST for the offered address -> ACK, lease BOUND. */
static void
test_selecting_ack(void **state)
{
	struct lease l;
	uint32_t ip;

	(void)state;
	ip = discover(mac_a);
	assert_int_equal(ip, NET(2));
	assert_int_equal(select_ip(mac_a, ip), DHCP_ACK);
	assert_lease_options();
	assert_int_equal(be32(rep.bootp + 16), NET(2));
	assert_int_equal(be32(rep.bootp + 12), 0);
	rdst(mac_a, NET(2));
	assert_true(res.bound);
	assert_false(res.unbound);
	assert_int_equal(res.ip, NET(2));
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_int_equal(l.ip, NET(2));
	assert_int_equal(l.expires, T0 + LEASE);

	/* SELECTING without option 50 -> NAK. */
	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 54, GATEWAY);
	end(&q);
	send_bcast(mac_a);
	assert_nak();
}

/* A REQUEST naming another server: no reply, our offer given back. */
static void
test_request_other_server(void **state)
{
	struct lease l;

	(void)state;
	assert_int_equal(discover(mac_a), NET(2));
	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 54, IP4(192, 168, 105, 250));
	opt_ip(&q, 50, IP4(10, 1, 2, 3));
	end(&q);
	send_bcast(mac_a);
	assert_int_equal(res.reply_len, 0);
	assert_false(res.dropped);
	assert_false(res.bound);
	assert_int_equal(state_of(mac_a, &l), LEASE_RELEASED);
	/* The address is free for someone else at once. */
	assert_int_equal(discover(mac_b), NET(2));
}

/* INIT-REBOOT: right address -> ACK; wrong subnet or taken -> NAK. */
static void
test_init_reboot(void **state)
{
	(void)state;
	/* mac_a held .20 before (a restart, a detach): its hint. */
	assert_int_equal(leasedb_ack(db, mac_a, NET(20), NULL, now, LEASE), 0);
	assert_int_equal(leasedb_release(db, mac_a, NET(20), now), 0);
	/* A previously known address, no server id, ciaddr 0. */
	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 50, NET(20));
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_ACK);
	assert_lease_options();
	assert_int_equal(be32(rep.bootp + 16), NET(20));
	rdst(mac_a, NET(20));
	assert_true(res.bound);
	assert_int_equal(res.ip, NET(20));
	assert_int_equal(state_of(mac_a, NULL), LEASE_BOUND);

	/* Another network (the VM moved): NAK. */
	start(&q, DHCP_REQUEST, mac_b, 0, 0);
	opt_ip(&q, 50, IP4(10, 0, 2, 15));
	end(&q);
	send_bcast(mac_b);
	assert_nak();
	assert_int_equal(state_of(mac_b, NULL), LEASE_NONE);

	/* Another MAC's address: NAK, and mac_a keeps it. */
	start(&q, DHCP_REQUEST, mac_b, 0x8000, 0);
	opt_ip(&q, 50, NET(20));
	end(&q);
	send_bcast(mac_b);
	assert_nak();
	assert_int_equal(state_of(mac_a, NULL), LEASE_BOUND);

	/* The gateway itself: NAK. */
	start(&q, DHCP_REQUEST, mac_b, 0, 0);
	opt_ip(&q, 50, GATEWAY);
	end(&q);
	send_bcast(mac_b);
	assert_nak();
}

/* RENEWING (unicast, ciaddr) and REBINDING (broadcast) -> ACK to ciaddr. */
static void
test_renew_rebind(void **state)
{
	struct lease l;
	uint32_t ip;

	(void)state;
	ip = bind_vm(mac_a);
	now += LEASE / 2;
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	rtype(DHCP_ACK);
	assert_lease_options();
	assert_int_equal(be32(rep.bootp + 12), ip); /* ciaddr echoed */
	assert_int_equal(be32(rep.bootp + 16), ip);
	rdst(mac_a, ip);
	assert_true(res.bound);
	assert_int_equal(res.ip, ip);
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_int_equal(l.expires, now + LEASE);

	/* REBINDING: broadcast, even with the broadcast flag: to ciaddr. */
	now += LEASE * 3 / 8;
	start(&q, DHCP_REQUEST, mac_a, 0x8000, ip);
	end(&q);
	assert_int_equal(send_as(mac_a, ip, BCAST), 0);
	rtype(DHCP_ACK);
	assert_int_equal(be32(rep.bootp + 12), ip);
	rdst(mac_a, ip);
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_int_equal(l.expires, now + LEASE);

	/* Renewing someone else's address: NAK. */
	start(&q, DHCP_REQUEST, mac_b, 0, ip);
	end(&q);
	assert_int_equal(send_as(mac_b, ip, GATEWAY), 0);
	assert_nak();

	/* No server id, no option 50, ciaddr 0: no client state -> NAK. */
	start(&q, DHCP_REQUEST, mac_b, 0, 0);
	end(&q);
	send_bcast(mac_b);
	assert_nak();

	/* Option 50 with ciaddr set: see test_renew_extra_options. */
}

/* RELEASE gives the address back; the next MAC's DISCOVER gets it. */
static void
test_release(void **state)
{
	uint32_t ip;

	(void)state;
	ip = bind_vm(mac_a);
	assert_int_equal(ip, NET(2));
	assert_int_equal(discover(mac_b), NET(3));

	/* Releasing an address it does not hold changes nothing. */
	start(&q, DHCP_RELEASE, mac_a, 0, NET(3));
	opt_ip(&q, 54, GATEWAY);
	end(&q);
	assert_int_equal(send_as(mac_a, NET(3), GATEWAY), 0);
	assert_int_equal(res.reply_len, 0);
	assert_false(res.unbound);
	assert_true(res.bound); /* still what the database says */
	assert_int_equal(res.ip, ip);
	assert_false(res.dropped);

	start(&q, DHCP_RELEASE, mac_a, 0, ip);
	opt_ip(&q, 54, GATEWAY);
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	assert_int_equal(res.reply_len, 0);
	assert_true(res.unbound);
	assert_false(res.bound);
	assert_false(res.dropped);
	assert_int_equal(res.ip, 0);
	assert_int_equal(state_of(mac_a, NULL), LEASE_RELEASED);
	assert_int_equal(discover(mac_c), NET(2));
}

/* DECLINE quarantines the address: the next DISCOVERs get another one. */
static void
test_decline(void **state)
{
	uint32_t ip;

	(void)state;
	ip = bind_vm(mac_a);
	assert_int_equal(ip, NET(2));

	/* Meant for another server: ignored. */
	start(&q, DHCP_DECLINE, mac_a, 0, 0);
	opt_ip(&q, 54, NET(99));
	opt_ip(&q, 50, ip);
	end(&q);
	send_bcast(mac_a);
	assert_int_equal(res.reply_len, 0);
	assert_false(res.unbound);
	assert_int_equal(state_of(mac_a, NULL), LEASE_BOUND);

	/* Without option 50: malformed. */
	start(&q, DHCP_DECLINE, mac_a, 0, 0);
	opt_ip(&q, 54, GATEWAY);
	end(&q);
	send_bcast(mac_a);
	assert_dropped(DROP_DHCP_MALFORMED);

	start(&q, DHCP_DECLINE, mac_a, 0, 0);
	opt_ip(&q, 54, GATEWAY);
	opt_ip(&q, 50, ip);
	end(&q);
	send_bcast(mac_a);
	assert_int_equal(res.reply_len, 0);
	assert_true(res.unbound);
	assert_false(res.dropped);
	assert_true(res.declined);
	assert_int_equal(res.declined_ip, ip);
	assert_int_equal(discover(mac_a), NET(3));
	assert_int_equal(discover(mac_b), NET(4));

	/* Once the quarantine is over the address comes back. */
	now += DHCP_QUARANTINE + 1;
	assert_int_equal(discover(mac_c), NET(2));
}

/* INFORM -> ACK to ciaddr without yiaddr or lease times. */
static void
test_inform(void **state)
{
	static const uint8_t codes[] = {53, 54, 1, 3, 6, 26, 28};

	(void)state;
	start(&q, DHCP_INFORM, mac_a, 0, NET(77));
	end(&q);
	assert_int_equal(send_as(mac_a, NET(77), GATEWAY), 0);
	rtype(DHCP_ACK);
	ropt_codes(codes, sizeof(codes));
	ropt32(1, NETMASK);
	ropt32(3, GATEWAY);
	assert_null(ropt(51, NULL));
	assert_null(ropt(58, NULL));
	assert_null(ropt(59, NULL));
	assert_int_equal(be32(rep.bootp + 12), NET(77));
	assert_int_equal(be32(rep.bootp + 16), 0);
	rdst(mac_a, NET(77));
	assert_false(res.bound);
	assert_false(res.unbound);
	assert_false(res.dropped);
	assert_int_equal(state_of(mac_a, NULL), LEASE_NONE);
}

/* chaddr must be the port's MAC; invented ones cannot drain the pool. */
static void
test_chaddr(void **state)
{
	struct pkt_info pi;
	uint8_t fake[6];

	(void)state;
	/* Frame from mac_a's port, chaddr mac_b. */
	start(&q, DHCP_DISCOVER, mac_b, 0, 0);
	end(&q);
	client_frame(q.buf, q.len, mac_a, 0, BCAST, frame, sizeof(frame), &pi);
	assert_int_equal(dhcp_handle(&cfg, db, mac_a, &pi, now, rep.frame,
	                     sizeof(rep.frame), &res),
	    0);
	assert_dropped(DROP_DHCP_CHADDR);
	assert_int_equal(rows(), 0);

	/* A thousand invented MACs: all dropped, the pool untouched. */
	for (int i = 0; i < 1000; i++) {
		fake[0] = 0x02;
		fake[1] = 0x42;
		fake[2] = (uint8_t)(i >> 8);
		fake[3] = (uint8_t)i;
		fake[4] = 0;
		fake[5] = 1;
		start(&q, i % 2 ? DHCP_DISCOVER : DHCP_REQUEST, fake, 0, 0);
		if (i % 2 == 0)
			opt_ip(&q, 50, NET(2 + i % 250));
		end(&q);
		client_frame(
		    q.buf, q.len, mac_a, 0, BCAST, frame, sizeof(frame), &pi);
		assert_int_equal(dhcp_handle(&cfg, db, mac_a, &pi, now,
		                     rep.frame, sizeof(rep.frame), &res),
		    0);
		assert_dropped(DROP_DHCP_CHADDR);
	}
	assert_int_equal(rows(), 0);
	assert_int_equal(discover(mac_a), NET(2));
	assert_int_equal(rows(), 1);
}

/* Option 12 is sanitized, stored and echoed. */
static void
test_hostname(void **state)
{
	static const uint8_t codes[] = {
	    53, 54, 51, 58, 59, 1, 3, 6, 26, 28, 12};
	static const char evil[] = "evil;rm -rf /";
	struct lease l;
	uint8_t longname[255];
	const uint8_t *v;
	size_t len = 0;
	uint32_t ip;

	(void)state;
	ip = discover(mac_a);
	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 54, GATEWAY);
	opt_ip(&q, 50, ip);
	opt(&q, 12, evil, (uint8_t)strlen(evil));
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_ACK);
	ropt_codes(codes, sizeof(codes));
	v = ropt(12, &len);
	assert_non_null(v);
	assert_int_equal(len, strlen("evil_rm_-rf__"));
	assert_memory_equal(v, "evil_rm_-rf__", len);
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_string_equal(l.hostname, "evil_rm_-rf__");

	/* 255 bytes of mixed garbage: cut to 63 safe characters. */
	for (size_t i = 0; i < sizeof(longname); i++)
		longname[i] = (uint8_t)(i % 2 ? 0xc3 : 'a' + i % 26);
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt(&q, 12, longname, sizeof(longname));
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	rtype(DHCP_ACK);
	v = ropt(12, &len);
	assert_non_null(v);
	assert_int_equal(len, DHCP_HOSTNAME_LEN - 1);
	for (size_t i = 0; i < len; i++)
		assert_true(v[i] == '_' || (v[i] >= 'a' && v[i] <= 'z'));

	/* A name that sanitizes to nothing is neither echoed nor stored. */
	start(&q, DHCP_DISCOVER, mac_b, 0, 0);
	opt(&q, 12, "\0abc", 4);
	end(&q);
	send_bcast(mac_b);
	rtype(DHCP_OFFER);
	assert_null(ropt(12, NULL));
}

/* dhcp_sanitize on its own. */
static void
test_sanitize(void **state)
{
	char out[16];

	(void)state;
	dhcp_sanitize(out, sizeof(out), (const uint8_t *)"vm-01.local_x", 13);
	assert_string_equal(out, "vm-01.local_x");
	dhcp_sanitize(out, sizeof(out), (const uint8_t *)"a b\n$(id)`", 10);
	assert_string_equal(out, "a_b___id__");
	/* Bounded by dstlen, always terminated. */
	dhcp_sanitize(
	    out, sizeof(out), (const uint8_t *)"0123456789abcdefghij", 20);
	assert_string_equal(out, "0123456789abcde");
	dhcp_sanitize(out, 1, (const uint8_t *)"abc", 3);
	assert_string_equal(out, "");
	memset(out, 'x', sizeof(out));
	dhcp_sanitize(out, 4, (const uint8_t *)"abcdef", 6);
	assert_string_equal(out, "abc");
	assert_int_equal(out[4], 'x');
	/* Stops at an embedded NUL; bounded by srclen. */
	dhcp_sanitize(out, sizeof(out), (const uint8_t *)"ab\0cd", 5);
	assert_string_equal(out, "ab");
	dhcp_sanitize(out, sizeof(out), (const uint8_t *)"abcdef", 2);
	assert_string_equal(out, "ab");
	dhcp_sanitize(out, sizeof(out), (const uint8_t *)"\xff\x80/", 3);
	assert_string_equal(out, "___");
	dhcp_sanitize(out, sizeof(out), (const uint8_t *)"", 0);
	assert_string_equal(out, "");
}

/* Runs q through dhcp_parse (exact-size copy) and dhcp_handle. */
static int
parse_q(struct dhcp_msg *m)
{
	uint8_t *copy = malloc(q.len ? q.len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, q.buf, q.len);
	r = dhcp_parse(copy, q.len, m);
	free(copy);
	return r;
}

/* Asserts q is refused by the parser and dropped as malformed. */
static void
assert_malformed(void)
{
	struct dhcp_msg m;

	assert_int_equal(parse_q(&m), -1);
	send_bcast(mac_a);
	assert_dropped(DROP_DHCP_MALFORMED);
}

/*
 * Asserts q parses (a bad option 53 is ignored like any other) but,
 * having no valid message type, is dropped as malformed.
 */
static void
assert_untyped(void)
{
	struct dhcp_msg m;

	assert_int_equal(parse_q(&m), 0);
	assert_int_equal(m.type, 0);
	assert_int_equal(m.bad_options, 1);
	send_bcast(mac_a);
	assert_dropped(DROP_DHCP_MALFORMED);
}

/* Every kind of malformed message is dropped with its reason. */
static void
test_malformed(void **state)
{
	static const uint8_t two[2] = {1, 1};
	static const uint8_t server_types[] = {DHCP_OFFER, DHCP_ACK, DHCP_NAK};
	struct dhcp_msg m;

	(void)state;
	/* Truncated fixed header, and no cookie. */
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	q.len = 100;
	assert_malformed();
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	q.len = 236;
	assert_malformed();
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	q.len = 239;
	assert_malformed();
	q.len = 0;
	assert_malformed();

	/* Bad cookie. */
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	q.buf[239] = 0x64;
	assert_malformed();

	/* An option whose length runs past the end; a code without length. */
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	put8(&q, 60);
	put8(&q, 10);
	put(&q, "abc", 3);
	assert_malformed();
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	put8(&q, 12);
	assert_malformed();
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	put8(&q, 50);
	put8(&q, 4);
	put(&q, "\xc0\xa8", 2);
	assert_malformed();

	/* Known options of the wrong length. */
	start(&q, 0, mac_a, 0, 0);
	opt(&q, 53, two, 2);
	end(&q);
	assert_untyped();
	start(&q, 0, mac_a, 0, 0);
	opt(&q, 53, two, 0);
	end(&q);
	assert_untyped();
	/* Other options of a wrong length: test_bad_option_ignored. */

	/* op 2 (a BOOTREPLY from a client), hlen 16, htype 6. */
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	q.buf[0] = 2;
	assert_malformed();
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	q.buf[2] = 16;
	assert_malformed();
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	q.buf[1] = 6;
	assert_malformed();

	/* Message types 0 and 9. */
	start(&q, 0, mac_a, 0, 0);
	opt(&q, 53, "\0", 1);
	end(&q);
	assert_untyped();
	start(&q, 0, mac_a, 0, 0);
	opt(&q, 53, "\x09", 1);
	end(&q);
	assert_untyped();

	/* Parsable but refused by the server: giaddr set (a relay). */
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	set32(&q, 24, NET(200));
	assert_int_equal(parse_q(&m), 0);
	assert_int_equal(m.giaddr, NET(200));
	send_bcast(mac_a);
	assert_dropped(DROP_DHCP_MALFORMED);
	/* No message type (plain BOOTP). */
	start(&q, 0, mac_a, 0, 0);
	end(&q);
	assert_int_equal(parse_q(&m), 0);
	assert_int_equal(m.type, 0);
	send_bcast(mac_a);
	assert_dropped(DROP_DHCP_MALFORMED);
	/* Server message types from a client. */
	for (size_t i = 0; i < sizeof(server_types); i++) {
		start(&q, server_types[i], mac_a, 0, 0);
		end(&q);
		assert_int_equal(parse_q(&m), 0);
		send_bcast(mac_a);
		assert_dropped(DROP_DHCP_MALFORMED);
	}
	assert_int_equal(rows(), 0);
}

/* What the parser accepts: pads, no end, unknown options, overload. */
static void
test_parse_ok(void **state)
{
	static const uint8_t unknown[200] = {0xff};
	struct dhcp_msg m;

	(void)state;
	start(&q, DHCP_REQUEST, mac_a, 0x8000, NET(9));
	put8(&q, 0);
	put8(&q, 0);
	opt_ip(&q, 50, NET(10));
	opt_ip(&q, 54, GATEWAY);
	opt(&q, 57, "\x05\xdc", 2);
	opt(&q, 52, "\x03", 1); /* overload: ignored */
	opt(&q, 250, unknown, sizeof(unknown));
	opt(&q, 12, "host", 4);
	opt(&q, 55, "\x01\x03\x06\x0c\x0f\x1a", 6);
	/* No end option: the end of the packet ends the walk. */
	q.buf[44] = 53; /* sname holds what would be a bad option 53 */
	q.buf[45] = 7;
	assert_int_equal(parse_q(&m), 0);
	assert_int_equal(m.op, 1);
	assert_int_equal(m.htype, 1);
	assert_int_equal(m.hlen, 6);
	assert_int_equal(m.type, DHCP_REQUEST);
	assert_int_equal(m.flags, 0x8000);
	assert_int_equal(m.ciaddr, NET(9));
	assert_int_equal(m.giaddr, 0);
	assert_memory_equal(&m.xid, "\x12\x34\x56\x78", 4);
	assert_memory_equal(m.chaddr, mac_a, 6);
	assert_true(m.has_requested_ip);
	assert_int_equal(m.requested_ip, NET(10));
	assert_true(m.has_server_id);
	assert_int_equal(m.server_id, GATEWAY);
	assert_int_equal(m.max_size, 1500);
	assert_string_equal(m.hostname, "host");

	/* Whatever follows the end option is padding. */
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	put(&q, "\x35\x09\x01", 3);
	assert_int_equal(parse_q(&m), 0);
	assert_int_equal(m.type, DHCP_DISCOVER);
	assert_false(m.has_requested_ip);
	assert_false(m.has_server_id);
	assert_int_equal(m.max_size, 0);
	assert_string_equal(m.hostname, "");

	/* NULL in, NULL out. */
	assert_int_equal(dhcp_parse(NULL, 300, &m), -1);
	assert_int_equal(dhcp_parse(q.buf, q.len, NULL), -1);
}

/* A frame that is not a UDP datagram to port 67 is malformed for DHCP. */
static void
test_not_dhcp(void **state)
{
	struct pkt_info pi;

	(void)state;
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	client_frame(q.buf, q.len, mac_a, 0, BCAST, frame, sizeof(frame), &pi);
	pi.dport = 53;
	assert_int_equal(dhcp_handle(&cfg, db, mac_a, &pi, now, rep.frame,
	                     sizeof(rep.frame), &res),
	    0);
	assert_dropped(DROP_DHCP_MALFORMED);
	pi.dport = 67;
	pi.udp_payload = NULL;
	pi.udp_payload_len = 0;
	assert_int_equal(dhcp_handle(&cfg, db, mac_a, &pi, now, rep.frame,
	                     sizeof(rep.frame), &res),
	    0);
	assert_dropped(DROP_DHCP_MALFORMED);
}

/* A full pool: no OFFER, not a drop; REQUESTs for taken addresses NAK. */
static void
test_pool_full(void **state)
{
	(void)state;
	open_db(NET(3));
	assert_int_equal(bind_vm(mac_a), NET(2));
	assert_int_equal(bind_vm(mac_b), NET(3));
	start(&q, DHCP_DISCOVER, mac_c, 0, 0);
	end(&q);
	send_bcast(mac_c);
	assert_int_equal(res.reply_len, 0);
	assert_true(res.pool_full);
	assert_false(res.dropped);
	assert_false(res.bound);
	assert_int_equal(select_ip(mac_c, NET(3)), DHCP_NAK);

	/* When a lease runs out its address is offered again. */
	now += LEASE + 1;
	assert_int_equal(discover(mac_c), NET(2));
	assert_false(res.pool_full);
}

/* Handles q from mac_a into an exact heap buffer of cap bytes + guard. */
static size_t
handle_cap(size_t cap, uint32_t src_ip, uint32_t dst_ip)
{
	enum { GUARD = 64 };
	struct pkt_info pi;
	uint8_t *buf;

	client_frame(
	    q.buf, q.len, mac_a, src_ip, dst_ip, frame, sizeof(frame), &pi);
	buf = malloc(cap + GUARD);
	assert_non_null(buf);
	memset(buf, 0xa5, cap + GUARD);
	assert_int_equal(
	    dhcp_handle(&cfg, db, mac_a, &pi, now, buf, cap, &res), 0);
	for (size_t i = cap; i < cap + GUARD; i++)
		assert_int_equal(buf[i], 0xa5);
	assert_true(res.reply_len <= cap);
	if (res.reply_len > 0) {
		memcpy(rep.frame, buf, res.reply_len);
		rep.len = res.reply_len;
		parse_reply();
	}
	free(buf);
	return res.reply_len;
}

/* Every cap below the reply's size: no reply, no write past, no change. */
static void
test_small_cap(void **state)
{
	static const char name[] = "a-rather-long-hostname-for-the-test";
	uint32_t many[63];
	size_t need, cap;

	(void)state;
	for (size_t i = 0; i < 63; i++)
		many[i] = IP4(10, 0, 0, (uint32_t)i + 1);
	cfg.dns = many;
	cfg.ndns = 63; /* more than a reply carries */

	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	opt(&q, 12, name, (uint8_t)strlen(name));
	end(&q);
	need = handle_cap(sizeof(rep.frame), 0, BCAST);
	assert_true(need > PKT_UDP4_HLEN + 300);
	/* Cut to DHCP_MAX_DNS, the reply fits the 576 bytes all accept. */
	{
		const uint8_t *v;
		size_t len = 0;

		v = ropt(6, &len);
		assert_non_null(v);
		assert_int_equal(len, 4 * DHCP_MAX_DNS);
		assert_int_equal(be32(v + len - 4), many[DHCP_MAX_DNS - 1]);
	}
	assert_true(need - PKT_ETH_HLEN <= 576);
	assert_int_equal(leasedb_release(db, mac_a, NET(2), now), 0);
	assert_int_equal(state_of(mac_a, NULL), LEASE_RELEASED);
	for (cap = 0; cap < need; cap++) {
		assert_int_equal(handle_cap(cap, 0, BCAST), 0);
		assert_false(res.pool_full);
		assert_int_equal(state_of(mac_a, NULL), LEASE_RELEASED);
	}
	assert_int_equal(handle_cap(need, 0, BCAST), need);
	rtype(DHCP_OFFER);
	assert_int_equal(state_of(mac_a, NULL), LEASE_OFFERED);

	/* The ACK: too small changes nothing; exactly right binds. */
	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 54, GATEWAY);
	opt_ip(&q, 50, NET(2));
	opt(&q, 12, name, (uint8_t)strlen(name));
	end(&q);
	for (cap = 0; cap < need; cap++) {
		assert_int_equal(handle_cap(cap, 0, BCAST), 0);
		assert_false(res.bound);
		assert_int_equal(state_of(mac_a, NULL), LEASE_OFFERED);
	}
	assert_int_equal(handle_cap(need, 0, BCAST), need);
	rtype(DHCP_ACK);
	assert_true(res.bound);

	/* NAK (300-byte minimum) and INFORM, each one byte short. */
	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 50, IP4(10, 9, 9, 9));
	end(&q);
	need = handle_cap(sizeof(rep.frame), 0, BCAST);
	assert_int_equal(need, PKT_UDP4_HLEN + 300);
	rtype(DHCP_NAK);
	for (cap = 0; cap < need; cap++)
		assert_int_equal(handle_cap(cap, 0, BCAST), 0);
	start(&q, DHCP_INFORM, mac_a, 0, NET(2));
	end(&q);
	need = handle_cap(sizeof(rep.frame), NET(2), GATEWAY);
	rtype(DHCP_ACK);
	for (cap = 0; cap < need; cap++)
		assert_int_equal(handle_cap(cap, NET(2), GATEWAY), 0);
	assert_int_equal(handle_cap(need, NET(2), GATEWAY), need);
}

/*
 * Issue 14 item 1: a renewal that also carries option 50 or 54 naming the
 * client's own address is ACKed (dhcping; dnsmasq ACKs it), and a NAK
 * never leaves the port and the database disagreeing.
 */
static void
test_renew_extra_options(void **state)
{
	struct lease l;
	uint32_t ip;

	(void)state;
	ip = bind_vm(mac_a);
	now += LEASE / 2;
	/* ciaddr + option 50 (dhcping -r). */
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt_ip(&q, 50, ip);
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	rtype(DHCP_ACK);
	assert_int_equal(be32(rep.bootp + 16), ip);
	assert_true(res.acked);
	assert_true(res.bound);
	assert_int_equal(res.ip, ip);
	assert_int_equal(res.expires, now + LEASE);
	/* ciaddr + option 54 only. */
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt_ip(&q, 54, GATEWAY);
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	rtype(DHCP_ACK);
	assert_true(res.bound);
	/* Both. */
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt_ip(&q, 54, GATEWAY);
	opt_ip(&q, 50, ip);
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	rtype(DHCP_ACK);

	/*
	 * Option 50 naming another address than ciaddr: NAK, but the VM
	 * still holds ip in the database, so the port keeps it too.
	 */
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt_ip(&q, 50, NET(99));
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	assert_nak_why("requested address differs from ciaddr");
	assert_true(res.bound);
	assert_false(res.unbound);
	assert_int_equal(res.ip, ip);
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_int_equal(l.ip, ip);
	assert_int_equal(res.expires, l.expires);
}

/*
 * Issue 14 item 2: a request for a free address the VM does not hold is
 * NAKed (RFC 2131 4.3.2), and the VM keeps what it holds.
 */
static void
test_request_other_address(void **state)
{
	struct lease l;
	uint32_t ip;

	(void)state;
	ip = bind_vm(mac_a);
	/* INIT-REBOOT for a free B while bound to A. */
	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 50, NET(30));
	end(&q);
	send_bcast(mac_a);
	assert_nak_why("requested address not yours");
	assert_true(res.bound);
	assert_int_equal(res.ip, ip);
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_int_equal(l.ip, ip);
	/* A renewal of an address the VM never held. */
	start(&q, DHCP_REQUEST, mac_a, 0, NET(31));
	end(&q);
	assert_int_equal(send_as(mac_a, NET(31), GATEWAY), 0);
	assert_nak_why("requested address not yours");
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_int_equal(l.ip, ip);
	/* SELECTING an address other than the one offered. */
	assert_int_equal(discover(mac_b), NET(3));
	assert_int_equal(select_ip(mac_b, NET(40)), DHCP_NAK);
	assert_nak_why("requested address not yours");
	assert_true(res.unbound);
	assert_int_equal(state_of(mac_b, &l), LEASE_OFFERED);
	assert_int_equal(l.ip, NET(3));
	/* The wrong subnet says so. */
	start(&q, DHCP_REQUEST, mac_b, 0, 0);
	opt_ip(&q, 50, IP4(10, 0, 2, 15));
	end(&q);
	send_bcast(mac_b);
	assert_nak_why("wrong subnet");
}

/* Issue 14 item 3: option 61 echoed in every reply and recorded. */
static void
test_client_id(void **state)
{
	static const uint8_t id_mac[7] = {
	    1, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	/* RFC 4361: 0xff, IAID, DUID-LL (type 3, htype 1, MAC). */
	static const uint8_t id_duid[15] = {
	    0xff, 0, 0, 0, 1, 0, 3, 0, 1, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	struct lease l;
	const uint8_t *v;
	size_t len = 0;
	uint32_t ip;

	(void)state;
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	opt(&q, 61, id_mac, sizeof(id_mac));
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_OFFER);
	v = ropt(61, &len);
	assert_non_null(v);
	assert_int_equal(len, sizeof(id_mac));
	assert_memory_equal(v, id_mac, len);
	ip = be32(rep.bootp + 16);

	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 54, GATEWAY);
	opt_ip(&q, 50, ip);
	opt(&q, 61, id_duid, sizeof(id_duid));
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_ACK);
	v = ropt(61, &len);
	assert_non_null(v);
	assert_int_equal(len, sizeof(id_duid));
	assert_memory_equal(v, id_duid, len);
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_string_equal(
	    l.client_id, "ff:00:00:00:01:00:03:00:01:02:11:22:33:44:55");

	/* A NAK echoes it too (RFC 6842 3). */
	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 50, NET(77));
	opt(&q, 61, id_mac, sizeof(id_mac));
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_NAK);
	v = ropt(61, &len);
	assert_non_null(v);
	assert_memory_equal(v, id_mac, sizeof(id_mac));

	/* A renewal with the MAC id replaces the recorded one. */
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt(&q, 61, id_mac, sizeof(id_mac));
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	rtype(DHCP_ACK);
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_string_equal(l.client_id, "01:02:11:22:33:44:55");

	/* A one-byte id is not an id: ignored, counted, not echoed. */
	start(&q, DHCP_DISCOVER, mac_b, 0, 0);
	opt(&q, 61, id_mac, 1);
	end(&q);
	send_bcast(mac_b);
	rtype(DHCP_OFFER);
	assert_null(ropt(61, NULL));
	assert_int_equal(res.bad_options, 1);
}

/* Issue 14 item 4: an FQDN-only client's host part becomes its hostname. */
static void
test_fqdn(void **state)
{
	/* Flags S|E, rcodes, "host.example.com." in DNS wire form. */
	static const uint8_t wire[] = {0x05, 0, 0, 4, 'h', 'o', 's', 't', 7,
	    'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0};
	static const char ascii[] = "\x01\x00\x00vm1.lab.local.";
	struct lease l;
	uint32_t ip;

	(void)state;
	ip = discover(mac_a);
	start(&q, DHCP_REQUEST, mac_a, 0, 0);
	opt_ip(&q, 54, GATEWAY);
	opt_ip(&q, 50, ip);
	opt(&q, 81, wire, sizeof(wire));
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_ACK);
	assert_null(ropt(12, NULL)); /* it sent no option 12 */
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_string_equal(l.hostname, "host");
	assert_string_equal(l.domain, "example.com");

	/* The ASCII form (flag E clear), with a trailing dot. */
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt(&q, 81, ascii, (uint8_t)(sizeof(ascii) - 1));
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	rtype(DHCP_ACK);
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_string_equal(l.hostname, "vm1");
	assert_string_equal(l.domain, "lab.local");

	/* Option 12 wins over 81's host part. */
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt(&q, 12, "named", 5);
	opt(&q, 81, wire, sizeof(wire));
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	assert_int_equal(state_of(mac_a, &l), LEASE_BOUND);
	assert_string_equal(l.hostname, "named");

	/* A label running past the option: ignored, counted. */
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt(&q, 81, wire, 7);
	end(&q);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	rtype(DHCP_ACK);
	assert_int_equal(res.bad_options, 1);
}

/*
 * Issue 14 item 7: an option of a wrong length costs that option, not the
 * message; it is counted.
 */
static void
test_bad_option_ignored(void **state)
{
	static const uint8_t two[2] = {1, 1}, three[3] = {192, 168, 105},
	                     five[5];
	struct dhcp_msg m;
	uint32_t ip;

	(void)state;
	/* A zero-length hostname. */
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	opt(&q, 12, two, 0);
	end(&q);
	assert_int_equal(parse_q(&m), 0);
	assert_int_equal(m.bad_options, 1);
	assert_string_equal(m.hostname, "");
	send_bcast(mac_a);
	rtype(DHCP_OFFER);
	assert_int_equal(res.bad_options, 1);
	ip = be32(rep.bootp + 16);
	assert_int_equal(select_ip(mac_a, ip), DHCP_ACK);
	assert_int_equal(res.bad_options, 0);

	/* Option 50 of length 3 in a renewal, 54 of 5, 57 of 1. */
	start(&q, DHCP_REQUEST, mac_a, 0, ip);
	opt(&q, 50, three, 3);
	opt(&q, 54, five, 5);
	opt(&q, 57, two, 1);
	end(&q);
	assert_int_equal(parse_q(&m), 0);
	assert_false(m.has_requested_ip);
	assert_false(m.has_server_id);
	assert_int_equal(m.max_size, 0);
	assert_int_equal(send_as(mac_a, ip, GATEWAY), 0);
	rtype(DHCP_ACK);
	assert_int_equal(res.bad_options, 3);
	assert_true(res.bound);
}

/* Builds the routes and search list the config would give. */
static void
served_config(uint8_t *routes, size_t *rlen, uint8_t *search, size_t *slen)
{
	*rlen = *slen = 0;
	assert_int_equal(
	    dhcp_encode_route(IP4(10, 0, 0, 0), 8, NET(254), routes, 250, rlen),
	    0);
	assert_int_equal(
	    dhcp_encode_domain("lab.example", search, 255, slen), 0);
	assert_int_equal(dhcp_encode_domain("example", search, 255, slen), 0);
	cfg.domain = "lab.example";
	cfg.routes = routes;
	cfg.routes_len = *rlen;
	cfg.search = search;
	cfg.search_len = *slen;
}

/*
 * Issue 14 item 8: what the macOS client asks for (its option 55: 1, 121,
 * 3, 6, 15, 119, 252, 95, 44, 46) is served where configured.
 */
static void
test_options_served(void **state)
{
	static const uint8_t mac_prl[] = {
	    1, 121, 3, 6, 15, 119, 252, 95, 44, 46};
	static const uint8_t want121[] = {
	    8, 10, 192, 168, 105, 254, 0, 192, 168, 105, 1};
	static const uint8_t want119[] = {3, 'l', 'a', 'b', 7, 'e', 'x', 'a',
	    'm', 'p', 'l', 'e', 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
	uint8_t routes[250], search[255];
	size_t rlen, slen, len = 0;
	const uint8_t *v;

	(void)state;
	served_config(routes, &rlen, search, &slen);
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	opt(&q, 55, mac_prl, sizeof(mac_prl));
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_OFFER);
	ropt32(28, NET(255));
	v = ropt(15, &len);
	assert_non_null(v);
	assert_int_equal(len, strlen("lab.example"));
	assert_memory_equal(v, "lab.example", len);
	/* RFC 3442: the configured route, then the router as 0/0. */
	v = ropt(121, &len);
	assert_non_null(v);
	assert_int_equal(len, sizeof(want121));
	assert_memory_equal(v, want121, len);
	v = ropt(119, &len);
	assert_non_null(v);
	assert_int_equal(len, sizeof(want119));
	assert_memory_equal(v, want119, len);

	/* Not asked for: 121 and 119 stay out; 15 and 28 do not. */
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_OFFER);
	assert_null(ropt(121, NULL));
	assert_null(ropt(119, NULL));
	assert_non_null(ropt(15, NULL));
	assert_non_null(ropt(28, NULL));
}

/*
 * The reply stays within the 576 bytes every client takes, however long
 * the configured names: optional options that would not fit are left
 * out, unless option 57 allows more.
 */
static void
test_options_fit(void **state)
{
	static const uint8_t prl[] = {119, 121};
	uint8_t routes[250], search[255], big[2] = {0x05, 0xdc};
	char domain[254];
	size_t rlen = 0, slen = 0, len;
	uint32_t many[16];

	(void)state;
	for (size_t i = 0; i < 16; i++)
		many[i] = IP4(10, 0, 0, (uint32_t)i + 1);
	cfg.dns = many;
	cfg.ndns = 16;
	/* 62 routes of /32: 250 bytes. */
	for (uint32_t i = 0; i < 27; i++)
		assert_int_equal(dhcp_encode_route(IP4(10, 1, 0, i), 32,
		                     NET(254), routes, sizeof(routes), &rlen),
		    0);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(dhcp_encode_domain("a-very-long-label-for-"
		                                    "a-search-list.example",
		                     search, sizeof(search), &slen),
		    0);
	memset(domain, 'd', sizeof(domain));
	for (size_t i = 63; i < sizeof(domain); i += 64)
		domain[i] = '.';
	domain[100] = '\0';
	assert_true(dhcp_domain_valid(domain));
	cfg.domain = domain;
	cfg.routes = routes;
	cfg.routes_len = rlen;
	cfg.search = search;
	cfg.search_len = slen;

	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	opt(&q, 55, prl, sizeof(prl));
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_OFFER);
	assert_true(rep.len - PKT_ETH_HLEN <= 576);
	assert_non_null(ropt(15, NULL)); /* the first optional one fits */
	assert_null(ropt(121, NULL));
	assert_null(ropt(119, NULL));

	/* Option 57 of 1500: everything fits. */
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	opt(&q, 55, prl, sizeof(prl));
	opt(&q, 57, big, 2);
	end(&q);
	send_bcast(mac_a);
	rtype(DHCP_OFFER);
	len = rep.len - PKT_ETH_HLEN;
	assert_true(len > 576 && len <= 1500);
	assert_non_null(ropt(15, NULL));
	assert_non_null(ropt(121, NULL));
	assert_non_null(ropt(119, NULL));
}

/* The encoders the configuration uses. */
static void
test_encode(void **state)
{
	uint8_t b[300];
	size_t n;

	(void)state;
	n = 0;
	assert_int_equal(dhcp_encode_domain("a.bc", b, sizeof(b), &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(b,
	    "\x01"
	    "a"
	    "\x02"
	    "bc"
	    "\x00",
	    6);
	n = 0;
	assert_int_equal(dhcp_encode_domain("a.bc.", b, sizeof(b), &n), 0);
	assert_int_equal(n, 6);
	/* Exactly the room, and one byte short. */
	n = 0;
	assert_int_equal(dhcp_encode_domain("a.bc", b, 6, &n), 0);
	n = 0;
	assert_int_equal(dhcp_encode_domain("a.bc", b, 5, &n), -1);
	assert_false(dhcp_domain_valid(""));
	assert_false(dhcp_domain_valid("."));
	assert_false(dhcp_domain_valid("a..b"));
	assert_false(dhcp_domain_valid("a b"));
	assert_false(dhcp_domain_valid("a\n"));
	assert_false(dhcp_domain_valid("012345678901234567890123456789012345678"
	                               "9012345678901234567890123"));
	assert_true(dhcp_domain_valid(
	    "012345678901234567890123456789012345678901234567890123456789012"));
	n = 0;
	assert_int_equal(
	    dhcp_encode_route(IP4(10, 0, 0, 0), 8, IP4(1, 2, 3, 4), b, 9, &n),
	    0);
	assert_int_equal(n, 6);
	assert_memory_equal(b, "\x08\x0a\x01\x02\x03\x04", 6);
	assert_int_equal(dhcp_encode_route(IP4(10, 1, 2, 128), 25,
	                     IP4(1, 2, 3, 4), b, sizeof(b), &n),
	    0);
	assert_int_equal(n, 6 + 9);
	assert_memory_equal(b + 6, "\x19\x0a\x01\x02\x80\x01\x02\x03\x04", 9);
	assert_int_equal(
	    dhcp_encode_route(0, 0, IP4(1, 2, 3, 4), b, 20, &n), 0);
	assert_int_equal(n, 20);
	assert_int_equal(
	    dhcp_encode_route(0, 0, IP4(1, 2, 3, 4), b, 20, &n), -1);
	assert_int_equal(dhcp_encode_route(0, 33, 0, b, sizeof(b), &n), -1);
}

/* A deterministic xorshift generator. */
static uint32_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

/* Fills q with a plausible message, then mutates it. */
static void
mutate(uint64_t *s)
{
	static const uint8_t types[] = {1, 3, 4, 7, 8};
	uint8_t b[255];
	size_t n, len;

	start(&q, types[rnd(s) % sizeof(types)], mac_a, rnd(s) % 2 ? 0x8000 : 0,
	    rnd(s) % 3 ? 0 : NET(2 + rnd(s) % 10));
	n = rnd(s) % 6;
	for (size_t i = 0; i < n; i++) {
		switch (rnd(s) % 6) {
		case 0:
			opt_ip(&q, 50, NET(rnd(s) % 260));
			break;
		case 1:
			opt_ip(&q, 54, rnd(s) % 4 ? GATEWAY : NET(9));
			break;
		case 2:
			len = 1 + rnd(s) % 40;
			for (size_t k = 0; k < len; k++)
				b[k] = (uint8_t)rnd(s);
			opt(&q, 12, b, (uint8_t)len);
			break;
		case 3:
			put8(&q, 0);
			break;
		case 4:
			len = rnd(s) % 20;
			for (size_t k = 0; k < len; k++)
				b[k] = (uint8_t)rnd(s);
			opt(&q, (uint8_t)rnd(s), b, (uint8_t)len);
			break;
		default:
			opt(&q, 57, "\x02\x40", 2);
			break;
		}
	}
	if (rnd(s) % 2)
		end(&q);
	/* Flip bytes, mostly in the option area. */
	n = rnd(s) % 5;
	for (size_t i = 0; i < n && q.len > 0; i++) {
		size_t at;

		if (rnd(s) % 4 && q.len > 236)
			at = 236 + rnd(s) % (q.len - 236);
		else
			at = rnd(s) % q.len;
		q.buf[at] = (uint8_t)rnd(s);
	}
	/* Sometimes cut it short or append garbage. */
	switch (rnd(s) % 8) {
	case 0:
		q.len = rnd(s) % (q.len + 1);
		break;
	case 1:
		len = rnd(s) % 64;
		for (size_t k = 0; k < len; k++)
			put8(&q, (uint8_t)rnd(s));
		break;
	default:
		break;
	}
}

/* Thousands of mutated messages: nothing crashes, replies stay sane. */
static void
test_fuzz(void **state)
{
	uint64_t seed = 0x5eed5eed12345678ull;
	struct dhcp_msg m;
	struct pkt_info pi;
	uint8_t *fbuf, *out;
	size_t flen, cap;
	int parsed = 0, replied = 0;

	(void)state;
	for (int i = 0; i < 5000; i++) {
		mutate(&seed);
		if (parse_q(&m) == 0)
			parsed++;
		/* Pure noise of every length now and then. */
		if (i % 10 == 0) {
			q.len = rnd(&seed) % 400;
			for (size_t k = 0; k < q.len; k++)
				q.buf[k] = (uint8_t)rnd(&seed);
			(void)parse_q(&m);
		}
		/* Exact-size frame and output buffers: ASan sees overruns. */
		flen = PKT_UDP4_HLEN + q.len;
		fbuf = malloc(flen);
		assert_non_null(fbuf);
		client_frame(q.buf, q.len, mac_a, 0, BCAST, fbuf, flen, &pi);
		cap = rnd(&seed) % 4 ? 1024 : rnd(&seed) % 700;
		out = malloc(cap ? cap : 1);
		assert_non_null(out);
		assert_int_equal(
		    dhcp_handle(&cfg, db, mac_a, &pi, now, out, cap, &res), 0);
		assert_true(res.reply_len <= cap);
		if (res.reply_len > 0) {
			replied++;
			memcpy(rep.frame, out, res.reply_len);
			rep.len = res.reply_len;
			parse_reply();
			assert_memory_equal(rep.pi.eth->dst,
			    rep.pi.ip_dst == BCAST ? bcast_mac : mac_a, 6);
		}
		if (res.bound)
			assert_true(res.ip >= NET(2) && res.ip <= NET(254));
		free(out);
		free(fbuf);
		now += rnd(&seed) % 30;
	}
	/* The generator reached both sides of the parser and the server. */
	assert_true(parsed > 500);
	assert_true(replied > 100);
	assert_int_equal(leasedb_integrity_check(db), 0);
}

/* Runs the tests. */
/* Declines ip (which vm holds) to this server. */
static void
decline_ip(const uint8_t *vm, uint32_t ip)
{
	start(&q, DHCP_DECLINE, vm, 0, 0);
	opt_ip(&q, 54, GATEWAY);
	opt_ip(&q, 50, ip);
	end(&q);
	send_bcast(vm);
}

/*
 * Item 11: a VM's DECLINEs quarantine at most max_declined addresses;
 * beyond it the address is given back at once (the pool is not drained).
 */
static void
test_decline_share(void **state)
{
	uint32_t ip;
	int i;

	(void)state;
	cfg.max_declined = 2;
	for (i = 0; i < 2; i++) {
		ip = bind_vm(mac_a);
		decline_ip(mac_a, ip);
		assert_true(res.unbound);
		assert_false(res.decline_unquarantined);
	}
	/* .2 and .3 rest; .4 is declined past the share and comes back. */
	ip = bind_vm(mac_a);
	assert_int_equal(ip, NET(4));
	decline_ip(mac_a, ip);
	assert_true(res.unbound);
	assert_true(res.decline_unquarantined);
	assert_int_equal(discover(mac_b), NET(4));
}

/* Item 11: the owner's lease quota: no OFFER, a NAK for a REQUEST. */
static void
test_lease_quota(void **state)
{
	(void)state;
	assert_int_equal(leasedb_attach(db, mac_a, "", 1000, now), 0);
	assert_int_equal(leasedb_attach(db, mac_b, "", 1000, now), 0);
	assert_int_equal(leasedb_attach(db, mac_c, "", 1001, now), 0);
	/* mac_b held .50 once: an INIT-REBOOT may ask for it back. */
	assert_int_equal(leasedb_ack(db, mac_b, NET(50), NULL, now, LEASE), 0);
	assert_int_equal(leasedb_release(db, mac_b, NET(50), now), 0);
	cfg.lease_quota = 1;
	assert_int_equal(bind_vm(mac_a), NET(2));
	/* mac_b has the same owner: silence for its DISCOVER, counted. */
	start(&q, DHCP_DISCOVER, mac_b, 0, 0);
	end(&q);
	send_bcast(mac_b);
	assert_int_equal(res.reply_len, 0);
	assert_true(res.over_quota);
	assert_false(res.pool_full);
	/* INIT-REBOOT straight to a REQUEST: NAK. */
	start(&q, DHCP_REQUEST, mac_b, 0, 0);
	opt_ip(&q, 50, NET(50));
	end(&q);
	send_bcast(mac_b);
	assert_nak();
	assert_true(res.over_quota);
	/* Another owner, and the holder's renewal, are unaffected. */
	assert_int_equal(bind_vm(mac_c), NET(3));
	assert_int_equal(bind_vm(mac_a), NET(2));
	/* No quota (root/admin VMs): mac_b is served, its old address. */
	cfg.lease_quota = 0;
	assert_int_equal(bind_vm(mac_b), NET(50));
}

/* dhcp_lease_quota: a quarter of the pool kept back, at least one. */
static void
test_lease_quota_default(void **state)
{
	(void)state;
	/* .2-.254 is 253 addresses: 190 for a user, 63 in reserve. */
	assert_int_equal(dhcp_lease_quota(0, NET(2), NET(254), GATEWAY), 190);
	/* The gateway inside the pool is not an address to lease. */
	assert_int_equal(dhcp_lease_quota(0, NET(1), NET(4), NET(1)), 3);
	assert_int_equal(dhcp_lease_quota(0, NET(2), NET(2), GATEWAY), 1);
	assert_int_equal(dhcp_lease_quota(7, NET(2), NET(254), GATEWAY), 7);
	assert_int_equal(dhcp_lease_quota(0, NET(9), NET(2), GATEWAY), 1);
}

/*
 * Item 12: the VM's bucket is taken after the cheap refusals and before
 * the database: a message over it is dropped (dhcp_rate), nothing written.
 */
static void
test_rate_bucket(void **state)
{
	struct rate_limit lim = {4, 0, 2};
	struct rate r;
	int64_t ev;

	(void)state;
	rate_init(&r, &lim, 0);
	cfg.rate = &r;
	cfg.rate_limit = &lim;
	cfg.now_ns = 0;
	/* Another chaddr: refused as such, the bucket untouched. */
	start(&q, DHCP_DISCOVER, mac_b, 0, 0);
	end(&q);
	send_bcast(mac_a);
	assert_dropped(DROP_DHCP_CHADDR);
	assert_int_equal(discover(mac_a), NET(2));
	assert_int_equal(discover(mac_a), NET(2));
	ev = leasedb_event_count(db);
	start(&q, DHCP_DISCOVER, mac_a, 0, 0);
	end(&q);
	send_bcast(mac_a);
	assert_dropped(DROP_DHCP_RATE);
	assert_int_equal(leasedb_event_count(db), ev);
	/* A quarter second later one more token. */
	cfg.now_ns = 250000000;
	assert_int_equal(discover(mac_a), NET(2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_discover_offer, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_discover_requested, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offer_no_dns, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_selecting_ack, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_request_other_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_init_reboot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_renew_rebind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_decline, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_decline_share, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lease_quota, setup, teardown),
	    cmocka_unit_test(test_lease_quota_default),
	    cmocka_unit_test_setup_teardown(test_rate_bucket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inform, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chaddr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostname, setup, teardown),
	    cmocka_unit_test(test_sanitize),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test(test_parse_ok),
	    cmocka_unit_test_setup_teardown(test_not_dhcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pool_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_renew_extra_options, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_request_other_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fqdn, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_option_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_options_served, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_options_fit, setup, teardown),
	    cmocka_unit_test(test_encode),
	    cmocka_unit_test_setup_teardown(test_fuzz, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
