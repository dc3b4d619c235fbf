/*
 * Forced include (-include) of the fakevmnet build: what macOS's libc
 * declares that glibc does not, or declares differently, so the macOS
 * files compile on Linux and link against glibc (the differing prototypes
 * are ABI-compatible: gid_t and int are both 32 bits). make check-darwin
 * polices that the code compiles as a Mac compiles it; this header only
 * has to let it run. getpeereid is in xnu.c.
 */
#ifndef FAKE_DARWIN_H
#define FAKE_DARWIN_H

/* Rename glibc's differing declarations while its headers are read. */
#define getgrouplist fake_glibc_getgrouplist
#define setgroups    fake_glibc_setgroups
#define initgroups   fake_glibc_initgroups
#include <grp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#undef getgrouplist
#undef setgroups
#undef initgroups

/* Apple's <unistd.h>: groups as int, counts as int. */
int getgrouplist(const char *name, int basegid, int *groups, int *ngroups);
int setgroups(int ngroups, const gid_t *gidset);
int initgroups(const char *name, int basegid);
int getpeereid(int fd, uid_t *uid, gid_t *gid);

/*
 * XNU's per-socket switch against SIGPIPE (<sys/socket.h>), which Linux
 * lacks; xnu.c's setsockopt takes it as a no-op (softnetd ignores SIGPIPE).
 */
#define SO_NOSIGPIPE 0x1022

/* struct stat's timestamps carry Apple's names. */
#define st_mtimespec st_mtim
#define st_atimespec st_atim
#define st_ctimespec st_ctim

#endif
