/*
 * The host's own IPv4 addresses, for "@host" (Security model, rule 6: a
 * VM told `--block @host` reaches no address of the host, not only the
 * gateway). Read with getifaddrs(3) at start and every
 * HOSTADDR_REFRESH_SECS after; the filter sees them as
 * sd->net.host_addrs.
 */
#ifndef SOFTNET_HOSTADDR_H
#define SOFTNET_HOSTADDR_H

#include <stddef.h>
#include <stdint.h>

#define HOSTADDR_MAX          256 /* addresses kept; more are ignored */
#define HOSTADDR_REFRESH_SECS 2   /* how stale the list may be */

struct softnetd;

/* Reads the addresses now and starts the refresh timer (sd->base). */
void hostaddr_init(struct softnetd *sd);
/* Re-reads the host's addresses into sd->net (the timer calls it). */
void hostaddr_refresh(struct softnetd *sd);
/* Stops the timer and frees the list; sd->net forgets it. */
void hostaddr_shutdown(struct softnetd *sd);

/*
 * Sorts addrs ascending and removes duplicates; returns the new count.
 * (Exposed for tests: the filter's lookup is a binary search.)
 */
size_t hostaddr_normalize(uint32_t *addrs, size_t n);

#endif
