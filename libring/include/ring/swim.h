/*
 * swim: the SWIM membership protocol with the Lifeguard refinements, as a sans-I/O state
 * machine (proto/SWIM.md describes the rules, proto/PROTOCOL.md the messages).
 *
 * The caller owns every socket and the clock. It feeds in datagrams (swim_recv), stream
 * requests and responses (swim_stream_*), and time (swim_tick, every entry point takes
 * now_ms from one monotonic clock), and drains out datagrams (swim_send_next), stream
 * requests (swim_stream_next) and events (swim_next_event). It arms one timer for
 * swim_next_deadline(). Randomness comes from a PRNG seeded by swim_config.seed, so the
 * same inputs give the same outputs: ringd and ringsim run exactly this code.
 *
 * Streams are request/response pairs that ringd carries over TCP (one frame each way,
 * codec_frame_*): full-state sync (push-pull) and the fallback stream ping.
 */
#ifndef RING_SWIM_H
#define RING_SWIM_H

#include <sys/types.h>

#include "ring/addr.h"
#include "ring/base.h"
#include "ring/mem.h"
#include "ring/members.h"

struct swim;

/* Defaults of swim_config.weight_max and admit_per_second. */
#define SWIM_WEIGHT_MAX_DEFAULT       10
#define SWIM_ADMIT_PER_SECOND_DEFAULT 8

/* Scratch space to encode or decode one message (~74 KB). It holds nothing between calls,
 * so swims driven from one thread may share one: ringsim runs 100,000 of them. */
struct swim_scratch;

/* Every 0 field takes the default in brackets. */
struct swim_config {
    /* This node's id (1..MEMBER_ID_BYTES_MAX bytes) and the address peers reach it at. */
    const char *id;
    size_t id_len;
    struct ring_addr addr;
    /* Ring weight [1], group [""] and labels of this node, gossiped with its record. */
    uint16_t weight;
    const char *group;
    size_t group_len;
    const struct member_label *labels;
    size_t label_count;
    /* The lowest incarnation this node may start with [1]. ringd passes its start time in
     * seconds; correctness does not depend on it (proto/SWIM.md, "Incarnations"). */
    uint64_t incarnation_min;
    /* Seeds the PRNG that drives every random choice. */
    uint64_t seed;
    /* Points per unit of weight of the ring whose checksum swim reports
     * [HASHRING_VNODES_DEFAULT]. */
    uint32_t ring_vnodes;

    /* Protocol period: one probe per period [300]. */
    uint32_t probe_interval_ms;
    /* Wait for a direct ack before indirect probes [150]. */
    uint32_t probe_timeout_ms;
    /* Members asked to ping-req a silent target [3]. */
    uint32_t indirect_probes;
    /* Lifeguard suspicion timeout: min = suspicion_mult x log10(max(N, 1)) x probe
     * interval [2]; it starts at max = suspicion_max_mult x min [10] and falls toward min
     * as independent suspicions arrive. With the defaults: 0.6 s to 6 s for N <= 10, 1.2 s
     * to 12 s at N = 100 (proto/SWIM.md "Defaults" has the evidence). */
    uint32_t suspicion_mult;
    uint32_t suspicion_max_mult;
    /* Lifeguard's k: the distinct confirmations that bring the timeout down to min [2,
     * memberlist's suspicion_mult - 2 at its mult 4]; at most 7. Taken as 0 (the timeout is min)
     * when N - 2 < k. */
    uint32_t suspicion_confirmations;
    /* Lifeguard local health: the largest awareness score (probe intervals and timeouts are
     * stretched by 1 + score) [8]. */
    uint32_t awareness_max;
    /* Each update is piggybacked retransmit_mult x ceil(log10(N + 1)) times [4]. */
    uint32_t retransmit_mult;
    /* Gossip fanout: every gossip interval, pending updates go to this many random members
     * [200 ms, 3]; gossip_nodes = UINT32_MAX turns it off (probe piggybacking only). */
    uint32_t gossip_interval_ms;
    uint32_t gossip_nodes;
    /* Push-pull with one random member every sync interval [30000]. */
    uint32_t sync_interval_ms;
    /* A faulty or left member is kept (and gossiped) this long, then becomes a tombstone
     * [30000]; a tombstone is kept this long to reject stale updates, then reaped [60000]. */
    uint32_t dead_ms;
    uint32_t tombstone_ms;
    /* Delayed rebalance: a suspect whose record is restarting (MEMBER_FLAG_RESTARTING) is
     * declared faulty after this long instead of Lifeguard's timeout, so its keys stay put
     * while it restarts [0: no hold, a restarting member is suspected like any other]. Every
     * node of a cluster should use the same value: the first to time out gossips the verdict. */
    uint32_t restart_hold_ms;
    /* Partition healing: a probe of a random faulty member or seed this often [10000]. */
    uint32_t heal_interval_ms;
    /* Datagram send budget, never exceeded [1400]. */
    uint32_t datagram_bytes_max;
    /* Largest member table [MEMBERS_MAX]. */
    uint32_t members_max;
    /* The largest ring weight of any member [SWIM_WEIGHT_MAX_DEFAULT], at most
     * HASHRING_WEIGHT_MAX: a heavier update is clamped to it (weights_clamped), so one member
     * holds at most weight_max / (weight_max + N - 1) of the ring. This node's own weight
     * must not exceed it. Every node of a cluster should use the same value. */
    uint16_t weight_max;
    /* New members admitted per second beyond the burst [SWIM_ADMIT_PER_SECOND_DEFAULT]
     * (proto/SWIM.md, "Limits between peers"). */
    uint32_t admit_per_second;
    /* Scratch shared with other swims of this thread [NULL: the swim allocates its own].
     * It must outlive the swim. */
    struct swim_scratch *scratch;
    /* 1: also queue the protocol's own observations as events (SWIM_EVENT_PROBE_FAILED,
     * _REFUTED, _SYNCED), for a debug log [0]. They share the bounded event queue; with 0
     * nothing of them is queued or computed. */
    uint8_t debug_events;
};

