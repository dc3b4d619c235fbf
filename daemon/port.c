/*
 * Theory of operation: a port is one attached VM descriptor (a Unix datagram
 * socket or a TAP fd), non-blocking, with a persistent libevent read event.
 * The registry is a list for listing plus two chained hash tables (MAC, and
 * leased IP) that the switch consults per frame; both are kept in step by
 * port_register, port_remove and port_set_lease only. What a VM's attach
 * and detach mean beyond the port (checks, the lease database, exposed
 * ports) is vm.c's: it creates ports with port_new and port_register, and
 * port_set_reaper hands it the dead ones.
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
#include "capture.h"
#include "clock.h"
#include "events.h"
#include "log.h"
#include "port.h"
#include "softnetd.h"
#include "frame.h"
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
	struct port_stats gone;       /* the detached ports' counters, summed */
	struct port *by_mac[PORT_BUCKETS];
	struct port *by_ip[PORT_BUCKETS];
	struct event *reaper;
	struct port_hooks hooks; /* vm.c's (port_set_hooks) */
	struct port_handlers h;  /* the switch's (port_set_handlers) */
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

/* Detaches every port marked dead, through the lifecycle's callback. */
static void
reap(evutil_socket_t fd, short what, void *arg)
{
	struct softnetd *sd = arg;
	struct port *p, *tmp;

	(void)fd;
	(void)what;
	TAILQ_FOREACH_SAFE(p, &sd->ports->list, entry, tmp) {
		if (!p->dead)
			continue;
		if (sd->ports->hooks.reap != NULL)
			sd->ports->hooks.reap(sd, p);
		else
			port_remove(sd, p);
	}
}

