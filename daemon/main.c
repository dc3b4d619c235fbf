/*
 * softnetd: the network isolation daemon. Startup order: configuration,
 * lease database, uplink, switch and ports, control socket; then the event
 * loop until SIGTERM/SIGINT. Shutdown closes every VM descriptor without
 * releasing leases (a restarted daemon, and VMs re-attached to it, keep
 * their addresses), closes the database and removes the socket.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bootpd.h"
#include "capture.h"
#include "config.h"
#include "control.h"
#include "dnsfwd.h"
#include "events.h"
#include "hostaddr.h"
#include "leasedb.h"
#include "log.h"
#include "metrics_http.h"
#include "osdep.h"
#include "pathcheck.h"
#include "port.h"
#include "softnet_proto.h"
#include "softnetd.h"
#include "switch.h"
#include "uplink.h"
#include "vm.h"
#include "xmalloc.h"

static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: softnetd [-Bdn] [-f CONFIG] [-l FILE] [-s SOCKET]\n"
	    "\n"
	    "  -d         debug logging\n"
	    "  -n         check the configuration and exit (0 ok, 1 not)\n"
	    "  -f CONFIG  configuration file (JSON); defaults without one\n"
	    "  -l FILE    log to FILE (appending), reopened when rotated\n"
	    "  -s SOCKET  control socket path (overrides the file)\n"
	    "  -B         no batching: one frame per read and per write, no\n"
	    "             coalescing (the baseline make bench compares with)\n"
	    "  -h         this help; see softnetd(8)\n");
	exit(status);
}

/* Creates the parent directories of path (mode 0755) if missing. */
static int
make_parent(const char *path)
{
	char *dir = xstrdup(path), *s;
	int rc = 0;

	for (s = dir + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = '/';
	}
	free(dir);
	return rc;
}

/*
 * Every VM, every control connection with the descriptors it may carry
 * in flight, and every proxied connection (two) is a descriptor: make room
 * for all of them (plus the database, uplink and listeners) if the hard
 * limit allows. Whatever the limit, fdbudget.c shares it out so that no
 * tenant can take the last descriptor.
 */
static void
raise_fd_limit(const struct config *cfg)
{
	rlim_t want = (rlim_t)cfg->max_vms * 2 +
	              (rlim_t)cfg->max_connections * CONTROL_CONN_FDS +
	              (rlim_t)cfg->max_proxied_connections * 2 + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want
	                  ? want
	                  : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur < want)
		log_warnx("descriptor limit %llu is below the %llu that "
		          "max_vms and max_connections need",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

/*
 * Refuses a database path (or its -wal/-shm companions) that is a
 * symbolic link: root must not be tricked into writing elsewhere.
 */
static int
refuse_symlinks(const char *db, char *err, size_t errlen)
{
	char files[LEASEDB_NFILES][PATH_MAX];
	struct stat st;
	size_t i;

	if (leasedb_files(db, files) == -1) {
		snprintf(err, errlen, "%.256s: path too long", db);
		return -1;
	}
	for (i = 0; i < LEASEDB_NFILES; i++) {
		if (lstat(files[i], &st) == 0 && S_ISLNK(st.st_mode)) {
			snprintf(err, errlen,
			    "%.256s is a symbolic link; refusing "
			    "to use it",
			    files[i]);
			return -1;
		}
	}
	return 0;
}

/* Timer and SIGHUP callback: reopen the -l log file if it was rotated. */
static void
on_log_check(evutil_socket_t sig, short what, void *arg)
{
	(void)arg;
	(void)what;
	(void)log_check_file(sig == SIGHUP);
}

/* Signal callback: leave the loop. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct softnetd *sd = arg;

	(void)what;
	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(sd->base, NULL);
}

/*
 * Gives one database file to uid:gid through a descriptor opened without
 * following a symbolic link (O_NOFOLLOW: ELOOP): a link planted where the
 * file belongs never hands its target to the daemon's user. 0, or -1
 * with errno (ENOENT: no such file, which is fine for -wal and -shm).
 */
static int
chown_db_file(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL; /* not a database: a device, a FIFO */
	else if (fchown(fd, uid, gid) == -1)
		err = errno;
	close(fd);
	if (err == 0)
		return 0;
	errno = err;
	return -1;
}

/*
 * Hands the lease database files to the unprivileged user, then becomes
 * that user (osdep_drop_privileges says what is kept and why).
 */
static int
drop_privileges(struct softnetd *sd, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(sd->cfg.user);
	char files[LEASEDB_NFILES][PATH_MAX];
	size_t i;

	if (pw == NULL) {
		snprintf(
		    err, errlen, "user \"%s\" does not exist", sd->cfg.user);
		return -1;
	}
	if (leasedb_files(sd->cfg.database, files) == -1) {
		snprintf(
		    err, errlen, "%.256s: path too long", sd->cfg.database);
		return -1;
	}
	for (i = 0; i < LEASEDB_NFILES; i++) {
		if (chown_db_file(files[i], pw->pw_uid, pw->pw_gid) == -1 &&
		    errno != ENOENT) {
			snprintf(err, errlen, "chown %.256s: %s", files[i],
			    strerror(errno));
			return -1;
		}
	}
	if (osdep_drop_privileges(sd->cfg.user, err, errlen) == -1)
		return -1;
	log_info("running as %s", sd->cfg.user);
	return 0;
}

/* What the command line asks for (see usage). */
struct options {
	const char *conf;    /* -f */
	const char *sock;    /* -s */
	const char *logfile; /* -l */
	int debug;           /* -d */
	int check;           /* -n */
};

/* The events main owns: the stop signals, and the log file's watch. */
struct watch {
	struct event *sigs[2];
	struct event *logev[2];
};

/* Reads the command line into o (and -B into sd); exits on a usage error. */
static void
parse_options(int argc, char **argv, struct softnetd *sd, struct options *o)
{
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt(argc, argv, "Bdnf:l:s:h")) != -1) {
		switch (ch) {
		case 'B':
			sd->no_batch = true;
			break;
		case 'd':
			o->debug = 1;
			break;
		case 'n':
			o->check = 1;
			break;
		case 'f':
			o->conf = optarg;
			break;
		case 'l':
			o->logfile = optarg;
			break;
		case 's':
			o->sock = optarg;
			break;
		case 'h':
			usage(0);
		default:
			usage(2);
		}
	}
	if (optind != argc)
		usage(2);
}

