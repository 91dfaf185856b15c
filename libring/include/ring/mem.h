/*
 * mem: the allocator every libring object is built with (docs/style.md, after ngtcp2's
 * ngtcp2_mem). Objects copy the struct at construction and use it for their whole life, so
 * tests and the simulator can hand each object a counting allocator and prove that nothing
 * leaks, per object.
 */
#ifndef RING_MEM_H
#define RING_MEM_H

#include "ring/base.h"

struct ring_mem {
    /* Passed back unchanged as the last argument of every callback. */
    void *user_data;
    /* Like malloc(3); returns NULL on failure. */
    void *(*malloc)(size_t size, void *user_data);
    /* Like calloc(3); must itself fail (NULL) when |nmemb| * |size| overflows. */
    void *(*calloc)(size_t nmemb, size_t size, void *user_data);
    /* Like realloc(3). */
    void *(*realloc)(void *ptr, size_t size, void *user_data);
    /* Like free(3); |ptr| may be NULL. */
    void (*free)(void *ptr, void *user_data);
};

/* Returns the libc allocator. The pointer is to static storage, valid forever. */
RING_EXTERN const struct ring_mem *ring_mem_default(void);

#endif
