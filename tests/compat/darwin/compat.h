/*
 * Forced include for make check-darwin: what macOS's libc declares that
 * glibc does not, so the macOS files type-check on Linux.
 */
#include <sys/types.h>
int getpeereid(int fd, uid_t *uid, gid_t *gid);
void dispatch_release(void *object);
