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
 * What a request asks is ctl_ops.c's (the dispatch, one function per op)
 * and how replies read is ctl_json.c's; this file is the transport, and
 * lends the ops its limits for "status" (sd->control_limits), so that
 * they never call up into it. A peer is root or admin_group from the groups
 * the kernel recorded at connect (control_peer_is_admin).
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
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "capture.h"
#include "control.h"
#include "ctl_json.h"
#include "ctl_ops.h"
#include "events.h"
#include "expose.h"
#include "fdbudget.h"
#include "log.h"
#include "osdep.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnet_sys.h"
#include "softnetd.h"
#include "vm.h"
#include "xmalloc.h"

#define CONN_MAX_FDS      CONTROL_MAX_FDS /* fds queued on one connection */
#define CONN_RETRY_MS     250  /* accepting paused after EMFILE and such */
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
	struct ctl_peer peer;
	bool closing;      /* close once out is flushed */
	bool served;       /* answered at least one request */
	int reply_fd;      /* goes with the first byte of out, or -1 */
	struct event *tmo; /* client_timeout while something is pending */
	bool stream;       /* an event subscriber: events.c writes to it */
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
		uint64_t replies;      /* requests refused: max_reply_bytes */
		uint64_t timeouts;     /* idle or partial request */
		uint64_t slow_readers; /* reply left unread */
		uint64_t accept_paused;
	} n;
};

void
control_session_end(struct softnetd *sd, void *session)
{
	vm_session_end(sd, session);
	capture_session_end(sd, session);
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
bool
control_peer_is_admin(struct softnetd *sd, int fd, uid_t uid, gid_t gid)
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
	events_unsubscribe(c->sd, c);
	if (c->reply_fd != -1)
		close(c->reply_fd);
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

	/* A subscriber is bounded by what events.c queues, not by time. */
	if (!owed || c->stream)
		event_del(c->tmo);
	else if (progress || !event_pending(c->tmo, EV_TIMEOUT, NULL))
		event_add(c->tmo, &tv);
}

/*
 * Sends the start of out with c->reply_fd by SCM_RIGHTS (the reply line
 * it belongs to is all of out: a connection is not read while a reply is
 * unwritten), then closes the daemon's copy. -1 when the client is gone.
 */
