/*
 * Unit tests for swim's limits between peers (proto/SWIM.md, "Limits between peers"): what
 * one forged but well-formed datagram or sync may change. Each test forges what an outside
 * tester sent on loopback (maximum values, heavy members, unknown targets) and asserts the
 * attack fails by protocol rule, whatever the transport's authentication.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdio.h>
#include <string.h>

#include "ring/codec.h"
#include "ring/error.h"
#include "ring/hashring.h"
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

TestSuite(swim_limits, .init = setup, .fini = teardown, .timeout = 120);

/* A slot of the net that is never started: the forger, an address no member has. */
#define STRANGER (NET_NODES_MAX - 1)

static void converge(int n, uint64_t seed)
{
    struct swim_config unused;
    net_config(&unused, &net, STRANGER, seed); /* names the stranger and its address */
    for (int i = 0; i < n; i++) {
        net_start(&net, i, NULL, seed);
    }
    for (int i = 1; i < n; i++) {
        net_join(&net, i, 0);
    }
    cr_assert(net_run_until_converged(&net, 60000), "no convergence by 60 s");
}

static void member_of(int observer, int subject, struct member *m)
{
    const struct members *t = swim_members(net.nodes[observer].s);
    const char *id = net.nodes[subject].id;
    int idx = members_index(t, id, strlen(id));
    cr_assert(ge(int, idx, 0));
    members_get(t, (size_t)idx, m);
}

static struct codec_msg msg;

/* A gossip carrier (an ack with seq 0) from node |from| with |n| updates. */
static size_t craft(uint8_t *buf, size_t cap, int from, const struct member *ms, size_t n)
{
    memset(&msg, 0, sizeof(msg));
    msg.type = CODEC_ACK;
    msg.from_len = (uint8_t)strlen(net.nodes[from].id);
    memcpy(msg.from, net.nodes[from].id, msg.from_len);
    msg.update_count = (uint16_t)n;
    for (size_t i = 0; i < n; i++) {
        msg.updates[i].m = ms[i];
    }
    ssize_t len = codec_encode(buf, cap, &msg);
    cr_assert(gt(i64, (int64_t)len, 0));
    return (size_t)len;
}

static void recv_at(int node, int from, const uint8_t *buf, size_t len)
{
    cr_assert(
        eq(int, swim_recv(net.nodes[node].s, &net.nodes[from].addr, buf, len, net.now_ms), 0));
}

/* A heavy member that no node of the net answers for: every label, long values. */
static void fake_member(struct member *m, int k, uint16_t weight)
{
    memset(m, 0, sizeof(*m));
    char id[MEMBER_ID_BYTES_MAX + 1];
    int n = snprintf(id, sizeof(id), "fake-%05d-", k);
    memset(id + n, 'x', MEMBER_ID_BYTES_MAX - (size_t)n);
    cr_assert(eq(int, member_set_id(m, id, MEMBER_ID_BYTES_MAX), 0));
    m->addr.family = RING_ADDR_V4;
    m->addr.ip[0] = 10;
    m->addr.ip[2] = (uint8_t)(k >> 8);
    m->addr.ip[3] = 200;
    m->addr.port = (uint16_t)(1000 + k);
    m->weight = weight;
    m->incarnation = 1;
    char value[MEMBER_LABEL_VALUE_BYTES_MAX + 1];
    memset(value, 'v', MEMBER_LABEL_VALUE_BYTES_MAX);
    value[MEMBER_LABEL_VALUE_BYTES_MAX] = '\0';
    for (int i = 0; i < MEMBER_LABELS_MAX; i++) {
        char key[MEMBER_LABEL_KEY_BYTES_MAX + 1];
        memset(key, 'k', MEMBER_LABEL_KEY_BYTES_MAX);
        key[MEMBER_LABEL_KEY_BYTES_MAX] = '\0';
        key[0] = (char)('a' + i);
        cr_assert(eq(int, member_set_label(m, key, value), 0));
    }
}

/* ---- 1. incarnations ---- */

/* The tester's attack: one update saying a live member is suspect at 2^64 - 1. Before, its
 * refutation wrapped to 0 and lost, and the member was declared faulty everywhere. */
