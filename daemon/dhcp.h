/*
 * The DHCP server inside softnetd (RFC 2131/2132), answering as the gateway
 * for attached VMs only. The lease database decides addresses; this module
 * parses client messages, runs the protocol and builds reply frames. It does
 * no I/O: the caller hands it one parsed frame from a VM and writes back the
 * frame it builds.
 */
#ifndef SOFTNET_DHCP_H
#define SOFTNET_DHCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drop.h"
#include "leasedb.h"
#include "pkt.h"
#include "rate.h"

/* Message types (option 53). */
enum dhcp_type {
	DHCP_DISCOVER = 1,
	DHCP_OFFER = 2,
	DHCP_REQUEST = 3,
	DHCP_DECLINE = 4,
	DHCP_ACK = 5,
	DHCP_NAK = 6,
	DHCP_RELEASE = 7,
	DHCP_INFORM = 8,
};
/* Message types 0 (none) to DHCP_INFORM: the metrics count by type. */
#define DHCP_TYPE__COUNT 9

#define DHCP_HOSTNAME_LEN  64  /* sanitized option 12, NUL included */
#define DHCP_OFFER_HOLD    60  /* seconds an OFFERed address is held */
#define DHCP_QUARANTINE    600 /* seconds a DECLINEd address rests */
#define DHCP_MAX_DNS       16  /* DNS servers a reply carries (option 6) */
#define DHCP_CLIENT_ID_MAX 128 /* option 61 bytes kept; longer: not echoed */
#define DHCP_DOMAIN_LEN    254 /* a domain name as text, NUL included */
#define DHCP_OPT_MAX       255 /* one option's value */

/* A client message, parsed and bounds-checked; addresses host order. */
struct dhcp_msg {
	uint8_t op, htype, hlen;
	uint32_t xid;   /* network order, echoed as is */
	uint16_t flags; /* host order; 0x8000 = broadcast */
	uint32_t ciaddr, yiaddr, siaddr, giaddr;
	uint8_t chaddr[16];
	enum dhcp_type type;   /* option 53; 0 when absent (BOOTP) */
	bool has_requested_ip; /* option 50 */
	uint32_t requested_ip;
	bool has_server_id; /* option 54 */
	uint32_t server_id;
	char hostname[DHCP_HOSTNAME_LEN]; /* option 12, sanitized, or "" */
	uint16_t max_size;                /* option 57, 0 when absent */
	/* Option 61 as sent (RFC 6842 echoes it), 0 when absent. */
	uint8_t client_id_len;
	uint8_t client_id[DHCP_CLIENT_ID_MAX];
	/* Option 81 (RFC 4702): the name's first label and the rest. */
	char fqdn_host[DHCP_HOSTNAME_LEN];
	char fqdn_domain[DHCP_DOMAIN_LEN];
	uint8_t prl[32];      /* option 55 as a bitmap of requested codes */
	unsigned bad_options; /* options of a wrong length, ignored */
};

/*
 * Parses a BOOTP/DHCP message (the UDP payload). Returns 0, or -1 when it is
 * not a well-formed BOOTREQUEST with the magic cookie and a sane option
 * area (every option's length inside the packet, known options of exactly
 * their length).
 */
int dhcp_parse(const uint8_t *p, size_t len, struct dhcp_msg *m);

