/*
 * check-darwin: <linux/if_ether.h> does not exist on macOS. If a system header
 * pulled it in, add that header to the list in ../compat.h.
 */
#ifdef SOFTNET_DARWIN_PERSONALITY
#error "<linux/if_ether.h> is Linux-only"
#else
#include_next <linux/if_ether.h>
#endif
