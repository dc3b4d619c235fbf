/*
 * Unit tests for daemon/expose.c: the --expose TCP proxy, driven through
 * vm_attach/vm_detach on a hand-built daemon context (no uplink, an
 * in-memory lease database). A TCP server on the loopback stands in for the
 * VM (its "lease" is 127.0.0.1) and runs on the daemon's own event loop;
 * the test's clients are plain non-blocking sockets pumped beside the loop.
 *
 * Covered: echo, a multi-megabyte transfer, half-close both ways,
 * backpressure (a VM that stops reading stops the client), a taken port
 * (the attach fails and leaves nothing), detach (listener and live
 * connections closed), no lease, the lease followed at accept time, a VM
 * port that refuses, and the per-VM connection limit.
 *
 * UDP (`udp:EXT:INT`): a plain datagram socket on the loopback is the VM's
 * echo service, pumped beside the loop. Covered: echo with the reply from
 * the exposed port, two clients each getting their own replies through
 * their own mappings (and the filter hook naming exactly those), an idle
 * mapping expiring, no lease, the per-VM limit, a taken UDP port beside a
 * free TCP one, the lease moving, and detach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "clock.h"
#include "config.h"
#include "expose.h"
#include "leasedb.h"
#include "policy.h"
#include "pkt.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "vm.h"

#define LOOP1 0x7f000001u /* 127.0.0.1, the stand-in VM's lease */
#define LOOP2 0x7f000002u /* 127.0.0.2, where the lease moves */
#define NOW   1700000000

#define MAX_SRV_CONNS 1024
#define MAX_VMS       4

/* The daemon's clock, held still (clock_set_hook). */
static int64_t
test_now(void)
{
	return NOW;
}

static struct softnetd sd;
static int vm_peer[MAX_VMS]; /* the other ends of the ports' descriptors */
static size_t nvm;

/* The stand-in VM's TCP server. */
enum srv_mode {
	SRV_ECHO,  /* echoes; forwards the client's FIN once flushed */
	SRV_GREET, /* sends its greeting, shuts its side, records what comes */
	SRV_HOLD,  /* reads nothing until told to, then counts and checks */
};

struct srv {
	enum srv_mode mode;
	evutil_socket_t fd;
	struct event *ev;
	uint16_t port;
	const char *greeting;
	size_t accepted;
	size_t got;      /* bytes received (GREET, HOLD) */
	char rx[256];    /* the first bytes received (GREET) */
	size_t peer_eof; /* FINs received */
	bool bad;        /* HOLD: a byte out of the pattern */
};

struct srv_conn {
	struct srv *s;
	struct bufferevent *bev;
	bool eof;
};

static struct srv_conn *srv_conns[MAX_SRV_CONNS];
static size_t nsrv_conns;
static struct srv *srvs[4];
static size_t nsrvs;

/* A client of the exposed port, pumped by hand. */
struct cli {
	int fd;
	const uint8_t *tx; /* to send, then shut down if shut_after */
	size_t txlen, txoff;
	bool shut_after, shut_done;
	uint8_t *rx;
	size_t rxcap, rxlen;
	bool eof;    /* read EOF or an error */
	int err;     /* errno of the error, 0 on a clean EOF */
	bool paused; /* do not read (to pile data up) */
};

/* The pattern byte at offset i of a large transfer. */
static uint8_t
pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 11));
}

/* A free TCP port, as the kernel picks one. */
static uint16_t
free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Server: the FIN from the proxy is forwarded once the output is empty. */
static void
srv_maybe_shut(struct srv_conn *sc)
{
	if (sc->s->mode == SRV_ECHO && sc->eof &&
	    evbuffer_get_length(bufferevent_get_output(sc->bev)) == 0)
		shutdown(bufferevent_getfd(sc->bev), SHUT_WR);
}

/* Server read callback. */
static void
srv_read(struct bufferevent *bev, void *arg)
{
	struct srv_conn *sc = arg;
	struct srv *s = sc->s;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t buf[16384];
	size_t i;
	int n;

	if (s->mode == SRV_ECHO) {
		evbuffer_add_buffer(bufferevent_get_output(bev), in);
		return;
	}
	while ((n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)n; i++) {
			if (s->mode == SRV_HOLD &&
			    buf[i] != pattern(s->got + i))
				s->bad = true;
			if (s->mode == SRV_GREET &&
			    s->got + i < sizeof(s->rx) - 1)
				s->rx[s->got + i] = (char)buf[i];
		}
		s->got += (size_t)n;
	}
}

/* Server write callback: output drained. */
static void
srv_write(struct bufferevent *bev, void *arg)
{
	struct srv_conn *sc = arg;

	if (sc->s->mode == SRV_GREET)
		shutdown(bufferevent_getfd(bev), SHUT_WR);
	else
		srv_maybe_shut(sc);
}

