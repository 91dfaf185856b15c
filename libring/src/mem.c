/* mem: the libc allocator behind ring_mem_default(), and overflow-checked helpers. */
#include <stdlib.h>

#include "mem_int.h"

static void *libc_malloc(size_t size, void *user_data)
{
    return malloc(size);
}

static void *libc_calloc(size_t nmemb, size_t size, void *user_data)
{
    return calloc(nmemb, size);
}

static void *libc_realloc(void *ptr, size_t size, void *user_data)
{
    return realloc(ptr, size);
}

static void libc_free(void *ptr, void *user_data)
{
    free(ptr);
}

static const struct ring_mem libc_mem = {
    .user_data = NULL,
    .malloc = libc_malloc,
    .calloc = libc_calloc,
    .realloc = libc_realloc,
    .free = libc_free,
};

const struct ring_mem *ring_mem_default(void)
{
    return &libc_mem;
}

void *ring__mallocarray(const struct ring_mem *mem, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size) {
        return NULL;
    }
    return mem->malloc(nmemb * size, mem->user_data);
}

void *ring__calloc(const struct ring_mem *mem, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size) {
        return NULL;
    }
    return mem->calloc(nmemb, size, mem->user_data);
}

void ring__free(const struct ring_mem *mem, void *ptr)
{
    mem->free(ptr, mem->user_data);
}
