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
#include "filter.h"
#include "uplink.h"

struct event_base;
struct event;
struct leasedb;
struct control;
struct ports;
struct sw;

struct softnetd {
	struct config cfg;
	struct event_base *base;
	struct leasedb *db;
	struct uplink *uplink; /* NULL in control-plane-only tests */
	struct uplink_params up;
	struct filter_net net;   /* derived from up + cfg.dhcp */
	struct dhcp_config dhcp; /* derived from up + cfg.dhcp */
	struct ports *ports;
	struct sw *sw;
	struct control *control;
	time_t started;
	bool no_batch; /* -B: one frame per system call */
};

/* Fills sd->net and sd->dhcp from sd->up and sd->cfg (after the uplink). */
void softnetd_derive_network(struct softnetd *sd);

/* Wall-clock seconds, the time base of leases (defined by main.c). */
int64_t softnetd_now(void);

#endif