Test(swim_limits, an_incarnation_far_above_the_known_one_is_refused_and_counted)
{
    converge(5, 1);
    struct member m;
    member_of(1, 3, &m);
    uint64_t inc = m.incarnation;
    m.status = MEMBER_SUSPECT;
    m.incarnation = UINT64_MAX;
    uint8_t buf[1400];
    size_t len = craft(buf, sizeof(buf), 2, &m, 1);
    for (int i = 0; i < 5; i++) {
        if (i != 2) {
            recv_at(i, 2, buf, len);
        }
    }
    for (int i = 0; i < 5; i++) {
        if (i != 2) {
            cr_assert(eq(u64, swim_stats(net.nodes[i].s)->incarnations_refused, 1), "node %d", i);
        }
        cr_assert(eq(int, net_status(&net, i, 3), MEMBER_ALIVE), "node %d", i);
        cr_assert(eq(u64, net_incarnation(&net, i, 3), inc), "node %d", i);
    }
    net_run(&net, net.now_ms + 30000);
    for (int i = 0; i < 5; i++) {
        cr_assert(eq(int, net_status(&net, i, 3), MEMBER_ALIVE), "node %d", i);
        cr_assert(not(net.ever_faulty[i][3]), "node %d", i);
        cr_assert(ge(u64, net_incarnation(&net, i, 3), inc), "node %d", i);
    }
    cr_assert(net_converged(&net));
}

/* The highest incarnation a node accepts is still one its member can refute: the refutation
 * is accepted by every node that accepted the suspicion, and nothing wraps. */
Test(swim_limits, a_suspicion_at_the_highest_accepted_incarnation_is_refuted)
{
    converge(5, 2);
    struct swim *s1 = net.nodes[1].s;
    struct member m;
    member_of(1, 3, &m);
    m.status = MEMBER_SUSPECT;
    m.incarnation = swim__incarnation_ceiling(s1, m.incarnation, MEMBER_SUSPECT);
    uint64_t forged = m.incarnation;
    cr_assert(lt(u64, forged, UINT64_MAX / 2));
    uint8_t buf[1400];
    size_t len = craft(buf, sizeof(buf), 2, &m, 1);
    recv_at(1, 2, buf, len);
    cr_assert(eq(int, net_status(&net, 1, 3), MEMBER_SUSPECT));
    cr_assert(eq(u64, swim_stats(s1)->incarnations_refused, 0));
    /* One more is too far. */
    m.incarnation = forged + 2;
    len = craft(buf, sizeof(buf), 2, &m, 1);
    recv_at(4, 2, buf, len);
    cr_assert(eq(u64, swim_stats(net.nodes[4].s)->incarnations_refused, 1));
    cr_assert(net_run_until_converged(&net, net.now_ms + 30000));
    for (int i = 0; i < 5; i++) {
        cr_assert(eq(int, net_status(&net, i, 3), MEMBER_ALIVE), "node %d", i);
        cr_assert(eq(u64, net_incarnation(&net, i, 3), forged + 1), "node %d", i);
        cr_assert(not(net.ever_faulty[i][3]), "node %d", i);
    }
    cr_assert(eq(u64, swim_incarnation(net.nodes[3].s), forged + 1));
}

/* An update about a node itself at the maximum: it is not refuted into a wrap to 0. */
Test(swim_limits, an_update_about_itself_at_the_maximum_incarnation_does_not_wrap)
{
    converge(3, 3);
    struct swim *s2 = net.nodes[2].s;
    uint64_t inc = swim_incarnation(s2);
    struct member m;
    member_of(0, 2, &m);
    m.status = MEMBER_FAULTY;
    m.incarnation = UINT64_MAX;
    uint8_t buf[1400];
    size_t len = craft(buf, sizeof(buf), 1, &m, 1);
    recv_at(2, 1, buf, len);
    cr_assert(eq(u64, swim_incarnation(s2), inc));
    cr_assert(eq(u64, swim_stats(s2)->incarnations_refused, 1));
    cr_assert(eq(u64, swim_stats(s2)->refutations, 0));
    /* Far ahead but below the maximum: the same. */
    m.incarnation = inc + (UINT64_C(1) << 40);
    len = craft(buf, sizeof(buf), 1, &m, 1);
    recv_at(2, 1, buf, len);
    cr_assert(eq(u64, swim_incarnation(s2), inc));
    cr_assert(eq(u64, swim_stats(s2)->incarnations_refused, 2));
    net_run(&net, net.now_ms + 10000);
    cr_assert(net_converged(&net));
}

