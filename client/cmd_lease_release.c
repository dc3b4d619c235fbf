/*
 * softnetctl leases release MAC: forgets a MAC's lease and its owner, so
 * that another user may attach that MAC (a MAC belongs to the uid that
 * first attached it, across detaches and daemon restarts, until this).
 * Root, admin_group or the MAC's owner; reached through `leases`.
 */
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "softnet_proto.h"

/* The usage line and help shown by `leases release --help`. */
static const struct cmd_entry release_entry = {
    "leases release",
    "MAC",
    "Forget MAC's lease: its address, its hint and its owner. Afterwards\n"
    "any user may attach MAC. Root, admin_group or the MAC's owner only;\n"
    "an attached MAC must be detached first.\n",
    NULL,
};

int
cmd_leases_release(struct client *c, int argc, char **argv)
{
	json_t *r;

	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		client_usage(&release_entry, stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		client_usage(&release_entry, stderr);
		return EXIT_USAGE;
	}
	if (client_connect(c) == -1)
		return EXIT_REFUSED;
	if ((r = client_do(c,
	         json_pack("{s:s,s:s}", "op", SOFTNET_OP_LEASE_RELEASE, "mac",
	             argv[1]),
	         -1)) == NULL)
		return EXIT_REFUSED;
	if (c->json)
		client_print_json(json_object_get(r, "lease"));
	else
		printf("released %s\n",
		    json_string_value(
		        json_object_get(json_object_get(r, "lease"), "mac")));
	json_decref(r);
	return 0;
}
