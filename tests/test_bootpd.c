/*
 * The bootpd lease mirror: bootpd's exact entry format, the segment
 * parser on well-formed, broken and random files (every byte kept), the
 * merge (foreign text byte for byte, softnetd's entries replaced), and the
 * daemon's mirror on a real file: bind, renew, a bootpd rewrite repaired
 * by the poll, detach, an unwritable path. A resolver written from Tart's
 * rules (cirruslabs/tart Sources/tart/MACAddressResolver/Leases.swift,
 * Lease.swift) checks that `tart ip` would find each VM.
 */
#include <errno.h>
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr.h"
#include "bootpd.h"
#include "clock.h"
#include "config.h"
#include "leasedb.h"
#include "port.h"
#include "softnetd.h"
#include "testd.h"
#include "vm.h"
#include "xmalloc.h"

#define IP4(a, b, c, d)                                                        \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	    (uint32_t)(d))
#define NET(x) IP4(192, 168, 105, x)
#define T0     1700000000
#define LEASE  600

static int64_t fake_now = T0;

/* The daemon's clock, under the test's control (clock_set_hook). */
static int64_t
test_now(void)
{
	return fake_now;
}

/* Two entries bootpd wrote for VMs on its own network, and garbage. */
static const char foreign[] = "{\n"
                              "\tname=builder\n"
                              "\tip_address=192.168.64.5\n"
                              "\thw_address=1,a6:1f:0:e:3:22\n"
                              "\tidentifier=1,a6:1f:0:e:3:22\n"
                              "\tlease=0x7fffffff\n"
                              "}\n"
                              "{\n"
                              "\tip_address=192.168.64.6\n"
                              "\thw_address=1,a6:1f:0:e:3:23\n"
                              "\tidentifier=ff,1:2:3\n"
                              "\tlease=0x6553f100\n"
                              "}\n";

/* ---- a resolver with Tart's rules ---- */

/*
 * What `tart ip` answers for mac in text at time now: lines split on
 * '\n' (empty ones dropped), "{" and "}" lines must alternate properly or
 * the whole file is an error (-1), other lines are key=value with a
 * non-empty value (else -1); an entry counts when hw_address is 1,<mac>
 * with six hex parts, ip_address a dotted quad and lease hex; expired
 * ones are skipped and the latest expiry wins (a tie: the later entry).
 * 0 with *ip set, 1 when not found.
 */
static int
tart_resolve(const char *text, const uint8_t mac[6], int64_t now, uint32_t *ip)
{
	enum { NOWHERE, START, BODY, END } st = NOWHERE;
	char line[1024], hw[128] = "", ipa[64] = "", lease[64] = "";
	const char *p = text, *nl;
	int64_t best = -1;
	int found = 1;

	while (*p != '\0') {
		size_t n, i = 0;
		char *eq;

		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		p += nl != NULL ? n + 1 : n;
		if (n == 0)
			continue;
		if (strcmp(line, "{") == 0) {
			if (st != NOWHERE && st != END)
				return -1;
			st = START;
			hw[0] = ipa[0] = lease[0] = '\0';
			continue;
		}
		if (strcmp(line, "}") == 0) {
			uint8_t m[6];
			uint32_t a;
			char *end;
			long long exp;

			if (st != BODY)
				return -1;
			st = END;
			if (strncmp(hw, "1,", 2) != 0 ||
			    addr_parse_mac(hw + 2, m) == -1 ||
			    addr_parse_ipv4(ipa, &a) == -1)
				continue;
			exp = strtoll(lease, &end, 16);
			if (lease[0] == '\0' || *end != '\0' || exp <= now ||
			    memcmp(m, mac, 6) != 0 || exp < best)
				continue;
			best = exp;
			*ip = a;
			found = 0;
			continue;
		}
		while (line[i] == ' ' || line[i] == '\t')
			i++;
		if (line[i] == '\0')
			continue;
		if ((eq = strchr(line + i, '=')) == NULL || eq == line + i ||
		    eq[1] == '\0')
			return -1;
		*eq = '\0';
		if (strcmp(line + i, "hw_address") == 0)
			snprintf(hw, sizeof(hw), "%s", eq + 1);
		else if (strcmp(line + i, "ip_address") == 0)
			snprintf(ipa, sizeof(ipa), "%s", eq + 1);
		else if (strcmp(line + i, "lease") == 0)
			snprintf(lease, sizeof(lease), "%s", eq + 1);
		st = BODY;
	}
	if (st == START || st == BODY)
		return -1;
	return found;
}

