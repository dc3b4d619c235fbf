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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_debug_on;
static const char *log_prog = "softnetd";
static uint64_t log_nsuppressed;

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

uint64_t
log_suppressed(void)
{
	return log_nsuppressed;
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
