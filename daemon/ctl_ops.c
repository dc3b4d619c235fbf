/*
 * Theory of operation: the control protocol's dispatch, as OpenBSD vmd
 * keeps its dispatch apart from control.c. ctl_ops_request parses one
 * line, checks what every request must be (a JSON object, an "id" string
 * or integer, a known "op", no field the op does not take, a descriptor
 * only for an op that takes one) and calls the op with one struct ctl_req.
 * Every op answers with a reply object; the descriptor is consumed on
 * every path (adopted by an attach, else closed).
 *
 * Identity is the peer's kernel credentials: root and admin_group members
 * act on every VM; others only on the VMs they attached. A VM a peer may
 * not act on is invisible to it: id, name and MAC lookups answer exactly
 * as for a VM that is not attached (not_found, "no VM ... attached", one
 * message shape), and VM names are per owner, so attaching a name another
 * user uses succeeds rather than revealing it (Security model, rule 4). A
 * MAC and its lease belong to the uid that first attached it until an
 * admin releases it (lease.release); port.c refuses it to others with
 * mac_in_use (rule 2).
 *
 * The views (what a VM or a lease looks like on the wire) are ctl_json.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bootpd.h"
#include "capture.h"
#include "clock.h"
#include "ctl_json.h"
#include "ctl_ops.h"
#include "dnsfwd.h"
#include "events.h"
#include "fdbudget.h"
#include "leasedb.h"
#include "log.h"
#include "osdep.h"
#include "policy.h"
#include "port.h"
#include "reserve.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "vm.h"

/*
 * Rows per `leases` reply, and the most a caller may ask for: one page is
 * one index range of the lease table and one reply of about 100 KiB, so a
 * table of 100k rows never holds the loop for more than a few milliseconds
 * per request and never makes a reply the connection's output limit
 * refuses. (Before pages, root's `leases` at 300k rows built a 60 MB reply
 * in 0.23 s and the connection was closed for it: over CONN_OUT_MAX.)
 */
#define LEASES_PAGE 500

/* May peer act on p? */
static bool
may_act(const struct ctl_peer *peer, const struct port *p)
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
lookup_visible(struct softnetd *sd, const struct ctl_peer *peer,
    const char *ident, bool *several)
{
	struct port *p, *found = NULL;
	uint8_t mac[6];
	char *end;
	unsigned long v;

	*several = false;
	TAILQ_FOREACH(p, port_all(sd), entry) {
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
find_vm(const struct ctl_req *r, struct port **pp)
{
	json_t *v = json_object_get(r->req, "vm");
	char ident[80];
	bool several = false;

	*pp = NULL;
	if (json_is_integer(v)) {
		snprintf(ident, sizeof(ident), "%lld",
		    (long long)json_integer_value(v));
		if (json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= UINT32_MAX)
			*pp =
			    port_by_id(r->sd, (uint32_t)json_integer_value(v));
	} else if (json_is_string(v)) {
		snprintf(ident, sizeof(ident), "%.64s", json_string_value(v));
		*pp = lookup_visible(
		    r->sd, r->peer, json_string_value(v), &several);
	} else {
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"vm\" (a name, MAC or id) is required");
	}
	if (several)
		return ctl_json_error(r->id, SOFTNET_E_CONFLICT,
		    "several VMs (of different users) are named %s; name it "
		    "by id or MAC",
		    ident);
	if (*pp != NULL && !may_act(r->peer, *pp))
		*pp = NULL;
	if (*pp == NULL)
		return ctl_json_error(
		    r->id, SOFTNET_E_NOT_FOUND, "no VM %s attached", ident);
	return NULL;
}

/* Adds the strings of array field key to pol; NULL or an error reply. */
static json_t *
add_policy_field(const struct ctl_req *r, const char *key, struct policy *pol)
{
	json_t *arr = json_object_get(r->req, key);
	char err[POLICY_ERRLEN];
	size_t at;

	if (arr == NULL)
		return NULL;
	switch (policy_add_json(pol, key, arr, &at, err, sizeof(err))) {
	case POLICY_JSON_OK:
		return NULL;
	case POLICY_JSON_BAD_ENTRY:
		return ctl_json_error(r->id, SOFTNET_E_BAD_POLICY, "%s", err);
	default:
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"%s\" must be an array of strings", key);
	}
}

