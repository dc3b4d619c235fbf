/*
 * Theory of operation: the Prometheus endpoint, a deliberately small HTTP
 * server on the event loop (not evhttp, whose parser accepts more than a
 * scraper ever sends). It owns one listener on config metrics.listen and
 * at most METRICS_HTTP_MAX_CONNS connections; one past that gets a 503 and
 * is closed at once. Each connection carries one request: the parser
 * (metrics_http_parse, pure, fuzzed) reads the request line and headers
 * strictly (CRLF line ends, token method and header names, no folding,
 * no body, Host in HTTP/1.1) within METRICS_HTTP_MAX_REQUEST bytes; the
 * answer is 200 with metrics_render's text for GET /metrics and a short
 * error otherwise, always "Connection: close". The response sits in the
 * bufferevent's output and goes out as the peer reads it: a scraper that
 * does not read costs its buffer and its slot until the timeout
 * (METRICS_HTTP_TIMEOUT for the whole exchange), never a blocked loop.
 * After the response the write side is shut and input is drained until
 * the peer closes, so unread pipelined bytes never turn the close into a
 * reset that cuts the response short.
 *
 * Who sees what (struct metrics_view; metrics.c filters): on a Unix
 * socket the kernel names the peer (osdep_peer_cred at accept): root and
 * admin_group see every VM's series, anyone else only the VMs their uid
 * owns, and all see the host-level families. The filtering is what makes
 * the socket safe to open to every local user, so it is mode 0666: a
 * tenant may scrape its own VMs without being an admin. Being open to
 * all, its slots are shared out like the control socket's: a uid that is
 * not root or admin_group holds at most METRICS_HTTP_PER_USER of them,
 * and such uids together leave the last METRICS_HTTP_RESERVED to root and
 * admin_group, so users holding connections open cannot starve the
 * fleet's scraper; a refusal is a 503, counted by reason.
 * A TCP listener knows no uid: it shows per-VM series only when config
 * metrics.per_vm says so (then to whoever reaches it, which is why
 * config.c also refuses an address off loopback without allow_remote),
 * else host-level families and totals that name no VM.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "osdep.h"
#include "softnetd.h"
#include "xmalloc.h"

struct mconn {
	TAILQ_ENTRY(mconn) entry;
	struct metrics_http *srv;
	struct bufferevent *bev;
	struct event *deadline; /* the whole exchange's timeout */
	bool answered;          /* response queued: drain input until EOF */
	bool eof;               /* the peer shut its side: close once sent */
	bool admin;             /* root or admin_group (TCP: false) */
	uid_t uid;              /* the peer's, on a Unix socket */
};

struct metrics_http {
	struct softnetd *sd;
	int fd;
	struct event *ev;
	struct event *retry; /* re-arms ev after accept ran out of fds */
	char *path;          /* the Unix socket file, or NULL (TCP) */
	TAILQ_HEAD(, mconn) conns;
	unsigned nconns;
	struct metrics_server st; /* the counters metrics.c renders */
};

/* RFC 9110 tchar: the bytes of a method or a header name. */
static bool
tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* What the request line said; status 0 while it is acceptable. */
struct req {
	int status; /* decided: 400/404/405/505, 0 none yet */
	bool http11;
	bool host;
};

/* Checks "METHOD SP target SP HTTP/1.x" (line without its CRLF). */
static void
request_line(const char *l, size_t n, struct req *r)
{
	size_t i = 0, m, t0, t;

	while (i < n && tchar((unsigned char)l[i]))
		i++;
	m = i;
	if (m == 0 || i >= n || l[i] != ' ') {
		r->status = 400;
		return;
	}
	t0 = ++i;
	while (i < n && l[i] > 0x20 && l[i] < 0x7f)
		i++;
	t = i - t0;
	if (t == 0 || i >= n || l[i] != ' ' || l[t0] != '/') {
		r->status = 400;
		return;
	}
	i++;
	if (n - i != 8 || memcmp(l + i, "HTTP/", 5) != 0 || l[i + 6] != '.' ||
	    l[i + 5] < '0' || l[i + 5] > '9' || l[i + 7] < '0' ||
	    l[i + 7] > '9') {
		r->status = 400;
		return;
	}
	if (l[i + 5] != '1' || (l[i + 7] != '0' && l[i + 7] != '1')) {
		r->status = 505;
		return;
	}
	r->http11 = l[i + 7] == '1';
	if (m != 3 || memcmp(l, "GET", 3) != 0)
		r->status = 405;
	else if (!((t == 8 && memcmp(l + t0, "/metrics", 8) == 0) ||
	             (t > 8 && memcmp(l + t0, "/metrics?", 9) == 0)))
		r->status = 404;
}

