/*
 * Forced include for `make check-darwin`: a Darwin personality of glibc.
 *
 * Theory of operation: every file a macOS build compiles is type-checked
 * on Linux with -Werror against glibc's headers, reshaped here to look
 * like Apple's SDK in the three ways that have broken the Mac build:
 *
 * 1. Feature level. A Mac build defines _DARWIN_C_SOURCE, which on Apple's
 *    headers means POSIX.1-2008 + XSI + BSD and nothing GNU. glibc is given
 *    the same level (_DEFAULT_SOURCE + _XOPEN_SOURCE 700, never
 *    _GNU_SOURCE), so GNU-only functions are simply undeclared.
 * 2. Linux-only names. Names glibc exposes even without _GNU_SOURCE but
 *    macOS lacks (SOCK_CLOEXEC, MSG_NOSIGNAL, SO_PEERCRED, ...) are hidden
 *    by linux_only.h: constants are left undefined, exactly as on a Mac
 *    (so `#ifdef MSG_CMSG_CLOEXEC` is false and a use is "undeclared
 *    identifier"), and functions and types are poisoned, so any later
 *    mention is an error. Linux-only headers (<sys/epoll.h>,
 *    <linux/if_tun.h>, ...) are #error stubs in linux-only/.
 * 3. Apple's prototypes. Where Apple declares a function differently
 *    (getgrouplist's int *groups, setgroups' int count, a 104-byte
 *    sun_path, struct stat's st_mtimespec for st_mtim), glibc's
 *    declaration is renamed away while its header is read and Apple's is
 *    declared instead, so code written to glibc's fails as on a Mac.
 *    Apple-only API (getpeereid, struct xucred, LOCAL_PEERCRED,
 *    SO_NOSIGPIPE; launch.h, notify.h, dispatch/, vmnet/, xpc/ here) is
 *    declared from Apple's published headers and man pages.
 *
 * Every system header a macOS-built file includes is included here first,
 * before the Linux-only names are hidden (so every file sees all of them:
 * a missing #include is not caught here). A system header not in the list
 * that declares a poisoned name or pulls in a stub fails: add it below.
 *
 * What this cannot see: Apple headers that exist but declare less than
 * glibc for a name not listed here, ABI and struct layout differences
 * (sa_len, msg_iovlen's type), and any runtime behaviour.
 */
#ifndef SOFTNET_COMPAT_DARWIN_H
#define SOFTNET_COMPAT_DARWIN_H

#if defined(_GNU_SOURCE)
#error "check-darwin: _GNU_SOURCE would expose GNU-only names a Mac lacks"
#endif
#define _DEFAULT_SOURCE 1
#define _XOPEN_SOURCE   700

/* Rename glibc's differing declarations while its headers are read. */
#define getgrouplist softnet_glibc_getgrouplist
#define setgroups    softnet_glibc_setgroups
#define initgroups   softnet_glibc_initgroups
#define sockaddr_un  softnet_glibc_sockaddr_un
/* <sys/stat.h>: Apple names the times st_Xtimespec and has no st_Xtim. */
#define st_atim st_atimespec
#define st_mtim st_mtimespec
#define st_ctim st_ctimespec

#define SOFTNET_LINUX_ONLY_HIDE
#include "linux_only.h"
#undef SOFTNET_LINUX_ONLY_HIDE

/*
 * Every system header the macOS-built files include, directly or through
 * libevent, jansson and sqlite3 (whose own headers are not forced in: a
 * file must not see names it did not include).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#undef getgrouplist
#undef setgroups
#undef initgroups
#undef sockaddr_un
#undef st_atim
#undef st_mtim
#undef st_ctim
#undef st_atime
#undef st_mtime
#undef st_ctime
#define st_atime st_atimespec.tv_sec
#define st_mtime st_mtimespec.tv_sec
#define st_ctime st_ctimespec.tv_sec

#include "linux_only.h"

/* From here on the file is compiled "on a Mac". */
#undef __linux__
#undef __linux
#undef linux
#undef __gnu_linux__
#define __APPLE__                  1
#define __MACH__                   1
#define SOFTNET_DARWIN_PERSONALITY 1 /* arms the linux-only/ stubs */

/*
 * <unistd.h> (getgrouplist(3), setgroups(2), initgroups(3) on macOS):
 * Apple passes groups as int and counts as int.
 */
int getgrouplist(const char *name, int basegid, int *groups, int *ngroups);
int setgroups(int ngroups, const gid_t *gidset);
int initgroups(const char *name, int basegid);
/* <unistd.h>, getpeereid(3). */
int getpeereid(int socket, uid_t *euid, gid_t *egid);

/* <sys/un.h>: BSD's length byte and a 104-byte path (glibc has 108). */
struct sockaddr_un {
	unsigned char sun_len;
	sa_family_t sun_family;
	char sun_path[104];
};
/* <sys/un.h>: getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &xucred, ...). */
#define SOL_LOCAL      0
#define LOCAL_PEERCRED 0x001
#define LOCAL_PEERPID  0x002
#define LOCAL_PEEREPID 0x003
/* <sys/ucred.h>. */
#define XUCRED_VERSION 0
#define NGROUPS        16
struct xucred {
	unsigned int cr_version;
	uid_t cr_uid;
	short cr_ngroups;
	gid_t cr_groups[NGROUPS];
};
/*
 * <sys/socket.h>: a send on a stream whose peer closed raises SIGPIPE
 * unless this is set on the socket (or SIGPIPE is ignored). MSG_NOSIGNAL
 * appears in XNU's bsd/sys/socket.h only in recent releases, so it is
 * treated as absent (linux_only.h).
 */
#define SO_NOSIGPIPE 0x1022

#endif
