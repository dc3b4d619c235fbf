/*
 * Theory of operation: a capture is one end of a Unix stream socketpair
 * the daemon made for a client (the other end went back with the reply,
 * by SCM_RIGHTS), carrying a pcapng stream: one SHB and one IDB when it
 * starts, then one EPB per frame of the VM, taken after the filter's
 * verdict (switch.c), an ISB with isb_ifdrop every CAPTURE_ISB_INTERVAL
 * seconds (so a live reader, `tcpdump -r -` or tshark, sees the drop
 * count grow while the capture runs), and one more when it ends while the
 * reader is still there. One timer serves every capture, armed only while
 * one runs; a periodic ISB the socket cannot take now is skipped, not
 * counted as a frame lost (the next one carries the count).
 *
 * The reader never slows the VM or the daemon: each block is written
 * with one non-blocking sendmsg. A block the socket does not take at all
 * is dropped and counted (per capture and in the VM's stats); a block it
 * takes in part has its rest kept (one block at most, a buffer sized
 * once at start) and written when the socket turns writable, and until
 * then further frames are dropped. A stream never holds a torn block.
 *
 * A capture ends when its reader closes its end (read event: EOF, or a
 * write fails with EPIPE), when the VM goes (capture_end_all, from
 * port.c), when the control connection it was asked on closes
 * (capture_session_end), or with the daemon. Each port holds a list of
 * its captures (NULL when none: the frame path pays one comparison);
 * the registry here knows all of them, for the limits.
 *
 * Blocks are written little-endian (the SHB's byte-order magic says so),
 * so the bytes are the same on every host and tested as such.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "drop.h"
#include "log.h"
#include "osdep.h"
#include "pkt.h"
#include "softnetd.h"
#include "xmalloc.h"

#define CAPTURE_SNAPLEN PKT_MAX_FRAME /* a GSO superframe whole */
#define CAPTURE_PEND    (CAPTURE_SNAPLEN + CAPTURE_EPB_OVERHEAD)
#define CAPTURE_SNDBUF  (1 << 20) /* asked; the kernel may give less */

#define PCAPNG_SHB 0x0A0D0D0Au
#define PCAPNG_IDB 0x00000001u
#define PCAPNG_EPB 0x00000006u
#define PCAPNG_ISB 0x00000005u

struct capture {
	struct capture *next;  /* in its port's list */
	struct capture **head; /* the port's list */
	TAILQ_ENTRY(capture) entry;
	struct softnetd *sd;
	int fd;
	struct event *rev, *wev;
	uid_t owner;
	void *session;
	unsigned dir;
	bool drops;
	uint64_t *vm_dropped;
	uint64_t dropped;
	uint8_t *pend; /* the unwritten rest of one block */
	size_t pend_off, pend_len;
};

TAILQ_HEAD(capture_list, capture);

struct captures {
	struct capture_list list;
	unsigned n;
	uint64_t dropped_ended;  /* by captures that have ended */
	struct event *isb_timer; /* capture_stats_all, while n > 0 */
};

/* Stores v little-endian at p. */
static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* Stores v little-endian at p. */
static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* Bytes of padding after len bytes to a 32-bit boundary. */
static size_t
pad4(size_t len)
{
	return (4 - (len & 3)) & 3;
}

/* Writes one option (code, value, padding) at p; its length. */
static size_t
put_opt(uint8_t *p, uint16_t code, const void *val, size_t len)
{
	put16(p, code);
	put16(p + 2, (uint16_t)len);
	memcpy(p + 4, val, len);
	memset(p + 4 + len, 0, pad4(len));
	return 4 + len + pad4(len);
}

size_t
capture_pcapng_shb(uint8_t *buf, size_t cap)
{
	if (cap < CAPTURE_SHB_LEN)
		return 0;
	put32(buf, PCAPNG_SHB);
	put32(buf + 4, CAPTURE_SHB_LEN);
	put32(buf + 8, 0x1A2B3C4Du);  /* byte-order magic */
	put16(buf + 12, 1);           /* major */
	put16(buf + 14, 0);           /* minor */
	put32(buf + 16, 0xffffffffu); /* section length: not known */
	put32(buf + 20, 0xffffffffu);
	put32(buf + 24, CAPTURE_SHB_LEN);
	return CAPTURE_SHB_LEN;
}

