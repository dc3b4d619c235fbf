/*
 * Theory of operation: the configuration is read once, at startup, into a
 * struct config that starts out as the platform defaults (DESIGN.md
 * "Configuration"). Loading makes two passes over the jansson tree. The
 * first checks every object's keys against the known set and type- and
 * range-checks each value that is present, storing it over the default.
 * The second checks what only makes sense as a whole (the uplink subnet,
 * pool and gateway; paths) and fills the defaults that depend on other keys
 * (dhcp.dns is the gateway unless given).
 *
 * Invariants: after config_defaults or a successful load every string is
 * non-NULL, allocated with xstrdup and owned by cfg; after a failed load cfg
 * has been freed and err holds one line, without control characters, naming
 * the file and the key path. The text is untrusted (it is fuzzed): nothing
 * here asserts, and every echoed value is quoted and truncated.
 *
 * Platform differences are confined to config_defaults. Both uplink types
 * are accepted on every platform; the uplink layer refuses one it cannot
 * run. A vmnet uplink that names none of gateway/netmask/pool_start/pool_end
 * gets the platform's pinned subnet (vmnet is always given one); naming
 * only some of them is an error, since vmnet takes the range as a whole.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "addr.h"
#include "config.h"
#include "dhcp.h"
#include "log.h"
#include "policy.h"
#include "reserve.h"
#include "softnet_proto.h"
#include "xmalloc.h"

#define KEYPATH_LEN 96
/* Scalars and arrays parse, so the top-level check can name the problem. */
#define LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* Where messages go while one file is loaded. */
struct loader {
	const char *name; /* file name for messages */
	char *err;
	size_t errlen;
};

/* Which uplink address keys the file names (vmnet takes all or none). */
#define SEEN_GATEWAY 0x1
#define SEEN_NETMASK 0x2
#define SEEN_START   0x4
#define SEEN_END     0x8
#define SEEN_ALL     0xf

static const char *const top_keys[] = {"socket", "socket_group", "admin_group",
    "database", "max_vms", "user", "max_vms_per_user", "max_connections",
    "max_connections_per_user", "admin_reserved_connections", "client_timeout",
    "max_reply_bytes", "max_proxied_connections", "max_proxied_per_vm",
    "expose_udp_idle", "max_captures", "max_captures_per_user", "vm_limits",
    "uplink", "dhcp", "default_policy", "bootpd_leases", "dns", "metrics",
    "max_event_subscribers", "max_event_subscribers_per_user", NULL};
static const char *const uplink_keys[] = {"type", "mode", "name", "gateway",
    "netmask", "pool_start", "pool_end", "mtu", NULL};
static const char *const dhcp_keys[] = {"lease_time", "dns",
    "max_leases_per_user", "rate", "burst", "max_declined", "lease_retention",
    "reservations", "domain", "search", "routes", NULL};
static const char *const dnsfwd_keys[] = {"forward", "upstream", NULL};
static const char *const metrics_keys[] = {
    "listen", "allow_remote", "per_vm", NULL};
/* No "expose": one host port cannot be published for every VM. */
static const char *const policy_keys[] = {"allow", "block", NULL};
static const char *const limit_keys[] = {"tx_frames_per_sec",
    "tx_bytes_per_sec", "rx_frames_per_sec", "rx_bytes_per_sec", NULL};

static int lerr(struct loader *, const char *, ...) LOG_PRINTF(2, 3);

/* Writes "NAME: message" into the error buffer and returns -1. */
static int
lerr(struct loader *l, const char *fmt, ...)
{
	va_list ap;
	size_t i;
	int n;

	if (l->err == NULL || l->errlen == 0)
		return -1;
	n = snprintf(l->err, l->errlen, "%s: ", l->name);
	if (n >= 0 && (size_t)n < l->errlen) {
		va_start(ap, fmt);
		vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* File names, keys and values may hold anything; keep it one line. */
	for (i = 0; l->err[i] != '\0'; i++) {
		if ((unsigned char)l->err[i] < 0x20 || l->err[i] == 0x7f)
			l->err[i] = '?';
	}
	return -1;
}

/* Builds "section.key" (or "key" at the top level) for messages. */
static void
keypath(char *buf, size_t len, const char *sect, const char *key)
{
	if (sect != NULL)
		snprintf(buf, len, "%s.%s", sect, key);
	else
		snprintf(buf, len, "%s", key);
}

/* Fails on the first key of obj that is not in known. */
static int
check_keys(
    struct loader *l, json_t *obj, const char *sect, const char *const *known)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v) {
		for (i = 0; known[i] != NULL; i++) {
			if (strcmp(key, known[i]) == 0)
				break;
		}
		if (known[i] != NULL)
			continue;
		if (sect != NULL)
			return lerr(l, "unknown key \"%s.%.64s\"", sect, key);
		return lerr(l, "unknown key \"%.64s\"", key);
	}
	return 0;
}

/* Stores the absolute path at key, or NULL for JSON null, if present. */
static int
get_opt_path(struct loader *l, json_t *obj, const char *key, char **dst)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (json_is_null(v)) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    json_string_value(v)[0] != '/')
		return lerr(l, "%s: expected an absolute path or null", key);
	free(*dst);
	*dst = xstrdup(json_string_value(v));
	return 0;
}

/* Returns member key of obj if present, which must then be an object. */
static int
get_object(struct loader *l, json_t *obj, const char *key, json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_object(v))
		return lerr(l, "%s: expected an object", key);
	*out = v;
	return 0;
}

