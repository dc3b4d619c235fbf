/*
 * Theory of operation: one scrape renders every family from the live
 * state, with nothing kept between scrapes and nothing added to the frame
 * path. The counters are the ones the modules keep anyway (port_stats,
 * sw_stats, the control op counts in struct softnetd, vm.c's attach
 * histogram); the lease gauges are count queries on indexes
 * (leasedb_counts), so a scrape costs O(VMs), never O(lease rows).
 *
 * Per-VM series carry vm (name, "" when unnamed), id and owner (uid):
 * they exist for the VMs attached now, so cardinality follows the VMs
 * and a detached VM's series disappear. A drop reason appears for a VM
 * once it counted one. Who is asking is the listener's to find out
 * (metrics_http.c: peer credentials, or the TCP listener's per_vm); what
 * they may see is decided here, by struct metrics_view: every VM, the
 * VMs one uid owns, or none. A VM outside the view is skipped whole, so
 * nothing of it (name, id, owner, a drop reason) reaches the scraper.
 * The per-host totals (softnet_vms_*) sum every VM, detached ones too
 * (port_totals), and carry no VM label: they are for every scraper.
 *
 * Label values are escaped as the format says (backslash, double quote,
 * newline); names and HELP texts are constants.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <event2/buffer.h>

#include "clock.h"
#include "ctl_ops.h"
#include "dhcp.h"
#include "drop.h"
#include "leasedb.h"
#include "metrics.h"
#include "osdep.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "vm.h"

const int metrics_codes[METRICS_NCODES] = {200, 400, 404, 405, 431, 500, 505};

/* A family's "# HELP" and "# TYPE" lines. */
static int
family(
    struct evbuffer *out, const char *name, const char *type, const char *help)
{
	return evbuffer_add_printf(out,
	           "# HELP softnet_%s %s\n# TYPE softnet_%s %s\n", name, help,
	           name, type) < 0
	           ? -1
	           : 0;
}

/* Appends s as a label value, escaped (\\, \", \n). */
static int
label_value(struct evbuffer *out, const char *s)
{
	const char *run = s;
	int rc = 0;

	for (; *s != '\0'; s++) {
		const char *esc = *s == '\\'   ? "\\\\"
		                  : *s == '"'  ? "\\\""
		                  : *s == '\n' ? "\\n"
		                               : NULL;
		if (esc == NULL)
			continue;
		rc |= evbuffer_add(out, run, (size_t)(s - run));
		rc |= evbuffer_add(out, esc, 2);
		run = s + 1;
	}
	rc |= evbuffer_add(out, run, (size_t)(s - run));
	return rc == 0 ? 0 : -1;
}

/* Appends one sample line: name{labels} value; labels may be "". */
static int
sample(struct evbuffer *out, const char *name, const char *labels,
    unsigned long long v)
{
	return evbuffer_add_printf(out, "softnet_%s%s%s%s %llu\n", name,
	           labels[0] ? "{" : "", labels, labels[0] ? "}" : "", v) < 0
	           ? -1
	           : 0;
}

/* The VM's label set vm="...",id="...",owner="..." into out. */
static int
vm_labels(struct evbuffer *out, const struct port *p)
{
	if (evbuffer_add_printf(out, "vm=\"") < 0 ||
	    label_value(out, p->name) == -1 ||
	    evbuffer_add_printf(out, "\",id=\"%u\",owner=\"%lld\"", p->id,
	        (long long)p->owner) < 0)
		return -1;
	return 0;
}

/* One per-VM sample: name{vm labels[,extra]} v. */
static int
vm_sample(struct evbuffer *out, const char *name, const struct port *p,
    const char *extra, unsigned long long v)
{
	if (evbuffer_add_printf(out, "softnet_%s{", name) < 0 ||
	    vm_labels(out, p) == -1 ||
	    evbuffer_add_printf(
	        out, "%s%s} %llu\n", extra[0] ? "," : "", extra, v) < 0)
		return -1;
	return 0;
}

/* What a per-VM family shows of a port. */
enum vm_field { VM_FRAMES, VM_BYTES, VM_BACKLOG, VM_HUNG, VM_INFO };

