/*
 * tapbridge: stands in for a VM in the end-to-end tests and benchmarks. It
 * opens the TAP device named on the command line (in the caller's network
 * namespace) and relays frames between it and a SOCK_DGRAM socket, one
 * frame per datagram, exactly what a Tart or QEMU VM does with its
 * descriptor. It is built so that the stand-in is not what a benchmark
 * measures:
 *
 *   guest -> socket: the TAP has a virtio-net header with checksum and
 *   TSO offloads, so the guest kernel hands over 64 KiB superframes, which
 *   are cut here into 1500-byte segments (gso_segment) as a VM's NIC
 *   segments what its guest's TCP stack hands it; the datagram socket
 *   carries only finished frames. Each superframe's segments, and up to a
 *   batch of plain frames, go out with one sendmmsg.
 *
 *   socket -> guest: a batch is read with one recvmmsg, and consecutive
 *   segments of one TCP flow are merged (gso_coalesce) into a superframe
 *   written with one writev, as a real guest's NIC driver merges them with
 *   GRO before its TCP stack sees them.
 *
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
#include <sys/uio.h>
#include <unistd.h>

#include "gso.h"
#include "osdep.h"
#include "pkt.h"
#include "uplink.h"

#define BATCH   64
#define FRAME   2048 /* a datagram: one plain frame */
#define SUPER   65536
#define MAXSEGS 128
#define VNETLEN sizeof(struct pkt_vnet)

static uint8_t bufs[BATCH][FRAME];
static uint8_t agg[SUPER];   /* merged toward the guest */
static uint8_t super[SUPER]; /* read from the guest */
static uint8_t segmem[MAXSEGS * 1600];
static uint8_t *segs[MAXSEGS];
static size_t seglens[MAXSEGS];

/* Sends n frames to the socket, waiting while it is full; -1: peer gone. */
static int
send_all(int sock, uint8_t *const *frames, const size_t *lens, int n)
{
	ssize_t r;
	int k;

	for (k = 0; k < n;) {
		r = osdep_send_batch(sock, frames + k, lens + k, n - k);
		if (r == -1 && errno == EAGAIN) {
			struct pollfd p = {.fd = sock, .events = POLLOUT};

			(void)poll(&p, 1, 100);
			continue;
		}
		if (r == -1)
			return errno == ENOBUFS ? 0 : -1;
		k += (int)r;
	}
	return 0;
}

/*
 * Moves what the TAP has to the socket; -1 when the peer is gone. Plain
 * frames are gathered into one sendmmsg; a superframe is cut into
 * segments (gso_segment), sent with one sendmmsg of their own.
 */
static int
tap_to_sock(int tap, int sock)
{
	struct gso_out out = {segmem, sizeof(segmem), segs, seglens, MAXSEGS};
	struct pkt_vnet hdr;
	struct pkt_info pi;
	struct iovec iov[2] = {{&hdr, VNETLEN}, {super, sizeof(super)}};
	uint8_t *frames[BATCH];
	size_t lens[BATCH], len;
	ssize_t n;
	int i, k = 0, nseg;

	for (i = 0; i < BATCH; i++) {
		if ((n = readv(tap, iov, 2)) <= 0)
			break;
		if ((size_t)n <= VNETLEN)
			continue;
		len = (size_t)n - VNETLEN;
		if (hdr.gso_type == PKT_VNET_GSO_NONE) {
			if (len > FRAME || gso_complete_csum(super, len, &hdr))
				continue;
			memcpy(bufs[k], super, len);
			frames[k] = bufs[k];
			lens[k++] = len;
			continue;
		}
		if (pkt_parse(super, len, &pi) == -1 ||
		    !gso_validate(&hdr, &pi) ||
		    (nseg = gso_segment(super, len, &hdr, &out)) == -1)
			continue;
		if (send_all(sock, frames, lens, k) == -1 ||
		    send_all(sock, segs, seglens, nseg) == -1)
			return -1;
		k = 0;
	}
	return send_all(sock, frames, lens, k);
}

/* Writes the merged frame (if any) to the guest. */
static void
flush(int tap, size_t *len, struct pkt_vnet *hdr)
{
	struct iovec iov[2] = {{hdr, VNETLEN}, {agg, *len}};

	if (*len > 0)
		(void)!writev(tap, iov, 2);
	*len = 0;
}

/* Moves what the socket has to the TAP; -1 when the peer is gone. */
static int
sock_to_tap(int tap, int sock)
{
	static const struct pkt_vnet plain;
	struct frame f[BATCH];
	struct pkt_vnet hdr = plain;
	size_t len = 0;
	int i, n;

	for (i = 0; i < BATCH; i++) {
		f[i].data = bufs[i];
		f[i].cap = FRAME;
	}
	if ((n = osdep_recv_batch(sock, f, BATCH)) == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++) {
		if (f[i].len == 0)
			continue; /* empty, or truncated: not a frame */
		if (len > 0 && gso_coalesce(agg, &len, sizeof(agg), &hdr,
		                   f[i].data, f[i].len))
			continue;
		flush(tap, &len, &hdr);
		hdr = plain;
		memcpy(agg, f[i].data, f[i].len);
		len = f[i].len;
	}
	flush(tap, &len, &hdr);
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
	if ((tap = osdep_tap_open_vnet(argv[1])) == -1 ||
	    osdep_tap_offload(tap, true) == -1) {
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
