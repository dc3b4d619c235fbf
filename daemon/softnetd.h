/*
 * The daemon's one shared state, created by main.c at startup and handed to
 * every subsystem. Single-threaded: everything runs on the libevent loop.
 */
#ifndef SOFTNET_SOFTNETD_H
#define SOFTNET_SOFTNETD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "dhcp.h"
#include "fdbudget.h"
#include "filter.h"
#include "uplink.h"

struct event_base;
struct event;
struct leasedb;
struct control;
struct ports;
struct vms;
struct sw;
struct bootpd;
struct hostaddr;
struct json_t;
struct events;
struct captures;
struct metrics_http;

/* Room for the control ops' counters (ctl_ops.c checks its table fits). */
#define SOFTNETD_CTL_SLOTS 32

struct softnetd {
	struct config cfg;
	struct event_base *base;
	struct leasedb *db;
	struct uplink *uplink; /* NULL in control-plane-only tests */
	struct uplink_params up;
	struct filter_net net;   /* derived from up + cfg.dhcp */
	struct dhcp_config dhcp; /* derived from up + cfg.dhcp */
	struct ports *ports;
	struct vms *vms; /* the VM lifecycle's (vm.c) */
	struct sw *sw;
	struct control *control;
	/*
	 * The control server's limits for "status" (control.c sets it; NULL
	 * without a server): the ops sit below the server, so it is lent
	 * to them rather than called up into.
	 */
	struct json_t *(*control_limits)(struct softnetd *sd);
	struct fdbudget fdb;       /* the descriptor budget (fdbudget.c) */
	struct bootpd *bootpd;     /* the bootpd lease mirror, or NULL */
	struct hostaddr *hostaddr; /* the host's addresses (hostaddr.c) */
	struct events *events;     /* the event stream (events.c) */
	struct captures *captures; /* packet captures (capture.c) */
	time_t started;
	bool no_batch;   /* -B: one frame per system call */
	int exit_status; /* main's, once the loop ends: 1 after softnetd_fail */

	/*
	 * Control requests by op (ctl_ops.c's table order; the last slot
	 * counts requests naming no valid op) and result (0 ok, 1 error),
	 * for the metrics (issue #16).
	 */
	uint64_t ctl_requests[SOFTNETD_CTL_SLOTS][2];
	struct metrics_http *metrics; /* the endpoint, or NULL (off) */
};

/*
 * What the uplink is asked for, from cfg's "uplink" object (and -B, in
 * no_offload): the backends see no more of the config than this.
 */
void softnetd_uplink_settings(
    const struct config *cfg, struct uplink_settings *s);

/* Fills sd->net and sd->dhcp from sd->up and sd->cfg (after the uplink). */
void softnetd_derive_network(struct softnetd *sd);

/*
 * Something the daemon cannot run without (the uplink) is gone: logs why
 * and ends the event loop with exit status 1, so launchd or systemd starts
 * softnetd again (VMs re-attach and keep their leases).
 */
void softnetd_fail(struct softnetd *sd, const char *why);

#endif
