/*
 * Theory of operation: the control server accepts clients on a Unix stream
 * socket and reads newline-terminated JSON requests, each answered by one
 * JSON line. Requests are handled synchronously on the event loop.
 *
 * File descriptors: a client sends a request's fd on the same sendmsg as
 * the request's line. The kernel hands received fds back with the last
 * chunk of stream data that recvmsg returned, and never reads past the
 * message that carried them, so a received fd belongs to the line that
 * contains the last byte of that chunk. Each fd is queued with that stream
 * offset and claimed by the line covering it; one fd per line at most, and
 * every fd not adopted by an attach is closed.
 *
 * Framing errors (a line over SOFTNET_LINE_MAX, more fds than allowed,
 * truncated control data) get an error reply and close that connection;
 * a bad request on a well-framed line gets an error reply only. Nothing a
 * client sends can stop the daemon or disturb other clients.
 *
 * Identity is the peer's kernel credentials: root and admin_group members
 * act on every VM; others only on the VMs they attached.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "control.h"
#include "leasedb.h"
#include "log.h"
#include "osdep.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "xmalloc.h"

#define CONN_MAX_FDS      4                 /* fds queued on one connection */
#define CONN_OUT_MAX      (4 * 1024 * 1024) /* unread replies before close */
#define CONTROL_MSG_LEN   256
#define CONN_IN_START     4096 /* input buffer; grows to SOFTNET_LINE_MAX */
#define CONN_ACCEPT_BATCH 64   /* connections taken per wakeup */

struct conn_fd {
	int fd;
	uint64_t off; /* stream offset of the last byte that came with it */
};

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct softnetd *sd;
	int fd;
	struct event *rev, *wev;
	struct evbuffer *out;
	char *in; /* incap bytes, grown up to SOFTNET_LINE_MAX */
	size_t incap;
	size_t inlen;
	uint64_t in_off; /* stream offset of in[0] */
	struct conn_fd fds[CONN_MAX_FDS];
	int nfds;
	struct control_peer peer;
	bool closing; /* close once out is flushed */
};

TAILQ_HEAD(conn_list, conn);

struct control {
	int fd;
	char *path;
	struct event *ev;
	struct conn_list conns;
	size_t nconns;
};

/* ---- requests --------------------------------------------------------- */

/* A reply with ok and the request's id. */
static json_t *
reply_new(bool ok, json_t *id)
{
	json_t *r = json_object();

	json_object_set_new(r, "ok", json_boolean(ok));
	if (id != NULL)
		json_object_set(r, "id", id);
	return r;
}

/* An error reply. */
static json_t *reply_error(json_t *id, const char *code, const char *fmt, ...)
    LOG_PRINTF(3, 4);

static json_t *
reply_error(json_t *id, const char *code, const char *fmt, ...)
{
	char msg[CONTROL_MSG_LEN], *c;
	json_t *r = reply_new(false, id), *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/*
	 * Messages quote client input (cut at a byte count, possibly inside
	 * a UTF-8 character): keep them printable ASCII, which JSON always
	 * takes.
	 */
	for (c = msg; *c != '\0'; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	if ((e = json_pack("{s:s,s:s}", "code", code, "message", msg)) == NULL)
		fatalx("json_pack failed for an error reply");
	json_object_set_new(r, "error", e);
	return r;
}

/* Checks that req has no key outside allowed; names the first stray one. */
static const char *
stray_key(json_t *req, const char *const *allowed)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(req, key, v)
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return key;
	}
	return NULL;
}

/* A JSON value for an IPv4 address, or null for 0. */
static json_t *
ip_json(uint32_t ip)
{
	char buf[ADDR_IPV4_STRLEN];

	if (ip == 0)
		return json_null();
	addr_format_ipv4(ip, buf);
	return json_string(buf);
}

/* The policy as {"allow": [...], "block": [...], "expose": [...]}. */
static json_t *
policy_json(const struct policy *pol)
{
	json_t *allow = json_array(), *block = json_array();
	json_t *expose = json_array();
	char buf[64];
	size_t i;

	for (i = 0; i < pol->nrules; i++) {
		policy_format_rule(&pol->rules[i], buf, sizeof(buf));
		json_array_append_new(
		    pol->rules[i].block ? block : allow, json_string(buf));
	}
	for (i = 0; i < pol->nexpose; i++) {
		snprintf(buf, sizeof(buf), "%u:%u", pol->expose[i].ext,
		    pol->expose[i].in);
		json_array_append_new(expose, json_string(buf));
	}
	return json_pack("{s:o,s:o,s:o,s:I}", "allow", allow, "block", block,
	    "expose", expose, "revision", (json_int_t)pol->revision);
}

