/*
 * Prometheus metrics (issue #16): the text exposition format 0.0.4 of the
 * daemon's counters, rendered into a buffer from struct softnetd. Pure
 * reads; metrics_http.c serves what this renders.
 */
#ifndef SOFTNET_METRICS_H
#define SOFTNET_METRICS_H

struct softnetd;
struct evbuffer;

/* The Content-Type of what metrics_render writes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Appends every family (# HELP, # TYPE, samples) to out: per-VM series of
 * the VMs attached now only, so a detached VM's series end with it.
 * 0, or -1 when out could not grow.
 */
int metrics_render(struct softnetd *sd, struct evbuffer *out);

#endif
