/*
 * The metrics endpoint (issue #16): a strict, minimal HTTP/1.0-1.1 server
 * on config metrics.listen that answers GET /metrics with metrics.c's
 * rendering, one request per connection, from the event loop.
 */
#ifndef SOFTNET_METRICS_HTTP_H
#define SOFTNET_METRICS_HTTP_H

#include <stddef.h>

struct softnetd;

#define METRICS_HTTP_MAX_REQUEST 4096 /* request line and headers */
#define METRICS_HTTP_MAX_CONNS   16   /* connections at once */
#define METRICS_HTTP_PER_USER    4    /* Unix: a non-admin uid's share */
#define METRICS_HTTP_RESERVED    4    /* Unix: kept for root/admin_group */
#define METRICS_HTTP_TIMEOUT     10   /* seconds for a whole exchange */

/*
 * Parses the request at buf[0..len) as far as it goes. Returns 0 while it
 * is incomplete (more bytes may make it whole), else the status to answer:
 * 200 (GET /metrics), 400 (malformed, a body, no Host in HTTP/1.1), 404
 * (another path), 405 (another method), 431 (no end within
 * METRICS_HTTP_MAX_REQUEST bytes), 505 (not HTTP/1.0 or 1.1). Anything
 * after the request's empty line is never read (no pipelining).
 */
int metrics_http_parse(const char *buf, size_t len);

/*
 * Listens on sd->cfg.metrics.listen when set (a Unix socket is made mode
 * 0666: each peer sees the VMs its uid may). 0, or -1 with a message in err.
 */
int metrics_http_init(struct softnetd *sd, char *err, size_t errlen);
/* Closes the listener and every connection (removes the socket file). */
void metrics_http_shutdown(struct softnetd *sd);

#endif
