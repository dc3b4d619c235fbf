/*
 * Theory of operation: the macOS uplink is one vmnet.framework interface
 * (shared mode by default, host mode on request) that every VM's frames go
 * through, each VM keeping its own MAC behind it. vmnet calls back on a
 * dispatch queue when packets are available; the callback only writes a
 * byte to a pipe (once until the loop has read), whose read end is the
 * descriptor the libevent loop polls, so every frame is handled on the loop
 * thread. uplink_read asks vmnet for a batch and, whenever vmnet gave
 * anything, pokes the pipe so the loop comes back: reading ends only when
 * vmnet_read returns 0 packets. Apple's event is not promised to fire again
 * for packets that were already queued when it fired, so stopping at a
 * short batch could strand them (QEMU's net/vmnet-common.m reads until
 * vmnet_read gives 0 for the same reason).
 *
 * Starting: the interface gets the configured subnet every time (start,
 * end and mask, or on macOS 26 a vmnet_network with that subnet and no
 * bootpd), so softnet's VMs are on an L2 of their own, never on the one
 * vmnet's default subnet shares with other VMs that bootpd serves.
 * vmnet_start_interface can return NULL (usually with a failure status
 * still delivered to the handler, sometimes with none) or return an
 * interface whose handler never fires (reported by vmnet-helper and Lima
 * users), so each attempt waits VMNET_START_TIMEOUT at most and
 * softnetd exits with a clear message; launchd starts it again. Status
 * VMNET_FAILURE (1001) while root and VMNET_SETUP_INCOMPLETE are retried
 * with backoff (early boot under launchd); VMNET_FAILURE as non-root is
 * what vmnet answers a process without root, and VMNET_SHARING_SERVICE_BUSY
 * (1009, Internet Sharing is on) never goes away by waiting: both fail at
 * once.
 *
 * Frames: vmnet_write is all or nothing and refuses the whole call for a
 * packet larger than vmnet_max_packet_size, so such frames are dropped
 * (and counted) before a batch is built; batches never exceed the write
 * packet limit vmnet reports. Buffers offered to vmnet_read are exactly
 * max_packet_size.
 *
 * Death: vmnet reports statuses, not errno. A status other than success
 * is logged by name, at most once per VMNET_LOG_INTERVAL. When reads or
 * writes have failed for VMNET_DEAD_AFTER seconds with no success between,
 * the interface is gone (stopped under us, the sharing service restarted):
 * uplink_read then returns -1, the daemon exits 1 and launchd restarts it;
 * VMs re-attach through their softnet front ends.
 *
 * Lifetimes across threads: vmnet's handlers and callback run on the
 * dispatch queue and may run late (a start handler after the waiter gave
 * up; an event after the stop). Everything they touch is file-static
 * (there is one uplink per process) and guarded by a generation number or
 * an atomic descriptor, so a late block never writes freed memory or
 * another file's descriptor.
 *
 * Only this file knows about vmnet; its logic is kept thin so the rest of
 * the daemon is exercised by the Linux tests, and tests/fakes runs it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <dispatch/dispatch.h>
#include <vmnet/vmnet.h>
#include <xpc/xpc.h>

#include "addr.h"
#include "log.h"
#include "pkt.h"
#include "uplink.h"
#include "xmalloc.h"

/*
 * The macOS 26 network API (vmnet_network_configuration_create & co.) is
 * compiled where the SDK declares it; vmnet-helper keys on the same SDK
 * version. Called only when __builtin_available says the running system
 * has it: the symbols are weak-linked under an older deployment target.
 */
#if defined(__MAC_OS_X_VERSION_MAX_ALLOWED) &&                                 \
    __MAC_OS_X_VERSION_MAX_ALLOWED >= 260000
#define VMNET_NETWORK_API 1
#include <CoreFoundation/CoreFoundation.h>
#endif