/* Whether the scraper of view may see p's series. */
static bool
visible(const struct metrics_view *view, const struct port *p)
{
	switch (view->scope) {
	case METRICS_VMS_ALL:
		return true;
	case METRICS_VMS_OWN:
		return p->owner == (int64_t)view->uid;
	default:
		return false;
	}
}

/* One per-VM family over every attached VM the view shows. */
static int
vm_family(struct softnetd *sd, struct evbuffer *out,
    const struct metrics_view *view, enum vm_field f)
{
	struct port *p;
	char extra[64];
	int rc = 0;

	TAILQ_FOREACH(p, port_all(sd), entry) {
		if (!visible(view, p))
			continue;
		switch (f) {
		case VM_FRAMES:
			rc |= vm_sample(out, "vm_frames_total", p,
			    "direction=\"tx\"", p->st.tx_frames);
			rc |= vm_sample(out, "vm_frames_total", p,
			    "direction=\"rx\"", p->st.rx_frames);
			break;
		case VM_BYTES:
			rc |= vm_sample(out, "vm_bytes_total", p,
			    "direction=\"tx\"", p->st.tx_bytes);
			rc |= vm_sample(out, "vm_bytes_total", p,
			    "direction=\"rx\"", p->st.rx_bytes);
			break;
		case VM_BACKLOG:
			rc |= vm_sample(
			    out, "vm_backlog_frames", p, "", port_backlog(p));
			break;
		case VM_HUNG:
			rc |= vm_sample(
			    out, "vm_hung", p, "", p->uplink_blocked ? 1 : 0);
			break;
		case VM_INFO:
			snprintf(extra, sizeof(extra), "state=\"%s\"",
			    port_state(p));
			rc |= vm_sample(out, "vm_info", p, extra, 1);
			break;
		}
	}
	return rc == 0 ? 0 : -1;
}

/* Drops by reason, per VM: the reasons that counted at least one. */
static int
vm_drops(
    struct softnetd *sd, struct evbuffer *out, const struct metrics_view *view)
{
	struct port *p;
	char extra[64];
	int r, rc = 0;

	TAILQ_FOREACH(p, port_all(sd), entry) {
		if (!visible(view, p))
			continue;
		for (r = 0; r < DROP__COUNT; r++) {
			if (p->st.drops[r] == 0)
				continue;
			snprintf(extra, sizeof(extra), "reason=\"%s\"",
			    drop_reason_name(r));
			rc |= vm_sample(
			    out, "vm_drops_total", p, extra, p->st.drops[r]);
		}
	}
	return rc == 0 ? 0 : -1;
}

/*
 * The per-VM families; with no VM in view (METRICS_VMS_NONE) not even
 * their HELP lines, so such a scrape holds no vm label at all.
 */
static int
render_vms(
    struct softnetd *sd, struct evbuffer *out, const struct metrics_view *v)
{
	if (v->scope == METRICS_VMS_NONE)
		return 0;
	if (family(out, "vm_info", "gauge",
	        "Attached VMs (1 each); state is attached or leased.") ||
	    vm_family(sd, out, v, VM_INFO) ||
	    family(out, "vm_frames_total", "counter",
	        "Frames of a VM; direction tx = sent by the VM, rx = "
	        "delivered to it.") ||
	    vm_family(sd, out, v, VM_FRAMES) ||
	    family(out, "vm_bytes_total", "counter",
	        "Bytes of a VM; direction as in softnet_vm_frames_total.") ||
	    vm_family(sd, out, v, VM_BYTES) ||
	    family(out, "vm_drops_total", "counter",
	        "Frames of a VM dropped, by reason (daemon/drop.h).") ||
	    vm_drops(sd, out, v) ||
	    family(out, "vm_backlog_frames", "gauge",
	        "Frames held for a VM whose buffer is full.") ||
	    vm_family(sd, out, v, VM_BACKLOG) ||
	    family(out, "vm_hung", "gauge",
	        "1 while a VM reads nothing and the uplink drops its "
	        "frames.") ||
	    vm_family(sd, out, v, VM_HUNG))
		return -1;
	return 0;
}

