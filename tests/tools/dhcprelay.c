/*
 * dhcprelay: the relay shim that lets Kea's perfdhcp measure softnetd's
 * DHCP server (make bench). softnetd answers a chaddr only on the port
 * whose MAC it is, and perfdhcp simulates thousands of clients from one
 * UDP socket; so perfdhcp runs as a relay agent (a unicast server address:
 * it sends from its address, port 67, with giaddr set to it) to this shim,
 * which owns one attached VM port per simulated client:
 *
 *   perfdhcp -> UDP ADDR:67 -> shim: chaddr picks the port, giaddr and
 *   hops are cleared (a VM's client never sets them, and softnetd refuses
 *   a relayed message on a VM port), the BOOTP message goes out as the
 *   broadcast frame a VM's client sends (chaddr, 0.0.0.0:68 ->
 *   255.255.255.255:67);
 *
 *   port -> shim: the reply frame's BOOTP message gets back the giaddr and
 *   hops of the last request of that port and goes to the address that
 *   request came from, as a relay agent returns it.
 *
 * Port i carries MAC BASE + i, the address perfdhcp -R N -b mac=BASE gives
 * its client i (it adds the random client number to BASE octet by octet
 * from the last one), so BASE must end in two zero octets and N <= 65536.
 * A chaddr that is not one of the N is counted (unknown_mac) and dropped.
 *
 * The ports are descriptors FD .. FD+N-1 inherited from the caller (it
 * attached them to softnetd), or with -e socket pairs of the shim's own
 * whose other ends a trivial responder (a child process) answers: OFFER
 * for DISCOVER, ACK for REQUEST, no lease state. -e measures perfdhcp and
 * the shim alone, the ceiling the shim puts on the softnetd figure.
 *
 * Prints "ready" once it listens; on SIGTERM or SIGINT prints its counters
 * as "name value" lines and exits 0, or 1 with a message when it relayed
 * no ACK: perfdhcp got no lease, and no rate may be printed from that run.
 *
 * usage: dhcprelay [-e] [-f FD] -a ADDR -m BASE -n N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkt.h"

#define BOOTP_MIN    240 /* fixed header and the magic cookie */
#define BOOTP_OP     0
#define BOOTP_HTYPE  1
#define BOOTP_HLEN   2
#define BOOTP_HOPS   3
#define BOOTP_YIADDR 16
#define BOOTP_GIADDR 24
#define BOOTP_CHADDR 28
#define BOOTP_COOKIE 236
#define DHCP_COOKIE  0x63825363u
#define OPT_PAD      0
#define OPT_END      255
#define OPT_MSGTYPE  53
#define MAX_PORTS    65536
#define FRAME_CAP    2048
#define BATCH        64
/* The -e responder's addresses: any subnet will do, perfdhcp only echoes
 * the server id back. */
#define RESP_SERVER 0x0a640001u /* 10.100.0.1 */
#define RESP_POOL   0x0a64000au /* 10.100.0.10 */
#define RESP_LEASE  600

struct port {
	int fd;
	struct event *ev;
	uint8_t giaddr[4]; /* of the last request relayed into this port */
	uint8_t hops;
	struct sockaddr_in from;
	int have_from;
};

static struct {
	unsigned long requests, replies, offers, acks, naks, unknown_mac, bad,
	    send_drops;
} st;

static struct port *ports;
static unsigned nports;
static uint8_t base_mac[PKT_ETH_ALEN];
static int udp_fd = -1;
static pid_t responder = -1;
static const uint8_t bcast[PKT_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t resp_mac[PKT_ETH_ALEN] = {0x02, 0, 0, 0, 0, 0x01};

/* Prints usage and exits 2. */
static void
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "dhcprelay: %s\n", why);
	fprintf(stderr, "usage: dhcprelay [-e] [-f FD] -a ADDR -m BASE -n N\n");
	exit(2);
}

/* Makes fd non-blocking or exits: a blocked shim would stall the run. */
static void
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		perror("dhcprelay: fcntl");
		exit(1);
	}
}

/* The DHCP message type (option 53) of a BOOTP message, 0 when absent;
 * the option walk never reads past len. */
static int
msg_type(const uint8_t *b, size_t len)
{
	size_t i = BOOTP_MIN;

	while (i < len && b[i] != OPT_END) {
		if (b[i] == OPT_PAD) {
			i++;
			continue;
		}
		if (i + 2 > len || i + 2 + b[i + 1] > len)
			return 0;
		if (b[i] == OPT_MSGTYPE && b[i + 1] == 1)
			return b[i + 2];
		i += 2 + (size_t)b[i + 1];
	}
	return 0;
}