/* The per-VM counters as an object. */
static json_t *
stats_json(const struct port *p)
{
	json_t *drops = json_object();
	uint64_t total = 0;
	int r;

	for (r = 0; r < FILTER_R__COUNT; r++) {
		total += p->st.drops[r];
		json_object_set_new(drops, filter_reason_name(r),
		    json_integer((json_int_t)p->st.drops[r]));
	}
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:b}", "tx_frames",
	    (json_int_t)p->st.tx_frames, "tx_bytes", (json_int_t)p->st.tx_bytes,
	    "rx_frames", (json_int_t)p->st.rx_frames, "rx_bytes",
	    (json_int_t)p->st.rx_bytes, "dropped", (json_int_t)total, "drops",
	    drops, "backlog", (json_int_t)port_backlog(p), "hung",
	    p->uplink_blocked);
}

/* A VM as a JSON object; detail adds policy and counters. */
static json_t *
vm_json(const struct port *p, bool detail)
{
	char mac[ADDR_MAC_STRLEN];
	json_t *o;

	addr_format_mac(p->mac, mac);
	o = json_pack("{s:I,s:o,s:s,s:o,s:I,s:s,s:s,s:b,s:I,s:I,s:I}", "id",
	    (json_int_t)p->id, "name",
	    p->name[0] ? json_string(p->name) : json_null(), "mac", mac, "ip",
	    ip_json(p->ip), "owner", (json_int_t)p->owner, "state",
	    port_state(p), "kind", p->kind == OSDEP_FD_TAP ? "tap" : "dgram",
	    "session", p->session != NULL, "attached_at",
	    (json_int_t)p->attached_at, "rx_frames",
	    (json_int_t)p->st.rx_frames, "tx_frames",
	    (json_int_t)p->st.tx_frames);
	json_object_set_new(o, "lease_expires",
	    p->ip != 0 ? json_integer(p->lease_expires) : json_null());
	if (detail) {
		json_object_set_new(o, "policy", policy_json(&p->policy));
		json_object_set_new(o, "stats", stats_json(p));
	}
	return o;
}

/* May peer act on p? */
static bool
may_act(const struct control_peer *peer, const struct port *p)
{
	return peer->admin || (int64_t)peer->uid == p->owner;
}

/* Resolves the "vm" field (name, MAC, id string or integer). */
static json_t *
find_vm(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, struct port **pp)
{
	json_t *v = json_object_get(req, "vm");
	char ident[32];

	*pp = NULL;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 ||
		    json_integer_value(v) > UINT32_MAX)
			return reply_error(id, SOFTNET_E_NOT_FOUND,
			    "no VM %lld", (long long)json_integer_value(v));
		*pp = port_by_id(sd, (uint32_t)json_integer_value(v));
		snprintf(ident, sizeof(ident), "%lld",
		    (long long)json_integer_value(v));
	} else if (json_is_string(v)) {
		*pp = port_lookup(sd, json_string_value(v));
		snprintf(ident, sizeof(ident), "%s", json_string_value(v));
	} else {
		return reply_error(id, SOFTNET_E_BAD_REQUEST,
		    "\"vm\" (a name, MAC or id) is required");
	}
	/* Another user's VM does not exist as far as this peer can tell. */
	if (*pp != NULL && !may_act(peer, *pp)) {
		*pp = NULL;
		return reply_error(id, SOFTNET_E_PERMISSION,
		    "VM %s belongs to another user", ident);
	}
	if (*pp == NULL)
		return reply_error(
		    id, SOFTNET_E_NOT_FOUND, "no VM %s attached", ident);
	return NULL;
}

/* Adds the strings of array field key to pol; NULL or an error reply. */
static json_t *
add_policy_field(json_t *req, json_t *id, const char *key, struct policy *pol)
{
	json_t *arr = json_object_get(req, key), *v;
	char err[POLICY_ERRLEN];
	size_t i;
	int rc;

	if (arr == NULL)
		return NULL;
	if (!json_is_array(arr))
		return reply_error(id, SOFTNET_E_BAD_REQUEST,
		    "\"%s\" must be an array of strings", key);
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			return reply_error(id, SOFTNET_E_BAD_REQUEST,
			    "\"%s\" must be an array of strings", key);
		if (strcmp(key, "expose") == 0)
			rc = policy_add_expose(
			    pol, json_string_value(v), err, sizeof(err));
		else
			rc = policy_add(pol, json_string_value(v),
			    strcmp(key, "block") == 0, err, sizeof(err));
		if (rc == -1)
			return reply_error(id, SOFTNET_E_BAD_POLICY, "%s", err);
	}
	return NULL;
}