size_t
capture_pcapng_idb(uint8_t *buf, size_t cap, uint32_t snaplen, const char *name)
{
	size_t nlen = name != NULL ? strnlen(name, 63) : 0;
	size_t len = 16 + (nlen > 0 ? 4 + nlen + pad4(nlen) : 0) + 8 + 4 + 4;
	uint8_t tsresol = 9; /* nanoseconds */
	size_t o = 16;

	if (cap < len)
		return 0;
	put32(buf, PCAPNG_IDB);
	put32(buf + 4, (uint32_t)len);
	put16(buf + 8, 1); /* LINKTYPE_ETHERNET */
	put16(buf + 10, 0);
	put32(buf + 12, snaplen);
	if (nlen > 0)
		o += put_opt(buf + o, 2, name, nlen); /* if_name */
	o += put_opt(buf + o, 9, &tsresol, 1);        /* if_tsresol */
	put32(buf + o, 0);                            /* opt_endofopt */
	o += 4;
	put32(buf + o, (uint32_t)len);
	return len;
}

size_t
capture_pcapng_epb(uint8_t *head, size_t head_cap, uint8_t *tail,
    size_t tail_cap, size_t *tail_len, uint64_t ts_ns, uint32_t len,
    unsigned dir, const char *comment)
{
	size_t clen =
	    comment != NULL ? strnlen(comment, CAPTURE_COMMENT_MAX) : 0;
	size_t o = pad4(len), total;
	uint8_t flags[4];

	if (head_cap < 28 || tail_cap < CAPTURE_EPB_OVERHEAD - 28)
		return 0;
	memset(tail, 0, o);
	/* epb_flags: bits 0-1 the direction, 01 inbound, 10 outbound. */
	put32(flags, dir == CAPTURE_IN ? 1u : dir == CAPTURE_OUT ? 2u : 0u);
	o += put_opt(tail + o, 2, flags, 4);
	if (clen > 0)
		o += put_opt(tail + o, 1, comment, clen); /* opt_comment */
	put32(tail + o, 0);                               /* opt_endofopt */
	o += 4;
	total = 28 + len + o + 4;
	put32(tail + o, (uint32_t)total);
	*tail_len = o + 4;
	put32(head, PCAPNG_EPB);
	put32(head + 4, (uint32_t)total);
	put32(head + 8, 0); /* interface 0 */
	put32(head + 12, (uint32_t)(ts_ns >> 32));
	put32(head + 16, (uint32_t)ts_ns);
	put32(head + 20, len); /* captured: the whole frame */
	put32(head + 24, len); /* original */
	return 28;
}

size_t
capture_pcapng_isb(uint8_t *buf, size_t cap, uint64_t ts_ns, uint64_t ifdrop)
{
	uint8_t v[8];

	if (cap < CAPTURE_ISB_LEN)
		return 0;
	put32(buf, PCAPNG_ISB);
	put32(buf + 4, CAPTURE_ISB_LEN);
	put32(buf + 8, 0);
	put32(buf + 12, (uint32_t)(ts_ns >> 32));
	put32(buf + 16, (uint32_t)ts_ns);
	put32(v, (uint32_t)ifdrop);
	put32(v + 4, (uint32_t)(ifdrop >> 32));
	put_opt(buf + 20, 5, v, 8); /* isb_ifdrop */
	put32(buf + 32, 0);         /* opt_endofopt */
	put32(buf + 36, CAPTURE_ISB_LEN);
	return CAPTURE_ISB_LEN;
}

/* Wall-clock nanoseconds, for the blocks' timestamps. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Ends c: unlinks it from its port and the registry, writes the ISB
 * (when the reader may still be there and no block is torn) and closes.
 */
static void
capture_end(struct capture *c, bool reader_gone)
{
	struct captures *cs = c->sd->captures;
	struct capture **pp;
	uint8_t isb[CAPTURE_ISB_LEN];

	for (pp = c->head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	TAILQ_REMOVE(&cs->list, c, entry);
	cs->n--;
	cs->dropped_ended += c->dropped;
	c->sd->fdb.capture--;
	if (cs->n == 0)
		evtimer_del(cs->isb_timer);
	if (!reader_gone && c->pend_len == 0) {
		capture_pcapng_isb(isb, sizeof(isb), now_ns(), c->dropped);
		(void)!send(
		    c->fd, isb, sizeof(isb), MSG_DONTWAIT | OSDEP_MSG_NOSIGNAL);
	}
	log_debug("capture of uid %u ended (%llu frames dropped)",
	    (unsigned)c->owner, (unsigned long long)c->dropped);
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	free(c->pend);
	free(c);
}

/* Counts one frame c did not take. */
static void
count_drop(struct capture *c)
{
	c->dropped++;
	(*c->vm_dropped)++;
}

/*
 * Writes the n parts of one block, keeping a torn rest in c->pend; a
 * frame's block the socket refuses whole is counted as a drop (frame).
 * -1 when the reader is gone (c ended), else 0.
 */
static int
write_block(struct capture *c, struct iovec *iov, int n, bool frame)
{
	struct msghdr msg;
	size_t total = 0, skip;
	ssize_t w;
	int i;

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = n;
	w = sendmsg(c->fd, &msg, MSG_DONTWAIT | OSDEP_MSG_NOSIGNAL);
	if (w == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ENOBUFS || errno == EINTR) {
			if (frame)
				count_drop(c);
			return 0;
		}
		capture_end(c, true);
		return -1;
	}
	if ((size_t)w == total)
		return 0;
	/* Torn: keep the rest, send it first when the socket drains. */
	skip = (size_t)w;
	c->pend_len = 0;
	for (i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		memcpy(c->pend + c->pend_len, (uint8_t *)iov[i].iov_base + skip,
		    iov[i].iov_len - skip);
		c->pend_len += iov[i].iov_len - skip;
		skip = 0;
	}
	c->pend_off = 0;
	event_add(c->wev, NULL);
	return 0;
}

