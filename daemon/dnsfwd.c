/*
 * The DNS forwarder on the gateway (issue 14). Theory of operation:
 *
 * softnetd hands out the gateway as the VMs' DNS server (dhcp.dns), and on
 * Linux nothing answers there, so with dns.forward the daemon listens on
 * UDP and TCP port 53 at the gateway address only (never the wildcard: it
 * opens nothing else on the host) and relays queries to the upstream
 * resolvers (dns.upstream, else /etc/resolv.conf's nameservers at start).
 * The filter already lets every VM reach a DNS server it was handed, even
 * under "--block @host" (filter.c is_dns_server), as DHCP is.
 *
 * UDP: a query is accepted only from a leased VM's address (the filter pins
 * each VM's source to its lease, so the address names the VM), recorded in
 * a fixed in-flight table under a fresh random id, and sent to one
 * upstream from one unconnected socket. An answer is taken only if it
 * comes from the upstream the query went to, port 53, with an id in
 * flight; the VM's id is put back and the answer sent, byte for byte as
 * long as upstream's, to the address and port that asked: never larger
 * (no amplification), never to anyone else. TC is relayed as is; the
 * client retries over TCP. Per VM at most DNSFWD_MAX_PER_VM queries, per
 * owner uid DNSFWD_MAX_PER_USER and in all DNSFWD_MAX_TOTAL are in flight,
 * and the last DNSFWD_ADMIN_RESERVE slots are only for root's and
 * admin_group's VMs (as control.c keeps connections): one VM, or one
 * user's VMs, flooding never takes every slot. A query past a share is
 * answered at once with SERVFAIL, never queued, and counted per VM
 * (dns_refused) and in all. SERVFAIL rather than REFUSED: stub resolvers
 * (glibc, musl, systemd-resolved) take SERVFAIL as a transient failure of
 * this server and retry, or try the next one, while REFUSED reads as a
 * policy that this server will never answer that client. Unanswered
 * entries expire after DNSFWD_TIMEOUT seconds.
 *
 * TCP: each accepted connection (a leased VM's, within DNSFWD_TCP_PER_VM
 * and DNSFWD_TCP_TOTAL and the descriptor budget) is spliced to a new
 * connection to an upstream as a byte stream, both ways, each direction
 * holding at most DNSFWD_TCP_BUF bytes (one DNS message) before reading
 * pauses, and closed after DNSFWD_TCP_IDLE seconds without traffic.
 *
 * Drops are counted and summarised in the log at most once a second.
 * The daemon is single-threaded, so the state is one static instance.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "dnsfwd.h"
#include "log.h"
#include "pkt.h"
#include "port.h"
#include "softnetd.h"
#include "xmalloc.h"

#define DNS_PORT    53
#define DNS_HDR_LEN 12
#define DNS_UDP_MAX 65535
#define DNS_BURST   64 /* datagrams read per wakeup, then the loop turns */

void
dnsfwd_table_init(struct dnsfwd_table *t, size_t cap, size_t per_client,
    size_t per_owner, size_t reserve)
{
	t->e = xcalloc(cap, sizeof(*t->e));
	t->cap = cap;
	t->per_client = per_client;
	t->per_owner = per_owner;
	t->reserve = reserve;
	t->used = 0;
}

void
dnsfwd_table_free(struct dnsfwd_table *t)
{
	free(t->e);
	t->e = NULL;
	t->cap = t->used = 0;
}

size_t
dnsfwd_table_count(const struct dnsfwd_table *t, uint32_t client_ip)
{
	size_t i, n = 0;

	for (i = 0; i < t->cap; i++)
		if (t->e[i].client_ip == client_ip)
			n++;
	return n;
}

/* Whether fwd_id is in flight to upstream (ids are per upstream). */
static bool
id_in_flight(const struct dnsfwd_table *t, uint16_t id, uint32_t upstream)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->e[i].client_ip != 0 && t->e[i].fwd_id == id &&
		    t->e[i].upstream == upstream)
			return true;
	return false;
}

