/*
 * Theory of operation: every message is one line on stderr, written with a
 * single write so lines from one process never interleave. The supervisor
 * (launchd, systemd) adds timestamps. Debug messages are dropped unless -d.
 *
 * Warnings that an event outside the daemon can repeat at will (a client
 * connecting, a remote peer of an exposed port, EMFILE on accept) go
 * through log_warn_rl/log_warnx_rl: a burst per window per call site, so a
 * flood costs a few lines, not a disk (issue #13: 60 MB/s of identical
 * "accept: Too many open files" lines before this).
 *
 * With -l FILE (issue #11) the daemon writes to FILE itself instead of to
 * the descriptor launchd opened for StandardErrorPath: newsyslog(8)
 * renames the file and creates a new one, but a descriptor keeps naming
 * the renamed inode, so without this every line after the first rotation
 * went to softnetd.log.0 until a restart. log_check_file, run from a timer
 * every LOG_CHECK_INTERVAL seconds (and on SIGHUP), compares stat(FILE)
 * with the inode it writes to and reopens when they differ or FILE is
 * gone. Polling rather than a signal from newsyslog keeps the N flag (no
 * pid file) in softnetd.newsyslog.conf; the cost is one stat(2) per
 * interval and up to one interval of lines in the rotated file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_debug_on;
static const char *log_prog = "softnetd";
static uint64_t log_nsuppressed;
static char log_path[1024]; /* -l FILE, or "": stderr as inherited */
static dev_t log_dev;       /* the file stdout and stderr write to */
static ino_t log_ino;
static int log_reopen_warned; /* a failed reopen was reported */

/* Sets the debug flag and the name that prefixes every line. */
void
log_init(int debug, const char *progname)
{
	log_debug_on = debug;
	if (progname != NULL)
		log_prog = progname;
}

/* Reports whether debug logging is on. */
int
log_get_debug(void)
{
	return log_debug_on;
}

