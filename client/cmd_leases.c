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
	/* A name reservation has no MAC. */
	ix = json_string_value(json_object_get(x, "mac"));
	iy = json_string_value(json_object_get(y, "mac"));
	return strcmp(ix != NULL ? ix : "", iy != NULL ? iy : "");
}

/*
 * Adds the daemon's quarantine list (first page only) to the rows as
 * state "quarantined", expiring when the quarantine ends, so the table
 * and --json show which addresses a DECLINE took out of service.
 */
static void
quarantine_rows(json_t *all, json_t *q)
{
	json_t *e;
	size_t i;

	json_array_foreach(q, i, e) {
		json_array_append_new(all,
		    json_pack("{s:O,s:O,s:n,s:n,s:s,s:O}", "ip",
		        json_object_get(e, "ip"), "mac",
		        json_object_get(e, "mac"), "name", "hostname", "state",
		        "quarantined", "expires", json_object_get(e, "until")));
	}
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
		quarantine_rows(all, json_object_get(r, "quarantine"));
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

#define LEASE_NCOLS 6
#define LEASE_CELL  80 /* a 63-byte name or hostname fits */

/* One row's cells: IP, MAC, NAME, HOSTNAME, STATE, EXPIRES. */
static void
lease_cells(json_t *l, char cell[LEASE_NCOLS][LEASE_CELL])
{
	json_t *exp = json_object_get(l, "expires");
	char b[32];
	time_t t;
	int k;

	snprintf(cell[0], LEASE_CELL, "%s",
	    client_str(json_object_get(l, "ip"), b, sizeof(b)));
	snprintf(cell[1], LEASE_CELL, "%s",
	    client_str(json_object_get(l, "mac"), b, sizeof(b)));
	snprintf(cell[2], LEASE_CELL, "%s",
	    client_str(json_object_get(l, "name"), b, sizeof(b)));
	snprintf(cell[3], LEASE_CELL, "%s",
	    client_str(json_object_get(l, "hostname"), b, sizeof(b)));
	snprintf(cell[4], LEASE_CELL, "%s",
	    client_str(json_object_get(l, "state"), b, sizeof(b)));
	/* A reservation another MAC's older lease still holds. */
	if (!json_is_integer(exp))
		exp = json_object_get(l, "in_use_until");
	if (json_is_integer(exp)) {
		t = (time_t)json_integer_value(exp);
		strftime(
		    cell[5], LEASE_CELL, "%Y-%m-%d %H:%M:%S", localtime(&t));
	} else
		snprintf(cell[5], LEASE_CELL, "-");
	/* Cells come from the daemon: keep the table one line a row. */
	for (k = 0; k < LEASE_NCOLS; k++)
		for (char *ch = cell[k]; *ch != '\0'; ch++)
			if ((unsigned char)*ch < 0x20 || *ch == 0x7f)
				*ch = '?';
}

/*
 * Prints the rows as a table whose columns are as wide as their widest
 * cell, so a long VM name or hostname never shifts the columns after it.
 */
static void
print_table(json_t *rows)
{
	static const char *const head[LEASE_NCOLS] = {
	    "IP", "MAC", "NAME", "HOSTNAME", "STATE", "EXPIRES"};
	char(*cells)[LEASE_NCOLS][LEASE_CELL];
	int w[LEASE_NCOLS], k;
	size_t i, n = json_array_size(rows);
	json_t *l;

	cells = calloc(n + 1, sizeof(*cells));
	if (cells == NULL)
		return;
	for (k = 0; k < LEASE_NCOLS; k++) {
		snprintf(cells[n][k], LEASE_CELL, "%s", head[k]);
		w[k] = (int)strlen(head[k]);
	}
	json_array_foreach(rows, i, l) {
		lease_cells(l, cells[i]);
		for (k = 0; k < LEASE_NCOLS; k++)
			if ((int)strlen(cells[i][k]) > w[k])
				w[k] = (int)strlen(cells[i][k]);
	}
	/* The header (kept in the last slot) first, then every row. */
	for (i = 0; i <= n; i++) {
		const char(*c)[LEASE_CELL] = cells[i == 0 ? n : i - 1];

		printf("%-*s %-*s %-*s %-*s %-*s %s\n", w[0], c[0], w[1], c[1],
		    w[2], c[2], w[3], c[3], w[4], c[4], c[5]);
	}
	free(cells);
}

static int
cmd_leases(struct client *c, int argc, char **argv)
{
	json_t *r;
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
	print_table(json_object_get(r, "leases"));
	json_decref(r);
	return 0;
}

const struct cmd_entry cmd_leases_entry = {
    "leases",
    "[release MAC]",
    "List the lease database: every MAC softnetd knows, its address (or\n"
    "last address), VM name, DHCP hostname, state and expiry; each\n"
    "address a DECLINE put in quarantine (state \"quarantined\", until\n"
    "EXPIRES); and each\n"
    "reservation no VM it serves holds now (state \"reserved\"; EXPIRES is\n"
    "when another MAC's older lease of it ends, if one does).\n"
    "release MAC: forget MAC's lease and owner (root, admin_group or the\n"
    "owner), so that another user may attach MAC.\n",
    cmd_leases,
};