/* A member unknown here arrives at most a day of seconds ahead of this node's clock. */
Test(swim_limits, a_new_member_far_ahead_of_the_clock_is_refused)
{
    converge(2, 4);
    struct swim *s0 = net.nodes[0].s;
    struct member m;
    fake_member(&m, 1, 1);
    m.incarnation = swim__incarnation_ceiling(s0, 0, MEMBER_ALIVE) + 1;
    uint8_t buf[4096];
    size_t len = craft(buf, sizeof(buf), 1, &m, 1);
    recv_at(0, 1, buf, len);
    cr_assert(eq(int, members_index(swim_members(s0), m.id, m.id_len), RING_ENOENT));
    cr_assert(eq(u64, swim_stats(s0)->incarnations_refused, 1));
    m.incarnation--;
    len = craft(buf, sizeof(buf), 1, &m, 1);
    recv_at(0, 1, buf, len);
    cr_assert(ge(int, members_index(swim_members(s0), m.id, m.id_len), 0));
}

Test(swim_limits, incarnation_min_near_the_top_is_refused_and_leave_saturates)
{
    struct swim_config cfg;
    struct swim *s = NULL;
    net_config(&cfg, &net, 0, 1);
    cfg.incarnation_min = UINT64_MAX;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, 0), RING_EINVAL));
    cfg.incarnation_min = SWIM_INCARNATION_MIN_MAX;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, 0), 0));
    cr_assert(eq(int, swim_leave(s, 0), 0));
    cr_assert(eq(u64, swim_incarnation(s), SWIM_INCARNATION_MIN_MAX + 1));
    swim_del(s);
}

/* ---- 2. weight ---- */

/* The tester's fake member of weight 1000 took 99.8% of a 5-node ring. */
Test(swim_limits, a_forged_heavy_member_is_clamped_to_weight_max)
{
    converge(5, 5);
    struct swim *s0 = net.nodes[0].s;
    struct member m;
    fake_member(&m, 1, HASHRING_WEIGHT_MAX);
    m.label_count = 0;
    uint8_t buf[1400];
    size_t len = craft(buf, sizeof(buf), 1, &m, 1);
    recv_at(0, 1, buf, len);
    const struct members *t = swim_members(s0);
    int idx = members_index(t, m.id, m.id_len);
    cr_assert(ge(int, idx, 0));
    cr_assert(eq(u16, members_weight(t, (size_t)idx), SWIM_WEIGHT_MAX_DEFAULT));
    cr_assert(eq(u64, swim_stats(s0)->weights_clamped, 1));

    /* Its share of the ring is bounded by weight_max / (weight_max + N - 1). */
    struct hashring_member hm[8];
    size_t n = members_count(t);
    cr_assert(le(sz, n, 8));
    size_t fake = 0;
    for (size_t i = 0; i < n; i++) {
        hm[i].id = members_id(t, i, &hm[i].id_len);
        hm[i].weight = members_weight(t, i);
        if ((int)i == idx) {
            fake = i;
        }
    }
    struct hashring *r;
    struct hashring_config hc = { .vnodes = 64 };
    cr_assert(eq(int, hashring_new(&r, hm, n, &hc, &tm.mem), 0));
    double shares[8];
    hashring_shares(r, shares);
    uint32_t ri;
    cr_assert(eq(int, hashring_find(r, hm[fake].id, hm[fake].id_len, &ri), 0));
    double bound = (double)SWIM_WEIGHT_MAX_DEFAULT / (SWIM_WEIGHT_MAX_DEFAULT + 5);
    cr_assert(lt(dbl, shares[ri], bound * 1.25), "share %.3f", shares[ri]);
    hashring_del(r);
}

static void weight_max_3(struct swim_config *cfg)
{
    cfg->weight_max = 3;
}

Test(swim_limits, weight_max_is_a_config_field_and_bounds_this_node)
{
    struct swim_config cfg;
    struct swim *s = NULL;
    net_config(&cfg, &net, 0, 1);
    weight_max_3(&cfg);
    cfg.weight = 4;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, 0), RING_EINVAL));
    cfg.weight = 3;
    cr_assert(eq(int, swim_new(&s, &cfg, &tm.mem, 0), 0));
    struct member m;
    fake_member(&m, 2, 7);
    m.label_count = 0;
    struct swim_config other;
    net_config(&other, &net, 1, 1); /* names node 1, the forged sender */
    uint8_t buf[1400];
    size_t len = craft(buf, sizeof(buf), 1, &m, 1);
    cr_assert(eq(int, swim_recv(s, &net.nodes[0].addr, buf, len, 0), 0));
    const struct members *t = swim_members(s);
    int idx = members_index(t, m.id, m.id_len);
    cr_assert(ge(int, idx, 0));
    cr_assert(eq(u16, members_weight(t, (size_t)idx), 3));
    swim_del(s);
}

