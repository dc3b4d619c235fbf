/*
 * Theory of operation: a port is one attached VM descriptor (a Unix datagram
 * socket or a TAP fd), non-blocking, with a persistent libevent read event.
 * The registry is a list for listing plus two chained hash tables (MAC, and
 * leased IP) that the switch consults per frame; both are kept in step by
 * port_attach, port_detach and port_set_lease only.
 *
 * A port that fails (its peer is gone, its device vanished) is not freed in
 * the middle of frame processing: port_fail marks it dead and wakes a reaper
 * event that detaches it from the top of the loop.
 *
 * The port layer knows nothing of switching: what a readable port means,
 * and what to do when a hung VM reads again, are the handlers the switch
 * registers (port_set_handlers). A port may be paused (port_pause): its
 * read event is taken off the loop and a one-shot timer puts it back, so
 * a VM over its share costs the daemon nothing until then.
 *
 * Writes never block. A datagram VM whose socket buffer is full gets a
 * short backlog instead, like a NIC's transmit ring: frames wait there in
 * order and go out when the socket is writable again (a one-shot EV_WRITE;
 * where the OS never says a datagram socket is full by writability, XNU,
 * which fails the send with ENOBUFS and polls writable all the time, a
 * one-shot timer of the retry interval instead: osdep_dgram_writable_events)
 * or, under traffic, at the next send once BACKLOG_RETRY_NS has passed
 * (doubling, up to BACKLOG_RETRY_MAX, while retries send nothing)
 * (Linux reports a datagram socket writable only when three quarters of
 * its buffer has drained; dropping all that time cost TCP its window).
 * While frames wait, new ones queue behind them without a system call, so
 * a VM that never reads costs at most one failed call per retry interval.
 * A frame that finds the backlog full is dropped and counted (queue_full).
 * Backlogs are allocated on first need, kept until the VM detaches, and
 * capped per VM and for all VMs together; a TAP VM (whose writes the
 * kernel never refuses) just drops.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "expose.h"
#include "bootpd.h"
#include "leasedb.h"
#include "log.h"
#include "port.h"
#include "reserve.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "uplink.h"
#include "xmalloc.h"

#define PORT_BUCKETS 1024 /* power of two */

#define BACKLOG_FRAMES 256
#define BACKLOG_BYTES  (512 * 1024)       /* one VM's, at most */
#define BACKLOG_TOTAL  (64 * 1024 * 1024) /* all VMs' together */
/*
 * One non-admin uid's backlogs together, at most: a quarter of the total
 * (16 MiB, 32 VMs' full backlogs), so one user's never-reading VMs leave
 * three quarters for everyone else. Root/admin VMs count only against
 * BACKLOG_TOTAL.
 */
#define BACKLOG_USER_SHARE (BACKLOG_TOTAL / 4)
#define BACKLOG_RETRY_NS   20000    /* first retry under traffic */
#define BACKLOG_RETRY_MAX  10000000 /* doubling while nothing goes out */

/* Frames waiting for a full VM socket: a ring of fixed-size slots. */
struct backlog {
	size_t slot; /* bytes per slot */
	size_t size; /* bytes allocated, counted in ports.backlog_bytes */
	unsigned cap, head, count;
	size_t len[BACKLOG_FRAMES];
	uint8_t mem[];
};

struct ports {
	struct port_list list;
	size_t count;
	uint32_t next_id;
	size_t backlog_bytes;
	uint64_t backlog_share_drops; /* frames dropped: uid at its share */
	struct port *by_mac[PORT_BUCKETS];
	struct port *by_ip[PORT_BUCKETS];
	struct event *reaper;
	struct port_handlers h; /* the switch's (port_set_handlers) */
};

/* Bucket of a MAC. */
static size_t
mac_bucket(const uint8_t mac[6])
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < 6; i++)
		h = (h ^ mac[i]) * 16777619u;
	return h & (PORT_BUCKETS - 1);
}

/* Bucket of an IPv4 address. */
static size_t
ip_bucket(uint32_t ip)
{
	return (ip * 2654435761u) >> 22 & (PORT_BUCKETS - 1);
}

/* Detaches every port marked dead. */
static void
reap(evutil_socket_t fd, short what, void *arg)
{
	struct softnetd *sd = arg;
	struct port *p, *tmp;

	(void)fd;
	(void)what;
	TAILQ_FOREACH_SAFE(p, &sd->ports->list, entry, tmp)
	{
		if (p->dead)
			port_detach(sd, p);
	}
}

void
port_init(struct softnetd *sd)
{
	struct ports *ps = xcalloc(1, sizeof(*ps));

	TAILQ_INIT(&ps->list);
	ps->next_id = 1;
	ps->reaper = event_new(sd->base, -1, 0, reap, sd);
	if (ps->reaper == NULL)
		fatalx("event_new failed");
	sd->ports = ps;
}