/* Replaces *dst with the non-empty string at key, if present. */
static int
get_string(struct loader *l, json_t *obj, const char *sect, const char *key,
    char **dst)
{
	json_t *v = json_object_get(obj, key);
	char path[KEYPATH_LEN];

	if (v == NULL)
		return 0;
	keypath(path, sizeof(path), sect, key);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return lerr(l, "%s: expected a non-empty string", path);
	free(*dst);
	*dst = xstrdup(json_string_value(v));
	return 0;
}

/* Stores the integer at key, if present, checked against min..max. */
static int
get_uint(struct loader *l, json_t *obj, const char *sect, const char *key,
    unsigned min, unsigned max, unsigned *dst)
{
	json_t *v = json_object_get(obj, key);
	char path[KEYPATH_LEN];
	json_int_t n;

	if (v == NULL)
		return 0;
	keypath(path, sizeof(path), sect, key);
	if (!json_is_integer(v))
		goto bad;
	n = json_integer_value(v);
	if (n < (json_int_t)min || n > (json_int_t)max)
		goto bad;
	*dst = (unsigned)n;
	return 0;
bad:
	return lerr(l, "%s: expected an integer %u..%u", path, min, max);
}

/* Reads one limit (0 = unlimited) into a uint64_t. */
static int
get_limit(struct loader *l, json_t *obj, const char *key, uint64_t *dst)
{
	unsigned v = (unsigned)*dst;

	if (get_uint(l, obj, "vm_limits", key, 0, 4000000000u, &v) == -1)
		return -1;
	*dst = v;
	return 0;
}

/* The "vm_limits" section: per-VM token buckets, each direction. */
static int
load_limits(struct loader *l, json_t *lim, struct config *cfg)
{
	if (check_keys(l, lim, "vm_limits", limit_keys) == -1 ||
	    get_limit(l, lim, "tx_frames_per_sec",
	        &cfg->vm_limits.tx.frames_per_sec) == -1 ||
	    get_limit(l, lim, "tx_bytes_per_sec",
	        &cfg->vm_limits.tx.bytes_per_sec) == -1 ||
	    get_limit(l, lim, "rx_frames_per_sec",
	        &cfg->vm_limits.rx.frames_per_sec) == -1 ||
	    get_limit(l, lim, "rx_bytes_per_sec",
	        &cfg->vm_limits.rx.bytes_per_sec) == -1)
		return -1;
	return 0;
}

/* Parses one IPv4 address string; path names it in messages. */
static int
parse_ipv4_value(struct loader *l, json_t *v, const char *path, uint32_t *dst)
{
	if (!json_is_string(v))
		return lerr(l, "%s: expected an IPv4 address string", path);
	if (addr_parse_ipv4(json_string_value(v), dst) == -1)
		return lerr(l, "%s: bad IPv4 address \"%.64s\"", path,
		    json_string_value(v));
	return 0;
}

/* Stores the IPv4 address at uplink.key, if present, and records it in seen. */
static int
get_ipv4(struct loader *l, json_t *obj, const char *key, uint32_t *dst,
    unsigned bit, unsigned *seen)
{
	json_t *v = json_object_get(obj, key);
	char path[KEYPATH_LEN];

	if (v == NULL)
		return 0;
	keypath(path, sizeof(path), "uplink", key);
	if (parse_ipv4_value(l, v, path, dst) == -1)
		return -1;
	*seen |= bit;
	return 0;
}

/* Reads the uplink object: type and mode first, then the rest. */
static int
load_uplink(struct loader *l, json_t *up, struct config *cfg, unsigned *seen,
    bool *mode_given)
{
	json_t *v;
	const char *s;

	if (check_keys(l, up, "uplink", uplink_keys) == -1)
		return -1;
	if ((v = json_object_get(up, "type")) != NULL) {
		s = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(s, "tap") == 0)
			cfg->uplink.type = UPLINK_TAP;
		else if (strcmp(s, "vmnet") == 0)
			cfg->uplink.type = UPLINK_VMNET;
		else
			return lerr(
			    l, "uplink.type: expected \"tap\" or \"vmnet\"");
	}
	if ((v = json_object_get(up, "mode")) != NULL) {
		s = json_is_string(v) ? json_string_value(v) : "";
		if (strcmp(s, "shared") == 0)
			cfg->uplink.mode = UPLINK_MODE_SHARED;
		else if (strcmp(s, "host") == 0)
			cfg->uplink.mode = UPLINK_MODE_HOST;
		else
			return lerr(
			    l, "uplink.mode: expected \"shared\" or \"host\"");
		*mode_given = true;
	}
	if (get_string(l, up, "uplink", "name", &cfg->uplink.name) == -1 ||
	    get_ipv4(l, up, "gateway", &cfg->uplink.gateway, SEEN_GATEWAY,
	        seen) == -1 ||
	    get_ipv4(l, up, "netmask", &cfg->uplink.netmask, SEEN_NETMASK,
	        seen) == -1 ||
	    get_ipv4(l, up, "pool_start", &cfg->uplink.pool_start, SEEN_START,
	        seen) == -1 ||
	    get_ipv4(l, up, "pool_end", &cfg->uplink.pool_end, SEEN_END,
	        seen) == -1 ||
	    get_uint(l, up, "uplink", "mtu", 576, 9000, &cfg->uplink.mtu) == -1)
		return -1;
	return 0;
}

/* Reads dhcp.dns: 1..CONFIG_MAX_DNS address strings. */
static int
load_dns(struct loader *l, json_t *dns, struct config *cfg)
{
	char path[KEYPATH_LEN];
	json_t *v;
	size_t i;

	if (!json_is_array(dns))
		return lerr(l, "dhcp.dns: expected an array of IPv4 address "
		               "strings");
	if (json_array_size(dns) == 0)
		return lerr(l, "dhcp.dns: expected at least one address");
	if (json_array_size(dns) > CONFIG_MAX_DNS)
		return lerr(
		    l, "dhcp.dns: too many addresses (max %d)", CONFIG_MAX_DNS);
	json_array_foreach(dns, i, v) {
		snprintf(path, sizeof(path), "dhcp.dns[%zu]", i);
		if (parse_ipv4_value(l, v, path, &cfg->dhcp.dns[i]) == -1)
			return -1;
	}
	cfg->dhcp.ndns = json_array_size(dns);
	return 0;
}

