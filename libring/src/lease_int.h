/* lease internals shared by lease.c (the holder's side and the API), lease_accept.c (the
 * acceptor) and lease_round.c (request rounds, acks, sending). */
#ifndef RING_LEASE_INT_H
#define RING_LEASE_INT_H

#include "ring/codec.h"
#include "ring/lease.h"

/* Defaults (lease.h says why each is what it is; proto/LEASES.md has the arithmetic). */
#define LEASE_DEFAULT_LEASE_MS           3000
#define LEASE_DEFAULT_CLAIM_RETRY_MS     250
#define LEASE_DEFAULT_RESEND_MS          200
#define LEASE_DEFAULT_DRIFT_PPM          10000
#define LEASE_DEFAULT_RELEASE_TIMEOUT_MS 10000
#define LEASE_DEFAULT_DATAGRAM_BYTES     1400
/* Limits on the settings: drift below 10% (a clock that far off is broken, not slow). */
#define LEASE_DRIFT_PPM_MAX 100000
#define LEASE_LEASE_MS_MIN  100
/* Resends per round (each to the members that have not answered yet). */
#define LEASE_RESENDS_MAX 2
/* Two rounds start at least this far apart (a burst of new claims shares one round). */
#define LEASE_ROUND_GAP_MS 10
/* A claim by another node seen while holding counts as its "want" this many claim
 * retries. */
#define LEASE_WANT_RETRIES 4
/* Datagrams (acks, releases) queued, and events queued beyond the shard count. */
#define LEASE_OUT_MAX    4096
#define LEASE_EVENTS_MIN 1024
/* Owners in ring order that take a shard nobody claims: the ring's owner, then up to seven
 * successors, the k-th after lease_ms + (k - 1) x renew_ms without a request for it
 * (lease.c, "Orphans"). */
#define LEASE_RANKS LEASE_OWNERS_MAX
/* A release entry's extra: 0 hands the shard to the recipient, this withdraws a claim. */
#define LEASE_RELEASE_WITHDRAW CODEC_LEASE_RELEASE_FLAGS_MAX
/* seq = round number << LEASE_PART_BITS | part. */
#define LEASE_PART_BITS 12
#define LEASE_PARTS_MAX (1u << LEASE_PART_BITS)
/* The largest encoded entry (fixarray, uint16 shard, two uint64): sizes parts so that any
 * ack of a part fits one datagram. */
#define LEASE_ENTRY_BYTES_MAX 24

/* Who votes: a snapshot shared by the rounds that counted with it (refcounted). */
struct lease_voter {
    uint64_t hash; /* of the id; never 0 */
    struct ring_addr addr;
    uint8_t live; /* alive or suspect (faulty ones vote too) */
};

struct lease_voters {
    uint32_t refs;
    uint32_t count;
    uint32_t self;   /* index of this node, or UINT32_MAX */
    uint32_t lowest; /* index of the lowest id (bytewise, then shorter first) */
    uint32_t mask;   /* open-addressing table of mask + 1 slots */
    uint32_t *table; /* voter index + 1; 0 = empty */
    struct lease_voter *v;
};

/* The holder's side of one shard. */
struct lease_slot {
    uint8_t state;      /* enum lease_state */
    uint8_t designated; /* handed to us by its holder: wanted even if the ring disagrees */
    uint8_t bump;       /* an acceptor refused our renewal for a higher epoch (a claim that
                         * failed): claim a new epoch while holding */
    uint64_t epoch;     /* held, or last held */
    uint64_t expires_ms;
    uint64_t since_ms;  /* the current state's start */
    uint64_t known_max; /* the highest epoch heard of */
    uint64_t cert;      /* the epoch its previous holder released to us (0: none) */
    uint64_t cert_ms;
    uint64_t designated_until;
    uint8_t rank;     /* this node's place among the shard's owners (0 ring owner, then
                       * successors, LEASE_RANKS: none) */
    uint64_t claimed; /* the epoch of our last claim that may have left promises */
    uint64_t owner;   /* the ring's owner (id hash, 0: none) */
    uint64_t alt[2];  /* the ring's next two owners after |owner| (0: none) */
    uint64_t want;    /* a node that claimed it while we held it, and when */
    uint64_t want_ms;
    uint64_t released; /* the epoch we last released, and when (re-sent to late claimants) */
    uint64_t released_ms;
};

/* The acceptor's side of one shard: the last promise it made. */
struct lease_promise {
    uint64_t holder; /* id hash, 0: none */
    uint64_t epoch;  /* the highest epoch promised here */
    uint64_t until_ms;
    uint64_t heard_ms; /* the last request for this shard from another node */
};

/* One entry of a round. */
struct lease_rentry {
    uint32_t shard;
    uint32_t grants;
    uint64_t epoch;
    uint64_t cert;
    uint8_t claim; /* 1: a claim (new epoch; while held: a bump), 0: a renewal */
    uint8_t lowest;
    uint8_t done;
};

struct lease_part {
    uint32_t first, count;
    size_t len;
    uint8_t *buf;
};

/* A request round: every entry sent to every voter, grants counted per entry. */
struct lease_round {
    uint32_t no;
    uint32_t lease_ms;
    uint64_t t0_ms;
    uint64_t resend_ms;
    uint32_t resends;
    uint32_t open;     /* entries without a quorum yet */
    uint32_t answered; /* voters that answered part 0 (this node included) */
    uint8_t lowest_answered;
    uint8_t held_back; /* claims were due but left out: a majority was not known to hear us */
    struct lease_voters *vs;
    uint32_t count;
    struct lease_rentry *e;
    uint32_t parts;
    struct lease_part *p;
    uint8_t *acked; /* parts x voters bits */
    /* The send cursor: (part, voter) pairs still to send. */
    uint32_t cur_part, cur_voter;
    uint8_t sending;
};

