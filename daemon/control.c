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
 * act on every VM; others only on the VMs they attached. A VM a peer may
 * not act on is invisible to it: id, name and MAC lookups answer exactly
 * as for a VM that does not exist (not_found, one message shape), and VM
 * names are per owner, so attaching a name another user uses succeeds
 * rather than revealing it (Security model, rule 4). A MAC and its lease
 * belong to the uid that first attached it until an admin releases it
 * (lease.release); port.c refuses it to others with mac_in_use (rule 2).
 *
 * Limits (issue #13 items 7, 9, 10; config.h has the defaults). A new
 * connection is refused with one "busy" error line, naming the limit,
 * when it would pass max_connections; for a non-admin peer also when it
 * would eat into admin_reserved_connections, pass its uid's
 * max_connections_per_user, or take descriptors from the admin reserve of
 * the descriptor budget (fdbudget.c: a connection costs CONTROL_CONN_FDS).
 * A connection is closed, with a "timeout" error line, when it goes
 * client_timeout seconds without completing its first request, while it
 * holds a partial line or descriptors, or while a reply of it sits unread
 * with no progress. Replies: a connection is not read while its last
 * reply is unwritten, so it holds at most one; when all unread replies
 * together pass max_reply_bytes a non-admin request gets "busy". When
 * accept fails for want of descriptors or memory, accepting pauses for
 * CONN_RETRY_MS instead of spinning on a listener that stays readable.
 * Every refusal is counted by reason (status "limits").
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "bootpd.h"
#include "control.h"
#include "expose.h"
#include "fdbudget.h"
#include "leasedb.h"
#include "log.h"
#include "osdep.h"
#include "port.h"
#include "reserve.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "xmalloc.h"

#define CONN_MAX_FDS      CONTROL_MAX_FDS /* fds queued on one connection */
#define CONN_RETRY_MS     250 /* accepting paused after EMFILE and such */
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
	bool closing;      /* close once out is flushed */
	bool served;       /* answered at least one request */
	struct event *tmo; /* client_timeout while something is pending */
};

TAILQ_HEAD(conn_list, conn);

struct control {
	int fd;
	char *path;
	struct event *ev;
	struct conn_list conns;
	size_t nconns;
	struct event *retry; /* resumes accepting after EMFILE and such */
	struct {
		uint64_t total, reserved, per_user, fds; /* refused */
		uint64_t attach_fds;   /* attaches refused: descriptor budget */
		uint64_t replies;      /* requests refused: max_reply_bytes */
		uint64_t timeouts;     /* idle or partial request */
		uint64_t slow_readers; /* reply left unread */
		uint64_t accept_paused;
	} n;
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
		policy_format_expose(&pol->expose[i], buf, sizeof(buf));
		json_array_append_new(expose, json_string(buf));
	}
	return json_pack("{s:o,s:o,s:o,s:I}", "allow", allow, "block", block,
	    "expose", expose, "revision", (json_int_t)pol->revision);
}

/* The per-VM counters as an object. */
static json_t *
stats_json(const struct port *p)
{
	json_t *drops = json_object(), *o;
	uint64_t total = 0;
	int r;

	for (r = 0; r < FILTER_R__COUNT; r++) {
		total += p->st.drops[r];
		json_object_set_new(drops, filter_reason_name(r),
		    json_integer((json_int_t)p->st.drops[r]));
	}
	o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:b,s:I,s:I,s:I,s:I}",
	    "tx_frames", (json_int_t)p->st.tx_frames, "tx_bytes",
	    (json_int_t)p->st.tx_bytes, "rx_frames",
	    (json_int_t)p->st.rx_frames, "rx_bytes", (json_int_t)p->st.rx_bytes,
	    "dropped", (json_int_t)total, "drops", drops, "backlog",
	    (json_int_t)port_backlog(p), "hung", p->uplink_blocked,
	    "dhcp_declines", (json_int_t)p->st.dhcp_declines,
	    "dhcp_bad_options", (json_int_t)p->st.dhcp_bad_options,
	    "proxied_connections", (json_int_t)expose_count(p), "udp_mappings",
	    (json_int_t)expose_udp_count(p));
	/* Reads put off (issue 18): its excess stayed in its own queue. */
	json_object_set_new(
	    o, "read_pauses", json_integer((json_int_t)p->st.read_pauses));
	json_object_set_new(o, "read_paused_us",
	    json_integer((json_int_t)p->st.read_paused_us));
	return o;
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

/*
 * Finds ident among the VMs peer may act on: by name, then MAC text, then
 * decimal id (port_lookup's order; a name is never a MAC or all digits).
 * Names are per owner, so an admin may see several VMs of one name:
 * *several is set then and NULL returned.
 */
