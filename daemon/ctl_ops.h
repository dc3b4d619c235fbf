/*
 * The control protocol's dispatch: one request line in, one reply out,
 * with no socket (control.c owns the transport), so unit tests and the
 * fuzzer drive every op directly. Each op is one function taking one
 * struct ctl_req.
 */
#ifndef SOFTNET_CTL_OPS_H
#define SOFTNET_CTL_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct softnetd;

/* Who is asking: from the kernel (peer credentials), never the payload. */
struct ctl_peer {
	uid_t uid;
	gid_t gid;
	bool admin; /* root or a member of admin_group */
};

/* One request, as every op sees it. */
struct ctl_req {
	struct softnetd *sd;
	const struct ctl_peer *peer;
	json_t *req;   /* the request object, validated against the op's keys */
	json_t *id;    /* its "id", echoed in the reply, or NULL */
	int fd;        /* the descriptor that came with it, or -1 */
	void *session; /* the connection, for session attachments */
	int *reply_fd; /* an op answering with a descriptor puts it here */
};

/*
 * Handles one request line. fd (-1: none) is consumed: adopted by an attach
 * or closed. session identifies the connection for session attachments.
 * Returns the reply object (never NULL).
 */
json_t *ctl_ops_request(struct softnetd *sd, const struct ctl_peer *peer,
    const char *line, size_t len, int fd, void *session);
/*
 * ctl_ops_request for a transport that can pass a descriptor back with
 * the reply ("capture"): *reply_fd is -1, or one the caller sends with
 * the reply line and then closes.
 */
json_t *ctl_ops_request_fd(struct softnetd *sd, const struct ctl_peer *peer,
    const char *line, size_t len, int fd, void *session, int *reply_fd);
/*
 * The wire name of op i in the table (the index of sd->ctl_requests),
 * NULL past the last one.
 */
const char *ctl_ops_name(size_t i);

#endif
