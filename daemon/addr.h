/*
 * Address text: MAC and IPv4 addresses, CIDR prefixes and VM names (what
 * names a VM besides its MAC), parsed strictly
 * (the whole string, nothing trailing) and formatted. IPv4 addresses are
 * uint32_t in host byte order everywhere in softnet.
 */
#ifndef SOFTNET_ADDR_H
#define SOFTNET_ADDR_H

#include <stdbool.h>
#include <stdint.h>

#include "softnet_proto.h"

/* "aa:bb:cc:dd:ee:ff" + NUL, as the protocol has it */
#define ADDR_MAC_STRLEN  SOFTNET_MAC_STRLEN
#define ADDR_IPV4_STRLEN 16 /* "255.255.255.255" + NUL */
#define ADDR_NAMELEN     64 /* a VM name, NUL included */

/* "aa:bb:cc:dd:ee:ff" (or '-' separated, 1-2 hex digits per octet). */
int addr_parse_mac(const char *s, uint8_t mac[6]);
void addr_format_mac(const uint8_t mac[6], char buf[ADDR_MAC_STRLEN]);
/* A MAC a VM may own: unicast and not all zeros. */
bool addr_mac_is_unicast(const uint8_t mac[6]);

/* Dotted quad, exactly four decimal parts 0-255, no leading '+' or spaces. */
int addr_parse_ipv4(const char *s, uint32_t *ip);
void addr_format_ipv4(uint32_t ip, char buf[ADDR_IPV4_STRLEN]);

/* "a.b.c.d/len" or "a.b.c.d" (= /32); host bits must be zero. */
int addr_parse_cidr(const char *s, uint32_t *net, uint8_t *plen);
uint32_t addr_prefix_mask(uint8_t plen);
/* A netmask: contiguous ones. Returns the prefix length or -1. */
int addr_mask_to_prefix(uint32_t mask);

/*
 * A VM name as attach and the config's reservations take it: 1-63 of
 * [A-Za-z0-9._-], not all digits (an id) and not a MAC, so that a VM
 * argument is never ambiguous.
 */
bool addr_name_valid(const char *name);

#endif
