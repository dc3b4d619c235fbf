/*
 * Theory of operation: `tart ip` (and Orchard, Cirrus CLI, the GitLab Tart
 * executor through it) finds a VM's address in macOS bootpd's lease file,
 * /var/db/dhcpd_leases. softnetd serves DHCP itself, so this module copies
 * its bound leases into that file in bootpd's exact format.
 *
 * The format, as bootpd writes it (apple-oss-distributions/bootp,
 * bootplib/NICache.c PLCache_write, bootpd.tproj/dhcpd.c S_create_host):
 * one entry per lease, "{\n", one "\tkey=value\n" line per property in the
 * order name (only when the client sent a host name), ip_address,
 * hw_address, identifier, lease, then "}\n". hw_address and identifier are
 * "1,<mac>", the type and every byte printed with %x: no leading zeros
 * (bootplib/host_identifier.c identifierToStringWithBuffer), so
 * 02:00:00:00:00:0a is "1,2:0:0:0:0:a". lease is the expiry in unix
 * seconds as "0x%lx". bootpd keeps its newest entry at the head.
 *
 * How Tart reads it (cirruslabs/tart Sources/tart/MACAddressResolver/
 * Leases.swift and Lease.swift): lines split on '\n'; a line exactly "{"
 * opens an entry, exactly "}" closes one; other lines lose leading blanks
 * and must be key=value with a non-empty value, or the whole file is
 * rejected (so this module never writes "name="). An entry needs
 * hw_address, ip_address and lease; expired entries are ignored and, of
 * several for one MAC, the latest expiry wins. Tart has no idea which
 * server wrote an entry, so a stale bootpd entry for a MAC softnetd serves
 * must go, or it could win.
 *
 * bootpd owns the file too and rewrites it from its own in-memory list
 * (PLCache_write: "<file>-" then rename), dropping softnetd's entries, and
 * it reads it only at start and on SIGHUP. So the mirror re-merges
 * whenever the file changes: it polls stat() every BOOTPD_POLL_MS (both
 * OSes) and, on macOS, also listens to the notification bootpd posts after
 * each write (bootplib/netinfo.h DHCPD_LEASES_NOTIFICATION_KEY).
 *
 * Ownership: an entry is softnetd's when its MAC is in the lease database
 * and either softnetd serves that MAC now (a live lease or an attached
 * VM) or the entry's address is in softnetd's pool. That survives a
 * restart (the database does), removes entries of released and expired
 * leases, and leaves alone a VM that has moved to bootpd's own network.
 * Everything else -- other entries, text that is not an entry at all --
 * is copied byte for byte.
 *
 * Writes go to a private temporary file in the same directory (never
 * bootpd's "<file>-"), mode 0644 like bootpd's, renamed over the file, so
 * a reader never sees half a file. A mirror that cannot be read or
 * written is logged once and never stops DHCP.
 */
#include <sys/stat.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "bootpd.h"
#include "clock.h"
#include "leasedb.h"
#include "log.h"
#include "osdep.h"
#include "port.h"
#include "softnetd.h"
#include "xmalloc.h"

#define BOOTPD_FLUSH_MS 50  /* a burst of ACKs costs one rewrite */
#define BOOTPD_POLL_MS  250 /* how soon a rewrite by bootpd is repaired */
#define BOOTPD_RETRIES  3   /* merges raced by another writer */
#define BOOTPD_ENTRY    256 /* bytes of one rendered entry, at most */

/* A MAC the lease database knows, and whether softnetd serves it now. */
struct known {
	uint8_t mac[6];
	bool served;
};

/* What one merge needs from the database. */
struct snapshot {
	struct bootpd_lease *leases;
	size_t nleases, leases_cap;
	struct known *known;
	size_t nknown, known_cap;
	uint32_t pool_start, pool_end;
	int64_t now;
};

/* The identity of the file as last seen, to notice a rewrite. */
struct fileid {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns; /* an inode number may come back at once */
};

struct bootpd {
	struct softnetd *sd;
	char *path;
	struct event *flush_ev; /* one-shot: write a pending change */
	struct event *poll_ev;  /* periodic stat() of the file */
	struct event *notify_ev;
	int notify_fd; /* macOS bootpd's notification, or -1 */
	bool pending;
	bool failing; /* the last attempt failed and was logged */
	struct fileid seen;
};