/* Server event callback. */
static void
srv_event(struct bufferevent *bev, short what, void *arg)
{
	struct srv_conn *sc = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		sc->eof = true;
		sc->s->peer_eof++;
		srv_maybe_shut(sc);
	}
}

/* Server accept callback. */
static void
srv_accept(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;
	struct srv_conn *sc;
	int cfd;

	(void)what;
	while ((cfd = accept(fd, NULL, NULL)) >= 0) {
		assert_true(nsrv_conns < MAX_SRV_CONNS);
		evutil_make_socket_nonblocking(cfd);
		sc = calloc(1, sizeof(*sc));
		assert_non_null(sc);
		sc->s = s;
		sc->bev =
		    bufferevent_socket_new(sd.base, cfd, BEV_OPT_CLOSE_ON_FREE);
		assert_non_null(sc->bev);
		bufferevent_setcb(sc->bev, srv_read, srv_write, srv_event, sc);
		bufferevent_enable(sc->bev,
		    s->mode == SRV_HOLD ? EV_WRITE : EV_READ | EV_WRITE);
		if (s->mode == SRV_GREET)
			bufferevent_write(
			    sc->bev, s->greeting, strlen(s->greeting));
		srv_conns[nsrv_conns++] = sc;
		s->accepted++;
	}
}

/* Starts a stand-in VM server on ip:port (port 0: any). */
static struct srv *
srv_start(enum srv_mode mode, uint32_t ip, uint16_t port, const char *greet)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	struct srv *s = calloc(1, sizeof(*s));
	int one = 1;

	assert_non_null(s);
	assert_true(nsrvs < sizeof(srvs) / sizeof(srvs[0]));
	s->mode = mode;
	s->greeting = greet;
	sin.sin_addr.s_addr = htonl(ip);
	sin.sin_port = htons(port);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->fd, 1024), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	evutil_make_socket_nonblocking(s->fd);
	s->ev = event_new(sd.base, s->fd, EV_READ | EV_PERSIST, srv_accept, s);
	assert_non_null(s->ev);
	event_add(s->ev, NULL);
	srvs[nsrvs++] = s;
	return s;
}

/* HOLD server: starts reading what piled up. */
static void
srv_release(struct srv *s)
{
	size_t i;

	for (i = 0; i < nsrv_conns; i++)
		if (srv_conns[i]->s == s)
			bufferevent_enable(srv_conns[i]->bev, EV_READ);
}

/* Attaches a VM exposing `expose` ("EXT:INT,..."); NULL with code/msg. */
static struct port *
attach(const char *mac, const char *expose, const char **code, char *msg,
    size_t msglen)
{
	struct vm_attach_args a = {.kind = OSDEP_FD_DGRAM, .owner = 0};
	struct policy pol;
	char err[POLICY_ERRLEN];
	enum vm_err verr;
	struct port *p;
	int sv[2];

	policy_init(&pol);
	if (policy_add_expose_list(&pol, expose, err, sizeof(err)) == -1)
		fail_msg("%s: %s", expose, err);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	assert_int_equal(addr_parse_mac(mac, a.mac), 0);
	a.fd = sv[0];
	a.policy = &pol;
	p = vm_attach(&sd, &a, &verr, msg, msglen);
	if (p == NULL) {
		*code = vm_err_code(verr);
		close(sv[0]);
		close(sv[1]);
		return NULL;
	}
	assert_true(nvm < MAX_VMS);
	vm_peer[nvm++] = sv[1];
	return p;
}

/* Attaches and expects success. */
static struct port *
attach_ok(const char *mac, uint16_t ext, uint16_t in)
{
	char list[32], msg[256];
	const char *code = NULL;
	struct port *p;

	snprintf(list, sizeof(list), "%u:%u", ext, in);
	if ((p = attach(mac, list, &code, msg, sizeof(msg))) == NULL)
		fail_msg("attach %s: %s: %s", list, code, msg);
	return p;
}

/* Connects to 127.0.0.1:port; returns the fd (non-blocking) or -errno. */
static int
connect_to(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0), e;

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(LOOP1);
	sin.sin_port = htons(port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		e = errno;
		close(fd);
		return -e;
	}
	evutil_make_socket_nonblocking(fd);
	return fd;
}

/* A client connected to the exposed port, receiving up to rxcap bytes. */
static void
cli_open(struct cli *c, uint16_t port, const void *tx, size_t txlen,
    bool shut_after, size_t rxcap)
{
	int fd = connect_to(port);

	if (fd < 0)
		fail_msg("connect to port %u: %s", port, strerror(-fd));
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->tx = tx;
	c->txlen = txlen;
	c->shut_after = shut_after;
	c->rxcap = rxcap;
	c->rx = malloc(rxcap + 1);
	assert_non_null(c->rx);
}

/* Frees a client. */
static void
cli_close(struct cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->rx);
	c->rx = NULL;
}

