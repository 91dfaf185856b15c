/*
 * hashring internals shared by hashring.c (API, lookups), hashring_layout.c (building the
 * table from scratch), hashring_update.c (building it from an older ring) and
 * hashring_walk.c (walking boundaries: lookup_n, shares, diffs). Never part of the public
 * API; tests read the layout through these declarations.
 */
#ifndef RING_HASHRING_INT_H
#define RING_HASHRING_INT_H

#include <string.h>

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

/*
 * The table (see the essay at the top of hashring.c).
 *
 * Boundary k of the ring (0 <= k < boundary_count, sorted by position) is a 3-byte
 * little-endian entry at entries + 3 k: (frag << (24 - frag_bits)) | owner, where the
 * boundary's position is (bucket << frag_bits) | frag and owner is the member index that
 * owns the keys up to it. frag_bits + owner_bits <= 24, and the bits between are zero. Entry
 * boundary_count is a sentinel holding the owner of boundary 0 (keys past the last boundary wrap
 * around to it); a byte before the first entry and HASHRING__ENTRY_PAD entries after the sentinel
 * are padding, so a lookup reads four bytes at entries + 3 k - 1 for any k it scans.
 *
 * Buckets come sixteen to a group. A group records where its first boundary is and how many
 * boundaries each of its buckets holds, four bits each; a group with a bucket of fifteen or
 * more boundaries is "escaped": its counts live in |escapes| instead.
 */
#define HASHRING__ENTRY_BYTES   3
#define HASHRING__ENTRY_BITS    24
#define HASHRING__GROUP_BUCKETS 16
#define HASHRING__GROUP_SHIFT   4
/* A nibble holds counts up to 14; 15 and more escape the group. */
#define HASHRING__NIBBLE_MAX 14
/* Bit 31 of a group's start marks an escaped group. Starts are below 2^26 (points max). */
#define HASHRING__ESCAPED (UINT32_C(1) << 31)
/* Lookups compare up to this many boundaries of a bucket without a loop; fuller buckets
 * (0.14% of keys at the densest table, see hashring__geometry) take the exact path. Eight
 * is what two 16-byte vector loads hold (hashring_ssse3.c). */
#define HASHRING__SCAN_MAX 8
/* Entries after the sentinel: a lookup reads HASHRING__SCAN_MAX entries from any bucket's
 * start, the sentinel's included. */
#define HASHRING__ENTRY_PAD HASHRING__SCAN_MAX

struct hashring_group {
    /* Boundaries in bucket 16 g + j: nibble j. In an escaped group: the index of the
     * group's 16 counts in r->escapes, over 16. */
    uint64_t counts;
    /* Index of the group's first boundary (the first at or after the group's first
     * position), | HASHRING__ESCAPED when escaped. */
    uint32_t start;
    /* The position of the point that owns boundary |start| (the point just before it), or
     * 0 when the ring has no boundaries. Only updates read it (hashring_update.c). */
    uint32_t anchor;
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
    /* The table's shape: a function of the member count and point count only
     * (hashring__geometry). */
    uint32_t frag_bits;
    uint32_t owner_bits;
    uint32_t frag_mask;
    uint32_t owner_mask;
    /* 24 - frag_bits (where a fragment sits in an entry) and 32 - frag_bits (the shift
     * that turns a position into its lookup key, hashring__key). */
    uint32_t frag_shift;
    uint32_t key_shift;
    uint32_t group_count;
    /* One allocation holding |groups|, |parity| and |entry_block|, in that order
     * (hashring__alloc_table). */
    uint8_t *table;
    struct hashring_group *groups;
    /* 1 + 3 (boundary_count + 1 + HASHRING__ENTRY_PAD) bytes; entries points past the
     * leading pad byte. */
    uint8_t *entry_block;
    uint8_t *entries;
    /* Bit k: the parity of the sum of the positions of the two points boundary k lies
     * between. With a group's anchor it gives back every point's position (updates). */
    uint64_t *parity;
    /* 16 counts per escaped group. */
    uint32_t *escapes;
    uint32_t escape_count;
    /* Per member, the length of the key positions it owns: the sum of the arcs of its
     * boundaries (boundary k owns the keys after boundary k - 1 up to it). */
    uint64_t *arcs;
    /* Points that lost a position tie, (position << 16) | member, sorted: they own nothing
     * until the winner leaves. */
    uint64_t *shadow;
    uint32_t shadow_count;
    /* The sum of the members' hashring_member_digest(), and the checksum made from it. */
    uint64_t digest_sum;
    uint64_t checksum;
    size_t memory_bytes;
    /* 1 if hashring_new_from() updated an older ring into this one rather than building it
     * from scratch (for tests; not part of the ring's value, hashring__equal ignores it). */
    int incremental;
};

