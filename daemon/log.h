/*
 * Logging for softnetd: to stderr (launchd and systemd collect it), or to
 * the -l file, reopened when it is rotated; one line per message, with a
 * level prefix. log_warn appends strerror(errno).
 * fatal/fatalx are for startup and broken internal invariants only, never for
 * anything a VM or a client sent.
 */
#ifndef SOFTNET_LOG_H
#define SOFTNET_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/*
 * Rate limit for a per-event warning (issue #13 item 7): at most
 * LOG_RL_BURST lines per LOG_RL_WINDOW seconds from one call site, then
 * silence; the first line after a quiet window says how many were
 * suppressed. One static struct log_rl per call site (zero-initialized).
 */
#define LOG_RL_BURST  5
#define LOG_RL_WINDOW 10 /* seconds */

struct log_rl {
	int64_t window; /* start of the current window, monotonic seconds */
	unsigned lines; /* lines written in it */
	unsigned long suppressed; /* dropped since the last line written */
};

void log_init(int debug, const char *progname);
int log_get_debug(void);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
/* log_warn and log_warnx through the rate limit rl. */
void log_warn_rl(struct log_rl *rl, const char *fmt, ...) LOG_PRINTF(2, 3);
void log_warnx_rl(struct log_rl *rl, const char *fmt, ...) LOG_PRINTF(2, 3);
/* log_info through the rate limit rl (a notice a VM can repeat). */
void log_info_rl(struct log_rl *rl, const char *fmt, ...) LOG_PRINTF(2, 3);
/* Lines suppressed by every limiter since start (status). */
uint64_t log_suppressed(void);

/*
 * The log file of -l (issue #11): newsyslog renames it under a running
 * daemon, so softnetd checks every LOG_CHECK_INTERVAL seconds whether the
 * path still names the file it writes to and reopens it if not.
 */
#define LOG_CHECK_INTERVAL 5 /* seconds */

/* Opens path for appending onto stdout and stderr; -1 with err set. */
int log_open_file(const char *path, char *err, size_t errlen);
/*
 * Reopens the log file if path is gone or names another file (force:
 * always). 1 reopened, 0 nothing to do (or no log file), -1 failed:
 * warned once per rotation, lines keep going to the old file.
 */
int log_check_file(int force);
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
