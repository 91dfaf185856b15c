/*
 * lease: exclusive ownership of logical shards (opt-in), as a sans-I/O state machine beside
 * swim. proto/LEASES.md has the rules and the safety argument, proto/PROTOCOL.md section 14
 * the messages.
 *
 * Without leases, shards_owned() tells each node which shards its ring places on it, and
 * while a change spreads two nodes may both believe they own a shard; across a partition
 * both halves serve every key. With leases a node serves shard s only while it holds s's
 * lease, and two nodes never hold one shard at the same instant, under the assumptions
 * LEASES.md states (clock rates drift by at most drift_ppm; the app checks lease_check()
 * before it acts and passes the epoch along as a fencing token).
 *
 * How. Every member is also an acceptor for every shard. A node that its ring makes the
 * owner of s claims it: it asks every member it knows to promise s to it at epoch e = the
 * highest epoch it has heard of + 1. An acceptor promises when no other holder's lease is
 * live in its own view and e is above every epoch it has promised; the promise lasts
 * lease_ms stretched by the drift bound, counted on the acceptor's clock from when the
 * request arrived. A claim that gathers promises from a majority of the members the
 * claimant knows (alive, suspect and faulty ones until they are reaped; exactly half
 * counts when the half holds the lowest member id) is held until the time the request
 * was sent plus lease_ms shortened by the drift bound, on the holder's clock. Holders
 * renew the same way every renew_ms, so a node that cannot hear from a majority stops
 * serving at its lease's end (and claims nothing: it probes until a majority answers). Two
 * majorities share a member, and that member promised only one of them while the other's
 * lease was live: hence exclusivity, and unique epochs. When the ring's owner of a shard
 * cannot be reached but is not faulty yet in anyone's view, its successors in ring order
 * claim the shard after a lease without hearing a request for it.
 *
 * Planned moves hand off: when the new owner's claim reaches the holder and the holder's
 * ring agrees, the holder's shard becomes RELEASING; the app finishes in-flight work and
 * calls lease_release(); the release goes to the new owner, whose next claim carries it so
 * acceptors drop the old promise at once. Unplanned moves (the holder died or is cut off)
 * wait until the acceptors' promises to it run out.
 *
 * The caller drives it like swim and usually right beside it: lease_update() with swim's
 * member table and the ring after every membership change (lease_update_owners() with
 * another placement), lease_leave() before swim_leave(), lease_recv() with every lease
 * datagram (codec_is_lease_type(codec_peek_type(...))), lease_tick() at
 * lease_next_deadline(); it drains lease_send_next() and lease_next_event(). Every entry
 * point takes now_ms from the node's monotonic clock; randomness (round jitter) comes from
 * a PRNG seeded by lease_config.seed.
 */
#ifndef RING_LEASE_H
#define RING_LEASE_H

#include <sys/types.h>

#include "ring/addr.h"
#include "ring/base.h"
#include "ring/hashring.h"
#include "ring/mem.h"
#include "ring/members.h"

struct lease;

/* Every 0 field takes the default in brackets. */
struct lease_config {
    /* This node's id, as in swim_config (a member id: 1..MEMBER_ID_BYTES_MAX printable
     * ASCII bytes, members.h). */
    const char *id;
    size_t id_len;
    /* Shards, 1..SHARDS_MAX; every node must use the same count (required). */
    uint32_t shards;
    /* The lease: a holder's lease ends lease_ms (less the drift bound) after it sent the
     * request that a majority granted [3000]. Every node should use the same value. */
    uint32_t lease_ms;
    /* Holders renew every renew_ms [lease_ms / 2, also the most allowed]: a round that fails
     * (after its resends) leaves one more before the lease ends. Every round costs two
     * datagrams per member (a request and its ack): this is the knob of the traffic. */
    uint32_t renew_ms;
    /* A node that wants a shard it does not hold claims it again after claim_retry_ms
     * [250], doubling after each fruitless round up to renew_ms. */
    uint32_t claim_retry_ms;
    /* Members that have not answered a request are asked again after resend_ms [200] (twice
     * at most per round). */
    uint32_t resend_ms;
    /* The bound on every clock's rate error against true time, in parts per million
     * [10000: 1%]: holders shorten their leases and acceptors lengthen their promises by
     * it. Below 100000. */
    uint32_t drift_ppm;
    /* A RELEASING shard whose app has not called lease_release() after this long is no
     * longer renewed: its lease lapses [10000]. */
    uint32_t release_timeout_ms;
    /* Datagram budget [1400], as swim's. */
    uint32_t datagram_bytes_max;
    /* Seeds the PRNG (round jitter). */
    uint64_t seed;
};