/* What the server hands out. */
struct dhcp_config {
	uint32_t gateway; /* server identifier and router */
	uint32_t netmask;
	const uint32_t *dns;
	size_t ndns;
	uint16_t mtu; /* option 26 */
	/*
	 * Optional, "" / 0 when not configured: option 15 (text), option
	 * 119 (RFC 3397, already encoded) and the configured routes of
	 * option 121 (RFC 3442, already encoded; the default route via the
	 * gateway is appended here, as RFC 3442 requires).
	 */
	const char *domain;
	const uint8_t *search;
	size_t search_len;
	const uint8_t *routes;
	size_t routes_len;
	uint32_t lease_time;              /* seconds; T1 = 1/2, T2 = 7/8 */
	uint8_t server_mac[PKT_ETH_ALEN]; /* source MAC of replies */
	/*
	 * Per-caller limits (0: none). lease_quota: addresses the VM's owner
	 * may hold together (the caller passes 0 for root/admin VMs).
	 * max_declined: addresses this VM may keep quarantined.
	 */
	unsigned lease_quota;
	unsigned max_declined;
	/*
	 * The VM's DHCP message bucket (NULL: no limit), taken once a
	 * message is well formed and the VM's own, before any database
	 * work; an empty bucket drops it (DROP_DHCP_RATE).
	 */
	struct rate *rate;
	const struct rate_limit *rate_limit;
	uint64_t now_ns; /* the bucket's clock */
};

/* What handling one message did to the VM's address. */
struct dhcp_result {
	size_t reply_len; /* bytes of reply frame in out, 0: none */
	/*
	 * The VM's binding in the lease database after this message, read
	 * back from it (settle() in dhcp.c) whenever the message could have
	 * changed it, so the port and the database never disagree: bound,
	 * the VM holds `ip` until `expires`; unbound, it holds nothing;
	 * neither, unchanged.
	 */
	bool bound;
	bool unbound;
	uint32_t ip;
	int64_t expires;
	bool acked;    /* an ACK with a lease went out */
	bool declined; /* a DECLINE of `declined_ip` was taken */
	uint32_t declined_ip;
	unsigned bad_options;  /* malformed options ignored */
	enum drop_reason drop; /* when dropped without reply */
	bool dropped;
	bool pool_full;  /* a DISCOVER found no free address */
	bool over_quota; /* refused: the owner holds its lease quota */
	bool decline_unquarantined; /* the VM's quarantine share was full */
	/* For the metrics: option 53 of the message (0: unparsed or BOOTP)
	 * and of the reply when one went out (issue #16). */
	enum dhcp_type msg_type;
	enum dhcp_type reply_type;
};

/*
 * Handles one DHCP client frame (verdict FILTER_DHCP from the filter) sent
 * by the VM with MAC vm_mac. chaddr must equal vm_mac (else dropped,
 * DROP_DHCP_CHADDR). Writes the reply frame (Ethernet/IPv4/UDP, to the
 * VM) into out and fills *res. Returns 0, or -1 on a lease database error
 * (no reply).
 */
int dhcp_handle(const struct dhcp_config *cfg, struct leasedb *db,
    const uint8_t vm_mac[PKT_ETH_ALEN], const struct pkt_info *pi, int64_t now,
    uint8_t *out, size_t cap, struct dhcp_result *res);

/*
 * The per-uid lease quota in force: `configured` when nonzero, else the
 * pool (gateway excluded) less a quarter kept for root and admin VMs, and
 * at least 1.
 */
unsigned dhcp_lease_quota(
    unsigned configured, uint32_t pool_start, uint32_t pool_end, uint32_t gw);

/* Copies a client string keeping [A-Za-z0-9._-], other bytes become '_'. */
void dhcp_sanitize(char *dst, size_t dstlen, const uint8_t *src, size_t srclen);

/*
 * Whether s is a domain name softnet serves: dot-separated labels of 1..63
 * letters, digits, '-' or '_', 253 characters at most (one trailing dot
 * allowed).
 */
bool dhcp_domain_valid(const char *s);

/*
 * Appends domain name s in DNS wire form (RFC 1035 3.1, no compression) to
 * out[*len..cap). 0, or -1 when s is not valid or does not fit.
 */
int dhcp_encode_domain(const char *s, uint8_t *out, size_t cap, size_t *len);

/*
 * Appends one classless route (RFC 3442 3: prefix length, the significant
 * octets of the destination, the router) to out[*len..cap). 0, or -1 when
 * it does not fit or plen > 32.
 */
int dhcp_encode_route(uint32_t dest, unsigned plen, uint32_t via, uint8_t *out,
    size_t cap, size_t *len);

#endif