/*
 * Reads one dhcp.reservations[i]: an object with "ip" and exactly one of
 * "mac" (a unicast MAC) and "name" (a valid VM name). Where the address
 * may lie is checked later, with the subnet (check_reservations).
 */
static int
load_reservation(struct loader *l, json_t *v, size_t i, struct reserve_entry *e)
{
	static const char *const keys[] = {"mac", "name", "ip", NULL};
	char path[KEYPATH_LEN];
	json_t *mac, *name, *ip;

	snprintf(path, sizeof(path), "dhcp.reservations[%zu]", i);
	if (!json_is_object(v))
		return lerr(l,
		    "%s: expected an object with \"ip\" and "
		    "\"mac\" or \"name\"",
		    path);
	if (check_keys(l, v, path, keys) == -1)
		return -1;
	mac = json_object_get(v, "mac");
	name = json_object_get(v, "name");
	if ((mac == NULL) == (name == NULL))
		return lerr(
		    l, "%s: give exactly one of \"mac\" and \"name\"", path);
	if ((ip = json_object_get(v, "ip")) == NULL)
		return lerr(l, "%s: \"ip\" is missing", path);
	memset(e, 0, sizeof(*e));
	if (mac != NULL) {
		if (!json_is_string(mac) ||
		    addr_parse_mac(json_string_value(mac), e->mac) == -1 ||
		    !addr_mac_is_unicast(e->mac))
			return lerr(l,
			    "%s.mac: expected a unicast MAC address "
			    "string",
			    path);
		e->by_mac = true;
	} else {
		if (!json_is_string(name) ||
		    strlen(json_string_value(name)) !=
		        json_string_length(name) ||
		    !addr_name_valid(json_string_value(name)))
			return lerr(l,
			    "%s.name: expected a VM name (1-63 of A-Z a-z 0-9 "
			    ". "
			    "_ -, not all digits, not a MAC)",
			    path);
		snprintf(
		    e->name, sizeof(e->name), "%s", json_string_value(name));
	}
	snprintf(path + strlen(path), sizeof(path) - strlen(path), ".ip");
	return parse_ipv4_value(l, ip, path, &e->ip);
}

/* Reads dhcp.reservations into cfg (shape only; see check_reservations). */
static int
load_reservations(struct loader *l, json_t *arr, struct config *cfg)
{
	json_t *v;
	size_t i;

	if (!json_is_array(arr))
		return lerr(
		    l, "dhcp.reservations: expected an array of objects");
	if (json_array_size(arr) > RESERVE_MAX)
		return lerr(l, "dhcp.reservations: too many entries (max %d)",
		    RESERVE_MAX);
	free(cfg->dhcp.reservations);
	cfg->dhcp.reservations = NULL;
	cfg->dhcp.nreservations = 0;
	if (json_array_size(arr) == 0)
		return 0;
	cfg->dhcp.reservations = xreallocarray(
	    NULL, json_array_size(arr), sizeof(*cfg->dhcp.reservations));
	json_array_foreach(arr, i, v) {
		if (load_reservation(l, v, i, &cfg->dhcp.reservations[i]) == -1)
			return -1;
		cfg->dhcp.nreservations = i + 1;
	}
	return 0;
}

/*
 * Reads dhcp.domain (option 15), dhcp.search (option 119: names, at most
 * 255 bytes encoded) and dhcp.routes (option 121: [{"to": "NET/LEN",
 * "via": "ADDR"}], at most 250 bytes encoded so the default route dhcp.c
 * appends still fits one option).
 */
static int
load_dhcp_names(struct loader *l, json_t *dhcp, struct config *cfg)
{
	static const char *const route_keys[] = {"to", "via", NULL};
	char path[KEYPATH_LEN];
	json_t *v, *e, *to, *via;
	uint32_t net, gw;
	uint8_t plen;
	size_t i;

	if ((v = json_object_get(dhcp, "domain")) != NULL) {
		if (!json_is_string(v) ||
		    !dhcp_domain_valid(json_string_value(v)))
			return lerr(l, "dhcp.domain: expected a domain name");
		(void)snprintf(cfg->dhcp.domain, sizeof(cfg->dhcp.domain), "%s",
		    json_string_value(v));
	}
	if ((v = json_object_get(dhcp, "search")) != NULL) {
		if (!json_is_array(v))
			return lerr(l, "dhcp.search: expected an array of "
			               "domain names");
		cfg->dhcp.search_len = 0;
		json_array_foreach(v, i, e) {
			if (!json_is_string(e) ||
			    dhcp_encode_domain(json_string_value(e),
			        cfg->dhcp.search, sizeof(cfg->dhcp.search),
			        &cfg->dhcp.search_len) == -1)
				return lerr(l,
				    "dhcp.search[%zu]: expected a "
				    "domain name (255 bytes in all)",
				    i);
		}
	}
	if ((v = json_object_get(dhcp, "routes")) != NULL) {
		if (!json_is_array(v))
			return lerr(l, "dhcp.routes: expected an array of "
			               "{\"to\": \"NET/LEN\", \"via\": ADDR}");
		cfg->dhcp.routes_len = 0;
		json_array_foreach(v, i, e) {
			snprintf(path, sizeof(path), "dhcp.routes[%zu]", i);
			if (!json_is_object(e) ||
			    (to = json_object_get(e, "to")) == NULL ||
			    (via = json_object_get(e, "via")) == NULL)
				return lerr(l,
				    "%s: expected {\"to\": "
				    "\"NET/LEN\", \"via\": ADDR}",
				    path);
			if (check_keys(l, e, path, route_keys) == -1 ||
			    parse_ipv4_value(l, via, path, &gw) == -1)
				return -1;
			if (!json_is_string(to) ||
			    addr_parse_cidr(
			        json_string_value(to), &net, &plen) == -1)
				return lerr(l,
				    "%s.to: expected a network "
				    "\"NET/LEN\"",
				    path);
			if (dhcp_encode_route(net, plen, gw, cfg->dhcp.routes,
			        sizeof(cfg->dhcp.routes),
			        &cfg->dhcp.routes_len) == -1)
				return lerr(l, "dhcp.routes: too many routes "
				               "(250 bytes encoded)");
		}
	}
	return 0;
}

