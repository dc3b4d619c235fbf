/*
 * libFuzzer target: the bootpd lease-file parser (bootpd_next) and the
 * merge (bootpd_merge) on the input as the text of /var/db/dhcpd_leases,
 * which bootpd and anyone else who can write it control.
 *
 * Input: one control byte, then the file.
 *   bits 0-1  how many leases softnetd writes at the head (0-3)
 *   bit 2     every entry with a parsed hw_address is softnetd's (else
 *             only those whose MAC is 2:0:0:0:0:a)
 *
 * Beyond the sanitizers it checks what bootpd.h promises: the segments
 * cover the text exactly, in order, each inside it; an entry starts with a
 * "{" line; the merge is softnetd's rendered entries followed by every
 * segment it did not claim, byte for byte.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootpd.h"
#include "clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The daemon's clock, held still so that runs repeat (clock_set_hook). */
static int64_t
test_now(void)
{
	return 1700000000;
}

/* Stops the run: an invariant the parser promises does not hold. */
static _Noreturn void
broken_at(int line)
{
	fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
	__builtin_trap();
}
#define broken() broken_at(__LINE__)

/* bootpd_ours_fn: all parsed entries, or only MAC 2:0:0:0:0:a. */
static bool
claim(const struct bootpd_seg *seg, void *arg)
{
	static const uint8_t mac[6] = {2, 0, 0, 0, 0, 0x0a};

	if (!seg->has_mac)
		return false;
	return *(const bool *)arg || memcmp(seg->mac, mac, 6) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct bootpd_lease leases[3] = {
	    {{2, 0, 0, 0, 0, 0x0a}, 0xc0a8690a, 1700000600, "vm-1"},
	    {{2, 0, 0, 0, 0, 0x0b}, 0xc0a8690b, 1700000600, ""},
	    {{0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54}, 0xc0a869fe, 0, "x y"},
	};
	struct bootpd_seg seg;
	const char *text;
	size_t len, off, k, n, out_len, pos = 0, i;
	char entry[512], *out;
	bool all;

	clock_set_hook(test_now, NULL);
	if (size < 1)
		return 0;
	n = data[0] & 3;
	all = (data[0] & 4) != 0;
	text = (const char *)data + 1;
	len = size - 1;

	for (off = 0; (k = bootpd_next(text, len, off, &seg)) > 0; off += k) {
		if (seg.off != off || seg.len != k || k > len - off)
			broken();
		if (seg.block && (k < 3 || memcmp(text + off, "{\n", 2) != 0))
			broken();
	}
	if (off != len)
		broken();

	out = bootpd_merge(text, len, leases, n, claim, &all, &out_len);
	for (i = 0; i < n; i++) {
		k = bootpd_render(&leases[i], entry, sizeof(entry));
		if (k == 0 || pos + k > out_len ||
		    memcmp(out + pos, entry, k) != 0)
			broken();
		pos += k;
	}
	for (off = 0; (k = bootpd_next(text, len, off, &seg)) > 0; off += k) {
		if (seg.block && claim(&seg, &all))
			continue;
		if (pos + k > out_len || memcmp(out + pos, text + off, k) != 0)
			broken();
		pos += k;
	}
	if (pos != out_len || out[out_len] != '\0')
		broken();
	free(out);
	return 0;
}
