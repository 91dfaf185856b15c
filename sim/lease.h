/*
 * lease (ringsim): exclusive shard leases in the simulator (--exclusive) and the checker
 * that fails a run when two nodes hold one shard at the same instant.
 *
 * Beside each node's swim runs libring's real lease state machine (ring/lease.h, never a
 * reimplementation), fed with the node's member table and the ring of its alive and suspect
 * members after every drain, its datagrams on the same virtual network, ticked on the same
 * timer. Each node reads its own clock: a rate within --clock-drift of true time and an
 * arbitrary offset, fixed for the machine (a restarted process keeps it). The app is
 * modelled as one that releases a RELEASING shard at once.
 *
 * The checker keeps, per shard, the interval during which each node may act on it in true
 * time: from its acquisition until its lease's end on its own clock mapped back to true time
 * (extended by renewals), cut short by a release or a kill. A node that acquires a shard
 * while another node's interval covers that instant is an overlap. A paused node keeps its
 * interval until its lease's end, exactly what lease_check() would answer if it asked.
 *
 * Figures: overlaps (must be 0), the time each shard went without a holder between an
 * interval's end and the next acquisition, split by why the interval ended: a release
 * (planned: join, leave) or a kill or an expiry (unplanned: crash, cut, pause); shards held
 * by each side at the end of a partition; leases lost; lease traffic.
 */
#ifndef RINGSIM_LEASE_H
#define RINGSIM_LEASE_H

#include <stdint.h>
#include <stdio.h>

struct sim;

/* A node gives its leases a new view (members and placement) at most this often: every
 * view change costs a pass over the shards, and in a big partition a node's view changes
 * every few ms. (ringd hands over its view once per loop iteration.) */
#define SIM_LEASE_VIEW_US 100000
/* Shards a lease run uses unless --shards says otherwise. */
#define SIM_LEASE_SHARDS_DEFAULT 1024
/* Gaps after an interval that ended before this are not counted (none should: the first
 * leases are acquired once every acceptor has waited its first lease, ~3 s). */
#define SIM_LEASE_WARMUP_US 4000000

/* Sets up the leases of w->opts (nothing unless w->opts.exclusive). Returns 0 or -1. */
int simlease_init(struct sim *w);
void simlease_free(struct sim *w);
int simlease_on(const struct sim *w);

/* Node |i|'s process started (a new lease object, acceptor silent for one lease) or dies
 * (every interval it holds ends now). */
int simlease_node_start(struct sim *w, uint32_t i);
void simlease_node_kill(struct sim *w, uint32_t i);
/* Node |i| leaves gracefully: lease_leave() (the scenario calls swim_leave()). */
void simlease_node_leave(struct sim *w, uint32_t i);
/* After a swim drain: the view to the lease object, its datagrams to the network, its events
 * to the checker and the app. */
void simlease_node_drain(struct sim *w, uint32_t i);
void simlease_node_tick(struct sim *w, uint32_t i, uint64_t now_ms);
uint64_t simlease_node_deadline(const struct sim *w, uint32_t i);
/* Delivers a lease datagram to node |i|. Returns 1 when it was one, else 0. */
int simlease_deliver(struct sim *w, uint32_t i, uint32_t from, const uint8_t *buf, size_t len);
/* Shards the ring of all nodes gives node |i| (what it holds in a converged cluster). */
uint32_t simlease_owned(const struct sim *w, uint32_t i);
/* A partition is about to heal: counts the shards each side holds. */
void simlease_partition_snapshot(struct sim *w);

/* The figures, for the report and for tests. Times in ms, -1 when none. */
struct simlease_figures {
    uint64_t overlaps;
    uint64_t planned_gaps, unplanned_gaps;
    double planned_p50_ms, planned_p99_ms, planned_max_ms;
    double unplanned_p50_ms, unplanned_p99_ms, unplanned_max_ms;
    uint32_t unheld_end; /* shards with no holder at the end of the run */
    uint32_t side0_held, side1_held, both_held, none_held; /* at the end of a partition */
    int partition_seen;
    uint64_t acquired, released, lost, handoffs, rounds, bumps;
    double msgs_per_node_per_s, bytes_per_node_per_s;
};
void simlease_figures(const struct sim *w, struct simlease_figures *out);

/* Appends this module's figures to the report (JSON fields or text lines). */
void simlease_report(const struct sim *w, int json, FILE *f);
/* The checker: 0, or -1 with the reason (the first overlap) in |why|. */
int simlease_check(const struct sim *w, char *why, size_t cap);

#endif
