/*
 * Lease database: the one owner of the sqlite3 file that records which MAC
 * holds which IPv4 address. Every SQL statement in softnet lives in
 * leasedb.c. Times are unix seconds (wall clock: leases outlive restarts).
 * Addresses are host byte order. All calls are made from the event loop
 * thread; none of them blocks for long (WAL, synchronous=NORMAL).
 */
#ifndef SOFTNET_LEASEDB_H
#define SOFTNET_LEASEDB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LEASEDB_NAMELEN      64    /* VM name and hostname, NUL included */
#define LEASEDB_MAX_EVENTS   10000 /* the event log keeps the newest rows */
#define LEASEDB_CLIENTID_LEN 385   /* 128 octets as "01:ab:..", NUL included */
#define LEASEDB_DOMAINLEN    254   /* option 81 domain, NUL included */

enum lease_state {
	LEASE_NONE = 0, /* a known MAC without an address */
	LEASE_OFFERED,  /* held for the MAC until expires (short) */
	LEASE_BOUND,    /* acknowledged; valid until expires */
	LEASE_RELEASED, /* given back (RELEASE, detach); ip is a hint only */
	LEASE_EXPIRED,  /* ran out; ip is a hint only */
};

struct lease {
	uint8_t mac[6];
	uint32_t ip; /* 0 when the row holds no address */
	enum lease_state state;
	char name[LEASEDB_NAMELEN];     /* VM name given at attach, or "" */
	char hostname[LEASEDB_NAMELEN]; /* DHCP option 12, sanitized, or "" */
	int64_t owner;   /* uid that attached the VM, -1 unknown */
	int64_t granted; /* when the state was last set */
	int64_t expires; /* OFFERED/BOUND: end; others 0 */
	char client_id[LEASEDB_CLIENTID_LEN]; /* option 61 as hex, or "" */
	char domain[LEASEDB_DOMAINLEN];       /* option 81 domain, or "" */
};

/* A DECLINEd address resting in quarantine. */
struct leasedb_quarantine {
	uint32_t ip;
	int64_t until;  /* offered to nobody before this */
	uint8_t mac[6]; /* the MAC that declined it (zero: unknown) */
};

struct leasedb;

/*
 * Opens (creating or migrating) the database at path (":memory:" works for
 * tests). Addresses outside [pool_start, pool_end] and the gateway are never
 * handed out, except a reserved address to its own VM (see below). Returns NULL
 * with a message in err on failure.
 */
struct leasedb *leasedb_open(const char *path, uint32_t pool_start,
    uint32_t pool_end, uint32_t gateway, char *err, size_t errlen);
void leasedb_close(struct leasedb *db);

/*
 * The files a database at path is made of, written into names: path
 * itself, then sqlite's WAL companions path-wal and path-shm. Whoever
 * guards or hands over the database (main.c: no symbolic links, owned
 * by the daemon's user) goes through these. 0, or -1 when a name would
 * not fit in PATH_MAX (nothing sensible to check then).
 */
#define LEASEDB_NFILES 3
int leasedb_files(const char *path, char names[LEASEDB_NFILES][PATH_MAX]);

/* Records that mac was attached by owner under name (event "attach"). */
int leasedb_attach(struct leasedb *db, const uint8_t mac[6], const char *name,
    int64_t owner, int64_t now);
/* Releases mac's address at once (event "detach"). */
int leasedb_detach(struct leasedb *db, const uint8_t mac[6], int64_t now);

/*
 * Picks an address for mac and holds it as OFFERED until now + hold:
 * the address mac holds now (BOUND/OFFERED and unexpired); else `requested`
 * if nonzero, in the pool and free; else mac's previous address if free;
 * else the lowest free address. Returns 0 with *ip set, 1 when the pool is
 * full, -1 on a database error.
 */
int leasedb_offer(struct leasedb *db, const uint8_t mac[6], uint32_t requested,
    int64_t now, int64_t hold, uint32_t *ip);
/*
 * leasedb_offer for a MAC whose owner may hold at most quota addresses (0:
 * no quota); 2 when taking a new one would exceed it (nothing changes). A
 * MAC that holds an address keeps it whatever the quota. A repeated
 * DISCOVER for a held address answers from reads alone.
 */
int leasedb_offer_quota(struct leasedb *db, const uint8_t mac[6],
    uint32_t requested, int64_t now, int64_t hold, unsigned quota,
    uint32_t *ip);

/*
 * Binds ip to mac until now + lease_time (event "ack") if ip is in the pool,
 * not the gateway, not quarantined and not held by another MAC (BOUND or
 * OFFERED and unexpired). Returns 0 when bound, 1 when refused (the caller
 * NAKs), -1 on a database error.
 */
int leasedb_ack(struct leasedb *db, const uint8_t mac[6], uint32_t ip,
    const char *hostname, int64_t now, int64_t lease_time);
/* leasedb_ack with the owner quota of leasedb_offer_quota: 2 over it. */
int leasedb_ack_quota(struct leasedb *db, const uint8_t mac[6], uint32_t ip,
    const char *hostname, int64_t now, int64_t lease_time, unsigned quota);

/* RELEASE: gives back ip if mac holds it. 0 released, 1 not held, -1 error. */
int leasedb_release(
    struct leasedb *db, const uint8_t mac[6], uint32_t ip, int64_t now);

