/*
 * Theory of operation: strict parsers for the address text that reaches the
 * daemon from config files, clients and the command line. Each one consumes
 * the whole string or fails, and never reads past its terminating NUL.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* Value of one hex digit, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
addr_parse_mac(const char *s, uint8_t mac[6])
{
	char sep = 0;
	int i, d, v;

	for (i = 0; i < 6; i++) {
		if ((v = hexval(*s)) < 0)
			return -1;
		s++;
		if ((d = hexval(*s)) >= 0) {
			v = v * 16 + d;
			s++;
		}
		mac[i] = (uint8_t)v;
		if (i == 5)
			break;
		if (*s != ':' && *s != '-')
			return -1;
		if (sep != 0 && *s != sep)
			return -1;
		sep = *s++;
	}
	return *s == '\0' ? 0 : -1;
}

void
addr_format_mac(const uint8_t mac[6], char buf[ADDR_MAC_STRLEN])
{
	snprintf(buf, ADDR_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
	    mac[1], mac[2], mac[3], mac[4], mac[5]);
}

bool
addr_mac_is_unicast(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return (mac[0] & 1) == 0 && memcmp(mac, zero, 6) != 0;
}

int
addr_parse_ipv4(const char *s, uint32_t *ip)
{
	uint32_t v = 0;
	int part, digits, n;

	for (part = 0; part < 4; part++) {
		n = 0;
		for (digits = 0; *s >= '0' && *s <= '9'; digits++, s++) {
			/* No leading zeros: inet_aton would read them as octal.
			 */
			if (digits == 3 || (digits == 1 && n == 0))
				return -1;
			n = n * 10 + (*s - '0');
		}
		if (digits == 0 || n > 255)
			return -1;
		v = v << 8 | (uint32_t)n;
		if (part < 3 && *s++ != '.')
			return -1;
	}
	if (*s != '\0')
		return -1;
	*ip = v;
	return 0;
}

void
addr_format_ipv4(uint32_t ip, char buf[ADDR_IPV4_STRLEN])
{
	snprintf(buf, ADDR_IPV4_STRLEN, "%u.%u.%u.%u", ip >> 24,
	    (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

uint32_t
addr_prefix_mask(uint8_t plen)
{
	if (plen == 0)
		return 0;
	if (plen >= 32)
		return 0xffffffffu;
	return 0xffffffffu << (32 - plen);
}

int
addr_mask_to_prefix(uint32_t mask)
{
	int plen = 0;

	while (plen < 32 && (mask & (0x80000000u >> plen)) != 0)
		plen++;
	return addr_prefix_mask((uint8_t)plen) == mask ? plen : -1;
}

int
addr_parse_cidr(const char *s, uint32_t *net, uint8_t *plen)
{
	char buf[ADDR_IPV4_STRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int len = 32, digits = 0;
	uint32_t ip;

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (addr_parse_ipv4(buf, &ip) == -1)
		return -1;
	if (slash != NULL) {
		len = 0;
		for (s = slash + 1; *s >= '0' && *s <= '9'; s++, digits++) {
			if (digits == 2)
				return -1;
			len = len * 10 + (*s - '0');
		}
		if (digits == 0 || *s != '\0' || len > 32)
			return -1;
	}
	if ((ip & ~addr_prefix_mask((uint8_t)len)) != 0)
		return -1;
	*net = ip;
	*plen = (uint8_t)len;
	return 0;
}

bool
addr_name_valid(const char *name)
{
	uint8_t mac[6];
	size_t i, n, digits = 0;

	if (name == NULL)
		return false;
	n = strnlen(name, ADDR_NAMELEN);
	if (n == 0 || n >= ADDR_NAMELEN)
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			digits++;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             c == '.' || c == '_' || c == '-'))
			return false;
	}
	return digits != n && addr_parse_mac(name, mac) == -1;
}
