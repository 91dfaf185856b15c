/*
 * hashring: a consistent-hash ring in one flat array of 64-bit points.
 *
 * Placement. Member m owns vnodes x weight(m) points. Point i of member m sits at the top
 * 48 bits of XXH3_64(id(m) || le32(i)). The point key is the id followed by a fixed-width
 * index, so two (id, i) pairs can only give the same input bytes if they are the same pair:
 * unlike ringpop's "id" + decimal(i), where ("host:2100", 11) and ("host:21001", 1) collide.
 * A key belongs to the first point at or clockwise of the top 48 bits of XXH3_64(key).
 *
 * Layout. Members are sorted by id (bytewise, shorter first on a common prefix) and
 * numbered in that order, so the numbering depends only on the member set. A point is one
 * uint64_t: its 48-bit position in the high bits and its member index in the low 16.
 * Sorting these integers orders points by position and breaks position ties by member
 * index, which makes the array byte-identical on every node whatever the insertion order:
 * at a tied position the member with the smaller id wins. Eight bytes a point (a
 * {hash, owner} struct would be 16 with padding) keeps twice as many points per cache line.
 *
 * Lookup. A second array indexes the points by the top k bits of their position, with
 * 2^k <= points/2: bucket_first[b] is the first point whose top bits are >= b. A lookup
 * reads one index entry and scans the two to four points of its bucket, in the same cache
 * line as a rule: two memory reads where a binary search over a million points takes
 * twenty. The index costs at most 4 bytes a point, so a ring is at most 12 bytes a point.
 *
 * Build. Hash every point into a scratch array, counting per bucket; the prefix sums of
 * those counts are the index, and scattering the points by bucket then insertion-sorting
 * each tiny bucket sorts the whole array in linear time.
 *
 * 48 bits of position lose nothing in practice: a ring of a million points has a 2^-10
 * chance of two points sharing a position, and ties are broken deterministically anyway.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/error.h"
#include "ring/hashring.h"
#include "hashring_int.h"
#include "mem_int.h"

#define POSITION_SHIFT 16
#define MEMBER_MASK    0xffffu
#define POSITION_MAX   ((UINT64_C(1) << 48) - 1)

struct hashring {
    struct ring_mem mem;
    uint32_t vnodes;
    uint32_t member_count;
    /* Sorted by id; each id points into |id_pool|. */
    struct hashring_member *members;
    char *id_pool;
    /* (position << 16) | member index, sorted ascending. */
    uint64_t *points;
    uint32_t point_count;
    /* bucket_count + 1 entries; bucket_first[bucket_count] == point_count. */
    uint32_t *bucket_first;
    uint32_t bucket_count;
    /* 64 - log2(bucket_count): a hash's bucket is hash >> bucket_shift. */
    uint32_t bucket_shift;
    uint64_t checksum;
    size_t memory_bytes;
};

static uint32_t point_member(uint64_t point)
{
    return (uint32_t)(point & MEMBER_MASK);
}

static uint64_t point_position(uint64_t point)
{
    return point >> POSITION_SHIFT;
}

static int member_id_cmp(const struct hashring_member *a, const struct hashring_member *b)
{
    size_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
    int c = memcmp(a->id, b->id, n);
    if (c != 0) {
        return c;
    }
    return (a->id_len > b->id_len) - (a->id_len < b->id_len);
}

static int member_qsort_cmp(const void *a, const void *b)
{
    return member_id_cmp(a, b);
}

static int validate_members(const struct hashring_member *members, size_t n, uint32_t vnodes,
                            uint64_t *points_out)
{
    if (n > HASHRING_MEMBERS_MAX) {
        return RING_E2BIG;
    }
    uint64_t points = 0;
    for (size_t i = 0; i < n; i++) {
        const struct hashring_member *m = &members[i];
        if (m->id == NULL || m->id_len == 0 || m->id_len > HASHRING_ID_BYTES_MAX) {
            return RING_EINVAL;
        }
        if (m->weight == 0) {
            return RING_EINVAL;
        }
        if (m->weight > HASHRING_WEIGHT_MAX) {
            return RING_ERANGE;
        }
        points += (uint64_t)vnodes * m->weight;
    }
    if (points > HASHRING_POINTS_MAX) {
        return RING_E2BIG;
    }
    *points_out = points;
    return 0;
}

