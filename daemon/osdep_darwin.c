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
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <grp.h>
#include <launch.h>
#include <pwd.h>
#include <notify.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/ucred.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "frame.h"
#include "osdep.h"
#include "softnet_sys.h"

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

/*
 * LOCAL_PEERCRED (sys/un.h, struct xucred in sys/ucred.h): the connecting
 * process's credentials as of connect(2); cr_groups[0] is its effective
 * gid. XNU copies at most XU_NGROUPS (16) groups, so a full list may be
 * cut short: -1 then, and the caller asks the group database.
 */
int
osdep_peer_groups(int fd, gid_t *groups, int *n)
{
	struct xucred xuc;
	socklen_t len = sizeof(xuc);
	int i;

	memset(&xuc, 0, sizeof(xuc));
	if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &xuc, &len) == -1 ||
	    xuc.cr_version != XUCRED_VERSION || xuc.cr_ngroups < 0 ||
	    xuc.cr_ngroups >= XU_NGROUPS || xuc.cr_ngroups > *n)
		return -1;
	for (i = 0; i < xuc.cr_ngroups; i++)
		groups[i] = xuc.cr_groups[i];
	*n = xuc.cr_ngroups;
	return 0;
}

/* Close-on-exec by fcntl: softnet_sys.c (macOS has no SOCK_CLOEXEC). */
int
osdep_socket(int domain, int type, bool nonblock)
{
	return softnet_sys_socket(domain, type, nonblock);
}

/* XNU has no MSG_NOSIGNAL: the socket option does it per socket. */
int
osdep_nosigpipe(int fd)
{
	int on = 1;

	return setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof(on));
}

int
osdep_socketpair(int domain, int type, int sv[2])
{
	return softnet_sys_socketpair(domain, type, sv);
}

/* macOS declares getgrouplist(3) with int groups, not gid_t. */
bool
osdep_user_in_group(const char *user, gid_t basegid, gid_t gid)
{
	int groups[256];
	int n = 256, i;

	/* More groups than fit is a refusal, never a partial answer. */
	if (getgrouplist(user, (int)basegid, groups, &n) == -1)
		return false;
	for (i = 0; i < n; i++)
		if ((gid_t)groups[i] == gid)
			return true;
	return false;
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

/*
 * XNU answers getpeername(2) on a connected socket whose peer has no
 * address with sun_noname, an empty path (uipc_peeraddr in
 * bsd/kern/uipc_usrreq.c), and ENOTCONN once it is disconnected; there
 * is no abstract namespace, so a named peer always has a path. XNU
 * attaches no credentials to datagrams (unp_internalize takes
 * SCM_RIGHTS only), so a re-connected pair end misdirects frames without
 * lending softnetd's identity; the port is detached all the same.
 */
enum osdep_peer
osdep_dgram_peer(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	memset(&sun, 0, sizeof(sun));
	if (getpeername(fd, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX)
		return OSDEP_PEER_NONE;
	if (len <= offsetof(struct sockaddr_un, sun_path) ||
	    sun.sun_path[0] == '\0')
		return OSDEP_PEER_UNNAMED;
	return OSDEP_PEER_NAMED;
}

/*
 * XNU's soo_stat (bsd/kern/sys_socket.c) zeroes st_ino for sockets in the
 * releases we could read: no identity, and the "already attached" check
 * is then skipped (the MAC check still holds).
 */
int
osdep_fd_ident(int fd, uint64_t *id)
{
	struct stat st;

	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) || st.st_ino == 0)
		return -1;
	*id = (uint64_t)st.st_ino;
	return 0;
}

