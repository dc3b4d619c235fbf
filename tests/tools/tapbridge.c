/*
 * tapbridge: stands in for a VM in the end-to-end tests. It opens the TAP
 * device named on the command line (in the caller's network namespace) and
 * relays frames between it and the SOCK_DGRAM socket on fd 3, one frame per
 * datagram, exactly what a Tart or QEMU VM does with its descriptor. It
 * exits when the socket's peer goes away or on SIGTERM.
 *
 * usage: tapbridge IFNAME [FD]   (FD, default 3: the VM end of the pair)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "osdep.h"

int
main(int argc, char **argv)
{
	static unsigned char buf[65536];
	struct pollfd pfd[2];
	ssize_t n;
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
		if (pfd[0].revents & POLLIN) {
			n = read(tap, buf, sizeof(buf));
			if (n > 0 && send(sock, buf, (size_t)n, 0) == -1 &&
			    errno != ENOBUFS && errno != EAGAIN)
				return 0;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(sock, buf, sizeof(buf), 0);
			if (n <= 0)
				return 0;
			(void)!write(tap, buf, (size_t)n);
		}
	}
}