#define VMNET_BATCH 64 /* packets per vmnet_read/vmnet_write, at most */
/* Apple's vmnet overview: up to 256 KiB per read or write call. */
#define VMNET_BATCH_BYTES   (256 * 1024)
#define VMNET_START_TRIES   8  /* 0.25 s doubling: about a minute in all */
#define VMNET_START_TIMEOUT 10 /* seconds one start may take */
#define VMNET_STOP_TIMEOUT  2  /* seconds the stop may take */
#define VMNET_NULL_WAIT     2  /* seconds for a status after a NULL start */
#define VMNET_DEAD_AFTER    3  /* seconds of nothing but failures */
#define VMNET_LOG_INTERVAL  10 /* seconds between repeats of a warning */

struct uplink {
	interface_ref iface;
	dispatch_queue_t queue;
	int pipe[2];       /* callback -> event loop */
	size_t max_pkt;    /* vmnet_max_packet_size */
	int read_max;      /* packets per vmnet_read */
	int write_max;     /* packets per vmnet_write */
	bool dead;         /* failed for good: reads return -1 */
	time_t fail_since; /* first failure with no success since; 0: none */
	time_t logged_at;  /* last rate-limited warning */
	unsigned long suppressed;    /* warnings not logged since */
	unsigned long oversize;      /* frames dropped: > max_packet_size */
	unsigned long oversize_seen; /* ... as of the last warning */
	struct vmpktdesc pkts[VMNET_BATCH];
	struct iovec iov[VMNET_BATCH];
};

/*
 * What the packets-available callback needs. Static: the callback may run
 * after uplink_close (vmnet can deliver an event after the stop); it then
 * finds fd -1 and does nothing.
 */
static struct {
	atomic_int fd;      /* pipe write end, -1 once closed */
	atomic_bool posted; /* a byte is in the pipe, not yet read */
} waker = {-1, false};

/*
 * One start attempt's outcome, filled by the start handler. Static for the
 * same reason: a handler that fires after the waiter gave up writes here,
 * sees a stale generation and leaves; the semaphore lives for the process.
 */
static struct {
	atomic_uint gen; /* the attempt being waited for */
	dispatch_semaphore_t done;
	vmnet_return_t status;
	struct uplink_params got;
	size_t read_max, write_max;
} start;

/* vmnet_return_t by name: vmnet returns statuses, not errno values. */
static const char *
status_name(vmnet_return_t st)
{
	switch ((int)st) {
	case VMNET_SUCCESS:
		return "VMNET_SUCCESS";
	case VMNET_FAILURE:
		return "VMNET_FAILURE (1001)";
	case VMNET_MEM_FAILURE:
		return "VMNET_MEM_FAILURE (1002)";
	case VMNET_INVALID_ARGUMENT:
		return "VMNET_INVALID_ARGUMENT (1003)";
	case VMNET_SETUP_INCOMPLETE:
		return "VMNET_SETUP_INCOMPLETE (1004)";
	case VMNET_INVALID_ACCESS:
		return "VMNET_INVALID_ACCESS (1005)";
	case VMNET_PACKET_TOO_BIG:
		return "VMNET_PACKET_TOO_BIG (1006)";
	case VMNET_BUFFER_EXHAUSTED:
		return "VMNET_BUFFER_EXHAUSTED (1007)";
	case VMNET_TOO_MANY_PACKETS:
		return "VMNET_TOO_MANY_PACKETS (1008)";
	case VMNET_SHARING_SERVICE_BUSY:
		return "VMNET_SHARING_SERVICE_BUSY (1009)";
	case VMNET_NOT_AUTHORIZED:
		return "VMNET_NOT_AUTHORIZED (1010)";
	default:
		return "unknown vmnet status";
	}
}

/* Copies what the start handler's dictionary says; it is freed after. */
static void
take_params(xpc_object_t param)
{
	struct uplink_params *p = &start.got;
	const char *v;

	memset(p, 0, sizeof(*p));
	p->mtu = (unsigned)xpc_dictionary_get_uint64(param, vmnet_mtu_key);
	p->max_frame =
	    (size_t)xpc_dictionary_get_uint64(param, vmnet_max_packet_size_key);
	start.read_max = (size_t)xpc_dictionary_get_uint64(
	    param, vmnet_read_max_packets_key);
	start.write_max = (size_t)xpc_dictionary_get_uint64(
	    param, vmnet_write_max_packets_key);
	if ((v = xpc_dictionary_get_string(param, vmnet_start_address_key)) !=
	    NULL)
		(void)addr_parse_ipv4(v, &p->gateway);
	if ((v = xpc_dictionary_get_string(param, vmnet_end_address_key)) !=
	    NULL)
		(void)addr_parse_ipv4(v, &p->pool_end);
	if ((v = xpc_dictionary_get_string(param, vmnet_subnet_mask_key)) !=
	    NULL)
		(void)addr_parse_ipv4(v, &p->netmask);
	/* The MAC vmnet expects the VM behind this interface to use. */
	if ((v = xpc_dictionary_get_string(param, vmnet_mac_address_key)) !=
	    NULL)
		(void)addr_parse_mac(v, p->vm_mac);
}