/* Unlinks p from the IP hash chain, if it is there. */
static void
ip_unlink(struct ports *ps, struct port *p)
{
	struct port **pp;

	if (p->ip == 0)
		return;
	for (pp = &ps->by_ip[ip_bucket(p->ip)]; *pp != NULL;
	     pp = &(*pp)->ip_next) {
		if (*pp == p) {
			*pp = p->ip_next;
			break;
		}
	}
	p->ip_next = NULL;
}

/* Unlinks p from the registry without touching the database. */
static void
unlink_port(struct softnetd *sd, struct port *p)
{
	struct ports *ps = sd->ports;
	struct port **pp;

	TAILQ_REMOVE(&ps->list, p, entry);
	ps->count--;
	for (pp = &ps->by_mac[mac_bucket(p->mac)]; *pp != NULL;
	     pp = &(*pp)->mac_next) {
		if (*pp == p) {
			*pp = p->mac_next;
			break;
		}
	}
	ip_unlink(ps, p);
	expose_close(sd, p);
	if (ps->h.unblock != NULL)
		ps->h.unblock(sd, p);
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->pev != NULL)
		event_free(p->pev);
	if (p->wev != NULL)
		event_free(p->wev);
	if (p->backlog != NULL) {
		ps->backlog_bytes -= p->backlog->size;
		free(p->backlog);
		p->backlog = NULL;
	}
	close(p->fd);
}

void
port_shutdown(struct softnetd *sd)
{
	struct port *p;

	if (sd->ports == NULL)
		return;
	while ((p = TAILQ_FIRST(&sd->ports->list)) != NULL) {
		unlink_port(sd, p);
		free(p);
	}
	event_free(sd->ports->reaper);
	free(sd->ports);
	sd->ports = NULL;
}

/* Event callback: the VM's descriptor is readable. */
static void
port_readable(evutil_socket_t fd, short what, void *arg)
{
	struct port *p = arg;

	(void)fd;
	(void)what;
	if (p->sd->ports->h.readable != NULL)
		p->sd->ports->h.readable(p->sd, p);
}

void
port_set_handlers(struct softnetd *sd, const struct port_handlers *h)
{
	sd->ports->h = *h;
}

/* Timer callback: a paused port is read again. */
static void
port_resume(evutil_socket_t fd, short what, void *arg)
{
	struct port *p = arg;

	(void)fd;
	(void)what;
	p->paused = false;
	if (!p->dead && event_add(p->ev, NULL) == -1)
		port_fail(p->sd, p, "cannot watch the descriptor again");
}

void
port_pause(struct softnetd *sd, struct port *p, uint64_t ns)
{
	struct timeval tv;

	if (p->dead || p->paused)
		return;
	if (ns < 1000)
		ns = 1000;
	/* Made once per port that is ever paused, not per pause. */
	if (p->pev == NULL &&
	    (p->pev = event_new(sd->base, -1, 0, port_resume, p)) == NULL) {
		port_fail(sd, p, "cannot make its pause timer");
		return;
	}
	tv.tv_sec = (time_t)(ns / 1000000000u);
	tv.tv_usec = (suseconds_t)(ns % 1000000000u / 1000);
	event_del(p->ev);
	if (event_add(p->pev, &tv) == -1) {
		event_add(p->ev, NULL);
		return;
	}
	p->paused = true;
	p->st.read_pauses++;
	p->st.read_paused_us += ns / 1000;
}

static void backlog_flush(struct softnetd *sd, struct port *p);

