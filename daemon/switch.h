/*
 * The switch: moves frames between VM ports and the uplink, running the
 * isolation filter on every hop and handing DHCP to the in-daemon server.
 */
#ifndef SOFTNET_SWITCH_H
#define SOFTNET_SWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dhcp.h"

struct softnetd;
struct port;

/* Counters for frames that came from the uplink and reached no VM. */
struct sw_stats {
	uint64_t uplink_rx_frames, uplink_rx_bytes; /* read from the uplink */
	uint64_t uplink_tx_frames, uplink_tx_bytes; /* written to it */
	uint64_t uplink_no_port;    /* unicast for no attached MAC */
	uint64_t uplink_flood;      /* broadcast/multicast for no VM */
	uint64_t uplink_runt;       /* shorter than an Ethernet header */
	uint64_t uplink_write_drop; /* the uplink refused a frame */
	uint64_t dhcp_pool_full;    /* DISCOVERs left unanswered */
	uint64_t uplink_blocks;     /* times a hung VM was blocked there */
	/* Tenancy limits (issue 13 items 11-13). */
	uint64_t dhcp_rate_limited; /* DHCP messages over a VM's dhcp.rate */
	uint64_t dhcp_over_quota;   /* new leases refused: owner at quota */
	uint64_t dhcp_decline_unquarantined; /* a VM's quarantine share full */
	uint64_t fair_pauses;    /* VMs paused over their share of the loop */
	uint64_t fair_saturated; /* windows the loop was saturated in */
	uint64_t clock_pauses;   /* VMs paused by the clock rule */
	/* DHCP messages from VMs and replies to them, by option 53 (index
	 * 0: no type or unparsable), for the metrics (issue #16). */
	uint64_t dhcp_rx[DHCP_TYPE__COUNT], dhcp_tx[DHCP_TYPE__COUNT];
};

/* Allocates batch buffers, watches the uplink (if any). */
void switch_init(struct softnetd *sd);
void switch_shutdown(struct softnetd *sd);
/* Reads one batch from a VM port and switches it. */
void switch_port_readable(struct softnetd *sd, struct port *p);
/* Switches one frame sent by the VM on port p (exposed for tests). */
void switch_from_vm(
    struct softnetd *sd, struct port *p, const uint8_t *frame, size_t len);
/* Switches one frame from the uplink (exposed for tests). */
void switch_from_uplink(struct softnetd *sd, const uint8_t *frame, size_t len);
/* Starts p's DHCP message bucket (dhcp.rate per second, dhcp.burst deep). */
void switch_dhcp_rate_init(struct softnetd *sd, struct port *p);
/* Tells the host that p's leased address is at p's MAC (gratuitous ARP). */
void switch_announce(struct softnetd *sd, struct port *p);
/* The gateway's MAC once seen in its ARP on the uplink; false before. */
bool switch_gateway_mac(struct softnetd *sd, uint8_t mac[6]);
const struct sw_stats *switch_stats(struct softnetd *sd);
/* Replaces osdep_thread_demand_ns for the fair share (NULL: restore). */
void switch_set_demand_hook(uint64_t (*fn)(void));
/* Lets the uplink hand over p's frames again (p reads, or is going). */
void switch_unblock(struct softnetd *sd, struct port *p);
/* How many hung VMs the uplink drops frames for now. */
size_t switch_blocked(struct softnetd *sd);

#endif
