/*
 * hashring_layout: builds a ring's bucket table from its members, in linear time.
 *
 * 1. Hash every point: (position << 16) | member, members in index order.
 * 2. Radix-sort by position: four stable LSD passes of 8 bits. Being stable, it leaves
 *    points at a tied position in member order, so ties need no extra pass. Each pass
 *    streams through memory into 256 output runs, which caches handle well
 *    (a scatter straight into a bucket per point missed cache on every point and took 1.7 s
 *    for ten million points; this takes a small fraction of that).
 * 3. One forward pass over the sorted points does the rest. Of points sharing a position
 *    only the first (smallest member) owns anything. The keys nearest to point j end
 *    halfway to the next distinct point, so that midpoint is boundary j, owned by point j's
 *    member; the midpoint across the top of the ring may wrap to the bottom, where it is
 *    the first boundary. Boundaries go straight into their buckets, three inline and more
 *    to the overflow array, each bucket written once (see the bucket writer below).
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

/* Hashes every point, XXH3_64bits_withSeed(id, i), members in index order, into |points|,
 * counting the radix sort's digits on the way. The index is the seed rather than bytes
 * appended to the id: no buffer to write and read straight back (a store-forwarding stall
 * that cost a third of the build). */
static void hash_points(const struct hashring *r, uint64_t *points,
                        uint32_t counts[RADIX_PASSES][RADIX_SIZE])
{
    size_t k = 0;
    for (uint32_t m = 0; m < r->member_count; m++) {
        const struct hashring_member *mm = &r->members[m];
        uint32_t count = r->vnodes * mm->weight;
        for (uint32_t i = 0; i < count; i++) {
            uint64_t point = ((XXH3_64bits_withSeed(mm->id, mm->id_len, i) >> 32) << 16) | m;
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

/*
 * The bucket writer takes boundaries in ascending order and writes every bucket exactly
 * once, front to back. A bucket's last range belongs to the first owner of the next
 * non-empty bucket, which is not known yet when it is written, so the buckets since the
 * last non-empty one stay "pending" and are patched when that owner shows up: they were
 * just written and are still in cache.
 */
struct writer {
    struct hashring *r;
    uint32_t bucket; /* the bucket being collected, or UINT32_MAX */
    uint32_t count;  /* its boundaries so far */
    uint64_t first3[HASHRING__INLINE_MAX];
    uint32_t overflow_start;
    uint32_t next_unwritten; /* buckets below this are written */
    uint32_t pending_from;   /* buckets from here to next_unwritten need a successor */
    uint32_t first_owner;    /* owner of the ring's first boundary (for the wrap) */
    uint8_t *owns;           /* owns[m]: member m owns a boundary */
};

/* An inline bucket with no boundaries: every fragment all ones (lanes 0x7fff once biased,
 * nibbles 0xf), count 0. */
#define EMPTY_LANE    (0xffffu ^ HASHRING__LANE_BIAS)
#define EMPTY_NIBBLES UINT64_C(0xfff)
static const uint64_t EMPTY_FRAGS = EMPTY_LANE | (uint64_t)EMPTY_LANE << 16 |
                                    (uint64_t)EMPTY_LANE << 32 |
                                    EMPTY_NIBBLES << HASHRING__NIBBLE_SHIFT;

/* |frags| with fragment |k| set to |frag| (it was unused: all ones). */
static uint64_t set_frag(uint64_t frags, uint32_t k, uint32_t frag)
{
    uint64_t lane = (frag >> 4) ^ HASHRING__LANE_BIAS;
    uint64_t nibble = frag & 0xf;
    frags &=
        ~((UINT64_C(0xffff) << (16 * k)) | (UINT64_C(0xf) << (HASHRING__NIBBLE_SHIFT + 4 * k)));
    return frags | lane << (16 * k) | nibble << (HASHRING__NIBBLE_SHIFT + 4 * k);
}

static uint32_t frag_of(const struct hashring *r, uint64_t boundary)
{
    uint32_t frag;
    hashring__bucket_of(r, (uint32_t)(boundary >> 16), &frag);
    return frag;
}

static void patch_successors(struct writer *w, uint32_t owner)
{
    for (uint32_t b = w->pending_from; b < w->next_unwritten; b++) {
        struct hashring_bucket *e = &w->r->buckets[b];
        uint32_t slot = (e->frags & HASHRING__OVERFLOW_FLAG)
                            ? 0
                            : (uint32_t)(e->frags >> HASHRING__COUNT_SHIFT) & 3;
        e->owners |= (uint64_t)owner << (16 * slot);
    }
    w->pending_from = w->next_unwritten;
}

static void write_empty_until(struct writer *w, uint32_t end)
{
    for (; w->next_unwritten < end; w->next_unwritten++) {
        w->r->buckets[w->next_unwritten] = (struct hashring_bucket){ EMPTY_FRAGS, 0 };
    }
}

static void flush_bucket(struct writer *w)
{
    if (w->bucket == UINT32_MAX) {
        return;
    }
    struct hashring *r = w->r;
    struct hashring_bucket *e = &r->buckets[w->bucket];
    if (w->count > HASHRING__INLINE_MAX) {
        patch_successors(w, (uint32_t)(r->overflow[w->overflow_start] & 0xffff));
        e->frags = HASHRING__OVERFLOW_FLAG | ((uint64_t)w->count << 32) | w->overflow_start;
        e->owners = 0;
    } else {
        patch_successors(w, (uint32_t)(w->first3[0] & 0xffff));
        e->frags = EMPTY_FRAGS | ((uint64_t)w->count << HASHRING__COUNT_SHIFT);
        e->owners = 0;
        for (uint32_t k = 0; k < w->count; k++) {
            e->frags = set_frag(e->frags, k, frag_of(r, w->first3[k]));
            e->owners |= (w->first3[k] & 0xffff) << (16 * k);
        }
    }
    w->next_unwritten = w->bucket + 1;
    w->bucket = UINT32_MAX;
}

static void overflow_append(struct hashring *r, uint64_t boundary)
{
    r->overflow[r->overflow_count++] = ((uint64_t)frag_of(r, boundary) << 16) | (boundary & 0xffff);
}

static void emit(struct writer *w, uint64_t boundary)
{
    uint32_t owner = (uint32_t)(boundary & 0xffff);
    w->r->owning_count += !w->owns[owner];
    w->owns[owner] = 1;
    uint32_t frag;
    uint32_t b = hashring__bucket_of(w->r, (uint32_t)(boundary >> 16), &frag);
    if (b != w->bucket) {
        flush_bucket(w);
        write_empty_until(w, b);
        w->bucket = b;
        w->count = 0;
    }
    if (w->count < HASHRING__INLINE_MAX) {
        w->first3[w->count] = boundary;
    } else {
        if (w->count == HASHRING__INLINE_MAX) {
            w->overflow_start = w->r->overflow_count;
            for (uint32_t k = 0; k < HASHRING__INLINE_MAX; k++) {
                overflow_append(w->r, w->first3[k]);
            }
        }
        overflow_append(w->r, boundary);
    }
    w->count++;
}

/* Index of the first point of the last run of points sharing a position. */
static uint32_t last_distinct(const uint64_t *points, uint32_t n)
{
    uint32_t j = n - 1;
    while (j > 0 && (points[j - 1] >> 16) == (points[n - 1] >> 16)) {
        j--;
    }
    return j;
}

/* Emits the boundaries of the sorted |points|, ascending: the midpoint between each
 * distinct position and the next, owned by the first (smallest member) point there; the
 * midpoint across the top of the ring goes first when it wraps, last otherwise. */
static void emit_boundaries(struct writer *w, const uint64_t *points, uint32_t n)
{
    uint64_t last = points[last_distinct(points, n)];
    uint64_t wrap_mid = ((last >> 16) + (points[0] >> 16) + (UINT64_C(1) << 32)) / 2;
    uint64_t wrap = ((wrap_mid & HASHRING__POSITION_MAX) << 16) | (last & 0xffff);
    int wraps = wrap_mid > HASHRING__POSITION_MAX;
    w->first_owner = (uint32_t)((wraps ? last : points[0]) & 0xffff);
    w->r->boundary_count = 0;
    if (wraps) {
        emit(w, wrap);
        w->r->boundary_count++;
    }
    /* Each point is read once, in order, into |cur|: the overflow entries the writer
     * compacts into this same array stay behind the read position (hashring__layout). */
    uint64_t cur = points[0];
    for (uint32_t next = 1;; next++) {
        while (next < n && (points[next] >> 16) == (cur >> 16)) {
            next++;
        }
        if (next == n) {
            break;
        }
        uint64_t following = points[next];
        uint64_t mid = ((cur >> 16) + (following >> 16)) / 2;
        emit(w, (mid << 16) | (cur & 0xffff));
        w->r->boundary_count++;
        cur = following;
    }
    if (!wraps) {
        emit(w, wrap);
        w->r->boundary_count++;
    }
    flush_bucket(w);
    write_empty_until(w, w->r->bucket_count);
    patch_successors(w, w->first_owner);
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
     * sorted points back in the overflow array; the bucket writer then reads them from
     * there while it compacts the real overflow entries into the same array, always
     * behind what it has read: each entry comes from a boundary, and boundary j is written
     * only after point j + 1 has been read. */
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
    struct writer w = { .r = r, .bucket = UINT32_MAX, .owns = owns };
    emit_boundaries(&w, r->overflow, r->point_count);
    ring__free(&r->mem, owns);
    trim_overflow(r);
    r->memory_bytes += r->bucket_count * sizeof(*r->buckets) + r->overflow_count * sizeof(uint64_t);
    return 0;
}
