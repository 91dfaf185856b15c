/* ringsim with sub-sharding (--groups): small runs that check the targets in
 * miniature against a flat run of the same size and seed. The full-size runs are
 * scripts/sim.sh groups (sim/README.md, "Sub-sharding"). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "groups.h"
#include "scenario.h"
#include "sim.h"

TestSuite(ringsim_groups, .timeout = 180);

static struct sim w;

static void opts_for(struct sim_opts *o, int scenario, uint32_t nodes, uint32_t groups,
                     uint64_t seed)
{
    memset(o, 0, sizeof(*o));
    o->nodes = nodes;
    o->groups = groups;
    o->scenario = scenario;
    o->seed = seed;
    o->duration_ms = 60000;
    o->latency_ms = 1;
    o->jitter_ms = 0.5;
}

/* Runs |o| to the end; returns metrics_check()'s verdict with the world left in |w|. */
static int run(const struct sim_opts *o)
{
    char err[256];
    cr_assert(eq(int, sim_init(&w, o, err, sizeof(err)), 0), "%s", err);
    sim_run(&w);
    int rv = metrics_check(&w, err, sizeof(err));
    if (rv != 0) {
        fprintf(stderr, "ringsim_groups: %s: %s\n", scenario_name(o->scenario), err);
    }
    return rv;
}

static uint64_t churn_trace(uint64_t seed)
{
    struct sim_opts o;
    opts_for(&o, SIM_CHURN, 60, 3, seed);
    o.duration_ms = 40000;
    o.churn_per_min = 0.1;
    (void)run(&o);
    uint64_t t = w.trace;
    sim_free(&w);
    return t;
}

Test(ringsim_groups, same_seed_replays_the_same_trace)
{
    cr_assert(eq(u64, churn_trace(5), churn_trace(5)));
    cr_assert(ne(u64, churn_trace(5), churn_trace(6)));
}

Test(ringsim_groups, a_cold_cluster_of_groups_learns_every_group)
{
    struct sim_opts o;
    opts_for(&o, SIM_JOIN, 90, 3, 2);
    cr_assert(eq(int, run(&o), 0));
    struct simgroups_figures x;
    simgroups_figures(&w, &x);
    cr_assert(eq(dbl, x.key_agreement_final, 1.0));
    cr_assert(eq(dbl, x.routable_final, 1.0));
    cr_assert(eq(dbl, x.current_final, 1.0));
    cr_assert(eq(u32, x.unready_final, 0));
    sim_free(&w);
}

/* The figures of a churn run of |nodes| in |groups| groups (1: flat). */
static void churn_figures(uint32_t nodes, uint32_t groups, struct simgroups_figures *x,
                          double *bytes_per_node_s)
{
    struct sim_opts o;
    opts_for(&o, SIM_CHURN, nodes, groups, 7);
    o.churn_per_min = 0.05;
    cr_assert(eq(int, run(&o), 0), "groups %u did not converge", groups);
    simgroups_figures(&w, x);
    double ns = w.m.node_seconds > 0 ? w.m.node_seconds : 1;
    *bytes_per_node_s = (double)(w.net.dgram_bytes + w.net.stream_bytes) / ns;
    fprintf(stderr,
            "ringsim_groups: N=%u G=%u: %.0f B/node/s, table %.0f B, death reach %.2f s, "
            "rejoin reach %.2f s, keys agreed %.4f (strict %.4f)\n",
            nodes, groups, *bytes_per_node_s, x->swim_table_bytes + x->group_table_bytes,
            x->death_reach_mean_s, x->rejoin_reach_mean_s, x->key_agreement_final,
            x->key_agreement_strict_final);
    sim_free(&w);
}

/* 400 nodes under 5%/min churn, flat against 4 groups of 100: the grouped run sends less
 * per node, holds less per node, spreads a change through its group no slower, and agrees
 * on the keys at the end. (At 10,000 nodes the ratios are the 1/10; here the flat
 * cluster is only 4x a group.) */
Test(ringsim_groups, churn_with_groups_beats_flat_at_small_scale)
{
    struct simgroups_figures flat, grouped;
    double flat_bytes, grouped_bytes;
    churn_figures(400, 1, &flat, &flat_bytes);
    churn_figures(400, 4, &grouped, &grouped_bytes);
    cr_assert(lt(dbl, grouped_bytes, flat_bytes));
    cr_assert(
        lt(dbl, grouped.swim_table_bytes + grouped.group_table_bytes, 0.5 * flat.swim_table_bytes));
    cr_assert(gt(u32, grouped.death_reach_count, 0));
    cr_assert(le(dbl, grouped.death_reach_mean_s, flat.death_reach_mean_s));
    cr_assert(le(dbl, grouped.rejoin_reach_mean_s, flat.rejoin_reach_mean_s));
    cr_assert(ge(dbl, grouped.key_agreement_final, 0.999));
    cr_assert(ge(dbl, grouped.key_agreement_strict_final, 0.999));
    cr_assert(eq(dbl, grouped.routable_final, 1.0));
}
