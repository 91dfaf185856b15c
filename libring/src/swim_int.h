/*
 * swim internals shared by the swim_*.c files (never part of the public API).
 *
 * The split by concern:
 *   swim.c          the object, configuration, the PRNG, datagram in/out, tick dispatch, events
 *   swim_probe.c    the probe round: order, ping, ping-req, relays, acks and nacks, local health
 *   swim_gossip.c   the dissemination queue: piggybacking within the budget, gossip fanout
 *   swim_sync.c     stream requests: join, push-pull sync, partition healing, stream ping
 *   swim_suspect.c  applying updates to the table: refutation, suspicion timers, tombstones
 */
#ifndef RING_SWIM_INT_H
#define RING_SWIM_INT_H

#include "ring/codec.h"
#include "ring/swim.h"

/* Datagrams queued for the caller to send. A tick queues at most 1 ping, indirect_probes
 * ping-reqs and gossip_nodes gossips; replies to received datagrams take the rest. When the
 * caller does not drain, the newest datagram is dropped (and counted): SWIM tolerates loss.
 * The queue starts at 8 entries and doubles up to SWIM_OUT_MAX: a caller that drains after
 * every call never needs more than a few (ringsim's 100,000 nodes pay for what they use,
 * not 46 KB each). */
#define SWIM_OUT_MAX 256
/* Ping-reqs this node serves at once (each waits one probe timeout for its target). */
#define SWIM_RELAYS_MAX 64
/* Stream requests queued or in flight (syncs, join syncs, stream pings). */
#define SWIM_STREAMS_MAX 32
/* A helper nacks when its ping got no ack within this share of the probe timeout (the
 * Lifeguard paper's 80%): the origin still has the rest of its period to count the nack. */
#define SWIM_NACK_PERCENT 80
/* Upper bound of indirect_probes: memberlist's default is 3; more buys little. */
#define SWIM_INDIRECT_MAX 16
/* Upper bound of gossip_nodes (when not turned off). */
#define SWIM_GOSSIP_NODES_MAX 64
/* Distinct suspicion sources remembered per suspect; suspicion_confirmations (k)
 * is below it. */
#define SWIM_CONFIRMATIONS_MAX 8
/* The smallest datagram budget: a header and a typical update must fit. An update larger
 * than the budget (a member with many long labels) spreads by sync only. */
#define SWIM_DATAGRAM_BYTES_MIN 512
/* A stream request unanswered after this many probe intervals is forgotten (ringd should
 * time it out sooner and call swim_stream_failed()). */
#define SWIM_STREAM_EXPIRE_PERIODS 30
/* Checksum-mismatch syncs are at most one per this many probe intervals. */
#define SWIM_MISMATCH_SYNC_PERIODS 5
/* Join retries back off from one probe interval, doubling up to this. */
#define SWIM_JOIN_BACKOFF_MAX_MS 30000
/* The first sync buffer; it doubles up to CODEC_FRAME_BYTES_MAX as the table grows. */
#define SWIM_STREAM_BUF_BYTES_MIN 4096

/* Tables up to this size are sampled by a full scan (exact, and what the unit tests were
 * tuned on); larger ones by random probing, SWIM_SAMPLE_TRIES per wanted member, which
 * keeps a gossip round O(1) instead of O(N) at 10,000 members. */
#define SWIM_SAMPLE_SCAN_MAX 512
#define SWIM_SAMPLE_TRIES    16
/* A datagram's packing looks at most this many queued updates (the budget holds ~25). */
#define SWIM_PACK_SCAN_MAX (CODEC_UPDATES_MAX + 16)
/* The event queue is freed when drained if it grew past this many entries (a sync of a
 * large table queues thousands of 1 KB events once; they should not stay allocated). */
#define SWIM_EVENTS_KEEP 64

