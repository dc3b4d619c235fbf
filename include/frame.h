/*
 * The frame buffer every part of the frame path passes around (uplink,
 * ports, switch, osdep's batched socket calls): one Ethernet frame and the
 * virtio-net header that came with it. It sits beside pkt.h, below every
 * module that moves frames, so none of them depends on another to name it.
 */
#ifndef SOFTNET_FRAME_H
#define SOFTNET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

/*
 * One frame buffer: data[0..len) of cap bytes, and the virtio-net header
 * that came with it (all zero: a plain frame, nothing pending).
 */
struct frame {
	uint8_t *data;
	size_t len;
	size_t cap;
	struct pkt_vnet vnet;
};

#endif
