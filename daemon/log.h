/*
 * Logging for softnetd: to stderr (launchd and systemd collect it), one line
 * per message, with a level prefix. log_warn appends strerror(errno).
 * fatal/fatalx are for startup and broken internal invariants only, never for
 * anything a VM or a client sent.
 */
#ifndef SOFTNET_LOG_H
#define SOFTNET_LOG_H

#include <stdarg.h>
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
/* Lines suppressed by every limiter since start (status). */
uint64_t log_suppressed(void);
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