/* Moves what a client can send and receive now. */
static void
cli_step(struct cli *c)
{
	uint8_t sink[65536];
	ssize_t n;

	while (c->txoff < c->txlen) {
		n = send(
		    c->fd, c->tx + c->txoff, c->txlen - c->txoff, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		c->txoff += (size_t)n;
	}
	if (c->txoff == c->txlen && c->shut_after && !c->shut_done) {
		shutdown(c->fd, SHUT_WR);
		c->shut_done = true;
	}
	while (!c->eof && !c->paused) {
		if (c->rxlen < c->rxcap)
			n = recv(
			    c->fd, c->rx + c->rxlen, c->rxcap - c->rxlen, 0);
		else
			n = recv(c->fd, sink, sizeof(sink), 0);
		if (n > 0) {
			if (c->rxlen < c->rxcap)
				c->rxlen += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			c->err = n == 0 ? 0 : errno;
			c->eof = true;
		}
		break;
	}
}

typedef bool (*cond_fn)(void *arg);

/* Runs the loop and steps clients until cond holds; false on timeout. */
static bool
pump(struct cli **cs, size_t ncs, cond_fn cond, void *arg, int timeout_ms)
{
	struct timespec t0, t;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		event_base_loop(sd.base, EVLOOP_NONBLOCK);
		for (i = 0; i < ncs; i++)
			cli_step(cs[i]);
		if (cond != NULL && cond(arg))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
		        (t.tv_nsec - t0.tv_nsec) / 1000000 >
		    timeout_ms)
			return cond == NULL;
		usleep(50);
	}
}

/* Condition: the client saw EOF. */
static bool
cli_eof(void *arg)
{
	return ((struct cli *)arg)->eof;
}

/* Condition: the port has no proxied connection left. */
static bool
no_conns(void *arg)
{
	return expose_count(arg) == 0;
}

/* A fresh daemon context for each test. */
static int
setup(void **state)
{
	char err[256];

	(void)state;
	memset(&sd, 0, sizeof(sd));
	config_defaults(&sd.cfg);
	sd.base = event_base_new();
	assert_non_null(sd.base);
	sd.db = leasedb_open(":memory:", sd.cfg.uplink.pool_start,
	    sd.cfg.uplink.pool_end, sd.cfg.uplink.gateway, err, sizeof(err));
	if (sd.db == NULL)
		fail_msg("leasedb_open: %s", err);
	port_init(&sd);
	switch_init(&sd);
	vm_init(&sd);
	nvm = 0;
	nsrv_conns = 0;
	nsrvs = 0;
	return 0;
}

/* Tears the context down: ports (and their exposures), servers, loop. */
static int
teardown(void **state)
{
	size_t i;

	(void)state;
	vm_shutdown(&sd);
	port_shutdown(&sd);
	switch_shutdown(&sd);
	for (i = 0; i < nsrv_conns; i++) {
		bufferevent_free(srv_conns[i]->bev);
		free(srv_conns[i]);
	}
	for (i = 0; i < nsrvs; i++) {
		event_free(srvs[i]->ev);
		close(srvs[i]->fd);
		free(srvs[i]);
	}
	for (i = 0; i < nvm; i++)
		close(vm_peer[i]);
	leasedb_close(sd.db);
	event_base_free(sd.base);
	config_free(&sd.cfg);
	return 0;
}

/* Bytes echo through the proxy; the pair is freed after both FINs. */
static void
test_echo(void **state)
{
	static const char hello[] = "hello through the proxy";
	struct srv *s = srv_start(SRV_ECHO, LOOP1, 0, NULL);
	uint16_t ext = free_port();
	struct port *p = attach_ok("02:00:00:00:00:01", ext, s->port);
	struct cli c, *cs[] = {&c};

	(void)state;
	assert_non_null(p->expose);
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	cli_open(&c, ext, hello, strlen(hello), true, 4096);
	assert_true(pump(cs, 1, cli_eof, &c, 5000));
	assert_int_equal(c.err, 0);
	assert_int_equal(c.rxlen, strlen(hello));
	assert_memory_equal(c.rx, hello, strlen(hello));
	assert_true(pump(cs, 1, no_conns, p, 5000));
	assert_int_equal(s->accepted, 1);
	cli_close(&c);
}

/* Several megabytes each way arrive intact and in order. */
static void
test_large(void **state)
{
	const size_t len = 12u << 20;
	struct srv *s = srv_start(SRV_ECHO, LOOP1, 0, NULL);
	uint16_t ext = free_port();
	struct port *p = attach_ok("02:00:00:00:00:01", ext, s->port);
	uint8_t *tx = malloc(len);
	struct cli c, *cs[] = {&c};
	size_t i;

	(void)state;
	assert_non_null(tx);
	for (i = 0; i < len; i++)
		tx[i] = pattern(i);
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	cli_open(&c, ext, tx, len, true, len);
	assert_true(pump(cs, 1, cli_eof, &c, 60000));
	assert_int_equal(c.err, 0);
	assert_int_equal(c.rxlen, len);
	assert_memory_equal(c.rx, tx, len);
	assert_true(pump(cs, 1, no_conns, p, 5000));
	cli_close(&c);
	free(tx);
}

