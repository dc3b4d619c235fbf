/*
 * Opening a TAP in the caller's network namespace for "softnetctl attach
 * --tap", by the code the daemon opens its own TAPs with
 * (common/softnet_sys.c). It lives apart from client.c, the protocol code,
 * which softnet (installed set-user-ID root) links without it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "softnet_sys.h"

/* Opens the TAP for softnetctl attach --tap; -1 after printing why. */
int
client_tap_open(const struct client *c, const char *name)
{
	int fd = softnet_sys_tap_open(name, true);

	if (fd == -1)
		client_warnx(c, "opening TAP %s: %s", name, strerror(errno));
	return fd;
}