/* hello: version negotiation. */
static json_t *
op_hello(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	json_t *v = json_object_get(req, "version"), *r;

	(void)sd, (void)fd, (void)session;
	if (!json_is_integer(v))
		return reply_error(id, SOFTNET_E_BAD_REQUEST,
		    "\"version\" (an integer) is required");
	if (json_integer_value(v) < 1)
		return reply_error(id, SOFTNET_E_VERSION,
		    "protocol version %lld is not supported (server speaks "
		    "1..%d)",
		    (long long)json_integer_value(v), SOFTNET_PROTO_VERSION);
	r = reply_new(true, id);
	json_object_set_new(r, "version",
	    json_integer(json_integer_value(v) < SOFTNET_PROTO_VERSION
	                     ? json_integer_value(v)
	                     : SOFTNET_PROTO_VERSION));
	json_object_set_new(r, "server", json_string("softnetd"));
	json_object_set_new(r, "software", json_string(SOFTNET_VERSION));
	json_object_set_new(r, "uid", json_integer(peer->uid));
	json_object_set_new(r, "admin", json_boolean(peer->admin));
	return r;
}

/* How many VMs uid has attached. */
static unsigned
vms_of(struct softnetd *sd, uid_t uid)
{
	struct port *p;
	unsigned n = 0;

	TAILQ_FOREACH(p, port_all(sd), entry)
	{
		if (p->owner == (int64_t)uid)
			n++;
	}
	return n;
}

/* attach: adopts the request's fd as a new VM port. */
static json_t *
op_attach(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	struct port_attach_args a = {.fd = fd, .owner = peer->uid};
	json_t *mac = json_object_get(req, "mac");
	json_t *name = json_object_get(req, "name");
	json_t *sess = json_object_get(req, "session");
	json_t *err, *r;
	uint8_t devmac[6];
	struct policy pol;
	struct port *p;
	const char *code;
	char msg[CONTROL_MSG_LEN];

	if (fd == -1) {
		err = reply_error(id, SOFTNET_E_NO_FD,
		    "attach needs the VM's descriptor (SCM_RIGHTS)");
		goto fail;
	}
	if ((mac != NULL && !json_is_string(mac)) ||
	    (name != NULL && !json_is_string(name) && !json_is_null(name)) ||
	    (sess != NULL && !json_is_boolean(sess))) {
		err = reply_error(id, SOFTNET_E_BAD_REQUEST,
		    "\"mac\" and \"name\" must be strings, \"session\" a "
		    "boolean");
		goto fail;
	}
	if (json_is_string(name)) {
		a.name = json_string_value(name);
		if (!port_name_valid(a.name)) {
			err = reply_error(id, SOFTNET_E_BAD_NAME,
			    "bad VM name \"%.64s\": 1-63 of A-Z a-z 0-9 . _ -, "
			    "not all digits, not a MAC",
			    a.name);
			goto fail;
		}
	}
	policy_init(&pol);
	if ((err = add_policy_field(req, id, "allow", &pol)) != NULL ||
	    (err = add_policy_field(req, id, "block", &pol)) != NULL ||
	    (err = add_policy_field(req, id, "expose", &pol)) != NULL)
		goto fail;
	/* No rules of its own: the VM gets the configured default rules. */
	if (pol.nrules == 0) {
		memcpy(
		    pol.rules, sd->cfg.default_policy.rules, sizeof(pol.rules));
		pol.nrules = sd->cfg.default_policy.nrules;
	}
	pol.revision = 1;
	a.policy = &pol;

	a.kind = osdep_fd_kind(fd, devmac);
	if (a.kind == OSDEP_FD_OTHER) {
		err = reply_error(id, SOFTNET_E_BAD_FD,
		    "the descriptor is neither a Unix datagram socket nor a "
		    "TAP device (without packet info)");
		goto fail;
	}
	if (mac != NULL) {
		if (addr_parse_mac(json_string_value(mac), a.mac) == -1) {
			err = reply_error(id, SOFTNET_E_BAD_MAC,
			    "bad MAC address \"%.32s\"",
			    json_string_value(mac));
			goto fail;
		}
		if (a.kind == OSDEP_FD_TAP && memcmp(a.mac, devmac, 6) != 0) {
			err = reply_error(id, SOFTNET_E_BAD_MAC,
			    "MAC %.32s is not the TAP device's MAC",
			    json_string_value(mac));
			goto fail;
		}
	} else if (a.kind == OSDEP_FD_TAP) {
		memcpy(a.mac, devmac, 6);
	} else {
		err = reply_error(id, SOFTNET_E_BAD_MAC,
		    "\"mac\" is required for a socket descriptor");
		goto fail;
	}
	if (!peer->admin && vms_of(sd, peer->uid) >= sd->cfg.max_vms_per_user) {
		err = reply_error(id, SOFTNET_E_TOO_MANY_VMS,
		    "uid %u has %u VMs attached (max_vms_per_user)",
		    (unsigned)peer->uid, sd->cfg.max_vms_per_user);
		goto fail;
	}
	a.session = json_is_true(sess) ? session : NULL;
	if ((p = port_attach(sd, &a, &code, msg, sizeof(msg))) == NULL) {
		err = reply_error(id, code, "%s", msg);
		goto fail;
	}
	r = reply_new(true, id);
	json_object_set_new(r, "vm", vm_json(p, false));
	return r;
fail:
	if (fd != -1)
		close(fd);
	return err;
}