/* Every VM's traffic and drops summed (detached ones too), no VM named. */
static int
render_totals(struct softnetd *sd, struct evbuffer *out)
{
	struct port_stats t;
	struct port *p;
	unsigned long long hung = 0;
	char labels[64];
	int r, rc = 0;

	port_totals(sd, &t);
	TAILQ_FOREACH(p, port_all(sd), entry)
		hung += p->uplink_blocked ? 1 : 0;
	rc |= family(out, "vms_frames_total", "counter",
	    "Frames of all VMs together since softnetd started; direction "
	    "as in softnet_vm_frames_total.");
	rc |= sample(out, "vms_frames_total", "direction=\"tx\"", t.tx_frames);
	rc |= sample(out, "vms_frames_total", "direction=\"rx\"", t.rx_frames);
	rc |= family(out, "vms_bytes_total", "counter",
	    "Bytes of all VMs together; direction as in "
	    "softnet_vm_frames_total.");
	rc |= sample(out, "vms_bytes_total", "direction=\"tx\"", t.tx_bytes);
	rc |= sample(out, "vms_bytes_total", "direction=\"rx\"", t.rx_bytes);
	rc |= family(out, "vms_drops_total", "counter",
	    "Frames of all VMs together dropped, by reason (those counted).");
	for (r = 0; r < DROP__COUNT; r++) {
		if (t.drops[r] == 0)
			continue;
		snprintf(labels, sizeof(labels), "reason=\"%s\"",
		    drop_reason_name(r));
		rc |= sample(out, "vms_drops_total", labels, t.drops[r]);
	}
	rc |= family(out, "vms_hung", "gauge", "VMs hung now.");
	rc |= sample(out, "vms_hung", "", hung);
	return rc == 0 ? 0 : -1;
}

/* Pool and lease gauges. */
static int
render_leases(struct softnetd *sd, struct evbuffer *out)
{
	struct leasedb_counts c;
	uint64_t pool = sd->up.pool_end >= sd->up.pool_start
	                    ? (uint64_t)sd->up.pool_end - sd->up.pool_start + 1
	                    : 0;

	if (sd->up.gateway >= sd->up.pool_start &&
	    sd->up.gateway <= sd->up.pool_end && pool > 0)
		pool--;
	if (leasedb_counts(sd->db, clock_now(), &c) == -1)
		memset(&c, 0, sizeof(c));
	if (family(out, "vms", "gauge", "VMs attached.") ||
	    sample(out, "vms", "", port_count(sd)) ||
	    family(out, "vms_max", "gauge", "The max_vms setting.") ||
	    sample(out, "vms_max", "", sd->cfg.max_vms) ||
	    family(out, "pool_addresses", "gauge",
	        "Addresses the DHCP pool hands out.") ||
	    sample(out, "pool_addresses", "", pool) ||
	    family(out, "leases", "gauge",
	        "Unexpired leases by state (bound, offered).") ||
	    sample(out, "leases", "state=\"bound\"", c.bound) ||
	    sample(out, "leases", "state=\"offered\"", c.offered) ||
	    family(out, "leases_quarantined", "gauge",
	        "Addresses in DECLINE quarantine.") ||
	    sample(out, "leases_quarantined", "", c.quarantined))
		return -1;
	return 0;
}

/* DHCP message counters by type and direction. */
static int
render_dhcp(struct softnetd *sd, struct evbuffer *out)
{
	static const char *const types[DHCP_TYPE__COUNT] = {"none", "discover",
	    "offer", "request", "decline", "ack", "nak", "release", "inform"};
	const struct sw_stats *st = switch_stats(sd);
	char labels[64];
	int i, rc = 0;

	if (family(out, "dhcp_messages_total", "counter",
	        "DHCP messages by type; direction in = from VMs (none: no "
	        "or an unparsable type), out = replies.") == -1)
		return -1;
	for (i = 0; i < DHCP_TYPE__COUNT; i++) {
		snprintf(labels, sizeof(labels), "type=\"%s\",direction=\"in\"",
		    types[i]);
		rc |=
		    sample(out, "dhcp_messages_total", labels, st->dhcp_rx[i]);
	}
	for (i = DHCP_OFFER; i < DHCP_TYPE__COUNT; i++) {
		if (i != DHCP_OFFER && i != DHCP_ACK && i != DHCP_NAK)
			continue;
		snprintf(labels, sizeof(labels),
		    "type=\"%s\",direction=\"out\"", types[i]);
		rc |=
		    sample(out, "dhcp_messages_total", labels, st->dhcp_tx[i]);
	}
	rc |= family(out, "dhcp_pool_full_total", "counter",
	    "DISCOVERs left unanswered: no free address.");
	rc |= sample(out, "dhcp_pool_full_total", "", st->dhcp_pool_full);
	return rc == 0 ? 0 : -1;
}

