/*
 * hashring: a consistent-hash ring whose lookup is one 16-byte read.
 *
 * Placement (proto/RING.md). Member m owns vnodes x weight(m) points. Point i of member m
 * sits at position top32(mix64(XXH3_64bits(id(m)) + (i + 1) x gamma)): output i of
 * SplitMix64 seeded with the id's hash. The id is hashed whole, once, so ids of any length
 * and shape are as far apart as random ones before any point is placed; the points follow
 * from a full-avalanche mix of (hash, i), and no point key is the bytes of another (ringpop
 * hashes id + decimal(i), and ("host:2100", 11) and ("host:21001", 1) collide). The rule
 * this replaces, top32(XXH3_64bits_withSeed(id, i)), let XXH3's short-input paths fold
 * the seed into the id linearly before one avalanche: ids a few low bits apart (n10, n11)
 * got nearly the same 1,024 points, and ties went to the smallest id.
 *
 * Ownership. A key at position top32(XXH3_64(key)) belongs to the *nearest* point, in
 * either direction; a key exactly halfway goes to the point before it, and a position held
 * by several points goes to the member with the smallest id. The usual rule, the first
 * point clockwise, gives each point the whole gap before it; the nearest point gets half of
 * each gap beside it, which halves the variance of a member's share: a ring balances like
 * one with twice the points, for the same memory and lookup cost. Adding a point still
 * only takes keys from its neighbours, so joins and leaves move the minimum.
 * As boundaries: point j owns the keys up to the midpoint between it and point j + 1, so
 * the ring is a sorted list of (midpoint, owner) pairs and a key belongs to the first
 * boundary at or after it.
 *
 * Layout. Members are sorted by id and numbered in that order, so the numbering, and with
 * it every byte of the table, depends only on the member set. Boundaries are spread over
 * B = 0.8 x points buckets, bucket(p) = (p * B) >> 32 (no division, any B). A bucket is 16
 * bytes: up to three boundaries as 20-bit fragments of their position, and the owners of
 * the four ranges they cut, the last being the range past the last boundary, which belongs
 * to the next non-empty bucket's first owner. A lookup reads one bucket, counts the
 * fragments below the key's without a branch, and takes that owner. The 3.8% of buckets
 * with more than three boundaries point into a sorted overflow array instead. About 14
 * bytes a point in all. The fragment is the low 32 bits of p * B shifted right by 12: with
 * B >= 4096, distinct positions in one bucket have distinct fragments in the same order,
 * so comparing fragments is exact. A bucket keeps the fragments' top 16 bits in three
 * 16-bit lanes and their low 4 bits apart, and on x86 a lookup compares the key with the
 * three lanes in one SSE2 instruction. The lanes alone are exact once B >= 2^16 (82,000
 * points and up: the rings whose lookups miss cache); in smaller rings they are exact
 * unless a lane equals the key's, and then the exact scalar path (lookup_exact), which
 * overflow buckets and other CPUs take too, decides.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/error.h"
#include "hashring_int.h"
#include "mem_int.h"

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

/* The placement rule's version (proto/RING.md "Checksum"): nodes that place points by
 * different rules map keys differently, so their checksums must differ too. */
#define PLACEMENT_VERSION 2

uint64_t hashring_checksum_from_sum(uint32_t vnodes, uint64_t digest_sum)
{
    uint8_t buf[16];
    le32_put(buf, vnodes);
    le64_put(buf + 4, digest_sum);
    le32_put(buf + 12, PLACEMENT_VERSION);
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
        rv = hashring__layout(r, point_count);
    }
    if (rv != 0) {
        hashring_del(r);
        return rv;
    }
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
    ring__free(&mem, r->buckets);
    ring__free(&mem, r->overflow);
    ring__free(&mem, r);
}

uint32_t hashring__overflow_owner(const struct hashring *r, const struct hashring_bucket *e,
                                  uint32_t frag)
{
    const uint64_t *o = r->overflow + (uint32_t)e->frags;
    uint32_t n = (uint32_t)(e->frags >> 32) & 0x7fffffffu;
    uint32_t k = 0;
    while (k < n && (o[k] >> 16) < frag) {
        k++;
    }
    return k < n ? (uint32_t)(o[k] & 0xffff) : (uint32_t)(e->owners & 0xffff);
}

/* Unused fragments are all ones, never below a key's, so they count as nothing. */
uint32_t hashring__owner_at(const struct hashring *r, uint32_t position)
{
    uint32_t frag;
    const struct hashring_bucket *e = &r->buckets[hashring__bucket_of(r, position, &frag)];
    uint64_t frags = e->frags;
    if ((frags & HASHRING__OVERFLOW_FLAG) != 0) {
        return hashring__overflow_owner(r, e, frag);
    }
    uint32_t k = (hashring__inline_frag(frags, 0) < frag) +
                 (hashring__inline_frag(frags, 1) < frag) +
                 (hashring__inline_frag(frags, 2) < frag);
    return (uint32_t)(e->owners >> (16 * k)) & 0xffff;
}

