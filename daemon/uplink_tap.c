/*
 * Theory of operation: the Linux uplink is a TAP device that softnetd
 * creates (non-persistent: it disappears with the daemon). The host side of
 * the TAP holds the gateway address, so the host kernel is the VMs' router;
 * NAT to the outside is the host's own nftables rule (see README). The TAP
 * carries a virtio-net header and has checksum and TCPv4 segmentation
 * offloads on, so the host kernel hands over (and takes) 64 KiB GSO
 * superframes instead of 1500-byte frames. Frames are read until EAGAIN,
 * up to the caller's batch, and written one writev(2) each (the TAP takes
 * one frame per call).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "osdep.h"
#include "pkt.h"
#include "uplink.h"
#include "xmalloc.h"

struct uplink {
	int fd;
};

/* Sets one IPv4 address-like ifreq field with ioctl req. */
static int
set_addr(int s, const char *name, unsigned long req, uint32_t addr)
{
	struct ifreq ifr;
	struct sockaddr_in sin;

	memset(&ifr, 0, sizeof(ifr));
	memset(&sin, 0, sizeof(sin));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(addr);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	return ioctl(s, req, &ifr);
}

/* Gives the device its address, MTU, queue length and MAC, and brings it up. */
static int
configure(const struct uplink_settings *set, struct uplink_params *p, char *err,
    size_t errlen)
{
	const char *name = set->name;
	struct ifreq ifr;
	int s;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (set_addr(s, name, SIOCSIFADDR, set->gateway) == -1 ||
	    set_addr(s, name, SIOCSIFNETMASK, set->netmask) == -1) {
		snprintf(err, errlen, "%s: setting address: %s", name,
		    strerror(errno));
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_mtu = (int)set->mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) == -1) {
		snprintf(err, errlen, "%s: setting MTU %u: %s", name, set->mtu,
		    strerror(errno));
		goto fail;
	}
	ifr.ifr_qlen = 10000;
	if (ioctl(s, SIOCSIFTXQLEN, &ifr) == -1) {
		snprintf(err, errlen, "%s: setting txqueuelen: %s", name,
		    strerror(errno));
		goto fail;
	}
	/*
	 * A MAC derived from the gateway address, the same after every
	 * restart: the VMs' ARP caches stay right across a daemon crash.
	 */
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data,
	    (const uint8_t[6]){0x02, 0x53, 0x4e, (uint8_t)(set->gateway >> 16),
	        (uint8_t)(set->gateway >> 8), (uint8_t)set->gateway},
	    6);
	if (ioctl(s, SIOCSIFHWADDR, &ifr) == -1) {
		snprintf(
		    err, errlen, "%s: setting MAC: %s", name, strerror(errno));
		goto fail;
	}
	if (ioctl(s, SIOCGIFHWADDR, &ifr) == -1) {
		snprintf(
		    err, errlen, "%s: reading MAC: %s", name, strerror(errno));
		goto fail;
	}
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		goto flags;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		goto flags;
	close(s);
	return 0;
flags:
	snprintf(err, errlen, "%s: bringing up: %s", name, strerror(errno));
fail:
	close(s);
	return -1;
}