struct lease_out {
    struct ring_addr to;
    size_t len;
    uint8_t *buf;
};

struct lease {
    struct lease_config cfg;
    struct ring_mem mem;
    char id[MEMBER_ID_BYTES_MAX + 1];
    uint64_t self;
    uint64_t rng;
    uint64_t ready_ms; /* the acceptor votes, and claims start, from here */
    uint8_t leaving;
    struct lease_slot *slots;
    struct lease_promise *promises;
    /* Shards not NONE, dense, and each shard's place in it (UINT32_MAX: none). */
    uint32_t *active;
    uint32_t *pos;
    uint32_t active_count;
    uint32_t held_count;
    /* Shards this node succeeds to (rank 1..LEASE_RANKS - 1): watched for orphans. */
    uint32_t *succ;
    uint32_t succ_count;
    uint64_t orphan_min_ms; /* no succ shard becomes an orphan before (a lower bound) */
    uint64_t wake_ms;       /* no lease ends and no designation lapses before (a bound) */
    /* The view. */
    struct lease_voters *vs;
    int have_members, have_ring;
    size_t members_n;
    uint64_t members_sum;
    uint64_t ring_sum;
    /* Rounds. */
    struct lease_round *round;
    uint32_t round_no;
    uint64_t last_round_ms;
    uint64_t next_round_ms;
    uint32_t claim_backoff; /* claim rounds since the last acquisition or new want */
    uint64_t majority_ms;   /* t0 of the last round a majority of voters answered (0: none) */
    /* Queues. */
    struct lease_out *out;
    uint32_t out_head, out_len, out_cap;
    struct lease_event *ev;
    uint32_t ev_head, ev_len, ev_cap;
    struct codec_lease msg; /* decode scratch (and the ack built from a request) */
    struct codec_lease rel; /* releases, built while |msg| is in use */
    struct lease_stats stats;
};

/* lease.c */
uint64_t lease__hash(const char *id, size_t len);
uint64_t lease__hold_ms(const struct lease *l, uint32_t lease_ms);
uint64_t lease__promise_ms(const struct lease *l, uint32_t lease_ms);
void lease__set_state(struct lease *l, uint32_t shard, int state, uint64_t now_ms);
void lease__event(struct lease *l, uint32_t shard, int prev);
/* Re-derives |shard|'s state from the view and the clock. */
void lease__evaluate(struct lease *l, uint32_t shard, uint64_t now_ms);
/* Notes that a lease ends or a designation lapses at |at_ms| (lease_tick() recomputes). */
void lease__wake(struct lease *l, uint64_t at_ms);
/* Asks for a round at |now_ms| or soon after: for something new (claims start over from
 * claim_retry_ms), or again (the backoff stays). */
void lease__round_soon(struct lease *l, uint64_t now_ms);
void lease__round_again(struct lease *l, uint64_t now_ms);
int lease__queue(struct lease *l, const struct ring_addr *to, const struct codec_lease *m);
/* Where a released shard goes: the node that asked for it, else the first of the ring's
 * owners in order that is neither this node nor |skip| (0: nobody). */
uint64_t lease__release_target(const struct lease *l, const struct lease_slot *sl, uint64_t skip,
                               uint64_t now_ms);
struct lease_voters *lease__voters_ref(struct lease_voters *vs);
void lease__voters_unref(struct lease *l, struct lease_voters *vs);
/* The voter index of |hash| in |vs|, or UINT32_MAX. */
uint32_t lease__voter_find(const struct lease_voters *vs, uint64_t hash);

/* lease_accept.c */
/* The acceptor's answer to one entry of a request from |holder| (this node's own too). */
int lease__accept(struct lease *l, uint64_t holder, uint32_t shard, uint64_t epoch, uint64_t cert,
                  uint32_t lease_ms, uint64_t now_ms);
/* 1 when |hash| is a member (not left) in the current view. */
int lease__member(const struct lease *l, uint64_t hash);
int lease__recv_request(struct lease *l, const struct ring_addr *from, uint64_t now_ms);
void lease__recv_release(struct lease *l, uint64_t now_ms);
/* Tells every voter that our claims on |shard| at |epoch| are withdrawn. */
void lease__withdraw(struct lease *l, uint32_t shard, uint64_t epoch);
/* Sends RELEASE of |shard| at |epoch| to the member |to| (a hash); no-op if unknown. */
void lease__send_release(struct lease *l, uint64_t to, uint32_t shard, uint64_t epoch);

/* lease_round.c */
int lease__round_start(struct lease *l, uint64_t now_ms);
/* 1 when a majority of voters answered a round that started less than a lease ago. */
int lease__majority_heard(const struct lease *l, uint64_t now_ms);
void lease__round_free(struct lease *l, struct lease_round *r);
void lease__recv_ack(struct lease *l, const struct ring_addr *from, uint64_t now_ms);
ssize_t lease__round_send(struct lease *l, struct ring_addr *to, uint8_t *buf, size_t cap);
uint64_t lease__round_deadline(const struct lease *l);
void lease__round_tick(struct lease *l, uint64_t now_ms);

#endif
