/*
 * The event stream (events.c, issue #16) with the real VM lifecycle
 * (vm.c), lease database and op dispatch (ctl_ops.c) of a hand-built
 * daemon (testd.c); each subscriber is a sink standing in for a control
 * connection: it keeps what it is sent and reports it as unread, so a
 * sink nobody drains is a client that never reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "ctl_ops.h"
#include "events.h"
#include "leasedb.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "testd.h"
#include "vm.h"

#define T0 1700000000

/* A stand-in for a subscriber's connection. */
struct sink {
	char buf[EVENTS_MAX_PENDING + 4096];
	size_t len;  /* unread bytes */
	size_t next; /* where next_event reads */
};

static struct softnetd sd;
static int64_t fake_now = T0;
static uint64_t fake_mono = 1000000000ull;
static const uint8_t upmac[6] = {0x02, 0x5e, 0, 0, 0, 0xfe};

/* The daemon's clocks, under the test's control. */
static int64_t
test_now(void)
{
	return fake_now;
}

static uint64_t
test_mono(void)
{
	return fake_mono;
}

/* Transport: what the sink holds unread. */
static size_t
sink_pending(void *conn)
{
	return ((struct sink *)conn)->len - ((struct sink *)conn)->next;
}

/* Transport: queues bytes on the sink (the test checks they fit). */
static void
sink_write(void *conn, const char *buf, size_t len)
{
	struct sink *s = conn;

	assert_true(s->len + len <= sizeof(s->buf));
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
}

/* The next line the sink holds, parsed (NULL: none). */
static json_t *
next_event(struct sink *s)
{
	char *nl;
	json_t *o;

	if (s->next == s->len)
		return NULL;
	nl = memchr(s->buf + s->next, '\n', s->len - s->next);
	assert_non_null(nl);
	o = json_loadb(
	    s->buf + s->next, (size_t)(nl - (s->buf + s->next)), 0, NULL);
	assert_non_null(o);
	s->next = (size_t)(nl - s->buf) + 1;
	return o;
}

/* Expects the sink's next event to be named name; returns it. */
static json_t *
expect_event(struct sink *s, const char *name)
{
	json_t *o = next_event(s);

	if (o == NULL)
		fail_msg("expected \"%s\", got nothing", name);
	if (strcmp(json_string_value(json_object_get(o, "event")), name) != 0)
		fail_msg("expected \"%s\", got \"%s\"", name,
		    json_string_value(json_object_get(o, "event")));
	return o;
}

static int
setup(void **state)
{
	static const struct events_transport t = {sink_pending, sink_write};

	(void)state;
	fake_now = T0;
	testd_open(&sd, upmac);
	events_init(&sd);
	events_set_transport(&sd, &t);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	events_shutdown(&sd); /* its timer, before the event base goes */
	testd_close(&sd);
	return 0;
}

/* Attaches a datagram VM of owner with MAC 02:00:00:00:00:n, named name. */
static struct port *
attach(uint8_t n, const char *name, int64_t owner)
{
	struct vm_attach_args a;
	enum vm_err err;
	struct port *p;
	char msg[256];

	memset(&a, 0, sizeof(a));
	a.fd = testd_pair(SOCK_DGRAM, NULL);
	a.kind = OSDEP_FD_DGRAM;
	a.mac[0] = 0x02;
	a.mac[5] = n;
	a.name = name;
	a.owner = owner;
	p = vm_attach(&sd, &a, &err, msg, sizeof(msg));
	if (p == NULL)
		fail_msg("vm_attach: %s", msg);
	return p;
}

static void
subscribe(struct sink *s, uid_t uid, bool admin, const char *vm)
{
	char msg[256];

	assert_int_equal(
	    events_subscribe(&sd, s, uid, admin, vm, msg, sizeof(msg)), 0);
}

/* "ts" is RFC 3339 UTC with milliseconds: 2023-11-14T22:13:20.123Z. */
static void
check_ts(json_t *o)
{
	const char *ts = json_string_value(json_object_get(o, "ts"));
	int y, mo, d, h, mi, s, ms;
	char z;

	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo,
	                     &d, &h, &mi, &s, &ms, &z),
	    8);
	assert_int_equal(z, 'Z');
	assert_true(y >= 2024 && mo >= 1 && mo <= 12 && ms >= 0 && ms <= 999);
}

/*
 * A VM's life through the real vm.c: attach, a lease that expires, a
 * policy event, detach; each one line with its fields.
 */