/* A reply of one VM ("vm"). */
static json_t *
reply_vm(const struct ctl_req *r, const struct port *p, bool detail)
{
	json_t *reply = ctl_json_reply(true, r->id);

	json_object_set_new(reply, "vm", ctl_json_vm(p, detail));
	return reply;
}

/* A reply of every VM the peer may see ("vms"). */
static json_t *
reply_vms(const struct ctl_req *r, bool detail)
{
	json_t *reply, *vms = json_array();
	struct port *p;

	TAILQ_FOREACH(p, port_all(r->sd), entry) {
		if (may_act(r->peer, p))
			json_array_append_new(vms, ctl_json_vm(p, detail));
	}
	reply = ctl_json_reply(true, r->id);
	json_object_set_new(reply, "vms", vms);
	return reply;
}

/* hello: version negotiation. */
static json_t *
op_hello(const struct ctl_req *r)
{
	json_t *v = json_object_get(r->req, "version"), *reply;

	if (!json_is_integer(v))
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"version\" (an integer) is required");
	if (json_integer_value(v) < 1)
		return ctl_json_error(r->id, SOFTNET_E_VERSION,
		    "protocol version %lld is not supported (server speaks "
		    "1..%d)",
		    (long long)json_integer_value(v), SOFTNET_PROTO_VERSION);
	reply = ctl_json_reply(true, r->id);
	json_object_set_new(reply, "version",
	    json_integer(json_integer_value(v) < SOFTNET_PROTO_VERSION
	                     ? json_integer_value(v)
	                     : SOFTNET_PROTO_VERSION));
	json_object_set_new(reply, "server", json_string("softnetd"));
	json_object_set_new(reply, "software", json_string(SOFTNET_VERSION));
	json_object_set_new(reply, "uid", json_integer(r->peer->uid));
	json_object_set_new(reply, "admin", json_boolean(r->peer->admin));
	return reply;
}

/*
 * Whether peer may publish pol's exposures (Security model, rule 5): what
 * the user could bind without the daemon's root. Host ports below 1024
 * and any address but loopback (127/8) or the gateway, 0.0.0.0 included,
 * need root or admin_group. NULL, or a permission_denied reply.
 */