/* However weights are configured, the ring a caller builds from the table stays within
 * HASHRING_POINTS_MAX: a new member that would take it past is refused. */
Test(swim_limits, a_new_member_that_would_overflow_the_ring_is_refused)
{
    struct swim_config cfg;
    net_config(&cfg, &net, 0, 1);
    cfg.ring_vnodes = HASHRING_VNODES_MAX;
    cfg.weight_max = HASHRING_WEIGHT_MAX;
    net_start(&net, 0, &cfg, 1);
    struct swim_config unused;
    net_config(&unused, &net, STRANGER, 1);
    struct swim *s0 = net.nodes[0].s;
    struct member ms[5];
    for (int k = 0; k < 5; k++) {
        fake_member(&ms[k], k, HASHRING_WEIGHT_MAX);
        ms[k].label_count = 0;
    }
    uint8_t buf[4096];
    size_t len = craft(buf, sizeof(buf), STRANGER, ms, 4);
    recv_at(0, STRANGER, buf, len);
    cr_assert(eq(sz, members_count(swim_members(s0)), 5));
    len = craft(buf, sizeof(buf), STRANGER, ms + 4, 1);
    recv_at(0, STRANGER, buf, len);
    cr_assert(eq(sz, members_count(swim_members(s0)), 5));
    cr_assert(eq(u64, swim_stats(s0)->members_refused, 1));
    cr_assert(le(u64, members_ring_weight(swim_members(s0)) * HASHRING_VNODES_MAX,
                 (uint64_t)HASHRING_POINTS_MAX));
}

/* ---- 3. memory ---- */

/* The tester's 273-byte datagram of heavy fake members. A datagram from a stranger admits
 * at most SWIM_ADMIT_PER_DATAGRAM new members, whatever it carries. */
Test(swim_limits, a_datagram_of_heavy_new_members_admits_a_few_in_bounded_memory)
{
    converge(3, 6);
    struct swim *s0 = net.nodes[0].s;
    static struct member ms[CODEC_UPDATES_MAX];
    for (int k = 0; k < CODEC_UPDATES_MAX; k++) {
        fake_member(&ms[k], k, HASHRING_WEIGHT_MAX);
    }
    static uint8_t buf[CODEC_DATAGRAM_BYTES_MAX];
    size_t len = craft(buf, sizeof(buf), STRANGER, ms, CODEC_UPDATES_MAX);
    size_t before = tm.bytes;
    recv_at(0, STRANGER, buf, len);
    size_t grown = tm.bytes - before;
    cr_log_info("one datagram of %zu bytes, %d heavy members: +%zu bytes", len, CODEC_UPDATES_MAX,
                grown);
    const struct members *t = swim_members(s0);
    cr_assert(eq(sz, members_count(t), 3 + (size_t)SWIM_ADMIT_PER_DATAGRAM));
    cr_assert(eq(u64, swim_stats(s0)->members_refused,
                 (uint64_t)CODEC_UPDATES_MAX - SWIM_ADMIT_PER_DATAGRAM));
    cr_assert(lt(sz, grown, (size_t)64 << 10), "grew %zu bytes", grown);
    /* The ring the caller would build: weight_max points per member, not 1000. */
    cr_assert(le(u64, (uint64_t)members_ring_weight(t),
                 3 + (uint64_t)SWIM_ADMIT_PER_DATAGRAM * SWIM_WEIGHT_MAX_DEFAULT));
}

/* A live member speaking from its own address is trusted further, but not without bound:
 * its datagrams draw on max(SWIM_ADMIT_BURST_MIN, N), which refills at N a second. */
Test(swim_limits, a_datagram_of_new_members_from_a_member_admits_within_its_budget)
{
    converge(3, 12);
    struct swim *s0 = net.nodes[0].s;
    static struct member ms[CODEC_UPDATES_MAX];
    for (int k = 0; k < CODEC_UPDATES_MAX; k++) {
        fake_member(&ms[k], k, 1);
        ms[k].label_count = 0;
    }
    static uint8_t buf[CODEC_DATAGRAM_BYTES_MAX];
    size_t len = craft(buf, sizeof(buf), 1, ms, CODEC_UPDATES_MAX);
    recv_at(0, 1, buf, len);
    const struct members *t = swim_members(s0);
    cr_assert(eq(sz, members_count(t), 3 + (size_t)SWIM_ADMIT_BURST_MIN));
    cr_assert(eq(u64, swim_stats(s0)->members_refused,
                 (uint64_t)CODEC_UPDATES_MAX - SWIM_ADMIT_BURST_MIN));
    /* The same from an address that is not node 1's: a stranger's budget (4 a datagram). */
    for (int k = 0; k < CODEC_UPDATES_MAX; k++) {
        ms[k].id[5] = 'X';
    }
    len = craft(buf, sizeof(buf), 1, ms, CODEC_UPDATES_MAX);
    recv_at(0, STRANGER, buf, len);
    cr_assert(eq(sz, members_count(t), 3 + (size_t)SWIM_ADMIT_BURST_MIN + SWIM_ADMIT_PER_DATAGRAM));
}