#ifdef VMNET_NETWORK_API
/*
 * macOS 26: a network of our own with the configured subnet and vmnet's
 * DHCP server (bootpd) off, so no bootpd answers on softnet's subnet at
 * all. vmnet reserves the subnet's first, second (the host) and last
 * addresses (Apple: vmnet_network_configuration_set_ipv4_subnet), so this
 * applies only when the gateway is the subnet's second address. NULL when
 * it does not apply or fails; the caller then starts the classic way.
 */
static vmnet_network_ref
make_network(const struct uplink_settings *set)
{
	vmnet_network_configuration_ref conf;
	vmnet_network_ref net = NULL;
	vmnet_return_t st = VMNET_FAILURE;
	struct in_addr sub, mask;
	uint32_t m = set->netmask;

	if (set->gateway != (set->gateway & m) + 1)
		return NULL;
	if (__builtin_available(macOS 26.0, *)) {
		conf = vmnet_network_configuration_create(
		    set->host_mode ? VMNET_HOST_MODE : VMNET_SHARED_MODE, &st);
		if (conf == NULL) {
			log_warnx("vmnet_network_configuration_create: %s",
			    status_name(st));
			return NULL;
		}
		sub.s_addr = htonl(set->gateway & m);
		mask.s_addr = htonl(m);
		if ((st = vmnet_network_configuration_set_ipv4_subnet(
		         conf, &sub, &mask)) != VMNET_SUCCESS)
			log_warnx("vmnet_network_configuration_set_ipv4_"
			          "subnet: %s",
			    status_name(st));
		else {
			vmnet_network_configuration_disable_dhcp(conf);
			if ((net = vmnet_network_create(conf, &st)) == NULL)
				log_warnx("vmnet_network_create: %s",
				    status_name(st));
		}
		CFRelease(conf);
	}
	return net;
}
#endif

/*
 * Starts the interface once, waiting VMNET_START_TIMEOUT at most. The
 * interface, or NULL with *status (VMNET_SUCCESS with NULL: no answer).
 */
static interface_ref
start_once(xpc_object_t desc, void *network, dispatch_queue_t q,
    vmnet_return_t *status, bool *hung)
{
	unsigned gen = atomic_fetch_add(&start.gen, 1) + 1;
	interface_ref iface = NULL;
	/* Records the outcome and wakes the waiter, unless it gave up. */
	vmnet_start_interface_completion_handler_t handler =
	    ^(vmnet_return_t s, xpc_object_t param) {
	      if (atomic_load(&start.gen) != gen)
		      return;
	      start.status = s;
	      if (s == VMNET_SUCCESS && param != NULL)
		      take_params(param);
	      dispatch_semaphore_signal(start.done);
	    };

	*hung = false;
	start.status = VMNET_FAILURE;
	if (start.done == NULL)
		start.done = dispatch_semaphore_create(0);
#ifdef VMNET_NETWORK_API
	if (network != NULL) {
		if (__builtin_available(macOS 26.0, *))
			iface = vmnet_interface_start_with_network(
			    network, desc, q, handler);
	} else
#endif
	{
		(void)network;
		iface = vmnet_start_interface(desc, q, handler);
	}
	if (iface == NULL) {
		/*
		 * A refusal returns NULL and usually still calls the handler
		 * with the status (socket_vmnet and QEMU wait for it); with
		 * none soon, vmnet refused the call itself.
		 */
		if (dispatch_semaphore_wait(start.done,
		        dispatch_time(DISPATCH_TIME_NOW,
		            (int64_t)VMNET_NULL_WAIT * NSEC_PER_SEC)) == 0) {
			*status = start.status;
			return NULL;
		}
		atomic_fetch_add(&start.gen, 1);
		*status = VMNET_FAILURE;
		*hung = true;
		return NULL;
	}
	if (dispatch_semaphore_wait(start.done,
	        dispatch_time(DISPATCH_TIME_NOW,
	            (int64_t)VMNET_START_TIMEOUT * NSEC_PER_SEC)) != 0) {
		/* A late handler finds a newer generation and leaves. */
		atomic_fetch_add(&start.gen, 1);
		*status = VMNET_SUCCESS;
		*hung = true;
		return NULL;
	}
	*status = start.status;
	return start.status == VMNET_SUCCESS ? iface : NULL;
}

