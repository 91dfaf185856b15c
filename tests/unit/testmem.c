#include <stdlib.h>
#include <string.h>

#include "testmem.h"

/* Each block carries its size in a header, so free can subtract it. */
struct header {
    size_t size;
    max_align_t align;
};

static void *count_malloc(size_t size, void *user_data)
{
    struct testmem *t = user_data;
    t->calls++;
    if (t->fail_at != 0 && t->calls == t->fail_at) {
        return NULL;
    }
    struct header *h = malloc(sizeof(*h) + size);
    if (h == NULL) {
        return NULL;
    }
    h->size = size;
    t->bytes += size;
    t->blocks++;
    return h + 1;
}

static void *count_calloc(size_t nmemb, size_t size, void *user_data)
{
    if (size != 0 && nmemb > SIZE_MAX / size) {
        return NULL;
    }
    void *p = count_malloc(nmemb * size, user_data);
    if (p != NULL) {
        memset(p, 0, nmemb * size);
    }
    return p;
}

static void count_free(void *ptr, void *user_data)
{
    struct testmem *t = user_data;
    if (ptr == NULL) {
        return;
    }
    struct header *h = (struct header *)ptr - 1;
    t->bytes -= h->size;
    t->blocks--;
    free(h);
}

static void *count_realloc(void *ptr, size_t size, void *user_data)
{
    if (ptr == NULL) {
        return count_malloc(size, user_data);
    }
    struct header *old = (struct header *)ptr - 1;
    void *p = count_malloc(size, user_data);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, ptr, old->size < size ? old->size : size);
    count_free(ptr, user_data);
    return p;
}

void testmem_init(struct testmem *t)
{
    memset(t, 0, sizeof(*t));
    t->mem.user_data = t;
    t->mem.malloc = count_malloc;
    t->mem.calloc = count_calloc;
    t->mem.realloc = count_realloc;
    t->mem.free = count_free;
}

uint64_t test_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