/* The resolver finds exactly want for mac (0: finds nothing). */
static void
assert_resolves(const char *text, const uint8_t mac[6], uint32_t want)
{
	uint32_t ip = 0;
	int rc = tart_resolve(text, mac, fake_now, &ip);

	assert_int_not_equal(rc, -1);
	if (want == 0) {
		assert_int_equal(rc, 1);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(ip, want);
}

/* ---- the pure core ---- */

static void
test_render_format(void **state)
{
	struct bootpd_lease l = {
	    {0x02, 0, 0, 0, 0, 0x0a}, NET(10), 0x6553f100, "vm-1"};
	char buf[512];
	size_t n;

	(void)state;
	/* Field order, tabs and %x bytes exactly as bootpd writes them. */
	n = bootpd_render(&l, buf, sizeof(buf));
	assert_string_equal(buf, "{\n"
	                         "\tname=vm-1\n"
	                         "\tip_address=192.168.105.10\n"
	                         "\thw_address=1,2:0:0:0:0:a\n"
	                         "\tidentifier=1,2:0:0:0:0:a\n"
	                         "\tlease=0x6553f100\n"
	                         "}\n");
	assert_int_equal(n, strlen(buf));
	/* No name: no name= line at all (Tart rejects an empty value). */
	l.name[0] = '\0';
	memcpy(l.mac, (uint8_t[]){0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54}, 6);
	bootpd_render(&l, buf, sizeof(buf));
	assert_string_equal(buf, "{\n"
	                         "\tip_address=192.168.105.10\n"
	                         "\thw_address=1,fe:dc:ba:98:76:54\n"
	                         "\tidentifier=1,fe:dc:ba:98:76:54\n"
	                         "\tlease=0x6553f100\n"
	                         "}\n");
	/* A name cannot inject lines or entries. */
	snprintf(l.name, sizeof(l.name), "x\n}\n{\nhw_address=1,1:1:1:1:1:1");
	bootpd_render(&l, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\tname=x_____hw_address_1_1_1_1_1_1_1\n"));
	/* Too small a buffer: nothing, never a cut entry. */
	assert_int_equal(bootpd_render(&l, buf, 40), 0);
}

/* Checks that the segments of text cover it exactly, in order. */
static size_t
check_cover(const char *text, size_t len)
{
	struct bootpd_seg seg;
	size_t off = 0, k, blocks = 0;

	while ((k = bootpd_next(text, len, off, &seg)) > 0) {
		assert_int_equal(seg.off, off);
		assert_int_equal(seg.len, k);
		assert_true(off + k <= len);
		if (seg.block) {
			assert_true(k >= 3); /* "{\n}" at the very end */
			assert_memory_equal(text + off, "{\n", 2);
			blocks++;
		}
		off += k;
	}
	assert_int_equal(off, len);
	return blocks;
}

static void
test_next_segments(void **state)
{
	static const char odd[] = "garbage line\n"
	                          "{\n"
	                          "\tip_address=10.0.0.1\n"
	                          "{\n" /* no "}" before the next "{" */
	                          "\tip_address=192.168.105.7\n"
	                          "\thw_address=1,2:0:0:0:0:7\n"
	                          "}\n"
	                          "{\n"
	                          " hw_address=1,02:00:00:00:00:08\n"
	                          "\tip_address=192.168.105.300\n"
	                          "}" /* no newline at the end */;
	struct bootpd_seg seg;
	size_t off, k;

	(void)state;
	assert_int_equal(check_cover(foreign, strlen(foreign)), 2);
	k = bootpd_next(foreign, strlen(foreign), 0, &seg);
	assert_true(seg.block && seg.has_mac && seg.has_ip);
	assert_memory_equal(
	    seg.mac, ((uint8_t[]){0xa6, 0x1f, 0, 0x0e, 3, 0x22}), 6);
	assert_int_equal(seg.ip, IP4(192, 168, 64, 5));
	bootpd_next(foreign, strlen(foreign), k, &seg);
	assert_true(seg.block && seg.has_mac);

	assert_int_equal(check_cover(odd, strlen(odd)), 2);
	/* "garbage line", the unclosed "{" and its body line: plain text. */
	off = bootpd_next(odd, strlen(odd), 0, &seg);
	assert_false(seg.block);
	k = bootpd_next(odd, strlen(odd), off, &seg);
	assert_false(seg.block);
	assert_int_equal(k, 2);
	off += k;
	off += bootpd_next(odd, strlen(odd), off, &seg);
	k = bootpd_next(odd, strlen(odd), off, &seg);
	assert_true(seg.block && seg.has_mac && seg.has_ip);
	assert_int_equal(seg.ip, NET(7));
	off += k;
	/* Leading blanks and two-digit bytes parse; a bad address does not. */
	k = bootpd_next(odd, strlen(odd), off, &seg);
	assert_true(seg.block && seg.has_mac && !seg.has_ip);
	assert_int_equal(off + k, strlen(odd));
	assert_int_equal(bootpd_next(odd, strlen(odd), off + k, &seg), 0);

	/* Not Ethernet, too few or too many bytes, 3 hex digits, empty. */
	static const char *const bad[] = {"2,1:2:3:4:5:6", "1,1:2:3:4:5",
	    "1,1:2:3:4:5:6:7", "1,100:2:3:4:5:6", "1,1:2:3:4:5:", "1,",
	    "1,1:2:3:4:5:g", "1;1:2:3:4:5:6"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[128];

		snprintf(buf, sizeof(buf), "{\n\thw_address=%s\n}\n", bad[i]);
		bootpd_next(buf, strlen(buf), 0, &seg);
		assert_true(seg.block);
		assert_false(seg.has_mac);
	}
	/* NUL bytes and an empty text. */
	assert_int_equal(check_cover("{\n\0\n}\n\0", 8), 1);
	assert_int_equal(bootpd_next("", 0, 0, &seg), 0);
	assert_int_equal(bootpd_next(NULL, 0, 0, &seg), 0);
}

/* The MACs a merge treats as softnetd's. */
struct owned {
	const uint8_t (*macs)[6];
	size_t n;
};

/* bootpd_ours_fn for the tests: the entry's MAC is in the list. */
static bool
owned_by(const struct bootpd_seg *seg, void *arg)
{
	const struct owned *o = arg;
	size_t i;

	for (i = 0; seg->has_mac && i < o->n; i++)
		if (memcmp(seg->mac, o->macs[i], 6) == 0)
			return true;
	return false;
}

static void
test_merge(void **state)
{
	static const uint8_t macs[2][6] = {
	    {0x02, 0, 0, 0, 0, 0x0a}, {0x02, 0, 0, 0, 0, 0x0b}};
	struct owned o = {macs, 2};
	struct bootpd_lease l[2] = {
	    {{0x02, 0, 0, 0, 0, 0x0a}, NET(10), T0 + LEASE, "a"},
	    {{0x02, 0, 0, 0, 0, 0x0b}, NET(11), T0 + LEASE, ""},
	};
	char *once, *twice, *gone, *stale;
	size_t n1, n2, n3, n4;

	(void)state;
	/* Ours first, then the foreign text exactly. */
	once = bootpd_merge(foreign, strlen(foreign), l, 2, owned_by, &o, &n1);
	assert_int_equal(strlen(once), n1);
	assert_true(n1 > strlen(foreign));
	assert_string_equal(once + n1 - strlen(foreign), foreign);
	assert_resolves(once, macs[0], NET(10));
	assert_resolves(once, macs[1], NET(11));
	assert_resolves(once, (uint8_t[]){0xa6, 0x1f, 0, 0x0e, 3, 0x22},
	    IP4(192, 168, 64, 5));
	/* Merging again replaces, never duplicates. */
	l[0].expires = T0 + 2 * LEASE;
	twice = bootpd_merge(once, n1, l, 2, owned_by, &o, &n2);
	assert_int_equal(n2, n1);
	assert_non_null(strstr(twice, "lease=0x6553f5b0\n"));
	assert_null(strstr(strstr(twice, "hw_address=1,2:0:0:0:0:a\n") + 1,
	    "hw_address=1,2:0:0:0:0:a\n"));
	assert_string_equal(twice + n2 - strlen(foreign), foreign);
	/* Released: its entry goes, the foreign text stays. */
	gone = bootpd_merge(twice, n2, &l[1], 1, owned_by, &o, &n3);
	assert_resolves(gone, macs[0], 0);
	assert_resolves(gone, macs[1], NET(11));
	assert_string_equal(gone + n3 - strlen(foreign), foreign);
	/* A stale bootpd entry for a MAC softnetd serves, with a later
	 * expiry than softnetd's lease, would win in Tart: it is dropped. */
	char seeded[1024];
	snprintf(seeded, sizeof(seeded),
	    "%s{\n\tip_address=192.168.64.9\n\thw_address=1,2:0:0:0:0:a\n"
	    "\tidentifier=1,2:0:0:0:0:a\n\tlease=0x7fffffff\n}\n",
	    foreign);
	assert_resolves(seeded, macs[0], IP4(192, 168, 64, 9));
	stale = bootpd_merge(seeded, strlen(seeded), l, 2, owned_by, &o, &n4);
	assert_resolves(stale, macs[0], NET(10));
	assert_string_equal(stale + n4 - strlen(foreign), foreign);
	free(once);
	free(twice);
	free(gone);
	free(stale);
}

/* Random files: every segment kept or dropped whole, nothing crashes. */
static void
test_merge_garbage(void **state)
{
	static const char alphabet[] = "{}\n\t =,:0123456789abcdefhw_adressip";
	static const uint8_t macs[1][6] = {{1, 2, 3, 4, 5, 6}};
	struct owned o = {macs, 1};
	struct bootpd_lease l = {{0x02, 0, 0, 0, 0, 0x0a}, NET(10), T0, "x"};
	char text[512];
	unsigned seed = 12345;
	int round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		size_t len, i, n, k, off, kept = 0;
		struct bootpd_seg seg;
		char *out;

		seed = seed * 1103515245 + 12345;
		len = (seed >> 16) % sizeof(text);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			text[i] = (seed >> 16) % 8 == 0
			              ? (char)(seed >> 8)
			              : alphabet[(seed >> 16) %
			                         (sizeof(alphabet) - 1)];
		}
		if (round % 3 == 0 && len > 40) /* an owned entry inside */
			memcpy(text + len / 2 - 20,
			    "\n{\nhw_address=1,1:2:3:4:5:6\n}\n", 30);
		check_cover(text, len);
		out = bootpd_merge(text, len, &l, round % 2, owned_by, &o, &n);
		/* The output is ours, then the kept segments in order. */
		k = round % 2 ? bootpd_render(&l, (char[256]){0}, 256) : 0;
		for (off = 0; (i = bootpd_next(text, len, off, &seg)) > 0;
		     off += i) {
			if (seg.block && owned_by(&seg, &o))
				continue;
			assert_true(k + i <= n);
			assert_memory_equal(out + k, text + off, i);
			k += i;
			kept += i;
		}
		assert_int_equal(k, n);
		assert_true(kept <= len);
		free(out);
	}
}

