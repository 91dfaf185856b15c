/*
 * Scenario 8, exclusive shards under faults: eight nodes with --shards 32 --exclusive and
 * 1 s leases, one per network namespace. A checker asks every node for its shards() every
 * few ms, as an app that acts while its node says it holds a shard would, and turns each
 * answer into the interval in which that node surely may act: from the moment the answer
 * left (held) to the earliest end of its lease (the instant asked plus expires_in_ms). The
 * nodes share the machine's monotonic clock, so intervals of different nodes compare
 * exactly. The bar, in every scenario: no two nodes' intervals for one shard overlap, and an
 * epoch is held by one node only.
 *
 *   partition  a 5|3 split: the three stop holding anything once their leases end, the five
 *              hold every shard; then the heal
 *   kill       kill -9 of a holder: its shards are held again, only after its leases end
 *   pause      SIGSTOP of a holder for three leases, then SIGCONT: it does not act again
 *   restart    a rolling restart (SIGTERM, restart; three nodes short, eight full)
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "ring/lease.h"

#define SHARDS   32
#define LEASE_MS 1000
/* Intervals kept per shard: (node, epoch) pairs over a scenario. */
#define HOLDS_MAX 64
#define POLL_MS   20

TestSuite(fault_leases, .init = fault_setup, .fini = fault_teardown, .timeout = 180);

struct hold {
    int node;
    uint64_t epoch;
    int64_t lo, hi; /* surely acting in [lo, hi] */
};

static struct hold holds[SHARDS][HOLDS_MAX];
static int hold_count[SHARDS];
/* Per node and shard, from the last poll: 1 when it said held (or releasing). */
static int holding[FAULT_NODES][SHARDS];

static void record(int node, uint32_t s, uint64_t epoch, int64_t lo, int64_t hi)
{
    for (int k = 0; k < hold_count[s]; k++) {
        struct hold *h = &holds[s][k];
        if (h->epoch == epoch) {
            cr_assert(eq(int, h->node, node), "shard %u: epoch %llu held by n%d and n%d", s,
                      (unsigned long long)epoch, h->node, node);
            h->lo = lo < h->lo ? lo : h->lo;
            h->hi = hi > h->hi ? hi : h->hi;
            return;
        }
    }
    cr_assert(lt(int, hold_count[s], HOLDS_MAX));
    holds[s][hold_count[s]++] = (struct hold){ node, epoch, lo, hi };
}

/* Asks node |i| (unless unasked) for its shards and records what it surely holds. */
static void poll_node(int i)
{
    memset(holding[i], 0, sizeof(holding[i]));
    if (cl.pids[i] <= 0 || ((fault_unasked >> i) & 1u)) {
        return;
    }
    char sock[128], err[256];
    struct ringc *c;
    if (ringc_connect(&c, cluster_socket(i, sock, sizeof(sock)), err, sizeof(err)) != 0) {
        return;
    }
    const msgpack_object *res;
    int64_t before = fault_now_ms();
    if (ringc_call(c, &res, 2000, "shards", "") == 0) {
        int64_t after = fault_now_ms();
        const msgpack_object *l = ringc_get(res, "leases");
        for (uint32_t k = 0; l != NULL && k < l->via.array.size; k++) {
            const msgpack_object *e = &l->via.array.ptr[k];
            uint64_t s = ringc_get_u64(e, "shard", UINT64_MAX);
            uint64_t st = ringc_get_u64(e, "state", 0);
            int64_t left = (int64_t)ringc_get_u64(e, "expires_in_ms", 0);
            if (s >= SHARDS || (st != LEASE_HELD && st != LEASE_RELEASING) || left == 0) {
                continue;
            }
            holding[i][s] = 1;
            record(i, (uint32_t)s, ringc_get_u64(e, "epoch", 0), after, before + left);
        }
    }
    ringc_close(c);
}

static void poll_all(void)
{
    for (int i = 0; i < FAULT_NODES; i++) {
        poll_node(i);
    }
}

