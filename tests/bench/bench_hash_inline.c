/* The inlined-xxHash3 floor for bench_ring, in its own file so bench_ring.c can call the
 * library's exported XXH3_64bits while this one compiles xxHash inline. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "bench_hash_inline.h"

uint64_t bench_hash_inline(const uint8_t *keys, size_t count, size_t key_bytes)
{
    /* The length goes through a volatile so the compiler cannot specialize for it: a
     * lookup never knows its key length at compile time either. */
    volatile size_t len_v = key_bytes;
    size_t len = len_v;
    uint64_t acc = 0;
    for (size_t i = 0; i < count; i++) {
        acc ^= XXH3_64bits(keys + i * key_bytes, len);
    }
    return acc;
}
