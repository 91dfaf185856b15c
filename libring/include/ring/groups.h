/*
 * groups: sub-sharding's cross-group view, as a sans-I/O state machine beside swim.
 *
 * With sub-sharding every node belongs to one group; each group runs its own swim (its own
 * membership and ring), so a node hears about changes in its group only. What a node knows
 * of the other groups is one summary per group: {name, size, ring checksum, a few live
 * contacts, version}. A summary is authored by members of its group from their own swim
 * view and spread by a slow push-pull exchange whose size grows with the number of groups G,
 * never with the number of nodes N. Lookups map a key to its group (groupmap.h), then to an
 * owner in the local ring, or to a contact of the other group to route through.
 *
 * The caller drives it exactly like swim and usually right beside it: it feeds the group
 * datagrams (codec_is_groups_type(codec_peek_type(...)) says which datagrams are ours) to
 * groups_recv(), calls groups_drive() beside its swim (after every swim drain, and at
 * groups_deadline_with(), the earlier of swim's deadline and ours), which joins the node's
 * own group when it is alone in it and calls groups_tick() with swim's current member table
 * and ring checksum, and drains groups_send_next(). A caller without a swim (a test's table)
 * calls groups_tick() itself.
 * Randomness comes from a PRNG seeded by groups_config.seed; no clock, no socket.
 *
 * Authoring. The summary of a group is what its members say; several may speak at once, so
 * summaries carry a version and newer wins (a higher version, then the higher ring checksum).
 * A member re-authors when its view (ring checksum, size, contacts still alive) differs from
 * the newest summary of its group it knows: at once if it is the group's author, the alive
 * member with the lowest id hash in its view, else after author_grace_ms of disagreement
 * (the author may be the one that died); at most once per author_interval_ms. A change is
 * published only once it has held for author_settle_ms (a new size or ring checksum, a dead
 * contact while another still answers): a restarted member leaves the ring and comes back
 * to the same checksum and address within seconds, and the other groups need not hear of
 * it. A summary with no live contact is replaced at once. Contacts are kept while alive and
 * replaced at random when they die, so a routing contact changes only when it must.
 *
 * The exchange (proto/PROTOCOL.md section 12). Every exchange_interval_ms (jittered
 * 0.5x..1.5x) a node sends a group syn to a random contact of a random other group: its
 * table digest and group count, about 40 bytes. Equal digests end it with a 40-byte ack.
 * Otherwise the ack carries the 64 bucket digests; the initiator pushes its summaries of the
 * differing buckets with its own bucket digests, and the peer pushes back what still
 * differs (Cassandra's syn/ack/ack2): both leave with the newer of each summary. A node
 * whose table just changed exchanges again within bootstrap_interval_ms, so news spreads
 * like a rumor and the periodic exchanges mop up. A syn that
 * gets no ack within exchange_timeout_ms marks that contact failed here, and lookups route
 * through another; hearing from a group's member directly replaces a failed contact. Until a
 * node knows as many groups as a peer it is not ready (groups_ready()) and exchanges every
 * bootstrap_interval_ms, first with members of its own group.
 *
 * Groups are only ever added: a group whose contacts all fail keeps its keys (remapping
 * them because one node cannot reach a group would split the cluster's view of the keys).
 */
#ifndef RING_GROUPS_H
#define RING_GROUPS_H

#include <sys/types.h>

#include "ring/addr.h"
#include "ring/base.h"
#include "ring/codec.h"
#include "ring/groupmap.h"
#include "ring/hashring.h"
#include "ring/mem.h"
#include "ring/members.h"

struct groups;

/*
 * Limits between peers (proto/SWIM.md): a summary of a group this node knows is accepted
 * only up to GROUPS_VERSION_STEP_MAX versions above the one it holds, plus one per second
 * since that version changed here (authors publish about once a second at most, and a
 * summary refused at the edge is taken a second later); a group it does not know only at a
 * version up to GROUPS_VERSION_NEW_MAX. So no forged summary brings a version near 2^64:
 * the group's authors always out-version it, and versions never wrap. Once ready, a node
 * admits new groups GROUPS_ADMIT_BURST at once, then one per GROUPS_ADMIT_INTERVAL_MS;
 * until then it takes what its first exchanges bring.
 */
#define GROUPS_VERSION_STEP_MAX  1024
#define GROUPS_VERSION_NEW_MAX   (UINT64_C(1) << 32)
#define GROUPS_ADMIT_BURST       8
#define GROUPS_ADMIT_INTERVAL_MS 10000