/* Event callback: a VM whose buffer was full can take frames again. */
static void
port_writable(evutil_socket_t fd, short what, void *arg)
{
	struct port *p = arg;

	(void)fd;
	(void)what;
	if (p->backlog != NULL && p->backlog->count > 0)
		backlog_flush(p->sd, p);
	else
		p->full = false;
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

bool
port_mac_reserved(struct softnetd *sd, const uint8_t mac[6])
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
 * belongs to no one. 0 free, 1 taken; *l is the row or zeroed.
 */
static int
mac_taken(
    struct softnetd *sd, const struct port_attach_args *a, struct lease *l)
{
	memset(l, 0, sizeof(*l));
	if (port_by_mac(sd, a->mac) != NULL)
		return 1;
	if (leasedb_get(sd->db, a->mac, l) != 0)
		return 0;
	return !a->admin && l->owner >= 0 && l->owner != a->owner;
}

/*
 * Whether a may pin a->ip (attach --ip; issue 14): a host of the subnet,
 * not the gateway; root/admin_group may pin any such address, others only
 * the one dhcp.reservations keeps for this MAC or name; never another
 * VM's reserved or pinned address, nor one another MAC's live lease holds
 * (the caller learns until when; the reservation wins once it ends).
 * 0, or -1 with a code and message.
 */
static int
ip_acceptable(struct softnetd *sd, const struct port_attach_args *a,
    const char **code, char *msg, size_t msglen)
{
	const struct reserve_entry *e, *pin, *pins;
	uint32_t mask = sd->up.netmask, net = sd->up.gateway & mask;
	char ips[ADDR_IPV4_STRLEN], who[RESERVE_DESCLEN], when[32];
	struct lease h;
	struct port *other;
	size_t npins;
	time_t t;
	int r;

	addr_format_ipv4(a->ip, ips);
	if ((a->ip & mask) != net || a->ip == net || a->ip == (net | ~mask) ||
	    a->ip == sd->up.gateway) {
		*code = SOFTNET_E_BAD_IP;
		snprintf(msg, msglen,
		    "%s is not a VM address of this network (a host of "
		    "the gateway's subnet, not the gateway)",
		    ips);
		return -1;
	}
	e = reserve_by_ip(
	    sd->cfg.dhcp.reservations, sd->cfg.dhcp.nreservations, a->ip);
	if (e != NULL && !reserve_matches(e, a->mac, a->name)) {
		*code = a->admin ? SOFTNET_E_IP_IN_USE : SOFTNET_E_PERMISSION;
		reserve_describe(e, who, sizeof(who));
		if (a->admin)
			snprintf(msg, msglen,
			    "%s is reserved for %s in dhcp.reservations", ips,
			    who);
		else
			snprintf(msg, msglen,
			    "%s is not reserved for this VM's MAC or name; "
			    "--ip needs root or admin_group otherwise",
			    ips);
		return -1;
	}
	if (e == NULL && !a->admin) {
		*code = SOFTNET_E_PERMISSION;
		snprintf(msg, msglen,
		    "%s is not reserved for this VM's MAC or name "
		    "(dhcp.reservations); --ip needs root or admin_group "
		    "otherwise",
		    ips);
		return -1;
	}
	if ((r = leasedb_holder(sd->db, a->ip, softnetd_now(), &h)) == -1) {
		*code = SOFTNET_E_INTERNAL;
		snprintf(msg, msglen, "lease database error");
		return -1;
	}
	if (r == 0 && memcmp(h.mac, a->mac, 6) != 0) {
		t = (time_t)h.expires;
		if (strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
		        gmtime(&t)) == 0)
			snprintf(
			    when, sizeof(when), "%lld", (long long)h.expires);
		*code = SOFTNET_E_IP_IN_USE;
		snprintf(msg, msglen,
		    "%s is in use until %s (another MAC's lease%s)", ips, when,
		    e != NULL ? ", from before the reservation: it is not "
		                "renewed, and the address is this VM's once it "
		                "ends"
		              : "");
		return -1;
	}
	pins = leasedb_pins(sd->db, &npins);
	pin = reserve_by_ip(pins, npins, a->ip);
	other = port_by_ip(sd, a->ip);
	if ((pin != NULL && memcmp(pin->mac, a->mac, 6) != 0) ||
	    (other != NULL && memcmp(other->mac, a->mac, 6) != 0)) {
		*code = SOFTNET_E_IP_IN_USE;
		snprintf(
		    msg, msglen, "%s is taken by another attached VM", ips);
		return -1;
	}
	return 0;
}

/*
 * Whether a VM datagram socket may be attached: connected to an unnamed
 * peer (one end of a socket pair) and not attached already. The frames
 * softnetd sends on it go wherever it is connected, and whoever handed
 * it over keeps a copy that can connect(2) it elsewhere (Linux and XNU
 * both re-target a connected datagram socket); softnetd's sends then
 * arrive at that socket with softnetd's credentials (Linux SO_PASSCRED
 * receivers such as journald). Neither kernel lets a sender name an
 * unbound peer, and a bound one can be re-targeted there and back again
 * between two sends; an unnamed peer, once left, is never the peer
 * again, so checking it before each batch of sends (send_dgram) catches
 * a re-connect for good. 0, or -1 with the reason in msg.
 */
static int
dgram_acceptable(struct softnetd *sd, int fd, uint64_t *ident, bool *has_ident,
    char *msg, size_t msglen)
{
	struct port *p;

	switch (osdep_dgram_peer(fd)) {
	case OSDEP_PEER_UNNAMED:
		break;
	case OSDEP_PEER_NAMED:
		snprintf(msg, msglen,
		    "the socket is connected to a bound address; pass one end "
		    "of a socketpair(2)");
		return -1;
	default:
		snprintf(msg, msglen,
		    "the socket is not connected; pass one end of a "
		    "socketpair(2)");
		return -1;
	}
	if (osdep_fd_ident(fd, ident) == -1)
		return 0;
	*has_ident = true;
	TAILQ_FOREACH(p, &sd->ports->list, entry)
	{
		if (p->has_ident && p->ident == *ident) {
			snprintf(msg, msglen,
			    "the socket is already attached (vm %u)", p->id);
			return -1;
		}
	}
	return 0;
}

