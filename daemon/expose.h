/*
 * Port exposure (--expose [udp:]EXT:INT): the daemon listens on host TCP
 * port EXT and proxies each connection to the VM's current lease, port
 * INT; with udp: it relays datagrams, one mapping per client.
 */
#ifndef SOFTNET_EXPOSE_H
#define SOFTNET_EXPOSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* Default of max_proxied_per_vm (config.h), a per-VM cap on live pairs. */
#define EXPOSE_MAX_CONNS  256          /* live proxied connections per VM */
#define EXPOSE_HIGH_WATER (256 * 1024) /* bytes queued toward one side */
/* Listeners per VM: an entry without ADDR takes two (loopback, gateway). */
#define EXPOSE_MAX_LISTENERS (2 * POLICY_MAX_EXPOSE)

struct softnetd;
struct port;

/*
 * Listens on ADDR:EXT (or 127.0.0.1:EXT and gateway:EXT without ADDR) for
 * every entry of p->policy.expose. All or
 * nothing: on failure closes what it opened and returns -1 with a message
 * ("host TCP port 8080 is already in use").
 */
int expose_open(struct softnetd *sd, struct port *p, char *err, size_t errlen);
/* Closes p's listeners and every live proxied connection; p->expose NULL. */
void expose_close(struct softnetd *sd, struct port *p);
/*
 * Whether port (a struct port) has a live proxied TCP connection, or UDP
 * mapping (proto, PKT_IPPROTO_*), from host port host_port to its port
 * vm_port (struct filter_vm's proxied).
 */
bool expose_proxied(
    const void *port, uint8_t proto, uint16_t vm_port, uint16_t host_port);
/* Proxied connections and UDP mappings in all, limits, refusals (status). */
json_t *expose_limits_json(struct softnetd *sd);
/* Live proxied TCP connections of p (status and tests). */
size_t expose_count(const struct port *p);
/* Live UDP client mappings of p (stats and tests). */
size_t expose_udp_count(const struct port *p);

#endif