/* Condition: the GREET/HOLD server received a FIN. */
static bool
srv_saw_eof(void *arg)
{
	return ((struct srv *)arg)->peer_eof > 0;
}

/*
 * Half-close from the VM side: its greeting and FIN reach the client, which
 * can still send; then the client's FIN reaches the VM and the pair ends.
 */
static void
test_half_close(void **state)
{
	static const char late[] = "sent after the vm shut its side";
	struct srv *s = srv_start(SRV_GREET, LOOP1, 0, "hi from the vm");
	uint16_t ext = free_port();
	struct port *p = attach_ok("02:00:00:00:00:01", ext, s->port);
	struct cli c, *cs[] = {&c};

	(void)state;
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	cli_open(&c, ext, NULL, 0, false, 4096);
	assert_true(pump(cs, 1, cli_eof, &c, 5000));
	assert_int_equal(c.err, 0);
	assert_int_equal(c.rxlen, strlen("hi from the vm"));
	assert_memory_equal(c.rx, "hi from the vm", c.rxlen);
	assert_int_equal(expose_count(p), 1);

	/* The other direction is still open. */
	c.tx = (const uint8_t *)late;
	c.txlen = strlen(late);
	c.shut_after = true;
	assert_true(pump(cs, 1, srv_saw_eof, s, 5000));
	assert_int_equal(s->got, strlen(late));
	assert_string_equal(s->rx, late);
	assert_true(pump(cs, 1, no_conns, p, 5000));
	cli_close(&c);
}

/* Condition: the HOLD server received everything the client sent. */
static bool
hold_all(void *arg)
{
	struct cli *c = arg;

	return srvs[0]->got == c->txlen && srvs[0]->peer_eof > 0;
}

/*
 * Backpressure: a VM that reads nothing stops the client (the proxy does not
 * buffer without bound); once it reads, everything arrives intact.
 */
static void
test_backpressure(void **state)
{
	const size_t len = 128u << 20;
	struct srv *s = srv_start(SRV_HOLD, LOOP1, 0, NULL);
	uint16_t ext = free_port();
	struct port *p = attach_ok("02:00:00:00:00:01", ext, s->port);
	uint8_t *tx = malloc(len);
	struct cli c, *cs[] = {&c};
	size_t i, stalled;

	(void)state;
	assert_non_null(tx);
	for (i = 0; i < len; i++)
		tx[i] = pattern(i);
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	cli_open(&c, ext, tx, len, true, 16);
	c.paused = true;
	pump(cs, 1, NULL, NULL, 1500);
	stalled = c.txoff;
	pump(cs, 1, NULL, NULL, 500);
	/* Kernel socket buffers plus EXPOSE_HIGH_WATER, nowhere near len. */
	assert_int_equal(c.txoff, stalled);
	assert_true(stalled > 0);
	assert_true(stalled < 48u << 20);
	assert_int_equal(s->got, 0);

	srv_release(s);
	c.paused = false;
	assert_true(pump(cs, 1, hold_all, &c, 60000));
	assert_false(s->bad);
	assert_int_equal(s->got, len);
	cli_close(&c);
	free(tx);
}

