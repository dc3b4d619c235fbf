/* The hand-built daemon context the unit tests share (see testd.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "leasedb.h"
#include "port.h"
#include "switch.h"
#include "testd.h"

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
	switch_init(sd);
}

void
testd_close(struct softnetd *sd)
{
	port_shutdown(sd);
	switch_shutdown(sd);
	leasedb_close(sd->db);
	event_base_free(sd->base);
	config_free(&sd->cfg);
}
