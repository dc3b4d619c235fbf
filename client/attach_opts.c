/*
 * Theory of operation: the one table of attach options, shared by
 * softnetctl attach and exec (CLIENT_FE_CTL) and by softnet, Tart's front
 * end (CLIENT_FE_SOFTNET). A row is an option's name, its argument, the
 * programs that accept it, its help text for each of them, and the handler
 * that puts it into struct client_attach; getopt's table and the option
 * lines of each --help are built from the rows, in row order.
 *
 * The programs keep their own command lines: softnet speaks the original
 * Softnet's (--vm-fd, --vm-mac-address, a repeated list flag replaces the
 * earlier one and an empty item is skipped, legacy flags accepted), while
 * softnetctl's lists add up and refuse an empty item. Row order is the
 * order getopt names the candidates of an ambiguous abbreviation in, so
 * rows of one program that share a prefix keep their order.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "softnet_proto.h"

#define FE_CTL     (1u << CLIENT_FE_CTL)
#define FE_SOFTNET (1u << CLIENT_FE_SOFTNET)
#define FE_BOTH    (FE_CTL | FE_SOFTNET)
#define STR(x)     #x
#define XSTR(x)    STR(x)

struct attach_opt;
/* Takes one option; -1 to go on, else the exit status. */
typedef int (*attach_opt_fn)(struct client *c, struct client_attach *a,
    const struct attach_opt *o, const char *arg);

struct attach_opt {
	const char *name;
	const char *arg;               /* its argument in help; NULL: none */
	unsigned fes;                  /* the programs that accept it */
	const char *key;               /* the request key it sets, if any */
	attach_opt_fn handle;          /* what it does */
	const char *help[CLIENT_FE_N]; /* per program; NULL: not listed */
	const char *label; /* help's left column, if not --NAME ARG */
};

/* Prints the usage of the program parsing (to stdout for --help). */
static void
attach_usage(const struct client_attach *a, FILE *stream)
{
	if (a->fe == CLIENT_FE_CTL)
		client_usage(a->e, stream);
	else
		a->usage(stream);
}

/* Parses a descriptor number; -1 after printing why. */
static int
parse_fd(struct client *c, const struct attach_opt *o, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < 0 || v > INT_MAX) {
		client_warnx(c, "--%s %s: not a descriptor number", o->name, s);
		return -1;
	}
	return (int)v;
}

/* softnetctl --fd N and --tap IFNAME: one of them, once, an open fd. */
static int
opt_fd(struct client *c, struct client_attach *a, const struct attach_opt *o,
    const char *arg)
{
	if (a->no_fd) {
		attach_usage(a, stderr);
		return EXIT_USAGE;
	}
	if (a->fd != -1 || a->tap != NULL) {
		client_warnx(c, "give one of --fd and --tap, once");
		return EXIT_USAGE;
	}
	if (strcmp(o->name, "tap") == 0) {
		a->tap = arg;
		return -1;
	}
	if ((a->fd = parse_fd(c, o, arg)) == -1)
		return EXIT_USAGE;
	if (fcntl(a->fd, F_GETFD) == -1) {
		client_warnx(c, "--fd %s: not an open descriptor", arg);
		return EXIT_USAGE;
	}
	return -1;
}

/* softnet --vm-fd N: the last one counts; softnet checks it is open. */
static int
opt_vm_fd(struct client *c, struct client_attach *a, const struct attach_opt *o,
    const char *arg)
{
	return (a->fd = parse_fd(c, o, arg)) == -1 ? EXIT_USAGE : -1;
}

/* A string the daemon checks itself (MAC, name, address). */
static int
opt_string(struct client *c, struct client_attach *a,
    const struct attach_opt *o, const char *arg)
{
	(void)c;
	json_object_set_new(a->req, o->key, json_string(arg));
	return -1;
}

/*
 * --allow, --block, --expose LIST. softnetctl appends and refuses an empty
 * item; softnet replaces the earlier list and skips from an empty item on,
 * as the original Softnet took them.
 */
static int
opt_list(struct client *c, struct client_attach *a, const struct attach_opt *o,
    const char *arg)
{
	json_t *arr = json_object_get(a->req, o->key);

	if (a->fe == CLIENT_FE_SOFTNET || arr == NULL) {
		arr = json_array();
		json_object_set_new(a->req, o->key, arr);
	}
	if (client_split(arr, arg) == -1 && a->fe == CLIENT_FE_CTL) {
		client_warnx(c, "--%s \"%s\": empty item in list", o->key, arg);
		return EXIT_USAGE;
	}
	return -1;
}

