/*
 * Declaration-only stand-in for <vmnet/vmnet.h>, written from Apple's
 * documented vmnet API (macOS 10.10+, constants as documented for macOS
 * 11+). It exists so daemon/uplink_vmnet.c is type-checked on Linux
 * (make check-darwin); it is never linked and never used on a Mac.
 */
#ifndef COMPAT_VMNET_H
#define COMPAT_VMNET_H

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

typedef enum interface_event_t {
	VMNET_INTERFACE_PACKETS_AVAILABLE = 1 << 0,
} interface_event_t;

struct vmpktdesc {
	size_t vm_pkt_size;
	struct iovec *vm_pkt_iov;
	uint32_t vm_pkt_iovcnt;
	uint32_t vm_flags;
};

extern const char *const vmnet_operation_mode_key;
extern const char *const vmnet_mac_address_key;
extern const char *const vmnet_mtu_key;
extern const char *const vmnet_max_packet_size_key;
extern const char *const vmnet_start_address_key;
extern const char *const vmnet_end_address_key;
extern const char *const vmnet_subnet_mask_key;
extern const char *const vmnet_estimated_packets_available_key;
/* Interface description keys (Apple's vmnet documentation, "Variables"). */
extern const char *const vmnet_read_max_packets_key;
extern const char *const vmnet_write_max_packets_key;
extern const char *const vmnet_enable_isolation_key;

typedef void (^vmnet_start_interface_completion_handler_t)(
    vmnet_return_t status, xpc_object_t interface_param);
typedef void (^vmnet_interface_event_callback_t)(interface_event_t event_mask,
    xpc_object_t event);
typedef void (^vmnet_stop_interface_completion_handler_t)(
    vmnet_return_t status);

interface_ref vmnet_start_interface(xpc_object_t interface_desc,
    dispatch_queue_t queue,
    vmnet_start_interface_completion_handler_t handler);
vmnet_return_t vmnet_interface_set_event_callback(interface_ref interface,
    interface_event_t event_mask, dispatch_queue_t queue,
    vmnet_interface_event_callback_t callback);
vmnet_return_t vmnet_read(interface_ref interface, struct vmpktdesc *packets,
    int *pktcnt);
vmnet_return_t vmnet_write(interface_ref interface, struct vmpktdesc *packets,
    int *pktcnt);
vmnet_return_t vmnet_stop_interface(interface_ref interface,
    dispatch_queue_t queue, vmnet_stop_interface_completion_handler_t handler);

#endif
