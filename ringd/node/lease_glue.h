/*
 * lease_glue: ringd's glue for exclusive shards (--shards S --exclusive; libring's lease.h,
 * proto/LEASES.md). It drives the lease state machine beside swim, as ringsim's sim/lease.c
 * does: lease_update() after every membership or ring change, lease_recv() for the lease
 * datagrams that reach the gossip port (opened like swim's), lease_tick() from the node's one
 * timer, every datagram out sealed like swim's, and uv_now() (the loop's monotonic clock) as
 * the clock. Each shard's state is published in the node's view (ringd_lease_*() below) and
 * every transition is told to subscribers (ringd_node_cbs.lease_changed). Without
 * --exclusive nothing here does anything and every shard reads as served.
 */
#ifndef RINGD_LEASE_GLUE_H
#define RINGD_LEASE_GLUE_H

#include "daemon.h"
#include "ring/lease.h"

/* Hand-off duration histogram bucket upper bounds, in microseconds (the last is +Inf). */
#define RINGD_LEASE_HANDOFF_BUCKETS 14
extern const double ringd_lease_handoff_bounds_us[RINGD_LEASE_HANDOFF_BUCKETS - 1];

/* What the node keeps per shard beside the lease object: the published state and when the
 * current wait for the lease began (0: not waiting). */
struct ringd_lease_shard {
    uint8_t state; /* enum lease_state, as the last event left it */
    uint64_t epoch;
    uint64_t expires_ms;
    uint64_t acquiring_since_ms;
};

/* The node's lease counters (libring's lease_stats has the protocol's). */
struct ringd_lease_counters {
    uint64_t handoff[RINGD_LEASE_HANDOFF_BUCKETS]; /* ACQUIRING -> HELD, by duration */
    uint64_t handoff_sum_us;
    uint64_t releases_by_app; /* release() calls accepted */
    uint64_t leave_drains, leave_drains_timed_out;
    uint64_t epoch_max; /* the highest epoch this node has held */
};

/* Called once the leases of a leaving node are handed off (or the bound passed). */
typedef void (*ringd_lease_done_cb)(struct ringd *d);

/* The node's lease state (NULL in struct ringd without --exclusive). */
struct ringd_leases {
    struct lease *l;
    struct ringd_lease_shard *shards; /* cfg.shards of them */
    struct ringd_lease_counters m;
    uv_timer_t drain_timer;
    uint64_t drain_deadline_ms;
    ringd_lease_done_cb drain_done;
    uint8_t *out; /* one datagram, before sealing */
};

/* Creates the leases (--exclusive) and their timer. Returns 0 or a uv error. */
int ringd_leases_start(struct ringd *d);
void ringd_leases_close(struct ringd *d);
void ringd_leases_free(struct ringd *d);

/* Feeds the lease state machine the node's current members and ring, runs what is due at
 * |now|, sends what it queued and publishes its events. Called by ringd_pump(). */
void ringd_leases_pump(struct ringd *d, uint64_t now);
/* Folds the next lease deadline into |deadline|. */
uint64_t ringd_leases_deadline(const struct ringd *d, uint64_t deadline);
/* Runs lease_tick() when it is due. */
void ringd_leases_tick(struct ringd *d, uint64_t now);
/* 1 when |buf| is a lease datagram (then fed to the leases, whatever came of it), else 0. */
int ringd_leases_recv(struct ringd *d, const struct ring_addr *from, const uint8_t *buf, size_t len,
                      uint64_t now);

/* The planned leave of a node with leases: every held shard becomes RELEASING towards its
 * next owner; |done| runs once none is held any more, or after --release-timeout plus a
 * lease at most. Without --exclusive (or holding nothing) |done| runs at once. A drain that
 * keeps the node a member calls this too. */
void ringd_leases_handoff(struct ringd *d, ringd_lease_done_cb done);

/* ---- the view: what the API and the proxy read ---- */

/* 1 when this node may act on |shard| at |now| (always, without --exclusive), with its
 * epoch in |*epoch| (0 without --exclusive; may be NULL). */
int ringd_lease_serving(const struct ringd *d, uint32_t shard, uint64_t now, uint64_t *epoch);
/* |shard|'s state at |now|. Returns 0, or UV_EINVAL (no such shard, or no --exclusive). */
int ringd_lease_get(const struct ringd *d, uint32_t shard, uint64_t now,
                    struct lease_shard_info *out);
/* 1 when this node cannot hear from a majority of the members it knows (alive, suspect and
 * faulty ones vote; only alive ones answer; a tie goes to the half with the lowest id): it
 * can neither acquire nor renew a lease. */
int ringd_lease_minority(const struct ringd *d);
/* The app is done with |shard|. Returns 0, UV_EINVAL without --exclusive, or lease_release()'s
 * codes as errno (ringd_err_from_ring()). */
int ringd_lease_release(struct ringd *d, uint32_t shard);

/* What the proxy does with a request for a shard (pure, for tests): */
enum ringd_lease_gate {
    LEASE_GATE_SERVE = 0,     /* the lease is held here: pass it to the app */
    LEASE_GATE_WAIT = 1,      /* not yet held: wait for it (a hand-off or an acquisition) */
    LEASE_GATE_NO_QUORUM = 2, /* this node is on a minority side: 503 now */
    LEASE_GATE_NO_LEASE = 3,  /* waited until |wait_until_ms|: 503 */
};
/* The decision for a request routed here at |now| that may wait until |wait_until_ms|. */
enum ringd_lease_gate ringd_lease_gate_decide(int serving, int minority, uint64_t now,
                                              uint64_t wait_until_ms);
/* ringd_lease_gate_decide() with this node's view of |shard|, and the epoch when SERVE. */
enum ringd_lease_gate ringd_lease_gate(const struct ringd *d, uint32_t shard, uint64_t now,
                                       uint64_t wait_until_ms, uint64_t *epoch);

/* The Prometheus families of the leases (node_metrics.c calls it). */
void ringd_leases_prometheus(struct ringd *d, struct sbuf *b);

#endif
