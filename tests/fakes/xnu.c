/*
 * Theory of operation: the XNU (macOS kernel and libSystem) behaviour of
 * the calls softnet's Darwin files make, on Linux. The functions below
 * interpose libc's by symbol name: softnetd is linked with -rdynamic, so
 * libevent's calls (epoll_*) reach them too, and each forwards to the real
 * one through dlsym(RTLD_NEXT). Only AF_UNIX SOCK_DGRAM sockets (a VM's
 * frame channel) get XNU semantics; every other descriptor passes through.
 *
 * What XNU does, from apple-oss-distributions/xnu:
 * - A full receiver: bsd/kern/uipc_usrreq.c uipc_send, SOCK_DGRAM case:
 *   sbappendaddr() on the peer's so_rcv fails and the send returns
 *   ENOBUFS ("we will lose messages for the SOCK_DGRAM case when the
 *   receiver's queue overflows"); the sender never blocks and never sees
 *   EWOULDBLOCK. Here: MSG_DONTWAIT always, and EAGAIN becomes ENOBUFS.
 * - Writability: up to xnu-8020 (macOS 12) filt_sowrite looked only at
 *   the sender's own so_snd, which a Unix datagram never fills, so
 *   EVFILT_WRITE fires at once and an EV_WRITE wait spins. From xnu-8792
 *   (macOS 13) filt_sowrite_common takes min(so_snd, peer's so_rcv) space
 *   and uipc_rcvd wakes the sender, as Linux does. FAKE_XNU_WRITABLE
 *   picks (default "always", the harsher).
 * - sendmsg_x on a connected datagram socket (bsd/kern/uipc_syscalls.c):
 *   up to xnu-8796 (macOS 13) sosend_list ran sosendcheck on the batch's
 *   total length, so a batch larger than so_snd.sb_hiwat failed whole
 *   with EMSGSIZE; from xnu-10002 (macOS 14) sendit_x stops before the
 *   first datagram larger than sb_hiwat (EMSGSIZE only if it is the
 *   first). Then datagrams go one by one; a full receiver ends the batch:
 *   the count so far, or -1 ENOBUFS on the first. FAKE_XNU_MSGX picks.
 * - The send buffer: unpdg_sendspace = 2 KiB (sysctl
 *   net.local.dgram.maxdgram, "really max datagram size") unless
 *   setsockopt(SO_SNDBUF) changed it. Linux cannot tell us whether the
 *   creator of a received socket sized it, so: a socket whose SO_SNDBUF is
 *   still Linux's wmem_default counts as unsized (2 KiB), any other gets
 *   the size set (Linux reports twice the value set).
 * - recvmsg_x: cnt 0 is EINVAL, more than somaxrecvmsgx (256) is cut to
 *   256; msg_datalen is the datagram's length, MSG_TRUNC when cut.
 * - launch_activate_socket returns ESRCH when not started by launchd
 *   (launch.h), getpeereid is the peer's credentials.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/ucred.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <launch.h>
#include <notify.h>

#include "fake_darwin.h"

/* As in XNU's bsd/sys/socket_private.h (and daemon/osdep_darwin.c). */
struct msghdr_x {
	void *msg_name;
	socklen_t msg_namelen;
	struct iovec *msg_iov;
	int msg_iovlen;
	void *msg_control;
	socklen_t msg_controllen;
	int msg_flags;
	size_t msg_datalen;
};
ssize_t recvmsg_x(
    int s, const struct msghdr_x *msgp, unsigned int cnt, int flags);
ssize_t sendmsg_x(
    int s, const struct msghdr_x *msgp, unsigned int cnt, int flags);

#define MAXFD      65536
#define MSGX_MAX   256 /* somaxsendmsgx / somaxrecvmsgx */
#define MAXOUT     1024
#define XNU_SNDBUF 2048

enum { K_UNKNOWN, K_UDGRAM, K_OTHER };
enum { MSGX_TOTAL, MSGX_PERDGRAM, MSGX_OFF };

static unsigned char kind[MAXFD];
static int sndbuf_set[MAXFD]; /* 0: not set by this process */
static struct {
	int epfd;
	epoll_data_t data;
} outs[MAXOUT]; /* unix dgram fds registered for EPOLLOUT */
static int nouts;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	long enobufs, spins, msgx_emsgsize, sendmsg_x_calls, recvmsg_x_calls,
	    sndbuf_set;
} tr;

