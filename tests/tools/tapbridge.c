/*
 * tapbridge: stands in for a VM in the end-to-end tests and benchmarks. It
 * opens the TAP device named on the command line (in the caller's network
 * namespace) and relays frames between it and a SOCK_DGRAM socket, one
 * frame per datagram, exactly what a Tart or QEMU VM does with its
 * descriptor. Each wakeup drains both sides (up to a batch), sending to the
 * socket with sendmmsg, so the stand-in is not what a benchmark measures.
 * It exits when the socket's peer goes away or on SIGTERM.
 *
 * usage: tapbridge IFNAME [FD]   (FD, default 3: the VM end of the pair)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "osdep.h"

#define BATCH 32

static unsigned char bufs[BATCH][65536];

/* Moves what the TAP has to the socket; -1 when the peer is gone. */
static int
tap_to_sock(int tap, int sock)
{
	uint8_t *frames[BATCH];
	size_t lens[BATCH];
	ssize_t n;
	int i, k;

	for (i = 0; i < BATCH; i++) {
		if ((n = read(tap, bufs[i], sizeof(bufs[i]))) <= 0)
			break;
		frames[i] = bufs[i];
		lens[i] = (size_t)n;
	}
	for (k = 0; k < i;) {
		n = osdep_send_batch(sock, frames + k, lens + k, i - k);
		if (n == -1 && errno == EAGAIN) {
			struct pollfd p = {.fd = sock, .events = POLLOUT};

			(void)poll(&p, 1, 100);
			continue;
		}
		if (n == -1)
			return errno == ENOBUFS ? 0 : -1;
		k += (int)n;
	}
	return 0;
}

/* Moves what the socket has to the TAP; -1 when the peer is gone. */
static int
sock_to_tap(int tap, int sock)
{
	ssize_t n;
	int i;

	for (i = 0; i < BATCH; i++) {
		n = recv(sock, bufs[0], sizeof(bufs[0]), MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		(void)!write(tap, bufs[0], (size_t)n);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct pollfd pfd[2];
	int tap, sock = 3;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: tapbridge IFNAME [FD]\n");
		return 2;
	}
	if (argc == 3)
		sock = atoi(argv[2]);
	if ((tap = osdep_tap_open(argv[1])) == -1) {
		fprintf(
		    stderr, "tapbridge: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	(void)fcntl(tap, F_SETFL, O_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	pfd[0].fd = tap;
	pfd[1].fd = sock;
	pfd[0].events = pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if ((pfd[0].revents & POLLIN) && tap_to_sock(tap, sock) == -1)
			return 0;
		if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    sock_to_tap(tap, sock) == -1)
			return 0;
	}
}
