/*
 * Per-VM packet capture (issue #16): pcapng encoding and the capture
 * sessions a port carries. A session is one end of a socketpair the
 * daemon handed to a client; frames go to it after the filter's verdict,
 * never slowing the VM: what the reader does not take is dropped and
 * counted.
 */
#ifndef SOFTNET_CAPTURE_H
#define SOFTNET_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct softnetd;
struct capture;

/* Directions, from the VM's point of view (as port_stats counts). */
#define CAPTURE_IN   1u /* delivered to the VM: EPB flags inbound (01) */
#define CAPTURE_OUT  2u /* sent by the VM: EPB flags outbound (10) */
#define CAPTURE_BOTH (CAPTURE_IN | CAPTURE_OUT)

/* No drop: the frame passed (capture_frame's reason). */
#define CAPTURE_PASS (-1)

/* Seconds between the ISBs a running capture gets (drop counts). */
#define CAPTURE_ISB_INTERVAL 5

/* Defaults of config max_captures and max_captures_per_user. */
#define CAPTURE_MAX_DEFAULT      8
#define CAPTURE_PER_USER_DEFAULT 2

/* pcapng block types and sizes (draft-ietf-opsawg-pcapng). */
#define CAPTURE_SHB_LEN 28 /* no options */
#define CAPTURE_ISB_LEN 40 /* isb_ifdrop, end of options */
/* The longest comment an EPB carries ("drop: " + a reason name). */
#define CAPTURE_COMMENT_MAX 64
/*
 * EPB header (28), padding of the data (up to 3), options (flags 8,
 * comment, end 4) and trailer (4): a block is at most this plus its frame.
 */
#define CAPTURE_EPB_OVERHEAD (28 + 3 + 8 + 4 + CAPTURE_COMMENT_MAX + 4 + 4)

/* Section Header Block: little-endian, version 1.0, unknown length. */
size_t capture_pcapng_shb(uint8_t *buf, size_t cap);
/*
 * Interface Description Block: linktype 1 (Ethernet), snaplen, if_name
 * (truncated to 63 bytes; NULL or "" for none) and if_tsresol 9 (ns).
 * The length written, or 0 when cap is too small.
 */
size_t capture_pcapng_idb(
    uint8_t *buf, size_t cap, uint32_t snaplen, const char *name);
/*
 * The parts of an Enhanced Packet Block around len bytes of frame data:
 * head (28 bytes) and tail (padding of the data, epb_flags with the
 * direction, opt_comment when comment is not NULL, end of options, the
 * trailing length). *tail_len is set; returns the head's length (28), or
 * 0 when a buffer is too small. The block is head + data + tail.
 */
size_t capture_pcapng_epb(uint8_t *head, size_t head_cap, uint8_t *tail,
    size_t tail_cap, size_t *tail_len, uint64_t ts_ns, uint32_t len,
    unsigned dir, const char *comment);
/* Interface Statistics Block with isb_ifdrop (CAPTURE_ISB_LEN bytes). */
size_t capture_pcapng_isb(
    uint8_t *buf, size_t cap, uint64_t ts_ns, uint64_t ifdrop);

/* What a new capture is. */
struct capture_args {
	uid_t owner;       /* the client's uid */
	bool admin;        /* root or admin_group: may use the reserve */
	void *session;     /* the control connection it ends with */
	unsigned dir;      /* CAPTURE_IN, CAPTURE_OUT or both */
	bool drops;        /* dropped frames too, with their reason */
	const char *name;  /* the VM's name, for the IDB (may be "") */
	uint64_t *dropped; /* the VM's counter of frames not captured */
};

/* Why capture_start refused. */
enum capture_err {
	CAPTURE_OK,
	CAPTURE_E_TOTAL,    /* max_captures running (admin reserve kept) */
	CAPTURE_E_PER_USER, /* the uid runs max_captures_per_user */
	CAPTURE_E_FDS,      /* no descriptors to spare */
	CAPTURE_E_SYS,      /* socketpair or the like failed (errno) */
};

void capture_init(struct softnetd *sd);
/* Ends every capture (the daemon is stopping). */
void capture_shutdown(struct softnetd *sd);
/*
 * Starts a capture of the port whose list head is *head: a socketpair,
 * the daemon's end non-blocking with the pcapng header written; the
 * other end comes back in *client_fd for the caller to hand over (and
 * close). On refusal nothing changed and msg says why.
 */
enum capture_err capture_start(struct softnetd *sd, struct capture **head,
    const struct capture_args *a, int *client_fd, char *msg, size_t msglen);
/*
 * Copies one frame to the captures in list head (the port's; the caller
 * checks it is not NULL, so no capture costs one comparison): dir is
 * CAPTURE_IN or CAPTURE_OUT, reason CAPTURE_PASS or the drop_reason.
 */
void capture_frame(struct capture **head, unsigned dir, const uint8_t *frame,
    size_t len, int reason);
/* Ends every capture in list head (the port is going). */
void capture_end_all(struct softnetd *sd, struct capture **head);
/* Ends the captures started on the control connection session. */
void capture_session_end(struct softnetd *sd, void *session);
/*
 * Writes an ISB with its isb_ifdrop to every running capture that can
 * take it now (the CAPTURE_ISB_INTERVAL timer's work).
 */
void capture_stats_all(struct softnetd *sd);
/* Captures running now, and frames all of them have dropped. */
unsigned capture_count(struct softnetd *sd);
uint64_t capture_drops_total(struct softnetd *sd);

#endif
