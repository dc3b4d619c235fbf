/*
 * What every softnetctl command shares: the connection to softnetd, one
 * request/reply exchange (with an optional fd), error reporting and the
 * output helpers. Exit codes: 0 ok, 1 refused or failed, 2 usage.
 */
#ifndef SOFTNET_CLIENT_H
#define SOFTNET_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#define EXIT_REFUSED 1
#define EXIT_USAGE   2

/* How long softnet waits for an unreachable daemon by default (--wait). */
#define SOFTNET_WAIT_DEFAULT 30
#define SOFTNET_WAIT_MAX     86400

struct client {
	const char *socket; /* control socket path */
	bool json;          /* --json: print the daemon's JSON */
	int fd;             /* connection, -1 until connected */
	const char *prog;   /* for messages */
	/*
	 * Set by client_connect and client_call when the last failure was
	 * reaching or keeping the connection (worth retrying while softnetd
	 * restarts), cleared when softnetd itself answered with a refusal.
	 */
	bool lost;
	/*
	 * Set by client_do (and so client_connect) when softnetd refused with
	 * "busy": a limit that was full a moment ago may have room now.
	 */
	bool busy;
	char *errbuf;  /* when not NULL, client_warnx writes here, not stderr */
	size_t errlen; /* size of errbuf */
};

struct cmd_entry {
	const char *name;
	const char *usage; /* after "softnetctl [-s SOCKET] [--json] " */
	const char *help;  /* what it does and its options */
	int (*exec)(struct client *c, int argc, char **argv);
	/* When set, help lists the options (below), then this follows. */
	const char *help_after_options;
	/* Prints the option lines (attach_opts.c: the one option table). */
	void (*options_help)(FILE *stream);
};

/* Connects and says hello; prints the reason and returns -1 on failure. */
int client_connect(struct client *c);
/*
 * Sleeps until the next retry of a connection lost or not yet made: the
 * delay doubles from 50 ms (*backoff_ms 0) to 1 s and never passes
 * deadline_ms (client_now_ms clock). Returns -1, without sleeping, once the
 * deadline has passed or *stop is set.
 */
int client_backoff(
    long *backoff_ms, long long deadline_ms, volatile sig_atomic_t *stop);
/* Milliseconds on the monotonic clock. */
long long client_now_ms(void);
/*
 * Sends req (consumed) with fd (-1: none) and returns the reply, or NULL
 * after printing why the exchange failed.
 */
json_t *client_call(struct client *c, json_t *req, int fd);
/*
 * Sends req and, when the reply is ok, returns it; otherwise prints the
 * daemon's error message and returns NULL.
 */
json_t *client_do(struct client *c, json_t *req, int fd);
/*
 * client_call and client_do for a reply that may carry a descriptor
 * (SCM_RIGHTS): *rfd is it, or -1 (and -1 after a refusal).
 */
json_t *client_call_fd(struct client *c, json_t *req, int fd, int *rfd);
json_t *client_do_fd(struct client *c, json_t *req, int fd, int *rfd);
/* Prints a JSON value the way --json output is printed. */
void client_print_json(json_t *v);
/* "-" for null, the string, or the integer as text. */
const char *client_str(json_t *v, char *buf, size_t len);
/* The user name of uid (or the number as text). */
const char *client_user(json_int_t uid, char *buf, size_t len);
/* Prints the usage of one command to stream. */
void client_usage(const struct cmd_entry *e, FILE *stream);
/* Prints "prog: message" to stderr. */
void client_warnx(const struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parses "[--help]" alone; returns -1 to go on, else the exit status. */
int client_no_args(const struct cmd_entry *e, int argc, char **argv);
/* Appends the comma-separated items of list to array; -1 on an empty item. */
int client_split(json_t *array, const char *list);
/* Opens the named TAP in this network namespace; -1 after printing why. */
int client_tap_open(const struct client *c, const char *name);

/* The programs that take attach options (attach_opts.c). */
enum client_fe {
	CLIENT_FE_CTL,     /* softnetctl attach and exec */
	CLIENT_FE_SOFTNET, /* softnet, Tart's front end */
	CLIENT_FE_N,
};

/* What the attach options fill in; set the fields above req first. */
struct client_attach {
	enum client_fe fe;
	const struct cmd_entry *e;   /* CLIENT_FE_CTL: the command, for usage */
	void (*usage)(FILE *stream); /* CLIENT_FE_SOFTNET: prints its usage */
	bool no_fd;                  /* exec: --fd and --tap are usage errors */
	json_t *req;                 /* the attach request being built */
	int fd;                      /* --fd, --vm-fd: -1 until given */
	const char *tap;             /* --tap IFNAME, or NULL */
	bool host_only;              /* --vm-net-type host */
	long wait_s;                 /* --wait SECONDS */
};

/*
 * Parses argv's options for a->fe from the one attach option table into
 * a. Returns -1 to go on (optind at the first operand), else the exit
 * status (after --help, --version or a usage error).
 */
int client_attach_options(
    struct client *c, struct client_attach *a, int argc, char **argv);
/* Prints the option lines of a->fe's help from the same table. */
void client_attach_help(enum client_fe fe, FILE *stream);

/* The same for softnetctl (a cmd_entry's options_help). */
void client_attach_help_ctl(FILE *stream);

/* `softnetctl leases release MAC` (cmd_lease_release.c). */
int cmd_leases_release(struct client *c, int argc, char **argv);

extern const struct cmd_entry cmd_attach_entry;
extern const struct cmd_entry cmd_exec_entry;
extern const struct cmd_entry cmd_policy_entry;
extern const struct cmd_entry cmd_detach_entry;
extern const struct cmd_entry cmd_list_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_stats_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_leases_entry;
extern const struct cmd_entry cmd_events_entry;
extern const struct cmd_entry cmd_capture_entry;

#endif