static struct port *
lookup_visible(struct softnetd *sd, const struct control_peer *peer,
    const char *ident, bool *several)
{
	struct port *p, *found = NULL;
	uint8_t mac[6];
	char *end;
	unsigned long v;

	*several = false;
	TAILQ_FOREACH(p, port_all(sd), entry)
	{
		if (p->name[0] == '\0' || strcmp(p->name, ident) != 0 ||
		    !may_act(peer, p))
			continue;
		if (found != NULL) {
			*several = true;
			return NULL;
		}
		found = p;
	}
	if (found != NULL)
		return found;
	if (addr_parse_mac(ident, mac) == 0)
		return port_by_mac(sd, mac);
	if (ident[0] >= '0' && ident[0] <= '9') {
		errno = 0;
		v = strtoul(ident, &end, 10);
		if (errno == 0 && *end == '\0' && v <= UINT32_MAX)
			return port_by_id(sd, (uint32_t)v);
	}
	return NULL;
}

/*
 * Resolves the "vm" field (name, MAC, id string or integer). A VM the peer
 * may not act on answers exactly as a missing one: same code, same
 * message (Security model, rule 4).
 */
static json_t *
find_vm(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, struct port **pp)
{
	json_t *v = json_object_get(req, "vm");
	char ident[80];
	bool several = false;

	*pp = NULL;
	if (json_is_integer(v)) {
		snprintf(ident, sizeof(ident), "%lld",
		    (long long)json_integer_value(v));
		if (json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= UINT32_MAX)
			*pp = port_by_id(sd, (uint32_t)json_integer_value(v));
	} else if (json_is_string(v)) {
		snprintf(ident, sizeof(ident), "%.64s", json_string_value(v));
		*pp = lookup_visible(sd, peer, json_string_value(v), &several);
	} else {
		return reply_error(id, SOFTNET_E_BAD_REQUEST,
		    "\"vm\" (a name, MAC or id) is required");
	}
	if (several)
		return reply_error(id, SOFTNET_E_CONFLICT,
		    "several VMs (of different users) are named %s; name it "
		    "by id or MAC",
		    ident);
	if (*pp != NULL && !may_act(peer, *pp))
		*pp = NULL;
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

/*
 * Whether peer may publish pol's exposures (Security model, rule 5): what
 * the user could bind without the daemon's root. Host ports below 1024
 * and any address but loopback (127/8) or the gateway, 0.0.0.0 included,
 * need root or admin_group. NULL, or a permission_denied reply.
 */
static json_t *
expose_permitted(struct softnetd *sd, const struct control_peer *peer,
    const struct policy *pol, json_t *id)
{
	const struct policy_expose *e;
	char buf[64];
	size_t i;

	if (peer->admin)
		return NULL;
	for (i = 0; i < pol->nexpose; i++) {
		e = &pol->expose[i];
		policy_format_expose(e, buf, sizeof(buf));
		if (e->ext < 1024)
			return reply_error(id, SOFTNET_E_PERMISSION,
			    "--expose %s: host ports below 1024 need root or "
			    "admin_group",
			    buf);
		if (e->has_addr && (e->addr >> 24) != 127 &&
		    e->addr != sd->up.gateway)
			return reply_error(id, SOFTNET_E_PERMISSION,
			    "--expose %s: listening on an address other than "
			    "loopback or the gateway needs root or admin_group",
			    buf);
	}
	return NULL;
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
	struct port_attach_args a = {
	    .fd = fd, .owner = peer->uid, .admin = peer->admin};
	json_t *mac = json_object_get(req, "mac");
	json_t *name = json_object_get(req, "name");
	json_t *sess = json_object_get(req, "session");
	json_t *ip = json_object_get(req, "ip");
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
		if (!addr_name_valid(a.name)) {
			err = reply_error(id, SOFTNET_E_BAD_NAME,
			    "bad VM name \"%.64s\": 1-63 of A-Z a-z 0-9 . _ -, "
			    "not all digits, not a MAC",
			    a.name);
			goto fail;
		}
	}
	/* Who may pin which address is port_attach's call (it knows MACs). */
	if (ip != NULL &&
	    (!json_is_string(ip) ||
	        addr_parse_ipv4(json_string_value(ip), &a.ip) == -1 ||
	        a.ip == 0)) {
		err = reply_error(id, SOFTNET_E_BAD_IP,
		    "\"ip\" must be an IPv4 address string");
		goto fail;
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
	if ((err = expose_permitted(sd, peer, &pol, id)) != NULL)
		goto fail;

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
	/*
	 * The descriptor stops being one in flight (reserved with the
	 * connection, which lives on) and becomes the VM's, held until
	 * detach: one more from the budget, kept off the admin reserve so a
	 * user's pile of VMs cannot lock root out of the control socket.
	 */
	if (!fdbudget_room(sd, 1, peer->admin)) {
		static struct log_rl rl;

		sd->control->n.attach_fds++;
		log_warnx_rl(&rl,
		    "control: refused an attach of uid %u: no descriptors to "
		    "spare (%u free of %u)",
		    (unsigned)peer->uid, fdbudget_free(sd), sd->fdb.limit);
		err = reply_error(id, SOFTNET_E_BUSY,
		    "daemon busy: no descriptors to spare for another VM "
		    "(%u free of %u, the rest kept for root and the admin "
		    "group; descriptor limit)",
		    fdbudget_free(sd), sd->fdb.limit);
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

/*
 * Rows per `leases` reply, and the most a caller may ask for: one page is
 * one index range of the lease table and one reply of about 100 KiB, so a
 * table of 100k rows never holds the loop for more than a few milliseconds
 * per request and never makes a reply the connection's output limit
 * refuses. (Before pages, root's `leases` at 300k rows built a 60 MB reply
 * in 0.23 s and the connection was closed for it: over CONN_OUT_MAX.)
 */
#define LEASES_PAGE 500

/* Appends one lease row to arr. */
static void
lease_one(json_t *arr, const struct lease *l)
{
	char mac[ADDR_MAC_STRLEN];

	addr_format_mac(l->mac, mac);
	json_array_append_new(arr,
	    json_pack("{s:s,s:o,s:o,s:o,s:s,s:I,s:o}", "mac", mac, "ip",
	        ip_json(l->ip), "name",
	        l->name[0] ? json_string(l->name) : json_null(), "hostname",
	        l->hostname[0] ? json_string(l->hostname) : json_null(),
	        "state", leasedb_state_name(l->state), "owner",
	        (json_int_t)l->owner, "expires",
	        l->expires != 0 ? json_integer(l->expires) : json_null()));
	/* What the DHCP client said of itself (options 61 and 81). */
	json_object_set_new(json_array_get(arr, json_array_size(arr) - 1),
	    "client_id",
	    l->client_id[0] ? json_string(l->client_id) : json_null());
	json_object_set_new(json_array_get(arr, json_array_size(arr) - 1),
	    "domain", l->domain[0] ? json_string(l->domain) : json_null());
}

/*
 * The addresses in DECLINE quarantine this peer may see (all for an
 * admin, else those its own VMs declined), at most one page: each VM
 * keeps at most dhcp.max_declined of them.
 */
static json_t *
quarantine_json(struct softnetd *sd, const struct control_peer *peer)
{
	static struct leasedb_quarantine q[LEASES_PAGE];
	static const uint8_t zero[6];
	char mac[ADDR_MAC_STRLEN];
	json_t *arr = json_array();
	int n, i;

	n = leasedb_quarantine_list(sd->db, softnetd_now(), peer->admin,
	    (int64_t)peer->uid, q, LEASES_PAGE);
	for (i = 0; i < n; i++) {
		addr_format_mac(q[i].mac, mac);
		json_array_append_new(arr,
		    json_pack("{s:o,s:o,s:I}", "ip", ip_json(q[i].ip), "mac",
		        memcmp(q[i].mac, zero, 6) ? json_string(mac)
		                                  : json_null(),
		        "until", (json_int_t)q[i].until));
	}
	return arr;
}

/*
 * Whether peer may see reservation e: an admin sees all; others see the
 * ones that serve a VM they have attached (config is the admin's).
 */
static bool
reservation_visible(struct softnetd *sd, const struct control_peer *peer,
    const struct reserve_entry *e)
{
	struct port *p;

	if (peer->admin)
		return true;
	TAILQ_FOREACH(p, port_all(sd), entry)
	{
		if (may_act(peer, p) && reserve_matches(e, p->mac, p->name))
			return true;
	}
	return false;
}

/* Appends a "reserved" row for e unless a VM it serves holds it now. */
static int
reserved_row(struct softnetd *sd, const struct control_peer *peer,
    const struct reserve_entry *e, json_t *arr)
{
	char mac[ADDR_MAC_STRLEN];
	struct lease h;
	json_t *o;
	int r;

	if (!reservation_visible(sd, peer, e))
		return 0;
	if ((r = leasedb_holder(sd->db, e->ip, softnetd_now(), &h)) == -1)
		return -1;
	if (r == 0 && reserve_matches(e, h.mac, h.name))
		return 0;
	if (e->by_mac)
		addr_format_mac(e->mac, mac);
	o = json_pack("{s:o,s:o,s:o,s:n,s:s,s:n,s:n}", "mac",
	    e->by_mac ? json_string(mac) : json_null(), "ip", ip_json(e->ip),
	    "name", e->by_mac ? json_null() : json_string(e->name), "hostname",
	    "state", "reserved", "owner", "expires");
	/* Another MAC's lease from before the reservation: until when. */
	if (r == 0)
		json_object_set_new(o, "in_use_until", json_integer(h.expires));
	json_array_append_new(arr, o);
	return 0;
}

/*
 * The reservations (dhcp.reservations, then attach --ip pins) no VM of
 * theirs holds now, as rows of state "reserved" after the last page: they
 * are config and memory, not lease rows, and few.
 */
static int
reserved_rows(struct softnetd *sd, const struct control_peer *peer, json_t *arr)
{
	const struct reserve_entry *pins;
	size_t i, n;

	for (i = 0; i < sd->cfg.dhcp.nreservations; i++)
		if (reserved_row(
		        sd, peer, &sd->cfg.dhcp.reservations[i], arr) == -1)
			return -1;
	pins = leasedb_pins(sd->db, &n);
	for (i = 0; i < n; i++)
		if (reserved_row(sd, peer, &pins[i], arr) == -1)
			return -1;
	return 0;
}

/*
 * leases: one page of the rows this peer may see, ordered by MAC.
 * "after" (a MAC) continues where the previous page's "next" said;
 * "limit" (1..LEASES_PAGE) shortens a page. "next" is null on the last.
 */
static json_t *
op_leases(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	static struct lease rows[LEASES_PAGE];
	json_t *after = json_object_get(req, "after");
	json_t *lim = json_object_get(req, "limit");
	char mac[ADDR_MAC_STRLEN];
	uint8_t start[6];
	size_t max = LEASES_PAGE;
	json_t *r, *arr;
	int n, i;

	(void)fd, (void)session;
	if (after != NULL &&
	    (!json_is_string(after) ||
	        addr_parse_mac(json_string_value(after), start) == -1))
		return reply_error(id, SOFTNET_E_BAD_REQUEST,
		    "\"after\" must be a MAC address");
	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
		    json_integer_value(lim) > LEASES_PAGE)
			return reply_error(id, SOFTNET_E_BAD_REQUEST,
			    "\"limit\" must be an integer 1..%d", LEASES_PAGE);
		max = (size_t)json_integer_value(lim);
	}
	n = leasedb_page(sd->db, after != NULL ? start : NULL, peer->admin,
	    (int64_t)peer->uid, rows, max);
	if (n == -1)
		return reply_error(
		    id, SOFTNET_E_INTERNAL, "lease database error");
	arr = json_array();
	for (i = 0; i < n; i++)
		lease_one(arr, &rows[i]);
	if ((size_t)n < max && reserved_rows(sd, peer, arr) == -1) {
		json_decref(arr);
		return reply_error(
		    id, SOFTNET_E_INTERNAL, "lease database error");
	}
	r = reply_new(true, id);
	json_object_set_new(r, "leases", arr);
	/* Quarantined addresses (RFC 2131 4.3.3) ride on the first page. */
	if (after == NULL)
		json_object_set_new(r, "quarantine", quarantine_json(sd, peer));
	if ((size_t)n == max) {
		addr_format_mac(rows[n - 1].mac, mac);
		json_object_set_new(r, "next", json_string(mac));
	} else
		json_object_set_new(r, "next", json_null());
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

/*
 * lease.release: forgets a MAC's lease row, its address and its owner
 * (`softnetctl leases release MAC`), so that any uid may attach the MAC
 * again (Security model, rule 2). Admin or the row's owner only; to
 * anyone else the lease answers as missing (rule 4). An attached MAC is
 * refused: detach it first.
 */
static json_t *
op_lease_release(struct softnetd *sd, const struct control_peer *peer,
    json_t *req, json_t *id, int fd, void *session)
{
	json_t *mac = json_object_get(req, "mac"), *r;
	char macs[ADDR_MAC_STRLEN];
	uint8_t m[6];
	struct lease l;
	int rc;

	(void)fd, (void)session;
	if (!json_is_string(mac))
		return reply_error(id, SOFTNET_E_BAD_REQUEST,
		    "\"mac\" (a string) is required");
	if (addr_parse_mac(json_string_value(mac), m) == -1)
		return reply_error(id, SOFTNET_E_BAD_MAC,
		    "bad MAC address \"%.32s\"", json_string_value(mac));
	addr_format_mac(m, macs);
	if ((rc = leasedb_get(sd->db, m, &l)) == -1)
		return reply_error(
		    id, SOFTNET_E_INTERNAL, "lease database error");
	if (rc == 1 || (!peer->admin && l.owner != (int64_t)peer->uid))
		return reply_error(
		    id, SOFTNET_E_NOT_FOUND, "no lease for MAC %s", macs);
	if (port_by_mac(sd, m) != NULL)
		return reply_error(id, SOFTNET_E_MAC_IN_USE,
		    "MAC %s is attached; detach it first", macs);
	if (leasedb_forget(sd->db, m, softnetd_now()) == -1)
		return reply_error(
		    id, SOFTNET_E_INTERNAL, "lease database error");
	bootpd_dirty(sd);
	log_info("lease of MAC %s (owner %lld) released by uid %u", macs,
	    (long long)l.owner, (unsigned)peer->uid);
	r = reply_new(true, id);
	json_object_set_new(r, "lease",
	    json_pack("{s:s,s:o,s:I}", "mac", macs, "ip", ip_json(l.ip),
	        "owner", (json_int_t)l.owner));
	return r;
}

/* status: the daemon, its uplink and its pool. */
static json_t *
op_status(struct softnetd *sd, const struct control_peer *peer, json_t *req,
    json_t *id, int fd, void *session)
{
	const struct sw_stats *st = switch_stats(sd);
	char mac[ADDR_MAC_STRLEN];
	size_t backlog;
	uint64_t refused;
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
	/* Connection, descriptor and exposure limits (issue #13 7-10). */
	json_object_set_new(
	    json_object_get(r, "status"), "limits", control_limits_json(sd));
	/* Address, DHCP, lease table and backlog limits (issue #13 11-14). */
	port_backlog_totals(sd, &backlog, &refused);
	json_object_set_new(json_object_get(r, "status"), "tenancy",
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	        "max_leases_per_user",
	        (json_int_t)sd->cfg.dhcp.max_leases_per_user,
	        "max_vms_per_user", (json_int_t)sd->cfg.max_vms_per_user,
	        "dhcp_rate", (json_int_t)sd->cfg.dhcp.rate, "dhcp_burst",
	        (json_int_t)sd->cfg.dhcp.burst, "dhcp_rate_limited",
	        (json_int_t)st->dhcp_rate_limited, "dhcp_over_quota",
	        (json_int_t)st->dhcp_over_quota, "decline_unquarantined",
	        (json_int_t)st->dhcp_decline_unquarantined, "leases_purged",
	        (json_int_t)st->leases_purged, "lease_retention",
	        (json_int_t)sd->cfg.dhcp.lease_retention, "backlog_bytes",
	        (json_int_t)backlog, "backlog_share_drops",
	        (json_int_t)refused));
	/* VMs paused over their share of the loop (issue 18). */
	json_object_set_new(json_object_get(r, "status"), "fair_pauses",
	    json_integer((json_int_t)st->fair_pauses));
	return r;
}

typedef json_t *(*op_fn)(struct softnetd *, const struct control_peer *,
    json_t *, json_t *, int, void *);

/* The fields each op takes; any other is refused before the op runs. */
static const char *const k_bare[] = {"op", "id", NULL};
static const char *const k_vm[] = {"op", "id", "vm", NULL};
static const char *const k_leases[] = {"op", "id", "after", "limit", NULL};
static const char *const k_hello[] = {"op", "id", "version", "client", NULL};
static const char *const k_attach[] = {"op", "id", "mac", "name", "session",
    "allow", "block", "expose", "ip", NULL};
static const char *const k_mac[] = {"op", "id", "mac", NULL};
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
    {SOFTNET_OP_LEASES, op_leases, false, k_leases},
    {SOFTNET_OP_POLICY_GET, op_policy_get, false, k_vm},
    {SOFTNET_OP_POLICY_SET, op_policy_set, false, k_policy_set},
    {SOFTNET_OP_LEASE_RELEASE, op_lease_release, false, k_mac},
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
	gid_t admin;

	if (uid == 0)
		return true;
	if ((gr = getgrnam(admin_group)) == NULL)
		return false;
	admin = gr->gr_gid;
	if (gid == admin)
		return true;
	if ((pw = getpwuid(uid)) == NULL)
		return false;
	return osdep_user_in_group(pw->pw_name, pw->pw_gid, admin);
}

