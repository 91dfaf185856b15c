/* Unit tests for the swim module: multi-node runs over the deterministic swimnet. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
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

TestSuite(swim, .init = setup, .fini = teardown, .timeout = 120);

typedef void (*tweak_fn)(struct swim_config *cfg, int i);

/* Starts |n| nodes; all but node 0 join through node 0. */
static void start_cluster(int n, uint64_t seed, tweak_fn tweak)
{
    for (int i = 0; i < n; i++) {
        struct swim_config cfg;
        net_config(&cfg, &net, i, seed);
        if (tweak != NULL) {
            tweak(&cfg, i);
        }
        net_start(&net, i, &cfg, seed);
    }
    for (int i = 1; i < n; i++) {
        net_join(&net, i, 0);
    }
}

static void converge(int n, uint64_t seed, tweak_fn tweak)
{
    start_cluster(n, seed, tweak);
    cr_assert(net_run_until_converged(&net, 60000), "no convergence by 60 s");
}

static int any_saw_suspect(int n, int subject)
{
    for (int i = 0; i < n; i++) {
        if (net.ever_suspect[i][subject] || net.ever_faulty[i][subject]) {
            return 1;
        }
    }
    return 0;
}

Test(swim, nodes_join_through_one_seed_and_converge)
{
    int n = 12;
    converge(n, 1, NULL);
    uint64_t sum = swim_checksum(net.nodes[0].s);
    uint64_t ring = swim_ring_checksum(net.nodes[0].s);
    for (int i = 0; i < n; i++) {
        const struct swim *s = net.nodes[i].s;
        cr_assert(eq(sz, members_count(swim_members(s)), (size_t)n));
        cr_assert(eq(sz, members_ring_count(swim_members(s)), (size_t)n));
        cr_assert(eq(u64, swim_checksum(s), sum));
        cr_assert(eq(u64, swim_ring_checksum(s), ring));
        cr_assert(gt(u64, net.ring_events[i], 0));
    }
    /* Nobody was suspected while joining. */
    for (int i = 0; i < n; i++) {
        cr_assert(not(any_saw_suspect(n, i)), "node %d suspected during join", i);
    }
}

Test(swim, killed_node_is_suspected_then_faulty_everywhere)
{
    int n = 8;
    converge(n, 2, NULL);
    net_kill(&net, 5);
    uint64_t killed_at = net.now_ms;
    net_run(&net, killed_at + 40000);
    for (int i = 0; i < n; i++) {
        if (i == 5) {
            continue;
        }
        cr_assert(eq(int, net_status(&net, i, 5), MEMBER_FAULTY), "node %d", i);
        cr_assert(net.ever_faulty[i][5]);
        cr_assert(gt(u64, net.faulty_at_ms[i][5], killed_at));
        for (int j = 0; j < n; j++) {
            if (j != 5) {
                cr_assert(eq(int, net_status(&net, i, j), MEMBER_ALIVE));
            }
        }
    }
    /* Somebody suspected it first (the prober), and the ring lost it. */
    cr_assert(any_saw_suspect(n, 5));
    cr_assert(eq(sz, members_ring_count(swim_members(net.nodes[0].s)), (size_t)n - 1));
}

/* A datagram from node |from| carrying one update. */
static size_t craft_ping(uint8_t *buf, size_t cap, int from, const struct member *m,
                         const char *source)
{
    static struct codec_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = CODEC_PING;
    msg.seq = 77;
    msg.from_len = (uint8_t)strlen(net.nodes[from].id);
    memcpy(msg.from, net.nodes[from].id, msg.from_len);
    msg.update_count = 1;
    msg.updates[0].m = *m;
    msg.updates[0].source_len = (uint8_t)strlen(source);
    memcpy(msg.updates[0].source, source, msg.updates[0].source_len);
    ssize_t n = codec_encode(buf, cap, &msg);
    cr_assert(gt(i64, (int64_t)n, 0));
    return (size_t)n;
}

static void member_of(int observer, int subject, struct member *m)
{
    const struct members *t = swim_members(net.nodes[observer].s);
    const char *id = net.nodes[subject].id;
    int idx = members_index(t, id, strlen(id));
    cr_assert(ge(int, idx, 0));
    members_get(t, (size_t)idx, m);
}

Test(swim, false_suspicion_is_refuted)
{
    int n = 8;
    converge(n, 3, NULL);
    uint64_t inc = swim_incarnation(net.nodes[3].s);
    struct member m;
    member_of(1, 3, &m);
    m.status = MEMBER_SUSPECT;
    uint8_t buf[1400];
    size_t len = craft_ping(buf, sizeof(buf), 2, &m, net.nodes[2].id);
    cr_assert(eq(int, swim_recv(net.nodes[1].s, &net.nodes[2].addr, buf, len, net.now_ms), 0));
    cr_assert(eq(int, net_status(&net, 1, 3), MEMBER_SUSPECT));
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000));
    cr_assert(gt(u64, swim_incarnation(net.nodes[3].s), inc));
    cr_assert(ge(u64, swim_stats(net.nodes[3].s)->refutations, 1));
    for (int i = 0; i < n; i++) {
        cr_assert(eq(int, net_status(&net, i, 3), MEMBER_ALIVE));
        cr_assert(eq(u64, net_incarnation(&net, i, 3), swim_incarnation(net.nodes[3].s)));
        cr_assert(not(net.ever_faulty[i][3]));
    }
}

