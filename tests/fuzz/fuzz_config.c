/*
 * libFuzzer target: config_load_string and config_free on the input as the
 * text of a configuration file.
 *
 * Checks beyond the sanitizers (config.h, config.c's invariants): a loaded
 * configuration has every string set and its values in their documented
 * ranges; a failed load leaves one line of message naming the file, without
 * control characters, and the configuration freed; config_free is safe
 * twice.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.json"

/* Stops the run: an invariant the loader promises does not hold. */
static _Noreturn void
broken_at(int line)
{
	fprintf(stderr, "%s:%d: invariant broken\n", __FILE__, line);
	__builtin_trap();
}
#define broken() broken_at(__LINE__)

/* A loaded configuration is complete and within its documented ranges. */
static void
check_loaded(const struct config *cfg)
{
	if (cfg->socket == NULL || cfg->socket_group == NULL ||
	    cfg->admin_group == NULL || cfg->database == NULL ||
	    cfg->uplink.name == NULL)
		broken();
	if (cfg->socket[0] != '/' || cfg->database[0] != '/')
		broken();
	if (strlen(cfg->uplink.name) == 0 || strlen(cfg->uplink.name) > 15)
		broken();
	if (cfg->max_vms < 1 || cfg->max_vms > 65535)
		broken();
	if (cfg->uplink.mtu < 576 || cfg->uplink.mtu > 9000)
		broken();
	if (cfg->dhcp.lease_time < 120 || cfg->dhcp.lease_time > 604800)
		broken();
	if (cfg->dhcp.ndns > CONFIG_MAX_DNS)
		broken();
	if (cfg->default_policy.nrules > POLICY_MAX_RULES ||
	    cfg->default_policy.nexpose > POLICY_MAX_EXPOSE)
		broken();
	if (cfg->uplink.have_addrs &&
	    (cfg->uplink.pool_start > cfg->uplink.pool_end ||
	        (cfg->uplink.gateway >= cfg->uplink.pool_start &&
	            cfg->uplink.gateway <= cfg->uplink.pool_end) ||
	        (cfg->uplink.gateway & cfg->uplink.netmask) !=
	            (cfg->uplink.pool_start & cfg->uplink.netmask)))
		broken();
}

/* A failure message: one line, about this file; the config freed. */
static void
check_failed(const struct config *cfg, const char *err)
{
	size_t i;

	if (strncmp(err, NAME ": ", strlen(NAME ": ")) != 0)
		broken();
	for (i = 0; err[i] != '\0'; i++) {
		if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
			broken();
	}
	if (cfg->socket != NULL || cfg->database != NULL ||
	    cfg->uplink.name != NULL)
		broken();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[CONFIG_ERRLEN], *text;

	/* The text is a C string: an exact-size, terminated copy. */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(err, 0, sizeof(err));
	if (config_load_string(text, NAME, &cfg, err, sizeof(err)) == 0) {
		check_loaded(&cfg);
		config_free(&cfg);
	} else {
		check_failed(&cfg, err);
	}
	config_free(&cfg);
	free(text);
	return 0;
}