/* Sets the digest sum and checksum from the members. */
void hashring__finish(struct hashring *r);

/* Drops whatever table |r| has, back to just its members (|member_bytes| of memory). */
void hashring__reset(struct hashring *r, size_t member_bytes);

/* Bytewise order of member ids (a proper prefix first). */
int hashring__member_cmp(const struct hashring_member *a, const struct hashring_member *b);

/* hashring_new() up to the table: checks the members and config, allocates the ring and
 * copies and sorts the members (by way of |old|'s order if not NULL). On success stores
 * the ring in |*out| (which must not be NULL) and its point count. */
int hashring__begin(struct hashring **out, const struct hashring_member *members, size_t n,
                    const struct hashring_config *cfg, const struct ring_mem *mem,
                    const struct hashring *old, uint64_t *point_count);

/* The table's shape for |members| members and |points| points: owner_bits holds the
 * largest member index; frag_bits = 24 - owner_bits, or fewer so that buckets hold at most
 * 4 boundaries on average. */
void hashring__geometry(uint32_t members, uint64_t points, uint32_t *frag_bits,
                        uint32_t *owner_bits);

/* For tests only, 0 otherwise: makes buckets 2^crowding times fuller (where the entry has
 * room), so that escaped groups and buckets past HASHRING__SCAN_MAX are common. */
extern uint32_t hashring__test_crowding;

/* For tests only, 0 otherwise: copies renumbered entries without AVX2 where the CPU has it,
 * so that both ways are checked against a full build. */
extern uint32_t hashring__test_no_avx2;

/* The lookup's hot path is built twice (hashring_lookup.h): portably, and with SSSE3 on
 * x86 (hashring_ssse3.c), which hashring_lookup() calls where the CPU has it. Both are
 * callable directly, so tests check each against the exact path. */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define HASHRING__HAVE_SSSE3 1
int hashring__lookup_ssse3(const struct hashring *r, const void *key, size_t key_len,
                           uint32_t *owner);
int hashring__lookup_hash_ssse3(const struct hashring *r, uint64_t key_hash, uint32_t *owner);
#else
#define HASHRING__HAVE_SSSE3 0
#endif
/* Everything off the hot path: empty rings, escaped groups, buckets of more than
 * HASHRING__SCAN_MAX boundaries (hashring.c). The hot path reaches it by a tail call, as
 * it does the long-key path: it then calls nothing that returns to it, so it saves and
 * restores no registers. */
int hashring__lookup_exact(const struct hashring *r, uint32_t position, uint32_t *owner);
int hashring__lookup_portable(const struct hashring *r, const void *key, size_t key_len,
                              uint32_t *owner);
int hashring__lookup_hash_portable(const struct hashring *r, uint64_t key_hash, uint32_t *owner);

/* Sets frag_bits, owner_bits, the masks and group_count of |r| for its geometry. */
void hashring__set_geometry(struct hashring *r, uint32_t frag_bits, uint32_t owner_bits);

static inline uint32_t hashring__load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Entry |k|'s 24 bits. */
static inline uint32_t hashring__entry(const struct hashring *r, uint32_t k)
{
    return hashring__load32(r->entries + HASHRING__ENTRY_BYTES * k - 1) >> 8;
}

static inline void hashring__entry_put(uint8_t *entries, uint32_t k, uint32_t v)
{
    uint8_t *p = entries + HASHRING__ENTRY_BYTES * k;
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
}

static inline uint32_t hashring__entry_owner(const struct hashring *r, uint32_t k)
{
    return hashring__entry(r, k) & r->owner_mask;
}

/* The entry of a boundary at |position| owned by |owner|. */
static inline uint32_t hashring__entry_make(const struct hashring *r, uint32_t position,
                                            uint32_t owner)
{
    return ((position & r->frag_mask) << r->frag_shift) | owner;
}

static inline uint32_t hashring__entry_frag(const struct hashring *r, uint32_t entry)
{
    return entry >> r->frag_shift;
}

/* What entries of |position|'s bucket compare against: an entry (24 bits) is below
 * hashring__key(r, position) >> 8 exactly when its boundary is below |position|, and an
 * entry shifted left by 8 with any byte below it is below the key in the same cases (the
 * key's low bits are zero). */