Test(swim, a_suspect_heard_of_is_the_next_probe_target)
{
    int n = 8;
    converge(n, 18, NULL);
    for (int i = 0; i < n; i++) {
        if (i != 3) {
            net_cut(&net, i, 3, 1, 1); /* no refutation from node 3 can end the suspicion */
        }
    }
    struct member m;
    member_of(1, 3, &m);
    m.status = MEMBER_SUSPECT;
    uint8_t buf[1400];
    size_t len = craft_ping(buf, sizeof(buf), 2, &m, net.nodes[2].id);
    struct swim *s = net.nodes[1].s;
    cr_assert(eq(int, swim_recv(s, &net.nodes[2].addr, buf, len, net.now_ms), 0));
    cr_assert(eq(int, net_status(&net, 1, 3), MEMBER_SUSPECT));
    /* Node 1 only heard of it: its next probe goes to node 3, ahead of its round. */
    uint64_t probes = swim_stats(s)->probes;
    net_run(&net, s->probe_next_ms + 1);
    cr_assert(eq(u64, swim_stats(s)->probes, probes + 1));
    cr_assert(eq(int, s->probe.active, 1));
    ASSERT_STR_EQ(s->probe.id, net.nodes[3].id);
    /* Once probed, it is not picked again ahead of the round in the next period. */
    net_run(&net, s->probe_next_ms + 1);
    cr_assert(ne(int, strcmp(s->probe.id, net.nodes[3].id), 0));
}

Test(swim, cut_direct_link_is_bridged_by_ping_req)
{
    int n = 8;
    converge(n, 4, NULL);
    net_cut(&net, 0, 1, 1, 1);
    net_run(&net, net.now_ms + 60000);
    cr_assert(not(any_saw_suspect(n, 0)));
    cr_assert(not(any_saw_suspect(n, 1)));
    cr_assert(gt(u64, swim_stats(net.nodes[0].s)->indirect_probes, 0));
    cr_assert(gt(u64, swim_stats(net.nodes[1].s)->indirect_probes, 0));
    cr_assert(net_converged(&net));
}

Test(swim, udp_loss_to_a_node_is_bridged_by_the_stream_ping)
{
    int n = 6;
    converge(n, 5, NULL);
    for (int i = 0; i < n; i++) {
        if (i != 3) {
            net_cut(&net, i, 3, 1, 0);
        }
    }
    net_run(&net, net.now_ms + 60000);
    for (int i = 0; i < n; i++) {
        cr_assert(not(any_saw_suspect(n, i)), "node %d suspected", i);
    }
    uint64_t stream_probes = 0;
    for (int i = 0; i < n; i++) {
        stream_probes += swim_stats(net.nodes[i].s)->stream_probes;
    }
    cr_assert(gt(u64, stream_probes, 5));
    cr_assert(net_converged(&net));
}

Test(swim, slow_node_does_not_get_healthy_nodes_declared_faulty)
{
    int n = 8;
    converge(n, 6, NULL);
    net.nodes[7].delay_ms = 700;
    net_run(&net, net.now_ms + 120000);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 7; j++) {
            cr_assert(not(net.ever_faulty[i][j]), "node %d declared %d faulty", i, j);
        }
    }
    /* The slow node noticed it is the problem (Lifeguard local health); the healthy ones,
     * whose helpers nacked in time, did not blame themselves. */
    cr_assert(ge(u32, net.nodes[7].health_max, 4));
    for (int i = 0; i < 7; i++) {
        cr_assert(le(u32, net.nodes[i].health_max, 2), "node %d health %u", i,
                  net.nodes[i].health_max);
    }
    cr_assert(gt(u64, swim_stats(net.nodes[7].s)->refutations, 0));
    for (int i = 0; i < 7; i++) {
        cr_assert(eq(int, net_status(&net, 7, i), MEMBER_ALIVE));
    }
}

static void no_periodic_sync(struct swim_config *cfg, int i)
{
    cfg->sync_interval_ms = 3600000;
    cfg->heal_interval_ms = 3600000;
}

Test(swim, checksum_mismatch_triggers_a_sync)
{
    int n = 4;
    converge(n, 7, no_periodic_sync);
    net_run(&net, net.now_ms + 5000); /* let the joins' gossip drain */
    uint64_t syncs = 0;
    for (int i = 0; i < n; i++) {
        syncs += swim_stats(net.nodes[i].s)->syncs;
    }
    /* Node 0 alone learns a newer record of node 2, without gossiping it. */
    struct member m;
    member_of(0, 2, &m);
    m.incarnation += 5;
    cr_assert(eq(int, swim__test_put(net.nodes[0].s, &m), 0));
    cr_assert(ne(u64, swim_checksum(net.nodes[0].s), swim_checksum(net.nodes[1].s)));
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000));
    uint64_t after = 0;
    for (int i = 0; i < n; i++) {
        after += swim_stats(net.nodes[i].s)->syncs;
        /* Node 2 heard its record at a higher incarnation (by sync) and went above it. */
        cr_assert(ge(u64, net_incarnation(&net, i, 2), m.incarnation));
    }
    cr_assert(gt(u64, after, syncs));
}