/* A taken host port fails the attach, which leaves nothing behind. */
static void
test_port_in_use(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	uint16_t taken = free_port(), other = free_port();
	char list[64], msg[256], want[64];
	const char *code = NULL;
	struct lease l;
	uint8_t mac[6];
	int busy, fd;

	(void)state;
	busy = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = htons(taken);
	assert_int_equal(bind(busy, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(busy, 1), 0);

	/* The free port comes first: it must be closed again. */
	snprintf(list, sizeof(list), "%u:80,%u:81", other, taken);
	assert_null(attach("02:00:00:00:00:01", list, &code, msg, sizeof(msg)));
	assert_string_equal(code, SOFTNET_E_PORT_IN_USE);
	snprintf(want, sizeof(want),
	    "host TCP port 127.0.0.1:%u is already in use", taken);
	assert_string_equal(msg, want);
	assert_int_equal(port_count(&sd), 0);
	assert_int_equal(addr_parse_mac("02:00:00:00:00:01", mac), 0);
	assert_int_equal(leasedb_get(sd.db, mac, &l), 1);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = htons(other);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	close(fd);
	close(busy);

	/* Two VMs cannot expose the same port either. */
	attach_ok("02:00:00:00:00:02", taken, 80);
	snprintf(list, sizeof(list), "%u:22", taken);
	assert_null(attach("02:00:00:00:00:03", list, &code, msg, sizeof(msg)));
	assert_string_equal(code, SOFTNET_E_PORT_IN_USE);
	assert_int_equal(port_count(&sd), 1);
}

/* Condition: the client received 4 bytes. */
static bool
got_ping(void *arg)
{
	return ((struct cli *)arg)->rxlen >= 4;
}

/* Detach closes the listener and the live proxied connections. */
static void
test_detach(void **state)
{
	struct srv *s = srv_start(SRV_ECHO, LOOP1, 0, NULL);
	uint16_t ext = free_port();
	struct port *p = attach_ok("02:00:00:00:00:01", ext, s->port);
	struct cli c, *cs[] = {&c};

	(void)state;
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	cli_open(&c, ext, "ping", 4, false, 64);
	/* Established through to the VM: the echo came back. */
	assert_true(pump(cs, 1, got_ping, &c, 5000));
	assert_memory_equal(c.rx, "ping", 4);
	assert_int_equal(expose_count(p), 1);

	vm_detach(&sd, p);
	assert_int_equal(port_count(&sd), 0);
	assert_int_equal(connect_to(ext), -ECONNREFUSED);
	assert_true(pump(cs, 1, cli_eof, &c, 5000));
	cli_close(&c);
}

/* Without a lease a client is closed at once; the VM sees nothing. */
static void
test_no_lease(void **state)
{
	struct srv *s = srv_start(SRV_ECHO, LOOP1, 0, NULL);
	uint16_t ext = free_port();
	struct port *p = attach_ok("02:00:00:00:00:01", ext, s->port);
	struct cli c, *cs[] = {&c};

	(void)state;
	assert_int_equal(p->ip, 0);
	cli_open(&c, ext, "x", 1, false, 64);
	assert_true(pump(cs, 1, cli_eof, &c, 5000));
	assert_int_equal(c.rxlen, 0);
	assert_int_equal(s->accepted, 0);
	assert_int_equal(expose_count(p), 0);
	cli_close(&c);
}

/* Each connection goes to the lease the VM holds when it is accepted. */
static void
test_follows_lease(void **state)
{
	struct srv *a = srv_start(SRV_GREET, LOOP1, 0, "first address");
	struct srv *b = srv_start(SRV_GREET, LOOP2, a->port, "second address");
	uint16_t ext = free_port();
	struct port *p = attach_ok("02:00:00:00:00:01", ext, a->port);
	struct cli c, *cs[] = {&c};

	(void)state;
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	cli_open(&c, ext, NULL, 0, true, 64);
	assert_true(pump(cs, 1, cli_eof, &c, 5000));
	c.rx[c.rxlen] = '\0';
	assert_string_equal((char *)c.rx, "first address");
	cli_close(&c);

	port_set_lease(&sd, p, LOOP2, NOW + 600);
	cli_open(&c, ext, NULL, 0, true, 64);
	assert_true(pump(cs, 1, cli_eof, &c, 5000));
	c.rx[c.rxlen] = '\0';
	assert_string_equal((char *)c.rx, "second address");
	assert_int_equal(b->accepted, 1);
	cli_close(&c);
}

/* A VM port with nothing listening: the client is closed, nothing leaks. */
static void
test_vm_refuses(void **state)
{
	uint16_t ext = free_port(), in = free_port();
	struct port *p = attach_ok("02:00:00:00:00:01", ext, in);
	struct cli c, *cs[] = {&c};

	(void)state;
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	cli_open(&c, ext, "x", 1, false, 64);
	assert_true(pump(cs, 1, cli_eof, &c, 5000));
	assert_int_equal(c.rxlen, 0);
	assert_true(pump(cs, 1, no_conns, p, 5000));
	cli_close(&c);
}

/* Condition: the port holds EXPOSE_MAX_CONNS pairs. */
static bool
at_limit(void *arg)
{
	return expose_count(arg) == EXPOSE_MAX_CONNS;
}

/* Over EXPOSE_MAX_CONNS a new client is closed; the others keep working. */
static void
test_limit(void **state)
{
	struct srv *s = srv_start(SRV_ECHO, LOOP1, 0, NULL);
	uint16_t ext = free_port();
	struct port *p = attach_ok("02:00:00:00:00:01", ext, s->port);
	static struct cli cl[EXPOSE_MAX_CONNS + 1];
	static struct cli *cs[EXPOSE_MAX_CONNS + 1];
	struct cli *first[1];
	struct rlimit rl;
	size_t i;

	(void)state;
	/* Four descriptors per pair live in this one process. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048) {
		rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 1200) {
		skip();
		return;
	}
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	for (i = 0; i < EXPOSE_MAX_CONNS; i++) {
		cli_open(&cl[i], ext, NULL, 0, false, 16);
		cs[i] = &cl[i];
	}
	assert_true(pump(cs, EXPOSE_MAX_CONNS, at_limit, p, 10000));

	cli_open(&cl[i], ext, "over", 4, false, 16);
	cs[i] = &cl[i];
	assert_true(pump(&cs[i], 1, cli_eof, &cl[i], 5000));
	assert_int_equal(cl[i].rxlen, 0);
	assert_int_equal(expose_count(p), EXPOSE_MAX_CONNS);

	/* An existing pair still echoes. */
	cl[0].tx = (const uint8_t *)"still here";
	cl[0].txlen = 10;
	cl[0].shut_after = true;
	first[0] = &cl[0];
	assert_true(pump(first, 1, cli_eof, &cl[0], 5000));
	assert_int_equal(cl[0].rxlen, 10);
	assert_memory_equal(cl[0].rx, "still here", 10);
	for (i = 0; i <= EXPOSE_MAX_CONNS; i++)
		cli_close(&cl[i]);
}

/* The stand-in VM's UDP echo service: a bound socket pumped by hand. */
struct usrv {
	int fd;
	uint16_t port;
	size_t got;       /* datagrams echoed */
	uint16_t from[8]; /* distinct source ports seen */
	size_t nfrom;
};

/* A non-blocking UDP socket bound to addr:port (0: the kernel picks). */
static int
udp_bound(uint32_t addr, uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(addr);
	sin.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	evutil_make_socket_nonblocking(fd);
	if (bound != NULL)
		*bound = ntohs(sin.sin_port);
	return fd;
}

/* Echoes what the VM's service has received, noting each sender's port. */
static void
usrv_step(struct usrv *u)
{
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	uint8_t buf[2048];
	ssize_t n;
	size_t i;

	while ((n = recvfrom(u->fd, buf, sizeof(buf), 0,
	            (struct sockaddr *)&from, &len)) >= 0) {
		u->got++;
		for (i = 0; i < u->nfrom; i++)
			if (u->from[i] == ntohs(from.sin_port))
				break;
		if (i == u->nfrom && u->nfrom < 8)
			u->from[u->nfrom++] = ntohs(from.sin_port);
		sendto(u->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
		len = sizeof(from);
	}
}

/*
 * Runs the loop and the VM's services until client fd receives a
 * datagram (into buf, NUL-terminated; its source port in *src) or
 * timeout_ms pass; the length or -1.
 */
static ssize_t
udp_wait(int fd, struct usrv **us, size_t nus, char *buf, size_t cap,
    uint16_t *src, int timeout_ms)
{
	struct sockaddr_in from;
	socklen_t len;
	struct timespec t0, t;
	ssize_t n;
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		event_base_loop(sd.base, EVLOOP_NONBLOCK);
		for (i = 0; i < nus; i++)
			usrv_step(us[i]);
		len = sizeof(from);
		n = recvfrom(
		    fd, buf, cap - 1, 0, (struct sockaddr *)&from, &len);
		if (n >= 0) {
			buf[n] = '\0';
			if (src != NULL)
				*src = ntohs(from.sin_port);
			return n;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
		        (t.tv_nsec - t0.tv_nsec) / 1000000 >
		    timeout_ms)
			return -1;
		usleep(200);
	}
}

/* Sends msg from client fd to 127.0.0.1:ext and waits for its echo. */
static bool
udp_echo(int fd, uint16_t ext, struct usrv *u, const char *msg)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	struct usrv *us[] = {u};
	char buf[256];
	uint16_t src = 0;

	to.sin_addr.s_addr = htonl(LOOP1);
	to.sin_port = htons(ext);
	assert_int_equal(
	    sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&to, sizeof(to)),
	    (ssize_t)strlen(msg));
	if (udp_wait(fd, us, u != NULL ? 1 : 0, buf, sizeof(buf), &src, 2000) <
	    0)
		return false;
	/* The reply comes from the port the client sent to. */
	assert_int_equal(src, ext);
	assert_string_equal(buf, msg);
	return true;
}

