/*
 * Theory of operation: macOS answers for peer credentials (getpeereid) and
 * recognises a VM descriptor as a Unix datagram socket (what
 * Virtualization.framework's VZFileHandleNetworkDeviceAttachment, QEMU and
 * vfkit use). macOS has no TAP devices.
 *
 * Batches: XNU's recvmsg_x and sendmsg_x move several datagrams per call,
 * as Linux's recvmmsg and sendmmsg do. libsystem_kernel exports them, but
 * only the private header bsd/sys/socket_private.h declares them, so the
 * declarations are repeated below from it. Where the kernel refuses them
 * for a socket (EOPNOTSUPP, ENOTSUP or ENOSYS), the first refusal switches
 * this process to one recv(2)/send(2) per datagram for good.
 */
#include <errno.h>
#include <stdio.h>
#include <launch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "osdep.h"
#include "uplink.h"

/* As in XNU's bsd/sys/socket_private.h. */
struct msghdr_x {
	void *msg_name;
	socklen_t msg_namelen;
	struct iovec *msg_iov;
	int msg_iovlen;
	void *msg_control;
	socklen_t msg_controllen;
	int msg_flags;      /* in: 0; out: MSG_TRUNC for a cut datagram */
	size_t msg_datalen; /* recvmsg_x: the datagram's length */
};
ssize_t recvmsg_x(
    int s, const struct msghdr_x *msgp, unsigned int cnt, int flags);
ssize_t sendmsg_x(
    int s, const struct msghdr_x *msgp, unsigned int cnt, int flags);

#define MSG_X_BATCH 64

static bool no_msg_x; /* the kernel refused them once: loop instead */

/* Whether errno from a *msg_x call means the call itself is unsupported. */
static bool
msg_x_refused(int err)
{
	return err == EOPNOTSUPP || err == ENOTSUP || err == ENOSYS;
}

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

/* sendmsg_x for frames[0..n); the count sent, -1 with errno, or -2 refused. */
static int
send_x(int fd, uint8_t *const *frames, const size_t *lens, int n)
{
	struct msghdr_x m[MSG_X_BATCH];
	struct iovec iov[MSG_X_BATCH];
	int i, k, sent = 0;
	ssize_t r;

	while (sent < n) {
		k = n - sent < MSG_X_BATCH ? n - sent : MSG_X_BATCH;
		memset(m, 0, sizeof(m[0]) * (size_t)k);
		for (i = 0; i < k; i++) {
			iov[i].iov_base = frames[sent + i];
			iov[i].iov_len = lens[sent + i];
			m[i].msg_iov = &iov[i];
			m[i].msg_iovlen = 1;
		}
		if ((r = sendmsg_x(fd, m, (unsigned int)k, MSG_DONTWAIT)) ==
		    -1) {
			if (sent == 0 && msg_x_refused(errno))
				return -2;
			return sent > 0 ? sent : -1;
		}
		sent += (int)r;
		if (r < k)
			break;
	}
	return sent;
}

int
osdep_send_batch(int fd, uint8_t *const *frames, const size_t *lens, int n)
{
	int i, r;

	if (!no_msg_x) {
		if ((r = send_x(fd, frames, lens, n)) != -2)
			return r;
		no_msg_x = true;
	}
	for (i = 0; i < n; i++)
		if (send(fd, frames[i], lens[i], MSG_DONTWAIT) == -1)
			return i > 0 ? i : -1;
	return n;
}

/* recvmsg_x into f[0..n); the count, -1 with errno, or -2 refused. */
static int
recv_x(int fd, struct frame *f, int n)
{
	struct msghdr_x m[MSG_X_BATCH];
	struct iovec iov[MSG_X_BATCH];
	ssize_t r;
	int i;

	if (n > MSG_X_BATCH)
		n = MSG_X_BATCH;
	memset(m, 0, sizeof(m[0]) * (size_t)n);
	for (i = 0; i < n; i++) {
		iov[i].iov_base = f[i].data;
		iov[i].iov_len = f[i].cap;
		m[i].msg_iov = &iov[i];
		m[i].msg_iovlen = 1;
	}
	if ((r = recvmsg_x(fd, m, (unsigned int)n, MSG_DONTWAIT)) == -1)
		return msg_x_refused(errno) ? -2 : -1;
	for (i = 0; i < (int)r && i < n; i++)
		f[i].len = (m[i].msg_flags & MSG_TRUNC) != 0 ||
		                   m[i].msg_datalen > f[i].cap
		               ? 0
		               : m[i].msg_datalen;
	return i;
}

int
osdep_recv_batch(int fd, struct frame *f, int n)
{
	ssize_t r;
	int i;

	if (!no_msg_x) {
		if ((i = recv_x(fd, f, n)) != -2)
			return i;
		no_msg_x = true;
	}
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