/* ---- the daemon's mirror on a real file ---- */

static struct softnetd sd;
static char dir[64], path[256];

/* Writes text to path the way bootpd does: "<file>-", then rename. */
static void
bootpd_writes(const char *text)
{
	char tmp[300];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s-", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

/* The file's whole text (a static buffer). */
static const char *
slurp(void)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The file ends with the foreign entries, byte for byte. */
static void
assert_foreign_kept(void)
{
	const char *t = slurp();
	size_t n = strlen(t);

	assert_true(n >= strlen(foreign));
	assert_string_equal(t + n - strlen(foreign), foreign);
}

/* Runs the event loop for ms milliseconds. */
static void
run_loop(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(sd.base, &tv);
	event_base_dispatch(sd.base);
}

/* A daemon context mirroring into a fresh file seeded with foreign. */
static int
setup(void **state)
{
	static const uint8_t upmac[6] = {0x02, 0x5e, 0, 0, 0, 1};

	(void)state;
	fake_now = T0;
	testd_open(&sd, upmac);
	snprintf(dir, sizeof(dir), "/tmp/test_bootpd.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dhcpd_leases", dir);
	sd.cfg.bootpd_leases = xstrdup(path);
	bootpd_writes(foreign);
	return 0;
}

/* Frees the context and removes the directory and what is in it. */
static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	bootpd_shutdown(&sd);
	testd_close(&sd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Attaches a VM with mac and binds ip to it as an ACK would. */
static struct port *
attach_bound(const uint8_t mac[6], const char *name, uint32_t ip)
{
	struct vm_attach_args a = {0};
	enum vm_err verr;
	char msg[128];
	struct port *p;
	uint32_t got;

	a.fd = testd_pair(SOCK_DGRAM, NULL);
	a.kind = OSDEP_FD_DGRAM;
	memcpy(a.mac, mac, 6);
	a.name = name;
	a.owner = 0;
	p = vm_attach(&sd, &a, &verr, msg, sizeof(msg));
	assert_non_null(p);
	assert_int_equal(leasedb_offer(sd.db, mac, ip, fake_now, 60, &got), 0);
	assert_int_equal(got, ip);
	assert_int_equal(leasedb_ack(sd.db, mac, ip, "", fake_now, LEASE), 0);
	port_set_lease(&sd, p, ip, fake_now + LEASE);
	return p;
}

static void
test_mirror(void **state)
{
	static const uint8_t m1[6] = {0x02, 0, 0, 0, 0, 0x0a};
	static const uint8_t m2[6] = {0x02, 0, 0, 0, 0, 0x0b};
	struct port *p1, *p2;
	struct stat st;

	(void)state;
	bootpd_init(&sd);
	assert_string_equal(slurp(), foreign); /* nothing of ours yet */
	p1 = attach_bound(m1, "vm-1", NET(10));
	p2 = attach_bound(m2, "vm-2", NET(11));
	/* One coalesced write after the burst. */
	run_loop(150);
	assert_resolves(slurp(), m1, NET(10));
	assert_resolves(slurp(), m2, NET(11));
	assert_non_null(strstr(slurp(), "\tname=vm-1\n"));
	assert_foreign_kept();
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	/* Renew: the expiry follows. */
	fake_now += 300;
	assert_int_equal(
	    leasedb_ack(sd.db, m1, NET(10), "", fake_now, LEASE), 0);
	port_set_lease(&sd, p1, NET(10), fake_now + LEASE);
	run_loop(150);
	char want[64];
	snprintf(want, sizeof(want), "\tlease=0x%llx\n",
	    (unsigned long long)(fake_now + LEASE));
	assert_non_null(strstr(slurp(), want));
	assert_foreign_kept();

	/* bootpd rewrites the file from its own list: repaired within 1 s. */
	bootpd_writes(foreign);
	assert_resolves(slurp(), m1, 0);
	run_loop(600);
	assert_resolves(slurp(), m1, NET(10));
	assert_resolves(slurp(), m2, NET(11));
	assert_foreign_kept();

	/* Detach: the entry goes, the other stays. */
	vm_detach(&sd, p2);
	run_loop(150);
	assert_resolves(slurp(), m2, 0);
	assert_resolves(slurp(), m1, NET(10));
	assert_foreign_kept();
	/* No temporary file is left behind, and bootpd's name is not used. */
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
	assert_int_equal(system(cmd), 0);
	(void)p1;
}

static void
test_restart_drops_stale(void **state)
{
	static const uint8_t m1[6] = {0x02, 0, 0, 0, 0, 0x0a};
	static const uint8_t m3[6] = {0x02, 0, 0, 0, 0, 0x0c};
	struct port *p;
	char seeded[2048];
	uint32_t got;

	(void)state;
	/* A released lease of ours left from a previous run (its address is
	 * in softnetd's pool), and a bootpd lease for a MAC softnetd once
	 * knew but that now lives on bootpd's network: only the first goes. */
	assert_int_equal(leasedb_attach(sd.db, m3, "", 0, fake_now), 0);
	assert_int_equal(
	    leasedb_offer(sd.db, m3, NET(12), fake_now, 60, &got), 0);
	assert_int_equal(
	    leasedb_ack(sd.db, m3, NET(12), "", fake_now, LEASE), 0);
	assert_int_equal(leasedb_detach(sd.db, m3, fake_now), 0);
	snprintf(seeded, sizeof(seeded),
	    "{\n\tip_address=192.168.105.12\n\thw_address=1,2:0:0:0:0:c\n"
	    "\tlease=0x%llx\n}\n%s{\n\tip_address=192.168.64.12\n"
	    "\thw_address=1,2:0:0:0:0:c\n\tlease=0x%llx\n}\n",
	    (unsigned long long)(fake_now + 100), foreign,
	    (unsigned long long)(fake_now + 50));
	bootpd_writes(seeded);
	bootpd_init(&sd);
	assert_resolves(slurp(), m3, IP4(192, 168, 64, 12));
	assert_null(strstr(slurp(), "192.168.105.12"));
	/* A served MAC's stale bootpd entry goes at the next merge. */
	p = attach_bound(m1, NULL, NET(10));
	bootpd_writes(
	    "{\n\tip_address=192.168.64.99\n\thw_address=1,2:0:0:0:0:a\n"
	    "\tlease=0x7fffffff\n}\n");
	run_loop(600);
	assert_resolves(slurp(), m1, NET(10));
	assert_null(strstr(slurp(), "192.168.64.99"));
	(void)p;
}

static void
test_unwritable(void **state)
{
	static const uint8_t m1[6] = {0x02, 0, 0, 0, 0, 0x0a};

	(void)state;
	free(sd.cfg.bootpd_leases);
	snprintf(path, sizeof(path), "%s/missing/dhcpd_leases", dir);
	sd.cfg.bootpd_leases = xstrdup(path);
	bootpd_init(&sd);
	assert_int_equal(bootpd_sync(&sd), -1);
	/* DHCP state goes on regardless; the mirror just keeps failing. */
	attach_bound(m1, NULL, NET(10));
	run_loop(100);
	assert_int_equal(bootpd_sync(&sd), -1);
	/* A symbolic link is refused, not followed. */
	bootpd_shutdown(&sd);
	free(sd.cfg.bootpd_leases);
	snprintf(path, sizeof(path), "%s/link", dir);
	char target[300];
	snprintf(target, sizeof(target), "%s/dhcpd_leases", dir);
	assert_int_equal(symlink(target, path), 0);
	sd.cfg.bootpd_leases = xstrdup(path);
	bootpd_init(&sd);
	assert_int_equal(bootpd_sync(&sd), -1);
	memcpy(path, target, sizeof(path) - 1);
	assert_string_equal(slurp(), foreign);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_format),
	    cmocka_unit_test(test_next_segments),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_merge_garbage),
	    cmocka_unit_test_setup_teardown(test_mirror, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restart_drops_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
	};

	clock_set_hook(test_now, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
