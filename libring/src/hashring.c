/*
 * hashring: a consistent-hash ring in 3.4 to 3.6 bytes a point, a lookup in two reads.
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
 * it every byte of the table, depends only on the member set. A boundary is 3 bytes: its
 * owner (owner_bits = bits of the largest member index) and the low frag_bits bits of its
 * position, frag_bits + owner_bits <= 24; the high bits are its bucket's number,
 * bucket(p) = p >> frag_bits. Boundaries sit in one sorted array, so a bucket's run ends
 * where the next one's starts, and the boundary after a key's bucket is the next entry
 * (a sentinel after the last holds the first one's owner, for keys past the top). Sixteen
 * buckets make a group: 16 bytes holding where the group's run starts and how many
 * boundaries each bucket holds, in 4 bits. A lookup reads its group, adds up the counts
 * before its bucket (one multiply), reads up to eight entries from there (one cache line,
 * sometimes two) and counts those below the key without a branch (with SSSE3, in four
 * vector instructions: hashring_ssse3.c): that many entries on is the owner. Buckets hold
 * at most 4 boundaries on average (frag_bits is lowered until they do), so one key in
 * fifty, at the densest, meets a bucket of more than eight and takes the exact path, as do
 * keys in groups whose counts do not fit 4 bits (escaped: counts in a side array; about
 * one group in three thousand at the densest, more if someone picks ids to crowd one).
 *
 * Why this and not one 16-byte bucket per key's read, as before: that kept three
 * boundaries per bucket in fixed slots at 1.25 boundaries per bucket, 13.5 bytes a point,
 * 138 MB at 10,000 members. A boundary carries about 23 bits of information (log2 of e x
 * 2^32 / vnodes for the gap, log2 of the member count for the owner), and fixed slots waste
 * a third or more of any line on Poisson's spread; a dense array wastes nothing but needs
 * the counts, here 1 byte a bucket, 0.25 to 0.5 bytes a point. The price is a dependent
 * second read: the group (in L2 up to about a thousand members) and then the entries.
 *
 * Updates (hashring_update.c) rebuild the table around changed points only, so the table
 * also keeps what they need and lookups never read: per boundary a parity bit (of the sum
 * of its two points' positions, which the midpoint drops), per group an anchor (the point
 * of its first boundary; from it each next point is 2 b + parity - point), and the points
 * that lost a position tie (the shadow list), which win when the winner leaves. Each
 * member's share is kept too, as the sum of its boundaries' arcs, so that a node that
 * updates its ring does not walk all of it to report shares.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ring/error.h"
#include "hashring_int.h"
#include "mem_int.h"

int hashring__member_cmp(const struct hashring_member *a, const struct hashring_member *b)
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
    return hashring__member_cmp(a, b);
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

static int same_id(const struct hashring_member *a, const struct hashring_member *b)
{
    return a->id_len == b->id_len && memcmp(a->id, b->id, a->id_len) == 0;
}

/* Sorts |n| members from |in| into |out| by id, using |old|'s sorted members: each one found
 * there takes its old place, the others are sorted among themselves and merged in. Linear
 * but for the binary searches, where a sort of all of them calls a comparison through a
 * pointer n log n times (a third of a small update); and members given in id order, as a
 * caller that keeps its table sorted gives them, skip the search: each is first looked for
 * just after the one before. Fails on duplicate ids. */
static int sort_by_old(const struct hashring *old, const struct hashring_member *in, size_t n,
                       struct hashring_member *out, const struct ring_mem *mem)
{
    uint32_t *at_old = ring__mallocarray(mem, old->member_count + 1, sizeof(uint32_t));
    struct hashring_member *fresh = ring__mallocarray(mem, n ? n : 1, sizeof(*fresh));
    int rv = at_old == NULL || fresh == NULL ? RING_ENOMEM : 0;
    size_t nf = 0;
    for (uint32_t i = 0; rv == 0 && i < old->member_count; i++) {
        at_old[i] = UINT32_MAX;
    }
    uint32_t next = 0; /* the old member after the last one found */
    for (size_t i = 0; rv == 0 && i < n; i++) {
        uint32_t idx = next;
        if (!(next < old->member_count && same_id(&old->members[next], &in[i])) &&
            hashring_find(old, in[i].id, in[i].id_len, &idx) != 0) {
            fresh[nf++] = in[i];
        } else if (at_old[idx] != UINT32_MAX) {
            rv = RING_EEXIST;
        } else {
            at_old[idx] = (uint32_t)i;
            next = idx + 1;
        }
    }
    if (rv == 0) {
        qsort(fresh, nf, sizeof(*fresh), member_qsort_cmp);
        size_t i = 0, j = 0, k = 0;
        while (i < old->member_count || j < nf) {
            if (i < old->member_count && at_old[i] == UINT32_MAX) {
                i++;
            } else if (j == nf || (i < old->member_count &&
                                   hashring__member_cmp(&old->members[i], &fresh[j]) < 0)) {
                out[k++] = in[at_old[i++]];
            } else {
                out[k++] = fresh[j++];
            }
        }
        RING_ASSERT(k == n);
    }
    for (size_t i = 1; rv == 0 && i < nf; i++) {
        rv = hashring__member_cmp(&fresh[i - 1], &fresh[i]) == 0 ? RING_EEXIST : 0;
    }
    ring__free(mem, at_old);
    ring__free(mem, fresh);
    return rv;
}

