/* ringsim: small runs of every scenario through the simulator's own core (sim/), so the
 * default suite checks determinism and the protocol's expectations in seconds. The full-size
 * runs are scripts/sim.sh. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "sim.h"

TestSuite(ringsim, .timeout = 60);

static struct sim w;

static void opts_for(struct sim_opts *o, int scenario, uint32_t nodes, uint64_t seed)
{
    memset(o, 0, sizeof(*o));
    o->nodes = nodes;
    o->scenario = scenario;
    o->seed = seed;
    o->duration_ms = 60000;
    o->latency_ms = 1;
    o->jitter_ms = 0.5;
}

/* Runs a scenario; returns metrics_check()'s verdict, leaving the world in |w| (the caller
 * frees it). */
static int run(const struct sim_opts *o)
{
    char err[256];
    cr_assert(eq(int, sim_init(&w, o, err, sizeof(err)), 0), "%s", err);
    sim_run(&w);
    int rv = metrics_check(&w, err, sizeof(err));
    if (rv != 0) {
        cr_log_error("%s: %s", scenario_name(o->scenario), err);
    }
    return rv;
}

static uint64_t trace_of(int scenario, uint32_t nodes, uint64_t seed, double loss)
{
    struct sim_opts o;
    opts_for(&o, scenario, nodes, seed);
    o.duration_ms = 30000;
    o.loss = loss;
    (void)run(&o);
    uint64_t t = w.trace;
    sim_free(&w);
    return t;
}

Test(ringsim, same_seed_replays_the_same_trace)
{
    uint64_t a = trace_of(SIM_KILL, 40, 42, 0.05);
    uint64_t b = trace_of(SIM_KILL, 40, 42, 0.05);
    uint64_t c = trace_of(SIM_KILL, 40, 43, 0.05);
    cr_assert(eq(u64, a, b), "same seed, different traces");
    cr_assert(ne(u64, a, c), "different seeds, same trace");
    cr_assert(eq(u64, trace_of(SIM_CHURN, 30, 9, 0.02), trace_of(SIM_CHURN, 30, 9, 0.02)));
}

Test(ringsim, cold_join_converges_without_suspicion)
{
    struct sim_opts o;
    opts_for(&o, SIM_JOIN, 60, 1);
    cr_assert(eq(int, run(&o), 0));
    cr_assert(eq(u64, w.m.false_suspicions, 0));
    for (uint32_t i = 0; i < w.n; i++) {
        cr_assert(ne(u64, w.m.knows_all_us[i], UINT64_MAX), "node %u never knew everyone", i);
    }
    sim_free(&w);
}

/* 300 nodes start within a second through 3 seeds: they converge within 4 s of the last
 * start (8.5 s when every joiner synced with every seed and learned the rest by gossip under
 * the admission budget), with full syncs a small multiple of N (proto/SWIM.md, "Cold
 * start"). */
Test(ringsim, cold_start_of_300_converges_within_4_s)
{
    struct sim_opts o;
    opts_for(&o, SIM_JOIN, 300, 1);
    o.duration_ms = 12000;
    cr_assert(eq(int, run(&o), 0));
    cr_assert(ne(u64, w.m.converged_us, UINT64_MAX));
    uint64_t took_us = w.m.converged_us - w.m.disturb_us;
    cr_log_info("converged %.2f s after the last start, %llu full syncs", (double)took_us / 1e6,
                (unsigned long long)w.net.syncs);
    cr_assert(le(u64, took_us, 4000000));
    cr_assert(le(u64, w.net.syncs, 6 * (uint64_t)w.n));
    cr_assert(eq(u64, w.m.false_suspicions, 0));
    sim_free(&w);
}

Test(ringsim, one_join_reaches_every_node_within_2_5_s)
{
    struct sim_opts o;
    opts_for(&o, SIM_JOIN, 200, 3);
    o.joiners = 1;
    o.duration_ms = 20000;
    cr_assert(eq(int, run(&o), 0));
    double *v;
    size_t k = metrics_join_times(&w, &v);
    cr_assert(eq(sz, k, (size_t)w.n));
    cr_assert(le(dbl, v[k - 1], 2.5), "last node knew after %.3f s", v[k - 1]);
    free(v);
    sim_free(&w);
}

Test(ringsim, kill_is_detected_by_every_live_node)
{
    struct sim_opts o;
    opts_for(&o, SIM_KILL, 50, 5);
    o.kill = 2;
    cr_assert(eq(int, run(&o), 0));
    cr_assert(eq(u32, w.m.watch_count, 2));
    for (uint32_t k = 0; k < w.m.watch_count; k++) {
        cr_assert(ne(u64, w.m.watch[k].first_suspect_us, UINT64_MAX));
    }
    sim_free(&w);
}