/* Attaches exposing udp:ext:in and expects success. */
static struct port *
attach_udp(const char *mac, uint16_t ext, uint16_t in)
{
	char list[32], msg[256];
	const char *code = NULL;
	struct port *p;

	snprintf(list, sizeof(list), "udp:%u:%u", ext, in);
	if ((p = attach(mac, list, &code, msg, sizeof(msg))) == NULL)
		fail_msg("attach %s: %s: %s", list, code, msg);
	return p;
}

/* A started VM echo service on addr (port picked, or port). */
static void
usrv_start(struct usrv *u, uint32_t addr, uint16_t port)
{
	memset(u, 0, sizeof(*u));
	u->fd = udp_bound(addr, port, &u->port);
	assert_true(u->fd >= 0);
}

/* A free UDP port, as the kernel picks one. */
static uint16_t
free_udp_port(void)
{
	uint16_t port;
	int fd = udp_bound(LOOP1, 0, &port);

	close(fd);
	return port;
}

/*
 * A UDP port held by the test whose TCP port of the same number is free:
 * the machine's other sockets may hold the TCP one (then another number).
 */
static int
udp_held_tcp_free(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd, t, i, ok;

	for (i = 0; i < 100; i++) {
		fd = udp_bound(LOOP1, 0, port);
		t = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd >= 0 && t >= 0);
		sin.sin_addr.s_addr = htonl(LOOP1);
		sin.sin_port = htons(*port);
		ok = bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(t);
		if (ok)
			return fd;
		close(fd);
	}
	fail_msg("no port number free for both TCP and UDP");
	return -1;
}

