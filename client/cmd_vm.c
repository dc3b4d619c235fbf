/*
 * softnetctl detach, show and stats: the commands that name one VM (by
 * name, MAC or id). stats without a VM shows every VM's counters.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "softnet_proto.h"

/*
 * Parses "[--help] VM" (VM optional when optional_vm). Returns the VM, ""
 * when absent, or NULL with *rc set when the command is done.
 */
static const char *
vm_arg(
    const struct cmd_entry *e, int argc, char **argv, bool optional_vm, int *rc)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			client_usage(e, stdout);
			*rc = 0;
		} else {
			client_usage(e, stderr);
			*rc = EXIT_USAGE;
		}
		return NULL;
	}
	if (optind == argc && optional_vm)
		return "";
	if (optind + 1 != argc) {
		client_usage(e, stderr);
		*rc = EXIT_USAGE;
		return NULL;
	}
	return argv[optind];
}

/* Prints a comma list of the strings in arr, or "-". */
static void
print_list(const char *label, json_t *arr)
{
	json_t *v;
	size_t i;

	printf("%-14s", label);
	if (json_array_size(arr) == 0)
		fputs("-", stdout);
	json_array_foreach(arr, i, v) {
		printf("%s%s", i ? "," : "", json_string_value(v));
	}
	putchar('\n');
}

/* Prints the drop counters that are not zero. */
static void
print_drops(json_t *drops)
{
	const char *key;
	json_t *v;
	int n = 0;

	printf("%-14s", "drops:");
	json_object_foreach(drops, key, v) {
		if (json_integer_value(v) != 0)
			printf("%s%s %lld", n++ ? ", " : "", key,
			    (long long)json_integer_value(v));
	}
	puts(n ? "" : "none");
}

/* Prints one VM in detail. */
static void
print_vm(json_t *vm)
{
	json_t *st = json_object_get(vm, "stats");
	json_t *pol = json_object_get(vm, "policy");
	char buf[64];
	time_t t;

	printf("%-14s%s\n",
	    "id:", client_str(json_object_get(vm, "id"), buf, sizeof(buf)));
	printf("%-14s%s\n",
	    "name:", client_str(json_object_get(vm, "name"), buf, sizeof(buf)));
	printf(
	    "%-14s%s\n", "mac:", json_string_value(json_object_get(vm, "mac")));
	printf("%-14s%s\n",
	    "ip:", client_str(json_object_get(vm, "ip"), buf, sizeof(buf)));
	printf("%-14s%s\n",
	    "state:", json_string_value(json_object_get(vm, "state")));
	printf("%-14s%s\n",
	    "kind:", json_string_value(json_object_get(vm, "kind")));
	printf("%-14s%s\n", "owner:",
	    client_user(json_integer_value(json_object_get(vm, "owner")), buf,
	        sizeof(buf)));
	printf("%-14s%s\n", "session:",
	    client_str(json_object_get(vm, "session"), buf, sizeof(buf)));
	if (json_is_integer(json_object_get(vm, "lease_expires"))) {
		t = (time_t)json_integer_value(
		    json_object_get(vm, "lease_expires"));
		strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", localtime(&t));
		printf("%-14s%s\n", "lease until:", buf);
	}
	if (pol != NULL) {
		print_list("allow:", json_object_get(pol, "allow"));
		print_list("block:", json_object_get(pol, "block"));
		print_list("expose:", json_object_get(pol, "expose"));
	}
	if (st != NULL) {
		printf("%-14s%lld frames, %lld bytes\n", "sent by vm:",
		    (long long)json_integer_value(
		        json_object_get(st, "tx_frames")),
		    (long long)json_integer_value(
		        json_object_get(st, "tx_bytes")));
		printf("%-14s%lld frames, %lld bytes\n", "sent to vm:",
		    (long long)json_integer_value(
		        json_object_get(st, "rx_frames")),
		    (long long)json_integer_value(
		        json_object_get(st, "rx_bytes")));
		print_drops(json_object_get(st, "drops"));
		if (json_integer_value(json_object_get(st, "backlog")) > 0)
			printf("%-14s%lld frames wait for the vm to read\n",
			    "backlog:",
			    (long long)json_integer_value(
			        json_object_get(st, "backlog")));
		if (json_is_true(json_object_get(st, "hung")))
			printf("%-14sreads nothing: its frames are dropped "
			       "at the uplink\n",
			    "hung:");
		/* Issue 14: DECLINEs and ignored DHCP options, when any. */
		if (json_integer_value(json_object_get(st, "dhcp_declines")) >
		        0 ||
		    json_integer_value(
		        json_object_get(st, "dhcp_bad_options")) > 0)
			printf("%-14s%lld declines, %lld bad options ignored\n",
			    "dhcp:",
			    (long long)json_integer_value(
			        json_object_get(st, "dhcp_declines")),
			    (long long)json_integer_value(
			        json_object_get(st, "dhcp_bad_options")));
		/* DNS queries over its share, answered SERVFAIL. */
		if (json_integer_value(json_object_get(st, "dns_refused")) > 0)
			printf("%-14s%lld queries refused (over its share)\n",
			    "dns:",
			    (long long)json_integer_value(
			        json_object_get(st, "dns_refused")));
	}
}

