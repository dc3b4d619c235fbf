/*
 * libFuzzer target: metrics_http_parse (the metrics endpoint's HTTP
 * request parser) on the input as the bytes a client sent.
 *
 * Checks beyond the sanitizers: the answer is one of the statuses the
 * parser promises; an answer never depends on bytes past
 * METRICS_HTTP_MAX_REQUEST; and a decision made on a prefix is never
 * contradicted by more bytes (the server answers as soon as the parser
 * decides, so a prefix that decided must decide the same for the whole).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "metrics_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run: an invariant the parser promises does not hold. */
static _Noreturn void
broken_at(int line)
{
	fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
	__builtin_trap();
}
#define broken() broken_at(__LINE__)

static bool
valid(int status)
{
	return status == 0 || status == 200 || status == 400 || status == 404 ||
	       status == 405 || status == 431 || status == 505;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t cuts[3], i;
	const char *nl;
	int whole, part;

	whole = metrics_http_parse(buf, size);
	if (!valid(whole))
		broken();
	if (size > METRICS_HTTP_MAX_REQUEST &&
	    metrics_http_parse(buf, METRICS_HTTP_MAX_REQUEST) != whole)
		broken();
	nl = memchr(buf, '\n', size);
	cuts[0] = size / 2;
	cuts[1] = size > 0 ? size - 1 : 0;
	cuts[2] = nl != NULL ? (size_t)(nl - buf) + 1 : 0;
	for (i = 0; i < 3; i++) {
		part = metrics_http_parse(buf, cuts[i]);
		if (!valid(part) || (part != 0 && part != whole))
			broken();
	}
	return 0;
}
