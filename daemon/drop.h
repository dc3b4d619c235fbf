/*
 * Why a frame is dropped: the one daemon-wide list of drop reasons, with
 * their stable names (stats output, logs, and later captures and metrics).
 * The filter decides most of them, but ports (queue_full, vnet_hdr), rate
 * limits and the DHCP server drop frames too: a module that counts a drop
 * needs this list, not the filter.
 */
#ifndef SOFTNET_DROP_H
#define SOFTNET_DROP_H

/* Every reason a frame is dropped, with its stable name in stats output. */
#define DROP_REASONS(X)                                                        \
	X(RUNT, "runt")                     /* no full Ethernet header */      \
	X(SRC_MAC, "src_mac")               /* not the VM's MAC */             \
	X(VLAN, "vlan")                     /* 802.1Q/802.1ad tagged */        \
	X(ETHERTYPE, "ethertype")           /* neither ARP nor IPv4 */         \
	X(IPV6, "ipv6")                     /* IPv6 (not enabled) */           \
	X(ARP_MALFORMED, "arp_malformed")   /* not Ethernet/IPv4 ARP */        \
	X(ARP_SPOOF, "arp_spoof")           /* sender MAC/IP not the VM's */   \
	X(ARP_TARGET, "arp_target")         /* asks for a forbidden IP */      \
	X(IP_MALFORMED, "ip_malformed")     /* bad IPv4/L4 header */           \
	X(NO_LEASE, "no_lease")             /* IPv4 before a lease */          \
	X(IP_SPOOF, "ip_spoof")             /* source IP not the lease */      \
	X(ROGUE_DHCP, "rogue_dhcp")         /* DHCP server traffic */          \
	X(POLICY, "policy")                 /* peer address not allowed */     \
	X(DST_MAC, "dst_mac")               /* not addressed to the VM */      \
	X(DST_IP, "dst_ip")                 /* IPv4 not to the VM's lease */   \
	X(BROADCAST, "broadcast")           /* broadcast/multicast */          \
	X(DHCP_MALFORMED, "dhcp_malformed") /* unparsable DHCP */              \
	X(DHCP_CHADDR, "dhcp_chaddr")       /* chaddr is not the port MAC */   \
	X(QUEUE_FULL, "queue_full")         /* destination buffer full */      \
	X(VNET_HDR, "vnet_hdr")             /* offload header lies */          \
	X(RATE_LIMIT, "rate_limit")         /* over the VM's vm_limits */      \
	X(DHCP_FOREIGN, "dhcp_foreign")     /* UDP 67/68 not for softnetd */   \
	X(DHCP_RATE, "dhcp_rate")           /* over dhcp.rate (4/s) */         \
	X(IP_OPTIONS, "ip_options")         /* IPv4 options (LSRR, SSRR...) */ \
	X(OVERSIZE, "oversize")             /* longer than the MTU allows */

enum drop_reason {
#define DROP_ENUM(id, name) DROP_##id,
	DROP_REASONS(DROP_ENUM)
#undef DROP_ENUM
	    DROP__COUNT
};

/* The stable name of a reason ("src_mac"), or "unknown". */
const char *drop_reason_name(enum drop_reason r);

#endif
