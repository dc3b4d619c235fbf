/*
 * The DNS forwarder on the gateway (issue 14, config "dns"): UDP and TCP
 * port 53 at the gateway address, relaying each VM's queries to the
 * upstream resolvers. The in-flight table is exported for its unit test.
 */
#ifndef SOFTNET_DNSFWD_H
#define SOFTNET_DNSFWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct softnetd;

#define DNSFWD_MAX_PER_VM 64   /* UDP queries in flight per VM */
#define DNSFWD_MAX_TOTAL  1024 /* UDP queries in flight in all */
/* One uid's VMs together (root/admin_group exempt): a quarter of all. */
#define DNSFWD_MAX_PER_USER (DNSFWD_MAX_TOTAL / 4)
/* The last slots, only root's and admin_group's VMs take them. */
#define DNSFWD_ADMIN_RESERVE 64
#define DNSFWD_TIMEOUT       5  /* seconds an unanswered query is kept */
#define DNSFWD_TCP_PER_VM    8  /* TCP connections per VM */
#define DNSFWD_TCP_TOTAL     64 /* TCP connections in all */
#define DNSFWD_TCP_IDLE      10 /* seconds a TCP connection may idle */
#define DNSFWD_TCP_BUF       (65535 + 2) /* one DNS message over TCP */

/* One forwarded UDP query: who asked, and under which id it went out. */
struct dnsfwd_entry {
	uint32_t client_ip; /* host order; 0: the slot is free */
	uint16_t client_port;
	uint16_t client_id; /* the id the VM chose */
	uint16_t fwd_id;    /* the id the forwarder chose (random, unique) */
	uint32_t upstream;  /* host order: the only address that may answer */
	int64_t owner;      /* uid that attached the VM */
	int64_t deadline;
};

/* Who asks: the VM's address and port, its owner, and whether admin. */
struct dnsfwd_asker {
	uint32_t ip; /* host order, not 0 */
	uint16_t port;
	int64_t owner;
	bool admin; /* root/admin_group: no per-user share, takes the reserve */
};

/* The in-flight table: fixed size, no allocation after creation. */
struct dnsfwd_table {
	struct dnsfwd_entry *e;
	size_t cap;        /* slots: the total cap */
	size_t per_client; /* the per-VM cap */
	size_t per_owner;  /* the per-uid cap, for non-admin owners */
	size_t reserve;    /* the last slots, kept for admin owners */
	size_t used;
};

/* Rejection reasons of dnsfwd_table_add. */
enum dnsfwd_add {
	DNSFWD_ADD_OK,
	DNSFWD_ADD_VM_FULL,   /* the VM holds per_client */
	DNSFWD_ADD_USER_FULL, /* its owner's VMs hold per_owner */
	DNSFWD_ADD_RESERVED,  /* only the admin reserve is left */
	DNSFWD_ADD_FULL,      /* no slot at all */
};

/* Counters of the forwarder, for the status reply. */
struct dnsfwd_counters {
	uint64_t in_flight, relayed;
	uint64_t refused_vm, refused_user, refused_reserved, refused_full;
};

/*
 * Creates a table of cap slots allowing per_client per client address,
 * per_owner per non-admin uid, and keeping the last reserve for admins.
 */
void dnsfwd_table_init(struct dnsfwd_table *t, size_t cap, size_t per_client,
    size_t per_owner, size_t reserve);
void dnsfwd_table_free(struct dnsfwd_table *t);
/*
 * Records a query; picks a fresh random id not in flight to upstream and
 * stores it in *fwd_id. Refuses past either cap.
 */
enum dnsfwd_add dnsfwd_table_add(struct dnsfwd_table *t,
    const struct dnsfwd_asker *who, uint16_t client_id, uint32_t upstream,
    int64_t deadline, uint16_t *fwd_id);
/*
 * Takes out the entry an answer from upstream with fwd_id belongs to,
 * copying it to *out; -1 when none (late, spoofed or from elsewhere).
 */
int dnsfwd_table_take(struct dnsfwd_table *t, uint16_t fwd_id,
    uint32_t upstream, struct dnsfwd_entry *out);
/* Drops entries whose deadline is before now; returns how many. */
size_t dnsfwd_table_expire(struct dnsfwd_table *t, int64_t now);
/* Queries in flight for client_ip. */
size_t dnsfwd_table_count(const struct dnsfwd_table *t, uint32_t client_ip);
/*
 * Turns the query of len bytes in buf into a SERVFAIL answer in place:
 * the header and its one question when it parses, else the header alone.
 * Returns the answer's length, never more than len; len >= 12.
 */
size_t dnsfwd_servfail(uint8_t *buf, size_t len);
/* Fills *out; false when the forwarder is off. */
bool dnsfwd_counters(struct dnsfwd_counters *out);

/*
 * Reads up to max nameserver addresses (IPv4, host order) from resolv.conf
 * text; returns the count. Other lines and IPv6 servers are skipped.
 */
size_t dnsfwd_parse_resolv(const char *text, uint32_t *out, size_t max);

/*
 * Opens the listeners on the gateway when cfg.dns.forward is set (after
 * the uplink is up, before privileges are dropped). A listener that
 * cannot be opened is logged and the daemon runs without the forwarder.
 */
void dnsfwd_init(struct softnetd *sd);
void dnsfwd_shutdown(struct softnetd *sd);

#endif