struct uplink *
uplink_open(const struct uplink_settings *set, struct uplink_params *p,
    char *err, size_t errlen)
{
	struct uplink *u;
	int fd;

	memset(p, 0, sizeof(*p));
	if ((fd = osdep_tap_open_vnet(set->name)) == -1) {
		snprintf(err, errlen, "creating TAP %s: %s", set->name,
		    strerror(errno));
		return NULL;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
	    osdep_tap_offload(fd, set->offload) == -1) {
		snprintf(err, errlen, "%s: O_NONBLOCK/offloads: %s", set->name,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	if (configure(set, p, err, errlen) == -1) {
		close(fd);
		return NULL;
	}
	p->gateway = set->gateway;
	p->netmask = set->netmask;
	p->pool_start = set->pool_start;
	p->pool_end = set->pool_end;
	p->mtu = set->mtu;
	p->vnet = set->offload;
	p->max_frame = p->vnet ? PKT_MAX_FRAME /* GSO superframes */
	                       : PKT_ETH_HLEN + p->mtu;
	snprintf(p->name, sizeof(p->name), "%s", set->name);
	u = xcalloc(1, sizeof(*u));
	u->fd = fd;
	return u;
}

int
uplink_fd(const struct uplink *u)
{
	return u->fd;
}

int
uplink_read(struct uplink *u, struct frame *frames, int n)
{
	struct iovec iov[2];
	ssize_t r;
	int i;

	for (i = 0; i < n; i++) {
		iov[0].iov_base = &frames[i].vnet;
		iov[0].iov_len = sizeof(frames[i].vnet);
		iov[1].iov_base = frames[i].data;
		iov[1].iov_len = frames[i].cap;
		r = readv(u->fd, iov, 2);
		if (r == -1) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return i > 0 ? i : -1;
		}
		if ((size_t)r < sizeof(frames[i].vnet)) {
			i--; /* a runt without even a header: skip it */
			continue;
		}
		frames[i].len = (size_t)r - sizeof(frames[i].vnet);
	}
	return i;
}

int
uplink_write(struct uplink *u, const struct frame *frames, int n)
{
	struct iovec iov[2];
	int i, sent = 0;

	for (i = 0; i < n; i++) {
		iov[0].iov_base = (void *)&frames[i].vnet;
		iov[0].iov_len = sizeof(frames[i].vnet);
		iov[1].iov_base = frames[i].data;
		iov[1].iov_len = frames[i].len;
		if (writev(u->fd, iov, 2) >= 0)
			sent++;
		else if (errno != EAGAIN && errno != ENOBUFS && errno != EINVAL)
			return -1;
	}
	return sent;
}

/*
 * The block list is a classic BPF socket filter on the TAP's queue
 * (TUNATTACHFILTER): the kernel runs it in tun_net_xmit, before a frame is
 * queued for us, so a blocked VM's frames cost the host's forwarding path
 * (the sender) and not softnetd. Per MAC, four instructions: the low four
 * bytes of the destination, then the high two. Frames too short to hold a
 * destination fail the loads, which drops them (nothing to switch).
 */
int
uplink_block(struct uplink *u, const uint8_t (*macs)[6], size_t n)
{
	struct sock_filter prog[4 * UPLINK_BLOCK_MAX + 2];
	struct sock_fprog fp;
	size_t i, k = 0, drop = 4 * n + 1;
	uint32_t lo;
	uint16_t hi;

	if (n > UPLINK_BLOCK_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (n == 0) {
		/* ENOENT: there was no filter; that is the wanted state. */
		if (ioctl(u->fd, TUNDETACHFILTER, 0) == -1 && errno != ENOENT)
			return -1;
		return 0;
	}
	for (i = 0; i < n; i++) {
		lo = (uint32_t)macs[i][2] << 24 | (uint32_t)macs[i][3] << 16 |
		     (uint32_t)macs[i][4] << 8 | macs[i][5];
		hi = (uint16_t)(macs[i][0] << 8 | macs[i][1]);
		/* k: this MAC's first instruction; jumps count from k+1. */
		prog[k] =
		    (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2);
		prog[k + 1] = (struct sock_filter)BPF_JUMP(
		    BPF_JMP | BPF_JEQ | BPF_K, lo, 0, 2);
		prog[k + 2] =
		    (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0);
		prog[k + 3] =
		    (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi,
		        (uint8_t)(drop - (k + 4)), 0);
		k += 4;
	}
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	fp.len = (unsigned short)k;
	fp.filter = prog;
	return ioctl(u->fd, TUNATTACHFILTER, &fp);
}

void
uplink_close(struct uplink *u)
{
	if (u == NULL)
		return;
	close(u->fd);
	free(u);
}