static json_t *
expose_permitted(const struct ctl_req *r, const struct policy *pol)
{
	const struct policy_expose *e;
	char buf[64];
	size_t i;

	if (r->peer->admin)
		return NULL;
	for (i = 0; i < pol->nexpose; i++) {
		e = &pol->expose[i];
		policy_format_expose(e, buf, sizeof(buf));
		if (e->ext < 1024)
			return ctl_json_error(r->id, SOFTNET_E_PERMISSION,
			    "--expose %s: host ports below 1024 need root or "
			    "admin_group",
			    buf);
		if (e->has_addr && (e->addr >> 24) != 127 &&
		    e->addr != r->sd->up.gateway)
			return ctl_json_error(r->id, SOFTNET_E_PERMISSION,
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

	TAILQ_FOREACH(p, port_all(sd), entry) {
		if (p->owner == (int64_t)uid)
			n++;
	}
	return n;
}

/* attach, step 1: the plain fields (name, session, pinned ip). */
static json_t *
attach_fields(const struct ctl_req *r, struct vm_attach_args *a)
{
	json_t *mac = json_object_get(r->req, "mac");
	json_t *name = json_object_get(r->req, "name");
	json_t *sess = json_object_get(r->req, "session");
	json_t *ip = json_object_get(r->req, "ip");

	if ((mac != NULL && !json_is_string(mac)) ||
	    (name != NULL && !json_is_string(name) && !json_is_null(name)) ||
	    (sess != NULL && !json_is_boolean(sess)))
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"mac\" and \"name\" must be strings, \"session\" a "
		    "boolean");
	if (json_is_string(name)) {
		a->name = json_string_value(name);
		if (!addr_name_valid(a->name))
			return ctl_json_error(r->id, SOFTNET_E_BAD_NAME,
			    "bad VM name \"%.64s\": 1-63 of A-Z a-z 0-9 . _ -, "
			    "not all digits, not a MAC",
			    a->name);
	}
	/* Who may pin which address is vm_attach's call (it knows MACs). */
	if (ip != NULL &&
	    (!json_is_string(ip) ||
	        addr_parse_ipv4(json_string_value(ip), &a->ip) == -1 ||
	        a->ip == 0))
		return ctl_json_error(r->id, SOFTNET_E_BAD_IP,
		    "\"ip\" must be an IPv4 address string");
	a->session = json_is_true(sess) ? r->session : NULL;
	return NULL;
}

/* attach, step 2: the VM's rules and exposures, and whether peer may. */
static json_t *
attach_policy(const struct ctl_req *r, struct policy *pol)
{
	const struct policy *def = &r->sd->cfg.default_policy;
	json_t *err;

	policy_init(pol);
	if ((err = add_policy_field(r, "allow", pol)) != NULL ||
	    (err = add_policy_field(r, "block", pol)) != NULL ||
	    (err = add_policy_field(r, "expose", pol)) != NULL)
		return err;
	/* No rules of its own: the VM gets the configured default rules. */
	if (pol->nrules == 0) {
		memcpy(pol->rules, def->rules, sizeof(pol->rules));
		pol->nrules = def->nrules;
	}
	pol->revision = 1;
	return expose_permitted(r, pol);
}

/* attach, step 3: the descriptor's kind and the VM's MAC. */
static json_t *
attach_mac(const struct ctl_req *r, struct vm_attach_args *a)
{
	json_t *mac = json_object_get(r->req, "mac");
	uint8_t devmac[6];

	a->kind = osdep_fd_kind(r->fd, devmac);
	if (a->kind == OSDEP_FD_OTHER)
		return ctl_json_error(r->id, SOFTNET_E_BAD_FD,
		    "the descriptor is neither a Unix datagram socket nor a "
		    "TAP device (without packet info)");
	if (mac == NULL && a->kind == OSDEP_FD_TAP) {
		memcpy(a->mac, devmac, 6);
		return NULL;
	}
	if (mac == NULL)
		return ctl_json_error(r->id, SOFTNET_E_BAD_MAC,
		    "\"mac\" is required for a socket descriptor");
	if (addr_parse_mac(json_string_value(mac), a->mac) == -1)
		return ctl_json_error(r->id, SOFTNET_E_BAD_MAC,
		    "bad MAC address \"%.32s\"", json_string_value(mac));
	if (a->kind == OSDEP_FD_TAP && memcmp(a->mac, devmac, 6) != 0)
		return ctl_json_error(r->id, SOFTNET_E_BAD_MAC,
		    "MAC %.32s is not the TAP device's MAC",
		    json_string_value(mac));
	return NULL;
}

/* attach, step 4: the peer's VM quota and the descriptor budget. */
static json_t *
attach_quota(const struct ctl_req *r)
{
	static struct log_rl rl;
	struct softnetd *sd = r->sd;
	const struct ctl_peer *peer = r->peer;

	if (!peer->admin && vms_of(sd, peer->uid) >= sd->cfg.max_vms_per_user)
		return ctl_json_error(r->id, SOFTNET_E_TOO_MANY_VMS,
		    "uid %u has %u VMs attached (max_vms_per_user)",
		    (unsigned)peer->uid, sd->cfg.max_vms_per_user);
	/*
	 * The descriptor stops being one in flight (reserved with the
	 * connection, which lives on) and becomes the VM's, held until
	 * detach: one more from the budget, kept off the admin reserve so a
	 * user's pile of VMs cannot lock root out of the control socket.
	 */
	if (fdbudget_room(sd, 1, peer->admin))
		return NULL;
	sd->fdb.attach_refused++;
	log_warnx_rl(&rl,
	    "control: refused an attach of uid %u: no descriptors to spare "
	    "(%u free of %u)",
	    (unsigned)peer->uid, fdbudget_free(sd), sd->fdb.limit);
	return ctl_json_error(r->id, SOFTNET_E_BUSY,
	    "daemon busy: no descriptors to spare for another VM (%u free of "
	    "%u, the rest kept for root and the admin group; descriptor "
	    "limit)",
	    fdbudget_free(sd), sd->fdb.limit);
}

/*
 * attach, step 5: the port itself (port.c's checks: MAC and name in use,
 * pinned address, exposure, lease). Closes the descriptor on failure.
 */
static json_t *
attach_port(const struct ctl_req *r, const struct vm_attach_args *a)
{
	char msg[CTL_JSON_MSG_LEN];
	enum vm_err verr;
	struct port *p;

	if ((p = vm_attach(r->sd, a, &verr, msg, sizeof(msg))) == NULL) {
		close(r->fd);
		return ctl_json_error(r->id, vm_err_code(verr), "%s", msg);
	}
	return reply_vm(r, p, false);
}

/* attach: adopts the request's fd as a new VM port. */
static json_t *
op_attach(const struct ctl_req *r)
{
	struct vm_attach_args a = {
	    .fd = r->fd, .owner = r->peer->uid, .admin = r->peer->admin};
	struct policy pol;
	json_t *err;

	if (r->fd == -1)
		return ctl_json_error(r->id, SOFTNET_E_NO_FD,
		    "attach needs the VM's descriptor (SCM_RIGHTS)");
	if ((err = attach_fields(r, &a)) != NULL ||
	    (err = attach_policy(r, &pol)) != NULL ||
	    (err = attach_mac(r, &a)) != NULL ||
	    (err = attach_quota(r)) != NULL) {
		close(r->fd);
		return err;
	}
	a.policy = &pol;
	return attach_port(r, &a);
}

/* detach: removes a VM and releases its lease. */
static json_t *
op_detach(const struct ctl_req *r)
{
	struct port *p;
	json_t *reply;

	if ((reply = find_vm(r, &p)) != NULL)
		return reply;
	reply = reply_vm(r, p, false);
	vm_detach(r->sd, p);
	return reply;
}

/* list: the VMs this peer may see. */
static json_t *
op_list(const struct ctl_req *r)
{
	return reply_vms(r, false);
}

/* show: one VM in detail. */
static json_t *
op_show(const struct ctl_req *r)
{
	struct port *p;
	json_t *reply;

	if ((reply = find_vm(r, &p)) != NULL)
		return reply;
	return reply_vm(r, p, true);
}

/* stats: one VM in detail, or every VM this peer may see. */
static json_t *
op_stats(const struct ctl_req *r)
{
	if (json_object_get(r->req, "vm") != NULL)
		return op_show(r);
	return reply_vms(r, true);
}

/*
 * The addresses in DECLINE quarantine this peer may see (all for an
 * admin, else those its own VMs declined), at most one page: each VM
 * keeps at most dhcp.max_declined of them.
 */
static json_t *
quarantine_rows(const struct ctl_req *r)
{
	static struct leasedb_quarantine q[LEASES_PAGE];
	json_t *arr = json_array();
	int n, i;

	n = leasedb_quarantine_list(r->sd->db, clock_now(), r->peer->admin,
	    (int64_t)r->peer->uid, q, LEASES_PAGE);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, ctl_json_quarantine(&q[i]));
	return arr;
}