/* Reads the dns object (dnsfwd.c); *fwd_given keeps forward from defaulting. */
static int
load_dnsfwd(struct loader *l, json_t *dns, struct config *cfg, bool *fwd_given)
{
	char path[KEYPATH_LEN];
	json_t *v, *up;
	size_t i;

	if (check_keys(l, dns, "dns", dnsfwd_keys) == -1)
		return -1;
	if ((v = json_object_get(dns, "forward")) != NULL) {
		if (!json_is_boolean(v))
			return lerr(l, "dns.forward: expected true or false");
		cfg->dns.forward = json_is_true(v);
		*fwd_given = true;
	}
	if ((up = json_object_get(dns, "upstream")) == NULL)
		return 0;
	if (!json_is_array(up) || json_array_size(up) == 0 ||
	    json_array_size(up) > CONFIG_MAX_DNS)
		return lerr(l,
		    "dns.upstream: expected an array of 1..%d IPv4 address "
		    "strings",
		    CONFIG_MAX_DNS);
	json_array_foreach(up, i, v) {
		snprintf(path, sizeof(path), "dns.upstream[%zu]", i);
		if (parse_ipv4_value(l, v, path, &cfg->dns.upstream[i]) == -1)
			return -1;
	}
	cfg->dns.nupstream = json_array_size(up);
	return 0;
}

/*
 * Reads the metrics object (issue #16): "listen" is an absolute Unix
 * socket path or IPv4:PORT. A TCP listener knows no peer's uid, so it
 * shows per-VM series only with "per_vm" (to whoever connects; on a Unix
 * socket the peer's uid decides, and per_vm is refused as meaningless),
 * and an address off loopback needs "allow_remote".
 */
static int check_path(struct loader *, const char *, const char *, size_t);

static int
load_metrics(struct loader *l, json_t *m, struct config *cfg)
{
	struct sockaddr_un sun;
	json_t *v;
	uint32_t ip;
	uint16_t port;

	if (check_keys(l, m, "metrics", metrics_keys) == -1)
		return -1;
	if ((v = json_object_get(m, "allow_remote")) != NULL) {
		if (!json_is_boolean(v))
			return lerr(l, "metrics.allow_remote: expected true or "
			               "false");
		cfg->metrics.allow_remote = json_is_true(v);
	}
	if ((v = json_object_get(m, "per_vm")) != NULL) {
		if (!json_is_boolean(v))
			return lerr(
			    l, "metrics.per_vm: expected true or false");
		cfg->metrics.per_vm = json_is_true(v);
	}
	if ((v = json_object_get(m, "listen")) == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return lerr(l, "metrics.listen: expected \"HOST:PORT\" or an "
		               "absolute path");
	free(cfg->metrics.listen);
	cfg->metrics.listen = xstrdup(json_string_value(v));
	if (cfg->metrics.listen[0] == '/' && cfg->metrics.per_vm)
		return lerr(l, "metrics.per_vm: only for a TCP listener (on a "
		               "Unix socket each peer sees its own VMs)");
	if (cfg->metrics.listen[0] == '/')
		return check_path(l, "metrics.listen", cfg->metrics.listen,
		    sizeof(sun.sun_path));
	if (config_metrics_addr(cfg->metrics.listen, &ip, &port) == -1)
		return lerr(l, "metrics.listen: expected IPv4:PORT (port "
		               "1-65535) or an absolute path");
	if ((ip >> 24) != 127 && !cfg->metrics.allow_remote)
		return lerr(l,
		    "metrics.listen: %s is not a loopback address; "
		    "the daemon's metrics would be readable from the "
		    "network (set metrics.allow_remote to mean it)",
		    cfg->metrics.listen);
	return 0;
}

/* Splits "A.B.C.D:PORT" (see config.h). */
int
config_metrics_addr(const char *s, uint32_t *ip, uint16_t *port)
{
	char host[16];
	const char *colon = strrchr(s, ':');
	struct in_addr a;
	char *end;
	unsigned long n;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host) ||
	    colon[1] < '0' || colon[1] > '9')
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	n = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || n == 0 || n > 65535 ||
	    inet_pton(AF_INET, host, &a) != 1)
		return -1;
	*ip = ntohl(a.s_addr);
	*port = (uint16_t)n;
	return 0;
}