/* Limits between peers (proto/SWIM.md, "Limits between peers").
 *
 * Incarnations: an update is accepted up to max(known + SWIM_INCARNATION_STEP_MAX, clock +
 * SWIM_INCARNATION_AHEAD_MAX), one more when it says alive (a refutation), where known is the
 * incarnation held for the member (0 if none) and clock is incarnation_min plus the seconds
 * since swim_new(): ringd starts at its wall-clock seconds, so a restart is always within a
 * day of clock skew. A day of seconds also covers refutations beyond the clock; the step
 * lets a member above the clock (after a refused attack) still refute. With incarnation_min
 * below SWIM_INCARNATION_MIN_MAX a forged update cannot bring any incarnation near 2^64:
 * each one moves it at most STEP + 1. */
#define SWIM_INCARNATION_AHEAD_MAX 86400
#define SWIM_INCARNATION_STEP_MAX  64
#define SWIM_INCARNATION_MIN_MAX   (UINT64_C(1) << 62)
/* Admission of new members (swim_limits.c): at most SWIM_ADMIT_PER_DATAGRAM per datagram,
 * and from a budget. What a stranger sends (an address that is not a live member's, or a
 * sync request whose peer IP is not one) draws on SWIM_ADMIT_BURST_MIN, refilled at
 * admit_per_second; what a live member sends from its own address, or answers to a sync we
 * started with it or a seed, draws on max(SWIM_ADMIT_BURST_MIN, N), refilled at N a second
 * (the table at most doubles a second). The reply to our own join or catch-up sync is
 * exempt. A joiner's own record in its join sync request, at the IP the request came from
 * and no live member's, draws on max(SWIM_ADMIT_JOINERS_MIN, N), refilled at as many a
 * second: a stranger adds itself, one member per address, and a cold start of ten thousand
 * within a second (3,333 at each of three seeds) is admitted as it arrives. With 1,024 a seed
 * of that cold start refused a third of its joiners, held them all only 2.5 s in, and every
 * node synced 6 times rather than 4 (ringsim). */
#define SWIM_ADMIT_PER_DATAGRAM 4
#define SWIM_ADMIT_BURST_MIN    16
#define SWIM_ADMIT_JOINERS_MIN  4096
/* A sync other than a join reply may be at most SWIM_SYNC_BYTES_MIN plus
 * SWIM_SYNC_RECORD_BYTES_MAX per record of twice our table: a peer's table is about ours,
 * plus what it knows and we do not yet. The record bound is the largest encoded member (a
 * test checks it). */
#define SWIM_SYNC_BYTES_MIN        (64u << 10)
#define SWIM_SYNC_RECORD_BYTES_MAX 1100

/* Marks an invalidated probe-order slot (its member was reaped). */
#define SWIM_NO_NODE UINT32_MAX

/* An admission budget in thousandths of a member, refilled as time passes. */
struct swim_budget {
    uint64_t millis;
    uint64_t refill_ms;
};

/* What this node knows locally about the member at the same index of the table. 16 bytes:
 * ringsim holds 10,000 nodes x 10,000 members of these. */
struct swim_node {
    /* When the status last changed: the start of a suspicion or of the dead period. */
    uint64_t changed_ms;
    /* SUSPECT: 1 + index into swim.susp; otherwise 0. */
    uint32_t susp;
    /* Queued for piggybacking: 1 + position in the swim.bcasts heap; otherwise 0. */
    uint32_t bcast;
};

/* One running suspicion (Lifeguard): its timeout falls from max toward min as distinct
 * sources confirm it. */
struct swim_suspicion {
    uint32_t node; /* member index */
    uint32_t k;    /* confirmations expected */
    uint32_t confirmations;
    uint32_t source_count;
    /* This node has probed the suspect since the suspicion started (or started it with a
     * failed probe of its own): swim_probe.c probes a suspect it only heard about next. */
    uint8_t probed;
    uint64_t start_ms, min_ms, max_ms;
    uint64_t sources[SWIM_CONFIRMATIONS_MAX]; /* hashes of the suspecting ids */
    /* The source the queued update of this suspect carries (the latest accepted one). */
    uint8_t bcast_source_len;
    char bcast_source[MEMBER_ID_BYTES_MAX + 1];
};