/* Shards held by a node of |set| at the last poll, and shards held by two nodes. */
static int held_by(fault_set set)
{
    int n = 0;
    for (int s = 0; s < SHARDS; s++) {
        int any = 0;
        for (int i = 0; i < FAULT_NODES; i++) {
            any |= FAULT_IN(set, i) && holding[i][s];
        }
        n += any;
    }
    return n;
}

/* Polls until every shard is held by a node of |set| (returns the ms from |t0|), or -1 after
 * |timeout_ms|. */
static int poll_until_held(fault_set set, int64_t t0, int timeout_ms)
{
    while (fault_now_ms() - t0 < timeout_ms) {
        poll_all();
        if (held_by(set) == SHARDS) {
            return (int)(fault_now_ms() - t0);
        }
        cluster_sleep_ms(POLL_MS);
    }
    return -1;
}

static void poll_for(int ms)
{
    int64_t end = fault_now_ms() + ms;
    while (fault_now_ms() < end) {
        poll_all();
        cluster_sleep_ms(POLL_MS);
    }
}

/* The bar: no overlap of two nodes' intervals on one shard. Returns the intervals seen. */
static int check_no_overlap(void)
{
    int seen = 0;
    for (int s = 0; s < SHARDS; s++) {
        seen += hold_count[s];
        for (int a = 0; a < hold_count[s]; a++) {
            for (int b = a + 1; b < hold_count[s]; b++) {
                const struct hold *x = &holds[s][a], *y = &holds[s][b];
                if (x->node == y->node) {
                    continue;
                }
                int overlap = x->lo <= y->hi && y->lo <= x->hi;
                cr_assert(not(overlap),
                          "shard %d: n%d (epoch %llu) in [%lld, %lld] and n%d (epoch %llu) in "
                          "[%lld, %lld] ms",
                          s, x->node, (unsigned long long)x->epoch, (long long)x->lo,
                          (long long)x->hi, y->node, (unsigned long long)y->epoch, (long long)y->lo,
                          (long long)y->hi);
            }
        }
    }
    return seen;
}

static void start(const char *release_timeout)
{
    cl.default_timing = 0; /* 100 ms probes: the scenarios stay short */
    for (int i = 0; i < FAULT_NODES; i++) {
        const char **a = cl.extra_args[i];
        int n = 0;
        a[n++] = "--shards";
        a[n++] = "32";
        a[n++] = "--exclusive";
        a[n++] = "--lease";
        a[n++] = "1s";
        a[n++] = "--release-timeout";
        a[n++] = release_timeout;
        a[n] = NULL;
    }
    memset(hold_count, 0, sizeof(hold_count));
    fault_start_all();
    cr_assert(ge(int, poll_until_held(FAULT_ALL, fault_now_ms(), 15000), 0),
              "not every shard held after the start");
}

/* A node that holds a shard at the last poll, other than |not|. */
static int a_holder(int not )
{
    for (int i = 0; i < FAULT_NODES; i++) {
        for (int s = 0; i != not &&s < SHARDS; s++) {
            if (holding[i][s]) {
                return i;
            }
        }
    }
    return -1;
}

Test(fault_leases, partition_5_3_minority_stops_majority_takes_over)
{
    static const fault_set major = 0x1f, minor = 0xe0;
    start("2s");
    int64_t t0 = fault_now_ms();
    for (int i = 0; i < FAULT_NODES; i++) {
        cr_assert(eq(int, netns_isolate(&fault_net, i, FAULT_IN(major, i) ? minor : major), 0));
    }
    int taken_ms = poll_until_held(major, t0, 20000);
    cr_assert(ge(int, taken_ms, 0), "the majority did not take every shard");
    /* the minority lets go once its leases end: after a lease (and the drift), it holds
     * nothing, and keeps holding nothing */
    int64_t quiet = t0 + LEASE_MS + LEASE_MS / 50 + 100;
    while (fault_now_ms() < quiet) {
        poll_all();
        cluster_sleep_ms(POLL_MS);
    }
    int64_t t1 = fault_now_ms();
    int minority_held = 0;
    while (fault_now_ms() - t1 < 3000) {
        poll_all();
        minority_held += held_by(minor);
        cluster_sleep_ms(POLL_MS);
    }
    cr_assert(eq(int, minority_held, 0), "the minority still held shards after its leases");
    for (int i = 0; i < FAULT_NODES; i++) {
        cr_assert(eq(int, netns_iptables_flush(&fault_net, i), 0));
    }
    int healed_ms = poll_until_held(FAULT_ALL, fault_now_ms(), 20000);
    poll_for(1000);
    int intervals = check_no_overlap();
    fault_report("leases_partition",
                 "\"nodes\": %d, \"shards\": %d, \"lease_ms\": %d, \"majority_took_ms\": %d, "
                 "\"after_heal_all_held_ms\": %d, \"intervals\": %d, \"overlaps\": 0",
                 FAULT_NODES, SHARDS, LEASE_MS, taken_ms, healed_ms, intervals);
    cr_assert(ge(int, healed_ms, 0), "not every shard held after the heal");
}