/* macOS has no TAP devices (osdep_tap_open). */
int
osdep_tap_vnet_hdr_size(int fd)
{
	(void)fd;
	errno = ENOTSUP;
	return -1;
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

/*
 * sendmsg_x for frames[0..n); the count sent, -1 with errno, or -2 refused.
 * XNU checks a sendmsg_x batch against the socket's send buffer: up to
 * xnu-8792 (macOS 13) sosend_list's sosendcheck takes the batch's total
 * and fails the whole call with EMSGSIZE when it exceeds sb_hiwat (2 KiB
 * for a Unix datagram socket nobody sized: net.local.dgram.maxdgram);
 * later ones stop before the first datagram that does not fit. So a batch
 * refused with EMSGSIZE is halved and sent again, down to one datagram,
 * which is then too large for the socket on its own (the caller drops it).
 * osdep_dgram_tune makes the buffer large enough that this stays rare.
 */
static int
send_x(int fd, uint8_t *const *frames, const size_t *lens, int n)
{
	struct msghdr_x m[MSG_X_BATCH];
	struct iovec iov[MSG_X_BATCH];
	int i, k, limit = MSG_X_BATCH, sent = 0;
	ssize_t r;

	while (sent < n) {
		k = n - sent < limit ? n - sent : limit;
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
			if (errno == EMSGSIZE && k > 1) {
				limit = k / 2; /* the batch did not fit */
				continue;
			}
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
 * vmnet needs root (or the com.apple.vm.networking entitlement, which a
 * command-line daemon cannot have) only to start the interface: reads
 * and writes on a started interface keep working for an unprivileged
 * process, which is how nirs/vmnet-helper runs (helper.c starts the
 * interface, then drops to the real user and group). So with "user" set
 * softnetd becomes that user after the interface is up, the control
 * socket bound and the database open (main.c). What is lost: restarting
 * the interface (a dead uplink exits the daemon and launchd starts it
 * again as root) and writing root-owned files such as bootpd's
 * /var/db/dhcpd_leases (the bootpd_leases mirror; leave "user" unset
 * where `tart ip` must find the VMs). Ports below 1024 for --expose need
 * no privilege on macOS 10.14 and later.
 */
int
osdep_drop_privileges(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "user \"%s\" does not exist", user);
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0) {
		snprintf(err, errlen, "user \"%s\" is root", user);
		return -1;
	}
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    setegid(gid) == -1 || setuid(uid) == -1 || seteuid(uid) == -1) {
		snprintf(
		    err, errlen, "dropping to %s: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1 || seteuid(0) != -1) {
		snprintf(err, errlen, "could regain root after dropping it");
		return -1;
	}
	return 0;
}

/* XNU: ENOBUFS for a full receiver, and a sender that polls writable. */
bool
osdep_dgram_writable_events(void)
{
	return false;
}

/*
 * XNU sizes a Unix datagram socket's buffers from net.local.dgram
 * (maxdgram 2 KiB for sends, recvspace 4 KiB), too small for one batch,
 * and a send larger than the send buffer fails with EMSGSIZE. The
 * daemon's end gets what Tart gives its own end of the pair
 * (SO_RCVBUF 4 MiB, SO_SNDBUF 1 MiB on the VM's end; DESIGN.md),
 * halved while XNU refuses (sbreserve caps at kern.ipc.maxsockbuf).
 */
int
osdep_dgram_tune(int fd)
{
	int snd = 1024 * 1024, rcv = 4 * 1024 * 1024;

	while (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) == -1) {
		if (errno != ENOBUFS || snd <= 64 * 1024)
			return -1;
		snd /= 2;
	}
	while (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) == -1) {
		if (errno != ENOBUFS || rcv <= 64 * 1024)
			return -1;
		rcv /= 2;
	}
	return 0;
}

int64_t
osdep_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtimespec.tv_sec * 1000000000 +
	       st->st_mtimespec.tv_nsec;
}

static int notify_token = -1; /* the one registration (osdep.h) */

/*
 * notify(3): notify_register_file_descriptor hands back a descriptor on
 * which notifyd writes the 4-byte token each time the name is posted;
 * notify_cancel ends the registration and closes that descriptor. bootpd
 * posts com.apple.bootpd.DHCPLeaseList right after every write of
 * /var/db/dhcpd_leases (bootp: bootpd.tproj/dhcpd.c
 * S_generate_lease_change_notification, bootplib/netinfo.h).
 */
int
osdep_notify_open(const char *name)
{
	int fd = -1;

	if (notify_token != -1)
		return -1;
	if (notify_register_file_descriptor(name, &fd, 0, &notify_token) !=
	    NOTIFY_STATUS_OK) {
		notify_token = -1;
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1) {
		notify_cancel(notify_token);
		notify_token = -1;
		return -1;
	}
	return fd;
}

/* Reads the posted tokens; which ones does not matter, only that. */
void
osdep_notify_drain(int fd)
{
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* Cancels the registration, which closes its descriptor too. */
void
osdep_notify_close(int fd)
{
	if (fd == -1 || notify_token == -1)
		return;
	notify_cancel(notify_token);
	notify_token = -1;
}

/* Nothing as cheap as Linux's /proc: metrics.c shows getrusage only. */
void
osdep_self_usage(int64_t *rss_bytes, int64_t *fds)
{
	*rss_bytes = *fds = -1;
}

/*
 * XNU keeps no run-queue wait per thread that a process can read cheaply
 * (thread_info's THREAD_BASIC_INFO, osfmk/mach/thread_info.h, has CPU time
 * and a usage estimate, not the wait), so demand is the thread's CPU time:
 * a loop the scheduler starves counts as saturated only by what it ran.
 */
uint64_t
osdep_thread_demand_ns(void)
{
	return clock_thread_cpu();
}
