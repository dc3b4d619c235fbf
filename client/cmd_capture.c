/*
 * softnetctl capture: a VM's frames as pcapng, live.
 *
 * Theory of operation: the "capture" request's reply brings a stream
 * socket (SCM_RIGHTS) from which the daemon's pcapng comes, block by
 * block. This command copies whole blocks to the output (a file, or
 * stdout for `| tcpdump -r -`), counting Enhanced Packet Blocks for -c.
 * To stop (COUNT reached, SIGINT, SIGTERM) it closes the control
 * connection, which ends the capture in the daemon; the daemon then
 * writes an Interface Statistics Block with the frames it dropped for
 * this reader (too slow) and closes, and the rest is copied too, so the
 * file ends with the count. Blocks are checked for a sane length before
 * use: the stream is the daemon's, but a reader never trusts a length.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "softnet_proto.h"

#define CAP_BLOCK_MAX (256 * 1024) /* longer than any block softnetd writes */
#define CAP_EPB       0x00000006u
#define CAP_ISB       0x00000005u
#define CAP_DRAIN_MS  2000 /* waiting for the ISB after stopping */

static volatile sig_atomic_t cap_stop;

/* Signal handler: stop after the blocks read so far. */
static void
cap_on_signal(int sig)
{
	(void)sig;
	cap_stop = 1;
}

/* A little-endian 32-bit value at p (softnetd writes little-endian). */
static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* What one capture run keeps. */
struct cap_run {
	int in, out;
	long long max;     /* -c COUNT, or -1 */
	long long frames;  /* EPBs written */
	long long dropped; /* from the ISB, or -1 before one came */
	bool out_gone;     /* the output refused (a reader exited) */
	uint8_t *buf;      /* CAP_BLOCK_MAX */
	size_t len;
};

/* Writes all of p to the output, once; remembers a failure. */
static void
cap_write(struct cap_run *r, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0 && !r->out_gone) {
		w = write(r->out, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			r->out_gone = true;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Reads isb_ifdrop (option 5) from an ISB of len bytes. */
static void
cap_isb(struct cap_run *r, const uint8_t *b, size_t len)
{
	size_t o = 20, olen;

	while (o + 4 <= len - 4) {
		olen = b[o + 2] | (size_t)b[o + 3] << 8;
		if (o + 4 + olen > len - 4)
			return;
		if ((b[o] | b[o + 1] << 8) == 5 && olen == 8)
			r->dropped = (long long)get32(b + o + 4) |
			             (long long)get32(b + o + 8) << 32;
		if ((b[o] | b[o + 1] << 8) == 0)
			return;
		o += 4 + ((olen + 3) & ~(size_t)3);
	}
}

/*
 * Copies the whole blocks in r->buf to the output (EPBs only while under
 * COUNT) and keeps a partial one. -1 on a block with an impossible
 * length.
 */
static int
cap_blocks(struct cap_run *r)
{
	size_t o = 0, blen;
	uint32_t type;

	while (r->len - o >= 12) {
		type = get32(r->buf + o);
		blen = get32(r->buf + o + 4);
		if (blen < 12 || blen % 4 != 0 || blen > CAP_BLOCK_MAX)
			return -1;
		if (r->len - o < blen)
			break;
		if (type == CAP_ISB)
			cap_isb(r, r->buf + o, blen);
		if (type != CAP_EPB || r->max < 0 || r->frames < r->max) {
			cap_write(r, r->buf + o, blen);
			if (type == CAP_EPB)
				r->frames++;
		}
		o += blen;
	}
	memmove(r->buf, r->buf + o, r->len - o);
	r->len -= o;
	return 0;
}

/*
 * Copies until the capture socket ends, COUNT is reached, a signal or
 * the output goes; then ends the capture (closes the control connection)
 * and copies what is left, the ISB with it. 0, or -1 on a bad stream.
 */
static int
cap_copy(struct client *c, struct cap_run *r)
{
	struct pollfd pfd = {r->in, POLLIN, 0};
	bool stopping = false;
	ssize_t n;

	for (;;) {
		if (!stopping && (cap_stop || r->out_gone ||
		                     (r->max >= 0 && r->frames >= r->max))) {
			stopping = true;
			close(c->fd); /* the daemon ends it, with an ISB */
			c->fd = -1;
		}
		if (stopping && poll(&pfd, 1, CAP_DRAIN_MS) <= 0)
			return 0;
		n = read(r->in, r->buf + r->len, CAP_BLOCK_MAX - r->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		r->len += (size_t)n;
		if (cap_blocks(r) == -1)
			return -1;
	}
}

/* Parses the options; -1 to go on, else the exit status. */
static int
cap_options(
    struct cap_run *r, json_t *req, const char **file, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"write", required_argument, NULL, 'w'},
	    {"count", required_argument, NULL, 'c'},
	    {"drops", no_argument, NULL, 'd'},
	    {"direction", required_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "w:c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			*file = optarg;
			break;
		case 'c':
			errno = 0;
			r->max = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || r->max < 1)
				goto usage;
			break;
		case 'd':
			json_object_set_new(req, "drops", json_true());
			break;
		case 'D':
			if (strcmp(optarg, "in") != 0 &&
			    strcmp(optarg, "out") != 0 &&
			    strcmp(optarg, "both") != 0)
				goto usage;
			json_object_set_new(
			    req, "direction", json_string(optarg));
			break;
		case 'h':
			client_usage(&cmd_capture_entry, stdout);
			return 0;
		default:
			goto usage;
		}
	}
	if (optind + 1 != argc)
		goto usage;
	json_object_set_new(req, "vm", json_string(argv[optind]));
	return -1;
usage:
	client_usage(&cmd_capture_entry, stderr);
	return EXIT_USAGE;
}