/*
 * Whether peer may see reservation e: an admin sees all; others see the
 * ones that serve a VM they have attached (config is the admin's).
 */
static bool
reservation_visible(const struct ctl_req *r, const struct reserve_entry *e)
{
	struct port *p;

	if (r->peer->admin)
		return true;
	TAILQ_FOREACH(p, port_all(r->sd), entry) {
		if (may_act(r->peer, p) && reserve_matches(e, p->mac, p->name))
			return true;
	}
	return false;
}

/* Appends a "reserved" row for e unless a VM it serves holds it now. */
static int
reserved_row(
    const struct ctl_req *r, const struct reserve_entry *e, json_t *arr)
{
	struct lease h;
	int rc;

	if (!reservation_visible(r, e))
		return 0;
	if ((rc = leasedb_holder(r->sd->db, e->ip, clock_now(), &h)) == -1)
		return -1;
	if (rc == 0 && reserve_matches(e, h.mac, h.name))
		return 0;
	json_array_append_new(arr, ctl_json_reserved(e, rc == 0 ? &h : NULL));
	return 0;
}

/*
 * The reservations (dhcp.reservations, then attach --ip pins) no VM of
 * theirs holds now, as rows of state "reserved" after the last page: they
 * are config and memory, not lease rows, and few.
 */
static int
reserved_rows(const struct ctl_req *r, json_t *arr)
{
	const struct config *cfg = &r->sd->cfg;
	const struct reserve_entry *pins;
	size_t i, n;

	for (i = 0; i < cfg->dhcp.nreservations; i++)
		if (reserved_row(r, &cfg->dhcp.reservations[i], arr) == -1)
			return -1;
	pins = leasedb_pins(r->sd->db, &n);
	for (i = 0; i < n; i++)
		if (reserved_row(r, &pins[i], arr) == -1)
			return -1;
	return 0;
}

