/*
 * udpflood: the flood generator of make soak's noisy-neighbour part. It
 * sends LEN-byte UDP datagrams from SRC to DST:PORT with sendmmsg, as fast
 * as it can or paced to PPS datagrams per second, for SECONDS, and prints
 * "sent N". In C so that the generator's own cost is small and known: a
 * Python loop took most of a core and hid what the daemon did.
 *
 * usage: udpflood [-r PPS] [-l LEN] [-t SECONDS] SRC DST PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH  32
#define MAXLEN 65507

static uint8_t payload[MAXLEN];

/* Monotonic nanoseconds. */
static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps until monotonic time t (nanoseconds). */
static void
sleep_until(int64_t t)
{
	struct timespec ts = {(time_t)(t / 1000000000), (long)(t % 1000000000)};

	while (
	    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Parses a positive number no larger than max, or exits with usage. */
static long
number(const char *s, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > max) {
		fprintf(stderr, "udpflood: %s: expected 1..%ld, got \"%s\"\n",
		    what, max, s);
		exit(2);
	}
	return v;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: udpflood [-r PPS] [-l LEN] [-t SECONDS] SRC DST PORT\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in src, dst;
	struct mmsghdr msgs[BATCH];
	struct iovec iov;
	int64_t start, deadline, next;
	long pps = 0, len = 1400, secs = 10;
	unsigned long long sent = 0;
	int ch, fd, i, n;

	while ((ch = getopt(argc, argv, "r:l:t:")) != -1) {
		switch (ch) {
		case 'r':
			pps = number(optarg, 100000000, "-r");
			break;
		case 'l':
			len = number(optarg, MAXLEN, "-l");
			break;
		case 't':
			secs = number(optarg, 86400, "-t");
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 3)
		usage();
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	src.sin_family = dst.sin_family = AF_INET;
	if (inet_pton(AF_INET, argv[optind], &src.sin_addr) != 1 ||
	    inet_pton(AF_INET, argv[optind + 1], &dst.sin_addr) != 1) {
		fprintf(stderr, "udpflood: SRC and DST are IPv4 addresses\n");
		return 2;
	}
	dst.sin_port = htons((uint16_t)number(argv[optind + 2], 65535, "PORT"));
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
		perror("udpflood");
		return 1;
	}
	iov.iov_base = payload;
	iov.iov_len = (size_t)len;
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_name = &dst;
		msgs[i].msg_hdr.msg_namelen = sizeof(dst);
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	start = next = now_ns();
	deadline = start + (int64_t)secs * 1000000000;
	while (now_ns() < deadline) {
		/* Errors (no buffer space, ICMP refusals) are the flood's
		 * business, not ours: count what the kernel took. */
		if ((n = sendmmsg(fd, msgs, BATCH, 0)) > 0)
			sent += (unsigned long long)n;
		if (pps > 0) {
			next += (int64_t)BATCH * 1000000000 / pps;
			sleep_until(next);
		}
	}
	printf("sent %llu\n", sent);
	return 0;
}