/* Whether b is a BOOTP message of op with an Ethernet chaddr and the
 * DHCP cookie. */
static int
bootp_ok(const uint8_t *b, size_t len, uint8_t op)
{
	return len >= BOOTP_MIN && b[BOOTP_OP] == op && b[BOOTP_HTYPE] == 1 &&
	       b[BOOTP_HLEN] == PKT_ETH_ALEN &&
	       pkt_get_be32(b + BOOTP_COOKIE) == DHCP_COOKIE;
}

/* The port index of a chaddr, or -1 when it is not BASE + i, i < N. */
static long
port_of(const uint8_t *chaddr)
{
	unsigned i;

	if (memcmp(chaddr, base_mac, 4) != 0)
		return -1;
	i = (unsigned)chaddr[4] << 8 | chaddr[5];
	return i < nports ? (long)i : -1;
}

/* Relays perfdhcp's requests into the ports, a batch at a time. */
static void
udp_readable(evutil_socket_t fd, short what, void *arg)
{
	uint8_t frame[FRAME_CAP];
	uint8_t *b = frame + PKT_UDP4_HLEN;
	struct pkt_udp4_addr a;
	struct sockaddr_in from;
	socklen_t fl;
	struct port *p;
	ssize_t n;
	size_t len;
	long i;
	int k;

	(void)what;
	(void)arg;
	for (k = 0; k < BATCH; k++) {
		fl = sizeof(from);
		n = recvfrom(fd, b, FRAME_CAP - PKT_UDP4_HLEN, 0,
		    (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		if (!bootp_ok(b, (size_t)n, 1)) {
			st.bad++;
			continue;
		}
		if ((i = port_of(b + BOOTP_CHADDR)) < 0) {
			st.unknown_mac++;
			continue;
		}
		p = &ports[i];
		memcpy(p->giaddr, b + BOOTP_GIADDR, 4);
		p->hops = b[BOOTP_HOPS];
		p->from = from;
		p->have_from = 1;
		memset(b + BOOTP_GIADDR, 0, 4);
		b[BOOTP_HOPS] = 0;
		memset(&a, 0, sizeof(a));
		memcpy(a.src_mac, b + BOOTP_CHADDR, PKT_ETH_ALEN);
		memcpy(a.dst_mac, bcast, PKT_ETH_ALEN);
		a.dst_ip = 0xffffffffu;
		a.sport = 68;
		a.dport = 67;
		len = pkt_build_udp4(frame, sizeof(frame), &a, (size_t)n);
		if (len == 0 || send(p->fd, frame, len, 0) < 0) {
			st.send_drops++;
			continue;
		}
		st.requests++;
	}
}

/* Relays a port's replies back to perfdhcp as a relay agent would. */
static void
port_readable(evutil_socket_t fd, short what, void *arg)
{
	struct port *p = arg;
	uint8_t frame[FRAME_CAP], out[FRAME_CAP];
	struct pkt_info pi;
	size_t len;
	ssize_t n;
	int k, t;

	(void)what;
	for (k = 0; k < BATCH; k++) {
		n = recv(fd, frame, sizeof(frame), 0);
		if (n < 0)
			return;
		if (pkt_parse(frame, (size_t)n, &pi) == -1 ||
		    pi.udp_payload == NULL || pi.dport != 68 ||
		    !bootp_ok(pi.udp_payload, pi.udp_payload_len, 2)) {
			/* Nothing else reaches a port that sends no ARP. */
			st.bad++;
			continue;
		}
		len = pi.udp_payload_len;
		memcpy(out, pi.udp_payload, len);
		memcpy(out + BOOTP_GIADDR, p->giaddr, 4);
		out[BOOTP_HOPS] = p->hops;
		if (!p->have_from ||
		    sendto(udp_fd, out, len, 0, (struct sockaddr *)&p->from,
		        sizeof(p->from)) < 0) {
			st.send_drops++;
			continue;
		}
		st.replies++;
		t = msg_type(out, len);
		if (t == 2)
			st.offers++;
		else if (t == 5)
			st.acks++;
		else if (t == 6)
			st.naks++;
	}
}

/* The -e responder: answers the frame on port i without any lease state. */
static void
respond(int fd, unsigned i, const uint8_t *frame, size_t n)
{
	uint8_t out[FRAME_CAP];
	uint8_t *b = out + PKT_UDP4_HLEN;
	struct pkt_udp4_addr a;
	struct pkt_info pi;
	size_t len;
	int t;

	if (pkt_parse(frame, n, &pi) == -1 || pi.udp_payload == NULL ||
	    pi.dport != 67 || !bootp_ok(pi.udp_payload, pi.udp_payload_len, 1))
		return;
	t = msg_type(pi.udp_payload, pi.udp_payload_len);
	if (t != 1 && t != 3)
		return;
	memcpy(b, pi.udp_payload, BOOTP_MIN);
	b[BOOTP_OP] = 2;
	b[BOOTP_HOPS] = 0;
	memset(b + 12, 0, 16); /* ciaddr, yiaddr, siaddr, giaddr */
	b[BOOTP_YIADDR] = (uint8_t)((RESP_POOL + i) >> 24);
	b[BOOTP_YIADDR + 1] = (uint8_t)((RESP_POOL + i) >> 16);
	b[BOOTP_YIADDR + 2] = (uint8_t)((RESP_POOL + i) >> 8);
	b[BOOTP_YIADDR + 3] = (uint8_t)(RESP_POOL + i);
	len = BOOTP_MIN;
	b[len++] = OPT_MSGTYPE;
	b[len++] = 1;
	b[len++] = t == 1 ? 2 : 5;
	b[len++] = 54;
	b[len++] = 4;
	b[len++] = (uint8_t)(RESP_SERVER >> 24);
	b[len++] = (uint8_t)(RESP_SERVER >> 16);
	b[len++] = (uint8_t)(RESP_SERVER >> 8);
	b[len++] = (uint8_t)RESP_SERVER;
	b[len++] = 51;
	b[len++] = 4;
	b[len++] = 0;
	b[len++] = 0;
	b[len++] = (uint8_t)(RESP_LEASE >> 8);
	b[len++] = (uint8_t)RESP_LEASE;
	b[len++] = 1;
	b[len++] = 4;
	b[len++] = 255;
	b[len++] = 255;
	b[len++] = 248;
	b[len++] = 0;
	b[len++] = OPT_END;
	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, resp_mac, PKT_ETH_ALEN);
	memcpy(a.dst_mac, pi.udp_payload + BOOTP_CHADDR, PKT_ETH_ALEN);
	a.src_ip = RESP_SERVER;
	a.dst_ip = 0xffffffffu;
	a.sport = 67;
	a.dport = 68;
	len = pkt_build_udp4(out, sizeof(out), &a, len);
	if (len != 0)
		(void)send(fd, out, len, 0);
}

/* The -e responder's read handler; arg is the port index. */
static void
responder_readable(evutil_socket_t fd, short what, void *arg)
{
	uint8_t frame[FRAME_CAP];
	ssize_t n;
	int k;

	(void)what;
	for (k = 0; k < BATCH; k++) {
		n = recv(fd, frame, sizeof(frame), 0);
		if (n < 0)
			return;
		respond(fd, (unsigned)(uintptr_t)arg, frame, (size_t)n);
	}
}

/* Forks the -e responder over the other ends of the shim's socket pairs;
 * returns the fds the shim keeps. */
static void
start_responder(void)
{
	int(*sp)[2] = calloc(nports, sizeof(*sp));
	struct event_base *base;
	struct event *ev;
	unsigned i;

	if (sp == NULL) {
		perror("dhcprelay: calloc");
		exit(1);
	}
	for (i = 0; i < nports; i++) {
		if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sp[i]) == -1) {
			perror("dhcprelay: socketpair");
			exit(1);
		}
		nonblock(sp[i][0]);
		nonblock(sp[i][1]);
	}
	if ((responder = fork()) == -1) {
		perror("dhcprelay: fork");
		exit(1);
	}
	if (responder == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		if ((base = event_base_new()) == NULL)
			_exit(1);
		for (i = 0; i < nports; i++) {
			close(sp[i][0]);
			ev = event_new(base, sp[i][1], EV_READ | EV_PERSIST,
			    responder_readable, (void *)(uintptr_t)i);
			if (ev == NULL || event_add(ev, NULL) == -1) {
				fprintf(stderr, "dhcprelay: responder event\n");
				_exit(1);
			}
		}
		event_base_dispatch(base);
		_exit(0);
	}
	for (i = 0; i < nports; i++) {
		close(sp[i][1]);
		ports[i].fd = sp[i][0];
	}
	free(sp);
}