Test(fault_leases, kill_9_shards_held_again_only_after_the_leases)
{
    start("2s");
    int victim = a_holder(-1);
    cr_assert(ge(int, victim, 0));
    poll_all();
    int64_t t0 = fault_now_ms();
    cluster_signal(victim, SIGKILL);
    cl.pids[victim] = 0;
    int ms = poll_until_held(FAULT_ALL & ~(1u << victim), t0, 20000);
    poll_for(500);
    int intervals = check_no_overlap();
    fault_report("leases_kill", "\"victim\": %d, \"all_held_again_ms\": %d, \"intervals\": %d",
                 victim, ms, intervals);
    cr_assert(ge(int, ms, 0), "the killed node's shards were not taken");
}

Test(fault_leases, sigstop_past_the_lease_then_sigcont_does_not_act_again)
{
    start("2s");
    int victim = a_holder(-1);
    cr_assert(ge(int, victim, 0));
    poll_all();
    int64_t t0 = fault_now_ms();
    cluster_signal(victim, SIGSTOP);
    fault_unasked = 1u << victim;
    int ms = poll_until_held(FAULT_ALL & ~(1u << victim), t0, 20000);
    int64_t rest = 3 * LEASE_MS - (fault_now_ms() - t0);
    poll_for(rest > 0 ? (int)rest : 0);
    cluster_signal(victim, SIGCONT);
    fault_unasked = 0;
    int64_t t1 = fault_now_ms();
    /* right after it wakes, and while it rejoins */
    poll_for(3000);
    int intervals = check_no_overlap();
    int again = poll_until_held(FAULT_ALL, t1, 20000);
    fault_report("leases_pause",
                 "\"victim\": %d, \"taken_ms\": %d, \"stopped_ms\": %lld, \"intervals\": %d, "
                 "\"all_held_after_ms\": %d",
                 victim, ms, (long long)(t1 - t0), intervals, again);
    cr_assert(ge(int, ms, 0), "the paused node's shards were not taken");
    cr_assert(ge(int, again, 0), "not every shard held after SIGCONT");
    check_no_overlap();
}

Test(fault_leases, rolling_restart_hands_shards_off)
{
    start("1s");
    int nodes = fault_full() ? FAULT_NODES : 3;
    int64_t t0 = fault_now_ms();
    for (int k = 0; k < nodes; k++) {
        int i = FAULT_NODES - 1 - k;
        cluster_signal(i, SIGTERM);
        int64_t stop = fault_now_ms();
        while (cluster_wait_exit(i, 50) == -1) {
            poll_all();
            cr_assert(lt(i64, fault_now_ms() - stop, 10000), "n%d did not exit", i);
        }
        cl.pids[i] = 0;
        cluster_start_node(i, 0);
        cr_assert(ge(int, poll_until_held(FAULT_ALL, fault_now_ms(), 20000), 0),
                  "not every shard held after n%d restarted", i);
    }
    int intervals = check_no_overlap();
    fault_report("leases_restart", "\"restarted\": %d, \"ms\": %lld, \"intervals\": %d", nodes,
                 (long long)(fault_now_ms() - t0), intervals);
}