/*
 * Whether the peer on fd is root or in admin_group, from the groups the
 * kernel recorded for it at connect(2) (osdep_peer_groups): no group
 * database lookup on the event loop per connection (NSS may be LDAP or
 * sssd, and slow), and what counts is the connecting process's own
 * credentials, as for uid. The group's id is looked up once per name.
 * Where the kernel gives no (complete) list, the database decides
 * (control_is_admin).
 */
static bool
peer_is_admin(struct softnetd *sd, int fd, uid_t uid, gid_t gid)
{
	static char name[256];
	static gid_t admin;
	static bool known;
	gid_t groups[256];
	struct group *gr;
	int n = 256, i;

	if (uid == 0)
		return true;
	if (strcmp(name, sd->cfg.admin_group) != 0) {
		snprintf(name, sizeof(name), "%s", sd->cfg.admin_group);
		known = (gr = getgrnam(name)) != NULL;
		admin = known ? gr->gr_gid : 0;
	}
	if (!known)
		return false;
	if (gid == admin)
		return true;
	if (osdep_peer_groups(fd, groups, &n) == -1)
		return control_is_admin(uid, gid, sd->cfg.admin_group);
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
	c->sd->fdb.ctl -= CONTROL_CONN_FDS;
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->tmo);
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

/*
 * Arms client_timeout while the connection owes something (its first
 * request, the rest of a line, a descriptor's line, the reading of a
 * reply), restarting it on progress; disarms it once nothing is pending,
 * so a served session connection may stay idle for as long as it lives.
 */
