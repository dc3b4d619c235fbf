/* The hand-built daemon context the unit tests share (see testd.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "leasedb.h"
#include "port.h"
#include "switch.h"
#include "testd.h"
#include "vm.h"

/*
 * The switch's idea of its loop's CPU demand in unit tests: never
 * saturated, since a test loop that never sleeps always is and the clock
 * rule would pace its VMs by the machine's speed. Tests of the rule set
 * testd_demand before testd_open.
 */
uint64_t
testd_never_saturated(void)
{
	return 0;
}

uint64_t (*testd_demand)(void) = testd_never_saturated;

/* Test ends of socket pairs, closed by testd_close (-1: closed early). */
static int peers[1024];
static int npeers;

void
testd_open(struct softnetd *sd, const uint8_t upmac[6])
{
	char err[256];

	memset(sd, 0, sizeof(*sd));
	config_defaults(&sd->cfg);
	sd->base = event_base_new();
	assert_non_null(sd->base);
	sd->up.gateway = sd->cfg.uplink.gateway;
	sd->up.netmask = sd->cfg.uplink.netmask;
	sd->up.pool_start = sd->cfg.uplink.pool_start;
	sd->up.pool_end = sd->cfg.uplink.pool_end;
	sd->up.mtu = 1500;
	sd->up.max_frame = 1514;
	memcpy(sd->up.mac, upmac, 6);
	snprintf(sd->up.name, sizeof(sd->up.name), "test0");
	sd->db = leasedb_open(":memory:", sd->up.pool_start, sd->up.pool_end,
	    sd->up.gateway, err, sizeof(err));
	if (sd->db == NULL)
		print_error("leasedb_open: %s\n", err);
	assert_non_null(sd->db);
	softnetd_derive_network(sd);
	sd->started = time(NULL);
	port_init(sd);
	capture_init(sd);
	switch_set_demand_hook(testd_demand);
	switch_init(sd);
	vm_init(sd);
}

void
testd_close(struct softnetd *sd)
{
	vm_shutdown(sd);
	port_shutdown(sd);
	capture_shutdown(sd);
	switch_shutdown(sd);
	switch_set_demand_hook(NULL);
	leasedb_close(sd->db);
	event_base_free(sd->base);
	config_free(&sd->cfg);
	while (npeers > 0)
		if (peers[--npeers] != -1)
			close(peers[npeers]);
}

int
testd_pair(int type, int *peer)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, type, 0, sv), 0);
	assert_true(npeers < (int)(sizeof(peers) / sizeof(peers[0])));
	peers[npeers++] = sv[1];
	if (peer != NULL)
		*peer = sv[1];
	return sv[0];
}

void
testd_close_peer(int peer)
{
	int i;

	for (i = 0; i < npeers; i++)
		if (peers[i] == peer)
			peers[i] = -1;
	assert_int_equal(close(peer), 0);
}