void
capture_frame(struct capture **head, unsigned dir, const uint8_t *frame,
    size_t len, int reason)
{
	struct capture *c, *next;
	uint8_t hdr[28], tail[CAPTURE_EPB_OVERHEAD];
	char comment[CAPTURE_COMMENT_MAX];
	struct iovec iov[3];
	size_t tail_len;
	uint64_t ts = 0;

	if (len > CAPTURE_SNAPLEN)
		len = CAPTURE_SNAPLEN; /* cannot happen: frame buffers */
	for (c = *head; c != NULL; c = next) {
		next = c->next;
		if ((c->dir & dir) == 0 ||
		    (reason != CAPTURE_PASS && !c->drops))
			continue;
		if (c->pend_len > 0) {
			count_drop(c);
			continue;
		}
		if (ts == 0) {
			ts = now_ns();
			if (reason != CAPTURE_PASS)
				snprintf(comment, sizeof(comment), "drop: %s",
				    drop_reason_name((enum drop_reason)reason));
		}
		capture_pcapng_epb(hdr, sizeof(hdr), tail, sizeof(tail),
		    &tail_len, ts, (uint32_t)len, dir,
		    reason != CAPTURE_PASS ? comment : NULL);
		iov[0].iov_base = hdr;
		iov[0].iov_len = sizeof(hdr);
		iov[1].iov_base = (void *)frame;
		iov[1].iov_len = len;
		iov[2].iov_base = tail;
		iov[2].iov_len = tail_len;
		(void)write_block(c, iov, 3, true);
	}
}

void
capture_stats_all(struct softnetd *sd)
{
	struct capture *c, *tmp;
	uint8_t isb[CAPTURE_ISB_LEN];
	struct iovec iov;
	uint64_t ts = now_ns();

	if (sd->captures == NULL)
		return;
	TAILQ_FOREACH_SAFE(c, &sd->captures->list, entry, tmp) {
		if (c->pend_len > 0)
			continue; /* a torn block first; the next tick then */
		capture_pcapng_isb(isb, sizeof(isb), ts, c->dropped);
		iov.iov_base = isb;
		iov.iov_len = sizeof(isb);
		(void)write_block(c, &iov, 1, false);
	}
}

/* Timer: the periodic ISBs. */
static void
capture_isb_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	capture_stats_all(arg);
}

/* Event callback: the reader took data; write the rest of a torn block. */
static void
capture_writable(evutil_socket_t fd, short what, void *arg)
{
	struct capture *c = arg;
	ssize_t w;

	(void)what;
	w = send(fd, c->pend + c->pend_off, c->pend_len - c->pend_off,
	    MSG_DONTWAIT | OSDEP_MSG_NOSIGNAL);
	if (w == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ENOBUFS) {
			capture_end(c, true);
			return;
		}
		w = 0;
	}
	c->pend_off += (size_t)w;
	if (c->pend_off == c->pend_len)
		c->pend_len = c->pend_off = 0;
	else
		event_add(c->wev, NULL);
}

/* Event callback: the reader closed its end (or sent something). */
static void
capture_readable(evutil_socket_t fd, short what, void *arg)
{
	struct capture *c = arg;
	uint8_t buf[256];
	ssize_t n;

	(void)what;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	                  errno != EINTR))
		capture_end(c, true);
	/* What a reader sends means nothing: read and forgotten. */
}

/* Whether a may start one more capture; msg says why not. */
static enum capture_err
capture_room(
    struct softnetd *sd, const struct capture_args *a, char *msg, size_t msglen)
{
	struct captures *cs = sd->captures;
	unsigned max = sd->cfg.max_captures, mine = 0;
	struct capture *c;

