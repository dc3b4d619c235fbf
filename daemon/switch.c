/*
 * Theory of operation: the switch owns the frame buffers (allocated once;
 * the frame path never allocates) and moves every frame exactly one hop:
 *
 *   VM -> filter_from_vm -> (DHCP server | another VM's filter_to_vm | uplink)
 *   uplink -> (port by destination MAC | ARP request: port by target IP)
 *          -> filter_to_vm -> VM
 *
 * Nothing is flooded: a broadcast reaches a VM only when it is an ARP
 * request for that VM's address, so a VM never sees another VM's traffic.
 * Each wakeup reads one bounded batch from one descriptor and returns to the
 * loop, so a busy VM cannot starve the others (the loop is level-triggered
 * and comes back while data is pending). Frames for the uplink are written
 * as one batch at the end of each VM batch.
 *
 * Fair share (issue 18): one thread serves every VM, so a VM's flood costs
 * its neighbours whatever loop time it takes, and a flood of tiny frames
 * costs per frame what a 64 KiB superframe does (a read, a decision, a
 * write). Two rules keep that bounded, both by not reading: a VM whose
 * vm_limits bucket is empty is paused until the bucket holds a batch again,
 * and no more frames are read than the bucket has room for; and while the
 * loop is saturated (its thread spent nine tenths of the current
 * SW_FAIR_WINDOW so far on VMs, in CPU time), a VM that has used more than
 * its share of it (the window over the VMs that used the loop in this or
 * the last one) is paused until the window ends. Paused, a VM's frames wait
 * in its own socket or TAP queue and its own kernel drops what does not
 * fit, at its own cost. Unpaused VMs are served round robin, one batch per
 * wakeup each. A second thread would not help here: on two cores the other
 * one is the guests' and the kernel's, and sharing ports between threads
 * would need locks on the hot path; what a flood needs is less work, not
 * more CPUs.
 *
 * A third rule is the one that keeps a neighbour's throughput under a
 * flood (measured in the README's noisy-neighbour paragraph): what a
 * flooder costs its neighbours is the loop's time on each frame it
 * forwards (the uplink write runs the host's receive path and wakes the
 * receiver inside softnetd's system call), and with no more CPU to be had,
 * every share of that time a fair rule gives the flood is taken from the
 * neighbour. So while the loop is saturated (SW_FAIR_HOLD windows after
 * one in which its thread ran or waited for a CPU nine tenths of the
 * time: osdep_thread_demand_ns) and another VM uses it, a VM may send per
 * window SW_CLOCK_BASE frames plus SW_CLOCK_RATIO for each frame it was
 * sent in this window and since it last sent before it. Conversations keep
 * their pace: TCP and QUIC are clocked by what comes back (an ACK for every two
 * segments or so, RFC 9000 13.2.2 for QUIC), so a sender, a downloader or a
 * resolver never meets the rule; a VM that sends and is sent nothing back,
 * a flood, gets SW_CLOCK_BASE frames a window until the loop has room
 * again. A lone VM is never held to it: it would be waiting for itself.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "bootpd.h"
#include "capture.h"
#include "clock.h"
#include "dhcp.h"
#include "events.h"
#include "expose.h"
#include "filter.h"
#include "gso.h"
#include "log.h"
#include "osdep.h"
#include "pkt.h"
#include "port.h"
#include "softnetd.h"
#include "switch.h"
#include "uplink.h"
#include "xmalloc.h"

#define SW_BATCH 32 /* frames per read per wakeup */
/*
 * Fair-share window: short enough that a paused VM's queue (a TAP's
 * txqueuelen of 1000 frames, a socket's 4 MiB) rides it out without
 * loss at its share, long enough that its timer costs nothing.
 */
#define SW_FAIR_WINDOW 2000000 /* ns */
/*
 * Windows the clock rule holds after a saturated one (100 ms): held, the
 * loop has room again at once, and each time the rule lifts the flood
 * is back for a window or two until the loop saturates again; 8 windows
 * left a victim 0.89x of its control under a 1400-byte flood.
 */
#define SW_FAIR_HOLD 50
/* Frames a window a VM may send unanswered while the loop is saturated:
 * 1,000 a second. */
#define SW_CLOCK_BASE 2
/* Frames it may send per frame sent to it in the window and before it,
 * since it last sent: four times TCP's delayed ACK ratio, for stretched
 * ACKs. */
#define SW_CLOCK_RATIO 8
#define SW_DHCP_BUF    1024
/* Segments of one superframe: a 64 KiB TCP superframe cut at an MSS of 536
 * or more, or the most segments Linux puts in a UDP one; a superframe that
 * would make more is dropped and counted. */