/* ---- the pure core ---- */

/* The line at off: its length without the newline, and with it in *adv. */
static size_t
line_at(const char *text, size_t len, size_t off, size_t *adv)
{
	const char *nl = memchr(text + off, '\n', len - off);
	size_t n = nl != NULL ? (size_t)(nl - (text + off)) : len - off;

	*adv = nl != NULL ? n + 1 : n;
	return n;
}

/* Whether the line is exactly the one character c, as Tart compares. */
static bool
line_is(const char *line, size_t n, char c)
{
	return n == 1 && line[0] == c;
}

/* Parses 1-2 hex digits (as %x printed one byte); -1 if not. */
static int
hex_byte(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	if (n < 1 || n > 2)
		return -1;
	for (i = 0; i < n; i++) {
		v <<= 4;
		if (s[i] >= '0' && s[i] <= '9')
			v |= s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			v |= s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			v |= s[i] - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Parses "1,<six :-separated hex bytes>" (an Ethernet hw_address). */
static bool
parse_hwaddr(const char *v, size_t n, uint8_t mac[6])
{
	size_t i, start, k = 0;
	int b;

	if (n < 2 || v[0] != '1' || v[1] != ',')
		return false;
	for (start = i = 2; i <= n; i++) {
		if (i < n && v[i] != ':')
			continue;
		if (k == 6 || (b = hex_byte(v + start, i - start)) == -1)
			return false;
		mac[k++] = (uint8_t)b;
		start = i + 1;
	}
	return k == 6;
}

/* Parses a dotted quad that is not NUL-terminated. */
static bool
parse_ip(const char *v, size_t n, uint32_t *ip)
{
	char buf[ADDR_IPV4_STRLEN];

	if (n == 0 || n >= sizeof(buf) || memchr(v, '\0', n) != NULL)
		return false;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return addr_parse_ipv4(buf, ip) == 0;
}

/* Notes hw_address and ip_address from one body line of an entry. */
static void
body_line(const char *line, size_t n, struct bootpd_seg *seg)
{
	const char *eq;
	size_t i = 0, klen;

	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if ((eq = memchr(line + i, '=', n - i)) == NULL)
		return;
	klen = (size_t)(eq - (line + i));
	n -= (size_t)(eq + 1 - line);
	if (klen == 10 && memcmp(line + i, "hw_address", 10) == 0)
		seg->has_mac = parse_hwaddr(eq + 1, n, seg->mac);
	else if (klen == 10 && memcmp(line + i, "ip_address", 10) == 0)
		seg->has_ip = parse_ip(eq + 1, n, &seg->ip);
}

size_t
bootpd_next(const char *text, size_t len, size_t off, struct bootpd_seg *seg)
{
	size_t n, adv, pos;

	memset(seg, 0, sizeof(*seg));
	if (text == NULL || off >= len)
		return 0;
	seg->off = off;
	n = line_at(text, len, off, &adv);
	if (!line_is(text + off, n, '{')) {
		seg->len = adv;
		return adv;
	}
	/* An entry runs to the next "}" line; a "{" before it, or the end
	 * of the file, makes the first line plain text instead. */
	for (pos = off + adv; pos < len; pos += adv) {
		n = line_at(text, len, pos, &adv);
		if (line_is(text + pos, n, '{'))
			break;
		if (line_is(text + pos, n, '}')) {
			seg->block = true;
			seg->len = pos + adv - off;
			return seg->len;
		}
		body_line(text + pos, n, seg);
	}
	memset(seg, 0, sizeof(*seg));
	seg->off = off;
	(void)line_at(text, len, off, &seg->len);
	return seg->len;
}

/* Copies a name keeping [A-Za-z0-9._-]; other bytes become '_'. */
static void
clean_name(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < cap && src[i] != '\0'; i++) {
		char c = src[i];

		dst[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		                 (c >= '0' && c <= '9') || c == '.' ||
		                 c == '_' || c == '-'
		             ? c
		             : '_';
	}
	dst[i] = '\0';
}

size_t
bootpd_render(const struct bootpd_lease *l, char *buf, size_t cap)
{
	char ip[ADDR_IPV4_STRLEN], mac[ADDR_MAC_STRLEN];
	char name[BOOTPD_NAMELEN + 8] = "";
	char clean[BOOTPD_NAMELEN];
	int n;

	addr_format_ipv4(l->ip, ip);
	/* %x per byte, no leading zeros, as bootpd prints it. */
	snprintf(mac, sizeof(mac), "%x:%x:%x:%x:%x:%x", l->mac[0], l->mac[1],
	    l->mac[2], l->mac[3], l->mac[4], l->mac[5]);
	clean_name(clean, sizeof(clean), l->name);
	/* bootpd omits name= without a host name; Tart rejects "name=". */
	if (clean[0] != '\0')
		snprintf(name, sizeof(name), "\tname=%s\n", clean);
	n = snprintf(buf, cap,
	    "{\n%s\tip_address=%s\n\thw_address=1,%s\n\tidentifier=1,%s\n"
	    "\tlease=0x%" PRIx64 "\n}\n",
	    name, ip, mac, mac, (uint64_t)(l->expires > 0 ? l->expires : 0));
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}

char *
bootpd_merge(const char *old, size_t oldlen, const struct bootpd_lease *l,
    size_t n, bootpd_ours_fn ours, void *arg, size_t *outlen)
{
	struct bootpd_seg seg;
	size_t i, len = 0, off, k, cap;
	char *out;

	/* No entry is longer than BOOTPD_ENTRY; the old text at most stays. */
	cap = n * BOOTPD_ENTRY + oldlen + 1;
	out = xmalloc(cap);
	for (i = 0; i < n; i++)
		len += bootpd_render(&l[i], out + len, cap - len);
	for (off = 0; (k = bootpd_next(old, oldlen, off, &seg)) > 0; off += k) {
		if (seg.block && ours != NULL && ours(&seg, arg))
			continue;
		memcpy(out + len, old + off, k);
		len += k;
	}
	out[len] = '\0';
	*outlen = len;
	return out;
}

/* ---- the daemon's mirror ---- */

/* Orders known MACs for bsearch. */
static int
known_cmp(const void *a, const void *b)
{
	return memcmp(
	    ((const struct known *)a)->mac, ((const struct known *)b)->mac, 6);
}

/* leasedb_foreach callback: records every MAC and every live lease. */
static int
collect(const struct lease *l, void *arg)
{
	struct snapshot *s = arg;
	struct bootpd_lease *bl;
	bool live =
	    l->state == LEASE_BOUND && l->ip != 0 && l->expires > s->now;

	if (s->nknown == s->known_cap) {
		s->known_cap = s->known_cap ? s->known_cap * 2 : 64;
		s->known =
		    xreallocarray(s->known, s->known_cap, sizeof(*s->known));
	}
	memcpy(s->known[s->nknown].mac, l->mac, 6);
	s->known[s->nknown++].served = live;
	if (!live)
		return 0;
	if (s->nleases == s->leases_cap) {
		s->leases_cap = s->leases_cap ? s->leases_cap * 2 : 64;
		s->leases =
		    xreallocarray(s->leases, s->leases_cap, sizeof(*s->leases));
	}
	bl = &s->leases[s->nleases++];
	memset(bl, 0, sizeof(*bl));
	memcpy(bl->mac, l->mac, 6);
	bl->ip = l->ip;
	bl->expires = l->expires;
	/* The guest's own host name, as bootpd records it; else the VM's. */
	snprintf(bl->name, sizeof(bl->name), "%s",
	    l->hostname[0] != '\0' ? l->hostname : l->name);
	return 0;
}

/* bootpd_ours_fn for the daemon: see "Ownership" above. */
static bool
ours(const struct bootpd_seg *seg, void *arg)
{
	const struct snapshot *s = arg;
	struct known key, *k;

	if (!seg->has_mac || s->nknown == 0)
		return false; /* bsearch's base may not be NULL, even for 0 */
	memcpy(key.mac, seg->mac, 6);
	k = bsearch(&key, s->known, s->nknown, sizeof(*s->known), known_cmp);
	if (k == NULL)
		return false;
	return k->served || (seg->has_ip && seg->ip >= s->pool_start &&
	                        seg->ip <= s->pool_end);
}

/* Fills s from the database and the attached ports; -1 on a DB error. */
static int
snapshot(struct softnetd *sd, struct snapshot *s)
{
	struct known key, *k;
	struct port *p;

	memset(s, 0, sizeof(*s));
	s->now = clock_now();
	s->pool_start = sd->up.pool_start;
	s->pool_end = sd->up.pool_end;
	if (leasedb_foreach(sd->db, collect, s) == -1)
		return -1;
	if (s->nknown > 0)
		qsort(s->known, s->nknown, sizeof(*s->known), known_cmp);
	/* An attached VM is served even before (or without) a lease. */
	TAILQ_FOREACH(p, port_all(sd), entry) {
		if (s->nknown == 0)
			break;
		memcpy(key.mac, p->mac, 6);
		k = bsearch(
		    &key, s->known, s->nknown, sizeof(*s->known), known_cmp);
		if (k != NULL)
			k->served = true;
	}
	return 0;
}

/* Records the identity of the file at path (or that there is none). */
static int
file_id(const char *path, struct fileid *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	id->exists = true;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime_ns = osdep_mtime_ns(&st);
	return 0;
}

/* Whether two identities are the same file, unchanged. */
static bool
same_file(const struct fileid *a, const struct fileid *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime_ns == b->mtime_ns;
}

/*
 * Reads the file (none: empty) into *text, its identity into *id. -1 with
 * errno when it cannot be read, is not a regular file (a symbolic link is
 * refused: root must not be led elsewhere) or is too large to rewrite.
 */
static int
read_file(const char *path, char **text, size_t *len, struct fileid *id)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd, saved;

	*text = NULL;
	*len = 0;
	memset(id, 0, sizeof(*id));
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size > BOOTPD_MAX_FILE) {
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		goto fail;
	}
	*text = xmalloc((size_t)st.st_size + 1);
	/* Reads to the end even if the file grew: the rename check below
	 * notices a change made while reading. */
	while (got < (size_t)st.st_size &&
	       (r = read(fd, *text + got, (size_t)st.st_size - got)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		got += (size_t)r;
	}
	close(fd);
	*len = got;
	return file_id(path, id);
fail:
	saved = errno;
	close(fd);
	free(*text);
	*text = NULL;
	errno = saved;
	return -1;
}

/* Writes text to a new private file beside path; its name in tmp. */
static int
write_temp(
    const char *path, const char *text, size_t len, char *tmp, size_t tmplen)
{
	const char *slash = strrchr(path, '/');
	size_t off = 0;
	ssize_t w;
	int fd, saved;

	/* ".dhcpd_leases.softnetd.XXXXXX": not bootpd's "dhcpd_leases-". */
	if (slash == NULL ||
	    snprintf(tmp, tmplen, "%.*s/.%s.softnetd.XXXXXX",
	        (int)(slash - path), path, slash + 1) >= (int)tmplen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* mkstemp opens with O_CREAT | O_EXCL, mode 0600. */
	if ((fd = mkstemp(tmp)) == -1)
		return -1;
	if (fchmod(fd, 0644) == -1)
		goto fail;
	while (off < len) {
		if ((w = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	/*
	 * No fsync: the file is regenerated from the database at every start
	 * and on every change, bootpd does not sync it either, and a sync
	 * would stall the frame path on a busy disk.
	 */
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

/* One read-merge-write round. 0 done, 1 raced (retry), -1 failed. */
static int
merge_once(struct bootpd *b, const struct snapshot *s)
{
	char tmp[1024], *old = NULL, *text = NULL;
	struct fileid before, after;
	size_t oldlen, len;
	int rc = -1;

	if (read_file(b->path, &old, &oldlen, &before) == -1)
		return -1;
	text = bootpd_merge(
	    old, oldlen, s->leases, s->nleases, ours, (void *)s, &len);
	if (before.exists && len == oldlen && memcmp(text, old, len) == 0) {
		b->seen = before;
		rc = 0;
		goto out;
	}
	if (write_temp(b->path, text, len, tmp, sizeof(tmp)) == -1)
		goto out;
	/* bootpd may have rewritten the file meanwhile: merge again. */
	if (file_id(b->path, &after) == -1 || !same_file(&before, &after)) {
		unlink(tmp);
		rc = 1;
		goto out;
	}
	if (rename(tmp, b->path) == -1) {
		unlink(tmp);
		goto out;
	}
	rc = file_id(b->path, &b->seen) == -1 ? -1 : 0;
out:
	free(old);
	free(text);
	return rc;
}

int
bootpd_sync(struct softnetd *sd)
{
	struct bootpd *b = sd->bootpd;
	struct snapshot s;
	int i, rc = 1;

	if (b == NULL)
		return 0;
	b->pending = false;
	if (snapshot(sd, &s) == -1) {
		log_warnx("bootpd_leases: lease database error");
		rc = -1;
	}
	for (i = 0; rc == 1 && i < BOOTPD_RETRIES; i++)
		rc = merge_once(b, &s);
	if (rc == 1) {
		errno = EAGAIN;
		rc = -1;
	}
	if (rc == -1 && !b->failing) {
		log_warn("bootpd_leases %s: cannot update the mirror (tart ip "
		         "will not find VMs; DHCP goes on)",
		    b->path);
		b->failing = true;
	} else if (rc == 0 && b->failing) {
		log_info("bootpd_leases %s: mirror updated again", b->path);
		b->failing = false;
	}
	if (rc == -1)
		(void)file_id(b->path, &b->seen); /* retry on change only */
	free(s.leases);
	free(s.known);
	return rc;
}

/* Timer callback: writes the changes of the last BOOTPD_FLUSH_MS. */
static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	bootpd_sync(arg);
}

/* Timer callback: someone else rewrote the file; merge again. */
static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct softnetd *sd = arg;
	struct fileid now;

	(void)fd;
	(void)what;
	if (file_id(sd->bootpd->path, &now) == 0 &&
	    !same_file(&now, &sd->bootpd->seen))
		bootpd_sync(sd);
}

/* Event callback: bootpd posted that it wrote the file (macOS). */
static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	osdep_notify_drain(fd);
	bootpd_sync(arg);
}

void
bootpd_dirty(struct softnetd *sd)
{
	struct timeval tv = {0, BOOTPD_FLUSH_MS * 1000};
	struct bootpd *b = sd->bootpd;

	if (b == NULL || b->pending)
		return;
	b->pending = true;
	if (event_add(b->flush_ev, &tv) == -1)
		bootpd_sync(sd);
}

void
bootpd_init(struct softnetd *sd)
{
	struct timeval tv = {0, BOOTPD_POLL_MS * 1000};
	struct bootpd *b;

	if (sd->cfg.bootpd_leases == NULL)
		return;
	b = xcalloc(1, sizeof(*b));
	b->sd = sd;
	b->path = xstrdup(sd->cfg.bootpd_leases);
	b->notify_fd = -1;
	sd->bootpd = b;
	b->flush_ev = evtimer_new(sd->base, flush_cb, sd);
	b->poll_ev = event_new(sd->base, -1, EV_PERSIST, poll_cb, sd);
	if (b->flush_ev == NULL || b->poll_ev == NULL ||
	    event_add(b->poll_ev, &tv) == -1)
		fatalx("cannot start the bootpd lease mirror");
	if ((b->notify_fd = osdep_notify_open(BOOTPD_NOTIFY)) != -1) {
		b->notify_ev = event_new(sd->base, b->notify_fd,
		    EV_READ | EV_PERSIST, notify_cb, sd);
		if (b->notify_ev == NULL || event_add(b->notify_ev, NULL) == -1)
			fatalx("cannot watch bootpd's notifications");
	}
	log_info("mirroring leases into %s", b->path);
	bootpd_sync(sd);
}

void
bootpd_shutdown(struct softnetd *sd)
{
	struct bootpd *b = sd->bootpd;

	if (b == NULL)
		return;
	if (b->pending)
		bootpd_sync(sd);
	if (b->notify_ev != NULL)
		event_free(b->notify_ev);
	osdep_notify_close(b->notify_fd);
	event_free(b->flush_ev);
	event_free(b->poll_ev);
	free(b->path);
	free(b);
	sd->bootpd = NULL;
}
