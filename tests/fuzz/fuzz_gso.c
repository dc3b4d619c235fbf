/*
 * libFuzzer target: the software offloads, fed what a VM with a vnet TAP
 * can send (a virtio-net header and a frame), and what coalescing sees
 * (two frames from a datagram VM).
 *
 * Input: one control byte, a struct pkt_vnet (10 bytes, host order), a
 * 16-bit big-endian length n, then the frame(s).
 *   bit 0  make the header point at the frame's own L4 checksum, with
 *          NEEDS_CSUM and the GSO type of its protocol (TCPv4 or UDP_L4),
 *          so the fuzzer gets past gso_validate at once and works on the
 *          cut
 *   bit 1  two frames: coalesce B (what follows the first n bytes) onto A
 *          (the first n bytes), as plain frames; without it, everything
 *          after the length is one frame and goes through gso_validate,
 *          then gso_complete_csum or gso_segment (checked when the header
 *          validated, run for memory safety alone when it did not)
 *   bits 2-7 reserved
 *
 * Beyond the sanitizers it checks what gso.h promises: a validated
 * superframe is cut into segments that each parse cleanly, are no longer
 * than the headers plus gso_size, carry verifying IPv4 and L4 checksums,
 * and together hold exactly the superframe's payload in order; two frames
 * that coalesce give a header that validates and, cut again, the two
 * payloads back.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gso.h"
#include "pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEGS 256

static uint8_t superframe[PKT_MAX_FRAME];
static uint8_t segbuf[2 * PKT_MAX_FRAME];
static uint8_t *segs[MAX_SEGS];
static size_t seglens[MAX_SEGS];

/* Stops the run: an invariant gso.h promises does not hold. */
static _Noreturn void
broken_at(int line)
{
	fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
	__builtin_trap();
}
#define broken() broken_at(__LINE__)

/* L4 header length of a parsed TCP or UDP frame. */
static size_t
l4_hlen(const struct pkt_info *pi)
{
	return pi->ip_proto == PKT_IPPROTO_TCP ? (size_t)(pi->l4[12] >> 4) * 4
	                                       : sizeof(struct pkt_udp);
}

/*
 * Cuts the validated superframe f (payload pay of plen bytes) and checks
 * every segment; the payloads must concatenate back to pay.
 */
static void
check_segments(const uint8_t *f, size_t len, const struct pkt_vnet *h,
    const uint8_t *pay, size_t plen)
{
	struct gso_out out = {segbuf, sizeof(segbuf), segs, seglens, MAX_SEGS};
	struct pkt_info pi;
	size_t got = 0, hl, n;
	int k, nseg;

	if ((nseg = gso_segment(f, len, h, &out)) == -1)
		return; /* more segments than room: refused, fine */
	for (k = 0; k < nseg; k++) {
		if (pkt_parse(segs[k], seglens[k], &pi) == -1 ||
		    pi.malformed != PKT_OK || pi.ip == NULL || !pi.has_ports)
			broken();
		if (pkt_csum(pi.ip, (size_t)(pi.ip->ver_ihl & 0x0f) * 4, 0) !=
		        0 ||
		    pkt_csum(pi.l4, pi.l4_len,
		        pkt_pseudo_sum(pi.ip_src, pi.ip_dst, pi.ip_proto,
		            (uint16_t)pi.l4_len)) != 0)
			broken();
		hl = l4_hlen(&pi);
		if (hl > pi.l4_len)
			broken();
		n = pi.l4_len - hl;
		if (n > h->gso_size || got + n > plen ||
		    memcmp(pi.l4 + hl, pay + got, n) != 0)
			broken();
		got += n;
	}
	if (got != plen)
		broken();
}

/* Header fields that point at the frame's own checksum, for bit 0. */
static void
aim(struct pkt_vnet *h, const struct pkt_info *pi)
{
	if (pi->l4 == NULL || pi->ip == NULL)
		return;
	h->flags |= PKT_VNET_F_NEEDS_CSUM;
	h->csum_start = (uint16_t)(pi->l4 - pi->frame);
	if (pi->ip_proto == PKT_IPPROTO_TCP) {
		h->gso_type = (uint8_t)(PKT_VNET_GSO_TCPV4 |
		                        (h->gso_type & PKT_VNET_GSO_ECN));
		h->csum_offset = 16;
	} else {
		h->gso_type = PKT_VNET_GSO_UDP_L4;
		h->csum_offset = 6;
	}
}

