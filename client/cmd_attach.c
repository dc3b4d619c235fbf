/*
 * softnetctl attach: hand a VM's packet descriptor to softnetd. The VM
 * stays attached after this command exits, until "softnetctl detach".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "softnet_proto.h"

/* Appends a comma list to the request's array key; -1 on a bad list. */
static int
add_list(struct client *c, json_t *req, const char *key, const char *list)
{
	json_t *arr = json_object_get(req, key);

	if (arr == NULL) {
		arr = json_array();
		json_object_set_new(req, key, arr);
	}
	if (client_split(arr, list) == -1) {
		client_warnx(c, "--%s \"%s\": empty item in list", key, list);
		return -1;
	}
	return 0;
}

/* Parses --fd: an open descriptor number. */
static int
parse_fd(struct client *c, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < 0 || v > INT_MAX) {
		client_warnx(c, "--fd %s: not a descriptor number", s);
		return -1;
	}
	if (fcntl((int)v, F_GETFD) == -1) {
		client_warnx(c, "--fd %s: not an open descriptor", s);
		return -1;
	}
	return (int)v;
}

int
client_attach_options(struct client *c, const struct cmd_entry *e, int argc,
    char **argv, json_t *req, int *fd, const char **tap)
{
	static const struct option longopts[] = {
	    {"fd", required_argument, NULL, 'f'},
	    {"tap", required_argument, NULL, 't'},
	    {"mac", required_argument, NULL, 'm'},
	    {"name", required_argument, NULL, 'n'},
	    {"allow", required_argument, NULL, 'a'},
	    {"block", required_argument, NULL, 'b'},
	    {"expose", required_argument, NULL, 'e'},
	    {"ip", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
		case 't':
			if (fd == NULL) {
				client_usage(e, stderr);
				return EXIT_USAGE;
			}
			if (*fd != -1 || *tap != NULL) {
				client_warnx(
				    c, "give one of --fd and --tap, once");
				return EXIT_USAGE;
			}
			if (ch == 't')
				*tap = optarg;
			else if ((*fd = parse_fd(c, optarg)) == -1)
				return EXIT_USAGE;
			break;
		case 'm':
			json_object_set_new(req, "mac", json_string(optarg));
			break;
		case 'n':
			json_object_set_new(req, "name", json_string(optarg));
			break;
		case 'i':
			/* The daemon parses it and decides who may pin it. */
			json_object_set_new(req, "ip", json_string(optarg));
			break;
		case 'a':
		case 'b':
		case 'e':
			if (add_list(c, req,
			        ch == 'a'   ? "allow"
			        : ch == 'b' ? "block"
			                    : "expose",
			        optarg) == -1)
				return EXIT_USAGE;
			break;
		case 'h':
			client_usage(e, stdout);
			return 0;
		default:
			client_usage(e, stderr);
			return EXIT_USAGE;
		}
	}
	return -1;
}

static int
cmd_attach(struct client *c, int argc, char **argv)
{
	json_t *req = json_pack("{s:s}", "op", SOFTNET_OP_ATTACH), *r, *vm;
	const char *tap = NULL;
	char buf[32];
	int fd = -1, rc;

	rc = client_attach_options(
	    c, &cmd_attach_entry, argc, argv, req, &fd, &tap);
	if (rc != -1)
		goto out;
	rc = EXIT_USAGE;
	if (optind != argc || (fd == -1 && tap == NULL)) {
		client_usage(&cmd_attach_entry, stderr);
		goto out;
	}
	rc = EXIT_REFUSED;
	if (tap != NULL && (fd = client_tap_open(c, tap)) == -1)
		goto out;
	if (client_connect(c) == -1)
		goto out;
	r = client_do(c, req, fd);
	req = NULL;
	if (r == NULL)
		goto out;
	vm = json_object_get(r, "vm");
	if (c->json)
		client_print_json(vm);
	else
		printf("attached vm %s%s%s mac %s\n",
		    client_str(json_object_get(vm, "id"), buf, sizeof(buf)),
		    json_is_string(json_object_get(vm, "name")) ? " " : "",
		    json_is_string(json_object_get(vm, "name"))
		        ? json_string_value(json_object_get(vm, "name"))
		        : "",
		    json_string_value(json_object_get(vm, "mac")));
	json_decref(r);
	rc = 0;
out:
	json_decref(req);
	if (tap != NULL && fd != -1)
		close(fd);
	return rc;
}

const struct cmd_entry cmd_attach_entry = {
    "attach",
    "(--fd N | --tap IFNAME) [--mac MAC] [--name NAME] [--ip A]\n"
    "           [--allow LIST]... [--block LIST]... [--expose LIST]...",
    "Hand a VM's packet descriptor to softnetd. The VM stays attached after\n"
    "this command exits, until 'softnetctl detach'.\n"
    "\n"
    "  --fd N          an inherited descriptor: one end of a SOCK_DGRAM\n"
    "                  socket pair carrying one Ethernet frame per datagram,\n"
    "                  or a TAP device\n"
    "  --tap IFNAME    open the TAP device IFNAME in this network namespace\n"
    "  --mac MAC       the VM's MAC address (required with a socket; a TAP's\n"
    "                  own MAC is used when omitted)\n"
    "  --name NAME     a unique name (1-63 of A-Z a-z 0-9 . _ -)\n"
    "  --ip A          the address the VM gets by DHCP (root/admin_group,\n"
    "                  or A reserved for this MAC or NAME in the config)\n"
    "  --allow LIST    CIDRs the VM may reach despite the default rules\n"
    "  --block LIST    CIDRs the VM may not reach; @host is the gateway\n"
    "  --expose LIST   EXT:INT TCP ports to publish on the host\n"
    "\n"
    "LIST is comma-separated; the options repeat. The longest matching\n"
    "prefix decides; on an identical prefix, block wins. Without rules a VM\n"
    "reaches the gateway, DNS and global addresses only, never other VMs.\n",
    cmd_attach,
};
