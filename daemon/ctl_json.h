/*
 * The control protocol's JSON views and reply helpers: how a VM, a policy,
 * a lease row or the daemon's status reads on the wire. Below the ops
 * (ctl_ops.c) and the server (control.c): it builds objects from the
 * daemon's state and calls neither.
 */
#ifndef SOFTNET_CTL_JSON_H
#define SOFTNET_CTL_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"

/* Room for one error message, client input quoted in it included. */
#define CTL_JSON_MSG_LEN 256

struct lease;
struct leasedb_quarantine;
struct policy;
struct port;
struct reserve_entry;
struct softnetd;

/* A reply with ok and the request's id (NULL: none). */
json_t *ctl_json_reply(bool ok, json_t *id);
/* An error reply: a stable code and a printable-ASCII message. */
json_t *ctl_json_error(json_t *id, const char *code, const char *fmt, ...)
    LOG_PRINTF(3, 4);
/* An IPv4 address as a string, or null for 0. */
json_t *ctl_json_ip(uint32_t ip);
/* The policy as {"allow", "block", "expose", "revision"}. */
json_t *ctl_json_policy(const struct policy *pol);
/* A VM as an object; detail adds its policy and counters. */
json_t *ctl_json_vm(const struct port *p, bool detail);
/* One lease row of "leases". */
json_t *ctl_json_lease(const struct lease *l);
/*
 * A row of state "reserved" for e; holder, when not NULL, is another
 * MAC's lease that still holds the address ("in_use_until").
 */
json_t *ctl_json_reserved(
    const struct reserve_entry *e, const struct lease *holder);
/* One DECLINEd address in quarantine. */
json_t *ctl_json_quarantine(const struct leasedb_quarantine *q);
/* The daemon, its uplink, pool and counters ("status", less "limits"). */
json_t *ctl_json_status(struct softnetd *sd);

#endif