/* The probe of the current protocol period. */
struct swim_probe {
    uint8_t active;
    uint8_t indirect; /* ping-reqs and the stream ping went out */
    uint32_t seq;
    uint32_t nacks_expected;
    uint32_t nacks;
    uint64_t ack_deadline_ms; /* direct ack wait ends: go indirect */
    uint64_t end_ms;          /* the period ends: suspect if still silent */
    struct ring_addr addr;
    uint64_t incarnation; /* the target's when the probe started */
    uint8_t id_len;
    char id[MEMBER_ID_BYTES_MAX + 1];
};

/* A ping-req this node serves: it pinged |target| with |seq| for |origin|. */
struct swim_relay {
    uint8_t used;
    uint32_t seq;
    uint32_t origin_seq;
    uint64_t deadline_ms;
    struct ring_addr origin;
};

/* A datagram to send. Its updates are packed when the caller drains it, so it carries the
 * newest state and the least-sent updates at that moment. */
struct swim_out {
    uint8_t type;          /* CODEC_PING, CODEC_ACK, CODEC_NACK, CODEC_PING_REQ */
    uint8_t carry_suspect; /* ping to a suspect: carry the suspicion first */
    uint32_t seq;
    struct ring_addr to;
    struct ring_addr target_addr;
    uint8_t target_len;
    char target[MEMBER_ID_BYTES_MAX + 1];
};

/* A member update waiting to be piggybacked, an entry of the swim.bcasts min-heap ordered by
 * (transmits, newest first). It names the member by table index (swim_node.bcast points
 * back), and the record is read from the table when it is sent, so a newer change to the
 * same member replaces an older one for free. 16 bytes, against 272 when it held the id. */
struct swim_bcast {
    uint64_t order; /* enqueue sequence: larger is newer */
    uint32_t node;  /* member index */
    uint32_t transmits;
};

enum swim_stream_kind {
    SWIM_STREAM_SYNC = 1,
    SWIM_STREAM_JOIN = 2,
    SWIM_STREAM_PING = 3,
    SWIM_STREAM_CATCHUP = 4, /* a join sync again, once joined: the table grew past our budget */
    SWIM_STREAM_PULL = 5,    /* a checksum mismatch: our record and our have, for what we lack */
};

struct swim_stream {
    uint8_t used;
    uint8_t kind; /* enum swim_stream_kind */
    uint8_t sent; /* handed to the caller by swim_stream_next() */
    uint32_t token;
    uint32_t seq; /* PING: the probe's seq */
    uint64_t expire_ms;
    struct ring_addr to;
    uint8_t target_len;
    char target[MEMBER_ID_BYTES_MAX + 1];
};

struct swim {
    struct ring_mem mem;
    struct swim_config cfg; /* defaults filled in; its pointers are not kept */
    struct member self;     /* this node's record, also in |table| */
    struct members *table;
    uint64_t rng;
    uint64_t now_ms;

    /* Per-member local state, parallel to the table's indexes. */
    struct swim_node *nodes;
    size_t nodes_cap;
    struct swim_suspicion *susp;
    size_t susp_count, susp_cap;
    /* Indexes of the faulty and left members (self included when it left): the only ones
     * with dead or tombstone timers, so the timer sweep and healing never walk the table. */
    uint32_t *dead;
    size_t dead_count, dead_cap;
    /* Earliest suspicion, dead or tombstone deadline (may be early, never late). */
    uint64_t timers_next_ms;
    /* Sum of member_digest() of faulty and left records (they leave the checksum). */
    uint64_t dead_digest_sum;

    /* Probing. */
    uint32_t *order;
    size_t order_len, order_pos, order_cap;
    struct swim_probe probe;
    uint64_t probe_next_ms;
    uint32_t seq_next;
    uint32_t awareness;
    struct swim_relay relays[SWIM_RELAYS_MAX];
    /* Relays in use: most ticks have none, and skip the walk of the array. */
    uint32_t relay_count;

    /* Dissemination. */
    struct swim_bcast *bcasts;
    size_t bcast_count, bcast_cap;
    uint64_t bcast_order;
    uint64_t gossip_next_ms;

