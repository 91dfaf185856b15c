/*
 * hashring: the consistent-hash ring that maps a key to its owner(s).
 *
 * A ring is an immutable value built from a member set: build a new ring when membership
 * changes (hashring_new_from() builds it from the old one, touching only what changed), ask
 * hashring_diff() what moved, then drop the old one. Every node that builds a ring from the
 * same (member set, vnodes) gets the byte-identical ring, whatever order the members were
 * given in and whichever way it was built. The placement rules are specified in proto/RING.md, with
 * known-answer vectors in proto/vectors/hashring.txt.
 *
 * Lookups never allocate and never take a lock: a ring is read-only once built.
 */
#ifndef RING_HASHRING_H
#define RING_HASHRING_H

#include "ring/base.h"
#include "ring/mem.h"

/* Points per unit of weight. The default gives a busiest member within about 1.06x the
 * mean share at 100 members (proto/RING.md, "Balance": the mean over random ids) and about
 * 1.07x at 1,000 (bench_ring); ringpop's 100 points give 1.22x at 32 members. A point costs
 * 3.4 to 3.6 bytes (proto/RING.md, "Layout"). */
#define HASHRING_VNODES_DEFAULT 1024
#define HASHRING_VNODES_MAX     16384
/* Weights are small integers; a member with weight w owns w times the points. */
#define HASHRING_WEIGHT_MAX 1000
/* Member indexes take at most 16 bits of a boundary (see proto/RING.md, "Layout"): 65,535
 * members per ring. Larger clusters use sub-sharding, where each group has its own ring. */
#define HASHRING_MEMBERS_MAX 65535
/* Ids are opaque bytes (memberlist and ringpop use host:port or pod names). */
#define HASHRING_ID_BYTES_MAX 255
/* Total points in one ring: 2^26 points is 512 MiB of points, far past any sane config. */
#define HASHRING_POINTS_MAX (1u << 26)
/* lookup_n returns at most this many owners (replication factors are small). */
#define HASHRING_REPLICAS_MAX 64
/* A member index meaning "no member" (the owner side of an empty ring in a diff). */
#define HASHRING_NONE UINT32_MAX

struct hashring;

struct hashring_member {
    /* The member's id: |id_len| bytes, not NUL-terminated, not empty. */
    const char *id;
    size_t id_len;
    /* Relative capacity, 1..HASHRING_WEIGHT_MAX. */
    uint32_t weight;
};

struct hashring_config {
    /* Points per unit of weight, 1..HASHRING_VNODES_MAX; 0 means HASHRING_VNODES_DEFAULT. */
    uint32_t vnodes;
};

/* A run of key hashes that changed owner between two rings: every key whose xxHash3-64
 * lies in [first, last] (inclusive) was owned by |from| in the old ring and is owned by
 * |to| in the new one. |from| indexes the old ring's members, |to| the new ring's; either
 * is HASHRING_NONE when that ring is empty. */
struct hashring_range {
    uint64_t first;
    uint64_t last;
    uint32_t from;
    uint32_t to;
};

/* Called once per moved range, in increasing order of |first|. */
typedef void (*hashring_range_cb)(const struct hashring_range *range, void *arg);

/*
 * Builds a ring of the |n| |members| (which may be empty: lookups then fail with
 * RING_EEMPTY) and stores it in |*out|. The member ids are copied; |members| may be freed
 * after the call. |cfg| may be NULL for the defaults, |mem| NULL for libc.
 *
 * Returns 0, or:
 *   RING_EINVAL  |out| is NULL, |members| is NULL with n > 0, an id is empty or too long,
 *                or a weight is 0
 *   RING_ERANGE  vnodes or a weight is above its maximum
 *   RING_EEXIST  two members have the same id
 *   RING_E2BIG   more than HASHRING_MEMBERS_MAX members or HASHRING_POINTS_MAX points
 *   RING_ENOMEM  an allocation failed
 */
RING_EXTERN int hashring_new(struct hashring **out, const struct hashring_member *members, size_t n,
                             const struct hashring_config *cfg, const struct ring_mem *mem);

/*
 * Builds the ring of the |n| |members| like hashring_new(), from |old|, a ring built
 * earlier (which may be NULL, and is not changed): the result is byte for byte the ring
 * hashring_new() builds from the same arguments, in time that grows with the points that
 * change rather than with the ring. The untouched part of the table is copied, the rest
 * rebuilt: a join, a leave or a weight change of one member costs under a millisecond at
 * 1,000 members of 1,024 points and 3 to 5 at 10,000, where a full build costs tens and
 * hundreds (bench_ring's build_ms and update_ms). It builds from scratch when |old| is NULL, small
 * (under 1,024 boundaries) or of other vnodes, when more than an eighth of the points
 * change, or when the member or point count crosses a threshold of the table's shape
 * (proto/RING.md, "Layout"). |old| must stay valid during the call only.
 *
 * Returns 0, or:
 *   RING_EINVAL  |out| is NULL, |members| is NULL with n > 0, an id is empty or too long,
 *                or a weight is 0
 *   RING_ERANGE  vnodes or a weight is above its maximum
 *   RING_EEXIST  two members have the same id
 *   RING_E2BIG   more than HASHRING_MEMBERS_MAX members or HASHRING_POINTS_MAX points
 *   RING_ENOMEM  an allocation failed (|old| is unchanged, nothing leaks)
 */