/* Reads the dhcp object; *dns_given tells the caller not to default dns. */
static int
load_dhcp(struct loader *l, json_t *dhcp, struct config *cfg, bool *dns_given)
{
	json_t *dns;

	if (check_keys(l, dhcp, "dhcp", dhcp_keys) == -1 ||
	    get_uint(l, dhcp, "dhcp", "lease_time", 120, 604800,
	        &cfg->dhcp.lease_time) == -1 ||
	    get_uint(l, dhcp, "dhcp", "max_leases_per_user", 0, 16777216,
	        &cfg->dhcp.max_leases_per_user) == -1 ||
	    get_uint(l, dhcp, "dhcp", "rate", 1, 1000, &cfg->dhcp.rate) == -1 ||
	    get_uint(l, dhcp, "dhcp", "burst", 1, 1000, &cfg->dhcp.burst) ==
	        -1 ||
	    get_uint(l, dhcp, "dhcp", "max_declined", 0, 1024,
	        &cfg->dhcp.max_declined) == -1 ||
	    get_uint(l, dhcp, "dhcp", "lease_retention", 60, 315360000,
	        &cfg->dhcp.lease_retention) == -1)
		return -1;
	if ((dns = json_object_get(dhcp, "dns")) != NULL) {
		if (load_dns(l, dns, cfg) == -1)
			return -1;
		*dns_given = true;
	}
	if ((dns = json_object_get(dhcp, "reservations")) != NULL &&
	    load_reservations(l, dns, cfg) == -1)
		return -1;
	return load_dhcp_names(l, dhcp, cfg);
}

/* Adds each string of default_policy.key (allow, block or expose). */
static int
load_policy_list(
    struct loader *l, json_t *pol, const char *key, struct policy *p)
{
	char perr[POLICY_ERRLEN];
	json_t *arr;
	size_t i;

	if ((arr = json_object_get(pol, key)) == NULL)
		return 0;
	switch (policy_add_json(p, key, arr, &i, perr, sizeof(perr))) {
	case POLICY_JSON_OK:
		return 0;
	case POLICY_JSON_NOT_ARRAY:
		return lerr(
		    l, "default_policy.%s: expected an array of strings", key);
	case POLICY_JSON_NOT_STRING:
		return lerr(
		    l, "default_policy.%s[%zu]: expected a string", key, i);
	default:
		return lerr(l, "default_policy.%s[%zu]: %s", key, i, perr);
	}
}

/* Reads the default_policy object. */
static int
load_policy(struct loader *l, json_t *pol, struct config *cfg)
{
	if (check_keys(l, pol, "default_policy", policy_keys) == -1 ||
	    load_policy_list(l, pol, "allow", &cfg->default_policy) == -1 ||
	    load_policy_list(l, pol, "block", &cfg->default_policy) == -1)
		return -1;
	return 0;
}

/* An absolute, non-empty path (max bytes including the NUL, 0: any). */
static int
check_path(struct loader *l, const char *key, const char *path, size_t max)
{
	if (path[0] != '/')
		return lerr(l, "%s: expected an absolute path", key);
	if (max != 0 && strlen(path) >= max)
		return lerr(l, "%s: path longer than %zu bytes", key, max - 1);
	return 0;
}

/* A host address of net/mask: inside it, neither network nor broadcast. */
static int
check_host_addr(
    struct loader *l, const char *key, uint32_t ip, uint32_t net, uint32_t mask)
{
	char a[ADDR_IPV4_STRLEN], n[ADDR_IPV4_STRLEN];
	int plen = addr_mask_to_prefix(mask);

	addr_format_ipv4(ip, a);
	addr_format_ipv4(net, n);
	if ((ip & mask) != net)
		return lerr(
		    l, "uplink.%s: %s is outside %s/%d", key, a, n, plen);
	if (ip == net)
		return lerr(l, "uplink.%s: %s is the network address of %s/%d",
		    key, a, n, plen);
	if (ip == (net | ~mask))
		return lerr(l,
		    "uplink.%s: %s is the broadcast address of %s/%d", key, a,
		    n, plen);
	return 0;
}

/* Characters allowed in an interface name (IFNAMSIZ is 16 with the NUL). */
static bool
ifname_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/*
 * The uplink as a whole: a usable subnet around the gateway with the pool
 * inside it and the gateway outside the pool.
 */
static int
check_uplink(struct loader *l, struct config *cfg)
{
	const char *name = cfg->uplink.name, *ch;
	char a[ADDR_IPV4_STRLEN], b[ADDR_IPV4_STRLEN], c[ADDR_IPV4_STRLEN];
	uint32_t mask = cfg->uplink.netmask, net;
	int plen;

	for (ch = name; *ch != '\0' && ifname_char(*ch); ch++)
		continue;
	if (*ch != '\0' || ch == name || ch - name >= 16)
		return lerr(l,
		    "uplink.name: \"%.64s\": expected 1 to 15 characters "
		    "from A-Z a-z 0-9 _ . -",
		    name);
	if (!cfg->uplink.have_addrs)
		return 0;

	/* /31 and /32 leave no room for a pool besides the gateway. */
	plen = addr_mask_to_prefix(mask);
	if (plen < 8 || plen > 30) {
		addr_format_ipv4(mask, a);
		return lerr(l,
		    "uplink.netmask: %s: expected a contiguous netmask of /8 "
		    "to /30",
		    a);
	}
	net = cfg->uplink.gateway & mask;
	if (check_host_addr(l, "gateway", cfg->uplink.gateway, net, mask) ==
	        -1 ||
	    check_host_addr(
	        l, "pool_start", cfg->uplink.pool_start, net, mask) == -1 ||
	    check_host_addr(l, "pool_end", cfg->uplink.pool_end, net, mask) ==
	        -1)
		return -1;
	if (cfg->uplink.pool_start > cfg->uplink.pool_end) {
		addr_format_ipv4(cfg->uplink.pool_end, a);
		addr_format_ipv4(cfg->uplink.pool_start, b);
		return lerr(
		    l, "uplink.pool_end: %s is before pool_start %s", a, b);
	}
	if (cfg->uplink.gateway >= cfg->uplink.pool_start &&
	    cfg->uplink.gateway <= cfg->uplink.pool_end) {
		addr_format_ipv4(cfg->uplink.gateway, a);
		addr_format_ipv4(cfg->uplink.pool_start, b);
		addr_format_ipv4(cfg->uplink.pool_end, c);
		return lerr(l,
		    "uplink.gateway: %s is inside the pool %s-%s; the gateway "
		    "must not be in the pool",
		    a, b, c);
	}
	return 0;
}

