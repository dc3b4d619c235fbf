/*
 * Theory of operation: `--expose EXT:INT` publishes host TCP port EXT as the
 * VM's port INT through a userspace proxy in the daemon, so it works from
 * the host itself and from other machines without NAT rules and follows the
 * VM's lease wherever DHCP puts it.
 *
 * A port with exposures owns one struct expose (p->expose): one listener
 * per entry, bound to 0.0.0.0:EXT at attach time (all or nothing, so a port
 * already taken is an attach error), and the list of live connections. Each
 * accepted client is paired with a new connection to the VM's lease at
 * accept time (p->ip:INT); without a lease the client is closed at once.
 *
 * A pair is two bufferevents spliced both ways: what one side reads moves
 * (evbuffer_add_buffer: chains change hands, nothing is copied or
 * allocated) into the other side's output. Backpressure: when the output
 * toward one side holds EXPOSE_HIGH_WATER bytes, reading from the side that
 * feeds it stops, and resumes when that output has drained. Half-close: an
 * EOF from one side is forwarded, once everything it sent has been written,
 * as shutdown(SHUT_WR) on the other; the pair is freed when both directions
 * have been closed that way, or at once on any error. Nothing a peer does
 * can take more than EXPOSE_MAX_CONNS pairs of one VM.
 *
 * expose_close (detach, daemon shutdown, failed attach) frees listeners and
 * pairs; the listening sockets are closed before it returns.
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
#include <unistd.h>

#include "expose.h"
#include "log.h"
#include "port.h"
#include "softnetd.h"
#include "xmalloc.h"

#define EXPOSE_RETRY_SECS 1           /* accept paused after EMFILE etc. */
#define EXPOSE_IO_CHUNK   (64 * 1024) /* most one read or write moves */

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
};

TAILQ_HEAD(expose_conns, expose_conn);

/* One published port. */
struct expose_listener {
	struct expose *ex;
	struct evconnlistener *lev;
	struct event *retry; /* re-enables accepting after a resource error */
	uint16_t ext, in;
};

struct expose {
	struct softnetd *sd;
	struct port *p;
	struct expose_listener ls[POLICY_MAX_EXPOSE];
	size_t nls; /* listeners open, a prefix of ls */
	struct expose_conns conns;
	size_t nconns;
};

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
	struct expose *ex = l->ex;
	struct event_base *base = ex->sd->base;
	struct sockaddr_in sin;
	struct expose_conn *c;
	evutil_socket_t vfd;
	int i;

	c = xcalloc(1, sizeof(*c));
	c->ex = ex;
	TAILQ_INSERT_TAIL(&ex->conns, c, entry);
	ex->nconns++;
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
	if (bufferevent_enable(c->bev[SIDE_CLIENT], EV_READ | EV_WRITE) == -1 ||
	    bufferevent_enable(c->bev[SIDE_VM], EV_READ | EV_WRITE) == -1)
		goto fail;
	return;
fail:
	log_warn("vm %u: host TCP port %u: cannot proxy a connection",
	    ex->p->id, l->ext);
	conn_free(c);
}

/* Listener callback: a client connected to host port EXT. */
static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct expose_listener *l = arg;
	struct expose *ex = l->ex;
	struct port *p = ex->p;

	(void)lev, (void)sa, (void)salen;
	if (p->ip == 0 || p->dead) {
		log_debug("%s: vm %u has no lease; closing a client of port %u",
		    __func__, p->id, l->ext);
		close(fd);
		return;
	}
	if (ex->nconns >= EXPOSE_MAX_CONNS) {
		log_debug("%s: vm %u: %d proxied connections; refusing one",
		    __func__, p->id, EXPOSE_MAX_CONNS);
		close(fd);
		return;
	}
	conn_open(l, fd);
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

	log_warn("vm %u: accept on host TCP port %u", l->ex->p->id, l->ext);
	evconnlistener_disable(lev);
	evtimer_add(l->retry, &tv);
}

/* Binds and listens on 0.0.0.0:e->ext; -1 with err set. */
static int
listener_open(struct expose *ex, struct expose_listener *l,
    const struct policy_expose *e, char *err, size_t errlen)
{
	struct sockaddr_in sin;
	evutil_socket_t fd;
	int one = 1, saved;

	l->ex = ex;
	l->ext = e->ext;
	l->in = e->in;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		goto fail;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(e->ext);
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
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
	return 0;
fail:
	saved = errno;
	if (l->retry != NULL)
		event_free(l->retry);
	l->retry = NULL;
	if (fd != -1)
		close(fd);
	if (saved == EADDRINUSE)
		snprintf(
		    err, errlen, "host TCP port %u is already in use", e->ext);
	else
		snprintf(err, errlen, "cannot listen on host TCP port %u: %s",
		    e->ext, strerror(saved));
	return -1;
}

int
expose_open(struct softnetd *sd, struct port *p, char *err, size_t errlen)
{
	struct expose *ex;
	size_t i;

	if (p->policy.nexpose == 0)
		return 0;
	ex = xcalloc(1, sizeof(*ex));
	ex->sd = sd;
	ex->p = p;
	TAILQ_INIT(&ex->conns);
	p->expose = ex;
	for (i = 0; i < p->policy.nexpose && i < POLICY_MAX_EXPOSE; i++) {
		if (listener_open(ex, &ex->ls[i], &p->policy.expose[i], err,
		        errlen) == -1) {
			expose_close(sd, p);
			return -1;
		}
		ex->nls++;
	}
	for (i = 0; i < ex->nls; i++)
		log_info("vm %u%s%s: host TCP port %u exposed as vm port %u",
		    p->id, p->name[0] ? " " : "", p->name, ex->ls[i].ext,
		    ex->ls[i].in);
	return 0;
}

void
expose_close(struct softnetd *sd, struct port *p)
{
	struct expose *ex = p->expose;
	struct expose_conn *c;
	size_t i;

	(void)sd;
	if (ex == NULL)
		return;
	while ((c = TAILQ_FIRST(&ex->conns)) != NULL)
		conn_free(c);
	for (i = 0; i < ex->nls; i++) {
		evconnlistener_free(ex->ls[i].lev);
		event_free(ex->ls[i].retry);
	}
	free(ex);
	p->expose = NULL;
}

size_t
expose_count(const struct port *p)
{
	return p->expose != NULL ? p->expose->nconns : 0;
}
