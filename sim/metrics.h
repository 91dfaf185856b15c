/*
 * metrics: what ringsim measures while a scenario runs, and the checkers that decide
 * whether the run passed.
 *
 * Everything comes from what the nodes themselves report (swim events, checksums, stats)
 * and from the network's counters, never from peeking at swim's internals:
 *   - convergence: sampled every SIM_SAMPLE_US; the first sample after the last disturbance
 *     at which every running node sees every running node alive and all agree on the
 *     membership and ring checksums;
 *   - detection, per killed node: the first ping anyone sent it (when some member first
 *     picked it as a probe target: SWIM's "first detection" counts the periods until then),
 *     the first suspicion and the first faulty verdict by anyone, and when each live node
 *     marked it faulty (so also when all had);
 *   - join: when each node first knew every running node alive;
 *   - false positives: a node declared faulty while it was healthy and reachable (not down,
 *     paused, cut off or partitioned, nor within a grace period after);
 *   - traffic per node per second, full syncs, peak swim memory per node.
 */
#ifndef RINGSIM_METRICS_H
#define RINGSIM_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "ring/swim.h"

struct sim;

#define SIM_SAMPLE_US   100000
#define SIM_WATCH_MAX   256
#define SIM_SAMPLES_MAX 100000

/* A killed node whose detection is timed. */
struct sim_watch {
    uint32_t node;
    uint64_t at_us;
    uint64_t first_probe_us;   /* the first ping sent to it after the kill; UINT64_MAX: none */
    uint64_t first_suspect_us; /* UINT64_MAX: nobody yet */
    uint64_t first_faulty_us;  /* the first faulty (or left) verdict by anyone */
    uint64_t *faulty_at_us;    /* per observer; UINT64_MAX: not yet */
};

struct sim_sample {
    uint64_t at_us;
    uint32_t up;
    uint32_t agree; /* running nodes holding the most common (checksum, ring checksum) */
};

struct sim_metrics {
    uint64_t disturb_us;   /* the last disturbance: convergence is timed from here */
    uint64_t converged_us; /* first converged sample at or after disturb_us, or UINT64_MAX */
    int converged_now;
    uint64_t false_positives;  /* faulty declarations about healthy nodes */
    uint64_t false_suspicions; /* suspicions of healthy nodes (Lifeguard should keep it low) */
    struct sim_watch watch[SIM_WATCH_MAX];
    uint32_t watch_count;
    uint64_t *knows_all_us; /* per node: first time it knew every running node; join only */
    uint64_t join_start_us;
    double node_seconds; /* integral of running nodes over time */
    struct sim_sample *samples;
    uint32_t sample_count;
    uint64_t events_dropped; /* swim events lost to a full queue, all nodes */
};

int metrics_init(struct sim *w);
void metrics_free(struct sim *w);
/* Node |i| reported |ev|. */
void metrics_on_event(struct sim *w, uint32_t i, const struct swim_event *ev);
/* Node |from| sends the datagram |buf| to node |to| (-1: no node) now. */
void metrics_on_dgram(struct sim *w, uint32_t from, int to, const uint8_t *buf, size_t len);
/* Node |i| was fed and drained. */
void metrics_after_drain(struct sim *w, uint32_t i);
void metrics_sample(struct sim *w);
/* Times the detection of node |i|, killed now. */
void metrics_watch(struct sim *w, uint32_t i);
/* Something changed the cluster now: convergence restarts its clock. */
void metrics_disturb(struct sim *w);
/* Prints the summary, as text or one JSON object. */
void metrics_report(const struct sim *w, int json, FILE *f);
/* Runs the checkers. Returns 0, or -1 with the reason in |why|. */
int metrics_check(const struct sim *w, char *why, size_t cap);

/* For plot.c: detection times (s) of all watched nodes by every live observer that saw
 * them, sorted; returns the count, |*out| malloc'ed. */
size_t metrics_detection_times(const struct sim *w, double **out);
/* Join times (s after the join started) of every node that knew all, sorted. */
size_t metrics_join_times(const struct sim *w, double **out);

#endif
