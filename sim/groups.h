/*
 * groups (ringsim): sub-sharding in the simulator (--groups G) and its figures, measured
 * the same way for flat and grouped runs.
 *
 * With G > 1, node i belongs to group "g<i mod G>" (round-robin): its swim joins through
 * the first three nodes of its group, its warm table holds its group only, and beside its
 * swim runs libring's real cross-group exchange (ring/groups.h, never a reimplementation).
 *
 * Figures (flat runs too, as one group):
 *   - change reach: for every churn kill, when every running member of the victim's group
 *     had it faulty (or gone); for every restart, when every running member had the new
 *     process alive at its new incarnation;
 *   - key agreement, sampled every SIM_AGREE_SAMPLE_US over SIM_AGREE_KEYS random keys: a
 *     key is agreed when every running, ready node maps it to the same group, every such
 *     member of that group has the same owner for it, and every such node elsewhere holds a
 *     contact of the group that is up and in it (routing agreement); "strict" also asks that
 *     every node elsewhere hold the ring checksum most of the group's members have;
 *   - member-table bytes per node: swim's table (members_memory_bytes()) plus the group
 *     table (what the groups object holds between calls), averaged over running nodes;
 *   - cross-group exchange traffic, apart from swim's.
 */
#ifndef RINGSIM_GROUPS_H
#define RINGSIM_GROUPS_H

#include <stdint.h>
#include <stdio.h>

#include "ring/swim.h"

struct sim;

#define SIM_AGREE_SAMPLE_US 5000000
#define SIM_AGREE_KEYS      1000
/* Churn events whose reach is timed (the rest are counted, not timed). */
#define SIM_REACH_MAX 100000

/* Sets up the groups of w->opts.groups (0 or 1: flat). Returns 0 or -1. */
int simgroups_init(struct sim *w);
void simgroups_free(struct sim *w);

/* 1 when the run is sub-sharded. */
int simgroups_on(const struct sim *w);
/* The group of node |i| (0 when flat) and whether nodes |i| and |j| share one. */
uint32_t simgroups_of(const struct sim *w, uint32_t i);
int simgroups_same(const struct sim *w, uint32_t i, uint32_t j);
/* The group name of node |i| (NULL when flat). */
const char *simgroups_name(const struct sim *w, uint32_t i);
/* Node |i|'s swim seeds (its group's first three nodes, or the world's). */
const struct ring_addr *simgroups_seeds(const struct sim *w, uint32_t i, size_t *n);

/* Node |i|'s swim was just created (|warm|: the group table starts full, as after a long
 * run). Creates its groups object. Returns 0 or -1. */
int simgroups_node_start(struct sim *w, uint32_t i, int warm);
void simgroups_node_kill(struct sim *w, uint32_t i);
/* Ticks node |i|'s groups object with its swim view and sends what it queued. */
void simgroups_node_drain(struct sim *w, uint32_t i);
/* The groups object's next deadline (ms), or UINT64_MAX. */
uint64_t simgroups_node_deadline(const struct sim *w, uint32_t i, uint64_t swim_deadline);
/* Delivers a group datagram to node |i|. Returns 1 when it was one, else 0. */
int simgroups_deliver(struct sim *w, uint32_t i, uint32_t from, const uint8_t *buf, size_t len);

/* Scenario hooks: node |i| is about to be killed, or was just restarted. */
void simgroups_on_kill(struct sim *w, uint32_t i);
void simgroups_on_restart(struct sim *w, uint32_t i);

/* Every metrics sample (100 ms): change reach; every SIM_AGREE_SAMPLE_US: key agreement. */
void simgroups_sample(struct sim *w);
/* Convergence with groups: every running node agrees with its group's members on membership
 * and ring checksums and sees every running member of its group alive; every group table
 * holds every group at the checksum its members have. */
int simgroups_converged(const struct sim *w);
/* Running nodes agreeing with the most common checksums of their group. */
uint32_t simgroups_agreement(const struct sim *w);

/* The figures, for the report and for tests. Times in seconds, -1 when none. */
struct simgroups_figures {
    double death_reach_mean_s, death_reach_p99_s, death_reach_max_s;
    double rejoin_reach_mean_s, rejoin_reach_p99_s, rejoin_reach_max_s;
    uint32_t death_reach_count, rejoin_reach_count, reach_pending;
    double key_agreement_final, key_agreement_mean, key_agreement_min;
    double key_agreement_strict_final, key_agreement_strict_mean;
    uint32_t agreement_samples;
    double routable_final, current_final;
    uint32_t unready_final, capped_final;
    double swim_table_bytes, group_table_bytes; /* per running node, mean */
    double exchange_msgs_per_node_per_s, exchange_bytes_per_node_per_s;
};
void simgroups_figures(const struct sim *w, struct simgroups_figures *out);

/* Appends this module's figures to the report (JSON fields or text lines). */
void simgroups_report(const struct sim *w, int json, FILE *f);
/* Takes a final agreement sample (the end of the run is its steady state). */
void simgroups_finish(struct sim *w);

#endif
