/*
 * Theory of operation: a fake vmnet.framework whose interface is a Linux
 * TAP device in the calling process's network namespace. The TAP carries
 * the start address and mask and is up, as the host's side of vmnet's
 * bridge (bridge100) carries them on a Mac: frames vmnet_write accepts are
 * written to the TAP, so the host kernel receives them from "the VMs";
 * frames the kernel sends out of the TAP are queued (4096 at most) and are
 * what vmnet_read returns. One reader thread per interface moves frames
 * from the TAP to the queue and fires the packets-available callback on
 * the caller's dispatch queue with the cadence the test chose.
 *
 * Behaviour follows Apple's vmnet.h documentation and what its users rely
 * on (QEMU net/vmnet-common.m, lima-vm/socket_vmnet, nirs/vmnet-helper,
 * cirruslabs/softnet's Rust vmnet crate):
 * - vmnet_start_interface completes asynchronously: the handler runs on
 *   the queue passed in, with a parameter dictionary valid only while the
 *   handler runs (vmnet.h: "interface_param ... the dictionary is released
 *   after the handler returns"; QEMU copies what it needs inside the
 *   block). Here it is freed at once, so ASan catches a kept pointer.
 *   On failure the handler gets the status and a NULL dictionary, and the
 *   call returns NULL. Reported in the wild (vmnet-helper and lima issues):
 *   the call returning NULL without ever calling the handler, and the
 *   handler never firing; both are knobs (FAKE_VMNET_START).
 * - vmnet_read: *pktcnt in, at most vmnet_read_max_packets (256) else
 *   VMNET_TOO_MANY_PACKETS; out the number read, 0 when none is queued;
 *   vm_pkt_size in is the buffer size, out the packet size.
 * - vmnet_write is all or nothing: *pktcnt at most vmnet_write_max_packets
 *   (256), each packet one iovec of exactly vm_pkt_size bytes between 14
 *   and vmnet_max_packet_size (1514 unless TSO is enabled): any breach and
 *   nothing is sent (VMNET_PACKET_TOO_BIG for a size).
 * - After vmnet_stop_interface (or an injected death) read and write fail
 *   with VMNET_FAILURE. The interface memory is never freed, so a late
 *   call fails cleanly instead of being a use after free in the fake.
 * Every knob and trace counter is documented in tests/fakes/README.md.
 */
#include <Block.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vmnet/vmnet.h>

const char *const vmnet_operation_mode_key = "vmnet_operation_mode";
const char *const vmnet_shared_interface_name_key =
    "vmnet_shared_interface_name";
const char *const vmnet_interface_id_key = "vmnet_interface_id";
const char *const vmnet_allocate_mac_address_key = "vmnet_allocate_mac_address";
const char *const vmnet_enable_isolation_key = "vmnet_enable_isolation";
const char *const vmnet_enable_tso_key = "vmnet_enable_tso";
const char *const vmnet_enable_checksum_offload_key =
    "vmnet_enable_checksum_offload";
const char *const vmnet_nat66_prefix_key = "vmnet_nat66_prefix";
const char *const vmnet_host_ip_address_key = "vmnet_host_ip_address";
const char *const vmnet_host_subnet_mask_key = "vmnet_host_subnet_mask";
const char *const vmnet_mac_address_key = "vmnet_mac_address";
const char *const vmnet_mtu_key = "vmnet_mtu";
const char *const vmnet_max_packet_size_key = "vmnet_max_packet_size";
const char *const vmnet_start_address_key = "vmnet_start_address";
const char *const vmnet_end_address_key = "vmnet_end_address";
const char *const vmnet_subnet_mask_key = "vmnet_subnet_mask";
const char *const vmnet_read_max_packets_key = "vmnet_read_max_packets";
const char *const vmnet_write_max_packets_key = "vmnet_write_max_packets";
const char *const vmnet_estimated_packets_available_key =
    "vmnet_estimated_packets_available";

#define MAX_PACKETS 256  /* vmnet_read/write_max_packets */
#define QUEUE_LEN   4096 /* frames waiting for vmnet_read */
#define SLOT        2048 /* bytes per queued frame (TAP MTU + 14 fits) */

enum ev_mode { EV_PACKET, EV_EDGE, EV_LEVEL };
enum wr_mode { WR_OK, WR_EXHAUSTED, WR_FAIL };

