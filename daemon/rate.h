/*
 * Token buckets for per-VM rate limits: frames per second and bytes per
 * second, each direction on its own. Pure arithmetic on a caller-supplied
 * monotonic clock; no I/O, no allocation.
 */
#ifndef SOFTNET_RATE_H
#define SOFTNET_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A limit: 0 in a rate means unlimited. burst_frames, when nonzero, is the
 * bucket's exact frame depth (a slow control-plane limit such as DHCP's few
 * messages a second wants a burst of a handful, not the data plane's floor
 * of 64); 0 keeps the data-plane rule below.
 */
struct rate_limit {
	uint64_t frames_per_sec;
	uint64_t bytes_per_sec;
	uint64_t burst_frames;
};

/* One direction's buckets. */
struct rate {
	double frames; /* tokens left */
	double bytes;
	uint64_t last; /* clock of the last refill, ns */
};

/* Starts full at now_ns. */
void rate_init(struct rate *r, const struct rate_limit *lim, uint64_t now_ns);
/*
 * Takes one frame of len bytes if both buckets have room; false (nothing
 * taken) when the frame is over the limit.
 */
bool rate_take(
    struct rate *r, const struct rate_limit *lim, size_t len, uint64_t now_ns);
/*
 * Refills, then: how many whole frames may be taken now (max when frames
 * are unlimited, never more than max), or 0 when the byte bucket holds
 * fewer than bytes.
 */
unsigned rate_room(struct rate *r, const struct rate_limit *lim, unsigned max,
    size_t bytes, uint64_t now_ns);
/*
 * Nanoseconds from now_ns until the buckets hold frames frames and bytes
 * bytes (each capped at its bucket's depth); 0 when they do already.
 */
uint64_t rate_wait(struct rate *r, const struct rate_limit *lim,
    unsigned frames, size_t bytes, uint64_t now_ns);

#endif
