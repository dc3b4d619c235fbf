/*
 * The metrics (metrics.c) and their HTTP endpoint (metrics_http.c)
 * against a hand-built daemon context with real VM ports (datagram
 * socket pairs), the switch and an in-memory lease database.
 *
 * What is checked: the rendering parses under a strict checker of the
 * text exposition format 0.0.4 (metric and label names, escaped label
 * values, numbers, HELP/TYPE once per family and before its samples,
 * a family's samples together, no series twice, histogram buckets
 * cumulative up to +Inf = _count), its numbers are the VMs' counters
 * (frames, drops by reason, control requests, DHCP), a detached VM's
 * series are gone, and label values are escaped. Who sees what: a uid's
 * view holds nothing of another's VM (not its name, id or owner), a view
 * with no VM holds no vm label at all, and the per-host totals keep a
 * detached VM's counts. The request parser answers each status it
 * promises, and the server answers one request per connection, refuses
 * connections past its limit (503), past a uid's share and into the
 * admin reserve (503, counted by reason, while root still gets 200), and
 * never answers a pipelined second request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "config.h"
#include "ctl_ops.h"
#include "metrics.h"
#include "metrics_http.h"
#include "policy.h"
#include "port.h"
#include "softnetd.h"
#include "switch.h"
#include "testd.h"
#include "vm.h"

static struct softnetd sd;
static const uint8_t upmac[6] = {0x02, 0x5e, 0, 0, 0, 0xfe};

/* ---- A strict exposition-format checker ---- */

#define MAX_SERIES 4096
#define MAX_FAM    128

struct expo {
	char fam[MAX_FAM][96];
	char type[MAX_FAM][16];
	bool help[MAX_FAM];
	size_t nfam;
	char *series[MAX_SERIES]; /* "name{labels}" as written */
	double value[MAX_SERIES];
	size_t nseries;
	bool closed[MAX_FAM]; /* its samples ended: no more may come */
	int last;             /* the family of the last sample, -1 none */
};

static bool
name_ok(const char *s, size_t n, bool colon)
{
	size_t i;

	if (n == 0 || isdigit((unsigned char)s[0]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    !(colon && s[i] == ':'))
			return false;
	return true;
}

/* The family a sample name belongs to (histogram suffixes stripped). */
static int
family_of(struct expo *e, const char *name)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	size_t i, j, n = strlen(name), l;

	for (i = 0; i < e->nfam; i++)
		if (strcmp(e->fam[i], name) == 0)
			return (int)i;
	for (j = 0; j < 3; j++) {
		l = strlen(sfx[j]);
		if (n <= l || strcmp(name + n - l, sfx[j]) != 0)
			continue;
		for (i = 0; i < e->nfam; i++)
			if (strlen(e->fam[i]) == n - l &&
			    strncmp(e->fam[i], name, n - l) == 0 &&
			    strcmp(e->type[i], "histogram") == 0)
				return (int)i;
	}
	return -1;
}

/* Parses {a="b",...} at s; returns the end or NULL. */
static const char *
labels_ok(const char *s)
{
	const char *n;

	if (*s != '{')
		return s;
	s++;
	while (*s != '}') {
		n = s;
		while (isalnum((unsigned char)*s) || *s == '_')
			s++;
		if (!name_ok(n, (size_t)(s - n), false) || strncmp(s, "=\"", 2))
			return NULL;
		for (s += 2; *s != '"'; s++) {
			if (*s == '\0' || *s == '\n')
				return NULL;
			if (*s == '\\' && s[1] != '\\' && s[1] != '"' &&
			    s[1] != 'n')
				return NULL;
			if (*s == '\\')
				s++;
		}
		s++;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return NULL;
	}
	return s + 1;
}

