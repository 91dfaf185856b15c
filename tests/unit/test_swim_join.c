/*
 * Unit tests for swim's join and catch-up (proto/SWIM.md, "Cold start"): a join asks one
 * seed at a time, a cluster that starts at once through three seeds converges with a few
 * catch-up syncs per node, and a join into a converged cluster costs no catch-up anywhere.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "ring/swim.h"
#include "swim_int.h"
#include "swimnet.h"
#include "testmem.h"

static struct testmem tm;
static struct net net;

static void setup(void)
{
    testmem_init(&tm);
    net_init(&net, &tm, 5);
}

static void teardown(void)
{
    net_free(&net);
    cr_assert(eq(sz, tm.bytes, 0), "leaked %zu bytes in %zu blocks", tm.bytes, tm.blocks);
}

TestSuite(swim_join, .init = setup, .fini = teardown, .timeout = 120);

#define SEEDS 3

static void join_seeds(int i)
{
    struct ring_addr seeds[SEEDS];
    for (int k = 0; k < SEEDS; k++) {
        seeds[k] = net.nodes[k].addr;
    }
    cr_assert(eq(int, swim_join(net.nodes[i].s, seeds, SEEDS, net.now_ms), 0));
}

static int seed_of(const struct ring_addr *a)
{
    for (int k = 0; k < SEEDS; k++) {
        if (ring_addr_equal(a, &net.nodes[k].addr)) {
            return k;
        }
    }
    return -1;
}

static uint64_t catchups(int from, int to)
{
    uint64_t sum = 0;
    for (int i = from; i < to; i++) {
        sum += swim_stats(net.nodes[i].s)->catchups;
    }
    return sum;
}

/* Memberlist asks every seed at once; with N nodes starting together that is 3N syncs of a
 * seed's whole table. One seed at a time, the next at once when a sync fails. */
Test(swim_join, a_join_asks_one_seed_and_the_next_when_it_fails)
{
    for (int i = 0; i <= SEEDS; i++) {
        net_start(&net, i, NULL, 21);
    }
    struct swim *s = net.nodes[SEEDS].s;
    join_seeds(SEEDS);
    cr_assert(eq(int, swim_tick(s, 0), 0));
    struct swim_stream_req req;
    cr_assert(eq(int, swim_stream_next(s, &req), 1));
    int first = seed_of(&req.to);
    cr_assert(ge(int, first, 0));
    cr_assert(eq(int, swim_stream_next(s, &req), 0), "a second join sync at once");
    /* The first seed refuses the connection: the next one is asked in the same tick. */
    cr_assert(eq(int, swim_stream_failed(s, req.token, 1), 0));
    cr_assert(eq(u64, swim_next_deadline(s), 1));
    cr_assert(eq(int, swim_tick(s, 1), 0));
    cr_assert(eq(int, swim_stream_next(s, &req), 1));
    int second = seed_of(&req.to);
    cr_assert(ge(int, second, 0));
    cr_assert(not(eq(int, second, first)));
    cr_assert(eq(int, swim_stream_next(s, &req), 0));
}

/* Three seeds and the rest of the cluster start within a second: every node joins through
 * one seed, the early ones catch up with a seed once the others have joined, and the
 * cluster converges within a few seconds, nobody suspected. */
Test(swim_join, a_cold_start_through_three_seeds_converges_in_seconds)
{
    int n = 30;
    for (int i = 0; i < SEEDS; i++) {
        net_start(&net, i, NULL, 22);
    }
    for (int i = 0; i < SEEDS; i++) {
        join_seeds(i);
    }
    for (int i = SEEDS; i < n; i++) {
        net_run(&net, net.now_ms + 1000 / (uint64_t)n);
        net_start(&net, i, NULL, 22);
        join_seeds(i);
    }
    uint64_t last_start_ms = net.now_ms;
    cr_assert(net_run_until_converged(&net, 60000), "no convergence by 60 s");
    uint64_t took_ms = net.now_ms - last_start_ms;
    cr_log_info("converged %llu ms after the last start, %llu catch-ups",
                (unsigned long long)took_ms, (unsigned long long)catchups(0, n));
    cr_assert(le(u64, took_ms, 3000));
    cr_assert(le(u64, catchups(0, n), 3 * (uint64_t)n));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            cr_assert(not(net.ever_suspect[i][j]), "%d suspected %d", i, j);
        }
    }
}

static uint64_t seed_pulls(int i)
{
    return swim_stats(net.nodes[i].s)->seed_pulls;
}

/* A seed that admits a joiner pulls from the other seeds, one per probe interval, for ten
 * intervals after the last joiner, then stops; a node that admits none never does. Its pulls
 * bring it the joiners the other seeds admitted, with no gossip to carry them: here gossip
 * is cut between the seeds, and the joiners know only their own seed. */