/* A shard's state at one node. HELD and RELEASING are the states in which the node may act
 * (while lease_check() says so); the rest are not. */
enum lease_state {
    LEASE_NONE = 0,      /* not this node's */
    LEASE_ACQUIRING = 1, /* this node's (or handed to it); waiting for a majority's grant */
    LEASE_HELD = 2,      /* held: serve */
    LEASE_RELEASING = 3, /* held, and moving away: finish in-flight work, then release */
    LEASE_LOST = 4,      /* the lease ran out unrenewed (no majority, or released too late);
                          * claimed again while the ring still says it is this node's */
};

/* A transition of one shard. state == prev is a renewal (expires_ms moved) or, when the epoch
 * changed, a bump: the holder kept the shard and moved to a higher epoch (a claim that failed
 * elsewhere had left a higher one with some acceptors); fence with the new epoch from now. */
struct lease_event {
    uint32_t shard;
    uint8_t state; /* enum lease_state, after */
    uint8_t prev;  /* before */
    /* The epoch held (HELD, RELEASING), or the last one held (NONE, LOST after a hold). */
    uint64_t epoch;
    /* HELD, RELEASING: when the lease ends on this node's clock (it may be renewed). */
    uint64_t expires_ms;
};

struct lease_shard_info {
    uint8_t state; /* enum lease_state; HELD or RELEASING past their end read as LOST */
    uint64_t epoch;
    uint64_t expires_ms;
};

/* Counters for metrics; monotonic from lease_new(). */
struct lease_stats {
    uint64_t rounds;   /* request rounds started */
    uint64_t acquired; /* acquisitions (-> HELD with a new epoch) */
    uint64_t handoffs; /* acquisitions that carried the previous holder's release */
    uint64_t releases; /* lease_release() calls */
    uint64_t lost;     /* leases that ran out unrenewed */
    uint64_t lapsed;   /* of which RELEASING ones past release_timeout_ms */
    uint64_t renewals; /* held leases extended */
    uint64_t bumps;    /* held leases moved to a higher epoch */
    uint64_t granted;  /* as an acceptor: entries promised */
    uint64_t refused;  /* as an acceptor: entries refused */
    /* The new owner's side of a hand-off: release received -> HELD; and any acquisition:
     * ACQUIRING -> HELD. Sums and maxima in ms. */
    uint64_t handoff_ms_sum, handoff_ms_max;
    uint64_t acquire_ms_sum, acquire_ms_max;
    uint64_t msgs_in, msgs_out;
    uint64_t bytes_in, bytes_out;
    uint64_t decode_errors;
    uint64_t stale_acks;     /* acks of a round already over */
    uint64_t msgs_dropped;   /* datagrams not queued: queue full or no memory */
    uint64_t events_dropped; /* events lost to a full queue */
};

/* Fills every zero field of |c| with its default, as lease_new() does. */
RING_EXTERN void lease_config_defaults(struct lease_config *c);

/*
 * Creates the leases of a node that holds nothing in |*out|. Its acceptor votes for nobody
 * and it claims nothing until lease_ms (plus the drift bound) after |now_ms|: a restarted
 * node has forgotten its promises, and by then every lease it promised has run out or been
 * renewed through it. |mem| may be NULL for libc.
 * Returns 0, RING_EINVAL (bad id, shard count or timing), RING_ENOMEM.
 */
RING_EXTERN int lease_new(struct lease **out, const struct lease_config *cfg,
                          const struct ring_mem *mem, uint64_t now_ms);

/* Frees |l|; NULL is fine. */
RING_EXTERN void lease_del(struct lease *l);

/*
 * Tells |l| the membership and the placement: |t| is swim's member table (this node
 * included): its alive, suspect and faulty records vote; |ring| the ring of its alive and
 * suspect members (NULL: no placement, nothing is wanted). Call it after every swim drain
 * that reported member events; it does nothing when neither changed. Both are read during
 * the call only. Returns 0 or RING_ENOMEM (the old view stays; call again).
 */