    /* Datagrams for the caller, a ring buffer of out_cap entries. */
    struct swim_out *out;
    size_t out_head, out_count, out_cap;
    /* Scratch for one encode or decode: the swim's own or cfg.scratch's (msg_owned 0). */
    struct codec_msg *msg;
    uint8_t msg_owned;

    /* Streams. */
    struct swim_stream streams[SWIM_STREAMS_MAX];
    uint32_t stream_count; /* streams in use (the walks of |streams| are skipped at 0) */
    uint32_t token_next;
    uint8_t *stream_buf;
    size_t stream_buf_cap;

    /* Join, sync, healing, leave. */
    struct ring_addr seeds[SWIM_SEEDS_MAX];
    size_t seed_count;
    /* 1 + the member index where each seed's address was last found live (a hint). */
    uint32_t seed_hint[SWIM_SEEDS_MAX];
    uint8_t joined;
    uint8_t leaving;
    uint8_t leave_spread;
    /* Our record with its current flags (swim_drain(), swim_restarting_set()) has been sent
     * its full count of retransmits. */
    uint8_t flags_spread;
    /* Changes to our own flags are applied (each a new incarnation) at most once per
     * SWIM_DRAIN_CHANGE_MIN_MS: one asked for sooner waits in |flags_pending| (the flags
     * wanted) until |flags_changed_ms| + that, so toggling cannot run our incarnation ahead
     * of the clock every node checks it against. */
    uint8_t flags_pending;
    uint8_t flags_want;
    uint64_t flags_changed_ms;
    uint32_t join_inflight;
    uint64_t join_next_ms;
    uint64_t join_backoff_ms;
    /* The seed the next join attempt goes to (one at a time, from a random one on), how many
     * seeds this round of attempts has tried, and whether a join reply held our own record
     * (the seed admitted us). */
    uint32_t join_seed_next;
    uint32_t join_round_tries;
    uint8_t join_admitted;
    /* Catch-up (swim_sync.c): a new member was refused for budget while the table grows, so
     * a seed's whole table is asked for again, not before catchup_next_ms. */
    uint8_t catchup_wanted;
    uint8_t catchup_inflight;
    uint64_t catchup_next_ms;
    uint64_t catchup_backoff_ms;
    /* Until then the cluster is taken to be forming: a member admitted from gossip also asks
     * for a catch-up (a join, or a catch-up that brought members, moves it on). */
    uint64_t forming_until_ms;
    /* While joiners arrive here (and 10 probe intervals after the last), this node pulls
     * from the other seeds in turn, one per probe interval: each seed of a cold start then
     * holds every joiner, not a third of them, when the catch-ups come (swim_sync.c). */
    uint64_t seeds_pull_until_ms;
    uint64_t seeds_pull_next_ms;
    uint32_t seeds_pull_turn;
    uint64_t sync_next_ms;
    /* The next sync is due at sync_base + the (size-scaled) interval - sync_phase. */
    uint64_t sync_base_ms;
    uint64_t sync_phase_ms;
    uint64_t heal_next_ms;
    uint64_t heal_base_ms; /* when the pending heal was scheduled, and its random head start */
    uint64_t heal_phase_ms;
    uint64_t mismatch_sync_next_ms;
    uint64_t pull_back_next_ms; /* swim_sync.c: pull_back() at most once per probe interval */

    /* Events, a ring buffer that grows up to SWIM_EVENTS_MAX. */
    struct swim_event *events;
    size_t ev_head, ev_count, ev_cap;
    uint64_t routes_reported; /* members_routes_checksum() at the last RING_CHANGED */

    /* Limits between peers: when swim_new() ran (the incarnation clock starts there), the
     * admission budgets of new members for strangers and for members, what the updates
     * being merged came in (enum swim_admit) and how many new members that message brought
     * in so far. */
    uint64_t start_ms;
    struct swim_budget admit_strangers;
    struct swim_budget admit_members;
    struct swim_budget admit_joiners;
    uint8_t admit_mode;
    uint32_t admit_in_msg;
    /* While a join sync request is merged: its sender's id and the connection's address
     * (the joiner's own record draws on admit_joiners, swim_limits.c). */
    const char *joiner_id;
    size_t joiner_id_len;
    const struct ring_addr *joiner_from;

