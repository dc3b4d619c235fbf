/*
 * The control server: the Unix socket clients talk to (JSON lines, one fd
 * per request by SCM_RIGHTS). What a request does is ctl_ops.h's
 * (ctl_ops_request, the transport-free core unit tests drive).
 */
#ifndef SOFTNET_CONTROL_H
#define SOFTNET_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fdbudget.h"

struct softnetd;

/*
 * Descriptors one connection may hold that came ahead of the end of their
 * request line; a connection costs the descriptor budget 1 + this.
 */
#define CONTROL_MAX_FDS  FDBUDGET_CONN_PASSED
#define CONTROL_CONN_FDS FDBUDGET_CONN_FDS

/*
 * Binds the control socket (replacing a stale one, refusing when a live
 * daemon answers on it) and starts accepting. -1 with a message in err.
 */
int control_init(struct softnetd *sd, char *err, size_t errlen);
/* Closes every connection and removes the socket file. */
void control_shutdown(struct softnetd *sd);

/* Detaches every VM attached with session = this connection. */
void control_session_end(struct softnetd *sd, void *session);
/* Decides whether uid/gid belongs to the named admin group. */
bool control_is_admin(uid_t uid, gid_t gid, const char *admin_group);
/*
 * Whether the peer on the Unix socket fd (credentials uid/gid, from
 * osdep_peer_cred) is root or in admin_group, from the groups the kernel
 * recorded at connect; the control server's and the metrics endpoint's.
 */
bool control_peer_is_admin(struct softnetd *sd, int fd, uid_t uid, gid_t gid);

#endif
