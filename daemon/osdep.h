/*
 * Operating system differences that are not the uplink: peer credentials,
 * recognising a VM's descriptor, TAP devices. osdep_linux.c and
 * osdep_darwin.c implement the same functions.
 */
#ifndef SOFTNET_OSDEP_H
#define SOFTNET_OSDEP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Credentials of the process on the other end of a Unix socket. */
int osdep_peer_cred(int fd, uid_t *uid, gid_t *gid);

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

#endif
