#ifndef RING_BENCH_HASH_INLINE_H
#define RING_BENCH_HASH_INLINE_H

#include <stddef.h>
#include <stdint.h>

/* XORs the inlined xxHash3 of |count| keys of |key_bytes| each. */
uint64_t bench_hash_inline(const uint8_t *keys, size_t count, size_t key_bytes);

#endif
