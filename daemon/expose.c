/*
 * Theory of operation: `--expose EXT:INT` publishes host TCP port EXT as the
 * VM's port INT through a userspace proxy in the daemon, so it works from
 * the host itself and from other machines without NAT rules and follows the
 * VM's lease wherever DHCP puts it.
 *
 * A port with exposures owns one struct expose (p->expose): the listeners
 * of its entries, bound at attach time (all or nothing, so a port already
 * taken is an attach error), and the list of live connections. An entry
 * with ADDR listens there (0.0.0.0: every address); one without listens on
 * 127.0.0.1 and on the gateway address (Security model, rule 5: what any
 * user could bind without root is loopback; the gateway lets the host's
 * other VMs reach the service, as far as their own rules allow the
 * gateway). Control.c refuses ports below 1024 and other addresses to
 * users who are not root or admin_group. Each
 * accepted client is paired with a new connection to the VM's lease at
 * accept time (p->ip:INT); without a lease the client is closed at once.
 *
 * The proxy reaches the VM from the gateway address, so the filter would
 * judge its segments as the VM talking to the host ("--block @host" would
 * cut them): each pair records its local port, and expose_proxied lets
 * exactly those (VM port, proxy port) pairs through.
 *
 * A pair is two bufferevents spliced both ways: what one side reads moves
 * (evbuffer_add_buffer: chains change hands, nothing is copied or
 * allocated) into the other side's output. Backpressure: when the output
 * toward one side holds EXPOSE_HIGH_WATER bytes, reading from the side that
 * feeds it stops, and resumes when that output has drained. Half-close: an
 * EOF from one side is forwarded, once everything it sent has been written,
 * as shutdown(SHUT_WR) on the other; the pair is freed when both directions
 * have been closed that way, or at once on any error. Nothing a peer does
 * can take more than its share of pairs (below).
 *
 * Limits (issue #13 item 8): remote clients of an exposed port must never
 * starve the daemon of descriptors, so a pair (2 descriptors) is taken
 * only while the VM has fewer than expose_max_per_vm pairs, all VMs
 * together fewer than expose_max_total, and the descriptor budget has
 * room for it beyond the admin reserve (fdbudget.c); otherwise the client
 * is closed at once and the refusal counted by reason. expose_max_total
 * is max_proxied_connections (1024) but at most half the budget's
 * descriptors; expose_max_per_vm is max_proxied_per_vm (256) but at most
 * half of expose_max_total, so one VM cannot take every pair either.
 *
 * expose_close (detach, daemon shutdown, failed attach) frees listeners and
 * pairs; the listening sockets are closed before it returns.
 *
 * UDP (`--expose udp:EXT:INT`, issue #14): the same listeners, addresses
 * and permission rules, but a bound datagram socket instead of a listening
 * one. UDP has no connection to splice, so each distinct client (address,
 * port) gets a mapping: a socket of its own connected to the VM's lease,
 * port INT. What the client sends goes out on its mapping's socket; what
 * the VM answers on that socket (the kernel's connected-socket filter
 * keeps only datagrams from the VM's INT port) goes back to that client
 * from the listener's socket, so the client sees its replies come from
 * the address and port it sent to, and two clients never see each other's
 * replies. The mapping's local port is recorded like a TCP pair's, so
 * expose_proxied lets exactly those datagrams through "--block @host".
 * A mapping lives until expose_udp_idle seconds (60) pass without a
 * datagram either way, or until the VM's lease moves (the next datagram
 * from its client then opens a new mapping toward the new address).
 * Mappings take one descriptor each and count against the same limits as
 * TCP pairs (max_proxied_per_vm, max_proxied_connections, the descriptor
 * budget); a datagram that would need a mapping past a limit is dropped
 * and counted by reason, as a refused connection is. Datagrams are moved
 * through one static buffer, up to EXPOSE_UDP_BURST per wakeup so one
 * busy client cannot hold the loop.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "addr.h"
#include "expose.h"
#include "fdbudget.h"
#include "log.h"
#include "pkt.h"
#include "port.h"
#include "softnetd.h"
#include "xmalloc.h"

#define EXPOSE_RETRY_SECS 1           /* accept paused after EMFILE etc. */
#define EXPOSE_IO_CHUNK   (64 * 1024) /* most one read or write moves */
#define EXPOSE_UDP_BURST  64          /* datagrams moved per wakeup */