Test(swim_join, a_seed_that_admits_joiners_pulls_from_the_other_seeds_for_a_while)
{
    for (int i = 0; i < SEEDS; i++) {
        net_start(&net, i, NULL, 25);
    }
    for (int i = 0; i < SEEDS; i++) {
        join_seeds(i);
    }
    cr_assert(net_run_until_converged(&net, 10000), "the seeds did not converge");
    /* The seeds joined each other, so they pulled for a while; then they stop. */
    uint64_t interval = 300, before[SEEDS];
    net_run(&net, net.now_ms + 11 * interval);
    for (int i = 0; i < SEEDS; i++) {
        before[i] = seed_pulls(i);
    }
    net_run(&net, net.now_ms + 20 * interval);
    for (int i = 0; i < SEEDS; i++) {
        cr_assert(eq(u64, seed_pulls(i), before[i]), "seed %d pulled without a joiner", i);
    }
    for (int a = 0; a < SEEDS; a++) {
        for (int b = 0; b < SEEDS; b++) {
            if (a != b) {
                net_cut(&net, a, b, 1, 0); /* datagrams only: syncs still pass */
            }
        }
    }
    /* One joiner per seed, each asking its own seed only. */
    for (int k = 0; k < SEEDS; k++) {
        net_start(&net, SEEDS + k, NULL, 25);
        net_cut(&net, SEEDS + k, (k + 1) % SEEDS, 1, 0);
        net_cut(&net, SEEDS + k, (k + 2) % SEEDS, 1, 0);
        net_join(&net, SEEDS + k, k);
    }
    uint64_t start = net.now_ms;
    net_run(&net, start + 2 * interval);
    for (int k = 0; k < SEEDS; k++) {
        cr_assert(gt(u64, seed_pulls(k), before[k]), "seed %d did not pull", k);
        cr_assert(eq(u64, seed_pulls(SEEDS + k), 0), "joiner %d pulled", k);
    }
    /* Every seed holds every joiner: its own from the join, the others' from its pulls. */
    for (int k = 0; k < SEEDS; k++) {
        for (int j = 0; j < SEEDS; j++) {
            cr_assert(ge(int,
                         members_index(swim_members(net.nodes[k].s), net.nodes[SEEDS + j].id,
                                       strlen(net.nodes[SEEDS + j].id)),
                         0),
                      "seed %d lacks joiner %d", k, j);
        }
    }
    /* Ten intervals after the joins, no more pulls: at most one per interval until then. */
    net_run(&net, start + 12 * interval);
    uint64_t pulls[SEEDS];
    for (int k = 0; k < SEEDS; k++) {
        pulls[k] = seed_pulls(k);
        cr_assert(le(u64, pulls[k] - before[k], 11), "seed %d pulled %llu times", k,
                  (unsigned long long)(pulls[k] - before[k]));
    }
    net_run(&net, start + 40 * interval);
    for (int k = 0; k < SEEDS; k++) {
        cr_assert(eq(u64, seed_pulls(k), pulls[k]), "seed %d still pulls", k);
    }
}

/* A member heard of long after a node's own join is the ordinary churn of a converged
 * cluster: gossip brings it, and nobody asks a seed for its table. */
Test(swim_join, a_join_into_a_converged_cluster_costs_no_catch_up)
{
    int n = 10;
    for (int i = 0; i < n; i++) {
        net_start(&net, i, NULL, 23);
    }
    for (int i = 0; i < n; i++) {
        join_seeds(i);
        net_run(&net, net.now_ms + 100);
    }
    cr_assert(net_run_until_converged(&net, 60000), "no convergence by 60 s");
    net_run(&net, net.now_ms + 10000);
    uint64_t before = catchups(0, n);
    net_start(&net, n, NULL, 23);
    join_seeds(n);
    cr_assert(net_run_until_converged(&net, net.now_ms + 10000), "the joiner did not converge");
    cr_assert(eq(u64, catchups(0, n), before));
    cr_assert(eq(u64, catchups(n, n + 1), 0));
}

/* A sync whose sender's checksum equals the receiver's after the merge is answered with no
 * records: the sender holds them all. Any other checksum gets the records the request did not
 * carry (here: the receiver's own). */
Test(swim_join, a_sync_from_a_node_that_agrees_is_answered_without_the_table)
{
    for (int i = 0; i < 2; i++) {
        net_start(&net, i, NULL, 24);
    }
    net_join(&net, 1, 0);
    cr_assert(net_run_until_converged(&net, 10000), "no convergence by 10 s");
    struct swim *s1 = net.nodes[1].s;
    struct codec_sync hdr;
    memset(&hdr, 0, sizeof(hdr));
    hdr.type = CODEC_SYNC;
    hdr.from_len = (uint8_t)strlen(net.nodes[1].id);
    memcpy(hdr.from, net.nodes[1].id, hdr.from_len);
    static uint8_t req[4096], resp[4096];
    struct members *self_only = NULL;
    cr_assert(eq(int, members_new(&self_only, 1, &tm.mem), 0));
    struct member m;
    int idx = members_index(swim_members(s1), hdr.from, hdr.from_len);
    cr_assert(ge(int, idx, 0));
    members_get(swim_members(s1), (size_t)idx, &m);
    cr_assert(eq(int, members_put(self_only, &m), 0));
    for (int differ = 0; differ <= 1; differ++) {
        hdr.checksum = swim_checksum(s1) ^ (uint64_t)differ;
        ssize_t len = codec_encode_sync(req, sizeof(req), &hdr, self_only);
        cr_assert(gt(i64, (int64_t)len, 0));
        ssize_t n = swim_stream_serve(net.nodes[0].s, &net.nodes[1].addr, req, (size_t)len, resp,
                                      sizeof(resp), net.now_ms);
        cr_assert(gt(i64, (int64_t)n, 0));
        struct codec_sync got;
        cr_assert(eq(int, codec_decode_sync(resp, (size_t)n, &got, NULL, NULL), 0));
        cr_assert(eq(u32, got.member_count, differ ? 1 : 0), "checksums differ: %d", differ);
        cr_assert(eq(u64, got.checksum, swim_checksum(s1)));
    }
    members_del(self_only);
}
