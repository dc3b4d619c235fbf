/*
 * check-darwin: <gnu/libc-version.h> does not exist on macOS. If a system
 * header pulled it in, add that header to the list in ../compat.h.
 */
#ifdef SOFTNET_DARWIN_PERSONALITY
#error "<gnu/libc-version.h> is Linux-only"
#else
#include_next <gnu/libc-version.h>
#endif
