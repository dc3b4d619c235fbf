/*
 * bench_forward: 64-byte frames per second that one core of the switch
 * moves from a socketpair VM to the uplink. A struct softnetd is assembled
 * by hand the way main.c does it (lease database in memory, one VM port on
 * a SOCK_DGRAM socket pair, its lease set directly); a writer thread on
 * another core blasts valid IPv4/UDP frames from the VM's address into the
 * VM end, and the main thread, pinned to one core, calls
 * switch_port_readable in a loop: recvmmsg, parse, filter, uplink write.
 *
 * With -t the uplink is the real TAP backend (softnet0, created in the
 * caller's network namespace: run it in a private one), so every frame
 * costs its write(2) into the kernel. Without -t there is no uplink and the
 * switch counts and drops what it would have written: the pure switch.
 *
 * With -k the main thread makes only the system calls the switch makes
 * (recvmmsg from the VM's socket and, with -t, the uplink writes), with no
 * parsing, filtering or lookup: the ceiling that the kernel's own cost of
 * that I/O puts on any switch on this core.
 *
 * The writer's sends cost the kernel about as much per frame as the
 * switch's reads, so at times it falls behind and a read finds the socket
 * empty. "mpps" is frames per second of wall clock, which such times pull
 * down; "mpps_busy" is frames per second of the time spent on reads that
 * found frames (and on switching them): what one core forwards while it
 * has frames to forward.
 * Prints "key value" lines for tests/bench/bench.py.
 *
 * usage: bench_forward [-tBk] [-s SECONDS]
 */
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "leasedb.h"
#include "log.h"
#include "osdep.h"
#include "pkt.h"
#include "port.h"
#include "softnetd.h"
#include "switch.h"
#include "uplink.h"
#include "vm.h"

#define FRAME_LEN 64
#define FRAME_CAP 2048
#define BLAST     64         /* datagrams per sendmmsg */
#define VM_IP     0xc0a8690a /* 192.168.105.10 */
#define DST_IP    0xc0000009 /* 192.0.0.9: global per the filter */

static const uint8_t vm_mac[6] = {0x02, 0, 0, 0, 0x0b, 0x01};

struct writer {
	int fd;
	uint8_t frame[FRAME_LEN];
	atomic_int stop;
	uint64_t sent;
};

