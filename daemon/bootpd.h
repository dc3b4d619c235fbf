/*
 * The bootpd lease mirror: softnetd's bound leases copied into macOS
 * bootpd's lease file (/var/db/dhcpd_leases) in bootpd's own format, so
 * that `tart ip` (which reads that file) finds VMs on softnet. bootpd owns
 * the file too: the mirror touches only softnetd's entries and keeps every
 * other byte. A pure core (parse, merge, render) and the daemon's I/O part
 * (read, write through a private temporary file and rename, watch).
 */
#ifndef SOFTNET_BOOTPD_H
#define SOFTNET_BOOTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct softnetd;

#define BOOTPD_NAMELEN  64          /* name= value, NUL included */
#define BOOTPD_MAX_FILE (64u << 20) /* larger files are left alone */
#define BOOTPD_NOTIFY   "com.apple.bootpd.DHCPLeaseList"

/* One lease to write: addresses host order, expiry in unix seconds. */
struct bootpd_lease {
	uint8_t mac[6];
	uint32_t ip;
	int64_t expires;
	char name[BOOTPD_NAMELEN]; /* "" writes no name= line */
};

/*
 * One segment of a lease file: either a whole entry ("{" line, body, "}"
 * line) or one line of anything else, kept as it is.
 */
struct bootpd_seg {
	size_t off, len; /* the segment's bytes in the file */
	bool block;      /* a whole { ... } entry */
	bool has_mac;    /* hw_address=1,<mac> parsed */
	uint8_t mac[6];
	bool has_ip; /* ip_address=<dotted quad> parsed */
	uint32_t ip;
};

/*
 * Reads the segment of text[0..len) that starts at off into *seg. Returns
 * its length (> 0), or 0 at the end of the text. Never reads past len;
 * any bytes at all are accepted.
 */
size_t bootpd_next(
    const char *text, size_t len, size_t off, struct bootpd_seg *seg);

/*
 * Renders l in bootpd's format into buf. Returns the length, or 0 when
 * it does not fit in cap bytes (NUL included).
 */
size_t bootpd_render(const struct bootpd_lease *l, char *buf, size_t cap);

/* Decides whether an entry of the file is softnetd's to replace. */
typedef bool (*bootpd_ours_fn)(const struct bootpd_seg *seg, void *arg);

/*
 * The new file: softnetd's n leases first (bootpd, too, puts its newest
 * entry at the head), then every segment of old that ours() does not
 * claim, byte for byte. Returns a NUL-terminated allocation; *outlen is
 * its length.
 */
char *bootpd_merge(const char *old, size_t oldlen, const struct bootpd_lease *l,
    size_t n, bootpd_ours_fn ours, void *arg, size_t *outlen);

/*
 * Starts the mirror at sd->cfg.bootpd_leases (nothing when that is NULL):
 * merges once now, then re-merges whenever the file changes.
 */
void bootpd_init(struct softnetd *sd);
/* Writes a pending change, stops watching and frees the mirror. */
void bootpd_shutdown(struct softnetd *sd);
/*
 * The lease database changed: the mirror is rewritten shortly, once for
 * a burst of changes. A no-op when the mirror is off.
 */
void bootpd_dirty(struct softnetd *sd);
/*
 * Merges now. 0 when the file is current (written or already right), -1
 * when it could not be read or written (logged once until it works).
 */
int bootpd_sync(struct softnetd *sd);

#endif