enum dnsfwd_add
dnsfwd_table_add(struct dnsfwd_table *t, const struct dnsfwd_asker *who,
    uint16_t client_id, uint32_t upstream, int64_t deadline, uint16_t *fwd_id)
{
	struct dnsfwd_entry *free_slot = NULL;
	size_t i, mine = 0, owners = 0;
	uint16_t id;

	if (who->ip == 0)
		return DNSFWD_ADD_FULL;
	for (i = 0; i < t->cap; i++) {
		if (t->e[i].client_ip == 0) {
			if (free_slot == NULL)
				free_slot = &t->e[i];
			continue;
		}
		if (t->e[i].client_ip == who->ip)
			mine++;
		if (t->e[i].owner == who->owner)
			owners++;
	}
	if (mine >= t->per_client)
		return DNSFWD_ADD_VM_FULL;
	if (!who->admin && owners >= t->per_owner)
		return DNSFWD_ADD_USER_FULL;
	if (free_slot == NULL)
		return DNSFWD_ADD_FULL;
	if (!who->admin && t->used + t->reserve >= t->cap)
		return DNSFWD_ADD_RESERVED;
	/*
	 * A random id (RFC 5452 section 9.2: the id and the source port are
	 * what stand between an off-path spoofer and the cache); the table
	 * is at most a 64th of the id space, so a free one is found fast.
	 */
	do
		arc4random_buf(&id, sizeof(id));
	while (id_in_flight(t, id, upstream));
	free_slot->client_ip = who->ip;
	free_slot->client_port = who->port;
	free_slot->client_id = client_id;
	free_slot->fwd_id = id;
	free_slot->upstream = upstream;
	free_slot->owner = who->owner;
	free_slot->deadline = deadline;
	t->used++;
	*fwd_id = id;
	return DNSFWD_ADD_OK;
}

int
dnsfwd_table_take(struct dnsfwd_table *t, uint16_t fwd_id, uint32_t upstream,
    struct dnsfwd_entry *out)
{
	size_t i;

	for (i = 0; i < t->cap; i++) {
		if (t->e[i].client_ip != 0 && t->e[i].fwd_id == fwd_id &&
		    t->e[i].upstream == upstream) {
			*out = t->e[i];
			memset(&t->e[i], 0, sizeof(t->e[i]));
			t->used--;
			return 0;
		}
	}
	return -1;
}

size_t
dnsfwd_table_expire(struct dnsfwd_table *t, int64_t now)
{
	size_t i, n = 0;

	for (i = 0; i < t->cap; i++) {
		if (t->e[i].client_ip != 0 && t->e[i].deadline < now) {
			memset(&t->e[i], 0, sizeof(t->e[i]));
			t->used--;
			n++;
		}
	}
	return n;
}

size_t
dnsfwd_servfail(uint8_t *buf, size_t len)
{
	size_t end = DNS_HDR_LEN;
	bool question = false;

	/* One question: its labels (no compression in a query), type, class. */
	if (pkt_get_be16(buf + 4) == 1) {
		while (end < len && buf[end] != 0 && (buf[end] & 0xc0) == 0)
			end += 1 + (size_t)buf[end];
		question = end < len && buf[end] == 0 && len - end >= 5;
		end += 5;
	}
	if (!question)
		end = DNS_HDR_LEN;
	/* QR, the query's opcode and RD kept; RA; rcode 2 (SERVFAIL). */
	buf[2] = (uint8_t)(0x80 | (buf[2] & 0x79));
	buf[3] = 0x82;
	pkt_put_be16(buf + 4, question ? 1 : 0);
	memset(buf + 6, 0, 6); /* no answer, authority or additional */
	return end;
}

size_t
dnsfwd_parse_resolv(const char *text, uint32_t *out, size_t max)
{
	const char *line = text, *end;
	char word[64], addr[64];
	struct in_addr in;
	size_t n = 0, len;

	while (line != NULL && *line != '\0' && n < max) {
		end = strchr(line, '\n');
		len = end != NULL ? (size_t)(end - line) : strlen(line);
		/* Only "nameserver ADDR": a line longer than that is not. */
		if (len < 128) {
			char buf[128];

			memcpy(buf, line, len);
			buf[len] = '\0';
			if (sscanf(buf, " %63s %63s", word, addr) == 2 &&
			    strcmp(word, "nameserver") == 0 &&
			    inet_pton(AF_INET, addr, &in) == 1 &&
			    in.s_addr != 0)
				out[n++] = ntohl(in.s_addr);
		}
		line = end != NULL ? end + 1 : NULL;
	}
	return n;
}

struct dnsfwd_tcp;

