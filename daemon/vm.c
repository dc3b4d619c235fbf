/*
 * Theory of operation: a VM's life across the modules, in one place.
 *
 * vm_attach runs the checks that need no side effect first (max_vms, the
 * MAC, the name, attach --ip), then has port.c check and prepare the
 * descriptor and make an unregistered port, then opens its exposed ports
 * and records the VM in the lease database, and only then registers the
 * port (it starts reading) and gives back a lease bound before a daemon
 * restart. A step that fails undoes the steps before it, so a refused
 * attach leaves no port, no listening socket and no lease row, and the
 * client's fd stays the caller's to close. vm_detach is the reverse: the
 * port goes (and with it the exposed ports), then the lease is released.
 * Dead ports come here too (port_set_hooks), as do control sessions that
 * end, and the lease-expiry timer.
 *
 * Refusals are an enum; vm_errs below is the one table that turns one
 * into a protocol error code (SOFTNET_E_*) and the client's message.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "bootpd.h"
#include "clock.h"
#include "events.h"
#include "expose.h"
#include "leasedb.h"
#include "log.h"
#include "port.h"
#include "reserve.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "vm.h"
#include "xmalloc.h"

#define VM_EXPIRE_SECS 5 /* how often leases are expired */
/*
 * Idle lease rows purged per expiry tick: one short transaction (a few ms
 * at most), so a table of 100k stale rows drains in minutes without ever
 * holding the loop.
 */
#define VM_PURGE_BATCH 500
#define VM_ARGLEN      256 /* one argument of a refusal's message */

struct vms {
	struct event *expire_ev;
	uint64_t leases_purged; /* idle rows past dhcp.lease_retention */
	/* Successful attaches, for the metrics (issue #16). */
	struct vm_attach_hist attach;
};

/* The histogram's upper bounds (le), in nanoseconds. */
static const uint64_t attach_bounds_ns[VM_ATTACH_BUCKETS] = {100000, 250000,
    500000, 1000000, 2500000, 5000000, 10000000, 25000000, 100000000,
    1000000000};

/* The refusal's words: up to two %s, filled by refuse(). */
static const struct {
	const char *code;
	const char *fmt;
} vm_errs[VM__COUNT] = {
    [VM_OK] = {"ok", ""},
    [VM_TOO_MANY] = {SOFTNET_E_TOO_MANY_VMS, "max_vms (%s) VMs are attached"},
    [VM_MAC_NOT_UNICAST] = {SOFTNET_E_BAD_MAC,
        "%s is not a unicast MAC address"},
    [VM_MAC_RESERVED] = {SOFTNET_E_BAD_MAC,
        "%s is one of softnetd's own MAC addresses (the uplink's or the "
        "gateway's) and cannot be attached"},
    /* One message whoever holds it: it names no one (rule 4). */
    [VM_MAC_IN_USE] = {SOFTNET_E_MAC_IN_USE,
        "MAC %s is in use (attached, or leased by another user; an admin "
        "frees it with `softnetctl leases release`)"},
    [VM_NAME_IN_USE] = {SOFTNET_E_NAME_IN_USE,
        "you already have a VM named \"%s\" attached"},
    [VM_IP_NOT_OURS] = {SOFTNET_E_BAD_IP,
        "%s is not a VM address of this network (a host of the gateway's "
        "subnet, not the gateway)"},
    [VM_IP_RESERVED] = {SOFTNET_E_IP_IN_USE,
        "%s is reserved for %s in dhcp.reservations"},
    [VM_IP_NOT_RESERVED] = {SOFTNET_E_PERMISSION,
        "%s is not reserved for this VM's MAC or name; --ip needs root or "
        "admin_group otherwise"},
    [VM_IP_NEEDS_ADMIN] = {SOFTNET_E_PERMISSION,
        "%s is not reserved for this VM's MAC or name (dhcp.reservations); "
        "--ip needs root or admin_group otherwise"},
    [VM_IP_LEASED] = {SOFTNET_E_IP_IN_USE,
        "%s is in use until %s (another MAC's lease)"},
    [VM_IP_LEASED_BEFORE] = {SOFTNET_E_IP_IN_USE,
        "%s is in use until %s (another MAC's lease, from before the "
        "reservation: it is not renewed, and the address is this VM's "
        "once it ends)"},
    [VM_IP_TAKEN] = {SOFTNET_E_IP_IN_USE, "%s is taken by another attached VM"},
    [VM_FD_NAMED_PEER] = {SOFTNET_E_BAD_FD,
        "the socket is connected to a bound address; pass one end of a "
        "socketpair(2)"},
    [VM_FD_UNCONNECTED] = {SOFTNET_E_BAD_FD,
        "the socket is not connected; pass one end of a socketpair(2)"},
    [VM_FD_ATTACHED] = {SOFTNET_E_BAD_FD,
        "the socket is already attached (vm %s)"},
    [VM_FD_FLAGS] = {SOFTNET_E_BAD_FD,
        "cannot make the descriptor non-blocking: %s"},
    [VM_FD_OFFLOAD] = {SOFTNET_E_BAD_FD, "cannot enable TAP offloads: %s"},
    [VM_PORT_IN_USE] = {SOFTNET_E_PORT_IN_USE, "%s"},
    [VM_DB] = {SOFTNET_E_INTERNAL, "lease database error"},
};

