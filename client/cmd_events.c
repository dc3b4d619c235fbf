/*
 * softnetctl events [--vm VM]: follows the daemon's event stream (issue
 * #16) until interrupted or until softnetd stops: the "events" op turns
 * this connection into one JSON line per event the caller may see. With
 * --json each line is printed as it came (the first is the "subscribed"
 * one, with the daemon's start time); without, one aligned line each.
 * Output is flushed per event so that a pipe sees it at once.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "softnet_proto.h"

/* The fields after the VM in a human line, as "key value" pairs. */
static void
print_details(json_t *ev, char *buf, size_t len)
{
	static const char *const keys[] = {
	    "ip", "expires", "revision", "dropped", "count", "started", NULL};
	char val[64];
	size_t off = 0, i;
	json_t *v;
	int n;

	buf[0] = '\0';
	for (i = 0; keys[i] != NULL; i++) {
		if ((v = json_object_get(ev, keys[i])) == NULL)
			continue;
		n = snprintf(buf + off, len - off, "%s%s %s", off ? " " : "",
		    keys[i], client_str(v, val, sizeof(val)));
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

/* Prints one event as an aligned line: time, event, VM, owner, details. */
static void
print_human(json_t *ev)
{
	char vm[96], id[32], user[64], det[256], b[64], line[512];
	json_t *name = json_object_get(ev, "vm");
	json_t *owner = json_object_get(ev, "owner");
	size_t n;

	vm[0] = '\0';
	if (json_object_get(ev, "id") != NULL)
		snprintf(vm, sizeof(vm), "%s#%s",
		    json_is_string(name) ? json_string_value(name) : "",
		    client_str(json_object_get(ev, "id"), id, sizeof(id)));
	print_details(ev, det, sizeof(det));
	snprintf(line, sizeof(line), "%-24s %-15s %-24s %-17s %-10s %s",
	    client_str(json_object_get(ev, "ts"), b, sizeof(b)),
	    json_is_string(json_object_get(ev, "event"))
	        ? json_string_value(json_object_get(ev, "event"))
	        : "?",
	    vm[0] ? vm : "-",
	    json_is_string(json_object_get(ev, "mac"))
	        ? json_string_value(json_object_get(ev, "mac"))
	        : "-",
	    owner != NULL
	        ? client_user(json_integer_value(owner), user, sizeof(user))
	        : "-",
	    det);
	/* No trailing blanks when the event has no fields of its own. */
	n = strlen(line);
	while (n > 0 && line[n - 1] == ' ')
		line[--n] = '\0';
	printf("%s\n", line);
}

/* Prints one event (consumed) in the chosen form; -1 when stdout fails. */
static int
print_event(struct client *c, json_t *ev)
{
	char *s;

	if (c->json) {
		if ((s = json_dumps(ev, JSON_COMPACT)) != NULL) {
			printf("%s\n", s);
			free(s);
		}
	} else {
		print_human(ev);
	}
	json_decref(ev);
	return fflush(stdout) == EOF || ferror(stdout) ? -1 : 0;
}

/* Reads event lines until the daemon closes; the exit status. */
static int
follow(struct client *c)
{
	FILE *in;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	json_t *ev;
	bool stopped = false;

	if ((in = fdopen(c->fd, "r")) == NULL) {
		client_warnx(c, "fdopen: %s", strerror(errno));
		return EXIT_REFUSED;
	}
	c->fd = -1; /* in owns it */
	while ((n = getline(&line, &cap, in)) > 0) {
		if ((ev = json_loadb(line, (size_t)n, 0, NULL)) == NULL ||
		    !json_is_object(ev)) {
			json_decref(ev);
			continue;
		}
		stopped =
		    json_is_string(json_object_get(ev, "event")) &&
		    strcmp(json_string_value(json_object_get(ev, "event")),
		        "stop") == 0;
		if (print_event(c, ev) == -1)
			break;
	}
	free(line);
	fclose(in);
	if (stopped)
		return 0;
	client_warnx(c, "softnetd closed the event stream");
	return EXIT_REFUSED;
}

static int
cmd_events(struct client *c, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"vm", required_argument, NULL, 'v'},
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *vm = NULL;
	json_t *req, *r;
	int ch;

	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			vm = optarg;
			break;
		case 'j':
			c->json = true;
			break;
		case 'h':
			client_usage(&cmd_events_entry, stdout);
			return 0;
		default:
			client_usage(&cmd_events_entry, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		client_usage(&cmd_events_entry, stderr);
		return EXIT_USAGE;
	}
	if (client_connect(c) == -1)
		return EXIT_REFUSED;
	req = json_pack("{s:s}", "op", SOFTNET_OP_EVENTS);
	if (vm != NULL)
		json_object_set_new(req, "vm", json_string(vm));
	if ((r = client_do(c, req, -1)) == NULL)
		return EXIT_REFUSED;
	json_object_del(r, "ok");
	json_object_del(r, "id");
	if (print_event(c, r) == -1)
		return EXIT_REFUSED;
	return follow(c);
}

const struct cmd_entry cmd_events_entry = {
    "events",
    "[--vm VM]",
    "Follow what happens to the VMs you may see (all of them for root and\n"
    "the admin group), one line per event, until interrupted: attach,\n"
    "detach, lease_bound, lease_renewed, lease_released, lease_expired,\n"
    "lease_declined, policy, hung, unhung, rate_limited, rate_unlimited,\n"
    "and the daemon's stop. The first line, \"subscribed\", gives the\n"
    "daemon's start time; a \"lost\" line counts events dropped because\n"
    "this reader fell behind.\n"
    "  --vm VM   only the VM with this name, MAC or id\n"
    "  --json    one JSON object per line, as softnetd sent it\n",
    cmd_events,
};
