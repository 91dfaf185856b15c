/*
 * Scenario 1, a 4|4 partition, then heal. During the split both halves mark the other half
 * faulty and each serves a ring of its own four (every lookup asked on one side lands on
 * that side); after the heal the eight are one membership with one ring checksum again
 * within 30 s (ringpop's own bar is 60 s). Full: a 30 s split; short: 8 s, still longer
 * than detection takes, so the halves are settled before the heal.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>

#include "fault.h"

#define SPLIT_MS_FULL  30000
#define SPLIT_MS_SHORT 8000
#define HEAL_MS_MAX    30000
/* The halves must see each other faulty well before the split ends (detection bound of
 * test_kill.c, 10.35 s, plus room for four suspects at once). */
#define DETECT_MS_MAX 12000
#define LOOKUP_KEYS   200

static const fault_set side_a = 0x0f, side_b = 0xf0;

TestSuite(fault_partition, .init = fault_setup, .fini = fault_teardown, .timeout = 180);

/* Node |i| owns every one of LOOKUP_KEYS keys from a node of |side|; returns how many it
 * placed elsewhere (or -1 if it could not be asked). */
static int lookups_outside(int i, fault_set side)
{
    struct ringc *c = cluster_connect(i);
    int outside = 0;
    for (int k = 0; k < LOOKUP_KEYS && outside >= 0; k++) {
        char key[32], id[32];
        int owner = -1;
        const msgpack_object *res;
        snprintf(key, sizeof(key), "key:%d", k);
        if (ringc_call(c, &res, 2000, "lookup", "s", key) != 0) {
            outside = -1;
            break;
        }
        ringc_get_str(res, "id", id, sizeof(id));
        if (sscanf(id, "n%d", &owner) != 1 || owner < 0 || !FAULT_IN(side, owner)) {
            outside++;
        }
    }
    ringc_close(c);
    return outside;
}

static void isolate(fault_set side, fault_set other)
{
    for (int i = 0; i < FAULT_NODES; i++) {
        if (FAULT_IN(side, i)) {
            cr_assert(eq(int, netns_isolate(&fault_net, i, other), 0));
        }
    }
}

Test(fault_partition, halves_split_then_heal_into_one_ring)
{
    int split_ms = fault_ms(SPLIT_MS_SHORT, SPLIT_MS_FULL);
    fault_start_all();
    int64_t t0 = fault_now_ms();
    isolate(side_a, side_b);
    isolate(side_b, side_a);
    int cut_ms = (int)(fault_now_ms() - t0);
    int detect_a = fault_wait_see(side_a, side_b, 'f', t0, DETECT_MS_MAX);
    int detect_b = fault_wait_see(side_b, side_a, 'f', t0, DETECT_MS_MAX);
    int own_a = fault_wait_agree(side_a, side_a, t0, DETECT_MS_MAX);
    int own_b = fault_wait_agree(side_b, side_b, t0, DETECT_MS_MAX);
    cr_assert(ge(int, detect_a, 0), "side A did not see all of side B faulty");
    cr_assert(ge(int, detect_b, 0), "side B did not see all of side A faulty");
    cr_assert(ge(int, own_a, 0), "side A did not settle on a ring of its own four");
    cr_assert(ge(int, own_b, 0), "side B did not settle on a ring of its own four");
    int out_a = lookups_outside(0, side_a), out_b = lookups_outside(5, side_b);
    cr_assert(eq(int, out_a, 0), "side A placed %d of %d keys outside itself", out_a, LOOKUP_KEYS);
    cr_assert(eq(int, out_b, 0), "side B placed %d of %d keys outside itself", out_b, LOOKUP_KEYS);

    int64_t rest = split_ms - (fault_now_ms() - t0);
    cluster_sleep_ms(rest > 0 ? (int)rest : 0);
    /* Still split, still two rings, right before the heal. */
    struct fault_view v[CLUSTER_NODES_MAX];
    fault_view_all(v);
    int stable = fault_agree(v, side_a, side_a) && fault_agree(v, side_b, side_b);
    uint64_t dropped = 0;
    for (int i = 0; i < FAULT_NODES; i++) {
        uint64_t d;
        cr_assert(eq(int, netns_drop_count(&fault_net, i, &d), 0));
        dropped += d;
    }
    int64_t t1 = fault_now_ms();
    for (int i = 0; i < FAULT_NODES; i++) {
        cr_assert(eq(int, netns_iptables_flush(&fault_net, i), 0));
    }
    int heal_ms = fault_wait_agree(FAULT_ALL, FAULT_ALL, t1, 2 * HEAL_MS_MAX);
    fault_report("partition",
                 "\"nodes\": %d, \"split_ms\": %d, \"cut_ms\": %d, \"dropped\": %llu, "
                 "\"a_sees_b_faulty_ms\": %d, \"b_sees_a_faulty_ms\": %d, \"a_own_ring_ms\": %d, "
                 "\"b_own_ring_ms\": %d, \"stable_until_heal\": %s, \"heal_converge_ms\": %d, "
                 "\"heal_bound_ms\": %d",
                 FAULT_NODES, split_ms, cut_ms, (unsigned long long)dropped, detect_a, detect_b,
                 own_a, own_b, stable ? "true" : "false", heal_ms, HEAL_MS_MAX);
    cr_assert(gt(u64, dropped, 0), "the partition dropped nothing");
    cr_assert(stable, "the two halves did not keep their own rings until the heal");
    cr_assert(ge(int, heal_ms, 0), "no single membership %d s after the heal",
              2 * HEAL_MS_MAX / 1000);
    cr_assert(le(int, heal_ms, HEAL_MS_MAX), "one membership only %d ms after the heal", heal_ms);
}
