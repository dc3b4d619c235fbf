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

static int
cmd_attach(struct client *c, int argc, char **argv)
{
	struct client_attach a = {.fe = CLIENT_FE_CTL,
	    .e = &cmd_attach_entry,
	    .fd = -1,
	    .req = json_pack("{s:s}", "op", SOFTNET_OP_ATTACH)};
	json_t *r, *vm;
	char buf[32];
	int rc;

	rc = client_attach_options(c, &a, argc, argv);
	if (rc != -1)
		goto out;
	rc = EXIT_USAGE;
	if (optind != argc || (a.fd == -1 && a.tap == NULL)) {
		client_usage(&cmd_attach_entry, stderr);
		goto out;
	}
	rc = EXIT_REFUSED;
	if (a.tap != NULL && (a.fd = client_tap_open(c, a.tap)) == -1)
		goto out;
	if (client_connect(c) == -1)
		goto out;
	r = client_do(c, a.req, a.fd);
	a.req = NULL;
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
	json_decref(a.req);
	if (a.tap != NULL && a.fd != -1)
		close(a.fd);
	return rc;
}

const struct cmd_entry cmd_attach_entry = {
    "attach",
    "(--fd N | --tap IFNAME) [--mac MAC] [--name NAME] [--ip A]\n"
    "           [--allow LIST]... [--block LIST]... [--expose LIST]...",
    "Hand a VM's packet descriptor to softnetd. The VM stays attached after\n"
    "this command exits, until 'softnetctl detach'.\n"
    "\n",
    cmd_attach,
    "\n"
    "LIST is comma-separated; the options repeat. The longest matching\n"
    "prefix decides; on an identical prefix, block wins. Without rules a VM\n"
    "reaches the gateway, DNS and global addresses only, never other VMs.\n",
    client_attach_help_ctl,
};
