/*
 * softnet: the front end Tart runs, a small program of its own (this file,
 * the protocol code in client.c and the option table in attach_opts.c). It
 * speaks the original Softnet command line, needs no privilege, and hands the
 * VM's descriptor to softnetd as a session attachment: the VM is detached when
 * this process exits.
 *
 * What Tart does with it (cirruslabs/tart Sources/tart/Network/Softnet.swift
 * and Commands/Run.swift): it resolves "softnet" on PATH and runs it with
 * "--vm-fd 0 --vm-mac-address MAC", plus "--vm-net-type host" and
 * "--allow/--block/--expose LIST" from its own flags, the VM's end of a
 * SOCK_DGRAM socketpair as standard input and stderr shared with tart.
 * Before an interactive "tart run --net-softnet", configureSUIDBitIfNeeded
 * follows the PATH entry's symlinks and, unless that file is owned by root
 * with S_ISUID set or "sudo --non-interactive softnet --help" succeeds,
 * asks for the user's password to "chown root && chmod u+s" it. So softnet
 * is installed root-owned, mode 4755: the check passes without a prompt.
 *
 * Invariant: the first statement of main gives up that set-user-ID (and any
 * set-group-ID) identity for good, before any input is looked at; from then
 * on this is an ordinary process of the caller, which is all it needs to
 * connect to softnetd. It works the same when installed without the bit or
 * run by root.
 *
 * Tart treats any exit of softnet before it interrupts it (SIGINT) as
 * "Softnet process terminated prematurely" and stops the VM. So while
 * softnetd cannot be reached, as while launchd (re)starts it, softnet
 * retries with backoff for up to --wait seconds (30 by default), at start
 * and after losing the daemon; a restarted daemon gets the same descriptor
 * back (same MAC, so the same lease).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "softnet_proto.h"

static volatile sig_atomic_t softnet_stop;

/*
 * Makes the real, effective and saved IDs all the caller's, for good.
 * Returns 0, or -1 after printing why (then nothing else may run).
 */
static int
softnet_drop_privileges(void)
{
	uid_t uid = getuid(), euid = geteuid();
	gid_t gid = getgid(), egid = getegid();
	const char *why = NULL;

	/*
	 * setre[ug]id with both IDs set also replaces the saved ID whenever
	 * the old one differs (Linux setreuid(2); XNU bsd/kern/kern_prot.c
	 * setreuid/setregid), which setuid(2) does only for root. The group
	 * goes first, while a set-user-ID root process may still change it.
	 * The supplementary groups are already the caller's: executing a
	 * set-ID file changes only the effective and saved IDs (execve(2)),
	 * and softnetd's socket_group may be one of them.
	 */
	if (egid != gid && setregid(gid, gid) == -1)
		goto fail;
	if (euid != uid && setreuid(uid, uid) == -1)
		goto fail;
	why = "they could be regained";
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid)
		goto fail;
	/* Prove it: a caller other than root can no longer get them back. */
	if (uid != 0 && euid != uid && setreuid((uid_t)-1, euid) != -1)
		goto fail;
	if (uid != 0 && egid != gid && setregid((gid_t)-1, egid) != -1)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "softnet: cannot give up set-user-ID privileges: %s\n",
	    why != NULL ? why : strerror(errno));
	return -1;
}

/* SIGINT/SIGTERM: stop waiting; the main loop detaches and exits. */
static void
on_stop(int sig)
{
	(void)sig;
	softnet_stop = 1;
}

/* Prints the usage and the options (attach_opts.c's table). */
static void
softnet_usage(FILE *stream)
{
	fprintf(stream,
	    "usage: softnet --vm-fd N --vm-mac-address MAC [--vm-net-type "
	    "nat|host]\n"
	    "               [--allow LIST] [--block LIST] [--expose LIST]\n"
	    "               [--wait SECONDS]\n"
	    "\n"
	    "Attach a VM's network descriptor to softnetd for as long as this\n"
	    "process runs (Tart starts it; SIGINT or SIGTERM detaches).\n"
	    "\n");
	client_attach_help(CLIENT_FE_SOFTNET, stream);
	fprintf(stream, "\nThe daemon socket is $%s or %s.\n",
	    SOFTNET_SOCKET_ENV, SOFTNET_DEFAULT_SOCKET);
}

/*
 * Parses the command line into a (whose request has the lists already):
 * -1 to go on, else the exit status.
 */
