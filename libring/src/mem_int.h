/* Internal allocation helpers: every libring allocation goes through these. */
#ifndef RING_MEM_INT_H
#define RING_MEM_INT_H

#include "ring/mem.h"

/* Allocates |nmemb| * |size| bytes, or returns NULL when that overflows or fails. */
void *ring__mallocarray(const struct ring_mem *mem, size_t nmemb, size_t size);
/* Allocates zeroed memory for |nmemb| elements of |size| bytes (overflow-checked). */
void *ring__calloc(const struct ring_mem *mem, size_t nmemb, size_t size);
void ring__free(const struct ring_mem *mem, void *ptr);

#endif
