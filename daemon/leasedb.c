/*
 * Theory of operation: leasedb owns one sqlite3 connection and every SQL
 * statement in softnet. The file is in WAL mode with synchronous=NORMAL, so a
 * commit appends to the log without an fsync and a killed daemon loses at
 * most the last transactions, never consistency. Every statement is prepared
 * once at open and reset before and after each use; every public call that
 * changes more than one row runs inside BEGIN IMMEDIATE ... COMMIT and rolls
 * back on any error, so a failed call leaves the database as it was.
 *
 * Tables (schema version 3, PRAGMA user_version; see migrations[]):
 *   leases      one row per MAC; ip UNIQUE (NULL when none). OFFERED and
 *               BOUND rows hold their address until expires; RELEASED and
 *               EXPIRED rows keep it only as a hint for the MAC's return.
 *   events      append-only history, trimmed to the newest
 *               LEASEDB_MAX_EVENTS rows on every insert (a rowid range
 *               delete, so the cost does not grow with the log).
 *   quarantine  DECLINEd addresses, offered to nobody until `until`, with
 *               the MAC that declined them (schema 2).
 *
 * Tenancy limits (schema 2; the values come from the dhcp config):
 *   - an owner's MACs together hold at most `quota` addresses (offer and
 *     ack refuse a new one beyond it; renewing a held one is never refused),
 *   - one MAC keeps at most `max_declined` addresses in quarantine (a
 *     DECLINE beyond it releases the address without quarantining it),
 *   - leasedb_purge deletes idle rows (none/released/expired) older than the
 *     retention period in bounded batches, skipping MACs the caller keeps,
 *   - leasedb_page reads the table in MAC-keyed pages so no call walks it
 *     all (100k rows: one page of 500 is an index range, well under 5 ms).
 * A DISCOVER from a MAC that already holds an address held for at least
 * half the offer time more is answered from a read: no write transaction.
 *
 * Reservations (issue 14; config dhcp.reservations and `attach --ip`
 * pins, both kept in memory: the config is their home, so they survive
 * restarts without a table): a reserved address may lie outside the pool
 * and is handed only to the MAC or VM name it is reserved for; the lowest
 * free walk skips every reserved address, so a full pool never spills
 * onto one. A VM with a reservation is offered it whenever no live lease
 * of another MAC holds it, and its REQUEST for any other address is
 * refused while the reserved one is free, so it moves there. A lease
 * another MAC held before the reservation existed is never extended: its
 * renewal is refused, the guest moves to a pool address, and from then
 * on (or from the lease's end, if it never renews) the address is the
 * reservation's. The name matched is the one the row was attached with.
 *
 * Invariants: an address is in use when another MAC's row holds it (OFFERED
 * or BOUND and unexpired) or it is quarantined; it is handed out only when
 * not in use, and any other row still naming it as a hint loses it first, so
 * the UNIQUE constraint on ip is a backstop that never fires. The gateway
 * and addresses outside the pool are never handed out.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "addr.h"
#include "leasedb.h"
#include "log.h"
#include "reserve.h"
#include "xmalloc.h"

#define LEASEDB_BUSY_MS 2000 /* wait this long for another writer */
/* "aa:bb:cc:dd:ee:ff" + NUL */
#define MAC_STRLEN ADDR_MAC_STRLEN

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_EVENT_ADD,
	ST_EVENT_TRIM,
	ST_EVENT_COUNT,
	ST_ATTACH,
	ST_ENSURE,
	ST_GET,
	ST_ALL,
	ST_IP_BUSY,
	ST_USED,
	ST_HINT_EVENT,
	ST_HINT_CLEAR,
	ST_HOLD,
	ST_SET_OFFER,
	ST_SET_BOUND,
	ST_RELEASE,
	ST_DECLINE,
	ST_QUARANTINE,
	ST_DETACH,
	ST_EXPIRE_EVENTS,
	ST_EXPIRE,
	ST_QUAR_PURGE,
	ST_INTEGRITY,
	ST_OWNER_HELD,
	ST_QUAR_COUNT,
	ST_PURGE_PICK,
	ST_PURGE_DEL,
	ST_PAGE_ALL,
	ST_PAGE_OWNER,
	ST_SET_CLIENT,
	ST_QUAR_LIST,
	ST_QUAR_LIST_OWNER,
	ST_HELD_COUNTS,
	ST_QUAR_TOTAL,
	ST_COUNT
};

#define LEASE_COLS                                                             \
	"mac, ip, state, name, owner, hostname, granted, expires, client_id, " \
	"domain"
#define HELD "state IN ('offered', 'bound')"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_EVENT_ADD] = "INSERT INTO events (time, mac, ip, kind, detail) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_EVENT_TRIM] = "DELETE FROM events WHERE id <= "
                      "(SELECT max(id) FROM events) - ?1",
    [ST_EVENT_COUNT] = "SELECT count(*) FROM events",
    [ST_ATTACH] = "INSERT INTO leases (mac, state, name, owner, granted) "
                  "VALUES (?1, 'none', ?2, ?3, ?4) ON CONFLICT (mac) DO "
                  "UPDATE SET name = excluded.name, owner = excluded.owner",
    [ST_ENSURE] = "INSERT INTO leases (mac, state, granted) "
                  "VALUES (?1, 'none', ?2) ON CONFLICT (mac) DO NOTHING",
    [ST_GET] = "SELECT " LEASE_COLS " FROM leases WHERE mac = ?1",
    [ST_ALL] = "SELECT " LEASE_COLS " FROM leases ORDER BY ip, mac",
    [ST_IP_BUSY] = "SELECT EXISTS (SELECT 1 FROM leases WHERE ip = ?1 "
                   "AND mac <> ?2 AND " HELD " AND expires > ?3) OR "
                   "EXISTS (SELECT 1 FROM quarantine WHERE ip = ?1 "
                   "AND until > ?3)",
    [ST_USED] = "SELECT ip FROM leases WHERE ip BETWEEN ?1 AND ?2 "
                "AND mac <> ?3 AND " HELD " AND expires > ?4 "
                "UNION SELECT ip FROM quarantine WHERE ip BETWEEN ?1 AND ?2 "
                "AND until > ?4 ORDER BY 1",
    [ST_HINT_EVENT] = "INSERT INTO events (time, mac, ip, kind, detail) "
                      "SELECT ?3, mac, ip, 'expire', 'address reused' "
                      "FROM leases WHERE ip = ?1 AND mac <> ?2 AND " HELD,
    [ST_HINT_CLEAR] = "UPDATE leases SET ip = NULL, "
                      "state = CASE WHEN " HELD " THEN 'expired' "
                      "ELSE state END, "
                      "granted = CASE WHEN " HELD " THEN ?3 "
                      "ELSE granted END, expires = 0 "
                      "WHERE ip = ?1 AND mac <> ?2",
    [ST_HOLD] = "UPDATE leases SET expires = max(expires, ?2) "
                "WHERE mac = ?1",
    [ST_SET_OFFER] = "UPDATE leases SET ip = ?2, state = 'offered', "
                     "granted = ?3, expires = ?4 WHERE mac = ?1",
    [ST_SET_BOUND] = "UPDATE leases SET ip = ?2, state = 'bound', "
                     "granted = ?3, expires = ?4, "
                     "hostname = coalesce(?5, hostname) WHERE mac = ?1",
    [ST_RELEASE] = "UPDATE leases SET state = 'released', expires = 0, "
                   "granted = ?3 WHERE mac = ?1 AND ip = ?2 AND " HELD,
    [ST_DECLINE] = "UPDATE leases SET state = 'released', ip = NULL, "
                   "expires = 0, granted = ?3 "
                   "WHERE mac = ?1 AND ip = ?2 AND " HELD,
    [ST_QUARANTINE] = "INSERT INTO quarantine (ip, until, mac) "
                      "VALUES (?1, ?2, ?3) ON CONFLICT (ip) DO UPDATE SET "
                      "until = max(until, excluded.until), "
                      "mac = excluded.mac",
    [ST_DETACH] = "UPDATE leases SET state = 'released', expires = 0, "
                  "granted = ?2 WHERE mac = ?1 AND " HELD,
    [ST_EXPIRE_EVENTS] = "INSERT INTO events (time, mac, ip, kind, detail) "
                         "SELECT ?1, mac, ip, 'expire', state FROM leases "
                         "WHERE " HELD " AND expires <= ?1 ORDER BY ip, mac",
    [ST_EXPIRE] = "UPDATE leases SET state = 'expired', expires = 0, "
                  "granted = ?1 WHERE " HELD " AND expires <= ?1",
    [ST_QUAR_PURGE] = "DELETE FROM quarantine WHERE until <= ?1",
    [ST_INTEGRITY] = "PRAGMA integrity_check",
    /* Addresses an owner's other MACs hold (leases_owner index). */
    [ST_OWNER_HELD] = "SELECT count(*) FROM leases WHERE owner = ?1 "
                      "AND mac <> ?2 AND " HELD " AND expires > ?3",
    [ST_QUAR_COUNT] = "SELECT count(*) FROM quarantine WHERE mac = ?1 "
                      "AND until > ?2",
    /*
     * Idle rows (leases_idle index). No LIMIT: the caller stops after its
     * batch of deletable rows, so kept (attached) rows never starve it.
     */
    [ST_PURGE_PICK] = "SELECT mac FROM leases WHERE state IN "
                      "('none', 'released', 'expired') AND granted <= ?1",
    [ST_PURGE_DEL] = "DELETE FROM leases WHERE mac = ?1 AND state IN "
                     "('none', 'released', 'expired') AND granted <= ?2",
    /* Keyset pages by MAC: each page is an index range, never a sort. */
    [ST_PAGE_ALL] = "SELECT " LEASE_COLS " FROM leases WHERE mac > ?1 "
                    "ORDER BY mac LIMIT ?2",
    [ST_PAGE_OWNER] = "SELECT " LEASE_COLS " FROM leases WHERE owner = ?3 "
                      "AND mac > ?1 ORDER BY mac LIMIT ?2",
    /* Written only when it changes: a renewal costs no extra write. */
    [ST_SET_CLIENT] = "UPDATE leases SET client_id = ?2, domain = ?3 "
                      "WHERE mac = ?1 AND (client_id IS NOT ?2 "
                      "OR domain IS NOT ?3)",
    [ST_QUAR_LIST] = "SELECT ip, until, mac FROM quarantine "
                     "WHERE until > ?1 ORDER BY ip LIMIT ?2",
    [ST_QUAR_LIST_OWNER] = "SELECT q.ip, q.until, q.mac FROM quarantine q "
                           "WHERE q.until > ?1 AND EXISTS (SELECT 1 FROM "
                           "leases l WHERE l.mac = q.mac AND l.owner = ?3) "
                           "ORDER BY q.ip LIMIT ?2",
    /* The metrics' gauges: index ranges of leases_expiry, no row read. */
    [ST_HELD_COUNTS] = "SELECT state, count(*) FROM leases WHERE " HELD
                       " AND expires > ?1 GROUP BY state",
    [ST_QUAR_TOTAL] = "SELECT count(*) FROM quarantine WHERE until > ?1",
};