struct vmnet_interface {
	struct vmnet_interface *next; /* every interface ever made */
	pthread_mutex_t mu;
	int tap;
	char ifname[IFNAMSIZ];
	unsigned mtu;
	size_t max_pkt;
	bool started, stopped, dead, quit;
	pthread_t reader;
	bool have_reader;
	/* The frames read from the TAP, oldest at head. */
	uint8_t (*slot)[SLOT];
	size_t *len;
	unsigned head, count;
	/* The packets-available callback. */
	vmnet_interface_event_callback_t cb;
	dispatch_queue_t cbq;
	uint64_t last_fire_ns;
	/* Knobs. */
	enum ev_mode ev;
	enum wr_mode wr;
	long exhausted_left; /* -1: every call */
	long die_after;      /* successful writes left; -1: never */
	char die_file[256];
	unsigned read_chunk; /* 0: no limit beyond *pktcnt */
	bool stop_nohandler, late_event;
	/*
	 * Handlers the fake was told not to call: held, as vmnet holds a
	 * handler it still owes a call, so what they capture stays reachable.
	 */
	void *owed_start, *owed_stop;
};

/* Start handlers owed by interfaces never made (FAKE_VMNET_START=null). */
static void *owed_null[16];
static int nowed_null;

/* Counters written to FAKE_VMNET_TRACE. */
static struct {
	long start_calls, start_status, started, stopped, dead, events,
	    events_after_stop, reads, read_pkts, read_empty, read_errors,
	    read_max_buffer, writes, write_pkts, write_refused, write_too_big,
	    write_bad_iov, write_too_many, write_exhausted, write_dead, queued,
	    queue_drops, callback_cleared;
} tr;
static pthread_mutex_t tr_mu = PTHREAD_MUTEX_INITIALIZER;
static struct vmnet_interface *all_ifaces;

/* CLOCK_MONOTONIC in ns. */
static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Rewrites the trace file (tmp + rename, so readers see whole files). */
static void
trace_flush(void)
{
	const char *path = getenv("FAKE_VMNET_TRACE");
	char tmp[512];
	FILE *f;

	if (path == NULL || *path == '\0')
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	pthread_mutex_lock(&tr_mu);
	if ((f = fopen(tmp, "w")) != NULL) {
#define T(k) fprintf(f, #k " %ld\n", tr.k)
		T(start_calls);
		T(start_status);
		T(started);
		T(stopped);
		T(dead);
		T(events);
		T(events_after_stop);
		T(reads);
		T(read_pkts);
		T(read_empty);
		T(read_errors);
		T(read_max_buffer);
		T(writes);
		T(write_pkts);
		T(write_refused);
		T(write_too_big);
		T(write_bad_iov);
		T(write_too_many);
		T(write_exhausted);
		T(write_dead);
		T(queued);
		T(queue_drops);
		T(callback_cleared);
#undef T
		fclose(f);
		rename(tmp, path);
	}
	pthread_mutex_unlock(&tr_mu);
}

/* Adds to a trace counter. */
static void
tr_add(long *c, long v)
{
	pthread_mutex_lock(&tr_mu);
	*c += v;
	pthread_mutex_unlock(&tr_mu);
}

/* An environment knob as a number, or def. */
static long
env_long(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtol(v, &end, 10);
	return *end == '\0' ? n : def;
}

/*
 * Queues a packets-available event on the callback queue. Called with
 * i->mu held; the block holds its own copies of the callback.
 */
static void
fire_locked(struct vmnet_interface *i)
{
	vmnet_interface_event_callback_t cb;
	xpc_object_t ev;

	if (i->cb == NULL)
		return;
	cb = Block_copy(i->cb);
	ev = xpc_dictionary_create(NULL, NULL, 0);
	xpc_dictionary_set_uint64(
	    ev, vmnet_estimated_packets_available_key, i->count);
	i->last_fire_ns = mono_ns();
	tr_add(&tr.events, 1);
	if (i->stopped)
		tr_add(&tr.events_after_stop, 1);
	dispatch_async(i->cbq, ^{
	  cb(VMNET_INTERFACE_PACKETS_AVAILABLE, ev);
	  xpc_release(ev);
	  Block_release(cb);
	});
}

