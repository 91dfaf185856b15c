/*
 * members: the member table and the rules that merge what nodes say about members.
 *
 * A member is what gossip spreads about one node: its id, address, incarnation, status,
 * ring weight, group and labels. The table keeps one record per id, applies updates by the
 * SWIM precedence rules (members_update_overrides()), and keeps the membership checksum
 * current in O(1) per change, so two nodes compare whole memberships with one number.
 *
 * The table knows nothing of time or probing: swim decides when a member becomes suspect,
 * faulty or reaped, and calls in here to record it.
 */
#ifndef RING_MEMBERS_H
#define RING_MEMBERS_H

#include "ring/addr.h"
#include "ring/base.h"
#include "ring/mem.h"

/* Kubernetes pod names are DNS labels (63) and host:port ids fit easily; a smaller bound
 * keeps more updates in one 1,400-byte datagram. */
#define MEMBER_ID_BYTES_MAX    128
#define MEMBER_GROUP_BYTES_MAX 63
/* Labels are small key=value pairs (zone, version, ...) for operators and routing. */
#define MEMBER_LABELS_MAX            8
#define MEMBER_LABEL_KEY_BYTES_MAX   31
#define MEMBER_LABEL_VALUE_BYTES_MAX 63
/* Flat clusters up to 65,535 members (the ring's limit); larger ones use sub-sharding. */
#define MEMBERS_MAX 65535

/* Status, in precedence order: at equal incarnation a higher value wins. The values are
 * also the wire encoding (proto/PROTOCOL.md). */
enum member_status {
    MEMBER_ALIVE = 0,
    MEMBER_SUSPECT = 1,
    MEMBER_FAULTY = 2,
    MEMBER_LEFT = 3,
};

/*
 * Flags a member's own node sets about itself, orthogonal to the status and carried with it
 * (a suspect or faulty record about a draining member stays draining). Only the member
 * changes them, each time with a new incarnation, so they spread and survive refutation
 * like its status does (proto/PROTOCOL.md section 6).
 *
 * MEMBER_FLAG_DRAINING: the member is alive and keeps serving what reaches it, but owns no
 * keys: every node leaves it out of the ring at once, so its keys move in one step before it
 * leaves (a Kubernetes preStop drain) or while its app is unhealthy.
 */
#define MEMBER_FLAG_DRAINING 0x01u
/*
 * MEMBER_FLAG_RESTARTING: the member is about to stop and come back under the same id (a
 * rolling restart), or has just come back and its app is not serving yet. It keeps its place
 * on the ring (its keys do not move) but serves nothing: nodes hold requests for its keys until
 * it clears the flag. When it stops answering, its suspicion lasts the swim's restart_hold_ms
 * instead of Lifeguard's timeout, so its keys move only if it is not back by then (delayed
 * rebalance, as Helix's delayed rebalancer: a restart moves keys 0 times instead of 2).
 */
#define MEMBER_FLAG_RESTARTING 0x02u
#define MEMBER_FLAGS_KNOWN     (MEMBER_FLAG_DRAINING | MEMBER_FLAG_RESTARTING)

struct member_label {
    uint8_t key_len;
    uint8_t value_len;
    char key[MEMBER_LABEL_KEY_BYTES_MAX + 1];
    char value[MEMBER_LABEL_VALUE_BYTES_MAX + 1];
};

/* One member as gossip knows it. Strings are NUL-terminated and also carry their length. */
struct member {
    char id[MEMBER_ID_BYTES_MAX + 1];
    uint8_t id_len;
    uint8_t status;  /* enum member_status */
    uint8_t flags;   /* MEMBER_FLAG_* */
    uint16_t weight; /* ring weight, 1..HASHRING_WEIGHT_MAX */
    uint64_t incarnation;
    struct ring_addr addr;
    char group[MEMBER_GROUP_BYTES_MAX + 1];
    uint8_t group_len;
    uint8_t label_count;
    struct member_label labels[MEMBER_LABELS_MAX];
};

struct members;