#define SW_MAX_SEGS GSO_UDP_MAX_SEGS
#define SW_SEG_MEM  (SW_MAX_SEGS * 1600)

struct sw {
	uint8_t *mem;               /* SW_BATCH x PKT_MAX_FRAME */
	struct frame in[SW_BATCH];  /* read buffers */
	struct frame out[SW_BATCH]; /* frames queued for the uplink */
	int nout;
	int batch; /* frames per read: SW_BATCH, or 1 */
	uint8_t dhcp_buf[SW_DHCP_BUF];
	uint8_t arp_buf[64]; /* gratuitous ARP (announce) */
	uint8_t *seg_mem;    /* segments of one superframe */
	uint8_t *seg[SW_MAX_SEGS];
	size_t seg_len[SW_MAX_SEGS];
	struct event *uplink_ev;
	int64_t pool_full_logged;
	uint64_t now_ns;                 /* clock_mono() at this batch */
	uint64_t fair_start;             /* the window's start */
	uint32_t fair_win;               /* its number (never 0) */
	unsigned fair_active, fair_prev; /* VMs served in it, the last */
	uint64_t fair_busy;              /* loop time VMs used in it, ns */
	uint64_t fair_demand; /* osdep_thread_demand_ns() at its start */
	unsigned fair_hold;   /* windows the clock rule holds for */
	uint8_t blocked[UPLINK_BLOCK_MAX][6]; /* hung VMs the uplink drops */
	size_t nblocked;
	bool no_block; /* the uplink cannot: the switch drops instead */
	struct sw_stats st;
	uint8_t gw_mac[6]; /* the gateway's, from its ARP on the uplink */
	bool gw_mac_known;
};