/* Formats one line, optionally with ": strerror(err)", and writes it. */
static void
log_vline(const char *level, int err, const char *fmt, va_list ap)
{
	char line[1024];
	int n, m;

	n = snprintf(line, sizeof(line), "%s: %s", log_prog, level);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	if (err != 0) {
		m = snprintf(line + n, sizeof(line) - n, ": %s", strerror(err));
		if (m > 0)
			n += m;
		if ((size_t)n >= sizeof(line) - 1)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void
log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline("warning: ", err, fmt, ap);
	va_end(ap);
	errno = err;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("warning: ", 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("", 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_vline("debug: ", 0, fmt, ap);
	va_end(ap);
}

/*
 * Decides whether a rate-limited line may be written now; reports (once)
 * how many were suppressed before a new window's first line.
 */
static int
log_rl_pass(struct log_rl *rl)
{
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec;
	if (rl->lines > 0 && now - rl->window < LOG_RL_WINDOW) {
		if (rl->lines < LOG_RL_BURST) {
			rl->lines++;
			return 1;
		}
		rl->suppressed++;
		log_nsuppressed++;
		return 0;
	}
	if (rl->suppressed > 0)
		log_warnx("(%lu similar messages suppressed in %d s)",
		    rl->suppressed, LOG_RL_WINDOW);
	rl->window = now;
	rl->lines = 1;
	rl->suppressed = 0;
	return 1;
}

void
log_warn_rl(struct log_rl *rl, const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	if (log_rl_pass(rl)) {
		va_start(ap, fmt);
		log_vline("warning: ", err, fmt, ap);
		va_end(ap);
	}
	errno = err;
}

void
log_warnx_rl(struct log_rl *rl, const char *fmt, ...)
{
	va_list ap;

	if (!log_rl_pass(rl))
		return;
	va_start(ap, fmt);
	log_vline("warning: ", 0, fmt, ap);
	va_end(ap);
}

void
log_info_rl(struct log_rl *rl, const char *fmt, ...)
{
	va_list ap;

	if (!log_rl_pass(rl))
		return;
	va_start(ap, fmt);
	log_vline("", 0, fmt, ap);
	va_end(ap);
}

uint64_t
log_suppressed(void)
{
	return log_nsuppressed;
}

/*
 * Opens path for appending without following a symbolic link, and refuses
 * anything but a regular file with one link: root appends to it, and a
 * link planted in a shared directory must not aim those appends at
 * another file (O_NONBLOCK: a FIFO fails at once instead of blocking).
 * The descriptor, or -1 with errno.
 */
static int
log_open_path(const char *path, struct stat *st)
{
	int fd, err;

	fd = open(path,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
	        O_NONBLOCK,
	    0640);
	if (fd == -1)
		return -1;
	if (fstat(fd, st) == -1)
		err = errno;
	else if (!S_ISREG(st->st_mode))
		err = EINVAL;
	else if (st->st_nlink != 1)
		err = EMLINK;
	else
		return fd;
	close(fd);
	errno = err;
	return -1;
}

/* Makes fd the process's stdout and stderr; the caller's fd is closed. */
static int
log_install_fd(int fd, const struct stat *st)
{
	if ((fd != STDOUT_FILENO && dup2(fd, STDOUT_FILENO) == -1) ||
	    (fd != STDERR_FILENO && dup2(fd, STDERR_FILENO) == -1)) {
		if (fd > STDERR_FILENO)
			close(fd);
		return -1;
	}
	if (fd > STDERR_FILENO)
		close(fd);
	log_dev = st->st_dev;
	log_ino = st->st_ino;
	return 0;
}

int
log_open_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if (path[0] != '/' || strlen(path) >= sizeof(log_path)) {
		snprintf(err, errlen, "-l %.256s: not an absolute path", path);
		return -1;
	}
	if ((fd = log_open_path(path, &st)) == -1 ||
	    log_install_fd(fd, &st) == -1) {
		snprintf(err, errlen, "log file %.256s: %s", path,
		    errno == EMLINK ? "has more than one link"
		                    : strerror(errno));
		return -1;
	}
	snprintf(log_path, sizeof(log_path), "%s", path);
	log_reopen_warned = 0;
	return 0;
}

/*
 * After a privilege drop ("user") the reopen runs as that user, and
 * newsyslog creates the new file as the owner its configuration names
 * (root:wheel by default), so the open fails with EACCES. Keeping a
 * descriptor of the directory from before the drop would not help: the
 * permission check of openat(2) uses the caller's credentials at the
 * time of the call, not those of the directory descriptor's opener
 * (POSIX openat; XNU's vn_open_auth authorizes with the current
 * credential). So softnetd warns once and keeps writing to the file it
 * has (lines are never lost, only left in the rotated file), and
 * softnetd(8) says to name that user as the owner in newsyslog.conf when
 * "user" is set; then every reopen succeeds. Retrying each interval is a
 * stat and a failed open.
 */
int
log_check_file(int force)
{
	struct stat st;
	int fd;

	if (log_path[0] == '\0')
		return 0;
	if (!force && stat(log_path, &st) == 0 && st.st_dev == log_dev &&
	    st.st_ino == log_ino)
		return 0;
	if ((fd = log_open_path(log_path, &st)) == -1) {
		if (!log_reopen_warned)
			log_warnx("cannot reopen the log file %s: %s; still "
			          "writing to the file it named before",
			    log_path,
			    errno == EMLINK ? "it has more than one link"
			                    : strerror(errno));
		log_reopen_warned = 1;
		return -1;
	}
	/* Last line of the old file: where the rest went. */
	log_info("reopening the log file %s", log_path);
	if (log_install_fd(fd, &st) == -1) {
		if (!log_reopen_warned)
			log_warn("reopening the log file %s", log_path);
		log_reopen_warned = 1;
		return -1;
	}
	log_reopen_warned = 0;
	log_info("log file %s reopened", log_path);
	return 1;
}

void
fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline("fatal: ", err, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("fatal: ", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