static int
conn_write_fd(struct conn *c, bool *progress)
{
	size_t len = evbuffer_get_length(c->out);
	ssize_t n;

	if ((n = softnet_sys_send_fd(c->fd,
	         evbuffer_pullup(c->out, (ev_ssize_t)len), len, c->reply_fd,
	         OSDEP_MSG_NOSIGNAL)) == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	close(c->reply_fd);
	c->reply_fd = -1;
	evbuffer_drain(c->out, (size_t)n);
	*progress = true;
	return 0;
}

/* Writes what the socket takes now. -1 when the client is gone. */
static int
conn_write_out(struct conn *c, bool *progress)
{
	if (c->reply_fd != -1 && evbuffer_get_length(c->out) > 0 &&
	    conn_write_fd(c, progress) == -1)
		return -1;
	if (c->reply_fd != -1)
		return 0;
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

	/* Event streams are bounded by events.c (EVENTS_MAX_PENDING). */
	TAILQ_FOREACH(c, &ctl->conns, entry)
		if (!c->stream)
			n += evbuffer_get_length(c->out);
	return n;
}

/* Timer: the connection owed something for client_timeout; close it. */
static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	static struct log_rl rl;
	static const char slow[] =
	    "{\"ok\":false,\"error\":{\"code\":\"" SOFTNET_E_TIMEOUT
	    "\",\"message\":"
	    "\"replies left unread (client_timeout)\"}}\n";
	static const char idle[] =
	    "{\"ok\":false,\"error\":{\"code\":\"" SOFTNET_E_TIMEOUT
	    "\",\"message\":"
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
static void conn_framing_error(
    struct conn *c, const char *code, const char *msg, ...) LOG_PRINTF(3, 4);

static void
conn_framing_error(struct conn *c, const char *code, const char *fmt, ...)
{
	char msg[CTL_JSON_MSG_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_reply(c, ctl_json_error(NULL, code, "%s", msg));
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

	while (!c->closing && !c->stream && evbuffer_get_length(c->out) == 0 &&
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
			    c, ctl_json_error(NULL, SOFTNET_E_BUSY,
			           "daemon busy: %u bytes of replies are "
			           "unread (max_reply_bytes); try again",
			           c->sd->cfg.max_reply_bytes));
		} else {
			conn_reply(
			    c, ctl_ops_request_fd(c->sd, &c->peer, c->in + used,
			           linelen, fd, c, &c->reply_fd));
			c->stream = events_is_subscriber(c->sd, c);
		}
		c->served = true;
		used += linelen + 1;
	}
	/* An event stream takes no more requests: its input is dropped. */
	if (c->stream) {
		used = c->inlen;
		(void)claim_fd(c, UINT64_MAX, UINT64_MAX);
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
		    "request line longer than %d bytes", SOFTNET_LINE_MAX);
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
	char msg[CTL_JSON_MSG_LEN], *s;
	const char *why;
	struct conn *c;
	json_t *r;

	TAILQ_FOREACH(c, &ctl->conns, entry) {
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
	r = ctl_json_error(
	    NULL, SOFTNET_E_BUSY, "daemon busy: %s (%s)", msg, why);
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
	admin = control_peer_is_admin(sd, fd, uid, gid);
	if (conn_refuse(sd, fd, uid, admin)) {
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->sd = sd;
	c->fd = fd;
	c->reply_fd = -1;
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

/* Event stream transport: bytes a subscriber has not read yet. */
static size_t
conn_pending(void *conn)
{
	struct conn *c = conn;

	return evbuffer_get_length(c->out);
}

/*
 * Event stream transport: queues a line for the write callback (never
 * written here: events.c is iterating its subscribers).
 */
static void
conn_queue(void *conn, const char *buf, size_t len)
{
	struct conn *c = conn;

	evbuffer_add(c->out, buf, len);
	if (!c->closing)
		event_add(c->wev, NULL);
}

/* The control and exposure limits and their counters (status "limits"). */
static json_t *
limits_json(struct softnetd *sd)
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
	    (json_int_t)sd->fdb.attach_refused, "timeouts",
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
	json_object_set_new(o, "events",
	    json_pack("{s:I,s:I,s:I,s:I}", "subscribers",
	        (json_int_t)events_subscribers(sd), "max_event_subscribers",
	        (json_int_t)cfg->max_event_subscribers,
	        "max_event_subscribers_per_user",
	        (json_int_t)cfg->max_event_subscribers_per_user, "lost",
	        (json_int_t)events_lost(sd)));
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

/*
 * Binds and listens on the configured path (mode 0660, socket_group),
 * replacing a stale socket there. The socket, or -1 with err set.
 */
static int
bind_socket(const struct softnetd *sd, char *err, size_t errlen)
{
	const char *path = sd->cfg.socket;
	struct sockaddr_un sun;
	struct group *gr;
	mode_t old;
	int s;

	if ((gr = getgrnam(sd->cfg.socket_group)) == NULL) {
		snprintf(err, errlen, "socket_group \"%s\" does not exist",
		    sd->cfg.socket_group);
		return -1;
	}
	if (clear_stale(path, err, errlen) == -1)
		return -1;
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
	return s;
}

int
control_init(struct softnetd *sd, char *err, size_t errlen)
{
	const char *path = sd->cfg.socket;
	struct control *ctl;
	struct sockaddr_un sun;
	bool path_owned = false;
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
	} else if ((s = bind_socket(sd, err, errlen)) == -1) {
		return -1;
	} else {
		path_owned = true;
	}
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
	sd->control_limits = limits_json;
	events_set_transport(
	    sd, &(struct events_transport){conn_pending, conn_queue});
	return 0;
}

void
control_shutdown(struct softnetd *sd)
{
	struct control *ctl = sd->control;
	struct conn *c;
	bool progress;

	if (ctl == NULL)
		return;
	/* Sessions end with the daemon, not by detaching: leases stay. */
	while ((c = TAILQ_FIRST(&ctl->conns)) != NULL) {
		/* Subscribers get "stop" if their socket takes it now. */
		if (c->stream)
			(void)conn_write_out(c, &progress);
		conn_free(c);
	}
	event_free(ctl->ev);
	event_free(ctl->retry);
	close(ctl->fd);
	if (ctl->path != NULL)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
	sd->control = NULL;
	sd->control_limits = NULL;
}
