/* hugemem: see hugemem.h. glibc's free() and realloc() accept aligned_alloc() blocks, so
 * only allocation differs from libc, and freeing a huge block may keep it for the next. */
#define _DEFAULT_SOURCE /* madvise() and MADV_HUGEPAGE */

#include <malloc.h> /* malloc_usable_size(): a small block realloc()ed into a huge one */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hugemem.h"

#define HUGE_PAGE_BYTES ((size_t)2 << 20)
/* Huge blocks alive at once whose size is remembered: a ring has a few (its entry block, and
 * its group table at tens of thousands of members), and ringd holds two rings during a
 * rebuild. A block past the table is still huge, only not kept when freed. */
#define HUGE_LIVE_MAX 16
/* Freed huge blocks kept for reuse: the blocks of the ring a rebuild replaced, which the
 * next rebuild asks for again (the same sizes give or take a page). */
#define HUGE_SPARE_MAX 4

struct block {
    void *p;
    size_t bytes; /* rounded up to whole huge pages */
};

/* ringd builds rings on its loop thread only, so this is not locked. */
static struct block live[HUGE_LIVE_MAX];
static struct block spare[HUGE_SPARE_MAX];
static struct ringd_hugemem_stats stats;

static struct block *find(struct block *set, size_t n, const void *p)
{
    for (size_t i = 0; i < n; i++) {
        if (set[i].p == p) {
            return &set[i];
        }
    }
    return NULL;
}

/* The smallest spare block of at least |bytes| and less than a quarter (or one huge page)
 * more: a much larger block would hold memory the ring does not need. */
static struct block *spare_fit(size_t bytes)
{
    size_t slack = bytes / 4 > HUGE_PAGE_BYTES ? bytes / 4 : HUGE_PAGE_BYTES;
    struct block *best = NULL;
    for (size_t i = 0; i < HUGE_SPARE_MAX; i++) {
        struct block *b = &spare[i];
        if (b->p != NULL && b->bytes >= bytes && b->bytes - bytes <= slack &&
            (best == NULL || b->bytes < best->bytes)) {
            best = b;
        }
    }
    return best;
}

static void *huge_fresh(size_t bytes)
{
    void *p = aligned_alloc(HUGE_PAGE_BYTES, bytes);
    if (p != NULL) {
        /* Advice only: failure (no THP, old kernel) leaves ordinary pages. */
        (void)madvise(p, bytes, MADV_HUGEPAGE);
        stats.mapped++;
    }
    return p;
}

static void *huge_malloc(size_t size, void *user_data)
{
    (void)user_data;
    if (size < HUGE_PAGE_BYTES) {
        return malloc(size);
    }
    size_t rounded = (size + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
    void *p;
    struct block *b = spare_fit(rounded);
    if (b != NULL) {
        /* Its pages are faulted in already: no fresh huge pages to zero (a rebuild at 1,000
         * members spent most of its time faulting them). */
        p = b->p;
        rounded = b->bytes;
        b->p = NULL;
        stats.reused++;
    } else {
        p = huge_fresh(rounded);
    }
    struct block *slot = p != NULL ? find(live, HUGE_LIVE_MAX, NULL) : NULL;
    if (slot != NULL) {
        slot->p = p;
        slot->bytes = rounded;
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

static void huge_free(void *ptr, void *user_data)
{
    (void)user_data;
    struct block *b = ptr != NULL ? find(live, HUGE_LIVE_MAX, ptr) : NULL;
    if (b == NULL) {
        free(ptr);
        return;
    }
    struct block kept = *b;
    b->p = NULL;
    struct block *slot = find(spare, HUGE_SPARE_MAX, NULL);
    if (slot == NULL) {
        /* Full: the oldest spare makes room (rings only grow or shrink slowly). */
        free(spare[0].p);
        memmove(&spare[0], &spare[1], sizeof(spare[0]) * (HUGE_SPARE_MAX - 1));
        slot = &spare[HUGE_SPARE_MAX - 1];
    }
    *slot = kept;
}

static void *huge_realloc(void *ptr, size_t size, void *user_data)
{
    struct block *b = ptr != NULL ? find(live, HUGE_LIVE_MAX, ptr) : NULL;
    if (b == NULL && size < HUGE_PAGE_BYTES) {
        return realloc(ptr, size);
    }
    /* A huge block in or out: through huge_malloc() and huge_free(), so the tables of live
     * and spare blocks stay true. */
    size_t old_bytes = b != NULL ? b->bytes : (ptr != NULL ? malloc_usable_size(ptr) : 0);
    void *p = huge_malloc(size, user_data);
    if (p == NULL) {
        return NULL;
    }
    if (ptr != NULL) {
        memcpy(p, ptr, old_bytes < size ? old_bytes : size);
        huge_free(ptr, user_data);
    }
    return p;
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

struct ringd_hugemem_stats ringd_hugemem_stats(void)
{
    return stats;
}
