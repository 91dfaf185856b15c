/*
 * The lookup's hot path, compiled twice: portably in hashring.c and with SSSE3 in
 * hashring_ssse3.c (x86), which differ only in hashring__below_mask(), defined by each
 * before it includes this file. hashring_lookup() picks the SSSE3 build where the CPU has
 * it. Everything here is static: each build gets its own copy, and neither calls the
 * other's.
 */
#ifndef RING_HASHRING_LOOKUP_H
#define RING_HASHRING_LOOKUP_H

#include <stdint.h>

#include "hashring_int.h"

/* One read of the bucket's group (16 bytes), one of its boundaries (at most 24 bytes, in
 * one cache line or two adjacent ones). The rank of the key among the bucket's boundaries
 * is the number of leading ones of the below mask within the bucket's count: a prefix,
 * since the boundaries are sorted. The boundary at that rank, which may be the next
 * bucket's first or the sentinel past the last, owns the key. */
static inline int hashring__lookup_position(const struct hashring *r, uint32_t position,
                                            uint32_t *owner)
{
    uint32_t b = position >> r->frag_bits;
    const struct hashring_group *g = &r->groups[b >> HASHRING__GROUP_SHIFT];
    uint32_t start = g->start;
    uint64_t counts = g->counts;
    uint32_t shift = 4 * (b & (HASHRING__GROUP_BUCKETS - 1));
    uint32_t count = (uint32_t)(counts >> shift) & 0xf;
    if (__builtin_expect((start & HASHRING__ESCAPED) != 0 || count > HASHRING__SCAN_MAX, 0)) {
        return hashring__lookup_exact(r, position, owner);
    }
    start += hashring__nibble_sum(counts & ((UINT64_C(1) << shift) - 1));
    const uint8_t *e = r->entries + HASHRING__ENTRY_BYTES * start;
    uint32_t below = hashring__below_mask(e, hashring__key(r, position));
    uint32_t rank = (uint32_t)__builtin_ctz(~below | (1u << count));
    *owner = (hashring__load32(e + HASHRING__ENTRY_BYTES * rank - 1) >> 8) & r->owner_mask;
    return 0;
}

/* Keys over 16 bytes hash out of line: xxHash3's longer paths need many registers, and
 * inlined they make every lookup save and restore five of them. */
__attribute__((noinline)) static int hashring__lookup_long_key(const struct hashring *r,
                                                               const void *key, size_t key_len,
                                                               uint32_t *owner)
{
    return hashring__lookup_position(r, (uint32_t)(XXH3_64bits(key, key_len) >> 32), owner);
}

/* The hot path is one small function (short-key hash and table reads inline, the rare
 * full bucket and long keys out of line): a lean body lets the CPU keep several lookups'
 * cache misses in flight at once. Its caller is flatten, which inlines xxHash3 too, whose
 * length dispatch then folds to its 0..16-byte path alone (GCC does not inline it unasked:
 * a call and the registers it clobbers cost a fifth of a small ring's lookup). */
static inline int hashring__lookup_key(const struct hashring *r, const void *key, size_t key_len,
                                       uint32_t *owner)
{
    if (key_len > 16) {
        return hashring__lookup_long_key(r, key, key_len, owner);
    }
    return hashring__lookup_position(r, (uint32_t)(XXH3_64bits(key, key_len) >> 32), owner);
}

#endif