enum { SIDE_CLIENT, SIDE_VM };

struct expose;

/* One proxied connection: a host-side client and its connection to the VM. */
struct expose_conn {
	TAILQ_ENTRY(expose_conn) entry;
	struct expose *ex;
	struct bufferevent *bev[2]; /* SIDE_CLIENT, SIDE_VM */
	bool eof[2];                /* side i has sent its FIN */
	bool shut[2];               /* that FIN was forwarded: side i SHUT_WR */
	bool paused[2];             /* reading side i stopped (backpressure) */
	bool connected;             /* the VM side's connect completed */
	uint16_t lport, in;         /* VM side: our local port, the VM's port */
};

TAILQ_HEAD(expose_conns, expose_conn);

/* One published port. */
struct expose_listener {
	struct expose *ex;
	struct evconnlistener *lev; /* TCP */
	struct event *retry; /* re-enables accepting after a resource error */
	struct event *uev;   /* UDP: the bound socket is readable */
	evutil_socket_t ufd; /* UDP: the bound socket */
	bool udp;
	uint16_t ext, in;
	char addr[ADDR_IPV4_STRLEN]; /* where it listens, for messages */
};

/* One UDP client of an exposed port and its socket toward the VM. */
struct expose_map {
	TAILQ_ENTRY(expose_map) entry;
	struct expose_listener *l;
	struct sockaddr_in client; /* where replies go */
	evutil_socket_t fd;        /* connected to vip:in */
	struct event *ev, *idle;
	struct timeval last; /* last datagram either way */
	uint32_t vip;        /* the lease it was opened toward */
	uint16_t lport, in;  /* our local port, the VM's port */
};

TAILQ_HEAD(expose_maps, expose_map);

struct expose {
	struct softnetd *sd;
	struct port *p;
	struct expose_listener ls[EXPOSE_MAX_LISTENERS];
	size_t nls; /* listeners open, a prefix of ls */
	struct expose_conns conns;
	size_t nconns;
	struct expose_maps maps;
	size_t nmaps;
};

/* Pairs and mappings of every VM, refusals by reason (one daemon). */
static struct {
	size_t conns, maps;
	uint64_t no_lease, per_vm, total, fds;
	uint64_t udp_dropped; /* datagrams lost to a full buffer or an error */
} totals;

/* One datagram in flight (the frame path does not allocate). */
static uint8_t dgram[65536];

/* Which side of c the bufferevent bev is. */
static int
side_of(const struct expose_conn *c, const struct bufferevent *bev)
{
	return bev == c->bev[SIDE_VM] ? SIDE_VM : SIDE_CLIENT;
}

/* Frees a pair, closing both sockets. */
static void
conn_free(struct expose_conn *c)
{
	int i;

	TAILQ_REMOVE(&c->ex->conns, c, entry);
	c->ex->nconns--;
	totals.conns--;
	c->ex->sd->fdb.expose -= 2;
	for (i = 0; i < 2; i++)
		if (c->bev[i] != NULL)
			bufferevent_free(c->bev[i]);
	free(c);
}

/*
 * Forwards a FIN: no more data will come for side s, and its output is
 * empty. Frees the pair (so the caller must not touch c) when this closes
 * its last open direction; returns true then.
 */
static bool
conn_shut(struct expose_conn *c, int s)
{
	c->shut[s] = true;
	if (shutdown(bufferevent_getfd(c->bev[s]), SHUT_WR) == -1 ||
	    (c->shut[SIDE_CLIENT] && c->shut[SIDE_VM])) {
		conn_free(c);
		return true;
	}
	return false;
}

/* Whether the FIN from the side feeding s can be forwarded to s now. */
static bool
conn_shut_due(const struct expose_conn *c, int s)
{
	return c->eof[!s] && !c->shut[s] &&
	       (s == SIDE_CLIENT || c->connected) &&
	       evbuffer_get_length(bufferevent_get_output(c->bev[s])) == 0;
}