static void fast_heal(struct swim_config *cfg, int i)
{
    cfg->heal_interval_ms = 5000;
}

Test(swim, partition_and_heal_end_in_one_membership)
{
    int n = 8;
    converge(n, 8, fast_heal);
    for (int a = 0; a < 4; a++) {
        for (int b = 4; b < 8; b++) {
            net_cut(&net, a, b, 1, 1);
        }
    }
    net_run(&net, net.now_ms + 40000);
    cr_assert(eq(int, net_status(&net, 0, 4), MEMBER_FAULTY));
    cr_assert(eq(int, net_status(&net, 4, 0), MEMBER_FAULTY));
    cr_assert(eq(int, net_status(&net, 1, 2), MEMBER_ALIVE));
    cr_assert(eq(int, net_status(&net, 5, 6), MEMBER_ALIVE));
    for (int a = 0; a < 4; a++) {
        for (int b = 4; b < 8; b++) {
            net_cut(&net, a, b, 0, 1);
        }
    }
    cr_assert(net_run_until_converged(&net, net.now_ms + 90000), "no merge after heal");
}

static void short_dead(struct swim_config *cfg, int i)
{
    cfg->dead_ms = 5000;
    cfg->tombstone_ms = 7000;
}

Test(swim, leave_spreads_then_is_reaped)
{
    int n = 8;
    converge(n, 9, short_dead);
    cr_assert(eq(int, swim_leave(net.nodes[6].s, net.now_ms), 0));
    cr_assert(not(swim_leave_done(net.nodes[6].s)));
    uint64_t deadline = net.now_ms + 20000;
    while (!swim_leave_done(net.nodes[6].s) && net.now_ms < deadline) {
        net_run(&net, net.now_ms + 50);
    }
    cr_assert(swim_leave_done(net.nodes[6].s));
    net_kill(&net, 6);
    net_run(&net, net.now_ms + 3000);
    for (int i = 0; i < n; i++) {
        if (i != 6) {
            cr_assert(eq(int, net_status(&net, i, 6), MEMBER_LEFT), "node %d", i);
            cr_assert(not(net.ever_faulty[i][6]));
        }
    }
    net_run(&net, net.now_ms + 15000);
    for (int i = 0; i < n; i++) {
        if (i != 6) {
            cr_assert(eq(int, net_status(&net, i, 6), -1), "node %d still has it", i);
            cr_assert(net.ever_left_event[i][6]);
        }
    }
}

Test(swim, tombstones_are_reaped_after_dead_plus_tombstone)
{
    int n = 6;
    converge(n, 10, short_dead);
    net_kill(&net, 2);
    net_run(&net, net.now_ms + 60000);
    for (int i = 0; i < n; i++) {
        if (i == 2) {
            continue;
        }
        cr_assert(net.ever_faulty[i][2]);
        cr_assert(net.ever_left_event[i][2]);
        uint64_t kept = net.reaped_at_ms[i][2] - net.faulty_at_ms[i][2];
        cr_assert(ge(u64, kept, 12000), "node %d reaped after %llu ms", i,
                  (unsigned long long)kept);
        cr_assert(le(u64, kept, 12100));
        cr_assert(eq(int, net_status(&net, i, 2), -1));
    }
}

static void high_incarnation(struct swim_config *cfg, int i)
{
    if (i == 4) {
        cfg->incarnation_min = 1000;
    }
}

Test(swim, restart_with_lower_incarnation_min_comes_back_higher)
{
    int n = 6;
    converge(n, 11, high_incarnation);
    uint64_t before = swim_incarnation(net.nodes[4].s);
    cr_assert(ge(u64, before, 1000));
    net_kill(&net, 4);
    net_run(&net, net.now_ms + 30000);
    cr_assert(eq(int, net_status(&net, 0, 4), MEMBER_FAULTY));
    struct swim_config cfg;
    net_config(&cfg, &net, 4, 99);
    cfg.incarnation_min = 1;
    net_start(&net, 4, &cfg, 99);
    net_join(&net, 4, 0);
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000));
    uint64_t after = swim_incarnation(net.nodes[4].s);
    cr_assert(gt(u64, after, before));
    for (int i = 0; i < n; i++) {
        cr_assert(eq(int, net_status(&net, i, 4), MEMBER_ALIVE));
        cr_assert(eq(u64, net_incarnation(&net, i, 4), after));
    }
}

static void small_budget_with_labels(struct swim_config *cfg, int i)
{
    static struct member_label labels[2] = {
        { 4, 9, "zone", "eu-west-1" },
        { 7, 14, "version", "1.2.3-abcdefgh" },
    };
    cfg->labels = labels;
    cfg->label_count = 2;
    cfg->datagram_bytes_max = SWIM_DATAGRAM_BYTES_MIN;
}

