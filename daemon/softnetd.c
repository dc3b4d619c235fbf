/*
 * Theory of operation: the few things about the daemon's shared state that
 * are derived rather than configured: the filter's and the DHCP server's
 * view of the network, computed once the uplink says what it is.
 */
#include <string.h>

#include "softnetd.h"

/* Derives the filter's and the DHCP server's view of the network. */
void
softnetd_derive_network(struct softnetd *sd)
{
	/* No DNS configured (vmnet picking the subnet): the gateway. */
	if (sd->cfg.dhcp.ndns == 0) {
		sd->cfg.dhcp.dns[0] = sd->up.gateway;
		sd->cfg.dhcp.ndns = 1;
	}
	sd->net.gateway = sd->up.gateway;
	sd->net.netmask = sd->up.netmask;
	sd->net.dns = sd->cfg.dhcp.dns;
	sd->net.ndns = sd->cfg.dhcp.ndns;
	sd->dhcp.gateway = sd->up.gateway;
	sd->dhcp.netmask = sd->up.netmask;
	sd->dhcp.dns = sd->cfg.dhcp.dns;
	sd->dhcp.ndns = sd->cfg.dhcp.ndns;
	sd->dhcp.mtu = (uint16_t)sd->up.mtu;
	sd->dhcp.lease_time = sd->cfg.dhcp.lease_time;
	memcpy(sd->dhcp.server_mac, sd->up.mac, sizeof(sd->dhcp.server_mac));
}
