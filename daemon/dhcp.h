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

#include "filter.h"
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

#define DHCP_HOSTNAME_LEN 64  /* sanitized option 12, NUL included */
#define DHCP_OFFER_HOLD   60  /* seconds an OFFERed address is held */
#define DHCP_QUARANTINE   600 /* seconds a DECLINEd address rests */
#define DHCP_MAX_DNS      16  /* DNS servers a reply carries (option 6) */

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
	uint16_t mtu;                     /* option 26 */
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
	 * work; an empty bucket drops it (FILTER_R_DHCP_RATE).
	 */
	struct rate *rate;
	const struct rate_limit *rate_limit;
	uint64_t now_ns; /* the bucket's clock */
};

/* What handling one message did to the VM's address. */
struct dhcp_result {
	size_t reply_len; /* bytes of reply frame in out, 0: none */
	bool bound;       /* the VM now holds `ip` (ACK) */
	bool unbound;     /* the VM holds nothing now (RELEASE...) */
	uint32_t ip;
	enum filter_reason drop; /* when dropped without reply */
	bool dropped;
	bool pool_full;  /* a DISCOVER found no free address */
	bool over_quota; /* refused: the owner holds its lease quota */
	bool decline_unquarantined; /* the VM's quarantine share was full */
};

/*
 * Handles one DHCP client frame (verdict FILTER_DHCP from the filter) sent
 * by the VM with MAC vm_mac. chaddr must equal vm_mac (else dropped,
 * FILTER_R_DHCP_CHADDR). Writes the reply frame (Ethernet/IPv4/UDP, to the
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

#endif
