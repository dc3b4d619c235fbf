/*
 * Theory of operation: the macOS uplink is one vmnet.framework interface
 * (shared mode by default, host mode on request) that every VM's frames go
 * through, each VM keeping its own MAC behind it. vmnet calls back on a
 * dispatch queue when packets are available; the callback only writes a
 * byte to a pipe, whose read end is the descriptor the libevent loop polls,
 * so every frame is handled on the loop thread. uplink_read drains the pipe
 * and calls vmnet_read with a preallocated batch; when the batch came back
 * full it pokes the pipe again so the loop returns for the rest.
 *
 * vmnet_start_interface fails while the host's sharing service is not up
 * yet (early boot under launchd), so it is retried with backoff. The
 * gateway is the start address vmnet reports; VMs get the addresses after
 * it. Only this file knows about vmnet; its logic is kept thin so the rest
 * of the daemon is exercised by the Linux tests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <dispatch/dispatch.h>
#include <vmnet/vmnet.h>
#include <xpc/xpc.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "pkt.h"
#include "uplink.h"
#include "xmalloc.h"

#define VMNET_BATCH       64 /* descriptors per vmnet_read/vmnet_write */
#define VMNET_START_TRIES 8  /* 0.25 s doubling: about a minute in all */

struct uplink {
	interface_ref iface;
	dispatch_queue_t queue;
	int pipe[2]; /* callback -> event loop */
	struct vmpktdesc pkts[VMNET_BATCH];
	struct iovec iov[VMNET_BATCH];
};

/* Starts the interface once; status and parameters come from the block. */
static interface_ref
start_once(xpc_object_t desc, dispatch_queue_t q, vmnet_return_t *status,
    struct uplink_params *p)
{
	dispatch_semaphore_t done = dispatch_semaphore_create(0);
	__block vmnet_return_t st = VMNET_FAILURE;
	__block struct uplink_params got;
	interface_ref iface;

	memset(&got, 0, sizeof(got));
	iface = vmnet_start_interface(
	    desc, q, ^(vmnet_return_t s, xpc_object_t param) {
	      const char *v;

	      st = s;
	      if (s == VMNET_SUCCESS) {
		      got.mtu = (unsigned)xpc_dictionary_get_uint64(
			  param, vmnet_mtu_key);
		      got.max_frame = (size_t)xpc_dictionary_get_uint64(
			  param, vmnet_max_packet_size_key);
		      if ((v = xpc_dictionary_get_string(
			       param, vmnet_start_address_key)) != NULL)
			      (void)addr_parse_ipv4(v, &got.gateway);
		      if ((v = xpc_dictionary_get_string(
			       param, vmnet_end_address_key)) != NULL)
			      (void)addr_parse_ipv4(v, &got.pool_end);
		      if ((v = xpc_dictionary_get_string(
			       param, vmnet_subnet_mask_key)) != NULL)
			      (void)addr_parse_ipv4(v, &got.netmask);
		      if ((v = xpc_dictionary_get_string(
			       param, vmnet_mac_address_key)) != NULL)
			      (void)addr_parse_mac(v, got.mac);
	      }
	      dispatch_semaphore_signal(done);
	    });
	dispatch_semaphore_wait(done, DISPATCH_TIME_FOREVER);
	dispatch_release(done);
	*status = st;
	*p = got;
	return st == VMNET_SUCCESS ? iface : NULL;
}