/* Returns the status name: "alive", "suspect", "faulty", "left" (or "unknown"). */
RING_EXTERN const char *member_status_name(int status);

/* 1 if a member with this status and these flags holds points on the ring (alive or
 * suspect, and not draining), else 0. Every ring built from a table uses this rule. */
RING_EXTERN int member_in_ring(int status, unsigned flags);

/*
 * The text fields of a member (its id, group, label keys and values, and every id a message
 * carries) are printed by ringctl, logged and sent out as JSON, so they hold printable ASCII
 * only, 0x21..0x7e: no space, no control byte, nothing outside ASCII (proto/PROTOCOL.md
 * section 6, "Text fields"). Label keys and values also exclude '=' and ',', which separate
 * them in `--label k=v,k2=v2` and in ringctl's table. This is the one rule: the flag parser
 * (ringd/config.c), the decoders and the member table all call member_text_check().
 */
enum member_text {
    MEMBER_TEXT_ID = 0,          /* 1..MEMBER_ID_BYTES_MAX bytes */
    MEMBER_TEXT_GROUP = 1,       /* 0..MEMBER_GROUP_BYTES_MAX bytes; empty: no group */
    MEMBER_TEXT_LABEL_KEY = 2,   /* 1..MEMBER_LABEL_KEY_BYTES_MAX bytes, no '=' or ',' */
    MEMBER_TEXT_LABEL_VALUE = 3, /* 0..MEMBER_LABEL_VALUE_BYTES_MAX bytes, no '=' or ',' */
};

/*
 * Checks |len| bytes of |s| against the rule for |kind| (enum member_text). Returns 0,
 * RING_EMSGSIZE (longer than the kind allows) or RING_EINVAL (empty where the kind needs a
 * byte, a byte the rule excludes, or an unknown kind). When |bad_at| is not NULL it gets the
 * offset of the first excluded byte (0 for an empty or unknown kind, the limit when too
 * long), so an error message can point at it.
 */
RING_EXTERN int member_text_check(int kind, const char *s, size_t len, size_t *bad_at);

/* The longest text of |kind| in bytes (0 for an unknown kind). */
RING_EXTERN size_t member_text_bytes_max(int kind);

/* Copies |id_len| bytes of |id| into |m|'s id. Returns 0 or RING_EINVAL (empty, too long, or
 * a byte member_text_check() excludes). */
RING_EXTERN int member_set_id(struct member *m, const char *id, size_t id_len);

/* Adds or replaces label |key|=|value| (NUL-terminated). Returns 0, RING_EINVAL (empty key,
 * key or value too long, or a byte member_text_check() excludes) or RING_E2BIG
 * (MEMBER_LABELS_MAX labels already). */
RING_EXTERN int member_set_label(struct member *m, const char *key, const char *value);

/* Checks that |m| is well-formed: id, group and labels pass member_text_check(), lengths
 * match the NUL-terminated strings, status known, weight in range, labels within bounds and
 * distinct. Decoders call it on every member they read. Returns 0 or RING_EPROTO. */
RING_EXTERN int member_validate(const struct member *m);

/*
 * Returns 1 if update |upd| about a member should replace what we know, |cur|, else 0:
 * a higher incarnation wins; at equal incarnation a higher status wins
 * (left > faulty > suspect > alive), and at equal status more flags win (a member changes
 * its flags only with a new incarnation, so this tie only breaks a forged or corrupt pair
 * the same way on every node). Both must be about the same id.
 */
RING_EXTERN int members_update_overrides(const struct member *cur, const struct member *upd);

/* This member's term of the membership checksum: xxHash3-64 over its id, address, status,
 * flags and incarnation (proto/PROTOCOL.md gives the bytes). */
RING_EXTERN uint64_t member_digest(const struct member *m);

/*
 * Creates an empty table for up to |capacity| members (<= MEMBERS_MAX; it grows as needed
 * up to that) in |*out|. |mem| may be NULL for libc.
 * Returns 0, RING_EINVAL or RING_ENOMEM.
 */
