/*
 * libFuzzer target: ctl_ops_request, the transport-free core of the control
 * server, on one request line, as a connection would hand it over.
 *
 * The daemon context is made once by hand, as main.c does but without an
 * uplink or a control socket: defaults, an event base, an in-memory lease
 * database, ports and the switch. Two fixture VMs stay attached across
 * inputs so that requests naming a VM reach the code past the lookup:
 * "vm1" (02:00:00:00:00:01, id 1 at first, owner uid 1000, leased) and
 * "vm2" (02:00:00:00:00:02, owner uid 2000, no lease). After each input
 * every other VM is detached, the fixtures' policies are restored (and a
 * fixture the input detached is attached again), so state stays bounded;
 * the database is reopened every FRESH_DB_AFTER attaches.
 *
 * Input: one control byte, then the line (cut at the first newline, as the
 * connection's framing would).
 *   bit 0     an fd comes with the request (the callee must adopt or close)
 *   bits 1-2  peer: uid 0 (admin), uid 1000, uid 1000 admin, uid 2000
 *   bits 4-5  the fd: a SOCK_DGRAM socketpair end (0, 1), a SOCK_STREAM one
 *             (2), /dev/null (3)
 *
 * Checks beyond the sanitizers: a reply always serializes (conn_reply
 * treats failure as fatal) to one line; a failed reply carries an error
 * object with a string code and message; the fd is closed unless a VM
 * adopted it.
 *
 * An attach with "expose" listens on host TCP ports; the target moves into a
 * private network namespace first when it can (root), so fuzzing never
 * takes ports from the machine.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "control.h"
#include "ctl_ops.h"
#include "leasedb.h"
#include "log.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FRESH_DB_AFTER 256        /* attaches between database reopens */
#define FIXTURE_IP     0xc0a8690a /* 192.168.105.10 */

struct fixture {
	const char *name;
	uint8_t mac[6];
	int64_t owner;
	uint32_t ip;
	uint32_t id; /* 0: not attached */
	int peer_fd; /* the VM's end of the socketpair */
};

static struct softnetd sd;
static struct fixture fixtures[2] = {
    {"vm1", {0x02, 0, 0, 0, 0, 0x01}, 1000, FIXTURE_IP, 0, -1},
    {"vm2", {0x02, 0, 0, 0, 0, 0x02}, 2000, 0, 0, -1},
};
static struct policy fixture_policy;
static unsigned attaches;
static int session_token;

/* Stops the run: a promise of the control server does not hold. */
static _Noreturn void
broken_at(int line)
{
	fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
	__builtin_trap();
}
#define broken() broken_at(__LINE__)

/* Attaches fixture f with a fresh socketpair. */
static void
fixture_attach(struct fixture *f)
{
	struct vm_attach_args a;
	enum vm_err verr;
	char msg[256];
	struct port *p;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == -1)
		broken();
	memset(&a, 0, sizeof(a));
	a.fd = sv[0];
	a.kind = OSDEP_FD_DGRAM;
	memcpy(a.mac, f->mac, 6);
	a.name = f->name;
	a.owner = f->owner;
	a.policy = &fixture_policy;
	if ((p = vm_attach(&sd, &a, &verr, msg, sizeof(msg))) == NULL)
		broken();
	if (f->ip != 0)
		port_set_lease(&sd, p, f->ip, clock_now() + 600);
	if (f->peer_fd != -1)
		close(f->peer_fd);
	f->peer_fd = sv[1];
	f->id = p->id;
}

/* Whether p is one of the fixtures. */
static bool
is_fixture(const struct port *p)
{
	return p->id == fixtures[0].id || p->id == fixtures[1].id;
}

