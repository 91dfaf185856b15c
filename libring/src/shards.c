/* shards: key -> logical shard -> owner (see ring/shards.h). */
#include <xxhash.h>

#include "ring/error.h"
#include "ring/shards.h"

uint32_t shards_of(const void *key, size_t key_len, uint32_t count)
{
    if (count == 0) {
        count = 1;
    }
    uint64_t h = XXH3_64bits_withSeed(key, key_len, SHARDS_KEY_SEED);
    /* The top 32 bits times count, over 2^32: uniform on [0, count) without a division. */
    return (uint32_t)(((h >> 32) * (uint64_t)count) >> 32);
}

size_t shards_key(uint32_t shard, char out[SHARDS_KEY_BYTES_MAX + 1])
{
    char digits[10];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + shard % 10);
        shard /= 10;
    } while (shard != 0 && n < sizeof(digits));
    size_t len = n < SHARDS_KEY_BYTES_MAX ? n : SHARDS_KEY_BYTES_MAX;
    for (size_t i = 0; i < len; i++) {
        out[i] = digits[n - 1 - i];
    }
    out[len] = '\0';
    return len;
}

ssize_t shards_owned(const struct hashring *r, uint32_t self, const struct groupmap *map,
                     uint32_t group, uint32_t count, uint32_t *out)
{
    if (count == 0 || count > SHARDS_MAX || r == NULL || out == NULL ||
        self >= hashring_member_count(r)) {
        return RING_EINVAL;
    }
    size_t got = 0;
    for (uint32_t s = 0; s < count; s++) {
        char key[SHARDS_KEY_BYTES_MAX + 1];
        size_t len = shards_key(s, key);
        uint32_t idx;
        if (map != NULL) {
            int rv = groupmap_lookup(map, key, len, &idx);
            if (rv != 0) {
                return rv;
            }
            if (idx != group) {
                continue;
            }
        }
        int rv = hashring_lookup(r, key, len, &idx);
        if (rv != 0) {
            return rv;
        }
        if (idx == self) {
            out[got++] = s;
        }
    }
    return (ssize_t)got;
}
