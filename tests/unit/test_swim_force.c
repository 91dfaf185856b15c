/*
 * Unit tests for swim_force_leave() (proto/SWIM.md, "Force-leave"): a failed member forced
 * out becomes left everywhere by gossip, an alive member, ourselves and an unknown id are
 * refused, and a forged leave of an alive member is refuted as a suspicion is.
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

TestSuite(swim_force, .init = setup, .fini = teardown, .timeout = 60);

static void converge(int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        net_start(&net, i, NULL, seed);
    }
    for (int i = 1; i < n; i++) {
        net_join(&net, i, 0);
    }
    cr_assert(net_run_until_converged(&net, 60000), "no convergence by 60 s");
}

static int force(int at, int subject)
{
    const char *id = net.nodes[subject].id;
    return swim_force_leave(net.nodes[at].s, id, strlen(id), net.now_ms);
}

/* Runs until |observer| holds |subject| at |status|, for at most |ms|. */
static int run_until_status(int observer, int subject, int status, uint64_t ms)
{
    uint64_t deadline = net.now_ms + ms;
    while (net_status(&net, observer, subject) != status && net.now_ms < deadline) {
        net_run(&net, net.now_ms + 20);
    }
    return net_status(&net, observer, subject) == status;
}

static void assert_left_everywhere(int n, int subject)
{
    for (int i = 0; i < n; i++) {
        if (i == subject) {
            continue;
        }
        const struct members *t = swim_members(net.nodes[i].s);
        cr_assert(eq(int, net_status(&net, i, subject), MEMBER_LEFT), "node %d", i);
        cr_assert(eq(sz, members_ring_count(t), (size_t)n - 1), "node %d", i);
    }
}

Test(swim_force, a_faulty_member_forced_out_is_left_everywhere)
{
    int n = 5;
    converge(n, 31);
    uint64_t inc = net_incarnation(&net, 0, 3);
    net_kill(&net, 3);
    cr_assert(run_until_status(0, 3, MEMBER_FAULTY, 30000), "never faulty at node 0");
    cr_assert(eq(int, force(0, 3), 0));
    /* Decided locally at once, at the incarnation held: nothing new is invented. */
    cr_assert(eq(int, net_status(&net, 0, 3), MEMBER_LEFT));
    cr_assert(eq(u64, net_incarnation(&net, 0, 3), inc));
    cr_assert(eq(int, force(0, 3), 0), "forcing a left member again changes nothing");
    /* Well within dead_ms (30 s), so it is gossip that carried it, not a timer. */
    net_run(&net, net.now_ms + 2000);
    assert_left_everywhere(n, 3);
}

Test(swim_force, a_suspect_forced_out_is_never_declared_faulty)
{
    int n = 5;
    converge(n, 32);
    net_kill(&net, 2);
    cr_assert(run_until_status(1, 2, MEMBER_SUSPECT, 30000), "never suspect at node 1");
    cr_assert(eq(int, force(1, 2), 0));
    net_run(&net, net.now_ms + 2000);
    assert_left_everywhere(n, 2);
    /* The suspicion timer ended with the suspicion: no node moves it back down to faulty. */
    net_run(&net, net.now_ms + 10000);
    assert_left_everywhere(n, 2);
}

Test(swim_force, alive_self_and_unknown_members_are_refused)
{
    int n = 4;
    converge(n, 33);
    uint64_t sum = swim_checksum(net.nodes[0].s);
    cr_assert(eq(int, force(0, 2), RING_EAGAIN));
    cr_assert(eq(int, force(0, 0), RING_EINVAL));
    cr_assert(eq(int, swim_force_leave(net.nodes[0].s, "nobody", 6, net.now_ms), RING_ENOENT));
    cr_assert(eq(int, net_status(&net, 0, 2), MEMBER_ALIVE));
    cr_assert(eq(u64, swim_checksum(net.nodes[0].s), sum));
}

Test(swim_force, a_forged_leave_of_an_alive_member_is_refuted)
{
    int n = 5;
    converge(n, 34);
    /* What a force-leave sent by a node that holds the key looks like: node 4 left, at the
     * incarnation everybody holds. Node 1 takes it, as it takes a relayed leave. */
    const struct members *t = swim_members(net.nodes[1].s);
    int idx = members_index(t, net.nodes[4].id, strlen(net.nodes[4].id));
    cr_assert(ge(int, idx, 0));
    struct codec_msg *msg = calloc(1, sizeof(*msg));
    cr_assert(not(eq(ptr, msg, NULL)));
    msg->type = CODEC_PING;
    msg->seq = 77;
    msg->from_len = (uint8_t)strlen(net.nodes[2].id);
    memcpy(msg->from, net.nodes[2].id, msg->from_len);
    msg->update_count = 1;
    members_get(t, (size_t)idx, &msg->updates[0].m);
    uint64_t inc = msg->updates[0].m.incarnation;
    msg->updates[0].m.status = MEMBER_LEFT;
    uint8_t buf[1400];
    ssize_t len = codec_encode(buf, sizeof(buf), msg);
    free(msg);
    cr_assert(gt(i64, (int64_t)len, 0));
    cr_assert(
        eq(int, swim_recv(net.nodes[1].s, &net.nodes[2].addr, buf, (size_t)len, net.now_ms), 0));
    cr_assert(eq(int, net_status(&net, 1, 4), MEMBER_LEFT));
    /* Node 4 hears of it and refutes one incarnation higher: alive everywhere again. */
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000), "the leave was not refuted");
    for (int i = 0; i < n; i++) {
        cr_assert(eq(int, net_status(&net, i, 4), MEMBER_ALIVE), "node %d", i);
        cr_assert(gt(u64, net_incarnation(&net, i, 4), inc), "node %d", i);
    }
}