static void
conn_timer(struct conn *c, bool progress)
{
	struct timeval tv = {(time_t)c->sd->cfg.client_timeout, 0};
	bool owed = !c->served || c->inlen > 0 || c->nfds > 0 ||
	            evbuffer_get_length(c->out) > 0;

	if (!owed)
		event_del(c->tmo);
	else if (progress || !event_pending(c->tmo, EV_TIMEOUT, NULL))
		event_add(c->tmo, &tv);
}

/* Writes what the socket takes now. -1 when the client is gone. */
static int
conn_write_out(struct conn *c, bool *progress)
{
	while (evbuffer_get_length(c->out) > 0) {
		if (evbuffer_write(c->out, c->fd) == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		*progress = true;
	}
	return 0;
}

static void conn_lines(struct conn *c);

/*
 * Writes what is pending, then handles buffered lines while replies
 * drain; reads only while no reply is left unread. Closes when done and
 * asked to. 0, or -1 closed.
 */
static int
conn_flush(struct conn *c)
{
	bool progress = false;
	uint64_t off;

	for (;;) {
		if (conn_write_out(c, &progress) == -1) {
			conn_close(c);
			return -1;
		}
		if (evbuffer_get_length(c->out) > 0 || c->closing)
			break;
		off = c->in_off;
		conn_lines(c);
		if (c->in_off == off && evbuffer_get_length(c->out) == 0)
			break;
	}
	if (evbuffer_get_length(c->out) > 0) {
		/* Not read until the client takes its reply (item 10). */
		event_del(c->rev);
		event_add(c->wev, NULL);
		conn_timer(c, progress);
		return 0;
	}
	event_del(c->wev);
	if (c->closing) {
		conn_close(c);
		return -1;
	}
	if (!event_pending(c->rev, EV_READ, NULL))
		event_add(c->rev, NULL);
	conn_timer(c, progress);
	return 0;
}

/* Unread replies held for every connection together. */
static size_t
replies_held(struct control *ctl)
{
	struct conn *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &ctl->conns, entry)
	n += evbuffer_get_length(c->out);
	return n;
}