/* Checks one line; fails the test on a violation. */
static void
expo_line(struct expo *e, char *line)
{
	char name[96], *sp, *end;
	const char *le;
	size_t n, i;
	int f;

	if (strncmp(line, "# HELP ", 7) == 0 ||
	    strncmp(line, "# TYPE ", 7) == 0) {
		bool help = line[2] == 'H';
		sp = strchr(line + 7, ' ');
		assert_non_null(sp);
		n = (size_t)(sp - (line + 7));
		assert_true(n < sizeof(name) && name_ok(line + 7, n, true));
		memcpy(name, line + 7, n);
		name[n] = '\0';
		for (i = 0; i < e->nfam && strcmp(e->fam[i], name); i++)
			;
		if (i == e->nfam) {
			assert_true(e->nfam < MAX_FAM);
			snprintf(e->fam[e->nfam++], 96, "%s", name);
		}
		if (help) {
			assert_false(e->help[i]);
			e->help[i] = true;
		} else {
			assert_string_equal(e->type[i], "");
			assert_true(strcmp(sp + 1, "counter") == 0 ||
			            strcmp(sp + 1, "gauge") == 0 ||
			            strcmp(sp + 1, "histogram") == 0);
			snprintf(e->type[i], 16, "%s", sp + 1);
		}
		return;
	}
	assert_true(line[0] != '#' && line[0] != '\0');
	for (n = 0; line[n] != '\0' && line[n] != '{' && line[n] != ' '; n++)
		;
	assert_true(n < sizeof(name) && name_ok(line, n, true));
	memcpy(name, line, n);
	name[n] = '\0';
	f = family_of(e, name);
	if (f < 0)
		print_error("sample %s has no # TYPE before it\n", name);
	assert_true(f >= 0);
	assert_true(e->help[f] && e->type[f][0] != '\0');
	/* A family's samples stay together. */
	if (e->last < 0 || e->last != f) {
		assert_false(e->closed[f]);
		if (e->last >= 0)
			e->closed[e->last] = true;
		e->last = f;
	}
	le = labels_ok(line + n);
	if (le == NULL)
		print_error("bad labels: %s\n", line);
	assert_non_null(le);
	assert_true(*le == ' ');
	for (i = 0; i < e->nseries; i++)
		if (strncmp(e->series[i], line, (size_t)(le - line)) == 0 &&
		    e->series[i][le - line] == '\0')
			fail_msg("series twice: %s", line);
	assert_true(e->nseries < MAX_SERIES);
	e->series[e->nseries] = strndup(line, (size_t)(le - line));
	errno = 0;
	e->value[e->nseries] = strtod(le + 1, &end);
	assert_true(end != le + 1 && *end == '\0' && errno == 0);
	e->nseries++;
}

/* Parses a whole rendering, checking it line by line. */
static void
expo_parse(struct expo *e, const char *text)
{
	char *copy = strdup(text), *line, *save = NULL;
	size_t len = strlen(text);

	memset(e, 0, sizeof(*e));
	e->last = -1;
	assert_true(len > 0 && text[len - 1] == '\n');
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		expo_line(e, line);
	free(copy);
}

static void
expo_free(struct expo *e)
{
	size_t i;

	for (i = 0; i < e->nseries; i++)
		free(e->series[i]);
}

/* The value of series s ("name{labels}"), or -1 when absent. */
static double
expo_get(const struct expo *e, const char *s)
{
	size_t i;

	for (i = 0; i < e->nseries; i++)
		if (strcmp(e->series[i], s) == 0)
			return e->value[i];
	return -1;
}