/* The real libc function name. */
static void *
real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (f == NULL) {
		fprintf(stderr, "fake xnu: no %s\n", name);
		abort();
	}
	return f;
}
#define REAL(type, name, args)                                                 \
	static type(*real_##name) args;                                        \
	if (real_##name == NULL)                                               \
		real_##name = (type(*) args)real(#name);

/* Whether fd is open. */
static bool
fcntl_ok(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/* Rewrites FAKE_XNU_TRACE, at most every 100 ms unless forced. */
static void
trace(bool force)
{
	static uint64_t last;
	const char *path = getenv("FAKE_XNU_TRACE");
	struct timespec ts;
	uint64_t now;
	char tmp[512];
	FILE *f;

	if (path == NULL || *path == '\0')
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (!force && now - last < 100)
		return;
	last = now;
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f,
	    "enobufs %ld\nspins %ld\nmsgx_emsgsize %ld\nsendmsg_x_calls %ld\n"
	    "recvmsg_x_calls %ld\nsndbuf_set %ld\n",
	    tr.enobufs, tr.spins, tr.msgx_emsgsize, tr.sendmsg_x_calls,
	    tr.recvmsg_x_calls, tr.sndbuf_set);
	fclose(f);
	rename(tmp, path);
}

/* Flushes the trace at exit. */
static void
trace_exit(void)
{
	trace(true);
}

/* Registers trace_exit. */
static void
trace_register(void)
{
	atexit(trace_exit);
}

/* Registers trace_exit once. */
static void
trace_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, trace_register);
}

/* Adds to a trace counter and maybe rewrites the trace. */
static void
count(long *c)
{
	trace_init();
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
	trace(false);
}

/* Whether fd is an AF_UNIX SOCK_DGRAM socket (cached until close). */
static bool
is_udgram(int fd)
{
	int type, dom;
	socklen_t l = sizeof(int);

	if (fd < 0 || fd >= MAXFD)
		return false;
	if (kind[fd] == K_UNKNOWN) {
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 &&
		    (l = sizeof(int),
		        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) == 0) &&
		    type == SOCK_DGRAM && dom == AF_UNIX)
			kind[fd] = K_UDGRAM;
		else if (fcntl_ok(fd))
			kind[fd] = K_OTHER;
		else
			return false; /* not open: decide when it is */
	}
	return kind[fd] == K_UDGRAM;
}

/* XNU's sb_hiwat for fd's send buffer (see the top of the file). */
static size_t
hiwat(int fd)
{
	static int wmem_default = -1;
	int v;
	socklen_t l = sizeof(v);
	FILE *f;

	if (fd >= 0 && fd < MAXFD && sndbuf_set[fd] > 0)
		return (size_t)sndbuf_set[fd];
	if (wmem_default == -1) {
		wmem_default = 0;
		if ((f = fopen("/proc/sys/net/core/wmem_default", "r")) !=
		    NULL) {
			if (fscanf(f, "%d", &wmem_default) != 1)
				wmem_default = 0;
			fclose(f);
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &l) == -1 ||
	    v == wmem_default)
		return (size_t)(getenv("FAKE_XNU_DGRAM_SNDBUF")
		                    ? atoi(getenv("FAKE_XNU_DGRAM_SNDBUF"))
		                    : XNU_SNDBUF);
	return (size_t)v / 2;
}

/* The FAKE_XNU_MSGX mode. */
static int
msgx_mode(void)
{
	const char *v = getenv("FAKE_XNU_MSGX");

	if (v != NULL && strcmp(v, "perdgram") == 0)
		return MSGX_PERDGRAM;
	if (v != NULL && strcmp(v, "off") == 0)
		return MSGX_OFF;
	return MSGX_TOTAL;
}

/* Whether EPOLLOUT on a unix datagram socket is always given. */
static bool
always_writable(void)
{
	const char *v = getenv("FAKE_XNU_WRITABLE");

	return v == NULL || strcmp(v, "peer") != 0;
}

/*
 * Whether the peer's receive buffer, as XNU sizes it, has no room for len
 * more bytes. Linux bounds a connected pair by the sender's send buffer
 * instead, so with FAKE_XNU_PEER_RCVBUF set the unread bytes in flight
 * (SIOCOUTQ: what the peer has not read yet) are held to that size, as
 * XNU's sbappendaddr holds them to the receiver's so_rcv.
 */
static bool
peer_full(int fd, size_t len)
{
	const char *v = getenv("FAKE_XNU_PEER_RCVBUF");
	int q = 0;

	if (v == NULL || atol(v) <= 0 || ioctl(fd, SIOCOUTQ, &q) == -1)
		return false;
	if ((long)q + (long)len <= atol(v))
		return false;
	count(&tr.enobufs);
	errno = ENOBUFS;
	return true;
}

