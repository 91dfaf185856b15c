/* hugemem: see hugemem.h. Huge blocks are mapped here (mmap, aligned to a huge page) and
 * unmapped when freed, except the last one freed, kept for the next allocation of its size;
 * smaller blocks are libc's. */
#define _DEFAULT_SOURCE /* madvise(), MADV_HUGEPAGE, MAP_ANONYMOUS */

#include <malloc.h> /* malloc_usable_size(): a small block realloc()ed into a huge one */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hugemem.h"

#define HUGE_PAGE_BYTES ((size_t)2 << 20)
/* Huge blocks alive at once: a ring has one (its table: groups, parity bits and entries), a
 * full build two more for a while (its points and their sort buffer), and ringd holds two
 * rings during a rebuild. Past the table a huge block
 * comes from aligned_alloc() and goes back to free(). */
#define HUGE_LIVE_MAX 32

struct block {
    void *p;
    size_t bytes; /* rounded up to whole huge pages */
};

/* ringd builds rings on its loop thread only, so this is not locked. */
static struct block live[HUGE_LIVE_MAX];
/* The huge block freed last, kept mapped while a live block has about its size: the next
 * rebuild asks for a block the size of the current ring's, which the ring it replaced just
 * gave back. A full build's points and sort buffer (16 MB at 1,000 members) have no twin
 * once both are freed, and are unmapped. */
static struct block spare;
static struct ringd_hugemem_stats stats;

static struct block *find_live(const void *p)
{
    for (size_t i = 0; i < HUGE_LIVE_MAX; i++) {
        if (live[i].p == p) {
            return &live[i];
        }
    }
    return NULL;
}

/* Whether a block of |have| bytes serves an allocation of |want| without holding a quarter
 * (or a huge page) more than asked. */
static int fits(size_t have, size_t want)
{
    size_t slack = want / 4 > HUGE_PAGE_BYTES ? want / 4 : HUGE_PAGE_BYTES;
    return have >= want && have - want <= slack;
}

/* Unmaps the spare unless a live block has about its size. */
static void spare_check(void)
{
    for (size_t i = 0; spare.p != NULL && i < HUGE_LIVE_MAX; i++) {
        if (live[i].p != NULL && fits(spare.bytes, live[i].bytes)) {
            return;
        }
    }
    if (spare.p != NULL) {
        (void)munmap(spare.p, spare.bytes);
        spare.p = NULL;
    }
}

/* |bytes| (whole huge pages) at a huge-page boundary: map one huge page more and unmap
 * the ends. */
static void *map_aligned(size_t bytes)
{
    size_t span = bytes + HUGE_PAGE_BYTES;
    uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        return NULL;
    }
    uintptr_t at = ((uintptr_t)raw + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1);
    uint8_t *p = (uint8_t *)at;
    if (p > raw) {
        (void)munmap(raw, (size_t)(p - raw));
    }
    size_t tail = (size_t)(raw + span - (p + bytes));
    if (tail > 0) {
        (void)munmap(p + bytes, tail);
    }
    /* Advice only: failure (no THP, old kernel) leaves ordinary pages. */
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    stats.mapped++;
    return p;
}

static void *huge_malloc(size_t size, void *user_data)
{
    (void)user_data;
    if (size < HUGE_PAGE_BYTES) {
        return malloc(size);
    }
    if (size > SIZE_MAX - HUGE_PAGE_BYTES * 2) {
        return NULL;
    }
    size_t rounded = (size + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
    struct block *slot = find_live(NULL);
    if (slot == NULL) {
        void *p = aligned_alloc(HUGE_PAGE_BYTES, rounded);
        if (p != NULL) {
            (void)madvise(p, rounded, MADV_HUGEPAGE);
        }
        return p;
    }
    /* The spare when it fits: its pages are faulted in already, so no fresh huge pages are
     * zeroed (a rebuild at 1,000 members spent most of its time faulting them). */
    void *p;
    if (spare.p != NULL && fits(spare.bytes, rounded)) {
        p = spare.p;
        rounded = spare.bytes;
        spare.p = NULL;
        stats.reused++;
    } else {
        p = map_aligned(rounded);
    }
    if (p != NULL) {
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
    struct block *b = ptr != NULL ? find_live(ptr) : NULL;
    if (b == NULL) {
        free(ptr); /* libc's, or a huge block from aligned_alloc() */
        return;
    }
    if (spare.p != NULL) {
        (void)munmap(spare.p, spare.bytes);
    }
    spare = *b;
    b->p = NULL;
    spare_check();
}

static void *huge_realloc(void *ptr, size_t size, void *user_data)
{
    struct block *b = ptr != NULL ? find_live(ptr) : NULL;
    if (b == NULL && size < HUGE_PAGE_BYTES) {
        return realloc(ptr, size);
    }
    /* A mapped block in or out: through huge_malloc() and huge_free(), so the live table
     * and the spare stay true. */
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