static void
test_format(void **state)
{
	struct sink *s = calloc(1, sizeof(*s));
	struct event_desc d = {.kind = EVENTS_POLICY, .revision = 7};
	uint32_t got, ip = 0xc0a86905;
	struct port *p;
	json_t *o;

	(void)state;
	subscribe(s, 0, true, NULL);
	p = attach(1, "web", 1000);
	o = expect_event(s, "attach");
	check_ts(o);
	assert_string_equal(json_string_value(json_object_get(o, "vm")), "web");
	assert_int_equal(json_integer_value(json_object_get(o, "id")), p->id);
	assert_string_equal(
	    json_string_value(json_object_get(o, "mac")), "02:00:00:00:00:01");
	assert_int_equal(json_integer_value(json_object_get(o, "owner")), 1000);
	assert_null(json_object_get(o, "ip"));
	json_decref(o);

	assert_int_equal(leasedb_offer(sd.db, p->mac, ip, T0, 60, &got), 0);
	assert_int_equal(leasedb_ack(sd.db, p->mac, ip, "", T0, 60), 0);
	port_set_lease(&sd, p, ip, T0 + 60);
	fake_now = T0 + 61;
	vm_expire(&sd);
	o = expect_event(s, "lease_expired");
	assert_string_equal(
	    json_string_value(json_object_get(o, "ip")), "192.168.105.5");
	json_decref(o);

	port_event(&sd, p, &d);
	o = expect_event(s, "policy");
	assert_int_equal(json_integer_value(json_object_get(o, "revision")), 7);
	json_decref(o);

	vm_detach(&sd, p);
	o = expect_event(s, "detach");
	assert_string_equal(
	    json_string_value(json_object_get(o, "mac")), "02:00:00:00:00:01");
	json_decref(o);

	events_emit(&sd, &(struct event_desc){.kind = EVENTS_STOP});
	o = expect_event(s, "stop");
	check_ts(o);
	assert_null(json_object_get(o, "vm"));
	assert_null(json_object_get(o, "owner"));
	json_decref(o);
	assert_null(next_event(s));
	free(s);
}

/*
 * Who sees what: the owner and admin see a VM's events, another user
 * nothing of it; --vm keeps one VM (by name or id); stop goes to all.
 */
static void
test_visibility(void **state)
{
	struct sink *owner = calloc(1, sizeof(*owner)),
	            *other = calloc(1, sizeof(*other)),
	            *admin = calloc(1, sizeof(*admin)),
	            *byname = calloc(1, sizeof(*byname)),
	            *byid = calloc(1, sizeof(*byid)),
	            *elsewhere = calloc(1, sizeof(*elsewhere));
	char id[16];
	struct port *p, *q;
	json_t *o;

	(void)state;
	subscribe(owner, 1000, false, NULL);
	subscribe(other, 2000, false, NULL);
	subscribe(admin, 3000, true, NULL);
	subscribe(byname, 0, true, "web");
	subscribe(elsewhere, 1000, false, "db");
	p = attach(1, "web", 1000);
	snprintf(id, sizeof(id), "%u", p->id);
	subscribe(byid, 1000, false, id);
	q = attach(2, "db", 2000);
	vm_detach(&sd, p);

	json_decref(expect_event(owner, "attach"));
	json_decref(expect_event(owner, "detach"));
	assert_null(next_event(owner));
	/* 2000 sees its own VM only, never 1000's. */
	o = expect_event(other, "attach");
	assert_string_equal(json_string_value(json_object_get(o, "vm")), "db");
	json_decref(o);
	assert_null(next_event(other));
	json_decref(expect_event(admin, "attach"));
	json_decref(expect_event(admin, "attach"));
	json_decref(expect_event(admin, "detach"));
	assert_null(next_event(admin));
	json_decref(expect_event(byname, "attach"));
	json_decref(expect_event(byname, "detach"));
	assert_null(next_event(byname));
	json_decref(expect_event(byid, "detach"));
	assert_null(next_event(byid));
	/* 1000 asked for "db", which is 2000's: nothing. */
	assert_null(next_event(elsewhere));

	events_emit(&sd, &(struct event_desc){.kind = EVENTS_STOP});
	json_decref(expect_event(owner, "stop"));
	json_decref(expect_event(other, "stop"));
	json_decref(expect_event(elsewhere, "stop"));
	vm_detach(&sd, q);
	free(owner), free(other), free(admin), free(byname), free(byid),
	    free(elsewhere);
}

/*
 * A subscriber that does not read: its output stops at
 * EVENTS_MAX_PENDING, the rest is counted, and once it reads the next
 * event comes after a "lost" line with the count. Another subscriber
 * that reads loses nothing.
 */
