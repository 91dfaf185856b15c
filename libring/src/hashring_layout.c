/*
 * hashring_layout: builds a ring's bucket table from its members, in linear time.
 *
 * 1. Hash every point: (position << 16) | member, members in index order.
 * 2. Radix-sort by position: four stable LSD passes of 8 bits. Being stable, it leaves
 *    points at a tied position in member order, so ties need no extra pass. Each pass
 *    streams through memory into 256 output runs, which caches handle well
 *    (a scatter straight into a bucket per point missed cache on every point and took 1.7 s
 *    for ten million points; this takes a small fraction of that).
 * 3. Three passes with hardly a branch make the table. Of points sharing a position only
 *    the first (smallest member) owns anything. The keys nearest to point j end halfway to
 *    the next distinct point, so that midpoint is boundary j, owned by point j's member;
 *    the midpoint across the top of the ring may wrap to the bottom, where it is the first
 *    boundary. (a) The boundaries replace the sorted points in place. (b) They go into
 *    their buckets, which start empty, three inline and more to the overflow array.
 *    (c) Backwards, each bucket learns the owner past its last boundary. (One pass that
 *    wrote each bucket whole branched on every bucket change, bucket size and run of empty
 *    buckets at random: 0.6 mispredictions a point, half of a 1M-point build.)
 */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/error.h"
#include "hashring_int.h"
#include "mem_int.h"

#define RADIX_BITS   8
#define RADIX_SIZE   (1u << RADIX_BITS)
#define RADIX_PASSES 4
/* Buckets per point, as a ratio: 4 buckets for 5 points. Fewer buckets mean less memory and
 * more overflow buckets; at this load 3.8% of buckets overflow (Poisson, mean 1.25), and a
 * bucket is 16 bytes, so the table costs about 13 bytes a point. */
#define BUCKETS_PER_POINT_NUM 4
#define BUCKETS_PER_POINT_DEN 5

static uint32_t radix_digit(uint64_t point, int pass)
{
    return (uint32_t)(point >> (16 + pass * RADIX_BITS)) & (RADIX_SIZE - 1);
}

/* Hashes every point, members in index order, into |points| as (position << 16) | member,
 * counting the radix sort's digits on the way. The id is hashed once per member; point i is
 * then output i of SplitMix64 seeded with that hash (hashring__point_hash), walked here by
 * adding the increment: two multiplies a point, no buffer written and read back (an index
 * appended to the id made a store-forwarding stall that cost a third of the build). */
static void hash_points(const struct hashring *r, uint64_t *points,
                        uint32_t counts[RADIX_PASSES][RADIX_SIZE])
{
    size_t k = 0;
    for (uint32_t m = 0; m < r->member_count; m++) {
        const struct hashring_member *mm = &r->members[m];
        uint32_t count = r->vnodes * mm->weight;
        uint64_t state = XXH3_64bits(mm->id, mm->id_len);
        for (uint32_t i = 0; i < count; i++) {
            state += HASHRING__POINT_GAMMA;
            uint64_t point = ((hashring__mix64(state) >> 32) << 16) | m;
            for (int p = 0; p < RADIX_PASSES; p++) {
                counts[p][radix_digit(point, p)]++;
            }
            points[k++] = point;
        }
    }
    RING_ASSERT(k == r->point_count);
}

/* Sorts |a| by position (stable), given its digit |counts|, using |tmp| (as large) as
 * scratch; with an even number of passes the result ends back in |a|. */