/*
 * DECLINE: the client found ip in use. The address is released by mac and
 * quarantined (offered to nobody) until now + quarantine. 0 ok, 1 mac did
 * not hold ip (nothing changed), -1 error.
 */
int leasedb_decline(struct leasedb *db, const uint8_t mac[6], uint32_t ip,
    int64_t now, int64_t quarantine);
/*
 * leasedb_decline keeping at most max_declined (0: unbounded) of mac's
 * addresses quarantined: beyond it the address is released without
 * quarantine and 2 is returned.
 */
int leasedb_decline_bounded(struct leasedb *db, const uint8_t mac[6],
    uint32_t ip, int64_t now, int64_t quarantine, unsigned max_declined);

/*
 * Marks every OFFERED/BOUND row whose expiry is <= now EXPIRED (event
 * "expire") and forgets ended quarantines. Returns how many leases expired,
 * or -1.
 */
int leasedb_expire(struct leasedb *db, int64_t now);

/*
 * Deletes mac's row (event "release", detail "forgotten"): the MAC's
 * address and its owner are forgotten, so any uid may attach it next.
 * 0 done, 1 unknown, -1 error.
 */
int leasedb_forget(struct leasedb *db, const uint8_t mac[6], int64_t now);

/*
 * Records mac's DHCP client id (len raw octets, stored as hex; 0: none)
 * and FQDN domain ("" none); writes only on a change. 0 or -1.
 */
int leasedb_set_client(struct leasedb *db, const uint8_t mac[6],
    const uint8_t *id, size_t len, const char *domain);

/*
 * Reads up to max addresses still in quarantine, by address: all, or only
 * those declined by MACs whose owner is `owner`. The count, or -1.
 */
int leasedb_quarantine_list(struct leasedb *db, int64_t now, bool any_owner,
    int64_t owner, struct leasedb_quarantine *rows, size_t max);

/* Looks up mac. 0 found (*out filled), 1 unknown, -1 error. */
int leasedb_get(struct leasedb *db, const uint8_t mac[6], struct lease *out);

/* Calls cb for every row, ordered by ip then mac; stops early if cb != 0. */
int leasedb_foreach(
    struct leasedb *db, int (*cb)(const struct lease *l, void *arg), void *arg);

/*
 * Deletes up to max rows that are idle (none, released or expired) and
 * last changed at or before `before`, except MACs for which keep (may be
 * NULL) returns nonzero (attached VMs). Returns how many went, or -1.
 */
int leasedb_purge(struct leasedb *db, int64_t before, unsigned max,
    int (*keep)(const uint8_t mac[6], void *arg), void *arg);

/*
 * Reads one page of at most max rows ordered by MAC, after the MAC `after`
 * (NULL: first page), of every owner or only of `owner`. Returns the count
 * (fewer than max: the last page) or -1. Each page is one index range.
 */
int leasedb_page(struct leasedb *db, const uint8_t *after, bool any_owner,
    int64_t owner, struct lease *rows, size_t max);

/*
 * Reservations (issue 14). The configured table is copied (config
 * dhcp.reservations, validated there). A pin (`attach --ip`) fixes ip for
 * mac until leasedb_unpin or leasedb_detach; the caller checks first that
 * no one else holds or reserves ip. A VM's fixed address is its pin, else
 * its MAC reservation, else the reservation of the name its row was
 * attached with. Offers and ACKs hand a fixed address only to its VM (in
 * or outside the pool), never give a reserved address out dynamically,
 * and move a VM to its fixed address as soon as no live lease of another
 * MAC holds it (leasedb.c's theory of operation).
 */
struct reserve_entry;
void leasedb_set_reservations(
    struct leasedb *db, const struct reserve_entry *tab, size_t n);
void leasedb_pin(struct leasedb *db, const uint8_t mac[6], uint32_t ip);
void leasedb_unpin(struct leasedb *db, const uint8_t mac[6]);
const struct reserve_entry *leasedb_pins(struct leasedb *db, size_t *n);
/* The address fixed for a VM with this MAC and name (NULL: none), or 0. */
uint32_t leasedb_fixed_ip(
    struct leasedb *db, const uint8_t mac[6], const char *name);
/* Whether the VM with this MAC and name may hold ip now (pool, fixed). */
bool leasedb_may_hold(
    struct leasedb *db, const uint8_t mac[6], const char *name, uint32_t ip);
/* The row holding ip now (OFFERED/BOUND, unexpired): 0, 1 none, -1 error. */
int leasedb_holder(
    struct leasedb *db, uint32_t ip, int64_t now, struct lease *out);

/* Counts rows in the event log (tests and status). -1 on error. */
int64_t leasedb_event_count(struct leasedb *db);

/* Addresses held now (unexpired) and in quarantine (the metrics). */
struct leasedb_counts {
	uint64_t offered, bound, quarantined;
};
/* Fills c with count queries on indexes, no table scan: 0, or -1. */
int leasedb_counts(struct leasedb *db, int64_t now, struct leasedb_counts *c);

/* PRAGMA integrity_check: 0 when "ok", -1 otherwise. */
int leasedb_integrity_check(struct leasedb *db);

/* "offered", "bound", ... for output; never NULL. */
const char *leasedb_state_name(enum lease_state s);

#endif
