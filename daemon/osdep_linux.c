/*
 * Theory of operation: Linux answers for SO_PEERCRED and TAP devices. A TAP
 * fd is recognised by TUNGETIFF, and its MAC read with SIOCGIFHWADDR on the
 * tun fd itself, which works even when the device lives in another network
 * namespace (the guest's).
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "frame.h"
#include "osdep.h"
#include "pkt.h"
#include "softnet_sys.h"

/* UDP segmentation offload (Linux 6.2); older headers lack the flags. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

int
osdep_peer_cred(int fd, uid_t *uid, gid_t *gid)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	*uid = uc.uid;
	*gid = uc.gid;
	return 0;
}

/*
 * SO_PEERGROUPS (Linux 4.13): the groups of the process that connected,
 * as of connect(2), from the kernel rather than the group database; too
 * many for the buffer is ERANGE, and the caller falls back.
 */
int
osdep_peer_groups(int fd, gid_t *groups, int *n)
{
	socklen_t len = (socklen_t)((size_t)*n * sizeof(gid_t));

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return -1;
	*n = (int)(len / sizeof(gid_t));
	return 0;
}

int
osdep_socket(int domain, int type, bool nonblock)
{
	return softnet_sys_socket(domain, type, nonblock);
}

/* Linux writes with MSG_NOSIGNAL (OSDEP_MSG_NOSIGNAL): nothing to set. */
int
osdep_nosigpipe(int fd)
{
	(void)fd;
	return 0;
}

int
osdep_socketpair(int domain, int type, int sv[2])
{
	return softnet_sys_socketpair(domain, type, sv);
}

bool
osdep_user_in_group(const char *user, gid_t basegid, gid_t gid)
{
	gid_t groups[256];
	int n = 256, i;

	/* More groups than fit is a refusal, never a partial answer. */
	if (getgrouplist(user, basegid, groups, &n) == -1)
		return false;
	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

enum osdep_fd_kind
osdep_fd_kind(int fd, uint8_t mac[6])
{
	struct ifreq ifr;
	int type, domain;
	socklen_t len;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) == 0) {
		if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP ||
		    (ifr.ifr_flags & IFF_NO_PI) == 0)
			return OSDEP_FD_OTHER;
		memset(&ifr, 0, sizeof(ifr));
		if (ioctl(fd, SIOCGIFHWADDR, &ifr) == -1)
			return OSDEP_FD_OTHER;
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
		return OSDEP_FD_TAP;
	}
	len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1)
		return OSDEP_FD_OTHER;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == -1)
		return OSDEP_FD_OTHER;
	if (type == SOCK_DGRAM && domain == AF_UNIX)
		return OSDEP_FD_DGRAM;
	return OSDEP_FD_OTHER;
}

/*
 * Linux reports an unbound peer as a bare family (addrlen 2, unix_getname
 * in net/unix/af_unix.c); every bound one, abstract names included, is
 * longer. A re-connect(2) of a socket pair's end by any holder of it
 * takes effect for all (the socket is shared, not the descriptor), and
 * SO_PEERCRED keeps the pair's creator across it, so only the peer
 * address shows the change. Sends then reach the new peer with this
 * process's SCM_CREDENTIALS (maybe_add_creds: the sender's pid and uid).
 */
enum osdep_peer
osdep_dgram_peer(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	if (getpeername(fd, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX)
		return OSDEP_PEER_NONE;
	return len <= offsetof(struct sockaddr_un, sun_path)
	           ? OSDEP_PEER_UNNAMED
	           : OSDEP_PEER_NAMED;
}

/* A socket's sockfs inode number: unique per socket while it lives. */
int
osdep_fd_ident(int fd, uint64_t *id)
{
	struct stat st;

	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode))
		return -1;
	*id = (uint64_t)st.st_ino;
	return 0;
}

int
osdep_tap_open(const char *name)
{
	return softnet_sys_tap_open(name, false);
}

int
osdep_tap_open_vnet(const char *name)
{
	return softnet_sys_tap_open(name, true);
}

bool
osdep_tap_has_vnet(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	return ioctl(fd, TUNGETIFF, &ifr) == 0 &&
	       (ifr.ifr_flags & IFF_VNET_HDR) != 0;
}

int
osdep_tap_vnet_hdr_size(int fd)
{
	int sz;

	if (ioctl(fd, TUNGETVNETHDRSZ, &sz) == -1)
		return -1;
	return sz;
}

int
osdep_tap_offload(int fd, bool gso)
{
	int sz = (int)sizeof(struct pkt_vnet);

	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) == -1)
		return -1;
	if (!gso)
		return ioctl(fd, TUNSETOFFLOAD, 0);
	/* UDP segmentation needs both families set together (Linux 6.2 and
	 * later; earlier kernels refuse the flags with EINVAL). */
	if (ioctl(fd, TUNSETOFFLOAD,
	        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_USO4 | TUN_F_USO6) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	return ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4);
}