/* A sync of a table of |count| fake members of weight 1000, with every label when |heavy|,
 * from node |from|. */
static uint8_t *forge_sync(int from, int count, int heavy, size_t *len)
{
    struct members *t;
    cr_assert(eq(int, members_new(&t, 0, &tm.mem), 0));
    struct member m;
    for (int k = 0; k < count; k++) {
        fake_member(&m, k, HASHRING_WEIGHT_MAX);
        if (!heavy) {
            m.label_count = 0;
            m.id_len = (uint8_t)snprintf(m.id, sizeof(m.id), "fake-%05d", k);
        }
        cr_assert(eq(int, members_put(t, &m), 0));
    }
    struct codec_sync hdr;
    memset(&hdr, 0, sizeof(hdr));
    hdr.type = CODEC_SYNC;
    hdr.from_len = (uint8_t)strlen(net.nodes[from].id);
    memcpy(hdr.from, net.nodes[from].id, hdr.from_len);
    size_t cap = codec_sync_size(&hdr, t);
    uint8_t *buf = tm.mem.realloc(NULL, cap, tm.mem.user_data);
    ssize_t n = codec_encode_sync(buf, cap, &hdr, t);
    cr_assert(gt(i64, (int64_t)n, 0));
    members_del(t);
    *len = (size_t)n;
    return buf;
}

static ssize_t serve(int node, int from, const uint8_t *req, size_t len)
{
    static uint8_t resp[1 << 20];
    return swim_stream_serve(net.nodes[node].s, &net.nodes[from].addr, req, len, resp, sizeof(resp),
                             net.now_ms);
}

/* The tester's sync grew a node to 1.7 GB. A sync from a stranger admits what the
 * strangers' budget allows: a burst of SWIM_ADMIT_BURST_MIN, then admit_per_second. (Small
 * records: heavy ones this many would be refused by length, the next test.) */
Test(swim_limits, a_sync_of_many_new_members_admits_within_the_budget)
{
    converge(3, 7);
    struct swim *s0 = net.nodes[0].s;
    size_t len;
    uint8_t *sync = forge_sync(STRANGER, 1000, 0, &len);
    cr_assert(le(sz, len, swim_stream_bytes_max(s0, 0)), "%zu bytes", len);
    size_t before = tm.bytes;
    cr_assert(gt(i64, (int64_t)serve(0, STRANGER, sync, len), 0));
    size_t grown = tm.bytes - before;
    const struct members *t = swim_members(s0);
    size_t admitted = members_count(t) - 3;
    cr_log_info("one sync of %zu bytes, 1000 new members: %zu admitted, +%zu bytes", len, admitted,
                grown);
    cr_assert(le(sz, admitted, (size_t)SWIM_ADMIT_BURST_MIN));
    cr_assert(ge(u64, swim_stats(s0)->members_refused, 1000 - SWIM_ADMIT_BURST_MIN));
    cr_assert(lt(sz, grown, (size_t)1 << 20), "grew %zu bytes", grown);
    /* The same sync again a second later: only the refill. */
    net_run(&net, net.now_ms + 1000);
    size_t count = members_count(t);
    cr_assert(gt(i64, (int64_t)serve(0, STRANGER, sync, len), 0));
    cr_assert(le(sz, members_count(t) - count, (size_t)SWIM_ADMIT_PER_SECOND_DEFAULT + 1));
    tm.mem.free(sync, tm.mem.user_data);
}

/* A sync is refused by its length, before it is decoded, when it is far larger than this
 * node's table could explain. */