/* Whether any series starts with prefix. */
static bool
expo_has(const struct expo *e, const char *prefix)
{
	size_t i;

	for (i = 0; i < e->nseries; i++)
		if (strncmp(e->series[i], prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

/* Renders sd as view shows it; the text, to free. */
static char *
render(const struct metrics_view *view)
{
	struct evbuffer *b = evbuffer_new();
	char *text;
	size_t len;

	assert_int_equal(metrics_render(&sd, b, view), 0);
	len = evbuffer_get_length(b);
	text = calloc(1, len + 1);
	evbuffer_remove(b, text, len);
	evbuffer_free(b);
	return text;
}

/* Renders sd as view shows it and parses it strictly. */
static void
scrape_as(struct expo *e, const struct metrics_view *view)
{
	char *text = render(view);

	expo_parse(e, text);
	free(text);
}

/* Renders every VM (an admin's view) and parses it strictly. */
static void
scrape(struct expo *e)
{
	struct metrics_view all = {METRICS_VMS_ALL, 0, NULL};

	scrape_as(e, &all);
}

/* ---- The daemon ---- */

static int
setup(void **state)
{
	(void)state;
	testd_open(&sd, upmac);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	metrics_http_shutdown(&sd);
	testd_close(&sd);
	return 0;
}

/* Attaches a VM with MAC ..:last named name for uid owner. */
static struct port *
attach(uint8_t last, const char *name, int64_t owner, int *peer)
{
	struct policy pol;
	struct vm_attach_args a = {.kind = OSDEP_FD_DGRAM, .owner = owner};
	enum vm_err err;
	char msg[256];
	struct port *p;

	policy_init(&pol);
	a.fd = testd_pair(SOCK_DGRAM, peer);
	a.mac[0] = 0x02;
	a.mac[5] = last;
	a.name = name;
	a.policy = &pol;
	p = vm_attach(&sd, &a, &err, msg, sizeof(msg));
	if (p == NULL)
		print_error("attach: %s\n", msg);
	assert_non_null(p);
	return p;
}

/* The VM's frames, drops and the control counters are the ones kept. */
static void
test_render_counts(void **state)
{
	struct ctl_peer root = {0, 0, true};
	uint8_t frame[60] = {0};
	struct port *a, *b;
	struct expo e;
	json_t *r;
	char s[256];
	int i;

	(void)state;
	a = attach(1, "web", 1000, NULL);
	b = attach(2, "db", 1001, NULL);
	/* Three frames from a's VM with b's MAC as source: src_mac drops. */
	memcpy(frame, "\xff\xff\xff\xff\xff\xff\x02\0\0\0\0\x02\x08\x00", 14);
	for (i = 0; i < 3; i++)
		switch_from_vm(&sd, a, frame, sizeof(frame));
	switch_from_vm(&sd, a, frame, 10); /* a runt */
	r = ctl_ops_request(&sd, &root, "{\"op\":\"list\"}", 13, -1, NULL);
	json_decref(r);
	r = ctl_ops_request(&sd, &root, "{\"op\":\"nope\"}", 13, -1, NULL);
	json_decref(r);
	r = ctl_ops_request(
	    &sd, &root, "{\"op\":\"show\",\"vm\":\"zz\"}", 23, -1, NULL);
	json_decref(r);

	scrape(&e);
	snprintf(s, sizeof(s),
	    "softnet_vm_drops_total{vm=\"web\",id=\"%u\",owner=\"1000\","
	    "reason=\"src_mac\"}",
	    a->id);
	assert_true(expo_get(&e, s) == 3);
	assert_int_equal(a->st.drops[DROP_SRC_MAC], 3);
	snprintf(s, sizeof(s),
	    "softnet_vm_drops_total{vm=\"web\",id=\"%u\",owner=\"1000\","
	    "reason=\"runt\"}",
	    a->id);
	assert_true(expo_get(&e, s) == 1);
	snprintf(s, sizeof(s),
	    "softnet_vm_frames_total{vm=\"web\",id=\"%u\",owner=\"1000\","
	    "direction=\"tx\"}",
	    a->id);
	assert_true(expo_get(&e, s) == (double)a->st.tx_frames);
	/* No drop series for a reason b never counted. */
	snprintf(
	    s, sizeof(s), "softnet_vm_drops_total{vm=\"db\",id=\"%u\"", b->id);
	assert_false(expo_has(&e, s));
	snprintf(s, sizeof(s),
	    "softnet_vm_hung{vm=\"db\",id=\"%u\",owner=\"1001\"}", b->id);
	assert_true(expo_get(&e, s) == 0);
	assert_true(expo_get(&e, "softnet_vms") == 2);
	assert_true(expo_get(&e, "softnet_pool_addresses") == 253);
	assert_true(expo_get(&e, "softnet_control_requests_total{op=\"list\","
	                         "result=\"ok\"}") == 1);
	assert_true(
	    expo_get(&e, "softnet_control_requests_total{op=\"invalid\","
	                 "result=\"error\"}") == 1);
	assert_true(expo_get(&e, "softnet_control_requests_total{op=\"show\","
	                         "result=\"error\"}") == 1);
	assert_true(expo_get(&e, "softnet_attach_duration_seconds_count") == 2);
	assert_true(
	    expo_get(&e,
	        "softnet_attach_duration_seconds_bucket{le=\"+Inf\"}") == 2);
	expo_free(&e);
}

/* A detached VM's series are gone; the others stay. */
static void
test_detached_disappear(void **state)
{
	struct port *a, *b;
	struct expo e;
	char s[128];

	(void)state;
	a = attach(1, "one", 1000, NULL);
	b = attach(2, "two", 1000, NULL);
	vm_detach(&sd, a);
	scrape(&e);
	assert_false(expo_has(&e, "softnet_vm_info{vm=\"one\""));
	snprintf(s, sizeof(s), "softnet_vm_info{vm=\"two\",id=\"%u\"", b->id);
	assert_true(expo_has(&e, s));
	assert_true(expo_get(&e, "softnet_vms") == 1);
	expo_free(&e);
}

/* Label values are escaped: a quote, a backslash, a newline. */
static void
test_escaping(void **state)
{
	struct port *a;
	struct expo e;
	char s[160];

	(void)state;
	a = attach(1, "x", 7, NULL);
	snprintf(a->name, sizeof(a->name), "a\"b\\c\nd");
	scrape(&e);
	snprintf(s, sizeof(s),
	    "softnet_vm_info{vm=\"a\\\"b\\\\c\\nd\",id=\"%u\",owner=\"7\","
	    "state=\"attached\"}",
	    a->id);
	assert_true(expo_get(&e, s) == 1);
	expo_free(&e);
}

/*
 * A uid's view holds its own VMs' series and nothing of another's: not
 * its name, id or owner, not even in a drop reason only it counted.
 */
static void
test_view_own(void **state)
{
	struct metrics_view mine = {METRICS_VMS_OWN, 1000, NULL};
	uint8_t frame[60] = {0};
	struct port *a, *b;
	struct expo e;
	char s[160], *text;

	(void)state;
	a = attach(1, "web", 1000, NULL);
	b = attach(2, "secretdb", 1001, NULL);
	/* b's VM sends with a's MAC: a drop reason only b counts. */
	memcpy(frame, "\xff\xff\xff\xff\xff\xff\x02\0\0\0\0\x01\x08\x00", 14);
	switch_from_vm(&sd, b, frame, sizeof(frame));
	text = render(&mine);
	assert_null(strstr(text, "secretdb"));
	assert_null(strstr(text, "owner=\"1001\""));
	snprintf(s, sizeof(s), "id=\"%u\"", b->id);
	assert_null(strstr(text, s));
	assert_null(strstr(text, "softnet_vm_drops_total{"));
	expo_parse(&e, text);
	free(text);
	snprintf(s, sizeof(s),
	    "softnet_vm_info{vm=\"web\",id=\"%u\",owner=\"1000\","
	    "state=\"attached\"}",
	    a->id);
	assert_true(expo_get(&e, s) == 1);
	/* Host-level families are everyone's: both VMs count there. */
	assert_true(expo_get(&e, "softnet_vms") == 2);
	assert_true(
	    expo_get(&e, "softnet_vms_drops_total{reason=\"src_mac\"}") == 1);
	expo_free(&e);
	/* The other owner sees its VM and not a's. */
	mine.uid = 1001;
	text = render(&mine);
	assert_non_null(strstr(text, "secretdb"));
	assert_null(strstr(text, "vm=\"web\""));
	free(text);
}

/*
 * No VM in view (a TCP listener without per_vm): no vm, id or owner label
 * anywhere, and the per-host totals sum every VM, detached ones too.
 */
static void
test_view_none(void **state)
{
	struct metrics_view none = {METRICS_VMS_NONE, 0, NULL};
	uint8_t frame[60] = {0};
	struct port *a, *b;
	struct expo e;
	char *text;
	double tx;

	(void)state;
	a = attach(1, "web", 1000, NULL);
	b = attach(2, "db", 1001, NULL);
	memcpy(frame, "\xff\xff\xff\xff\xff\xff\x02\0\0\0\0\x02\x08\x00", 14);
	switch_from_vm(&sd, a, frame, sizeof(frame));
	switch_from_vm(&sd, a, frame, sizeof(frame));
	switch_from_vm(&sd, b, frame, 10); /* a runt */
	text = render(&none);
	assert_null(strstr(text, "vm=\""));
	assert_null(strstr(text, "owner=\""));
	assert_null(strstr(text, "id=\""));
	assert_null(strstr(text, "softnet_vm_info{"));
	assert_null(strstr(text, "softnet_vm_frames_total{"));
	assert_null(strstr(text, "\"web\""));
	expo_parse(&e, text);
	free(text);
	tx = (double)(a->st.tx_frames + b->st.tx_frames);
	assert_true(
	    expo_get(&e, "softnet_vms_frames_total{direction=\"tx\"}") == tx);
	assert_true(
	    expo_get(&e, "softnet_vms_drops_total{reason=\"src_mac\"}") == 2);
	assert_true(
	    expo_get(&e, "softnet_vms_drops_total{reason=\"runt\"}") == 1);
	assert_true(expo_get(&e, "softnet_vms_hung") == 0);
	expo_free(&e);
	/* Detaching a VM takes nothing from the totals (counters). */
	vm_detach(&sd, a);
	scrape_as(&e, &none);
	assert_true(
	    expo_get(&e, "softnet_vms_frames_total{direction=\"tx\"}") == tx);
	assert_true(
	    expo_get(&e, "softnet_vms_drops_total{reason=\"src_mac\"}") == 2);
	expo_free(&e);
}

/* The histogram's buckets are cumulative and end at _count. */
static void
test_histogram(void **state)
{
	struct expo e;
	double prev = 0, v;
	size_t i, nb = 0;
	int k;

	(void)state;
	for (k = 0; k < 5; k++)
		attach((uint8_t)(10 + k), NULL, 1, NULL);
	scrape(&e);
	for (i = 0; i < e.nseries; i++) {
		if (strncmp(e.series[i],
		        "softnet_attach_duration_seconds_bucket", 38) != 0)
			continue;
		v = e.value[i];
		assert_true(v >= prev);
		prev = v;
		nb++;
	}
	assert_int_equal(nb, VM_ATTACH_BUCKETS + 1);
	assert_true(prev == 5);
	assert_true(expo_get(&e, "softnet_attach_duration_seconds_count") == 5);
	expo_free(&e);
}

/* ---- The request parser ---- */

static int
parse(const char *s)
{
	return metrics_http_parse(s, strlen(s));
}

static void
test_parse(void **state)
{
	char big[METRICS_HTTP_MAX_REQUEST + 100];

	(void)state;
	assert_int_equal(
	    parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\n\r\n"), 200);
	assert_int_equal(parse("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n"
	                       "Accept: text/plain;version=0.0.4\r\n\r\n"),
	    200);
	/* Incomplete: more bytes may make it whole. */
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n"), 0);
	assert_int_equal(parse("GET /met"), 0);
	assert_int_equal(
	    parse("POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 405);
	assert_int_equal(parse("HEAD /metrics HTTP/1.0\r\n\r\n"), 405);
	assert_int_equal(parse("get /metrics HTTP/1.0\r\n\r\n"), 405);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 404);
	assert_int_equal(parse("GET /metricsx HTTP/1.0\r\n\r\n"), 404);
	assert_int_equal(parse("GET /metrics/ HTTP/1.0\r\n\r\n"), 404);
	assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n"), 505);
	assert_int_equal(
	    parse("GET /metrics HTTP/1.1\r\n\r\n"), 400); /* Host */
	assert_int_equal(parse("GET /metrics HTTP/1.1\nHost: x\n\n"), 400);
	assert_int_equal(parse("GET  /metrics HTTP/1.0\r\n\r\n"), 400);
	assert_int_equal(parse("GET /metrics HTTP/1.0 \r\n\r\n"), 400);
	assert_int_equal(parse("GET http://x/metrics HTTP/1.0\r\n\r\n"), 400);
	assert_int_equal(
	    parse("GET /metrics HTTP/1.0\r\n folded\r\n\r\n"), 400);
	assert_int_equal(
	    parse("GET /metrics HTTP/1.0\r\nBad Name: x\r\n\r\n"), 400);
	assert_int_equal(
	    parse("GET /metrics HTTP/1.0\r\nX: a\x01z\r\n\r\n"), 400);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y"
	                       "\r\n\r\n"),
	    400);
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\nContent-Length: 5\r\n"
	                       "\r\nhello"),
	    400);
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\nContent-Length: 0\r\n"
	                       "\r\n"),
	    200);
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\nTransfer-Encoding: "
	                       "chunked\r\n\r\n"),
	    400);
	assert_int_equal(parse("\x16\x03\x01\x02"), 400); /* TLS, at once */
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\nX: \x01"), 400);
	assert_int_equal(
	    metrics_http_parse("GET /metrics\0 HTTP/1.0\r\n\r\n", 27), 400);
	assert_int_equal(parse("\r\n\r\n"), 400);
	/* Pipelined: the first request decides; the rest is not read. */
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\n\r\nPOST / HTTP/1.0"
	                       "\r\n\r\n"),
	    200);
	/* Oversize: no end within the limit. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.0\r\nX: ", 26);
	assert_int_equal(metrics_http_parse(big, sizeof(big)), 431);
	assert_int_equal(
	    metrics_http_parse(big, METRICS_HTTP_MAX_REQUEST), 431);
	assert_int_equal(metrics_http_parse(big, 1000), 0);
}

/* ---- The server, over a Unix socket ---- */