/* Reader thread: TAP -> queue, events, death, trace. */
static void *
reader_main(void *arg)
{
	struct vmnet_interface *i = arg;
	struct pollfd pfd = {.fd = i->tap, .events = POLLIN};
	uint64_t last_trace = 0;
	struct stat st;
	uint8_t junk[SLOT];
	ssize_t r;
	bool was_empty, got;

	for (;;) {
		(void)poll(&pfd, 1, i->ev == EV_LEVEL ? 1 : 10);
		pthread_mutex_lock(&i->mu);
		if (i->quit) {
			pthread_mutex_unlock(&i->mu);
			break;
		}
		was_empty = i->count == 0;
		got = false;
		for (;;) {
			unsigned tail = (i->head + i->count) % QUEUE_LEN;
			uint8_t *dst =
			    i->count < QUEUE_LEN ? i->slot[tail] : junk;

			if ((r = read(i->tap, dst, SLOT)) <= 0)
				break;
			if (i->dead)
				continue; /* a dead interface delivers nothing
				           */
			if (dst == junk) {
				tr_add(&tr.queue_drops, 1);
				continue;
			}
			i->len[tail] = (size_t)r;
			i->count++;
			got = true;
			if (i->ev == EV_PACKET)
				fire_locked(i);
		}
		if (got && i->ev == EV_EDGE && was_empty)
			fire_locked(i);
		if (i->ev == EV_LEVEL && i->count > 0 && !i->dead &&
		    mono_ns() - i->last_fire_ns >= 1000000)
			fire_locked(i);
		if (!i->dead && i->die_file[0] != '\0' &&
		    stat(i->die_file, &st) == 0) {
			i->dead = true;
			tr_add(&tr.dead, 1);
			fire_locked(i); /* so the reader finds out */
		}
		pthread_mutex_lock(&tr_mu);
		tr.queued = i->count;
		pthread_mutex_unlock(&tr_mu);
		pthread_mutex_unlock(&i->mu);
		if (mono_ns() - last_trace > 50000000) {
			trace_flush();
			last_trace = mono_ns();
		}
	}
	return NULL;
}

/* Parses a dotted quad into host order; false when it is not one. */
static bool
ip4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
		return false;
	*out = ntohl(a.s_addr);
	return true;
}

/* RFC 1918 private space, the only ranges vmnet accepts. */
static bool
rfc1918(uint32_t a)
{
	return (a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) ||
	       (a >> 16) == (192u << 8 | 168);
}

/* An ioctl on an AF_INET socket for ifname; -1 on failure. */
static int
if_ioctl(unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	if (s == -1)
		return -1;
	rc = ioctl(s, req, ifr);
	close(s);
	return rc;
}

/* Sets an IPv4 address-type ifreq field. */
static int
if_set_addr(const char *name, unsigned long req, uint32_t a)
{
	struct ifreq ifr;
	struct sockaddr_in sin;

	memset(&ifr, 0, sizeof(ifr));
	memset(&sin, 0, sizeof(sin));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(a);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	return if_ioctl(req, &ifr);
}

/* Creates and configures the TAP: address, mask, MTU, up. -1 on error. */
static int
tap_create(struct vmnet_interface *i, uint32_t addr, uint32_t mask)
{
	struct ifreq ifr;
	int fd;

	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) == -1)
		goto fail;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1 ||
	    if_set_addr(i->ifname, SIOCSIFADDR, addr) == -1 ||
	    if_set_addr(i->ifname, SIOCSIFNETMASK, mask) == -1)
		goto fail;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->ifname);
	ifr.ifr_mtu = (int)i->mtu;
	if (if_ioctl(SIOCSIFMTU, &ifr) == -1 ||
	    if_ioctl(SIOCGIFFLAGS, &ifr) == -1)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (if_ioctl(SIOCSIFFLAGS, &ifr) == -1)
		goto fail;
	i->tap = fd;
	return 0;
fail:
	fprintf(stderr, "fake vmnet: TAP %s: %s\n", i->ifname, strerror(errno));
	close(fd);
	return -1;
}