/* Timer: the connection owed something for client_timeout; close it. */
static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	static struct log_rl rl;
	static const char slow[] =
	    "{\"ok\":false,\"error\":{\"code\":\"timeout\",\"message\":"
	    "\"replies left unread (client_timeout)\"}}\n";
	static const char idle[] =
	    "{\"ok\":false,\"error\":{\"code\":\"timeout\",\"message\":"
	    "\"no complete request in time (client_timeout)\"}}\n";
	struct conn *c = arg;
	struct control *ctl = c->sd->control;
	bool unread = evbuffer_get_length(c->out) > 0;

	(void)fd, (void)what; /* fd is -1: a timer */
	if (unread)
		ctl->n.slow_readers++;
	else
		ctl->n.timeouts++;
	log_warnx_rl(&rl, "control: uid %u %s for %u s; closing",
	    (unsigned)c->peer.uid,
	    unread ? "left a reply unread" : "sent no complete request",
	    c->sd->cfg.client_timeout);
	/* Best effort: a client that does not read will not see it. */
	if (unread)
		(void)!write(c->fd, slow, sizeof(slow) - 1);
	else
		(void)!write(c->fd, idle, sizeof(idle) - 1);
	conn_close(c);
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

	while (!c->closing && evbuffer_get_length(c->out) == 0 &&
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
		} else if (!c->peer.admin && replies_held(c->sd->control) >=
		                                 c->sd->cfg.max_reply_bytes) {
			if (fd != -1)
				close(fd);
			c->sd->control->n.replies++;
			conn_reply(
			    c, reply_error(NULL, SOFTNET_E_BUSY,
			           "daemon busy: %u bytes of replies are "
			           "unread (max_reply_bytes); try again",
			           c->sd->cfg.max_reply_bytes));
		} else {
			conn_reply(c, control_request(c->sd, &c->peer,
			                  c->in + used, linelen, fd, c));
		}
		c->served = true;
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