/* Parses a MAC address or exits with usage. */
static void
parse_mac(const char *s, uint8_t mac[PKT_ETH_ALEN])
{
	unsigned v[PKT_ETH_ALEN];
	char tail;
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
	        &v[5], &tail) != PKT_ETH_ALEN)
		usage("-m: expected a MAC address aa:bb:cc:dd:ee:ff");
	for (i = 0; i < PKT_ETH_ALEN; i++) {
		if (v[i] > 255)
			usage("-m: octet out of range");
		mac[i] = (uint8_t)v[i];
	}
	if (mac[4] != 0 || mac[5] != 0)
		usage("-m: the base MAC must end in :00:00");
}

/* Parses a number in [min, max] or exits with usage. */
static long
number(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max) {
		fprintf(stderr,
		    "dhcprelay: %s: expected %ld..%ld, got \"%s\"\n", what, min,
		    max, s);
		exit(2);
	}
	return v;
}

/* Ends the loop on SIGTERM/SIGINT. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct event_base *base;
	struct event *ev, *sterm, *sint;
	const char *addr = NULL;
	long first_fd = 3;
	int echo = 0, c, one = 1;
	unsigned i;

	nports = 0;
	while ((c = getopt(argc, argv, "a:ef:m:n:")) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'e':
			echo = 1;
			break;
		case 'f':
			first_fd = number(optarg, 3, 1 << 20, "-f");
			break;
		case 'm':
			parse_mac(optarg, base_mac);
			break;
		case 'n':
			nports = (unsigned)number(optarg, 1, MAX_PORTS, "-n");
			break;
		default:
			usage(NULL);
		}
	}
	if (optind != argc || addr == NULL || nports == 0)
		usage("-a and -n are required");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(67);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		usage("-a: expected an IPv4 address");
	if ((ports = calloc(nports, sizeof(*ports))) == NULL) {
		perror("dhcprelay: calloc");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (echo) {
		start_responder();
	} else {
		for (i = 0; i < nports; i++) {
			ports[i].fd = (int)first_fd + (int)i;
			if (fcntl(ports[i].fd, F_GETFD) == -1) {
				fprintf(stderr,
				    "dhcprelay: fd %d (port %u) is not open\n",
				    ports[i].fd, i);
				return 1;
			}
			nonblock(ports[i].fd);
		}
	}
	if ((udp_fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    setsockopt(udp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
	        -1 ||
	    bind(udp_fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		perror("dhcprelay: UDP socket on port 67");
		return 1;
	}
	nonblock(udp_fd);
	if ((base = event_base_new()) == NULL) {
		fprintf(stderr, "dhcprelay: event_base_new failed\n");
		return 1;
	}
	for (i = 0; i < nports; i++) {
		ports[i].ev = event_new(base, ports[i].fd, EV_READ | EV_PERSIST,
		    port_readable, &ports[i]);
		if (ports[i].ev == NULL || event_add(ports[i].ev, NULL) == -1) {
			fprintf(stderr, "dhcprelay: event for port %u\n", i);
			return 1;
		}
	}
	ev = event_new(base, udp_fd, EV_READ | EV_PERSIST, udp_readable, NULL);
	sterm = evsignal_new(base, SIGTERM, on_signal, base);
	sint = evsignal_new(base, SIGINT, on_signal, base);
	if (ev == NULL || sterm == NULL || sint == NULL ||
	    event_add(ev, NULL) == -1 || event_add(sterm, NULL) == -1 ||
	    event_add(sint, NULL) == -1) {
		fprintf(stderr, "dhcprelay: events\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	event_base_dispatch(base);
	if (responder > 0) {
		kill(responder, SIGTERM);
		waitpid(responder, NULL, 0);
	}
	printf("requests %lu\nreplies %lu\noffers %lu\nacks %lu\nnaks %lu\n"
	       "unknown_mac %lu\nbad %lu\nsend_drops %lu\n",
	    st.requests, st.replies, st.offers, st.acks, st.naks,
	    st.unknown_mac, st.bad, st.send_drops);
	fflush(stdout);
	if (st.acks == 0) {
		fprintf(stderr,
		    "dhcprelay: no ACK relayed (%lu requests, %lu unknown "
		    "MACs): perfdhcp got no lease\n",
		    st.requests, st.unknown_mac);
		return 1;
	}
	return 0;
}