/* Every 0 field takes the default in brackets. */
struct groups_config {
    /* This node's id and address (as in swim_config) and its group (1..63 bytes). */
    const char *id;
    size_t id_len;
    struct ring_addr addr;
    const char *group;
    size_t group_len;
    /* Seeds the PRNG of every random choice. */
    uint64_t seed;
    /* Contacts per summary [4], at most CODEC_CONTACTS_MAX. */
    uint32_t contacts;
    /* One exchange per interval, jittered 0.5x..1.5x [5000]; while not ready [500]. */
    uint32_t exchange_interval_ms;
    uint32_t bootstrap_interval_ms;
    /* A syn unanswered this long fails its contact [1000]. */
    uint32_t exchange_timeout_ms;
    /* A member that is not its group's author re-authors a summary that has disagreed with
     * its view this long [10000]; nobody authors more often than author_interval_ms
     * [1000]. */
    uint32_t author_grace_ms;
    uint32_t author_interval_ms;
    /* A new size or ring checksum, or a dead contact while another answers, is authored once
     * our view has held it this long [10000] (a summary with no live contact at once). */
    uint32_t author_settle_ms;
    /* Points per group of the group map [GROUPMAP_VNODES_DEFAULT]. */
    uint32_t map_vnodes;
    /* Datagram budget [1400], and datagrams one push may take [16]. */
    uint32_t datagram_bytes_max;
    uint32_t push_datagrams_max;
};

struct groups_stats {
    uint64_t exchanges;         /* syns sent */
    uint64_t exchange_timeouts; /* syns unanswered: a contact marked failed */
    uint64_t authored;          /* summaries of our own group we authored */
    uint64_t merged;            /* summaries that replaced an older one (or were new) */
    uint64_t msgs_in, msgs_out;
    uint64_t bytes_in, bytes_out;
    uint64_t decode_errors;
    uint64_t msgs_dropped; /* datagrams not queued: queue full or no memory */
    /* Summaries refused: a version too far above the known one (or a new group's too high),
     * and new groups over the admission budget. */
    uint64_t versions_refused;
    uint64_t groups_refused;
};

/* A lookup's answer. Strings point into |g| and are valid until the next call that feeds it. */
struct groups_route {
    const char *group;
    size_t group_len;
    /* 1: the key's group is this node's own: |owner| is the owner's index in the local ring
     * (hashring_member()). 0: route through |contact_id| at |contact_addr|. */
    int local;
    uint32_t owner;
    const char *contact_id;
    size_t contact_id_len;
    struct ring_addr contact_addr;
    /* The group's size and ring checksum as known here (for a local key: the summary this
     * node holds of its own group). */
    uint32_t size;
    uint64_t ring_checksum;
};

/* Fills every zero field of |c| with its default, as groups_new() does. */
RING_EXTERN void groups_config_defaults(struct groups_config *c);

/*
 * Creates the cross-group view of a node that knows no other group yet in |*out|. |mem| may
 * be NULL for libc. Returns 0, RING_EINVAL (bad id, address, group or setting), RING_ENOMEM.
 */
RING_EXTERN int groups_new(struct groups **out, const struct groups_config *cfg,
                           const struct ring_mem *mem, uint64_t now_ms);

/* Frees |g|; NULL is fine. */
RING_EXTERN void groups_del(struct groups *g);

/* Addresses of any ring nodes (any group) to exchange with while this node knows no other
 * group and no other member of its own. Replaces the previous list.
 * Returns 0 or RING_E2BIG (more than GROUPS_SEEDS_MAX). */
#define GROUPS_SEEDS_MAX 16
RING_EXTERN int groups_join(struct groups *g, const struct ring_addr *seeds, size_t n);

/* Feeds one group datagram from |from|. Returns 0 or a codec error (counted). */
RING_EXTERN int groups_recv(struct groups *g, const struct ring_addr *from, const uint8_t *buf,
                            size_t len, uint64_t now_ms);

/*
 * Does what is due at |now_ms| with |local|, the node's own group's member table (swim's,
 * this node included), and |local_ring_checksum|, swim's ring checksum: authors a summary
 * of the group when due, starts an exchange, times one out. Call it after every swim drain
 * that changed the table too. Returns 0 (or RING_ENOMEM, and then retries at the next tick).
 */
RING_EXTERN int groups_tick(struct groups *g, const struct members *local,
                            uint64_t local_ring_checksum, uint64_t now_ms);

/* The time at which groups_tick() has work next (never UINT64_MAX: exchanges are periodic). */
RING_EXTERN uint64_t groups_next_deadline(const struct groups *g);

/* The one deadline a node arms its timer for: the earlier of |swim_deadline|
 * (swim_next_deadline()) and |g|'s; |g| may be NULL (sub-sharding off). */
RING_EXTERN uint64_t groups_deadline_with(const struct groups *g, uint64_t swim_deadline);