/* The status vmnet would report for desc; fills the range on success. */
static vmnet_return_t
check_desc(xpc_object_t desc, uint32_t *start, uint32_t *end, uint32_t *mask)
{
	const char *s =
	    xpc_dictionary_get_string(desc, vmnet_start_address_key);
	const char *e = xpc_dictionary_get_string(desc, vmnet_end_address_key);
	const char *m = xpc_dictionary_get_string(desc, vmnet_subnet_mask_key);
	uint64_t mode =
	    xpc_dictionary_get_uint64(desc, vmnet_operation_mode_key);

	if (mode != VMNET_HOST_MODE && mode != VMNET_SHARED_MODE &&
	    mode != VMNET_BRIDGED_MODE)
		return VMNET_INVALID_ARGUMENT;
	if (s == NULL && e == NULL && m == NULL) {
		/* vmnet's usual default range. */
		*start = 0xc0a84001u; /* 192.168.64.1 */
		*end = 0xc0a840feu;
		*mask = 0xffffff00u;
		return VMNET_SUCCESS;
	}
	/* All three or none (vmnet.h: "must be specified together"). */
	if (!ip4(s, start) || !ip4(e, end) || !ip4(m, mask))
		return VMNET_INVALID_ARGUMENT;
	if (*mask == 0 || (~*mask & (~*mask + 1)) != 0 || !rfc1918(*start) ||
	    !rfc1918(*end) || *start >= *end ||
	    (*start & *mask) != (*end & *mask))
		return VMNET_INVALID_ARGUMENT;
	return VMNET_SUCCESS;
}

/* The start outcome the test asked for on this (1-based) call. */
static vmnet_return_t
chosen_status(const char *knob, long call, bool *ret_null, bool *no_handler)
{
	long n;

	*ret_null = *no_handler = false;
	if (knob == NULL || strcmp(knob, "ok") == 0)
		return VMNET_SUCCESS;
	if (strcmp(knob, "null") == 0) {
		*ret_null = *no_handler = true;
		return VMNET_SUCCESS;
	}
	if (strcmp(knob, "nohandler") == 0) {
		*no_handler = true;
		return VMNET_SUCCESS;
	}
	if (strcmp(knob, "busy1009") == 0)
		return VMNET_SHARING_SERVICE_BUSY;
	if (sscanf(knob, "fail1001:%ld", &n) == 1)
		return call <= n ? VMNET_FAILURE : VMNET_SUCCESS;
	if (sscanf(knob, "status:%ld", &n) == 1)
		return (vmnet_return_t)n;
	fprintf(
	    stderr, "fake vmnet: FAKE_VMNET_START=%s not understood\n", knob);
	return VMNET_FAILURE;
}

/* Reads the I/O knobs into i. */
static void
read_knobs(struct vmnet_interface *i)
{
	const char *v;
	long n;

	snprintf(i->ifname, sizeof(i->ifname), "%s",
	    getenv("FAKE_VMNET_IFNAME") ? getenv("FAKE_VMNET_IFNAME")
	                                : "vmnet0");
	i->mtu = (unsigned)env_long("FAKE_VMNET_MTU", 1500);
	i->max_pkt = (size_t)env_long("FAKE_VMNET_MAX_PACKET", 1514);
	v = getenv("FAKE_VMNET_EVENTS");
	i->ev = v == NULL                 ? EV_PACKET
	        : strcmp(v, "edge") == 0  ? EV_EDGE
	        : strcmp(v, "level") == 0 ? EV_LEVEL
	                                  : EV_PACKET;
	v = getenv("FAKE_VMNET_WRITE");
	i->wr = WR_OK;
	if (v != NULL && strcmp(v, "fail") == 0)
		i->wr = WR_FAIL;
	else if (v != NULL && strcmp(v, "exhausted") == 0) {
		i->wr = WR_EXHAUSTED;
		i->exhausted_left = -1;
	} else if (v != NULL && sscanf(v, "exhausted:%ld", &n) == 1) {
		i->wr = WR_EXHAUSTED;
		i->exhausted_left = n;
	}
	i->die_after = env_long("FAKE_VMNET_DIE_AFTER", -1);
	snprintf(i->die_file, sizeof(i->die_file), "%s",
	    getenv("FAKE_VMNET_DIE_FILE") ? getenv("FAKE_VMNET_DIE_FILE") : "");
	i->read_chunk = (unsigned)env_long("FAKE_VMNET_READ_CHUNK", 0);
	v = getenv("FAKE_VMNET_STOP");
	i->stop_nohandler = v != NULL && strcmp(v, "nohandler") == 0;
	i->late_event = env_long("FAKE_VMNET_LATE_EVENT", 0) != 0;
}

/* Writes the trace at exit too, for tests that read it afterwards. */
static void
trace_atexit(void)
{
	trace_flush();
}

