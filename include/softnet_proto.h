/*
 * The softnetd control protocol, shared by the daemon, the clients and the
 * tests. Bump SOFTNET_PROTO_VERSION on any incompatible change.
 *
 * Transport: a Unix SOCK_STREAM socket; one JSON object per line in each
 * direction; a request may carry one file descriptor as SCM_RIGHTS data on
 * the same sendmsg(2) as its line. Every request has "op" and an optional
 * "id" (echoed). Every reply has "ok"; on failure an "error" object with a
 * stable "code" (below) and a human "message".
 */
#ifndef SOFTNET_PROTO_H
#define SOFTNET_PROTO_H

#define SOFTNET_PROTO_VERSION 1
#define SOFTNET_VERSION       "0.1.0"

#define SOFTNET_LINE_MAX (64 * 1024) /* bytes per line, newline included */

#ifdef __APPLE__
#define SOFTNET_DEFAULT_SOCKET "/var/run/softnetd.sock"
#else
#define SOFTNET_DEFAULT_SOCKET "/run/softnetd.sock"
#endif
#define SOFTNET_SOCKET_ENV "SOFTNET_SOCKET"

/* A MAC address as text, "aa:bb:cc:dd:ee:ff", and its NUL. */
#define SOFTNET_MAC_STRLEN 18

/*
 * Operations. "leases" answers one page of rows ordered by MAC:
 * {"after": MAC, "limit": 1..500}, both optional; the reply's "next" is
 * the MAC to pass as "after" for the next page, null on the last one.
 * Rows carry "client_id" (option 61 as hex octets) and "domain" (option
 * 81's), each null when unknown. The first page (no "after") also has
 * "quarantine": [{"ip", "mac", "until"}], the DECLINEd addresses the
 * caller may see (softnetctl shows them as state "quarantined").
 */
#define SOFTNET_OP_HELLO      "hello"
#define SOFTNET_OP_ATTACH     "attach"
#define SOFTNET_OP_DETACH     "detach"
#define SOFTNET_OP_LIST       "list"
#define SOFTNET_OP_SHOW       "show"
#define SOFTNET_OP_STATUS     "status"
#define SOFTNET_OP_STATS      "stats"
#define SOFTNET_OP_LEASES     "leases"
#define SOFTNET_OP_POLICY_GET "policy.get"
#define SOFTNET_OP_POLICY_SET "policy.set"
/*
 * "attach" may carry "ip": "A.B.C.D", the one address the VM gets by DHCP
 * while attached (root/admin_group, or any caller when A is reserved in
 * dhcp.reservations for the attached MAC or name). "leases" rows of state
 * "reserved" are reservations no VM of theirs holds now ("mac" or "name"
 * null for the other kind; "in_use_until" when another MAC's lease still
 * holds the address).
 */
/* Forgets a MAC's lease and owner: {"mac": M}; admin or owner only. */
#define SOFTNET_OP_LEASE_RELEASE "lease.release"
/*
 * The event stream (issue #16): {"vm": V} optional (a name, MAC or id).
 * The ok reply has "event": "subscribed", "ts" and "started" (the
 * daemon's start, RFC 3339 UTC); then the connection carries one JSON
 * line per event the caller may see ("ts", "event", and "vm", "id",
 * "mac", "owner" for a VM's), and takes no more requests, until the
 * client closes. A slow reader loses events: {"event": "lost", "count"}.
 * Too many subscribers: "busy".
 */
#define SOFTNET_OP_EVENTS "events"
/*
 * Packet capture: {"vm": V, "direction": "in"|"out"|"both", "drops": B}.
 * The ok reply ("vm") carries, by SCM_RIGHTS on the reply line, a stream
 * socket that reads as pcapng (SHB, IDB, one EPB per frame, an ISB with
 * isb_ifdrop at the end); the capture ends when the reader closes it or
 * this connection closes, or when the VM detaches. Refused with "busy"
 * at max_captures (the last kept for root and admin_group) or
 * max_captures_per_user.
 */
#define SOFTNET_OP_CAPTURE "capture"

/* Error codes (the "code" of a failed reply). Stable: scripts match them. */
#define SOFTNET_E_BAD_JSON      "bad_json"      /* not a JSON object */
#define SOFTNET_E_LINE_TOO_LONG "line_too_long" /* over SOFTNET_LINE_MAX */
#define SOFTNET_E_BAD_REQUEST   "bad_request"   /* missing/bad/extra field */
#define SOFTNET_E_UNKNOWN_OP    "unknown_op"
#define SOFTNET_E_VERSION       "version_mismatch"
#define SOFTNET_E_NO_FD         "no_fd"         /* attach without an fd */
#define SOFTNET_E_UNEXPECTED_FD "unexpected_fd" /* fd on another op */
#define SOFTNET_E_BAD_FD        "bad_fd"        /* not a dgram socket/TAP */
#define SOFTNET_E_BAD_MAC       "bad_mac"
#define SOFTNET_E_MAC_IN_USE    "mac_in_use"
#define SOFTNET_E_BAD_NAME      "bad_name"
#define SOFTNET_E_NAME_IN_USE   "name_in_use"
#define SOFTNET_E_BAD_POLICY    "bad_policy"
#define SOFTNET_E_TOO_MANY_VMS  "too_many_vms"
#define SOFTNET_E_NOT_FOUND     "not_found"
#define SOFTNET_E_PERMISSION    "permission_denied"
#define SOFTNET_E_CONFLICT      "conflict"    /* stale policy revision */
#define SOFTNET_E_BUSY          "busy"        /* a limit was reached */
#define SOFTNET_E_PORT_IN_USE   "port_in_use" /* --expose EXT taken */
#define SOFTNET_E_BAD_IP        "bad_ip"    /* attach "ip": not a VM address */
#define SOFTNET_E_IP_IN_USE     "ip_in_use" /* attach "ip": another VM's */
#define SOFTNET_E_INTERNAL      "internal"
/* The connection is closed after this one (client_timeout). */
#define SOFTNET_E_TIMEOUT "timeout"

#endif