/* The forwarder's state (one per daemon). */
struct dnsfwd {
	struct softnetd *sd;
	uint32_t upstream[CONFIG_MAX_DNS];
	size_t nupstream;
	size_t next_upstream; /* round robin */
	int udp_fd;           /* gateway:53, the VMs' side */
	int up_fd;            /* unconnected, to the upstreams */
	struct event *udp_ev, *up_ev, *tick;
	struct evconnlistener *lev;
	struct dnsfwd_table table;
	struct dnsfwd_tcp *conns; /* live TCP pairs */
	size_t nconns;
	uint8_t buf[DNS_UDP_MAX];
	/* Counters since start, and what was last logged. */
	uint64_t relayed, drop_vm_cap, drop_user_cap, drop_reserved,
	    drop_total_cap, drop_not_vm, drop_malformed, drop_stray, expired,
	    tcp_refused;
	uint64_t logged_sum;
};

/* One proxied TCP connection: the VM's and upstream's bufferevents. */
struct dnsfwd_tcp {
	struct dnsfwd *f;
	struct dnsfwd_tcp *next;
	uint32_t client_ip;
	struct bufferevent *bev[2]; /* 0: the VM, 1: upstream */
};

static struct dnsfwd *fwd;

/* The sum of the drop counters: a change is worth a log line. */
static uint64_t
drop_sum(const struct dnsfwd *f)
{
	return f->drop_vm_cap + f->drop_user_cap + f->drop_reserved +
	       f->drop_total_cap + f->drop_not_vm + f->drop_malformed +
	       f->drop_stray + f->expired + f->tcp_refused;
}

/*
 * Reads one datagram into f->buf: its length, or -1 when nothing is
 * left (EAGAIN, or a refused port's ICMP error on the upstream socket).
 */
static ssize_t
recv_one(struct dnsfwd *f, evutil_socket_t fd, struct sockaddr_in *from)
{
	socklen_t fl = sizeof(*from);

	return recvfrom(
	    fd, f->buf, sizeof(f->buf), 0, (struct sockaddr *)from, &fl);
}

/* Sends len bytes of f->buf from fd to ip:port; -1 with errno. */
static int
send_one(struct dnsfwd *f, int fd, uint32_t ip, uint16_t port, size_t len)
{
	struct sockaddr_in to;

	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_addr.s_addr = htonl(ip);
	to.sin_port = htons(port);
	if (sendto(fd, f->buf, len, 0, (struct sockaddr *)&to, sizeof(to)) ==
	    -1)
		return -1;
	return 0;
}

/* Sends one answer from the listener to the VM that asked. */
static void
answer_vm(struct dnsfwd *f, const struct dnsfwd_entry *e, size_t len)
{
	f->buf[0] = (uint8_t)(e->client_id >> 8);
	f->buf[1] = (uint8_t)e->client_id;
	/* A full VM socket loses this answer; the client retries. */
	if (send_one(f, f->udp_fd, e->client_ip, e->client_port, len) == -1)
		log_debug("%s: sendto: %s", __func__, strerror(errno));
	else
		f->relayed++;
}

/* Reads answers from upstream and relays each to the VM that asked. */
static void
on_upstream(evutil_socket_t fd, short what, void *arg)
{
	struct dnsfwd *f = arg;
	struct sockaddr_in from;
	struct dnsfwd_entry e;
	ssize_t n;
	int i;

	(void)what;
	for (i = 0; i < DNS_BURST && (n = recv_one(f, fd, &from)) != -1; i++) {
		if (n < DNS_HDR_LEN || from.sin_family != AF_INET ||
		    ntohs(from.sin_port) != DNS_PORT || !(f->buf[2] & 0x80)) {
			f->drop_malformed++;
			continue;
		}
		if (dnsfwd_table_take(&f->table,
		        (uint16_t)(f->buf[0] << 8 | f->buf[1]),
		        ntohl(from.sin_addr.s_addr), &e) == -1) {
			f->drop_stray++;
			continue;
		}
		answer_vm(f, &e, (size_t)n);
	}
}

/*
 * Answers the query of len bytes in f->buf with SERVFAIL at once: it was
 * over a share (why), and a client left waiting for its timeout would
 * stall as much as the flood meant to.
 */