/* Checks one "Name: value" header line; 0, or 400. */
static int
header_line(const char *l, size_t n, struct req *r)
{
	size_t i = 0, name, v;

	while (i < n && tchar((unsigned char)l[i]))
		i++;
	name = i;
	if (name == 0 || i >= n || l[i] != ':')
		return 400; /* also folding: a line that starts with SP/HT */
	for (v = ++i; i < n; i++) {
		unsigned char c = (unsigned char)l[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 400;
	}
	while (v < n && (l[v] == ' ' || l[v] == '\t'))
		v++;
	if (name == 4 && strncasecmp(l, "host", 4) == 0) {
		if (r->host)
			return 400;
		r->host = true;
	} else if (name == 17 && strncasecmp(l, "transfer-encoding", 17) == 0) {
		return 400;
	} else if (name == 14 && strncasecmp(l, "content-length", 14) == 0) {
		/* A GET carries no body: only a zero length is taken. */
		while (n > v && (l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		if (v == n)
			return 400;
		for (; v < n; v++)
			if (l[v] != '0')
				return 400;
	}
	return 0;
}

/*
 * A line not yet ended: 400 at once when it holds a byte no request line
 * or header may (a TLS hello, binary garbage), rather than holding the
 * slot until the timeout; 431 when the limit is reached; else 0.
 */
static int
partial_line(const char *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)l[i];
		if (((c < 0x20 && c != '\t') || c == 0x7f) &&
		    !(c == '\r' && i == n - 1))
			return 400;
	}
	return 0;
}

int
metrics_http_parse(const char *buf, size_t len)
{
	struct req r = {0, false, false};
	const char *nl;
	size_t pos = 0, n;
	bool first = true;

	if (len > METRICS_HTTP_MAX_REQUEST)
		len = METRICS_HTTP_MAX_REQUEST;
	for (;;) {
		nl = memchr(buf + pos, '\n', len - pos);
		if (nl == NULL && partial_line(buf + pos, len - pos) != 0)
			return 400;
		if (nl == NULL)
			return len >= METRICS_HTTP_MAX_REQUEST ? 431 : 0;
		n = (size_t)(nl - (buf + pos));
		if (n == 0 || buf[pos + n - 1] != '\r')
			return 400; /* bare LF */
		n--;
		if (memchr(buf + pos, '\0', n) != NULL)
			return 400;
		if (first) {
			request_line(buf + pos, n, &r);
			if (r.status == 400 || r.status == 505)
				return r.status;
			first = false;
		} else if (n == 0) {
			if (r.http11 && !r.host)
				return 400;
			return r.status != 0 ? r.status : 200;
		} else if (header_line(buf + pos, n, &r) != 0) {
			return 400;
		}
		pos += n + 2;
	}
}

/* The reason phrase of each status we send. */
static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Bad Request";
	}
}

/* Frees a connection (closing its socket). */
static void
conn_free(struct mconn *c)
{
	TAILQ_REMOVE(&c->srv->conns, c, entry);
	c->srv->nconns--;
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

/* What c's peer may see: its credentials, or the TCP listener's. */
static void
view_of(const struct mconn *c, struct metrics_view *v)
{
	struct metrics_http *srv = c->srv;

	srv->st.open = srv->nconns;
	v->server = &srv->st;
	v->uid = c->uid;
	if (srv->path == NULL)
		v->scope = srv->sd->cfg.metrics.per_vm ? METRICS_VMS_ALL
		                                       : METRICS_VMS_NONE;
	else
		v->scope = c->admin ? METRICS_VMS_ALL : METRICS_VMS_OWN;
}

/* Counts an answer by its status code. */
static void
count_status(struct metrics_http *srv, int status)
{
	int i;

	for (i = 0; i < METRICS_NCODES; i++)
		if (metrics_codes[i] == status)
			srv->st.requests[i]++;
}

/* Queues the response for status and marks the request answered. */
static void
respond(struct mconn *c, int status)
{
	struct evbuffer *body = evbuffer_new(),
	                *out = bufferevent_get_output(c->bev);
	const char *type = "text/plain; charset=utf-8";
	struct metrics_view view;

	c->answered = true;
	if (body == NULL) {
		conn_free(c);
		return;
	}
	if (status == 200) {
		view_of(c, &view);
		if (metrics_render(c->srv->sd, body, &view) == 0) {
			type = METRICS_CONTENT_TYPE;
		} else {
			evbuffer_drain(body, evbuffer_get_length(body));
			status = 500;
		}
	}
	count_status(c->srv, status);
	if (status != 200)
		evbuffer_add_printf(body, "%d %s\n", status, reason(status));
	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "%sConnection: close\r\n\r\n",
	    status, reason(status), type, evbuffer_get_length(body),
	    status == 405 ? "Allow: GET\r\n" : "");
	evbuffer_add_buffer(out, body);
	evbuffer_free(body);
}

