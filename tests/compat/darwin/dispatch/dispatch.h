/* Declaration-only stand-in for the parts of <dispatch/dispatch.h> used. */
#ifndef COMPAT_DISPATCH_H
#define COMPAT_DISPATCH_H

#include <stdint.h>

typedef struct dispatch_queue_s *dispatch_queue_t;
typedef struct dispatch_semaphore_s *dispatch_semaphore_t;
typedef struct dispatch_queue_attr_s *dispatch_queue_attr_t;
typedef uint64_t dispatch_time_t;

#define DISPATCH_QUEUE_SERIAL ((dispatch_queue_attr_t)0)
#define DISPATCH_TIME_FOREVER (~0ull)
/* <dispatch/time.h>. */
#define DISPATCH_TIME_NOW (0ull)
#define NSEC_PER_SEC      1000000000ull
/* <dispatch/object.h>, <dispatch/queue.h>. */
typedef void (^dispatch_block_t)(void);

dispatch_queue_t dispatch_queue_create(const char *label,
    dispatch_queue_attr_t attr);
dispatch_semaphore_t dispatch_semaphore_create(long value);
long dispatch_semaphore_wait(dispatch_semaphore_t dsema,
    dispatch_time_t timeout);
long dispatch_semaphore_signal(dispatch_semaphore_t dsema);
dispatch_time_t dispatch_time(dispatch_time_t when, int64_t delta);
void dispatch_async(dispatch_queue_t queue, dispatch_block_t block);
void dispatch_retain(void *object);
void dispatch_release(void *object);

#endif
