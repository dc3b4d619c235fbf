/*
 * softnet: the front end Tart runs. It speaks the original Softnet command
 * line, needs no root, and hands the VM's descriptor to softnetd as a
 * session attachment: the VM is detached when this process exits. If the
 * daemon restarts, softnet reconnects with backoff and re-attaches the same
 * descriptor (same MAC, so the same lease) until it is told to stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "softnet_proto.h"

static volatile sig_atomic_t softnet_stop;

/* SIGINT/SIGTERM: stop waiting; the main loop detaches and exits. */
static void
on_stop(int sig)
{
	(void)sig;
	softnet_stop = 1;
}

static void
softnet_usage(FILE *stream)
{
	fprintf(stream,
	    "usage: softnet --vm-fd N --vm-mac-address MAC [--vm-net-type "
	    "nat|host]\n"
	    "               [--allow LIST] [--block LIST] [--expose LIST]\n"
	    "\n"
	    "Attach a VM's network descriptor to softnetd for as long as this\n"
	    "process runs (Tart starts it; SIGINT or SIGTERM detaches).\n"
	    "\n"
	    "  --vm-fd N              the VM's SOCK_DGRAM socket (Tart passes "
	    "0)\n"
	    "  --vm-mac-address MAC   the VM's MAC address\n"
	    "  --vm-net-type nat|host nat (default): gateway, DNS and the\n"
	    "                         Internet; host: only the host\n"
	    "  --allow LIST           CIDRs to allow (e.g. 192.168.0.0/16)\n"
	    "  --block LIST           CIDRs to block (@host: the gateway)\n"
	    "  --expose LIST          EXT:INT TCP ports to publish on the "
	    "host\n"
	    "  --user, --group, --bootpd-lease-time\n"
	    "                         accepted for compatibility; softnetd\n"
	    "                         needs no privileges here and serves "
	    "DHCP\n"
	    "                         itself with its configured lease time\n"
	    "\n"
	    "The daemon socket is $%s or %s.\n",
	    SOFTNET_SOCKET_ENV, SOFTNET_DEFAULT_SOCKET);
}

/* Builds the attach request from the command line's lists. */
static json_t *
attach_request(const char *mac, bool host_only, const char *allow,
    const char *block, const char *expose)
{
	json_t *req = json_pack(
	    "{s:s,s:s,s:b}", "op", SOFTNET_OP_ATTACH, "mac", mac, "session", 1);
	json_t *a = json_array(), *b = json_array(), *e = json_array();

	if (host_only) {
		json_array_append_new(b, json_string("0.0.0.0/0"));
		json_array_append_new(a, json_string("@host"));
	}
	if (allow != NULL)
		(void)client_split(a, allow);
	if (block != NULL)
		(void)client_split(b, block);
	if (expose != NULL)
		(void)client_split(e, expose);
	json_object_set_new(req, "allow", a);
	json_object_set_new(req, "block", b);
	json_object_set_new(req, "expose", e);
	return req;
}

/* Connects and attaches; 0 ok, -1 after printing why. */
static int
attach(struct client *c, json_t *req, int vmfd)
{
	json_t *r;

	if (client_connect(c) == -1)
		return -1;
	json_incref(req);
	if ((r = client_do(c, req, vmfd)) == NULL) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	json_decref(r);
	return 0;
}

/* Waits until a signal (returns 0) or the daemon hangs up (returns -1). */
static int
wait_session(struct client *c)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	char buf[512];

	while (!softnet_stop) {
		if (poll(&pfd, 1, 1000) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pfd.revents == 0)
			continue;
		/* The daemon never speaks unasked: any input means EOF. */
		if (read(c->fd, buf, sizeof(buf)) > 0)
			continue;
		return -1;
	}
	return 0;
}

