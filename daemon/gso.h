/*
 * Offloads in software: validating a virtio-net header against the frame
 * it describes, completing a pending L4 checksum, and cutting a TCP/IPv4
 * or UDP/IPv4 GSO superframe into MTU-sized segments for ports that cannot
 * take superframes (a VM's 1500-byte datagram socket). Pure functions: no
 * I/O, no allocation; the caller owns every buffer.
 */
#ifndef SOFTNET_GSO_H
#define SOFTNET_GSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

/* Linux's limit on the segments of one UDP superframe (UDP_MAX_SEGMENTS). */
#define GSO_UDP_MAX_SEGS 128

/*
 * Checks that hdr describes frame pi truthfully: only the NEEDS_CSUM and
 * DATA_VALID flags; GSO only TCPv4 (ECN allowed) on an IPv4 TCP frame or
 * UDP_L4 (no ECN) on an IPv4 UDP frame, unfragmented, with NEEDS_CSUM,
 * payload, a non-zero gso_size (for UDP, at most GSO_UDP_MAX_SEGS
 * segments) and hdr_len within the frame; csum_start/offset pointing
 * exactly at this frame's TCP or UDP checksum field. Returns true when the
 * header may be trusted.
 */
bool gso_validate(const struct pkt_vnet *hdr, const struct pkt_info *pi);

/*
 * Completes the L4 checksum that NEEDS_CSUM says is pending (in place).
 * The frame must have passed gso_validate. Returns 0, -1 when it cannot.
 */
int gso_complete_csum(uint8_t *frame, size_t len, const struct pkt_vnet *hdr);

/* Where gso_segment puts each segment. */
struct gso_out {
	uint8_t *buf; /* room for all segments, back to back */
	size_t cap;
	uint8_t **seg; /* filled: start of each segment */
	size_t *len;   /* filled: length of each segment */
	size_t max;    /* room in seg[] and len[] */
};

/*
 * Cuts a validated superframe into segments of at most gso_size payload
 * bytes, each a complete frame with correct headers and checksums, as
 * Linux cuts them: IP ids incremented; for TCP, sequence numbers advanced,
 * FIN/PSH only on the last segment and CWR only on the first; for UDP
 * (UDP_L4), each segment a datagram of its own with its own length and
 * checksum. Returns the number of segments, or -1 when the output space is
 * too small or the frame is not what the header says.
 */
int gso_segment(const uint8_t *frame, size_t len, const struct pkt_vnet *hdr,
    struct gso_out *out);

/*
 * Receive offload in software: appends plain TCP/IPv4 frame b to frame a
 * (len *alen in a buffer of acap bytes, header *av) when b continues a's
 * flow exactly: same addresses, ports, TTL/TOS, ack, window and TCP
 * options, the next sequence number, no flags but ACK (PSH ends a run), a
 * payload no larger than a's segment size. a then becomes (or grows) a GSO
 * superframe with a pending checksum, as a TAP with offloads takes it.
 * Returns true when b was merged; false leaves a untouched.
 */
bool gso_coalesce(uint8_t *a, size_t *alen, size_t acap, struct pkt_vnet *av,
    const uint8_t *b, size_t blen);

#endif
