/*
 * System calls the daemon and the clients make alike, spelled once for
 * every platform (common/softnet_sys.c): close-on-exec sockets where macOS
 * lacks SOCK_CLOEXEC, opening a Linux TAP device, and sending a
 * descriptor with a line (SCM_RIGHTS). Nothing here knows
 * the daemon or the protocol; the client links it without the daemon.
 */
#ifndef SOFTNET_SYS_H
#define SOFTNET_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * socket(2) whose descriptor is close-on-exec and, with nonblock,
 * non-blocking: atomically where the OS has SOCK_CLOEXEC (Linux), by
 * fcntl right after on macOS, which has neither flag. -1 with errno.
 */
int softnet_sys_socket(int domain, int type, bool nonblock);
/* socketpair(2) with both ends close-on-exec, likewise; 0 or -1. */
int softnet_sys_socketpair(int domain, int type, int sv[2]);
/*
 * Opens the TAP device name in the caller's network namespace (creating a
 * non-persistent one if absent), close-on-exec, without packet info and,
 * with vnet, with a virtio-net header on every frame (IFF_VNET_HDR).
 * Returns the fd, or -1 with errno (ENOTSUP where there are no TAPs).
 */
int softnet_sys_tap_open(const char *name, bool vnet);
/*
 * One sendmsg(2) of len bytes of buf on socket s with flags, carrying fd
 * as SCM_RIGHTS when fd is not -1 (the kernel attaches it to the first
 * byte sent). Returns the bytes sent, or -1 with errno; the caller keeps
 * its copy of fd either way.
 */
ssize_t softnet_sys_send_fd(
    int s, const void *buf, size_t len, int fd, int flags);

#endif
