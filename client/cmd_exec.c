/*
 * softnetctl exec: run a VM (QEMU, vfkit, ...) with a network descriptor.
 * A SOCK_DGRAM socket pair is made with Tart's buffer sizes; one end is
 * attached as a session for the life of the command, which gets the other
 * end as fd 3 (and SOFTNET_FD=3, SOFTNET_MAC=MAC). Signals are forwarded;
 * the exit status is the command's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "softnet_proto.h"
#include "softnet_sys.h"

#define EXEC_FD     3
#define EXEC_RCVBUF (4 * 1024 * 1024)
#define EXEC_SNDBUF (1024 * 1024)

static volatile sig_atomic_t exec_child = -1;

/* Passes a signal on to the command. */
static void
forward(int sig)
{
	if (exec_child > 0)
		kill((pid_t)exec_child, sig);
}

/* A random locally administered unicast MAC, as text. */
static void
random_mac(char buf[SOFTNET_MAC_STRLEN])
{
	unsigned char b[6];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd == -1 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
		srand((unsigned)getpid() ^ (unsigned)time(NULL));
		for (int i = 0; i < 6; i++)
			b[i] = (unsigned char)rand();
	}
	if (fd != -1)
		close(fd);
	b[0] = (unsigned char)((b[0] & 0xfe) | 0x02);
	snprintf(buf, SOFTNET_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", b[0],
	    b[1], b[2], b[3], b[4], b[5]);
}

/* Sets Tart's buffer sizes on one end of the pair. */
static void
size_buffers(int fd)
{
	int rcv = EXEC_RCVBUF, snd = EXEC_SNDBUF;

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
}

/*
 * Runs argv with fd as EXEC_FD and SOFTNET_FD/SOFTNET_MAC set, forwarding
 * signals to it; its exit status (128 + signal when killed), or
 * EXIT_REFUSED after printing why it could not run. Closes fd.
 */
static int
run_command(struct client *c, int fd, char **argv, const char *mac)
{
	struct sigaction sa;
	pid_t pid;
	int status;

	switch ((pid = fork())) {
	case -1:
		client_warnx(c, "fork: %s", strerror(errno));
		close(fd);
		return EXIT_REFUSED;
	case 0:
		if (dup2(fd, EXEC_FD) == -1)
			_exit(127);
		/* client_call ignored SIGPIPE; exec would keep it ignored. */
		signal(SIGPIPE, SIG_DFL);
		setenv("SOFTNET_FD", "3", 1);
		setenv("SOFTNET_MAC", mac, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "softnetctl: exec %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	exec_child = pid;
	close(fd);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			client_warnx(c, "waitpid: %s", strerror(errno));
			return EXIT_REFUSED;
		}
	}
	/* Closing the connection (in main) ends the session: detached. */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* softnetctl exec: attach one end of a new pair, run CMD with the other. */
static int
cmd_exec(struct client *c, int argc, char **argv)
{
	struct client_attach a = {.fe = CLIENT_FE_CTL,
	    .e = &cmd_exec_entry,
	    .no_fd = true,
	    .fd = -1,
	    .req =
	        json_pack("{s:s,s:b}", "op", SOFTNET_OP_ATTACH, "session", 1)};
	json_t *r;
	char mac[SOFTNET_MAC_STRLEN];
	int sv[2] = {-1, -1}, rc;

	rc = client_attach_options(c, &a, argc, argv);
	if (rc != -1)
		goto out;
	rc = EXIT_USAGE;
	if (optind >= argc || strcmp(argv[optind - 1], "--") != 0) {
		client_warnx(c, "exec: give the command after --");
		client_usage(&cmd_exec_entry, stderr);
		goto out;
	}
	if (json_object_get(a.req, "mac") == NULL) {
		random_mac(mac);
		json_object_set_new(a.req, "mac", json_string(mac));
	}
	snprintf(mac, sizeof(mac), "%s",
	    json_string_value(json_object_get(a.req, "mac")));
	rc = EXIT_REFUSED;
	if (softnet_sys_socketpair(AF_UNIX, SOCK_DGRAM, sv) == -1) {
		client_warnx(c, "socketpair: %s", strerror(errno));
		goto out;
	}
	size_buffers(sv[0]);
	size_buffers(sv[1]);
	if (client_connect(c) == -1)
		goto out;
	r = client_do(c, a.req, sv[0]);
	a.req = NULL;
	if (r == NULL)
		goto out;
	json_decref(r);
	close(sv[0]);
	sv[0] = -1;
	rc = run_command(c, sv[1], argv + optind, mac);
	sv[1] = -1;
out:
	json_decref(a.req);
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	return rc;
}

const struct cmd_entry cmd_exec_entry = {
    "exec",
    "[--mac MAC] [--name NAME] [--ip A] [--allow LIST]...\n"
    "           [--block LIST]... [--expose LIST]... -- CMD [ARGS...]",
    "Run CMD with a network descriptor attached to softnetd for as long as\n"
    "CMD runs. CMD gets one end of a SOCK_DGRAM socket pair (one Ethernet\n"
    "frame per datagram) as fd 3, and SOFTNET_FD=3 and SOFTNET_MAC in its\n"
    "environment; without --mac a random local MAC is chosen. Signals are\n"
    "forwarded to CMD; the exit status is CMD's.\n"
    "\n"
    "QEMU:  softnetctl exec --mac 52:54:00:12:34:56 -- qemu-system-aarch64 \\\n"
    "         -netdev dgram,id=n0,local.type=fd,local.str=3 \\\n"
    "         -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56 ...\n"
    "vfkit: softnetctl exec --mac 5a:94:ef:e4:0c:ee -- vfkit ... \\\n"
    "         --device virtio-net,fd=3,mac=5a:94:ef:e4:0c:ee\n",
    cmd_exec,
};
