/*
 * Theory of operation: a policy is a small array of CIDR rules kept sorted so
 * that the first match is the answer: longer prefixes first and, on equal
 * prefixes, block before allow. policy_decide runs per frame, so it only walks
 * that array; all parsing and sorting happens when a policy is set.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "policy.h"

void
policy_init(struct policy *p)
{
	memset(p, 0, sizeof(*p));
}

/* Sort key order: is a before b? */
static bool
rule_before(const struct policy_rule *a, const struct policy_rule *b)
{
	if (a->plen != b->plen)
		return a->plen > b->plen;
	return a->block && !b->block;
}

int
policy_add(
    struct policy *p, const char *entry, bool block, char *err, size_t errlen)
{
	struct policy_rule r = {.block = block};
	size_t i;

	if (strcmp(entry, "@host") == 0) {
		r.is_host = true;
		r.plen = 32;
	} else if (addr_parse_cidr(entry, &r.net, &r.plen) == -1) {
		snprintf(err, errlen,
		    "bad %s entry \"%.64s\": want A.B.C.D/N (host bits zero), "
		    "A.B.C.D or @host",
		    block ? "block" : "allow", entry);
		return -1;
	}
	if (p->nrules == POLICY_MAX_RULES) {
		snprintf(err, errlen, "too many allow/block entries (max %d)",
		    POLICY_MAX_RULES);
		return -1;
	}
	i = p->nrules;
	while (i > 0 && rule_before(&r, &p->rules[i - 1])) {
		p->rules[i] = p->rules[i - 1];
		i--;
	}
	p->rules[i] = r;
	p->nrules++;
	return 0;
}

/*
 * Splits a comma-separated list and hands each item to add(). An empty list
 * adds nothing; an empty item ("a,,b", "a,") is an error.
 */