/*
 * dhcp.reservations against the subnet: each address a host of it (not
 * the network, broadcast or gateway address), and no MAC, name or address
 * twice. An address may be inside the pool (it is then withheld from
 * dynamic allocation: the pool need not be re-cut to pin one VM) or
 * outside it (the pool stays whole for everyone else); both are allowed.
 */
static int
check_reservations(struct loader *l, const struct config *cfg)
{
	const struct reserve_entry *e, *o;
	char who[RESERVE_DESCLEN], a[ADDR_IPV4_STRLEN], n[ADDR_IPV4_STRLEN];
	uint32_t mask = cfg->uplink.netmask, net = cfg->uplink.gateway & mask;
	size_t i, j;

	for (i = 0; i < cfg->dhcp.nreservations; i++) {
		e = &cfg->dhcp.reservations[i];
		reserve_describe(e, who, sizeof(who));
		addr_format_ipv4(e->ip, a);
		addr_format_ipv4(net, n);
		if ((e->ip & mask) != net || e->ip == net ||
		    e->ip == (net | ~mask))
			return lerr(l,
			    "dhcp.reservations[%zu] (%s): %s is not a host "
			    "address of the subnet %s/%d",
			    i, who, a, n, addr_mask_to_prefix(mask));
		if (e->ip == cfg->uplink.gateway)
			return lerr(l,
			    "dhcp.reservations[%zu] (%s): %s is the gateway", i,
			    who, a);
		for (j = 0; j < i; j++) {
			o = &cfg->dhcp.reservations[j];
			if (o->ip == e->ip)
				return lerr(l,
				    "dhcp.reservations[%zu] (%s): %s is "
				    "already reserved by entry %zu",
				    i, who, a, j);
			if (o->by_mac == e->by_mac &&
			    (e->by_mac ? memcmp(o->mac, e->mac, 6) == 0
			               : strcmp(o->name, e->name) == 0))
				return lerr(l,
				    "dhcp.reservations[%zu] (%s): the same %s "
				    "as entry %zu",
				    i, who, e->by_mac ? "MAC" : "name", j);
		}
	}
	return 0;
}

/* What the file gave that later defaults and checks depend on. */
struct given {
	unsigned seen; /* SEEN_* of the uplink addresses */
	bool mode;     /* uplink.mode */
	bool dns;      /* dhcp.dns */
	bool fwd;      /* dns.forward */
};

/* The top level's own keys (every nested object is load_sections'). */
static int
load_top(struct loader *l, json_t *root, struct config *cfg)
{
	/* Named, not defaulted: control_init compares it with an activated
	 * socket's group only then. */
	cfg->socket_group_set = json_object_get(root, "socket_group") != NULL;
	if (check_keys(l, root, NULL, top_keys) == -1 ||
	    get_string(l, root, NULL, "socket", &cfg->socket) == -1 ||
	    get_string(l, root, NULL, "socket_group", &cfg->socket_group) ==
	        -1 ||
	    get_string(l, root, NULL, "admin_group", &cfg->admin_group) == -1 ||
	    get_string(l, root, NULL, "database", &cfg->database) == -1 ||
	    get_string(l, root, NULL, "user", &cfg->user) == -1 ||
	    get_uint(l, root, NULL, "max_vms", 1, 65535, &cfg->max_vms) == -1 ||
	    get_uint(l, root, NULL, "max_vms_per_user", 1, 65535,
	        &cfg->max_vms_per_user) == -1 ||
	    get_uint(l, root, NULL, "max_connections", 1, 65535,
	        &cfg->max_connections) == -1 ||
	    get_uint(l, root, NULL, "max_connections_per_user", 1, 65535,
	        &cfg->max_connections_per_user) == -1 ||
	    get_uint(l, root, NULL, "admin_reserved_connections", 0, 1024,
	        &cfg->admin_reserved_connections) == -1 ||
	    get_uint(l, root, NULL, "client_timeout", 1, 3600,
	        &cfg->client_timeout) == -1 ||
	    get_uint(l, root, NULL, "max_reply_bytes", 65536, 1u << 30,
	        &cfg->max_reply_bytes) == -1 ||
	    get_uint(l, root, NULL, "max_proxied_connections", 1, 65535,
	        &cfg->max_proxied_connections) == -1 ||
	    get_uint(l, root, NULL, "max_proxied_per_vm", 1, 65535,
	        &cfg->max_proxied_per_vm) == -1 ||
	    get_uint(l, root, NULL, "expose_udp_idle", 1, 86400,
	        &cfg->expose_udp_idle) == -1 ||
	    get_uint(l, root, NULL, "max_captures", 1, 1024,
	        &cfg->max_captures) == -1 ||
	    get_uint(l, root, NULL, "max_captures_per_user", 1, 1024,
	        &cfg->max_captures_per_user) == -1)
		return -1;
	/* The event stream (issue #16, events.c). */
	if (get_uint(l, root, NULL, "max_event_subscribers", 1, 4096,
	        &cfg->max_event_subscribers) == -1 ||
	    get_uint(l, root, NULL, "max_event_subscribers_per_user", 1, 4096,
	        &cfg->max_event_subscribers_per_user) == -1)
		return -1;
	return 0;
}

/* The nested objects, each optional; notes in g what they gave. */
static int
load_sections(
    struct loader *l, json_t *root, struct config *cfg, struct given *g)
{
	json_t *up, *dhcp, *pol, *lim, *dnsobj, *met;