/* Control requests by op and result. */
static int
render_control(struct softnetd *sd, struct evbuffer *out)
{
	char labels[96];
	const char *op;
	size_t i;
	int r, rc = 0;

	if (family(out, "control_requests_total", "counter",
	        "Control requests by op (invalid: none named) and result.") ==
	    -1)
		return -1;
	for (i = 0; i < SOFTNETD_CTL_SLOTS; i++) {
		op = i == SOFTNETD_CTL_SLOTS - 1 ? "invalid" : ctl_ops_name(i);
		if (op == NULL)
			continue;
		for (r = 0; r < 2; r++) {
			snprintf(labels, sizeof(labels),
			    "op=\"%s\",result=\"%s\"", op,
			    r == 0 ? "ok" : "error");
			rc |= sample(out, "control_requests_total", labels,
			    sd->ctl_requests[i][r]);
		}
	}
	return rc == 0 ? 0 : -1;
}

/* The attach latency histogram, in seconds. */
static int
render_attach(struct softnetd *sd, struct evbuffer *out)
{
	const char *n = "attach_duration_seconds";
	const struct vm_attach_hist *h;
	const uint64_t *bounds;
	unsigned long long cum = 0;
	int i, rc = 0;

	h = vm_attach_hist(sd, &bounds);
	rc |= family(out, n, "histogram",
	    "Time the daemon took to attach a VM (successful attaches).");
	for (i = 0; i <= VM_ATTACH_BUCKETS; i++) {
		cum += h->buckets[i];
		if (i < VM_ATTACH_BUCKETS)
			rc |= evbuffer_add_printf(out,
			          "softnet_%s_bucket{le=\"%g\"} %llu\n", n,
			          (double)bounds[i] / 1e9, cum) < 0;
		else
			rc |= evbuffer_add_printf(out,
			          "softnet_%s_bucket{le=\"+Inf\"} %llu\n", n,
			          cum) < 0;
	}
	rc |= evbuffer_add_printf(
	          out, "softnet_%s_sum %.9f\n", n, (double)h->sum_ns / 1e9) < 0;
	rc |= evbuffer_add_printf(out, "softnet_%s_count %llu\n", n,
	          (unsigned long long)h->count) < 0;
	return rc == 0 ? 0 : -1;
}

/* The uplink's counters. */
static int
render_uplink(struct softnetd *sd, struct evbuffer *out)
{
	const struct sw_stats *st = switch_stats(sd);

	if (family(out, "uplink_frames_total", "counter",
	        "Uplink frames; direction rx = read from it, tx = written.") ||
	    sample(out, "uplink_frames_total", "direction=\"rx\"",
	        st->uplink_rx_frames) ||
	    sample(out, "uplink_frames_total", "direction=\"tx\"",
	        st->uplink_tx_frames) ||
	    family(out, "uplink_bytes_total", "counter",
	        "Uplink bytes; direction as in softnet_uplink_frames_total.") ||
	    sample(out, "uplink_bytes_total", "direction=\"rx\"",
	        st->uplink_rx_bytes) ||
	    sample(out, "uplink_bytes_total", "direction=\"tx\"",
	        st->uplink_tx_bytes) ||
	    family(out, "uplink_errors_total", "counter",
	        "Uplink frames lost: write (the uplink refused one), runt "
	        "(shorter than Ethernet), no_port (for no attached MAC), "
	        "flood (broadcast/multicast for no VM), hung_vm (for a hung "
	        "VM).") ||
	    sample(out, "uplink_errors_total", "kind=\"write\"",
	        st->uplink_write_drop) ||
	    sample(
	        out, "uplink_errors_total", "kind=\"runt\"", st->uplink_runt) ||
	    sample(out, "uplink_errors_total", "kind=\"no_port\"",
	        st->uplink_no_port) ||
	    sample(out, "uplink_errors_total", "kind=\"flood\"",
	        st->uplink_flood) ||
	    sample(out, "uplink_errors_total", "kind=\"hung_vm\"",
	        st->uplink_blocks))
		return -1;
	return 0;
}

