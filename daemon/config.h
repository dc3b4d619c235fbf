/*
 * softnetd configuration: one JSON file, every key optional. An unknown key
 * or a value of the wrong type or range is an error naming the key and the
 * file. The defaults are the contract in DESIGN.md.
 */
#ifndef SOFTNET_CONFIG_H
#define SOFTNET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rate.h"
#include "reserve.h"

#define CONFIG_MAX_DNS 4
#define CONFIG_ERRLEN  512

enum uplink_type { UPLINK_TAP, UPLINK_VMNET };
enum uplink_mode { UPLINK_MODE_SHARED, UPLINK_MODE_HOST };

#define CONFIG_DOMAIN_LEN 254 /* dhcp.domain, NUL included */

struct config {
	char *socket;        /* control socket path */
	char *socket_group;  /* group of the control socket (mode 0660) */
	char *admin_group;   /* members act on every VM, as root does */
	char *database;      /* lease database path */
	char *user;          /* drop to this user after setup; NULL: stay */
	char *bootpd_leases; /* bootpd lease file to mirror into, or NULL */
	unsigned max_vms;    /* 1..65535 */
	unsigned max_vms_per_user; /* attachments per non-admin uid */
	unsigned max_connections;  /* control connections at once */
	/*
	 * Control and exposure limits (issue 13 items 7-10; defaults in
	 * config_defaults). max_connections_per_user: connections one
	 * non-admin uid may hold (320: one session per VM of
	 * max_vms_per_user, and some to spare). admin_reserved_connections:
	 * connections (and their descriptors) only root/admin_group may
	 * take (32). client_timeout: seconds a connection may go without
	 * completing its first request, hold a partial line or descriptors,
	 * or leave a reply unread before it is closed (10).
	 * max_reply_bytes: unread replies held for all connections
	 * together; past it a non-admin request gets "busy" (64 MiB; one
	 * connection holds at most one unread reply). max_proxied_*:
	 * proxied exposed-port connections in total (1024) and per VM
	 * (256), each also capped by the descriptor budget (fdbudget.c).
	 */
	unsigned max_connections_per_user;
	unsigned admin_reserved_connections;
	unsigned client_timeout;
	unsigned max_reply_bytes;
	unsigned max_proxied_connections;
	unsigned max_proxied_per_vm;
	/* Seconds an --expose udp: client mapping lives unused (60). */
	unsigned expose_udp_idle;
	/*
	 * Event stream subscribers (events.c): all together (32, the last
	 * EVENTS_ADMIN_RESERVE of them for root/admin_group) and per
	 * non-admin uid (4).
	 */
	unsigned max_event_subscribers;
	unsigned max_event_subscribers_per_user;
	/*
	 * Packet captures running at once (8; the last one is kept for
	 * root and admin_group) and per non-admin uid (2).
	 */
	unsigned max_captures;
	unsigned max_captures_per_user;
	/* socket_group was in the file, not defaulted (control_init). */
	bool socket_group_set;
	struct {
		enum uplink_type type;
		enum uplink_mode mode; /* vmnet only */
		char *name;            /* tap device name (<= 15 bytes) */
		/*
		 * Host order. have_addrs is always true now: a vmnet uplink
		 * naming none of them gets the platform's pinned subnet.
		 */
		bool have_addrs;
		uint32_t gateway;
		uint32_t netmask;
		uint32_t pool_start;
		uint32_t pool_end;
		unsigned mtu;    /* 576..9000 */
		bool no_offload; /* not a file key: -B, one frame per read */
	} uplink;
	struct {
		unsigned lease_time; /* seconds, 60..86400*7 */
		uint32_t dns[CONFIG_MAX_DNS];
		size_t ndns; /* default: one entry, the gateway */
		/*
		 * Tenancy limits (issue 13 items 11-13). max_leases_per_user:
		 * addresses one non-admin uid may hold; 0 (default) means the
		 * pool less a quarter kept for root/admin (main.c resolves
		 * it, and max_vms_per_user is clamped to it). rate/burst: DHCP
		 * messages per second per VM before any database work (4, 8).
		 * max_declined: addresses one VM may hold in quarantine (4).
		 * lease_retention: seconds a released/expired row of a
		 * detached MAC is kept before it is purged (7 days).
		 */
		unsigned max_leases_per_user;
		unsigned rate;
		unsigned burst;
		unsigned max_declined;
		unsigned lease_retention;
		/*
		 * dhcp.reservations (issue 14): fixed addresses by MAC or VM
		 * name, validated against the subnet (unique keys and
		 * addresses, a host of the subnet, not the gateway; inside
		 * or outside the pool). NULL when none.
		 */
		struct reserve_entry *reservations;
		size_t nreservations;
		/*
		 * What the macOS client asks for (issue 14 item 8), ""/0
		 * when unset: domain (option 15), search (option 119, kept
		 * DNS-encoded) and routes (option 121, kept RFC 3442
		 * encoded; dhcp.c appends the default route).
		 */
		char domain[CONFIG_DOMAIN_LEN];
		uint8_t search[255];
		size_t search_len;
		uint8_t routes[250];
		size_t routes_len;
	} dhcp;
	/*
	 * dns (issue 14, dnsfwd.c): forward, the forwarder on the gateway's
	 * port 53, defaults to on where the uplink is a TAP (Linux: nothing
	 * else answers on the gateway) and off on vmnet (mDNSResponder does).
	 * upstream: where queries go; none (0) means the nameservers of
	 * /etc/resolv.conf, read at start.
	 */
	struct {
		bool forward;
		uint32_t upstream[CONFIG_MAX_DNS];
		size_t nupstream;
	} dns;
	struct policy default_policy;
	/* Prometheus endpoint (issue #16; metrics_http.c). */
	struct {
		char *listen; /* NULL: off; "/path" or "IPv4:PORT" */
		bool allow_remote;
		bool per_vm; /* TCP: every VM's series to whoever connects */
	} metrics;
	struct {
		struct rate_limit tx; /* frames the VM sends */
		struct rate_limit rx; /* frames delivered to the VM */
	} vm_limits;
};

/* Fills cfg with the defaults for this platform. */
void config_defaults(struct config *cfg);
/*
 * Loads path over the defaults. On error returns -1 with a one-line message
 * in err ("PATH: key uplink.mtu: expected an integer 576..9000") and cfg
 * freed.
 */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
/* Loads from a string (tests, fuzzing); name is used in messages. */
int config_load_string(const char *text, const char *name, struct config *cfg,
    char *err, size_t errlen);
void config_free(struct config *cfg);
/* Splits metrics.listen's "A.B.C.D:PORT" (host byte order); 0 or -1. */
int config_metrics_addr(const char *s, uint32_t *ip, uint16_t *port);

#endif
