/*
 * Theory of operation: softnetd runs as root (launchd, systemd), so whoever
 * can write its binary, its configuration or the directory of its lease
 * database can run code as root or redirect root's writes at the next
 * start. On an Intel Mac, Homebrew makes /usr/local/{bin,sbin,etc} writable
 * by the admin user (issue #11); a checkout in a home directory is the
 * same. Before anything privileged, main() has every one of those paths
 * resolved (realpath: symbolic links are followed, and the directories
 * they lead through are the ones checked) and each component from / down
 * checked like OpenSSH's safe_path() and sudo's sudo_secure_path(): owned
 * by root, not writable by group or others. Two exceptions keep real
 * systems usable without opening a hole: group write for group 0 (wheel
 * on macOS, root on Linux: only root-equivalent users are in it), and a
 * sticky directory such as /tmp above the last component, since the
 * sticky bit stops others from renaming or removing root's entries in it
 * (sticky(7)/chmod(2): only the owner of the entry or the directory may).
 * The check runs only when softnetd is root; as anyone else there is no
 * privilege to steal. Races: a component can change after the check; the
 * check is about who *could* change it, and only root can.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pathcheck.h"

/* Checks one resolved component; last says it is the path itself. */
static int
check_component(const char *p, uid_t owner, bool last, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(p, &st) == -1) {
		snprintf(err, errlen, "%.512s: %s", p, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		/* realpath just resolved it: it changed under us. */
		snprintf(err, errlen, "%.512s: became a symbolic link", p);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != owner) {
		snprintf(err, errlen,
		    "unsafe path %.512s: owned by uid %lu, not root", p,
		    (unsigned long)st.st_uid);
		return -1;
	}
	if ((st.st_mode & S_IWOTH) != 0 ||
	    ((st.st_mode & S_IWGRP) != 0 && st.st_gid != 0)) {
		if (!last && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0)
			return 0;
		snprintf(err, errlen,
		    "unsafe path %.512s: writable by %s (mode %04o)", p,
		    (st.st_mode & S_IWOTH) != 0 ? "others" : "its group",
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int
pathcheck_path(const char *path, uid_t owner, char *err, size_t errlen)
{
	char real[PATH_MAX];
	size_t len, i;
	char save;
	int rc;

	if (realpath(path, real) == NULL) {
		snprintf(err, errlen, "%.512s: %s", path, strerror(errno));
		return -1;
	}
	len = strlen(real);
	if (check_component("/", owner, len == 1, err, errlen) == -1)
		return -1;
	for (i = 1; len > 1 && i <= len; i++) {
		if (i < len && real[i] != '/')
			continue;
		save = real[i];
		real[i] = '\0';
		rc = check_component(real, owner, i == len, err, errlen);
		real[i] = save;
		if (rc == -1)
			return -1;
	}
	return 0;
}

int
pathcheck_parent(const char *path, uid_t owner, char *err, size_t errlen)
{
	char dir[PATH_MAX], *s;
	struct stat st;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		snprintf(err, errlen, "path too long: %.512s", path);
		return -1;
	}
	/* Walk up to the deepest directory that exists. */
	for (;;) {
		if ((s = strrchr(dir, '/')) == NULL) {
			snprintf(dir, sizeof(dir), ".");
			break;
		}
		if (s == dir) {
			dir[1] = '\0';
			break;
		}
		*s = '\0';
		if (stat(dir, &st) == 0)
			break;
	}
	return pathcheck_path(dir, owner, err, errlen);
}

int
pathcheck_self(
    const char *argv0, char *buf, size_t len, char *err, size_t errlen)
{
	char real[PATH_MAX], cand[PATH_MAX];
	const char *path, *p, *end;
	size_t n;

	if (realpath("/proc/self/exe", real) != NULL)
		goto found;
	if (argv0 == NULL || argv0[0] == '\0') {
		snprintf(err, errlen, "cannot tell where softnetd runs from");
		return -1;
	}
	if (strchr(argv0, '/') != NULL) {
		if (realpath(argv0, real) != NULL)
			goto found;
	} else if ((path = getenv("PATH")) != NULL) {
		for (p = path; *p != '\0'; p = *end ? end + 1 : end) {
			end = strchr(p, ':');
			if (end == NULL)
				end = p + strlen(p);
			n = (size_t)(end - p);
			if (n == 0 || n >= sizeof(cand))
				continue;
			if (snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p,
			        argv0) >= (int)sizeof(cand))
				continue;
			if (access(cand, X_OK) == 0 &&
			    realpath(cand, real) != NULL)
				goto found;
		}
	}
	snprintf(err, errlen, "cannot find the running binary %.512s", argv0);
	return -1;
found:
	if (strlen(real) >= len) {
		snprintf(err, errlen, "binary path too long: %.512s", real);
		return -1;
	}
	memcpy(buf, real, strlen(real) + 1);
	return 0;
}

int
pathcheck_startup(const char *argv0, const char *conf, const char *db,
    char *err, size_t errlen)
{
	char self[PATH_MAX];

	if (geteuid() != 0)
		return 0;
	if (pathcheck_self(argv0, self, sizeof(self), err, errlen) == -1 ||
	    pathcheck_path(self, 0, err, errlen) == -1)
		return -1;
	if (conf != NULL && pathcheck_path(conf, 0, err, errlen) == -1)
		return -1;
	if (db != NULL && pathcheck_parent(db, 0, err, errlen) == -1)
		return -1;
	return 0;
}