static void
refuse(struct dnsfwd *f, struct port *p, const struct dnsfwd_asker *who,
    size_t len, enum dnsfwd_add why)
{
	uint64_t *n = why == DNSFWD_ADD_VM_FULL     ? &f->drop_vm_cap
	              : why == DNSFWD_ADD_USER_FULL ? &f->drop_user_cap
	              : why == DNSFWD_ADD_RESERVED  ? &f->drop_reserved
	                                            : &f->drop_total_cap;

	(*n)++;
	p->st.dns_refused++;
	len = dnsfwd_servfail(f->buf, len);
	/* A full VM socket loses it, as an answer; the client retries. */
	if (send_one(f, f->udp_fd, who->ip, who->port, len) == -1)
		log_debug("%s: sendto: %s", __func__, strerror(errno));
}

/* Reads queries from VMs and forwards each to an upstream. */
static void
on_query(evutil_socket_t fd, short what, void *arg)
{
	struct dnsfwd *f = arg;
	struct sockaddr_in from;
	struct dnsfwd_asker who;
	enum dnsfwd_add added;
	struct port *p;
	uint32_t up;
	uint16_t id;
	ssize_t n;
	int i;

	(void)what;
	for (i = 0; i < DNS_BURST && (n = recv_one(f, fd, &from)) != -1; i++) {
		who.ip = ntohl(from.sin_addr.s_addr);
		who.port = ntohs(from.sin_port);
		if (from.sin_family != AF_INET ||
		    (p = port_by_ip(f->sd, who.ip)) == NULL) {
			f->drop_not_vm++;
			continue;
		}
		/* A query (QR 0) with at least a header; answers never. */
		if (n < DNS_HDR_LEN || (f->buf[2] & 0x80)) {
			f->drop_malformed++;
			continue;
		}
		who.owner = p->owner;
		who.admin = p->admin;
		up = f->upstream[f->next_upstream++ % f->nupstream];
		added = dnsfwd_table_add(&f->table, &who, pkt_get_be16(f->buf),
		    up, clock_now() + DNSFWD_TIMEOUT, &id);
		if (added != DNSFWD_ADD_OK) {
			refuse(f, p, &who, (size_t)n, added);
			continue;
		}
		f->buf[0] = (uint8_t)(id >> 8);
		f->buf[1] = (uint8_t)id;
		if (send_one(f, f->up_fd, up, DNS_PORT, (size_t)n) == -1)
			log_debug("%s: sendto upstream: %s", __func__,
			    strerror(errno));
	}
}

/* Once a second: expire unanswered queries, log drop counts if changed. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct dnsfwd *f = arg;
	uint64_t sum;

	(void)fd;
	(void)what;
	f->expired += dnsfwd_table_expire(&f->table, clock_now());
	sum = drop_sum(f);
	if (sum == f->logged_sum)
		return;
	f->logged_sum = sum;
	log_info("dns: relayed %llu; refused: vm_cap %llu, user_cap %llu, "
	         "admin_reserve %llu, total_cap %llu; dropped: "
	         "not_vm %llu, malformed %llu, stray %llu, expired %llu, "
	         "tcp_refused %llu",
	    (unsigned long long)f->relayed, (unsigned long long)f->drop_vm_cap,
	    (unsigned long long)f->drop_user_cap,
	    (unsigned long long)f->drop_reserved,
	    (unsigned long long)f->drop_total_cap,
	    (unsigned long long)f->drop_not_vm,
	    (unsigned long long)f->drop_malformed,
	    (unsigned long long)f->drop_stray, (unsigned long long)f->expired,
	    (unsigned long long)f->tcp_refused);
}

/* Unlinks and frees a TCP pair, closing both sockets. */
static void
tcp_free(struct dnsfwd_tcp *c)
{
	struct dnsfwd *f = c->f;
	struct dnsfwd_tcp **pp;

	for (pp = &f->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			f->nconns--;
			break;
		}
	}
	if (c->bev[0] != NULL)
		bufferevent_free(c->bev[0]);
	if (c->bev[1] != NULL)
		bufferevent_free(c->bev[1]);
	free(c);
}

/* Moves what one side read to the other, pausing past the bound. */
static void
tcp_read(struct bufferevent *bev, void *arg)
{
	struct dnsfwd_tcp *c = arg;
	int s = bev == c->bev[1];
	struct evbuffer *out = bufferevent_get_output(c->bev[!s]);

	evbuffer_add_buffer(out, bufferevent_get_input(bev));
	if (evbuffer_get_length(out) >= DNSFWD_TCP_BUF)
		bufferevent_disable(bev, EV_READ);
}