/* Process metrics that cost a system call or two. */
static int
render_process(struct softnetd *sd, struct evbuffer *out)
{
	struct rusage ru;
	int64_t rss = -1, fds = -1;
	double cpu = 0;
	int rc = 0;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	osdep_self_usage(&rss, &fds);
	rc |= family(out, "process_cpu_seconds_total", "counter",
	    "CPU time softnetd used (user and system).");
	rc |= evbuffer_add_printf(
	          out, "softnet_process_cpu_seconds_total %.6f\n", cpu) < 0;
	rc |= family(out, "process_start_time_seconds", "gauge",
	    "When softnetd started (unix seconds).");
	rc |= sample(out, "process_start_time_seconds", "",
	    (unsigned long long)sd->started);
	if (rss >= 0) {
		rc |= family(out, "process_resident_memory_bytes", "gauge",
		    "Resident memory of softnetd.");
		rc |= sample(out, "process_resident_memory_bytes", "",
		    (unsigned long long)rss);
	}
	if (fds >= 0) {
		rc |= family(out, "process_open_fds", "gauge",
		    "Descriptors softnetd holds open.");
		rc |= sample(
		    out, "process_open_fds", "", (unsigned long long)fds);
	}
	rc |= family(out, "build_info", "gauge",
	    "softnetd's version and protocol (always 1).");
	rc |= evbuffer_add_printf(out,
	          "softnet_build_info{version=\"%s\",protocol=\"%d\"} 1\n",
	          SOFTNET_VERSION, SOFTNET_PROTO_VERSION) < 0;
	return rc == 0 ? 0 : -1;
}

/* The metrics endpoint's own connections and answers. */
static int
render_server(const struct metrics_server *m, struct evbuffer *out)
{
	static const char *const why[METRICS_REFUSED__COUNT] = {
	    "limit", "reserved", "per_user", "credentials"};
	char labels[64];
	int i, rc = 0;

	rc |= family(out, "metrics_connections", "gauge",
	    "Connections to the metrics endpoint open now.");
	rc |= sample(out, "metrics_connections", "", m->open);
	rc |= family(out, "metrics_connections_total", "counter",
	    "Connections the metrics endpoint accepted and served.");
	rc |= sample(out, "metrics_connections_total", "", m->accepted);
	rc |= family(out, "metrics_refused_total", "counter",
	    "Connections refused with 503 (403: credentials), by reason: "
	    "limit (all slots taken), reserved (the last slots are root's "
	    "and admin_group's), per_user (the uid holds its share), "
	    "credentials (unreadable).");
	for (i = 0; i < METRICS_REFUSED__COUNT; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", why[i]);
		rc |=
		    sample(out, "metrics_refused_total", labels, m->refused[i]);
	}
	rc |= family(out, "metrics_requests_total", "counter",
	    "Requests the metrics endpoint answered, by status code.");
	for (i = 0; i < METRICS_NCODES; i++) {
		snprintf(
		    labels, sizeof(labels), "code=\"%d\"", metrics_codes[i]);
		rc |= sample(
		    out, "metrics_requests_total", labels, m->requests[i]);
	}
	return rc == 0 ? 0 : -1;
}

int
metrics_render(
    struct softnetd *sd, struct evbuffer *out, const struct metrics_view *view)
{
	if (render_vms(sd, out, view) == -1 || render_totals(sd, out) == -1 ||
	    render_leases(sd, out) == -1 || render_dhcp(sd, out) == -1 ||
	    render_control(sd, out) == -1 || render_attach(sd, out) == -1 ||
	    render_uplink(sd, out) == -1 || render_process(sd, out) == -1 ||
	    (view->server != NULL && render_server(view->server, out) == -1))
		return -1;
	return 0;
}