/* The total length of an iovec array. */
static size_t
iov_len(const struct iovec *iov, size_t n)
{
	size_t i, len = 0;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	return len;
}

/* An ENOBUFS for a full receiver's EAGAIN, on a unix datagram socket. */
static ssize_t
full_is_enobufs(ssize_t r)
{
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		count(&tr.enobufs);
		errno = ENOBUFS;
	}
	return r;
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	REAL(ssize_t, send, (int, const void *, size_t, int))
	if (!is_udgram(fd))
		return real_send(fd, buf, len, flags);
	if (peer_full(fd, len))
		return -1;
	return full_is_enobufs(real_send(fd, buf, len, flags | MSG_DONTWAIT));
}

ssize_t
sendto(int fd, const void *buf, size_t len, int flags,
    const struct sockaddr *to, socklen_t tolen)
{
	REAL(ssize_t, sendto,
	    (int, const void *, size_t, int, const struct sockaddr *,
	        socklen_t))
	if (!is_udgram(fd))
		return real_sendto(fd, buf, len, flags, to, tolen);
	if (peer_full(fd, len))
		return -1;
	return full_is_enobufs(
	    real_sendto(fd, buf, len, flags | MSG_DONTWAIT, to, tolen));
}

ssize_t
sendmsg(int fd, const struct msghdr *m, int flags)
{
	REAL(ssize_t, sendmsg, (int, const struct msghdr *, int))
	if (!is_udgram(fd))
		return real_sendmsg(fd, m, flags);
	if (peer_full(fd, iov_len(m->msg_iov, m->msg_iovlen)))
		return -1;
	return full_is_enobufs(real_sendmsg(fd, m, flags | MSG_DONTWAIT));
}

int
sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	REAL(int, sendmmsg, (int, struct mmsghdr *, unsigned int, int))
	unsigned int i;

	if (!is_udgram(fd))
		return real_sendmmsg(fd, v, n, flags);
	if (getenv("FAKE_XNU_PEER_RCVBUF") != NULL) {
		for (i = 0; i < n; i++)
			if (peer_full(fd, iov_len(v[i].msg_hdr.msg_iov,
			                      v[i].msg_hdr.msg_iovlen)) ||
			    real_sendmmsg(fd, &v[i], 1, flags | MSG_DONTWAIT) !=
			        1)
				return i > 0 ? (int)i
				             : (int)full_is_enobufs(-1);
		return (int)n;
	}
	return (int)full_is_enobufs(
	    real_sendmmsg(fd, v, n, flags | MSG_DONTWAIT));
}

int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	REAL(int, setsockopt, (int, int, int, const void *, socklen_t))
	int rc;

	/* XNU's SO_NOSIGPIPE (fake_darwin.h): nothing to do on Linux. */
	if (level == SOL_SOCKET && name == SO_NOSIGPIPE)
		return 0;
	rc = real_setsockopt(fd, level, name, val, len);

	if (rc == 0 && level == SOL_SOCKET && name == SO_SNDBUF &&
	    len >= sizeof(int) && fd >= 0 && fd < MAXFD && is_udgram(fd)) {
		sndbuf_set[fd] = *(const int *)val;
		count(&tr.sndbuf_set);
	}
	return rc;
}

/* Forgets what was known about fd (it is being closed). */
static void
forget(int fd)
{
	int k;

	if (fd < 0 || fd >= MAXFD)
		return;
	kind[fd] = K_UNKNOWN;
	sndbuf_set[fd] = 0;
	pthread_mutex_lock(&mu);
	for (k = 0; k < nouts; k++)
		if (outs[k].data.fd == fd) {
			outs[k] = outs[--nouts];
			k--;
		}
	pthread_mutex_unlock(&mu);
}

int
close(int fd)
{
	REAL(int, close, (int))
	forget(fd);
	return real_close(fd);
}