    struct swim_stats stats;
};

/* What the updates being merged came in: the admission limits differ (swim_limits.c). */
enum swim_admit {
    SWIM_ADMIT_STRANGER = 0,       /* a sync request from an IP that is not a member's */
    SWIM_ADMIT_STRANGER_DGRAM = 1, /* a datagram from an address that is not a member's */
    SWIM_ADMIT_MEMBER = 2,         /* a sync we started with a member or a seed, or a sync
                                    * request from a member's IP */
    SWIM_ADMIT_MEMBER_DGRAM = 3,   /* a datagram from a live member at its own address */
    SWIM_ADMIT_JOIN = 4,           /* the reply to our own join sync: no budget */
};
/* swim.c */
uint64_t swim__rand(struct swim *s);
/* A uniform number in [0, n); n > 0. */
uint32_t swim__rand_below(struct swim *s, uint32_t n);
void *swim__grow(struct swim *s, void *ptr, size_t *cap, size_t want, size_t size, size_t max);
/* swim__grow() by a quarter at a time, not twice, for the arrays of one entry per member
 * (ringsim holds one per node: doubling left 10,000-member arrays 16,384 long). Not for a
 * ring buffer, whose unwrapping needs the new part to be as large as the old. */
void *swim__grow_tight(struct swim *s, void *ptr, size_t *cap, size_t want, size_t size,
                       size_t max);
int swim__is_self(const struct swim *s, const char *id, size_t id_len);
uint64_t swim__id_hash(const char *id, size_t id_len);
/* The protocol period and probe timeout stretched by the local health score. */
uint64_t swim__scaled(const struct swim *s, uint64_t ms);
struct swim_out *swim__out_push(struct swim *s, uint8_t type, const struct ring_addr *to);
/* Queues an event; returns it (to fill in more), or NULL when the queue is full (counted). */
struct swim_event *swim__event(struct swim *s, uint8_t type, uint8_t old_status,
                               const struct member *m);
/* Adds |delta| to the local health score, within 0..awareness_max. */
void swim__health(struct swim *s, int delta);

/* The highest incarnation |s| accepts in an update with |status| about a member it holds at
 * incarnation |known| (0: unknown), or about itself at |known| = its own. */
uint64_t swim__incarnation_ceiling(const struct swim *s, uint64_t known, int status);

/* swim_limits.c */
/* 1 if |m|'s incarnation is within the ceiling above |known|; else 0, counted. */
int swim__incarnation_plausible(struct swim *s, uint64_t known, const struct member *m);
/* |m|, or |copy| holding |m| with its weight clamped to weight_max (counted). */
const struct member *swim__weight_clamp(struct swim *s, const struct member *m,
                                        struct member *copy);
/* 1 if new member |m| may be inserted now (and takes it from the budget); else 0, counted. */
int swim__admit(struct swim *s, const struct member *m);
/* The admission mode of a message from |from| whose sender calls itself |id|: a member's
 * when a live member has that id and address (|ip_only|: the same IP, for a stream). */
uint8_t swim__admit_mode_of(const struct swim *s, const struct ring_addr *from, const char *id,
                            size_t id_len, int ip_only);
/* Starts both budgets full at |now_ms|. */
void swim__admit_init(struct swim *s, uint64_t now_ms);

/* swim_probe.c */
void swim__probe_tick(struct swim *s);
uint64_t swim__probe_deadline(const struct swim *s);
void swim__order_insert(struct swim *s, uint32_t idx);
void swim__order_moved(struct swim *s, uint32_t removed, uint32_t moved_from);
void swim__on_ping(struct swim *s, const struct ring_addr *from, const struct codec_msg *msg);
void swim__on_ping_req(struct swim *s, const struct ring_addr *from, const struct codec_msg *msg);
void swim__on_ack(struct swim *s, const struct codec_msg *msg);
void swim__on_nack(struct swim *s, const struct codec_msg *msg);
/* The probe with |seq| got an ack (direct, relayed or over a stream). */
void swim__probe_acked(struct swim *s, uint32_t seq, int direct);

