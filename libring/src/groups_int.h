/*
 * groups internals shared by groups.c (the object, the table of summaries, authoring,
 * lookups) and groups_exchange.c (the syn/ack/push exchange). Never part of the API.
 */
#ifndef RING_GROUPS_INT_H
#define RING_GROUPS_INT_H

#include "ring/groups.h"

/* Datagrams queued for the caller: one exchange queues at most 1 + push_datagrams_max. */
#define GROUPS_OUT_MAX 64
/* Upper bound of push_datagrams_max. */
#define GROUPS_PUSH_DATAGRAMS_MAX 32
/* The smallest datagram budget: a header, the buckets and one full summary must fit. */
#define GROUPS_DATAGRAM_BYTES_MIN 512
/* Random picks tried when choosing an exchange partner before falling back to a scan. */
#define GROUPS_PICK_TRIES 16
/* Group tables up to this many groups (each node holds one summary per group). */
#define GROUPS_MAX 65535

/* One known group, stored compactly (ringsim holds 100,000 nodes x 1,000 of these): the
 * fixed fields inline, the name and contacts packed in |blob| (see groups.c). */
struct groups_entry {
    uint64_t name_hash; /* XXH3-64 of the name: table order and bucket */
    uint64_t version;
    uint64_t ring_checksum;
    uint32_t size;
    uint16_t blob_len;
    uint8_t name_len;
    uint8_t contact_count;
    uint8_t failed; /* bit i: contact i failed here */
    /* now_ms / 1000 when the version last changed here (in the padding before |blob|). */
    uint32_t changed_s;
    uint8_t *blob;
};

_Static_assert(sizeof(struct groups_entry) == 48 || sizeof(void *) != 8,
               "ringsim holds 100,000 nodes x 1,000 entries");

/* A datagram waiting for groups_send_next(), encoded when it was queued. */
struct groups_out {
    struct ring_addr to;
    size_t len;
    uint8_t *data;
};

/* The exchange this node started and waits on. */
struct groups_pending {
    uint8_t active;
    int8_t contact; /* index into the entry's contacts, or -1 (a member or a seed) */
    uint32_t seq;
    uint64_t name_hash; /* the entry whose contact was asked */
    uint64_t deadline_ms;
};

struct groups {
    struct ring_mem mem;
    struct groups_config cfg; /* defaults filled in; pointers not kept */
    char id[MEMBER_ID_BYTES_MAX + 1];
    uint8_t id_len;
    char group[MEMBER_GROUP_BYTES_MAX + 1];
    uint8_t group_len;
    uint64_t group_hash;
    uint64_t rng;
    uint64_t now_ms;

    /* The table, sorted by name_hash. */
    struct groups_entry *entries;
    size_t count, cap;
    uint64_t bucket_sums[CODEC_GROUP_BUCKETS];
    uint64_t set_digest_sum; /* sum of groupmap_name_digest() over the names */
    uint8_t ready;

    /* Authoring. */
    uint64_t mismatch_since_ms; /* 0: the view agrees with our group's summary */
    uint64_t authored_ms;
    uint64_t author_due_ms; /* when authoring may be due next, or UINT64_MAX */
    /* we_author()'s last answer and the membership checksum it holds for. */
    uint8_t author_known;
    uint8_t author_is_us;
    uint64_t author_table_checksum;
    /* Since when a contact of our summary has been dead or missing (0: none is). */
    uint64_t contacts_bad_since_ms;
    /* Our view of the ring, and since when we have held it. */
    uint64_t view_checksum;
    uint32_t view_size;
    uint64_t view_since_ms;
    uint8_t authored_once;

    /* Exchange. */
    uint64_t exchange_next_ms;
    uint64_t exchange_last_ms; /* when the last exchange started */
    uint32_t seq_next;
    struct groups_pending pending;
    struct ring_addr seeds[GROUPS_SEEDS_MAX];
    size_t seed_count;
    uint64_t own_join_at_ms; /* groups_own_seeds(): not again before this */

    /* Admission of new groups once ready, in thousandths of a group, refilled to
     * GROUPS_ADMIT_BURST at one per GROUPS_ADMIT_INTERVAL_MS (groups.h). */
    uint64_t admit_millis;
    uint64_t admit_refill_ms;

    struct groups_out out[GROUPS_OUT_MAX];
    size_t out_head, out_count;

    struct groups_stats stats;
};

/* groups.c */
uint64_t groups__rand(struct groups *g);
uint32_t groups__rand_below(struct groups *g, uint32_t n);
/* Index of the entry named |name|, or -1. */
int groups__find(const struct groups *g, const char *name, size_t len);
/* Unpacks contact |k| of entry |e| into |out|. */
void groups__contact(const struct groups_entry *e, int k, struct codec_contact *out);
/* Unpacks entry |e| into |out|. */
void groups__unpack(const struct groups_entry *e, struct codec_summary *out);
/* Merges a summary heard from a peer: inserts it or replaces an older one. Returns 1 when
 * the table changed, 0 when not, RING_ENOMEM. */
int groups__merge(struct groups *g, const struct codec_summary *s);
/* groups__merge() for a summary heard from a peer, within the limits between peers
 * (groups.h): a version too far ahead and a new group over the budget are refused and
 * counted (0). */
int groups__merge_peer(struct groups *g, const struct codec_summary *s);
/* The highest version a peer's summary of group |name| may have here now. */
uint64_t groups__version_ceiling(const struct groups *g, const char *name, size_t len);
/* The 16-bit wire form of each bucket digest. */
void groups__buckets(const struct groups *g, uint16_t *out);
uint32_t groups__bucket_of(uint64_t name_hash);
int groups__is_own(const struct groups *g, const struct groups_entry *e);
/* A member |id| at |addr| of group |name| was heard from: clear its failed mark, or let it
 * stand in for a failed contact. */
void groups__heard_from(struct groups *g, const char *name, size_t len, const char *id,
                        size_t id_len, const struct ring_addr *addr);
/* Marks contact |contact| of the entry with |name_hash| failed. */
void groups__fail_contact(struct groups *g, uint64_t name_hash, int contact);
/* Packs |s| into entry |e| (its blob replaced). Returns 0 or RING_ENOMEM. */
int groups__store(struct groups *g, struct groups_entry *e, const struct codec_summary *s);

/* groups_exchange.c */
/* Our table just learned something: pass it on soon (groups_exchange.c says why). */
void groups__news(struct groups *g);
void groups__exchange_tick(struct groups *g, const struct members *local);
uint64_t groups__exchange_deadline(const struct groups *g);
/* Handles decoded message |m| from |from|; |m| is reused as scratch for the reply. */
int groups__on_msg(struct groups *g, const struct ring_addr *from, struct codec_groups *m);
void groups__out_clear(struct groups *g);

/* For ringsim's warm start: stores |s| as if merged long ago (marks the node ready). */
int groups__test_put(struct groups *g, const struct codec_summary *s);

#endif
