/*
 * groupmap: the first step of a sub-sharded lookup, key -> group.
 *
 * With sub-sharding (groups.h) a key maps first to a group, then to an owner inside that
 * group's own ring. The first step is a consistent hash over the group names: a hashring
 * whose members are the names (weight 1 each), so it inherits everything RING.md promises:
 * every node that knows the same names builds the byte-identical map in any order, adding a
 * group moves about 1/G of the keys (only to the new group) and the busiest group's share
 * stays within the ring's balance figures for the same vnodes.
 *
 * The key is hashed with its own seed (GROUPMAP_KEY_SEED) rather than the owner ring's
 * seed 0: with one hash for both steps, the keys of a group would be exactly the hash
 * ranges of its arcs, and the owner ring inside it would split those arcs instead of a
 * uniform sample of the key space, adding the two rings' placement noise together.
 *
 * A map is an immutable value like a ring: build a new one when the set of names changes
 * (groups_set_checksum() says when), then drop the old one.
 */
#ifndef RING_GROUPMAP_H
#define RING_GROUPMAP_H

#include "ring/base.h"
#include "ring/mem.h"

/* The seed of the key hash of the group step: "group" in ASCII. */
#define GROUPMAP_KEY_SEED UINT64_C(0x67726f7570)
/* Points per group: the owner ring's default, so the same balance table applies (a
 * busiest group within about 1.06x the mean share at 100 groups, 1.10x at 1,000); the map
 * costs about 12 bytes per point (12 MB at 1,000 groups). */
#define GROUPMAP_VNODES_DEFAULT 1024

struct groupmap;

/* One group name: |len| bytes (1..MEMBER_GROUP_BYTES_MAX), not NUL-terminated. */
struct groupmap_name {
    const char *name;
    size_t len;
};

/*
 * Builds the map of the |n| |names| (which may be empty: lookups then fail with RING_EEMPTY)
 * with |vnodes| points per group (0: GROUPMAP_VNODES_DEFAULT) into |*out|. Names are copied.
 * |mem| may be NULL for libc.
 * Returns 0, RING_EINVAL (a name empty or too long), RING_EEXIST (a name twice), RING_ERANGE,
 * RING_E2BIG, RING_ENOMEM (as hashring_new()).
 */
RING_EXTERN int groupmap_new(struct groupmap **out, const struct groupmap_name *names, size_t n,
                             uint32_t vnodes, const struct ring_mem *mem);

/* Frees |m|; NULL is fine. */
RING_EXTERN void groupmap_del(struct groupmap *m);

/* The hash the group step uses for |key|: XXH3-64 with GROUPMAP_KEY_SEED. */
RING_EXTERN uint64_t groupmap_key_hash(const void *key, size_t key_len);

/* Stores in |*idx| the group of |key| (an index for groupmap_name()). Never allocates.
 * Returns 0 or RING_EEMPTY. */
RING_EXTERN int groupmap_lookup(const struct groupmap *m, const void *key, size_t key_len,
                                uint32_t *idx);

/* Same with the hash groupmap_key_hash() gave. */
RING_EXTERN int groupmap_lookup_hash(const struct groupmap *m, uint64_t key_hash, uint32_t *idx);

/* Number of groups, and the name of group |idx| (sorted bytewise) with its length in
 * |*len|. The name is valid until groupmap_del(m). */
RING_EXTERN size_t groupmap_count(const struct groupmap *m);
RING_EXTERN const char *groupmap_name(const struct groupmap *m, uint32_t idx, size_t *len);

/* Index of group |name|, or RING_ENOENT. */
RING_EXTERN int groupmap_find(const struct groupmap *m, const char *name, size_t len);

/* The set checksum: equal on two maps exactly when they hold the same names and vnodes
 * (the hashring checksum of the names at weight 1). groupmap_set_checksum() computes it
 * from a digest sum without building a map. */
RING_EXTERN uint64_t groupmap_checksum(const struct groupmap *m);

/* One name's term of the set checksum, and the checksum of a set whose terms sum to
 * |digest_sum| (mod 2^64). */
RING_EXTERN uint64_t groupmap_name_digest(const char *name, size_t len);
RING_EXTERN uint64_t groupmap_set_checksum(uint32_t vnodes, uint64_t digest_sum);

/* Bytes of memory the map holds. */
RING_EXTERN size_t groupmap_memory_bytes(const struct groupmap *m);

#endif