/*
 * Decides whether a new connection of uid passes the connection limits;
 * when not, counts the reason and answers one "busy" line naming the
 * limit (the caller closes fd). softnetctl prints that line.
 */
static bool
conn_refuse(struct softnetd *sd, int fd, uid_t uid, bool admin)
{
	static struct log_rl rl;
	struct control *ctl = sd->control;
	const struct config *cfg = &sd->cfg;
	unsigned mine = 0, others = 0;
	char msg[CONTROL_MSG_LEN], *s;
	const char *why;
	struct conn *c;
	json_t *r;

	TAILQ_FOREACH(c, &ctl->conns, entry)
	{
		if (c->peer.uid == uid)
			mine++;
		if (!c->peer.admin)
			others++;
	}
	if (ctl->nconns >= cfg->max_connections) {
		ctl->n.total++;
		why = "max_connections";
		snprintf(msg, sizeof(msg), "%zu control connections are open",
		    ctl->nconns);
	} else if (!admin && others + cfg->admin_reserved_connections >=
	                         cfg->max_connections) {
		ctl->n.reserved++;
		why = "admin_reserved_connections";
		snprintf(msg, sizeof(msg),
		    "the last %u connections are kept for root and the admin "
		    "group",
		    cfg->admin_reserved_connections);
	} else if (!admin && mine >= cfg->max_connections_per_user) {
		ctl->n.per_user++;
		why = "max_connections_per_user";
		snprintf(msg, sizeof(msg), "uid %u has %u control connections",
		    (unsigned)uid, mine);
	} else if (!fdbudget_room(sd, CONTROL_CONN_FDS, admin)) {
		ctl->n.fds++;
		why = "descriptor limit";
		snprintf(msg, sizeof(msg),
		    "no descriptors to spare (%u free of %u)",
		    fdbudget_free(sd), sd->fdb.limit);
	} else {
		return false;
	}
	log_warnx_rl(&rl, "control: refused a connection of uid %u: %s (%s)",
	    (unsigned)uid, msg, why);
	r = reply_error(NULL, SOFTNET_E_BUSY, "daemon busy: %s (%s)", msg, why);
	if ((s = json_dumps(r, JSON_COMPACT)) != NULL) {
		/* A fresh socket's buffer takes one line: no blocking. */
		(void)!write(fd, s, strlen(s));
		(void)!write(fd, "\n", 1);
		free(s);
	}
	json_decref(r);
	return true;
}