/* Whether a failed start is worth another try (see the top comment). */
static bool
start_retryable(vmnet_return_t st)
{
	if (st == VMNET_SETUP_INCOMPLETE)
		return true;
	return st == VMNET_FAILURE && geteuid() == 0;
}

/* The message for a start that failed with st. */
static void
start_error(vmnet_return_t st, char *err, size_t errlen)
{
	const char *why = "";

	if (st == VMNET_FAILURE && geteuid() != 0)
		why = " (softnetd must run as root to start a vmnet interface)";
	else if (st == VMNET_SHARING_SERVICE_BUSY)
		why = " (Internet Sharing is on: vmnet cannot start while it "
		      "is; turn it off in System Settings > General > "
		      "Sharing)";
	else if (st == VMNET_INVALID_ACCESS || st == VMNET_NOT_AUTHORIZED)
		why = " (not permitted to use vmnet)";
	snprintf(err, errlen, "vmnet_start_interface failed: %s%s",
	    status_name(st), why);
}

/* Fills the start description: mode, the pinned subnet, isolation. */
static xpc_object_t
make_desc(const struct uplink_settings *set, bool with_network)
{
	char start_a[ADDR_IPV4_STRLEN], end_a[ADDR_IPV4_STRLEN];
	char mask_a[ADDR_IPV4_STRLEN];
	xpc_object_t desc = xpc_dictionary_create(NULL, NULL, 0);

	/*
	 * Isolation marks the interface private on vmnet's bridge (if_bridge
	 * IFBIF_PRIVATE, as the original Softnet sets it; cirruslabs/softnet
	 * issue 37): no frames with another isolated vmnet interface there.
	 * softnetd switches between its VMs itself and needs only the host,
	 * so this costs nothing and keeps other VM tools' isolated
	 * interfaces away from softnet's VMs even on a shared subnet.
	 */
	xpc_dictionary_set_bool(desc, vmnet_enable_isolation_key, true);
	if (with_network)
		return desc; /* mode and subnet come with the network */
	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key,
	    set->host_mode ? VMNET_HOST_MODE : VMNET_SHARED_MODE);
	/* vmnet's start address is the gateway (the host) itself. */
	addr_format_ipv4(set->gateway, start_a);
	addr_format_ipv4(set->pool_end, end_a);
	addr_format_ipv4(set->netmask, mask_a);
	xpc_dictionary_set_string(desc, vmnet_start_address_key, start_a);
	xpc_dictionary_set_string(desc, vmnet_end_address_key, end_a);
	xpc_dictionary_set_string(desc, vmnet_subnet_mask_key, mask_a);
	return desc;
}