/* Copies and sorts the members, ids into one pool. Fails on duplicate ids. */
static int copy_members(struct hashring *r, const struct hashring_member *members, size_t n)
{
    size_t pool_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        pool_bytes += members[i].id_len;
    }
    r->members = ring__mallocarray(&r->mem, n ? n : 1, sizeof(*r->members));
    r->id_pool = ring__mallocarray(&r->mem, pool_bytes ? pool_bytes : 1, 1);
    if (r->members == NULL || r->id_pool == NULL) {
        return RING_ENOMEM;
    }
    char *cursor = r->id_pool;
    for (size_t i = 0; i < n; i++) {
        memcpy(cursor, members[i].id, members[i].id_len);
        r->members[i] = members[i];
        r->members[i].id = cursor;
        cursor += members[i].id_len;
    }
    qsort(r->members, n, sizeof(*r->members), member_qsort_cmp);
    for (size_t i = 1; i < n; i++) {
        if (member_id_cmp(&r->members[i - 1], &r->members[i]) == 0) {
            return RING_EEXIST;
        }
    }
    r->member_count = (uint32_t)n;
    r->memory_bytes += n * sizeof(*r->members) + pool_bytes;
    return 0;
}

static uint64_t point_hash(const struct hashring_member *m, uint32_t i)
{
    uint8_t key[HASHRING_ID_BYTES_MAX + 4];
    memcpy(key, m->id, m->id_len);
    key[m->id_len + 0] = (uint8_t)(i);
    key[m->id_len + 1] = (uint8_t)(i >> 8);
    key[m->id_len + 2] = (uint8_t)(i >> 16);
    key[m->id_len + 3] = (uint8_t)(i >> 24);
    return XXH3_64bits(key, m->id_len + 4);
}

/* log2 of the largest power of two <= points / 2, at least 1 (a shift by 64 is undefined). */
static uint32_t bucket_bits_for(uint64_t points)
{
    uint32_t bits = 1;
    while ((UINT64_C(2) << bits) <= points / 2) {
        bits++;
    }
    return bits;
}

static void hash_points(const struct hashring *r, uint64_t *scratch, uint32_t *counts)
{
    size_t k = 0;
    for (uint32_t m = 0; m < r->member_count; m++) {
        uint32_t points = r->vnodes * r->members[m].weight;
        for (uint32_t i = 0; i < points; i++) {
            uint64_t point = (point_hash(&r->members[m], i) & ~(uint64_t)MEMBER_MASK) | m;
            scratch[k++] = point;
            counts[point >> r->bucket_shift]++;
        }
    }
    RING_ASSERT(k == r->point_count);
}