/* detach: removes a VM and releases its lease. */
static json_t *
op_detach(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	struct port *p;
	json_t *r;

	(void)fd, (void)session;
	if ((r = find_vm(sd, peer, req, id, &p)) != NULL)
		return r;
	r = reply_new(true, id);
	json_object_set_new(r, "vm", vm_json(p, false));
	port_detach(sd, p);
	return r;
}

/* list: the VMs this peer may see. */
static json_t *
op_list(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	json_t *r, *vms = json_array();
	struct port *p;

	(void)req, (void)fd, (void)session;
	TAILQ_FOREACH(p, port_all(sd), entry)
	{
		if (may_act(peer, p))
			json_array_append_new(vms, vm_json(p, false));
	}
	r = reply_new(true, id);
	json_object_set_new(r, "vms", vms);
	return r;
}

/* show and stats: one VM in detail. */
static json_t *
op_show(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	struct port *p;
	json_t *r;

	(void)fd, (void)session;
	if ((r = find_vm(sd, peer, req, id, &p)) != NULL)
		return r;
	r = reply_new(true, id);
	json_object_set_new(r, "vm", vm_json(p, true));
	return r;
}

/* stats: one VM in detail, or every VM this peer may see. */
static json_t *
op_stats(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	json_t *r, *vms;
	struct port *p;

	if (json_object_get(req, "vm") != NULL)
		return op_show(sd, peer, req, id, fd, session);
	vms = json_array();
	TAILQ_FOREACH(p, port_all(sd), entry)
	{
		if (may_act(peer, p))
			json_array_append_new(vms, vm_json(p, true));
	}
	r = reply_new(true, id);
	json_object_set_new(r, "vms", vms);
	return r;
}

struct leases_walk {
	const struct control_peer *peer;
	json_t *arr;
};

/* leasedb_foreach callback: appends one lease the peer may see. */
static int
lease_one(const struct lease *l, void *arg)
{
	struct leases_walk *w = arg;
	char mac[ADDR_MAC_STRLEN];

	if (!w->peer->admin && l->owner != (int64_t)w->peer->uid)
		return 0;
	addr_format_mac(l->mac, mac);
	json_array_append_new(w->arr,
	    json_pack("{s:s,s:o,s:o,s:o,s:s,s:I,s:o}", "mac", mac, "ip",
	        ip_json(l->ip), "name",
	        l->name[0] ? json_string(l->name) : json_null(), "hostname",
	        l->hostname[0] ? json_string(l->hostname) : json_null(),
	        "state", leasedb_state_name(l->state), "owner",
	        (json_int_t)l->owner, "expires",
	        l->expires != 0 ? json_integer(l->expires) : json_null()));
	return 0;
}

/* leases: the lease database rows this peer may see. */
static json_t *
op_leases(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	struct leases_walk w = {peer, NULL};
	json_t *r;

	(void)req, (void)fd, (void)session;
	w.arr = json_array();
	if (leasedb_foreach(sd->db, lease_one, &w) == -1) {
		json_decref(w.arr);
		return reply_error(
		    id, SOFTNET_E_INTERNAL, "lease database error");
	}
	r = reply_new(true, id);
	json_object_set_new(r, "leases", w.arr);
	return r;
}

/* policy.get: a VM's rules and their revision. */
static json_t *
op_policy_get(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	struct port *p;
	json_t *r;

	(void)fd, (void)session;
	if ((r = find_vm(sd, peer, req, id, &p)) != NULL)
		return r;
	r = reply_new(true, id);
	json_object_set_new(r, "policy", policy_json(&p->policy));
	return r;
}