struct leasedb {
	sqlite3 *h;
	sqlite3_stmt *st[ST_COUNT];
	uint32_t pool_start;
	uint32_t pool_end;
	uint32_t gateway;
	struct reserve_entry *res; /* config reservations (a copy) */
	size_t nres;
	struct reserve_entry *pins; /* attach --ip: by MAC, while attached */
	size_t npins, cappins;
};

/* Stored text of each state; the index is the enum value. */
static const char *const state_names[] = {
    [LEASE_NONE] = "none",
    [LEASE_OFFERED] = "offered",
    [LEASE_BOUND] = "bound",
    [LEASE_RELEASED] = "released",
    [LEASE_EXPIRED] = "expired",
};
#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))

/* Version 0 -> 1: the initial schema. */
static const char migrate_0_to_1[] =
    "CREATE TABLE leases ("
    " mac TEXT PRIMARY KEY NOT NULL CHECK (length(mac) = 17),"
    " ip INTEGER UNIQUE CHECK (ip BETWEEN 1 AND 4294967295),"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('none', 'offered', 'bound', 'released', 'expired')),"
    " name TEXT NOT NULL DEFAULT '',"
    " owner INTEGER NOT NULL DEFAULT -1,"
    " hostname TEXT NOT NULL DEFAULT '',"
    " granted INTEGER NOT NULL DEFAULT 0,"
    " expires INTEGER NOT NULL DEFAULT 0,"
    " CHECK (state <> 'none' OR ip IS NULL),"
    " CHECK (state NOT IN ('offered', 'bound') OR ip IS NOT NULL));"
    "CREATE INDEX leases_expiry ON leases (state, expires);"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time INTEGER NOT NULL,"
    " mac TEXT NOT NULL,"
    " ip INTEGER,"
    " kind TEXT NOT NULL CHECK (kind IN ('attach', 'detach', 'offer',"
    "  'ack', 'release', 'decline', 'expire')),"
    " detail TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE quarantine ("
    " ip INTEGER PRIMARY KEY CHECK (ip BETWEEN 1 AND 4294967295),"
    " until INTEGER NOT NULL);";

/*
 * Version 1 -> 2: tenancy limits. Quarantined addresses name the MAC that
 * declined them (the per-VM bound counts them); an (owner, mac) index makes
 * the per-uid quota count and a user's `leases` pages index ranges; a
 * (state, granted) index lets the retention sweep find idle rows without
 * scanning the table.
 */
static const char migrate_1_to_2[] =
    "ALTER TABLE quarantine ADD COLUMN mac TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX quarantine_mac ON quarantine (mac, until);"
    "CREATE INDEX leases_owner ON leases (owner, mac);"
    "CREATE INDEX leases_idle ON leases (state, granted);";

/*
 * Version 2 -> 3: what a DHCP client says of itself (issue 14): its client
 * identifier (option 61, hex octets "01:52:54:..", RFC 6842 clients key
 * on it) and the domain of its option 81 name.
 */
static const char migrate_2_to_3[] =
    "ALTER TABLE leases ADD COLUMN client_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE leases ADD COLUMN domain TEXT NOT NULL DEFAULT '';";

/*
 * migrations[v] takes the schema from version v to v + 1; migrate() runs
 * each inside the transaction that reads and sets user_version.
 */
