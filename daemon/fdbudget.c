/*
 * Theory of operation: the daemon's descriptors are one budget, the soft
 * RLIMIT_NOFILE (main.c raises it at startup to what the configured
 * limits need, if the hard limit allows). What is open once the daemon is
 * set up (stdio, the lease database, the uplink, the control listener,
 * the event base) is the base, plus FDBUDGET_SLACK for short-lived opens.
 * The rest is shared out by counting, before anything is taken:
 *
 *   - each control connection reserves FDBUDGET_CONN_FDS, the socket and
 *     the most descriptors it may hold in flight (fds sent ahead of the
 *     end of their line), for as long as it lives;
 *   - each VM holds its packet descriptor (port_count);
 *   - each exposed listener holds 1 and each proxied connection 2.
 *
 * fdbudget_admin_reserve is kept for root and admin_group: a connection
 * of anyone else, and a proxied connection from anywhere, is refused when
 * taking it would eat into that reserve, so root's `softnetctl status`
 * always finds a descriptor. With the counts right the daemon never meets
 * EMFILE; control.c and expose.c still pause accepting on a timer if it
 * does (the slack was not enough, or a libc opened more than expected).
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>

#include "fdbudget.h"
#include "port.h"
#include "softnetd.h"

/* Highest descriptor number fdbudget_init looks at. */
#define FDBUDGET_SCAN_MAX 65536

void
fdbudget_init(struct softnetd *sd)
{
	struct fdbudget *b = &sd->fdb;
	struct rlimit rl;
	unsigned fd, open = 0, scan;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return;
	b->limit =
	    rl.rlim_cur > UINT_MAX / 2 ? UINT_MAX / 2 : (unsigned)rl.rlim_cur;
	scan = b->limit < FDBUDGET_SCAN_MAX ? b->limit : FDBUDGET_SCAN_MAX;
	for (fd = 0; fd < scan; fd++)
		if (fcntl((int)fd, F_GETFD) != -1)
			open++;
	b->base = open + FDBUDGET_SLACK;
}

unsigned
fdbudget_usable(const struct softnetd *sd)
{
	const struct fdbudget *b = &sd->fdb;

	if (b->limit == 0)
		return UINT_MAX;
	return b->limit > b->base ? b->limit - b->base : 0;
}

unsigned
fdbudget_free(struct softnetd *sd)
{
	const struct fdbudget *b = &sd->fdb;
	unsigned long long used;
	unsigned usable = fdbudget_usable(sd);

	if (b->limit == 0)
		return UINT_MAX;
	used = (unsigned long long)b->ctl + b->expose + b->capture +
	       port_count(sd);
	return used < usable ? usable - (unsigned)used : 0;
}

unsigned
fdbudget_admin_reserve(const struct softnetd *sd)
{
	unsigned long long want =
	    (unsigned long long)sd->cfg.admin_reserved_connections *
	    FDBUDGET_CONN_FDS;
	unsigned quarter;

	if (sd->fdb.limit == 0)
		return 0;
	quarter = fdbudget_usable(sd) / 4;
	return want < quarter ? (unsigned)want : quarter;
}

bool
fdbudget_room(struct softnetd *sd, unsigned need, bool admin)
{
	unsigned free_fds = fdbudget_free(sd);
	unsigned keep = admin ? 0 : fdbudget_admin_reserve(sd);

	if (free_fds == UINT_MAX)
		return true;
	return free_fds >= need && free_fds - need >= keep;
}