/* Registers trace_atexit once. */
static void
trace_register(void)
{
	atexit(trace_atexit);
}

interface_ref
vmnet_start_interface(xpc_object_t desc, dispatch_queue_t queue,
    vmnet_start_interface_completion_handler_t handler)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct vmnet_interface *i;
	uint32_t start, end, mask;
	vmnet_return_t st;
	bool ret_null, no_handler;
	long call, delay_ms;
	xpc_object_t param;
	char a[INET_ADDRSTRLEN];
	struct in_addr ia;
	uint8_t uuid[16];
	char mac[18];
	int k;

	pthread_once(&once, trace_register);
	if (desc == NULL || queue == NULL || handler == NULL)
		return NULL;
	pthread_mutex_lock(&tr_mu);
	call = ++tr.start_calls;
	pthread_mutex_unlock(&tr_mu);
	st = chosen_status(
	    getenv("FAKE_VMNET_START"), call, &ret_null, &no_handler);
	if (st == VMNET_SUCCESS)
		st = check_desc(desc, &start, &end, &mask);
	pthread_mutex_lock(&tr_mu);
	tr.start_status = st;
	pthread_mutex_unlock(&tr_mu);
	trace_flush();
	if (ret_null) {
		pthread_mutex_lock(&tr_mu);
		if (nowed_null < 16)
			owed_null[nowed_null++] = Block_copy(handler);
		pthread_mutex_unlock(&tr_mu);
		return NULL;
	}
	if (st != VMNET_SUCCESS) {
		dispatch_async(queue, ^{
		  handler(st, NULL);
		});
		return NULL;
	}
	i = calloc(1, sizeof(*i));
	i->slot = calloc(QUEUE_LEN, SLOT);
	i->len = calloc(QUEUE_LEN, sizeof(*i->len));
	if (i == NULL || i->slot == NULL || i->len == NULL)
		abort();
	pthread_mutex_init(&i->mu, NULL);
	i->tap = -1;
	read_knobs(i);
	pthread_mutex_lock(&tr_mu);
	i->next = all_ifaces;
	all_ifaces = i; /* kept for life: see the top of the file */
	pthread_mutex_unlock(&tr_mu);
	if (tap_create(i, start, mask) == -1) {
		dispatch_async(queue, ^{
		  handler(VMNET_FAILURE, NULL);
		});
		return NULL;
	}
	i->have_reader = pthread_create(&i->reader, NULL, reader_main, i) == 0;
	if (no_handler) {
		i->owed_start = Block_copy(handler);
		return i; /* started, but nobody is ever told */
	}

	param = xpc_dictionary_create(NULL, NULL, 0);
	xpc_dictionary_set_uint64(param, vmnet_mtu_key, i->mtu);
	xpc_dictionary_set_uint64(param, vmnet_max_packet_size_key, i->max_pkt);
	xpc_dictionary_set_uint64(
	    param, vmnet_read_max_packets_key, MAX_PACKETS);
	xpc_dictionary_set_uint64(
	    param, vmnet_write_max_packets_key, MAX_PACKETS);
	ia.s_addr = htonl(start);
	xpc_dictionary_set_string(param, vmnet_start_address_key,
	    inet_ntop(AF_INET, &ia, a, sizeof(a)));
	ia.s_addr = htonl(end);
	xpc_dictionary_set_string(param, vmnet_end_address_key,
	    inet_ntop(AF_INET, &ia, a, sizeof(a)));
	ia.s_addr = htonl(mask);
	xpc_dictionary_set_string(param, vmnet_subnet_mask_key,
	    inet_ntop(AF_INET, &ia, a, sizeof(a)));
	/* A MAC for the VM to use (not the host side's: the TAP has its own).
	 */
	for (k = 0; k < 16; k++)
		uuid[k] = (uint8_t)(rand() ^ (getpid() >> (k % 4)));
	snprintf(mac, sizeof(mac), "%x:%x:%x:%x:%x:%x", (uuid[0] & 0xfe) | 0x02,
	    uuid[1], uuid[2], uuid[3], uuid[4], uuid[5]);
	xpc_dictionary_set_string(param, vmnet_mac_address_key, mac);
	xpc_dictionary_set_uuid(param, vmnet_interface_id_key, uuid);
	delay_ms = env_long("FAKE_VMNET_START_DELAY_MS", 0);
	dispatch_async(queue, ^{
	  if (delay_ms > 0)
		  usleep((useconds_t)delay_ms * 1000);
	  pthread_mutex_lock(&i->mu);
	  i->started = true;
	  pthread_mutex_unlock(&i->mu);
	  tr_add(&tr.started, 1);
	  handler(VMNET_SUCCESS, param);
	  /* vmnet.h: the dictionary is released after the handler returns. */
	  xpc_release(param);
	});
	return i;
}

