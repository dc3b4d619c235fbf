/*
 * The control server: the Unix socket clients talk to (JSON lines, one fd
 * per request by SCM_RIGHTS). control_request is the transport-free core,
 * exposed so unit tests can drive every op without a socket.
 */
#ifndef SOFTNET_CONTROL_H
#define SOFTNET_CONTROL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct softnetd;

/*
 * Descriptors one connection may hold that came ahead of the end of their
 * request line; a connection costs the descriptor budget 1 + this.
 */
#define CONTROL_MAX_FDS  4
#define CONTROL_CONN_FDS (1 + CONTROL_MAX_FDS)

/* Who is asking: from the kernel (peer credentials), never the payload. */
struct control_peer {
	uid_t uid;
	gid_t gid;
	bool admin; /* root or a member of admin_group */
};

/*
 * Binds the control socket (replacing a stale one, refusing when a live
 * daemon answers on it) and starts accepting. -1 with a message in err.
 */
int control_init(struct softnetd *sd, char *err, size_t errlen);
/* Closes every connection and removes the socket file. */
void control_shutdown(struct softnetd *sd);

/*
 * Handles one request line. fd (-1: none) is consumed: adopted by an attach
 * or closed. session identifies the connection for session attachments.
 * Returns the reply object (never NULL).
 */
json_t *control_request(struct softnetd *sd, const struct control_peer *peer,
    const char *line, size_t len, int fd, void *session);
/* Detaches every VM attached with session = this connection. */
void control_session_end(struct softnetd *sd, void *session);
/* The control and exposure limits and their counters (status). */
json_t *control_limits_json(struct softnetd *sd);
/* Decides whether uid/gid belongs to the named admin group. */
bool control_is_admin(uid_t uid, gid_t gid, const char *admin_group);

#endif
