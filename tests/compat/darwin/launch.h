/* Declaration-only stand-in for <launch.h> (macOS 10.10+). */
#ifndef COMPAT_LAUNCH_H
#define COMPAT_LAUNCH_H

#include <stddef.h>

int launch_activate_socket(const char *name, int **fds, size_t *cnt);

#endif