/* The arguments of a refusal's message, filled by the step that refuses. */
struct vm_why {
	char a1[VM_ARGLEN];
	char a2[VM_ARGLEN];
};

const char *
vm_err_code(enum vm_err err)
{
	if ((unsigned)err >= VM__COUNT || vm_errs[err].code == NULL)
		return SOFTNET_E_INTERNAL;
	return vm_errs[err].code;
}

/* Writes err's message with why's arguments into msg; returns err. */
static enum vm_err
refuse(enum vm_err err, const struct vm_why *why, char *msg, size_t msglen)
{
	if ((unsigned)err >= VM__COUNT || vm_errs[err].fmt == NULL)
		err = VM_DB;
	snprintf(msg, msglen, vm_errs[err].fmt, why->a1, why->a2);
	return err;
}

/*
 * Whether mac is one of the daemon's own (the uplink's, vmnet's VM-side
 * MAC, the gateway's as learned from its ARP): never attachable, since the
 * switch would hand that port every frame other VMs send to the gateway.
 */
static bool
mac_reserved(struct softnetd *sd, const uint8_t mac[6])
{
	static const uint8_t zero[6];
	uint8_t gw[6];

	if (memcmp(mac, sd->up.mac, 6) == 0)
		return true;
	if (memcmp(sd->up.vm_mac, zero, 6) != 0 &&
	    memcmp(mac, sd->up.vm_mac, 6) == 0)
		return true;
	return switch_gateway_mac(sd, gw) && memcmp(mac, gw, 6) == 0;
}

/*
 * Whether a's MAC belongs to someone else (Security model, rule 2): a port
 * has it now, or its lease row names another owner. The row outlives the
 * VM on purpose (a detach or a daemon restart does not free the MAC: the
 * owner's VM comes back to the same address); only an admin's
 * `softnetctl leases release` (leasedb_forget) frees it, or an admin
 * attaching it takes it over (leasedb_attach then records the admin as
 * the owner). A row with no owner (-1, from before owners were recorded)
 * belongs to no one.
 */
static bool
mac_taken(struct softnetd *sd, const struct vm_attach_args *a)
{
	struct lease l;

	if (port_by_mac(sd, a->mac) != NULL)
		return true;
	if (leasedb_get(sd->db, a->mac, &l) != 0)
		return false;
	return !a->admin && l.owner >= 0 && l.owner != a->owner;
}

/*
 * Whether a's reservation rules let it pin a->ip: root/admin_group may pin
 * any host address, others only the one dhcp.reservations keeps for this
 * MAC or name; never another VM's reserved address. why->a1 holds the
 * address already; *e the reservation of a->ip, or NULL.
 */
static enum vm_err
ip_reserved_ok(struct softnetd *sd, const struct vm_attach_args *a,
    const struct reserve_entry **e, struct vm_why *why)
{
	*e = reserve_by_ip(
	    sd->cfg.dhcp.reservations, sd->cfg.dhcp.nreservations, a->ip);
	if (*e != NULL && !reserve_matches(*e, a->mac, a->name)) {
		if (!a->admin)
			return VM_IP_NOT_RESERVED;
		reserve_describe(*e, why->a2, sizeof(why->a2));
		return VM_IP_RESERVED;
	}
	if (*e == NULL && !a->admin)
		return VM_IP_NEEDS_ADMIN;
	return VM_OK;
}

