/*
 * Theory of operation: the event stream (issue #16). The modules that
 * change a VM's life report it here (vm.c attach/detach/expiry, switch.c
 * the DHCP outcome, hung/unhung and rate-limit drops, ctl_ops.c
 * policy.set, main.c start/stop) as one struct event_desc; events_emit
 * formats it once as a JSON line, logs it at info level, and queues it on
 * each subscriber's connection that may see it: root and admin_group see
 * every VM, anyone else only the VMs their uid attached; the daemon's own
 * events (start, stop) go to all.
 *
 * Subscribers are control connections that sent the "events" op; the
 * control server lends a transport (bytes unwritten, queue a line) so this
 * module sits below it and never calls up. Nothing here blocks: a
 * subscriber whose unwritten output would pass EVENTS_MAX_PENDING loses
 * the event (counted for it and in total), and the next event that fits
 * is preceded by one {"event":"lost","count":N} line. Subscribers are
 * bounded: max_event_subscribers in all, the last EVENTS_ADMIN_RESERVE
 * (at most a quarter) kept for root/admin, max_event_subscribers_per_user
 * for any other uid; and each is a control connection, so it counts
 * against the connection limits too.
 *
 * Rate limits drop frames one by one on the fast path; reporting each
 * would flood the stream. A VM's first rate-limit drop opens an episode
 * ("rate_limited"); further drops only count; an episode with no drop for
 * EVENTS_RATE_QUIET_MS is closed by a timer ("rate_unlimited" with the
 * count), and so is a detached VM's before its "detach". Episodes live in
 * a table of max_vms entries allocated at init: the drop path never
 * allocates. Each drop would scan the open episodes for the VM's, once
 * per rate-limited frame while many VMs are limited; so the VM keeps the
 * index of its episode (events_vm.episode, a field of its port), checked
 * against the id since an episode's end moves the last one into its slot;
 * only a miss scans, and refreshes the index.
 */
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "clock.h"
#include "events.h"
#include "log.h"
#include "softnetd.h"
#include "xmalloc.h"

#define EVENTS_TICK_MS 250 /* how often quiet episodes are looked for */

struct events_sub {
	void *conn;
	uid_t uid;
	bool admin;
	/* The --vm filter: a name, a MAC or an id (any may match). */
	bool filtered;
	char name[ADDR_NAMELEN];
	bool has_mac;
	uint8_t mac[6];
	bool has_id;
	uint32_t id;
	uint64_t lost; /* dropped since its last line */
};

struct events_episode {
	uint32_t id;
	char name[ADDR_NAMELEN];
	uint8_t mac[6];
	int64_t owner;
	uint64_t dropped;
	uint64_t last_ns; /* clock_mono() of the last drop */
};

struct events {
	struct events_transport t;
	bool has_t;
	struct events_sub *subs;
	size_t nsubs, maxsubs;
	struct events_episode *eps;
	size_t neps, maxeps;
	struct event *tick;
	uint64_t lost;
};

static const char *const names[EVENTS__COUNT] = {
    [EVENTS_START] = "start",
    [EVENTS_STOP] = "stop",
    [EVENTS_ATTACH] = "attach",
    [EVENTS_DETACH] = "detach",
    [EVENTS_LEASE_BOUND] = "lease_bound",
    [EVENTS_LEASE_RENEWED] = "lease_renewed",
    [EVENTS_LEASE_RELEASED] = "lease_released",
    [EVENTS_LEASE_EXPIRED] = "lease_expired",
    [EVENTS_LEASE_DECLINED] = "lease_declined",
    [EVENTS_POLICY] = "policy",
    [EVENTS_HUNG] = "hung",
    [EVENTS_UNHUNG] = "unhung",
    [EVENTS_RATE_LIMITED] = "rate_limited",
    [EVENTS_RATE_UNLIMITED] = "rate_unlimited",
};

