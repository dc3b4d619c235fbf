/*
 * Address reservations (config dhcp.reservations, and `attach --ip` pins):
 * one fixed IPv4 address for one MAC or one VM name. The table is built
 * once by config.c and read by leasedb.c (allocation), port.c and
 * control.c (attach --ip, `leases`).
 */
#ifndef SOFTNET_RESERVE_H
#define SOFTNET_RESERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define RESERVE_NAMELEN ADDR_NAMELEN /* a VM name, NUL included */
#define RESERVE_MAX     4096         /* entries in dhcp.reservations */
#define RESERVE_DESCLEN 96           /* reserve_describe output */

struct reserve_entry {
	uint32_t ip; /* host order */
	bool by_mac; /* keyed by mac, else by name */
	uint8_t mac[6];
	char name[RESERVE_NAMELEN];
};

/* The entry reserving ip, or NULL. */
const struct reserve_entry *reserve_by_ip(
    const struct reserve_entry *tab, size_t n, uint32_t ip);
/*
 * The entry that serves a VM with this MAC and name (name NULL or "" for
 * none): a MAC entry first, else a name entry; NULL when none does.
 */
const struct reserve_entry *reserve_for(const struct reserve_entry *tab,
    size_t n, const uint8_t mac[6], const char *name);
/* Whether e serves the VM with this MAC and name. */
bool reserve_matches(
    const struct reserve_entry *e, const uint8_t mac[6], const char *name);
/* "MAC 02:00:00:00:00:01" or "name \"web\"", for messages. */
void reserve_describe(const struct reserve_entry *e, char *buf, size_t len);

#endif