static void
test_lost(void **state)
{
	struct sink *slow = calloc(1, sizeof(*slow)),
	            *fast = calloc(1, sizeof(*fast));
	struct port *p;
	unsigned i, sent = 3000, got = 0;
	json_t *o;

	(void)state;
	subscribe(slow, 0, true, NULL);
	subscribe(fast, 0, true, NULL);
	p = attach(1, "web", 1000);
	for (i = 0; i < sent; i++) {
		port_event(&sd, p,
		    &(struct event_desc){.kind = EVENTS_POLICY, .revision = i});
		fast->len = fast->next = 0; /* it reads everything */
	}
	assert_true(slow->len <= EVENTS_MAX_PENDING);
	while ((o = next_event(slow)) != NULL) {
		got++;
		json_decref(o);
	}
	got--; /* the attach */
	assert_true(got > 0 && got < sent);
	assert_int_equal(events_lost(&sd), sent - got);

	/* It has read it all now: the next event fits, after the count. */
	slow->len = slow->next = 0;
	vm_detach(&sd, p);
	o = expect_event(slow, "lost");
	assert_int_equal(
	    json_integer_value(json_object_get(o, "count")), sent - got);
	json_decref(o);
	json_decref(expect_event(slow, "detach"));
	assert_null(next_event(slow));
	json_decref(expect_event(fast, "detach"));
	free(slow), free(fast);
}

/*
 * Rate-limit drops come as episodes: one "rate_limited" at the first
 * drop, one "rate_unlimited" with the count once drops stop for
 * EVENTS_RATE_QUIET_MS, and a detach ends an open one first.
 */
static void
test_rate_episodes(void **state)
{
	struct sink *s = calloc(1, sizeof(*s));
	struct port *p;
	json_t *o;
	int i;

	(void)state;
	subscribe(s, 1000, false, NULL);
	p = attach(1, "web", 1000);
	json_decref(expect_event(s, "attach"));
	for (i = 0; i < 100; i++)
		port_rate_drop(&sd, p);
	json_decref(expect_event(s, "rate_limited"));
	assert_null(next_event(s));
	assert_int_equal(p->st.drops[DROP_RATE_LIMIT], 100);

	/* Still dropping within the quiet time: one episode. */
	fake_mono += (uint64_t)EVENTS_RATE_QUIET_MS * 1000000 / 2;
	port_rate_drop(&sd, p);
	fake_mono += (uint64_t)EVENTS_RATE_QUIET_MS * 1000000 / 2;
	events_rate_tick(&sd);
	assert_null(next_event(s));
	fake_mono += (uint64_t)EVENTS_RATE_QUIET_MS * 1000000;
	events_rate_tick(&sd);
	o = expect_event(s, "rate_unlimited");
	assert_int_equal(
	    json_integer_value(json_object_get(o, "dropped")), 101);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), p->id);
	json_decref(o);
	events_rate_tick(&sd);
	assert_null(next_event(s));

	/* A new episode, ended by the detach before its "detach". */
	port_rate_drop(&sd, p);
	port_rate_drop(&sd, p);
	json_decref(expect_event(s, "rate_limited"));
	vm_detach(&sd, p);
	o = expect_event(s, "rate_unlimited");
	assert_int_equal(json_integer_value(json_object_get(o, "dropped")), 2);
	json_decref(o);
	json_decref(expect_event(s, "detach"));
	assert_null(next_event(s));
	free(s);
}

/*
 * A VM's drop finds its episode through the slot its port keeps; when
 * another VM's episode ends and the last one moves into its slot, the
 * stale slot is noticed (by id), the drop still counts in the same
 * episode (no second "rate_limited"), and the slot is refreshed; a slot
 * now another VM's is never taken for the VM's own.
 */