enum swim_event_type {
    SWIM_EVENT_MEMBER_JOINED = 1,
    SWIM_EVENT_MEMBER_CHANGED = 2, /* status, incarnation, address, labels or weight */
    SWIM_EVENT_MEMBER_LEFT = 3,    /* reaped: no longer in the table */
    SWIM_EVENT_RING_CHANGED = 4,   /* the alive+suspect set (the ring), or the address of one
                                    * of its members, changed */
    /* Only with swim_config.debug_events: */
    SWIM_EVENT_PROBE_FAILED = 5, /* our probe of |member| got no ack in its period (a suspicion
                                  * or a confirmation follows); |count|: nacks heard */
    SWIM_EVENT_REFUTED = 6,      /* |member| is what was said of us (its status, incarnation);
                                  * we answered one incarnation higher */
    SWIM_EVENT_SYNCED = 7,       /* a full sync was merged: |member| holds only the peer's id
                                  * and address, |count| the members new to us from it,
                                  * |served| 1 when it was the peer's request */
};

struct swim_event {
    uint8_t type;           /* enum swim_event_type */
    uint8_t old_status;     /* MEMBER_CHANGED: the status before */
    uint8_t served;         /* SYNCED: we served the peer's sync (else ours was answered) */
    uint32_t count;         /* PROBE_FAILED, SYNCED: see the type */
    struct member member;   /* MEMBER_*: the record after (before, for LEFT) */
    uint64_t ring_checksum; /* RING_CHANGED: the new ring checksum */
};

/* Counters for metrics; monotonic from swim_new(). */
struct swim_stats {
    uint64_t probes;          /* probes started */
    uint64_t probe_acks;      /* direct acks in time */
    uint64_t indirect_probes; /* probes that needed ping-req */
    uint64_t stream_probes;   /* fallback stream pings sent */
    uint64_t nacks_received;
    uint64_t suspicions;        /* members this node began to suspect */
    uint64_t faulty;            /* members this node declared faulty */
    uint64_t refutations;       /* times this node refuted a suspicion of itself */
    uint64_t syncs;             /* completed full syncs (either side) */
    uint64_t msgs_in, msgs_out; /* datagrams */
    uint64_t bytes_in, bytes_out;
    uint64_t stream_bytes_in, stream_bytes_out;
    uint64_t decode_errors;  /* datagrams and stream messages that failed to decode */
    uint64_t events_dropped; /* member events lost to a full event queue */
    uint64_t msgs_dropped;   /* datagrams not queued because the send queue was full */
    /* Limits between peers (proto/SWIM.md): updates refused because their incarnation is
     * implausibly far ahead, weights clamped to weight_max, new members not admitted (the
     * admission budget, or the table or ring is full), ping-reqs for a target that is not a
     * live member, syncs refused by their length before decoding. */
    uint64_t incarnations_refused;
    uint64_t weights_clamped;
    uint64_t members_refused;
    uint64_t ping_reqs_refused;
    uint64_t syncs_refused;
    /* Catch-up syncs started: a seed's table asked for again after a new member was refused
     * for budget while the table grows (proto/SWIM.md, "Cold start"). */
    uint64_t catchups;
    /* Pulls from the other seeds while joiners arrive here (proto/SWIM.md, "Cold start"). */
    uint64_t seed_pulls;
};