static void radix_sort(uint64_t *a, uint64_t *tmp, uint32_t n,
                       uint32_t counts[RADIX_PASSES][RADIX_SIZE])
{
    _Static_assert(RADIX_PASSES * RADIX_BITS >= 32, "passes must cover the position");
    _Static_assert(RADIX_PASSES % 2 == 0, "the result must end in a");
    uint64_t *src = a, *dst = tmp;
    for (int p = 0; p < RADIX_PASSES; p++) {
        uint32_t start = 0;
        for (uint32_t d = 0; d < RADIX_SIZE; d++) {
            uint32_t c = counts[p][d];
            counts[p][d] = start;
            start += c;
        }
        for (uint32_t k = 0; k < n; k++) {
            dst[counts[p][radix_digit(src[k], p)]++] = src[k];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
}

/* An inline bucket with no boundaries: every fragment all ones (lanes 0x7fff once biased,
 * nibbles 0xf), count 0. */
#define EMPTY_LANE    (0xffffu ^ HASHRING__LANE_BIAS)
#define EMPTY_NIBBLES UINT64_C(0xfff)
static const uint64_t EMPTY_FRAGS = EMPTY_LANE | (uint64_t)EMPTY_LANE << 16 |
                                    (uint64_t)EMPTY_LANE << 32 |
                                    EMPTY_NIBBLES << HASHRING__NIBBLE_SHIFT;

/* Pass 1, in place: the boundary after each distinct position but the last, (midpoint to
 * the next distinct position << 16) | owner, owned by the first (smallest member) point at
 * that position. Boundary j is written after point j + 1 is read, so it never overwrites a
 * point still to be read. Stores the last distinct point in |*last|; returns the count. */
static uint32_t boundaries_in_place(uint64_t *points, uint32_t n, uint64_t *last)
{
    uint64_t cur = points[0];
    uint32_t out = 0;
    for (uint32_t next = 1; next < n; next++) {
        uint64_t following = points[next];
        if ((following >> 16) == (cur >> 16)) {
            continue;
        }
        points[out++] = (((cur >> 16) + (following >> 16)) / 2) << 16 | (cur & 0xffff);
        cur = following;
    }
    *last = cur;
    return out;
}

/* Moves inline bucket |e|'s three boundaries to the overflow array and makes it an overflow
 * bucket (its successor owner is patched in later, by link_successors). */
static void spill(struct hashring *r, struct hashring_bucket *e)
{
    uint32_t start = r->overflow_count;
    for (uint32_t k = 0; k < HASHRING__INLINE_MAX; k++) {
        uint64_t owner = (e->owners >> (16 * k)) & 0xffff;
        r->overflow[r->overflow_count++] =
            (uint64_t)hashring__inline_frag(e->frags, k) << 16 | owner;
    }
    e->frags = HASHRING__OVERFLOW_FLAG | (uint64_t)HASHRING__INLINE_MAX << 32 | start;
    e->owners = 0;
}

/* Pass 2, the common case: puts fragment |frag| of |owner| in the still unused slot |k| of
 * inline bucket |e|. That slot's lane and nibble are all ones and its count is k, so a xor
 * and an add set them, with no branch. */
static void place_inline(struct hashring_bucket *e, uint64_t owner, uint32_t frag, uint32_t k)
{
    uint64_t lane = EMPTY_LANE ^ (frag >> 4) ^ HASHRING__LANE_BIAS;
    uint64_t nibble = 0xf ^ (frag & 0xf);
    e->frags ^= lane << (16 * k) | nibble << (HASHRING__NIBBLE_SHIFT + 4 * k);
    e->frags += UINT64_C(1) << HASHRING__COUNT_SHIFT;
    e->owners |= owner << (16 * k);
}

/* Pass 2, the fourth and later boundary of bucket |e| (3.8% of buckets). */
static void place_overflow(struct hashring *r, struct hashring_bucket *e, uint64_t owner,
                           uint32_t frag, uint32_t k)
{
    if (k == HASHRING__INLINE_MAX) {
        spill(r, e);
    }
    r->overflow[r->overflow_count++] = (uint64_t)frag << 16 | owner;
    e->frags += UINT64_C(1) << 32;
}

/* Pass 3, backwards: each bucket's last range belongs to the first owner of the next
 * non-empty bucket, around the ring from the last to the first. */
static void link_successors(struct hashring *r, uint32_t first_owner)
{
    uint64_t carry = first_owner;
    for (uint32_t b = r->bucket_count; b-- > 0;) {
        struct hashring_bucket *e = &r->buckets[b];
        if (__builtin_expect((e->frags & HASHRING__OVERFLOW_FLAG) != 0, 0)) {
            e->owners = carry;
            carry = r->overflow[(uint32_t)e->frags] & 0xffff;
            continue;
        }
        uint32_t count = (uint32_t)(e->frags >> HASHRING__COUNT_SHIFT) & 3;
        e->owners |= carry << (16 * count);
        carry = count != 0 ? (e->owners & 0xffff) : carry;
    }
}

/* Boundaries from the sorted |points| into the bucket table: the midpoints between
 * neighbouring distinct positions, plus the one across the top of the ring, which comes
 * first when it wraps past zero and last otherwise. */
static void write_buckets(struct hashring *r, uint8_t *owns)
{
    uint64_t *points = r->overflow;
    uint64_t first = points[0];
    uint64_t last;
    uint32_t m = boundaries_in_place(points, r->point_count, &last);
    uint64_t wrap_mid = ((last >> 16) + (first >> 16) + (UINT64_C(1) << 32)) / 2;
    uint64_t wrap = ((wrap_mid & HASHRING__POSITION_MAX) << 16) | (last & 0xffff);
    int wraps = wrap_mid > HASHRING__POSITION_MAX;
    for (uint32_t b = 0; b < r->bucket_count; b++) {
        r->buckets[b] = (struct hashring_bucket){ EMPTY_FRAGS, 0 };
    }
    /* The overflow entries go into the same array, behind the boundaries read: reading one
     * ahead keeps the t + 1 entries written for the first t + 1 boundaries (t from 0) in
     * slots already read, with the wrap first or not. */
    r->boundary_count = m + 1;
    r->overflow_count = 0;
    int wrap_first = wraps || m == 0;
    uint64_t next = wrap_first ? wrap : points[0];
    uint32_t read = wrap_first ? 0 : 1;
    /* Buckets start empty and fill in order, so a boundary is a few xors and ors with no
     * branch but the rare fourth one (see the top of the file). The ring's fields are
     * copied to locals: stores to |owns| (bytes) could alias them. */
    struct hashring_bucket *buckets = r->buckets;
    uint64_t bucket_count = r->bucket_count;
    uint32_t prev_b = UINT32_MAX, k = 0;
    for (uint32_t t = 0; t < r->boundary_count; t++) {
        uint64_t bd = next;
        next = read < m ? points[read++] : wrap;
        uint64_t scaled = (bd >> 16) * bucket_count;
        uint32_t b = (uint32_t)(scaled >> 32), frag = (uint32_t)scaled >> 12;
        /* Without a branch: buckets change at random, 70% of the time. */
        k = (k + 1) & (0u - (uint32_t)(b == prev_b));
        prev_b = b;
        if (__builtin_expect(k < HASHRING__INLINE_MAX, 1)) {
            place_inline(&buckets[b], bd & 0xffff, frag, k);
        } else {
            place_overflow(r, &buckets[b], bd & 0xffff, frag, k);
        }
        owns[bd & 0xffff] = 1;
    }
    for (uint32_t mb = 0; mb < r->member_count; mb++) {
        r->owning_count += owns[mb];
    }
    link_successors(r, (uint32_t)((wraps ? wrap : first) & 0xffff));
}

static uint32_t bucket_count_for(uint64_t points)
{
    uint64_t b = points * BUCKETS_PER_POINT_NUM / BUCKETS_PER_POINT_DEN;
    return b < HASHRING__BUCKETS_MIN ? HASHRING__BUCKETS_MIN : (uint32_t)b;
}

/* Shrinks the overflow array to what was used (it was sized for the worst case). */
static void trim_overflow(struct hashring *r)
{
    size_t bytes = (r->overflow_count ? r->overflow_count : 1) * sizeof(uint64_t);
    uint64_t *shrunk = r->mem.realloc(r->overflow, bytes, r->mem.user_data);
    if (shrunk != NULL) {
        r->overflow = shrunk;
    }
}

int hashring__layout(struct hashring *r, uint64_t point_count)
{
    r->point_count = (uint32_t)point_count;
    if (point_count == 0) {
        return 0;
    }
    /* Two arrays serve three purposes, so the build touches as little fresh memory as it
     * can (page faults were 40% of it). The points are hashed into the overflow array,
     * sized for the worst case of one entry per point; the radix sort uses the bucket table
     * (16 bytes per 1.25 points, more than 8 per point) as its scratch and leaves the
     * sorted points back in the overflow array; they become boundaries there, and the
     * bucket writer reads those while it compacts the real overflow entries into the same
     * array, always behind what it has read (write_buckets). */
    r->bucket_count = bucket_count_for(point_count);
    r->buckets = ring__mallocarray(&r->mem, r->bucket_count, sizeof(*r->buckets));
    r->overflow = ring__mallocarray(&r->mem, point_count, sizeof(uint64_t));
    uint8_t *owns = ring__calloc(&r->mem, r->member_count, 1);
    if (r->buckets == NULL || r->overflow == NULL || owns == NULL) {
        ring__free(&r->mem, owns);
        return RING_ENOMEM;
    }
    RING_ASSERT(((uintptr_t)r->buckets & 15) == 0);
    _Static_assert(BUCKETS_PER_POINT_NUM * sizeof(struct hashring_bucket) >=
                       BUCKETS_PER_POINT_DEN * sizeof(uint64_t),
                   "the bucket table must hold the sort's scratch");
    uint32_t counts[RADIX_PASSES][RADIX_SIZE];
    memset(counts, 0, sizeof(counts));
    hash_points(r, r->overflow, counts);
    radix_sort(r->overflow, (uint64_t *)r->buckets, r->point_count, counts);
    write_buckets(r, owns);
    ring__free(&r->mem, owns);
    trim_overflow(r);
    r->memory_bytes += r->bucket_count * sizeof(*r->buckets) + r->overflow_count * sizeof(uint64_t);
    return 0;
}