static const uint8_t bcast[PKT_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/*
 * Copies a frame to p's packet captures once its fate is decided (reason
 * CAPTURE_PASS or the drop reason): with none running, one comparison.
 */
static inline void
cap(struct port *p, unsigned dir, const uint8_t *frame, size_t len, int reason)
{
	if (p->captures != NULL)
		capture_frame(&p->captures, dir, frame, len, reason);
}

/* Writes the queued uplink frames. */
static void
flush_uplink(struct softnetd *sd)
{
	static struct log_rl rl;
	struct sw *sw = sd->sw;
	int i, n;

	if (sw->nout == 0)
		return;
	if (sd->uplink != NULL) {
		n = uplink_write(sd->uplink, sw->out, sw->nout);
		if (n < 0) {
			/* Per batch of frames: counted, logged rarely. */
			log_warn_rl(&rl, "uplink write");
			n = 0;
		}
		for (i = 0; i < n; i++) {
			sw->st.uplink_tx_frames++;
			sw->st.uplink_tx_bytes += sw->out[i].len;
		}
		sw->st.uplink_write_drop += (uint64_t)(sw->nout - n);
	} else {
		sw->st.uplink_write_drop += (uint64_t)sw->nout;
	}
	sw->nout = 0;
}

/* Cuts a superframe into sw->seg; the count, or -1 (counted by caller). */
static int
segment(struct softnetd *sd, const uint8_t *frame, size_t len,
    const struct pkt_vnet *vnet)
{
	struct sw *sw = sd->sw;
	struct gso_out out = {
	    sw->seg_mem, SW_SEG_MEM, sw->seg, sw->seg_len, SW_MAX_SEGS};

	return gso_segment(frame, len, vnet, &out);
}

/*
 * Queues a frame for the uplink; the data must live until the flush, in a
 * buffer of cap bytes (room to coalesce later segments into it). An uplink
 * without offloads gets superframes cut and checksums finished.
 */
static void
queue_uplink(struct softnetd *sd, uint8_t *frame, size_t len, size_t cap,
    const struct pkt_vnet *vnet)
{
	static const struct pkt_vnet plain;
	struct sw *sw = sd->sw;
	int i, n;

	if (!sd->up.vnet && vnet->gso_type != PKT_VNET_GSO_NONE) {
		flush_uplink(sd);
		if ((n = segment(sd, frame, len, vnet)) == -1) {
			sw->st.uplink_write_drop++;
			return;
		}
		for (i = 0; i < n; i++)
			queue_uplink(sd, sw->seg[i], sw->seg_len[i],
			    sw->seg_len[i], &plain);
		flush_uplink(sd); /* seg_mem is reused by the next one */
		return;
	}
	if (!sd->up.vnet && gso_complete_csum(frame, len, vnet) == -1) {
		sw->st.uplink_write_drop++;
		return;
	}
	/* TCP segments continuing the last queued frame join it (GRO). */
	if (sd->up.vnet && sw->nout > 0 &&
	    vnet->gso_type == PKT_VNET_GSO_NONE && vnet->flags == 0 &&
	    gso_coalesce(sw->out[sw->nout - 1].data, &sw->out[sw->nout - 1].len,
	        sw->out[sw->nout - 1].cap, &sw->out[sw->nout - 1].vnet, frame,
	        len))
		return;
	if (sw->nout == sw->batch)
		flush_uplink(sd);
	sw->out[sw->nout].data = frame;
	sw->out[sw->nout].len = len;
	sw->out[sw->nout].cap = cap;
	sw->out[sw->nout].vnet = sd->up.vnet ? *vnet : plain;
	sw->nout++;
}

/*
 * Has the uplink drop q's frames in the kernel: q reads nothing, so what
 * the uplink would hand over for it is dropped here anyway, at the cost
 * of one read each. Lifted by switch_unblock when q takes frames again.
 */
static void
block(struct softnetd *sd, struct port *q)
{
	static struct log_rl rl;
	struct sw *sw = sd->sw;

	if (sd->uplink == NULL || sw->no_block || q->uplink_blocked ||
	    sw->nblocked == UPLINK_BLOCK_MAX)
		return;
	memcpy(sw->blocked[sw->nblocked], q->mac, 6);
	if (uplink_block(sd->uplink, sw->blocked, sw->nblocked + 1) == -1) {
		log_warn("uplink %s cannot drop a hung VM's frames; softnetd "
		         "drops them",
		    sd->up.name);
		sw->no_block = true;
		return;
	}
	sw->nblocked++;
	q->uplink_blocked = true;
	sw->st.uplink_blocks++;
	/* A VM that stops and starts reading at will repeats this. */
	log_info_rl(&rl,
	    "vm %u reads nothing: the uplink drops its frames until it does",
	    q->id);
	port_event(sd, q, &(struct event_desc){.kind = EVENTS_HUNG});
}

void
switch_unblock(struct softnetd *sd, struct port *p)
{
	static struct log_rl rl_filter, rl_info;
	struct sw *sw = sd->sw;
	size_t i;

	if (!p->uplink_blocked || sw == NULL || sd->uplink == NULL)
		return;
	p->uplink_blocked = false;
	for (i = 0; i < sw->nblocked; i++) {
		if (memcmp(sw->blocked[i], p->mac, 6) == 0) {
			memmove(sw->blocked[i], sw->blocked[i + 1],
			    (sw->nblocked - i - 1) * sizeof(sw->blocked[0]));
			sw->nblocked--;
			break;
		}
	}
	if (uplink_block(sd->uplink, sw->blocked, sw->nblocked) == -1)
		log_warn_rl(&rl_filter,
		    "uplink %s: updating the hung-VM filter", sd->up.name);
	if (!p->dead) {
		log_info_rl(&rl_info, "vm %u reads again", p->id);
		port_event(sd, p, &(struct event_desc){.kind = EVENTS_UNHUNG});
	}
}

size_t
switch_blocked(struct softnetd *sd)
{
	return sd->sw->nblocked;
}

/*
 * Delivers a parsed frame to port q if q's filter lets it in: whole to an
 * offload-capable port, else cut into segments or with its checksum done.
 */
static void
to_port(struct softnetd *sd, struct port *q, const struct pkt_info *pi,
    const struct pkt_vnet *vnet)
{
	struct filter_vm vm = {q->mac, q->ip, &q->policy,
	    q->expose != NULL ? expose_proxied : NULL, q};
	struct sw *sw = sd->sw;
	enum drop_reason why;
	uint8_t *frame = (uint8_t *)pi->frame;
	int n;

	if (filter_to_vm(&sd->net, &vm, pi, &why) != FILTER_PASS) {
		q->st.drops[why]++;
		cap(q, CAPTURE_IN, frame, pi->len, (int)why);
		return;
	}
	if (!rate_take(
	        &q->rx_rate, &sd->cfg.vm_limits.rx, pi->len, sw->now_ns)) {
		port_rate_drop(sd, q);
		cap(q, CAPTURE_IN, frame, pi->len, DROP_RATE_LIMIT);
		return;
	}
	if (port_blocked(q)) {
		if (!q->dead)
			q->st.drops[DROP_QUEUE_FULL]++;
		cap(q, CAPTURE_IN, frame, pi->len, DROP_QUEUE_FULL);
		if (port_hung(q))
			block(sd, q);
		return;
	}
	/* Superframes whole: the capture shows what the VM is given. */
	cap(q, CAPTURE_IN, frame, pi->len, CAPTURE_PASS);
	if (q->vnet) {
		port_send_vnet(sd, q, frame, pi->len, vnet);
	} else if (vnet->gso_type != PKT_VNET_GSO_NONE) {
		if ((n = segment(sd, frame, pi->len, vnet)) == -1) {
			q->st.drops[DROP_VNET_HDR]++;
			return;
		}
		port_send_batch(sd, q, sw->seg, sw->seg_len, n);
	} else if (gso_complete_csum(frame, pi->len, vnet) == -1) {
		q->st.drops[DROP_VNET_HDR]++;
	} else {
		port_send(sd, q, frame, pi->len);
	}
}

/*
 * Tells the host that ip now lives at p's MAC (a gratuitous ARP request,
 * on the VM's behalf): an address released by one VM and leased to another
 * must not stay cached under the old VM's MAC in the host's neighbour table.
 */
static void
announce(struct softnetd *sd, struct port *p, uint32_t ip)
{
	static const struct pkt_vnet plain;
	struct pkt_arp_fields f = {.op = PKT_ARP_REQUEST, .spa = ip, .tpa = ip};
	size_t len;

	memcpy(f.dst_mac, bcast, PKT_ETH_ALEN);
	memcpy(f.sha, p->mac, PKT_ETH_ALEN);
	len = pkt_build_arp(sd->sw->arp_buf, sizeof(sd->sw->arp_buf), &f);
	queue_uplink(sd, sd->sw->arp_buf, len, len, &plain);
	flush_uplink(sd); /* arp_buf is reused by the next announcement */
}

void
switch_announce(struct softnetd *sd, struct port *p)
{
	if (sd->sw == NULL || p->ip == 0)
		return;
	announce(sd, p, p->ip);
}

void
switch_dhcp_rate_init(struct softnetd *sd, struct port *p)
{
	struct rate_limit lim = {sd->cfg.dhcp.rate, 0, sd->cfg.dhcp.burst};

	rate_init(&p->dhcp_rate, &lim, clock_mono());
}

/*
 * Tells the operator about a DECLINE (RFC 2131 4.3.3: the server SHOULD
 * notify): the guest found its address answering ARP, so another host
 * uses it. Logged each time it takes an address out of service, which
 * dhcp.max_declined bounds per VM and quarantine period; counted per VM.
 */
static void
note_decline(struct port *p, const struct dhcp_result *res, int64_t now)
{
	char ips[ADDR_IPV4_STRLEN];

	p->st.dhcp_declines++;
	addr_format_ipv4(res->declined_ip, ips);
	if (res->decline_unquarantined)
		log_debug("vm %u declined %s; its quarantine share is full, "
		          "released without quarantine",
		    p->id, ips);
	else
		log_info("vm %u declined %s (in use by another host): "
		         "quarantined for %d s, until %lld",
		    p->id, ips, DHCP_QUARANTINE,
		    (long long)(now + DHCP_QUARANTINE));
}

/*
 * Reports what a DHCP message did to p's lease (issue #16), before the
 * port takes the new binding: an ACK of a new address is "lease_bound",
 * of the one it holds "lease_renewed"; a DECLINE "lease_declined"; a
 * binding that went away otherwise (RELEASE, a NAKed renewal)
 * "lease_released".
 */
static void
lease_event(struct softnetd *sd, struct port *p, const struct dhcp_result *res)
{
	struct event_desc d = {.ip = res->ip, .expires = res->expires};

	if (res->declined) {
		d.kind = EVENTS_LEASE_DECLINED;
		d.ip = res->declined_ip;
	} else if (res->acked && res->bound)
		d.kind = p->ip == res->ip ? EVENTS_LEASE_RENEWED
		                          : EVENTS_LEASE_BOUND;
	else if (res->unbound && p->ip != 0) {
		d.kind = EVENTS_LEASE_RELEASED;
		d.ip = p->ip;
	} else
		return;
	port_event(sd, p, &d);
}

/*
 * Runs the DHCP server on a client message from p. Each message may cost a
 * database transaction (an fsync-free WAL append, still kilobytes of
 * writes), so a VM gets dhcp.rate messages a second (default 4, bursts of
 * dhcp.burst, 8) before the database is touched (dhcp_handle takes the
 * bucket once the message parsed and is the VM's own): a DISCOVER flood
 * is dropped and counted (dhcp_rate), and other VMs' frames never wait
 * behind it. A real client sends 2-4 messages per lease and retries at
 * seconds.
 */
static void
to_dhcp(struct softnetd *sd, struct port *p, const struct pkt_info *pi)
{
	static struct log_rl rl;
	struct sw *sw = sd->sw;
	struct rate_limit lim = {sd->cfg.dhcp.rate, 0, sd->cfg.dhcp.burst};
	struct dhcp_config cfg = sd->dhcp;
	struct dhcp_result res;
	int64_t now = clock_now();

	cfg.rate = &p->dhcp_rate;
	cfg.rate_limit = &lim;
	cfg.now_ns = clock_mono();
	/* Root and admin VMs draw on the reserve the quota leaves. */
	cfg.lease_quota = p->admin ? 0 : sd->cfg.dhcp.max_leases_per_user;
	cfg.max_declined = sd->cfg.dhcp.max_declined;
	if (dhcp_handle(&cfg, sd->db, p->mac, pi, now, sw->dhcp_buf,
	        sizeof(sw->dhcp_buf), &res) == -1) {
		/* Every DHCP message of every VM can meet a failing DB. */
		log_warnx_rl(&rl, "vm %u: lease database error in DHCP", p->id);
		return;
	}
	sw->st.dhcp_rx[res.msg_type < DHCP_TYPE__COUNT ? res.msg_type : 0]++;
	if (res.reply_len > 0 && res.reply_type < DHCP_TYPE__COUNT)
		sw->st.dhcp_tx[res.reply_type]++;
	if (res.dropped)
		p->st.drops[res.drop]++;
	cap(p, CAPTURE_OUT, pi->frame, pi->len,
	    res.dropped ? (int)res.drop : CAPTURE_PASS);
	if (res.dropped && res.drop == DROP_DHCP_RATE)
		sw->st.dhcp_rate_limited++;
	if (res.pool_full) {
		sw->st.dhcp_pool_full++;
		if (now - sw->pool_full_logged >= 60) {
			log_warnx(
			    "address pool is full: vm %u gets no lease", p->id);
			sw->pool_full_logged = now;
		}
	}
	if (res.over_quota) {
		sw->st.dhcp_over_quota++;
		log_debug("vm %u: uid %lld holds its lease quota (%u)", p->id,
		    (long long)p->owner, cfg.lease_quota);
	}
	if (res.decline_unquarantined)
		sw->st.dhcp_decline_unquarantined++;
	/* Ignored options of a wrong length: the message was still served. */
	p->st.dhcp_bad_options += res.bad_options;
	if (res.declined)
		note_decline(p, &res, now);
	/*
	 * On every ACK, renewals too: the host's ARP cache forgets an idle
	 * VM after 20 minutes and `tart ip --resolver arp` reads that cache.
	 */
	if (res.acked && res.bound)
		announce(sd, p, res.ip);
	lease_event(sd, p, &res);
	/*
	 * dhcp_handle read the binding back from the lease database; only
	 * a change touches the port (and the bootpd mirror).
	 */
	if (res.bound && (p->ip != res.ip || p->lease_expires != res.expires))
		port_set_lease(sd, p, res.ip, res.expires);
	else if (res.unbound && p->ip != 0)
		port_set_lease(sd, p, 0, 0);
	if (res.reply_len > 0) {
		cap(p, CAPTURE_IN, sw->dhcp_buf, res.reply_len, CAPTURE_PASS);
		port_send(sd, p, sw->dhcp_buf, res.reply_len);
	}
}

/*
 * Whether each segment of a validated GSO superframe fits the MTU: its
 * headers plus gso_size, as the kernel (or gso.c) will cut it. A plain
 * frame was checked against the MTU before parsing.
 */
static bool
segments_fit(
    struct softnetd *sd, const struct pkt_vnet *vnet, const struct pkt_info *pi)
{
	size_t l4h;

	if ((vnet->gso_type & ~PKT_VNET_GSO_ECN) == PKT_VNET_GSO_NONE)
		return true;
	/* gso_validate passed: IPv4 with a whole TCP or UDP header. */
	l4h = pi->ip_proto == PKT_IPPROTO_TCP ? (size_t)(pi->l4[12] >> 4) * 4
	                                      : sizeof(struct pkt_udp);
	return (size_t)(pi->l4 - pi->frame) + l4h + vnet->gso_size <=
	       PKT_ETH_HLEN + sd->up.mtu;
}

/*
 * Switches one frame (or GSO superframe: one decision for all of it) from
 * p; uplink frames are queued, not yet written.
 */
static void
vm_frame(struct softnetd *sd, struct port *p, struct frame *f)
{
	struct filter_vm vm = {p->mac, p->ip, &p->policy,
	    p->expose != NULL ? expose_proxied : NULL, p};
	struct pkt_info pi;
	enum drop_reason why;
	struct port *q = NULL;

	p->st.tx_frames++;
	p->st.tx_bytes += f->len;
	if (!rate_take(
	        &p->tx_rate, &sd->cfg.vm_limits.tx, f->len, sd->sw->now_ns)) {
		port_rate_drop(sd, p);
		cap(p, CAPTURE_OUT, f->data, f->len, DROP_RATE_LIMIT);
		return;
	}
	/*
	 * No longer than the MTU handed out by DHCP allows (a vnet TAP's
	 * GSO superframe is legitimately larger; gso_validate checks that
	 * its segments fit): the uplink and other VMs would otherwise get
	 * frames their MTU says cannot exist.
	 */
	if (f->len > PKT_ETH_HLEN + sd->up.mtu &&
	    (f->vnet.gso_type & ~PKT_VNET_GSO_ECN) == PKT_VNET_GSO_NONE) {
		p->st.drops[DROP_OVERSIZE]++;
		cap(p, CAPTURE_OUT, f->data, f->len, DROP_OVERSIZE);
		return;
	}
	(void)pkt_parse(f->data, f->len, &pi);
	switch (filter_from_vm(&sd->net, &vm, &pi, &why)) {
	case FILTER_DROP:
		p->st.drops[why]++;
		cap(p, CAPTURE_OUT, f->data, f->len, (int)why);
		if (p->vnet && (why == DROP_SRC_MAC || why == DROP_RUNT))
			port_vnet_anomaly(sd, p);
		return;
	case FILTER_DHCP:
		to_dhcp(sd, p, &pi);
		return;
	case FILTER_PASS:
		break;
	}
	/* The VM's offload header must describe this very frame. */
	if (!gso_validate(&f->vnet, &pi)) {
		p->st.drops[DROP_VNET_HDR]++;
		cap(p, CAPTURE_OUT, f->data, f->len, DROP_VNET_HDR);
		port_vnet_anomaly(sd, p);
		return;
	}
	if (!segments_fit(sd, &f->vnet, &pi)) {
		p->st.drops[DROP_OVERSIZE]++;
		cap(p, CAPTURE_OUT, f->data, f->len, DROP_OVERSIZE);
		return;
	}
	cap(p, CAPTURE_OUT, f->data, f->len, CAPTURE_PASS);
	if (memcmp(pi.eth->dst, bcast, PKT_ETH_ALEN) == 0) {
		if (pi.arp != NULL)
			q = port_by_ip(sd, pkt_arp_tpa(pi.arp));
	} else if ((pi.eth->dst[0] & 1) == 0) {
		q = port_by_mac(sd, pi.eth->dst);
	}
	if (q == p)
		return;
	if (q != NULL)
		to_port(sd, q, &pi, &f->vnet);
	else
		queue_uplink(sd, f->data, f->len, f->cap, &f->vnet);
}

void
switch_from_vm(
    struct softnetd *sd, struct port *p, const uint8_t *frame, size_t len)
{
	struct frame f = {(uint8_t *)frame, len, len, {0}};

	sd->sw->now_ns = clock_mono();
	vm_frame(sd, p, &f);
	flush_uplink(sd);
}

/* Where the loop's CPU demand comes from (tests make it saturated). */
static uint64_t (*demand_fn)(void) = osdep_thread_demand_ns;

void
switch_set_demand_hook(uint64_t (*fn)(void))
{
	demand_fn = fn != NULL ? fn : osdep_thread_demand_ns;
}

/*
 * Ends the fair-share window if it is over, and notes whether the loop
 * was saturated in it: its thread ran or waited for a CPU nine tenths of
 * the window (a loop the scheduler starves serves its VMs no better than
 * a busy one).
 */
static void
fair_roll(struct softnetd *sd, uint64_t now)
{
	struct sw *sw = sd->sw;
	uint64_t demand, elapsed = now - sw->fair_start;

	if (elapsed < SW_FAIR_WINDOW)
		return;
	demand = demand_fn();
	/* Never backwards (a fallback from schedstat to CPU time could be). */
	if (demand >= sw->fair_demand &&
	    (demand - sw->fair_demand) * 10 >= elapsed * 9) {
		sw->st.fair_saturated++;
		sw->fair_hold = SW_FAIR_HOLD;
	} else if (sw->fair_hold > 0) {
		sw->fair_hold--;
	}
	sw->fair_demand = demand;
	sw->fair_prev = sw->fair_active;
	sw->fair_active = 0;
	sw->fair_busy = 0;
	sw->fair_start = now;
	if (++sw->fair_win == 0)
		sw->fair_win = 1;
}

/* Counts p as served in the current window (from its first batch). */
static void
fair_enter(struct sw *sw, struct port *p)
{
	if (p->fair_win == sw->fair_win)
		return;
	/* What was sent to it since it was last read: a VM paused past a
	 * window keeps the credit its answers earned. */
	p->clk_rx_prev = p->st.rx_frames - p->clk_rx0;
	p->clk_rx0 = p->st.rx_frames;
	p->clk_tx = 0;
	p->fair_win = sw->fair_win;
	p->fair_used = 0;
	sw->fair_active++;
}

/* VMs using the loop: in this window or the last, whichever had more. */
static unsigned
fair_users(const struct sw *sw)
{
	return sw->fair_active > sw->fair_prev ? sw->fair_active
	                                       : sw->fair_prev;
}

/*
 * Frames p may still read in this window under the clock rule (theory of
 * operation), UINT64_MAX when the rule does not hold.
 */
static uint64_t
clock_room(const struct sw *sw, const struct port *p)
{
	uint64_t allow;

	if (sw->fair_hold == 0 || fair_users(sw) < 2)
		return UINT64_MAX;
	allow =
	    SW_CLOCK_BASE +
	    SW_CLOCK_RATIO * (p->clk_rx_prev + p->st.rx_frames - p->clk_rx0);
	return allow > p->clk_tx ? allow - p->clk_tx : 0;
}

/* Pauses p to the end of the current fair-share window. */
static void
fair_pause(struct softnetd *sd, struct port *p, uint64_t now)
{
	struct sw *sw = sd->sw;
	uint64_t end = sw->fair_start + SW_FAIR_WINDOW;

	port_pause(sd, p, end > now ? end - now : 0);
}

/*
 * Charges p used ns of loop time in the current fair-share window (which
 * port_readable rolled and entered it in before the batch) and pauses it
 * to the window's end once it is over its share while other VMs use the
 * loop too.
 */
static void
fair_charge(struct softnetd *sd, struct port *p, uint64_t used, uint64_t now)
{
	struct sw *sw = sd->sw;
	unsigned n;

	p->fair_used += used;
	sw->fair_busy += used;
	n = fair_users(sw);
	/*
	 * Only while the loop is the bottleneck (on a CPU for VMs nine
	 * tenths of the window so far): otherwise nobody waits for it, and
	 * a pause would only cost the paused VM.
	 */
	if (n > 1 && p->fair_used > SW_FAIR_WINDOW / n &&
	    sw->fair_busy * 10 >= (now - sw->fair_start) * 9) {
		sw->st.fair_pauses++;
		fair_pause(sd, p, now);
	}
}

/*
 * Reads one batch from a VM port and switches it: no more frames than
 * its tx bucket has room for, none while the bucket is empty (the port
 * is paused until the bucket holds a batch, its excess left unread).
 */
static void
port_readable(struct softnetd *sd, struct port *p)
{
	struct sw *sw = sd->sw;
	const struct rate_limit *lim = &sd->cfg.vm_limits.tx;
	uint64_t wait, cpu, clk;
	unsigned room;
	int i, n;

	sw->now_ns = clock_mono();
	/* CPU time, not wall time: a preempted batch is not the VM's cost. */
	cpu = clock_thread_cpu();
	/* Room for one frame's bytes at least: a smaller one could pass. */
	room = rate_room(
	    &p->tx_rate, lim, (unsigned)sw->batch, PKT_ETH_HLEN, sw->now_ns);
	if (room == 0) {
		wait = rate_wait(&p->tx_rate, lim, (unsigned)sw->batch,
		    PKT_ETH_HLEN + sd->up.mtu, sw->now_ns);
		port_rate_pause(sd, p, wait);
		return;
	}
	fair_roll(sd, sw->now_ns);
	fair_enter(sw, p);
	if ((clk = clock_room(sw, p)) == 0) {
		sw->st.clock_pauses++;
		fair_pause(sd, p, sw->now_ns);
		return;
	}
	if (room > clk)
		room = (unsigned)clk;
	n = port_recv(sd, p, sw->in, (int)room);
	if (n > 0)
		p->clk_tx += (uint64_t)n;
	for (i = 0; i < n && !p->dead; i++)
		vm_frame(sd, p, &sw->in[i]);
	flush_uplink(sd);
	fair_charge(sd, p, clock_thread_cpu() - cpu, clock_mono());
}

void
switch_port_readable(struct softnetd *sd, struct port *p)
{
	port_readable(sd, p);
}

/*
 * Remembers the gateway's MAC from an ARP frame the host sent with the
 * gateway's address. On a TAP it is the uplink's own MAC (known at open);
 * vmnet never says the host bridge's MAC (uplink.h), so it is learned
 * here. A port already using it is failed: the switch would hand it every
 * frame the other VMs send to their router (Security model, rule 1).
 */
static void
learn_gateway_mac(struct softnetd *sd, const uint8_t *mac)
{
	struct sw *sw = sd->sw;
	struct port *p;

	if ((mac[0] & 1) != 0 ||
	    (sw->gw_mac_known && memcmp(sw->gw_mac, mac, 6) == 0))
		return;
	memcpy(sw->gw_mac, mac, 6);
	sw->gw_mac_known = true;
	if ((p = port_by_mac(sd, mac)) != NULL)
		port_fail(sd, p, "it uses the gateway's MAC address");
}

bool
switch_gateway_mac(struct softnetd *sd, uint8_t mac[6])
{
	if (sd->sw == NULL || !sd->sw->gw_mac_known)
		return false;
	memcpy(mac, sd->sw->gw_mac, 6);
	return true;
}

/* Switches one frame (or superframe) read from the uplink. */
static void
uplink_frame(struct softnetd *sd, struct frame *f)
{
	struct sw *sw = sd->sw;
	struct pkt_info pi;
	struct port *q = NULL;

	sw->st.uplink_rx_frames++;
	sw->st.uplink_rx_bytes += f->len;
	if (pkt_parse(f->data, f->len, &pi) == -1) {
		sw->st.uplink_runt++;
		return;
	}
	if (pi.arp != NULL && pkt_arp_spa(pi.arp) == sd->up.gateway)
		learn_gateway_mac(sd, pi.arp->sha);
	if ((pi.eth->dst[0] & 1) == 0) {
		if ((q = port_by_mac(sd, pi.eth->dst)) == NULL) {
			sw->st.uplink_no_port++;
			return;
		}
	} else if (pi.arp != NULL &&
	           memcmp(pi.eth->dst, bcast, PKT_ETH_ALEN) == 0) {
		q = port_by_ip(sd, pkt_arp_tpa(pi.arp));
	}
	if (q == NULL) {
		sw->st.uplink_flood++;
		return;
	}
	to_port(sd, q, &pi, &f->vnet);
}

void
switch_from_uplink(struct softnetd *sd, const uint8_t *frame, size_t len)
{
	struct frame f = {(uint8_t *)frame, len, len, {0}};

	sd->sw->now_ns = clock_mono();
	uplink_frame(sd, &f);
}

/* Event callback: the uplink is readable. */
static void
uplink_readable(evutil_socket_t fd, short what, void *arg)
{
	struct softnetd *sd = arg;
	struct sw *sw = sd->sw;
	int i, n;

	(void)fd;
	(void)what;
	sw->now_ns = clock_mono();
	if ((n = uplink_read(sd->uplink, sw->in, sw->batch)) < 0) {
		/* -1 is fatal (uplink.h): the uplink is gone for good. */
		softnetd_fail(sd, "uplink read failed");
		return;
	}
	for (i = 0; i < n; i++)
		uplink_frame(sd, &sw->in[i]);
}

void
switch_init(struct softnetd *sd)
{
	static const struct port_handlers handlers = {
	    port_readable, switch_unblock};
	struct sw *sw = xcalloc(1, sizeof(*sw));
	int i;

	sw->mem = xcalloc(SW_BATCH, PKT_MAX_FRAME);
	sw->seg_mem = xmalloc(SW_SEG_MEM);
	for (i = 0; i < SW_BATCH; i++) {
		sw->in[i].data = sw->mem + (size_t)i * PKT_MAX_FRAME;
		sw->in[i].cap = PKT_MAX_FRAME;
	}
	sw->batch = sd->no_batch ? 1 : SW_BATCH;
	sw->fair_win = 1;
	sw->fair_start = clock_mono();
	sw->fair_demand = demand_fn();
	sd->sw = sw;
	port_set_handlers(sd, &handlers);
	if (sd->uplink != NULL) {
		sw->uplink_ev = event_new(sd->base, uplink_fd(sd->uplink),
		    EV_READ | EV_PERSIST, uplink_readable, sd);
		if (sw->uplink_ev == NULL || event_add(sw->uplink_ev, NULL))
			fatalx("cannot watch the uplink");
	}
}

void
switch_shutdown(struct softnetd *sd)
{
	struct sw *sw = sd->sw;

	if (sw == NULL)
		return;
	if (sw->uplink_ev != NULL)
		event_free(sw->uplink_ev);
	free(sw->mem);
	free(sw->seg_mem);
	free(sw);
	sd->sw = NULL;
}

const struct sw_stats *
switch_stats(struct softnetd *sd)
{
	return &sd->sw->st;
}
