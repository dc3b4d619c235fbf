/*
 * The VM lifecycle: what attaching and detaching a VM means across the
 * modules (checks, the port, exposed ports, the lease database, a lease
 * restored after a restart), a control session ending, and leases
 * expiring. The control ops call this; port.c only keeps the registry.
 */
#ifndef SOFTNET_VM_H
#define SOFTNET_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osdep.h"

struct softnetd;
struct port;
struct policy;

/* Why vm_attach refused; vm_err_code gives the wire code. */
enum vm_err {
	VM_OK,
	VM_TOO_MANY,         /* max_vms attached */
	VM_MAC_NOT_UNICAST,  /* multicast or zero */
	VM_MAC_RESERVED,     /* one of softnetd's own MACs */
	VM_MAC_IN_USE,       /* attached, or another user's lease */
	VM_NAME_IN_USE,      /* the owner has a VM of that name */
	VM_IP_NOT_OURS,      /* --ip: not a host of the subnet */
	VM_IP_RESERVED,      /* --ip (admin): reserved for another VM */
	VM_IP_NOT_RESERVED,  /* --ip (user): reserved for another VM */
	VM_IP_NEEDS_ADMIN,   /* --ip (user): reserved for no one */
	VM_IP_LEASED,        /* --ip: another MAC's live lease */
	VM_IP_LEASED_BEFORE, /* the same, from before its reservation */
	VM_IP_TAKEN,         /* --ip: another attached or pinned VM's */
	VM_FD_NAMED_PEER,    /* socket connected to a bound address */
	VM_FD_UNCONNECTED,   /* socket without a peer */
	VM_FD_ATTACHED,      /* that socket is attached already */
	VM_FD_FLAGS,         /* cannot be made non-blocking */
	VM_FD_OFFLOAD,       /* TAP offloads refused */
	VM_PORT_IN_USE,      /* an --expose port is taken */
	VM_DB,               /* the lease database failed */
	VM__COUNT
};

struct vm_attach_args {
	int fd; /* taken over by vm_attach on success */
	enum osdep_fd_kind kind;
	uint8_t mac[6];
	const char *name; /* NULL or "" for none */
	int64_t owner;
	void *session;
	const struct policy *policy;
	bool admin;  /* root or admin_group: may take over another's MAC */
	uint32_t ip; /* attach --ip: pin this address (0: none; issue 14) */
};

/* Starts the lease-expiry timer and takes over reaping dead ports. */
void vm_init(struct softnetd *sd);
void vm_shutdown(struct softnetd *sd);
/*
 * Attaches a VM. On failure returns NULL with *err and a message for the
 * client in msg, and leaves a->fd open (the caller closes it); nothing
 * of the attempt remains (no port, no exposed port, no lease row).
 */
struct port *vm_attach(struct softnetd *sd, const struct vm_attach_args *a,
    enum vm_err *err, char *msg, size_t msglen);
/* Removes a VM: its port, fd and exposed ports, and releases its lease. */
void vm_detach(struct softnetd *sd, struct port *p);
/* Detaches every VM attached with session (NULL: none). */
void vm_session_end(struct softnetd *sd, void *session);
/* Expires leases now (the timer calls it; tests too). */
void vm_expire(struct softnetd *sd);
/* Idle lease rows vm_expire has purged (dhcp.lease_retention). */
uint64_t vm_leases_purged(struct softnetd *sd);
/*
 * How long successful attaches took (vm_attach's own work, clock_mono):
 * buckets[i] counts those at most bounds_ns[i] and above the bound
 * before it; buckets[VM_ATTACH_BUCKETS] those above the last (issue #16).
 */
#define VM_ATTACH_BUCKETS 10
struct vm_attach_hist {
	uint64_t buckets[VM_ATTACH_BUCKETS + 1];
	uint64_t count, sum_ns;
};
/* The histogram, and its bucket bounds in *bounds_ns. */
const struct vm_attach_hist *vm_attach_hist(
    struct softnetd *sd, const uint64_t **bounds_ns);
/* The protocol's error code (SOFTNET_E_*) for err. */
const char *vm_err_code(enum vm_err err);

#endif