/* The "after" and "limit" of a leases request; NULL or an error reply. */
static json_t *
leases_range(const struct ctl_req *r, uint8_t start[6], size_t *max)
{
	json_t *after = json_object_get(r->req, "after");
	json_t *lim = json_object_get(r->req, "limit");

	*max = LEASES_PAGE;
	if (after != NULL &&
	    (!json_is_string(after) ||
	        addr_parse_mac(json_string_value(after), start) == -1))
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"after\" must be a MAC address");
	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
		    json_integer_value(lim) > LEASES_PAGE)
			return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
			    "\"limit\" must be an integer 1..%d", LEASES_PAGE);
		*max = (size_t)json_integer_value(lim);
	}
	return NULL;
}

/*
 * leases: one page of the rows this peer may see, ordered by MAC.
 * "after" (a MAC) continues where the previous page's "next" said;
 * "limit" (1..LEASES_PAGE) shortens a page. "next" is null on the last.
 */
static json_t *
op_leases(const struct ctl_req *r)
{
	static struct lease rows[LEASES_PAGE];
	bool first = json_object_get(r->req, "after") == NULL;
	char mac[SOFTNET_MAC_STRLEN];
	uint8_t start[6];
	size_t max;
	json_t *reply, *arr;
	int n, i;

	if ((reply = leases_range(r, start, &max)) != NULL)
		return reply;
	n = leasedb_page(r->sd->db, first ? NULL : start, r->peer->admin,
	    (int64_t)r->peer->uid, rows, max);
	if (n == -1)
		return ctl_json_error(
		    r->id, SOFTNET_E_INTERNAL, "lease database error");
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, ctl_json_lease(&rows[i]));
	if ((size_t)n < max && reserved_rows(r, arr) == -1) {
		json_decref(arr);
		return ctl_json_error(
		    r->id, SOFTNET_E_INTERNAL, "lease database error");
	}
	reply = ctl_json_reply(true, r->id);
	json_object_set_new(reply, "leases", arr);
	/* Quarantined addresses (RFC 2131 4.3.3) ride on the first page. */
	if (first)
		json_object_set_new(reply, "quarantine", quarantine_rows(r));
	if ((size_t)n == max) {
		addr_format_mac(rows[n - 1].mac, mac);
		json_object_set_new(reply, "next", json_string(mac));
	} else
		json_object_set_new(reply, "next", json_null());
	return reply;
}

/* A reply of one VM's policy ("policy"). */
static json_t *
reply_policy(const struct ctl_req *r, const struct port *p)
{
	json_t *reply = ctl_json_reply(true, r->id);

	json_object_set_new(reply, "policy", ctl_json_policy(&p->policy));
	return reply;
}

/* policy.get: a VM's rules and their revision. */
static json_t *
op_policy_get(const struct ctl_req *r)
{
	struct port *p;
	json_t *reply;

	if ((reply = find_vm(r, &p)) != NULL)
		return reply;
	return reply_policy(r, p);
}

/*
 * policy.set: replaces a VM's allow/block rules in one step. The new rules
 * are built aside and swapped in only when all of them parsed, so a bad
 * entry changes nothing; "revision", when given, must match the current one
 * (compare-and-swap for concurrent editors). Exposed ports stay.
 */
static json_t *
op_policy_set(const struct ctl_req *r)
{
	json_t *rev = json_object_get(r->req, "revision"), *reply;
	struct policy next;
	struct port *p;

	if (rev != NULL && !json_is_integer(rev))
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"revision\" must be an integer");
	if ((reply = find_vm(r, &p)) != NULL)
		return reply;
	if (rev != NULL &&
	    (uint64_t)json_integer_value(rev) != p->policy.revision)
		return ctl_json_error(r->id, SOFTNET_E_CONFLICT,
		    "the policy is at revision %llu, not %lld",
		    (unsigned long long)p->policy.revision,
		    (long long)json_integer_value(rev));
	policy_init(&next);
	if ((reply = add_policy_field(r, "allow", &next)) != NULL ||
	    (reply = add_policy_field(r, "block", &next)) != NULL)
		return reply;
	memcpy(next.expose, p->policy.expose, sizeof(next.expose));
	next.nexpose = p->policy.nexpose;
	next.revision = p->policy.revision + 1;
	p->policy = next;
	log_info("vm %u: policy revision %llu (%zu rules)", p->id,
	    (unsigned long long)next.revision, next.nrules);
	port_event(r->sd, p,
	    &(struct event_desc){
	        .kind = EVENTS_POLICY, .revision = next.revision});
	return reply_policy(r, p);
}

