/*
 * Theory of operation: a client opens the control socket, negotiates the
 * protocol with hello, then sends one JSON line per request (its fd, if
 * any, as SCM_RIGHTS on the same sendmsg) and reads one JSON line back.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "softnet_proto.h"
#include "softnet_sys.h"

void
client_warnx(const struct client *c, const char *fmt, ...)
{
	va_list ap;

	if (c->errbuf != NULL && c->errlen > 0) {
		/* Kept for the caller to print if it gives up retrying. */
		va_start(ap, fmt);
		vsnprintf(c->errbuf, c->errlen, fmt, ap);
		va_end(ap);
		return;
	}
	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Writes all of buf, passing fd with the first byte. */
static int
send_line(int s, const char *buf, size_t len, int fd)
{
	ssize_t n;

	while (len > 0) {
		n = softnet_sys_send_fd(s, buf, len, fd, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		fd = -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one line (without its newline) into a malloc'd buffer. */
static char *
read_line(int s, size_t *lenp)
{
	size_t len = 0, cap = 4096, take;
	char *buf = malloc(cap), *nbuf, *nl;
	ssize_t n;

	if (buf == NULL)
		return NULL;
	for (;;) {
		if (len == cap) {
			if ((nbuf = realloc(buf, cap * 2)) == NULL)
				break;
			buf = nbuf;
			cap *= 2;
		}
		/*
		 * Peek a block, then consume exactly through the newline:
		 * two system calls per block instead of one per byte, and
		 * whatever follows the reply stays in the socket for the
		 * caller (softnet waits there for the daemon to hang up).
		 */
		n = recv(s, buf + len, cap - len, MSG_PEEK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		nl = memchr(buf + len, '\n', (size_t)n);
		take = nl != NULL ? (size_t)(nl - (buf + len)) + 1 : (size_t)n;
		do
			n = recv(s, buf + len, take, 0);
		while (n == -1 && errno == EINTR);
		if (n != (ssize_t)take)
			break;
		len += take;
		if (nl != NULL) {
			*lenp = len - 1;
			return buf;
		}
	}
	free(buf);
	return NULL;
}

/*
 * Reads one reply line that may carry a descriptor (SCM_RIGHTS, with its
 * first byte) into a malloc'd buffer; *rfd is the descriptor or -1. Used
 * only where nothing follows the reply on the connection, so it reads in
 * blocks without peeking. Descriptors beyond the first are closed.
 */
static char *
read_line_fd(int s, size_t *lenp, int *rfd)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	size_t len = 0, cap = 4096, i, nfds;
	char *buf = malloc(cap), *nbuf;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t n;
	int fds[4];

	*rfd = -1;
	while (buf != NULL) {
		if (len == cap) {
			if ((nbuf = realloc(buf, cap * 2)) == NULL)
				break;
			buf = nbuf;
			cap *= 2;
		}
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = buf + len;
		iov.iov_len = cap - len;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		n = recvmsg(s, &msg, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			nfds = nfds > 4 ? 4 : nfds;
			memcpy(fds, CMSG_DATA(cm), nfds * sizeof(int));
			for (i = 0; i < nfds; i++) {
				if (*rfd == -1)
					*rfd = fds[i];
				else
					close(fds[i]);
			}
		}
		len += (size_t)n;
		if (buf[len - 1] == '\n') {
			*lenp = len - 1;
			return buf;
		}
	}
	free(buf);
	if (*rfd != -1)
		close(*rfd);
	*rfd = -1;
	return NULL;
}

json_t *
client_call(struct client *c, json_t *req, int fd)
{
	return client_call_fd(c, req, fd, NULL);
}

json_t *
client_call_fd(struct client *c, json_t *req, int fd, int *rfd)
{
	json_error_t jerr;
	json_t *r;
	char *line;
	size_t len;
	int rc;

	/* A daemon that hangs up is an error to report, not a SIGPIPE death. */
	signal(SIGPIPE, SIG_IGN);
	c->lost = false;
	c->busy = false;
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (line == NULL) {
		client_warnx(c, "out of memory");
		return NULL;
	}
	len = strlen(line);
	line[len] = '\n';
	rc = send_line(c->fd, line, len + 1, fd);
	free(line);
	line = NULL;
	/*
	 * A daemon that refuses a connection (busy, timeout) answers one
	 * error line and closes, so the send may fail with EPIPE: the line
	 * still waits in the socket and says why; print that, not "Broken
	 * pipe".
	 */
	if (rc == -1 && (errno == EPIPE || errno == ECONNRESET)) {
		rc = errno;
		line = read_line(c->fd, &len);
		errno = rc;
		rc = -1;
	}
	if (rc == -1 && line == NULL) {
		c->lost = true;
		client_warnx(c, "sending to softnetd: %s", strerror(errno));
		return NULL;
	}
	if (line == NULL && rfd != NULL)
		line = read_line_fd(c->fd, &len, rfd);
	else if (line == NULL)
		line = read_line(c->fd, &len);
	if (line == NULL) {
		c->lost = true;
		client_warnx(c, "softnetd closed the connection");
		return NULL;
	}
	r = json_loadb(line, len, 0, &jerr);
	free(line);
	if (!json_is_object(r)) {
		client_warnx(c, "softnetd sent a malformed reply");
		json_decref(r);
		return NULL;
	}
	return r;
}

json_t *
client_do(struct client *c, json_t *req, int fd)
{
	return client_do_fd(c, req, fd, NULL);
}

json_t *
client_do_fd(struct client *c, json_t *req, int fd, int *rfd)
{
	json_t *r = client_call_fd(c, req, fd, rfd), *e;
	const char *msg, *code;

	if (r == NULL)
		return NULL;
	if (json_is_true(json_object_get(r, "ok")))
		return r;
	e = json_object_get(r, "error");
	msg = json_string_value(json_object_get(e, "message"));
	code = json_string_value(json_object_get(e, "code"));
	c->busy = code != NULL && strcmp(code, SOFTNET_E_BUSY) == 0;
	client_warnx(
	    c, "%s (%s)", msg ? msg : "request refused", code ? code : "error");
	json_decref(r);
	if (rfd != NULL && *rfd != -1) {
		close(*rfd);
		*rfd = -1;
	}
	return NULL;
}

int
client_connect(struct client *c)
{
	struct sockaddr_un sun;
	json_t *r;

	c->lost = false;
	c->busy = false;
	if (strlen(c->socket) >= sizeof(sun.sun_path)) {
		client_warnx(c, "socket path too long: %s", c->socket);
		return -1;
	}
	if ((c->fd = softnet_sys_socket(AF_UNIX, SOCK_STREAM, false)) == -1) {
		client_warnx(c, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, c->socket, strlen(c->socket));
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		/*
		 * What a daemon being (re)started looks like: no socket yet,
		 * a stale one nobody listens on, or a full listen backlog
		 * (Linux fails a Unix connect with EAGAIN there, see unix(7)).
		 * Anything else, such as EACCES, will not change by waiting.
		 */
		c->lost = errno == ENOENT || errno == ECONNREFUSED ||
		          errno == EAGAIN || errno == EWOULDBLOCK ||
		          errno == ECONNRESET || errno == EINTR;
		client_warnx(c,
		    "cannot reach softnetd at %s: %s (is it running?)",
		    c->socket, strerror(errno));
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	r = client_do(c,
	    json_pack("{s:s,s:i,s:s}", "op", SOFTNET_OP_HELLO, "version",
	        SOFTNET_PROTO_VERSION, "client", c->prog),
	    -1);
	if (r == NULL) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	json_decref(r);
	return 0;
}

long long
client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
client_backoff(
    long *backoff_ms, long long deadline_ms, volatile sig_atomic_t *stop)
{
	long long left = deadline_ms - client_now_ms();
	struct timespec ts;
	long ms;

	if (left <= 0 || (stop != NULL && *stop))
		return -1;
	*backoff_ms = *backoff_ms <= 0 ? 50 : *backoff_ms * 2;
	if (*backoff_ms > 1000)
		*backoff_ms = 1000;
	ms = *backoff_ms < left ? *backoff_ms : (long)left;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	/* A signal cuts the nap short so that its handler's stop is seen. */
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		if (stop != NULL && *stop)
			return -1;
	return 0;
}

void
client_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s != NULL) {
		puts(s);
		free(s);
	}
}

const char *
client_str(json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "yes" : "no";
	return "-";
}

const char *
client_user(json_int_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid((uid_t)uid);

	if (pw != NULL)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%lld", (long long)uid);
	return buf;
}

void
client_usage(const struct cmd_entry *e, FILE *stream)
{
	fprintf(stream, "usage: softnetctl [-s SOCKET] [--json] %s %s\n\n%s",
	    e->name, e->usage, e->help);
	if (e->help_after_options != NULL) {
		if (e->options_help != NULL)
			e->options_help(stream);
		fputs(e->help_after_options, stream);
	}
}

int
client_split(json_t *array, const char *list)
{
	const char *s = list, *comma;
	size_t n;

	if (*s == '\0')
		return -1;
	for (;;) {
		comma = strchr(s, ',');
		n = comma != NULL ? (size_t)(comma - s) : strlen(s);
		if (n == 0)
			return -1;
		json_array_append_new(array, json_stringn(s, n));
		if (comma == NULL)
			return 0;
		s = comma + 1;
	}
}

int
client_no_args(const struct cmd_entry *e, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		client_usage(e, ch == 'h' ? stdout : stderr);
		return ch == 'h' ? 0 : EXIT_USAGE;
	}
	if (optind != argc) {
		client_usage(e, stderr);
		return EXIT_USAGE;
	}
	return -1;
}