/* Read callback: moves what one side sent into the other side's output. */
static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct expose_conn *c = arg;
	int s = side_of(c, bev);
	struct evbuffer *out = bufferevent_get_output(c->bev[!s]);

	evbuffer_add_buffer(out, bufferevent_get_input(bev));
	if (evbuffer_get_length(out) >= EXPOSE_HIGH_WATER) {
		bufferevent_disable(bev, EV_READ);
		c->paused[s] = true;
	}
}

/* Write callback: the output toward one side has drained completely. */
static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct expose_conn *c = arg;
	int s = side_of(c, bev);

	if (c->paused[!s]) {
		c->paused[!s] = false;
		if (!c->eof[!s] &&
		    bufferevent_enable(c->bev[!s], EV_READ) == -1) {
			conn_free(c);
			return;
		}
	}
	if (conn_shut_due(c, s))
		(void)conn_shut(c, s);
}

/* Event callback: connect done, EOF, or an error on one side. */
static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct expose_conn *c = arg;
	int s = side_of(c, bev);

	if (what & BEV_EVENT_CONNECTED) {
		c->connected = true;
		if (conn_shut_due(c, SIDE_VM))
			(void)conn_shut(c, SIDE_VM);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		c->eof[s] = true;
		c->paused[s] = false;
		bufferevent_disable(bev, EV_READ);
		evbuffer_add_buffer(bufferevent_get_output(c->bev[!s]),
		    bufferevent_get_input(bev));
		if (conn_shut_due(c, !s))
			(void)conn_shut(c, !s);
		return;
	}
	/* Reset, refused, unreachable: drop both sides. */
	log_debug("%s: vm %u: proxied connection %s", __func__, c->ex->p->id,
	    s == SIDE_VM ? "to the vm failed" : "from the client failed");
	conn_free(c);
}

/* Makes a socket non-blocking and close-on-exec; -1 on failure. */
static int
sock_setup(evutil_socket_t fd)
{
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1)
		return -1;
	return 0;
}

