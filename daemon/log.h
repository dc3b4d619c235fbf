/*
 * Logging for softnetd: to stderr (launchd and systemd collect it), one line
 * per message, with a level prefix. log_warn appends strerror(errno).
 * fatal/fatalx are for startup and broken internal invariants only, never for
 * anything a VM or a client sent.
 */
#ifndef SOFTNET_LOG_H
#define SOFTNET_LOG_H

#include <stdarg.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_init(int debug, const char *progname);
int log_get_debug(void);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif
