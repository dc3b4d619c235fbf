/*
 * A softnetd context built by hand for unit tests: no uplink (frames for
 * it are counted in uplink_write_drop), an in-memory lease database, the
 * default network 192.168.105.0/24 with the gateway at .1 and the pool
 * .2-.254. Each test file sets the clock it wants (clock_set_hook).
 */
#ifndef SOFTNET_TESTD_H
#define SOFTNET_TESTD_H

#include <stdint.h>

#include "softnetd.h"

/* Opens the context; the uplink side's MAC is upmac. */
void testd_open(struct softnetd *sd, const uint8_t upmac[6]);
/* The switch's CPU demand while testd_open's daemon runs (default: never
 * saturated, testd_never_saturated); set it before testd_open. */
extern uint64_t (*testd_demand)(void);
uint64_t testd_never_saturated(void);
/*
 * Frees everything testd_open made (and every port still attached) and
 * closes the test's ends of the socket pairs testd_pair made.
 */
void testd_close(struct softnetd *sd);
/*
 * A socket pair of type: returns the daemon's end; the test's end goes to
 * *peer (if not NULL) and is closed by testd_close unless testd_close_peer
 * closed it first.
 */
int testd_pair(int type, int *peer);
/* Closes the test's end of a pair early. */
void testd_close_peer(int peer);

#endif