struct port *
port_attach(struct softnetd *sd, const struct port_attach_args *a,
    const char **code, char *msg, size_t msglen)
{
	static struct log_rl rl_tune;
	struct ports *ps = sd->ports;
	struct port *p;
	struct lease l;
	char macs[ADDR_MAC_STRLEN];
	int64_t now = softnetd_now();
	uint64_t ident = 0;
	bool has_ident = false;
	size_t b;

	addr_format_mac(a->mac, macs);
	if (ps->count >= sd->cfg.max_vms) {
		*code = "too_many_vms";
		snprintf(msg, msglen, "max_vms (%u) VMs are attached",
		    sd->cfg.max_vms);
		return NULL;
	}
	if (!addr_mac_is_unicast(a->mac)) {
		*code = "bad_mac";
		snprintf(msg, msglen, "%s is not a unicast MAC address", macs);
		return NULL;
	}
	if (port_mac_reserved(sd, a->mac)) {
		*code = "bad_mac";
		snprintf(msg, msglen,
		    "%s is one of softnetd's own MAC addresses (the uplink's "
		    "or the gateway's) and cannot be attached",
		    macs);
		return NULL;
	}
	if (mac_taken(sd, a, &l) != 0) {
		/* One message whoever holds it: it names no one (rule 4). */
		*code = "mac_in_use";
		snprintf(msg, msglen,
		    "MAC %s is in use (attached, or leased by another user; "
		    "an admin frees it with `softnetctl leases release`)",
		    macs);
		return NULL;
	}
	if (a->name != NULL && a->name[0] != '\0' &&
	    port_by_owner_name(sd, a->owner, a->name) != NULL) {
		*code = "name_in_use";
		snprintf(msg, msglen,
		    "you already have a VM named \"%s\" attached", a->name);
		return NULL;
	}
	if (a->ip != 0 && ip_acceptable(sd, a, code, msg, msglen) == -1)
		return NULL;
	if (a->kind == OSDEP_FD_DGRAM && dgram_acceptable(sd, a->fd, &ident,
	                                     &has_ident, msg, msglen) == -1) {
		*code = "bad_fd";
		return NULL;
	}
	if (fcntl(a->fd, F_SETFL, fcntl(a->fd, F_GETFL) | O_NONBLOCK) == -1 ||
	    fcntl(a->fd, F_SETFD, FD_CLOEXEC) == -1) {
		*code = "bad_fd";
		snprintf(msg, msglen,
		    "cannot make the descriptor non-blocking: %s",
		    strerror(errno));
		return NULL;
	}
	/* Room for a batch of frames where the OS default is small (D2). */
	if (a->kind == OSDEP_FD_DGRAM && osdep_dgram_tune(a->fd) == -1)
		log_warn_rl(&rl_tune, "vm attach: sizing the socket buffers");
	/* A TAP with vnet headers gets offloads (not under -B): GSO
	 * superframes pass. */
	if (a->kind == OSDEP_FD_TAP && osdep_tap_has_vnet(a->fd) &&
	    osdep_tap_offload(a->fd, !sd->no_batch) == -1) {
		*code = "bad_fd";
		snprintf(msg, msglen, "cannot enable TAP offloads: %s",
		    strerror(errno));
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->sd = sd;
	p->vnet = a->kind == OSDEP_FD_TAP && osdep_tap_has_vnet(a->fd);
	p->id = ps->next_id++;
	if (a->name != NULL)
		snprintf(p->name, sizeof(p->name), "%s", a->name);
	memcpy(p->mac, a->mac, 6);
	p->fd = a->fd;
	p->kind = a->kind;
	p->ident = ident;
	p->has_ident = has_ident;
	p->owner = a->owner;
	p->session = a->session;
	p->attached_at = now;
	rate_init(&p->tx_rate, &sd->cfg.vm_limits.tx, switch_clock());
	rate_init(&p->rx_rate, &sd->cfg.vm_limits.rx, switch_clock());
	switch_dhcp_rate_init(sd, p);
	p->admin = a->admin;
	if (a->policy != NULL)
		p->policy = *a->policy;
	else
		policy_init(&p->policy);
	/* Before the database records the VM: a taken port leaves no trace. */
	if (p->policy.nexpose > 0 && expose_open(sd, p, msg, msglen) == -1) {
		*code = "port_in_use";
		free(p);
		return NULL;
	}
	if (leasedb_attach(sd->db, a->mac, a->name != NULL ? a->name : "",
	        a->owner, now) == -1) {
		*code = "internal";
		snprintf(msg, msglen, "lease database error");
		expose_close(sd, p);
		free(p);
		return NULL;
	}
	if (a->ip != 0)
		leasedb_pin(sd->db, a->mac, a->ip);
	p->ev =
	    event_new(sd->base, p->fd, EV_READ | EV_PERSIST, port_readable, p);
	/* Where a full datagram socket never turns writable, a timer. */
	if (p->kind == OSDEP_FD_DGRAM && !osdep_dgram_writable_events())
		p->wev = event_new(sd->base, -1, 0, port_writable, p);
	else
		p->wev = event_new(sd->base, p->fd, EV_WRITE, port_writable, p);
	if (p->ev == NULL || p->wev == NULL || event_add(p->ev, NULL) == -1)
		fatalx("cannot add a port event");

	TAILQ_INSERT_TAIL(&ps->list, p, entry);
	ps->count++;
	b = mac_bucket(p->mac);
	p->mac_next = ps->by_mac[b];
	ps->by_mac[b] = p;

	/* A VM re-attached after a daemon restart keeps its bound lease. */
	if (leasedb_get(sd->db, p->mac, &l) == 0 && l.state == LEASE_BOUND &&
	    l.expires > now && l.ip != 0 && port_by_ip(sd, l.ip) == NULL &&
	    restore_lease(sd, p, &l, now)) {
		/* The host may have forgotten it (`tart ip --resolver arp`). */
		switch_announce(sd, p);
	}

	log_info("attached vm %u%s%s mac %s (%s) owner %lld", p->id,
	    p->name[0] ? " " : "", p->name, macs,
	    p->kind == OSDEP_FD_TAP ? "tap" : "dgram", (long long)p->owner);
	return p;
}

void
port_detach(struct softnetd *sd, struct port *p)
{
	static struct log_rl rl;
	char macs[ADDR_MAC_STRLEN];

	addr_format_mac(p->mac, macs);
	unlink_port(sd, p);
	if (leasedb_detach(sd->db, p->mac, softnetd_now()) == -1)
		log_warnx_rl(
		    &rl, "vm %u: lease database error at detach", p->id);
	bootpd_dirty(sd);
	log_info("detached vm %u%s%s mac %s", p->id, p->name[0] ? " " : "",
	    p->name, macs);
	free(p);
}

struct port *
port_by_id(struct softnetd *sd, uint32_t id)
{
	struct port *p;

	TAILQ_FOREACH(p, &sd->ports->list, entry)
	{
		if (p->id == id)
			return p;
	}
	return NULL;
}

struct port *
port_by_owner_name(struct softnetd *sd, int64_t owner, const char *name)
{
	struct port *p;

	TAILQ_FOREACH(p, &sd->ports->list, entry)
	{
		if (p->owner == owner && strcmp(p->name, name) == 0)
			return p;
	}
	return NULL;
}

struct port *
port_by_name(struct softnetd *sd, const char *name)
{
	struct port *p;

	if (name[0] == '\0')
		return NULL;
	TAILQ_FOREACH(p, &sd->ports->list, entry)
	{
		if (strcmp(p->name, name) == 0)
			return p;
	}
	return NULL;
}

struct port *
port_by_mac(struct softnetd *sd, const uint8_t mac[6])
{
	struct port *p;

	for (p = sd->ports->by_mac[mac_bucket(mac)]; p != NULL; p = p->mac_next)
		if (memcmp(p->mac, mac, 6) == 0)
			return p;
	return NULL;
}

struct port *
port_by_ip(struct softnetd *sd, uint32_t ip)
{
	struct port *p;

	if (ip == 0)
		return NULL;
	for (p = sd->ports->by_ip[ip_bucket(ip)]; p != NULL; p = p->ip_next)
		if (p->ip == ip)
			return p;
	return NULL;
}

struct port *
port_lookup(struct softnetd *sd, const char *ident)
{
	struct port *p;
	uint8_t mac[6];
	unsigned long id;
	char *end;

	if ((p = port_by_name(sd, ident)) != NULL)
		return p;
	if (addr_parse_mac(ident, mac) == 0)
		return port_by_mac(sd, mac);
	if (ident[0] >= '0' && ident[0] <= '9') {
		errno = 0;
		id = strtoul(ident, &end, 10);
		if (errno == 0 && *end == '\0' && id <= UINT32_MAX)
			return port_by_id(sd, (uint32_t)id);
	}
	return NULL;
}

struct port_list *
port_all(struct softnetd *sd)
{
	return &sd->ports->list;
}

size_t
port_count(struct softnetd *sd)
{
	return sd->ports->count;
}

void
port_set_lease(
    struct softnetd *sd, struct port *p, uint32_t ip, int64_t expires)
{
	static struct log_rl rl;
	struct ports *ps = sd->ports;
	struct port *other;
	size_t b;

	/* Bound, renewed, released or expired: the mirror follows. */
	bootpd_dirty(sd);
	if (p->ip == ip) {
		p->lease_expires = ip != 0 ? expires : 0;
		return;
	}
	ip_unlink(ps, p);
	/* The database never binds one address twice; keep the index so. */
	if (ip != 0 && (other = port_by_ip(sd, ip)) != NULL && other != p) {
		log_warnx_rl(&rl, "vm %u: address already indexed for vm %u",
		    p->id, other->id);
		ip_unlink(ps, other);
		other->ip = 0;
		other->lease_expires = 0;
	}
	p->ip = ip;
	p->lease_expires = ip != 0 ? expires : 0;
	if (ip != 0) {
		b = ip_bucket(ip);
		p->ip_next = ps->by_ip[b];
		ps->by_ip[b] = p;
	}
}

int
port_recv(struct softnetd *sd, struct port *p, struct frame *f, int n)
{
	static const struct pkt_vnet plain;
	struct iovec iov[2];
	ssize_t r;
	int i, got;

	if (p->dead)
		return 0;
	if (p->kind == OSDEP_FD_DGRAM) {
		if ((got = osdep_recv_batch(p->fd, f, n)) == -1)
			goto err;
		for (i = 0; i < got; i++)
			f[i].vnet = plain;
		return got;
	}
	for (i = 0; i < n; i++) {
		if (p->vnet) {
			iov[0].iov_base = &f[i].vnet;
			iov[0].iov_len = sizeof(f[i].vnet);
			iov[1].iov_base = f[i].data;
			iov[1].iov_len = f[i].cap;
			r = readv(p->fd, iov, 2);
		} else {
			f[i].vnet = plain;
			r = read(p->fd, f[i].data, f[i].cap);
		}
		if (r == -1) {
			if (i > 0)
				return i;
			goto err;
		}
		if (r == 0) {
			errno = EPIPE;
			goto err;
		}
		if (p->vnet) {
			if ((size_t)r < sizeof(f[i].vnet))
				r = sizeof(f[i].vnet); /* runt: counted empty */
			r -= (ssize_t)sizeof(f[i].vnet);
		}
		f[i].len = (size_t)r;
	}
	return i;
err:
	if (errno != EAGAIN && errno != EINTR)
		port_fail(sd, p, strerror(errno));
	return 0;
}

/*
 * Whether errno after a failed datagram send means the VM's socket is full
 * (the frame waits in the backlog) rather than this one frame failing.
 */
static bool
dgram_full(int err)
{
	return err == EAGAIN ||
	       (err == ENOBUFS && !osdep_dgram_writable_events());
}

/* Whether errno after a failed send means "try later", not "gone". */
static bool
transient(int err)
{
	return err == EAGAIN || err == ENOBUFS || err == EINTR ||
	       err == EMSGSIZE || err == EINVAL;
}

/* Counts frames delivered to p. */
static void
delivered(struct port *p, const size_t *lens, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		p->st.rx_frames++;
		p->st.rx_bytes += lens[i];
	}
}