/*
 * policy.set: replaces a VM's allow/block rules in one step. The new rules
 * are built aside and swapped in only when all of them parsed, so a bad
 * entry changes nothing; "revision", when given, must match the current one
 * (compare-and-swap for concurrent editors). Exposed ports stay.
 */
static json_t *
op_policy_set(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	json_t *rev = json_object_get(req, "revision"), *r;
	struct policy next;
	struct port *p;

	(void)fd, (void)session;
	if (rev != NULL && !json_is_integer(rev))
		return reply_error(id, SOFTNET_E_BAD_REQUEST,
		    "\"revision\" must be an integer");
	if ((r = find_vm(sd, peer, req, id, &p)) != NULL)
		return r;
	if (rev != NULL &&
	    (uint64_t)json_integer_value(rev) != p->policy.revision)
		return reply_error(id, SOFTNET_E_CONFLICT,
		    "the policy is at revision %llu, not %lld",
		    (unsigned long long)p->policy.revision,
		    (long long)json_integer_value(rev));
	policy_init(&next);
	if ((r = add_policy_field(req, id, "allow", &next)) != NULL ||
	    (r = add_policy_field(req, id, "block", &next)) != NULL)
		return r;
	memcpy(next.expose, p->policy.expose, sizeof(next.expose));
	next.nexpose = p->policy.nexpose;
	next.revision = p->policy.revision + 1;
	p->policy = next;
	log_info("vm %u: policy revision %llu (%zu rules)", p->id,
	    (unsigned long long)next.revision, next.nrules);
	r = reply_new(true, id);
	json_object_set_new(r, "policy", policy_json(&p->policy));
	return r;
}

/* status: the daemon, its uplink and its pool. */
static json_t *
op_status(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	const struct sw_stats *st = switch_stats(sd);
	char mac[ADDR_MAC_STRLEN];
	json_t *r;

	(void)req, (void)peer, (void)fd, (void)session;
	addr_format_mac(sd->up.mac, mac);
	r = reply_new(true, id);
	json_object_set_new(r, "status",
	    json_pack("{s:s,s:i,s:I,s:I,s:I,s:s,s:s,s:{s:s,s:s,s:o,s:o,s:i,"
	              "s:s},s:{s:o,s:o},s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}",
	        "version", SOFTNET_VERSION, "protocol", SOFTNET_PROTO_VERSION,
	        "uptime", (json_int_t)(time(NULL) - sd->started), "vms",
	        (json_int_t)port_count(sd), "max_vms",
	        (json_int_t)sd->cfg.max_vms, "socket", sd->cfg.socket,
	        "database", sd->cfg.database, "uplink", "type",
	        sd->cfg.uplink.type == UPLINK_TAP ? "tap" : "vmnet", "name",
	        sd->up.name, "gateway", ip_json(sd->up.gateway), "netmask",
	        ip_json(sd->up.netmask), "mtu", (int)sd->up.mtu, "mac", mac,
	        "pool", "start", ip_json(sd->up.pool_start), "end",
	        ip_json(sd->up.pool_end), "counters", "rx_frames",
	        (json_int_t)st->uplink_rx_frames, "tx_frames",
	        (json_int_t)st->uplink_tx_frames, "no_port",
	        (json_int_t)st->uplink_no_port, "flood",
	        (json_int_t)st->uplink_flood, "write_drop",
	        (json_int_t)st->uplink_write_drop, "dhcp_pool_full",
	        (json_int_t)st->dhcp_pool_full, "hung_vms",
	        (json_int_t)switch_blocked(sd), "hung_blocks",
	        (json_int_t)st->uplink_blocks));
	return r;
}

typedef json_t *(*op_fn)(struct softnetd *, const struct control_peer *,
    json_t *, json_t *, int, void *);

/* The fields each op takes; any other is refused before the op runs. */
static const char *const k_bare[] = {"op", "id", NULL};
static const char *const k_vm[] = {"op", "id", "vm", NULL};
static const char *const k_hello[] = {"op", "id", "version", "client", NULL};
static const char *const k_attach[] = {
    "op", "id", "mac", "name", "session", "allow", "block", "expose", NULL};
static const char *const k_policy_set[] = {
    "op", "id", "vm", "allow", "block", "revision", NULL};