/* Starts the interface with retries; 0, or -1 with a message in err. */
static int
start_iface(struct uplink *u, const struct uplink_settings *set, char *err,
    size_t errlen)
{
	void *network = NULL;
	vmnet_return_t st = VMNET_FAILURE;
	xpc_object_t desc;
	useconds_t delay = 250000;
	bool hung = false;
	int i;

#ifdef VMNET_NETWORK_API
	network = make_network(set);
#endif
	desc = make_desc(set, network != NULL);
	for (i = 0; i < VMNET_START_TRIES; i++) {
		if ((u->iface = start_once(
		         desc, network, u->queue, &st, &hung)) != NULL ||
		    hung || !start_retryable(st))
			break;
		log_warnx("vmnet_start_interface: %s; retrying in %u ms",
		    status_name(st), (unsigned)(delay / 1000));
		usleep(delay);
		delay *= 2;
	}
	xpc_release(desc);
#ifdef VMNET_NETWORK_API
	/* The interface keeps the network; our reference can go. */
	if (network != NULL)
		CFRelease(network);
#endif
	if (u->iface != NULL)
		return 0;
	if (hung && st == VMNET_SUCCESS)
		snprintf(err, errlen,
		    "vmnet_start_interface: no answer within %d s (vmnet "
		    "hung; exiting so that launchd starts softnetd again)",
		    VMNET_START_TIMEOUT);
	else if (hung)
		snprintf(err, errlen,
		    "vmnet_start_interface returned no interface (vmnet "
		    "refused the parameters or the caller)");
	else
		start_error(st, err, errlen);
	return -1;
}

/* The packets-available callback: one byte until the loop has read. */
static void
on_event(interface_event_t ev, xpc_object_t info)
{
	int fd = atomic_load(&waker.fd);

	(void)ev;
	(void)info;
	if (fd != -1 && !atomic_exchange(&waker.posted, true))
		(void)!write(fd, "", 1);
}

