/*
 * Theory of operation: macOS answers for peer credentials (getpeereid) and
 * recognises a VM descriptor as a Unix datagram socket (what
 * Virtualization.framework's VZFileHandleNetworkDeviceAttachment, QEMU and
 * vfkit use). macOS has no TAP devices. Batched receive uses plain recv in
 * a loop here; recvmsg_x is a private interface left for the fast path.
 */
#include <errno.h>
#include <stdio.h>
#include <launch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "osdep.h"
#include "uplink.h"

int
osdep_peer_cred(int fd, uid_t *uid, gid_t *gid)
{
	return getpeereid(fd, uid, gid);
}

enum osdep_fd_kind
osdep_fd_kind(int fd, uint8_t mac[6])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type;
	socklen_t tlen = sizeof(type);

	(void)mac;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == -1 ||
	    type != SOCK_DGRAM)
		return OSDEP_FD_OTHER;
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    ss.ss_family != AF_UNIX)
		return OSDEP_FD_OTHER;
	return OSDEP_FD_DGRAM;
}

int
osdep_tap_open(const char *name)
{
	(void)name;
	errno = ENOTSUP;
	return -1;
}

int
osdep_tap_open_vnet(const char *name)
{
	return osdep_tap_open(name);
}

bool
osdep_tap_has_vnet(int fd)
{
	(void)fd;
	return false;
}

int
osdep_tap_offload(int fd, bool gso)
{
	(void)fd;
	(void)gso;
	errno = ENOTSUP;
	return -1;
}

int
osdep_send_batch(int fd, uint8_t *const *frames, const size_t *lens, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (send(fd, frames[i], lens[i], MSG_DONTWAIT) == -1)
			return i > 0 ? i : -1;
	return n;
}

int
osdep_recv_batch(int fd, struct frame *f, int n)
{
	ssize_t r;
	int i;

	for (i = 0; i < n; i++) {
		r = recv(fd, f[i].data, f[i].cap, MSG_DONTWAIT);
		if (r == -1)
			return i > 0 ? i : -1;
		/* A datagram of exactly cap bytes may have been cut. */
		f[i].len = (size_t)r < f[i].cap ? (size_t)r : 0;
	}
	return i;
}

int
osdep_activated_socket(void)
{
	int *fds = NULL, fd;
	size_t n = 0;

	/* ESRCH: not started by launchd; ENOENT: no such Sockets entry. */
	if (launch_activate_socket("Control", &fds, &n) != 0 || n == 0)
		return -1;
	fd = fds[0];
	while (n > 1)
		close(fds[--n]);
	free(fds);
	return fd;
}

/*
 * softnetd stays root on macOS: vmnet.framework needs root (or the
 * com.apple.vm.networking entitlement, which a command-line daemon cannot
 * have) for vmnet_start_interface, and the daemon must be able to stop and
 * restart the interface for its whole life. The configuration key "user"
 * is refused here rather than silently ignored.
 */
int
osdep_drop_privileges(const char *user, char *err, size_t errlen)
{
	snprintf(err, errlen,
	    "\"user\": %s: dropping privileges is not supported on macOS "
	    "(vmnet needs root)",
	    user);
	return -1;
}
