/*
 * Theory of operation: the few things about the daemon's shared state that
 * are derived rather than configured: what the uplink is asked for (the
 * backends get only that, never the config); the filter's and the DHCP
 * server's view of the network, computed once the uplink says what it
 * is; and the one way a subsystem ends the daemon with a failure status.
 */
#include <string.h>

#include <event2/event.h>

#include "dhcp.h"
#include "log.h"
#include "softnetd.h"

/* Picks out of the config what uplink_open needs. */
void
softnetd_uplink_settings(const struct config *cfg, struct uplink_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->name = cfg->uplink.name;
	s->host_mode = cfg->uplink.mode == UPLINK_MODE_HOST;
	s->offload = !cfg->uplink.no_offload;
	s->gateway = cfg->uplink.gateway;
	s->netmask = cfg->uplink.netmask;
	s->pool_start = cfg->uplink.pool_start;
	s->pool_end = cfg->uplink.pool_end;
	s->mtu = cfg->uplink.mtu;
}

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
	sd->dhcp.domain = sd->cfg.dhcp.domain;
	sd->dhcp.search = sd->cfg.dhcp.search;
	sd->dhcp.search_len = sd->cfg.dhcp.search_len;
	sd->dhcp.routes = sd->cfg.dhcp.routes;
	sd->dhcp.routes_len = sd->cfg.dhcp.routes_len;
	/* The daemon's own MAC (on vmnet not vmnet_mac_address_key, which is
	 * the MAC vmnet expects a VM to use: see uplink.h). */
	memcpy(sd->dhcp.server_mac, sd->up.mac, sizeof(sd->dhcp.server_mac));
	/*
	 * The per-uid lease quota needs the pool: by default a quarter of
	 * it stays for root/admin, and a user may not attach more VMs than
	 * it may lease for (max_vms_per_user is clamped, said once).
	 */
	if (sd->up.pool_start == 0)
		return;
	sd->cfg.dhcp.max_leases_per_user =
	    dhcp_lease_quota(sd->cfg.dhcp.max_leases_per_user,
	        sd->up.pool_start, sd->up.pool_end, sd->up.gateway);
	if (sd->cfg.max_vms_per_user > sd->cfg.dhcp.max_leases_per_user) {
		log_debug("max_vms_per_user %u lowered to the lease quota %u",
		    sd->cfg.max_vms_per_user, sd->cfg.dhcp.max_leases_per_user);
		sd->cfg.max_vms_per_user = sd->cfg.dhcp.max_leases_per_user;
	}
}

/* Ends the loop with status 1: see softnetd.h. */
void
softnetd_fail(struct softnetd *sd, const char *why)
{
	log_warnx("%s: exiting with status 1", why);
	sd->exit_status = 1;
	if (sd->base != NULL)
		event_base_loopexit(sd->base, NULL);
}
