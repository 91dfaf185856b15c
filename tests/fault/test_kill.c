/*
 * Scenario 3, kill -9 of two nodes: every other node marks both faulty within the bound
 * the default timings give, and the ring drops them (the six agree on six members and one
 * ring checksum).
 *
 * The bound: a victim is probed at the latest two protocol rounds after the kill (a round
 * visits the N - 1 members in a shuffled order, so the gap between two probes of one member
 * is under two rounds), the probe times out, and the suspicion runs out at most after its
 * ceiling, suspicion_max_mult x suspicion_mult x probe_interval = 10 x 2 x 300 ms = 6 s at
 * N <= 10 (it is shorter as soon as other nodes confirm): 2 x 7 x 300 + 150 + 6000 ms.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>

#include "fault.h"

#define PROBE_INTERVAL_MS 300
#define PROBE_TIMEOUT_MS  150
#define SUSPICION_MAX_MS  6000
#define KILL_FAULTY_MS_MAX                                                                         \
    (2 * (FAULT_NODES - 1) * PROBE_INTERVAL_MS + PROBE_TIMEOUT_MS + SUSPICION_MAX_MS)
/* After the last node marks them faulty, the survivors' rings and checksums agree within a
 * gossip spread; generous, since the machine is shared. */
#define RING_SETTLE_MS_MAX 5000

TestSuite(fault_kill, .init = fault_setup, .fini = fault_teardown, .timeout = 120);

Test(fault_kill, two_killed_nodes_are_faulty_everywhere_and_leave_the_ring)
{
    int join_ms = fault_start_all();
    const int victims[2] = { 3, 6 };
    fault_set dead = 0;
    for (int k = 0; k < 2; k++) {
        dead |= 1u << victims[k];
    }
    fault_set alive = FAULT_ALL & ~dead;
    int64_t t0 = fault_now_ms();
    for (int k = 0; k < 2; k++) {
        cluster_signal(victims[k], SIGKILL);
        cr_assert(ne(int, cluster_wait_exit(victims[k], 2000), -1));
    }
    int faulty_ms = fault_wait_see(alive, dead, 'f', t0, KILL_FAULTY_MS_MAX + 5000);
    int ring_ms = fault_wait_agree(alive, alive, t0, KILL_FAULTY_MS_MAX + RING_SETTLE_MS_MAX);
    fault_report("kill9",
                 "\"nodes\": %d, \"killed\": 2, \"join_ms\": %d, \"all_faulty_ms\": %d, "
                 "\"bound_ms\": %d, \"ring_dropped_ms\": %d",
                 FAULT_NODES, join_ms, faulty_ms, KILL_FAULTY_MS_MAX, ring_ms);
    cr_assert(ge(int, faulty_ms, 0), "the survivors did not all mark both victims faulty");
    cr_assert(le(int, faulty_ms, KILL_FAULTY_MS_MAX), "faulty everywhere after %d ms", faulty_ms);
    cr_assert(ge(int, ring_ms, 0), "the survivors' rings did not drop the victims");
}
