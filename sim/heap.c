/* heap: a binary min-heap of events by (time, sequence); see heap.h. */
#include <stdlib.h>

#include "heap.h"

static int before(const struct sim_ev *a, const struct sim_ev *b)
{
    return a->at_us != b->at_us ? a->at_us < b->at_us : a->seq < b->seq;
}

static void sift_up(struct sim_ev *v, size_t i)
{
    struct sim_ev e = v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e, &v[parent])) {
            break;
        }
        v[i] = v[parent];
        i = parent;
    }
    v[i] = e;
}

static void sift_down(struct sim_ev *v, size_t len, size_t i)
{
    struct sim_ev e = v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= len) {
            break;
        }
        if (c + 1 < len && before(&v[c + 1], &v[c])) {
            c++;
        }
        if (!before(&v[c], &e)) {
            break;
        }
        v[i] = v[c];
        i = c;
    }
    v[i] = e;
}

int heap_push(struct sim_heap *h, uint64_t at_us, uint32_t kind, uint32_t node, void *ptr)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        struct sim_ev *v = realloc(h->v, cap * sizeof(*v));
        if (v == NULL) {
            return -1;
        }
        h->v = v;
        h->cap = cap;
    }
    struct sim_ev *e = &h->v[h->len];
    e->at_us = at_us;
    e->seq = h->seq_next++;
    e->kind = kind;
    e->node = node;
    e->ptr = ptr;
    sift_up(h->v, h->len++);
    return 0;
}

int heap_pop(struct sim_heap *h, struct sim_ev *out)
{
    if (h->len == 0) {
        return 0;
    }
    *out = h->v[0];
    h->v[0] = h->v[--h->len];
    if (h->len > 0) {
        sift_down(h->v, h->len, 0);
    }
    return 1;
}

uint64_t heap_next_us(const struct sim_heap *h)
{
    return h->len > 0 ? h->v[0].at_us : UINT64_MAX;
}

void heap_free(struct sim_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->len = h->cap = 0;
}