Test(swim_limits, a_sync_larger_than_the_bound_is_refused_before_decoding)
{
    converge(2, 8);
    struct swim *s0 = net.nodes[0].s;
    size_t bound = swim_stream_bytes_max(s0, 0);
    cr_assert(lt(sz, bound, (size_t)CODEC_FRAME_BYTES_MAX));
    size_t len;
    uint8_t *sync = forge_sync(STRANGER, 2000, 1, &len);
    cr_assert(gt(sz, len, bound));
    uint64_t errors = swim_stats(s0)->decode_errors;
    cr_assert(eq(i64, (int64_t)serve(0, STRANGER, sync, len), RING_EMSGSIZE));
    cr_assert(eq(u64, swim_stats(s0)->syncs_refused, 1));
    cr_assert(eq(u64, swim_stats(s0)->decode_errors, errors));
    cr_assert(eq(sz, members_count(swim_members(s0)), 2));
    tm.mem.free(sync, tm.mem.user_data);
}

/* What a node asked for is not rate-limited: a join reply brings the whole cluster. */
Test(swim_limits, a_join_reply_admits_the_whole_cluster)
{
    net_start(&net, 0, NULL, 9);
    struct swim *s0 = net.nodes[0].s;
    struct member m;
    for (int k = 0; k < 300; k++) {
        fake_member(&m, k, 1);
        m.label_count = 0;
        cr_assert(eq(int, swim__test_put(s0, &m), 0));
    }
    net_start(&net, 1, NULL, 9);
    net_join(&net, 1, 0);
    net_run(&net, 1000);
    cr_assert(eq(sz, members_count(swim_members(net.nodes[1].s)), 302));
    cr_assert(eq(u64, swim_stats(net.nodes[1].s)->members_refused, 0));
}

/* A join sync request: |from|'s own record at |ip3| (10.0.0.<ip3>) and |fakes| small fake
 * members. */
static uint8_t *forge_join(int from, uint8_t ip3, int fakes, size_t *len)
{
    struct members *t;
    cr_assert(eq(int, members_new(&t, 0, &tm.mem), 0));
    struct member m;
    memset(&m, 0, sizeof(m));
    cr_assert(eq(int, member_set_id(&m, net.nodes[from].id, strlen(net.nodes[from].id)), 0));
    m.addr = net.nodes[from].addr;
    m.addr.ip[3] = ip3;
    m.weight = 1;
    m.incarnation = 1;
    cr_assert(eq(int, members_put(t, &m), 0));
    for (int k = 0; k < fakes; k++) {
        fake_member(&m, k, 1);
        m.label_count = 0;
        m.id_len = (uint8_t)snprintf(m.id, sizeof(m.id), "joinfake-%05d", k);
        cr_assert(eq(int, members_put(t, &m), 0));
    }
    struct codec_sync hdr;
    memset(&hdr, 0, sizeof(hdr));
    hdr.type = CODEC_SYNC;
    hdr.join = 1;
    hdr.from_len = (uint8_t)strlen(net.nodes[from].id);
    memcpy(hdr.from, net.nodes[from].id, hdr.from_len);
    size_t cap = codec_sync_size(&hdr, t);
    uint8_t *buf = tm.mem.realloc(NULL, cap, tm.mem.user_data);
    ssize_t n = codec_encode_sync(buf, cap, &hdr, t);
    cr_assert(gt(i64, (int64_t)n, 0));
    members_del(t);
    *len = (size_t)n;
    return buf;
}

/* A cold start brings hundreds of strangers to each seed within a second; each adds only
 * itself, at the IP it connects from, and only the first time: a stranger's join sync
 * cannot bring in other members beyond the strangers' budget, nor its sender under another
 * IP. */
Test(swim_limits, a_join_sync_admits_its_sender_and_only_at_its_own_ip)
{
    converge(3, 12);
    struct swim *s0 = net.nodes[0].s;
    struct swim_config unused;
    int a = STRANGER - 1, b = STRANGER - 2;
    net_config(&unused, &net, a, 12);
    net_config(&unused, &net, b, 12);
    /* The strangers' budget is spent first by a forged plain sync. */
    size_t len;
    uint8_t *plain = forge_sync(STRANGER, 100, 0, &len);
    cr_assert(gt(i64, (int64_t)serve(0, STRANGER, plain, len), 0));
    tm.mem.free(plain, tm.mem.user_data);
    size_t count = members_count(swim_members(s0));
    /* Its sender is admitted; the fakes it carries are not. */
    uint8_t *join = forge_join(a, net.nodes[a].addr.ip[3], 50, &len);
    cr_assert(gt(i64, (int64_t)serve(0, a, join, len), 0));
    tm.mem.free(join, tm.mem.user_data);
    cr_assert(eq(int, net_status(&net, 0, a), MEMBER_ALIVE));
    cr_assert(eq(sz, members_count(swim_members(s0)), count + 1));
    /* A sender whose record names another IP than the one it connects from is a stranger's
     * claim like any other: refused while the budget is spent. */
    join = forge_join(b, 99, 0, &len);
    uint64_t refused = swim_stats(s0)->members_refused;
    cr_assert(gt(i64, (int64_t)serve(0, b, join, len), 0));
    tm.mem.free(join, tm.mem.user_data);
    cr_assert(eq(int, net_status(&net, 0, b), -1));
    cr_assert(eq(u64, swim_stats(s0)->members_refused, refused + 1));
}

