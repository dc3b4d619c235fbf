/*
 * Theory of operation: a pthread stand-in for the libdispatch subset the
 * vmnet uplink uses. A serial queue is one worker thread running copied
 * blocks in submission order; a queue is reference counted (each pending
 * block holds a reference, as libdispatch keeps a released queue alive
 * until its blocks ran) and its thread ends when the last reference goes.
 * Semaphores count and wait on CLOCK_MONOTONIC with a timeout;
 * dispatch_time values are absolute nanoseconds on that clock, NOW is 0
 * and FOREVER all ones, as in Apple's <dispatch/time.h>.
 */
#include <Block.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dispatch/dispatch.h>

enum obj_kind { OBJ_QUEUE = 0x51, OBJ_SEMA = 0x53 };

struct job {
	struct job *next;
	dispatch_block_t block;
};

struct dispatch_queue_s {
	int kind;
	int refs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	char label[64];
};

struct dispatch_semaphore_s {
	int kind;
	int refs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long value;
};

/* Current CLOCK_MONOTONIC time in ns. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

dispatch_time_t
dispatch_time(dispatch_time_t when, int64_t delta)
{
	uint64_t base;

	if (when == DISPATCH_TIME_FOREVER)
		return DISPATCH_TIME_FOREVER;
	base = when == DISPATCH_TIME_NOW ? now_ns() : when;
	if (delta < 0 && (uint64_t)-delta > base)
		return 1;
	if (delta > 0 && base + (uint64_t)delta < base)
		return DISPATCH_TIME_FOREVER;
	return base + (uint64_t)delta;
}

/* Drops one queue reference; the last one frees it (its thread is gone). */
static void
queue_unref_locked(struct dispatch_queue_s *q)
{
	q->refs--;
	pthread_cond_broadcast(&q->cv);
}

/* The queue's worker: runs blocks in order until no reference is left. */
static void *
queue_main(void *arg)
{
	struct dispatch_queue_s *q = arg;
	struct job *j;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->head == NULL && q->refs > 0)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->head == NULL)
			break;
		j = q->head;
		q->head = j->next;
		if (q->head == NULL)
			q->tail = NULL;
		pthread_mutex_unlock(&q->mu);
		j->block();
		Block_release(j->block);
		free(j);
		pthread_mutex_lock(&q->mu);
		queue_unref_locked(q);
	}
	pthread_mutex_unlock(&q->mu);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
	return NULL;
}

dispatch_queue_t
dispatch_queue_create(const char *label, dispatch_queue_attr_t attr)
{
	struct dispatch_queue_s *q = calloc(1, sizeof(*q));
	pthread_attr_t pa;
	pthread_t t;

	(void)attr;
	if (q == NULL)
		return NULL;
	q->kind = OBJ_QUEUE;
	q->refs = 1;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	snprintf(q->label, sizeof(q->label), "%s", label ? label : "");
	pthread_attr_init(&pa);
	pthread_attr_setdetachstate(&pa, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &pa, queue_main, q) != 0) {
		pthread_attr_destroy(&pa);
		free(q);
		return NULL;
	}
	pthread_attr_destroy(&pa);
	return q;
}

void
dispatch_async(dispatch_queue_t q, dispatch_block_t block)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL || q == NULL) {
		fprintf(stderr, "fake dispatch_async: no memory or no queue\n");
		abort();
	}
	j->block = Block_copy(block);
	pthread_mutex_lock(&q->mu);
	q->refs++;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

void
dispatch_sync(dispatch_queue_t q, dispatch_block_t block)
{
	dispatch_semaphore_t s = dispatch_semaphore_create(0);

	dispatch_async(q, ^{
	  block();
	  dispatch_semaphore_signal(s);
	});
	dispatch_semaphore_wait(s, DISPATCH_TIME_FOREVER);
	dispatch_release(s);
}

void
dispatch_after(dispatch_time_t when, dispatch_queue_t q, dispatch_block_t block)
{
	dispatch_block_t b = Block_copy(block);

	dispatch_retain(q);
	/* One short-lived timer queue per call: simple, and calls are rare. */
	dispatch_queue_t timer = dispatch_queue_create("fake.after", NULL);
	dispatch_async(timer, ^{
	  uint64_t t = now_ns();
	  struct timespec ts;

	  if (when != DISPATCH_TIME_FOREVER && when > t) {
		  ts.tv_sec = (time_t)((when - t) / NSEC_PER_SEC);
		  ts.tv_nsec = (long)((when - t) % NSEC_PER_SEC);
		  nanosleep(&ts, NULL);
	  }
	  if (when != DISPATCH_TIME_FOREVER)
		  dispatch_async(q, b);
	  Block_release(b);
	  dispatch_release(q);
	});
	dispatch_release(timer);
}

dispatch_semaphore_t
dispatch_semaphore_create(long value)
{
	struct dispatch_semaphore_s *s;
	pthread_condattr_t ca;

	if (value < 0 || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->kind = OBJ_SEMA;
	s->refs = 1;
	s->value = value;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	return s;
}

long
dispatch_semaphore_wait(dispatch_semaphore_t s, dispatch_time_t timeout)
{
	struct timespec ts;
	long rc = 0;

	ts.tv_sec = (time_t)(timeout / NSEC_PER_SEC);
	ts.tv_nsec = (long)(timeout % NSEC_PER_SEC);
	pthread_mutex_lock(&s->mu);
	while (s->value <= 0) {
		if (timeout == DISPATCH_TIME_FOREVER)
			pthread_cond_wait(&s->cv, &s->mu);
		else if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) ==
		             ETIMEDOUT &&
		         s->value <= 0) {
			rc = 1;
			break;
		}
	}
	if (rc == 0)
		s->value--;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

long
dispatch_semaphore_signal(dispatch_semaphore_t s)
{
	pthread_mutex_lock(&s->mu);
	s->value++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void
dispatch_retain(void *object)
{
	int *kind = object;

	if (*kind == OBJ_QUEUE) {
		struct dispatch_queue_s *q = object;
		pthread_mutex_lock(&q->mu);
		q->refs++;
		pthread_mutex_unlock(&q->mu);
	} else {
		struct dispatch_semaphore_s *s = object;
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_SEQ_CST);
	}
}

void
dispatch_release(void *object)
{
	int *kind = object;

	if (object == NULL)
		return;
	if (*kind == OBJ_QUEUE) {
		struct dispatch_queue_s *q = object;
		pthread_mutex_lock(&q->mu);
		queue_unref_locked(q);
		pthread_mutex_unlock(&q->mu);
	} else if (*kind == OBJ_SEMA) {
		struct dispatch_semaphore_s *s = object;
		if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_SEQ_CST) == 0) {
			pthread_mutex_destroy(&s->mu);
			pthread_cond_destroy(&s->cv);
			free(s);
		}
	} else {
		fprintf(stderr, "fake dispatch_release: not an object\n");
		abort();
	}
}