Test(swim, datagram_budget_is_never_exceeded)
{
    int n = 16;
    converge(n, 12, small_budget_with_labels);
    cr_assert(le(sz, net.dgram_bytes_max, (size_t)SWIM_DATAGRAM_BYTES_MIN));
    /* Packing filled datagrams close to the budget while the joins spread. */
    cr_assert(gt(sz, net.dgram_bytes_max, (size_t)SWIM_DATAGRAM_BYTES_MIN * 3 / 4));
}

static uint64_t run_scenario(uint64_t seed)
{
    net_init(&net, &tm, 5);
    converge(8, seed, NULL);
    net_kill(&net, 3);
    net_run(&net, net.now_ms + 30000);
    uint64_t trace = net.trace ^ net.dgrams;
    net_free(&net);
    return trace;
}

Test(swim, same_seed_gives_identical_event_traces)
{
    uint64_t a = run_scenario(13);
    uint64_t b = run_scenario(13);
    uint64_t c = run_scenario(14);
    cr_assert(eq(u64, a, b));
    cr_assert(ne(u64, a, c));
}

static struct swim_scratch *shared_scratch;

static void share_scratch(struct swim_config *cfg, int i)
{
    (void)i;
    cfg->scratch = shared_scratch;
}

/* The same run with every node's own scratch and with one scratch for all. */
Test(swim, a_shared_scratch_changes_nothing)
{
    uint64_t own = run_scenario(17);
    cr_assert(eq(int, swim_scratch_new(&shared_scratch, &tm.mem), 0));
    net_init(&net, &tm, 5);
    converge(8, 17, share_scratch);
    net_kill(&net, 3);
    net_run(&net, net.now_ms + 30000);
    uint64_t shared = net.trace ^ net.dgrams;
    net_free(&net);
    swim_scratch_del(shared_scratch);
    shared_scratch = NULL;
    cr_assert(eq(u64, own, shared));
    net_init(&net, &tm, 5); /* for the teardown */
}

/* A ping from a stranger with |seq| and nothing piggybacked. */
static size_t plain_ping(uint8_t *buf, size_t cap, uint32_t seq)
{
    static struct codec_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.type = CODEC_PING;
    msg.seq = seq;
    msg.from_len = 6;
    memcpy(msg.from, "pinger", 6);
    ssize_t n = codec_encode(buf, cap, &msg);
    cr_assert(gt(i64, (int64_t)n, 0));
    return (size_t)n;
}

/* Drains |want| acks from node 0 and checks their seqs run from |first| up. */
static void expect_acks(uint32_t first, uint32_t want)
{
    static struct codec_msg msg;
    uint8_t buf[1400];
    struct ring_addr to;
    for (uint32_t k = 0; k < want; k++) {
        ssize_t n = swim_send_next(net.nodes[0].s, &to, buf, sizeof(buf), 0);
        cr_assert(gt(i64, (int64_t)n, 0), "ack %u of %u missing", k, want);
        cr_assert(eq(int, codec_decode(buf, (size_t)n, &msg), 0));
        cr_assert(eq(u8, msg.type, CODEC_ACK));
        cr_assert(eq(u32, msg.seq, first + k));
    }
    cr_assert(eq(i64, (int64_t)swim_send_next(net.nodes[0].s, &to, buf, sizeof(buf), 0), 0));
}

/* The datagram queue starts small and grows: replies queued past its size, while its
 * head is mid-array (so the entries wrap around), all go out in order; past SWIM_OUT_MAX
 * the newest are dropped and counted. */
Test(swim, the_datagram_queue_grows_in_order_up_to_its_limit)
{
    net_start(&net, 0, NULL, 1);
    struct swim *s = net.nodes[0].s;
    uint8_t ping[256];
    uint32_t seq = 1;
    for (int k = 0; k < 5; k++) {
        size_t n = plain_ping(ping, sizeof(ping), seq++);
        cr_assert(eq(int, swim_recv(s, &net.nodes[1].addr, ping, n, 0), 0));
    }
    expect_acks(1, 5);
    for (int k = 0; k < 40; k++) {
        size_t n = plain_ping(ping, sizeof(ping), seq++);
        cr_assert(eq(int, swim_recv(s, &net.nodes[1].addr, ping, n, 0), 0));
    }
    expect_acks(6, 40);
    for (int k = 0; k < SWIM_OUT_MAX + 10; k++) {
        size_t n = plain_ping(ping, sizeof(ping), seq++);
        cr_assert(eq(int, swim_recv(s, &net.nodes[1].addr, ping, n, 0), 0));
    }
    cr_assert(eq(u64, swim_stats(s)->msgs_dropped, 10));
    expect_acks(46, SWIM_OUT_MAX);
}

Test(swim, bad_input_is_counted_not_asserted)
{
    net_start(&net, 0, NULL, 1);
    struct swim *s = net.nodes[0].s;
    uint8_t junk[] = { 0x93, 0x01, 0x01, 0xc1, 0xff, 0x00 };
    cr_assert(lt(int, swim_recv(s, &net.nodes[0].addr, junk, sizeof(junk), 0), 0));
    cr_assert(lt(int, swim_recv(s, &net.nodes[0].addr, junk, 0, 0), 0));
    uint8_t resp[64];
    cr_assert(lt(i64,
                 (int64_t)swim_stream_serve(s, &net.nodes[0].addr, junk, sizeof(junk), resp,
                                            sizeof(resp), 0),
                 0));
    cr_assert(eq(u64, swim_stats(s)->decode_errors, 3));
    cr_assert(eq(int, swim_stream_response(s, 12345, junk, sizeof(junk), 0), RING_ENOENT));
    cr_assert(eq(int, swim_stream_failed(s, 12345, 0), RING_ENOENT));
}