/* swim_gossip.c */
/* Queues member |idx| for piggybacking (again, from zero transmits); a suspect's update
 * carries |source|. O(log queue). */
int swim__bcast(struct swim *s, size_t idx, const char *source, size_t source_len);
/* Member |removed| was reaped and the table moved |moved_from| into its index. */
void swim__bcast_moved(struct swim *s, uint32_t removed, uint32_t moved_from);
/* Drops member |idx|'s queued update, if any (it is being reaped). */
void swim__bcast_forget(struct swim *s, size_t idx);
/* Fills |msg|'s updates with what fits in |budget| bytes, least-sent first. */
void swim__piggyback(struct swim *s, struct codec_msg *msg, size_t budget,
                     const struct codec_update *first);
uint32_t swim__retransmit_limit(const struct swim *s);
void swim__gossip_tick(struct swim *s);
uint64_t swim__gossip_deadline(const struct swim *s);
void swim__bcast_drop_all(struct swim *s);

/* swim_sync.c */
/* Queues a sync of |kind| (enum swim_stream_kind, not PING) to |to|. */
int swim__sync_start(struct swim *s, const struct ring_addr *to, uint8_t kind);
int swim__stream_ping_start(struct swim *s, const struct ring_addr *to, const char *target,
                            size_t target_len, uint32_t seq);
void swim__sync_tick(struct swim *s);
uint64_t swim__sync_deadline(const struct swim *s);
/* A joiner's own record was admitted from its join sync: pull from the other seeds for a
 * while (proto/SWIM.md, "Cold start"). */
void swim__joiner_admitted(struct swim *s);
/* A ping or ack from a peer whose checksum differs: maybe sync with it. */
void swim__checksum_seen(struct swim *s, const struct ring_addr *from, const struct codec_msg *msg);

/* swim_suspect.c */
/* Merges one update heard from a peer (gossip or sync) by the precedence rules. */
int swim__apply_update(struct swim *s, const struct member *m, const char *source,
                       size_t source_len);
/* Stores |m| as decided locally, with its events, timers and gossip. */
int swim__commit(struct swim *s, const struct member *m, const char *source, size_t source_len);
/* Our probe of member |idx| failed: suspect it (or confirm the suspicion). */
void swim__suspect(struct swim *s, int idx);
void swim__timers_tick(struct swim *s);
/* Extends the node array to the table's size. */
int swim__nodes_fit(struct swim *s);
uint64_t swim__checksum_now(const struct swim *s);
/* Whether member |idx| is a live peer (alive or suspect, not us). */
int swim__is_live_peer(const struct swim *s, size_t idx);
/* A uniformly random member index for which |want| holds, or -1: a scan of small tables,
 * bounded random probing of large ones (where |want| holds for most members). */
int swim__random_member(struct swim *s, int (*want)(const struct swim *, size_t));
/* Up to |n| distinct random members for which |want| holds, into |out|; same method. */
size_t swim__random_members(struct swim *s, int (*want)(const struct swim *, size_t), uint32_t *out,
                            size_t n);

/* For tests: stores |m| in the table as if a change had arrived, without gossiping it. */
int swim__test_put(struct swim *s, const struct member *m);
/* For ringsim's warm start of a large cluster: replaces the table of a freshly created node
 * with a copy of |table| (every member alive; our own record is kept as ours), with no
 * events, no gossip queued and a fresh probe round. O(table) memory copies instead of a
 * swim__test_put() per member, which hashes, digests and queues an event for each.
 * Returns 0, RING_EINVAL (|table| holds a non-alive member, or this node has timers
 * running) or RING_ENOMEM (the node is left as it was). */
int swim__test_adopt(struct swim *s, const struct members *table);
/* For ringsim's warm start: the table was filled by swim__test_put() or
 * swim__test_adopt() as if a join had
 * completed long ago; no join sync is due. */
void swim__test_joined(struct swim *s);

#endif
