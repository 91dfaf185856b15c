/*
 * The lookup's hot path with SSSE3 (x86; CMake compiles this file with -mssse3, and
 * hashring_lookup() calls it only on a CPU that has SSSE3). Eight boundaries are compared
 * in four vector instructions where the portable build compares them one by one: two 16-byte
 * loads of four 3-byte entries each, one byte shuffle each that spreads every entry, with
 * the byte before it, into a 32-bit lane (the same lanes the portable build loads), and a
 * compare against the key. The compare is signed, so entries and key are both halved
 * first: the key is even (its low bits are zero), so an entry is below it exactly when its
 * half is below the key's half, and halves fit the signed range. This takes a third off a
 * lookup in a ring that fits the cache.
 */
#include "hashring_int.h"

#if HASHRING__HAVE_SSSE3
#if !defined(__SSSE3__)
#error "hashring_ssse3.c is compiled with -mssse3 (libring/CMakeLists.txt)"
#endif
#include <tmmintrin.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint32_t hashring__below_mask(const uint8_t *e, uint32_t key)
{
    const __m128i spread = _mm_setr_epi8(0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11, 12);
    __m128i lo = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(e - 1)), spread);
    __m128i hi = _mm_shuffle_epi8(
        _mm_loadu_si128((const __m128i *)(const void *)(e + 4 * HASHRING__ENTRY_BYTES - 1)),
        spread);
    __m128i half_key = _mm_set1_epi32((int32_t)(key >> 1));
    __m128i below_lo = _mm_cmpgt_epi32(half_key, _mm_srli_epi32(lo, 1));
    __m128i below_hi = _mm_cmpgt_epi32(half_key, _mm_srli_epi32(hi, 1));
    __m128i words = _mm_packs_epi32(below_lo, below_hi);
    return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(words, words)) & 0xff;
}

#include "hashring_lookup.h"

__attribute__((flatten)) int hashring__lookup_ssse3(const struct hashring *r, const void *key,
                                                    size_t key_len, uint32_t *owner)
{
    return hashring__lookup_key(r, key, key_len, owner);
}

int hashring__lookup_hash_ssse3(const struct hashring *r, uint64_t key_hash, uint32_t *owner)
{
    return hashring__lookup_position(r, (uint32_t)(key_hash >> 32), owner);
}
#else
/* Not x86: hashring.c's portable build is the only one. */
typedef int hashring_ssse3_unused;
#endif