static char sockpath[64];

/* Starts the endpoint on a fresh socket path. */
static void
start_server(void)
{
	char err[256];

	snprintf(sockpath, sizeof(sockpath), "/tmp/test_metrics.%d.sock",
	    (int)getpid());
	unlink(sockpath);
	sd.cfg.metrics.listen = strdup(sockpath);
	if (metrics_http_init(&sd, err, sizeof(err)) == -1)
		print_error("%s\n", err);
	assert_non_null(sd.metrics);
}

/* A connected client socket. */
static int
client(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* Runs the loop until fd reaches EOF; what it read goes to buf. */
static size_t
exchange(int fd, char *buf, size_t cap)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	size_t len = 0;
	ssize_t n;
	int spins;

	for (spins = 0; spins < 100000; spins++) {
		event_base_loop(sd.base, EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 1) <= 0)
			continue;
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

static void
test_server(void **state)
{
	static char buf[1 << 20];
	const char *body;
	struct expo e;
	int fd;

	(void)state;
	attach(1, "web", 1000, NULL);
	start_server();
	fd = client();
	assert_int_equal(
	    write(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 35), 35);
	exchange(fd, buf, sizeof(buf));
	close(fd);
	assert_true(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(buf, "Content-Type: text/plain; version=0.0.4"));
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	body = strstr(buf, "\r\n\r\n");
	assert_non_null(body);
	expo_parse(&e, body + 4);
	assert_true(expo_get(&e, "softnet_vms") == 1);
	expo_free(&e);

	/* Pipelined: one response, then the connection ends. */
	fd = client();
	assert_int_equal(write(fd,
	                     "GET /metrics HTTP/1.0\r\n\r\nGET /metrics "
	                     "HTTP/1.0\r\n\r\n",
	                     50),
	    50);
	exchange(fd, buf, sizeof(buf));
	close(fd);
	assert_true(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_null(strstr(buf + 17, "HTTP/1.1"));

	fd = client();
	assert_int_equal(write(fd, "DELETE /metrics HTTP/1.0\r\n\r\n", 28), 28);
	exchange(fd, buf, sizeof(buf));
	close(fd);
	assert_true(strncmp(buf, "HTTP/1.1 405 ", 13) == 0);
	assert_non_null(strstr(buf, "Allow: GET\r\n"));
}

/* Past METRICS_HTTP_MAX_CONNS a connection gets 503 and no metrics. */
static void
test_server_limits(void **state)
{
	int fds[METRICS_HTTP_MAX_CONNS], fd, i;
	static char buf[1 << 16];

	(void)state;
	start_server();
	for (i = 0; i < METRICS_HTTP_MAX_CONNS; i++) {
		fds[i] = client();
		event_base_loop(sd.base, EVLOOP_NONBLOCK);
	}
	fd = client();
	assert_int_equal(write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25), 25);
	exchange(fd, buf, sizeof(buf));
	close(fd);
	assert_true(strncmp(buf, "HTTP/1.1 503 ", 13) == 0);
	assert_null(strstr(buf, "softnet_"));
	/* Oversize on a held slot: 431. */
	memset(buf, 'a', METRICS_HTTP_MAX_REQUEST + 10);
	memcpy(buf, "GET /metrics HTTP/1.0\r\nX: ", 26);
	assert_int_equal(write(fds[0], buf, METRICS_HTTP_MAX_REQUEST + 10),
	    METRICS_HTTP_MAX_REQUEST + 10);
	exchange(fds[0], buf, sizeof(buf));
	assert_true(strncmp(buf, "HTTP/1.1 431 ", 13) == 0);
	for (i = 0; i < METRICS_HTTP_MAX_CONNS; i++)
		close(fds[i]);
}

/*
 * A child as uid: connects n sockets and holds them, then one more that
 * asks; writes that answer's status (3 bytes, "---" for none) to res and
 * holds everything until hold reaches EOF.
 */
static pid_t
hold_as(uid_t uid, int n, int res, const int hold[2])
{
	char buf[64] = "---", c;
	pid_t pid = fork();
	int i, fd = -1;

	assert_true(pid >= 0);
	if (pid > 0)
		return pid;
	close(hold[1]); /* else the EOF awaited below never comes */
	if (setgroups(0, NULL) == -1 || setgid(65534) == -1 ||
	    setuid(uid) == -1)
		_exit(2);
	for (i = 0; i <= n; i++) { /* no cmocka asserts in the child */
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			_exit(3);
	}
	/* Refused at accept, the socket may be closed already: no SIGPIPE. */
	(void)!send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL);
	if (read(fd, buf, sizeof(buf)) >= 12)
		memmove(buf, buf + 9, 3);
	(void)!write(res, buf, 3);
	(void)!read(hold[0], &c, 1);
	_exit(0);
}