/*
 * Marks p full: frames wait (or drop) until writable or the retry, which
 * comes soon after progress and ever later while a retry sends nothing.
 */
static void
mark_full(struct port *p, bool progress)
{
	if (progress || p->retry_ns == 0)
		p->retry_ns = BACKLOG_RETRY_NS;
	else if (p->retry_ns < BACKLOG_RETRY_MAX)
		p->retry_ns *= 2;
	p->full = true;
	p->full_at = switch_clock();
	if (p->kind == OSDEP_FD_DGRAM && !osdep_dgram_writable_events()) {
		struct timeval tv = {0, (suseconds_t)(p->retry_ns / 1000)};

		event_add(p->wev, &tv); /* a timer: writability would spin */
	} else {
		event_add(p->wev, NULL);
	}
}

/*
 * Sends frames to a datagram VM: sendmmsg, or one send(2) each under -B.
 * The count sent, or -1 with errno when not even the first went.
 */
static int
send_dgram(struct softnetd *sd, struct port *p, uint8_t *const *frames,
    const size_t *lens, int n)
{
	int i;

	/* Still the peer it was attached with (dgram_acceptable)? */
	if (osdep_dgram_peer(p->fd) != OSDEP_PEER_UNNAMED) {
		port_fail(sd, p, "re-connected to another socket");
		errno = ENOTCONN;
		return -1;
	}
	if (!sd->no_batch)
		return osdep_send_batch(p->fd, frames, lens, n);
	for (i = 0; i < n; i++) {
		if (send(p->fd, frames[i], lens[i], MSG_DONTWAIT) == -1)
			return i > 0 ? i : -1;
	}
	return n;
}