const char *
events_name(enum events_kind kind)
{
	return (unsigned)kind < EVENTS__COUNT ? names[kind] : "unknown";
}

static void events_tick_cb(evutil_socket_t fd, short what, void *arg);

void
events_init(struct softnetd *sd)
{
	struct events *ev;

	if (sd->events != NULL)
		return;
	ev = xcalloc(1, sizeof(*ev));
	ev->maxsubs = sd->cfg.max_event_subscribers;
	ev->subs = xcalloc(ev->maxsubs ? ev->maxsubs : 1, sizeof(*ev->subs));
	ev->maxeps = sd->cfg.max_vms;
	ev->eps = xcalloc(ev->maxeps ? ev->maxeps : 1, sizeof(*ev->eps));
	if (sd->base != NULL && (ev->tick = event_new(sd->base, -1, EV_PERSIST,
	                             events_tick_cb, sd)) == NULL)
		fatalx("events: cannot make the episode timer");
	sd->events = ev;
}

void
events_shutdown(struct softnetd *sd)
{
	struct events *ev = sd->events;

	if (ev == NULL)
		return;
	if (ev->tick != NULL)
		event_free(ev->tick);
	free(ev->subs);
	free(ev->eps);
	free(ev);
	sd->events = NULL;
}

void
events_set_transport(struct softnetd *sd, const struct events_transport *t)
{
	if (sd->events == NULL)
		return;
	sd->events->t = *t;
	sd->events->has_t = true;
}

/* The subscriber slot of conn, or NULL. */
static struct events_sub *
find_sub(struct events *ev, const void *conn)
{
	size_t i;

	for (i = 0; i < ev->nsubs; i++)
		if (ev->subs[i].conn == conn)
			return &ev->subs[i];
	return NULL;
}

/*
 * Why uid may not subscribe now, in msg, or 0: the total, the admin
 * reserve (at most a quarter of the total) and the per-user cap.
 */
static int
sub_refused(
    struct softnetd *sd, uid_t uid, bool admin, char *msg, size_t msglen)
{
	struct events *ev = sd->events;
	size_t reserve = ev->maxsubs / 4, mine = 0, i;

	if (reserve > EVENTS_ADMIN_RESERVE)
		reserve = EVENTS_ADMIN_RESERVE;
	for (i = 0; i < ev->nsubs; i++)
		if (ev->subs[i].uid == uid)
			mine++;
	if (ev->nsubs >= ev->maxsubs)
		snprintf(msg, msglen,
		    "%zu event subscribers (max_event_subscribers)", ev->nsubs);
	else if (!admin && ev->nsubs + reserve >= ev->maxsubs)
		snprintf(msg, msglen,
		    "the last %zu event subscriptions are kept for root and "
		    "the admin group (max_event_subscribers)",
		    reserve);
	else if (!admin && mine >= sd->cfg.max_event_subscribers_per_user)
		snprintf(msg, msglen,
		    "uid %u has %zu event subscriptions "
		    "(max_event_subscribers_per_user)",
		    (unsigned)uid, mine);
	else
		return 0;
	return -1;
}

int
events_subscribe(struct softnetd *sd, void *conn, uid_t uid, bool admin,
    const char *vm, char *msg, size_t msglen)
{
	struct events *ev = sd->events;
	struct events_sub *s;
	char *end;
	unsigned long id;

	if (ev == NULL || !ev->has_t) {
		snprintf(msg, msglen, "no event stream on this connection");
		return -1;
	}
	if (find_sub(ev, conn) != NULL)
		return 0;
	if (sub_refused(sd, uid, admin, msg, msglen) == -1)
		return -1;
	s = &ev->subs[ev->nsubs++];
	memset(s, 0, sizeof(*s));
	s->conn = conn;
	s->uid = uid;
	s->admin = admin;
	if (vm == NULL)
		return 0;
	s->filtered = true;
	snprintf(s->name, sizeof(s->name), "%s", vm);
	s->has_mac = addr_parse_mac(vm, s->mac) == 0;
	id = strtoul(vm, &end, 10);
	s->has_id =
	    vm[0] >= '0' && vm[0] <= '9' && *end == '\0' && id <= UINT32_MAX;
	s->id = (uint32_t)id;
	return 0;
}

