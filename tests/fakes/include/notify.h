/*
 * Fake <notify.h> (notify(3)): registrations get a pipe nothing is ever
 * posted to (no notifyd here). Implemented in tests/fakes/xnu.c.
 */
#ifndef FAKE_NOTIFY_H
#define FAKE_NOTIFY_H

#include <stdint.h>

#define NOTIFY_STATUS_OK     0
#define NOTIFY_STATUS_FAILED 1000000

uint32_t notify_register_file_descriptor(
    const char *name, int *notify_fd, int flags, int *out_token);
uint32_t notify_cancel(int token);

#endif
