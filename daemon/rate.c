/*
 * Theory of operation: a bucket holds up to one burst of tokens (1/20 s of
 * the rate, but at least 64 frames or one 64 KiB superframe, so a
 * legitimate burst is never cut) and refills at the rate as time passes.
 * A frame passes when there is a token for it and for each of its bytes.
 * A GSO superframe is one frame (it costs the daemon what one frame costs:
 * one read, one decision, one write) and all of its bytes: the frame limit
 * is a packet-rate guard, the byte limit the volume guard. A limit with
 * burst_frames set (DHCP: a few messages a second, a burst of eight) uses
 * exactly that depth for frames instead.
 *
 * rate_room and rate_wait let a reader ask before it reads: how many
 * frames may it take, and when to come back if none (switch.c then
 * leaves a VM's excess in the VM's own queue instead of reading it).
 */
#include "rate.h"

#define RATE_BURST_DIV  20
#define RATE_MIN_FRAMES 64.0
#define RATE_MIN_BYTES  (128.0 * 1024)

/* The burst size of a rate with a floor. */
static double
burst(uint64_t rate, double floor)
{
	double b = (double)rate / RATE_BURST_DIV;

	return b > floor ? b : floor;
}

/* The frame bucket's depth: the explicit burst, else the data-plane rule. */
static double
frame_burst(const struct rate_limit *lim)
{
	if (lim->burst_frames != 0)
		return (double)lim->burst_frames;
	return burst(lim->frames_per_sec, RATE_MIN_FRAMES);
}

void
rate_init(struct rate *r, const struct rate_limit *lim, uint64_t now_ns)
{
	r->frames = frame_burst(lim);
	r->bytes = burst(lim->bytes_per_sec, RATE_MIN_BYTES);
	r->last = now_ns;
}

/* Adds the tokens earned since the last refill, up to the burst. */
static void
refill(struct rate *r, const struct rate_limit *lim, uint64_t now_ns)
{
	double dt, fmax, bmax;

	if (now_ns <= r->last)
		return;
	dt = (double)(now_ns - r->last) / 1e9;
	r->last = now_ns;
	fmax = frame_burst(lim);
	bmax = burst(lim->bytes_per_sec, RATE_MIN_BYTES);
	r->frames += dt * (double)lim->frames_per_sec;
	r->bytes += dt * (double)lim->bytes_per_sec;
	if (r->frames > fmax)
		r->frames = fmax;
	if (r->bytes > bmax)
		r->bytes = bmax;
}

bool
rate_take(
    struct rate *r, const struct rate_limit *lim, size_t len, uint64_t now_ns)
{
	if (lim->frames_per_sec == 0 && lim->bytes_per_sec == 0)
		return true;
	refill(r, lim, now_ns);
	if ((lim->frames_per_sec != 0 && r->frames < 1.0) ||
	    (lim->bytes_per_sec != 0 && r->bytes < (double)len))
		return false;
	if (lim->frames_per_sec != 0)
		r->frames -= 1.0;
	if (lim->bytes_per_sec != 0)
		r->bytes -= (double)len;
	return true;
}

unsigned
rate_room(struct rate *r, const struct rate_limit *lim, unsigned max,
    size_t bytes, uint64_t now_ns)
{
	if (lim->frames_per_sec == 0 && lim->bytes_per_sec == 0)
		return max;
	refill(r, lim, now_ns);
	if (lim->bytes_per_sec != 0 && r->bytes < (double)bytes)
		return 0;
	if (lim->frames_per_sec == 0 || r->frames >= (double)max)
		return max;
	return (unsigned)r->frames;
}

uint64_t
rate_wait(struct rate *r, const struct rate_limit *lim, unsigned frames,
    size_t bytes, uint64_t now_ns)
{
	double need_f = (double)frames, need_b = (double)bytes, wf = 0, wb = 0;

	refill(r, lim, now_ns);
	if (lim->frames_per_sec != 0) {
		if (need_f > frame_burst(lim))
			need_f = frame_burst(lim);
		if (r->frames < need_f)
			wf = (need_f - r->frames) / (double)lim->frames_per_sec;
	}
	if (lim->bytes_per_sec != 0) {
		if (need_b > burst(lim->bytes_per_sec, RATE_MIN_BYTES))
			need_b = burst(lim->bytes_per_sec, RATE_MIN_BYTES);
		if (r->bytes < need_b)
			wb = (need_b - r->bytes) / (double)lim->bytes_per_sec;
	}
	if (wf < wb)
		wf = wb;
	/* Rounded up: the reader comes back to room, not just short of it. */
	return wf > 0 ? (uint64_t)(wf * 1e9) + 1000 : 0;
}