static const struct {
	const char *name;
	op_fn fn;
	bool takes_fd;
	const char *const *keys;
} ops[] = {
    {SOFTNET_OP_HELLO, op_hello, false, k_hello},
    {SOFTNET_OP_ATTACH, op_attach, true, k_attach},
    {SOFTNET_OP_DETACH, op_detach, false, k_vm},
    {SOFTNET_OP_LIST, op_list, false, k_bare},
    {SOFTNET_OP_SHOW, op_show, false, k_vm},
    {SOFTNET_OP_STATS, op_stats, false, k_vm},
    {SOFTNET_OP_LEASES, op_leases, false, k_bare},
    {SOFTNET_OP_POLICY_GET, op_policy_get, false, k_vm},
    {SOFTNET_OP_POLICY_SET, op_policy_set, false, k_policy_set},
    {SOFTNET_OP_STATUS, op_status, false, k_bare},
};

json_t *
control_request(struct softnetd *sd, const struct control_peer *peer,
    const char *line, size_t len, int fd, void *session)
{
	json_error_t jerr;
	json_t *req, *op, *id, *r = NULL;
	const char *k;
	size_t i;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL || !json_is_object(req)) {
		r = reply_error(NULL, SOFTNET_E_BAD_JSON,
		    req == NULL ? "malformed JSON: %s"
		                : "a request is a JSON object%s",
		    req == NULL ? jerr.text : "");
		goto out;
	}
	id = json_object_get(req, "id");
	if (id != NULL && !json_is_string(id) && !json_is_integer(id)) {
		r = reply_error(NULL, SOFTNET_E_BAD_REQUEST,
		    "\"id\" must be a string or an integer");
		goto out;
	}
	op = json_object_get(req, "op");
	if (!json_is_string(op)) {
		r = reply_error(
		    id, SOFTNET_E_BAD_REQUEST, "\"op\" (a string) is required");
		goto out;
	}
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, json_string_value(op)) == 0)
			break;
	if (i == sizeof(ops) / sizeof(ops[0])) {
		r = reply_error(id, SOFTNET_E_UNKNOWN_OP,
		    "unknown op \"%.64s\"", json_string_value(op));
		goto out;
	}
	if ((k = stray_key(req, ops[i].keys)) != NULL) {
		r = reply_error(
		    id, SOFTNET_E_BAD_REQUEST, "unknown field \"%s\"", k);
		goto out;
	}
	if (fd != -1 && !ops[i].takes_fd) {
		r = reply_error(id, SOFTNET_E_UNEXPECTED_FD,
		    "%s takes no descriptor", ops[i].name);
		goto out;
	}
	r = ops[i].fn(sd, peer, req, id, fd, session);
	fd = -1;
out:
	if (fd != -1)
		close(fd);
	json_decref(req);
	return r;
}

void
control_session_end(struct softnetd *sd, void *session)
{
	struct port *p, *tmp;

	/* Ports attached without a session carry NULL: never "end" those. */
	if (session == NULL)
		return;
	TAILQ_FOREACH_SAFE(p, port_all(sd), entry, tmp)
	{
		if (p->session == session)
			port_detach(sd, p);
	}
}

bool
control_is_admin(uid_t uid, gid_t gid, const char *admin_group)
{
	struct group *gr;
	struct passwd *pw;
	gid_t admin, groups[256];
	int n = 256, i;

	if (uid == 0)
		return true;
	if ((gr = getgrnam(admin_group)) == NULL)
		return false;
	admin = gr->gr_gid;
	if (gid == admin)
		return true;
	if ((pw = getpwuid(uid)) == NULL)
		return false;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1)
		return false;
	for (i = 0; i < n; i++)
		if (groups[i] == admin)
			return true;
	return false;
}

/* ---- connections ------------------------------------------------------ */

/* Frees a connection and whatever fds it still queues. */
static void
conn_free(struct conn *c)
{
	struct control *ctl = c->sd->control;
	int i;

	for (i = 0; i < c->nfds; i++)
		close(c->fds[i].fd);
	TAILQ_REMOVE(&ctl->conns, c, entry);
	ctl->nconns--;
	event_free(c->rev);
	event_free(c->wev);
	evbuffer_free(c->out);
	close(c->fd);
	free(c->in);
	free(c);
}

/* Closes a connection, detaching the VMs that lived with it. */
static void
conn_close(struct conn *c)
{
	control_session_end(c->sd, c);
	conn_free(c);
}

/* Writes what is pending; closes when done and asked to. 0, or -1 closed. */
static int
conn_flush(struct conn *c)
{
	while (evbuffer_get_length(c->out) > 0) {
		if (evbuffer_write(c->out, c->fd) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(c);
			return -1;
		}
	}
	if (evbuffer_get_length(c->out) > 0) {
		if (evbuffer_get_length(c->out) > CONN_OUT_MAX) {
			log_warnx("control: client uid %u does not read its "
			          "replies; closing",
			    (unsigned)c->peer.uid);
			conn_close(c);
			return -1;
		}
		event_add(c->wev, NULL);
		return 0;
	}
	event_del(c->wev);
	if (c->closing) {
		conn_close(c);
		return -1;
	}
	return 0;
}