void
port_set_hooks(struct softnetd *sd, const struct port_hooks *h)
{
	sd->ports->hooks = *h;
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

/* Adds the frame counters of src to dst (the per-host totals). */
static void
stats_add(struct port_stats *dst, const struct port_stats *src)
{
	int r;

	dst->tx_frames += src->tx_frames;
	dst->tx_bytes += src->tx_bytes;
	dst->rx_frames += src->rx_frames;
	dst->rx_bytes += src->rx_bytes;
	for (r = 0; r < DROP__COUNT; r++)
		dst->drops[r] += src->drops[r];
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
	stats_add(&ps->gone, &p->st);
	if (ps->hooks.removed != NULL)
		ps->hooks.removed(sd, p);
	if (p->captures != NULL)
		capture_end_all(sd, &p->captures);
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
 * a re-connect for good. PORT_OK, or why not (*other: the port that has
 * the socket already).
 */
static enum port_err
dgram_acceptable(struct softnetd *sd, int fd, uint64_t *ident, bool *has_ident,
    struct port **other)
{
	struct port *p;

	switch (osdep_dgram_peer(fd)) {
	case OSDEP_PEER_UNNAMED:
		break;
	case OSDEP_PEER_NAMED:
		return PORT_E_NAMED_PEER;
	default:
		return PORT_E_UNCONNECTED;
	}
	if (osdep_fd_ident(fd, ident) == -1)
		return PORT_OK;
	*has_ident = true;
	TAILQ_FOREACH(p, &sd->ports->list, entry) {
		if (p->has_ident && p->ident == *ident) {
			*other = p;
			return PORT_E_ATTACHED;
		}
	}
	return PORT_OK;
}

/* Makes fd non-blocking and sized for batches; TAP offloads if it can. */
static enum port_err
prepare_fd(struct softnetd *sd, int fd, enum osdep_fd_kind kind)
{
	static struct log_rl rl_tune;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return PORT_E_FLAGS;
	/* Room for a batch of frames where the OS default is small (D2). */
	if (kind == OSDEP_FD_DGRAM && osdep_dgram_tune(fd) == -1)
		log_warn_rl(&rl_tune, "vm attach: sizing the socket buffers");
	/* A TAP with vnet headers gets offloads (not under -B): GSO
	 * superframes pass. */
	if (kind == OSDEP_FD_TAP && osdep_tap_has_vnet(fd) &&
	    osdep_tap_offload(fd, !sd->no_batch) == -1)
		return PORT_E_OFFLOAD;
	return PORT_OK;
}

enum port_err
port_new(struct softnetd *sd, int fd, enum osdep_fd_kind kind, struct port **pp)
{
	struct port *p;
	uint64_t ident = 0;
	bool has_ident = false;
	enum port_err e;

	*pp = NULL;
	if (kind == OSDEP_FD_DGRAM &&
	    (e = dgram_acceptable(sd, fd, &ident, &has_ident, pp)) != PORT_OK)
		return e;
	if ((e = prepare_fd(sd, fd, kind)) != PORT_OK)
		return e;
	p = xcalloc(1, sizeof(*p));
	p->sd = sd;
	p->vnet = kind == OSDEP_FD_TAP && osdep_tap_has_vnet(fd);
	p->id = sd->ports->next_id++;
	p->fd = fd;
	p->kind = kind;
	p->ident = ident;
	p->has_ident = has_ident;
	rate_init(&p->tx_rate, &sd->cfg.vm_limits.tx, clock_mono());
	rate_init(&p->rx_rate, &sd->cfg.vm_limits.rx, clock_mono());
	policy_init(&p->policy);
	*pp = p;
	return PORT_OK;
}

void
port_discard(struct port *p)
{
	free(p);
}

void
port_register(struct softnetd *sd, struct port *p)
{
	struct ports *ps = sd->ports;
	size_t b;

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
}

void
port_remove(struct softnetd *sd, struct port *p)
{
	unlink_port(sd, p);
	free(p);
}

struct port *
port_by_id(struct softnetd *sd, uint32_t id)
{
	struct port *p;

	TAILQ_FOREACH(p, &sd->ports->list, entry) {
		if (p->id == id)
			return p;
	}
	return NULL;
}

struct port *
port_by_owner_name(struct softnetd *sd, int64_t owner, const char *name)
{
	struct port *p;

	TAILQ_FOREACH(p, &sd->ports->list, entry) {
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
	TAILQ_FOREACH(p, &sd->ports->list, entry) {
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
port_totals(struct softnetd *sd, struct port_stats *out)
{
	struct port *p;

	*out = sd->ports->gone;
	TAILQ_FOREACH(p, &sd->ports->list, entry)
		stats_add(out, &p->st);
}

void
port_set_lease(
    struct softnetd *sd, struct port *p, uint32_t ip, int64_t expires)
{
	static struct log_rl rl;
	struct ports *ps = sd->ports;
	struct port *other;
	size_t b;

	/* Bound, renewed, released or expired: the layer above follows. */
	if (ps->hooks.lease_changed != NULL)
		ps->hooks.lease_changed(sd, p);
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
	p->full_at = clock_mono();
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
		p->st.drops[DROP_QUEUE_FULL]++;
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
	TAILQ_FOREACH(q, &sd->ports->list, entry) {
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
			p->st.drops[DROP_QUEUE_FULL]++;
			return;
		}
		if (cap == 0 ||
		    ps->backlog_bytes + sizeof(*b) + cap * slot >
		        BACKLOG_TOTAL ||
		    (b = malloc(sizeof(*b) + cap * slot)) == NULL) {
			p->st.drops[DROP_QUEUE_FULL]++;
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
		p->st.drops[DROP_QUEUE_FULL]++;
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
	return clock_mono() - p->full_at < p->retry_ns;
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
	    clock_mono() - p->full_at >= p->retry_ns)
		backlog_flush(sd, p);
	if (!p->full || p->dead)
		return p->dead;
	for (i = 0; i < n; i++) {
		if (p->kind == OSDEP_FD_DGRAM)
			backlog_push(sd, p, frames[i], lens[i]);
		else
			p->st.drops[DROP_QUEUE_FULL]++;
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
	p->st.drops[DROP_QUEUE_FULL]++;
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

/* The VM of an event, as p has it now. */
static void
event_vm(const struct port *p, struct events_vm *vm)
{
	vm->id = p->id;
	vm->name = p->name;
	vm->mac = p->mac;
	vm->owner = p->owner;
	vm->episode = NULL;
}

void
port_event(struct softnetd *sd, struct port *p, struct event_desc *d)
{
	struct events_vm vm;

	event_vm(p, &vm);
	d->vm = &vm;
	events_emit(sd, d);
	d->vm = NULL;
}

void
port_rate_drop(struct softnetd *sd, struct port *p)
{
	struct events_vm vm;

	p->st.drops[DROP_RATE_LIMIT]++;
	event_vm(p, &vm);
	vm.episode = &p->rate_episode;
	events_rate_drop(sd, &vm, 1);
}

void
port_rate_pause(struct softnetd *sd, struct port *p, uint64_t ns)
{
	struct events_vm vm;

	port_pause(sd, p, ns);
	event_vm(p, &vm);
	vm.episode = &p->rate_episode;
	events_rate_drop(sd, &vm, 0);
}
