/*
 * softnetctl: operate softnetd. Global options come before the command;
 * each command parses its own (one file per command, registered below).
 *
 * It never runs set-user-ID or set-group-ID: "exec" runs any command, so
 * a set-user-ID root softnetctl would be a root shell for every user.
 * (softnet used to be a hard link to it, and Tart makes softnet
 * set-user-ID root; softnet is now its own binary, softnet.c.)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "softnet_proto.h"

static const struct cmd_entry *const cmds[] = {
    &cmd_attach_entry,
    &cmd_detach_entry,
    &cmd_list_entry,
    &cmd_show_entry,
    &cmd_stats_entry,
    &cmd_leases_entry,
    &cmd_status_entry,
    &cmd_exec_entry,
    &cmd_policy_entry,
    &cmd_events_entry,
    &cmd_capture_entry,
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

/* Prints the top-level usage. */
static void
usage(FILE *stream)
{
	size_t i;

	fprintf(stream,
	    "usage: softnetctl [-s SOCKET] [--json] COMMAND [ARGS...]\n"
	    "\n"
	    "Operate softnetd, the VM network isolation daemon.\n"
	    "\n"
	    "Global options:\n"
	    "  -s, --socket SOCKET  control socket (default $%s, then %s)\n"
	    "  --json               print the daemon's replies as JSON\n"
	    "  -h, --help           this help\n"
	    "  --version            print the version\n"
	    "\n"
	    "Commands:\n",
	    SOFTNET_SOCKET_ENV, SOFTNET_DEFAULT_SOCKET);
	for (i = 0; i < NCMDS; i++)
		fprintf(stream, "  %-8s %s\n", cmds[i]->name, cmds[i]->usage);
	fprintf(stream,
	    "\n'softnetctl COMMAND --help' describes a command. Exit status: "
	    "0 ok,\n1 refused or failed (reason on stderr), 2 usage error.\n");
}

/* Parses the global options and runs one command. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct client c = {.fd = -1, .prog = "softnetctl"};
	size_t i;
	int ch, rc;

	/*
	 * Before anything else. Refuse rather than drop privileges, so that
	 * a set-ID softnetctl is noticed and fixed, not quietly tolerated.
	 */
	if (geteuid() != getuid() || getegid() != getgid()) {
		fprintf(stderr, "softnetctl: refusing to run set-user-ID or "
		                "set-group-ID; install it mode 0755\n");
		return EXIT_REFUSED;
	}
	c.socket = getenv(SOFTNET_SOCKET_ENV);
	if (c.socket == NULL || c.socket[0] == '\0')
		c.socket = SOFTNET_DEFAULT_SOCKET;
	while ((ch = getopt_long(argc, argv, "+s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			c.socket = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("softnetctl %s (protocol %d)\n", SOFTNET_VERSION,
			    SOFTNET_PROTO_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < NCMDS; i++)
		if (strcmp(argv[0], cmds[i]->name) == 0)
			break;
	if (i == NCMDS) {
		fprintf(
		    stderr, "softnetctl: unknown command \"%s\"\n", argv[0]);
		usage(stderr);
		return EXIT_USAGE;
	}
	optind = 0; /* let the command's getopt start afresh */
	rc = cmds[i]->exec(&c, argc, argv);
	if (c.fd != -1)
		close(c.fd);
	return rc;
}