/*
 * lease.release: forgets a MAC's lease row, its address and its owner
 * (`softnetctl leases release MAC`), so that any uid may attach the MAC
 * again (Security model, rule 2). Admin or the row's owner only; to
 * anyone else the lease answers as missing (rule 4). An attached MAC is
 * refused: detach it first.
 */
static json_t *
op_lease_release(const struct ctl_req *r)
{
	json_t *mac = json_object_get(r->req, "mac"), *reply;
	char macs[SOFTNET_MAC_STRLEN];
	uint8_t m[6];
	struct lease l;
	int rc;

	if (!json_is_string(mac))
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"mac\" (a string) is required");
	if (addr_parse_mac(json_string_value(mac), m) == -1)
		return ctl_json_error(r->id, SOFTNET_E_BAD_MAC,
		    "bad MAC address \"%.32s\"", json_string_value(mac));
	addr_format_mac(m, macs);
	if ((rc = leasedb_get(r->sd->db, m, &l)) == -1)
		return ctl_json_error(
		    r->id, SOFTNET_E_INTERNAL, "lease database error");
	if (rc == 1 || (!r->peer->admin && l.owner != (int64_t)r->peer->uid))
		return ctl_json_error(
		    r->id, SOFTNET_E_NOT_FOUND, "no lease for MAC %s", macs);
	if (port_by_mac(r->sd, m) != NULL)
		return ctl_json_error(r->id, SOFTNET_E_MAC_IN_USE,
		    "MAC %s is attached; detach it first", macs);
	if (leasedb_forget(r->sd->db, m, clock_now()) == -1)
		return ctl_json_error(
		    r->id, SOFTNET_E_INTERNAL, "lease database error");
	bootpd_dirty(r->sd);
	log_info("lease of MAC %s (owner %lld) released by uid %u", macs,
	    (long long)l.owner, (unsigned)r->peer->uid);
	reply = ctl_json_reply(true, r->id);
	json_object_set_new(reply, "lease",
	    json_pack("{s:s,s:o,s:I}", "mac", macs, "ip", ctl_json_ip(l.ip),
	        "owner", (json_int_t)l.owner));
	return reply;
}

/* The DNS forwarder's shares and refusals (dnsfwd.c), or null when off. */
static json_t *
dns_status_json(void)
{
	struct dnsfwd_counters c;

	if (!dnsfwd_counters(&c))
		return json_null();
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "in_flight", (json_int_t)c.in_flight, "max",
	    (json_int_t)DNSFWD_MAX_TOTAL, "max_per_vm",
	    (json_int_t)DNSFWD_MAX_PER_VM, "max_per_user",
	    (json_int_t)DNSFWD_MAX_PER_USER, "admin_reserve",
	    (json_int_t)DNSFWD_ADMIN_RESERVE, "relayed", (json_int_t)c.relayed,
	    "refused",
	    (json_int_t)(c.refused_vm + c.refused_user + c.refused_reserved +
	                 c.refused_full),
	    "refused_vm_cap", (json_int_t)c.refused_vm, "refused_user_cap",
	    (json_int_t)c.refused_user, "refused_admin_reserve",
	    (json_int_t)c.refused_reserved, "refused_total_cap",
	    (json_int_t)c.refused_full);
}

/* status: the daemon, its uplink, its pool and its limits. */
static json_t *
op_status(const struct ctl_req *r)
{
	json_t *reply = ctl_json_reply(true, r->id);
	json_t *st = ctl_json_status(r->sd);

	/* Connection, descriptor and exposure limits (issue #13 7-10). */
	json_object_set_new(st, "limits",
	    r->sd->control_limits != NULL ? r->sd->control_limits(r->sd)
	                                  : json_object());
	json_object_set_new(st, "captures",
	    json_pack("{s:I,s:I,s:I,s:I}", "running",
	        (json_int_t)capture_count(r->sd), "max_captures",
	        (json_int_t)r->sd->cfg.max_captures, "max_captures_per_user",
	        (json_int_t)r->sd->cfg.max_captures_per_user, "dropped",
	        (json_int_t)capture_drops_total(r->sd)));
	json_object_set_new(st, "dns", dns_status_json());
	json_object_set_new(reply, "status", st);
	return reply;
}

/*
 * events: makes this connection an event stream (events.c) of what the
 * peer may see, optionally of one VM ("vm": a name, MAC or id, matched
 * as each event comes, so a VM not attached yet can be followed).
 */