int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	REAL(int, epoll_ctl, (int, int, int, struct epoll_event *))
	int rc = real_epoll_ctl(epfd, op, fd, ev), k;

	if (rc != 0 || !is_udgram(fd))
		return rc;
	pthread_mutex_lock(&mu);
	for (k = 0; k < nouts; k++)
		if (outs[k].epfd == epfd && outs[k].data.fd == fd) {
			outs[k] = outs[--nouts];
			break;
		}
	if (op != EPOLL_CTL_DEL && ev != NULL && (ev->events & EPOLLOUT) &&
	    nouts < MAXOUT) {
		outs[nouts].epfd = epfd;
		outs[nouts].data = ev->data;
		nouts++;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

int
epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	REAL(int, epoll_wait, (int, struct epoll_event *, int, int))
	int n, k, j, mine = 0;

	if (always_writable()) {
		pthread_mutex_lock(&mu);
		for (k = 0; k < nouts; k++)
			mine += outs[k].epfd == epfd;
		pthread_mutex_unlock(&mu);
	}
	n = real_epoll_wait(epfd, evs, max, mine > 0 ? 0 : timeout);
	if (mine == 0 || n < 0)
		return n;
	/* XNU before macOS 13: such a socket is always writable. */
	pthread_mutex_lock(&mu);
	for (k = 0; k < nouts; k++) {
		if (outs[k].epfd != epfd)
			continue;
		for (j = 0; j < n; j++)
			if (evs[j].data.u64 == outs[k].data.u64)
				break;
		if (j == n) {
			if (n == max)
				continue;
			evs[n].events = 0;
			evs[n].data = outs[k].data;
			n++;
		}
		evs[j].events |= EPOLLOUT;
		tr.spins++;
	}
	pthread_mutex_unlock(&mu);
	trace(false);
	return n;
}

ssize_t
sendmsg_x(int s, const struct msghdr_x *m, unsigned int cnt, int flags)
{
	REAL(int, sendmmsg, (int, struct mmsghdr *, unsigned int, int))
	struct mmsghdr v[MSGX_MAX];
	size_t total = 0, hw, len;
	unsigned int i, k, sent = 0;
	int mode = msgx_mode(), r, j;

	count(&tr.sendmsg_x_calls);
	if (mode == MSGX_OFF) {
		errno = ENOSYS;
		return -1;
	}
	if (m == NULL || cnt == 0) {
		errno = EINVAL;
		return -1;
	}
	hw = hiwat(s);
	for (i = 0; i < cnt; i++) {
		for (j = 0, len = 0; j < m[i].msg_iovlen; j++)
			len += m[i].msg_iov[j].iov_len;
		if (mode == MSGX_PERDGRAM && len > hw) {
			if (i == 0) {
				count(&tr.msgx_emsgsize);
				errno = EMSGSIZE;
				return -1;
			}
			cnt = i; /* the batch stops before it */
			break;
		}
		total += len;
	}
	if (mode == MSGX_TOTAL && total > hw) {
		count(&tr.msgx_emsgsize);
		errno = EMSGSIZE;
		return -1;
	}
	while (sent < cnt) {
		k = cnt - sent < MSGX_MAX ? cnt - sent : MSGX_MAX;
		/* One at a time when the peer's buffer is modelled. */
		if (getenv("FAKE_XNU_PEER_RCVBUF") != NULL) {
			k = 1;
			if (peer_full(s, iov_len(m[sent].msg_iov,
			                     (size_t)m[sent].msg_iovlen)))
				return sent > 0 ? (ssize_t)sent : -1;
		}
		memset(v, 0, sizeof(v[0]) * k);
		for (i = 0; i < k; i++) {
			v[i].msg_hdr.msg_name = m[sent + i].msg_name;
			v[i].msg_hdr.msg_namelen = m[sent + i].msg_namelen;
			v[i].msg_hdr.msg_iov = m[sent + i].msg_iov;
			v[i].msg_hdr.msg_iovlen =
			    (size_t)m[sent + i].msg_iovlen;
			v[i].msg_hdr.msg_control = m[sent + i].msg_control;
			v[i].msg_hdr.msg_controllen =
			    m[sent + i].msg_controllen;
		}
		r = real_sendmmsg(s, v, k,
		    (flags & ~MSG_DONTWAIT) | MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				count(&tr.enobufs);
				errno = ENOBUFS;
			}
			/* XNU keeps a partial count for these errors only. */
			if (sent > 0 &&
			    (errno == ENOBUFS || errno == EMSGSIZE ||
			        errno == EINTR))
				return (ssize_t)sent;
			return -1;
		}
		sent += (unsigned int)r;
		if ((unsigned int)r < k) {
			/* The next one would have failed: find out how. */
			continue;
		}
	}
	return (ssize_t)sent;
}