/* The join sync of joiner |k| (id "joiner-NNNNN", at 10.1.x.y), as the joiner sends it;
 * its address (the one it connects from) into |*from|. */
static uint8_t *forge_joiner(int k, struct ring_addr *from, size_t *len)
{
    struct members *t;
    cr_assert(eq(int, members_new(&t, 0, &tm.mem), 0));
    struct member m;
    memset(&m, 0, sizeof(m));
    char id[32];
    int id_len = snprintf(id, sizeof(id), "joiner-%05d", k);
    cr_assert(eq(int, member_set_id(&m, id, (size_t)id_len), 0));
    m.addr.family = RING_ADDR_V4;
    m.addr.ip[0] = 10;
    m.addr.ip[1] = 1;
    m.addr.ip[2] = (uint8_t)(k >> 8);
    m.addr.ip[3] = (uint8_t)k;
    m.addr.port = 7946;
    m.weight = 1;
    m.incarnation = 1;
    cr_assert(eq(int, members_put(t, &m), 0));
    *from = m.addr;
    struct codec_sync hdr;
    memset(&hdr, 0, sizeof(hdr));
    hdr.type = CODEC_SYNC;
    hdr.join = 1;
    hdr.from_len = (uint8_t)id_len;
    memcpy(hdr.from, id, hdr.from_len);
    size_t cap = codec_sync_size(&hdr, t);
    uint8_t *buf = tm.mem.realloc(NULL, cap, tm.mem.user_data);
    ssize_t n = codec_encode_sync(buf, cap, &hdr, t);
    cr_assert(gt(i64, (int64_t)n, 0));
    members_del(t);
    *len = (size_t)n;
    return buf;
}

/* Serves joiner |k|'s join sync at node 0 at |now_ms|; returns whether it was admitted. */
static int join_at(int k, uint64_t now_ms)
{
    static uint8_t resp[1 << 20];
    struct ring_addr from;
    size_t len;
    uint8_t *join = forge_joiner(k, &from, &len);
    struct swim *s0 = net.nodes[0].s;
    size_t before = members_count(swim_members(s0));
    cr_assert(
        gt(i64, (int64_t)swim_stream_serve(s0, &from, join, len, resp, sizeof(resp), now_ms), 0));
    tm.mem.free(join, tm.mem.user_data);
    return members_count(swim_members(s0)) > before;
}

/* 10,000 nodes that start within a second through three seeds bring each seed 3,333 join
 * syncs in that second. A seed admits them all as they come (with 1,024 at first, ringsim's
 * seeds held every joiner only 2.5 s into its cold start of 10,000, and each node synced 6
 * times rather than 4); a flood of joiners past the budget is still refused. */
Test(swim_limits, a_seed_admits_the_joiners_of_a_cold_start_of_ten_thousand)
{
    converge(3, 13);
    uint64_t t0 = net.now_ms;
    int admitted = 0;
    for (int k = 0; k < 3333; k++) {
        admitted += join_at(k, t0 + (uint64_t)k * 1000 / 3333);
    }
    cr_assert(eq(int, admitted, 3333), "%d of 3,333 joiners admitted", admitted);
    /* Twice the budget at once: at most a full budget (the table holds fewer members than
     * SWIM_ADMIT_JOINERS_MIN) is admitted, the rest refused and counted. */
    uint64_t refused = swim_stats(net.nodes[0].s)->members_refused;
    int flood = 0;
    for (int k = 3333; k < 3333 + 2 * SWIM_ADMIT_JOINERS_MIN; k++) {
        flood += join_at(k, t0 + 1000);
    }
    cr_assert(le(int, flood, SWIM_ADMIT_JOINERS_MIN), "%d of a flood admitted at once", flood);
    cr_assert(gt(u64, swim_stats(net.nodes[0].s)->members_refused, refused));
}

/* A joiner does not re-gossip the table a seed's reply brought: every member in it is
 * known to the seed, which (with the member itself) spreads it. */