/* Queues a reply line and frees the reply. */
static void
conn_reply(struct conn *c, json_t *r)
{
	char *s = json_dumps(r, JSON_COMPACT);

	json_decref(r);
	if (s == NULL)
		fatalx("json_dumps failed");
	evbuffer_add(c->out, s, strlen(s));
	evbuffer_add(c->out, "\n", 1);
	free(s);
}

/* Sends a framing error and closes once it is written. */
static void
conn_framing_error(struct conn *c, const char *code, const char *msg)
{
	conn_reply(c, reply_error(NULL, code, "%s", msg));
	c->closing = true;
	event_del(c->rev);
}

/*
 * Takes the fd that came with the line spanning stream offsets
 * [start, end], closing fds that belong to earlier lines. -1 when none;
 * -2 when the line came with more than one.
 */
static int
claim_fd(struct conn *c, uint64_t start, uint64_t end)
{
	int i, fd = -1, extra = 0, keep = 0;

	for (i = 0; i < c->nfds; i++) {
		if (c->fds[i].off < start) {
			close(c->fds[i].fd);
		} else if (c->fds[i].off <= end) {
			if (fd == -1)
				fd = c->fds[i].fd;
			else {
				close(c->fds[i].fd);
				extra = 1;
			}
		} else {
			c->fds[keep++] = c->fds[i];
		}
	}
	c->nfds = keep;
	if (extra) {
		if (fd != -1)
			close(fd);
		return -2;
	}
	return fd;
}

/* Handles every complete line in the input buffer. */
static void
conn_lines(struct conn *c)
{
	char *nl;
	size_t used = 0, linelen;
	int fd;

	while (!c->closing &&
	       (nl = memchr(c->in + used, '\n', c->inlen - used)) != NULL) {
		linelen = (size_t)(nl - (c->in + used));
		fd = claim_fd(c, c->in_off + used, c->in_off + used + linelen);
		if (fd == -2) {
			conn_framing_error(c, SOFTNET_E_BAD_REQUEST,
			    "more than one descriptor came with one request");
			break;
		}
		if (linelen == 0 || (linelen == 1 && c->in[used] == '\r')) {
			if (fd != -1)
				close(fd);
		} else {
			conn_reply(c, control_request(c->sd, &c->peer,
			                  c->in + used, linelen, fd, c));
		}
		used += linelen + 1;
	}
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	c->in_off += used;
}

/* Event callback: the client sent something (or went away). */
static void
conn_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char cbuf[CMSG_SPACE(sizeof(int) * CONN_MAX_FDS)];
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	ssize_t n;
	int *fds, nfds, i;
	bool overflow = false;

	(void)what;
	if (c->inlen == c->incap && c->incap < SOFTNET_LINE_MAX) {
		c->incap = c->incap * 2 < SOFTNET_LINE_MAX ? c->incap * 2
		                                           : SOFTNET_LINE_MAX;
		c->in = xreallocarray(c->in, 1, c->incap);
	}
	if (c->inlen == SOFTNET_LINE_MAX) {
		conn_framing_error(c, SOFTNET_E_LINE_TOO_LONG,
		    "request line longer than 65536 bytes");
		conn_flush(c);
		return;
	}
	iov.iov_base = c->in + c->inlen;
	iov.iov_len = c->incap - c->inlen;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	n = recvmsg(fd, &msg, OSDEP_MSG_CMSG_CLOEXEC);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		fds = (int *)(void *)CMSG_DATA(cm);
		nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < nfds; i++) {
			if (c->nfds == CONN_MAX_FDS) {
				close(fds[i]);
				overflow = true;
				continue;
			}
			(void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
			c->fds[c->nfds].fd = fds[i];
			c->fds[c->nfds].off =
			    c->in_off + c->inlen + (size_t)n - 1;
			c->nfds++;
		}
	}
	c->inlen += (size_t)n;
	if (overflow || (msg.msg_flags & MSG_CTRUNC) != 0) {
		conn_framing_error(
		    c, SOFTNET_E_BAD_REQUEST, "too many descriptors sent");
		conn_flush(c);
		return;
	}
	conn_lines(c);
	conn_flush(c);
}

/* Event callback: the client can take more of its replies. */
static void
conn_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