static const char *const migrations[] = {
    migrate_0_to_1,
    migrate_1_to_2,
    migrate_2_to_3,
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Writes an open error into the caller's buffer. */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Logs a database error with sqlite's own message, rate-limited: a
 * failing database fails every DHCP message of every VM, which a guest
 * sends at will.
 */
static void
dberr(struct leasedb *db, const char *what)
{
	static struct log_rl rl;

	log_warnx_rl(&rl, "leasedb: %s: %s", what, sqlite3_errmsg(db->h));
}

/* a + b, clamped instead of overflowing (times come from callers). */
static int64_t
add_sat(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

/* Whether ip may ever be handed out: in the pool and not the gateway. */
static int
addr_usable(const struct leasedb *db, uint32_t ip)
{
	return ip != 0 && ip >= db->pool_start && ip <= db->pool_end &&
	       ip != db->gateway;
}

/* The pin of mac (attach --ip), or NULL. */
static const struct reserve_entry *
pin_of(const struct leasedb *db, const uint8_t mac[6])
{
	size_t i;

	for (i = 0; i < db->npins; i++)
		if (memcmp(db->pins[i].mac, mac, 6) == 0)
			return &db->pins[i];
	return NULL;
}

/* The address fixed for the VM with row l: its pin, else its reservation. */
static uint32_t
fixed_ip(const struct leasedb *db, const struct lease *l)
{
	const struct reserve_entry *e;

	if ((e = pin_of(db, l->mac)) != NULL)
		return e->ip;
	e = reserve_for(db->res, db->nres, l->mac, l->name);
	return e != NULL ? e->ip : 0;
}

/* Whether ip is pinned or reserved for any VM. */
static bool
ip_reserved(const struct leasedb *db, uint32_t ip)
{
	return reserve_by_ip(db->pins, db->npins, ip) != NULL ||
	       reserve_by_ip(db->res, db->nres, ip) != NULL;
}

/*
 * Whether ip may go to the VM with row l: its own fixed address, or a pool
 * address (not the gateway) that is not pinned or reserved for another VM.
 */
static bool
addr_for(const struct leasedb *db, const struct lease *l, uint32_t ip)
{
	const struct reserve_entry *e;

	if (ip == 0)
		return false;
	if (ip == fixed_ip(db, l))
		return true;
	if (!addr_usable(db, ip))
		return false;
	if ((e = reserve_by_ip(db->pins, db->npins, ip)) != NULL &&
	    memcmp(e->mac, l->mac, 6) != 0)
		return false;
	e = reserve_by_ip(db->res, db->nres, ip);
	return e == NULL || reserve_matches(e, l->mac, l->name);
}

/* The stored text form of a MAC. */
static void
mac_text(const uint8_t mac[6], char buf[MAC_STRLEN])
{
	addr_format_mac(mac, buf);
}

/* Parses the stored form back, strictly. 0 ok, -1 malformed. */
static int
mac_parse(const unsigned char *s, int len, uint8_t mac[6])
{
	if (s == NULL || len != MAC_STRLEN - 1)
		return -1;
	return addr_parse_mac((const char *)s, mac);
}

/* Length of s bounded to LEASEDB_NAMELEN - 1, not cutting a UTF-8 char. */
static int
bounded_len(const char *s)
{
	size_t n, k;

	n = strnlen(s, LEASEDB_NAMELEN);
	if (n < LEASEDB_NAMELEN)
		return (int)n;
	n = LEASEDB_NAMELEN - 1;
	/* s[n] is the first byte cut; back off over a split sequence. */
	for (k = n; k > 0 && n - k < 3 && ((unsigned char)s[k] & 0xc0) == 0x80;
	     k--)
		;
	if (((unsigned char)s[k] & 0xc0) == 0xc0 && k < n)
		n = k;
	return (int)n;
}

/* Copies a text column into a NUL-terminated fixed buffer. */
static void
column_str(sqlite3_stmt *s, int col, char out[LEASEDB_NAMELEN])
{
	const unsigned char *t;
	int n;

	t = sqlite3_column_text(s, col);
	n = sqlite3_column_bytes(s, col);
	if (t == NULL || n < 0)
		n = 0;
	if (n > LEASEDB_NAMELEN - 1)
		n = LEASEDB_NAMELEN - 1;
	if (n > 0)
		memcpy(out, t, n);
	out[n] = '\0';
	/* Embedded NULs in a hand-edited file end the string early. */
}

/* Returns statement id, reset and with its bindings cleared. */
static sqlite3_stmt *
stmt(struct leasedb *db, enum stmt_id id)
{
	sqlite3_stmt *s = db->st[id];

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

/* Binds a 64-bit integer; logs and returns -1 on failure. */
static int
bind_i64(struct leasedb *db, sqlite3_stmt *s, int idx, int64_t v)
{
	if (sqlite3_bind_int64(s, idx, v) != SQLITE_OK) {
		dberr(db, "bind");
		return -1;
	}
	return 0;
}

/* Binds an address, NULL for 0. */
static int
bind_ip(struct leasedb *db, sqlite3_stmt *s, int idx, uint32_t ip)
{
	int rc;

	rc = ip == 0 ? sqlite3_bind_null(s, idx)
	             : sqlite3_bind_int64(s, idx, (int64_t)ip);
	if (rc != SQLITE_OK) {
		dberr(db, "bind");
		return -1;
	}
	return 0;
}

/* Binds a MAC in its stored text form. */
static int
bind_mac(struct leasedb *db, sqlite3_stmt *s, int idx, const uint8_t mac[6])
{
	char buf[MAC_STRLEN];

	mac_text(mac, buf);
	if (sqlite3_bind_text(s, idx, buf, MAC_STRLEN - 1, SQLITE_TRANSIENT) !=
	    SQLITE_OK) {
		dberr(db, "bind");
		return -1;
	}
	return 0;
}

/* Binds a name-like string bounded to LEASEDB_NAMELEN - 1; NULL binds NULL. */
static int
bind_name(struct leasedb *db, sqlite3_stmt *s, int idx, const char *str)
{
	int rc;

	if (str == NULL)
		rc = sqlite3_bind_null(s, idx);
	else
		rc = sqlite3_bind_text(
		    s, idx, str, bounded_len(str), SQLITE_TRANSIENT);
	if (rc != SQLITE_OK) {
		dberr(db, "bind");
		return -1;
	}
	return 0;
}

/* Runs a statement that returns no rows. 0 ok, -1 error (logged). */
static int
step_done(struct leasedb *db, sqlite3_stmt *s, const char *what)
{
	int rc;

	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		dberr(db, what);
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

/* Steps a query: 1 row ready, 0 finished, -1 error (logged). */
static int
step_row(struct leasedb *db, sqlite3_stmt *s, const char *what)
{
	int rc;

	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	dberr(db, what);
	sqlite3_reset(s);
	return -1;
}

/* Starts a write transaction (takes the write lock now). */
static int
tx_begin(struct leasedb *db)
{
	return step_done(db, stmt(db, ST_BEGIN), "begin");
}

/* Commits the open transaction; rolls it back if the commit fails. */
static int
tx_commit(struct leasedb *db)
{
	if (step_done(db, stmt(db, ST_COMMIT), "commit") == 0)
		return 0;
	if (!sqlite3_get_autocommit(db->h))
		(void)step_done(db, stmt(db, ST_ROLLBACK), "rollback");
	return -1;
}

/* Abandons the open transaction, if sqlite has not already done so. */
static void
tx_rollback(struct leasedb *db)
{
	int i;

	/* Pending queries would keep the rollback from finishing cleanly. */
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_reset(db->st[i]);
	if (!sqlite3_get_autocommit(db->h))
		(void)step_done(db, stmt(db, ST_ROLLBACK), "rollback");
}

/*
 * Ends the open transaction after a run of steps: failed (any step
 * returned nonzero) rolls it back, else it commits. 0, or -1 when it
 * failed or the commit did.
 */
static int
tx_end(struct leasedb *db, bool failed)
{
	if (!failed)
		return tx_commit(db);
	tx_rollback(db);
	return -1;
}

/* Appends one event and trims the log to its newest LEASEDB_MAX_EVENTS. */
static int
event_add(struct leasedb *db, const uint8_t mac[6], uint32_t ip,
    const char *kind, const char *detail, int64_t now)
{
	sqlite3_stmt *s;

	s = stmt(db, ST_EVENT_ADD);
	if (bind_i64(db, s, 1, now) || bind_mac(db, s, 2, mac) ||
	    bind_ip(db, s, 3, ip) ||
	    sqlite3_bind_text(s, 4, kind, -1, SQLITE_STATIC) != SQLITE_OK ||
	    bind_name(db, s, 5, detail != NULL ? detail : ""))
		return -1;
	if (step_done(db, s, "event insert") == -1)
		return -1;
	return 0;
}

/* Deletes events older than the newest LEASEDB_MAX_EVENTS. */
static int
event_trim(struct leasedb *db)
{
	sqlite3_stmt *s;

	s = stmt(db, ST_EVENT_TRIM);
	if (bind_i64(db, s, 1, LEASEDB_MAX_EVENTS))
		return -1;
	return step_done(db, s, "event trim");
}

/* event_add followed by the trim: the usual way to log. */
static int
event_log(struct leasedb *db, const uint8_t mac[6], uint32_t ip,
    const char *kind, const char *detail, int64_t now)
{
	if (event_add(db, mac, ip, kind, detail, now) == -1)
		return -1;
	return event_trim(db);
}

/* Fills out from the current row of a LEASE_COLS query. 0 ok, -1 bad row. */
static int
row_decode(sqlite3_stmt *s, struct lease *out)
{
	static struct log_rl bad_row_rl; /* read on every DHCP message */
	const unsigned char *t;
	sqlite3_int64 ip;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (mac_parse(sqlite3_column_text(s, 0), sqlite3_column_bytes(s, 0),
	        out->mac) == -1)
		goto bad;
	if (sqlite3_column_type(s, 1) != SQLITE_NULL) {
		ip = sqlite3_column_int64(s, 1);
		if (ip < 1 || ip > UINT32_MAX)
			goto bad;
		out->ip = (uint32_t)ip;
	}
	t = sqlite3_column_text(s, 2);
	for (i = 0; i < NSTATES; i++)
		if (t != NULL && strcmp((const char *)t, state_names[i]) == 0)
			break;
	if (i == NSTATES)
		goto bad;
	out->state = (enum lease_state)i;
	column_str(s, 3, out->name);
	out->owner = sqlite3_column_int64(s, 4);
	column_str(s, 5, out->hostname);
	out->granted = sqlite3_column_int64(s, 6);
	out->expires = sqlite3_column_int64(s, 7);
	t = sqlite3_column_text(s, 8);
	(void)snprintf(out->client_id, sizeof(out->client_id), "%s",
	    t != NULL ? (const char *)t : "");
	t = sqlite3_column_text(s, 9);
	(void)snprintf(out->domain, sizeof(out->domain), "%s",
	    t != NULL ? (const char *)t : "");
	return 0;
bad:
	t = sqlite3_column_text(s, 0);
	log_warnx_rl(&bad_row_rl, "leasedb: malformed lease row (mac %.17s)",
	    t != NULL ? (const char *)t : "?");
	return -1;
}

/* Reads mac's row: 0 found, 1 none, -1 error. */
static int
row_get(struct leasedb *db, const uint8_t mac[6], struct lease *out)
{
	sqlite3_stmt *s;
	int r;

	s = stmt(db, ST_GET);
	if (bind_mac(db, s, 1, mac))
		return -1;
	r = step_row(db, s, "lease lookup");
	if (r == 1)
		r = row_decode(s, out) == 0 ? 0 : -1;
	else if (r == 0)
		r = 1;
	sqlite3_reset(s);
	return r;
}

/* Creates a bare row for mac if it has none. */
static int
row_ensure(struct leasedb *db, const uint8_t mac[6], int64_t now)
{
	sqlite3_stmt *s;

	s = stmt(db, ST_ENSURE);
	if (bind_mac(db, s, 1, mac) || bind_i64(db, s, 2, now))
		return -1;
	return step_done(db, s, "lease insert");
}

/* Whether ip is in use by another MAC or quarantined: 1 yes, 0 no, -1. */
static int
ip_busy(struct leasedb *db, const uint8_t mac[6], uint32_t ip, int64_t now)
{
	sqlite3_stmt *s;
	int r;

	s = stmt(db, ST_IP_BUSY);
	if (bind_ip(db, s, 1, ip) || bind_mac(db, s, 2, mac) ||
	    bind_i64(db, s, 3, now))
		return -1;
	r = step_row(db, s, "address check");
	if (r == 1)
		r = sqlite3_column_int(s, 0) != 0;
	else if (r == 0)
		r = -1; /* EXISTS always yields a row */
	sqlite3_reset(s);
	return r;
}

/*
 * Finds the lowest address of the pool not in use by another MAC: one query
 * returns the used addresses in order and the walk stops at the first gap,
 * so a /16 costs one pass over the used rows. 0 found, 1 full, -1 error.
 */
static int
lowest_free(
    struct leasedb *db, const uint8_t mac[6], int64_t now, uint32_t *out)
{
	sqlite3_stmt *s;
	uint64_t cand, used;
	int r;

	s = stmt(db, ST_USED);
	if (bind_i64(db, s, 1, db->pool_start) ||
	    bind_i64(db, s, 2, db->pool_end) || bind_mac(db, s, 3, mac) ||
	    bind_i64(db, s, 4, now))
		return -1;
	cand = db->pool_start;
	/* Reserved addresses are never dynamic, used or not. */
	while (cand <= db->pool_end &&
	       (cand == db->gateway || ip_reserved(db, (uint32_t)cand)))
		cand++;
	while ((r = step_row(db, s, "used addresses")) == 1) {
		used = (uint64_t)sqlite3_column_int64(s, 0);
		if (used < cand)
			continue;
		if (used > cand)
			break;
		cand = used + 1;
		while (cand <= db->pool_end &&
		       (cand == db->gateway || ip_reserved(db, (uint32_t)cand)))
			cand++;
	}
	sqlite3_reset(s);
	if (r == -1)
		return -1;
	if (cand > db->pool_end)
		return 1;
	*out = (uint32_t)cand;
	return 0;
}

/*
 * Takes ip away from every other row naming it; the caller has checked that
 * none of them holds it. A stale OFFERED/BOUND row (expired, not yet swept)
 * becomes EXPIRED and gets its "expire" event.
 */
static int
clear_hints(struct leasedb *db, const uint8_t mac[6], uint32_t ip, int64_t now)
{
	sqlite3_stmt *s;

	s = stmt(db, ST_HINT_EVENT);
	if (bind_ip(db, s, 1, ip) || bind_mac(db, s, 2, mac) ||
	    bind_i64(db, s, 3, now) || step_done(db, s, "hint event"))
		return -1;
	if (sqlite3_changes(db->h) > 0 && event_trim(db) == -1)
		return -1;
	s = stmt(db, ST_HINT_CLEAR);
	if (bind_ip(db, s, 1, ip) || bind_mac(db, s, 2, mac) ||
	    bind_i64(db, s, 3, now))
		return -1;
	return step_done(db, s, "hint clear");
}

/* Reads one count(*) from a bound statement: the count, or -1. */
static int64_t
count_one(struct leasedb *db, sqlite3_stmt *s, const char *what)
{
	int64_t n = -1;

	if (step_row(db, s, what) == 1)
		n = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return n;
}

/*
 * Whether the owner of row l may take one more address: 0 yes, 1 the
 * owner's other MACs already hold quota (0: no quota), -1 error. A row of
 * unknown owner (-1, never attached) is not counted against anyone.
 */
static int
over_quota(
    struct leasedb *db, const struct lease *l, unsigned quota, int64_t now)
{
	sqlite3_stmt *s;
	int64_t n;

	if (quota == 0 || l->owner < 0)
		return 0;
	s = stmt(db, ST_OWNER_HELD);
	if (bind_i64(db, s, 1, l->owner) || bind_mac(db, s, 2, l->mac) ||
	    bind_i64(db, s, 3, now))
		return -1;
	if ((n = count_one(db, s, "owner quota")) == -1)
		return -1;
	return n >= (int64_t)quota ? 1 : 0;
}

/* Puts sqlite's own message for the last call into err; returns -1. */
static int
open_err(struct leasedb *db, const char *path, char *err, size_t errlen)
{
	seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(db->h));
	return -1;
}

/* Opens (or creates) the file; writers wait LEASEDB_BUSY_MS for a lock. */
static int
open_file(struct leasedb *db, const char *path, char *err, size_t errlen)
{
	int rc;

	rc = sqlite3_open_v2(
	    path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		seterr(err, errlen, "%s: %s", path,
		    db->h != NULL ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
		return -1;
	}
	if (sqlite3_busy_timeout(db->h, LEASEDB_BUSY_MS) != SQLITE_OK)
		return open_err(db, path, err, errlen);
	return 0;
}

/* Switches to WAL with synchronous=NORMAL (the top of the file: why). */
static int
set_journal(struct leasedb *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	const char *mode;
	int rc = -1;

	/* journal_mode answers with the mode in force. */
	if (sqlite3_prepare_v2(
	        db->h, "PRAGMA journal_mode=WAL", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		open_err(db, path, err, errlen);
		goto out;
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	if (mode == NULL ||
	    (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
		seterr(err, errlen, "%s: cannot use WAL journal mode (got %s)",
		    path, mode != NULL ? mode : "nothing");
		goto out;
	}
	if (sqlite3_exec(db->h,
	        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", NULL,
	        NULL, NULL) != SQLITE_OK) {
		open_err(db, path, err, errlen);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	return rc;
}

/* Reads PRAGMA user_version into *version. */
static int
schema_version(struct leasedb *db, const char *path, int *version, char *err,
    size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &s, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		open_err(db, path, err, errlen);
	else {
		*version = sqlite3_column_int(s, 0);
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

/* Runs migrations[version..] and records each new version. */
static int
migrate(
    struct leasedb *db, const char *path, int version, char *err, size_t errlen)
{
	char *emsg = NULL;
	char sql[64];

	for (; version < SCHEMA_VERSION; version++) {
		if (sqlite3_exec(db->h, migrations[version], NULL, NULL,
		        &emsg) != SQLITE_OK) {
			seterr(err, errlen, "%s: migration %d -> %d: %s", path,
			    version, version + 1,
			    emsg != NULL ? emsg : sqlite3_errmsg(db->h));
			sqlite3_free(emsg);
			return -1;
		}
		(void)snprintf(
		    sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
			return open_err(db, path, err, errlen);
	}
	return 0;
}

/*
 * Brings the schema to SCHEMA_VERSION, refusing a newer one. Read and
 * migrated under the write lock: two openers cannot race. The caller
 * rolls back what a failure leaves open.
 */
static int
upgrade_schema(struct leasedb *db, const char *path, char *err, size_t errlen)
{
	int version;

	if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return open_err(db, path, err, errlen);
	if (schema_version(db, path, &version, err, errlen) == -1)
		return -1;
	if (version > SCHEMA_VERSION) {
		seterr(err, errlen,
		    "%s: schema version %d is newer than this softnetd "
		    "understands (%d); refusing to open it",
		    path, version, SCHEMA_VERSION);
		return -1;
	}
	if (version < 0) {
		seterr(err, errlen, "%s: invalid schema version %d", path,
		    version);
		return -1;
	}
	if (migrate(db, path, version, err, errlen) == -1)
		return -1;
	if (sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return open_err(db, path, err, errlen);
	return 0;
}

/* Prepares every statement once, for the life of the connection. */
static int
prepare_all(struct leasedb *db, const char *path, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(db->h, stmt_sql[i], -1,
		        SQLITE_PREPARE_PERSISTENT, &db->st[i],
		        NULL) != SQLITE_OK) {
			seterr(err, errlen, "%s: preparing \"%s\": %s", path,
			    stmt_sql[i], sqlite3_errmsg(db->h));
			return -1;
		}
	}
	return 0;
}

/* Opens (creating or migrating) the database; see leasedb.h. */
struct leasedb *
leasedb_open(const char *path, uint32_t pool_start, uint32_t pool_end,
    uint32_t gateway, char *err, size_t errlen)
{
	struct leasedb *db;

	seterr(err, errlen, "unknown error");
	if (path == NULL) {
		seterr(err, errlen, "no database path");
		return NULL;
	}
	if (pool_start == 0 || pool_start > pool_end) {
		seterr(err, errlen, "invalid address pool");
		return NULL;
	}
	db = xcalloc(1, sizeof(*db));
	db->pool_start = pool_start;
	db->pool_end = pool_end;
	db->gateway = gateway;
	if (open_file(db, path, err, errlen) == -1 ||
	    set_journal(db, path, err, errlen) == -1 ||
	    upgrade_schema(db, path, err, errlen) == -1 ||
	    prepare_all(db, path, err, errlen) == -1) {
		if (db->h != NULL && !sqlite3_get_autocommit(db->h))
			(void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
		leasedb_close(db);
		return NULL;
	}
	return db;
}

/* Names the database file and its WAL companions; see leasedb.h. */
int
leasedb_files(const char *path, char names[LEASEDB_NFILES][PATH_MAX])
{
	static const char *const suffix[LEASEDB_NFILES] = {"", "-wal", "-shm"};
	size_t i;
	int n;

	for (i = 0; i < LEASEDB_NFILES; i++) {
		n = snprintf(names[i], PATH_MAX, "%s%s", path, suffix[i]);
		if (n < 0 || n >= PATH_MAX)
			return -1;
	}
	return 0;
}

/* Finalizes every statement and closes the file (WAL is checkpointed). */
void
leasedb_close(struct leasedb *db)
{
	int i;

	if (db == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	if (db->h != NULL && sqlite3_close(db->h) != SQLITE_OK)
		log_warnx("leasedb: close: %s", sqlite3_errmsg(db->h));
	free(db->res);
	free(db->pins);
	free(db);
}

/* Records an attach: creates or updates mac's row with name and owner. */
int
leasedb_attach(struct leasedb *db, const uint8_t mac[6], const char *name,
    int64_t owner, int64_t now)
{
	sqlite3_stmt *s;

	if (db == NULL || mac == NULL)
		return -1;
	if (name == NULL)
		name = "";
	if (tx_begin(db) == -1)
		return -1;
	s = stmt(db, ST_ATTACH);
	return tx_end(
	    db, bind_mac(db, s, 1, mac) || bind_name(db, s, 2, name) ||
	            bind_i64(db, s, 3, owner) || bind_i64(db, s, 4, now) ||
	            step_done(db, s, "attach") ||
	            event_log(db, mac, 0, "attach", name, now));
}

/*
 * Detach: an OFFERED/BOUND lease becomes RELEASED at once (its address stays
 * as a hint). An unknown MAC is not an error; the event is logged anyway.
 */
int
leasedb_detach(struct leasedb *db, const uint8_t mac[6], int64_t now)
{
	struct lease l;
	sqlite3_stmt *s;
	int r;

	if (db == NULL || mac == NULL)
		return -1;
	leasedb_unpin(db, mac);
	if (tx_begin(db) == -1)
		return -1;
	if ((r = row_get(db, mac, &l)) == 1)
		l.ip = 0;
	s = stmt(db, ST_DETACH);
	return tx_end(db, r == -1 || bind_mac(db, s, 1, mac) ||
	                      bind_i64(db, s, 2, now) ||
	                      step_done(db, s, "detach") ||
	                      event_log(db, mac, l.ip, "detach", "", now));
}

/* leasedb_offer_quota without a quota. */
int
leasedb_offer(struct leasedb *db, const uint8_t mac[6], uint32_t requested,
    int64_t now, int64_t hold, uint32_t *ip)
{
	return leasedb_offer_quota(db, mac, requested, now, hold, 0, ip);
}

/*
 * The read-only answer to a repeated DISCOVER: mac holds a usable address
 * for at least half the hold time more and no one else claims it. 1 with
 * *ip set (nothing to write), 0 when the full path must run, -1 error.
 */
static int
offer_unchanged(struct leasedb *db, const uint8_t mac[6], int64_t now,
    int64_t hold, uint32_t *ip)
{
	struct lease cur;
	int r;

	if ((r = row_get(db, mac, &cur)) != 0)
		return r == 1 ? 0 : -1;
	if ((cur.state != LEASE_OFFERED && cur.state != LEASE_BOUND) ||
	    cur.expires - now <= hold / 2 || !addr_for(db, &cur, cur.ip))
		return 0;
	/* A VM away from its reserved address takes the full path. */
	if (fixed_ip(db, &cur) != 0 && fixed_ip(db, &cur) != cur.ip)
		return 0;
	if ((r = ip_busy(db, mac, cur.ip, now)) != 0)
		return r == 1 ? 0 : -1;
	*ip = cur.ip;
	return 1;
}

/* The address an offer settles on, and why (the event log's detail). */
struct offer_pick {
	uint32_t ip;
	const char *why;
	bool keep; /* the address mac holds now: only the hold is stretched */
};

/* Records the choice; returns 0 (chosen) for offer_choose's tail calls. */
static int
offer_set(struct offer_pick *o, uint32_t ip, const char *why, bool keep)
{
	o->ip = ip;
	o->why = why;
	o->keep = keep;
	return 0;
}

/*
 * Whether ip may go to the MAC of row l now: a usable address no one
 * else holds. 1 yes, 0 no (0.0.0.0: none asked), -1 error.
 */
static int
offer_candidate(
    struct leasedb *db, const struct lease *l, uint32_t ip, int64_t now)
{
	int r;

	if (ip == 0 || !addr_for(db, l, ip))
		return 0;
	if ((r = ip_busy(db, l->mac, ip, now)) == -1)
		return -1;
	return r == 0;
}

/*
 * Chooses the address to offer mac, in leasedb.h's order: the one it
 * holds now, its reserved one, the one it asked for, its previous one,
 * the lowest free. Inside the open transaction (it may add mac's row).
 * 0 chosen into *o, 1 pool full, 2 the owner is over quota, -1 error.
 */
static int
offer_choose(struct leasedb *db, const uint8_t mac[6], uint32_t requested,
    int64_t now, unsigned quota, struct offer_pick *o)
{
	struct lease cur;
	uint32_t fixed;
	bool fixed_free = false;
	int r;

	if (row_ensure(db, mac, now) == -1 || row_get(db, mac, &cur) != 0)
		return -1;
	/* A reserved address no other MAC holds now is this VM's. */
	if ((fixed = fixed_ip(db, &cur)) != 0) {
		if ((r = ip_busy(db, mac, fixed, now)) == -1)
			return -1;
		fixed_free = r == 0;
	}
	/* The address mac holds now: keep it and stretch the hold. */
	if ((cur.state == LEASE_OFFERED || cur.state == LEASE_BOUND) &&
	    cur.expires > now && (!fixed_free || cur.ip == fixed) &&
	    (r = offer_candidate(db, &cur, cur.ip, now)) != 0)
		return r == 1 ? offer_set(o, cur.ip, "current", true) : -1;
	/* The admin granted a reserved address: no quota applies. */
	if (fixed_free)
		return offer_set(o, fixed, "reserved", false);
	/* Past here mac takes a new address: one more for its owner. */
	if ((r = over_quota(db, &cur, quota, now)) != 0)
		return r == 1 ? 2 : -1;
	if ((r = offer_candidate(db, &cur, requested, now)) != 0)
		return r == 1 ? offer_set(o, requested, "requested", false)
		              : -1;
	if ((r = offer_candidate(db, &cur, cur.ip, now)) != 0)
		return r == 1 ? offer_set(o, cur.ip, "previous", false) : -1;
	if ((r = lowest_free(db, mac, now, &o->ip)) != 0)
		return r == 1 ? 1 : -1;
	return offer_set(o, o->ip, "lowest", false);
}

/* Holds the chosen address for mac until `until` and logs the offer. */
static int
offer_hold(struct leasedb *db, const uint8_t mac[6], const struct offer_pick *o,
    int64_t now, int64_t until)
{
	sqlite3_stmt *s;

	if (o->keep) {
		s = stmt(db, ST_HOLD);
		if (bind_mac(db, s, 1, mac) || bind_i64(db, s, 2, until) ||
		    step_done(db, s, "offer hold"))
			return -1;
	} else {
		if (clear_hints(db, mac, o->ip, now) == -1)
			return -1;
		s = stmt(db, ST_SET_OFFER);
		if (bind_mac(db, s, 1, mac) || bind_ip(db, s, 2, o->ip) ||
		    bind_i64(db, s, 3, now) || bind_i64(db, s, 4, until) ||
		    step_done(db, s, "offer"))
			return -1;
	}
	return event_log(db, mac, o->ip, "offer", o->why, now);
}

/* Picks and holds an address for mac; the order is in leasedb.h. */
int
leasedb_offer_quota(struct leasedb *db, const uint8_t mac[6],
    uint32_t requested, int64_t now, int64_t hold, unsigned quota, uint32_t *ip)
{
	struct offer_pick o;
	int r;

	if (db == NULL || mac == NULL || ip == NULL)
		return -1;
	/* A DISCOVER flood for an unchanged offer costs reads only. */
	if ((r = offer_unchanged(db, mac, now, hold, ip)) != 0)
		return r == 1 ? 0 : -1;
	if (tx_begin(db) == -1)
		return -1;
	if ((r = offer_choose(db, mac, requested, now, quota, &o)) != 0 ||
	    offer_hold(db, mac, &o, now, add_sat(now, hold)) == -1) {
		/* A full pool or quota leaves no trace, not even a new row. */
		tx_rollback(db);
		return r > 0 ? r : -1;
	}
	if (tx_commit(db) == -1)
		return -1;
	*ip = o.ip;
	return 0;
}

/*
 * Binds ip to mac when it may: see leasedb.h. A NULL hostname leaves the
 * stored one as it is; "" clears it.
 */
int
leasedb_ack(struct leasedb *db, const uint8_t mac[6], uint32_t ip,
    const char *hostname, int64_t now, int64_t lease_time)
{
	return leasedb_ack_quota(db, mac, ip, hostname, now, lease_time, 0);
}

/* leasedb_ack that also refuses an owner's address beyond quota. */
int
leasedb_ack_quota(struct leasedb *db, const uint8_t mac[6], uint32_t ip,
    const char *hostname, int64_t now, int64_t lease_time, unsigned quota)
{
	struct lease cur;
	sqlite3_stmt *s;
	uint32_t fixed;
	bool found;
	int r;

	if (db == NULL || mac == NULL)
		return -1;
	if (tx_begin(db) == -1)
		return -1;
	if ((r = row_get(db, mac, &cur)) == -1)
		goto fail;
	if ((found = r == 0) == false) {
		memset(&cur, 0, sizeof(cur));
		memcpy(cur.mac, mac, 6);
		cur.owner = -1;
	}
	/*
	 * Another VM's reserved address is refused, and so is any other
	 * address while this VM's own reserved one is free: the NAK sends
	 * it to DISCOVER, which offers the reserved address.
	 */
	if (!addr_for(db, &cur, ip))
		goto refuse;
	fixed = fixed_ip(db, &cur);
	if (fixed != 0 && ip != fixed) {
		if ((r = ip_busy(db, mac, fixed, now)) == -1)
			goto fail;
		if (r == 0)
			goto refuse;
	}
	if ((r = ip_busy(db, mac, ip, now)) == -1)
		goto fail;
	if (r == 1)
		goto refuse;
	/*
	 * An INIT-REBOOT REQUEST skips DISCOVER: the quota is checked here
	 * too, except for a renewal of what mac already holds and for the
	 * address the admin reserved for it.
	 */
	if (found && quota != 0 && ip != fixed &&
	    !((cur.state == LEASE_OFFERED || cur.state == LEASE_BOUND) &&
	        cur.ip == ip && cur.expires > now)) {
		if ((r = over_quota(db, &cur, quota, now)) == -1)
			goto fail;
		if (r == 1) {
			tx_rollback(db);
			return 2;
		}
	}
	if (row_ensure(db, mac, now) == -1 ||
	    clear_hints(db, mac, ip, now) == -1)
		goto fail;
	s = stmt(db, ST_SET_BOUND);
	if (bind_mac(db, s, 1, mac) || bind_ip(db, s, 2, ip) ||
	    bind_i64(db, s, 3, now) ||
	    bind_i64(db, s, 4, add_sat(now, lease_time)) ||
	    bind_name(db, s, 5, hostname) || step_done(db, s, "ack"))
		goto fail;
	if (event_log(db, mac, ip, "ack", hostname, now) == -1)
		goto fail;
	return tx_commit(db);
refuse:
	tx_rollback(db);
	return 1;
fail:
	tx_rollback(db);
	return -1;
}

/*
 * RELEASE: mac gives back ip if its row holds it (OFFERED/BOUND, expired or
 * not: a row still naming ip means no one else took it). ip stays a hint.
 */
int
leasedb_release(
    struct leasedb *db, const uint8_t mac[6], uint32_t ip, int64_t now)
{
	sqlite3_stmt *s;

	if (db == NULL || mac == NULL)
		return -1;
	if (ip == 0)
		return 1;
	if (tx_begin(db) == -1)
		return -1;
	s = stmt(db, ST_RELEASE);
	if (bind_mac(db, s, 1, mac) || bind_ip(db, s, 2, ip) ||
	    bind_i64(db, s, 3, now) || step_done(db, s, "release"))
		goto fail;
	if (sqlite3_changes(db->h) == 0) {
		tx_rollback(db);
		return 1;
	}
	if (event_log(db, mac, ip, "release", "", now) == -1)
		goto fail;
	return tx_commit(db) == 0 ? 0 : -1;
fail:
	tx_rollback(db);
	return -1;
}

/*
 * DECLINE: mac gives back ip without keeping it as a hint (something else
 * answers on it) and ip is quarantined until now + quarantine.
 */
int
leasedb_decline(struct leasedb *db, const uint8_t mac[6], uint32_t ip,
    int64_t now, int64_t quarantine)
{
	return leasedb_decline_bounded(db, mac, ip, now, quarantine, 0);
}

/*
 * DECLINE with at most max_declined (0: no bound) of mac's addresses in
 * quarantine at once: beyond it the address is released but offered again,
 * so one guest cannot take the pool out of service by declining it.
 * 0 quarantined, 1 not held, 2 released without quarantine, -1 error.
 */
int
leasedb_decline_bounded(struct leasedb *db, const uint8_t mac[6], uint32_t ip,
    int64_t now, int64_t quarantine, unsigned max_declined)
{
	char detail[40];
	sqlite3_stmt *s;
	int64_t until, n;
	int rv = 0;

	if (db == NULL || mac == NULL)
		return -1;
	if (ip == 0)
		return 1;
	until = add_sat(now, quarantine);
	if (tx_begin(db) == -1)
		return -1;
	s = stmt(db, ST_DECLINE);
	if (bind_mac(db, s, 1, mac) || bind_ip(db, s, 2, ip) ||
	    bind_i64(db, s, 3, now) || step_done(db, s, "decline"))
		goto fail;
	if (sqlite3_changes(db->h) == 0) {
		tx_rollback(db);
		return 1;
	}
	if (max_declined != 0) {
		s = stmt(db, ST_QUAR_COUNT);
		if (bind_mac(db, s, 1, mac) || bind_i64(db, s, 2, now) ||
		    (n = count_one(db, s, "quarantine count")) == -1)
			goto fail;
		if (n >= (int64_t)max_declined)
			rv = 2;
	}
	if (rv == 0) {
		s = stmt(db, ST_QUARANTINE);
		if (bind_ip(db, s, 1, ip) || bind_i64(db, s, 2, until) ||
		    bind_mac(db, s, 3, mac) || step_done(db, s, "quarantine"))
			goto fail;
		(void)snprintf(detail, sizeof(detail),
		    "quarantined until %" PRId64, until);
	} else
		(void)snprintf(detail, sizeof(detail), "quarantine full");
	if (event_log(db, mac, ip, "decline", detail, now) == -1)
		goto fail;
	return tx_commit(db) == 0 ? rv : -1;
fail:
	tx_rollback(db);
	return -1;
}

/* Sweeps ended leases to EXPIRED and forgets ended quarantines. */
int
leasedb_expire(struct leasedb *db, int64_t now)
{
	sqlite3_stmt *s;
	int n;

	if (db == NULL)
		return -1;
	if (tx_begin(db) == -1)
		return -1;
	s = stmt(db, ST_EXPIRE_EVENTS);
	if (bind_i64(db, s, 1, now) || step_done(db, s, "expire events"))
		goto fail;
	if (sqlite3_changes(db->h) > 0 && event_trim(db) == -1)
		goto fail;
	s = stmt(db, ST_EXPIRE);
	if (bind_i64(db, s, 1, now) || step_done(db, s, "expire"))
		goto fail;
	n = sqlite3_changes(db->h);
	s = stmt(db, ST_QUAR_PURGE);
	if (bind_i64(db, s, 1, now) || step_done(db, s, "quarantine purge"))
		goto fail;
	if (tx_commit(db) == -1)
		return -1;
	return n;
fail:
	tx_rollback(db);
	return -1;
}

/*
 * Forgets mac's row (an admin's `softnetctl leases release`): its address,
 * its hint and its owner go, so the MAC is free for any uid to attach. A
 * one-off statement, prepared here: it runs a few times a day at most.
 */
int
leasedb_forget(struct leasedb *db, const uint8_t mac[6], int64_t now)
{
	sqlite3_stmt *s = NULL;
	struct lease l;
	int r;

	if (db == NULL || mac == NULL)
		return -1;
	if (tx_begin(db) == -1)
		return -1;
	if ((r = row_get(db, mac, &l)) != 0) {
		tx_rollback(db);
		return r;
	}
	if (sqlite3_prepare_v2(db->h, "DELETE FROM leases WHERE mac = ?1", -1,
	        &s, NULL) != SQLITE_OK) {
		dberr(db, "prepare forget");
		goto fail;
	}
	if (bind_mac(db, s, 1, mac) || step_done(db, s, "forget"))
		goto fail;
	sqlite3_finalize(s);
	s = NULL;
	/* The schema's CHECK allows no new kind: a release, detailed. */
	if (event_log(db, mac, l.ip, "release", "forgotten", now) == -1)
		goto fail;
	return tx_commit(db);
fail:
	sqlite3_finalize(s);
	tx_rollback(db);
	return -1;
}

/*
 * Records what mac's DHCP client says of itself: its client id (len raw
 * bytes, stored as hex octets; 0: none) and its FQDN domain ("" none).
 * Writes only when either changed. 0, or -1 on error.
 */
int
leasedb_set_client(struct leasedb *db, const uint8_t mac[6], const uint8_t *id,
    size_t len, const char *domain)
{
	static const char digits[] = "0123456789abcdef";
	char hex[LEASEDB_CLIENTID_LEN];
	sqlite3_stmt *s;
	size_t i, n = 0;

	if (db == NULL || mac == NULL)
		return -1;
	/* "xx" then ":xx" per octet; what does not fit is cut. */
	for (i = 0; id != NULL && i < len && n + 3 < sizeof(hex); i++) {
		if (i > 0)
			hex[n++] = ':';
		hex[n++] = digits[id[i] >> 4];
		hex[n++] = digits[id[i] & 0xf];
	}
	hex[n] = '\0';
	s = stmt(db, ST_SET_CLIENT);
	if (bind_mac(db, s, 1, mac) ||
	    sqlite3_bind_text(s, 2, hex, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    sqlite3_bind_text(s, 3, domain != NULL ? domain : "",
	        (int)strnlen(
	            domain != NULL ? domain : "", LEASEDB_DOMAINLEN - 1),
	        SQLITE_TRANSIENT) != SQLITE_OK ||
	    step_done(db, s, "client id"))
		return -1;
	return 0;
}

/*
 * Reads up to max quarantined addresses whose quarantine has not ended,
 * ordered by address: all of them, or only those declined by MACs of
 * `owner`. Returns the count or -1.
 */
int
leasedb_quarantine_list(struct leasedb *db, int64_t now, bool any_owner,
    int64_t owner, struct leasedb_quarantine *rows, size_t max)
{
	sqlite3_stmt *s;
	sqlite3_int64 ip;
	size_t n = 0;
	int r = 0;

	if (db == NULL || rows == NULL || max > INT32_MAX)
		return -1;
	s = stmt(db, any_owner ? ST_QUAR_LIST : ST_QUAR_LIST_OWNER);
	if (bind_i64(db, s, 1, now) || bind_i64(db, s, 2, (int64_t)max) ||
	    (!any_owner && bind_i64(db, s, 3, owner)))
		return -1;
	while (n < max && (r = step_row(db, s, "quarantine list")) == 1) {
		memset(&rows[n], 0, sizeof(rows[n]));
		ip = sqlite3_column_int64(s, 0);
		if (ip < 1 || ip > UINT32_MAX)
			continue;
		rows[n].ip = (uint32_t)ip;
		rows[n].until = sqlite3_column_int64(s, 1);
		/* A row from before schema 2 names no MAC: all zero. */
		(void)mac_parse(sqlite3_column_text(s, 2),
		    sqlite3_column_bytes(s, 2), rows[n].mac);
		n++;
	}
	sqlite3_reset(s);
	return r == -1 ? -1 : (int)n;
}

/* Looks up mac's row. */
int
leasedb_get(struct leasedb *db, const uint8_t mac[6], struct lease *out)
{
	struct lease l;
	int r;

	if (db == NULL || mac == NULL || out == NULL)
		return -1;
	r = row_get(db, mac, &l);
	if (r == 0)
		*out = l;
	return r;
}

/*
 * Calls cb for every row, ordered by ip (rows without one first) then mac.
 * The rows are read first so cb may call back into leasedb. Returns 0 (also
 * when cb stopped the walk) or -1.
 */
int
leasedb_foreach(
    struct leasedb *db, int (*cb)(const struct lease *l, void *arg), void *arg)
{
	struct lease *rows = NULL;
	sqlite3_stmt *s;
	size_t n = 0, cap = 0, i;
	int r;

	if (db == NULL || cb == NULL)
		return -1;
	s = stmt(db, ST_ALL);
	while ((r = step_row(db, s, "lease list")) == 1) {
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			rows = xreallocarray(rows, cap, sizeof(*rows));
		}
		if (row_decode(s, &rows[n]) == -1) {
			r = -1;
			break;
		}
		n++;
	}
	sqlite3_reset(s);
	if (r == -1) {
		free(rows);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (cb(&rows[i], arg) != 0)
			break;
	free(rows);
	return 0;
}

/*
 * Deletes up to max idle rows (none/released/expired, unchanged since
 * before) whose MAC keep() does not claim. Candidates are read first, then
 * deleted in one transaction, so keep may look at anything. The read
 * stops at max deletable rows: its cost is max plus the kept rows (at most
 * the attached VMs). The count deleted, or -1.
 */
int
leasedb_purge(struct leasedb *db, int64_t before, unsigned max,
    int (*keep)(const uint8_t mac[6], void *arg), void *arg)
{
	uint8_t(*macs)[6] = NULL;
	sqlite3_stmt *s;
	size_t n = 0, i;
	int r = 0, gone = 0;

	if (db == NULL || max == 0)
		return db == NULL ? -1 : 0;
	macs = xreallocarray(NULL, max, sizeof(*macs));
	s = stmt(db, ST_PURGE_PICK);
	if (bind_i64(db, s, 1, before))
		goto fail;
	while (n < max && (r = step_row(db, s, "purge pick")) == 1) {
		if (mac_parse(sqlite3_column_text(s, 0),
		        sqlite3_column_bytes(s, 0), macs[n]) == -1)
			continue;
		if (keep == NULL || keep(macs[n], arg) == 0)
			n++;
	}
	sqlite3_reset(s);
	if (r == -1)
		goto fail;
	if (n == 0) {
		free(macs);
		return 0;
	}
	if (tx_begin(db) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		s = stmt(db, ST_PURGE_DEL);
		if (bind_mac(db, s, 1, macs[i]) || bind_i64(db, s, 2, before) ||
		    step_done(db, s, "purge")) {
			tx_rollback(db);
			goto fail;
		}
		gone += sqlite3_changes(db->h);
	}
	if (tx_commit(db) == -1)
		goto fail;
	free(macs);
	return gone;
fail:
	free(macs);
	return -1;
}

/*
 * One page of rows ordered by MAC, strictly after `after` (NULL: from the
 * start), all owners or only `owner`. Fills up to max rows; the count, or
 * -1. A short page is the last one.
 */
int
leasedb_page(struct leasedb *db, const uint8_t *after, bool any_owner,
    int64_t owner, struct lease *rows, size_t max)
{
	char start[MAC_STRLEN] = "";
	sqlite3_stmt *s;
	size_t n = 0;
	int r = 0;

	if (db == NULL || rows == NULL || max > INT32_MAX)
		return -1;
	if (after != NULL)
		mac_text(after, start);
	s = stmt(db, any_owner ? ST_PAGE_ALL : ST_PAGE_OWNER);
	if (sqlite3_bind_text(s, 1, start, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
	    bind_i64(db, s, 2, (int64_t)max) ||
	    (!any_owner && bind_i64(db, s, 3, owner)))
		return -1;
	while (n < max && (r = step_row(db, s, "lease page")) == 1) {
		if (row_decode(s, &rows[n]) == -1) {
			r = -1;
			break;
		}
		n++;
	}
	sqlite3_reset(s);
	return r == -1 ? -1 : (int)n;
}

/* Number of rows in the event log. */
int64_t
leasedb_event_count(struct leasedb *db)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	if (db == NULL)
		return -1;
	s = stmt(db, ST_EVENT_COUNT);
	if (step_row(db, s, "event count") == 1)
		n = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return n;
}

/* Counts live OFFERED and BOUND rows and quarantined addresses. */
int
leasedb_counts(struct leasedb *db, int64_t now, struct leasedb_counts *c)
{
	const unsigned char *state;
	sqlite3_stmt *s;
	int r;

	memset(c, 0, sizeof(*c));
	if (db == NULL)
		return -1;
	s = stmt(db, ST_HELD_COUNTS);
	sqlite3_bind_int64(s, 1, now);
	while ((r = step_row(db, s, "lease counts")) == 1) {
		state = sqlite3_column_text(s, 0);
		if (state != NULL && strcmp((const char *)state, "bound") == 0)
			c->bound = (uint64_t)sqlite3_column_int64(s, 1);
		else if (state != NULL)
			c->offered = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (r == -1)
		return -1;
	s = stmt(db, ST_QUAR_TOTAL);
	sqlite3_bind_int64(s, 1, now);
	if ((r = step_row(db, s, "quarantine count")) == 1)
		c->quarantined = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return r == -1 ? -1 : 0;
}

/* Runs sqlite's integrity check; anything but a single "ok" fails. */
int
leasedb_integrity_check(struct leasedb *db)
{
	const unsigned char *t;
	sqlite3_stmt *s;
	int r, rv = -1;

	if (db == NULL)
		return -1;
	s = stmt(db, ST_INTEGRITY);
	r = step_row(db, s, "integrity check");
	if (r == 1) {
		t = sqlite3_column_text(s, 0);
		if (t != NULL && strcmp((const char *)t, "ok") == 0)
			rv = 0;
		else
			log_warnx("leasedb: integrity check: %s",
			    t != NULL ? (const char *)t : "no answer");
	}
	sqlite3_reset(s);
	return rv;
}

/* Display name of a state. */
const char *
leasedb_state_name(enum lease_state s)
{
	if ((unsigned)s < NSTATES)
		return state_names[s];
	return "unknown";
}

/* Copies the configured reservations; see leasedb.h. */
void
leasedb_set_reservations(
    struct leasedb *db, const struct reserve_entry *tab, size_t n)
{
	if (db == NULL)
		return;
	free(db->res);
	db->res = NULL;
	db->nres = 0;
	if (tab == NULL || n == 0)
		return;
	db->res = xreallocarray(NULL, n, sizeof(*db->res));
	memcpy(db->res, tab, n * sizeof(*db->res));
	db->nres = n;
}

/* Pins ip to mac for as long as it stays attached; see leasedb.h. */
void
leasedb_pin(struct leasedb *db, const uint8_t mac[6], uint32_t ip)
{
	struct reserve_entry *e;

	if (db == NULL || mac == NULL || ip == 0)
		return;
	leasedb_unpin(db, mac);
	if (db->npins == db->cappins) {
		db->cappins = db->cappins == 0 ? 8 : db->cappins * 2;
		db->pins =
		    xreallocarray(db->pins, db->cappins, sizeof(*db->pins));
	}
	e = &db->pins[db->npins++];
	memset(e, 0, sizeof(*e));
	e->by_mac = true;
	memcpy(e->mac, mac, 6);
	e->ip = ip;
}

/* Drops mac's pin, if any (order does not matter: swap with the last). */
void
leasedb_unpin(struct leasedb *db, const uint8_t mac[6])
{
	size_t i;

	if (db == NULL || mac == NULL)
		return;
	for (i = 0; i < db->npins; i++) {
		if (memcmp(db->pins[i].mac, mac, 6) == 0) {
			db->pins[i] = db->pins[--db->npins];
			return;
		}
	}
}

/* The pins in force (tests, `leases`). */
const struct reserve_entry *
leasedb_pins(struct leasedb *db, size_t *n)
{
	*n = db != NULL ? db->npins : 0;
	return db != NULL ? db->pins : NULL;
}

/* The address fixed for a VM with this MAC and name, or 0. */
uint32_t
leasedb_fixed_ip(struct leasedb *db, const uint8_t mac[6], const char *name)
{
	struct lease l;

	if (db == NULL || mac == NULL)
		return 0;
	memset(&l, 0, sizeof(l));
	memcpy(l.mac, mac, 6);
	if (name != NULL)
		snprintf(l.name, sizeof(l.name), "%s", name);
	return fixed_ip(db, &l);
}

/* addr_for for a VM that may have no row yet. */
bool
leasedb_may_hold(
    struct leasedb *db, const uint8_t mac[6], const char *name, uint32_t ip)
{
	struct lease l;

	if (db == NULL || mac == NULL)
		return false;
	memset(&l, 0, sizeof(l));
	memcpy(l.mac, mac, 6);
	if (name != NULL)
		snprintf(l.name, sizeof(l.name), "%s", name);
	return addr_for(db, &l, ip);
}

/*
 * The row holding ip now (OFFERED/BOUND, unexpired). A one-off statement:
 * it serves `attach --ip` and `leases`, never DHCP. 0 found, 1 none, -1.
 */
int
leasedb_holder(struct leasedb *db, uint32_t ip, int64_t now, struct lease *out)
{
	sqlite3_stmt *s = NULL;
	int r;

	if (db == NULL || out == NULL)
		return -1;
	if (sqlite3_prepare_v2(db->h,
	        "SELECT " LEASE_COLS " FROM leases WHERE ip = ?1 AND " HELD
	        " AND expires > ?2",
	        -1, &s, NULL) != SQLITE_OK) {
		dberr(db, "prepare holder");
		return -1;
	}
	if (bind_ip(db, s, 1, ip) || bind_i64(db, s, 2, now)) {
		sqlite3_finalize(s);
		return -1;
	}
	r = step_row(db, s, "holder");
	if (r == 1)
		r = row_decode(s, out) == 0 ? 0 : -1;
	else if (r == 0)
		r = 1;
	sqlite3_finalize(s);
	return r;
}