vmnet_return_t
vmnet_interface_set_event_callback(interface_ref i, interface_event_t mask,
    dispatch_queue_t queue, vmnet_interface_event_callback_t callback)
{
	if (i == NULL)
		return VMNET_INVALID_ARGUMENT;
	pthread_mutex_lock(&i->mu);
	if (i->cb != NULL) {
		Block_release(i->cb);
		dispatch_release(i->cbq);
		i->cb = NULL;
		i->cbq = NULL;
	}
	if (callback == NULL || mask == 0) {
		if (!i->stopped)
			tr_add(&tr.callback_cleared, 1);
		pthread_mutex_unlock(&i->mu);
		return VMNET_SUCCESS;
	}
	if (queue == NULL || (mask & ~VMNET_INTERFACE_PACKETS_AVAILABLE) != 0) {
		pthread_mutex_unlock(&i->mu);
		return VMNET_INVALID_ARGUMENT;
	}
	i->cb = Block_copy(callback);
	i->cbq = queue;
	dispatch_retain(queue);
	if (i->count > 0)
		fire_locked(i); /* nothing queued goes unannounced */
	pthread_mutex_unlock(&i->mu);
	return VMNET_SUCCESS;
}

vmnet_return_t
vmnet_read(interface_ref i, struct vmpktdesc *pkts, int *pktcnt)
{
	int want, n, k;
	uint32_t j;
	size_t buf, off, len, c;
	unsigned idx;

	if (i == NULL || pkts == NULL || pktcnt == NULL)
		return VMNET_INVALID_ARGUMENT;
	pthread_mutex_lock(&i->mu);
	tr_add(&tr.reads, 1);
	if (i->stopped || i->dead || !i->started) {
		tr_add(&tr.read_errors, 1);
		pthread_mutex_unlock(&i->mu);
		return VMNET_FAILURE;
	}
	want = *pktcnt;
	if (want < 1 || want > MAX_PACKETS) {
		tr_add(&tr.read_errors, 1);
		pthread_mutex_unlock(&i->mu);
		return want < 1 ? VMNET_INVALID_ARGUMENT
		                : VMNET_TOO_MANY_PACKETS;
	}
	n = want < (int)i->count ? want : (int)i->count;
	if (i->read_chunk > 0 && n > (int)i->read_chunk)
		n = (int)i->read_chunk;
	/* Check every buffer first: a short one fails the call, reads none. */
	for (k = 0; k < n; k++) {
		idx = (i->head + (unsigned)k) % QUEUE_LEN;
		buf = 0;
		for (j = 0; j < pkts[k].vm_pkt_iovcnt; j++)
			buf += pkts[k].vm_pkt_iov[j].iov_len;
		if (buf > pkts[k].vm_pkt_size)
			buf = pkts[k].vm_pkt_size;
		if ((long)buf > tr.read_max_buffer)
			tr_add(&tr.read_max_buffer,
			    (long)buf - tr.read_max_buffer);
		if (pkts[k].vm_pkt_iov == NULL || buf < i->len[idx]) {
			tr_add(&tr.read_errors, 1);
			pthread_mutex_unlock(&i->mu);
			return VMNET_INVALID_ARGUMENT;
		}
	}
	for (k = 0; k < n; k++) {
		idx = i->head;
		len = i->len[idx];
		for (j = 0, off = 0; off < len; j++) {
			c = pkts[k].vm_pkt_iov[j].iov_len;
			if (c > len - off)
				c = len - off;
			memcpy(pkts[k].vm_pkt_iov[j].iov_base,
			    i->slot[idx] + off, c);
			off += c;
		}
		pkts[k].vm_pkt_size = len;
		pkts[k].vm_flags = 0;
		i->head = (i->head + 1) % QUEUE_LEN;
		i->count--;
	}
	*pktcnt = n;
	tr_add(&tr.read_pkts, n);
	if (n == 0)
		tr_add(&tr.read_empty, 1);
	pthread_mutex_unlock(&i->mu);
	return VMNET_SUCCESS;
}

