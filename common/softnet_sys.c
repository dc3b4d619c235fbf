/*
 * Theory of operation: the few system calls softnetd and its clients both
 * make, each written once. The file lives in common/, beside neither
 * daemon/ nor client/, because both link it (the daemon through
 * libsoftnetd.a, softnetctl and softnet directly) and it may include only
 * include/ and system headers: a client that links it links no daemon
 * code, libevent or sqlite.
 *
 * Platforms are told apart by what they have rather than by name where
 * possible: SOCK_CLOEXEC exists on Linux and not on macOS, and TAP devices
 * (<linux/if_tun.h>) only on Linux.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#endif

#include "softnet_sys.h"

#ifndef SOCK_CLOEXEC
/* Sets close-on-exec (and O_NONBLOCK with nonblock) on fd; 0 or -1. */
static int
fd_flags(int fd, bool nonblock)
{
	int fl;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return -1;
	if (!nonblock)
		return 0;
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	return 0;
}
#endif

/*
 * macOS has no SOCK_CLOEXEC or SOCK_NONBLOCK (socket(2)); the flags are set
 * right after, which leaves a window only against a concurrent fork+exec,
 * and neither softnetd nor the clients exec from another thread.
 */
int
softnet_sys_socket(int domain, int type, bool nonblock)
{
#ifdef SOCK_CLOEXEC
	return socket(
	    domain, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
#else
	int s, e;

	if ((s = socket(domain, type, 0)) == -1)
		return -1;
	if (fd_flags(s, nonblock) == -1) {
		e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
#endif
}

/* Both ends close-on-exec, atomically where the OS can (as above). */
int
softnet_sys_socketpair(int domain, int type, int sv[2])
{
#ifdef SOCK_CLOEXEC
	return socketpair(domain, type | SOCK_CLOEXEC, 0, sv);
#else
	int e;

	if (socketpair(domain, type, 0, sv) == -1)
		return -1;
	if (fd_flags(sv[0], false) == -1 || fd_flags(sv[1], false) == -1) {
		e = errno;
		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	return 0;
#endif
}

/* TUNSETIFF on /dev/net/tun; macOS has no TAP devices. */
int
softnet_sys_tap_open(const char *name, bool vnet)
{
#ifdef __linux__
	struct ifreq ifr;
	int fd;

	if (strlen(name) >= IFNAMSIZ) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags =
	    (short)(IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0));
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) == -1) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
#else
	(void)name;
	(void)vnet;
	errno = ENOTSUP;
	return -1;
#endif
}

/*
 * The control protocol passes a descriptor on the same sendmsg as its
 * line, both ways (client.c's requests, control.c's replies): the cmsg
 * is built here once. The buffer is a union so that it is aligned for
 * struct cmsghdr, which CMSG_FIRSTHDR's caller must ensure.
 */
ssize_t
softnet_sys_send_fd(int s, const void *buf, size_t len, int fd, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd != -1) {
		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(s, &msg, flags);
}