/*
 * Whether a may pin a->ip (attach --ip; issue 14): a host of the subnet,
 * not the gateway, allowed by the reservations (ip_reserved_ok); never an
 * address another VM has pinned or is attached with, nor one another
 * MAC's live lease holds (the caller learns until when; the reservation
 * wins once it ends).
 */
static enum vm_err
ip_acceptable(
    struct softnetd *sd, const struct vm_attach_args *a, struct vm_why *why)
{
	const struct reserve_entry *e, *pin, *pins;
	uint32_t mask = sd->up.netmask, net = sd->up.gateway & mask;
	struct lease h;
	struct port *other;
	enum vm_err err;
	size_t npins;
	time_t t;
	int r;

	addr_format_ipv4(a->ip, why->a1);
	if ((a->ip & mask) != net || a->ip == net || a->ip == (net | ~mask) ||
	    a->ip == sd->up.gateway)
		return VM_IP_NOT_OURS;
	if ((err = ip_reserved_ok(sd, a, &e, why)) != VM_OK)
		return err;
	if ((r = leasedb_holder(sd->db, a->ip, clock_now(), &h)) == -1)
		return VM_DB;
	if (r == 0 && memcmp(h.mac, a->mac, 6) != 0) {
		t = (time_t)h.expires;
		if (strftime(why->a2, sizeof(why->a2), "%Y-%m-%dT%H:%M:%SZ",
		        gmtime(&t)) == 0)
			snprintf(why->a2, sizeof(why->a2), "%lld",
			    (long long)h.expires);
		return e != NULL ? VM_IP_LEASED_BEFORE : VM_IP_LEASED;
	}
	pins = leasedb_pins(sd->db, &npins);
	pin = reserve_by_ip(pins, npins, a->ip);
	other = port_by_ip(sd, a->ip);
	if ((pin != NULL && memcmp(pin->mac, a->mac, 6) != 0) ||
	    (other != NULL && memcmp(other->mac, a->mac, 6) != 0))
		return VM_IP_TAKEN;
	return VM_OK;
}

/* The checks an attach passes before anything is changed. */
static enum vm_err
attach_allowed(
    struct softnetd *sd, const struct vm_attach_args *a, struct vm_why *why)
{
	addr_format_mac(a->mac, why->a1);
	if (port_count(sd) >= sd->cfg.max_vms) {
		snprintf(why->a1, sizeof(why->a1), "%u", sd->cfg.max_vms);
		return VM_TOO_MANY;
	}
	if (!addr_mac_is_unicast(a->mac))
		return VM_MAC_NOT_UNICAST;
	if (mac_reserved(sd, a->mac))
		return VM_MAC_RESERVED;
	if (mac_taken(sd, a))
		return VM_MAC_IN_USE;
	if (a->name != NULL && a->name[0] != '\0' &&
	    port_by_owner_name(sd, a->owner, a->name) != NULL) {
		snprintf(why->a1, sizeof(why->a1), "%s", a->name);
		return VM_NAME_IN_USE;
	}
	if (a->ip != 0)
		return ip_acceptable(sd, a, why);
	return VM_OK;
}

/* Has port.c check the descriptor and make the (unregistered) port. */
static enum vm_err
new_port(struct softnetd *sd, const struct vm_attach_args *a, int64_t now,
    struct port **pp, struct vm_why *why)
{
	struct port *p;

	switch (port_new(sd, a->fd, a->kind, pp)) {
	case PORT_OK:
		break;
	case PORT_E_NAMED_PEER:
		return VM_FD_NAMED_PEER;
	case PORT_E_UNCONNECTED:
		return VM_FD_UNCONNECTED;
	case PORT_E_ATTACHED:
		snprintf(why->a1, sizeof(why->a1), "%u", (*pp)->id);
		*pp = NULL;
		return VM_FD_ATTACHED;
	case PORT_E_FLAGS:
		snprintf(why->a1, sizeof(why->a1), "%s", strerror(errno));
		return VM_FD_FLAGS;
	default:
		snprintf(why->a1, sizeof(why->a1), "%s", strerror(errno));
		return VM_FD_OFFLOAD;
	}
	p = *pp;
	switch_dhcp_rate_init(sd, p);
	if (a->name != NULL)
		snprintf(p->name, sizeof(p->name), "%s", a->name);
	memcpy(p->mac, a->mac, 6);
	p->owner = a->owner;
	p->session = a->session;
	p->attached_at = now;
	p->admin = a->admin;
	if (a->policy != NULL)
		p->policy = *a->policy;
	return VM_OK;
}