/* Sets up a connection on an accepted descriptor (closed on failure). */
static void
conn_new(struct softnetd *sd, int fd)
{
	struct control *ctl = sd->control;
	struct conn *c;
	uid_t uid;
	gid_t gid;

	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    osdep_peer_cred(fd, &uid, &gid) == -1) {
		log_warn("control: setting up a connection");
		close(fd);
		return;
	}
	if (ctl->nconns >= sd->cfg.max_connections) {
		static const char busy[] =
		    "{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":"
		    "\"too many control connections\"}}\n";

		(void)!write(fd, busy, sizeof(busy) - 1);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->sd = sd;
	c->fd = fd;
	c->incap = CONN_IN_START;
	c->in = xmalloc(c->incap);
	c->out = evbuffer_new();
	c->peer.uid = uid;
	c->peer.gid = gid;
	c->peer.admin = control_is_admin(uid, gid, sd->cfg.admin_group);
	c->rev =
	    event_new(sd->base, fd, EV_READ | EV_PERSIST, conn_readable, c);
	c->wev = event_new(sd->base, fd, EV_WRITE, conn_writable, c);
	if (c->out == NULL || c->rev == NULL || c->wev == NULL ||
	    event_add(c->rev, NULL) == -1)
		fatalx("control: cannot set up a connection");
	TAILQ_INSERT_TAIL(&ctl->conns, c, entry);
	ctl->nconns++;
	log_debug("control: connection from uid %u gid %u%s", (unsigned)uid,
	    (unsigned)gid, c->peer.admin ? " (admin)" : "");
}

/* Event callback: clients connect; take a bounded batch of them. */
static void
control_accept(evutil_socket_t lfd, short what, void *arg)
{
	int fd, i;

	(void)what;
	for (i = 0; i < CONN_ACCEPT_BATCH; i++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("control: accept");
			return;
		}
		conn_new(arg, fd);
	}
}

/*
 * Makes sure path is free to bind: absent, or a socket nobody answers on.
 * -1 with err set when a live daemon owns it or it is not a socket.
 */
static int
clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int s;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(s);
		snprintf(err, errlen,
		    "another softnetd is already listening on %s", path);
		return -1;
	}
	close(s);
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "removing stale %s: %s", path,
		    strerror(errno));
		return -1;
	}
	log_info("removed stale control socket %s", path);
	return 0;
}

int
control_init(struct softnetd *sd, char *err, size_t errlen)
{
	const char *path = sd->cfg.socket;
	struct control *ctl;
	struct sockaddr_un sun;
	struct group *gr;
	bool path_owned = false;
	mode_t old;
	int s;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	/* Socket activation: the service manager owns the socket file. */
	if ((s = osdep_activated_socket()) != -1) {
		if (fcntl(s, F_SETFL, O_NONBLOCK) == -1 ||
		    fcntl(s, F_SETFD, FD_CLOEXEC) == -1) {
			snprintf(err, errlen, "activated socket: %s",
			    strerror(errno));
			return -1;
		}
		log_info("using the control socket passed by the service "
		         "manager");
		goto listening;
	}
	if ((gr = getgrnam(sd->cfg.socket_group)) == NULL) {
		snprintf(err, errlen, "socket_group \"%s\" does not exist",
		    sd->cfg.socket_group);
		return -1;
	}
	if (clear_stale(path, err, errlen) == -1)
		return -1;
	path_owned = true;
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	         0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	old = umask(0117);
	if (bind(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(s);
		return -1;
	}
	umask(old);
	if (chown(path, 0, gr->gr_gid) == -1 || chmod(path, 0660) == -1 ||
	    listen(s, SOMAXCONN) == -1) {
		/* sun_path, a copy of path: GCC's UBSan build misreads path. */
		snprintf(err, errlen, "setting up %s: %s", sun.sun_path,
		    strerror(errno));
		unlink(path);
		close(s);
		return -1;
	}
listening:
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->fd = s;
	ctl->path = path_owned ? xstrdup(path) : NULL;
	TAILQ_INIT(&ctl->conns);
	ctl->ev =
	    event_new(sd->base, s, EV_READ | EV_PERSIST, control_accept, sd);
	if (ctl->ev == NULL || event_add(ctl->ev, NULL) == -1)
		fatalx("control: cannot watch the socket");
	sd->control = ctl;
	return 0;
}

void
control_shutdown(struct softnetd *sd)
{
	struct control *ctl = sd->control;
	struct conn *c;

	if (ctl == NULL)
		return;
	/* Sessions end with the daemon, not by detaching: leases stay. */
	while ((c = TAILQ_FIRST(&ctl->conns)) != NULL)
		conn_free(c);
	event_free(ctl->ev);
	close(ctl->fd);
	if (ctl->path != NULL)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
	sd->control = NULL;
}