/* Input: parse until a request is whole; after the answer, discard it. */
static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct mconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	int status;

	if (c->answered) {
		evbuffer_drain(in, len);
		return;
	}
	if (len > METRICS_HTTP_MAX_REQUEST)
		len = METRICS_HTTP_MAX_REQUEST;
	status = metrics_http_parse(
	    (const char *)evbuffer_pullup(in, (ev_ssize_t)len), len);
	if (status == 0)
		return;
	evbuffer_drain(in, evbuffer_get_length(in));
	respond(c, status);
}

/* Output drained: the response is out; shut our side, wait for EOF. */
static void
conn_written(struct bufferevent *bev, void *arg)
{
	struct mconn *c = arg;

	if (!c->answered)
		return;
	if (c->eof) {
		conn_free(c);
		return;
	}
	shutdown(bufferevent_getfd(bev), SHUT_WR);
}

/*
 * An error or a stalled read or write ends the connection, and so does
 * EOF, unless the peer only shut its side after asking (nc -N): then the
 * response still goes out first.
 */
static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct mconn *c = arg;

	if ((what & BEV_EVENT_EOF) && c->answered &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		c->eof = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	conn_free(c);
}

/* The whole exchange took longer than METRICS_HTTP_TIMEOUT. */
static void
conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

