/*
 * Theory of operation: every object the control protocol answers with is
 * built here, from the daemon's state as it is now, so one op and another
 * (attach and list, show and stats) cannot describe the same VM in two
 * ways. The views read state and never change it; nothing here calls the
 * ops or the server, which sit above (control.c -> ctl_ops.c -> here).
 * Error messages may quote client input and are cut to CTL_JSON_MSG_LEN
 * and made printable ASCII, which JSON always takes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "ctl_json.h"
#include "expose.h"
#include "drop.h"
#include "leasedb.h"
#include "log.h"
#include "osdep.h"
#include "policy.h"
#include "port.h"
#include "reserve.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "vm.h"

json_t *
ctl_json_reply(bool ok, json_t *id)
{
	json_t *r = json_object();

	json_object_set_new(r, "ok", json_boolean(ok));
	if (id != NULL)
		json_object_set(r, "id", id);
	return r;
}

json_t *
ctl_json_error(json_t *id, const char *code, const char *fmt, ...)
{
	char msg[CTL_JSON_MSG_LEN], *c;
	json_t *r = ctl_json_reply(false, id), *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/*
	 * Messages quote client input (cut at a byte count, possibly inside
	 * a UTF-8 character): keep them printable ASCII, which JSON always
	 * takes.
	 */
	for (c = msg; *c != '\0'; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	if ((e = json_pack("{s:s,s:s}", "code", code, "message", msg)) == NULL)
		fatalx("json_pack failed for an error reply");
	json_object_set_new(r, "error", e);
	return r;
}

json_t *
ctl_json_ip(uint32_t ip)
{
	char buf[ADDR_IPV4_STRLEN];

	if (ip == 0)
		return json_null();
	addr_format_ipv4(ip, buf);
	return json_string(buf);
}

json_t *
ctl_json_policy(const struct policy *pol)
{
	json_t *allow = json_array(), *block = json_array();
	json_t *expose = json_array();
	char buf[64];
	size_t i;

	for (i = 0; i < pol->nrules; i++) {
		policy_format_rule(&pol->rules[i], buf, sizeof(buf));
		json_array_append_new(
		    pol->rules[i].block ? block : allow, json_string(buf));
	}
	for (i = 0; i < pol->nexpose; i++) {
		policy_format_expose(&pol->expose[i], buf, sizeof(buf));
		json_array_append_new(expose, json_string(buf));
	}
	return json_pack("{s:o,s:o,s:o,s:I}", "allow", allow, "block", block,
	    "expose", expose, "revision", (json_int_t)pol->revision);
}

/* The per-VM counters as an object. */
static json_t *
stats_json(const struct port *p)
{
	json_t *drops = json_object(), *o;
	uint64_t total = 0;
	int r;

	for (r = 0; r < DROP__COUNT; r++) {
		total += p->st.drops[r];
		json_object_set_new(drops, drop_reason_name(r),
		    json_integer((json_int_t)p->st.drops[r]));
	}
	o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:o,s:I,s:b,s:I,s:I,s:I,s:I,s:I}",
	    "tx_frames", (json_int_t)p->st.tx_frames, "tx_bytes",
	    (json_int_t)p->st.tx_bytes, "rx_frames",
	    (json_int_t)p->st.rx_frames, "rx_bytes", (json_int_t)p->st.rx_bytes,
	    "dropped", (json_int_t)total, "drops", drops, "backlog",
	    (json_int_t)port_backlog(p), "hung", p->uplink_blocked,
	    "dhcp_declines", (json_int_t)p->st.dhcp_declines,
	    "dhcp_bad_options", (json_int_t)p->st.dhcp_bad_options,
	    "proxied_connections", (json_int_t)expose_count(p), "udp_mappings",
	    (json_int_t)expose_udp_count(p), "capture_drops",
	    (json_int_t)p->st.capture_drops);
	/* Reads put off (issue 18): its excess stayed in its own queue. */
	json_object_set_new(
	    o, "read_pauses", json_integer((json_int_t)p->st.read_pauses));
	json_object_set_new(o, "read_paused_us",
	    json_integer((json_int_t)p->st.read_paused_us));
	/* Queries the DNS forwarder answered SERVFAIL: over a share. */
	json_object_set_new(
	    o, "dns_refused", json_integer((json_int_t)p->st.dns_refused));
	return o;
}

json_t *
ctl_json_vm(const struct port *p, bool detail)
{
	char mac[SOFTNET_MAC_STRLEN];
	json_t *o;

	addr_format_mac(p->mac, mac);
	o = json_pack("{s:I,s:o,s:s,s:o,s:I,s:s,s:s,s:b,s:I,s:I,s:I}", "id",
	    (json_int_t)p->id, "name",
	    p->name[0] ? json_string(p->name) : json_null(), "mac", mac, "ip",
	    ctl_json_ip(p->ip), "owner", (json_int_t)p->owner, "state",
	    port_state(p), "kind", p->kind == OSDEP_FD_TAP ? "tap" : "dgram",
	    "session", p->session != NULL, "attached_at",
	    (json_int_t)p->attached_at, "rx_frames",
	    (json_int_t)p->st.rx_frames, "tx_frames",
	    (json_int_t)p->st.tx_frames);
	json_object_set_new(o, "lease_expires",
	    p->ip != 0 ? json_integer(p->lease_expires) : json_null());
	if (detail) {
		json_object_set_new(o, "policy", ctl_json_policy(&p->policy));
		json_object_set_new(o, "stats", stats_json(p));
	}
	return o;
}

