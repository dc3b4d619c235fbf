/* softnetctl status: the daemon, its uplink and its address pool. */
#include <stdio.h>

#include "client.h"
#include "softnet_proto.h"

/* The DNS forwarder's line, when it is on. */
static void
print_dns(json_t *dns)
{
	char b1[32], b2[32];

	if (!json_is_object(dns))
		return;
	printf("dns:      %s in flight of ",
	    client_str(json_object_get(dns, "in_flight"), b1, sizeof(b1)));
	printf("%s, ", client_str(json_object_get(dns, "max"), b2, sizeof(b2)));
	printf("%s refused over a share\n",
	    client_str(json_object_get(dns, "refused"), b1, sizeof(b1)));
}

static int
cmd_status(struct client *c, int argc, char **argv)
{
	json_t *r, *s, *up, *pool;
	char b1[32], b2[32];
	int rc;

	if ((rc = client_no_args(&cmd_status_entry, argc, argv)) != -1)
		return rc;
	if (client_connect(c) == -1)
		return EXIT_REFUSED;
	if ((r = client_do(
	         c, json_pack("{s:s}", "op", SOFTNET_OP_STATUS), -1)) == NULL)
		return EXIT_REFUSED;
	s = json_object_get(r, "status");
	if (c->json) {
		client_print_json(s);
		json_decref(r);
		return 0;
	}
	up = json_object_get(s, "uplink");
	pool = json_object_get(s, "pool");
	printf("softnetd %s (protocol %s), up %s s\n",
	    json_string_value(json_object_get(s, "version")),
	    client_str(json_object_get(s, "protocol"), b1, sizeof(b1)),
	    client_str(json_object_get(s, "uptime"), b2, sizeof(b2)));
	printf(
	    "socket:   %s\n", json_string_value(json_object_get(s, "socket")));
	printf("database: %s\n",
	    json_string_value(json_object_get(s, "database")));
	printf("vms:      %s of %s\n",
	    client_str(json_object_get(s, "vms"), b1, sizeof(b1)),
	    client_str(json_object_get(s, "max_vms"), b2, sizeof(b2)));
	printf("uplink:   %s %s, gateway %s",
	    json_string_value(json_object_get(up, "type")),
	    json_string_value(json_object_get(up, "name")),
	    client_str(json_object_get(up, "gateway"), b1, sizeof(b1)));
	printf(" netmask %s mtu %s\n",
	    client_str(json_object_get(up, "netmask"), b1, sizeof(b1)),
	    client_str(json_object_get(up, "mtu"), b2, sizeof(b2)));
	printf("pool:     %s - ",
	    client_str(json_object_get(pool, "start"), b1, sizeof(b1)));
	printf(
	    "%s\n", client_str(json_object_get(pool, "end"), b2, sizeof(b2)));
	print_dns(json_object_get(s, "dns"));
	json_decref(r);
	return 0;
}

const struct cmd_entry cmd_status_entry = {
    "status",
    "",
    "Show the daemon's version, uptime, uplink and address pool.\n",
    cmd_status,
};
