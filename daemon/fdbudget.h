/*
 * The descriptor budget (issue #13 items 7 and 8): RLIMIT_NOFILE is the
 * one pool every control connection, VM, exposed listener and proxied
 * connection draws from, so each is counted before it is taken and a
 * tenant stops at a limit instead of the daemon stopping at EMFILE.
 */
#ifndef SOFTNET_FDBUDGET_H
#define SOFTNET_FDBUDGET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Descriptors kept out of the budget on top of those open at startup:
 * sqlite's journal, the bootpd mirror's temporary file, NSS lookups and
 * other short-lived opens.
 */
#define FDBUDGET_SLACK 16

/*
 * What one control connection may hold at worst: its socket and the
 * descriptors a client may queue on it before they are claimed (control.c
 * refuses more). Here, not in control.h, because the budget is the lower
 * layer: control asks it for room.
 */
#define FDBUDGET_CONN_PASSED 4
#define FDBUDGET_CONN_FDS    (1 + FDBUDGET_CONN_PASSED)

struct softnetd;

/* The counts; all zero (no limit) until fdbudget_init. */
struct fdbudget {
	unsigned limit;  /* RLIMIT_NOFILE soft limit in force */
	unsigned base;   /* open at startup, plus FDBUDGET_SLACK */
	unsigned ctl;    /* reserved by control connections, worst case */
	unsigned expose; /* exposed listeners and proxied connections */
	uint64_t attach_refused; /* attaches refused: no descriptor to spare */
	/* The daemon's ends of packet captures (capture.c). */
	unsigned capture;
};

/* Reads the limit and counts the descriptors open now (call last). */
void fdbudget_init(struct softnetd *sd);
/* Descriptors the budget shares out: limit - base (UINT_MAX: no limit). */
unsigned fdbudget_usable(const struct softnetd *sd);
/* Descriptors not yet taken (UINT_MAX: no limit). */
unsigned fdbudget_free(struct softnetd *sd);
/*
 * Descriptors only root and admin_group connections may take: room for
 * admin_reserved_connections of them, at most a quarter of the budget.
 */
unsigned fdbudget_admin_reserve(const struct softnetd *sd);
/* Whether need more may be taken, keeping the admin reserve unless admin. */
bool fdbudget_room(struct softnetd *sd, unsigned need, bool admin);

#endif
