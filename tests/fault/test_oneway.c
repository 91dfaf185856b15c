/*
 * Scenario 5, a one-way partition: node A can send to node B but receives nothing from it
 * (A's INPUT drops B's packets, UDP and TCP). A's direct probes of B lose their acks and B's
 * probes of A never arrive, so each suspects the other now and then; indirect probes through
 * the other six get through, so the suspicion must end in a refutation, never in a faulty
 * member, and must not grow into a storm. Over the window: no node declared faulty, no poll
 * sees one faulty, A and B refute at most REFUTES_PER_MIN_MAX times a minute between them,
 * and the membership settles: every poll of the window's last quarter finds all eight
 * agreeing. A's drop counter shows B's packets really were dropped. Full: 60 s; short: 16 s
 * (not in scripts/test.sh).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "fault.h"

#define NODE_A          1
#define NODE_B          2
#define WINDOW_MS_FULL  60000
#define WINDOW_MS_SHORT 16000
/* A storm would be refutations every few protocol periods (200 a minute at 300 ms); with
 * indirect probes working, a suspicion should be rare. */
#define REFUTES_PER_MIN_MAX 6
#define RECOVER_MS_MAX      30000

TestSuite(fault_oneway, .init = fault_setup, .fini = fault_teardown, .timeout = 200);

Test(fault_oneway, one_way_partition_settles_without_flapping)
{
    int window_ms = fault_ms(WINDOW_MS_SHORT, WINDOW_MS_FULL);
    fault_start_all();
    struct fault_view before[CLUSTER_NODES_MAX], after[CLUSTER_NODES_MAX];
    fault_view_all(before);
    cr_assert(eq(int, netns_block_from(&fault_net, NODE_A, NODE_B), 0));
    struct fault_watch w, tail;
    fault_watch_init(&w);
    fault_watch_for(&w, FAULT_ALL, window_ms * 3 / 4);
    fault_watch_init(&tail);
    fault_watch_for(&tail, FAULT_ALL, window_ms / 4);
    fault_view_all(after);
    struct fault_counts c, ab;
    fault_counts_delta(before, after, FAULT_ALL, &c);
    fault_counts_delta(before, after, (1u << NODE_A) | (1u << NODE_B), &ab);
    uint64_t dropped = 0;
    cr_assert(eq(int, netns_drop_count(&fault_net, NODE_A, &dropped), 0));
    cr_assert(eq(int, netns_iptables_flush(&fault_net, NODE_A), 0));
    int recover_ms = fault_wait_agree(FAULT_ALL, FAULT_ALL, fault_now_ms(), RECOVER_MS_MAX);
    double refutes_per_min = (double)ab.refutations * 60000.0 / window_ms;
    fault_report(
        "oneway",
        "\"nodes\": %d, \"window_ms\": %d, \"b_to_a_dropped\": %llu, \"suspicions\": %llu, "
        "\"faulty\": %llu, \"refutations_a_b\": %llu, \"refutations_per_min\": %.1f, "
        "\"view_changes\": %d, \"polls_seeing_faulty\": %d, \"polls\": %d, "
        "\"polls_disagreeing\": %d, \"last_quarter_changes\": %d, "
        "\"last_quarter_disagreeing\": %d, \"recover_after_heal_ms\": %d",
        FAULT_NODES, window_ms, (unsigned long long)dropped, (unsigned long long)c.suspicions,
        (unsigned long long)c.faulty, (unsigned long long)ab.refutations, refutes_per_min,
        w.changes + tail.changes, w.to_faulty + tail.to_faulty, w.polls + tail.polls,
        w.disagreeing + tail.disagreeing, tail.changes, tail.disagreeing, recover_ms);
    cr_assert(gt(u64, dropped, 0), "A dropped nothing from B");
    cr_assert(eq(u64, c.faulty, 0), "%llu nodes declared faulty", (unsigned long long)c.faulty);
    cr_assert(eq(int, w.to_faulty + tail.to_faulty, 0));
    cr_assert(le(dbl, refutes_per_min, REFUTES_PER_MIN_MAX),
              "a flapping storm: %.1f refutations a minute", refutes_per_min);
    cr_assert(eq(int, tail.disagreeing, 0), "the membership was still moving at the end");
    cr_assert(ge(int, recover_ms, 0));
}
