/*
 * The uplink: the one shared interface between softnetd and the host's
 * network (a TAP device on Linux, a vmnet interface on macOS). Exactly one
 * backend is compiled in; both implement these functions. Frames carry no
 * header; one frame per read/write.
 */
#ifndef SOFTNET_UPLINK_H
#define SOFTNET_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/*
 * What the daemon asks of the uplink: main.c fills it from the config's
 * "uplink" object, so the backends never see the rest of the config.
 * Addresses host order.
 */
struct uplink_settings {
	const char *name; /* TAP device name (<= 15 bytes; TAP only) */
	bool host_mode;   /* vmnet: host mode (no NAT) instead of shared */
	bool offload;     /* TAP: take and give GSO superframes (not -B) */
	uint32_t gateway; /* the host's address on the VM network */
	uint32_t netmask;
	uint32_t pool_start; /* first and last address for VMs */
	uint32_t pool_end;
	unsigned mtu; /* IP MTU, 576..9000 */
};

/* What the uplink turned out to be once open. Addresses host order. */
struct uplink_params {
	uint32_t gateway; /* the host's address on the VM network */
	uint32_t netmask;
	uint32_t pool_start; /* first and last address for VMs */
	uint32_t pool_end;
	unsigned mtu;     /* IP MTU handed to VMs */
	size_t max_frame; /* largest frame read or written */
	/*
	 * The source MAC of the daemon's own frames (DHCP replies): the TAP's
	 * host-side MAC; on vmnet a locally administered MAC of the daemon's
	 * (vmnet does not say the host bridge's MAC).
	 */
	uint8_t mac[6];
	/*
	 * vmnet only: vmnet_mac_address_key, the MAC vmnet allocated for the
	 * VM side of the interface (not the host's); zero on a TAP.
	 */
	uint8_t vm_mac[6];
	bool vnet;     /* takes and gives GSO superframes (vnet header) */
	char name[32]; /* interface name, for messages */
};

struct uplink;

/*
 * Opens and configures the uplink as s asks; fills p with what it turned
 * out to be. NULL with a message in err.
 */
struct uplink *uplink_open(const struct uplink_settings *s,
    struct uplink_params *p, char *err, size_t errlen);
/* The descriptor to poll for readability. */
int uplink_fd(const struct uplink *u);
/*
 * Reads up to n frames (each into frames[i].data, up to frames[i].cap).
 * Returns how many were read (0: nothing pending), or -1 on a fatal error:
 * the uplink is gone for good and the daemon exits 1 (for launchd or
 * systemd to start it again).
 */
int uplink_read(struct uplink *u, struct frame *frames, int n);
/*
 * Writes n frames; returns how many were accepted, -1 on a fatal error.
 * Frames larger than max_frame are dropped (not accepted), never sent.
 */
int uplink_write(struct uplink *u, const struct frame *frames, int n);
/*
 * Has the uplink drop frames addressed to these MACs before softnetd reads
 * them (VMs that read nothing: the frames would be dropped anyway, and
 * reading them costs the daemon the same as forwarding them). n = 0 lifts
 * every block; at most UPLINK_BLOCK_MAX. 0, or -1 with errno when the
 * backend cannot (the daemon then reads and drops them itself).
 */
#define UPLINK_BLOCK_MAX 32
int uplink_block(struct uplink *u, const uint8_t (*macs)[6], size_t n);
/* Stops the uplink and releases everything it holds. */
void uplink_close(struct uplink *u);

#endif
