/*
 * libFuzzer target: the DNS forwarder's SERVFAIL answer (dnsfwd.c), built
 * in place from a query a VM sent, whatever its bytes.
 *
 * Input: the query, as the forwarder has it once it took a datagram of
 * at least a header (shorter inputs are padded with zeros to 12 bytes).
 *
 * Beyond the sanitizers it checks what dnsfwd.h promises: the answer is
 * never longer than the query and at least a header; it keeps the id,
 * sets QR and rcode 2, carries no records, and carries the question
 * (byte for byte, one of it) exactly when its length says so.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dnsfwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DNS_HDR_LEN 12

static uint8_t buf[65535];

/* Stops the run: an invariant dnsfwd.h promises does not hold. */
static _Noreturn void
broken_at(int line)
{
	fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
	__builtin_trap();
}

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			broken_at(__LINE__);                                   \
	} while (0)

/* Runs one input through dnsfwd_servfail and checks its answer. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = size < DNS_HDR_LEN ? DNS_HDR_LEN : size, n;

	if (size > sizeof(buf))
		return 0;
	memset(buf, 0, DNS_HDR_LEN);
	memcpy(buf, data, size);
	n = dnsfwd_servfail(buf, len);
	CHECK(n >= DNS_HDR_LEN && n <= len);
	CHECK(size < 2 || memcmp(buf, data, 2) == 0);
	CHECK((buf[2] & 0x80) && (buf[3] & 0x0f) == 2);
	CHECK(buf[6] == 0 && buf[7] == 0 && buf[8] == 0 && buf[9] == 0 &&
	      buf[10] == 0 && buf[11] == 0);
	if (n == DNS_HDR_LEN) {
		CHECK(buf[4] == 0 && buf[5] == 0);
	} else {
		CHECK(buf[4] == 0 && buf[5] == 1);
		CHECK(memcmp(buf + DNS_HDR_LEN, data + DNS_HDR_LEN,
		          n - DNS_HDR_LEN) == 0);
		CHECK(buf[n - 5] == 0); /* the name's root label */
	}
	return 0;
}
