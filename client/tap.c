/*
 * The one client piece that needs the platform layer: opening a TAP in the
 * caller's network namespace for "softnetctl attach --tap". It lives apart
 * from client.c so that softnet, which is installed set-user-ID root, links
 * only the protocol code and none of the daemon's osdep (privilege) code.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "osdep.h"

/* Opens the TAP for softnetctl attach --tap; -1 after printing why. */
int
client_tap_open(const struct client *c, const char *name)
{
	int fd = osdep_tap_open_vnet(name);

	if (fd == -1)
		client_warnx(c, "opening TAP %s: %s", name, strerror(errno));
	return fd;
}