/*
 * Loads the configuration (or the defaults) with the command line's
 * overrides and checks what must hold before anything privileged. 0, or
 * -1 with the reason on stderr and nothing left allocated.
 */
static int
load_config(struct softnetd *sd, const struct options *o, const char *argv0)
{
	char err[CONFIG_ERRLEN];

	if (o->conf == NULL)
		config_defaults(&sd->cfg);
	else if (config_load(o->conf, &sd->cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "softnetd: %s\n", err);
		return -1;
	}
	sd->cfg.uplink.no_offload = sd->no_batch;
	if (o->sock != NULL) {
		if (o->sock[0] != '/') {
			fprintf(stderr,
			    "softnetd: -s %s: not an absolute path\n", o->sock);
			return -1;
		}
		free(sd->cfg.socket);
		sd->cfg.socket = xstrdup(o->sock);
	}
	if (sd->cfg.user != NULL && getpwnam(sd->cfg.user) == NULL) {
		fprintf(stderr, "softnetd: user \"%s\" does not exist\n",
		    sd->cfg.user);
		config_free(&sd->cfg);
		return -1;
	}
	/* Before anything privileged: no file root runs or reads may be
	 * writable by another user (pathcheck.c, issue #11). */
	if (pathcheck_startup(
	        argv0, o->conf, sd->cfg.database, err, sizeof(err)) == -1) {
		fprintf(stderr, "softnetd: %s; refusing to start\n", err);
		config_free(&sd->cfg);
		return -1;
	}
	return 0;
}

/* Opens the lease database, refusing symbolic links where its files go. */
static void
open_db(struct softnetd *sd)
{
	char err[CONFIG_ERRLEN];

	if (make_parent(sd->cfg.database) == -1)
		fatal("creating the directory of %s", sd->cfg.database);
	if (refuse_symlinks(sd->cfg.database, err, sizeof(err)) == -1)
		fatalx("%s", err);
	sd->db = leasedb_open(sd->cfg.database, sd->up.pool_start,
	    sd->up.pool_end, sd->up.gateway, err, sizeof(err));
	if (sd->db == NULL)
		fatalx("%s", err);
	leasedb_set_reservations(
	    sd->db, sd->cfg.dhcp.reservations, sd->cfg.dhcp.nreservations);
}

/*
 * Brings the daemon up in the order the top of this file gives, then
 * drops privileges; any failure here is fatal.
 */
