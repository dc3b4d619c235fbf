/*
 * VM ports: one per attached VM descriptor. This module owns the registry
 * (by id, name, MAC and leased IP), each port's read event and its
 * non-blocking writes. What happens to a frame is switch.c's business.
 */
#ifndef SOFTNET_PORT_H
#define SOFTNET_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "addr.h"
#include "drop.h"
#include "pkt.h"
#include "osdep.h"
#include "policy.h"
#include "rate.h"

struct softnetd;
struct event;
struct expose;
struct backlog;
struct capture;

#define PORT_NAMELEN ADDR_NAMELEN

/* Counters from the VM's point of view: tx = sent by the VM. */
struct port_stats {
	uint64_t tx_frames, tx_bytes; /* read from the VM */
	uint64_t rx_frames, rx_bytes; /* delivered to the VM */
	uint64_t drops[DROP__COUNT];
	uint64_t dhcp_declines;    /* DECLINEs taken (issue 14) */
	uint64_t dhcp_bad_options; /* DHCP options ignored, bad length */
	/*
	 * Times softnetd stopped reading the VM for a while (its vm_limits
	 * bucket was empty, or it had had its share of the loop while other
	 * VMs waited): what it sent meanwhile stayed in its own queue, and
	 * what did not fit there its own kernel dropped (issue 18).
	 */
	uint64_t read_pauses;
	uint64_t read_paused_us; /* for how long in all */
	uint64_t capture_drops;  /* frames a slow capture reader lost */
	uint64_t dns_refused;    /* DNS queries over a share (dnsfwd.c) */
};

struct port {
	TAILQ_ENTRY(port) entry;
	struct softnetd *sd;
	struct port *mac_next; /* hash chain by MAC */
	struct port *ip_next;  /* hash chain by leased IP */
	uint32_t id;
	char name[PORT_NAMELEN]; /* "" when unnamed */
	uint8_t mac[6];
	int fd;
	enum osdep_fd_kind kind;
	bool has_ident; /* ident is known (osdep_fd_ident) */
	uint64_t ident; /* the socket behind fd: refuses a second attach */
	bool vnet;      /* a TAP with virtio-net headers: GSO capable */
	int64_t owner;  /* uid that attached it */
	void *session;  /* control connection it lives with, or NULL */
	int64_t attached_at;
	uint32_t ip; /* leased address, 0 before a lease */
	int64_t lease_expires;
	struct policy policy;
	struct expose *expose; /* exposed TCP ports, or NULL */
	struct event *ev;
	struct event *wev;       /* one-shot: the full VM can take frames */
	struct event *pev;       /* timer ending a pause, made on first use */
	bool paused;             /* not read until pev fires (port_pause) */
	uint64_t fair_used;      /* loop time spent on it in fair_win, ns */
	uint32_t fair_win;       /* the switch's fair-share window it is in */
	uint64_t clk_tx;         /* frames read from it in fair_win */
	uint64_t clk_rx0;        /* st.rx_frames when fair_win began */
	uint64_t clk_rx_prev;    /* frames sent to it before fair_win */
	bool full;               /* its buffer was full: hold frames */
	uint64_t full_at;        /* clock_mono() when last found full */
	uint64_t retry_ns;       /* from full_at to the next send attempt */
	struct backlog *backlog; /* frames held for a full VM (port.c) */
	bool uplink_blocked;     /* hung: the uplink drops its frames */
	bool dead;               /* failed; detached from the loop soon */
	struct rate tx_rate;     /* token buckets (config vm_limits) */
	struct rate rx_rate;
	struct rate dhcp_rate; /* DHCP messages (config dhcp.rate/burst) */
	uint32_t rate_episode; /* its rate-limit episode's slot (events.c) */
	bool admin;            /* root/admin_group: no lease or backlog share */
	struct port_stats st;
	struct capture *captures; /* packet captures (capture.c), or NULL */
};

TAILQ_HEAD(port_list, port);

/* Why port_new refused a descriptor (vm.c tells the client). */
enum port_err {
	PORT_OK,
	PORT_E_NAMED_PEER,  /* a datagram socket connected to a bound name */
	PORT_E_UNCONNECTED, /* a datagram socket with no peer */
	PORT_E_ATTACHED,    /* that socket is attached already */
	PORT_E_FLAGS,       /* cannot be made non-blocking (errno) */
	PORT_E_OFFLOAD,     /* TAP offloads refused (errno) */
};

void port_init(struct softnetd *sd);
/*
 * The switch's handlers, registered by switch_init (the port layer
 * dispatches to them and never calls up into the switch): readable when
 * a port has frames to read, unblock when a port that read nothing for
 * long takes frames again or goes away. Either may be NULL.
 */
struct port_handlers {
	void (*readable)(struct softnetd *sd, struct port *p);
	void (*unblock)(struct softnetd *sd, struct port *p);
};
void port_set_handlers(struct softnetd *sd, const struct port_handlers *h);
/*
 * Stops reading p for ns nanoseconds (at least a microsecond): whatever
 * the VM sends meanwhile waits in its own queue or is dropped by its own
 * kernel. Counted in read_pauses; a dead port stays stopped.
 */
void port_pause(struct softnetd *sd, struct port *p, uint64_t ns);
/* Frees the registry; closes every port without releasing leases. */
void port_shutdown(struct softnetd *sd);