/* Datagrams echo; replies come from EXT; the filter hook names the pair. */
static void
test_udp_echo(void **state)
{
	struct usrv u;
	uint16_t ext = free_udp_port();
	struct port *p;
	int c = udp_bound(LOOP1, 0, NULL);

	(void)state;
	usrv_start(&u, LOOP1, 0);
	p = attach_udp("02:00:00:00:00:01", ext, u.port);
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	assert_true(udp_echo(c, ext, &u, "one"));
	assert_true(udp_echo(c, ext, &u, "two"));
	assert_int_equal(expose_udp_count(p), 1);
	assert_int_equal(expose_count(p), 0);
	assert_int_equal(u.nfrom, 1);
	/* Exactly (VM port, mapping's port), and only for UDP. */
	assert_true(expose_proxied(p, PKT_IPPROTO_UDP, u.port, u.from[0]));
	assert_false(expose_proxied(p, PKT_IPPROTO_TCP, u.port, u.from[0]));
	assert_false(expose_proxied(p, PKT_IPPROTO_UDP, u.port + 1, u.from[0]));
	assert_false(expose_proxied(p, PKT_IPPROTO_UDP, u.port, ext));
	close(c);
	close(u.fd);
}

/* Two clients: a mapping each, each gets its own replies. */
static void
test_udp_two_clients(void **state)
{
	struct usrv u, *us[] = {&u};
	struct sockaddr_in to = {.sin_family = AF_INET};
	uint16_t ext = free_udp_port();
	struct port *p;
	int a = udp_bound(LOOP1, 0, NULL), b = udp_bound(LOOP1, 0, NULL);
	char buf[64];
	int i;

	(void)state;
	usrv_start(&u, LOOP1, 0);
	p = attach_udp("02:00:00:00:00:01", ext, u.port);
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	to.sin_addr.s_addr = htonl(LOOP1);
	to.sin_port = htons(ext);
	/* Interleaved: each reply must find its own client. */
	for (i = 0; i < 3; i++) {
		sendto(a, "from a", 6, 0, (struct sockaddr *)&to, sizeof(to));
		sendto(b, "from b", 6, 0, (struct sockaddr *)&to, sizeof(to));
		assert_int_equal(
		    udp_wait(a, us, 1, buf, sizeof(buf), NULL, 2000), 6);
		assert_string_equal(buf, "from a");
		assert_int_equal(
		    udp_wait(b, us, 1, buf, sizeof(buf), NULL, 2000), 6);
		assert_string_equal(buf, "from b");
	}
	assert_int_equal(expose_udp_count(p), 2);
	assert_int_equal(u.nfrom, 2);
	assert_int_equal(u.got, 6);
	/* Nothing extra arrived at either client. */
	assert_int_equal(udp_wait(a, us, 1, buf, sizeof(buf), NULL, 100), -1);
	assert_int_equal(udp_wait(b, us, 1, buf, sizeof(buf), NULL, 100), -1);
	close(a);
	close(b);
	close(u.fd);
}

/* Condition: the port has no UDP mapping left. */
static bool
no_maps(void *arg)
{
	return expose_udp_count(arg) == 0;
}

