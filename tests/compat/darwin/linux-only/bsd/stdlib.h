/*
 * check-darwin: <bsd/stdlib.h> does not exist on macOS. If a system header
 * pulled it in, add that header to the list in ../compat.h.
 */
#ifdef SOFTNET_DARWIN_PERSONALITY
#error "<bsd/stdlib.h> is Linux-only"
#else
#include_next <bsd/stdlib.h>
#endif