/* Starts serving a freshly accepted socket. */
static void
conn_start(struct metrics_http *srv, int fd, uid_t uid, bool admin)
{
	struct timeval tv = {METRICS_HTTP_TIMEOUT, 0};
	struct mconn *c = xcalloc(1, sizeof(*c));

	c->srv = srv;
	c->uid = uid;
	c->admin = admin;
	c->bev =
	    bufferevent_socket_new(srv->sd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(srv->sd->base, conn_deadline, c);
	if (c->bev == NULL || c->deadline == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		if (c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	srv->st.accepted++;
	bufferevent_setcb(c->bev, conn_read, conn_written, conn_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, METRICS_HTTP_MAX_REQUEST);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	evtimer_add(c->deadline, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/*
 * Refuses a connection with a one-line answer, best effort: a fresh
 * socket's buffer takes it without blocking, or it is lost.
 */
static void
refuse(struct metrics_http *srv, int fd, enum metrics_refusal why, uid_t uid)
{
	static const char *const text[METRICS_REFUSED__COUNT] = {
	    "at the connection limit",
	    "the last connections are kept for root and admin_group",
	    "the uid holds its share of connections",
	    "peer credentials unreadable"};
	static struct log_rl rl;
	int status = why == METRICS_REFUSED_CRED ? 403 : 503;
	char msg[160];
	int n;

	srv->st.refused[why]++;
	if (why == METRICS_REFUSED_RESERVED || why == METRICS_REFUSED_PER_USER)
		log_warnx_rl(&rl, "metrics: refused a connection of uid %u: %s",
		    (unsigned)uid, text[why]);
	else
		log_warnx_rl(
		    &rl, "metrics: refused a connection: %s", text[why]);
	n = snprintf(msg, sizeof(msg),
	    "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	    status, status == 503 ? "Service Unavailable" : "Forbidden");
	/* SIGPIPE is ignored daemon-wide (main.c); macOS has no NOSIGNAL. */
	(void)!send(fd, msg, (size_t)n, MSG_DONTWAIT);
	close(fd);
}

/* Connections uid holds now. */
static unsigned
conns_of(struct metrics_http *srv, uid_t uid)
{
	struct mconn *c;
	unsigned n = 0;

	TAILQ_FOREACH(c, &srv->conns, entry)
		n += !c->admin && c->uid == uid;
	return n;
}

/*
 * Takes or refuses one accepted socket: the global cap for all; on a Unix
 * socket the peer's uid and, for one not root or admin_group, the admin
 * reserve and the per-uid share.
 */
static void
admit(struct metrics_http *srv, int fd)
{
	uid_t uid = 0;
	gid_t gid = 0;
	bool admin = false;

	if (srv->nconns >= METRICS_HTTP_MAX_CONNS) {
		refuse(srv, fd, METRICS_REFUSED_LIMIT, 0);
		return;
	}
	if (srv->path != NULL) {
		if (osdep_peer_cred(fd, &uid, &gid) == -1) {
			refuse(srv, fd, METRICS_REFUSED_CRED, 0);
			return;
		}
		admin = control_peer_is_admin(srv->sd, fd, uid, gid);
		if (!admin && srv->nconns + METRICS_HTTP_RESERVED >=
		                  METRICS_HTTP_MAX_CONNS) {
			refuse(srv, fd, METRICS_REFUSED_RESERVED, uid);
			return;
		}
		if (!admin && conns_of(srv, uid) >= METRICS_HTTP_PER_USER) {
			refuse(srv, fd, METRICS_REFUSED_PER_USER, uid);
			return;
		}
	}
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1)
		close(fd);
	else
		conn_start(srv, fd, uid, admin);
}

/* Accepts what is pending; past a limit refuses at once. */
static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	static struct log_rl rl;
	struct metrics_http *srv = arg;
	struct timeval tv = {1, 0};
	int fd;

	(void)what;
	while ((fd = accept(lfd, NULL, NULL)) != -1)
		admit(srv, fd);
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
	    errno == ECONNABORTED)
		return;
	/* Out of descriptors: pause rather than spin on a readable socket. */
	log_warn_rl(&rl, "metrics: accept");
	event_del(srv->ev);
	evtimer_add(srv->retry, &tv);
}

/* Re-arms the listener after a pause. */
static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http *srv = arg;

	(void)fd;
	(void)what;
	event_add(srv->ev, NULL);
}

/*
 * Binds the Unix socket path, mode 0666: every local user may connect,
 * and sees only what its uid may (theory of operation above).
 */
static int
listen_unix(
    struct metrics_http *srv, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int rc;

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen,
			    "metrics.listen: %s exists and is "
			    "not a socket",
			    path);
			return -1;
		}
		unlink(path);
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	old = umask(0177);
	rc = bind(srv->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1) {
		snprintf(err, errlen, "metrics.listen: bind %s: %s", path,
		    strerror(errno));
		return -1;
	}
	srv->path = xstrdup(path);
	/* Bound 0600 first (umask): no one connects before it is ready. */
	if (chmod(path, 0666) == -1) {
		snprintf(err, errlen, "metrics.listen: %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Binds IPv4:PORT (config.c checked the form and loopback). */
static int
listen_tcp(struct metrics_http *srv, const char *spec, char *err, size_t errlen)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	uint32_t ip;
	uint16_t port;
	int one = 1;

	if (config_metrics_addr(spec, &ip, &port) == -1) {
		snprintf(err, errlen, "metrics.listen: bad address %s", spec);
		return -1;
	}
	sin.sin_addr.s_addr = htonl(ip);
	sin.sin_port = htons(port);
	setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		snprintf(err, errlen, "metrics.listen: bind %s: %s", spec,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
metrics_http_init(struct softnetd *sd, char *err, size_t errlen)
{
	const char *spec = sd->cfg.metrics.listen;
	struct metrics_http *srv;

	if (spec == NULL)
		return 0;
	srv = xcalloc(1, sizeof(*srv));
	srv->sd = sd;
	TAILQ_INIT(&srv->conns);
	sd->metrics = srv;
	srv->fd =
	    osdep_socket(spec[0] == '/' ? AF_UNIX : AF_INET, SOCK_STREAM, true);
	if (srv->fd == -1) {
		snprintf(err, errlen, "metrics: socket: %s", strerror(errno));
		goto fail;
	}
	if ((spec[0] == '/' ? listen_unix(srv, spec, err, errlen)
	                    : listen_tcp(srv, spec, err, errlen)) == -1)
		goto fail;
	if (listen(srv->fd, METRICS_HTTP_MAX_CONNS) == -1) {
		snprintf(err, errlen, "metrics: listen: %s", strerror(errno));
		goto fail;
	}
	srv->ev =
	    event_new(sd->base, srv->fd, EV_READ | EV_PERSIST, on_accept, srv);
	srv->retry = evtimer_new(sd->base, on_retry, srv);
	if (srv->ev == NULL || srv->retry == NULL ||
	    event_add(srv->ev, NULL) == -1) {
		snprintf(err, errlen, "metrics: cannot watch the listener");
		goto fail;
	}
	log_info("metrics on %s", spec);
	return 0;
fail:
	metrics_http_shutdown(sd);
	return -1;
}

void
metrics_http_shutdown(struct softnetd *sd)
{
	struct metrics_http *srv = sd->metrics;

	if (srv == NULL)
		return;
	while (!TAILQ_EMPTY(&srv->conns))
		conn_free(TAILQ_FIRST(&srv->conns));
	if (srv->ev != NULL)
		event_free(srv->ev);
	if (srv->retry != NULL)
		event_free(srv->retry);
	if (srv->fd != -1)
		close(srv->fd);
	if (srv->path != NULL) {
		unlink(srv->path);
		free(srv->path);
	}
	free(srv);
	sd->metrics = NULL;
}