/* softnet --vm-net-type nat|host. */
static int
opt_net_type(struct client *c, struct client_attach *a,
    const struct attach_opt *o, const char *arg)
{
	(void)o;
	if (strcmp(arg, "nat") != 0 && strcmp(arg, "host") != 0) {
		client_warnx(c, "--vm-net-type %s: want nat or host", arg);
		return EXIT_USAGE;
	}
	a->host_only = strcmp(arg, "host") == 0;
	return -1;
}

/* softnet --wait SECONDS. */
static int
opt_wait(struct client *c, struct client_attach *a, const struct attach_opt *o,
    const char *arg)
{
	char *end;

	(void)o;
	errno = 0;
	a->wait_s = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == arg || a->wait_s < 0 ||
	    a->wait_s > SOFTNET_WAIT_MAX) {
		client_warnx(c, "--wait %s: want seconds, 0 to %d", arg,
		    SOFTNET_WAIT_MAX);
		return EXIT_USAGE;
	}
	return -1;
}

/* A legacy flag softnetd makes pointless: said, then ignored. */
static int
opt_ignored(struct client *c, struct client_attach *a,
    const struct attach_opt *o, const char *arg)
{
	(void)a;
	(void)arg;
	client_warnx(c, "note: --%s is not needed with softnetd and is ignored",
	    o->name);
	return -1;
}

/* --sudo-escalation-done: the original's own sudo re-exec adds it. */
static int
opt_nothing(struct client *c, struct client_attach *a,
    const struct attach_opt *o, const char *arg)
{
	(void)c;
	(void)a;
	(void)o;
	(void)arg;
	return -1;
}

/* --sudo-escalation-probing: no escalation needed, nothing to probe. */
static int
opt_probe(struct client *c, struct client_attach *a, const struct attach_opt *o,
    const char *arg)
{
	(void)c;
	(void)a;
	(void)o;
	(void)arg;
	return 0;
}

/* --help, -h. */
static int
opt_help(struct client *c, struct client_attach *a, const struct attach_opt *o,
    const char *arg)
{
	(void)c;
	(void)o;
	(void)arg;
	attach_usage(a, stdout);
	return 0;
}

/* softnet --version. */
static int
opt_version(struct client *c, struct client_attach *a,
    const struct attach_opt *o, const char *arg)
{
	(void)c;
	(void)a;
	(void)o;
	(void)arg;
	printf("softnet %s (softnetd front end)\n", SOFTNET_VERSION);
	return 0;
}

static const struct attach_opt opts[] = {
    {.name = "fd",
        .arg = "N",
        .fes = FE_CTL,
        .handle = opt_fd,
        .help = {[CLIENT_FE_CTL] =
                     "an inherited descriptor: one end of a SOCK_DGRAM\n"
                     "socket pair carrying one Ethernet frame per datagram,\n"
                     "or a TAP device"}},
    {.name = "tap",
        .arg = "IFNAME",
        .fes = FE_CTL,
        .handle = opt_fd,
        .help = {[CLIENT_FE_CTL] =
                     "open the TAP device IFNAME in this network namespace"}},
    {.name = "mac",
        .arg = "MAC",
        .fes = FE_CTL,
        .key = "mac",
        .handle = opt_string,
        .help = {[CLIENT_FE_CTL] =
                     "the VM's MAC address (required with a socket; a TAP's\n"
                     "own MAC is used when omitted)"}},
    {.name = "name",
        .arg = "NAME",
        .fes = FE_CTL,
        .key = "name",
        .handle = opt_string,
        .help = {[CLIENT_FE_CTL] =
                     "a unique name (1-63 of A-Z a-z 0-9 . _ -)"}},
    /* The daemon parses it and decides who may pin it. */
    {.name = "ip",
        .arg = "A",
        .fes = FE_CTL,
        .key = "ip",
        .handle = opt_string,
        .help = {[CLIENT_FE_CTL] =
                     "the address the VM gets by DHCP (root/admin_group,\n"
                     "or A reserved for this MAC or NAME in the config)"}},
    {.name = "vm-fd",
        .arg = "N",
        .fes = FE_SOFTNET,
        .handle = opt_vm_fd,
        .help = {[CLIENT_FE_SOFTNET] = "the VM's SOCK_DGRAM socket (Tart "
                                       "passes 0)"}},
    {.name = "vm-mac-address",
        .arg = "MAC",
        .fes = FE_SOFTNET,
        .key = "mac",
        .handle = opt_string,
        .help = {[CLIENT_FE_SOFTNET] = "the VM's MAC address"}},
    {.name = "vm-net-type",
        .arg = "nat|host",
        .fes = FE_SOFTNET,
        .handle = opt_net_type,
        .help = {[CLIENT_FE_SOFTNET] = "nat (default): gateway, DNS and the\n"
                                       "Internet; host: only the host"}},
    {.name = "allow",
        .arg = "LIST",
        .fes = FE_BOTH,
        .key = "allow",
        .handle = opt_list,
        .help = {[CLIENT_FE_CTL] =
                     "CIDRs the VM may reach despite the default rules",
            [CLIENT_FE_SOFTNET] = "CIDRs to allow (e.g. 192.168.0.0/16)"}},
    {.name = "block",
        .arg = "LIST",
        .fes = FE_BOTH,
        .key = "block",
        .handle = opt_list,
        .help = {[CLIENT_FE_CTL] =
                     "CIDRs the VM may not reach; @host is the gateway",
            [CLIENT_FE_SOFTNET] = "CIDRs to block (@host: the gateway)"}},
    {.name = "expose",
        .arg = "LIST",
        .fes = FE_BOTH,
        .key = "expose",
        .handle = opt_list,
        .help = {[CLIENT_FE_CTL] = "EXT:INT TCP ports to publish on the host",
            [CLIENT_FE_SOFTNET] = "EXT:INT TCP ports to publish on the host"}},
    {.name = "wait",
        .arg = "SECONDS",
        .fes = FE_SOFTNET,
        .handle = opt_wait,
        .help = {[CLIENT_FE_SOFTNET] =
                     "while softnetd cannot be reached (not yet\n"
                     "started, restarting), retry for this long\n"
                     "before giving up (default " XSTR(
                         SOFTNET_WAIT_DEFAULT) "; 0: try once)"}},
    {.name = "user",
        .arg = "USER",
        .fes = FE_SOFTNET,
        .handle = opt_ignored,
        .label = "--user, --group, --bootpd-lease-time",
        .help = {[CLIENT_FE_SOFTNET] =
                     "accepted for compatibility; softnetd\n"
                     "needs no privileges here and serves DHCP\n"
                     "itself with its configured lease time"}},
    {.name = "group", .arg = "GROUP", .fes = FE_SOFTNET, .handle = opt_ignored},
    {.name = "bootpd-lease-time",
        .arg = "N",
        .fes = FE_SOFTNET,
        .handle = opt_ignored},
    {.name = "sudo-escalation-probing", .fes = FE_SOFTNET, .handle = opt_probe},
    {.name = "sudo-escalation-done", .fes = FE_SOFTNET, .handle = opt_nothing},
    {.name = "help", .fes = FE_BOTH, .handle = opt_help},
    {.name = "version", .fes = FE_SOFTNET, .handle = opt_version},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))