	if (get_object(l, root, "uplink", &up) == -1 ||
	    (up != NULL && load_uplink(l, up, cfg, &g->seen, &g->mode) == -1))
		return -1;
	if (get_object(l, root, "dhcp", &dhcp) == -1 ||
	    (dhcp != NULL && load_dhcp(l, dhcp, cfg, &g->dns) == -1))
		return -1;
	if (get_object(l, root, "dns", &dnsobj) == -1 ||
	    (dnsobj != NULL && load_dnsfwd(l, dnsobj, cfg, &g->fwd) == -1))
		return -1;
	if (get_object(l, root, "metrics", &met) == -1 ||
	    (met != NULL && load_metrics(l, met, cfg) == -1))
		return -1;
	if (get_object(l, root, "vm_limits", &lim) == -1 ||
	    (lim != NULL && load_limits(l, lim, cfg) == -1))
		return -1;
	if (get_object(l, root, "default_policy", &pol) == -1 ||
	    (pol != NULL && load_policy(l, pol, cfg) == -1))
		return -1;
	return 0;
}

/*
 * The uplink's subnet: a TAP's is always the config's (defaults or the
 * file's); a vmnet uplink takes all four addresses or none of them.
 */
static int
settle_uplink_addrs(struct loader *l, struct config *cfg, const struct given *g)
{
	if (cfg->uplink.type == UPLINK_TAP) {
		if (g->mode)
			return lerr(l, "uplink.mode: only valid with type "
			               "\"vmnet\"");
	} else if (g->seen != 0 && g->seen != SEEN_ALL) {
		return lerr(l,
		    "uplink: with type \"vmnet\" give all or none of gateway, "
		    "netmask, pool_start, pool_end (missing%s%s%s%s)",
		    (g->seen & SEEN_GATEWAY) ? "" : " gateway",
		    (g->seen & SEEN_NETMASK) ? "" : " netmask",
		    (g->seen & SEEN_START) ? "" : " pool_start",
		    (g->seen & SEEN_END) ? "" : " pool_end");
	}
	/* With none given, the platform's pinned subnet (config_defaults),
	 * never the one vmnet would pick and share with bootpd's VMs. */
	cfg->uplink.have_addrs = true;
	return 0;
}

/* Defaults that follow from other keys, for what the file left out. */
static void
derive_defaults(struct config *cfg, const struct given *g)
{
	/* The platform's choice is its uplink's (config_defaults). */
	if (!g->fwd)
		cfg->dns.forward = cfg->uplink.type == UPLINK_TAP;
	if (!g->dns) {
		/* Without addresses vmnet names the gateway; 0 means "it". */
		cfg->dhcp.ndns = cfg->uplink.have_addrs ? 1 : 0;
		cfg->dhcp.dns[0] = cfg->uplink.gateway;
	}
}

/* Loads the parsed tree over the defaults in cfg; on error leaves err set. */
static int
load_json(struct loader *l, json_t *root, struct config *cfg)
{
	struct sockaddr_un sun;
	struct given g = {0, false, false, false};

	if (!json_is_object(root))
		return lerr(l, "expected a JSON object at the top level");
	if (load_top(l, root, cfg) == -1 ||
	    load_sections(l, root, cfg, &g) == -1)
		return -1;
	if (check_path(l, "socket", cfg->socket, sizeof(sun.sun_path)) == -1 ||
	    check_path(l, "database", cfg->database, 0) == -1 ||
	    get_opt_path(l, root, "bootpd_leases", &cfg->bootpd_leases) == -1)
		return -1;
	if (settle_uplink_addrs(l, cfg, &g) == -1 ||
	    check_uplink(l, cfg) == -1 || check_reservations(l, cfg) == -1)
		return -1;
	derive_defaults(cfg, &g);
	return 0;
}

/* Turns a parse result into a loaded config, or an error and a freed cfg. */
static int
load_root(struct loader *l, json_t *root, const json_error_t *jerr,
    struct config *cfg)
{
	int rc;

	if (root == NULL) {
		if (jerr->line > 0)
			lerr(l, "line %d, column %d: %s", jerr->line,
			    jerr->column, jerr->text);
		else
			lerr(l, "%s", jerr->text);
		config_free(cfg);
		return -1;
	}
	rc = load_json(l, root, cfg);
	json_decref(root);
	if (rc == -1)
		config_free(cfg);
	return rc;
}

/* Fills cfg with the platform defaults; the only platform #ifdef here. */
void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
#ifdef __APPLE__
	cfg->socket = xstrdup(SOFTNET_DEFAULT_SOCKET);
	cfg->socket_group = xstrdup("wheel");
	cfg->admin_group = xstrdup("wheel");
	cfg->database = xstrdup("/var/db/softnetd/leases.db");
	/* bootpd's lease file, which `tart ip` reads (bootpd.c). */
	cfg->bootpd_leases = xstrdup("/var/db/dhcpd_leases");
	cfg->uplink.type = UPLINK_VMNET;
	/*
	 * A dedicated subnet, always passed to vmnet (start/end/mask, or a
	 * macOS 26 vmnet_network): an L2 of its own, never vmnet's default
	 * 192.168.64.0/24 (and the .65, .66... it moves on to) that bootpd
	 * serves to other VMs. Also clear of Lima/socket_vmnet (192.168.105
	 * shared, .106 host, .104 user-v2), Docker Desktop (192.168.65),
	 * Podman's gvproxy (192.168.127), VirtualBox host-only (192.168.56)
	 * and the 192.168.0/1/2/8/10/100/178 home routers commonly use.
	 */
	cfg->uplink.gateway = 0xc0a8de01;    /* 192.168.222.1 */
	cfg->uplink.netmask = 0xffffff00;    /* 255.255.255.0 */
	cfg->uplink.pool_start = 0xc0a8de02; /* 192.168.222.2 */
	cfg->uplink.pool_end = 0xc0a8defe;   /* 192.168.222.254 */