static int
split_list(struct policy *p, const char *list, bool block, char *err,
    size_t errlen,
    int (*add)(struct policy *, const char *, bool, char *, size_t))
{
	char item[64];
	const char *s = list, *comma;
	size_t n;

	if (*s == '\0')
		return 0;
	for (;;) {
		comma = strchr(s, ',');
		n = comma != NULL ? (size_t)(comma - s) : strlen(s);
		if (n == 0 || n >= sizeof(item)) {
			snprintf(err, errlen, "bad list \"%.64s\": %s item",
			    list, n == 0 ? "empty" : "overlong");
			return -1;
		}
		memcpy(item, s, n);
		item[n] = '\0';
		if (add(p, item, block, err, errlen) == -1)
			return -1;
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

int
policy_add_list(
    struct policy *p, const char *list, bool block, char *err, size_t errlen)
{
	return split_list(p, list, block, err, errlen, policy_add);
}

/* Parses a decimal TCP port 1-65535 that fills the whole string. */
static int
parse_port(const char *s, uint16_t *port)
{
	unsigned v = 0;
	int digits = 0;

	for (; *s >= '0' && *s <= '9'; s++) {
		if (++digits > 5)
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (digits == 0 || *s != '\0' || v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
policy_add_expose(struct policy *p, const char *entry, char *err, size_t errlen)
{
	char ext[8], addr[ADDR_IPV4_STRLEN];
	const char *colon, *rest = entry;
	struct policy_expose e = {0};
	size_t n, i;

	/* DESIGN.md's `[udp:]` prefix: the same rules, a UDP relay. */
	if (strncmp(entry, "udp:", 4) == 0) {
		e.udp = true;
		rest = entry + 4;
	}
	/* Three fields: the first is ADDR. */
	if ((colon = strchr(rest, ':')) != NULL &&
	    strchr(colon + 1, ':') != NULL) {
		n = (size_t)(colon - rest);
		if (n >= sizeof(addr))
			goto bad;
		memcpy(addr, rest, n);
		addr[n] = '\0';
		if (addr_parse_ipv4(addr, &e.addr) == -1)
			goto bad;
		e.has_addr = true;
		rest = colon + 1;
	}
	colon = strchr(rest, ':');
	n = colon != NULL ? (size_t)(colon - rest) : 0;
	if (colon == NULL || n >= sizeof(ext))
		goto bad;
	memcpy(ext, rest, n);
	ext[n] = '\0';
	if (parse_port(ext, &e.ext) == -1 || parse_port(colon + 1, &e.in) == -1)
		goto bad;
	/* Listeners on overlapping addresses would collide at bind anyway. */
	for (i = 0; i < p->nexpose; i++) {
		if (p->expose[i].ext == e.ext && p->expose[i].udp == e.udp) {
			snprintf(err, errlen, "%s port %u exposed twice",
			    e.udp ? "UDP" : "TCP", e.ext);
			return -1;
		}
	}
	if (p->nexpose == POLICY_MAX_EXPOSE) {
		snprintf(err, errlen, "too many exposed ports (max %d)",
		    POLICY_MAX_EXPOSE);
		return -1;
	}
	p->expose[p->nexpose++] = e;
	return 0;
bad:
	snprintf(err, errlen,
	    "bad expose entry \"%.64s\": want [udp:][ADDR:]EXT:INT, ports "
	    "1-65535",
	    entry);
	return -1;
}

void
policy_format_expose(const struct policy_expose *e, char *buf, size_t len)
{
	char ip[ADDR_IPV4_STRLEN];

	const char *proto = e->udp ? "udp:" : "";

	if (!e->has_addr) {
		snprintf(buf, len, "%s%u:%u", proto, e->ext, e->in);
		return;
	}
	addr_format_ipv4(e->addr, ip);
	snprintf(buf, len, "%s%s:%u:%u", proto, ip, e->ext, e->in);
}

/* Adapter so expose lists share the list splitter. */
static int
add_expose_item(
    struct policy *p, const char *entry, bool unused, char *err, size_t errlen)
{
	(void)unused;
	return policy_add_expose(p, entry, err, errlen);
}

int
policy_add_expose_list(
    struct policy *p, const char *list, char *err, size_t errlen)
{
	return split_list(p, list, false, err, errlen, add_expose_item);
}

enum policy_json_error
policy_add_json(struct policy *p, const char *key, const json_t *arr,
    size_t *at, char *err, size_t errlen)
{
	const json_t *v;
	int rc;

	*at = 0;
	err[0] = '\0';
	if (!json_is_array(arr))
		return POLICY_JSON_NOT_ARRAY;
	for (*at = 0; *at < json_array_size(arr); (*at)++) {
		v = json_array_get(arr, *at);
		if (!json_is_string(v))
			return POLICY_JSON_NOT_STRING;
		if (strcmp(key, "expose") == 0)
			rc = policy_add_expose(
			    p, json_string_value(v), err, errlen);
		else
			rc = policy_add(p, json_string_value(v),
			    strcmp(key, "block") == 0, err, errlen);
		if (rc == -1)
			return POLICY_JSON_BAD_ENTRY;
	}
	return POLICY_JSON_OK;
}

enum policy_verdict
policy_decide_host(const struct policy *p, uint32_t ip, bool is_host)
{
	const struct policy_rule *r;
	size_t i;

	for (i = 0; i < p->nrules; i++) {
		r = &p->rules[i];
		if (r->is_host ? is_host
		               : (ip & addr_prefix_mask(r->plen)) == r->net)
			return r->block ? POLICY_BLOCK : POLICY_ALLOW;
	}
	return POLICY_NONE;
}

enum policy_verdict
policy_decide(const struct policy *p, uint32_t ip, uint32_t gateway)
{
	return policy_decide_host(p, ip, ip == gateway);
}

void
policy_format_rule(const struct policy_rule *r, char *buf, size_t len)
{
	char ip[ADDR_IPV4_STRLEN];

	if (r->is_host) {
		snprintf(buf, len, "@host");
		return;
	}
	addr_format_ipv4(r->net, ip);
	snprintf(buf, len, "%s/%u", ip, r->plen);
}