/* Copies the members sorted by id, ids into one pool. Fails on duplicate ids. */
static int copy_members(struct hashring *r, const struct hashring_member *members, size_t n,
                        const struct hashring *old)
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
    if (old != NULL) {
        int rv = sort_by_old(old, members, n, r->members, &r->mem);
        if (rv != 0) {
            return rv;
        }
    } else {
        if (n > 0) { /* an empty ring may come with no member array at all */
            memcpy(r->members, members, n * sizeof(*members));
            qsort(r->members, n, sizeof(*r->members), member_qsort_cmp);
        }
        for (size_t i = 1; i < n; i++) {
            if (hashring__member_cmp(&r->members[i - 1], &r->members[i]) == 0) {
                return RING_EEXIST;
            }
        }
    }
    char *cursor = r->id_pool;
    for (size_t i = 0; i < n; i++) {
        memcpy(cursor, r->members[i].id, r->members[i].id_len);
        r->members[i].id = cursor;
        cursor += r->members[i].id_len;
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

static uint64_t digest_sum(const struct hashring *r)
{
    uint64_t sum = 0;
    for (uint32_t m = 0; m < r->member_count; m++) {
        sum += hashring_member_digest(r->members[m].id, r->members[m].id_len, r->members[m].weight);
    }
    return sum;
}

int hashring__begin(struct hashring **out, const struct hashring_member *members, size_t n,
                    const struct hashring_config *cfg, const struct ring_mem *mem,
                    const struct hashring *old, uint64_t *point_count)
{
    if (members == NULL && n > 0) {
        return RING_EINVAL;
    }
    uint32_t vnodes = (cfg != NULL && cfg->vnodes != 0) ? cfg->vnodes : HASHRING_VNODES_DEFAULT;
    if (vnodes > HASHRING_VNODES_MAX) {
        return RING_ERANGE;
    }
    int rv = validate_members(members, n, vnodes, point_count);
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
    rv = copy_members(r, members, n, old);
    if (rv != 0) {
        hashring_del(r);
        return rv;
    }
    *out = r;
    return 0;
}

void hashring__finish(struct hashring *r)
{
    r->digest_sum = digest_sum(r);
    r->checksum = hashring_checksum_from_sum(r->vnodes, r->digest_sum);
}

void hashring__reset(struct hashring *r, size_t member_bytes)
{
    ring__free(&r->mem, r->table);
    ring__free(&r->mem, r->escapes);
    ring__free(&r->mem, r->shadow);
    ring__free(&r->mem, r->arcs);
    r->arcs = NULL;
    r->table = NULL;
    r->groups = NULL;
    r->entry_block = NULL;
    r->entries = NULL;
    r->parity = NULL;
    r->escapes = NULL;
    r->shadow = NULL;
    r->escape_count = 0;
    r->shadow_count = 0;
    r->boundary_count = 0;
    r->owning_count = 0;
    r->digest_sum = 0;
    r->memory_bytes = member_bytes;
}

int hashring_new(struct hashring **out, const struct hashring_member *members, size_t n,
                 const struct hashring_config *cfg, const struct ring_mem *mem)
{
    if (out == NULL) {
        return RING_EINVAL;
    }
    struct hashring *r;
    uint64_t point_count;
    int rv = hashring__begin(&r, members, n, cfg, mem, NULL, &point_count);
    if (rv != 0) {
        return rv;
    }
    rv = hashring__layout(r, point_count);
    if (rv != 0) {
        hashring_del(r);
        return rv;
    }
    hashring__finish(r);
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
    ring__free(&mem, r->table);
    ring__free(&mem, r->escapes);
    ring__free(&mem, r->shadow);
    ring__free(&mem, r->arcs);
    ring__free(&mem, r);
}

void hashring__bucket_span(const struct hashring *r, uint32_t b, uint32_t *start, uint32_t *count)
{
    const struct hashring_group *g = &r->groups[b >> HASHRING__GROUP_SHIFT];
    uint32_t j = b & (HASHRING__GROUP_BUCKETS - 1);
    uint32_t s = g->start & ~HASHRING__ESCAPED;
    if ((g->start & HASHRING__ESCAPED) != 0) {
        const uint32_t *counts = r->escapes + g->counts * HASHRING__GROUP_BUCKETS;
        for (uint32_t i = 0; i < j; i++) {
            s += counts[i];
        }
        *start = s;
        *count = counts[j];
        return;
    }
    uint32_t shift = 4 * j;
    *start = s + hashring__nibble_sum(g->counts & ((UINT64_C(1) << shift) - 1));
    *count = (uint32_t)(g->counts >> shift) & 0xf;
}

/* The number of boundaries in [start, start + count) below |key| (hashring__key() >> 8):
 * they are sorted, so a linear scan stops at the first one not below. */
static uint32_t bucket_rank(const struct hashring *r, uint32_t start, uint32_t count, uint32_t key)
{
    uint32_t k = 0;
    while (k < count && hashring__entry(r, start + k) < key) {
        k++;
    }
    return k;
}

uint32_t hashring__owner_at(const struct hashring *r, uint32_t position)
{
    uint32_t start, count;
    hashring__bucket_span(r, position >> r->frag_bits, &start, &count);
    uint32_t key = hashring__key(r, position) >> 8;
    return hashring__entry_owner(r, start + bucket_rank(r, start, count, key));
}

/* Everything off the hot path: empty rings, escaped groups, buckets of more than
 * HASHRING__SCAN_MAX boundaries. noinline: the hot path reaches it by a tail call. */
__attribute__((noinline)) int hashring__lookup_exact(const struct hashring *r, uint32_t position,
                                                     uint32_t *owner)
{
    if (r->boundary_count == 0) {
        return RING_EEMPTY;
    }
    *owner = hashring__owner_at(r, position);
    return 0;
}

/* Bit i set when boundary start + i is below |key| (hashring__key), for i <
 * HASHRING__SCAN_MAX. Each load takes the entry's three bytes and the byte before them,
 * which sits below the key's zeros, so no mask is needed; the loads and compares are
 * independent of each other. Boundaries past the bucket's count belong to
 * later buckets: their bits are ignored by the caller. */
static inline uint32_t hashring__below_mask(const uint8_t *e, uint32_t key)
{
    uint32_t below = 0;
#pragma GCC unroll 16
    for (uint32_t i = 0; i < HASHRING__SCAN_MAX; i++) {
        below |= (uint32_t)(hashring__load32(e + HASHRING__ENTRY_BYTES * i - 1) < key) << i;
    }
    return below;
}

#include "hashring_lookup.h"

__attribute__((flatten)) int hashring__lookup_portable(const struct hashring *r, const void *key,
                                                       size_t key_len, uint32_t *owner)
{
    return hashring__lookup_key(r, key, key_len, owner);
}

int hashring__lookup_hash_portable(const struct hashring *r, uint64_t key_hash, uint32_t *owner)
{
    return hashring__lookup_position(r, (uint32_t)(key_hash >> 32), owner);
}

/* The CPU check is one test of a word libgcc fills in at start-up, and both builds are
 * reached by a tail call. */
int hashring_lookup(const struct hashring *r, const void *key, size_t key_len, uint32_t *owner)
{
#if HASHRING__HAVE_SSSE3
    if (__builtin_expect(__builtin_cpu_supports("ssse3"), 1)) {
        return hashring__lookup_ssse3(r, key, key_len, owner);
    }
#endif
    return hashring__lookup_portable(r, key, key_len, owner);
}

int hashring_lookup_hash(const struct hashring *r, uint64_t key_hash, uint32_t *owner)
{
#if HASHRING__HAVE_SSSE3
    if (__builtin_expect(__builtin_cpu_supports("ssse3"), 1)) {
        return hashring__lookup_hash_ssse3(r, key_hash, owner);
    }
#endif
    return hashring__lookup_hash_portable(r, key_hash, owner);
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
        int c = hashring__member_cmp(&r->members[mid], &probe);
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

int hashring__equal(const struct hashring *a, const struct hashring *b)
{
    if (a->vnodes != b->vnodes || a->member_count != b->member_count ||
        a->point_count != b->point_count || a->boundary_count != b->boundary_count ||
        a->owning_count != b->owning_count || a->frag_bits != b->frag_bits ||
        a->owner_bits != b->owner_bits || a->escape_count != b->escape_count ||
        a->shadow_count != b->shadow_count || a->checksum != b->checksum ||
        a->memory_bytes != b->memory_bytes) {
        return 0;
    }
    for (uint32_t m = 0; m < a->member_count; m++) {
        if (hashring__member_cmp(&a->members[m], &b->members[m]) != 0 ||
            a->members[m].weight != b->members[m].weight) {
            return 0;
        }
    }
    size_t entry_bytes =
        1 + HASHRING__ENTRY_BYTES * ((size_t)a->boundary_count + 1 + HASHRING__ENTRY_PAD);
    size_t parity_words = ((size_t)a->boundary_count + 63) / 64 + 1;
    return memcmp(a->groups, b->groups, a->group_count * sizeof(*a->groups)) == 0 &&
           memcmp(a->entry_block, b->entry_block, entry_bytes) == 0 &&
           memcmp(a->parity, b->parity, parity_words * sizeof(uint64_t)) == 0 &&
           (a->member_count == 0 ||
            memcmp(a->arcs, b->arcs, a->member_count * sizeof(uint64_t)) == 0) &&
           (a->escape_count == 0 ||
            memcmp(a->escapes, b->escapes,
                   a->escape_count * HASHRING__GROUP_BUCKETS * sizeof(uint32_t)) == 0) &&
           (a->shadow_count == 0 ||
            memcmp(a->shadow, b->shadow, a->shadow_count * sizeof(uint64_t)) == 0);
}