ssize_t
recvmsg_x(int s, const struct msghdr_x *m, unsigned int cnt, int flags)
{
	struct mmsghdr v[MSGX_MAX];
	struct msghdr_x *mx = (struct msghdr_x *)(uintptr_t)m;
	unsigned int i;
	int r;

	count(&tr.recvmsg_x_calls);
	if (msgx_mode() == MSGX_OFF) {
		errno = ENOSYS;
		return -1;
	}
	if (m == NULL || cnt == 0) {
		errno = EINVAL;
		return -1;
	}
	if (cnt > MSGX_MAX)
		cnt = MSGX_MAX;
	memset(v, 0, sizeof(v[0]) * cnt);
	for (i = 0; i < cnt; i++) {
		v[i].msg_hdr.msg_name = m[i].msg_name;
		v[i].msg_hdr.msg_namelen = m[i].msg_namelen;
		v[i].msg_hdr.msg_iov = m[i].msg_iov;
		v[i].msg_hdr.msg_iovlen = (size_t)m[i].msg_iovlen;
		v[i].msg_hdr.msg_control = m[i].msg_control;
		v[i].msg_hdr.msg_controllen = m[i].msg_controllen;
	}
	if ((r = recvmmsg(s, v, cnt, flags, NULL)) == -1)
		return -1;
	for (i = 0; i < (unsigned int)r; i++) {
		mx[i].msg_datalen = v[i].msg_len;
		mx[i].msg_flags = v[i].msg_hdr.msg_flags;
		mx[i].msg_namelen = v[i].msg_hdr.msg_namelen;
		mx[i].msg_controllen = (socklen_t)v[i].msg_hdr.msg_controllen;
	}
	return r;
}

/*
 * getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED): XNU's struct xucred of the
 * process that connected (uipc_usrreq.c unp_getsockopt copies at most
 * XU_NGROUPS groups, the effective gid first), from Linux's SO_PEERCRED
 * and SO_PEERGROUPS. SOL_LOCAL is 0, Linux's SOL_IP, which no AF_UNIX
 * socket answers, so only AF_UNIX sockets are taken over.
 */
int
getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	REAL(int, getsockopt, (int, int, int, void *, socklen_t *))
	struct sockaddr_un sun;
	socklen_t sl = sizeof(sun), gl;
	struct xucred xuc;
	struct ucred uc;
	gid_t groups[64];
	int i, n;

	if (level != SOL_LOCAL || name != LOCAL_PEERCRED ||
	    getsockname(fd, (struct sockaddr *)&sun, &sl) == -1 ||
	    sun.sun_family != AF_UNIX)
		return real_getsockopt(fd, level, name, val, len);
	if (*len < sizeof(xuc)) {
		errno = EINVAL;
		return -1;
	}
	gl = sizeof(uc);
	if (real_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &gl) == -1)
		return -1;
	memset(&xuc, 0, sizeof(xuc));
	xuc.cr_version = XUCRED_VERSION;
	xuc.cr_uid = uc.uid;
	xuc.cr_groups[0] = uc.gid;
	xuc.cr_ngroups = 1;
	gl = sizeof(groups);
	if (real_getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0) {
		n = (int)(gl / sizeof(gid_t));
		for (i = 0; i < n && xuc.cr_ngroups < XU_NGROUPS; i++)
			xuc.cr_groups[xuc.cr_ngroups++] = groups[i];
	}
	memcpy(val, &xuc, sizeof(xuc));
	*len = sizeof(xuc);
	return 0;
}

int
getpeereid(int fd, uid_t *uid, gid_t *gid)
{
	struct ucred uc;
	socklen_t l = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &l) == -1)
		return -1;
	*uid = uc.uid;
	*gid = uc.gid;
	return 0;
}

int
launch_activate_socket(const char *name, int **fds, size_t *cnt)
{
	(void)name;
	*fds = NULL;
	*cnt = 0;
	return ESRCH; /* launch.h: not managed by launchd */
}

/* notify(3) registrations: token -> the pipe's write end. */
static int notify_pipes[64][2];
static bool notify_used[64];

uint32_t
notify_register_file_descriptor(
    const char *name, int *notify_fd, int flags, int *out_token)
{
	int k;

	(void)name;
	(void)flags;
	for (k = 0; k < 64 && notify_used[k]; k++)
		;
	if (k == 64 || pipe(notify_pipes[k]) == -1)
		return NOTIFY_STATUS_FAILED;
	notify_used[k] = true;
	*notify_fd = notify_pipes[k][0];
	*out_token = k;
	return NOTIFY_STATUS_OK;
}

uint32_t
notify_cancel(int token)
{
	if (token < 0 || token >= 64 || !notify_used[token])
		return NOTIFY_STATUS_FAILED;
	close(notify_pipes[token][0]);
	close(notify_pipes[token][1]);
	notify_used[token] = false;
	return NOTIFY_STATUS_OK;
}