Test(swim_limits, a_join_reply_is_not_gossiped_again)
{
    net_start(&net, 0, NULL, 13);
    struct swim *s0 = net.nodes[0].s;
    struct member m;
    for (int k = 0; k < 100; k++) {
        fake_member(&m, k, 1);
        m.label_count = 0;
        cr_assert(eq(int, swim__test_put(s0, &m), 0));
    }
    net_start(&net, 1, NULL, 13);
    net_join(&net, 1, 0);
    net_run(&net, 1000);
    struct swim *s1 = net.nodes[1].s;
    cr_assert(eq(sz, members_count(swim_members(s1)), 102));
    /* Only what it had to say itself (its own record, the seed's) is queued. */
    cr_assert(le(sz, s1->bcast_count, 2), "%zu updates queued", s1->bcast_count);
}

/* ---- 5. ping-req ---- */

static size_t craft_ping_req(uint8_t *buf, size_t cap, int from, const char *target,
                             const struct ring_addr *addr)
{
    memset(&msg, 0, sizeof(msg));
    msg.type = CODEC_PING_REQ;
    msg.seq = 99;
    msg.from_len = (uint8_t)strlen(net.nodes[from].id);
    memcpy(msg.from, net.nodes[from].id, msg.from_len);
    msg.target_len = (uint8_t)strlen(target);
    memcpy(msg.target, target, msg.target_len);
    msg.target_addr = *addr;
    ssize_t len = codec_encode(buf, cap, &msg);
    cr_assert(gt(i64, (int64_t)len, 0));
    return (size_t)len;
}

/* Every datagram |node| has queued goes to an address of a node of the net. */
static int sends_to(int node, const struct ring_addr *a)
{
    static uint8_t buf[CODEC_DATAGRAM_BYTES_MAX];
    struct ring_addr to;
    int hits = 0;
    while (swim_send_next(net.nodes[node].s, &to, buf, sizeof(buf), net.now_ms) > 0) {
        hits += ring_addr_equal(&to, a);
    }
    return hits;
}

Test(swim_limits, a_ping_req_for_a_member_not_in_the_table_is_dropped_and_counted)
{
    converge(3, 10);
    struct swim *s0 = net.nodes[0].s;
    struct ring_addr victim = net.nodes[0].addr;
    victim.ip[3] = 77;
    victim.port = 53;
    uint8_t buf[1400];
    size_t len = craft_ping_req(buf, sizeof(buf), 1, "stranger", &victim);
    (void)sends_to(0, &victim);
    recv_at(0, 1, buf, len);
    cr_assert(eq(int, sends_to(0, &victim), 0));
    cr_assert(eq(u64, swim_stats(s0)->ping_reqs_refused, 1));
    cr_assert(eq(u32, s0->relay_count, 0));
    /* A known member named at another address: the ping goes where the table says. */
    len = craft_ping_req(buf, sizeof(buf), 1, net.nodes[2].id, &victim);
    recv_at(0, 1, buf, len);
    cr_assert(eq(int, sends_to(0, &victim), 0));
    cr_assert(eq(u32, s0->relay_count, 1));
}

Test(swim_limits, a_ping_req_for_a_live_member_is_relayed)
{
    converge(3, 11);
    struct swim *s0 = net.nodes[0].s;
    uint8_t buf[1400];
    size_t len = craft_ping_req(buf, sizeof(buf), 1, net.nodes[2].id, &net.nodes[2].addr);
    (void)sends_to(0, &net.nodes[2].addr);
    recv_at(0, 1, buf, len);
    cr_assert(eq(int, sends_to(0, &net.nodes[2].addr), 1));
    cr_assert(eq(u64, swim_stats(s0)->ping_reqs_refused, 0));
}

/* The sync bound counts SWIM_SYNC_RECORD_BYTES_MAX per record: no member encodes larger. */
Test(swim_limits, the_largest_member_fits_the_sync_record_bound)
{
    static struct codec_update u;
    memset(&u, 0, sizeof(u));
    fake_member(&u.m, 1, HASHRING_WEIGHT_MAX);
    u.m.incarnation = UINT64_MAX;
    u.m.addr.family = RING_ADDR_V6;
    memset(u.m.group, 'g', MEMBER_GROUP_BYTES_MAX);
    u.m.group_len = MEMBER_GROUP_BYTES_MAX;
    cr_assert(eq(int, member_validate(&u.m), 0));
    cr_assert(le(sz, codec_update_size(&u), (size_t)SWIM_SYNC_RECORD_BYTES_MAX), "%zu bytes",
              codec_update_size(&u));
}
