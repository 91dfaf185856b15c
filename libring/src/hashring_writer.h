/*
 * hashring_writer: fills a ring's table from its boundaries, taken in sorted order. The full
 * build (hashring_layout.c) and the update (hashring_update.c) both write through it, so the
 * same boundaries always make the same bytes.
 */
#ifndef RING_HASHRING_WRITER_H
#define RING_HASHRING_WRITER_H

#include "hashring_int.h"

/* How copied entries' owners change when members join or leave before them in id order: as
 * a few steps, new = old + the sum of by[j] over the steps with old >= at[j], or, past
 * HASHRING__RENUMBER_STEPS of them, as a table. No steps: unchanged. */
#define HASHRING__RENUMBER_STEPS 4

struct hashring_renumber {
    uint32_t steps;
    uint32_t at[HASHRING__RENUMBER_STEPS];
    int32_t by[HASHRING__RENUMBER_STEPS];
    const uint16_t *table;
};

struct hashring_writer {
    struct hashring *r;
    /* Boundaries written. */
    uint32_t k;
    /* The group being filled, where it starts and its buckets' counts so far. */
    uint32_t group;
    uint32_t group_start;
    uint32_t counts[HASHRING__GROUP_BUCKETS];
    /* The point of the current group's first boundary. */
    uint32_t anchor;
    /* Groups from here to |group| were flushed empty and take the next boundary's point as
     * their anchor. */
    uint32_t pending;
    uint32_t last_position;
    uint32_t escape_cap;
};

void hashring__writer_init(struct hashring_writer *w, struct hashring *r);

/* Writes the next boundary: at |position| (above the last one written), owned by |owner|,
 * between two points whose positions sum to an odd number if |parity|, the first of them at
 * |point|. Returns 0 or RING_ENOMEM. */
int hashring__writer_put(struct hashring_writer *w, uint32_t position, uint32_t owner,
                         uint32_t parity, uint32_t point);

/* Closes every group before |group|. Returns 0 or RING_ENOMEM. */
int hashring__writer_skip_to(struct hashring_writer *w, uint32_t group);

/* Closes the remaining groups and writes the sentinel. Returns 0 or RING_ENOMEM. */
int hashring__writer_finish(struct hashring_writer *w);

/* Copies buckets [ba, bb) of |old| (same geometry) and their boundaries, owners through
 * |remap| (NULL: unchanged), as if each boundary had been written: whole groups by their
 * records, entries and parity bits in bulk. Every boundary written so far must come before
 * bucket |ba|. Returns 0 or RING_ENOMEM. */
int hashring__writer_copy(struct hashring_writer *w, const struct hashring *old, uint32_t ba,
                          uint32_t bb, const struct hashring_renumber *remap);

/* Sorts |n| points (position << 16 | member) by position, stably, |tmp| as scratch. */
void hashring__sort_points(uint64_t *a, uint64_t *tmp, uint32_t n);

/* Writes the boundaries of the |n| sorted distinct points (position << 16 | owner). */
int hashring__write_points(struct hashring_writer *w, const uint64_t *points, uint32_t n);

#endif
