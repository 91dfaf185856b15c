/*
 * hashring internals shared by hashring.c (API, lookups), hashring_layout.c (building the
 * bucket table) and hashring_walk.c (walking boundaries: lookup_n, shares, diffs).
 * Never part of the public API; tests may read the layout through hashring__layout().
 */
#ifndef RING_HASHRING_INT_H
#define RING_HASHRING_INT_H

#include "ring/hashring.h"

/* Positions are the top 32 bits of a 64-bit hash. */
#define HASHRING__POSITION_MAX UINT32_MAX

/* SplitMix64's increment (2^64 over the golden ratio, odd) and its output mix, Stafford's
 * "Mix13" (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014;
 * Java's SplittableRandom). The mix is a bijection of 64-bit words in which every input bit
 * flips every output bit with probability close to 1/2. */
#define HASHRING__POINT_GAMMA UINT64_C(0x9e3779b97f4a7c15)

static inline uint64_t hashring__mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* The 64-bit hash of point |i| (0-based) of a member whose id hashes to |id_hash|
 * (XXH3_64bits(id)); its top 32 bits are the point's position (proto/RING.md, "Points").
 * It is output i of SplitMix64 seeded with |id_hash|; a build walks the sequence by adding
 * HASHRING__POINT_GAMMA instead of multiplying. */
static inline uint64_t hashring__point_hash(uint64_t id_hash, uint32_t i)
{
    return hashring__mix64(id_hash + ((uint64_t)i + 1) * HASHRING__POINT_GAMMA);
}

/* A bucket holds up to three boundaries inline; more go to the overflow array. */
#define HASHRING__INLINE_MAX 3
/* Fragments are 20 bits: a bucket spans at most 2^32 / 4096 = 2^20 positions. */
#define HASHRING__BUCKETS_MIN   4096u
#define HASHRING__FRAG_BITS     20
#define HASHRING__FRAG_MASK     ((UINT64_C(1) << HASHRING__FRAG_BITS) - 1)
#define HASHRING__OVERFLOW_FLAG (UINT64_C(1) << 63)
#define HASHRING__COUNT_SHIFT   60
/* An inline bucket keeps a fragment's top 16 bits in a 16-bit lane (lane k at bit 16 k,
 * xored with HASHRING__LANE_BIAS so that signed 16-bit compares order them) and its low 4
 * bits in a nibble (nibble k at bit HASHRING__NIBBLE_SHIFT + 4 k). */
#define HASHRING__LANE_BIAS    0x8000u
#define HASHRING__NIBBLE_SHIFT 48
/* From this many buckets on, the top 16 bits of a fragment are exact on their own (the
 * fragment is the low 32 bits of p * B over 2^12, and positions in one bucket differ there
 * by at least B, so by at least 2^16 when B >= 2^16): lookups compare the lanes only. */
#define HASHRING__LANES_EXACT_MIN 65536u

/*
 * One bucket, 16 bytes, 16-byte aligned so it never straddles a cache line.
 * Inline form (flag clear): frags = l0 | l1 << 16 | l2 << 32 | n0 << 48 | n1 << 52 |
 * n2 << 56 | count << 60, where fragment k is ((l_k ^ 0x8000) << 4) | n_k, unused
 * fragments all ones (l_k = 0x7fff, n_k = 0xf); owners = o0 | o1 << 16 | o2 << 32 |
 * o3 << 48, where o_k owns the keys up to boundary k and o_count owns the keys past the
 * last one (the next bucket's first owner, wrapping around the ring).
 * Overflow form (flag set): frags = flag | count << 32 | start; owners = o0 = the owner past
 * the bucket's last boundary; the boundaries are overflow[start .. start + count), each
 * (frag << 16) | owner, sorted.
 */
struct hashring_bucket {
    uint64_t frags;
    uint64_t owners;
};

struct hashring {
    struct ring_mem mem;
    uint32_t vnodes;
    uint32_t member_count;
    /* Sorted by id; each id points into |id_pool|. */
    struct hashring_member *members;
    char *id_pool;
    /* Points as configured (vnodes x weights), and boundaries: one per distinct position,
     * since of points sharing a position only the smallest member's owns anything. */
    uint32_t point_count;
    uint32_t boundary_count;
    /* Members that own at least one boundary (a member whose every point lost a tie owns
     * nothing, and lookup_n cannot return it). */
    uint32_t owning_count;
    uint32_t bucket_count; /* 0 in an empty ring */
    struct hashring_bucket *buckets;
    uint64_t *overflow;
    uint32_t overflow_count;
    uint64_t checksum;
    size_t memory_bytes;
};

/* Where a position falls: its bucket and its 20-bit fragment within the bucket. */
static inline uint32_t hashring__bucket_of(const struct hashring *r, uint32_t position,
                                           uint32_t *frag)
{
    uint64_t scaled = (uint64_t)position * r->bucket_count;
    *frag = (uint32_t)scaled >> 12;
    return (uint32_t)(scaled >> 32);
}

/* Fragment |k| of an inline bucket's |frags| (all ones if unused). */
static inline uint32_t hashring__inline_frag(uint64_t frags, uint32_t k)
{
    uint32_t lane = ((uint32_t)(frags >> (16 * k)) & 0xffff) ^ HASHRING__LANE_BIAS;
    return lane << 4 | ((uint32_t)(frags >> (HASHRING__NIBBLE_SHIFT + 4 * k)) & 0xf);
}

/* The owner of the keys past fragment |frag| in overflow bucket |e| (the slow path). */
uint32_t hashring__overflow_owner(const struct hashring *r, const struct hashring_bucket *e,
                                  uint32_t frag);

/* The owner of the keys at |position|, for any ring but an empty one. The lookup's hot path
 * (hashring.c) gets the same answer faster on large rings. */
uint32_t hashring__owner_at(const struct hashring *r, uint32_t position);

/* Builds the bucket table of |r| (members already set). Returns 0 or RING_ENOMEM. */
int hashring__layout(struct hashring *r, uint64_t point_count);

/* A position in the ring's sorted list of boundaries. */
struct hashring_cursor {
    uint32_t bucket;
    uint32_t k; /* index within the bucket */
};

/* The first boundary at or after |position| (wrapping to the ring's first boundary). The
 * ring must not be empty. */
struct hashring_cursor hashring__seek(const struct hashring *r, uint32_t position);
/* The ring's first boundary. */
struct hashring_cursor hashring__first(const struct hashring *r);
/* Moves to the next boundary; returns 1 if it wrapped past the end. */
int hashring__next(const struct hashring *r, struct hashring_cursor *c);
/* The owner and the position of the boundary under |c|. */
uint32_t hashring__cursor_owner(const struct hashring *r, const struct hashring_cursor *c);
uint32_t hashring__cursor_position(const struct hashring *r, const struct hashring_cursor *c);

/* For tests: the bucket table and overflow array, valid until hashring_del(r). */
void hashring__table(const struct hashring *r, const struct hashring_bucket **buckets,
                     size_t *bucket_count, const uint64_t **overflow, size_t *overflow_count);

#endif