/* Everything off the hot path: empty rings, overflow buckets, ties in small rings, other
 * CPUs. Reached by a tail call, as are the small-ring and long-key paths below: the hot
 * path then calls nothing that returns to it, so it saves and restores no registers. */
__attribute__((noinline)) static int lookup_exact(const struct hashring *r, uint32_t position,
                                                  uint32_t *owner)
{
    if (r->point_count == 0) {
        return RING_EEMPTY;
    }
    *owner = hashring__owner_at(r, position);
    return 0;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* The owner of the keys at |top16| (the key's fragment over 16) in inline bucket |e|, from
 * the lanes alone: one compare of the lanes with the key gives a mask with two bits per
 * lane below it, a prefix since fragments are sorted, and its length is the byte offset of
 * the owner (x86 is little-endian). Five operations wait for the bucket, against seventeen
 * for three scalar compares: the fewer instructions wait on each lookup's cache miss, the
 * more lookups keep their misses in flight at once. Bit 6 of the mask stands for the
 * nibble lane, which is not a fragment. Exact when the ring has at least
 * HASHRING__LANES_EXACT_MIN buckets, or when no lane equals the key's. */
static inline uint32_t lanes_owner(const struct hashring_bucket *e, __m128i lanes, __m128i key)
{
    uint32_t below = (uint32_t)_mm_movemask_epi8(_mm_cmplt_epi16(lanes, key));
    uint32_t offset = (uint32_t)__builtin_ctz(~below | 0x40);
    uint16_t owner;
    memcpy(&owner, (const char *)&e->owners + offset, sizeof(owner));
    return owner;
}

static inline __m128i lanes_of(const struct hashring_bucket *e)
{
    return _mm_loadl_epi64((const __m128i *)(const void *)e);
}

static inline __m128i key_lanes(uint64_t scaled)
{
    return _mm_set1_epi16((short)(((uint32_t)scaled >> 16) ^ HASHRING__LANE_BIAS));
}

/* Small rings (under 65,536 buckets, about 82,000 points: they fit in cache) take the
 * lanes too, but leave for the exact path when a lane ties with the key, one lookup in
 * 50,000, where the nibbles decide. */
__attribute__((noinline)) static int lookup_small(const struct hashring *r, uint32_t position,
                                                  uint32_t *owner)
{
    if (r->point_count == 0) {
        return RING_EEMPTY;
    }
    uint64_t scaled = (uint64_t)position * r->bucket_count;
    const struct hashring_bucket *e = &r->buckets[scaled >> 32];
    __m128i lanes = lanes_of(e), key = key_lanes(scaled);
    if ((e->frags & HASHRING__OVERFLOW_FLAG) != 0 ||
        (_mm_movemask_epi8(_mm_cmpeq_epi16(lanes, key)) & 0x3f) != 0) {
        return lookup_exact(r, position, owner);
    }
    *owner = lanes_owner(e, lanes, key);
    return 0;
}

static inline int lookup_position(const struct hashring *r, uint32_t position, uint32_t *owner)
{
    if (__builtin_expect(r->bucket_count < HASHRING__LANES_EXACT_MIN, 0)) {
        return lookup_small(r, position, owner);
    }
    uint64_t scaled = (uint64_t)position * r->bucket_count;
    const struct hashring_bucket *e = &r->buckets[scaled >> 32];
    if (__builtin_expect((e->frags & HASHRING__OVERFLOW_FLAG) != 0, 0)) {
        return lookup_exact(r, position, owner);
    }
    *owner = lanes_owner(e, lanes_of(e), key_lanes(scaled));
    return 0;
}
#else
static inline int lookup_position(const struct hashring *r, uint32_t position, uint32_t *owner)
{
    return lookup_exact(r, position, owner);
}
#endif

int hashring_lookup_hash(const struct hashring *r, uint64_t key_hash, uint32_t *owner)
{
    return lookup_position(r, (uint32_t)(key_hash >> 32), owner);
}

/* Keys over 16 bytes hash out of line: xxHash3's longer paths need many registers, and
 * inlined they make every lookup save and restore five of them. */
__attribute__((noinline)) static int lookup_long_key(const struct hashring *r, const void *key,
                                                     size_t key_len, uint32_t *owner)
{
    return lookup_position(r, (uint32_t)(XXH3_64bits(key, key_len) >> 32), owner);
}

/* The hot path is one small function (short-key hash and bucket read inline, the rare
 * overflow bucket and long keys out of line): a lean body lets the CPU keep several
 * lookups' cache misses in flight at once. Through two calls it was twice as slow. */
int hashring_lookup(const struct hashring *r, const void *key, size_t key_len, uint32_t *owner)
{
    if (key_len > 16) {
        return lookup_long_key(r, key, key_len, owner);
    }
    return lookup_position(r, (uint32_t)(XXH3_64bits(key, key_len) >> 32), owner);
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

void hashring__table(const struct hashring *r, const struct hashring_bucket **buckets,
                     size_t *bucket_count, const uint64_t **overflow, size_t *overflow_count)
{
    *buckets = r->buckets;
    *bucket_count = r->point_count ? r->bucket_count : 0;
    *overflow = r->overflow;
    *overflow_count = r->overflow_count;
}