	TAILQ_FOREACH(c, &cs->list, entry)
		if (c->owner == a->owner)
			mine++;
	if (cs->n >= max || (!a->admin && cs->n + 1 >= max)) {
		snprintf(msg, msglen,
		    "daemon busy: %u captures are running (max_captures %u, "
		    "the last kept for root and the admin group)",
		    cs->n, max);
		return CAPTURE_E_TOTAL;
	}
	if (!a->admin && mine >= sd->cfg.max_captures_per_user) {
		snprintf(msg, msglen,
		    "uid %u runs %u captures (max_captures_per_user)",
		    (unsigned)a->owner, mine);
		return CAPTURE_E_PER_USER;
	}
	return CAPTURE_OK;
}

/* Writes the SHB and IDB to a fresh socket (it takes them whole). */
static int
write_header(int fd, const char *name)
{
	uint8_t buf[CAPTURE_SHB_LEN + 128];
	size_t n;

	n = capture_pcapng_shb(buf, sizeof(buf));
	n +=
	    capture_pcapng_idb(buf + n, sizeof(buf) - n, CAPTURE_SNAPLEN, name);
	return send(fd, buf, n, MSG_DONTWAIT | OSDEP_MSG_NOSIGNAL) == (ssize_t)n
	           ? 0
	           : -1;
}

enum capture_err
capture_start(struct softnetd *sd, struct capture **head,
    const struct capture_args *a, int *client_fd, char *msg, size_t msglen)
{
	enum capture_err err;
	struct capture *c;
	int sv[2], sz = CAPTURE_SNDBUF;

	if (sd->captures == NULL) { /* a test context without capture_init */
		snprintf(msg, msglen, "captures are not set up");
		return CAPTURE_E_SYS;
	}
	if ((err = capture_room(sd, a, msg, msglen)) != CAPTURE_OK)
		return err;
	if (osdep_socketpair(AF_UNIX, SOCK_STREAM, sv) == -1) {
		snprintf(msg, msglen, "socketpair: %s", strerror(errno));
		return CAPTURE_E_SYS;
	}
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    osdep_nosigpipe(sv[0]) == -1 ||
	    write_header(sv[0], a->name) == -1) {
		snprintf(msg, msglen, "capture socket: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return CAPTURE_E_SYS;
	}
	c = xcalloc(1, sizeof(*c));
	c->sd = sd;
	c->fd = sv[0];
	c->owner = a->owner;
	c->session = a->session;
	c->dir = a->dir;
	c->drops = a->drops;
	c->vm_dropped = a->dropped;
	c->pend = xmalloc(CAPTURE_PEND);
	c->rev = event_new(
	    sd->base, c->fd, EV_READ | EV_PERSIST, capture_readable, c);
	c->wev = event_new(sd->base, c->fd, EV_WRITE, capture_writable, c);
	if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) == -1)
		fatalx("capture: cannot add an event");
	c->head = head;
	c->next = *head;
	*head = c;
	TAILQ_INSERT_TAIL(&sd->captures->list, c, entry);
	if (sd->captures->n++ == 0) {
		struct timeval tv = {CAPTURE_ISB_INTERVAL, 0};
		evtimer_add(sd->captures->isb_timer, &tv);
	}
	sd->fdb.capture++;
	*client_fd = sv[1];
	return CAPTURE_OK;
}

void
capture_end_all(struct softnetd *sd, struct capture **head)
{
	(void)sd;
	while (*head != NULL)
		capture_end(*head, false);
}

void
capture_session_end(struct softnetd *sd, void *session)
{
	struct capture *c, *tmp;

	if (sd->captures == NULL || session == NULL)
		return;
	TAILQ_FOREACH_SAFE(c, &sd->captures->list, entry, tmp)
		if (c->session == session)
			capture_end(c, false);
}

unsigned
capture_count(struct softnetd *sd)
{
	return sd->captures != NULL ? sd->captures->n : 0;
}

uint64_t
capture_drops_total(struct softnetd *sd)
{
	struct capture *c;
	uint64_t n;

	if (sd->captures == NULL)
		return 0;
	n = sd->captures->dropped_ended;
	TAILQ_FOREACH(c, &sd->captures->list, entry)
		n += c->dropped;
	return n;
}

void
capture_init(struct softnetd *sd)
{
	sd->captures = xcalloc(1, sizeof(*sd->captures));
	TAILQ_INIT(&sd->captures->list);
	sd->captures->isb_timer =
	    event_new(sd->base, -1, EV_PERSIST, capture_isb_tick, sd);
	if (sd->captures->isb_timer == NULL)
		fatalx("capture: cannot add a timer");
}

void
capture_shutdown(struct softnetd *sd)
{
	if (sd->captures == NULL)
		return;
	while (!TAILQ_EMPTY(&sd->captures->list))
		capture_end(TAILQ_FIRST(&sd->captures->list), false);
	event_free(sd->captures->isb_timer);
	free(sd->captures);
	sd->captures = NULL;
}