/* Sets up a connection on an accepted descriptor (closed on failure). */
static void
conn_new(struct softnetd *sd, int fd)
{
	static struct log_rl rl;
	struct control *ctl = sd->control;
	struct conn *c;
	uid_t uid;
	gid_t gid;
	bool admin;

	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    osdep_peer_cred(fd, &uid, &gid) == -1) {
		log_warn_rl(&rl, "control: setting up a connection");
		close(fd);
		return;
	}
	admin = peer_is_admin(sd, fd, uid, gid);
	if (conn_refuse(sd, fd, uid, admin)) {
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
	c->peer.admin = admin;
	c->rev =
	    event_new(sd->base, fd, EV_READ | EV_PERSIST, conn_readable, c);
	c->wev = event_new(sd->base, fd, EV_WRITE, conn_writable, c);
	c->tmo = evtimer_new(sd->base, conn_timeout, c);
	if (c->out == NULL || c->rev == NULL || c->wev == NULL ||
	    c->tmo == NULL || event_add(c->rev, NULL) == -1)
		fatalx("control: cannot set up a connection");
	TAILQ_INSERT_TAIL(&ctl->conns, c, entry);
	ctl->nconns++;
	sd->fdb.ctl += CONTROL_CONN_FDS;
	conn_timer(c, true);
	log_debug("control: connection from uid %u gid %u%s", (unsigned)uid,
	    (unsigned)gid, c->peer.admin ? " (admin)" : "");
}

/* Event callback: clients connect; take a bounded batch of them. */
static void
control_accept(evutil_socket_t lfd, short what, void *arg)
{
	static struct log_rl rl;
	struct softnetd *sd = arg;
	struct control *ctl = sd->control;
	struct timeval tv = {0, CONN_RETRY_MS * 1000};
	int fd, i;

	(void)what;
	for (i = 0; i < CONN_ACCEPT_BATCH; i++) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			/*
			 * EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending
			 * connection stays queued and the listener readable,
			 * so retrying now would spin. Pause instead.
			 */
			log_warn_rl(&rl, "control: accept (pausing %d ms)",
			    CONN_RETRY_MS);
			ctl->n.accept_paused++;
			event_del(ctl->ev);
			evtimer_add(ctl->retry, &tv);
			return;
		}
		conn_new(sd, fd);
	}
}

/* Timer: accepting was paused after a resource error; resume. */
static void
control_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct softnetd *sd = arg;

	(void)fd, (void)what;
	if (event_add(sd->control->ev, NULL) == -1)
		fatalx("control: cannot watch the socket");
}

