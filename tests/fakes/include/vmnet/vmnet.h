/*
 * Fake <vmnet/vmnet.h> for the Linux vmnet test build, with the names,
 * values and types of Apple's vmnet.framework header (macOS 11-26 SDKs;
 * the same declarations QEMU's net/vmnet-common.m, lima-vm/socket_vmnet
 * and nirs/vmnet-helper compile against). Implemented by
 * tests/fakes/vmnet.c over a Linux TAP device.
 *
 * The macOS 26 network-configuration API (vmnet_network_*) is declared
 * weak, as the SDK's availability attributes make it for a program built
 * for an older deployment target: code must test the function's address
 * at run time. The fake does not define it, so here it is always absent
 * and the classic vmnet_start_interface path runs.
 */
#ifndef FAKE_VMNET_H
#define FAKE_VMNET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <dispatch/dispatch.h>
#include <xpc/xpc.h>

typedef struct vmnet_interface *interface_ref;

typedef enum vmnet_return_t {
	VMNET_SUCCESS = 1000,
	VMNET_FAILURE = 1001,
	VMNET_MEM_FAILURE = 1002,
	VMNET_INVALID_ARGUMENT = 1003,
	VMNET_SETUP_INCOMPLETE = 1004,
	VMNET_INVALID_ACCESS = 1005,
	VMNET_PACKET_TOO_BIG = 1006,
	VMNET_BUFFER_EXHAUSTED = 1007,
	VMNET_TOO_MANY_PACKETS = 1008,
	VMNET_SHARING_SERVICE_BUSY = 1009,
	VMNET_NOT_AUTHORIZED = 1010,
} vmnet_return_t;

typedef enum operating_modes_t {
	VMNET_HOST_MODE = 1000,
	VMNET_SHARED_MODE = 1001,
	VMNET_BRIDGED_MODE = 1002,
} operating_modes_t;
typedef operating_modes_t vmnet_mode_t;

typedef enum interface_event_t {
	VMNET_INTERFACE_PACKETS_AVAILABLE = 1 << 0,
} interface_event_t;

struct vmpktdesc {
	size_t vm_pkt_size; /* in: buffer size (read) / packet size (write) */
	struct iovec *vm_pkt_iov;
	uint32_t vm_pkt_iovcnt;
	uint32_t vm_flags;
};

/* Interface description keys (vmnet_start_interface). */
extern const char *const vmnet_operation_mode_key;
extern const char *const vmnet_shared_interface_name_key;
extern const char *const vmnet_interface_id_key;
extern const char *const vmnet_allocate_mac_address_key;
extern const char *const vmnet_enable_isolation_key;
extern const char *const vmnet_enable_tso_key;
extern const char *const vmnet_enable_checksum_offload_key;
extern const char *const vmnet_nat66_prefix_key;
extern const char *const vmnet_host_ip_address_key;
extern const char *const vmnet_host_subnet_mask_key;
/* Keys both in the description and in the handler's parameters. */
extern const char *const vmnet_mac_address_key;
extern const char *const vmnet_mtu_key;
extern const char *const vmnet_max_packet_size_key;
extern const char *const vmnet_start_address_key;
extern const char *const vmnet_end_address_key;
extern const char *const vmnet_subnet_mask_key;
extern const char *const vmnet_read_max_packets_key;
extern const char *const vmnet_write_max_packets_key;
/* Event dictionary key. */
extern const char *const vmnet_estimated_packets_available_key;

typedef void (^vmnet_start_interface_completion_handler_t)(
    vmnet_return_t status, xpc_object_t interface_param);
typedef void (^vmnet_interface_event_callback_t)(
    interface_event_t event_mask, xpc_object_t event);

interface_ref vmnet_start_interface(xpc_object_t interface_desc,
    dispatch_queue_t queue, vmnet_start_interface_completion_handler_t handler);
vmnet_return_t vmnet_interface_set_event_callback(interface_ref interface,
    interface_event_t event_mask, dispatch_queue_t queue,
    vmnet_interface_event_callback_t callback);
vmnet_return_t vmnet_read(
    interface_ref interface, struct vmpktdesc *packets, int *pktcnt);
vmnet_return_t vmnet_write(
    interface_ref interface, struct vmpktdesc *packets, int *pktcnt);
vmnet_return_t vmnet_stop_interface(interface_ref interface,
    dispatch_queue_t queue, void (^handler)(vmnet_return_t status));

/* macOS 26: networks configured up front, weak (absent in the fake). */
typedef struct vmnet_network_configuration_s *vmnet_network_configuration_ref;
typedef struct vmnet_network_s *vmnet_network_ref;
__attribute__((weak)) vmnet_network_configuration_ref
vmnet_network_configuration_create(vmnet_mode_t mode, vmnet_return_t *status);
__attribute__((weak)) vmnet_return_t
vmnet_network_configuration_set_ipv4_subnet(
    vmnet_network_configuration_ref config, const struct in_addr *subnet_addr,
    const struct in_addr *subnet_mask);
__attribute__((weak)) void vmnet_network_configuration_disable_dhcp(
    vmnet_network_configuration_ref config);
__attribute__((weak)) vmnet_network_ref vmnet_network_create(
    vmnet_network_configuration_ref config, vmnet_return_t *status);
__attribute__((weak)) void vmnet_network_get_ipv4_subnet(
    vmnet_network_ref network, struct in_addr *subnet, struct in_addr *mask);
__attribute__((weak)) interface_ref vmnet_interface_start_with_network(
    vmnet_network_ref network, xpc_object_t interface_desc,
    dispatch_queue_t queue, vmnet_start_interface_completion_handler_t handler);

#endif