/* The other side drained: resume reading this one. */
static void
tcp_write(struct bufferevent *bev, void *arg)
{
	struct dnsfwd_tcp *c = arg;
	int s = bev == c->bev[1];

	if (evbuffer_get_length(bufferevent_get_output(bev)) < DNSFWD_TCP_BUF)
		bufferevent_enable(c->bev[!s], EV_READ);
}

static void tcp_event(struct bufferevent *bev, short what, void *arg);

/* After one side's EOF: the other side has written what was left. */
static void
tcp_drained(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		tcp_free(arg);
}

/*
 * EOF, error or idle timeout on either side ends the pair. DNS over TCP
 * is request/response, so a half-close is not worth keeping open.
 */
static void
tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dnsfwd_tcp *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF) {
		int s = bev == c->bev[1];
		struct evbuffer *out = bufferevent_get_output(c->bev[!s]);

		/* Deliver what is pending to the other side first. */
		evbuffer_add_buffer(out, bufferevent_get_input(bev));
		if (evbuffer_get_length(out) > 0) {
			bufferevent_disable(bev, EV_READ);
			bufferevent_disable(c->bev[!s], EV_READ);
			bufferevent_setcb(
			    c->bev[!s], NULL, tcp_drained, tcp_event, c);
			return;
		}
	}
	tcp_free(c);
}

/* Counts the TCP connections client_ip holds. */
static size_t
tcp_count(const struct dnsfwd *f, uint32_t client_ip)
{
	const struct dnsfwd_tcp *c;
	size_t n = 0;

	for (c = f->conns; c != NULL; c = c->next)
		if (c->client_ip == client_ip)
			n++;
	return n;
}