/*
 * Checks and prepares a VM descriptor (non-blocking, buffers, offloads)
 * and makes an unregistered port for it, with a fresh id and the default
 * policy. On failure *pp is NULL (for PORT_E_ATTACHED, the port that has
 * the socket) and fd stays the caller's; errno is kept for PORT_E_FLAGS
 * and PORT_E_OFFLOAD.
 */
enum port_err port_new(
    struct softnetd *sd, int fd, enum osdep_fd_kind kind, struct port **pp);
/* Frees a port port_new made that was never registered (fd not closed). */
void port_discard(struct port *p);
/* Enters p (its MAC set) in the registry and starts reading it. */
void port_register(struct softnetd *sd, struct port *p);
/*
 * Takes p out of the registry (the removed hook closes its exposed ports),
 * closes its fd and frees it; the lease database is not touched (vm_detach does
 * that).
 */
void port_remove(struct softnetd *sd, struct port *p);
/*
 * What the layer above (vm.c) does at three moments of a port's life, so
 * that the port layer never calls up: reap a dead port (port_remove when
 * NULL), release what a port holds as it leaves the registry (its exposed
 * ports), and follow a lease change (the bootpd mirror). Any may be NULL.
 */
typedef void port_hook_fn(struct softnetd *sd, struct port *p);
struct port_hooks {
	port_hook_fn *reap;
	port_hook_fn *removed;
	port_hook_fn *lease_changed;
};
void port_set_hooks(struct softnetd *sd, const struct port_hooks *h);

struct port *port_by_id(struct softnetd *sd, uint32_t id);
struct port *port_by_name(struct softnetd *sd, const char *name);
/*
 * Names are per owner (Security model, rule 4): two users may each have a
 * VM "web", and neither learns of the other's. This finds owner's.
 */
struct port *port_by_owner_name(
    struct softnetd *sd, int64_t owner, const char *name);
struct port *port_by_mac(struct softnetd *sd, const uint8_t mac[6]);
struct port *port_by_ip(struct softnetd *sd, uint32_t ip);
/* Finds by name, then MAC text, then decimal id. */
struct port *port_lookup(struct softnetd *sd, const char *ident);
struct port_list *port_all(struct softnetd *sd);
size_t port_count(struct softnetd *sd);
/*
 * Frames, bytes and drops of every port since the daemon started, the
 * detached ones' included (so the sums only grow): per-host totals that
 * name no VM. Other fields of *out are left zero.
 */
void port_totals(struct softnetd *sd, struct port_stats *out);

/* Sets or clears (ip 0) the port's lease, keeping the IP index right. */
void port_set_lease(
    struct softnetd *sd, struct port *p, uint32_t ip, int64_t expires);
/*
 * Reads up to n frames from the VM without blocking. Returns the count (0:
 * nothing pending); on a fatal error fails the port and returns 0. A frame
 * that did not fit its buffer comes back with len 0.
 */
struct frame;
int port_recv(struct softnetd *sd, struct port *p, struct frame *f, int n);
/*
 * Whether a frame sent to p now would be dropped without a system call (p
 * is dead, or full with no room left and no retry due): the switch then
 * skips the work of finishing the frame.
 */
bool port_blocked(const struct port *p);
/*
 * Whether p reads nothing: full, and retries have sent nothing for as long
 * as they back off (about 20 ms of traffic for it).
 */
bool port_hung(const struct port *p);
/*
 * Backlog memory of all VMs together, and how many frames were dropped
 * because their VM's uid already held its backlog share
 * (BACKLOG_USER_SHARE, 16 MiB) when the VM first needed a backlog.
 */
void port_backlog_totals(struct softnetd *sd, size_t *bytes, uint64_t *refused);
/* Frames waiting in p's backlog. */
unsigned port_backlog(const struct port *p);
/* Writes one frame to the VM; counts a drop when it cannot take it now. */
void port_send(
    struct softnetd *sd, struct port *p, const uint8_t *frame, size_t len);
/*
 * Writes one frame with its virtio-net header to a vnet port (p->vnet):
 * a GSO superframe goes through whole.
 */
void port_send_vnet(struct softnetd *sd, struct port *p, const uint8_t *frame,
    size_t len, const struct pkt_vnet *vnet);
/* Writes n plain frames (segments of one superframe) to the VM. */
void port_send_batch(struct softnetd *sd, struct port *p,
    uint8_t *const *frames, const size_t *lens, int n);
/*
 * Called when a vnet TAP port's frame made no sense (bad offload header,
 * wrong source MAC, runt): if the TAP's header size is no longer the one
 * set at attach, the port is failed.
 */
void port_vnet_anomaly(struct softnetd *sd, struct port *p);
/* Marks a port broken; it is detached from the event loop shortly. */
void port_fail(struct softnetd *sd, struct port *p, const char *why);
/* "attached" before a lease, "leased" after. */
const char *port_state(const struct port *p);

/* Reports an event about p (events_emit with p as its VM; issue #16). */
struct event_desc;
void port_event(struct softnetd *sd, struct port *p, struct event_desc *d);
/* Notes a frame of p dropped by its rate limit (events_rate_drop). */
void port_rate_drop(struct softnetd *sd, struct port *p);
/*
 * Pauses p (port_pause) because its tx bucket is empty: a rate-limit
 * episode too, though what it sends meanwhile is left unread, not counted.
 */
void port_rate_pause(struct softnetd *sd, struct port *p, uint64_t ns);

#endif