/* A stream request for the caller to carry: connect to |to|, send one frame with |data|,
 * read one frame back, then call swim_stream_response() or swim_stream_failed() with
 * |token|. |data| is valid until the next swim_stream_next() call. */
struct swim_stream_req {
    uint32_t token;
    struct ring_addr to;
    const uint8_t *data;
    size_t len;
};

/* Allocates a scratch for swim_config.scratch from |mem| (NULL for libc) in |*out|.
 * Returns 0 or RING_ENOMEM. */
RING_EXTERN int swim_scratch_new(struct swim_scratch **out, const struct ring_mem *mem);
/* Frees |sc| (NULL is a no-op) once no swim uses it. */
RING_EXTERN void swim_scratch_del(struct swim_scratch *sc);

/* Fills every zero field of |c| with libring's default, as swim_new() does (ringsim and
 * tools read the effective timings this way). */
RING_EXTERN void swim_config_defaults(struct swim_config *c);

/*
 * Creates a node that knows only itself (alive) in |*out|. |mem| may be NULL for libc.
 * Returns 0, RING_EINVAL (bad id, address, weight, labels or timing), RING_ENOMEM.
 */
RING_EXTERN int swim_new(struct swim **out, const struct swim_config *cfg,
                         const struct ring_mem *mem, uint64_t now_ms);

/* Frees |s|; NULL is fine. */
RING_EXTERN void swim_del(struct swim *s);

/*
 * Starts joining through |seeds| (|n| addresses; this node's own address is skipped): a
 * join sync goes to each seed, retried with backoff until one succeeds, and the seeds are
 * kept for partition healing. Calling it again replaces the seed list (DNS re-resolved).
 * With no other seeds the node is a cluster of one.
 * Returns 0, RING_EINVAL, RING_E2BIG (more than SWIM_SEEDS_MAX), RING_ENOMEM.
 */
#define SWIM_SEEDS_MAX 64
RING_EXTERN int swim_join(struct swim *s, const struct ring_addr *seeds, size_t n, uint64_t now_ms);

/* Leaves gracefully: marks itself left and gossips it; the caller keeps draining and
 * ticking until swim_leave_done() or its own deadline, then stops. Returns 0. */
RING_EXTERN int swim_leave(struct swim *s, uint64_t now_ms);

/* 1 once the leave has been sent to every member's fair share of retransmits, else 0. */
RING_EXTERN int swim_leave_done(const struct swim *s);

/*
 * Starts (|on| 1) or ends (0) draining: this node stays a live member, probing and answering
 * as before, but sets MEMBER_FLAG_DRAINING on its record with a new incarnation and gossips
 * it at once, so every node leaves it out of the ring in one step (members.h). Ending it
 * gives the keys back the same way. A refutation keeps the flag: it is part of our record.
 * Changes are applied at most once per SWIM_DRAIN_CHANGE_MIN_MS: one asked for sooner takes
 * effect at swim_tick() once that has passed (the last one asked for wins), so toggling never
 * runs the incarnation ahead of the clock (the plausibility bound every node checks).
 * Returns 0, or RING_EINVAL after swim_leave(). Idempotent.
 */
#define SWIM_DRAIN_CHANGE_MIN_MS 1000
RING_EXTERN int swim_drain(struct swim *s, int on, uint64_t now_ms);

/* 1 while this node is draining (or has asked to and waits for SWIM_DRAIN_CHANGE_MIN_MS to
 * pass), else 0. */
RING_EXTERN int swim_draining(const struct swim *s);

/* 1 once the draining record has been sent to every member's fair share of retransmits (or
 * no other live member is left to tell), else 0: from then on every reachable node has
 * heard it, as swim_leave_done() says of a leave. */
RING_EXTERN int swim_drain_done(const struct swim *s);

/*
 * Starts (|on| 1) or ends (0) a restart hold (delayed rebalance): this node sets
 * MEMBER_FLAG_RESTARTING on its record with a new incarnation and gossips it at once. It keeps
 * its place on the ring, and every node holds requests for its keys instead of passing them
 * on; when it then stops (without swim_leave(): a leave would move its keys), its peers
 * suspect it for restart_hold_ms before they declare it faulty, so a restarted process under
 * the same id that rejoins in time finds its keys where it left them. Shares swim_drain()'s
 * rate limit (one change of our flags per SWIM_DRAIN_CHANGE_MIN_MS). Returns 0, or RING_EINVAL
 * after swim_leave(). Idempotent.
 */
RING_EXTERN int swim_restarting_set(struct swim *s, int on, uint64_t now_ms);

