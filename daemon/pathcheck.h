/*
 * Refuses to run as root from files that someone else could have written:
 * the running binary, the configuration and the lease database's
 * directory. See pathcheck.c.
 */
#ifndef SOFTNET_PATHCHECK_H
#define SOFTNET_PATHCHECK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Resolves path (it must exist) and checks it and every directory above it:
 * owned by root or owner, and writable by no other user (group write only
 * for group 0; a sticky directory above the last component may be writable
 * by all). 0, or -1 with a message naming the offending path in err.
 */
int pathcheck_path(const char *path, uid_t owner, char *err, size_t errlen);

/* The same for the deepest existing directory that would hold path. */
int pathcheck_parent(const char *path, uid_t owner, char *err, size_t errlen);

/*
 * The real path of the running binary: /proc/self/exe where there is one,
 * else argv0 resolved as execvp would (a name without '/' through PATH).
 * 0, or -1 with a message in err.
 */
int pathcheck_self(
    const char *argv0, char *buf, size_t len, char *err, size_t errlen);

/*
 * The startup check, done only when running as root: the binary, conf
 * (NULL: none) and the directory of db must all pass pathcheck_path with
 * owner root. 0, or -1 with a message in err.
 */
int pathcheck_startup(const char *argv0, const char *conf, const char *db,
    char *err, size_t errlen);

#endif