static void
test_rate_episode_slot(void **state)
{
	struct sink *s = calloc(1, sizeof(*s));
	struct port *a, *b;
	json_t *o;

	(void)state;
	subscribe(s, 0, true, NULL);
	a = attach(1, "a", 1000);
	b = attach(2, "b", 1000);
	json_decref(expect_event(s, "attach"));
	json_decref(expect_event(s, "attach"));
	port_rate_drop(&sd, a);
	port_rate_drop(&sd, b);
	json_decref(expect_event(s, "rate_limited"));
	json_decref(expect_event(s, "rate_limited"));
	assert_int_equal(a->rate_episode, 0);
	assert_int_equal(b->rate_episode, 1);
	/* a goes quiet, b does not: a's end moves b's episode to slot 0. */
	fake_mono += (uint64_t)EVENTS_RATE_QUIET_MS * 1000000 / 2;
	port_rate_drop(&sd, b);
	assert_int_equal(b->rate_episode, 1);
	fake_mono += (uint64_t)EVENTS_RATE_QUIET_MS * 1000000 / 2;
	events_rate_tick(&sd);
	o = expect_event(s, "rate_unlimited");
	assert_int_equal(json_integer_value(json_object_get(o, "id")), a->id);
	json_decref(o);
	port_rate_drop(&sd, b);
	assert_null(next_event(s)); /* the same episode */
	assert_int_equal(b->rate_episode, 0);
	/* a's old slot is b's now: a's next drop opens an episode of its own.
	 */
	port_rate_drop(&sd, a);
	o = expect_event(s, "rate_limited");
	assert_int_equal(json_integer_value(json_object_get(o, "id")), a->id);
	json_decref(o);
	assert_int_equal(a->rate_episode, 1);
	vm_detach(&sd, b);
	o = expect_event(s, "rate_unlimited");
	assert_int_equal(json_integer_value(json_object_get(o, "dropped")), 3);
	json_decref(o);
	json_decref(expect_event(s, "detach"));
	vm_detach(&sd, a);
	o = expect_event(s, "rate_unlimited");
	assert_int_equal(json_integer_value(json_object_get(o, "dropped")), 1);
	json_decref(o);
	json_decref(expect_event(s, "detach"));
	assert_null(next_event(s));
	free(s);
}

/* Sends one request line through the real dispatch; the reply. */
static json_t *
request(const char *line, uid_t uid, bool admin, void *session)
{
	struct ctl_peer peer = {uid, uid, admin};

	return ctl_ops_request(&sd, &peer, line, strlen(line), -1, session);
}

/* Expects reply to be an error of code; frees it. */
static void
expect_error(json_t *reply, const char *code)
{
	json_t *e = json_object_get(reply, "error");

	assert_true(json_is_false(json_object_get(reply, "ok")));
	assert_string_equal(
	    json_string_value(json_object_get(e, "code")), code);
	json_decref(reply);
}

/*
 * The "events" op subscribes within the limits: per user, the admin
 * reserve, the total; "busy" past them, and a freed slot is reusable.
 */
static void
test_op_limits(void **state)
{
	static struct sink s[10];
	const char *req = "{\"op\":\"events\",\"id\":1}";
	json_t *r;
	int i;

	(void)state;
	/* max_event_subscribers 8: the last 2 kept for root and admin. */
	events_shutdown(&sd);
	sd.cfg.max_event_subscribers = 8;
	events_init(&sd);
	events_set_transport(
	    &sd, &(struct events_transport){sink_pending, sink_write});
	for (i = 0; i < 4; i++) {
		r = request(req, 1000, false, &s[i]);
		assert_true(json_is_true(json_object_get(r, "ok")));
		assert_string_equal(
		    json_string_value(json_object_get(r, "event")),
		    "subscribed");
		assert_non_null(json_object_get(r, "started"));
		check_ts(r);
		json_decref(r);
	}
	expect_error(request(req, 1000, false, &s[4]), SOFTNET_E_BUSY);
	assert_int_equal(events_subscribers(&sd), 4);
	for (i = 4; i < 6; i++) {
		r = request(req, 2000, false, &s[i]);
		assert_true(json_is_true(json_object_get(r, "ok")));
		json_decref(r);
	}
	/* The last two are root's and the admin group's. */
	expect_error(request(req, 3000, false, &s[6]), SOFTNET_E_BUSY);
	for (i = 6; i < 8; i++) {
		r = request(req, 3000, true, &s[i]);
		assert_true(json_is_true(json_object_get(r, "ok")));
		json_decref(r);
	}
	expect_error(request(req, 0, true, &s[8]), SOFTNET_E_BUSY);
	events_unsubscribe(&sd, &s[0]);
	assert_false(events_is_subscriber(&sd, &s[0]));
	r = request(req, 0, true, &s[8]);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	assert_true(events_is_subscriber(&sd, &s[8]));
	/* Bad "vm" and no connection to stream on. */
	expect_error(request("{\"op\":\"events\",\"vm\":5}", 0, true, &s[9]),
	    SOFTNET_E_BAD_REQUEST);
	expect_error(request(req, 0, true, NULL), SOFTNET_E_BUSY);
	assert_false(events_is_subscriber(&sd, &s[9]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_visibility, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rate_episodes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rate_episode_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_op_limits, setup, teardown),
	};

	clock_set_hook(test_now, test_mono);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