/* Pairs an accepted client fd with a new connection to p->ip:in. */
static void
conn_open(struct expose_listener *l, evutil_socket_t fd)
{
	static struct log_rl fail_rl;
	struct expose *ex = l->ex;
	struct event_base *base = ex->sd->base;
	struct sockaddr_in sin, local;
	struct expose_conn *c;
	evutil_socket_t vfd;
	socklen_t slen;
	int i;

	c = xcalloc(1, sizeof(*c));
	c->ex = ex;
	TAILQ_INSERT_TAIL(&ex->conns, c, entry);
	ex->nconns++;
	totals.conns++;
	ex->sd->fdb.expose += 2; /* counted from here: conn_free returns it */
	c->bev[SIDE_CLIENT] =
	    bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev[SIDE_CLIENT] == NULL) {
		close(fd);
		goto fail;
	}
	if ((vfd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		goto fail;
	if (sock_setup(vfd) == -1 ||
	    (c->bev[SIDE_VM] = bufferevent_socket_new(
	         base, vfd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(vfd);
		goto fail;
	}
	for (i = 0; i < 2; i++) {
		bufferevent_setcb(
		    c->bev[i], conn_read, conn_write, conn_event, c);
		/* Fewer loop turns per byte than libevent's 16 KiB default. */
		bufferevent_set_max_single_read(c->bev[i], EXPOSE_IO_CHUNK);
		bufferevent_set_max_single_write(c->bev[i], EXPOSE_IO_CHUNK);
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(l->in);
	sin.sin_addr.s_addr = htonl(ex->p->ip);
	if (bufferevent_socket_connect(
	        c->bev[SIDE_VM], (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	/* connect(2) has bound the local port already, even in progress. */
	slen = sizeof(local);
	if (getsockname(vfd, (struct sockaddr *)&local, &slen) == -1)
		goto fail;
	c->lport = ntohs(local.sin_port);
	c->in = l->in;
	if (bufferevent_enable(c->bev[SIDE_CLIENT], EV_READ | EV_WRITE) == -1 ||
	    bufferevent_enable(c->bev[SIDE_VM], EV_READ | EV_WRITE) == -1)
		goto fail;
	return;
fail:
	log_warn_rl(&fail_rl,
	    "vm %u: host TCP port %u: cannot proxy a connection", ex->p->id,
	    l->ext);
	conn_free(c);
}

/* Pairs all VMs together may hold: see the theory of operation. */
static size_t
expose_max_total(struct softnetd *sd)
{
	unsigned half = fdbudget_usable(sd) / 4; /* pairs in half the fds */
	unsigned cfgmax = sd->cfg.max_proxied_connections;

	return cfgmax < half ? cfgmax : half;
}

/* Pairs one VM may hold: its own cap, at most half of the total. */
static size_t
expose_max_per_vm(struct softnetd *sd)
{
	size_t half = expose_max_total(sd) / 2;

	if (half == 0)
		half = 1;
	return sd->cfg.max_proxied_per_vm < half ? sd->cfg.max_proxied_per_vm
	                                         : half;
}

/*
 * Why one more proxied connection or UDP mapping of ex (taking fds
 * descriptors) would go over a limit, counted; NULL when it may open.
 */
static const char *
refusal(struct expose *ex, int fds)
{
	if (ex->nconns + ex->nmaps >= expose_max_per_vm(ex->sd)) {
		totals.per_vm++;
		return "max_proxied_per_vm";
	}
	if (totals.conns + totals.maps >= expose_max_total(ex->sd)) {
		totals.total++;
		return "max_proxied_connections";
	}
	if (!fdbudget_room(ex->sd, fds, false)) {
		totals.fds++;
		return "descriptor limit";
	}
	return NULL;
}

/* Listener callback: a client connected to host port EXT. */
static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct expose_listener *l = arg;
	struct expose *ex = l->ex;
	struct port *p = ex->p;

	static struct log_rl rl;
	const char *why;

	(void)lev, (void)sa, (void)salen;
	if (p->ip == 0 || p->dead) {
		log_debug("%s: vm %u has no lease; closing a client of port %u",
		    __func__, p->id, l->ext);
		totals.no_lease++;
		close(fd);
		return;
	}
	if ((why = refusal(ex, 2)) == NULL) {
		conn_open(l, fd);
		return;
	}
	log_warnx_rl(&rl,
	    "vm %u: host TCP port %u: refused a proxied connection (%s; "
	    "%zu of this VM, %zu in all)",
	    p->id, l->ext, why, ex->nconns, totals.conns);
	close(fd);
}

/* Timer: accepting was paused after a resource error; try again. */
static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct expose_listener *l = arg;

	(void)fd, (void)what;
	evconnlistener_enable(l->lev);
}

/* Listener error callback (EMFILE, ENOBUFS, ...): pause instead of spin. */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct expose_listener *l = arg;
	struct timeval tv = {EXPOSE_RETRY_SECS, 0};

	static struct log_rl rl;

	log_warn_rl(&rl, "vm %u: accept on host TCP port %u (pausing %d s)",
	    l->ex->p->id, l->ext, EXPOSE_RETRY_SECS);
	evconnlistener_disable(lev);
	evtimer_add(l->retry, &tv);
}

/* Frees a UDP mapping, closing its socket. */
static void
map_free(struct expose_map *m)
{
	struct expose *ex = m->l->ex;

	TAILQ_REMOVE(&ex->maps, m, entry);
	ex->nmaps--;
	totals.maps--;
	ex->sd->fdb.expose--;
	if (m->ev != NULL)
		event_free(m->ev);
	if (m->idle != NULL)
		event_free(m->idle);
	if (m->fd != -1)
		close(m->fd);
	free(m);
}

/* Arms m's idle timer for what is left of expose_udp_idle since m->last. */
static void
map_arm(struct expose_map *m)
{
	struct softnetd *sd = m->l->ex->sd;
	struct timeval now, end, left;

	end = m->last;
	end.tv_sec += sd->cfg.expose_udp_idle;
	event_base_gettimeofday_cached(sd->base, &now);
	if (timercmp(&end, &now, <))
		timerclear(&left);
	else
		timersub(&end, &now, &left);
	evtimer_add(m->idle, &left);
}

/* Records traffic on m now (its idle clock restarts). */
static void
map_touch(struct expose_map *m)
{
	event_base_gettimeofday_cached(m->l->ex->sd->base, &m->last);
}

/* Idle timer: frees m if nothing moved for expose_udp_idle seconds. */
static void
on_map_idle(evutil_socket_t fd, short what, void *arg)
{
	struct expose_map *m = arg;
	struct timeval now, end;

	(void)fd, (void)what;
	event_base_gettimeofday_cached(m->l->ex->sd->base, &now);
	end = m->last;
	end.tv_sec += m->l->ex->sd->cfg.expose_udp_idle;
	if (timercmp(&now, &end, <)) {
		map_arm(m); /* touched since armed: wait for the rest */
		return;
	}
	log_debug("%s: vm %u: UDP port %u: mapping idle, closed", __func__,
	    m->l->ex->p->id, m->l->ext);
	map_free(m);
}

/* The VM answered on m's socket: relays each datagram to m's client. */
static void
on_map_read(evutil_socket_t fd, short what, void *arg)
{
	struct expose_map *m = arg;
	ssize_t n;
	int i;

	(void)what;
	for (i = 0; i < EXPOSE_UDP_BURST; i++) {
		n = recv(fd, dgram, sizeof(dgram), 0);
		if (n == -1) {
			/* ECONNREFUSED: an ICMP unreachable; not fatal. */
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			continue;
		}
		map_touch(m);
		if (sendto(m->l->ufd, dgram, (size_t)n, 0,
		        (struct sockaddr *)&m->client, sizeof(m->client)) == -1)
			totals.udp_dropped++;
	}
}

/*
 * Opens a mapping for client on l toward p->ip:in; NULL (and counted)
 * past a limit or on a socket error.
 */
static struct expose_map *
map_open(struct expose_listener *l, const struct sockaddr_in *client)
{
	static struct log_rl rl, fail_rl;
	struct expose *ex = l->ex;
	struct sockaddr_in sin, local;
	struct expose_map *m;
	socklen_t slen;
	const char *why;

	if ((why = refusal(ex, 1)) != NULL) {
		log_warnx_rl(&rl,
		    "vm %u: host UDP port %u: refused a new client (%s; "
		    "%zu of this VM, %zu in all)",
		    ex->p->id, l->ext, why, ex->nconns + ex->nmaps,
		    totals.conns + totals.maps);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	m->l = l;
	m->client = *client;
	m->vip = ex->p->ip;
	m->in = l->in;
	TAILQ_INSERT_TAIL(&ex->maps, m, entry);
	ex->nmaps++;
	totals.maps++;
	ex->sd->fdb.expose++; /* counted from here: map_free returns it */
	if ((m->fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    sock_setup(m->fd) == -1)
		goto fail;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(l->in);
	sin.sin_addr.s_addr = htonl(m->vip);
	/* connect(2) picks the local port and filters what comes back. */
	slen = sizeof(local);
	if (connect(m->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(m->fd, (struct sockaddr *)&local, &slen) == -1)
		goto fail;
	m->lport = ntohs(local.sin_port);
	m->ev = event_new(
	    ex->sd->base, m->fd, EV_READ | EV_PERSIST, on_map_read, m);
	m->idle = evtimer_new(ex->sd->base, on_map_idle, m);
	if (m->ev == NULL || m->idle == NULL || event_add(m->ev, NULL) == -1)
		goto fail;
	map_touch(m);
	map_arm(m);
	return m;
fail:
	log_warn_rl(&fail_rl, "vm %u: host UDP port %u: cannot map a client",
	    ex->p->id, l->ext);
	map_free(m);
	return NULL;
}

/* The mapping of client on l, or NULL. */
static struct expose_map *
map_find(struct expose *ex, const struct expose_listener *l,
    const struct sockaddr_in *client)
{
	struct expose_map *m;

	TAILQ_FOREACH(m, &ex->maps, entry) {
		if (m->l == l &&
		    m->client.sin_addr.s_addr == client->sin_addr.s_addr &&
		    m->client.sin_port == client->sin_port)
			return m;
	}
	return NULL;
}

/* A client sent to host UDP port EXT: relays it through its mapping. */
static void
on_udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct expose_listener *l = arg;
	struct expose *ex = l->ex;
	struct sockaddr_in client;
	struct expose_map *m;
	socklen_t slen;
	ssize_t n;
	int i;

	(void)what;
	for (i = 0; i < EXPOSE_UDP_BURST; i++) {
		slen = sizeof(client);
		n = recvfrom(fd, dgram, sizeof(dgram), 0,
		    (struct sockaddr *)&client, &slen);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return;
			continue; /* an ICMP error for a reply; keep going */
		}
		if (slen < sizeof(client) || client.sin_family != AF_INET)
			continue;
		if (ex->p->ip == 0 || ex->p->dead) {
			totals.no_lease++;
			continue;
		}
		m = map_find(ex, l, &client);
		/* The lease moved: the old mapping points nowhere now. */
		if (m != NULL && m->vip != ex->p->ip) {
			map_free(m);
			m = NULL;
		}
		if (m == NULL && (m = map_open(l, &client)) == NULL)
			continue;
		map_touch(m);
		if (send(m->fd, dgram, (size_t)n, 0) == -1)
			totals.udp_dropped++;
	}
}

/* Binds a UDP socket on addr:l->ext and watches it; -1, errno kept. */
static int
udp_listener_open(struct expose *ex, struct expose_listener *l, uint32_t addr)
{
	struct sockaddr_in sin;
	evutil_socket_t fd;
	int saved;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(l->ext);
	sin.sin_addr.s_addr = htonl(addr);
	/* No SO_REUSEADDR: for UDP it would let two VMs share the port. */
	if (sock_setup(fd) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	l->uev =
	    event_new(ex->sd->base, fd, EV_READ | EV_PERSIST, on_udp_read, l);
	if (l->uev == NULL || event_add(l->uev, NULL) == -1)
		goto fail;
	l->ufd = fd;
	ex->sd->fdb.expose++; /* expose_close gives it back */
	return 0;
fail:
	saved = errno;
	if (l->uev != NULL)
		event_free(l->uev);
	l->uev = NULL;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * Binds and listens on addr:e->ext; -1 with err set and errno kept (the
 * caller skips the gateway when it is not a host address, EADDRNOTAVAIL).
 */
static int
listener_open(struct expose *ex, struct expose_listener *l,
    const struct policy_expose *e, uint32_t addr, char *err, size_t errlen)
{
	struct sockaddr_in sin;
	evutil_socket_t fd;
	int one = 1, saved;

	l->ex = ex;
	l->ext = e->ext;
	l->in = e->in;
	l->udp = e->udp;
	l->ufd = -1;
	addr_format_ipv4(addr, l->addr);
	if (e->udp) {
		fd = -1;
		if (udp_listener_open(ex, l, addr) == -1)
			goto fail;
		return 0;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		goto fail;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(e->ext);
	sin.sin_addr.s_addr = htonl(addr);
	/* listen() too can find the port taken (another SO_REUSEADDR bind). */
	if (sock_setup(fd) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, SOMAXCONN) == -1)
		goto fail;
	l->retry = evtimer_new(ex->sd->base, on_retry, l);
	if (l->retry == NULL)
		goto fail;
	/* Backlog 0: the socket is listening already. */
	l->lev = evconnlistener_new(ex->sd->base, on_accept, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->lev == NULL)
		goto fail;
	evconnlistener_set_error_cb(l->lev, on_accept_error);
	ex->sd->fdb.expose++; /* expose_close gives it back */
	return 0;
fail:
	saved = errno;
	if (l->retry != NULL)
		event_free(l->retry);
	l->retry = NULL;
	if (fd != -1)
		close(fd);
	errno = saved;
	if (saved == EADDRINUSE)
		snprintf(err, errlen, "host %s port %s:%u is already in use",
		    e->udp ? "UDP" : "TCP", l->addr, e->ext);
	else
		snprintf(err, errlen, "cannot listen on host %s port %s:%u: %s",
		    e->udp ? "UDP" : "TCP", l->addr, e->ext, strerror(saved));
	return -1;
}

int
expose_open(struct softnetd *sd, struct port *p, char *err, size_t errlen)
{
	const struct policy_expose *e;
	struct expose *ex;
	uint32_t addrs[2];
	size_t i, j;

	if (p->policy.nexpose == 0)
		return 0;
	ex = xcalloc(1, sizeof(*ex));
	ex->sd = sd;
	ex->p = p;
	TAILQ_INIT(&ex->conns);
	TAILQ_INIT(&ex->maps);
	p->expose = ex;
	for (i = 0; i < p->policy.nexpose && i < POLICY_MAX_EXPOSE; i++) {
		e = &p->policy.expose[i];
		addrs[0] = e->has_addr ? e->addr : INADDR_LOOPBACK;
		addrs[1] = sd->up.gateway;
		for (j = 0; j < (e->has_addr ? 1u : 2u); j++) {
			/* No gateway (control-plane tests): loopback only. */
			if (j == 1 && (addrs[1] == 0 || addrs[1] == addrs[0]))
				continue;
			if (listener_open(ex, &ex->ls[ex->nls], e, addrs[j],
			        err, errlen) == 0) {
				ex->nls++;
				continue;
			}
			/* No gateway address on the host yet: loopback only. */
			if (j == 1 && errno == EADDRNOTAVAIL) {
				log_warnx("vm %u: host %s port %u: the gateway "
				          "address is not the host's; "
				          "listening on loopback only",
				    p->id, e->udp ? "UDP" : "TCP", e->ext);
				continue;
			}
			expose_close(sd, p);
			return -1;
		}
	}
	for (i = 0; i < ex->nls; i++)
		log_info("vm %u%s%s: host %s port %s:%u exposed as vm port %u",
		    p->id, p->name[0] ? " " : "", p->name,
		    ex->ls[i].udp ? "UDP" : "TCP", ex->ls[i].addr,
		    ex->ls[i].ext, ex->ls[i].in);
	return 0;
}

void
expose_close(struct softnetd *sd, struct port *p)
{
	struct expose *ex = p->expose;
	struct expose_conn *c;
	size_t i;

	if (ex == NULL)
		return;
	struct expose_map *m;

	while ((c = TAILQ_FIRST(&ex->conns)) != NULL)
		conn_free(c);
	while ((m = TAILQ_FIRST(&ex->maps)) != NULL)
		map_free(m);
	for (i = 0; i < ex->nls; i++) {
		if (ex->ls[i].udp) {
			event_free(ex->ls[i].uev);
			close(ex->ls[i].ufd);
			continue;
		}
		evconnlistener_free(ex->ls[i].lev);
		event_free(ex->ls[i].retry);
	}
	sd->fdb.expose -= (unsigned)ex->nls;
	free(ex);
	p->expose = NULL;
}

size_t
expose_count(const struct port *p)
{
	return p->expose != NULL ? p->expose->nconns : 0;
}

size_t
expose_udp_count(const struct port *p)
{
	return p->expose != NULL ? p->expose->nmaps : 0;
}

bool
expose_proxied(
    const void *port, uint8_t proto, uint16_t vm_port, uint16_t host_port)
{
	const struct port *p = port;
	const struct expose_conn *c;
	const struct expose_map *m;

	if (p->expose == NULL)
		return false;
	if (proto == PKT_IPPROTO_UDP) {
		TAILQ_FOREACH(m, &p->expose->maps, entry) {
			if (m->lport == host_port && m->in == vm_port)
				return true;
		}
		return false;
	}
	if (proto != PKT_IPPROTO_TCP)
		return false;
	TAILQ_FOREACH(c, &p->expose->conns, entry) {
		if (c->lport == host_port && c->in == vm_port)
			return true;
	}
	return false;
}

json_t *
expose_limits_json(struct softnetd *sd)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I}}",
	    "connections", (json_int_t)totals.conns, "udp_mappings",
	    (json_int_t)totals.maps, "udp_dropped",
	    (json_int_t)totals.udp_dropped, "max",
	    (json_int_t)expose_max_total(sd), "max_per_vm",
	    (json_int_t)expose_max_per_vm(sd), "refused", "no_lease",
	    (json_int_t)totals.no_lease, "max_proxied_per_vm",
	    (json_int_t)totals.per_vm, "max_proxied_connections",
	    (json_int_t)totals.total, "descriptors", (json_int_t)totals.fds);
}