/* A node alone in its group's membership |local| (its join seeds may all be of other
 * groups, whose memberships ignore it) joins its group through the contacts the summaries
 * name for it. Writes into |seeds| (room for CODEC_CONTACTS_MAX) its own group's contacts,
 * itself left out, and returns how many; 0 when the node is not alone, knows no contact of
 * its group, or tried less than GROUPS_OWN_JOIN_RETRY_MS ago. The caller passes them to
 * swim_join(). Call it before groups_tick(): a lone node would otherwise author its own
 * summary over the one that names the rest of its group. */
#define GROUPS_OWN_JOIN_RETRY_MS 2000
RING_EXTERN size_t groups_own_seeds(struct groups *g, const struct members *local, uint64_t now_ms,
                                    struct ring_addr *seeds);

/*
 * What a node does with |g| beside its swim |s| after every swim drain and at
 * groups_deadline_with(): joins its group through its contacts when it is alone in it
 * (groups_own_seeds() then swim_join()), then groups_tick() with swim's member table and ring
 * checksum. ringd and ringsim both call this rather than the steps, so they run the same
 * protocol. Returns groups_tick()'s result.
 */
struct swim;
RING_EXTERN int groups_drive(struct groups *g, struct swim *s, uint64_t now_ms);

/* 1 when this node has met the cluster (groups_ready()) and no summary names another member
 * of its group: it is its group's only member, so its ring of one is its group's ring (a node
 * whose join seeds are all of other groups learns it here, never from its own membership). */
RING_EXTERN int groups_alone_in_group(const struct groups *g);

/* Writes the next datagram into |buf| (|cap| >= the datagram budget) and its destination
 * into |*to|. Returns its length, 0 when nothing is queued, or RING_ENOBUFS. */
RING_EXTERN ssize_t groups_send_next(struct groups *g, struct ring_addr *to, uint8_t *buf,
                                     size_t cap, uint64_t now_ms);

/*
 * Looks |key| up: its group by |map| (built from this node's set by groups_map_refresh()), then
 * the owner in |ring| (the local group's ring; may be NULL when the caller only wants the
 * group) when the group is this node's, else a contact of that group not known to have
 * failed, chosen by the key's hash so one key always goes the same way.
 * Returns 0, RING_EEMPTY (no groups, or an empty local ring), RING_ENOENT (|map| names a
 * group this node has no summary of: it was built from another node's set; groups are only
 * added, so a map built from |g|'s own set, however old, never gives it) or RING_EAGAIN
 * (every contact of the key's group failed here; a newer summary will bring new ones).
 */
RING_EXTERN int groups_route(const struct groups *g, const struct groupmap *map,
                             const struct hashring *ring, const void *key, size_t key_len,
                             struct groups_route *out);

/* Tells |g| that routing through contact |id| of group |name| failed (the proxy's connect
 * or request failed), so lookups avoid it. Returns 0 or RING_ENOENT. */
RING_EXTERN int groups_contact_failed(struct groups *g, const char *name, size_t name_len,
                                      const char *id, size_t id_len);

/* The set of groups known here (names with a summary, this node's own included): its
 * checksum (equal to groupmap_checksum() of the map built from it; when it changes, rebuild
 * the map) and a new map of it. groups_map_new() returns 0 or the errors of groupmap_new(). */
RING_EXTERN uint64_t groups_set_checksum(const struct groups *g);
RING_EXTERN int groups_map_new(const struct groups *g, struct groupmap **out,
                               const struct ring_mem *mem);

/* Keeps |*map| (NULL at first) the map of |g|'s set: when the set changed since it was built,
 * builds a new one and frees the old (a map in use elsewhere must be another copy). Returns
 * 1 when it replaced |*map|, 0 when it was current, or groups_map_new()'s error (|*map| is
 * left as it was, and still routes every key: see groups_route()). */
RING_EXTERN int groups_map_refresh(const struct groups *g, struct groupmap **map,
                                   const struct ring_mem *mem);

/* Groups known (this node's own included), and summary |idx| (0..count-1, in no particular
 * order; indexes change when a group is added) into |*out|. groups_find() returns the index
 * of group |name| or RING_ENOENT. */
RING_EXTERN size_t groups_count(const struct groups *g);
RING_EXTERN void groups_get(const struct groups *g, size_t idx, struct codec_summary *out);
RING_EXTERN int groups_find(const struct groups *g, const char *name, size_t name_len);
/* Bitmask of the contacts of summary |idx| that failed here (bit i: contact i). */
RING_EXTERN uint32_t groups_failed_contacts(const struct groups *g, size_t idx);

/* 1 once this node knows at least as many groups as a peer it exchanged with. */
RING_EXTERN int groups_ready(const struct groups *g);

/* Digest of the whole table of summaries (what a syn carries). */
RING_EXTERN uint64_t groups_digest(const struct groups *g);

RING_EXTERN const struct groups_stats *groups_stats(const struct groups *g);

#endif