struct uplink *
uplink_open(const struct uplink_settings *set, struct uplink_params *p,
    char *err, size_t errlen)
{
	struct uplink *u = xcalloc(1, sizeof(*u));

	u->pipe[0] = u->pipe[1] = -1;
	if (pipe(u->pipe) == -1 ||
	    fcntl(u->pipe[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(u->pipe[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(u->pipe[0], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(u->pipe[1], F_SETFD, FD_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	u->queue =
	    dispatch_queue_create("org.softnet.vmnet", DISPATCH_QUEUE_SERIAL);
	if (start_iface(u, set, err, errlen) == -1)
		goto fail;

	*p = start.got;
	/* The subnet is ours (always given); vmnet echoes it back. */
	p->gateway = set->gateway;
	p->netmask = set->netmask;
	p->pool_start = set->pool_start;
	p->pool_end = set->pool_end;
	if (p->mtu == 0)
		p->mtu = set->mtu;
	if (p->max_frame < PKT_ETH_HLEN || p->max_frame > PKT_MAX_FRAME)
		p->max_frame = PKT_ETH_HLEN + p->mtu;
	u->max_pkt = p->max_frame;
	u->read_max = start.read_max > 0 && start.read_max < VMNET_BATCH
	                  ? (int)start.read_max
	                  : VMNET_BATCH;
	u->write_max = start.write_max > 0 && start.write_max < VMNET_BATCH
	                   ? (int)start.write_max
	                   : VMNET_BATCH;
	/*
	 * The daemon's own frames (DHCP replies to VMs) need a source MAC of
	 * the daemon's. vmnet_mac_address_key is the MAC vmnet allocated for
	 * the VM side, not the host's, and the host bridge's MAC is not
	 * given: use a locally administered MAC derived from vmnet's (the
	 * U/L bit set, the low bit of the last byte flipped), unique to this
	 * interface and distinct from the one vmnet expects a VM to use.
	 */
	memcpy(p->mac, p->vm_mac, sizeof(p->mac));
	p->mac[0] = (uint8_t)((p->mac[0] | 0x02) & ~0x01);
	p->mac[5] ^= 0x01;
	snprintf(p->name, sizeof(p->name), "vmnet-%s",
	    set->host_mode ? "host" : "shared");

	atomic_store(&waker.posted, false);
	atomic_store(&waker.fd, u->pipe[1]);
	if (vmnet_interface_set_event_callback(u->iface,
	        VMNET_INTERFACE_PACKETS_AVAILABLE, u->queue,
	        ^(interface_event_t ev, xpc_object_t info) {
		  on_event(ev, info);
	        }) != VMNET_SUCCESS) {
		snprintf(
		    err, errlen, "vmnet_interface_set_event_callback failed");
		goto fail;
	}
	/* Packets may have queued before the callback was set. */
	(void)!write(u->pipe[1], "", 1);
	return u;
fail:
	uplink_close(u);
	return NULL;
}

int
uplink_fd(const struct uplink *u)
{
	return u->pipe[0];
}

/*
 * Logs a warning at most once per VMNET_LOG_INTERVAL (a failing uplink
 * fails for every batch), saying how many were left out.
 */
static void
warn_limited(struct uplink *u, const char *what, vmnet_return_t st)
{
	time_t now = time(NULL);

	if (u->logged_at != 0 && now - u->logged_at < VMNET_LOG_INTERVAL) {
		u->suppressed++;
		return;
	}
	if (u->suppressed > 0)
		log_warnx("%s: %s (%lu more uplink warnings since the last)",
		    what, status_name(st), u->suppressed);
	else
		log_warnx("%s: %s", what, status_name(st));
	u->logged_at = now;
	u->suppressed = 0;
}

/*
 * Records a failed call: the uplink is dead once calls have failed for
 * VMNET_DEAD_AFTER seconds with no success between. A stopped or vanished
 * interface fails every call from then on.
 */
static void
failed(struct uplink *u, const char *what, vmnet_return_t st)
{
	time_t now = time(NULL);

	warn_limited(u, what, st);
	if (u->fail_since == 0)
		u->fail_since = now;
	if (!u->dead && now - u->fail_since >= VMNET_DEAD_AFTER) {
		u->dead = true;
		log_warnx("vmnet uplink failing since %lld s (%s): it is "
		          "gone; exiting for launchd to restart softnetd",
		    (long long)(now - u->fail_since), status_name(st));
		/* Wake the loop: the next read reports the death. */
		(void)!write(u->pipe[1], "", 1);
	}
}

int
uplink_read(struct uplink *u, struct frame *frames, int n)
{
	char drain[64];
	size_t len;
	int i, cnt;

	/*
	 * Empty the pipe first, then clear the flag: cleared first, an event
	 * between the two would post a byte that the drain swallows while
	 * leaving the flag set, and no event would ever write again.
	 */
	while (read(u->pipe[0], drain, sizeof(drain)) > 0)
		;
	atomic_store(&waker.posted, false);
	if (u->dead)
		return -1;
	if (n > u->read_max)
		n = u->read_max;
	for (i = 0; i < n; i++) {
		len = frames[i].cap < u->max_pkt ? frames[i].cap : u->max_pkt;
		u->iov[i].iov_base = frames[i].data;
		u->iov[i].iov_len = len;
		u->pkts[i].vm_pkt_iov = &u->iov[i];
		u->pkts[i].vm_pkt_iovcnt = 1;
		u->pkts[i].vm_pkt_size = len;
		u->pkts[i].vm_flags = 0;
	}
	cnt = n;
	if ((i = vmnet_read(u->iface, u->pkts, &cnt)) != VMNET_SUCCESS) {
		failed(u, "vmnet_read", (vmnet_return_t)i);
		return u->dead ? -1 : 0;
	}
	u->fail_since = 0;
	if (cnt < 0 || cnt > n)
		cnt = 0;
	for (i = 0; i < cnt; i++)
		frames[i].len = u->pkts[i].vm_pkt_size <= frames[i].cap
		                    ? u->pkts[i].vm_pkt_size
		                    : 0;
	/* Come back until vmnet_read says 0: nothing may be stranded. */
	if (cnt > 0)
		(void)!write(u->pipe[1], "", 1);
	return cnt;
}

/* Writes frames[0..n) (all fit vmnet) in one call: the count accepted. */
static int
write_batch(struct uplink *u, const struct frame *const *f, int n)
{
	vmnet_return_t st;
	int i, cnt = n;

	for (i = 0; i < n; i++) {
		u->iov[i].iov_base = f[i]->data;
		u->iov[i].iov_len = f[i]->len;
		u->pkts[i].vm_pkt_iov = &u->iov[i];
		u->pkts[i].vm_pkt_iovcnt = 1;
		u->pkts[i].vm_pkt_size = f[i]->len;
		u->pkts[i].vm_flags = 0;
	}
	if ((st = vmnet_write(u->iface, u->pkts, &cnt)) != VMNET_SUCCESS) {
		failed(u, "vmnet_write", st);
		return 0;
	}
	u->fail_since = 0;
	return cnt < 0 || cnt > n ? 0 : cnt;
}

int
uplink_write(struct uplink *u, const struct frame *frames, int n)
{
	const struct frame *batch[VMNET_BATCH];
	size_t bytes = 0;
	int i, k = 0, done = 0;

	if (u->dead)
		return 0; /* the loop is about to stop; dropped */
	for (i = 0; i < n; i++) {
		/* One refused packet fails vmnet_write's whole call. */
		if (frames[i].len < PKT_ETH_HLEN ||
		    frames[i].len > u->max_pkt) {
			u->oversize++;
			continue;
		}
		if (k == u->write_max ||
		    (k > 0 && bytes + frames[i].len > VMNET_BATCH_BYTES)) {
			done += write_batch(u, batch, k);
			k = 0;
			bytes = 0;
		}
		batch[k++] = &frames[i];
		bytes += frames[i].len;
	}
	if (k > 0)
		done += write_batch(u, batch, k);
	if (u->oversize != u->oversize_seen) {
		if (u->logged_at == 0 ||
		    time(NULL) - u->logged_at >= VMNET_LOG_INTERVAL) {
			log_warnx("vmnet: dropped %lu frames larger than "
			          "max_packet_size %zu (or runts) so far",
			    u->oversize, u->max_pkt);
			u->logged_at = time(NULL);
			u->oversize_seen = u->oversize;
		}
	}
	return done;
}

/*
 * vmnet offers no filter ahead of vmnet_read: frames for a VM that reads
 * nothing are read and dropped by the switch.
 */
int
uplink_block(struct uplink *u, const uint8_t (*macs)[6], size_t n)
{
	(void)u;
	(void)macs;
	(void)n;
	errno = ENOTSUP;
	return -1;
}

/*
 * Waits for every block queued on q so far (the callback included) to
 * have run, at most VMNET_STOP_TIMEOUT; false if they did not.
 */
static bool
drain_queue(dispatch_queue_t q)
{
	dispatch_semaphore_t s = dispatch_semaphore_create(0);
	bool ok;

	/* Retained for the block, which may run after we stop waiting. */
	dispatch_retain(s);
	dispatch_async(q, ^{
	  dispatch_semaphore_signal(s);
	  dispatch_release(s);
	});
	ok = dispatch_semaphore_wait(
	         s, dispatch_time(DISPATCH_TIME_NOW,
	                (int64_t)VMNET_STOP_TIMEOUT * NSEC_PER_SEC)) == 0;
	dispatch_release(s);
	return ok;
}

void
uplink_close(struct uplink *u)
{
	dispatch_semaphore_t done;
	bool stopped = false;

	if (u == NULL)
		return;
	if (u->iface != NULL) {
		/* No callback into a closed pipe: clear it, then stop. */
		(void)vmnet_interface_set_event_callback(
		    u->iface, VMNET_INTERFACE_PACKETS_AVAILABLE, NULL, NULL);
		atomic_store(&waker.fd, -1);
		done = dispatch_semaphore_create(0);
		dispatch_retain(done); /* the handler's, released by it */
		if (vmnet_stop_interface(
		        u->iface, u->queue, ^(vmnet_return_t st) {
			  (void)st;
			  dispatch_semaphore_signal(done);
			  dispatch_release(done);
		        }) == VMNET_SUCCESS)
			stopped = dispatch_semaphore_wait(
			              done, dispatch_time(DISPATCH_TIME_NOW,
			                        (int64_t)VMNET_STOP_TIMEOUT *
			                            NSEC_PER_SEC)) == 0;
		else
			dispatch_release(done); /* the handler will not run */
		dispatch_release(done);
		if (!stopped)
			log_warnx("vmnet_stop_interface: no answer within "
			          "%d s; exiting anyway",
			    VMNET_STOP_TIMEOUT);
	}
	atomic_store(&waker.fd, -1);
	/* A callback already running must be done with the pipe. */
	if (u->queue != NULL && !drain_queue(u->queue))
		log_warnx("vmnet queue busy at close");
	if (u->pipe[0] != -1)
		close(u->pipe[0]);
	if (u->pipe[1] != -1)
		close(u->pipe[1]);
	if (u->queue != NULL)
		dispatch_release(u->queue);
	free(u);
}