static void
start(struct softnetd *sd)
{
	struct uplink_settings us;
	char err[CONFIG_ERRLEN];

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(&sd->cfg);
	if ((sd->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	sd->started = time(NULL);

	/* The uplink first: on vmnet it decides the subnet and the pool. */
	softnetd_uplink_settings(&sd->cfg, &us);
	if ((sd->uplink = uplink_open(&us, &sd->up, err, sizeof(err))) == NULL)
		fatalx("uplink: %s", err);
	open_db(sd);
	softnetd_derive_network(sd);
	events_init(sd); /* before anything that reports */
	port_init(sd);
	capture_init(sd);
	switch_init(sd);
	vm_init(sd);
	hostaddr_init(sd);
	/* Port 53 on the gateway: the uplink is up, privileges not dropped. */
	dnsfwd_init(sd);
	bootpd_init(sd);
	if (control_init(sd, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (metrics_http_init(sd, err, sizeof(err)) == -1)
		fatalx("%s", err);

	if (sd->cfg.user != NULL && drop_privileges(sd, err, sizeof(err)) == -1)
		fatalx("%s", err);
}

/* Watches SIGTERM/SIGINT, and with -l the log file's rotation. */
static void
watch_events(struct softnetd *sd, struct watch *w, bool logfile)
{
	struct timeval tv = {LOG_CHECK_INTERVAL, 0};

	memset(w, 0, sizeof(*w));
	w->sigs[0] = evsignal_new(sd->base, SIGTERM, on_signal, sd);
	w->sigs[1] = evsignal_new(sd->base, SIGINT, on_signal, sd);
	if (w->sigs[0] == NULL || w->sigs[1] == NULL ||
	    evsignal_add(w->sigs[0], NULL) == -1 ||
	    evsignal_add(w->sigs[1], NULL) == -1)
		fatalx("cannot watch signals");
	if (!logfile)
		return;
	w->logev[0] = event_new(sd->base, -1, EV_PERSIST, on_log_check, NULL);
	w->logev[1] = evsignal_new(sd->base, SIGHUP, on_log_check, NULL);
	if (w->logev[0] == NULL || w->logev[1] == NULL ||
	    event_add(w->logev[0], &tv) == -1 ||
	    evsignal_add(w->logev[1], NULL) == -1)
		fatalx("cannot watch the log file");
}

/*
 * Takes the daemon down: VM descriptors closed, leases kept (the top of
 * this file says why), everything freed.
 */
static void
stop(struct softnetd *sd, struct watch *w)
{
	size_t i;

	/* Queued for subscribers; control_shutdown writes what it can. */
	events_emit(sd, &(struct event_desc){.kind = EVENTS_STOP});
	metrics_http_shutdown(sd);
	control_shutdown(sd);
	dnsfwd_shutdown(sd);
	bootpd_shutdown(sd); /* before the ports it reads go */
	vm_shutdown(sd);
	port_shutdown(sd);
	capture_shutdown(sd);
	switch_shutdown(sd);
	hostaddr_shutdown(sd);
	events_shutdown(sd);
	uplink_close(sd->uplink);
	leasedb_close(sd->db);
	for (i = 0; i < 2; i++) {
		event_free(w->sigs[i]);
		if (w->logev[i] != NULL)
			event_free(w->logev[i]);
	}
	event_base_free(sd->base);
	config_free(&sd->cfg);
}

int
main(int argc, char **argv)
{
	struct softnetd sd;
	struct options o;
	struct watch w;
	char err[CONFIG_ERRLEN];

	memset(&sd, 0, sizeof(sd));
	parse_options(argc, argv, &sd, &o);
	log_init(o.debug, "softnetd");
	/*
	 * The log file first, so that configuration errors land in it too;
	 * opened as root (before any drop) like launchd's StandardErrorPath.
	 */
	if (o.logfile != NULL &&
	    log_open_file(o.logfile, err, sizeof(err)) == -1) {
		fprintf(stderr, "softnetd: %s\n", err);
		return 1;
	}
	if (load_config(&sd, &o, argv[0]) == -1)
		return 1;
	if (o.check) {
		printf(
		    "%s: configuration OK\n", o.conf ? o.conf : "(defaults)");
		config_free(&sd.cfg);
		return 0;
	}

	start(&sd);
	watch_events(&sd, &w, o.logfile != NULL);
	/* Last: what is open now is the budget's base. */
	fdbudget_init(&sd);
	log_info("softnetd %s listening on %s, uplink %s", SOFTNET_VERSION,
	    sd.cfg.socket, sd.up.name);
	events_emit(&sd, &(struct event_desc){.kind = EVENTS_START});
	if (event_base_dispatch(sd.base) == -1)
		fatalx("event loop failed");

	stop(&sd, &w);
	log_info("stopped");
	return sd.exit_status;
}