/* getopt's value for row i (above every short option's character). */
#define OPT_VAL(i) (256 + (int)(i))

int
client_attach_options(
    struct client *c, struct client_attach *a, int argc, char **argv)
{
	/* softnetctl stops at the first operand (exec's command). */
	static const char *const shortopts[CLIENT_FE_N] = {"+h", "h"};
	struct option longopts[NOPTS + 1];
	const struct attach_opt *o;
	size_t i, n = 0;
	int ch, rc;

	for (i = 0; i < NOPTS; i++)
		if (opts[i].fes & (1u << a->fe))
			longopts[n++] = (struct option){opts[i].name,
			    opts[i].arg != NULL ? required_argument
			                        : no_argument,
			    NULL, OPT_VAL(i)};
	longopts[n] = (struct option){NULL, 0, NULL, 0};
	while ((ch = getopt_long(
	            argc, argv, shortopts[a->fe], longopts, NULL)) != -1) {
		if (ch == 'h')
			return opt_help(c, a, NULL, NULL);
		if (ch < OPT_VAL(0) || ch >= OPT_VAL(NOPTS)) {
			attach_usage(a, stderr);
			return EXIT_USAGE;
		}
		o = &opts[ch - OPT_VAL(0)];
		if ((rc = o->handle(c, a, o, optarg)) != -1)
			return rc;
	}
	return -1;
}

void
client_attach_help(enum client_fe fe, FILE *stream)
{
	/* Where the help text starts, after "  " and the label. */
	static const int col[CLIENT_FE_N] = {16, 23};
	const char *h, *nl;
	char label[64];
	size_t i;

	for (i = 0; i < NOPTS; i++) {
		if ((h = opts[i].help[fe]) == NULL)
			continue;
		if (opts[i].label != NULL)
			snprintf(label, sizeof(label), "%s", opts[i].label);
		else
			snprintf(label, sizeof(label), "--%s %s", opts[i].name,
			    opts[i].arg);
		if ((int)strlen(label) > col[fe])
			fprintf(stream, "  %s\n%*s", label, col[fe] + 2, "");
		else
			fprintf(stream, "  %-*s", col[fe], label);
		for (; (nl = strchr(h, '\n')) != NULL; h = nl + 1)
			fprintf(stream, "%.*s\n%*s", (int)(nl - h), h,
			    col[fe] + 2, "");
		fprintf(stream, "%s\n", h);
	}
}

void
client_attach_help_ctl(FILE *stream)
{
	client_attach_help(CLIENT_FE_CTL, stream);
}
