/*
 * sim: the simulated world of ringsim. N nodes, each a real struct swim with its own
 * counting allocator, exchange messages over a virtual network (net.c) on a virtual clock;
 * one event heap orders everything (heap.c), scenarios script faults (scenario.c) and
 * metrics watch what the nodes report (metrics.c).
 *
 * Time is in virtual microseconds (swim sees milliseconds: now_us / 1000), so sub-
 * millisecond latencies still order messages. One seed drives every random choice: node
 * seeds, latencies, losses and scenario picks each come from their own splitmix64 stream
 * derived from it, so a run replays exactly (the trace hash says so).
 */
#ifndef RINGSIM_SIM_H
#define RINGSIM_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "ring/mem.h"
#include "ring/swim.h"

#include "heap.h"
#include "metrics.h"
#include "net.h"

enum sim_scenario {
    SIM_JOIN = 1,
    SIM_KILL,
    SIM_PAUSE,
    SIM_PARTITION,
    SIM_LOSS,
    SIM_CHURN,
    SIM_FLAP,
    SIM_LEAVE,
    SIM_DRAIN,
};

/* What a run does; main.c fills it from the command line, tests by hand. */
struct sim_opts {
    uint32_t nodes;
    int scenario; /* enum sim_scenario */
    uint64_t seed;
    uint64_t duration_ms;
    double loss;          /* datagram and stream-segment loss, 0..1 */
    double latency_ms;    /* one-way latency mean */
    double jitter_ms;     /* uniform jitter, +-; latency never goes below 10 us */
    uint32_t joiners;     /* join: nodes that join (the rest start converged); 0 = all */
    uint32_t kill;        /* kill: nodes killed at once */
    double churn_per_min; /* churn: fraction of nodes restarted per minute */
    int oneway;           /* partition: cut only side 0 -> side 1 */
    /* swim timing overrides (0: libring's defaults). */
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t suspicion_mult;
    uint32_t suspicion_max_mult;
    uint32_t suspicion_confirmations;
    /* 1: no gossip fanout, updates ride only on probes (to measure what the fanout buys). */
    int no_gossip;
    /* Sub-sharding (sim/groups.h): groups (0 or 1: flat) and the cross-group exchange
     * interval override (0: libring's default). */
    uint32_t groups;
    uint32_t exchange_interval_ms;
    /* Exclusive shard leases (sim/lease.h): on, shards (0: SIM_LEASE_SHARDS_DEFAULT), the
     * lease (0: libring's default), and each node's clock-rate error, drawn uniformly
     * within +-clock_drift (0: perfect clocks). */
    int exclusive;
    uint32_t shards;
    uint32_t lease_ms;
    double clock_drift;
};

/* A counting allocator: every node's swim allocates through its own. */
struct sim_mem {
    struct ring_mem mem;
    size_t bytes;
    size_t peak;
};

struct sim_node {
    struct swim *s;
    struct sim_mem mem;
    struct ring_addr addr;
    char id[16];
    uint8_t up;               /* the process runs */
    uint8_t cut;              /* flap: unreachable (every packet to or from it dropped) */
    uint8_t side;             /* partition side, 0 or 1 */
    uint32_t gen;             /* restarts: stream replies to an older process are dropped */
    uint64_t armed_us;        /* the pending timer event, or UINT64_MAX */
    uint64_t paused_until_us; /* paused while now < this */
    /* A declaration that this node is faulty before this time is no false positive: the
     * node was down, paused, cut off or across a partition (plus a grace period). */
    uint64_t disturbed_until_us;
    /* The node's monotonic clock: local us = clock_offset_us + clock_rate x true us. */
    double clock_rate;
    uint64_t clock_offset_us;
};

struct sim_action;
struct simgroups;
struct simlease;

struct sim {
    struct sim_opts opts;
    uint64_t now_us;
    uint64_t end_us;
    uint64_t rng; /* scenario choices */
    struct sim_heap heap;
    struct sim_node *nodes;
    uint32_t n;
    uint32_t up;
    uint32_t warm_count;        /* nodes 0..warm_count-1 start converged */
    struct members *warm_table; /* their starting table (sim.c), built at the first warm start */
    struct sim_net net;
    struct sim_metrics m;
    struct sim_action *actions;
    size_t action_count, action_cap;
    struct ring_addr seeds[3];
    size_t seed_count;
    uint64_t events;      /* heap events processed */
    uint64_t trace;       /* hash of everything observable, in order */
    double wall_s;        /* sim_run() */
    double setup_wall_s;  /* sim_init(): building the starting cluster */
    struct simgroups *gs; /* sub-sharding and its figures (groups.c) */
    struct simlease *ls;  /* exclusive leases and their checker (lease.c), or NULL */
    /* One codec scratch for every node's swim (74 KB each would be 7 GB at N = 100,000):
     * the simulation is one thread, and a swim holds nothing in it between calls. */
    struct swim_scratch *scratch;
};

/* Builds the world for |opts| and schedules the scenario. Returns 0, or -1 with a message
 * in |err| (|err_cap| bytes). */
int sim_init(struct sim *w, const struct sim_opts *opts, char *err, size_t err_cap);

/* Runs to the end of the scenario. */
void sim_run(struct sim *w);

void sim_free(struct sim *w);

/* ---- for scenario.c and net.c ---- */

uint64_t sim_rand(uint64_t *state);
/* A uniform double in [0, 1). */
double sim_rand01(uint64_t *state);
void sim_trace(struct sim *w, const void *p, size_t len);

/* Starts node |i| at the current time: cold (it knows only itself and joins through the
 * seeds) or warm (its table already holds every node, alive, as in a converged cluster). */
int sim_node_start(struct sim *w, uint32_t i, int warm);
void sim_node_kill(struct sim *w, uint32_t i);
/* Drains what node |i| wants sent and its events, then arms its timer. */
void sim_node_drain(struct sim *w, uint32_t i);
/* Re-arms node |i|'s timer for |at_us| if that is earlier than the armed one. */
void sim_node_arm(struct sim *w, uint32_t i, uint64_t at_us);
int sim_node_paused(const struct sim *w, uint32_t i);
/* Node index of an address, or -1. */
int sim_addr_node(const struct sim *w, const struct ring_addr *a);
/* Node |i|'s clock now, in ms (what every libring entry point of the node is given), and
 * the true time (us) at which that clock first reads |local_ms|. */
uint64_t sim_node_ms(const struct sim *w, uint32_t i);
/* Node |i|'s clock (ms) at true time |us|. */
uint64_t sim_node_ms_at(const struct sim *w, uint32_t i, uint64_t us);
uint64_t sim_node_real_us(const struct sim *w, uint32_t i, uint64_t local_ms);
/* A PRNG seed for node |i|'s current process, stream |stream|. */
uint64_t sim_node_seed(const struct sim *w, uint32_t i, uint64_t stream);
/* Sets up a counting allocator. */
void sim_mem_init(struct sim_mem *m);

#endif