/*
 * The superframe path: validate, then complete the checksum or cut. Frames
 * from the uplink (the host's kernel) are completed or cut without
 * validation, so both must also be safe on a header that fails it.
 */
static void
one_frame(struct pkt_vnet h, const uint8_t *f, size_t len, bool aimed)
{
	struct gso_out out = {segbuf, sizeof(segbuf), segs, seglens, MAX_SEGS};
	struct pkt_info pi;
	uint8_t *copy;
	size_t hl;
	bool valid;

	if (len > sizeof(superframe))
		return;
	memcpy(superframe, f, len);
	(void)pkt_parse(superframe, len, &pi);
	if (aimed)
		aim(&h, &pi);
	valid = gso_validate(&h, &pi);
	if (h.gso_type == PKT_VNET_GSO_NONE) {
		/* An exact-size copy: ASan flags a write past the frame. */
		if ((copy = malloc(len > 0 ? len : 1)) == NULL)
			return;
		memcpy(copy, f, len);
		(void)gso_complete_csum(copy, len, &h);
		free(copy);
		return;
	}
	if (!valid) {
		(void)gso_segment(superframe, len, &h, &out);
		return;
	}
	hl = l4_hlen(&pi);
	if (hl > pi.l4_len)
		broken(); /* validated: the L4 header is whole */
	check_segments(superframe, len, &h, pi.l4 + hl, pi.l4_len - hl);
}

/* The receive path: coalesce B onto A, then cut the result back. */
static void
two_frames(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	static uint8_t pay[PKT_MAX_FRAME];
	struct pkt_vnet av = {0};
	struct pkt_info pa, pb, pi;
	size_t n = 0, before = alen, ha, hb;

	if (alen > sizeof(superframe))
		return;
	memcpy(superframe, a, alen);
	if (!gso_coalesce(
	        superframe, &alen, sizeof(superframe), &av, b, blen)) {
		if (alen != before || memcmp(superframe, a, alen) != 0)
			broken(); /* refused: a untouched */
		return;
	}
	/* Both were whole TCP frames; their payloads, in order, are the
	 * superframe's. */
	if (pkt_parse(a, before, &pa) == -1 || pkt_parse(b, blen, &pb) == -1 ||
	    pa.l4 == NULL || pb.l4 == NULL)
		broken();
	ha = l4_hlen(&pa);
	hb = l4_hlen(&pb);
	if (ha > pa.l4_len || hb > pb.l4_len ||
	    pa.l4_len - ha + pb.l4_len - hb > sizeof(pay))
		broken();
	memcpy(pay, pa.l4 + ha, pa.l4_len - ha);
	n = pa.l4_len - ha;
	memcpy(pay + n, pb.l4 + hb, pb.l4_len - hb);
	n += pb.l4_len - hb;
	if (pkt_parse(superframe, alen, &pi) == -1 || !gso_validate(&av, &pi) ||
	    pi.l4_len < l4_hlen(&pi) || pi.l4_len - l4_hlen(&pi) != n)
		broken();
	if (memcmp(pi.l4 + l4_hlen(&pi), pay, n) != 0)
		broken();
	/* Cut again: checksums from scratch and the same bytes back. The
	 * merged frame's checksum is pending, as a TAP takes it. */
	check_segments(superframe, alen, &av, pay, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkt_vnet h;
	size_t n, rest;
	uint8_t ctl;

	if (size < 1 + sizeof(h) + 2)
		return 0;
	ctl = data[0];
	memcpy(&h, data + 1, sizeof(h));
	n = (size_t)data[1 + sizeof(h)] << 8 | data[2 + sizeof(h)];
	data += 3 + sizeof(h);
	size -= 3 + sizeof(h);
	if (n > size)
		n = size;
	rest = size - n;
	if (ctl & 0x02)
		two_frames(data, n, data + n, rest);
	else
		one_frame(h, data, size, (ctl & 0x01) != 0);
	return 0;
}