/* Sleeps ms milliseconds unless a signal arrives. */
static void
nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (!softnet_stop && nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
softnet_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"vm-fd", required_argument, NULL, 'f'},
	    {"vm-mac-address", required_argument, NULL, 'm'},
	    {"vm-net-type", required_argument, NULL, 't'},
	    {"allow", required_argument, NULL, 'a'},
	    {"block", required_argument, NULL, 'b'},
	    {"expose", required_argument, NULL, 'e'},
	    {"user", required_argument, NULL, 'u'},
	    {"group", required_argument, NULL, 'g'},
	    {"bootpd-lease-time", required_argument, NULL, 'l'},
	    {"sudo-escalation-probing", no_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct client c = {.fd = -1, .prog = "softnet"};
	const char *mac = NULL, *allow = NULL, *block = NULL, *expose = NULL;
	bool host_only = false;
	struct sigaction sa;
	json_t *req;
	long vmfd = -1, backoff;
	char *end;
	int ch;

	/* Never keep privileges this process does not need. */
	if (geteuid() != getuid() && setuid(getuid()) == -1) {
		perror("softnet: dropping setuid privileges");
		return 1;
	}
	if (getegid() != getgid() && setgid(getgid()) == -1) {
		perror("softnet: dropping setgid privileges");
		return 1;
	}
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			errno = 0;
			vmfd = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    vmfd < 0 || vmfd > INT_MAX) {
				fprintf(stderr,
				    "softnet: --vm-fd %s: not a "
				    "descriptor number\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		case 'm':
			mac = optarg;
			break;
		case 't':
			if (strcmp(optarg, "nat") != 0 &&
			    strcmp(optarg, "host") != 0) {
				fprintf(stderr,
				    "softnet: --vm-net-type %s: want "
				    "nat or host\n",
				    optarg);
				return EXIT_USAGE;
			}
			host_only = strcmp(optarg, "host") == 0;
			break;
		case 'a': /* a repeated list flag replaces the earlier one */
			allow = optarg;
			break;
		case 'b':
			block = optarg;
			break;
		case 'e':
			expose = optarg;
			break;
		case 'u':
		case 'g':
		case 'l':
			fprintf(stderr,
			    "softnet: note: --%s is not needed with softnetd "
			    "and is ignored\n",
			    ch == 'u'   ? "user"
			    : ch == 'g' ? "group"
			                : "bootpd-lease-time");
			break;
		case 'p':
			return 0; /* no escalation needed: nothing to probe */
		case 'h':
			softnet_usage(stdout);
			return 0;
		case 'V':
			printf("softnet %s (softnetd front end)\n",
			    SOFTNET_VERSION);
			return 0;
		default:
			softnet_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || vmfd == -1 || mac == NULL) {
		fprintf(stderr, "softnet: --vm-fd and --vm-mac-address are "
		                "required\n");
		softnet_usage(stderr);
		return EXIT_USAGE;
	}
	if (fcntl((int)vmfd, F_GETFD) == -1) {
		fprintf(stderr,
		    "softnet: --vm-fd %ld: not an open descriptor\n", vmfd);
		return EXIT_REFUSED;
	}
	c.socket = getenv(SOFTNET_SOCKET_ENV);
	if (c.socket == NULL || c.socket[0] == '\0')
		c.socket = SOFTNET_DEFAULT_SOCKET;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	req = attach_request(mac, host_only, allow, block, expose);
	if (attach(&c, req, (int)vmfd) == -1) {
		json_decref(req);
		return EXIT_REFUSED;
	}
	while (wait_session(&c) == -1 && !softnet_stop) {
		fprintf(stderr, "softnet: lost softnetd; re-attaching\n");
		close(c.fd);
		c.fd = -1;
		for (backoff = 50; !softnet_stop; backoff *= 2) {
			if (attach(&c, req, (int)vmfd) == 0)
				break;
			nap(backoff < 500 ? backoff : 500);
		}
		if (c.fd != -1)
			fprintf(stderr, "softnet: re-attached\n");
	}
	json_decref(req);
	if (c.fd != -1)
		close(c.fd); /* ends the session: the daemon detaches the VM */
	return 0;
}
