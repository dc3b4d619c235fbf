/*
 * Port exposure (--expose EXT:INT): the daemon listens on host TCP port EXT
 * and proxies each connection to the VM's current lease, port INT.
 */
#ifndef SOFTNET_EXPOSE_H
#define SOFTNET_EXPOSE_H

#include <stddef.h>

#define EXPOSE_MAX_CONNS  256          /* live proxied connections per VM */
#define EXPOSE_HIGH_WATER (256 * 1024) /* bytes queued toward one side */

struct softnetd;
struct port;

/*
 * Listens on 0.0.0.0:EXT for every entry of p->policy.expose. All or
 * nothing: on failure closes what it opened and returns -1 with a message
 * ("host TCP port 8080 is already in use").
 */
int expose_open(struct softnetd *sd, struct port *p, char *err, size_t errlen);
/* Closes p's listeners and every live proxied connection; p->expose NULL. */
void expose_close(struct softnetd *sd, struct port *p);
/* Live proxied connections of p (status and tests). */
size_t expose_count(const struct port *p);

#endif