/* Opens a fresh in-memory lease database (closing the old one). */
static void
fresh_db(void)
{
	char err[256];

	if (sd.db != NULL)
		leasedb_close(sd.db);
	sd.db = leasedb_open(":memory:", sd.up.pool_start, sd.up.pool_end,
	    sd.up.gateway, err, sizeof(err));
	if (sd.db == NULL) {
		fprintf(stderr, "leasedb_open: %s\n", err);
		broken();
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[POLICY_ERRLEN];
	size_t i;

	(void)argc;
	(void)argv;
#ifdef CLONE_NEWNET
	/* Exposed ports bind in a namespace of our own (needs root). */
	(void)unshare(CLONE_NEWNET);
#endif
	signal(SIGPIPE, SIG_IGN);
	log_init(0, "fuzz_control");
	memset(&sd, 0, sizeof(sd));
	config_defaults(&sd.cfg);
	if ((sd.base = event_base_new()) == NULL)
		broken();
	sd.started = time(NULL);
	/* What a TAP uplink would report. */
	sd.up.gateway = sd.cfg.uplink.gateway;
	sd.up.netmask = sd.cfg.uplink.netmask;
	sd.up.pool_start = sd.cfg.uplink.pool_start;
	sd.up.pool_end = sd.cfg.uplink.pool_end;
	sd.up.mtu = sd.cfg.uplink.mtu;
	sd.up.max_frame = 1514;
	memcpy(sd.up.mac, "\x02\x53\x4e\x00\x00\x01", 6);
	memcpy(sd.up.name, "fuzz0", 6);
	softnetd_derive_network(&sd);
	fresh_db();
	port_init(&sd);
	switch_init(&sd); /* sd.uplink is NULL: no uplink event */
	vm_init(&sd);

	policy_init(&fixture_policy);
	if (policy_add(
	        &fixture_policy, "10.0.0.0/8", false, err, sizeof(err)) == -1 ||
	    policy_add(&fixture_policy, "@host", true, err, sizeof(err)) == -1)
		broken();
	fixture_policy.revision = 1;
	for (i = 0; i < 2; i++)
		fixture_attach(&fixtures[i]);
	return 0;
}

/* A reply must serialize to one line and say why when it is a failure. */
static void
check_reply(json_t *r)
{
	json_t *ok, *e, *code, *msg;
	char *s;

	if (r == NULL || !json_is_object(r))
		broken();
	ok = json_object_get(r, "ok");
	if (!json_is_boolean(ok))
		broken();
	if (json_is_false(ok)) {
		e = json_object_get(r, "error");
		code = json_object_get(e, "code");
		msg = json_object_get(e, "message");
		if (!json_is_object(e) || !json_is_string(code) ||
		    !json_is_string(msg) || json_string_length(code) == 0) {
			s = json_dumps(r, JSON_COMPACT | JSON_ENSURE_ASCII);
			fprintf(stderr, "reply without an error: %s\n",
			    s != NULL ? s : "(does not serialize)");
			free(s);
			broken();
		}
	}
	s = json_dumps(r, JSON_COMPACT);
	if (s == NULL || strchr(s, '\n') != NULL)
		broken();
	free(s);
}

/* Makes the descriptor that comes with the request; -1 on no resources. */
static int
make_fd(unsigned kind, int *other)
{
	int sv[2];

	*other = -1;
	if (kind == 3)
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	if (socketpair(AF_UNIX, kind == 2 ? SOCK_STREAM : SOCK_DGRAM, 0, sv) ==
	    -1)
		return -1;
	*other = sv[1];
	return sv[0];
}

/* Detaches everything the input attached and restores the fixtures. */
static void
reset(void)
{
	struct port *p, *tmp;
	size_t i;

	control_session_end(&sd, &session_token);
	TAILQ_FOREACH_SAFE(p, port_all(&sd), entry, tmp) {
		if (!is_fixture(p))
			vm_detach(&sd, p);
	}
	if (attaches >= FRESH_DB_AFTER) {
		TAILQ_FOREACH_SAFE(p, port_all(&sd), entry, tmp)
			vm_detach(&sd, p);
		fixtures[0].id = fixtures[1].id = 0;
		fresh_db();
		attaches = 0;
	}
	for (i = 0; i < 2; i++) {
		if (fixtures[i].id == 0 ||
		    (p = port_by_id(&sd, fixtures[i].id)) == NULL) {
			fixture_attach(&fixtures[i]);
			attaches++;
			continue;
		}
		p->policy = fixture_policy;
	}
	if (port_count(&sd) != 2)
		broken();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ctl_peer peers[4] = {
	    {0, 0, true},
	    {1000, 1000, false},
	    {1000, 1000, true},
	    {2000, 2000, false},
	};
	const struct ctl_peer *peer;
	const char *line, *nl;
	struct port *p;
	bool adopted = false;
	size_t len, before;
	uint8_t ctl;
	json_t *r;
	int fd = -1, other = -1;

	if (size < 1)
		return 0;
	ctl = data[0];
	line = (const char *)data + 1;
	len = size - 1;
	if ((nl = memchr(line, '\n', len)) != NULL)
		len = (size_t)(nl - line);
	if (len >= SOFTNET_LINE_MAX)
		return 0;
	peer = &peers[(ctl >> 1) & 3];
	if ((ctl & 1) && (fd = make_fd((ctl >> 4) & 3, &other)) == -1)
		return 0;

	before = port_count(&sd);
	r = ctl_ops_request(&sd, peer, line, len, fd, &session_token);
	check_reply(r);
	json_decref(r);

	if (fd != -1) {
		TAILQ_FOREACH(p, port_all(&sd), entry) {
			if (p->fd == fd)
				adopted = true;
		}
		if (adopted)
			attaches++;
		/* "A received fd is closed on every error path." */
		if (!adopted && fcntl(fd, F_GETFD) != -1)
			broken();
		if (adopted && port_count(&sd) != before + 1)
			broken();
	}
	if (other != -1)
		close(other);
	reset();
	return 0;
}