/* A member whose id carries a terminal escape, forged by a peer (the encoder refuses to write
 * one, so the id is patched into encoded bytes): the datagram and the sync are refused and
 * counted, and nothing of them is stored. */
Test(swim, a_forged_member_with_an_escape_in_its_id_is_rejected_and_counted)
{
    converge(2, 5, NULL);
    struct swim *s = net.nodes[1].s;
    struct member m;
    member_of(1, 0, &m);
    cr_assert(eq(int, member_set_id(&m, "X[2Jevil", 8), 0));
    uint8_t buf[1400];
    size_t len = craft_ping(buf, sizeof(buf), 0, &m, "");
    size_t at = 0;
    while (at + 8 <= len && memcmp(buf + at, "X[2Jevil", 8) != 0) {
        at++;
    }
    cr_assert(lt(sz, at + 8, len + 1), "the id is in the datagram");
    buf[at] = 0x1b;
    size_t members_before = members_count(swim_members(s));
    uint64_t errors = swim_stats(s)->decode_errors;
    cr_assert(eq(int, swim_recv(s, &net.nodes[0].addr, buf, len, net.now_ms), RING_EPROTO));
    cr_assert(eq(u64, swim_stats(s)->decode_errors, errors + 1));
    /* A sync carrying the same member: {1: "a", 4: 0, 6: true, 7: [member]}. */
    static const uint8_t sync[] = { 0x93, 0x01, 0x10, 0x84, 0x01, 0xa1, 0x61, 0x04, 0x00,
                                    0x06, 0xc3, 0x07, 0x91, 0x85, 0x00, 0xa5, 0x1b, 0x5b,
                                    0x32, 0x4a, 0x78, 0x01, 0xc4, 0x06, 0x0a, 0x00, 0x00,
                                    0x01, 0x1f, 0x0a, 0x02, 0x00, 0x03, 0x01, 0x04, 0x01 };
    uint8_t resp[1 << 16];
    cr_assert(lt(i64,
                 (int64_t)swim_stream_serve(s, &net.nodes[0].addr, sync, sizeof(sync), resp,
                                            sizeof(resp), net.now_ms),
                 0));
    cr_assert(eq(u64, swim_stats(s)->decode_errors, errors + 2));
    const struct members *t = swim_members(s);
    cr_assert(eq(sz, members_count(t), members_before));
    for (size_t i = 0; i < members_count(t); i++) {
        size_t id_len;
        const char *id = members_id(t, i, &id_len);
        cr_assert(eq(int, member_text_check(MEMBER_TEXT_ID, id, id_len, NULL), 0));
    }
}

Test(swim, rejects_bad_config)
{
    struct swim_config cfg;
    struct swim *s = NULL;
    net_config(&cfg, &net, 0, 1);
    cfg.id_len = 0;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, 0), RING_EINVAL));
    net_config(&cfg, &net, 0, 1);
    cfg.probe_timeout_ms = 2000;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, 0), RING_EINVAL));
    net_config(&cfg, &net, 0, 1);
    cfg.datagram_bytes_max = 100;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, 0), RING_EINVAL));
    net_config(&cfg, &net, 0, 1);
    cfg.addr.family = 0;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, 0), RING_EINVAL));
    cr_assert(eq(ptr, s, NULL));
}

Test(swim, allocation_failures_return_enomem_without_leaking)
{
    struct swim_config cfg;
    net_config(&cfg, &net, 0, 1);
    for (uint64_t fail_at = 1; fail_at <= 8; fail_at++) {
        tm.calls = 0;
        tm.fail_at = fail_at;
        struct swim *s = NULL;
        int rv = swim_new(&s, &cfg, &tm.mem, 0);
        tm.fail_at = 0;
        if (rv == 0) {
            swim_del(s);
            continue;
        }
        cr_assert(eq(int, rv, RING_ENOMEM));
        cr_assert(eq(sz, tm.bytes, 0));
    }
}

Test(swim, ring_changed_is_coalesced_and_never_lost)
{
    int n = 10;
    converge(n, 15, NULL);
    /* A late joiner learns nine members from one sync reply: nine JOINED events, and the
     * ring change they make is reported once, after them. */
    net_start(&net, n, NULL, 15);
    net_join(&net, n, 0);
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000));
    cr_assert(eq(u64, net.ring_events[n], 1));
    cr_assert(eq(u64, swim_ring_checksum(net.nodes[n].s), swim_ring_checksum(net.nodes[0].s)));
    struct swim_event ev;
    cr_assert(eq(int, swim_next_event(net.nodes[n].s, &ev), 0));
    for (int i = 0; i < n; i++) {
        cr_assert(ge(u64, net.ring_events[i], 1));
    }
}

