/*
 * Declarations from macOS's <notify.h> (notify(3)), for make
 * check-darwin: only what osdep_darwin.c calls.
 */
#ifndef SOFTNET_COMPAT_NOTIFY_H
#define SOFTNET_COMPAT_NOTIFY_H

#include <stdint.h>

#define NOTIFY_STATUS_OK 0

uint32_t notify_register_file_descriptor(
    const char *name, int *notify_fd, int flags, int *out_token);
uint32_t notify_cancel(int token);

#endif