/* An idle mapping expires; the client's next datagram opens a new one. */
static void
test_udp_idle(void **state)
{
	struct usrv u;
	uint16_t ext = free_udp_port();
	struct port *p;
	int c = udp_bound(LOOP1, 0, NULL);
	struct timespec t0, t;

	(void)state;
	sd.cfg.expose_udp_idle = 1;
	usrv_start(&u, LOOP1, 0);
	p = attach_udp("02:00:00:00:00:01", ext, u.port);
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	assert_true(udp_echo(c, ext, &u, "one"));
	assert_int_equal(expose_udp_count(p), 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_true(pump(NULL, 0, no_maps, p, 5000));
	clock_gettime(CLOCK_MONOTONIC, &t);
	/* Not before its second of idleness (timer slack aside). */
	assert_true((t.tv_sec - t0.tv_sec) * 1000 +
	                (t.tv_nsec - t0.tv_nsec) / 1000000 >=
	            800);
	assert_int_equal(sd.fdb.expose, 1); /* the listener alone */
	assert_true(udp_echo(c, ext, &u, "again"));
	assert_int_equal(expose_udp_count(p), 1);
	assert_int_equal(u.nfrom, 2); /* a new mapping, a new port */
	close(c);
	close(u.fd);
}

/* Without a lease datagrams are dropped and no mapping is made. */
static void
test_udp_no_lease(void **state)
{
	struct usrv u;
	uint16_t ext = free_udp_port();
	struct port *p;
	int c = udp_bound(LOOP1, 0, NULL);

	(void)state;
	usrv_start(&u, LOOP1, 0);
	p = attach_udp("02:00:00:00:00:01", ext, u.port);
	assert_false(udp_echo(c, ext, &u, "x"));
	assert_int_equal(u.got, 0);
	assert_int_equal(expose_udp_count(p), 0);
	close(c);
	close(u.fd);
}

/* Past max_proxied_per_vm a new client gets nothing; the others work. */
static void
test_udp_limit(void **state)
{
	struct usrv u;
	uint16_t ext = free_udp_port();
	struct port *p;
	int c[3];
	int i;

	(void)state;
	sd.cfg.max_proxied_per_vm = 2;
	usrv_start(&u, LOOP1, 0);
	p = attach_udp("02:00:00:00:00:01", ext, u.port);
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	for (i = 0; i < 3; i++)
		c[i] = udp_bound(LOOP1, 0, NULL);
	assert_true(udp_echo(c[0], ext, &u, "zero"));
	assert_true(udp_echo(c[1], ext, &u, "one"));
	assert_false(udp_echo(c[2], ext, &u, "two"));
	assert_int_equal(expose_udp_count(p), 2);
	assert_int_equal(u.got, 2);
	assert_true(udp_echo(c[0], ext, &u, "still"));
	for (i = 0; i < 3; i++)
		close(c[i]);
	close(u.fd);
}

/* A taken UDP port fails the attach; TCP on the same number is separate. */
static void
test_udp_port_in_use(void **state)
{
	uint16_t taken;
	int busy = udp_held_tcp_free(&taken);
	char list[64], msg[256], want[80];
	const char *code = NULL;

	(void)state;
	snprintf(list, sizeof(list), "udp:%u:53", taken);
	assert_null(attach("02:00:00:00:00:01", list, &code, msg, sizeof(msg)));
	assert_string_equal(code, SOFTNET_E_PORT_IN_USE);
	snprintf(want, sizeof(want),
	    "host UDP port 127.0.0.1:%u is already in use", taken);
	assert_string_equal(msg, want);
	assert_int_equal(port_count(&sd), 0);
	close(busy);
	/* TCP and UDP of one number, one VM; then a second VM's UDP fails. */
	snprintf(list, sizeof(list), "%u:53,udp:%u:53", taken, taken);
	assert_non_null(
	    attach("02:00:00:00:00:02", list, &code, msg, sizeof(msg)));
	snprintf(list, sizeof(list), "udp:%u:54", taken);
	assert_null(attach("02:00:00:00:00:03", list, &code, msg, sizeof(msg)));
	assert_string_equal(code, SOFTNET_E_PORT_IN_USE);
	assert_int_equal(port_count(&sd), 1);
}

/* A new client after the lease moved reaches the new address. */
static void
test_udp_follows_lease(void **state)
{
	struct usrv a, b;
	uint16_t ext = free_udp_port();
	struct port *p;
	int c = udp_bound(LOOP1, 0, NULL);

	(void)state;
	usrv_start(&a, LOOP1, 0);
	usrv_start(&b, LOOP2, a.port);
	p = attach_udp("02:00:00:00:00:01", ext, a.port);
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	assert_true(udp_echo(c, ext, &a, "first"));
	port_set_lease(&sd, p, LOOP2, NOW + 600);
	/* The same client: its mapping is reopened toward the new lease. */
	assert_true(udp_echo(c, ext, &b, "second"));
	assert_int_equal(a.got, 1);
	assert_int_equal(b.got, 1);
	assert_int_equal(expose_udp_count(p), 1);
	close(c);
	close(a.fd);
	close(b.fd);
}

/* Detach closes the UDP socket and every mapping. */
static void
test_udp_detach(void **state)
{
	struct usrv u;
	uint16_t ext = free_udp_port();
	struct port *p;
	int c = udp_bound(LOOP1, 0, NULL), again;

	(void)state;
	usrv_start(&u, LOOP1, 0);
	p = attach_udp("02:00:00:00:00:01", ext, u.port);
	port_set_lease(&sd, p, LOOP1, NOW + 600);
	assert_true(udp_echo(c, ext, &u, "one"));
	assert_int_equal(sd.fdb.expose, 2);
	vm_detach(&sd, p);
	assert_int_equal(sd.fdb.expose, 0);
	again = udp_bound(LOOP1, ext, NULL);
	assert_true(again >= 0);
	close(again);
	close(c);
	close(u.fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_detach, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_follows_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_vm_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_udp_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_udp_two_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_udp_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_udp_no_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_udp_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_udp_port_in_use, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_udp_follows_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_udp_detach, setup, teardown),
	};

	clock_set_hook(test_now, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