/* A ring member heard at a new address (rescheduled with the same id) is a ring change to
 * whoever routes keys, though the ring checksum stays: RING_CHANGED fires once, with it. */
Test(swim, a_ring_member_at_a_new_address_raises_ring_changed)
{
    converge(4, 7, no_periodic_sync);
    struct swim *s = net.nodes[0].s;
    struct swim_event ev;
    while (swim_next_event(s, &ev) == 1) {
    }
    uint64_t ring = swim_ring_checksum(s);
    struct member m;
    member_of(0, 2, &m);
    m.incarnation += 1;
    m.addr.port = (uint16_t)(m.addr.port + 1000);
    cr_assert(eq(int, swim__test_put(s, &m), 0));
    int changed = 0, ring_changed = 0;
    while (swim_next_event(s, &ev) == 1) {
        changed += ev.type == SWIM_EVENT_MEMBER_CHANGED;
        if (ev.type == SWIM_EVENT_RING_CHANGED) {
            ring_changed++;
            cr_assert(eq(u64, ev.ring_checksum, ring), "the ring itself is the same");
        }
    }
    cr_assert(eq(int, changed, 1));
    cr_assert(eq(int, ring_changed, 1));
}

Test(swim, send_next_needs_a_budget_sized_buffer)
{
    converge(2, 16, NULL);
    struct ring_addr to;
    uint8_t small[100];
    cr_assert(eq(i64, (int64_t)swim_send_next(net.nodes[0].s, &to, small, sizeof(small), 0),
                 RING_ENOBUFS));
}

/* Node |i|'s own record, as it holds it. */
static void self_of(int i, struct member *m)
{
    member_of(i, i, m);
}

Test(swim, adopted_table_starts_a_converged_cluster_that_detects_a_kill)
{
    int n = 8;
    for (int i = 0; i < n; i++) {
        net_start(&net, i, NULL, 17);
    }
    struct members *t = NULL;
    cr_assert(eq(int, members_new(&t, 0, &tm.mem), 0));
    struct member m;
    for (int i = 0; i < n; i++) {
        self_of(i, &m);
        cr_assert(eq(int, members_put(t, &m), 0));
    }
    /* A table with a suspect would need a suspicion timer: refused, the node unchanged. */
    m.status = MEMBER_SUSPECT;
    struct members *bad = NULL;
    cr_assert(eq(int, members_new(&bad, 0, &tm.mem), 0));
    cr_assert(eq(int, members_put(bad, &m), 0));
    cr_assert(eq(int, swim__test_adopt(net.nodes[0].s, bad), RING_EINVAL));
    cr_assert(eq(sz, members_count(swim_members(net.nodes[0].s)), 1));
    members_del(bad);
    for (int i = 0; i < n; i++) {
        cr_assert(eq(int, swim__test_adopt(net.nodes[i].s, t), 0));
        swim__test_joined(net.nodes[i].s);
        /* Nothing is news: no member events, only the level-triggered ring change. */
        struct swim_event ev;
        cr_assert(eq(int, swim_next_event(net.nodes[i].s, &ev), 1));
        cr_assert(eq(int, ev.type, SWIM_EVENT_RING_CHANGED));
        cr_assert(eq(int, swim_next_event(net.nodes[i].s, &ev), 0));
    }
    members_del(t);
    cr_assert(net_converged(&net));
    net_run(&net, 5000);
    cr_assert(net_converged(&net));
    cr_assert(gt(u64, net.dgrams, 0));
    net_kill(&net, 3);
    net_run(&net, net.now_ms + 40000);
    for (int i = 0; i < n; i++) {
        if (i != 3) {
            cr_assert(eq(int, net_status(&net, i, 3), MEMBER_FAULTY), "node %d", i);
        }
    }
}

/* Node |observer|'s record of node |subject| has the draining flag. */
static int seen_draining(int observer, int subject)
{
    const struct members *t = swim_members(net.nodes[observer].s);
    int idx = members_index(t, net.nodes[subject].id, strlen(net.nodes[subject].id));
    return idx >= 0 && (members_flags(t, (size_t)idx) & MEMBER_FLAG_DRAINING) != 0;
}

/* Toggling the drain as fast as a client can ask (thousands of times a second) spends at most
 * one incarnation per SWIM_DRAIN_CHANGE_MIN_MS, and every node ends with the last state
 * asked for. */
Test(swim, drain_toggles_spend_one_incarnation_per_second_at_most)
{
    int n = 4;
    converge(n, 23, NULL);
    uint64_t inc = swim_incarnation(net.nodes[3].s);
    uint64_t start = net.now_ms;
    for (int k = 0; k < 10000; k++) {
        cr_assert(eq(int, swim_drain(net.nodes[3].s, k % 2 == 0, net.now_ms), 0));
        if (k % 10 == 9) {
            net_run(&net, net.now_ms + 1); /* 10 toggles a millisecond for 1 s */
        }
    }
    cr_assert(eq(int, swim_drain(net.nodes[3].s, 1, net.now_ms), 0)); /* the last: on */
    cr_assert(swim_draining(net.nodes[3].s));
    uint64_t spent = swim_incarnation(net.nodes[3].s) - inc;
    uint64_t allowed = (net.now_ms - start) / SWIM_DRAIN_CHANGE_MIN_MS + 1;
    cr_assert(le(u64, spent, allowed), "%llu incarnations in %llu ms", (unsigned long long)spent,
              (unsigned long long)(net.now_ms - start));
    net_run(&net, net.now_ms + SWIM_DRAIN_CHANGE_MIN_MS); /* the last change waits its turn */
    cr_assert(net_run_until_converged(&net, net.now_ms + 10000));
    for (int i = 0; i < n; i++) {
        cr_assert(seen_draining(i, 3), "node %d missed the last state", i);
    }
    cr_assert(le(u64, swim_incarnation(net.nodes[3].s) - inc, allowed + 1));
}

