/*
 * Prometheus metrics (issue #16): the text exposition format 0.0.4 of the
 * daemon's counters, rendered into a buffer from struct softnetd. Pure
 * reads; metrics_http.c serves what this renders.
 */
#ifndef SOFTNET_METRICS_H
#define SOFTNET_METRICS_H

#include <stdint.h>
#include <sys/types.h>

struct softnetd;
struct evbuffer;

/* The Content-Type of what metrics_render writes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Which VMs' per-VM series (labels vm, id, owner) a scrape shows. */
enum metrics_scope {
	METRICS_VMS_ALL,  /* every VM: root, admin_group, TCP with per_vm */
	METRICS_VMS_OWN,  /* the VMs the scraping uid owns */
	METRICS_VMS_NONE, /* none: host-level families and totals only */
};

/* Why the endpoint refused a connection (metrics_http.c). */
enum metrics_refusal {
	METRICS_REFUSED_LIMIT,    /* METRICS_HTTP_MAX_CONNS open */
	METRICS_REFUSED_RESERVED, /* the last ones are kept for root/admin */
	METRICS_REFUSED_PER_USER, /* the uid holds METRICS_HTTP_PER_USER */
	METRICS_REFUSED_CRED,     /* the peer's credentials were unreadable */
	METRICS_REFUSED__COUNT
};

/* The status codes the endpoint answers, in metrics_server.requests. */
#define METRICS_NCODES 7
extern const int metrics_codes[METRICS_NCODES];

/* The endpoint's own counters, kept by metrics_http.c. */
struct metrics_server {
	uint64_t accepted; /* connections served */
	uint64_t refused[METRICS_REFUSED__COUNT];
	uint64_t requests[METRICS_NCODES]; /* answered, by METRICS_CODES */
	unsigned open;                     /* connections open now */
};

/* Who is scraping: what metrics_render may show them. */
struct metrics_view {
	enum metrics_scope scope;
	uid_t uid;                           /* METRICS_VMS_OWN's owner */
	const struct metrics_server *server; /* NULL: not rendered */
};

/*
 * Appends every family (# HELP, # TYPE, samples) to out: per-VM series of
 * the VMs attached now that view lets the scraper see (a VM it may not
 * see leaves no trace, not even its name), so a detached VM's series end
 * with it; host-level families and per-host totals always.
 * 0, or -1 when out could not grow.
 */
int metrics_render(
    struct softnetd *sd, struct evbuffer *out, const struct metrics_view *view);

#endif
