/*
 * shards: logical shards, an optional step between a key and its owner (ringd --shards S),
 * as Cadence and Temporal use ringpop: a key maps to one of S fixed shards, and the shard,
 * not the key, is placed on the ring. An app that keeps state per key then keeps it per
 * shard, and when the ring changes it hands over whole shards: shards_owned() says which
 * shards are a node's.
 *
 * Key -> shard: the XXH3-64 of the key (seeded with SHARDS_KEY_SEED, so the shard step is
 * independent of the placement) scaled to [0, S) by a 64 x 32-bit multiply: uniform, each
 * shard gets 1/S of the keys. Shard -> owner: the shard's placement key, its number in
 * decimal ("0" .. "S-1"), is looked up like any key, in the ring or (sub-sharded) in the
 * group map and then the group's ring. So S changes nothing in rings or checksums, and a
 * shard moves exactly when the ring moves its placement key.
 *
 * Every node must run with the same S: a key's shard depends on it.
 */
#ifndef RING_SHARDS_H
#define RING_SHARDS_H

#include <sys/types.h>

#include "ring/base.h"
#include "ring/groupmap.h"
#include "ring/hashring.h"

/* Largest shard count; shard numbers fit 16 bits and their keys 5 digits. */
#define SHARDS_MAX           65536u
#define SHARDS_KEY_BYTES_MAX 5
/* The seed of the key -> shard hash: "shard" in ASCII. */
#define SHARDS_KEY_SEED UINT64_C(0x7368617264)

/* The shard of |key| among |count| (1..SHARDS_MAX; 0 is taken as 1). */
RING_EXTERN uint32_t shards_of(const void *key, size_t key_len, uint32_t count);

/* Writes the placement key of |shard| (decimal, NUL-terminated) to |out| and returns its
 * length. */
RING_EXTERN size_t shards_key(uint32_t shard, char out[SHARDS_KEY_BYTES_MAX + 1]);

/*
 * Writes to |out| (room for |count| entries), ascending, the shards of [0, |count|) whose
 * owner is ring member |self|. With a group map |map| (NULL: flat), a shard is this node's
 * when the map gives it group |group| and the ring (that group's) gives it |self|. Never
 * allocates: O(count) lookups.
 * Returns how many, or RING_EINVAL (count 0 or above SHARDS_MAX, self not a member),
 * RING_EEMPTY (an empty ring or map).
 */
RING_EXTERN ssize_t shards_owned(const struct hashring *r, uint32_t self,
                                 const struct groupmap *map, uint32_t group, uint32_t count,
                                 uint32_t *out);

#endif
