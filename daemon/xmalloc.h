/*
 * Allocation wrappers for the control plane: they never return NULL (out of
 * memory is fatal). The per-frame path does not allocate at all.
 */
#ifndef SOFTNET_XMALLOC_H
#define SOFTNET_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);

#endif
