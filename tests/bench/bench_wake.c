/*
 * bench_wake: how long this machine takes to wake a process that sleeps in
 * poll(2) after IDLE microseconds of nothing to do, the way softnetd
 * sleeps between two pings of the RTT row. A frame relayed by any
 * user-space switch pays this twice per round trip (the request and the
 * reply each wake the daemon), where a kernel veth pays it not at all, so
 * twice the median is the floor under "RTT added" on this machine.
 *
 * A parent writes its clock into a pipe every IDLE us; a child blocked in
 * poll reads it and sends back how late it woke. Prints "key value" lines
 * for tests/bench/bench.py.
 *
 * usage: bench_wake [IDLE_US [COUNT]]   (defaults 10000 and 200)
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Monotonic nanoseconds. */
static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The child: waits, answers with its lateness, until the pipe closes. */
static void
child(int in, int out)
{
	struct pollfd p = {in, POLLIN, 0};
	int64_t t;

	for (;;) {
		if (poll(&p, 1, -1) == -1 ||
		    read(in, &t, sizeof(t)) != sizeof(t))
			_exit(0);
		t = now_ns() - t;
		if (write(out, &t, sizeof(t)) != sizeof(t))
			_exit(1);
	}
}

int
main(int argc, char **argv)
{
	struct timespec idle;
	int64_t *v, t;
	long idle_us = argc > 1 ? atol(argv[1]) : 10000;
	int n = argc > 2 ? atoi(argv[2]) : 200, to[2], from[2], i;
	pid_t pid;

	if (idle_us < 0 || idle_us > 1000000 || n < 2 || n > 100000) {
		fprintf(stderr, "usage: bench_wake [IDLE_US [COUNT]]\n");
		return 2;
	}
	if (pipe(to) == -1 || pipe(from) == -1 || (pid = fork()) == -1) {
		perror("bench_wake");
		return 1;
	}
	if (pid == 0) {
		close(to[1]);
		close(from[0]);
		child(to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	if ((v = calloc((size_t)n, sizeof(*v))) == NULL)
		return 1;
	idle.tv_sec = idle_us / 1000000;
	idle.tv_nsec = (idle_us % 1000000) * 1000;
	for (i = 0; i < n; i++) {
		nanosleep(&idle, NULL);
		t = now_ns();
		if (write(to[1], &t, sizeof(t)) != sizeof(t) ||
		    read(from[0], &v[i], sizeof(v[i])) != sizeof(v[i])) {
			perror("bench_wake");
			return 1;
		}
	}
	close(to[1]);
	(void)waitpid(pid, NULL, 0);
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("idle_us %ld\n", idle_us);
	printf("wake_median_us %.1f\n", (double)v[n / 2] / 1e3);
	printf("wake_p90_us %.1f\n", (double)v[n * 9 / 10] / 1e3);
	free(v);
	return 0;
}
