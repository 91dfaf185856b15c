/* hugemem: see hugemem.h. glibc's free() and realloc() accept aligned_alloc() blocks, so
 * only allocation differs from libc. */
#define _DEFAULT_SOURCE /* madvise() and MADV_HUGEPAGE */

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hugemem.h"

#define HUGE_PAGE_BYTES ((size_t)2 << 20)

static void *huge_malloc(size_t size, void *user_data)
{
    (void)user_data;
    if (size < HUGE_PAGE_BYTES) {
        return malloc(size);
    }
    size_t rounded = (size + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
    void *p = aligned_alloc(HUGE_PAGE_BYTES, rounded);
    if (p != NULL) {
        /* Advice only: failure (no THP, old kernel) leaves ordinary pages. */
        (void)madvise(p, rounded, MADV_HUGEPAGE);
    }
    return p;
}

static void *huge_calloc(size_t nmemb, size_t size, void *user_data)
{
    if (size != 0 && nmemb > SIZE_MAX / size) {
        return NULL;
    }
    if (nmemb * size < HUGE_PAGE_BYTES) {
        return calloc(nmemb, size);
    }
    void *p = huge_malloc(nmemb * size, user_data);
    if (p != NULL) {
        memset(p, 0, nmemb * size);
    }
    return p;
}

static void *huge_realloc(void *ptr, size_t size, void *user_data)
{
    (void)user_data;
    return realloc(ptr, size);
}

static void huge_free(void *ptr, void *user_data)
{
    (void)user_data;
    free(ptr);
}

static const struct ring_mem hugemem = {
    .user_data = NULL,
    .malloc = huge_malloc,
    .calloc = huge_calloc,
    .realloc = huge_realloc,
    .free = huge_free,
};

const struct ring_mem *ringd_hugemem(void)
{
    return &hugemem;
}