static json_t *
op_events(const struct ctl_req *r)
{
	json_t *vm = json_object_get(r->req, "vm"), *reply;
	char msg[CTL_JSON_MSG_LEN], started[32], ts[48];
	struct tm tm;
	time_t t = r->sd->started;

	if (vm != NULL &&
	    (!json_is_string(vm) || json_string_length(vm) >= ADDR_NAMELEN ||
	        json_string_length(vm) == 0))
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"vm\" must be a name, MAC or id");
	if (r->session == NULL ||
	    events_subscribe(r->sd, r->session, r->peer->uid, r->peer->admin,
	        vm != NULL ? json_string_value(vm) : NULL, msg,
	        sizeof(msg)) == -1)
		return ctl_json_error(r->id, SOFTNET_E_BUSY, "daemon busy: %s",
		    r->session == NULL ? "no connection" : msg);
	gmtime_r(&t, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	reply = ctl_json_reply(true, r->id);
	events_format_ts(ts, sizeof(ts));
	json_object_set_new(reply, "ts", json_string(ts));
	json_object_set_new(reply, "event", json_string("subscribed"));
	json_object_set_new(reply, "started", json_string(started));
	log_debug("uid %u subscribed to events", (unsigned)r->peer->uid);
	return reply;
}

/*
 * capture: starts a packet capture of a VM the peer may act on and
 * answers with the reading end of its socketpair (control.c sends it by
 * SCM_RIGHTS with the reply). "direction" "in", "out" or "both"
 * (default), from the VM's point of view; "drops" true adds the frames
 * the daemon dropped, with their reason. It ends with this connection.
 */
static json_t *
op_capture(const struct ctl_req *r)
{
	json_t *dir = json_object_get(r->req, "direction");
	json_t *drops = json_object_get(r->req, "drops"), *reply;
	struct capture_args a = {.owner = r->peer->uid,
	    .admin = r->peer->admin,
	    .session = r->session,
	    .dir = CAPTURE_BOTH};
	char msg[CTL_JSON_MSG_LEN], name[PORT_NAMELEN];
	struct port *p;
	int fd;

	if ((drops != NULL && !json_is_boolean(drops)) ||
	    (dir != NULL && !json_is_string(dir)))
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"drops\" must be a boolean, \"direction\" a string");
	if (dir != NULL && strcmp(json_string_value(dir), "in") == 0)
		a.dir = CAPTURE_IN;
	else if (dir != NULL && strcmp(json_string_value(dir), "out") == 0)
		a.dir = CAPTURE_OUT;
	else if (dir != NULL && strcmp(json_string_value(dir), "both") != 0)
		return ctl_json_error(r->id, SOFTNET_E_BAD_REQUEST,
		    "\"direction\" must be \"in\", \"out\" or \"both\"");
	a.drops = json_is_true(drops);
	if ((reply = find_vm(r, &p)) != NULL)
		return reply;
	if (!fdbudget_room(r->sd, 1, r->peer->admin))
		return ctl_json_error(r->id, SOFTNET_E_BUSY,
		    "daemon busy: no descriptors to spare for a capture");
	if (p->name[0] != '\0')
		snprintf(name, sizeof(name), "%s", p->name);
	else
		snprintf(name, sizeof(name), "vm%u", p->id);
	a.name = name;
	a.dropped = &p->st.capture_drops;
	switch (capture_start(r->sd, &p->captures, &a, &fd, msg, sizeof(msg))) {
	case CAPTURE_OK:
		break;
	case CAPTURE_E_SYS:
		return ctl_json_error(r->id, SOFTNET_E_INTERNAL, "%s", msg);
	default:
		return ctl_json_error(r->id, SOFTNET_E_BUSY, "%s", msg);
	}
	log_info(
	    "vm %u: capture started by uid %u", p->id, (unsigned)r->peer->uid);
	*r->reply_fd = fd;
	return reply_vm(r, p, false);
}

/* The fields each op takes; any other is refused before the op runs. */
static const char *const k_bare[] = {"op", "id", NULL};
static const char *const k_vm[] = {"op", "id", "vm", NULL};
static const char *const k_leases[] = {"op", "id", "after", "limit", NULL};
static const char *const k_hello[] = {"op", "id", "version", "client", NULL};
static const char *const k_attach[] = {"op", "id", "mac", "name", "session",
    "allow", "block", "expose", "ip", NULL};