static void insertion_sort(uint64_t *a, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        uint32_t j = i;
        while (j > 0 && a[j - 1] > v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* Counting sort by bucket: turns per-bucket counts into the index as it goes. */
static void sort_points(struct hashring *r, const uint64_t *scratch)
{
    uint32_t *first = r->bucket_first;
    uint32_t start = 0;
    for (uint32_t b = 0; b < r->bucket_count; b++) {
        uint32_t count = first[b];
        first[b] = start;
        start += count;
    }
    for (uint32_t k = 0; k < r->point_count; k++) {
        uint64_t point = scratch[k];
        r->points[first[point >> r->bucket_shift]++] = point;
    }
    /* Each first[b] now holds the end of bucket b, i.e. the start of b + 1. */
    memmove(first + 1, first, r->bucket_count * sizeof(*first));
    first[0] = 0;
    RING_ASSERT(first[r->bucket_count] == r->point_count);
    for (uint32_t b = 0; b < r->bucket_count; b++) {
        insertion_sort(r->points + first[b], first[b + 1] - first[b]);
    }
}

static int build_points(struct hashring *r, uint64_t point_count)
{
    uint32_t bits = bucket_bits_for(point_count);
    r->point_count = (uint32_t)point_count;
    r->bucket_count = UINT32_C(1) << bits;
    r->bucket_shift = 64 - bits;
    r->points = ring__mallocarray(&r->mem, point_count ? point_count : 1, sizeof(uint64_t));
    r->bucket_first = ring__calloc(&r->mem, r->bucket_count + 1, sizeof(uint32_t));
    uint64_t *scratch = ring__mallocarray(&r->mem, point_count ? point_count : 1, 8);
    if (r->points == NULL || r->bucket_first == NULL || scratch == NULL) {
        ring__free(&r->mem, scratch);
        return RING_ENOMEM;
    }
    hash_points(r, scratch, r->bucket_first);
    sort_points(r, scratch);
    ring__free(&r->mem, scratch);
    r->memory_bytes += point_count * sizeof(uint64_t) + (r->bucket_count + 1) * sizeof(uint32_t);
    return 0;
}

static void le32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void le64_put(uint8_t *p, uint64_t v)
{
    le32_put(p, (uint32_t)v);
    le32_put(p + 4, (uint32_t)(v >> 32));
}

uint64_t hashring_member_digest(const char *id, size_t id_len, uint32_t weight)
{
    XXH3_state_t state;
    uint8_t word[4];
    XXH3_64bits_reset(&state);
    le32_put(word, (uint32_t)id_len);
    XXH3_64bits_update(&state, word, 4);
    XXH3_64bits_update(&state, id, id_len);
    le32_put(word, weight);
    XXH3_64bits_update(&state, word, 4);
    return XXH3_64bits_digest(&state);
}

uint64_t hashring_checksum_from_sum(uint32_t vnodes, uint64_t digest_sum)
{
    uint8_t buf[12];
    le32_put(buf, vnodes);
    le64_put(buf + 4, digest_sum);
    return XXH3_64bits(buf, sizeof(buf));
}

static uint64_t compute_checksum(const struct hashring *r)
{
    uint64_t sum = 0;
    for (uint32_t m = 0; m < r->member_count; m++) {
        sum += hashring_member_digest(r->members[m].id, r->members[m].id_len, r->members[m].weight);
    }
    return hashring_checksum_from_sum(r->vnodes, sum);
}

static void assert_sorted(const struct hashring *r)
{
#if defined(RING_ASSERTS)
    for (uint32_t k = 1; k < r->point_count; k++) {
        RING_ASSERT(r->points[k - 1] <= r->points[k]);
    }
#endif
}

int hashring_new(struct hashring **out, const struct hashring_member *members, size_t n,
                 const struct hashring_config *cfg, const struct ring_mem *mem)
{
    if (out == NULL || (members == NULL && n > 0)) {
        return RING_EINVAL;
    }
    uint32_t vnodes = (cfg != NULL && cfg->vnodes != 0) ? cfg->vnodes : HASHRING_VNODES_DEFAULT;
    if (vnodes > HASHRING_VNODES_MAX) {
        return RING_ERANGE;
    }
    uint64_t point_count = 0;
    int rv = validate_members(members, n, vnodes, &point_count);
    if (rv != 0) {
        return rv;
    }
    mem = mem != NULL ? mem : ring_mem_default();
    struct hashring *r = ring__calloc(mem, 1, sizeof(*r));
    if (r == NULL) {
        return RING_ENOMEM;
    }
    r->mem = *mem;
    r->vnodes = vnodes;
    r->memory_bytes = sizeof(*r);
    rv = copy_members(r, members, n);
    if (rv == 0) {
        rv = build_points(r, point_count);
    }
    if (rv != 0) {
        hashring_del(r);
        return rv;
    }
    assert_sorted(r);
    r->checksum = compute_checksum(r);
    *out = r;
    return 0;
}

void hashring_del(struct hashring *r)
{
    if (r == NULL) {
        return;
    }
    struct ring_mem mem = r->mem;
    ring__free(&mem, r->members);
    ring__free(&mem, r->id_pool);
    ring__free(&mem, r->points);
    ring__free(&mem, r->bucket_first);
    ring__free(&mem, r);
}

/* Index of the first point at or clockwise of |key_hash|. The ring must not be empty. */
static uint32_t first_point_at(const struct hashring *r, uint64_t key_hash)
{
    uint64_t target = key_hash & ~(uint64_t)MEMBER_MASK;
    uint64_t bucket = key_hash >> r->bucket_shift;
    uint32_t i = r->bucket_first[bucket];
    uint32_t end = r->bucket_first[bucket + 1];
    while (i < end && r->points[i] < target) {
        i++;
    }
    /* Past the bucket, every point is in a higher bucket and so above target. */
    return i == r->point_count ? 0 : i;
}

int hashring_lookup_hash(const struct hashring *r, uint64_t key_hash, uint32_t *owner)
{
    if (r->point_count == 0) {
        return RING_EEMPTY;
    }
    *owner = point_member(r->points[first_point_at(r, key_hash)]);
    return 0;
}

int hashring_lookup(const struct hashring *r, const void *key, size_t key_len, uint32_t *owner)
{
    return hashring_lookup_hash(r, XXH3_64bits(key, key_len), owner);
}

static int contains(const uint32_t *a, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] == v) {
            return 1;
        }
    }
    return 0;
}

