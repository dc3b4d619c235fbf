/*
 * Operating system differences that are not the uplink: peer credentials,
 * recognising a VM's descriptor, TAP devices. osdep_linux.c and
 * osdep_darwin.c implement the same functions.
 */
#ifndef SOFTNET_OSDEP_H
#define SOFTNET_OSDEP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

/* glibc's sys/queue.h lacks the _SAFE iterator BSD and macOS have. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                             \
	for ((var) = TAILQ_FIRST(head);                                        \
	     (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);            \
	     (var) = (tvar))
#endif

/* Credentials of the process on the other end of a Unix socket. */
int osdep_peer_cred(int fd, uid_t *uid, gid_t *gid);
/*
 * The supplementary groups the kernel recorded for the peer of a connected
 * Unix stream socket (Linux SO_PEERGROUPS; macOS LOCAL_PEERCRED's
 * cr_groups): up to *n into groups, *n set to the count. -1 where the
 * kernel gives no list, or may have cut it short (XNU keeps 16): the
 * caller then asks the group database instead.
 */
int osdep_peer_groups(int fd, gid_t *groups, int *n);

enum osdep_fd_kind {
	OSDEP_FD_OTHER, /* not usable as a VM port */
	OSDEP_FD_DGRAM, /* a Unix SOCK_DGRAM socket */
	OSDEP_FD_TAP,   /* a TAP device without packet info */
};

/*
 * What fd is; for a TAP, its device MAC in mac (else mac untouched). TAPs
 * with or without a virtio-net header (IFF_VNET_HDR) are both accepted.
 */
enum osdep_fd_kind osdep_fd_kind(int fd, uint8_t mac[6]);

/*
 * Opens the TAP device name in the caller's network namespace (creating a
 * non-persistent one if absent). Returns the fd or -1 with errno set.
 */
int osdep_tap_open(const char *name);
/* The same, with a virtio-net header on every frame (IFF_VNET_HDR). */
int osdep_tap_open_vnet(const char *name);
/* Whether a TAP fd carries virtio-net headers. */
bool osdep_tap_has_vnet(int fd);
/*
 * The virtio-net header size a vnet TAP prepends now (TUNGETVNETHDRSZ):
 * its owner may change it after attach. -1 with errno where unknown.
 */
int osdep_tap_vnet_hdr_size(int fd);
/*
 * Sets a vnet TAP's header size to struct pkt_vnet and, with gso, lets it
 * pass checksum-pending, TCPv4 GSO and (where the kernel has it, Linux 6.2
 * on) UDP GSO frames; without, the kernel hands over finished plain
 * frames. 0, or -1 with errno.
 */
int osdep_tap_offload(int fd, bool gso);

/*
 * The control socket the service manager opened for us (systemd's
 * LISTEN_FDS, launchd's "Control" entry in Sockets), or -1 when started
 * without socket activation.
 */
int osdep_activated_socket(void);

/*
 * Becomes user for good (groups, gid, uid), keeping only the capability to
 * bind TCP ports below 1024 (--expose). Called once, after every
 * privileged setup step. -1 with a message in err.
 */
int osdep_drop_privileges(const char *user, char *err, size_t errlen);

/* recvmsg flag that marks received fds close-on-exec, where there is one. */
#ifdef MSG_CMSG_CLOEXEC
#define OSDEP_MSG_CMSG_CLOEXEC MSG_CMSG_CLOEXEC
#else
#define OSDEP_MSG_CMSG_CLOEXEC 0
#endif

/*
 * send(2) flag that keeps a write to a closed peer from raising SIGPIPE
 * (Linux); 0 where there is none and osdep_nosigpipe does it (macOS).
 */
#ifdef MSG_NOSIGNAL
#define OSDEP_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define OSDEP_MSG_NOSIGNAL 0
#endif
/* Makes writes to socket fd never raise SIGPIPE (SO_NOSIGPIPE); 0 or -1. */
int osdep_nosigpipe(int fd);

/*
 * socket(2) whose descriptor is close-on-exec and, with nonblock,
 * non-blocking: atomically where the OS has SOCK_CLOEXEC (Linux), by
 * fcntl right after on macOS, which has neither flag. -1 with errno.
 */
