/*
 * softnetctl policy show|set: read or atomically replace a VM's allow and
 * block rules while it runs. The change takes effect on the VM's next frame.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "softnet_proto.h"

/* Prints a policy object as "allow:", "block:", "expose:", "revision:". */
static void
print_policy(json_t *pol)
{
	static const char *const keys[] = {"allow", "block", "expose"};
	json_t *v;
	size_t i, k;

	for (k = 0; k < 3; k++) {
		printf("%-10s", keys[k]);
		if (json_array_size(json_object_get(pol, keys[k])) == 0)
			fputs("-", stdout);
		json_array_foreach(json_object_get(pol, keys[k]), i, v) {
			printf("%s%s", i ? "," : "", json_string_value(v));
		}
		putchar('\n');
	}
	printf("%-10s%lld\n", "revision",
	    (long long)json_integer_value(json_object_get(pol, "revision")));
}

/* Appends a comma list to req[key]; -1 on an empty item. */
static int
add_rules(struct client *c, json_t *req, const char *key, const char *list)
{
	if (client_split(json_object_get(req, key), list) == -1) {
		client_warnx(c, "--%s \"%s\": empty item in list", key, list);
		return -1;
	}
	return 0;
}

static int
cmd_policy(struct client *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"allow", required_argument, NULL, 'a'},
	    {"block", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	json_t *req = NULL, *r;
	const char *verb;
	int ch, rc = EXIT_USAGE;

	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		client_usage(&cmd_policy_entry, stdout);
		return 0;
	}
	if (argc < 3 ||
	    (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "set") != 0)) {
		client_usage(&cmd_policy_entry, stderr);
		return EXIT_USAGE;
	}
	verb = argv[1];
	if (strcmp(verb, "show") == 0) {
		if (argc != 3) {
			client_usage(&cmd_policy_entry, stderr);
			return EXIT_USAGE;
		}
		req = json_pack(
		    "{s:s,s:s}", "op", SOFTNET_OP_POLICY_GET, "vm", argv[2]);
	} else {
		req = json_pack("{s:s,s:s,s:[],s:[]}", "op",
		    SOFTNET_OP_POLICY_SET, "vm", argv[2], "allow", "block");
		optind = 3;
		while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) !=
		       -1) {
			if (ch == 'h') {
				client_usage(&cmd_policy_entry, stdout);
				rc = 0;
				goto out;
			}
			if (ch != 'a' && ch != 'b') {
				client_usage(&cmd_policy_entry, stderr);
				goto out;
			}
			if (add_rules(c, req, ch == 'a' ? "allow" : "block",
			        optarg) == -1)
				goto out;
		}
		if (optind != argc) {
			client_usage(&cmd_policy_entry, stderr);
			goto out;
		}
	}
	rc = EXIT_REFUSED;
	if (client_connect(c) == -1)
		goto out;
	r = client_do(c, req, -1);
	req = NULL;
	if (r == NULL)
		goto out;
	if (c->json)
		client_print_json(json_object_get(r, "policy"));
	else
		print_policy(json_object_get(r, "policy"));
	json_decref(r);
	rc = 0;
out:
	json_decref(req);
	return rc;
}

const struct cmd_entry cmd_policy_entry = {
    "policy",
    "show VM | set VM [--allow LIST]... [--block LIST]...",
    "Show a VM's rules, or replace its allow and block rules in one step\n"
    "(set with neither option clears them). The change takes effect on the\n"
    "VM's next frame and bumps the policy revision; exposed ports stay.\n"
    "Only the VM's owner, root and the admin group may change it.\n",
    cmd_policy,
};