static inline uint32_t hashring__key(const struct hashring *r, uint32_t position)
{
    return position << r->key_shift;
}

/* The sum of the sixteen 4-bit fields of |x|. */
static inline uint32_t hashring__nibble_sum(uint64_t x)
{
    x = (x & UINT64_C(0x0f0f0f0f0f0f0f0f)) + ((x >> 4) & UINT64_C(0x0f0f0f0f0f0f0f0f));
    return (uint32_t)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/* The first boundary of bucket |b| and how many it holds, for any group. */
void hashring__bucket_span(const struct hashring *r, uint32_t b, uint32_t *start, uint32_t *count);

/* The owner of the keys at |position|, for any ring but an empty one, by the general path
 * (escaped groups, full buckets). The lookup's hot path (hashring.c) gets the same answer
 * faster. */
uint32_t hashring__owner_at(const struct hashring *r, uint32_t position);

/* Builds the table of |r| (members set) from scratch. Returns 0 or RING_ENOMEM. */
int hashring__layout(struct hashring *r, uint64_t point_count);

/* A boundary to write: its position, its owner and the parity of its points' sum. */
struct hashring_bound {
    uint32_t position;
    uint32_t owner;
    uint32_t parity;
};

/* Allocates the table of |r| for |boundaries| boundaries (geometry already set) and clears
 * the groups. Returns 0 or RING_ENOMEM. */
int hashring__alloc_table(struct hashring *r, uint32_t boundaries);

/* Counts per bucket, gathered while boundaries are written, then turned into groups.
 * |counts| has one uint32_t per bucket. */
int hashring__finish_groups(struct hashring *r, const uint32_t *counts);

/* Sets parity bit |k|. */
static inline void hashring__parity_set(uint64_t *parity, uint32_t k, uint32_t bit)
{
    parity[k >> 6] |= (uint64_t)bit << (k & 63);
}

static inline uint32_t hashring__parity_get(const uint64_t *parity, uint32_t k)
{
    return (uint32_t)(parity[k >> 6] >> (k & 63)) & 1;
}

/* Members that own something: all but those whose every point is in the shadow list. */
int hashring__count_owning(struct hashring *r);

/* A position in the ring's sorted list of boundaries. */
struct hashring_cursor {
    uint32_t bucket;
    uint32_t k;   /* the boundary's index */
    uint32_t end; /* past the last boundary of |bucket| */
};

/* The first boundary at or after |position| (wrapping to the ring's first boundary). The
 * ring must not be empty. */
struct hashring_cursor hashring__seek(const struct hashring *r, uint32_t position);
/* The ring's first boundary. */
struct hashring_cursor hashring__first(const struct hashring *r);
/* Moves to the next boundary; returns 1 if it wrapped past the end. */
int hashring__next(const struct hashring *r, struct hashring_cursor *c);
/* The group that holds boundary |k| (k < boundary_count). */
uint32_t hashring__group_of(const struct hashring *r, uint32_t k);
/* A cursor on boundary |k| (k < boundary_count). */
struct hashring_cursor hashring__cursor_at(const struct hashring *r, uint32_t k);
/* Moves to the previous boundary, from the first to the last. */
void hashring__prev(const struct hashring *r, struct hashring_cursor *c);
/* The position of the point that owns boundary |k|: its group's anchor, then each next
 * point from the boundary between them, 2 b + parity - point (mod 2^32). */
uint32_t hashring__point_at(const struct hashring *r, uint32_t k);
/* The same when the group |g| holding boundary |k| is known (no search over the groups,
 * whose cache misses cost more than the walk). */
uint32_t hashring__point_in(const struct hashring *r, uint32_t g, uint32_t k);
/* A cursor on boundary |k|, in bucket |bucket| or a later one. */
struct hashring_cursor hashring__cursor_from(const struct hashring *r, uint32_t bucket, uint32_t k);
/* The owner and the position of the boundary under |c|. */
uint32_t hashring__cursor_owner(const struct hashring *r, const struct hashring_cursor *c);
uint32_t hashring__cursor_position(const struct hashring *r, const struct hashring_cursor *c);

/* hashring_shares() by walking every boundary, for tests. */
void hashring__shares_walk(const struct hashring *r, double *shares);

/* 1 if |a| and |b| hold the same bytes everywhere a lookup, a walk or an update reads:
 * members, geometry, entries, groups, parity, escapes, arcs and shadow list. */
int hashring__equal(const struct hashring *a, const struct hashring *b);

#endif
