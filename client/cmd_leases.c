/* softnetctl leases: the lease database, one address per line. */
#include <stdio.h>
#include <time.h>

#include "client.h"
#include "softnet_proto.h"

static int
cmd_leases(struct client *c, int argc, char **argv)
{
	char b1[32], b2[32], when[32];
	json_t *r, *l, *exp;
	time_t t;
	size_t i;
	int rc;

	if ((rc = client_no_args(&cmd_leases_entry, argc, argv)) != -1)
		return rc;
	if (client_connect(c) == -1)
		return EXIT_REFUSED;
	if ((r = client_do(
	         c, json_pack("{s:s}", "op", SOFTNET_OP_LEASES), -1)) == NULL)
		return EXIT_REFUSED;
	if (c->json) {
		client_print_json(json_object_get(r, "leases"));
		json_decref(r);
		return 0;
	}
	printf("%-15s %-17s %-16s %-16s %-9s %s\n", "IP", "MAC", "NAME",
	    "HOSTNAME", "STATE", "EXPIRES");
	json_array_foreach(json_object_get(r, "leases"), i, l)
	{
		exp = json_object_get(l, "expires");
		if (json_is_integer(exp)) {
			t = (time_t)json_integer_value(exp);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
			    localtime(&t));
		} else {
			snprintf(when, sizeof(when), "-");
		}
		printf("%-15s %-17s %-16s %-16s %-9s %s\n",
		    client_str(json_object_get(l, "ip"), b1, sizeof(b1)),
		    json_string_value(json_object_get(l, "mac")),
		    client_str(json_object_get(l, "name"), b2, sizeof(b2)),
		    client_str(json_object_get(l, "hostname"), b2 + 16, 16),
		    json_string_value(json_object_get(l, "state")), when);
	}
	json_decref(r);
	return 0;
}

const struct cmd_entry cmd_leases_entry = {
    "leases",
    "",
    "List the lease database: every MAC softnetd knows, its address (or\n"
    "last address), VM name, DHCP hostname, state and expiry.\n",
    cmd_leases,
};
