/*
 * replay: see ring/replay.h for what it refuses and why a bound never admits a replay.
 *
 * The remembered nonces sit in a ring buffer in arrival order (the next to leave at |head|)
 * and in an open-addressing index of twice as many slots (linear probing, deletion by
 * backward shift, so no tombstones build up). Arrival order is not time order across
 * senders with different clocks; that only makes an entry leave a little early or late, and
 * the floor covers whatever leaves: every forgotten nonce's time is at or below it.
 */
#include <string.h>

#include "mem_int.h"
#include "ring/error.h"
#include "ring/replay.h"

struct entry {
    uint64_t tag; /* the nonce's first 8 bytes */
    uint64_t sent_ms;
};

struct replay {
    struct ring_mem mem;
    uint64_t window_ms;
    uint64_t floor_ms;
    uint32_t cap;
    uint32_t head;  /* the oldest entry */
    uint32_t count; /* entries in the ring buffer */
    uint32_t mask;  /* index slots - 1 */
    struct entry *ring;
    uint32_t *index; /* 0: empty, else the entry's ring position + 1 */
};

static uint64_t read_tag(const uint8_t *nonce)
{
    uint64_t t = 0;
    memcpy(&t, nonce, sizeof(t));
    return t;
}

/* Nonces are random, but mix anyway so the slot does not rest on that. */
static uint32_t home(const struct replay *r, uint64_t tag)
{
    return (uint32_t)((tag * 0x9e3779b97f4a7c15u) >> 32) & r->mask;
}

int replay_new(struct replay **out, const struct replay_config *cfg, const struct ring_mem *mem)
{
    uint32_t cap = cfg->entries_max != 0 ? cfg->entries_max : REPLAY_ENTRIES_DEFAULT;
    if (out == NULL || cfg->window_ms == 0 || cap > REPLAY_ENTRIES_MAX) {
        return RING_EINVAL;
    }
    mem = mem != NULL ? mem : ring_mem_default();
    uint32_t slots = 2;
    while (slots < 2 * cap) {
        slots *= 2;
    }
    struct replay *r = ring__calloc(mem, 1, sizeof(*r));
    if (r != NULL) {
        r->ring = ring__calloc(mem, cap, sizeof(*r->ring));
        r->index = ring__calloc(mem, slots, sizeof(*r->index));
    }
    if (r == NULL || r->ring == NULL || r->index == NULL) {
        if (r != NULL) {
            ring__free(mem, r->ring);
            ring__free(mem, r->index);
        }
        ring__free(mem, r);
        return RING_ENOMEM;
    }
    r->mem = *mem;
    r->window_ms = cfg->window_ms;
    r->cap = cap;
    r->mask = slots - 1;
    *out = r;
    return 0;
}

void replay_del(struct replay *r)
{
    if (r == NULL) {
        return;
    }
    struct ring_mem mem = r->mem;
    ring__free(&mem, r->ring);
    ring__free(&mem, r->index);
    ring__free(&mem, r);
}

/* The index slot of |tag|, or of the empty slot where it would go. */
static uint32_t find_slot(const struct replay *r, uint64_t tag)
{
    uint32_t i = home(r, tag);
    while (r->index[i] != 0 && r->ring[r->index[i] - 1].tag != tag) {
        i = (i + 1) & r->mask;
    }
    return i;
}

/* Empties slot |i| and shifts back the entries after it that may move closer to home. */
static void index_delete(struct replay *r, uint32_t i)
{
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & r->mask;
        if (r->index[j] == 0) {
            break;
        }
        uint32_t k = home(r, r->ring[r->index[j] - 1].tag);
        /* The entry at j stays unless its home lies cyclically outside (i, j]. */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            r->index[i] = r->index[j];
            i = j;
        }
    }
    r->index[i] = 0;
}

/* Forgets the oldest entry; the floor rises to its time. */
static void pop_oldest(struct replay *r)
{
    RING_ASSERT(r->count > 0);
    const struct entry *e = &r->ring[r->head];
    uint32_t slot = find_slot(r, e->tag);
    RING_ASSERT(r->index[slot] == r->head + 1);
    if (e->sent_ms > r->floor_ms) {
        r->floor_ms = e->sent_ms;
    }
    index_delete(r, slot);
    r->head = (r->head + 1) % r->cap;
    r->count--;
}

static int expired(const struct replay *r, uint64_t sent_ms, uint64_t now_ms)
{
    return now_ms > r->window_ms && sent_ms < now_ms - r->window_ms;
}

/* At or below the time of a nonce already forgotten (none yet while the floor is 0). */
static int below_floor(const struct replay *r, uint64_t sent_ms)
{
    return r->floor_ms != 0 && sent_ms <= r->floor_ms;
}

int replay_admit(struct replay *r, uint64_t sent_ms, const uint8_t *nonce, uint64_t now_ms)
{
    if (expired(r, sent_ms, now_ms) || sent_ms > now_ms + r->window_ms) {
        return RING_ESKEW;
    }
    if (below_floor(r, sent_ms)) {
        return RING_EREPLAY;
    }
    uint64_t tag = read_tag(nonce);
    if (r->index[find_slot(r, tag)] != 0) {
        return RING_EREPLAY;
    }
    for (int k = 0; k < REPLAY_EXPIRE_PER_CALL && r->count > 0; k++) {
        if (!expired(r, r->ring[r->head].sent_ms, now_ms)) {
            break;
        }
        pop_oldest(r);
    }
    if (r->count == r->cap) {
        pop_oldest(r);
    }
    /* A pop may have raised the floor past this datagram's time. */
    if (below_floor(r, sent_ms)) {
        return RING_EREPLAY;
    }
    uint32_t pos = (r->head + r->count) % r->cap;
    r->ring[pos] = (struct entry){ tag, sent_ms };
    r->index[find_slot(r, tag)] = pos + 1;
    r->count++;
    return 0;
}

uint32_t replay_count(const struct replay *r)
{
    return r->count;
}

uint64_t replay_floor_ms(const struct replay *r)
{
    return r->floor_ms;
}
