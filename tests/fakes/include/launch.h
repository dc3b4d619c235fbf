/* Fake <launch.h> (macOS 10.10+): launch_activate_socket, in xnu.c. */
#ifndef FAKE_LAUNCH_H
#define FAKE_LAUNCH_H

#include <stddef.h>

int launch_activate_socket(const char *name, int **fds, size_t *cnt);

#endif