Test(swim, a_drain_leaves_the_ring_everywhere_and_survives_a_suspicion)
{
    int n = 6;
    converge(n, 21, NULL);
    uint64_t ring_before = swim_ring_checksum(net.nodes[0].s);
    uint64_t inc = swim_incarnation(net.nodes[4].s);
    cr_assert(eq(int, swim_drain(net.nodes[4].s, 1, net.now_ms), 0));
    cr_assert(swim_draining(net.nodes[4].s));
    cr_assert(not(swim_drain_done(net.nodes[4].s)));
    uint64_t deadline = net.now_ms + 20000;
    while (!swim_drain_done(net.nodes[4].s) && net.now_ms < deadline) {
        net_run(&net, net.now_ms + 50);
    }
    cr_assert(swim_drain_done(net.nodes[4].s));
    printf("drain spread in %llu ms\n", (unsigned long long)(net.now_ms + 20000 - deadline));
    cr_assert(net_run_until_converged(&net, net.now_ms + 5000),
              "draining is a live member: one membership, one ring");
    for (int i = 0; i < n; i++) {
        const struct members *t = swim_members(net.nodes[i].s);
        cr_assert(eq(int, net_status(&net, i, 4), MEMBER_ALIVE), "node %d", i);
        cr_assert(seen_draining(i, 4), "node %d", i);
        cr_assert(eq(sz, members_owner_count(t), (size_t)n - 1), "node %d", i);
        cr_assert(eq(sz, members_ring_count(t), (size_t)n), "node %d", i);
        cr_assert(ne(u64, swim_ring_checksum(net.nodes[i].s), ring_before));
    }
    /* A forged suspicion at its current incarnation: the refutation keeps the flag. */
    struct member m;
    member_of(1, 4, &m);
    cr_assert(m.flags & MEMBER_FLAG_DRAINING);
    m.status = MEMBER_SUSPECT;
    m.flags = 0;
    uint8_t buf[1400];
    size_t len = craft_ping(buf, sizeof(buf), 2, &m, net.nodes[2].id);
    cr_assert(eq(int, swim_recv(net.nodes[1].s, &net.nodes[2].addr, buf, len, net.now_ms), 0));
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000));
    cr_assert(ge(u64, swim_stats(net.nodes[4].s)->refutations, 1));
    for (int i = 0; i < n; i++) {
        cr_assert(seen_draining(i, 4), "node %d lost the flag to a refutation", i);
        cr_assert(eq(int, net_status(&net, i, 4), MEMBER_ALIVE));
    }
    /* Ending the drain gives the keys back with a newer incarnation (once a second has
     * passed since the drain: SWIM_DRAIN_CHANGE_MIN_MS). */
    cr_assert(eq(int, swim_drain(net.nodes[4].s, 0, net.now_ms), 0));
    net_run(&net, net.now_ms + SWIM_DRAIN_CHANGE_MIN_MS);
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000));
    for (int i = 0; i < n; i++) {
        cr_assert(not(seen_draining(i, 4)), "node %d", i);
        cr_assert(eq(u64, swim_ring_checksum(net.nodes[i].s), ring_before));
        cr_assert(gt(u64, net_incarnation(&net, i, 4), inc + 1));
    }
    /* After a leave, a drain is refused. */
    cr_assert(eq(int, swim_leave(net.nodes[4].s, net.now_ms), 0));
    cr_assert(eq(int, swim_drain(net.nodes[4].s, 1, net.now_ms), RING_EINVAL));
}

/* Delayed rebalance: every node holds a restarting member's place 20 s. */
#define TEST_RESTART_HOLD_MS 20000
static void restart_hold(struct swim_config *cfg, int i)
{
    (void)i;
    cfg->restart_hold_ms = TEST_RESTART_HOLD_MS;
}

static int seen_restarting(int observer, int subject)
{
    const struct members *t = swim_members(net.nodes[observer].s);
    int idx = members_index(t, net.nodes[subject].id, strlen(net.nodes[subject].id));
    return idx >= 0 && (members_flags(t, (size_t)idx) & MEMBER_FLAG_RESTARTING) != 0;
}

/* A member that announces a restart and goes quiet keeps its place on every ring while it is
 * away (suspect, not faulty, well past Lifeguard's timeout); the process that comes back under
 * its id finds the ring as it was: its keys moved 0 times. */