static int
softnet_args(struct client *c, struct client_attach *a, int argc, char **argv)
{
	int rc;

	if ((rc = client_attach_options(c, a, argc, argv)) != -1)
		return rc;
	if (optind != argc || a->fd == -1 ||
	    json_object_get(a->req, "mac") == NULL) {
		fprintf(stderr, "softnet: --vm-fd and --vm-mac-address are "
		                "required\n");
		softnet_usage(stderr);
		return EXIT_USAGE;
	}
	if (fcntl(a->fd, F_GETFD) == -1) {
		fprintf(stderr, "softnet: --vm-fd %d: not an open descriptor\n",
		    a->fd);
		return EXIT_REFUSED;
	}
	/* host: only the gateway, ahead of the caller's own rules. */
	if (a->host_only) {
		json_array_insert_new(
		    json_object_get(a->req, "allow"), 0, json_string("@host"));
		json_array_insert_new(json_object_get(a->req, "block"), 0,
		    json_string("0.0.0.0/0"));
	}
	return -1;
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

/*
 * Attaches, retrying with backoff for up to wait_ms while softnetd cannot
 * be reached or answers "busy" (a connection, descriptor or reply limit
 * that other clients hold now and release in a moment: Tart stops the VM
 * when softnet exits, so a moment's load must not end it), and, with
 * any_failure, while it refuses for any reason (a daemon just restarted
 * may still be settling). Any other refusal is the caller's input and
 * final. Returns 0 once attached, or -1 after printing the last reason in
 * one line (nothing when a signal stopped it).
 */
static int
attach_wait(
    struct client *c, json_t *req, int vmfd, long wait_ms, bool any_failure)
{
	long long deadline = client_now_ms() + wait_ms;
	char err[512] = "";
	long backoff = 0;
	int rc;

	c->errbuf = err;
	c->errlen = sizeof(err);
	while ((rc = attach(c, req, vmfd)) == -1 &&
	       (c->lost || c->busy || any_failure) &&
	       client_backoff(&backoff, deadline, &softnet_stop) == 0)
		;
	c->errbuf = NULL;
	if (rc == -1 && !softnet_stop) {
		if ((c->lost || c->busy || any_failure) && wait_ms > 0)
			fprintf(stderr,
			    "softnet: %s; gave up after %ld s (--wait)\n", err,
			    wait_ms / 1000);
		else
			fprintf(stderr, "softnet: %s\n", err);
	}
	return rc;
}

/*
 * Attaches req with vmfd and holds the session, re-attaching whenever
 * softnetd is lost, until SIGINT/SIGTERM; returns the exit status.
 */
static int
softnet_session(struct client *c, json_t *req, int vmfd, long wait_ms)
{
	int rc = 0;

	/* A refusal at the start, but busy, is final: the caller's input. */
	if (attach_wait(c, req, vmfd, wait_ms, false) == -1)
		return softnet_stop ? 0 : EXIT_REFUSED;
	while (wait_session(c) == -1 && !softnet_stop) {
		fprintf(stderr, "softnet: lost softnetd; re-attaching\n");
		close(c->fd);
		c->fd = -1;
		if (attach_wait(c, req, vmfd, wait_ms, true) == -1) {
			rc = softnet_stop ? 0 : EXIT_REFUSED;
			break;
		}
		fprintf(stderr, "softnet: re-attached\n");
	}
	if (c->fd != -1)
		close(c->fd); /* ends the session: the daemon detaches the VM */
	return rc;
}

/* Tart's front end: see the top of this file. */
int
main(int argc, char **argv)
{
	struct client c = {.fd = -1, .prog = "softnet"};
	struct client_attach a = {.fe = CLIENT_FE_SOFTNET,
	    .usage = softnet_usage,
	    .fd = -1,
	    .wait_s = SOFTNET_WAIT_DEFAULT};
	struct sigaction sa;
	int rc;

	/* First, before anything reads input: see the top of this file. */
	if (softnet_drop_privileges() == -1)
		return EXIT_REFUSED;
	a.req = json_pack("{s:s,s:b,s:[],s:[],s:[]}", "op", SOFTNET_OP_ATTACH,
	    "session", 1, "allow", "block", "expose");
	if ((rc = softnet_args(&c, &a, argc, argv)) != -1) {
		json_decref(a.req);
		return rc;
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

	rc = softnet_session(&c, a.req, a.fd, a.wait_s * 1000);
	json_decref(a.req);
	return rc;
}
