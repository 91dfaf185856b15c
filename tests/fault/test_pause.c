/*
 * Scenario 4, SIGSTOP of one node for longer than the suspicion timeout, then SIGCONT: the
 * others mark it faulty; once it runs again it refutes (a higher incarnation) and rejoins,
 * and no other node is touched on the way: none of them is ever seen non-alive by anyone,
 * none refutes anything, their incarnations stay where they were. Full: a 20 s stop; short:
 * 8 s, still past the 6 s suspicion ceiling at N = 8.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>

#include "fault.h"

#define STOP_MS_FULL  20000
#define STOP_MS_SHORT 8000
/* test_kill.c's bound: two rounds, the probe timeout and the 6 s suspicion ceiling. */
#define FAULTY_MS_MAX 10350
/* Refute and rejoin after SIGCONT: it learns it is faulty from the first message it gets
 * (or its next sync), so a few protocol periods; loose for the shared machine. */
#define REJOIN_MS_MAX 10000
#define VICTIM        5

TestSuite(fault_pause, .init = fault_setup, .fini = fault_teardown, .timeout = 120);

/* Counts, over every view, a node other than the victim seen as anything but alive. */
static int others_hurt(const struct fault_view v[], fault_set others)
{
    int hurt = 0;
    for (int i = 0; i < FAULT_NODES; i++) {
        for (int j = 0; v[i].ok && j < FAULT_NODES; j++) {
            hurt += FAULT_IN(others, j) && v[i].status[j] != 'a';
        }
    }
    return hurt;
}

/* Polls until |done| or |timeout_ms| from t0, adding others_hurt() of each poll to *hurt. */
static int watch(fault_set others, int (*done)(const struct fault_view *), int64_t t0,
                 int timeout_ms, int *hurt)
{
    struct fault_view v[CLUSTER_NODES_MAX];
    while (fault_now_ms() - t0 < timeout_ms) {
        fault_view_all(v);
        *hurt += others_hurt(v, others);
        if (done != NULL && done(v)) {
            return (int)(fault_now_ms() - t0);
        }
        cluster_sleep_ms(FAULT_POLL_MS);
    }
    return -1;
}

static int victim_faulty_everywhere(const struct fault_view *v)
{
    return fault_all_see(v, FAULT_ALL & ~(1u << VICTIM), 1u << VICTIM, 'f');
}

static int all_agree(const struct fault_view *v)
{
    return fault_agree(v, FAULT_ALL, FAULT_ALL);
}

Test(fault_pause, stopped_node_is_faulty_then_refutes_and_rejoins_alone)
{
    int stop_ms = fault_ms(STOP_MS_SHORT, STOP_MS_FULL);
    fault_start_all();
    fault_set others = FAULT_ALL & ~(1u << VICTIM);
    struct fault_view before[CLUSTER_NODES_MAX], after[CLUSTER_NODES_MAX];
    fault_view_all(before);
    int hurt = 0;
    int64_t t0 = fault_now_ms();
    cluster_signal(VICTIM, SIGSTOP);
    fault_unasked = 1u << VICTIM; /* each call to a stopped node would wait out its timeout */
    int faulty_ms = watch(others, victim_faulty_everywhere, t0, stop_ms, &hurt);
    watch(others, NULL, t0, stop_ms, &hurt);
    int64_t t1 = fault_now_ms();
    cluster_signal(VICTIM, SIGCONT);
    fault_unasked = 0;
    int rejoin_ms = watch(others, all_agree, t1, 3 * REJOIN_MS_MAX, &hurt);
    /* A little longer: a late suspicion of someone else would show now. */
    watch(others, NULL, fault_now_ms(), 2000, &hurt);
    fault_view_all(after);
    int exited = cluster_wait_exit(VICTIM, 0);
    uint64_t refuted = 0, inc_moved = 0;
    for (int i = 0; i < FAULT_NODES; i++) {
        if (i != VICTIM) {
            refuted += after[i].refutations - before[i].refutations;
            inc_moved += after[i].incarnation != before[i].incarnation;
        }
    }
    uint64_t victim_inc = after[VICTIM].incarnation - before[VICTIM].incarnation;
    fault_report("pause",
                 "\"nodes\": %d, \"stop_ms\": %d, \"faulty_everywhere_ms\": %d, "
                 "\"rejoin_after_cont_ms\": %d, \"victim_incarnation_delta\": %llu, "
                 "\"victim_refutations\": %llu, \"others_seen_not_alive\": %d, "
                 "\"others_refutations\": %llu, \"others_incarnation_changed\": %llu",
                 FAULT_NODES, stop_ms, faulty_ms, rejoin_ms, (unsigned long long)victim_inc,
                 (unsigned long long)(after[VICTIM].refutations - before[VICTIM].refutations), hurt,
                 (unsigned long long)refuted, (unsigned long long)inc_moved);
    cr_assert(eq(int, exited, -1), "the node died after SIGCONT (wait status %d)", exited);
    cr_assert(ge(int, faulty_ms, 0), "the stopped node was not faulty everywhere in %d ms",
              stop_ms);
    cr_assert(le(int, faulty_ms, FAULTY_MS_MAX));
    cr_assert(ge(int, rejoin_ms, 0), "the node did not rejoin after SIGCONT");
    cr_assert(le(int, rejoin_ms, REJOIN_MS_MAX), "rejoined only %d ms after SIGCONT", rejoin_ms);
    cr_assert(gt(u64, victim_inc, 0), "the node rejoined without refuting (same incarnation)");
    cr_assert(eq(int, hurt, 0), "another node was seen suspect or faulty %d times", hurt);
    cr_assert(eq(u64, refuted, 0), "other nodes refuted %llu suspicions",
              (unsigned long long)refuted);
    cr_assert(eq(u64, inc_moved, 0));
}