/* Runs op on one named VM and prints the VM (or just a line for detach). */
static int
vm_command(const struct cmd_entry *e, const char *op, struct client *c,
    int argc, char **argv)
{
	const char *vm;
	json_t *r, *v;
	size_t i;
	int rc = EXIT_USAGE;

	if ((vm = vm_arg(e, argc, argv, strcmp(op, SOFTNET_OP_STATS) == 0,
	         &rc)) == NULL)
		return rc;
	if (client_connect(c) == -1)
		return EXIT_REFUSED;
	if (vm[0] != '\0')
		r = client_do(
		    c, json_pack("{s:s,s:s}", "op", op, "vm", vm), -1);
	else
		r = client_do(c, json_pack("{s:s}", "op", op), -1);
	if (r == NULL)
		return EXIT_REFUSED;
	if (c->json) {
		client_print_json(vm[0] != '\0' ? json_object_get(r, "vm")
		                                : json_object_get(r, "vms"));
	} else if (strcmp(op, SOFTNET_OP_DETACH) == 0) {
		printf("detached vm %s\n", vm);
	} else if (vm[0] != '\0') {
		print_vm(json_object_get(r, "vm"));
	} else {
		json_array_foreach(json_object_get(r, "vms"), i, v) {
			if (i > 0)
				putchar('\n');
			print_vm(v);
		}
	}
	json_decref(r);
	return 0;
}

static int
cmd_detach(struct client *c, int argc, char **argv)
{
	return vm_command(&cmd_detach_entry, SOFTNET_OP_DETACH, c, argc, argv);
}

static int
cmd_show(struct client *c, int argc, char **argv)
{
	return vm_command(&cmd_show_entry, SOFTNET_OP_SHOW, c, argc, argv);
}

static int
cmd_stats(struct client *c, int argc, char **argv)
{
	return vm_command(&cmd_stats_entry, SOFTNET_OP_STATS, c, argc, argv);
}

const struct cmd_entry cmd_detach_entry = {
    "detach",
    "VM",
    "Detach a VM (by name, MAC or id): its descriptor is closed and its\n"
    "lease released at once. Others' VMs need root or the admin group.\n",
    cmd_detach,
};

const struct cmd_entry cmd_show_entry = {
    "show",
    "VM",
    "Show one VM (by name, MAC or id): address, lease, policy, counters.\n",
    cmd_show,
};

const struct cmd_entry cmd_stats_entry = {
    "stats",
    "[VM]",
    "Show frame and byte counters and drops by reason for one VM, or for\n"
    "every VM you may see. 'sent by vm' counts what the VM transmitted.\n",
    cmd_stats,
};