/*
 * Sends what the socket takes of frames[0..n), in order: the count done
 * with (delivered, or lost to an error no retry would cure, e.g. an
 * oversize frame), or -1 when p has failed. Fewer than n: it is full.
 */
static int
send_some(struct softnetd *sd, struct port *p, uint8_t *const *frames,
    const size_t *lens, int n)
{
	int done = 0, k;

	while (done < n) {
		k = send_dgram(sd, p, frames + done, lens + done, n - done);
		if (k > 0) {
			delivered(p, lens + done, k);
			done += k;
			if (done < n)
				break; /* stopped early: full, or an error next
				        */
			continue;
		}
		if (!transient(errno)) {
			port_fail(sd, p, strerror(errno));
			return -1;
		}
		if (dgram_full(errno))
			break;
		p->st.drops[FILTER_R_QUEUE_FULL]++;
		done++;
	}
	return done;
}

/* Bytes of backlog the non-admin VMs of p's owner hold together. */
static size_t
owner_backlog(struct softnetd *sd, const struct port *p)
{
	const struct port *q;
	size_t n = 0;

	/* Only when a backlog is first allocated: at most once per VM. */
	TAILQ_FOREACH(q, &sd->ports->list, entry)
	{
		if (q->owner == p->owner && !q->admin && q->backlog != NULL)
			n += q->backlog->size;
	}
	return n;
}