int osdep_socket(int domain, int type, bool nonblock);
/* socketpair(2) with both ends close-on-exec, likewise; 0 or -1. */
int osdep_socketpair(int domain, int type, int sv[2]);
/*
 * Whether user (primary group basegid) is a member of group gid, by
 * getgrouplist(3), whose groups are gid_t on Linux and int on macOS.
 */
bool osdep_user_in_group(const char *user, gid_t basegid, gid_t gid);

/*
 * How a full Unix datagram receiver shows: true where send(2) fails with
 * EAGAIN and the sender polls writable once the receiver drains (Linux);
 * false where it fails with ENOBUFS and the socket polls writable all the
 * time (XNU: uipc_send's sbappendaddr failure is ENOBUFS, and the
 * sender's own send buffer is always empty), so waiting for writability
 * would spin: port.c retries a full VM on a timer there instead.
 */
bool osdep_dgram_writable_events(void);
/*
 * Sizes an attached VM datagram socket's buffers where the OS's defaults
 * are too small for a burst of frames (macOS: 2 KiB sends, 4 KiB
 * receives); 0, or -1 with errno. A no-op where the defaults suffice.
 */
int osdep_dgram_tune(int fd);

/* Who a VM datagram socket sends to (osdep_dgram_peer). */
enum osdep_peer {
	OSDEP_PEER_NONE,    /* not connected (or not a socket) */
	OSDEP_PEER_UNNAMED, /* connected to an unbound socket: a pair's end */
	OSDEP_PEER_NAMED,   /* connected to a socket bound to an address */
};
/*
 * What the datagram socket fd is connected to, by getpeername(2): one
 * system call, cheap enough to ask before every batch of sends. A peer
 * can only become named or gone by a connect(2) from some holder of the
 * socket, never unnamed again (connect needs an address), so an unnamed
 * peer at attach that is still unnamed is the same peer.
 */
enum osdep_peer osdep_dgram_peer(int fd);
/*
 * An identity of the socket (or device) behind fd, the same for every
 * descriptor of it, for "already attached": 0, or -1 where the OS gives
 * none.
 */
int osdep_fd_ident(int fd, uint64_t *id);

struct frame;
/*
 * Receives up to n datagrams from a non-blocking socket in as few system
 * calls as the OS allows. A datagram larger than its buffer comes back with
 * len 0. Returns the count, or -1 with errno (EAGAIN: none pending).
 */
int osdep_recv_batch(int fd, struct frame *f, int n);
/*
 * Sends n datagrams (frames[i][0..lens[i])) on a non-blocking socket in as
 * few system calls as the OS allows. Returns how many were sent, or -1
 * with errno when the first one failed.
 */
int osdep_send_batch(int fd, uint8_t *const *frames, const size_t *lens, int n);

struct stat;
/* A file's modification time in nanoseconds (st_mtim / st_mtimespec). */
int64_t osdep_mtime_ns(const struct stat *st);
/*
 * A descriptor that turns readable when a notify(3) name is posted (macOS:
 * bootpd posts com.apple.bootpd.DHCPLeaseList after each write of its
 * lease file), or -1 where there is none (Linux). One at a time.
 */
int osdep_notify_open(const char *name);
/* Reads what is pending on it, without blocking. */
void osdep_notify_drain(int fd);
/* Stops the notifications; -1 is ignored. */
void osdep_notify_close(int fd);

/*
 * This process's resident memory in bytes and open descriptors for the
 * metrics, where the OS tells them cheaply (Linux: /proc/self); -1 for
 * what it does not (macOS: getrusage is all metrics.c uses there).
 */
void osdep_self_usage(int64_t *rss_bytes, int64_t *fds);

/*
 * The calling thread's demand for a CPU so far, ns: the time it ran plus
 * the time it waited runnable for one (Linux: /proc/thread-self/schedstat),
 * or its CPU time alone where the OS does not tell the wait (macOS). The
 * switch calls a window in which this grew by nine tenths of the window
 * saturated: a loop the scheduler starves is as saturated as a busy one.
 */
uint64_t osdep_thread_demand_ns(void);

#endif