/* Opens the output: "-" is stdout, refused when it is a terminal. */
static int
cap_open(struct client *c, const char *file)
{
	int fd;

	if (strcmp(file, "-") == 0) {
		if (isatty(STDOUT_FILENO)) {
			client_warnx(c,
			    "not writing pcapng to a terminal: use "
			    "-w FILE, or pipe it (-w - | tcpdump -r -)");
			return -1;
		}
		return STDOUT_FILENO;
	}
	if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
	    -1)
		client_warnx(c, "%s: %s", file, strerror(errno));
	return fd;
}

/* Stops on SIGINT and SIGTERM without SA_RESTART: read returns. */
static void
cap_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cap_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int
cmd_capture(struct client *c, int argc, char **argv)
{
	struct cap_run r = {.in = -1, .out = -1, .max = -1, .dropped = -1};
	json_t *req = json_pack("{s:s}", "op", SOFTNET_OP_CAPTURE), *reply;
	const char *file = "-";
	int rc;

	if ((rc = cap_options(&r, req, &file, argc, argv)) != -1) {
		json_decref(req);
		return rc;
	}
	if ((r.out = cap_open(c, file)) == -1 || client_connect(c) == -1) {
		json_decref(req);
		return EXIT_REFUSED;
	}
	if ((reply = client_do_fd(c, req, -1, &r.in)) == NULL)
		return EXIT_REFUSED;
	json_decref(reply);
	if (r.in == -1) {
		client_warnx(c, "softnetd sent no capture socket");
		return EXIT_REFUSED;
	}
	if ((r.buf = malloc(CAP_BLOCK_MAX)) == NULL) {
		client_warnx(c, "out of memory");
		return EXIT_REFUSED;
	}
	cap_signals();
	rc = cap_copy(c, &r);
	close(r.in);
	free(r.buf);
	if (rc == -1) {
		client_warnx(c, "softnetd sent a malformed pcapng block");
		return EXIT_REFUSED;
	}
	if (r.dropped >= 0)
		fprintf(stderr,
		    "%lld frames captured, %lld dropped (reader too "
		    "slow)\n",
		    r.frames, r.dropped);
	else
		fprintf(stderr, "%lld frames captured\n", r.frames);
	return 0;
}

const struct cmd_entry cmd_capture_entry = {
    "capture",
    "VM [-w FILE|-] [-c COUNT] [--drops] [--direction in|out|both]",
    "Write the VM's frames as pcapng, live, to FILE or (-w -, the default)\n"
    "stdout until interrupted or COUNT frames: softnetctl capture VM -w - |\n"
    "tcpdump -r -. Frames are taken after the filter's verdict; --drops\n"
    "adds the frames softnetd dropped, each with a comment \"drop: REASON\".\n"
    "--direction: in (to the VM), out (from it) or both (the default). A\n"
    "reader too slow loses frames, counted at the end. The VM's owner,\n"
    "root and admin_group may capture it.\n",
    cmd_capture,
};