RING_EXTERN int lease_update(struct lease *l, const struct members *t, const struct hashring *ring,
                             uint64_t now_ms);

/* Owners of a shard in placement order, for lease_update_owners(). */
#define LEASE_OWNERS_MAX 8
struct lease_owner {
    const char *id;
    size_t id_len;
};
/* Writes up to |max| owners of |shard| in order (the owner, then who would own it if the
 * owner were gone, and so on) into |out| and returns how many (0: none). The ids must stay
 * valid until the lease_update_owners() call returns. */
typedef size_t (*lease_owners_cb)(uint32_t shard, struct lease_owner *out, size_t max, void *arg);

/*
 * lease_update() with the placement given by |cb| (NULL: nothing is wanted) instead of a
 * ring, for callers that place shards otherwise (ringsim derives every view's owners from
 * one ring of all its nodes). |placement| names the placement: |cb| is asked again only
 * when it changes (a ring checksum does). Returns 0 or RING_ENOMEM.
 */
RING_EXTERN int lease_update_owners(struct lease *l, const struct members *t, uint64_t placement,
                                    lease_owners_cb cb, void *arg, uint64_t now_ms);

/* Feeds one lease datagram from |from|. Returns 0 or a codec error (counted). */
RING_EXTERN int lease_recv(struct lease *l, const struct ring_addr *from, const uint8_t *buf,
                           size_t len, uint64_t now_ms);

/* Does what is due at |now_ms|: ends leases, resends, starts rounds. Returns 0, or
 * RING_ENOMEM (retried at the next tick). */
RING_EXTERN int lease_tick(struct lease *l, uint64_t now_ms);

/* The time at which lease_tick() has work next, or UINT64_MAX. */
RING_EXTERN uint64_t lease_next_deadline(const struct lease *l);

/* Writes the next datagram into |buf| (|cap| >= the datagram budget) and its destination
 * into |*to|. Returns its length, 0 when nothing is queued, or RING_ENOBUFS. */
RING_EXTERN ssize_t lease_send_next(struct lease *l, struct ring_addr *to, uint8_t *buf, size_t cap,
                                    uint64_t now_ms);

/* Takes the next event into |*ev|. Returns 1, or 0 when none is queued. */
RING_EXTERN int lease_next_event(struct lease *l, struct lease_event *ev);

/*
 * The app is done with |shard| (normally after a RELEASING event): the node stops acting on
 * it at once and hands it to the next owner. Returns 0, RING_EINVAL (no such shard) or
 * RING_ENOENT (not HELD or RELEASING here).
 */
RING_EXTERN int lease_release(struct lease *l, uint32_t shard, uint64_t now_ms);

/*
 * Leaves: from now on the node claims nothing and votes for nobody, and every shard it
 * holds becomes RELEASING towards the next owner. Call it just before swim_leave() (a drain
 * is a leave); keep feeding and draining until lease_drained() or a deadline.
 * Returns 0.
 */
RING_EXTERN int lease_leave(struct lease *l, uint64_t now_ms);

/* 1 once a leaving node holds nothing any more, else 0. */
RING_EXTERN int lease_drained(const struct lease *l);

/*
 * 1 when this node may act on |shard| at |now_ms| (HELD or RELEASING, and its lease has not
 * ended on this clock), with the epoch, the fencing token to pass along, in |*epoch| (may
 * be NULL); else 0. The app asks before every action: a process that was paused past its
 * lease's end gets 0 here even though it has not run a tick since.
 */
RING_EXTERN int lease_check(const struct lease *l, uint32_t shard, uint64_t now_ms,
                            uint64_t *epoch);

/* |shard|'s state at |now_ms| into |*out|. Returns 0 or RING_EINVAL (no such shard). */
RING_EXTERN int lease_get(const struct lease *l, uint32_t shard, uint64_t now_ms,
                          struct lease_shard_info *out);

/* Shards HELD or RELEASING (whether or not ended yet on the clock). */
RING_EXTERN uint32_t lease_held_count(const struct lease *l);

RING_EXTERN const struct lease_stats *lease_stats(const struct lease *l);

/* The name of a state: "none", "acquiring", "held", "releasing", "lost" (or "unknown"). */
RING_EXTERN const char *lease_state_name(int state);

#endif