/* Runs the loop until fd is readable; the 3-byte status it carries. */
static int
await_status(int fd)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	char buf[4] = {0};
	int spins;

	for (spins = 0; spins < 100000; spins++) {
		event_base_loop(sd.base, EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 1) > 0)
			break;
	}
	assert_int_equal(poll(&pfd, 1, 0), 1); /* else the child died */
	assert_int_equal(read(fd, buf, 3), 3);
	return atoi(buf);
}

/*
 * The Unix socket's shares: a uid that is not root or admin_group gets
 * 503 past METRICS_HTTP_PER_USER connections, such uids together leave
 * the last METRICS_HTTP_RESERVED to root, who still gets 200, and each
 * refusal is counted by reason.
 */
static void
test_server_per_user(void **state)
{
	static char buf[1 << 20];
	int res[2], hold[2], fd, i, st;
	pid_t kids[4];
	struct expo e;
	const char *body;

	(void)state;
	if (geteuid() != 0)
		skip();
	start_server();
	assert_int_equal(pipe(res), 0);
	assert_int_equal(pipe(hold), 0);
	/* Two uids at their share; a third fills up to the reserve. */
	for (i = 0; i < 3; i++) {
		kids[i] =
		    hold_as(60001 + i, METRICS_HTTP_PER_USER, res[1], hold);
		assert_int_equal(await_status(res[0]), 503);
	}
	/* A fourth uid, with nothing open: the reserve is root's. */
	kids[3] = hold_as(60004, 0, res[1], hold);
	assert_int_equal(await_status(res[0]), 503);
	fd = client(); /* root */
	assert_int_equal(write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25), 25);
	exchange(fd, buf, sizeof(buf));
	close(fd);
	close(hold[1]);
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	close(hold[0]);
	close(res[0]);
	close(res[1]);
	assert_true(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	body = strstr(buf, "\r\n\r\n");
	assert_non_null(body);
	expo_parse(&e, body + 4);
	assert_true(expo_get(&e, "softnet_metrics_refused_total{reason="
	                         "\"per_user\"}") == 2);
	assert_true(expo_get(&e, "softnet_metrics_refused_total{reason="
	                         "\"reserved\"}") == 2);
	assert_true(expo_get(&e, "softnet_metrics_connections_total") == 13);
	assert_true(
	    expo_get(&e, "softnet_metrics_requests_total{code=\"200\"}") == 0);
	expo_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_render_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_detached_disappear, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_histogram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_view_own, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_view_none, setup, teardown),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test_setup_teardown(test_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_server_per_user, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
