/*
 * Unit tests for swim_config.debug_events: the protocol's own observations (a failed probe,
 * a refutation, a merged full sync) come out as events only when asked for, and asking for
 * them changes nothing else (the same seed gives the same member events and checksums).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "ring/swim.h"
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

TestSuite(swim_debug, .init = setup, .fini = teardown, .timeout = 60);

#define NODES 5

/* Starts NODES nodes joining through node 0, kills node 3 once converged and forges a
 * suspicion of node 2 at node 1; runs 20 s of virtual time. Returns the event trace. */
static uint64_t scenario(int debug)
{
    for (int i = 0; i < NODES; i++) {
        struct swim_config cfg;
        net_config(&cfg, &net, i, 41);
        cfg.debug_events = (uint8_t)debug;
        net_start(&net, i, &cfg, 41);
    }
    for (int i = 1; i < NODES; i++) {
        net_join(&net, i, 0);
    }
    cr_assert(net_run_until_converged(&net, 30000));
    struct codec_msg *msg = calloc(1, sizeof(*msg));
    cr_assert(not(eq(ptr, msg, NULL)));
    msg->type = CODEC_PING;
    msg->seq = 77;
    msg->from_len = (uint8_t)strlen(net.nodes[4].id);
    memcpy(msg->from, net.nodes[4].id, msg->from_len);
    msg->update_count = 1;
    const struct members *t = swim_members(net.nodes[1].s);
    int idx = members_index(t, net.nodes[2].id, strlen(net.nodes[2].id));
    cr_assert(ge(int, idx, 0));
    members_get(t, (size_t)idx, &msg->updates[0].m);
    msg->updates[0].m.status = MEMBER_SUSPECT;
    uint8_t buf[1400];
    ssize_t len = codec_encode(buf, sizeof(buf), msg);
    free(msg);
    cr_assert(gt(i64, (int64_t)len, 0));
    cr_assert(
        eq(int, swim_recv(net.nodes[1].s, &net.nodes[4].addr, buf, (size_t)len, net.now_ms), 0));
    net_kill(&net, 3);
    net_run(&net, net.now_ms + 20000);
    return net.trace;
}

Test(swim_debug, failed_probes_refutations_and_syncs_are_events_only_when_asked)
{
    uint64_t trace_on = scenario(1);
    uint32_t failed = 0, synced = 0, synced_new = 0;
    for (int i = 0; i < NODES; i++) {
        failed += net.probe_failed[i][3];
        synced += net.synced[i];
        synced_new += net.synced_new[i];
        for (int j = 0; j < NODES; j++) {
            if (j != 3) {
                cr_assert(eq(u32, net.probe_failed[i][j], 0), "node %d failed to probe %d", i, j);
            }
        }
    }
    cr_assert(ge(u32, failed, 1), "no failed probe of the killed node");
    cr_assert(ge(u32, net.refuted[2], 1), "node 2 refuted nothing");
    /* Each joiner's join sync is answered (new members) and served by node 0. */
    cr_assert(ge(u32, synced, 2 * (NODES - 1)));
    cr_assert(ge(u32, synced_new, NODES - 1));
    cr_assert(ge(u32, net.synced[0], NODES - 1));

    net_free(&net);
    net_init(&net, &tm, 5);
    uint64_t trace_off = scenario(0);
    for (int i = 0; i < NODES; i++) {
        cr_assert(eq(u32, net.refuted[i] + net.synced[i], 0));
        for (int j = 0; j < NODES; j++) {
            cr_assert(eq(u32, net.probe_failed[i][j], 0));
        }
    }
    /* The member and ring events, and their times, are the same either way. */
    cr_assert(eq(u64, trace_on, trace_off));
}