struct uplink *
uplink_open(
    const struct config *cfg, struct uplink_params *p, char *err, size_t errlen)
{
	char start[ADDR_IPV4_STRLEN], end[ADDR_IPV4_STRLEN];
	char mask[ADDR_IPV4_STRLEN];
	struct uplink *u = xcalloc(1, sizeof(*u));
	vmnet_return_t st = VMNET_FAILURE;
	xpc_object_t desc;
	useconds_t delay = 250000;
	int i;

	u->pipe[0] = u->pipe[1] = -1;
	if (pipe(u->pipe) == -1 ||
	    fcntl(u->pipe[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(u->pipe[1], F_SETFL, O_NONBLOCK) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	u->queue =
	    dispatch_queue_create("org.softnet.vmnet", DISPATCH_QUEUE_SERIAL);
	desc = xpc_dictionary_create(NULL, NULL, 0);
	xpc_dictionary_set_uint64(desc, vmnet_operation_mode_key,
	    cfg->uplink.mode == UPLINK_MODE_HOST ? VMNET_HOST_MODE
	                                         : VMNET_SHARED_MODE);
	if (cfg->uplink.have_addrs) {
		/* vmnet's start address is the gateway itself. */
		addr_format_ipv4(cfg->uplink.gateway, start);
		addr_format_ipv4(cfg->uplink.pool_end, end);
		addr_format_ipv4(cfg->uplink.netmask, mask);
		xpc_dictionary_set_string(desc, vmnet_start_address_key, start);
		xpc_dictionary_set_string(desc, vmnet_end_address_key, end);
		xpc_dictionary_set_string(desc, vmnet_subnet_mask_key, mask);
	}
	for (i = 0; i < VMNET_START_TRIES; i++) {
		if ((u->iface = start_once(desc, u->queue, &st, p)) != NULL)
			break;
		if (st != VMNET_FAILURE && st != VMNET_SHARING_SERVICE_BUSY &&
		    st != VMNET_SETUP_INCOMPLETE)
			break;
		log_warnx(
		    "vmnet_start_interface: status %d; retrying", (int)st);
		usleep(delay);
		delay *= 2;
	}
	xpc_release(desc);
	if (u->iface == NULL) {
		snprintf(err, errlen,
		    "vmnet_start_interface failed with status %d%s", (int)st,
		    st == VMNET_INVALID_ACCESS ? " (softnetd must run as root)"
		                               : "");
		goto fail;
	}
	if (cfg->uplink.have_addrs) {
		p->pool_start = cfg->uplink.pool_start;
		p->pool_end = cfg->uplink.pool_end;
	} else {
		p->pool_start = p->gateway + 1;
	}
	if (p->max_frame == 0 || p->max_frame > PKT_MAX_FRAME)
		p->max_frame = PKT_ETH_HLEN + p->mtu;
	snprintf(p->name, sizeof(p->name), "vmnet-%s",
	    cfg->uplink.mode == UPLINK_MODE_HOST ? "host" : "shared");

	if (vmnet_interface_set_event_callback(u->iface,
	        VMNET_INTERFACE_PACKETS_AVAILABLE, u->queue,
	        ^(interface_event_t ev, xpc_object_t info) {
		  (void)ev;
		  (void)info;
		  (void)!write(u->pipe[1], "", 1);
	        }) != VMNET_SUCCESS) {
		snprintf(err, errlen,
		    "vmnet_interface_set_event_callback "
		    "failed");
		goto fail;
	}
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

/* Points the batch descriptors at the caller's frames. */
static void
load_batch(struct uplink *u, const struct frame *frames, int n, bool out)
{
	int i;

	for (i = 0; i < n; i++) {
		u->iov[i].iov_base = frames[i].data;
		u->iov[i].iov_len = out ? frames[i].len : frames[i].cap;
		u->pkts[i].vm_pkt_iov = &u->iov[i];
		u->pkts[i].vm_pkt_iovcnt = 1;
		u->pkts[i].vm_pkt_size = u->iov[i].iov_len;
		u->pkts[i].vm_flags = 0;
	}
}

int
uplink_read(struct uplink *u, struct frame *frames, int n)
{
	char drain[64];
	int i, cnt;

	while (read(u->pipe[0], drain, sizeof(drain)) > 0)
		;
	if (n > VMNET_BATCH)
		n = VMNET_BATCH;
	load_batch(u, frames, n, false);
	cnt = n;
	if (vmnet_read(u->iface, u->pkts, &cnt) != VMNET_SUCCESS)
		return -1;
	for (i = 0; i < cnt; i++)
		frames[i].len = u->pkts[i].vm_pkt_size;
	/* A full batch may have left more behind: come back for it. */
	if (cnt == n)
		(void)!write(u->pipe[1], "", 1);
	return cnt;
}

int
uplink_write(struct uplink *u, const struct frame *frames, int n)
{
	int cnt, done = 0;

	while (done < n) {
		cnt = n - done < VMNET_BATCH ? n - done : VMNET_BATCH;
		load_batch(u, frames + done, cnt, true);
		if (vmnet_write(u->iface, u->pkts, &cnt) != VMNET_SUCCESS)
			return done > 0 ? done : -1;
		if (cnt == 0)
			break;
		done += cnt;
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

void
uplink_close(struct uplink *u)
{
	dispatch_semaphore_t done;

	if (u == NULL)
		return;
	if (u->iface != NULL) {
		done = dispatch_semaphore_create(0);
		if (vmnet_stop_interface(
		        u->iface, u->queue, ^(vmnet_return_t st) {
			  (void)st;
			  dispatch_semaphore_signal(done);
		        }) == VMNET_SUCCESS)
			dispatch_semaphore_wait(done, DISPATCH_TIME_FOREVER);
		dispatch_release(done);
	}
	if (u->pipe[0] != -1)
		close(u->pipe[0]);
	if (u->pipe[1] != -1)
		close(u->pipe[1]);
	if (u->queue != NULL)
		dispatch_release(u->queue);
	free(u);
}