static const char *const k_mac[] = {"op", "id", "mac", NULL};
static const char *const k_capture[] = {
    "op", "id", "vm", "direction", "drops", NULL};
static const char *const k_policy_set[] = {
    "op", "id", "vm", "allow", "block", "revision", NULL};

static const struct ctl_op {
	const char *name;
	json_t *(*fn)(const struct ctl_req *r);
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
    {SOFTNET_OP_EVENTS, op_events, false, k_vm},
    {SOFTNET_OP_CAPTURE, op_capture, false, k_capture},
};

/* Checks that req has no key outside allowed; names the first stray one. */
static const char *
stray_key(json_t *req, const char *const *allowed)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(req, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return key;
	}
	return NULL;
}

/*
 * What every request must be before its op runs: "id" a string or an
 * integer, "op" a known one, no field the op does not take, a descriptor
 * only with an op that takes one. NULL, or an error reply; *op is set.
 */
static json_t *
check_request(json_t *req, bool has_fd, const struct ctl_op **op)
{
	json_t *name, *id = json_object_get(req, "id");
	const char *k;
	size_t i;

	if (id != NULL && !json_is_string(id) && !json_is_integer(id))
		return ctl_json_error(NULL, SOFTNET_E_BAD_REQUEST,
		    "\"id\" must be a string or an integer");
	name = json_object_get(req, "op");
	if (!json_is_string(name))
		return ctl_json_error(
		    id, SOFTNET_E_BAD_REQUEST, "\"op\" (a string) is required");
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, json_string_value(name)) == 0)
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return ctl_json_error(id, SOFTNET_E_UNKNOWN_OP,
		    "unknown op \"%.64s\"", json_string_value(name));
	if ((k = stray_key(req, ops[i].keys)) != NULL)
		return ctl_json_error(
		    id, SOFTNET_E_BAD_REQUEST, "unknown field \"%s\"", k);
	if (has_fd && !ops[i].takes_fd)
		return ctl_json_error(id, SOFTNET_E_UNEXPECTED_FD,
		    "%s takes no descriptor", ops[i].name);
	*op = &ops[i];
	return NULL;
}

/* Counts a request by op and result for the metrics (issue #16). */
static void
count_request(struct softnetd *sd, const struct ctl_op *op, json_t *reply)
{
	size_t slot = op != NULL ? (size_t)(op - ops) : SOFTNETD_CTL_SLOTS - 1;

	_Static_assert(sizeof(ops) / sizeof(ops[0]) < SOFTNETD_CTL_SLOTS,
	    "ctl_requests has no slot for every op");
	sd->ctl_requests[slot]
	                [json_is_true(json_object_get(reply, "ok")) ? 0 : 1]++;
}

json_t *
ctl_ops_request(struct softnetd *sd, const struct ctl_peer *peer,
    const char *line, size_t len, int fd, void *session)
{
	json_t *reply;
	int reply_fd;

	reply = ctl_ops_request_fd(sd, peer, line, len, fd, session, &reply_fd);
	if (reply_fd != -1)
		close(reply_fd);
	return reply;
}

json_t *
ctl_ops_request_fd(struct softnetd *sd, const struct ctl_peer *peer,
    const char *line, size_t len, int fd, void *session, int *reply_fd)
{
	struct ctl_req r = {.sd = sd,
	    .peer = peer,
	    .fd = fd,
	    .session = session,
	    .reply_fd = reply_fd};
	const struct ctl_op *op = NULL;
	json_error_t jerr;
	json_t *reply;

	*reply_fd = -1;
	r.req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (r.req == NULL || !json_is_object(r.req)) {
		reply = ctl_json_error(NULL, SOFTNET_E_BAD_JSON,
		    r.req == NULL ? "malformed JSON: %s"
		                  : "a request is a JSON object%s",
		    r.req == NULL ? jerr.text : "");
	} else if ((reply = check_request(r.req, fd != -1, &op)) == NULL) {
		r.id = json_object_get(r.req, "id");
		reply = op->fn(&r);
		fd = -1; /* the op's now */
	}
	if (fd != -1)
		close(fd);
	json_decref(r.req);
	count_request(sd, op, reply);
	return reply;
}

const char *
ctl_ops_name(size_t i)
{
	return i < sizeof(ops) / sizeof(ops[0]) ? ops[i].name : NULL;
}