/* Queues one frame behind p's backlog, allocating it on first need. */
static void
backlog_push(
    struct softnetd *sd, struct port *p, const uint8_t *frame, size_t len)
{
	struct ports *ps = sd->ports;
	struct backlog *b = p->backlog;
	size_t slot, cap;

	if (b == NULL) {
		slot = PKT_ETH_HLEN + sd->up.mtu;
		if (slot < 2048)
			slot = 2048;
		cap = BACKLOG_BYTES / slot;
		if (cap > BACKLOG_FRAMES)
			cap = BACKLOG_FRAMES;
		if (!p->admin && cap != 0 &&
		    owner_backlog(sd, p) + sizeof(*b) + cap * slot >
		        BACKLOG_USER_SHARE) {
			ps->backlog_share_drops++;
			p->st.drops[FILTER_R_QUEUE_FULL]++;
			return;
		}
		if (cap == 0 ||
		    ps->backlog_bytes + sizeof(*b) + cap * slot >
		        BACKLOG_TOTAL ||
		    (b = malloc(sizeof(*b) + cap * slot)) == NULL) {
			p->st.drops[FILTER_R_QUEUE_FULL]++;
			return;
		}
		b->slot = slot;
		b->size = sizeof(*b) + cap * slot;
		b->cap = (unsigned)cap;
		b->head = b->count = 0;
		ps->backlog_bytes += b->size;
		p->backlog = b;
	}
	if (b->count == b->cap || len > b->slot) {
		p->st.drops[FILTER_R_QUEUE_FULL]++;
		return;
	}
	cap = (b->head + b->count) % b->cap;
	memcpy(b->mem + cap * b->slot, frame, len);
	b->len[cap] = len;
	b->count++;
}

/* Sends what p's backlog holds, in order; p stays full if some is left. */
static void
backlog_flush(struct softnetd *sd, struct port *p)
{
	struct backlog *b = p->backlog;
	uint8_t *frames[BACKLOG_FRAMES];
	size_t lens[BACKLOG_FRAMES];
	unsigned i, j;
	int k;

	for (i = 0; i < b->count; i++) {
		j = (b->head + i) % b->cap;
		frames[i] = b->mem + j * b->slot;
		lens[i] = b->len[j];
	}
	if ((k = send_some(sd, p, frames, lens, (int)b->count)) == -1)
		return;
	if (k > 0 && sd->ports->h.unblock != NULL)
		sd->ports->h.unblock(sd, p);
	b->head = (b->head + (unsigned)k) % b->cap;
	b->count -= (unsigned)k;
	if (b->count == 0) {
		p->full = false;
		event_del(p->wev);
	} else {
		mark_full(p, k > 0);
	}
}

void
port_backlog_totals(struct softnetd *sd, size_t *bytes, uint64_t *refused)
{
	*bytes = sd->ports->backlog_bytes;
	*refused = sd->ports->backlog_share_drops;
}

unsigned
port_backlog(const struct port *p)
{
	return p->backlog != NULL ? p->backlog->count : 0;
}

bool
port_hung(const struct port *p)
{
	return p->kind == OSDEP_FD_DGRAM && p->full && !p->dead &&
	       p->retry_ns >= BACKLOG_RETRY_MAX;
}

bool
port_blocked(const struct port *p)
{
	if (p->dead)
		return true;
	if (!p->full)
		return false;
	if (p->kind != OSDEP_FD_DGRAM)
		return true;
	if (p->backlog != NULL && p->backlog->count < p->backlog->cap)
		return false;
	return switch_clock() - p->full_at < p->retry_ns;
}

