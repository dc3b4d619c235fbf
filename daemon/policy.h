/*
 * Per-VM policy: allow/block CIDR rules with the original Softnet semantics
 * (longest prefix wins; on an identical prefix block wins; "@host" is every
 * address of the host: the gateway and the host's other interface
 * addresses, filter_net.host_addrs) and the list of exposed TCP ports.
 */
#ifndef SOFTNET_POLICY_H
#define SOFTNET_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_RULES  64
#define POLICY_MAX_EXPOSE 16
#define POLICY_ERRLEN     160

struct policy_rule {
	uint32_t net; /* host order; ignored when is_host */
	uint8_t plen; /* 0-32 */
	bool block;   /* false: allow */
	bool is_host; /* "@host": every host address, each a /32 */
};

/*
 * One `[ADDR:]EXT:INT`. Without ADDR the daemon listens on loopback and
 * the gateway address; ADDR (0.0.0.0 for every address) is only for root
 * and admin_group unless it is a loopback address or the gateway
 * (ctl_ops.c checks, Security model rule 5).
 */
struct policy_expose {
	uint16_t ext;  /* TCP (or UDP) port on the host */
	uint16_t in;   /* TCP (or UDP) port on the VM */
	uint32_t addr; /* host order; meaningful when has_addr */
	bool has_addr; /* ADDR given */
	bool udp;      /* "udp:" prefix: UDP, not TCP */
};

struct policy {
	/* Sorted: longer prefix first, block before allow on equal prefixes. */
	struct policy_rule rules[POLICY_MAX_RULES];
	size_t nrules;
	struct policy_expose expose[POLICY_MAX_EXPOSE];
	size_t nexpose;
	uint64_t revision;
};

enum policy_verdict { POLICY_NONE, POLICY_ALLOW, POLICY_BLOCK };

/* What policy_add_json found wrong with a list; each caller words it. */
enum policy_json_error {
	POLICY_JSON_OK,
	POLICY_JSON_NOT_ARRAY,  /* the value is not an array */
	POLICY_JSON_NOT_STRING, /* item *at is not a string */
	POLICY_JSON_BAD_ENTRY,  /* item *at did not parse: err says why */
};

struct json_t;

void policy_init(struct policy *p);
/* Adds one entry ("a.b.c.d/n", "a.b.c.d" or "@host"); -1 with err set. */
int policy_add(
    struct policy *p, const char *entry, bool block, char *err, size_t errlen);
/* Adds every entry of a comma-separated list; empty items are errors. */
int policy_add_list(
    struct policy *p, const char *list, bool block, char *err, size_t errlen);
/*
 * Adds "[ADDR:]EXT:INT" (TCP ports 1-65535, ADDR dotted IPv4; EXT unique
 * per address); "udp:..." is refused as not supported yet. -1 with err.
 */
int policy_add_expose(
    struct policy *p, const char *entry, char *err, size_t errlen);
int policy_add_expose_list(
    struct policy *p, const char *list, char *err, size_t errlen);
/*
 * Adds the strings of the JSON array arr as key's entries ("allow" and
 * "block" rules, "expose" ports): the one reader of policy lists, for the
 * configuration's default_policy and the control protocol alike.
 */
enum policy_json_error policy_add_json(struct policy *p, const char *key,
    const struct json_t *arr, size_t *at, char *err, size_t errlen);
/* The verdict of the most specific rule covering ip, or POLICY_NONE. */
enum policy_verdict policy_decide(
    const struct policy *p, uint32_t ip, uint32_t gateway);
/*
 * The same, where the caller says whether ip is an address of the host
 * (what "@host" matches: the gateway and every other host address).
 */
enum policy_verdict policy_decide_host(
    const struct policy *p, uint32_t ip, bool is_host);
/* Writes an exposure as text ("8080:80", "0.0.0.0:8080:80") into buf. */
void policy_format_expose(const struct policy_expose *e, char *buf, size_t len);
/* Writes rule i as text ("10.0.0.0/8", "@host") into buf. */
void policy_format_rule(const struct policy_rule *r, char *buf, size_t len);

#endif