Test(swim, a_restarting_member_keeps_its_place_until_it_is_back)
{
    int n = 6;
    converge(n, 31, restart_hold);
    uint64_t ring = swim_ring_checksum(net.nodes[0].s);
    cr_assert(eq(int, swim_restarting_set(net.nodes[4].s, 1, net.now_ms), 0));
    cr_assert(swim_restarting(net.nodes[4].s));
    cr_assert(not(swim_draining(net.nodes[4].s)));
    uint64_t deadline = net.now_ms + 20000;
    while (!swim_restarting_done(net.nodes[4].s) && net.now_ms < deadline) {
        net_run(&net, net.now_ms + 50);
    }
    cr_assert(swim_restarting_done(net.nodes[4].s));
    for (int i = 0; i < n; i++) {
        cr_assert(seen_restarting(i, 4), "node %d", i);
        cr_assert(eq(u64, swim_ring_checksum(net.nodes[i].s), ring), "node %d", i);
    }
    /* It stops without a leave. Lifeguard would call it faulty within 6 s here. */
    net_kill(&net, 4);
    net_run(&net, net.now_ms + TEST_RESTART_HOLD_MS - 4000);
    for (int i = 0; i < n; i++) {
        if (i != 4) {
            cr_assert(eq(int, net_status(&net, i, 4), MEMBER_SUSPECT), "node %d", i);
            cr_assert(eq(u64, swim_ring_checksum(net.nodes[i].s), ring), "node %d", i);
        }
    }
    /* Back under the same id, from a clock that starts lower than its last record. */
    struct swim_config cfg;
    net_config(&cfg, &net, 4, 77);
    restart_hold(&cfg, 4);
    cfg.incarnation_min = 1;
    net_start(&net, 4, &cfg, 77);
    net_join(&net, 4, 0);
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000));
    for (int i = 0; i < n; i++) {
        cr_assert(eq(int, net_status(&net, i, 4), MEMBER_ALIVE), "node %d", i);
        cr_assert(eq(u64, swim_ring_checksum(net.nodes[i].s), ring), "node %d", i);
        cr_assert(not(seen_restarting(i, 4)), "node %d", i);
        cr_assert(eq(u64, net.ever_faulty[i][4], 0), "node %d", i);
    }
}

/* A restarting member that does not come back is declared faulty once the hold has passed,
 * not before, and its keys move then, once. A member without the flag is suspected as
 * before. */
Test(swim, a_restarting_member_that_stays_away_leaves_the_ring_after_the_hold)
{
    int n = 6;
    converge(n, 32, restart_hold);
    uint64_t ring = swim_ring_checksum(net.nodes[0].s);
    cr_assert(eq(int, swim_restarting_set(net.nodes[4].s, 1, net.now_ms), 0));
    net_run(&net, net.now_ms + 3000);
    cr_assert(swim_restarting_done(net.nodes[4].s));
    uint64_t killed = net.now_ms;
    net_kill(&net, 4);
    net_kill(&net, 5); /* no flag: Lifeguard's timeout */
    net_run(&net, killed + 12000);
    for (int i = 0; i < 4; i++) {
        cr_assert(eq(int, net_status(&net, i, 5), MEMBER_FAULTY), "node %d", i);
        cr_assert(eq(int, net_status(&net, i, 4), MEMBER_SUSPECT), "node %d", i);
    }
    net_run(&net, killed + TEST_RESTART_HOLD_MS + 8000);
    for (int i = 0; i < 4; i++) {
        cr_assert(eq(int, net_status(&net, i, 4), MEMBER_FAULTY), "node %d", i);
        cr_assert(ne(u64, swim_ring_checksum(net.nodes[i].s), ring));
    }
}

/* Ending the restart before stopping (the stop was called off) is a plain flag change, and
 * shares the drain's rate limit; after a leave both are refused. */
Test(swim, restart_flag_changes_share_the_drain_rate_limit)
{
    int n = 3;
    converge(n, 33, restart_hold);
    uint64_t inc = swim_incarnation(net.nodes[2].s);
    for (int k = 0; k < 1000; k++) {
        cr_assert(eq(int, swim_restarting_set(net.nodes[2].s, k % 2 == 0, net.now_ms), 0));
        cr_assert(eq(int, swim_drain(net.nodes[2].s, k % 3 == 0, net.now_ms), 0));
    }
    cr_assert(eq(int, swim_restarting_set(net.nodes[2].s, 0, net.now_ms), 0));
    cr_assert(eq(int, swim_drain(net.nodes[2].s, 0, net.now_ms), 0));
    cr_assert(le(u64, swim_incarnation(net.nodes[2].s) - inc, 1));
    net_run(&net, net.now_ms + SWIM_DRAIN_CHANGE_MIN_MS);
    cr_assert(net_run_until_converged(&net, net.now_ms + 10000));
    for (int i = 0; i < n; i++) {
        cr_assert(not(seen_restarting(i, 2)));
        cr_assert(not(seen_draining(i, 2)));
    }
    cr_assert(eq(int, swim_leave(net.nodes[2].s, net.now_ms), 0));
    cr_assert(eq(int, swim_restarting_set(net.nodes[2].s, 1, net.now_ms), RING_EINVAL));
}
