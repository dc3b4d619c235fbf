/*
 * The live event stream (issue #16): what happened to which VM, one JSON
 * line per event, to every control connection subscribed with the
 * "events" op that may see that VM, and one info line to the log. Below
 * vm, port, switch and the ops (they report); the control server lends it
 * a transport (events_set_transport) to queue bytes on a connection, so
 * it never calls up into control.
 */
#ifndef SOFTNET_EVENTS_H
#define SOFTNET_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct softnetd;

/* What happened; the wire names are events_name()'s. */
enum events_kind {
	EVENTS_START,          /* "start": the daemon is up */
	EVENTS_STOP,           /* "stop": the daemon is shutting down */
	EVENTS_ATTACH,         /* "attach" */
	EVENTS_DETACH,         /* "detach" */
	EVENTS_LEASE_BOUND,    /* "lease_bound": a new address ACKed */
	EVENTS_LEASE_RENEWED,  /* "lease_renewed": the same one ACKed again */
	EVENTS_LEASE_RELEASED, /* "lease_released": RELEASE (or NAK) */
	EVENTS_LEASE_EXPIRED,  /* "lease_expired": not renewed in time */
	EVENTS_LEASE_DECLINED, /* "lease_declined": the guest found it in use */
	EVENTS_POLICY,         /* "policy": policy.set took a new revision */
	EVENTS_HUNG,           /* "hung": the VM reads nothing */
	EVENTS_UNHUNG,         /* "unhung": it reads again */
	EVENTS_RATE_LIMITED,   /* "rate_limited": an episode of drops began */
	EVENTS_RATE_UNLIMITED, /* "rate_unlimited": it ended; "dropped" */
	EVENTS__COUNT,
};

/* The VM an event is about, as its port has it now. */
struct events_vm {
	uint32_t id;
	const char *name; /* "" when unnamed */
	const uint8_t *mac;
	int64_t owner; /* the uid that attached it */
	/*
	 * events_rate_drop only, or NULL: where the VM keeps the index of
	 * its open rate-limit episode (port.c), a hint checked against the
	 * id and refreshed on a miss, so a drop finds its episode at once.
	 */
	uint32_t *episode;
};

/* One event; fields that do not apply stay zero. */
struct event_desc {
	enum events_kind kind;
	const struct events_vm *vm; /* NULL: the daemon's own (start, stop) */
	uint32_t ip;                /* lease events */
	int64_t expires;            /* lease_bound, lease_renewed */
	uint64_t revision;          /* policy */
	uint64_t count;             /* rate_unlimited: frames dropped */
};

/*
 * How events reach a subscriber's connection (control.c's): the bytes it
 * holds unwritten, and queueing a line (never blocks, never fails).
 */
struct events_transport {
	size_t (*pending)(void *conn);
	void (*write)(void *conn, const char *buf, size_t len);
};

/*
 * A subscriber's unwritten output may reach this; an event that would
 * pass it is dropped for that subscriber and counted, and the next one
 * that fits is preceded by {"event":"lost","count":N}.
 */
#define EVENTS_MAX_PENDING (256 * 1024)
/* Subscriber slots of max_event_subscribers only root and admin take. */
#define EVENTS_ADMIN_RESERVE 4
/* A rate-limit episode ends after this long without a rate-limit drop. */
#define EVENTS_RATE_QUIET_MS 1000

void events_init(struct softnetd *sd);
/* Sends "stop" to every subscriber (best effort), then frees it all. */
void events_shutdown(struct softnetd *sd);
void events_set_transport(
    struct softnetd *sd, const struct events_transport *t);

/* Now as RFC 3339 UTC with milliseconds ("2026-01-02T03:04:05.678Z"). */
void events_format_ts(char *buf, size_t len);
/* The wire name of kind ("attach", "lease_bound", ...). */
const char *events_name(enum events_kind kind);

/*
 * Makes conn a subscriber of uid (admin: root or admin_group) to the
 * events it may see; vm (NULL: all) keeps only those of the VM with that
 * name, MAC or decimal id. -1 with a message in msg when a subscriber
 * limit is reached (max_event_subscribers and the per-user cap).
 */
int events_subscribe(struct softnetd *sd, void *conn, uid_t uid, bool admin,
    const char *vm, char *msg, size_t msglen);
/* Forgets conn, if it subscribed (its connection is closing). */
void events_unsubscribe(struct softnetd *sd, void *conn);
bool events_is_subscriber(struct softnetd *sd, const void *conn);
/* Subscribers now, and events dropped for slow readers since start. */
size_t events_subscribers(struct softnetd *sd);
uint64_t events_lost(struct softnetd *sd);

/*
 * Reports an event: one info line to the log, and one JSON line to each
 * subscriber that may see it. A detach first ends the VM's rate-limit
 * episode.
 */
void events_emit(struct softnetd *sd, const struct event_desc *d);

/*
 * Notes n frames of vm dropped by its rate limit (0: its reads were put
 * off and the excess left in its own queue, uncounted): the first starts an
 * episode ("rate_limited"); EVENTS_RATE_QUIET_MS without another ends it
 * ("rate_unlimited" with the count). No allocation: episodes live in a
 * table sized at events_init. O(1) per drop with vm->episode; the open
 * episodes are scanned only when the hint misses (an episode starts, or
 * another one's end moved this one).
 */
void events_rate_drop(
    struct softnetd *sd, const struct events_vm *vm, uint64_t n);
/* Ends the episodes that went quiet (the timer's work; tests call it). */
void events_rate_tick(struct softnetd *sd);

#endif