void
events_unsubscribe(struct softnetd *sd, void *conn)
{
	struct events *ev = sd->events;
	struct events_sub *s;

	if (ev == NULL || (s = find_sub(ev, conn)) == NULL)
		return;
	*s = ev->subs[--ev->nsubs];
}

bool
events_is_subscriber(struct softnetd *sd, const void *conn)
{
	return sd->events != NULL && find_sub(sd->events, conn) != NULL;
}

size_t
events_subscribers(struct softnetd *sd)
{
	return sd->events != NULL ? sd->events->nsubs : 0;
}

uint64_t
events_lost(struct softnetd *sd)
{
	return sd->events != NULL ? sd->events->lost : 0;
}

/* Whether s may see, and asked for, an event about vm (NULL: daemon's). */
static bool
sub_wants(const struct events_sub *s, const struct events_vm *vm)
{
	if (vm == NULL)
		return true;
	if (!s->admin && vm->owner != (int64_t)s->uid)
		return false;
	if (!s->filtered)
		return true;
	return (vm->name[0] != '\0' && strcmp(vm->name, s->name) == 0) ||
	       (s->has_mac && vm->mac != NULL &&
	           memcmp(vm->mac, s->mac, 6) == 0) ||
	       (s->has_id && vm->id == s->id);
}

void
events_format_ts(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char day[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", day, ts.tv_nsec / 1000000);
}

/* The event as one JSON object (without the newline). */
static json_t *
event_json(const struct event_desc *d, const char *ts)
{
	json_t *o =
	    json_pack("{s:s,s:s}", "ts", ts, "event", events_name(d->kind));
	char buf[ADDR_MAC_STRLEN];

	if (d->vm != NULL) {
		json_object_set_new(o, "vm",
		    d->vm->name[0] ? json_string(d->vm->name) : json_null());
		json_object_set_new(o, "id", json_integer(d->vm->id));
		if (d->vm->mac != NULL) {
			addr_format_mac(d->vm->mac, buf);
			json_object_set_new(o, "mac", json_string(buf));
		}
		json_object_set_new(o, "owner", json_integer(d->vm->owner));
	}
	switch (d->kind) {
	case EVENTS_LEASE_BOUND:
	case EVENTS_LEASE_RENEWED:
		json_object_set_new(o, "expires", json_integer(d->expires));
		/* FALLTHROUGH */
	case EVENTS_LEASE_RELEASED:
	case EVENTS_LEASE_EXPIRED:
	case EVENTS_LEASE_DECLINED:
		addr_format_ipv4(d->ip, buf);
		json_object_set_new(o, "ip", json_string(buf));
		break;
	case EVENTS_POLICY:
		json_object_set_new(
		    o, "revision", json_integer((json_int_t)d->revision));
		break;
	case EVENTS_RATE_UNLIMITED:
		json_object_set_new(
		    o, "dropped", json_integer((json_int_t)d->count));
		break;
	default:
		break;
	}
	return o;
}

/*
 * Queues line on s's connection if it fits under EVENTS_MAX_PENDING,
 * after a "lost" line when s lost events; else counts it lost.
 */
static void
deliver(struct events *ev, struct events_sub *s, const char *ts,
    const char *line, size_t len)
{
	char lost[128];
	int n = 0;

	if (s->lost > 0)
		n = snprintf(lost, sizeof(lost),
		    "{\"ts\":\"%s\",\"event\":\"lost\",\"count\":%llu}\n", ts,
		    (unsigned long long)s->lost);
	if (n < 0 || (size_t)n >= sizeof(lost) ||
	    ev->t.pending(s->conn) + (size_t)n + len > EVENTS_MAX_PENDING) {
		s->lost++;
		ev->lost++;
		return;
	}
	if (n > 0)
		ev->t.write(s->conn, lost, (size_t)n);
	ev->t.write(s->conn, line, len);
	s->lost = 0;
}

static void episode_end(struct softnetd *sd, size_t i);

void
events_emit(struct softnetd *sd, const struct event_desc *d)
{
	struct events *ev = sd->events;
	char ts[48], *s;
	json_t *o;
	size_t i, len;

	if (ev != NULL && d->kind == EVENTS_DETACH && d->vm != NULL)
		for (i = 0; i < ev->neps; i++)
			if (ev->eps[i].id == d->vm->id) {
				episode_end(sd, i);
				break;
			}
	events_format_ts(ts, sizeof(ts));
	o = event_json(d, ts);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)
		fatalx("events: json_dumps failed");
	log_info("event %s", s);
	len = strlen(s);
	if (ev != NULL && ev->has_t) {
		s = xreallocarray(s, 1, len + 2);
		s[len++] = '\n';
		s[len] = '\0';
		for (i = 0; i < ev->nsubs; i++)
			if (sub_wants(&ev->subs[i], d->vm))
				deliver(ev, &ev->subs[i], ts, s, len);
	}
	free(s);
}