RING_EXTERN int members_new(struct members **out, size_t capacity, const struct ring_mem *mem);

/* Frees |t|; NULL is fine. */
RING_EXTERN void members_del(struct members *t);

/*
 * Applies |upd|: inserts it when the id is new, replaces the record when
 * members_update_overrides() says so, otherwise leaves the table alone. Stores in
 * |*applied| 1 if the table changed, else 0.
 * Returns 0, or RING_EPROTO (|upd| fails member_validate()), RING_E2BIG (table full, new
 * id), RING_ENOMEM.
 */
RING_EXTERN int members_apply(struct members *t, const struct member *upd, int *applied);

/* Sets the record for |m->id| to exactly |m|, bypassing precedence (for a node's own record
 * and for swim's local decisions). Same errors as members_apply(). */
RING_EXTERN int members_put(struct members *t, const struct member *m);

/* Removes the record with this id (reaping a tombstone). Another record may move into its
 * index. Returns 0 or RING_ENOENT. */
RING_EXTERN int members_remove(struct members *t, const char *id, size_t id_len);

/*
 * Records live in a dense array, stored compactly (the fixed fields inline, id, group and
 * labels in one small allocation), because the simulator holds 10,000 tables of 10,000
 * members: struct member is the exchange format, not the storage format. Indexes run
 * 0..members_count()-1 and stay valid until the next call that changes the table.
 */

/* Number of records (all statuses). */
RING_EXTERN size_t members_count(const struct members *t);

/* Index of the record with this id, or RING_ENOENT. O(1) expected. */
RING_EXTERN int members_index(const struct members *t, const char *id, size_t id_len);

/* Copies record |idx| into |out|. */
RING_EXTERN void members_get(const struct members *t, size_t idx, struct member *out);

/* Cheap accessors for record |idx|. The id is not NUL-terminated; its pointer is valid until
 * the next change to |t|. */
RING_EXTERN const char *members_id(const struct members *t, size_t idx, size_t *id_len);
RING_EXTERN int members_status(const struct members *t, size_t idx);
RING_EXTERN uint64_t members_incarnation(const struct members *t, size_t idx);
RING_EXTERN const struct ring_addr *members_addr(const struct members *t, size_t idx);
RING_EXTERN uint16_t members_weight(const struct members *t, size_t idx);
RING_EXTERN unsigned members_flags(const struct members *t, size_t idx);
/* member_in_ring() of record |idx|. */
RING_EXTERN int members_in_ring(const struct members *t, size_t idx);

/* Number of records with status |status|. */
RING_EXTERN size_t members_count_status(const struct members *t, int status);

/* The membership checksum: the sum mod 2^64 of member_digest() over every record. */
RING_EXTERN uint64_t members_checksum(const struct members *t);

/* The ring checksum of the table's members that hold points (member_in_ring()), exactly
 * hashring_checksum() of a ring built from them with |vnodes| (0 means HASHRING_VNODES_DEFAULT,
 * as in struct hashring_config). O(1). */
RING_EXTERN uint64_t members_ring_checksum(const struct members *t, uint32_t vnodes);

/* A hash over the ids and addresses of the members in the ring: it changes when the
 * ring does, and when a member that owns keys moves to a new address (a pod rescheduled
 * with the same id), which the ring checksum does not see. Everything that maps a key to an
 * address follows this one. O(1). */
RING_EXTERN uint64_t members_routes_checksum(const struct members *t);

/* The sum of the weights of the members in the ring: the ring has this many x vnodes
 * points. O(1). */
RING_EXTERN uint64_t members_ring_weight(const struct members *t);

/* Number of alive and suspect members, draining or not: the live members SWIM probes and
 * scales its timeouts by. */
RING_EXTERN size_t members_ring_count(const struct members *t);

/* Number of members in the ring (member_in_ring()): members_ring_count() less the draining. */
RING_EXTERN size_t members_owner_count(const struct members *t);

/* Bytes of memory the table holds. */
RING_EXTERN size_t members_memory_bytes(const struct members *t);

#endif