#else
	cfg->socket = xstrdup(SOFTNET_DEFAULT_SOCKET);
	cfg->socket_group = xstrdup("root");
	cfg->admin_group = xstrdup("root");
	cfg->database = xstrdup("/var/lib/softnetd/leases.db");
	cfg->uplink.type = UPLINK_TAP;
	cfg->uplink.gateway = 0xc0a86901;    /* 192.168.105.1 */
	cfg->uplink.netmask = 0xffffff00;    /* 255.255.255.0 */
	cfg->uplink.pool_start = 0xc0a86902; /* 192.168.105.2 */
	cfg->uplink.pool_end = 0xc0a869fe;   /* 192.168.105.254 */
#endif
	cfg->max_vms = 1024;
	cfg->max_vms_per_user = 256;
	cfg->max_connections = 1024;
	cfg->max_connections_per_user = 320;
	cfg->admin_reserved_connections = 32;
	cfg->client_timeout = 10;
	cfg->max_reply_bytes = 64u << 20;
	cfg->max_proxied_connections = 1024;
	cfg->max_proxied_per_vm = 256;
	cfg->expose_udp_idle = 60;
	cfg->max_captures = 8;
	cfg->max_captures_per_user = 2;
	cfg->max_event_subscribers = 32;
	cfg->max_event_subscribers_per_user = 4;
	/*
	 * Generous: a busy VM is never capped by default. A lower frame
	 * limit cannot tell a flood from legitimate traffic: a socket-pair
	 * VM's TCP is 1514-byte frames (325k/s at the 3.9 Gbit/s measured),
	 * the same per frame as a 1400-byte UDP flood, and a TAP VM's 14
	 * Gbit/s download sends about one ACK frame per 64 KiB superframe
	 * (27k/s, estimated). Yet a neighbour's unpaced UDP flood at 21k-31k
	 * frames/s already cost a TAP VM's TCP 35-40% (README, make soak),
	 * and 10k/s still about a fifth. An operator who hosts untrusted
	 * floods sets the limit; softnetd then leaves a VM's excess unread
	 * (switch.c). The byte limit is above any one VM's line rate here;
	 * it bounds a VM's volume, not its cost.
	 */
	cfg->vm_limits.tx.frames_per_sec = 1000000;
	cfg->vm_limits.tx.bytes_per_sec = 2500000000u; /* 20 Gbit/s */
	cfg->vm_limits.rx = cfg->vm_limits.tx;
	cfg->uplink.mode = UPLINK_MODE_SHARED;
	cfg->uplink.name = xstrdup("softnet0");
	cfg->uplink.have_addrs = true;
	cfg->uplink.mtu = 1500;
	cfg->dhcp.lease_time = 600;
	cfg->dhcp.max_leases_per_user = 0; /* pool less a quarter (main.c) */
	cfg->dhcp.rate = 4;
	cfg->dhcp.burst = 8;
	cfg->dhcp.max_declined = 4;
	cfg->dhcp.lease_retention = 604800; /* 7 days */
	cfg->dhcp.dns[0] = cfg->uplink.gateway;
	cfg->dhcp.ndns = cfg->uplink.have_addrs ? 1 : 0;
	/* On where nothing answers on the gateway (a TAP: Linux), off where
	 * mDNSResponder does (vmnet: macOS); see DESIGN.md. */
	cfg->dns.forward = cfg->uplink.type == UPLINK_TAP;
	policy_init(&cfg->default_policy);
}

/* Loads the file at path over the defaults; see config.h. */
int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct loader l = {path != NULL ? path : "(null)", err, errlen};
	json_error_t jerr;
	struct stat st;
	json_t *root;
	FILE *fp;

	config_defaults(cfg);
	if (path == NULL || (fp = fopen(path, "r")) == NULL) {
		lerr(&l, "%s", strerror(path == NULL ? EINVAL : errno));
		goto fail;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		lerr(&l, "not a regular file");
		fclose(fp);
		goto fail;
	}
	root = json_loadf(fp, LOAD_FLAGS, &jerr);
	fclose(fp);
	return load_root(&l, root, &jerr, cfg);
fail:
	config_free(cfg);
	return -1;
}

/* Loads text over the defaults; name stands for the file in messages. */
int
config_load_string(const char *text, const char *name, struct config *cfg,
    char *err, size_t errlen)
{
	struct loader l = {name != NULL ? name : "config", err, errlen};
	json_error_t jerr;

	config_defaults(cfg);
	if (text == NULL) {
		lerr(&l, "no text");
		config_free(cfg);
		return -1;
	}
	return load_root(&l, json_loads(text, LOAD_FLAGS, &jerr), &jerr, cfg);
}

/* Frees the strings of cfg; safe on defaults and when called twice. */
void
config_free(struct config *cfg)
{
	free(cfg->socket);
	free(cfg->socket_group);
	free(cfg->admin_group);
	free(cfg->database);
	free(cfg->user);
	free(cfg->bootpd_leases);
	cfg->bootpd_leases = NULL;
	free(cfg->metrics.listen);
	cfg->metrics.listen = NULL;
	free(cfg->dhcp.reservations);
	cfg->dhcp.reservations = NULL;
	cfg->dhcp.nreservations = 0;
	free(cfg->uplink.name);
	cfg->socket = cfg->socket_group = cfg->admin_group = NULL;
	cfg->database = cfg->uplink.name = cfg->user = NULL;
}