/* Closes episode i: "rate_unlimited" with its count. */
static void
episode_end(struct softnetd *sd, size_t i)
{
	struct events *ev = sd->events;
	struct events_episode e = ev->eps[i];
	struct events_vm vm = {e.id, e.name, e.mac, e.owner};
	struct event_desc d = {.kind = EVENTS_RATE_UNLIMITED, .vm = &vm};

	ev->eps[i] = ev->eps[--ev->neps];
	if (ev->neps == 0 && ev->tick != NULL)
		event_del(ev->tick);
	d.count = e.dropped;
	events_emit(sd, &d);
}

void
events_rate_drop(struct softnetd *sd, const struct events_vm *vm, uint64_t n)
{
	struct events *ev = sd->events;
	struct timeval tv = {0, EVENTS_TICK_MS * 1000};
	struct events_episode *e;
	struct event_desc d = {.kind = EVENTS_RATE_LIMITED, .vm = vm};
	size_t i;

	if (ev == NULL)
		return;
	i = vm->episode != NULL ? *vm->episode : 0;
	if (i >= ev->neps || ev->eps[i].id != vm->id)
		for (i = 0; i < ev->neps && ev->eps[i].id != vm->id; i++)
			continue;
	if (vm->episode != NULL)
		*vm->episode = (uint32_t)i; /* the new one's, when none */
	if (i < ev->neps) {
		ev->eps[i].dropped += n;
		ev->eps[i].last_ns = clock_mono();
		return;
	}
	if (ev->neps == ev->maxeps)
		return; /* more episodes than VMs: cannot happen */
	e = &ev->eps[ev->neps++];
	e->id = vm->id;
	snprintf(e->name, sizeof(e->name), "%s", vm->name);
	if (vm->mac != NULL)
		memcpy(e->mac, vm->mac, 6);
	e->owner = vm->owner;
	e->dropped = n;
	e->last_ns = clock_mono();
	if (ev->neps == 1 && ev->tick != NULL)
		event_add(ev->tick, &tv);
	events_emit(sd, &d);
}

void
events_rate_tick(struct softnetd *sd)
{
	struct events *ev = sd->events;
	uint64_t now = clock_mono();
	size_t i = 0;

	if (ev == NULL)
		return;
	while (i < ev->neps) {
		if (now - ev->eps[i].last_ns >=
		    (uint64_t)EVENTS_RATE_QUIET_MS * 1000000)
			episode_end(sd, i); /* the last one moved into i */
		else
			i++;
	}
}

/* Timer callback for events_rate_tick. */
static void
events_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	events_rate_tick(arg);
}
