/* softnetctl list: the attached VMs you may see, one line each. */
#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "softnet_proto.h"

static int
cmd_list(struct client *c, int argc, char **argv)
{
	char b1[32], b2[32], b3[32], user[64];
	json_t *r, *vm;
	size_t i;
	int rc;

	if ((rc = client_no_args(&cmd_list_entry, argc, argv)) != -1)
		return rc;
	if (client_connect(c) == -1)
		return EXIT_REFUSED;
	if ((r = client_do(c, json_pack("{s:s}", "op", SOFTNET_OP_LIST), -1)) ==
	    NULL)
		return EXIT_REFUSED;
	if (c->json) {
		client_print_json(json_object_get(r, "vms"));
		json_decref(r);
		return 0;
	}
	printf("%-5s %-16s %-17s %-15s %-10s %-8s %10s %10s\n", "ID", "NAME",
	    "MAC", "IP", "OWNER", "STATE", "RX", "TX");
	json_array_foreach(json_object_get(r, "vms"), i, vm) {
		printf("%-5s %-16s %-17s %-15s %-10s %-8s %10s %10s\n",
		    client_str(json_object_get(vm, "id"), b1, sizeof(b1)),
		    client_str(json_object_get(vm, "name"), b1 + 16, 16),
		    json_string_value(json_object_get(vm, "mac")),
		    client_str(json_object_get(vm, "ip"), b2, sizeof(b2)),
		    client_user(
		        json_integer_value(json_object_get(vm, "owner")), user,
		        sizeof(user)),
		    json_string_value(json_object_get(vm, "state")),
		    client_str(json_object_get(vm, "rx_frames"), b3, 16),
		    client_str(json_object_get(vm, "tx_frames"), b3 + 16, 16));
	}
	json_decref(r);
	return 0;
}

const struct cmd_entry cmd_list_entry = {
    "list",
    "",
    "List the attached VMs you may see (all of them for root and the admin\n"
    "group). RX and TX count frames received and sent by each VM.\n",
    cmd_list,
};