/* The detection target at N = 100 (faulty everywhere within 3 s), over ten seeds, and the
 * anatomy behind it: the first probe of the dead node ends its period in a suspicion, and
 * the confirmations arrive in time for the minimum suspicion timeout everywhere. */
Test(ringsim, kill_at_100_is_faulty_everywhere_within_3_s)
{
    const double period_s = 0.3, min_timeout_s = 2 * 2 * period_s; /* mult 2, log10(100) */
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct sim_opts o;
        opts_for(&o, SIM_KILL, 100, seed);
        o.duration_ms = 20000;
        cr_assert(eq(int, run(&o), 0));
        const struct sim_watch *wa = &w.m.watch[0];
        double probe = (double)(wa->first_probe_us - wa->at_us) / 1e6;
        double suspect = (double)(wa->first_suspect_us - wa->at_us) / 1e6;
        double faulty = (double)(wa->first_faulty_us - wa->at_us) / 1e6;
        double *v;
        size_t k = metrics_detection_times(&w, &v);
        cr_assert(eq(sz, k, (size_t)w.n - 1));
        cr_assert(le(dbl, v[k - 1], 3.0), "seed %llu: all faulty after %.3f s",
                  (unsigned long long)seed, v[k - 1]);
        free(v);
        cr_assert(le(dbl, suspect - probe, period_s + 0.001), "seed %llu",
                  (unsigned long long)seed);
        cr_assert(le(dbl, faulty - suspect, min_timeout_s + 0.001), "seed %llu: %.3f s",
                  (unsigned long long)seed, faulty - suspect);
        sim_free(&w);
    }
}

/* Load: datagrams per node per second do not grow with N. */
Test(ringsim, load_per_node_is_flat_in_n)
{
    double rate[2];
    uint32_t sizes[2] = { 50, 400 };
    for (int i = 0; i < 2; i++) {
        struct sim_opts o;
        opts_for(&o, SIM_KILL, sizes[i], 29);
        o.duration_ms = 20000;
        cr_assert(eq(int, run(&o), 0));
        rate[i] = (double)w.net.dgrams / w.m.node_seconds;
        sim_free(&w);
    }
    cr_assert(le(dbl, rate[1], rate[0] * 1.1), "%.2f msgs/node/s at 50, %.2f at 400", rate[0],
              rate[1]);
    cr_assert(ge(dbl, rate[1], rate[0] * 0.9), "%.2f msgs/node/s at 50, %.2f at 400", rate[0],
              rate[1]);
}

Test(ringsim, pause_does_not_get_others_declared_faulty)
{
    struct sim_opts o;
    opts_for(&o, SIM_PAUSE, 40, 11);
    cr_assert(eq(int, run(&o), 0));
    cr_assert(eq(u64, w.m.false_positives, 0));
    sim_free(&w);
}

Test(ringsim, partition_heals_to_one_ring)
{
    struct sim_opts o;
    opts_for(&o, SIM_PARTITION, 40, 13);
    cr_assert(eq(int, run(&o), 0));
    sim_free(&w);
}

Test(ringsim, ten_percent_loss_has_no_false_positive)
{
    struct sim_opts o;
    opts_for(&o, SIM_LOSS, 40, 17);
    o.loss = 0.10;
    o.duration_ms = 120000;
    cr_assert(eq(int, run(&o), 0));
    cr_assert(eq(u64, w.m.false_positives, 0));
    sim_free(&w);
}

Test(ringsim, churn_and_flap_converge_after_quiet)
{
    struct sim_opts o;
    opts_for(&o, SIM_CHURN, 40, 19);
    o.churn_per_min = 0.2;
    cr_assert(eq(int, run(&o), 0));
    sim_free(&w);
    opts_for(&o, SIM_FLAP, 40, 23);
    cr_assert(eq(int, run(&o), 0));
    sim_free(&w);
}

/* Drain (ringd's SIGTERM): K nodes drain at 5 s, leave at 8 s, exit at 10 s. Midway every node
 * has them live but out of the ring; at the end the cluster has converged without them and
 * nobody was declared faulty. */
Test(ringsim, drained_nodes_leave_the_ring_at_once_then_leave_cleanly)
{
    struct sim_opts o;
    opts_for(&o, SIM_DRAIN, 40, 31);
    o.kill = 3;
    o.duration_ms = 7500;
    char err[256];
    cr_assert(eq(int, sim_init(&w, &o, err, sizeof(err)), 0), "%s", err);
    sim_run(&w);
    for (uint32_t i = 0; i < w.n; i++) {
        const struct members *t = swim_members(w.nodes[i].s);
        cr_assert(w.nodes[i].up);
        cr_assert(eq(sz, members_ring_count(t), 40), "node %u", i);
        cr_assert(eq(sz, members_owner_count(t), 37), "node %u: drainers still own keys", i);
    }
    sim_free(&w);
    o.duration_ms = 30000;
    cr_assert(eq(int, run(&o), 0));
    sim_free(&w);
}
