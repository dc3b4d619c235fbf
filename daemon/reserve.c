/*
 * Theory of operation: a reservation ties one address to one MAC or one VM
 * name. The table is small (at most RESERVE_MAX entries, written by the
 * admin in the config file) and is searched linearly: it is consulted on
 * DHCP allocation, which already costs a database transaction, never on
 * the frame path. config.c guarantees the table's invariants (each MAC,
 * name and address appears once; every address is a host of the subnet
 * and not the gateway), so a lookup has at most one answer.
 *
 * A MAC entry serves the VM with that MAC whatever its name; a name entry
 * serves a VM attached under that name. A MAC entry wins when both would
 * serve one VM, because the MAC is what DHCP and the filter key on.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "reserve.h"

/* Finds the entry holding ip. */
const struct reserve_entry *
reserve_by_ip(const struct reserve_entry *tab, size_t n, uint32_t ip)
{
	size_t i;

	if (tab == NULL || ip == 0)
		return NULL;
	for (i = 0; i < n; i++)
		if (tab[i].ip == ip)
			return &tab[i];
	return NULL;
}

/* Whether e is for this VM: by MAC, or by a non-empty equal name. */
bool
reserve_matches(
    const struct reserve_entry *e, const uint8_t mac[6], const char *name)
{
	if (e == NULL)
		return false;
	if (e->by_mac)
		return mac != NULL && memcmp(e->mac, mac, 6) == 0;
	return name != NULL && name[0] != '\0' &&
	       strncmp(e->name, name, RESERVE_NAMELEN) == 0;
}

/* The MAC entry for mac, else the name entry for name. */
const struct reserve_entry *
reserve_for(const struct reserve_entry *tab, size_t n, const uint8_t mac[6],
    const char *name)
{
	const struct reserve_entry *byname = NULL;
	size_t i;

	if (tab == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!reserve_matches(&tab[i], mac, name))
			continue;
		if (tab[i].by_mac)
			return &tab[i];
		byname = &tab[i];
	}
	return byname;
}

/* Names the entry's key for a message. */
void
reserve_describe(const struct reserve_entry *e, char *buf, size_t len)
{
	char mac[ADDR_MAC_STRLEN];

	if (len == 0)
		return;
	if (e->by_mac) {
		addr_format_mac(e->mac, mac);
		snprintf(buf, len, "MAC %s", mac);
	} else
		snprintf(buf, len, "name \"%.63s\"", e->name);
}