/* 1 while this node's record is (or is about to be) restarting, else 0. */
RING_EXTERN int swim_restarting(const struct swim *s);

/* 1 once the restarting record has gone out its full count of retransmits (or no other live
 * member is left to tell), else 0, as swim_drain_done(). */
RING_EXTERN int swim_restarting_done(const struct swim *s);

/*
 * Forces member |id| (|id_len| bytes) out, as Serf's force-leave: a suspect or faulty member
 * that will never come back becomes left at the incarnation we hold, stops being probed,
 * leaves the ring, and its record spreads by gossip like a leave (the gossip round is pulled
 * forward) until it is reaped. A member that is in fact alive refutes it with a higher
 * incarnation, as it refutes a suspicion. Returns 0 (also when it is already left),
 * RING_ENOENT (not in the table), RING_EAGAIN (alive: only a member that is not alive may be
 * forced) or RING_EINVAL (our own id: use swim_leave()).
 */
RING_EXTERN int swim_force_leave(struct swim *s, const char *id, size_t id_len, uint64_t now_ms);

/* Feeds one datagram from |from|. Returns 0 or a codec error (counted in decode_errors). */
RING_EXTERN int swim_recv(struct swim *s, const struct ring_addr *from, const uint8_t *buf,
                          size_t len, uint64_t now_ms);

/* Does what is due at |now_ms| (bounded work per call). Returns 0. */
RING_EXTERN int swim_tick(struct swim *s, uint64_t now_ms);

/* The time at which swim_tick() has work next, or UINT64_MAX. */
RING_EXTERN uint64_t swim_next_deadline(const struct swim *s);

/*
 * Writes the next datagram to send into |buf| (|cap| >= the datagram budget) and its
 * destination into |*to|. Returns its length, 0 when nothing is queued, or RING_ENOBUFS.
 */
RING_EXTERN ssize_t swim_send_next(struct swim *s, struct ring_addr *to, uint8_t *buf, size_t cap,
                                   uint64_t now_ms);

/* Takes the next stream request into |*out|. Returns 1, or 0 when none is queued. */
RING_EXTERN int swim_stream_next(struct swim *s, struct swim_stream_req *out);

/* Delivers the response frame to stream request |token|. Returns 0, RING_ENOENT (unknown
 * or expired token) or a codec error. */
RING_EXTERN int swim_stream_response(struct swim *s, uint32_t token, const uint8_t *buf, size_t len,
                                     uint64_t now_ms);

/* Reports that stream request |token| failed (connect, timeout, bad frame). Returns 0 or
 * RING_ENOENT. */
RING_EXTERN int swim_stream_failed(struct swim *s, uint32_t token, uint64_t now_ms);

/*
 * Serves an incoming stream request |req| from |from| and writes the response frame's
 * payload into |resp| (|cap| bytes). Returns its length, or a codec error (counted in
 * decode_errors), RING_ENOBUFS, or RING_ENOENT (a stream ping for another id: the address was
 * reused; close the stream without a response).
 */
RING_EXTERN ssize_t swim_stream_serve(struct swim *s, const struct ring_addr *from,
                                      const uint8_t *req, size_t len, uint8_t *resp, size_t cap,
                                      uint64_t now_ms);

/*
 * The longest stream message |s| accepts for stream request |token| (its response), or with
 * token 0 for a request it serves: a reply to its own join sync may be a whole cluster
 * (CODEC_FRAME_BYTES_MAX); any other sync is bounded in proportion to this node's table. A
 * caller should refuse a frame header above it before reading the frame; swim itself
 * refuses a longer message before decoding it (syncs_refused, RING_EMSGSIZE).
 */
RING_EXTERN size_t swim_stream_bytes_max(const struct swim *s, uint32_t token);

/* Takes the next event into |*ev|. Returns 1, or 0 when none is queued. */
#define SWIM_EVENTS_MAX 4096
RING_EXTERN int swim_next_event(struct swim *s, struct swim_event *ev);

/* The member table (this node included). Valid until the next call that feeds |s|. */
RING_EXTERN const struct members *swim_members(const struct swim *s);

/* Membership checksum and ring checksum (see members.h). */
RING_EXTERN uint64_t swim_checksum(const struct swim *s);
RING_EXTERN uint64_t swim_ring_checksum(const struct swim *s);

/* This node's current incarnation. */
RING_EXTERN uint64_t swim_incarnation(const struct swim *s);

/* Lifeguard's local health score, 0 (healthy) .. awareness_max. */
RING_EXTERN uint32_t swim_health(const struct swim *s);

RING_EXTERN const struct swim_stats *swim_stats(const struct swim *s);

#endif
