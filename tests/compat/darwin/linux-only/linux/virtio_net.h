/*
 * check-darwin: <linux/virtio_net.h> does not exist on macOS. If a system
 * header pulled it in, add that header to the list in ../compat.h.
 */
#ifdef SOFTNET_DARWIN_PERSONALITY
#error "<linux/virtio_net.h> is Linux-only"
#else
#include_next <linux/virtio_net.h>
#endif