/* Accepts a VM's TCP connection and splices it to an upstream. */
static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct dnsfwd *f = arg;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	struct timeval idle = {DNSFWD_TCP_IDLE, 0};
	struct sockaddr_in to;
	struct dnsfwd_tcp *c;
	uint32_t ip;
	int i;

	(void)lev;
	if (sa->sa_family != AF_INET || (size_t)salen < sizeof(*sin)) {
		close(fd);
		return;
	}
	ip = ntohl(sin->sin_addr.s_addr);
	if (port_by_ip(f->sd, ip) == NULL) {
		f->drop_not_vm++;
		close(fd);
		return;
	}
	/* Two descriptors per pair, never the budget's last (fdbudget.c). */
	if (f->nconns >= DNSFWD_TCP_TOTAL ||
	    tcp_count(f, ip) >= DNSFWD_TCP_PER_VM ||
	    !fdbudget_room(f->sd, 2, false)) {
		f->tcp_refused++;
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->f = f;
	c->client_ip = ip;
	c->bev[0] =
	    bufferevent_socket_new(f->sd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->bev[1] =
	    bufferevent_socket_new(f->sd->base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->next = f->conns;
	f->conns = c;
	f->nconns++;
	if (c->bev[0] == NULL || c->bev[1] == NULL) {
		if (c->bev[0] == NULL)
			close(fd);
		goto fail;
	}
	for (i = 0; i < 2; i++) {
		bufferevent_setcb(c->bev[i], tcp_read, tcp_write, tcp_event, c);
		bufferevent_setwatermark(c->bev[i], EV_WRITE, 0, 0);
		bufferevent_set_timeouts(c->bev[i], &idle, &idle);
	}
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_addr.s_addr =
	    htonl(f->upstream[f->next_upstream++ % f->nupstream]);
	to.sin_port = htons(DNS_PORT);
	if (bufferevent_socket_connect(
	        c->bev[1], (struct sockaddr *)&to, sizeof(to)) == -1)
		goto fail;
	if (bufferevent_enable(c->bev[0], EV_READ | EV_WRITE) == -1 ||
	    bufferevent_enable(c->bev[1], EV_READ | EV_WRITE) == -1)
		goto fail;
	return;
fail:
	tcp_free(c);
}

/* Opens a non-blocking UDP socket, bound to ip:port when ip is set. */
static int
udp_open(uint32_t ip, uint16_t port)
{
	struct sockaddr_in sin;
	int fd;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		return -1;
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1)
		goto fail;
	if (ip != 0) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(ip);
		sin.sin_port = htons(port);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
			goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* The upstreams: the configured ones, else resolv.conf's at start. */
static size_t
load_upstreams(const struct config *cfg, uint32_t *out)
{
	char text[8192];
	size_t n;
	FILE *fp;

	if (cfg->dns.nupstream > 0) {
		memcpy(
		    out, cfg->dns.upstream, cfg->dns.nupstream * sizeof(*out));
		return cfg->dns.nupstream;
	}
	if ((fp = fopen("/etc/resolv.conf", "r")) == NULL)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	return dnsfwd_parse_resolv(text, out, CONFIG_MAX_DNS);
}

void
dnsfwd_init(struct softnetd *sd)
{
	struct timeval sec = {1, 0};
	struct sockaddr_in sin;
	struct dnsfwd *f;
	size_t i;

	if (!sd->cfg.dns.forward)
		return;
	f = xcalloc(1, sizeof(*f));
	f->sd = sd;
	f->udp_fd = f->up_fd = -1;
	f->nupstream = load_upstreams(&sd->cfg, f->upstream);
	/* The gateway forwarding to itself would loop each query. */
	for (i = 0; i < f->nupstream; i++)
		if (f->upstream[i] == sd->up.gateway)
			f->upstream[i--] = f->upstream[--f->nupstream];
	if (f->nupstream == 0) {
		log_warnx("dns: no upstream resolver (dns.upstream or "
		          "/etc/resolv.conf); not forwarding");
		goto fail;
	}
	if ((f->udp_fd = udp_open(sd->up.gateway, DNS_PORT)) == -1 ||
	    (f->up_fd = udp_open(0, 0)) == -1) {
		log_warn("dns: cannot listen on the gateway's UDP port 53; "
		         "not forwarding");
		goto fail;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(sd->up.gateway);
	sin.sin_port = htons(DNS_PORT);
	f->lev = evconnlistener_new_bind(sd->base, on_accept, f,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    16, (struct sockaddr *)&sin, sizeof(sin));
	if (f->lev == NULL) {
		log_warn("dns: cannot listen on the gateway's TCP port 53; "
		         "not forwarding");
		goto fail;
	}
	dnsfwd_table_init(&f->table, DNSFWD_MAX_TOTAL, DNSFWD_MAX_PER_VM,
	    DNSFWD_MAX_PER_USER, DNSFWD_ADMIN_RESERVE);
	f->udp_ev =
	    event_new(sd->base, f->udp_fd, EV_READ | EV_PERSIST, on_query, f);
	f->up_ev =
	    event_new(sd->base, f->up_fd, EV_READ | EV_PERSIST, on_upstream, f);
	f->tick = event_new(sd->base, -1, EV_PERSIST, on_tick, f);
	if (f->udp_ev == NULL || f->up_ev == NULL || f->tick == NULL ||
	    event_add(f->udp_ev, NULL) == -1 ||
	    event_add(f->up_ev, NULL) == -1 || event_add(f->tick, &sec) == -1)
		fatalx("dns: cannot add events");
	fwd = f;
	for (i = 0; i < f->nupstream; i++) {
		struct in_addr a = {htonl(f->upstream[i])};

		log_info("dns: forwarding to %s", inet_ntoa(a));
	}
	return;
fail:
	if (f->lev != NULL)
		evconnlistener_free(f->lev);
	if (f->udp_fd != -1)
		close(f->udp_fd);
	if (f->up_fd != -1)
		close(f->up_fd);
	free(f);
}

bool
dnsfwd_counters(struct dnsfwd_counters *out)
{
	const struct dnsfwd *f = fwd;

	memset(out, 0, sizeof(*out));
	if (f == NULL)
		return false;
	out->in_flight = f->table.used;
	out->relayed = f->relayed;
	out->refused_vm = f->drop_vm_cap;
	out->refused_user = f->drop_user_cap;
	out->refused_reserved = f->drop_reserved;
	out->refused_full = f->drop_total_cap;
	return true;
}

void
dnsfwd_shutdown(struct softnetd *sd)
{
	struct dnsfwd *f = fwd;

	(void)sd;
	if (f == NULL)
		return;
	while (f->conns != NULL)
		tcp_free(f->conns);
	evconnlistener_free(f->lev);
	event_free(f->udp_ev);
	event_free(f->up_ev);
	event_free(f->tick);
	close(f->udp_fd);
	close(f->up_fd);
	dnsfwd_table_free(&f->table);
	free(f);
	fwd = NULL;
}