RING_EXTERN int hashring_new_from(struct hashring **out, const struct hashring *old,
                                  const struct hashring_member *members, size_t n,
                                  const struct hashring_config *cfg, const struct ring_mem *mem);

/* Frees |r| and everything it owns. |r| may be NULL. */
RING_EXTERN void hashring_del(struct hashring *r);

/*
 * Stores in |*owner| the index of the member that owns |key| (|key_len| bytes): the member
 * of the point nearest the key's position (proto/RING.md, "Owners"). Never allocates.
 *
 * Returns 0, or RING_EEMPTY if the ring has no members.
 */
RING_EXTERN int hashring_lookup(const struct hashring *r, const void *key, size_t key_len,
                                uint32_t *owner);

/* Same as hashring_lookup() for a key whose xxHash3-64 the caller already has. */
RING_EXTERN int hashring_lookup_hash(const struct hashring *r, uint64_t key_hash, uint32_t *owner);

/*
 * Stores up to |n| distinct owners of |key| in |owners|, in ring order starting with the
 * primary owner (the one hashring_lookup() returns). Fewer than |n| are stored when fewer
 * members own keys (all members, unless every point of one lost a position tie, see
 * proto/RING.md). Never allocates.
 *
 * Returns the number stored (>= 1), or:
 *   RING_EEMPTY  the ring has no members
 *   RING_ERANGE  |n| is 0 or above HASHRING_REPLICAS_MAX
 */
RING_EXTERN int hashring_lookup_n(const struct hashring *r, const void *key, size_t key_len,
                                  size_t n, uint32_t *owners);

/* Number of members. */
RING_EXTERN size_t hashring_member_count(const struct hashring *r);

/* Number of points (the sum over members of vnodes x weight). */
RING_EXTERN size_t hashring_point_count(const struct hashring *r);

/* Points per unit of weight this ring was built with. */
RING_EXTERN uint32_t hashring_vnodes(const struct hashring *r);

/* Member |idx| (0 <= idx < member count; members are sorted by id, bytewise). The pointer
 * and its id stay valid until hashring_del(r). */
RING_EXTERN const struct hashring_member *hashring_member(const struct hashring *r, uint32_t idx);

/* Index of the member with id |id|, or RING_ENOENT. */
RING_EXTERN int hashring_find(const struct hashring *r, const char *id, size_t id_len,
                              uint32_t *idx);

/* The ring checksum (proto/RING.md): xxHash3-64 of le32(vnodes) || le64(S), where S is the
 * sum mod 2^64 of hashring_member_digest() over the members. Rings with the same checksum
 * have the same (id, weight) set and vnodes, and so map every key to the same owner id.
 * Being a sum, it can be kept up to date member by member without building a ring (swim
 * does so). */
RING_EXTERN uint64_t hashring_checksum(const struct hashring *r);

/* xxHash3-64 of le32(id_len) || id || le32(weight): one member's term in the ring checksum. */
RING_EXTERN uint64_t hashring_member_digest(const char *id, size_t id_len, uint32_t weight);

/* The ring checksum of a member set whose hashring_member_digest() values sum to
 * |digest_sum| (mod 2^64), for a ring of |vnodes| points per unit of weight. */
RING_EXTERN uint64_t hashring_checksum_from_sum(uint32_t vnodes, uint64_t digest_sum);

/* Bytes of memory the ring holds (its table, what updates need, members and ids). */
RING_EXTERN size_t hashring_memory_bytes(const struct hashring *r);

/* Stores in shares[m], for every member m (|shares| has hashring_member_count() entries),
 * the fraction of the key-hash space it owns: its exact share, which the ring keeps (one
 * division a member). */
RING_EXTERN void hashring_shares(const struct hashring *r, double *shares);

/*
 * Calls |cb| for every maximal range of key hashes whose owner id differs between |old_r|
 * and |new_r|, in increasing order; nothing when the rings agree everywhere. Either ring
 * may be empty. Allocates one temporary array of |old_r|'s member count.
 *
 * Returns 0, or RING_ENOMEM (and then |cb| was never called).
 */
RING_EXTERN int hashring_diff(const struct hashring *old_r, const struct hashring *new_r,
                              hashring_range_cb cb, void *arg);

#endif