/* Refuses a write: counts it, sends nothing. */
static vmnet_return_t
refuse(struct vmnet_interface *i, int *pktcnt, long *counter, vmnet_return_t st)
{
	tr_add(&tr.write_refused, 1);
	if (counter != NULL)
		tr_add(counter, 1);
	*pktcnt = 0;
	pthread_mutex_unlock(&i->mu);
	return st;
}

vmnet_return_t
vmnet_write(interface_ref i, struct vmpktdesc *pkts, int *pktcnt)
{
	int n, k;

	if (i == NULL || pkts == NULL || pktcnt == NULL)
		return VMNET_INVALID_ARGUMENT;
	pthread_mutex_lock(&i->mu);
	tr_add(&tr.writes, 1);
	n = *pktcnt;
	if (i->stopped || i->dead || !i->started)
		return refuse(i, pktcnt, &tr.write_dead, VMNET_FAILURE);
	if (i->wr == WR_FAIL)
		return refuse(i, pktcnt, NULL, VMNET_FAILURE);
	if (i->wr == WR_EXHAUSTED && i->exhausted_left != 0) {
		if (i->exhausted_left > 0)
			i->exhausted_left--;
		return refuse(
		    i, pktcnt, &tr.write_exhausted, VMNET_BUFFER_EXHAUSTED);
	}
	if (n < 1 || n > MAX_PACKETS)
		return refuse(i, pktcnt, &tr.write_too_many,
		    n < 1 ? VMNET_INVALID_ARGUMENT : VMNET_TOO_MANY_PACKETS);
	for (k = 0; k < n; k++) {
		if (pkts[k].vm_pkt_iovcnt != 1 || pkts[k].vm_pkt_iov == NULL ||
		    pkts[k].vm_pkt_iov[0].iov_len != pkts[k].vm_pkt_size)
			return refuse(i, pktcnt, &tr.write_bad_iov,
			    VMNET_INVALID_ARGUMENT);
		if (pkts[k].vm_pkt_size < 14 ||
		    pkts[k].vm_pkt_size > i->max_pkt)
			return refuse(
			    i, pktcnt, &tr.write_too_big, VMNET_PACKET_TOO_BIG);
	}
	for (k = 0; k < n; k++)
		(void)!write(i->tap, pkts[k].vm_pkt_iov[0].iov_base,
		    pkts[k].vm_pkt_size);
	tr_add(&tr.write_pkts, n);
	if (i->die_after > 0 && --i->die_after == 0) {
		i->dead = true;
		tr_add(&tr.dead, 1);
		fire_locked(i);
	}
	pthread_mutex_unlock(&i->mu);
	return VMNET_SUCCESS;
}

vmnet_return_t
vmnet_stop_interface(interface_ref i, dispatch_queue_t queue,
    void (^handler)(vmnet_return_t status))
{
	bool late;

	if (i == NULL || queue == NULL || handler == NULL)
		return VMNET_INVALID_ARGUMENT;
	pthread_mutex_lock(&i->mu);
	if (i->stopped) {
		pthread_mutex_unlock(&i->mu);
		return VMNET_FAILURE;
	}
	i->stopped = true;
	i->quit = true;
	pthread_mutex_unlock(&i->mu);
	if (i->have_reader)
		pthread_join(i->reader, NULL);
	i->have_reader = false;
	if (i->tap != -1)
		close(i->tap); /* the TAP goes away with the interface */
	i->tap = -1;
	tr_add(&tr.stopped, 1);
	trace_flush();
	if (i->stop_nohandler) {
		i->owed_stop = Block_copy(handler);
		return VMNET_SUCCESS;
	}
	late = i->late_event;
	dispatch_retain(queue);
	dispatch_async(queue, ^{
	  handler(VMNET_SUCCESS);
	  /*
	   * A callback still registered may fire once more after the stop
	   * completed: code must clear it before stopping.
	   */
	  if (late) {
		  pthread_mutex_lock(&i->mu);
		  fire_locked(i);
		  pthread_mutex_unlock(&i->mu);
		  trace_flush();
	  }
	  dispatch_release(queue);
	});
	return VMNET_SUCCESS;
}