int
osdep_recv_batch(int fd, struct frame *f, int n)
{
	struct mmsghdr msgs[64];
	struct iovec iov[64];
	int i, got;

	if (n > 64)
		n = 64;
	memset(msgs, 0, sizeof(msgs[0]) * (size_t)n);
	for (i = 0; i < n; i++) {
		iov[i].iov_base = f[i].data;
		iov[i].iov_len = f[i].cap;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	if ((got = recvmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL)) == -1)
		return -1;
	for (i = 0; i < got; i++)
		f[i].len = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0
		               ? 0
		               : msgs[i].msg_len;
	return got;
}

int
osdep_activated_socket(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;
	long v;

	if (pid == NULL || fds == NULL)
		return -1;
	v = strtol(pid, &end, 10);
	if (*end != '\0' || v != (long)getpid())
		return -1;
	if (strtol(fds, &end, 10) < 1 || *end != '\0')
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 3; /* SD_LISTEN_FDS_START */
}

int
osdep_send_batch(int fd, uint8_t *const *frames, const size_t *lens, int n)
{
	struct mmsghdr msgs[64];
	struct iovec iov[64];
	int i, sent = 0, r;

	while (sent < n) {
		int k = n - sent < 64 ? n - sent : 64;

		memset(msgs, 0, sizeof(msgs[0]) * (size_t)k);
		for (i = 0; i < k; i++) {
			iov[i].iov_base = frames[sent + i];
			iov[i].iov_len = lens[sent + i];
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		r = sendmmsg(fd, msgs, (unsigned)k, MSG_DONTWAIT);
		if (r == -1)
			return sent > 0 ? sent : -1;
		sent += r;
		if (r < k)
			break;
	}
	return sent;
}

/*
 * Privileges, stage by stage: creating the uplink TAP and giving it an
 * address needs CAP_NET_ADMIN; binding the control socket in /run, opening
 * the database in /var/lib and chowning the socket need root's file
 * access. After that softnetd only reads and writes descriptors it already
 * holds (TAP ioctls for offloads on attached VM TAPs need no capability),
 * accepts connections, and binds --expose listeners: for ports below 1024
 * that needs CAP_NET_BIND_SERVICE, the one capability kept. Removing the
 * socket file at exit is then not possible; the next start replaces it.
 */
int
osdep_drop_privileges(const char *user, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
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
	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) == -1 ||
	    setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		goto fail;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = 1u << CAP_NET_BIND_SERVICE;
	if (syscall(SYS_capset, &hdr, data) == -1 ||
	    prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) == -1)
		goto fail;
	if (setuid(0) != -1) {
		snprintf(err, errlen, "could regain root after dropping it");
		return -1;
	}
	return 0;
fail:
	snprintf(err, errlen, "dropping to %s: %s", user, strerror(errno));
	return -1;
}

int64_t
osdep_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Linux has no bootpd and no notify(3): the mirror polls stat() alone. */
int
osdep_notify_open(const char *name)
{
	(void)name;
	return -1;
}

/* Nothing to drain: osdep_notify_open never opens one here. */
void
osdep_notify_drain(int fd)
{
	(void)fd;
}

/* Nothing to close: osdep_notify_open never opens one here. */
void
osdep_notify_close(int fd)
{
	(void)fd;
}

/* Linux: EAGAIN for a full receiver, and EPOLLOUT once it drains. */
bool
osdep_dgram_writable_events(void)
{
	return true;
}

/* Linux's defaults (net.core.wmem_default) already hold bursts. */
int
osdep_dgram_tune(int fd)
{
	(void)fd;
	return 0;
}

/* /proc/self/statm's resident pages, and the entries of /proc/self/fd. */
void
osdep_self_usage(int64_t *rss_bytes, int64_t *fds)
{
	unsigned long long size, resident;
	struct dirent *de;
	FILE *fp;
	DIR *d;

	*rss_bytes = *fds = -1;
	if ((fp = fopen("/proc/self/statm", "re")) != NULL) {
		if (fscanf(fp, "%llu %llu", &size, &resident) == 2)
			*rss_bytes = (int64_t)resident * sysconf(_SC_PAGESIZE);
		fclose(fp);
	}
	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	*fds = 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			(*fds)++;
	(*fds)--; /* opendir's own descriptor */
	closedir(d);
}

/*
 * schedstat's first two fields: ns on a CPU, ns waiting on a run queue
 * (the kernel's Documentation/scheduler/sched-stats.rst). Opened once, by
 * the loop thread (the only caller), and read with pread: one system call
 * a fair-share window, and none while no VM sends.
 */
uint64_t
osdep_thread_demand_ns(void)
{
	static int fd = -2;
	unsigned long long run, wait;
	char buf[96];
	ssize_t n;

	if (fd == -2)
		fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return clock_thread_cpu();
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
		return clock_thread_cpu();
	return (uint64_t)run + (uint64_t)wait;
}