/* Monotonic nanoseconds. */
static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Pins the calling thread to cpu (ignored where there is no such cpu). */
static void
pin(int cpu)
{
	cpu_set_t set;

	if (cpu >= sysconf(_SC_NPROCESSORS_ONLN))
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Writer thread: keeps the VM's socket full until told to stop. */
static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct mmsghdr msgs[BLAST];
	struct iovec iov = {w->frame, FRAME_LEN};
	struct pollfd pfd = {w->fd, POLLOUT, 0};
	int i, n;

	pin(1);
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i < BLAST; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (!atomic_load(&w->stop)) {
		n = sendmmsg(w->fd, msgs, BLAST, MSG_DONTWAIT);
		if (n > 0) {
			w->sent += (uint64_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
			break;
		(void)poll(&pfd, 1, 10);
	}
	return NULL;
}

/*
 * The -k loop: the switch's I/O alone, for seconds; frames moved. Counts
 * the reads that found the socket empty in *empty (the writer fell behind)
 * and adds the time spent on reads that found frames to *busy.
 */
static uint64_t
io_only(
    struct softnetd *sd, int fd, double seconds, uint64_t *empty, int64_t *busy)
{
	static uint8_t mem[BLAST][FRAME_CAP];
	struct frame f[BLAST];
	int64_t deadline, t;
	uint64_t frames = 0, calls = 0;
	int i, n;

	for (i = 0; i < BLAST; i++) {
		f[i].data = mem[i];
		f[i].cap = FRAME_CAP;
	}
	deadline = now_ns() + (int64_t)(seconds * 1e9);
	for (;;) {
		t = now_ns();
		n = osdep_recv_batch(fd, f, sd->no_batch ? 1 : BLAST);
		if (n > 0) {
			memset(&f[0].vnet, 0, sizeof(f[0].vnet));
			for (i = 1; i < n; i++)
				f[i].vnet = f[0].vnet;
			if (sd->uplink != NULL)
				(void)uplink_write(sd->uplink, f, n);
			frames += (uint64_t)n;
			*busy += now_ns() - t;
		} else {
			(*empty)++;
		}
		if ((++calls & 63) == 0 && now_ns() >= deadline)
			return frames;
	}
}

/* Fills sd with what uplink_open would report, for the run without one. */
static void
fake_uplink_params(struct softnetd *sd)
{
	static const uint8_t gw_mac[6] = {0x02, 0x53, 0x4e, 0xa8, 0x69, 0x01};

	sd->up.gateway = sd->cfg.uplink.gateway;
	sd->up.netmask = sd->cfg.uplink.netmask;
	sd->up.pool_start = sd->cfg.uplink.pool_start;
	sd->up.pool_end = sd->cfg.uplink.pool_end;
	sd->up.mtu = sd->cfg.uplink.mtu;
	sd->up.max_frame = PKT_ETH_HLEN + sd->cfg.uplink.mtu;
	memcpy(sd->up.mac, gw_mac, 6);
	snprintf(sd->up.name, sizeof(sd->up.name), "none");
}

int
main(int argc, char **argv)
{
	struct softnetd sd;
	struct uplink_settings us;
	struct writer w;
	struct vm_attach_args a;
	struct pkt_udp4_addr addr;
	const struct sw_stats *st;
	struct port *p;
	pthread_t thr;
	enum vm_err verr;
	char err[CONFIG_ERRLEN];
	double seconds = 2.0;
	int64_t t0, t1, t, deadline, busy = 0;
	uint64_t f0, f1, up0, up1, w0, w1, calls = 0, empty = 0;
	int sv[2], ch, tap = 0, io = 0, bufsz = 4 << 20;

	memset(&sd, 0, sizeof(sd));
	while ((ch = getopt(argc, argv, "tBks:")) != -1) {
		switch (ch) {
		case 't':
			tap = 1;
			break;
		case 'B':
			sd.no_batch = true;
			break;
		case 'k':
			io = 1;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		default:
			fprintf(
			    stderr, "usage: bench_forward [-tBk] [-s SECS]\n");
			return 2;
		}
	}
	log_init(0, "bench_forward");
	config_defaults(&sd.cfg);
	if ((sd.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (tap) {
		softnetd_uplink_settings(&sd.cfg, &us);
		sd.uplink = uplink_open(&us, &sd.up, err, sizeof(err));
		if (sd.uplink == NULL)
			fatalx("uplink: %s", err);
	} else {
		fake_uplink_params(&sd);
	}
	sd.db = leasedb_open(":memory:", sd.up.pool_start, sd.up.pool_end,
	    sd.up.gateway, err, sizeof(err));
	if (sd.db == NULL)
		fatalx("%s", err);
	sd.net.gateway = sd.up.gateway;
	sd.net.netmask = sd.up.netmask;
	sd.net.dns = sd.cfg.dhcp.dns;
	sd.net.ndns = sd.cfg.dhcp.ndns;
	port_init(&sd);
	switch_init(&sd);
	vm_init(&sd);

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == -1)
		fatal("socketpair");
	(void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	memset(&a, 0, sizeof(a));
	a.fd = sv[0];
	a.kind = OSDEP_FD_DGRAM;
	memcpy(a.mac, vm_mac, 6);
	a.name = "bench";
	if ((p = vm_attach(&sd, &a, &verr, err, sizeof(err))) == NULL)
		fatalx("attach: %s: %s", vm_err_code(verr), err);
	port_set_lease(&sd, p, VM_IP, clock_now() + 3600);

	memset(&w, 0, sizeof(w));
	w.fd = sv[1];
	memset(&addr, 0, sizeof(addr));
	memcpy(addr.src_mac, vm_mac, 6);
	memcpy(addr.dst_mac, sd.up.mac, 6);
	addr.src_ip = VM_IP;
	addr.dst_ip = DST_IP;
	addr.sport = 40000;
	addr.dport = 9;
	if (pkt_build_udp4(w.frame, sizeof(w.frame), &addr,
	        FRAME_LEN - PKT_UDP4_HLEN) != FRAME_LEN)
		fatalx("cannot build the test frame");

	pin(0);
	if (pthread_create(&thr, NULL, writer_main, &w) != 0)
		fatalx("pthread_create failed");
	st = switch_stats(&sd);
	if (io) {
		(void)io_only(&sd, sv[0], 0.2, &empty, &busy);
		empty = 0; /* warm-up */
		busy = 0;
		t0 = now_ns();
		f0 = up0 = w0 = 0;
		f1 = up1 = w1 = io_only(&sd, sv[0], seconds, &empty, &busy);
		t1 = now_ns();
	} else {
		/* A short warm-up, then the timed run. */
		deadline = now_ns() + 200000000;
		while (now_ns() < deadline)
			switch_port_readable(&sd, p);
		f0 = p->st.tx_frames;
		up0 = st->uplink_tx_frames + st->uplink_write_drop;
		w0 = st->uplink_tx_frames;
		t0 = now_ns();
		deadline = t0 + (int64_t)(seconds * 1e9);
		for (;;) {
			uint64_t before = p->st.tx_frames;

			t = now_ns();
			switch_port_readable(&sd, p);
			if (p->st.tx_frames != before)
				busy += now_ns() - t;
			else
				empty++;
			if ((++calls & 63) == 0 && now_ns() >= deadline)
				break;
		}
		t1 = now_ns();
		f1 = p->st.tx_frames;
		up1 = st->uplink_tx_frames + st->uplink_write_drop;
		w1 = st->uplink_tx_frames;
	}
	atomic_store(&w.stop, 1);
	pthread_join(thr, NULL);

	printf("uplink %s\n", tap ? "tap" : "none");
	printf("batch %s\n", sd.no_batch ? "no" : "yes");
	printf("mode %s\n", io ? "io-only" : "switch");
	printf("empty_reads %llu\n", (unsigned long long)empty);
	printf("seconds %.3f\n", (double)(t1 - t0) / 1e9);
	printf("busy_seconds %.3f\n", (double)busy / 1e9);
	printf("frames %llu\n", (unsigned long long)(f1 - f0));
	printf("uplink_frames %llu\n", (unsigned long long)(up1 - up0));
	printf("uplink_written %llu\n", (unsigned long long)(w1 - w0));
	printf("dropped_by_filter %llu\n",
	    (unsigned long long)(p->st.drops[DROP_IP_SPOOF] +
	                         p->st.drops[DROP_POLICY] +
	                         p->st.drops[DROP_NO_LEASE]));
	printf(
	    "mpps %.3f\n", (double)(f1 - f0) / ((double)(t1 - t0) / 1e9) / 1e6);
	printf("mpps_busy %.3f\n",
	    busy > 0 ? (double)(f1 - f0) / ((double)busy / 1e9) / 1e6 : 0.0);

	vm_shutdown(&sd);
	port_shutdown(&sd);
	switch_shutdown(&sd);
	uplink_close(sd.uplink);
	leasedb_close(sd.db);
	event_base_free(sd.base);
	close(sv[1]);
	config_free(&sd.cfg);
	return 0;
}