json_t *
ctl_json_lease(const struct lease *l)
{
	char mac[SOFTNET_MAC_STRLEN];
	json_t *o;

	addr_format_mac(l->mac, mac);
	o = json_pack("{s:s,s:o,s:o,s:o,s:s,s:I,s:o}", "mac", mac, "ip",
	    ctl_json_ip(l->ip), "name",
	    l->name[0] ? json_string(l->name) : json_null(), "hostname",
	    l->hostname[0] ? json_string(l->hostname) : json_null(), "state",
	    leasedb_state_name(l->state), "owner", (json_int_t)l->owner,
	    "expires",
	    l->expires != 0 ? json_integer(l->expires) : json_null());
	/* What the DHCP client said of itself (options 61 and 81). */
	json_object_set_new(o, "client_id",
	    l->client_id[0] ? json_string(l->client_id) : json_null());
	json_object_set_new(
	    o, "domain", l->domain[0] ? json_string(l->domain) : json_null());
	return o;
}

json_t *
ctl_json_reserved(const struct reserve_entry *e, const struct lease *holder)
{
	char mac[SOFTNET_MAC_STRLEN];
	json_t *o;

	if (e->by_mac)
		addr_format_mac(e->mac, mac);
	o = json_pack("{s:o,s:o,s:o,s:n,s:s,s:n,s:n}", "mac",
	    e->by_mac ? json_string(mac) : json_null(), "ip",
	    ctl_json_ip(e->ip), "name",
	    e->by_mac ? json_null() : json_string(e->name), "hostname", "state",
	    "reserved", "owner", "expires");
	/* Another MAC's lease from before the reservation: until when. */
	if (holder != NULL)
		json_object_set_new(
		    o, "in_use_until", json_integer(holder->expires));
	return o;
}

json_t *
ctl_json_quarantine(const struct leasedb_quarantine *q)
{
	static const uint8_t zero[6];
	char mac[SOFTNET_MAC_STRLEN];

	addr_format_mac(q->mac, mac);
	return json_pack("{s:o,s:o,s:I}", "ip", ctl_json_ip(q->ip), "mac",
	    memcmp(q->mac, zero, 6) ? json_string(mac) : json_null(), "until",
	    (json_int_t)q->until);
}

/* Address, DHCP, lease table and backlog limits (issue #13 11-14). */
static json_t *
tenancy_json(struct softnetd *sd)
{
	const struct sw_stats *st = switch_stats(sd);
	size_t backlog;
	uint64_t refused;

	port_backlog_totals(sd, &backlog, &refused);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "max_leases_per_user", (json_int_t)sd->cfg.dhcp.max_leases_per_user,
	    "max_vms_per_user", (json_int_t)sd->cfg.max_vms_per_user,
	    "dhcp_rate", (json_int_t)sd->cfg.dhcp.rate, "dhcp_burst",
	    (json_int_t)sd->cfg.dhcp.burst, "dhcp_rate_limited",
	    (json_int_t)st->dhcp_rate_limited, "dhcp_over_quota",
	    (json_int_t)st->dhcp_over_quota, "decline_unquarantined",
	    (json_int_t)st->dhcp_decline_unquarantined, "leases_purged",
	    (json_int_t)vm_leases_purged(sd), "lease_retention",
	    (json_int_t)sd->cfg.dhcp.lease_retention, "backlog_bytes",
	    (json_int_t)backlog, "backlog_share_drops", (json_int_t)refused);
}

json_t *
ctl_json_status(struct softnetd *sd)
{
	const struct sw_stats *st = switch_stats(sd);
	char mac[SOFTNET_MAC_STRLEN];
	json_t *o;

	addr_format_mac(sd->up.mac, mac);
	o = json_pack("{s:s,s:i,s:I,s:I,s:I,s:s,s:s,s:{s:s,s:s,s:o,s:o,s:i,"
	              "s:s},s:{s:o,s:o},s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}",
	    "version", SOFTNET_VERSION, "protocol", SOFTNET_PROTO_VERSION,
	    "uptime", (json_int_t)(time(NULL) - sd->started), "vms",
	    (json_int_t)port_count(sd), "max_vms", (json_int_t)sd->cfg.max_vms,
	    "socket", sd->cfg.socket, "database", sd->cfg.database, "uplink",
	    "type", sd->cfg.uplink.type == UPLINK_TAP ? "tap" : "vmnet", "name",
	    sd->up.name, "gateway", ctl_json_ip(sd->up.gateway), "netmask",
	    ctl_json_ip(sd->up.netmask), "mtu", (int)sd->up.mtu, "mac", mac,
	    "pool", "start", ctl_json_ip(sd->up.pool_start), "end",
	    ctl_json_ip(sd->up.pool_end), "counters", "rx_frames",
	    (json_int_t)st->uplink_rx_frames, "tx_frames",
	    (json_int_t)st->uplink_tx_frames, "no_port",
	    (json_int_t)st->uplink_no_port, "flood",
	    (json_int_t)st->uplink_flood, "write_drop",
	    (json_int_t)st->uplink_write_drop, "dhcp_pool_full",
	    (json_int_t)st->dhcp_pool_full, "hung_vms",
	    (json_int_t)switch_blocked(sd), "hung_blocks",
	    (json_int_t)st->uplink_blocks);
	json_object_set_new(o, "tenancy", tenancy_json(sd));
	/* VMs paused over their share of the loop (issue 18). */
	json_object_set_new(
	    o, "fair_pauses", json_integer((json_int_t)st->fair_pauses));
	json_object_set_new(
	    o, "fair_saturated", json_integer((json_int_t)st->fair_saturated));
	json_object_set_new(
	    o, "clock_pauses", json_integer((json_int_t)st->clock_pauses));
	return o;
}