int hashring_lookup_n(const struct hashring *r, const void *key, size_t key_len, size_t n,
                      uint32_t *owners)
{
    if (n == 0 || n > HASHRING_REPLICAS_MAX) {
        return RING_ERANGE;
    }
    if (r->point_count == 0) {
        return RING_EEMPTY;
    }
    size_t want = n < r->member_count ? n : r->member_count;
    size_t found = 0;
    uint32_t i = first_point_at(r, XXH3_64bits(key, key_len));
    for (uint32_t steps = 0; steps < r->point_count && found < want; steps++) {
        uint32_t m = point_member(r->points[i]);
        if (!contains(owners, found, m)) {
            owners[found++] = m;
        }
        i = (i + 1 == r->point_count) ? 0 : i + 1;
    }
    RING_ASSERT(found == want);
    return (int)found;
}

size_t hashring_member_count(const struct hashring *r)
{
    return r->member_count;
}

size_t hashring_point_count(const struct hashring *r)
{
    return r->point_count;
}

uint32_t hashring_vnodes(const struct hashring *r)
{
    return r->vnodes;
}

const struct hashring_member *hashring_member(const struct hashring *r, uint32_t idx)
{
    RING_ASSERT(idx < r->member_count);
    return &r->members[idx];
}

int hashring_find(const struct hashring *r, const char *id, size_t id_len, uint32_t *idx)
{
    struct hashring_member probe = { .id = id, .id_len = id_len };
    uint32_t lo = 0;
    uint32_t hi = r->member_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = member_id_cmp(&r->members[mid], &probe);
        if (c == 0) {
            *idx = mid;
            return 0;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return RING_ENOENT;
}

uint64_t hashring_checksum(const struct hashring *r)
{
    return r->checksum;
}

size_t hashring_memory_bytes(const struct hashring *r)
{
    return r->memory_bytes;
}

double hashring_share(const struct hashring *r, uint32_t idx)
{
    RING_ASSERT(idx < r->member_count);
    uint64_t owned = 0;
    uint64_t prev = r->point_count ? point_position(r->points[r->point_count - 1]) : 0;
    for (uint32_t k = 0; k < r->point_count; k++) {
        uint64_t pos = point_position(r->points[k]);
        /* Point k owns (prev, pos]; the first point's arc wraps past the top. */
        uint64_t arc = (pos - prev) & POSITION_MAX;
        if (point_member(r->points[k]) == idx) {
            owned += arc;
        }
        prev = pos;
    }
    if (r->member_count == 1) {
        return 1.0;
    }
    return (double)owned / (double)(POSITION_MAX + 1);
}

/* The diff walks both point arrays at once. Between two consecutive boundaries (positions of
 * either ring) both rings have one owner each; runs of such intervals whose owner ids differ
 * are merged and reported. */
struct diff_cursor {
    const struct hashring *r;
    uint32_t i;
};

static uint64_t cursor_boundary(const struct diff_cursor *c)
{
    return c->i < c->r->point_count ? point_position(c->r->points[c->i]) : POSITION_MAX;
}

static uint32_t cursor_owner(const struct diff_cursor *c)
{
    if (c->r->point_count == 0) {
        return HASHRING_NONE;
    }
    /* Past the last point, keys wrap around to the first. */
    uint32_t i = c->i < c->r->point_count ? c->i : 0;
    return point_member(c->r->points[i]);
}

static void cursor_pass(struct diff_cursor *c, uint64_t position)
{
    while (c->i < c->r->point_count && point_position(c->r->points[c->i]) <= position) {
        c->i++;
    }
}

/* old_to_new[m] = index in |new_r| of old member m's id, or HASHRING_NONE. */
static void map_members(const struct hashring *old_r, const struct hashring *new_r,
                        uint32_t *old_to_new)
{
    uint32_t j = 0;
    for (uint32_t m = 0; m < old_r->member_count; m++) {
        while (j < new_r->member_count &&
               member_id_cmp(&new_r->members[j], &old_r->members[m]) < 0) {
            j++;
        }
        int same =
            j < new_r->member_count && member_id_cmp(&new_r->members[j], &old_r->members[m]) == 0;
        old_to_new[m] = same ? j : HASHRING_NONE;
    }
}

static int owner_changed(uint32_t from, uint32_t to, const uint32_t *old_to_new)
{
    if (from == HASHRING_NONE || to == HASHRING_NONE) {
        return from != to;
    }
    return old_to_new[from] != to;
}

static void diff_emit(struct hashring_range *pending, int *have, const struct hashring_range *next,
                      hashring_range_cb cb, void *arg)
{
    if (*have && pending->from == next->from && pending->to == next->to &&
        pending->last + 1 == next->first) {
        pending->last = next->last;
        return;
    }
    if (*have) {
        cb(pending, arg);
    }
    *pending = *next;
    *have = 1;
}

int hashring_diff(const struct hashring *old_r, const struct hashring *new_r, hashring_range_cb cb,
                  void *arg)
{
    uint32_t *old_to_new = ring__mallocarray(&old_r->mem, old_r->member_count + 1, 4);
    if (old_to_new == NULL) {
        return RING_ENOMEM;
    }
    map_members(old_r, new_r, old_to_new);
    struct diff_cursor a = { .r = old_r, .i = 0 };
    struct diff_cursor b = { .r = new_r, .i = 0 };
    struct hashring_range pending = { 0 };
    int have = 0;
    uint64_t start = 0;
    for (;;) {
        uint64_t end_a = cursor_boundary(&a);
        uint64_t end_b = cursor_boundary(&b);
        uint64_t end = end_a < end_b ? end_a : end_b;
        uint32_t from = cursor_owner(&a);
        uint32_t to = cursor_owner(&b);
        if (owner_changed(from, to, old_to_new)) {
            struct hashring_range next = {
                .first = start << POSITION_SHIFT,
                .last = (end << POSITION_SHIFT) | MEMBER_MASK,
                .from = from,
                .to = to,
            };
            diff_emit(&pending, &have, &next, cb, arg);
        }
        if (end == POSITION_MAX) {
            break;
        }
        cursor_pass(&a, end);
        cursor_pass(&b, end);
        start = end + 1;
    }
    if (have) {
        cb(&pending, arg);
    }
    ring__free(&old_r->mem, old_to_new);
    return 0;
}

const uint64_t *hashring__points(const struct hashring *r, size_t *count)
{
    *count = r->point_count;
    return r->points;
}
