/*
 * Fake <dispatch/dispatch.h> for the Linux vmnet test build: the subset of
 * libdispatch softnet's macOS files use, with Apple's names and types
 * (dispatch/queue.h, semaphore.h, time.h, object.h). Implemented in
 * tests/fakes/dispatch.c with pthreads; blocks need clang -fblocks and
 * libBlocksRuntime.
 */
#ifndef FAKE_DISPATCH_H
#define FAKE_DISPATCH_H

#include <stdint.h>

typedef struct dispatch_queue_s *dispatch_queue_t;
typedef struct dispatch_semaphore_s *dispatch_semaphore_t;
typedef struct dispatch_queue_attr_s *dispatch_queue_attr_t;
typedef uint64_t dispatch_time_t;
typedef void (^dispatch_block_t)(void);

/* As in Apple's headers: a serial queue is the NULL attribute. */
#define DISPATCH_QUEUE_SERIAL NULL
#define DISPATCH_TIME_NOW     (0ull)
#define DISPATCH_TIME_FOREVER (~0ull)
#ifndef NSEC_PER_SEC
#define NSEC_PER_SEC  1000000000ull
#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_USEC 1000ull
#define USEC_PER_SEC  1000000ull
#endif

dispatch_queue_t dispatch_queue_create(
    const char *label, dispatch_queue_attr_t attr);
void dispatch_async(dispatch_queue_t queue, dispatch_block_t block);
void dispatch_sync(dispatch_queue_t queue, dispatch_block_t block);
void dispatch_after(
    dispatch_time_t when, dispatch_queue_t queue, dispatch_block_t block);
dispatch_semaphore_t dispatch_semaphore_create(long value);
/* Returns zero on success, non-zero when the timeout passed. */
long dispatch_semaphore_wait(
    dispatch_semaphore_t dsema, dispatch_time_t timeout);
long dispatch_semaphore_signal(dispatch_semaphore_t dsema);
dispatch_time_t dispatch_time(dispatch_time_t when, int64_t delta);
/* Apple takes a dispatch_object_t (a transparent union in C). */
void dispatch_retain(void *object);
void dispatch_release(void *object);

#endif