/*
 * Opens p's exposed ports and records the VM in the lease database; on
 * failure undoes what it did (the port is the caller's to discard).
 */
static enum vm_err
record(struct softnetd *sd, struct port *p, const struct vm_attach_args *a,
    int64_t now, struct vm_why *why)
{
	/* Before the database records the VM: a taken port leaves no trace. */
	if (p->policy.nexpose > 0 &&
	    expose_open(sd, p, why->a1, sizeof(why->a1)) == -1)
		return VM_PORT_IN_USE;
	if (leasedb_attach(sd->db, a->mac, a->name != NULL ? a->name : "",
	        a->owner, now) == -1) {
		expose_close(sd, p);
		return VM_DB;
	}
	if (a->ip != 0)
		leasedb_pin(sd->db, a->mac, a->ip);
	return VM_OK;
}

/*
 * Gives a re-attached VM its bound lease back if the address is still in
 * today's pool; true if it did. The subnet may have changed across the
 * restart (another configuration; before softnet pinned its own subnet,
 * vmnet could move it): a lease outside the pool is released, the VM's
 * renewal is refused (leasedb_ack) and it gets a new address by DHCP.
 */
static bool
restore_lease(
    struct softnetd *sd, struct port *p, const struct lease *l, int64_t now)
{
	static struct log_rl rl;
	char ips[ADDR_IPV4_STRLEN];

	/*
	 * Today's pool, or this VM's reserved address outside it. A lease
	 * of an address reserved since for another VM is restored too: it
	 * runs until the guest next asks, when it is refused (leasedb.c).
	 */
	if (l->ip == leasedb_fixed_ip(sd->db, p->mac, p->name) ||
	    (l->ip >= sd->up.pool_start && l->ip <= sd->up.pool_end &&
	        l->ip != sd->up.gateway)) {
		port_set_lease(sd, p, l->ip, l->expires);
		return true;
	}
	addr_format_ipv4(l->ip, ips);
	log_info("vm %u: lease %s is outside today's pool; released, the "
	         "VM gets a new address",
	    p->id, ips);
	if (leasedb_release(sd->db, p->mac, l->ip, now) == -1)
		log_warnx_rl(
		    &rl, "vm %u: lease database error at release", p->id);
	return false;
}

/* A VM re-attached after a daemon restart keeps its bound lease. */
static void
restore(struct softnetd *sd, struct port *p, int64_t now)
{
	struct lease l;

	if (leasedb_get(sd->db, p->mac, &l) == 0 && l.state == LEASE_BOUND &&
	    l.expires > now && l.ip != 0 && port_by_ip(sd, l.ip) == NULL &&
	    restore_lease(sd, p, &l, now)) {
		/* The host may have forgotten it (`tart ip --resolver arp`). */
		switch_announce(sd, p);
	}
}

/* Counts one successful attach that took ns into the histogram. */
static void
observe_attach(struct softnetd *sd, uint64_t ns)
{
	struct vm_attach_hist *h;
	size_t i;

	if (sd->vms == NULL)
		return;
	h = &sd->vms->attach;
	for (i = 0; i < VM_ATTACH_BUCKETS && ns > attach_bounds_ns[i]; i++)
		;
	h->buckets[i]++;
	h->count++;
	h->sum_ns += ns;
}

const struct vm_attach_hist *
vm_attach_hist(struct softnetd *sd, const uint64_t **bounds_ns)
{
	static const struct vm_attach_hist none;

	*bounds_ns = attach_bounds_ns;
	return sd->vms != NULL ? &sd->vms->attach : &none;
}

struct port *
vm_attach(struct softnetd *sd, const struct vm_attach_args *a, enum vm_err *err,
    char *msg, size_t msglen)
{
	struct vm_why why = {"", ""};
	struct port *p = NULL;
	int64_t now = clock_now();
	uint64_t t0 = clock_mono();
	char macs[ADDR_MAC_STRLEN];

	if ((*err = attach_allowed(sd, a, &why)) != VM_OK ||
	    (*err = new_port(sd, a, now, &p, &why)) != VM_OK)
		goto fail;
	if ((*err = record(sd, p, a, now, &why)) != VM_OK) {
		port_discard(p);
		goto fail;
	}
	port_register(sd, p);
	restore(sd, p, now);
	addr_format_mac(p->mac, macs);
	log_info("attached vm %u%s%s mac %s (%s) owner %lld", p->id,
	    p->name[0] ? " " : "", p->name, macs,
	    p->kind == OSDEP_FD_TAP ? "tap" : "dgram", (long long)p->owner);
	port_event(sd, p, &(struct event_desc){.kind = EVENTS_ATTACH});
	observe_attach(sd, clock_mono() - t0);
	return p;
fail:
	refuse(*err, &why, msg, msglen);
	return NULL;
}

