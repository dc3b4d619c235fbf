/*
 * Theory of operation: "@host" in a VM's rules means every address the
 * host answers on, because a host service bound to 0.0.0.0 is as
 * reachable at the host's LAN or loopback-routed addresses as at the
 * gateway; a rule that named only the gateway let a VM with
 * `--block @host` reach the host at its other addresses (it routes them
 * through the gateway like any destination).
 *
 * The list is a sorted array in struct hostaddr, which sd->net points at;
 * the filter binary-searches it per frame (only for VMs with rules). It is
 * re-read with getifaddrs(3) every HOSTADDR_REFRESH_SECS: simple and the
 * same on Linux and macOS (no netlink or routing socket), at the price that
 * an address added to the host is "@host" only from the next refresh.
 * The event loop is single-threaded, so the swap needs no lock.
 */
#include <event2/event.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hostaddr.h"
#include "log.h"
#include "softnetd.h"
#include "xmalloc.h"

struct hostaddr {
	uint32_t addrs[HOSTADDR_MAX]; /* sorted, unique, host order */
	size_t n;
	struct event *timer;
	bool warned; /* getifaddrs failure or overflow logged once */
};

/* qsort comparator for host-order addresses. */
static int
cmp_addr(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

size_t
hostaddr_normalize(uint32_t *addrs, size_t n)
{
	size_t i, out = 0;

	if (n == 0)
		return 0;
	qsort(addrs, n, sizeof(*addrs), cmp_addr);
	for (i = 0; i < n; i++)
		if (out == 0 || addrs[out - 1] != addrs[i])
			addrs[out++] = addrs[i];
	return out;
}

void
hostaddr_refresh(struct softnetd *sd)
{
	struct hostaddr *h = sd->hostaddr;
	struct ifaddrs *ifa, *i;
	uint32_t next[HOSTADDR_MAX];
	size_t n = 0;
	bool full = false;

	if (h == NULL)
		return;
	if (getifaddrs(&ifa) == -1) {
		/* Keep the last list: fewer host addresses would be looser. */
		if (!h->warned)
			log_warn("getifaddrs: keeping the host address list");
		h->warned = true;
		return;
	}
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
			continue;
		if (n == HOSTADDR_MAX) {
			full = true;
			break;
		}
		next[n++] = ntohl(
		    ((const struct sockaddr_in *)(const void *)i->ifa_addr)
		        ->sin_addr.s_addr);
	}
	freeifaddrs(ifa);
	if (full && !h->warned) {
		log_warnx("the host has more than %d IPv4 addresses; \"@host\" "
		          "covers the first %d",
		    HOSTADDR_MAX, HOSTADDR_MAX);
		h->warned = true;
	}
	n = hostaddr_normalize(next, n);
	memcpy(h->addrs, next, n * sizeof(next[0]));
	h->n = n;
	sd->net.host_addrs = h->addrs;
	sd->net.nhost_addrs = h->n;
}

/* Timer callback: re-read the host's addresses. */
static void
on_refresh(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	hostaddr_refresh(arg);
}

void
hostaddr_init(struct softnetd *sd)
{
	struct timeval tv = {HOSTADDR_REFRESH_SECS, 0};
	struct hostaddr *h = xcalloc(1, sizeof(*h));

	sd->hostaddr = h;
	hostaddr_refresh(sd);
	if (sd->base == NULL)
		return;
	h->timer = event_new(sd->base, -1, EV_PERSIST, on_refresh, sd);
	if (h->timer == NULL || event_add(h->timer, &tv) == -1)
		fatalx("hostaddr: cannot start the refresh timer");
}

void
hostaddr_shutdown(struct softnetd *sd)
{
	struct hostaddr *h = sd->hostaddr;

	if (h == NULL)
		return;
	if (h->timer != NULL)
		event_free(h->timer);
	sd->net.host_addrs = NULL;
	sd->net.nhost_addrs = 0;
	free(h);
	sd->hostaddr = NULL;
}