/*
 * Whether frames for p must not be sent now: it is dead, or full and not
 * due for a retry (a due retry flushes the backlog first). Frames for a
 * full datagram VM then join its backlog; others are dropped here.
 */
static bool
hold(struct softnetd *sd, struct port *p, uint8_t *const *frames,
    const size_t *lens, int n)
{
	int i;

	if (p->dead)
		return true;
	if (!p->full)
		return false;
	if (p->kind == OSDEP_FD_DGRAM && p->backlog != NULL &&
	    switch_clock() - p->full_at >= p->retry_ns)
		backlog_flush(sd, p);
	if (!p->full || p->dead)
		return p->dead;
	for (i = 0; i < n; i++) {
		if (p->kind == OSDEP_FD_DGRAM)
			backlog_push(sd, p, frames[i], lens[i]);
		else
			p->st.drops[FILTER_R_QUEUE_FULL]++;
	}
	return true;
}

/*
 * Sends frames to a datagram VM; what the socket refuses for lack of room
 * waits in the backlog.
 */
static void
dgram_send(struct softnetd *sd, struct port *p, uint8_t *const *frames,
    const size_t *lens, int n)
{
	int i, k;

	if (hold(sd, p, frames, lens, n))
		return;
	if ((k = send_some(sd, p, frames, lens, n)) == -1 || k == n)
		return;
	for (i = k; i < n; i++)
		backlog_push(sd, p, frames[i], lens[i]);
	mark_full(p, true);
}

/* Counts a TAP write's outcome: delivered, dropped for now, or fatal. */
static void
tap_sent(struct softnetd *sd, struct port *p, ssize_t n, size_t len)
{
	if (n >= 0) {
		delivered(p, &len, 1);
		return;
	}
	if (!transient(errno)) {
		port_fail(sd, p, strerror(errno));
		return;
	}
	p->st.drops[FILTER_R_QUEUE_FULL]++;
	if (errno == EAGAIN)
		mark_full(p, true);
}

void
port_send(struct softnetd *sd, struct port *p, const uint8_t *frame, size_t len)
{
	static const struct pkt_vnet plain;
	uint8_t *f = (uint8_t *)frame;

	if (p->kind == OSDEP_FD_DGRAM) {
		dgram_send(sd, p, &f, &len, 1);
		return;
	}
	if (p->vnet) {
		port_send_vnet(sd, p, frame, len, &plain);
		return;
	}
	if (!hold(sd, p, &f, &len, 1))
		tap_sent(sd, p, write(p->fd, frame, len), len);
}

void
port_send_vnet(struct softnetd *sd, struct port *p, const uint8_t *frame,
    size_t len, const struct pkt_vnet *vnet)
{
	uint8_t *f = (uint8_t *)frame;
	struct iovec iov[2];

	if (hold(sd, p, &f, &len, 1))
		return;
	iov[0].iov_base = (void *)vnet;
	iov[0].iov_len = sizeof(*vnet);
	iov[1].iov_base = (void *)frame;
	iov[1].iov_len = len;
	tap_sent(sd, p, writev(p->fd, iov, 2), len);
}

void
port_send_batch(struct softnetd *sd, struct port *p, uint8_t *const *frames,
    const size_t *lens, int n)
{
	int i;

	if (n <= 0)
		return;
	if (p->kind == OSDEP_FD_DGRAM) {
		dgram_send(sd, p, frames, lens, n);
		return;
	}
	for (i = 0; i < n && !p->dead; i++)
		port_send(sd, p, frames[i], lens[i]);
}

/*
 * The owner of a vnet TAP can change TUNSETVNETHDRSZ after attach; reads
 * then split header and frame at the old offset. That is no danger in
 * itself (port_recv's buffers are fixed, and every byte read is checked
 * as untrusted: a shifted frame fails the source MAC check), but the
 * port would carry garbage both ways, so the first frame that makes no
 * sense re-reads the size (one ioctl, only on such frames) and a changed
 * one detaches the VM.
 */
void
port_vnet_anomaly(struct softnetd *sd, struct port *p)
{
	if (!p->vnet || p->dead ||
	    osdep_tap_vnet_hdr_size(p->fd) == (int)sizeof(struct pkt_vnet))
		return;
	port_fail(sd, p, "the TAP's virtio-net header size changed");
}

void
port_fail(struct softnetd *sd, struct port *p, const char *why)
{
	if (p->dead)
		return;
	log_info("vm %u: descriptor failed (%s); detaching", p->id, why);
	p->dead = true;
	event_del(p->ev);
	event_active(sd->ports->reaper, 0, 0);
}

const char *
port_state(const struct port *p)
{
	return p->ip != 0 ? "leased" : "attached";
}