void
vm_detach(struct softnetd *sd, struct port *p)
{
	static struct log_rl rl;
	char macs[ADDR_MAC_STRLEN], name[PORT_NAMELEN];
	uint8_t mac[6];
	uint32_t id = p->id;

	memcpy(mac, p->mac, 6);
	memcpy(name, p->name, sizeof(name));
	port_event(sd, p, &(struct event_desc){.kind = EVENTS_DETACH});
	port_remove(sd, p);
	if (leasedb_detach(sd->db, mac, clock_now()) == -1)
		log_warnx_rl(&rl, "vm %u: lease database error at detach", id);
	bootpd_dirty(sd);
	addr_format_mac(mac, macs);
	log_info(
	    "detached vm %u%s%s mac %s", id, name[0] ? " " : "", name, macs);
}

void
vm_session_end(struct softnetd *sd, void *session)
{
	struct port *p, *tmp;

	/* Ports attached without a session carry NULL: never "end" those. */
	if (session == NULL)
		return;
	TAILQ_FOREACH_SAFE(p, port_all(sd), entry, tmp) {
		if (p->session == session)
			vm_detach(sd, p);
	}
}

/* leasedb_purge keep callback: an attached VM's row stays. */
static int
keep_attached(const uint8_t mac[6], void *arg)
{
	return port_by_mac(arg, mac) != NULL;
}

void
vm_expire(struct softnetd *sd)
{
	struct port *p;
	int64_t now = clock_now();
	int n;

	if ((n = leasedb_expire(sd->db, now)) == -1)
		log_warnx("lease database error while expiring leases");
	else if (n > 0)
		bootpd_dirty(sd);
	/* The table stays bounded: forget detached MACs idle too long. */
	n = leasedb_purge(sd->db, now - (int64_t)sd->cfg.dhcp.lease_retention,
	    VM_PURGE_BATCH, keep_attached, sd);
	if (n == -1)
		log_warnx("lease database error while purging idle leases");
	else if (n > 0) {
		if (sd->vms != NULL)
			sd->vms->leases_purged += (uint64_t)n;
		log_debug("purged %d idle lease rows", n);
	}
	TAILQ_FOREACH(p, port_all(sd), entry) {
		if (p->ip != 0 && p->lease_expires <= now) {
			log_debug("vm %u: lease expired", p->id);
			port_event(sd, p,
			    &(struct event_desc){
			        .kind = EVENTS_LEASE_EXPIRED, .ip = p->ip});
			port_set_lease(sd, p, 0, 0);
		}
	}
}

/* Timer callback for vm_expire. */
static void
expire_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	vm_expire(arg);
}

uint64_t
vm_leases_purged(struct softnetd *sd)
{
	return sd->vms != NULL ? sd->vms->leases_purged : 0;
}

/* A port leaves the registry: its exposed ports go with it. */
static void
port_left(struct softnetd *sd, struct port *p)
{
	expose_close(sd, p);
}

/* Bound, renewed, released or expired: the bootpd mirror follows. */
static void
lease_changed(struct softnetd *sd, struct port *p)
{
	(void)p;
	bootpd_dirty(sd);
}

void
vm_init(struct softnetd *sd)
{
	struct timeval tv = {VM_EXPIRE_SECS, 0};
	struct vms *vs;

	static const struct port_hooks hooks = {
	    vm_detach, port_left, lease_changed};

	/* After port_init (again, in tests that restart the registry). */
	port_set_hooks(sd, &hooks);
	if (sd->vms != NULL)
		return;
	vs = xcalloc(1, sizeof(*vs));
	vs->expire_ev = event_new(sd->base, -1, EV_PERSIST, expire_tick, sd);
	if (vs->expire_ev == NULL || event_add(vs->expire_ev, &tv) == -1)
		fatalx("cannot start the lease timer");
	sd->vms = vs;
}

void
vm_shutdown(struct softnetd *sd)
{
	if (sd->vms == NULL)
		return;
	event_free(sd->vms->expire_ev);
	free(sd->vms);
	sd->vms = NULL;
}
