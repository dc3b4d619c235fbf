/* softnetctl leases: the lease database, one address per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "softnet_proto.h"

/* Sort key of a lease: rows without an address first, then by address. */
static int
lease_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *ix = json_string_value(json_object_get(x, "ip"));
	const char *iy = json_string_value(json_object_get(y, "ip"));
	unsigned long long nx = 0, ny = 0;
	unsigned o[4];

	if (ix != NULL &&
	    sscanf(ix, "%u.%u.%u.%u", &o[0], &o[1], &o[2], &o[3]) == 4)
		nx = 1 + ((unsigned long long)o[0] << 24 | o[1] << 16 |
		             o[2] << 8 | o[3]);
	if (iy != NULL &&
	    sscanf(iy, "%u.%u.%u.%u", &o[0], &o[1], &o[2], &o[3]) == 4)
		ny = 1 + ((unsigned long long)o[0] << 24 | o[1] << 16 |
		             o[2] << 8 | o[3]);
	if (nx != ny)
		return nx < ny ? -1 : 1;
	return strcmp(json_string_value(json_object_get(x, "mac")),
	    json_string_value(json_object_get(y, "mac")));
}

/*
 * Reads every page of `leases` (the daemon answers at most a few hundred
 * rows per request, so a large table never holds its loop) and returns
 * them in one reply object, sorted by address as the table is shown.
 */
static json_t *
leases_all(struct client *c)
{
	json_t *all = json_array(), *r, *next, *req, **v;
	size_t i, n;

	for (next = NULL;;) {
		req = json_pack("{s:s}", "op", SOFTNET_OP_LEASES);
		if (next != NULL)
			json_object_set(req, "after", next);
		json_decref(next);
		if ((r = client_do(c, req, -1)) == NULL) {
			json_decref(all);
			return NULL;
		}
		json_array_extend(all, json_object_get(r, "leases"));
		next = json_object_get(r, "next");
		next = json_is_string(next) ? json_incref(next) : NULL;
		json_decref(r);
		if (next == NULL)
			break;
	}
	n = json_array_size(all);
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL) {
		json_decref(all);
		return NULL;
	}
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(all, i));
	qsort(v, n, sizeof(*v), lease_cmp);
	json_array_clear(all);
	for (i = 0; i < n; i++)
		json_array_append_new(all, v[i]);
	free(v);
	r = json_object();
	json_object_set_new(r, "leases", all);
	return r;
}

static int
cmd_leases(struct client *c, int argc, char **argv)
{
	char b1[32], b2[32], when[32];
	json_t *r, *l, *exp;
	time_t t;
	size_t i;
	int rc;

	/* `leases release MAC`: cmd_lease_release.c. */
	if (argc >= 2 && strcmp(argv[1], "release") == 0)
		return cmd_leases_release(c, argc - 1, argv + 1);
	if ((rc = client_no_args(&cmd_leases_entry, argc, argv)) != -1)
		return rc;
	if (client_connect(c) == -1)
		return EXIT_REFUSED;
	if ((r = leases_all(c)) == NULL)
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
    "[release MAC]",
    "List the lease database: every MAC softnetd knows, its address (or\n"
    "last address), VM name, DHCP hostname, state and expiry.\n"
    "release MAC: forget MAC's lease and owner (root, admin_group or the\n"
    "owner), so that another user may attach MAC.\n",
    cmd_leases,
};