json_t *
control_limits_json(struct softnetd *sd)
{
	struct control *ctl = sd->control;
	const struct config *cfg = &sd->cfg;
	json_t *o;

	if (ctl == NULL)
		return json_object();
	o = json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:I,s:I,"
	    "s:I,s:I,s:I,s:I}",
	    "connections", (json_int_t)ctl->nconns, "max_connections",
	    (json_int_t)cfg->max_connections, "max_connections_per_user",
	    (json_int_t)cfg->max_connections_per_user,
	    "admin_reserved_connections",
	    (json_int_t)cfg->admin_reserved_connections, "client_timeout",
	    (json_int_t)cfg->client_timeout, "refused", "max_connections",
	    (json_int_t)ctl->n.total, "admin_reserved_connections",
	    (json_int_t)ctl->n.reserved, "max_connections_per_user",
	    (json_int_t)ctl->n.per_user, "descriptors", (json_int_t)ctl->n.fds,
	    "max_reply_bytes", (json_int_t)ctl->n.replies, "attach_descriptors",
	    (json_int_t)ctl->n.attach_fds, "timeouts",
	    (json_int_t)ctl->n.timeouts, "slow_readers",
	    (json_int_t)ctl->n.slow_readers, "accept_paused",
	    (json_int_t)ctl->n.accept_paused, "reply_bytes",
	    (json_int_t)replies_held(ctl), "max_reply_bytes",
	    (json_int_t)cfg->max_reply_bytes, "log_suppressed",
	    (json_int_t)log_suppressed());
	json_object_set_new(o, "descriptors",
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "limit",
	        (json_int_t)sd->fdb.limit, "base", (json_int_t)sd->fdb.base,
	        "control", (json_int_t)sd->fdb.ctl, "vms",
	        (json_int_t)port_count(sd), "expose",
	        (json_int_t)sd->fdb.expose, "free",
	        sd->fdb.limit == 0 ? (json_int_t)-1
	                           : (json_int_t)fdbudget_free(sd),
	        "admin_reserve", (json_int_t)fdbudget_admin_reserve(sd)));
	json_object_set_new(o, "proxied", expose_limits_json(sd));
	return o;
}

/*
 * Whether path is (still) a socket file of mode 0660: not a symbolic link
 * or anything else put there since bind, and no wider than intended.
 */
static bool
socket_file(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return false;
	if (!S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0660) {
		errno = EEXIST;
		return false;
	}
	return true;
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
	if ((s = osdep_socket(AF_UNIX, SOCK_STREAM, false)) == -1) {
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

/*
 * Under socket activation the service manager made the socket file and
 * chose its group (launchd's SockPathGroup, systemd's SocketGroup=), so
 * the configuration's socket_group is not applied: a mismatch would make
 * the group the operator configured unable to connect, or another group
 * able to. Not fatal (the socket works, and chown'ing a file the manager
 * owns would only last until it recreates it), but said at start, naming
 * both groups. Only when the file names socket_group: the default is no
 * statement of intent. The path comes from getsockname(2), which returns
 * the bound path for a Unix socket on Linux and macOS alike.
 */
static void
check_activated_group(const struct softnetd *sd, int s)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	char path[sizeof(sun.sun_path) + 1], want[64], have[64];
	const struct group *gr;
	struct stat st;
	size_t n;

	if (!sd->cfg.socket_group_set)
		return;
	memset(&sun, 0, sizeof(sun));
	if (getsockname(s, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX ||
	    len <= offsetof(struct sockaddr_un, sun_path))
		return;
	/* sun_path need not end in a NUL when the path fills it. */
	n = len - offsetof(struct sockaddr_un, sun_path);
	if (n > sizeof(sun.sun_path))
		n = sizeof(sun.sun_path);
	memcpy(path, sun.sun_path, n);
	path[n] = '\0';
	if (path[0] != '/') /* unnamed or abstract: no file, no group */
		return;
	if (lstat(path, &st) == -1) {
		log_warn("control socket %s: cannot check its group", path);
		return;
	}
	if ((gr = getgrnam(sd->cfg.socket_group)) != NULL &&
	    gr->gr_gid == st.st_gid)
		return;
	snprintf(want, sizeof(want), "%s", sd->cfg.socket_group);
	if ((gr = getgrgid(st.st_gid)) != NULL)
		snprintf(have, sizeof(have), "%s (%u)", gr->gr_name,
		    (unsigned)st.st_gid);
	else
		snprintf(have, sizeof(have), "%u", (unsigned)st.st_gid);
	log_warnx("control socket %s has group %s, set by the service "
	          "manager, but the configuration's socket_group is %s%s; "
	          "the service manager's wins: make them agree "
	          "(SockPathGroup in the launchd plist, SocketGroup= in "
	          "softnetd.socket)",
	    path, have, want,
	    getgrnam(sd->cfg.socket_group) == NULL ? " (no such group)" : "");
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
		check_activated_group(sd, s);
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
	if ((s = osdep_socket(AF_UNIX, SOCK_STREAM, true)) == -1) {
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
	/*
	 * bind made the file 0660 (the umask above); lchown gives it the
	 * group without following a symbolic link swapped in since, which
	 * chown(2) would hand to socket_group. fchown on the descriptor
	 * would change the socket's own inode, not the file (Linux sockfs).
	 */
	if (lchown(path, 0, gr->gr_gid) == -1 || !socket_file(path) ||
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
	ctl->retry = evtimer_new(sd->base, control_accept_retry, sd);
	if (ctl->ev == NULL || ctl->retry == NULL ||
	    event_add(ctl->ev, NULL) == -1)
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
	event_free(ctl->retry);
	close(ctl->fd);
	if (ctl->path != NULL)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
	sd->control = NULL;
}
